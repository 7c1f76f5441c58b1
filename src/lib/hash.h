/* hash.h - the one hasher: SHA-256 / SHA-1 of a buffer, of a file
 * descriptor (mmap windows, SIGBUS caught, then read() for what follows)
 * and a streaming context, on OpenSSL's EVP digests.
 *
 * Contract:
 * - every function returns 0 or a negative errno (-EIO: the digest library
 *   failed, -ENOMEM); outputs are written only on success;
 * - hash_fd() hashes the whole file from offset 0 to its end as seen while
 *   reading (a file that grew is hashed to its new end); the mapped part
 *   is read from the page cache without a copy; a file truncated while
 *   mapped is reported as -EIO (the SIGBUS is caught per thread, the
 *   process is not killed). A regular file's offset is never changed
 *   (pread), so one fd can be hashed from several threads; a pipe is read.
 *   While a file is mapped the SIGBUS handler is ours (a SIGBUS of another
 *   thread then gets the default action: the process dies as it would
 *   have); the previous handler is back when no hash_fd() maps a file;
 * - a streaming context is used by one thread at a time. */
#ifndef HEADS_HASH_H
#define HEADS_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum hash_alg {
	HASH_SHA256,
	HASH_SHA1,
};

#define HASH_SHA256_LEN 32
#define HASH_SHA1_LEN 20
#define HASH_MAX_LEN 32

/* Digest length of alg (32 or 20). */
size_t hash_len(enum hash_alg alg);

/* The digest of [p, p+n) into out (hash_len(alg) bytes). */
int hash_buf(enum hash_alg alg, const void *p, size_t n, uint8_t *out);

/* SHA-256 of a buffer (the common case). */
static inline int hash_sha256(const void *p, size_t n, uint8_t out[HASH_SHA256_LEN])
{
	return hash_buf(HASH_SHA256, p, n, out);
}

/* The SHA-256 of [p, p+n) as 64 lowercase hex digits and a NUL. */
int hash_sha256_hex(const void *p, size_t n, char out[65]);

struct hash_ctx;

int hash_new(enum hash_alg alg, struct hash_ctx **ret);
int hash_update(struct hash_ctx *c, const void *p, size_t n);
/* The digest into out; the context may then be freed or hash_reset. */
int hash_final(struct hash_ctx *c, uint8_t *out);
/* Start again (same algorithm). */
int hash_reset(struct hash_ctx *c);
void hash_free(struct hash_ctx *c);

static inline void hash_freep(struct hash_ctx **c)
{
	hash_free(*c);
}
#define _cleanup_hash_ __attribute__((cleanup(hash_freep)))

/* Called with the bytes hashed since the last call (at most
 * HASH_FD_CHUNK at a time), e.g. for a progress counter. */
typedef void (*hash_progress_fn)(void *userdata, uint64_t bytes);

#define HASH_FD_CHUNK (1024 * 1024)

struct hash_fd_opts {
	hash_progress_fn progress; /* NULL: none */
	void *userdata;
	uint64_t size;  /* the size seen by fstat (bytes mapped); 0: fstat here */
	bool have_size; /* size is given (a file of 0 bytes is mapped as none) */
};

/* The digest of everything fd holds (see the contract above) into out;
 * ret_size (may be NULL): the bytes hashed. opts may be NULL. */
int hash_fd(enum hash_alg alg, int fd, const struct hash_fd_opts *opts, uint8_t *out,
	    uint64_t *ret_size);

#endif
