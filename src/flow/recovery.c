/* The recovery shell (see flow/recovery.h). */
#include "flow/recovery.h"
#include "flow/signkey.h"
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
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define WIPE_MAX_DEPTH 16
#define GPG_TRIES 3

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

/* Reference gpg_auth: sign a fresh 20-byte nonce with the owner's key and
 * verify it against the ROM keyring. The key is chosen as for signing
 * /boot (flow/signkey.h): the dongle, the in-memory key, else the "GPG
 * signing key unavailable" menu on this console (retry with the dongle,
 * or the encrypted backup for this one challenge). 0 passed, -EACCES
 * failed. */
static int gpg_challenge(const struct session *s0, const char *gnupghome)
{
	_cleanup_ui_ struct ui *ui = NULL;
	struct ui_options uo;
	struct session s = *s0;
	struct flow_signkey k;
	enum flow_signkey_leave leave;
	int r, tries;

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
	s.ui = ui;
	s.prompt = NULL; /* the person at the console answers */
	s.gnupghome = gnupghome;
	r = flow_signkey_get(&s, NULL, false, &k, &leave);
	if (r < 0) {
		log_error("GPG authentication failed (no signing key), please reboot");
		return -EACCES;
	}
	tries = flow_signkey_attempts(&k);
	if (tries > GPG_TRIES)
		tries = GPG_TRIES;
	for (int attempt = 1; attempt <= tries; attempt++) {
		_cleanup_secret_ struct secret *nonce = secret_new(20);
		_cleanup_free_ char *sig = NULL;
		char data[41];
		size_t sig_len;
		struct sig_signer signer = {
			.gnupghome = k.gnupghome, .key = k.key, .pin = flow_signkey_pin,
			.userdata = &k, .max_attempts = 1,
		};
		struct sig_result res = {0};

		if (!nonce || secret_random(nonce, 20) < 0) {
			r = -EIO;
			break;
		}
		hex_encode(nonce->data, 20, data);
		/* A PIN cached by gpg-agent (an earlier signing) must not
		 * answer the challenge: the person at the console does. */
		r = sig_agent_forget(k.gnupghome);
		if (r < 0)
			break;
		r = sig_sign(&signer, data, 40, &sig, &sig_len, NULL);
		if (r == 0)
			r = sig_verify_detached(s.keyring, sig, sig_len, data, 40, &res);
		if (r == 0 && res.state == SIG_VERIFIED) {
			log_info("GPG challenge passed");
			flow_signkey_put(&k);
			return 0;
		}
		log_warn("GPG challenge failed (attempt %d of %d): %s", attempt, tries,
			 r < 0 ? strerror(-r) : res.detail[0] ? res.detail :
			 sig_state_name(res.state));
		if (r == -ECANCELED || r == -EPIPE || r == -ENOKEY)
			break;
		if (k.pin_tries > 0)
			k.pin_tries--;
	}
	flow_signkey_put(&k);
	log_error("GPG authentication failed, please reboot");
	return -EACCES;
}

int flow_recovery(const struct session *s, const struct recovery_options *o)
{
	const char *message = o->message ? o->message : "Recovery shell requested";
	const char *shell = o->shell ? o->shell : RECOVERY_DEFAULT_SHELL;
	int r;

	/* A board without busybox (qemu-coreboot: 8 MiB flash) ships /bin/sh. */
	if (streq(shell, RECOVERY_DEFAULT_SHELL) && access(RECOVERY_DEFAULT_SHELL, X_OK) != 0 &&
	    access("/bin/sh", X_OK) == 0)
		shell = "/bin/sh";
	for (unsigned long long round = 1;; round++) {
		if (config_enabled(s->cfg, "CONFIG_RESTRICTED_BOOT")) {
			log_note("Restricted Boot is enabled: no recovery shell");
			r = RECOVERY_EXIT_RESTRICTED;
			break;
		}
		if (wipe_secrets(s->secret_dir) < 0) {
			r = 1;
			break;
		}
		if (config_enabled(s->cfg, "CONFIG_TPM")) {
			_cleanup_tpm_ struct tpm *t = NULL;
			r = tpm_open(board_tcti(s->tcti), &t);
			if (r == 0)
				r = tpm_extend_string(t, BOARD_PCR_BOOT_MODE, "recovery");
			if (r < 0) {
				log_error_errno(r, "cannot extend PCR %d with \"recovery\"; "
						"refusing the recovery shell", BOARD_PCR_BOOT_MODE);
				r = RECOVERY_EXIT_NO_MEASURE;
				break;
			}
			log_info("PCR %d extended with \"recovery\"", BOARD_PCR_BOOT_MODE);
			print_pcrs(t);
		} else {
			log_warn("CONFIG_TPM is not y: nothing measured");
		}
		if (config_enabled(s->cfg, "CONFIG_HAVE_GPG_KEY_BACKUP") &&
		    gpg_challenge(s, s->gnupghome ? s->gnupghome : s->keyring) < 0) {
			r = RECOVERY_EXIT_AUTH;
			break;
		}
		log_warn("%s", message);
		printf("Entering the recovery shell; exit it to start over.\n");
		r = run_shell(shell);
		if (o->rounds && round >= o->rounds)
			break;
		message = "the shell exited";
	}
	return r < 0 ? 1 : r;
}
