/* cbfs.c - `heads cbfs` (the files of a coreboot ROM) and the coreboot
 * parts of `heads tpm` (predict-pcr2, coreboot-log; see coreboot_cmd.h). */
#include "cmd.h"
#include "hash.h"
#include "coreboot_cmd.h"
#include "cbfs.h"
#include "cbfs_write.h"
#include "codec.h"
#include "coreboot.h"
#include "fs.h"
#include "log.h"
#include "tpm/eventlog.h"
#include "util.h"

#include <errno.h>
#include <unistd.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char usage[] =
	"usage: heads cbfs list --rom FILE [--region NAME] [--json]\n"
	"       heads cbfs extract --rom FILE --name NAME [--region NAME] [--decompress]\n"
	"       heads cbfs add --rom FILE --name NAME --file F [--region NAME]\n"
	"       heads cbfs remove --rom FILE --name NAME [--region NAME]\n"
	"\n"
	"The files of a coreboot ROM image (or flash device, e.g. /dev/mtd0): its\n"
	"FMAP and the CBFS in region NAME (default " CBFS_DEFAULT_REGION "; an image\n"
	"without FMAP is one CBFS). Read by our own bounded parser, not cbfstool.\n"
	"\n"
	"list     one line per CBFS file as `cbfstool FILE print` shows it: name\n"
	"         ((empty) for free space), offset in the region, type, stored size,\n"
	"         compression [(N decompressed)]; --json: an array of objects\n"
	"         {name, offset, type, type_name, size, compression, decompressed_size,\n"
	"         sha256 (of the stored bytes)}\n"
	"extract  the stored bytes of file NAME on standard output (as cbfstool\n"
	"         extract -U); --decompress: its content (LZMA decompressed)\n"
	"add      put F's bytes into the image as raw file NAME (uncompressed, as\n"
	"         cbfstool add -t raw), replacing a file of that name\n"
	"remove   remove file NAME (its space becomes empty, merged with empty\n"
	"         neighbours as cbfstool does)\n"
	"add and remove edit the image file in place, atomically (a temporary\n"
	"file in the same directory, synced, renamed over it).\n"
	"\n"
	"Exit: 0 ok, 1 not found or malformed, 2 usage.\n";

struct opts {
	const char *rom, *name, *region, *mem, *out, *log, *file;
	bool json, decompress;
};

static int parse(const char *cmd, int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{"rom", required_argument, NULL, 'r'},
		{"name", required_argument, NULL, 'n'},
		{"region", required_argument, NULL, 'R'},
		{"json", no_argument, NULL, 'j'},
		{"decompress", no_argument, NULL, 'd'},
		{"mem", required_argument, NULL, 'm'},
		{"out", required_argument, NULL, 'o'},
		{"log", required_argument, NULL, 'l'},
		{"file", required_argument, NULL, 'f'},
		{},
	};
	int c;
	memset(o, 0, sizeof(*o));
	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'r': o->rom = optarg; break;
		case 'n': o->name = optarg; break;
		case 'R': o->region = optarg; break;
		case 'j': o->json = true; break;
		case 'd': o->decompress = true; break;
		case 'm': o->mem = optarg; break;
		case 'o': o->out = optarg; break;
		case 'l': o->log = optarg; break;
		case 'f': o->file = optarg; break;
		default: return cmd_usage_error(cmd, "%s: bad option", argv[0]);
		}
	}
	if (optind != argc)
		return cmd_usage_error(cmd, "%s: unexpected argument %s", argv[0], argv[optind]);
	return 0;
}

/* Load and parse --rom: 0, or an exit status. */
static int open_rom(const struct opts *o, uint8_t **buf, struct cbfs *c)
{
	size_t len;
	int r = cbfs_load_image(o->rom, buf, &len);
	if (r < 0) {
		log_error("%s: %s", o->rom, strerror(-r));
		return HEADS_EXIT_FAIL;
	}
	r = cbfs_parse(*buf, len, o->region, c);
	if (r < 0) {
		log_error("%s: no valid CBFS%s%s: %s", o->rom, o->region ? " in region " : "",
			  o->region ? o->region : "", strerror(-r));
		free(*buf);
		*buf = NULL;
		return HEADS_EXIT_FAIL;
	}
	return 0;
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static void sha256_hex(const uint8_t *d, size_t n, char out[65])
{
	out[0] = '\0';
	hash_sha256_hex(d, n, out);
}

static int do_list(int argc, char **argv)
{
	struct opts o;
	struct cbfs c;
	_cleanup_free_ uint8_t *buf = NULL;
	int r = parse("cbfs", argc, argv, &o);
	if (r)
		return r;
	if (!o.rom)
		return cmd_usage_error("cbfs", "list: --rom FILE is required");
	r = open_rom(&o, &buf, &c);
	if (r)
		return r;
	if (o.json) {
		printf("[");
		for (size_t i = 0; i < c.n; i++) {
			const struct cbfs_file *f = &c.files[i];
			char hex[65];
			sha256_hex(cbfs_data(&c, f), f->len, hex);
			printf(i ? ",\n {\"name\": " : "\n {\"name\": ");
			json_str(f->name);
			printf(", \"offset\": %u, \"type\": %u, \"type_name\": \"%s\", \"size\": %u, "
			       "\"compression\": \"%s\", \"decompressed_size\": %u, \"sha256\": \"%s\"}",
			       f->offset, f->type, cbfs_type_name(f->type), f->len,
			       cbfs_compression_name(f->compression), f->decompressed_size, hex);
		}
		printf("\n]\n");
	} else {
		printf("FMAP REGION: %s\n", o.region ? o.region : CBFS_DEFAULT_REGION);
		printf("%-30s %-10s %-12s   Size   Comp\n", "Name", "Offset", "Type");
		for (size_t i = 0; i < c.n; i++) {
			const struct cbfs_file *f = &c.files[i];
			printf("%-30s 0x%-8x %-12s %8u %-4s", *f->name ? f->name : "(empty)", f->offset,
			       cbfs_type_name(f->type), f->len, cbfs_compression_name(f->compression));
			if (f->compression != CBFS_COMPRESS_NONE)
				printf(" (%u decompressed)", f->decompressed_size);
			printf("\n");
		}
	}
	cbfs_free(&c);
	return fflush(stdout) == 0 ? HEADS_EXIT_OK : HEADS_EXIT_FAIL;
}

static int do_extract(int argc, char **argv)
{
	struct opts o;
	struct cbfs c;
	const struct cbfs_file *f;
	_cleanup_free_ uint8_t *buf = NULL;
	int r = parse("cbfs", argc, argv, &o);
	if (r)
		return r;
	if (!o.rom || !o.name)
		return cmd_usage_error("cbfs", "extract: --rom FILE and --name NAME are required");
	r = open_rom(&o, &buf, &c);
	if (r)
		return r;
	f = cbfs_find(&c, o.name);
	if (!f) {
		log_error("%s: no CBFS file %s", o.rom, o.name);
		cbfs_free(&c);
		return HEADS_EXIT_FAIL;
	}
	if (o.decompress) {
		_cleanup_free_ uint8_t *d = NULL;
		size_t n;
		r = cbfs_read(&c, f, &d, &n);
		if (r == 0)
			r = write_full(STDOUT_FILENO, d, n);
	} else {
		r = write_full(STDOUT_FILENO, cbfs_data(&c, f), f->len);
	}
	cbfs_free(&c);
	if (r < 0) {
		log_error("%s: %s: %s", o.rom, o.name, strerror(-r));
		return HEADS_EXIT_FAIL;
	}
	return HEADS_EXIT_OK;
}

/* add / remove: edit the image in memory, then replace the file atomically. */
static int do_edit(int argc, char **argv, bool add)
{
	struct opts o;
	struct stat st;
	_cleanup_free_ uint8_t *buf = NULL;
	_cleanup_free_ char *data = NULL;
	size_t len, n = 0;
	bool existed = false;
	int r = parse("cbfs", argc, argv, &o);
	if (r)
		return r;
	if (!o.rom || !o.name || (add && !o.file))
		return cmd_usage_error("cbfs", "%s: --rom FILE, --name NAME%s are required",
				       argv[0], add ? " and --file F" : "");
	if (!add && o.file)
		return cmd_usage_error("cbfs", "remove: --file is not used");
	if (stat(o.rom, &st) < 0 || !S_ISREG(st.st_mode)) {
		log_error("%s: not a regular image file", o.rom);
		return HEADS_EXIT_FAIL;
	}
	r = cbfs_load_image(o.rom, &buf, &len);
	if (r < 0) {
		log_error("%s: %s", o.rom, strerror(-r));
		return HEADS_EXIT_FAIL;
	}
	if (add) {
		struct cbfs c;
		r = fs_read_file(o.file, CBFS_MAX_IMAGE, &data, &n);
		if (r < 0) {
			log_error("%s: %s", o.file, strerror(-r));
			return HEADS_EXIT_FAIL;
		}
		if (cbfs_parse(buf, len, o.region, &c) == 0) {
			existed = cbfs_find(&c, o.name) != NULL;
			cbfs_free(&c);
		}
		r = cbfs_replace_file(buf, len, o.region, o.name, CBFS_TYPE_RAW, data, n);
	} else {
		r = cbfs_remove_file(buf, len, o.region, o.name);
	}
	if (r < 0) {
		const char *why = r == -ENOSPC   ? "no empty space large enough"
				  : r == -ENOENT ? "no such file (or region)"
				  : r == -EINVAL ? "invalid name"
				  : r == -EBADMSG ? "no valid CBFS"
						  : strerror(-r);
		log_error("%s: %s %s: %s (image unchanged)", o.rom, add ? "adding" : "removing",
			  o.name, why);
		return HEADS_EXIT_FAIL;
	}
	r = fs_write_atomic(o.rom, buf, len, st.st_mode & 07777);
	if (r < 0) {
		log_error("%s: %s", o.rom, strerror(-r));
		return HEADS_EXIT_FAIL;
	}
	if (add)
		printf("%s %s (%zu bytes)\n", existed ? "replaced" : "added", o.name, n);
	else
		printf("removed %s\n", o.name);
	return HEADS_EXIT_OK;
}

static int do_add(int argc, char **argv)
{
	return do_edit(argc, argv, true);
}

static int do_remove(int argc, char **argv)
{
	return do_edit(argc, argv, false);
}

static const struct heads_subcommand subs[] = {
	{"list", "list the CBFS files", do_list},
	{"extract", "write one CBFS file to standard output", do_extract},
	{"add", "add (or replace) a raw file in the image", do_add},
	{"remove", "remove a file from the image", do_remove},
	{},
};

static int run(int argc, char **argv);

const struct heads_command cmd_cbfs = {
	.name = "cbfs",
	.summary = "list, extract, add and remove the files of a coreboot ROM (CBFS)",
	.usage = usage,
	.run = run,
};

static int run(int argc, char **argv)
{
	return cmd_run_sub(&cmd_cbfs, subs, argc, argv);
}

/* --- heads tpm predict-pcr2 / coreboot-log --------------------------------- */

int cmd_tpm_predict_pcr2(int argc, char **argv)
{
	struct opts o;
	struct cbfs c;
	struct coreboot_measurement m[6];
	size_t n;
	uint8_t pcr[32];
	char hex[65];
	_cleanup_free_ uint8_t *buf = NULL;
	int r = parse("tpm", argc, argv, &o);
	if (r)
		return r;
	if (!o.rom)
		return cmd_usage_error("tpm", "predict-pcr2: --rom FILE is required");
	r = open_rom(&o, &buf, &c);
	if (r)
		return r;
	r = coreboot_measurements(&c, m, &n);
	if (r == 0)
		r = coreboot_predict_pcr2(&c, pcr);
	cbfs_free(&c);
	if (r < 0) {
		log_error("%s: not a coreboot ROM (no FMAP region FMAP or no bootblock)", o.rom);
		return HEADS_EXIT_FAIL;
	}
	for (size_t i = 0; i < n; i++) {
		hex_encode(m[i].sha256, 32, hex);
		log_info("PCR 2 <- %s %s", hex, m[i].name);
	}
	hex_encode(pcr, 32, hex);
	printf("%s\n", hex);
	return HEADS_EXIT_OK;
}

/* Each PCR 2 event of the log against the ROM's measurement of the same
 * name: which of coreboot's stages moved. Returns the number of differences. */
static int compare_with_rom(const struct tpm_eventlog *l, const struct opts *o)
{
	struct cbfs c;
	struct coreboot_measurement m[6];
	size_t n = 0;
	bool seen[6] = {false};
	int diff = 0;
	_cleanup_free_ uint8_t *buf = NULL;

	if (open_rom(o, &buf, &c))
		return -1;
	if (coreboot_measurements(&c, m, &n) < 0) {
		cbfs_free(&c);
		log_error("%s: not a coreboot ROM", o->rom);
		return -1;
	}
	cbfs_free(&c);
	for (size_t i = 0; i < l->n; i++) {
		const struct tpm_event *e = &l->events[i];
		char name[64] = "";
		size_t k;
		if (e->pcr != COREBOOT_PCR2 || e->type == TPM_EV_NO_ACTION)
			continue;
		for (k = 0; k < e->data_len && k < sizeof(name) - 1 && e->data[k]; k++)
			name[k] = (char)e->data[k];
		name[k] = '\0';
		for (k = 0; k < n && strcmp(m[k].name, name); k++)
			;
		if (k == n) {
			printf("%s: not measured from this ROM\n", name);
			diff++;
		} else if (!e->has_sha256 || memcmp(e->sha256, m[k].sha256, 32)) {
			printf("%s: MOVED (differs from %s)\n", name, o->rom);
			seen[k] = true;
			diff++;
		} else {
			printf("%s: as in %s\n", name, o->rom);
			seen[k] = true;
		}
	}
	for (size_t k = 0; k < n; k++)
		if (!seen[k]) {
			printf("%s: in %s, not in the log\n", m[k].name, o->rom);
			diff++;
		}
	return diff;
}

int cmd_tpm_coreboot_log(int argc, char **argv)
{
	struct opts o;
	_cleanup_free_ uint8_t *buf = NULL;
	struct tpm_eventlog *l = NULL;
	size_t len;
	int diff = 0;
	int r = parse("tpm", argc, argv, &o);
	if (r)
		return r;
	if (o.log) { /* a saved log (--out) instead of cbmem */
		char *b;
		r = fs_read_file(o.log, CBTABLE_MAX * 16, &b, &len);
		if (r < 0) {
			log_error("%s: %s", o.log, strerror(-r));
			return HEADS_EXIT_FAIL;
		}
		buf = (uint8_t *)b;
		/* coreboot's layout (unused slots after the entries): its used part */
		size_t used;
		if (coreboot_tpm2_log_len(buf, len, &used) < 0) {
			log_error("%s: not coreboot's TPM 2.0 log", o.log);
			return HEADS_EXIT_FAIL;
		}
		len = used;
	} else if ((r = coreboot_read_tpm_log(o.mem, &buf, &len)) < 0) {
		log_error("coreboot: no TPM 2.0 log from %s: %s", o.mem ? o.mem : "/dev/mem",
			  r == -ENOENT ? "no coreboot table or no TPM log in cbmem" : strerror(-r));
		return HEADS_EXIT_FAIL;
	}
	if (o.out) {
		r = fs_write_atomic(o.out, buf, len, 0644);
		if (r < 0) {
			log_error("%s: %s", o.out, strerror(-r));
			return HEADS_EXIT_FAIL;
		}
	}
	r = tpm_eventlog_parse(buf, len, &l);
	if (r < 0) {
		log_error("coreboot: the TPM log does not parse as a TCG log");
		return HEADS_EXIT_FAIL;
	}
	for (size_t i = 0; i < l->n; i++) {
		const struct tpm_event *e = &l->events[i];
		char hex[65] = "-", name[64] = "";
		if (e->has_sha256)
			hex_encode(e->sha256, 32, hex);
		for (size_t k = 0; k < e->data_len && k < sizeof(name) - 1 && e->data[k]; k++)
			name[k] = (char)((e->data[k] >= 0x20 && e->data[k] < 0x7f) ? e->data[k] : '?');
		printf("PCR %u\t%s\t%s\n", e->pcr, hex, name);
	}
	for (unsigned pcr = 0; pcr < 24; pcr++) {
		uint8_t v[32];
		char hex[65];
		size_t vl;
		bool used = false;
		for (size_t i = 0; i < l->n; i++)
			used |= l->events[i].pcr == pcr && l->events[i].type != TPM_EV_NO_ACTION;
		if (!used || tpm_eventlog_replay(l, "sha256", pcr, v, &vl) < 0)
			continue;
		hex_encode(v, vl, hex);
		printf("PCR %u replay %s\n", pcr, hex);
	}
	if (o.rom)
		diff = compare_with_rom(l, &o);
	tpm_eventlog_free(l);
	if (diff < 0)
		return HEADS_EXIT_FAIL;
	return diff ? HEADS_EXIT_FAIL : HEADS_EXIT_OK;
}
