/* view.c - reading /boot through what kexec.sig vouches for (view.h). */
#include "boot/view.h"
#include "hash.h"
#include "fs.h"
#include "log.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define LOAD_CHUNK (4u << 20)

struct boot_view {
	char *dir;
	int dfd;
	const struct boot_signed *s;
	/* sorted pointers into s (bsearch by path) */
	const struct manifest_entry **hash;
	size_t n_hash;
	const char **tree;
	size_t n_tree;
	const struct manifest_entry **defaults;
	size_t n_defaults;
};

/* ---- sorted lookups ------------------------------------------------------ */

/* Signed paths are "./x"; normalise "x", "/x" and "./x" (and "./") alike. */
static char *canon(const char *p)
{
	while (p[0] == '.' && p[1] == '/')
		p += 2;
	while (*p == '/')
		p++;
	return xasprintf("./%s", p);
}

static int cmp_entry_ptr(const void *a, const void *b)
{
	return strcmp((*(const struct manifest_entry *const *)a)->path,
		      (*(const struct manifest_entry *const *)b)->path);
}

static int cmp_str_ptr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static const struct manifest_entry **index_manifest(const struct manifest *m, size_t *ret_n)
{
	const struct manifest_entry **v = xcalloc(m->n + 1, sizeof(*v));
	size_t n = 0;
	for (size_t i = 0; i < m->n; i++)
		v[n++] = &m->e[i];
	qsort(v, n, sizeof(*v), cmp_entry_ptr);
	*ret_n = n;
	return v;
}

static const struct manifest_entry *find_entry(const struct manifest_entry **v, size_t n,
					       const char *path)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(v[mid]->path, path);
		if (c == 0)
			return v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* First tree index whose path is >= key. */
static size_t tree_lower(const struct boot_view *v, const char *key)
{
	size_t lo = 0, hi = v->n_tree;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(v->tree[mid], key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool in_tree(const struct boot_view *v, const char *path)
{
	size_t i = tree_lower(v, path);
	return i < v->n_tree && streq(v->tree[i], path);
}

static const struct manifest_link *signed_link(const struct boot_view *v, const char *path)
{
	const struct manifest_links *l = &v->s->links;
	size_t lo = 0, hi = l->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(l->l[mid].path, path);
		if (c == 0)
			return &l->l[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* ---- open / free --------------------------------------------------------- */

int boot_view_open(const char *bootdir, const struct boot_signed *s, struct boot_view **ret)
{
	struct boot_view *v;
	int dfd = open(bootdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd < 0)
		return log_error_errno(-errno, "cannot open boot directory %s", bootdir);
	v = xcalloc(1, sizeof(*v));
	v->dir = xstrdup(bootdir);
	v->dfd = dfd;
	v->s = s;
	if (s) {
		v->hash = index_manifest(&s->hashes, &v->n_hash);
		v->defaults = index_manifest(&s->defaults, &v->n_defaults);
		v->tree = xcalloc(s->tree.n + 1, sizeof(char *));
		for (size_t i = 0; i < s->tree.n; i++)
			v->tree[i] = s->tree.path[i];
		v->n_tree = s->tree.n;
		qsort(v->tree, v->n_tree, sizeof(char *), cmp_str_ptr);
	}
	*ret = v;
	return 0;
}

void boot_view_free(struct boot_view *v)
{
	if (!v)
		return;
	if (v->dfd >= 0)
		close(v->dfd);
	free(v->dir);
	free(v->hash);
	free(v->defaults);
	free(v->tree);
	free(v);
}

bool boot_view_verified(const struct boot_view *v)
{
	return v->s != NULL;
}

const char *boot_view_dir(const struct boot_view *v)
{
	return v->dir;
}

/* ---- resolution ---------------------------------------------------------- */

struct comps {
	char **v;
	size_t n;
};

static void comps_push(struct comps *c, const char *s, size_t len)
{
	c->v = xrealloc(c->v, (c->n + 1) * sizeof(char *));
	c->v[c->n++] = xstrndup(s, len);
}

static void comps_free(struct comps *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i]);
	free(c->v);
	c->v = NULL;
	c->n = 0;
}

/* Components of p (empty and "." dropped), appended to c. */
static void split(struct comps *c, const char *p)
{
	while (*p) {
		const char *e = strchrnul(p, '/');
		size_t len = (size_t)(e - p);
		if (len && !(len == 1 && p[0] == '.'))
			comps_push(c, p, len);
		p = *e ? e + 1 : e;
	}
}

static char *join(const struct comps *c)
{
	size_t len = 3;
	for (size_t i = 0; i < c->n; i++)
		len += strlen(c->v[i]) + 1;
	char *s = xmalloc(len), *p = s;
	*p++ = '.';
	*p++ = '/';
	for (size_t i = 0; i < c->n; i++) {
		if (i)
			*p++ = '/';
		p = stpcpy(p, c->v[i]);
	}
	*p = '\0';
	return s;
}

/* 1 and *ret (target) if path ("./x", no symlink before its last component)
 * is a symlink; 0 if not; <0 error. */
static int link_of(struct boot_view *v, const char *path, char **ret)
{
	if (v->s) {
		const struct manifest_link *l = signed_link(v, path);
		if (l) {
			*ret = xstrdup(l->target);
			return 1;
		}
		return 0;
	}
	struct stat st;
	if (fstatat(v->dfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISLNK(st.st_mode))
		return 0;
	char buf[MANIFEST_MAX_PATH + 1];
	ssize_t n = readlinkat(v->dfd, path, buf, sizeof(buf));
	if (n < 0)
		return -errno;
	if ((size_t)n > MANIFEST_MAX_PATH || n == 0)
		return -ENAMETOOLONG;
	*ret = xstrndup(buf, (size_t)n);
	return 1;
}

static enum boot_view_type type_of(struct boot_view *v, const char *real);

/* Resolution without the final type check. *ret_unsigned_link is set when
 * a verified view met a symlink the signed table does not have. */
static int resolve(struct boot_view *v, const char *path, char **ret, bool *ret_unsigned_link)
{
	struct comps todo = {0}, cur = {0};
	size_t hops = 0, next = 0;
	int r = 0;

	if (ret_unsigned_link)
		*ret_unsigned_link = false;
	if (fs_has_dotdot(path))
		return -EXDEV; /* as written: never; inside a link target: resolved */
	split(&todo, path);
	while (next < todo.n) {
		char *c = todo.v[next++];
		if (streq(c, "..")) {
			if (cur.n == 0) {
				r = -EXDEV;
				break;
			}
			free(cur.v[--cur.n]);
			continue;
		}
		comps_push(&cur, c, strlen(c));
		_cleanup_free_ char *p = join(&cur), *target = NULL;
		r = link_of(v, p, &target);
		if (r < 0)
			break;
		if (r == 0 && v->s && (!in_tree(v, p) || (type_of(v, p) == BOOT_VIEW_OTHER))) {
			/* not signed at all, or signed as neither a file nor a
			 * directory (a symlink of a /boot signed without
			 * kexec_links.txt): is it a link on disk? (the shell
			 * version's default hashes may cover it) */
			struct stat st;
			if (ret_unsigned_link && fstatat(v->dfd, p, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISLNK(st.st_mode))
				*ret_unsigned_link = true;
			r = -ENOENT;
			break;
		}
		if (r == 0 && !v->s && next < todo.n) {
			/* unverified: an intermediate component must be a directory */
			struct stat st;
			if (fstatat(v->dfd, p, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode)) {
				r = -ENOENT;
				break;
			}
		}
		if (r == 0)
			continue;
		r = 0;
		if (++hops > BOOT_VIEW_MAX_LINKS) {
			r = -ELOOP;
			break;
		}
		free(cur.v[--cur.n]);
		if (target[0] == '/')
			comps_free(&cur);
		/* splice the target's components in front of what is left */
		struct comps t = {0};
		split(&t, target);
		size_t left = todo.n - next;
		char **nv = xcalloc(t.n + left + 1, sizeof(char *));
		for (size_t i = 0; i < t.n; i++)
			nv[i] = t.v[i];
		for (size_t i = 0; i < left; i++)
			nv[t.n + i] = todo.v[next + i];
		for (size_t i = 0; i < next; i++)
			free(todo.v[i]);
		free(todo.v);
		free(t.v);
		todo.v = nv;
		todo.n = t.n + left;
		next = 0;
	}
	if (r == 0)
		*ret = join(&cur);
	comps_free(&todo);
	comps_free(&cur);
	return r;
}

/* Verified: a file is a hashed path; a directory is the root or a tree
 * path that has children in the tree (an empty signed directory has
 * nothing to offer anyway); other tree paths (links, fifos) are OTHER. */
static enum boot_view_type type_of(struct boot_view *v, const char *real)
{
	if (v->s) {
		if (streq(real, "./"))
			return BOOT_VIEW_DIR;
		if (find_entry(v->hash, v->n_hash, real))
			return BOOT_VIEW_FILE;
		if (!in_tree(v, real))
			return BOOT_VIEW_NONE;
		_cleanup_free_ char *prefix = xasprintf("%s/", real);
		size_t i = tree_lower(v, prefix);
		if (i < v->n_tree && startswith(v->tree[i], prefix))
			return BOOT_VIEW_DIR;
		return BOOT_VIEW_OTHER;
	}
	struct stat st;
	if (fstatat(v->dfd, real, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return BOOT_VIEW_NONE;
	return S_ISREG(st.st_mode) ? BOOT_VIEW_FILE : S_ISDIR(st.st_mode) ? BOOT_VIEW_DIR :
	       S_ISLNK(st.st_mode) ? BOOT_VIEW_LINK : BOOT_VIEW_OTHER;
}

int boot_view_resolve(struct boot_view *v, const char *path, char **ret)
{
	bool unsigned_link;
	_cleanup_free_ char *real = NULL;
	int r = resolve(v, path, &real, &unsigned_link);
	if (r == -ENOENT && unsigned_link)
		return -EPERM;
	if (r < 0)
		return r;
	if (type_of(v, real) == BOOT_VIEW_NONE)
		return -ENOENT;
	*ret = TAKE_PTR(real);
	return 0;
}

enum boot_view_type boot_view_stat(struct boot_view *v, const char *path)
{
	_cleanup_free_ char *real = NULL;
	if (resolve(v, path, &real, NULL) < 0)
		return BOOT_VIEW_NONE;
	return type_of(v, real);
}

/* ---- listing ------------------------------------------------------------- */

static int cmp_dirent(const void *a, const void *b)
{
	return strcmp(((const struct boot_view_dirent *)a)->name,
		      ((const struct boot_view_dirent *)b)->name);
}

void boot_view_dirents_free(struct boot_view_dirent *d, size_t n)
{
	for (size_t i = 0; d && i < n; i++)
		free(d[i].name);
	free(d);
}

static bool hidden_top(const char *real, const char *name)
{
	return streq(real, "./") && startswith(name, "kexec");
}

static int list_signed(struct boot_view *v, const char *real, struct boot_view_dirent **ret,
		       size_t *ret_n)
{
	_cleanup_free_ char *prefix = streq(real, "./") ? xstrdup("./") : xasprintf("%s/", real);
	size_t pl = strlen(prefix), n = 0;
	struct boot_view_dirent *d = NULL;

	for (size_t i = tree_lower(v, prefix); i < v->n_tree && !strncmp(v->tree[i], prefix, pl); i++) {
		const char *name = v->tree[i] + pl;
		if (!*name || strchr(name, '/') || hidden_top(real, name))
			continue;
		if (n >= BOOT_VIEW_MAX_LIST) {
			boot_view_dirents_free(d, n);
			return log_error_errno(-E2BIG, "%s: more than %d entries", real,
					       BOOT_VIEW_MAX_LIST);
		}
		enum boot_view_type t = signed_link(v, v->tree[i]) ? BOOT_VIEW_LINK :
					type_of(v, v->tree[i]);
		d = xrealloc(d, (n + 1) * sizeof(*d));
		d[n++] = (struct boot_view_dirent){xstrdup(name), t == BOOT_VIEW_NONE ? BOOT_VIEW_OTHER : t};
	}
	*ret = d;
	*ret_n = n;
	return 0;
}

static int open_nofollow(struct boot_view *v, const char *real, int flags)
{
	struct open_how how = {
		.flags = (unsigned long long)(flags | O_CLOEXEC | O_NOFOLLOW),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	const char *rel = streq(real, "./") ? "." : real;
	long fd = syscall(SYS_openat2, v->dfd, rel, &how, sizeof(how));
	return fd < 0 ? -errno : (int)fd;
}

static int list_fs(struct boot_view *v, const char *real, struct boot_view_dirent **ret,
		   size_t *ret_n)
{
	int fd = open_nofollow(v, real, O_RDONLY | O_DIRECTORY);
	struct boot_view_dirent *d = NULL;
	struct dirent *de;
	size_t n = 0;
	DIR *dir;
	int r = 0;

	if (fd < 0)
		return fd;
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(dir))) {
		const char *name = de->d_name;
		struct stat st;
		if (streq(name, ".") || streq(name, "..") || hidden_top(real, name))
			continue;
		if (n >= BOOT_VIEW_MAX_LIST) {
			r = log_error_errno(-E2BIG, "%s: more than %d entries", real, BOOT_VIEW_MAX_LIST);
			break;
		}
		enum boot_view_type t = BOOT_VIEW_OTHER;
		if (fstatat(dirfd(dir), name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			t = S_ISREG(st.st_mode) ? BOOT_VIEW_FILE : S_ISDIR(st.st_mode) ? BOOT_VIEW_DIR :
			    S_ISLNK(st.st_mode) ? BOOT_VIEW_LINK : BOOT_VIEW_OTHER;
		d = xrealloc(d, (n + 1) * sizeof(*d));
		d[n++] = (struct boot_view_dirent){xstrdup(name), t};
	}
	closedir(dir);
	if (r < 0) {
		boot_view_dirents_free(d, n);
		return r;
	}
	*ret = d;
	*ret_n = n;
	return 0;
}

int boot_view_list(struct boot_view *v, const char *dir, struct boot_view_dirent **ret,
		   size_t *ret_n)
{
	_cleanup_free_ char *real = NULL;
	int r = resolve(v, dir, &real, NULL);

	if (r < 0)
		return r;
	if (type_of(v, real) != BOOT_VIEW_DIR)
		return -ENOTDIR;
	r = v->s ? list_signed(v, real, ret, ret_n) : list_fs(v, real, ret, ret_n);
	if (r == 0 && *ret_n)
		qsort(*ret, *ret_n, sizeof(**ret), cmp_dirent);
	return r;
}

/* ---- reading ------------------------------------------------------------- */

/* What a read of path must match: the resolved path and its signed digest.
 * Unverified views: *ret_expected NULL. The shell-signed fallback (a link
 * not in any signed table, but a kexec_default_hashes.txt line for exactly
 * path) sets *ret_follow: the file is then opened through its links
 * (beneath the boot directory only). */
static int target_of(struct boot_view *v, const char *path, char **ret_real,
		     const uint8_t **ret_expected, bool *ret_follow)
{
	bool unsigned_link = false;
	_cleanup_free_ char *real = NULL;
	int r = resolve(v, path, &real, &unsigned_link);

	*ret_expected = NULL;
	*ret_follow = false;
	if (r == -ENOENT && unsigned_link && v->s && !v->s->has_links) {
		_cleanup_free_ char *c = canon(path);
		const struct manifest_entry *d = find_entry(v->defaults, v->n_defaults, c);
		if (d) {
			*ret_expected = d->sha256;
			*ret_follow = true;
			*ret_real = TAKE_PTR(c);
			return 0;
		}
	}
	if (r == -ENOENT && unsigned_link)
		return log_error_errno(-EPERM, "%s%s: a symlink that the signature does not cover",
				       v->dir, path[0] == '/' ? path : path + 1);
	if (r == -ENOENT && v->s && boot_view_stat(v, path) == BOOT_VIEW_NONE) {
		/* present on disk but not signed, or absent: say which */
		_cleanup_free_ char *c = canon(path);
		struct stat st;
		if (fstatat(v->dfd, c, &st, AT_SYMLINK_NOFOLLOW) == 0)
			return log_error_errno(-EPERM, "%s/%s: not covered by the signed "
					       "kexec_hashes.txt", v->dir, c + 2);
	}
	if (r < 0)
		return log_error_errno(r, "%s/%s: cannot be resolved", v->dir,
				       path[0] == '/' ? path + 1 : path);
	if (v->s) {
		const struct manifest_entry *e = find_entry(v->hash, v->n_hash, real);
		if (!e)
			return log_error_errno(type_of(v, real) == BOOT_VIEW_DIR ? -EISDIR : -EPERM,
					       "%s/%s: not a signed regular file", v->dir, real + 2);
		*ret_expected = e->sha256;
	}
	*ret_real = TAKE_PTR(real);
	return 0;
}

static int open_target(struct boot_view *v, const char *real, bool follow, uint64_t *ret_size)
{
	int fd;
	struct stat st;

	if (follow)
		fd = fs_open_beneath(v->dfd, real, O_RDONLY | O_NONBLOCK, 0);
	else
		fd = open_nofollow(v, real, O_RDONLY | O_NONBLOCK);
	if (fd < 0)
		return log_error_errno(fd, "%s/%s: cannot open%s", v->dir, real + 2,
				       fd == -ELOOP ? " (a symlink)" : "");
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return log_error_errno(-EINVAL, "%s/%s: not a regular file", v->dir, real + 2);
	}
	*ret_size = (uint64_t)st.st_size;
	return fd;
}

static int digest_check(struct boot_view *v, const char *real, const uint8_t *expected,
			const uint8_t got[32])
{
	if (expected && memcmp(expected, got, 32) != 0)
		return log_error_errno(-EBADMSG, "%s/%s: content does not match its signed hash",
				       v->dir, real + 2);
	return 0;
}

int boot_view_read(struct boot_view *v, const char *path, size_t max, char **ret,
		   size_t *ret_len)
{
	_cleanup_free_ char *real = NULL, *buf = NULL;
	_cleanup_close_ int fd = -1;
	const uint8_t *expected;
	uint8_t md[32];
	uint64_t size;
	size_t len;
	bool follow;
	int r;

	r = target_of(v, path, &real, &expected, &follow);
	if (r < 0)
		return r;
	fd = open_target(v, real, follow, &size);
	if (fd < 0)
		return fd;
	r = fs_read_fd(fd, max, &buf, &len);
	if (r == -EFBIG)
		return log_error_errno(r, "%s/%s: larger than %zu bytes", v->dir, real + 2, max);
	if (r < 0)
		return log_error_errno(r, "%s/%s: cannot read", v->dir, real + 2);
	if (hash_sha256(buf, len, md) < 0)
		return -EIO;
	r = digest_check(v, real, expected, md);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(buf);
	*ret_len = len;
	return 0;
}

void boot_blob_free(struct boot_blob *b)
{
	if (!b)
		return;
	free(b->path);
	free(b->real);
	if (b->fd >= 0)
		close(b->fd);
	memset(b, 0, sizeof(*b));
	b->fd = -1;
}

/* Copy fd into a new memfd of size bytes (read straight into its mapping)
 * and hash what was read. The file must end at size. */
static int copy_to_memfd(int fd, const char *name, uint64_t size, uint8_t md[32])
{
	_cleanup_close_ int mfd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	_cleanup_hash_ struct hash_ctx *ctx = NULL;
	uint8_t *map = NULL;
	uint64_t done = 0;
	int r = 0;
	char extra;

	if (mfd < 0)
		return -errno;
	if (size && ftruncate(mfd, (off_t)size) < 0)
		return -errno;
	if (size) {
		map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
		if (map == MAP_FAILED)
			return -errno;
	}
	r = hash_new(HASH_SHA256, &ctx);
	while (r == 0 && done < size) {
		size_t want = size - done > LOAD_CHUNK ? LOAD_CHUNK : (size_t)(size - done);
		long n = read_full(fd, map + done, want);
		if (n < 0)
			r = (int)n;
		else if ((size_t)n < want)
			r = -EIO; /* shrank while being read */
		else
			r = hash_update(ctx, map + done, (size_t)n);
		done += (uint64_t)(n > 0 ? n : 0);
	}
	if (r == 0 && read(fd, &extra, 1) != 0)
		r = -EIO; /* grew while being read */
	if (r == 0)
		r = hash_final(ctx, md);
	if (map)
		munmap(map, size);
	if (r < 0)
		return r;
	if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
		return -errno;
	return TAKE_FD(mfd);
}

int boot_view_load(struct boot_view *v, const char *path, struct boot_blob *ret)
{
	struct boot_blob b = {.fd = -1};
	_cleanup_close_ int fd = -1;
	const uint8_t *expected;
	bool follow;
	int r;

	r = target_of(v, path, &b.real, &expected, &follow);
	if (r < 0)
		goto fail;
	fd = open_target(v, b.real, follow, &b.size);
	if (fd < 0) {
		r = fd;
		goto fail;
	}
	if (b.size > BOOT_VIEW_MAX_LOAD) {
		r = log_error_errno(-EFBIG, "%s/%s: larger than %llu bytes", v->dir, b.real + 2,
				    BOOT_VIEW_MAX_LOAD);
		goto fail;
	}
	const char *base = strrchr(b.real, '/');
	b.fd = copy_to_memfd(fd, base ? base + 1 : b.real, b.size, b.sha256);
	if (b.fd < 0) {
		r = log_error_errno(b.fd, "%s/%s: cannot read%s", v->dir, b.real + 2,
				    b.fd == -EIO ? " (changed while being read?)" : "");
		b.fd = -1;
		goto fail;
	}
	r = digest_check(v, b.real, expected, b.sha256);
	if (r < 0)
		goto fail;
	b.verified = expected != NULL;
	b.path = xstrdup(path);
	*ret = b;
	return 0;
fail:
	boot_blob_free(&b);
	return r;
}

int boot_view_signed_digest(struct boot_view *v, const char *path, uint8_t ret[32],
			    char **ret_real)
{
	_cleanup_free_ char *real = NULL;
	const uint8_t *expected;
	bool follow;
	int r;

	if (!v->s)
		return -EPERM;
	r = target_of(v, path, &real, &expected, &follow);
	if (r < 0)
		return r;
	memcpy(ret, expected, 32);
	if (ret_real)
		*ret_real = TAKE_PTR(real);
	return 0;
}
