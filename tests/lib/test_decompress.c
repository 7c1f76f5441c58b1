/* Unit tests of decompress: the decoders against the libraries' own
 * encoders (an independent oracle: zlib deflate, liblzma easy encoder,
 * libzstd), multi-member files, truncation, trailing garbage, and the
 * output bound (a decompression bomb stops at the limit). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <lzma.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "decompress.h"
#include "util.h"

static uint8_t *gz(const void *in, size_t len, size_t *ret_len)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY), Z_OK);
	size_t cap = deflateBound(&z, len) + 64;
	uint8_t *out = xmalloc(cap);
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	*ret_len = cap - z.avail_out;
	deflateEnd(&z);
	return out;
}

static uint8_t *xz(const void *in, size_t len, size_t *ret_len)
{
	size_t cap = lzma_stream_buffer_bound(len), pos = 0;
	uint8_t *out = xmalloc(cap);
	assert_int_equal(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC64, NULL, in, len, out, &pos, cap),
			 LZMA_OK);
	*ret_len = pos;
	return out;
}

static uint8_t *zst(const void *in, size_t len, size_t *ret_len)
{
	size_t cap = ZSTD_compressBound(len);
	uint8_t *out = xmalloc(cap);
	ZSTD_CCtx *c = ZSTD_createCCtx();
	assert_non_null(c);
	/* with the frame checksum, as zstd(1) writes by default */
	ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
	size_t n = ZSTD_compress2(c, out, cap, in, len);
	ZSTD_freeCCtx(c);
	assert_false(ZSTD_isError(n));
	*ret_len = n;
	return out;
}

struct buf {
	uint8_t *p;
	size_t n;
};

static int collect(const uint8_t *p, size_t n, void *ud)
{
	struct buf *b = ud;
	b->p = xrealloc(b->p, b->n + n);
	memcpy(b->p + b->n, p, n);
	b->n += n;
	return 0;
}

static uint8_t *sample(size_t n)
{
	uint8_t *s = xmalloc(n);
	uint32_t x = 12345;
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		s[i] = (i % 7 == 0) ? (uint8_t)(x >> 24) : (uint8_t)"ELF Xen dom0 "[i % 13];
	}
	return s;
}

static void test_detect(void **state)
{
	(void)state;
	assert_int_equal(decompress_detect("\x1f\x8b\x08\x00", 4), DECOMPRESS_GZIP);
	assert_int_equal(decompress_detect("\xfd" "7zXZ\0", 6), DECOMPRESS_XZ);
	assert_int_equal(decompress_detect("\x28\xb5\x2f\xfd", 4), DECOMPRESS_ZSTD);
	assert_int_equal(decompress_detect("\x7f" "ELF", 4), DECOMPRESS_NONE);
	assert_int_equal(decompress_detect("\x1f", 1), DECOMPRESS_NONE);
	assert_string_equal(decompress_format_name(DECOMPRESS_XZ), "xz");
}

static void test_roundtrip_each_format(void **state)
{
	(void)state;
	size_t n = 1024 * 1024 + 17, clen;
	uint8_t *s = sample(n);
	uint8_t *(*enc[])(const void *, size_t, size_t *) = {gz, xz, zst};
	enum decompress_format fmt[] = {DECOMPRESS_GZIP, DECOMPRESS_XZ, DECOMPRESS_ZSTD};
	for (size_t i = 0; i < 3; i++) {
		uint8_t *c = enc[i](s, n, &clen);
		struct buf b = {0};
		assert_int_equal(decompress_detect(c, clen), fmt[i]);
		assert_int_equal(decompress_stream(c, clen, fmt[i], n, "x", collect, &b), 0);
		assert_int_equal(b.n, n);
		assert_memory_equal(b.p, s, n);
		free(b.p);
		/* one byte less room than the output: refused */
		b = (struct buf){0};
		assert_int_equal(decompress_stream(c, clen, fmt[i], n - 1, "x", collect, &b), -EFBIG);
		assert_true(b.n <= n - 1);
		free(b.p);
		/* truncated */
		b = (struct buf){0};
		assert_int_equal(decompress_stream(c, clen / 2, fmt[i], n, "x", collect, &b), -EBADMSG);
		free(b.p);
		/* garbage after the stream */
		uint8_t *g = xmalloc(clen + 3);
		memcpy(g, c, clen);
		memcpy(g + clen, "abc", 3);
		b = (struct buf){0};
		assert_int_equal(decompress_stream(g, clen + 3, fmt[i], n, "x", collect, &b), -EBADMSG);
		free(b.p);
		/* a flipped byte in the middle is caught (CRC/checksum) */
		memcpy(g, c, clen);
		g[clen / 2] ^= 0x40;
		b = (struct buf){0};
		assert_int_equal(decompress_stream(g, clen, fmt[i], n, "x", collect, &b), -EBADMSG);
		free(b.p);
		free(g);
		free(c);
	}
	free(s);
}

static void test_concatenated_streams(void **state)
{
	(void)state;
	uint8_t *(*enc[])(const void *, size_t, size_t *) = {gz, xz, zst};
	enum decompress_format fmt[] = {DECOMPRESS_GZIP, DECOMPRESS_XZ, DECOMPRESS_ZSTD};
	for (size_t i = 0; i < 3; i++) {
		size_t l1, l2;
		uint8_t *a = enc[i]("first\n", 6, &l1), *b2 = enc[i]("second\n", 7, &l2);
		uint8_t *c = xmalloc(l1 + l2);
		memcpy(c, a, l1);
		memcpy(c + l1, b2, l2);
		struct buf b = {0};
		assert_int_equal(decompress_stream(c, l1 + l2, fmt[i], 100, "x", collect, &b), 0);
		assert_int_equal(b.n, 13);
		assert_memory_equal(b.p, "first\nsecond\n", 13);
		free(b.p);
		free(a);
		free(b2);
		free(c);
	}
}

/* 64 MiB of zeros in ~64 KiB of gzip: stops at a 1 MiB bound without
 * producing (or allocating) more than the bound. */
static void test_bomb_bounded(void **state)
{
	(void)state;
	size_t n = 64u * 1024 * 1024, clen;
	uint8_t *zeros = xcalloc(1, n);
	uint8_t *c = gz(zeros, n, &clen);
	free(zeros);
	assert_true(clen < 1024 * 1024);
	int fd = memfd_create("bomb", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write_full(fd, c, clen), 0);
	uint64_t size = 0;
	assert_int_equal(decompress_to_memfd(fd, clen, DECOMPRESS_GZIP, 1024 * 1024, "/boot/bomb.gz",
					     &size, NULL),
			 -EFBIG);
	assert_int_equal(size, 0);
	close(fd);
	free(c);
}

static void test_to_memfd_sealed_and_hashed(void **state)
{
	(void)state;
	size_t n = 100000, clen;
	uint8_t *s = sample(n), *c = zst(s, n, &clen), md[32], want[32];
	int in = memfd_create("in", MFD_CLOEXEC);
	assert_true(in >= 0);
	assert_int_equal(write_full(in, c, clen), 0);
	uint64_t size = 0;
	int fd = decompress_to_memfd(in, clen, DECOMPRESS_ZSTD, n, "/boot/x.zst", &size, md);
	assert_true(fd >= 0);
	assert_int_equal(size, n);
	SHA256(s, n, want);
	assert_memory_equal(md, want, 32);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 0);
	int seals = fcntl(fd, F_GET_SEALS);
	assert_true(seals & F_SEAL_WRITE);
	assert_true(seals & F_SEAL_GROW);
	assert_int_equal(write(fd, "x", 1), -1);
	uint8_t *back = xmalloc(n);
	assert_int_equal(pread(fd, back, n, 0), (ssize_t)n);
	assert_memory_equal(back, s, n);
	free(back);
	close(fd);
	close(in);
	free(s);
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_detect),
		cmocka_unit_test(test_roundtrip_each_format),
		cmocka_unit_test(test_concatenated_streams),
		cmocka_unit_test(test_bomb_bounded),
		cmocka_unit_test(test_to_memfd_sealed_and_hashed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
