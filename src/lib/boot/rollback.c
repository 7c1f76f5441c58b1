/* rollback.c - kexec_rollback.txt and the TPM counter. */
#include "boot/rollback.h"
#include "hash.h"
#include "boot/manifest.h"
#include "codec.h"
#include "log.h"
#include "tpm/tpm.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>


const char *rollback_state_name(enum rollback_state s)
{
	switch (s) {
	case ROLLBACK_NOT_USED: return "NOT USED";
	case ROLLBACK_DISABLED: return "DISABLED";
	case ROLLBACK_OK: return "OK";
	case ROLLBACK_BEHIND: return "BEHIND";
	case ROLLBACK_MISMATCH: return "MISMATCH";
	case ROLLBACK_MALFORMED: return "MALFORMED";
	case ROLLBACK_NO_TPM: return "NO TPM";
	case ROLLBACK_TPM_ERROR: return "TPM ERROR";
	case ROLLBACK_BAD_POLICY: return "BAD POLICY";
	case ROLLBACK_LOCKOUT: return "LOCKOUT";
	}
	return "?";
}

static void set_detail(struct rollback_result *res, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void set_detail(struct rollback_result *res, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(res->detail, sizeof(res->detail), fmt, ap);
	va_end(ap);
}

/* The counter cannot be used while the TPM is in dictionary-attack lockout:
 * the state, and a detail "<lead> <id>[ <tail>]: ... next try in N s". */
static void set_lockout(struct tpm *t, struct rollback_result *res, const char *lead,
			uint32_t id, const char *tail)
{
	uint32_t secs = 0;
	tpm_lockout_status(t, NULL, NULL, NULL, &secs);
	res->state = ROLLBACK_LOCKOUT;
	set_detail(res, "%s %" PRIx32 "%s%s: the TPM is in dictionary-attack lockout: next try "
		   "in %" PRIu32 " s", lead, id, *tail ? " " : "", tail, secs);
}

void rollback_state_text(uint32_t id, uint64_t value, char *out)
{
	snprintf(out, ROLLBACK_STATE_MAX, "%" PRIx32 ": %016" PRIx64 "\n", id, value);
}

static void state_hash(uint32_t id, uint64_t value, uint8_t out[32])
{
	char txt[ROLLBACK_STATE_MAX];
	rollback_state_text(id, value, txt);
	if (hash_sha256(txt, strlen(txt), out) < 0)
		abort(); /* SHA-256 of a few bytes cannot fail short of OOM */
}

char *rollback_format(uint32_t id, uint64_t value, size_t *ret_len)
{
	uint8_t d[32];
	char hex[65];
	char *s;

	state_hash(id, value, d);
	hex_encode(d, 32, hex);
	s = xasprintf("%s  /tmp/counter-%" PRIx32 "\n", hex, id);
	if (ret_len)
		*ret_len = strlen(s);
	return s;
}

int rollback_parse(const char *buf, size_t len, uint32_t *ret_id, uint8_t ret_hash[32])
{
	struct manifest m = {0};
	const char *p, *h;
	unsigned long long id = 0;
	int r;

	if (len > ROLLBACK_MAX_FILE)
		return -EFBIG;
	r = manifest_parse_hashes(buf, len, &m, NULL);
	if (r < 0)
		return r;
	if (m.n != 1) {
		manifest_free(&m);
		return -EINVAL;
	}
	p = strstr(m.e[0].path, "counter-");
	/* The last "counter-" occurrence names the counter. */
	while (p && strstr(p + 1, "counter-"))
		p = strstr(p + 1, "counter-");
	r = -EINVAL;
	if (p) {
		h = p + strlen("counter-");
		size_t n = strspn(h, "0123456789abcdefABCDEF");
		if (n >= 1 && n <= 8 && h[n] == '\0') {
			for (size_t i = 0; i < n; i++) {
				char c = h[i];
				id = id * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
			}
			r = 0;
		}
	}
	if (r == 0) {
		*ret_id = (uint32_t)id;
		memcpy(ret_hash, m.e[0].sha256, 32);
	}
	manifest_free(&m);
	return r;
}

void rollback_check_value(uint32_t id, const uint8_t hash[32], uint64_t tpm_value,
			  struct rollback_result *res)
{
	uint8_t d[32];

	res->id = id;
	res->tpm_value = tpm_value;
	state_hash(id, tpm_value, d);
	if (memcmp(d, hash, 32) == 0) {
		res->state = ROLLBACK_OK;
		set_detail(res, "counter %" PRIx32 " at %" PRIu64, id, tpm_value);
		return;
	}
	for (uint64_t k = 1; k <= ROLLBACK_SEARCH && k <= tpm_value; k++) {
		state_hash(id, tpm_value - k, d);
		if (memcmp(d, hash, 32) == 0) {
			res->state = ROLLBACK_BEHIND;
			res->behind_by = k;
			set_detail(res, "/boot was signed at counter value %" PRIu64
				   ", the TPM counter %" PRIx32 " is at %" PRIu64
				   " (an older signed /boot was restored)",
				   tpm_value - k, id, tpm_value);
			return;
		}
	}
	res->state = ROLLBACK_MISMATCH;
	set_detail(res, "kexec_rollback.txt matches no recent value of TPM counter %" PRIx32
		   " (now %" PRIu64 ")", id, tpm_value);
}

int rollback_verify(struct tpm *t, const char *buf, size_t len, struct rollback_result *res)
{
	uint8_t hash[32];
	uint32_t id;
	uint64_t v;
	int r;

	memset(res, 0, sizeof(*res));
	if (rollback_parse(buf, len, &id, hash) < 0) {
		res->state = ROLLBACK_MALFORMED;
		set_detail(res, "%s is malformed", ROLLBACK_FILE);
		return 0;
	}
	res->id = id;
	/* Reference preflight: the index must be an NV counter that the index
	 * auth (authwrite) can advance; ownerwrite alone, nothing, or another
	 * index type means the counter was replaced or redefined. A TPM 1.2
	 * counter (TPM_CreateCounter) is no NV index: only ReadCounter can
	 * tell, and it fails for anything that is not a counter. */
	if (tpm_version(t) == 20) {
		uint32_t attrs = 0;
		size_t size = 0;
		r = tpm_nv_info(t, id, &attrs, &size);
		if (r < 0) {
			res->state = ROLLBACK_TPM_ERROR;
			set_detail(res, "TPM integrity counter %" PRIx32 " cannot be read (%s): "
				   "possible TPM swap attack; reset the TPM", id, strerror(-r));
			return 0;
		}
		if (((attrs & TPMA_NV_TPM2_NT_MASK) >> TPMA_NV_TPM2_NT_SHIFT) != TPM2_NT_COUNTER ||
		    size != 8 || !(attrs & TPMA_NV_AUTHWRITE)) {
			res->state = ROLLBACK_BAD_POLICY;
			set_detail(res, "TPM counter %" PRIx32 " has an invalid security policy "
				   "(attributes 0x%08" PRIx32 "%s); reset the TPM", id, attrs,
				   attrs & TPMA_NV_OWNERWRITE ? ", owner-writable only" :
				   !(attrs & TPMA_NV_AUTHWRITE) ? ", not writable" : "");
			return 0;
		}
	}
	r = tpm_counter_read(t, id, &v);
	if (r == TPM_E_LOCKOUT) {
		set_lockout(t, res, "TPM counter", id, "cannot be read");
		return 0;
	}
	if (r < 0) {
		res->state = ROLLBACK_TPM_ERROR;
		set_detail(res, "TPM integrity counter %" PRIx32 " cannot be read (%s): "
			   "possible TPM swap attack; reset the TPM", id, strerror(-r));
		return 0;
	}
	rollback_check_value(id, hash, v, res);
	return 0;
}

/* One increment (index auth first, then the owner's), its failure in res. */
static int increment(struct tpm *t, uint32_t id, const struct secret *owner_auth, uint64_t *ret,
		     struct rollback_result *res)
{
	int r = tpm_counter_increment(t, id, NULL, ret);
	if (r == TPM_E_AUTH_FAIL && owner_auth)
		r = tpm_counter_increment(t, id, owner_auth, ret);
	if (r == TPM_E_LOCKOUT) {
		set_lockout(t, res, "cannot increment TPM counter", id, "");
		return log_error_errno(r, "cannot increment TPM rollback counter %" PRIx32, id);
	}
	if (r < 0) {
		res->state = ROLLBACK_TPM_ERROR;
		set_detail(res, "cannot increment TPM counter %" PRIx32 ": %s", id, strerror(-r));
		return log_error_errno(r, "cannot increment TPM rollback counter %" PRIx32, id);
	}
	return 0;
}

int rollback_prepare(struct tpm *t, const char *existing, size_t existing_len,
		     const struct secret *owner_auth, uint32_t *ret_id, uint64_t *ret_next,
		     char **ret, size_t *ret_len, struct rollback_result *res)
{
	uint8_t hash[32];
	uint32_t id;
	uint64_t v;
	int r;

	memset(res, 0, sizeof(*res));
	if (existing) {
		if (rollback_parse(existing, existing_len, &id, hash) < 0) {
			res->state = ROLLBACK_MALFORMED;
			set_detail(res, "%s is malformed", ROLLBACK_FILE);
			return log_error_errno(-EINVAL, "%s is malformed", ROLLBACK_FILE);
		}
		res->id = id;
		r = tpm_counter_read(t, id, &v);
		if (r == TPM_E_LOCKOUT) {
			set_lockout(t, res, "TPM counter", id, "cannot be read");
			return log_error_errno(r, "cannot read TPM rollback counter %" PRIx32, id);
		}
		if (r < 0) {
			res->state = ROLLBACK_TPM_ERROR;
			set_detail(res, "cannot read TPM counter %" PRIx32 ": %s", id, strerror(-r));
			return log_error_errno(r, "cannot read TPM rollback counter %" PRIx32, id);
		}
	} else {
		r = tpm_counter_create(t, owner_auth, &id);
		if (r < 0) {
			res->state = ROLLBACK_TPM_ERROR;
			set_detail(res, "cannot create the TPM rollback counter: %s", strerror(-r));
			return log_error_errno(r, "cannot create the TPM rollback counter");
		}
		log_info("created TPM rollback counter %" PRIx32, id);
		res->id = id;
		/* a new TPM 2.0 NV counter has no value until its first
		 * increment: given one now, while no /boot names it */
		if ((r = increment(t, id, owner_auth, &v, res)) < 0)
			return r;
	}
	if (v == UINT64_MAX) {
		res->state = ROLLBACK_TPM_ERROR;
		set_detail(res, "TPM counter %" PRIx32 " is at its end", id);
		return log_error_errno(-EOVERFLOW, "TPM rollback counter %" PRIx32 " is at its end",
				       id);
	}
	*ret_id = id;
	*ret_next = v + 1;
	res->state = ROLLBACK_OK;
	res->tpm_value = v + 1;
	set_detail(res, "counter %" PRIx32 " at %" PRIu64, id, v + 1);
	*ret = rollback_format(id, v + 1, ret_len);
	return 0;
}

int rollback_commit(struct tpm *t, uint32_t id, uint64_t next, const struct secret *owner_auth,
		    struct rollback_result *res)
{
	uint64_t v;
	int r = increment(t, id, owner_auth, &v, res);
	if (r < 0)
		return r;
	if (v != next) {
		res->state = ROLLBACK_TPM_ERROR;
		set_detail(res, "TPM counter %" PRIx32 " went to %" PRIu64 ", not %" PRIu64
			   " (advanced by something else): /boot not written", id, v, next);
		return log_error_errno(-ESTALE, "%s", res->detail);
	}
	return 0;
}
