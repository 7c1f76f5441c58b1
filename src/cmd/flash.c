/* flash.c - `heads flash read|write|verify`: the boot flash chip through
 * libflashrom or the MTD device (lib/flash.h). */
#include "cmd.h"
#include "cbfs.h"
#include "cbfs_write.h"
#include "codec.h"
#include "flash.h"
#include "fs.h"
#include "romcfg.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
	"usage: heads flash read --programmer P --out FILE\n"
	"       heads flash write --programmer P --rom FILE [--region NAME] [--keep-owner-files]\n"
	"                         [--pcr7-base HEX] [--board-config FILE] [--user-config FILE]\n"
	"       heads flash verify --programmer P --rom FILE [--region NAME]\n"
	"\n"
	"The boot flash chip. P is in flashrom's syntax: internal (the chipset's\n"
	"SPI flash, through libflashrom), linux_mtd:dev=N (/dev/mtdN, e.g. the QEMU\n"
	"board's pflash, through the MTD device directly), dummy:emulate=\n"
	"VARIABLE_SIZE,size=N,image=FILE (libflashrom's emulated chip: tests).\n"
	"\n"
	"read     the whole chip into FILE (written atomically)\n"
	"write    FILE (exactly the chip's size) onto the chip: only the 64 KiB pieces\n"
	"         that differ are written, each read back and rewritten up to 3 times;\n"
	"         if one still differs the previous content is written back.\n"
	"         --region NAME: only that FMAP region (it must be at the same place\n"
	"         on the chip). --keep-owner-files: the owner's files (CBFS\n"
	"         heads/initrd/: the ROM keyring and etc/config.user) are copied\n"
	"         from the chip into the new image before writing.\n"
	"         Before writing, the next boot's PCR 2 (coreboot's measurements of\n"
	"         the image that will be on the chip) and PCR 7 (its owner files,\n"
	"         from the PCR 7 base init saved in " ROMCFG_PCR7_BASE ", or\n"
	"         --pcr7-base; board config " ROMCFG_BOARD_CONFIG " and user config\n"
	"         " ROMCFG_USER_CONFIG " unless given) are shown against the chip's\n"
	"         current image: \"next boot: PCR N HEX (now HEX): changes|unchanged\".\n"
	"verify   compare the chip (or one region) with FILE\n"
	"\n"
	"Progress is shown on standard error.\n"
	"Exit: 0 ok, 1 refused (size or layout), not verified, or the chip failed,\n"
	"2 usage.\n";

struct opts {
	const char *programmer, *out, *rom, *region, *pcr7_base, *board, *user;
	bool keep_owner;
};

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{"programmer", required_argument, NULL, 'p'},
		{"out", required_argument, NULL, 'o'},
		{"rom", required_argument, NULL, 'r'},
		{"region", required_argument, NULL, 'R'},
		{"keep-owner-files", no_argument, NULL, 'k'},
		{"pcr7-base", required_argument, NULL, 'b'},
		{"board-config", required_argument, NULL, 'B'},
		{"user-config", required_argument, NULL, 'U'},
		{},
	};
	int c;
	memset(o, 0, sizeof(*o));
	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'p': o->programmer = optarg; break;
		case 'o': o->out = optarg; break;
		case 'r': o->rom = optarg; break;
		case 'R': o->region = optarg; break;
		case 'k': o->keep_owner = true; break;
		case 'b': o->pcr7_base = optarg; break;
		case 'B': o->board = optarg; break;
		case 'U': o->user = optarg; break;
		default: return cmd_usage_error("flash", "%s: bad option", argv[0]);
		}
	}
	if (optind != argc)
		return cmd_usage_error("flash", "%s: unexpected argument %s", argv[0], argv[optind]);
	if (!o->programmer)
		return cmd_usage_error("flash", "%s: --programmer P is required", argv[0]);
	return 0;
}

struct progress_state {
	bool tty;
	const char *phase;
	int last; /* last percentage shown */
};

static void show_progress(void *ud, const char *phase, uint64_t done, uint64_t total)
{
	struct progress_state *p = ud;
	int pct = total ? (int)(done * 100 / total) : 100;
	if (p->phase != phase) {
		p->phase = phase;
		p->last = -1;
	}
	if (p->tty) {
		fprintf(stderr, "\r%-10s %3d%% [%-40.*s]", phase, pct, pct * 40 / 100,
			"########################################");
		if (done >= total)
			fputc('\n', stderr);
	} else if (pct / 25 != p->last / 25 || (done >= total && p->last != 100)) {
		fprintf(stderr, "%s: %d%%\n", phase, pct);
	} else {
		return;
	}
	p->last = pct;
	fflush(stderr);
}

static int open_flash(const struct opts *o, struct progress_state *ps, struct flash **ret)
{
	int r = flash_open(o->programmer, ret);
	if (r < 0)
		return r;
	ps->tty = isatty(STDERR_FILENO);
	flash_set_progress(*ret, show_progress, ps);
	return 0;
}

static int load_rom(const char *path, uint8_t **buf, size_t *len)
{
	char *b;
	int r = fs_read_file(path, FLASH_MAX_SIZE, &b, len);
	if (r < 0) {
		log_error("%s: %s", path, strerror(-r));
		return r;
	}
	*buf = (uint8_t *)b;
	return 0;
}

/* What the next boot will measure, against the chip's current image. */
static void show_prediction(const struct opts *o, const uint8_t *cur, const uint8_t *img,
			    size_t len)
{
	uint8_t base[32];
	bool have_base = false;
	struct flash_pcrs now, next;
	_cleanup_free_ uint8_t *final = NULL;
	char a[65], b[65];

	if (o->pcr7_base) {
		size_t n = 0;
		have_base = strlen(o->pcr7_base) == 64 &&
			    hex_decode(o->pcr7_base, base, 32, &n) == 0 && n == 32;
		if (!have_base)
			log_warn("--pcr7-base is not 64 hex digits: PCR 7 not predicted");
	} else {
		have_base = romcfg_load_base(ROMCFG_PCR7_BASE, "sha256", base) == 0;
	}
	if (o->region) {
		/* the chip after the write: its content with the region replaced */
		uint32_t off, n;
		if (flash_region(img, len, o->region, &off, &n) < 0)
			return; /* refused by the write with its reason */
		final = xmalloc(len);
		memcpy(final, cur, len);
		memcpy(final + off, img + off, n);
		img = final;
	}
	const char *board = o->board ? o->board : ROMCFG_BOARD_CONFIG;
	const char *user = o->user ? o->user : ROMCFG_USER_CONFIG;
	flash_predict_pcrs(cur, len, have_base ? base : NULL, board, user, &now);
	flash_predict_pcrs(img, len, have_base ? base : NULL, board, user, &next);
	if (next.pcr2_ok && now.pcr2_ok && strcmp(now.scheme, next.scheme)) {
		printf("next boot: PCR 2 cannot be predicted (the image was built to measure "
		       "differently: %s; the chip's image: %s): seal again after the reboot\n",
		       next.scheme, now.scheme);
	} else if (next.pcr2_ok) {
		hex_encode(next.pcr2, 32, a);
		if (now.pcr2_ok)
			hex_encode(now.pcr2, 32, b);
		printf("next boot: PCR 2 %s (now %s): %s\n", a, now.pcr2_ok ? b : "unknown",
		       now.pcr2_ok && !memcmp(now.pcr2, next.pcr2, 32) ? "unchanged" : "changes");
	} else {
		printf("next boot: PCR 2 cannot be predicted (not a coreboot image this build "
		       "knows: %s): seal again after the reboot\n", next.why);
	}
	if (next.pcr7_ok) {
		hex_encode(next.pcr7, 32, a);
		if (now.pcr7_ok)
			hex_encode(now.pcr7, 32, b);
		printf("next boot: PCR 7 %s (now %s): %s\n", a, now.pcr7_ok ? b : "unknown",
		       now.pcr7_ok && !memcmp(now.pcr7, next.pcr7, 32) ? "unchanged" : "changes");
	} else {
		printf("next boot: PCR 7 cannot be predicted (%s)\n",
		       have_base ? "no owner files readable in the image"
				 : "no PCR 7 base saved by init");
	}
	fflush(stdout);
}

static int do_read(int argc, char **argv)
{
	struct opts o;
	struct progress_state ps = {0};
	struct flash *f = NULL;
	_cleanup_free_ uint8_t *buf = NULL;
	int r = parse(argc, argv, &o);
	if (r)
		return r;
	if (!o.out)
		return cmd_usage_error("flash", "read: --out FILE is required");
	if (open_flash(&o, &ps, &f) < 0)
		return HEADS_EXIT_FAIL;
	r = flash_read(f, &buf);
	if (r == 0) {
		r = fs_write_atomic(o.out, buf, flash_size(f), 0600);
		if (r < 0)
			log_error("%s: %s", o.out, strerror(-r));
		else
			printf("read %zu bytes into %s\n", flash_size(f), o.out);
	}
	if (flash_close(f) < 0)
		r = -EIO;
	return r < 0 ? HEADS_EXIT_FAIL : HEADS_EXIT_OK;
}

static int do_verify(int argc, char **argv)
{
	struct opts o;
	struct progress_state ps = {0};
	struct flash *f = NULL;
	_cleanup_free_ uint8_t *img = NULL;
	size_t len;
	uint32_t first = 0, nd = 0;
	int r = parse(argc, argv, &o);
	if (r)
		return r;
	if (!o.rom)
		return cmd_usage_error("flash", "verify: --rom FILE is required");
	if (load_rom(o.rom, &img, &len) < 0)
		return HEADS_EXIT_FAIL;
	if (open_flash(&o, &ps, &f) < 0)
		return HEADS_EXIT_FAIL;
	r = flash_verify(f, img, len, o.region, &first, &nd);
	if (flash_close(f) < 0 && r >= 0)
		r = -EIO;
	if (r < 0)
		return HEADS_EXIT_FAIL;
	if (r == 1) {
		printf("the chip differs from %s: first at 0x%x, %u bytes\n", o.rom, first, nd);
		return HEADS_EXIT_FAIL;
	}
	printf("the chip%s%s matches %s\n", o.region ? "'s region " : "", o.region ? o.region : "",
	       o.rom);
	return HEADS_EXIT_OK;
}

static int do_write(int argc, char **argv)
{
	struct opts o;
	struct progress_state ps = {0};
	struct flash *f = NULL;
	struct flash_write_result res = {0};
	_cleanup_free_ uint8_t *img = NULL, *cur = NULL;
	size_t len;
	int r = parse(argc, argv, &o);
	if (r)
		return r;
	if (!o.rom)
		return cmd_usage_error("flash", "write: --rom FILE is required");
	if (load_rom(o.rom, &img, &len) < 0)
		return HEADS_EXIT_FAIL;
	if (open_flash(&o, &ps, &f) < 0)
		return HEADS_EXIT_FAIL;
	if (len != flash_size(f)) {
		log_error("%s: %zu bytes, the chip has %zu: refused (nothing written)", o.rom, len,
			  flash_size(f));
		flash_close(f);
		return HEADS_EXIT_FAIL;
	}
	r = flash_read(f, &cur);
	if (r == 0 && o.keep_owner) {
		size_t nkept = 0;
		struct fmap m;
		/* Only from a coreboot image: a chip read that is not one has
		 * no owner files to give, and the owner would lose them. */
		r = fmap_parse(cur, len, &m);
		if (r == 0) {
			r = fmap_find(&m, CBFS_DEFAULT_REGION) ? 0 : -ENOENT;
			fmap_free(&m);
		}
		if (r < 0) {
			log_error("the chip holds no coreboot image (no FMAP with a " CBFS_DEFAULT_REGION
				  " region): the owner's files could not be carried");
		} else {
			r = cbfs_carry_owner_files(cur, len, img, len, &nkept);
			if (r < 0)
				log_error("%s: the owner's files could not be carried into the new image: %s",
					  o.rom, r == -ENOSPC ? "no room in its CBFS" : strerror(-r));
		}
		if (r == 0)
			printf("kept %zu owner file%s from the chip\n", nkept, nkept == 1 ? "" : "s");
	}
	if (r == 0) {
		show_prediction(&o, cur, img, len);
		r = flash_write(f, img, len, o.region, cur, &res);
	}
	if (flash_close(f) < 0 && r == 0)
		r = -EIO;
	if (r == 0) {
		printf("wrote %u piece%s (%u retr%s); the chip%s%s matches %s\n", res.pieces_written,
		       res.pieces_written == 1 ? "" : "s", res.retries, res.retries == 1 ? "y" : "ies",
		       o.region ? "'s region " : "", o.region ? o.region : "", o.rom);
		return HEADS_EXIT_OK;
	}
	if (r == -EIO && res.size) {
		if (res.state == FLASH_STATE_OLD)
			log_error("the write did not verify at 0x%x; the chip holds its previous content again",
				  res.bad_offset);
		else
			log_error("the write did not verify at 0x%x and the previous content could not be restored: the chip holds a partial image; do not power off, write again",
				  res.bad_offset);
	}
	return HEADS_EXIT_FAIL;
}

static const struct heads_subcommand subs[] = {
	{"read", "read the whole chip into a file", do_read},
	{"write", "write an image (or one FMAP region) onto the chip, verified", do_write},
	{"verify", "compare the chip with an image", do_verify},
	{},
};

static int run(int argc, char **argv);

const struct heads_command cmd_flash = {
	.name = "flash",
	.summary = "read, write and verify the boot flash chip (libflashrom or MTD)",
	.usage = usage,
	.run = run,
};

static int run(int argc, char **argv)
{
	return cmd_run_sub(&cmd_flash, subs, argc, argv);
}
