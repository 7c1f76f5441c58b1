/* bootcfg/grub_exec.c - running the AST: commands (set, test, loaders,
 * load_env, search, source/configfile, functions), control flow, menu items
 * (see grub.c). */
#include "internal.h"
#include "bootcfg/grub-internal.h"
#include "fs.h"
#include "log.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

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

void grub_loader_reset(struct loader *l)
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

/* `linux`/`multiboot` FILE ARGS... (options before FILE skipped): a new
 * loader with FILE as its kernel (multiboot: Xen by its file name, else
 * multiboot) and ARGS as its command line; 1 if there is no FILE. */
static int loader_kernel(struct loader *l, char **a, size_t n, bool multiboot)
{
	size_t i = 1;

	while (i < n && startswith(a[i], "--"))
		i++;
	if (i >= n)
		return 1;
	grub_loader_reset(l);
	l->any = true;
	l->kernel = bc_strip_device(a[i]);
	l->kind = !multiboot ? BOOT_LINUX : is_xen_name(l->kernel) ? BOOT_XEN : BOOT_MULTIBOOT;
	char *c = join_from(a, n, i + 1);
	sb_puts(&l->cmdline, c);
	free(c);
	return 0;
}

static int do_loader(struct interp *in, const char *cmd, char **a, size_t n)
{
	struct loader *l = in->loader;
	if (!l)
		return 0; /* outside an entry: nothing to record */
	size_t i = 1;
	if (startswith(cmd, "linux"))
		return loader_kernel(l, a, n, false);
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
	if (startswith(cmd, "multiboot"))
		return loader_kernel(l, a, n, true);
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
	grub_var_set(in, key, value);
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
			grub_var_set(f->in, key, value);
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
			grub_var_set(in, var, "hd0");
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
		grub_var_set(in, var, "hd0");
	return cmd_status(found);
}

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
				grub_expand_word(in, w + k + 1, &f);
				_cleanup_free_ char *val = join_from(f.v, f.n, 0);
				/* keep internal spacing of a single field */
				grub_var_set(in, name, f.n == 1 ? f.v[0] : val);
				grub_fields_free(&f);
				return 0;
			}
		}
	}
	grub_expand_words(in, nd->words, nd->n_words, &f);
	if (in->aborted || f.n == 0) {
		grub_fields_free(&f);
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
			grub_var_set(in, a[i], eq + 1);
		}
	} else if (streq(cmd, "export")) {
		for (size_t i = 1; i < n; i++) {
			struct var *v = grub_var_find(in->ctx, a[i]);
			if (!v) {
				grub_var_set(in, a[i], "");
				v = grub_var_find(in->ctx, a[i]);
			}
			if (v)
				v->exported = true;
		}
	} else if (streq(cmd, "unset")) {
		for (size_t i = 1; i < n; i++)
			grub_var_unset(in, a[i]);
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
		st = n >= 2 ? grub_run_file(in, a[1], false) : 1;
	} else if (streq(cmd, "load_env")) {
		st = do_load_env(in, a, n);
	} else if (startswith(cmd, "search")) {
		st = do_search(in, a, n, cmd);
	} else if (streq(cmd, "probe")) {
		st = 1; /* device properties are unknown here */
	} else if (streq(cmd, "blscfg")) {
		st = grub_run_blscfg(in);
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
			grub_fatal(in, -ELOOP, nd->file, nd->line, "function calls nested too deeply");
		} else {
			char **sv = in->argv;
			size_t sc = in->argc;
			in->argv = a + 1;
			in->argc = n - 1;
			in->depth++;
			st = grub_exec_list(in, fn->body);
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
	grub_fields_free(&f);
	return st;
}

static int exec_node(struct interp *in, struct node *nd);

int grub_exec_list(struct interp *in, struct node *n)
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
	grub_expand_words(in, nd->words, nd->n_words, &f);
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
	grub_fields_free(&f);
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
		grub_fatal(in, -E2BIG, nd->file, nd->line, "too many menu entries");
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

/* Pass i of loop nd is over MAX_LOOP: the configuration is refused. */
static bool loop_limit(struct interp *in, struct node *nd, size_t i)
{
	if (i < MAX_LOOP)
		return false;
	grub_fatal(in, -E2BIG, nd->file, nd->line, "loop limit reached");
	return true;
}

/* One pass of the body of loop nd (its status into *st); true when the
 * loop ends there: break (consumed here), return or exit. */
static bool loop_pass_ends(struct interp *in, struct node *nd, int *st)
{
	*st = grub_exec_list(in, nd->body);
	if (in->breaking) {
		in->breaking = false;
		return true;
	}
	return in->returning || in->exiting;
}

static int exec_node(struct interp *in, struct node *nd)
{
	if (++in->steps > MAX_STEPS) {
		grub_fatal(in, -E2BIG, nd->file, nd->line, "configuration runs too long (step limit)");
		return 1;
	}
	in->cur_file = nd->file;
	in->cur_line = nd->line;
	switch (nd->type) {
	case N_SIMPLE:
		return exec_simple(in, nd);
	case N_IF: {
		int c = grub_exec_list(in, nd->cond);
		if (in->aborted || in->returning || in->exiting || in->breaking)
			return c;
		if (c == 0)
			return grub_exec_list(in, nd->body);
		if (nd->els)
			return grub_exec_list(in, nd->els);
		return 0;
	}
	case N_FOR: {
		struct fields f = {0};
		int st = 0;
		grub_expand_words(in, nd->words + 1, nd->n_words - 1, &f);
		for (size_t i = 0; i < f.n && !in->aborted && !loop_limit(in, nd, i); i++) {
			grub_var_set(in, nd->words[0], f.v[i]);
			if (loop_pass_ends(in, nd, &st))
				break;
		}
		grub_fields_free(&f);
		return st;
	}
	case N_WHILE:
	case N_UNTIL: {
		int st = 0;
		for (size_t i = 0; !in->aborted && !loop_limit(in, nd, i); i++) {
			int c = grub_exec_list(in, nd->cond);
			if (in->returning || in->exiting || in->aborted)
				break;
			if ((c == 0) != (nd->type == N_WHILE))
				break;
			if (loop_pass_ends(in, nd, &st))
				break;
		}
		return st;
	}
	case N_FUNC: {
		struct fields f = {0};
		grub_expand_word(in, nd->words[0], &f);
		if (f.n == 1) {
			struct func *fn = func_find(in, f.v[0]);
			if (fn) {
				fn->body = nd->body;
			} else {
				in->funcs = xrealloc(in->funcs, (in->n_funcs + 1) * sizeof(struct func));
				in->funcs[in->n_funcs++] = (struct func){xstrdup(f.v[0]), nd->body};
			}
		}
		grub_fields_free(&f);
		return 0;
	}
	case N_MENU:
		return add_menu_item(in, nd);
	}
	return 0;
}

/* Run a configuration file (path as written in the config). */
int grub_run_file(struct interp *in, const char *path, bool must_exist)
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
		grub_fatal(in, -ELOOP, rel, 0, "source/configfile nested too deeply (loop?)");
		return 1;
	}
	if (++in->n_files > 256) {
		grub_fatal(in, -E2BIG, rel, 0, "too many configuration files sourced");
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
	struct node *list = grub_parse_text(in, rel, text, len, &err);
	if (err) {
		/* GRUB refuses a file with a syntax error as a whole. */
		if (must_exist) {
			in->error = err;
			in->aborted = true;
		}
		return 1;
	}
	in->depth++;
	int st = grub_exec_list(in, list);
	in->depth--;
	in->returning = false;
	return st;
}
