/* otp.h: RFC 4226 / RFC 6238 vectors, oathtool as an independent oracle,
 * otpauth URI, HOTP counter file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "codec.h"
#include "otp.h"
#include "secret.h"
#include "util.h"

static const char rfc_key[] = "12345678901234567890";

/* RFC 4226 Appendix D. */
static void test_hotp_rfc4226(void **state)
{
	static const uint32_t exp[] = {755224, 287082, 359152, 969429, 338314,
				       254676, 287922, 162583, 399871, 520489};
	(void)state;
	for (uint64_t c = 0; c < 10; c++) {
		uint32_t code = 0;
		assert_int_equal(otp_hotp(rfc_key, 20, c, 6, &code), 0);
		assert_int_equal(code, exp[c]);
	}
}

/* RFC 4226 §5.4 worked truncation example and Appendix D count 0. */
static void test_truncate(void **state)
{
	static const char *hmac0 = "cc93cf18508d94934c64b65d8ba7667fb7cde4b0";
	static const char *ex54 = "1f8698690e02ca16618550ef7f19da8e945b555a";
	uint8_t h[20];
	size_t n;
	uint32_t code;
	(void)state;
	assert_int_equal(hex_decode(hmac0, h, sizeof(h), &n), 0);
	assert_int_equal(otp_truncate(h, 6, &code), 0);
	assert_int_equal(code, 755224);
	assert_int_equal(hex_decode(ex54, h, sizeof(h), &n), 0);
	assert_int_equal(otp_truncate(h, 6, &code), 0);
	assert_int_equal(code, 872921); /* 0x50ef7f19 = 1357872921 */
	assert_int_equal(otp_truncate(h, 5, &code), -EINVAL);
	assert_int_equal(otp_truncate(h, 9, &code), -EINVAL);
}

/* RFC 6238 Appendix B, SHA-1 rows (8 digits). */
static void test_totp_rfc6238(void **state)
{
	static const struct {
		time_t t;
		uint32_t code;
	} v[] = {
		{59, 94287082},		 {1111111109, 7081804},	 {1111111111, 14050471},
		{1234567890, 89005924},	 {2000000000, 69279037}, {20000000000LL, 65353130},
	};
	char buf[OTP_CODE_MAX + 1];
	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint32_t code = 0;
		assert_int_equal(otp_totp(rfc_key, 20, v[i].t, 30, 8, &code), 0);
		assert_int_equal(code, v[i].code);
	}
	otp_format_code(7081804, 8, buf);
	assert_string_equal(buf, "07081804");
	otp_format_code(4242, 6, buf);
	assert_string_equal(buf, "004242");
	{
		uint64_t c;
		uint32_t code;
		assert_int_equal(otp_totp_counter(-1, 30, &c), -EINVAL);
		assert_int_equal(otp_totp_counter(100, 0, &c), -EINVAL);
		assert_int_equal(otp_hotp(rfc_key, 0, 0, 6, &code), -EINVAL);
	}
}

/* Run oathtool (independent implementation, liboath) and return its code. */
static uint32_t oathtool(const char *hexkey, const char *mode, const char *arg)
{
	int p[2];
	pid_t pid;
	char out[64] = {0};
	long n;
	int st;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		if (streq(mode, "totp"))
			execlp("oathtool", "oathtool", "--totp", "-N", arg, hexkey, (char *)NULL);
		else
			execlp("oathtool", "oathtool", "-c", arg, hexkey, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	n = read(p[0], out, sizeof(out) - 1);
	close(p[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_true(n > 0);
	return (uint32_t)strtoul(out, NULL, 10);
}

static void test_against_oathtool(void **state)
{
	struct secret *key = secret_new(OTP_SECRET_LEN);
	char hex[2 * OTP_SECRET_LEN + 1];
	(void)state;
	assert_non_null(key);
	for (int round = 0; round < 4; round++) {
		uint32_t code;
		char arg[64];
		assert_int_equal(secret_random(key, OTP_SECRET_LEN), 0);
		hex_encode(key->data, key->len, hex);
		time_t t = (time_t)1700000000 + round * 977;
		snprintf(arg, sizeof(arg), "@%lld", (long long)t);
		assert_int_equal(otp_totp(key->data, key->len, t, 30, 6, &code), 0);
		assert_int_equal(code, oathtool(hex, "totp", arg));
		snprintf(arg, sizeof(arg), "%d", 1 + round * 1000);
		assert_int_equal(otp_hotp(key->data, key->len, 1 + round * 1000, 6, &code), 0);
		assert_int_equal(code, oathtool(hex, "hotp", arg));
	}
	secret_free(key);
}

static void test_uri(void **state)
{
	struct secret *key = secret_dup(rfc_key, 20), *uri = NULL, *b32 = NULL;
	char longlabel[OTP_LABEL_MAX + 2];
	(void)state;
	assert_int_equal(otp_totp_uri("qemu-tpm2", key, &uri), 0);
	assert_string_equal((char *)uri->data,
			    "otpauth://totp/qemu-tpm2?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
	assert_int_equal(uri->len, strlen((char *)uri->data));
	secret_free(uri);
	assert_int_equal(otp_totp_uri(NULL, key, &uri), 0);
	assert_true(startswith((char *)uri->data, "otpauth://totp/TPMTOTP?secret="));
	secret_free(uri);
	assert_int_equal(otp_totp_uri("My Board/x?&", key, &uri), 0);
	assert_true(startswith((char *)uri->data, "otpauth://totp/My%20Board%2Fx%3F%26?secret="));
	secret_free(uri);
	memset(longlabel, 'a', sizeof(longlabel) - 1);
	longlabel[sizeof(longlabel) - 1] = '\0';
	uri = NULL;
	assert_int_equal(otp_totp_uri(longlabel, key, &uri), -ENAMETOOLONG);
	assert_null(uri);
	assert_int_equal(otp_base32(key, &b32), 0);
	assert_string_equal((char *)b32->data, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
	secret_free(b32);
	secret_free(key);
}

static void test_counter_parse(void **state)
{
	uint64_t v = 77;
	(void)state;
	assert_int_equal(otp_counter_parse("1\n", 2, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(otp_counter_parse("42", 2, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(otp_counter_parse("0042\r\n", 6, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(otp_counter_parse("999999999999999999\n", 19, &v), 0);
	assert_true(v == OTP_COUNTER_MAX);
	v = 77;
	assert_int_equal(otp_counter_parse("", 0, &v), -ENODATA);
	assert_int_equal(otp_counter_parse("\n", 1, &v), -EINVAL);
	assert_int_equal(otp_counter_parse("-1\n", 3, &v), -EINVAL);
	assert_int_equal(otp_counter_parse("12 \n", 4, &v), -EINVAL);
	assert_int_equal(otp_counter_parse("1\n\n", 3, &v), -EINVAL);
	assert_int_equal(otp_counter_parse("0x10\n", 5, &v), -EINVAL);
	assert_int_equal(otp_counter_parse("1000000000000000000\n", 20, &v), -ERANGE);
	assert_int_equal(otp_counter_parse("99999999999999999999\n", 21, &v), -EINVAL);
	assert_int_equal(otp_counter_parse("1\0" "2", 3, &v), -EINVAL);
	assert_int_equal(v, 77); /* untouched on failure */
}

static void test_counter_file(void **state)
{
	char dir[] = "/tmp/heads-otp-XXXXXX", path[128], buf[64];
	uint64_t v = 0;
	FILE *f;
	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/%s", dir, OTP_COUNTER_FILE);
	assert_int_equal(otp_counter_read(path, &v), -ENOENT);
	assert_int_equal(otp_counter_write(path, 2), 0);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_string_equal(buf, "2\n");
	assert_int_equal(otp_counter_read(path, &v), 0);
	assert_int_equal(v, 2);
	assert_int_equal(otp_counter_write(path, OTP_COUNTER_MAX + 1), -ERANGE);
	f = fopen(path, "w");
	fputs("garbage\n", f);
	fclose(f);
	assert_int_equal(otp_counter_read(path, &v), -EINVAL);
	f = fopen(path, "w");
	fclose(f);
	assert_int_equal(otp_counter_read(path, &v), -ENODATA);
	f = fopen(path, "w");
	for (int i = 0; i < 100; i++)
		fputs("1", f);
	fclose(f);
	assert_int_equal(otp_counter_read(path, &v), -EINVAL);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hotp_rfc4226),
		cmocka_unit_test(test_truncate),
		cmocka_unit_test(test_totp_rfc6238),
		cmocka_unit_test(test_against_oathtool),
		cmocka_unit_test(test_uri),
		cmocka_unit_test(test_counter_parse),
		cmocka_unit_test(test_counter_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
