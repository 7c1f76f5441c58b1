/* src/lib/dongle against the device models of tests/devices/ through an
 * in-process transport: frames, CRC, the counter window, the enrolment
 * counter walk, wrong PIN down to blocked, retry counters, CCID chaining
 * and time extensions, discovery in a fake sysfs tree. Codes the models
 * accept are checked against oathtool (an independent RFC 4226
 * implementation). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dongle/dongle.h"
#include "dongle/hotp_boot.h"
#include "dongle/nk3_secrets.h"
#include "dongle/nk_hid.h"
#include "dongle/transport.h"
#include "otp.h"
#include "secret.h"
#include "util.h"

#include "nk3_model.h"
#include "nk_hid_model.h"

static const uint8_t key20[20] = {0x3a, 0x01, 0x7f, 0x99, 0x10, 0x22, 0xe4, 0x5b, 0x00, 0xc1,
				  0x8d, 0x42, 0x6e, 0x13, 0xf0, 0x77, 0x05, 0xaa, 0x31, 0xbe};

/* oathtool --hotp -c N -d 6 HEXKEY */
static uint32_t oathtool_code(const uint8_t *key, size_t len, uint64_t c)
{
	char cmd[256], hex[2 * 64 + 1], out[32] = "";
	FILE *p;

	for (size_t i = 0; i < len; i++)
		sprintf(hex + 2 * i, "%02x", key[i]);
	snprintf(cmd, sizeof(cmd), "oathtool --hotp -d 6 -c %llu %s", (unsigned long long)c, hex);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(out, sizeof(out), p));
	assert_int_equal(pclose(p), 0);
	return (uint32_t)strtoul(out, NULL, 10);
}

static struct secret *sec(const char *s)
{
	struct secret *x = secret_dup(s, strlen(s));
	assert_non_null(x);
	return x;
}

static struct secret *key_secret(void)
{
	struct secret *x = secret_dup(key20, sizeof(key20));
	assert_non_null(x);
	return x;
}

static struct dongle *attach_hid(struct nk_hid_model *m)
{
	struct dongle *d = NULL;
	assert_int_equal(dongle_attach(nk_hid_model_transport(m), dongle_id_lookup(0x20a0, 0x4108),
				       &d),
			 DONGLE_OK);
	return d;
}

static struct dongle *attach_nk3(struct nk3_model *m)
{
	struct dongle *d = NULL;
	assert_int_equal(dongle_attach(nk3_model_transport(m), dongle_id_lookup(0x20a0, 0x42b2),
				       &d),
			 DONGLE_OK);
	return d;
}

/* ---- CRC and frames ---- */

/* CRC-32/MPEG-2, byte-wise, bitwise: check value 0x0376e6e7 ("123456789"). */
static uint32_t mpeg2(const uint8_t *d, size_t n)
{
	uint32_t crc = 0xffffffffu;
	for (size_t i = 0; i < n; i++) {
		crc ^= (uint32_t)d[i] << 24;
		for (int b = 0; b < 8; b++)
			crc = (crc & 0x80000000u) ? (crc << 1) ^ 0x04c11db7u : crc << 1;
	}
	return crc;
}

static void test_crc_is_stm32(void **state)
{
	uint8_t frame[60], swapped[60];
	(void)state;
	assert_int_equal(mpeg2((const uint8_t *)"123456789", 9), 0x0376e6e7);
	for (int i = 0; i < 60; i++)
		frame[i] = (uint8_t)(i * 37 + 11);
	/* The STM32 unit eats little-endian words MSB first = MPEG-2 over each
	 * word's bytes reversed. */
	for (int w = 0; w < 60; w += 4)
		for (int b = 0; b < 4; b++)
			swapped[w + b] = frame[w + 3 - b];
	assert_int_equal(nk_hid_crc32(frame, 60), mpeg2(swapped, 60));
	assert_int_equal(nk_model_crc32(frame, 60), nk_hid_crc32(frame, 60));
	assert_int_equal(nk_hid_crc32(frame, 0), 0xffffffffu);
}

static void test_hid_frame_layout(void **state)
{
	uint8_t f[NK_HID_REPORT_LEN], big[80];
	uint32_t crc;
	(void)state;
	memset(big, 0xee, sizeof(big));
	crc = nk_hid_query_build(f, 0x18, "\x01\x02\x03\x04", 4);
	assert_int_equal(f[0], 0x18);
	assert_memory_equal(f + 1, "\x01\x02\x03\x04", 4);
	for (int i = 5; i < 60; i++)
		assert_int_equal(f[i], 0);
	assert_int_equal(nk_hid_get_le32(f + 60), crc);
	assert_int_equal(crc, nk_model_crc32(f, 60));
	/* payload is capped at 59 bytes: the CRC is never overwritten */
	crc = nk_hid_query_build(f, 0x01, big, sizeof(big));
	assert_int_equal(nk_hid_get_le32(f + 60), crc);
	assert_int_equal(f[59], 0xee);
}

static void test_hid_response_parse(void **state)
{
	struct nk_hid_response r;
	uint8_t f[64] = {0};
	(void)state;
	f[1] = 0x18;
	nk_hid_put_le32(f + 2, 0xdeadbeef);
	f[6] = 3;
	f[7] = 1;
	nk_hid_put_le32(f + 60, nk_hid_crc32(f, 60));
	assert_int_equal(nk_hid_response_parse(f, 64, 0xdeadbeef, &r), 0);
	assert_int_equal(r.command, 0x18);
	assert_int_equal(r.status, 3);
	assert_int_equal(r.payload[0], 1);
	assert_int_equal(nk_hid_response_parse(f, 63, 0xdeadbeef, &r), -EMSGSIZE);
	assert_int_equal(nk_hid_response_parse(f, 64, 0xdeadbeee, &r), -ESTALE);
	f[60] ^= 1;
	assert_int_equal(nk_hid_response_parse(f, 64, 0xdeadbeef, &r), -EBADMSG);
	f[60] ^= 1;
	f[0] = 1; /* busy */
	nk_hid_put_le32(f + 60, nk_hid_crc32(f, 60));
	assert_int_equal(nk_hid_response_parse(f, 64, 0xdeadbeef, &r), -EBUSY);
}

/* The model refuses a query with a wrong CRC (status wrong_CRC). */
static void test_hid_model_checks_query_crc(void **state)
{
	struct nk_hid_model *m = nk_hid_model_new();
	uint8_t q[64], a[64];
	size_t n;
	(void)state;
	nk_hid_query_build(q, 0x00, NULL, 0);
	q[60] ^= 0x80;
	assert_int_equal(nk_hid_model_set_report(m, q, 64), 0);
	assert_int_equal(nk_hid_model_get_report(m, a, 64, &n), 0);
	assert_int_equal(a[6], NK_ST_WRONG_CRC);
	assert_int_equal(m->bad_crc_queries, 1);
	nk_hid_model_free(m);
}

/* ---- Nitrokey Pro family ---- */

static void test_hid_info(void **state)
{
	struct nk_hid_model *m = nk_hid_model_new();
	struct dongle *d = attach_hid(m);
	struct dongle_info i;
	(void)state;
	assert_int_equal(dongle_info(d, &i), DONGLE_OK);
	assert_string_equal(i.brand, "Nitrokey Pro");
	assert_string_equal(i.firmware, "0.15");
	assert_int_equal(i.serial, 0xa1b2);
	assert_true(i.have_retries);
	assert_int_equal(i.admin_retries, 3);
	assert_int_equal(i.user_retries, 3);
	dongle_close(d);
	nk_hid_model_free(m);
}

static void test_hid_not_configured(void **state)
{
	struct nk_hid_model *m = nk_hid_model_new();
	struct dongle *d = attach_hid(m);
	(void)state;
	assert_int_equal(dongle_hotp_check(d, oathtool_code(key20, 20, 0)), DONGLE_NOT_CONFIGURED);
	dongle_close(d);
	nk_hid_model_free(m);
}

/* Reference enrolment: target 1 -> device at 2, the /boot counter is 2. */
static void test_hid_enroll_and_verify(void **state)
{
	struct nk_hid_model *m = nk_hid_model_new();
	struct dongle *d = attach_hid(m);
	_cleanup_secret_ struct secret *pin = sec("12345678"), *key = key_secret();
	(void)state;
	assert_int_equal(dongle_hotp_enroll(d, pin, key, 1), DONGLE_OK);
	assert_true(m->slot_programmed);
	assert_memory_equal(m->slot_secret, key20, 20);
	assert_string_equal(m->slot_name, DONGLE_NK3_CREDENTIAL);
	assert_int_equal(m->slot_counter, 2);
	assert_int_equal(m->n_verified, 1);
	assert_int_equal(m->verified[0], 1);
	/* boot: the code for counter 2 from an independent implementation */
	for (uint64_t c = 2; c < 6; c++) {
		uint32_t code = oathtool_code(key20, 20, c), ours;
		assert_int_equal(otp_hotp(key20, 20, c, 6, &ours), 0);
		assert_int_equal(ours, code);
		assert_int_equal(dongle_hotp_check(d, code), DONGLE_OK);
		assert_int_equal(m->slot_counter, c + 1);
	}
	/* replay refused, counter kept */
	assert_int_equal(dongle_hotp_check(d, oathtool_code(key20, 20, 5)), DONGLE_INVALID_CODE);
	assert_int_equal(m->slot_counter, 6);
	dongle_close(d);
	nk_hid_model_free(m);
}

/* The window is c..c+9: c+9 passes (device to c+10), c+10 does not. */
static void test_hid_window(void **state)
{
	struct nk_hid_model *m = nk_hid_model_new();
	struct dongle *d = attach_hid(m);
	_cleanup_secret_ struct secret *pin = sec("12345678"), *key = key_secret();
	(void)state;
	assert_int_equal(dongle_hotp_enroll(d, pin, key, 1), DONGLE_OK); /* device at 2 */
	assert_int_equal(dongle_hotp_check(d, oathtool_code(key20, 20, 12)), DONGLE_INVALID_CODE);
	assert_int_equal(m->slot_counter, 2);
	assert_int_equal(dongle_hotp_check(d, oathtool_code(key20, 20, 11)), DONGLE_OK);
	assert_int_equal(m->slot_counter, 12);
	assert_int_equal(dongle_hotp_check(d, oathtool_code(key20, 20, 11)), DONGLE_INVALID_CODE);
	assert_int_equal(dongle_hotp_check(d, 1000000), DONGLE_INVALID_CODE);
	dongle_close(d);
	nk_hid_model_free(m);
}

/* Walking the device from 0 to a /boot counter of 25: 9, 19, then 25. */
static void test_hid_counter_walk(void **state)
{
	static const uint64_t targets[] = {1, 9, 10, 19, 20, 25, 100};
	(void)state;
	for (size_t t = 0; t < sizeof(targets) / sizeof(targets[0]); t++) {
		struct nk_hid_model *m = nk_hid_model_new();
		struct dongle *d = attach_hid(m);
		_cleanup_secret_ struct secret *pin = sec("12345678"), *key = key_secret();
		unsigned k = 0;

		assert_int_equal(dongle_hotp_enroll(d, pin, key, targets[t]), DONGLE_OK);
		for (uint64_t c = 9; c < targets[t]; c += 10)
			assert_int_equal(m->verified[k++], c);
		assert_int_equal(m->verified[k++], targets[t]);
		assert_int_equal(m->n_verified, k);
		assert_int_equal(m->slot_counter, targets[t] + 1);
		assert_int_equal(dongle_hotp_check(d, oathtool_code(key20, 20, targets[t] + 1)),
				 DONGLE_OK);
		dongle_close(d);
		nk_hid_model_free(m);
	}
}

static void test_hid_wrong_pin_to_blocked(void **state)
{
	struct nk_hid_model *m = nk_hid_model_new();
	struct dongle *d = attach_hid(m);
	_cleanup_secret_ struct secret *bad = sec("00000000"), *good = sec("12345678"),
					*key = key_secret();
	struct dongle_info i;
	(void)state;
	assert_int_equal(dongle_hotp_enroll(d, bad, key, 1), DONGLE_WRONG_PIN);
	assert_int_equal(dongle_info(d, &i), DONGLE_OK);
	assert_int_equal(i.admin_retries, 2);
	/* a right PIN resets the counter */
	assert_int_equal(dongle_hotp_write(d, good, key), DONGLE_OK);
	assert_int_equal(m->admin_retries, 3);
	assert_int_equal(dongle_hotp_write(d, bad, key), DONGLE_WRONG_PIN);
	assert_int_equal(dongle_hotp_write(d, bad, key), DONGLE_WRONG_PIN);
	assert_int_equal(dongle_info(d, &i), DONGLE_OK);
	assert_int_equal(i.admin_retries, 1);
	assert_int_equal(dongle_hotp_write(d, bad, key), DONGLE_BLOCKED);
	assert_int_equal(dongle_info(d, &i), DONGLE_OK);
	assert_int_equal(i.admin_retries, 0);
	assert_int_equal(dongle_hotp_write(d, good, key), DONGLE_BLOCKED);
	/* nothing written without the PIN */
	dongle_close(d);
	nk_hid_model_free(m);
}

static void test_hid_pin_too_long(void **state)
{
	struct nk_hid_model *m = nk_hid_model_new();
	struct dongle *d = attach_hid(m);
	_cleanup_secret_ struct secret *pin = sec("12345678901234567890123456"),
					*key = key_secret();
	(void)state;
	assert_int_equal(dongle_hotp_write(d, pin, key), DONGLE_WRONG_PIN);
	assert_int_equal(m->queries, 0);
	assert_int_equal(m->admin_retries, 3);
	dongle_close(d);
	nk_hid_model_free(m);
}

/* Busy answers and a corrupted CRC are retried; too many is an error. */
static void test_hid_retries(void **state)
{
	struct nk_hid_model *m = nk_hid_model_new();
	struct dongle *d = attach_hid(m);
	struct dongle_info i;
	(void)state;
	m->busy_answers = 3;
	m->corrupt_answers = 2;
	assert_int_equal(dongle_info(d, &i), DONGLE_OK);
	assert_int_equal(i.admin_retries, 3);
	m->corrupt_answers = NK_HID_RECV_TRIES;
	assert_int_equal(dongle_info(d, &i), DONGLE_CONNECTION_ERROR);
	dongle_close(d);
	nk_hid_model_free(m);
}

static void test_hid_librem_storage_ids(void **state)
{
	(void)state;
	assert_string_equal(dongle_id_lookup(0x316d, 0x4c4b)->brand, "Librem Key");
	assert_int_equal(dongle_id_lookup(0x316d, 0x4c4b)->proto, DONGLE_PROTO_HID);
	assert_int_equal(dongle_id_lookup(0x20a0, 0x4109)->kind, DONGLE_KIND_NK_STORAGE);
	assert_int_equal(dongle_id_lookup(0x20a0, 0x42b2)->proto, DONGLE_PROTO_CCID);
	assert_int_equal(dongle_id_lookup(0x20a0, 0x42d4)->kind, DONGLE_KIND_UNSUPPORTED);
	assert_null(dongle_id_lookup(0x1234, 0x5678));
}

/* ---- Nitrokey 3 ---- */

static void test_ccid_codec(void **state)
{
	uint8_t b[64];
	struct ccid_msg m;
	const uint8_t *v;
	size_t l;
	struct secrets_select s;
	static const uint8_t sel[] = {0x79, 3, 4, 11, 0, 0x71, 2, 'a', 'b', 0x82, 1, 5,
				      0x8f, 4, 1, 2, 3, 4};
	(void)state;
	assert_int_equal(ccid_build(b, sizeof(b), 0x6f, 7, (const uint8_t *)"\x00\xa4", 2), 12);
	assert_memory_equal(b, "\x6f\x02\x00\x00\x00\x00\x07\x00\x00\x00\x00\xa4", 12);
	assert_int_equal(ccid_build(b, 11, 0x6f, 7, (const uint8_t *)"\x00\xa4", 2), -ENOBUFS);
	assert_int_equal(ccid_parse(b, 12, &m), 0);
	assert_int_equal(m.len, 2);
	assert_int_equal(m.seq, 7);
	assert_int_equal(ccid_parse(b, 11, &m), -EBADMSG);
	assert_int_equal(ccid_parse(b, 9, &m), -EBADMSG);
	assert_int_equal(secrets_select_parse(sel, sizeof(sel), &s), 0);
	assert_int_equal(s.ver_major, 4);
	assert_int_equal(s.pin_counter, 5);
	assert_int_equal(s.serial, 0x01020304);
	assert_int_equal(secrets_select_parse(sel, sizeof(sel) - 1, &s), -EBADMSG);
	assert_int_equal(secrets_select_parse(sel, 5, &s), 0);
	assert_int_equal(s.pin_counter, -1);
	assert_int_equal(secrets_select_parse(sel + 5, 4, &s), -EBADMSG); /* no version */
	assert_int_equal(secrets_tlv_find(sel, sizeof(sel), 0x71, &v, &l), 0);
	assert_int_equal(l, 2);
	assert_memory_equal(v, "ab", 2);
	assert_int_equal(secrets_tlv_find(sel, sizeof(sel), 0x99, &v, &l), -ENOENT);
}

static void test_nk3_info(void **state)
{
	struct nk3_model *m = nk3_model_new();
	struct dongle *d = attach_nk3(m);
	struct dongle_info i;
	(void)state;
	assert_int_equal(dongle_info(d, &i), DONGLE_OK);
	assert_string_equal(i.brand, "Nitrokey 3");
	assert_string_equal(i.firmware, "1.7.2");
	assert_int_equal(i.serial, 0x1234abcd);
	assert_false(i.pin_set);
	assert_false(i.have_retries);
	m->pin_set = true;
	strcpy(m->pin, "123456");
	assert_int_equal(dongle_info(d, &i), DONGLE_OK);
	assert_true(i.have_retries);
	assert_int_equal(i.admin_retries, DONGLE_NK3_PIN_RETRIES);
	dongle_close(d);
	nk3_model_free(m);
}

static void test_nk3_enroll_sets_pin_and_verifies(void **state)
{
	struct nk3_model *m = nk3_model_new();
	struct dongle *d = attach_nk3(m);
	_cleanup_secret_ struct secret *pin = sec("12345678"), *key = key_secret();
	struct nk3_cred *c;
	(void)state;
	assert_int_equal(dongle_hotp_check(d, oathtool_code(key20, 20, 1)), DONGLE_NOT_CONFIGURED);
	assert_int_equal(dongle_hotp_enroll(d, pin, key, 1), DONGLE_OK);
	assert_true(m->pin_set);
	assert_string_equal(m->pin, "12345678");
	c = nk3_model_cred(m, DONGLE_NK3_CREDENTIAL);
	assert_non_null(c);
	assert_int_equal(c->kind_algo, 0x31);
	assert_int_equal(c->digits, 6);
	assert_int_equal(c->key_len, 20);
	assert_memory_equal(c->key, key20, 20);
	assert_int_equal(c->counter, 2);
	assert_int_equal(dongle_hotp_check(d, oathtool_code(key20, 20, 2)), DONGLE_OK);
	assert_int_equal(dongle_hotp_check(d, oathtool_code(key20, 20, 2)), DONGLE_INVALID_CODE);
	/* window c..c+9 */
	assert_int_equal(dongle_hotp_check(d, oathtool_code(key20, 20, 13)), DONGLE_INVALID_CODE);
	assert_int_equal(dongle_hotp_check(d, oathtool_code(key20, 20, 12)), DONGLE_OK);
	assert_int_equal(c->counter, 13);
	/* re-enrolment replaces the credential (same PIN, now verified) */
	assert_int_equal(dongle_hotp_enroll(d, pin, key, 25), DONGLE_OK);
	assert_int_equal(c->counter, 26);
	assert_int_equal(m->verified[m->n_verified - 3], 9);
	assert_int_equal(m->verified[m->n_verified - 2], 19);
	assert_int_equal(m->verified[m->n_verified - 1], 25);
	dongle_close(d);
	nk3_model_free(m);
}

static void test_nk3_wrong_pin_to_blocked(void **state)
{
	struct nk3_model *m = nk3_model_new();
	struct dongle *d = attach_nk3(m);
	_cleanup_secret_ struct secret *bad = sec("00000000"), *good = sec("12345678"),
					*key = key_secret();
	struct dongle_info i;
	(void)state;
	m->pin_set = true;
	strcpy(m->pin, "12345678");
	for (unsigned left = DONGLE_NK3_PIN_RETRIES - 1; left > 0; left--) {
		assert_int_equal(dongle_hotp_write(d, bad, key), DONGLE_WRONG_PIN);
		assert_int_equal(dongle_info(d, &i), DONGLE_OK);
		assert_int_equal(i.admin_retries, left);
	}
	assert_int_equal(dongle_hotp_write(d, bad, key), DONGLE_BLOCKED);
	assert_int_equal(dongle_hotp_write(d, good, key), DONGLE_BLOCKED);
	assert_null(nk3_model_cred(m, DONGLE_NK3_CREDENTIAL));
	/* reset: PIN gone, counter back, enrol works again */
	assert_int_equal(dongle_reset_secrets(d), DONGLE_OK);
	assert_false(m->pin_set);
	assert_int_equal(dongle_hotp_enroll(d, good, key, 1), DONGLE_OK);
	dongle_close(d);
	nk3_model_free(m);
}

/* 61xx + GET RESPONSE chaining, and time extensions while "touching". */
static void test_nk3_chaining_and_touch(void **state)
{
	struct nk3_model *m = nk3_model_new();
	struct dongle *d = attach_nk3(m);
	_cleanup_secret_ struct secret *pin = sec("12345678"), *key = key_secret();
	struct dongle_info i;
	(void)state;
	m->chunk = 5;
	m->touch_waits = 3;
	assert_int_equal(dongle_info(d, &i), DONGLE_OK);
	assert_int_equal(i.serial, 0x1234abcd);
	assert_string_equal(i.firmware, "1.7.2");
	assert_int_equal(dongle_hotp_enroll(d, pin, key, 3), DONGLE_OK);
	assert_int_equal(m->time_extensions, 3);
	m->touch_waits = CCID_MAX_WAITS + 1;
	assert_int_equal(dongle_reset_secrets(d), DONGLE_CONNECTION_ERROR);
	dongle_close(d);
	nk3_model_free(m);
}

/* A CCID device without the Secrets app: not supported, not a failure. */
static void test_nk3_without_secrets_app(void **state)
{
	struct nk3_model *m = nk3_model_new();
	struct dongle *d = attach_nk3(m);
	(void)state;
	m->has_secrets_app = false;
	assert_int_equal(dongle_hotp_check(d, 123456), DONGLE_NOT_SUPPORTED);
	dongle_close(d);
	nk3_model_free(m);
}

static void test_unsupported_attach(void **state)
{
	struct nk_hid_model *m = nk_hid_model_new();
	struct dongle *d = NULL;
	(void)state;
	assert_int_equal(dongle_attach(nk_hid_model_transport(m), dongle_id_lookup(0x20a0, 0x42d4),
				       &d),
			 DONGLE_NOT_SUPPORTED);
	assert_null(d);
	/* a transport of the wrong kind */
	assert_int_equal(dongle_attach(nk_hid_model_transport(m), dongle_id_lookup(0x20a0, 0x42b2),
				       &d),
			 DONGLE_NOT_SUPPORTED);
	nk_hid_model_free(m);
}

static void test_result_strings(void **state)
{
	(void)state;
	assert_string_equal(dongle_result_str(DONGLE_OK), "Success");
	assert_string_equal(dongle_result_str(DONGLE_INVALID_CODE), "Invalid code");
	assert_string_equal(dongle_result_str(DONGLE_NOT_CONFIGURED), "HOTP slot not configured");
	assert_string_equal(dongle_result_str(DONGLE_NO_DONGLE), "No dongle");
	assert_string_equal(dongle_result_str(DONGLE_NOT_SUPPORTED),
			    "HOTP not supported by this dongle");
	for (int r = 0; r <= DONGLE_RESULT_MAX; r++)
		assert_non_null(dongle_result_str((enum dongle_result)r));
}

/* The menu's status words (hotp_boot.h). */
static void test_hotp_status_words(void **state)
{
	struct hotp_boot_result r = {0};
	(void)state;
	r.verdict = DONGLE_OK;
	assert_string_equal(hotp_status_word(&r), "Success");
	r.verdict = DONGLE_INVALID_CODE;
	assert_string_equal(hotp_status_word(&r), "Invalid code");
	r.verdict = DONGLE_NOT_CONFIGURED;
	assert_string_equal(hotp_status_word(&r), "Not configured");
	r.verdict = DONGLE_CONNECTION_ERROR;
	assert_string_equal(hotp_status_word(&r), "Error");
	r.code_error = -ENOENT;
	r.stage = HOTP_STAGE_READ;
	assert_string_equal(hotp_status_word(&r), "Unverified");
	assert_string_equal(hotp_counter_reason(-ENOENT),
			    "no HOTP counter (not enrolled with a dongle?)");
	assert_string_equal(hotp_counter_reason(-EOVERFLOW), "HOTP counter exhausted");
	assert_int_equal(hotp_boot_verify(NULL, 0, "x", NULL, &r), -EINVAL);
}

/* ---- discovery (fake sysfs) ---- */

static char root[64];

static void put(const char *rel, const char *content)
{
	char p[512], *s;
	int fd;

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	for (s = p + strlen(root) + 1; (s = strchr(s, '/')); s++) {
		*s = 0;
		(void)mkdir(p, 0755);
		*s = '/';
	}
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
}

static void rm_root(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", root);
	assert_int_equal(system(cmd), 0);
}

static void test_discover(void **state)
{
	struct dongle_found f;
	const char *u = "sys/bus/usb/devices/";
	char p[256];
	(void)state;
	strcpy(root, "/tmp/heads-dongle-sysfs-XXXXXX");
	assert_non_null(mkdtemp(root));

	assert_int_equal(dongle_discover(root, &f), DONGLE_NO_DONGLE);
	/* a hub and a Canokey: not supported */
	snprintf(p, sizeof(p), "%susb1/idVendor", u);
	put(p, "1d6b\n");
	snprintf(p, sizeof(p), "%susb1/idProduct", u);
	put(p, "0002\n");
	snprintf(p, sizeof(p), "%s1-1/idVendor", u);
	put(p, "20a0\n");
	snprintf(p, sizeof(p), "%s1-1/idProduct", u);
	put(p, "42d4\n");
	assert_int_equal(dongle_discover(root, &f), DONGLE_NOT_SUPPORTED);
	assert_string_equal(f.id->brand, "Canokey");
	/* a Nitrokey 3 with its CCID interface */
	snprintf(p, sizeof(p), "%s1-2/idVendor", u);
	put(p, "20a0\n");
	snprintf(p, sizeof(p), "%s1-2/idProduct", u);
	put(p, "42b2\n");
	snprintf(p, sizeof(p), "%s1-2/busnum", u);
	put(p, "1\n");
	snprintf(p, sizeof(p), "%s1-2/devnum", u);
	put(p, "7\n");
	snprintf(p, sizeof(p), "%s1-2/1-2:1.0/bInterfaceClass", u);
	put(p, "03\n"); /* CTAPHID */
	snprintf(p, sizeof(p), "%s1-2/1-2:1.1/bInterfaceClass", u);
	put(p, "0b\n");
	snprintf(p, sizeof(p), "%s1-2/1-2:1.1/bInterfaceNumber", u);
	put(p, "01\n");
	snprintf(p, sizeof(p), "%s1-2/1-2:1.1/ep_02/type", u);
	put(p, "Bulk\n");
	snprintf(p, sizeof(p), "%s1-2/1-2:1.1/ep_02/direction", u);
	put(p, "out\n");
	snprintf(p, sizeof(p), "%s1-2/1-2:1.1/ep_02/bEndpointAddress", u);
	put(p, "02\n");
	snprintf(p, sizeof(p), "%s1-2/1-2:1.1/ep_83/type", u);
	put(p, "Interrupt\n");
	snprintf(p, sizeof(p), "%s1-2/1-2:1.1/ep_83/direction", u);
	put(p, "in\n");
	snprintf(p, sizeof(p), "%s1-2/1-2:1.1/ep_83/bEndpointAddress", u);
	put(p, "83\n");
	assert_int_equal(dongle_discover(root, &f), DONGLE_NOT_SUPPORTED); /* no bulk in yet */
	snprintf(p, sizeof(p), "%s1-2/1-2:1.1/ep_82/type", u);
	put(p, "Bulk\n");
	snprintf(p, sizeof(p), "%s1-2/1-2:1.1/ep_82/direction", u);
	put(p, "in\n");
	snprintf(p, sizeof(p), "%s1-2/1-2:1.1/ep_82/bEndpointAddress", u);
	put(p, "82\n");
	assert_int_equal(dongle_discover(root, &f), DONGLE_OK);
	assert_string_equal(f.id->brand, "Nitrokey 3");
	assert_string_equal(f.node, "/dev/bus/usb/001/007");
	assert_int_equal(f.iface, 1);
	assert_int_equal(f.ep_in, 0x82);
	assert_int_equal(f.ep_out, 0x02);
	rm_root();

	/* a Librem Key: its hidraw node */
	assert_non_null(mkdtemp(strcpy(root, "/tmp/heads-dongle-sysfs-XXXXXX")));
	snprintf(p, sizeof(p), "%s3-4/idVendor", u);
	put(p, "316d\n");
	snprintf(p, sizeof(p), "%s3-4/idProduct", u);
	put(p, "4c4b\n");
	snprintf(p, sizeof(p), "%s3-4/3-4:1.1/0003:316D:4C4B.0002/hidraw/hidraw5/dev", u);
	put(p, "243:5\n");
	assert_int_equal(dongle_discover(root, &f), DONGLE_OK);
	assert_string_equal(f.id->brand, "Librem Key");
	assert_string_equal(f.node, "/dev/hidraw5");
	/* malformed attributes are skipped, not trusted */
	snprintf(p, sizeof(p), "%s3-4/idVendor", u);
	put(p, "316dzz\n");
	assert_int_equal(dongle_discover(root, &f), DONGLE_NO_DONGLE);
	rm_root();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc_is_stm32),
		cmocka_unit_test(test_hid_frame_layout),
		cmocka_unit_test(test_hid_response_parse),
		cmocka_unit_test(test_hid_model_checks_query_crc),
		cmocka_unit_test(test_hid_info),
		cmocka_unit_test(test_hid_not_configured),
		cmocka_unit_test(test_hid_enroll_and_verify),
		cmocka_unit_test(test_hid_window),
		cmocka_unit_test(test_hid_counter_walk),
		cmocka_unit_test(test_hid_wrong_pin_to_blocked),
		cmocka_unit_test(test_hid_pin_too_long),
		cmocka_unit_test(test_hid_retries),
		cmocka_unit_test(test_hid_librem_storage_ids),
		cmocka_unit_test(test_ccid_codec),
		cmocka_unit_test(test_nk3_info),
		cmocka_unit_test(test_nk3_enroll_sets_pin_and_verifies),
		cmocka_unit_test(test_nk3_wrong_pin_to_blocked),
		cmocka_unit_test(test_nk3_chaining_and_touch),
		cmocka_unit_test(test_nk3_without_secrets_app),
		cmocka_unit_test(test_unsupported_attach),
		cmocka_unit_test(test_result_strings),
		cmocka_unit_test(test_hotp_status_words),
		cmocka_unit_test(test_discover),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
