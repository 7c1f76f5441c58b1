/* ui_newt.c - newt back-end with the whiptail look (see ui.h).
 *
 * newt draws on the controlling terminal through S-Lang (fds 0/1), so this
 * back-end requires in_fd == 0 and out_fd == 1 and both to be terminals.
 * Root line: the status (board | date | TOTP | HOTP). Warning/error screens
 * recolour the root background yellow/red before drawing, like the shell
 * version's NEWT_COLORS=root=,yellow|red.
 *
 * While the screen is up nothing else writes to the terminal:
 * - our log lines go to the session log and to a status line above the help
 *   line (log_set_console_sink), never over a window;
 * - when the terminal is a kernel console, the kernel's console loglevel is
 *   lowered to 1 (emergencies only) and restored when the screen closes.
 * Text is UTF-8: S-Lang's UTF-8 mode is set explicitly (the initramfs has
 * no locale), so the half-block QR code is drawn as glyphs, not byte
 * escapes; LC_CTYPE is C.UTF-8 where that locale exists.
 * Passphrases: a password entry inside the dialog (NEWT_FLAG_PASSWORD); an
 * entry filter moves each typed byte into a locked secret and hands newt a
 * '*' instead, so the passphrase never lands in newt's (unlocked, unwiped)
 * entry buffer. Only appending and Backspace edit it.
 */
#include "ui/ui_internal.h"
#include "log.h"
#include "util.h"

#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <newt.h>
#include <poll.h>
#include <slang.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define PRINTK_PATH "/proc/sys/kernel/printk"
#define CONSOLE_ACTIVE_PATH "/sys/class/tty/console/active"
/* Console loglevel while a screen is up: KERN_EMERG only. */
#define QUIET_LOGLEVEL 1

struct newt_state {
	enum ui_bg bg;       /* root background currently set */
	newtComponent gauge_form, gauge_scale, gauge_label;
	bool gauge_window;
	char *status_msg;    /* last console log line (status area) */
	int saved_loglevel;  /* kernel console loglevel to restore, or -1 */
	char *saved_ctype;   /* LC_CTYPE before the screen, restored on close */
};

static struct newt_state *st(struct ui *ui)
{
	return ui->newt;
}

static void set_bg(struct ui *ui, enum ui_bg bg)
{
	struct newtColors c = newtDefaultColorPalette;

	if (bg == UI_BG_WARNING)
		c.rootBg = "yellow";
	else if (bg == UI_BG_ERROR)
		c.rootBg = "red";
	if (bg == UI_BG_WARNING)
		c.rootTextBg = "yellow", c.rootTextFg = "black";
	else if (bg == UI_BG_ERROR)
		c.rootTextBg = "red", c.rootTextFg = "white";
	newtSetColors(c);
	st(ui)->bg = bg;
}

/* The status area: the line above the help line, the last log message. */
static void draw_status(struct newt_state *s)
{
	int cols, rows;
	_cleanup_free_ char *line = NULL;

	if (!s->status_msg)
		return;
	newtGetScreenSize(&cols, &rows);
	if (cols < 2 || rows < 3)
		return;
	line = xasprintf("%-*.*s", cols - 1, cols - 1, s->status_msg);
	newtDrawRootText(0, rows - 2, line);
}

/* log_set_console_sink() while the screen is up. */
static void status_sink(enum log_level level, const char *msg, void *data)
{
	static const char *const prefix[] = {
		[LOG_ERROR] = "ERROR: ", [LOG_WARN] = "WARNING: ", [LOG_NOTE] = "NOTE: ",
		[LOG_INFO] = "", [LOG_DEBUG] = "DEBUG: ",
	};
	struct newt_state *s = data;
	char *m;

	free(s->status_msg);
	m = s->status_msg = xasprintf("%s%s", prefix[level <= LOG_DEBUG ? level : LOG_DEBUG],
				      msg);
	/* One line of plain ASCII: the width in columns is the byte count. */
	for (; *m; m++)
		if ((unsigned char)*m < 0x20 || (unsigned char)*m >= 0x7f)
			*m = (*m == '\n' || *m == '\t') ? ' ' : '?';
	draw_status(s);
	newtRefresh();
}

int ui_kernel_console_quiet(const char *printk_path, int level, int *ret_saved)
{
	_cleanup_free_ char *buf = NULL;
	_cleanup_free_ char *val = NULL;
	size_t len;
	char *end;
	long old;
	int fd, r;

	if ((r = fs_read_file(printk_path, 256, &buf, &len)) < 0)
		return r;
	errno = 0;
	old = strtol(buf, &end, 10);
	if (end == buf || errno || old < 0 || old > 15)
		return -EINVAL;
	fd = open(printk_path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	val = xasprintf("%d\n", level);
	r = write_full(fd, val, strlen(val));
	close(fd);
	if (r < 0)
		return r;
	*ret_saved = (int)old;
	return 0;
}

int ui_kernel_console_restore(const char *printk_path, int saved)
{
	_cleanup_free_ char *val = xasprintf("%d\n", saved);
	int fd = open(printk_path, O_WRONLY | O_CLOEXEC), r;

	if (fd < 0)
		return -errno;
	r = write_full(fd, val, strlen(val));
	close(fd);
	return r;
}

bool ui_fd_is_kernel_console(int fd, const char *active_path)
{
	char name[256];
	_cleanup_free_ char *active = NULL;
	const char *base;
	size_t len;

	if (ttyname_r(fd, name, sizeof(name)) != 0)
		return false;
	if (streq(name, "/dev/console"))
		return true;
	if (strncmp(name, "/dev/", 5) != 0 || fs_read_file(active_path, 4096, &active, &len) < 0)
		return false;
	base = name + 5; /* "ttyS0", "tty1", "pts/3": as console/active names them */
	for (char *save = NULL, *t = strtok_r(active, " \t\n", &save); t;
	     t = strtok_r(NULL, " \t\n", &save))
		if (streq(t, base) || (streq(t, "tty0") && !strncmp(base, "tty", 3) &&
				       base[3] >= '1' && base[3] <= '9'))
			return true;
	return false;
}

/* Clear, colour and draw the root line for a new screen. */
static void root(struct ui *ui, enum ui_bg bg)
{
	_cleanup_free_ char *status = ui_status_line(ui);
	set_bg(ui, bg);
	newtCls();
	newtDrawRootText(1, 0, status);
	draw_status(st(ui));
	newtPushHelpLine(bg == UI_BG_ERROR ? "  ERROR  <Tab>/<Alt-Tab> between elements | "
					     "<Space> selects | <Esc> back" :
			 bg == UI_BG_WARNING ? "  WARNING  <Tab>/<Alt-Tab> between elements | "
					       "<Space> selects | <Esc> back" :
			 "  <Tab>/<Alt-Tab> between elements | <Space> selects | <Esc> back");
}

static void screen_size(int *cols, int *rows)
{
	newtGetScreenSize(cols, rows);
	if (*cols < 40)
		*cols = 40;
	if (*rows < 12)
		*rows = 12;
}

/* Reflowed text component of at most width columns, height capped. */
static newtComponent text_box(const char *text, int width, int max_h, bool scroll,
			      int *ret_h)
{
	_cleanup_free_ char *folded = ui_fold(text, (unsigned)width);
	int lines = 1;
	newtComponent t;

	for (const char *p = folded; *p; p++)
		lines += *p == '\n';
	if (folded[0] && folded[strlen(folded) - 1] == '\n')
		lines--;
	if (!*folded)
		lines = 0;
	*ret_h = lines < max_h ? lines : max_h;
	if (*ret_h < 1)
		*ret_h = 1;
	t = newtTextbox(1, 1, width, *ret_h,
			(scroll || lines > max_h) ? NEWT_FLAG_SCROLL : 0);
	newtTextboxSetText(t, folded);
	return t;
}

static int newt_menu(struct ui *ui, enum ui_bg bg, const char *title, const char *text,
		     const struct ui_item *items, size_t n, size_t def)
{
	int cols, rows, w = 0, th, lh, r;
	size_t keyw = 0;
	newtComponent form, t, lb, ok, cancel;
	struct newtExitStruct es;

	screen_size(&cols, &rows);
	for (size_t i = 0; i < n; i++)
		if (strlen(items[i].key) > keyw)
			keyw = strlen(items[i].key);
	for (size_t i = 0; i < n; i++) {
		int l = (int)(keyw + 2 + strlen(items[i].label));
		if (l > w)
			w = l;
	}
	if ((int)strlen(title) + 4 > w)
		w = (int)strlen(title) + 4;
	if (w < 60)
		w = 60;
	if (w > cols - 8)
		w = cols - 8;

	root(ui, bg);
	t = text_box(text, w, rows / 3, false, &th);
	lh = (int)n;
	if (lh > rows - th - 10)
		lh = rows - th - 10;
	if (lh < 1)
		lh = 1;
	newtCenteredWindow(w + 2, th + lh + 6, title);
	lb = newtListbox(1, th + 2, lh, NEWT_FLAG_RETURNEXIT | (lh < (int)n ? NEWT_FLAG_SCROLL : 0));
	newtListboxSetWidth(lb, w);
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *e = xasprintf("%-*s  %s", (int)keyw, items[i].key,
						   items[i].label);
		newtListboxAppendEntry(lb, e, (void *)(uintptr_t)(i + 1));
	}
	if (def < n)
		newtListboxSetCurrent(lb, (int)def);
	ok = newtCompactButton(w / 2 - 12, th + lh + 3, "OK");
	cancel = newtCompactButton(w / 2 + 4, th + lh + 3, "Cancel");
	form = newtForm(NULL, NULL, 0);
	newtFormAddComponents(form, t, lb, ok, cancel, NULL);
	newtFormSetCurrent(form, lb);
	newtFormAddHotKey(form, NEWT_KEY_ESCAPE);
	/* Typing an item's one-character key moves the selection to it (like
	 * whiptail's tag search); Enter then confirms. */
	for (size_t i = 0; i < n; i++)
		if (strlen(items[i].key) == 1)
			newtFormAddHotKey(form, (unsigned char)items[i].key[0]);
	for (;;) {
		newtFormRun(form, &es);
		if (es.reason == NEWT_EXIT_HOTKEY && es.u.key == NEWT_KEY_ESCAPE) {
			r = -ECANCELED;
			break;
		}
		if (es.reason == NEWT_EXIT_HOTKEY) {
			for (size_t i = 0; i < n; i++)
				if (strlen(items[i].key) == 1 &&
				    (unsigned char)items[i].key[0] == es.u.key)
					newtListboxSetCurrent(lb, (int)i);
			newtFormSetCurrent(form, lb);
			continue;
		}
		if (es.reason == NEWT_EXIT_COMPONENT && es.u.co == cancel) {
			r = -ECANCELED;
			break;
		}
		if (es.reason == NEWT_EXIT_COMPONENT) {
			r = (int)(uintptr_t)newtListboxGetCurrent(lb) - 1;
			break;
		}
		r = -EIO;
		break;
	}
	newtFormDestroy(form);
	newtPopWindow();
	newtPopHelpLine();
	return r;
}

static int button_dialog(struct ui *ui, enum ui_bg bg, const char *title, const char *text,
			 bool scroll, const char *b1, const char *b2)
{
	int cols, rows, w, th, r;
	newtComponent form, t, k1, k2 = NULL;
	struct newtExitStruct es;
	size_t maxl = 0, cur = 0;

	screen_size(&cols, &rows);
	for (const char *p = text; ; p++) {
		if (*p == '\n' || !*p) {
			if (cur > maxl)
				maxl = cur;
			cur = 0;
			if (!*p)
				break;
		} else {
			cur++;
		}
	}
	w = (int)maxl + 2;
	if ((int)strlen(title) + 4 > w)
		w = (int)strlen(title) + 4;
	if (w < 40)
		w = 40;
	if (w > 76)
		w = 76;
	if (w > cols - 8)
		w = cols - 8;
	root(ui, bg);
	t = text_box(text, w, rows - 10, scroll, &th);
	newtCenteredWindow(w + 2, th + 5, title);
	if (b2) {
		k1 = newtCompactButton(w / 2 - 12, th + 2, b1);
		k2 = newtCompactButton(w / 2 + 4, th + 2, b2);
	} else {
		k1 = newtCompactButton(w / 2 - 2, th + 2, b1);
	}
	form = newtForm(NULL, NULL, 0);
	newtFormAddComponents(form, t, k1, k2, NULL);
	newtFormSetCurrent(form, k1);
	newtFormAddHotKey(form, NEWT_KEY_ESCAPE);
	newtFormRun(form, &es);
	if (es.reason == NEWT_EXIT_HOTKEY)
		r = -ECANCELED;
	else if (es.reason == NEWT_EXIT_COMPONENT && es.u.co == k1)
		r = 1;
	else if (es.reason == NEWT_EXIT_COMPONENT && es.u.co == k2)
		r = 0;
	else
		r = -EIO;
	newtFormDestroy(form);
	newtPopWindow();
	newtPopHelpLine();
	return r;
}

static int newt_yesno(struct ui *ui, enum ui_bg bg, const char *title, const char *text)
{
	return button_dialog(ui, bg, title, text, false, "Yes", "No");
}

static int newt_msgbox(struct ui *ui, enum ui_bg bg, const char *title, const char *text,
		       bool scroll)
{
	int r = button_dialog(ui, bg, title, text, scroll, "OK", NULL);
	return r == -ECANCELED || r == 1 ? 0 : r;
}

/* An entry dialog: text above a one-line entry (initial value, flags,
 * filter if any), OK and Cancel. 0 when confirmed (Enter or OK; the
 * entry's value is then passed to done(value, done_data) before the form
 * goes), -ECANCELED (Cancel, Esc) or -EIO. */
static int entry_dialog(struct ui *ui, const char *title, const char *text,
			const char *initial, int flags, newtEntryFilter filter,
			void *filter_data, void (*done)(const char *value, void *data),
			void *done_data)
{
	int cols, rows, w = 60, th, r;
	newtComponent form, t, e, ok, cancel;
	struct newtExitStruct es;

	screen_size(&cols, &rows);
	if (w > cols - 8)
		w = cols - 8;
	root(ui, UI_BG_NORMAL);
	t = text_box(text, w, rows / 2, false, &th);
	newtCenteredWindow(w + 2, th + 7, title);
	e = newtEntry(1, th + 2, initial, w, NULL, NEWT_FLAG_SCROLL | NEWT_FLAG_RETURNEXIT | flags);
	if (filter)
		newtEntrySetFilter(e, filter, filter_data);
	ok = newtCompactButton(w / 2 - 12, th + 4, "OK");
	cancel = newtCompactButton(w / 2 + 4, th + 4, "Cancel");
	form = newtForm(NULL, NULL, 0);
	newtFormAddComponents(form, t, e, ok, cancel, NULL);
	newtFormSetCurrent(form, e);
	newtFormAddHotKey(form, NEWT_KEY_ESCAPE);
	newtFormRun(form, &es);
	if (es.reason == NEWT_EXIT_COMPONENT && (es.u.co == e || es.u.co == ok)) {
		if (done)
			done(newtEntryGetValue(e), done_data);
		r = 0;
	} else if (es.reason == NEWT_EXIT_HOTKEY ||
		   (es.reason == NEWT_EXIT_COMPONENT && es.u.co == cancel)) {
		r = -ECANCELED;
	} else {
		r = -EIO;
	}
	newtFormDestroy(form);
	newtPopWindow();
	newtPopHelpLine();
	return r;
}

static void keep_value(const char *value, void *data)
{
	*(char **)data = xstrdup(value);
}

static int newt_input(struct ui *ui, const char *title, const char *prompt,
		      const char *initial, char **ret)
{
	return entry_dialog(ui, title, prompt, initial ? initial : "", 0, NULL, NULL, keep_value,
			    ret);
}

struct pw_filter {
	struct secret *s;
	size_t max;
};

/* Keeps the entry's '*'s and the secret in step: a byte typed at the end is
 * stored in the secret and newt gets '*'; Backspace at the end removes the
 * last byte of both; anything that would move the cursor or edit elsewhere is
 * dropped. */
static int pw_filter(newtComponent entry, void *data, int ch, int cursor)
{
	struct pw_filter *f = data;

	(void)entry;
	if (ch == NEWT_KEY_BKSPC || ch == 0x7f || ch == '\b') {
		if (f->s->len == 0 || cursor != (int)f->s->len)
			return 0;
		f->s->data[--f->s->len] = 0;
		return NEWT_KEY_BKSPC;
	}
	if (ch >= 0x20 && ch <= 0xff) {
		if (f->s->len >= f->max || cursor != (int)f->s->len)
			return 0;
		f->s->data[f->s->len++] = (uint8_t)ch;
		return '*';
	}
	switch (ch) {
	case NEWT_KEY_LEFT:
	case NEWT_KEY_RIGHT:
	case NEWT_KEY_HOME:
	case NEWT_KEY_END:
	case NEWT_KEY_DELETE:
		return 0;
	}
	if (ch < 0x20 && ch != '\r' && ch != '\t' && ch != NEWT_KEY_ESCAPE)
		return 0; /* ^A, ^E, ^K, ^U, ...: line editing */
	return ch;
}

static int newt_passphrase(struct ui *ui, const char *title, const char *prompt, size_t max,
			   struct secret **ret)
{
	_cleanup_secret_ struct secret *sec = secret_new(max);
	_cleanup_free_ char *text = xasprintf("%s:", prompt);
	struct pw_filter f = {.s = sec, .max = max};
	int r;

	if (!sec)
		return -errno;
	sec->len = 0;
	r = entry_dialog(ui, title, text, "", NEWT_FLAG_PASSWORD, pw_filter, &f, NULL, NULL);
	if (r == 0)
		*ret = TAKE_PTR(sec);
	return r;
}

static int newt_progress(struct ui *ui, const char *title, const char *text, unsigned pct)
{
	struct newt_state *s = st(ui);
	int cols, rows, w = 60;

	screen_size(&cols, &rows);
	if (w > cols - 8)
		w = cols - 8;
	if (w < 8)
		w = 8;
	if (!s->gauge_window) {
		root(ui, UI_BG_NORMAL);
		newtCenteredWindow(w + 2, 4, title);
		s->gauge_label = newtLabel(1, 0, "");
		s->gauge_scale = newtScale(1, 2, w, 100);
		s->gauge_form = newtForm(NULL, NULL, 0);
		newtFormAddComponents(s->gauge_form, s->gauge_label, s->gauge_scale, NULL);
		s->gauge_window = true;
	}
	/* A newt label is not clipped to its window: keep the end of a long
	 * text (the figures: bytes, rate, ETA), one line. */
	{
		size_t len = strcspn(text, "\n");
		_cleanup_free_ char *t = len > (size_t)w ?
			xasprintf("...%.*s", w - 3, text + len - (size_t)(w - 3)) :
			xstrndup(text, len);
		newtLabelSetText(s->gauge_label, t);
	}
	newtScaleSet(s->gauge_scale, pct);
	newtDrawForm(s->gauge_form);
	newtRefresh();
	return 0;
}

static void newt_progress_end(struct ui *ui)
{
	struct newt_state *s = st(ui);
	if (!s->gauge_window)
		return;
	newtFormDestroy(s->gauge_form);
	newtPopWindow();
	newtPopHelpLine();
	s->gauge_window = false;
}

static int newt_countdown(struct ui *ui, const char *text, unsigned seconds)
{
	int cols, rows, w, r = 0;
	newtComponent form, label;

	screen_size(&cols, &rows);
	w = (int)strlen(text) + 8;
	if (w > cols - 8)
		w = cols - 8;
	root(ui, UI_BG_NORMAL);
	newtCenteredWindow(w + 2, 1, "Automatic boot");
	label = newtLabel(1, 0, "");
	form = newtForm(NULL, NULL, 0);
	newtFormAddComponents(form, label, NULL);
	for (unsigned left = seconds; left > 0 && r == 0; left--) {
		_cleanup_free_ char *l = xasprintf("%s (%u)", text, left);
		struct pollfd p = {.fd = ui->in_fd, .events = POLLIN};
		int k;

		newtLabelSetText(label, l);
		newtDrawForm(form);
		newtRefresh();
		k = poll(&p, 1, 1000);
		if (k > 0) {
			newtClearKeyBuffer();
			r = 1;
		} else if (k < 0 && errno != EINTR) {
			r = -errno;
		}
	}
	newtFormDestroy(form);
	newtPopWindow();
	newtPopHelpLine();
	return r;
}

static void newt_close(struct ui *ui)
{
	if (!ui->newt)
		return;
	struct newt_state *s = st(ui);

	newt_progress_end(ui);
	log_set_console_sink(NULL, NULL);
	newtFinished();
	if (s->saved_loglevel >= 0)
		(void)ui_kernel_console_restore(PRINTK_PATH, s->saved_loglevel);
	if (s->saved_ctype) {
		(void)setlocale(LC_CTYPE, s->saved_ctype);
		free(s->saved_ctype);
	}
	free(s->status_msg);
	free(ui->newt);
	ui->newt = NULL;
}

int ui_newt_open(struct ui *ui)
{
	if (ui->in_fd != 0 || ui->out_fd != 1 || !isatty(0) || !isatty(1))
		return log_error_errno(-ENOTTY, "newt UI needs a terminal on stdin/stdout");
	struct newt_state *s;
	const char *ctype = setlocale(LC_CTYPE, NULL);

	s = ui->newt = xcalloc(1, sizeof(struct newt_state));
	s->saved_loglevel = -1;
	s->saved_ctype = xstrdup(ctype ? ctype : "C");
	if (newtInit() < 0) {
		free(s->saved_ctype);
		free(ui->newt);
		ui->newt = NULL;
		return log_error_errno(-EIO, "newt: cannot initialise the terminal");
	}
	/* newtInit() asked S-Lang to follow the environment's locale, and the
	 * initramfs has none: S-Lang draws UTF-8 whatever the locale (the QR
	 * code's half blocks). newt counts columns with LC_CTYPE: C.UTF-8 where
	 * it exists (25 KiB more in the payload: left out, our screens are
	 * ASCII but for the QR code, which ui_fold() already measures). */
	if (!setlocale(LC_CTYPE, "C.UTF-8"))
		log_debug("no C.UTF-8 locale: newt counts bytes as columns");
	SLutf8_enable(1);
	SLsmg_utf8_enable(1);
	SLtt_utf8_enable(1);
	log_set_console_sink(status_sink, s);
	if (ui_fd_is_kernel_console(0, CONSOLE_ACTIVE_PATH)) {
		int r = ui_kernel_console_quiet(PRINTK_PATH, QUIET_LOGLEVEL, &s->saved_loglevel);
		if (r < 0)
			log_debug("kernel console loglevel not lowered: %s", strerror(-r));
	}
	newtCls();
	return 0;
}

const struct ui_ops ui_newt_ops = {
	.menu = newt_menu,
	.yesno = newt_yesno,
	.msgbox = newt_msgbox,
	.input = newt_input,
	.passphrase = newt_passphrase,
	.progress = newt_progress,
	.progress_end = newt_progress_end,
	.countdown = newt_countdown,
	.close = newt_close,
};
