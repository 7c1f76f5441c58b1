/* Unit tests of coreboot.c: the coreboot table (checksums, records,
 * bounds) and the layout of coreboot's cbmem TPM 2.0 log. The CBFS reader is
 * tested against cbfstool in tests/cmd/test_cbfs.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "coreboot.h"
#include "tpm/eventlog.h"

static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)v); put32(p + 4, (uint32_t)(v >> 32)); }

static uint16_t ipcs(const uint8_t *p, size_t n)
{
	uint32_t s = 0;
	for (size_t i = 0; i < n; i++) {
		s += (i & 1) ? (uint32_t)p[i] << 8 : p[i];
		s = (s & 0xffff) + (s >> 16);
	}
	return (uint16_t)(~s & 0xffff);
}

/* header + a cbmem entry record + a forward record */
static size_t make_table(uint8_t *b, bool forward)
{
	size_t n = 24;
	memset(b, 0, 128);
	put32(b + n, 0x31); put32(b + n + 4, 24); put64(b + n + 8, 0x7fe00000);
	put32(b + n + 16, 0x1400); put32(b + n + 20, CBMEM_ID_TPM2_TCG_LOG);
	n += 24;
	if (forward) {
		put32(b + n, 0x11); put32(b + n + 4, 16); put64(b + n + 8, 0x12345000);
		n += 16;
	}
	memcpy(b, "LBIO", 4);
	put32(b + 4, 24);
	put32(b + 12, (uint32_t)(n - 24));
	put32(b + 16, ipcs(b + 24, n - 24));
	put32(b + 20, forward ? 2 : 1);
	put32(b + 8, ipcs(b, 24));
	return n;
}

static void test_table(void **state)
{
	(void)state;
	uint8_t b[128];
	struct cbtable t;
	size_t n = make_table(b, true);
	assert_int_equal(cbtable_parse(b, n, &t), 0);
	assert_int_equal(t.n, 1);
	assert_int_equal(t.cbmem[0].id, CBMEM_ID_TPM2_TCG_LOG);
	assert_int_equal(t.cbmem[0].address, 0x7fe00000);
	assert_int_equal(t.cbmem[0].size, 0x1400);
	assert_int_equal(t.forward, 0x12345000);
	cbtable_free(&t);
	/* truncated, bad header checksum, bad table checksum, oversized record */
	assert_int_equal(cbtable_parse(b, n - 1, &t), -EBADMSG);
	b[9] ^= 1;
	assert_int_equal(cbtable_parse(b, n, &t), -EBADMSG);
	n = make_table(b, false);
	b[30] ^= 1;
	assert_int_equal(cbtable_parse(b, n, &t), -EBADMSG);
	n = make_table(b, false);
	put32(b + 28, 4096); /* record size past the table */
	put32(b + 16, ipcs(b + 24, n - 24));
	put32(b + 8, 0);
	put32(b + 8, ipcs(b, 24));
	assert_int_equal(cbtable_parse(b, n, &t), -EBADMSG);
}

/* coreboot's cbmem log: Spec ID event (vendor info "CBT2") + 100-byte entries */
static size_t make_log(uint8_t *b, size_t cap, uint16_t num, uint16_t max)
{
	size_t n;
	memset(b, 0, cap);
	put32(b + 4, 3);
	put32(b + 28, 48);
	memcpy(b + 32, "Spec ID Event03", 16);
	b[48 + 4 + 1] = 2; /* spec major */
	b[48 + 7] = 2;     /* uintn size */
	put32(b + 56, 1);  /* one algorithm */
	b[60] = 0x0b; b[62] = 32;
	b[64] = 15;        /* vendor info size */
	put32(b + 68, 0x32544243);
	b[72] = (uint8_t)max; b[74] = (uint8_t)num;
	put32(b + 76, 100);
	n = 80;
	for (unsigned i = 0; i < num; i++, n += 100) {
		put32(b + n, 2); put32(b + n + 4, 5); put32(b + n + 8, 1);
		b[n + 12] = 0x0b;
		memset(b + n + 14, (int)i + 1, 32);
		put32(b + n + 46, 50);
		memcpy(b + n + 50, "CBFS: x", 7);
	}
	return n;
}

static void test_tpm_log(void **state)
{
	(void)state;
	static uint8_t b[80 + 100 * 10];
	struct tpm_eventlog *l;
	size_t used, n = make_log(b, sizeof(b), 3, 10);
	assert_int_equal(coreboot_tpm2_log_len(b, sizeof(b), &used), 0);
	assert_int_equal(used, n);
	assert_int_equal(tpm_eventlog_parse(b, used, &l), 0);
	assert_int_equal(l->n, 3);
	assert_int_equal(l->events[2].pcr, 2);
	tpm_eventlog_free(l);
	/* more entries than fit, more than max, not coreboot's vendor info */
	assert_int_equal(coreboot_tpm2_log_len(b, n - 1, &used), -EBADMSG);
	make_log(b, sizeof(b), 3, 2);
	assert_int_equal(coreboot_tpm2_log_len(b, sizeof(b), &used), -EBADMSG);
	make_log(b, sizeof(b), 3, 10);
	b[68] ^= 1;
	assert_int_equal(coreboot_tpm2_log_len(b, sizeof(b), &used), -EBADMSG);
	assert_int_equal(coreboot_tpm2_log_len(b, 20, &used), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_tpm_log),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
