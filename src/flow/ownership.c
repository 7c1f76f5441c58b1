/* flow/ownership.c - ownership: the TPM owner passphrase, TPM reset, the owner's GPG key and
 * the first-boot ownership flow (reset, key, ROM keyring, default entry,
 * sign /boot, TOTP, optional Disk Unlock Key). */
#include "cmd/cmd.h"
#include "flow/recovery.h"
#include "gpg/card.h"
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

/* The public key fpr of m->gnupghome into the ROM keyring (when that is
 * another GnuPG home). */
static int pub_to_keyring(struct menu *m, const char *fpr)
{
	gpgme_ctx_t ctx = NULL, kctx = NULL;
	gpgme_data_t pub = NULL;
	gpgme_error_t e;
	int r = -EIO;

	if (streq(m->keyring, m->gnupghome))
		return 0;
	if (gpg_context(m->gnupghome, 0, &ctx) < 0)
		return -EIO;
	if ((e = gpgme_data_new(&pub)) || (e = gpgme_op_export(ctx, fpr, 0, pub))) {
		log_error("exporting the public key %s: %s", fpr, gpgme_strerror(e));
		goto out;
	}
	if (gpg_context(m->keyring, GPG_CTX_MKDIR, &kctx) < 0)
		goto out;
	gpgme_data_seek(pub, 0, SEEK_SET);
	e = gpgme_op_import(kctx, pub);
	if (e) {
		log_error("importing the public key into %s: %s", m->keyring, gpgme_strerror(e));
		goto out;
	}
	r = 0;
out:
	gpgme_release(kctx);
	gpgme_data_release(pub);
	gpgme_release(ctx);
	return r;
}

/* An in-memory key protected by pass, in the GnuPG home m->gnupghome.
 * Without subkeys (no card): one signing primary key, RSA 3072 by
 * default, CONFIG_GPG_ALGO=p256 for NIST P-256. With subkeys (to move to
 * the owner's OpenPGP card, reference 7.4): a certify-only primary and
 * signing, encryption and authentication subkeys of the card algorithm
 * card_algo ("rsa2048".."rsa4096", "ed25519": cv25519 encrypts). The
 * public key goes into the ROM keyring; the fingerprint to fpr (41). */
static int generate_gpg_key(struct menu *m, const char *uid, const struct secret *pass,
			    const char *card_algo, char *fpr)
{
	gpgme_ctx_t ctx = NULL;
	gpgme_genkey_result_t res;
	gpgme_key_t key = NULL;
	struct menu_gpgme_pass gp = {.pass = pass};
	const char *algo = config_get(&m->cfg, "CONFIG_GPG_ALGO");
	gpgme_error_t e;
	int r = -EIO;

	algo = card_algo ? card_algo :
	       algo && (streq(algo, "p256") || streq(algo, "ECC")) ? "nistp256" : "rsa3072";
	if (gpg_context(m->gnupghome, GPG_CTX_MKDIR | GPG_CTX_LOOPBACK, &ctx) < 0)
		return -EIO;
	gpgme_set_passphrase_cb(ctx, menu_gpgme_pass_cb, &gp);
	e = gpgme_op_createkey(ctx, uid, algo, 0, 0, NULL,
			       (card_algo ? 0 : GPGME_CREATE_SIGN) | GPGME_CREATE_CERT |
			       GPGME_CREATE_FORCE);
	if (e) {
		log_error("GPG key generation failed: %s", gpgme_strerror(e));
		goto out;
	}
	res = gpgme_op_genkey_result(ctx);
	if (!res || !res->fpr)
		goto out;
	snprintf(fpr, 41, "%s", res->fpr);
	if (card_algo) {
		bool ecc = streq(card_algo, "ed25519");
		static const unsigned use[] = {GPGME_CREATE_SIGN, GPGME_CREATE_ENCR,
					       GPGME_CREATE_AUTH};
		if ((e = gpgme_get_key(ctx, fpr, &key, 1))) {
			log_error("the new key %s: %s", fpr, gpgme_strerror(e));
			goto out;
		}
		for (size_t i = 0; i < ARRAY_SIZE(use); i++) {
			const char *a = ecc && use[i] == GPGME_CREATE_ENCR ? "cv25519" : card_algo;
			e = gpgme_op_createsubkey(ctx, key, a, 0, 0, use[i] | GPGME_CREATE_NOEXPIRE);
			if (e) {
				log_error("GPG subkey generation (%s) failed: %s", a,
					  gpgme_strerror(e));
				goto out;
			}
		}
	}
	if (pub_to_keyring(m, fpr) < 0)
		goto out;
	log_info("GPG key %s generated; public key in %s", fpr, m->keyring);
	r = 0;
out:
	if (key)
		gpgme_key_unref(key);
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

/* --- the owner's OpenPGP card at ownership (issue 16; reference 7.4) ---- */

enum card_way {
	CARD_WAY_NONE,  /* no card, or not used: the key in memory */
	CARD_WAY_ON,    /* keys generated on the card */
	CARD_WAY_MOVED, /* generated in memory, backed up, subkeys moved to the card */
};

struct card_plan {
	enum card_way way;
	bool reset;                      /* factory-reset the OpenPGP application */
	struct secret *cur_pin, *cur_admin; /* the card's PINs now */
	struct secret *pin, *admin;      /* the new User and Admin PINs */
	char given[40], surname[40];     /* cardholder; "" = not set */
	struct card_info ci;
};

static void card_plan_free(struct card_plan *p)
{
	secret_free(p->cur_pin);
	secret_free(p->cur_admin);
	secret_free(p->pin);
	secret_free(p->admin);
	explicit_bzero(p, sizeof(*p));
}

/* The card's algorithm from CONFIG_GPG_ALGO: "rsa2048".."rsa4096", RSA
 * (default rsa3072, as the reference), or ECC: ed25519/cv25519 (what gpg's
 * card editor offers as curve 1; NIST P-256 of the reference's Nitrokey 3
 * maps here to ed25519). */
static const char *card_algo(struct menu *m)
{
	const char *a = config_get(&m->cfg, "CONFIG_GPG_ALGO");

	if (!a || !*a || streq(a, "RSA"))
		return "rsa3072";
	if (streq(a, "rsa2048") || streq(a, "rsa3072") || streq(a, "rsa4096"))
		return a;
	if (streq(a, "p256") || streq(a, "ECC") || streq(a, "ed25519"))
		return "ed25519";
	log_warn("CONFIG_GPG_ALGO=%s: not an algorithm of the card; rsa3072", a);
	return "rsa3072";
}

/* "Given Surname" (letters, space, '-'): the last word is the surname. */
static bool split_cardholder(const char *in, char given[40], char surname[40])
{
	const char *sp = strrchr(in, ' ');
	size_t gl = sp ? (size_t)(sp - in) : 0;

	if (!sp || gl == 0 || gl >= 40 || strlen(sp + 1) == 0 || strlen(sp + 1) >= 40 ||
	    strlen(in) > 38)
		return false;
	for (const char *c = in; *c; c++)
		if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || *c == ' ' ||
		      *c == '-'))
			return false;
	memcpy(given, in, gl);
	given[gl] = '\0';
	snprintf(surname, 40, "%s", sp + 1);
	return true;
}

/* Is there a card, and what does the owner want done with it? All the
 * questions before anything changes. 0 (p->way set), or a UI error. */
static int card_ask(struct menu *m, struct card_plan *p)
{
	_cleanup_free_ char *t = NULL;
	int r;

	/* a first boot has no GnuPG home yet (the ROM keyring is empty), and
	 * gpg-agent starts only in an existing one */
	if (fs_mkdir_p(m->gnupghome, 0700) < 0)
		log_warn("%s: %s", m->gnupghome, strerror(errno));
	r = card_status(m->gnupghome, &p->ci);
	(void)card_release(m->gnupghome);
	p->way = CARD_WAY_NONE;
	if (r < 0) {
		if (r != -ENODEV)
			log_warn("the USB security dongle cannot be read: %s; the key stays in "
				 "memory", strerror(-r));
		return 0;
	}
	{
		static const struct ui_item items[] = {
			{"c", "Generate the keys on the dongle (no copy exists anywhere else)"},
			{"m", "Generate in memory, write an encrypted backup, move them to the dongle"},
			{"n", "Do not use the dongle: the key stays in memory (lost at power off)"},
		};
		t = xasprintf("A USB security dongle is present: OpenPGP card %s, serial %s%s%s, "
			      "User PIN tries left %d, Admin PIN tries left %d.\n\nWhere should "
			      "the owner's signing key be made?",
			      p->ci.version[0] ? p->ci.version : "?",
			      p->ci.serial[0] ? p->ci.serial : p->ci.aid,
			      p->ci.name[0] ? ", cardholder " : "", p->ci.name,
			      p->ci.retries[CARD_PW1], p->ci.retries[CARD_PW3]);
		r = ui_menu(m->ui, UI_BG_NORMAL, "USB security dongle", t, items,
			    ARRAY_SIZE(items), 0);
		if (r < 0)
			return r;
		if (r == 2)
			return 0;
		p->way = r == 0 ? CARD_WAY_ON : CARD_WAY_MOVED;
	}
	r = menu_yes(m, UI_BG_WARNING, "Factory reset the dongle?",
		     "Reset the dongle's OpenPGP application first? Its keys are ERASED and "
		     "its PINs go back to the defaults (User 123456, Admin 12345678).\n\n"
		     "Without a reset the dongle's current PINs are asked.");
	if (r < 0)
		return r;
	p->reset = r == 1;
	if (p->reset) {
		p->cur_pin = secret_dup("123456", 6);
		p->cur_admin = secret_dup("12345678", 8);
	} else if ((r = ui_passphrase(m->ui, "USB security dongle", "Current User PIN of the "
				      "dongle", GPG_PIN_MAX, &p->cur_pin)) < 0 ||
		   (r = ui_passphrase(m->ui, "USB security dongle", "Current Admin PIN of the "
				      "dongle", GPG_PIN_MAX, &p->cur_admin)) < 0) {
		return r;
	}
	if ((r = menu_ask_new_passphrase(m, "Dongle User PIN", "User PIN of the dongle", 6,
					 GPG_PIN_MAX, &p->pin)) < 0 ||
	    (r = menu_ask_new_passphrase(m, "Dongle Admin PIN", "Admin PIN of the dongle", 8,
					 GPG_PIN_MAX, &p->admin)) < 0)
		return r;
	for (int attempt = 0;; attempt++) {
		_cleanup_free_ char *name = NULL;
		r = ui_input(m->ui, "Cardholder", "Cardholder name on the dongle: Given Surname "
			     "(letters, space, '-'; empty: not set)", NULL, &name);
		if (r < 0)
			return r;
		if (!*name || split_cardholder(name, p->given, p->surname))
			break;
		if (attempt == 2)
			return -EACCES;
		r = ui_msgbox(m->ui, UI_BG_WARNING, "Cardholder", "Two words or more (given "
			      "name and surname), letters, space and '-' only, 38 characters at "
			      "most.");
		if (ui_gone(r))
			return r;
	}
	return 0;
}

/* "Name <email> (comment)" -> the parts card_generate takes. */
static void split_uid(const char *uid, char *name, size_t nsz, char *email, size_t esz)
{
	const char *lt = strchr(uid, '<'), *gt = lt ? strchr(lt, '>') : NULL;

	if (lt && gt) {
		size_t n = (size_t)(lt - uid);
		while (n > 0 && uid[n - 1] == ' ')
			n--;
		snprintf(name, nsz, "%.*s", (int)n, uid);
		snprintf(email, esz, "%.*s", (int)(gt - lt - 1), lt + 1);
	} else {
		snprintf(name, nsz, "%s", uid);
		snprintf(email, esz, "oem@example.com");
	}
}

/* The card steps in order: reset, Admin PIN, User PIN, cardholder, then
 * the keys (generated on the card, or generated in memory, backed up and
 * moved). Every failure is told here. 0, -ECANCELED (told; ownership
 * stops), or a UI error. */
static int card_provision(struct menu *m, struct card_plan *p, const char *uid, char *fpr,
			  char *sign_fpr)
{
	const char *algo = card_algo(m), *step = NULL;
	_cleanup_free_ char *t = NULL;
	int r = 0;

	ui_progress(m->ui, "USB security dongle", "Setting up the dongle", 10);
	if (p->reset && (r = card_factory_reset(m->gnupghome)) < 0)
		step = "the factory reset";
	else if ((r = card_passwd(m->gnupghome, CARD_PW3, p->cur_admin, p->admin)) < 0)
		step = "setting the Admin PIN";
	else if ((r = card_passwd(m->gnupghome, CARD_PW1, p->cur_pin, p->pin)) < 0)
		step = "setting the User PIN";
	else if (p->given[0] &&
		 (r = card_set_name(m->gnupghome, p->surname, p->given, p->admin)) < 0)
		step = "setting the cardholder name";
	if (!step && p->way == CARD_WAY_ON) {
		char name[80], email[80];
		split_uid(uid, name, sizeof(name), email, sizeof(email));
		ui_progress(m->ui, "USB security dongle", "Generating the keys on the dongle", 40);
		r = card_generate(m->gnupghome, &(struct card_keygen){.algo = algo, .name = name,
				  .email = email}, p->pin, p->admin, fpr);
		if (r < 0)
			step = "generating the keys on the dongle";
		else if ((r = pub_to_keyring(m, fpr)) < 0)
			step = "importing the public key into the ROM keyring";
	}
	ui_progress_end(m->ui);
	if (!step && p->way == CARD_WAY_MOVED) {
		ui_progress(m->ui, "GPG", "Generating the keys in memory", 10);
		r = generate_gpg_key(m, uid, p->admin, algo, fpr);
		ui_progress_end(m->ui);
		if (r < 0) {
			step = "generating the keys in memory";
		} else {
			r = menu_gpg_backup(m, fpr, p->admin, true);
			if (ui_gone(r))
				return r;
			if (r != 1) {
				r = menu_yes(m, UI_BG_WARNING, "No backup",
					     "There is NO backup of the keys. Move them to the dongle "
					     "anyway (the dongle is then the only copy)?");
				if (r != 1)
					return r < 0 ? r : -ECANCELED;
			}
			ui_progress(m->ui, "USB security dongle", "Moving the keys to the dongle",
				    60);
			r = card_keytocard(m->gnupghome, fpr, p->admin, p->admin);
			ui_progress_end(m->ui);
			if (r < 0)
				step = "moving the keys to the dongle";
		}
	}
	(void)card_release(m->gnupghome);
	if (!step) {
		/* the key /boot is signed with: the card's signing key (the
		 * primary generated on the card, the signing subkey moved to it) */
		struct card_info ci;
		r = card_status(m->gnupghome, &ci);
		(void)card_release(m->gnupghome);
		if (r < 0 || !ci.fpr[0][0])
			step = "reading the dongle's signing key back";
		else
			memcpy(sign_fpr, ci.fpr[0], 41);
	}
	if (!step) {
		log_info("owner's key %s on the OpenPGP card %s (%s)", fpr, p->ci.serial,
			 p->way == CARD_WAY_ON ? "generated on the card" : "moved to the card");
		return 0;
	}
	t = xasprintf("The USB security dongle failed at %s: %s.\n\nOwnership stops here: "
		      "nothing was signed.", step,
		      r == -EACCES ? "the dongle refused the PIN" :
		      r == -ENODEV ? "the dongle is gone" : strerror(-r));
	r = ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: USB security dongle", t);
	return ui_gone(r) ? r : -ECANCELED;
}

/* Reference "Clean Boot Detected" / OEM Factory Reset / Re-Ownership.
 * TPM reset with a new owner passphrase; a GPG key generated in memory; its
 * public key into the ROM keyring; choose the default entry; sign /boot
 * (creating the rollback counter); seal the TOTP and show its QR code. */
enum flow_outcome menu_ownership(struct menu *m, bool clean_boot)
{
	_cleanup_secret_ struct secret *owner = NULL, *gpgpass = NULL;
	_cleanup_free_ char *uid = NULL;
	_cleanup_(card_plan_free) struct card_plan cp = {0};
	char fpr[41] = "", sign_fpr[41] = "";
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

	/* 2. The owner's signing key: on the USB security dongle when one is
	 * present and the owner wants it (generated there, or generated in
	 * memory, backed up and moved there), else in memory,
	 * passphrase-protected. */
	if ((r = card_ask(m, &cp)) < 0)
		return r == -EACCES ? FLOW_BACK : menu_outcome(m, r);
	if (cp.way == CARD_WAY_NONE &&
	    (r = menu_ask_new_passphrase(m, "GPG key passphrase", "GPG key passphrase (Admin PIN)",
				    8, GPG_PIN_MAX, &gpgpass)) < 0)
		return r == -EACCES ? FLOW_BACK : menu_outcome(m, r);
	r = ui_input(m->ui, "GPG key identity", "Name and e-mail of the key",
		     "OEM Key <oem@example.com>", &uid);
	if (r < 0)
		return menu_outcome(m, r);
	if (cp.way != CARD_WAY_NONE) {
		r = card_provision(m, &cp, uid, fpr, sign_fpr);
		if (r < 0)
			return r == -ECANCELED ? FLOW_BACK : menu_outcome(m, r);
	} else {
		ui_progress(m->ui, "GPG", "Generating the signing key", 10);
		r = generate_gpg_key(m, uid, gpgpass, NULL, fpr);
		ui_progress_end(m->ui);
		if (r < 0) {
			ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: GPG", "Generating the GPG key failed.");
			return FLOW_BACK;
		}
		/* 2b. Encrypted backup of the secret key (optional). */
		if (ui_gone(menu_gpg_backup(m, fpr, gpgpass, false)))
			return FLOW_UI_GONE;
		memcpy(sign_fpr, fpr, sizeof(sign_fpr));
	}
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
					      (unsigned)chosen + 1, owner, sign_fpr, m->tpm_on,
					      &counter) :
			  menu_sign_boot_with(m, INTEGRITY_SIGN_REGENERATE, owner, sign_fpr, NULL, 0,
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
		if (menu_duk_setup(m, NULL, owner, sign_fpr, true) == FLOW_UI_GONE)
			return FLOW_UI_GONE;
	}
	{
		_cleanup_free_ char *dongle = cp.way == CARD_WAY_NONE ? xstrdup("") : xasprintf(
			"\nUSB security dongle: serial %s, keys %s; sign /boot with it "
			"(User PIN)", cp.ci.serial[0] ? cp.ci.serial : cp.ci.aid,
			cp.way == CARD_WAY_ON ? "generated on it" : "moved to it");
		_cleanup_free_ char *t = xasprintf(
			"Ownership complete.\n\nGPG key: %s%s\nGPG public key: in %s%s\n"
			"TPM: %s%s", fpr, dongle, m->keyring,
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
