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

#include <stdbool.h>

struct ui;

struct session {
	struct ui *ui;              /* NULL: none open */
	const struct config *cfg;   /* the board settings (board_config_load) */
	const char *tcti;           /* NULL: board_tcti()'s default */
	const char *keyring;        /* the ROM keyring (trusted public keys) */
	const char *gnupghome;      /* the GnuPG home with the signing key */
	const char *secret_dir;     /* RAM-only secret area */
	bool dry_run;               /* never kexec, power off or reboot */
};

/* How a flow ended, for the menu's state machine (src/cmd/menu.c). */
enum flow_outcome {
	FLOW_BACK,     /* back to the screen it came from */
	FLOW_DONE,     /* finished: the caller goes on (at the top: the menu exits) */
	FLOW_REBOOT,   /* the machine must reboot (e.g. the ROM was written) */
	FLOW_RECOVERY, /* go to the recovery shell */
	FLOW_UI_GONE,  /* the console or script ended: stop at once */
};

#endif
