/* cbfs.h - coreboot's boot ROM format, read-only: FMAP and CBFS.
 *
 * From coreboot's documented format (Documentation/lib/fmap.md, cbfs.md;
 * commonlib/bsd/cbfs_serialized.h, fmap_serialized.h):
 * - FMAP: "__FMAP__", u8 major (1), u8 minor, u64 base, u32 size, name[32],
 *   u16 nareas, then nareas x {u32 offset, u32 size, name[32], u16 flags};
 *   little-endian. Found by searching the image for the signature (the
 *   first one that validates). An image without an FMAP is one flat CBFS
 *   (as cbfstool treats it).
 * - CBFS (in the region "COREBOOT" by default): file headers at 64-byte
 *   aligned offsets: "LARCHIVE", u32 len, u32 type, u32 attributes_offset,
 *   u32 offset (data, from the header start), NUL-terminated name; all
 *   big-endian. Attributes (tag, len, body; 4-aligned) between
 *   attributes_offset and offset: compression (u32 algorithm, u32
 *   decompressed size), hash (u8 vb2 algorithm, digest), others skipped.
 *   Walk: an aligned offset without the magic is skipped; a header whose
 *   fields do not fit in the region ends the walk with -EBADMSG.
 * Bounded: image <= CBFS_MAX_IMAGE, at most CBFS_MAX_FILES files, header
 * + name + attributes <= CBFS_METADATA_MAX (256, coreboot's limit).
 * Offsets in struct cbfs_file are from the start of the CBFS region (what
 * `cbfstool print` shows) and from the image start (rom_*).
 * Returns 0 or a negative errno (-EBADMSG malformed, -ENOENT not found).
 */
#ifndef HEADS_CBFS_H
#define HEADS_CBFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CBFS_MAX_IMAGE (64u * 1024 * 1024)
#define CBFS_MAX_FILES 4096u
#define CBFS_METADATA_MAX 256u
#define CBFS_ALIGN 64u
#define FMAP_NAME_LEN 32
#define FMAP_MAX_AREAS 256u
#define CBFS_DEFAULT_REGION "COREBOOT"

enum {
	CBFS_TYPE_DELETED = 0,
	CBFS_TYPE_BOOTBLOCK = 0x01,
	CBFS_TYPE_CBFSHEADER = 0x02,
	CBFS_TYPE_LEGACY_STAGE = 0x10,
	CBFS_TYPE_STAGE = 0x11,
	CBFS_TYPE_SELF = 0x20,
	CBFS_TYPE_FIT_PAYLOAD = 0x21,
	CBFS_TYPE_RAW = 0x50,
	CBFS_TYPE_MRC = 0x61,
	CBFS_TYPE_MRC_CACHE = 0xac,
	CBFS_TYPE_NULL = 0xffffffffu,
};
enum { CBFS_COMPRESS_NONE = 0, CBFS_COMPRESS_LZMA = 1, CBFS_COMPRESS_LZ4 = 2, CBFS_COMPRESS_ZSTD = 3 };

struct fmap_area {
	char name[FMAP_NAME_LEN + 1];
	uint32_t offset, size;
	uint16_t flags;
};

struct fmap {
	uint32_t offset; /* of the FMAP structure in the image */
	uint32_t len;    /* bytes of the structure (header + areas) */
	uint64_t base;
	uint32_t size;
	char name[FMAP_NAME_LEN + 1];
	size_t n;
	struct fmap_area *areas;
};

struct cbfs_file {
	char *name;            /* "" for empty space */
	uint32_t type;
	uint32_t offset;       /* header, from the CBFS region start */
	uint32_t len;          /* stored data bytes */
	uint32_t rom_header;   /* header, from the image start */
	uint32_t rom_data;     /* data, from the image start */
	uint32_t compression;  /* CBFS_COMPRESS_* */
	uint32_t decompressed_size; /* = len when not compressed */
	bool has_hash;
	uint8_t hash_algo;     /* vb2: 1 SHA-1, 2 SHA-256, 3 SHA-512, 4 SHA-384 */
	uint8_t hash[64];
	size_t hash_len;
};

struct cbfs {
	const uint8_t *rom; /* not owned */
	size_t rom_len;
	bool has_fmap;
	struct fmap fmap;   /* valid when has_fmap */
	uint32_t region_offset, region_size;
	size_t n;
	struct cbfs_file *files; /* in ROM order */
};

/* Find and parse the FMAP of an image. -ENOENT: none. */
int fmap_parse(const void *rom, size_t len, struct fmap *ret);
void fmap_free(struct fmap *f);
const struct fmap_area *fmap_find(const struct fmap *f, const char *name);

/* Parse the CBFS in region (NULL: "COREBOOT"; a flat image has only that)
 * of rom (kept referenced by ret->rom). */
int cbfs_parse(const void *rom, size_t len, const char *region, struct cbfs *ret);
void cbfs_free(struct cbfs *c);
/* The first file named name (empty entries never match). */
const struct cbfs_file *cbfs_find(const struct cbfs *c, const char *name);
/* Stored bytes of a file (inside c->rom). */
const uint8_t *cbfs_data(const struct cbfs *c, const struct cbfs_file *f);
/* The file's content, decompressed (LZMA; NONE copies); bounded by
 * decompressed_size <= CBFS_MAX_IMAGE. -ENOTSUP for LZ4/ZSTD. */
int cbfs_read(const struct cbfs *c, const struct cbfs_file *f, uint8_t **ret, size_t *ret_len);

/* `cbfstool print`'s names: "stage", "raw", "simple elf", ... "(unknown)". */
const char *cbfs_type_name(uint32_t type);
const char *cbfs_compression_name(uint32_t c);

/* Read an image file (or a device) of at most CBFS_MAX_IMAGE bytes. */
int cbfs_load_image(const char *path, uint8_t **ret, size_t *ret_len);

#endif
