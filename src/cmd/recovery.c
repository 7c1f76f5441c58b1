/* heads recovery - the recovery shell: argv -> options -> flow_recovery()
 * (src/flow/recovery.c, which the menu calls with its own session). */
#include "cmd/cmd.h"
#include "flow/recovery.h"
#include "board.h"
#include "config.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>

#define DEFAULT_SECRET_DIR RECOVERY_DEFAULT_SECRET_DIR
#define DEFAULT_SHELL RECOVERY_DEFAULT_SHELL
#define DEFAULT_KEYRING RECOVERY_DEFAULT_KEYRING

static const char usage[] =
	"Usage: heads recovery [--message TEXT] [--once|--rounds N] [--secret-dir DIR]\n"
	"                      [--shell PATH] [--tcti TCTI] [--config FILE]...\n"
	"                      [--keyring DIR] [--gnupghome DIR]\n"
	"\n"
	"The recovery shell. Wipes DIR (default " DEFAULT_SECRET_DIR ": every file is\n"
	"overwritten with zeros and removed), extends PCR 4 with \"recovery\" (when\n"
	"CONFIG_TPM=y), prints the message and PCRs 0-7, then runs the shell\n"
	"(default " DEFAULT_SHELL " sh, else /bin/sh) on the terminal. When the shell exits, it starts\n"
	"over (wipe, extend, authenticate); --rounds N stops after N shells\n"
	"(--once: 1).\n"
	"\n"
	"  --config FILE  configuration layers (default " BOARD_CONFIG " then\n"
	"                 " BOARD_USER_CONFIG ", missing ones skipped)\n"
	"  --shell PATH   program to run; \"busybox\" in its name runs it as `sh`\n"
	"  --tcti TCTI    TPM (default $HEADS_TCTI, else device:/dev/tpmrm0)\n"
	"\n"
	"CONFIG_RESTRICTED_BOOT=y: no shell (exit 3; the caller reboots).\n"
	"CONFIG_HAVE_GPG_KEY_BACKUP=y: a GPG challenge first: a random nonce is\n"
	"signed with your key (card PIN / key passphrase asked on the console, or\n"
	"from $HEADS_UI_SECRET_FD with HEADS_UI=script) and the signature must\n"
	"verify against the ROM keyring; 3 failures: no shell (exit 5).\n"
	"  --keyring DIR   trusted public keys (default " DEFAULT_KEYRING ")\n"
	"  --gnupghome DIR GnuPG home with the signing key or card (default: keyring)\n"
	"\n"
	"Exit status: the last shell's status with --once/--rounds; 1 wiping failed; 2 usage;\n"
	"3 Restricted Boot; 4 PCR 4 could not be extended (no shell started);\n"
	"5 authentication required and not passed.\n";

static int load_config(char **files, size_t n, struct config *c)
{
	_cleanup_free_ char *err = NULL;

	if (board_config_load(c, files, n, &err) < 0) {
		fprintf(stderr, "heads recovery: %s\n", err);
		return HEADS_EXIT_USAGE;
	}
	return 0;
}

static int run(int argc, char **argv)
{
	static const struct option opts[] = {
		{"message", required_argument, NULL, 'm'},
		{"once", no_argument, NULL, '1'},
		{"rounds", required_argument, NULL, 'n'},
		{"secret-dir", required_argument, NULL, 's'},
		{"shell", required_argument, NULL, 'S'},
		{"tcti", required_argument, NULL, 't'},
		{"config", required_argument, NULL, 'c'},
		{"keyring", required_argument, NULL, 'k'},
		{"gnupghome", required_argument, NULL, 'G'},
		{},
	};
	const char *message = "Recovery shell requested", *secret_dir = DEFAULT_SECRET_DIR;
	const char *shell = DEFAULT_SHELL, *tcti = NULL;
	const char *keyring = DEFAULT_KEYRING, *gnupghome = NULL;
	_cleanup_free_ char **files = NULL;
	size_t n_files = 0;
	unsigned long long rounds = 0;
	struct config cfg;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'm': message = optarg; break;
		case '1': rounds = 1; break;
		case 'n':
			if (parse_uint(optarg, 1000, &rounds) < 0)
				return cmd_usage_error("recovery", "bad --rounds '%s'", optarg);
			break;
		case 's': secret_dir = optarg; break;
		case 'S': shell = optarg; break;
		case 't': tcti = optarg; break;
		case 'k': keyring = optarg; break;
		case 'G': gnupghome = optarg; break;
		case 'c':
			files = xrealloc(files, (n_files + 1) * sizeof(char *));
			files[n_files++] = optarg;
			break;
		default:
			return cmd_usage_error("recovery", "bad option");
		}
	}
	if (optind != argc)
		return cmd_usage_error("recovery", "unexpected argument '%s'", argv[optind]);
	config_init(&cfg);
	if ((r = load_config(files, n_files, &cfg))) {
		config_free(&cfg);
		return r;
	}
	{
		struct session ss = {.cfg = &cfg, .tcti = tcti, .keyring = keyring,
				     .gnupghome = gnupghome, .secret_dir = secret_dir};
		struct recovery_options ro = {.message = message, .shell = shell,
					      .rounds = rounds};
		r = flow_recovery(&ss, &ro);
	}
	config_free(&cfg);
	return r;
}

const struct heads_command cmd_recovery = {
	.name = "recovery",
	.summary = "recovery shell: wipe secrets, extend PCR 4, start a shell",
	.usage = usage,
	.run = run,
};
