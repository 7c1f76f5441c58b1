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

#include "cpio.h"
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

static void be32put(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

/* A SELF: CODE segment, DATA segment = data, ENTR. */
static uint8_t *self_of(const void *data, size_t n, size_t *ret_len)
{
	size_t off = 3 * 28, len = off + 16 + n;
	uint8_t *b = xcalloc(1, len);
	be32put(b, 0x434f4445);
	be32put(b + 8, (uint32_t)off);
	be32put(b + 20, 16);
	be32put(b + 28, 0x44415441);
	be32put(b + 28 + 8, (uint32_t)(off + 16));
	be32put(b + 28 + 20, (uint32_t)n);
	be32put(b + 56, 0x454e5452);
	memcpy(b + off + 16, data, n);
	*ret_len = len;
	return b;
}

static void test_self_file(void **state)
{
	struct cpio_writer w;
	_cleanup_free_ uint8_t *self = NULL;
	char *got = NULL;
	size_t len = 0, n = 0;
	(void)state;
	cpio_writer_init(&w);
	assert_int_equal(cpio_add_file(&w, "init", 0755, "#!/bin/sh\n", 10), 0);
	assert_int_equal(cpio_add_file(&w, "etc/config", 0644, "CONFIG_A=1\n", 11), 0);
	assert_int_equal(cpio_finish(&w), 0);
	self = self_of(w.buf, w.len, &len);
	assert_int_equal(flash_self_file(self, len, "etc/config", &got, &n), 1);
	assert_int_equal(n, 11);
	assert_string_equal(got, "CONFIG_A=1\n");
	free(got);
	assert_int_equal(flash_self_file(self, len, "etc/none", &got, &n), 0);
	/* a DATA segment past the end, a table without ENTR */
	assert_int_equal(flash_self_file(self, len - 1, "etc/config", &got, &n), -EBADMSG);
	assert_int_equal(flash_self_file(self, 40, "etc/config", &got, &n), -EBADMSG);
	cpio_writer_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kconfig_values),
		cmocka_unit_test(test_scheme),
		cmocka_unit_test(test_board_record),
		cmocka_unit_test(test_self_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
