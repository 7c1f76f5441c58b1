/* gpg/keyring.h - the one GPGME set-up for every caller (signature checks,
 * /boot signing, key generation, ROM keyring import/list, backups).
 *
 * GPGME is initialized once per process: gpgconf discovery is disabled
 * first (it costs several gpgconf/gpgsm processes per context and we use
 * only the OpenPGP engine: gpg from PATH), then gpgme_check_version().
 * GPGME reads that flag only before its first check_version, so no caller
 * may call gpgme_check_version() itself: gpg_context() is the only door.
 * A context is OpenPGP, bound to one GnuPG home (NULL: gpg's default).
 */
#ifndef HEADS_GPG_KEYRING_H
#define HEADS_GPG_KEYRING_H

#include <gpgme.h>

enum {
	GPG_CTX_MKDIR = 1 << 0,    /* create home (0700, parents too) first */
	GPG_CTX_LOOPBACK = 1 << 1, /* pinentry loopback: passphrases by callback */
	GPG_CTX_ARMOR = 1 << 2,    /* ASCII-armoured output */
	/* home handed to gpg as GNUPGHOME (set in the environment) instead of
	 * the context's engine info, which makes GPGME run `gpg --version` a
	 * second time. The environment is process-wide: only for a process
	 * that is single-threaded and checks with this one home (the
	 * signature-check child of sig_verify_files_start). */
	GPG_CTX_ENV_HOME = 1 << 3,
};

/* Initialize GPGME (once; thread-safe). Every gpg_context() does it. */
void gpg_init(void);

/* A new context for home with flags. 0, or -EIO / -errno (logged, naming
 * home). Release with gpgme_release(). */
int gpg_context(const char *home, unsigned flags, gpgme_ctx_t *ret);

#endif
