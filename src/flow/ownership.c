/* flow/ownership.c - ownership: the TPM owner passphrase, TPM reset, the owner's GPG key and
 * the first-boot ownership flow (reset, key, ROM keyring, default entry,
 * sign /boot, TOTP, optional Disk Unlock Key). */
#include "cmd/cmd.h"
#include "flow/recovery.h"
#include "gpg/keyring.h"
#include "handover.h"
#include "board.h"
#include "flow/menu.h"
#include "flow/tpm_reset.h"
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
#define OWNER_PASS_MAX MENU_OWNER_PASS_MAX
#define GPG_PIN_MAX MENU_GPG_PIN_MAX

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
enum flow_outcome menu_reset_tpm(struct menu *m)
{
	if (!m->tpm_on) {
		ui_msgbox(m->ui, UI_BG_ERROR, "No TPM", "This board has no TPM (CONFIG_TPM).");
		return FLOW_BACK;
	}
	return menu_ownership(m, false);
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
enum flow_outcome menu_ownership(struct menu *m, bool clean_boot)
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
		return menu_outcome(m, r);

	/* 1. TPM reset with a new owner passphrase (flow/tpm_reset.h, as
	 * `heads tpm reset`). */
	if (m->tpm_on) {
		struct session s = menu_session(m);
		struct flow_tpm_reset a = {.da_max_tries = TPM_DA_MAX_TRIES,
					   .da_recovery = TPM_DA_RECOVERY_SECONDS};
		enum flow_tpm_reset_step rs;
		int version = 0;
		if ((r = menu_ask_new_passphrase(m, "TPM Owner Passphrase", "TPM owner passphrase",
					    1, OWNER_PASS_MAX, &owner)) < 0)
			return r == -EACCES ? FLOW_BACK : menu_outcome(m, r);
		_cleanup_free_ char *name = NULL;
		a.owner = owner;
		r = flow_tpm_reset(&s, &a, &version, &name, &rs);
		const char *step = rs == FLOW_TPM_RESET_OPEN ? "Opening the TPM" :
				   "Resetting the TPM";
		/* Record the new primary's Name in the owner's config (written
		 * into the ROM with the keyring, measured into PCR 7); a TPM 1.2
		 * has none. */
		if (r == 0 && name) {
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
			return FLOW_BACK;
		}
	}

	/* 2. GPG signing key, in memory, passphrase-protected. */
	if ((r = menu_ask_new_passphrase(m, "GPG key passphrase", "GPG key passphrase (Admin PIN)",
				    8, GPG_PIN_MAX, &gpgpass)) < 0)
		return r == -EACCES ? FLOW_BACK : menu_outcome(m, r);
	r = ui_input(m->ui, "GPG key identity", "Name and e-mail of the key",
		     "OEM Key <oem@example.com>", &uid);
	if (r < 0)
		return menu_outcome(m, r);
	ui_progress(m->ui, "GPG", "Generating the signing key", 10);
	r = generate_gpg_key(m, uid, gpgpass, fpr);
	ui_progress_end(m->ui);
	if (r < 0) {
		ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: GPG", "Generating the GPG key failed.");
		return FLOW_BACK;
	}
	/* 2b. Encrypted backup of the secret key (optional). */
	if (ui_gone(menu_gpg_backup(m, fpr, gpgpass)))
		return FLOW_UI_GONE;
	/* 2c. The public key into the ROM keyring: the next boot verifies /boot
	 * with it. The ROM is measured into PCR 7: what is sealed from here on
	 * is sealed to the next boot's PCR 7. */
	r = menu_rom_store_keyring(m);
	if (ui_gone(r))
		return FLOW_UI_GONE;
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
			r = menu_choose_entry(m, UI_BG_NORMAL, "Default boot entry",
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
			return FLOW_UI_GONE;
		}
	}

	/* 4. Sign /boot with the new key: a fresh rollback counter (the TPM was
	 * just cleared), the default entry files staged with the rest. */
	uint32_t counter = 0;
	r = chosen >= 0 ? menu_save_default_signed(m, view, INTEGRITY_SIGN_REGENERATE, &l.v[chosen],
					      (unsigned)chosen + 1, owner, fpr, m->tpm_on,
					      &counter) :
			  menu_sign_boot_with(m, INTEGRITY_SIGN_REGENERATE, owner, fpr, NULL, 0,
					 m->tpm_on, &counter);
	boot_entries_free(&l);
	if (r == -EPROTO || r == -EPIPE)
		return FLOW_UI_GONE;
	if (r < 0)
		return FLOW_BACK;

	/* 4b. The machine has a rollback counter now: from here on a /boot
	 * without it (an older copy) must fail (CONFIG_BOOT_REQ_ROLLBACK), and
	 * only this counter binds it. Kept in the ROM config area with the
	 * keyring (measured into PCR 7: predicted again below). */
	if (counter) {
		_cleanup_free_ char *id = xasprintf("0x%x", counter);
		if ((r = menu_set_setting(m, "CONFIG_BOOT_REQ_ROLLBACK", "y")) < 0 ||
		    (r = menu_set_setting(m, "CONFIG_ROLLBACK_COUNTER", id)) < 0)
			return menu_outcome(m, r);
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
			r = menu_seal_totp_with(m, t, owner);
		if (r == -EPROTO || r == -EPIPE)
			return FLOW_UI_GONE;
	}
	/* 6. Disk Unlock Key (optional; offered when there are containers). */
	if (m->tpm_on) {
		if (menu_duk_setup(m, NULL, owner, fpr, true) == FLOW_UI_GONE)
			return FLOW_UI_GONE;
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
			return FLOW_UI_GONE;
	}
	if (m->rom_written)
		return FLOW_REBOOT;
	return menu_refresh_attestation(m);
}
