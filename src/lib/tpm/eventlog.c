/* eventlog.c - TCG firmware event log parser and replay. See eventlog.h. */
#include "tpm/eventlog.h"
#include "tpm/tpm-internal.h"

#include "fs.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

#define ALG_SHA1 0x0004
#define ALG_SHA256 0x000b

struct rd {
	const uint8_t *p;
	size_t len, off;
};

static bool rd_u32(struct rd *r, uint32_t *v)
{
	if (r->len - r->off < 4)
		return false;
	const uint8_t *p = r->p + r->off;
	*v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
	r->off += 4;
	return true;
}

static bool rd_u16(struct rd *r, uint16_t *v)
{
	if (r->len - r->off < 2)
		return false;
	*v = (uint16_t)(r->p[r->off] | r->p[r->off + 1] << 8);
	r->off += 2;
	return true;
}

static bool rd_bytes(struct rd *r, size_t n, const uint8_t **ret)
{
	if (r->len - r->off < n)
		return false;
	*ret = r->p + r->off;
	r->off += n;
	return true;
}

struct alg {
	uint16_t id, size;
};

static const char spec_id_sig[16] = "Spec ID Event03";
static const char locality_sig[16] = "StartupLocality";

static struct tpm_event *add_event(struct tpm_eventlog *l)
{
	if (l->n >= TPM_EVENTLOG_MAX_EVENTS)
		return NULL;
	if (l->n >= 16 ? (l->n & (l->n - 1)) == 0 : l->n == 0) /* 16, 32, 64, ... */
		l->events = xrealloc(l->events, (l->n ? 2 * l->n : 16) * sizeof(*l->events));
	struct tpm_event *e = &l->events[l->n++];
	memset(e, 0, sizeof(*e));
	return e;
}

static void note_locality(struct tpm_eventlog *l, const struct tpm_event *e)
{
	if (e->type == TPM_EV_NO_ACTION && e->pcr == 0 && e->data_len == 17 &&
	    memcmp(e->data, locality_sig, 16) == 0) {
		l->has_locality = true;
		l->locality = e->data[16];
	}
}

/* Parse the SHA-1 format header event; returns false if malformed. */
static bool parse_sha1_event(struct rd *r, struct tpm_event *e)
{
	const uint8_t *d;
	e->offset = r->off;
	if (!rd_u32(r, &e->pcr) || !rd_u32(r, &e->type) || !rd_bytes(r, 20, &d) ||
	    !rd_u32(r, &e->data_len) || !rd_bytes(r, e->data_len, &e->data))
		return false;
	memcpy(e->sha1, d, 20);
	e->has_sha1 = true;
	return e->pcr < 32;
}

static int parse_spec_id(const struct tpm_event *e, struct alg *algs, size_t *n_algs)
{
	struct rd r = {.p = e->data, .len = e->data_len};
	const uint8_t *sig, *dummy;
	uint32_t n;
	uint8_t vendor;

	if (!rd_bytes(&r, 16, &sig) || memcmp(sig, spec_id_sig, 16) != 0)
		return 0; /* not crypto-agile */
	if (!rd_bytes(&r, 8, &dummy) || !rd_u32(&r, &n) || n == 0 || n > 8)
		return -EBADMSG;
	for (uint32_t i = 0; i < n; i++) {
		if (!rd_u16(&r, &algs[i].id) || !rd_u16(&r, &algs[i].size) || algs[i].size == 0 ||
		    algs[i].size > 64)
			return -EBADMSG;
		if ((algs[i].id == ALG_SHA1 && algs[i].size != 20) ||
		    (algs[i].id == ALG_SHA256 && algs[i].size != 32))
			return -EBADMSG;
	}
	if (!rd_bytes(&r, 1, &dummy))
		return -EBADMSG;
	vendor = dummy[0];
	if (!rd_bytes(&r, vendor, &dummy))
		return -EBADMSG;
	*n_algs = n;
	return 1;
}

int tpm_eventlog_parse(const void *buf, size_t len, struct tpm_eventlog **ret)
{
	struct tpm_eventlog *l;
	struct alg algs[8];
	size_t n_algs = 0;
	struct rd r;
	struct tpm_event *e;
	int k;

	if (len == 0 || len > TPM_EVENTLOG_MAX)
		return -EBADMSG;
	l = xcalloc(1, sizeof(*l));
	l->raw = xmalloc(len);
	memcpy(l->raw, buf, len);
	l->raw_len = len;
	r = (struct rd){.p = l->raw, .len = len};

	e = add_event(l);
	if (!parse_sha1_event(&r, e))
		goto bad;
	k = e->type == TPM_EV_NO_ACTION && e->pcr == 0 ? parse_spec_id(e, algs, &n_algs) : 0;
	if (k < 0)
		goto bad;
	l->crypto_agile = k == 1;
	if (!l->crypto_agile) {
		l->has_sha1_bank = true;
		note_locality(l, e);
		while (r.off < r.len) {
			e = add_event(l);
			if (!e || !parse_sha1_event(&r, e))
				goto bad;
			note_locality(l, e);
		}
		*ret = l;
		return 0;
	}
	l->n = 0; /* the Spec ID event is not a measurement: drop it */
	for (size_t i = 0; i < n_algs; i++) {
		l->has_sha1_bank |= algs[i].id == ALG_SHA1;
		l->has_sha256_bank |= algs[i].id == ALG_SHA256;
	}
	while (r.off < r.len) {
		uint32_t count;
		e = add_event(l);
		if (!e)
			goto bad;
		e->offset = r.off;
		if (!rd_u32(&r, &e->pcr) || !rd_u32(&r, &e->type) || !rd_u32(&r, &count) ||
		    e->pcr >= 32 || count > n_algs)
			goto bad;
		for (uint32_t i = 0; i < count; i++) {
			uint16_t id;
			const uint8_t *d;
			size_t a;
			if (!rd_u16(&r, &id))
				goto bad;
			for (a = 0; a < n_algs && algs[a].id != id; a++)
				;
			if (a == n_algs || !rd_bytes(&r, algs[a].size, &d))
				goto bad;
			if (id == ALG_SHA1) {
				memcpy(e->sha1, d, 20);
				e->has_sha1 = true;
			} else if (id == ALG_SHA256) {
				memcpy(e->sha256, d, 32);
				e->has_sha256 = true;
			}
		}
		if (!rd_u32(&r, &e->data_len) || !rd_bytes(&r, e->data_len, &e->data))
			goto bad;
		note_locality(l, e);
	}
	*ret = l;
	return 0;
bad:
	log_debug("TPM event log: malformed at byte %zu", r.off);
	tpm_eventlog_free(l);
	return -EBADMSG;
}

int tpm_eventlog_load(const char *path, struct tpm_eventlog **ret)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r;

	if (!path)
		path = TPM_EVENTLOG_DEFAULT;
	r = fs_read_file(path, TPM_EVENTLOG_MAX, &buf, &len);
	if (r < 0)
		return log_error_errno(r, "TPM event log %s", path);
	r = tpm_eventlog_parse(buf, len, ret);
	if (r < 0)
		log_error("TPM event log %s: malformed", path);
	return r;
}

void tpm_eventlog_free(struct tpm_eventlog *l)
{
	if (!l)
		return;
	free(l->events);
	free(l->raw);
	free(l);
}

static int replay(const struct tpm_eventlog *l, bool sha256, unsigned pcr, uint8_t *out)
{
	size_t dl = sha256 ? 32 : 20;
	const EVP_MD *md = sha256 ? EVP_sha256() : EVP_sha1();
	uint8_t state[32], buf[64];

	memset(state, pcr >= 17 && pcr <= 22 ? 0xff : 0, dl);
	if (pcr == 0 && l && l->has_locality)
		state[dl - 1] = l->locality;
	for (size_t i = 0; l && i < l->n; i++) {
		const struct tpm_event *e = &l->events[i];
		unsigned n = (unsigned)dl;
		if (e->pcr != pcr || e->type == TPM_EV_NO_ACTION)
			continue;
		if (sha256 ? !e->has_sha256 : !e->has_sha1)
			return -EBADMSG;
		memcpy(buf, state, dl);
		memcpy(buf + dl, sha256 ? e->sha256 : e->sha1, dl);
		if (!EVP_Digest(buf, 2 * dl, state, &n, md, NULL))
			return -EIO;
	}
	memcpy(out, state, dl);
	return 0;
}

int tpm_eventlog_replay(const struct tpm_eventlog *l, const char *bank, unsigned pcr,
			uint8_t *out, size_t *ret_len)
{
	bool sha256;
	int r;
	if (streq(bank, "sha256"))
		sha256 = true;
	else if (streq(bank, "sha1"))
		sha256 = false;
	else
		return -EINVAL;
	if (pcr >= TPM_PCR_COUNT)
		return -EINVAL;
	if (sha256 ? !l->has_sha256_bank : !l->has_sha1_bank)
		return -ENOENT;
	r = replay(l, sha256, pcr, out);
	if (r < 0)
		return r;
	*ret_len = sha256 ? 32 : 20;
	return 0;
}

int tpm_predict_pcr(const struct tpm_eventlog *log, unsigned pcr, const uint8_t (*extra)[32],
		    size_t n_extra, uint8_t ret[32])
{
	uint8_t state[32], buf[64];
	int r;

	if (pcr >= TPM_PCR_COUNT)
		return -EINVAL;
	if (log && !log->has_sha256_bank)
		return -ENOENT;
	r = replay(log, true, pcr, state);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n_extra; i++) {
		memcpy(buf, state, 32);
		memcpy(buf + 32, extra[i], 32);
		r = tpm_sha256(buf, 64, state);
		if (r < 0)
			return r;
	}
	memcpy(ret, state, 32);
	return 0;
}

int tpm_predict_pcr_sha1(const struct tpm_eventlog *log, unsigned pcr,
			 const uint8_t (*extra)[20], size_t n_extra, uint8_t ret[20])
{
	uint8_t state[32], buf[40];
	unsigned int n = 20;
	int r;

	if (pcr >= TPM_PCR_COUNT)
		return -EINVAL;
	r = replay(log, false, pcr, state);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n_extra; i++) {
		memcpy(buf, state, 20);
		memcpy(buf + 20, extra[i], 20);
		if (!EVP_Digest(buf, 40, state, &n, EVP_sha1(), NULL))
			return -EIO;
	}
	memcpy(ret, state, 20);
	return 0;
}

const char *tpm_event_type_name(uint32_t type)
{
	static const struct {
		uint32_t t;
		const char *n;
	} names[] = {
		{0x0, "EV_PREBOOT_CERT"}, {0x1, "EV_POST_CODE"}, {0x2, "EV_UNUSED"},
		{0x3, "EV_NO_ACTION"}, {0x4, "EV_SEPARATOR"}, {0x5, "EV_ACTION"},
		{0x6, "EV_EVENT_TAG"}, {0x7, "EV_S_CRTM_CONTENTS"}, {0x8, "EV_S_CRTM_VERSION"},
		{0x9, "EV_CPU_MICROCODE"}, {0xa, "EV_PLATFORM_CONFIG_FLAGS"},
		{0xb, "EV_TABLE_OF_DEVICES"}, {0xc, "EV_COMPACT_HASH"}, {0xd, "EV_IPL"},
		{0xe, "EV_IPL_PARTITION_DATA"}, {0xf, "EV_NONHOST_CODE"},
		{0x10, "EV_NONHOST_CONFIG"}, {0x11, "EV_NONHOST_INFO"}, {0x12, "EV_OMIT_BOOT_DEVICE_EVENTS"},
		{0x80000001, "EV_EFI_VARIABLE_DRIVER_CONFIG"}, {0x80000002, "EV_EFI_VARIABLE_BOOT"},
		{0x80000003, "EV_EFI_BOOT_SERVICES_APPLICATION"},
		{0x80000004, "EV_EFI_BOOT_SERVICES_DRIVER"},
		{0x80000005, "EV_EFI_RUNTIME_SERVICES_DRIVER"}, {0x80000006, "EV_EFI_GPT_EVENT"},
		{0x80000007, "EV_EFI_ACTION"}, {0x80000008, "EV_EFI_PLATFORM_FIRMWARE_BLOB"},
		{0x80000009, "EV_EFI_HANDOFF_TABLES"}, {0x8000000a, "EV_EFI_PLATFORM_FIRMWARE_BLOB2"},
		{0x8000000b, "EV_EFI_HANDOFF_TABLES2"}, {0x800000e0, "EV_EFI_VARIABLE_AUTHORITY"},
		{0x800000e1, "EV_EFI_SPDM_FIRMWARE_BLOB"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (names[i].t == type)
			return names[i].n;
	return NULL;
}
