/* nv.c - NV indices: monotonic counters and plain data indices. See tpm.h. */
#include "tpm/tpm-internal.h"

#include "log.h"
#include "util.h"

#include <string.h>

#define NV_CHUNK 512
#define NV_MAX 2048

static int nv_define(struct tpm *t, uint32_t index, size_t size, TPMA_NV attrs,
		     const struct secret *owner_auth)
{
	TPM2B_NV_PUBLIC pub = {0};
	TPM2B_AUTH empty = {0};
	ESYS_TR tr = ESYS_TR_NONE;
	TSS2_RC rc;
	int r;

	if ((index >> 24) != 0x01 || size == 0 || size > NV_MAX)
		return -EINVAL;
	pub.nvPublic.nvIndex = index;
	pub.nvPublic.nameAlg = TPM2_ALG_SHA256;
	pub.nvPublic.attributes = attrs;
	pub.nvPublic.dataSize = (UINT16)size;
	ESYS_TR s;
	r = tpm_owner_session(t, owner_auth, &s);
	if (r < 0)
		return r;
	rc = Esys_NV_DefineSpace(t->esys, ESYS_TR_RH_OWNER, s, ESYS_TR_NONE, ESYS_TR_NONE, &empty,
				 &pub, &tr);
	tpm_owner_session_end(t, s);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_log_rc_error(rc, "NV_DefineSpace");
	Esys_TR_Close(t->esys, &tr);
	return 0;
}

int tpm_nv_define(struct tpm *t, uint32_t index, size_t size, const struct secret *owner_auth)
{
	if (t->t12)
		return size > 2048 || size == 0 ? -EINVAL : tpm12_nv_define(t->t12, index, (uint32_t)size, TPM12_NV_PER_OWNERWRITE, owner_auth);
	return nv_define(t, index, size,
			 TPMA_NV_OWNERWRITE | TPMA_NV_OWNERREAD | TPMA_NV_AUTHREAD |
				 TPMA_NV_AUTHWRITE | TPMA_NV_NO_DA,
			 owner_auth);
}

/* The index's ESYS handle (*ret_tr, the caller closes it) and public area
 * (*ret_pub, Esys_Free). */
static int nv_public(struct tpm *t, uint32_t index, ESYS_TR *ret_tr, TPM2B_NV_PUBLIC **ret_pub)
{
	int r = tpm_from_handle(t, index, ret_tr);
	if (r < 0)
		return r;
	TSS2_RC rc = Esys_NV_ReadPublic(t->esys, *ret_tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					ret_pub, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		Esys_TR_Close(t->esys, ret_tr);
		return tpm_log_rc_error(rc, "NV_ReadPublic");
	}
	return 0;
}

int tpm_nv_info(struct tpm *t, uint32_t index, uint32_t *ret_attributes, size_t *ret_size)
{
	if (t->t12)
		return tpm12_api_nv_info(t, index, ret_attributes, ret_size);
	TPM2B_NV_PUBLIC *pub = NULL;
	ESYS_TR tr;
	int r = nv_public(t, index, &tr, &pub);
	if (r < 0)
		return r;
	Esys_TR_Close(t->esys, &tr);
	*ret_attributes = pub->nvPublic.attributes;
	*ret_size = pub->nvPublic.dataSize;
	Esys_Free(pub);
	return 0;
}

/* as_owner: owner authorization (owner_auth NULL = empty), else index auth. */
static int nv_write(struct tpm *t, uint32_t index, const void *data, size_t len,
		    const struct secret *owner_auth, bool as_owner)
{
	ESYS_TR tr, auth, s = ESYS_TR_PASSWORD;
	int r = tpm_from_handle(t, index, &tr);
	if (r < 0)
		return r;
	if (as_owner) {
		r = tpm_owner_session(t, owner_auth, &s);
		auth = ESYS_TR_RH_OWNER;
	} else {
		auth = tr;
	}
	for (size_t off = 0; r == 0 && off < len; off += NV_CHUNK) {
		TPM2B_MAX_NV_BUFFER b;
		size_t n = len - off < NV_CHUNK ? len - off : NV_CHUNK;
		b.size = (UINT16)n;
		memcpy(b.buffer, (const uint8_t *)data + off, n);
		TSS2_RC rc = Esys_NV_Write(t->esys, auth, tr, s, ESYS_TR_NONE, ESYS_TR_NONE, &b,
					   (UINT16)off);
		if (rc != TSS2_RC_SUCCESS)
			r = tpm_log_rc_error(rc, "NV_Write");
	}
	tpm_owner_session_end(t, s);
	Esys_TR_Close(t->esys, &tr);
	return r;
}

int tpm_nv_write(struct tpm *t, uint32_t index, const void *data, size_t len,
		 const struct secret *owner_auth)
{
	if (t->t12)
		return tpm12_nv_write(t->t12, index, data, len, owner_auth);
	return nv_write(t, index, data, len, owner_auth, owner_auth != NULL);
}

static int nv_read_tr(struct tpm *t, ESYS_TR tr, size_t size, uint8_t *out)
{
	for (size_t off = 0; off < size; off += NV_CHUNK) {
		TPM2B_MAX_NV_BUFFER *b = NULL;
		size_t n = size - off < NV_CHUNK ? size - off : NV_CHUNK;
		TSS2_RC rc = Esys_NV_Read(t->esys, tr, tr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
					  ESYS_TR_NONE, (UINT16)n, (UINT16)off, &b);
		if (rc != TSS2_RC_SUCCESS) {
			int r = tpm_log_rc(rc, "NV_Read");
			if (r != -ENODATA)
				tpm_log_rc_error(rc, "NV_Read");
			return r;
		}
		if (b->size != n) {
			Esys_Free(b);
			return -EIO;
		}
		memcpy(out + off, b->buffer, n);
		Esys_Free(b);
	}
	return 0;
}

/* All size bytes of tr into a new buffer; closes tr. */
static int nv_read_close(struct tpm *t, ESYS_TR tr, size_t size, uint8_t **ret, size_t *ret_len)
{
	_cleanup_free_ uint8_t *buf = xmalloc(size ? size : 1);
	int r = nv_read_tr(t, tr, size, buf);
	Esys_TR_Close(t->esys, &tr);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(buf);
	*ret_len = size;
	return 0;
}

int tpm_nv_read(struct tpm *t, uint32_t index, uint8_t **ret, size_t *ret_len)
{
	if (t->t12)
		return tpm12_api_nv_read(t, index, ret, ret_len);
	TPM2B_NV_PUBLIC *pub = NULL;
	size_t size;
	ESYS_TR tr;
	int r = nv_public(t, index, &tr, &pub);
	if (r < 0)
		return r;
	size = pub->nvPublic.dataSize;
	Esys_Free(pub);
	return nv_read_close(t, tr, size, ret, ret_len);
}

int tpm_nv_undefine(struct tpm *t, uint32_t index, const struct secret *owner_auth)
{
	if (t->t12)
		return tpm12_nv_undefine(t->t12, index, owner_auth);
	ESYS_TR tr;
	TSS2_RC rc;
	int r = tpm_from_handle(t, index, &tr);
	if (r < 0)
		return r;
	ESYS_TR s;
	r = tpm_owner_session(t, owner_auth, &s);
	if (r < 0) {
		Esys_TR_Close(t->esys, &tr);
		return r;
	}
	rc = Esys_NV_UndefineSpace(t->esys, ESYS_TR_RH_OWNER, tr, s, ESYS_TR_NONE, ESYS_TR_NONE);
	tpm_owner_session_end(t, s);
	if (rc != TSS2_RC_SUCCESS) {
		Esys_TR_Close(t->esys, &tr);
		return tpm_log_rc_error(rc, "NV_UndefineSpace");
	}
	/* UndefineSpace invalidated tr inside ESAPI. */
	return 0;
}

/* --- owner-written records ----------------------------------------------- */

int tpm_record_write(struct tpm *t, uint32_t index, const void *data, size_t len,
		     const struct secret *owner_auth)
{
	if (t->t12)
		return tpm12_unsupported("an owner-written NV record");
	uint32_t attrs;
	size_t cur;
	int r;

	if (len == 0 || len > NV_MAX)
		return -EINVAL;
	/* Never reuse what is there: whoever defined it, it is ours after this. */
	r = tpm_nv_info(t, index, &attrs, &cur);
	if (r == 0) {
		r = tpm_nv_undefine(t, index, owner_auth);
		if (r < 0)
			return log_error_errno(r, "TPM: cannot remove NV index 0x%08x (attributes "
					       "0x%08x) to define the record there", index, attrs);
	} else if (r != TPM_E_NO_OBJECT) {
		return r;
	}
	r = nv_define(t, index, len, TPM_RECORD_ATTRS, owner_auth);
	if (r < 0)
		return r;
	return nv_write(t, index, data, len, owner_auth, true);
}

int tpm_record_read(struct tpm *t, uint32_t index, uint8_t **ret, size_t *ret_len)
{
	if (t->t12)
		return tpm12_unsupported("an owner-written NV record");
	TPM2B_NV_PUBLIC *pub = NULL;
	TPMA_NV attrs;
	size_t size;
	ESYS_TR tr;
	int r = nv_public(t, index, &tr, &pub);
	if (r < 0)
		return r;
	attrs = pub->nvPublic.attributes;
	size = pub->nvPublic.dataSize;
	if ((attrs & ~TPMA_NV_WRITTEN) != TPM_RECORD_ATTRS || !(attrs & TPMA_NV_WRITTEN) ||
	    pub->nvPublic.nameAlg != TPM2_ALG_SHA256 || pub->nvPublic.authPolicy.size != 0 ||
	    size == 0 || size > NV_MAX) {
		log_error("TPM: NV index 0x%08x was not defined by heads (attributes 0x%08x, "
			  "expected 0x%08x written, name alg 0x%04x, policy %u bytes): refusing "
			  "its record", index, attrs, (unsigned)TPM_RECORD_ATTRS,
			  pub->nvPublic.nameAlg, pub->nvPublic.authPolicy.size);
		Esys_Free(pub);
		Esys_TR_Close(t->esys, &tr);
		return TPM_E_FOREIGN_RECORD;
	}
	Esys_Free(pub);
	return nv_read_close(t, tr, size, ret, ret_len);
}

/* --- counters ------------------------------------------------------------ */

#define COUNTER_ATTRS                                                                     \
	(TPMA_NV_OWNERREAD | TPMA_NV_AUTHREAD | TPMA_NV_AUTHWRITE |                      \
	 ((TPMA_NV)TPM2_NT_COUNTER << TPMA_NV_TPM2_NT_SHIFT))

/* The counter's ESYS handle (the caller closes it). Its index auth is
 * DA-protected: locked out, it is unreadable, and that must read as lockout
 * (never as MISMATCH), so the lockout is checked first. */
static int counter_open(struct tpm *t, uint32_t index, ESYS_TR *ret_tr)
{
	if ((index >> 24) != 0x01)
		return -EINVAL;
	int r = tpm_from_handle(t, index, ret_tr);
	if (r < 0)
		return r;
	r = tpm_lockout_check(t, NULL);
	if (r < 0)
		Esys_TR_Close(t->esys, ret_tr);
	return r;
}

int tpm_counter_read(struct tpm *t, uint32_t index, uint64_t *ret_value)
{
	if (t->t12)
		return tpm12_api_counter_read(t, index, ret_value);
	uint8_t b[8];
	ESYS_TR tr;
	int r = counter_open(t, index, &tr);
	if (r < 0)
		return r;
	r = nv_read_tr(t, tr, 8, b);
	Esys_TR_Close(t->esys, &tr);
	if (r < 0)
		return r;
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	*ret_value = v;
	return 0;
}

int tpm_counter_increment(struct tpm *t, uint32_t index, const struct secret *owner_auth,
			  uint64_t *ret_value)
{
	if (t->t12)
		return (void)owner_auth, tpm12_api_counter_increment(t, index, ret_value);
	ESYS_TR tr, auth, s = ESYS_TR_PASSWORD;
	TSS2_RC rc;
	int r = counter_open(t, index, &tr);
	if (r < 0)
		return r;
	if (owner_auth) {
		r = tpm_owner_session(t, owner_auth, &s);
		auth = ESYS_TR_RH_OWNER;
	} else {
		auth = tr;
	}
	if (r == 0) {
		rc = Esys_NV_Increment(t->esys, auth, tr, s, ESYS_TR_NONE, ESYS_TR_NONE);
		if (rc != TSS2_RC_SUCCESS)
			r = tpm_log_rc_error(rc, "NV_Increment");
	}
	tpm_owner_session_end(t, s);
	Esys_TR_Close(t->esys, &tr);
	if (r < 0)
		return r;
	if (ret_value)
		return tpm_counter_read(t, index, ret_value);
	return 0;
}

int tpm_counter_create(struct tpm *t, const struct secret *owner_auth, uint32_t *ret_index)
{
	if (t->t12)
		return tpm12_api_counter_create(t, owner_auth, ret_index);
	for (int attempt = 0; attempt < 16; attempt++) {
		uint8_t rnd[3];
		uint32_t index;
		int r = tpm_random(rnd, sizeof(rnd));
		if (r < 0)
			return r;
		index = 0x01000000u | (uint32_t)rnd[0] << 16 | (uint32_t)rnd[1] << 8 | rnd[2];
		if ((index & 0xffff0000u) == TPM_SEALREC_BASE)
			continue;
		r = nv_define(t, index, 8, COUNTER_ATTRS, owner_auth);
		if (r == -EEXIST)
			continue;
		if (r < 0)
			return r;
		r = tpm_counter_increment(t, index, NULL, NULL);
		if (r < 0)
			return r;
		log_info("TPM: created counter 0x%08x", index);
		*ret_index = index;
		return 0;
	}
	return log_error_errno(-EEXIST, "TPM: no free NV counter index found");
}
