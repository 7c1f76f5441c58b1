/* tpm12.h - a small TPM 1.2 client (no TrouSerS/tcsd): transport over
 * /dev/tpm0 or swtpm's TCP command port, OIAP/OSAP sessions with the HMAC
 * authorization chain (every authorized response's resAuth is verified),
 * and the commands Heads uses. Used by tpm.c when the TCTI string is
 * "tpm12-device:PATH" or "tpm12-swtpm:host=H,port=P" (or when
 * /sys/class/tpm/tpm0/tpm_version_major says 1).
 *
 * Authorization values are 20 bytes: SHA-1 of the passphrase (as the
 * reference's tpmtotp/IBM tools do with -pwdo/-pwdd/-pwdc); NULL = the
 * well-known secret (20 zero bytes, the SRK's in Heads).
 * Returns 0 or a negative errno / TPM_E_* (tpm.h).
 */
#ifndef HEADS_TPM12_H
#define HEADS_TPM12_H

#include "secret.h"
#include "tpm/tpm12_wire.h"

#include <stdbool.h>
#include <stdint.h>

struct tpm12;

/* NV index of the record of the PCR values a secret at persistent handle H
 * was sealed to: TPM12_SEALREC_BASE | (H & 0xffff) (TPM 2.0: 0x0148XXXX,
 * whose reserved bits 27-24 a TPM 1.2 refuses). */
#define TPM12_SEALREC_BASE 0x00480000u
/* How tpm.h names a TPM 1.2 rollback counter (tpm_counter_*, the
 * kexec_rollback.txt "counter-N" name, CONFIG_ROLLBACK_COUNTER): the
 * reference's counter label 0xbaddecaf in the top half, the TPM's
 * TPM_COUNT_ID (small: 0, 1, ...) in the low half. Never 0 (0 means "no
 * counter" in a config), never a TPM 2.0 NV index (0x01XXXXXX). */
#define TPM12_COUNTER_TAG 0xbadd0000u

/* spec: "device:/dev/tpm0" or "swtpm:host=H,port=P" (the part after
 * "tpm12-"). Sends Startup(ST_CLEAR) (already started is fine). */
int tpm12_open(const char *spec, struct tpm12 **ret);
void tpm12_close(struct tpm12 *t);
unsigned tpm12_command_count(const struct tpm12 *t);
/* The SRK's usage auth (default: the well-known 20 zero bytes, as Heads
 * owns a TPM 1.2). swtpm_setup --srk-well-known stores SHA-1(20 zeros). */
void tpm12_set_srk_auth(struct tpm12 *t, const uint8_t auth[20]);
/* Send c, receive into resp (TPM12_MAX_COMMAND bytes), parse the header.
 * The TPM's returnCode is r->rc (not mapped). */
int tpm12_transmit(struct tpm12 *t, struct tpm12_cmd *c, uint8_t *resp, struct tpm12_rsp *r);
/* returnCode -> errno/TPM_E_*. */
int tpm12_rc_to_errno(uint32_t rc);
const char *tpm12_rc_name(uint32_t rc);

/* 20-byte authValue of a passphrase: SHA-1(bytes); NULL -> 20 zeros. */
void tpm12_auth_value(const struct secret *pass, uint8_t ret[20]);

int tpm12_pcr_read(struct tpm12 *t, unsigned pcr, uint8_t out[20]);
int tpm12_extend(struct tpm12 *t, unsigned pcr, const uint8_t digest[20], uint8_t ret_new[20]);
/* TPM_CAP_PROP_MANUFACTURER as 4 printable characters + NUL. */
int tpm12_manufacturer(struct tpm12 *t, char ret[5]);
int tpm12_perm_flags(struct tpm12 *t, struct tpm12_perm_flags *ret);
/* TPM_CAP_FLAG_VOLATILE (TPM_STCLEAR_FLAGS). */
int tpm12_stclear_flags(struct tpm12 *t, struct tpm12_stclear_flags *ret);
/* TSC_PhysicalPresence(value) (Part 3 6.2.1: 0x0020 CMD_ENABLE, 0x0008
 * PRESENT, 0x0010 NOTPRESENT, 0x0004 LOCK, or'ed). */
int tpm12_physical_presence(struct tpm12 *t, uint16_t value);
/* TPM_CAP_PROP_OWNER: whether the TPM has an owner (and so an SRK). */
int tpm12_owned(struct tpm12 *t, bool *ret);
/* TPM_CAP_HANDLE: loaded handles of a resource type (TPM_RT_KEY 1,
 * TPM_RT_AUTH 2). */
int tpm12_count_handles(struct tpm12 *t, uint32_t resource_type, unsigned *ret);
/* TPM_CAP_DA_LOGIC for the owner entity. */
int tpm12_da_info(struct tpm12 *t, struct tpm12_da_info *ret);
/* TPM_GetCapabilityOwner (owner-authorized, OIAP): a cheap check of the
 * owner passphrase. */
int tpm12_check_owner(struct tpm12 *t, const struct secret *owner);

/* Reset as the reference's tpmr reset on TPM 1.2: physical presence
 * (TSC_PhysicalPresence cmd-enable + present), ForceClear, PhysicalEnable,
 * PhysicalSetDeactivated(FALSE), ReadPubek, TakeOwnership (owner auth :=
 * SHA-1(owner), SRK auth well-known, 2048-bit storage SRK; both
 * encrypted to the EK with RSA-OAEP(SHA-1, "TCPA")), presence cleared.
 * When the firmware locked physical presence for this boot
 * (physicalPresenceLock: SeaBIOS does) and the TPM has no owner, there is
 * nothing to clear: TakeOwnership alone (it needs no presence). An owned
 * TPM with presence locked: -EPERM, saying so (cleared only from the
 * firmware's TPM menu or after a power cycle into a firmware that leaves
 * presence unlocked). -EPERM with a message when the TPM needs a power
 * cycle first or is disabled/deactivated with presence locked. */
int tpm12_reset(struct tpm12 *t, const struct secret *owner);

/* Monotonic counters (TPM_CreateCounter: owner OSAP, counter auth by ADIP). */
int tpm12_counter_create(struct tpm12 *t, const struct secret *owner, const struct secret *counter_auth,
			 const uint8_t label[4], uint32_t *ret_id, uint32_t *ret_value);
/* ret_label (may be NULL): the counter's 4-byte label. */
int tpm12_counter_read(struct tpm12 *t, uint32_t id, uint32_t *ret_value, uint8_t ret_label[4]);
int tpm12_counter_increment(struct tpm12 *t, uint32_t id, const struct secret *counter_auth,
			    uint32_t *ret_value);

/* NV: define with owner auth (OSAP; per = TPM_NV_PER_* attributes, 0 as the
 * reference's -per 0), write/read without auth (owner NULL) or with owner
 * auth (OIAP). */
int tpm12_nv_define(struct tpm12 *t, uint32_t index, uint32_t size, uint32_t per,
		    const struct secret *owner);
int tpm12_nv_write(struct tpm12 *t, uint32_t index, const void *data, size_t len,
		   const struct secret *owner);
int tpm12_nv_read(struct tpm12 *t, uint32_t index, size_t len, uint8_t *out);
/* TPM_CAP_NV_INDEX: TPM_E_NO_OBJECT if undefined. */
int tpm12_nv_info(struct tpm12 *t, uint32_t index, struct tpm12_nv_public *ret);
/* NV_DefineSpace with size 0 (owner auth). */
int tpm12_nv_undefine(struct tpm12 *t, uint32_t index, const struct secret *owner);

/* TPM_Seal under the SRK (well-known auth) to PCR values (mask, values in
 * PCR order) with data auth (NULL = well-known), TPM_PCR_INFO with a 2-byte
 * selection (PCRs 0-15) as sealfile2: the blob is 312 bytes for a
 * 2048-bit SRK. Caller frees *ret. */
int tpm12_seal(struct tpm12 *t, uint32_t mask, const uint8_t (*values)[20],
	       const struct secret *data, const struct secret *auth, uint8_t **ret, size_t *ret_len);
/* TPM_Unseal (AUTH2: SRK + data auth). TPM_E_PCR_MISMATCH on
 * TPM_WRONGPCRVAL, TPM_E_AUTH_FAIL on a wrong passphrase. */
int tpm12_unseal(struct tpm12 *t, const uint8_t *blob, size_t len, const struct secret *auth,
		 struct secret **ret);

#endif
