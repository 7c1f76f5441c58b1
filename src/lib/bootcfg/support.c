/* bootcfg/support.c - what the parsers share (internal.h): string buffer,
 * path helpers, reads through the view, bc_emit(). */
#include "bootcfg.h"
#include "internal.h"
#include "codec.h"
#include "fs.h"
#include "log.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* ---- string buffer ---------------------------------------------------- */

void sb_putn(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t c = b->cap ? b->cap : 64;
		while (c < b->len + n + 1)
			c *= 2;
		b->s = xrealloc(b->s, c);
		b->cap = c;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}
void sb_putc(struct sbuf *b, char c) { sb_putn(b, &c, 1); }
void sb_puts(struct sbuf *b, const char *s) { sb_putn(b, s, strlen(s)); }
const char *sb_str(struct sbuf *b)
{
	if (!b->s)
		sb_putn(b, "", 0);
	return b->s;
}
char *sb_take(struct sbuf *b)
{
	sb_str(b);
	char *s = b->s;
	b->s = NULL;
	b->len = b->cap = 0;
	return s;
}
void sb_free(struct sbuf *b)
{
	free(b->s);
	b->s = NULL;
	b->len = b->cap = 0;
}


char *bc_collapse(const char *s)
{
	struct sbuf b = {0};
	bool pending = false;
	for (; s && *s; s++) {
		if (is_ws(*s)) {
			pending = b.len > 0;
			continue;
		}
		if (pending)
			sb_putc(&b, ' ');
		pending = false;
		sb_putc(&b, *s);
	}
	return sb_take(&b);
}

char *bc_strip_device(const char *path)
{
	const char *p = path;
	while (*p == '(') {
		const char *e = strchr(p, ')');
		if (!e)
			break;
		p = e + 1;
	}
	if (*p == '/')
		return xstrdup(p);
	return xasprintf("/%s", p);
}

bool bc_exists(struct boot_view *view, const char *rel, bool want_dir)
{
	enum boot_view_type t = boot_view_stat(view, rel);
	return want_dir ? t == BOOT_VIEW_DIR : t == BOOT_VIEW_FILE;
}

int bc_read(struct boot_view *view, const char *rel, char **ret, size_t *ret_len)
{
	return boot_view_read(view, rel, BOOTCFG_MAX_FILE, ret, ret_len);
}

bool is_xen_name(const char *path)
{
	const char *b = strrchr(path, '/');
	return strstr(b ? b + 1 : path, "xen") != NULL;
}

static size_t output_bytes(const struct boot_entry *e)
{
	size_t n = (e->title ? strlen(e->title) : 0) + (e->kernel ? strlen(e->kernel) : 0) +
		   (e->cmdline ? strlen(e->cmdline) : 0);
	for (size_t i = 0; i < e->n_initrd; i++)
		n += strlen(e->initrd[i]);
	for (size_t i = 0; i < e->n_modules; i++)
		n += strlen(e->modules[i].path) + strlen(e->modules[i].args);
	return n;
}

/* A path missing as written but present with (or without) a leading /boot:
 * BLS entries and configs written for a root-fs layout on a separate /boot
 * partition, or the other way round. */
static void fix_boot_prefix(struct boot_view *view, char **path)
{
	if (!*path || bc_exists(view, *path, false))
		return;
	if (startswith(*path, "/boot/") && bc_exists(view, *path + 5, false)) {
		char *t = xstrdup(*path + 5);
		free(*path);
		*path = t;
	} else if (!startswith(*path, "/boot/")) {
		char *t = xasprintf("/boot%s", *path);
		if (bc_exists(view, t, false)) {
			free(*path);
			*path = t;
		} else {
			free(t);
		}
	}
}

/* A path that the reference line format (and kexec-tools' --module) can
 * carry: no whitespace, no control byte. */
bool path_ok(const char *p)
{
	for (; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return false;
	return true;
}

int bc_emit(struct boot_view *view, struct boot_entries *l, struct boot_entry *e)
{
	const char *missing = NULL, *bad = NULL;

	fix_boot_prefix(view, &e->kernel);
	for (size_t i = 0; i < e->n_initrd; i++)
		fix_boot_prefix(view, &e->initrd[i]);
	for (size_t i = 0; i < e->n_modules; i++)
		fix_boot_prefix(view, &e->modules[i].path);

	if (e->kernel && !path_ok(e->kernel))
		bad = e->kernel;
	for (size_t i = 0; !bad && i < e->n_initrd; i++)
		if (!path_ok(e->initrd[i]))
			bad = e->initrd[i];
	for (size_t i = 0; !bad && i < e->n_modules; i++)
		if (!path_ok(e->modules[i].path))
			bad = e->modules[i].path;
	if (bad) {
		_cleanup_free_ char *t = str_escape_controls(e->title ? e->title : "", false);
		_cleanup_free_ char *p = str_escape_controls(bad, false);
		log_warn("boot entry '%s' dropped: path '%s' has whitespace or control bytes", t, p);
		boot_entry_free(e);
		return 0;
	}
	if (!e->kernel || !*e->kernel)
		missing = "(no kernel)";
	else if (!bc_exists(view, e->kernel, false))
		missing = e->kernel;
	for (size_t i = 0; !missing && i < e->n_initrd; i++)
		if (!bc_exists(view, e->initrd[i], false))
			missing = e->initrd[i];
	for (size_t i = 0; !missing && i < e->n_modules; i++)
		if (!bc_exists(view, e->modules[i].path, false))
			missing = e->modules[i].path;
	if (missing) {
		_cleanup_free_ char *t = str_escape_controls(e->title ? e->title : "", false);
		log_warn("boot entry '%s' dropped: %s not found in %s%s", t, missing,
			 boot_view_dir(view), boot_view_verified(view) ? " (or not signed)" : "");
		boot_entry_free(e);
		return 0;
	}
	if (l->n >= BOOTCFG_MAX_ENTRIES) {
		boot_entry_free(e);
		return log_error_errno(-E2BIG, "more than %d boot entries", BOOTCFG_MAX_ENTRIES);
	}
	size_t sum = output_bytes(e);
	for (size_t i = 0; i < l->n; i++) {
		sum += output_bytes(&l->v[i]);
		if (sum > BOOTCFG_MAX_OUTPUT) {
			boot_entry_free(e);
			return log_error_errno(-E2BIG, "boot entries exceed %u bytes",
					       BOOTCFG_MAX_OUTPUT);
		}
	}
	if (!e->title)
		e->title = xstrdup("");
	if (!e->cmdline)
		e->cmdline = xstrdup("");
	if (!e->initrd)
		e->initrd = xcalloc(1, sizeof(char *));
	if (!e->modules)
		e->modules = xcalloc(1, sizeof(struct boot_module));
	l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = *e;
	memset(e, 0, sizeof(*e));
	return 0;
}
