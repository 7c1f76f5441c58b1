/* flash_predict.c - the next boot's PCR 2 and PCR 7 from an image about to
 * be flashed (see flash.h). */
#include "cbfs.h"
#include "coreboot.h"
#include "cpio.h"
#include "decompress.h"
#include "flash.h"
#include "romcfg.h"
#include "util.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The .config options that decide what coreboot measures, into which bank
 * and PCR: compared between the chip's image and the new one. */
static const char *const scheme_options[] = {
	"CONFIG_TPM1", "CONFIG_TPM2", "CONFIG_TPM_MEASURED_BOOT",
	"CONFIG_TPM_MEASURED_BOOT_INIT_BOOTBLOCK", "CONFIG_TPM_MEASURED_BOOT_RUNTIME_DATA",
	"CONFIG_TPM_HASH_SHA1", "CONFIG_TPM_HASH_SHA256", "CONFIG_TPM_HASH_SHA384",
	"CONFIG_TPM_HASH_SHA512", "CONFIG_VBOOT", "CONFIG_CBFS_VERIFICATION",
};

#define SCHEME_CONFIG_MAX (1024u * 1024)
#define SCHEME_VERSION_MAX 64

/* "COREBOOT_VERSION: V" of build_info (KEY: value lines) into ver. */
static int build_info_version(const uint8_t *b, size_t len, char ver[SCHEME_VERSION_MAX + 1])
{
	static const char key[] = "COREBOOT_VERSION: ";
	size_t i = 0;
	while (i < len) {
		size_t e = i;
		while (e < len && b[e] != '\n')
			e++;
		if (e - i > sizeof(key) - 1 && memcmp(b + i, key, sizeof(key) - 1) == 0) {
			size_t s = i + sizeof(key) - 1, n = e - s;
			if (n == 0 || n > SCHEME_VERSION_MAX)
				return -EBADMSG;
			for (size_t k = s; k < e; k++)
				if (b[k] < 0x21 || b[k] > 0x7e)
					return -EBADMSG;
			memcpy(ver, b + s, n);
			ver[n] = '\0';
			return 0;
		}
		i = e + 1;
	}
	return -ENOENT;
}

/* The value of key in a Kconfig .config (flash.h). */
int flash_kconfig_get(const char *buf, size_t len, const char *key, char *out, size_t outlen)
{
	size_t klen = strlen(key), i = 0;

	while (i < len) {
		size_t e = i;
		while (e < len && buf[e] != '\n')
			e++;
		if (e - i > klen && memcmp(buf + i, key, klen) == 0 && buf[i + klen] == '=') {
			size_t p = i + klen + 1, n = 0;
			if (p < e && buf[p] == '"') {
				for (p++; p < e && buf[p] != '"'; p++) {
					if (buf[p] == '\\' && ++p == e)
						return -EBADMSG;
					if (n + 1 >= outlen)
						return -E2BIG;
					out[n++] = buf[p];
				}
				if (p >= e || p + 1 != e)
					return -EBADMSG; /* no closing quote, or text after it */
			} else {
				for (; p < e; p++) {
					if (buf[p] <= ' ' || buf[p] == '"' || buf[p] == 0x7f)
						return -EBADMSG;
					if (n + 1 >= outlen)
						return -E2BIG;
					out[n++] = buf[p];
				}
			}
			out[n] = '\0';
			return 1;
		}
		i = e + 1;
	}
	return 0;
}

int flash_scheme_from_record(const uint8_t *build_info, size_t blen, const char *config,
			     size_t clen, struct flash_pcrs *ret)
{
	char ver[SCHEME_VERSION_MAX + 1], v[128];
	bool measured = false, sha256 = false, other = false;
	size_t used;
	int r;

	ret->scheme[0] = ret->why[0] = '\0';
	if (clen > SCHEME_CONFIG_MAX || (r = build_info_version(build_info, blen, ver)) < 0) {
		snprintf(ret->why, sizeof(ret->why), "the image's coreboot build record has no "
			 "readable COREBOOT_VERSION (CBFS build_info) or an oversized config");
		return clen > SCHEME_CONFIG_MAX ? -EFBIG : r;
	}
	used = (size_t)snprintf(ret->scheme, sizeof(ret->scheme), "coreboot %s", ver);
	for (size_t i = 0; i < sizeof(scheme_options) / sizeof(*scheme_options); i++) {
		const char *key = scheme_options[i];
		r = flash_kconfig_get(config, clen, key, v, sizeof(v));
		if (r < 0) {
			ret->scheme[0] = '\0';
			snprintf(ret->why, sizeof(ret->why), "the image's coreboot .config (CBFS "
				 "config) has a malformed %s line", key);
			return r;
		}
		if (r == 0 || !*v || streq(v, "n"))
			continue;
		int n = snprintf(ret->scheme + used, sizeof(ret->scheme) - used, " %s=%s", key, v);
		if (n < 0 || (size_t)n >= sizeof(ret->scheme) - used) {
			ret->scheme[0] = '\0';
			snprintf(ret->why, sizeof(ret->why), "the image's measurement options are "
				 "too long to compare");
			return -E2BIG;
		}
		used += (size_t)n;
		if (streq(key, "CONFIG_TPM_MEASURED_BOOT"))
			measured = streq(v, "y");
		else if (streq(key, "CONFIG_TPM_HASH_SHA256"))
			sha256 = streq(v, "y");
		else if (streq(key, "CONFIG_VBOOT") ||
			 streq(key, "CONFIG_TPM_MEASURED_BOOT_INIT_BOOTBLOCK") ||
			 streq(key, "CONFIG_TPM_MEASURED_BOOT_RUNTIME_DATA"))
			other = true;
	}
	if (!measured)
		snprintf(ret->why, sizeof(ret->why), "the image's coreboot does not measure (no "
			 "CONFIG_TPM_MEASURED_BOOT)");
	else if (!sha256)
		snprintf(ret->why, sizeof(ret->why), "the image's coreboot measures into another "
			 "PCR bank than SHA-256 (no CONFIG_TPM_HASH_SHA256)");
	else if (other)
		snprintf(ret->why, sizeof(ret->why), "the image's coreboot measures in a way this "
			 "prediction does not model (vboot, bootblock TPM init or runtime data)");
	return measured && sha256 && !other ? 0 : -ENOTSUP;
}

/* The image's measurement scheme (flash.h) into ret->scheme; 0 when it is
 * the one the PCR 2 model knows, else -errno with ret->why set. */
static int read_scheme(const struct cbfs *c, struct flash_pcrs *ret)
{
	const struct cbfs_file *bi = cbfs_find(c, "build_info"), *cf = cbfs_find(c, "config");
	_cleanup_free_ uint8_t *bbuf = NULL, *cbuf = NULL;
	size_t blen = 0, clen = 0;
	int r;

	if (!bi || !cf) {
		snprintf(ret->why, sizeof(ret->why), "the image carries no coreboot build record "
			 "(CBFS %s missing): its measurements are unknown",
			 !bi ? "build_info" : "config");
		return -ENOENT;
	}
	if ((r = cbfs_read(c, bi, &bbuf, &blen)) < 0 || (r = cbfs_read(c, cf, &cbuf, &clen)) < 0) {
		snprintf(ret->why, sizeof(ret->why), "the image's coreboot build record (CBFS "
			 "build_info, config) cannot be read (%s)", strerror(-r));
		return r;
	}
	return flash_scheme_from_record(bbuf, blen, (const char *)cbuf, clen, ret);
}

/* --- a file of the payload's initramfs ---------------------------------- */

#define SELF_SEG_LEN 28u
#define SELF_SEGS_MAX 64u
#define SELF_TYPE_DATA 0x44415441u  /* "DATA" */
#define SELF_TYPE_ENTRY 0x454e5452u /* "ENTR" */
#define SELF_INITRD_MAX (128u << 20)

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

struct grow {
	uint8_t *b;
	size_t n;
};

static int grow_sink(const uint8_t *chunk, size_t len, void *u)
{
	struct grow *g = u;
	g->b = xrealloc(g->b, g->n + len + 1);
	memcpy(g->b + g->n, chunk, len);
	g->n += len;
	return 0;
}

struct find_file {
	const char *path;
	char *data;
	size_t len;
};

static int find_visit(const struct cpio_entry *e, void *u)
{
	struct find_file *ff = u;
	if (!streq(e->name, ff->path) || !S_ISREG(e->mode))
		return 0;
	ff->data = xmalloc(e->size + 1);
	memcpy(ff->data, e->data, e->size);
	ff->data[e->size] = '\0';
	ff->len = e->size;
	return 1;
}

/* Only a segment that starts as a newc cpio is walked (the kernel's zero
 * page and command line are DATA segments too). */
static bool is_cpio(const uint8_t *p, size_t n)
{
	return n >= 6 && (memcmp(p, "070701", 6) == 0 || memcmp(p, "070702", 6) == 0);
}

int flash_self_file(const uint8_t *self, size_t len, const char *path, char **ret,
		    size_t *ret_len)
{
	for (size_t i = 0; i < SELF_SEGS_MAX; i++) {
		const uint8_t *h = self + i * SELF_SEG_LEN;
		struct find_file ff = {.path = path};
		struct grow g = {0};
		uint32_t type, comp, off, n;
		int r;

		if ((i + 1) * SELF_SEG_LEN > len)
			return -EBADMSG;
		type = be32(h);
		comp = be32(h + 4);
		off = be32(h + 8);
		n = be32(h + 20);
		if (type == SELF_TYPE_ENTRY)
			return 0;
		if (type != SELF_TYPE_DATA || comp != 0)
			continue;
		if (off > len || n > len - off)
			return -EBADMSG;
		enum decompress_format f = decompress_detect(self + off, n);
		if (f == DECOMPRESS_NONE) {
			r = is_cpio(self + off, n) ? cpio_walk(self + off, n, find_visit, &ff) : 0;
		} else {
			r = decompress_stream(self + off, n, f, SELF_INITRD_MAX, "payload segment",
					      grow_sink, &g);
			if (r == 0 && is_cpio(g.b, g.n))
				r = cpio_walk(g.b, g.n, find_visit, &ff);
			free(g.b);
		}
		if (r >= 0 && ff.data) {
			*ret = ff.data;
			*ret_len = ff.len;
			return 1;
		}
		free(ff.data);
		/* not a cpio, or no such file in it: the next segment */
	}
	return -E2BIG;
}

/* The stored SELF of fallback/payload, or NULL. */
static const uint8_t *payload_self(const struct cbfs *c, size_t *ret_len)
{
	const struct cbfs_file *f = cbfs_find(c, "fallback/payload");
	if (!f || f->type != CBFS_TYPE_SELF)
		return NULL;
	*ret_len = f->len;
	return cbfs_data(c, f);
}

int flash_payload_same_file(const uint8_t *a, const uint8_t *b, size_t len, const char *path)
{
	struct cbfs ca, cb;
	const uint8_t *sa, *sb;
	size_t la = 0, lb = 0;
	_cleanup_free_ char *fa = NULL, *fb = NULL;
	size_t na = 0, nb = 0;
	int r, ra, rb;

	if (cbfs_parse(a, len, NULL, &ca) < 0)
		return -ENODATA;
	if (cbfs_parse(b, len, NULL, &cb) < 0) {
		cbfs_free(&ca);
		return -ENODATA;
	}
	sa = payload_self(&ca, &la);
	sb = payload_self(&cb, &lb);
	if (!sa || !sb) {
		r = -ENODATA;
	} else if (la == lb && memcmp(sa, sb, la) == 0) {
		r = 1; /* the same payload: the same file */
	} else {
		ra = flash_self_file(sa, la, path, &fa, &na);
		rb = flash_self_file(sb, lb, path, &fb, &nb);
		if (ra != 1 || rb != 1)
			r = -ENODATA;
		else
			r = na == nb && memcmp(fa, fb, na) == 0;
	}
	cbfs_free(&ca);
	cbfs_free(&cb);
	return r;
}

int flash_predict_pcrs(const uint8_t *img, size_t len, const uint8_t *pcr7_base,
		       const char *board, const char *user, struct flash_pcrs *ret)
{
	struct flash_pcrs out = {0};
	struct cbfs c;

	if (cbfs_parse(img, len, NULL, &c) == 0) {
		if (read_scheme(&c, &out) == 0) {
			out.pcr2_ok = coreboot_predict_pcr2(&c, out.pcr2) == 0;
			if (!out.pcr2_ok)
				snprintf(out.why, sizeof(out.why), "no flash map with an FMAP region, "
					 "or no bootblock");
		}
		cbfs_free(&c);
	} else {
		snprintf(out.why, sizeof(out.why), "not a coreboot image (no CBFS)");
	}
	if (pcr7_base && romcfg_is_cbfs(img, len)) {
		struct romcfg rc = {.slot = -1};
		struct romcfg_event *ev = NULL;
		size_t n = 0;
		if (romcfg_parse_cbfs(img, len, &rc) == 0 &&
		    romcfg_events(&rc, board, user, "sha256", &ev, &n) == 0)
			out.pcr7_ok = romcfg_fold("sha256", pcr7_base, ev, n, out.pcr7) == 0;
		romcfg_events_free(ev, n);
		romcfg_free(&rc);
	}
	*ret = out;
	return out.pcr2_ok || out.pcr7_ok ? 0 : -ENODATA;
}
