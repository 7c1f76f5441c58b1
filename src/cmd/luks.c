/* heads luks list|check-drk|add-duk|change-passphrase|reencrypt|measure -
 * LUKS key management across several containers (issue 7,
 * heads-behaviour.md section 5). */
#include "cmd/cmd.h"
#include "flow/luks_ops.h"
#include "fs.h"
#include "log.h"
#include "luks/luks.h"
#include "luks/select.h"
#include "secret.h"
#include "tpm/tpm.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>

#define PASS_MAX 4096
#define DRK_MIN_LEN 8

static const char usage[] =
	"Usage: heads luks list [--all] [DEVICE...]\n"
	"       heads luks check-drk [--drk-fd FD] [SELECTION]\n"
	"       heads luks add-duk [--drk-fd FD] --duk-file F [--prev-duk-slot N] [--yes]\n"
	"                          [SELECTION]\n"
	"       heads luks change-passphrase [--drk-fd FD] [--new-fd FD] [SELECTION]\n"
	"       heads luks reencrypt [--drk-fd FD] [--fast] [--tmpdir D] [SELECTION]\n"
	"       heads luks measure [--output F] [--tmpdir D] [--extend] [--tcti T] [SELECTION]\n"
	"\n"
	"SELECTION is DEVICE... (block devices or image files), or --devices-file F\n"
	"(kexec_key_devices.txt: \"DEVICE [UUID]\" lines); without either, every LUKS\n"
	"container found on non-removable disks (partitions, whole disks, NVMe, LVM).\n"
	"\n"
	"list               device, UUID, version, used key slots, parent disk;\n"
	"                   --all includes USB/removable disks. A container in the\n"
	"                   middle of a reencryption is flagged \"reencryption=...\";\n"
	"                   a LUKS1 container converted to LUKS2 for one that has not\n"
	"                   finished \"LUKS1-PENDING\" (run reencrypt to finish it).\n"
	"check-drk          test the Disk Recovery Key (DRK) on each container without\n"
	"                   activating: \"DEVICE: ok slot N\" or \"DEVICE: fails\".\n"
	"add-duk            add the 128-byte Disk Unlock Key (file on tmpfs) to every\n"
	"                   container in slot 7 (LUKS1) / 31 (LUKS2), or the highest free\n"
	"                   slot if the DRK is there. Slot 1 and the previous DUK slot are\n"
	"                   wiped; other used slots (never the DRK's) only if you confirm\n"
	"                   on the terminal, or with --yes. All containers must share\n"
	"                   one LUKS version. Prints \"DEVICE: duk slot N drk slot M\".\n"
	"change-passphrase  crash-safe DRK change: add the new passphrase (same PBKDF\n"
	"                   parameters), verify it, remove the old one. Run it again\n"
	"                   after an interruption: it completes every container.\n"
	"reencrypt          offline reencryption with a new volume key, crash-safe\n"
	"                   (checksum resilience); an interrupted run is resumed. Only\n"
	"                   the DRK is kept: the DUK must be added and sealed again.\n"
	"                   --fast: no resilience (a crash destroys data). Ctrl-C or\n"
	"                   SIGTERM stops at the next hotzone (\"DEVICE: interrupted\").\n"
	"                   LUKS1: converted to LUKS2 (header backup in --tmpdir,\n"
	"                   default /tmp, a tmpfs), reencrypted the same way, then\n"
	"                   rebuilt as LUKS1 (same UUID, DRK slot and PBKDF2); needs\n"
	"                   two free key slots (one with --fast). An interrupted run\n"
	"                   is finished by the next one; a header torn by a crash\n"
	"                   inside a conversion is restored from its backup (in RAM:\n"
	"                   keep a `cryptsetup luksHeaderBackup` elsewhere against a\n"
	"                   power loss there). A run killed at libcryptsetup's very\n"
	"                   end (not resumable) gets its header rebuilt from the new\n"
	"                   key, with the same backup.\n"
	"                   --hotzone-mib N: checksum hotzone size (default 64).\n"
	"measure            header backup of each container, ordered by UUID; writes the\n"
	"                   sha256sum listing to --output (default /tmp/luksDump.txt)\n"
	"                   and stdout; --extend extends PCR 6 with it.\n"
	"\n"
	"Passphrases come from --drk-fd/--new-fd (one line each) or a no-echo prompt.\n"
	"--unlock-ram-mib N: RAM of the machine that unlocks (Argon2 guard; default\n"
	"this machine's); an Argon2 key slot may use at most half of it.\n"
	"\n"
	"Exit status: 0 every container succeeded; 1 at least one failed (see the\n"
	"per-device lines); 2 usage error or an unusable selection (mixed LUKS\n"
	"versions, unreadable devices file).\n";

struct opts {
	int drk_fd, new_fd;
	const char *duk_file, *devices_file, *output, *tmpdir, *tcti;
	int prev_duk_slot;
	bool yes, fast, all, extend;
	bool recover; /* reencrypt: a device with a LUKS1 conversion backup is not probed */
	uint64_t unlock_ram_kib;
	unsigned hotzone_mib;
};

enum {
	OPT_DRK_FD = 0x100,
	OPT_NEW_FD,
	OPT_DUK_FILE,
	OPT_DEVICES_FILE,
	OPT_PREV_DUK,
	OPT_YES,
	OPT_FAST,
	OPT_ALL,
	OPT_OUTPUT,
	OPT_TMPDIR,
	OPT_EXTEND,
	OPT_TCTI,
	OPT_RAM,
	OPT_HOTZONE,
};

static int parse_opts(int argc, char **argv, struct opts *o, int *ret_optind)
{
	static const struct option lo[] = {
		{"drk-fd", required_argument, NULL, OPT_DRK_FD},
		{"new-fd", required_argument, NULL, OPT_NEW_FD},
		{"duk-file", required_argument, NULL, OPT_DUK_FILE},
		{"devices-file", required_argument, NULL, OPT_DEVICES_FILE},
		{"prev-duk-slot", required_argument, NULL, OPT_PREV_DUK},
		{"yes", no_argument, NULL, OPT_YES},
		{"fast", no_argument, NULL, OPT_FAST},
		{"all", no_argument, NULL, OPT_ALL},
		{"output", required_argument, NULL, OPT_OUTPUT},
		{"tmpdir", required_argument, NULL, OPT_TMPDIR},
		{"extend", no_argument, NULL, OPT_EXTEND},
		{"tcti", required_argument, NULL, OPT_TCTI},
		{"unlock-ram-mib", required_argument, NULL, OPT_RAM},
		{"hotzone-mib", required_argument, NULL, OPT_HOTZONE},
		{},
	};
	unsigned long long v;
	int c;

	*o = (struct opts){.drk_fd = -1, .new_fd = -1, .prev_duk_slot = -1};
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case OPT_DRK_FD:
			if (cmd_parse_fd(optarg, &o->drk_fd) < 0)
				return cmd_usage_error("luks", "--drk-fd: not an open fd: %s", optarg);
			break;
		case OPT_NEW_FD:
			if (cmd_parse_fd(optarg, &o->new_fd) < 0)
				return cmd_usage_error("luks", "--new-fd: not an open fd: %s", optarg);
			break;
		case OPT_DUK_FILE:
			o->duk_file = optarg;
			break;
		case OPT_DEVICES_FILE:
			o->devices_file = optarg;
			break;
		case OPT_PREV_DUK:
			if (parse_uint(optarg, LUKS_MAX_SLOTS - 1, &v) < 0)
				return cmd_usage_error("luks", "--prev-duk-slot: 0..31: %s", optarg);
			o->prev_duk_slot = (int)v;
			break;
		case OPT_YES:
			o->yes = true;
			break;
		case OPT_FAST:
			o->fast = true;
			break;
		case OPT_ALL:
			o->all = true;
			break;
		case OPT_OUTPUT:
			o->output = optarg;
			break;
		case OPT_TMPDIR:
			o->tmpdir = optarg;
			break;
		case OPT_EXTEND:
			o->extend = true;
			break;
		case OPT_TCTI:
			o->tcti = optarg;
			break;
		case OPT_RAM:
			if (parse_uint(optarg, UINT64_MAX / 1024, &v) < 0 || v == 0)
				return cmd_usage_error("luks", "--unlock-ram-mib: a positive number");
			o->unlock_ram_kib = v * 1024;
			break;
		case OPT_HOTZONE:
			if (parse_uint(optarg, 1024, &v) < 0 || v == 0)
				return cmd_usage_error("luks", "--hotzone-mib: 1..1024");
			o->hotzone_mib = (unsigned)v;
			break;
		default:
			return cmd_usage_error("luks", "%s: unknown option or missing argument",
					       argv[optind - 1]);
		}
	}
	*ret_optind = optind;
	return 0;
}

/* reencrypt: a container whose LUKS1 conversion was interrupted may have
 * a torn header that luks_reencrypt() restores from its backup. */
static bool unprobed(const char *path, struct luks_device *d, void *userdata)
{
	const struct opts *o = userdata;
	if (!o->recover || !luks1_backup_exists(path, o->tmpdir))
		return false;
	*d = (struct luks_device){.path = xstrdup(path), .uuid = xstrdup("")};
	return true;
}

/* The containers to work on: DEVICE arguments, --devices-file, or
 * discovery. Returns 0 or an exit status. */
/* The containers a command works on, freed on every return. */
struct devices {
	struct luks_device **v;
	size_t *n;
};

static void devices_free(struct devices *d)
{
	luks_devices_free(*d->v, *d->n);
}
#define _cleanup_devices_ __attribute__((cleanup(devices_free), unused))

static int select_devices(const struct opts *o, int argc, char **argv, int oi,
			  struct luks_device **ret, size_t *ret_n)
{
	struct luks_select s = {.devices_file = o->devices_file, .paths = argv + oi,
				.n_paths = (size_t)(argc - oi), .discover_removable = o->all,
				.unprobed = unprobed, .userdata = (void *)o};

	if (o->devices_file && oi < argc)
		return cmd_usage_error("luks", "give devices or --devices-file, not both");
	return cmd_select_containers("luks", &s, "no LUKS container selected or found", ret,
				     ret_n);
}

/* A passphrase from fd, or asked on the terminal (cmd_passphrase). */
static int get_pass(int fd, const char *prompt, struct secret **ret)
{
	int r = cmd_passphrase(fd, "LUKS", prompt, PASS_MAX, ret);
	if (r == -ENOTTY) {
		log_error("no terminal to ask for the passphrase: use an --xxx-fd option");
		return r;
	}
	if (r < 0)
		return log_error_errno(r, "cannot read the passphrase");
	return 0;
}

static bool ask_yes(void *userdata, const char *device, int slot)
{
	const struct opts *o = userdata;
	char buf[16] = "";
	bool yes;
	FILE *f;

	if (o->yes)
		return true;
	f = fopen("/dev/tty", "r+e");
	if (!f) {
		log_warn("%s: key slot %d is in use: not wiping it (no terminal; use --yes)",
			 device, slot);
		return false;
	}
	fprintf(f, "Wipe key slot %d on %s? [y/N] ", slot, device);
	fflush(f);
	yes = fgets(buf, sizeof(buf), f) && (buf[0] == 'y' || buf[0] == 'Y');
	fclose(f);
	return yes;
}

static void slots_string(uint32_t m, int max, char *out, size_t cap)
{
	size_t len = 0;
	out[0] = '\0';
	for (int s = 0; s < max; s++)
		if (m & (UINT32_C(1) << s)) {
			int w = snprintf(out + len, cap - len, "%s%d", len ? "," : "", s);
			if (w < 0 || (size_t)w >= cap - len)
				break;
			len += (size_t)w;
		}
	if (!len)
		snprintf(out, cap, "-");
}

static int do_list(int argc, char **argv)
{
	struct opts o;
	struct luks_device *v = NULL;
	size_t n = 0;
	_cleanup_devices_ struct devices devs = {&v, &n};
	int oi, r;

	if ((r = parse_opts(argc, argv, &o, &oi)))
		return r;
	if ((r = select_devices(&o, argc, argv, oi, &v, &n)))
		return r;
	for (size_t i = 0; i < n; i++) {
		char slots[128];
		slots_string(v[i].used_slots, v[i].max_slots, slots, sizeof(slots));
		printf("%s\t%s\tLUKS%d\tslots=%s\tparent=%s%s%s%s\n", v[i].path, v[i].uuid,
		       v[i].version, slots, v[i].parent ? v[i].parent : "-",
		       v[i].removable ? "\tremovable" : "",
		       v[i].reencrypt == 1 ? "\treencryption=interrupted" :
		       v[i].reencrypt == 2 ? "\treencryption=crashed" : "",
		       v[i].luks1_pending ? "\tLUKS1-PENDING (LUKS1 converted for an unfinished "
					    "reencryption: run heads luks reencrypt)" : "");
	}
	return HEADS_EXIT_OK;
}

static int do_check_drk(int argc, char **argv)
{
	struct opts o;
	struct luks_device *v = NULL;
	size_t n = 0;
	_cleanup_devices_ struct devices devs = {&v, &n};
	_cleanup_secret_ struct secret *drk = NULL;
	int oi, r, fails = 0;

	if ((r = parse_opts(argc, argv, &o, &oi)))
		return r;
	if ((r = select_devices(&o, argc, argv, oi, &v, &n)))
		return r;
	if (get_pass(o.drk_fd, "Disk Recovery Key passphrase", &drk) < 0)
		return HEADS_EXIT_FAIL;
	for (size_t i = 0; i < n; i++) {
		r = luks_test_passphrase(v[i].path, drk, -1);
		if (r >= 0)
			printf("%s: ok slot %d\n", v[i].path, r);
		else {
			printf("%s: fails\n", v[i].path);
			fails++;
		}
		fflush(stdout);
	}
	return fails ? HEADS_EXIT_FAIL : HEADS_EXIT_OK;
}

static struct luks_opts lib_opts(struct opts *o)
{
	return (struct luks_opts){
		.unlock_ram_kib = o->unlock_ram_kib,
		.confirm_wipe = ask_yes,
		.userdata = o,
		.resilience = o->fast ? "none" : "checksum",
		.hotzone_mib = o->hotzone_mib,
		.backup_dir = o->tmpdir,
	};
}

static int do_add_duk(int argc, char **argv)
{
	struct opts o;
	struct luks_device *v = NULL;
	size_t n = 0;
	_cleanup_devices_ struct devices devs = {&v, &n};
	_cleanup_secret_ struct secret *drk = NULL, *duk = NULL;
	_cleanup_close_ int fd = -1;
	int oi, r, fails = 0;

	if ((r = parse_opts(argc, argv, &o, &oi)))
		return r;
	if (!o.duk_file)
		return cmd_usage_error("luks", "add-duk needs --duk-file");
	if ((r = select_devices(&o, argc, argv, oi, &v, &n)))
		return r;
	if (luks_same_version(v, n) < 0)
		return HEADS_EXIT_USAGE;
	fd = open(o.duk_file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	r = fd < 0 ? -errno : secret_read_fd(fd, LUKS_DUK_LEN + 1, &duk);
	if (r < 0 || duk->len != LUKS_DUK_LEN) {
		if (r < 0)
			log_error_errno(r, "%s: cannot read the Disk Unlock Key", o.duk_file);
		else
			log_error("%s: the Disk Unlock Key must be %d bytes", o.duk_file,
				  LUKS_DUK_LEN);
		return HEADS_EXIT_USAGE;
	}
	if (get_pass(o.drk_fd, "Disk Recovery Key passphrase", &drk) < 0)
		return HEADS_EXIT_FAIL;
	/* Validate the DRK on every container before changing any. */
	for (size_t i = 0; i < n; i++)
		if (luks_test_passphrase(v[i].path, drk, -1) < 0) {
			printf("%s: fails\n", v[i].path);
			fails++;
		}
	if (fails) {
		log_error("the Disk Recovery Key does not open %d container(s): nothing changed",
			  fails);
		return HEADS_EXIT_FAIL;
	}
	struct luks_opts lo = lib_opts(&o);
	for (size_t i = 0; i < n; i++) {
		struct luks_duk_result res;
		r = luks_add_duk(v[i].path, drk, duk, o.prev_duk_slot, &lo, &res);
		if (r < 0) {
			printf("%s: fails\n", v[i].path);
			fails++;
		} else {
			printf("%s: duk slot %d drk slot %d\n", v[i].path, res.duk_slot,
			       res.drk_slot);
		}
		fflush(stdout);
	}
	return fails ? HEADS_EXIT_FAIL : HEADS_EXIT_OK;
}

static int do_change(int argc, char **argv)
{
	struct opts o;
	struct luks_device *v = NULL;
	size_t n = 0;
	_cleanup_devices_ struct devices devs = {&v, &n};
	_cleanup_secret_ struct secret *drk = NULL, *newp = NULL, *again = NULL;
	int oi, r, fails = 0;

	if ((r = parse_opts(argc, argv, &o, &oi)))
		return r;
	if ((r = select_devices(&o, argc, argv, oi, &v, &n)))
		return r;
	if (get_pass(o.drk_fd, "Current Disk Recovery Key passphrase", &drk) < 0 ||
	    get_pass(o.new_fd, "New Disk Recovery Key passphrase", &newp) < 0)
		goto fail;
	if (o.new_fd < 0) {
		if (get_pass(-1, "New passphrase again", &again) < 0)
			goto fail;
		if (!secret_equal(newp, again)) {
			log_error("the new passphrases differ");
			goto fail;
		}
	}
	if (newp->len < DRK_MIN_LEN) {
		log_error("the new passphrase must be at least %d characters", DRK_MIN_LEN);
		return HEADS_EXIT_USAGE;
	}
	/* The flow the menu runs (flow/luks_ops.h): every container opens
	 * with the current (or, after an interrupted run, the new)
	 * passphrase before any is changed. */
	struct luks_opts lo = lib_opts(&o);
	struct flow_luks_result *res = xcalloc(n ? n : 1, sizeof(*res));
	size_t done = flow_luks_change_drk(v, n, drk, newp, &lo, NULL, NULL, res);
	for (size_t i = 0; i < n; i++) {
		if (res[i].r < 0) {
			printf("%s: fails\n", v[i].path);
			fails++;
		} else if (done) {
			printf("%s: %s slot %d\n", v[i].path,
			       res[i].state == LUKS_CHANGED ? "changed" :
			       res[i].state == LUKS_COMPLETED ? "completed" : "already changed",
			       res[i].slot);
		}
	}
	fflush(stdout);
	free(res);
	return fails || !done ? HEADS_EXIT_FAIL : HEADS_EXIT_OK;
fail:
	return HEADS_EXIT_FAIL;
}

static void show_progress(void *userdata, const char *device, uint64_t done, uint64_t total,
			  double rate, double eta)
{
	int *last = userdata;
	int pct = total ? (int)(done * 100 / total) : 100;
	bool tty = isatty(STDERR_FILENO);
	char bar[31];
	int fill = pct * 30 / 100;

	if (!tty && pct / 10 == *last / 10 && pct != 100)
		return;
	if (!tty && pct == *last)
		return;
	*last = pct;
	for (int i = 0; i < 30; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[30] = '\0';
	fprintf(stderr, "%s%s [%s] %3d%% %llu/%llu MiB %.1f MiB/s ETA %d:%02d%s", tty ? "\r" : "",
		device, bar, pct, (unsigned long long)(done >> 20),
		(unsigned long long)(total >> 20), rate / 1048576.0, (int)eta / 60,
		(int)eta % 60, tty && pct < 100 ? "" : "\n");
	fflush(stderr);
}

/* Before each container: its progress display starts again. */
static void progress_reset(void *userdata, size_t i)
{
	(void)i;
	*(int *)userdata = -1;
}

static int do_reencrypt(int argc, char **argv)
{
	struct opts o;
	struct luks_device *v = NULL;
	size_t n = 0;
	_cleanup_devices_ struct devices devs = {&v, &n};
	_cleanup_secret_ struct secret *drk = NULL;
	int oi, r, fails = 0, last = -1;

	if ((r = parse_opts(argc, argv, &o, &oi)))
		return r;
	o.recover = true;
	if ((r = select_devices(&o, argc, argv, oi, &v, &n)))
		return r;
	if (get_pass(o.drk_fd, "Disk Recovery Key passphrase", &drk) < 0)
		return HEADS_EXIT_FAIL;
	if (o.fast)
		log_warn("--fast: no resilience. DO NOT POWER DOWN: an interruption destroys "
			 "the data being reencrypted");
	else
		log_note("reencrypting with checksum resilience: an interruption is resumed by "
			 "running this again");
	/* The flow the menu runs (flow/luks_ops.h): Ctrl-C / SIGTERM stop at
	 * the next hotzone boundary (resumable). */
	struct luks_opts lo = lib_opts(&o);
	struct flow_luks_result *res = xcalloc(n ? n : 1, sizeof(*res));
	lo.progress = show_progress;
	lo.userdata = &last;
	flow_luks_reencrypt(v, n, drk, &lo, progress_reset, &last, res);
	for (size_t i = 0; i < n; i++) {
		if (res[i].r == -EINTR) {
			printf("%s: interrupted\n", v[i].path);
			fails++;
		} else if (res[i].r < 0) {
			printf("%s: fails\n", v[i].path);
			fails++;
		} else {
			printf("%s: reencrypted%s, drk slot %d\n", v[i].path,
			       res[i].resumed ? " (resumed)" : "", res[i].slot);
		}
	}
	fflush(stdout);
	free(res);
	return fails ? HEADS_EXIT_FAIL : HEADS_EXIT_OK;
}

static int do_measure(int argc, char **argv)
{
	struct opts o;
	struct luks_device *v = NULL;
	size_t n = 0;
	_cleanup_devices_ struct devices devs = {&v, &n};
	_cleanup_free_ char *listing = NULL;
	size_t len = 0;
	int oi, r;

	if ((r = parse_opts(argc, argv, &o, &oi)))
		return r;
	if ((r = select_devices(&o, argc, argv, oi, &v, &n)))
		return r;
	const char *out = o.output ? o.output : "/tmp/luksDump.txt";
	r = luks_header_listing(v, n, o.tmpdir ? o.tmpdir : "/tmp", &listing, &len);
	if (r < 0)
		return HEADS_EXIT_FAIL;
	r = fs_write_atomic(out, listing, len, 0600);
	if (r < 0) {
		log_error_errno(r, "%s: cannot write", out);
		return HEADS_EXIT_FAIL;
	}
	fputs(listing, stdout);
	fflush(stdout);
	if (o.extend) {
		_cleanup_tpm_ struct tpm *t = NULL;
		r = tpm_open(cmd_tcti(o.tcti), &t);
		if (r < 0)
			return HEADS_EXIT_FAIL;
		/* Reference: tpmr extend -ix 6 -if /tmp/luksDump.txt = H(file). */
		r = tpm_extend_buffer(t, 6, listing, len, out);
		if (r < 0)
			return HEADS_EXIT_FAIL;
	}
	return HEADS_EXIT_OK;
}

static const struct heads_subcommand subs[] = {
	{"list", "list LUKS containers", do_list},
	{"check-drk", "test the Disk Recovery Key on each container", do_check_drk},
	{"add-duk", "add the Disk Unlock Key to each container", do_add_duk},
	{"change-passphrase", "change the DRK passphrase crash-safely", do_change},
	{"reencrypt", "reencrypt with a new volume key (resumable)", do_reencrypt},
	{"measure", "header hashes (PCR 6)", do_measure},
	{},
};

static int run(int argc, char **argv);
const struct heads_command cmd_luks = {
	.name = "luks",
	.summary = "LUKS key management across several containers (DRK, DUK, reencrypt)",
	.usage = usage,
	.run = run,
};

static int run(int argc, char **argv)
{
	return cmd_run_sub(&cmd_luks, subs, argc, argv);
}
