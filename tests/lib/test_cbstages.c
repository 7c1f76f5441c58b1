/* cbstages.h without a TPM: the PCR 2 stages of real firmware logs (QEMU
 * + OVMF + swtpm; coreboot's cbmem layout), the named differences, and the
 * baseline record's strict codec. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cbstages.h"
#include "codec.h"
#include "fs.h"
#include "tcg_log_writer.h"
#include "util.h"

static char *data_path(const char *rel)
{
	return xasprintf("%s/%s", getenv("HEADS_SRCDIR"), rel);
}

static const struct test_stage coreboot[] = {
	{"FMAP: FMAP", "fmap"},
	{"CBFS: bootblock", "bootblock"},
	{"CBFS: fallback/romstage", "romstage"},
	{"CBFS: fallback/postcar", "postcar"},
	{"CBFS: fallback/ramstage", "ramstage"},
	{"CBFS: fallback/payload", "payload"},
};

static void stages_of(const struct test_stage *t, size_t n, struct cbstages *s)
{
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < n; i++) {
		snprintf(s->v[i].name, sizeof(s->v[i].name), "%s", t[i].name);
		stage_digest(&t[i], s->v[i].sha256);
	}
	s->n = n;
}

/* OVMF's PCR 2: binary event data, named by type; the replay is the PCR 2
 * read live in that boot. */
static void test_ovmf_log(void **state)
{
	(void)state;
	_cleanup_free_ char *log = data_path("tests/data/eventlog/qemu-ovmf-swtpm.bin");
	_cleanup_free_ char *pcrs = data_path("tests/data/eventlog/qemu-ovmf-swtpm.pcrs-sha256.txt");
	_cleanup_free_ char *text = NULL;
	struct cbstages s;
	uint8_t v[32];
	char hex[65];
	size_t len;

	assert_int_equal(cbstages_load(log, &s), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.v[0].name, "EV_EFI_BOOT_SERVICES_DRIVER #1");
	assert_string_equal(s.v[1].name, "EV_SEPARATOR #1");
	cbstages_replay(&s, v);
	hex_encode(v, 32, hex);
	assert_int_equal(fs_read_file(pcrs, 4096, &text, &len), 0);
	assert_non_null(strstr(text, hex));
	assert_ptr_equal(strstr(text, hex), strstr(text, "\n2: ") + 4);
}

/* coreboot's cbmem layout (the fuzz seed after its selector byte: FMAP and
 * bootblock measured by coreboot 26.06), read as a saved log file. */
static void test_coreboot_cbmem_layout(void **state)
{
	(void)state;
	_cleanup_free_ char *seed = data_path("tests/fuzz/corpus/cbtable/tpmlog");
	_cleanup_free_ char *buf = NULL;
	char tmp[] = "/tmp/cbstages-XXXXXX";
	struct cbstages s;
	size_t len;
	int fd;

	assert_int_equal(fs_read_file(seed, 65536, &buf, &len), 0);
	assert_true(len > 1);
	fd = mkstemp(tmp);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf + 1, len - 1), (ssize_t)(len - 1));
	close(fd);
	assert_int_equal(cbstages_load(tmp, &s), 0);
	unlink(tmp);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.v[0].name, "FMAP: FMAP");
	assert_string_equal(s.v[1].name, "CBFS: bootblock");
}

/* A written log of six stages: names, digests, replay = extending by hand. */
static void test_written_log(void **state)
{
	(void)state;
	char tmp[] = "/tmp/cbstages-XXXXXX";
	struct cbstages s, want;
	uint8_t v[32], w[64] = {0};
	int fd = mkstemp(tmp);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(write_tcg_log(tmp, coreboot, 6), 0);
	assert_int_equal(cbstages_load(tmp, &s), 0);
	unlink(tmp);
	stages_of(coreboot, 6, &want);
	assert_int_equal(s.n, 6);
	assert_memory_equal(&s, &want, sizeof(s));
	for (size_t i = 0; i < 6; i++) {
		memcpy(w + 32, want.v[i].sha256, 32);
		SHA256(w, 64, w);
	}
	cbstages_replay(&s, v);
	assert_memory_equal(v, w, 32);
	assert_int_equal(cbstages_load("/nonexistent/log", &s), -ENOENT);
}

static void test_diff(void **state)
{
	(void)state;
	struct test_stage t[8];
	struct cbstages base, now;
	char *d;

	stages_of(coreboot, 6, &base);
	now = base;
	assert_null(cbstages_diff(&base, &now));
	/* one stage's bytes changed */
	memcpy(t, coreboot, sizeof(coreboot));
	t[2].content = "romstage, rebuilt";
	stages_of(t, 6, &now);
	d = cbstages_diff(&base, &now);
	assert_string_equal(d, "CBFS: fallback/romstage: changed");
	free(d);
	/* postcar gone, an extra stage, the payload changed */
	memcpy(t, coreboot, sizeof(coreboot));
	t[3] = (struct test_stage){"CBFS: fallback/payload", "another payload"};
	t[4] = (struct test_stage){"CBFS: fallback/ramstage", "ramstage"};
	t[5] = (struct test_stage){"CBFS: fallback/extra", "x"};
	stages_of(t, 6, &now);
	d = cbstages_diff(&base, &now);
	assert_string_equal(d, "CBFS: fallback/postcar: removed; CBFS: fallback/payload: "
			       "changed; CBFS: fallback/extra: added");
	free(d);
	/* the same stages in another order */
	memcpy(t, coreboot, sizeof(coreboot));
	t[3] = coreboot[4];
	t[4] = coreboot[3];
	stages_of(t, 6, &now);
	d = cbstages_diff(&base, &now);
	assert_string_equal(d, "the stages are the same, in another order");
	free(d);
	/* equal names: the n-th with the n-th (OVMF's "#k" or repeats) */
	t[0] = (struct test_stage){"X", "1"};
	t[1] = (struct test_stage){"X", "2"};
	stages_of(t, 2, &base);
	t[1].content = "3";
	t[2] = (struct test_stage){"X", "4"};
	stages_of(t, 3, &now);
	d = cbstages_diff(&base, &now);
	assert_string_equal(d, "X: changed; X: added");
	free(d);
}

static void test_record_codec(void **state)
{
	(void)state;
	uint8_t buf[5 + CBSTAGES_MAX * (CBSTAGES_NAME_MAX + 32)], bad[sizeof(buf)];
	struct cbstages s, back;
	size_t n;

	stages_of(coreboot, 6, &s);
	n = cbstages_encode(&s, buf);
	assert_int_equal(n, cbstages_encoded_size(&s));
	assert_memory_equal(buf, "CBS2\x06\x0a" "FMAP: FMAP", 16);
	assert_int_equal(cbstages_decode(buf, n, &back), 0);
	assert_memory_equal(&back, &s, sizeof(s));
	/* trailing byte, truncation, magic, count, empty and unprintable names */
	assert_int_equal(cbstages_decode(buf, n + 1, &back), -EBADMSG);
	for (size_t k = 0; k < n; k++)
		assert_int_equal(cbstages_decode(buf, k, &back), -EBADMSG);
	memcpy(bad, buf, n);
	bad[0] = 'X';
	assert_int_equal(cbstages_decode(bad, n, &back), -EBADMSG);
	memcpy(bad, buf, n);
	bad[4] = CBSTAGES_MAX + 1;
	assert_int_equal(cbstages_decode(bad, n, &back), -EBADMSG);
	memcpy(bad, buf, n);
	bad[5] = 0;
	assert_int_equal(cbstages_decode(bad, n, &back), -EBADMSG);
	memcpy(bad, buf, n);
	bad[7] = '\n';
	assert_int_equal(cbstages_decode(bad, n, &back), -EBADMSG);
	/* no stages: valid, replays to zeros */
	s.n = 0;
	n = cbstages_encode(&s, buf);
	assert_int_equal(n, 5);
	assert_int_equal(cbstages_decode(buf, n, &back), 0);
	assert_int_equal(back.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ovmf_log),
		cmocka_unit_test(test_coreboot_cbmem_layout),
		cmocka_unit_test(test_written_log),
		cmocka_unit_test(test_diff),
		cmocka_unit_test(test_record_codec),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
