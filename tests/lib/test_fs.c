#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"
#include "util.h"

static char root[] = "/tmp/heads-test-fs-XXXXXX";

static int setup(void **state)
{
	(void)state;
	strcpy(root, "/tmp/heads-test-fs-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", root);
	(void)state;
	if (system(cmd) != 0) {
		free(cmd);
		return -1;
	}
	free(cmd);
	return 0;
}

static char *p(const char *rel) { return xasprintf("%s/%s", root, rel); }

static void test_atomic_write_replaces(void **state)
{
	char *f = p("file"), *buf;
	size_t len;
	struct stat st;
	(void)state;
	assert_int_equal(fs_write_atomic(f, "old", 3, 0644), 0);
	assert_int_equal(fs_write_atomic(f, "new content", 11, 0600), 0);
	assert_int_equal(fs_read_file(f, 100, &buf, &len), 0);
	assert_int_equal(len, 11);
	assert_string_equal(buf, "new content");
	assert_int_equal(stat(f, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	free(buf);
	free(f);
}

static void test_atomic_write_leaves_no_temp(void **state)
{
	char *f = p("x"), *cmd;
	(void)state;
	assert_int_equal(fs_write_atomic(f, "1", 1, 0644), 0);
	cmd = xasprintf("test $(ls -A '%s' | wc -l) -eq 1", root);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(f);
}

static void test_atomic_write_missing_dir_fails_cleanly(void **state)
{
	char *f = p("nodir/file");
	(void)state;
	assert_int_equal(fs_write_atomic(f, "1", 1, 0644), -ENOENT);
	free(f);
}

static void test_read_bounded(void **state)
{
	char *f = p("big"), *buf = NULL;
	size_t len;
	(void)state;
	assert_int_equal(fs_write_atomic(f, "0123456789", 10, 0644), 0);
	assert_int_equal(fs_read_file(f, 9, &buf, &len), -EFBIG);
	assert_null(buf);
	assert_int_equal(fs_read_file(f, 10, &buf, &len), 0);
	assert_int_equal(len, 10);
	free(buf);
	assert_int_equal(fs_read_file(root, 10, &buf, &len), -EISDIR);
	free(f);
}

static void test_read_bounded_on_pipe(void **state)
{
	int pfd[2];
	char *buf = NULL, data[100];
	size_t len;
	(void)state;
	memset(data, 'a', sizeof(data));
	assert_int_equal(pipe(pfd), 0);
	assert_int_equal(write(pfd[1], data, sizeof(data)), (int)sizeof(data));
	close(pfd[1]);
	assert_int_equal(fs_read_fd(pfd[0], 50, &buf, &len), -EFBIG);
	close(pfd[0]);
}

static void test_path_join(void **state)
{
	char *r = NULL;
	(void)state;
	assert_int_equal(fs_path_join("/boot", "/vmlinuz", &r), 0);
	assert_string_equal(r, "/boot/vmlinuz");
	free(r);
	assert_int_equal(fs_path_join("/boot/", "grub/grub.cfg", &r), 0);
	assert_string_equal(r, "/boot/grub/grub.cfg");
	free(r);
	assert_int_equal(fs_path_join("/", "etc/config", &r), 0);
	assert_string_equal(r, "/etc/config");
	free(r);
	r = NULL;
	assert_int_equal(fs_path_join("/boot", "../etc/shadow", &r), -EXDEV);
	assert_int_equal(fs_path_join("/boot", "a/../../x", &r), -EXDEV);
	assert_int_equal(fs_path_join("/boot", "a/..", &r), -EXDEV);
	assert_null(r);
	/* ".." inside a name is not a component. */
	assert_int_equal(fs_path_join("/boot", "a..b/..c", &r), 0);
	assert_string_equal(r, "/boot/a..b/..c");
	free(r);
}

static void test_open_beneath_refuses_escapes(void **state)
{
	char *sub = p("sub"), *f = p("sub/ok"), *outside = p("outside");
	char *lnk_abs = p("sub/abs"), *lnk_up = p("sub/up"), *lnk_in = p("sub/in");
	int dfd, fd;
	(void)state;
	assert_int_equal(mkdir(sub, 0755), 0);
	assert_int_equal(fs_write_atomic(f, "ok", 2, 0644), 0);
	assert_int_equal(fs_write_atomic(outside, "secret", 6, 0644), 0);
	assert_int_equal(symlink("/etc/passwd", lnk_abs), 0);
	assert_int_equal(symlink("../outside", lnk_up), 0);
	assert_int_equal(symlink("ok", lnk_in), 0);
	dfd = open(sub, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);

	fd = fs_open_beneath(dfd, "ok", O_RDONLY, 0);
	assert_true(fd >= 0);
	close(fd);
	fd = fs_open_beneath(dfd, "/ok", O_RDONLY, 0); /* leading / = relative to root */
	assert_true(fd >= 0);
	close(fd);
	fd = fs_open_beneath(dfd, "in", O_RDONLY, 0); /* symlink that stays inside */
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(fs_open_beneath(dfd, "../outside", O_RDONLY, 0), -EXDEV);
	assert_int_equal(fs_open_beneath(dfd, "abs", O_RDONLY, 0), -EXDEV);
	assert_int_equal(fs_open_beneath(dfd, "up", O_RDONLY, 0), -EXDEV);
	assert_int_equal(fs_open_beneath(dfd, "missing", O_RDONLY, 0), -ENOENT);
	close(dfd);
	free(sub); free(f); free(outside); free(lnk_abs); free(lnk_up); free(lnk_in);
}

static void test_mkdir_p(void **state)
{
	char *d = p("a/b/c");
	struct stat st;
	(void)state;
	assert_int_equal(fs_mkdir_p(d, 0700), 0);
	assert_int_equal(fs_mkdir_p(d, 0700), 0); /* idempotent */
	assert_int_equal(stat(d, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_atomic_write_replaces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_atomic_write_leaves_no_temp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_atomic_write_missing_dir_fails_cleanly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_bounded, setup, teardown),
		cmocka_unit_test(test_read_bounded_on_pipe),
		cmocka_unit_test(test_path_join),
		cmocka_unit_test_setup_teardown(test_open_beneath_refuses_escapes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mkdir_p, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
