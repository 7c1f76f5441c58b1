/* heads - one multi-call binary for the whole Heads runtime.
 *
 *   heads <command> [args]      run a command
 *   heads --help                list commands
 *   heads <command> --help      describe one
 * Started as PID 1, or under the name "init", it runs the `init` command.
 * Started under the name of a command (a symlink), it runs that command.
 */
#include "cmd/cmd.h"
#include "log.h"
#include "util.h"

#include <libgen.h>
#include <stdio.h>
#include <unistd.h>

#include "commands.inc"

static const struct heads_command *find_command(const char *name)
{
	for (const struct heads_command *const *c = heads_commands; *c; c++)
		if (streq((*c)->name, name))
			return *c;
	return NULL;
}

static void list_commands(FILE *out)
{
	fputs("Usage: heads <command> [args]\n"
	      "       heads <command> --help\n\n"
	      "Heads boot firmware payload: measured boot, /boot integrity, TOTP/HOTP\n"
	      "attestation, LUKS disk unlock and kexec into the OS.\n\n"
	      "Commands:\n", out);
	for (const struct heads_command *const *c = heads_commands; *c; c++)
		fprintf(out, "  %-10s %s\n", (*c)->name, (*c)->summary);
	fputs("\nExit status: 0 success, 1 a check failed, 2 usage error; commands\n"
	      "document other codes.\n", out);
}

static int run_command(const struct heads_command *c, int argc, char **argv)
{
	if (argc >= 2 && (streq(argv[1], "--help") || streq(argv[1], "-h"))) {
		fputs(c->usage, stdout);
		return HEADS_EXIT_OK;
	}
	return c->run(argc, argv);
}

int main(int argc, char **argv)
{
	const struct heads_command *c;
	const char *self = argc > 0 ? argv[0] : "heads";
	char *copy = xstrdup(self);
	const char *base = basename(copy);
	int r;

	if (getpid() == 1 || streq(base, "init")) {
		c = find_command("init");
		free(copy);
		if (!c) {
			fputs("heads: this build has no init command\n", stderr);
			return 127;
		}
		return run_command(c, argc, argv);
	}
	if (!streq(base, "heads") && (c = find_command(base))) {
		free(copy);
		return run_command(c, argc, argv);
	}
	free(copy);

	if (argc < 2) {
		list_commands(stderr);
		return HEADS_EXIT_USAGE;
	}
	if (streq(argv[1], "--help") || streq(argv[1], "-h") || streq(argv[1], "help")) {
		if (argc >= 3 && (c = find_command(argv[2]))) {
			fputs(c->usage, stdout);
			return HEADS_EXIT_OK;
		}
		list_commands(stdout);
		return HEADS_EXIT_OK;
	}
	if (streq(argv[1], "--version")) {
		printf("heads %s\n", HEADS_VERSION);
		return HEADS_EXIT_OK;
	}
	c = find_command(argv[1]);
	if (!c) {
		fprintf(stderr, "heads: unknown command '%s'\n", argv[1]);
		list_commands(stderr);
		return HEADS_EXIT_USAGE;
	}
	r = run_command(c, argc - 1, argv + 1);
	log_close();
	return r;
}
