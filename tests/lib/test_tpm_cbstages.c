/* cbstages.h with a private swtpm: PCR 2 extended as coreboot does (one
 * digest per stage, the log written alongside), the TOTP secret sealed
 * (tpm_otp_seal writes the baseline of the stages), a power cycle with a
 * changed, a removed and an added stage: the failed code's explanation
 * names exactly those; a log that does not account for PCR 2, no log, a
 * seal without a matching log (the old baseline dropped), wipe; the Disk
 * Unlock Key's reason names them as well. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cbstages.h"
#include "duk.h"
#include "secret.h"
#include "swtpm.h"
#include "tcg_log_writer.h"
#include "tpm_otp.h"
#include "util.h"

#define MASK TPM_OTP_DEFAULT_PCRS

static const struct test_stage first[] = {
	{"FMAP: FMAP", "fmap"},
	{"CBFS: bootblock", "bootblock"},
	{"CBFS: fallback/romstage", "romstage"},
	{"CBFS: fallback/postcar", "postcar"},
	{"CBFS: fallback/ramstage", "ramstage"},
	{"CBFS: fallback/payload", "payload"},
};
/* romstage rebuilt, postcar gone, an extra stage before the payload */
static const struct test_stage second[] = {
	{"FMAP: FMAP", "fmap"},
	{"CBFS: bootblock", "bootblock"},
	{"CBFS: fallback/romstage", "romstage, modified"},
	{"CBFS: fallback/ramstage", "ramstage"},
	{"CBFS: fallback/extra", "extra"},
	{"CBFS: fallback/payload", "payload"},
};

struct fixture {
	struct swtpm sw;
	struct tpm *t;
	struct secret *owner;
	char dir[64], log1[96], log2[96], missing[96];
};

/* What coreboot does at power-on: each stage's digest into PCR 2. */
static void boot_firmware(struct fixture *f, const struct test_stage *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t d[32];
		stage_digest(&s[i], d);
		assert_int_equal(tpm_extend_digest(f->t, 2, d, s[i].name), 0);
	}
}

static void power_cycle(struct fixture *f)
{
	tpm_close(f->t);
	assert_int_equal(swtpm_restart(&f->sw), 0);
	assert_int_equal(tpm_open(f->sw.tcti, &f->t), 0);
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	setenv("TSS2_LOG", "all+NONE", 1);
	snprintf(f->dir, sizeof(f->dir), "/tmp/tpm-cbstages-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->log1, sizeof(f->log1), "%s/first.log", f->dir);
	snprintf(f->log2, sizeof(f->log2), "%s/second.log", f->dir);
	snprintf(f->missing, sizeof(f->missing), "%s/missing.log", f->dir);
	if (write_tcg_log(f->log1, first, ARRAY_SIZE(first)) < 0 ||
	    write_tcg_log(f->log2, second, ARRAY_SIZE(second)) < 0)
		return -1;
	if (swtpm_start(&f->sw) < 0 || tpm_open(f->sw.tcti, &f->t) < 0)
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
	unlink(f->log1);
	unlink(f->log2);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void seal(struct fixture *f, struct tpm_pcr_values *exp)
{
	struct secret *key = secret_dup("12345678901234567890", 20);
	assert_int_equal(tpm_otp_expected(f->t, MASK, NULL, exp), 0);
	assert_int_equal(tpm_otp_seal(f->t, TPM_HANDLE_TOTP, key, exp, f->owner), 0);
	secret_free(key);
}

static void test_stages_named(void **state)
{
	struct fixture *f = *state;
	struct tpm_pcr_values exp, exp2;
	struct cbstages rec;
	uint32_t code;
	char *why;

	/* Boot 1: the first firmware; the secret sealed with its stages. */
	power_cycle(f);
	boot_firmware(f, first, ARRAY_SIZE(first));
	tpm_set_coreboot_log(f->t, f->log1);
	seal(f, &exp);
	assert_int_equal(cbstages_record_read(f->t, exp.sha256[2], &rec), 0);
	assert_int_equal(rec.n, 6);
	assert_string_equal(rec.v[2].name, "CBFS: fallback/romstage");
	assert_int_equal(tpm_otp_totp(f->t, TPM_HANDLE_TOTP, 0, time(NULL), &code), 0);

	/* Boot 2: another firmware. The code fails; the stages are named. */
	power_cycle(f);
	boot_firmware(f, second, ARRAY_SIZE(second));
	tpm_set_coreboot_log(f->t, f->log2);
	assert_int_equal(tpm_otp_totp(f->t, TPM_HANDLE_TOTP, 0, time(NULL), &code),
			 TPM_E_PCR_MISMATCH);
	why = tpm_otp_reason(f->t, TPM_E_PCR_MISMATCH, 0);
	print_message("%s\n", why);
	assert_non_null(strstr(why, "PCR 2 moved"));
	assert_non_null(strstr(why, "firmware stages changed since sealing: "
				    "CBFS: fallback/romstage: changed; "
				    "CBFS: fallback/postcar: removed; CBFS: fallback/extra: added"));
	assert_null(strstr(why, "bootblock"));
	assert_null(strstr(why, "payload"));
	free(why);

	/* This boot's log is the old one: it does not account for PCR 2. */
	tpm_set_coreboot_log(f->t, f->log1);
	why = tpm_otp_explain(f->t, 0);
	assert_non_null(strstr(why, "does not account for all of PCR 2"));
	free(why);
	/* No log in this boot: said, nothing named. */
	tpm_set_coreboot_log(f->t, f->missing);
	why = tpm_otp_explain(f->t, 0);
	assert_non_null(strstr(why, "PCR 2 moved"));
	assert_non_null(strstr(why, "cannot be read"));
	assert_null(strstr(why, "romstage"));
	free(why);

	/* Sealed again in this boot (with its log): the new baseline. A seal
	 * whose log does not replay to PCR 2 leaves no baseline behind. */
	tpm_set_coreboot_log(f->t, f->log2);
	seal(f, &exp2);
	assert_int_equal(cbstages_record_read(f->t, exp2.sha256[2], &rec), 0);
	assert_string_equal(rec.v[4].name, "CBFS: fallback/extra");
	assert_int_equal(cbstages_record_read(f->t, exp.sha256[2], &rec), -ESTALE);
	tpm_set_coreboot_log(f->t, f->log1);
	seal(f, &exp2);
	assert_int_equal(cbstages_record_read(f->t, exp2.sha256[2], &rec), TPM_E_NO_OBJECT);
	assert_int_equal(tpm_otp_totp(f->t, TPM_HANDLE_TOTP, 0, time(NULL), &code), 0);

	/* Wipe removes the baseline with the secret. */
	tpm_set_coreboot_log(f->t, f->log2);
	seal(f, &exp2);
	assert_int_equal(cbstages_record_read(f->t, exp2.sha256[2], &rec), 0);
	assert_int_equal(tpm_otp_wipe(f->t, TPM_HANDLE_TOTP, f->owner), 0);
	assert_int_equal(cbstages_record_read(f->t, exp2.sha256[2], &rec), TPM_E_NO_OBJECT);
}

/* The Disk Unlock Key's reason when PCR 2 moved names the stages too (the
 * baseline written with the TOTP secret of the same firmware). */
static void test_duk_reason(void **state)
{
	struct fixture *f = *state;
	struct tpm_pcr_values exp, duk;
	struct secret *key = secret_dup("0123456789abcdef", 16);
	struct secret *out = NULL;
	char why[1024];

	power_cycle(f);
	boot_firmware(f, first, ARRAY_SIZE(first));
	tpm_set_coreboot_log(f->t, f->log1);
	seal(f, &exp);
	assert_int_equal(tpm_pcr_values_current(f->t, 0xff, &duk), 0);
	assert_int_equal(tpm_seal(f->t, TPM_HANDLE_DUK, key, &duk, NULL, f->owner), 0);
	power_cycle(f);
	boot_firmware(f, second, ARRAY_SIZE(second));
	tpm_set_coreboot_log(f->t, f->log2);
	assert_int_equal(tpm_unseal(f->t, TPM_HANDLE_DUK, NULL, &out), TPM_E_PCR_MISMATCH);
	duk_reason(f->t, TPM_E_PCR_MISMATCH, why, sizeof(why));
	print_message("%s\n", why);
	assert_non_null(strstr(why, "PCR 2 expected"));
	assert_non_null(strstr(why, "[firmware stages changed since sealing: "
				    "CBFS: fallback/romstage: changed; "
				    "CBFS: fallback/postcar: removed; CBFS: fallback/extra: added]"));
	assert_null(strstr(why, "PCR 7 expected"));
	secret_free(key);
	assert_int_equal(tpm_evict(f->t, TPM_HANDLE_DUK, f->owner), 0);
	assert_int_equal(tpm_otp_wipe(f->t, TPM_HANDLE_TOTP, f->owner), 0);
}

/* A record not written by the owner is refused (tpm_record_read rule). */
static void test_foreign_record(void **state)
{
	struct fixture *f = *state;
	struct cbstages rec;
	uint8_t z[32] = {0};
	char *why;
	assert_int_equal(tpm_nv_define(f->t, CBSTAGES_RECORD_INDEX, 5, f->owner), 0);
	assert_int_equal(tpm_nv_write(f->t, CBSTAGES_RECORD_INDEX, "CBS2\0", 5, NULL), 0);
	assert_int_equal(cbstages_record_read(f->t, z, &rec), TPM_E_FOREIGN_RECORD);
	why = cbstages_explain(f->t, z, z);
	assert_non_null(strstr(why, "cannot be read"));
	free(why);
	assert_int_equal(cbstages_record_wipe(f->t, f->owner), 0);
	assert_int_equal(cbstages_record_read(f->t, z, &rec), TPM_E_NO_OBJECT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stages_named),
		cmocka_unit_test(test_duk_reason),
		cmocka_unit_test(test_foreign_record),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
