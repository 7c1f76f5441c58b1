/* Unit tests of luks.h helpers that need no device: parent disk and
 * removable detection on a fake sysfs tree, the key devices parser, the
 * Argon2 guard, the version check. */
#include "luks/luks.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

static char root[] = "/tmp/heads-luks-sysfs-XXXXXX";

static void mk(const char *rel)
{
	char *p = xasprintf("%s/%s", root, rel);
	char *c = p + strlen(root) + 1;
	for (char *s = strchr(c, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		mkdir(p, 0755);
		*s = '/';
	}
	mkdir(p, 0755);
	free(p);
}

static void put(const char *rel, const char *content)
{
	char *p = xasprintf("%s/%s", root, rel);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
	free(p);
}

static void ln(const char *target, const char *rel)
{
	char *p = xasprintf("%s/%s", root, rel);
	char *t = xasprintf("%s/%s", root, target);
	assert_int_equal(symlink(t, p), 0);
	free(p);
	free(t);
}

static int setup(void **state)
{
	(void)state;
	assert_non_null(mkdtemp(root));
	mk("devices/pci0000:00/0000:00:1d.0/nvme/nvme0/nvme0n1/nvme0n1p3");
	put("devices/pci0000:00/0000:00:1d.0/nvme/nvme0/nvme0n1/nvme0n1p3/partition", "3\n");
	mk("devices/pci0000:00/0000:00:17.0/ata1/host0/block/sda/sda2");
	put("devices/pci0000:00/0000:00:17.0/ata1/host0/block/sda/sda2/partition", "2\n");
	mk("devices/pci0000:00/0000:00:14.0/usb2/2-1/host6/block/sdb/sdb1");
	put("devices/pci0000:00/0000:00:14.0/usb2/2-1/host6/block/sdb/sdb1/partition", "1\n");
	mk("devices/virtual/block/dm-0");
	mk("devices/platform/mmc/block/mmcblk0/mmcblk0p1");
	put("devices/platform/mmc/block/mmcblk0/mmcblk0p1/partition", "1\n");
	mk("class/block");
	mk("block/nvme0n1");
	mk("block/sda");
	mk("block/sdb");
	mk("block/dm-0");
	mk("block/mmcblk0");
	put("block/nvme0n1/removable", "0\n");
	put("block/sda/removable", "0\n");
	put("block/sdb/removable", "0\n"); /* USB disks often say 0: the path decides */
	put("block/dm-0/removable", "0\n");
	put("block/mmcblk0/removable", "1\n");
	ln("devices/pci0000:00/0000:00:1d.0/nvme/nvme0/nvme0n1/nvme0n1p3", "class/block/nvme0n1p3");
	ln("devices/pci0000:00/0000:00:1d.0/nvme/nvme0/nvme0n1", "class/block/nvme0n1");
	ln("devices/pci0000:00/0000:00:17.0/ata1/host0/block/sda/sda2", "class/block/sda2");
	ln("devices/pci0000:00/0000:00:14.0/usb2/2-1/host6/block/sdb/sdb1", "class/block/sdb1");
	ln("devices/virtual/block/dm-0", "class/block/dm-0");
	ln("devices/platform/mmc/block/mmcblk0/mmcblk0p1", "class/block/mmcblk0p1");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char *argv[] = {"rm", "-rf", root, NULL};
	pid_t p = fork();
	if (p == 0) {
		execvp("rm", argv);
		_exit(127);
	}
	int st;
	waitpid(p, &st, 0);
	return 0;
}

static void expect_parent(const char *name, const char *parent, bool removable)
{
	char *got = NULL;
	bool rem = !removable;
	assert_int_equal(luks_parent_disk(root, name, &got, &rem), 0);
	assert_string_equal(got, parent);
	assert_int_equal(rem, removable);
	free(got);
}

static void test_parent_disk(void **state)
{
	(void)state;
	expect_parent("nvme0n1p3", "nvme0n1", false);
	expect_parent("nvme0n1", "nvme0n1", false); /* whole-disk NVMe LUKS */
	expect_parent("sda2", "sda", false);
	expect_parent("sdb1", "sdb", true);          /* on USB */
	expect_parent("dm-0", "dm-0", false);        /* LVM LV */
	expect_parent("mmcblk0p1", "mmcblk0", true); /* removable flag */
	char *got = NULL;
	assert_int_equal(luks_parent_disk(root, "sdz9", &got, NULL), -ENOENT);
	assert_int_equal(luks_parent_disk(root, "../sda", &got, NULL), -EINVAL);
	assert_int_equal(luks_parent_disk(root, "", &got, NULL), -EINVAL);
	assert_null(got);
}

static void test_key_devices(void **state)
{
	(void)state;
	struct luks_key_device *v = NULL;
	size_t n = 0;
	char *err = NULL;
	const char ok[] = "# devices\n/dev/sda2 0a1b2c3d-1111-2222-3333-444455556666\n\n"
			  "  /dev/mapper/vg-root\t\r\n/dev/nvme0n1\n";
	assert_int_equal(luks_parse_key_devices(ok, strlen(ok), &v, &n, &err), 3);
	assert_int_equal(n, 3);
	assert_string_equal(v[0].path, "/dev/sda2");
	assert_string_equal(v[0].uuid, "0a1b2c3d-1111-2222-3333-444455556666");
	assert_string_equal(v[1].path, "/dev/mapper/vg-root");
	assert_null(v[1].uuid);
	assert_string_equal(v[2].path, "/dev/nvme0n1");
	luks_key_devices_free(v, n);

	static const struct {
		const char *text;
		const char *err;
	} bad[] = {
		{"sda2\n", "line 1: device must be an absolute path"},
		{"/dev/a\n/dev/b u u\n", "line 2: expected \"DEVICE [UUID]\""},
		{"/dev/a zz$z\n", "line 1: malformed UUID"},
		{"/dev/a\x01\n", "line 1: control character"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		err = NULL;
		v = NULL;
		assert_int_equal(luks_parse_key_devices(bad[i].text, strlen(bad[i].text), &v, &n,
							&err), -EINVAL);
		assert_non_null(err);
		assert_string_equal(err, bad[i].err);
		free(err);
	}
	/* bounded: too many devices, too long a line, NUL inside */
	char *many = xstrdup("");
	for (int i = 0; i <= LUKS_MAX_DEVICES; i++) {
		char *m = xasprintf("%s/dev/d%d\n", many, i);
		free(many);
		many = m;
	}
	err = NULL;
	assert_int_equal(luks_parse_key_devices(many, strlen(many), &v, &n, &err), -EINVAL);
	assert_non_null(strstr(err, "more than"));
	free(err);
	free(many);
	char *longl = xmalloc(5000);
	memset(longl, 'a', 4999);
	longl[0] = '/';
	longl[4999] = '\0';
	err = NULL;
	assert_int_equal(luks_parse_key_devices(longl, 4999, &v, &n, &err), -EINVAL);
	free(err);
	free(longl);
	const char nul[] = "/dev/a\0b\n";
	err = NULL;
	assert_int_equal(luks_parse_key_devices(nul, sizeof(nul) - 1, &v, &n, &err), -EINVAL);
	free(err);
}

static void test_argon2_guard(void **state)
{
	(void)state;
	struct luks_opts o = {.unlock_ram_kib = 1024 * 1024}; /* 1 GiB machine */
	assert_int_equal(luks_argon2_guard(&o, "x", "argon2id", 512 * 1024), 0);
	assert_int_equal(luks_argon2_guard(&o, "x", "argon2id", 512 * 1024 + 1), -E2BIG);
	assert_int_equal(luks_argon2_guard(&o, "x", "argon2i", 1024 * 1024), -E2BIG);
	assert_int_equal(luks_argon2_guard(&o, "x", "pbkdf2", 0), 0);
	/* default: this machine's RAM; 1 KiB always fits */
	assert_int_equal(luks_argon2_guard(NULL, "x", "argon2id", 1), 0);
}

static void test_same_version(void **state)
{
	(void)state;
	struct luks_device v[3] = {{.path = "/dev/a", .version = 2},
				   {.path = "/dev/b", .version = 2},
				   {.path = "/dev/c", .version = 1}};
	assert_int_equal(luks_same_version(v, 2), 0);
	assert_int_equal(luks_same_version(v, 3), -EMEDIUMTYPE);
	assert_int_equal(luks_same_version(v, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parent_disk),
		cmocka_unit_test(test_key_devices),
		cmocka_unit_test(test_argon2_guard),
		cmocka_unit_test(test_same_version),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
