/* session.c - a flow's questions, messages and TPM (see flow/flow.h). */
#include "flow/flow.h"
#include "board.h"
#include "cmd/cmd.h"
#include "log.h"
#include "secret.h"
#include "tpm/tpm.h"
#include "ui/ui.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>

int flow_secret(const struct session *s, enum flow_secret which, int attempt, const char *title,
		const char *prompt, size_t max, struct secret **ret)
{
	if (s->prompt)
		return s->prompt->secret(s->prompt->userdata, which, attempt, title, prompt, max,
					 ret);
	if (!s->ui)
		return -ENOTTY;
	return ui_passphrase(s->ui, title, prompt, max, ret);
}

int flow_yesno(const struct session *s, enum ui_bg bg, const char *title, const char *text)
{
	if (s->prompt)
		return s->prompt->yesno(s->prompt->userdata, bg, title, text);
	if (!s->ui)
		return -ENOTTY;
	return ui_yesno(s->ui, bg, title, text);
}

void flow_tell(const struct session *s, enum ui_bg bg, const char *title, const char *text)
{
	if (s->prompt)
		s->prompt->tell(s->prompt->userdata, bg, title, text);
	else if (s->ui)
		ui_msgbox(s->ui, bg, title, text);
	else if (bg == UI_BG_ERROR)
		log_error("%s", text);
	else
		log_warn("%s", text);
}

void flow_progress(const struct session *s, const char *title, const char *text,
		   unsigned percent)
{
	if (s->ui)
		ui_progress(s->ui, title, text, percent);
}

void flow_progress_end(const struct session *s)
{
	if (s->ui)
		ui_progress_end(s->ui);
}

int flow_tpm_open(const struct session *s, struct tpm **ret)
{
	/* The primary key recorded at ownership (pinned: never salt with,
	 * seal to or unseal under another). */
	int r = cmd_tpm_open(s->tcti, s->cfg ? config_get(s->cfg, CMD_CONFIG_PRIMARY_NAME) : NULL,
			     ret);
	if (r == 0 && (r = board_tpm_check_version(s->cfg, *ret)) < 0) {
		tpm_close(*ret);
		*ret = NULL;
	}
	return r;
}

int flow_sign_pin(void *session, const char *hint, int attempt, struct secret **ret)
{
	const struct session *s = session;
	_cleanup_free_ char *p = xasprintf("%sGPG signing PIN (key passphrase or card PIN)%s%s "
					   "(attempt %d)",
					   attempt > 1 ? "Wrong PIN or passphrase. " : "",
					   hint && *hint ? " for " : "", hint ? hint : "", attempt);
	return flow_secret(s, FLOW_SECRET_PIN, attempt, "Sign /boot", p, 4096, ret);
}

void flow_rollback_rules(const struct session *s, bool *ret_required, uint32_t *ret_counter,
			 bool *ret_use)
{
	const char *id = s->cfg ? config_get(s->cfg, "CONFIG_ROLLBACK_COUNTER") : NULL;
	unsigned long long v = 0;

	*ret_required = s->cfg && config_enabled(s->cfg, "CONFIG_BOOT_REQ_ROLLBACK");
	if (id && *id && parse_uint(id, UINT32_MAX, &v) < 0) {
		log_warn("CONFIG_ROLLBACK_COUNTER=%s is not a counter index: ignored", id);
		v = 0;
	}
	*ret_counter = (uint32_t)v;
	if (ret_use)
		*ret_use = !(s->cfg && config_enabled(s->cfg, "CONFIG_IGNORE_ROLLBACK"));
}
