/* nk_hid_model.c - see nk_hid_model.h. */
#include "nk_hid_model.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

/* Offsets in the 64-byte reports (report id not included). */
enum { Q_CMD = 0, Q_PAYLOAD = 1, CRC_OFF = 60, R_DEVSTATUS = 0, R_CMD = 1, R_QCRC = 2,
       R_STATUS = 6, R_PAYLOAD = 7 };
enum { ST_OK = 0, ST_WRONG_CRC = 1, ST_WRONG_SLOT = 2, ST_NOT_PROGRAMMED = 3, ST_WRONG_PW = 4,
       ST_NOT_AUTHORIZED = 5, ST_UNKNOWN_CMD = 9 };

static uint32_t le32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

uint32_t nk_model_crc32(const uint8_t *data, size_t len)
{
	/* Table-driven MSB-first CRC over each word's bytes from the most
	 * significant one (what the STM32 CRC unit does to a LE word). */
	static uint32_t table[256];
	uint32_t crc = 0xffffffffu;

	if (!table[1])
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i << 24;

			for (int b = 0; b < 8; b++)
				c = (c & 0x80000000u) ? (c << 1) ^ 0x04c11db7u : c << 1;
			table[i] = c;
		}
	for (size_t w = 0; w + 4 <= len; w += 4)
		for (int b = 3; b >= 0; b--)
			crc = (crc << 8) ^ table[((crc >> 24) ^ data[w + b]) & 0xff];
	return crc;
}

uint32_t nk_model_hotp(const uint8_t *key, size_t key_len, uint64_t counter, unsigned digits)
{
	uint8_t msg[8], mac[EVP_MAX_MD_SIZE];
	unsigned mac_len = 0, off;
	uint32_t bin, mod = 1;

	for (int i = 7; i >= 0; i--, counter >>= 8)
		msg[i] = (uint8_t)counter;
	HMAC(EVP_sha1(), key, (int)key_len, msg, sizeof(msg), mac, &mac_len);
	off = mac[19] & 0x0f;
	bin = (uint32_t)(mac[off] & 0x7f) << 24 | mac[off + 1] << 16 | mac[off + 2] << 8 |
	      mac[off + 3];
	while (digits--)
		mod *= 10;
	return bin % mod;
}

struct nk_hid_model *nk_hid_model_new(void)
{
	struct nk_hid_model *m = calloc(1, sizeof(*m));

	if (!m)
		abort();
	m->fw_major = 0;
	m->fw_minor = 15;
	m->serial = 0x0000a1b2;
	strcpy(m->admin_pin, "12345678");
	strcpy(m->user_pin, "123456");
	m->admin_retries = 3;
	m->user_retries = 3;
	return m;
}

void nk_hid_model_free(struct nk_hid_model *m)
{
	free(m);
}

static bool pw_match(const uint8_t field[25], const char *pin)
{
	uint8_t want[25] = {0};

	memcpy(want, pin, strlen(pin));
	return memcmp(field, want, 25) == 0;
}

static bool tmp_ok(struct nk_hid_model *m, const uint8_t *p)
{
	return m->tmp_valid && memcmp(p, m->tmp_pw, 25) == 0;
}

int nk_hid_model_set_report(struct nk_hid_model *m, const uint8_t *q, size_t len)
{
	uint8_t *r = m->response, *out = r + R_PAYLOAD;
	const uint8_t *p = q + Q_PAYLOAD;
	uint32_t qcrc;
	uint8_t st = ST_OK;

	if (len != 64)
		return -EINVAL;
	m->queries++;
	qcrc = le32(q + CRC_OFF);
	memset(r, 0, 64);
	r[R_CMD] = q[Q_CMD];
	put_le32(r + R_QCRC, qcrc);
	m->last_command = q[Q_CMD];
	if (nk_model_crc32(q, CRC_OFF) != qcrc) {
		m->bad_crc_queries++;
		st = ST_WRONG_CRC;
		goto done;
	}
	switch (q[Q_CMD]) {
	case 0x00: /* GET_STATUS */
		out[0] = m->fw_minor;
		out[1] = m->fw_major;
		put_le32(out + 2, m->serial);
		out[6] = out[7] = out[8] = 0xff; /* no numlock/capslock/scrolllock slot */
		out[11] = (uint8_t)m->admin_retries;
		out[12] = (uint8_t)m->user_retries;
		break;
	case 0x09: /* GET_PASSWORD_RETRY_COUNT */
		out[0] = (uint8_t)m->admin_retries;
		break;
	case 0x0f: /* GET_USER_PASSWORD_RETRY_COUNT */
		out[0] = (uint8_t)m->user_retries;
		break;
	case 0x07: /* FIRST_AUTHENTICATE: pin[25], tmp[25] */
		m->tmp_valid = false;
		if (m->admin_retries == 0) {
			st = ST_WRONG_PW;
		} else if (pw_match(p, m->admin_pin)) {
			m->admin_retries = 3;
			memcpy(m->tmp_pw, p + 25, 25);
			m->tmp_valid = true;
		} else {
			m->admin_retries--;
			st = ST_WRONG_PW;
		}
		break;
	case 0x17: /* SEND_OTP_DATA: tmp[25], type, id, data[30] */
		if (!tmp_ok(m, p)) {
			st = ST_NOT_AUTHORIZED;
		} else if (p[25] == 'S' && p[26] == 0) {
			memcpy(m->pending_secret, p + 27, 30);
		} else if (p[25] == 'N' && p[26] == 0) {
			memcpy(m->pending_name, p + 27, sizeof(m->pending_name) - 1);
			m->pending_name[sizeof(m->pending_name) - 1] = 0;
		} else {
			st = ST_WRONG_SLOT;
		}
		break;
	case 0x01: /* WRITE_TO_SLOT: tmp[25], slot, counter u64, config, token[13] */
		if (!tmp_ok(m, p)) {
			st = ST_NOT_AUTHORIZED;
		} else if (p[25] != 0x13) {
			st = ST_WRONG_SLOT;
		} else {
			memcpy(m->slot_secret, m->pending_secret, 20);
			memcpy(m->slot_name, m->pending_name, sizeof(m->slot_name));
			m->slot_counter = (uint64_t)le32(p + 26) | (uint64_t)le32(p + 30) << 32;
			m->slot_8_digits = p[34] & 1;
			m->slot_programmed = true;
			memset(m->pending_secret, 0, sizeof(m->pending_secret));
		}
		break;
	case 0x18: { /* VERIFY_OTP_CODE: code u32 */
		uint32_t code = le32(p);
		unsigned digits = m->slot_8_digits ? 8 : 6;

		if (!m->slot_programmed) {
			st = ST_NOT_PROGRAMMED;
			break;
		}
		out[0] = 0;
		for (uint64_t c = m->slot_counter; c < m->slot_counter + 10; c++)
			if (nk_model_hotp(m->slot_secret, 20, c, digits) == code) {
				out[0] = 1;
				out[1] = (uint8_t)(c - m->slot_counter);
				if (m->n_verified < NKM_LOG_MAX)
					m->verified[m->n_verified++] = c;
				m->slot_counter = c + 1;
				break;
			}
		break;
	}
	default:
		st = ST_UNKNOWN_CMD;
		break;
	}
done:
	m->last_status = st;
	r[R_STATUS] = st;
	put_le32(r + CRC_OFF, nk_model_crc32(r, CRC_OFF));
	return 0;
}

int nk_hid_model_get_report(struct nk_hid_model *m, uint8_t *buf, size_t cap, size_t *ret_len)
{
	if (cap < 64)
		return -EINVAL;
	memcpy(buf, m->response, 64);
	if (m->busy_answers) {
		m->busy_answers--;
		memset(buf + 2, 0, 62);
		buf[R_DEVSTATUS] = 1; /* busy, no answer yet */
		put_le32(buf + CRC_OFF, nk_model_crc32(buf, CRC_OFF));
	} else if (m->corrupt_answers) {
		m->corrupt_answers--;
		buf[CRC_OFF] ^= 0x01;
	}
	*ret_len = 64;
	return 0;
}

static int t_send(void *ctx, const uint8_t *buf, size_t len)
{
	return nk_hid_model_set_report(ctx, buf, len);
}

static int t_recv(void *ctx, uint8_t *buf, size_t cap, size_t *ret_len)
{
	return nk_hid_model_get_report(ctx, buf, cap, ret_len);
}

struct dongle_transport *nk_hid_model_transport(struct nk_hid_model *m)
{
	struct dongle_transport *t = calloc(1, sizeof(*t));

	if (!t)
		abort();
	*t = (struct dongle_transport){.name = "nk-hid-model", .proto = DONGLE_PROTO_HID,
				       .send = t_send, .recv = t_recv, .ctx = m};
	return t;
}
