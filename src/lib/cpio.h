/* cpio.h - newc cpio archives, initramfs segments and Disk Unlock Key
 * injection into an OS initrd.
 *
 * Contract:
 * - Writer: an in-memory "newc" (070701) archive; names are stored without a
 *   leading '/'; parent directories must be added explicitly (cpio_add_dir);
 *   cpio_finish() appends TRAILER!!! and pads to 512 bytes. No files on disk.
 * - Reader: cpio_walk() walks an initramfs image made of concatenated
 *   segments, as the kernel unpacks it: zero padding, plain newc/crc cpio
 *   (up to TRAILER!!!), gzip (zlib), xz (liblzma) and zstd (libzstd)
 *   compressed segments (each decompressed segment may itself hold several
 *   archives). Bounded: CPIO_MAX_UNPACKED bytes decompressed in total,
 *   CPIO_MAX_ENTRIES entries; unknown magic is -EBADMSG, truncation -EBADMSG.
 *   The callback sees every entry (name without leading "./" or "/").
 * - Injection: initrd_inject_key() returns a memfd holding the original
 *   initrd, zero padded to a 512-byte boundary, followed by a newc archive
 *   with /secret.key (mode 0400, bytes from the struct secret) and the
 *   crypttab files built from the override lines. The memfd is sealed and
 *   lives only in memory.
 * - Crypttab overrides (heads-behaviour.md 4.6, kexec_initrd_crypttab_
 *   overrides.txt): a line is "<path in initrd>:<crypttab line>". The path
 *   ends at the first ':' and the whole remainder is the crypttab line
 *   (lines containing ':' are kept intact). Only the key-file field (3rd) is
 *   set to /secret.key when it is "none", "-" or missing; other fields are
 *   never rewritten. Files are rebuilt from scratch each time (no
 *   duplicates).
 * All functions return 0 (or an fd) on success, a negative errno on failure.
 */
#ifndef HEADS_CPIO_H
#define HEADS_CPIO_H

#include "secret.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CPIO_MAX_UNPACKED (512u * 1024 * 1024)
#define CPIO_MAX_ENTRIES 200000
#define CPIO_MAX_NAME 4096

struct cpio_writer {
	uint8_t *buf;
	size_t len, cap;
	unsigned ino;
};

void cpio_writer_init(struct cpio_writer *w);
/* Regular file (mode: permission bits, e.g. 0400). */
int cpio_add_file(struct cpio_writer *w, const char *name, mode_t mode,
		  const void *data, size_t len);
int cpio_add_dir(struct cpio_writer *w, const char *name, mode_t mode);
/* Append the trailer and pad to 512 bytes. */
int cpio_finish(struct cpio_writer *w);
/* Wipe (the archive may hold a key) and free. */
void cpio_writer_free(struct cpio_writer *w);

struct cpio_entry {
	const char *name;    /* normalised: no leading "./" or "/" */
	uint32_t mode;       /* full st_mode */
	const uint8_t *data; /* file content (regular files, symlink target) */
	size_t size;
	unsigned segment;    /* 0-based segment index in the image */
};
/* Return 0 to continue, >0 to stop successfully, <0 to abort with that error. */
typedef int (*cpio_visit_fn)(const struct cpio_entry *e, void *userdata);
int cpio_walk(const void *image, size_t len, cpio_visit_fn fn, void *userdata);

/* Build the override lines from an initrd image: every regular file whose
 * path contains "crypttab", each non-comment, non-empty line with the key
 * field set to /secret.key. *ret is the text of
 * kexec_initrd_crypttab_overrides.txt ("" when there is no crypttab, so
 * the caller removes the file); caller frees. */
int initrd_crypttab_overrides(const void *image, size_t len, char **ret);

/* Build the injected initrd: see above. overrides may be NULL or "" (then
 * no crypttab file is added). Returns a memfd (>= 0) positioned at 0, sealed
 * against shrinking and growing; it stays writable for initrd_wipe() only
 * (it never leaves this process but to the kernel or kexec-tools). */
int initrd_inject_key(int initrd_fd, const struct secret *key, const char *overrides);
/* Overwrite the whole memfd with zeros (a boot that did not happen must not
 * leave the key in memory). */
int initrd_wipe(int fd);

#endif
