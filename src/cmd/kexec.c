/* heads kexec - load (and start) a boot entry with kexec, or show what
 * would be loaded. */
#include "cmd/cmd.h"
#include "handover.h"
#include "boot/integrity.h"
#include "bootcfg/bootcfg.h"
#include "kexec.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char usage[] =
	"Usage: heads kexec [--boot DIR] [--keyring K] [--config PATH] ENTRY [options]\n"
	"                   [--dry-run|--exec]\n"
	"\n"
	"ENTRY is one of:\n"
	"  --entry N        the N-th entry (1-based) of `heads entries` for DIR/PATH\n"
	"  --title TITLE    the entry with exactly this title (\"Submenu>Entry\")\n"
	"  --default        the entry the bootloader boots by itself\n"
	"  --line LINE      an entry in the Heads line format (kexec_default.N.txt)\n"
	"  --saved PARAMS   the entry saved in PARAMS/kexec_default.N.txt (with\n"
	"                   --keyring: the signed kexec_default.N.txt of DIR; PARAMS\n"
	"                   must then be DIR)\n"
	"Options:\n"
	"  --boot DIR       boot directory (default /boot); every file must be in it\n"
	"  --keyring K      a GnuPG home with the trusted public keys (ROM keyring):\n"
	"                   DIR's signature must verify; the entry comes from signed\n"
	"                   configurations and every file it loads is read once and\n"
	"                   its SHA-256 compared with the signed line of that exact\n"
	"                   path (exit 1 naming the file otherwise). Without it\n"
	"                   nothing is checked and the first line says UNVERIFIED.\n"
	"  --add WORDS      add to the kernel command line (e.g. iso-scan/filename=...)\n"
	"  --remove WORDS   remove these whole words (CONFIG_BOOT_KERNEL_REMOVE)\n"
	"  --board-add WORDS  append if missing (CONFIG_BOOT_KERNEL_ADD)\n"
	"  --initrd-fd N    give the OS the initrd open on fd N instead of the\n"
	"                   entry's (which is still read and checked; for Xen:\n"
	"                   replaces the second module)\n"
	"  --kexec PATH     kexec-tools binary for Xen/multiboot (default /sbin/kexec)\n"
	"  --dry-run        read and check every file, print what would be loaded\n"
	"                   and load nothing:\n"
	"                     UNVERIFIED: ...         (first line, without --keyring)\n"
	"                     kind: linux|xen|multiboot\n"
	"                     verified: yes|NO (UNVERIFIED)\n"
	"                     kernel: PATH\n"
	"                     kernel-sha256: HEX [(signed)]\n"
	"                     initrd: PATH            (one pair per initrd, or\n"
	"                     initrd-sha256: HEX       \"initrd: replaced (N bytes)\")\n"
	"                     cmdline: FINAL COMMAND LINE\n"
	"                     module: PATH ARGS       (xen/multiboot, in order,\n"
	"                     module-sha256: HEX       each with its hash)\n"
	"                     method: kexec_file_load | kexec-tools\n"
	"                     exec: kexec -l ...      (xen/multiboot: the exact argv,\n"
	"                                              files as /proc/self/fd/N)\n"
	"                   Control bytes in paths and arguments are shown as \\xHH.\n"
	"  --exec           after loading, reboot into the loaded kernel\n"
	"\n"
	"Linux entries are loaded with kexec_file_load(2); Xen and multiboot entries\n"
	"with kexec-tools (fork+exec, no shell).\n"
	"\n"
	"Exit status: 0 ok; 1 a file is missing or loading failed; 2 usage error;\n"
	"3 no such entry.\n";

static int run(int argc, char **argv);
const struct heads_command cmd_kexec = {
	.name = "kexec",
	.summary = "load a boot entry with kexec (or --dry-run: show what would be loaded)",
	.usage = usage,
	.run = run,
};

static int run(int argc, char **argv)
{
	static const struct option opts[] = {
		CMD_BOOT_SOURCE_OPTIONS,
		{"entry", required_argument, NULL, 'n'},
		{"title", required_argument, NULL, 't'},
		{"default", no_argument, NULL, 'D'},
		{"line", required_argument, NULL, 'L'},
		{"saved", required_argument, NULL, 'S'},
		{"add", required_argument, NULL, 'a'},
		{"remove", required_argument, NULL, 'r'},
		{"board-add", required_argument, NULL, 'B'},
		{"initrd-fd", required_argument, NULL, 'i'},
		{"kexec", required_argument, NULL, 'X'},
		{"dry-run", no_argument, NULL, 'd'},
		{"exec", no_argument, NULL, 'x'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	struct cmd_boot_source src = {.boot = "/boot"};
	const char *title = NULL, *line = NULL, *saved = NULL;
	struct integrity_report rep = {0};
	_cleanup_view_ struct boot_view *view = NULL;
	_cleanup_close_ int initrd_fd = -1;
	unsigned long long idx = 0;
	bool dry = false, exec = false, def = false;
	int selectors = 0, c, r, ret = HEADS_EXIT_OK;
	struct kexec_opts o;
	struct boot_entries l = {.default_index = -1};
	struct boot_entry one = {0};
	const struct boot_entry *e = NULL;
	struct kexec_plan plan = {.initrd_fd = -1, .kernel = {.fd = -1}};

	kexec_opts_init(&o);
	optind = 1;
	while ((c = getopt_long(argc, argv, "b:c:h", opts, NULL)) != -1) {
		if (cmd_boot_source_opt(&src, c, optarg))
			continue;
		switch (c) {
		case 'n':
			if (parse_uint(optarg, 100000, &idx) < 0 || idx == 0)
				return cmd_usage_error("kexec", "--entry takes a number from 1");
			selectors++;
			break;
		case 't': title = optarg; selectors++; break;
		case 'D': def = true; selectors++; break;
		case 'L': line = optarg; selectors++; break;
		case 'S': saved = optarg; selectors++; break;
		case 'a': o.add = optarg; break;
		case 'r': o.remove = optarg; break;
		case 'B': o.board_add = optarg; break;
		case 'i':
			if (cmd_parse_fd(optarg, &initrd_fd) < 0)
				return cmd_usage_error("kexec", "bad --initrd-fd");
			break;
		case 'X': o.kexec_tool = optarg; break;
		case 'd': dry = true; break;
		case 'x': exec = true; break;
		case 'h':
			fputs(usage, stdout);
			return HEADS_EXIT_OK;
		default:
			return cmd_usage_error("kexec", "bad option");
		}
	}
	if (optind != argc)
		return cmd_usage_error("kexec", "unexpected argument '%s'", argv[optind]);
	if (selectors != 1)
		return cmd_usage_error("kexec", "give exactly one of --entry, --title, --default, --line, --saved");
	if (dry && exec)
		return cmd_usage_error("kexec", "--dry-run and --exec exclude each other");

	if (src.keyring && saved && !streq(saved, src.boot))
		return cmd_usage_error("kexec", "with --keyring, --saved must be the --boot directory "
				       "(the signed kexec_default.N.txt is used)");
	r = cmd_boot_view("kexec", src.boot, src.keyring, &rep, &view);
	if (r < 0)
		return HEADS_EXIT_FAIL;
	if (!src.keyring)
		printf("UNVERIFIED: %s is not checked against a keyring (--keyring)\n", src.boot);
	if (line) {
		if (boot_entry_from_line(line, &one) < 0)
			return cmd_usage_error("kexec", "malformed entry line");
		e = &one;
	} else if (saved) {
		unsigned n1;
		r = src.keyring ? bootcfg_signed_default(rep.signed_set, &one, &n1)
			    : bootcfg_load_default(saved, &one, &n1);
		if (r < 0) {
			fprintf(stderr, "heads kexec: no saved default entry in %s: %s\n", saved, strerror(-r));
			ret = r == -ENOENT ? 3 : HEADS_EXIT_FAIL;
			goto out;
		}
		e = &one;
	} else {
		r = cmd_boot_entries("kexec", view, &src, BOOTCFG_AUTO, &l);
		if (r < 0) {
			ret = HEADS_EXIT_FAIL;
			goto out;
		}
		if (idx) {
			if (idx <= l.n)
				e = &l.v[idx - 1];
		} else if (def) {
			if (l.default_index >= 0)
				e = &l.v[l.default_index];
		} else {
			for (size_t i = 0; i < l.n && !e; i++)
				if (streq(l.v[i].title, title))
					e = &l.v[i];
		}
		if (!e) {
			fprintf(stderr, "heads kexec: no such boot entry\n");
			ret = 3;
			goto out;
		}
	}
	r = kexec_plan_build(view, e, &o, &plan);
	if (r < 0) {
		fprintf(stderr, "heads kexec: not loading '%s': a file of this entry %s\n",
			e->title ? e->title : "", src.keyring ? "does not verify (above)" : "cannot be read");
		ret = HEADS_EXIT_FAIL;
		goto out;
	}
	if (initrd_fd >= 0) {
		int fd = fcntl(initrd_fd, F_DUPFD_CLOEXEC, 3);
		if (fd < 0 || kexec_plan_set_initrd(&plan, fd) < 0) {
			if (fd >= 0)
				close(fd);
			fprintf(stderr, "heads kexec: --initrd-fd: this entry has no initrd to replace\n");
			ret = HEADS_EXIT_FAIL;
			goto out;
		}
	}
	if (dry) {
		kexec_plan_describe(&plan, o.kexec_tool, stdout);
		goto out;
	}
	{
		/* No TPM here: heads kexec neither extends PCR 4 nor finalizes. */
		struct handover h = {.plan = &plan, .kexec_tool = o.kexec_tool, .exec = exec};
		enum handover_step step;
		if (handover_boot(&h, &step) < 0)
			ret = HEADS_EXIT_FAIL; /* an exec returns only on failure */
	}
out:
	kexec_plan_free(&plan);
	boot_entry_free(&one);
	boot_entries_free(&l);
	integrity_report_free(&rep);
	return ret;
}
