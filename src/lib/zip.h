/* zip.h - a bounded reader of ZIP archives in memory (PKWARE APPNOTE
 * 6.3.x), for the reference's firmware update packages (a .rom and its
 * sha256sum.txt).
 *
 * Contract:
 * - The end of central directory record is searched in the last 65 557
 *   bytes (22 + the longest comment); one disk only; ZIP64 (any 0xffff /
 *   0xffffffff field) is refused (-EOPNOTSUPP); at most ZIP_MAX_ENTRIES
 *   entries; the central directory must lie inside the buffer and every
 *   entry be whole (-EBADMSG otherwise).
 * - Names: 1..ZIP_NAME_MAX bytes, no NUL, no backslash; directories (a name
 *   ending in '/') are listed but cannot be extracted.
 * - Extraction: method 0 (stored) or 8 (deflate, zlib raw inflate);
 *   encrypted entries and other methods -EOPNOTSUPP. The local header must
 *   agree with the central directory (signature, name, method); the data
 *   must lie inside the buffer; the output is bounded by max (-EFBIG) and
 *   must be exactly the uncompressed size with the CRC-32 the directory
 *   states (-EBADMSG).
 * All functions return 0 or a negative errno; nothing is logged.
 */
#ifndef HEADS_ZIP_H
#define HEADS_ZIP_H

#include <stddef.h>
#include <stdint.h>

#define ZIP_MAX_ENTRIES 256u
#define ZIP_NAME_MAX 255u

struct zip_entry {
	char *name;
	uint16_t method, flags;
	uint32_t crc, csize, usize, local_offset;
};

struct zip {
	const uint8_t *buf; /* not owned */
	size_t len;
	struct zip_entry *v;
	size_t n;
};

int zip_parse(const uint8_t *buf, size_t len, struct zip *ret);
void zip_free(struct zip *z);
/* The entry named name exactly, or NULL. */
const struct zip_entry *zip_find(const struct zip *z, const char *name);
/* The entry's bytes in a new buffer (*ret_len = usize). */
int zip_extract(const struct zip *z, const struct zip_entry *e, size_t max, uint8_t **ret,
		size_t *ret_len);

#endif
