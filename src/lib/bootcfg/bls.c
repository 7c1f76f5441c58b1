/* bls.c - Boot Loader Specification type 1 entries (loader/entries/NAME.conf),
 * alone (systemd-boot layout) or pulled by GRUB's `blscfg`. */
#include "internal.h"
#include "fs.h"
#include "log.h"
#include "util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <string.h>

#define BLS_MAX_FILES 1024

struct bls {
	char *file;    /* relative to bootdir, e.g. "loader/entries/x.conf" */
	char *title, *version, *linux_, *options;
	struct sbuf initrd; /* space separated raw words */
	char *devicetree;
};

static void bls_free(struct bls *b)
{
	free(b->file);
	free(b->title);
	free(b->version);
	free(b->linux_);
	free(b->options);
	free(b->devicetree);
	sb_free(&b->initrd);
}

/* rpm-style version comparison (segments of digits or letters). */
static int vercmp(const char *a, const char *b)
{
	while (*a || *b) {
		while (*a && !isalnum((unsigned char)*a))
			a++;
		while (*b && !isalnum((unsigned char)*b))
			b++;
		if (!*a || !*b)
			break;
		const char *sa = a, *sb = b;
		bool num = isdigit((unsigned char)*a);
		if (num) {
			while (isdigit((unsigned char)*a))
				a++;
			while (isdigit((unsigned char)*b))
				b++;
		} else {
			while (isalpha((unsigned char)*a))
				a++;
			while (isalpha((unsigned char)*b))
				b++;
		}
		if (sb == b)
			return num ? 1 : -1;
		if (num) {
			while (*sa == '0' && sa + 1 < a)
				sa++;
			while (*sb == '0' && sb + 1 < b)
				sb++;
			if (a - sa != b - sb)
				return a - sa > b - sb ? 1 : -1;
		}
		size_t la = a - sa, lb = b - sb;
		int c = strncmp(sa, sb, la < lb ? la : lb);
		if (c)
			return c < 0 ? -1 : 1;
		if (la != lb)
			return la < lb ? -1 : 1;
	}
	if (!*a && !*b)
		return 0;
	return *a ? 1 : -1;
}

static int bls_cmp(const void *x, const void *y)
{
	const struct bls *a = x, *b = y;
	int c = vercmp(b->version ? b->version : "", a->version ? a->version : "");
	if (c)
		return c;
	return -strcmp(a->file, b->file);
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t l = strlen(s);
	while (l && (s[l - 1] == ' ' || s[l - 1] == '\t' || s[l - 1] == '\r'))
		s[--l] = '\0';
	return s;
}

static int bls_read(struct boot_view *view, const char *rel, struct bls *b)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r = bc_read(view, rel, &text, &len);
	if (r < 0)
		return r;
	b->file = xstrdup(rel[0] == '/' ? rel + 1 : rel);
	for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		l = trim(l);
		if (!*l || *l == '#')
			continue;
		size_t k = strcspn(l, " \t");
		char *v = trim(l + k);
		l[k] = '\0';
		if (streq(l, "title")) {
			free(b->title);
			b->title = xstrdup(v);
		} else if (streq(l, "version")) {
			free(b->version);
			b->version = xstrdup(v);
		} else if (streq(l, "linux")) {
			free(b->linux_);
			b->linux_ = xstrdup(v);
		} else if (streq(l, "initrd")) {
			if (b->initrd.len)
				sb_putc(&b->initrd, ' ');
			sb_puts(&b->initrd, v);
		} else if (streq(l, "options")) {
			char *o = b->options ? xasprintf("%s %s", b->options, v) : xstrdup(v);
			free(b->options);
			b->options = o;
		} else if (streq(l, "devicetree")) {
			free(b->devicetree);
			b->devicetree = xstrdup(v);
		}
	}
	return 0;
}

/* Expand $name / ${name} through lookup (unknown -> empty). Text only. */
static char *expand(const char *s, bc_lookup_fn lookup, void *ud)
{
	struct sbuf b = {0};
	while (s && *s) {
		if (*s == '$') {
			const char *st = s + 1, *en;
			_cleanup_free_ char *name = NULL;
			if (*st == '{' && (en = strchr(st, '}'))) {
				name = xstrndup(st + 1, en - st - 1);
				s = en + 1;
			} else {
				en = st;
				while (*en == '_' || isalnum((unsigned char)*en))
					en++;
				if (en == st) {
					sb_putc(&b, *s++);
					continue;
				}
				name = xstrndup(st, en - st);
				s = en;
			}
			const char *v = lookup(name, ud);
			if (v)
				sb_puts(&b, v);
		} else {
			sb_putc(&b, *s++);
		}
	}
	char *raw = sb_take(&b), *c = bc_collapse(raw);
	free(raw);
	return c;
}

int bc_bls_load(struct boot_view *view, const char *entries_dir, bc_lookup_fn lookup, void *ud,
		struct boot_entries *l)
{
	struct boot_view_dirent *de = NULL;
	struct bls *v = NULL;
	size_t n = 0, n_de = 0;
	int r = 0;

	if (fs_has_dotdot(entries_dir))
		return -EXDEV;
	r = boot_view_list(view, entries_dir, &de, &n_de);
	if (r < 0)
		return log_error_errno(r, "cannot list %s%s", boot_view_dir(view), entries_dir);
	for (size_t i = 0; i < n_de; i++) {
		const char *name = de[i].name;
		size_t nl = strlen(name);
		if (name[0] == '.' || nl < 6 || !streq(name + nl - 5, ".conf") ||
		    de[i].type != BOOT_VIEW_FILE)
			continue;
		if (n >= BLS_MAX_FILES) {
			r = log_error_errno(-E2BIG, "%s: more than %d entries", entries_dir,
					    BLS_MAX_FILES);
			break;
		}
		_cleanup_free_ char *rel = xasprintf("%s/%s", entries_dir, name);
		struct bls b = {0};
		int q = bls_read(view, rel, &b);
		if (q < 0) {
			log_warn("%s: skipped (%s)", rel, strerror(-q));
			bls_free(&b);
			if (q == -EFBIG) {
				r = q;
				break;
			}
			continue;
		}
		v = xrealloc(v, (n + 1) * sizeof(*v));
		v[n++] = b;
	}
	boot_view_dirents_free(de, n_de);
	if (r == 0)
		qsort(v, n, sizeof(*v), bls_cmp);
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct bls *b = &v[i];
		struct boot_entry e = {0};
		if (!b->linux_) {
			log_warn("%s: no 'linux' key, skipped", b->file);
			continue;
		}
		e.kind = BOOT_LINUX;
		e.id = xstrdup(b->file);
		e.title = xstrdup(b->title ? b->title : b->version ? b->version : b->file);
		if (lookup) {
			_cleanup_free_ char *k = expand(b->linux_, lookup, ud);
			e.kernel = bc_strip_device(k);
			e.cmdline = expand(b->options ? b->options : "$kernelopts", lookup, ud);
			_cleanup_free_ char *ird = expand(sb_str(&b->initrd), lookup, ud);
			for (char *save = NULL, *w = strtok_r(ird, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
				e.initrd = xrealloc(e.initrd, (e.n_initrd + 1) * sizeof(char *));
				e.initrd[e.n_initrd++] = bc_strip_device(w);
			}
			r = bc_emit(view, l, &e);
		} else {
			/* raw: for blscfg, expanded later by the GRUB interpreter */
			e.kernel = xstrdup(b->linux_);
			e.cmdline = xstrdup(b->options ? b->options : "$kernelopts");
			if (b->initrd.len) {
				e.initrd = xcalloc(1, sizeof(char *));
				e.initrd[0] = xstrdup(sb_str(&b->initrd));
				e.n_initrd = 1;
			}
			l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
			l->v[l->n++] = e;
		}
	}
	for (size_t i = 0; i < n; i++)
		bls_free(&v[i]);
	free(v);
	return r;
}

struct env {
	char **k, **v;
	size_t n;
};

static void env_cb(const char *key, const char *value, void *ud)
{
	struct env *e = ud;
	for (size_t i = 0; i < e->n; i++)
		if (streq(e->k[i], key)) {
			free(e->v[i]);
			e->v[i] = xstrdup(value);
			return;
		}
	e->k = xrealloc(e->k, (e->n + 1) * sizeof(char *));
	e->v = xrealloc(e->v, (e->n + 1) * sizeof(char *));
	e->k[e->n] = xstrdup(key);
	e->v[e->n++] = xstrdup(value);
}

static const char *env_lookup(const char *name, void *ud)
{
	struct env *e = ud;
	for (size_t i = 0; i < e->n; i++)
		if (streq(e->k[i], name))
			return e->v[i];
	return NULL;
}

/* `set default_kernelopts="..."` in a grub.cfg next to the entries. */
static void default_kernelopts(struct boot_view *view, struct env *env)
{
	static const char *const cfgs[] = {"/grub2/grub.cfg", "/grub/grub.cfg", "/boot/grub2/grub.cfg",
					   "/boot/grub/grub.cfg"};
	for (size_t i = 0; i < ARRAY_SIZE(cfgs); i++) {
		_cleanup_free_ char *t = NULL;
		size_t len;
		if (!bc_exists(view, cfgs[i], false) || bc_read(view, cfgs[i], &t, &len) < 0)
			continue;
		char *p = strstr(t, "set default_kernelopts=");
		if (!p)
			continue;
		p += strlen("set default_kernelopts=");
		char q = (*p == '"' || *p == '\'') ? *p++ : 0;
		size_t k = q ? strcspn(p, q == '"' ? "\"\n" : "'\n") : strcspn(p, " \t\n");
		_cleanup_free_ char *v = xstrndup(p, k);
		env_cb("kernelopts", v, env);
		return;
	}
}

static int bc_parse_bls(struct boot_view *view, const char *config, struct boot_entries *l)
{
	static const char *const envs[] = {"/grub2/grubenv", "/grub/grubenv", "/boot/grub2/grubenv",
					   "/boot/grub/grubenv", "/EFI/fedora/grubenv"};
	struct env env = {0};
	_cleanup_free_ char *def = NULL;
	const char *dir = NULL;
	size_t first = l->n;
	int r;

	if (bc_exists(view, "/loader/entries", true))
		dir = "loader/entries";
	else if (bc_exists(view, "/boot/loader/entries", true))
		dir = "boot/loader/entries";
	if (strstr(config, "entries") && bc_exists(view, config, true))
		dir = config[0] == '/' ? config + 1 : config;
	if (!dir)
		return log_error_errno(-ENOENT, "%s: no loader/entries directory", boot_view_dir(view));

	default_kernelopts(view, &env);
	for (size_t i = 0; i < ARRAY_SIZE(envs); i++) {
		_cleanup_free_ char *t = NULL;
		size_t len;
		if (bc_exists(view, envs[i], false) && bc_read(view, envs[i], &t, &len) == 0) {
			bc_parse_grubenv(t, len, env_cb, &env);
			break;
		}
	}
	/* loader.conf default (a glob over entry ids) */
	{
		_cleanup_free_ char *t = NULL;
		size_t len;
		if (bc_exists(view, "/loader/loader.conf", false) &&
		    bc_read(view, "/loader/loader.conf", &t, &len) == 0) {
			for (char *save = NULL, *ln = strtok_r(t, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save)) {
				ln = trim(ln);
				if (startswith(ln, "default") && (ln[7] == ' ' || ln[7] == '\t')) {
					free(def);
					def = xstrdup(trim(ln + 7));
				}
			}
		}
		const char *saved = env_lookup("saved_entry", &env);
		if (!def && saved && *saved)
			def = xstrdup(saved);
	}
	r = bc_bls_load(view, dir, env_lookup, &env, l);
	if (r == 0 && l->n > first && !l->default_id) {
		long idx = (long)first;
		if (def) {
			for (size_t i = first; i < l->n; i++) {
				const char *b = strrchr(l->v[i].id, '/');
				_cleanup_free_ char *id = xstrdup(b ? b + 1 : l->v[i].id);
				if (fnmatch(def, id, 0) == 0) {
					idx = (long)i;
					break;
				}
				size_t il = strlen(id);
				if (il > 5)
					id[il - 5] = '\0';
				if (fnmatch(def, id, 0) == 0) {
					idx = (long)i;
					break;
				}
			}
		}
		l->default_index = idx;
		l->default_id = xstrdup(l->v[idx].id);
	}
	for (size_t i = 0; i < env.n; i++) {
		free(env.k[i]);
		free(env.v[i]);
	}
	free(env.k);
	free(env.v);
	return r;
}

/* A directory, anything under a loader/ directory, or loader.conf. */
static bool bls_claims(struct boot_view *view, const char *config)
{
	const char *base = strrchr(config, '/');
	base = base ? base + 1 : config;
	return bc_exists(view, config, true) || strstr(config, "loader/") ||
	       streq(base, "loader.conf");
}

const struct bc_parser bc_parser_bls = {
	.format = BOOTCFG_BLS,
	.claims = bls_claims,
	.parse = bc_parse_bls,
};
