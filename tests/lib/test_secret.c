#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <termios.h>
#include <unistd.h>
#include <sys/wait.h>

#include "secret.h"
#include "util.h"

static int pipe_with(const char *data, size_t n)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write_full(p[1], data, n), 0);
	close(p[1]);
	return p[0];
}

static void test_new_is_locked_and_terminated(void **state)
{
	struct secret *s = secret_new(100);
	unsigned char vec[1];
	(void)state;
	assert_non_null(s);
	assert_true(s->cap >= 100);
	assert_int_equal(s->len, 0);
	assert_int_equal(s->data[0], 0);
	/* Resident (mlock'd pages are in core). */
	assert_int_equal(mincore(s->data, 1, vec), 0);
	assert_true(vec[0] & 1);
	secret_free(s);
	assert_null(secret_new(SECRET_MAX + 1));
}

static void test_read_fd_binary(void **state)
{
	const char data[] = {'a', 0, 'b', '\n', 'c'};
	struct secret *s = NULL;
	int fd = pipe_with(data, sizeof(data));
	(void)state;
	assert_int_equal(secret_read_fd(fd, 64, &s), 0);
	assert_int_equal(s->len, sizeof(data));
	assert_memory_equal(s->data, data, sizeof(data));
	secret_free(s);
	close(fd);
}

static void test_read_fd_too_big(void **state)
{
	struct secret *s = NULL;
	int fd = pipe_with("0123456789", 10);
	(void)state;
	assert_int_equal(secret_read_fd(fd, 9, &s), -EFBIG);
	assert_null(s);
	close(fd);
	fd = pipe_with("0123456789", 10);
	assert_int_equal(secret_read_fd(fd, 10, &s), 0); /* exactly max is fine */
	assert_int_equal(s->len, 10);
	secret_free(s);
	close(fd);
}

static void test_read_line_fd(void **state)
{
	struct secret *a = NULL, *b = NULL;
	int fd = pipe_with("first pass\r\nsecond\n", 19);
	(void)state;
	assert_int_equal(secret_read_line_fd(fd, 64, &a), 0);
	assert_string_equal((char *)a->data, "first pass");
	assert_int_equal(secret_read_line_fd(fd, 64, &b), 0);
	assert_string_equal((char *)b->data, "second");
	secret_free(a);
	secret_free(b);
	close(fd);
	fd = pipe_with("toolongline\n", 12);
	assert_int_equal(secret_read_line_fd(fd, 5, &a), -EFBIG);
	close(fd);
}

static void test_passphrase_from_tty_without_echo(void **state)
{
	int master, slave;
	struct secret *s = NULL;
	struct termios t;
	char buf[256];
	ssize_t n;
	(void)state;
	pid_t typist;
	assert_int_equal(openpty(&master, &slave, NULL, NULL, NULL), 0);
	/* Type only once echo is off: the reader flushes earlier type-ahead
	 * (TCSAFLUSH), as it should. */
	typist = fork();
	assert_true(typist >= 0);
	if (typist == 0) {
		struct termios cur;
		for (int i = 0; i < 1000; i++) {
			if (tcgetattr(slave, &cur) == 0 && !(cur.c_lflag & ECHO)) {
				usleep(20000);
				_exit(write_full(master, "hunter2 secret\n", 15) == 0 ? 0 : 1);
			}
			usleep(5000);
		}
		_exit(2);
	}
	assert_int_equal(secret_read_passphrase(slave, "Passphrase: ", 128, &s), 0);
	int status;
	assert_int_equal(waitpid(typist, &status, 0), typist);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_string_equal((char *)s->data, "hunter2 secret");
	/* Echo restored afterwards. */
	assert_int_equal(tcgetattr(slave, &t), 0);
	assert_true(t.c_lflag & ECHO);
	/* The prompt was shown, the passphrase was not echoed. */
	n = read(master, buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = 0;
	assert_non_null(strstr(buf, "Passphrase: "));
	assert_null(strstr(buf, "hunter2"));
	secret_free(s);
	close(master);
	close(slave);
}

static void test_random_and_equal(void **state)
{
	struct secret *a = secret_new(32), *b = secret_new(32), *c;
	(void)state;
	assert_int_equal(secret_random(a, 32), 0);
	assert_int_equal(secret_random(b, 32), 0);
	assert_int_equal(a->len, 32);
	assert_false(secret_equal(a, b));
	c = secret_dup(a->data, a->len);
	assert_true(secret_equal(a, c));
	c->len--;
	assert_false(secret_equal(a, c));
	assert_int_equal(secret_random(a, a->cap + 1), -EINVAL);
	secret_free(a);
	secret_free(b);
	secret_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_is_locked_and_terminated),
		cmocka_unit_test(test_read_fd_binary),
		cmocka_unit_test(test_read_fd_too_big),
		cmocka_unit_test(test_read_line_fd),
		cmocka_unit_test(test_passphrase_from_tty_without_echo),
		cmocka_unit_test(test_random_and_equal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
