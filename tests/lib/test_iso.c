/* Unit tests of iso/iso.h: checked reads after the verification pass
 * (hash what you load for an image read twice), the checksum-list parser.
 * The image is an xorriso image from the fuzz seeds (tests/fuzz/corpus/iso9660:
 * the image from sector 16 on), with a 32 KiB system area and 3 MiB padding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "fs.h"
#include "iso/iso.h"
#include "log.h"
#include "util.h"

static char path[] = "/tmp/heads-test-iso-XXXXXX";

static int setup(void **state)
{
	_cleanup_free_ char *seed = xasprintf("%s/tests/fuzz/corpus/iso9660/seed1",
					      getenv("HEADS_SRCDIR"));
	_cleanup_free_ char *data = NULL;
	size_t len;
	(void)state;
	strcpy(path, "/tmp/heads-test-iso-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0 || fs_read_file(seed, 1 << 20, &data, &len) < 0)
		return -1;
	char *zeros = xcalloc(1, 3u << 20);
	int ok = write_full(fd, zeros, 32768) == 0 && write_full(fd, data, len) == 0 &&
		 write_full(fd, zeros, 3u << 20) == 0;
	free(zeros);
	close(fd);
	return ok ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return 0;
}

static void checked_reads(void **state)
{
	struct iso_file f;
	struct iso9660_tree t = {0};
	struct boot_entries l = {.default_index = -1};
	uint8_t b[16];
	(void)state;

	assert_int_equal(iso_open(path, &f), 0);
	assert_true(f.n_chunks >= 4);
	/* no pass yet: nothing to check against */
	assert_int_equal(iso_check_reads(&f), -EINVAL);
	/* plan: parse (marks what it reads), mark the entries' files */
	assert_int_equal(iso_entries(&f, &t, &l), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].kernel, "/live/vmlinuz");
	iso_mark_entries(&f, &t, &l);
	boot_entries_free(&l);
	iso_mark(&f, 2u << 20, 1); /* chunk 2 too, to evict the cache below */
	/* the one pass records the marked chunks */
	assert_int_equal(iso_hash(&f, NULL, NULL), 0);
	assert_true(f.hashed && f.chunks_recorded);
	assert_int_equal(iso_check_reads(&f), 0);

	/* checked: the same entries; the kernel loads with its bytes */
	l = (struct boot_entries){.default_index = -1};
	iso9660_tree_free(&t);
	assert_int_equal(iso_entries(&f, &t, &l), 0);
	assert_int_equal(l.n, 1);
	boot_entries_free(&l);
	int mfd = -1;
	uint64_t size = 0;
	uint8_t d[32], want[32];
	unsigned dl = 32;
	assert_int_equal(iso_load(&f, &t, "/live/vmlinuz", 1 << 20, &mfd, &size, d), 0);
	assert_int_equal(size, 2);
	char kb[3] = {0};
	assert_int_equal(read(mfd, kb, 2), 2);
	assert_string_equal(kb, "k\n");
	EVP_Digest("k\n", 2, want, &dl, EVP_sha256(), NULL);
	assert_memory_equal(d, want, 32);
	close(mfd);

	/* a chunk the check did not record is refused */
	assert_int_equal(iso_read_at(&f, 1u << 20, sizeof(b), b), -EPERM);

	/* the medium answers differently after the check: refused */
	const struct iso9660_file *cfg = iso9660_find(&t, "/boot/grub/grub.cfg");
	assert_non_null(cfg);
	assert_int_equal(iso_read_at(&f, 2u << 20, sizeof(b), b), 0); /* chunk 2 cached */
	int wfd = open(path, O_WRONLY);
	assert_true(wfd >= 0);
	assert_int_equal(pwrite(wfd, "X", 1, (off_t)cfg->offset), 1);
	close(wfd);
	l = (struct boot_entries){.default_index = -1};
	struct iso9660_tree t2 = {0};
	assert_int_equal(iso_entries(&f, &t2, &l), -EBADMSG);
	boot_entries_free(&l);
	assert_int_equal(iso_load(&f, &t, "/boot/grub/grub.cfg", 1 << 20, &mfd, &size, d),
			 -EBADMSG);
	iso9660_tree_free(&t);
	iso_close(&f);

	/* unchecked (no verification): the changed byte is simply read */
	assert_int_equal(iso_open(path, &f), 0);
	l = (struct boot_entries){.default_index = -1};
	assert_int_equal(iso_entries(&f, NULL, &l), 0);
	boot_entries_free(&l);
	iso_close(&f);
}

static void sums(void **state)
{
	uint8_t d[32];
	char hexa[65], hexb[65];
	(void)state;
	memset(hexa, 'a', 64);
	memset(hexb, 'b', 64);
	hexa[64] = hexb[64] = 0;

	_cleanup_free_ char *gnu = xasprintf("# c\n\n%s  other.iso\r\n%s *x.iso\n", hexb, hexa);
	assert_int_equal(iso_sums_find(gnu, strlen(gnu), "x.iso", d), 0);
	assert_int_equal(d[0], 0xaa);
	assert_int_equal(iso_sums_find(gnu, strlen(gnu), "y.iso", d), -ENOENT);
	/* a name that only ends the same is not the file */
	assert_int_equal(iso_sums_find(gnu, strlen(gnu), "her.iso", d), -ENOENT);

	_cleanup_free_ char *bsd = xasprintf("SHA1 (x.iso) = 0123\nSHA256 (x.iso) = %s\n", hexb);
	assert_int_equal(iso_sums_find(bsd, strlen(bsd), "x.iso", d), 0);
	assert_int_equal(d[31], 0xbb);

	_cleanup_free_ char *dot = xasprintf("%s  ./x.iso\n", hexa);
	assert_int_equal(iso_sums_find(dot, strlen(dot), "x.iso", d), 0);

	_cleanup_free_ char *twice = xasprintf("%s  x.iso\n%s  x.iso\n", hexa, hexb);
	assert_int_equal(iso_sums_find(twice, strlen(twice), "x.iso", d), -EINVAL);
	_cleanup_free_ char *same = xasprintf("%s  x.iso\n%s  x.iso\n", hexa, hexa);
	assert_int_equal(iso_sums_find(same, strlen(same), "x.iso", d), 0);

	/* SHA-1 / SHA-512 lists are ignored, not misread */
	_cleanup_free_ char *sha1 = xasprintf("%.40s  x.iso\n", hexa);
	assert_int_equal(iso_sums_find(sha1, strlen(sha1), "x.iso", d), -ENOENT);

	static const char *bad[] = {"zz  x.iso\n", "nospace\n", "SHA256 (x.iso) = zz\n",
				    "SHA256 (x.iso\n", "aaaa x.iso\n"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(iso_sums_find(bad[i], strlen(bad[i]), "x.iso", d), -EINVAL);
	char nul[] = "aa\0  x.iso\n";
	assert_int_equal(iso_sums_find(nul, sizeof(nul) - 1, "x.iso", d), -EINVAL);
}

int main(void)
{
	log_set_console_level(LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(checked_reads, setup, teardown),
		cmocka_unit_test(sums),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
