/* cmd.h - the command table and helpers shared by the flows in cmd/.
 *
 * A command is a `const struct heads_command cmd_<name>` defined in
 * cmd/<name>.c and listed in src/cmd/meson.build (`commands += '<name>'`);
 * the table is generated at build time.
 *
 * Exit status contract for every command:
 *   0 success, 1 a verification/check failed, 2 usage error,
 *   other values are documented by the command (e.g. TPM outcomes).
 */
#ifndef HEADS_CMD_H
#define HEADS_CMD_H

#include <stdbool.h>
#include <stddef.h>

enum {
	HEADS_EXIT_OK = 0,
	HEADS_EXIT_FAIL = 1,  /* verification failed / operation failed */
	HEADS_EXIT_USAGE = 2, /* bad arguments, malformed input */
};

struct heads_command {
	const char *name;
	const char *summary; /* one line, for `heads --help` */
	const char *usage;   /* full text, for `heads <name> --help` */
	int (*run)(int argc, char **argv); /* argv[0] is the command name */
};

struct heads_subcommand {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
};

/* Print "heads <cmd>: <message>" and a hint to --help; returns HEADS_EXIT_USAGE. */
int cmd_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Dispatch argv[1] among subs; `--help`/no argument prints parent usage.
 * Returns the subcommand's exit status. */
int cmd_run_sub(const struct heads_command *parent, const struct heads_subcommand *subs,
		int argc, char **argv);

/* The TCTI to use: the option if given, else $HEADS_TCTI, else the kernel
 * resource manager "device:/dev/tpmrm0". */
const char *cmd_tcti(const char *opt);

struct tpm;
/* tpm_open(cmd_tcti(tcti)) and pin the primary key to primary_name (the
 * hex Name recorded at ownership, CONFIG_TPM_PRIMARY_NAME; NULL or "" = no
 * pin): every later use of the primary checks it (TPM_E_PRIMARY_CHANGED).
 * A malformed Name is -EINVAL (logged). */
int cmd_tpm_open(const char *tcti, const char *primary_name, struct tpm **ret);
#define CMD_CONFIG_PRIMARY_NAME "CONFIG_TPM_PRIMARY_NAME"

/* Parse a file-descriptor argument (--x-fd N). Returns 0 or -EINVAL. */
int cmd_parse_fd(const char *s, int *ret_fd);

struct boot_view;
struct integrity_report;

/* The view of boot that a command reads boot entries through: with a
 * keyring, /boot is checked (integrity_check, no TPM) and the view is the
 * verified one (NULL signed set: the signature does not verify -> error
 * naming the state, -EBADMSG); without, the unverified view. rep is filled
 * with a keyring (free it with integrity_report_free after the view). */
int cmd_boot_view(const char *cmd, const char *boot, const char *keyring,
		  struct integrity_report *rep, struct boot_view **ret);

/* --boot DIR, --config FILE and --keyring K: where the commands that read
 * boot entries (entries, kexec) take them from. CMD_BOOT_SOURCE_OPTIONS go
 * into the getopt_long table (codes 'b', 'c', 'k'); cmd_boot_source_opt()
 * takes them (true if c was one). */
struct cmd_boot_source {
	const char *boot, *config, *keyring;
};
#define CMD_BOOT_SOURCE_OPTIONS                                                                \
	{"boot", required_argument, NULL, 'b'}, {"config", required_argument, NULL, 'c'},      \
		{"keyring", required_argument, NULL, 'k'}
bool cmd_boot_source_opt(struct cmd_boot_source *src, int c, const char *arg);

struct boot_entries;
/* The boot entries of view: parsed from src->config (in format fmt, an
 * enum bootcfg_format) when given, else found by bootcfg_scan(). A failure
 * is printed ("heads CMD: FILE: why": too large, include loop, syntax
 * error, ...) and returned as -errno. */
int cmd_boot_entries(const char *cmd, struct boot_view *view, const struct cmd_boot_source *src,
		     int fmt, struct boot_entries *ret);

struct secret;
/* A passphrase for a command: one line from fd (>= 0), else asked with
 * ui_passphrase() on the terminal (/dev/tty; the back-end of $HEADS_UI,
 * else line mode), never echoed. -ENOTTY without a terminal (the caller
 * names its --*-fd option). Every command prompt goes through here, so the
 * UI's password entry covers them all. */
int cmd_passphrase(int fd, const char *title, const char *prompt, size_t max,
		   struct secret **ret);

struct luks_select;
struct luks_device;
/* luks_select_containers() for a command: its error logged, mapped to an
 * exit status (2 a bad file or too many devices, 1 a container refused);
 * no container at all is 1 with "<none>" logged. 0 on success. */
int cmd_select_containers(const char *cmd, const struct luks_select *s, const char *none,
			  struct luks_device **ret, size_t *ret_n);

/* A command's answers to a flow's questions (struct flow_prompt, flow/flow.h):
 * each secret from its --*-fd option (one line; a retry is refused with
 * -EACCES), yes/no answered by --yes, else asked through a UI opened on
 * first need (the back-end of $HEADS_UI, else line mode on /dev/tty, as
 * cmd_passphrase); messages logged (stderr + session log). */
struct ui;
struct cmd_prompt {
	int fd[6];   /* by enum flow_secret; -1: ask */
	bool yes;    /* every yes/no question answered yes */
	struct ui *ui; /* opened on first need; cmd_prompt_done() closes it */
	int tty;       /* the terminal it talks on (line mode), or -1 */
};
void cmd_prompt_init(struct cmd_prompt *p);
void cmd_prompt_done(struct cmd_prompt *p);
struct flow_prompt;
/* The flow_prompt over p (p must outlive its use). */
struct flow_prompt cmd_prompt_ops(struct cmd_prompt *p);

/* True if argv contains --help or -h before a "--". */
bool cmd_has_help(int argc, char **argv);

#endif
