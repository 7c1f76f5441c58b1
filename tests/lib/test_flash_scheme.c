/* flash.h's build-record reader: the Kconfig .config lookup
 * (flash_kconfig_get) and the measurement scheme of a coreboot image
 * (flash_scheme_from_record), with the board ROM's own record (the corpus
 * file tests/fuzz/corpus/flash_scheme/coreboot-26.06-q35: build_info, NUL,
 * .config as coreboot 26.06 stores them in CBFS). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "flash.h"
#include "fs.h"
#include "util.h"

#define GET(text, key, out) flash_kconfig_get(text, strlen(text), key, out, sizeof(out))

static void test_kconfig_values(void **state)
{
	const char *c = "# CONFIG_VBOOT is not set\n"
			"CONFIG_TPM2=y\n"
			"CONFIG_TPM_PIRQ=0x0\n"
			"CONFIG_S=\"a \\\"q\\\" \\\\ b\"\n"
			"CONFIG_E=\"\"\n"
			"CONFIG_TPM2=n\n"
			"CONFIG_F=\"src/mainboard/$(MAINBOARDDIR)/cmos.default\"\n";
	char v[64], small[4];
	(void)state;
	assert_int_equal(GET(c, "CONFIG_TPM2", v), 1);
	assert_string_equal(v, "y"); /* the first line wins */
	assert_int_equal(GET(c, "CONFIG_TPM_PIRQ", v), 1);
	assert_string_equal(v, "0x0");
	assert_int_equal(GET(c, "CONFIG_S", v), 1);
	assert_string_equal(v, "a \"q\" \\ b");
	assert_int_equal(GET(c, "CONFIG_E", v), 1);
	assert_string_equal(v, "");
	assert_int_equal(GET(c, "CONFIG_F", v), 1);
	assert_string_equal(v, "src/mainboard/$(MAINBOARDDIR)/cmos.default");
	/* "is not set", a prefix of another key, absent */
	assert_int_equal(GET(c, "CONFIG_VBOOT", v), 0);
	assert_int_equal(GET(c, "CONFIG_TPM", v), 0);
	assert_int_equal(GET(c, "CONFIG_NONE", v), 0);
	assert_int_equal(GET(c, "CONFIG_TPM_PIRQ", small), 1);
	assert_int_equal(GET(c, "CONFIG_S", small), -E2BIG);
	/* malformed values of the key asked for */
	assert_int_equal(GET("CONFIG_X=\"open\n", "CONFIG_X", v), -EBADMSG);
	assert_int_equal(GET("CONFIG_X=\"a\" b\n", "CONFIG_X", v), -EBADMSG);
	assert_int_equal(GET("CONFIG_X=a b\n", "CONFIG_X", v), -EBADMSG);
	assert_int_equal(GET("CONFIG_X=\"a\\", "CONFIG_X", v), -EBADMSG);
	/* bounded by len: a value cut by the buffer end is read up to it */
	assert_int_equal(flash_kconfig_get("CONFIG_X=yes", 10, "CONFIG_X", v, sizeof(v)), 1);
	assert_string_equal(v, "y");
}

static int scheme(const char *bi, const char *cfg, struct flash_pcrs *p)
{
	memset(p, 0, sizeof(*p));
	return flash_scheme_from_record((const uint8_t *)bi, strlen(bi), cfg, strlen(cfg), p);
}

static void test_scheme(void **state)
{
	const char *bi = "COREBOOT_VERSION: 26.06\nMAINBOARD_VENDOR: Emulation\n";
	struct flash_pcrs p;
	(void)state;
	assert_int_equal(scheme(bi, "CONFIG_TPM2=y\nCONFIG_TPM_MEASURED_BOOT=y\n"
				"CONFIG_TPM_HASH_SHA256=y\nCONFIG_TPM_MEASURED_BOOT_RUNTIME_DATA=\"\"\n",
				&p), 0);
	assert_string_equal(p.scheme, "coreboot 26.06 CONFIG_TPM2=y CONFIG_TPM_MEASURED_BOOT=y "
				      "CONFIG_TPM_HASH_SHA256=y");
	assert_int_equal(scheme(bi, "CONFIG_TPM2=y\nCONFIG_TPM_MEASURED_BOOT=y\n"
				"CONFIG_TPM_HASH_SHA1=y\n", &p), -ENOTSUP);
	assert_non_null(strstr(p.why, "another PCR bank than SHA-256"));
	assert_string_equal(p.scheme, "coreboot 26.06 CONFIG_TPM2=y CONFIG_TPM_MEASURED_BOOT=y "
				      "CONFIG_TPM_HASH_SHA1=y");
	assert_int_equal(scheme(bi, "CONFIG_TPM2=y\n# CONFIG_TPM_MEASURED_BOOT is not set\n", &p),
			 -ENOTSUP);
	assert_non_null(strstr(p.why, "does not measure"));
	assert_int_equal(scheme(bi, "CONFIG_TPM_MEASURED_BOOT=y\nCONFIG_TPM_HASH_SHA256=y\n"
				"CONFIG_VBOOT=y\n", &p), -ENOTSUP);
	assert_int_equal(scheme(bi, "CONFIG_TPM_MEASURED_BOOT=y\nCONFIG_TPM_HASH_SHA256=y\n"
				"CONFIG_TPM_MEASURED_BOOT_RUNTIME_DATA=\"x\"\n", &p), -ENOTSUP);
	assert_int_equal(scheme("MAINBOARD_VENDOR: x\n", "CONFIG_TPM_MEASURED_BOOT=y\n", &p),
			 -ENOENT);
	assert_int_equal(scheme("COREBOOT_VERSION: 26 06\n", "", &p), -EBADMSG);
	assert_int_equal(scheme(bi, "CONFIG_TPM_HASH_SHA256=\"open\n", &p), -EBADMSG);
	assert_string_equal(p.scheme, "");
}

static void test_board_record(void **state)
{
	_cleanup_free_ char *path = xasprintf("%s/tests/fuzz/corpus/flash_scheme/coreboot-26.06-q35",
					      getenv("HEADS_SRCDIR"));
	_cleanup_free_ char *buf = NULL;
	struct flash_pcrs p;
	size_t len = 0;
	char *nul;
	(void)state;
	assert_int_equal(fs_read_file(path, 1 << 20, &buf, &len), 0);
	nul = memchr(buf, 0, len);
	assert_non_null(nul);
	memset(&p, 0, sizeof(p));
	assert_int_equal(flash_scheme_from_record((const uint8_t *)buf, (size_t)(nul - buf), nul + 1,
						  len - (size_t)(nul - buf) - 1, &p), 0);
	assert_string_equal(p.scheme, "coreboot 26.06 CONFIG_TPM2=y CONFIG_TPM_MEASURED_BOOT=y "
				      "CONFIG_TPM_HASH_SHA256=y");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kconfig_values),
		cmocka_unit_test(test_scheme),
		cmocka_unit_test(test_board_record),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
