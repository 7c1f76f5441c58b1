/* nk3_model.c - see nk3_model.h. */
#include "nk3_model.h"
#include "nk_hid_model.h" /* nk_model_hotp */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t aid_secrets[] = {0xa0, 0x00, 0x00, 0x05, 0x27, 0x21, 0x01};
static const uint8_t aid_admin[] = {0xa0, 0x00, 0x00, 0x08, 0x47, 0x00, 0x00, 0x00, 0x01};

struct nk3_model *nk3_model_new(void)
{
	struct nk3_model *m = calloc(1, sizeof(*m));

	if (!m)
		abort();
	m->fw_version = 1u << 22 | 7u << 6 | 2u;
	m->app_version[0] = 4;
	m->app_version[1] = 11;
	m->app_version[2] = 0;
	m->serial = 0x1234abcd;
	m->has_secrets_app = true;
	m->pin_retries = 8;
	return m;
}

void nk3_model_free(struct nk3_model *m)
{
	free(m);
}

struct nk3_cred *nk3_model_cred(struct nk3_model *m, const char *name)
{
	for (int i = 0; i < NK3M_CREDS; i++)
		if (m->creds[i].used && !strcmp(m->creds[i].name, name))
			return &m->creds[i];
	return NULL;
}

/* Queue one RDR_to_PC_DataBlock. */
static void enqueue(struct nk3_model *m, uint8_t seq, uint8_t status, const uint8_t *data,
		    size_t len)
{
	unsigned slot = (m->q_head + m->q_count) % NK3M_QUEUE;
	uint8_t *b = m->queue[slot];

	if (m->q_count == NK3M_QUEUE || len > sizeof(m->queue[0]) - 10)
		abort();
	memset(b, 0, 10);
	b[0] = 0x80;
	b[1] = (uint8_t)len;
	b[2] = (uint8_t)(len >> 8);
	b[6] = seq;
	b[7] = status;
	memcpy(b + 10, data, len);
	m->queue_len[slot] = 10 + len;
	m->q_count++;
}

/* Model TLV reader: the value of tag in d[0..n) (properties 0x78 carry one
 * byte and no length). */
static const uint8_t *tlv(const uint8_t *d, size_t n, uint8_t tag, size_t *len)
{
	size_t i = 0;

	while (i + 1 < n) {
		uint8_t t = d[i];
		size_t l;

		if (t == 0x78) {
			if (t == tag) {
				*len = 1;
				return d + i + 1;
			}
			i += 2;
			continue;
		}
		l = d[i + 1];
		if (i + 2 + l > n)
			return NULL;
		if (t == tag) {
			*len = l;
			return d + i + 2;
		}
		i += 2 + l;
	}
	return NULL;
}

/* Respond: data + SW, cut into 61xx pieces when m->chunk is set. */
static size_t reply(struct nk3_model *m, uint8_t *out, const uint8_t *data, size_t len,
		    uint16_t sw)
{
	if (m->chunk && len > m->chunk) {
		memcpy(m->pending, data + m->chunk, len - m->chunk);
		m->pending_len = len - m->chunk;
		m->pending_off = 0;
		memcpy(out, data, m->chunk);
		out[m->chunk] = 0x61;
		out[m->chunk + 1] = (uint8_t)(m->pending_len > 255 ? 0 : m->pending_len);
		/* the final SW is kept for the last piece */
		m->pending[sizeof(m->pending) - 2] = (uint8_t)(sw >> 8);
		m->pending[sizeof(m->pending) - 1] = (uint8_t)sw;
		return m->chunk + 2;
	}
	memcpy(out, data, len);
	out[len] = (uint8_t)(sw >> 8);
	out[len + 1] = (uint8_t)sw;
	return len + 2;
}

static size_t sw_only(uint8_t *out, uint16_t sw)
{
	out[0] = (uint8_t)(sw >> 8);
	out[1] = (uint8_t)sw;
	return 2;
}

static size_t secrets_apdu(struct nk3_model *m, uint8_t ins, uint8_t p1, uint8_t p2,
			   const uint8_t *d, size_t n, uint8_t *out, unsigned *touch)
{
	const char *cname;
	const uint8_t *v;
	size_t l = 0;
	char name[64];

	switch (ins) {
	case 0xb2: /* VERIFY PIN {80 pin} */
		if (!m->pin_set)
			return sw_only(out, 0x6982);
		if (m->pin_retries == 0)
			return sw_only(out, 0x6983);
		v = tlv(d, n, 0x80, &l);
		if (!v)
			return sw_only(out, 0x6a80);
		if (l == strlen(m->pin) && !memcmp(v, m->pin, l)) {
			m->pin_retries = 8;
			m->pin_verified = true;
			return sw_only(out, 0x9000);
		}
		m->pin_retries--;
		m->pin_verified = false;
		return sw_only(out, 0x6300);
	case 0xb4: /* SET PIN {80 pin} */
		if (m->pin_set)
			return sw_only(out, 0x6985);
		v = tlv(d, n, 0x80, &l);
		if (!v || l < 4 || l >= sizeof(m->pin))
			return sw_only(out, 0x6a80);
		memcpy(m->pin, v, l);
		m->pin[l] = 0;
		m->pin_set = true;
		m->pin_retries = 8;
		return sw_only(out, 0x9000);
	case 0x02: /* DELETE {71 name} */
		if (m->pin_set && !m->pin_verified)
			return sw_only(out, 0x6982);
		v = tlv(d, n, 0x71, &l);
		if (!v || l >= sizeof(name))
			return sw_only(out, 0x6a80);
		memcpy(name, v, l);
		name[l] = 0;
		{
			struct nk3_cred *c = nk3_model_cred(m, name);

			if (!c)
				return sw_only(out, 0x6a82);
			memset(c, 0, sizeof(*c));
		}
		return sw_only(out, 0x9000);
	case 0x01: { /* PUT */
		struct nk3_cred c = {.used = true};
		const uint8_t *k;
		size_t kl = 0;

		if (m->pin_set && !m->pin_verified)
			return sw_only(out, 0x6982);
		v = tlv(d, n, 0x71, &l);
		k = tlv(d, n, 0x73, &kl);
		if (!v || l >= sizeof(c.name) || !k || kl < 3 || kl - 2 > sizeof(c.key))
			return sw_only(out, 0x6a80);
		memcpy(c.name, v, l);
		c.kind_algo = k[0];
		c.digits = k[1];
		memcpy(c.key, k + 2, kl - 2);
		c.key_len = kl - 2;
		if ((v = tlv(d, n, 0x78, &l)))
			c.props = v[0];
		if ((v = tlv(d, n, 0x7a, &l))) {
			if (l != 4)
				return sw_only(out, 0x6a80);
			c.counter = (uint32_t)v[0] << 24 | v[1] << 16 | v[2] << 8 | v[3];
		}
		struct nk3_cred *slot = nk3_model_cred(m, c.name);

		for (int i = 0; !slot && i < NK3M_CREDS; i++)
			if (!m->creds[i].used)
				slot = &m->creds[i];
		if (!slot)
			return sw_only(out, 0x6a84);
		*slot = c;
		*touch = m->touch_waits;
		return sw_only(out, 0x9000);
	}
	case 0xb1: { /* VERIFY CODE {71 name, 75 code} */
		struct nk3_cred *c;
		uint32_t code;

		v = tlv(d, n, 0x71, &l);
		if (!v || l >= sizeof(name))
			return sw_only(out, 0x6a80);
		memcpy(name, v, l);
		name[l] = 0;
		c = nk3_model_cred(m, name);
		if (!c || (c->kind_algo & 0xf0) != 0x30)
			return sw_only(out, 0x6a82);
		v = tlv(d, n, 0x75, &l);
		if (!v || l != 4)
			return sw_only(out, 0x6a80);
		code = (uint32_t)v[0] << 24 | v[1] << 16 | v[2] << 8 | v[3];
		for (uint64_t k = c->counter; k < (uint64_t)c->counter + 10; k++)
			if (nk_model_hotp(c->key, c->key_len, k, c->digits) == code) {
				if (m->n_verified < NK3M_LOG_MAX)
					m->verified[m->n_verified++] = k;
				c->counter = (uint32_t)(k + 1);
				return sw_only(out, 0x9000);
			}
		return sw_only(out, 0x6300);
	}
	case 0x04: /* RESET de ad */
		if (p1 != 0xde || p2 != 0xad)
			return sw_only(out, 0x6a86);
		memset(m->creds, 0, sizeof(m->creds));
		m->pin_set = false;
		m->pin[0] = 0;
		m->pin_retries = 8;
		m->pin_verified = false;
		*touch = m->touch_waits;
		return sw_only(out, 0x9000);
	default:
		(void)cname;
		return sw_only(out, 0x6d00);
	}
}

static size_t apdu(struct nk3_model *m, const uint8_t *a, size_t n, uint8_t *out,
		   unsigned *touch)
{
	uint8_t ins, p1, p2;
	const uint8_t *d = NULL;
	size_t lc = 0;

	m->apdus++;
	if (n < 4)
		return sw_only(out, 0x6700);
	ins = a[1];
	p1 = a[2];
	p2 = a[3];
	if (n > 5) {
		lc = a[4];
		if (5 + lc != n && 5 + lc + 1 != n)
			return sw_only(out, 0x6700);
		d = a + 5;
	}
	if (ins == 0xc0) { /* GET RESPONSE */
		size_t left = m->pending_len - m->pending_off, take;

		if (!left)
			return sw_only(out, 0x6985);
		take = m->chunk && left > m->chunk ? m->chunk : left;
		memcpy(out, m->pending + m->pending_off, take);
		m->pending_off += take;
		left -= take;
		if (left) {
			out[take] = 0x61;
			out[take + 1] = (uint8_t)(left > 255 ? 0 : left);
		} else {
			out[take] = m->pending[sizeof(m->pending) - 2];
			out[take + 1] = m->pending[sizeof(m->pending) - 1];
			m->pending_len = m->pending_off = 0;
		}
		return take + 2;
	}
	m->pending_len = m->pending_off = 0;
	if (ins == 0xa4 && p1 == 0x04) {
		m->pin_verified = false;
		if (lc == sizeof(aid_secrets) && !memcmp(d, aid_secrets, lc) && m->has_secrets_app) {
			uint8_t r[64];
			size_t i = 0;

			m->selected = NK3M_SECRETS;
			r[i++] = 0x79;
			r[i++] = 3;
			memcpy(r + i, m->app_version, 3);
			i += 3;
			r[i++] = 0x71;
			r[i++] = 8;
			memcpy(r + i, "saltsalt", 8);
			i += 8;
			if (m->pin_set) {
				r[i++] = 0x82;
				r[i++] = 1;
				r[i++] = (uint8_t)m->pin_retries;
			}
			r[i++] = 0x8f;
			r[i++] = 4;
			r[i++] = (uint8_t)(m->serial >> 24);
			r[i++] = (uint8_t)(m->serial >> 16);
			r[i++] = (uint8_t)(m->serial >> 8);
			r[i++] = (uint8_t)m->serial;
			return reply(m, out, r, i, 0x9000);
		}
		if (lc == sizeof(aid_admin) && !memcmp(d, aid_admin, lc)) {
			m->selected = NK3M_ADMIN;
			return sw_only(out, 0x9000);
		}
		m->selected = NK3M_NONE;
		return sw_only(out, 0x6a82);
	}
	if (m->selected == NK3M_ADMIN && ins == 0x61) {
		uint8_t v[4] = {(uint8_t)(m->fw_version >> 24), (uint8_t)(m->fw_version >> 16),
				(uint8_t)(m->fw_version >> 8), (uint8_t)m->fw_version};

		return reply(m, out, v, 4, 0x9000);
	}
	if (m->selected == NK3M_SECRETS)
		return secrets_apdu(m, ins, p1, p2, d, lc, out, touch);
	return sw_only(out, 0x6d00);
}

int nk3_model_bulk_out(struct nk3_model *m, const uint8_t *b, size_t n)
{
	uint8_t out[1100];
	uint32_t len;
	unsigned touch = 0;
	size_t olen;

	if (n < 10)
		return -EINVAL;
	len = b[1] | b[2] << 8 | b[3] << 16 | (uint32_t)b[4] << 24;
	if (len != n - 10)
		return -EINVAL;
	switch (b[0]) {
	case 0x62: { /* IccPowerOn: the ATR */
		static const uint8_t atr[] = {0x3b, 0x8f, 0x01, 0x80, 0x5d, 0x4e, 0x69, 0x74,
					      0x72, 0x6f, 0x6b, 0x65, 0x79, 0x00, 0x00, 0x00,
					      0x00, 0x00, 0x6a};

		m->powered = true;
		enqueue(m, b[6], 0x00, atr, sizeof(atr));
		return 0;
	}
	case 0x6f: /* XfrBlock */
		if (!m->powered) {
			enqueue(m, b[6], 0x42, NULL, 0); /* failed, no ICC present */
			return 0;
		}
		olen = apdu(m, b + 10, len, out, &touch);
		m->ext_pending = touch; /* sent by bulk_in before the answer */
		m->ext_seq = b[6];
		enqueue(m, b[6], 0x00, out, olen);
		return 0;
	default:
		enqueue(m, b[6], 0x40, NULL, 0); /* command not supported */
		return 0;
	}
}

int nk3_model_bulk_in(struct nk3_model *m, uint8_t *buf, size_t cap, size_t *ret_len)
{
	size_t n;

	if (m->ext_pending) { /* time extension: "waiting for a touch" */
		if (cap < 10)
			return -EOVERFLOW;
		memset(buf, 0, 10);
		buf[0] = 0x80;
		buf[6] = m->ext_seq;
		buf[7] = 0x80;
		buf[9] = 0x01; /* BWI multiplier */
		m->ext_pending--;
		m->time_extensions++;
		*ret_len = 10;
		return 0;
	}
	if (!m->q_count)
		return -ETIMEDOUT;
	n = m->queue_len[m->q_head];
	if (n > cap)
		return -EOVERFLOW;
	memcpy(buf, m->queue[m->q_head], n);
	m->q_head = (m->q_head + 1) % NK3M_QUEUE;
	m->q_count--;
	*ret_len = n;
	return 0;
}

static int t_send(void *ctx, const uint8_t *buf, size_t len)
{
	return nk3_model_bulk_out(ctx, buf, len);
}

static int t_recv(void *ctx, uint8_t *buf, size_t cap, size_t *ret_len)
{
	return nk3_model_bulk_in(ctx, buf, cap, ret_len);
}

struct dongle_transport *nk3_model_transport(struct nk3_model *m)
{
	struct dongle_transport *t = calloc(1, sizeof(*t));

	if (!t)
		abort();
	*t = (struct dongle_transport){.name = "nk3-model", .proto = DONGLE_PROTO_CCID,
				       .send = t_send, .recv = t_recv, .ctx = m};
	return t;
}
