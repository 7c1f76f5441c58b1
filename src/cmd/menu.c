/* heads menu - the Heads boot menu: start-up checks, main menu, options,
 * integrity report, forced unsafe boot, auto-boot, first-boot ownership.
 * Reference: heads-behaviour.md 1.3-1.10 (gui-init), 9 (menus), 7.4
 * (ownership), 10.2 (bugs not copied).
 *
 * The flows are composed from the lib/ modules. A feature whose module does
 * not exist yet says "unavailable in this build" instead of pretending.
 *
 * Live vs. dry: the menu only powers off or kexecs for real when it runs in
 * the payload (PID 1 is this same binary, i.e. we were started by
 * `heads init`). Anywhere else (tests, a developer's machine) it describes
 * the kexec it would do on stdout, does the PCR extensions on the TPM it
 * was given, and exits. --no-act forces the dry behaviour.
 */
#include "cmd/cmd.h"
#include "gpg/keyring.h"
#include "handover.h"
#include "board.h"
#include "cmd/menu.h"
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
	"\n"
	"Exit status: 0 booted (dry: the kexec plan was printed), powered off or\n"
	"rebooted; 1 a failure that ends the menu; 2 usage; 3 the UI ended (script\n"
	"or input exhausted); entering the recovery shell exits with its status.\n";


/* --- small helpers ---------------------------------------------------- */

static int finish(struct menu *m, int code)
{
	m->done = true;
	m->exit_code = code;
	return code;
}

static void unavailable(struct menu *m, const char *what, const char *issue)
{
	_cleanup_free_ char *t = xasprintf("%s is unavailable in this build (%s).", what, issue);
	log_warn("%s", t);
	ui_msgbox(m->ui, UI_BG_WARNING, "Unavailable", t);
}

int menu_tpm_open(struct menu *m, struct tpm **ret)
{
	if (!m->tpm_on)
		return -ENODEV;
	/* The primary key recorded at ownership (pinned: never salt with,
	 * seal to or unseal under another). */
	return cmd_tpm_open(m->tcti, config_get(&m->cfg, CMD_CONFIG_PRIMARY_NAME), ret);
}

static void refresh_status(struct menu *m)
{
	ui_set_status(m->ui, m->board, m->totp, m->hotp);
}

bool menu_boot_has(const struct menu *m, const char *name)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", m->bootdir, name);
	struct stat st;
	return lstat(p, &st) == 0;
}

static void menu_forget_signed(struct menu *m)
{
	if (m->signed_set) {
		boot_signed_free(m->signed_set);
		free(m->signed_set);
		m->signed_set = NULL;
	}
}

/* The view a boot reads /boot through: the signed one (from the last check
 * that passed; none: refused) or, for an explicit unsafe boot and for
 * ownership (which signs what the user accepts), the unverified one. */
static int menu_view(struct menu *m, bool verified, struct boot_view **ret)
{
	if (verified && !m->signed_set)
		return log_error_errno(-EBADMSG, "%s has not been verified: not booting",
				       m->bootdir);
	return boot_view_open(m->bootdir, verified ? m->signed_set : NULL, ret);
}

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

/* Number of public keys in a GnuPG home (0 if it does not exist). */
static int keyring_count(const char *home)
{
	gpgme_ctx_t ctx = NULL;
	gpgme_key_t key;
	struct stat st;
	int n = 0;

	if (stat(home, &st) < 0)
		return 0;
	if (gpg_context(home, 0, &ctx) < 0)
		return -EIO;
	if (gpgme_op_keylist_start(ctx, NULL, 0)) {
		gpgme_release(ctx);
		return -EIO;
	}
	while (gpgme_op_keylist_next(ctx, &key) == 0) {
		n++;
		gpgme_key_unref(key);
	}
	gpgme_op_keylist_end(ctx);
	gpgme_release(ctx);
	return n;
}

/* "YYYY-MM-DD HH:MM:SS UTC" now. */
static void utc_now(char date[64])
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(date, 64, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

/* A menu of boot entries, keyed "1".."n". Returns the index or -errno. */
static int choose_entry(struct menu *m, enum ui_bg bg, const char *title, const char *text,
			const struct boot_entries *l, size_t dflt)
{
	struct ui_item *items = xcalloc(l->n, sizeof(*items));
	char **keys = xcalloc(l->n, sizeof(char *));
	int r;

	for (size_t i = 0; i < l->n; i++) {
		keys[i] = xasprintf("%zu", i + 1);
		items[i].key = keys[i];
		items[i].label = l->v[i].title;
	}
	r = ui_menu(m->ui, bg, title, text, items, l->n, dflt);
	for (size_t i = 0; i < l->n; i++)
		free(keys[i]);
	free(keys);
	free(items);
	return r;
}

/* --- recovery, power --------------------------------------------------- */

extern const struct heads_command cmd_recovery;

/* Leave the menu for the recovery shell (reference `recovery "<msg>"`). */
static int go_recovery(struct menu *m, const char *why)
{
	char *argv[24];
	int argc = 0;

	if (config_enabled(&m->cfg, "CONFIG_RESTRICTED_BOOT")) {
		ui_msgbox(m->ui, UI_BG_ERROR, "Restricted Boot",
			  "Restricted Boot is enabled: the recovery shell is disabled.");
		return 0;
	}
	ui_close(m->ui);
	m->ui = NULL;
	argv[argc++] = "recovery";
	argv[argc++] = "--message";
	argv[argc++] = (char *)why;
	argv[argc++] = "--secret-dir";
	argv[argc++] = (char *)m->secret_dir;
	if (m->tcti) {
		argv[argc++] = "--tcti";
		argv[argc++] = (char *)m->tcti;
	}
	argv[argc++] = "--keyring";
	argv[argc++] = (char *)m->keyring;
	argv[argc++] = "--gnupghome";
	argv[argc++] = (char *)m->gnupghome;
	if (m->recovery_shell) {
		argv[argc++] = "--shell";
		argv[argc++] = (char *)m->recovery_shell;
	}
	/* The configuration the menu runs with is the one recovery applies. */
	for (size_t i = 0; i < m->cfg.n && argc < 19; i++) {
		bool seen = false;
		for (int j = 0; j < argc; j++)
			if (streq(argv[j], m->cfg.entries[i].file))
				seen = true;
		if (!seen) {
			argv[argc++] = "--config";
			argv[argc++] = m->cfg.entries[i].file;
		}
	}
	if (!m->live)
		argv[argc++] = "--once";
	argv[argc] = NULL;
	optind = 1;
	return finish(m, cmd_recovery.run(argc, argv));
}

/* Power off (how = RB_POWER_OFF) or reboot (RB_AUTOBOOT). */
static int power_off_how(struct menu *m, int how)
{
	_cleanup_tpm_ struct tpm *t = NULL;
	const char *what = how == RB_AUTOBOOT ? "reboot" : "power off";

	if (menu_tpm_open(m, &t) == 0)
		(void)tpm_shutdown(t);
	sync();
	if (!m->live) {
		printf("heads menu: %s (dry run: not %s)\n", what,
		       how == RB_AUTOBOOT ? "rebooting" : "powering off");
		return finish(m, HEADS_EXIT_OK);
	}
	ui_close(m->ui);
	m->ui = NULL;
	reboot(how);
	return finish(m, log_error_errno(-errno, "%s", what) ? HEADS_EXIT_FAIL : 0);
}

static int power_off(struct menu *m)
{
	return power_off_how(m, RB_POWER_OFF);
}

/* --- TOTP -------------------------------------------------------------- */

/* The board's attestation PCRs (CONFIG_TOTP_PCRS); a malformed list is
 * said once and the reference list used for reading codes (sealing
 * refuses it). */
static uint32_t menu_totp_pcrs(struct menu *m)
{
	_cleanup_free_ char *err = NULL;
	uint32_t mask;
	if (board_totp_pcrs(&m->cfg, &mask, &err) < 0) {
		log_error("CONFIG_TOTP_PCRS: %s", err);
		return TPM_OTP_DEFAULT_PCRS;
	}
	return mask;
}

/* Reference update_totp: TOTP = code, or the failure state. 0 ok. */
static int compute_totp(struct menu *m)
{
	m->totp_reason[0] = '\0';
	if (!m->tpm_on) {
		snprintf(m->totp, sizeof(m->totp), "NO TPM");
		return 0;
	}
	{
		_cleanup_tpm_ struct tpm *t = NULL;
		uint32_t code;
		int r = menu_tpm_open(m, &t);

		uint32_t mask = menu_totp_pcrs(m);
		if (r == 0) {
			mask = tpm_otp_code_mask(t, mask);
			r = tpm_otp_totp(t, TPM_HANDLE_TOTP, mask, time(NULL), &code);
		}
		if (r == 0) {
			char c[OTP_CODE_MAX + 1];
			otp_format_code(code, OTP_DIGITS, c);
			snprintf(m->totp, sizeof(m->totp), "%s", c);
			return 0;
		}
		_cleanup_free_ char *why = tpm_otp_reason(t, r, mask);
		snprintf(m->totp_reason, sizeof(m->totp_reason), "%s", why);
		snprintf(m->totp, sizeof(m->totp), "ERROR");
		return r;
	}
}

static void update_hotp(struct menu *m)
{
	/* HOTP dongles (hotp_verification) are not driven by this build. */
	snprintf(m->hotp, sizeof(m->hotp), "%s",
		 config_enabled(&m->cfg, "CONFIG_HOTPKEY") ? "unavailable" : "");
}

static int generate_totp(struct menu *m, const struct secret *owner);
static int reset_tpm(struct menu *m);
static int integrity_report_screen(struct menu *m);
static int ownership(struct menu *m, bool clean_boot);

/* Reference "ERROR: TOTP Generation Failed!" menu. */
static int totp_failed_menu(struct menu *m)
{
	static const struct ui_item items[] = {
		{"g", "Generate new TOTP/HOTP secret"},
		{"i", "Ignore error and continue to main menu"},
		{"p", "Reset the TPM"},
		{"x", "Exit to recovery shell"},
	};
	_cleanup_free_ char *text = xasprintf(
		"ERROR: Heads couldn't generate the TOTP code.\n\n%s\n\n"
		"If you have just completed a Factory Reset, or just reflashed your BIOS, "
		"you should generate a new TOTP secret.\n\n"
		"If you have not just reflashed your BIOS, THIS COULD INDICATE TAMPERING!\n\n"
		"How would you like to proceed?", m->totp_reason);
	int r;

	m->gate_required = true;
	m->bg = UI_BG_ERROR;
	if (m->skip_to_menu)
		return 0;
	r = ui_menu(m->ui, UI_BG_ERROR, "ERROR: TOTP Generation Failed!", text, items,
		    ARRAY_SIZE(items), 0);
	if (ui_fatal(r))
		return r;
	switch (r) {
	case 0:
		return generate_totp(m, NULL);
	case 2:
		if (integrity_report_screen(m) < 0 && m->done)
			return 0;
		return reset_tpm(m);
	case 3:
		return go_recovery(m, "TOTP generation failed");
	default:
		m->skip_to_menu = true;
		return 0;
	}
}

static int update_totp(struct menu *m)
{
	int r = compute_totp(m);
	refresh_status(m);
	if (r == 0) {
		m->gate_required = false;
		return 0;
	}
	return totp_failed_menu(m);
}

/* Show the QR code and otpauth URI of a new secret. */
static int show_totp_qr(struct menu *m, const struct secret *key)
{
	_cleanup_secret_ struct secret *uri = NULL, *b32 = NULL, *art = NULL;
	struct qr_matrix q = {0};
	_cleanup_free_ char *label = xasprintf("%s", m->board && *m->board ? m->board :
					       OTP_DEFAULT_LABEL);
	int r;

	if ((r = otp_totp_uri(label, key, &uri)) < 0 || (r = otp_base32(key, &b32)) < 0)
		return log_error_errno(r, "building the otpauth URI");
	if ((r = qr_encode((const char *)uri->data, uri->len, &q)) == 0) {
		r = qr_render_utf8(&q, 2, &art);
		qr_matrix_free(&q);
	}
	if (r < 0)
		return log_error_errno(r, "rendering the QR code");
	/* The QR code and the secret go straight to the terminal, never to a
	 * log: they are the secret. */
	{
		_cleanup_free_ char *text = xasprintf(
			"Scan this QR code with your TOTP app (or type the secret):\n\n%s\n"
			"Secret (base32): %s\n", (const char *)art->data, (const char *)b32->data);
		r = ui_textbox(m->ui, UI_BG_NORMAL, "New TOTP secret", text);
		explicit_bzero(text, strlen(text));
	}
	return r;
}

static int seal_totp_with(struct menu *m, struct tpm *t, const struct secret *owner)
{
	_cleanup_secret_ struct secret *key = NULL;
	_cleanup_free_ char *note = NULL, *list = NULL, *err = NULL;
	enum tpm_otp_enrol_step step;
	uint32_t mask;
	int r;

	if ((r = board_totp_pcrs(&m->cfg, &mask, &err)) < 0) {
		_cleanup_free_ char *msg = xasprintf("CONFIG_TOTP_PCRS: %s", err);
		ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: TOTP sealing failed", msg);
		return r;
	}
	/* the ROM changed: PCR 7 is the next boot's */
	r = tpm_otp_enrol(t, mask, access(m->eventlog, R_OK) == 0 ? m->eventlog : NULL,
			  m->have_next_pcr7 ? m->next_pcr7 : NULL, owner, &key, &note, &step);
	if (r < 0) {
		_cleanup_free_ char *why = tpm_otp_reason(t, r, mask);
		_cleanup_free_ char *msg = xasprintf("Sealing the TOTP secret failed: %s: %s",
						     tpm_otp_enrol_step_name(step), why);
		ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: TOTP sealing failed", msg);
		return r;
	}
	list = board_pcr_list(mask);
	log_info("TOTP secret sealed to PCRs %s", list);
	if (note)
		log_info("no code in this boot (%s); it will work after a reboot with unchanged "
			 "firmware", note);
	return show_totp_qr(m, key);
}

/* Reference generate_totp_hotp (gated by the integrity report). */
static int generate_totp(struct menu *m, const struct secret *owner_in)
{
	_cleanup_secret_ struct secret *owner = NULL;
	_cleanup_tpm_ struct tpm *t = NULL;
	int r;

	if (!m->tpm_on) {
		ui_msgbox(m->ui, UI_BG_ERROR, "No TPM", "This board has no TPM (CONFIG_TPM).");
		return 0;
	}
	if (m->gate_required) {
		/* Integrity gate: look at the report before trusting a re-seal. */
		r = integrity_report_screen(m);
		if (ui_fatal(r) || m->done)
			return r;
		if (r != 1) {
			ui_msgbox(m->ui, UI_BG_ERROR, "Integrity Gate",
				  "/boot does not verify: resolve the integrity report first "
				  "(update checksums and sign), then generate the secret.");
			return 0;
		}
		if ((r = menu_yes(m, UI_BG_WARNING, "Integrity Gate Passed",
				  "The integrity report shows /boot verified by your key.\n\n"
				  "Proceed with sealing a new TOTP secret?")) != 1)
			return r;
	}
	if ((r = menu_yes(m, UI_BG_WARNING, "Generate new TOTP/HOTP secret",
			  "This will erase your old secret and replace it with a new one!\n\n"
			  "Do you want to proceed?")) != 1)
		return r;
	if (!owner_in) {
		if ((r = menu_ask_owner_passphrase(m, false, &owner)) < 0)
			return ui_fatal(r) ? r : 0;
		owner_in = owner;
	}
	if ((r = menu_tpm_open(m, &t)) < 0)
		return log_error_errno(r, "opening the TPM");
	r = seal_totp_with(m, t, owner_in);
	tpm_close(t);
	t = NULL;
	if (ui_fatal(r) && r != -EPROTO && r != -EPIPE)
		return 0; /* told the user; back to the menu */
	if (r < 0)
		return r;
	if (ui_gone(r = menu_duk_reseal_after_totp(m, owner_in)))
		return r;
	return update_totp(m);
}

/* After this menu rewrote the ROM outside ownership (GPG options, saved
 * configuration): the next boot's PCR 7 differs, so the TOTP sealed to this
 * boot will not unseal. Offer to seal a new one (and reseal the DUK) to the
 * next boot now, then reboot. */
static int after_rom_write(struct menu *m)
{
	int r;

	m->have_next_pcr7 = m->tpm_on && menu_next_pcr7(m, m->next_pcr7) == 0;
	if (m->have_next_pcr7) {
		r = menu_yes(m, UI_BG_WARNING, "ROM changed",
			     "The ROM is measured into PCR 7: the TOTP secret sealed to this "
			     "boot will not unseal after the reboot.\n\nSeal a new TOTP secret "
			     "to the next boot now (TPM owner passphrase, then scan the new QR "
			     "code)?");
		if (r < 0)
			return r;
		if (r == 1) {
			_cleanup_secret_ struct secret *owner = NULL;
			_cleanup_tpm_ struct tpm *t = NULL;
			r = menu_ask_owner_passphrase(m, false, &owner);
			if (r == 0 && (r = menu_tpm_open(m, &t)) == 0)
				r = seal_totp_with(m, t, owner);
			tpm_close(t);
			t = NULL;
			if (ui_gone(r))
				return r;
			if (r == 0 && ui_gone(r = menu_duk_reseal_after_totp(m, owner)))
				return r;
		}
	}
	return power_off_how(m, RB_AUTOBOOT);
}

/* --- TPM ownership pieces --------------------------------------------- */

int menu_ask_owner_passphrase(struct menu *m, bool twice, struct secret **ret)
{
	for (int attempt = 0; attempt < 3; attempt++) {
		_cleanup_secret_ struct secret *a = NULL, *b = NULL;
		int r = ui_passphrase(m->ui, "TPM Owner Passphrase",
				      twice ? "New TPM owner passphrase (1-32 characters)" :
					      "TPM owner passphrase", OWNER_PASS_MAX, &a);
		if (r == -EFBIG) {
			ui_msgbox(m->ui, UI_BG_WARNING, "Too long",
				  "The TPM owner passphrase is at most 32 characters.");
			continue;
		}
		if (r < 0)
			return r;
		if (twice && a->len == 0) {
			ui_msgbox(m->ui, UI_BG_WARNING, "Empty", "The passphrase cannot be empty.");
			continue;
		}
		if (twice) {
			r = ui_passphrase(m->ui, "TPM Owner Passphrase",
					  "Repeat the new TPM owner passphrase", OWNER_PASS_MAX, &b);
			if (r < 0 && r != -EFBIG)
				return r;
			if (r < 0 || !secret_equal(a, b)) {
				ui_msgbox(m->ui, UI_BG_WARNING, "Mismatch",
					  "The passphrases do not match.");
				continue;
			}
		}
		*ret = TAKE_PTR(a);
		return 0;
	}
	return -EACCES;
}

/* Reference reset_tpm: confirm, new owner passphrase, reset, then the
 * ownership steps that depend on it (counter, sign, TOTP). */
static int reset_tpm(struct menu *m)
{
	if (!m->tpm_on) {
		ui_msgbox(m->ui, UI_BG_ERROR, "No TPM", "This board has no TPM (CONFIG_TPM).");
		return 0;
	}
	return ownership(m, false);
}

/* --- /boot integrity ---------------------------------------------------- */

static void progress_cb(void *u, uint64_t done, uint64_t total, size_t fd, size_t ft)
{
	struct menu *m = u;
	(void)fd;
	(void)ft;
	ui_progress(m->ui, "Verifying /boot", "Hashing files",
		    total ? (unsigned)(done * 100 / total) : 0);
}

void menu_rollback_requirement(const struct menu *m, bool *ret_required, uint32_t *ret_counter)
{
	const char *id = config_get(&m->cfg, "CONFIG_ROLLBACK_COUNTER");
	unsigned long long v = 0;

	*ret_required = config_enabled(&m->cfg, "CONFIG_BOOT_REQ_ROLLBACK");
	if (id && *id && parse_uint(id, UINT32_MAX, &v) < 0) {
		log_warn("CONFIG_ROLLBACK_COUNTER=%s is not a counter index: ignored", id);
		v = 0;
	}
	*ret_counter = (uint32_t)v;
}

static int run_integrity(struct menu *m, struct integrity_report *rep)
{
	_cleanup_tpm_ struct tpm *t = NULL;
	struct integrity_options o = {
		.bootdir = m->bootdir,
		.keyring = m->keyring,
		.rollback_disabled = config_enabled(&m->cfg, "CONFIG_IGNORE_ROLLBACK") ||
				     !m->tpm_on,
		.progress = progress_cb,
		.userdata = m,
	};
	int r;

	menu_rollback_requirement(m, &o.require_rollback, &o.rollback_counter);
	if (m->tpm_on && menu_tpm_open(m, &t) == 0)
		o.tpm = t;
	r = integrity_check(&o, rep);
	ui_progress_end(m->ui);
	return r;
}

static void append(char **s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void append(char **s, const char *fmt, ...)
{
	va_list ap;
	char *add = NULL, *n;
	va_start(ap, fmt);
	if (vasprintf(&add, fmt, ap) < 0)
		abort();
	va_end(ap);
	n = xasprintf("%s%s", *s ? *s : "", add);
	free(add);
	free(*s);
	*s = n;
}

static char *issues_text(const struct manifest_report *f, size_t max)
{
	char *s = NULL;
	for (size_t i = 0; i < f->n_issue && i < max; i++) {
		_cleanup_free_ char *p = manifest_escape_name(f->issue[i].path);
		append(&s, "  %s: %s\n", manifest_issue_kind_name(f->issue[i].kind), p);
	}
	if (f->n_issue > max)
		append(&s, "  ... and %zu more\n", f->n_issue - max);
	return s ? s : xstrdup("");
}

static const char *manifest_state_name(enum integrity_manifest_state s)
{
	return s == INTEGRITY_MANIFEST_OK ? "present" :
	       s == INTEGRITY_MANIFEST_MISSING ? "MISSING" : "MALFORMED";
}

/* The reference "Measured Integrity Report" as text. */
static char *report_text(struct menu *m, const struct integrity_report *rep)
{
	char date[64], *s = NULL;
	bool files_ok = rep->hashes == INTEGRITY_MANIFEST_OK &&
			rep->tree == INTEGRITY_MANIFEST_OK && rep->files.n_issue == 0;

	utc_now(date);
	append(&s, "Date: %s\n", date);
	append(&s, "TOTP: %s%s%s\n", m->totp, m->totp_reason[0] ? " - " : "", m->totp_reason);
	if (*m->hotp)
		append(&s, "HOTP: %s\n", m->hotp);
	append(&s, "/boot/kexec.sig: %s", sig_state_name(rep->sig.state));
	if (rep->sig.state == SIG_UNKNOWN_KEY && rep->sig.fpr[0])
		append(&s, " (key %s)", rep->sig.fpr);
	if (rep->sig.state != SIG_VERIFIED && rep->sig.detail[0])
		append(&s, " - %s", rep->sig.detail);
	append(&s, "\n");
	if (rep->kexec_files.n_issue) {
		_cleanup_free_ char *l = issues_text(&rep->kexec_files, 10);
		append(&s, "kexec*.txt files:\n%s", l);
	}
	for (size_t i = 0; i < rep->n_triggers; i++)
		append(&s, "Package trigger present: %s (the OS updated /boot)\n", rep->triggers[i]);
	append(&s, "Boot files: %s", files_ok ? "OK" : "UNTRUSTED/ALTERED");
	append(&s, " (%zu checked)\n", rep->files.files_checked);
	if (rep->hashes != INTEGRITY_MANIFEST_OK || rep->tree != INTEGRITY_MANIFEST_OK)
		append(&s, "  kexec_hashes.txt %s, kexec_tree.txt %s%s%s\n",
		       manifest_state_name(rep->hashes), manifest_state_name(rep->tree),
		       rep->manifest_detail[0] ? ": " : "", rep->manifest_detail);
	if (rep->files.n_issue) {
		_cleanup_free_ char *l = issues_text(&rep->files, 10);
		append(&s, "%s", l);
	}
	if (rep->files.n_unbound)
		append(&s, "  %zu symlink%s not bound by a signed kexec_links.txt (signed by "
			   "an older version: never followed when booting)\n",
		       rep->files.n_unbound, rep->files.n_unbound == 1 ? "" : "s");
	if (rep->has_default_hashes) {
		append(&s, "Default entry files: %s\n",
		       rep->default_hashes == INTEGRITY_MANIFEST_OK &&
				       rep->default_files.n_issue == 0 ? "OK" : "ALTERED");
		if (rep->default_files.n_issue) {
			_cleanup_free_ char *l = issues_text(&rep->default_files, 10);
			append(&s, "%s", l);
		}
	}
	append(&s, "Rollback counter: %s%s%s\n", rollback_state_name(rep->rollback.state),
	       rep->rollback.detail[0] ? " - " : "", rep->rollback.detail);
	if (integrity_ok(rep))
		append(&s, "\nEverything verified: /boot is signed by a key in the ROM "
			   "keyring and unchanged.\n");
	else
		append(&s, "\nSomething does not verify. If you did not just update your OS "
			   "or change /boot yourself, THIS COULD INDICATE TAMPERING. "
			   "Investigate before booting.\n");
	return s;
}

static int update_checksums(struct menu *m);

/* Detail of the mismatches and the signed files (investigation screens). */
static int investigate(struct menu *m, const struct integrity_report *rep)
{
	static const struct ui_item items[] = {
		{"d", "Show mismatch details"},
		{"s", "Show the signed kexec*.txt files"},
		{"u", "Update checksums now (sign /boot)"},
		{"r", "Drop to recovery shell"},
		{"c", "Continue"},
	};
	for (;;) {
		int r = ui_menu(m->ui, UI_BG_ERROR, "Integrity investigation",
				"Look at what changed before deciding. Only sign /boot again "
				"if you made these changes yourself.", items, ARRAY_SIZE(items), 0);
		if (ui_fatal(r))
			return r;
		switch (r) {
		case 0: {
			_cleanup_free_ char *a = issues_text(&rep->files, SIZE_MAX);
			_cleanup_free_ char *b = issues_text(&rep->default_files, SIZE_MAX);
			_cleanup_free_ char *t = xasprintf("Boot files:\n%s%s%s%s",
				*a ? a : "  no differences\n", rep->manifest_detail[0] ? "  " : "",
				rep->manifest_detail, *b ? "\nDefault entry files:\n" : "");
			_cleanup_free_ char *t2 = xasprintf("%s%s", t, b);
			ui_textbox(m->ui, UI_BG_ERROR, "Mismatch details", t2);
			break;
		}
		case 1: {
			/* What the verified signature covers, from the bytes the
			 * check verified (never re-read from /boot). */
			_cleanup_free_ char *listing = NULL;
			size_t len;
			if (rep->sig.state != SIG_VERIFIED || !rep->signed_set) {
				_cleanup_free_ char *k = issues_text(&rep->kexec_files, SIZE_MAX);
				_cleanup_free_ char *t = xasprintf(
					"There is no verified signature over the kexec*.txt files.%s%s",
					*k ? "\n\n" : "", k);
				ui_msgbox(m->ui, UI_BG_ERROR, "Signed files", t);
			} else {
				sig_listing_bufs(rep->signed_set->files, rep->signed_set->n_files,
						 rep->sig.legacy ? SIG_LEGACY_PREFIX : "", &listing,
						 &len);
				ui_textbox(m->ui, UI_BG_NORMAL, "Signed files (sha256)", listing);
			}
			break;
		}
		case 2:
			return update_checksums(m);
		case 3:
			return go_recovery(m, "investigating integrity discrepancies");
		default:
			return 0;
		}
	}
}

/* Reference report_integrity_measurements. Returns 1 when /boot verifies,
 * 0 when not, <0 on a UI failure. */
static int integrity_report_screen(struct menu *m)
{
	struct integrity_report rep = {0};
	_cleanup_free_ char *text = NULL;
	int r = run_integrity(m, &rep);
	bool ok;

	if (r < 0) {
		_cleanup_free_ char *t = xasprintf("Cannot read %s: %s", m->bootdir, strerror(-r));
		ui_msgbox(m->ui, UI_BG_ERROR, "Measured Integrity Report", t);
		return 0;
	}
	ok = integrity_ok(&rep);
	text = report_text(m, &rep);
	if (ok) {
		r = ui_textbox(m->ui, UI_BG_NORMAL, "Measured Integrity Report", text);
		integrity_report_free(&rep);
		return r < 0 ? r : 1;
	}
	{
		static const struct ui_item items[] = {
			{"i", "Investigate discrepancies"},
			{"c", "Continue"},
		};
		r = ui_menu(m->ui, UI_BG_ERROR, "Measured Integrity Report", text, items,
			    ARRAY_SIZE(items), 0);
		if (r == 0)
			r = investigate(m, &rep);
		else if (!ui_fatal(r))
			r = 0;
	}
	integrity_report_free(&rep);
	return r;
}

/* PIN callback for signing: the key's passphrase / card PIN from the UI. */
int menu_sign_pin(void *userdata, const char *hint, int attempt, struct secret **ret)
{
	struct menu *m = userdata;
	_cleanup_free_ char *p = xasprintf("GPG key passphrase / card PIN%s%s (attempt %d)",
					   hint && *hint ? " for " : "", hint ? hint : "", attempt);
	return ui_passphrase(m->ui, "Sign /boot", p, GPG_PIN_MAX * 4, ret);
}

/* Sign /boot; extra kexec*.txt files (the default entry) are staged and
 * written only after the signature verified (never before, 10.3). mode:
 * REGENERATE only for "Update checksums" and ownership (after the report
 * was shown / on a fresh machine); KEEP (every other signing) refuses a
 * /boot that does not verify against the ROM keyring. The rollback
 * counter's index goes to *ret_counter (0: none). */
static int sign_boot_with(struct menu *m, enum integrity_sign_mode mode,
			  const struct secret *owner, const char *key,
			  const struct integrity_file *extra, size_t n_extra, bool new_counter,
			  uint32_t *ret_counter)
{
	_cleanup_tpm_ struct tpm *t = NULL;
	struct integrity_sign_options o = {
		.bootdir = m->bootdir,
		.mode = mode,
		.keyring = m->keyring,
		.signer = {.gnupghome = m->gnupghome, .key = key, .pin = menu_sign_pin,
			   .userdata = m, .max_attempts = 3},
		.owner_auth = owner,
		.new_counter = new_counter,
		.progress = progress_cb,
		.userdata = m,
		.extra = extra,
		.n_extra = n_extra,
	};
	struct integrity_sign_result res = {0};
	int r;

	menu_rollback_requirement(m, &o.require_rollback, &o.rollback_counter);
	if (m->tpm_on && !config_enabled(&m->cfg, "CONFIG_IGNORE_ROLLBACK")) {
		if ((r = menu_tpm_open(m, &t)) < 0)
			return log_error_errno(r, "opening the TPM for the rollback counter");
		o.tpm = t;
	}
	r = integrity_sign(&o, &res);
	ui_progress_end(m->ui);
	if (r < 0) {
		_cleanup_free_ char *t2 = xasprintf(
			"Signing /boot failed: %s. Nothing in %s was changed.%s", strerror(-r),
			m->bootdir, r == -EBADMSG ? "\n\n/boot does not verify: look at the "
			"integrity report; only \"Update checksums and sign\" signs a changed "
			"/boot." : "");
		ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: Signing failed", t2);
		return r;
	}
	log_info("/boot signed: %zu files, key %s, rollback %s", res.files, res.fpr,
		 rollback_state_name(res.rollback.state));
	if (ret_counter)
		*ret_counter = res.rollback.state == ROLLBACK_OK ? res.rollback.id : 0;
	return 0;
}

/* "Update checksums and sign": the one user action that re-hashes /boot. */
static int sign_boot(struct menu *m, const struct secret *owner, const char *key)
{
	return sign_boot_with(m, INTEGRITY_SIGN_REGENERATE, owner, key, NULL, 0, false,
			      NULL);
}

/* Sign the default entry files with the rest of /boot (a previous default
 * with another index leaves the signed set and /boot with it). */
static int save_default_signed(struct menu *m, struct boot_view *view,
			       enum integrity_sign_mode mode, const struct boot_entry *e,
			       unsigned index1, const struct secret *owner, const char *key,
			       bool new_counter, uint32_t *ret_counter)
{
	struct bootcfg_default_files f = {0};
	struct integrity_file extra[2];
	int r = bootcfg_default_files(view, e, index1, &f);

	if (r < 0)
		return log_error_errno(r, "preparing the default entry files");
	extra[0] = (struct integrity_file){.name = f.name, .data = f.line, .len = f.line_len};
	extra[1] = (struct integrity_file){.name = MANIFEST_DEFAULT_HASHES_FILE, .data = f.hashes,
					   .len = f.hashes_len};
	r = sign_boot_with(m, mode, owner, key, extra, 2, new_counter, ret_counter);
	bootcfg_default_files_free(&f);
	return r;
}

/* Options -> u: reference prompt_update_checksums. */
static int update_checksums(struct menu *m)
{
	_cleanup_secret_ struct secret *owner = NULL;
	int r;

	/* Signing re-blesses /boot as it is: show what that would bless. */
	{
		struct integrity_report rep = {0};
		if (run_integrity(m, &rep) == 0) {
			if (!integrity_ok(&rep)) {
				_cleanup_free_ char *text = report_text(m, &rep);
				r = ui_textbox(m->ui, UI_BG_WARNING,
					       "What signing now would trust", text);
				if (ui_gone(r)) {
					integrity_report_free(&rep);
					return r;
				}
			}
			integrity_report_free(&rep);
		}
	}
	r = ui_yesno(m->ui, UI_BG_WARNING, "Update Checksums and sign all files in /boot",
			 "You have chosen to update the checksums and sign all of the files in "
			 "/boot.\n\nThis means that you trust that these files have not been "
			 "tampered with.\n\nYou will need your GPG key (or card) to continue and "
			 "this change will modify your disk.\n\nDo you want to continue?");
	if (r != 1)
		return ui_fatal(r) ? r : 0;
	if (m->tpm_on && !menu_boot_has(m, ROLLBACK_FILE) &&
	    !config_enabled(&m->cfg, "CONFIG_IGNORE_ROLLBACK")) {
		/* A new rollback counter needs the owner passphrase. */
		if ((r = menu_ask_owner_passphrase(m, false, &owner)) < 0)
			return ui_fatal(r) ? r : 0;
	}
	r = sign_boot(m, owner, NULL);
	if (r == -EPROTO || r == -EPIPE)
		return r;
	if (r == 0)
		ui_msgbox(m->ui, UI_BG_NORMAL, "Signed", "/boot has been signed.");
	return 0;
}

/* --- booting ----------------------------------------------------------- */

static int extend_pcr4(struct menu *m, const char *what)
{
	_cleanup_tpm_ struct tpm *t = NULL;
	int r;

	if (!m->tpm_on)
		return 0;
	r = menu_tpm_open(m, &t);
	if (r == 0)
		r = tpm_extend_string(t, BOARD_PCR_BOOT_MODE, what);
	if (r < 0)
		return log_error_errno(r, "extending PCR %d with \"%s\"", BOARD_PCR_BOOT_MODE, what);
	log_info("PCR %d extended with \"%s\"", BOARD_PCR_BOOT_MODE, what);
	return 0;
}

/* Dry run: what would boot, on stdout (stable lines for tests). */
static void describe_dry(struct menu *m, const struct boot_entry *e, const char *pcr4)
{
	_cleanup_free_ char *line = boot_entry_to_line(e);
	_cleanup_free_ char *cmd = bootcfg_build_cmdline(
		e->cmdline, NULL, config_get(&m->cfg, "CONFIG_BOOT_KERNEL_REMOVE"),
		config_get(&m->cfg, "CONFIG_BOOT_KERNEL_ADD"), NULL);

	_cleanup_free_ char *title = str_escape_controls(e->title, false);
	printf("heads menu: boot (dry run): %s\n", title);
	printf("entry: %s\n", line);
	printf("kernel: %s\n", e->kernel);
	for (size_t i = 0; i < e->n_initrd; i++)
		printf("initrd: %s\n", e->initrd[i]);
	printf("cmdline: %s\n", cmd ? cmd : "");
	if (pcr4)
		printf("pcr4: extended with \"%s\"\n", pcr4);
	if (m->tpm_on) {
		_cleanup_tpm_ struct tpm *t = NULL;
		uint8_t v[32];
		size_t len;
		if (menu_tpm_open(m, &t) == 0 && tpm_pcr_read(t, "sha256", BOARD_PCR_BOOT_MODE, v, &len) == 0) {
			char hex[65];
			hex_encode(v, 32, hex);
			printf("pcr4-value: %s\n", hex);
		}
	}
}

/* DUK unlock callbacks (reference kexec-unseal-key: TOTP first, then the
 * passphrase, 3 tries). */
static int duk_show_totp(void *u, int attempt)
{
	struct menu *m = u;
	_cleanup_free_ char *t = NULL;
	(void)attempt;
	compute_totp(m);
	refresh_status(m);
	t = xasprintf("TOTP: %s\n\nCompare it with your phone before typing the Disk "
		      "Unlock Key passphrase.", m->totp);
	return ui_msgbox(m->ui, UI_BG_NORMAL, "Disk Unlock Key", t);
}

static int duk_passphrase_cb(void *u, int attempt, const char *last_error,
			     struct secret **ret)
{
	struct menu *m = u;
	_cleanup_free_ char *p = xasprintf("Enter LUKS TPM Disk Unlock Key passphrase "
					   "(attempt %d of %d, blank to abort)", attempt, DUK_TRIES);
	if (last_error)
		ui_msgbox(m->ui, UI_BG_WARNING, "Disk Unlock Key", last_error);
	return ui_passphrase(m->ui, "Disk Unlock Key", p, DUK_PASSPHRASE_MAX, ret);
}

/* With a signed kexec_key_devices.txt: unseal the DUK (this extends PCR 4
 * with "generic" whatever happens) and give the OS the plan's initrd (the
 * verified bytes) with the key added. Returns 1 go on (with or without the
 * key), 0 back to the menu, <0 UI failure / recovery. */
static int duk_for_boot(struct menu *m, struct kexec_plan *p)
{
	_cleanup_tpm_ struct tpm *t = NULL;
	struct duk_unlock_callbacks cb = {
		.show_totp = duk_show_totp, .passphrase = duk_passphrase_cb, .userdata = m,
	};
	struct duk_unlock_result res = {0};
	int r;

	r = menu_tpm_open(m, &t);
	if (r == 0)
		r = duk_unlock(t, m->signed_set, &cb, &res);
	if (r == -EIO || (r < 0 && !res.pcr4_extended)) {
		duk_unlock_result_free(&res);
		ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: Boot refused",
			  "PCR 4 could not be extended: not booting.");
		return 0;
	}
	if (r == 0) {
		int fd = duk_inject(m->signed_set, kexec_plan_initrd_fd(p), res.key, res.devices,
				    res.n_devices);
		duk_unlock_result_free(&res);
		if (fd >= 0 && (r = kexec_plan_set_initrd(p, fd)) == 0) {
			log_info("Disk Unlock Key injected into the initrd");
			return 1;
		}
		if (fd >= 0) {
			initrd_wipe(fd);
			close(fd);
		}
		log_error_errno(fd < 0 ? fd : r, "adding the Disk Unlock Key to the initrd");
	} else {
		_cleanup_free_ char *t2 = xasprintf("%s\n\nDo you wish to boot and use the LUKS "
						    "Disk Recovery Key?", res.reason[0] ? res.reason :
						    strerror(-r));
		duk_unlock_result_free(&res);
		r = ui_yesno(m->ui, UI_BG_WARNING, "Disk Unlock Key unavailable", t2);
		if (ui_fatal(r))
			return r;
		if (r == 1)
			return 1;
		/* PCR 4 is extended: the menu cannot go on safely (reference DIEs). */
		return go_recovery(m, "Disk Unlock Key not used and boot declined");
	}
	r = ui_yesno(m->ui, UI_BG_WARNING, "Disk Unlock Key unavailable",
		     "The initrd with the Disk Unlock Key could not be built.\n\n"
		     "Do you wish to boot and use the LUKS Disk Recovery Key?");
	if (ui_fatal(r))
		return r;
	return r == 1 ? 1 : go_recovery(m, "Disk Unlock Key initrd failed");
}

/* Right before kexec: the kernel has its copy of the plan, so ours (an
 * injected key) is wiped, and the screen is given back. */
struct handover_ctx {
	struct menu *m;
	struct kexec_plan *plan;
};

static void before_exec(void *userdata)
{
	struct handover_ctx *hc = userdata;
	kexec_plan_free(hc->plan);
	ui_close(hc->m->ui);
	hc->m->ui = NULL;
}

/* Read and check every file of the entry (the one read: what is hashed is
 * what boots), then the Disk Unlock Key, PCR 4, and describe (dry) or load
 * and execute (live). pcr4: what PCR 4 is extended with first (NULL: it
 * already was, forced boot through an unverified view). */
static int kexec_entry(struct menu *m, struct boot_view *view, const struct boot_entry *e,
		       const char *pcr4)
{
	struct kexec_opts o;
	struct kexec_plan p = {.initrd_fd = -1, .kernel = {.fd = -1}};
	bool extended = false, duk = false;
	int r;

	kexec_opts_init(&o);
	o.board_add = config_get(&m->cfg, "CONFIG_BOOT_KERNEL_ADD");
	o.remove = config_get(&m->cfg, "CONFIG_BOOT_KERNEL_REMOVE");
	r = kexec_plan_build(view, e, &o, &p);
	if (r < 0) {
		_cleanup_free_ char *t = xasprintf("Cannot boot '%s': %s%s", e->title,
						   r == -EBADMSG || r == -EPERM ?
						   "a file does not match the signed /boot" :
						   strerror(-r), r == -EBADMSG || r == -EPERM ?
						   " (see the log). Nothing was unsealed." : "");
		ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: Boot refused", t);
		return 0;
	}
	/* Disk Unlock Key (normal boots only, verified bytes only; its unlock
	 * extends PCR 4). */
	if (pcr4 && p.verified && m->tpm_on && boot_signed_file(m->signed_set,
								DUK_KEY_DEVICES_FILE) &&
	    !config_enabled(&m->cfg, "CONFIG_TPM_NO_LUKS_DISK_UNLOCK")) {
		r = duk_for_boot(m, &p);
		if (r <= 0 || m->done) {
			kexec_plan_free(&p);
			return r;
		}
		extended = true;
		duk = p.initrd_replaced;
	}
	/* The one road to the next kernel: PCR 4 (unless the Disk Unlock Key
	 * did), load (a dry run describes instead), TPM finalize (the dry run
	 * does that for real too), exec. */
	{
		_cleanup_tpm_ struct tpm *t = NULL;
		struct handover_ctx hc = {m, &p};
		struct handover h = {.plan = &p, .pcr4 = extended ? NULL : pcr4,
				     .dry_run = !m->live, .exec = true,
				     .before_exec = before_exec, .userdata = &hc};
		enum handover_step step = HANDOVER_PCR4;

		r = m->tpm_on ? menu_tpm_open(m, &t) : 0;
		if (r < 0)
			log_error_errno(r, "opening the TPM");
		else
			h.tpm = t, r = handover_boot(&h, &step);
		if (r < 0 && step == HANDOVER_PCR4) {
			kexec_plan_free(&p);
			ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: Boot refused",
				  "PCR 4 could not be extended: not booting.");
			return 0;
		}
		if (r < 0 && step != HANDOVER_EXEC) {
			kexec_plan_free(&p); /* wipes an injected key */
			_cleanup_free_ char *msg = xasprintf("Cannot boot '%s': %s", e->title,
							     strerror(-r));
			ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: Boot failed", msg);
			return go_recovery(m, "Failed default boot");
		}
		if (r < 0) {
			log_error_errno(r, "kexec");
			return finish(m, HEADS_EXIT_FAIL);
		}
	}
	ui_close(m->ui);
	m->ui = NULL;
	describe_dry(m, e, pcr4);
	printf("verified: %s\n", p.verified ? "yes" : "NO (unsafe boot)");
	if (extended)
		printf("duk: %s\n", duk ? "unlocked, key added to the initrd" :
			"not used (Disk Recovery Key)");
	if (m->tpm_on)
		printf("tpm: finalized (platform hierarchy locked)\n");
	kexec_plan_free(&p); /* wipes the key */
	return finish(m, HEADS_EXIT_OK);
}

/* Reference confirm_menu_option: what will boot, then boot / default / back.
 * Every path, module and argument as it will be used (the UI escapes
 * control bytes). Returns 1 boot, 2 make default and boot, 0 back. */
static int confirm_entry(struct menu *m, const struct boot_entry *e)
{
	static const struct ui_item items[] = {
		{"y", "Boot"},
		{"d", "Make default, sign /boot, and boot"},
		{"b", "Back to the menu"},
	};
	const char *rm = config_get(&m->cfg, "CONFIG_BOOT_KERNEL_REMOVE");
	const char *add = config_get(&m->cfg, "CONFIG_BOOT_KERNEL_ADD");
	_cleanup_free_ char *cmd = e->kind == BOOT_LINUX ?
					   bootcfg_build_cmdline(e->cmdline, NULL, rm, add, NULL) :
					   xstrdup(e->cmdline ? e->cmdline : "");
	char *t = NULL;
	int r;

	append(&t, "%s\n\n", e->title);
	append(&t, "%s%s\n", e->kind == BOOT_LINUX ? "Kernel: " : "Hypervisor: ", e->kernel);
	for (size_t i = 0; i < e->n_initrd; i++)
		append(&t, "Initrd: %s\n", e->initrd[i]);
	append(&t, "%s%s\n", e->kind == BOOT_LINUX ? "Final command line: " :
		   "Hypervisor arguments: ", cmd ? cmd : "");
	for (size_t i = 0; i < e->n_modules; i++) {
		_cleanup_free_ char *args = i == 0 && e->kind == BOOT_XEN ?
			bootcfg_build_cmdline(e->modules[i].args, NULL, rm, add, NULL) :
			xstrdup(e->modules[i].args ? e->modules[i].args : "");
		append(&t, "Module %zu: %s\n  arguments: %s\n", i + 1, e->modules[i].path, args);
	}
	r = ui_menu(m->ui, UI_BG_NORMAL, "Confirm boot details", t, items, ARRAY_SIZE(items), 0);
	free(t);
	if (ui_fatal(r))
		return r;
	return r == 0 ? 1 : r == 1 ? 2 : 0;
}

/* The OS boot menu (reference user_select). forced: an explicit unsafe boot
 * (PCR 4 was already extended with "unsafe"), read through the unverified
 * view; otherwise only what the last passed check signed is listed. */
static int boot_menu(struct menu *m, bool forced)
{
	struct boot_entries l = {0};
	_cleanup_view_ struct boot_view *view = NULL;
	int r = menu_view(m, !forced, &view);

	if (r == 0)
		r = bootcfg_scan(view, &l);
	if (r < 0 || l.n == 0) {
		_cleanup_free_ char *t = xasprintf("No %sboot entries found in %s%s%s.",
						   forced ? "" : "signed ", m->bootdir,
						   r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
		ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: No boot options", t);
		boot_entries_free(&l);
		return 0;
	}
	for (;;) {
		r = choose_entry(m, forced ? UI_BG_ERROR : UI_BG_NORMAL,
				 forced ? "UNSAFE boot: select your boot option" :
					  "Select your boot option", "", &l,
				 l.n == 1 ? 0 : (l.default_index >= 0 ? (size_t)l.default_index : 0));
		if (r < 0)
			break;
		const struct boot_entry *e = &l.v[r];
		int c = forced ? 1 : confirm_entry(m, e);
		if (ui_fatal(c)) {
			r = c;
			break;
		}
		if (c == 0)
			continue;
		if (c == 2 && save_default_signed(m, view, INTEGRITY_SIGN_KEEP, e, (unsigned)r + 1,
						   NULL, NULL, false, NULL) < 0)
			continue;
		r = kexec_entry(m, view, e, forced ? NULL : "generic");
		break;
	}
	boot_entries_free(&l);
	return r == -ECANCELED ? 0 : r;
}

/* /boot must verify before a normal boot (reference verify_global_hashes). */
/* Reference verify_global_hashes: signature, manifest, tree and rollback;
 * the default entry's own hashes matter only for booting that default. */
static bool global_ok(const struct integrity_report *r)
{
	struct integrity_report c = *r;
	c.has_default_hashes = false;
	return integrity_ok(&c);
}

/* 1 when /boot verifies (m->signed_set then holds what was signed), 0 after
 * the report (nothing to boot), <0 a fatal UI error. */
static int verified_or_report(struct menu *m, bool for_default)
{
	struct integrity_report rep = {0};
	int r;
	static const struct ui_item items[] = {
		{"i", "Investigate discrepancies"},
		{"u", "Update checksums now (sign /boot)"},
		{"m", "Return to main menu"},
	};
	_cleanup_free_ char *text = NULL;

	menu_forget_signed(m);
	r = run_integrity(m, &rep);
	if (r < 0) {
		_cleanup_free_ char *t = xasprintf("Cannot read %s: %s", m->bootdir, strerror(-r));
		ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: /boot", t);
		return 0;
	}
	if ((for_default ? integrity_ok(&rep) : global_ok(&rep)) && rep.signed_set) {
		m->signed_set = TAKE_PTR(rep.signed_set);
		integrity_report_free(&rep);
		return 1;
	}
	text = report_text(m, &rep);
	log_error("/boot does not verify: boot refused");
	r = ui_menu(m->ui, UI_BG_ERROR, "ERROR: Boot Hash Mismatch", text, items,
		    ARRAY_SIZE(items), 2);
	if (r == 0)
		r = investigate(m, &rep);
	else if (r == 1)
		r = update_checksums(m);
	integrity_report_free(&rep);
	return ui_fatal(r) ? r : 0;
}

/* Main menu d: reference attempt_default_boot, from the signed
 * kexec_default.N.txt only. */
static int default_boot(struct menu *m)
{
	struct boot_entry e = {0};
	struct boot_entries l = {0};
	_cleanup_view_ struct boot_view *view = NULL;
	unsigned idx;
	int r = verified_or_report(m, true);

	if (r <= 0)
		return r;
	r = bootcfg_signed_default(m->signed_set, &e, &idx);
	if (r == -ENOENT) {
		if ((r = menu_yes(m, UI_BG_WARNING, "No Default Boot Option Configured",
				  "There is no default boot option configured yet.\n\n"
				  "Would you like to load a menu of boot options?\n"
				  "Otherwise you will return to the main menu.")) != 1)
			return r;
		return boot_menu(m, false);
	}
	if (r < 0) {
		ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: Default boot",
			  "The default boot option (kexec_default.N.txt) is malformed.");
		return 0;
	}
	/* The saved line must still be entry N of the (signed) menu (reference
	 * default_select); the signature already covers the file itself. */
	r = menu_view(m, true, &view);
	if (r == 0)
		r = bootcfg_scan(view, &l);
	if (r < 0 || idx == 0 || idx > l.n) {
		r = 0;
	} else {
		_cleanup_free_ char *a = boot_entry_to_line(&e);
		_cleanup_free_ char *b = boot_entry_to_line(&l.v[idx - 1]);
		r = streq(a, b);
	}
	boot_entries_free(&l);
	if (!r) {
		boot_entry_free(&e);
		ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: Boot Entry Has Changed",
			  "The list of boot entries has changed.\n\nPlease set a new default.");
		return boot_menu(m, false);
	}
	r = kexec_entry(m, view, &e, "generic");
	boot_entry_free(&e);
	return r;
}

/* Options -> b -> i: reference force_unsafe_boot, with PCR 4 extended
 * first (the reference never extended it, 10.2 #6). */
static int force_unsafe_boot(struct menu *m)
{
	int r;

	if (config_enabled(&m->cfg, "CONFIG_RESTRICTED_BOOT")) {
		ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: Restricted Boot",
			  "Restricted Boot is enabled: unsafe boot is not allowed.");
		return 0;
	}
	if ((r = menu_yes(m, UI_BG_ERROR, "Unsafe Boot Warning",
			  "WARNING: Proceeding with an unsafe boot skips the /boot signature, "
			  "the checksums and the rollback counter.\n\nPCR 4 is extended now: "
			  "the TOTP and the Disk Unlock Key will not unseal until you reboot.\n\n"
			  "Do you want to proceed?")) != 1)
		return r;
	if (extend_pcr4(m, "unsafe") < 0) {
		ui_msgbox(m->ui, UI_BG_ERROR, "ERROR", "PCR 4 could not be extended: not booting.");
		return 0;
	}
	/* From here on nothing sealed to this boot's PCRs may unseal: check it,
	 * and show the outcome in the status line. */
	if (m->tpm_on && compute_totp(m) == 0)
		log_error("the TOTP still unseals after extending PCR 4: the seal does "
			  "not cover PCR 4");
	else if (m->tpm_on)
		log_info("TOTP no longer unseals in this boot: %s", m->totp_reason);
	snprintf(m->totp, sizeof(m->totp), "UNSAFE BOOT");
	m->bg = UI_BG_ERROR;
	refresh_status(m);
	return boot_menu(m, true);
}

/* --- other screens --------------------------------------------------- */

static int system_info(struct menu *m)
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
	return r;
}

static int tpm_options(struct menu *m)
{
	static const struct ui_item items[] = {
		{"g", "Generate new TOTP/HOTP secret"},
		{"r", "Reset the TPM"},
		{"t", "TOTP/HOTP does not match after refresh, troubleshoot"},
		{"m", "Return to main menu"},
	};
	int r = ui_menu(m->ui, UI_BG_NORMAL, "TPM/TOTP/HOTP Options", "", items,
			ARRAY_SIZE(items), 0);
	if (ui_fatal(r))
		return r;
	switch (r) {
	case 0:
		return generate_totp(m, NULL);
	case 1:
		r = integrity_report_screen(m);
		if (ui_fatal(r) || m->done)
			return r;
		return reset_tpm(m);
	case 2: {
		char date[64];
		utc_now(date);
		_cleanup_free_ char *t = xasprintf(
			"The system time is %s.\n\nTOTP codes depend on the time: if it is "
			"wrong, the codes will not match your phone. If the time is right and "
			"the codes still differ, the firmware or its configuration changed.",
			date);
		return ui_msgbox(m->ui, UI_BG_NORMAL, "Time", t);
	}
	default:
		return 0;
	}
}

static int boot_options(struct menu *m)
{
	static const struct ui_item items[] = {
		{"m", "Show OS boot menu"},
		{"u", "USB boot"},
		{"i", "Ignore tampering and force a boot (Unsafe!)"},
		{"r", "Return to main menu"},
	};
	int r = ui_menu(m->ui, UI_BG_NORMAL, "Boot Options", "Select a boot option:", items,
			ARRAY_SIZE(items), 0);
	if (ui_fatal(r))
		return r;
	switch (r) {
	case 0:
		r = verified_or_report(m, false);
		return r <= 0 ? r : boot_menu(m, false);
	case 1:
		unavailable(m, "USB boot", "issue: USB/ISO boot");
		return 0;
	case 2:
		return force_unsafe_boot(m);
	default:
		return 0;
	}
}

/* Save one setting in the user config (RAM) and apply it now. */
static int set_setting(struct menu *m, const char *key, const char *value)
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
static int config_menu(struct menu *m)
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
			return r;
		switch (r) {
		case 0:
			r = ui_input(m->ui, "/boot device", "Block device holding /boot", dev, &in);
			if (r == 0 && *in)
				r = set_setting(m, "CONFIG_BOOT_DEV", in);
			break;
		case 1:
			r = ui_menu(m->ui, UI_BG_NORMAL, "Automatic boot",
				    "Boot the default entry after a countdown:", secs,
				    ARRAY_SIZE(secs), 0);
			if (r >= 0)
				r = set_setting(m, "CONFIG_AUTO_BOOT_TIMEOUT", secs[r].key);
			break;
		case 2:
			r = menu_rom_store_config(m);
			if (r == 1)
				return after_rom_write(m);
			break;
		default:
			return 0;
		}
		if (ui_gone(r))
			return r;
	}
}

/* Reference GPG Options (9): the ROM keyring. Flashing a standalone
 * firmware image and on-card key generation need hardware and a flasher
 * this build does not drive. */
static int gpg_options(struct menu *m)
{
	static const struct ui_item items[] = {
		{"r", "Add a GPG key to the ROM keyring and write the ROM"},
		{"e", "Replace the GPG key(s) in the ROM keyring and write the ROM"},
		{"l", "List the keys in the ROM keyring"},
		{"x", "Exit"},
	};
	int r = ui_menu(m->ui, UI_BG_NORMAL, "GPG Options", "Select a GPG option:", items,
			ARRAY_SIZE(items), 2);
	if (ui_fatal(r))
		return r;
	switch (r) {
	case 0:
	case 1:
		r = menu_gpg_rom_keys(m, r == 1);
		return r == 1 ? after_rom_write(m) : r;
	case 2:
		return menu_gpg_list_keys(m);
	default:
		return 0;
	}
}

static int options_menu(struct menu *m)
{
	static const struct ui_item items[] = {
		{"b", "Boot Options -->"},
		{"t", "TPM/TOTP/HOTP Options -->"},
		{"i", "Investigate integrity discrepancies"},
		{"u", "Update checksums and sign all files in /boot"},
		{"c", "Change configuration settings -->"},
		{"f", "Flash/Update the BIOS -->"},
		{"g", "GPG Options -->"},
		{"F", "OEM Factory Reset / Re-Ownership -->"},
		{"C", "Reencrypt LUKS container -->"},
		{"P", "Change LUKS Disk Recovery Key passphrase ->"},
		{"k", "Set up / reseal the LUKS TPM Disk Unlock Key -->"},
		{"x", "Exit to recovery shell"},
		{"r", "<-- Return to main menu"},
	};
	int r = ui_menu(m->ui, UI_BG_NORMAL, "Heads Options", "Select an option:", items,
			ARRAY_SIZE(items), 0);
	if (ui_fatal(r))
		return r;
	switch (items[r < 0 ? ARRAY_SIZE(items) - 1 : (size_t)r].key[0]) {
	case 'b':
		return boot_options(m);
	case 't':
		return tpm_options(m);
	case 'i':
		r = integrity_report_screen(m);
		return ui_fatal(r) ? r : 0;
	case 'u':
		return update_checksums(m);
	case 'c':
		return config_menu(m);
	case 'f':
		unavailable(m, "Flashing the BIOS", "issue: firmware update");
		return 0;
	case 'g':
		return gpg_options(m);
	case 'F':
		return ownership(m, false);
	case 'C':
		return menu_luks_reencrypt(m);
	case 'P':
		return menu_luks_change_drk(m);
	case 'k':
		return menu_duk_setup(m, NULL, NULL, NULL, false);
	case 'x':
		return go_recovery(m, "requested from the options menu");
	default:
		return 0;
	}
}

static int main_menu(struct menu *m)
{
	static const struct ui_item items[] = {
		{"d", "Default boot"},
		{"r", "Refresh TOTP/HOTP"},
		{"o", "Options -->"},
		{"s", "System Info"},
		{"p", "Power Off"},
	};
	char date[64];
	_cleanup_free_ char *title = xasprintf("%s | Heads Boot Menu",
					       m->board && *m->board ? m->board : "Heads");
	_cleanup_free_ char *text = NULL;
	int r;

	utc_now(date);
	text = xasprintf("%s\nTOTP: %s%s%s", date, m->totp, *m->hotp ? " | HOTP: " : "",
			 m->hotp);
	refresh_status(m);
	r = ui_menu(m->ui, m->bg, title, text, items, ARRAY_SIZE(items), 0);
	if (ui_fatal(r))
		return r;
	switch (r) {
	case 0:
		return default_boot(m);
	case 1:
		m->skip_to_menu = false;
		m->bg = UI_BG_NORMAL;
		update_hotp(m);
		return update_totp(m);
	case 2:
		return options_menu(m);
	case 3:
		return system_info(m);
	case 4:
		return power_off(m);
	default:
		return 0; /* Esc: redisplay */
	}
}

/* --- start-up checks ----------------------------------------------------- */

/* Reference rollback preflight (heads-behaviour.md 2.5), in return mode.
 * 0 passes; else the reason in *ret. */
static int rollback_preflight(struct menu *m, char **ret)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", m->bootdir, ROLLBACK_FILE), *buf = NULL;
	_cleanup_tpm_ struct tpm *t = NULL;
	struct rollback_result res = {0};
	size_t len;
	int r;

	if (!m->tpm_on || config_enabled(&m->cfg, "CONFIG_IGNORE_ROLLBACK"))
		return 0;
	r = fs_read_file(p, ROLLBACK_MAX_FILE, &buf, &len);
	if (r == -ENOENT) {
		if (menu_boot_has(m, "kexec.sig") || menu_boot_has(m, "kexec_default_hashes.txt")) {
			*ret = xstrdup("Boot integrity counter file missing: /boot has signed "
				       "metadata but no kexec_rollback.txt.");
			return -ENOENT;
		}
		return 0; /* first ownership */
	}
	if (r < 0) {
		*ret = xasprintf("%s cannot be read: %s", p, strerror(-r));
		return r;
	}
	if ((r = menu_tpm_open(m, &t)) < 0) {
		*ret = xasprintf("The TPM cannot be opened: %s", strerror(-r));
		return r;
	}
	r = rollback_verify(t, buf, len, &res);
	if (r < 0 || res.state != ROLLBACK_OK) {
		*ret = xasprintf("TPM integrity counter %s%s%s. This can mean the TPM was "
				 "reset or swapped, or /boot was replaced by an older copy.",
				 r < 0 ? "cannot be checked" : rollback_state_name(res.state),
				 res.detail[0] ? ": " : "", res.detail);
		return r < 0 ? r : -EBADMSG;
	}
	return 0;
}

static int preflight_menu(struct menu *m)
{
	static const struct ui_item items[] = {
		{"i", "Show integrity report"},
		{"o", "OEM Factory Reset / Re-Ownership"},
		{"t", "Reset the TPM"},
		{"m", "Continue to main menu"},
	};
	for (;;) {
		_cleanup_free_ char *why = NULL, *text = NULL;
		int r = rollback_preflight(m, &why);

		if (r == 0) {
			m->preflight_failed = false;
			return 0;
		}
		m->preflight_failed = true;
		m->bg = UI_BG_ERROR;
		text = xasprintf("%s\n\nThe rollback counter that binds your signed /boot to "
				 "this TPM does not match. Until it is fixed, TOTP/HOTP are not "
				 "checked and /boot cannot be re-signed.", why);
		r = ui_menu(m->ui, UI_BG_ERROR, "ERROR: TPM State Inconsistent", text, items,
			    ARRAY_SIZE(items), 0);
		if (ui_fatal(r))
			return r;
		switch (r) {
		case 0:
			r = integrity_report_screen(m);
			break;
		case 1:
			r = ownership(m, false);
			break;
		case 2:
			r = reset_tpm(m);
			break;
		default:
			m->skip_to_menu = true;
			return 0;
		}
		if (ui_fatal(r) || m->done)
			return r;
	}
}

static int gpg_key_check(struct menu *m)
{
	static const struct ui_item items[] = {
		{"g", "Add a GPG key to the running BIOS"},
		{"F", "OEM Factory Reset / Re-Ownership"},
		{"i", "Ignore error and continue to main menu"},
		{"x", "Exit to recovery shell"},
	};
	int n = keyring_count(m->keyring), r;

	if (n > 0)
		return 0;
	m->bg = UI_BG_ERROR;
	if (m->skip_to_menu)
		return 0;
	r = ui_menu(m->ui, UI_BG_ERROR, "ERROR: GPG keyring empty!",
		    "ERROR: Heads couldn't find any GPG keys in your keyring.\n\n"
		    "If this is the first time the system has booted, you should add a "
		    "public GPG key to the BIOS now.\n\nIf you just reflashed a new BIOS, "
		    "you'll need to add at least one public key to the keyring.\n\n"
		    "If you have not just reflashed your BIOS, THIS COULD INDICATE TAMPERING!",
		    items, ARRAY_SIZE(items), 0);
	if (ui_fatal(r))
		return r;
	switch (r) {
	case 0:
		r = menu_gpg_rom_keys(m, false);
		return r == 1 ? after_rom_write(m) : r;
	case 1:
		return ownership(m, false);
	case 3:
		return go_recovery(m, "GPG keyring empty");
	default:
		m->skip_to_menu = true;
		return 0;
	}
}

static int no_boot_menu(struct menu *m)
{
	static const struct ui_item items[] = {
		{"b", "Select a new boot device"},
		{"u", "Boot from USB"},
		{"m", "Continue to the main menu"},
		{"x", "Exit to recovery shell"},
	};
	_cleanup_free_ char *text = xasprintf(
		"Heads couldn't find a /boot to use (%s is empty or missing).\n\n"
		"Please select a new boot device, boot from USB, or continue.", m->bootdir);
	int r = ui_menu(m->ui, UI_BG_ERROR, "ERROR: No /boot Partition Found", text, items,
			ARRAY_SIZE(items), 2);
	if (ui_fatal(r))
		return r;
	switch (r) {
	case 0: {
		_cleanup_free_ char *dev = NULL, *err = NULL;
		r = ui_input(m->ui, "Boot device", "Block device holding /boot (saved as "
			     "CONFIG_BOOT_DEV; used from the next boot)",
			     config_get(&m->cfg, "CONFIG_BOOT_DEV"), &dev);
		if (r < 0)
			return ui_fatal(r) ? r : 0;
		if (config_set(m->user_config, "CONFIG_BOOT_DEV", dev, &err) < 0)
			ui_msgbox(m->ui, UI_BG_ERROR, "ERROR", err ? err : "saving failed");
		return 0;
	}
	case 1:
		unavailable(m, "USB boot", "issue: USB/ISO boot");
		return 0;
	case 3:
		return go_recovery(m, "no /boot partition found");
	default:
		m->skip_to_menu = true;
		return 0;
	}
}

static bool boot_populated(const struct menu *m)
{
	DIR *d = opendir(m->bootdir);
	struct dirent *de;
	bool any = false;

	if (!d)
		return false;
	while (!any && (de = readdir(d)))
		any = !streq(de->d_name, ".") && !streq(de->d_name, "..") &&
		      !streq(de->d_name, "lost+found");
	closedir(d);
	return any;
}

/* --- first-boot ownership (heads-behaviour.md 7.4, 1.10 reset_tpm) ------ */

/* An in-memory signing key (RSA 3072 by default, CONFIG_GPG_ALGO=p256 for
 * NIST P-256) protected by pass, in the GnuPG home m->gnupghome; its public
 * key imported into the ROM keyring. The fingerprint goes to fpr (41). */
static int generate_gpg_key(struct menu *m, const char *uid, const struct secret *pass,
			    char *fpr)
{
	gpgme_ctx_t ctx = NULL;
	gpgme_genkey_result_t res;
	gpgme_data_t pub = NULL;
	struct menu_gpgme_pass gp = {.pass = pass};
	const char *algo = config_get(&m->cfg, "CONFIG_GPG_ALGO");
	gpgme_error_t e;
	int r = -EIO;

	algo = algo && (streq(algo, "p256") || streq(algo, "ECC")) ? "nistp256" : "rsa3072";
	if (gpg_context(m->gnupghome, GPG_CTX_MKDIR | GPG_CTX_LOOPBACK, &ctx) < 0)
		return -EIO;
	gpgme_set_passphrase_cb(ctx, menu_gpgme_pass_cb, &gp);
	e = gpgme_op_createkey(ctx, uid, algo, 0, 0, NULL,
			       GPGME_CREATE_SIGN | GPGME_CREATE_CERT | GPGME_CREATE_FORCE);
	if (e) {
		log_error("GPG key generation failed: %s", gpgme_strerror(e));
		goto out;
	}
	res = gpgme_op_genkey_result(ctx);
	if (!res || !res->fpr)
		goto out;
	snprintf(fpr, 41, "%s", res->fpr);
	/* Public key into the ROM keyring (when it is another GnuPG home). */
	if (!streq(m->keyring, m->gnupghome)) {
		gpgme_ctx_t kctx = NULL;
		if (gpgme_data_new(&pub) || gpgme_op_export(ctx, fpr, 0, pub))
			goto out;
		if (gpg_context(m->keyring, GPG_CTX_MKDIR, &kctx) < 0)
			goto out;
		gpgme_data_seek(pub, 0, SEEK_SET);
		e = gpgme_op_import(kctx, pub);
		gpgme_release(kctx);
		if (e) {
			log_error("importing the public key into %s: %s", m->keyring,
				  gpgme_strerror(e));
			goto out;
		}
	}
	log_info("GPG key %s generated; public key in %s", fpr, m->keyring);
	r = 0;
out:
	gpgme_data_release(pub);
	gpgme_release(ctx);
	return r;
}

int menu_ask_new_passphrase(struct menu *m, const char *title, const char *what,
			      size_t min, size_t max, struct secret **ret)
{
	for (int attempt = 0; attempt < 3; attempt++) {
		_cleanup_secret_ struct secret *a = NULL, *b = NULL;
		_cleanup_free_ char *p1 = xasprintf("New %s (%zu-%zu characters)", what, min, max);
		_cleanup_free_ char *p2 = xasprintf("Repeat the new %s", what);
		int r = ui_passphrase(m->ui, title, p1, max, &a);
		if (r < 0 && r != -EFBIG)
			return r;
		if (r == -EFBIG || a->len < min) {
			ui_msgbox(m->ui, UI_BG_WARNING, title, "Wrong length, try again.");
			continue;
		}
		r = ui_passphrase(m->ui, title, p2, max, &b);
		if (r < 0 && r != -EFBIG)
			return r;
		if (r < 0 || !secret_equal(a, b)) {
			ui_msgbox(m->ui, UI_BG_WARNING, title, "The entries do not match.");
			continue;
		}
		*ret = TAKE_PTR(a);
		return 0;
	}
	return -EACCES;
}

/* Reference "Clean Boot Detected" / OEM Factory Reset / Re-Ownership.
 * TPM reset with a new owner passphrase; a GPG key generated in memory; its
 * public key into the ROM keyring; choose the default entry; sign /boot
 * (creating the rollback counter); seal the TOTP and show its QR code. */
static int ownership(struct menu *m, bool clean_boot)
{
	_cleanup_secret_ struct secret *owner = NULL, *gpgpass = NULL;
	_cleanup_free_ char *uid = NULL;
	char fpr[41] = "";
	int r;

	if ((r = menu_yes(m, UI_BG_WARNING,
			  clean_boot ? "Clean Boot Detected - Take Ownership?" :
				  "OEM Factory Reset / Re-Ownership",
			  clean_boot ?
			  "No signed /boot and no GPG key were found: this looks like the first "
			  "boot.\n\nTaking ownership will reset the TPM with a new owner "
			  "passphrase, generate a GPG signing key, sign /boot, set the default "
			  "boot entry and seal a new TOTP secret.\n\nContinue?" :
			  "This will RESET THE TPM, replace the GPG signing key, re-sign /boot "
			  "and seal a new TOTP secret. Everything sealed before (TOTP, disk "
			  "unlock key) is lost.\n\nContinue?")) != 1)
		return r;

	/* 1. TPM reset with a new owner passphrase. */
	if (m->tpm_on) {
		_cleanup_tpm_ struct tpm *t = NULL;
		if ((r = menu_ask_new_passphrase(m, "TPM Owner Passphrase", "TPM owner passphrase",
					    1, OWNER_PASS_MAX, &owner)) < 0)
			return ui_fatal(r) && r != -EACCES ? r : 0;
		_cleanup_free_ char *name = NULL;
		r = menu_tpm_open(m, &t);
		if (r == 0)
			r = tpm_reset(t, owner);
		/* Record the new primary's Name in the owner's config (written
		 * into the ROM with the keyring, measured into PCR 7). */
		if (r == 0)
			r = tpm_primary_name(t, &name);
		const char *step = "Resetting the TPM";
		if (r == 0) {
			_cleanup_free_ char *err = NULL;
			step = "Recording the TPM primary key in the configuration";
			r = config_set(m->user_config, CMD_CONFIG_PRIMARY_NAME, name, &err);
			if (r == 0)
				r = config_load(&m->cfg, m->user_config, &err);
			if (r < 0)
				log_error("recording the TPM primary key: %s", err ? err : strerror(-r));
		}
		if (r < 0) {
			_cleanup_free_ char *e = xasprintf("%s failed: %s", step, strerror(-r));
			ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: TPM reset failed", e);
			return 0;
		}
		log_info("TPM reset with a new owner passphrase");
	}

	/* 2. GPG signing key, in memory, passphrase-protected. */
	if ((r = menu_ask_new_passphrase(m, "GPG key passphrase", "GPG key passphrase (Admin PIN)",
				    8, GPG_PIN_MAX, &gpgpass)) < 0)
		return ui_fatal(r) && r != -EACCES ? r : 0;
	r = ui_input(m->ui, "GPG key identity", "Name and e-mail of the key",
		     "OEM Key <oem@example.com>", &uid);
	if (r < 0)
		return ui_fatal(r) ? r : 0;
	ui_progress(m->ui, "GPG", "Generating the signing key", 10);
	r = generate_gpg_key(m, uid, gpgpass, fpr);
	ui_progress_end(m->ui);
	if (r < 0) {
		ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: GPG", "Generating the GPG key failed.");
		return 0;
	}
	/* 2b. Encrypted backup of the secret key (optional). */
	if (ui_gone(r = menu_gpg_backup(m, fpr, gpgpass)))
		return r;
	/* 2c. The public key into the ROM keyring: the next boot verifies /boot
	 * with it. The ROM is measured into PCR 7: what is sealed from here on
	 * is sealed to the next boot's PCR 7. */
	r = menu_rom_store_keyring(m);
	if (ui_gone(r))
		return r;
	if (r == 1) {
		m->rom_written = true;
		m->have_next_pcr7 = menu_next_pcr7(m, m->next_pcr7) == 0;
		if (!m->have_next_pcr7)
			log_warn("PCR 7 of the next boot cannot be predicted (no base saved by "
				 "init): sealing to the current PCR 7");
	}

	/* 3. Default entry (the user's choice), signed with /boot in step 4. */
	struct boot_entries l = {0};
	_cleanup_view_ struct boot_view *view = NULL;
	long chosen = -1;
	{
		/* what the owner is about to sign: the unverified view */
		r = menu_view(m, false, &view);
		if (r == 0)
			r = bootcfg_scan(view, &l);
		if (r == 0 && l.n > 0) {
			r = choose_entry(m, UI_BG_NORMAL, "Default boot entry",
					 "Choose the entry booted by 'Default boot':", &l,
					 l.default_index >= 0 ? (size_t)l.default_index : 0);
			if (r >= 0)
				chosen = r;
		} else {
			log_warn("no boot entries in %s: no default set", m->bootdir);
			r = 0;
		}
		if (r == -EPROTO || r == -EPIPE) {
			boot_entries_free(&l);
			return r;
		}
	}

	/* 4. Sign /boot with the new key: a fresh rollback counter (the TPM was
	 * just cleared), the default entry files staged with the rest. */
	uint32_t counter = 0;
	r = chosen >= 0 ? save_default_signed(m, view, INTEGRITY_SIGN_REGENERATE, &l.v[chosen],
					      (unsigned)chosen + 1, owner, fpr, m->tpm_on,
					      &counter) :
			  sign_boot_with(m, INTEGRITY_SIGN_REGENERATE, owner, fpr, NULL, 0,
					 m->tpm_on, &counter);
	boot_entries_free(&l);
	if (r == -EPROTO || r == -EPIPE)
		return r;
	if (r < 0)
		return 0;

	/* 4b. The machine has a rollback counter now: from here on a /boot
	 * without it (an older copy) must fail (CONFIG_BOOT_REQ_ROLLBACK), and
	 * only this counter binds it. Kept in the ROM config area with the
	 * keyring (measured into PCR 7: predicted again below). */
	if (counter) {
		_cleanup_free_ char *id = xasprintf("0x%x", counter);
		if ((r = set_setting(m, "CONFIG_BOOT_REQ_ROLLBACK", "y")) < 0 ||
		    (r = set_setting(m, "CONFIG_ROLLBACK_COUNTER", id)) < 0)
			return r;
		r = menu_rom_store_user_config(m);
		if (r == -ENOENT)
			log_warn("no ROM config area: CONFIG_BOOT_REQ_ROLLBACK holds only until "
				 "the next reboot");
		else if (r < 0)
			log_warn("the rollback requirement is not stored in the ROM: %s",
				 strerror(-r));
		else
			m->have_next_pcr7 = menu_next_pcr7(m, m->next_pcr7) == 0;
	}

	/* 5. TOTP secret, sealed, shown as a QR code. */
	if (m->tpm_on) {
		_cleanup_tpm_ struct tpm *t = NULL;
		if ((r = menu_tpm_open(m, &t)) == 0)
			r = seal_totp_with(m, t, owner);
		if (r == -EPROTO || r == -EPIPE)
			return r;
	}
	/* 6. Disk Unlock Key (optional; offered when there are containers). */
	if (m->tpm_on) {
		r = menu_duk_setup(m, NULL, owner, fpr, true);
		if (ui_gone(r))
			return r;
	}
	{
		_cleanup_free_ char *t = xasprintf(
			"Ownership complete.\n\nGPG key: %s\nGPG public key: in %s%s\n"
			"TPM: %s%s", fpr, m->keyring,
			m->rom_written ? " and in the ROM" : " (NOT in the ROM: lost at reboot)",
			m->tpm_on ? "reset with your new owner passphrase" : "none",
			m->rom_written ? "\n\nThe ROM changed: the machine reboots now, and the "
					 "TOTP is shown from the next boot on." : "");
		r = ui_msgbox(m->ui, UI_BG_NORMAL, "OEM Factory Reset / Re-Ownership", t);
		if (ui_gone(r))
			return r;
	}
	if (m->rom_written)
		return power_off_how(m, RB_AUTOBOOT);
	m->skip_to_menu = false;
	m->bg = UI_BG_NORMAL;
	update_hotp(m);
	return update_totp(m);
}

static int startup(struct menu *m)
{
	int r;

	/* /boot */
	while (!boot_populated(m)) {
		r = no_boot_menu(m);
		if (ui_fatal(r) || m->done)
			return r;
		if (m->skip_to_menu)
			break;
	}
	/* Clean boot: no kexec*.txt and an empty keyring. */
	if (boot_populated(m) && !boot_has_kexec_txt(m) && keyring_count(m->keyring) == 0) {
		r = ownership(m, true);
		if (ui_fatal(r) || m->done)
			return r;
	}
	r = preflight_menu(m);
	if (ui_fatal(r) || m->done)
		return r;
	if (m->preflight_failed) {
		/* Reference: GPG/TOTP/HOTP checks are skipped entirely. */
		snprintf(m->totp, sizeof(m->totp), "%s", "");
		return 0;
	}
	r = gpg_key_check(m);
	if (ui_fatal(r) || m->done)
		return r;
	update_hotp(m);
	r = update_totp(m);
	if (ui_fatal(r) || m->done)
		return r;
	/* Auto-boot only with a successful HOTP, as the reference. */
	if (streq(m->hotp, "Success") && config_get(&m->cfg, "CONFIG_AUTO_BOOT_TIMEOUT")) {
		unsigned long long secs;
		if (parse_uint(config_get(&m->cfg, "CONFIG_AUTO_BOOT_TIMEOUT"), 3600, &secs) == 0 &&
		    secs > 0) {
			_cleanup_free_ char *t = xasprintf("Automatic boot in %llu seconds unless "
							   "interrupted by keypress...", secs);
			r = ui_countdown(m->ui, t, (unsigned)secs);
			if (ui_fatal(r))
				return r;
			if (r == 0)
				return default_boot(m);
		}
	}
	return 0;
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
		{},
	};
	struct menu m = {
		.bootdir = DEFAULT_BOOT, .keyring = DEFAULT_KEYRING,
		.user_config = BOARD_USER_CONFIG, .secret_dir = DEFAULT_SECRET_DIR,
		.eventlog = DEFAULT_EVENTLOG,
	};
	struct ui_options uo;
	_cleanup_free_ char **files = NULL;
	size_t n_files = 0;
	bool no_act = false;
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
		case 'S': uo.script_path = optarg; break;
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
	refresh_status(&m);

	r = startup(&m);
	while (!m.done && !ui_fatal(r))
		r = main_menu(&m);
	if (!m.done)
		m.exit_code = (r == -EPROTO || r == -EPIPE || r == -ENOKEY) ? EXIT_UI :
			      HEADS_EXIT_FAIL;
	ui_close(m.ui);
	config_free(&m.cfg);
	menu_forget_signed(&m);
	return m.exit_code;
}

const struct heads_command cmd_menu = {
	.name = "menu",
	.summary = "the boot menu: checks, TOTP, integrity report, boot, ownership",
	.usage = usage,
	.run = run,
};
