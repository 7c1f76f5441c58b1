/* heads entries - list the boot entries of a boot directory. */
#include "cmd/cmd.h"
#include "boot/integrity.h"
#include "bootcfg/bootcfg.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char usage[] =
	"Usage: heads entries [--boot DIR] [--keyring K] [--config PATH [--format F]]\n"
	"                     [--json|--lines|--default]\n"
	"\n"
	"Parses the boot configuration of DIR (default /boot) as text - nothing in it\n"
	"is executed - and lists the bootable entries in boot-menu order.\n"
	"\n"
	"  --boot DIR     the boot directory (what is mounted at /boot, or an ISO root)\n"
	"  --keyring K    a GnuPG home with the trusted public keys (the ROM keyring):\n"
	"                 DIR's signature must verify, configurations are found only\n"
	"                 in the signed tree and parsed only from bytes matching their\n"
	"                 signed hash, and an entry is listed only if its kernel,\n"
	"                 initrds and modules are signed files. Without it nothing is\n"
	"                 checked, and standard error says UNVERIFIED first.\n"
	"  --config PATH  parse only this configuration (relative to DIR; a directory\n"
	"                 or loader.conf means BLS). Without it every grub.cfg,\n"
	"                 isolinux.cfg, syslinux.cfg and extlinux.conf is parsed, then\n"
	"                 loader/entries if nothing was found.\n"
	"  --format F     grub, syslinux, bls or grub-legacy (default: from the name)\n"
	"  --json         a JSON array of {title, kind, kernel, initrd[], cmdline,\n"
	"                 modules[{path,args}]} (docs/entries-json.md; stable)\n"
	"  --lines        the Heads entry line format (name|elf|kernel ...|initrd ...)\n"
	"  --default      print the entry the bootloader boots by itself:\n"
	"                 \"<menu path><TAB><title>\" (path like 1>2, a syslinux label\n"
	"                 or a BLS file)\n"
	"Without an output option: one line per entry, \"<n><TAB><kind><TAB><title>\".\n"
	"\n"
	"Titles are printed with control bytes escaped (\\xHH).\n"
	"\n"
	"Exit status: 0 ok (even with no entries); 1 no default entry (--default),\n"
	"the configuration could not be parsed or DIR does not verify against K;\n"
	"2 usage error.\n";

static int run(int argc, char **argv);
const struct heads_command cmd_entries = {
	.name = "entries",
	.summary = "list boot entries (GRUB, syslinux, BLS, Xen) as text or JSON",
	.usage = usage,
	.run = run,
};

static int run(int argc, char **argv)
{
	static const struct option opts[] = {
		CMD_BOOT_SOURCE_OPTIONS,
		{"format", required_argument, NULL, 'f'},
		{"json", no_argument, NULL, 'j'},
		{"lines", no_argument, NULL, 'l'},
		{"default", no_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	struct cmd_boot_source src = {.boot = "/boot"};
	struct integrity_report rep = {0};
	_cleanup_view_ struct boot_view *view = NULL;
	enum bootcfg_format fmt = BOOTCFG_AUTO;
	int mode = 0, c, r;
	struct boot_entries l = {.default_index = -1};

	optind = 1;
	while ((c = getopt_long(argc, argv, "b:c:f:h", opts, NULL)) != -1) {
		if (cmd_boot_source_opt(&src, c, optarg))
			continue;
		switch (c) {
		case 'f':
			if (streq(optarg, "grub"))
				fmt = BOOTCFG_GRUB;
			else if (streq(optarg, "syslinux") || streq(optarg, "isolinux") ||
				 streq(optarg, "extlinux"))
				fmt = BOOTCFG_SYSLINUX;
			else if (streq(optarg, "bls"))
				fmt = BOOTCFG_BLS;
			else if (streq(optarg, "grub-legacy"))
				fmt = BOOTCFG_GRUB_LEGACY;
			else
				return cmd_usage_error("entries", "unknown format '%s'", optarg);
			break;
		case 'j': case 'l': case 'd':
			if (mode)
				return cmd_usage_error("entries", "--json, --lines and --default exclude each other");
			mode = c;
			break;
		case 'h':
			fputs(usage, stdout);
			return HEADS_EXIT_OK;
		default:
			return cmd_usage_error("entries", "bad option");
		}
	}
	if (optind != argc)
		return cmd_usage_error("entries", "unexpected argument '%s'", argv[optind]);
	if (fmt != BOOTCFG_AUTO && !src.config)
		return cmd_usage_error("entries", "--format needs --config");

	r = cmd_boot_view("entries", src.boot, src.keyring, &rep, &view);
	if (r < 0)
		return HEADS_EXIT_FAIL;
	if (!src.keyring)
		fprintf(stderr, "UNVERIFIED: %s is not checked against a "
			"keyring (--keyring)\n", src.boot);
	r = cmd_boot_entries("entries", view, &src, fmt, &l);
	if (r < 0) {
		boot_entries_free(&l);
		integrity_report_free(&rep);
		return HEADS_EXIT_FAIL;
	}
	if (mode == 'j') {
		_cleanup_free_ char *j = bootcfg_to_json(&l);
		fputs(j, stdout);
	} else if (mode == 'l') {
		for (size_t i = 0; i < l.n; i++) {
			_cleanup_free_ char *s = boot_entry_to_line(&l.v[i]);
			printf("%s\n", s);
		}
	} else if (mode == 'd') {
		if (!l.default_id || l.default_index < 0) {
			fprintf(stderr, "heads entries: no bootable default entry%s%s\n",
				l.default_id ? " (default is " : "", l.default_id ? l.default_id : "");
			boot_entries_free(&l);
			integrity_report_free(&rep);
			return HEADS_EXIT_FAIL;
		}
		_cleanup_free_ char *t = str_escape_controls(l.v[l.default_index].title, false);
		printf("%s\t%s\n", l.default_id, t);
	} else {
		for (size_t i = 0; i < l.n; i++) {
			_cleanup_free_ char *t = str_escape_controls(l.v[i].title, false);
			printf("%zu\t%s\t%s\n", i + 1, boot_kind_to_string(l.v[i].kind), t);
		}
	}
	boot_entries_free(&l);
	integrity_report_free(&rep);
	return fflush(stdout) == 0 ? HEADS_EXIT_OK : HEADS_EXIT_FAIL;
}
