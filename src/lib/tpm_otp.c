#include "tpm_otp.h"

#include "cbstages.h"
#include "codec.h"
#include "log.h"
#include "secret.h"
#include "util.h"
#include "tpm/eventlog.h"
#include "tpm/tpm12.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <tss2/tss2_rc.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

static int rc_err(TSS2_RC rc, const char *what)
{
	int r = tpm_rc_to_errno(rc);
	log_debug("TPM: %s: %s (0x%x)", what, Tss2_RC_Decode(rc), rc);
	return r;
}

/* ESYS_TR of a persistent handle (closed with Esys_TR_Close, not flushed). */
static int persistent(struct tpm *t, uint32_t handle, ESYS_TR *ret)
{
	TSS2_RC rc = Esys_TR_FromTPMPublic(tpm_esys(t), handle, ESYS_TR_NONE, ESYS_TR_NONE,
					   ESYS_TR_NONE, ret);
	if (rc)
		return rc_err(rc, "TR_FromTPMPublic");
	return 0;
}

/* --- TPM 1.2: as the reference, the secret is a TPM_Seal blob in NV
 * (handle & 0xffffff: 0x4d47) unsealed into a locked buffer for a software
 * HMAC-SHA1 and wiped right after (a TPM 1.2 has no HMAC object). */
static int tpm12_otp_present(struct tpm *t, uint32_t handle)
{
	/* The "primary" of a TPM 1.2 is the SRK 0x40000000 of an owned TPM; a
	 * seal without it fails with TPM_NOSRK = TPM_E_NO_PRIMARY. */
	if (handle == TPM_PRIMARY_HANDLE)
		return 1;
	int r = tpm_nv_info(t, handle & 0x00ffffffu, NULL, NULL);
	if (r == TPM_E_NO_OBJECT)
		return 0;
	return r < 0 ? r : 1;
}

static int tpm12_otp_expected(struct tpm *t, uint32_t mask, const char *eventlog_path,
			      struct tpm_pcr_values *ret)
{
	struct tpm_pcr_values v;
	int r;
	if (mask == 0 || mask >> 16)
		return -EINVAL;
	r = tpm_pcr_values_current(t, mask, &v);
	if (r < 0)
		return r;
	if (mask & (1u << 4)) {
		/* PCR 4 firmware-only: SHA-1 replay of the log (none = zeros) */
		struct tpm_eventlog *log = NULL;
		size_t len;
		memset(v.sha256[4], 0, sizeof(v.sha256[4]));
		if (eventlog_path && access(eventlog_path, F_OK) == 0) {
			r = tpm_eventlog_load(eventlog_path, &log);
			if (r < 0)
				return log_error_errno(r, "TOTP: cannot read the event log %s",
						       eventlog_path);
			r = tpm_eventlog_replay(log, "sha1", 4, v.sha256[4], &len);
			tpm_eventlog_free(log);
			if (r < 0)
				return log_error_errno(r, "TOTP: cannot predict PCR 4 (sha1)");
		}
	}
	*ret = v;
	return 0;
}

static int tpm12_otp_hmac(struct tpm *t, uint32_t handle, const void *msg, size_t len,
			  uint8_t ret[OTP_SHA1_LEN])
{
	struct secret *key = NULL;
	unsigned int n = OTP_SHA1_LEN;
	if (len > 64)
		return -EINVAL;
	int r = tpm_unseal(t, handle, NULL, &key);
	if (r < 0)
		return r;
	/* the reference's totp reads exactly 20 bytes */
	if (key->len < OTP_SECRET_LEN ||
	    !HMAC(EVP_sha1(), key->data, OTP_SECRET_LEN, msg, len, ret, &n))
		r = -EBADMSG;
	secret_free(key);
	return r;
}

int tpm_otp_present(struct tpm *t, uint32_t handle)
{
	if (t && tpm_version(t) == 12)
		return tpm12_otp_present(t, handle);
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more;
	TSS2_RC rc;
	int found = 0;

	rc = Esys_GetCapability(tpm_esys(t), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				TPM2_CAP_HANDLES, handle, 1, &more, &cap);
	if (rc)
		return rc_err(rc, "GetCapability(handles)");
	found = cap->data.handles.count > 0 && cap->data.handles.handle[0] == handle;
	Esys_Free(cap);
	return found;
}

int tpm_otp_expected(struct tpm *t, uint32_t mask, const char *eventlog_path,
		     struct tpm_pcr_values *ret)
{
	if (t && tpm_version(t) == 12)
		return tpm12_otp_expected(t, mask, eventlog_path, ret);
	struct tpm_pcr_values v;
	int r;

	if (mask == 0 || mask >> TPM_PCR_COUNT)
		return -EINVAL;
	r = tpm_pcr_read_mask(t, mask, v.sha256);
	if (r < 0)
		return r;
	v.mask = mask;
	if (mask & (1u << 4)) {
		/* PCR 4 = its firmware-only value: replay of the firmware event
		 * log; no log = replay of nothing from the all-zero start. */
		struct tpm_eventlog *log = NULL;
		bool have_log = eventlog_path && access(eventlog_path, F_OK) == 0;
		if (have_log) {
			r = tpm_eventlog_load(eventlog_path, &log);
			if (r < 0)
				return log_error_errno(r, "TOTP: cannot read the event log %s",
						       eventlog_path);
		}
		r = tpm_predict_pcr(log, 4, NULL, 0, v.sha256[4]);
		tpm_eventlog_free(log);
		if (r < 0)
			return log_error_errno(r, "TOTP: cannot predict PCR 4 from %s",
					       have_log ? eventlog_path : "(no event log)");
	}
	*ret = v;
	return 0;
}

/* --- NV record of the expected values ----------------------------------- */

static int record_encode(const struct tpm_pcr_values *v, uint8_t *buf, size_t *ret_len)
{
	size_t o = 0;
	memcpy(buf, TPM_OTP_RECORD_MAGIC, 4);
	o = 4;
	buf[o++] = (uint8_t)(v->mask >> 24);
	buf[o++] = (uint8_t)(v->mask >> 16);
	buf[o++] = (uint8_t)(v->mask >> 8);
	buf[o++] = (uint8_t)v->mask;
	for (unsigned i = 0; i < TPM_PCR_COUNT; i++)
		if (v->mask & (1u << i)) {
			memcpy(buf + o, v->sha256[i], 32);
			o += 32;
		}
	*ret_len = o;
	return 0;
}

/* Owner-written only (tpm_record_write: no AUTHWRITE, defined anew). */
static int record_write(struct tpm *t, const struct tpm_pcr_values *v,
			const struct secret *owner_auth)
{
	uint8_t buf[8 + TPM_PCR_COUNT * 32];
	size_t len;

	record_encode(v, buf, &len);
	return tpm_record_write(t, TPM_OTP_RECORD_INDEX, buf, len, owner_auth);
}

/* Refuses an index heads did not define (tpm_record_read). */
static int record_read(struct tpm *t, struct tpm_pcr_values *ret)
{
	_cleanup_free_ uint8_t *data = NULL;
	struct tpm_pcr_values v = {0};
	size_t len, o = 8;
	int r = tpm_record_read(t, TPM_OTP_RECORD_INDEX, &data, &len);
	if (r < 0)
		return r;
	if (len < 8 || memcmp(data, TPM_OTP_RECORD_MAGIC, 4) != 0)
		return -EBADMSG;
	v.mask = (uint32_t)data[4] << 24 | (uint32_t)data[5] << 16 | (uint32_t)data[6] << 8 |
		 data[7];
	if (v.mask == 0 || v.mask >> TPM_PCR_COUNT)
		return -EBADMSG;
	for (unsigned i = 0; i < TPM_PCR_COUNT; i++)
		if (v.mask & (1u << i)) {
			if (o + 32 > len)
				return -EBADMSG;
			memcpy(v.sha256[i], data + o, 32);
			o += 32;
		}
	if (o != len)
		return -EBADMSG;
	*ret = v;
	return 0;
}

/* --- seal / use / wipe --------------------------------------------------- */

int tpm_otp_seal(struct tpm *t, uint32_t handle, const struct secret *key,
		 const struct tpm_pcr_values *expected, const struct secret *owner_auth)
{
	if (t && tpm_version(t) == 12)
		return tpm_seal(t, handle, key, expected, NULL, owner_auth);
	TPM2B_PUBLIC pub = {0};
	ESYS_TR obj;
	int r;

	if (!key || key->len != OTP_SECRET_LEN || !expected || expected->mask == 0)
		return -EINVAL;
	if ((handle & 0xff000000u) != 0x81000000u || handle == TPM_PRIMARY_HANDLE)
		return -EINVAL;

	pub.publicArea.type = TPM2_ALG_KEYEDHASH;
	pub.publicArea.nameAlg = TPM2_ALG_SHA256;
	pub.publicArea.objectAttributes = TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_FIXEDTPM |
					  TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_ADMINWITHPOLICY;
	pub.publicArea.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_HMAC;
	pub.publicArea.parameters.keyedHashDetail.scheme.details.hmac.hashAlg = TPM2_ALG_SHA1;
	pub.publicArea.authPolicy.size = 32;
	r = tpm_policy_digest(expected, false, pub.publicArea.authPolicy.buffer);
	if (r < 0)
		return log_error_errno(r, "TOTP: computing the PCR policy");

	/* Under the primary (checked against the Name recorded at ownership,
	 * if pinned), in a session salted with it: the secret travels
	 * encrypted; its sensitive area lives in locked memory. */
	r = tpm_create_load(t, &pub, key, NULL, "HMAC key", &obj);
	if (r < 0)
		return r;

	/* Replace what is there (tpm_evict also drops a TPM-core PCR record of
	 * a secret once sealed at this handle); owner auth in salted sessions. */
	r = tpm_evict(t, handle, owner_auth);
	if (r < 0 && r != TPM_E_NO_OBJECT)
		goto out;
	r = tpm_persist(t, obj, handle, owner_auth);
	if (r < 0)
		goto out;
	r = record_write(t, expected, owner_auth);
	if (r < 0)
		log_warn("TOTP: the PCR record (NV 0x%08x) could not be written: a "
			 "failure will not name the PCR that moved", TPM_OTP_RECORD_INDEX);
	/* The firmware stages behind the sealed PCR 2, to name them when it
	 * moves (written only when the firmware's log replays to that value). */
	if ((expected->mask & (1u << CBSTAGES_PCR)) &&
	    cbstages_record_seal(t, expected->sha256[CBSTAGES_PCR], owner_auth) < 0)
		log_warn("TOTP: the record of the firmware stages (NV 0x%08x) could not be "
			 "written: a moved PCR 2 will not name them", CBSTAGES_RECORD_INDEX);
	r = 0;
out:
	tpm_flush(t, obj);
	return r;
}

int tpm_otp_hmac(struct tpm *t, uint32_t handle, uint32_t pcr_mask, const void *msg,
		 size_t len, uint8_t ret[OTP_SHA1_LEN])
{
	if (t && tpm_version(t) == 12)
		return (void)pcr_mask, tpm12_otp_hmac(t, handle, msg, len, ret);
	ESYS_CONTEXT *e = tpm_esys(t);
	TPM2B_MAX_BUFFER buf = {0};
	TPM2B_DIGEST *out = NULL;
	ESYS_TR key, sess = ESYS_TR_NONE;
	TSS2_RC rc;
	int r;

	if (len > 64 || pcr_mask >> TPM_PCR_COUNT)
		return -EINVAL;
	if (pcr_mask == 0 && tpm_otp_sealed_mask(t, &pcr_mask) < 0)
		pcr_mask = TPM_OTP_DEFAULT_PCRS;
	r = persistent(t, handle, &key);
	if (r < 0)
		return r;
	/* Salted with the (checked) primary: the HMAC comes back encrypted. */
	r = tpm_policy_session_salted(t, pcr_mask, false, &sess);
	if (r < 0)
		goto out;
	buf.size = (uint16_t)len;
	memcpy(buf.buffer, msg, len);
	rc = Esys_HMAC(e, key, sess, ESYS_TR_NONE, ESYS_TR_NONE, &buf, TPM2_ALG_SHA1, &out);
	if (rc) {
		r = rc_err(rc, "HMAC");
		goto out;
	}
	if (out->size != OTP_SHA1_LEN) {
		r = -EBADMSG;
		goto out;
	}
	memcpy(ret, out->buffer, OTP_SHA1_LEN);
	r = 0;
out:
	if (out)
		explicit_bzero(out, sizeof(*out));
	Esys_Free(out);
	if (sess != ESYS_TR_NONE)
		tpm_flush(t, sess);
	Esys_TR_Close(e, &key);
	return r;
}

int tpm_otp_hotp(struct tpm *t, uint32_t handle, uint32_t pcr_mask, uint64_t counter,
		 uint32_t *ret_code)
{
	uint8_t msg[8], mac[OTP_SHA1_LEN];
	int r;

	otp_counter_message(counter, msg);
	r = tpm_otp_hmac(t, handle, pcr_mask, msg, sizeof(msg), mac);
	if (r < 0)
		return r;
	r = otp_truncate(mac, OTP_DIGITS, ret_code);
	explicit_bzero(mac, sizeof(mac));
	return r;
}

int tpm_otp_totp(struct tpm *t, uint32_t handle, uint32_t pcr_mask, time_t now,
		 uint32_t *ret_code)
{
	uint64_t c;
	int r = otp_totp_counter(now, OTP_TOTP_PERIOD, &c);
	if (r < 0)
		return r;
	return tpm_otp_hotp(t, handle, pcr_mask, c, ret_code);
}


static void mask_list(uint32_t mask, char *out, size_t n)
{
	out[0] = '\0';
	for (unsigned i = 0; i < TPM_PCR_COUNT; i++)
		if (mask & (1u << i))
			snprintf(out + strlen(out), n - strlen(out), "%s%u", *out ? "," : "", i);
}

/* The record describes the object's policy (not left over from another). */
static bool record_matches(struct tpm *t, const struct tpm_pcr_values *rec)
{
	ESYS_CONTEXT *e = tpm_esys(t);
	TPM2B_PUBLIC *pub = NULL;
	uint8_t digest[32];
	bool ok = false;
	ESYS_TR obj;

	if (persistent(t, TPM_HANDLE_TOTP, &obj) < 0)
		return false;
	if (Esys_ReadPublic(e, obj, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, NULL,
			    NULL) == TSS2_RC_SUCCESS &&
	    tpm_policy_digest(rec, false, digest) == 0)
		ok = pub->publicArea.authPolicy.size == 32 &&
		     memcmp(pub->publicArea.authPolicy.buffer, digest, 32) == 0;
	Esys_Free(pub);
	Esys_TR_Close(e, &obj);
	return ok;
}

int tpm_otp_sealed_mask(struct tpm *t, uint32_t *ret_mask)
{
	struct tpm_pcr_values rec;
	if (t && tpm_version(t) == 12) { /* the seal record, checked against the blob */
		bool with_auth;
		int r = tpm_sealed_expected(t, TPM_HANDLE_TOTP, &rec, &with_auth);
		if (r == 0)
			*ret_mask = rec.mask;
		return r;
	}
	int r = record_read(t, &rec);
	if (r < 0)
		return r;
	if (!record_matches(t, &rec))
		return -EBADMSG;
	*ret_mask = rec.mask;
	return 0;
}

char *tpm_otp_explain(struct tpm *t, uint32_t pcr_mask)
{
	struct tpm_pcr_values rec, cur;
	bool tpm12 = t && tpm_version(t) == 12, with_auth;
	char *s = NULL;
	unsigned moved = 0;
	int r;

	/* TPM 1.2: the seal record next to the blob, checked against the blob's
	 * digestAtRelease (-EBADMSG when it does not describe it). */
	r = tpm12 ? tpm_sealed_expected(t, TPM_HANDLE_TOTP, &rec, &with_auth) : record_read(t, &rec);
	if (r == 0 && pcr_mask == 0)
		pcr_mask = rec.mask;
	if (pcr_mask == 0)
		pcr_mask = TPM_OTP_DEFAULT_PCRS;
	if (r == TPM_E_FOREIGN_RECORD) {
		char list[128];
		mask_list(pcr_mask, list, sizeof(list));
		return xasprintf("the PCRs differ from the sealed values (one of PCR %s moved; "
				 "the record NV 0x%08x was not defined by heads and is ignored)",
				 list, tpm12 ? TPM12_SEALREC_BASE | (TPM_HANDLE_TOTP & 0xffff) :
					       TPM_OTP_RECORD_INDEX);
	}
	if (tpm12 && r == -EBADMSG)
		return xstrdup("the PCRs differ from the sealed values (the record of the "
			       "expected values does not match the sealed blob, so it cannot say "
			       "which PCR moved)");
	if (r < 0) {
		char list[128];
		mask_list(pcr_mask, list, sizeof(list));
		return xasprintf("the PCRs differ from the sealed values (one of PCR %s "
				 "moved; no record of the expected values to say which)", list);
	}
	if (!tpm12 && !record_matches(t, &rec))
		return xstrdup("the PCRs differ from the sealed values (the record of the "
			       "expected values does not match the object, so it cannot say "
			       "which PCR moved)");
	if (pcr_mask != rec.mask) {
		char want[128], got[128];
		mask_list(pcr_mask, want, sizeof(want));
		mask_list(rec.mask, got, sizeof(got));
		return xasprintf("the PCR list %s is not the one the object was sealed "
				 "with (%s)", want, got);
	}
	r = tpm_pcr_read_mask(t, rec.mask, cur.sha256);
	if (r < 0)
		return xasprintf("the PCRs differ from the sealed values (cannot read them "
				 "now: %s)", strerror(-r));
	for (unsigned i = 0; i < TPM_PCR_COUNT; i++) {
		char a[17], b[17];
		if (!(rec.mask & (1u << i)) || memcmp(rec.sha256[i], cur.sha256[i], 32) == 0)
			continue;
		hex_encode(rec.sha256[i], 8, a);
		hex_encode(cur.sha256[i], 8, b);
		str_appendf(&s, "%sPCR %u moved (sealed %s..., now %s...)", moved ? "; " : "", i, a, b);
		if (i == CBSTAGES_PCR) {
			_cleanup_free_ char *st = cbstages_explain(t, rec.sha256[i], cur.sha256[i]);
			str_appendf(&s, " [%s]", st);
		}
		moved++;
	}
	if (moved == 0) {
		free(s);
		return xstrdup("the PCR policy failed but the PCRs equal the recorded values "
			       "(the object was replaced after the record was written?)");
	}
	return s;
}

char *tpm_otp_reason(struct tpm *t, int r, uint32_t pcr_mask)
{
	switch (r) {
	case TPM_E_NO_TPM:
		return xstrdup("no TPM: the TPM cannot be reached");
	case TPM_E_NO_PRIMARY:
		return xstrdup("the TPM has no primary key at 0x81000000: reset the TPM "
			       "(heads tpm reset)");
	case TPM_E_NO_OBJECT:
		return xstrdup("TOTP/HOTP is not sealed in this TPM (no object at "
			       "0x81004d47): run 'heads totp seal'");
	case TPM_E_LOCKOUT:
		return xstrdup("the TPM is in dictionary-attack lockout");
	case TPM_E_AUTH_FAIL:
		return xstrdup("the TPM refused the owner passphrase");
	case TPM_E_PRIMARY_CHANGED:
		return xstrdup("the primary key at 0x81000000 is not the one recorded at "
			       "ownership: TPM swapped or reset?");
	case TPM_E_PCR_MISMATCH:
		if (t) {
			_cleanup_free_ char *why = tpm_otp_explain(t, pcr_mask);
			return xasprintf("the firmware measurements changed: %s", why);
		}
		return xstrdup("the firmware measurements changed (PCR policy failed)");
	default:
		return xasprintf("TPM operation failed: %s", strerror(r < 0 ? -r : r));
	}
}

int tpm_otp_wipe(struct tpm *t, uint32_t handle, const struct secret *owner_auth)
{
	if (t && tpm_version(t) == 12)
		return tpm_evict(t, handle, owner_auth);
	int r, r2;
	r = tpm_evict(t, handle, owner_auth);
	r2 = tpm_nv_undefine(t, TPM_OTP_RECORD_INDEX, owner_auth);
	if (r2 == 0 || r2 == TPM_E_NO_OBJECT) {
		int r3 = cbstages_record_wipe(t, owner_auth);
		if (r3 < 0 && r3 != TPM_E_NO_OBJECT)
			r2 = r3;
	}
	if (r < 0)
		return r;
	if (r2 < 0 && r2 != TPM_E_NO_OBJECT)
		return r2;
	return 0;
}

const char *tpm_otp_enrol_step_name(enum tpm_otp_enrol_step step)
{
	switch (step) {
	case TPM_OTP_STEP_PRIMARY:
		return "cannot seal";
	case TPM_OTP_STEP_EXPECTED:
		return "cannot compute the expected PCR values";
	case TPM_OTP_STEP_SECRET:
		return "cannot generate the secret";
	case TPM_OTP_STEP_SEAL:
		return "sealing the TOTP secret failed";
	case TPM_OTP_STEP_CHECK:
		return "the sealed object does not work";
	case TPM_OTP_STEP_MISMATCH:
		return "the TPM code does not match the secret; not enrolled";
	}
	return "enrolment failed";
}

int tpm_otp_enrol(struct tpm *t, uint32_t mask, const char *eventlog_path,
		  const uint8_t next_pcr7[32], const struct secret *owner_auth,
		  struct secret **ret_key, char **ret_note, enum tpm_otp_enrol_step *ret_step)
{
	struct tpm_pcr_values next = {0};
	if (next_pcr7) {
		next.mask = 1u << 7;
		memcpy(next.sha256[7], next_pcr7, 32);
	}
	return tpm_otp_enrol_next(t, mask, eventlog_path, &next, owner_auth, ret_key, ret_note,
				  ret_step);
}

int tpm_otp_enrol_next(struct tpm *t, uint32_t mask, const char *eventlog_path,
		       const struct tpm_pcr_values *next, const struct secret *owner_auth,
		       struct secret **ret_key, char **ret_note, enum tpm_otp_enrol_step *ret_step)
{
	_cleanup_secret_ struct secret *key = NULL;
	struct tpm_pcr_values expected;
	uint32_t tcode = 0, scode = 0;
	time_t now;
	int r;

	*ret_note = NULL;
	*ret_step = TPM_OTP_STEP_PRIMARY;
	r = tpm_otp_present(t, TPM_PRIMARY_HANDLE);
	if (r <= 0)
		return r == 0 ? TPM_E_NO_PRIMARY : r;
	*ret_step = TPM_OTP_STEP_EXPECTED;
	if ((r = tpm_otp_expected(t, mask, eventlog_path, &expected)) < 0)
		return r;
	for (unsigned i = 0; next && i < TPM_PCR_COUNT; i++)
		if (next->mask & mask & (1u << i))
			memcpy(expected.sha256[i], next->sha256[i], 32);
	*ret_step = TPM_OTP_STEP_SECRET;
	key = secret_new(OTP_SECRET_LEN);
	if (!key)
		return -errno;
	if ((r = secret_random(key, OTP_SECRET_LEN)) < 0)
		return r;
	*ret_step = TPM_OTP_STEP_SEAL;
	if ((r = tpm_otp_seal(t, TPM_HANDLE_TOTP, key, &expected, owner_auth)) < 0)
		return r;
	/* Self-check: the TPM must compute what the secret gives in software. */
	now = time(NULL);
	r = tpm_otp_totp(t, TPM_HANDLE_TOTP, mask, now, &tcode);
	if (r == TPM_E_PCR_MISMATCH) {
		*ret_note = tpm_otp_explain(t, mask);
	} else if (r < 0) {
		*ret_step = TPM_OTP_STEP_CHECK;
		return r;
	} else if (otp_totp(key->data, key->len, now, OTP_TOTP_PERIOD, OTP_DIGITS, &scode) < 0 ||
		   scode != tcode) {
		*ret_step = TPM_OTP_STEP_MISMATCH;
		return -EBADMSG;
	}
	*ret_key = TAKE_PTR(key);
	return 0;
}

uint32_t tpm_otp_code_mask(struct tpm *t, uint32_t configured)
{
	uint32_t m;
	if (t && tpm_otp_sealed_mask(t, &m) == 0)
		return m;
	return configured;
}
