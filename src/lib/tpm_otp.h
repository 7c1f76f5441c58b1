/* tpm_otp.h - the TOTP/HOTP secret as a TPM2 keyed-hash object; codes are
 * computed by the TPM (TPM2_HMAC), so the secret never enters RAM at boot.
 * Reference: heads-behaviour.md §6, §2.3, §2.4 (beyond the reference, which
 * unseals the secret into a file and computes in software).
 *
 * Object: TPM2_ALG_KEYEDHASH, scheme HMAC-SHA1, nameAlg SHA-256, attributes
 * sign|fixedTPM|fixedParent|adminWithPolicy (no userWithAuth: only the
 * policy authorises use), empty authValue, authPolicy = PolicyPCR over the
 * expected sha256 values of the attestation PCRs (tpm_policy_digest()).
 * Created under the persistent primary TPM_PRIMARY_HANDLE (never created
 * here), with the secret sent in a session salted with the primary
 * (parameter encryption), and persisted at TPM_HANDLE_TOTP (0x81004d47).
 *
 * Expected PCR values: PCRs 0-3 and 7 are read now; PCR 4 is the firmware-only
 * value predicted from the firmware event log (tpm_predict_pcr(); with no log,
 * e.g. swtpm or coreboot without one, the replay of nothing = all zeros, as the
 * reference calcfuturepcr). The expected values are also kept in a small NV
 * record (TPM_OTP_RECORD_INDEX, owner-written, readable with empty auth) so a
 * failed code can name the PCRs that moved (expected vs actual).
 *
 * Each code uses one fresh policy session (PolicyPCR on the current PCRs),
 * salted with the primary so the HMAC comes back encrypted, flushed right
 * after. Owner authorization (persist, record, wipe) goes in salted owner
 * sessions (tpm_owner_session rule); the record is an owner-written record
 * (tpm_record_write/read: an index heads did not define is refused). The
 * primary is checked against the context's pin (tpm_pin_primary):
 * TPM_E_PRIMARY_CHANGED. Outcomes are the TPM_E_* codes of tpm.h:
 * TPM_E_NO_TPM, TPM_E_NO_PRIMARY, TPM_E_NO_OBJECT (not sealed),
 * TPM_E_PCR_MISMATCH (PCRs moved; tpm_otp_explain() says which), TPM_E_LOCKOUT.
 */
#ifndef HEADS_TPM_OTP_H
#define HEADS_TPM_OTP_H

#include <stdint.h>
#include <time.h>

#include "otp.h"
#include "tpm/tpm.h"

/* Reference attestation PCRs: 0,1,2,3,4,7. */
#define TPM_OTP_DEFAULT_PCRS 0x9fu
/* NV record of the expected PCR values: "HOTR" magic, u32 mask (BE), then
 * 32 bytes per PCR in the mask, lowest first. */
#define TPM_OTP_RECORD_INDEX 0x01504d47u
#define TPM_OTP_RECORD_MAGIC "HOTR"

/* Expected values for mask: current PCRs, PCR 4 replaced by the firmware-only
 * prediction from eventlog_path (NULL or missing file: all zeros; a file
 * that does not parse is an error). */
int tpm_otp_expected(struct tpm *t, uint32_t mask, const char *eventlog_path,
		     struct tpm_pcr_values *ret);

/* Create the keyed-hash object for key (exactly OTP_SECRET_LEN bytes) bound
 * to expected, persist it at handle (replacing what is there; owner auth,
 * NULL = empty) and write the NV record. */
int tpm_otp_seal(struct tpm *t, uint32_t handle, const struct secret *key,
		 const struct tpm_pcr_values *expected, const struct secret *owner_auth);

/* HMAC-SHA1(key in TPM, msg) with a fresh policy session on the current PCRs
 * in pcr_mask. msg at most 64 bytes. pcr_mask 0 (here and in the functions
 * below) means the list the object was sealed with (tpm_otp_sealed_mask()),
 * else TPM_OTP_DEFAULT_PCRS. */
int tpm_otp_hmac(struct tpm *t, uint32_t handle, uint32_t pcr_mask, const void *msg,
		 size_t len, uint8_t ret[OTP_SHA1_LEN]);
/* RFC 6238 / RFC 4226 codes (6 digits) computed by the TPM. */
int tpm_otp_totp(struct tpm *t, uint32_t handle, uint32_t pcr_mask, time_t now,
		 uint32_t *ret_code);
int tpm_otp_hotp(struct tpm *t, uint32_t handle, uint32_t pcr_mask, uint64_t counter,
		 uint32_t *ret_code);

/* After TPM_E_PCR_MISMATCH: a human sentence naming the PCRs that differ from
 * the record (expected vs actual, hex prefixes), or saying which PCRs may have
 * moved if there is no record or the record does not match the authPolicy of
 * the object at TPM_HANDLE_TOTP (the record is for that handle only). Caller
 * frees. Never NULL. */
char *tpm_otp_explain(struct tpm *t, uint32_t pcr_mask);

/* The PCR mask the object at TPM_HANDLE_TOTP was sealed with, from the NV
 * record after checking it against the object's authPolicy. TPM_E_NO_OBJECT
 * without a record, -EBADMSG if the record does not describe the object. */
int tpm_otp_sealed_mask(struct tpm *t, uint32_t *ret_mask);

/* One sentence for a failed code/seal outcome r (a TPM_E_* or -errno):
 * "no TPM", "not sealed", lockout, the PCRs that moved (tpm_otp_explain),
 * never a bare error. t may be NULL (no TPM context). Caller frees. */
char *tpm_otp_reason(struct tpm *t, int r, uint32_t pcr_mask);

/* Remove the object at handle (tpm_evict(), which also drops a TPM-core
 * record of that handle) and the NV record (owner auth, NULL = empty).
 * Nothing there is TPM_E_NO_OBJECT; a wrong owner passphrase TPM_E_AUTH_FAIL. */
int tpm_otp_wipe(struct tpm *t, uint32_t handle, const struct secret *owner_auth);

/* Is there an object at handle? 1 yes, 0 no, or -errno. */
int tpm_otp_present(struct tpm *t, uint32_t handle);

/* The PCR list a code is computed with: the one the object was sealed with
 * (its record, tpm_otp_sealed_mask()), else configured (the board's
 * CONFIG_TOTP_PCRS). Every reader of codes uses this, so a secret sealed by
 * one flow reads in every other. */
uint32_t tpm_otp_code_mask(struct tpm *t, uint32_t configured);

/* Enrolment, the one road for every caller (`heads totp seal`, the menu's
 * ownership, Options and after-ROM-write seals): check the primary is
 * there, compute the expected values for mask (tpm_otp_expected(); with
 * next_pcr7 non-NULL and PCR 7 in mask, PCR 7 is the next boot's value
 * after a ROM write), generate a fresh secret, seal it at TPM_HANDLE_TOTP,
 * then check the sealed object: the TPM's code for now must equal the
 * software code of the secret. A TPM_E_PCR_MISMATCH there is not a
 * failure (sealed for a later boot): *ret_note then says why there is no
 * code in this boot (tpm_otp_explain()); else *ret_note is NULL.
 * On success *ret_key holds the secret (to show once; caller wipes).
 * On failure *ret_step names what failed. */
enum tpm_otp_enrol_step {
	TPM_OTP_STEP_PRIMARY,  /* no primary key / no TPM */
	TPM_OTP_STEP_EXPECTED, /* the expected PCR values */
	TPM_OTP_STEP_SECRET,   /* generating the secret */
	TPM_OTP_STEP_SEAL,     /* sealing */
	TPM_OTP_STEP_CHECK,    /* the sealed object gives no code */
	TPM_OTP_STEP_MISMATCH, /* its code is not the secret's (-EBADMSG) */
};
int tpm_otp_enrol(struct tpm *t, uint32_t mask, const char *eventlog_path,
		  const uint8_t next_pcr7[32], const struct secret *owner_auth,
		  struct secret **ret_key, char **ret_note, enum tpm_otp_enrol_step *ret_step);

/* The same with the next boot's values of any PCRs (those in next->mask
 * replace the computed expected values; PCR 2 and PCR 7 after a firmware
 * update: flash_predict_pcrs()). next NULL = tpm_otp_enrol with no
 * next_pcr7. */
int tpm_otp_enrol_next(struct tpm *t, uint32_t mask, const char *eventlog_path,
		       const struct tpm_pcr_values *next, const struct secret *owner_auth,
		       struct secret **ret_key, char **ret_note, enum tpm_otp_enrol_step *ret_step);

/* The words for a failed step, e.g. "sealing the TOTP secret failed". */
const char *tpm_otp_enrol_step_name(enum tpm_otp_enrol_step step);

#endif
