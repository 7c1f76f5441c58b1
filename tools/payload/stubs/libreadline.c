/* libreadline.so.8 stand-in (the real one + libtinfo: 0.18 MB xz): gpg links
 * readline only for line editing and completion at an interactive terminal
 * prompt. Heads never runs gpg at a prompt: every gpg call is batch, with
 * --no-tty and answers on a file descriptor. If a prompt is reached anyway,
 * readline() reports end of input, which gpg treats as a cancelled answer
 * (never as a yes). The data objects are defined because gpg copies them
 * into its own image at load time (copy relocations); the payload builder
 * checks that every symbol a program takes from the real library, function
 * or object, is defined here. */
#include <stdio.h>
#include <stdlib.h>

typedef char **rl_completion_func_t(const char *, int, int);
typedef char *rl_compentry_func_t(const char *, int);

rl_completion_func_t *rl_attempted_completion_function;
int rl_attempted_completion_over;
int rl_catch_signals = 1;
int rl_inhibit_completion;
FILE *rl_instream;
FILE *rl_outstream;
const char *rl_readline_name = "other";

char *readline(const char *prompt)
{
	(void)prompt;
	return NULL;
}

void add_history(const char *line) { (void)line; }
void rl_cleanup_after_signal(void) {}
void rl_free_line_state(void) {}

char **rl_completion_matches(const char *text, rl_compentry_func_t *f)
{
	(void)text;
	(void)f;
	return NULL;
}
