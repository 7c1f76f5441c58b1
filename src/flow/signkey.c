/* Which key signs /boot now: the dongle, the in-memory key, or the
 * encrypted backup (see flow/signkey.h). */
#include "flow/signkey.h"
#include "boot/sig.h"
#include "flow/menu.h"
#include "gpg/backup.h"
#include "gpg/card.h"
#include "log.h"
#include "ui/ui.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <gpgme.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#define BACKUP_PASS_MAX 256
#define BACKUP_FILES_MAX 32
#define CARD_LOOK_MS 500 /* a card looked for while an in-memory key exists */

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && streq(s + n - m, suffix);
}

static void key_name(struct flow_signkey *k, const char *fpr)
{
	snprintf(k->keybuf, sizeof(k->keybuf), "%s!", fpr);
	k->key = k->keybuf;
}

static bool same_fpr(const char *want, const char *fpr)
{
	size_t n = strlen(want);
	if (n && want[n - 1] == '!')
		n--;
	return fpr && strlen(fpr) == n && strncasecmp(want, fpr, n) == 0;
}

/* A secret signing (sub)key of home that is not a card stub: want (its
 * fingerprint or its primary's), else a ROM-trusted one (*ret_trusted),
 * else the first one. 0 and ret_fpr, -ENOKEY none, -EIO. */
static int memory_key(const struct session *s, const char *want, char ret_fpr[41],
		      bool *ret_trusted)
{
	gpgme_ctx_t ctx = NULL;
	gpgme_key_t k = NULL;
	int r = sig_gpgme_new(s->gnupghome, &ctx);
	bool done = false;

	if (r < 0)
		return r;
	r = -ENOKEY;
	*ret_trusted = false;
	if (gpgme_op_keylist_start(ctx, NULL, 1) == 0) {
		while (!done && gpgme_op_keylist_next(ctx, &k) == 0) {
			bool key_wanted = want && k->subkeys && same_fpr(want, k->subkeys->fpr);
			bool carded = false;
			/* a key whose signing subkey went to a card (keytocard):
			 * the card signs for it, not what stayed in memory */
			for (gpgme_subkey_t sk = k->subkeys; sk; sk = sk->next)
				carded |= sk->can_sign && sk->is_cardkey;
			for (gpgme_subkey_t sk = carded ? NULL : k->subkeys; sk && !done;
			     sk = sk->next) {
				bool trusted = false;
				if (!sk->can_sign || !sk->secret || sk->is_cardkey || sk->revoked ||
				    sk->expired || sk->disabled || sk->invalid || !sk->fpr ||
				    strlen(sk->fpr) != 40)
					continue;
				if (want) {
					if (!key_wanted && !same_fpr(want, sk->fpr))
						continue;
					done = true;
				} else if (card_keyring_has(s->keyring, sk->fpr, &trusted) == 0 &&
					   trusted) {
					done = *ret_trusted = true;
				} else if (r == 0) {
					continue; /* keep the first untrusted one */
				}
				memcpy(ret_fpr, sk->fpr, 41);
				r = 0;
			}
			gpgme_key_unref(k);
		}
		gpgme_op_keylist_end(ctx);
	}
	gpgme_release(ctx);
	return r;
}

/* The card, if present and usable for want (or ROM-trusted). 0: use it
 * (session kept open), 1: no usable card (session ended; *why says why
 * when there is a card), <0 a failure to end the session. */
static int card_key(const struct session *s, const char *want, unsigned wait_ms,
		    struct flow_signkey *k, char why[256])
{
	struct card_info ci;
	enum card_rom_match m = CARD_ROM_NO_CARD;
	int r = card_status_wait(s->gnupghome, wait_ms, &ci);

	why[0] = '\0';
	if (r == 0) {
		/* the key asked for (its signing key), else a ROM-trusted one */
		if (want && ci.fpr[0][0] && same_fpr(want, ci.fpr[0]))
			m = CARD_ROM_MATCH;
		else if (card_check_rom_key(&ci, s->keyring, &m) < 0)
			m = CARD_ROM_NOT_TRUSTED;
		if (m == CARD_ROM_MATCH && ci.retries[CARD_PW1] == 0) {
			snprintf(why, 256, "The dongle (card %s) has its User PIN BLOCKED (0 tries "
				 "left): unblock it with the Admin PIN first.", ci.serial);
		} else if (m == CARD_ROM_MATCH) {
			k->source = FLOW_SIGNKEY_CARD;
			k->gnupghome = k->card_home = s->gnupghome;
			key_name(k, ci.fpr[0]);
			memcpy(k->serial, ci.serial, sizeof(k->serial));
			k->pin_tries = ci.retries[CARD_PW1];
			log_info("signing with the card %s, key %s", ci.serial, ci.fpr[0]);
			return 0;
		} else {
			snprintf(why, 256, "The dongle (card %s) is present, but its signing key is "
				 "%s.", ci.serial, m == CARD_ROM_NOT_PROVISIONED
				 ? "missing (NOT PROVISIONED)" : "not in the ROM keyring (NOT "
				 "ROM-TRUSTED)");
		}
	} else if (r != -ENODEV) {
		log_warn("the card could not be read (%s): not used", strerror(-r));
	}
	r = card_release(s->gnupghome);
	return r < 0 ? r : 1;
}

/* The names of the key backups in dir (heads-key-*.sec.asc), sorted. */
static size_t backup_files(const char *dir, char *names[BACKUP_FILES_MAX])
{
	struct dirent **ents = NULL;
	int n = scandir(dir, &ents, NULL, alphasort);
	size_t k = 0;

	for (int i = 0; i < n; i++) {
		const char *d = ents[i]->d_name;
		if (k < BACKUP_FILES_MAX && startswith(d, "heads-key-") && ends_with(d, ".sec.asc"))
			names[k++] = xstrdup(d);
		free(ents[i]);
	}
	free(ents);
	return k;
}

/* Pick the backup file in dir (one: taken; several: asked). */
static int pick_backup(const struct session *s, const char *dir, char **ret_path)
{
	char *names[BACKUP_FILES_MAX];
	struct ui_item items[BACKUP_FILES_MAX];
	char keys[BACKUP_FILES_MAX][24];
	size_t n = backup_files(dir, names);
	int r = 0;

	if (n == 0) {
		_cleanup_free_ char *t = xasprintf("No key backup (heads-key-*.sec.asc) in %s.",
						   dir);
		r = ui_msgbox(s->ui, UI_BG_WARNING, "Encrypted key backup", t);
		return ui_gone(r) ? r : -ENOENT;
	}
	if (n > 1) {
		for (size_t i = 0; i < n; i++) {
			snprintf(keys[i], sizeof(keys[i]), "%zu", i + 1);
			items[i] = (struct ui_item){.key = keys[i], .label = names[i]};
		}
		r = ui_menu(s->ui, UI_BG_NORMAL, "Encrypted key backup",
			    "Which key backup signs /boot?", items, n, 0);
	}
	if (r >= 0)
		*ret_path = xasprintf("%s/%s", dir, names[r]);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	return r < 0 ? r : 0;
}

/* The backup: where it is, which file, its passphrase (3 tries); opened
 * into a private home. 0, -ECANCELED (back to the menu), a UI error. */
static int backup_key(const struct session *s, struct flow_signkey *k)
{
	_cleanup_free_ char *dir = NULL, *mnt = NULL, *path = NULL;
	char fpr[41];
	int r = menu_usb_dir(s->ui, s->cfg, "Encrypted key backup",
			     "Directory (a mounted USB drive) or block device (a USB partition) "
			     "holding the key backup", &dir, &mnt);

	if (r < 0)
		return r;
	r = pick_backup(s, dir, &path);
	for (int attempt = 1; r == 0; attempt++) {
		_cleanup_secret_ struct secret *pass = NULL;
		_cleanup_free_ char *p = xasprintf("%sPassphrase of the key backup %s",
						   attempt > 1 ? "Wrong passphrase. " : "",
						   strrchr(path, '/') + 1);
		r = ui_passphrase(s->ui, "Encrypted key backup", p, BACKUP_PASS_MAX, &pass);
		if (r < 0)
			break;
		ui_progress(s->ui, "Encrypted key backup", "Decrypting the key backup", 0);
		r = gpg_backup_open(path, pass, &k->backup_home, fpr);
		ui_progress_end(s->ui);
		if (r == -EACCES && attempt < 3) {
			r = 0;
			continue;
		}
		break;
	}
	menu_usb_done(mnt);
	if (r == 0) {
		bool trusted = false;
		r = card_keyring_has(s->keyring, fpr, &trusted);
		if (r == 0 && !trusted) {
			_cleanup_free_ char *t = xasprintf(
				"The backup's signing key %s is NOT in the ROM keyring: a /boot "
				"signed with it would not verify. Not used.", fpr);
			gpg_backup_close(TAKE_PTR(k->backup_home));
			r = ui_msgbox(s->ui, UI_BG_ERROR, "Encrypted key backup", t);
			return ui_gone(r) ? r : -ECANCELED;
		}
		if (r < 0) {
			gpg_backup_close(TAKE_PTR(k->backup_home));
			return -ECANCELED;
		}
		k->source = FLOW_SIGNKEY_BACKUP;
		k->gnupghome = k->backup_home;
		key_name(k, fpr);
		log_info("signing with the key backup %s, key %s", path, fpr);
		return 0;
	}
	if (ui_gone(r) || r == -ECANCELED)
		return r;
	if (path) {
		_cleanup_free_ char *t = xasprintf(
			"The key backup %s cannot be used: %s.", strrchr(path, '/') + 1,
			r == -EACCES ? "wrong passphrase (3 times)" : r == -ENOKEY
			? "it holds no usable secret signing key" : r == -EBADMSG
			? "it is not an encrypted key backup" : strerror(-r));
		r = ui_msgbox(s->ui, UI_BG_ERROR, "Encrypted key backup", t);
		if (ui_gone(r))
			return r;
	}
	return -ECANCELED;
}

/* Reference prompt_missing_gpg_key_action, with the backup. */
static int unavailable_menu(const struct session *s, const char *want, bool offer_leave,
			    const char *why, struct flow_signkey *k,
			    enum flow_signkey_leave *ret_leave)
{
	static const struct ui_item all[] = {
		{"r", "Retry (insert the USB security dongle first)"},
		{"b", "Use the encrypted key backup (USB drive)"},
		{"F", "OEM Factory Reset / Re-Ownership"},
		{"x", "Exit to recovery shell"},
		{"m", "Return to the previous menu"},
	};
	const struct ui_item items[] = {all[0], all[1], all[2], all[3], all[4]};
	const struct ui_item few[] = {all[0], all[1], all[4]};
	char look[256];

	for (;;) {
		_cleanup_free_ char *t = xasprintf(
			"No usable GPG signing key: no USB security dongle with the ROM keyring's "
			"key, and no signing key in memory (an in-memory key is lost at power "
			"off).%s%s\n\nInsert the dongle and retry, or sign this once with the "
			"encrypted key backup.", why[0] ? "\n\n" : "", why);
		int r = ui_menu(s->ui, UI_BG_ERROR, "GPG signing key unavailable", t,
				offer_leave ? items : few, offer_leave ? 5 : 3, 0);
		const char *c = r >= 0 ? (offer_leave ? items : few)[r].key : NULL;

		if (r < 0)
			return r;
		if (streq(c, "m"))
			return -ECANCELED;
		if (streq(c, "F") || streq(c, "x")) {
			*ret_leave = streq(c, "F") ? FLOW_SIGNKEY_RESET : FLOW_SIGNKEY_RECOVERY;
			return -ECANCELED; /* not -ENOKEY: a UI "gone" code */
		}
		if (streq(c, "r")) {
			ui_progress(s->ui, "GPG signing key", "Looking for the dongle", 0);
			r = card_key(s, want, 3000, k, look);
			ui_progress_end(s->ui);
			if (r == 0)
				return 0;
			why = look[0] ? look : "Still no USB security dongle found.";
			continue;
		}
		r = backup_key(s, k);
		if (r == 0 || r != -ECANCELED)
			return r;
	}
}

int flow_signkey_get(const struct session *s, const char *want, bool offer_leave,
		     struct flow_signkey *ret, enum flow_signkey_leave *ret_leave)
{
	char fpr[41], why[256];
	bool trusted = false;
	int mem, r;

	*ret = (struct flow_signkey){.s = s, .pin_tries = -1};
	*ret_leave = FLOW_SIGNKEY_STAY;
	mem = memory_key(s, want, fpr, &trusted);
	/* The dongle first (a trusted in-memory key: only a short look); the
	 * key the caller named, in memory (ownership's new key): that one. */
	why[0] = '\0';
	if (!(want && mem == 0)) {
		r = card_key(s, want, mem == 0 && trusted ? CARD_LOOK_MS : 3000, ret, why);
		if (r <= 0)
			return r;
	}
	if (mem == 0) {
		ret->source = FLOW_SIGNKEY_MEMORY;
		ret->gnupghome = s->gnupghome;
		/* want as given; else the trusted key, else gpg's default as
		 * before (the signing checks what it made) */
		ret->key = want ? want : NULL;
		if (!want && trusted)
			key_name(ret, fpr);
		return 0;
	}
	if (!s->ui || s->prompt) {
		log_error("GPG signing key unavailable: no card with the ROM keyring's key, no "
			  "secret key in %s%s%s", s->gnupghome, why[0] ? ". " : "", why);
		return -ENOKEY;
	}
	return unavailable_menu(s, want, offer_leave, why, ret, ret_leave);
}

void flow_signkey_put(struct flow_signkey *k)
{
	if (k->source == FLOW_SIGNKEY_CARD && k->card_home)
		(void)card_release(k->card_home);
	gpg_backup_close(TAKE_PTR(k->backup_home));
	k->source = FLOW_SIGNKEY_NONE;
	k->card_home = NULL;
}

int flow_signkey_pin(void *userdata, const char *hint, int attempt, struct secret **ret)
{
	const struct flow_signkey *k = userdata;
	_cleanup_free_ char *p = NULL;

	if (k->source != FLOW_SIGNKEY_CARD)
		return flow_sign_pin((void *)k->s, hint, attempt, ret);
	p = xasprintf("%sUser PIN of the USB security dongle (card %s, %d tries left)",
		      attempt > 1 ? "Wrong PIN. " : "", k->serial,
		      k->pin_tries > 0 ? k->pin_tries - (attempt - 1) : 0);
	return flow_secret(k->s, FLOW_SECRET_PIN, attempt, "Sign /boot with the dongle", p,
			   MENU_GPG_PIN_MAX * 3, ret);
}

int flow_signkey_attempts(const struct flow_signkey *k)
{
	/* a card: never the last try (as the HOTP Admin PIN): min(tries-1, 3) */
	if (k->source == FLOW_SIGNKEY_CARD && k->pin_tries > 0 && k->pin_tries <= 3)
		return k->pin_tries > 1 ? k->pin_tries - 1 : 1;
	return 3;
}
