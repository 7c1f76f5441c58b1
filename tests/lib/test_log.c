#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs.h"
#include "log.h"
#include "util.h"

static char dir[] = "/tmp/heads-test-log-XXXXXX";

static void test_levels_parse(void **state)
{
	(void)state;
	assert_int_equal(log_level_from_string("error"), LOG_ERROR);
	assert_int_equal(log_level_from_string("debug"), LOG_DEBUG);
	assert_int_equal(log_level_from_string("loud"), -EINVAL);
	assert_string_equal(log_level_to_string(LOG_NOTE), "note");
}

static void test_session_log_gets_all_levels(void **state)
{
	char *path = xasprintf("%s/debug.log", dir), *buf;
	size_t len;
	int saved = dup(STDERR_FILENO), devnull = open("/dev/null", O_WRONLY);
	(void)state;
	dup2(devnull, STDERR_FILENO);
	log_set_console_level(LOG_ERROR);
	assert_int_equal(log_open_session(path), 0);
	log_debug("dbg %d", 1);
	log_warn("careful");
	assert_int_equal(log_error_errno(ENOENT, "opening %s", "x"), -ENOENT);
	log_close();
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(devnull);
	assert_int_equal(fs_read_file(path, 4096, &buf, &len), 0);
	assert_non_null(strstr(buf, "debug: dbg 1\n"));
	assert_non_null(strstr(buf, "warn: careful\n"));
	assert_non_null(strstr(buf, "error: opening x: No such file or directory\n"));
	free(buf);
	unlink(path);
	free(path);
}

static void test_console_threshold(void **state)
{
	int p[2], saved = dup(STDERR_FILENO);
	char buf[512];
	ssize_t n;
	(void)state;
	assert_int_equal(pipe(p), 0);
	dup2(p[1], STDERR_FILENO);
	log_set_console_level(LOG_WARN);
	log_info("hidden info");
	log_warn("shown warning");
	log_error("shown error");
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(p[1]);
	n = read(p[0], buf, sizeof(buf) - 1);
	close(p[0]);
	assert_true(n > 0);
	buf[n] = 0;
	assert_null(strstr(buf, "hidden info"));
	assert_non_null(strstr(buf, "WARNING: shown warning"));
	assert_non_null(strstr(buf, "ERROR: shown error"));
}

static void test_measurement_trace_format_and_append(void **state)
{
	char *path = xasprintf("%s/trace.log", dir), *buf;
	size_t len;
	(void)state;
	assert_int_equal(fs_write_atomic(path, "MEASURE\t7\tsha256\t00\tprevious\n", 29, 0600), 0);
	assert_int_equal(log_open_trace(path), 0);
	assert_int_equal(log_measurement(5, "sha256", "ab01", "module tpm.ko\targs\nx\\y"), 0);
	log_close();
	assert_int_equal(fs_read_file(path, 4096, &buf, &len), 0);
	/* Appended, never truncated; control bytes and backslash escaped. */
	assert_string_equal(buf, "MEASURE\t7\tsha256\t00\tprevious\n"
				 "MEASURE\t5\tsha256\tab01\tmodule tpm.ko\\x09args\\x0ax\\x5cy\n");
	free(buf);
	unlink(path);
	free(path);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_levels_parse),
		cmocka_unit_test(test_session_log_gets_all_levels),
		cmocka_unit_test(test_console_threshold),
		cmocka_unit_test(test_measurement_trace_format_and_append),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
