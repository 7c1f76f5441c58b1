/* hash.c - the one hasher (see hash.h). */
#include "hash.h"
#include "codec.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

struct hash_ctx {
	EVP_MD_CTX *md;
	enum hash_alg alg;
};

static const EVP_MD *evp_of(enum hash_alg alg)
{
	return alg == HASH_SHA1 ? EVP_sha1() : EVP_sha256();
}

size_t hash_len(enum hash_alg alg)
{
	return alg == HASH_SHA1 ? HASH_SHA1_LEN : HASH_SHA256_LEN;
}

int hash_buf(enum hash_alg alg, const void *p, size_t n, uint8_t *out)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (EVP_Digest(p, n, md, &len, evp_of(alg), NULL) != 1 || len != hash_len(alg))
		return -EIO;
	memcpy(out, md, len);
	return 0;
}

int hash_sha256_hex(const void *p, size_t n, char out[65])
{
	uint8_t d[HASH_SHA256_LEN];
	int r = hash_sha256(p, n, d);
	if (r == 0)
		hex_encode(d, sizeof(d), out);
	return r;
}

int hash_new(enum hash_alg alg, struct hash_ctx **ret)
{
	struct hash_ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->alg = alg;
	c->md = EVP_MD_CTX_new();
	if (!c->md || EVP_DigestInit_ex(c->md, evp_of(alg), NULL) != 1) {
		hash_free(c);
		return -EIO;
	}
	*ret = c;
	return 0;
}

int hash_update(struct hash_ctx *c, const void *p, size_t n)
{
	return EVP_DigestUpdate(c->md, p, n) == 1 ? 0 : -EIO;
}

int hash_final(struct hash_ctx *c, uint8_t *out)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (EVP_DigestFinal_ex(c->md, md, &len) != 1 || len != hash_len(c->alg))
		return -EIO;
	memcpy(out, md, len);
	return 0;
}

int hash_reset(struct hash_ctx *c)
{
	return EVP_DigestInit_ex(c->md, evp_of(c->alg), NULL) == 1 ? 0 : -EIO;
}

void hash_free(struct hash_ctx *c)
{
	if (!c)
		return;
	EVP_MD_CTX_free(c->md);
	free(c);
}

/* ---- files ------------------------------------------------------------ */

/* Files are hashed from read-only mappings of the page cache (no copy into
 * a buffer: about a sixth of the CPU hashing costs). A file truncated while
 * mapped raises SIGBUS: inside hash_fd() the handler jumps back to this
 * thread's hash_mapped(), which reports -EIO; anywhere else it restores the
 * default action and re-raises. */
#define MAP_WINDOW (8u << 20)
static __thread sigjmp_buf *tls_sigbus;

static void on_sigbus(int sig)
{
	if (tls_sigbus)
		siglongjmp(*tls_sigbus, 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* While any thread maps a file, SIGBUS is ours; the handler found before
 * the first is put back when the last one is done. */
static pthread_mutex_t sigbus_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned sigbus_users;
static struct sigaction sigbus_saved;

static void sigbus_enter(void)
{
	struct sigaction sa = {.sa_handler = on_sigbus};

	sigemptyset(&sa.sa_mask);
	pthread_mutex_lock(&sigbus_lock);
	if (sigbus_users++ == 0)
		sigaction(SIGBUS, &sa, &sigbus_saved);
	pthread_mutex_unlock(&sigbus_lock);
}

static void sigbus_leave(void)
{
	pthread_mutex_lock(&sigbus_lock);
	if (--sigbus_users == 0)
		sigaction(SIGBUS, &sigbus_saved, NULL);
	pthread_mutex_unlock(&sigbus_lock);
}

static int feed(struct hash_ctx *c, const struct hash_fd_opts *o, const uint8_t *p, size_t n)
{
	for (size_t d = 0; d < n;) {
		size_t k = n - d > HASH_FD_CHUNK ? HASH_FD_CHUNK : n - d;
		if (hash_update(c, p + d, k) < 0)
			return -EIO;
		if (o && o->progress)
			o->progress(o->userdata, k);
		d += k;
	}
	return 0;
}

/* [0, size) of fd from mappings of MAP_WINDOW bytes. */
static int hash_mapped(struct hash_ctx *c, const struct hash_fd_opts *o, int fd, uint64_t size)
{
	sigjmp_buf env;
	uint8_t *volatile map = NULL;
	volatile size_t maplen = 0;
	volatile uint64_t off = 0;

	if (sigsetjmp(env, 1)) { /* 1: SIGBUS unblocked again after the jump */
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
		if (feed(c, o, map, maplen) < 0) {
			tls_sigbus = NULL;
			munmap(map, maplen);
			return -EIO;
		}
		munmap(map, maplen);
		map = NULL;
		off += maplen;
	}
	tls_sigbus = NULL;
	return 0;
}

int hash_fd(enum hash_alg alg, int fd, const struct hash_fd_opts *opts, uint8_t *out,
	    uint64_t *ret_size)
{
	_cleanup_hash_ struct hash_ctx *c = NULL;
	uint8_t buf[64 * 1024];
	uint64_t size;
	off_t off;
	bool seekable;
	int r;

	if (opts && opts->have_size) {
		size = opts->size;
	} else {
		struct stat st;
		if (fstat(fd, &st) < 0)
			return -errno;
		/* pipes, ttys and the like: no mapping, read them */
		size = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
	}
	r = hash_new(alg, &c);
	if (r < 0)
		return r;
	if (size) {
		sigbus_enter();
		r = hash_mapped(c, opts, fd, size);
		sigbus_leave();
		if (r < 0)
			return r;
	}
	/* bytes beyond the size seen (a file that grew) count too; what cannot
	 * be mapped or positioned (a pipe) is read */
	seekable = lseek(fd, 0, SEEK_CUR) >= 0;
	off = (off_t)size;
	for (;;) {
		ssize_t n = seekable ? pread(fd, buf, sizeof(buf), off) : read(fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		if (feed(c, opts, buf, (size_t)n) < 0)
			return -EIO;
		off += n;
	}
	r = hash_final(c, out);
	if (r == 0 && ret_size)
		*ret_size = (uint64_t)off;
	return r;
}
