/* PCR read/extend against a private swtpm; no handles may leak. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "swtpm.h"
#include "tpm/tpm.h"
#include "util.h"

static struct swtpm sw;

static int setup(void **state)
{
	(void)state;
	memset(&sw, 0, sizeof(sw));
	return swtpm_start(&sw);
}

static int teardown(void **state)
{
	(void)state;
	swtpm_destroy(&sw);
	return 0;
}

static void assert_no_leaks(void)
{
	struct tpm *t = NULL;
	unsigned tr = 99, se = 99;
	assert_int_equal(tpm_open(sw.tcti, &t), 0);
	assert_int_equal(tpm_count_handles(t, &tr, &se), 0);
	assert_int_equal(tr, 0);
	assert_int_equal(se, 0);
	tpm_close(t);
}

static void sha256(const void *d, size_t n, uint8_t out[32])
{
	unsigned int l = 32;
	EVP_Digest(d, n, out, &l, EVP_sha256(), NULL);
}

static void test_read_fresh_zero(void **state)
{
	struct tpm *t = NULL;
	uint8_t v[32], zero[32] = {0};
	size_t len = 0;
	(void)state;
	assert_int_equal(tpm_open(sw.tcti, &t), 0);
	assert_int_equal(tpm_pcr_read(t, "sha256", 7, v, &len), 0);
	assert_int_equal(len, 32);
	assert_memory_equal(v, zero, 32);
	assert_int_equal(tpm_pcr_read(t, "sha1", 7, v, &len), 0);
	assert_int_equal(len, 20);
	assert_memory_equal(v, zero, 20);
	assert_int_equal(tpm_pcr_read(t, "md5", 7, v, &len), -EINVAL);
	assert_int_equal(tpm_pcr_read(t, "sha256", 24, v, &len), -EINVAL);
	tpm_close(t);
	assert_no_leaks();
}

static void test_extend_string_matches_software(void **state)
{
	struct tpm *t = NULL;
	uint8_t v[32], expect[32], buf[64], h[32];
	size_t len;
	(void)state;
	assert_int_equal(tpm_open(sw.tcti, &t), 0);
	assert_int_equal(tpm_pcr_read(t, "sha256", 4, buf, &len), 0);
	assert_int_equal(tpm_extend_string(t, 4, "usb"), 0);
	sha256("usb", 3, h);
	memcpy(buf + 32, h, 32);
	sha256(buf, 64, expect);
	assert_int_equal(tpm_pcr_read(t, "sha256", 4, v, &len), 0);
	assert_memory_equal(v, expect, 32);
	tpm_close(t);
	assert_no_leaks();
}

static void test_extend_file_and_mask_read(void **state)
{
	struct tpm *t = NULL;
	uint8_t before[TPM_PCR_COUNT][32], after[TPM_PCR_COUNT][32], buf[64], expect[32];
	char path[] = "/tmp/heads-test-tpm-XXXXXX";
	int fd = mkstemp(path);
	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "module\n", 7), 7);
	close(fd);
	assert_int_equal(tpm_open(sw.tcti, &t), 0);
	assert_int_equal(tpm_pcr_read_mask(t, 0xffffff, before), 0);
	assert_int_equal(tpm_extend_file(t, 5, path), 0);
	assert_int_equal(tpm_pcr_read_mask(t, 0xffffff, after), 0);
	memcpy(buf, before[5], 32);
	sha256("module\n", 7, buf + 32);
	sha256(buf, 64, expect);
	assert_memory_equal(after[5], expect, 32);
	for (int i = 0; i < TPM_PCR_COUNT; i++)
		if (i != 5)
			assert_memory_equal(after[i], before[i], 32);
	assert_int_equal(tpm_extend_file(t, 5, "/nonexistent/file"), -ENOENT);
	tpm_close(t);
	unlink(path);
	assert_no_leaks();
}

static void test_pcr_list(void **state)
{
	uint32_t m = 0;
	(void)state;
	assert_int_equal(tpm_parse_pcr_list("0,1,2,3,4,7", &m), 0);
	assert_int_equal(m, 0x9f);
	assert_int_equal(tpm_parse_pcr_list("0-7", &m), 0);
	assert_int_equal(m, 0xff);
	assert_int_equal(tpm_parse_pcr_list("23", &m), 0);
	assert_int_equal(m, 1u << 23);
	assert_int_equal(tpm_parse_pcr_list("24", &m), -EINVAL);
	assert_int_equal(tpm_parse_pcr_list("1,", &m), -EINVAL);
	assert_int_equal(tpm_parse_pcr_list("", &m), -EINVAL);
	assert_int_equal(tpm_parse_pcr_list("a", &m), -EINVAL);
	assert_int_equal(tpm_parse_pcr_list("3-1", &m), -EINVAL);
}

static void test_no_tpm(void **state)
{
	struct tpm *t = NULL;
	(void)state;
	/* port 1 on loopback: nothing listens */
	assert_int_equal(tpm_open("swtpm:host=127.0.0.1,port=1", &t), TPM_E_NO_TPM);
	assert_null(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_fresh_zero),
		cmocka_unit_test(test_extend_string_matches_software),
		cmocka_unit_test(test_extend_file_and_mask_read),
		cmocka_unit_test(test_pcr_list),
		cmocka_unit_test(test_no_tpm),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
