/* integrity_sign.c - the atomic signed update of /boot: staged in memory,
 * KEEP or REGENERATE, written atomically with a read-only remount around
 * it (see integrity.h). */
#include "boot/integrity.h"
#include "boot/integrity-internal.h"
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

#include <openssl/evp.h>

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
	DIR *d;
	struct dirent *de;
	int r = fs_opendir_at(bootfd, ".", &d);

	if (r < 0)
		return r;
	while ((de = readdir(d)))
		if (fnmatch(TRIGGER_GLOB, de->d_name, 0) == 0 &&
		    unlinkat(dirfd(d), de->d_name, 0) < 0)
			r = log_error_errno(-errno, "cannot delete %s", de->d_name);
	closedir(d);
	return r;
}

static bool is_manifest_name(const char *n)
{
	return streq(n, MANIFEST_HASHES_FILE) || streq(n, MANIFEST_TREE_FILE) ||
	       streq(n, MANIFEST_LINKS_FILE) || streq(n, ROLLBACK_FILE);
}

static void stage_copy(struct stage *st, const char *name, const char *data, size_t len)
{
	char *copy = xmalloc(len + 1);
	memcpy(copy, data, len);
	copy[len] = '\0';
	stage_put(st, name, copy, len);
}

static void stage_drop(struct stage *st, const char *name)
{
	for (size_t i = 0; i < st->n; i++)
		if (streq(st->f[i].name, name)) {
			free(st->f[i].name);
			free(st->f[i].data);
			st->f[i] = st->f[--st->n];
			return;
		}
}

static int cmp_staged(const void *a, const void *b)
{
	return strcmp(((const struct staged *)a)->name, ((const struct staged *)b)->name);
}

/* KEEP: /boot must verify; its signed bytes, unchanged. */
static int seed_keep(const struct integrity_sign_options *o, struct stage *st,
		     struct integrity_sign_result *res)
{
	struct integrity_report rep = {0};
	struct integrity_options io = {
		.bootdir = o->bootdir,
		.keyring = o->keyring,
		.tpm = o->tpm,
		.rollback_disabled = !o->tpm,
		.require_rollback = o->require_rollback,
		.rollback_counter = o->rollback_counter,
		.progress = o->progress,
		.userdata = o->userdata,
	};
	int r;

	if (!o->keyring)
		return log_error_errno(-EINVAL, "signing %s without regenerating its manifests "
				       "needs the keyring to check it against", o->bootdir);
	r = integrity_check(&io, &rep);
	if (r < 0)
		return r;
	/* A caller replacing kexec_default_hashes.txt (a new default entry)
	 * does not need the old default's files to match. */
	for (size_t i = 0; i < o->n_extra; i++)
		if (streq(o->extra[i].name, MANIFEST_DEFAULT_HASHES_FILE) &&
		    rep.default_hashes == INTEGRITY_MANIFEST_OK) {
			rep.has_default_hashes = false;
			manifest_report_free(&rep.default_files);
		}
	if (!integrity_ok(&rep) || !rep.signed_set) {
		const struct manifest_issue *first =
			rep.kexec_files.n_issue ? &rep.kexec_files.issue[0] :
			rep.files.n_issue ? &rep.files.issue[0] :
			rep.default_files.n_issue ? &rep.default_files.issue[0] : NULL;
		_cleanup_free_ char *e = first ? manifest_escape_name(first->path) : NULL;
		log_error("refusing to sign %s: it does not verify against %s (signature %s, "
			  "%zu file issue(s), counter %s); only \"Update checksums and sign\" may "
			  "sign a changed /boot, after its report was shown", o->bootdir, o->keyring,
			  sig_state_name(rep.sig.state),
			  rep.files.n_issue + rep.kexec_files.n_issue + rep.default_files.n_issue,
			  rollback_state_name(rep.rollback.state));
		if (e)
			log_error("  first: %s: %s", manifest_issue_kind_name(first->kind), e);
		integrity_report_free(&rep);
		return -EBADMSG;
	}
	for (size_t i = 0; i < rep.signed_set->n_files; i++)
		stage_copy(st, rep.signed_set->files[i].name, rep.signed_set->files[i].data,
			   rep.signed_set->files[i].len);
	res->files = rep.files.files_checked;
	integrity_report_free(&rep);
	return 0;
}

/* REGENERATE: the kexec*.txt the current signature covers (not the
 * manifests, regenerated); nothing else from disk. *old_rb: the rollback
 * file on disk (signed or not), only as the counter to advance. */
static int seed_regenerate(const struct integrity_sign_options *o, int bootfd,
			   const char *keyring, struct stage *st, char **old_rb, size_t *old_rb_len)
{
	struct integrity_report rep = {0};
	struct boot_signed ps = {0};
	struct pending_sig pending = {0};
	const struct boot_signed_file *rb;
	bool verified;
	int r;

	r = integrity_read_signed(bootfd, keyring, &rep, &ps, &pending);
	integrity_finish_sig(bootfd, keyring, &pending, &ps, &rep);
	free(pending.sig);
	if (r < 0)
		goto out;
	verified = rep.sig.state == SIG_VERIFIED;
	if (!verified && ps.n_files && !rep.kexec_files_exact)
		log_warn("%s: kexec.sig does not verify against %s (%s): no existing kexec*.txt "
			 "is carried over", o->bootdir, keyring, sig_state_name(rep.sig.state));
	for (size_t i = 0; i < ps.n_files; i++) {
		const struct boot_signed_file *f = &ps.files[i];
		/* kexec.sig verified over kexec.sig.listing: the files that
		 * still hash to their line there are signed bytes too. */
		bool listed = false;
		if (!verified && rep.kexec_files_exact) {
			_cleanup_free_ char *p = xasprintf("./%s", f->name);
			listed = true;
			for (size_t k = 0; k < rep.kexec_files.n_issue; k++)
				if (streq(rep.kexec_files.issue[k].path, p))
					listed = false;
		}
		if (is_manifest_name(f->name))
			continue;
		if (verified || listed)
			stage_copy(st, f->name, f->data, f->len);
		else
			log_warn("%s/%s: not covered by a verified signature: NOT signed (it stays "
				 "on disk and will be reported until removed)", o->bootdir, f->name);
	}
	for (size_t i = 0; i < rep.kexec_files.n_issue; i++) {
		_cleanup_free_ char *e = manifest_escape_name(rep.kexec_files.issue[i].path);
		if (rep.kexec_files.issue[i].kind != MANIFEST_MISSING)
			log_warn("%s: %s: NOT signed", e,
				 rep.kexec_files.issue[i].detail ? rep.kexec_files.issue[i].detail
								 : "not covered by kexec.sig");
	}
	if ((verified || rep.kexec_files_exact) && (rb = boot_signed_file(&ps, ROLLBACK_FILE))) {
		bool changed = false;
		for (size_t k = 0; k < rep.kexec_files.n_issue; k++)
			changed |= streq(rep.kexec_files.issue[k].path, "./" ROLLBACK_FILE);
		if (!changed)
			stage_copy(st, ROLLBACK_FILE, rb->data, rb->len);
	}
	if ((rb = boot_signed_file(&ps, ROLLBACK_FILE))) {
		*old_rb = xmalloc(rb->len + 1);
		memcpy(*old_rb, rb->data, rb->len + 1);
		*old_rb_len = rb->len;
	}
out:
	boot_signed_free(&ps);
	integrity_report_free(&rep);
	return r;
}

int integrity_sign(const struct integrity_sign_options *o, struct integrity_sign_result *ret)
{
	struct integrity_sign_result res = {0};
	struct manifest_scan scan = {0};
	struct stage st = {0};
	_cleanup_close_ int bootfd = -1;
	_cleanup_free_ char *listing = NULL, *sig = NULL, *mp = NULL, *old_rb = NULL;
	_cleanup_free_ char *signer_home = NULL;
	struct boot_signed_file *bufs = NULL;
	char **old_defaults = NULL;
	size_t listing_len, sig_len, old_rb_len = 0, n_old_defaults = 0;
	unsigned long mflags = 0;
	uint32_t rb_id = 0;
	uint64_t rb_next = 0;
	const char *keyring = o->keyring;
	bool regen = o->mode == INTEGRITY_SIGN_REGENERATE;
	int r;

	bootfd = open(o->bootdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (bootfd < 0)
		return log_error_errno(-errno, "cannot open boot directory %s", o->bootdir);
	{
		const char *home = o->signer.gnupghome;
		if (!home || !*home)
			home = getenv("GNUPGHOME");
		if (!home || !*home) {
			const char *h = getenv("HOME");
			signer_home = xasprintf("%s/.gnupg", h && *h ? h : "");
		} else {
			signer_home = xstrdup(home);
		}
	}
	if (!keyring && regen)
		keyring = signer_home;

	/* 0. the caller's files */
	for (size_t i = 0; i < o->n_extra + o->n_remove; i++) {
		const char *name = i < o->n_extra ? o->extra[i].name : o->remove[i - o->n_extra];
		if (strchr(name, '/') || fnmatch("kexec*.txt", name, 0) != 0 ||
		    fnmatch(TRIGGER_GLOB, name, 0) == 0 || !manifest_name_signable(name) ||
		    (!regen && is_manifest_name(name))) {
			r = log_error_errno(-EINVAL, "%s: not a kexec*.txt name %s", name,
					    i < o->n_extra ? "this operation may write"
							   : "this operation may remove");
			goto out;
		}
	}

	/* 1. what is signed now */
	if (regen) {
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
					    o->bootdir, scan.n_unsignable,
					    scan.n_unsignable == 1 ? "" : "s");
			goto out;
		}
		r = seed_regenerate(o, bootfd, keyring, &st, &old_rb, &old_rb_len);
	} else {
		r = seed_keep(o, &st, &res);
	}
	if (r < 0)
		goto out;

	/* 2. stage: the caller's files (a new default replaces any other one:
	 * there is one default), fresh manifests (REGENERATE) */
	for (size_t i = 0; i < o->n_remove; i++)
		stage_drop(&st, o->remove[i]);
	for (size_t i = 0; i < o->n_extra; i++) {
		if (fnmatch(DEFAULT_GLOB, o->extra[i].name, 0) != 0)
			continue;
		for (size_t k = 0; k < st.n; k++)
			if (fnmatch(DEFAULT_GLOB, st.f[k].name, 0) == 0 &&
			    !streq(st.f[k].name, o->extra[i].name)) {
				old_defaults = xrealloc(old_defaults,
							(n_old_defaults + 1) * sizeof(char *));
				old_defaults[n_old_defaults++] = xstrdup(st.f[k].name);
			}
	}
	for (size_t i = 0; i < n_old_defaults; i++)
		stage_drop(&st, old_defaults[i]);
	for (size_t i = 0; i < o->n_extra; i++)
		stage_copy(&st, o->extra[i].name, o->extra[i].data, o->extra[i].len);
	if (regen) {
		char *hashes = NULL, *tree = NULL, *links = NULL;
		size_t hashes_len, tree_len, links_len;
		r = manifest_generate(bootfd, &scan, &hashes, &hashes_len, &tree, &tree_len,
				      o->progress, o->userdata);
		if (r < 0)
			goto out;
		r = manifest_generate_links(bootfd, &scan, &links, &links_len);
		if (r < 0) {
			free(hashes);
			free(tree);
			goto out;
		}
		for (size_t i = 0; i < scan.tree.n; i++)
			res.files += scan.type[i] == MANIFEST_REG;
		stage_put(&st, MANIFEST_HASHES_FILE, hashes, hashes_len);
		stage_put(&st, MANIFEST_TREE_FILE, tree, tree_len);
		stage_put(&st, MANIFEST_LINKS_FILE, links, links_len);
	}

	/* 3. rollback */
	if (o->tpm) {
		const struct staged *old = NULL;
		char *rb;
		size_t rb_len;
		for (size_t i = 0; i < st.n && !o->new_counter; i++)
			if (streq(st.f[i].name, ROLLBACK_FILE))
				old = &st.f[i];
		/* the file for the counter's next value: the counter itself
		 * moves only once the signature is made and checked (below) */
		r = rollback_prepare(o->tpm, old ? old->data : o->new_counter ? NULL : old_rb,
				     old ? old->len : o->new_counter ? 0 : old_rb_len,
				     o->owner_auth, &rb_id, &rb_next, &rb, &rb_len, &res.rollback);
		if (r < 0)
			goto out;
		stage_put(&st, ROLLBACK_FILE, rb, rb_len);
	} else {
		res.rollback.state = ROLLBACK_DISABLED;
	}

	/* 4. sign the listing of the staged buffers and check it */
	if (st.n)
		qsort(st.f, st.n, sizeof(*st.f), cmp_staged);
	bufs = xcalloc(st.n + 1, sizeof(*bufs));
	for (size_t i = 0; i < st.n; i++)
		bufs[i] = (struct boot_signed_file){st.f[i].name, st.f[i].data, st.f[i].len};
	if (st.n == 0) {
		r = log_error_errno(-ENOENT, "nothing to sign in %s", o->bootdir);
		goto out;
	}
	sig_listing_bufs(bufs, st.n, "", &listing, &listing_len);
	r = sig_sign(&o->signer, listing, listing_len, &sig, &sig_len, res.fpr);
	if (r < 0)
		goto out;
	{
		struct sig_result vr;
		r = sig_verify_detached(signer_home, sig, sig_len, listing, listing_len, &vr);
		if (r == 0 && vr.state != SIG_VERIFIED)
			r = log_error_errno(-EBADMSG, "the new signature does not verify: %s (%s)",
					    sig_state_name(vr.state), vr.detail);
		if (r < 0)
			goto out;
	}
	if (o->tpm && (r = rollback_commit(o->tpm, rb_id, rb_next, o->owner_auth,
					   &res.rollback)) < 0)
		goto out;

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
	for (size_t i = 0; r == 0 && i < o->n_remove + n_old_defaults; i++) {
		const char *name = i < o->n_remove ? o->remove[i] : old_defaults[i - o->n_remove];
		if (unlinkat(bootfd, name, 0) < 0 && errno != ENOENT)
			r = log_error_errno(-errno, "cannot delete %s/%s", o->bootdir, name);
	}
	if (r == 0) {
		r = fs_write_atomic_at(bootfd, MANIFEST_SIG_LISTING_FILE, listing, listing_len, 0644);
		if (r < 0)
			log_error_errno(r, "cannot write %s/%s", o->bootdir,
					MANIFEST_SIG_LISTING_FILE);
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
	free(bufs);
	for (size_t i = 0; i < n_old_defaults; i++)
		free(old_defaults[i]);
	free(old_defaults);
	stage_free(&st);
	manifest_scan_free(&scan);
	if (r == 0 && ret)
		*ret = res;
	else if (ret)
		ret->rollback = res.rollback;
	return r;
}

int integrity_boot_writable(const char *bootdir, char **ret_mp, unsigned long *ret_flags)
{
	return make_writable(bootdir, ret_mp, ret_flags);
}

int integrity_boot_restore_ro(const char *mp, unsigned long flags)
{
	return mp ? restore_ro(mp, flags) : 0;
}
