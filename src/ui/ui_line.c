/* ui_line.c - plain-text back-end for dumb serial consoles (see ui.h). */
#include "ui/ui_internal.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define LINE_WIDTH 75

static void header(struct ui *ui, enum ui_bg bg, const char *title)
{
	_cleanup_free_ char *status = ui_status_line(ui);
	const char *mark = bg == UI_BG_ERROR ? "!! ERROR !! " :
			   bg == UI_BG_WARNING ? "! WARNING ! " : "";

	ui_printf(ui->out_fd, "\n==== %s%s ====\n%s\n", mark, title, status);
}

static void body(struct ui *ui, const char *text)
{
	_cleanup_free_ char *f = NULL;
	if (!*text)
		return;
	f = ui_fold(text, LINE_WIDTH);
	ui_printf(ui->out_fd, "%s\n", f);
}

static int line_menu(struct ui *ui, enum ui_bg bg, const char *title, const char *text,
		     const struct ui_item *items, size_t n, size_t def)
{
	header(ui, bg, title);
	body(ui, text);
	for (size_t i = 0; i < n; i++)
		ui_printf(ui->out_fd, " %2zu) %-3s %s\n", i + 1, items[i].key, items[i].label);
	for (;;) {
		_cleanup_free_ char *ans = NULL;
		unsigned long long v;
		long k;
		int r;

		if (def < n)
			ui_printf(ui->out_fd, "Choose [1-%zu or key, Enter = %s, Esc = back]: ", n,
				  items[def].key);
		else
			ui_printf(ui->out_fd, "Choose [1-%zu or key, Esc = back]: ", n);
		r = ui_read_line(ui->in_fd, UI_LINE_MAX, &ans);
		if (r == -EFBIG)
			continue;
		if (r < 0)
			return r;
		if (streq(ans, "\x1b") || streq(ans, "ESC"))
			return -ECANCELED;
		if (!*ans && def < n)
			return (int)def;
		k = ui_item_by_key(items, n, ans);
		if (k >= 0)
			return (int)k;
		if (parse_uint(ans, n, &v) == 0 && v >= 1)
			return (int)(v - 1);
		ui_printf(ui->out_fd, "'%s' is not a choice.\n", ans);
	}
}

static int parse_yesno(const char *a)
{
	if (streq(a, "y") || streq(a, "Y") || streq(a, "yes") || streq(a, "YES") ||
	    streq(a, "Yes"))
		return 1;
	if (streq(a, "n") || streq(a, "N") || streq(a, "no") || streq(a, "NO") ||
	    streq(a, "No"))
		return 0;
	if (streq(a, "\x1b") || streq(a, "ESC"))
		return -ECANCELED;
	return -EINVAL;
}

static int line_yesno(struct ui *ui, enum ui_bg bg, const char *title, const char *text)
{
	header(ui, bg, title);
	body(ui, text);
	for (;;) {
		_cleanup_free_ char *ans = NULL;
		int r;

		ui_write(ui->out_fd, "[y/n]: ");
		r = ui_read_line(ui->in_fd, UI_LINE_MAX, &ans);
		if (r == -EFBIG)
			continue;
		if (r < 0)
			return r;
		r = parse_yesno(ans);
		if (r != -EINVAL)
			return r;
	}
}

static int line_msgbox(struct ui *ui, enum ui_bg bg, const char *title, const char *text,
		       bool scroll)
{
	_cleanup_free_ char *ans = NULL;
	int r;

	(void)scroll; /* the console scrolls by itself */
	header(ui, bg, title);
	body(ui, text);
	ui_write(ui->out_fd, "[Press Enter to continue]");
	r = ui_read_line(ui->in_fd, UI_LINE_MAX, &ans);
	ui_write(ui->out_fd, "\n");
	return r == -EFBIG ? 0 : r;
}

static int line_input(struct ui *ui, const char *title, const char *prompt,
		      const char *initial, char **ret)
{
	_cleanup_free_ char *ans = NULL;
	int r;

	header(ui, UI_BG_NORMAL, title);
	if (initial && *initial)
		ui_printf(ui->out_fd, "%s [%s]: ", prompt, initial);
	else
		ui_printf(ui->out_fd, "%s: ", prompt);
	r = ui_read_line(ui->in_fd, UI_LINE_MAX, &ans);
	if (r < 0)
		return r;
	if (streq(ans, "\x1b"))
		return -ECANCELED;
	if (!*ans && initial) {
		free(ans);
		ans = xstrdup(initial);
	}
	*ret = TAKE_PTR(ans);
	return 0;
}

static int line_passphrase(struct ui *ui, const char *title, const char *prompt, size_t max,
			   struct secret **ret)
{
	_cleanup_free_ char *p = xasprintf("%s: ", prompt);
	int r;

	header(ui, UI_BG_NORMAL, title);
	if (isatty(ui->in_fd)) {
		r = secret_read_passphrase(ui->in_fd, p, max, ret);
		ui_write(ui->out_fd, "\n");
		return r;
	}
	ui_write(ui->out_fd, p);
	r = ui_read_secret_line(ui->in_fd, max, ret);
	ui_write(ui->out_fd, "\n");
	return r;
}

static int line_progress(struct ui *ui, const char *title, const char *text, unsigned pct)
{
	/* Print at start, every 10 %, and at 100 %: a serial log stays short. */
	if (ui->last_pct >= 0 && (int)pct / 10 == ui->last_pct / 10 && pct != 100)
		return 0;
	if (ui->last_pct == (int)pct)
		return 0;
	ui->last_pct = (int)pct;
	return ui_printf(ui->out_fd, "%s: %s %u%%\n", title, text, pct);
}

static void line_progress_end(struct ui *ui)
{
	ui->last_pct = -1;
}

static int line_countdown(struct ui *ui, const char *text, unsigned seconds)
{
	struct termios old, raw;
	bool tty = tcgetattr(ui->in_fd, &old) == 0;
	_cleanup_free_ char *status = ui_status_line(ui);
	int r = 0;

	/* The attestation (TOTP/HOTP) the auto-boot rests on, as newt's root
	 * line shows it during the countdown. */
	ui_printf(ui->out_fd, "\n%s\n", status);
	if (tty) {
		raw = old;
		raw.c_lflag &= ~(ICANON | ECHO);
		raw.c_cc[VMIN] = 1;
		raw.c_cc[VTIME] = 0;
		tcsetattr(ui->in_fd, TCSANOW, &raw);
	}
	for (unsigned left = seconds; left > 0 && r == 0; left--) {
		struct pollfd p = {.fd = ui->in_fd, .events = POLLIN};
		struct timespec t0, t1;
		long ms = 1000;

		ui_printf(ui->out_fd, "\r%s (%u) ", text, left);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		while (ms > 0) {
			int k = poll(&p, 1, (int)ms);
			if (k < 0 && errno == EINTR)
				goto again;
			if (k < 0) {
				r = -errno;
				break;
			}
			if (k > 0) {
				char c;
				ssize_t got = read(ui->in_fd, &c, 1);
				/* EOF is no key press: a closed console must not stop the boot. */
				if (got == 1) {
					r = 1;
					/* in line mode the key ends a line: eat the rest */
					while (!tty && c != '\n' && read(ui->in_fd, &c, 1) == 1)
						;
				} else {
					p.fd = -1;
				}
				if (r)
					break;
			}
again:
			clock_gettime(CLOCK_MONOTONIC, &t1);
			ms = 1000 - ((t1.tv_sec - t0.tv_sec) * 1000 +
				     (t1.tv_nsec - t0.tv_nsec) / 1000000);
		}
	}
	ui_write(ui->out_fd, "\n");
	if (tty)
		tcsetattr(ui->in_fd, TCSANOW, &old);
	return r;
}

const struct ui_ops ui_line_ops = {
	.menu = line_menu,
	.yesno = line_yesno,
	.msgbox = line_msgbox,
	.input = line_input,
	.passphrase = line_passphrase,
	.progress = line_progress,
	.progress_end = line_progress_end,
	.countdown = line_countdown,
};
