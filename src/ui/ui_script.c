/* ui_script.c - scripted back-end: answers from a file, transcript to out_fd.
 * Grammar and error rules in ui.h. */
#include "ui/ui_internal.h"
#include "log.h"
#include "util.h"

#include <errno.h>

static void screen(struct ui *ui, const char *kind, enum ui_bg bg, const char *title,
		   const char *text)
{
	_cleanup_free_ char *status = ui_status_line(ui);

	ui_printf(ui->out_fd, "=== %s [%s] %s\n", kind, ui_bg_name(bg), title);
	ui_printf(ui->out_fd, "status: %s\n", status);
	if (*text)
		ui_printf(ui->out_fd, "%s%s", text, text[strlen(text) - 1] == '\n' ? "" : "\n");
}

/* Next answer, or -EPROTO (logged) at the end of the script. */
static int next_answer(struct ui *ui, const char *what, const char **ret, unsigned *ret_line)
{
	struct ui_script *s = &ui->script;

	if (s->next >= s->n)
		return log_error_errno(-EPROTO, "%s: script ended, but the UI asks: %s",
				       s->name, what);
	*ret_line = s->lines[s->next];
	*ret = s->answers[s->next++];
	return 0;
}

static int script_menu(struct ui *ui, enum ui_bg bg, const char *title, const char *text,
		       const struct ui_item *items, size_t n, size_t def)
{
	const char *a = NULL;
	unsigned line = 0;
	long k;
	int r;

	screen(ui, "menu", bg, title, text);
	for (size_t i = 0; i < n; i++)
		ui_printf(ui->out_fd, "  %s) %s%s\n", items[i].key, items[i].label,
			  i == def ? " (default)" : "");
	if ((r = next_answer(ui, title, &a, &line)) < 0)
		return r;
	ui_printf(ui->out_fd, "> %s\n", a);
	if (streq(a, "ESC"))
		return -ECANCELED;
	k = ui_item_by_key(items, n, a);
	if (k < 0)
		return log_error_errno(-EPROTO, "%s:%u: '%s' is not a key of menu '%s'",
				       ui->script.name, line, a, title);
	return (int)k;
}

static int script_yesno(struct ui *ui, enum ui_bg bg, const char *title, const char *text)
{
	const char *a = NULL;
	unsigned line = 0;
	int r;

	screen(ui, "yesno", bg, title, text);
	if ((r = next_answer(ui, title, &a, &line)) < 0)
		return r;
	ui_printf(ui->out_fd, "> %s\n", a);
	if (streq(a, "y") || streq(a, "yes"))
		return 1;
	if (streq(a, "n") || streq(a, "no"))
		return 0;
	if (streq(a, "ESC"))
		return -ECANCELED;
	return log_error_errno(-EPROTO, "%s:%u: '%s' is not y/n for '%s'", ui->script.name,
			       line, a, title);
}

static int script_msgbox(struct ui *ui, enum ui_bg bg, const char *title, const char *text,
			 bool scroll)
{
	screen(ui, scroll ? "textbox" : "msgbox", bg, title, text);
	return 0;
}

static int script_input(struct ui *ui, const char *title, const char *prompt,
			const char *initial, char **ret)
{
	const char *a = NULL;
	unsigned line = 0;
	int r;

	screen(ui, "input", UI_BG_NORMAL, title, prompt);
	if (initial)
		ui_printf(ui->out_fd, "  [%s]\n", initial);
	if ((r = next_answer(ui, title, &a, &line)) < 0)
		return r;
	ui_printf(ui->out_fd, "> %s\n", a);
	if (streq(a, "ESC"))
		return -ECANCELED;
	*ret = xstrdup(a);
	return 0;
}

static int script_passphrase(struct ui *ui, const char *title, const char *prompt,
			     size_t max, struct secret **ret)
{
	int r;

	screen(ui, "passphrase", UI_BG_NORMAL, title, prompt);
	if (ui->secret_fd < 0)
		return log_error_errno(-ENOKEY, "scripted UI: passphrase '%s' asked but no "
					"secret fd (HEADS_UI_SECRET_FD)", prompt);
	r = ui_read_secret_line(ui->secret_fd, max, ret);
	if (r < 0)
		return log_error_errno(r, "scripted UI: reading passphrase '%s' from fd %d",
				       prompt, ui->secret_fd);
	ui_write(ui->out_fd, "> (passphrase read from secret fd)\n");
	return 0;
}

static int script_progress(struct ui *ui, const char *title, const char *text, unsigned pct)
{
	if (ui->last_pct == (int)pct)
		return 0;
	ui->last_pct = (int)pct;
	return ui_printf(ui->out_fd, "=== progress %s: %s %u%%\n", title, text, pct);
}

static void script_progress_end(struct ui *ui)
{
	ui->last_pct = -1;
}

static int script_countdown(struct ui *ui, const char *text, unsigned seconds)
{
	const char *a = NULL;
	unsigned line = 0;
	int r;

	ui_printf(ui->out_fd, "=== countdown %us: %s\n", seconds, text);
	if ((r = next_answer(ui, text, &a, &line)) < 0)
		return r;
	ui_printf(ui->out_fd, "> %s\n", a);
	if (streq(a, "key"))
		return 1;
	if (streq(a, "timeout"))
		return 0;
	return log_error_errno(-EPROTO, "%s:%u: '%s' is not key/timeout for a countdown",
			       ui->script.name, line, a);
}

const struct ui_ops ui_script_ops = {
	.menu = script_menu,
	.yesno = script_yesno,
	.msgbox = script_msgbox,
	.input = script_input,
	.passphrase = script_passphrase,
	.progress = script_progress,
	.progress_end = script_progress_end,
	.countdown = script_countdown,
};
