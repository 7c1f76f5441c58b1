/* backup.c - the owner's key from its encrypted backup, for one signing. */
#include "gpg/keyring.h"
#include "gpg/backup.h"
#include "boot/boot-internal.h"
#include "boot/sig.h"
#include "fs.h"
#include "gpg/card.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <gpgme.h>

struct pass {
	const struct secret *s;
	int asked;
};

static gpgme_error_t pass_cb(void *hook, const char *uid_hint, const char *info, int prev_bad,
			     int fd)
{
	struct pass *p = hook;
	(void)uid_hint;
	(void)info;
	if (prev_bad || p->asked++ > 0)
		return gpg_error(GPG_ERR_BAD_PASSPHRASE); /* never loop on a wrong one */
	if (memchr(p->s->data, '\n', p->s->len) || gpgme_io_writen(fd, p->s->data, p->s->len) < 0 ||
	    gpgme_io_writen(fd, "\n", 1) < 0)
		return gpg_error(GPG_ERR_CANCELED);
	return 0;
}

/* gpgme data sink writing into a locked secret buffer */
static ssize_t sink_write(void *handle, const void *buf, size_t n)
{
	struct secret *s = handle;
	if (n > s->cap - s->len) {
		errno = EFBIG;
		return -1;
	}
	memcpy(s->data + s->len, buf, n);
	s->len += n;
	return (ssize_t)n;
}

/* A context on home whose passphrases come from p (loopback pinentry). */
static int pass_ctx(const char *home, unsigned flags, struct pass *p, gpgme_ctx_t *ret)
{
	int r = gpg_context(home, GPG_CTX_LOOPBACK | flags, ret);

	if (r == 0)
		gpgme_set_passphrase_cb(*ret, pass_cb, p);
	return r;
}

static int decrypt(const char *home, const char *path, const char *buf, size_t len,
		   const struct secret *pass, struct secret **ret)
{
	struct gpgme_data_cbs cbs = {.write = sink_write};
	struct pass p = {.s = pass};
	_cleanup_secret_ struct secret *plain = secret_new(GPG_BACKUP_MAX);
	gpgme_ctx_t ctx = NULL;
	gpgme_data_t in = NULL, out = NULL;
	gpgme_decrypt_result_t dr;
	gpgme_error_t e;
	int r = pass_ctx(home, 0, &p, &ctx);

	if (r < 0)
		return r;
	if (gpgme_data_new_from_mem(&in, buf, len, 0) || gpgme_data_new_from_cbs(&out, &cbs, plain)) {
		r = -ENOMEM;
		goto out;
	}
	e = gpgme_op_decrypt(ctx, in, out);
	dr = gpgme_op_decrypt_result(ctx);
	if (e) {
		gpgme_err_code_t c = gpgme_err_code(e);
		r = c == GPG_ERR_BAD_PASSPHRASE || c == GPG_ERR_CANCELED ? -EACCES
		    : c == GPG_ERR_NO_DATA ? -EBADMSG : -EIO;
		log_error("%s: cannot decrypt the key backup: %s", path,
			  r == -EACCES ? "wrong backup passphrase" : gpgme_strerror(e));
		goto out;
	}
	if (dr && dr->recipients) {
		/* a backup is symmetric: a public-key message is something else */
		r = log_error_errno(-EBADMSG, "%s: not a passphrase-encrypted key backup", path);
		goto out;
	}
	*ret = TAKE_PTR(plain);
	r = 0;
out:
	gpgme_data_release(in);
	gpgme_data_release(out);
	gpgme_release(ctx);
	return r;
}

/* Import the export; the signing subkey with a secret part -> fpr. */
static int import(const char *home, const char *path, const struct secret *plain,
		  char ret_fpr[41])
{
	gpgme_ctx_t ctx = NULL;
	gpgme_data_t in = NULL;
	gpgme_import_result_t ir;
	gpgme_key_t k = NULL;
	gpgme_error_t e;
	int r = sig_gpgme_new(home, &ctx);

	if (r < 0)
		return r;
	if (gpgme_data_new_from_mem(&in, (const char *)plain->data, plain->len, 0)) {
		r = -ENOMEM;
		goto out;
	}
	e = gpgme_op_import(ctx, in);
	ir = gpgme_op_import_result(ctx);
	if (e || !ir || ir->secret_imported < 1) {
		r = log_error_errno(-EBADMSG, "%s: the backup holds no secret key%s%s", path,
				    e ? ": " : "", e ? gpgme_strerror(e) : "");
		goto out;
	}
	r = -ENOKEY;
	if (!gpgme_op_keylist_start(ctx, NULL, 1)) {
		while (r == -ENOKEY && !gpgme_op_keylist_next(ctx, &k)) {
			/* the newest usable signing subkey, as gpg would pick */
			for (gpgme_subkey_t s = k->subkeys; s; s = s->next)
				if (s->can_sign && s->secret && !s->revoked && !s->expired &&
				    !s->disabled && !s->invalid && s->fpr && strlen(s->fpr) == 40) {
					memcpy(ret_fpr, s->fpr, 41);
					r = 0;
				}
			gpgme_key_unref(k);
		}
		gpgme_op_keylist_end(ctx);
	}
	if (r < 0)
		log_error("%s: the backup holds no usable secret signing key", path);
out:
	gpgme_data_release(in);
	gpgme_release(ctx);
	return r;
}

/* GPGME op with a passphrase callback; output into a locked secret. */
static int export_secret(const char *home, const char *fpr, const struct secret *keypass,
			 struct secret **ret)
{
	struct gpgme_data_cbs cbs = {.write = sink_write};
	struct pass p = {.s = keypass};
	_cleanup_secret_ struct secret *out_s = secret_new(GPG_BACKUP_MAX);
	gpgme_ctx_t ctx = NULL;
	gpgme_data_t out = NULL;
	gpgme_error_t e;
	int r = pass_ctx(home, GPG_CTX_ARMOR, &p, &ctx);

	if (r < 0)
		return r;
	e = gpgme_data_new_from_cbs(&out, &cbs, out_s);
	if (!e)
		e = gpgme_op_export(ctx, fpr, GPGME_EXPORT_MODE_SECRET, out);
	if (!e && out_s->len == 0)
		e = gpg_error(GPG_ERR_NO_SECKEY);
	if (e)
		r = log_error_errno(gpgme_err_code(e) == GPG_ERR_BAD_PASSPHRASE ? -EACCES : -EIO,
				    "exporting the secret key %s: %s", fpr, gpgme_strerror(e));
	else
		*ret = TAKE_PTR(out_s);
	gpgme_data_release(out);
	gpgme_release(ctx);
	return r;
}

static int encrypt_sym(const char *home, const struct secret *plain, const struct secret *pass,
		       char **ret, size_t *ret_len)
{
	struct pass p = {.s = pass};
	gpgme_ctx_t ctx = NULL;
	gpgme_data_t in = NULL, out = NULL;
	gpgme_error_t e;
	int r = pass_ctx(home, GPG_CTX_ARMOR, &p, &ctx);

	if (r < 0)
		return r;
	e = gpgme_data_new_from_mem(&in, (const char *)plain->data, plain->len, 0);
	if (!e)
		e = gpgme_data_new(&out);
	if (!e)
		e = gpgme_op_encrypt(ctx, NULL, GPGME_ENCRYPT_SYMMETRIC | GPGME_ENCRYPT_NO_COMPRESS,
				     in, out);
	if (e) {
		r = log_error_errno(-EIO, "encrypting the key backup: %s", gpgme_strerror(e));
	} else {
		size_t n = 0;
		char *m = gpgme_data_release_and_get_mem(out, &n);
		out = NULL;
		*ret = xmalloc(n + 1);
		memcpy(*ret, m, n);
		(*ret)[n] = '\0';
		*ret_len = n;
		gpgme_free(m);
	}
	gpgme_data_release(in);
	gpgme_data_release(out);
	gpgme_release(ctx);
	return r;
}

int gpg_backup_write(const char *home, const char *fpr, const struct secret *keypass,
		     const struct secret *backup_pass, const char *path)
{
	_cleanup_secret_ struct secret *plain = NULL, *back = NULL;
	_cleanup_free_ char *enc = NULL, *text = NULL;
	size_t len = 0, tlen = 0;
	int r = export_secret(home, fpr, keypass, &plain);

	if (r == 0)
		r = encrypt_sym(home, plain, backup_pass, &enc, &len);
	if (r == 0 && (r = fs_write_atomic(path, enc, len, 0600)) < 0)
		log_error_errno(r, "%s: cannot write the key backup", path);
	/* what is on the medium restores: read, decrypt, compare */
	if (r == 0 && (r = fs_read_file(path, GPG_BACKUP_MAX, &text, &tlen)) < 0)
		log_error_errno(r, "%s: cannot read the key backup back", path);
	if (r == 0)
		r = decrypt(home, path, text, tlen, backup_pass, &back);
	if (r == 0 && !secret_equal(back, plain))
		r = log_error_errno(-EBADMSG, "%s: the backup does not decrypt to the key", path);
	return r;
}

int gpg_backup_open(const char *path, const struct secret *backup_pass, char **ret_home,
		    char ret_fpr[41])
{
	const char *tmp = getenv("TMPDIR");
	_cleanup_free_ char *buf = NULL;
	_cleanup_secret_ struct secret *plain = NULL;
	char *home;
	size_t len = 0;
	int r = fs_read_file(path, GPG_BACKUP_MAX, &buf, &len);

	if (r < 0)
		return log_error_errno(r, "%s: cannot read the key backup%s", path,
				       r == -EFBIG ? " (larger than 1 MiB)" : "");
	home = xasprintf("%s/heads-backup-gpg-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(home)) {
		r = log_error_errno(-errno, "cannot create a private GnuPG home");
		free(home);
		return r;
	}
	r = decrypt(home, path, buf, len, backup_pass, &plain);
	if (r == 0)
		r = import(home, path, plain, ret_fpr);
	if (r < 0) {
		gpg_backup_close(home);
		return r;
	}
	*ret_home = home;
	return 0;
}

void gpg_backup_close(char *home)
{
	if (!home)
		return;
	(void)card_release(home); /* the agent forgets the key with it */
	boot_rm_rf(home);
	free(home);
}
