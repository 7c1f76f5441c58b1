/* dongle.c - the owner's OpenPGP card in heads menu (issue 16): the
 * integrity report's dongle section and its follow-ups, GPG options g
 * (keys generated on the dongle) and p (the public key to a USB drive).
 * The card is reached only through src/lib/gpg/card.h; signing with it is
 * flow/signkey.c. Reference heads-behaviour.md 9 (integrity report, GPG
 * Options), 10.2 (p is broken there). */
#include "flow/menu.h"
#include "fs.h"
#include "gpg/card.h"
#include "gpg/keyring.h"
#include "log.h"
#include "secret.h"
#include "util.h"

#include <errno.h>
#include <gpgme.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#define REPORT_LOOK_MS 1000 /* the report looks for a dongle this long */
#define PUBKEY_MAX (1024 * 1024)

int menu_dongle_verdict(struct menu *m, struct card_info *ci, enum card_rom_match *ret)
{
	int r = card_status_wait(m->gnupghome, REPORT_LOOK_MS, ci);

	*ret = CARD_ROM_NO_CARD;
	if (r == 0)
		r = card_check_rom_key(ci, m->keyring, ret);
	else if (r == -ENODEV)
		r = 0;
	(void)card_release(m->gnupghome);
	return r;
}

char *menu_dongle_line(const struct card_info *ci, enum card_rom_match v)
{
	switch (v) {
	case CARD_ROM_MATCH:
		return xasprintf("Dongle key: MATCHES the ROM keyring (card %s, key %s)\n",
				 ci->serial, ci->fpr[0]);
	case CARD_ROM_NOT_PROVISIONED:
		return xasprintf("Dongle key: NOT PROVISIONED (card %s has no signing key)\n",
				 ci->serial);
	case CARD_ROM_NOT_TRUSTED:
		return xasprintf("Dongle key: NOT ROM-TRUSTED (card %s, key %s is not in the ROM "
				 "keyring)\n", ci->serial, ci->fpr[0]);
	case CARD_ROM_NO_CARD:
		break;
	}
	return xasprintf("Dongle key: NO DONGLE\n");
}

/* The armoured public key fpr of home (*ret, *ret_len). -ENOKEY: not
 * there. */
static int export_pub(const char *home, const char *fpr, char **ret, size_t *ret_len)
{
	gpgme_ctx_t ctx = NULL;
	gpgme_data_t d = NULL;
	char *buf;
	size_t len = 0;
	int r = gpg_context(home, GPG_CTX_ARMOR, &ctx);

	if (r < 0)
		return r;
	if (gpgme_data_new(&d) || gpgme_op_export(ctx, fpr, 0, d)) {
		r = log_error_errno(-EIO, "exporting the public key %s from %s", fpr, home);
	} else {
		buf = gpgme_data_release_and_get_mem(d, &len);
		d = NULL;
		if (!buf || len == 0) {
			r = -ENOKEY;
		} else {
			*ret = xmalloc(len + 1);
			memcpy(*ret, buf, len);
			(*ret)[len] = '\0';
			*ret_len = len;
			r = 0;
		}
		gpgme_free(buf);
	}
	gpgme_data_release(d);
	gpgme_release(ctx);
	return r;
}

/* The dongle's public key in place of the ROM keyring (from the GnuPG home
 * when it holds it, e.g. generated this boot; else a file the user
 * names). 1: the ROM was written. */
static int dongle_key_to_rom(struct menu *m, const char *fpr)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;

	if (fpr && fpr[0] && export_pub(m->gnupghome, fpr, &text, &len) == 0)
		return menu_gpg_rom_keys_text(m, true, "the dongle's public key", text, len, 0);
	return menu_gpg_rom_keys(m, true);
}

enum flow_outcome menu_dongle_followup(struct menu *m, bool boot_ok, const struct card_info *ci,
				       enum card_rom_match v, const char *title, const char *text,
				       enum flow_outcome (*investigate)(struct menu *m, void *ud),
				       void *ud)
{
	struct ui_item items[4];
	size_t n = 0;
	int r;

	if (!boot_ok)
		items[n++] = (struct ui_item){"i", "Investigate discrepancies"};
	if (v == CARD_ROM_NOT_TRUSTED)
		items[n++] = (struct ui_item){"r", "Replace the ROM keyring with the dongle's "
					      "public key"};
	items[n++] = (struct ui_item){"o", "OEM Factory Reset / Re-Ownership"};
	items[n++] = (struct ui_item){"c", "Continue"};
	r = ui_menu(m->ui, boot_ok ? UI_BG_WARNING : UI_BG_ERROR, title, text, items, n, 0);
	if (r < 0)
		return menu_outcome(m, r);
	switch (items[r].key[0]) {
	case 'i':
		return investigate(m, ud);
	case 'r':
		r = dongle_key_to_rom(m, ci->fpr[0]);
		return r == 1 ? menu_after_rom_write(m) : menu_outcome(m, r);
	case 'o':
		return menu_ownership(m, false);
	default:
		return boot_ok ? FLOW_DONE : FLOW_BACK;
	}
}

/* --- GPG options p: the public key to a USB drive ------------------------ */

/* The fingerprints of the keys of home (primary keys), at most max. */
static size_t key_fprs(const char *home, char fprs[][41], size_t max)
{
	gpgme_ctx_t ctx = NULL;
	gpgme_key_t k;
	size_t n = 0;

	if (gpg_context(home, 0, &ctx) < 0)
		return 0;
	if (gpgme_op_keylist_start(ctx, NULL, 0) == 0) {
		while (gpgme_op_keylist_next(ctx, &k) == 0) {
			if (n < max && k->fpr && strlen(k->fpr) == 40)
				memcpy(fprs[n++], k->fpr, 41);
			gpgme_key_unref(k);
		}
		gpgme_op_keylist_end(ctx);
	}
	gpgme_release(ctx);
	return n;
}

/* Reference gpg-gui.sh p (gpg_export_pubkey_to_usb is defined nowhere
 * there, 10.2): each public key of the ROM keyring, armoured, as
 * heads-key-<FPR>.pub.asc on the drive, read back and compared. */
enum flow_outcome menu_gpg_export_pubkey(struct menu *m)
{
	static const char title[] = "Export the public key to a USB drive";
	char fprs[16][41];
	size_t n = key_fprs(m->keyring, fprs, 16);
	_cleanup_free_ char *dir = NULL, *mnt = NULL, *done = xstrdup("");
	int r;

	if (n == 0) {
		r = ui_msgbox(m->ui, UI_BG_ERROR, title, "The ROM keyring holds no public key.");
		return menu_gone_or_back(r);
	}
	r = menu_usb_dir(m->ui, &m->cfg, title, "Directory (a mounted USB drive) or block device "
			 "(a USB partition)", &dir, &mnt);
	if (r < 0)
		return menu_gone_or_back(r);
	for (size_t i = 0; i < n && r == 0; i++) {
		_cleanup_free_ char *text = NULL, *back = NULL;
		_cleanup_free_ char *path = xasprintf("%s/heads-key-%s.pub.asc", dir, fprs[i]);
		size_t len = 0, blen = 0;
		r = export_pub(m->keyring, fprs[i], &text, &len);
		if (r == 0)
			r = fs_write_atomic(path, text, len, 0644);
		if (r == 0)
			r = fs_read_file(path, PUBKEY_MAX, &back, &blen);
		if (r == 0 && (blen != len || memcmp(back, text, len) != 0))
			r = log_error_errno(-EIO, "%s: what was read back differs", path);
		if (r < 0)
			log_error_errno(r, "%s: exporting the public key", path);
		else
			str_appendf(&done, "  %s\n", strrchr(path, '/') + 1);
	}
	menu_usb_done(mnt);
	if (r < 0) {
		_cleanup_free_ char *t = xasprintf("Writing the public key to the drive failed: %s "
						   "(details in the log).", strerror(-r));
		r = ui_msgbox(m->ui, UI_BG_ERROR, title, t);
	} else {
		_cleanup_free_ char *t = xasprintf("Written (and read back) on the drive:\n%s", done);
		r = ui_msgbox(m->ui, UI_BG_NORMAL, title, t);
	}
	return menu_gone_or_back(r);
}

/* --- GPG options g: keys generated on the dongle ------------------------- */

#define USER_PIN_MIN 6
#define ADMIN_PIN_MIN 8

static int ask_pin(struct menu *m, const char *prompt, struct secret **ret)
{
	return ui_passphrase(m->ui, "USB security dongle", prompt, MENU_GPG_PIN_MAX, ret);
}

static int say(struct menu *m, enum ui_bg bg, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int say(struct menu *m, enum ui_bg bg, const char *fmt, ...)
{
	_cleanup_free_ char *t = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&t, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	return ui_msgbox(m->ui, bg, "Generate keys on the USB security dongle", t);
}

static const char *card_error(int r)
{
	return r == -EACCES ? "the dongle refused the PIN" : r == -ENODEV ? "no dongle" :
	       r == -EPROTO ? "gpg asked something unexpected (see the log)" : strerror(-r);
}

/* The dongle: waits for one (retry). 0 and ci, -ECANCELED, UI error. */
static int find_card(struct menu *m, struct card_info *ci)
{
	for (;;) {
		int r;
		ui_progress(m->ui, "USB security dongle", "Looking for the dongle", 0);
		r = card_status(m->gnupghome, ci);
		ui_progress_end(m->ui);
		(void)card_release(m->gnupghome);
		if (r == 0)
			return 0;
		r = menu_yes(m, UI_BG_WARNING, "USB security dongle",
			     r == -ENODEV ? "No USB security dongle (OpenPGP card) found.\n\n"
					    "Insert it and retry?"
					  : "The dongle could not be read (details in the log).\n\n"
					    "Retry?");
		if (r != 1)
			return r < 0 ? r : -ECANCELED;
	}
}

enum flow_outcome menu_gpg_card_generate(struct menu *m)
{
	static const struct ui_item algos[] = {
		{"1", "RSA 3072"}, {"2", "RSA 2048"}, {"3", "RSA 4096"}, {"4", "ed25519 / cv25519"},
	};
	static const char *const algo_names[] = {"rsa3072", "rsa2048", "rsa4096", "ed25519"};
	_cleanup_secret_ struct secret *pin = NULL, *admin = NULL, *new_pin = NULL,
				       *new_admin = NULL;
	_cleanup_free_ char *name = NULL, *email = NULL, *surname = NULL, *given = NULL,
			    *q = NULL, *pub = NULL;
	struct card_info ci;
	char fpr[41];
	size_t pub_len = 0;
	int r, a, reset;

	if ((r = find_card(m, &ci)) < 0)
		return menu_gone_or_back(r);
	q = xasprintf("Dongle: card %s (%s), signature key %s.\n\nFactory reset its OpenPGP "
		      "application first? This ERASES the keys on the dongle and sets its PINs "
		      "back to 123456 (User) and 12345678 (Admin).", ci.serial,
		      ci.manufacturer[0] ? ci.manufacturer : "?", ci.fpr[0][0] ? ci.fpr[0] : "none");
	reset = menu_yes(m, UI_BG_WARNING, "Generate keys on the USB security dongle", q);
	if (reset < 0)
		return menu_outcome(m, reset);
	if (reset) {
		ui_progress(m->ui, "USB security dongle", "Factory reset of the OpenPGP application",
			    0);
		r = card_factory_reset(m->gnupghome);
		ui_progress_end(m->ui);
		if (r < 0)
			return menu_gone_or_back(say(m, UI_BG_ERROR, "The factory reset failed: %s.",
						     card_error(r)));
		pin = secret_dup("123456", 6);
		admin = secret_dup("12345678", 8);
		if (!pin || !admin)
			return menu_gone_or_back(say(m, UI_BG_ERROR, "Out of locked memory."));
	} else if ((r = ask_pin(m, "Current User PIN of the dongle", &pin)) < 0 ||
		   (r = ask_pin(m, "Current Admin PIN of the dongle", &admin)) < 0) {
		return menu_gone_or_back(r);
	}
	a = ui_menu(m->ui, UI_BG_NORMAL, "Generate keys on the USB security dongle",
		    "Key algorithm:", algos, ARRAY_SIZE(algos), 0);
	if (a < 0)
		return menu_outcome(m, a);
	for (;;) {
		free(name);
		free(email);
		name = email = NULL;
		if ((r = ui_input(m->ui, "GPG key identity", "Name", "OEM Key", &name)) < 0 ||
		    (r = ui_input(m->ui, "GPG key identity", "Email", "oem@example.com", &email)) < 0)
			return menu_outcome(m, r);
		if (*name && strchr(email, '@'))
			break;
		if (ui_gone(r = say(m, UI_BG_WARNING, "A name and an email (with @) are needed.")))
			return FLOW_UI_GONE;
	}
	if ((r = ui_input(m->ui, "Cardholder", "Cardholder surname (empty: not set)", NULL,
			  &surname)) < 0 ||
	    (*surname && (r = ui_input(m->ui, "Cardholder", "Cardholder given name", NULL,
				       &given)) < 0))
		return menu_outcome(m, r);
	r = menu_yes(m, UI_BG_NORMAL, "USB security dongle PINs",
		     "Set new User and Admin PINs on the dongle (recommended)?");
	if (r < 0)
		return menu_outcome(m, r);
	if (r == 1 &&
	    ((r = menu_ask_new_passphrase(m, "New User PIN", "User PIN", USER_PIN_MIN,
					  MENU_GPG_PIN_MAX, &new_pin)) < 0 ||
	     (r = menu_ask_new_passphrase(m, "New Admin PIN", "Admin PIN", ADMIN_PIN_MIN,
					  MENU_GPG_PIN_MAX, &new_admin)) < 0))
		return menu_gone_or_back(r);

	ui_progress(m->ui, "USB security dongle", "Generating the keys on the dongle", 10);
	r = card_generate(m->gnupghome, &(struct card_keygen){.algo = algo_names[a], .name = name,
			  .email = email}, pin, admin, fpr);
	ui_progress_end(m->ui);
	if (r < 0)
		return menu_gone_or_back(say(m, UI_BG_ERROR, "Generating the keys failed: %s.",
					     card_error(r)));
	log_info("keys generated on the card %s: %s", ci.serial, fpr);
	if (new_admin) {
		r = card_passwd(m->gnupghome, CARD_PW3, admin, new_admin);
		if (r == 0) {
			secret_free(admin);
			admin = TAKE_PTR(new_admin);
			r = card_passwd(m->gnupghome, CARD_PW1, pin, new_pin);
		}
		if (r < 0 && ui_gone(say(m, UI_BG_ERROR, "Changing the PINs failed: %s. The keys "
					 "are on the dongle.", card_error(r))))
			return FLOW_UI_GONE;
	}
	if (surname && *surname && given) {
		r = card_set_name(m->gnupghome, surname, given, admin);
		if (r < 0 && ui_gone(say(m, UI_BG_WARNING, "Setting the cardholder name failed: "
					 "%s.", r == -EINVAL ? "letters, space and '-' only"
					 : card_error(r))))
			return FLOW_UI_GONE;
	}
	/* the new public key into the ROM keyring (romcfg), PCR 7 predicted
	 * for the reseal offered next, as ownership does */
	r = export_pub(m->gnupghome, fpr, &pub, &pub_len);
	if (r < 0)
		return menu_gone_or_back(say(m, UI_BG_ERROR, "Keys generated on the dongle (%s), "
					     "but its public key cannot be exported: %s.", fpr,
					     strerror(-r)));
	if (ui_gone(r = say(m, UI_BG_NORMAL, "Keys generated on the dongle (card %s):\n%s\n\n"
			    "Its public key goes into the ROM keyring next: /boot must then be "
			    "signed again with the dongle.", ci.serial, fpr)))
		return FLOW_UI_GONE;
	r = menu_gpg_rom_keys_text(m, true, "the dongle's new public key", pub, pub_len, 0);
	return r == 1 ? menu_after_rom_write(m) : menu_outcome(m, r);
}
