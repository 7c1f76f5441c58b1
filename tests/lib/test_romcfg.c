/* romcfg: slot encoding round trip, refusals, seq/slot choice on an image
 * file, PCR 7 event order and fold (checked against OpenSSL directly). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "romcfg.h"
#include "util.h"

#define SLOT 8192

static void h(const void *a, size_t n, uint8_t out[32])
{
	unsigned len = 32;
	EVP_Digest(a, n, out, &len, EVP_sha256(), NULL);
}

static void h1(const void *a, size_t n, uint8_t out[20])
{
	unsigned len = 20;
	EVP_Digest(a, n, out, &len, EVP_sha1(), NULL);
}

static void test_encode_parse_round_trip(void **state)
{
	(void)state;
	struct romcfg c = {.slot = -1}, back;
	uint8_t *buf = xmalloc(SLOT);
	assert_int_equal(romcfg_set(&c, "etc/config.user", "a=1\n", 4), 0);
	assert_int_equal(romcfg_set(&c, ".gnupg/pubring.kbx", "\0kbx", 4), 0);
	assert_int_equal(romcfg_set(&c, "etc/config.user", "a=2\n", 4), 0); /* replace */
	assert_int_equal(c.n, 2);
	assert_string_equal(c.v[0].name, ".gnupg/pubring.kbx"); /* sorted */
	assert_int_equal(romcfg_encode(&c, 7, buf, SLOT), 0);
	assert_int_equal(romcfg_parse_slot(buf, SLOT, &back), 0);
	assert_int_equal(back.seq, 7);
	assert_int_equal(back.n, 2);
	assert_memory_equal(back.v[1].data, "a=2\n", 4);
	assert_memory_equal(back.v[0].data, "\0kbx", 4);
	romcfg_free(&back);
	/* One flipped payload bit: checksum. */
	buf[ROMCFG_HEADER_SIZE + 3] ^= 1;
	assert_int_equal(romcfg_parse_slot(buf, SLOT, &back), -EBADMSG);
	memset(buf, 0, SLOT);
	assert_int_equal(romcfg_parse_slot(buf, SLOT, &back), -ENODATA);
	memset(buf, 0xff, SLOT);
	assert_int_equal(romcfg_parse_slot(buf, SLOT, &back), -ENODATA);
	/* Does not fit. */
	assert_int_equal(romcfg_encode(&c, 1, buf, 256), -ENOSPC);
	romcfg_free(&c);
	free(buf);
}

static void test_names(void **state)
{
	(void)state;
	assert_int_equal(romcfg_name_ok("etc/config.user"), 0);
	assert_int_equal(romcfg_name_ok(".gnupg/trustdb.gpg"), 0);
	assert_int_equal(romcfg_name_ok(".gnupg/private-keys-v1.d"), -EINVAL);
	assert_int_equal(romcfg_name_ok("/etc/config.user"), -EINVAL);
	assert_int_equal(romcfg_name_ok("etc/config"), -EINVAL);
	assert_int_equal(romcfg_name_ok(".gnupg/../init"), -EINVAL);
	struct romcfg c = {.slot = -1};
	assert_int_equal(romcfg_set(&c, "init", "x", 1), -EINVAL);
	assert_int_equal(romcfg_remove(&c, "etc/config.user"), -ENOENT);
}

static void test_write_alternates_and_recovers(void **state)
{
	(void)state;
	char path[] = "/tmp/test-romcfg-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 2 * SLOT), 0);
	close(fd);
	struct romcfg c = {.slot = -1}, r;
	assert_int_equal(romcfg_read(path, &r), 0);
	assert_int_equal(r.slot, -1);
	assert_int_equal(romcfg_set(&c, "etc/config.user", "v1", 2), 0);
	assert_int_equal(romcfg_write(path, &c), 0);
	assert_int_equal(c.slot, 0);
	assert_int_equal(c.seq, 1);
	assert_int_equal(romcfg_set(&c, "etc/config.user", "v2", 2), 0);
	assert_int_equal(romcfg_write(path, &c), 0);
	assert_int_equal(c.slot, 1);
	assert_int_equal(c.seq, 2);
	/* A write from a stale copy (seq 0) still goes above the device's. */
	struct romcfg stale = {.slot = -1};
	assert_int_equal(romcfg_set(&stale, "etc/config.user", "v3", 2), 0);
	assert_int_equal(romcfg_write(path, &stale), 0);
	assert_int_equal(stale.slot, 0);
	assert_int_equal(stale.seq, 3);
	assert_int_equal(romcfg_read(path, &r), 0);
	assert_int_equal(r.seq, 3);
	assert_memory_equal(r.v[0].data, "v3", 2);
	romcfg_free(&r);
	assert_int_equal(romcfg_erase(path), 0);
	assert_int_equal(romcfg_read(path, &r), 0);
	assert_int_equal(r.slot, -1);
	romcfg_free(&c);
	romcfg_free(&stale);
	unlink(path);
}

static void test_events_and_fold(void **state)
{
	(void)state;
	char board[] = "/tmp/test-romcfg-board-XXXXXX";
	int fd = mkstemp(board);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "B\n", 2), 2);
	close(fd);
	struct romcfg c = {.slot = -1};
	struct romcfg_event *ev;
	size_t n;
	assert_int_equal(romcfg_set(&c, "etc/config.user", "U", 1), 0);
	/* user file is ignored: the ROM has one. */
	assert_int_equal(romcfg_events(&c, board, "/nonexistent", "sha256", &ev, &n), 0);
	assert_int_equal(n, 4);
	uint8_t d[32], state0[32] = {1}, s[32], buf[64], out[32];
	/* Recorded under the payload's name, wherever it was read from. */
	assert_string_equal(ev[0].description, "/etc/config");
	h("/etc/config", 11, d);
	assert_memory_equal(ev[0].digest, d, 32);
	h("B\n", 2, d);
	assert_memory_equal(ev[1].digest, d, 32);
	assert_string_equal(ev[2].description, "/etc/config.user");
	h("/etc/config.user", 16, d);
	assert_memory_equal(ev[2].digest, d, 32);
	h("U", 1, d);
	assert_memory_equal(ev[3].digest, d, 32);
	memcpy(s, state0, 32);
	for (size_t i = 0; i < n; i++) {
		memcpy(buf, s, 32);
		memcpy(buf + 32, ev[i].digest, 32);
		h(buf, 64, s);
	}
	assert_int_equal(romcfg_fold("sha256", state0, ev, n, out), 0);
	assert_memory_equal(out, s, 32);
	romcfg_events_free(ev, n);
	/* Missing board file: skipped, not an error. */
	assert_int_equal(romcfg_events(NULL, "/nonexistent", NULL, "sha256", &ev, &n), 0);
	assert_int_equal(n, 0);
	romcfg_events_free(ev, n);
	/* The SHA-1 bank (TPM 1.2): SHA-1 digests, zero-padded; the fold is
	 * PCR := SHA1(PCR || digest) over 20 bytes. */
	assert_int_equal(romcfg_events(&c, board, "/nonexistent", "sha1", &ev, &n), 0);
	assert_int_equal(n, 4);
	uint8_t z[12] = {0}, s1[32] = {0};
	h1("/etc/config", 11, d);
	assert_memory_equal(ev[0].digest, d, 20);
	assert_memory_equal(ev[0].digest + 20, z, 12);
	h1("U", 1, d);
	assert_memory_equal(ev[3].digest, d, 20);
	memcpy(s1, state0, 20);
	for (size_t i = 0; i < n; i++) {
		memcpy(buf, s1, 20);
		memcpy(buf + 20, ev[i].digest, 20);
		h1(buf, 40, s1);
	}
	assert_int_equal(romcfg_fold("sha1", state0, ev, n, out), 0);
	assert_memory_equal(out, s1, 20);
	assert_memory_equal(out + 20, z, 12);
	romcfg_events_free(ev, n);
	/* No other bank. */
	assert_int_equal(romcfg_events(&c, board, NULL, "sha384", &ev, &n), -EINVAL);
	assert_int_equal(romcfg_fold("md5", state0, NULL, 0, out), -EINVAL);
	romcfg_free(&c);
	unlink(board);
}

/* The saved base carries its bank's size: one of the other bank is refused. */
static void test_base_per_bank(void **state)
{
	(void)state;
	char path[] = "/tmp/test-romcfg-base-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	uint8_t v[32], got[32];
	for (int i = 0; i < 32; i++)
		v[i] = (uint8_t)(i + 1);
	assert_int_equal(romcfg_save_base(path, "sha1", v), 0);
	char text[128] = {0};
	fd = open(path, O_RDONLY);
	assert_int_equal(read(fd, text, sizeof(text) - 1), 41);
	close(fd);
	assert_string_equal(text, "0102030405060708090a0b0c0d0e0f1011121314\n");
	assert_int_equal(romcfg_load_base(path, "sha1", got), 0);
	assert_memory_equal(got, v, 20);
	assert_int_equal(romcfg_load_base(path, "sha256", got), -EBADMSG);
	assert_int_equal(romcfg_save_base(path, "sha256", v), 0);
	assert_int_equal(romcfg_load_base(path, "sha256", got), 0);
	assert_memory_equal(got, v, 32);
	assert_int_equal(romcfg_load_base(path, "sha1", got), -EBADMSG);
	assert_int_equal(romcfg_save_base(path, "sha512", v), -EINVAL);
	unlink(path);
}

/* sysfs files claim 4096 bytes; the serial has a newline. */
static void test_find_by_serial(void **state)
{
	(void)state;
	char root[] = "/tmp/test-romcfg-sys-XXXXXX";
	assert_non_null(mkdtemp(root));
	char *d1 = xasprintf("%s/vda", root), *d2 = xasprintf("%s/vdb", root);
	char *f1 = xasprintf("%s/serial", d1), *f2 = xasprintf("%s/serial", d2);
	char pad[4096];
	memset(pad, 0, sizeof(pad));
	assert_int_equal(mkdir(d1, 0755), 0);
	assert_int_equal(mkdir(d2, 0755), 0);
	FILE *f = fopen(f1, "w");
	fputs("disk-serial\n", f);
	fclose(f);
	f = fopen(f2, "w");
	fputs(ROMCFG_SERIAL "\n", f);
	fwrite(pad, 1, 4000, f); /* bigger than a serial, like sysfs' st_size */
	fclose(f);
	char *dev = NULL;
	/* The NULs after the serial end the string. */
	assert_int_equal(romcfg_find(root, NULL, &dev), 0);
	assert_string_equal(dev, "/dev/vdb");
	free(dev);
	assert_int_equal(romcfg_find(root, "nothing", &dev), -ENOENT);
	unlink(f1);
	unlink(f2);
	rmdir(d1);
	rmdir(d2);
	rmdir(root);
	free(d1); free(d2); free(f1); free(f2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_parse_round_trip),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_write_alternates_and_recovers),
		cmocka_unit_test(test_events_and_fold),
		cmocka_unit_test(test_base_per_bank),
		cmocka_unit_test(test_find_by_serial),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
