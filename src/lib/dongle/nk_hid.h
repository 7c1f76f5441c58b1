/* nk_hid.h - the Nitrokey Pro / Storage / Librem Key HID protocol (internal
 * to src/lib/dongle; the models and tests use the frame layer).
 *
 * Every exchange is one 64-byte feature report each way (report id 0, not
 * counted here), little-endian fields:
 *   query:    [0] command  [1..59] payload (59 bytes)  [60..63] CRC
 *   response: [0] device status (0 ok, 1 busy, ...)  [1] command
 *             [2..5] CRC of the query it answers  [6] command status
 *             [7..59] payload (53 bytes)  [60..63] CRC
 * CRC = the STM32 CRC unit over bytes 0..59 taken as 15 little-endian
 * 32-bit words: init 0xffffffff, polynomial 0x04c11db7, MSB first, no final
 * xor. A response is taken only if its CRC is right, it echoes the query's
 * CRC and the device is not busy; otherwise GET_REPORT is retried
 * (NK_HID_RECV_TRIES, transport poll_ms apart).
 */
#ifndef HEADS_DONGLE_NK_HID_H
#define HEADS_DONGLE_NK_HID_H

#include <stddef.h>
#include <stdint.h>

#include "dongle/dongle.h"

#define NK_HID_REPORT_LEN 64
#define NK_HID_QUERY_PAYLOAD 59
#define NK_HID_RESP_PAYLOAD 53
#define NK_HID_CRC_OFF 60
#define NK_HID_RECV_TRIES 10
#define NK_HID_PW_LEN 25          /* PIN and temporary password fields */
#define NK_HID_HOTP_SLOT 0x13     /* HOTP slot 3 (0x10 + 3), as hotp-verification */
#define NK_HID_OTP_DATA_LEN 30

enum nk_hid_cmd {
	NK_CMD_GET_STATUS = 0x00,
	NK_CMD_WRITE_TO_SLOT = 0x01,
	NK_CMD_FIRST_AUTHENTICATE = 0x07,
	NK_CMD_GET_PASSWORD_RETRY_COUNT = 0x09,
	NK_CMD_GET_USER_PASSWORD_RETRY_COUNT = 0x0f,
	NK_CMD_SEND_OTP_DATA = 0x17,
	NK_CMD_VERIFY_OTP_CODE = 0x18,
};

enum nk_hid_status {
	NK_ST_OK = 0,
	NK_ST_WRONG_CRC = 1,
	NK_ST_WRONG_SLOT = 2,
	NK_ST_SLOT_NOT_PROGRAMMED = 3,
	NK_ST_WRONG_PASSWORD = 4,
	NK_ST_NOT_AUTHORIZED = 5,
	NK_ST_TIMESTAMP_WARNING = 6,
	NK_ST_NO_NAME_ERROR = 7,
	NK_ST_NOT_SUPPORTED = 8,
	NK_ST_UNKNOWN_COMMAND = 9,
	NK_ST_AES_DEC_FAILED = 10,
};

struct nk_hid_response {
	uint8_t device_status;
	uint8_t command;
	uint32_t query_crc;
	uint8_t status;
	uint8_t payload[NK_HID_RESP_PAYLOAD];
};

/* STM32 CRC over len bytes (len a multiple of 4; other lengths: the tail is
 * ignored, as the device does). */
uint32_t nk_hid_crc32(const uint8_t *data, size_t len);
uint32_t nk_hid_get_le32(const uint8_t *p);
void nk_hid_put_le32(uint8_t *p, uint32_t v);

/* Build a query frame; payload_len at most NK_HID_QUERY_PAYLOAD (more is
 * truncated: callers never pass more). Returns the frame's CRC. */
uint32_t nk_hid_query_build(uint8_t frame[NK_HID_REPORT_LEN], uint8_t cmd, const void *payload,
			    size_t payload_len);

/* Parse a response frame of len bytes. 0, -EMSGSIZE (len is not 64),
 * -EBADMSG (CRC wrong), -ESTALE (answers another query: query_crc differs),
 * -EBUSY (device status not 0). Never reads beyond len. */
int nk_hid_response_parse(const uint8_t *frame, size_t len, uint32_t query_crc,
			  struct nk_hid_response *ret);

/* Protocol operations on an attached HID dongle (dongle.c dispatches). */
struct dongle;
enum dongle_result nk_hid_info(struct dongle *d, struct dongle_info *ret);
enum dongle_result nk_hid_hotp_write(struct dongle *d, const struct secret *pin,
				     const struct secret *key);
enum dongle_result nk_hid_hotp_check(struct dongle *d, uint32_t code);

#endif
