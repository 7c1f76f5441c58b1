/* tpm12_wire.c - TPM 1.2 marshalling. See tpm12_wire.h. */
#include "tpm/tpm12_wire.h"

#include <errno.h>
#include <string.h>

void tpm12_cmd_init(struct tpm12_cmd *c, uint16_t tag, uint32_t ordinal)
{
	c->len = 0;
	c->overflow = false;
	tpm12_put_u16(c, tag);
	tpm12_put_u32(c, 0); /* paramSize, set by tpm12_cmd_finish */
	tpm12_put_u32(c, ordinal);
	c->param_start = c->len;
}

void tpm12_put_bytes(struct tpm12_cmd *c, const void *p, size_t n)
{
	if (c->overflow || n > sizeof(c->b) - c->len) {
		c->overflow = true;
		return;
	}
	if (n)
		memcpy(c->b + c->len, p, n);
	c->len += n;
}

void tpm12_put_u8(struct tpm12_cmd *c, uint8_t v)
{
	tpm12_put_bytes(c, &v, 1);
}

void tpm12_put_u16(struct tpm12_cmd *c, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
	tpm12_put_bytes(c, b, 2);
}

void tpm12_put_u32(struct tpm12_cmd *c, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
	tpm12_put_bytes(c, b, 4);
}

void tpm12_params_start(struct tpm12_cmd *c)
{
	c->param_start = c->len;
}

int tpm12_cmd_finish(struct tpm12_cmd *c)
{
	if (c->overflow)
		return -E2BIG;
	c->b[2] = (uint8_t)(c->len >> 24);
	c->b[3] = (uint8_t)(c->len >> 16);
	c->b[4] = (uint8_t)(c->len >> 8);
	c->b[5] = (uint8_t)c->len;
	return 0;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int tpm12_rsp_parse(struct tpm12_rsp *r, const uint8_t *buf, size_t len)
{
	memset(r, 0, sizeof(*r));
	if (len < TPM12_HEADER || len > TPM12_MAX_COMMAND || be32(buf + 2) != len)
		return -EBADMSG;
	r->b = buf;
	r->len = len;
	r->tag = (uint16_t)(buf[0] << 8 | buf[1]);
	if (r->tag != TPM12_TAG_RSP_COMMAND && r->tag != TPM12_TAG_RSP_AUTH1 &&
	    r->tag != TPM12_TAG_RSP_AUTH2)
		return -EBADMSG;
	r->rc = be32(buf + 6);
	r->off = TPM12_HEADER;
	return 0;
}

const uint8_t *tpm12_get_bytes(struct tpm12_rsp *r, size_t n)
{
	if (r->err || n > r->len - r->off) {
		r->err = true;
		return NULL;
	}
	const uint8_t *p = r->b + r->off;
	r->off += n;
	return p;
}

uint8_t tpm12_get_u8(struct tpm12_rsp *r)
{
	const uint8_t *p = tpm12_get_bytes(r, 1);
	return p ? p[0] : 0;
}

uint16_t tpm12_get_u16(struct tpm12_rsp *r)
{
	const uint8_t *p = tpm12_get_bytes(r, 2);
	return p ? (uint16_t)(p[0] << 8 | p[1]) : 0;
}

uint32_t tpm12_get_u32(struct tpm12_rsp *r)
{
	const uint8_t *p = tpm12_get_bytes(r, 4);
	return p ? be32(p) : 0;
}

size_t tpm12_rsp_left(const struct tpm12_rsp *r, unsigned n_auth)
{
	size_t tail = (size_t)n_auth * TPM12_RSP_AUTH_TRAILER;
	if (r->err || r->len - r->off < tail)
		return 0;
	return r->len - r->off - tail;
}

/* A bounded reader over a structure inside a response. */
struct rd {
	const uint8_t *p;
	size_t n, off;
	bool err;
};

static const uint8_t *rd_bytes(struct rd *d, size_t k)
{
	if (d->err || k > d->n - d->off) {
		d->err = true;
		return NULL;
	}
	const uint8_t *q = d->p + d->off;
	d->off += k;
	return q;
}

static uint32_t rd_u(struct rd *d, size_t k)
{
	const uint8_t *q = rd_bytes(d, k);
	uint32_t v = 0;
	for (size_t i = 0; q && i < k; i++)
		v = v << 8 | q[i];
	return v;
}

int tpm12_parse_da_info(const uint8_t *p, size_t n, struct tpm12_da_info *ret)
{
	struct rd d = {p, n, 0, false};
	struct tpm12_da_info v = {0};
	uint16_t tag = (uint16_t)rd_u(&d, 2);

	if (tag == TPM12_TAG_DA_INFO) {
		v.state = (uint8_t)rd_u(&d, 1);
		v.current = (uint16_t)rd_u(&d, 2);
		v.threshold = (uint16_t)rd_u(&d, 2);
	} else if (tag == TPM12_TAG_DA_INFO_LIMITED) {
		v.limited = true;
		v.state = (uint8_t)rd_u(&d, 1);
	} else {
		return -EBADMSG;
	}
	rd_u(&d, 2); /* TPM_DA_ACTION_TYPE tag */
	v.actions = rd_u(&d, 4);
	if (!v.limited)
		v.depend = rd_u(&d, 4);
	uint32_t vendor = rd_u(&d, 4);
	rd_bytes(&d, vendor);
	if (d.err || d.off != n || v.state > 1)
		return -EBADMSG;
	*ret = v;
	return 0;
}

int tpm12_parse_counter_value(const uint8_t *p, size_t n, struct tpm12_counter_value *ret)
{
	struct rd d = {p, n, 0, false};
	struct tpm12_counter_value v;
	if (rd_u(&d, 2) != TPM12_TAG_COUNTER_VALUE)
		return -EBADMSG;
	const uint8_t *l = rd_bytes(&d, 4);
	v.counter = rd_u(&d, 4);
	if (d.err || d.off != n)
		return -EBADMSG;
	memcpy(v.label, l, 4);
	*ret = v;
	return 0;
}

int tpm12_stored_data_size(const uint8_t *p, size_t n, size_t *ret_len)
{
	struct rd d = {p, n, 0, false};
	uint32_t ver = rd_u(&d, 4);
	/* TPM_STRUCT_VER 1.1.0.0 (a 1.2 TPM writes that for TPM_Seal) */
	if (ver != 0x01010000u)
		return -EBADMSG;
	uint32_t info = rd_u(&d, 4);
	if (info > 256)
		return -EBADMSG;
	rd_bytes(&d, info);
	uint32_t enc = rd_u(&d, 4);
	if (enc == 0 || enc > 512)
		return -EBADMSG;
	rd_bytes(&d, enc);
	if (d.err)
		return -EBADMSG;
	*ret_len = d.off;
	return 0;
}

int tpm12_stored_data_pcrs(const uint8_t *p, size_t n, uint32_t *ret_mask,
			   uint8_t ret_release[20])
{
	struct rd d = {p, n, 0, false};
	size_t total;
	uint32_t mask = 0;

	if (tpm12_stored_data_size(p, n, &total) < 0)
		return -EBADMSG;
	rd_u(&d, 4);
	uint32_t info = rd_u(&d, 4);
	memset(ret_release, 0, 20);
	if (info == 0) {
		*ret_mask = 0;
		return 0;
	}
	/* TPM_PCR_INFO: sizeOfSelect(2) select digestAtRelease(20) digestAtCreation(20) */
	uint32_t sel = rd_u(&d, 2);
	if (sel < 2 || sel > 3 || info != 2 + sel + 20 + 20)
		return -EBADMSG;
	const uint8_t *b = rd_bytes(&d, sel);
	const uint8_t *rel = rd_bytes(&d, 20);
	if (d.err || !b || !rel)
		return -EBADMSG;
	for (uint32_t i = 0; i < sel; i++)
		mask |= (uint32_t)b[i] << (8 * i);
	memcpy(ret_release, rel, 20);
	*ret_mask = mask;
	return 0;
}

size_t tpm12_pcr_composite(uint32_t mask, const uint8_t (*values)[20],
			   uint8_t out[TPM12_COMPOSITE_MAX])
{
	size_t cn = 0, nv = 0;

	mask &= 0xffffu;
	out[cn++] = 0;
	out[cn++] = 2;
	out[cn++] = (uint8_t)mask;
	out[cn++] = (uint8_t)(mask >> 8);
	for (unsigned i = 0; i < 16; i++)
		if (mask & (1u << i))
			nv++;
	out[cn++] = 0;
	out[cn++] = 0;
	out[cn++] = (uint8_t)((nv * 20) >> 8);
	out[cn++] = (uint8_t)(nv * 20);
	for (unsigned i = 0; i < 16; i++)
		if (mask & (1u << i)) {
			memcpy(out + cn, values[i], 20);
			cn += 20;
		}
	return cn;
}

/* TPM_PCR_INFO_SHORT: sizeOfSelect(2) select locality(1) digest(20) */
static void rd_pcr_info_short(struct rd *d)
{
	uint32_t sel = rd_u(d, 2);
	if (sel > 4) {
		d->err = true;
		return;
	}
	rd_bytes(d, sel);
	rd_bytes(d, 1 + 20);
}

int tpm12_parse_nv_public(const uint8_t *p, size_t n, struct tpm12_nv_public *ret)
{
	struct rd d = {p, n, 0, false};
	struct tpm12_nv_public v;
	if (rd_u(&d, 2) != 0x0018) /* TPM_TAG_NV_DATA_PUBLIC */
		return -EBADMSG;
	v.index = rd_u(&d, 4);
	rd_pcr_info_short(&d);
	rd_pcr_info_short(&d);
	if (rd_u(&d, 2) != 0x0017) /* TPM_TAG_NV_ATTRIBUTES */
		return -EBADMSG;
	v.permission = rd_u(&d, 4);
	rd_bytes(&d, 3); /* bReadSTClear bWriteSTClear bWriteDefine */
	v.size = rd_u(&d, 4);
	if (d.err || d.off != n)
		return -EBADMSG;
	*ret = v;
	return 0;
}

int tpm12_parse_pubkey(const uint8_t *p, size_t n, struct tpm12_rsa_pub *ret, size_t *ret_used)
{
	struct rd d = {p, n, 0, false};
	struct tpm12_rsa_pub v = {0};
	if (rd_u(&d, 4) != 1) /* TPM_ALG_RSA */
		return -EBADMSG;
	rd_u(&d, 2); /* encScheme */
	rd_u(&d, 2); /* sigScheme */
	uint32_t psize = rd_u(&d, 4);
	if (d.err || psize < 12 || psize > 12 + 4)
		return -EBADMSG;
	uint32_t bits = rd_u(&d, 4);
	rd_u(&d, 4); /* numPrimes */
	uint32_t esize = rd_u(&d, 4);
	if (d.err || esize > 4 || psize != 12 + esize)
		return -EBADMSG;
	v.e = esize ? rd_u(&d, esize) : 65537;
	uint32_t klen = rd_u(&d, 4);
	if (d.err || klen == 0 || klen > 512 || klen * 8 != bits)
		return -EBADMSG;
	v.n = rd_bytes(&d, klen);
	v.n_len = klen;
	if (d.err || v.e < 3)
		return -EBADMSG;
	*ret = v;
	*ret_used = d.off;
	return 0;
}

int tpm12_parse_perm_flags(const uint8_t *p, size_t n, struct tpm12_perm_flags *ret)
{
	/* tag (TPM_TAG_PERMANENT_FLAGS 0x001F) then 20 BOOLs in Part 2 order */
	if (n < 2 + 9 || p[0] != 0x00 || p[1] != 0x1F)
		return -EBADMSG;
	for (size_t i = 2; i < n; i++)
		if (p[i] > 1)
			return -EBADMSG;
	ret->disabled = p[2];
	ret->ownership = p[3];
	ret->deactivated = p[4];
	ret->physical_presence_lifetime_lock = p[8];
	ret->physical_presence_hw_enable = p[9];
	ret->physical_presence_cmd_enable = p[10];
	return 0;
}

int tpm12_parse_stclear_flags(const uint8_t *p, size_t n, struct tpm12_stclear_flags *ret)
{
	/* tag (TPM_TAG_STCLEAR_FLAGS 0x0020) then 5 BOOLs in Part 2 order */
	if (n != 2 + 5 || p[0] != 0x00 || p[1] != 0x20)
		return -EBADMSG;
	for (size_t i = 2; i < n; i++)
		if (p[i] > 1)
			return -EBADMSG;
	ret->deactivated = p[2];
	ret->disable_force_clear = p[3];
	ret->physical_presence = p[4];
	ret->physical_presence_lock = p[5];
	ret->global_lock = p[6];
	return 0;
}
