/* manifest.c - the manifest formats: signable names, escaping, the bounded
 * parsers of kexec_hashes.txt / kexec_tree.txt / kexec_links.txt (see
 * manifest.h). */
#include "boot/manifest.h"
#include "boot/manifest-internal.h"
#include "codec.h"
#include "log.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <stdatomic.h>
#include <stdio.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

#include <openssl/evp.h>

bool manifest_name_signable(const char *name)
{
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p < 0x20 || *p == '\\' || *p >= 0x7f)
			return false;
	return true;
}

char *manifest_escape_name(const char *name)
{
	size_t n = strlen(name);
	char *out = xmalloc(4 * n + 1), *o = out;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (*p < 0x20 || *p == '\\' || *p >= 0x7f)
			o += sprintf(o, "\\x%02x", *p);
		else
			*o++ = (char)*p;
	}
	*o = '\0';
	return out;
}

bool manifest_path_valid(const char *path)
{
	size_t n = strlen(path);
	const char *c;

	if (n < 2 || n > MANIFEST_MAX_PATH || path[0] != '.' || path[1] != '/')
		return false;
	if (n == 2)
		return true; /* "./" */
	if (path[n - 1] == '/')
		return false;
	c = path + 2;
	for (;;) {
		const char *e = strchrnul(c, '/');
		size_t l = (size_t)(e - c);
		if (l == 0 || (l == 1 && c[0] == '.') || (l == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		if (!*e)
			return true;
		c = e + 1;
	}
}

void manifest_free(struct manifest *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		free(m->e[i].path);
	free(m->e);
	m->e = NULL;
	m->n = 0;
}

void manifest_tree_free(struct manifest_tree *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		free(t->path[i]);
	free(t->path);
	t->path = NULL;
	t->n = 0;
}

void manifest_scan_free(struct manifest_scan *s)
{
	if (!s)
		return;
	manifest_tree_free(&s->tree);
	free(s->type);
	free(s->size);
	for (size_t i = 0; i < s->n_unsignable; i++)
		free(s->unsignable[i]);
	free(s->unsignable);
	memset(s, 0, sizeof(*s));
}

bool manifest_name_excluded(const char *name)
{
	return fnmatch("kexec*.txt", name, 0) == 0 || streq(name, "kexec.sig") ||
	       streq(name, MANIFEST_SIG_LISTING_FILE) || streq(name, "kexec_hotp_counter") ||
	       fnmatch(MANIFEST_TRIGGER_GLOB, name, 0) == 0;
}

/* ---- parsing ---------------------------------------------------------- */

int manifest_parse_hashes(const char *buf, size_t len, struct manifest *ret,
			  size_t *ret_line)
{
	struct manifest m = {0};
	size_t cap = 0, line = 0, pos = 0;

	if (len > MANIFEST_MAX_FILE)
		return -EFBIG;
	while (pos < len) {
		const char *l = buf + pos;
		const char *nl = memchr(l, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - l) : len - pos;
		uint8_t d[32];

		line++;
		pos += ll + (nl ? 1 : 0);
		if (m.n >= MANIFEST_MAX_ENTRIES)
			goto bad;
		/* <64 hex><' '><' ' or '*'><name> */
		if (ll < 67 || (l[65] != ' ' && l[65] != '*') || l[64] != ' ')
			goto bad;
		for (int i = 0; i < 32; i++) {
			int hi = hex_digit(l[2 * i]), lo = hex_digit(l[2 * i + 1]);
			if (hi < 0 || lo < 0)
				goto bad;
			d[i] = (uint8_t)(hi << 4 | lo);
		}
		size_t nl_len = ll - 66;
		if (nl_len > MANIFEST_MAX_PATH || memchr(l + 66, '\0', nl_len))
			goto bad;
		for (size_t i = 0; i < nl_len; i++)
			if ((unsigned char)l[66 + i] < 0x20)
				goto bad;
		if (m.n == cap) {
			cap = cap ? 2 * cap : 64;
			m.e = xrealloc(m.e, cap * sizeof(*m.e));
		}
		m.e[m.n].path = xstrndup(l + 66, nl_len);
		memcpy(m.e[m.n].sha256, d, 32);
		m.n++;
	}
	*ret = m;
	return 0;
bad:
	manifest_free(&m);
	if (ret_line)
		*ret_line = line;
	return -EINVAL;
}

int manifest_cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int manifest_parse_tree(const char *buf, size_t len, struct manifest_tree *ret,
			size_t *ret_line)
{
	struct manifest_tree t = {0};
	size_t cap = 0, pos = 0, line = 0;

	if (len > MANIFEST_MAX_FILE)
		return -EFBIG;
	while (pos < len) {
		const char *s = buf + pos;
		const char *z = memchr(s, '\0', len - pos);
		line++;
		if (!z || z == s || t.n >= MANIFEST_MAX_ENTRIES)
			goto bad;
		if (!manifest_path_valid(s))
			goto bad;
		if (t.n == cap) {
			cap = cap ? 2 * cap : 64;
			t.path = xrealloc(t.path, cap * sizeof(char *));
		}
		t.path[t.n++] = xstrdup(s);
		pos += (size_t)(z - s) + 1;
	}
	*ret = t;
	return 0;
bad:
	manifest_tree_free(&t);
	if (ret_line)
		*ret_line = line;
	return -EINVAL;
}

void manifest_links_free(struct manifest_links *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->l[i].path);
		free(l->l[i].target);
	}
	free(l->l);
	l->l = NULL;
	l->n = 0;
}

int manifest_parse_links(const char *buf, size_t len, struct manifest_links *ret,
			 size_t *ret_line)
{
	struct manifest_links v = {0};
	size_t cap = 0, pos = 0, line = 0;

	if (len > MANIFEST_MAX_FILE)
		return -EFBIG;
	while (pos < len) {
		const char *p = buf + pos, *pz = memchr(p, '\0', len - pos), *t, *tz;
		line++;
		if (!pz || pz == p || v.n >= MANIFEST_MAX_ENTRIES || !manifest_path_valid(p) ||
		    streq(p, "./"))
			goto bad;
		t = pz + 1;
		tz = t < buf + len ? memchr(t, '\0', (size_t)(buf + len - t)) : NULL;
		if (!tz || tz == t || (size_t)(tz - t) > MANIFEST_MAX_PATH)
			goto bad;
		if (v.n && strcmp(v.l[v.n - 1].path, p) >= 0)
			goto bad; /* sorted, no duplicates */
		if (v.n == cap) {
			cap = cap ? 2 * cap : 16;
			v.l = xrealloc(v.l, cap * sizeof(*v.l));
		}
		v.l[v.n].path = xstrdup(p);
		v.l[v.n].target = xstrdup(t);
		v.n++;
		pos = (size_t)(tz - buf) + 1;
	}
	*ret = v;
	return 0;
bad:
	manifest_links_free(&v);
	if (ret_line)
		*ret_line = line;
	return -EINVAL;
}
