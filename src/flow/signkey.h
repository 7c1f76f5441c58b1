/* flow/signkey.h - which key signs /boot now (issue 16): the one choice
 * every signing makes (flow_sign_boot: "Update checksums and sign", the
 * default entry, ownership, `heads boot sign`; flow_duk_setup: the Disk
 * Unlock Key files).
 *
 * In this order:
 *  1. a card (the owner's USB security dongle) is present and its
 *     signing key is a ROM keyring key (or the key the caller asked for):
 *     sign with the card, its User PIN asked through the session
 *     (flow_secret FLOW_SECRET_PIN) for this one signing; the card
 *     session ends right after (card_release: no PIN stays verified);
 *  2. a secret signing key in this boot's GnuPG home (s->gnupghome, the
 *     in-memory key of ownership): the ROM-trusted one, else gpg's default
 *     (as before the card: the signing then checks the result);
 *  3. else, with a UI, the "GPG signing key unavailable" menu: r retry
 *     (insert the dongle), b use the encrypted backup (a directory or
 *     block device, the heads-key-*.sec.asc file on it, its passphrase:
 *     decrypted into locked memory and imported into a private home for
 *     this ONE signing, removed by flow_signkey_put), F OEM factory reset
 *     / re-ownership and x recovery shell (only when the caller can leave
 *     for them: offer_leave), m return. Without a UI: -ENOKEY.
 *
 * Returns 0 and *ret (release with flow_signkey_put, always), -ENOKEY (no
 * key and no UI to ask), -ECANCELED (the user returned from the menu, or
 * chose F or x: *ret_leave says which), or a fatal UI error. */
#ifndef HEADS_FLOW_SIGNKEY_H
#define HEADS_FLOW_SIGNKEY_H

#include "flow/flow.h"
#include "secret.h"

#include <stdbool.h>

enum flow_signkey_source {
	FLOW_SIGNKEY_NONE,
	FLOW_SIGNKEY_CARD,   /* the dongle */
	FLOW_SIGNKEY_MEMORY, /* a secret key in s->gnupghome */
	FLOW_SIGNKEY_BACKUP, /* the encrypted backup, decrypted for one signing */
};

enum flow_signkey_leave {
	FLOW_SIGNKEY_STAY,     /* nothing chosen */
	FLOW_SIGNKEY_RESET,    /* F: OEM factory reset / re-ownership */
	FLOW_SIGNKEY_RECOVERY, /* x: the recovery shell */
};

struct flow_signkey {
	enum flow_signkey_source source;
	const char *gnupghome;   /* the GnuPG home to sign with */
	const char *key;         /* the key to name to gpg ("FPR!"), NULL: home's default */
	char keybuf[43];
	char serial[9];          /* CARD: the card's serial */
	int pin_tries;           /* CARD: User PIN tries left (-1 unknown) */
	const struct session *s;
	char *backup_home;       /* BACKUP: owned */
	const char *card_home;   /* CARD: the card session to end */
};

int flow_signkey_get(const struct session *s, const char *want, bool offer_leave,
		     struct flow_signkey *ret, enum flow_signkey_leave *ret_leave);
void flow_signkey_put(struct flow_signkey *k);

/* sig_pin_fn for signing with k (userdata: the struct flow_signkey): the
 * card's User PIN or the key's passphrase, through the session. */
int flow_signkey_pin(void *k, const char *hint, int attempt, struct secret **ret);
/* How many PIN attempts signing with k may make: 3; a card's last try is
 * kept (min(tries left - 1, 3); 1 when only 1 is left). */
int flow_signkey_attempts(const struct flow_signkey *k);

#endif
