/* heads recovery - the recovery shell (reference: heads-behaviour.md 1.8).
 *
 * Each round: wipe the secret directory (every file overwritten with zeros,
 * then removed), extend PCR 4 with "recovery" (so nothing sealed to the
 * boot-time PCR 4 unseals from the shell), the GPG challenge when
 * CONFIG_HAVE_GPG_KEY_BACKUP=y, print the message and PCRs 0-7, drain typed
 * input, then run the shell on the terminal. When the shell exits the round
 * starts over (re-wiped, re-measured, re-authenticated) unless --once.
 * Fail closed: with a TPM configured, no shell is started if PCR 4 could not
 * be extended; under CONFIG_RESTRICTED_BOOT=y there is no shell at all.
 */
#include "cmd/cmd.h"
#include "board.h"
#include "boot/sig.h"
#include "codec.h"
#include "config.h"
#include "fs.h"
#include "log.h"
#include "tpm/tpm.h"
#include "ui/ui.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define DEFAULT_SECRET_DIR "/tmp/secret"
#define DEFAULT_SHELL "/bin/busybox"
#define WIPE_MAX_DEPTH 16
#define DEFAULT_KEYRING "/.gnupg"
#define GPG_TRIES 3

enum {
	EXIT_RESTRICTED = 3,
	EXIT_NO_MEASURE = 4,
	EXIT_AUTH = 5,
};

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

/* Overwrite a regular file with zeros (its current size) and fsync. */
static int shred_at(int dirfd, const char *name)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	static const char zero[4096];
	struct stat st;
	off_t left;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	for (left = st.st_size; left > 0;) {
		size_t k = left > (off_t)sizeof(zero) ? sizeof(zero) : (size_t)left;
		int r = write_full(fd, zero, k);
		if (r < 0)
			return r;
		left -= (off_t)k;
	}
	return fsync(fd) < 0 && errno != EINVAL ? -errno : 0;
}

/* Remove everything beneath dirfd; regular files are zeroed first. */
static int wipe_dir(int dirfd, const char *path, unsigned depth)
{
	DIR *d;
	struct dirent *de;
	int r = 0, dup_fd;

	if (depth > WIPE_MAX_DEPTH)
		return log_error_errno(-ELOOP, "%s: too deep to wipe", path);
	dup_fd = dup(dirfd);
	if (dup_fd < 0)
		return -errno;
	d = fdopendir(dup_fd);
	if (!d) {
		close(dup_fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		struct stat st;
		int k = 0;

		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			k = -errno;
		} else if (S_ISDIR(st.st_mode)) {
			_cleanup_close_ int sub = openat(dirfd, de->d_name,
				O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			_cleanup_free_ char *p = xasprintf("%s/%s", path, de->d_name);
			k = sub < 0 ? -errno : wipe_dir(sub, p, depth + 1);
			if (k == 0 && unlinkat(dirfd, de->d_name, AT_REMOVEDIR) < 0)
				k = -errno;
		} else {
			if (S_ISREG(st.st_mode))
				k = shred_at(dirfd, de->d_name);
			if (unlinkat(dirfd, de->d_name, 0) < 0 && k == 0)
				k = -errno;
		}
		if (k < 0) {
			log_error_errno(k, "wiping %s/%s", path, de->d_name);
			if (r == 0)
				r = k;
		}
	}
	closedir(d);
	return r;
}

static int wipe_secrets(const char *dir)
{
	_cleanup_close_ int fd = -1;
	int r;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno != ENOENT)
		return log_error_errno(-errno, "opening %s", dir);
	if (fd >= 0 && (r = wipe_dir(fd, dir, 0)) < 0)
		return r;
	if (fd < 0 && (r = fs_mkdir_p(dir, 0700)) < 0)
		return log_error_errno(r, "creating %s", dir);
	if (chmod(dir, 0700) < 0)
		return log_error_errno(-errno, "chmod %s", dir);
	return 0;
}

static void print_pcrs(struct tpm *t)
{
	uint8_t v[TPM_PCR_COUNT][32];
	int r = tpm_pcr_read_mask(t, 0xff, v);

	if (r < 0) {
		log_error_errno(r, "reading PCRs");
		return;
	}
	printf("PCRs (sha256):\n");
	for (unsigned i = 0; i < 8; i++) {
		char hex[65];
		for (unsigned j = 0; j < 32; j++)
			snprintf(hex + 2 * j, 3, "%02x", v[i][j]);
		printf("  %2u: %s\n", i, hex);
	}
}

static int run_shell(const char *shell)
{
	const char *base = strrchr(shell, '/');
	char *argv[] = {(char *)(base && strstr(base, "busybox") ? "sh" : shell), NULL};
	pid_t pid;
	int status;

	fflush(NULL);
	if (isatty(0))
		tcflush(0, TCIFLUSH); /* drop type-ahead, as the reference does */
	pid = fork();
	if (pid < 0)
		return log_error_errno(-errno, "fork");
	if (pid == 0) {
		setsid();
		if (isatty(0))
			(void)ioctl(0, TIOCSCTTY, 1);
		signal(SIGINT, SIG_DFL);
		signal(SIGQUIT, SIG_DFL);
		execv(shell, argv);
		fprintf(stderr, "heads recovery: cannot run %s: %s\n", shell, strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return log_error_errno(-errno, "waitpid");
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int challenge_pin(void *userdata, const char *hint, int attempt,
			 struct secret **ret)
{
	struct ui *ui = userdata;
	_cleanup_free_ char *p = xasprintf("GPG card PIN / key passphrase%s%s (attempt %d)",
					   hint && *hint ? " for " : "", hint ? hint : "", attempt);
	return ui_passphrase(ui, "Recovery shell authentication", p, 256, ret);
}

/* Reference gpg_auth: sign a fresh 20-byte nonce with the user's key and
 * verify it against the ROM keyring. 0 passed, -EACCES failed. */
static int gpg_challenge(const char *keyring, const char *gnupghome)
{
	_cleanup_ui_ struct ui *ui = NULL;
	struct ui_options uo;
	int r;

	ui_options_init(&uo);
	(void)ui_options_from_env(&uo);
	if (uo.mode == UI_NEWT || uo.mode == UI_AUTO)
		uo.mode = UI_LINE; /* a console prompt right before the shell */
	if (uo.mode == UI_SCRIPT && !uo.script_path)
		uo.script_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	r = ui_open(&uo, &ui);
	if (uo.script_fd >= 0)
		close(uo.script_fd);
	if (r < 0)
		return log_error_errno(r, "GPG challenge: no console");

	for (int attempt = 1; attempt <= GPG_TRIES; attempt++) {
		_cleanup_secret_ struct secret *nonce = secret_new(20);
		_cleanup_free_ char *sig = NULL;
		char data[41];
		size_t sig_len;
		struct sig_signer signer = {
			.gnupghome = gnupghome, .pin = challenge_pin, .userdata = ui,
			.max_attempts = 1,
		};
		struct sig_result res = {0};

		if (!nonce || secret_random(nonce, 20) < 0)
			return -EIO;
		hex_encode(nonce->data, 20, data);
		/* A PIN cached by gpg-agent (an earlier signing) must not
		 * answer the challenge: the person at the console does. */
		r = sig_agent_forget(gnupghome);
		if (r < 0)
			break;
		r = sig_sign(&signer, data, 40, &sig, &sig_len, NULL);
		if (r == 0)
			r = sig_verify_detached(keyring, sig, sig_len, data, 40, &res);
		if (r == 0 && res.state == SIG_VERIFIED) {
			log_info("GPG challenge passed");
			return 0;
		}
		log_warn("GPG challenge failed (attempt %d of %d): %s", attempt, GPG_TRIES,
			 r < 0 ? strerror(-r) : res.detail[0] ? res.detail :
			 sig_state_name(res.state));
		if (r == -ECANCELED || r == -EPIPE || r == -ENOKEY)
			break;
	}
	log_error("GPG authentication failed, please reboot");
	return -EACCES;
}

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
	/* A board without busybox (qemu-coreboot: 8 MiB flash) ships /bin/sh. */
	if (streq(shell, DEFAULT_SHELL) && access(DEFAULT_SHELL, X_OK) != 0 &&
	    access("/bin/sh", X_OK) == 0)
		shell = "/bin/sh";

	config_init(&cfg);
	if ((r = load_config(files, n_files, &cfg))) {
		config_free(&cfg);
		return r;
	}
	for (unsigned long long round = 1;; round++) {
		if (config_enabled(&cfg, "CONFIG_RESTRICTED_BOOT")) {
			log_note("Restricted Boot is enabled: no recovery shell");
			r = EXIT_RESTRICTED;
			break;
		}
		if (wipe_secrets(secret_dir) < 0) {
			r = HEADS_EXIT_FAIL;
			break;
		}
		if (config_enabled(&cfg, "CONFIG_TPM")) {
			_cleanup_tpm_ struct tpm *t = NULL;
			r = tpm_open(cmd_tcti(tcti), &t);
			if (r == 0)
				r = tpm_extend_string(t, BOARD_PCR_BOOT_MODE, "recovery");
			if (r < 0) {
				log_error_errno(r, "cannot extend PCR %d with \"recovery\"; "
						"refusing the recovery shell", BOARD_PCR_BOOT_MODE);
				r = EXIT_NO_MEASURE;
				break;
			}
			log_info("PCR %d extended with \"recovery\"", BOARD_PCR_BOOT_MODE);
			print_pcrs(t);
		} else {
			log_warn("CONFIG_TPM is not y: nothing measured");
		}
		if (config_enabled(&cfg, "CONFIG_HAVE_GPG_KEY_BACKUP") &&
		    gpg_challenge(keyring, gnupghome ? gnupghome : keyring) < 0) {
			r = EXIT_AUTH;
			break;
		}
		log_warn("%s", message);
		printf("Entering the recovery shell; exit it to start over.\n");
		r = run_shell(shell);
		if (rounds && round >= rounds)
			break;
		message = "the shell exited";
	}
	config_free(&cfg);
	return r < 0 ? HEADS_EXIT_FAIL : r;
}

const struct heads_command cmd_recovery = {
	.name = "recovery",
	.summary = "recovery shell: wipe secrets, extend PCR 4, start a shell",
	.usage = usage,
	.run = run,
};
