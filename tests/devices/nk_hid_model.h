/* nk_hid_model.h - a model of the Nitrokey Pro / Storage / Librem Key HID
 * device for tests (never in the payload). It answers 64-byte feature
 * reports like the firmware: STM32 CRC checked on every query (a bad one is
 * answered with status wrong_CRC), Admin PIN with a retry counter (3, down
 * to 0 = blocked; a right PIN resets it), HOTP slot 3 written in three
 * authorised steps (secret, name, WRITE_TO_SLOT), VERIFY_OTP_CODE searching
 * counters c..c+9 and moving to match+1 (no match: c unchanged). CRC and
 * HOTP are implemented here independently of src/lib (OpenSSL HMAC). */
#ifndef HEADS_TEST_NK_HID_MODEL_H
#define HEADS_TEST_NK_HID_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dongle/transport.h"

#define NKM_LOG_MAX 64

struct nk_hid_model {
	uint8_t fw_major, fw_minor;
	uint32_t serial;
	char admin_pin[26];
	char user_pin[26];
	unsigned admin_retries, user_retries;
	/* HOTP slot 3 */
	bool slot_programmed;
	uint8_t slot_secret[20];
	char slot_name[31];
	uint64_t slot_counter;
	bool slot_8_digits;
	/* authorisation state */
	bool tmp_valid;
	uint8_t tmp_pw[25];
	uint8_t pending_secret[30];
	char pending_name[31];
	/* fault injection: answers "busy" this many times, then corrupts the
	 * CRC of this many answers */
	unsigned busy_answers, corrupt_answers;
	/* what happened */
	uint8_t last_command;
	uint8_t last_status;
	unsigned queries, bad_crc_queries;
	uint64_t verified[NKM_LOG_MAX]; /* counters matched by VERIFY_OTP_CODE */
	unsigned n_verified;
	/* the answer to the last query */
	uint8_t response[64];
};

/* A factory-fresh device: Admin PIN 12345678, user PIN 123456, retries 3/3,
 * firmware 0.15, empty slot. */
struct nk_hid_model *nk_hid_model_new(void);
void nk_hid_model_free(struct nk_hid_model *m);

/* The device side of one SET_REPORT / GET_REPORT (feature, report id 0). */
int nk_hid_model_set_report(struct nk_hid_model *m, const uint8_t *buf, size_t len);
int nk_hid_model_get_report(struct nk_hid_model *m, uint8_t *buf, size_t cap, size_t *ret_len);

/* The model's own STM32 CRC and RFC 4226 code (independent of src/lib). */
uint32_t nk_model_crc32(const uint8_t *data, size_t len);
uint32_t nk_model_hotp(const uint8_t *key, size_t key_len, uint64_t counter, unsigned digits);

/* An in-process transport to m (m is not owned; free the transport first). */
struct dongle_transport *nk_hid_model_transport(struct nk_hid_model *m);

#endif
