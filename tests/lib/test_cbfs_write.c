/* Unit tests of cbfs_write.c: the refusals and invariants (the bytes are
 * compared with cbfstool in tests/cmd/test_cbfs_write.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cbfs.h"
#include "cbfs_write.h"
#include "romcfg.h"

#define IMG 0x8000u

static void le32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void be32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (24 - 8 * i)); }

/* An FMAP structure at p: areas {name, offset, size}. */
static size_t fmap(uint8_t *p, const char *const names[], const uint32_t off[], const uint32_t sz[],
		   size_t n)
{
	memset(p, 0, 56 + 42 * n);
	memcpy(p, "__FMAP__", 8);
	p[8] = 1;
	p[9] = 1;
	le32(p + 18, IMG);
	memcpy(p + 22, "FLASH", 5);
	p[54] = (uint8_t)n;
	for (size_t i = 0; i < n; i++) {
		uint8_t *a = p + 56 + 42 * i;
		le32(a, off[i]);
		le32(a + 4, sz[i]);
		memcpy(a + 8, names[i], strlen(names[i]));
	}
	return 56 + 42 * n;
}

static void empty(uint8_t *p, uint32_t size)
{
	memset(p, 0xff, size);
	memcpy(p, "LARCHIVE", 8);
	be32(p + 8, size - 0x1c);
	be32(p + 12, CBFS_TYPE_NULL);
	be32(p + 16, 0);
	be32(p + 20, 0x1c);
	memset(p + 24, 0, 4);
}

/* FMAP area at 0, COREBOOT after it (or, fmap_inside, the FMAP inside it). */
static uint8_t *image(bool fmap_inside)
{
	static const char *const names[] = {"FMAP", "COREBOOT"};
	uint8_t *img = malloc(IMG);
	memset(img, 0xff, IMG);
	if (fmap_inside) {
		const uint32_t off[] = {0x2000, 0x1000}, sz[] = {0x100, IMG - 0x1000};
		empty(img + 0x1000, IMG - 0x1000);
		fmap(img + 0x2000, names, off, sz, 2);
	} else {
		const uint32_t off[] = {0, 0x1000}, sz[] = {0x1000, IMG - 0x1000};
		fmap(img, names, off, sz, 2);
		empty(img + 0x1000, IMG - 0x1000);
	}
	return img;
}

static void assert_file(const uint8_t *img, const char *name, const void *data, size_t n)
{
	struct cbfs c;
	const struct cbfs_file *f;
	assert_int_equal(cbfs_parse(img, IMG, NULL, &c), 0);
	f = cbfs_find(&c, name);
	assert_non_null(f);
	assert_int_equal(f->len, n);
	assert_memory_equal(cbfs_data(&c, f), data, n);
	cbfs_free(&c);
}

static void test_add_exists_names(void **state)
{
	(void)state;
	uint8_t *img = image(false), *before = malloc(IMG);
	char longname[CBFS_WRITE_NAME_MAX + 2];
	assert_int_equal(cbfs_add_file(img, IMG, NULL, "a", CBFS_TYPE_RAW, "hello", 5), 0);
	assert_file(img, "a", "hello", 5);
	memcpy(before, img, IMG);
	assert_int_equal(cbfs_add_file(img, IMG, NULL, "a", CBFS_TYPE_RAW, "x", 1), -EEXIST);
	assert_int_equal(cbfs_add_file(img, IMG, NULL, "", CBFS_TYPE_RAW, "x", 1), -EINVAL);
	assert_int_equal(cbfs_add_file(img, IMG, NULL, "b\tc", CBFS_TYPE_RAW, "x", 1), -EINVAL);
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(cbfs_add_file(img, IMG, NULL, longname, CBFS_TYPE_RAW, "x", 1), -EINVAL);
	assert_int_equal(cbfs_add_file(img, IMG, NULL, "n", CBFS_TYPE_NULL, "x", 1), -EINVAL);
	assert_int_equal(cbfs_add_file(img, IMG, "NOPE", "n", CBFS_TYPE_RAW, "x", 1), -ENOENT);
	assert_memory_equal(img, before, IMG);
	free(img);
	free(before);
}

static void test_full_and_replace_restores(void **state)
{
	(void)state;
	uint8_t *img = image(false), *before = malloc(IMG), *big = calloc(1, IMG);
	assert_int_equal(cbfs_add_file(img, IMG, NULL, "keep", CBFS_TYPE_RAW, "old", 3), 0);
	memcpy(before, img, IMG);
	assert_int_equal(cbfs_add_file(img, IMG, NULL, "big", CBFS_TYPE_RAW, big, IMG - 0x1000),
			 -ENOSPC);
	assert_memory_equal(img, before, IMG);
	/* replace: the add fails after the remove: the old file is back */
	assert_int_equal(cbfs_replace_file(img, IMG, NULL, "keep", CBFS_TYPE_RAW, big,
					   IMG - 0x1000), -ENOSPC);
	assert_memory_equal(img, before, IMG);
	assert_int_equal(cbfs_replace_file(img, IMG, NULL, "keep", CBFS_TYPE_RAW, "new!", 4), 0);
	assert_file(img, "keep", "new!", 4);
	free(img);
	free(before);
	free(big);
}

static void test_remove_merges(void **state)
{
	(void)state;
	uint8_t *img = image(false);
	struct cbfs c;
	assert_int_equal(cbfs_add_file(img, IMG, NULL, "a", CBFS_TYPE_RAW, "1", 1), 0);
	assert_int_equal(cbfs_add_file(img, IMG, NULL, "b", CBFS_TYPE_RAW, "22", 2), 0);
	assert_int_equal(cbfs_add_file(img, IMG, NULL, "c", CBFS_TYPE_RAW, "333", 3), 0);
	assert_int_equal(cbfs_remove_file(img, IMG, NULL, "b"), 0);
	assert_int_equal(cbfs_remove_file(img, IMG, NULL, "b"), -ENOENT);
	assert_int_equal(cbfs_remove_file(img, IMG, NULL, "a"), 0);
	assert_int_equal(cbfs_remove_file(img, IMG, NULL, "c"), 0);
	/* everything merged back into one empty entry over the region */
	assert_int_equal(cbfs_parse(img, IMG, NULL, &c), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.files[0].type, CBFS_TYPE_NULL);
	assert_int_equal(c.files[0].len, IMG - 0x1000 - 0x1c);
	cbfs_free(&c);
	for (uint32_t i = 0x1000 + 0x1c; i < IMG; i++)
		assert_int_equal(img[i], 0xff); /* removed bytes wiped */
	free(img);
}

static void test_fmap_inside_region_refused(void **state)
{
	(void)state;
	uint8_t *img = image(true), *before = malloc(IMG);
	memcpy(before, img, IMG);
	assert_int_equal(cbfs_add_file(img, IMG, NULL, "a", CBFS_TYPE_RAW, "1", 1), -EBADMSG);
	assert_memory_equal(img, before, IMG);
	free(img);
	free(before);
}

static void test_data_with_fmap_undone(void **state)
{
	(void)state;
	/* COREBOOT first, the real FMAP after it: a file holding a valid
	 * FMAP would be found first by every reader. */
	static const char *const names[] = {"COREBOOT", "FMAP"};
	const uint32_t off[] = {0, 0x7000}, sz[] = {0x7000, 0x1000};
	uint8_t *img = malloc(IMG), *before = malloc(IMG), blob[256];
	size_t n;
	memset(img, 0xff, IMG);
	empty(img, 0x7000);
	fmap(img + 0x7000, names, off, sz, 2);
	n = fmap(blob, names, off, sz, 2);
	memcpy(before, img, IMG);
	assert_int_equal(cbfs_add_file(img, IMG, NULL, "evil", CBFS_TYPE_RAW, blob, n), -EBADMSG);
	assert_memory_equal(img, before, IMG);
	assert_int_equal(cbfs_add_file(img, IMG, NULL, "fine", CBFS_TYPE_RAW, blob + 8, n - 8), 0);
	free(img);
	free(before);
}

static void test_owner_files(void **state)
{
	(void)state;
	uint8_t *img = image(false), *to = image(false);
	struct romcfg c = {.slot = -1};
	size_t kept = 0;
	assert_int_equal(cbfs_add_file(img, IMG, NULL, "heads/initrd/etc/config.user", CBFS_TYPE_RAW,
				       "old", 3), 0);
	assert_int_equal(cbfs_add_file(img, IMG, NULL, "heads/initrd/etc/shadow", CBFS_TYPE_RAW,
				       "s", 1), 0);
	assert_int_equal(romcfg_set(&c, ".gnupg/pubring.kbx", "KBX", 3), 0);
	assert_int_equal(romcfg_set(&c, "etc/config.user", "new", 3), 0);
	assert_int_equal(cbfs_set_owner_files(img, IMG, &c), 0);
	assert_file(img, "heads/initrd/etc/config.user", "new", 3);
	assert_file(img, "heads/initrd/.gnupg/pubring.kbx", "KBX", 3);
	assert_file(img, "heads/initrd/etc/shadow", "s", 1); /* not an owner file: kept */
	/* carried into another image */
	assert_int_equal(cbfs_add_file(to, IMG, NULL, "heads/initrd/etc/config.user", CBFS_TYPE_RAW,
				       "theirs", 6), 0);
	assert_int_equal(cbfs_carry_owner_files(img, IMG, to, IMG, &kept), 0);
	assert_int_equal(kept, 2);
	assert_file(to, "heads/initrd/etc/config.user", "new", 3);
	assert_file(to, "heads/initrd/.gnupg/pubring.kbx", "KBX", 3);
	romcfg_free(&c);
	free(img);
	free(to);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_exists_names),
		cmocka_unit_test(test_full_and_replace_restores),
		cmocka_unit_test(test_remove_merges),
		cmocka_unit_test(test_fmap_inside_region_refused),
		cmocka_unit_test(test_data_with_fmap_undone),
		cmocka_unit_test(test_owner_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
