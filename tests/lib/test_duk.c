/* duk.h pure helpers: the measurement-trace filter for the PCR 5
 * prediction, the header-listing comparison, passphrase rules, the
 * reference file formats. No TPM, no devices (those are in
 * tests/cmd/test_duk.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duk.h"
#include "secret.h"
#include "util.h"

#define H(c) c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c \
	     c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c
#define HA H("a")
#define HB H("b")
#define HC H("c")
#define HD H("d")

static char *mods[] = {"/lib/modules/6.1/virtio_blk.ko", "/lib/modules/6.1/dm-crypt.ko",
		       "/lib/modules/6.1/ext4.ko", "/lib/modules/6.1/builtin.ko"};
static char *args[] = {"", "opt=1 x=2", "", ""};

static int trace(const char *t, char **p, char **a, size_t n, uint8_t (**d)[32], size_t *nd)
{
	return duk_trace_pcr5(t, strlen(t), "sha256", p, a, n, d, nd);
}

static void test_trace_takes_listed_modules_in_order(void **state)
{
	/* virtio_blk, args+dm-crypt, a module loaded later (usb), ext4; a PCR 7
	 * and a PCR 4 line; builtin.ko never measured (built in). */
	const char *t =
		"MEASURE\t7\tsha256\t" HD "\t/etc/config\n"
		"MEASURE\t5\tsha256\t" HA "\t/lib/modules/6.1/virtio_blk.ko\n"
		"MEASURE\t5\tsha256\t" HB "\topt=1 x=2\n"
		"MEASURE\t5\tsha256\t" HC "\t/lib/modules/6.1/dm-crypt.ko\n"
		"MEASURE\t5\tsha256\t" HD "\t/lib/modules/6.1/usb-storage.ko\n"
		"MEASURE\t5\tsha256\t" HA "\t/lib/modules/6.1/ext4.ko\n"
		"MEASURE\t4\tsha256\t" HB "\trecovery\n";
	uint8_t(*d)[32] = NULL;
	size_t n = 0;
	(void)state;

	assert_int_equal(trace(t, mods, args, 4, &d, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(d[0][0], 0xaa);
	assert_int_equal(d[1][0], 0xbb); /* args first */
	assert_int_equal(d[2][0], 0xcc);
	assert_int_equal(d[3][0], 0xaa); /* ext4; usb-storage left out */
	free(d);

	/* No module list: every PCR 5 line. */
	assert_int_equal(trace(t, NULL, NULL, 0, &d, &n), 0);
	assert_int_equal(n, 5);
	assert_int_equal(d[3][0], 0xdd);
	free(d);
}

static void test_trace_args_must_precede(void **state)
{
	/* dm-crypt has arguments but its args line is missing: not taken (the
	 * prediction then fails closed at unseal rather than guessing). */
	const char *t = "MEASURE\t5\tsha256\t" HC "\t/lib/modules/6.1/dm-crypt.ko\n";
	uint8_t(*d)[32] = (void *)1;
	size_t n = 99;
	(void)state;

	assert_int_equal(trace(t, mods, args, 4, &d, &n), 0);
	assert_int_equal(n, 0);
	assert_null(d);
}

static void test_trace_malformed(void **state)
{
	uint8_t(*d)[32] = NULL;
	size_t n = 0;
	(void)state;

	/* short digest */
	assert_int_equal(trace("MEASURE\t5\tsha256\tabcd\t/x.ko\n", NULL, NULL, 0, &d, &n),
			 -EBADMSG);
	/* non-hex digest */
	assert_int_equal(trace("MEASURE\t5\tsha256\t" H("g") "\t/x.ko\n", NULL, NULL, 0, &d, &n),
			 -EBADMSG);
	/* missing description field */
	assert_int_equal(trace("MEASURE\t5\tsha256\n", NULL, NULL, 0, &d, &n), -EBADMSG);
	/* other lines (session log noise, sha1 bank) are ignored */
	assert_int_equal(trace("hello\nMEASURE\t5\tsha1\t" H("a") "\tx\n", NULL, NULL, 0, &d, &n),
			 0);
	assert_int_equal(n, 0);
	/* no trailing newline is fine */
	assert_int_equal(trace("MEASURE\t5\tsha256\t" HA "\t/x.ko", NULL, NULL, 0, &d, &n), 0);
	assert_int_equal(n, 1);
	free(d);
}

static void test_trace_sha1_bank(void **state)
{
	/* A TPM 1.2 trace: the sha1 lines (40 hex digits) in the 32-byte
	 * layout, zero-padded; sha256 lines and a bad bank name are not it. */
	const char *t = "MEASURE\t5\tsha256\t" HA "\t/lib/modules/6.1/ext4.ko\n"
			"MEASURE\t5\tsha1\t" "cc" "000000000000000000000000000000000000" "11" "\t/lib/modules/6.1/virtio_blk.ko\n";
	static const uint8_t zero[12];
	uint8_t(*d)[32] = NULL;
	size_t n = 0;
	(void)state;

	assert_int_equal(duk_trace_pcr5(t, strlen(t), "sha1", mods, args, 4, &d, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(d[0][0], 0xcc);
	assert_int_equal(d[0][19], 0x11);
	assert_memory_equal(d[0] + 20, zero, 12);
	free(d);
	/* a sha1 line with a sha256-sized digest is malformed */
	const char *bad = "MEASURE\t5\tsha1\t" HA "\tx\n";
	assert_int_equal(duk_trace_pcr5(bad, strlen(bad), "sha1", NULL, NULL, 0, &d, &n), -EBADMSG);
	assert_int_equal(duk_trace_pcr5(t, strlen(t), "md5", NULL, NULL, 0, &d, &n), -EINVAL);
}

static void test_compare_headers(void **state)
{
	const char *sealed = HA "  /tmp/lukshdr-_dev_vda2\n" HB "  /tmp/lukshdr-_dev_vda3\n";
	const char *same = sealed;
	const char *changed = HA "  /tmp/lukshdr-_dev_vda2\n" HC "  /tmp/lukshdr-_dev_vda3\n";
	const char *other = HA "  /tmp/lukshdr-_dev_vda2\n" HB "  /tmp/lukshdr-_dev_sdb1\n";
	char *d = (char *)1;
	(void)state;

	assert_int_equal(duk_compare_headers(sealed, strlen(sealed), same, strlen(same), NULL, 0, &d), 0);
	assert_null(d);
	assert_int_equal(duk_compare_headers(sealed, strlen(sealed), changed, strlen(changed), NULL, 0, &d),
			 DUK_E_HEADERS_CHANGED);
	assert_string_equal(d, "/dev/vda3: LUKS header changed");
	free(d);
	assert_int_equal(duk_compare_headers(sealed, strlen(sealed), other, strlen(other), NULL, 0, &d),
			 DUK_E_HEADERS_CHANGED);
	assert_string_equal(d, "/dev/vda3: no longer present; /dev/sdb1: not present when the "
			       "key was sealed");
	free(d);
	/* byte-wise, as the reference: same lines in another order differ */
	const char *swapped = HB "  /tmp/lukshdr-_dev_vda3\n" HA "  /tmp/lukshdr-_dev_vda2\n";
	assert_int_equal(duk_compare_headers(sealed, strlen(sealed), swapped, strlen(swapped), NULL, 0, &d),
			 DUK_E_HEADERS_CHANGED);
	assert_non_null(d);
	free(d);
	/* names come from the key devices when given ('_' in a path is not
	 * mistaken for '/') */
	{
		struct luks_key_device kd = {.path = "/srv/a_b/disk.img", .uuid = NULL};
		const char *s1 = HA "  /tmp/lukshdr-_srv_a_b_disk.img\n";
		const char *s2 = HB "  /tmp/lukshdr-_srv_a_b_disk.img\n";
		assert_int_equal(duk_compare_headers(s1, strlen(s1), s2, strlen(s2), &kd, 1, &d),
				 DUK_E_HEADERS_CHANGED);
		assert_string_equal(d, "/srv/a_b/disk.img: LUKS header changed");
		free(d);
	}
	/* a malformed sealed file is a change, named as such */
	assert_int_equal(duk_compare_headers("junk\n", 5, sealed, strlen(sealed), NULL, 0, &d),
			 DUK_E_HEADERS_CHANGED);
	assert_non_null(strstr(d, "malformed"));
	free(d);
}

static void test_passphrase_rules(void **state)
{
	struct secret *a = secret_dup("twelve chars", 12), *b = secret_dup("twelve chars", 12);
	struct secret *c = secret_dup("eleven char", 11), *x = secret_dup("twelve charz", 12);
	(void)state;

	assert_int_equal(duk_check_passphrase(a, b), 0);
	assert_int_equal(duk_check_passphrase(a, NULL), 0);
	assert_int_equal(duk_check_passphrase(c, c), -EINVAL);
	assert_int_equal(duk_check_passphrase(a, x), -ENOTUNIQ);
	assert_int_equal(duk_check_passphrase(NULL, NULL), -EINVAL);
	secret_free(a);
	secret_free(b);
	secret_free(c);
	secret_free(x);
}

static void test_file_formats(void **state)
{
	struct luks_device v[2] = {
		{.path = "/dev/vda2", .uuid = "6c7f7f6e-0000-0000-0000-0000000000a2"},
		{.path = "/dev/vda3", .uuid = "6c7f7f6e-0000-0000-0000-0000000000a3"},
	};
	struct luks_key_device k[2] = {
		{.path = "/dev/vda2", .uuid = "u2"},
		{.path = "/dev/vda3", .uuid = NULL},
	};
	char *s;
	(void)state;

	s = duk_key_devices_text(v, 2);
	assert_string_equal(s, "/dev/vda2 6c7f7f6e-0000-0000-0000-0000000000a2\n"
			       "/dev/vda3 6c7f7f6e-0000-0000-0000-0000000000a3\n");
	free(s);
	s = duk_fallback_overrides(k, 2);
	assert_string_equal(s, "etc/crypttab:luks-u2 UUID=u2 /secret.key luks,discard\n"
			       "cryptroot/crypttab:luks-u2 UUID=u2 /secret.key luks,discard\n");
	free(s);
}

static void test_reason_sentences(void **state)
{
	char buf[512];
	(void)state;

	duk_reason(NULL, DUK_E_HEADERS_CHANGED, buf, sizeof(buf));
	assert_non_null(strstr(buf, "Encrypted disk keys have changed"));
	duk_reason(NULL, TPM_E_PCR_MISMATCH, buf, sizeof(buf));
	assert_non_null(strstr(buf, "PCRs it was sealed to have changed"));
	duk_reason(NULL, TPM_E_AUTH_FAIL, buf, sizeof(buf));
	assert_string_equal(buf, "Wrong Disk Unlock Key passphrase.");
	duk_reason(NULL, -EIO, buf, sizeof(buf));
	assert_non_null(strstr(buf, "refusing to boot"));
	duk_reason(NULL, TPM_E_NO_OBJECT, buf, 16); /* truncated, still terminated */
	assert_int_equal(strlen(buf), 15);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trace_takes_listed_modules_in_order),
		cmocka_unit_test(test_trace_args_must_precede),
		cmocka_unit_test(test_trace_malformed),
		cmocka_unit_test(test_trace_sha1_bank),
		cmocka_unit_test(test_compare_headers),
		cmocka_unit_test(test_passphrase_rules),
		cmocka_unit_test(test_file_formats),
		cmocka_unit_test(test_reason_sentences),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
