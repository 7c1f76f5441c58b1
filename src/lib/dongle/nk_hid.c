/* nk_hid.c - Nitrokey Pro / Storage / Librem Key HID protocol (nk_hid.h).
 * Written from the frame layouts of nitrokey-hotp-verification's structs.h
 * and command_id.h; no code taken from it. */
#include "dongle/nk_hid.h"

#include "dongle/dongle_internal.h"
#include "log.h"
#include "secret.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

uint32_t nk_hid_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void nk_hid_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

uint32_t nk_hid_crc32(const uint8_t *data, size_t len)
{
	uint32_t crc = 0xffffffffu;

	for (size_t i = 0; i + 4 <= len; i += 4) {
		crc ^= nk_hid_get_le32(data + i);
		for (int b = 0; b < 32; b++)
			crc = (crc & 0x80000000u) ? (crc << 1) ^ 0x04c11db7u : crc << 1;
	}
	return crc;
}

uint32_t nk_hid_query_build(uint8_t frame[NK_HID_REPORT_LEN], uint8_t cmd, const void *payload,
			    size_t payload_len)
{
	uint32_t crc;

	memset(frame, 0, NK_HID_REPORT_LEN);
	frame[0] = cmd;
	if (payload_len > NK_HID_QUERY_PAYLOAD)
		payload_len = NK_HID_QUERY_PAYLOAD;
	if (payload_len)
		memcpy(frame + 1, payload, payload_len);
	crc = nk_hid_crc32(frame, NK_HID_CRC_OFF);
	nk_hid_put_le32(frame + NK_HID_CRC_OFF, crc);
	return crc;
}

int nk_hid_response_parse(const uint8_t *frame, size_t len, uint32_t query_crc,
			  struct nk_hid_response *ret)
{
	struct nk_hid_response r;

	if (len != NK_HID_REPORT_LEN)
		return -EMSGSIZE;
	if (nk_hid_crc32(frame, NK_HID_CRC_OFF) != nk_hid_get_le32(frame + NK_HID_CRC_OFF))
		return -EBADMSG;
	r.device_status = frame[0];
	r.command = frame[1];
	r.query_crc = nk_hid_get_le32(frame + 2);
	r.status = frame[6];
	memcpy(r.payload, frame + 7, NK_HID_RESP_PAYLOAD);
	if (r.query_crc != query_crc)
		return -ESTALE;
	if (r.device_status != 0)
		return -EBUSY;
	*ret = r;
	return 0;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	if (ms)
		(void)nanosleep(&ts, NULL);
}

/* One command: send the query, read responses until one answers it. The
 * query frame may hold a PIN: it is wiped here. */
static enum dongle_result transact(struct dongle *d, uint8_t cmd, const void *payload,
				   size_t payload_len, struct nk_hid_response *ret)
{
	uint8_t q[NK_HID_REPORT_LEN], in[NK_HID_REPORT_LEN];
	uint32_t crc = nk_hid_query_build(q, cmd, payload, payload_len);
	int r, last = -EIO;

	r = d->t->send(d->t->ctx, q, sizeof(q));
	explicit_bzero(q, sizeof(q));
	if (r < 0) {
		log_debug("dongle: HID send of command 0x%02x failed: %s", cmd, strerror(-r));
		return DONGLE_CONNECTION_ERROR;
	}
	for (int i = 0; i < NK_HID_RECV_TRIES; i++) {
		size_t n = 0;

		sleep_ms(d->t->poll_ms);
		r = d->t->recv(d->t->ctx, in, sizeof(in), &n);
		if (r < 0) {
			log_debug("dongle: HID receive failed: %s", strerror(-r));
			return DONGLE_CONNECTION_ERROR;
		}
		last = nk_hid_response_parse(in, n, crc, ret);
		explicit_bzero(in, sizeof(in));
		if (last == 0)
			return DONGLE_OK;
	}
	log_debug("dongle: no valid HID answer to command 0x%02x: %s", cmd, strerror(-last));
	return DONGLE_CONNECTION_ERROR;
}

static enum dongle_result retry_count(struct dongle *d, uint8_t cmd, unsigned *ret)
{
	struct nk_hid_response resp;
	enum dongle_result r = transact(d, cmd, NULL, 0, &resp);

	if (r != DONGLE_OK)
		return r;
	if (resp.status != NK_ST_OK)
		return DONGLE_CONNECTION_ERROR;
	*ret = resp.payload[0];
	return DONGLE_OK;
}

enum dongle_result nk_hid_info(struct dongle *d, struct dongle_info *ret)
{
	struct nk_hid_response resp;
	enum dongle_result r;
	unsigned admin, user;

	r = retry_count(d, NK_CMD_GET_PASSWORD_RETRY_COUNT, &admin);
	if (r == DONGLE_OK)
		r = retry_count(d, NK_CMD_GET_USER_PASSWORD_RETRY_COUNT, &user);
	if (r == DONGLE_OK)
		r = transact(d, NK_CMD_GET_STATUS, NULL, 0, &resp);
	if (r != DONGLE_OK)
		return r;
	if (resp.status != NK_ST_OK)
		return DONGLE_CONNECTION_ERROR;
	/* GET_STATUS payload: version minor, major; serial (LE u32); config. */
	ret->fw_minor = resp.payload[0];
	ret->fw_major = resp.payload[1];
	snprintf(ret->firmware, sizeof(ret->firmware), "%u.%u", ret->fw_major, ret->fw_minor);
	ret->serial = nk_hid_get_le32(resp.payload + 2);
	ret->have_retries = true;
	ret->admin_retries = admin;
	ret->user_retries = user;
	ret->pin_set = true;
	return DONGLE_OK;
}

/* After FIRST_AUTHENTICATE refused the PIN: blocked or retries left. */
static enum dongle_result wrong_pin(struct dongle *d)
{
	unsigned left;

	if (retry_count(d, NK_CMD_GET_PASSWORD_RETRY_COUNT, &left) == DONGLE_OK && left == 0)
		return DONGLE_BLOCKED;
	return DONGLE_WRONG_PIN;
}

/* A command authorized by the temporary admin password at the start of its
 * payload p (NK_HID_QUERY_PAYLOAD bytes, wiped here whatever happens): a
 * refused password is DONGLE_WRONG_PIN. */
static enum dongle_result transact_tmp_auth(struct dongle *d, uint8_t cmd, uint8_t *p,
					    size_t len)
{
	struct nk_hid_response resp;
	enum dongle_result r = transact(d, cmd, p, len, &resp);

	explicit_bzero(p, NK_HID_QUERY_PAYLOAD);
	if (r != DONGLE_OK)
		return r;
	if (resp.status == NK_ST_NOT_AUTHORIZED || resp.status == NK_ST_WRONG_PASSWORD)
		return DONGLE_WRONG_PIN;
	return resp.status == NK_ST_OK ? DONGLE_OK : DONGLE_CONNECTION_ERROR;
}

enum dongle_result nk_hid_hotp_write(struct dongle *d, const struct secret *pin,
				     const struct secret *key)
{
	_cleanup_secret_ struct secret *buf = NULL;
	struct nk_hid_response resp;
	enum dongle_result r;
	uint8_t *p, *tmp;

	if (!pin || pin->len > NK_HID_PW_LEN || !key || key->len < DONGLE_SECRET_LEN)
		return DONGLE_CONNECTION_ERROR; /* callers check first (dongle.c) */
	/* One locked buffer for everything secret here: the temporary admin
	 * password (session token) and the payloads that carry PIN/secret. */
	buf = secret_new(NK_HID_PW_LEN + NK_HID_QUERY_PAYLOAD);
	if (!buf)
		return DONGLE_CONNECTION_ERROR;
	tmp = buf->data;
	p = buf->data + NK_HID_PW_LEN;
	if (secret_random(buf, NK_HID_PW_LEN) < 0)
		return DONGLE_CONNECTION_ERROR;
	buf->len = NK_HID_PW_LEN + NK_HID_QUERY_PAYLOAD;

	/* FIRST_AUTHENTICATE: Admin PIN [25], temporary password [25]. */
	memset(p, 0, NK_HID_QUERY_PAYLOAD);
	memcpy(p, pin->data, pin->len);
	memcpy(p + NK_HID_PW_LEN, tmp, NK_HID_PW_LEN);
	r = transact(d, NK_CMD_FIRST_AUTHENTICATE, p, 2 * NK_HID_PW_LEN, &resp);
	explicit_bzero(p, NK_HID_QUERY_PAYLOAD);
	if (r != DONGLE_OK)
		return r;
	if (resp.status == NK_ST_WRONG_PASSWORD)
		return wrong_pin(d);
	if (resp.status != NK_ST_OK)
		return DONGLE_CONNECTION_ERROR;

	/* SEND_OTP_DATA 'S': the secret; then 'N': the slot name. Layout:
	 * temporary password [25], type, id, data [30]. */
	for (int step = 0; step < 2; step++) {
		memset(p, 0, NK_HID_QUERY_PAYLOAD);
		memcpy(p, tmp, NK_HID_PW_LEN);
		p[NK_HID_PW_LEN] = step == 0 ? 'S' : 'N';
		p[NK_HID_PW_LEN + 1] = 0;
		if (step == 0)
			memcpy(p + NK_HID_PW_LEN + 2, key->data, DONGLE_SECRET_LEN);
		else
			memcpy(p + NK_HID_PW_LEN + 2, DONGLE_NK3_CREDENTIAL,
			       strlen(DONGLE_NK3_CREDENTIAL));
		r = transact_tmp_auth(d, NK_CMD_SEND_OTP_DATA, p,
				      NK_HID_PW_LEN + 2 + NK_HID_OTP_DATA_LEN);
		if (r != DONGLE_OK)
			return r;
	}

	/* WRITE_TO_SLOT: temporary password [25], slot, counter (LE u64),
	 * config (bit 0: 8 digits; we use 6), token id [13]. */
	memset(p, 0, NK_HID_QUERY_PAYLOAD);
	memcpy(p, tmp, NK_HID_PW_LEN);
	p[NK_HID_PW_LEN] = NK_HID_HOTP_SLOT;
	/* counter 0: bytes 26..33 stay zero; config byte 34 = 0 (6 digits) */
	return transact_tmp_auth(d, NK_CMD_WRITE_TO_SLOT, p, NK_HID_PW_LEN + 1 + 8 + 1 + 13);
}

enum dongle_result nk_hid_hotp_check(struct dongle *d, uint32_t code)
{
	struct nk_hid_response resp;
	enum dongle_result r;
	uint8_t q[4];

	nk_hid_put_le32(q, code);
	r = transact(d, NK_CMD_VERIFY_OTP_CODE, q, sizeof(q), &resp);
	if (r != DONGLE_OK)
		return r;
	switch (resp.status) {
	case NK_ST_OK:
		return resp.payload[0] == 1 ? DONGLE_OK : DONGLE_INVALID_CODE;
	case NK_ST_SLOT_NOT_PROGRAMMED:
		return DONGLE_NOT_CONFIGURED;
	case NK_ST_UNKNOWN_COMMAND:
	case NK_ST_NOT_SUPPORTED:
		return DONGLE_NOT_SUPPORTED; /* firmware without VERIFY_OTP_CODE */
	default:
		return DONGLE_CONNECTION_ERROR;
	}
}
