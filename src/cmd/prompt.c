/* prompt.c - a command's answers to a flow's questions (see cmd.h). */
#include "cmd/cmd.h"
#include "flow/flow.h"
#include "log.h"
#include "secret.h"
#include "ui/ui.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

void cmd_prompt_init(struct cmd_prompt *p)
{
	*p = (struct cmd_prompt){.tty = -1};
	for (size_t i = 0; i < ARRAY_SIZE(p->fd); i++)
		p->fd[i] = -1;
}

void cmd_prompt_done(struct cmd_prompt *p)
{
	ui_close(p->ui);
	p->ui = NULL;
	if (p->tty >= 0)
		close(p->tty);
	p->tty = -1;
}

static int get_ui(struct cmd_prompt *p, struct ui **ret)
{
	struct ui_options uo;
	int r;

	if (!p->ui) {
		ui_options_init(&uo);
		r = ui_options_from_env(&uo);
		if (r == 0 && uo.mode == UI_AUTO && !uo.script_path && uo.script_fd < 0) {
			/* a command's prompt: line mode on the terminal unless
			 * $HEADS_UI asks for another back-end (as cmd_passphrase) */
			p->tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
			if (p->tty < 0)
				r = -ENOTTY;
			uo.mode = UI_LINE;
			uo.in_fd = uo.out_fd = p->tty;
		}
		if (r == 0)
			r = ui_open(&uo, &p->ui);
		if (r < 0)
			return log_error_errno(r, "cannot talk to the user (no terminal; use the "
					       "--*-fd options)");
	}
	*ret = p->ui;
	return 0;
}

static int secret(void *userdata, enum flow_secret which, int attempt, const char *title,
		  const char *prompt, size_t max, struct secret **ret)
{
	struct cmd_prompt *p = userdata;
	struct ui *ui;
	int fd = (size_t)which < ARRAY_SIZE(p->fd) ? p->fd[which] : -1;
	int r;

	if (fd >= 0) {
		/* a script's answer is given once: a wrong one is not retried */
		if (attempt > 1)
			return -EACCES;
		return secret_read_line_fd(fd, max, ret);
	}
	r = get_ui(p, &ui);
	if (r < 0)
		return r;
	return ui_passphrase(ui, title, prompt, max, ret);
}

static int yesno(void *userdata, enum ui_bg bg, const char *title, const char *text)
{
	struct cmd_prompt *p = userdata;
	struct ui *ui;
	int r;

	if (p->yes)
		return 1;
	r = get_ui(p, &ui);
	if (r < 0)
		return r;
	return ui_yesno(ui, bg, title, text);
}

static void tell(void *userdata, enum ui_bg bg, const char *title, const char *text)
{
	(void)userdata;
	(void)title;
	if (bg == UI_BG_ERROR)
		log_error("%s", text);
	else if (bg == UI_BG_WARNING)
		log_warn("%s", text);
	else
		log_info("%s", text);
}

struct flow_prompt cmd_prompt_ops(struct cmd_prompt *p)
{
	return (struct flow_prompt){.secret = secret, .yesno = yesno, .tell = tell,
				    .userdata = p};
}
