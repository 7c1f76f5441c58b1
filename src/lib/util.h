/* util.h - small helpers shared by every module.
 *
 * Contract: header-only macros plus a few functions that never fail silently.
 * Error convention for the whole library: functions return 0 (or a count) on
 * success and a negative errno on failure; output parameters are named ret_*
 * and are untouched on failure.
 */
#ifndef HEADS_UTIL_H
#define HEADS_UTIL_H

#include <stddef.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static inline void freep(void *p) { free(*(void **)p); }
static inline void closep(int *fd) { if (*fd >= 0) close(*fd); }

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)

/* Hand ownership out of a _cleanup_ variable. */
#define TAKE_PTR(p) ({ __typeof__(p) _p = (p); (p) = NULL; _p; })
#define TAKE_FD(fd) ({ int _fd = (fd); (fd) = -1; _fd; })

#define streq(a, b) (strcmp((a), (b)) == 0)

static inline bool startswith(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Allocation that never returns NULL: abort() on out-of-memory, which in an
 * initramfs is unrecoverable anyway. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
/* p (an array of size-byte elements, *cap of them) with room for element n:
 * doubled (first 16) when full. */
void *xgrow(void *p, size_t *cap, size_t n, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The string builder: append the formatted text to *s (malloc'd or NULL;
 * reallocated, aborts on OOM like the x-allocators). */
void str_appendf(char **s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parse an unsigned integer in base 0 (decimal, 0x hex) with range check.
 * Returns 0 or -EINVAL / -ERANGE. */
/* Printable copy of a string for a screen or a log: bytes below 0x20 and
 * 0x7f as \xHH (keep_newlines: '\n' stays, for text bodies). What a person
 * is shown then cannot be redrawn by the string (an escape sequence in a
 * boot entry title, a carriage return in a path). Caller frees. */
char *str_escape_controls(const char *s, bool keep_newlines);

int parse_uint(const char *s, unsigned long long max, unsigned long long *ret);

/* Read exactly/at most: loop over EINTR and short reads/writes. */
long read_full(int fd, void *buf, size_t n);
int write_full(int fd, const void *buf, size_t n);

#endif
