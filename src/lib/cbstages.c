/* The firmware's PCR 2 stages: baseline record and differences (cbstages.h). */
#include "cbstages.h"

#include "coreboot.h"
#include "fs.h"
#include "log.h"
#include "tpm/eventlog.h"
#include "tpm/tpm.h"
#include "util.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/sha.h>

static bool printable_name(const uint8_t *d, size_t len, size_t *ret_len)
{
	size_t n = 0;
	while (n < len && d[n])
		n++;
	if (n == 0 || n >= CBSTAGES_NAME_MAX)
		return false;
	for (size_t i = n; i < len; i++) /* NUL padding only after the name */
		if (d[i])
			return false;
	for (size_t i = 0; i < n; i++)
		if (d[i] < 0x20 || d[i] >= 0x7f)
			return false;
	*ret_len = n;
	return true;
}

int cbstages_from_log(const struct tpm_eventlog *log, struct cbstages *ret)
{
	struct cbstages s = {0};
	uint32_t types[CBSTAGES_MAX];
	unsigned seq[CBSTAGES_MAX];

	if (!log->has_sha256_bank)
		return -ENOENT;
	for (size_t i = 0; i < log->n; i++) {
		const struct tpm_event *e = &log->events[i];
		struct cbstage *st;
		size_t len;
		if (e->pcr != CBSTAGES_PCR || e->type == TPM_EV_NO_ACTION)
			continue;
		if (!e->has_sha256)
			return -EBADMSG;
		if (s.n == CBSTAGES_MAX)
			return -E2BIG;
		st = &s.v[s.n];
		memcpy(st->sha256, e->sha256, 32);
		types[s.n] = e->type;
		seq[s.n] = 1;
		for (size_t k = 0; k < s.n; k++)
			if (types[k] == e->type)
				seq[s.n]++;
		if (printable_name(e->data, e->data_len, &len)) {
			memcpy(st->name, e->data, len);
			st->name[len] = '\0';
		} else {
			const char *tn = tpm_event_type_name(e->type);
			if (tn)
				snprintf(st->name, sizeof(st->name), "%s #%u", tn, seq[s.n]);
			else
				snprintf(st->name, sizeof(st->name), "event 0x%08x #%u", e->type,
					 seq[s.n]);
		}
		s.n++;
	}
	*ret = s;
	return 0;
}

int cbstages_load(const char *path, struct cbstages *ret)
{
	_cleanup_free_ char *buf = NULL;
	_cleanup_free_ uint8_t *mem = NULL;
	struct tpm_eventlog *log = NULL;
	const uint8_t *data;
	size_t len, used;
	int r;

	if (path) {
		r = fs_read_file(path, TPM_EVENTLOG_MAX, &buf, &len);
		if (r < 0)
			return r;
		data = (const uint8_t *)buf;
		/* coreboot's cbmem layout: only its used part is a TCG log */
		if (coreboot_tpm2_log_len(data, len, &used) == 0)
			len = used;
	} else {
		r = coreboot_read_tpm_log("/dev/mem", &mem, &len);
		if (r < 0)
			return r;
		data = mem;
	}
	r = tpm_eventlog_parse(data, len, &log);
	if (r < 0)
		return r;
	r = cbstages_from_log(log, ret);
	tpm_eventlog_free(log);
	return r;
}

void cbstages_replay(const struct cbstages *s, uint8_t ret[32])
{
	uint8_t v[64];
	memset(v, 0, 32);
	for (size_t i = 0; i < s->n; i++) {
		memcpy(v + 32, s->v[i].sha256, 32);
		SHA256(v, 64, v);
	}
	memcpy(ret, v, 32);
}

/* --- record ------------------------------------------------------------ */

size_t cbstages_encoded_size(const struct cbstages *s)
{
	size_t n = 5;
	for (size_t i = 0; i < s->n; i++)
		n += 1 + strlen(s->v[i].name) + 32;
	return n;
}

size_t cbstages_encode(const struct cbstages *s, uint8_t *buf)
{
	size_t o = 0;
	memcpy(buf, CBSTAGES_RECORD_MAGIC, 4);
	o = 4;
	buf[o++] = (uint8_t)s->n;
	for (size_t i = 0; i < s->n; i++) {
		size_t l = strlen(s->v[i].name);
		buf[o++] = (uint8_t)l;
		memcpy(buf + o, s->v[i].name, l);
		o += l;
		memcpy(buf + o, s->v[i].sha256, 32);
		o += 32;
	}
	return o;
}

int cbstages_decode(const uint8_t *buf, size_t len, struct cbstages *ret)
{
	struct cbstages s = {0};
	size_t o = 5;

	if (len < 5 || memcmp(buf, CBSTAGES_RECORD_MAGIC, 4) != 0 || buf[4] > CBSTAGES_MAX)
		return -EBADMSG;
	s.n = buf[4];
	for (size_t i = 0; i < s.n; i++) {
		size_t l;
		if (o >= len)
			return -EBADMSG;
		l = buf[o++];
		if (l == 0 || l >= CBSTAGES_NAME_MAX || len - o < l + 32)
			return -EBADMSG;
		for (size_t k = 0; k < l; k++)
			if (buf[o + k] < 0x20 || buf[o + k] >= 0x7f)
				return -EBADMSG;
		memcpy(s.v[i].name, buf + o, l);
		s.v[i].name[l] = '\0';
		o += l;
		memcpy(s.v[i].sha256, buf + o, 32);
		o += 32;
	}
	if (o != len)
		return -EBADMSG;
	*ret = s;
	return 0;
}

/* --- differences -------------------------------------------------------- */

/* Index in s of the k-th (0-based) stage named name, or -1. */
static long nth_named(const struct cbstages *s, const char *name, unsigned k)
{
	for (size_t i = 0; i < s->n; i++)
		if (streq(s->v[i].name, name) && k-- == 0)
			return (long)i;
	return -1;
}

static unsigned rank(const struct cbstages *s, size_t i)
{
	unsigned k = 0;
	for (size_t j = 0; j < i; j++)
		k += streq(s->v[j].name, s->v[i].name);
	return k;
}

char *cbstages_diff(const struct cbstages *base, const struct cbstages *now)
{
	char *out = NULL;
	bool same_set = base->n == now->n;

	for (size_t i = 0; i < base->n; i++) {
		long j = nth_named(now, base->v[i].name, rank(base, i));
		if (j < 0) {
			str_appendf(&out, "%s%s: removed", out ? "; " : "", base->v[i].name);
			same_set = false;
		} else if (memcmp(base->v[i].sha256, now->v[j].sha256, 32) != 0) {
			str_appendf(&out, "%s%s: changed", out ? "; " : "", base->v[i].name);
			same_set = false;
		}
	}
	for (size_t j = 0; j < now->n; j++)
		if (nth_named(base, now->v[j].name, rank(now, j)) < 0) {
			str_appendf(&out, "%s%s: added", out ? "; " : "", now->v[j].name);
			same_set = false;
		}
	if (out)
		return out;
	if (same_set)
		for (size_t i = 0; i < base->n; i++)
			if (!streq(base->v[i].name, now->v[i].name))
				return xstrdup("the stages are the same, in another order");
	return NULL;
}

/* --- TPM ---------------------------------------------------------------- */

int cbstages_record_wipe(struct tpm *t, const struct secret *owner_auth)
{
	return tpm_nv_undefine(t, CBSTAGES_RECORD_INDEX, owner_auth);
}

int cbstages_record_seal(struct tpm *t, const uint8_t sealed_pcr2[32],
			 const struct secret *owner_auth)
{
	struct cbstages s;
	uint8_t v[32], buf[5 + CBSTAGES_MAX * (CBSTAGES_NAME_MAX + 32)];
	const char *src = tpm_coreboot_log(t);
	int r = cbstages_load(src, &s);

	if (r == 0) {
		cbstages_replay(&s, v);
		if (memcmp(v, sealed_pcr2, 32) != 0) {
			log_debug("PCR 2 stages (%s) do not replay to the sealed PCR 2: no "
				  "baseline", src ? src : "cbmem");
			r = -ESTALE;
		} else if (s.n == 0) {
			r = -ENOENT;
		}
	} else {
		log_debug("PCR 2 stages: no firmware log (%s: %s): no baseline",
			  src ? src : "cbmem", strerror(-r));
	}
	if (r < 0) {
		/* a record of the previous seal must not outlive it */
		r = cbstages_record_wipe(t, owner_auth);
		return r < 0 && r != TPM_E_NO_OBJECT ? r : 0;
	}
	r = tpm_record_write(t, CBSTAGES_RECORD_INDEX, buf, cbstages_encode(&s, buf),
			     owner_auth);
	return r < 0 ? r : 1;
}

int cbstages_record_read(struct tpm *t, const uint8_t sealed_pcr2[32], struct cbstages *ret)
{
	_cleanup_free_ uint8_t *data = NULL;
	struct cbstages s;
	uint8_t v[32];
	size_t len;
	int r = tpm_record_read(t, CBSTAGES_RECORD_INDEX, &data, &len);
	if (r < 0)
		return r;
	if ((r = cbstages_decode(data, len, &s)) < 0)
		return r;
	cbstages_replay(&s, v);
	if (memcmp(v, sealed_pcr2, 32) != 0)
		return -ESTALE;
	*ret = s;
	return 0;
}

char *cbstages_explain(struct tpm *t, const uint8_t sealed_pcr2[32],
		       const uint8_t live_pcr2[32])
{
	struct cbstages base, now;
	uint8_t v[32];
	const char *src = tpm_coreboot_log(t);
	int r = cbstages_record_read(t, sealed_pcr2, &base);

	if (r == TPM_E_NO_OBJECT)
		return xstrdup("no record of the firmware stages measured at sealing");
	if (r == -ESTALE)
		return xstrdup("the record of the firmware stages is not the one of the sealed "
			       "PCR 2, ignored");
	if (r < 0)
		return xasprintf("the record of the firmware stages (NV 0x%08x) cannot be read: "
				 "%s", CBSTAGES_RECORD_INDEX, strerror(-r));
	r = cbstages_load(src, &now);
	if (r < 0)
		return xasprintf("the firmware's log of this boot (%s) cannot be read: %s",
				 src ? src : "coreboot cbmem", strerror(-r));
	cbstages_replay(&now, v);
	_cleanup_free_ char *d = cbstages_diff(&base, &now);
	if (memcmp(v, live_pcr2, 32) != 0)
		return xasprintf("firmware stages changed since sealing: %s (the log of this boot "
				 "does not account for all of PCR 2: something else extended it)",
				 d ? d : "none in the log");
	if (!d)
		return xstrdup("the firmware stages equal those at sealing, yet PCR 2 differs");
	return xasprintf("firmware stages changed since sealing: %s", d);
}
