/* tpm-internal.h - shared between the files of src/lib/tpm (not a public API). */
#ifndef HEADS_TPM_INTERNAL_H
#define HEADS_TPM_INTERNAL_H

#include "tpm/tpm.h"
#include "tpm/tpm12.h"

#include <tss2/tss2_tcti.h>

struct count_tcti {
	TSS2_TCTI_CONTEXT_COMMON_V2 common;
	TSS2_TCTI_CONTEXT *inner;
	unsigned count;
};

struct tpm {
	struct count_tcti ct; /* what ESAPI talks to */
	TSS2_TCTI_CONTEXT *inner;
	ESYS_CONTEXT *esys;
	ESYS_TR *tracked;
	size_t n_tracked;
	ESYS_TR primary; /* cached TR of TPM_PRIMARY_HANDLE, ESYS_TR_NONE until looked up */
	TPM2B_NAME pin;  /* expected Name of the primary; size 0 = not pinned */
	uint32_t da_max_tries, da_recovery; /* policy set by tpm_reset() */
	struct tpm12 *t12; /* TPM 1.2 backend: no ESAPI (esys NULL) */
	const char *coreboot_log; /* tpm_set_coreboot_log(); NULL = cbmem */
};

/* Map rc and log it at debug level; returns tpm_rc_to_errno(rc). */
int tpm_log_rc(TSS2_RC rc, const char *what);
int tpm_sha256(const void *data, size_t len, uint8_t out[32]);
/* Log a TPM failure at error level; returns tpm_rc_to_errno(rc). */
int tpm_log_rc_error(TSS2_RC rc, const char *what);
/* authValue from a passphrase: raw bytes if <= 32, else SHA-256(bytes). */
void tpm_auth_value(const struct secret *s, TPM2B_AUTH *ret);
/* ESYS_TR of a persistent handle or NV index (ReadPublic); caller
 * Esys_TR_Close()s it. TPM_E_NO_OBJECT if absent. */
int tpm_from_handle(struct tpm *t, uint32_t handle, ESYS_TR *ret);
/* Set the owner authValue from owner_auth (tpm_auth_value rule) and start
 * the session for an owner-authorized command: a salted HMAC session (the
 * authorization never travels in clear). Without a primary only an EMPTY
 * owner auth may go in a password session; a non-empty one is refused
 * (TPM_E_NO_PRIMARY), as is a primary that is not the pinned one.
 * Release with tpm_owner_session_end(). */
int tpm_owner_session(struct tpm *t, const struct secret *owner_auth, ESYS_TR *ret);
void tpm_owner_session_end(struct tpm *t, ESYS_TR s);
/* Start an auth session of type (TPM2_SE_HMAC, TPM2_SE_POLICY), AES-128-CFB,
 * SHA-256, salted with salt_key (ESYS_TR_NONE: unsalted), with attrs;
 * tracked (flushed at tpm_close). */
int tpm_start_session(struct tpm *t, ESYS_TR salt_key, TPM2_SE type, TPMA_SESSION attrs,
		      ESYS_TR *ret);
/* On a TPM 1.2 an operation that does not exist there (yet): logged once,
 * -EOPNOTSUPP. */
int tpm12_unsupported(const char *what);
/* seal.c: the record of sealed PCR values (TPM_SEALREC_BASE | handle's low
 * 16 bits), dlen bytes per PCR (32 on TPM 2.0, 20 on TPM 1.2). */
#define SEALREC_MAX (9 + TPM_PCR_COUNT * 32)
uint32_t sealrec_index(uint32_t handle);
size_t sealrec_encode(const struct tpm_pcr_values *v, bool with_auth, size_t dlen, uint8_t *buf);
int sealrec_decode(const uint8_t *buf, size_t len, size_t dlen, struct tpm_pcr_values *v,
		   bool *with_auth);
int tpm12_api_sealed_expected(struct tpm *t, uint32_t handle, struct tpm_pcr_values *ret,
			      bool *ret_with_auth);
/* tpm12_api.c: the TPM 1.2 side of tpm.h (t->t12 set). */
int tpm12_api_seal(struct tpm *t, uint32_t handle, const struct secret *data,
		   const struct tpm_pcr_values *expected, const struct secret *auth,
		   const struct secret *owner_auth);
int tpm12_api_unseal(struct tpm *t, uint32_t handle, const struct secret *auth,
		     struct secret **ret);
int tpm12_api_evict(struct tpm *t, uint32_t handle, const struct secret *owner_auth);
int tpm12_api_lockout_status(struct tpm *t, bool *ret_lockout, uint32_t *ret_counter,
			     uint32_t *ret_max_tries, uint32_t *ret_seconds);
int tpm12_api_counter_create(struct tpm *t, const struct secret *owner_auth, uint32_t *ret_index);
int tpm12_api_counter_read(struct tpm *t, uint32_t index, uint64_t *ret_value);
int tpm12_api_counter_increment(struct tpm *t, uint32_t index, uint64_t *ret_value);
int tpm12_api_nv_info(struct tpm *t, uint32_t index, uint32_t *ret_attributes, size_t *ret_size);
int tpm12_api_nv_read(struct tpm *t, uint32_t index, uint8_t **ret, size_t *ret_len);
/* getrandom() into buf. */
int tpm_random(void *buf, size_t len);

#endif
