/* decompress.c - gzip/xz/zstd whole-file decoding, bounded (decompress.h). */
#include "decompress.h"
#include "hash.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <lzma.h>
#include <string.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define CHUNK (256u * 1024)

const char *decompress_format_name(enum decompress_format f)
{
	switch (f) {
	case DECOMPRESS_GZIP:
		return "gzip";
	case DECOMPRESS_XZ:
		return "xz";
	case DECOMPRESS_ZSTD:
		return "zstd";
	default:
		return "none";
	}
}

enum decompress_format decompress_detect(const void *head, size_t len)
{
	static const uint8_t gz[] = {0x1f, 0x8b, 0x08};
	static const uint8_t xz[] = {0xfd, '7', 'z', 'X', 'Z', 0x00};
	static const uint8_t zs[] = {0x28, 0xb5, 0x2f, 0xfd};
	if (len >= sizeof(gz) && memcmp(head, gz, sizeof(gz)) == 0)
		return DECOMPRESS_GZIP;
	if (len >= sizeof(xz) && memcmp(head, xz, sizeof(xz)) == 0)
		return DECOMPRESS_XZ;
	if (len >= sizeof(zs) && memcmp(head, zs, sizeof(zs)) == 0)
		return DECOMPRESS_ZSTD;
	return DECOMPRESS_NONE;
}

struct out {
	uint64_t total, max;
	const char *name;
	decompress_sink_fn sink;
	void *ud;
};

static int emit(struct out *o, const uint8_t *p, size_t n)
{
	if (n == 0)
		return 0;
	if (n > o->max - o->total)
		return log_error_errno(-EFBIG,
				       "%s: decompresses to more than %llu bytes (refused: too large "
				       "or a decompression bomb)",
				       o->name, (unsigned long long)o->max);
	o->total += n;
	return o->sink(p, n, o->ud);
}

/* Bytes after a finished stream: another stream of the same format, else
 * an error. Returns true if one starts at in+off. */
static int check_tail(struct out *o, const uint8_t *in, size_t len, size_t off,
		      enum decompress_format f)
{
	if (off >= len)
		return 0;
	if (decompress_detect(in + off, len - off) == f)
		return 1;
	return log_error_errno(-EBADMSG, "%s: %zu bytes of trailing data after the %s stream",
			       o->name, len - off, decompress_format_name(f));
}

static int un_gzip(struct out *o, const uint8_t *in, size_t len)
{
	_cleanup_free_ uint8_t *buf = xmalloc(CHUNK);
	size_t off = 0;
	int r;

	for (;;) {
		z_stream z;
		memset(&z, 0, sizeof(z));
		if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
			return log_error_errno(-ENOMEM, "%s: zlib init", o->name);
		z.next_in = (Bytef *)(in + off);
		r = 0;
		size_t left = len - off;
		int zr = Z_OK;
		while (zr != Z_STREAM_END) {
			/* avail_in is 32-bit: feed at most 1 GiB at a time */
			if (z.avail_in == 0 && left > 0) {
				z.avail_in = left > (1u << 30) ? (1u << 30) : (uInt)left;
				left -= z.avail_in;
			}
			z.next_out = buf;
			z.avail_out = CHUNK;
			zr = inflate(&z, Z_NO_FLUSH);
			if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
				r = log_error_errno(-EBADMSG, "%s: gzip data corrupt (%s)", o->name,
						    z.msg ? z.msg : "inflate error");
				break;
			}
			r = emit(o, buf, CHUNK - z.avail_out);
			if (r < 0)
				break;
			if (zr == Z_BUF_ERROR && z.avail_in == 0 && left == 0) {
				r = log_error_errno(-EBADMSG, "%s: gzip data truncated", o->name);
				break;
			}
		}
		size_t used = (size_t)((const uint8_t *)z.next_in - (in + off));
		inflateEnd(&z);
		if (r < 0)
			return r;
		off += used;
		r = check_tail(o, in, len, off, DECOMPRESS_GZIP);
		if (r <= 0)
			return r;
	}
}

static int un_xz(struct out *o, const uint8_t *in, size_t len)
{
	_cleanup_free_ uint8_t *buf = xmalloc(CHUNK);
	lzma_stream s = LZMA_STREAM_INIT;
	int r = 0;

	/* LZMA_CONCATENATED: several .xz streams one after another (and
	 * stream padding), as xz -d reads them */
	if (lzma_stream_decoder(&s, 256u * 1024 * 1024, LZMA_CONCATENATED) != LZMA_OK)
		return log_error_errno(-ENOMEM, "%s: liblzma init", o->name);
	s.next_in = in;
	s.avail_in = len;
	for (;;) {
		s.next_out = buf;
		s.avail_out = CHUNK;
		lzma_ret lr = lzma_code(&s, LZMA_FINISH);
		r = emit(o, buf, CHUNK - s.avail_out);
		if (r < 0)
			break;
		if (lr == LZMA_STREAM_END)
			break;
		if (lr == LZMA_BUF_ERROR) {
			r = log_error_errno(-EBADMSG, "%s: xz data truncated", o->name);
			break;
		}
		if (lr == LZMA_MEMLIMIT_ERROR) {
			r = log_error_errno(-EFBIG, "%s: xz stream needs too much memory", o->name);
			break;
		}
		if (lr != LZMA_OK) {
			r = log_error_errno(-EBADMSG, "%s: xz data corrupt (liblzma error %d)", o->name,
					    (int)lr);
			break;
		}
	}
	lzma_end(&s);
	return r;
}

static int un_zstd(struct out *o, const uint8_t *in, size_t len)
{
	_cleanup_free_ uint8_t *buf = xmalloc(CHUNK);
	ZSTD_DCtx *d = ZSTD_createDCtx();
	ZSTD_inBuffer ib = {in, len, 0};
	size_t zr = 1;
	int r = 0;

	if (!d)
		return log_error_errno(-ENOMEM, "%s: zstd init", o->name);
	/* refuse frames whose window needs more than 128 MiB of memory */
	ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, 27);
	/* until the input is consumed and nothing is left buffered */
	while (r == 0 && (ib.pos < ib.size || zr != 0)) {
		ZSTD_outBuffer ob = {buf, CHUNK, 0};
		bool had_input = ib.pos < ib.size;
		zr = ZSTD_decompressStream(d, &ob, &ib);
		if (ZSTD_isError(zr)) {
			r = log_error_errno(-EBADMSG, "%s: zstd data corrupt (%s)", o->name,
					    ZSTD_getErrorName(zr));
			break;
		}
		r = emit(o, buf, ob.pos);
		if (r == 0 && !had_input && zr != 0 && ob.pos == 0)
			r = log_error_errno(-EBADMSG, "%s: zstd data truncated", o->name);
	}
	ZSTD_freeDCtx(d);
	return r;
}

int decompress_stream(const void *in, size_t len, enum decompress_format f, uint64_t max_out,
		      const char *name, decompress_sink_fn sink, void *userdata)
{
	struct out o = {.max = max_out, .name = name ? name : "(file)", .sink = sink, .ud = userdata};
	switch (f) {
	case DECOMPRESS_GZIP:
		return un_gzip(&o, in, len);
	case DECOMPRESS_XZ:
		return un_xz(&o, in, len);
	case DECOMPRESS_ZSTD:
		return un_zstd(&o, in, len);
	default:
		return log_error_errno(-EINVAL, "%s: not a compressed file", o.name);
	}
}

struct memfd_sink {
	int fd;
	struct hash_ctx *md;
};

static int to_memfd(const uint8_t *p, size_t n, void *ud)
{
	struct memfd_sink *s = ud;
	int r = hash_update(s->md, p, n);
	if (r < 0)
		return r;
	return write_full(s->fd, p, n);
}

int decompress_to_memfd(int fd, uint64_t len, enum decompress_format f, uint64_t max_out,
			const char *name, uint64_t *ret_size, uint8_t *ret_sha256)
{
	struct memfd_sink s = {.fd = -1};
	void *map = MAP_FAILED;
	uint8_t md[HASH_SHA256_LEN];
	int r;

	if (len == 0 || len > SIZE_MAX)
		return log_error_errno(-EBADMSG, "%s: empty or too large to decompress", name);
	map = mmap(NULL, (size_t)len, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED)
		return log_error_errno(-errno, "%s: cannot map for decompression: %m", name);
	s.fd = memfd_create("heads-unpacked", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (s.fd < 0) {
		r = log_error_errno(-errno, "memfd_create: %m");
		goto out;
	}
	if ((r = hash_new(HASH_SHA256, &s.md)) < 0) {
		r = log_error_errno(r, "SHA-256 init");
		goto out;
	}
	r = decompress_stream(map, (size_t)len, f, max_out, name, to_memfd, &s);
	if (r < 0)
		goto out;
	if (hash_final(s.md, md) < 0) {
		r = log_error_errno(-EIO, "SHA-256 final");
		goto out;
	}
	off_t size = lseek(s.fd, 0, SEEK_CUR);
	if (size < 0 || lseek(s.fd, 0, SEEK_SET) < 0 ||
	    fcntl(s.fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
		r = log_error_errno(-errno, "%s: cannot seal the decompressed copy: %m", name);
		goto out;
	}
	if (ret_size)
		*ret_size = (uint64_t)size;
	if (ret_sha256)
		memcpy(ret_sha256, md, 32);
	r = TAKE_FD(s.fd);
out:
	if (s.fd >= 0)
		close(s.fd);
	hash_free(s.md);
	munmap(map, (size_t)len);
	return r;
}
