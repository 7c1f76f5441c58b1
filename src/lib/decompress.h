/* decompress.h - whole-file decompression of boot images (gzip, xz, zstd),
 * bounded, into sealed memfds.
 *
 * Contract:
 * - decompress_detect() names the format from the first bytes (gzip
 *   1f 8b 08, xz FD "7zXZ" 00, zstd 28 b5 2f fd); anything else is
 *   DECOMPRESS_NONE (the file is used as it is: e.g. an ELF or a bzImage).
 * - decompress_stream() decodes one whole file: a gzip file may hold several
 *   members (as zcat reads them), xz and zstd several concatenated streams
 *   or frames of the same format; bytes after the last one that do not start
 *   another stream are -EBADMSG. Output goes to a sink in chunks; more than
 *   max_out bytes is -EFBIG (a decompression bomb stops at the limit, never
 *   allocates it); truncated or corrupt input is -EBADMSG. Every error is
 *   logged once naming `name` (the file).
 * - decompress_to_memfd() writes the output into a new memfd sealed against
 *   writing, growing and shrinking (offset 0) and gives its size and
 *   SHA-256. Nothing touches a disk.
 * All functions return 0 (or an fd) or a negative errno.
 */
#ifndef HEADS_DECOMPRESS_H
#define HEADS_DECOMPRESS_H

#include <stddef.h>
#include <stdint.h>

enum decompress_format {
	DECOMPRESS_NONE = 0,
	DECOMPRESS_GZIP,
	DECOMPRESS_XZ,
	DECOMPRESS_ZSTD,
};

/* "none", "gzip", "xz", "zstd" */
const char *decompress_format_name(enum decompress_format f);
enum decompress_format decompress_detect(const void *head, size_t len);

/* Called with each decoded chunk; a negative return stops with that error. */
typedef int (*decompress_sink_fn)(const uint8_t *chunk, size_t len, void *userdata);

int decompress_stream(const void *in, size_t len, enum decompress_format f, uint64_t max_out,
		      const char *name, decompress_sink_fn sink, void *userdata);

/* Decode the first len bytes of fd (read with pread; fd may be a sealed
 * memfd, its offset is not used) into a new sealed memfd (O_CLOEXEC).
 * ret_size and ret_sha256 (32 bytes) may be NULL. */
int decompress_to_memfd(int fd, uint64_t len, enum decompress_format f, uint64_t max_out,
			const char *name, uint64_t *ret_size, uint8_t *ret_sha256);

#endif
