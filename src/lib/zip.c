/* zip.c - bounded ZIP reader (see zip.h). */
#include "zip.h"
#include "util.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define EOCD_SIG 0x06054b50u
#define CDIR_SIG 0x02014b50u
#define LOCAL_SIG 0x04034b50u
#define EOCD_LEN 22u
#define CDIR_LEN 46u
#define LOCAL_LEN 30u

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void zip_free(struct zip *z)
{
	for (size_t i = 0; i < z->n; i++)
		free(z->v[i].name);
	free(z->v);
	*z = (struct zip){0};
}

static bool name_ok(const uint8_t *p, size_t n)
{
	if (n == 0 || n > ZIP_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] == 0 || p[i] == '\\')
			return false;
	return true;
}

int zip_parse(const uint8_t *buf, size_t len, struct zip *ret)
{
	struct zip z = {.buf = buf, .len = len};
	size_t eocd = SIZE_MAX, lo, pos;
	uint32_t cd_off, cd_size;
	uint16_t n, disk, cd_disk, n_disk;

	if (len < EOCD_LEN)
		return -EBADMSG;
	lo = len - EOCD_LEN > 65535 ? len - EOCD_LEN - 65535 : 0;
	for (size_t i = len - EOCD_LEN + 1; i-- > lo;) {
		if (le32(buf + i) == EOCD_SIG && i + EOCD_LEN + le16(buf + i + 20) == len) {
			eocd = i;
			break;
		}
	}
	if (eocd == SIZE_MAX)
		return -EBADMSG;
	disk = le16(buf + eocd + 4);
	cd_disk = le16(buf + eocd + 6);
	n_disk = le16(buf + eocd + 8);
	n = le16(buf + eocd + 10);
	cd_size = le32(buf + eocd + 12);
	cd_off = le32(buf + eocd + 16);
	if (n == 0xffff || cd_size == 0xffffffffu || cd_off == 0xffffffffu)
		return -EOPNOTSUPP; /* ZIP64 */
	if (disk != 0 || cd_disk != 0 || n_disk != n)
		return -EOPNOTSUPP; /* multi-disk */
	if (n > ZIP_MAX_ENTRIES)
		return -E2BIG;
	if (cd_off > eocd || cd_size > eocd - cd_off)
		return -EBADMSG;
	pos = cd_off;
	z.v = n ? xcalloc(n, sizeof(*z.v)) : NULL;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *p = buf + pos;
		struct zip_entry *e = &z.v[i];
		size_t nl, xl, cl;
		if (cd_off + cd_size - pos < CDIR_LEN || le32(p) != CDIR_SIG)
			goto bad;
		nl = le16(p + 28);
		xl = le16(p + 30);
		cl = le16(p + 32);
		if (cd_off + cd_size - pos - CDIR_LEN < nl + xl + cl || !name_ok(p + CDIR_LEN, nl))
			goto bad;
		e->flags = le16(p + 8);
		e->method = le16(p + 10);
		e->crc = le32(p + 16);
		e->csize = le32(p + 20);
		e->usize = le32(p + 24);
		e->local_offset = le32(p + 42);
		if (e->csize == 0xffffffffu || e->usize == 0xffffffffu ||
		    e->local_offset == 0xffffffffu) {
			z.n = i;
			zip_free(&z);
			return -EOPNOTSUPP;
		}
		e->name = xstrndup((const char *)p + CDIR_LEN, nl);
		z.n = i + 1;
		pos += CDIR_LEN + nl + xl + cl;
	}
	*ret = z;
	return 0;
bad:
	zip_free(&z);
	return -EBADMSG;
}

const struct zip_entry *zip_find(const struct zip *z, const char *name)
{
	for (size_t i = 0; i < z->n; i++)
		if (streq(z->v[i].name, name))
			return &z->v[i];
	return NULL;
}

static int inflate_raw(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len)
{
	z_stream s = {0};
	int r;

	if (inflateInit2(&s, -MAX_WBITS) != Z_OK)
		return -ENOMEM;
	s.next_in = (Bytef *)in;
	s.avail_in = (uInt)in_len;
	s.next_out = out;
	s.avail_out = (uInt)out_len;
	r = inflate(&s, Z_FINISH);
	/* Z_BUF_ERROR with no room left: the stream is longer than stated */
	bool ok = r == Z_STREAM_END && s.total_out == out_len;
	inflateEnd(&s);
	return ok ? 0 : -EBADMSG;
}

int zip_extract(const struct zip *z, const struct zip_entry *e, size_t max, uint8_t **ret,
		size_t *ret_len)
{
	const uint8_t *p;
	size_t nl, xl, data;
	uint8_t *out;
	int r;

	if (!*e->name || e->name[strlen(e->name) - 1] == '/')
		return -EISDIR;
	if (e->flags & 1u)
		return -EOPNOTSUPP; /* encrypted */
	if (e->method != 0 && e->method != 8)
		return -EOPNOTSUPP;
	if (e->usize > max)
		return -EFBIG;
	if (e->local_offset > z->len || z->len - e->local_offset < LOCAL_LEN)
		return -EBADMSG;
	p = z->buf + e->local_offset;
	nl = le16(p + 26);
	xl = le16(p + 28);
	if (le32(p) != LOCAL_SIG || le16(p + 8) != e->method || nl != strlen(e->name) ||
	    z->len - e->local_offset - LOCAL_LEN < nl + xl ||
	    memcmp(p + LOCAL_LEN, e->name, nl) != 0)
		return -EBADMSG;
	data = e->local_offset + LOCAL_LEN + nl + xl;
	if (e->csize > z->len - data)
		return -EBADMSG;
	if (e->method == 0 && e->csize != e->usize)
		return -EBADMSG;
	out = xmalloc(e->usize ? e->usize : 1);
	if (e->method == 0) {
		memcpy(out, z->buf + data, e->usize);
		r = 0;
	} else {
		r = inflate_raw(z->buf + data, e->csize, out, e->usize);
	}
	if (r == 0 && crc32(crc32(0L, Z_NULL, 0), out, e->usize) != e->crc)
		r = -EBADMSG;
	if (r < 0) {
		free(out);
		return r;
	}
	*ret = out;
	*ret_len = e->usize;
	return 0;
}
