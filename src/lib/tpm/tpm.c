/* tpm.c - context, TCTI, PCR read/extend. See tpm.h. */
#include "tpm/tpm-internal.h"
#include "hash.h"

#include "codec.h"
#include "fs.h"
#include "log.h"
#include "secret.h"
#include "util.h"

#include <openssl/evp.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

/* A counting TCTI: forwards to the loaded one, counts transmits. */
#define COUNT_TCTI_MAGIC 0x6865616473746374ULL /* "headstct" */

static TSS2_RC count_transmit(TSS2_TCTI_CONTEXT *c, size_t size, const uint8_t *cmd)
{
	struct count_tcti *ct = (struct count_tcti *)c;
	ct->count++;
	return Tss2_Tcti_Transmit(ct->inner, size, cmd);
}

static TSS2_RC count_receive(TSS2_TCTI_CONTEXT *c, size_t *size, uint8_t *resp, int32_t timeout)
{
	struct count_tcti *ct = (struct count_tcti *)c;
	return Tss2_Tcti_Receive(ct->inner, size, resp, timeout);
}

static void count_finalize(TSS2_TCTI_CONTEXT *c)
{
	(void)c;
}

static TSS2_RC count_cancel(TSS2_TCTI_CONTEXT *c)
{
	struct count_tcti *ct = (struct count_tcti *)c;
	return Tss2_Tcti_Cancel(ct->inner);
}

static TSS2_RC count_poll(TSS2_TCTI_CONTEXT *c, TSS2_TCTI_POLL_HANDLE *h, size_t *n)
{
	struct count_tcti *ct = (struct count_tcti *)c;
	return Tss2_Tcti_GetPollHandles(ct->inner, h, n);
}

static TSS2_RC count_locality(TSS2_TCTI_CONTEXT *c, uint8_t loc)
{
	struct count_tcti *ct = (struct count_tcti *)c;
	return Tss2_Tcti_SetLocality(ct->inner, loc);
}

static TSS2_RC count_sticky(TSS2_TCTI_CONTEXT *c, TPM2_HANDLE *h, uint8_t sticky)
{
	struct count_tcti *ct = (struct count_tcti *)c;
	return Tss2_Tcti_MakeSticky(ct->inner, h, sticky);
}

int tpm_rc_to_errno(TSS2_RC rc)
{
	TSS2_RC base;

	if (rc == TSS2_RC_SUCCESS)
		return 0;
	if ((rc & TSS2_RC_LAYER_MASK) == TSS2_TCTI_RC_LAYER ||
	    (rc & 0xffff) == TSS2_BASE_RC_IO_ERROR ||
	    (rc & 0xffff) == TSS2_BASE_RC_NO_CONNECTION)
		return TPM_E_NO_TPM;
	if ((rc & TSS2_RC_LAYER_MASK) != TSS2_TPM_RC_LAYER) {
		switch (rc & 0xffff) {
		case TSS2_BASE_RC_MEMORY:
			return -ENOMEM;
		case TSS2_BASE_RC_BAD_VALUE:
		case TSS2_BASE_RC_BAD_REFERENCE:
			return -EINVAL;
		default:
			return -EIO;
		}
	}
	/* TPM layer. Format-one errors carry parameter/handle/session numbers. */
	base = rc & 0xfff;
	if (base & TPM2_RC_FMT1)
		base &= 0xbf; /* keep error number and FMT1 bit */
	else if (base & TPM2_RC_WARN)
		base &= 0x97f;
	switch (base) {
	case TPM2_RC_LOCKOUT:
		return TPM_E_LOCKOUT;
	case TPM2_RC_AUTH_FAIL & 0xbf:
	case TPM2_RC_BAD_AUTH & 0xbf:
		return TPM_E_AUTH_FAIL;
	case TPM2_RC_POLICY_FAIL & 0xbf:
		return TPM_E_PCR_MISMATCH;
	case TPM2_RC_HANDLE & 0xbf:
		return TPM_E_NO_OBJECT;
	case TPM2_RC_NV_SPACE:
	case TPM2_RC_NV_DEFINED:
		return base == TPM2_RC_NV_SPACE ? TPM_E_NV_FULL : -EEXIST;
	case TPM2_RC_OBJECT_MEMORY:
	case TPM2_RC_SESSION_MEMORY:
	case TPM2_RC_OBJECT_HANDLES:
	case TPM2_RC_SESSION_HANDLES:
		return TPM_E_NV_FULL;
	case TPM2_RC_NV_UNINITIALIZED:
		return -ENODATA;
	case TPM2_RC_NV_LOCKED:
	case TPM2_RC_NV_AUTHORIZATION:
	case TPM2_RC_HIERARCHY:
	case TPM2_RC_ATTRIBUTES & 0xbf:
		return -EPERM;
	case TPM2_RC_RETRY:
	case TPM2_RC_TESTING:
	case TPM2_RC_YIELDED:
		return -EAGAIN;
	default:
		return -EIO;
	}
}

int tpm_log_rc(TSS2_RC rc, const char *what)
{
	int r = tpm_rc_to_errno(rc);
	log_debug("TPM: %s: %s (0x%x)", what, Tss2_RC_Decode(rc), rc);
	return r;
}

int tpm_log_rc_error(TSS2_RC rc, const char *what)
{
	int r = tpm_rc_to_errno(rc);
	log_error("TPM: %s failed: %s (0x%x)", what, Tss2_RC_Decode(rc), rc);
	return r;
}

int tpm12_unsupported(const char *what)
{
	log_error("TPM 1.2: %s is not available on a TPM 1.2 (see heads tpm --help)", what);
	return -EOPNOTSUPP;
}

const char *tpm_default_tcti(void)
{
	const char *tcti = getenv("HEADS_TCTI");
	char v[8] = "";
	if (tcti && *tcti)
		return tcti;
	FILE *f = fopen("/sys/class/tpm/tpm0/tpm_version_major", "re");
	if (f) {
		if (!fgets(v, sizeof(v), f))
			v[0] = '\0';
		fclose(f);
	}
	if (v[0] == '1' && (v[1] == '\n' || v[1] == '\0'))
		return "tpm12-device:/dev/tpm0";
	return "device:/dev/tpmrm0";
}

int tpm_version(const struct tpm *t)
{
	return t->t12 ? 12 : 20;
}

int tpm_manufacturer(struct tpm *t, char ret[5])
{
	if (t->t12)
		return tpm12_manufacturer(t->t12, ret);
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more;
	TSS2_RC rc = Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					TPM2_CAP_TPM_PROPERTIES, TPM2_PT_MANUFACTURER, 1, &more, &cap);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_log_rc_error(rc, "GetCapability(manufacturer)");
	uint32_t v = 0;
	if (cap->data.tpmProperties.count == 1 &&
	    cap->data.tpmProperties.tpmProperty[0].property == TPM2_PT_MANUFACTURER)
		v = cap->data.tpmProperties.tpmProperty[0].value;
	Esys_Free(cap);
	for (int i = 0; i < 4; i++) {
		uint8_t c = (uint8_t)(v >> (24 - 8 * i));
		ret[i] = (c >= 0x20 && c < 0x7f) ? (char)c : ' ';
	}
	ret[4] = '\0';
	return 0;
}

int tpm_open(const char *tcti, struct tpm **ret)
{
	struct tpm *t;
	TSS2_RC rc;

	if (!tcti || !*tcti)
		tcti = tpm_default_tcti();
	if (strncmp(tcti, "tpm12-", 6) == 0) {
		t = xcalloc(1, sizeof(*t));
		t->primary = ESYS_TR_NONE;
		int r = tpm12_open(tcti + 6, &t->t12);
		if (r < 0) {
			free(t);
			return r;
		}
		*ret = t;
		return 0;
	}
	/* tpm2-tss logs every TPM error response itself; we log what matters. */
	setenv("TSS2_LOG", "all+none", 0);
	t = xcalloc(1, sizeof(*t));
	t->primary = ESYS_TR_NONE;
	t->da_max_tries = TPM_DA_MAX_TRIES;
	t->da_recovery = TPM_DA_RECOVERY_SECONDS;
	rc = Tss2_TctiLdr_Initialize(tcti, &t->inner);
	if (rc != TSS2_RC_SUCCESS) {
		log_error("TPM: cannot open TCTI '%s': %s", tcti, Tss2_RC_Decode(rc));
		free(t);
		return TPM_E_NO_TPM;
	}
	t->ct.common.v1.magic = COUNT_TCTI_MAGIC;
	t->ct.common.v1.version = 2;
	t->ct.common.v1.transmit = count_transmit;
	t->ct.common.v1.receive = count_receive;
	t->ct.common.v1.finalize = count_finalize;
	t->ct.common.v1.cancel = count_cancel;
	t->ct.common.v1.getPollHandles = count_poll;
	t->ct.common.v1.setLocality = count_locality;
	t->ct.common.makeSticky = count_sticky;
	t->ct.inner = t->inner;

	rc = Esys_Initialize(&t->esys, (TSS2_TCTI_CONTEXT *)&t->ct, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		Tss2_TctiLdr_Finalize(&t->inner);
		free(t);
		log_error("TPM: Esys_Initialize: %s", Tss2_RC_Decode(rc));
		return TPM_E_NO_TPM;
	}
	rc = Esys_Startup(t->esys, TPM2_SU_CLEAR);
	if (rc != TSS2_RC_SUCCESS && (rc & 0xfff) != TPM2_RC_INITIALIZE) {
		int r = tpm_log_rc_error(rc, "Startup");
		tpm_close(t);
		return r == TPM_E_NO_TPM ? r : TPM_E_NO_TPM;
	}
	*ret = t;
	return 0;
}

void tpm_track(struct tpm *t, ESYS_TR h)
{
	if (h == ESYS_TR_NONE)
		return;
	t->tracked = xrealloc(t->tracked, (t->n_tracked + 1) * sizeof(ESYS_TR));
	t->tracked[t->n_tracked++] = h;
}

void tpm_flush(struct tpm *t, ESYS_TR h)
{
	if (h == ESYS_TR_NONE)
		return;
	for (size_t i = 0; i < t->n_tracked; i++) {
		if (t->tracked[i] == h) {
			t->tracked[i] = t->tracked[--t->n_tracked];
			break;
		}
	}
	TSS2_RC rc = Esys_FlushContext(t->esys, h);
	if (rc != TSS2_RC_SUCCESS)
		log_warn("TPM: flushing a transient handle failed: %s", Tss2_RC_Decode(rc));
}

void tpm_close(struct tpm *t)
{
	if (!t)
		return;
	tpm12_close(t->t12);
	if (t->esys) {
		while (t->n_tracked > 0)
			tpm_flush(t, t->tracked[t->n_tracked - 1]);
		Esys_Finalize(&t->esys);
	}
	free(t->tracked);
	if (t->inner)
		Tss2_TctiLdr_Finalize(&t->inner);
	explicit_bzero(t, sizeof(*t));
	free(t);
}

ESYS_CONTEXT *tpm_esys(struct tpm *t)
{
	return t->esys;
}

unsigned tpm_command_count(const struct tpm *t)
{
	if (t->t12)
		return tpm12_command_count(t->t12);
	return t->ct.count;
}

/* --- PCRs ---------------------------------------------------------------- */

static int bank_alg(const char *bank, TPMI_ALG_HASH *ret_alg, size_t *ret_len)
{
	if (streq(bank, "sha256")) {
		*ret_alg = TPM2_ALG_SHA256;
		*ret_len = 32;
	} else if (streq(bank, "sha1")) {
		*ret_alg = TPM2_ALG_SHA1;
		*ret_len = 20;
	} else {
		return -EINVAL;
	}
	return 0;
}

/* One PCR_Read for the PCRs in mask (the TPM may return fewer: loop). */
static int pcr_read_alg(struct tpm *t, TPMI_ALG_HASH alg, size_t dlen, uint32_t mask,
			uint8_t (*out)[32])
{
	uint32_t left = mask;

	while (left) {
		TPML_PCR_SELECTION sel = {.count = 1};
		TPML_PCR_SELECTION *sel_out = NULL;
		TPML_DIGEST *vals = NULL;
		UINT32 upd;
		TSS2_RC rc;
		size_t k = 0;

		sel.pcrSelections[0].hash = alg;
		sel.pcrSelections[0].sizeofSelect = 3;
		for (unsigned i = 0; i < TPM_PCR_COUNT; i++)
			if (left & (1u << i))
				sel.pcrSelections[0].pcrSelect[i / 8] |= 1u << (i % 8);
		rc = Esys_PCR_Read(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &sel, &upd,
				   &sel_out, &vals);
		if (rc != TSS2_RC_SUCCESS)
			return tpm_log_rc_error(rc, "PCR_Read");
		uint32_t got = 0;
		if (sel_out->count == 1 && sel_out->pcrSelections[0].hash == alg)
			for (unsigned i = 0; i < TPM_PCR_COUNT && i / 8 < sel_out->pcrSelections[0].sizeofSelect; i++)
				if (sel_out->pcrSelections[0].pcrSelect[i / 8] & (1u << (i % 8)))
					got |= 1u << i;
		got &= left;
		for (unsigned i = 0; i < TPM_PCR_COUNT; i++) {
			if (!(got & (1u << i)))
				continue;
			if (k >= vals->count || vals->digests[k].size != dlen) {
				Esys_Free(sel_out);
				Esys_Free(vals);
				log_error("TPM: PCR_Read returned a malformed answer");
				return -EIO;
			}
			memcpy(out[i], vals->digests[k].buffer, dlen);
			k++;
		}
		Esys_Free(sel_out);
		Esys_Free(vals);
		if (!got) /* bank not allocated or PCR not present */
			return -ENOENT;
		left &= ~got;
	}
	return 0;
}

int tpm_pcr_read(struct tpm *t, const char *bank, unsigned pcr, uint8_t *out, size_t *ret_len)
{
	uint8_t vals[TPM_PCR_COUNT][32];
	TPMI_ALG_HASH alg;
	size_t len;
	int r;

	if (bank_alg(bank, &alg, &len) < 0 || pcr >= TPM_PCR_COUNT)
		return -EINVAL;
	if (t->t12) {
		if (alg != TPM2_ALG_SHA1)
			return -ENOENT; /* a TPM 1.2 has only SHA-1 PCRs */
		r = tpm12_pcr_read(t->t12, pcr, out);
		if (r == 0)
			*ret_len = TPM_SHA1_LEN;
		return r;
	}
	r = pcr_read_alg(t, alg, len, 1u << pcr, vals);
	if (r < 0)
		return r;
	memcpy(out, vals[pcr], len);
	*ret_len = len;
	return 0;
}

int tpm_pcr_read_mask(struct tpm *t, uint32_t mask, uint8_t out[TPM_PCR_COUNT][32])
{
	if (mask >> TPM_PCR_COUNT)
		return -EINVAL;
	if (t->t12) {
		for (unsigned i = 0; i < TPM_PCR_COUNT; i++) {
			if (!(mask & (1u << i)))
				continue;
			memset(out[i], 0, 32);
			int r = tpm12_pcr_read(t->t12, i, out[i]);
			if (r < 0)
				return r;
		}
		return 0;
	}
	return pcr_read_alg(t, TPM2_ALG_SHA256, 32, mask, out);
}

int tpm_extend_digest(struct tpm *t, unsigned pcr, const uint8_t sha256[32], const char *description)
{
	TPML_DIGEST_VALUES d = {.count = 1};
	char hex[65];
	TSS2_RC rc;

	if (pcr >= TPM_PCR_COUNT)
		return -EINVAL;
	if (t->t12)
		return tpm12_unsupported("extending with a SHA-256 digest");
	d.digests[0].hashAlg = TPM2_ALG_SHA256;
	memcpy(d.digests[0].digest.sha256, sha256, 32);
	hex_encode(sha256, 32, hex);
	rc = Esys_PCR_Extend(t->esys, ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
			     ESYS_TR_NONE, &d);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_log_rc_error(rc, "PCR_Extend");
	_cleanup_free_ char *esc = log_escape(description ? description : "");
	log_info("TPM: Extending PCR[%u] with %s (hash: %s)", pcr, esc, hex);
	return log_measurement(pcr, "sha256", hex, description ? description : "");
}

int tpm_sha256(const void *data, size_t len, uint8_t out[32])
{
	return hash_sha256(data, len, out);
}

/* TPM 1.2: PCR := SHA1(PCR || SHA1(data)), and the trace line says sha1. */
static int extend12(struct tpm *t, unsigned pcr, const uint8_t h[20], const char *description)
{
	char hex[41];
	if (pcr >= TPM_PCR_COUNT)
		return -EINVAL;
	hex_encode(h, 20, hex);
	int r = tpm12_extend(t->t12, pcr, h, NULL);
	if (r < 0)
		return r;
	_cleanup_free_ char *esc = log_escape(description ? description : "");
	log_info("TPM: Extending PCR[%u] with %s (hash: %s)", pcr, esc, hex);
	return log_measurement(pcr, "sha1", hex, description ? description : "");
}

int tpm_extend_bank(struct tpm *t, unsigned pcr, const char *bank, const uint8_t digest[32],
		    const char *description)
{
	if (!bank || !streq(bank, tpm_bank(t)))
		return log_error_errno(-EINVAL, "TPM: a %s digest cannot extend the %s bank of this "
				       "TPM", bank ? bank : "(none)", tpm_bank(t));
	if (t->t12)
		return extend12(t, pcr, digest, description);
	return tpm_extend_digest(t, pcr, digest, description);
}

int tpm_extend_buffer(struct tpm *t, unsigned pcr, const void *data, size_t len,
		      const char *description)
{
	uint8_t h[32];
	if (t->t12) {
		if (hash_buf(HASH_SHA1, data, len, h) < 0)
			return -EIO;
		return extend12(t, pcr, h, description);
	}
	int r = tpm_sha256(data, len, h);
	if (r < 0)
		return r;
	return tpm_extend_digest(t, pcr, h, description);
}

int tpm_extend_string(struct tpm *t, unsigned pcr, const char *s)
{
	return tpm_extend_buffer(t, pcr, s, strlen(s), s);
}

/* The file hashed by hash_fd(): no size limit, constant memory. */
int tpm_extend_file(struct tpm *t, unsigned pcr, const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	uint8_t h[HASH_MAX_LEN];
	int r;

	if (fd < 0)
		return log_error_errno(-errno, "TPM: cannot open %s to measure it", path);
	r = hash_fd(t->t12 ? HASH_SHA1 : HASH_SHA256, fd, NULL, h, NULL);
	if (r < 0)
		return log_error_errno(r, "TPM: cannot read %s to measure it", path);
	if (t->t12)
		return extend12(t, pcr, h, path);
	return tpm_extend_digest(t, pcr, h, path);
}

int tpm_parse_pcr_list(const char *s, uint32_t *ret_mask)
{
	uint32_t mask = 0;
	const char *p = s;

	if (!s || !*s)
		return -EINVAL;
	while (*p) {
		char *end;
		unsigned long a, b;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		a = strtoul(p, &end, 10);
		b = a;
		if (*end == '-') {
			p = end + 1;
			if (*p < '0' || *p > '9')
				return -EINVAL;
			b = strtoul(p, &end, 10);
		}
		if (a >= TPM_PCR_COUNT || b >= TPM_PCR_COUNT || b < a)
			return -EINVAL;
		for (unsigned long i = a; i <= b; i++)
			mask |= 1u << i;
		if (*end == ',')
			end++;
		else if (*end)
			return -EINVAL;
		if (*end == '\0' && end[-1] == ',')
			return -EINVAL;
		p = end;
	}
	*ret_mask = mask;
	return 0;
}

int tpm_count_handles(struct tpm *t, unsigned *ret_transient, unsigned *ret_sessions)
{
	static const struct {
		UINT32 first;
	} kinds[] = {{TPM2_TRANSIENT_FIRST}, {TPM2_LOADED_SESSION_FIRST}};
	unsigned counts[2];

	if (t->t12) {
		/* loaded keys besides the SRK, and authorization sessions */
		int r = tpm12_count_handles(t->t12, 1, ret_transient);
		if (r == 0)
			r = tpm12_count_handles(t->t12, 2, ret_sessions);
		return r;
	}
	for (size_t k = 0; k < 2; k++) {
		TPMS_CAPABILITY_DATA *cap = NULL;
		TPMI_YES_NO more;
		TSS2_RC rc = Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
						TPM2_CAP_HANDLES, kinds[k].first, 64, &more, &cap);
		if (rc != TSS2_RC_SUCCESS)
			return tpm_log_rc_error(rc, "GetCapability(handles)");
		counts[k] = 0;
		for (UINT32 i = 0; i < cap->data.handles.count; i++)
			if ((cap->data.handles.handle[i] >> 24) == (kinds[k].first >> 24))
				counts[k]++;
		Esys_Free(cap);
	}
	*ret_transient = counts[0];
	*ret_sessions = counts[1];
	return 0;
}

void tpm_auth_value(const struct secret *s, TPM2B_AUTH *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (!s)
		return;
	if (s->len <= 32) {
		ret->size = (UINT16)s->len;
		memcpy(ret->buffer, s->data, s->len);
	} else {
		ret->size = 32;
		tpm_sha256(s->data, s->len, ret->buffer);
	}
}

int tpm_random(void *buf, size_t len)
{
	uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int tpm_from_handle(struct tpm *t, uint32_t handle, ESYS_TR *ret)
{
	if (t->t12)
		return tpm12_unsupported("a TPM 2.0 handle");
	TSS2_RC rc = Esys_TR_FromTPMPublic(t->esys, handle, ESYS_TR_NONE, ESYS_TR_NONE,
					   ESYS_TR_NONE, ret);
	if (rc != TSS2_RC_SUCCESS) {
		int r = tpm_log_rc(rc, "ReadPublic");
		return r == TPM_E_NO_TPM ? r : TPM_E_NO_OBJECT;
	}
	return 0;
}

/* ESAPI hands out one ESYS_TR per TPM handle: a caller that Esys_TR_Close()s
 * its TR of 0x81000000 also closes our cached one. Check before use (local,
 * no TPM command); ESAPI never reuses a closed number. */
static void revalidate_primary(struct tpm *t)
{
	TPM2B_NAME *name = NULL;
	if (t->primary == ESYS_TR_NONE)
		return;
	if (Esys_TR_GetName(t->esys, t->primary, &name) != TSS2_RC_SUCCESS)
		t->primary = ESYS_TR_NONE;
	Esys_Free(name);
}

/* The cached primary TR is the key pinned (if a pin is set). */
static int check_pin(struct tpm *t)
{
	TPM2B_NAME *name = NULL;
	int r = 0;

	if (t->pin.size == 0)
		return 0;
	if (Esys_TR_GetName(t->esys, t->primary, &name) != TSS2_RC_SUCCESS)
		return -EIO;
	if (name->size != t->pin.size || memcmp(name->name, t->pin.name, name->size) != 0) {
		_cleanup_free_ char *got = xmalloc(2 * name->size + 1);
		_cleanup_free_ char *want = xmalloc(2 * t->pin.size + 1);
		hex_encode(name->name, name->size, got);
		hex_encode(t->pin.name, t->pin.size, want);
		log_error("TPM: the primary key at 0x%08x is not the one recorded at ownership: "
			  "TPM swapped or reset? (Name %s, recorded %s)", TPM_PRIMARY_HANDLE, got,
			  want);
		r = TPM_E_PRIMARY_CHANGED;
	}
	Esys_Free(name);
	return r;
}

static int lookup_primary(struct tpm *t)
{
	revalidate_primary(t);
	if (t->primary == ESYS_TR_NONE) {
		int r = tpm_from_handle(t, TPM_PRIMARY_HANDLE, &t->primary);
		if (r < 0) {
			t->primary = ESYS_TR_NONE;
			return r;
		}
	}
	return 0;
}

int tpm_get_primary(struct tpm *t, ESYS_TR *ret)
{
	if (t->t12)
		return tpm12_unsupported("the primary key");
	int r = lookup_primary(t);
	if (r == TPM_E_NO_OBJECT) {
		if (t->pin.size)
			log_error("TPM: no primary key at 0x%08x (the one recorded at ownership is "
				  "gone: TPM swapped or reset?)", TPM_PRIMARY_HANDLE);
		else
			log_error("TPM: no primary key at 0x%08x: the TPM must be reset",
				  TPM_PRIMARY_HANDLE);
		return TPM_E_NO_PRIMARY;
	}
	if (r < 0)
		return r;
	r = check_pin(t);
	if (r < 0)
		return r;
	*ret = t->primary;
	return 0;
}

int tpm_pin_primary(struct tpm *t, const char *name_hex)
{
	size_t n;

	memset(&t->pin, 0, sizeof(t->pin));
	if (!name_hex || !*name_hex)
		return 0;
	/* nameAlg (2 bytes) + a digest of at least 20 bytes */
	if (hex_decode(name_hex, t->pin.name, sizeof(t->pin.name), &n) < 0 || n < 22) {
		memset(&t->pin, 0, sizeof(t->pin));
		return log_error_errno(-EINVAL, "TPM: malformed primary key Name '%s'", name_hex);
	}
	t->pin.size = (UINT16)n;
	return 0;
}

int tpm_primary_name(struct tpm *t, char **ret_hex)
{
	if (t->t12)
		return tpm12_unsupported("the primary key");
	TPM2B_NAME *name = NULL;
	ESYS_TR p;
	int r = tpm_get_primary(t, &p);
	if (r < 0)
		return r;
	if (Esys_TR_GetName(t->esys, p, &name) != TSS2_RC_SUCCESS)
		return -EIO;
	char *h = xmalloc(2 * name->size + 1);
	hex_encode(name->name, name->size, h);
	Esys_Free(name);
	*ret_hex = h;
	return 0;
}

int tpm_start_session(struct tpm *t, ESYS_TR salt_key, TPM2_SE type, TPMA_SESSION attrs,
		      ESYS_TR *ret)
{
	TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB};
	ESYS_TR s;
	TSS2_RC rc = Esys_StartAuthSession(t->esys, salt_key, ESYS_TR_NONE, ESYS_TR_NONE,
					   ESYS_TR_NONE, ESYS_TR_NONE, NULL, type, &sym,
					   TPM2_ALG_SHA256, &s);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_log_rc_error(rc, type == TPM2_SE_POLICY ? "StartAuthSession(policy)" :
								     "StartAuthSession(HMAC)");
	tpm_track(t, s);
	rc = Esys_TRSess_SetAttributes(t->esys, s, attrs, 0xff);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_log_rc_error(rc, "session attributes");
	*ret = s;
	return 0;
}

int tpm_create_load(struct tpm *t, const TPM2B_PUBLIC *pub, const struct secret *data,
		    const struct secret *auth, const char *what, ESYS_TR *ret_loaded)
{
	TPM2B_DATA outside = {0};
	TPML_PCR_SELECTION creation_pcr = {0};
	TPM2B_PRIVATE *out_priv = NULL;
	TPM2B_PUBLIC *out_pub = NULL;
	TPM2B_SENSITIVE_CREATE *sens;
	ESYS_TR primary, sess;
	char step[64];
	TSS2_RC rc;
	int r;

	if (data->len > sizeof(sens->sensitive.data.buffer))
		return -EINVAL;
	if ((r = tpm_get_primary(t, &primary)) < 0 || (r = tpm_hmac_session(t, &sess)) < 0)
		return r;
	_cleanup_secret_ struct secret *sbuf = secret_new(sizeof(*sens));
	if (!sbuf) {
		r = -errno;
		tpm_flush(t, sess);
		return r;
	}
	sens = (TPM2B_SENSITIVE_CREATE *)sbuf->data;
	memset(sens, 0, sizeof(*sens));
	tpm_auth_value(auth, &sens->sensitive.userAuth);
	sens->sensitive.data.size = (UINT16)data->len;
	memcpy(sens->sensitive.data.buffer, data->data, data->len);
	rc = Esys_Create(t->esys, primary, sess, ESYS_TR_NONE, ESYS_TR_NONE, sens, pub, &outside,
			 &creation_pcr, &out_priv, &out_pub, NULL, NULL, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		snprintf(step, sizeof(step), "Create (%s)", what);
	} else {
		rc = Esys_Load(t->esys, primary, sess, ESYS_TR_NONE, ESYS_TR_NONE, out_priv,
			       out_pub, ret_loaded);
		if (rc != TSS2_RC_SUCCESS)
			snprintf(step, sizeof(step), "Load (%s)", what);
	}
	Esys_Free(out_priv);
	Esys_Free(out_pub);
	tpm_flush(t, sess);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_log_rc_error(rc, step);
	tpm_track(t, *ret_loaded);
	return 0;
}

int tpm_hmac_session(struct tpm *t, ESYS_TR *ret)
{
	if (t->t12)
		return tpm12_unsupported("a TPM 2.0 session");
	ESYS_TR primary;
	int r = tpm_get_primary(t, &primary);
	if (r < 0)
		return r;
	return tpm_start_session(t, primary, TPM2_SE_HMAC,
				 TPMA_SESSION_DECRYPT | TPMA_SESSION_ENCRYPT |
					 TPMA_SESSION_CONTINUESESSION,
				 ret);
}

int tpm_owner_session(struct tpm *t, const struct secret *owner_auth, ESYS_TR *ret)
{
	if (t->t12)
		return tpm12_unsupported("a TPM 2.0 session");
	TPM2B_AUTH a;
	TSS2_RC rc;
	int r;

	tpm_auth_value(owner_auth, &a);
	rc = Esys_TR_SetAuth(t->esys, ESYS_TR_RH_OWNER, &a);
	explicit_bzero(&a, sizeof(a));
	if (rc != TSS2_RC_SUCCESS)
		return -EIO;
	/* Owner authorization is DA-protected: locked, say so and send nothing. */
	if ((r = tpm_lockout_check(t, NULL)) < 0)
		return r;
	r = lookup_primary(t);
	if (r == TPM_E_NO_OBJECT && !t->pin.size && (!owner_auth || owner_auth->len == 0)) {
		/* Nothing to hide: an empty owner auth. */
		*ret = ESYS_TR_PASSWORD;
		return 0;
	}
	if (r == TPM_E_NO_OBJECT) {
		log_error("TPM: no primary key at 0x%08x to encrypt the owner authorization "
			  "with: refusing to send it in clear (reset the TPM)", TPM_PRIMARY_HANDLE);
		return TPM_E_NO_PRIMARY;
	}
	if (r < 0)
		return r;
	return tpm_hmac_session(t, ret);
}

void tpm_owner_session_end(struct tpm *t, ESYS_TR s)
{
	if (s != ESYS_TR_PASSWORD && s != ESYS_TR_NONE)
		tpm_flush(t, s);
}
