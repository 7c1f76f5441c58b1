/* secret.h - buffers for key material and passphrases.
 *
 * Contract:
 * - A struct secret's bytes live in their own mmap'd pages, mlock'd (so they
 *   are never swapped) and excluded from core dumps (MADV_DONTDUMP). If mlock
 *   fails (RLIMIT_MEMLOCK) the allocation fails: secrets are never kept in
 *   unlocked memory.
 * - secret_free() wipes with explicit_bzero() before unmapping. Every path
 *   that ends a secret's life must call it (use _cleanup_secret_).
 * - data[len] is always '\0' so a passphrase can be passed as a C string;
 *   binary secrets may contain NULs, use len.
 * - Passphrases come from a terminal with echo off, or from a file descriptor
 *   (scripted use, tests). Never from argv or the environment: there is no
 *   API for that on purpose.
 */
#ifndef HEADS_SECRET_H
#define HEADS_SECRET_H

#include <stddef.h>
#include <stdint.h>

struct secret {
	uint8_t *data;
	size_t len;
	size_t cap; /* usable bytes, excluding the terminating NUL */
};

/* Maximum secret this module hands out (1 MiB). */
#define SECRET_MAX (1024 * 1024)

/* Allocate an empty locked secret able to hold cap bytes. Returns NULL on
 * failure (errno set: ENOMEM, EINVAL for cap > SECRET_MAX, mlock errors). */
struct secret *secret_new(size_t cap);
/* A locked copy of len bytes. */
struct secret *secret_dup(const void *data, size_t len);
/* Wipe and release; NULL is fine. */
void secret_free(struct secret *s);
static inline void secret_freep(struct secret **s) { secret_free(*s); *s = NULL; }
#define _cleanup_secret_ __attribute__((cleanup(secret_freep)))

/* Fill with len bytes from getrandom(2). Returns 0 or -errno. */
int secret_random(struct secret *s, size_t len);

/* Read everything from fd until EOF (at most max bytes; more is -EFBIG).
 * Binary-safe. Returns 0 or -errno. */
int secret_read_fd(int fd, size_t max, struct secret **ret);

/* Read one passphrase line from fd: up to the first '\n' (not included) or
 * EOF; a trailing '\r' is dropped. Bytes after the newline are not consumed
 * beyond what one read() returned, so use a dedicated fd per passphrase.
 * Empty input is allowed (returns an empty secret). Longer than max: -EFBIG.
 * Returns 0 or -errno. */
int secret_read_line_fd(int fd, size_t max, struct secret **ret);

/* Prompt on the terminal tty_fd (e.g. opened /dev/tty) and read a line with
 * echo disabled; echo is restored even on error and signals. If tty_fd is
 * not a terminal this behaves as secret_read_line_fd(). Returns 0 or -errno. */
int secret_read_passphrase(int tty_fd, const char *prompt, size_t max,
			   struct secret **ret);

/* Constant-time comparison of two secrets (length and bytes). */
int secret_equal(const struct secret *a, const struct secret *b);

#endif
