/* tpm12_cmd.c - TPM 1.2 commands: PCR read/extend, capabilities, DA info,
 * owner check, monotonic counters. See tpm12.h. */
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

/* --- commands --------------------------------------------------------------- */

int tpm12_pcr_read(struct tpm12 *t, unsigned pcr, uint8_t out[20])
{
	struct tpm12_cmd c;
	struct tpm12_rsp r;
	uint8_t resp[TPM12_MAX_COMMAND];
	if (pcr >= TPM_PCR_COUNT)
		return -EINVAL;
	tpm12_cmd_init(&c, TPM12_TAG_RQU_COMMAND, TPM12_ORD_PcrRead);
	tpm12_put_u32(&c, pcr);
	int e = tpm12_simple(t, &c, resp, &r, "PcrRead");
	if (e < 0)
		return log_error_errno(e, "TPM 1.2: PcrRead(%u) failed", pcr);
	const uint8_t *d = tpm12_get_bytes(&r, 20);
	if (!d || r.off != r.len)
		return log_error_errno(-EBADMSG, "TPM 1.2: malformed PcrRead response");
	memcpy(out, d, 20);
	return 0;
}

int tpm12_extend(struct tpm12 *t, unsigned pcr, const uint8_t digest[20], uint8_t ret_new[20])
{
	struct tpm12_cmd c;
	struct tpm12_rsp r;
	uint8_t resp[TPM12_MAX_COMMAND];
	if (pcr >= TPM_PCR_COUNT)
		return -EINVAL;
	tpm12_cmd_init(&c, TPM12_TAG_RQU_COMMAND, TPM12_ORD_Extend);
	tpm12_put_u32(&c, pcr);
	tpm12_put_bytes(&c, digest, 20);
	int e = tpm12_simple(t, &c, resp, &r, "Extend");
	if (e < 0)
		return log_error_errno(e, "TPM 1.2: Extend(%u) failed", pcr);
	const uint8_t *d = tpm12_get_bytes(&r, 20);
	if (!d || r.off != r.len)
		return log_error_errno(-EBADMSG, "TPM 1.2: malformed Extend response");
	if (ret_new)
		memcpy(ret_new, d, 20);
	return 0;
}

/* GetCapability(cap, subcap of subcap_len bytes): the resp blob, bounded. */
int tpm12_get_cap(struct tpm12 *t, uint32_t cap, const uint8_t *sub, uint32_t sub_len,
		  uint8_t *resp, const uint8_t **ret, uint32_t *ret_len)
{
	struct tpm12_cmd c;
	struct tpm12_rsp r;
	tpm12_cmd_init(&c, TPM12_TAG_RQU_COMMAND, TPM12_ORD_GetCapability);
	tpm12_put_u32(&c, cap);
	tpm12_put_u32(&c, sub_len);
	tpm12_put_bytes(&c, sub, sub_len);
	int e = tpm12_simple(t, &c, resp, &r, "GetCapability");
	if (e < 0)
		return e;
	uint32_t n = tpm12_get_u32(&r);
	const uint8_t *p = tpm12_get_bytes(&r, n);
	if (!p || r.off != r.len)
		return log_error_errno(-EBADMSG, "TPM 1.2: malformed GetCapability response");
	*ret = p;
	*ret_len = n;
	return 0;
}

int tpm12_manufacturer(struct tpm12 *t, char ret[5])
{
	uint8_t resp[TPM12_MAX_COMMAND], sub[4] = {0, 0, 0x01, 0x03};
	const uint8_t *p;
	uint32_t n;
	int e = tpm12_get_cap(t, TPM12_CAP_PROPERTY, sub, 4, resp, &p, &n);
	if (e < 0)
		return e;
	if (n != 4)
		return -EBADMSG;
	for (int i = 0; i < 4; i++)
		ret[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : ' ';
	ret[4] = '\0';
	return 0;
}

int tpm12_owned(struct tpm12 *t, bool *ret)
{
	uint8_t resp[TPM12_MAX_COMMAND], sub[4] = {0, 0, 0x01, 0x11}; /* TPM_CAP_PROP_OWNER */
	const uint8_t *p;
	uint32_t n;
	int e = tpm12_get_cap(t, TPM12_CAP_PROPERTY, sub, 4, resp, &p, &n);
	if (e < 0)
		return e;
	if (n != 1 || p[0] > 1)
		return log_error_errno(-EBADMSG, "TPM 1.2: malformed TPM_CAP_PROP_OWNER answer");
	*ret = p[0] == 1;
	return 0;
}

int tpm12_perm_flags(struct tpm12 *t, struct tpm12_perm_flags *ret)
{
	uint8_t resp[TPM12_MAX_COMMAND], sub[4] = {0, 0, 0x01, 0x08};
	const uint8_t *p;
	uint32_t n;
	int e = tpm12_get_cap(t, TPM12_CAP_FLAG, sub, 4, resp, &p, &n);
	if (e < 0)
		return e;
	return tpm12_parse_perm_flags(p, n, ret);
}

int tpm12_stclear_flags(struct tpm12 *t, struct tpm12_stclear_flags *ret)
{
	uint8_t resp[TPM12_MAX_COMMAND], sub[4] = {0, 0, 0x01, 0x09};
	const uint8_t *p;
	uint32_t n;
	int e = tpm12_get_cap(t, TPM12_CAP_FLAG, sub, 4, resp, &p, &n);
	if (e < 0)
		return e;
	return tpm12_parse_stclear_flags(p, n, ret) < 0
		       ? log_error_errno(-EBADMSG, "TPM 1.2: malformed TPM_STCLEAR_FLAGS")
		       : 0;
}

int tpm12_count_handles(struct tpm12 *t, uint32_t resource_type, unsigned *ret)
{
	uint8_t resp[TPM12_MAX_COMMAND], sub[4] = {0, 0, 0, (uint8_t)resource_type};
	const uint8_t *p;
	uint32_t n;
	int e = tpm12_get_cap(t, TPM12_CAP_HANDLE, sub, 4, resp, &p, &n);
	if (e < 0)
		return e;
	/* TPM_KEY_HANDLE_LIST: loaded(2) handle(4)[loaded] */
	if (n < 2 || n != 2 + 4 * (uint32_t)(p[0] << 8 | p[1]))
		return log_error_errno(-EBADMSG, "TPM 1.2: malformed handle list");
	*ret = (unsigned)(p[0] << 8 | p[1]);
	return 0;
}

int tpm12_da_info(struct tpm12 *t, struct tpm12_da_info *ret)
{
	uint8_t resp[TPM12_MAX_COMMAND], sub[2] = {0, TPM12_ET_OWNER};
	const uint8_t *p;
	uint32_t n;
	int e = tpm12_get_cap(t, TPM12_CAP_DA_LOGIC, sub, 2, resp, &p, &n);
	if (e < 0)
		return e;
	e = tpm12_parse_da_info(p, n, ret);
	if (e < 0)
		log_error("TPM 1.2: malformed DA information");
	return e;
}

int tpm12_check_owner(struct tpm12 *t, const struct secret *owner)
{
	struct tpm12_cmd c;
	struct tpm12_rsp r;
	struct sess s = {0}, *ss[1] = {&s};
	uint8_t resp[TPM12_MAX_COMMAND], a[20];
	tpm12_auth_value(owner, a);
	int e = tpm12_oiap(t, a, &s);
	explicit_bzero(a, sizeof(a));
	if (e < 0)
		return e;
	tpm12_cmd_init(&c, TPM12_TAG_RQU_AUTH1, TPM12_ORD_GetCapabilityOwner);
	e = tpm12_auth_transmit(t, &c, ss, 1, false, resp, &r, "GetCapabilityOwner");
	tpm12_sess_wipe(&s);
	return e;
}

static int counter_value(struct tpm12_rsp *r, unsigned n_auth, uint32_t *ret, uint8_t *ret_label)
{
	struct tpm12_counter_value v;
	const uint8_t *p = tpm12_get_bytes(r, 10);
	if (!p || tpm12_rsp_left(r, n_auth) != 0 || tpm12_parse_counter_value(p, 10, &v) < 0)
		return log_error_errno(-EBADMSG, "TPM 1.2: malformed counter value");
	*ret = v.counter;
	if (ret_label)
		memcpy(ret_label, v.label, 4);
	return 0;
}

int tpm12_counter_create(struct tpm12 *t, const struct secret *owner, const struct secret *counter_auth,
			 const uint8_t label[4], uint32_t *ret_id, uint32_t *ret_value)
{
	struct tpm12_cmd c;
	struct tpm12_rsp r;
	struct sess s = {0}, *ss[1] = {&s};
	uint8_t resp[TPM12_MAX_COMMAND], a[20], enc[20];
	tpm12_auth_value(owner, a);
	int e = tpm12_osap(t, TPM12_ET_OWNER, 0, a, &s);
	if (e < 0)
		goto out;
	tpm12_auth_value(counter_auth, a);
	tpm12_adip(&s, a, enc);
	tpm12_cmd_init(&c, TPM12_TAG_RQU_AUTH1, TPM12_ORD_CreateCounter);
	tpm12_put_bytes(&c, enc, 20);
	tpm12_put_bytes(&c, label, 4);
	e = tpm12_auth_transmit(t, &c, ss, 1, false, resp, &r, "CreateCounter");
	if (e < 0)
		goto out;
	*ret_id = tpm12_get_u32(&r);
	e = counter_value(&r, 1, ret_value, NULL);
out:
	explicit_bzero(a, sizeof(a));
	tpm12_sess_wipe(&s);
	return e;
}

int tpm12_counter_read(struct tpm12 *t, uint32_t id, uint32_t *ret_value, uint8_t ret_label[4])
{
	struct tpm12_cmd c;
	struct tpm12_rsp r;
	uint8_t resp[TPM12_MAX_COMMAND];
	tpm12_cmd_init(&c, TPM12_TAG_RQU_COMMAND, TPM12_ORD_ReadCounter);
	tpm12_put_u32(&c, id);
	int e = tpm12_simple(t, &c, resp, &r, "ReadCounter");
	if (e < 0)
		return e;
	return counter_value(&r, 0, ret_value, ret_label);
}

int tpm12_counter_increment(struct tpm12 *t, uint32_t id, const struct secret *counter_auth,
			    uint32_t *ret_value)
{
	struct tpm12_cmd c;
	struct tpm12_rsp r;
	struct sess s = {0}, *ss[1] = {&s};
	uint8_t resp[TPM12_MAX_COMMAND], a[20];
	tpm12_auth_value(counter_auth, a);
	int e = tpm12_oiap(t, a, &s);
	explicit_bzero(a, sizeof(a));
	if (e < 0)
		return e;
	tpm12_cmd_init(&c, TPM12_TAG_RQU_AUTH1, TPM12_ORD_IncrementCounter);
	tpm12_put_u32(&c, id);
	e = tpm12_auth_transmit(t, &c, ss, 1, false, resp, &r, "IncrementCounter");
	tpm12_sess_wipe(&s);
	if (e < 0)
		return e;
	return counter_value(&r, 1, ret_value, NULL);
}
