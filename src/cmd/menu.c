/* heads menu - the Heads boot menu: start-up checks, main menu, options,
 * integrity report, forced unsafe boot, auto-boot, first-boot ownership.
 * Reference: heads-behaviour.md 1.3-1.10 (gui-init), 9 (menus), 7.4
 * (ownership), 10.2 (bugs not copied).
 *
 * This file is the screens (main, options, TPM, boot, GPG and configuration
 * menus, start-up order, argv); the flows they call live one per file in
 * src/flow/ (flow/menu.h lists them). A feature whose module does not exist
 * yet says "unavailable in this build" instead of pretending.
 *
 * Live vs. dry: the menu only powers off or kexecs for real when it runs in
 * the payload (PID 1 is this same binary, i.e. we were started by
 * `heads init`). Anywhere else (tests, a developer's machine) it describes
 * the kexec it would do on stdout, does the PCR extensions on the TPM it
 * was given, and exits. --no-act forces the dry behaviour.
 */
#include "cmd/cmd.h"
#include "flow/recovery.h"
#include "gpg/keyring.h"
#include "handover.h"
#include "board.h"
#include "flow/menu.h"
#include "boot/integrity.h"
#include "boot/rollback.h"
#include "boot/sig.h"
#include "bootcfg/bootcfg.h"
#include "codec.h"
#include "cpio.h"
#include "config.h"
#include "duk.h"
#include "fs.h"
#include "kexec.h"
#include "log.h"
#include "otp.h"
#include "qr.h"
#include "tpm/tpm.h"
#include "tpm_otp.h"
#include "ui/ui.h"
#include "util.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <getopt.h>
#include <gpgme.h>
#include <stdio.h>
#include <sys/reboot.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_BOOT "/boot"
#define DEFAULT_KEYRING "/.gnupg"
#define DEFAULT_SECRET_DIR "/tmp/secret"
#define DEFAULT_EVENTLOG "/sys/kernel/security/tpm0/binary_bios_measurements"
#define OWNER_PASS_MAX MENU_OWNER_PASS_MAX
#define GPG_PIN_MAX MENU_GPG_PIN_MAX

enum {
	EXIT_UI = 3, /* the UI could not go on (script ended, console closed) */
};

static const char usage[] =
	"Usage: heads menu [options]\n"
	"\n"
	"The Heads boot menu (gui-init): checks /boot, the rollback counter, the GPG\n"
	"keyring and the TOTP, then shows the main menu: default boot, refresh TOTP,\n"
	"options, system info, power off. A /boot with no signed metadata and an\n"
	"empty keyring is a clean boot: it offers to take ownership (TPM reset, GPG\n"
	"key with an optional encrypted backup (CONFIG_GPG_BACKUP_DIR suggests where),\n"
	"its public key into the ROM config area, default entry, sign /boot, TOTP\n"
	"with QR code sealed to the next boot, optional Disk Unlock Key; then a\n"
	"reboot when the ROM was written). Options also reencrypt the LUKS\n"
	"containers, change the Disk Recovery Key passphrase, set up / reseal the\n"
	"Disk Unlock Key, add or replace keys in the ROM keyring (GPG options) and\n"
	"save settings into the ROM (configuration menu).\n"
	"\n"
	"  --boot DIR            the /boot tree (default " DEFAULT_BOOT ")\n"
	"  --keyring DIR         GnuPG home with the trusted public keys (ROM keyring;\n"
	"                        default " DEFAULT_KEYRING ")\n"
	"  --gnupghome DIR       GnuPG home holding the signing key (default: keyring)\n"
	"  --config FILE         configuration layers (default " BOARD_CONFIG " then\n"
	"                        " BOARD_USER_CONFIG "); repeatable\n"
	"  --user-config FILE    where settings are saved (default " BOARD_USER_CONFIG ")\n"
	"  --tcti TCTI           TPM (default $HEADS_TCTI, else device:/dev/tpmrm0)\n"
	"  --secret-dir DIR      RAM-only secret area (default " DEFAULT_SECRET_DIR ")\n"
	"  --eventlog FILE       firmware event log for the PCR 4 prediction\n"
	"  --ui MODE             newt, line or script (default: $HEADS_UI, else newt on\n"
	"                        a terminal, else line)\n"
	"  --ui-script FILE      answers for the scripted UI ($HEADS_UI_SCRIPT);\n"
	"                        passphrases come from $HEADS_UI_SECRET_FD\n"
	"  --recovery-shell PATH shell for the recovery entry (default busybox sh)\n"
	"  --no-act              never kexec, power off or reboot: describe instead\n"
	"  --luks-devices FILE   LUKS containers for the LUKS options and the Disk\n"
	"                        Unlock Key (\"DEVICE [UUID]\" lines; an empty file: none)\n"
	"                        instead of /boot/kexec_key_devices.txt or discovery\n"
	"  --trace FILE          measurement trace for the Disk Unlock Key's PCR 5\n"
	"                        prediction (default /tmp/measuring_trace.log)\n"
	"  --modules FILE        the board's module list for it (default /etc/modules)\n"
	"  --rom FILE            the ROM config area (device or image) where ownership\n"
	"                        stores the public key (default: the board's, found by\n"
	"                        its serial \"heads-rom\"; none: the key is not kept)\n"
	"  --media DISK          a disk the Flash menu looks for ROM files on\n"
	"                        (repeatable; default: the removable disks)\n"
	"  --test-model SPEC     only in the test build heads-dongle-test: a HOTP\n"
	"                        dongle model instead of USB (refused by heads)\n"
	"  --usb-device DEV      USB boot scans DEV (repeatable) instead of the\n"
	"                        removable disks\n"
	"\n"
	"Exit status: 0 booted (dry: the kexec plan was printed), powered off or\n"
	"rebooted; 1 a failure that ends the menu; 2 usage; 3 the UI ended (script\n"
	"or input exhausted); entering the recovery shell exits with its status.\n";


/* --- small helpers (the shared ones: flow/menu_shared.c) ------------- */

/* Any kexec*.txt at the top of /boot (signed metadata). */
static bool boot_has_kexec_txt(const struct menu *m)
{
	DIR *d = opendir(m->bootdir);
	struct dirent *de;
	bool found = false;

	if (!d)
		return false;
	while (!found && (de = readdir(d)))
		found = fnmatch("kexec*.txt", de->d_name, 0) == 0;
	closedir(d);
	return found;
}

/* --- recovery, power --------------------------------------------------- */

/* FLOW_RECOVERY: the UI closed, then flow_recovery() with the menu's own
 * session (the configuration it runs with, nothing reloaded); the menu
 * exits with its status. */
static int run_recovery(struct menu *m)
{
	struct session ss = {.cfg = &m->cfg, .tcti = m->tcti, .keyring = m->keyring,
			     .gnupghome = m->gnupghome, .secret_dir = m->secret_dir,
			     .dry_run = !m->live};
	struct recovery_options ro = {.message = m->recovery_why, .shell = m->recovery_shell,
				      .rounds = m->live ? 0 : 1};

	ui_close(m->ui);
	m->ui = NULL;
	return flow_recovery(&ss, &ro);
}

static enum flow_outcome power_off(struct menu *m)
{
	return menu_power_off_how(m, RB_POWER_OFF);
}

/* --- screens ---------------------------------------------------------- */

/* A screen is a table: the key a person presses, the label, and the flow
 * it starts (NULL: back to the screen before). */
struct screen_item {
	const char *key;
	const char *label;
	enum flow_outcome (*handler)(struct menu *m);
};

#define SCREEN_MAX 16

/* Show the items, run the chosen one's handler and return its outcome. Esc
 * or a NULL handler: FLOW_BACK. */
static enum flow_outcome screen(struct menu *m, enum ui_bg bg, const char *title, const char *text,
		  const struct screen_item *items, size_t n, size_t dflt)
{
	struct ui_item v[SCREEN_MAX];
	int r;

	assert(n <= SCREEN_MAX);
	for (size_t i = 0; i < n; i++)
		v[i] = (struct ui_item){items[i].key, items[i].label};
	r = ui_menu(m->ui, bg, title, text, v, n, dflt);
	if (r < 0 || !items[r].handler)
		return menu_outcome(m, r);
	return items[r].handler(m);
}

/* --- other screens --------------------------------------------------- */

static enum flow_outcome system_info(struct menu *m)
{
	struct utsname u;
	struct sysinfo si;
	_cleanup_free_ char *cpu = NULL, *cpuinfo = NULL;
	size_t len;
	char *t;
	int r;

	uname(&u);
	if (fs_read_file("/proc/cpuinfo", 4 * 1024 * 1024, &cpuinfo, &len) == 0) {
		char *p = strstr(cpuinfo, "model name");
		if (p && (p = strchr(p, ':'))) {
			size_t n = strcspn(p + 2, "\n");
			cpu = xstrndup(p + 2, n);
		}
	}
	sysinfo(&si);
	t = xasprintf("Board: %s\nKernel: %s %s\nCPU: %s\nRAM: %llu MiB\n/boot: %s\n",
		      m->board && *m->board ? m->board : "(unknown)", u.sysname, u.release,
		      cpu ? cpu : "(unknown)",
		      (unsigned long long)si.totalram * si.mem_unit / (1024 * 1024), m->bootdir);
	r = ui_textbox(m->ui, UI_BG_NORMAL, "System Info", t);
	free(t);
	return menu_outcome(m, r);
}

static enum flow_outcome totp_time_help(struct menu *m)
{
	char date[64];
	menu_utc_now(date);
	_cleanup_free_ char *t = xasprintf(
		"The system time is %s.\n\nTOTP codes depend on the time: if it is "
		"wrong, the codes will not match your phone. If the time is right and "
		"the codes still differ, the firmware or its configuration changed.",
		date);
	return menu_outcome(m, ui_msgbox(m->ui, UI_BG_NORMAL, "Time", t));
}

static enum flow_outcome generate_totp_asked(struct menu *m)
{
	return menu_generate_totp(m, NULL);
}

/* The integrity report first: a reset is only for a machine whose /boot
 * the owner has looked at. */
static enum flow_outcome reset_tpm_reported(struct menu *m)
{
	enum flow_outcome o = menu_integrity_report_screen(m);
	if (o != FLOW_BACK && o != FLOW_DONE)
		return o;
	return menu_reset_tpm(m);
}

static enum flow_outcome tpm_options(struct menu *m)
{
	static const struct screen_item items[] = {
		{"g", "Generate new TOTP/HOTP secret", generate_totp_asked},
		{"r", "Reset the TPM", reset_tpm_reported},
		{"t", "TOTP/HOTP does not match after refresh, troubleshoot", totp_time_help},
		{"m", "Return to main menu", NULL},
	};
	return screen(m, UI_BG_NORMAL, "TPM/TOTP/HOTP Options", "", items, ARRAY_SIZE(items), 0);
}

static enum flow_outcome os_boot_menu(struct menu *m)
{
	enum flow_outcome o = menu_verified_or_report(m, false);
	return o != FLOW_DONE ? o : menu_boot_menu(m, false);
}

static enum flow_outcome boot_options(struct menu *m)
{
	static const struct screen_item items[] = {
		{"m", "Show OS boot menu", os_boot_menu},
		{"u", "USB boot", menu_usb_boot},
		{"i", "Ignore tampering and force a boot (Unsafe!)", menu_force_unsafe_boot},
		{"r", "Return to main menu", NULL},
	};
	return screen(m, UI_BG_NORMAL, "Boot Options", "Select a boot option:", items,
		      ARRAY_SIZE(items), 0);
}

/* Save one setting in the user config (RAM) and apply it now. */
int menu_set_setting(struct menu *m, const char *key, const char *value)
{
	_cleanup_free_ char *err = NULL;
	int r = config_set(m->user_config, key, value, &err);

	if (r == 0)
		r = config_load(&m->cfg, m->user_config, &err);
	if (r < 0) {
		_cleanup_free_ char *t = xasprintf("Saving %s failed: %s", key,
						   err ? err : strerror(-r));
		r = ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: configuration", t);
		return ui_gone(r) ? r : 0;
	}
	log_info("%s=\"%s\" saved in %s", key, value, m->user_config);
	return 0;
}

/* Reference config-gui (9), the settings this build uses: changes go to
 * the user config in RAM; "save" writes it into the ROM and reboots. */
static enum flow_outcome config_menu(struct menu *m)
{
	static const struct ui_item items[] = {
		{"b", "Change the /boot device"},
		{"M", "Configure automatic boot"},
		{"s", "Save the configuration to the ROM (reboots)"},
		{"x", "Return to the options menu"},
	};
	static const struct ui_item secs[] = {
		{"0", "Off"}, {"1", "1 second"}, {"5", "5 seconds"}, {"10", "10 seconds"},
	};
	for (;;) {
		const char *dev = config_get(&m->cfg, "CONFIG_BOOT_DEV");
		const char *ab = config_get(&m->cfg, "CONFIG_AUTO_BOOT_TIMEOUT");
		_cleanup_free_ char *text = xasprintf(
			"/boot device: %s\nAutomatic boot: %s%s\n\nChanges apply now and last "
			"until reboot unless saved to the ROM.", dev && *dev ? dev : "(not set)",
			ab && *ab && !streq(ab, "0") ? ab : "off", ab && *ab && !streq(ab, "0") ?
			" s (only after a successful HOTP check)" : "");
		_cleanup_free_ char *in = NULL;
		int r = ui_menu(m->ui, UI_BG_NORMAL, "Config Management Menu", text, items,
				ARRAY_SIZE(items), ARRAY_SIZE(items) - 1);

		if (ui_fatal(r))
			return menu_outcome(m, r);
		switch (r) {
		case 0:
			r = ui_input(m->ui, "/boot device", "Block device holding /boot", dev, &in);
			if (r == 0 && *in)
				r = menu_set_setting(m, "CONFIG_BOOT_DEV", in);
			break;
		case 1:
			r = ui_menu(m->ui, UI_BG_NORMAL, "Automatic boot",
				    "Boot the default entry after a countdown:", secs,
				    ARRAY_SIZE(secs), 0);
			if (r >= 0)
				r = menu_set_setting(m, "CONFIG_AUTO_BOOT_TIMEOUT", secs[r].key);
			break;
		case 2:
			r = menu_rom_store_config(m);
			if (r == 1)
				return menu_after_rom_write(m);
			break;
		default:
			return FLOW_BACK;
		}
		if (ui_gone(r))
			return FLOW_UI_GONE;
	}
}

/* Reference GPG Options (9): the ROM keyring; p and g (the dongle) in
 * flow/dongle.c. Flashing a standalone firmware image needs a flasher
 * this build does not drive. */
static enum flow_outcome gpg_rom_keys(struct menu *m, bool replace)
{
	int r = menu_gpg_rom_keys(m, replace);
	return r == 1 ? menu_after_rom_write(m) : menu_outcome(m, r);
}

static enum flow_outcome gpg_add_key(struct menu *m)
{
	return gpg_rom_keys(m, false);
}

static enum flow_outcome gpg_replace_keys(struct menu *m)
{
	return gpg_rom_keys(m, true);
}

static enum flow_outcome gpg_options(struct menu *m)
{
	static const struct screen_item items[] = {
		{"r", "Add a GPG key to the ROM keyring and write the ROM", gpg_add_key},
		{"e", "Replace the GPG key(s) in the ROM keyring and write the ROM",
		 gpg_replace_keys},
		{"l", "List the keys in the ROM keyring", menu_gpg_list_keys},
		{"p", "Export the public key(s) to a USB drive", menu_gpg_export_pubkey},
		{"g", "Generate GPG keys on the USB security dongle", menu_gpg_card_generate},
		{"x", "Exit", NULL},
	};
	return screen(m, UI_BG_NORMAL, "GPG Options", "Select a GPG option:", items,
		      ARRAY_SIZE(items), 2);
}

static enum flow_outcome integrity_report(struct menu *m)
{
	enum flow_outcome o = menu_integrity_report_screen(m);
	return o == FLOW_DONE ? FLOW_BACK : o;
}

/* Reference Flash/Update BIOS (9): flow/flash.c. */
static enum flow_outcome flash_bios(struct menu *m)
{
	static const struct screen_item items[] = {
		{"f", "Flash the firmware with a new ROM, retain settings", menu_flash_keep},
		{"c", "Flash the firmware with a new ROM, erase settings", menu_flash_reset},
		{"x", "Exit", NULL},
	};
	return screen(m, UI_BG_NORMAL, "Firmware Management Menu",
		      "Select the firmware function to perform:", items, ARRAY_SIZE(items), 0);
}

static enum flow_outcome re_ownership(struct menu *m)
{
	return menu_ownership(m, false);
}

static enum flow_outcome duk_setup_asked(struct menu *m)
{
	return menu_duk_setup(m, NULL, NULL, NULL, false);
}

static enum flow_outcome recovery_from_options(struct menu *m)
{
	return menu_go_recovery(m, "requested from the options menu");
}

static enum flow_outcome options_menu(struct menu *m)
{
	static const struct screen_item items[] = {
		{"b", "Boot Options -->", boot_options},
		{"t", "TPM/TOTP/HOTP Options -->", tpm_options},
		{"i", "Investigate integrity discrepancies", integrity_report},
		{"u", "Update checksums and sign all files in /boot", menu_update_checksums},
		{"c", "Change configuration settings -->", config_menu},
		{"f", "Flash/Update the BIOS -->", flash_bios},
		{"g", "GPG Options -->", gpg_options},
		{"F", "OEM Factory Reset / Re-Ownership -->", re_ownership},
		{"C", "Reencrypt LUKS container -->", menu_luks_reencrypt},
		{"P", "Change LUKS Disk Recovery Key passphrase ->", menu_luks_change_drk},
		{"k", "Set up / reseal the LUKS TPM Disk Unlock Key -->", duk_setup_asked},
		{"x", "Exit to recovery shell", recovery_from_options},
		{"r", "<-- Return to main menu", NULL},
	};
	return screen(m, UI_BG_NORMAL, "Heads Options", "Select an option:", items,
		      ARRAY_SIZE(items), 0);
}

static enum flow_outcome refresh_totp(struct menu *m)
{
	return menu_refresh_attestation(m);
}

static enum flow_outcome main_menu(struct menu *m)
{
	static const struct screen_item items[] = {
		{"d", "Default boot", menu_default_boot},
		{"r", "Refresh TOTP/HOTP", refresh_totp},
		{"o", "Options -->", options_menu},
		{"s", "System Info", system_info},
		{"p", "Power Off", power_off},
	};
	char date[64];
	_cleanup_free_ char *title = xasprintf("%s | Heads Boot Menu",
					       m->board && *m->board ? m->board : "Heads");
	_cleanup_free_ char *text = NULL;

	menu_utc_now(date);
	text = xasprintf("%s\nTOTP: %s%s%s", date, m->totp, *m->hotp ? " | HOTP: " : "",
			 m->hotp);
	menu_refresh_status(m);
	return screen(m, m->bg, title, text, items, ARRAY_SIZE(items), 0);
}

static enum flow_outcome startup(struct menu *m)
{
	enum flow_outcome o;

	/* /boot */
	while (!menu_boot_populated(m)) {
		o = menu_no_boot_menu(m);
		if (o != FLOW_BACK)
			return o;
		if (m->skip_to_menu)
			break;
	}
	/* Clean boot: no kexec*.txt and an empty keyring. */
	if (menu_boot_populated(m) && !boot_has_kexec_txt(m) && menu_keyring_count(m->keyring) == 0) {
		o = menu_ownership(m, true);
		if (o != FLOW_BACK)
			return o;
	}
	o = menu_preflight_menu(m);
	if (o != FLOW_BACK)
		return o;
	if (m->preflight_failed) {
		/* Reference: GPG/TOTP/HOTP checks are skipped entirely. */
		snprintf(m->totp, sizeof(m->totp), "%s", "");
		return FLOW_BACK;
	}
	o = menu_gpg_key_check(m);
	if (o != FLOW_BACK)
		return o;
	o = menu_update_totp(m);
	if (o == FLOW_BACK)
		o = menu_update_hotp(m); /* checks only when the TOTP unsealed */
	if (o != FLOW_BACK)
		return o;
	/* Auto-boot only after a successful HOTP check (a code the TPM
	 * computed, accepted by the dongle), as the reference; the default
	 * entry is verified by menu_default_boot before anything loads. */
	if (m->hotp_success && config_get(&m->cfg, "CONFIG_AUTO_BOOT_TIMEOUT")) {
		unsigned long long secs;
		if (parse_uint(config_get(&m->cfg, "CONFIG_AUTO_BOOT_TIMEOUT"), 3600, &secs) == 0 &&
		    secs > 0) {
			_cleanup_free_ char *t = xasprintf("Automatic boot in %llu seconds unless "
							   "interrupted by keypress...", secs);
			int r = ui_countdown(m->ui, t, (unsigned)secs);
			if (ui_fatal(r))
				return menu_outcome(m, r);
			if (r == 0)
				return menu_default_boot(m);
		}
	}
	return FLOW_BACK;
}

/* --- entry point -------------------------------------------------------- */

/* In the payload: PID 1 is this very binary (heads init). */
static bool running_live(void)
{
	struct stat a, b;
	if (getpid() == 1)
		return true;
	if (getppid() != 1)
		return false;
	return stat("/proc/1/exe", &a) == 0 && stat("/proc/self/exe", &b) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static int load_config(struct menu *m, char **files, size_t n)
{
	_cleanup_free_ char *err = NULL;

	if (board_config_load(&m->cfg, files, n, &err) < 0) {
		fprintf(stderr, "heads menu: %s\n", err);
		return HEADS_EXIT_USAGE;
	}
	return 0;
}

static int run(int argc, char **argv)
{
	static const struct option opts[] = {
		{"boot", required_argument, NULL, 'b'},
		{"keyring", required_argument, NULL, 'k'},
		{"gnupghome", required_argument, NULL, 'G'},
		{"config", required_argument, NULL, 'c'},
		{"user-config", required_argument, NULL, 'U'},
		{"tcti", required_argument, NULL, 't'},
		{"secret-dir", required_argument, NULL, 's'},
		{"eventlog", required_argument, NULL, 'e'},
		{"ui", required_argument, NULL, 'u'},
		{"ui-script", required_argument, NULL, 'S'},
		{"recovery-shell", required_argument, NULL, 'R'},
		{"no-act", no_argument, NULL, 'n'},
		{"luks-devices", required_argument, NULL, 'L'},
		{"trace", required_argument, NULL, 'T'},
		{"modules", required_argument, NULL, 'M'},
		{"rom", required_argument, NULL, 'O'},
		{"media", required_argument, NULL, 'V'},
		{"test-model", required_argument, NULL, 'D'},
		{"usb-device", required_argument, NULL, 'B'},
		{},
	};
	struct menu m = {
		.bootdir = DEFAULT_BOOT, .keyring = DEFAULT_KEYRING,
		.user_config = BOARD_USER_CONFIG, .secret_dir = DEFAULT_SECRET_DIR,
		.eventlog = DEFAULT_EVENTLOG,
	};
	struct ui_options uo;
	_cleanup_free_ char **files = NULL;
	_cleanup_free_ char **usb_devices = NULL;
	size_t n_files = 0;
	bool no_act = false;
	enum flow_outcome o;
	int c, r;

	ui_options_init(&uo);
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'b': m.bootdir = optarg; break;
		case 'k': m.keyring = optarg; break;
		case 'G': m.gnupghome = optarg; break;
		case 'U': m.user_config = optarg; break;
		case 't': m.tcti = optarg; break;
		case 's': m.secret_dir = optarg; break;
		case 'e': m.eventlog = optarg; break;
		case 'R': m.recovery_shell = optarg; break;
		case 'n': no_act = true; break;
		case 'L': m.luks_devices = optarg; break;
		case 'T': m.trace = optarg; break;
		case 'M': m.modules = optarg; break;
		case 'O': m.rom = optarg; break;
		case 'V':
			m.media = xrealloc(m.media, (m.n_media + 1) * sizeof(char *));
			m.media[m.n_media++] = optarg;
			break;
		case 'D':
			if (!menu_hotp_test_build())
				return cmd_usage_error("menu", "--test-model exists only in the "
							       "test build (heads-dongle-test)");
			m.dongle_model = optarg;
			break;
		case 'S': uo.script_path = optarg; break;
		case 'B':
			usb_devices = xrealloc(usb_devices, (m.n_usb_devices + 1) * sizeof(char *));
			usb_devices[m.n_usb_devices++] = optarg;
			m.usb_devices = usb_devices;
			break;
		case 'u':
			if ((r = ui_mode_from_string(optarg)) < 0)
				return cmd_usage_error("menu", "bad --ui '%s'", optarg);
			uo.mode = r;
			break;
		case 'c':
			files = xrealloc(files, (n_files + 1) * sizeof(char *));
			files[n_files++] = optarg;
			break;
		default:
			return cmd_usage_error("menu", "bad option");
		}
	}
	if (optind != argc)
		return cmd_usage_error("menu", "unexpected argument '%s'", argv[optind]);
	if (!m.gnupghome)
		m.gnupghome = m.keyring;
	if (ui_options_from_env(&uo) < 0)
		return HEADS_EXIT_USAGE;

	config_init(&m.cfg);
	if ((r = load_config(&m, files, n_files))) {
		config_free(&m.cfg);
	menu_forget_signed(&m);
		return r;
	}
	m.board = config_get(&m.cfg, "CONFIG_BOARD_NAME");
	m.tpm_on = config_enabled(&m.cfg, "CONFIG_TPM");
	m.live = !no_act && running_live();

	r = ui_open(&uo, &m.ui);
	if (r < 0) {
		config_free(&m.cfg);
	menu_forget_signed(&m);
		return r == -ENOENT || r == -EINVAL ? HEADS_EXIT_USAGE : HEADS_EXIT_FAIL;
	}
	menu_refresh_status(&m);

	/* The state machine: start-up, then the main menu until a flow ends it. */
	o = startup(&m);
	while (o == FLOW_BACK)
		o = main_menu(&m);
	switch (o) {
	case FLOW_REBOOT:
		(void)menu_power_off_how(&m, RB_AUTOBOOT);
		break;
	case FLOW_RECOVERY:
		m.exit_code = run_recovery(&m);
		break;
	case FLOW_UI_GONE:
		if (!m.exit_code) /* else a failure ended it (menu_outcome) */
			m.exit_code = EXIT_UI;
		break;
	default: /* FLOW_DONE: m.exit_code */
		break;
	}
	ui_close(m.ui);
	config_free(&m.cfg);
	menu_forget_signed(&m);
	free(m.media);
	return m.exit_code;
}

const struct heads_command cmd_menu = {
	.name = "menu",
	.summary = "the boot menu: checks, TOTP, integrity report, boot, ownership",
	.usage = usage,
	.run = run,
};
