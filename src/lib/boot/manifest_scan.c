/* manifest_scan.c - listing /boot for a manifest: every entry beneath the
 * root, symlinks never followed, unsignable names refused (see manifest.h). */
#include "boot/manifest.h"
#include "boot/manifest-internal.h"
#include "codec.h"
#include "log.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <stdatomic.h>
#include <stdio.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

#include <openssl/evp.h>

static int cmp_idx_path(const void *a, const void *b, void *arg)
{
	char **p = arg;
	return strcmp(p[*(const size_t *)a], p[*(const size_t *)b]);
}


/* ---- scanning --------------------------------------------------------- */

struct scan_ctx {
	struct manifest_scan *s;
	size_t cap, ucap;
	size_t total; /* entries visited, including excluded */
};

static void scan_add(struct scan_ctx *c, const char *path, enum manifest_ftype t,
		     uint64_t size)
{
	struct manifest_scan *s = c->s;
	if (s->tree.n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 256;
		s->tree.path = xrealloc(s->tree.path, c->cap * sizeof(char *));
		s->type = xrealloc(s->type, c->cap * sizeof(*s->type));
		s->size = xrealloc(s->size, c->cap * sizeof(*s->size));
	}
	s->tree.path[s->tree.n] = xstrdup(path);
	s->type[s->tree.n] = t;
	s->size[s->tree.n] = size;
	s->tree.n++;
}

static int scan_rec(struct scan_ctx *c, int dfd, char *path, size_t plen,
		    unsigned depth, bool listed)
{
	DIR *d;
	struct dirent *de;
	int r = 0;

	if (depth > MANIFEST_MAX_DEPTH) {
		close(dfd);
		return -ELOOP;
	}
	d = fdopendir(dfd);
	if (!d) {
		r = -errno;
		close(dfd);
		return r;
	}
	while ((errno = 0, de = readdir(d))) {
		struct stat st;
		enum manifest_ftype t;
		size_t nlen = strlen(de->d_name);
		bool child_listed = listed;

		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		if (++c->total > MANIFEST_MAX_ENTRIES) {
			r = -E2BIG;
			break;
		}
		if (plen + 1 + nlen > MANIFEST_MAX_PATH) {
			r = -ENAMETOOLONG;
			break;
		}
		if (!manifest_name_signable(de->d_name)) {
			struct manifest_scan *s = c->s;
			if (s->n_unsignable == c->ucap) {
				c->ucap = c->ucap ? 2 * c->ucap : 8;
				s->unsignable = xrealloc(s->unsignable, c->ucap * sizeof(char *));
			}
			s->unsignable[s->n_unsignable++] =
				xasprintf("%.*s%s%s", (int)plen, path,
					  plen == 2 ? "" : "/", de->d_name);
		}
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = -errno;
			break;
		}
		/* path is "./" at the top, else "./a/b" */
		size_t nplen;
		if (plen == 2) {
			memcpy(path + 2, de->d_name, nlen + 1);
			nplen = 2 + nlen;
			if (S_ISREG(st.st_mode) && manifest_name_excluded(de->d_name))
				child_listed = false;
		} else {
			path[plen] = '/';
			memcpy(path + plen + 1, de->d_name, nlen + 1);
			nplen = plen + 1 + nlen;
		}
		if (S_ISREG(st.st_mode))
			t = MANIFEST_REG;
		else if (S_ISDIR(st.st_mode))
			t = MANIFEST_DIR;
		else if (S_ISLNK(st.st_mode))
			t = MANIFEST_SYMLINK;
		else
			t = MANIFEST_OTHER;
		if (child_listed)
			scan_add(c, path, t, t == MANIFEST_REG ? (uint64_t)st.st_size : 0);
		if (t == MANIFEST_DIR) {
			int cfd = openat(dirfd(d), de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd < 0) {
				r = -errno;
				break;
			}
			r = scan_rec(c, cfd, path, nplen, depth + 1, child_listed);
			if (r < 0)
				break;
		}
		path[plen] = '\0';
	}
	if (!de && errno && r == 0)
		r = -errno;
	path[plen] = '\0';
	closedir(d);
	return r;
}

int manifest_scan_dir(int bootfd, struct manifest_scan *ret)
{
	struct manifest_scan s = {0};
	struct scan_ctx c = {.s = &s};
	char path[MANIFEST_MAX_PATH + 2] = "./";
	int fd, r;
	size_t *idx;

	fd = openat(bootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	scan_add(&c, "./", MANIFEST_DIR, 0);
	r = scan_rec(&c, fd, path, 2, 0, true);
	if (r < 0) {
		manifest_scan_free(&s);
		if (r == -ELOOP)
			log_error("boot directory tree is deeper than %d levels", MANIFEST_MAX_DEPTH);
		else if (r == -E2BIG)
			log_error("boot directory holds more than %d entries", MANIFEST_MAX_ENTRIES);
		else if (r == -ENAMETOOLONG)
			log_error("a path in the boot directory is longer than %d bytes",
				  MANIFEST_MAX_PATH);
		return r;
	}
	/* Sort tree entries in byte order, carrying type/size along. */
	idx = xcalloc(s.tree.n, sizeof(size_t));
	for (size_t i = 0; i < s.tree.n; i++)
		idx[i] = i;
	qsort_r(idx, s.tree.n, sizeof(size_t), cmp_idx_path, s.tree.path);
	{
		char **np = xcalloc(s.tree.n ? s.tree.n : 1, sizeof(char *));
		enum manifest_ftype *nt = xcalloc(s.tree.n ? s.tree.n : 1, sizeof(*nt));
		uint64_t *ns = xcalloc(s.tree.n ? s.tree.n : 1, sizeof(*ns));
		for (size_t i = 0; i < s.tree.n; i++) {
			np[i] = s.tree.path[idx[i]];
			nt[i] = s.type[idx[i]];
			ns[i] = s.size[idx[i]];
		}
		free(s.tree.path);
		free(s.type);
		free(s.size);
		s.tree.path = np;
		s.type = nt;
		s.size = ns;
	}
	free(idx);
	if (s.n_unsignable)
		qsort(s.unsignable, s.n_unsignable, sizeof(char *), manifest_cmp_str);
	*ret = s;
	return 0;
}
