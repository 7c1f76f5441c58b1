/* ui.h - how Heads talks to a person: one API, three back-ends.
 *
 * Back-ends (enum ui_mode):
 * - UI_NEWT: libnewt full-screen dialogs with the whiptail look of the shell
 *   version. The root line shows the status (board | UTC date | TOTP | HOTP);
 *   warning screens get a yellow root background and error screens a red one
 *   (newtSetColors, like NEWT_COLORS=root=,yellow|red). Passphrases are a
 *   password entry inside the dialog whose typed bytes go straight into a
 *   locked secret (newt's own buffer holds only '*'). While the screen is up
 *   our log lines go to a status line (never over a window) and, on a
 *   kernel console, the kernel's console loglevel is lowered; text is UTF-8.
 * - UI_LINE: plain text on in_fd/out_fd for dumb serial consoles: numbered
 *   menus (answer with the number or the item's key), [y/n] questions.
 *   Works with pipes (reads byte by byte, never consumes beyond one line).
 * - UI_SCRIPT: answers come from a script (file or fd), one per line, for
 *   tests; every screen is written to out_fd as a plain-text transcript.
 *   Script grammar (bounded: <= 1 MiB, <= 4096 bytes a line, <= 65536 lines):
 *     a line starting with '#' is a comment; every other line (including an
 *     empty one) is the next answer. A trailing '\r' is dropped.
 *     menu: the item's key (exact, case-sensitive), or "ESC" to cancel;
 *     yes/no: "y"/"yes"/"n"/"no"/"ESC"; input: the text ("ESC" cancels);
 *     countdown: "key" (interrupted) or "timeout".
 *   Message and text boxes consume no answer. A missing answer (end of
 *   script) or an answer that does not fit the screen is -EPROTO: a test
 *   must fail, never guess. Passphrases are NOT taken from the script: they
 *   are read one line each from secret_fd (-1: passphrase prompts fail with
 *   -ENOKEY), so secrets stay out of script files.
 *
 * Return convention: 0 (or an index) on success, negative errno on failure;
 * -ECANCELED when the user backed out (Esc / Cancel); -EPIPE at end of input
 * in line mode. Nothing here logs secrets.
 */
#ifndef HEADS_UI_H
#define HEADS_UI_H

#include <stdbool.h>
#include <stddef.h>

#include "secret.h"

enum ui_mode {
	UI_AUTO = 0, /* script if a script is given, newt on a capable tty, else line */
	UI_NEWT,
	UI_LINE,
	UI_SCRIPT,
};

/* Background of a screen: the state it reports. */
enum ui_bg {
	UI_BG_NORMAL = 0,
	UI_BG_WARNING, /* yellow */
	UI_BG_ERROR,   /* red */
};

struct ui_options {
	enum ui_mode mode;
	int in_fd;               /* line mode input (default 0) */
	int out_fd;              /* line mode output / script transcript (default 1) */
	const char *script_path; /* UI_SCRIPT: answers file ... */
	int script_fd;           /* ... or an fd (-1: none) */
	int secret_fd;           /* UI_SCRIPT: passphrases, one per line (-1: none) */
};

/* Defaults: UI_AUTO, fds 0/1, no script, no secret fd. */
void ui_options_init(struct ui_options *o);

/* Fill o from the environment: HEADS_UI=newt|line|script,
 * HEADS_UI_SCRIPT=<file>, HEADS_UI_SECRET_FD=<fd>. Options already set
 * explicitly (mode != UI_AUTO, script given, secret_fd >= 0) win.
 * Returns 0 or -EINVAL (bad value; logged). */
int ui_options_from_env(struct ui_options *o);

/* Parse a mode name ("auto", "newt", "line", "script"); -EINVAL otherwise. */
int ui_mode_from_string(const char *s);
const char *ui_mode_to_string(enum ui_mode m);

struct ui;

/* Open a back-end. UI_AUTO resolves to UI_SCRIPT when a script is given,
 * UI_NEWT when out_fd and in_fd are terminals and $TERM is set and not
 * "dumb", else UI_LINE. Returns 0 or -errno (-ENOENT script missing, -EINVAL
 * malformed script, -ENOTTY newt without a terminal). */
int ui_open(const struct ui_options *o, struct ui **ret);
/* Restore the terminal and free; NULL is fine. */
void ui_close(struct ui *ui);
static inline void ui_closep(struct ui **ui) { ui_close(*ui); *ui = NULL; }
#define _cleanup_ui_ __attribute__((cleanup(ui_closep)))

enum ui_mode ui_get_mode(const struct ui *ui);

/* Status shown on every screen (title line): board name, TOTP code or
 * state, HOTP state. NULL leaves a field unchanged; "" clears it. */
void ui_set_status(struct ui *ui, const char *board, const char *totp, const char *hotp);
/* The status line as shown: "<board> | <YYYY-MM-DD HH:MM:SS UTC> | TOTP: x |
 * HOTP: y" (fields omitted when empty). Caller frees. */
char *ui_status_line(const struct ui *ui);

struct ui_item {
	const char *key;   /* what selects it: "d", "F", "1"; unique in a menu */
	const char *label; /* "Default boot" */
};

/* A menu. Returns the chosen index (0..n-1), -ECANCELED, or -errno.
 * default_idx (n or more: none) is preselected / taken on an empty line. */
int ui_menu(struct ui *ui, enum ui_bg bg, const char *title, const char *text,
	    const struct ui_item *items, size_t n, size_t default_idx);

/* Yes/no question. Returns 1 yes, 0 no, -ECANCELED, -errno. */
int ui_yesno(struct ui *ui, enum ui_bg bg, const char *title, const char *text);

/* A message to acknowledge (OK). */
int ui_msgbox(struct ui *ui, enum ui_bg bg, const char *title, const char *text);

/* A long text (report), scrollable in newt; acknowledged with OK. */
int ui_textbox(struct ui *ui, enum ui_bg bg, const char *title, const char *text);

/* One line of text input (initial may be NULL). *ret is malloc'd. */
int ui_input(struct ui *ui, const char *title, const char *prompt, const char *initial,
	     char **ret);

/* A passphrase, never echoed, at most max bytes, into a locked secret. */
int ui_passphrase(struct ui *ui, const char *title, const char *prompt, size_t max,
		  struct secret **ret);

/* Progress: percent 0..100 shows/updates the gauge; ui_progress_end()
 * removes it. */
int ui_progress(struct ui *ui, const char *title, const char *text, unsigned percent);
void ui_progress_end(struct ui *ui);

/* "Automatic boot in N seconds unless interrupted by keypress...": waits up
 * to seconds for a key. Returns 1 interrupted, 0 timed out, -errno. */
int ui_countdown(struct ui *ui, const char *text, unsigned seconds);

/* Fold text at width columns (words; longer words are cut). Caller frees. */
char *ui_fold(const char *text, unsigned width);

#endif
