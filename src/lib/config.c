#include "config.h"
#include "fs.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

/* One parsed assignment with the byte span of its statement. */
struct assignment {
	char *key;
	char *value;
	unsigned line;
	size_t start, end; /* [start, end) including the trailing newline */
};

struct parser {
	const char *buf;
	size_t len, pos;
	unsigned line;
	const char *name;
	char *error;
};

static int perr(struct parser *p, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int perr(struct parser *p, unsigned line, const char *fmt, ...)
{
	va_list ap;
	char *msg;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	va_end(ap);
	free(p->error);
	p->error = xasprintf("%s:%u: %s", p->name, line, msg);
	free(msg);
	return -EINVAL;
}

static int peek(const struct parser *p)
{
	return p->pos < p->len ? (unsigned char)p->buf[p->pos] : -1;
}

static int next(struct parser *p)
{
	int c = peek(p);
	if (c < 0)
		return c;
	p->pos++;
	if (c == '\n')
		p->line++;
	return c;
}

static bool is_blank(int c) { return c == ' ' || c == '\t' || c == '\r'; }

static void skip_blanks(struct parser *p)
{
	while (is_blank(peek(p)))
		next(p);
}

static void skip_to_eol(struct parser *p)
{
	while (peek(p) >= 0 && peek(p) != '\n')
		next(p);
}

struct strbuf {
	char *s;
	size_t n, cap;
};

static void sb_put(struct strbuf *b, char c)
{
	if (b->n + 1 >= b->cap) {
		b->cap = b->cap ? b->cap * 2 : 64;
		b->s = xrealloc(b->s, b->cap);
	}
	b->s[b->n++] = c;
	b->s[b->n] = '\0';
}

#define EXPANSION_REFUSED                                                                   \
	"'%c' would be expanded by a shell; expansion is not supported (use single quotes for a literal)"

/* The inside of a word quoted with q (' or "), from its opening quote,
 * appended to v; stops early once v is over CONFIG_MAX_VALUE (the caller
 * checks). Inside "...", $ and ` are refused and \ escapes $ ` " \ and a
 * newline, as sh does; '...' is literal. */
static int parse_quoted(struct parser *p, int q, struct strbuf *v)
{
	unsigned open_line = p->line;
	int c;

	next(p);
	for (;;) {
		c = next(p);
		if (c < 0)
			return perr(p, open_line, q == '"' ? "unterminated double quote" :
							     "unterminated single quote");
		if (c == q)
			return 0;
		if (c == 0)
			return perr(p, p->line, "NUL byte in value");
		if (q == '"' && (c == '$' || c == '`'))
			return perr(p, p->line, EXPANSION_REFUSED, c);
		if (q == '"' && c == '\\') {
			int d = peek(p);
			if (d == '$' || d == '`' || d == '"' || d == '\\') {
				sb_put(v, (char)next(p));
				continue;
			}
			if (d == '\n') {
				next(p);
				continue;
			}
		}
		sb_put(v, (char)c);
		if (v->n > CONFIG_MAX_VALUE)
			return 0;
	}
}

static int parse_value(struct parser *p, unsigned stmt_line, char **ret)
{
	struct strbuf v = {0};
	int c;

	sb_put(&v, 'x');
	v.n = 0;
	v.s[0] = '\0';
	for (;;) {
		c = peek(p);
		if (c < 0 || c == '\n' || is_blank(c))
			break;
		if (v.n > CONFIG_MAX_VALUE) {
			free(v.s);
			return perr(p, stmt_line, "value longer than %d bytes", CONFIG_MAX_VALUE);
		}
		if (c == '\'' || c == '"') {
			int r = parse_quoted(p, c, &v);
			if (r < 0) {
				free(v.s);
				return r;
			}
		} else if (c == '\\') {
			next(p);
			c = next(p);
			if (c < 0) {
				free(v.s);
				return perr(p, p->line, "backslash at end of file");
			}
			if (c != '\n')
				sb_put(&v, (char)c);
		} else if (c == '$' || c == '`') {
			free(v.s);
			return perr(p, p->line, EXPANSION_REFUSED, c);
		} else if (c == ';' || c == '&' || c == '|' || c == '<' || c == '>' ||
			   c == '(' || c == ')') {
			free(v.s);
			return perr(p, p->line, "unquoted '%c' in value (shell syntax is not supported)", c);
		} else if (c == 0) {
			free(v.s);
			return perr(p, p->line, "NUL byte in value");
		} else {
			sb_put(&v, (char)next(p));
		}
	}
	if (v.n > CONFIG_MAX_VALUE) {
		free(v.s);
		return perr(p, stmt_line, "value longer than %d bytes", CONFIG_MAX_VALUE);
	}
	*ret = v.s;
	return 0;
}

static bool is_ident_start(int c) { return c == '_' || (c >= 0 && c < 128 && isalpha(c)); }
static bool is_ident(int c) { return c == '_' || (c >= 0 && c < 128 && isalnum(c)); }

bool config_key_valid(const char *key)
{
	if (!key || !is_ident_start((unsigned char)*key))
		return false;
	for (const char *k = key; *k; k++)
		if (!is_ident((unsigned char)*k))
			return false;
	return true;
}

static void free_assignments(struct assignment *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(a[i].key);
		free(a[i].value);
	}
	free(a);
}

/* Parse the whole buffer into assignments with spans. */
static int parse_all(const char *name, const char *buf, size_t len,
		     struct assignment **ret, size_t *ret_n, char **ret_error)
{
	struct parser p = {.buf = buf, .len = len, .line = 1, .name = name};
	struct assignment *a = NULL;
	size_t n = 0;
	int r = 0;

	if (memchr(buf, '\0', len)) {
		const char *z = memchr(buf, '\0', len);
		unsigned line = 1;
		for (const char *q = buf; q < z; q++)
			line += *q == '\n';
		r = perr(&p, line, "NUL byte");
		goto fail;
	}
	for (;;) {
		size_t start;
		unsigned stmt_line;
		struct strbuf key = {0};
		char *value = NULL;
		int c;

		/* Statement start is the beginning of its line. */
		start = p.pos;
		skip_blanks(&p);
		c = peek(&p);
		if (c < 0)
			break;
		if (c == '\n') {
			next(&p);
			continue;
		}
		if (c == '#') {
			skip_to_eol(&p);
			continue;
		}
		stmt_line = p.line;
		if (p.len - p.pos > 6 && memcmp(p.buf + p.pos, "export", 6) == 0 &&
		    is_blank((unsigned char)p.buf[p.pos + 6])) {
			p.pos += 6;
			skip_blanks(&p);
		}
		if (!is_ident_start(peek(&p))) {
			r = perr(&p, stmt_line, "expected KEY=value");
			goto fail;
		}
		while (is_ident(peek(&p))) {
			sb_put(&key, (char)next(&p));
			if (key.n > 256) {
				free(key.s);
				r = perr(&p, stmt_line, "key too long");
				goto fail;
			}
		}
		if (peek(&p) != '=') {
			free(key.s);
			r = perr(&p, stmt_line, "expected '=' after the key (KEY=value)");
			goto fail;
		}
		next(&p);
		r = parse_value(&p, stmt_line, &value);
		if (r < 0) {
			free(key.s);
			goto fail;
		}
		skip_blanks(&p);
		c = peek(&p);
		if (c == '#') {
			skip_to_eol(&p);
			c = peek(&p);
		}
		if (c >= 0 && c != '\n') {
			free(key.s);
			free(value);
			r = perr(&p, p.line, "unexpected text after the value");
			goto fail;
		}
		if (c == '\n')
			next(&p);
		if (n >= CONFIG_MAX_ENTRIES) {
			free(key.s);
			free(value);
			r = perr(&p, stmt_line, "more than %d assignments", CONFIG_MAX_ENTRIES);
			goto fail;
		}
		a = xrealloc(a, (n + 1) * sizeof(*a));
		a[n++] = (struct assignment){
			.key = key.s, .value = value, .line = stmt_line,
			.start = start, .end = p.pos,
		};
	}
	*ret = a;
	*ret_n = n;
	return 0;
fail:
	free_assignments(a, n);
	if (ret_error)
		*ret_error = TAKE_PTR(p.error);
	free(p.error);
	return r;
}

void config_init(struct config *c)
{
	c->entries = NULL;
	c->n = 0;
}

void config_free(struct config *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->entries[i].key);
		free(c->entries[i].value);
		free(c->entries[i].file);
	}
	free(c->entries);
	config_init(c);
}

int config_parse(struct config *c, const char *name, const char *buf, size_t len,
		 char **ret_error)
{
	struct assignment *a;
	size_t n;
	int r = parse_all(name, buf, len, &a, &n, ret_error);
	if (r < 0)
		return r;
	if (c->n + n > CONFIG_MAX_ENTRIES) {
		free_assignments(a, n);
		if (ret_error)
			*ret_error = xasprintf("%s: more than %d assignments in all", name,
					       CONFIG_MAX_ENTRIES);
		return -EINVAL;
	}
	c->entries = xrealloc(c->entries, (c->n + n + 1) * sizeof(*c->entries));
	for (size_t i = 0; i < n; i++)
		c->entries[c->n++] = (struct config_entry){
			.key = a[i].key, .value = a[i].value,
			.file = xstrdup(name), .line = a[i].line,
		};
	free(a);
	return 0;
}

int config_load(struct config *c, const char *path, char **ret_error)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r = fs_read_file(path, FS_SMALL_FILE_MAX, &buf, &len);
	if (r < 0) {
		if (r != -ENOENT && ret_error)
			*ret_error = xasprintf("%s: %s", path, strerror(-r));
		return r;
	}
	return config_parse(c, path, buf, len, ret_error);
}

const char *config_get(const struct config *c, const char *key)
{
	for (size_t i = c->n; i > 0; i--)
		if (streq(c->entries[i - 1].key, key))
			return c->entries[i - 1].value;
	return NULL;
}

bool config_enabled(const struct config *c, const char *key)
{
	const char *v = config_get(c, key);
	return v && streq(v, "y");
}

static int cmp_entry_key(const void *a, const void *b)
{
	const struct config_entry *const *x = a, *const *y = b;
	return strcmp((*x)->key, (*y)->key);
}

size_t config_effective(const struct config *c, const struct config_entry ***ret)
{
	const struct config_entry **v = xcalloc(c->n + 1, sizeof(*v));
	size_t n = 0;
	/* Walk backwards so the first one seen per key is the winner. */
	for (size_t i = c->n; i > 0; i--) {
		const struct config_entry *e = &c->entries[i - 1];
		bool seen = false;
		for (size_t j = 0; j < n && !seen; j++)
			seen = streq(v[j]->key, e->key);
		if (!seen)
			v[n++] = e;
	}
	qsort(v, n, sizeof(*v), cmp_entry_key);
	*ret = v;
	return n;
}

char *config_quote(const char *value)
{
	size_t n = strlen(value);
	char *out = xmalloc(2 * n + 3), *o = out;
	*o++ = '"';
	for (const char *s = value; *s; s++) {
		if (*s == '$' || *s == '`' || *s == '"' || *s == '\\')
			*o++ = '\\';
		*o++ = *s;
	}
	*o++ = '"';
	*o = '\0';
	return out;
}

int config_set(const char *path, const char *key, const char *value, char **ret_error)
{
	_cleanup_free_ char *buf = NULL, *quoted = NULL, *line = NULL;
	struct assignment *a = NULL;
	size_t len = 0, n = 0, outlen = 0, pos = 0;
	char *out;
	bool replaced = false;
	int r;

	if (!config_key_valid(key)) {
		if (ret_error)
			*ret_error = xasprintf("invalid key '%s'", key);
		return -EINVAL;
	}
	for (const char *v = value; *v; v++)
		if (((unsigned char)*v < 0x20 && *v != '\t') || *v == 0x7f) {
			if (ret_error)
				*ret_error = xasprintf("value for %s contains a control character", key);
			return -EINVAL;
		}
	if (strlen(value) > CONFIG_MAX_VALUE) {
		if (ret_error)
			*ret_error = xasprintf("value for %s is too long", key);
		return -EINVAL;
	}
	r = fs_read_file(path, FS_SMALL_FILE_MAX, &buf, &len);
	if (r == -ENOENT) {
		buf = xstrdup("");
		len = 0;
	} else if (r < 0) {
		if (ret_error)
			*ret_error = xasprintf("%s: %s", path, strerror(-r));
		return r;
	}
	r = parse_all(path, buf, len, &a, &n, ret_error);
	if (r < 0)
		return r;

	quoted = config_quote(value);
	line = xasprintf("export %s=%s\n", key, quoted);
	out = xmalloc(len + strlen(line) + 2);
	for (size_t i = 0; i < n; i++) {
		if (!streq(a[i].key, key))
			continue;
		memcpy(out + outlen, buf + pos, a[i].start - pos);
		outlen += a[i].start - pos;
		if (!replaced) {
			memcpy(out + outlen, line, strlen(line));
			outlen += strlen(line);
			replaced = true;
		}
		pos = a[i].end;
	}
	memcpy(out + outlen, buf + pos, len - pos);
	outlen += len - pos;
	if (!replaced) {
		if (outlen && out[outlen - 1] != '\n')
			out[outlen++] = '\n';
		memcpy(out + outlen, line, strlen(line));
		outlen += strlen(line);
	}
	free_assignments(a, n);
	r = fs_write_atomic(path, out, outlen, 0644);
	free(out);
	if (r < 0 && ret_error)
		*ret_error = xasprintf("%s: %s", path, strerror(-r));
	return r;
}
