/* bootcfg/grub_parse.c - the GRUB script lexer and parser: text to the AST
 * of grub-internal.h, bounded (see grub.c). */
#include "internal.h"
#include "bootcfg/grub-internal.h"
#include "fs.h"
#include "log.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

void grub_fatal(struct interp *in, int err, const char *file, unsigned line, const char *what)
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
struct node *grub_parse_text(struct interp *in, const char *name, const char *text, size_t len,
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
