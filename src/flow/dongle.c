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
