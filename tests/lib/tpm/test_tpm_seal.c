/* Reset, seal/unseal outcomes, prediction, DA lockout, counters, NV —
 * against a private swtpm; every test checks that no handle leaks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "secret.h"
#include "swtpm.h"
#include "tpm/eventlog.h"
#include "tpm/tpm.h"
#include "util.h"

static struct swtpm sw;
static struct secret *owner;

static struct secret *S(const char *s)
{
	struct secret *x = secret_dup(s, strlen(s));
	assert_non_null(x);
	return x;
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

/* Fresh, owned TPM for every test. */
static int setup(void **state)
{
	struct tpm *t = NULL;
	(void)state;
	memset(&sw, 0, sizeof(sw));
	if (swtpm_start(&sw) < 0)
		return -1;
	owner = S("owner passphrase");
	if (tpm_open(sw.tcti, &t) < 0 || tpm_reset(t, owner) < 0)
		return -1;
	tpm_close(t);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	assert_no_leaks();
	secret_free(owner);
	swtpm_destroy(&sw);
	return 0;
}

static void seal_current(uint32_t handle, uint32_t mask, const char *data, const char *auth)
{
	struct tpm *t = NULL;
	struct tpm_pcr_values v;
	_cleanup_secret_ struct secret *d = S(data);
	_cleanup_secret_ struct secret *a = auth ? S(auth) : NULL;
	assert_int_equal(tpm_open(sw.tcti, &t), 0);
	assert_int_equal(tpm_pcr_values_current(t, mask, &v), 0);
	assert_int_equal(tpm_seal(t, handle, d, &v, a, owner), 0);
	tpm_close(t);
}

static int unseal(uint32_t handle, const char *auth, const char *expect)
{
	struct tpm *t = NULL;
	struct secret *out = NULL;
	_cleanup_secret_ struct secret *a = auth ? S(auth) : NULL;
	int r;
	assert_int_equal(tpm_open(sw.tcti, &t), 0);
	r = tpm_unseal(t, handle, a, &out);
	if (r == 0) {
		assert_int_equal(out->len, strlen(expect));
		assert_memory_equal(out->data, expect, out->len);
		secret_free(out);
	}
	tpm_close(t);
	return r;
}

static void extend(unsigned pcr, const char *s)
{
	struct tpm *t = NULL;
	assert_int_equal(tpm_open(sw.tcti, &t), 0);
	assert_int_equal(tpm_extend_string(t, pcr, s), 0);
	tpm_close(t);
}

static void test_roundtrip_and_pcr_mismatch(void **state)
{
	struct tpm *t = NULL;
	struct tpm_pcr_values exp, cur;
	bool with_auth = true;
	(void)state;
	seal_current(TPM_HANDLE_TOTP, 0x9f, "totp-secret-20-bytes", NULL);
	assert_int_equal(unseal(TPM_HANDLE_TOTP, NULL, "totp-secret-20-bytes"), 0);
	assert_int_equal(unseal(TPM_HANDLE_TOTP, NULL, "totp-secret-20-bytes"), 0);
	/* an unselected PCR moves: still fine */
	extend(5, "module");
	extend(16, "scratch");
	assert_int_equal(unseal(TPM_HANDLE_TOTP, NULL, "totp-secret-20-bytes"), 0);
	/* a selected PCR moves: refused as a PCR mismatch, naming PCR 4 */
	extend(4, "usb");
	assert_int_equal(unseal(TPM_HANDLE_TOTP, NULL, NULL), TPM_E_PCR_MISMATCH);
	assert_int_equal(tpm_open(sw.tcti, &t), 0);
	assert_int_equal(tpm_sealed_expected(t, TPM_HANDLE_TOTP, &exp, &with_auth), 0);
	assert_false(with_auth);
	assert_int_equal(exp.mask, 0x9f);
	assert_int_equal(tpm_pcr_values_current(t, exp.mask, &cur), 0);
	for (unsigned i = 0; i < 8; i++) {
		if (!(exp.mask & (1u << i)))
			continue;
		if (i == 4)
			assert_memory_not_equal(exp.sha256[i], cur.sha256[i], 32);
		else
			assert_memory_equal(exp.sha256[i], cur.sha256[i], 32);
	}
	tpm_close(t);
}

static void test_unselected_bank_does_not_matter(void **state)
{
	struct tpm *t = NULL;
	TPML_DIGEST_VALUES d = {.count = 1};
	(void)state;
	seal_current(TPM_HANDLE_TOTP, 0x9f, "x", NULL);
	assert_int_equal(tpm_open(sw.tcti, &t), 0);
	d.digests[0].hashAlg = TPM2_ALG_SHA1;
	memset(d.digests[0].digest.sha1, 0xab, 20);
	assert_int_equal(Esys_PCR_Extend(tpm_esys(t), ESYS_TR_PCR0 + 7, ESYS_TR_PASSWORD,
					 ESYS_TR_NONE, ESYS_TR_NONE, &d), 0);
	tpm_close(t);
	assert_int_equal(unseal(TPM_HANDLE_TOTP, NULL, "x"), 0);
}

static void test_predicted_value_unseals_after_extends(void **state)
{
	struct tpm *t = NULL;
	struct tpm_pcr_values v;
	uint8_t extra[1][32];
	unsigned n = 32;
	_cleanup_secret_ struct secret *d = S("disk unlock key");
	_cleanup_secret_ struct secret *a = S("duk passphrase 1234");
	(void)state;
	assert_int_equal(tpm_open(sw.tcti, &t), 0);
	assert_int_equal(tpm_pcr_values_current(t, 0xff, &v), 0);
	EVP_Digest("luksDump", 8, extra[0], &n, EVP_sha256(), NULL);
	assert_int_equal(tpm_predict_pcr(NULL, 6, (const uint8_t(*)[32])extra, 1, v.sha256[6]), 0);
	assert_int_equal(tpm_seal(t, TPM_HANDLE_DUK, d, &v, a, owner), 0);
	tpm_close(t);
	/* PCR 6 not yet extended: refused */
	assert_int_equal(unseal(TPM_HANDLE_DUK, "duk passphrase 1234", NULL), TPM_E_PCR_MISMATCH);
	extend(6, "luksDump");
	assert_int_equal(unseal(TPM_HANDLE_DUK, "duk passphrase 1234", "disk unlock key"), 0);
	/* the passphrase is needed */
	assert_int_equal(unseal(TPM_HANDLE_DUK, NULL, NULL), TPM_E_AUTH_FAIL);
}

static void test_wrong_passphrase_then_lockout(void **state)
{
	struct tpm *t = NULL;
	bool lockout = true;
	uint32_t counter = 99, max = 0, secs = 0;
	(void)state;
	seal_current(TPM_HANDLE_DUK, 0xff, "key", "right passphrase");
	assert_int_equal(unseal(TPM_HANDLE_DUK, "wrong passphrase", NULL), TPM_E_AUTH_FAIL);
	assert_int_equal(tpm_open(sw.tcti, &t), 0);
	assert_int_equal(tpm_lockout_status(t, &lockout, &counter, &max, &secs), 0);
	assert_false(lockout);
	assert_int_equal(counter, 1);
	assert_int_equal(max, 10);
	assert_int_equal(secs, 3600);
	tpm_close(t);
	for (int i = 0; i < 9; i++)
		assert_int_equal(unseal(TPM_HANDLE_DUK, "wrong passphrase", NULL), TPM_E_AUTH_FAIL);
	/* now locked out: even the right passphrase is refused as lockout */
	assert_int_equal(unseal(TPM_HANDLE_DUK, "right passphrase", NULL), TPM_E_LOCKOUT);
	assert_int_equal(tpm_open(sw.tcti, &t), 0);
	assert_int_equal(tpm_lockout_status(t, &lockout, &counter, &max, &secs), 0);
	assert_true(lockout);
	tpm_close(t);
}

static void test_no_object_and_no_primary(void **state)
{
	struct tpm *t = NULL;
	struct secret *out = NULL;
	(void)state;
	assert_int_equal(unseal(0x81000042, NULL, NULL), TPM_E_NO_OBJECT);
	assert_int_equal(tpm_open(sw.tcti, &t), 0);
	assert_int_equal(tpm_unseal_mask(t, 0x81000042, 0x1, NULL, &out), TPM_E_NO_OBJECT);
	seal_current(TPM_HANDLE_TOTP, 0x1, "x", NULL);
	assert_int_equal(tpm_evict(t, TPM_HANDLE_TOTP, owner), 0);
	assert_int_equal(tpm_evict(t, TPM_HANDLE_TOTP, owner), TPM_E_NO_OBJECT);
	assert_int_equal(tpm_evict(t, TPM_PRIMARY_HANDLE, owner), 0);
	tpm_close(t);
	assert_int_equal(unseal(TPM_HANDLE_TOTP, NULL, NULL), TPM_E_NO_PRIMARY);
}

static void test_wrong_owner_auth(void **state)
{
	struct tpm *t = NULL;
	struct tpm_pcr_values v;
	_cleanup_secret_ struct secret *d = S("x");
	_cleanup_secret_ struct secret *bad = S("not the owner");
	uint32_t idx;
	(void)state;
	assert_int_equal(tpm_open(sw.tcti, &t), 0);
	assert_int_equal(tpm_pcr_values_current(t, 0x1, &v), 0);
	assert_int_equal(tpm_seal(t, TPM_HANDLE_TOTP, d, &v, NULL, bad), TPM_E_AUTH_FAIL);
	assert_int_equal(tpm_counter_create(t, bad, &idx), TPM_E_AUTH_FAIL);
	tpm_close(t);
}

static void test_policy_digest_equals_trial(void **state)
{
	struct tpm *t = NULL;
	struct tpm_pcr_values v;
	TPM2B_DIGEST *trial = NULL;
	uint8_t sw_digest[32];
	ESYS_TR s;
	(void)state;
	assert_int_equal(tpm_open(sw.tcti, &t), 0);
	for (int auth = 0; auth < 2; auth++) {
		assert_int_equal(tpm_pcr_values_current(t, 0x9f, &v), 0);
		assert_int_equal(tpm_policy_session(t, 0x9f, auth, &s), 0);
		assert_int_equal(Esys_PolicyGetDigest(tpm_esys(t), s, ESYS_TR_NONE, ESYS_TR_NONE,
						      ESYS_TR_NONE, &trial), 0);
		assert_int_equal(tpm_policy_digest(&v, auth, sw_digest), 0);
		assert_int_equal(trial->size, 32);
		assert_memory_equal(trial->buffer, sw_digest, 32);
		Esys_Free(trial);
		tpm_flush(t, s);
	}
	/* a session left open is flushed by tpm_close */
	assert_int_equal(tpm_policy_session(t, 0x1, false, &s), 0);
	tpm_close(t);
}

static void test_counter_monotonic_across_restart(void **state)
{
	struct tpm *t = NULL;
	uint32_t idx = 0, attrs;
	uint64_t v0 = 0, v1 = 0, v2 = 0;
	size_t sz;
	(void)state;
	assert_int_equal(tpm_open(sw.tcti, &t), 0);
	assert_int_equal(tpm_counter_create(t, owner, &idx), 0);
	assert_int_equal(idx >> 24, 0x01);
	assert_int_equal(tpm_nv_info(t, idx, &attrs, &sz), 0);
	assert_int_equal(sz, 8);
	assert_true(attrs & TPMA_NV_AUTHWRITE);
	assert_false(attrs & TPMA_NV_OWNERWRITE);
	assert_int_equal(tpm_counter_read(t, idx, &v0), 0);
	assert_int_equal(tpm_counter_increment(t, idx, NULL, &v1), 0);
	assert_true(v1 > v0);
	tpm_close(t);
	assert_int_equal(swtpm_restart(&sw), 0);
	assert_int_equal(tpm_open(sw.tcti, &t), 0);
	assert_int_equal(tpm_counter_read(t, idx, &v2), 0);
	assert_true(v2 >= v1);
	assert_int_equal(tpm_counter_increment(t, idx, NULL, &v2), 0);
	assert_true(v2 > v1);
	assert_int_equal(tpm_counter_read(t, 0x01000001 == idx ? 0x01000002 : 0x01000001, &v0),
			 TPM_E_NO_OBJECT);
	tpm_close(t);
}

static void test_nv_index(void **state)
{
	struct tpm *t = NULL;
	uint8_t data[700], *back = NULL;
	size_t len;
	(void)state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)i;
	assert_int_equal(tpm_open(sw.tcti, &t), 0);
	assert_int_equal(tpm_nv_define(t, 0x01500001, sizeof(data), owner), 0);
	assert_int_equal(tpm_nv_define(t, 0x01500001, sizeof(data), owner), -EEXIST);
	assert_int_equal(tpm_nv_read(t, 0x01500001, &back, &len), -ENODATA);
	assert_int_equal(tpm_nv_write(t, 0x01500001, data, sizeof(data), NULL), 0);
	assert_int_equal(tpm_nv_read(t, 0x01500001, &back, &len), 0);
	assert_int_equal(len, sizeof(data));
	assert_memory_equal(back, data, len);
	free(back);
	assert_int_equal(tpm_nv_undefine(t, 0x01500001, owner), 0);
	assert_int_equal(tpm_nv_read(t, 0x01500001, &back, &len), TPM_E_NO_OBJECT);
	tpm_close(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip_and_pcr_mismatch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unselected_bank_does_not_matter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_predicted_value_unseals_after_extends, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_passphrase_then_lockout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_object_and_no_primary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_owner_auth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_digest_equals_trial, setup, teardown),
		cmocka_unit_test_setup_teardown(test_counter_monotonic_across_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nv_index, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
