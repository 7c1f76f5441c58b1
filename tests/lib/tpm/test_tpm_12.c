/* The TPM 1.2 client (src/lib/tpm/tpm12.c) against swtpm in TPM 1.2 mode,
 * manufactured and owned by swtpm_setup (an independent TakeOwnership).
 * Oracles: OpenSSL SHA-1 for PCR arithmetic and sealed PCR composites;
 * the wire structures against TCG TPM Main Part 2/3 layouts (sizes of the
 * sealed blob, counter values, DA info). */
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
#include "tpm/tpm12.h"
#include "util.h"

#define OWNER "owner passphrase 12"

static struct swtpm sw;
static struct tpm12 *t;

static int setup(void **state)
{
	(void)state;
	memset(&sw, 0, sizeof(sw));
	if (swtpm12_manufacture(&sw, OWNER) < 0 || swtpm_start(&sw) < 0)
		return -1;
	/* tcti "tpm12-swtpm:..." -> the transport part */
	if (tpm12_open(sw.tcti + 6, &t) < 0)
		return -1;
	/* swtpm_setup --srk-well-known stores SHA-1 of the 20 zero bytes */
	uint8_t z[20] = {0}, h[20];
	unsigned int l = 20;
	EVP_Digest(z, 20, h, &l, EVP_sha1(), NULL);
	tpm12_set_srk_auth(t, h);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tpm12_close(t);
	t = NULL;
	swtpm_destroy(&sw);
	return 0;
}

static void sha1(const void *d, size_t n, uint8_t out[20])
{
	unsigned int l = 20;
	EVP_Digest(d, n, out, &l, EVP_sha1(), NULL);
}

static struct secret *pass(const char *s)
{
	return secret_dup(s, strlen(s));
}

static void test_pcr_read_extend_sha1(void **state)
{
	uint8_t v[20], nv[20], got[20], buf[40], d[20], ff[20];
	(void)state;
	memset(ff, 0xff, 20);
	assert_int_equal(tpm12_pcr_read(t, 16, v), 0);
	sha1("usb", 3, d);
	assert_int_equal(tpm12_extend(t, 16, d, got), 0);
	memcpy(buf, v, 20);
	memcpy(buf + 20, d, 20);
	sha1(buf, 40, nv);
	assert_memory_equal(got, nv, 20);
	assert_int_equal(tpm12_pcr_read(t, 16, v), 0);
	assert_memory_equal(v, nv, 20);
	/* PCRs 17-22 (locality/DRTM) start at all-ones on a TPM 1.2 */
	assert_int_equal(tpm12_pcr_read(t, 17, v), 0);
	assert_memory_equal(v, ff, 20);
	assert_int_equal(tpm12_pcr_read(t, 24, v), -EINVAL);
}

static void test_capabilities(void **state)
{
	char m[5];
	struct tpm12_perm_flags f;
	struct tpm12_da_info da;
	(void)state;
	assert_int_equal(tpm12_manufacturer(t, m), 0);
	assert_int_equal(strlen(m), 4);
	assert_int_equal(tpm12_perm_flags(t, &f), 0);
	assert_true(f.ownership);
	assert_false(f.disabled);
	assert_false(f.deactivated);
	assert_int_equal(tpm12_da_info(t, &da), 0);
	assert_int_equal(da.state, 0);
}

static void test_owner_auth_hmac_chain(void **state)
{
	_cleanup_secret_ struct secret *o = pass(OWNER), *w = pass("wrong");
	(void)state;
	assert_int_equal(tpm12_check_owner(t, o), 0);
	assert_int_equal(tpm12_check_owner(t, w), TPM_E_AUTH_FAIL);
	assert_int_equal(tpm12_check_owner(t, o), 0);
}

static void test_counter(void **state)
{
	_cleanup_secret_ struct secret *o = pass(OWNER), *empty = secret_dup("", 0);
	uint8_t label[4] = {0xba, 0xde, 0x3c, 0xaf};
	uint32_t id, v0, v, v2;
	(void)state;
	uint8_t got[4];
	assert_int_equal(tpm12_counter_create(t, o, empty, label, &id, &v0), 0);
	assert_int_equal(tpm12_counter_read(t, id, &v, got), 0);
	assert_int_equal(v, v0);
	assert_memory_equal(got, label, 4);
	assert_int_equal(tpm12_counter_increment(t, id, empty, &v2), 0);
	assert_int_equal(v2, v0 + 1);
	assert_int_equal(tpm12_counter_read(t, id, &v, NULL), 0);
	assert_int_equal(v, v0 + 1);
	_cleanup_secret_ struct secret *w = pass("x");
	assert_int_equal(tpm12_counter_increment(t, id, w, &v2), TPM_E_AUTH_FAIL);
	assert_int_equal(tpm12_counter_read(t, id + 77, &v, NULL), TPM_E_NO_OBJECT);

	/* Through tpm.h a TPM 1.2 counter is TPM12_COUNTER_TAG | id and must
	 * carry the reference's label 0xbaddecaf: this one (another label) is
	 * refused as foreign, a bare id is no TPM 1.2 counter; one heads creates
	 * reads back. (swtpm serves one connection: ours is closed meanwhile.) */
	struct tpm *tp = NULL;
	uint64_t v64;
	uint32_t mine;
	tpm12_close(t);
	t = NULL;
	assert_int_equal(tpm_open(sw.tcti, &tp), 0);
	assert_int_equal(tpm_counter_read(tp, TPM12_COUNTER_TAG | id, &v64), TPM_E_FOREIGN_RECORD);
	assert_int_equal(tpm_counter_increment(tp, TPM12_COUNTER_TAG | id, NULL, &v64),
			 TPM_E_FOREIGN_RECORD);
	assert_int_equal(tpm_counter_read(tp, id, &v64), -EINVAL);
	assert_int_equal(tpm_counter_create(tp, o, &mine), 0);
	assert_int_equal(mine & 0xffff0000u, TPM12_COUNTER_TAG);
	assert_int_not_equal(mine & 0xffff, id);
	assert_int_equal(tpm_counter_read(tp, mine, &v64), 0);
	tpm_close(tp);
	assert_int_equal(tpm12_open(sw.tcti + 6, &t), 0);
	uint8_t z[20] = {0}, h[20];
	sha1(z, 20, h);
	tpm12_set_srk_auth(t, h);
}

static void test_nv_312(void **state)
{
	_cleanup_secret_ struct secret *o = pass(OWNER);
	uint8_t data[312], back[312];
	(void)state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	/* the reference's -per 0 (writable by anyone) is refused once the TPM's
	 * NV is locked (TPM_PER_NOWRITE): owner-written instead */
	assert_int_equal(tpm12_nv_define(t, 0x4d47, 312, 0, o), -EPERM);
	assert_int_equal(tpm12_nv_define(t, 0x4d47, 312, TPM12_NV_PER_OWNERWRITE, o), 0);
	assert_int_equal(tpm12_nv_write(t, 0x4d47, data, sizeof(data), o), 0);
	assert_int_equal(tpm12_nv_read(t, 0x4d47, sizeof(back), back), 0);
	assert_memory_equal(back, data, sizeof(data));
	assert_int_equal(tpm12_nv_read(t, 0x4d48, 4, back), TPM_E_NO_OBJECT);
}

static void test_seal_unseal(void **state)
{
	_cleanup_secret_ struct secret *data = secret_dup("twenty-byte-secret!!", 20);
	_cleanup_secret_ struct secret *auth = pass("disk unlock key pass"), *w = pass("wrong");
	uint8_t vals[24][20];
	uint32_t mask = 0x00ff; /* PCRs 0-7 */
	uint8_t *blob = NULL, *blob2 = NULL;
	size_t len, len2;
	struct secret *out = NULL;
	(void)state;
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(tpm12_pcr_read(t, i, vals[i]), 0);
	assert_int_equal(tpm12_seal(t, mask, (const uint8_t(*)[20])vals, data, NULL, &blob, &len), 0);
	/* TPM_STORED_DATA 1.1 with TPM_PCR_INFO (2-byte select) and a
	 * 2048-bit SRK: the reference's 312-byte blob */
	assert_int_equal(len, 312);
	assert_int_equal(tpm12_unseal(t, blob, len, NULL, &out), 0);
	assert_int_equal(out->len, 20);
	assert_memory_equal(out->data, data->data, 20);
	secret_free(out);
	out = NULL;
	/* with a passphrase */
	assert_int_equal(tpm12_seal(t, mask, (const uint8_t(*)[20])vals, data, auth, &blob2, &len2), 0);
	assert_int_equal(tpm12_unseal(t, blob2, len2, w, &out), TPM_E_AUTH_FAIL);
	assert_int_equal(tpm12_unseal(t, blob2, len2, auth, &out), 0);
	secret_free(out);
	out = NULL;
	/* PCR 7 moves: refused as a PCR mismatch */
	uint8_t d[20] = {1};
	assert_int_equal(tpm12_extend(t, 7, d, NULL), 0);
	assert_int_equal(tpm12_unseal(t, blob, len, NULL, &out), TPM_E_PCR_MISMATCH);
	/* malformed blobs never reach the TPM */
	assert_int_equal(tpm12_unseal(t, blob, 20, NULL, &out), -EBADMSG);
	free(blob);
	free(blob2);
}

static void test_lockout(void **state)
{
	_cleanup_secret_ struct secret *o = pass(OWNER), *w = pass("wrong");
	struct tpm12_da_info da;
	int r = 0;
	(void)state;
	for (int i = 0; i < 30 && r != TPM_E_LOCKOUT; i++)
		r = tpm12_check_owner(t, w);
	assert_int_equal(r, TPM_E_LOCKOUT);
	/* even the right passphrase */
	assert_int_equal(tpm12_check_owner(t, o), TPM_E_LOCKOUT);
	assert_int_equal(tpm12_da_info(t, &da), 0);
	assert_int_equal(da.state, 1);
	assert_true(da.depend > 0);
}

/* SeaBIOS asserts physical presence at POST, then locks it for the boot
 * (TSC_PhysicalPresence NOTPRESENT|LOCK), as done here. An owned TPM is then
 * not cleared (-EPERM, the old owner still works); the STCLEAR flags say
 * why. */
static void test_reset_presence_locked_owned(void **state)
{
	_cleanup_secret_ struct secret *o = pass(OWNER), *n = pass("new owner");
	struct tpm12_stclear_flags sf;
	(void)state;
	assert_int_equal(tpm12_stclear_flags(t, &sf), 0);
	assert_false(sf.physical_presence_lock);
	assert_int_equal(tpm12_physical_presence(t, 0x0010 | 0x0004), 0);
	assert_int_equal(tpm12_stclear_flags(t, &sf), 0);
	assert_true(sf.physical_presence_lock);
	assert_int_not_equal(tpm12_physical_presence(t, 0x0008), 0);
	assert_int_equal(tpm12_reset(t, n), -EPERM);
	assert_int_equal(tpm12_check_owner(t, o), 0);
	/* the lock lasts until TPM_Startup(ST_CLEAR): a power cycle */
	tpm12_close(t);
	t = NULL;
	assert_int_equal(swtpm_restart(&sw), 0);
	assert_int_equal(tpm12_open(sw.tcti + 6, &t), 0);
	assert_int_equal(tpm12_stclear_flags(t, &sf), 0);
	assert_false(sf.physical_presence_lock);
	assert_int_equal(tpm12_reset(t, n), 0);
	assert_int_equal(tpm12_check_owner(t, n), 0);
}

/* A TPM as it leaves the factory (EK, no owner) with presence locked:
 * nothing to clear, TakeOwnership needs no presence, so the reset owns it. */
static int setup_unowned(void **state)
{
	(void)state;
	memset(&sw, 0, sizeof(sw));
	if (swtpm12_manufacture(&sw, NULL) < 0 || swtpm_start(&sw) < 0)
		return -1;
	return tpm12_open(sw.tcti + 6, &t) < 0 ? -1 : 0;
}

static void test_reset_presence_locked_unowned(void **state)
{
	_cleanup_secret_ struct secret *n = pass("new owner");
	bool owned = true;
	(void)state;
	assert_int_equal(tpm12_owned(t, &owned), 0);
	assert_false(owned);
	assert_int_equal(tpm12_physical_presence(t, 0x0010 | 0x0004), 0);
	assert_int_equal(tpm12_reset(t, n), 0);
	assert_int_equal(tpm12_owned(t, &owned), 0);
	assert_true(owned);
	assert_int_equal(tpm12_check_owner(t, n), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pcr_read_extend_sha1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capabilities, setup, teardown),
		cmocka_unit_test_setup_teardown(test_owner_auth_hmac_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_counter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nv_312, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seal_unseal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lockout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_presence_locked_owned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_presence_locked_unowned, setup_unowned,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
