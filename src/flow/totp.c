/* flow/totp.c - TOTP in the menu: the code on the status line (the sealed PCR list), the
 * "TOTP failed" screen, a new secret sealed through tpm_otp_enrol() (the
 * self-check of `heads totp seal`) with its QR code, and the reseal offered
 * after the ROM was written (sealed to the next boot's PCR 7). */
#include "cmd/cmd.h"
#include "flow/enrol.h"
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
int menu_compute_totp(struct menu *m)
{
	return menu_compute_totp_with(m, NULL);
}

int menu_compute_totp_with(struct menu *m, struct tpm *held)
{
	m->totp_reason[0] = '\0';
	if (!m->tpm_on) {
		snprintf(m->totp, sizeof(m->totp), "NO TPM");
		return 0;
	}
	{
		_cleanup_tpm_ struct tpm *own = NULL;
		struct tpm *t = held;
		uint32_t code;
		int r = held ? 0 : menu_tpm_open(m, &own);

		if (!held)
			t = own;
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

/* Reference "ERROR: TOTP Generation Failed!" menu. */
static enum flow_outcome totp_failed_menu(struct menu *m)
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
		return FLOW_BACK;
	r = ui_menu(m->ui, UI_BG_ERROR, "ERROR: TOTP Generation Failed!", text, items,
		    ARRAY_SIZE(items), 0);
	if (ui_fatal(r))
		return menu_outcome(m, r);
	switch (r) {
	case 0:
		return menu_generate_totp(m, NULL);
	case 2: {
		enum flow_outcome o = menu_integrity_report_screen(m);
		if (o != FLOW_BACK && o != FLOW_DONE)
			return o;
		return menu_reset_tpm(m);
	}
	case 3:
		return menu_go_recovery(m, "TOTP generation failed");
	default:
		m->skip_to_menu = true;
		return FLOW_BACK;
	}
}

enum flow_outcome menu_update_totp(struct menu *m)
{
	int r = menu_compute_totp(m);
	menu_refresh_status(m);
	if (r == 0) {
		m->gate_required = false;
		return FLOW_BACK;
	}
	return totp_failed_menu(m);
}

static int hotp_enrol_then(void *ctx, const struct secret *key)
{
	return menu_hotp_enrol(ctx, key);
}

int menu_seal_totp_with(struct menu *m, struct tpm *t, const struct secret *owner)
{
	_cleanup_free_ char *err = NULL;
	struct session ss = {.ui = m->ui, .cfg = &m->cfg};
	struct enrol_options eo = {
		.eventlog = access(m->eventlog, R_OK) == 0 ? m->eventlog : NULL,
		/* the ROM changed: PCR 7 is the next boot's */
		.next_pcr7 = m->have_next_pcr7 ? m->next_pcr7 : NULL,
		/* a firmware update: PCR 2 is the new image's (flow/flash.c) */
		.next_pcr2 = m->have_next_pcr2 ? m->next_pcr2 : NULL,
		.label = m->board && *m->board ? m->board : OTP_DEFAULT_LABEL,
		.owner = owner,
	};
	int r;

	if ((r = board_totp_pcrs(&m->cfg, &eo.mask, &err)) < 0) {
		_cleanup_free_ char *msg = xasprintf("CONFIG_TOTP_PCRS: %s", err);
		ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: TOTP sealing failed", msg);
		return r;
	}
	/* the same secret into the HOTP dongle (reference seal-hotpkey) */
	eo.then = hotp_enrol_then;
	eo.then_ctx = m;
	return flow_totp_enrol(&ss, t, &eo);
}

int menu_seal_totp_asked(struct menu *m, struct secret **owner)
{
	_cleanup_tpm_ struct tpm *t = NULL;
	int r = menu_ask_owner_passphrase(m, false, owner);
	if (r == 0 && (r = menu_tpm_open(m, &t)) == 0)
		r = menu_seal_totp_with(m, t, *owner);
	return r;
}

/* Reference generate_totp_hotp (gated by the integrity report). */
enum flow_outcome menu_generate_totp(struct menu *m, const struct secret *owner_in)
{
	_cleanup_secret_ struct secret *owner = NULL;
	_cleanup_tpm_ struct tpm *t = NULL;
	enum flow_outcome o;
	int r;

	if (!m->tpm_on) {
		ui_msgbox(m->ui, UI_BG_ERROR, "No TPM", "This board has no TPM (CONFIG_TPM).");
		return FLOW_BACK;
	}
	if (m->gate_required) {
		/* Integrity gate: look at the report before trusting a re-seal. */
		o = menu_integrity_report_screen(m);
		if (o != FLOW_BACK && o != FLOW_DONE)
			return o;
		if (o != FLOW_DONE) {
			ui_msgbox(m->ui, UI_BG_ERROR, "Integrity Gate",
				  "/boot does not verify: resolve the integrity report first "
				  "(update checksums and sign), then generate the secret.");
			return FLOW_BACK;
		}
		if ((r = menu_yes(m, UI_BG_WARNING, "Integrity Gate Passed",
				  "The integrity report shows /boot verified by your key.\n\n"
				  "Proceed with sealing a new TOTP secret?")) != 1)
			return menu_outcome(m, r);
	}
	if ((r = menu_yes(m, UI_BG_WARNING, "Generate new TOTP/HOTP secret",
			  "This will erase your old secret and replace it with a new one!\n\n"
			  "Do you want to proceed?")) != 1)
		return menu_outcome(m, r);
	if (!owner_in) {
		if ((r = menu_ask_owner_passphrase(m, false, &owner)) < 0)
			return menu_outcome(m, r);
		owner_in = owner;
	}
	if ((r = menu_tpm_open(m, &t)) < 0)
		return menu_outcome(m, log_error_errno(r, "opening the TPM"));
	r = menu_seal_totp_with(m, t, owner_in);
	tpm_close(t);
	t = NULL;
	if (ui_fatal(r) && r != -EPROTO && r != -EPIPE)
		return FLOW_BACK; /* told the user; back to the menu */
	if (r < 0)
		return menu_outcome(m, r);
	if (ui_gone(menu_duk_reseal_after_totp(m, owner_in)))
		return FLOW_UI_GONE;
	return menu_update_totp(m);
}

/* After this menu rewrote the ROM outside ownership (GPG options, saved
 * configuration): the next boot's PCR 7 differs, so the TOTP sealed to this
 * boot will not unseal. Offer to seal a new one (and reseal the DUK) to the
 * next boot now, then reboot. */
enum flow_outcome menu_after_rom_write(struct menu *m)
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
			return menu_outcome(m, r);
		if (r == 1) {
			_cleanup_secret_ struct secret *owner = NULL;
			r = menu_seal_totp_asked(m, &owner);
			if (ui_gone(r))
				return FLOW_UI_GONE;
			if (r == 0 && ui_gone(menu_duk_reseal_after_totp(m, owner)))
				return FLOW_UI_GONE;
		}
	}
	return FLOW_REBOOT;
}
