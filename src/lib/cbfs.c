/* cbfs.c - FMAP and CBFS reader (see cbfs.h). */
#include "cbfs.h"
#include "fs.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>

#define FMAP_HEADER_LEN 56 /* 8 + 1 + 1 + 8 + 4 + 32 + 2 */
#define FMAP_AREA_LEN 42   /* 4 + 4 + 32 + 2 */
#define CBFS_FILE_HEADER_LEN 24

#define ATTR_COMPRESSION 0x42435a4cu
#define ATTR_HASH 0x68736148u

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}
static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[1] << 8 | p[0]); }
static uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p + 4) << 32 | le32(p); }

/* A name field of n bytes: NUL-terminated inside it (or exactly n). */
static void copy_name(char *dst, const uint8_t *src, size_t n)
{
	size_t i;
	for (i = 0; i < n && src[i]; i++)
		dst[i] = (char)src[i];
	dst[i] = '\0';
}

void fmap_free(struct fmap *f)
{
	if (!f)
		return;
	free(f->areas);
	f->areas = NULL;
	f->n = 0;
}

/* The FMAP at off, if one validates there. */
static int fmap_at(const uint8_t *rom, size_t len, size_t off, struct fmap *ret)
{
	const uint8_t *p = rom + off;
	size_t n;

	if (len - off < FMAP_HEADER_LEN || memcmp(p, "__FMAP__", 8) || p[8] != 1)
		return -EBADMSG;
	n = le16(p + 54);
	if (n > FMAP_MAX_AREAS || (len - off - FMAP_HEADER_LEN) / FMAP_AREA_LEN < n)
		return -EBADMSG;
	memset(ret, 0, sizeof(*ret));
	ret->offset = (uint32_t)off;
	ret->len = (uint32_t)(FMAP_HEADER_LEN + n * FMAP_AREA_LEN);
	ret->base = le64(p + 10);
	ret->size = le32(p + 18);
	copy_name(ret->name, p + 22, FMAP_NAME_LEN);
	ret->n = n;
	ret->areas = xcalloc(n ? n : 1, sizeof(*ret->areas));
	for (size_t i = 0; i < n; i++) {
		const uint8_t *a = p + FMAP_HEADER_LEN + i * FMAP_AREA_LEN;
		ret->areas[i].offset = le32(a);
		ret->areas[i].size = le32(a + 4);
		copy_name(ret->areas[i].name, a + 8, FMAP_NAME_LEN);
		ret->areas[i].flags = le16(a + 40);
	}
	return 0;
}

int fmap_parse(const void *rom_, size_t len, struct fmap *ret)
{
	const uint8_t *rom = rom_;
	size_t off = 0;

	if (len > CBFS_MAX_IMAGE)
		return -EFBIG;
	while (off + 8 <= len) {
		const uint8_t *hit = memmem(rom + off, len - off, "__FMAP__", 8);
		if (!hit)
			break;
		off = (size_t)(hit - rom);
		if (fmap_at(rom, len, off, ret) == 0)
			return 0;
		off++;
	}
	return -ENOENT;
}

const struct fmap_area *fmap_find(const struct fmap *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (streq(f->areas[i].name, name))
			return &f->areas[i];
	return NULL;
}

void cbfs_free(struct cbfs *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		free(c->files[i].name);
	free(c->files);
	fmap_free(&c->fmap);
	memset(c, 0, sizeof(*c));
}

static size_t vb2_digest_size(uint8_t algo)
{
	switch (algo) {
	case 1: return 20;
	case 2: return 32;
	case 3: return 64;
	case 4: return 48;
	default: return 0;
	}
}

/* Attributes between a and end (both inside the metadata). */
static int parse_attributes(const uint8_t *a, const uint8_t *end, struct cbfs_file *f)
{
	while (end - a >= 8) {
		uint32_t tag = be32(a), alen = be32(a + 4);
		if (tag == 0 || tag == 0xffffffffu)
			break; /* unused: end of the list */
		if (alen < 8 || alen % 4 || alen > (size_t)(end - a))
			return -EBADMSG;
		if (tag == ATTR_COMPRESSION) {
			if (alen < 16)
				return -EBADMSG;
			f->compression = be32(a + 8);
			f->decompressed_size = be32(a + 12);
		} else if (tag == ATTR_HASH && !f->has_hash) {
			size_t dl;
			if (alen < 9)
				return -EBADMSG;
			dl = vb2_digest_size(a[8]);
			if (dl && alen >= 9 + dl) {
				f->has_hash = true;
				f->hash_algo = a[8];
				f->hash_len = dl;
				memcpy(f->hash, a + 9, dl);
			}
		}
		a += alen;
	}
	return 0;
}

int cbfs_parse(const void *rom_, size_t len, const char *region, struct cbfs *ret)
{
	const uint8_t *rom = rom_;
	struct cbfs c = {.rom = rom, .rom_len = len};
	size_t cap = 0;
	uint64_t pos, end;
	int r;

	if (!region)
		region = CBFS_DEFAULT_REGION;
	if (len > CBFS_MAX_IMAGE)
		return -EFBIG;
	r = fmap_parse(rom, len, &c.fmap);
	if (r == 0) {
		const struct fmap_area *a = fmap_find(&c.fmap, region);
		c.has_fmap = true;
		if (!a) {
			log_debug("cbfs: no FMAP region %s", region);
			cbfs_free(&c);
			return -ENOENT;
		}
		if (a->offset > len || a->size > len - a->offset) {
			log_debug("cbfs: region %s outside the image", region);
			cbfs_free(&c);
			return -EBADMSG;
		}
		c.region_offset = a->offset;
		c.region_size = a->size;
	} else {
		if (!streq(region, CBFS_DEFAULT_REGION))
			return -ENOENT;
		c.region_offset = 0;
		c.region_size = (uint32_t)len;
	}

	pos = c.region_offset;
	end = (uint64_t)c.region_offset + c.region_size;
	while (pos + CBFS_FILE_HEADER_LEN <= end) {
		const uint8_t *h = rom + pos;
		uint32_t flen, type, aoff, doff;
		struct cbfs_file f = {0};
		size_t name_max;

		if (memcmp(h, "LARCHIVE", 8)) {
			pos += CBFS_ALIGN;
			continue;
		}
		flen = be32(h + 8);
		type = be32(h + 12);
		aoff = be32(h + 16);
		doff = be32(h + 20);
		if (doff < CBFS_FILE_HEADER_LEN || doff > CBFS_METADATA_MAX ||
		    pos + doff > end || flen > end - pos - doff ||
		    (aoff && (aoff < CBFS_FILE_HEADER_LEN || aoff > doff))) {
			log_debug("cbfs: bad file header at 0x%llx", (unsigned long long)pos);
			cbfs_free(&c);
			return -EBADMSG;
		}
		name_max = (aoff ? aoff : doff) - CBFS_FILE_HEADER_LEN;
		if (!memchr(h + CBFS_FILE_HEADER_LEN, 0, name_max)) {
			log_debug("cbfs: unterminated name at 0x%llx", (unsigned long long)pos);
			cbfs_free(&c);
			return -EBADMSG;
		}
		if (c.n >= CBFS_MAX_FILES) {
			cbfs_free(&c);
			return -E2BIG;
		}
		f.type = type;
		f.len = flen;
		f.decompressed_size = flen;
		f.offset = (uint32_t)(pos - c.region_offset);
		f.rom_header = (uint32_t)pos;
		f.rom_data = (uint32_t)(pos + doff);
		if (aoff && parse_attributes(h + aoff, h + doff, &f) < 0) {
			log_debug("cbfs: bad attributes at 0x%llx", (unsigned long long)pos);
			cbfs_free(&c);
			return -EBADMSG;
		}
		f.name = xstrdup((const char *)h + CBFS_FILE_HEADER_LEN);
		c.files = xgrow(c.files, &cap, c.n, sizeof(*c.files));
		c.files[c.n++] = f;
		pos += doff + (uint64_t)flen;
		pos = (pos + CBFS_ALIGN - 1) / CBFS_ALIGN * CBFS_ALIGN;
	}
	*ret = c;
	return 0;
}

const struct cbfs_file *cbfs_find(const struct cbfs *c, const char *name)
{
	if (!*name)
		return NULL;
	for (size_t i = 0; i < c->n; i++)
		if (c->files[i].type != CBFS_TYPE_NULL && c->files[i].type != CBFS_TYPE_DELETED &&
		    streq(c->files[i].name, name))
			return &c->files[i];
	return NULL;
}

const uint8_t *cbfs_data(const struct cbfs *c, const struct cbfs_file *f)
{
	return c->rom + f->rom_data;
}

/* coreboot's LZMA: the .lzma ("alone") header (props, dict size, u64 size). */
static int unlzma(const uint8_t *in, size_t in_len, size_t out_len, uint8_t **ret)
{
	lzma_stream s = LZMA_STREAM_INIT;
	uint8_t *out = xmalloc(out_len ? out_len : 1);
	lzma_ret lr;

	if (lzma_alone_decoder(&s, 256u << 20) != LZMA_OK) {
		free(out);
		return -ENOMEM;
	}
	s.next_in = in;
	s.avail_in = in_len;
	s.next_out = out;
	s.avail_out = out_len;
	lr = lzma_code(&s, LZMA_FINISH);
	if ((lr != LZMA_STREAM_END && !(lr == LZMA_OK && s.avail_out == 0)) || s.avail_out) {
		lzma_end(&s);
		free(out);
		return -EBADMSG;
	}
	lzma_end(&s);
	*ret = out;
	return 0;
}

int cbfs_read(const struct cbfs *c, const struct cbfs_file *f, uint8_t **ret, size_t *ret_len)
{
	const uint8_t *d = cbfs_data(c, f);
	uint8_t *out;
	int r;

	switch (f->compression) {
	case CBFS_COMPRESS_NONE:
		out = xmalloc(f->len ? f->len : 1);
		memcpy(out, d, f->len);
		*ret = out;
		*ret_len = f->len;
		return 0;
	case CBFS_COMPRESS_LZMA:
		if (f->decompressed_size > CBFS_MAX_IMAGE)
			return -EFBIG;
		r = unlzma(d, f->len, f->decompressed_size, &out);
		if (r < 0)
			return r;
		*ret = out;
		*ret_len = f->decompressed_size;
		return 0;
	default:
		return -ENOTSUP;
	}
}

const char *cbfs_type_name(uint32_t type)
{
	static const struct {
		uint32_t t;
		const char *n;
	} names[] = {
		{0x01, "bootblock"}, {0x02, "cbfs header"}, {0x10, "legacy stage"},
		{0x11, "stage"}, {0x20, "simple elf"}, {0x21, "fit_payload"},
		{0x30, "optionrom"}, {0x40, "bootsplash"}, {0x50, "raw"}, {0x51, "vsa"},
		{0x52, "mbi"}, {0x53, "microcode"}, {0x54, "intel_fit"}, {0x60, "fsp"},
		{0x61, "mrc"}, {0xaa, "cmos_default"}, {0x1aa, "cmos_layout"}, {0xab, "spd"},
		{0xac, "mrc_cache"}, {0x62, "mma"}, {0x63, "efi"}, {0x70, "struct"},
		{0x00, "deleted"}, {0xffffffffu, "null"}, {0x80, "amdfw"},
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].t == type)
			return names[i].n;
	return "(unknown)";
}

const char *cbfs_compression_name(uint32_t c)
{
	switch (c) {
	case CBFS_COMPRESS_NONE: return "none";
	case CBFS_COMPRESS_LZMA: return "LZMA";
	case CBFS_COMPRESS_LZ4: return "LZ4";
	case CBFS_COMPRESS_ZSTD: return "ZSTD";
	default: return "????";
	}
}

int cbfs_load_image(const char *path, uint8_t **ret, size_t *ret_len)
{
	char *buf;
	size_t n;
	int r = fs_read_file(path, CBFS_MAX_IMAGE, &buf, &n);
	if (r < 0)
		return r;
	*ret = (uint8_t *)buf;
	*ret_len = n;
	return 0;
}
