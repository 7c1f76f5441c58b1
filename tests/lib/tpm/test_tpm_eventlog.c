/* Event log parser + replay on a real QEMU+OVMF+swtpm log; prediction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "codec.h"
#include "fs.h"
#include "tpm/eventlog.h"
#include "tpm/tpm.h"
#include "util.h"

static char *data_path(const char *name)
{
	return xasprintf("%s/tests/data/eventlog/%s", getenv("HEADS_SRCDIR"), name);
}

static void sha256(const void *d, size_t n, uint8_t out[32])
{
	unsigned int l = 32;
	EVP_Digest(d, n, out, &l, EVP_sha256(), NULL);
}

static void test_real_log_replays_to_live_pcrs(void **state)
{
	_cleanup_free_ char *path = data_path("qemu-ovmf-swtpm.bin");
	_cleanup_free_ char *pcrs_path = data_path("qemu-ovmf-swtpm.pcrs-sha256.txt");
	_cleanup_free_ char *pcrs = NULL;
	struct tpm_eventlog *l = NULL;
	size_t len, checked = 0;
	(void)state;

	assert_int_equal(tpm_eventlog_load(path, &l), 0);
	assert_true(l->crypto_agile);
	assert_true(l->has_sha256_bank);
	assert_true(l->n > 10);
	assert_int_equal(fs_read_file(pcrs_path, 65536, &pcrs, &len), 0);
	for (char *line = strtok(pcrs, "\n"); line; line = strtok(NULL, "\n")) {
		unsigned pcr;
		char hex[65], got_hex[65];
		uint8_t got[32];
		size_t dl;
		assert_int_equal(sscanf(line, "%u: %64s", &pcr, hex), 2);
		assert_int_equal(tpm_eventlog_replay(l, "sha256", pcr, got, &dl), 0);
		assert_int_equal(dl, 32);
		hex_encode(got, 32, got_hex);
		assert_string_equal(got_hex, hex);
		checked++;
	}
	assert_true(checked >= 9);
	tpm_eventlog_free(l);
}

static void test_predict_adds_extra(void **state)
{
	_cleanup_free_ char *path = data_path("qemu-ovmf-swtpm.bin");
	struct tpm_eventlog *l = NULL;
	uint8_t fw[32], pred[32], extra[2][32], buf[64], expect[32];
	size_t dl;
	(void)state;
	assert_int_equal(tpm_eventlog_load(path, &l), 0);
	assert_int_equal(tpm_eventlog_replay(l, "sha256", 4, fw, &dl), 0);
	assert_int_equal(tpm_predict_pcr(l, 4, NULL, 0, pred), 0);
	assert_memory_equal(fw, pred, 32);
	sha256("usb", 3, extra[0]);
	sha256("generic", 7, extra[1]);
	assert_int_equal(tpm_predict_pcr(l, 4, (const uint8_t(*)[32])extra, 2, pred), 0);
	memcpy(buf, fw, 32);
	memcpy(buf + 32, extra[0], 32);
	sha256(buf, 64, expect);
	memcpy(buf, expect, 32);
	memcpy(buf + 32, extra[1], 32);
	sha256(buf, 64, expect);
	assert_memory_equal(pred, expect, 32);
	/* No log: coreboot without events starts at zero. */
	uint8_t zero[32] = {0};
	assert_int_equal(tpm_predict_pcr(NULL, 6, NULL, 0, pred), 0);
	assert_memory_equal(pred, zero, 32);
	tpm_eventlog_free(l);
}

static void test_tcpa_sha1_log(void **state)
{
	_cleanup_free_ char *path = data_path("tcpa-sha1.bin");
	struct tpm_eventlog *l = NULL;
	uint8_t out[32], zero[32] = {0}, buf[40], h[20], expect[20];
	size_t dl;
	unsigned n = 20;
	(void)state;
	assert_int_equal(tpm_eventlog_load(path, &l), 0);
	assert_false(l->crypto_agile);
	assert_int_equal(l->n, 3);
	assert_int_equal(tpm_eventlog_replay(l, "sha256", 2, out, &dl), -ENOENT);
	assert_int_equal(tpm_eventlog_replay(l, "sha1", 2, out, &dl), 0);
	assert_int_equal(dl, 20);
	EVP_Digest("payload", 7, h, &n, EVP_sha1(), NULL);
	memset(buf, 0, 20);
	memcpy(buf + 20, h, 20);
	EVP_Digest(buf, 40, expect, &n, EVP_sha1(), NULL);
	assert_memory_equal(out, expect, 20);
	assert_int_equal(tpm_eventlog_replay(l, "sha1", 5, out, &dl), 0);
	assert_memory_equal(out, zero, 20);
	tpm_eventlog_free(l);
}

static void test_startup_locality(void **state)
{
	_cleanup_free_ char *path = data_path("agile-locality.bin");
	struct tpm_eventlog *l = NULL;
	uint8_t out[32], buf[64];
	size_t dl;
	(void)state;
	assert_int_equal(tpm_eventlog_load(path, &l), 0);
	assert_true(l->has_locality);
	assert_int_equal(l->locality, 3);
	assert_int_equal(tpm_eventlog_replay(l, "sha256", 0, out, &dl), 0);
	memset(buf, 0, 32);
	buf[31] = 3;
	sha256("ver", 3, buf + 32);
	uint8_t expect[32];
	sha256(buf, 64, expect);
	assert_memory_equal(out, expect, 32);
	tpm_eventlog_free(l);
}

static void test_malformed_refused(void **state)
{
	_cleanup_free_ char *path = data_path("qemu-ovmf-swtpm.bin");
	_cleanup_free_ char *buf = NULL;
	struct tpm_eventlog *l = NULL;
	size_t len;
	(void)state;
	assert_int_equal(fs_read_file(path, 1 << 20, &buf, &len), 0);
	/* every truncation point is either a clean record boundary or refused */
	for (size_t cut = 1; cut < len; cut += 7) {
		int r = tpm_eventlog_parse(buf, cut, &l);
		assert_true(r == 0 || r == -EBADMSG);
		if (r == 0)
			tpm_eventlog_free(l);
		l = NULL;
	}
	assert_int_equal(tpm_eventlog_parse(buf, 0, &l), -EBADMSG);
	/* a digest count larger than the algorithm table */
	char *bad = xmalloc(len);
	memcpy(bad, buf, len);
	uint32_t hdr_len;
	memcpy(&hdr_len, bad + 28, 4);
	size_t first = 32 + hdr_len;
	bad[first + 8] = 9;
	assert_int_equal(tpm_eventlog_parse(bad, len, &l), -EBADMSG);
	free(bad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_log_replays_to_live_pcrs),
		cmocka_unit_test(test_predict_adds_extra),
		cmocka_unit_test(test_tcpa_sha1_log),
		cmocka_unit_test(test_startup_locality),
		cmocka_unit_test(test_malformed_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
