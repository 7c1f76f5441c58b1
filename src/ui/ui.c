/* ui.c - back-end selection, dispatch and helpers shared by the back-ends. */
#include "ui/ui_internal.h"
#include "fs.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

void ui_options_init(struct ui_options *o)
{
	memset(o, 0, sizeof(*o));
	o->mode = UI_AUTO;
	o->in_fd = 0;
	o->out_fd = 1;
	o->script_fd = -1;
	o->secret_fd = -1;
}

static const char *const mode_names[] = {
	[UI_AUTO] = "auto", [UI_NEWT] = "newt", [UI_LINE] = "line", [UI_SCRIPT] = "script",
};

int ui_mode_from_string(const char *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(mode_names); i++)
		if (s && streq(s, mode_names[i]))
			return (int)i;
	return -EINVAL;
}

const char *ui_mode_to_string(enum ui_mode m)
{
	return (unsigned)m < ARRAY_SIZE(mode_names) ? mode_names[m] : "?";
}

int ui_options_from_env(struct ui_options *o)
{
	const char *e;

	e = getenv("HEADS_UI");
	if (e && *e && o->mode == UI_AUTO) {
		int m = ui_mode_from_string(e);
		if (m < 0)
			return log_error_errno(-EINVAL, "HEADS_UI=%s: expected newt, line or script", e);
		o->mode = m;
	}
	e = getenv("HEADS_UI_SCRIPT");
	if (e && *e && !o->script_path && o->script_fd < 0)
		o->script_path = e;
	e = getenv("HEADS_UI_SECRET_FD");
	if (e && *e && o->secret_fd < 0) {
		unsigned long long fd;
		if (parse_uint(e, 65535, &fd) < 0 || fcntl((int)fd, F_GETFD) < 0)
			return log_error_errno(-EINVAL, "HEADS_UI_SECRET_FD=%s: not an open fd", e);
		o->secret_fd = (int)fd;
	}
	return 0;
}

static int load_script(struct ui *ui, const struct ui_options *o)
{
	_cleanup_free_ char *buf = NULL, *err = NULL;
	size_t len;
	int r;

	if (o->script_path)
		r = fs_read_file(o->script_path, UI_SCRIPT_MAX_BYTES, &buf, &len);
	else if (o->script_fd >= 0)
		r = fs_read_fd(o->script_fd, UI_SCRIPT_MAX_BYTES, &buf, &len);
	else
		return log_error_errno(-EINVAL, "scripted UI: no script given (HEADS_UI_SCRIPT)");
	if (r < 0)
		return log_error_errno(r, "scripted UI: cannot read %s",
				       o->script_path ? o->script_path : "script fd");
	r = ui_script_parse(&ui->script, o->script_path ? o->script_path : "script fd", buf,
			    len, &err);
	if (r < 0)
		log_error("scripted UI: %s", err ? err : "malformed script");
	return r;
}

int ui_open(const struct ui_options *o, struct ui **ret)
{
	struct ui *ui;
	enum ui_mode mode = o->mode;
	int r;

	if (mode == UI_AUTO) {
		const char *term = getenv("TERM");
		if (o->script_path || o->script_fd >= 0)
			mode = UI_SCRIPT;
		else if (isatty(o->in_fd) && isatty(o->out_fd) && term && *term &&
			 !streq(term, "dumb"))
			mode = UI_NEWT;
		else
			mode = UI_LINE;
	}

	ui = xcalloc(1, sizeof(*ui));
	ui->mode = mode;
	ui->in_fd = o->in_fd;
	ui->out_fd = o->out_fd;
	ui->secret_fd = o->secret_fd;
	ui->last_pct = -1;
	ui->board = xstrdup("");
	ui->totp = xstrdup("");
	ui->hotp = xstrdup("");

	switch (mode) {
	case UI_SCRIPT:
		ui->ops = &ui_script_ops;
		r = load_script(ui, o);
		break;
	case UI_LINE:
		ui->ops = &ui_line_ops;
		r = 0;
		break;
	case UI_NEWT:
		ui->ops = &ui_newt_ops;
		r = ui_newt_open(ui);
		break;
	default:
		r = -EINVAL;
	}
	if (r < 0) {
		ui->ops = NULL;
		ui_close(ui);
		return r;
	}
	*ret = ui;
	return 0;
}

void ui_close(struct ui *ui)
{
	if (!ui)
		return;
	if (ui->ops && ui->ops->close)
		ui->ops->close(ui);
	ui_script_free(&ui->script);
	free(ui->board);
	free(ui->totp);
	free(ui->hotp);
	free(ui);
}

enum ui_mode ui_get_mode(const struct ui *ui)
{
	return ui->mode;
}

static void set_field(char **f, const char *v)
{
	if (!v)
		return;
	free(*f);
	*f = xstrdup(v);
}

void ui_set_status(struct ui *ui, const char *board, const char *totp, const char *hotp)
{
	set_field(&ui->board, board);
	set_field(&ui->totp, totp);
	set_field(&ui->hotp, hotp);
}

char *ui_status_line(const struct ui *ui)
{
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	char *s, *t;

	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S UTC", &tm);
	s = *ui->board ? xasprintf("%s | %s", ui->board, date) : xstrdup(date);
	if (*ui->totp) {
		t = xasprintf("%s | TOTP: %s", s, ui->totp);
		free(s);
		s = t;
	}
	if (*ui->hotp) {
		t = xasprintf("%s | HOTP: %s", s, ui->hotp);
		free(s);
		s = t;
	}
	return s;
}

static int check_items(const struct ui_item *items, size_t n)
{
	if (n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!items[i].key || !*items[i].key || !items[i].label)
			return -EINVAL;
		for (size_t j = 0; j < i; j++)
			if (streq(items[i].key, items[j].key))
				return log_error_errno(-EINVAL, "menu: duplicate key '%s'",
						       items[i].key);
	}
	return 0;
}

/* Every string reaches a back-end with its control bytes escaped (text
 * bodies keep their newlines): a boot entry title, a path or anything read
 * from a disk cannot move the cursor, clear the screen or draw over a
 * window. */
#define CLEAN(s) _cleanup_free_ char *s##_c = str_escape_controls(s ? s : "", false)
#define CLEAN_TEXT(s) _cleanup_free_ char *s##_c = str_escape_controls(s ? s : "", true)

int ui_menu(struct ui *ui, enum ui_bg bg, const char *title, const char *text,
	    const struct ui_item *items, size_t n, size_t default_idx)
{
	int r = check_items(items, n);
	struct ui_item *clean;
	if (r < 0)
		return r;
	CLEAN(title);
	CLEAN_TEXT(text);
	clean = xcalloc(n, sizeof(*clean));
	for (size_t i = 0; i < n; i++) {
		clean[i].key = items[i].key;
		clean[i].label = str_escape_controls(items[i].label, false);
	}
	r = ui->ops->menu(ui, bg, title_c, text_c, clean, n, default_idx);
	for (size_t i = 0; i < n; i++)
		free((char *)clean[i].label);
	free(clean);
	return r;
}

int ui_yesno(struct ui *ui, enum ui_bg bg, const char *title, const char *text)
{
	CLEAN(title);
	CLEAN_TEXT(text);
	return ui->ops->yesno(ui, bg, title_c, text_c);
}

int ui_msgbox(struct ui *ui, enum ui_bg bg, const char *title, const char *text)
{
	CLEAN(title);
	CLEAN_TEXT(text);
	return ui->ops->msgbox(ui, bg, title_c, text_c, false);
}

int ui_textbox(struct ui *ui, enum ui_bg bg, const char *title, const char *text)
{
	CLEAN(title);
	CLEAN_TEXT(text);
	return ui->ops->msgbox(ui, bg, title_c, text_c, true);
}

int ui_input(struct ui *ui, const char *title, const char *prompt, const char *initial,
	     char **ret)
{
	CLEAN(title);
	CLEAN_TEXT(prompt);
	return ui->ops->input(ui, title_c, prompt_c, initial, ret);
}

int ui_passphrase(struct ui *ui, const char *title, const char *prompt, size_t max,
		  struct secret **ret)
{
	if (max == 0 || max > SECRET_MAX)
		return -EINVAL;
	CLEAN(title);
	CLEAN_TEXT(prompt);
	return ui->ops->passphrase(ui, title_c, prompt_c, max, ret);
}

int ui_progress(struct ui *ui, const char *title, const char *text, unsigned percent)
{
	if (percent > 100)
		percent = 100;
	CLEAN(title);
	CLEAN(text);
	return ui->ops->progress(ui, title_c, text_c, percent);
}

void ui_progress_end(struct ui *ui)
{
	ui->ops->progress_end(ui);
}

int ui_countdown(struct ui *ui, const char *text, unsigned seconds)
{
	CLEAN(text);
	return ui->ops->countdown(ui, text_c, seconds);
}

int ui_write(int fd, const char *s)
{
	return write_full(fd, s, strlen(s));
}

int ui_printf(int fd, const char *fmt, ...)
{
	_cleanup_free_ char *s = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	return write_full(fd, s, (size_t)n);
}

int ui_read_line(int fd, size_t max, char **ret)
{
	_cleanup_free_ char *buf = xmalloc(max + 1);
	size_t len;
	int r = fs_read_line_into(fd, buf, max, &len);
	if (r < 0)
		return r;
	buf[len] = '\0';
	*ret = TAKE_PTR(buf);
	return 0;
}

int ui_read_secret_line(int fd, size_t max, struct secret **ret)
{
	_cleanup_secret_ struct secret *s = secret_new(max);
	if (!s)
		return -errno;
	int r = fs_read_line_into(fd, s->data, max, &s->len);
	if (r < 0)
		return r;
	s->data[s->len] = 0;
	*ret = TAKE_PTR(s);
	return 0;
}

const char *ui_bg_name(enum ui_bg bg)
{
	switch (bg) {
	case UI_BG_WARNING:
		return "warning";
	case UI_BG_ERROR:
		return "error";
	default:
		return "normal";
	}
}

long ui_item_by_key(const struct ui_item *items, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (streq(items[i].key, s))
			return (long)i;
	return -1;
}

/* Columns of the first n bytes of s: UTF-8 continuation bytes take none
 * (one column per code point; the terminal's glyphs here are all narrow). */
static size_t columns(const char *s, size_t n)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += ((unsigned char)s[i] & 0xc0) != 0x80;
	return c;
}

/* Bytes of the code point starting at s (at most n). */
static size_t code_point_len(const char *s, size_t n)
{
	size_t k = 1;
	while (k < n && ((unsigned char)s[k] & 0xc0) == 0x80)
		k++;
	return k;
}

char *ui_fold(const char *text, unsigned width)
{
	size_t len = strlen(text);
	char *out = xmalloc(len * 2 + 2);
	size_t o = 0, col = 0;
	const char *p = text;

	if (width < 8)
		width = 8;
	while (*p) {
		if (*p == '\n') {
			out[o++] = '\n';
			col = 0;
			p++;
			continue;
		}
		if (*p == ' ' && col == 0 && p != text && p[-1] != '\n') {
			p++; /* no leading blank on a wrapped line */
			continue;
		}
		/* Length of the next word (run of non-blank, non-newline). */
		size_t w = strcspn(p, " \n");
		if (w == 0) {
			/* a blank */
			if (col + 1 > width) {
				out[o++] = '\n';
				col = 0;
			} else {
				out[o++] = ' ';
				col++;
			}
			p++;
			continue;
		}
		if (col > 0 && col + columns(p, w) > width) {
			/* drop the blank(s) we emitted before the wrap */
			while (o > 0 && out[o - 1] == ' ')
				o--;
			out[o++] = '\n';
			col = 0;
		}
		while (w > 0) {
			/* As many whole code points as fit in the line. */
			size_t take = 0, cols = 0;
			while (take < w && col + cols < width) {
				take += code_point_len(p + take, w - take);
				cols++;
			}
			memcpy(out + o, p, take);
			o += take;
			col += cols;
			p += take;
			w -= take;
			if (w > 0) {
				out[o++] = '\n';
				col = 0;
			}
		}
	}
	out[o] = '\0';
	return out;
}
