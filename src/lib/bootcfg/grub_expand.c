/* bootcfg/grub_expand.c - GRUB variables (contexts, export scoping) and word
 * expansion with field splitting (see grub.c). */
#include "internal.h"
#include "bootcfg/grub-internal.h"
#include "fs.h"
#include "log.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* ---- variables ---------------------------------------------------------- */

struct var *grub_var_find(struct ctx *c, const char *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (streq(c->v[i].name, name))
			return &c->v[i];
	return NULL;
}

static const char *var_get(struct interp *in, const char *name)
{
	struct var *v = grub_var_find(in->ctx, name);
	return v ? v->value : NULL;
}

void grub_var_set(struct interp *in, const char *name, const char *value)
{
	struct var *v = grub_var_find(in->ctx, name);
	if (strlen(value) > MAX_VALUE) {
		grub_fatal(in, -E2BIG, NULL, 0, "variable value too large");
		return;
	}
	if (v) {
		free(v->value);
		v->value = xstrdup(value);
		return;
	}
	if (in->ctx->n >= MAX_VARS) {
		grub_fatal(in, -E2BIG, NULL, 0, "too many variables");
		return;
	}
	in->ctx->v = xrealloc(in->ctx->v, (in->ctx->n + 1) * sizeof(struct var));
	in->ctx->v[in->ctx->n++] = (struct var){xstrdup(name), xstrdup(value), false};
}

void grub_var_unset(struct interp *in, const char *name)
{
	struct var *v = grub_var_find(in->ctx, name);
	if (!v)
		return;
	free(v->name);
	free(v->value);
	*v = in->ctx->v[--in->ctx->n];
}

void grub_ctx_free(struct ctx *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].name);
		free(c->v[i].value);
	}
	free(c->v);
	c->v = NULL;
	c->n = 0;
}

void grub_ctx_copy(struct ctx *dst, const struct ctx *src, bool exported_only)
{
	memset(dst, 0, sizeof(*dst));
	dst->v = xcalloc(src->n + 1, sizeof(struct var));
	for (size_t i = 0; i < src->n; i++) {
		if (exported_only && !src->v[i].exported)
			continue;
		dst->v[dst->n++] = (struct var){xstrdup(src->v[i].name), xstrdup(src->v[i].value),
						src->v[i].exported};
	}
}

void grub_fields_free(struct fields *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->v[i]);
	free(f->v);
	f->v = NULL;
	f->n = f->cap = 0;
}

static void fields_push(struct fields *f, char *s)
{
	if (f->n == f->cap) {
		f->cap = f->cap ? 2 * f->cap : 8;
		f->v = xrealloc(f->v, f->cap * sizeof(char *));
	}
	f->v[f->n++] = s;
}

/* Value of a variable reference by name; may be NULL. Special names. */
static const char *lookup(struct interp *in, const char *name, char *tmp, size_t tmpsz)
{
	if (streq(name, "?")) {
		snprintf(tmp, tmpsz, "%d", in->status);
		return tmp;
	}
	if (streq(name, "#")) {
		snprintf(tmp, tmpsz, "%zu", in->argc);
		return tmp;
	}
	if (name[0] >= '0' && name[0] <= '9') {
		unsigned long long k;
		if (parse_uint(name, 1000000, &k) < 0)
			return NULL;
		if (k == 0)
			return NULL;
		return k <= in->argc ? in->argv[k - 1] : NULL;
	}
	return var_get(in, name);
}

struct expander {
	struct fields out;
	struct sbuf cur;
	bool have; /* current field exists (even if empty) */
};

static void ex_end_field(struct expander *e)
{
	if (e->have || e->cur.len) {
		fields_push(&e->out, sb_take(&e->cur));
	}
	sb_free(&e->cur);
	e->have = false;
}

static void ex_append_split(struct expander *e, const char *v)
{
	/* Unquoted value: split on blanks. */
	for (const char *p = v; *p;) {
		if (is_blank(*p) || *p == '\n') {
			ex_end_field(e);
			while (*p && (is_blank(*p) || *p == '\n'))
				p++;
			continue;
		}
		sb_putc(&e->cur, *p++);
		e->have = true;
	}
}

/* Parse a variable reference at s (after '$'); returns chars consumed and the
 * name (caller frees), or 0 if '$' is literal. */
static size_t var_ref(const char *s, char **name)
{
	if (*s == '{') {
		const char *e = strchr(s + 1, '}');
		if (!e)
			return 0;
		*name = xstrndup(s + 1, e - s - 1);
		return e - s + 1;
	}
	if (*s == '?' || *s == '#' || *s == '@' || *s == '*') {
		*name = xstrndup(s, 1);
		return 1;
	}
	if (*s >= '0' && *s <= '9') {
		size_t n = 0;
		while (s[n] >= '0' && s[n] <= '9')
			n++;
		*name = xstrndup(s, n);
		return n;
	}
	if (is_name_start((unsigned char)*s)) {
		size_t n = 0;
		while (is_name((unsigned char)s[n]))
			n++;
		*name = xstrndup(s, n);
		return n;
	}
	return 0;
}

static void expand_var(struct interp *in, struct expander *e, const char *name, bool quoted)
{
	char tmp[32];
	if (streq(name, "@") || streq(name, "*")) {
		for (size_t i = 0; i < in->argc; i++) {
			if (quoted) {
				if (i)
					sb_putc(&e->cur, ' ');
				sb_puts(&e->cur, in->argv[i]);
				e->have = true;
			} else {
				if (i)
					ex_end_field(e);
				ex_append_split(e, in->argv[i]);
			}
		}
		return;
	}
	const char *v = lookup(in, name, tmp, sizeof(tmp));
	if (!v)
		return;
	if (quoted) {
		sb_puts(&e->cur, v);
		e->have = true;
	} else {
		ex_append_split(e, v);
	}
}

/* Expand one raw word into fields. */
void grub_expand_word(struct interp *in, const char *raw, struct fields *out)
{
	struct expander e = {0};
	const char *p = raw;
	while (*p) {
		if (e.cur.len > MAX_VALUE || e.out.n > MAX_FIELDS) {
			grub_fatal(in, -E2BIG, NULL, 0, "expansion too large");
			break;
		}
		if (*p == '\\') {
			p++;
			if (*p) {
				sb_putc(&e.cur, *p++);
				e.have = true;
			}
		} else if (*p == '\'') {
			p++;
			e.have = true;
			while (*p && *p != '\'')
				sb_putc(&e.cur, *p++);
			if (*p)
				p++;
		} else if (*p == '"') {
			p++;
			e.have = true;
			while (*p && *p != '"') {
				if (*p == '\\' && (p[1] == '$' || p[1] == '"' || p[1] == '\\')) {
					sb_putc(&e.cur, p[1]);
					p += 2;
				} else if (*p == '$') {
					char *name = NULL;
					size_t n = var_ref(p + 1, &name);
					if (n) {
						expand_var(in, &e, name, true);
						free(name);
						p += 1 + n;
					} else {
						sb_putc(&e.cur, *p++);
					}
				} else {
					sb_putc(&e.cur, *p++);
				}
			}
			if (*p)
				p++;
		} else if (*p == '$') {
			char *name = NULL;
			size_t n = var_ref(p + 1, &name);
			if (n) {
				expand_var(in, &e, name, false);
				free(name);
				p += 1 + n;
			} else {
				sb_putc(&e.cur, *p++);
				e.have = true;
			}
		} else {
			sb_putc(&e.cur, *p++);
			e.have = true;
		}
	}
	ex_end_field(&e);
	for (size_t i = 0; i < e.out.n; i++) {
		in->expanded += strlen(e.out.v[i]) + 1;
		fields_push(out, e.out.v[i]);
	}
	if (in->expanded > MAX_EXPANDED || out->n > MAX_FIELDS)
		grub_fatal(in, -E2BIG, NULL, 0, "configuration expands to too much text");
	free(e.out.v);
}

void grub_expand_words(struct interp *in, char **words, size_t n, struct fields *out)
{
	for (size_t i = 0; i < n && !in->aborted; i++)
		grub_expand_word(in, words[i], out);
}
