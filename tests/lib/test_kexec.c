/* Unit tests of kexec plans: one read per file, the initrd the OS gets can
 * be replaced, and a replaced initrd (it may hold the Disk Unlock Key) is
 * wiped when the plan is freed without booting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "boot/view.h"
#include "fs.h"
#include "kexec.h"
#include "util.h"

static char root[64];

static int setup(void **state)
{
	(void)state;
	strcpy(root, "/tmp/heads-test-kexec-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	char *k = xasprintf("%s/vmlinuz", root), *i = xasprintf("%s/initrd.img", root);
	int r = fs_write_atomic(k, "kernel", 6, 0644) || fs_write_atomic(i, "initrd", 6, 0644);
	free(k);
	free(i);
	return r ? -1 : 0;
}

static int teardown(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", root);
	int r;
	(void)state;
	r = system(cmd);
	free(cmd);
	return r == 0 ? 0 : -1;
}

static void test_replaced_initrd_wiped_on_free(void **state)
{
	(void)state;
	struct boot_view *v = NULL;
	struct kexec_opts o;
	struct kexec_plan p;
	char *ird[] = {"/initrd.img"};
	struct boot_entry e = {.title = "t", .kind = BOOT_LINUX, .kernel = "/vmlinuz",
			       .initrd = ird, .n_initrd = 1, .cmdline = "ro"};
	char buf[16] = {0};

	assert_int_equal(boot_view_open(root, NULL, &v), 0);
	kexec_opts_init(&o);
	assert_int_equal(kexec_plan_build(v, &e, &o, &p), 0);
	assert_int_equal(pread(kexec_plan_initrd_fd(&p), buf, sizeof(buf), 0), 6);
	assert_string_equal(buf, "initrd");

	/* what duk_inject hands over: the initrd with a key appended */
	int fd = memfd_create("injected", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "initrd+KEY", 10), 10);
	int keep = dup(fd);
	assert_int_equal(kexec_plan_set_initrd(&p, fd), 0);
	assert_int_equal(kexec_plan_initrd_fd(&p), fd);
	kexec_plan_free(&p); /* the boot did not happen */
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(pread(keep, buf, sizeof(buf), 0), 10);
	for (int i = 0; i < 10; i++)
		assert_int_equal(buf[i], 0);
	close(keep);
	boot_view_free(v);
}

static void test_entry_without_initrd_cannot_be_given_one(void **state)
{
	(void)state;
	struct boot_view *v = NULL;
	struct kexec_opts o;
	struct kexec_plan p;
	struct boot_entry e = {.title = "t", .kind = BOOT_LINUX, .kernel = "/vmlinuz",
			       .cmdline = "ro"};
	assert_int_equal(boot_view_open(root, NULL, &v), 0);
	kexec_opts_init(&o);
	assert_int_equal(kexec_plan_build(v, &e, &o, &p), 0);
	assert_int_equal(kexec_plan_initrd_fd(&p), -1);
	assert_int_equal(kexec_plan_set_initrd(&p, 99), -EINVAL);
	kexec_plan_free(&p);
	boot_view_free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_replaced_initrd_wiped_on_free, setup, teardown),
		cmocka_unit_test_setup_teardown(test_entry_without_initrd_cannot_be_given_one, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
