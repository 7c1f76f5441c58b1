/* iso9660.h - a bounded, read-only ISO 9660 reader (ECMA-119) over a file
 * descriptor, with Rock Ridge (SUSP NM/CE) and Joliet names.
 *
 * Why our own: the bytes an ISO boots must be the bytes its signature
 * covered. Reading the image directly from the verified descriptor needs no
 * loop device and no kernel file-system driver parsing untrusted media
 * (the host test machines have no iso9660 driver at all).
 *
 * Contract:
 * - Every read goes through the caller's read function (iso9660_pread: a
 *   pread() on a borrowed fd; iso.h: reads checked against the digests of
 *   the verified pass), bounds-checked against the image size given.
 * - Names: Rock Ridge NM if the image has SUSP ("SP" in the root's "."
 *   record), else Joliet (UCS-2, from the supplementary descriptor), else
 *   the ISO name lowercased with ";N" and a trailing '.' removed. A name
 *   that is empty, "." / "..", or holds '/', a NUL or a control byte is
 *   skipped. Rock Ridge symlinks (SL), relocated directories (RE/CL) and
 *   multi-extent files are skipped (logged at debug level).
 * - Bounds: ISO9660_MAX_DEPTH directory levels, ISO9660_MAX_FILES records
 *   in all, ISO9660_MAX_DIR bytes per directory, ISO9660_MAX_CE
 *   continuation areas per record; an extent beyond the image is refused.
 *   A malformed image is -EINVAL (or -E2BIG over a bound), logged once with
 *   the byte offset.
 * All functions return 0 or a negative errno.
 */
#ifndef HEADS_ISO9660_H
#define HEADS_ISO9660_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ISO9660_SECTOR 2048u
#define ISO9660_MAX_DEPTH 16
#define ISO9660_MAX_FILES 65536
#define ISO9660_MAX_DIR (4u * 1024 * 1024)
#define ISO9660_MAX_CE 8

struct iso9660_file {
	char *path;      /* "/boot/grub/grub.cfg" */
	bool dir;
	uint64_t offset; /* byte offset of the data in the image */
	uint64_t size;
};

struct iso9660_tree {
	struct iso9660_file *v; /* directories before their contents */
	size_t n;
	char volume_id[33];     /* the PVD's volume identifier, trailing blanks removed */
	bool rock_ridge, joliet;
};

/* Read len bytes at off into buf, all or an error (-errno, logged). */
typedef int (*iso9660_read_fn)(void *ctx, uint64_t off, size_t len, uint8_t *buf);
/* The plain one: ctx points to an int fd. */
int iso9660_pread(void *ctx, uint64_t off, size_t len, uint8_t *buf);

/* Walk the whole image of size bytes. */
int iso9660_list(iso9660_read_fn read, void *ctx, uint64_t size, struct iso9660_tree *ret);
void iso9660_tree_free(struct iso9660_tree *t);

/* The file at path ("/a/b" or "a/b"), or NULL. */
const struct iso9660_file *iso9660_find(const struct iso9660_tree *t, const char *path);

/* Read a whole file into a NUL-terminated buffer; -EFBIG above max. */
int iso9660_read(iso9660_read_fn read, void *ctx, const struct iso9660_file *f, size_t max,
		 char **ret, size_t *ret_len);

/* Parse from memory (the fuzz target and unit tests). */
int iso9660_list_mem(const uint8_t *data, size_t size, struct iso9660_tree *ret);

#endif
