/* luks/headers.c - the UUID-ordered header listing (PCR 6) and the
 * key-devices file parser (see luks.h). */
#include "luks/luks.h"
#include "luks/luks-internal.h"
#include "codec.h"
#include "log.h"
#include "util.h"

#include <blkid/blkid.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <libcryptsetup.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/sysmacros.h>
#include <time.h>

static int cmp_uuid(const void *a, const void *b)
{
	const struct luks_device *x = *(const struct luks_device *const *)a;
	const struct luks_device *y = *(const struct luks_device *const *)b;
	int c = strcmp(x->uuid ? x->uuid : "", y->uuid ? y->uuid : "");
	return c ? c : strcmp(x->path, y->path);
}

static int sha256_file(const char *path, char out[65])
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	unsigned char md[32];
	unsigned int mdlen = 0;
	_cleanup_free_ uint8_t *buf = xmalloc(1 << 16);
	EVP_MD_CTX *ctx;
	long n;
	int r = 0;

	if (fd < 0)
		return -errno;
	ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		return -ENOMEM;
	}
	while ((n = read_full(fd, buf, 1 << 16)) > 0)
		if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1) {
			r = -EIO;
			break;
		}
	if (n < 0)
		r = (int)n;
	if (r == 0 && EVP_DigestFinal_ex(ctx, md, &mdlen) != 1)
		r = -EIO;
	EVP_MD_CTX_free(ctx);
	if (r == 0)
		hex_encode(md, 32, out);
	return r;
}

int luks_header_listing(const struct luks_device *v, size_t n, const char *dir, char **ret,
			size_t *ret_len)
{
	_cleanup_free_ const struct luks_device **order = NULL;
	char *out = NULL;
	size_t len = 0;
	int r = 0;

	if (n > LUKS_MAX_DEVICES)
		return -E2BIG;
	order = xcalloc(n ? n : 1, sizeof(*order));
	for (size_t i = 0; i < n; i++)
		order[i] = &v[i];
	qsort(order, n, sizeof(*order), cmp_uuid);
	out = xstrdup("");
	for (size_t i = 0; i < n; i++) {
		_cleanup_crypt_ struct crypt_device *cd = NULL;
		_cleanup_free_ char *mangled = xstrdup(order[i]->path), *file = NULL;
		char hex[65];
		for (char *c = mangled; *c; c++)
			if (*c == '/')
				*c = '_';
		file = xasprintf("%s/lukshdr-%s", dir, mangled);
		(void)unlink(file); /* crypt_header_backup refuses an existing file */
		r = luks_open(order[i]->path, &cd);
		if (r < 0)
			break;
		r = crypt_header_backup(cd, NULL, file);
		if (r < 0) {
			log_error_errno(r, "%s: header backup to %s failed", order[i]->path, file);
			(void)unlink(file);
			break;
		}
		r = sha256_file(file, hex);
		(void)unlink(file);
		if (r < 0) {
			log_error_errno(r, "%s: cannot hash the header backup", order[i]->path);
			break;
		}
		char *line = xasprintf("%s  %s\n", hex, file);
		out = xrealloc(out, len + strlen(line) + 1);
		memcpy(out + len, line, strlen(line) + 1);
		len += strlen(line);
		free(line);
	}
	if (r < 0) {
		free(out);
		return r;
	}
	*ret = out;
	*ret_len = len;
	return 0;
}

void luks_key_devices_free(struct luks_key_device *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].path);
		free(v[i].uuid);
	}
	free(v);
}

#define KEY_DEVICES_LINE_MAX 4096

int luks_parse_key_devices(const char *text, size_t len, struct luks_key_device **ret,
			   size_t *ret_n, char **ret_err)
{
	struct luks_key_device *v = NULL;
	size_t n = 0, lineno = 0, pos = 0;

	while (pos < len) {
		size_t end = pos, s, e;
		while (end < len && text[end] != '\n')
			end++;
		lineno++;
		if (end - pos > KEY_DEVICES_LINE_MAX) {
			*ret_err = xasprintf("line %zu: longer than %d bytes", lineno,
					     KEY_DEVICES_LINE_MAX);
			goto fail;
		}
		s = pos;
		e = end;
		pos = end + 1;
		while (s < e && (text[s] == ' ' || text[s] == '\t'))
			s++;
		while (e > s && (text[e - 1] == ' ' || text[e - 1] == '\t' || text[e - 1] == '\r'))
			e--;
		if (s == e || text[s] == '#')
			continue;
		for (size_t i = s; i < e; i++)
			if ((unsigned char)text[i] < 0x20 && text[i] != '\t') {
				*ret_err = xasprintf("line %zu: control character", lineno);
				goto fail;
			}
		size_t f1 = s;
		while (f1 < e && text[f1] != ' ' && text[f1] != '\t')
			f1++;
		size_t s2 = f1;
		while (s2 < e && (text[s2] == ' ' || text[s2] == '\t'))
			s2++;
		size_t f2 = s2;
		while (f2 < e && text[f2] != ' ' && text[f2] != '\t')
			f2++;
		if (f2 != e) {
			*ret_err = xasprintf("line %zu: expected \"DEVICE [UUID]\"", lineno);
			goto fail;
		}
		if (text[s] != '/') {
			*ret_err = xasprintf("line %zu: device must be an absolute path", lineno);
			goto fail;
		}
		if (memchr(text + s, '\0', f1 - s)) {
			*ret_err = xasprintf("line %zu: NUL byte", lineno);
			goto fail;
		}
		for (size_t i = s2; i < f2; i++) {
			char c = text[i];
			if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
			      (c >= 'A' && c <= 'F') || c == '-')) {
				*ret_err = xasprintf("line %zu: malformed UUID", lineno);
				goto fail;
			}
		}
		if (n >= LUKS_MAX_DEVICES) {
			*ret_err = xasprintf("line %zu: more than %d devices", lineno,
					     LUKS_MAX_DEVICES);
			goto fail;
		}
		v = xrealloc(v, (n + 1) * sizeof(*v));
		v[n].path = xstrndup(text + s, f1 - s);
		v[n].uuid = f2 > s2 ? xstrndup(text + s2, f2 - s2) : NULL;
		n++;
	}
	*ret = v;
	*ret_n = n;
	return (int)n;
fail:
	luks_key_devices_free(v, n);
	return -EINVAL;
}
