/* heads iso - an ISO file's signature and boot entries (issue 18). */
#include "cmd/cmd.h"
#include "bootcfg/bootcfg.h"
#include "codec.h"
#include "iso/iso.h"
#include "kexec.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
	"Usage: heads iso verify --iso FILE (--keyring K | --key-file F) [--key-file F]\n"
	"                        [--progress]\n"
	"       heads iso entries --iso FILE [--keyring K [--key-file F]] [--device D]\n"
	"                        [--uuid U] [--iso-path P] [--add WORDS] [--remove WORDS]\n"
	"                        [--overrides DIR]\n"
	"                        [--json|--lines]\n"
	"       heads iso kexec --iso FILE --entry N [entries options] [--board-add W]\n"
	"                        [--kexec PATH] [--dry-run|--exec]\n"
	"\n"
	"verify: FILE is opened once and read once, streaming, through SHA-256 (a\n"
	"progress line on a terminal, or with --progress). A detached signature\n"
	"FILE.sig or FILE.asc beside it decides when present (gpg checks the same\n"
	"bytes we hash); otherwise a checksum list SHA256SUMS (or SHA256SUMS.txt,\n"
	"sha256sum.txt) with its signature (.sign, .gpg, .asc, .sig), or a\n"
	"clear-signed *CHECKSUM file: the list's signature must verify and name\n"
	"FILE with its SHA-256.\n"
	"  --keyring K    GnuPG home with the trusted public keys (the ROM keyring);\n"
	"                 only read (a private temporary copy is used)\n"
	"  --key-file F   also trust the OpenPGP public key(s) in F (for example a\n"
	"                 distribution key on the same medium); each is printed by\n"
	"                 fingerprint, and kept in the temporary keyring only\n"
	"Output lines: \"key-file-key: FPR UID\", \"signature: METHOD\",\n"
	"\"state: STATE\", \"signer: FPR\", \"sha256: HEX\", \"rate: N MB/s\".\n"
	"\n"
	"entries: the ISO's GRUB/isolinux entries, read from the image itself (ISO\n"
	"9660 with Rock Ridge/Joliet, no mount) and parsed as text, with the words\n"
	"each distribution family needs to find the ISO again added to the final\n"
	"command line: casper iso-scan/filename=P, live-boot findiso=P, Tails\n"
	"fromiso=DP, dracut iso-scan/filename=P rd.live.image, archiso img_dev=D\n"
	"img_loop=P, NixOS findiso=P; otherwise the generic set\n"
	"iso-scan/filename findiso img_dev img_loop iso live-media. Words holding '$'\n"
	"are removed. Each entry is marked [OK] (the family's documented ISO\n"
	"parameter is used), [~] (may work) or [X] (cannot boot from an ISO file).\n"
	"  --device D     the medium as the OS will find it (default:\n"
	"                 /dev/disk/by-uuid/<UUID> of the file system holding FILE)\n"
	"  --uuid U       that file system's UUID (default: from the device)\n"
	"  --iso-path P   FILE's path on the medium (default: from its mount point)\n"
	"  --add WORDS    words added to every entry; --remove WORDS words removed\n"
	"  --overrides DIR  per-ISO overrides (the reference's kexec_iso/<path>/):\n"
	"                 kexec_iso_add.txt replaces the words that find the ISO,\n"
	"                 kexec_iso_remove.txt lists words to remove; used only if\n"
	"                 DIR/kexec.sig verifies against --keyring ($ISO_PATH and\n"
	"                 $DEV_UUID are substituted, no shell; other '$' refused)\n"
	"  --keyring K    verify FILE first (as verify does); not VERIFIED: exit 1.\n"
	"                 The entries are then parsed only from bytes whose 1 MiB\n"
	"                 chunk matches the digest recorded by that check\n"
	"  --json         the entries as `heads entries --json` (docs/entries-json.md)\n"
	"  --lines        the Heads entry line format\n"
	"Default output, one entry per line:\n"
	"  \"<n><TAB><mark><TAB><family><TAB><title><TAB><final cmdline><TAB><why>\".\n"
	"\n"
	"kexec: entry N of `heads iso entries` (Linux only): its kernel and initrds\n"
	"are read from the image into sealed memory (with --keyring: only bytes\n"
	"whose chunk matches the verification's record) and loaded with\n"
	"kexec_file_load; --dry-run prints what would be loaded, as `heads kexec\n"
	"--dry-run` does (UNVERIFIED first without --keyring); --exec boots it. PCR 4\n"
	"and the choice to boot an unsigned ISO belong to the menu.\n"
	"\n"
	"Exit status: 0 ok; 1 not verified (the reason is printed) or the image\n"
	"cannot be read; 2 usage error.\n";

struct progress {
	bool show;
	struct timespec start;
	int last;
};

static double since(const struct timespec *t)
{
	struct timespec n;
	clock_gettime(CLOCK_MONOTONIC, &n);
	return (double)(n.tv_sec - t->tv_sec) + (double)(n.tv_nsec - t->tv_nsec) / 1e9;
}

static void on_progress(void *ud, uint64_t done, uint64_t total)
{
	struct progress *p = ud;
	int pct = total ? (int)(done * 100 / total) : 100;
	if (!p->show || (pct == p->last && done != total))
		return;
	if (pct / 5 == p->last / 5 && done != total)
		return;
	p->last = pct;
	double s = since(&p->start);
	fprintf(stderr, "\rhashing: %3d%% %llu MiB %.0f MB/s%s", pct,
		(unsigned long long)(done >> 20), s > 0 ? (double)done / s / 1e6 : 0.0,
		done == total ? "\n" : "");
}

static void on_key(void *ud, const char *fpr, const char *uid)
{
	(void)ud;
	_cleanup_free_ char *u = str_escape_controls(uid, false);
	printf("key-file-key: %s %s\n", fpr, u);
}

/* Verify f; prints the report; returns the exit status. */
static int verify(struct iso_file *f, const char *keyring, const char *key_file, bool progress)
{
	struct progress p = {.show = progress || isatty(2), .last = -1};
	struct iso_verify_opts o = {
		.keyring_dir = keyring, .key_file = key_file, .key_imported = on_key,
		.progress = on_progress, .userdata = &p,
	};
	struct iso_verify_result res;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &p.start);
	printf("iso: %s (%llu bytes)\n", f->path, (unsigned long long)f->size);
	r = iso_verify(f, &o, &res);
	double secs = since(&p.start);
	if (r < 0) {
		fprintf(stderr, "heads iso verify: %s: cannot verify: %s\n", f->path, strerror(-r));
		return HEADS_EXIT_FAIL;
	}
	printf("signature: %s\n", res.method);
	printf("state: %s\n", iso_sig_state_name(res.state));
	if (res.fpr[0])
		printf("signer: %s\n", res.fpr);
	if (f->hashed) {
		char hex[65];
		hex_encode(f->sha256, 32, hex);
		printf("sha256: %s\n", hex);
		if (secs > 0)
			printf("rate: %.0f MB/s\n", (double)f->size / secs / 1e6);
	}
	if (res.state != ISO_VERIFIED) {
		fprintf(stderr, "heads iso verify: %s: %s: %s\n", f->path,
			iso_sig_state_name(res.state), res.detail);
		return HEADS_EXIT_FAIL;
	}
	fflush(stdout);
	return HEADS_EXIT_OK;
}

static int do_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{"iso", required_argument, NULL, 'i'},
		{"keyring", required_argument, NULL, 'k'},
		{"key-file", required_argument, NULL, 'f'},
		{"progress", no_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	const char *iso = NULL, *keyring = NULL, *key_file = NULL;
	bool progress = false;
	struct iso_file f;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'i': iso = optarg; break;
		case 'k': keyring = optarg; break;
		case 'f': key_file = optarg; break;
		case 'p': progress = true; break;
		case 'h': fputs(usage, stdout); return HEADS_EXIT_OK;
		default: return cmd_usage_error("iso verify", "bad option");
		}
	}
	if (optind != argc)
		return cmd_usage_error("iso verify", "unexpected argument '%s'", argv[optind]);
	if (!iso)
		return cmd_usage_error("iso verify", "--iso FILE is required");
	if (!keyring && !key_file)
		return cmd_usage_error("iso verify", "--keyring K (or --key-file F) is required");
	if (iso_open(iso, &f) < 0)
		return HEADS_EXIT_FAIL;
	r = verify(&f, keyring, key_file, progress);
	iso_close(&f);
	return r;
}

struct ctx {
	const char *iso, *keyring, *key_file, *device, *uuid, *iso_path, *add, *remove;
	const char *board_add, *kexec_tool, *overrides;
	struct iso_overrides ov;
	char *remove_all;
	unsigned long long entry;
	int mode;       /* entries: 'j' json, 'l' lines, 0 text; kexec: 'n' dry-run, 'x' exec, 0 load */
	struct iso_file f;
	bool open;
	char *loc_path, *loc_dev, *loc_uuid;
	struct iso9660_tree tree;
	struct boot_entries l;
	struct iso_entry_info *info;
};

static void ctx_free(struct ctx *c)
{
	for (size_t i = 0; c->info && i < c->l.n; i++)
		iso_entry_info_free(&c->info[i]);
	free(c->info);
	boot_entries_free(&c->l);
	iso9660_tree_free(&c->tree);
	if (c->open)
		iso_close(&c->f);
	free(c->loc_path);
	free(c->loc_dev);
	free(c->loc_uuid);
	iso_overrides_free(&c->ov);
	free(c->remove_all);
}

/* Open, (plan, verify,) parse and prepare the entries. Exit status. */
static int prepare(struct ctx *c, const char *cmd)
{
	int r;

	if (iso_open(c->iso, &c->f) < 0)
		return HEADS_EXIT_FAIL;
	c->open = true;
	c->l.default_index = -1;
	if (c->keyring) {
		/* Plan: what parsing the image and loading its entries reads is
		 * marked, so the check's one pass records those chunks and every
		 * later read is compared with them (iso.h, iso_read_at). */
		struct iso9660_tree t0 = {0};
		struct boot_entries l0 = {.default_index = -1};
		r = iso_entries(&c->f, &t0, &l0);
		if (r >= 0)
			iso_mark_entries(&c->f, &t0, &l0);
		boot_entries_free(&l0);
		iso9660_tree_free(&t0);
		/* the report goes to stderr: stdout is the entry list or the plan */
		int saved = dup(1);
		fflush(stdout);
		dup2(2, 1);
		r = verify(&c->f, c->keyring, c->key_file, false);
		fflush(stdout);
		dup2(saved, 1);
		close(saved);
		if (r != HEADS_EXIT_OK)
			return r;
	} else {
		fprintf(stderr, "UNVERIFIED: %s is not checked against a keyring (--keyring)\n",
			c->iso);
	}
	if (!c->iso_path || !c->device) {
		r = iso_locate(&c->f, &c->loc_path, &c->loc_dev, &c->loc_uuid);
		if (r < 0) {
			fprintf(stderr, "heads %s: %s: cannot tell which device and path the booted "
				"system will find it at (%s); give --device and --iso-path\n", cmd,
				c->iso, strerror(-r));
			return HEADS_EXIT_FAIL;
		}
	}
	struct iso_boot_opts bo = {
		.iso_path = c->iso_path ? c->iso_path : c->loc_path,
		.device = c->device ? c->device : c->loc_dev,
		.uuid = c->uuid ? c->uuid : c->device ? NULL : c->loc_uuid,
		.add = c->add, .remove = c->remove,
	};
	if (c->overrides) {
		r = iso_overrides_load(c->overrides, c->keyring, bo.iso_path, bo.uuid, &c->ov);
		if (r < 0) {
			fprintf(stderr, "heads %s: %s: overrides refused (%s)\n", cmd, c->overrides,
				strerror(-r));
			return HEADS_EXIT_FAIL;
		}
		if (c->ov.present) {
			fprintf(stderr, "%s: signed ISO overrides used\n", c->overrides);
			bo.replace_add = c->ov.add;
			c->remove_all = xasprintf("%s %s", c->remove ? c->remove : "",
						  c->ov.remove ? c->ov.remove : "");
			bo.remove = c->remove_all;
		}
	}
	r = iso_entries(&c->f, &c->tree, &c->l);
	if (r < 0) {
		fprintf(stderr, "heads %s: %s: no boot entries could be read (%s)\n", cmd, c->iso,
			strerror(-r));
		return HEADS_EXIT_FAIL;
	}
	c->info = xcalloc(c->l.n ? c->l.n : 1, sizeof(*c->info));
	for (size_t i = 0; i < c->l.n; i++)
		iso_entry_prepare(&c->l.v[i], &c->tree, &bo, &c->info[i]);
	if (!c->l.n)
		fprintf(stderr, "heads %s: %s: no bootable entry in its configuration\n", cmd, c->iso);
	return HEADS_EXIT_OK;
}

enum { OPT_BOARD_ADD = 0x100, OPT_KEXEC, OPT_DRY, OPT_EXEC };

static int parse(struct ctx *c, const char *cmd, bool kexec, int argc, char **argv)
{
	static const struct option opts[] = {
		{"iso", required_argument, NULL, 'i'},
		{"keyring", required_argument, NULL, 'k'},
		{"key-file", required_argument, NULL, 'f'},
		{"device", required_argument, NULL, 'd'},
		{"uuid", required_argument, NULL, 'u'},
		{"iso-path", required_argument, NULL, 'P'},
		{"add", required_argument, NULL, 'a'},
		{"remove", required_argument, NULL, 'r'},
		{"json", no_argument, NULL, 'j'},
		{"lines", no_argument, NULL, 'l'},
		{"entry", required_argument, NULL, 'e'},
		{"overrides", required_argument, NULL, 'o'},
		{"board-add", required_argument, NULL, OPT_BOARD_ADD},
		{"kexec", required_argument, NULL, OPT_KEXEC},
		{"dry-run", no_argument, NULL, OPT_DRY},
		{"exec", no_argument, NULL, OPT_EXEC},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	int o;

	optind = 1;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'i': c->iso = optarg; break;
		case 'k': c->keyring = optarg; break;
		case 'f': c->key_file = optarg; break;
		case 'd': c->device = optarg; break;
		case 'u': c->uuid = optarg; break;
		case 'P': c->iso_path = optarg; break;
		case 'a': c->add = optarg; break;
		case 'r': c->remove = optarg; break;
		case 'o': c->overrides = optarg; break;
		case 'j': case 'l':
			if (kexec)
				return cmd_usage_error(cmd, "--json/--lines are options of iso entries");
			if (c->mode)
				return cmd_usage_error(cmd, "--json and --lines exclude each other");
			c->mode = o;
			break;
		case 'e': case OPT_BOARD_ADD: case OPT_KEXEC: case OPT_DRY: case OPT_EXEC:
			if (!kexec)
				return cmd_usage_error(cmd, "--entry, --board-add, --kexec, --dry-run and "
						       "--exec are options of iso kexec");
			if (o == 'e' && (parse_uint(optarg, BOOTCFG_MAX_ENTRIES, &c->entry) < 0 ||
					 !c->entry))
				return cmd_usage_error(cmd, "--entry takes a number from 1");
			if (o == OPT_BOARD_ADD)
				c->board_add = optarg;
			if (o == OPT_KEXEC)
				c->kexec_tool = optarg;
			if (o == OPT_DRY || o == OPT_EXEC) {
				if (c->mode)
					return cmd_usage_error(cmd, "--dry-run and --exec exclude each other");
				c->mode = o == OPT_DRY ? 'n' : 'x';
			}
			break;
		case 'h': fputs(usage, stdout); return -1;
		default: return cmd_usage_error(cmd, "bad option");
		}
	}
	if (optind != argc)
		return cmd_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (!c->iso)
		return cmd_usage_error(cmd, "--iso FILE is required");
	if (c->key_file && !c->keyring)
		return cmd_usage_error(cmd, "--key-file needs --keyring");
	if (c->iso_path && c->iso_path[0] != '/')
		return cmd_usage_error(cmd, "--iso-path must start with '/'");
	if (kexec && !c->entry)
		return cmd_usage_error(cmd, "--entry N is required");
	return 0;
}

static int do_entries(int argc, char **argv)
{
	struct ctx c = {0};
	int r = parse(&c, "iso entries", false, argc, argv);

	if (r)
		return r < 0 ? HEADS_EXIT_OK : r;
	r = prepare(&c, "iso entries");
	if (r == HEADS_EXIT_OK) {
		if (c.mode == 'j') {
			_cleanup_free_ char *j = bootcfg_to_json(&c.l);
			fputs(j, stdout);
		} else if (c.mode == 'l') {
			for (size_t i = 0; i < c.l.n; i++) {
				_cleanup_free_ char *s = boot_entry_to_line(&c.l.v[i]);
				printf("%s\n", s);
			}
		} else {
			for (size_t i = 0; i < c.l.n; i++) {
				_cleanup_free_ char *t = str_escape_controls(c.l.v[i].title, false);
				_cleanup_free_ char *cl = str_escape_controls(c.l.v[i].cmdline, false);
				printf("%zu\t%s\t%s\t%s\t%s\t%s\n", i + 1,
				       iso_compat_mark(c.info[i].compat),
				       iso_family_name(c.info[i].family), t, cl, c.info[i].why);
			}
		}
		if (fflush(stdout) != 0)
			r = HEADS_EXIT_FAIL;
	}
	ctx_free(&c);
	return r;
}

static int do_kexec(int argc, char **argv)
{
	struct ctx c = {0};
	struct kexec_plan plan = {.initrd_fd = -1};
	int r = parse(&c, "iso kexec", true, argc, argv);

	if (r)
		return r < 0 ? HEADS_EXIT_OK : r;
	r = prepare(&c, "iso kexec");
	if (r != HEADS_EXIT_OK)
		goto out;
	if (c.entry > c.l.n) {
		fprintf(stderr, "heads iso kexec: %s has %zu entries, not %llu\n", c.iso, c.l.n,
			c.entry);
		r = HEADS_EXIT_FAIL;
		goto out;
	}
	const struct iso_entry_info *in = &c.info[c.entry - 1];
	if (in->compat == ISO_COMPAT_NO)
		fprintf(stderr, "heads iso kexec: %s is marked [X]: %s\n", c.l.v[c.entry - 1].title,
			in->why);
	if (iso_plan_build(&c.f, &c.tree, &c.l.v[c.entry - 1], c.board_add, &plan) < 0) {
		r = HEADS_EXIT_FAIL;
		goto out;
	}
	if (!c.keyring)
		printf("UNVERIFIED: %s is not checked against a keyring\n", c.iso);
	if (c.mode == 'n') {
		r = kexec_plan_describe(&plan, c.kexec_tool, stdout) < 0 ? HEADS_EXIT_FAIL
									  : HEADS_EXIT_OK;
		goto out;
	}
	if (kexec_plan_load(&plan, c.kexec_tool) < 0) {
		r = HEADS_EXIT_FAIL;
		goto out;
	}
	if (c.mode == 'x') {
		fflush(stdout);
		kexec_exec();
		r = HEADS_EXIT_FAIL;
	}
out:
	kexec_plan_free(&plan);
	ctx_free(&c);
	return r;
}

static const struct heads_subcommand subs[] = {
	{"verify", "check an ISO's signature (detached or a signed SHA256SUMS)", do_verify},
	{"entries", "an ISO's boot entries with the words that find the ISO", do_entries},
	{"kexec", "load an ISO entry's kernel and initrd (checked bytes) with kexec", do_kexec},
	{},
};

static int run(int argc, char **argv);
const struct heads_command cmd_iso = {
	.name = "iso",
	.summary = "ISO files: signature check, boot entries (USB/ISO boot)",
	.usage = usage,
	.run = run,
};

static int run(int argc, char **argv)
{
	return cmd_run_sub(&cmd_iso, subs, argc, argv);
}
