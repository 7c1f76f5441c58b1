/* cbfs_write.c - add, replace and remove CBFS files (see cbfs_write.h). */
#include "cbfs_write.h"
#include "cbfs.h"
#include "log.h"
#include "romcfg.h"
#include "util.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define FILE_HEADER_LEN 24u
#define EMPTY_HEADER_LEN 0x1cu /* 24 + "" rounded up to 4 */
#define OWNER_PREFIX "heads/initrd/"

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint64_t align64(uint64_t v)
{
	return (v + CBFS_ALIGN - 1) / CBFS_ALIGN * CBFS_ALIGN;
}

static bool is_free(const struct cbfs_file *f)
{
	return f->type == CBFS_TYPE_NULL || f->type == CBFS_TYPE_DELETED;
}

/* The space an entry occupies: its header up to the 64-aligned end of its
 * data, never past the region. */
static uint32_t space_end(const struct cbfs *c, const struct cbfs_file *f)
{
	uint64_t e = align64((uint64_t)f->rom_data + f->len);
	uint64_t region_end = (uint64_t)c->region_offset + c->region_size;
	return (uint32_t)(e < region_end ? e : region_end);
}

/* An empty entry at pos with len data bytes (all 0xff). */
static void write_empty_len(uint8_t *rom, uint32_t pos, uint32_t len)
{
	memset(rom + pos, 0xff, EMPTY_HEADER_LEN + len);
	memcpy(rom + pos, "LARCHIVE", 8);
	put_be32(rom + pos + 8, len);
	put_be32(rom + pos + 12, CBFS_TYPE_NULL);
	put_be32(rom + pos + 16, 0);
	put_be32(rom + pos + 20, EMPTY_HEADER_LEN);
	memset(rom + pos + FILE_HEADER_LEN, 0, EMPTY_HEADER_LEN - FILE_HEADER_LEN);
}

/* An empty entry at pos covering [pos, end). */
static void write_empty(uint8_t *rom, uint32_t pos, uint32_t end)
{
	write_empty_len(rom, pos, end - pos - EMPTY_HEADER_LEN);
}

static int parse(const uint8_t *rom, size_t len, const char *region, struct cbfs *c)
{
	int r = cbfs_parse(rom, len, region, c);
	if (r < 0)
		return r == -ENOENT ? -ENOENT : -EBADMSG;
	if (c->region_offset % CBFS_ALIGN) {
		cbfs_free(c);
		return -ENOTSUP;
	}
	/* An FMAP inside the CBFS region would be overwritten by an edit
	 * (and the region lost with it): not a layout we write. */
	if (c->has_fmap && (uint64_t)c->fmap.offset + c->fmap.len > c->region_offset &&
	    c->fmap.offset < (uint64_t)c->region_offset + c->region_size) {
		cbfs_free(c);
		return -EBADMSG;
	}
	return 0;
}

/* After an edit: the image still parses with the same FMAP and region (a
 * file's bytes holding an FMAP signature found before the real one would
 * change what every reader sees). */
static int same_layout(const uint8_t *rom, size_t len, const char *region, const uint8_t *before)
{
	struct cbfs a, b;
	int r = cbfs_parse(before, len, region, &a);
	if (r < 0)
		return -EBADMSG;
	r = cbfs_parse(rom, len, region, &b);
	if (r == 0) {
		if (a.has_fmap != b.has_fmap || a.region_offset != b.region_offset ||
		    a.region_size != b.region_size || (a.has_fmap && a.fmap.offset != b.fmap.offset))
			r = -EBADMSG;
		cbfs_free(&b);
	} else {
		r = -EBADMSG;
	}
	cbfs_free(&a);
	return r;
}

static int check_name(const char *name)
{
	size_t l = name ? strlen(name) : 0;
	if (l == 0 || l > CBFS_WRITE_NAME_MAX)
		return -EINVAL;
	for (size_t i = 0; i < l; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return -EINVAL;
	return 0;
}

/* Every run of adjacent empty entries becomes one empty entry reaching the
 * next file (cbfstool rewrites single empty entries too). */
static int merge_empty(uint8_t *rom, size_t len, const char *region)
{
	struct cbfs c;
	int r = parse(rom, len, region, &c);
	if (r < 0)
		return r;
	for (size_t i = 0; i < c.n; i++) {
		size_t j = i;
		if (!is_free(&c.files[i]))
			continue;
		while (j + 1 < c.n && is_free(&c.files[j + 1]) &&
		       c.files[j + 1].rom_header == align64((uint64_t)c.files[j].rom_data + c.files[j].len))
			j++;
		write_empty(rom, c.files[i].rom_header, space_end(&c, &c.files[j]));
		i = j;
	}
	cbfs_free(&c);
	return 0;
}

static int remove_in(uint8_t *rom, size_t len, const char *region, const char *name)
{
	struct cbfs c;
	const struct cbfs_file *f;
	int r = parse(rom, len, region, &c);
	if (r < 0)
		return r;
	f = cbfs_find(&c, name);
	if (!f) {
		cbfs_free(&c);
		return -ENOENT;
	}
	write_empty(rom, f->rom_header, space_end(&c, f));
	cbfs_free(&c);
	return merge_empty(rom, len, region);
}

static int add_in(uint8_t *rom, size_t len, const char *region, const char *name,
		  uint32_t type, const void *data, size_t n)
{
	struct cbfs c;
	size_t nl = strlen(name);
	uint32_t hdr = FILE_HEADER_LEN + (uint32_t)((nl + 1 + 3) / 4 * 4);
	int r = merge_empty(rom, len, region); /* as cbfstool add does first */
	if (r < 0)
		return r;
	r = parse(rom, len, region, &c);
	if (r < 0)
		return r;
	if (cbfs_find(&c, name)) {
		cbfs_free(&c);
		return -EEXIST;
	}
	if (n > c.region_size) {
		cbfs_free(&c);
		return -ENOSPC;
	}
	for (size_t i = 0; i < c.n; i++) {
		const struct cbfs_file *f = &c.files[i];
		uint32_t p = f->rom_header, e = space_end(&c, f);
		uint64_t q;
		if (!is_free(f) || (uint64_t)hdr + n > e - p)
			continue;
		q = align64((uint64_t)p + hdr + n);
		memset(rom + p, 0xff, e - p);
		memcpy(rom + p, "LARCHIVE", 8);
		put_be32(rom + p + 8, (uint32_t)n);
		put_be32(rom + p + 12, type);
		put_be32(rom + p + 16, 0);
		put_be32(rom + p + 20, hdr);
		memset(rom + p + FILE_HEADER_LEN, 0, hdr - FILE_HEADER_LEN);
		memcpy(rom + p + FILE_HEADER_LEN, name, nl);
		if (n)
			memcpy(rom + p + hdr, data, n);
		if (q < e && e - q >= EMPTY_HEADER_LEN) {
			/* cbfstool keeps the last 4 bytes of the region free (the
			 * legacy master header pointer) when the new empty entry
			 * would reach them. */
			uint32_t elen = e - (uint32_t)q - EMPTY_HEADER_LEN;
			if (q + EMPTY_HEADER_LEN + elen > (uint64_t)c.region_offset + c.region_size - 4)
				elen -= 4;
			write_empty_len(rom, (uint32_t)q, elen);
		}
		cbfs_free(&c);
		return 0;
	}
	cbfs_free(&c);
	return -ENOSPC;
}

enum edit_op { EDIT_ADD, EDIT_REMOVE, EDIT_REPLACE };

/* One edit, all or nothing: on any failure (including a layout that the
 * edit would change outside the CBFS files) the image is as it was. */
static int edit(enum edit_op op, uint8_t *rom, size_t len, const char *region, const char *name,
		uint32_t type, const void *data, size_t n)
{
	_cleanup_free_ uint8_t *save = NULL;
	int r = 0;

	if (check_name(name) < 0 ||
	    (op != EDIT_REMOVE && (type == CBFS_TYPE_NULL || type == CBFS_TYPE_DELETED)))
		return -EINVAL;
	if (len > CBFS_MAX_IMAGE)
		return -EFBIG;
	save = xmalloc(len ? len : 1);
	memcpy(save, rom, len);
	if (op != EDIT_ADD) {
		r = remove_in(rom, len, region, name);
		if (op == EDIT_REPLACE && r == -ENOENT)
			r = 0;
	}
	if (r == 0 && op != EDIT_REMOVE)
		r = add_in(rom, len, region, name, type, data, n);
	if (r == 0)
		r = same_layout(rom, len, region, save);
	if (r < 0)
		memcpy(rom, save, len); /* (also the merge before the placement) */
	return r;
}

int cbfs_add_file(uint8_t *rom, size_t len, const char *region, const char *name,
		  uint32_t type, const void *data, size_t n)
{
	return edit(EDIT_ADD, rom, len, region, name, type, data, n);
}

int cbfs_remove_file(uint8_t *rom, size_t len, const char *region, const char *name)
{
	return edit(EDIT_REMOVE, rom, len, region, name, 0, NULL, 0);
}

int cbfs_replace_file(uint8_t *rom, size_t len, const char *region, const char *name,
		      uint32_t type, const void *data, size_t n)
{
	return edit(EDIT_REPLACE, rom, len, region, name, type, data, n);
}

/* to's owner files replaced by c's, in work (to_len bytes). */
static int set_owner_files(uint8_t *work, size_t len, const struct romcfg *c)
{
	struct cbfs cb;
	char *drop[ROMCFG_MAX_FILES];
	size_t ndrop = 0;
	int r = parse(work, len, NULL, &cb);
	if (r < 0)
		return r;
	for (size_t i = 0; i < cb.n && r == 0; i++) {
		const struct cbfs_file *f = &cb.files[i];
		if (is_free(f) || !startswith(f->name, OWNER_PREFIX) ||
		    romcfg_name_ok(f->name + strlen(OWNER_PREFIX)) < 0)
			continue;
		if (ndrop >= ROMCFG_MAX_FILES)
			r = -E2BIG;
		else
			drop[ndrop++] = xstrdup(f->name);
	}
	cbfs_free(&cb);
	for (size_t i = 0; i < ndrop && r == 0; i++)
		r = remove_in(work, len, NULL, drop[i]);
	for (size_t i = 0; i < ndrop; i++)
		free(drop[i]);
	for (size_t i = 0; c && i < c->n && r == 0; i++) {
		_cleanup_free_ char *name = NULL;
		if (romcfg_name_ok(c->v[i].name) < 0)
			return -EINVAL;
		name = xasprintf(OWNER_PREFIX "%s", c->v[i].name);
		r = add_in(work, len, NULL, name, CBFS_TYPE_RAW, c->v[i].data, c->v[i].len);
	}
	return r;
}

int cbfs_set_owner_files(uint8_t *img, size_t len, const struct romcfg *c)
{
	_cleanup_free_ uint8_t *work = NULL;
	int r;
	if (len > CBFS_MAX_IMAGE)
		return -EFBIG;
	work = xmalloc(len ? len : 1);
	memcpy(work, img, len);
	r = set_owner_files(work, len, c);
	if (r == 0)
		r = same_layout(work, len, NULL, img);
	if (r == 0)
		memcpy(img, work, len);
	return r;
}

int cbfs_carry_owner_files(const uint8_t *from, size_t from_len, uint8_t *to, size_t to_len,
			   size_t *ret_n)
{
	struct romcfg c = {.slot = -1};
	int r = romcfg_parse_cbfs(from, from_len, &c);
	if (r < 0)
		return r;
	r = cbfs_set_owner_files(to, to_len, &c);
	if (r == 0 && ret_n)
		*ret_n = c.n;
	romcfg_free(&c);
	return r;
}
