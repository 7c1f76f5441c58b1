/* flow/hotp.c - HOTP with a USB security dongle in the menu (issue 17;
 * heads-behaviour.md §1.3 update_hotp, §6.3): the check at start-up and
 * at Refresh (TPM code for the /boot counter, checked by the dongle: status
 * "HOTP: Success / Invalid code / No dongle / Not configured / ..."), the
 * "Please insert your <brand>" prompt (retry/skip), the failure menus, the
 * firmware-version notice, and the enrolment of the HOTP secret into the
 * dongle right after a new TOTP secret was sealed.
 *
 * Only on boards with CONFIG_HOTPKEY=y; elsewhere the HOTP field stays empty
 * (the status line shows no HOTP at all). m->hotp_success is true only when
 * a code was computed and the dongle accepted it: auto-boot is gated on it. */
#include "boot/integrity.h"
#include "cmd/cmd.h"
#include "dongle/dongle.h"
#include "dongle/hotp_boot.h"
#include "flow/menu.h"
#include "flow/recovery.h"
#include "fs.h"
#include "log.h"
#include "otp.h"
#include "secret.h"
#include "tpm_otp.h"
#include "ui/ui.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Test builds only (tests/devices/model_transport.c, linked into
 * heads-dongle-test): a device model instead of USB. NULL in `heads`. */
extern enum dongle_result dongle_test_model_open(const char *spec, struct dongle **ret)
	__attribute__((weak, visibility("hidden")));

#define DEFAULT_BRAND "USB Security dongle"

bool menu_hotp_test_build(void)
{
	return dongle_test_model_open != NULL;
}

bool menu_hotp_enabled(const struct menu *m)
{
	return config_enabled(&m->cfg, "CONFIG_HOTPKEY");
}

static const char *brand(const struct menu *m)
{
	return m->hotp_brand ? m->hotp_brand : DEFAULT_BRAND;
}

static enum dongle_result open_once(struct menu *m, struct dongle **ret)
{
	const struct dongle_id *id = NULL;
	enum dongle_result dr;

	if (m->dongle_model)
		dr = dongle_test_model_open(m->dongle_model, ret);
	else
		dr = dongle_open(NULL, ret, &id);
	if (dr == DONGLE_OK)
		id = dongle_get_id(*ret);
	if (id)
		m->hotp_brand = id->brand;
	return dr;
}

/* A usable dongle, asking to insert one (Retry/Skip) while there is none.
 * Returns 0 with *ret_dr (DONGLE_OK: *ret open), or a fatal UI error. */
static int get_dongle(struct menu *m, struct dongle **ret, enum dongle_result *ret_dr)
{
	enum dongle_result dr;
	int r;

	for (;;) {
		dr = open_once(m, ret);
		if (dr == DONGLE_OK || dr == DONGLE_NOT_SUPPORTED || m->skip_to_menu)
			break;
		_cleanup_free_ char *title = xasprintf("Please insert your %s", brand(m));
		_cleanup_free_ char *text = xasprintf(
			"Your %s was not found (%s).\n\nInsert it and choose Yes to retry, or No "
			"to skip the HOTP check.", brand(m), dongle_result_str(dr));
		r = menu_yes(m, UI_BG_WARNING, title, text);
		if (r < 0)
			return r;
		if (r == 0)
			break;
	}
	*ret_dr = dr;
	return 0;
}

/* The dongle's firmware version, once per menu session, with the
 * reference's advice (etc/dongle-versions minima). */
static int firmware_notice(struct menu *m, struct dongle *d)
{
	struct dongle_info i;
	const char *advice = "";
	bool old = false;

	if (m->hotp_fw_shown || m->skip_to_menu || dongle_info(d, &i) != DONGLE_OK)
		return 0;
	m->hotp_fw_shown = true;
	switch (i.kind) {
	case DONGLE_KIND_NK3:
		old = i.fw_major < 1 || (i.fw_major == 1 && (i.fw_minor < 8 ||
							      (i.fw_minor == 8 && i.fw_patch < 3)));
		if (old)
			advice = "\n\nVersion 1.8.3 or newer is recommended: update it with "
				 "nitropy on another computer.";
		break;
	case DONGLE_KIND_NK_PRO:
		old = i.fw_major == 0 && i.fw_minor < 15;
		if (i.fw_major == 0 && i.fw_minor < 11)
			advice = "\n\nVersion 0.15 or newer is recommended; this version can only "
				 "be upgraded with an external programmer.";
		else if (old)
			advice = "\n\nVersion 0.15 or newer is recommended: update it with "
				 "nitropy on another computer.";
		break;
	case DONGLE_KIND_LIBREM_KEY:
		advice = "\n\nThe Librem Key firmware cannot be upgraded by its user.";
		break;
	default:
		break;
	}
	_cleanup_free_ char *text = xasprintf("%s firmware version: %s%s", i.brand, i.firmware,
					      advice);
	log_info("%s firmware %s", i.brand, i.firmware);
	return ui_gone(ui_msgbox(m->ui, old ? UI_BG_WARNING : UI_BG_NORMAL,
				 "USB Security dongle firmware", text)) ? -EPIPE : 0;
}

static bool totp_ok(const struct menu *m)
{
	return strlen(m->totp) == OTP_DIGITS && strspn(m->totp, "0123456789") == OTP_DIGITS;
}

static void set_hotp(struct menu *m, const char *word, enum ui_bg bg)
{
	snprintf(m->hotp, sizeof(m->hotp), "%s", word);
	if (bg > m->bg)
		m->bg = bg;
	menu_refresh_status(m);
}

/* After a failed check: generate a new secret (gate + enrolment), then
 * check again. */
static enum flow_outcome regenerate(struct menu *m)
{
	enum flow_outcome o = menu_generate_totp(m, NULL);

	if (o != FLOW_BACK)
		return o;
	return menu_update_hotp(m);
}

static enum flow_outcome failure_menu(struct menu *m, enum ui_bg bg, const char *title, const char *text,
			bool retry)
{
	static const struct ui_item fail_items[] = {
		{"g", "Generate new TOTP/HOTP secret"},
		{"i", "Ignore error and continue to main menu"},
		{"x", "Exit to recovery shell"},
	};
	static const struct ui_item retry_items[] = {
		{"r", "Retry the HOTP check"},
		{"i", "Ignore error and continue to main menu"},
	};
	int r;

	if (m->skip_to_menu)
		return FLOW_BACK;
	r = ui_menu(m->ui, bg, title, text, retry ? retry_items : fail_items,
		    retry ? ARRAY_SIZE(retry_items) : ARRAY_SIZE(fail_items), 0);
	if (ui_fatal(r))
		return menu_outcome(m, r);
	if (retry && r == 0)
		return menu_update_hotp(m);
	if (retry) {
		/* reference: Ignore clears the gate (no code is not tampering) */
		m->gate_required = false;
		m->skip_to_menu = true;
		return FLOW_BACK;
	}
	switch (r) {
	case 0:
		return regenerate(m);
	case 2:
		return menu_go_recovery(m, title);
	default:
		m->skip_to_menu = true;
		return FLOW_BACK;
	}
}

enum flow_outcome menu_update_hotp(struct menu *m)
{
	_cleanup_dongle_ struct dongle *d = NULL;
	_cleanup_tpm_ struct tpm *t = NULL;
	_cleanup_free_ char *path = NULL, *text = NULL, *mp = NULL;
	unsigned long mflags = 0;
	struct hotp_boot_result res;
	enum dongle_result dr;
	int r;

	m->hotp_success = false;
	if (!menu_hotp_enabled(m)) {
		m->hotp[0] = '\0';
		return FLOW_BACK;
	}
	if (!m->tpm_on || !totp_ok(m)) {
		/* no TOTP secret to compute the code with (reference: update_totp
		 * && update_hotp) */
		set_hotp(m, "Unverified", UI_BG_NORMAL);
		return FLOW_BACK;
	}
	if ((r = get_dongle(m, &d, &dr)) < 0)
		return menu_outcome(m, r);
	if (dr == DONGLE_NOT_SUPPORTED) {
		set_hotp(m, "Not supported", UI_BG_WARNING);
		text = xasprintf("HOTP not supported by this dongle (%s).", brand(m));
		r = ui_msgbox(m->ui, UI_BG_WARNING, "HOTP", text);
		return ui_gone(r) ? FLOW_UI_GONE : FLOW_BACK;
	}
	if (dr != DONGLE_OK) {
		set_hotp(m, "No dongle", UI_BG_WARNING);
		return FLOW_BACK;
	}
	if ((r = firmware_notice(m, d)) < 0)
		return menu_outcome(m, r);
	path = xasprintf("%s/%s", m->bootdir, OTP_COUNTER_FILE);
	/* /boot is mounted read-only: rw for the counter file, ro after */
	if ((r = menu_tpm_open(m, &t)) < 0)
		res = (struct hotp_boot_result){.code_error = r, .stage = HOTP_STAGE_TPM};
	else if ((r = integrity_boot_writable(m->bootdir, &mp, &mflags)) < 0)
		res = (struct hotp_boot_result){.code_error = r, .stage = HOTP_STAGE_WRITE};
	else {
		r = hotp_boot_verify(t, 0, path, d, &res);
		(void)integrity_boot_restore_ro(mp, mflags);
		if (r < 0)
			res = (struct hotp_boot_result){.code_error = r, .stage = HOTP_STAGE_READ};
	}
	set_hotp(m, hotp_status_word(&res), UI_BG_NORMAL);
	if (res.code_error) {
		_cleanup_free_ char *why = res.stage == HOTP_STAGE_TPM
			? tpm_otp_reason(t, res.code_error, TPM_OTP_DEFAULT_PCRS)
			: xasprintf("%s: %s", path, res.stage == HOTP_STAGE_READ
				    ? hotp_counter_reason(res.code_error)
				    : strerror(-res.code_error));
		log_warn("HOTP: no code: %s", why);
		m->gate_required = true;
		set_hotp(m, "Unverified", UI_BG_WARNING);
		text = xasprintf("Error checking code: no HOTP code could be computed.\n\n%s", why);
		return failure_menu(m, UI_BG_WARNING, "Error checking code", text, true);
	}
	switch (res.verdict) {
	case DONGLE_OK:
		m->hotp_success = true;
		return FLOW_BACK;
	case DONGLE_INVALID_CODE:
		m->gate_required = true;
		set_hotp(m, "Invalid code", UI_BG_ERROR);
		text = xasprintf("ERROR: Your %s refused the HOTP code for counter %llu.\n\n"
				 "If you have just completed a Factory Reset, or just reflashed "
				 "your BIOS, you should generate a new HOTP secret.\n\n"
				 "If you have not just reflashed your BIOS, THIS COULD INDICATE "
				 "TAMPERING!\n\nHow would you like to proceed?", brand(m),
				 (unsigned long long)res.counter);
		return failure_menu(m, UI_BG_ERROR, "ERROR: HOTP Validation Failed!", text, false);
	case DONGLE_NOT_CONFIGURED:
		set_hotp(m, "Not configured", UI_BG_WARNING);
		text = xasprintf("The HOTP slot of your %s is not configured.\n\nGenerate a new "
				 "TOTP/HOTP secret to configure it.", brand(m));
		return failure_menu(m, UI_BG_WARNING, "HOTP slot not configured", text, false);
	default:
		m->gate_required = true;
		set_hotp(m, "Error", UI_BG_WARNING);
		text = xasprintf("Error checking code, insert your %s and retry (%s).", brand(m),
				 dongle_result_str(res.verdict));
		return failure_menu(m, UI_BG_WARNING, "Error checking code", text, true);
	}
}

enum flow_outcome menu_refresh_attestation(struct menu *m)
{
	enum flow_outcome o;

	m->skip_to_menu = false;
	m->bg = UI_BG_NORMAL;
	o = menu_update_totp(m);
	if (o != FLOW_BACK)
		return o;
	return menu_update_hotp(m); /* checks only when the TOTP unsealed */
}

/* PIN attempts allowed with retries left (reference: min(retries-1, 3),
 * one when a single retry is left). */
static unsigned pin_attempts(unsigned retries)
{
	if (retries <= 1)
		return retries;
	return retries - 1 < 3 ? retries - 1 : 3;
}

int menu_hotp_enrol(struct menu *m, const struct secret *key)
{
	_cleanup_dongle_ struct dongle *d = NULL;
	_cleanup_free_ char *path = NULL, *text = NULL;
	enum dongle_result dr;
	struct dongle_info info;
	unsigned tries, i;
	int r;

	if (!menu_hotp_enabled(m))
		return 0;
	if ((r = get_dongle(m, &d, &dr)) < 0)
		return r;
	if (dr != DONGLE_OK) {
		text = xasprintf("The HOTP secret was not written to a dongle (%s). Generate a new "
				 "TOTP/HOTP secret with the dongle inserted to use HOTP.",
				 dr == DONGLE_NOT_SUPPORTED ? "HOTP not supported by this dongle"
							    : dongle_result_str(dr));
		r = ui_msgbox(m->ui, UI_BG_WARNING, "HOTP not enrolled", text);
		return ui_gone(r) ? r : 0;
	}
	if ((dr = dongle_info(d, &info)) != DONGLE_OK) {
		text = xasprintf("Cannot read the status of your %s: %s.", brand(m),
				 dongle_result_str(dr));
		r = ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: HOTP not enrolled", text);
		return ui_gone(r) ? r : 0;
	}
	/* NK3 without a Secrets PIN: the PIN entered becomes it. */
	tries = info.have_retries ? pin_attempts(info.admin_retries) : 1;
	for (i = 0; i < tries; i++) {
		_cleanup_secret_ struct secret *pin = NULL;
		_cleanup_free_ char *prompt = NULL, *title = xasprintf("%s HOTP", info.brand);

		if (info.have_retries)
			prompt = xasprintf("Enter your %s %s (%u tries left)", info.brand,
					   info.kind == DONGLE_KIND_NK3 ? "Secrets app PIN"
									: "Admin PIN",
					   info.admin_retries);
		if (info.have_retries)
			r = ui_passphrase(m->ui, title, prompt, DONGLE_PIN_MAX, &pin);
		else
			r = menu_ask_new_passphrase(m, title, "new Secrets app PIN", 4,
						    DONGLE_PIN_MAX, &pin);
		if (r < 0)
			return ui_gone(r) ? r : 0;
		dr = dongle_hotp_enroll(d, pin, key, 1);
		if (dr != DONGLE_WRONG_PIN)
			break;
		if (dongle_info(d, &info) != DONGLE_OK || !info.have_retries)
			break;
		log_warn("%s: wrong PIN, %u tries left", info.brand, info.admin_retries);
	}
	if (dr == DONGLE_OK) {
		path = xasprintf("%s/%s", m->bootdir, OTP_COUNTER_FILE);
		_cleanup_free_ char *mp = NULL;
		unsigned long mflags = 0;
		r = integrity_boot_writable(m->bootdir, &mp, &mflags);
		if (r == 0) {
			r = otp_counter_write(path, 2);
			(void)integrity_boot_restore_ro(mp, mflags);
		}
		if (r < 0) {
			text = xasprintf("Your %s was enrolled, but %s could not be written: %s.",
					 info.brand, path, strerror(-r));
			r = ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: HOTP counter", text);
			return ui_gone(r) ? r : 0;
		}
		log_info("HOTP secret written to the %s; counter 2", info.brand);
		text = xasprintf("Your %s now checks the HOTP code at every boot.", info.brand);
		r = ui_msgbox(m->ui, UI_BG_NORMAL, "HOTP enrolled", text);
		return ui_gone(r) ? r : 0;
	}
	text = xasprintf("Writing the HOTP secret to your %s failed: %s.%s", info.brand,
			 dongle_result_str(dr),
			 dr == DONGLE_WRONG_PIN || dr == DONGLE_BLOCKED
				 ? " Too many wrong PINs will block it; the PIN can be reset "
				   "with nitropy on another computer."
				 : "");
	r = ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: HOTP not enrolled", text);
	return ui_gone(r) ? r : 0;
}
