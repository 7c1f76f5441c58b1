/* heads kexec - load (and start) a boot entry with kexec, or show what
 * would be loaded. */
#include "cmd/cmd.h"
#include "bootcfg/bootcfg.h"
#include "kexec.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char usage[] =
	"Usage: heads kexec [--boot DIR] [--config PATH] ENTRY [options] [--dry-run|--exec]\n"
	"\n"
	"ENTRY is one of:\n"
	"  --entry N        the N-th entry (1-based) of `heads entries` for DIR/PATH\n"
	"  --title TITLE    the entry with exactly this title (\"Submenu>Entry\")\n"
	"  --default        the entry the bootloader boots by itself\n"
	"  --line LINE      an entry in the Heads line format (kexec_default.N.txt)\n"
	"  --saved PARAMS   the entry saved in PARAMS/kexec_default.N.txt\n"
	"Options:\n"
	"  --boot DIR       boot directory (default /boot); every file must be in it\n"
	"  --add WORDS      add to the kernel command line (e.g. iso-scan/filename=...)\n"
	"  --remove WORDS   remove these whole words (CONFIG_BOOT_KERNEL_REMOVE)\n"
	"  --board-add WORDS  append if missing (CONFIG_BOOT_KERNEL_ADD)\n"
	"  --initrd-fd N    use the initrd open on fd N instead of the entry's initrd\n"
	"                   (for Xen: replaces the second module)\n"
	"  --kexec PATH     kexec-tools binary for Xen/multiboot (default /sbin/kexec)\n"
	"  --dry-run        print what would be loaded and load nothing:\n"
	"                     kind: linux|xen|multiboot\n"
	"                     kernel: PATH\n"
	"                     initrd: PATH            (one line per initrd, or fd:N)\n"
	"                     cmdline: FINAL COMMAND LINE\n"
	"                     module: PATH ARGS       (xen/multiboot, in order)\n"
	"                     method: kexec_file_load | kexec-tools\n"
	"                     exec: kexec -l ...      (xen/multiboot: the exact argv)\n"
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
		{"boot", required_argument, NULL, 'b'},
		{"config", required_argument, NULL, 'c'},
		{"entry", required_argument, NULL, 'n'},
		{"title", required_argument, NULL, 't'},
		{"default", no_argument, NULL, 'D'},
		{"line", required_argument, NULL, 'L'},
		{"saved", required_argument, NULL, 'S'},
		{"add", required_argument, NULL, 'a'},
		{"remove", required_argument, NULL, 'r'},
		{"board-add", required_argument, NULL, 'B'},
		{"initrd-fd", required_argument, NULL, 'i'},
		{"kexec", required_argument, NULL, 'k'},
		{"dry-run", no_argument, NULL, 'd'},
		{"exec", no_argument, NULL, 'x'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	const char *boot = "/boot", *config = NULL, *title = NULL, *line = NULL, *saved = NULL;
	unsigned long long idx = 0;
	bool dry = false, exec = false, def = false;
	int selectors = 0, c, r, ret = HEADS_EXIT_OK;
	struct kexec_opts o;
	struct boot_entries l = {.default_index = -1};
	struct boot_entry one = {0};
	const struct boot_entry *e = NULL;
	struct kexec_plan plan = {.initrd_fd = -1};

	kexec_opts_init(&o);
	optind = 1;
	while ((c = getopt_long(argc, argv, "b:c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'b': boot = optarg; break;
		case 'c': config = optarg; break;
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
			if (cmd_parse_fd(optarg, &o.initrd_fd) < 0)
				return cmd_usage_error("kexec", "bad --initrd-fd");
			break;
		case 'k': o.kexec_tool = optarg; break;
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

	if (line) {
		if (boot_entry_from_line(line, &one) < 0)
			return cmd_usage_error("kexec", "malformed entry line");
		e = &one;
	} else if (saved) {
		unsigned n1;
		r = bootcfg_load_default(saved, &one, &n1);
		if (r < 0) {
			fprintf(stderr, "heads kexec: no saved default entry in %s: %s\n", saved, strerror(-r));
			return r == -ENOENT ? 3 : HEADS_EXIT_FAIL;
		}
		e = &one;
	} else {
		r = config ? bootcfg_parse(boot, config, BOOTCFG_AUTO, &l) : bootcfg_scan(boot, &l);
		if (r < 0) {
			fprintf(stderr, "heads kexec: %s: %s\n", config ? config : boot, strerror(-r));
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
	r = kexec_plan_build(boot, e, &o, &plan);
	if (r < 0) {
		ret = HEADS_EXIT_FAIL;
		goto out;
	}
	if (dry) {
		kexec_plan_describe(&plan, o.kexec_tool, stdout);
		goto out;
	}
	r = kexec_plan_load(&plan, o.kexec_tool);
	if (r < 0) {
		ret = HEADS_EXIT_FAIL;
		goto out;
	}
	if (exec) {
		r = kexec_exec();
		ret = HEADS_EXIT_FAIL; /* only reached on failure */
	}
out:
	kexec_plan_free(&plan);
	boot_entry_free(&one);
	boot_entries_free(&l);
	return ret;
}
