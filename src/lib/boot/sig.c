/* sig.c - kexec.sig verification and signing through GPGME. */
#include "gpg/keyring.h"
#include "hash.h"
#include "boot/sig.h"
#include "boot/boot-internal.h"
#include "boot/manifest.h"
#include "boot/signed.h"
#include "codec.h"
#include "fs.h"
#include "log.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <gpgme.h>
#include <openssl/evp.h>

#define KEYRING_FILE_MAX (64 * 1024 * 1024)

const char *sig_state_name(enum sig_state s)
{
	switch (s) {
	case SIG_VERIFIED: return "VERIFIED";
	case SIG_MISSING: return "MISSING";
	case SIG_BAD: return "BAD";
	case SIG_UNKNOWN_KEY: return "UNKNOWN KEY";
	case SIG_MALFORMED: return "MALFORMED";
	case SIG_INVALID: return "INVALID";
	}
	return "?";
}

void sig_listing_bufs(const struct boot_signed_file *files, size_t n, const char *prefix,
		      char **ret, size_t *ret_len)
{
	size_t plen = strlen(prefix), cap = 1, len = 0;
	char *out;

	for (size_t i = 0; i < n; i++)
		cap += 64 + 2 + plen + strlen(files[i].name) + 1;
	out = xmalloc(cap);
	for (size_t i = 0; i < n; i++) {
		uint8_t d[32];
		size_t nl = strlen(files[i].name);
		if (hash_sha256(files[i].data, files[i].len, d) < 0)
			abort(); /* OpenSSL cannot hash: nothing sensible to do */
		hex_encode(d, 32, out + len);
		len += 64;
		out[len++] = ' ';
		out[len++] = ' ';
		memcpy(out + len, prefix, plen);
		len += plen;
		memcpy(out + len, files[i].name, nl);
		len += nl;
		out[len++] = '\n';
	}
	out[len] = '\0';
	*ret = out;
	if (ret_len)
		*ret_len = len;
}

/* ---- private GnuPG home ---------------------------------------------- */

static void rm_rf_at(int dfd, const char *name, int depth)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d;
	struct dirent *de;

	if (fd >= 0 && (d = fdopendir(fd))) {
		while ((de = readdir(d))) {
			struct stat st;
			if (streq(de->d_name, ".") || streq(de->d_name, ".."))
				continue;
			if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISDIR(st.st_mode) && depth < 4)
				rm_rf_at(dirfd(d), de->d_name, depth + 1);
			else
				(void)unlinkat(dirfd(d), de->d_name, 0);
		}
		closedir(d);
	} else if (fd >= 0) {
		close(fd);
	}
	(void)unlinkat(dfd, name, AT_REMOVEDIR);
}

void boot_rm_rf(const char *path)
{
	rm_rf_at(AT_FDCWD, path, 0);
}

void sig_home_remove(const char *home)
{
	boot_rm_rf(home);
}

/* A new file in the private home just made: no fsync, no rename (the home
 * lives for one check and is removed after it; nobody else can open it). */
static int write_private(int dfd, const char *name, const void *data, size_t len)
{
	_cleanup_close_ int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
						     O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	return write_full(fd, data, len);
}

int sig_keyring_home(const char *keyring_dir, const char *tag, char **ret)
{
	static const char *const files[] = {
		"pubring.kbx", "pubring.gpg", "trustdb.gpg", "trustedkeys.kbx", "trustedkeys.gpg",
	};
	const char *tmp = getenv("TMPDIR");
	_cleanup_close_ int dfd = -1;
	char *home;
	int copied = 0, r = 0;

	home = xasprintf("%s/heads-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", tag ? tag : "gpg");
	if (!mkdtemp(home)) {
		r = log_error_errno(-errno, "cannot create a temporary GnuPG home");
		free(home);
		return r;
	}
	dfd = open(home, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		r = -errno;
		goto fail;
	}
	for (size_t i = 0; keyring_dir && i < ARRAY_SIZE(files); i++) {
		_cleanup_free_ char *src = xasprintf("%s/%s", keyring_dir, files[i]);
		_cleanup_free_ char *buf = NULL;
		size_t len;
		r = fs_read_file(src, KEYRING_FILE_MAX, &buf, &len);
		if (r == -ENOENT) {
			r = 0;
			continue;
		}
		if (r < 0) {
			log_error_errno(r, "cannot read keyring file %s", src);
			goto fail;
		}
		r = write_private(dfd, files[i], buf, len);
		if (r < 0) {
			log_error_errno(r, "cannot copy %s", src);
			goto fail;
		}
		if (i < 2)
			copied++;
	}
	if (keyring_dir && !copied) {
		r = log_error_errno(-ENOENT, "keyring %s has no pubring.kbx or pubring.gpg",
				    keyring_dir);
		goto fail;
	}
	*ret = home;
	return 0;
fail:
	boot_rm_rf(home);
	free(home);
	return r;
}

/* The one GPGME set-up (gpg/keyring.h: gpgconf discovery disabled). */
int sig_gpgme_new(const char *home, struct gpgme_context **ret)
{
	return gpg_context(home, 0, ret);
}

/* ---- verification ----------------------------------------------------- */

/* Set in the child of sig_verify_files_start(): a single-threaded process
 * that only checks this signature, so its GnuPG home may go through the
 * environment (one `gpg --version` less: keyring.h GPG_CTX_ENV_HOME). */
static bool sig_in_child;

static void set_detail(struct sig_result *res, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void set_detail(struct sig_result *res, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(res->detail, sizeof(res->detail), fmt, ap);
	va_end(ap);
}

int sig_verify_detached(const char *keyring_dir, const char *sig, size_t sig_len,
			const char *data, size_t data_len, struct sig_result *res)
{
	_cleanup_free_ char *home = NULL;
	gpgme_ctx_t ctx = NULL;
	gpgme_data_t sd = NULL, td = NULL;
	gpgme_verify_result_t vr;
	gpgme_error_t e;
	int r;

	memset(res, 0, sizeof(*res));
	res->state = SIG_INVALID;
	r = sig_keyring_home(keyring_dir, NULL, &home);
	if (r < 0)
		return r;
	r = gpg_context(home, sig_in_child ? GPG_CTX_ENV_HOME : 0, &ctx);
	if (r < 0)
		goto out;
	if (gpgme_data_new_from_mem(&sd, sig, sig_len, 0) ||
	    gpgme_data_new_from_mem(&td, data, data_len, 0)) {
		r = -ENOMEM;
		goto out;
	}
	e = gpgme_op_verify(ctx, sd, td, NULL);
	vr = gpgme_op_verify_result(ctx);
	if (e) {
		gpgme_err_code_t c = gpgme_err_code(e);
		if (c == GPG_ERR_INV_ENGINE || c == GPG_ERR_ENOENT) {
			r = log_error_errno(-EIO, "gpg could not run: %s", gpgme_strerror(e));
			goto out;
		}
		res->state = SIG_MALFORMED;
		set_detail(res, "no valid OpenPGP signature data (%s)", gpgme_strerror(e));
		goto out;
	}
	if (!vr || !vr->signatures) {
		res->state = SIG_MALFORMED;
		set_detail(res, "no valid OpenPGP signature data");
		goto out;
	}
	res->state = SIG_VERIFIED;
	for (gpgme_signature_t s = vr->signatures; s; s = s->next) {
		gpgme_err_code_t c = gpgme_err_code(s->status);
		enum sig_state st;
		if (s->fpr && !res->fpr[0])
			snprintf(res->fpr, sizeof(res->fpr), "%s", s->fpr);
		if (s->timestamp && !res->created)
			res->created = (time_t)s->timestamp;
		if (c == GPG_ERR_NO_ERROR)
			continue;
		if (c == GPG_ERR_BAD_SIGNATURE)
			st = SIG_BAD;
		else if (c == GPG_ERR_NO_PUBKEY)
			st = SIG_UNKNOWN_KEY;
		else
			st = SIG_INVALID;
		/* Keep the worst-informative state: BAD over UNKNOWN over INVALID. */
		if (res->state == SIG_VERIFIED || st == SIG_BAD ||
		    (st == SIG_UNKNOWN_KEY && res->state == SIG_INVALID)) {
			res->state = st;
			snprintf(res->fpr, sizeof(res->fpr), "%s", s->fpr ? s->fpr : "");
			res->created = (time_t)s->timestamp;
			set_detail(res, "%s", gpgme_strerror(s->status));
		}
	}
out:
	gpgme_data_release(sd);
	gpgme_data_release(td);
	if (ctx)
		gpgme_release(ctx);
	boot_rm_rf(home);
	return r;
}

int sig_read_boot(int bootfd, char **ret, size_t *ret_len, struct sig_result *res)
{
	_cleanup_close_ int fd = -1;
	int r;

	memset(res, 0, sizeof(*res));
	fd = openat(bootfd, SIG_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 && errno == ENOENT) {
		res->state = SIG_MISSING;
		set_detail(res, "%s is missing", SIG_FILE);
		return 0;
	}
	if (fd < 0) {
		res->state = SIG_MALFORMED;
		set_detail(res, "%s cannot be opened: %s", SIG_FILE,
			   errno == ELOOP ? "it is a symlink" : strerror(errno));
		return 0;
	}
	r = fs_read_fd(fd, SIG_MAX_FILE, ret, ret_len);
	if (r < 0) {
		res->state = SIG_MALFORMED;
		set_detail(res, "%s cannot be read: %s", SIG_FILE,
			   r == -EFBIG ? "larger than 256 KiB" : strerror(-r));
		return 0;
	}
	return 1;
}

int sig_verify_files(const char *keyring_dir, const char *sig, size_t sig_len,
		     const struct boot_signed_file *files, size_t n, struct sig_result *res)
{
	_cleanup_free_ char *list = NULL, *legacy = NULL;
	size_t list_len, legacy_len;
	int r;

	memset(res, 0, sizeof(*res));
	if (n == 0) {
		res->state = SIG_MISSING;
		set_detail(res, "no kexec*.txt files to verify");
		return 0;
	}
	sig_listing_bufs(files, n, "", &list, &list_len);
	r = sig_verify_detached(keyring_dir, sig, sig_len, list, list_len, res);
	if (r < 0 || res->state != SIG_BAD)
		return r;
	/* Older Heads signed absolute names. */
	sig_listing_bufs(files, n, SIG_LEGACY_PREFIX, &legacy, &legacy_len);
	{
		struct sig_result lr;
		r = sig_verify_detached(keyring_dir, sig, sig_len, legacy, legacy_len, &lr);
		if (r == 0 && lr.state == SIG_VERIFIED) {
			*res = lr;
			res->legacy = true;
		}
	}
	return r < 0 ? r : 0;
}

struct sig_job_reply {
	int r;
	struct sig_result res;
};

int sig_verify_files_start(const char *keyring_dir, const char *sig, size_t sig_len,
			   const struct boot_signed_file *files, size_t n, struct sig_job *ret)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		int r = -errno;
		close(p[0]);
		close(p[1]);
		return r;
	}
	if (pid == 0) {
		struct sig_job_reply rep = {0};
		close(p[0]);
		sig_in_child = true;
		rep.r = sig_verify_files(keyring_dir, sig, sig_len, files, n, &rep.res);
		_exit(write_full(p[1], &rep, sizeof(rep)) < 0 ? 1 : 0);
	}
	close(p[1]);
	ret->pid = pid;
	ret->fd = p[0];
	return 0;
}

int sig_verify_files_join(struct sig_job *job, struct sig_result *res)
{
	struct sig_job_reply rep;
	long n = read_full(job->fd, &rep, sizeof(rep));
	int st = 0;

	close(job->fd);
	job->fd = -1;
	while (waitpid(job->pid, &st, 0) < 0 && errno == EINTR)
		;
	if (n != (long)sizeof(rep) || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		memset(res, 0, sizeof(*res));
		res->state = SIG_INVALID;
		set_detail(res, "the signature check did not complete");
		return -EIO;
	}
	rep.res.detail[sizeof(rep.res.detail) - 1] = '\0';
	rep.res.fpr[sizeof(rep.res.fpr) - 1] = '\0';
	*res = rep.res;
	return rep.r;
}

/* ---- gpg-agent cache -------------------------------------------------- */

/* z-base-32 (GnuPG's zb32_encode) of the first 15 bytes of d: 24 chars. */
static void zb32(const uint8_t *d, char out[25])
{
	static const char a[] = "ybndrfg8ejkmcpqxot1uwisza345h769";
	for (size_t i = 0; i < 24; i++) {
		size_t bit = i * 5, byte = bit / 8, off = bit % 8;
		unsigned v = (unsigned)d[byte] << 8 | (byte + 1 < 15 ? d[byte + 1] : 0);
		out[i] = a[(v >> (11 - off)) & 31];
	}
	out[24] = '\0';
}

/* Where gpg-agent listens for home (GnuPG 2.1.13+): the home itself, or
 * /run/user/<uid>/gnupg[/d.<zb32(sha1(home))>] when /run/user/<uid> exists. */
static char *agent_socket(const char *home, bool default_home)
{
	_cleanup_free_ char *run = xasprintf("/run/user/%u", (unsigned)getuid());
	struct stat st;
	char *p = xasprintf("%s/S.gpg-agent", home);

	if (lstat(p, &st) == 0 || stat(run, &st) < 0)
		return p;
	free(p);
	if (default_home)
		return xasprintf("%s/gnupg/S.gpg-agent", run);
	{
		uint8_t d[32] = {0};
		char z[25];
		hash_buf(HASH_SHA1, home, strlen(home), d);
		zb32(d, z);
		return xasprintf("%s/gnupg/d.%s/S.gpg-agent", run, z);
	}
}

/* One Assuan command on a UNIX socket (the agent's protocol: a greeting
 * line "OK ...", then per command status lines "S KEYWORD ARGS" until "OK"
 * or "ERR <code> <text>"; an inquiry is cancelled). 0 with *ret_err = 0
 * (OK) or the error's code; -errno when the socket fails. */
static int assuan_transact(const char *path, const char *cmd, sig_agent_status_fn cb, void *ud,
			   unsigned *ret_err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	_cleanup_close_ int fd = -1;
	char buf[1024];
	size_t have = 0;
	int greeted = 0;

	*ret_err = 0;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	{
		struct timeval tv = {.tv_sec = 60}; /* a card operation can take a while */
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	for (;;) {
		char *nl;
		ssize_t k;
		bool dropped = false;
		while (!(nl = memchr(buf, '\n', have))) {
			if (have == sizeof(buf)) {
				have = 0; /* an over-long line: drop it */
				dropped = true;
			}
			k = read(fd, buf + have, sizeof(buf) - have);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0)
				return k < 0 ? -errno : -EPROTO;
			have += (size_t)k;
		}
		*nl = '\0';
		if (dropped) {
			/* the tail of an over-long line: not a line of its own */
		} else if (startswith(buf, "ERR")) {
			unsigned long code = strtoul(buf + 3, NULL, 10);
			log_debug("gpg-agent: %s: %s", greeted ? cmd : "greeting", buf);
			if (!greeted)
				return -EIO;
			*ret_err = code ? (unsigned)code : 1;
			return 0;
		} else if (streq(buf, "OK") || startswith(buf, "OK ")) {
			if (greeted)
				return 0;
			greeted = 1;
			if (write_full(fd, cmd, strlen(cmd)) < 0 || write_full(fd, "\n", 1) < 0)
				return -errno;
		} else if (startswith(buf, "S ") && cb) {
			char *kw = buf + 2, *sp = strchr(kw, ' ');
			if (sp)
				*sp++ = '\0';
			cb(ud, kw, sp ? sp : "");
		} else if (startswith(buf, "INQUIRE ")) {
			if (write_full(fd, "CAN\n", 4) < 0)
				return -errno;
		}
		have -= (size_t)(nl + 1 - buf);
		memmove(buf, nl + 1, have);
	}
}

static int assuan_command(const char *path, const char *cmd)
{
	unsigned err;
	int r = assuan_transact(path, cmd, NULL, NULL, &err);
	return r < 0 ? r : err ? -EIO : 0;
}

int sig_agent_transact(const char *gnupghome, const char *cmd, sig_agent_status_fn cb, void *ud,
		       unsigned *ret_err)
{
	_cleanup_free_ char *sock = sig_agent_socket(gnupghome);

	if (!sock)
		return -errno;
	return assuan_transact(sock, cmd, cb, ud, ret_err);
}

char *sig_agent_socket(const char *gnupghome)
{
	_cleanup_free_ char *home = NULL;
	const char *h = gnupghome && *gnupghome ? gnupghome : getenv("GNUPGHOME");
	bool def = false;
	size_t n;

	if (!h || !*h) {
		const char *hm = getenv("HOME");
		home = xasprintf("%s/.gnupg", hm && *hm ? hm : "");
		def = true;
	} else if (h[0] != '/') {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof(cwd)))
			return NULL;
		home = xasprintf("%s/%s", cwd, h);
	} else {
		home = xstrdup(h);
	}
	n = strlen(home);
	while (n > 1 && home[n - 1] == '/')
		home[--n] = '\0';
	return agent_socket(home, def);
}

int sig_agent_forget(const char *gnupghome)
{
	_cleanup_free_ char *sock = sig_agent_socket(gnupghome);
	struct stat st;
	int r;

	if (!sock)
		return log_error_errno(-errno, "getcwd");
	if (lstat(sock, &st) < 0 && errno == ENOENT)
		return 0; /* no agent: nothing cached */
	r = assuan_command(sock, "RELOADAGENT");
	if (r == -ECONNREFUSED || r == -ENOENT)
		return 0; /* stale socket: the agent is gone, and its cache with it */
	if (r < 0)
		return log_error_errno(r, "cannot empty gpg-agent's passphrase cache (%s)", sock);
	log_debug("gpg-agent passphrase cache emptied (%s)", sock);
	return 0;
}

/* ---- signing ---------------------------------------------------------- */

struct pin_state {
	const struct sig_signer *s;
	int attempt;
	int err;
};

static gpgme_error_t pin_cb(void *hook, const char *uid_hint, const char *info,
			    int prev_was_bad, int fd)
{
	struct pin_state *ps = hook;
	_cleanup_secret_ struct secret *pin = NULL;
	int max = ps->s->max_attempts > 0 ? ps->s->max_attempts : 3;
	int r;

	(void)info;
	(void)prev_was_bad;
	if (!ps->s->pin) {
		ps->err = -EACCES;
		return gpgme_error(GPG_ERR_CANCELED);
	}
	if (ps->attempt >= max) {
		ps->err = -EACCES;
		return gpgme_error(GPG_ERR_CANCELED);
	}
	ps->attempt++;
	r = ps->s->pin(ps->s->userdata, uid_hint, ps->attempt, &pin);
	if (r < 0) {
		ps->err = r;
		return gpgme_error(GPG_ERR_CANCELED);
	}
	if (memchr(pin->data, '\n', pin->len) || memchr(pin->data, '\0', pin->len)) {
		ps->err = -EINVAL;
		return gpgme_error(GPG_ERR_CANCELED);
	}
	if (gpgme_io_writen(fd, pin->data, pin->len) < 0 || gpgme_io_writen(fd, "\n", 1) < 0)
		return gpgme_error(GPG_ERR_CANCELED);
	return 0;
}

static int find_key(gpgme_ctx_t ctx, const char *id, gpgme_key_t *ret)
{
	gpgme_error_t e;
	gpgme_key_t k = NULL;

	e = gpgme_op_keylist_start(ctx, id, 1);
	if (e)
		return log_error_errno(-EIO, "cannot list secret keys: %s", gpgme_strerror(e));
	while (!(e = gpgme_op_keylist_next(ctx, &k))) {
		if (k->can_sign && !k->revoked && !k->expired && !k->disabled && !k->invalid)
			break;
		gpgme_key_unref(k);
		k = NULL;
	}
	gpgme_op_keylist_end(ctx);
	if (!k)
		return log_error_errno(-ENOKEY, "no usable secret signing key%s%s",
				       id ? " matching " : "", id ? id : "");
	*ret = k;
	return 0;
}

int sig_sign(const struct sig_signer *s, const char *data, size_t len, char **ret,
	     size_t *ret_len, char *ret_fpr)
{
	gpgme_ctx_t ctx = NULL;
	gpgme_key_t key = NULL;
	gpgme_data_t in = NULL, out = NULL;
	gpgme_sign_result_t sr;
	gpgme_error_t e;
	struct pin_state ps = {.s = s};
	int r;

	r = sig_gpgme_new(s->gnupghome, &ctx);
	if (r < 0)
		return r;
	gpgme_set_armor(ctx, 1);
	gpgme_set_textmode(ctx, 0);
	e = gpgme_set_pinentry_mode(ctx, GPGME_PINENTRY_MODE_LOOPBACK);
	if (e) {
		r = log_error_errno(-EIO, "loopback pinentry: %s", gpgme_strerror(e));
		goto out;
	}
	gpgme_set_passphrase_cb(ctx, pin_cb, &ps);
	r = find_key(ctx, s->key, &key);
	if (r < 0)
		goto out;
	gpgme_signers_clear(ctx);
	e = gpgme_signers_add(ctx, key);
	if (e) {
		r = log_error_errno(-ENOKEY, "cannot use key %s: %s",
				    key->fpr ? key->fpr : "?", gpgme_strerror(e));
		goto out;
	}
	if (gpgme_data_new_from_mem(&in, data, len, 0) || gpgme_data_new(&out)) {
		r = -ENOMEM;
		goto out;
	}
	e = gpgme_op_sign(ctx, in, out, GPGME_SIG_MODE_DETACH);
	sr = gpgme_op_sign_result(ctx);
	if (e || !sr || !sr->signatures || sr->invalid_signers) {
		gpgme_err_code_t c = gpgme_err_code(e);
		if (ps.err)
			r = ps.err;
		else if (c == GPG_ERR_BAD_PASSPHRASE || c == GPG_ERR_BAD_PIN)
			r = -EACCES; /* a key's passphrase, or a card's PIN */
		else if (c == GPG_ERR_CANCELED)
			r = -ECANCELED;
		else if (c == GPG_ERR_NO_SECKEY || c == GPG_ERR_UNUSABLE_SECKEY ||
			 (sr && sr->invalid_signers))
			r = -ENOKEY;
		else
			r = -EIO;
		log_error("signing with %s failed: %s", key->fpr ? key->fpr : "?",
			  r == -EACCES ? "bad PIN/passphrase" : e ? gpgme_strerror(e)
							      : "no signature produced");
		goto out;
	}
	{
		size_t n = 0;
		char *p = gpgme_data_release_and_get_mem(out, &n);
		out = NULL;
		if (!p) {
			r = -ENOMEM;
			goto out;
		}
		*ret = xmalloc(n + 1);
		memcpy(*ret, p, n);
		(*ret)[n] = '\0';
		gpgme_free(p);
		if (ret_len)
			*ret_len = n;
	}
	if (ret_fpr)
		snprintf(ret_fpr, 41, "%s", key->subkeys && key->subkeys->fpr ? key->subkeys->fpr
								   : key->fpr ? key->fpr : "");
	r = 0;
out:
	gpgme_data_release(in);
	gpgme_data_release(out);
	if (key)
		gpgme_key_unref(key);
	gpgme_release(ctx);
	/* Never leave the PIN in gpg-agent's cache (a second signing must
	 * ask again): a failure to empty it fails the signing. */
	{
		int q = sig_agent_forget(s->gnupghome);
		if (q < 0 && r == 0) {
			free(*ret);
			*ret = NULL;
			r = q;
		}
	}
	return r;
}
