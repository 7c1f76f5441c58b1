/* rollback.h - kexec_rollback.txt: binds a signed /boot to a TPM counter.
 *
 * Format (heads-behaviour.md §2.5, TPM2): the counter state text
 *   "<hex id>: <16 lower-case hex of the counter value>\n"
 * (the content of the shell version's /tmp/counter-<id>, id printed with
 * "%x", e.g. "1a2b3c4") and kexec_rollback.txt = `sha256sum` of that file:
 *   "<sha256 of the state text>  /tmp/counter-<hex id>\n".
 * The file only holds a hash, so "behind" is found by hashing the values
 * just below the TPM's (up to ROLLBACK_SEARCH of them); anything else that
 * does not match is a mismatch. We never need to write /tmp/counter-<id>:
 * the hash is computed in memory.
 *
 * Signing increments the counter first (index auth, then owner auth on an
 * auth failure), creating it when /boot has no kexec_rollback.txt yet.
 * Functions return 0 or a negative errno (TPM errors as tpm.h's TPM_E_*).
 */
#ifndef HEADS_BOOT_ROLLBACK_H
#define HEADS_BOOT_ROLLBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "secret.h"

struct tpm;

#define ROLLBACK_FILE "kexec_rollback.txt"
#define ROLLBACK_MAX_FILE 4096
#define ROLLBACK_SEARCH 65536
#define ROLLBACK_STATE_MAX 32 /* "ffffffff: 0123456789abcdef\n" + NUL */

enum rollback_state {
	ROLLBACK_NOT_USED = 0, /* no kexec_rollback.txt in /boot */
	ROLLBACK_DISABLED,     /* CONFIG_IGNORE_ROLLBACK=y / --no-rollback */
	ROLLBACK_OK,           /* matches the TPM counter */
	ROLLBACK_BEHIND,       /* signed for an older counter value (replay) */
	ROLLBACK_MISMATCH,     /* matches no value near the TPM counter */
	ROLLBACK_MALFORMED,    /* kexec_rollback.txt unreadable/unparsable */
	ROLLBACK_NO_TPM,       /* a counter is required but there is no TPM */
	ROLLBACK_TPM_ERROR,    /* the counter cannot be read */
	ROLLBACK_BAD_POLICY,   /* the NV index is not a counter the index
				  auth can increment (reference preflight) */
	ROLLBACK_LOCKOUT,      /* the counter is unreadable because the TPM is
				  in dictionary-attack lockout (detail: the
				  seconds until the next try) */
};

struct rollback_result {
	enum rollback_state state;
	uint32_t id;          /* NV index of the counter */
	uint64_t tpm_value;   /* counter value in the TPM (OK/BEHIND/MISMATCH) */
	uint64_t behind_by;   /* BEHIND: TPM value - signed value */
	char detail[256];
};

const char *rollback_state_name(enum rollback_state s); /* "OK", "BEHIND", ... */

/* "<hex id>: <16 hex>\n" into out (ROLLBACK_STATE_MAX bytes). */
void rollback_state_text(uint32_t id, uint64_t value, char *out);
/* kexec_rollback.txt content for (id, value); caller frees. */
char *rollback_format(uint32_t id, uint64_t value, size_t *ret_len);
/* Parse kexec_rollback.txt: exactly one sha256sum line whose name contains
 * "counter-<hex id>" (the reference regex) and ends there. -EINVAL if not. */
int rollback_parse(const char *buf, size_t len, uint32_t *ret_id, uint8_t ret_hash[32]);

/* Pure check of a parsed file against the TPM value (no TPM access). */
void rollback_check_value(uint32_t id, const uint8_t hash[32], uint64_t tpm_value,
			  struct rollback_result *res);

/* Read the counter named in buf from the TPM and check it. Returns 0 when
 * a state was determined (res), -errno only for internal failures. */
int rollback_verify(struct tpm *t, const char *buf, size_t len, struct rollback_result *res);

/* Signing, in two steps around the signature, so that a signature that
 * fails (a wrong PIN, a card pulled out) leaves the counter where the
 * /boot on disk says it is:
 * rollback_prepare: the id from existing (NULL: a new counter created with
 * owner_auth and advanced once, so that it has a value: nothing names it
 * yet), the value it will have after one more increment (read + 1) in
 * *ret_next, and the kexec_rollback.txt content for that value;
 * rollback_commit: that increment, right before /boot is written; the
 * counter must reach *ret_next (else -ESTALE: something else advanced it).
 * owner_auth may be NULL (then creation fails with TPM_E_AUTH_FAIL unless
 * the owner auth is empty; an increment refused without it is retried
 * with it). */
int rollback_prepare(struct tpm *t, const char *existing, size_t existing_len,
		     const struct secret *owner_auth, uint32_t *ret_id, uint64_t *ret_next,
		     char **ret, size_t *ret_len, struct rollback_result *res);
int rollback_commit(struct tpm *t, uint32_t id, uint64_t next, const struct secret *owner_auth,
		    struct rollback_result *res);

#endif
