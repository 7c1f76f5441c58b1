/* cbfs_write.h - editing the CBFS of a coreboot image in memory: add,
 * replace and remove a file, as cbfstool does (checked byte for byte
 * against Debian's cbfstool 4.15 in tests/cmd/test_cbfs_write.py).
 *
 * Contract (format: cbfs.h):
 * - The image is parsed with cbfs_parse() first (bounded; -EBADMSG on a
 *   malformed CBFS, nothing changed). Region NULL = "COREBOOT". An FMAP
 *   inside the region is refused (-EBADMSG): an edit could overwrite it.
 * - Free space is the empty entries (type null 0xffffffff, or deleted 0).
 *   Adding first merges empty entries (below), then puts the file into the
 *   first empty entry it fits in (first fit, in ROM order): header
 *   "LARCHIVE", len, type, attributes offset 0, data offset 24 + the name
 *   and its NUL rounded up to 4 bytes (cbfstool's header for an
 *   uncompressed raw file: no attributes), the data, 0xff up to the next
 *   64-byte boundary; the rest of the space, if it holds an empty header
 *   (0x1c bytes), becomes a new empty entry there (name "", data offset
 *   0x1c, content 0xff, len up to the end of the space, less 4 bytes when
 *   it reaches the end of the region: cbfstool keeps room for the legacy
 *   master header pointer). A file that fits nowhere is -ENOSPC.
 * - Removing turns the file into empty space (its bytes and name set to
 *   0xff / 0), then every run of adjacent empty entries becomes one
 *   (cbfstool's merge, which rewrites single empty entries too): the empty
 *   header at the start of the run, its len up to the 64-aligned end of
 *   the run (never past the region).
 * - Names are compared exactly (cbfstool compares them ignoring case).
 * - Names: 1..CBFS_WRITE_NAME_MAX bytes, no control bytes; an existing
 *   name is -EEXIST for add (replace removes it first). Data <= the region.
 * - After an edit the image must parse with the same FMAP (offset) and
 *   region, else the edit is undone (-EBADMSG): a file's bytes holding a
 *   valid FMAP found before the real one would change what readers see.
 * - On any error the image is unchanged.
 * Returns 0 or a negative errno.
 */
#ifndef HEADS_CBFS_WRITE_H
#define HEADS_CBFS_WRITE_H

#include <stddef.h>
#include <stdint.h>

#define CBFS_WRITE_NAME_MAX 200u

int cbfs_add_file(uint8_t *rom, size_t len, const char *region, const char *name,
		  uint32_t type, const void *data, size_t n);
/* Remove name (-ENOENT if absent). */
int cbfs_remove_file(uint8_t *rom, size_t len, const char *region, const char *name);
/* Remove name if present, then add (the image is unchanged if the add fails). */
int cbfs_replace_file(uint8_t *rom, size_t len, const char *region, const char *name,
		      uint32_t type, const void *data, size_t n);

/* The owner's files: CBFS "heads/initrd/" + a name romcfg_name_ok accepts
 * (the ROM keyring, etc/config.user). Set: every owner file of img is
 * removed, then c's files are added as raw files in c's (name) order.
 * Carry: the owner files of image from (read as romcfg_parse_cbfs does,
 * decompressed) set into image to; *ret_n: how many. */
struct romcfg;
int cbfs_set_owner_files(uint8_t *img, size_t len, const struct romcfg *c);
int cbfs_carry_owner_files(const uint8_t *from, size_t from_len, uint8_t *to, size_t to_len,
			   size_t *ret_n);

#endif
