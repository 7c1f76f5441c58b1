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

/* The record of buf at *pos up to the next sep (not included; the last one
 * may lack it: *ret_term false), *pos moved past it; false at the end. */
static bool next_record(const char *buf, size_t len, char sep, size_t *pos, const char **ret,
			size_t *ret_len, bool *ret_term)
{
	if (*pos >= len)
		return false;
	const char *r = buf + *pos, *e = memchr(r, sep, len - *pos);
	*ret = r;
	*ret_len = e ? (size_t)(e - r) : len - *pos;
	if (ret_term)
		*ret_term = e != NULL;
	*pos += *ret_len + (e ? 1 : 0);
	return true;
}

/* A parse error at line (record) number line: into *ret_line if asked. */
static int bad_line(size_t line, size_t *ret_line)
{
	if (ret_line)
		*ret_line = line;
	return -EINVAL;
}

int manifest_parse_hashes(const char *buf, size_t len, struct manifest *ret,
			  size_t *ret_line)
{
	struct manifest m = {0};
	size_t cap = 0, line = 0, pos = 0;

	if (len > MANIFEST_MAX_FILE)
		return -EFBIG;
	const char *l;
	size_t ll;
	while (next_record(buf, len, '\n', &pos, &l, &ll, NULL)) {
		uint8_t d[32];

		line++;
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
		m.e = xgrow(m.e, &cap, m.n, sizeof(*m.e));
		m.e[m.n].path = xstrndup(l + 66, nl_len);
		memcpy(m.e[m.n].sha256, d, 32);
		m.n++;
	}
	*ret = m;
	return 0;
bad:
	manifest_free(&m);
	return bad_line(line, ret_line);
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
	const char *s;
	size_t sl;
	bool term;
	while (next_record(buf, len, '\0', &pos, &s, &sl, &term)) {
		line++;
		if (!term || sl == 0 || t.n >= MANIFEST_MAX_ENTRIES)
			goto bad;
		if (!manifest_path_valid(s))
			goto bad;
		t.path = xgrow(t.path, &cap, t.n, sizeof(char *));
		t.path[t.n++] = xstrdup(s);
	}
	*ret = t;
	return 0;
bad:
	manifest_tree_free(&t);
	return bad_line(line, ret_line);
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
	const char *p, *t;
	size_t pl, tl;
	bool term;
	while (next_record(buf, len, '\0', &pos, &p, &pl, &term)) {
		line++;
		if (!term || pl == 0 || v.n >= MANIFEST_MAX_ENTRIES || !manifest_path_valid(p) ||
		    streq(p, "./"))
			goto bad;
		if (!next_record(buf, len, '\0', &pos, &t, &tl, &term) || !term || tl == 0 ||
		    tl > MANIFEST_MAX_PATH)
			goto bad;
		if (v.n && strcmp(v.l[v.n - 1].path, p) >= 0)
			goto bad; /* sorted, no duplicates */
		v.l = xgrow(v.l, &cap, v.n, sizeof(*v.l));
		v.l[v.n].path = xstrdup(p);
		v.l[v.n].target = xstrdup(t);
		v.n++;
	}
	*ret = v;
	return 0;
bad:
	manifest_links_free(&v);
	return bad_line(line, ret_line);
}
