/* grub.c - a bounded interpreter for the subset of GRUB 2's script language
 * that boot menus use.
 *
 * Text only: loader commands record their arguments, every other command
 * either changes interpreter state (set, export, unset, load_env, search
 * --set, source, configfile, blscfg, function, menuentry, submenu) or is a
 * no-op. Nothing is executed outside this process and no shell is involved.
 *
 * Semantics follow GRUB 2.06 (see the fixture README):
 * - the whole configuration runs first, collecting menu items; every entry
 *   body then runs in a copy of the final top-level context, with $1 the
 *   title and $2... the extra menuentry arguments;
 * - a submenu body runs in a new context that inherits only exported
 *   variables; its entries run in that context;
 * - unquoted expansions are split into words, an unquoted empty expansion
 *   produces no word (so `[ ${unset} ]` is `[ ]`, which is true);
 * - `source`/`configfile` of a missing file fails (status 1) and continues.
 *
 * Files: grub_parse.c (lexer, parser -> AST), grub_expand.c (variables,
 * expansion), grub_exec.c (running the AST), this file (blscfg, menu
 * evaluation, the entry point and the parser table entry); grub-internal.h
 * holds the AST and the interpreter state they share.
 */
#include "internal.h"
#include "bootcfg/grub-internal.h"
#include "fs.h"
#include "log.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* ---- blscfg -------------------------------------------------------------- */

/* Quote a value for inclusion in generated GRUB source keeping $vars live:
 * we only escape characters that would end the word or a quote. */
static void put_word_sq(struct sbuf *b, const char *s)
{
	sb_putc(b, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			sb_puts(b, "'\\''");
		else
			sb_putc(b, *s);
	}
	sb_putc(b, '\'');
}

/* BLS values go into generated GRUB source with $vars live, as GRUB's
 * blscfg does, but characters that would end the command are escaped so a
 * value can never add a command. */
static void put_live(struct sbuf *b, const char *s)
{
	for (; *s; s++) {
		if (strchr(";{}|&<>\n\r", *s))
			sb_putc(b, '\\');
		sb_putc(b, *s == '\n' || *s == '\r' ? ' ' : *s);
	}
}

int grub_run_blscfg(struct interp *in)
{
	struct boot_entries raw = {.default_index = -1};
	const char *dir = bc_exists(in->view, "/loader/entries", true) ? "/loader/entries" :
			  bc_exists(in->view, "/boot/loader/entries", true) ? "/boot/loader/entries" : NULL;
	if (!dir)
		return 1;
	/* bc_bls_load with raw mode: kernel/initrd/options unexpanded ($vars kept). */
	int r = bc_bls_load(in->view, dir, NULL, NULL, &raw);
	if (r < 0) {
		boot_entries_free(&raw);
		return 1;
	}
	for (size_t i = 0; i < raw.n && !in->aborted; i++) {
		struct boot_entry *e = &raw.v[i];
		struct sbuf src = {0};
		int err = 0;
		sb_puts(&src, "menuentry ");
		put_word_sq(&src, e->title ? e->title : "");
		if (e->id) {
			const char *b = strrchr(e->id, '/');
			_cleanup_free_ char *id = xstrdup(b ? b + 1 : e->id);
			size_t l = strlen(id);
			if (l > 5 && streq(id + l - 5, ".conf"))
				id[l - 5] = '\0';
			sb_puts(&src, " --id ");
			put_word_sq(&src, id);
		}
		sb_puts(&src, " {\nlinux ");
		put_word_sq(&src, e->kernel ? e->kernel : "");
		sb_putc(&src, ' ');
		put_live(&src, e->cmdline ? e->cmdline : ""); /* $vars expanded at run time */
		sb_puts(&src, "\n");
		if (e->n_initrd) {
			sb_puts(&src, "initrd");
			for (size_t k = 0; k < e->n_initrd; k++) {
				sb_putc(&src, ' ');
				put_live(&src, e->initrd[k]);
			}
			sb_putc(&src, '\n');
		}
		sb_puts(&src, "}\n");
		_cleanup_free_ char *name = xasprintf("%s (blscfg)", e->id ? e->id : dir);
		struct node *list = grub_parse_text(in, name, sb_str(&src), src.len, &err);
		if (!err)
			grub_exec_list(in, list);
		else
			log_warn("%s: BLS entry not representable, skipped", name);
		sb_free(&src);
	}
	boot_entries_free(&raw);
	return 0;
}

/* ---- menu evaluation ------------------------------------------------------ */

static void menu_free(struct menu *m)
{
	for (size_t i = 0; i < m->n; i++) {
		for (size_t k = 0; k < m->v[i].n_args; k++)
			free(m->v[i].args[k]);
		free(m->v[i].args);
		free(m->v[i].title);
		free(m->v[i].id);
	}
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

struct default_sel {
	char *path; /* resolved numeric path, "1>2" */
};

/* Resolve one component of a default (number, id or title) within menu. */
static long resolve_component(const struct menu *m, const char *c)
{
	unsigned long long k;
	if (*c && strspn(c, "0123456789") == strlen(c) && parse_uint(c, 1000000, &k) == 0)
		return k < m->n ? (long)k : -1;
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].id && streq(m->v[i].id, c))
			return (long)i;
	for (size_t i = 0; i < m->n; i++)
		if (streq(m->v[i].title, c))
			return (long)i;
	return -1;
}

static void eval_menu(struct interp *in, struct menu *m, struct ctx *ctx, const char *title_prefix,
		      const char *path_prefix, const char *default_rest, unsigned level);

static void run_entry(struct interp *in, struct item *it, struct ctx *ctx, const char *title,
		      const char *path)
{
	struct ctx copy;
	struct loader ld = {0};
	grub_ctx_copy(&copy, ctx, false);
	struct ctx *sc = in->ctx;
	char **sv = in->argv;
	size_t sn = in->argc;
	struct menu dummy = {0}, *sm = in->menu;

	in->ctx = &copy;
	in->argv = it->args;
	in->argc = it->n_args;
	in->loader = &ld;
	in->menu = &dummy; /* menuentry inside an entry body: ignored */
	in->depth++;
	grub_exec_list(in, it->body);
	in->depth--;
	in->returning = in->breaking = in->exiting = false;
	in->loader = NULL;
	in->menu = sm;
	menu_free(&dummy);
	in->ctx = sc;
	in->argv = sv;
	in->argc = sn;
	grub_ctx_free(&copy);

	if (ld.any && !in->aborted) {
		struct boot_entry e = {0};
		e.title = xstrdup(title);
		e.kind = ld.kind;
		e.kernel = TAKE_PTR(ld.kernel);
		e.cmdline = bc_collapse(sb_str(&ld.cmdline));
		e.id = xstrdup(path);
		if (ld.kind == BOOT_LINUX) {
			e.initrd = TAKE_PTR(ld.initrd);
			e.n_initrd = ld.n_initrd;
			ld.n_initrd = 0;
		} else {
			e.modules = TAKE_PTR(ld.modules);
			e.n_modules = ld.n_modules;
			ld.n_modules = 0;
		}
		int r = bc_emit(in->view, in->out, &e);
		if (r < 0 && !in->error) {
			in->error = r;
			in->aborted = true;
		}
	}
	grub_loader_reset(&ld);
}

static void eval_menu(struct interp *in, struct menu *m, struct ctx *ctx, const char *title_prefix,
		      const char *path_prefix, const char *default_rest, unsigned level)
{
	(void)default_rest;
	for (size_t i = 0; i < m->n && !in->aborted; i++) {
		struct item *it = &m->v[i];
		_cleanup_free_ char *title = *title_prefix ? xasprintf("%s>%s", title_prefix, it->title)
							   : xstrdup(it->title);
		_cleanup_free_ char *path = *path_prefix ? xasprintf("%s>%zu", path_prefix, i)
							 : xasprintf("%zu", i);
		if (!it->submenu) {
			run_entry(in, it, ctx, title, path);
			continue;
		}
		if (level >= BOOTCFG_MAX_DEPTH) {
			grub_fatal(in, -ELOOP, NULL, 0, "submenus nested too deeply");
			return;
		}
		struct ctx sub;
		struct menu sm = {0}, *saved = in->menu;
		struct ctx *sc = in->ctx;
		char **sv = in->argv;
		size_t sn = in->argc;
		grub_ctx_copy(&sub, ctx, true);
		in->ctx = &sub;
		in->menu = &sm;
		in->argv = it->args;
		in->argc = it->n_args;
		in->depth++;
		grub_exec_list(in, it->body);
		in->depth--;
		in->returning = in->breaking = in->exiting = false;
		in->ctx = sc;
		in->menu = saved;
		in->argv = sv;
		in->argc = sn;
		eval_menu(in, &sm, &sub, title, path, NULL, level + 1);
		menu_free(&sm);
		grub_ctx_free(&sub);
	}
}

/* The default entry: `default` of the top-level context, each '>'-separated
 * component a number, an --id or a title; no match -> entry 0. */
static char *resolve_default(struct interp *in, struct menu *top, struct ctx *ctx)
{
	struct var *v = grub_var_find(ctx, "default");
	const char *def = v ? v->value : "";
	struct sbuf b = {0};
	long k;

	if (top->n == 0)
		return NULL;
	if (!*def) {
		return xstrdup("0");
	}
	/* Only the first level can be resolved without evaluating submenus
	 * again; deeper components are resolved against the emitted ids. */
	_cleanup_free_ char *copy = xstrdup(def);
	char *rest = strchr(copy, '>');
	if (rest)
		*rest++ = '\0';
	k = resolve_component(top, copy);
	if (k < 0)
		return xstrdup("0");
	char tmp[32];
	snprintf(tmp, sizeof(tmp), "%ld", k);
	sb_puts(&b, tmp);
	if (rest && top->v[k].submenu) {
		/* Deeper levels: numeric components are kept; titles are matched
		 * against emitted entry titles by the caller. */
		for (char *c = rest; c && *c;) {
			char *nx = strchr(c, '>');
			if (nx)
				*nx++ = '\0';
			if (strspn(c, "0123456789") == strlen(c)) {
				sb_putc(&b, '>');
				sb_puts(&b, c);
			} else {
				/* match by title among out entries with this prefix */
				bool hit = false;
				for (size_t i = 0; i < in->out->n && !hit; i++) {
					const char *t = in->out->v[i].title;
					const char *last = strrchr(t, '>');
					const char *id = in->out->v[i].id;
					if (last && streq(last + 1, c) && startswith(id, sb_str(&b))) {
						sb_puts(&b, id + b.len);
						hit = true;
					}
				}
				if (!hit)
					sb_puts(&b, ">0");
				break;
			}
			c = nx;
		}
	}
	(void)in;
	return sb_take(&b);
}

static int bc_parse_grub(struct boot_view *view, const char *config, struct boot_entries *l)
{
	struct interp in = {0};
	struct ctx top = {0};
	struct menu menu = {0};
	_cleanup_free_ char *rel = bc_strip_device(config), *def = NULL;
	int r;

	in.view = view;
	in.config = rel;
	in.out = l;
	in.ctx = &top;
	in.menu = &menu;
	{
		const char *sl = strrchr(rel, '/');
		in.prefix = sl && sl != rel ? xstrndup(rel, sl - rel) : xstrdup("");
	}
	grub_var_set(&in, "prefix", in.prefix);
	grub_var_set(&in, "config_directory", in.prefix);
	grub_var_set(&in, "cmdpath", in.prefix);
	grub_var_set(&in, "root", "hd0");
	grub_var_set(&in, "grub_platform", "");
	grub_var_set(&in, "grub_cpu", "");
	grub_var_set(&in, "config_file", rel);

	if (!bc_exists(view, rel, false)) {
		r = log_error_errno(-ENOENT, "%s: not found in %s", rel, boot_view_dir(view));
		goto out;
	}
	grub_run_file(&in, rel, true);
	if (in.error) {
		r = in.error;
		goto out;
	}
	size_t first = l->n;
	in.steps = 0;
	eval_menu(&in, &menu, &top, "", "", NULL, 0);
	if (in.error) {
		r = in.error;
		goto out;
	}
	/* default */
	def = resolve_default(&in, &menu, &top);
	if (def && !l->default_id) {
		l->default_id = TAKE_PTR(def);
		l->default_index = -1;
		for (size_t i = first; i < l->n; i++)
			if (l->v[i].id && streq(l->v[i].id, l->default_id)) {
				l->default_index = (long)i;
				break;
			}
	}
	r = 0;
out:
	menu_free(&menu);
	grub_ctx_free(&top);
	for (size_t i = 0; i < in.n_funcs; i++)
		free(in.funcs[i].name);
	free(in.funcs);
	while (in.nodes) {
		struct node *n = in.nodes;
		in.nodes = n->all_next;
		for (size_t i = 0; i < n->n_words; i++)
			free(n->words[i]);
		free(n->words);
		free(n);
	}
	while (in.files) {
		struct parsed_file *f = in.files;
		in.files = f->next;
		free(f->name);
		free(f->text);
		free(f);
	}
	free(in.prefix);
	return r;
}

/* ---- grubenv --------------------------------------------------------------- */

void bc_parse_grubenv(const char *text, size_t len, bc_env_fn fn, void *ud)
{
	const char *p = text, *end = text + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', end - p);
		const char *le = nl ? nl : end;
		if (p < le && *p != '#') {
			const char *eq = memchr(p, '=', le - p);
			if (eq && eq > p) {
				_cleanup_free_ char *k = xstrndup(p, eq - p);
				struct sbuf v = {0};
				for (const char *q = eq + 1; q < le; q++) {
					if (*q == '\\' && q + 1 < le) {
						q++;
						sb_putc(&v, *q == 'n' ? '\n' : *q);
					} else {
						sb_putc(&v, *q);
					}
				}
				bool ok = true;
				for (const char *c = k; *c; c++)
					if (!is_name((unsigned char)*c))
						ok = false;
				if (ok)
					fn(k, sb_str(&v), ud);
				sb_free(&v);
			}
		}
		p = le + 1;
	}
}

const struct bc_parser bc_parser_grub = {
	.format = BOOTCFG_GRUB,
	.claims = NULL, /* the fallback */
	.parse = bc_parse_grub,
};
