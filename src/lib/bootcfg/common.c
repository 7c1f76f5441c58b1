/* common.c - the boot entry model, JSON and line formats, the cmdline
 * builder, default-entry persistence and format dispatch. */
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

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

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

/* ---- entries ---------------------------------------------------------- */

const char *boot_kind_to_string(enum boot_kind k)
{
	switch (k) {
	case BOOT_XEN: return "xen";
	case BOOT_MULTIBOOT: return "multiboot";
	default: return "linux";
	}
}

void boot_entry_free(struct boot_entry *e)
{
	if (!e)
		return;
	free(e->title);
	free(e->kernel);
	free(e->cmdline);
	free(e->id);
	for (size_t i = 0; i < e->n_initrd; i++)
		free(e->initrd[i]);
	free(e->initrd);
	for (size_t i = 0; i < e->n_modules; i++) {
		free(e->modules[i].path);
		free(e->modules[i].args);
	}
	free(e->modules);
	memset(e, 0, sizeof(*e));
}

void boot_entries_free(struct boot_entries *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		boot_entry_free(&l->v[i]);
	free(l->v);
	free(l->default_id);
	memset(l, 0, sizeof(*l));
	l->default_index = -1;
}

static char *dupnull(const char *s) { return s ? xstrdup(s) : NULL; }

void boot_entry_copy(struct boot_entry *d, const struct boot_entry *s)
{
	memset(d, 0, sizeof(*d));
	d->title = dupnull(s->title);
	d->kind = s->kind;
	d->kernel = dupnull(s->kernel);
	d->cmdline = dupnull(s->cmdline);
	d->id = dupnull(s->id);
	d->n_initrd = s->n_initrd;
	d->initrd = xcalloc(s->n_initrd + 1, sizeof(char *));
	for (size_t i = 0; i < s->n_initrd; i++)
		d->initrd[i] = xstrdup(s->initrd[i]);
	d->n_modules = s->n_modules;
	d->modules = xcalloc(s->n_modules + 1, sizeof(struct boot_module));
	for (size_t i = 0; i < s->n_modules; i++) {
		d->modules[i].path = xstrdup(s->modules[i].path);
		d->modules[i].args = xstrdup(s->modules[i].args ? s->modules[i].args : "");
		d->modules[i].nounzip = s->modules[i].nounzip;
	}
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
static bool path_ok(const char *p)
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

/* ---- JSON --------------------------------------------------------------- */

static void json_str(struct sbuf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	sb_putc(b, '"');
	while (*p) {
		unsigned c = *p;
		if (c == '"' || c == '\\') {
			sb_putc(b, '\\');
			sb_putc(b, (char)c);
			p++;
		} else if (c < 0x20 || c == 0x7f) {
			char t[8];
			snprintf(t, sizeof(t), "\\u%04x", c);
			sb_puts(b, t);
			p++;
		} else if (c < 0x80) {
			sb_putc(b, (char)c);
			p++;
		} else {
			/* Pass valid UTF-8 sequences, replace invalid bytes. */
			size_t n = c >= 0xf0 && c < 0xf5 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
			bool ok = n > 0 && c < 0xf5;
			for (size_t i = 1; ok && i < n; i++)
				ok = (p[i] & 0xc0) == 0x80;
			if (ok && n == 3 && ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] >= 0xa0)))
				ok = false;
			if (ok && n == 4 && ((c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] >= 0x90)))
				ok = false;
			if (ok) {
				sb_putn(b, (const char *)p, n);
				p += n;
			} else {
				sb_puts(b, "\\ufffd");
				p++;
			}
		}
	}
	sb_putc(b, '"');
}

char *bootcfg_to_json(const struct boot_entries *l)
{
	struct sbuf b = {0};
	sb_putc(&b, '[');
	for (size_t i = 0; i < l->n; i++) {
		const struct boot_entry *e = &l->v[i];
		sb_puts(&b, i ? ",\n {" : "\n {");
		sb_puts(&b, "\"title\": ");
		json_str(&b, e->title);
		sb_puts(&b, ", \"kind\": ");
		json_str(&b, boot_kind_to_string(e->kind));
		sb_puts(&b, ", \"kernel\": ");
		json_str(&b, e->kernel);
		sb_puts(&b, ", \"initrd\": [");
		for (size_t j = 0; j < e->n_initrd; j++) {
			if (j)
				sb_puts(&b, ", ");
			json_str(&b, e->initrd[j]);
		}
		sb_puts(&b, "], \"cmdline\": ");
		json_str(&b, e->cmdline);
		sb_puts(&b, ", \"modules\": [");
		for (size_t j = 0; j < e->n_modules; j++) {
			sb_puts(&b, j ? ", {\"path\": " : "{\"path\": ");
			json_str(&b, e->modules[j].path);
			sb_puts(&b, ", \"args\": ");
			json_str(&b, e->modules[j].args);
			sb_putc(&b, '}');
		}
		sb_puts(&b, "]}");
	}
	sb_puts(&b, l->n ? "\n]\n" : "]\n");
	return sb_take(&b);
}

/* ---- reference line format ------------------------------------------------ */

static void put_nopipe(struct sbuf *b, const char *s)
{
	for (; s && *s; s++)
		if (*s != '|' && *s != '\n' && *s != '\r')
			sb_putc(b, *s);
}

char *boot_entry_to_line(const struct boot_entry *e)
{
	struct sbuf b = {0};
	put_nopipe(&b, e->title);
	sb_puts(&b, e->kind == BOOT_LINUX ? "|elf|kernel " : e->kind == BOOT_XEN ? "|xen|kernel " : "|multiboot|kernel ");
	put_nopipe(&b, e->kernel);
	if (e->kind == BOOT_LINUX) {
		for (size_t i = 0; i < e->n_initrd; i++) {
			sb_puts(&b, "|initrd ");
			put_nopipe(&b, e->initrd[i]);
		}
		if (e->cmdline && *e->cmdline) {
			sb_puts(&b, "|append ");
			put_nopipe(&b, e->cmdline);
		}
	} else {
		if (e->cmdline && *e->cmdline) {
			sb_putc(&b, ' ');
			put_nopipe(&b, e->cmdline);
		}
		for (size_t i = 0; i < e->n_modules; i++) {
			sb_puts(&b, "|module ");
			put_nopipe(&b, e->modules[i].path);
			if (e->modules[i].args && *e->modules[i].args) {
				sb_putc(&b, ' ');
				put_nopipe(&b, e->modules[i].args);
			}
		}
	}
	return sb_take(&b);
}

static void split_path_args(const char *s, char **path, char **args)
{
	while (*s == ' ')
		s++;
	const char *sp = strchr(s, ' ');
	if (!sp) {
		*path = xstrdup(s);
		*args = xstrdup("");
		return;
	}
	*path = xstrndup(s, sp - s);
	*args = bc_collapse(sp + 1);
}

int boot_entry_from_line(const char *line, struct boot_entry *ret)
{
	struct boot_entry e = {0};
	char *copy = xstrdup(line), *save = NULL, *f;
	size_t nl = strcspn(copy, "\r\n");
	int field = 0, r = 0;

	copy[nl] = '\0';
	e.initrd = xcalloc(1, sizeof(char *));
	e.modules = xcalloc(1, sizeof(struct boot_module));
	for (f = strtok_r(copy, "|", &save); f; f = strtok_r(NULL, "|", &save), field++) {
		if (field == 0) {
			e.title = xstrdup(f);
		} else if (field == 1) {
			if (streq(f, "elf"))
				e.kind = BOOT_LINUX;
			else if (streq(f, "xen"))
				e.kind = BOOT_XEN;
			else if (streq(f, "multiboot"))
				e.kind = BOOT_MULTIBOOT;
			else
				r = -EINVAL;
		} else if (startswith(f, "kernel ") && !e.kernel) {
			split_path_args(f + 7, &e.kernel, &e.cmdline);
		} else if (startswith(f, "initrd ")) {
			e.initrd = xrealloc(e.initrd, (e.n_initrd + 2) * sizeof(char *));
			e.initrd[e.n_initrd++] = bc_collapse(f + 7);
		} else if (startswith(f, "append ")) {
			free(e.cmdline);
			e.cmdline = bc_collapse(f + 7);
		} else if (startswith(f, "module ")) {
			e.modules = xrealloc(e.modules, (e.n_modules + 2) * sizeof(struct boot_module));
			split_path_args(f + 7, &e.modules[e.n_modules].path,
					&e.modules[e.n_modules].args);
			/* the line format has no --nounzip (the reference drops
			 * it and its kexec-boot loads every module as it is) */
			e.modules[e.n_modules].nounzip = true;
			e.n_modules++;
		} else {
			r = -EINVAL;
		}
		if (r)
			break;
	}
	free(copy);
	if (!r && (field < 3 || !e.kernel || !*e.kernel || e.kernel[0] != '/'))
		r = -EINVAL;
	if (r) {
		boot_entry_free(&e);
		return r;
	}
	if (!e.cmdline)
		e.cmdline = xstrdup("");
	*ret = e;
	return 0;
}

/* ---- final command line -------------------------------------------------- */

struct words {
	char **v;
	size_t n;
};

static void words_split(struct words *w, const char *s)
{
	while (s && *s) {
		while (is_ws(*s))
			s++;
		if (!*s)
			break;
		const char *e = s;
		while (*e && !is_ws(*e))
			e++;
		if (!(e - s == 3 && strncmp(s, "---", 3) == 0)) {
			w->v = xrealloc(w->v, (w->n + 1) * sizeof(char *));
			w->v[w->n++] = xstrndup(s, e - s);
		}
		s = e;
	}
}

static void words_free(struct words *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(w->v[i]);
	free(w->v);
	w->v = NULL;
	w->n = 0;
}

static bool words_has(const struct words *w, const char *s)
{
	for (size_t i = 0; i < w->n; i++)
		if (w->v[i] && streq(w->v[i], s))
			return true;
	return false;
}

static void words_remove_all(struct words *w, const struct words *rm)
{
	for (size_t i = 0; i < w->n; i++)
		if (w->v[i] && words_has(rm, w->v[i])) {
			free(w->v[i]);
			w->v[i] = NULL;
		}
}

static size_t keylen(const char *w)
{
	const char *eq = strchr(w, '=');
	return eq ? (size_t)(eq - w) : strlen(w);
}

char *bootcfg_build_cmdline(const char *params, const char *add, const char *remove,
			    const char *board_add, bool *ret_too_long)
{
	static const char *const iso_keys[] = {"iso-scan/filename", "findiso", "img_dev",
					       "img_loop", "iso", "live-media"};
	struct words wadd = {0}, wpar = {0}, wrm = {0}, wboard = {0}, out = {0};
	struct sbuf b = {0};

	words_split(&wadd, add);
	words_split(&wpar, params);
	words_split(&wrm, remove);
	words_split(&wboard, board_add);
	words_remove_all(&wadd, &wrm);
	words_remove_all(&wpar, &wrm);
	words_remove_all(&wboard, &wrm);

	/* Keys forced by add: drop them from params, keep add's first value. */
	for (size_t k = 0; k < ARRAY_SIZE(iso_keys); k++) {
		size_t kl = strlen(iso_keys[k]);
		bool in_add = false;
		for (size_t i = 0; i < wadd.n; i++) {
			if (!wadd.v[i] || keylen(wadd.v[i]) != kl || strncmp(wadd.v[i], iso_keys[k], kl))
				continue;
			if (in_add) {
				free(wadd.v[i]);
				wadd.v[i] = NULL;
			}
			in_add = true;
		}
		if (!in_add)
			continue;
		for (size_t i = 0; i < wpar.n; i++)
			if (wpar.v[i] && keylen(wpar.v[i]) == kl &&
			    strncmp(wpar.v[i], iso_keys[k], kl) == 0) {
				free(wpar.v[i]);
				wpar.v[i] = NULL;
			}
	}
	for (size_t i = 0; i < wadd.n; i++)
		if (wadd.v[i]) {
			out.v = xrealloc(out.v, (out.n + 1) * sizeof(char *));
			out.v[out.n++] = xstrdup(wadd.v[i]);
		}
	for (size_t i = 0; i < wpar.n; i++)
		if (wpar.v[i]) {
			out.v = xrealloc(out.v, (out.n + 1) * sizeof(char *));
			out.v[out.n++] = xstrdup(wpar.v[i]);
		}
	for (size_t i = 0; i < wboard.n; i++)
		if (wboard.v[i] && !words_has(&out, wboard.v[i])) {
			out.v = xrealloc(out.v, (out.n + 1) * sizeof(char *));
			out.v[out.n++] = xstrdup(wboard.v[i]);
		}
	for (size_t i = 0; i < out.n; i++) {
		if (i)
			sb_putc(&b, ' ');
		sb_puts(&b, out.v[i]);
	}
	words_free(&wadd);
	words_free(&wpar);
	words_free(&wrm);
	words_free(&wboard);
	words_free(&out);
	if (ret_too_long)
		*ret_too_long = b.len > BOOTCFG_MAX_CMDLINE;
	if (b.len > BOOTCFG_MAX_CMDLINE)
		log_warn("kernel command line is %zu bytes (more than %d)", b.len,
			 BOOTCFG_MAX_CMDLINE);
	return sb_take(&b);
}

/* ---- default entry persistence ------------------------------------------- */

static int add_hash_line(struct sbuf *b, struct boot_view *view, const char *rel)
{
	_cleanup_free_ char *real = NULL;
	uint8_t md[32];
	char hex[65];
	int r;

	if (!path_ok(rel))
		return log_error_errno(-EINVAL, "'%s': a path with whitespace or control bytes "
				       "cannot be saved", rel);
	if (boot_view_verified(view)) {
		r = boot_view_signed_digest(view, rel, md, &real);
	} else {
		struct boot_blob blob = {.fd = -1};
		r = boot_view_load(view, rel, &blob);
		if (r == 0) {
			memcpy(md, blob.sha256, 32);
			real = TAKE_PTR(blob.real);
		}
		boot_blob_free(&blob);
	}
	if (r < 0)
		return log_error_errno(r, "cannot hash %s in %s", rel, boot_view_dir(view));
	/* the file it resolves to: what is checked without following links */
	hex_encode(md, 32, hex);
	sb_puts(b, hex);
	sb_puts(b, "  ");
	sb_puts(b, real);
	sb_putc(b, '\n');
	return 0;
}

/* N of "kexec_default.N.txt" (1..100000), 0 if name is not one. */
static unsigned default_index(const char *name)
{
	size_t l = strlen(name);
	unsigned long long idx = 0;
	if (!startswith(name, "kexec_default.") || l <= 18 || !streq(name + l - 4, ".txt"))
		return 0;
	_cleanup_free_ char *num = xstrndup(name + 14, l - 18);
	if (strspn(num, "0123456789") != strlen(num) || parse_uint(num, 100000, &idx) < 0)
		return 0;
	return (unsigned)idx;
}

void bootcfg_default_files_free(struct bootcfg_default_files *d)
{
	free(d->name);
	free(d->line);
	free(d->hashes);
	memset(d, 0, sizeof(*d));
}

int bootcfg_default_files(struct boot_view *view, const struct boot_entry *e, unsigned index1,
			  struct bootcfg_default_files *ret)
{
	struct sbuf hashes = {0};
	_cleanup_free_ char *line = NULL;
	int r;

	if (index1 == 0 || !e->kernel)
		return -EINVAL;
	r = add_hash_line(&hashes, view, e->kernel);
	for (size_t i = 0; r == 0 && i < e->n_modules; i++)
		r = add_hash_line(&hashes, view, e->modules[i].path);
	for (size_t i = 0; r == 0 && i < e->n_initrd; i++)
		r = add_hash_line(&hashes, view, e->initrd[i]);
	if (r < 0) {
		sb_free(&hashes);
		return r;
	}
	line = boot_entry_to_line(e);
	ret->name = xasprintf("kexec_default.%u.txt", index1);
	ret->line = xasprintf("%s\n", line);
	ret->line_len = strlen(ret->line);
	ret->hashes_len = hashes.len;
	ret->hashes = sb_take(&hashes);
	return 0;
}

int bootcfg_save_default(struct boot_view *view, const char *paramsdir,
			 const struct boot_entry *e, unsigned index1)
{
	struct bootcfg_default_files f = {0};
	_cleanup_close_ int dfd = -1;
	DIR *d;
	struct dirent *de;
	int r = bootcfg_default_files(view, e, index1, &f);

	if (r < 0)
		return r;
	dfd = open(paramsdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		bootcfg_default_files_free(&f);
		return log_error_errno(-errno, "cannot open %s", paramsdir);
	}
	/* Remove older kexec_default.N.txt files. */
	d = opendir(paramsdir);
	while (d && (de = readdir(d)))
		if (default_index(de->d_name))
			unlinkat(dfd, de->d_name, 0);
	if (d)
		closedir(d);
	r = fs_write_atomic_at(dfd, f.name, f.line, f.line_len, 0644);
	if (r == 0)
		r = fs_write_atomic_at(dfd, MANIFEST_DEFAULT_HASHES_FILE, f.hashes, f.hashes_len,
				       0644);
	bootcfg_default_files_free(&f);
	if (r < 0)
		return log_error_errno(r, "cannot write default entry in %s", paramsdir);
	return 0;
}

static int parse_default(const char *name, const char *text, size_t len, struct boot_entry *ret)
{
	int r;
	if (strlen(text) != len)
		return log_error_errno(-EINVAL, "%s: NUL byte", name);
	r = boot_entry_from_line(text, ret);
	if (r < 0)
		return log_error_errno(r, "%s: malformed entry", name);
	return 0;
}

int bootcfg_load_default(const char *paramsdir, struct boot_entry *ret, unsigned *ret_index1)
{
	DIR *d = opendir(paramsdir);
	struct dirent *de;
	_cleanup_free_ char *found = NULL;
	unsigned idx = 0;
	int n = 0, r;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		unsigned i = default_index(de->d_name);
		if (!i)
			continue;
		n++;
		idx = i;
		free(found);
		found = xstrdup(de->d_name);
	}
	closedir(d);
	if (n == 0)
		return -ENOENT;
	if (n > 1)
		return log_error_errno(-EINVAL, "%s: several kexec_default.N.txt files", paramsdir);
	_cleanup_free_ char *path = xasprintf("%s/%s", paramsdir, found), *text = NULL;
	size_t len;
	r = fs_read_file(path, FS_SMALL_FILE_MAX, &text, &len);
	if (r < 0)
		return log_error_errno(r, "cannot read %s", path);
	r = parse_default(path, text, len, ret);
	if (r == 0)
		*ret_index1 = idx;
	return r;
}

int bootcfg_signed_default(const struct boot_signed *s, struct boot_entry *ret,
			   unsigned *ret_index1)
{
	const struct boot_signed_file *found = NULL;
	unsigned idx = 0;
	int n = 0, r;

	for (size_t i = 0; i < s->n_files; i++) {
		unsigned k = default_index(s->files[i].name);
		if (!k)
			continue;
		n++;
		idx = k;
		found = &s->files[i];
	}
	if (n == 0)
		return -ENOENT;
	if (n > 1)
		return log_error_errno(-EINVAL, "several signed kexec_default.N.txt files");
	r = parse_default(found->name, found->data, found->len, ret);
	if (r == 0)
		*ret_index1 = idx;
	return r;
}

/* ---- dispatch --------------------------------------------------------- */

static enum bootcfg_format guess_format(struct boot_view *view, const char *config)
{
	const char *base = strrchr(config, '/');
	base = base ? base + 1 : config;
	if (bc_exists(view, config, true) || strstr(config, "loader/") ||
	    streq(base, "loader.conf"))
		return BOOTCFG_BLS;
	if (streq(base, "grub.conf") || streq(base, "menu.lst"))
		return BOOTCFG_GRUB_LEGACY;
	if (strcasestr(config, "isolinux") || strcasestr(config, "syslinux") ||
	    strcasestr(config, "extlinux") || strcasestr(config, "pxelinux"))
		return BOOTCFG_SYSLINUX;
	return BOOTCFG_GRUB;
}

int bootcfg_parse(struct boot_view *view, const char *config, enum bootcfg_format fmt,
		  struct boot_entries *ret)
{
	if (ret->n == 0 && !ret->default_id)
		ret->default_index = -1;
	if (fs_has_dotdot(config))
		return log_error_errno(-EXDEV, "%s: '..' not allowed", config);
	if (fmt == BOOTCFG_AUTO)
		fmt = guess_format(view, config);
	switch (fmt) {
	case BOOTCFG_SYSLINUX: return bc_parse_syslinux(view, config, ret);
	case BOOTCFG_BLS: return bc_parse_bls(view, config, ret);
	case BOOTCFG_GRUB_LEGACY: return bc_parse_grub_legacy(view, config, ret);
	default: return bc_parse_grub(view, config, ret);
	}
}

/* ---- discovery ------------------------------------------------------------ */

struct found {
	char **v;
	size_t n;
};

static bool config_name(const char *n)
{
	return streq(n, "grub.cfg") || streq(n, "isolinux.cfg") || streq(n, "loopback.cfg") ||
	       streq(n, "syslinux.cfg") || streq(n, "extlinux.conf");
}

/* Configuration files under rel, as the view lists them (a verified view
 * lists only the signed tree; top-level kexec* names never); symlinks are
 * not followed. */
static void find_configs(struct boot_view *view, const char *rel, int depth, struct found *f)
{
	struct boot_view_dirent *de = NULL;
	size_t n = 0;

	if (depth > 6 || f->n > 64 || boot_view_list(view, *rel ? rel : "/", &de, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		const char *name = de[i].name;
		if (name[0] == '.')
			continue;
		_cleanup_free_ char *child = *rel ? xasprintf("%s/%s", rel, name) : xstrdup(name);
		if (de[i].type == BOOT_VIEW_DIR) {
			find_configs(view, child, depth + 1, f);
		} else if (de[i].type == BOOT_VIEW_FILE && config_name(name)) {
			f->v = xrealloc(f->v, (f->n + 1) * sizeof(char *));
			f->v[f->n++] = TAKE_PTR(child);
		}
	}
	boot_view_dirents_free(de, n);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool same_entry(const struct boot_entry *a, const struct boot_entry *b)
{
	_cleanup_free_ char *la = boot_entry_to_line(a), *lb = boot_entry_to_line(b);
	return streq(la, lb);
}

int bootcfg_scan(struct boot_view *view, struct boot_entries *ret)
{
	struct found f = {0};
	struct boot_entries all = {.default_index = -1};
	int r = 0;

	find_configs(view, "", 0, &f);
	if (f.n)
		qsort(f.v, f.n, sizeof(char *), cmp_str);
	for (int pass = 0; pass < 2 && all.n == 0; pass++) {
		for (size_t i = 0; i < f.n; i++) {
			/* EFI copies and ISO loopback.cfg only when nothing else boots */
			bool late = strcasestr(f.v[i], "efi") != NULL ||
				    strstr(f.v[i], "loopback.cfg") != NULL;
			if (late != (pass == 1))
				continue;
			struct boot_entries one = {.default_index = -1};
			int q = bootcfg_parse(view, f.v[i], BOOTCFG_AUTO, &one);
			if (q < 0)
				log_warn("%s: skipped (%s)", f.v[i], strerror(-q));
			for (size_t j = 0; j < one.n; j++) {
				bool dup = false;
				for (size_t k = 0; k < all.n && !dup; k++)
					dup = same_entry(&all.v[k], &one.v[j]);
				if (dup)
					continue;
				if (!all.default_id && (long)j == one.default_index) {
					all.default_id = xstrdup(one.default_id ? one.default_id : "");
					all.default_index = (long)all.n;
				}
				all.v = xrealloc(all.v, (all.n + 1) * sizeof(*all.v));
				all.v[all.n++] = one.v[j];
				memset(&one.v[j], 0, sizeof(one.v[j]));
			}
			boot_entries_free(&one);
		}
	}
	if (all.n == 0 && (bc_exists(view, "/loader/entries", true) ||
			   bc_exists(view, "/boot/loader/entries", true)))
		r = bootcfg_parse(view, "/loader", BOOTCFG_BLS, &all);
	for (size_t i = 0; i < f.n; i++)
		free(f.v[i]);
	free(f.v);
	if (r < 0) {
		boot_entries_free(&all);
		return r;
	}
	*ret = all;
	return 0;
}
