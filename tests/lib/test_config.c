#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "fs.h"
#include "util.h"

static int parse(struct config *c, const char *text, char **err)
{
	config_init(c);
	*err = NULL;
	return config_parse(c, "F", text, strlen(text), err);
}

static void test_quotes_comments_export(void **state)
{
	struct config c;
	char *err;
	(void)state;
	assert_int_equal(parse(&c,
		"# board defaults\n"
		"export CONFIG_BOOT_DEV=\"/dev/sda1\"\n"
		"CONFIG_A='single # not a comment'\n"
		"  CONFIG_B=plain   # trailing comment\n"
		"\n"
		"CONFIG_C=\"with \\\"escaped\\\" quotes and \\\\ backslash\"\n"
		"CONFIG_D=a\"b c\"'d'\n"
		"CONFIG_E=\n"
		"CONFIG_F=\"\"\n", &err), 0);
	assert_string_equal(config_get(&c, "CONFIG_BOOT_DEV"), "/dev/sda1");
	assert_string_equal(config_get(&c, "CONFIG_A"), "single # not a comment");
	assert_string_equal(config_get(&c, "CONFIG_B"), "plain");
	assert_string_equal(config_get(&c, "CONFIG_C"), "with \"escaped\" quotes and \\ backslash");
	assert_string_equal(config_get(&c, "CONFIG_D"), "ab cd");
	assert_string_equal(config_get(&c, "CONFIG_E"), "");
	assert_string_equal(config_get(&c, "CONFIG_F"), "");
	assert_null(config_get(&c, "CONFIG_MISSING"));
	assert_int_equal(c.entries[0].line, 2);
	config_free(&c);
}

static void test_backslash_rules(void **state)
{
	struct config c;
	char *err;
	(void)state;
	/* In double quotes, \n is not an escape: both bytes stay. Unquoted \x -> x. */
	assert_int_equal(parse(&c, "A=\"a\\nb\"\nB=a\\ b\\x\nC='back\\slash'\n", &err), 0);
	assert_string_equal(config_get(&c, "A"), "a\\nb");
	assert_string_equal(config_get(&c, "B"), "a bx");
	assert_string_equal(config_get(&c, "C"), "back\\slash");
	config_free(&c);
}

static void test_continuation_and_multiline_quote(void **state)
{
	struct config c;
	char *err;
	(void)state;
	assert_int_equal(parse(&c, "A=one\\\ntwo\nB=\"x\ny\"\nC=z\n", &err), 0);
	assert_string_equal(config_get(&c, "A"), "onetwo");
	assert_string_equal(config_get(&c, "B"), "x\ny");
	assert_string_equal(config_get(&c, "C"), "z");
	assert_int_equal(c.entries[2].line, 5);
	config_free(&c);
}

static void expect_error(const char *text, const char *msg)
{
	struct config c;
	char *err;
	assert_int_equal(parse(&c, text, &err), -EINVAL);
	assert_non_null(err);
	if (!strstr(err, msg))
		fail_msg("error '%s' does not contain '%s'", err, msg);
	assert_int_equal(c.n, 0); /* nothing applied */
	free(err);
	config_free(&c);
}

static void test_malformed_lines_name_file_and_line(void **state)
{
	(void)state;
	expect_error("A=1\nB=\"open\n", "F:2: unterminated double quote");
	expect_error("A=1\n\nC='x\n", "F:3: unterminated single quote");
	expect_error("A=1\nnot an assignment\n", "F:2: expected '='");
	expect_error("1A=2\n", "F:1: expected KEY=value");
	expect_error("A=1 B=2\n", "F:1: unexpected text after the value");
	expect_error("A=\"x\" junk\n", "F:1: unexpected text after the value");
	expect_error("A=\n=5\n", "F:2: expected KEY=value");
}

static void test_no_shell_expansion(void **state)
{
	(void)state;
	expect_error("A=$(reboot)\n", "F:1: '$' would be expanded");
	expect_error("A=\"`reboot`\"\n", "F:1: '`' would be expanded");
	expect_error("A=\"$HOME\"\n", "F:1: '$' would be expanded");
	expect_error("A=x;reboot\n", "F:1: unquoted ';'");
	expect_error("A=x|y\n", "F:1: unquoted '|'");
	/* Single quotes are literal, as in sh. */
	struct config c;
	char *err;
	assert_int_equal(parse(&c, "A='$(reboot) `x` ;|'\n", &err), 0);
	assert_string_equal(config_get(&c, "A"), "$(reboot) `x` ;|");
	config_free(&c);
}

static void test_nul_byte_rejected(void **state)
{
	struct config c;
	char *err = NULL;
	const char text[] = "A=1\nB=x\0y\n";
	(void)state;
	config_init(&c);
	assert_int_equal(config_parse(&c, "F", text, sizeof(text) - 1, &err), -EINVAL);
	assert_non_null(strstr(err, "F:2: NUL byte"));
	free(err);
	config_free(&c);
}

static void test_layers_later_wins(void **state)
{
	struct config c;
	char *err = NULL;
	const struct config_entry **eff;
	size_t n;
	(void)state;
	config_init(&c);
	assert_int_equal(config_parse(&c, "board", "A=board\nB=board\nA=board2\n", 25, &err), 0);
	assert_int_equal(config_parse(&c, "user", "B=user\nC=y\n", 11, &err), 0);
	assert_string_equal(config_get(&c, "A"), "board2");
	assert_string_equal(config_get(&c, "B"), "user");
	assert_true(config_enabled(&c, "C"));
	assert_false(config_enabled(&c, "A"));
	n = config_effective(&c, &eff);
	assert_int_equal(n, 3);
	assert_string_equal(eff[0]->key, "A");
	assert_string_equal(eff[1]->key, "B");
	assert_string_equal(eff[1]->file, "user");
	assert_string_equal(eff[2]->key, "C");
	free(eff);
	config_free(&c);
}

static void test_value_too_long(void **state)
{
	size_t n = CONFIG_MAX_VALUE + 10;
	char *text = xmalloc(n + 4);
	struct config c;
	char *err;
	(void)state;
	for (size_t i = 0; i < n + 3; i++)
		text[i] = i == 0 ? 'A' : i == 1 ? '=' : 'x';
	text[n + 3] = '\0';
	assert_int_equal(parse(&c, text, &err), -EINVAL);
	assert_non_null(strstr(err, "F:1: value longer than"));
	free(err);
	free(text);
	config_free(&c);
}

static void test_quote_roundtrip(void **state)
{
	const char *values[] = {"plain", "", "has \"quotes\"", "$HOME `x` \\", "tab\there"};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(values); i++) {
		struct config c;
		char *err, *q = config_quote(values[i]);
		char *line = xasprintf("K=%s\n", q);
		assert_int_equal(parse(&c, line, &err), 0);
		assert_string_equal(config_get(&c, "K"), values[i]);
		config_free(&c);
		free(line);
		free(q);
	}
}

static char *tmpfile_with(const char *content)
{
	char *path = xstrdup("/tmp/heads-test-config-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write_full(fd, content, strlen(content)), 0);
	close(fd);
	return path;
}

static void test_set_replaces_keeps_others(void **state)
{
	char *path = tmpfile_with("# header\nexport CONFIG_A=\"1\"  # old\nCONFIG_B=2\nCONFIG_A=3\n");
	char *err = NULL, *buf;
	size_t len;
	struct config c;
	(void)state;
	assert_int_equal(config_set(path, "CONFIG_A", "new \"v\" $x", &err), 0);
	assert_int_equal(fs_read_file(path, 4096, &buf, &len), 0);
	assert_string_equal(buf, "# header\nexport CONFIG_A=\"new \\\"v\\\" \\$x\"\nCONFIG_B=2\n");
	free(buf);
	assert_int_equal(config_set(path, "CONFIG_C", "y", &err), 0);
	config_init(&c);
	assert_int_equal(config_load(&c, path, &err), 0);
	assert_string_equal(config_get(&c, "CONFIG_A"), "new \"v\" $x");
	assert_string_equal(config_get(&c, "CONFIG_B"), "2");
	assert_string_equal(config_get(&c, "CONFIG_C"), "y");
	config_free(&c);
	unlink(path);
	free(path);
}

static void test_set_refuses_bad_input(void **state)
{
	char *path = tmpfile_with("CONFIG_A=\"broken\n");
	char *err = NULL, *buf;
	size_t len;
	(void)state;
	assert_int_equal(config_set(path, "CONFIG_A", "x", &err), -EINVAL);
	assert_non_null(strstr(err, ":1: unterminated double quote"));
	free(err);
	err = NULL;
	/* The malformed file is left exactly as it was. */
	assert_int_equal(fs_read_file(path, 4096, &buf, &len), 0);
	assert_string_equal(buf, "CONFIG_A=\"broken\n");
	free(buf);
	assert_int_equal(config_set(path, "BAD KEY", "x", &err), -EINVAL);
	free(err);
	err = NULL;
	assert_int_equal(config_set(path, "K", "line\nbreak", &err), -EINVAL);
	free(err);
	unlink(path);
	free(path);
}

static void test_set_creates_missing_file(void **state)
{
	char dir[] = "/tmp/heads-test-cfgdir-XXXXXX";
	char *path, *err = NULL;
	struct config c;
	(void)state;
	assert_non_null(mkdtemp(dir));
	path = xasprintf("%s/config.user", dir);
	assert_int_equal(config_set(path, "CONFIG_X", "1", &err), 0);
	config_init(&c);
	assert_int_equal(config_load(&c, path, &err), 0);
	assert_string_equal(config_get(&c, "CONFIG_X"), "1");
	config_free(&c);
	unlink(path);
	rmdir(dir);
	free(path);
}

static void test_load_missing_is_enoent(void **state)
{
	struct config c;
	char *err = NULL;
	(void)state;
	config_init(&c);
	assert_int_equal(config_load(&c, "/nonexistent/heads/config", &err), -ENOENT);
	assert_null(err);
	config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quotes_comments_export),
		cmocka_unit_test(test_backslash_rules),
		cmocka_unit_test(test_continuation_and_multiline_quote),
		cmocka_unit_test(test_malformed_lines_name_file_and_line),
		cmocka_unit_test(test_no_shell_expansion),
		cmocka_unit_test(test_nul_byte_rejected),
		cmocka_unit_test(test_layers_later_wins),
		cmocka_unit_test(test_value_too_long),
		cmocka_unit_test(test_quote_roundtrip),
		cmocka_unit_test(test_set_replaces_keeps_others),
		cmocka_unit_test(test_set_refuses_bad_input),
		cmocka_unit_test(test_set_creates_missing_file),
		cmocka_unit_test(test_load_missing_is_enoent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
