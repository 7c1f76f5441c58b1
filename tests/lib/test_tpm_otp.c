/* tpm_otp.h against a private swtpm: the RFC 4226 / RFC 6238 vectors
 * computed by the TPM from a sealed key, PCR policy behaviour, the
 * explanation of a moved PCR, wipe, and no leaked transient handles. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "otp.h"
#include "secret.h"
#include "swtpm.h"
#include "tpm_otp.h"
#include "util.h"

#define MASK TPM_OTP_DEFAULT_PCRS

static const char rfc_key[] = "12345678901234567890";

struct fixture {
	struct swtpm sw;
	struct tpm *t;
	struct secret *owner;
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	setenv("TSS2_LOG", "all+NONE", 1);
	if (swtpm_start(&f->sw) < 0)
		return -1;
	if (tpm_open(f->sw.tcti, &f->t) < 0)
		return -1;
	f->owner = secret_dup("owner", 5);
	if (tpm_reset(f->t, f->owner) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	tpm_close(f->t);
	swtpm_destroy(&f->sw);
	secret_free(f->owner);
	free(f);
	return 0;
}

static void assert_no_leaks(struct tpm *t)
{
	unsigned tr = 99, se = 99;
	assert_int_equal(tpm_count_handles(t, &tr, &se), 0);
	assert_int_equal(tr, 0);
	assert_int_equal(se, 0);
}

static void seal_rfc_key(struct fixture *f)
{
	struct tpm_pcr_values exp;
	struct secret *key = secret_dup(rfc_key, 20);
	assert_int_equal(tpm_otp_expected(f->t, MASK, NULL, &exp), 0);
	assert_int_equal(tpm_otp_seal(f->t, TPM_HANDLE_TOTP, key, &exp, f->owner), 0);
	secret_free(key);
}

static void test_rfc_vectors_in_tpm(void **state)
{
	static const uint32_t hotp[] = {755224, 287082, 359152, 969429, 338314,
					254676, 287922, 162583, 399871, 520489};
	struct fixture *f = *state;
	uint32_t code;

	seal_rfc_key(f);
	assert_int_equal(tpm_otp_present(f->t, TPM_HANDLE_TOTP), 1);
	for (uint64_t c = 0; c < 10; c++) {
		assert_int_equal(tpm_otp_hotp(f->t, TPM_HANDLE_TOTP, MASK, c, &code), 0);
		assert_int_equal(code, hotp[c]);
	}
	/* mask 0: the sealed list, from the record. */
	assert_int_equal(tpm_otp_hotp(f->t, TPM_HANDLE_TOTP, 0, 9, &code), 0);
	assert_int_equal(code, 520489);
	/* RFC 6238 SHA-1 rows, 6-digit truncation of the same HMACs. */
	assert_int_equal(tpm_otp_totp(f->t, TPM_HANDLE_TOTP, MASK, 59, &code), 0);
	assert_int_equal(code, 287082);
	assert_int_equal(tpm_otp_totp(f->t, TPM_HANDLE_TOTP, MASK, 1111111109, &code), 0);
	assert_int_equal(code, 81804);
	assert_int_equal(tpm_otp_totp(f->t, TPM_HANDLE_TOTP, MASK, 20000000000LL, &code), 0);
	assert_int_equal(code, 353130);
	assert_no_leaks(f->t);
}

static void test_policy_and_explanation(void **state)
{
	struct fixture *f = *state;
	uint32_t code;
	char *why;

	seal_rfc_key(f);
	assert_int_equal(tpm_extend_string(f->t, 16, "outside"), 0);
	assert_int_equal(tpm_otp_hotp(f->t, TPM_HANDLE_TOTP, MASK, 0, &code), 0);
	assert_int_equal(code, 755224);
	assert_int_equal(tpm_extend_string(f->t, 3, "inside"), 0);
	assert_int_equal(tpm_otp_hotp(f->t, TPM_HANDLE_TOTP, MASK, 0, &code), TPM_E_PCR_MISMATCH);
	why = tpm_otp_explain(f->t, MASK);
	assert_non_null(strstr(why, "PCR 3 moved (sealed 0000000000000000..., now "));
	assert_null(strstr(why, "PCR 7"));
	free(why);
	why = tpm_otp_reason(f->t, TPM_E_PCR_MISMATCH, MASK);
	assert_non_null(strstr(why, "PCR 3 moved"));
	free(why);
	assert_no_leaks(f->t);
	/* Resealing to the new values makes it work again. */
	seal_rfc_key(f);
	assert_int_equal(tpm_otp_hotp(f->t, TPM_HANDLE_TOTP, MASK, 1, &code), 0);
	assert_int_equal(code, 287082);
}

static void test_sealed_mask(void **state)
{
	struct fixture *f = *state;
	struct tpm_pcr_values exp;
	struct secret *key = secret_dup(rfc_key, 20);
	uint32_t code, mask = 0;
	char *why;

	assert_int_equal(tpm_otp_sealed_mask(f->t, &mask), TPM_E_NO_OBJECT);
	assert_int_equal(tpm_otp_expected(f->t, 0x5, NULL, &exp), 0);
	assert_int_equal(tpm_otp_seal(f->t, TPM_HANDLE_TOTP, key, &exp, f->owner), 0);
	assert_int_equal(tpm_otp_sealed_mask(f->t, &mask), 0);
	assert_int_equal(mask, 0x5);
	assert_int_equal(tpm_extend_string(f->t, 7, "outside this policy"), 0);
	assert_int_equal(tpm_otp_hotp(f->t, TPM_HANDLE_TOTP, 0, 2, &code), 0);
	assert_int_equal(code, 359152);
	assert_int_equal(tpm_otp_hotp(f->t, TPM_HANDLE_TOTP, MASK, 2, &code),
			 TPM_E_PCR_MISMATCH);
	why = tpm_otp_explain(f->t, MASK);
	assert_non_null(strstr(why, "the PCR list 0,1,2,3,4,7 is not the one the object was "
				    "sealed with (0,2)"));
	free(why);
	assert_int_equal(tpm_extend_string(f->t, 2, "inside"), 0);
	assert_int_equal(tpm_otp_hotp(f->t, TPM_HANDLE_TOTP, 0, 2, &code), TPM_E_PCR_MISMATCH);
	why = tpm_otp_explain(f->t, 0);
	assert_non_null(strstr(why, "PCR 2 moved"));
	free(why);
	secret_free(key);
	assert_no_leaks(f->t);
}

static void test_wipe(void **state)
{
	struct fixture *f = *state;
	struct secret *wrong = secret_dup("nope", 4);
	uint32_t code;
	char *why;

	seal_rfc_key(f);
	assert_int_equal(tpm_otp_wipe(f->t, TPM_HANDLE_TOTP, wrong), TPM_E_AUTH_FAIL);
	assert_int_equal(tpm_otp_present(f->t, TPM_HANDLE_TOTP), 1);
	assert_int_equal(tpm_otp_wipe(f->t, TPM_HANDLE_TOTP, f->owner), 0);
	assert_int_equal(tpm_otp_present(f->t, TPM_HANDLE_TOTP), 0);
	assert_int_equal(tpm_otp_present(f->t, TPM_OTP_RECORD_INDEX), 0);
	assert_int_equal(tpm_otp_hotp(f->t, TPM_HANDLE_TOTP, MASK, 0, &code), TPM_E_NO_OBJECT);
	why = tpm_otp_reason(f->t, TPM_E_NO_OBJECT, MASK);
	assert_non_null(strstr(why, "not sealed"));
	free(why);
	assert_int_equal(tpm_otp_wipe(f->t, TPM_HANDLE_TOTP, f->owner), TPM_E_NO_OBJECT);
	assert_int_equal(tpm_otp_present(f->t, TPM_PRIMARY_HANDLE), 1);
	secret_free(wrong);
	assert_no_leaks(f->t);
}

static void test_rejects(void **state)
{
	struct fixture *f = *state;
	struct tpm_pcr_values exp;
	struct secret *shortkey = secret_dup("short", 5);
	uint8_t mac[20], big[65] = {0};

	assert_int_equal(tpm_otp_expected(f->t, 0, NULL, &exp), -EINVAL);
	assert_int_equal(tpm_otp_expected(f->t, MASK, NULL, &exp), 0);
	assert_int_equal(tpm_otp_seal(f->t, TPM_HANDLE_TOTP, shortkey, &exp, f->owner), -EINVAL);
	assert_int_equal(tpm_otp_seal(f->t, 0x01000000, shortkey, &exp, f->owner), -EINVAL);
	assert_int_equal(tpm_otp_hmac(f->t, TPM_HANDLE_TOTP, MASK, big, sizeof(big), mac),
			 -EINVAL);
	secret_free(shortkey);
}

/* Issue 24: sealed to the NEXT boot's PCR 2 (a firmware update), the
 * secret gives no code now and the software code of the same secret once
 * PCR 2 holds the predicted value. A next value for a PCR outside the
 * mask is ignored. */
static void test_enrol_next_pcr2(void **state)
{
	struct fixture *f = *state;
	struct tpm_pcr_values next = {0};
	struct secret *key = NULL;
	enum tpm_otp_enrol_step step;
	uint8_t now[32], d[32], buf[64];
	size_t n = 0;
	uint32_t code, want;
	char *note = NULL;
	time_t t;

	assert_int_equal(tpm_pcr_read(f->t, "sha256", 2, now, &n), 0);
	assert_int_equal(EVP_Digest("next firmware", 13, d, NULL, EVP_sha256(), NULL), 1);
	memcpy(buf, now, 32);
	memcpy(buf + 32, d, 32);
	assert_int_equal(EVP_Digest(buf, 64, next.sha256[2], NULL, EVP_sha256(), NULL), 1);
	next.mask = 1u << 2 | 1u << 9;
	memset(next.sha256[9], 0x99, 32);
	assert_int_equal(tpm_otp_enrol_next(f->t, MASK, NULL, &next, f->owner, &key, &note,
					    &step), 0);
	assert_non_null(key);
	assert_non_null(note); /* no code in this boot: PCR 2 is not yet the new one */
	assert_non_null(strstr(note, "PCR 2 moved"));
	free(note);
	t = time(NULL);
	assert_int_equal(tpm_otp_totp(f->t, TPM_HANDLE_TOTP, MASK, t, &code), TPM_E_PCR_MISMATCH);
	assert_int_equal(tpm_extend_string(f->t, 2, "next firmware"), 0);
	assert_int_equal(tpm_otp_totp(f->t, TPM_HANDLE_TOTP, MASK, t, &code), 0);
	assert_int_equal(otp_totp(key->data, key->len, t, OTP_TOTP_PERIOD, OTP_DIGITS, &want), 0);
	assert_int_equal(code, want);
	secret_free(key);
	assert_no_leaks(f->t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rfc_vectors_in_tpm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_and_explanation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sealed_mask, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wipe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rejects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enrol_next_pcr2, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
