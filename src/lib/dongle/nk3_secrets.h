/* nk3_secrets.h - Nitrokey 3 over CCID: the CCID bulk framing, short APDUs
 * (61xx answered by GET RESPONSE), the Secrets application's TLVs, and the
 * NK3 admin app's version (internal to src/lib/dongle; models and tests use
 * the codecs).
 *
 * CCID (USB CCID 1.1 §6): PC_to_RDR_XfrBlock 0x6f / IccPowerOn 0x62 with a
 * 10-byte header (type, LE u32 length, slot, seq, 3 bytes) and the APDU;
 * answers RDR_to_PC_DataBlock 0x80 (header: type, length, slot, seq,
 * bStatus, bError, bChain). bStatus bits 6-7 = 2 is a time extension (the
 * NK3 waiting for a touch): read again, at most CCID_MAX_WAITS times.
 *
 * Secrets app (AID a0 00 00 05 27 21 01), simple TLVs (1-byte tag and
 * length): SELECT answers 79 version, 71 salt, [82 PIN counter] (present
 * once a PIN is set), [8f serial]; VERIFY PIN b2 {80 pin}: 9000, 6300
 * wrong, 6983 blocked, 6982 no PIN set; SET PIN b4 {80 pin}; DELETE 02
 * {71 name}: 9000 or 6a82; PUT 01 {71 name, 73 [kind|algo, digits, key],
 * 78 props (tag + one byte, no length, as YKOATH), 7a counter u32 BE};
 * VERIFY CODE b1 {71 name, 75 code u32 BE}: 9000 ok, 6300 wrong code,
 * 6a82 no such credential; RESET 04 de ad.
 */
#ifndef HEADS_DONGLE_NK3_SECRETS_H
#define HEADS_DONGLE_NK3_SECRETS_H

#include <stddef.h>
#include <stdint.h>

#include "dongle/dongle.h"

#define CCID_HDR_LEN 10
#define CCID_MSG_MAX 1024        /* our messages are far smaller */
#define CCID_MAX_WAITS 60        /* time extensions (touch) before giving up */
#define APDU_RESP_MAX 1024       /* whole response after GET RESPONSE chaining */
#define CCID_PC_TO_RDR_XFRBLOCK 0x6f
#define CCID_PC_TO_RDR_ICCPOWERON 0x62
#define CCID_RDR_TO_PC_DATABLOCK 0x80

#define SECRETS_AID "\xa0\x00\x00\x05\x27\x21\x01"
#define SECRETS_AID_LEN 7
#define NK3_ADMIN_AID "\xa0\x00\x00\x08\x47\x00\x00\x00\x01"
#define NK3_ADMIN_AID_LEN 9

enum secrets_tag {
	SECRETS_TAG_NAME = 0x71,
	SECRETS_TAG_KEY = 0x73,
	SECRETS_TAG_RESPONSE = 0x75,
	SECRETS_TAG_PROPERTIES = 0x78,
	SECRETS_TAG_VERSION = 0x79,
	SECRETS_TAG_COUNTER = 0x7a,
	SECRETS_TAG_PASSWORD = 0x80,
	SECRETS_TAG_PIN_COUNTER = 0x82,
	SECRETS_TAG_SERIAL = 0x8f,
};

enum secrets_ins {
	SECRETS_INS_PUT = 0x01,
	SECRETS_INS_DELETE = 0x02,
	SECRETS_INS_RESET = 0x04,
	SECRETS_INS_SELECT = 0xa4,
	SECRETS_INS_GET_RESPONSE = 0xc0,
	SECRETS_INS_VERIFY_CODE = 0xb1,
	SECRETS_INS_VERIFY_PIN = 0xb2,
	SECRETS_INS_SET_PIN = 0xb4,
	NK3_ADMIN_INS_VERSION = 0x61,
};

#define SECRETS_KIND_HOTP_REVERSE 0x30
#define SECRETS_ALGO_SHA1 0x01

/* CCID header. */
struct ccid_msg {
	uint8_t type;
	uint32_t len;  /* data length */
	uint8_t slot, seq;
	uint8_t status, error, chain; /* RDR_to_PC only */
	const uint8_t *data;          /* points into the buffer parsed */
};
/* Build a PC_to_RDR message of type with data into out (cap bytes). Returns
 * the length or -ENOBUFS. */
int ccid_build(uint8_t *out, size_t cap, uint8_t type, uint8_t seq, const uint8_t *data,
	       size_t len);
/* Parse a message of n bytes: header complete, declared length == the rest,
 * at most CCID_MSG_MAX. 0 or -EBADMSG. */
int ccid_parse(const uint8_t *buf, size_t n, struct ccid_msg *ret);

/* Simple TLV lookup in buf (1-byte tag, 1-byte length): the first tag,
 * bounded; -ENOENT if absent, -EBADMSG if an element runs past the end. */
int secrets_tlv_find(const uint8_t *buf, size_t n, uint8_t tag, const uint8_t **ret_val,
		     size_t *ret_len);

/* The parsed SELECT answer. */
struct secrets_select {
	unsigned ver_major, ver_minor, ver_patch;
	int pin_counter;  /* -1: no PIN set */
	uint32_t serial;  /* 0 if absent */
};
int secrets_select_parse(const uint8_t *buf, size_t n, struct secrets_select *ret);

struct dongle;
enum dongle_result nk3_info(struct dongle *d, struct dongle_info *ret);
enum dongle_result nk3_hotp_write(struct dongle *d, const struct secret *pin,
				  const struct secret *key);
enum dongle_result nk3_hotp_check(struct dongle *d, uint32_t code);
enum dongle_result nk3_reset(struct dongle *d);

#endif
