/* tpm12_wire.h - TPM 1.2 command/response marshalling (TCG TPM Main Part 2
 * structures, Part 3 commands). No I/O: builders write into a fixed
 * buffer, the reader never reads past the response it was given.
 *
 * Every TPM 1.2 command is  tag(2) paramSize(4) ordinal(4) params...
 * and every response        tag(2) paramSize(4) returnCode(4) params...
 * big-endian. Authorized commands end with one or two trailers
 *   authHandle(4) nonceOdd(20) continueAuthSession(1) authData(20)
 * and their responses with
 *   nonceEven(20) continueAuthSession(1) resAuth(20).
 */
#ifndef HEADS_TPM12_WIRE_H
#define HEADS_TPM12_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TPM12_MAX_COMMAND 4096 /* TPM 1.2 input/output buffers are <= 4 KiB */
#define TPM12_HEADER 10
#define TPM12_DIGEST 20
#define TPM12_AUTH_TRAILER 45 /* handle 4 + nonce 20 + continue 1 + auth 20 */
#define TPM12_RSP_AUTH_TRAILER 41 /* nonce 20 + continue 1 + auth 20 */

/* Tags (Part 2 6.) */
#define TPM12_TAG_RQU_COMMAND 0x00C1
#define TPM12_TAG_RQU_AUTH1 0x00C2
#define TPM12_TAG_RQU_AUTH2 0x00C3
#define TPM12_TAG_RSP_COMMAND 0x00C4
#define TPM12_TAG_RSP_AUTH1 0x00C5
#define TPM12_TAG_RSP_AUTH2 0x00C6

/* Ordinals (Part 2 17.) */
#define TPM12_ORD_OIAP 0x0000000A
#define TPM12_ORD_OSAP 0x0000000B
#define TPM12_ORD_TakeOwnership 0x0000000D
#define TPM12_ORD_Extend 0x00000014
#define TPM12_ORD_PcrRead 0x00000015
#define TPM12_ORD_Seal 0x00000017
#define TPM12_ORD_Unseal 0x00000018
#define TPM12_ORD_GetRandom 0x00000046
#define TPM12_ORD_OwnerClear 0x0000005B
#define TPM12_ORD_ForceClear 0x0000005D
#define TPM12_ORD_GetCapability 0x00000065
#define TPM12_ORD_GetCapabilityOwner 0x00000066
#define TPM12_ORD_PhysicalEnable 0x0000006F
#define TPM12_ORD_PhysicalSetDeactivated 0x00000072
#define TPM12_ORD_ReadPubek 0x0000007C
#define TPM12_ORD_SaveState 0x00000098
#define TPM12_ORD_Startup 0x00000099
#define TPM12_ORD_FlushSpecific 0x000000BA
#define TPM12_ORD_NV_DefineSpace 0x000000CC
#define TPM12_ORD_NV_WriteValue 0x000000CD
#define TPM12_ORD_NV_ReadValue 0x000000CF
#define TPM12_ORD_CreateCounter 0x000000DC
#define TPM12_ORD_IncrementCounter 0x000000DD
#define TPM12_ORD_ReadCounter 0x000000DE
#define TPM12_ORD_TSC_PhysicalPresence 0x4000000A

/* Return codes (Part 2 16.) */
#define TPM12_SUCCESS 0x000
#define TPM12_AUTHFAIL 0x001
#define TPM12_BADINDEX 0x002
#define TPM12_BAD_PARAMETER 0x003
#define TPM12_DEACTIVATED 0x006
#define TPM12_DISABLED 0x007
#define TPM12_FAIL 0x009
#define TPM12_NOSPACE 0x011
#define TPM12_NOSRK 0x012
#define TPM12_NOTSEALED_BLOB 0x013
#define TPM12_OWNER_SET 0x014
#define TPM12_RESOURCES 0x015
#define TPM12_WRONGPCRVAL 0x018
#define TPM12_AUTH2FAIL 0x01D
#define TPM12_INVALID_AUTHHANDLE 0x022
#define TPM12_INVALID_POSTINIT 0x026
#define TPM12_BAD_PRESENCE 0x02D
#define TPM12_AUTH_CONFLICT 0x03B
#define TPM12_AREA_LOCKED 0x03C
#define TPM12_PER_NOWRITE 0x03F
#define TPM12_BAD_COUNTER 0x045
#define TPM12_RETRY 0x800
#define TPM12_DEFEND_LOCK_RUNNING 0x803

/* Entity types (Part 2 4.3) and capabilities (Part 2 21.) */
#define TPM12_ET_KEYHANDLE 0x0001
#define TPM12_ET_OWNER 0x0002
#define TPM12_ET_SRK 0x0004
#define TPM12_ET_COUNTER 0x000A
#define TPM12_KH_SRK 0x40000000u
#define TPM12_CAP_FLAG 0x00000004
#define TPM12_CAP_PROPERTY 0x00000005
#define TPM12_CAP_DA_LOGIC 0x00000019
#define TPM12_CAP_NV_INDEX 0x00000011
#define TPM12_CAP_HANDLE 0x00000014
#define TPM12_CAP_VERSION_VAL 0x0000001A
#define TPM12_CAP_FLAG_PERMANENT 0x00000108
#define TPM12_CAP_FLAG_VOLATILE 0x00000109
#define TPM12_CAP_PROP_MANUFACTURER 0x00000103
#define TPM12_CAP_PROP_OWNER 0x00000111
#define TPM12_TAG_DA_INFO 0x0037
#define TPM12_TAG_DA_INFO_LIMITED 0x0038
#define TPM12_TAG_COUNTER_VALUE 0x000E
#define TPM12_ST_CLEAR 0x0001
#define TPM12_NV_PER_OWNERWRITE 0x00000002u

/* --- building a command -------------------------------------------------- */
struct tpm12_cmd {
	uint8_t b[TPM12_MAX_COMMAND];
	size_t len;
	size_t param_start; /* first byte of the HMAC'd parameters (after handles) */
	bool overflow;
};
void tpm12_cmd_init(struct tpm12_cmd *c, uint16_t tag, uint32_t ordinal);
void tpm12_put_u8(struct tpm12_cmd *c, uint8_t v);
void tpm12_put_u16(struct tpm12_cmd *c, uint16_t v);
void tpm12_put_u32(struct tpm12_cmd *c, uint32_t v);
void tpm12_put_bytes(struct tpm12_cmd *c, const void *p, size_t n);
/* Mark the end of the handle area: parameters after this are hashed. */
void tpm12_params_start(struct tpm12_cmd *c);
/* Write paramSize; -E2BIG if anything overflowed. */
int tpm12_cmd_finish(struct tpm12_cmd *c);

/* --- reading a response (bounded) ---------------------------------------- */
struct tpm12_rsp {
	const uint8_t *b;
	size_t len; /* == paramSize, checked */
	size_t off;
	bool err;   /* a read went past len (sticky) */
	uint16_t tag;
	uint32_t rc;
};
/* Check the header: 10 <= len <= TPM12_MAX_COMMAND, paramSize == len, a
 * response tag. 0 or -EBADMSG. rc is the TPM's returnCode. */
int tpm12_rsp_parse(struct tpm12_rsp *r, const uint8_t *buf, size_t len);
uint8_t tpm12_get_u8(struct tpm12_rsp *r);
uint16_t tpm12_get_u16(struct tpm12_rsp *r);
uint32_t tpm12_get_u32(struct tpm12_rsp *r);
/* Pointer to the next n bytes (NULL and err if fewer remain). */
const uint8_t *tpm12_get_bytes(struct tpm12_rsp *r, size_t n);
/* Bytes left before the auth trailers (n_auth of them: 0, 1 or 2). */
size_t tpm12_rsp_left(const struct tpm12_rsp *r, unsigned n_auth);

/* Structures the backend reads. Each returns 0 or -EBADMSG. */
struct tpm12_da_info {
	bool limited;         /* TPM_DA_INFO_LIMITED: no counts */
	uint8_t state;        /* 0 inactive, 1 active (locked out) */
	uint16_t current;     /* currentCount */
	uint16_t threshold;   /* thresholdCount */
	uint32_t actions;     /* actionAtThreshold.actions */
	uint32_t depend;      /* actionDependValue: seconds until the lock ends */
};
int tpm12_parse_da_info(const uint8_t *p, size_t n, struct tpm12_da_info *ret);
struct tpm12_counter_value {
	uint8_t label[4];
	uint32_t counter;
};
int tpm12_parse_counter_value(const uint8_t *p, size_t n, struct tpm12_counter_value *ret);
/* TPM_STORED_DATA (1.1 layout as sealfile2 writes it): ver(4)
 * sealInfoSize(4) sealInfo encDataSize(4) encData. *ret_len = its total
 * size (the blob may be followed by padding, e.g. in a 312-byte NV area). */
int tpm12_stored_data_size(const uint8_t *p, size_t n, size_t *ret_len);
/* The TPM_PCR_INFO of a TPM_STORED_DATA (sealInfo): *ret_mask the PCRs
 * selected (selection of 2 or 3 bytes; 0 when sealInfoSize is 0, i.e.
 * sealed to no PCR) and its digestAtRelease (zero when no PCR). -EBADMSG
 * for anything else, bounded by n. */
int tpm12_stored_data_pcrs(const uint8_t *p, size_t n, uint32_t *ret_mask,
			   uint8_t ret_release[20]);
/* TPM_PCR_COMPOSITE with a 2-byte selection (PCRs 0-15, as TPM_Seal's
 * TPM_PCR_INFO here): select(2 + 2) valueSize(4) the values in PCR order.
 * Returns its length; its SHA-1 is the digestAtRelease. */
#define TPM12_COMPOSITE_MAX (2 + 2 + 4 + 16 * 20)
size_t tpm12_pcr_composite(uint32_t mask, const uint8_t (*values)[20],
			   uint8_t out[TPM12_COMPOSITE_MAX]);
/* TPM_PERMANENT_FLAGS bits the backend reports (Part 2 7.1): disable,
 * ownership, deactivated. */
/* TPM_NV_DATA_PUBLIC (GetCapability TPM_CAP_NV_INDEX). */
struct tpm12_nv_public {
	uint32_t index;
	uint32_t permission; /* TPM_NV_ATTRIBUTES.attributes */
	uint32_t size;
};
int tpm12_parse_nv_public(const uint8_t *p, size_t n, struct tpm12_nv_public *ret);
/* TPM_PUBKEY (ReadPubek): an RSA key; n points into the input. */
struct tpm12_rsa_pub {
	const uint8_t *n;
	size_t n_len;
	uint32_t e; /* 65537 when exponentSize is 0 */
};
/* Parses a TPM_PUBKEY at the start of p; *ret_used = its size. */
int tpm12_parse_pubkey(const uint8_t *p, size_t n, struct tpm12_rsa_pub *ret, size_t *ret_used);
struct tpm12_perm_flags {
	bool disabled, ownership, deactivated, physical_presence_lifetime_lock;
	bool physical_presence_hw_enable, physical_presence_cmd_enable;
};
int tpm12_parse_perm_flags(const uint8_t *p, size_t n, struct tpm12_perm_flags *ret);

/* TPM_STCLEAR_FLAGS (Part 2 7.2; TPM_CAP_FLAG_VOLATILE): reset by
 * TPM_Startup(ST_CLEAR) only, i.e. at the next power cycle or reset.
 * physical_presence_lock: TSC_PhysicalPresence(LOCK) was sent this boot
 * (SeaBIOS does before it boots anything): presence can no longer be
 * asserted. -EBADMSG unless the tag is TPM_TAG_STCLEAR_FLAGS (0x0020)
 * and the five BOOLs are 0 or 1. */
struct tpm12_stclear_flags {
	bool deactivated, disable_force_clear, physical_presence, physical_presence_lock,
		global_lock;
};
int tpm12_parse_stclear_flags(const uint8_t *p, size_t n, struct tpm12_stclear_flags *ret);

#endif
