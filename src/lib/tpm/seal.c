/* seal.c - PolicyPCR (+ PolicyAuthValue) sealing under the persistent
 * primary, the NV record of expected PCR values, DA status. See tpm.h. */
#include "tpm/tpm-internal.h"

#include "log.h"
#include "util.h"

#include <string.h>

#include <tss2/tss2_mu.h>

/* NV record: "HSR1" | mask (4, BE) | flags (1) | 32 bytes per PCR in mask
 * (20 on a TPM 1.2), ascending. flags bit 0: the object needs a passphrase
 * (PolicyAuthValue). */
#define SEALREC_MAGIC "HSR1"
#define SEALREC_HDR 9

static unsigned popcount(uint32_t m)
{
	return (unsigned)__builtin_popcount(m);
}

static void pcr_selection(uint32_t mask, TPML_PCR_SELECTION *sel)
{
	memset(sel, 0, sizeof(*sel));
	sel->count = 1;
	sel->pcrSelections[0].hash = TPM2_ALG_SHA256;
	sel->pcrSelections[0].sizeofSelect = 3;
	for (unsigned i = 0; i < TPM_PCR_COUNT; i++)
		if (mask & (1u << i))
			sel->pcrSelections[0].pcrSelect[i / 8] |= 1u << (i % 8);
}

int tpm_pcr_values_current(struct tpm *t, uint32_t mask, struct tpm_pcr_values *ret)
{
	int r;
	if (mask >> TPM_PCR_COUNT)
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	r = tpm_pcr_read_mask(t, mask, ret->sha256);
	if (r < 0)
		return r;
	ret->mask = mask;
	return 0;
}

int tpm_policy_digest(const struct tpm_pcr_values *v, bool with_auth_value, uint8_t ret_digest[32])
{
	uint8_t buf[32 + 4 + sizeof(TPML_PCR_SELECTION) + 32];
	uint8_t vals[TPM_PCR_COUNT * 32];
	uint8_t digest[32] = {0};
	TPML_PCR_SELECTION sel;
	size_t off = 0, n = 0;
	int r;

	if (!v->mask || (v->mask >> TPM_PCR_COUNT))
		return -EINVAL;
	for (unsigned i = 0; i < TPM_PCR_COUNT; i++)
		if (v->mask & (1u << i))
			memcpy(vals + 32 * n++, v->sha256[i], 32);
	/* PolicyPCR: H(old || TPM_CC_PolicyPCR || pcrs || H(values)) */
	memcpy(buf, digest, 32);
	off = 32;
	if (Tss2_MU_UINT32_Marshal(TPM2_CC_PolicyPCR, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS)
		return -EIO;
	pcr_selection(v->mask, &sel);
	if (Tss2_MU_TPML_PCR_SELECTION_Marshal(&sel, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS)
		return -EIO;
	r = tpm_sha256(vals, 32 * n, buf + off);
	if (r < 0)
		return r;
	off += 32;
	r = tpm_sha256(buf, off, digest);
	if (r < 0)
		return r;
	if (with_auth_value) {
		memcpy(buf, digest, 32);
		off = 32;
		if (Tss2_MU_UINT32_Marshal(TPM2_CC_PolicyAuthValue, buf, sizeof(buf), &off) !=
		    TSS2_RC_SUCCESS)
			return -EIO;
		r = tpm_sha256(buf, off, digest);
		if (r < 0)
			return r;
	}
	memcpy(ret_digest, digest, 32);
	return 0;
}

/* Start a policy session; salted with the primary and encrypting responses
 * when a primary exists (unseal), plain otherwise. continue_session false:
 * the TPM drops the session after its next use. */
static int policy_session(struct tpm *t, uint32_t pcr_mask, bool with_auth_value, bool salted,
			  bool continue_session, ESYS_TR *ret)
{
	TPML_PCR_SELECTION sel;
	TPM2B_DIGEST empty = {.size = 0};
	ESYS_TR key = ESYS_TR_NONE, s;
	TSS2_RC rc;
	int r;

	if (!pcr_mask || (pcr_mask >> TPM_PCR_COUNT))
		return -EINVAL;
	if (salted) {
		r = tpm_get_primary(t, &key);
		if (r < 0)
			return r;
	}
	r = tpm_start_session(t, key, TPM2_SE_POLICY,
			      (salted ? TPMA_SESSION_ENCRYPT : 0) |
				      (continue_session ? TPMA_SESSION_CONTINUESESSION : 0),
			      &s);
	if (r < 0)
		return r;
	pcr_selection(pcr_mask, &sel);
	rc = Esys_PolicyPCR(t->esys, s, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &empty, &sel);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_log_rc_error(rc, "PolicyPCR");
	if (with_auth_value) {
		rc = Esys_PolicyAuthValue(t->esys, s, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE);
		if (rc != TSS2_RC_SUCCESS)
			return tpm_log_rc_error(rc, "PolicyAuthValue");
	}
	*ret = s;
	return 0;
}

int tpm_policy_session(struct tpm *t, uint32_t pcr_mask, bool with_auth_value, ESYS_TR *ret_session)
{
	if (t->t12)
		return tpm12_unsupported("a policy session");
	return policy_session(t, pcr_mask, with_auth_value, false, true, ret_session);
}

int tpm_policy_session_salted(struct tpm *t, uint32_t pcr_mask, bool with_auth_value,
			      ESYS_TR *ret_session)
{
	if (t->t12)
		return tpm12_unsupported("a policy session");
	return policy_session(t, pcr_mask, with_auth_value, true, true, ret_session);
}

uint32_t sealrec_index(uint32_t handle)
{
	return TPM_SEALREC_BASE | (handle & 0xffff);
}

size_t sealrec_encode(const struct tpm_pcr_values *v, bool with_auth, size_t dlen, uint8_t *buf)
{
	size_t off = SEALREC_HDR;
	memcpy(buf, SEALREC_MAGIC, 4);
	buf[4] = (uint8_t)(v->mask >> 24);
	buf[5] = (uint8_t)(v->mask >> 16);
	buf[6] = (uint8_t)(v->mask >> 8);
	buf[7] = (uint8_t)v->mask;
	buf[8] = with_auth ? 1 : 0;
	for (unsigned i = 0; i < TPM_PCR_COUNT; i++)
		if (v->mask & (1u << i)) {
			memcpy(buf + off, v->sha256[i], dlen);
			off += dlen;
		}
	return off;
}

int sealrec_decode(const uint8_t *buf, size_t len, size_t dlen, struct tpm_pcr_values *v,
		   bool *with_auth)
{
	size_t off = SEALREC_HDR;
	uint32_t mask;
	if (len < SEALREC_HDR || memcmp(buf, SEALREC_MAGIC, 4) != 0)
		return -EBADMSG;
	mask = (uint32_t)buf[4] << 24 | (uint32_t)buf[5] << 16 | (uint32_t)buf[6] << 8 | buf[7];
	if (!mask || (mask >> TPM_PCR_COUNT) || buf[8] > 1 ||
	    len != SEALREC_HDR + dlen * (size_t)popcount(mask))
		return -EBADMSG;
	memset(v, 0, sizeof(*v));
	v->mask = mask;
	for (unsigned i = 0; i < TPM_PCR_COUNT; i++)
		if (mask & (1u << i)) {
			memcpy(v->sha256[i], buf + off, dlen);
			off += dlen;
		}
	*with_auth = buf[8] == 1;
	return 0;
}

static int write_sealrec(struct tpm *t, uint32_t handle, const struct tpm_pcr_values *v,
			 bool with_auth, const struct secret *owner_auth)
{
	uint8_t buf[SEALREC_MAX];
	size_t len = sealrec_encode(v, with_auth, 32, buf);
	return tpm_record_write(t, sealrec_index(handle), buf, len, owner_auth);
}

/* Evict the persistent object at handle if there is one. */
static int evict_if_present(struct tpm *t, uint32_t handle, ESYS_TR auth_session)
{
	ESYS_TR obj, out = ESYS_TR_NONE;
	TSS2_RC rc;
	int r = tpm_from_handle(t, handle, &obj);
	if (r == TPM_E_NO_OBJECT)
		return 0;
	if (r < 0)
		return r;
	rc = Esys_EvictControl(t->esys, ESYS_TR_RH_OWNER, obj, auth_session, ESYS_TR_NONE,
			       ESYS_TR_NONE, handle, &out);
	Esys_TR_Close(t->esys, &obj);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_log_rc_error(rc, "EvictControl (remove old object)");
	return 1;
}

int tpm_persist(struct tpm *t, ESYS_TR loaded, uint32_t handle, const struct secret *owner_auth)
{
	if (t->t12)
		return tpm12_unsupported("a persistent object");
	ESYS_TR sess, persisted = ESYS_TR_NONE;
	TSS2_RC rc;
	int r;

	if ((handle >> 24) != 0x81 || handle == TPM_PRIMARY_HANDLE)
		return -EINVAL;
	r = tpm_owner_session(t, owner_auth, &sess);
	if (r < 0)
		return r;
	r = evict_if_present(t, handle, sess);
	if (r >= 0) {
		rc = Esys_EvictControl(t->esys, ESYS_TR_RH_OWNER, loaded, sess, ESYS_TR_NONE,
				       ESYS_TR_NONE, handle, &persisted);
		if (rc != TSS2_RC_SUCCESS)
			r = tpm_log_rc_error(rc, "EvictControl (persist)");
		else
			Esys_TR_Close(t->esys, &persisted);
	}
	tpm_owner_session_end(t, sess);
	return r < 0 ? r : 0;
}

int tpm_seal(struct tpm *t, uint32_t handle, const struct secret *data,
	     const struct tpm_pcr_values *expected, const struct secret *auth,
	     const struct secret *owner_auth)
{
	if (t->t12)
		return tpm12_api_seal(t, handle, data, expected, auth, owner_auth);
	TPM2B_PUBLIC pub = {0};
	ESYS_TR loaded;
	int r;

	if ((handle >> 24) != 0x81 || handle == TPM_PRIMARY_HANDLE || !data ||
	    data->len > 128 || !expected)
		return -EINVAL;
	pub.publicArea.type = TPM2_ALG_KEYEDHASH;
	pub.publicArea.nameAlg = TPM2_ALG_SHA256;
	pub.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
					  TPMA_OBJECT_ADMINWITHPOLICY;
	pub.publicArea.authPolicy.size = 32;
	r = tpm_policy_digest(expected, auth != NULL, pub.publicArea.authPolicy.buffer);
	if (r < 0)
		return r;
	pub.publicArea.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
	r = tpm_create_load(t, &pub, data, auth, "sealed object", &loaded);
	if (r < 0)
		return r;
	r = tpm_persist(t, loaded, handle, owner_auth);
	tpm_flush(t, loaded);
	if (r < 0)
		return r;
	r = write_sealrec(t, handle, expected, auth != NULL, owner_auth);
	if (r < 0)
		log_error("TPM: sealed at 0x%08x, but recording its PCR values failed", handle);
	else
		log_info("TPM: sealed %zu bytes at 0x%08x", data->len, handle);
	return r;
}

int tpm_unseal_mask(struct tpm *t, uint32_t handle, uint32_t mask, const struct secret *auth,
		    struct secret **ret)
{
	if (t->t12)
		return (void)mask, tpm12_api_unseal(t, handle, auth, ret);
	TPM2B_SENSITIVE_DATA *out = NULL;
	TPM2B_AUTH a;
	ESYS_TR obj = ESYS_TR_NONE, sess = ESYS_TR_NONE, primary;
	TSS2_RC rc;
	int r;

	if ((handle >> 24) != 0x81)
		return -EINVAL;
	r = tpm_get_primary(t, &primary);
	if (r < 0)
		return r;
	r = tpm_from_handle(t, handle, &obj);
	if (r < 0) {
		if (r == TPM_E_NO_OBJECT)
			log_error("TPM: nothing is sealed at 0x%08x", handle);
		return r;
	}
	/* A passphrase is a DA-protected authorization: never send it (nor
	 * report "wrong passphrase") while the TPM is locked out. */
	if (auth && (r = tpm_lockout_check(t, NULL)) < 0)
		goto out;
	r = policy_session(t, mask, auth != NULL, true, false, &sess);
	if (r < 0)
		goto out;
	tpm_auth_value(auth, &a);
	rc = Esys_TR_SetAuth(t->esys, obj, &a);
	explicit_bzero(&a, sizeof(a));
	if (rc != TSS2_RC_SUCCESS) {
		r = -EIO;
		goto out;
	}
	rc = Esys_Unseal(t->esys, obj, sess, ESYS_TR_NONE, ESYS_TR_NONE, &out);
	if (rc == TSS2_RC_SUCCESS) {
		/* continueSession was clear: the TPM and ESAPI dropped the session. */
		for (size_t i = 0; i < t->n_tracked; i++)
			if (t->tracked[i] == sess) {
				t->tracked[i] = t->tracked[--t->n_tracked];
				break;
			}
		sess = ESYS_TR_NONE;
		struct secret *s = secret_dup(out->buffer, out->size);
		explicit_bzero(out->buffer, out->size);
		if (!s) {
			r = -errno;
			goto out;
		}
		*ret = s;
		r = 0;
		goto out;
	}
	r = tpm_log_rc(rc, "Unseal");
	switch (r) {
	case TPM_E_PCR_MISMATCH:
		log_debug("TPM: unseal of 0x%08x refused: PCR values differ from the sealed ones", handle);
		break;
	case TPM_E_AUTH_FAIL:
		log_debug("TPM: unseal of 0x%08x refused: wrong passphrase", handle);
		break;
	case TPM_E_LOCKOUT:
		log_debug("TPM: unseal of 0x%08x refused: the TPM is in dictionary-attack lockout", handle);
		break;
	default:
		tpm_log_rc_error(rc, "Unseal");
	}
out:
	Esys_Free(out);
	if (sess != ESYS_TR_NONE)
		tpm_flush(t, sess);
	if (obj != ESYS_TR_NONE)
		Esys_TR_Close(t->esys, &obj);
	return r;
}

static int read_sealrec(struct tpm *t, uint32_t handle, struct tpm_pcr_values *v, bool *with_auth)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len;
	int r = tpm_record_read(t, sealrec_index(handle), &buf, &len);
	if (r < 0)
		return r;
	r = sealrec_decode(buf, len, 32, v, with_auth);
	if (r < 0)
		log_error("TPM: the PCR record 0x%08x of 0x%08x is malformed", sealrec_index(handle), handle);
	return r;
}

int tpm_unseal(struct tpm *t, uint32_t handle, const struct secret *auth, struct secret **ret)
{
	if (t->t12)
		return tpm12_api_unseal(t, handle, auth, ret);
	struct tpm_pcr_values v;
	bool with_auth;
	/* The record only says which PCRs and whether a passphrase: believed
	 * only once its policy digest equals the object's authPolicy. */
	int r = tpm_sealed_expected(t, handle, &v, &with_auth);
	if (r == TPM_E_NO_OBJECT) {
		ESYS_TR obj, primary;
		/* Say what is missing: the primary, the object, or only the record. */
		r = tpm_get_primary(t, &primary);
		if (r < 0)
			return r;
		r = tpm_from_handle(t, handle, &obj);
		if (r < 0) {
			log_error("TPM: nothing is sealed at 0x%08x", handle);
			return r;
		}
		Esys_TR_Close(t->esys, &obj);
		log_error("TPM: no PCR record for 0x%08x (NV index 0x%08x): give the PCR list",
			  handle, sealrec_index(handle));
		return -ENODATA;
	}
	if (r < 0)
		return r;
	if (with_auth && !auth) {
		log_error("TPM: the secret at 0x%08x needs a passphrase", handle);
		return TPM_E_AUTH_FAIL;
	}
	return tpm_unseal_mask(t, handle, v.mask, with_auth ? auth : NULL, ret);
}

int tpm_sealed_expected(struct tpm *t, uint32_t handle, struct tpm_pcr_values *ret, bool *ret_with_auth)
{
	if (t->t12)
		return tpm12_api_sealed_expected(t, handle, ret, ret_with_auth);
	struct tpm_pcr_values v;
	TPM2B_PUBLIC *pub = NULL;
	uint8_t digest[32];
	bool with_auth;
	ESYS_TR obj;
	TSS2_RC rc;
	int r;

	r = read_sealrec(t, handle, &v, &with_auth);
	if (r < 0)
		return r;
	r = tpm_from_handle(t, handle, &obj);
	if (r < 0)
		return r;
	rc = Esys_ReadPublic(t->esys, obj, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, NULL, NULL);
	Esys_TR_Close(t->esys, &obj);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_log_rc_error(rc, "ReadPublic");
	r = tpm_policy_digest(&v, with_auth, digest);
	if (r == 0 && (pub->publicArea.authPolicy.size != 32 ||
		       memcmp(pub->publicArea.authPolicy.buffer, digest, 32) != 0)) {
		log_error("TPM: the PCR record of 0x%08x does not match its policy (forged or "
			  "left over from another object): refusing it", handle);
		r = -EBADMSG;
	}
	Esys_Free(pub);
	if (r < 0)
		return r;
	*ret = v;
	*ret_with_auth = with_auth;
	return 0;
}

int tpm_evict(struct tpm *t, uint32_t handle, const struct secret *owner_auth)
{
	if (t->t12)
		return tpm12_api_evict(t, handle, owner_auth);
	uint32_t attrs;
	size_t sz;
	int r;

	if ((handle >> 24) != 0x81)
		return -EINVAL;
	ESYS_TR sess;
	r = tpm_owner_session(t, owner_auth, &sess);
	if (r < 0)
		return r;
	r = evict_if_present(t, handle, sess);
	tpm_owner_session_end(t, sess);
	if (r < 0)
		return r;
	if (handle == TPM_PRIMARY_HANDLE)
		t->primary = ESYS_TR_NONE;
	if (tpm_nv_info(t, sealrec_index(handle), &attrs, &sz) == 0) {
		int q = tpm_nv_undefine(t, sealrec_index(handle), owner_auth);
		if (q < 0)
			return q;
	}
	return r == 0 ? TPM_E_NO_OBJECT : 0;
}

int tpm_lockout_status(struct tpm *t, bool *ret_lockout, uint32_t *ret_counter,
		       uint32_t *ret_max_tries, uint32_t *ret_seconds)
{
	if (t->t12)
		return tpm12_api_lockout_status(t, ret_lockout, ret_counter, ret_max_tries, ret_seconds);
	/* TPM_PT_PERMANENT (0x200) .. TPM_PT_LOCKOUT_INTERVAL (0x210) */
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more;
	UINT32 perm = 0, cnt = 0, max = 0, secs = 0;
	TSS2_RC rc = Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					TPM2_CAP_TPM_PROPERTIES, TPM2_PT_PERMANENT,
					TPM2_PT_LOCKOUT_INTERVAL - TPM2_PT_PERMANENT + 1, &more, &cap);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_log_rc_error(rc, "GetCapability(DA properties)");
	for (UINT32 i = 0; i < cap->data.tpmProperties.count && i < TPM2_MAX_TPM_PROPERTIES; i++) {
		UINT32 v = cap->data.tpmProperties.tpmProperty[i].value;
		switch (cap->data.tpmProperties.tpmProperty[i].property) {
		case TPM2_PT_PERMANENT: perm = v; break;
		case TPM2_PT_LOCKOUT_COUNTER: cnt = v; break;
		case TPM2_PT_MAX_AUTH_FAIL: max = v; break;
		case TPM2_PT_LOCKOUT_INTERVAL: secs = v; break;
		default: break;
		}
	}
	Esys_Free(cap);
	if (ret_lockout)
		*ret_lockout = (perm & TPMA_PERMANENT_INLOCKOUT) != 0;
	if (ret_counter)
		*ret_counter = cnt;
	if (ret_max_tries)
		*ret_max_tries = max;
	if (ret_seconds)
		*ret_seconds = secs;
	return 0;
}

int tpm_lockout_check(struct tpm *t, uint32_t *ret_seconds)
{
	bool locked;
	uint32_t cnt, max, secs;
	if (tpm_lockout_status(t, &locked, &cnt, &max, &secs) < 0)
		return 0; /* not known to be locked: the operation reports its own error */
	if (!locked)
		return 0;
	log_error("TPM: dictionary-attack lockout (%u of %u failed tries): next try in %u s",
		  cnt, max, secs);
	if (ret_seconds)
		*ret_seconds = secs;
	return TPM_E_LOCKOUT;
}

void tpm_set_da_policy(struct tpm *t, uint32_t max_tries, uint32_t recovery_seconds)
{
	t->da_max_tries = max_tries;
	t->da_recovery = recovery_seconds;
}

void tpm_set_coreboot_log(struct tpm *t, const char *path)
{
	t->coreboot_log = path;
}

const char *tpm_coreboot_log(const struct tpm *t)
{
	return t ? t->coreboot_log : NULL;
}
