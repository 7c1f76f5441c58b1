/* integrity.c - the full /boot check: every kexec*.txt read once, the
 * signature over those bytes, the signed set, the disk compared (see
 * integrity.h). */
#include "boot/integrity.h"
#include "hash.h"
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

void integrity_detail(struct integrity_report *r, const char *fmt, ...)
{
	va_list ap;
	if (r->manifest_detail[0])
		return; /* keep the first */
	va_start(ap, fmt);
	vsnprintf(r->manifest_detail, sizeof(r->manifest_detail), fmt, ap);
	va_end(ap);
}

static int cmp_file(const void *a, const void *b)
{
	return strcmp(((const struct boot_signed_file *)a)->name,
		      ((const struct boot_signed_file *)b)->name);
}

static void files_free(struct boot_signed_file *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(f[i].name);
		free(f[i].data);
	}
	free(f);
}

static void add_kexec_issue(struct integrity_report *rep, enum manifest_issue_kind k,
			    const char *name, const char *detail)
{
	_cleanup_free_ char *p = xasprintf("./%s", name);
	manifest_report_add(&rep->kexec_files, k, p, detail);
}

/* Every top-level kexec*.txt read once: regular files into *ret (sorted
 * by name); package triggers noted; anything else reported by name. */
static int read_kexec_files(int bootfd, struct integrity_report *rep,
			    struct boot_signed_file **ret, size_t *ret_n)
{
	struct boot_signed_file *f = NULL;
	size_t n = 0, cap = 0;
	DIR *d;
	struct dirent *de;
	int r = fs_opendir_at(bootfd, ".", &d);

	if (r < 0)
		return r;
	while ((errno = 0, de = readdir(d))) {
		_cleanup_close_ int fd = -1;
		struct stat st;
		char *buf;
		size_t len;

		if (fnmatch("kexec*.txt", de->d_name, 0) != 0)
			continue;
		if (fnmatch(MANIFEST_TRIGGER_GLOB, de->d_name, 0) == 0) {
			rep->triggers = xrealloc(rep->triggers,
						 (rep->n_triggers + 1) * sizeof(char *));
			rep->triggers[rep->n_triggers++] = manifest_escape_name(de->d_name);
			continue;
		}
		if (!manifest_name_signable(de->d_name)) {
			add_kexec_issue(rep, MANIFEST_NEW, de->d_name,
					"name not allowed in a signed /boot");
			continue;
		}
		fd = openat(dirfd(d), de->d_name,
			    O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
		if (fd < 0 || fstat(fd, &st) < 0) {
			int e = errno;
			if (e == ENOENT)
				continue; /* gone since readdir */
			add_kexec_issue(rep, e == ELOOP ? MANIFEST_NOT_REGULAR : MANIFEST_UNREADABLE,
					de->d_name, e == ELOOP ? "a symlink" : strerror(e));
			continue;
		}
		if (!S_ISREG(st.st_mode)) {
			add_kexec_issue(rep, MANIFEST_NOT_REGULAR, de->d_name,
					S_ISDIR(st.st_mode) ? "a directory" : "a special file");
			continue;
		}
		r = fs_read_fd(fd, MANIFEST_MAX_FILE, &buf, &len);
		if (r < 0) {
			add_kexec_issue(rep, MANIFEST_UNREADABLE, de->d_name,
					r == -EFBIG ? "larger than 32 MiB" : strerror(-r));
			r = 0;
			continue;
		}
		if (n >= SIG_MAX_SIGNED_FILES) {
			free(buf);
			r = log_error_errno(-E2BIG, "more than %d kexec*.txt files",
					    SIG_MAX_SIGNED_FILES);
			break;
		}
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			f = xrealloc(f, cap * sizeof(*f));
		}
		f[n++] = (struct boot_signed_file){xstrdup(de->d_name), buf, len};
	}
	if (!de && errno && r == 0)
		r = -errno;
	closedir(d);
	if (r < 0) {
		files_free(f, n);
		return r;
	}
	if (n)
		qsort(f, n, sizeof(*f), cmp_file);
	*ret = f;
	*ret_n = n;
	return 0;
}

/* The signature does not match the live listing: if it verifies over the
 * copy of the signed listing, name every kexec*.txt that differs. */
static void diff_signed_listing(int bootfd, const char *keyring, const char *sig,
				size_t sig_len, const struct boot_signed_file *f, size_t n,
				struct integrity_report *rep)
{
	_cleanup_free_ char *buf = NULL;
	struct manifest m = {0};
	struct sig_result sr;
	size_t len, line;
	bool *seen;

	if (read_beneath(bootfd, MANIFEST_SIG_LISTING_FILE, MANIFEST_MAX_FILE, &buf, &len) < 0)
		return;
	if (sig_verify_detached(keyring, sig, sig_len, buf, len, &sr) < 0 ||
	    sr.state != SIG_VERIFIED)
		return;
	if (manifest_parse_hashes(buf, len, &m, &line) < 0)
		return;
	seen = xcalloc(n + 1, sizeof(bool));
	for (size_t i = 0; i < m.n; i++) {
		const char *name = m.e[i].path;
		size_t k;
		uint8_t d[32];
		if (startswith(name, SIG_LEGACY_PREFIX))
			name += strlen(SIG_LEGACY_PREFIX);
		for (k = 0; k < n; k++)
			if (streq(f[k].name, name))
				break;
		if (k == n) {
			/* A non-regular one was already named. */
			_cleanup_free_ char *p = xasprintf("./%s", name);
			bool named = false;
			for (size_t j = 0; j < rep->kexec_files.n_issue; j++)
				named |= streq(rep->kexec_files.issue[j].path, p);
			if (!named)
				add_kexec_issue(rep, MANIFEST_MISSING, name, "signed, now absent");
			continue;
		}
		seen[k] = true;
		if (hash_sha256(f[k].data, f[k].len, d) < 0 || memcmp(d, m.e[i].sha256, 32) != 0)
			add_kexec_issue(rep, MANIFEST_CHANGED, name, "differs from the signed file");
	}
	for (size_t k = 0; k < n; k++)
		if (!seen[k])
			add_kexec_issue(rep, MANIFEST_NEW, f[k].name, "not covered by kexec.sig");
	free(seen);
	manifest_free(&m);
	rep->kexec_files_exact = true;
	if (rep->kexec_files.n_issue)
		snprintf(rep->sig.detail, sizeof(rep->sig.detail),
			 "the kexec*.txt files differ from what kexec.sig signed");
}

const struct boot_signed_file *integrity_need(struct integrity_report *rep,
					      const struct boot_signed *ps, const char *name,
					      enum integrity_manifest_state *st)
{
	const struct boot_signed_file *f = boot_signed_file(ps, name);
	if (!f) {
		integrity_detail(rep, "%s is missing", name);
		*st = INTEGRITY_MANIFEST_MISSING;
	}
	return f;
}

void integrity_finish_sig(int bootfd, const char *keyring, struct pending_sig *p,
			  const struct boot_signed *ps, struct integrity_report *rep)
{
	int r;

	if (!p->started)
		return;
	p->started = false;
	r = sig_verify_files_join(&p->job, &rep->sig);
	if (r < 0) {
		rep->sig.state = SIG_INVALID;
		snprintf(rep->sig.detail, sizeof(rep->sig.detail),
			 "signature could not be checked against keyring %s: %s", keyring,
			 strerror(-r));
	} else if (rep->sig.state != SIG_VERIFIED && rep->sig.state != SIG_MISSING) {
		diff_signed_listing(bootfd, keyring, p->sig, p->len, ps->files, ps->n_files, rep);
	}
}

/* Read and parse the kexec*.txt and start the signature check over them:
 * rep->kexec_files, rep->hashes/tree/links, rep->default_hashes (rep->sig
 * when there is no signature to check; else integrity_finish_sig()); *ps holds every
 * buffer read (signed or not: the caller decides). */
int integrity_read_signed(int bootfd, const char *keyring, struct integrity_report *rep,
			  struct boot_signed *ps, struct pending_sig *pending)
{
	const struct boot_signed_file *f;
	size_t line = 0;
	int r;

	r = read_kexec_files(bootfd, rep, &ps->files, &ps->n_files);
	if (r < 0)
		return r;
	if (sig_read_boot(bootfd, &pending->sig, &pending->len, &rep->sig) == 1) {
		r = sig_verify_files_start(keyring, pending->sig, pending->len, ps->files,
					   ps->n_files, &pending->job);
		if (r < 0) {
			rep->sig.state = SIG_INVALID;
			snprintf(rep->sig.detail, sizeof(rep->sig.detail),
				 "signature could not be checked against keyring %s: %s", keyring,
				 strerror(-r));
		} else {
			pending->started = true;
		}
	}

	rep->hashes = rep->tree = INTEGRITY_MANIFEST_OK;
	if ((f = integrity_need(rep, ps, MANIFEST_HASHES_FILE, &rep->hashes)) &&
	    manifest_parse_hashes(f->data, f->len, &ps->hashes, &line) < 0) {
		integrity_detail(rep, "%s:%zu: malformed line", MANIFEST_HASHES_FILE, line);
		rep->hashes = INTEGRITY_MANIFEST_MALFORMED;
	}
	if ((f = integrity_need(rep, ps, MANIFEST_TREE_FILE, &rep->tree)) &&
	    manifest_parse_tree(f->data, f->len, &ps->tree, &line) < 0) {
		integrity_detail(rep, "%s: entry %zu is malformed", MANIFEST_TREE_FILE, line);
		rep->tree = INTEGRITY_MANIFEST_MALFORMED;
	}
	rep->links = INTEGRITY_MANIFEST_MISSING;
	if ((f = boot_signed_file(ps, MANIFEST_LINKS_FILE))) {
		rep->links = INTEGRITY_MANIFEST_OK;
		ps->has_links = true;
		if (manifest_parse_links(f->data, f->len, &ps->links, &line) < 0) {
			integrity_detail(rep, "%s: entry %zu is malformed", MANIFEST_LINKS_FILE, line);
			rep->links = INTEGRITY_MANIFEST_MALFORMED;
		}
	}
	if ((f = boot_signed_file(ps, MANIFEST_DEFAULT_HASHES_FILE))) {
		rep->has_default_hashes = true;
		rep->default_hashes = INTEGRITY_MANIFEST_OK;
		if (manifest_parse_hashes(f->data, f->len, &ps->defaults, &line) < 0) {
			integrity_detail(rep, "%s:%zu: malformed line", MANIFEST_DEFAULT_HASHES_FILE, line);
			rep->default_hashes = INTEGRITY_MANIFEST_MALFORMED;
		} else {
			ps->has_defaults = true;
		}
	}
	return 0;
}

static const struct manifest_entry *hash_line(const struct manifest *m, const char *path)
{
	for (size_t i = 0; i < m->n; i++)
		if (streq(m->e[i].path, path))
			return &m->e[i];
	return NULL;
}

static void push_issue(struct manifest_report *r, enum manifest_issue_kind k, const char *path,
		       int err)
{
	r->issue = xrealloc(r->issue, (r->n_issue + 1) * sizeof(*r->issue));
	r->issue[r->n_issue++] = (struct manifest_issue){k, xstrdup(path), err, NULL};
}

/* kexec_default_hashes.txt: a line for a path kexec_hashes.txt also signs
 * is decided from that line and the check just made of it (the file is not
 * hashed a second time); only the others (a symlink path, on a /boot
 * signed by the shell version) are hashed here. */
static int check_defaults(int bootfd, const struct boot_signed *ps, struct integrity_report *rep)
{
	struct manifest rest = {.e = xcalloc(ps->defaults.n + 1, sizeof(*rest.e))};
	struct manifest_report more = {0};
	int r;

	for (size_t i = 0; i < ps->defaults.n; i++) {
		const struct manifest_entry *d = &ps->defaults.e[i];
		const struct manifest_entry *h = hash_line(&ps->hashes, d->path);
		if (!h) {
			rest.e[rest.n++] = *d; /* borrowed */
			continue;
		}
		rep->default_files.files_checked++;
		if (memcmp(h->sha256, d->sha256, 32) != 0) {
			push_issue(&rep->default_files, MANIFEST_CHANGED, d->path, 0);
			continue;
		}
		for (size_t k = 0; k < rep->files.n_issue; k++)
			if (streq(rep->files.issue[k].path, d->path)) {
				push_issue(&rep->default_files, rep->files.issue[k].kind, d->path,
					   rep->files.issue[k].err);
				break;
			}
	}
	r = manifest_verify(bootfd, &rest, NULL, &more, NULL, NULL);
	free(rest.e);
	if (r < 0)
		return r;
	for (size_t k = 0; k < more.n_issue; k++)
		push_issue(&rep->default_files, more.issue[k].kind, more.issue[k].path,
			   more.issue[k].err);
	rep->default_files.files_checked += more.files_checked;
	rep->default_files.bytes_hashed += more.bytes_hashed;
	manifest_report_free(&more);
	return 0;
}

static void check_rollback(const struct integrity_options *o, const struct boot_signed *ps,
			   struct integrity_report *rep, int *err)
{
	const struct boot_signed_file *rb = boot_signed_file(ps, ROLLBACK_FILE);
	struct rollback_result *res = &rep->rollback;
	uint8_t h[32];

	*err = 0;
	rep->rollback_required = o->require_rollback;
	if (o->rollback_disabled) {
		res->state = ROLLBACK_DISABLED;
		snprintf(res->detail, sizeof(res->detail), "rollback check disabled%s",
			 o->require_rollback ? ", but this machine requires its counter "
					       "(CONFIG_BOOT_REQ_ROLLBACK=y)" : "");
		return;
	}
	if (!rb) {
		res->state = ROLLBACK_NOT_USED;
		snprintf(res->detail, sizeof(res->detail), "no %s%s", ROLLBACK_FILE,
			 o->require_rollback ? ", but this machine has a rollback counter "
					       "(CONFIG_BOOT_REQ_ROLLBACK=y): an older /boot?" : "");
		return;
	}
	if (rollback_parse(rb->data, rb->len, &res->id, h) < 0) {
		res->state = ROLLBACK_MALFORMED;
		snprintf(res->detail, sizeof(res->detail), "%s is malformed", ROLLBACK_FILE);
		return;
	}
	if (o->rollback_counter && res->id != o->rollback_counter) {
		uint32_t id = res->id;
		res->state = ROLLBACK_MISMATCH;
		snprintf(res->detail, sizeof(res->detail),
			 "%s binds counter 0x%x, this machine's counter is 0x%x", ROLLBACK_FILE,
			 id, o->rollback_counter);
		return;
	}
	if (!o->tpm) {
		res->state = ROLLBACK_NO_TPM;
		snprintf(res->detail, sizeof(res->detail),
			 "%s binds a TPM counter but no TPM is available", ROLLBACK_FILE);
		return;
	}
	*err = rollback_verify(o->tpm, rb->data, rb->len, res);
}

int integrity_check(const struct integrity_options *o, struct integrity_report *ret)
{
	struct integrity_report rep = {0};
	struct boot_signed ps = {0};
	struct pending_sig pending = {0};
	_cleanup_close_ int bootfd = -1;
	int r;

	bootfd = open(o->bootdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (bootfd < 0)
		return log_error_errno(-errno, "cannot open boot directory %s", o->bootdir);

	r = integrity_read_signed(bootfd, o->keyring, &rep, &ps, &pending);
	if (r < 0)
		goto fail;
	r = manifest_verify_links(bootfd, rep.hashes == INTEGRITY_MANIFEST_OK ? &ps.hashes : NULL,
				  rep.tree == INTEGRITY_MANIFEST_OK ? &ps.tree : NULL,
				  ps.has_links ? MANIFEST_LINKS_CHECK : MANIFEST_LINKS_UNBOUND,
				  rep.links == INTEGRITY_MANIFEST_OK ? &ps.links : NULL, &rep.files,
				  o->progress, o->userdata);
	integrity_finish_sig(bootfd, o->keyring, &pending, &ps, &rep);
	if (r < 0)
		goto fail; /* logged by manifest_verify */
	if (ps.has_defaults) {
		r = check_defaults(bootfd, &ps, &rep);
		if (r < 0)
			goto fail;
	}
	check_rollback(o, &ps, &rep, &r);
	if (r < 0)
		goto fail;
	if (rep.sig.state == SIG_VERIFIED && rep.hashes == INTEGRITY_MANIFEST_OK &&
	    rep.tree == INTEGRITY_MANIFEST_OK) {
		rep.signed_set = xmalloc(sizeof(*rep.signed_set));
		*rep.signed_set = ps;
	} else {
		boot_signed_free(&ps);
	}
	free(pending.sig);
	*ret = rep;
	return 0;
fail:
	integrity_finish_sig(bootfd, o->keyring, &pending, &ps, &rep);
	free(pending.sig);
	boot_signed_free(&ps);
	integrity_report_free(&rep);
	return r;
}

bool integrity_ok(const struct integrity_report *r)
{
	if (r->sig.state != SIG_VERIFIED)
		return false;
	if (r->hashes != INTEGRITY_MANIFEST_OK || r->tree != INTEGRITY_MANIFEST_OK ||
	    r->links == INTEGRITY_MANIFEST_MALFORMED)
		return false;
	if (r->files.n_issue || r->kexec_files.n_issue)
		return false;
	if (r->has_default_hashes &&
	    (r->default_hashes != INTEGRITY_MANIFEST_OK || r->default_files.n_issue))
		return false;
	if (r->rollback_required)
		return r->rollback.state == ROLLBACK_OK;
	return r->rollback.state == ROLLBACK_OK || r->rollback.state == ROLLBACK_NOT_USED ||
	       r->rollback.state == ROLLBACK_DISABLED;
}

void integrity_report_free(struct integrity_report *r)
{
	if (!r)
		return;
	manifest_report_free(&r->files);
	manifest_report_free(&r->default_files);
	manifest_report_free(&r->kexec_files);
	for (size_t i = 0; i < r->n_triggers; i++)
		free(r->triggers[i]);
	free(r->triggers);
	r->triggers = NULL;
	r->n_triggers = 0;
	if (r->signed_set) {
		boot_signed_free(r->signed_set);
		free(r->signed_set);
		r->signed_set = NULL;
	}
}
