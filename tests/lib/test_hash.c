/* Unit tests of hash.h: FIPS 180 vectors, the fd path against the buffer
 * path (mapped windows, a file past one window, a pipe, the offset left
 * alone), streaming, and a file truncated while mapped (-EIO, no crash). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "codec.h"
#include "hash.h"

static void hex_of(const uint8_t *d, size_t n, char *out)
{
	hex_encode(d, n, out);
}

static void test_vectors(void **state)
{
	uint8_t d[HASH_MAX_LEN];
	char hex[65];
	(void)state;

	assert_int_equal(hash_buf(HASH_SHA256, "abc", 3, d), 0);
	hex_of(d, 32, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(hash_buf(HASH_SHA1, "abc", 3, d), 0);
	hex_of(d, 20, hex);
	assert_string_equal(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
	assert_int_equal(hash_sha256_hex("", 0, hex), 0);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_int_equal(hash_len(HASH_SHA1), 20);
	assert_int_equal(hash_len(HASH_SHA256), 32);
}

static uint8_t *pattern(size_t n)
{
	uint8_t *p = malloc(n);
	uint32_t x = 2463534242u;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		p[i] = (uint8_t)x;
	}
	return p;
}

static int file_with(const uint8_t *p, size_t n)
{
	int fd = memfd_create("hash-test", MFD_CLOEXEC);
	assert_true(fd >= 0);
	for (size_t d = 0; d < n;) {
		ssize_t k = write(fd, p + d, n - d);
		assert_true(k > 0);
		d += (size_t)k;
	}
	return fd;
}

static void sum_bytes(void *ud, uint64_t n)
{
	*(uint64_t *)ud += n;
}

static void test_fd_matches_buffer(void **state)
{
	/* 0 bytes, one byte, one chunk, past the 8 MiB mapping window */
	static const size_t sizes[] = {0, 1, HASH_FD_CHUNK, (9u << 20) + 123};
	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];
		uint8_t *p = pattern(n ? n : 1);
		uint8_t a[32], b[32], c[20], e[20];
		uint64_t size = 0, seen = 0;
		int fd = file_with(p, n);
		off_t pos = lseek(fd, 0, SEEK_CUR);
		struct hash_fd_opts o = {.progress = sum_bytes, .userdata = &seen};

		assert_int_equal(hash_buf(HASH_SHA256, p, n, a), 0);
		assert_int_equal(hash_fd(HASH_SHA256, fd, &o, b, &size), 0);
		assert_memory_equal(a, b, 32);
		assert_int_equal(size, n);
		assert_int_equal(seen, n);
		assert_int_equal(lseek(fd, 0, SEEK_CUR), pos); /* offset untouched */
		assert_int_equal(hash_buf(HASH_SHA1, p, n, c), 0);
		assert_int_equal(hash_fd(HASH_SHA1, fd, NULL, e, NULL), 0);
		assert_memory_equal(c, e, 20);
		close(fd);
		free(p);
	}
}

static void test_fd_grown_file_counts(void **state)
{
	/* A size given smaller than the file (it grew after fstat): the rest
	 * is read and hashed too. */
	size_t n = 300000;
	uint8_t *p = pattern(n);
	uint8_t a[32], b[32];
	uint64_t size = 0;
	int fd = file_with(p, n);
	struct hash_fd_opts o = {.size = 4096, .have_size = true};
	(void)state;

	assert_int_equal(hash_sha256(p, n, a), 0);
	assert_int_equal(hash_fd(HASH_SHA256, fd, &o, b, &size), 0);
	assert_memory_equal(a, b, 32);
	assert_int_equal(size, n);
	close(fd);
	free(p);
}

static void test_fd_pipe(void **state)
{
	int pfd[2];
	uint8_t a[32], b[32];
	static const char text[] = "a pipe has no size and no offset";
	(void)state;

	assert_int_equal(pipe(pfd), 0);
	assert_int_equal(write(pfd[1], text, strlen(text)), (ssize_t)strlen(text));
	close(pfd[1]);
	assert_int_equal(hash_sha256(text, strlen(text), a), 0);
	assert_int_equal(hash_fd(HASH_SHA256, pfd[0], NULL, b, NULL), 0);
	assert_memory_equal(a, b, 32);
	close(pfd[0]);
}

static void test_streaming(void **state)
{
	size_t n = 100000;
	uint8_t *p = pattern(n);
	uint8_t a[32], b[32];
	struct hash_ctx *c = NULL;
	(void)state;

	assert_int_equal(hash_sha256(p, n, a), 0);
	assert_int_equal(hash_new(HASH_SHA256, &c), 0);
	assert_int_equal(hash_update(c, "garbage", 7), 0);
	assert_int_equal(hash_reset(c), 0);
	for (size_t d = 0; d < n; d += 777)
		assert_int_equal(hash_update(c, p + d, n - d < 777 ? n - d : 777), 0);
	assert_int_equal(hash_final(c, b), 0);
	assert_memory_equal(a, b, 32);
	hash_free(c);
	hash_free(NULL);
	free(p);
}

struct shrink {
	int fd;
	bool done;
};

static void truncate_after_first_chunk(void *ud, uint64_t n)
{
	struct shrink *s = ud;
	(void)n;
	if (!s->done)
		assert_int_equal(ftruncate(s->fd, 0), 0);
	s->done = true;
}

static void test_fd_truncated_while_mapped(void **state)
{
	/* The file loses its pages after the first chunk is hashed: the next
	 * access to the mapping raises SIGBUS, which hash_fd turns into -EIO. */
	size_t n = 3 * HASH_FD_CHUNK;
	uint8_t *p = pattern(n);
	uint8_t out[32] = {0}, zero[32] = {0};
	int fd = file_with(p, n);
	struct shrink s = {.fd = fd};
	struct hash_fd_opts o = {.progress = truncate_after_first_chunk, .userdata = &s};
	(void)state;

	assert_int_equal(hash_fd(HASH_SHA256, fd, &o, out, NULL), -EIO);
	assert_true(s.done);
	assert_memory_equal(out, zero, 32); /* untouched on failure */
	/* again in the same thread: SIGBUS must not have stayed blocked by
	 * the first jump (a blocked fault signal kills the process) */
	assert_int_equal(ftruncate(fd, 0), 0);
	for (size_t d = 0; d < n;) {
		ssize_t k = pwrite(fd, p + d, n - d, (off_t)d);
		assert_true(k > 0);
		d += (size_t)k;
	}
	s.done = false;
	assert_int_equal(hash_fd(HASH_SHA256, fd, &o, out, NULL), -EIO);
	assert_true(s.done);
	/* and the file (now empty) hashes fine afterwards */
	assert_int_equal(hash_fd(HASH_SHA256, fd, NULL, out, NULL), 0);
	close(fd);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_fd_matches_buffer),
		cmocka_unit_test(test_fd_grown_file_counts),
		cmocka_unit_test(test_fd_pipe),
		cmocka_unit_test(test_streaming),
		cmocka_unit_test(test_fd_truncated_while_mapped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
