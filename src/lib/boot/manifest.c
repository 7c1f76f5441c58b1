/* manifest.c - kexec_hashes.txt / kexec_tree.txt generation and checks. */
#include "boot/manifest.h"
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

bool manifest_name_signable(const char *name)
{
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p < 0x20 || *p == '\\' || *p >= 0x7f)
			return false;
	return true;
}

char *manifest_escape_name(const char *name)
{
	size_t n = strlen(name);
	char *out = xmalloc(4 * n + 1), *o = out;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (*p < 0x20 || *p == '\\' || *p >= 0x7f)
			o += sprintf(o, "\\x%02x", *p);
		else
			*o++ = (char)*p;
	}
	*o = '\0';
	return out;
}

bool manifest_path_valid(const char *path)
{
	size_t n = strlen(path);
	const char *c;

	if (n < 2 || n > MANIFEST_MAX_PATH || path[0] != '.' || path[1] != '/')
		return false;
	if (n == 2)
		return true; /* "./" */
	if (path[n - 1] == '/')
		return false;
	c = path + 2;
	for (;;) {
		const char *e = strchrnul(c, '/');
		size_t l = (size_t)(e - c);
		if (l == 0 || (l == 1 && c[0] == '.') || (l == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		if (!*e)
			return true;
		c = e + 1;
	}
}

void manifest_free(struct manifest *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		free(m->e[i].path);
	free(m->e);
	m->e = NULL;
	m->n = 0;
}

void manifest_tree_free(struct manifest_tree *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		free(t->path[i]);
	free(t->path);
	t->path = NULL;
	t->n = 0;
}

void manifest_scan_free(struct manifest_scan *s)
{
	if (!s)
		return;
	manifest_tree_free(&s->tree);
	free(s->type);
	free(s->size);
	for (size_t i = 0; i < s->n_unsignable; i++)
		free(s->unsignable[i]);
	free(s->unsignable);
	memset(s, 0, sizeof(*s));
}

bool manifest_name_excluded(const char *name)
{
	return fnmatch("kexec*.txt", name, 0) == 0 || streq(name, "kexec.sig") ||
	       streq(name, MANIFEST_SIG_LISTING_FILE) || streq(name, "kexec_hotp_counter") ||
	       fnmatch(MANIFEST_TRIGGER_GLOB, name, 0) == 0;
}

/* ---- parsing ---------------------------------------------------------- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int manifest_parse_hashes(const char *buf, size_t len, struct manifest *ret,
			  size_t *ret_line)
{
	struct manifest m = {0};
	size_t cap = 0, line = 0, pos = 0;

	if (len > MANIFEST_MAX_FILE)
		return -EFBIG;
	while (pos < len) {
		const char *l = buf + pos;
		const char *nl = memchr(l, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - l) : len - pos;
		uint8_t d[32];

		line++;
		pos += ll + (nl ? 1 : 0);
		if (m.n >= MANIFEST_MAX_ENTRIES)
			goto bad;
		/* <64 hex><' '><' ' or '*'><name> */
		if (ll < 67 || (l[65] != ' ' && l[65] != '*') || l[64] != ' ')
			goto bad;
		for (int i = 0; i < 32; i++) {
			int hi = hexval(l[2 * i]), lo = hexval(l[2 * i + 1]);
			if (hi < 0 || lo < 0)
				goto bad;
			d[i] = (uint8_t)(hi << 4 | lo);
		}
		size_t nl_len = ll - 66;
		if (nl_len > MANIFEST_MAX_PATH || memchr(l + 66, '\0', nl_len))
			goto bad;
		for (size_t i = 0; i < nl_len; i++)
			if ((unsigned char)l[66 + i] < 0x20)
				goto bad;
		if (m.n == cap) {
			cap = cap ? 2 * cap : 64;
			m.e = xrealloc(m.e, cap * sizeof(*m.e));
		}
		m.e[m.n].path = xstrndup(l + 66, nl_len);
		memcpy(m.e[m.n].sha256, d, 32);
		m.n++;
	}
	*ret = m;
	return 0;
bad:
	manifest_free(&m);
	if (ret_line)
		*ret_line = line;
	return -EINVAL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int manifest_parse_tree(const char *buf, size_t len, struct manifest_tree *ret,
			size_t *ret_line)
{
	struct manifest_tree t = {0};
	size_t cap = 0, pos = 0, line = 0;

	if (len > MANIFEST_MAX_FILE)
		return -EFBIG;
	while (pos < len) {
		const char *s = buf + pos;
		const char *z = memchr(s, '\0', len - pos);
		line++;
		if (!z || z == s || t.n >= MANIFEST_MAX_ENTRIES)
			goto bad;
		if (!manifest_path_valid(s))
			goto bad;
		if (t.n == cap) {
			cap = cap ? 2 * cap : 64;
			t.path = xrealloc(t.path, cap * sizeof(char *));
		}
		t.path[t.n++] = xstrdup(s);
		pos += (size_t)(z - s) + 1;
	}
	*ret = t;
	return 0;
bad:
	manifest_tree_free(&t);
	if (ret_line)
		*ret_line = line;
	return -EINVAL;
}

void manifest_links_free(struct manifest_links *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->l[i].path);
		free(l->l[i].target);
	}
	free(l->l);
	l->l = NULL;
	l->n = 0;
}

int manifest_parse_links(const char *buf, size_t len, struct manifest_links *ret,
			 size_t *ret_line)
{
	struct manifest_links v = {0};
	size_t cap = 0, pos = 0, line = 0;

	if (len > MANIFEST_MAX_FILE)
		return -EFBIG;
	while (pos < len) {
		const char *p = buf + pos, *pz = memchr(p, '\0', len - pos), *t, *tz;
		line++;
		if (!pz || pz == p || v.n >= MANIFEST_MAX_ENTRIES || !manifest_path_valid(p) ||
		    streq(p, "./"))
			goto bad;
		t = pz + 1;
		tz = t < buf + len ? memchr(t, '\0', (size_t)(buf + len - t)) : NULL;
		if (!tz || tz == t || (size_t)(tz - t) > MANIFEST_MAX_PATH)
			goto bad;
		if (v.n && strcmp(v.l[v.n - 1].path, p) >= 0)
			goto bad; /* sorted, no duplicates */
		if (v.n == cap) {
			cap = cap ? 2 * cap : 16;
			v.l = xrealloc(v.l, cap * sizeof(*v.l));
		}
		v.l[v.n].path = xstrdup(p);
		v.l[v.n].target = xstrdup(t);
		v.n++;
		pos = (size_t)(tz - buf) + 1;
	}
	*ret = v;
	return 0;
bad:
	manifest_links_free(&v);
	if (ret_line)
		*ret_line = line;
	return -EINVAL;
}

static int cmp_idx_path(const void *a, const void *b, void *arg)
{
	char **p = arg;
	return strcmp(p[*(const size_t *)a], p[*(const size_t *)b]);
}

static int cmp_idx_size_desc(const void *a, const void *b, void *arg)
{
	const uint64_t *sz = arg;
	uint64_t x = sz[*(const size_t *)a], y = sz[*(const size_t *)b];
	return x < y ? 1 : x > y ? -1 : 0;
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
		qsort(s.unsignable, s.n_unsignable, sizeof(char *), cmp_str);
	*ret = s;
	return 0;
}

/* ---- parallel hashing ------------------------------------------------- */

struct hash_job {
	int bootfd;
	char *const *paths;
	size_t n;
	size_t *order;
	uint8_t (*out)[32];
	int *errs;
	atomic_size_t next;
	atomic_size_t files_done;
	atomic_uint_fast64_t bytes_done;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	size_t workers_left;
};

/* Files are hashed from a read-only mapping of the page cache (no copy
 * into a buffer: about a sixth of the CPU that hashing costs). A file
 * truncated while it is mapped would raise SIGBUS: while hashing, SIGBUS
 * in a worker jumps back to that worker's hash_one(), which reports the
 * file as unreadable (-EIO) instead of killing the process. */
#define MAP_WINDOW (8u << 20)
static __thread sigjmp_buf *tls_sigbus;

static void on_sigbus(int sig)
{
	if (tls_sigbus)
		siglongjmp(*tls_sigbus, 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Hash [0, size) of fd from mappings of MAP_WINDOW bytes. */
static int hash_mapped(struct hash_job *j, int fd, uint64_t size, EVP_MD_CTX *ctx)
{
	sigjmp_buf env;
	uint8_t *volatile map = NULL;
	volatile size_t maplen = 0;
	volatile uint64_t off = 0;

	if (sigsetjmp(env, 0)) {
		tls_sigbus = NULL;
		if (map)
			munmap(map, maplen);
		return -EIO; /* changed (truncated) while being hashed */
	}
	tls_sigbus = &env;
	while (off < size) {
		maplen = size - off > MAP_WINDOW ? MAP_WINDOW : (size_t)(size - off);
		map = mmap(NULL, maplen, PROT_READ, MAP_SHARED, fd, (off_t)off);
		if (map == MAP_FAILED) {
			map = NULL;
			tls_sigbus = NULL;
			return -errno;
		}
		(void)madvise(map, maplen, MADV_SEQUENTIAL | MADV_WILLNEED);
		for (size_t d = 0; d < maplen; d += MANIFEST_CHUNK) {
			size_t n = maplen - d > MANIFEST_CHUNK ? MANIFEST_CHUNK : maplen - d;
			if (EVP_DigestUpdate(ctx, map + d, n) != 1) {
				tls_sigbus = NULL;
				munmap(map, maplen);
				return -EIO;
			}
			atomic_fetch_add(&j->bytes_done, (uint64_t)n);
		}
		munmap(map, maplen);
		map = NULL;
		off += maplen;
	}
	tls_sigbus = NULL;
	return 0;
}

static int hash_one(struct hash_job *j, const char *path, uint8_t out[32], uint8_t *buf)
{
	const char *rel = path;
	_cleanup_close_ int fd = -1;
	struct stat st;
	EVP_MD_CTX *ctx;
	unsigned int dl = 0;
	int r = 0;

	if (startswith(rel, "./"))
		rel += 2;
	if (!*rel)
		return -EISDIR;
	/* No symlink anywhere in the path, and nothing outside bootfd: a
	 * directory swapped for a symlink between scan and open is refused. */
	{
		struct open_how how = {
			.flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
			.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
		};
		fd = (int)syscall(SYS_openat2, j->bootfd, rel, &how, sizeof(how));
		if (fd < 0 && errno == ENOSYS)
			fd = openat(j->bootfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY |
				    O_NONBLOCK);
		if (fd < 0)
			return errno == EXDEV ? -ELOOP : -errno;
	}
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return -ENOMEM;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		r = -EIO;
		goto out;
	}
	r = hash_mapped(j, fd, (uint64_t)st.st_size, ctx);
	if (r < 0)
		goto out;
	/* bytes beyond the size seen (a file that grew) count too */
	for (off_t off = st.st_size;;) {
		ssize_t n = pread(fd, buf, MANIFEST_CHUNK, off);
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1) {
			r = -EIO;
			goto out;
		}
		off += n;
	}
	if (EVP_DigestFinal_ex(ctx, out, &dl) != 1 || dl != 32)
		r = -EIO;
out:
	EVP_MD_CTX_free(ctx);
	return r;
}

static void *hash_worker(void *arg)
{
	struct hash_job *j = arg;
	uint8_t *buf = xmalloc(MANIFEST_CHUNK);

	for (;;) {
		size_t k = atomic_fetch_add(&j->next, 1);
		if (k >= j->n)
			break;
		size_t i = j->order[k];
		j->errs[i] = hash_one(j, j->paths[i], j->out[i], buf);
		atomic_fetch_add(&j->files_done, 1);
	}
	free(buf);
	pthread_mutex_lock(&j->lock);
	j->workers_left--;
	pthread_cond_signal(&j->cond);
	pthread_mutex_unlock(&j->lock);
	return NULL;
}

int manifest_hash_files(int bootfd, char *const *paths, const uint64_t *sizes,
			size_t n, uint8_t (*out)[32], int *errs,
			manifest_progress_fn progress, void *userdata)
{
	struct hash_job j = {
		.bootfd = bootfd, .paths = paths, .n = n, .out = out, .errs = errs,
	};
	uint64_t total = 0;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	size_t nthreads;
	pthread_t *th;

	if (n == 0)
		return 0;
	if (ncpu < 1)
		ncpu = 1;
	nthreads = (size_t)ncpu;
	if (nthreads > 64)
		nthreads = 64;
	if (nthreads > n)
		nthreads = n;
	struct sigaction sa = {.sa_handler = on_sigbus}, old_sa;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &old_sa);
	j.order = xcalloc(n, sizeof(size_t));
	for (size_t i = 0; i < n; i++) {
		j.order[i] = i;
		total += sizes ? sizes[i] : 0;
	}
	if (sizes) {
		/* Largest first: the longest file starts first, keeping the tail
		 * short when a few big initrds dominate. */
		qsort_r(j.order, n, sizeof(size_t), cmp_idx_size_desc, (void *)sizes);
	}
	atomic_init(&j.next, 0);
	atomic_init(&j.files_done, 0);
	atomic_init(&j.bytes_done, 0);
	pthread_mutex_init(&j.lock, NULL);
	pthread_cond_init(&j.cond, NULL);
	th = xcalloc(nthreads, sizeof(pthread_t));
	size_t started = 0;
	for (size_t i = 0; i < nthreads; i++) {
		pthread_mutex_lock(&j.lock);
		j.workers_left++;
		pthread_mutex_unlock(&j.lock);
		if (pthread_create(&th[i], NULL, hash_worker, &j) != 0) {
			pthread_mutex_lock(&j.lock);
			j.workers_left--;
			pthread_mutex_unlock(&j.lock);
			break;
		}
		started++;
	}
	if (started == 0) {
		/* No threads: do the work here. */
		j.workers_left = 1;
		hash_worker(&j);
	}
	pthread_mutex_lock(&j.lock);
	while (j.workers_left > 0) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 250 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&j.cond, &j.lock, &ts);
		if (progress && j.workers_left > 0) {
			pthread_mutex_unlock(&j.lock);
			progress(userdata, atomic_load(&j.bytes_done), total,
				 atomic_load(&j.files_done), n);
			pthread_mutex_lock(&j.lock);
		}
	}
	pthread_mutex_unlock(&j.lock);
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	if (progress)
		progress(userdata, atomic_load(&j.bytes_done), total, n, n);
	pthread_mutex_destroy(&j.lock);
	pthread_cond_destroy(&j.cond);
	sigaction(SIGBUS, &old_sa, NULL);
	free(th);
	free(j.order);
	return 0;
}

/* ---- generation ------------------------------------------------------- */

struct buf {
	char *p;
	size_t n, cap;
};

static void buf_add(struct buf *b, const void *d, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, d, n);
	b->n += n;
	b->p[b->n] = '\0';
}

int manifest_generate(int bootfd, const struct manifest_scan *scan,
		      char **ret_hashes, size_t *ret_hashes_len,
		      char **ret_tree, size_t *ret_tree_len,
		      manifest_progress_fn progress, void *userdata)
{
	struct buf h = {0}, t = {0};
	char **files;
	uint64_t *sizes;
	uint8_t (*dig)[32];
	int *errs;
	size_t nf = 0;
	int r = 0;

	if (scan->n_unsignable) {
		_cleanup_free_ char *e = manifest_escape_name(scan->unsignable[0]);
		log_error("cannot sign /boot: name %s has a control byte, '\\' or a byte >= 0x7f "
			  "(%zu such name%s)", e, scan->n_unsignable,
			  scan->n_unsignable == 1 ? "" : "s");
		return -EINVAL;
	}
	files = xcalloc(scan->tree.n + 1, sizeof(char *));
	sizes = xcalloc(scan->tree.n + 1, sizeof(uint64_t));
	for (size_t i = 0; i < scan->tree.n; i++)
		if (scan->type[i] == MANIFEST_REG) {
			files[nf] = scan->tree.path[i];
			sizes[nf++] = scan->size[i];
		}
	dig = xcalloc(nf + 1, 32);
	errs = xcalloc(nf + 1, sizeof(int));
	r = manifest_hash_files(bootfd, files, sizes, nf, dig, errs, progress, userdata);
	for (size_t i = 0; r == 0 && i < nf; i++) {
		char hex[65];
		if (errs[i]) {
			r = log_error_errno(errs[i], "cannot hash %s", files[i]);
			break;
		}
		hex_encode(dig[i], 32, hex);
		buf_add(&h, hex, 64);
		buf_add(&h, "  ", 2);
		buf_add(&h, files[i], strlen(files[i]));
		buf_add(&h, "\n", 1);
	}
	for (size_t i = 0; r == 0 && i < scan->tree.n; i++)
		buf_add(&t, scan->tree.path[i], strlen(scan->tree.path[i]) + 1);
	free(files);
	free(sizes);
	free(dig);
	free(errs);
	if (r < 0) {
		free(h.p);
		free(t.p);
		return r;
	}
	*ret_hashes = h.p ? h.p : xstrdup("");
	*ret_hashes_len = h.n;
	*ret_tree = t.p ? t.p : xstrdup("");
	*ret_tree_len = t.n;
	return 0;
}

int manifest_generate_links(int bootfd, const struct manifest_scan *scan, char **ret,
			    size_t *ret_len)
{
	struct buf b = {0};

	for (size_t i = 0; i < scan->tree.n; i++) {
		char t[MANIFEST_MAX_PATH + 1];
		const char *p = scan->tree.path[i];
		ssize_t n;
		if (scan->type[i] != MANIFEST_SYMLINK)
			continue;
		n = readlinkat(bootfd, p + 2, t, sizeof(t));
		if (n <= 0 || (size_t)n > MANIFEST_MAX_PATH) {
			int r = n < 0 ? -errno : -EINVAL;
			free(b.p);
			return log_error_errno(r, "%s: symlink target %s", p,
						n < 0 ? "unreadable" : "empty or too long");
		}
		buf_add(&b, p, strlen(p) + 1);
		buf_add(&b, t, (size_t)n);
		buf_add(&b, "", 1);
	}
	*ret = b.p ? b.p : xstrdup("");
	*ret_len = b.n;
	return 0;
}

int manifest_hash_lines(int bootfd, char *const *paths, size_t n, char **ret,
			size_t *ret_len)
{
	struct buf b = {0};
	uint8_t (*dig)[32];
	int *errs, r = 0;

	for (size_t i = 0; i < n; i++)
		if (!manifest_path_valid(paths[i]) || streq(paths[i], "./") ||
		    !manifest_name_signable(paths[i])) {
			_cleanup_free_ char *e = manifest_escape_name(paths[i]);
			return log_error_errno(-EINVAL, "%s: not a path for a manifest", e);
		}
	dig = xcalloc(n + 1, 32);
	errs = xcalloc(n + 1, sizeof(int));
	r = manifest_hash_files(bootfd, paths, NULL, n, dig, errs, NULL, NULL);
	for (size_t i = 0; r == 0 && i < n; i++) {
		char hex[65];
		if (errs[i]) {
			r = log_error_errno(errs[i], "cannot hash %s", paths[i]);
			break;
		}
		hex_encode(dig[i], 32, hex);
		buf_add(&b, hex, 64);
		buf_add(&b, "  ", 2);
		buf_add(&b, paths[i], strlen(paths[i]));
		buf_add(&b, "\n", 1);
	}
	free(dig);
	free(errs);
	if (r < 0) {
		free(b.p);
		return r;
	}
	*ret = b.p ? b.p : xstrdup("");
	if (ret_len)
		*ret_len = b.n;
	return 0;
}

/* ---- verification ----------------------------------------------------- */

const char *manifest_issue_kind_name(enum manifest_issue_kind k)
{
	switch (k) {
	case MANIFEST_CHANGED: return "changed";
	case MANIFEST_MISSING: return "missing";
	case MANIFEST_NEW: return "new";
	case MANIFEST_NOT_REGULAR: return "not a regular file";
	case MANIFEST_UNREADABLE: return "unreadable";
	}
	return "?";
}

size_t manifest_report_count(const struct manifest_report *r, enum manifest_issue_kind k)
{
	size_t c = 0;
	for (size_t i = 0; i < r->n_issue; i++)
		c += r->issue[i].kind == k;
	return c;
}

void manifest_report_free(struct manifest_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_issue; i++) {
		free(r->issue[i].path);
		free(r->issue[i].detail);
	}
	free(r->issue);
	for (size_t i = 0; i < r->n_unbound; i++)
		free(r->unbound[i]);
	free(r->unbound);
	memset(r, 0, sizeof(*r));
}

static void add_issue_d(struct manifest_report *r, size_t *cap, enum manifest_issue_kind k,
			const char *path, int err, char *detail)
{
	if (r->n_issue == *cap) {
		*cap = *cap ? 2 * *cap : 16;
		r->issue = xrealloc(r->issue, *cap * sizeof(*r->issue));
	}
	r->issue[r->n_issue++] = (struct manifest_issue){k, xstrdup(path), err, detail};
}

static void add_issue(struct manifest_report *r, size_t *cap, enum manifest_issue_kind k,
		      const char *path, int err)
{
	add_issue_d(r, cap, k, path, err, NULL);
}

void manifest_report_add(struct manifest_report *r, enum manifest_issue_kind k,
			 const char *path, const char *detail)
{
	size_t cap = r->n_issue; /* grows on every add: fine for the few callers */
	add_issue_d(r, &cap, k, path, 0, detail ? xstrdup(detail) : NULL);
}

static int cmp_issue(const void *a, const void *b)
{
	const struct manifest_issue *x = a, *y = b;
	int c = strcmp(x->path, y->path);
	return c ? c : (int)x->kind - (int)y->kind;
}

/* Index of path in the sorted scan, or -1. */
static long scan_find(const struct manifest_scan *s, const char *path)
{
	size_t lo = 0, hi = s->tree.n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(s->tree.path[mid], path);
		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* Normalise a sha256sum name to our "./x" form for lookup. */
static char *norm_path(const char *p)
{
	if (startswith(p, "./"))
		return xstrdup(p);
	if (p[0] == '/')
		return NULL; /* absolute names are never in a Heads manifest */
	return xasprintf("./%s", p);
}

int manifest_verify(int bootfd, const struct manifest *hashes,
		    const struct manifest_tree *tree, struct manifest_report *ret,
		    manifest_progress_fn progress, void *userdata)
{
	return manifest_verify_links(bootfd, hashes, tree, MANIFEST_LINKS_IGNORE, NULL, ret,
				     progress, userdata);
}

static char *read_link(int bootfd, const char *path)
{
	char buf[MANIFEST_MAX_PATH + 1];
	const char *rel = startswith(path, "./") ? path + 2 : path;
	ssize_t n = readlinkat(bootfd, rel, buf, sizeof(buf));
	if (n < 0 || (size_t)n > MANIFEST_MAX_PATH)
		return NULL;
	buf[n] = '\0';
	return xstrdup(buf);
}

/* The signed link table against the scan: every signed link must still be
 * a symlink with the same target; every symlink of the scan must be signed. */
static void check_links(int bootfd, const struct manifest_scan *s,
			const struct manifest_links *links, struct manifest_report *rep,
			size_t *cap)
{
	for (size_t i = 0; i < links->n; i++) {
		const struct manifest_link *l = &links->l[i];
		long k = scan_find(s, l->path);
		if (k < 0) {
			add_issue_d(rep, cap, MANIFEST_MISSING, l->path, 0,
				    xasprintf("symlink -> %s is gone", l->target));
		} else if (s->type[k] != MANIFEST_SYMLINK) {
			add_issue_d(rep, cap, MANIFEST_NOT_REGULAR, l->path, 0,
				    xasprintf("was a symlink -> %s, now a %s", l->target,
					      s->type[k] == MANIFEST_DIR ? "directory" :
					      s->type[k] == MANIFEST_REG ? "regular file" :
					      "special file"));
		} else {
			_cleanup_free_ char *t = read_link(bootfd, l->path);
			if (!t || !streq(t, l->target)) {
				_cleanup_free_ char *e = t ? manifest_escape_name(t) : NULL;
				add_issue_d(rep, cap, MANIFEST_CHANGED, l->path, 0,
					    xasprintf("symlink was -> %s, now -> %s", l->target,
						      e ? e : "(unreadable)"));
			}
		}
	}
	for (size_t k = 0; k < s->tree.n; k++) {
		const char *p = s->tree.path[k];
		size_t lo = 0, hi = links->n;
		bool found = false;
		if (s->type[k] != MANIFEST_SYMLINK)
			continue;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			int c = strcmp(links->l[mid].path, p);
			if (c == 0) {
				found = true;
				break;
			}
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (!found) {
			_cleanup_free_ char *t = read_link(bootfd, p);
			_cleanup_free_ char *e = t ? manifest_escape_name(t) : NULL;
			add_issue_d(rep, cap, MANIFEST_NEW, p, 0,
				    xasprintf("symlink -> %s is not in %s", e ? e : "?",
					      MANIFEST_LINKS_FILE));
		}
	}
}

int manifest_verify_links(int bootfd, const struct manifest *hashes,
			  const struct manifest_tree *tree, enum manifest_links_mode mode,
			  const struct manifest_links *links, struct manifest_report *ret,
			  manifest_progress_fn progress, void *userdata)
{
	struct manifest_scan s = {0};
	struct manifest_report rep = {0};
	size_t cap = 0;
	int r;

	r = manifest_scan_dir(bootfd, &s);
	if (r < 0)
		return r;

	if (hashes) {
		char **paths = xcalloc(hashes->n + 1, sizeof(char *));
		uint64_t *sizes = xcalloc(hashes->n + 1, sizeof(uint64_t));
		size_t *which = xcalloc(hashes->n + 1, sizeof(size_t));
		uint8_t (*dig)[32] = xcalloc(hashes->n + 1, 32);
		int *errs = xcalloc(hashes->n + 1, sizeof(int));
		size_t nh = 0;

		for (size_t i = 0; i < hashes->n; i++) {
			char *p = norm_path(hashes->e[i].path);
			long k = p && manifest_path_valid(p) ? scan_find(&s, p) : -1;
			if (k < 0) {
				/* Not in the scanned tree (absent, under a
				 * symlinked directory, or under an excluded
				 * ./kexec* path): missing. */
				add_issue(&rep, &cap, MANIFEST_MISSING, p ? p : hashes->e[i].path, 0);
				free(p);
				continue;
			}
			if (s.type[k] != MANIFEST_REG) {
				add_issue(&rep, &cap, MANIFEST_NOT_REGULAR, p, 0);
				free(p);
				continue;
			}
			paths[nh] = p;
			sizes[nh] = s.size[k];
			which[nh++] = i;
		}
		r = manifest_hash_files(bootfd, paths, sizes, nh, dig, errs, progress, userdata);
		for (size_t i = 0; r == 0 && i < nh; i++) {
			const struct manifest_entry *e = &hashes->e[which[i]];
			if (errs[i] == -ENOENT)
				add_issue(&rep, &cap, MANIFEST_MISSING, paths[i], 0);
			else if (errs[i] == -ELOOP || errs[i] == -EINVAL || errs[i] == -EISDIR)
				add_issue(&rep, &cap, MANIFEST_NOT_REGULAR, paths[i], 0);
			else if (errs[i])
				add_issue(&rep, &cap, MANIFEST_UNREADABLE, paths[i], errs[i]);
			else if (memcmp(dig[i], e->sha256, 32) != 0)
				add_issue(&rep, &cap, MANIFEST_CHANGED, paths[i], 0);
			else
				rep.bytes_hashed += sizes[i];
		}
		rep.files_checked = hashes->n;
		for (size_t i = 0; i < nh; i++)
			free(paths[i]);
		free(paths);
		free(sizes);
		free(which);
		free(dig);
		free(errs);
		if (r < 0)
			goto fail;
	}

	if (tree) {
		char **signed_sorted = xcalloc(tree->n + 1, sizeof(char *));
		memcpy(signed_sorted, tree->path, tree->n * sizeof(char *));
		qsort(signed_sorted, tree->n, sizeof(char *), cmp_str);
		size_t i = 0, k = 0;
		while (i < tree->n || k < s.tree.n) {
			int c;
			if (i < tree->n && i > 0 && streq(signed_sorted[i], signed_sorted[i - 1])) {
				i++;
				continue;
			}
			if (i >= tree->n)
				c = 1;
			else if (k >= s.tree.n)
				c = -1;
			else
				c = strcmp(signed_sorted[i], s.tree.path[k]);
			if (c == 0) {
				i++;
				k++;
			} else if (c < 0) {
				add_issue(&rep, &cap, MANIFEST_MISSING, signed_sorted[i++], 0);
			} else {
				add_issue(&rep, &cap, MANIFEST_NEW, s.tree.path[k++], 0);
			}
		}
		free(signed_sorted);
	}
	if (mode == MANIFEST_LINKS_CHECK) {
		static const struct manifest_links none;
		check_links(bootfd, &s, links ? links : &none, &rep, &cap);
	} else if (mode == MANIFEST_LINKS_UNBOUND) {
		size_t ucap = 0;
		for (size_t k = 0; k < s.tree.n; k++) {
			if (s.type[k] != MANIFEST_SYMLINK)
				continue;
			if (rep.n_unbound == ucap) {
				ucap = ucap ? 2 * ucap : 8;
				rep.unbound = xrealloc(rep.unbound, ucap * sizeof(char *));
			}
			rep.unbound[rep.n_unbound++] = xstrdup(s.tree.path[k]);
		}
	}
	if (rep.n_issue) {
		/* Sort (stable for equal keys: the first, with its detail,
		 * is kept), then keep one issue per (path, kind). */
		size_t w = 1;
		qsort(rep.issue, rep.n_issue, sizeof(*rep.issue), cmp_issue);
		for (size_t i = 1; i < rep.n_issue; i++) {
			if (cmp_issue(&rep.issue[i], &rep.issue[w - 1]) == 0) {
				if (!rep.issue[w - 1].detail) {
					rep.issue[w - 1].detail = rep.issue[i].detail;
					rep.issue[i].detail = NULL;
				}
				free(rep.issue[i].path);
				free(rep.issue[i].detail);
			} else {
				rep.issue[w++] = rep.issue[i];
			}
		}
		rep.n_issue = w;
	}
	manifest_scan_free(&s);
	*ret = rep;
	return 0;
fail:
	manifest_scan_free(&s);
	manifest_report_free(&rep);
	return r;
}
