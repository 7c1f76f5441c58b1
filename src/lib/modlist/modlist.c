#include "modlist/modlist.h"
#include "fs.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

void modlist_free(struct modlist *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++) {
		free(m->v[i].path);
		free(m->v[i].args);
		free(m->v[i].name);
	}
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

static bool printable(const char *s, size_t n, bool allow_space)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f || (!allow_space && c == ' '))
			return false;
	}
	return true;
}

static char *kernel_name(const char *path)
{
	const char *base = strrchr(path, '/') + 1; /* path is absolute */
	char *n = xstrndup(base, strlen(base) - 3);
	for (char *p = n; *p; p++)
		if (*p == '-')
			*p = '_';
	return n;
}

static const char *check_path(const char *p, size_t n)
{
	if (n == 0 || p[0] != '/')
		return "module path must be absolute";
	if (!printable(p, n, false))
		return "control character in module path";
	if (n < 5 || memcmp(p + n - 3, ".ko", 3) != 0 || p[n - 4] == '/')
		return "module path must end in NAME.ko";
	for (size_t i = 0; i < n; i++)
		if (p[i] == '/' && i + 3 <= n && p[i + 1] == '.' && p[i + 2] == '.' &&
		    (i + 3 == n || p[i + 3] == '/'))
			return "'..' in module path";
	return NULL;
}

int modlist_parse(const char *name, const char *buf, size_t len, struct modlist *ret,
		  char **ret_error)
{
	struct modlist m = {0};
	const char *why = NULL;
	unsigned line = 0;
	size_t pos = 0;

	if (len > MODLIST_MAX_FILE) {
		why = "file too large";
		goto fail;
	}
	while (pos < len) {
		const char *s = buf + pos, *nl = memchr(s, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - s) : len - pos, plen;
		const char *sp;

		pos += n + (nl ? 1 : 0);
		line++;
		if (n > MODLIST_MAX_LINE) {
			why = "line too long";
			goto fail;
		}
		if (memchr(s, '\0', n)) {
			why = "NUL byte";
			goto fail;
		}
		if (n == 0 || s[0] == '#')
			continue;
		if (m.n >= MODLIST_MAX_ENTRIES) {
			why = "too many modules";
			goto fail;
		}
		sp = memchr(s, ' ', n);
		plen = sp ? (size_t)(sp - s) : n;
		if ((why = check_path(s, plen)))
			goto fail;
		if (sp && !printable(sp + 1, n - plen - 1, true)) {
			why = "control character in module arguments";
			goto fail;
		}
		m.v = xrealloc(m.v, (m.n + 1) * sizeof(*m.v));
		m.v[m.n].path = xstrndup(s, plen);
		m.v[m.n].args = sp ? xstrndup(sp + 1, n - plen - 1) : xstrdup("");
		m.v[m.n].name = kernel_name(m.v[m.n].path);
		m.v[m.n].line = line;
		m.n++;
	}
	*ret = m;
	return 0;
fail:
	modlist_free(&m);
	if (ret_error)
		*ret_error = xasprintf("%s:%u: %s", name, line, why);
	return -EINVAL;
}

int modlist_load(const char *path, struct modlist *ret, char **ret_error)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r = fs_read_file(path, MODLIST_MAX_FILE, &buf, &len);
	if (r < 0)
		return r;
	return modlist_parse(path, buf, len, ret, ret_error);
}

bool modlist_is_loaded(const char *name)
{
	struct stat st;
	_cleanup_free_ char *p = NULL;
	if (!*name || strchr(name, '/'))
		return false;
	p = xasprintf("/sys/module/%s", name);
	return stat(p, &st) == 0;
}

int modlist_insmod(const char *path, const char *args)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (syscall(SYS_finit_module, fd, args ? args : "", 0) < 0)
		return -errno;
	return 0;
}
