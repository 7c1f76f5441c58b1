/* sig.h - kexec.sig: the detached OpenPGP signature over /boot's kexec*.txt.
 *
 * What is signed (heads-behaviour.md §3.1, §7.2): the output of
 * `sha256sum kexec*.txt` run in the boot directory, i.e. one line
 * "<64 lower hex>  <basename>\n" per file whose name matches kexec*.txt
 * (regular files only; kexec_package_trigger_*.txt, written by the OS's
 * package hooks, are left out), in C byte order of the names. The legacy form
 * used absolute names "/boot/<basename>"; verification tries the relative
 * form first, then the legacy one.
 *
 * Verification runs GPGME (gpg --verify) against a keyring directory: a
 * GnuPG home holding only trusted public keys (the ROM keyring). It is
 * never modified: its public keyring and trustdb are copied into a private
 * temporary home (mode 0700 under $TMPDIR or /tmp) removed afterwards.
 * A good signature from any key in that keyring is VERIFIED (like
 * `gpg --verify`, owner trust is not required: the keyring is the trust).
 * Every signature in kexec.sig must be good.
 *
 * Signing goes through GPGME with a chosen key (or the first secret key
 * able to sign) in a GnuPG home (software key or a smartcard through the
 * real gpg-agent/scdaemon), ASCII armour, loopback pinentry: the PIN is
 * asked for through the callback only when gpg needs it, and handed over
 * from a struct secret (never argv/env).
 *
 * Functions return 0 or a negative errno and log errors with log.h.
 */
#ifndef HEADS_BOOT_SIG_H
#define HEADS_BOOT_SIG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "secret.h"

#define SIG_FILE "kexec.sig"
#define SIG_MAX_FILE (256 * 1024)        /* kexec.sig bound */
#define SIG_MAX_SIGNED_FILES 4096        /* kexec*.txt files */
#define SIG_LEGACY_PREFIX "/boot/"

enum sig_state {
	SIG_VERIFIED = 0,  /* good signature by a keyring key */
	SIG_MISSING,       /* no kexec.sig (or no kexec*.txt to check) */
	SIG_BAD,           /* signature does not match the listing */
	SIG_UNKNOWN_KEY,   /* made by a key not in the keyring (fpr set) */
	SIG_MALFORMED,     /* no OpenPGP signature data in kexec.sig */
	SIG_INVALID,       /* other failure (expired/revoked key, gpg error) */
};

struct sig_result {
	enum sig_state state;
	bool legacy;          /* verified with the absolute-name listing */
	char fpr[64];         /* signer key fingerprint/id when known */
	time_t created;       /* signature creation time when known (0 if not) */
	char detail[256];     /* one-line reason for non-VERIFIED states */
};

const char *sig_state_name(enum sig_state s); /* "VERIFIED", "UNKNOWN KEY", ... */

struct boot_signed_file;

/* The same listing from buffers already read (files sorted by name, each
 * a kexec*.txt basename): what integrity_check() signs and verifies, so
 * the bytes hashed are the bytes it parses. *ret NUL-terminated. */
void sig_listing_bufs(const struct boot_signed_file *files, size_t n, const char *prefix,
		      char **ret, size_t *ret_len);

/* Read bootfd/kexec.sig (bounded, no symlink). Returns 1 with the bytes, or
 * 0 with res set to MISSING/MALFORMED. */
int sig_read_boot(int bootfd, char **ret, size_t *ret_len, struct sig_result *res);

/* kexec.sig over the listing of these buffers: relative names, then the
 * legacy absolute ones. MISSING when n == 0. 0 when a state was set. */
int sig_verify_files(const char *keyring_dir, const char *sig, size_t sig_len,
		     const struct boot_signed_file *files, size_t n, struct sig_result *res);

/* The same, run beside the caller's work: sig_verify_files_start() forks a
 * process that runs sig_verify_files() (gpg via GPGME) while the caller
 * hashes /boot, and sig_verify_files_join() waits for its result. The fork
 * happens in the calling thread; call it before starting any thread (GCC's
 * ASan, for one, can deadlock a child forked from a multi-threaded process).
 * join returns what sig_verify_files() returned, or -EIO (the state
 * INVALID) if the child died. */
struct sig_job {
	pid_t pid;
	int fd;
};
int sig_verify_files_start(const char *keyring_dir, const char *sig, size_t sig_len,
			   const struct boot_signed_file *files, size_t n, struct sig_job *ret);
int sig_verify_files_join(struct sig_job *job, struct sig_result *res);

/* Empty gpg-agent's passphrase cache for gnupghome (NULL: $GNUPGHOME or
 * ~/.gnupg) through its Assuan socket ("RELOADAGENT"), so a PIN given for
 * one signing is never reused by the next. No agent running: nothing is
 * cached, 0. */
int sig_agent_forget(const char *gnupghome);

/* The path of gnupghome's gpg-agent socket (NULL: $GNUPGHOME or ~/.gnupg),
 * as sig_agent_forget() finds it; malloc'd, NULL only if the working
 * directory cannot be read for a relative home. The agent may not run. */
char *sig_agent_socket(const char *gnupghome);

/* One Assuan command to gnupghome's gpg-agent (no agent: -ENOENT or
 * -ECONNREFUSED, nothing started): each status line "S KEYWORD ARGS" goes
 * to cb (args still percent-escaped, lines over 1 KiB dropped), inquiries
 * are cancelled. 0 with *ret_err = 0 (OK) or the agent's gpg-error value
 * (ERR); -errno if the socket fails. */
typedef void (*sig_agent_status_fn)(void *ud, const char *keyword, const char *args);
int sig_agent_transact(const char *gnupghome, const char *cmd, sig_agent_status_fn cb, void *ud,
		       unsigned *ret_err);

/* A fresh 0700 temporary GnuPG home ($TMPDIR or /tmp, heads-TAG-XXXXXX;
 * TAG NULL = "gpg") holding a copy of keyring_dir's public key files
 * (pubring.kbx/.gpg, trustdb, trustedkeys; the ROM keyring is never
 * written). keyring_dir NULL: an empty home. -ENOENT (logged) when the
 * keyring has no pubring. Remove it with sig_home_remove(). */
int sig_keyring_home(const char *keyring_dir, const char *tag, char **ret);
void sig_home_remove(const char *home);

/* A GPGME context for the OpenPGP engine on gnupghome (NULL: GPGME's
 * default), GPGME initialised once for the process (gpg from PATH, no
 * gpgconf discovery): the one set-up every GPGME user here shares. */
struct gpgme_context;
int sig_gpgme_new(const char *gnupghome, struct gpgme_context **ret);

/* Verify one detached signature over data against keyring_dir. The state
 * is in *res; returns 0 whenever a state was determined, -errno only if
 * GPGME could not run at all. */
int sig_verify_detached(const char *keyring_dir, const char *sig, size_t sig_len,
			const char *data, size_t data_len, struct sig_result *res);

/* PIN source for signing: called (possibly several times, attempt = 1..)
 * when gpg asks; return 0 and a secret, or -errno to abort. */
typedef int (*sig_pin_fn)(void *userdata, const char *hint, int attempt,
			  struct secret **ret);

struct sig_signer {
	const char *gnupghome; /* NULL: GPGME's default ($GNUPGHOME or ~/.gnupg) */
	const char *key;       /* key id/fingerprint; NULL: first signing key */
	sig_pin_fn pin;        /* may be NULL (unprotected key) */
	void *userdata;
	int max_attempts;      /* PIN attempts before giving up (0 -> 3) */
};

/* Sign data: ASCII-armoured detached signature in *ret (NUL-terminated).
 * gpg-agent's passphrase cache is emptied afterwards (sig_agent_forget),
 * whatever the outcome.
 * -ENOKEY no usable secret key, -EACCES bad PIN after the attempts,
 * -ECANCELED PIN entry aborted, -EIO other gpg failures. The fingerprint
 * of the key used is copied to ret_fpr (>= 41 bytes) if not NULL. */
int sig_sign(const struct sig_signer *s, const char *data, size_t len, char **ret,
	     size_t *ret_len, char *ret_fpr);

#endif
