#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "swtpm.h"

static int connects(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int s = socket(AF_INET, SOCK_STREAM, 0), ok;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = connect(s, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(s);
	return ok;
}

static void test_start_stop_exact_pid(void **state)
{
	struct swtpm t = {0};
	pid_t pid;
	(void)state;
	assert_int_equal(swtpm_start(&t), 0);
	assert_true(t.pid > 0);
	pid = t.pid;
	assert_true(connects(t.port));
	assert_non_null(strstr(t.tcti, "swtpm:host=127.0.0.1,port="));
	swtpm_stop(&t);
	assert_int_equal(t.pid, 0);
	/* The process is gone (reaped child: kill reports ESRCH). */
	assert_int_equal(kill(pid, 0), -1);
	assert_int_equal(errno, ESRCH);
	swtpm_destroy(&t);
}

static void test_two_instances_are_independent(void **state)
{
	struct swtpm a = {0}, b = {0};
	(void)state;
	assert_int_equal(swtpm_start(&a), 0);
	assert_int_equal(swtpm_start(&b), 0);
	assert_int_not_equal(a.port, b.port);
	swtpm_destroy(&a);
	/* Stopping a must not touch b. */
	assert_true(kill(b.pid, 0) == 0);
	assert_true(connects(b.port));
	swtpm_destroy(&b);
}

static void test_restart_keeps_state_dir(void **state)
{
	struct swtpm t = {0};
	struct stat st;
	char dir[256];
	(void)state;
	assert_int_equal(swtpm_start(&t), 0);
	snprintf(dir, sizeof(dir), "%s", t.state_dir);
	assert_int_equal(swtpm_restart(&t), 0);
	assert_string_equal(t.state_dir, dir);
	assert_true(connects(t.port));
	swtpm_destroy(&t);
	assert_int_equal(stat(dir, &st), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_start_stop_exact_pid),
		cmocka_unit_test(test_two_instances_are_independent),
		cmocka_unit_test(test_restart_keeps_state_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
