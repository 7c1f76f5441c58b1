/* integrity.c - full /boot check and the atomic signed update. */
#include "boot/integrity.h"
#include "boot/boot-internal.h"
#include "fs.h"
#include "log.h"
#include "tpm/tpm.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#define TRIGGER_GLOB "kexec_package_trigger*"

/* Read a small file beneath dirfd without following a final symlink. */
static int read_beneath(int dirfd, const char *name, size_t max, char **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	return fs_read_fd(fd, max, ret, ret_len);
}

static void detail(struct integrity_report *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void detail(struct integrity_report *r, const char *fmt, ...)
{
	va_list ap;
	if (r->manifest_detail[0])
		return; /* keep the first */
	va_start(ap, fmt);
	vsnprintf(r->manifest_detail, sizeof(r->manifest_detail), fmt, ap);
	va_end(ap);
}

/* Read a manifest file beneath /boot; a missing or unreadable one is
 * reported in rep and returned as its state. */
static enum integrity_manifest_state read_manifest(struct integrity_report *rep, int bootfd,
						   const char *name, char **buf, size_t *len)
{
	int r = read_beneath(bootfd, name, MANIFEST_MAX_FILE, buf, len);
	if (r == -ENOENT) {
		detail(rep, "%s is missing", name);
		return INTEGRITY_MANIFEST_MISSING;
	}
	if (r < 0) {
		detail(rep, "%s cannot be read: %s", name,
		       r == -ELOOP || r == -EINVAL ? "not a regular file" : strerror(-r));
		return INTEGRITY_MANIFEST_MALFORMED;
	}
	return INTEGRITY_MANIFEST_OK;
}

static enum integrity_manifest_state load_hashes(struct integrity_report *rep, int bootfd,
						 const char *name, struct manifest *m)
{
	_cleanup_free_ char *buf = NULL;
	size_t len, line = 0;
	enum integrity_manifest_state st = read_manifest(rep, bootfd, name, &buf, &len);
	int r;
	if (st != INTEGRITY_MANIFEST_OK)
		return st;
	r = manifest_parse_hashes(buf, len, m, &line);
	if (r < 0) {
		detail(rep, "%s:%zu: malformed line", name, line);
		return INTEGRITY_MANIFEST_MALFORMED;
	}
	return INTEGRITY_MANIFEST_OK;
}

static enum integrity_manifest_state load_tree(struct integrity_report *rep, int bootfd,
					       struct manifest_tree *t)
{
	_cleanup_free_ char *buf = NULL;
	size_t len, entry = 0;
	enum integrity_manifest_state st =
		read_manifest(rep, bootfd, MANIFEST_TREE_FILE, &buf, &len);
	int r;
	if (st != INTEGRITY_MANIFEST_OK)
		return st;
	r = manifest_parse_tree(buf, len, t, &entry);
	if (r < 0) {
		detail(rep, "%s: entry %zu is malformed", MANIFEST_TREE_FILE, entry);
		return INTEGRITY_MANIFEST_MALFORMED;
	}
	return INTEGRITY_MANIFEST_OK;
}

int integrity_check(const struct integrity_options *o, struct integrity_report *ret)
{
	struct integrity_report rep = {0};
	struct manifest hashes = {0}, defaults = {0};
	struct manifest_tree tree = {0};
	_cleanup_close_ int bootfd = -1;
	int r;

	bootfd = open(o->bootdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (bootfd < 0)
		return log_error_errno(-errno, "cannot open boot directory %s", o->bootdir);

	r = sig_verify_boot(bootfd, o->keyring, &rep.sig);
	if (r < 0) {
		rep.sig.state = SIG_INVALID;
		snprintf(rep.sig.detail, sizeof(rep.sig.detail),
			 "signature could not be checked against keyring %s: %s", o->keyring,
			 strerror(-r));
	}

	rep.hashes = load_hashes(&rep, bootfd, MANIFEST_HASHES_FILE, &hashes);
	rep.tree = load_tree(&rep, bootfd, &tree);
	r = manifest_verify(bootfd, rep.hashes == INTEGRITY_MANIFEST_OK ? &hashes : NULL,
			    rep.tree == INTEGRITY_MANIFEST_OK ? &tree : NULL, &rep.files,
			    o->progress, o->userdata);
	if (r < 0)
		goto fail; /* logged by manifest_verify */
	if (faccessat(bootfd, MANIFEST_DEFAULT_HASHES_FILE, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		struct integrity_report tmp = {0};
		rep.has_default_hashes = true;
		rep.default_hashes = load_hashes(&tmp, bootfd, MANIFEST_DEFAULT_HASHES_FILE, &defaults);
		if (rep.default_hashes != INTEGRITY_MANIFEST_OK)
			detail(&rep, "%s", tmp.manifest_detail);
		else {
			r = manifest_verify(bootfd, &defaults, NULL, &rep.default_files, NULL, NULL);
			if (r < 0)
				goto fail;
		}
	}

	/* Rollback counter. */
	if (o->rollback_disabled) {
		rep.rollback.state = ROLLBACK_DISABLED;
		snprintf(rep.rollback.detail, sizeof(rep.rollback.detail),
			 "rollback check disabled");
	} else {
		_cleanup_free_ char *rb = NULL;
		size_t rb_len;
		r = read_beneath(bootfd, ROLLBACK_FILE, ROLLBACK_MAX_FILE, &rb, &rb_len);
		if (r == -ENOENT) {
			rep.rollback.state = ROLLBACK_NOT_USED;
			snprintf(rep.rollback.detail, sizeof(rep.rollback.detail),
				 "no %s", ROLLBACK_FILE);
		} else if (r < 0) {
			rep.rollback.state = ROLLBACK_MALFORMED;
			snprintf(rep.rollback.detail, sizeof(rep.rollback.detail),
				 "%s cannot be read: %s", ROLLBACK_FILE, strerror(-r));
		} else if (!o->tpm) {
			uint8_t h[32];
			rep.rollback.state = ROLLBACK_NO_TPM;
			if (rollback_parse(rb, rb_len, &rep.rollback.id, h) < 0)
				rep.rollback.state = ROLLBACK_MALFORMED;
			snprintf(rep.rollback.detail, sizeof(rep.rollback.detail),
				 rep.rollback.state == ROLLBACK_MALFORMED
					 ? "%s is malformed"
					 : "%s binds a TPM counter but no TPM is available",
				 ROLLBACK_FILE);
		} else {
			r = rollback_verify(o->tpm, rb, rb_len, &rep.rollback);
			if (r < 0)
				goto fail;
		}
	}
	manifest_free(&hashes);
	manifest_free(&defaults);
	manifest_tree_free(&tree);
	*ret = rep;
	return 0;
fail:
	manifest_free(&hashes);
	manifest_free(&defaults);
	manifest_tree_free(&tree);
	integrity_report_free(&rep);
	return r;
}

bool integrity_ok(const struct integrity_report *r)
{
	if (r->sig.state != SIG_VERIFIED)
		return false;
	if (r->hashes != INTEGRITY_MANIFEST_OK || r->tree != INTEGRITY_MANIFEST_OK)
		return false;
	if (r->files.n_issue)
		return false;
	if (r->has_default_hashes &&
	    (r->default_hashes != INTEGRITY_MANIFEST_OK || r->default_files.n_issue))
		return false;
	return r->rollback.state == ROLLBACK_OK || r->rollback.state == ROLLBACK_NOT_USED ||
	       r->rollback.state == ROLLBACK_DISABLED;
}

void integrity_report_free(struct integrity_report *r)
{
	if (!r)
		return;
	manifest_report_free(&r->files);
	manifest_report_free(&r->default_files);
	if (r->signed_set) {
		boot_signed_free(r->signed_set);
		free(r->signed_set);
		r->signed_set = NULL;
	}
}

/* ---- signing ---------------------------------------------------------- */

struct staged {
	char *name;
	char *data;
	size_t len;
};

struct stage {
	struct staged *f;
	size_t n;
};

static void stage_put(struct stage *s, const char *name, char *data, size_t len)
{
	for (size_t i = 0; i < s->n; i++)
		if (streq(s->f[i].name, name)) {
			free(s->f[i].data);
			s->f[i].data = data;
			s->f[i].len = len;
			return;
		}
	s->f = xrealloc(s->f, (s->n + 1) * sizeof(*s->f));
	s->f[s->n++] = (struct staged){xstrdup(name), data, len};
}

static void stage_free(struct stage *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->f[i].name);
		free(s->f[i].data);
	}
	free(s->f);
}

/* Seed with the existing kexec*.txt (regular files only). */
static int stage_seed(struct stage *s, int bootfd)
{
	int dfd = openat(bootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;
	struct dirent *de;
	int r = 0;

	if (dfd < 0)
		return -errno;
	d = fdopendir(dfd);
	if (!d) {
		r = -errno;
		close(dfd);
		return r;
	}
	while ((errno = 0, de = readdir(d))) {
		char *buf;
		size_t len;
		if (fnmatch("kexec*.txt", de->d_name, 0) != 0 ||
		    fnmatch(TRIGGER_GLOB, de->d_name, 0) == 0)
			continue;
		r = read_beneath(dirfd(d), de->d_name, MANIFEST_MAX_FILE, &buf, &len);
		if (r < 0) {
			_cleanup_free_ char *e = manifest_escape_name(de->d_name);
			log_error_errno(r, "%s: cannot stage%s", e,
					r == -ELOOP || r == -EINVAL ? " (not a regular file)" : "");
			break;
		}
		stage_put(s, de->d_name, buf, len);
	}
	if (!de && errno && r == 0)
		r = -errno;
	closedir(d);
	return r;
}

static int mount_point_of(const char *path, char **ret)
{
	char *p = realpath(path, NULL);
	struct stat st, pst;

	if (!p)
		return -errno;
	for (;;) {
		_cleanup_free_ char *parent = NULL;
		if (streq(p, "/"))
			break;
		if (stat(p, &st) < 0) {
			int r = -errno;
			free(p);
			return r;
		}
		parent = xasprintf("%s/..", p);
		if (stat(parent, &pst) < 0) {
			int r = -errno;
			free(p);
			return r;
		}
		if (st.st_dev != pst.st_dev || st.st_ino == pst.st_ino)
			break;
		*strrchr(p, '/') = '\0';
		if (!*p) {
			free(p);
			p = xstrdup("/");
		}
	}
	*ret = p;
	return 0;
}

static unsigned long keep_flags(unsigned long f)
{
	unsigned long m = 0;
	if (f & ST_NOSUID) m |= MS_NOSUID;
	if (f & ST_NODEV) m |= MS_NODEV;
	if (f & ST_NOEXEC) m |= MS_NOEXEC;
	if (f & ST_NOATIME) m |= MS_NOATIME;
	if (f & ST_NODIRATIME) m |= MS_NODIRATIME;
	if (f & ST_RELATIME) m |= MS_RELATIME;
	return m;
}

/* Make bootdir writable. *ret_mp is set (caller frees) if it was remounted. */
static int make_writable(const char *bootdir, char **ret_mp, unsigned long *ret_flags)
{
	struct statvfs sv;
	_cleanup_free_ char *mp = NULL, *real = NULL;
	int r;

	*ret_mp = NULL;
	if (statvfs(bootdir, &sv) < 0)
		return log_error_errno(-errno, "statvfs %s", bootdir);
	if (!(sv.f_flag & ST_RDONLY))
		return 0;
	r = mount_point_of(bootdir, &mp);
	if (r < 0)
		return log_error_errno(r, "cannot find the mount point of %s", bootdir);
	real = realpath(bootdir, NULL);
	if (!real || !streq(real, mp))
		return log_error_errno(-EROFS, "%s is read-only and is not itself a mount point; "
				       "not remounting %s", bootdir, mp);
	*ret_flags = keep_flags(sv.f_flag);
	if (mount(NULL, mp, NULL, MS_REMOUNT | *ret_flags, NULL) < 0)
		return log_error_errno(-errno, "cannot remount %s read-write", mp);
	log_info("remounted %s read-write", mp);
	*ret_mp = TAKE_PTR(mp);
	return 0;
}

static int restore_ro(const char *mp, unsigned long flags)
{
	sync();
	if (mount(NULL, mp, NULL, MS_REMOUNT | MS_RDONLY | flags, NULL) < 0)
		return log_error_errno(-errno, "cannot remount %s read-only", mp);
	log_info("remounted %s read-only", mp);
	return 0;
}

static int remove_triggers(int bootfd)
{
	int dfd = openat(bootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;
	struct dirent *de;
	int r = 0;

	if (dfd < 0)
		return -errno;
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -errno;
	}
	while ((de = readdir(d)))
		if (fnmatch(TRIGGER_GLOB, de->d_name, 0) == 0 &&
		    unlinkat(dirfd(d), de->d_name, 0) < 0)
			r = log_error_errno(-errno, "cannot delete %s", de->d_name);
	closedir(d);
	return r;
}

int integrity_sign(const struct integrity_sign_options *o, struct integrity_sign_result *ret)
{
	struct integrity_sign_result res = {0};
	struct manifest_scan scan = {0};
	struct stage st = {0};
	_cleanup_close_ int bootfd = -1, stagefd = -1;
	_cleanup_free_ char *stagedir = NULL, *listing = NULL, *sig = NULL, *mp = NULL;
	_cleanup_free_ char *verify_home = NULL;
	char *hashes = NULL, *tree = NULL;
	size_t hashes_len, tree_len, listing_len, sig_len;
	unsigned long mflags = 0;
	const char *parent = o->staging_parent;
	int r;

	bootfd = open(o->bootdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (bootfd < 0)
		return log_error_errno(-errno, "cannot open boot directory %s", o->bootdir);

	/* 1. names */
	r = manifest_scan_dir(bootfd, &scan);
	if (r < 0) {
		log_error_errno(r, "cannot scan %s", o->bootdir);
		goto out;
	}
	if (scan.n_unsignable) {
		for (size_t i = 0; i < scan.n_unsignable; i++) {
			_cleanup_free_ char *e = manifest_escape_name(scan.unsignable[i]);
			log_error("%s: name has a control byte, '\\' or a byte >= 0x7f", e);
		}
		r = log_error_errno(-EINVAL, "refusing to sign %s: %zu unsignable name%s",
				    o->bootdir, scan.n_unsignable, scan.n_unsignable == 1 ? "" : "s");
		goto out;
	}

	/* 2. stage */
	if (!parent || !*parent)
		parent = getenv("TMPDIR");
	if (!parent || !*parent)
		parent = "/tmp";
	stagedir = xasprintf("%s/heads-boot-stage-XXXXXX", parent);
	if (!mkdtemp(stagedir)) {
		r = log_error_errno(-errno, "cannot create staging directory in %s", parent);
		free(stagedir);
		stagedir = NULL;
		goto out;
	}
	stagefd = open(stagedir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (stagefd < 0) {
		r = -errno;
		goto out;
	}
	r = stage_seed(&st, bootfd);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < o->n_extra; i++) {
		const struct integrity_file *x = &o->extra[i];
		if (strchr(x->name, '/') || fnmatch("kexec*.txt", x->name, 0) != 0 ||
		    fnmatch(TRIGGER_GLOB, x->name, 0) == 0) {
			r = log_error_errno(-EINVAL, "%s: not a kexec*.txt name", x->name);
			goto out;
		}
		char *copy = xmalloc(x->len + 1);
		memcpy(copy, x->data, x->len);
		copy[x->len] = '\0';
		stage_put(&st, x->name, copy, x->len);
	}
	r = manifest_generate(bootfd, &scan, &hashes, &hashes_len, &tree, &tree_len,
			      o->progress, o->userdata);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < scan.tree.n; i++)
		res.files += scan.type[i] == MANIFEST_REG;
	stage_put(&st, MANIFEST_HASHES_FILE, hashes, hashes_len);
	stage_put(&st, MANIFEST_TREE_FILE, tree, tree_len);

	/* 3. rollback */
	if (o->tpm) {
		const struct staged *old = NULL;
		char *rb;
		size_t rb_len;
		for (size_t i = 0; i < st.n && !o->new_counter; i++)
			if (streq(st.f[i].name, ROLLBACK_FILE))
				old = &st.f[i];
		r = rollback_advance(o->tpm, old ? old->data : NULL, old ? old->len : 0,
				     o->owner_auth, &rb, &rb_len, &res.rollback);
		if (r < 0)
			goto out;
		stage_put(&st, ROLLBACK_FILE, rb, rb_len);
	} else {
		res.rollback.state = ROLLBACK_DISABLED;
	}
	for (size_t i = 0; i < st.n; i++) {
		r = fs_write_atomic_at(stagefd, st.f[i].name, st.f[i].data, st.f[i].len, 0600);
		if (r < 0) {
			log_error_errno(r, "cannot stage %s", st.f[i].name);
			goto out;
		}
	}

	/* 4. sign and check */
	r = sig_listing(stagefd, "", &listing, &listing_len);
	if (r < 0) {
		log_error_errno(r, "cannot list the staged kexec*.txt");
		goto out;
	}
	r = sig_sign(&o->signer, listing, listing_len, &sig, &sig_len, res.fpr);
	if (r < 0)
		goto out;
	{
		struct sig_result vr;
		const char *home = o->signer.gnupghome;
		if (!home || !*home)
			home = getenv("GNUPGHOME");
		if (!home || !*home) {
			const char *h = getenv("HOME");
			verify_home = xasprintf("%s/.gnupg", h && *h ? h : "");
			home = verify_home;
		}
		r = sig_verify_detached(home, sig, sig_len, listing, listing_len, &vr);
		if (r == 0 && vr.state != SIG_VERIFIED)
			r = log_error_errno(-EBADMSG, "the new signature does not verify: %s (%s)",
					    sig_state_name(vr.state), vr.detail);
		if (r < 0)
			goto out;
	}

	/* 5. write /boot */
	r = make_writable(o->bootdir, &mp, &mflags);
	if (r < 0)
		goto out;
	res.remounted = mp != NULL;
	for (size_t i = 0; i < st.n; i++) {
		r = fs_write_atomic_at(bootfd, st.f[i].name, st.f[i].data, st.f[i].len, 0644);
		if (r < 0) {
			log_error_errno(r, "cannot write %s/%s", o->bootdir, st.f[i].name);
			break;
		}
	}
	if (r == 0) {
		r = fs_write_atomic_at(bootfd, SIG_FILE, sig, sig_len, 0644);
		if (r < 0)
			log_error_errno(r, "cannot write %s/%s", o->bootdir, SIG_FILE);
	}
	if (r == 0)
		r = remove_triggers(bootfd);
	if (mp) {
		int q = restore_ro(mp, mflags);
		if (r == 0)
			r = q;
	}
out:
	if (stagedir)
		boot_rm_rf(stagedir);
	stage_free(&st);
	manifest_scan_free(&scan);
	if (r == 0 && ret)
		*ret = res;
	else if (ret)
		ret->rollback = res.rollback;
	return r;
}
