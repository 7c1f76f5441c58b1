/* card.h - the owner's OpenPGP card (USB security dongle) through the real
 * GnuPG stack: GPGME, gpg-agent and scdaemon. No APDU is written here.
 *
 * Status and detection talk to gpg-agent over its Assuan socket (GPGME's
 * Assuan protocol; the socket of sig_agent_socket()): "SCD SERIALNO
 * openpgp" (no card: -ENODEV), "LEARN --sendinfo --force" (which also
 * writes the key stubs gpg needs to sign with the card) and "SCD GETATTR"
 * for the cardholder, key fingerprints, key attributes and PIN retry
 * counters. The status lines are parsed by card_parse_status() (bounded,
 * fuzzed: fuzz_card_status).
 *
 * Changes to the card go through gpg's own card editor (GPGME interact,
 * `gpg --card-edit` / `--edit-key ... keytocard`) with loopback pinentry:
 * PINs are handed over from struct secret through GPGME's passphrase
 * callback, never argv/env/files. The answers each prompt gets are fixed
 * per operation; a prompt the operation does not expect fails it (-EPROTO)
 * instead of being answered blindly, and the number of prompts is capped.
 *
 * card_release() ends the card session (KILLAGENT: gpg-agent and its
 * scdaemon exit, the reader connection is closed, the card's verified
 * PIN state is gone): called after every use, so no PIN outlives one
 * operation, whatever the card's "signature PIN forced" setting.
 *
 * Functions return 0 or a negative errno and log errors with log.h.
 */
#ifndef HEADS_GPG_CARD_H
#define HEADS_GPG_CARD_H

#include <stdbool.h>
#include <stddef.h>

#include "secret.h"

#define CARD_STATUS_LINE_MAX 1024 /* one Assuan status line */

enum card_pin { CARD_PW1 = 0, CARD_RC = 1, CARD_PW3 = 2 };

struct card_info {
	char aid[33];           /* application id (hex), "" if none */
	char serial[9];         /* the printed serial number (from the AID) */
	char manufacturer[64];
	char version[8];        /* OpenPGP application version, e.g. "3.4" */
	char name[80];          /* cardholder "Given Surname", "" when not set */
	char fpr[3][41];        /* signature, encryption, authentication key; "" */
	char algo[3][24];       /* e.g. "rsa2048", "ed25519"; "" when unknown */
	int retries[3];         /* PW1, reset code, PW3 (-1 unknown) */
	bool forcesig;          /* signature PIN needed for every signature */
	unsigned long sig_count;
};

void card_info_init(struct card_info *ci);

/* Apply one status line (keyword, then its arguments as the agent sends
 * them: percent-escaped) to ci. Unknown keywords are ignored; a known one
 * with malformed arguments is -EINVAL and leaves ci's field unchanged. */
int card_parse_status(struct card_info *ci, const char *keyword, const char *args);

/* Is there an OpenPGP card? Fills ci (keys learnt, stubs written).
 * -ENODEV: no card (or no reader); -EIO: the agent/scdaemon failed. */
int card_status(const char *gnupghome, struct card_info *ci);
/* The same, waiting at most wait_ms (card_status: 3 s) for a card to show
 * (0: one look, for "is a dongle there" before an in-memory key is used). */
int card_status_wait(const char *gnupghome, unsigned wait_ms, struct card_info *ci);

/* End the card session (see above). No agent running: 0. */
int card_release(const char *gnupghome);

/* The card's signing key against the ROM keyring (a GnuPG home of public
 * keys, read only): the dongle section of the integrity report. */
enum card_rom_match {
	CARD_ROM_MATCH = 0,     /* the card's signing key is a ROM keyring key */
	CARD_ROM_NO_CARD,       /* no card */
	CARD_ROM_NOT_PROVISIONED, /* card without a signing key */
	CARD_ROM_NOT_TRUSTED,   /* a signing key the ROM keyring does not hold */
};
const char *card_rom_match_name(enum card_rom_match m); /* "MATCHES" ... */
int card_check_rom_key(const struct card_info *ci, const char *keyring,
		       enum card_rom_match *ret);

/* Is fpr a usable signing (sub)key of keyring (a GnuPG home, read only)?
 * Each subkey's fingerprint is compared, no gpg pattern matching. */
int card_keyring_has(const char *keyring, const char *fpr, bool *ret);

/* Operations through gpg's card editor (card_edit.c). pin/admin are the
 * card's current User and Admin PINs. */
struct card_keygen {
	const char *algo;       /* "rsa2048", "rsa3072", "rsa4096", "ed25519" */
	const char *name;       /* user id: name, email, comment */
	const char *email;
	const char *comment;
};
int card_generate(const char *gnupghome, const struct card_keygen *g,
		  const struct secret *pin, const struct secret *admin, char ret_fpr[41]);

int card_factory_reset(const char *gnupghome);

/* which: CARD_PW1 (old = User PIN) or CARD_PW3 (old = Admin PIN); or
 * CARD_RC: unblock PW1 with the Admin PIN old, new = the new User PIN. */
int card_passwd(const char *gnupghome, enum card_pin which, const struct secret *old,
		const struct secret *new);

/* Cardholder name (surname, given name: ASCII letters, space, '-'). */
int card_set_name(const char *gnupghome, const char *surname, const char *given,
		  const struct secret *admin);

/* Move the signing, encryption and authentication subkeys of key fpr
 * (a secret key in gnupghome protected by keypass) to the card, slots 1,
 * 2, 3; the card's key attributes are set to the subkeys' algorithms
 * first. After this gnupghome holds stubs for them. */
int card_keytocard(const char *gnupghome, const char *fpr, const struct secret *keypass,
		   const struct secret *admin);

#endif
