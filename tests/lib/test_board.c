/* board.h: the one config-layering loop (and init's lenient one), CONFIG_TOTP_PCRS, the PCR list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "board.h"
#include "util.h"

static char dir[] = "/tmp/heads-test-board-XXXXXX";

static char *write_file(const char *name, const char *text)
{
	char *p = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return p;
}

static void test_layers_last_wins(void **state)
{
	_cleanup_free_ char *a = write_file("a", "CONFIG_X=\"one\"\nCONFIG_Y=y\n");
	_cleanup_free_ char *b = write_file("b", "export CONFIG_X=\"two\"\n");
	char *files[] = {a, b};
	struct config c;
	char *err = NULL;
	(void)state;

	config_init(&c);
	assert_int_equal(board_config_load(&c, files, 2, &err), 0);
	assert_null(err);
	assert_string_equal(config_get(&c, "CONFIG_X"), "two");
	assert_true(config_enabled(&c, "CONFIG_Y"));
	config_free(&c);
}

static void test_given_file_must_exist(void **state)
{
	_cleanup_free_ char *a = write_file("c", "CONFIG_X=1\n");
	_cleanup_free_ char *missing = xasprintf("%s/missing", dir);
	char *files[] = {a, missing};
	struct config c;
	char *err = NULL;
	(void)state;

	config_init(&c);
	assert_int_equal(board_config_load(&c, files, 2, &err), -ENOENT);
	assert_non_null(err);
	assert_non_null(strstr(err, missing));
	free(err);
	config_free(&c);
}

static void test_malformed_names_file_and_line(void **state)
{
	_cleanup_free_ char *a = write_file("bad", "CONFIG_OK=1\nCONFIG_BAD=\"$(reboot)\"\n");
	char *files[] = {a};
	struct config c;
	char *err = NULL;
	(void)state;

	config_init(&c);
	assert_true(board_config_load(&c, files, 1, &err) < 0);
	assert_non_null(err);
	assert_non_null(strstr(err, a));
	assert_non_null(strstr(err, ":2"));
	free(err);
	config_free(&c);
}

static void test_totp_pcrs(void **state)
{
	_cleanup_free_ char *a = write_file("t", "CONFIG_TOTP_PCRS=\"0,7\"\n");
	_cleanup_free_ char *b = write_file("u", "CONFIG_TOTP_PCRS=\"0,x\"\n");
	char *fa[] = {a}, *fb[] = {b};
	struct config c;
	uint32_t mask = 0;
	char *err = NULL;
	(void)state;

	config_init(&c); /* not set: the reference list 0,1,2,3,4,7 */
	assert_int_equal(board_totp_pcrs(&c, &mask, &err), 0);
	assert_int_equal(mask, 0x9f);
	config_free(&c);

	config_init(&c);
	assert_int_equal(board_config_load(&c, fa, 1, &err), 0);
	assert_int_equal(board_totp_pcrs(&c, &mask, &err), 0);
	assert_int_equal(mask, (1u << 0) | (1u << 7));
	config_free(&c);

	config_init(&c);
	assert_int_equal(board_config_load(&c, fb, 1, &err), 0);
	mask = 42;
	assert_int_equal(board_totp_pcrs(&c, &mask, &err), -EINVAL);
	assert_int_equal(mask, 42);
	assert_string_equal(err, "bad PCR list '0,x'");
	free(err);
	config_free(&c);
}

static void test_pcr_list(void **state)
{
	char *s;
	(void)state;
	s = board_pcr_list(0x9f);
	assert_string_equal(s, "0,1,2,3,4,7");
	free(s);
	s = board_pcr_list(1u << 23);
	assert_string_equal(s, "23");
	free(s);
	s = board_pcr_list(0);
	assert_string_equal(s, "");
	free(s);
}

/* init's loading: a malformed layer is ignored as a whole (named with its
 * line), a missing one skipped, the others still count. */
static void test_load_each_ignores_a_bad_layer(void **state)
{
	_cleanup_free_ char *a = write_file("e1", "CONFIG_X=\"one\"\n");
	_cleanup_free_ char *bad = write_file("e2", "CONFIG_X=\"bad\"\nCONFIG_B=\"$(reboot)\"\n");
	_cleanup_free_ char *missing = xasprintf("%s/missing", dir);
	_cleanup_free_ char *d = write_file("e3", "CONFIG_Y=y\n");
	const char *files[] = {a, bad, missing, d};
	uint32_t loaded = 0xffff;
	struct config c;
	(void)state;

	config_init(&c);
	assert_int_equal(board_config_load_each(&c, files, 4, &loaded), -EINVAL);
	assert_int_equal(loaded, (1u << 0) | (1u << 3));
	assert_string_equal(config_get(&c, "CONFIG_X"), "one");
	assert_null(config_get(&c, "CONFIG_B"));
	assert_true(config_enabled(&c, "CONFIG_Y"));
	config_free(&c);

	config_init(&c);
	assert_int_equal(board_config_load_each(&c, files + 2, 2, &loaded), 0);
	assert_int_equal(loaded, 1u << 1);
	config_free(&c);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	for (const char *n = "a\0b\0c\0bad\0t\0u\0e1\0e2\0e3\0"; *n; n += strlen(n) + 1) {
		_cleanup_free_ char *p = xasprintf("%s/%s", dir, n);
		unlink(p);
	}
	return rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layers_last_wins),
		cmocka_unit_test(test_given_file_must_exist),
		cmocka_unit_test(test_malformed_names_file_and_line),
		cmocka_unit_test(test_totp_pcrs),
		cmocka_unit_test(test_pcr_list),
		cmocka_unit_test(test_load_each_ignores_a_bad_layer),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
