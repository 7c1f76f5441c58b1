/* TPM 1.2 marshalling against the TCG TPM Main Part 2 (structures) and
 * Part 3 (commands) layouts, byte for byte; the bounded response reader
 * and the structure parsers on valid, truncated and oversized inputs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "tpm/tpm12_wire.h"

static void test_extend_command_layout(void **state)
{
	/* Part 3 TPM_Extend: tag RQU_COMMAND, paramSize 34, ordinal 0x14,
	 * pcrNum, inDigest[20] */
	struct tpm12_cmd c;
	uint8_t d[20];
	(void)state;
	memset(d, 0xab, 20);
	tpm12_cmd_init(&c, TPM12_TAG_RQU_COMMAND, TPM12_ORD_Extend);
	tpm12_put_u32(&c, 16);
	tpm12_put_bytes(&c, d, 20);
	assert_int_equal(tpm12_cmd_finish(&c), 0);
	static const uint8_t head[] = {0x00, 0xc1, 0x00, 0x00, 0x00, 0x22, 0x00, 0x00,
				       0x00, 0x14, 0x00, 0x00, 0x00, 0x10};
	assert_int_equal(c.len, 34);
	assert_memory_equal(c.b, head, sizeof(head));
	assert_memory_equal(c.b + 14, d, 20);
}

static void test_getcap_da_logic_layout(void **state)
{
	/* Part 3 TPM_GetCapability(TPM_CAP_DA_LOGIC, subCapSize 2, TPM_ET_OWNER) */
	struct tpm12_cmd c;
	uint8_t sub[2] = {0, TPM12_ET_OWNER};
	(void)state;
	tpm12_cmd_init(&c, TPM12_TAG_RQU_COMMAND, TPM12_ORD_GetCapability);
	tpm12_put_u32(&c, TPM12_CAP_DA_LOGIC);
	tpm12_put_u32(&c, 2);
	tpm12_put_bytes(&c, sub, 2);
	assert_int_equal(tpm12_cmd_finish(&c), 0);
	static const uint8_t want[] = {0x00, 0xc1, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x65,
				       0x00, 0x00, 0x00, 0x19, 0x00, 0x00, 0x00, 0x02, 0x00, 0x02};
	assert_int_equal(c.len, sizeof(want));
	assert_memory_equal(c.b, want, sizeof(want));
}

static void test_overflow_refused(void **state)
{
	struct tpm12_cmd c;
	static uint8_t big[TPM12_MAX_COMMAND];
	(void)state;
	tpm12_cmd_init(&c, TPM12_TAG_RQU_COMMAND, TPM12_ORD_NV_WriteValue);
	tpm12_put_bytes(&c, big, sizeof(big));
	assert_int_equal(tpm12_cmd_finish(&c), -E2BIG);
}

static void test_response_header_bounds(void **state)
{
	struct tpm12_rsp r;
	uint8_t ok[30] = {0x00, 0xc4, 0, 0, 0, 30, 0, 0, 0, 0};
	(void)state;
	assert_int_equal(tpm12_rsp_parse(&r, ok, 30), 0);
	assert_int_equal(r.rc, 0);
	assert_non_null(tpm12_get_bytes(&r, 20));
	assert_null(tpm12_get_bytes(&r, 1)); /* past the end: refused, sticky */
	assert_true(r.err);
	assert_int_equal(tpm12_get_u32(&r), 0);
	/* paramSize must equal what was received */
	assert_int_equal(tpm12_rsp_parse(&r, ok, 29), -EBADMSG);
	ok[5] = 200;
	assert_int_equal(tpm12_rsp_parse(&r, ok, 30), -EBADMSG);
	/* a request tag is no response */
	ok[5] = 30;
	ok[1] = 0xc1;
	assert_int_equal(tpm12_rsp_parse(&r, ok, 30), -EBADMSG);
	assert_int_equal(tpm12_rsp_parse(&r, ok, 5), -EBADMSG);
	/* error response: header only, rc */
	uint8_t err[10] = {0x00, 0xc4, 0, 0, 0, 10, 0, 0, 0x08, 0x03};
	assert_int_equal(tpm12_rsp_parse(&r, err, 10), 0);
	assert_int_equal(r.rc, TPM12_DEFEND_LOCK_RUNNING);
	assert_int_equal(tpm12_rsp_left(&r, 1), 0);
}

static void test_da_info(void **state)
{
	/* Part 2 21.7 TPM_DA_INFO: tag state currentCount thresholdCount
	 * actionAtThreshold(tag, actions) actionDependValue vendorDataSize */
	static const uint8_t full[] = {0x00, 0x37, 0x01, 0x00, 0x06, 0x00, 0x05, 0x00, 0x39,
				       0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x02,
				       0x00, 0x00, 0x00, 0x00};
	static const uint8_t limited[] = {0x00, 0x38, 0x00, 0x00, 0x39, 0x00, 0x00, 0x00, 0x04,
					  0x00, 0x00, 0x00, 0x00};
	struct tpm12_da_info da;
	(void)state;
	assert_int_equal(tpm12_parse_da_info(full, sizeof(full), &da), 0);
	assert_int_equal(da.state, 1);
	assert_int_equal(da.current, 6);
	assert_int_equal(da.threshold, 5);
	assert_int_equal(da.depend, 2);
	assert_false(da.limited);
	assert_int_equal(tpm12_parse_da_info(limited, sizeof(limited), &da), 0);
	assert_true(da.limited);
	for (size_t n = 0; n < sizeof(full); n++)
		assert_int_equal(tpm12_parse_da_info(full, n, &da), -EBADMSG);
	uint8_t vendor[sizeof(full)];
	memcpy(vendor, full, sizeof(full));
	vendor[sizeof(full) - 1] = 0xff; /* vendor data beyond the input */
	assert_int_equal(tpm12_parse_da_info(vendor, sizeof(vendor), &da), -EBADMSG);
}

static void test_counter_and_stored_data(void **state)
{
	static const uint8_t cv[] = {0x00, 0x0e, 0xba, 0xdd, 0xec, 0xaf, 0x00, 0x00, 0x00, 0x07};
	struct tpm12_counter_value v;
	uint8_t blob[312] = {0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 44};
	size_t len;
	(void)state;
	assert_int_equal(tpm12_parse_counter_value(cv, sizeof(cv), &v), 0);
	assert_int_equal(v.counter, 7);
	assert_memory_equal(v.label, "\xba\xdd\xec\xaf", 4);
	assert_int_equal(tpm12_parse_counter_value(cv, 9, &v), -EBADMSG);
	/* TPM_STORED_DATA: ver 1.1.0.0, sealInfo 44 (TPM_PCR_INFO, 2-byte
	 * select), encData 256: the reference's 312 bytes */
	blob[8 + 44 + 2] = 0x01;
	assert_int_equal(tpm12_stored_data_size(blob, sizeof(blob), &len), 0);
	assert_int_equal(len, 312);
	assert_int_equal(tpm12_stored_data_size(blob, 311, &len), -EBADMSG);
	blob[0] = 0x02;
	assert_int_equal(tpm12_stored_data_size(blob, sizeof(blob), &len), -EBADMSG);
}

static void test_nv_public_and_pubkey(void **state)
{
	uint8_t nv[2 + 4 + 2 * 26 + 6 + 3 + 4] = {0x00, 0x18, 0, 0, 0x4d, 0x47};
	size_t o = 6;
	struct tpm12_nv_public pub;
	(void)state;
	for (int k = 0; k < 2; k++) {
		nv[o + 1] = 3;
		nv[o + 5] = 0x1f;
		o += 26;
	}
	nv[o + 1] = 0x17;
	nv[o + 5] = 0x02;
	o += 6 + 3;
	nv[o + 2] = 0x01;
	nv[o + 3] = 0x38;
	assert_int_equal(tpm12_parse_nv_public(nv, sizeof(nv), &pub), 0);
	assert_int_equal(pub.index, 0x4d47);
	assert_int_equal(pub.permission, 2);
	assert_int_equal(pub.size, 312);
	assert_int_equal(tpm12_parse_nv_public(nv, sizeof(nv) - 1, &pub), -EBADMSG);

	uint8_t pk[4 + 2 + 2 + 4 + 12 + 4 + 256] = {0, 0, 0, 1, 0, 3, 0, 1, 0, 0, 0, 12,
						     0, 0, 0x08, 0x00, 0, 0, 0, 2, 0, 0, 0, 0,
						     0, 0, 0x01, 0x00};
	struct tpm12_rsa_pub rsa;
	size_t used;
	assert_int_equal(tpm12_parse_pubkey(pk, sizeof(pk), &rsa, &used), 0);
	assert_int_equal(used, sizeof(pk));
	assert_int_equal(rsa.n_len, 256);
	assert_int_equal(rsa.e, 65537);
	assert_int_equal(tpm12_parse_pubkey(pk, sizeof(pk) - 1, &rsa, &used), -EBADMSG);
	pk[15] = 0x01; /* keyLength 2049 bits != 256 bytes */
	assert_int_equal(tpm12_parse_pubkey(pk, sizeof(pk), &rsa, &used), -EBADMSG);
}

/* TPM_STCLEAR_FLAGS, Part 2 7.2: tag 0x0020, deactivated,
 * disableForceClear, physicalPresence, physicalPresenceLock, bGlobalLock. */
static void test_stclear_flags(void **state)
{
	(void)state;
	struct tpm12_stclear_flags f;
	const uint8_t ok[] = {0x00, 0x20, 0, 1, 0, 1, 0};
	assert_int_equal(tpm12_parse_stclear_flags(ok, sizeof(ok), &f), 0);
	assert_false(f.deactivated);
	assert_true(f.disable_force_clear);
	assert_false(f.physical_presence);
	assert_true(f.physical_presence_lock);
	assert_false(f.global_lock);
	const uint8_t tag[] = {0x00, 0x1F, 0, 0, 0, 1, 0};
	assert_int_equal(tpm12_parse_stclear_flags(tag, sizeof(tag), &f), -EBADMSG);
	const uint8_t bool2[] = {0x00, 0x20, 0, 0, 0, 2, 0};
	assert_int_equal(tpm12_parse_stclear_flags(bool2, sizeof(bool2), &f), -EBADMSG);
	assert_int_equal(tpm12_parse_stclear_flags(ok, sizeof(ok) - 1, &f), -EBADMSG);
	const uint8_t longer[] = {0x00, 0x20, 0, 0, 0, 1, 0, 0};
	assert_int_equal(tpm12_parse_stclear_flags(longer, sizeof(longer), &f), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_extend_command_layout),
		cmocka_unit_test(test_getcap_da_logic_layout),
		cmocka_unit_test(test_overflow_refused),
		cmocka_unit_test(test_response_header_bounds),
		cmocka_unit_test(test_da_info),
		cmocka_unit_test(test_counter_and_stored_data),
		cmocka_unit_test(test_nv_public_and_pubkey),
		cmocka_unit_test(test_stclear_flags),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
