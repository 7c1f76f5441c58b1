/* bootcfg/entry.c - the boot entry model: free/copy, JSON
 * (docs/entries-json.md) and the reference line format (see bootcfg.h). */
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
