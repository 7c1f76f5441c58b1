/* heads init - PID 1 of the payload (reference: heads-behaviour.md 1.2, 2.1, 1.8).
 *
 * 1. Mount /proc /sys /dev (devtmpfs) /dev/pts /tmp /tmp/secret (tmpfs, 0700)
 *    and securityfs; std fd links; PATH.
 * 2. Open the TPM (no TPM: warn, go on unmeasured, like CONFIG_TPM=n).
 * 3. Load the board's modules (/etc/modules, dependencies first) with
 *    finit_module(2); before each load extend PCR 5 with the arguments (if
 *    any) then the .ko file, as insmod.sh. Already loaded ones are skipped.
 * 4. PCR 7 (romcfg.h): /etc/config, then the ROM config area's files (a
 *    virtio disk with serial "heads-rom" on the QEMU board; extracted into
 *    /: the ROM keyring /.gnupg and etc/config.user), then the initramfs'
 *    /etc/config.user if the ROM has none; each file's name then its
 *    content (as cbfs-init.sh does for ROM files). Then read the configs.
 * 5. One key with a short timeout: `r` -> recovery shell.
 * 6. Start the menu (`heads menu`), again whenever it exits. init has no
 *    boot path of its own: every boot goes through the menu's verified one.
 * Recovery: flow_recovery() (flow/recovery.h: wipe /tmp/secret, extend PCR 4
 * "recovery", show PCRs 0-7, busybox sh on the console; when it exits, start
 * over) with the configuration read in 4., as `heads recovery` runs it.
 * As PID 1 this never returns.
 */
#include "cmd/cmd.h"
#include "board.h"
#include "bootcfg/bootcfg.h"
#include "config.h"
#include "flow/recovery.h"
#include "fs.h"
#include "kexec.h"
#include "log.h"
#include "modlist/modlist.h"
#include "romcfg.h"
#include "tpm/tpm.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

/* init starts the menu (respawned forever, as the reference's boot script)
 * and has no boot path of its own: every boot goes through the menu's
 * verified one. The recovery shell is flow_recovery() (wipe /tmp/secret,
 * PCR 4 "recovery", GPG challenge), as `heads recovery` runs it. */
extern const struct heads_command cmd_menu;

#define MODULES_FILE "/etc/modules"
#define PCR_MODULES 5
#define PCR_CONFIG 7

static const char usage[] =
	"Usage: heads init [--root DIR] [--check]\n"
	"\n"
	"PID 1 of the Heads payload (the kernel starts it as /init). Mounts /proc,\n"
	"/sys, /dev, /dev/pts, /tmp, /tmp/secret (tmpfs) and securityfs; loads the\n"
	"kernel modules listed in /etc/modules in order, extending PCR 5 with each\n"
	"module's arguments (if any) and then its .ko file before loading it;\n"
	"extends PCR 7 with /etc/config, the ROM config area's files (extracted into\n"
	"/: the ROM keyring /.gnupg, etc/config.user; see `heads rom --help`) and\n"
	"else /etc/config.user (the name, then the content); then starts the menu. Press `r` at start for the recovery shell\n"
	"(PCR 4 is extended with \"recovery\" first).\n"
	"\n"
	"  --check      do not mount, load or measure: parse the module list and the\n"
	"               configuration files and print what init would do\n"
	"  --root DIR   read etc/modules and etc/config* beneath DIR (with --check)\n"
	"\n"
	"Only PID 1 does the real thing; otherwise only --check is accepted.\n"
	"Exit status (--check): 0 ok, 2 a malformed file (FILE:LINE: reason).\n";

struct init_ctx {
	struct tpm *tpm; /* NULL: no TPM, nothing measured */
	struct config cfg;
	int tty;         /* the console, for prompts */
};

/* --- early mounts ------------------------------------------------------- */

static void mount_one(const char *src, const char *dir, const char *type,
		      unsigned long flags, const char *data)
{
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		log_warn("mkdir %s: %s", dir, strerror(errno));
	if (mount(src, dir, type, flags, data) < 0 && errno != EBUSY)
		log_warn("mount %s on %s: %s", type, dir, strerror(errno));
}

static void early_mounts(void)
{
	const unsigned long nosuid = MS_NOSUID | MS_NODEV | MS_NOEXEC;

	mount_one("proc", "/proc", "proc", nosuid, NULL);
	mount_one("sysfs", "/sys", "sysfs", nosuid, NULL);
	mount_one("devtmpfs", "/dev", "devtmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755");
	mount_one("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
		  "gid=5,mode=620,ptmxmode=000");
	mount_one("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	mount_one("tmpfs", "/tmp/secret", "tmpfs", nosuid, "mode=0700");
	mount_one("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
	mount_one("securityfs", "/sys/kernel/security", "securityfs", nosuid, NULL);
	static const char *const links[][2] = {
		{"/proc/self/fd", "/dev/fd"},
		{"/proc/self/fd/0", "/dev/stdin"},
		{"/proc/self/fd/1", "/dev/stdout"},
		{"/proc/self/fd/2", "/dev/stderr"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(links); i++)
		if (symlink(links[i][0], links[i][1]) < 0 && errno != EEXIST)
			log_warn("symlink %s: %s", links[i][1], strerror(errno));
	setenv("PATH", "/sbin:/bin:/usr/sbin:/usr/bin", 1);
	setenv("HOME", "/root", 1);
	setenv("TERM", "linux", 0);
}

/* The real tty behind /dev/console (last name in console/active), so the
 * recovery shell can have it as its controlling terminal (cttyhack). */
static int open_console(void)
{
	_cleanup_free_ char *active = NULL;
	size_t len;
	char *last;
	int fd;

	if (fs_read_file("/sys/class/tty/console/active", 4096, &active, &len) == 0) {
		while (len > 0 && (active[len - 1] == '\n' || active[len - 1] == ' '))
			active[--len] = '\0';
		last = strrchr(active, ' ');
		last = last ? last + 1 : active;
		if (*last && !strchr(last, '/')) {
			_cleanup_free_ char *p = xasprintf("/dev/%s", last);
			fd = open(p, O_RDWR | O_NOCTTY | O_CLOEXEC);
			if (fd >= 0)
				return fd;
		}
	}
	return open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);
}

/* --- measurement -------------------------------------------------------- */

static int measure_string(struct init_ctx *c, unsigned pcr, const char *s)
{
	return c->tpm ? tpm_extend_string(c->tpm, pcr, s) : 0;
}

static int measure_file(struct init_ctx *c, unsigned pcr, const char *path)
{
	return c->tpm ? tpm_extend_file(c->tpm, pcr, path) : 0;
}

static void load_modules(struct init_ctx *c, const char *path, bool check)
{
	struct modlist m = {0};
	_cleanup_free_ char *err = NULL;
	int r = modlist_load(path, &m, &err);

	if (r == -ENOENT) {
		log_info("%s: no module list, nothing to load", path);
		return;
	}
	if (r < 0) {
		if (err)
			log_error("%s", err);
		else
			log_error_errno(r, "%s", path);
		return;
	}
	for (size_t i = 0; i < m.n; i++) {
		const struct modlist_entry *e = &m.v[i];
		if (check) {
			printf("module %s%s%s\n", e->path, *e->args ? " " : "", e->args);
			continue;
		}
		if (modlist_is_loaded(e->name)) {
			log_debug("module %s already loaded", e->name);
			continue;
		}
		/* Measure before loading (insmod.sh order); a module we could
		 * not measure is not loaded: fail closed. */
		if ((*e->args && measure_string(c, PCR_MODULES, e->args) < 0) ||
		    measure_file(c, PCR_MODULES, e->path) < 0) {
			log_error("%s: not loaded: measuring it into PCR %d failed", e->path,
				  PCR_MODULES);
			continue;
		}
		r = modlist_insmod(e->path, e->args);
		if (r < 0 && r != -EEXIST)
			log_error_errno(r, "%s:%u: loading %s", path, e->line, e->path);
		else
			log_debug("loaded %s", e->name);
	}
	log_info("modules: %zu in %s", m.n, path);
	modlist_free(&m);
}

/* PCR 7 (romcfg.h): the board config, the ROM config area's files (also
 * extracted into / here: the ROM keyring /.gnupg and /etc/config.user), then
 * the initramfs' config.user when the ROM has none. The value before is
 * saved so a flow that rewrites the ROM can predict the next boot's PCR 7.
 * Everything is measured before it is parsed: what was read is on record
 * even if it is refused. */
static void measure_configs(struct init_ctx *c, const char *board, const char *user)
{
	struct romcfg rom = {.slot = -1};
	_cleanup_free_ char *dev = NULL;
	uint8_t base[32];
	size_t len = sizeof(base);
	int r;

	if (c->tpm && tpm_pcr_read(c->tpm, tpm_bank(c->tpm), PCR_CONFIG, base, &len) == 0 &&
	    len == tpm_bank_len(tpm_bank(c->tpm)))
		romcfg_save_base(ROMCFG_PCR7_BASE, tpm_bank(c->tpm), base);
	r = romcfg_find(NULL, NULL, &dev);
	if (r == -ENOENT) {
		usleep(200 * 1000); /* a virtio disk still probing */
		r = romcfg_find(NULL, NULL, &dev);
	}
	if (r == 0 && romcfg_read(dev, &rom) == 0) {
		printf("heads init: ROM config area %s: %zu files\n", dev, rom.n);
		if (romcfg_extract(&rom, "/") < 0)
			log_error("%s: extracting the ROM config files failed", dev);
	} else if (r == 0) {
		log_error("%s: the ROM config area is unreadable: booting without the "
			  "ROM keyring and config.user", dev);
	} else {
		log_info("no ROM config area (no disk with serial %s)", ROMCFG_SERIAL);
	}
	if (c->tpm)
		(void)board_measure_config(c->tpm, &rom, board, user);
	romcfg_free(&rom);
}

static int read_configs(struct init_ctx *c, const char *board, const char *user, bool check)
{
	const char *files[] = {board, user};
	uint32_t loaded = 0;
	int r;

	if (!check)
		measure_configs(c, board, user);
	r = board_config_load_each(&c->cfg, files, ARRAY_SIZE(files), &loaded);
	for (size_t i = 0; check && i < ARRAY_SIZE(files); i++)
		if (loaded & (UINT32_C(1) << i))
			printf("config %s\n", files[i]);
	return r;
}

/* The menu's UI from the configuration (CONFIG_HEADS_UI="newt"|"line") when
 * the kernel command line set none (HEADS_UI): on coreboot the command line
 * is inside the ROM, so a serial console asks for line mode here. */
static void ui_from_config(struct init_ctx *c)
{
	const char *ui = config_get(&c->cfg, "CONFIG_HEADS_UI");
	if (!ui || !*ui || getenv("HEADS_UI"))
		return;
	if (!streq(ui, "newt") && !streq(ui, "line")) {
		log_warn("CONFIG_HEADS_UI=\"%s\": expected newt or line; ignored", ui);
		return;
	}
	setenv("HEADS_UI", ui, 1);
}

/* --- console ------------------------------------------------------------ */

/* One key within timeout_ms, without waiting for Enter; 0 if none. Keys
 * typed before init started are in the tty buffer already. */
static int read_key(int fd, int timeout_ms)
{
	struct termios old, raw;
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char ch = 0;
	bool restore = tcgetattr(fd, &old) == 0;

	if (restore) {
		raw = old;
		raw.c_lflag &= ~(ICANON | ECHO);
		raw.c_cc[VMIN] = 1;
		raw.c_cc[VTIME] = 0;
		tcsetattr(fd, TCSANOW, &raw);
	}
	if (poll(&p, 1, timeout_ms) > 0 && read(fd, &ch, 1) != 1)
		ch = 0;
	if (restore)
		tcsetattr(fd, TCSANOW, &old);
	return (unsigned char)ch;
}

static void reap(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

/* Wait for the child pid; its status. */
static int wait_child(pid_t pid)
{
	int status;

	if (pid < 0)
		return log_error_errno(-errno, "fork");
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Run cmd (a linked-in command) in a child with argv; its status. */
static int run_child_command(const struct heads_command *cmd, char **argv)
{
	int argc = 0;
	pid_t pid;

	while (argv[argc])
		argc++;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		signal(SIGINT, SIG_DFL);
		_exit(cmd->run(argc, argv));
	}
	return wait_child(pid);
}

/* The board's smart-card reader daemon (CONFIG_CARD_PCSCD: its path; the
 * QEMU board's usb-ccid reader is T=0 only, which scdaemon's own CCID
 * driver refuses, so scdaemon reaches it through pcscd + libccid; a real
 * dongle needs none of this). pcscd daemonizes: its parent returns once it
 * runs. Started last before the menu, when the USB reader has enumerated
 * (pcscd sees later readers only through udev, which the payload lacks). */
static void start_pcscd(struct init_ctx *c)
{
	const char *path = config_get(&c->cfg, "CONFIG_CARD_PCSCD");
	char *argv[] = {"pcscd", NULL};
	pid_t pid;
	int r;

	if (!path || !*path)
		return;
	if (access(path, X_OK) < 0) {
		log_warn("CONFIG_CARD_PCSCD=%s: not in this payload; no smart-card reader", path);
		return;
	}
	if (mkdir("/run/pcscd", 0755) < 0 && errno != EEXIST)
		log_warn("/run/pcscd: %s", strerror(errno));
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		execv(path, argv);
		_exit(127);
	}
	r = wait_child(pid);
	if (r != 0)
		log_warn("%s exited with status %d: no smart-card reader", path, r);
}

/* Shutdown(CLEAR) first: a TPM restart without it after a DA-protected
 * authorization counts as a dictionary-attack failure (tpm.h). */
static void poweroff_or_reboot(struct init_ctx *c, int how)
{
	if (!c->tpm && tpm_open(NULL, &c->tpm) < 0)
		c->tpm = NULL;
	if (c->tpm)
		(void)tpm_shutdown(c->tpm);
	sync();
	reboot(how);
	log_error_errno(-errno, "reboot");
}

static void mount_boot(struct init_ctx *c)
{
	static const char *types[] = {"ext4", "vfat", "iso9660"};
	const char *dev = config_get(&c->cfg, "CONFIG_BOOT_DEV");
	struct stat st;

	if (!dev || !*dev) {
		log_warn("CONFIG_BOOT_DEV is not set: /boot is not mounted");
		return;
	}
	if (stat("/boot/.", &st) == 0 && access("/proc/self/mountinfo", R_OK) == 0) {
		_cleanup_free_ char *mi = NULL;
		size_t len;
		if (fs_read_file("/proc/self/mountinfo", 1 << 20, &mi, &len) == 0 &&
		    strstr(mi, " /boot "))
			return; /* already mounted */
	}
	mkdir("/boot", 0755);
	for (size_t i = 0; i < ARRAY_SIZE(types); i++)
		if (mount(dev, "/boot", types[i], MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) == 0) {
			log_info("/boot: %s (%s, read-only)", dev, types[i]);
			return;
		}
	log_error("/boot: cannot mount %s (ext4, vfat, iso9660): %s", dev, strerror(errno));
}

/* flow_recovery() with the configuration init read (no argv, no reload),
 * in a child so that nothing it does can end PID 1: it loops (wipe, PCR 4
 * "recovery", shell) until it cannot give a shell; then we are back here. */
static void recovery(struct init_ctx *c, const char *why)
{
	struct session ss = {.cfg = &c->cfg, .keyring = RECOVERY_DEFAULT_KEYRING,
			     .secret_dir = RECOVERY_DEFAULT_SECRET_DIR};
	struct recovery_options ro = {.message = why, .shell = RECOVERY_DEFAULT_SHELL};
	pid_t pid;
	int r;

	/* The flow opens its own TPM: a TPM 1.2's /dev/tpm0 opens once only
	 * (no resource manager), so ours is closed first. */
	tpm_close(c->tpm);
	c->tpm = NULL;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		signal(SIGINT, SIG_DFL);
		_exit(flow_recovery(&ss, &ro));
	}
	r = wait_child(pid);
	if (r == RECOVERY_EXIT_RESTRICTED) { /* no shell: reboot */
		sleep(5);
		poweroff_or_reboot(c, RB_AUTOBOOT);
	}
	log_warn("recovery shell ended (status %d)", r);
}

static int run_check(const char *root)
{
	struct init_ctx c = {.tty = -1};
	_cleanup_free_ char *mods = NULL, *board = NULL, *user = NULL;
	struct modlist m = {0};
	_cleanup_free_ char *err = NULL;
	int r;

	if (fs_path_join(root, MODULES_FILE, &mods) < 0 ||
	    fs_path_join(root, BOARD_CONFIG, &board) < 0 ||
	    fs_path_join(root, BOARD_USER_CONFIG, &user) < 0)
		return cmd_usage_error("init", "bad --root '%s'", root);
	config_init(&c.cfg);
	r = modlist_load(mods, &m, &err);
	if (r < 0 && r != -ENOENT) {
		fprintf(stderr, "heads init: %s\n", err ? err : strerror(-r));
		config_free(&c.cfg);
		return HEADS_EXIT_USAGE;
	}
	modlist_free(&m);
	load_modules(&c, mods, true);
	r = read_configs(&c, board, user, true);
	config_free(&c.cfg);
	return r < 0 ? HEADS_EXIT_USAGE : HEADS_EXIT_OK;
}

static int run(int argc, char **argv)
{
	static const struct option opts[] = {
		{"check", no_argument, NULL, 'c'},
		{"root", required_argument, NULL, 'R'},
		{},
	};
	struct init_ctx c = {.tty = -1};
	const char *root = "/";
	bool check = false;
	int o, r, key;

	/* As PID 1 the arguments are whatever the kernel passed on: ignore them
	 * (an exit here would panic the kernel). */
	optind = 1;
	while (getpid() != 1 && (o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			check = true;
			break;
		case 'R':
			root = optarg;
			break;
		default:
			return cmd_usage_error("init", "bad option");
		}
	}
	if (check)
		return run_check(root);
	if (getpid() != 1)
		return cmd_usage_error("init", "not PID 1: only --check can run here");

	umask(022);
	early_mounts();
	c.tty = open_console();
	/* The real tty as stdio: the menu (newt) and the shell need one. */
	if (c.tty >= 0)
		for (int fd = 0; fd <= 2; fd++)
			dup2(c.tty, fd);
	setvbuf(stdout, NULL, _IOLBF, 0);
	log_open_session("/tmp/debug.log");
	log_open_trace("/tmp/measuring_trace.log");
	printf("heads init: Heads %s starting\n", HEADS_VERSION);
	config_init(&c.cfg);

	r = tpm_open(NULL, &c.tpm);
	if (r < 0) {
		log_warn("No TPM (%s): nothing will be measured", strerror(-r));
		c.tpm = NULL;
	}
	load_modules(&c, MODULES_FILE, false);
	read_configs(&c, BOARD_CONFIG, BOARD_USER_CONFIG, false);
	ui_from_config(&c);
	printf("heads init: measured boot done (PCR 5 modules, PCR 7 configuration)\n");

	/* Reference: one key, 0.1 s. A key typed during the kernel's boot is
	 * already buffered. */
	key = read_key(c.tty, 100);
	if (key == 'r')
		recovery(&c, "Recovery shell: 'r' pressed at start");

	/* Reference init: the boot script is respawned forever. */
	char *margv[] = {"menu", NULL};
	mount_boot(&c);
	if (c.tpm)
		tpm_close(c.tpm); /* the menu opens its own */
	c.tpm = NULL;
	start_pcscd(&c);
	for (;;) {
		r = run_child_command(&cmd_menu, margv);
		log_warn("menu exited (status %d); starting it again", r);
		reap();
		sleep(1);
	}
	return HEADS_EXIT_FAIL; /* not reached */
}

const struct heads_command cmd_init = {
	.name = "init",
	.summary = "PID 1: mount, load and measure modules and config, start the menu",
	.usage = usage,
	.run = run,
};
