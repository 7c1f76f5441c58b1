/* flow/flow.h - what every flow (src/flow/<name>.c) is given and returns.
 *
 * A flow is one thing a person does (boot, recovery, TOTP, ...), written
 * once and called both by its command (src/cmd/<name>.c: argv -> options
 * -> flow -> exit status) and by `heads menu`. It gets a session: the UI
 * it talks through (NULL: a command without one), the board settings
 * already layered (board.h; never reloaded from disk by a flow), the TPM to
 * use, the trusted keys and whether this is a dry run.
 */
#ifndef HEADS_FLOW_H
#define HEADS_FLOW_H

#include "config.h"
#include "ui/ui.h"

#include <stdbool.h>
#include <stddef.h>

struct ui;
struct secret;
struct tpm;
struct flow_prompt;

struct session {
	struct ui *ui;              /* NULL: none open */
	const struct config *cfg;   /* the board settings (board_config_load) */
	const char *tcti;           /* NULL: board_tcti()'s default */
	const char *keyring;        /* the ROM keyring (trusted public keys) */
	const char *gnupghome;      /* the GnuPG home with the signing key */
	const char *secret_dir;     /* RAM-only secret area */
	bool dry_run;               /* never kexec, power off or reboot */
	/* How a command answers a flow's questions (its --*-fd options,
	 * --yes, a UI opened only when asked); NULL: through ui. */
	const struct flow_prompt *prompt;
};

/* How a flow ended, for the menu's state machine (src/cmd/menu.c). */
enum flow_outcome {
	FLOW_BACK,     /* back to the screen it came from */
	FLOW_DONE,     /* finished: the caller goes on (at the top: the menu exits) */
	FLOW_REBOOT,   /* the machine must reboot (e.g. the ROM was written) */
	FLOW_RECOVERY, /* go to the recovery shell */
	FLOW_UI_GONE,  /* the console or script ended: stop at once */
};

/* What a flow asks (flow_secret) names the secret, so that a command can
 * answer it from the matching --*-fd option. */
enum flow_secret {
	FLOW_SECRET_DRK,       /* LUKS Disk Recovery Key */
	FLOW_SECRET_NEW_DRK,   /* a new Disk Recovery Key (and its repetition) */
	FLOW_SECRET_DUK,       /* a new Disk Unlock Key passphrase (and its repetition) */
	FLOW_SECRET_OWNER,     /* the TPM owner passphrase */
	FLOW_SECRET_NEW_OWNER, /* a new TPM owner passphrase */
	FLOW_SECRET_PIN,       /* the GPG signing key's passphrase / card PIN */
};

/* A command's answers to the questions of a flow (session.prompt). Each
 * returns like the ui_* call it stands for. attempt counts from 1 for the
 * same question (a command reading a file descriptor answers once and
 * refuses a retry with -EACCES). */
struct flow_prompt {
	int (*secret)(void *userdata, enum flow_secret which, int attempt, const char *title,
		      const char *prompt, size_t max, struct secret **ret);
	/* 1 yes, 0 no, <0 no way to ask */
	int (*yesno)(void *userdata, enum ui_bg bg, const char *title, const char *text);
	/* A message the user should read (bg: its severity). */
	void (*tell)(void *userdata, enum ui_bg bg, const char *title, const char *text);
	void *userdata;
};

/* The session's questions and messages (src/flow/session.c): through the
 * command's prompt if it has one, else the UI. */
int flow_secret(const struct session *s, enum flow_secret which, int attempt, const char *title,
		const char *prompt, size_t max, struct secret **ret);
int flow_yesno(const struct session *s, enum ui_bg bg, const char *title, const char *text);
void flow_tell(const struct session *s, enum ui_bg bg, const char *title, const char *text);
/* Progress while the flow works (nothing without a UI). */
void flow_progress(const struct session *s, const char *title, const char *text,
		   unsigned percent);
void flow_progress_end(const struct session *s);
/* The TPM of the session, its primary key pinned to the one recorded at
 * ownership (CONFIG_TPM_PRIMARY_NAME of s->cfg). */
int flow_tpm_open(const struct session *s, struct tpm **ret);
/* sig_pin_fn for /boot signing (userdata: the session): the key's
 * passphrase / card PIN through flow_secret(FLOW_SECRET_PIN). */
int flow_sign_pin(void *session, const char *hint, int attempt, struct secret **ret);
/* The board's rollback rules for signing /boot (s->cfg):
 * CONFIG_BOOT_REQ_ROLLBACK, CONFIG_ROLLBACK_COUNTER (0: none or bad, said
 * so), and whether the counter is used at all (!CONFIG_IGNORE_ROLLBACK). */
void flow_rollback_rules(const struct session *s, bool *ret_required, uint32_t *ret_counter,
			 bool *ret_use);

#endif
