/* tpm.h - TPM 2.0 through tpm2-tss ESAPI: PCRs, sealing, NV counters,
 * ownership. Reference: heads-behaviour.md section 2.
 *
 * Contract:
 * - One `struct tpm` per operation (one process does a whole operation).
 *   Every transient object and session this module creates is recorded in
 *   the context and flushed by tpm_close() (and, normally, earlier): this
 *   works on a raw swtpm socket, which has no resource manager.
 * - Functions return 0 on success or a negative errno. TPM outcomes that a
 *   caller must tell apart have their own codes (TPM_E_* below, each a
 *   distinct negative errno). Errors are logged once with log.h; nothing is
 *   printed to the user.
 * - Secrets (data, passphrases, owner auth) only travel in struct secret.
 *   Passphrases are used as raw bytes as the TPM authValue (the reference
 *   passes `hex:<hex of raw bytes>` to tpm2-tools, which is the same), or
 *   as SHA-256(passphrase) when longer than 32 bytes. No authorization or
 *   secret is sent in clear: owner auth in salted HMAC sessions, secrets
 *   parameter-encrypted.
 * - The persistent primary (TPM_PRIMARY_HANDLE) is created only by
 *   tpm_reset(), never on the boot path; seal/unseal fail with
 *   TPM_E_NO_PRIMARY if it is missing.
 * - TPM 2.0: only the SHA-256 bank is extended/sealed against; the SHA-1
 *   bank can be read (tpm_pcr_read "sha1"). TPM 1.2: the SHA-1 bank.
 *   tpm_bank() names it, for one prediction path (below).
 */
#ifndef HEADS_TPM_H
#define HEADS_TPM_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_esys.h>

#include "secret.h"

struct tpm; /* opaque context: one per operation */

/* Distinct outcomes (negative errno values). */
#define TPM_E_NO_TPM (-ENODEV)          /* TCTI/TPM unreachable */
#define TPM_E_NO_PRIMARY (-ENXIO)       /* no persistent primary at 0x81000000 */
#define TPM_E_NO_OBJECT (-ENOKEY)       /* nothing sealed at that handle / no NV index */
#define TPM_E_PCR_MISMATCH (-EKEYREJECTED) /* PolicyPCR refused: PCRs moved */
#define TPM_E_AUTH_FAIL (-EACCES)       /* wrong passphrase / owner auth (DA counted) */
#define TPM_E_LOCKOUT (-EBUSY)          /* dictionary-attack lockout is active */
#define TPM_E_NV_FULL (-ENOSPC)         /* TPM out of NV/object space */
/* The key at 0x81000000 is not the one pinned with tpm_pin_primary()
 * (recorded at ownership): the TPM was swapped, cleared or re-keyed. */
#define TPM_E_PRIMARY_CHANGED (-EREMCHG)
/* An NV record index (0x0148XXXX, the TOTP record) exists with attributes,
 * policy or name algorithm other than the ones heads defines it with: it was
 * not defined by heads (e.g. pre-defined with AUTHWRITE by someone else). */
#define TPM_E_FOREIGN_RECORD (-EUCLEAN)

#define TPM_PRIMARY_HANDLE 0x81000000u
#define TPM_HANDLE_TOTP 0x81004d47u
#define TPM_HANDLE_DUK 0x81000003u
/* NV index holding the PCR values a sealed object at persistent handle H was
 * sealed against: TPM_SEALREC_BASE | (H & 0xffff). See tpm_sealed_expected(). */
#define TPM_SEALREC_BASE 0x01480000u

#define TPM_PCR_COUNT 24
#define TPM_SHA256_LEN 32
#define TPM_SHA1_LEN 20

/* Open the TPM: Tss2_TctiLdr_Initialize(tcti) + Esys_Initialize +
 * Startup(CLEAR) (TPM_RC_INITIALIZE, i.e. already started, is fine).
 * tcti NULL -> $HEADS_TCTI, else by /sys/class/tpm/tpm0/tpm_version_major:
 * 1 -> "tpm12-device:/dev/tpm0", else "device:/dev/tpmrm0".
 * "tpm12-device:PATH" and "tpm12-swtpm:host=H,port=P" select the TPM 1.2
 * backend (tpm12.h: our own client, no TrouSerS), which implements PCR
 * read (sha1 bank) / extend (SHA-1 measurements), the DA state, NV, counters and
 * seal/unseal; other operations return -EOPNOTSUPP there (see `heads tpm
 * --help`). On a TPM 1.2, struct tpm_pcr_values and tpm_pcr_read_mask()
 * carry SHA-1 values in the first 20 bytes of each entry (rest zero).
 * Returns 0, TPM_E_NO_TPM, or -errno. */
int tpm_open(const char *tcti, struct tpm **ret);
/* 12 for a TPM 1.2, 20 for a TPM 2.0. */
int tpm_version(const struct tpm *t);
/* TPM_CAP_PROP_MANUFACTURER / TPM2_PT_MANUFACTURER as 4 characters. */
int tpm_manufacturer(struct tpm *t, char ret[5]);
/* Which TCTI tpm_open(NULL) would use (tcti from $HEADS_TCTI or detection). */
const char *tpm_default_tcti(void);
/* Flush every transient object/session still open, finalize ESAPI and the
 * TCTI, free. NULL is fine. */
void tpm_close(struct tpm *t);
static inline void tpm_closep(struct tpm **t) { tpm_close(*t); *t = NULL; }
#define _cleanup_tpm_ __attribute__((cleanup(tpm_closep)))
ESYS_CONTEXT *tpm_esys(struct tpm *t);
/* Number of TPM commands sent through this context so far (benchmarks). */
unsigned tpm_command_count(const struct tpm *t);

/* --- The primary key (0x81000000) ------------------------------------------
 * Every use of the primary (salt of a session, parent of Create/Load) goes
 * through tpm_get_primary(). Once a Name is pinned, the key found at
 * 0x81000000 must have exactly that Name (Esys_TR_GetName: ESAPI hashes
 * the public area it keeps for the TR -- the very key a salt is encrypted
 * to -- so a forged Name in a ReadPublic answer does not pass),
 * else TPM_E_PRIMARY_CHANGED and nothing is salted with, sealed to or
 * unsealed under it. Without a pin, whatever key is there is used.
 * name_hex: the TPM2B_NAME bytes (nameAlg || digest: 68 hex digits for
 * sha256), as tpm_primary_name() prints them; NULL or "" unpins. -EINVAL if
 * malformed. tpm_reset() pins the primary it creates. */
int tpm_pin_primary(struct tpm *t, const char *name_hex);
/* Hex Name of the key at 0x81000000 (checked against the pin, if any).
 * Caller frees. TPM_E_NO_PRIMARY if absent. */
int tpm_primary_name(struct tpm *t, char **ret_hex);
/* The primary's ESYS_TR (cached, shared: do not close). TPM_E_NO_PRIMARY if
 * absent, TPM_E_PRIMARY_CHANGED if it is not the pinned one. */
int tpm_get_primary(struct tpm *t, ESYS_TR *ret);
/* An HMAC session salted with the (checked) primary, parameter encryption
 * both ways (decrypt|encrypt|continueSession), tracked. */
int tpm_hmac_session(struct tpm *t, ESYS_TR *ret);
struct secret;
/* Create an object with public area pub, sensitive data `data` and
 * userAuth from auth (NULL: empty) under the (checked) primary in a salted
 * HMAC session (the secret travels encrypted; the sensitive area is built
 * in locked memory and wiped), then load it: *ret_loaded, tracked. what
 * names it in errors ("sealed object", "HMAC key"). */
int tpm_create_load(struct tpm *t, const TPM2B_PUBLIC *pub, const struct secret *data,
		    const struct secret *auth, const char *what, ESYS_TR *ret_loaded);

/* Record/forget a transient ESYS_TR (object or session) created outside
 * this module so tpm_close() flushes it; tpm_flush() flushes and forgets. */
void tpm_track(struct tpm *t, ESYS_TR h);
void tpm_flush(struct tpm *t, ESYS_TR h);

/* Map a TSS2_RC to a negative errno/TPM_E_* (used by callers of tpm_esys). */
int tpm_rc_to_errno(TSS2_RC rc);

/* --- PCRs ---------------------------------------------------------------- */

/* bank "sha256" or "sha1"; out must hold 32 (sha256) or 20 (sha1) bytes;
 * *ret_len gets the digest size. -EINVAL for a bad bank/pcr, -ENOENT if the
 * bank is not allocated. */
int tpm_pcr_read(struct tpm *t, const char *bank, unsigned pcr, uint8_t *out,
		 size_t *ret_len);
/* Read several sha256 PCRs in as few commands as possible (8 per command). */
int tpm_pcr_read_mask(struct tpm *t, uint32_t mask, uint8_t out[TPM_PCR_COUNT][32]);

/* Extend the sha256 bank of pcr with a digest (PCR := H(PCR || digest)) and
 * append log_measurement(pcr, "sha256", hex(digest), description). */
int tpm_extend_digest(struct tpm *t, unsigned pcr, const uint8_t sha256[32],
		      const char *description);
/* Extend pcr with a digest of bank (tpm_bank(t); 32-byte layout, a SHA-1
 * digest in the first 20 bytes) and trace it; a digest of another bank
 * than this TPM's is refused (-EINVAL). */
int tpm_extend_bank(struct tpm *t, unsigned pcr, const char *bank, const uint8_t digest[32],
		    const char *description);
/* H(s bytes, no newline), as the reference `-ic`; description is s. */
int tpm_extend_string(struct tpm *t, unsigned pcr, const char *s);
/* H(file content), reference `-if`; description is the path. */
int tpm_extend_file(struct tpm *t, unsigned pcr, const char *path);
int tpm_extend_buffer(struct tpm *t, unsigned pcr, const void *data, size_t len,
		      const char *description);

/* --- Sealing ------------------------------------------------------------- */

/* Expected values for the PCRs in mask (bit n = PCR n, sha256 bank). */
struct tpm_pcr_values {
	uint32_t mask;
	uint8_t sha256[TPM_PCR_COUNT][32];
};
int tpm_pcr_values_current(struct tpm *t, uint32_t mask, struct tpm_pcr_values *ret);
/* Software-computed policy digest; equals a trial session doing
 * PolicyPCR(sha256:mask, H(concat of values in PCR order)) [+ PolicyAuthValue]. */
int tpm_policy_digest(const struct tpm_pcr_values *v, bool with_auth_value,
		      uint8_t ret_digest[32]);
/* Start a real policy session and run PolicyPCR on the CURRENT PCRs in
 * pcr_mask (+ PolicyAuthValue). The session is tracked (tpm_close flushes it);
 * the caller may tpm_flush() it earlier. */
int tpm_policy_session(struct tpm *t, uint32_t pcr_mask, bool with_auth_value,
		       ESYS_TR *ret_session);
/* The same, salted with the (checked) primary and encrypting the response
 * parameter of the command it authorizes (e.g. TPM2_HMAC's result). */
int tpm_policy_session_salted(struct tpm *t, uint32_t pcr_mask, bool with_auth_value,
			      ESYS_TR *ret_session);
/* Persist the loaded transient object at handle (0x81xxxxxx), evicting
 * whatever is there, with owner auth in a salted HMAC session. */
int tpm_persist(struct tpm *t, ESYS_TR loaded, uint32_t handle, const struct secret *owner_auth);

/* Seal data (<= 128 bytes) to expected PCR values (+ passphrase auth if auth
 * is non-NULL) under the primary, and persist it at handle (0x81xxxxxx),
 * evicting whatever was there. Object attributes as the reference:
 * fixedtpm|fixedparent|adminwithpolicy, no userwithauth (the passphrase
 * alone never unseals). owner_auth NULL = empty owner auth. Also writes the
 * expected values to the NV record TPM_SEALREC_BASE|(handle&0xffff)
 * (owner-written, readable with empty auth) for diagnostics.
 * Returns 0, TPM_E_NO_PRIMARY, TPM_E_AUTH_FAIL (owner), TPM_E_LOCKOUT,
 * TPM_E_NV_FULL or -errno. If only the record cannot be written, the object
 * is persisted but the error is returned. Passphrase/owner auth longer than
 * 32 bytes is used as its SHA-256 (a TPM limit). */
int tpm_seal(struct tpm *t, uint32_t handle, const struct secret *data,
	     const struct tpm_pcr_values *expected, const struct secret *auth,
	     const struct secret *owner_auth);
/* Unseal the object at handle with a policy session on the current PCRs of
 * the mask it was sealed with (+ PolicyAuthValue with auth if auth is
 * non-NULL). The response is encrypted on the bus (session salted with the
 * primary). Outcomes:
 *   0                  *ret holds the secret
 *   TPM_E_NO_TPM       no TPM
 *   TPM_E_NO_PRIMARY   primary missing (TPM reset needed)
 *   TPM_E_NO_OBJECT    nothing sealed at handle
 *   TPM_E_PCR_MISMATCH PCRs moved (use tpm_sealed_expected() to name them)
 *   TPM_E_AUTH_FAIL    wrong passphrase (or a passphrase is needed/not needed)
 *   TPM_E_LOCKOUT      DA lockout (tpm_lockout_status() gives the time)
 * tpm_unseal() takes the PCR mask and whether a passphrase is needed from
 * the NV record, checked against the object's policy first (see
 * tpm_sealed_expected(); a record that does not match is -EBADMSG, one in an
 * index heads did not define TPM_E_FOREIGN_RECORD): a needed passphrase that is not
 * given is TPM_E_AUTH_FAIL without a TPM attempt (no DA count); a passphrase
 * given for an object without one is ignored. An object without a record is
 * -ENODATA (use tpm_unseal_mask()). tpm_unseal_mask() uses exactly the
 * given mask and uses PolicyAuthValue iff auth is non-NULL (a mismatch in
 * that choice shows up as TPM_E_PCR_MISMATCH). */
int tpm_unseal(struct tpm *t, uint32_t handle, const struct secret *auth,
	       struct secret **ret);
int tpm_unseal_mask(struct tpm *t, uint32_t handle, uint32_t mask,
		    const struct secret *auth, struct secret **ret);
/* The PCR values the object at handle was sealed against, from its NV
 * record, verified: the record's policy digest (with/without auth value)
 * must equal the object's authPolicy, else -EBADMSG. TPM 1.2: the record
 * is at TPM12_SEALREC_BASE|(handle&0xffff), 20 bytes per PCR, and SHA-1
 * of the composite of its values must equal the blob's digestAtRelease
 * (the passphrase flag is the owner-written record's word). *ret_with_auth tells
 * whether the object needs a passphrase. TPM_E_NO_OBJECT if no record. */
int tpm_sealed_expected(struct tpm *t, uint32_t handle, struct tpm_pcr_values *ret,
			bool *ret_with_auth);
/* Remove a persistent object (and its NV record, if any). Owner auth. */
int tpm_evict(struct tpm *t, uint32_t handle, const struct secret *owner_auth);

/* DA state (one GetCapability: TPM_PT_PERMANENT inLockout,
 * TPM_PT_LOCKOUT_COUNTER/_MAX_AUTH_FAIL/_INTERVAL): *ret_lockout true while
 * locked out; *ret_counter failed tries, *ret_max_tries the limit,
 * *ret_seconds the recovery interval (the TPM forgives one failure per
 * interval). Any output may be NULL. */
int tpm_lockout_status(struct tpm *t, bool *ret_lockout, uint32_t *ret_counter,
		       uint32_t *ret_max_tries, uint32_t *ret_seconds);
/* Called before every DA-protected authorization (a passphrase unseal, an
 * NV counter read/increment with its index auth): 0 when not locked out;
 * TPM_E_LOCKOUT (logged as "dictionary-attack lockout: next try in N s")
 * when it is, without sending the authorization (so a locked TPM is never
 * reported as a wrong passphrase, a swapped TPM or a counter MISMATCH).
 * *ret_seconds (may be NULL) = seconds until the next try is allowed. A
 * TPM does not report when the last failure happened, so this is the
 * upper bound: the recovery interval. A TPM that cannot answer is not
 * "locked": the error of the operation itself is reported then. */
int tpm_lockout_check(struct tpm *t, uint32_t *ret_seconds);
/* The dictionary-attack policy tpm_reset() sets (default: the reference's
 * 10 tries, one forgotten every 3600 s, lockout recovery 0 and a random
 * lockout authorization). Boards keep the default; tests shorten it. */
#define TPM_DA_MAX_TRIES 10u
#define TPM_DA_RECOVERY_SECONDS 3600u
void tpm_set_da_policy(struct tpm *t, uint32_t max_tries, uint32_t recovery_seconds);
/* Where the diagnostics of this context read the firmware's PCR 2 events
 * (cbstages.h): NULL (default) = coreboot's cbmem log through /dev/mem,
 * else a saved log file (not copied: it must outlive the context). */
void tpm_set_coreboot_log(struct tpm *t, const char *path);
const char *tpm_coreboot_log(const struct tpm *t);

/* --- NV ------------------------------------------------------------------ */

/* Owner-written records (the seal record 0x0148XXXX, the TOTP record):
 * an ordinary index with exactly TPM_RECORD_ATTRS (no AUTHWRITE: only the
 * owner writes it; read with empty index auth), nameAlg sha256, no policy.
 * tpm_record_write() undefines whatever is at index (owner auth) and defines
 * it anew before writing, so the content is always the owner's, in salted
 * owner sessions. tpm_record_read() refuses (TPM_E_FOREIGN_RECORD, logged)
 * an index with any other attributes, algorithm or policy, or never
 * written; TPM_E_NO_OBJECT if undefined. len 1..2048. */
#define TPM_RECORD_ATTRS (TPMA_NV_OWNERWRITE | TPMA_NV_OWNERREAD | TPMA_NV_AUTHREAD | TPMA_NV_NO_DA)
int tpm_record_write(struct tpm *t, uint32_t index, const void *data, size_t len,
		     const struct secret *owner_auth);
int tpm_record_read(struct tpm *t, uint32_t index, uint8_t **ret, size_t *ret_len);

/* A 64-bit NV counter at a random free index 0x01XXXXXX (not in the
 * TPM_SEALREC_BASE range) with the reference attributes
 * ownerread|authread|authwrite|nt=counter and empty index auth. Defined
 * with owner auth. The counter is readable only after the first increment
 * (TPM rule); tpm_counter_create increments it once so it is readable. */
int tpm_counter_create(struct tpm *t, const struct secret *owner_auth, uint32_t *ret_index);
int tpm_counter_read(struct tpm *t, uint32_t index, uint64_t *ret_value);
/* owner_auth NULL: index (empty) auth, else owner auth. Returns the new value. */
int tpm_counter_increment(struct tpm *t, uint32_t index, const struct secret *owner_auth,
			  uint64_t *ret_value);
/* Ordinary NV index: attributes ownerwrite|ownerread|authread|authwrite|no_da,
 * empty index auth, 1..2048 bytes. -EEXIST if defined; reading an index never
 * written is -ENODATA. Writes/reads go in 512-byte chunks. */
int tpm_nv_define(struct tpm *t, uint32_t index, size_t size, const struct secret *owner_auth);
int tpm_nv_write(struct tpm *t, uint32_t index, const void *data, size_t len,
		 const struct secret *owner_auth);
/* Reads the whole index (size from NV_ReadPublic) with index auth; caller frees. */
int tpm_nv_read(struct tpm *t, uint32_t index, uint8_t **ret, size_t *ret_len);
int tpm_nv_undefine(struct tpm *t, uint32_t index, const struct secret *owner_auth);
/* NV_ReadPublic: attributes and data size. TPM_E_NO_OBJECT if undefined. */
int tpm_nv_info(struct tpm *t, uint32_t index, uint32_t *ret_attributes, size_t *ret_size);

/* --- Ownership ----------------------------------------------------------- */

/* TPM reset (reference tpmr reset): ClearControl(platform, NO) + Clear
 * (platform auth, empty) - or, when the platform hierarchy is locked
 * (UEFI firmware, tpm_finalize), Clear with the lockout hierarchy's auth if
 * it is still empty (a never-owned TPM); else TPM_E_AUTH_FAIL -
 * then owner and endorsement auth := owner_auth,
 * ECC P-256 primary (sha256, reference template) persisted at 0x81000000,
 * DA max-tries 10 / recovery 3600 s (tpm_set_da_policy) / lockout recovery
 * 0, lockout auth := 32 random bytes never shown. */
int tpm_reset(struct tpm *t, const struct secret *owner_auth);
/* Before kexec: platform hierarchy auth := random, never shown. 0 also when
 * it was locked before us (the firmware disabled the platform hierarchy, or
 * set an authorization that we, too, do not know); any other failure is an
 * error the caller must not boot past. */
int tpm_finalize(struct tpm *t);
/* Shutdown(CLEAR). Call it before reboot/poweroff (as the reference's
 * reboot.sh does): after a DA-protected authorization (e.g. the DUK unseal
 * with a passphrase) a TPM restart without it counts as one DA failure
 * (observed on swtpm: failed-tries 1, 2, 3, 4 over 4 such cycles; max 10). */
int tpm_shutdown(struct tpm *t);
/* Counts of loaded transient objects and sessions (TPM_CAP_HANDLES) — used
 * by tests to assert nothing leaks. */
int tpm_count_handles(struct tpm *t, unsigned *ret_transient, unsigned *ret_sessions);

/* --- Firmware event log (see eventlog.h) --------------------------------- */
struct tpm_eventlog;
/* Value PCR pcr will have (sha256 bank) = replay of the firmware log for
 * that PCR (log NULL = all-zero start, as coreboot without a log), then
 * extended with each of extra[0..n_extra). */
int tpm_predict_pcr(const struct tpm_eventlog *log, unsigned pcr,
		    const uint8_t (*extra)[32], size_t n_extra, uint8_t ret[32]);

/* The same in the SHA-1 bank (TPM 1.2; the reference's calcfuturepcr with
 * PCR_SIZE 20): replay of the log's SHA-1 digests, then the extra SHA-1
 * measurements. */
int tpm_predict_pcr_sha1(const struct tpm_eventlog *log, unsigned pcr,
			 const uint8_t (*extra)[20], size_t n_extra, uint8_t ret[20]);

/* --- Banks: one prediction path for both TPM versions -------------------
 * The bank a TPM extends, seals against and is predicted in: "sha1" on a
 * TPM 1.2, "sha256" on a TPM 2.0. Digests of either bank travel in 32-byte
 * entries, the bank's bytes first and the rest zero (as struct
 * tpm_pcr_values). */
const char *tpm_bank(const struct tpm *t);
/* 20 (sha1), 32 (sha256), 0 for anything else. */
size_t tpm_bank_len(const char *bank);
/* The bank's hash of data, zero-padded to 32 bytes. -EINVAL bad bank. */
int tpm_bank_hash(const char *bank, const void *data, size_t len, uint8_t ret[32]);
/* The bank of the TPM a TCTI string selects (NULL: tpm_default_tcti()),
 * without opening it: "sha1" for tpm12-*, else "sha256". */
const char *tpm_tcti_bank(const char *tcti);
/* tpm_predict_pcr() or tpm_predict_pcr_sha1() by bank, in that layout. */
int tpm_predict_pcr_bank(const char *bank, const struct tpm_eventlog *log, unsigned pcr,
			 const uint8_t (*extra)[32], size_t n_extra, uint8_t ret[32]);
/* Before a secret is sealed (and anything is changed for it): the key it
 * will be sealed under is there -- TPM 2.0: tpm_get_primary() (present and
 * the pinned one); TPM 1.2: the TPM has an owner (and so an SRK). 0,
 * TPM_E_NO_PRIMARY, TPM_E_PRIMARY_CHANGED or -errno; logged. */
int tpm_check_parent(struct tpm *t);

/* "0,1,2-4,7" -> mask. -EINVAL on bad syntax or pcr >= 24. */
int tpm_parse_pcr_list(const char *s, uint32_t *ret_mask);

#endif
