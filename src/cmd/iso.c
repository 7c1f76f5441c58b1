/* heads iso - an ISO file's signature and boot entries (issue 18). */
#include "cmd/cmd.h"
#include "bootcfg/bootcfg.h"
#include "codec.h"
#include "iso/iso.h"
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
	"                        [--json|--lines]\n"
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
	"  --keyring K    verify FILE first (as verify does); not VERIFIED: exit 1.\n"
	"                 The entries are then parsed only from bytes whose 1 MiB\n"
	"                 chunk matches the digest recorded by that check\n"
	"  --json         the entries as `heads entries --json` (docs/entries-json.md)\n"
	"  --lines        the Heads entry line format\n"
	"Default output, one entry per line:\n"
	"  \"<n><TAB><mark><TAB><family><TAB><title><TAB><final cmdline><TAB><why>\".\n"
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

static int do_entries(int argc, char **argv)
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
		{"help", no_argument, NULL, 'h'},
		{},
	};
	const char *iso = NULL, *keyring = NULL, *key_file = NULL, *device = NULL, *uuid = NULL;
	const char *iso_path = NULL, *add = NULL, *remove = NULL;
	_cleanup_free_ char *loc_path = NULL, *loc_dev = NULL, *loc_uuid = NULL;
	struct iso9660_tree tree = {0};
	struct boot_entries l = {.default_index = -1};
	struct iso_file f;
	int mode = 0, c, r, status = HEADS_EXIT_OK;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'i': iso = optarg; break;
		case 'k': keyring = optarg; break;
		case 'f': key_file = optarg; break;
		case 'd': device = optarg; break;
		case 'u': uuid = optarg; break;
		case 'P': iso_path = optarg; break;
		case 'a': add = optarg; break;
		case 'r': remove = optarg; break;
		case 'j': case 'l':
			if (mode)
				return cmd_usage_error("iso entries", "--json and --lines exclude each other");
			mode = c;
			break;
		case 'h': fputs(usage, stdout); return HEADS_EXIT_OK;
		default: return cmd_usage_error("iso entries", "bad option");
		}
	}
	if (optind != argc)
		return cmd_usage_error("iso entries", "unexpected argument '%s'", argv[optind]);
	if (!iso)
		return cmd_usage_error("iso entries", "--iso FILE is required");
	if (key_file && !keyring)
		return cmd_usage_error("iso entries", "--key-file needs --keyring");
	if (iso_path && iso_path[0] != '/')
		return cmd_usage_error("iso entries", "--iso-path must start with '/'");
	if (iso_open(iso, &f) < 0)
		return HEADS_EXIT_FAIL;
	if (keyring) {
		/* Plan: what parsing the image and loading its entries reads is
		 * marked, so the check's one pass records those chunks and every
		 * later read is compared with them (iso.h, iso_read_at). */
		struct iso9660_tree t0 = {0};
		struct boot_entries l0 = {.default_index = -1};
		r = iso_entries(&f, &t0, &l0);
		if (r >= 0)
			iso_mark_entries(&f, &t0, &l0);
		boot_entries_free(&l0);
		iso9660_tree_free(&t0);
		/* the report goes to stderr: stdout is the entry list */
		int saved = dup(1);
		fflush(stdout);
		dup2(2, 1);
		r = verify(&f, keyring, key_file, false);
		fflush(stdout);
		dup2(saved, 1);
		close(saved);
		if (r != HEADS_EXIT_OK) {
			iso_close(&f);
			return r;
		}
	} else {
		fprintf(stderr, "UNVERIFIED: %s is not checked against a keyring (--keyring)\n", iso);
	}
	if (!iso_path || !device) {
		r = iso_locate(&f, &loc_path, &loc_dev, &loc_uuid);
		if (r < 0) {
			fprintf(stderr, "heads iso entries: %s: cannot tell which device and path "
				"the booted system will find it at (%s); give --device and "
				"--iso-path\n", iso, strerror(-r));
			iso_close(&f);
			return HEADS_EXIT_FAIL;
		}
	}
	struct iso_boot_opts bo = {
		.iso_path = iso_path ? iso_path : loc_path,
		.device = device ? device : loc_dev,
		.uuid = uuid ? uuid : device ? NULL : loc_uuid,
		.add = add, .remove = remove,
	};
	r = iso_entries(&f, &tree, &l);
	if (r < 0) {
		fprintf(stderr, "heads iso entries: %s: no boot entries could be read (%s)\n", iso,
			strerror(-r));
		iso_close(&f);
		boot_entries_free(&l);
		return HEADS_EXIT_FAIL;
	}
	struct iso_entry_info *info = xcalloc(l.n ? l.n : 1, sizeof(*info));
	for (size_t i = 0; i < l.n; i++)
		iso_entry_prepare(&l.v[i], &tree, &bo, &info[i]);
	if (mode == 'j') {
		_cleanup_free_ char *j = bootcfg_to_json(&l);
		fputs(j, stdout);
	} else if (mode == 'l') {
		for (size_t i = 0; i < l.n; i++) {
			_cleanup_free_ char *s = boot_entry_to_line(&l.v[i]);
			printf("%s\n", s);
		}
	} else {
		for (size_t i = 0; i < l.n; i++) {
			_cleanup_free_ char *t = str_escape_controls(l.v[i].title, false);
			_cleanup_free_ char *cl = str_escape_controls(l.v[i].cmdline, false);
			printf("%zu\t%s\t%s\t%s\t%s\t%s\n", i + 1, iso_compat_mark(info[i].compat),
			       iso_family_name(info[i].family), t, cl, info[i].why);
		}
	}
	if (!l.n)
		fprintf(stderr, "heads iso entries: %s: no bootable entry in its configuration\n", iso);
	for (size_t i = 0; i < l.n; i++)
		iso_entry_info_free(&info[i]);
	free(info);
	boot_entries_free(&l);
	iso9660_tree_free(&tree);
	iso_close(&f);
	if (fflush(stdout) != 0)
		status = HEADS_EXIT_FAIL;
	return status;
}

static const struct heads_subcommand subs[] = {
	{"verify", "check an ISO's signature (detached or a signed SHA256SUMS)", do_verify},
	{"entries", "an ISO's boot entries with the words that find the ISO", do_entries},
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
