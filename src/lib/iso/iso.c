/* iso.c - an ISO file opened once; its signature (detached or a signed
 * checksum list) checked over the bytes of that descriptor. */
#include "iso/iso.h"
#include "boot/sig.h"
#include "codec.h"
#include "gpg/keyring.h"
#include "fs.h"
#include "log.h"
#include "util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gpgme.h>
#include <openssl/evp.h>

#define KEYRING_FILE_MAX (64u * 1024 * 1024)
/* Reads of the hashing pass (iso_hash): a buffer that stays in the CPU's L2
 * cache, so SHA-256 reads what pread just wrote there instead of a 1 MiB
 * buffer that has left it (bench/iso: CPU per 512 MiB 0.40-0.42 s with
 * 1 MiB reads, 0.38-0.39 s with 256 KiB). Chunk records stay per ISO_CHUNK. */
#define ISO_READ (256u * 1024)

const char *iso_sig_state_name(enum iso_sig_state s)
{
	switch (s) {
	case ISO_VERIFIED: return "VERIFIED";
	case ISO_NO_SIGNATURE: return "NO SIGNATURE";
	case ISO_BAD_SIGNATURE: return "BAD SIGNATURE";
	case ISO_UNKNOWN_KEY: return "UNKNOWN KEY";
	case ISO_HASH_MISMATCH: return "HASH MISMATCH";
	case ISO_NOT_LISTED: return "NOT LISTED";
	case ISO_MALFORMED: return "MALFORMED";
	case ISO_INVALID: return "INVALID";
	case ISO_READ_ERROR: return "READ ERROR";
	}
	return "?";
}

int iso_open(const char *path, struct iso_file *ret)
{
	_cleanup_free_ char *copy = xstrdup(path), *copy2 = xstrdup(path);
	_cleanup_close_ int dfd = -1, fd = -1;
	const char *dir = dirname(copy), *base = basename(copy2);
	struct stat st;

	if (!*base || streq(base, "/") || streq(base, ".") || streq(base, ".."))
		return log_error_errno(-EINVAL, "%s: not a file name", path);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return log_error_errno(-errno, "%s: cannot open its directory", path);
	fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return log_error_errno(-errno, "%s", path);
	if (fstat(fd, &st) < 0)
		return log_error_errno(-errno, "%s", path);
	if (!S_ISREG(st.st_mode))
		return log_error_errno(-EINVAL, "%s: not a regular file", path);
	iso_open_fd(TAKE_FD(fd), path, (uint64_t)st.st_size, ret);
	free(ret->name);
	ret->name = xstrdup(base);
	ret->dirfd = TAKE_FD(dfd);
	return 0;
}

void iso_open_fd(int fd, const char *path, uint64_t size, struct iso_file *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->fd = fd;
	ret->dirfd = -1;
	ret->path = xstrdup(path);
	ret->name = xstrdup(path);
	ret->size = size;
	ret->n_chunks = (size_t)((size + ISO_CHUNK - 1) / ISO_CHUNK);
	ret->chunk_want = xcalloc(ret->n_chunks / 8 + 1, 1);
	ret->cache_idx = UINT64_MAX;
}

void iso_close(struct iso_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	if (f->dirfd >= 0)
		close(f->dirfd);
	free(f->path);
	free(f->name);
	free(f->chunk_want);
	free(f->chunk_sha256);
	free(f->cache);
	memset(f, 0, sizeof(*f));
	f->fd = f->dirfd = -1;
}

static bool want(const struct iso_file *f, uint64_t c)
{
	return f->chunk_want[c / 8] & (1u << (c % 8));
}

void iso_mark(struct iso_file *f, uint64_t off, uint64_t len)
{
	if (!len || off >= f->size)
		return;
	if (len > f->size - off)
		len = f->size - off;
	for (uint64_t c = off / ISO_CHUNK; c <= (off + len - 1) / ISO_CHUNK; c++)
		f->chunk_want[c / 8] |= (uint8_t)(1u << (c % 8));
}

int iso_check_reads(struct iso_file *f)
{
	if (!f->chunks_recorded)
		return log_error_errno(-EINVAL, "%s: no completed pass to check reads against",
				       f->path);
	f->checked = true;
	f->cache_idx = UINT64_MAX;
	return 0;
}

static int pread_all(struct iso_file *f, uint64_t off, size_t len, uint8_t *buf)
{
	int fd = f->fd;
	return iso9660_pread(&fd, off, len, buf);
}

int iso_read_at(void *iso_file, uint64_t off, size_t len, uint8_t *buf)
{
	struct iso_file *f = iso_file;
	int r;

	if (off > f->size || len > f->size - off)
		return log_error_errno(-EINVAL, "%s: read of %zu bytes at %llu beyond its end",
				       f->path, len, (unsigned long long)off);
	if (!f->checked) {
		iso_mark(f, off, len);
		return pread_all(f, off, len, buf);
	}
	while (len) {
		uint64_t c = off / ISO_CHUNK, start = c * ISO_CHUNK;
		size_t clen = (size_t)(f->size - start < ISO_CHUNK ? f->size - start : ISO_CHUNK);
		if (f->cache_idx != c) {
			uint8_t d[32];
			unsigned int dl = 32;
			if (!want(f, c))
				return log_error_errno(-EPERM, "%s: bytes %llu-%llu were not part of the "
						       "signature check's record: refused", f->path,
						       (unsigned long long)start,
						       (unsigned long long)(start + clen - 1));
			if (!f->cache)
				f->cache = xmalloc(ISO_CHUNK);
			f->cache_idx = UINT64_MAX;
			r = pread_all(f, start, clen, f->cache);
			if (r < 0)
				return r;
			EVP_Digest(f->cache, clen, d, &dl, EVP_sha256(), NULL);
			if (memcmp(d, f->chunk_sha256[c], 32) != 0)
				return log_error_errno(-EBADMSG, "%s: bytes %llu-%llu changed since the "
						       "file was verified: refused", f->path,
						       (unsigned long long)start,
						       (unsigned long long)(start + clen - 1));
			f->cache_idx = c;
		}
		size_t in = (size_t)(off - start), take = clen - in < len ? clen - in : len;
		memcpy(buf, f->cache + in, take);
		buf += take;
		off += take;
		len -= take;
	}
	return 0;
}

/* ---- streaming SHA-256 ------------------------------------------------- */

struct stream {
	struct iso_file *f;
	EVP_MD_CTX *md;
	EVP_MD_CTX *cmd; /* the current marked chunk */
	uint64_t pos;
	bool failed;
	iso_progress_fn progress;
	void *userdata;
};

static void stream_init(struct stream *s, struct iso_file *f, iso_progress_fn p, void *ud)
{
	memset(s, 0, sizeof(*s));
	s->f = f;
	s->progress = p;
	s->userdata = ud;
	s->md = EVP_MD_CTX_new();
	s->cmd = EVP_MD_CTX_new();
	if (!s->md || !EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) || !s->cmd ||
	    !EVP_DigestInit_ex(s->cmd, EVP_sha256(), NULL))
		abort();
	f->hashed = false;
	f->chunks_recorded = false;
	f->checked = false;
	if (!f->chunk_sha256)
		f->chunk_sha256 = xcalloc(f->n_chunks ? f->n_chunks : 1, 32);
	(void)posix_fadvise(f->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
}

/* The marked chunks' digests, from the same bytes as the whole-file one. */
static void chunk_feed(struct stream *s, uint64_t pos, const uint8_t *b, size_t n)
{
	struct iso_file *f = s->f;
	while (n) {
		uint64_t c = pos / ISO_CHUNK;
		size_t in = ISO_CHUNK - (size_t)(pos % ISO_CHUNK), take = n < in ? n : in;
		if (want(f, c)) {
			EVP_DigestUpdate(s->cmd, b, take);
			if ((pos + take) % ISO_CHUNK == 0 || pos + take == f->size) {
				unsigned int l = 32;
				EVP_DigestFinal_ex(s->cmd, f->chunk_sha256[c], &l);
				EVP_DigestInit_ex(s->cmd, EVP_sha256(), NULL);
			}
		}
		pos += take;
		b += take;
		n -= take;
	}
}

/* Next bytes into buf; 0 at the end, -errno on a read error. */
static ssize_t stream_read(struct stream *s, void *buf, size_t len)
{
	ssize_t n;

	if (s->pos >= s->f->size)
		return 0;
	if (len > s->f->size - s->pos)
		len = (size_t)(s->f->size - s->pos);
	do
		n = pread(s->f->fd, buf, len, (off_t)s->pos);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		s->failed = true;
		return log_error_errno(-errno, "%s: read error at byte %llu", s->f->path,
				       (unsigned long long)s->pos);
	}
	if (n == 0) {
		s->failed = true;
		return log_error_errno(-EIO, "%s: file ends at byte %llu, %llu expected (truncated "
				       "while reading?)", s->f->path, (unsigned long long)s->pos,
				       (unsigned long long)s->f->size);
	}
	EVP_DigestUpdate(s->md, buf, (size_t)n);
	chunk_feed(s, s->pos, buf, (size_t)n);
	s->pos += (uint64_t)n;
	/* at most once per ISO_CHUNK (iso.h), and at the end */
	if (s->progress && (s->pos / ISO_CHUNK != (s->pos - (uint64_t)n) / ISO_CHUNK ||
			    s->pos == s->f->size))
		s->progress(s->userdata, s->pos, s->f->size);
	if (s->pos == s->f->size) {
		unsigned int l = 32;
		EVP_DigestFinal_ex(s->md, s->f->sha256, &l);
		s->f->hashed = true;
		s->f->chunks_recorded = true;
	}
	return n;
}

static void stream_free(struct stream *s)
{
	EVP_MD_CTX_free(s->md);
	EVP_MD_CTX_free(s->cmd);
	s->md = s->cmd = NULL;
}

int iso_hash(struct iso_file *f, iso_progress_fn progress, void *userdata)
{
	struct stream s;
	_cleanup_free_ uint8_t *buf = xmalloc(524288);
	ssize_t n;

	stream_init(&s, f, progress, userdata);
	while ((n = stream_read(&s, buf, 524288)) > 0)
		;
	stream_free(&s);
	if (n < 0)
		return (int)n;
	if (f->size == 0) {
		unsigned int l = 32;
		EVP_Digest("", 0, f->sha256, &l, EVP_sha256(), NULL);
		f->hashed = true;
		f->chunks_recorded = true;
	}
	return 0;
}

/* ---- checksum lists ---------------------------------------------------- */

static bool all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

int iso_sums_find(const char *buf, size_t len, const char *name, uint8_t ret[32])
{
	bool found = false;
	unsigned lineno = 0;
	uint8_t d[32];

	if (len > ISO_MAX_SUMS)
		return log_error_errno(-EFBIG, "checksum list larger than %u bytes", ISO_MAX_SUMS);
	for (size_t i = 0; i < len;) {
		const char *l = buf + i, *nl = memchr(l, '\n', len - i);
		size_t ll = nl ? (size_t)(nl - l) : len - i;
		const char *hex = NULL, *nm = NULL;
		size_t hexlen = 0, nmlen = 0;
		i += ll + (nl ? 1 : 0);
		lineno++;
		if (ll && l[ll - 1] == '\r')
			ll--;
		while (ll && (*l == ' ' || *l == '\t')) {
			l++;
			ll--;
		}
		if (!ll || *l == '#')
			continue;
		if (memchr(l, 0, ll))
			return log_error_errno(-EINVAL, "checksum list line %u: NUL byte", lineno);
		const char *sp = memchr(l, ' ', ll);
		if (!sp)
			return log_error_errno(-EINVAL, "checksum list line %u: no name", lineno);
		if (sp + 1 < l + ll && sp[1] == '(') { /* BSD: ALG (NAME) = HEX */
			size_t al = (size_t)(sp - l);
			const char *end = l + ll;
			const char *close = NULL;
			for (const char *p = end - 1; p > sp; p--)
				if (p + 4 <= end && memcmp(p, ") = ", 4) == 0) {
					close = p;
					break;
				}
			if (!close)
				return log_error_errno(-EINVAL, "checksum list line %u: malformed", lineno);
			nm = sp + 2;
			nmlen = (size_t)(close - nm);
			hex = close + 4;
			hexlen = (size_t)(end - hex);
			if (!(al == 6 && memcmp(l, "SHA256", 6) == 0))
				continue; /* another algorithm */
		} else { /* GNU: HEX  NAME or HEX *NAME */
			hex = l;
			hexlen = (size_t)(sp - l);
			if (sp + 1 >= l + ll || (sp[1] != ' ' && sp[1] != '*'))
				return log_error_errno(-EINVAL, "checksum list line %u: malformed", lineno);
			nm = sp + 2;
			nmlen = (size_t)(l + ll - nm);
			if (!all_hex(hex, hexlen))
				return log_error_errno(-EINVAL, "checksum list line %u: not hex", lineno);
			if (hexlen != 64)
				continue; /* another algorithm's list line */
		}
		if (hexlen != 64 || !all_hex(hex, hexlen))
			return log_error_errno(-EINVAL, "checksum list line %u: not a SHA-256 digest",
					       lineno);
		if (nmlen && *nm == '*') {
			nm++;
			nmlen--;
		}
		if (nmlen >= 2 && nm[0] == '.' && nm[1] == '/') {
			nm += 2;
			nmlen -= 2;
		}
		if (nmlen != strlen(name) || memcmp(nm, name, nmlen) != 0)
			continue;
		for (size_t k = 0; k < 32; k++) {
			char h[3] = {hex[2 * k], hex[2 * k + 1], 0};
			d[k] = (uint8_t)strtoul(h, NULL, 16);
		}
		if (found && memcmp(d, ret, 32) != 0)
			return log_error_errno(-EINVAL, "checksum list line %u: %s listed twice with "
					       "different digests", lineno, name);
		memcpy(ret, d, 32);
		found = true;
	}
	return found ? 0 : -ENOENT;
}

/* ---- GnuPG ------------------------------------------------------------- */

static void detail(struct iso_verify_result *res, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void detail(struct iso_verify_result *res, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(res->detail, sizeof(res->detail), fmt, ap);
	va_end(ap);
}

static int import_keys(gpgme_ctx_t ctx, const char *key_file, const struct iso_verify_opts *o)
{
	_cleanup_free_ char *buf = NULL;
	gpgme_data_t kd = NULL;
	gpgme_import_result_t ir;
	gpgme_error_t e;
	size_t len;
	int r, n = 0;

	r = fs_read_file(key_file, ISO_MAX_KEYFILE, &buf, &len);
	if (r < 0)
		return log_error_errno(r, "key file %s", key_file);
	if (gpgme_data_new_from_mem(&kd, buf, len, 0))
		return -ENOMEM;
	e = gpgme_op_import(ctx, kd);
	gpgme_data_release(kd);
	ir = e ? NULL : gpgme_op_import_result(ctx);
	if (!ir)
		return log_error_errno(-EINVAL, "key file %s: %s", key_file,
				       e ? gpgme_strerror(e) : "no result");
	for (gpgme_import_status_t s = ir->imports; s; s = s->next) {
		gpgme_key_t k = NULL;
		if (s->result || !s->fpr)
			continue;
		n++;
		if (o->key_imported) {
			const char *uid = "";
			if (!gpgme_get_key(ctx, s->fpr, &k, 0) && k && k->uids && k->uids->uid)
				uid = k->uids->uid;
			o->key_imported(o->userdata, s->fpr, uid);
		}
		if (k)
			gpgme_key_unref(k);
	}
	if (!n)
		return log_error_errno(-EINVAL, "key file %s: no OpenPGP public key in it", key_file);
	return 0;
}

/* Read the verification result into res (VERIFIED only if every signature
 * is good). */
static void take_result(gpgme_ctx_t ctx, gpgme_error_t e, struct iso_verify_result *res)
{
	gpgme_verify_result_t vr = gpgme_op_verify_result(ctx);

	if (e || !vr || !vr->signatures) {
		res->state = ISO_MALFORMED;
		detail(res, "no valid OpenPGP signature data (%s)",
		       e ? gpgme_strerror(e) : "no signature");
		return;
	}
	res->state = ISO_VERIFIED;
	for (gpgme_signature_t s = vr->signatures; s; s = s->next) {
		gpgme_err_code_t c = gpgme_err_code(s->status);
		enum iso_sig_state st;
		if (s->fpr && !res->fpr[0])
			snprintf(res->fpr, sizeof(res->fpr), "%s", s->fpr);
		if (c == GPG_ERR_NO_ERROR)
			continue;
		st = c == GPG_ERR_BAD_SIGNATURE ? ISO_BAD_SIGNATURE :
		     c == GPG_ERR_NO_PUBKEY ? ISO_UNKNOWN_KEY : ISO_INVALID;
		if (res->state == ISO_VERIFIED || st == ISO_BAD_SIGNATURE ||
		    (st == ISO_UNKNOWN_KEY && res->state == ISO_INVALID)) {
			res->state = st;
			snprintf(res->fpr, sizeof(res->fpr), "%s", s->fpr ? s->fpr : "");
			detail(res, "%s (key %s)", gpgme_strerror(s->status), s->fpr ? s->fpr : "?");
		}
	}
}

/* GPGME reads the ISO through these: every byte gpg sees is hashed by us. */
static ssize_t cb_read(void *handle, void *buffer, size_t size)
{
	ssize_t n = stream_read(handle, buffer, size);
	if (n < 0) {
		errno = (int)-n;
		return -1;
	}
	return n;
}

static off_t cb_seek(void *handle, off_t offset, int whence)
{
	struct stream *s = handle;
	if (whence == SEEK_SET && offset == 0) {
		/* a rewind: start the hash again so it covers one whole pass */
		EVP_DigestInit_ex(s->md, EVP_sha256(), NULL);
		EVP_DigestInit_ex(s->cmd, EVP_sha256(), NULL);
		s->pos = 0;
		s->f->hashed = false;
		return 0;
	}
	if (whence == SEEK_CUR && offset == 0)
		return (off_t)s->pos;
	errno = EOPNOTSUPP;
	return -1;
}

static int open_sibling(struct iso_file *f, const char *name, size_t max, char **ret,
			size_t *ret_len)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	if (f->dirfd < 0)
		return -ENOENT;
	fd = openat(f->dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -ENOENT;
	return fs_read_fd(fd, max, ret, ret_len);
}

static int verify_detached_iso(gpgme_ctx_t ctx, struct iso_file *f, const char *sig,
			       size_t sig_len, const struct iso_verify_opts *o,
			       struct iso_verify_result *res)
{
	struct gpgme_data_cbs cbs = {.read = cb_read, .seek = cb_seek};
	struct stream s;
	gpgme_data_t sd = NULL, td = NULL;
	gpgme_error_t e;
	int r = 0;

	stream_init(&s, f, o->progress, o->userdata);
	if (gpgme_data_new_from_mem(&sd, sig, sig_len, 0) ||
	    gpgme_data_new_from_cbs(&td, &cbs, &s)) {
		r = -ENOMEM;
		goto out;
	}
	(void)gpgme_data_set_flag(td, "io-buffer-size", "65536");
	e = gpgme_op_verify(ctx, sd, td, NULL);
	if (e && (gpgme_err_code(e) == GPG_ERR_INV_ENGINE || gpgme_err_code(e) == GPG_ERR_ENOENT)) {
		r = log_error_errno(-EIO, "gpg could not run: %s", gpgme_strerror(e));
		goto out;
	}
	take_result(ctx, e, res);
	if (s.failed || (res->state == ISO_VERIFIED && !f->hashed)) {
		/* a good signature over bytes we did not all read is no verdict */
		res->state = ISO_READ_ERROR;
		detail(res, "%s could not be read to its end", f->name);
	}
out:
	gpgme_data_release(sd);
	gpgme_data_release(td);
	stream_free(&s);
	return r;
}

static const char *const sums_names[] = {"SHA256SUMS", "SHA256SUMS.txt", "sha256sum.txt",
					 "sha256sums.txt"};
static const char *const sums_sigs[] = {".sign", ".gpg", ".asc", ".sig"};

/* A checksum list with a detached signature, or a clear-signed *CHECKSUM
 * file. Returns 1 when one was found (res set), 0 when none, -errno. */
static int verify_sums(gpgme_ctx_t ctx, struct iso_file *f, const struct iso_verify_opts *o,
		       struct iso_verify_result *res)
{
	_cleanup_free_ char *list = NULL, *sig = NULL, *plain = NULL;
	size_t list_len = 0, sig_len = 0, plain_len = 0;
	gpgme_data_t sd = NULL, td = NULL, pd = NULL;
	gpgme_error_t e;
	uint8_t want[32];
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(sums_names) && !sig; i++) {
		free(list);
		list = NULL;
		r = open_sibling(f, sums_names[i], ISO_MAX_SUMS, &list, &list_len);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return log_error_errno(r, "%s", sums_names[i]);
		for (size_t k = 0; k < ARRAY_SIZE(sums_sigs); k++) {
			_cleanup_free_ char *sn = xasprintf("%s%s", sums_names[i], sums_sigs[k]);
			r = open_sibling(f, sn, ISO_MAX_SIG, &sig, &sig_len);
			if (r == -ENOENT)
				continue;
			if (r < 0)
				return log_error_errno(r, "%s", sn);
			snprintf(res->method, sizeof(res->method), "%s + %s", sums_names[i], sn);
			break;
		}
		if (!sig) {
			log_warn("%s has no signature (%s.sign/.gpg/.asc/.sig): not used",
				 sums_names[i], sums_names[i]);
			free(list);
			list = NULL;
		}
	}
	if (!sig) {
		/* clear-signed: <anything>CHECKSUM beside the ISO (Fedora) */
		DIR *d = NULL;
		int dfd = dup(f->dirfd);
		struct dirent *de;
		if (dfd < 0 || !(d = fdopendir(dfd))) {
			if (dfd >= 0)
				close(dfd);
			return 0;
		}
		rewinddir(d);
		unsigned seen = 0;
		while ((de = readdir(d)) && seen++ < 4096) {
			size_t nl = strlen(de->d_name);
			if (nl < 8 || strcmp(de->d_name + nl - 8, "CHECKSUM") != 0)
				continue;
			r = open_sibling(f, de->d_name, ISO_MAX_SUMS, &sig, &sig_len);
			if (r < 0)
				continue;
			if (!strstr(sig, "-----BEGIN PGP SIGNED MESSAGE-----")) {
				free(sig);
				sig = NULL;
				continue;
			}
			snprintf(res->method, sizeof(res->method), "%.100s (clear-signed)", de->d_name);
			break;
		}
		closedir(d);
		if (!sig)
			return 0;
	}
	if (gpgme_data_new_from_mem(&sd, sig, sig_len, 0) ||
	    (list && gpgme_data_new_from_mem(&td, list, list_len, 0)) ||
	    (!list && gpgme_data_new(&pd))) {
		r = -ENOMEM;
		goto out;
	}
	e = gpgme_op_verify(ctx, sd, td, pd);
	if (e && (gpgme_err_code(e) == GPG_ERR_INV_ENGINE || gpgme_err_code(e) == GPG_ERR_ENOENT)) {
		r = log_error_errno(-EIO, "gpg could not run: %s", gpgme_strerror(e));
		goto out;
	}
	take_result(ctx, e, res);
	if (res->state != ISO_VERIFIED) {
		r = 1;
		goto out;
	}
	if (pd) {
		plain = gpgme_data_release_and_get_mem(pd, &plain_len);
		pd = NULL;
		if (!plain) {
			r = -ENOMEM;
			goto out;
		}
		char *copy = xstrndup(plain, plain_len);
		gpgme_free(plain);
		plain = copy;
		list = TAKE_PTR(plain);
		list_len = strlen(list);
	}
	r = iso_sums_find(list, list_len, f->name, want);
	if (r == -ENOENT) {
		res->state = ISO_NOT_LISTED;
		detail(res, "the signed list does not name %s", f->name);
		r = 1;
		goto out;
	}
	if (r < 0) {
		res->state = ISO_MALFORMED;
		detail(res, "the signed checksum list is malformed");
		r = 1;
		goto out;
	}
	r = iso_hash(f, o->progress, o->userdata);
	if (r < 0) {
		res->state = ISO_READ_ERROR;
		detail(res, "%s could not be read to its end (%s)", f->name, strerror(-r));
		r = 1;
		goto out;
	}
	if (memcmp(want, f->sha256, 32) != 0) {
		char got[65], exp[65];
		hex_encode(f->sha256, 32, got);
		hex_encode(want, 32, exp);
		res->state = ISO_HASH_MISMATCH;
		detail(res, "SHA-256 %s, the signed list says %s", got, exp);
	}
	r = 1;
out:
	gpgme_data_release(sd);
	gpgme_data_release(td);
	gpgme_data_release(pd);
	return r;
}

int iso_verify(struct iso_file *f, const struct iso_verify_opts *o, struct iso_verify_result *res)
{
	static const char *const exts[] = {".sig", ".asc"};
	_cleanup_free_ char *home = NULL;
	gpgme_ctx_t ctx = NULL;
	int r;

	memset(res, 0, sizeof(*res));
	res->state = ISO_INVALID;
	if (!o->keyring_dir && !o->key_file)
		return log_error_errno(-EINVAL, "no keyring and no key file to verify with");
	r = sig_keyring_home(o->keyring_dir, "iso-gpg", &home);
	if (r < 0)
		return r;
	r = gpg_context(home, 0, &ctx);
	if (r < 0)
		goto out;
	if (o->key_file) {
		r = import_keys(ctx, o->key_file, o);
		if (r < 0)
			goto out;
	}
	for (size_t i = 0; i < ARRAY_SIZE(exts); i++) {
		_cleanup_free_ char *sn = xasprintf("%s%s", f->name, exts[i]);
		_cleanup_free_ char *sig = NULL;
		size_t sig_len;
		r = open_sibling(f, sn, ISO_MAX_SIG, &sig, &sig_len);
		if (r == -ENOENT)
			continue;
		if (r < 0) {
			log_error_errno(r, "%s", sn);
			goto out;
		}
		snprintf(res->method, sizeof(res->method), "%s", sn);
		r = verify_detached_iso(ctx, f, sig, sig_len, o, res);
		goto out;
	}
	r = verify_sums(ctx, f, o, res);
	if (r == 0) {
		res->state = ISO_NO_SIGNATURE;
		snprintf(res->method, sizeof(res->method), "none");
		detail(res, "no %s.sig, %s.asc, or signed SHA256SUMS/CHECKSUM list beside it",
		       f->name, f->name);
	}
	if (r > 0)
		r = 0;
out:
	if (r >= 0 && res->state == ISO_VERIFIED && f->hashed)
		r = iso_check_reads(f);
	if (ctx)
		gpgme_release(ctx);
	sig_home_remove(home);
	return r;
}
