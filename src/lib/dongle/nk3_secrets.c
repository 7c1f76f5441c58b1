/* nk3_secrets.c - Nitrokey 3 Secrets application over CCID (nk3_secrets.h).
 * Written from the CCID specification and the Secrets app's documented
 * instructions/tags (trussed-secrets-app, nitrokey-hotp-verification's
 * ccid.h); no code taken from either. */
#include "dongle/nk3_secrets.h"

#include "dongle/dongle_internal.h"
#include "log.h"
#include "secret.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int ccid_build(uint8_t *out, size_t cap, uint8_t type, uint8_t seq, const uint8_t *data,
	       size_t len)
{
	if (len > CCID_MSG_MAX - CCID_HDR_LEN || cap < CCID_HDR_LEN + len)
		return -ENOBUFS;
	memset(out, 0, CCID_HDR_LEN);
	out[0] = type;
	out[1] = (uint8_t)len;
	out[2] = (uint8_t)(len >> 8);
	out[3] = (uint8_t)(len >> 16);
	out[4] = (uint8_t)(len >> 24);
	out[5] = 0; /* slot */
	out[6] = seq;
	if (len)
		memcpy(out + CCID_HDR_LEN, data, len);
	return (int)(CCID_HDR_LEN + len);
}

int ccid_parse(const uint8_t *buf, size_t n, struct ccid_msg *ret)
{
	uint32_t len;

	if (n < CCID_HDR_LEN || n > CCID_MSG_MAX)
		return -EBADMSG;
	len = (uint32_t)buf[1] | (uint32_t)buf[2] << 8 | (uint32_t)buf[3] << 16 |
	      (uint32_t)buf[4] << 24;
	if (len != n - CCID_HDR_LEN)
		return -EBADMSG;
	ret->type = buf[0];
	ret->len = len;
	ret->slot = buf[5];
	ret->seq = buf[6];
	ret->status = buf[7];
	ret->error = buf[8];
	ret->chain = buf[9];
	ret->data = buf + CCID_HDR_LEN;
	return 0;
}

int secrets_tlv_find(const uint8_t *buf, size_t n, uint8_t tag, const uint8_t **ret_val,
		     size_t *ret_len)
{
	size_t i = 0;

	while (i < n) {
		uint8_t t = buf[i];
		size_t l;

		if (i + 2 > n)
			return -EBADMSG;
		l = buf[i + 1];
		if (l > n - i - 2)
			return -EBADMSG;
		if (t == tag) {
			*ret_val = buf + i + 2;
			*ret_len = l;
			return 0;
		}
		i += 2 + l;
	}
	return -ENOENT;
}

int secrets_select_parse(const uint8_t *buf, size_t n, struct secrets_select *ret)
{
	struct secrets_select s = {.pin_counter = -1};
	const uint8_t *v;
	size_t l;
	int r;

	/* Walk everything once so a malformed tail is refused. */
	r = secrets_tlv_find(buf, n, 0x00, &v, &l);
	if (r != -ENOENT && r != 0)
		return -EBADMSG;
	r = secrets_tlv_find(buf, n, SECRETS_TAG_VERSION, &v, &l);
	if (r < 0 || l < 2 || l > 3)
		return -EBADMSG;
	s.ver_major = v[0];
	s.ver_minor = v[1];
	s.ver_patch = l == 3 ? v[2] : 0;
	r = secrets_tlv_find(buf, n, SECRETS_TAG_PIN_COUNTER, &v, &l);
	if (r == 0) {
		if (l != 1)
			return -EBADMSG;
		s.pin_counter = v[0];
	}
	r = secrets_tlv_find(buf, n, SECRETS_TAG_SERIAL, &v, &l);
	if (r == 0) {
		if (l != 4)
			return -EBADMSG;
		s.serial = (uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 | (uint32_t)v[2] << 8 | v[3];
	}
	*ret = s;
	return 0;
}

/* One CCID exchange: send type+data, wait out time extensions, return the
 * DataBlock's data in out. */
static enum dongle_result ccid_xfer(struct dongle *d, uint8_t type, const uint8_t *data,
				    size_t len, uint8_t *out, size_t cap, size_t *ret_len)
{
	uint8_t msg[CCID_MSG_MAX];
	uint8_t seq = d->ccid_seq++;
	int n, r;

	n = ccid_build(msg, sizeof(msg), type, seq, data, len);
	if (n < 0)
		return DONGLE_CONNECTION_ERROR;
	r = d->t->send(d->t->ctx, msg, (size_t)n);
	explicit_bzero(msg, (size_t)n);
	if (r < 0) {
		log_debug("dongle: CCID send failed: %s", strerror(-r));
		return DONGLE_CONNECTION_ERROR;
	}
	for (int wait = 0; wait <= CCID_MAX_WAITS; wait++) {
		struct ccid_msg m;
		size_t got = 0;

		r = d->t->recv(d->t->ctx, msg, sizeof(msg), &got);
		if (r < 0) {
			log_debug("dongle: CCID receive failed: %s", strerror(-r));
			return DONGLE_CONNECTION_ERROR;
		}
		if (ccid_parse(msg, got, &m) < 0 || m.type != CCID_RDR_TO_PC_DATABLOCK ||
		    m.seq != seq) {
			explicit_bzero(msg, sizeof(msg));
			log_debug("dongle: malformed or unexpected CCID answer");
			return DONGLE_CONNECTION_ERROR;
		}
		if ((m.status >> 6) == 2) { /* time extension: touch wanted */
			if (wait == 0)
				log_info("dongle: touch your Nitrokey 3 if it blinks");
			continue;
		}
		if ((m.status >> 6) != 0 || m.len > cap) {
			explicit_bzero(msg, sizeof(msg));
			log_debug("dongle: CCID command failed (status 0x%02x error 0x%02x)", m.status,
				  m.error);
			return DONGLE_CONNECTION_ERROR;
		}
		memcpy(out, m.data, m.len);
		*ret_len = m.len;
		explicit_bzero(msg, sizeof(msg));
		return DONGLE_OK;
	}
	return DONGLE_CONNECTION_ERROR;
}

static enum dongle_result power_on(struct dongle *d)
{
	uint8_t atr[64];
	size_t n;
	enum dongle_result r;

	if (d->ccid_powered)
		return DONGLE_OK;
	r = ccid_xfer(d, CCID_PC_TO_RDR_ICCPOWERON, NULL, 0, atr, sizeof(atr), &n);
	if (r == DONGLE_OK)
		d->ccid_powered = true;
	return r;
}

/* A short APDU (data at most 255 bytes; le < 0: no Le). Response data (after
 * 61xx GET RESPONSE chaining) into out, status word into *ret_sw. The APDU
 * may hold a PIN or the secret: every copy is wiped. */
static enum dongle_result apdu(struct dongle *d, uint8_t ins, uint8_t p1, uint8_t p2,
			       const uint8_t *data, size_t len, int le, uint8_t *out, size_t cap,
			       size_t *ret_len, uint16_t *ret_sw)
{
	uint8_t cmd[5 + 255 + 1], resp[APDU_RESP_MAX + 2];
	size_t n = 0, total = 0, got;
	enum dongle_result r;

	if (len > 255)
		return DONGLE_CONNECTION_ERROR;
	r = power_on(d);
	if (r != DONGLE_OK)
		return r;
	cmd[n++] = 0x00;
	cmd[n++] = ins;
	cmd[n++] = p1;
	cmd[n++] = p2;
	if (len) {
		cmd[n++] = (uint8_t)len;
		memcpy(cmd + n, data, len);
		n += len;
	}
	if (le >= 0)
		cmd[n++] = (uint8_t)le;
	for (int round = 0; round < 16; round++) {
		uint16_t sw;

		r = ccid_xfer(d, CCID_PC_TO_RDR_XFRBLOCK, cmd, n, resp, sizeof(resp), &got);
		explicit_bzero(cmd, sizeof(cmd));
		if (r != DONGLE_OK)
			goto out;
		if (got < 2) {
			r = DONGLE_CONNECTION_ERROR;
			goto out;
		}
		sw = (uint16_t)(resp[got - 2] << 8 | resp[got - 1]);
		if (got - 2 > cap - total) {
			r = DONGLE_CONNECTION_ERROR;
			goto out;
		}
		memcpy(out + total, resp, got - 2);
		total += got - 2;
		if ((sw >> 8) == 0x61) { /* more data: GET RESPONSE */
			n = 0;
			cmd[n++] = 0x00;
			cmd[n++] = SECRETS_INS_GET_RESPONSE;
			cmd[n++] = 0;
			cmd[n++] = 0;
			cmd[n++] = (uint8_t)sw;
			continue;
		}
		*ret_sw = sw;
		*ret_len = total;
		r = DONGLE_OK;
		goto out;
	}
	r = DONGLE_CONNECTION_ERROR;
out:
	explicit_bzero(resp, sizeof(resp));
	return r;
}

static enum dongle_result select_app(struct dongle *d, const char *aid, size_t aid_len,
				     uint8_t *out, size_t cap, size_t *ret_len)
{
	uint16_t sw;
	enum dongle_result r = apdu(d, SECRETS_INS_SELECT, 0x04, 0x00, (const uint8_t *)aid,
				    aid_len, -1, out, cap, ret_len, &sw);

	if (r != DONGLE_OK)
		return r;
	if (sw == 0x6a82)
		return DONGLE_NOT_SUPPORTED; /* no such application */
	return sw == 0x9000 ? DONGLE_OK : DONGLE_CONNECTION_ERROR;
}

static enum dongle_result select_secrets(struct dongle *d, struct secrets_select *ret)
{
	uint8_t buf[APDU_RESP_MAX];
	size_t n;
	enum dongle_result r = select_app(d, SECRETS_AID, SECRETS_AID_LEN, buf, sizeof(buf), &n);

	if (r != DONGLE_OK)
		return r;
	if (secrets_select_parse(buf, n, ret) < 0) {
		log_debug("dongle: malformed Secrets app SELECT answer");
		return DONGLE_CONNECTION_ERROR;
	}
	return DONGLE_OK;
}

enum dongle_result nk3_info(struct dongle *d, struct dongle_info *ret)
{
	uint8_t buf[APDU_RESP_MAX];
	struct secrets_select s;
	enum dongle_result r;
	uint16_t sw;
	size_t n;

	/* Firmware version: the admin app's 0x61 (u32 BE: major 10 bits,
	 * minor 16 bits, patch 6 bits). Optional: older firmware lacks it. */
	r = select_app(d, NK3_ADMIN_AID, NK3_ADMIN_AID_LEN, buf, sizeof(buf), &n);
	if (r == DONGLE_OK)
		r = apdu(d, NK3_ADMIN_INS_VERSION, 0, 0, NULL, 0, 4, buf, sizeof(buf), &n, &sw);
	if (r == DONGLE_CONNECTION_ERROR)
		return r;
	if (r == DONGLE_OK && sw == 0x9000 && n >= 4) {
		uint32_t v = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 |
			     (uint32_t)buf[2] << 8 | buf[3];
		ret->fw_major = v >> 22;
		ret->fw_minor = (v >> 6) & 0xffff;
		ret->fw_patch = v & 0x3f;
		snprintf(ret->firmware, sizeof(ret->firmware), "%u.%u.%u", ret->fw_major,
			 ret->fw_minor, ret->fw_patch);
	}
	r = select_secrets(d, &s);
	if (r != DONGLE_OK)
		return r;
	if (!ret->firmware[0])
		snprintf(ret->firmware, sizeof(ret->firmware), "secrets %u.%u.%u", s.ver_major,
			 s.ver_minor, s.ver_patch);
	ret->serial = s.serial;
	ret->pin_set = s.pin_counter >= 0;
	ret->have_retries = s.pin_counter >= 0;
	ret->admin_retries = s.pin_counter >= 0 ? (unsigned)s.pin_counter : 0;
	ret->user_retries = ret->admin_retries;
	return DONGLE_OK;
}

/* TLV {80 pin} for VERIFY/SET PIN. */
static enum dongle_result pin_apdu(struct dongle *d, uint8_t ins, const struct secret *pin,
				   uint16_t *ret_sw)
{
	uint8_t body[2 + DONGLE_PIN_MAX], out[64];
	enum dongle_result r;
	size_t n;

	body[0] = SECRETS_TAG_PASSWORD;
	body[1] = (uint8_t)pin->len;
	memcpy(body + 2, pin->data, pin->len);
	r = apdu(d, ins, 0, 0, body, 2 + pin->len, -1, out, sizeof(out), &n, ret_sw);
	explicit_bzero(body, sizeof(body));
	return r;
}

enum dongle_result nk3_hotp_write(struct dongle *d, const struct secret *pin,
				  const struct secret *key)
{
	const size_t name_len = strlen(DONGLE_NK3_CREDENTIAL);
	uint8_t body[2 + 32 + 2 + 2 + DONGLE_SECRET_LEN + 2 + 6], out[64];
	struct secrets_select s;
	enum dongle_result r;
	size_t n, i = 0;
	uint16_t sw;

	if (!pin || pin->len > DONGLE_PIN_MAX || !key || key->len < DONGLE_SECRET_LEN)
		return DONGLE_CONNECTION_ERROR;
	r = select_secrets(d, &s);
	if (r != DONGLE_OK)
		return r;
	if (s.pin_counter < 0) {
		/* No Secrets PIN yet: this PIN becomes it (reference `set`). */
		r = pin_apdu(d, SECRETS_INS_SET_PIN, pin, &sw);
		if (r != DONGLE_OK)
			return r;
		if (sw != 0x9000)
			return DONGLE_CONNECTION_ERROR;
	} else if (s.pin_counter == 0)
		return DONGLE_BLOCKED;
	r = pin_apdu(d, SECRETS_INS_VERIFY_PIN, pin, &sw);
	if (r != DONGLE_OK)
		return r;
	if (sw == 0x6983)
		return DONGLE_BLOCKED;
	if (sw == 0x6300) {
		if (select_secrets(d, &s) == DONGLE_OK && s.pin_counter == 0)
			return DONGLE_BLOCKED;
		return DONGLE_WRONG_PIN;
	}
	if (sw != 0x9000)
		return DONGLE_CONNECTION_ERROR;

	/* DELETE {71 name}: 9000 or 6a82 (none there) */
	body[i++] = SECRETS_TAG_NAME;
	body[i++] = (uint8_t)name_len;
	memcpy(body + i, DONGLE_NK3_CREDENTIAL, name_len);
	i += name_len;
	r = apdu(d, SECRETS_INS_DELETE, 0, 0, body, i, -1, out, sizeof(out), &n, &sw);
	if (r != DONGLE_OK)
		return r;
	if (sw == 0x6982)
		return DONGLE_WRONG_PIN;
	if (sw != 0x9000 && sw != 0x6a82)
		return DONGLE_CONNECTION_ERROR;

	/* PUT {71 name, 73 [kind|algo, digits, key], 78 props, 7a counter 0} */
	body[i++] = SECRETS_TAG_KEY;
	body[i++] = 2 + DONGLE_SECRET_LEN;
	body[i++] = SECRETS_KIND_HOTP_REVERSE | SECRETS_ALGO_SHA1;
	body[i++] = 6;
	memcpy(body + i, key->data, DONGLE_SECRET_LEN);
	i += DONGLE_SECRET_LEN;
	body[i++] = SECRETS_TAG_PROPERTIES;
	body[i++] = 0x00; /* no touch, not PIN-encrypted */
	body[i++] = SECRETS_TAG_COUNTER;
	body[i++] = 4;
	memset(body + i, 0, 4);
	i += 4;
	r = apdu(d, SECRETS_INS_PUT, 0, 0, body, i, -1, out, sizeof(out), &n, &sw);
	explicit_bzero(body, sizeof(body));
	if (r != DONGLE_OK)
		return r;
	if (sw == 0x6982)
		return DONGLE_WRONG_PIN;
	return sw == 0x9000 ? DONGLE_OK : DONGLE_CONNECTION_ERROR;
}

enum dongle_result nk3_hotp_check(struct dongle *d, uint32_t code)
{
	const size_t name_len = strlen(DONGLE_NK3_CREDENTIAL);
	uint8_t body[2 + 32 + 6], out[64];
	struct secrets_select s;
	enum dongle_result r;
	size_t n, i = 0;
	uint16_t sw;

	r = select_secrets(d, &s);
	if (r != DONGLE_OK)
		return r;
	body[i++] = SECRETS_TAG_NAME;
	body[i++] = (uint8_t)name_len;
	memcpy(body + i, DONGLE_NK3_CREDENTIAL, name_len);
	i += name_len;
	body[i++] = SECRETS_TAG_RESPONSE;
	body[i++] = 4;
	body[i++] = (uint8_t)(code >> 24);
	body[i++] = (uint8_t)(code >> 16);
	body[i++] = (uint8_t)(code >> 8);
	body[i++] = (uint8_t)code;
	r = apdu(d, SECRETS_INS_VERIFY_CODE, 0, 0, body, i, -1, out, sizeof(out), &n, &sw);
	if (r != DONGLE_OK)
		return r;
	switch (sw) {
	case 0x9000:
		return DONGLE_OK;
	case 0x6300:
		return DONGLE_INVALID_CODE;
	case 0x6a82: /* no credential (or a PIN-encrypted one: not ours) */
	case 0x6982:
		return DONGLE_NOT_CONFIGURED;
	case 0x6d00: /* firmware without VERIFY CODE */
		return DONGLE_NOT_SUPPORTED;
	default:
		log_debug("dongle: VERIFY CODE answered %04x", sw);
		return DONGLE_CONNECTION_ERROR;
	}
}

enum dongle_result nk3_reset(struct dongle *d)
{
	struct secrets_select s;
	enum dongle_result r;
	uint8_t out[64];
	uint16_t sw;
	size_t n;

	r = select_secrets(d, &s);
	if (r != DONGLE_OK)
		return r;
	r = apdu(d, SECRETS_INS_RESET, 0xde, 0xad, NULL, 0, -1, out, sizeof(out), &n, &sw);
	if (r != DONGLE_OK)
		return r;
	return sw == 0x9000 ? DONGLE_OK : DONGLE_CONNECTION_ERROR;
}
