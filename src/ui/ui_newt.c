/* ui_newt.c - newt back-end with the whiptail look (see ui.h).
 *
 * newt draws on the controlling terminal through S-Lang (fds 0/1), so this
 * back-end requires in_fd == 0 and out_fd == 1 and both to be terminals.
 * Root line: the status (board | date | TOTP | HOTP). Warning/error screens
 * recolour the root background yellow/red before drawing, like the shell
 * version's NEWT_COLORS=root=,yellow|red. Passphrases: the screen is
 * suspended and the passphrase read with echo off by secret.h, so it never
 * lands in newt's (unlocked, unwiped) entry buffer.
 */
#include "ui/ui_internal.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <newt.h>
#include <poll.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

struct newt_state {
	enum ui_bg bg;       /* root background currently set */
	newtComponent gauge_form, gauge_scale, gauge_label;
	bool gauge_window;
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

/* Clear, colour and draw the root line for a new screen. */
static void root(struct ui *ui, enum ui_bg bg)
{
	_cleanup_free_ char *status = ui_status_line(ui);
	set_bg(ui, bg);
	newtCls();
	newtDrawRootText(1, 0, status);
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

static int newt_input(struct ui *ui, const char *title, const char *prompt,
		      const char *initial, char **ret)
{
	int cols, rows, w = 60, th, r;
	newtComponent form, t, e, ok, cancel;
	struct newtExitStruct es;

	screen_size(&cols, &rows);
	if (w > cols - 8)
		w = cols - 8;
	root(ui, UI_BG_NORMAL);
	t = text_box(prompt, w, rows / 2, false, &th);
	newtCenteredWindow(w + 2, th + 7, title);
	e = newtEntry(1, th + 2, initial ? initial : "", w, NULL, NEWT_FLAG_SCROLL |
		      NEWT_FLAG_RETURNEXIT);
	ok = newtCompactButton(w / 2 - 12, th + 4, "OK");
	cancel = newtCompactButton(w / 2 + 4, th + 4, "Cancel");
	form = newtForm(NULL, NULL, 0);
	newtFormAddComponents(form, t, e, ok, cancel, NULL);
	newtFormSetCurrent(form, e);
	newtFormAddHotKey(form, NEWT_KEY_ESCAPE);
	newtFormRun(form, &es);
	if (es.reason == NEWT_EXIT_COMPONENT && (es.u.co == e || es.u.co == ok)) {
		*ret = xstrdup(newtEntryGetValue(e));
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

static int newt_passphrase(struct ui *ui, const char *title, const char *prompt, size_t max,
			   struct secret **ret)
{
	_cleanup_free_ char *p = xasprintf("%s: ", prompt);
	int r;

	newtSuspend();
	ui_printf(ui->out_fd, "\n\n==== %s ====\n", title);
	r = secret_read_passphrase(ui->in_fd, p, max, ret);
	ui_write(ui->out_fd, "\n");
	newtResume();
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
	newt_progress_end(ui);
	newtFinished();
	free(ui->newt);
	ui->newt = NULL;
}

int ui_newt_open(struct ui *ui)
{
	if (ui->in_fd != 0 || ui->out_fd != 1 || !isatty(0) || !isatty(1))
		return log_error_errno(-ENOTTY, "newt UI needs a terminal on stdin/stdout");
	ui->newt = xcalloc(1, sizeof(struct newt_state));
	if (newtInit() < 0) {
		free(ui->newt);
		ui->newt = NULL;
		return log_error_errno(-EIO, "newt: cannot initialise the terminal");
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
