/* syslinux.c - syslinux/isolinux/extlinux menus and GRUB-legacy grub.conf. */
#include "internal.h"
#include "fs.h"
#include "log.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define SL_MAX_FILES 128
#define SL_MAX_FRAMES 256

struct frame {
	char *tag, *label, *title;
	int parent;
};

struct sl_label {
	char *label;       /* LABEL text */
	char *menu_label;  /* MENU LABEL, '^' removed */
	char *kernel;
	char *append;      /* NULL: use the global APPEND */
	char *initrd;      /* INITRD directive (comma list) */
	bool skip;         /* localboot, com32, config, menu exit ... */
	bool is_default;   /* MENU DEFAULT */
	int frame;
	unsigned line;
	char *file;
};

struct sl {
	struct boot_view *view;
	char *dir;         /* directory of the top config, "/isolinux" */
	struct frame *frames;
	size_t n_frames;
	int cur_frame;
	struct sl_label *labels;
	size_t n_labels;
	struct sl_label *cur;
	char *global_append;
	char *default_label;
	char **stack;      /* files being included (cycle detection) */
	size_t depth;
	unsigned files;
	int error;
};

static char *trimdup(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t l = strlen(s);
	while (l && (s[l - 1] == ' ' || s[l - 1] == '\t' || s[l - 1] == '\r'))
		l--;
	return xstrndup(s, l);
}

static char *strip_caret(const char *s)
{
	struct sbuf b = {0};
	for (; *s; s++)
		if (*s != '^')
			sb_putc(&b, *s);
	char *t = sb_take(&b), *r = trimdup(t);
	free(t);
	return r;
}

/* A path as syslinux resolves it: absolute stays, relative is relative to
 * the configuration's directory. */
static char *sl_path(struct sl *s, const char *p)
{
	if (p[0] == '/')
		return xstrdup(p);
	if (!*s->dir)
		return xasprintf("/%s", p);
	return xasprintf("%s/%s", s->dir, p);
}

/* keyword match: case-insensitive, followed by blank or end */
static const char *kw(const char *line, const char *k)
{
	size_t n = strlen(k);
	if (strncasecmp(line, k, n) != 0)
		return NULL;
	if (line[n] && line[n] != ' ' && line[n] != '\t')
		return NULL;
	line += n;
	while (*line == ' ' || *line == '\t')
		line++;
	return line;
}

static void free_label(struct sl_label *l)
{
	free(l->label);
	free(l->menu_label);
	free(l->kernel);
	free(l->append);
	free(l->initrd);
	free(l->file);
}

static int sl_file(struct sl *s, const char *rel);

static void new_label(struct sl *s, const char *name, const char *file, unsigned line)
{
	s->labels = xrealloc(s->labels, (s->n_labels + 1) * sizeof(*s->labels));
	struct sl_label *l = &s->labels[s->n_labels++];
	memset(l, 0, sizeof(*l));
	l->label = trimdup(name);
	l->frame = s->cur_frame;
	l->file = xstrdup(file);
	l->line = line;
	s->cur = l;
}

static int sl_line(struct sl *s, const char *file, unsigned lineno, const char *line, bool *in_text)
{
	const char *v;
	if (*in_text) {
		if (kw(line, "endtext"))
			*in_text = false;
		return 0;
	}
	if (!*line || *line == '#')
		return 0;
	if ((v = kw(line, "label"))) {
		new_label(s, v, file, lineno);
	} else if ((v = kw(line, "menu"))) {
		const char *w;
		if ((w = kw(v, "label"))) {
			if (s->cur) {
				free(s->cur->menu_label);
				s->cur->menu_label = strip_caret(w);
			} else if (s->cur_frame >= 0) {
				free(s->frames[s->cur_frame].label);
				s->frames[s->cur_frame].label = strip_caret(w);
			}
		} else if ((w = kw(v, "title"))) {
			if (s->cur_frame >= 0 && !s->frames[s->cur_frame].title)
				s->frames[s->cur_frame].title = strip_caret(w);
		} else if ((w = kw(v, "begin"))) {
			if (s->n_frames >= SL_MAX_FRAMES)
				return log_error_errno(-E2BIG, "%s:%u: too many MENU BEGIN", file, lineno);
			s->frames = xrealloc(s->frames, (s->n_frames + 1) * sizeof(*s->frames));
			s->frames[s->n_frames] = (struct frame){strip_caret(w), NULL, NULL, s->cur_frame};
			s->cur_frame = (int)s->n_frames++;
			s->cur = NULL;
		} else if (kw(v, "end")) {
			if (s->cur_frame >= 0)
				s->cur_frame = s->frames[s->cur_frame].parent;
			s->cur = NULL;
		} else if (kw(v, "default")) {
			/* only the top-level menu's default boots by itself */
			if (s->cur && s->cur_frame < 0)
				s->cur->is_default = true;
		} else if (kw(v, "exit") || kw(v, "goto") || kw(v, "quit")) {
			if (s->cur)
				s->cur->skip = true;
		} else if ((w = kw(v, "include"))) {
			char rel[4096];
			size_t n = strcspn(w, " \t");
			snprintf(rel, sizeof(rel), "%.*s", (int)n, w);
			_cleanup_free_ char *p = sl_path(s, rel);
			return sl_file(s, p);
		}
	} else if ((v = kw(line, "include"))) {
		char rel[4096];
		size_t n = strcspn(v, " \t");
		snprintf(rel, sizeof(rel), "%.*s", (int)n, v);
		_cleanup_free_ char *p = sl_path(s, rel);
		return sl_file(s, p);
	} else if ((v = kw(line, "kernel")) || (v = kw(line, "linux"))) {
		if (s->cur) {
			free(s->cur->kernel);
			s->cur->kernel = trimdup(v);
		}
	} else if ((v = kw(line, "append"))) {
		if (s->cur) {
			free(s->cur->append);
			s->cur->append = trimdup(v);
		} else {
			free(s->global_append);
			s->global_append = trimdup(v);
		}
	} else if ((v = kw(line, "initrd"))) {
		if (s->cur) {
			free(s->cur->initrd);
			s->cur->initrd = trimdup(v);
		}
	} else if (kw(line, "localboot") || kw(line, "com32") || kw(line, "config") ||
		   kw(line, "boot") || kw(line, "bss") || kw(line, "pxe") || kw(line, "fdimage") ||
		   kw(line, "comboot")) {
		if (s->cur)
			s->cur->skip = true;
	} else if (kw(line, "text")) {
		*in_text = true;
	} else if ((v = kw(line, "default")) && s->cur_frame < 0) {
		size_t dl = strlen(v);
		/* DEFAULT x.c32 selects the menu UI, not an entry */
		if (!(dl > 4 && strcasecmp(v + dl - 4, ".c32") == 0)) {
			free(s->default_label);
			s->default_label = trimdup(v);
		}
	}
	return 0;
}

static int sl_file(struct sl *s, const char *rel)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r;
	bool in_text = false;

	if (fs_has_dotdot(rel))
		return log_error_errno(-EXDEV, "%s: '..' not allowed", rel);
	for (size_t i = 0; i < s->depth; i++)
		if (streq(s->stack[i], rel))
			return log_error_errno(-ELOOP, "%s: INCLUDE cycle (included from %s)", rel,
					       s->stack[s->depth - 1]);
	if (s->depth >= BOOTCFG_MAX_DEPTH)
		return log_error_errno(-ELOOP, "%s: INCLUDE nested more than %d deep", rel,
				       BOOTCFG_MAX_DEPTH);
	if (++s->files > SL_MAX_FILES)
		return log_error_errno(-E2BIG, "%s: more than %d included files", rel, SL_MAX_FILES);
	if (!bc_exists(s->view, rel, false)) {
		if (s->depth == 0)
			return log_error_errno(-ENOENT, "%s: not found in %s", rel, boot_view_dir(s->view));
		log_debug("%s: included file missing, skipped", rel);
		return 0;
	}
	r = bc_read(s->view, rel, &text, &len);
	if (r < 0)
		return s->depth == 0 || r == -EFBIG ? r : 0;
	if (strlen(text) != len)
		len = strlen(text);
	s->stack = xrealloc(s->stack, (s->depth + 1) * sizeof(char *));
	s->stack[s->depth++] = xstrdup(rel);
	unsigned lineno = 0;
	for (char *p = text; p && *p && r == 0;) {
		char *nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		lineno++;
		char *t = p;
		while (*t == ' ' || *t == '\t')
			t++;
		size_t l = strlen(t);
		while (l && (t[l - 1] == '\r' || t[l - 1] == ' ' || t[l - 1] == '\t'))
			t[--l] = '\0';
		for (char *c = t; *c; c++)
			if (*c == '\t')
				*c = ' ';
		r = sl_line(s, rel, lineno, t, &in_text);
		p = nl ? nl + 1 : NULL;
	}
	free(s->stack[--s->depth]);
	return r;
}

static char *frame_title(struct sl *s, int f)
{
	if (f < 0)
		return NULL;
	struct frame *fr = &s->frames[f];
	const char *own = fr->label ? fr->label : fr->title ? fr->title : fr->tag ? fr->tag : "";
	_cleanup_free_ char *parent = frame_title(s, fr->parent);
	return parent ? xasprintf("%s>%s", parent, own) : xstrdup(own);
}

static void push_initrds(struct sl *s, struct boot_entry *e, const char *list)
{
	_cleanup_free_ char *c = xstrdup(list);
	for (char *save = NULL, *w = strtok_r(c, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		_cleanup_free_ char *t = trimdup(w);
		if (!*t)
			continue;
		e->initrd = xrealloc(e->initrd, (e->n_initrd + 1) * sizeof(char *));
		e->initrd[e->n_initrd++] = sl_path(s, t);
	}
}

static int emit_label(struct sl *s, struct sl_label *l, struct boot_entries *out)
{
	struct boot_entry e = {0};
	const char *append = l->append ? l->append : s->global_append ? s->global_append : "";
	_cleanup_free_ char *ft = frame_title(s, l->frame);
	const char *name = l->menu_label && *l->menu_label ? l->menu_label : l->label;
	const char *k = l->kernel;

	if (l->skip || !k || !*k)
		return 0;
	size_t kl = strcspn(k, " ");
	_cleanup_free_ char *kpath = xstrndup(k, kl);
	size_t pl = strlen(kpath);
	bool c32 = pl > 4 && strcasecmp(kpath + pl - 4, ".c32") == 0;
	const char *base = strrchr(kpath, '/');
	base = base ? base + 1 : kpath;
	e.title = ft ? xasprintf("%s>%s", ft, name) : xstrdup(name);
	e.id = xstrdup(l->label);
	if (c32 && strcasecmp(base, "mboot.c32") == 0) {
		/* xen.gz args --- vmlinuz args --- initrd */
		_cleanup_free_ char *a = xstrdup(append);
		char *parts[64];
		size_t np = 0;
		char *p = a;
		while (p && np < ARRAY_SIZE(parts)) {
			char *sep = strstr(p, " --- ");
			if (sep)
				*sep = '\0';
			parts[np++] = p;
			p = sep ? sep + 5 : NULL;
		}
		e.kind = BOOT_XEN;
		for (size_t i = 0; i < np; i++) {
			_cleanup_free_ char *t = trimdup(parts[i]);
			size_t wl = strcspn(t, " ");
			_cleanup_free_ char *path = xstrndup(t, wl);
			if (!*path) {
				boot_entry_free(&e);
				log_warn("%s:%u: mboot.c32 entry '%s' malformed, skipped", l->file, l->line, l->label);
				return 0;
			}
			if (i == 0) {
				e.kernel = sl_path(s, path);
				e.cmdline = bc_collapse(t + wl);
				if (!is_xen_name(e.kernel))
					e.kind = BOOT_MULTIBOOT;
			} else {
				e.modules = xrealloc(e.modules, (e.n_modules + 1) * sizeof(struct boot_module));
				e.modules[e.n_modules].path = sl_path(s, path);
				e.modules[e.n_modules].args = bc_collapse(t + wl);
				e.modules[e.n_modules].nounzip = false;
				e.n_modules++;
			}
		}
		return bc_emit(s->view, out, &e);
	}
	/* Other COM32 modules are not kernels; memtest images are not Linux. */
	if (c32 || strncasecmp(base, "memtest", 7) == 0) {
		boot_entry_free(&e);
		return 0;
	}
	e.kind = BOOT_LINUX;
	e.kernel = sl_path(s, kpath);
	if (l->initrd)
		push_initrds(s, &e, l->initrd);
	struct sbuf cl = {0};
	/* kernel args given on the KERNEL line itself come first */
	if (k[kl]) {
		sb_puts(&cl, k + kl);
		sb_putc(&cl, ' ');
	}
	_cleanup_free_ char *ac = xstrdup(append);
	for (char *save = NULL, *w = strtok_r(ac, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		if (strncasecmp(w, "initrd=", 7) == 0) {
			if (!l->initrd)
				push_initrds(s, &e, w + 7);
			continue;
		}
		sb_puts(&cl, w);
		sb_putc(&cl, ' ');
	}
	e.cmdline = bc_collapse(sb_str(&cl));
	sb_free(&cl);
	return bc_emit(s->view, out, &e);
}

static int bc_parse_syslinux(struct boot_view *view, const char *config, struct boot_entries *l)
{
	struct sl s = {.view = view, .cur_frame = -1};
	_cleanup_free_ char *rel = config[0] == '/' ? xstrdup(config) : xasprintf("/%s", config);
	size_t first = l->n;
	int r;

	const char *sl = strrchr(rel, '/');
	s.dir = xstrndup(rel, sl - rel);
	r = sl_file(&s, rel);
	for (size_t i = 0; r == 0 && i < s.n_labels; i++)
		r = emit_label(&s, &s.labels[i], l);
	if (r == 0 && !l->default_id) {
		/* DEFAULT names a label; MENU DEFAULT marks one; a .c32 DEFAULT is the UI. */
		const char *def = NULL;
		for (size_t i = 0; i < s.n_labels; i++)
			if (s.labels[i].is_default)
				def = s.labels[i].label;
		if (!def && s.default_label) {
			size_t dl = strlen(s.default_label);
			if (!(dl > 4 && strcasecmp(s.default_label + dl - 4, ".c32") == 0))
				def = s.default_label;
		}
		if (!def && s.n_labels)
			def = s.labels[0].label;
		if (def) {
			l->default_id = xstrdup(def);
			l->default_index = -1;
			for (size_t i = first; i < l->n; i++)
				if (streq(l->v[i].id, def)) {
					l->default_index = (long)i;
					break;
				}
		}
	}
	for (size_t i = 0; i < s.n_labels; i++)
		free_label(&s.labels[i]);
	free(s.labels);
	for (size_t i = 0; i < s.n_frames; i++) {
		free(s.frames[i].tag);
		free(s.frames[i].label);
		free(s.frames[i].title);
	}
	free(s.frames);
	free(s.stack);
	free(s.global_append);
	free(s.default_label);
	free(s.dir);
	return r;
}

/* ---- GRUB legacy (grub.conf / menu.lst) ------------------------------------ */

static int bc_parse_grub_legacy(struct boot_view *view, const char *config, struct boot_entries *l)
{
	_cleanup_free_ char *text = NULL, *rel = config[0] == '/' ? xstrdup(config) : xasprintf("/%s", config);
	size_t len, first = l->n;
	struct boot_entry e = {0};
	bool have = false;
	unsigned long long def = 0;
	unsigned idx = 0;
	int r;

	r = bc_read(view, rel, &text, &len);
	if (r < 0)
		return log_error_errno(r, "cannot read %s", rel);
	for (char *save = NULL, *ln = strtok_r(text, "\n", &save); ln && r == 0; ln = strtok_r(NULL, "\n", &save)) {
		_cleanup_free_ char *t = trimdup(ln);
		for (char *c = t; *c; c++)
			if (*c == '\t')
				*c = ' ';
		const char *v;
		if (!*t || *t == '#')
			continue;
		if ((v = kw(t, "title"))) {
			if (have)
				r = bc_emit(view, l, &e);
			memset(&e, 0, sizeof(e));
			e.title = trimdup(v);
			e.id = xasprintf("%u", idx++);
			have = true;
		} else if ((v = kw(t, "default")) && !have) {
			if (parse_uint(v, 10000, &def) < 0)
				def = 0;
		} else if (have && (v = kw(t, "kernel"))) {
			size_t kl = strcspn(v, " ");
			_cleanup_free_ char *p = xstrndup(v, kl);
			free(e.kernel);
			e.kernel = bc_strip_device(p);
			free(e.cmdline);
			e.cmdline = bc_collapse(v + kl);
		} else if (have && (v = kw(t, "initrd"))) {
			size_t kl = strcspn(v, " ");
			_cleanup_free_ char *p = xstrndup(v, kl);
			e.initrd = xrealloc(e.initrd, (e.n_initrd + 1) * sizeof(char *));
			e.initrd[e.n_initrd++] = bc_strip_device(p);
		}
	}
	if (have && r == 0)
		r = bc_emit(view, l, &e);
	else
		boot_entry_free(&e);
	if (r == 0 && !l->default_id && idx > 0) {
		l->default_id = xasprintf("%llu", def);
		l->default_index = -1;
		for (size_t i = first; i < l->n; i++)
			if (streq(l->v[i].id, l->default_id))
				l->default_index = (long)i;
	}
	return r;
}

static bool syslinux_claims(struct boot_view *view, const char *config)
{
	(void)view;
	return strcasestr(config, "isolinux") || strcasestr(config, "syslinux") ||
	       strcasestr(config, "extlinux") || strcasestr(config, "pxelinux");
}

const struct bc_parser bc_parser_syslinux = {
	.format = BOOTCFG_SYSLINUX,
	.claims = syslinux_claims,
	.parse = bc_parse_syslinux,
};

static bool grub_legacy_claims(struct boot_view *view, const char *config)
{
	const char *base = strrchr(config, '/');
	base = base ? base + 1 : config;
	(void)view;
	return streq(base, "grub.conf") || streq(base, "menu.lst");
}

const struct bc_parser bc_parser_grub_legacy = {
	.format = BOOTCFG_GRUB_LEGACY,
	.claims = grub_legacy_claims,
	.parse = bc_parse_grub_legacy,
};
