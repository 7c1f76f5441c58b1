/* tpm12_nv.c - TPM 1.2 NV indices and TPM_Seal/TPM_Unseal. See tpm12.h. */
#include "tpm/tpm12.h"
#include "tpm/tpm12-internal.h"
#include "tpm/tpm.h"

#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

static void put_pcr_info_short_none(struct tpm12_cmd *c)
{
	uint8_t z[20] = {0};
	tpm12_put_u16(c, 3);
	tpm12_put_bytes(c, z, 3);
	tpm12_put_u8(c, 0x1f); /* localityAtRelease: any */
	tpm12_put_bytes(c, z, 20);
}

int tpm12_nv_define(struct tpm12 *t, uint32_t index, uint32_t size, uint32_t per,
		    const struct secret *owner)
{
	struct tpm12_cmd c;
	struct tpm12_rsp r;
	struct sess s = {0}, *ss[1] = {&s};
	uint8_t resp[TPM12_MAX_COMMAND], a[20], enc[20], zero[20] = {0};
	tpm12_auth_value(owner, a);
	int e = tpm12_osap(t, TPM12_ET_OWNER, 0, a, &s);
	explicit_bzero(a, sizeof(a));
	if (e < 0)
		return e;
	tpm12_adip(&s, zero, enc); /* the index's own auth: empty (well-known) */
	tpm12_cmd_init(&c, TPM12_TAG_RQU_AUTH1, TPM12_ORD_NV_DefineSpace);
	tpm12_put_u16(&c, 0x0018); /* TPM_TAG_NV_DATA_PUBLIC */
	tpm12_put_u32(&c, index);
	put_pcr_info_short_none(&c);
	put_pcr_info_short_none(&c);
	tpm12_put_u16(&c, 0x0017); /* TPM_TAG_NV_ATTRIBUTES */
	tpm12_put_u32(&c, per);
	tpm12_put_u8(&c, 0); /* bReadSTClear */
	tpm12_put_u8(&c, 0); /* bWriteSTClear */
	tpm12_put_u8(&c, 0); /* bWriteDefine */
	tpm12_put_u32(&c, size);
	tpm12_put_bytes(&c, enc, 20);
	e = tpm12_auth_transmit(t, &c, ss, 1, false, resp, &r, "NV_DefineSpace");
	tpm12_sess_wipe(&s);
	return e;
}

int tpm12_nv_info(struct tpm12 *t, uint32_t index, struct tpm12_nv_public *ret)
{
	uint8_t resp[TPM12_MAX_COMMAND], sub[4] = {(uint8_t)(index >> 24), (uint8_t)(index >> 16),
						   (uint8_t)(index >> 8), (uint8_t)index};
	const uint8_t *p;
	uint32_t n;
	int e = tpm12_get_cap(t, TPM12_CAP_NV_INDEX, sub, 4, resp, &p, &n);
	if (e == -EINVAL || e == TPM_E_NO_OBJECT)
		return TPM_E_NO_OBJECT; /* TPM_BADINDEX / TPM_BAD_PARAMETER */
	if (e < 0)
		return e;
	e = tpm12_parse_nv_public(p, n, ret);
	if (e < 0)
		return log_error_errno(e, "TPM 1.2: malformed NV index information");
	return 0;
}

int tpm12_nv_undefine(struct tpm12 *t, uint32_t index, const struct secret *owner)
{
	struct tpm12_nv_public pub;
	int e = tpm12_nv_info(t, index, &pub);
	if (e < 0)
		return e;
	return tpm12_nv_define(t, index, 0, pub.permission, owner);
}

int tpm12_nv_write(struct tpm12 *t, uint32_t index, const void *data, size_t len,
		   const struct secret *owner)
{
	struct tpm12_cmd c;
	struct tpm12_rsp r;
	uint8_t resp[TPM12_MAX_COMMAND];
	if (len > 2048)
		return -E2BIG;
	tpm12_cmd_init(&c, owner ? TPM12_TAG_RQU_AUTH1 : TPM12_TAG_RQU_COMMAND,
		       TPM12_ORD_NV_WriteValue);
	tpm12_put_u32(&c, index);
	tpm12_put_u32(&c, 0);
	tpm12_put_u32(&c, (uint32_t)len);
	tpm12_put_bytes(&c, data, len);
	if (!owner)
		return tpm12_simple(t, &c, resp, &r, "NV_WriteValue");
	struct sess s = {0}, *ss[1] = {&s};
	uint8_t a[20];
	tpm12_auth_value(owner, a);
	int e = tpm12_oiap(t, a, &s);
	explicit_bzero(a, sizeof(a));
	if (e == 0)
		e = tpm12_auth_transmit(t, &c, ss, 1, false, resp, &r, "NV_WriteValue");
	tpm12_sess_wipe(&s);
	return e;
}

int tpm12_nv_read(struct tpm12 *t, uint32_t index, size_t len, uint8_t *out)
{
	struct tpm12_cmd c;
	struct tpm12_rsp r;
	uint8_t resp[TPM12_MAX_COMMAND];
	if (len > 2048)
		return -E2BIG;
	tpm12_cmd_init(&c, TPM12_TAG_RQU_COMMAND, TPM12_ORD_NV_ReadValue);
	tpm12_put_u32(&c, index);
	tpm12_put_u32(&c, 0);
	tpm12_put_u32(&c, (uint32_t)len);
	int e = tpm12_simple(t, &c, resp, &r, "NV_ReadValue");
	if (e < 0)
		return e;
	uint32_t n = tpm12_get_u32(&r);
	const uint8_t *p = tpm12_get_bytes(&r, n);
	if (!p || n != len || r.off != r.len)
		return log_error_errno(-EBADMSG, "TPM 1.2: malformed NV_ReadValue response");
	memcpy(out, p, n);
	return 0;
}

int tpm12_seal(struct tpm12 *t, uint32_t mask, const uint8_t (*values)[20],
	       const struct secret *data, const struct secret *auth, uint8_t **ret, size_t *ret_len)
{
	struct tpm12_cmd c;
	struct tpm12_rsp r;
	struct sess s = {0}, *ss[1] = {&s};
	uint8_t resp[TPM12_MAX_COMMAND], a[20], enc[20], zero[20] = {0}, rel[20];
	uint8_t comp[TPM12_COMPOSITE_MAX];
	int e;

	if (mask >> 16 || !data || data->len > 256)
		return -EINVAL;
	tpm12_sha1(comp, tpm12_pcr_composite(mask, values, comp), rel);

	e = tpm12_osap(t, TPM12_ET_KEYHANDLE, TPM12_KH_SRK, t->srk, &s);
	if (e < 0)
		return e;
	tpm12_auth_value(auth, a);
	tpm12_adip(&s, a, enc);
	explicit_bzero(a, sizeof(a));
	tpm12_cmd_init(&c, TPM12_TAG_RQU_AUTH1, TPM12_ORD_Seal);
	tpm12_put_u32(&c, TPM12_KH_SRK);
	tpm12_params_start(&c);
	tpm12_put_bytes(&c, enc, 20);
	tpm12_put_u32(&c, mask ? 2 + 2 + 20 + 20 : 0);
	if (mask) {
		tpm12_put_u16(&c, 2);
		tpm12_put_u8(&c, (uint8_t)mask);
		tpm12_put_u8(&c, (uint8_t)(mask >> 8));
		tpm12_put_bytes(&c, rel, 20);
		tpm12_put_bytes(&c, zero, 20); /* digestAtCreation: set by the TPM */
	}
	tpm12_put_u32(&c, (uint32_t)data->len);
	tpm12_put_bytes(&c, data->data, data->len);
	e = tpm12_auth_transmit(t, &c, ss, 1, false, resp, &r, "Seal");
	explicit_bzero(c.b, sizeof(c.b));
	tpm12_sess_wipe(&s);
	if (e < 0)
		return e;
	size_t left = tpm12_rsp_left(&r, 1), blen;
	const uint8_t *p = tpm12_get_bytes(&r, left);
	if (!p || tpm12_stored_data_size(p, left, &blen) < 0 || blen != left)
		return log_error_errno(-EBADMSG, "TPM 1.2: malformed sealed blob");
	*ret = xmalloc(blen);
	memcpy(*ret, p, blen);
	*ret_len = blen;
	return 0;
}

int tpm12_unseal(struct tpm12 *t, const uint8_t *blob, size_t len, const struct secret *auth,
		 struct secret **ret)
{
	struct tpm12_cmd c;
	struct tpm12_rsp r;
	struct sess s1 = {0}, s2 = {0}, *ss[2] = {&s1, &s2};
	uint8_t resp[TPM12_MAX_COMMAND], a[20], zero[20] = {0};
	size_t blen;
	int e;

	if (tpm12_stored_data_size(blob, len, &blen) < 0)
		return log_error_errno(-EBADMSG, "TPM 1.2: not a sealed blob");
	(void)zero;
	e = tpm12_oiap(t, t->srk, &s1);
	if (e < 0)
		return e;
	tpm12_auth_value(auth, a);
	e = tpm12_oiap(t, a, &s2);
	explicit_bzero(a, sizeof(a));
	if (e < 0) {
		tpm12_sess_flush(t, &s1);
		goto out;
	}
	tpm12_cmd_init(&c, TPM12_TAG_RQU_AUTH2, TPM12_ORD_Unseal);
	tpm12_put_u32(&c, TPM12_KH_SRK);
	tpm12_params_start(&c);
	tpm12_put_bytes(&c, blob, blen);
	e = tpm12_auth_transmit(t, &c, ss, 2, false, resp, &r, "Unseal");
	if (e < 0)
		goto out;
	uint32_t n = tpm12_get_u32(&r);
	const uint8_t *p = tpm12_get_bytes(&r, n);
	if (!p || tpm12_rsp_left(&r, 2) != 0) {
		e = log_error_errno(-EBADMSG, "TPM 1.2: malformed Unseal response");
		goto out;
	}
	*ret = secret_dup(p, n);
	e = *ret ? 0 : -ENOMEM;
out:
	explicit_bzero(resp, sizeof(resp));
	tpm12_sess_wipe(&s1);
	tpm12_sess_wipe(&s2);
	return e;
}
