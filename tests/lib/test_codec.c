#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "codec.h"

/* RFC 4648 section 10 test vectors. */
static const char *const b32_vectors[][2] = {
	{"", ""},
	{"f", "MY======"},
	{"fo", "MZXQ===="},
	{"foo", "MZXW6==="},
	{"foob", "MZXW6YQ="},
	{"fooba", "MZXW6YTB"},
	{"foobar", "MZXW6YTBOI======"},
};

static void test_base32_rfc4648_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(b32_vectors) / sizeof(b32_vectors[0]); i++) {
		const char *in = b32_vectors[i][0], *exp = b32_vectors[i][1];
		char out[64];
		unsigned char dec[64];
		size_t n = 0;
		assert_int_equal(base32_encoded_len(strlen(in), true), strlen(exp) + 1);
		base32_encode(in, strlen(in), true, out);
		assert_string_equal(out, exp);
		assert_int_equal(base32_decode(exp, dec, sizeof(dec), &n), 0);
		assert_int_equal(n, strlen(in));
		assert_memory_equal(dec, in, n);
	}
}

static void test_base32_unpadded_and_lowercase(void **state)
{
	char out[64];
	unsigned char dec[16];
	size_t n;
	(void)state;
	base32_encode("foobar", 6, false, out);
	assert_string_equal(out, "MZXW6YTBOI");
	assert_int_equal(base32_decode("mzxw6ytboi", dec, sizeof(dec), &n), 0);
	assert_int_equal(n, 6);
	assert_memory_equal(dec, "foobar", 6);
}

static void test_base32_rejects_garbage(void **state)
{
	unsigned char dec[16];
	size_t n;
	(void)state;
	assert_int_equal(base32_decode("MZXW1===", dec, sizeof(dec), &n), -EINVAL); /* '1' */
	assert_int_equal(base32_decode("M=======", dec, sizeof(dec), &n), -EINVAL); /* 1 char */
	assert_int_equal(base32_decode("MZ=XW6==", dec, sizeof(dec), &n), -EINVAL); /* '=' inside */
	assert_int_equal(base32_decode("MZXQ==", dec, sizeof(dec), &n), -EINVAL);   /* short pad */
	assert_int_equal(base32_decode("MZXR", dec, sizeof(dec), &n), -EINVAL);     /* non-zero tail bits */
	assert_int_equal(base32_decode("MZXW6YTBOI", dec, 3, &n), -ENOBUFS);
}

static void test_hex_roundtrip_and_errors(void **state)
{
	unsigned char in[] = {0x00, 0x01, 0xab, 0xff}, out[4];
	char hex[9];
	size_t n;
	(void)state;
	hex_encode(in, sizeof(in), hex);
	assert_string_equal(hex, "0001abff");
	assert_int_equal(hex_decode("0001ABff", out, sizeof(out), &n), 0);
	assert_int_equal(n, 4);
	assert_memory_equal(in, out, 4);
	assert_int_equal(hex_decode("abc", out, sizeof(out), &n), -EINVAL);
	assert_int_equal(hex_decode("zz", out, sizeof(out), &n), -EINVAL);
	assert_int_equal(hex_decode("0011223344", out, sizeof(out), &n), -ENOBUFS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base32_rfc4648_vectors),
		cmocka_unit_test(test_base32_unpadded_and_lowercase),
		cmocka_unit_test(test_base32_rejects_garbage),
		cmocka_unit_test(test_hex_roundtrip_and_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
