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
 */
#include "internal.h"
#include "fs.h"
#include "log.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#define MAX_STEPS 2000000u
#define MAX_LOOP 100000u
#define MAX_WORD (256u * 1024)
#define MAX_VARS 4096u
#define MAX_VALUE (1024u * 1024)
#define MAX_FIELDS 65536u /* words produced by one command */
#define MAX_EXPANDED (16u * 1024 * 1024) /* bytes produced by expansions per parse */

/* ---- AST ------------------------------------------------------------- */

enum node_type { N_SIMPLE, N_IF, N_FOR, N_WHILE, N_UNTIL, N_FUNC, N_MENU };

struct node {
	enum node_type type;
	const char *file;
	unsigned line;
	char **words; /* raw source text of each word */
	size_t n_words, cap_words;
	struct node *cond, *body, *els; /* lists linked through next */
	int menu_kind; /* 0 menuentry, 1 submenu, 2 hiddenentry */
	struct node *next;
	struct node *all_next; /* every node, for freeing */
};

struct parsed_file {
	char *name;
	char *text;
	struct parsed_file *next;
};

struct var {
	char *name, *value;
	bool exported;
};

struct ctx {
	struct var *v;
	size_t n;
};

struct func {
	char *name;
	struct node *body;
};

struct item {
	char *title;
	char **args; /* args[0] = title */
	size_t n_args;
	char *id;
	struct node *body;     /* parsed body */
	bool submenu, hidden;
};

struct menu {
	struct item *v;
	size_t n;
};

struct loader {
	bool any;
	enum boot_kind kind;
	char *kernel;
	struct sbuf cmdline;
	char **initrd;
	size_t n_initrd;
	struct boot_module *modules;
	size_t n_modules;
};

struct interp {
	struct boot_view *view;
	const char *config;
	char *prefix;          /* directory of the top configuration, "/grub" */
	struct ctx *ctx;
	struct func *funcs;
	size_t n_funcs;
	char **argv;           /* positional: argv[0] = $1 */
	size_t argc;
	struct menu *menu;
	struct loader *loader; /* non-NULL while running an entry */
	unsigned steps, depth;
	size_t expanded;
	const char *cur_file; /* command being run, for messages */
	unsigned cur_line;
	int status;
	bool returning, breaking, exiting, aborted;
	int error;             /* fatal bound error */
	struct node *nodes;    /* all nodes */
	struct parsed_file *files;
	unsigned n_files;
	struct boot_entries *out;
};

static void fatal(struct interp *in, int err, const char *file, unsigned line, const char *what)
{
	if (in->error)
		return;
	in->error = err;
	in->aborted = true;
	if (!file) {
		file = in->cur_file;
		line = in->cur_line;
	}
	log_error("%s:%u: %s", file ? file : in->config, line, what);
}

/* ---- lexer/parser ------------------------------------------------------- */

struct parser {
	struct interp *in;
	const char *file;
	const char *s;
	size_t len, pos;
	unsigned line;
	int err;
};

enum tok { T_EOF, T_WORD, T_SEP, T_LBRACE, T_RBRACE };

struct token {
	enum tok type;
	char *raw;
	bool quoted; /* any quoting in the word (not a keyword) */
	unsigned line;
};

static int pc(struct parser *p) { return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1; }
static int pc_at(struct parser *p, size_t off)
{
	return p->pos + off < p->len ? (unsigned char)p->s[p->pos + off] : -1;
}

static void perr(struct parser *p, const char *msg)
{
	if (!p->err) {
		log_error("%s:%u: %s", p->file, p->line, msg);
		p->err = -EINVAL;
	}
}

static bool is_blank(int c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

/* One token. Words keep their raw text (quotes and escapes) for expansion. */
static struct token lex(struct parser *p)
{
	struct token t = {.type = T_EOF};
	struct sbuf b = {0};
	int c;

	for (;;) {
		c = pc(p);
		if (is_blank(c)) {
			p->pos++;
		} else if (c == '\\' && pc_at(p, 1) == '\n') {
			p->pos += 2;
			p->line++;
		} else if (c == '#') {
			while (pc(p) != -1 && pc(p) != '\n')
				p->pos++;
		} else {
			break;
		}
	}
	t.line = p->line;
	c = pc(p);
	if (c == -1)
		return t;
	if (c == '\n' || c == ';') {
		if (c == '\n')
			p->line++;
		p->pos++;
		t.type = T_SEP;
		return t;
	}
	if (c == '{' || c == '}') {
		p->pos++;
		t.type = c == '{' ? T_LBRACE : T_RBRACE;
		return t;
	}
	if (c == '|' || c == '&' || c == '<' || c == '>') {
		p->pos++;
		perr(p, "pipes and redirections are not GRUB script");
		return t; /* T_EOF ends the parse */
	}
	t.type = T_WORD;
	while ((c = pc(p)) != -1) {
		if (is_blank(c) || c == '\n' || c == ';' || c == '{' || c == '}' ||
		    c == '|' || c == '&' || c == '<' || c == '>')
			break;
		if (b.len > MAX_WORD) {
			perr(p, "word too long");
			break;
		}
		if (c == '\\') {
			if (pc_at(p, 1) == '\n') {
				p->pos += 2;
				p->line++;
				continue;
			}
			sb_putc(&b, '\\');
			p->pos++;
			if (pc(p) != -1) {
				sb_putc(&b, (char)pc(p));
				p->pos++;
			}
			t.quoted = true;
		} else if (c == '\'') {
			t.quoted = true;
			sb_putc(&b, '\'');
			p->pos++;
			while (pc(p) != -1 && pc(p) != '\'') {
				if (pc(p) == '\n')
					p->line++;
				sb_putc(&b, (char)pc(p));
				p->pos++;
			}
			if (pc(p) == -1) {
				perr(p, "unterminated single quote");
				break;
			}
			sb_putc(&b, '\'');
			p->pos++;
		} else if (c == '"') {
			t.quoted = true;
			sb_putc(&b, '"');
			p->pos++;
			while (pc(p) != -1 && pc(p) != '"') {
				if (pc(p) == '\\' && pc_at(p, 1) != -1) {
					sb_putc(&b, '\\');
					p->pos++;
				}
				if (pc(p) == '\n')
					p->line++;
				sb_putc(&b, (char)pc(p));
				p->pos++;
			}
			if (pc(p) == -1) {
				perr(p, "unterminated double quote");
				break;
			}
			sb_putc(&b, '"');
			p->pos++;
		} else if (c == '$' && pc_at(p, 1) == '{') {
			/* ${...} may contain braces-free text; copy to '}' */
			while (pc(p) != -1 && pc(p) != '}') {
				if (pc(p) == '\n')
					break;
				sb_putc(&b, (char)pc(p));
				p->pos++;
			}
			if (pc(p) == '}') {
				sb_putc(&b, '}');
				p->pos++;
			}
		} else {
			sb_putc(&b, (char)c);
			p->pos++;
		}
	}
	t.raw = sb_take(&b);
	return t;
}

struct tstream {
	struct parser *p;
	struct token cur;
	bool have;
};

static struct token *peek(struct tstream *ts)
{
	if (!ts->have) {
		ts->cur = lex(ts->p);
		ts->have = true;
	}
	return &ts->cur;
}

static struct token take(struct tstream *ts)
{
	peek(ts);
	ts->have = false;
	return ts->cur;
}

static bool is_kw(const struct token *t, const char *kw)
{
	return t->type == T_WORD && !t->quoted && streq(t->raw, kw);
}

static struct node *new_node(struct parser *p, enum node_type type, unsigned line)
{
	struct node *n = xcalloc(1, sizeof(*n));
	n->type = type;
	n->file = p->file;
	n->line = line;
	n->all_next = p->in->nodes;
	p->in->nodes = n;
	return n;
}

static void node_add_word(struct node *n, char *w)
{
	if (n->n_words == n->cap_words) {
		n->cap_words = n->cap_words ? 2 * n->cap_words : 4;
		n->words = xrealloc(n->words, n->cap_words * sizeof(char *));
	}
	n->words[n->n_words++] = w;
}

static void skip_seps(struct tstream *ts)
{
	while (peek(ts)->type == T_SEP)
		take(ts);
}

static struct node *parse_list(struct tstream *ts, const char *const *terminators, unsigned depth);

static const char *const end_then[] = {"then", NULL};
static const char *const end_if[] = {"elif", "else", "fi", NULL};
static const char *const end_fi[] = {"fi", NULL};
static const char *const end_do[] = {"do", NULL};
static const char *const end_done[] = {"done", NULL};
static const char *const end_brace[] = {"}", NULL};

static bool expect_kw(struct tstream *ts, const char *kw)
{
	struct token *t = peek(ts);
	if (!is_kw(t, kw)) {
		char *m = xasprintf("expected '%s'", kw);
		perr(ts->p, m);
		free(m);
		return false;
	}
	free(take(ts).raw);
	return true;
}

static struct node *parse_if(struct tstream *ts, unsigned line, unsigned depth)
{
	struct node *n = new_node(ts->p, N_IF, line);
	n->cond = parse_list(ts, end_then, depth + 1);
	if (ts->p->err || !expect_kw(ts, "then"))
		return n;
	n->body = parse_list(ts, end_if, depth + 1);
	if (ts->p->err)
		return n;
	struct token *t = peek(ts);
	if (is_kw(t, "elif")) {
		unsigned l = t->line;
		free(take(ts).raw);
		n->els = parse_if(ts, l, depth + 1); /* consumes the fi */
		return n;
	}
	if (is_kw(t, "else")) {
		free(take(ts).raw);
		n->els = parse_list(ts, end_fi, depth + 1);
		if (ts->p->err)
			return n;
	}
	expect_kw(ts, "fi");
	return n;
}

static bool parse_brace_body(struct tstream *ts, struct node *n, unsigned depth)
{
	skip_seps(ts);
	if (peek(ts)->type != T_LBRACE) {
		perr(ts->p, "expected '{'");
		return false;
	}
	take(ts);
	n->body = parse_list(ts, end_brace, depth + 1);
	if (ts->p->err)
		return false;
	if (peek(ts)->type != T_RBRACE) {
		perr(ts->p, "expected '}'");
		return false;
	}
	take(ts);
	return true;
}

static bool at_terminator(struct token *t, const char *const *terms)
{
	if (t->type == T_EOF)
		return true;
	for (size_t i = 0; terms && terms[i]; i++) {
		if (streq(terms[i], "}") ? t->type == T_RBRACE : is_kw(t, terms[i]))
			return true;
	}
	return false;
}

static struct node *parse_command(struct tstream *ts, unsigned depth)
{
	struct token *t = peek(ts);
	unsigned line = t->line;
	struct node *n;

	if (depth > 200) {
		perr(ts->p, "nesting too deep");
		return NULL;
	}
	if (is_kw(t, "if")) {
		free(take(ts).raw);
		return parse_if(ts, line, depth);
	}
	if (is_kw(t, "for")) {
		free(take(ts).raw);
		n = new_node(ts->p, N_FOR, line);
		if (peek(ts)->type != T_WORD) {
			perr(ts->p, "for: expected a name");
			return n;
		}
		node_add_word(n, take(ts).raw);
		if (!expect_kw(ts, "in"))
			return n;
		while (peek(ts)->type == T_WORD && !is_kw(peek(ts), "do"))
			node_add_word(n, take(ts).raw);
		skip_seps(ts);
		if (!expect_kw(ts, "do"))
			return n;
		n->body = parse_list(ts, end_done, depth + 1);
		if (!ts->p->err)
			expect_kw(ts, "done");
		return n;
	}
	if (is_kw(t, "while") || is_kw(t, "until")) {
		n = new_node(ts->p, is_kw(t, "while") ? N_WHILE : N_UNTIL, line);
		free(take(ts).raw);
		n->cond = parse_list(ts, end_do, depth + 1);
		if (ts->p->err || !expect_kw(ts, "do"))
			return n;
		n->body = parse_list(ts, end_done, depth + 1);
		if (!ts->p->err)
			expect_kw(ts, "done");
		return n;
	}
	if (is_kw(t, "function")) {
		free(take(ts).raw);
		n = new_node(ts->p, N_FUNC, line);
		if (peek(ts)->type != T_WORD) {
			perr(ts->p, "function: expected a name");
			return n;
		}
		node_add_word(n, take(ts).raw);
		parse_brace_body(ts, n, depth);
		return n;
	}
	if (is_kw(t, "menuentry") || is_kw(t, "submenu") || is_kw(t, "hiddenentry")) {
		n = new_node(ts->p, N_MENU, line);
		n->menu_kind = is_kw(t, "submenu") ? 1 : is_kw(t, "hiddenentry") ? 2 : 0;
		free(take(ts).raw);
		while (peek(ts)->type == T_WORD)
			node_add_word(n, take(ts).raw);
		parse_brace_body(ts, n, depth);
		return n;
	}
	n = new_node(ts->p, N_SIMPLE, line);
	while (peek(ts)->type == T_WORD)
		node_add_word(n, take(ts).raw);
	if (peek(ts)->type == T_LBRACE) {
		/* A bare block or a word like "a{": GRUB rejects it; skip the block. */
		perr(ts->p, "unexpected '{'");
	}
	return n;
}

static struct node *parse_list(struct tstream *ts, const char *const *terms, unsigned depth)
{
	struct node *head = NULL, **tail = &head;
	for (;;) {
		skip_seps(ts);
		if (ts->p->err)
			break;
		struct token *t = peek(ts);
		if (at_terminator(t, terms))
			break;
		if (t->type == T_RBRACE || t->type == T_LBRACE) {
			perr(ts->p, t->type == T_RBRACE ? "unexpected '}'" : "unexpected '{'");
			break;
		}
		if (t->type == T_WORD && !t->quoted &&
		    (streq(t->raw, "then") || streq(t->raw, "fi") || streq(t->raw, "elif") ||
		     streq(t->raw, "else") || streq(t->raw, "do") || streq(t->raw, "done"))) {
			char *m = xasprintf("unexpected '%s'", t->raw);
			perr(ts->p, m);
			free(m);
			break;
		}
		struct node *n = parse_command(ts, depth);
		if (!n)
			break;
		*tail = n;
		tail = &n->next;
		if (ts->p->err)
			break;
		t = peek(ts);
		if (t->type != T_SEP && !at_terminator(t, terms) && t->type != T_RBRACE) {
			perr(ts->p, "syntax error");
			break;
		}
	}
	return head;
}

/* Parse text of file (name for messages). Returns the list, *err on error. */
static struct node *parse_text(struct interp *in, const char *name, const char *text, size_t len,
			       int *err)
{
	struct parsed_file *pf = xcalloc(1, sizeof(*pf));
	pf->name = xstrdup(name);
	pf->text = xstrndup(text, len);
	pf->next = in->files;
	in->files = pf;
	struct parser p = {.in = in, .file = pf->name, .s = pf->text, .len = strlen(pf->text), .line = 1};
	struct tstream ts = {.p = &p};
	struct node *n = parse_list(&ts, NULL, 0);
	if (!p.err && peek(&ts)->type != T_EOF)
		perr(&p, "unexpected '}'");
	if (ts.have)
		free(ts.cur.raw);
	*err = p.err;
	return n;
}

/* ---- variables ---------------------------------------------------------- */

static struct var *var_find(struct ctx *c, const char *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (streq(c->v[i].name, name))
			return &c->v[i];
	return NULL;
}

static const char *var_get(struct interp *in, const char *name)
{
	struct var *v = var_find(in->ctx, name);
	return v ? v->value : NULL;
}

static void var_set(struct interp *in, const char *name, const char *value)
{
	struct var *v = var_find(in->ctx, name);
	if (strlen(value) > MAX_VALUE) {
		fatal(in, -E2BIG, NULL, 0, "variable value too large");
		return;
	}
	if (v) {
		free(v->value);
		v->value = xstrdup(value);
		return;
	}
	if (in->ctx->n >= MAX_VARS) {
		fatal(in, -E2BIG, NULL, 0, "too many variables");
		return;
	}
	in->ctx->v = xrealloc(in->ctx->v, (in->ctx->n + 1) * sizeof(struct var));
	in->ctx->v[in->ctx->n++] = (struct var){xstrdup(name), xstrdup(value), false};
}

static void var_unset(struct interp *in, const char *name)
{
	struct var *v = var_find(in->ctx, name);
	if (!v)
		return;
	free(v->name);
	free(v->value);
	*v = in->ctx->v[--in->ctx->n];
}

static void ctx_free(struct ctx *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].name);
		free(c->v[i].value);
	}
	free(c->v);
	c->v = NULL;
	c->n = 0;
}

static void ctx_copy(struct ctx *dst, const struct ctx *src, bool exported_only)
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

/* ---- expansion ------------------------------------------------------------ */

struct fields {
	char **v;
	size_t n, cap;
};

static void fields_free(struct fields *f)
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

static bool is_name_start(int c) { return c == '_' || (c < 128 && c >= 0 && isalpha(c)); }
static bool is_name(int c) { return c == '_' || (c < 128 && c >= 0 && isalnum(c)); }

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
static void expand_word(struct interp *in, const char *raw, struct fields *out)
{
	struct expander e = {0};
	const char *p = raw;
	while (*p) {
		if (e.cur.len > MAX_VALUE || e.out.n > MAX_FIELDS) {
			fatal(in, -E2BIG, NULL, 0, "expansion too large");
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
		fatal(in, -E2BIG, NULL, 0, "configuration expands to too much text");
	free(e.out.v);
}

static void expand_words(struct interp *in, char **words, size_t n, struct fields *out)
{
	for (size_t i = 0; i < n && !in->aborted; i++)
		expand_word(in, words[i], out);
}

/* ---- execution -------------------------------------------------------------- */

static int exec_list(struct interp *in, struct node *n);
static int run_file(struct interp *in, const char *path, bool must_exist);

static int cmd_status(bool ok) { return ok ? 0 : 1; }

static bool file_test(struct interp *in, const char *path, int kind)
{
	_cleanup_free_ char *rel = NULL;
	if (!path || !*path)
		return false;
	rel = bc_strip_device(path);
	if (path[0] != '/' && path[0] != '(')
		return false;
	if (fs_has_dotdot(rel))
		return false;
	if (kind == 'd')
		return bc_exists(in->view, rel, true);
	if (kind == 'f')
		return bc_exists(in->view, rel, false);
	if (kind == 's') {
		char *t = NULL;
		size_t l = 0;
		if (!bc_exists(in->view, rel, false) || bc_read(in->view, rel, &t, &l) < 0)
			return false;
		free(t);
		return l > 0;
	}
	return bc_exists(in->view, rel, false) || bc_exists(in->view, rel, true);
}

static bool parse_long(const char *s, long long *v)
{
	char *e;
	errno = 0;
	*v = strtoll(s, &e, 10);
	return errno == 0 && e != s && *e == '\0';
}

/* test expression over args[*i .. n) */
static bool test_primary(struct interp *in, char **a, size_t n, size_t *i)
{
	if (*i >= n)
		return true;
	if (streq(a[*i], "!")) {
		(*i)++;
		return !test_primary(in, a, n, i);
	}
	if (streq(a[*i], "(")) {
		(*i)++;
		bool r = test_primary(in, a, n, i);
		while (*i < n && (streq(a[*i], "-a") || streq(a[*i], "-o"))) {
			bool and = streq(a[*i], "-a");
			(*i)++;
			bool r2 = test_primary(in, a, n, i);
			r = and ? (r && r2) : (r || r2);
		}
		if (*i < n && streq(a[*i], ")"))
			(*i)++;
		return r;
	}
	/* binary */
	if (*i + 2 < n) {
		const char *op = a[*i + 1];
		{
			const char *l = a[*i], *r = a[*i + 2];
			long long x, y;
			int res = -1;
			if (streq(op, "=") || streq(op, "=="))
				res = streq(l, r);
			else if (streq(op, "!="))
				res = !streq(l, r);
			else if (streq(op, "<"))
				res = strcmp(l, r) < 0;
			else if (streq(op, ">"))
				res = strcmp(l, r) > 0;
			else if (streq(op, "<="))
				res = strcmp(l, r) <= 0;
			else if (streq(op, ">="))
				res = strcmp(l, r) >= 0;
			else if (op[0] == '-' && (streq(op, "-eq") || streq(op, "-ne") || streq(op, "-lt") ||
						  streq(op, "-le") || streq(op, "-gt") || streq(op, "-ge"))) {
				bool ok = parse_long(l, &x) && parse_long(r, &y);
				if (!ok)
					x = y = 0;
				res = streq(op, "-eq") ? x == y : streq(op, "-ne") ? x != y :
				      streq(op, "-lt") ? x < y : streq(op, "-le") ? x <= y :
				      streq(op, "-gt") ? x > y : x >= y;
			}
			if (res >= 0) {
				*i += 3;
				return res;
			}
		}
	}
	const char *w = a[*i];
	if (w[0] == '-' && w[1] && !w[2] && strchr("zndfes", w[1]) && *i + 1 < n) {
		const char *arg = a[*i + 1];
		*i += 2;
		switch (w[1]) {
		case 'z': return arg[0] == '\0';
		case 'n': return arg[0] != '\0';
		default: return file_test(in, arg, w[1]);
		}
	}
	(*i)++;
	return w[0] != '\0';
}

static bool test_eval(struct interp *in, char **a, size_t n)
{
	size_t i = 0;
	if (n == 0)
		return true;
	bool r = test_primary(in, a, n, &i);
	while (i < n) {
		if (streq(a[i], "-a") || streq(a[i], "-o")) {
			bool and = streq(a[i], "-a");
			i++;
			bool r2 = test_primary(in, a, n, &i);
			r = and ? (r && r2) : (r || r2);
		} else {
			i++;
		}
	}
	return r;
}

static struct func *func_find(struct interp *in, const char *name)
{
	for (size_t i = 0; i < in->n_funcs; i++)
		if (streq(in->funcs[i].name, name))
			return &in->funcs[i];
	return NULL;
}

static void loader_reset(struct loader *l)
{
	free(l->kernel);
	l->kernel = NULL;
	sb_free(&l->cmdline);
	for (size_t i = 0; i < l->n_initrd; i++)
		free(l->initrd[i]);
	free(l->initrd);
	l->initrd = NULL;
	l->n_initrd = 0;
	for (size_t i = 0; i < l->n_modules; i++) {
		free(l->modules[i].path);
		free(l->modules[i].args);
	}
	free(l->modules);
	l->modules = NULL;
	l->n_modules = 0;
	l->any = false;
}

static char *join_from(char **v, size_t n, size_t from)
{
	struct sbuf b = {0};
	for (size_t i = from; i < n; i++) {
		if (b.len)
			sb_putc(&b, ' ');
		sb_puts(&b, v[i]);
	}
	char *s = sb_take(&b), *c = bc_collapse(s);
	free(s);
	return c;
}


static int do_loader(struct interp *in, const char *cmd, char **a, size_t n)
{
	struct loader *l = in->loader;
	if (!l)
		return 0; /* outside an entry: nothing to record */
	size_t i = 1;
	if (startswith(cmd, "linux")) {
		while (i < n && startswith(a[i], "--"))
			i++;
		if (i >= n)
			return 1;
		loader_reset(l);
		l->any = true;
		l->kind = BOOT_LINUX;
		l->kernel = bc_strip_device(a[i]);
		char *c = join_from(a, n, i + 1);
		sb_puts(&l->cmdline, c);
		free(c);
		return 0;
	}
	if (startswith(cmd, "initrd")) {
		for (size_t k = 0; k < l->n_initrd; k++)
			free(l->initrd[k]);
		l->n_initrd = 0;
		for (; i < n; i++) {
			if (startswith(a[i], "--"))
				continue;
			l->initrd = xrealloc(l->initrd, (l->n_initrd + 1) * sizeof(char *));
			l->initrd[l->n_initrd++] = bc_strip_device(a[i]);
		}
		return 0;
	}
	if (startswith(cmd, "multiboot")) {
		while (i < n && startswith(a[i], "--"))
			i++;
		if (i >= n)
			return 1;
		loader_reset(l);
		l->any = true;
		l->kernel = bc_strip_device(a[i]);
		l->kind = is_xen_name(l->kernel) ? BOOT_XEN : BOOT_MULTIBOOT;
		char *c = join_from(a, n, i + 1);
		sb_puts(&l->cmdline, c);
		free(c);
		return 0;
	}
	if (startswith(cmd, "module")) {
		bool nounzip = false;
		for (; i < n && startswith(a[i], "--"); i++)
			nounzip = nounzip || streq(a[i], "--nounzip");
		if (i >= n)
			return 1;
		l->modules = xrealloc(l->modules, (l->n_modules + 1) * sizeof(struct boot_module));
		l->modules[l->n_modules].path = bc_strip_device(a[i]);
		l->modules[l->n_modules].args = join_from(a, n, i + 1);
		l->modules[l->n_modules].nounzip = nounzip;
		l->n_modules++;
		return 0;
	}
	return 0;
}

static void env_set_cb(const char *key, const char *value, void *ud)
{
	struct interp *in = ud;
	var_set(in, key, value);
}

struct env_filter {
	struct interp *in;
	char **names;
	size_t n;
};

static void env_filter_cb(const char *key, const char *value, void *ud)
{
	struct env_filter *f = ud;
	for (size_t i = 0; i < f->n; i++)
		if (streq(f->names[i], key))
			var_set(f->in, key, value);
}

static int do_load_env(struct interp *in, char **a, size_t n)
{
	_cleanup_free_ char *file = NULL, *text = NULL;
	struct env_filter f = {.in = in};
	size_t len;
	for (size_t i = 1; i < n; i++) {
		if ((streq(a[i], "-f") || streq(a[i], "--file")) && i + 1 < n) {
			free(file);
			file = xstrdup(a[++i]);
		} else if (startswith(a[i], "--file=")) {
			free(file);
			file = xstrdup(a[i] + 7);
		} else if (startswith(a[i], "-")) {
			continue;
		} else {
			f.names = &a[i];
			f.n = n - i;
			break;
		}
	}
	if (!file)
		file = xasprintf("%s/grubenv", in->prefix);
	_cleanup_free_ char *rel = bc_strip_device(file);
	if (fs_has_dotdot(rel) || !bc_exists(in->view, rel, false))
		return 1;
	if (bc_read(in->view, rel, &text, &len) < 0)
		return 1;
	if (f.n)
		bc_parse_grubenv(text, len, env_filter_cb, &f);
	else
		bc_parse_grubenv(text, len, env_set_cb, in);
	return 0;
}

static int do_search(struct interp *in, char **a, size_t n, const char *cmd)
{
	const char *var = "root";
	int kind = 'f';
	bool have_key = false, found = false;
	if (streq(cmd, "search.fs_uuid"))
		kind = 'u';
	else if (streq(cmd, "search.fs_label"))
		kind = 'l';
	if (!streq(cmd, "search")) {
		/* search.x KEY [VAR] */
		if (n < 2)
			return 1;
		if (n >= 3)
			var = a[2];
		have_key = true;
		found = kind != 'f' || file_test(in, a[1], 'e');
		if (found)
			var_set(in, var, "hd0");
		return cmd_status(found);
	}
	for (size_t i = 1; i < n; i++) {
		const char *w = a[i];
		if (streq(w, "-f") || streq(w, "--file"))
			kind = 'f';
		else if (streq(w, "-l") || streq(w, "--label"))
			kind = 'l';
		else if (streq(w, "-u") || streq(w, "--fs-uuid"))
			kind = 'u';
		else if (startswith(w, "--set="))
			var = w + 6;
		else if (streq(w, "--set") || streq(w, "-s"))
			var = "root";
		else if (startswith(w, "-"))
			continue;
		else {
			have_key = true;
			if (kind == 'f' ? file_test(in, w, 'e') : w[0] != '\0')
				found = true;
		}
	}
	if (!have_key)
		return 1;
	if (found && var[0])
		var_set(in, var, "hd0");
	return cmd_status(found);
}

static int run_blscfg(struct interp *in);

static int exec_simple(struct interp *in, struct node *nd)
{
	struct fields f = {0};
	int st = 0;

	/* name=value assignment */
	if (nd->n_words >= 1) {
		const char *w = nd->words[0];
		size_t k = 0;
		if (is_name_start((unsigned char)w[0])) {
			while (is_name((unsigned char)w[k]))
				k++;
			if (w[k] == '=') {
				_cleanup_free_ char *name = xstrndup(w, k);
				expand_word(in, w + k + 1, &f);
				_cleanup_free_ char *val = join_from(f.v, f.n, 0);
				/* keep internal spacing of a single field */
				var_set(in, name, f.n == 1 ? f.v[0] : val);
				fields_free(&f);
				return 0;
			}
		}
	}
	expand_words(in, nd->words, nd->n_words, &f);
	if (in->aborted || f.n == 0) {
		fields_free(&f);
		return 0;
	}
	const char *cmd = f.v[0];
	char **a = f.v;
	size_t n = f.n;

	if (streq(cmd, "set")) {
		for (size_t i = 1; i < n; i++) {
			char *eq = strchr(a[i], '=');
			if (!eq)
				continue;
			*eq = '\0';
			var_set(in, a[i], eq + 1);
		}
	} else if (streq(cmd, "export")) {
		for (size_t i = 1; i < n; i++) {
			struct var *v = var_find(in->ctx, a[i]);
			if (!v) {
				var_set(in, a[i], "");
				v = var_find(in->ctx, a[i]);
			}
			if (v)
				v->exported = true;
		}
	} else if (streq(cmd, "unset")) {
		for (size_t i = 1; i < n; i++)
			var_unset(in, a[i]);
	} else if (streq(cmd, "true") || streq(cmd, ":")) {
		st = 0;
	} else if (streq(cmd, "false")) {
		st = 1;
	} else if (streq(cmd, "test") || streq(cmd, "[")) {
		size_t m = n;
		if (streq(cmd, "[") && m > 1 && streq(a[m - 1], "]"))
			m--;
		st = cmd_status(test_eval(in, a + 1, m - 1));
	} else if (streq(cmd, "source") || streq(cmd, ".") || streq(cmd, "configfile") ||
		   streq(cmd, "extract_entries_source") || streq(cmd, "extract_entries_configfile")) {
		st = n >= 2 ? run_file(in, a[1], false) : 1;
	} else if (streq(cmd, "load_env")) {
		st = do_load_env(in, a, n);
	} else if (startswith(cmd, "search")) {
		st = do_search(in, a, n, cmd);
	} else if (streq(cmd, "probe")) {
		st = 1; /* device properties are unknown here */
	} else if (streq(cmd, "blscfg")) {
		st = run_blscfg(in);
	} else if (startswith(cmd, "linux") || startswith(cmd, "initrd") ||
		   startswith(cmd, "multiboot") || startswith(cmd, "module")) {
		st = do_loader(in, cmd, a, n);
	} else if (streq(cmd, "return")) {
		long long v = 0;
		if (n > 1 && parse_long(a[1], &v))
			st = (int)(v & 0xff);
		else
			st = in->status;
		in->returning = true;
	} else if (streq(cmd, "break")) {
		in->breaking = true;
	} else if (streq(cmd, "exit")) {
		in->exiting = true;
	} else if (streq(cmd, "shift")) {
		if (in->argc > 0) {
			in->argv++;
			in->argc--;
		}
	} else if (func_find(in, cmd)) {
		struct func *fn = func_find(in, cmd);
		if (in->depth >= BOOTCFG_MAX_DEPTH * 4) {
			fatal(in, -ELOOP, nd->file, nd->line, "function calls nested too deeply");
		} else {
			char **sv = in->argv;
			size_t sc = in->argc;
			in->argv = a + 1;
			in->argc = n - 1;
			in->depth++;
			st = exec_list(in, fn->body);
			in->depth--;
			in->returning = false;
			in->argv = sv;
			in->argc = sc;
		}
	} else if (streq(cmd, "insmod") || streq(cmd, "echo") || startswith(cmd, "terminal") ||
		   streq(cmd, "serial") || streq(cmd, "loadfont") || streq(cmd, "save_env") ||
		   streq(cmd, "set_background_image") || streq(cmd, "background_image") ||
		   streq(cmd, "play") || streq(cmd, "clear") || streq(cmd, "boot") ||
		   streq(cmd, "chainloader") || streq(cmd, "devicetree") || streq(cmd, "sleep") ||
		   streq(cmd, "gfxmode") || streq(cmd, "password") || streq(cmd, "password_pbkdf2") ||
		   streq(cmd, "keystatus") || streq(cmd, "loopback") || streq(cmd, "reboot") ||
		   streq(cmd, "halt") || streq(cmd, "fwsetup") || streq(cmd, "terminfo") ||
		   streq(cmd, "videoinfo") || streq(cmd, "font") || streq(cmd, "cat") ||
		   streq(cmd, "ls") || streq(cmd, "lsmod") || streq(cmd, "hwmatch") ||
		   streq(cmd, "increment") || streq(cmd, "decrement") || streq(cmd, "gettext") ||
		   streq(cmd, "pager") || streq(cmd, "tr") || streq(cmd, "smbios")) {
		st = 0;
	} else {
		st = 1; /* unknown command: GRUB reports an error and continues */
	}
	fields_free(&f);
	return st;
}

static int exec_node(struct interp *in, struct node *nd);

static int exec_list(struct interp *in, struct node *n)
{
	int st = 0;
	for (; n && !in->aborted && !in->returning && !in->breaking && !in->exiting; n = n->next) {
		st = exec_node(in, n);
		in->status = st;
	}
	return st;
}

static int add_menu_item(struct interp *in, struct node *nd)
{
	struct fields f = {0};
	struct item it = {0};
	expand_words(in, nd->words, nd->n_words, &f);
	for (size_t i = 0; i < f.n; i++) {
		const char *w = f.v[i];
		if (streq(w, "--class") || streq(w, "--users") || streq(w, "--hotkey") ||
		    streq(w, "--id") || streq(w, "--source")) {
			if (i + 1 < f.n) {
				if (streq(w, "--id")) {
					free(it.id);
					it.id = xstrdup(f.v[i + 1]);
				}
				i++;
			}
			continue;
		}
		if (startswith(w, "--id=")) {
			free(it.id);
			it.id = xstrdup(w + 5);
			continue;
		}
		if (startswith(w, "--") && (strchr(w, '=') || streq(w, "--unrestricted")))
			continue;
		if ((it.n_args & (it.n_args - 1)) == 0) /* grow at powers of two */
			it.args = xrealloc(it.args, (it.n_args ? 2 * it.n_args : 1) * sizeof(char *));
		it.args[it.n_args++] = xstrdup(w);
	}
	fields_free(&f);
	if (it.n_args == 0) {
		free(it.id);
		return 1; /* GRUB: "menuentry: missing arguments" */
	}
	if (nd->menu_kind == 2) {
		/* hiddenentry: reachable by hotkey only, not part of the menu
		 * (GRUB does not count it for `default`). */
		for (size_t i = 0; i < it.n_args; i++)
			free(it.args[i]);
		free(it.args);
		free(it.id);
		return 0;
	}
	it.title = xstrdup(it.args[0]);
	it.body = nd->body;
	it.submenu = nd->menu_kind == 1;
	it.hidden = nd->menu_kind == 2;
	if (in->menu->n >= BOOTCFG_MAX_ENTRIES) {
		fatal(in, -E2BIG, nd->file, nd->line, "too many menu entries");
		for (size_t i = 0; i < it.n_args; i++)
			free(it.args[i]);
		free(it.args);
		free(it.title);
		free(it.id);
		return 1;
	}
	in->menu->v = xrealloc(in->menu->v, (in->menu->n + 1) * sizeof(struct item));
	in->menu->v[in->menu->n++] = it;
	return 0;
}

static int exec_node(struct interp *in, struct node *nd)
{
	if (++in->steps > MAX_STEPS) {
		fatal(in, -E2BIG, nd->file, nd->line, "configuration runs too long (step limit)");
		return 1;
	}
	in->cur_file = nd->file;
	in->cur_line = nd->line;
	switch (nd->type) {
	case N_SIMPLE:
		return exec_simple(in, nd);
	case N_IF: {
		int c = exec_list(in, nd->cond);
		if (in->aborted || in->returning || in->exiting || in->breaking)
			return c;
		if (c == 0)
			return exec_list(in, nd->body);
		if (nd->els)
			return exec_list(in, nd->els);
		return 0;
	}
	case N_FOR: {
		struct fields f = {0};
		int st = 0;
		expand_words(in, nd->words + 1, nd->n_words - 1, &f);
		for (size_t i = 0; i < f.n && !in->aborted; i++) {
			if (i >= MAX_LOOP) {
				fatal(in, -E2BIG, nd->file, nd->line, "loop limit reached");
				break;
			}
			var_set(in, nd->words[0], f.v[i]);
			st = exec_list(in, nd->body);
			if (in->breaking) {
				in->breaking = false;
				break;
			}
			if (in->returning || in->exiting)
				break;
		}
		fields_free(&f);
		return st;
	}
	case N_WHILE:
	case N_UNTIL: {
		int st = 0;
		for (unsigned i = 0; !in->aborted; i++) {
			if (i >= MAX_LOOP) {
				fatal(in, -E2BIG, nd->file, nd->line, "loop limit reached");
				break;
			}
			int c = exec_list(in, nd->cond);
			if (in->returning || in->exiting || in->aborted)
				break;
			if ((c == 0) != (nd->type == N_WHILE))
				break;
			st = exec_list(in, nd->body);
			if (in->breaking) {
				in->breaking = false;
				break;
			}
			if (in->returning || in->exiting)
				break;
		}
		return st;
	}
	case N_FUNC: {
		struct fields f = {0};
		expand_word(in, nd->words[0], &f);
		if (f.n == 1) {
			struct func *fn = func_find(in, f.v[0]);
			if (fn) {
				fn->body = nd->body;
			} else {
				in->funcs = xrealloc(in->funcs, (in->n_funcs + 1) * sizeof(struct func));
				in->funcs[in->n_funcs++] = (struct func){xstrdup(f.v[0]), nd->body};
			}
		}
		fields_free(&f);
		return 0;
	}
	case N_MENU:
		return add_menu_item(in, nd);
	}
	return 0;
}

/* Run a configuration file (path as written in the config). */
static int run_file(struct interp *in, const char *path, bool must_exist)
{
	_cleanup_free_ char *rel = NULL, *text = NULL;
	size_t len;
	int r, err = 0;

	if (path[0] != '/' && path[0] != '(')
		rel = xasprintf("%s/%s", in->prefix, path);
	else
		rel = bc_strip_device(path);
	if (fs_has_dotdot(rel))
		return 1;
	if (!bc_exists(in->view, rel, false)) {
		if (must_exist) {
			log_error("%s: not found in %s", rel, boot_view_dir(in->view));
			in->error = -ENOENT;
			in->aborted = true;
		} else {
			log_debug("%s: source of a missing file skipped", rel);
		}
		return 1;
	}
	if (in->depth >= BOOTCFG_MAX_DEPTH) {
		fatal(in, -ELOOP, rel, 0, "source/configfile nested too deeply (loop?)");
		return 1;
	}
	if (++in->n_files > 256) {
		fatal(in, -E2BIG, rel, 0, "too many configuration files sourced");
		return 1;
	}
	r = bc_read(in->view, rel, &text, &len);
	if (r < 0) {
		if (r == -EFBIG || must_exist) {
			in->error = r;
			in->aborted = true;
		}
		return 1;
	}
	if (strlen(text) != len) {
		log_warn("%s: NUL byte in configuration, ignored from there", rel);
		len = strlen(text);
	}
	struct node *list = parse_text(in, rel, text, len, &err);
	if (err) {
		/* GRUB refuses a file with a syntax error as a whole. */
		if (must_exist) {
			in->error = err;
			in->aborted = true;
		}
		return 1;
	}
	in->depth++;
	int st = exec_list(in, list);
	in->depth--;
	in->returning = false;
	return st;
}

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

static int run_blscfg(struct interp *in)
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
		struct node *list = parse_text(in, name, sb_str(&src), src.len, &err);
		if (!err)
			exec_list(in, list);
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
	ctx_copy(&copy, ctx, false);
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
	exec_list(in, it->body);
	in->depth--;
	in->returning = in->breaking = in->exiting = false;
	in->loader = NULL;
	in->menu = sm;
	menu_free(&dummy);
	in->ctx = sc;
	in->argv = sv;
	in->argc = sn;
	ctx_free(&copy);

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
	loader_reset(&ld);
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
			fatal(in, -ELOOP, NULL, 0, "submenus nested too deeply");
			return;
		}
		struct ctx sub;
		struct menu sm = {0}, *saved = in->menu;
		struct ctx *sc = in->ctx;
		char **sv = in->argv;
		size_t sn = in->argc;
		ctx_copy(&sub, ctx, true);
		in->ctx = &sub;
		in->menu = &sm;
		in->argv = it->args;
		in->argc = it->n_args;
		in->depth++;
		exec_list(in, it->body);
		in->depth--;
		in->returning = in->breaking = in->exiting = false;
		in->ctx = sc;
		in->menu = saved;
		in->argv = sv;
		in->argc = sn;
		eval_menu(in, &sm, &sub, title, path, NULL, level + 1);
		menu_free(&sm);
		ctx_free(&sub);
	}
}

/* The default entry: `default` of the top-level context, each '>'-separated
 * component a number, an --id or a title; no match -> entry 0. */
static char *resolve_default(struct interp *in, struct menu *top, struct ctx *ctx)
{
	struct var *v = var_find(ctx, "default");
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

int bc_parse_grub(struct boot_view *view, const char *config, struct boot_entries *l)
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
	var_set(&in, "prefix", in.prefix);
	var_set(&in, "config_directory", in.prefix);
	var_set(&in, "cmdpath", in.prefix);
	var_set(&in, "root", "hd0");
	var_set(&in, "grub_platform", "");
	var_set(&in, "grub_cpu", "");
	var_set(&in, "config_file", rel);

	if (!bc_exists(view, rel, false)) {
		r = log_error_errno(-ENOENT, "%s: not found in %s", rel, boot_view_dir(view));
		goto out;
	}
	run_file(&in, rel, true);
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
	ctx_free(&top);
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
