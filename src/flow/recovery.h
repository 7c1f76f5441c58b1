/* flow/recovery.h - the recovery shell (reference: heads-behaviour.md 1.8),
 * for `heads recovery` and the menu (which calls it with its session: no
 * argv built, no configuration reloaded).
 *
 * Each round: wipe the secret directory (every file overwritten with zeros,
 * then removed), extend PCR 4 with "recovery" (so nothing sealed to the
 * boot-time PCR 4 unseals from the shell), the GPG challenge when
 * CONFIG_HAVE_GPG_KEY_BACKUP=y, print the message and PCRs 0-7, drain typed
 * input, then run the shell on the terminal. When the shell exits the round
 * starts over (re-wiped, re-measured, re-authenticated) unless rounds says
 * otherwise. Fail closed: with CONFIG_TPM=y no shell is started if PCR 4
 * could not be extended; under CONFIG_RESTRICTED_BOOT=y there is no shell.
 */
#ifndef HEADS_FLOW_RECOVERY_H
#define HEADS_FLOW_RECOVERY_H

#include "flow/flow.h"

#define RECOVERY_DEFAULT_SHELL "/bin/busybox"
#define RECOVERY_DEFAULT_SECRET_DIR "/tmp/secret"
#define RECOVERY_DEFAULT_KEYRING "/.gnupg"

enum {
	RECOVERY_EXIT_RESTRICTED = 3, /* Restricted Boot: no shell */
	RECOVERY_EXIT_NO_MEASURE = 4, /* PCR 4 not extended: no shell */
	RECOVERY_EXIT_AUTH = 5,       /* GPG challenge not passed */
};

struct recovery_options {
	const char *message; /* shown before the first shell */
	const char *shell;   /* NULL: busybox sh, else /bin/sh */
	unsigned long long rounds; /* shells before returning; 0: forever */
};

/* Runs the rounds with s (cfg, tcti, keyring, gnupghome, secret_dir; s->ui
 * is not used: the shell gets the terminal). Returns the last shell's
 * status, 1 wiping failed, or a RECOVERY_EXIT_*. */
int flow_recovery(const struct session *s, const struct recovery_options *o);

/* The GPG challenge (reference gpg_auth): a fresh 20-byte nonce signed with
 * the owner's key and verified against the ROM keyring (s->keyring); 3
 * tries. The key is chosen as for signing /boot (flow/signkey.h): the
 * dongle, this boot's key in s->gnupghome, else the "GPG signing key
 * unavailable" menu on s->ui (the dongle again, or the encrypted backup for
 * this one challenge); the PIN / passphrase is asked through s->ui by the
 * person at the console (gpg-agent's cache emptied first). purpose names
 * it in the log. 0 passed, -EACCES failed, -EPIPE/-EPROTO the UI ended.
 * The recovery shell's, and the menu's Restricted Boot toggle and reset. */
int flow_gpg_challenge(const struct session *s, const char *purpose);

#endif
