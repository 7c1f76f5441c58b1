/* Unit tests of src/lib/cpio: the writer checked with GNU cpio, the reader on
 * initrds built by real tools (cpio -H newc, gzip, xz --check=crc32, zstd),
 * crypttab overrides and key injection. */
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

#include "cpio.h"
#include "fs.h"
#include "secret.h"
#include "util.h"

static char root[64];

static int setup(void **state)
{
	(void)state;
	strcpy(root, "/tmp/heads-test-cpio-XXXXXX");
	return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char *cmd = xasprintf("rm -rf '%s'", root);
	int r = system(cmd);
	free(cmd);
	return r == 0 ? 0 : -1;
}

static void sh(const char *fmt, ...)
{
	va_list ap;
	char *c = NULL;
	va_start(ap, fmt);
	assert_true(vasprintf(&c, fmt, ap) >= 0);
	va_end(ap);
	char *full = xasprintf("cd '%s' && (%s)", root, c);
	int r = system(full);
	if (r != 0)
		fprintf(stderr, "command failed: %s\n", c);
	assert_int_equal(r, 0);
	free(full);
	free(c);
}

static char *slurp(const char *rel, size_t *len)
{
	char *p = xasprintf("%s/%s", root, rel), *t = NULL;
	assert_int_equal(fs_read_file(p, 64 * 1024 * 1024, &t, len), 0);
	free(p);
	return t;
}

static void test_writer_extracts_with_cpio(void **state)
{
	(void)state;
	struct cpio_writer w;
	cpio_writer_init(&w);
	assert_int_equal(cpio_add_dir(&w, "etc", 0755), 0);
	assert_int_equal(cpio_add_file(&w, "/etc/crypttab", 0644, "a b c\n", 6), 0);
	assert_int_equal(cpio_add_file(&w, "secret.key", 0400, "\x00\x01\x02", 3), 0);
	assert_int_equal(cpio_add_file(&w, "", 0400, "x", 1), -EINVAL);
	assert_int_equal(cpio_finish(&w), 0);
	assert_int_equal(w.len % 512, 0);
	char *p = xasprintf("%s/out.cpio", root);
	assert_int_equal(fs_write_atomic(p, w.buf, w.len, 0600), 0);
	free(p);
	cpio_writer_free(&w);
	sh("mkdir x && cd x && cpio -idm --quiet < ../out.cpio");
	size_t len;
	char *t = slurp("x/etc/crypttab", &len);
	assert_string_equal(t, "a b c\n");
	free(t);
	t = slurp("x/secret.key", &len);
	assert_int_equal(len, 3);
	assert_memory_equal(t, "\x00\x01\x02", 3);
	free(t);
	struct stat st;
	char *k = xasprintf("%s/x/secret.key", root);
	assert_int_equal(stat(k, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0400);
	free(k);
}

struct seen {
	char names[64][128];
	unsigned seg[64];
	size_t n;
};

static int collect(const struct cpio_entry *e, void *ud)
{
	struct seen *s = ud;
	if (s->n < 64 && S_ISREG(e->mode)) {
		snprintf(s->names[s->n], sizeof(s->names[0]), "%s", e->name);
		s->seg[s->n++] = e->segment;
	}
	return 0;
}

static long find(struct seen *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (streq(s->names[i], name))
			return (long)i;
	return -1;
}

/* A Debian/Fedora-like initrd: plain microcode cpio, then compressed
 * segments, with zero padding between them. */
static void make_initrd(void)
{
	sh("mkdir -p a/kernel/x86/microcode b/etc c/cryptroot d/conf "
	   "&& echo ucode > a/kernel/x86/microcode/GenuineIntel.bin "
	   "&& printf '# c\\nluks-1 UUID=1 none luks,discard\\nswap /dev/sdb2 /dev/urandom swap\\n' > b/etc/crypttab "
	   "&& printf 'root UUID=2 none luks,keyscript=/x:y\\n' > c/cryptroot/crypttab "
	   "&& echo conf > d/conf/x "
	   "&& (cd a && find . | cpio -o -H newc --quiet > ../s1) "
	   "&& (cd b && find . | cpio -o -H newc --quiet | gzip -9 > ../s2) "
	   "&& (cd c && find . | cpio -o -H newc --quiet | xz --check=crc32 > ../s3) "
	   "&& (cd d && find . | cpio -o -H newc --quiet | zstd -q > ../s4) "
	   "&& (cat s1; head -c 1000 /dev/zero; cat s2 s3; head -c 3 /dev/zero; cat s4) > initrd.img");
}

static void test_reader_all_segments(void **state)
{
	(void)state;
	make_initrd();
	size_t len;
	char *img = slurp("initrd.img", &len);
	struct seen s = {0};
	assert_int_equal(cpio_walk(img, len, collect, &s), 0);
	long a = find(&s, "kernel/x86/microcode/GenuineIntel.bin"), b = find(&s, "etc/crypttab"),
	     c = find(&s, "cryptroot/crypttab"), d = find(&s, "conf/x");
	assert_true(a >= 0 && b >= 0 && c >= 0 && d >= 0);
	assert_true(s.seg[a] < s.seg[b] && s.seg[b] < s.seg[c] && s.seg[c] < s.seg[d]);

	char *ov = NULL;
	assert_int_equal(initrd_crypttab_overrides(img, len, &ov), 0);
	assert_string_equal(ov,
		"etc/crypttab:luks-1 UUID=1 /secret.key luks,discard\n"
		"etc/crypttab:swap /dev/sdb2 /dev/urandom swap\n"
		"cryptroot/crypttab:root UUID=2 /secret.key luks,keyscript=/x:y\n");

	/* inject: original + padding + appended archive, extractable by cpio -i */
	struct secret *key = secret_dup("0123456789abcdef\x00\xff", 18);
	assert_non_null(key);
	char *ip = xasprintf("%s/initrd.img", root);
	int fd = open(ip, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	int mfd = initrd_inject_key(fd, key, ov);
	assert_true(mfd >= 0);
	close(fd);
	char *out = NULL;
	size_t olen;
	assert_int_equal(fs_read_fd(mfd, 64 * 1024 * 1024, &out, &olen), 0);
	assert_int_equal(fcntl(mfd, F_GET_SEALS) & (F_SEAL_SHRINK | F_SEAL_GROW),
			 F_SEAL_SHRINK | F_SEAL_GROW); /* its size is fixed */
	/* a failed boot wipes it: every byte zero, the key gone */
	assert_int_equal(initrd_wipe(mfd), 0);
	{
		char *z = NULL;
		size_t zl;
		assert_int_equal(lseek(mfd, 0, SEEK_SET), 0);
		assert_int_equal(fs_read_fd(mfd, 64 * 1024 * 1024, &z, &zl), 0);
		assert_int_equal(zl, olen);
		for (size_t i = 0; i < zl; i++)
			assert_int_equal(z[i], 0);
		free(z);
	}
	close(mfd);
	size_t padded = (len + 511) / 512 * 512;
	assert_true(olen > padded);
	assert_memory_equal(out, img, len);
	for (size_t i = len; i < padded; i++)
		assert_int_equal(out[i], 0);
	char *op = xasprintf("%s/injected.img", root);
	assert_int_equal(fs_write_atomic(op, out, olen, 0600), 0);
	sh("mkdir y && cd y && tail -c +%zu ../injected.img | cpio -idm --quiet", padded + 1);
	char *t = slurp("y/secret.key", &olen);
	assert_int_equal(olen, 18);
	assert_memory_equal(t, key->data, 18);
	free(t);
	struct stat st;
	char *kp = xasprintf("%s/y/secret.key", root);
	assert_int_equal(stat(kp, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0400);
	t = slurp("y/etc/crypttab", &olen);
	assert_string_equal(t, "luks-1 UUID=1 /secret.key luks,discard\nswap /dev/sdb2 /dev/urandom swap\n");
	free(t);
	t = slurp("y/cryptroot/crypttab", &olen);
	assert_string_equal(t, "root UUID=2 /secret.key luks,keyscript=/x:y\n");
	free(t);
	/* and our reader sees the appended segment last */
	struct seen s2 = {0};
	assert_int_equal(fs_read_file(op, 64 * 1024 * 1024, &t, &olen), 0);
	assert_int_equal(cpio_walk(t, olen, collect, &s2), 0);
	long k = find(&s2, "secret.key");
	assert_true(k >= 0);
	assert_true(s2.seg[k] > s2.seg[find(&s2, "conf/x")]);
	free(t);
	secret_free(key);
	free(kp);
	free(op);
	free(out);
	free(ip);
	free(ov);
	free(img);
}

static void test_reader_rejects(void **state)
{
	(void)state;
	make_initrd();
	size_t len;
	char *img = slurp("initrd.img", &len);
	struct seen s = {0};
	/* truncated in the middle of the gzip segment */
	char *s1 = slurp("s1", &len);
	size_t l1 = len;
	free(s1);
	assert_int_equal(cpio_walk(img, l1 + 1000 + 40, collect, &s), -EBADMSG);
	/* unknown magic */
	assert_int_equal(cpio_walk("BOGUS", 5, collect, &s), -EBADMSG);
	/* truncated plain cpio */
	assert_int_equal(cpio_walk(img, 200, collect, &s), -EBADMSG);
	/* empty / only zeros is fine */
	assert_int_equal(cpio_walk("\0\0\0\0", 4, collect, &s), 0);
	free(img);
}

static void test_inject_rejects_bad_overrides(void **state)
{
	(void)state;
	struct secret *key = secret_dup("k", 1);
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_int_equal(initrd_inject_key(fd, key, "no-colon-line\n"), -EINVAL);
	assert_int_equal(initrd_inject_key(fd, key, "../etc/crypttab:x y z\n"), -EINVAL);
	assert_int_equal(initrd_inject_key(fd, key, "secret.key:x\n"), -EINVAL);
	int m = initrd_inject_key(fd, key, NULL);
	assert_true(m >= 0);
	close(m);
	close(fd);
	secret_free(key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_writer_extracts_with_cpio, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reader_all_segments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reader_rejects, setup, teardown),
		cmocka_unit_test(test_inject_rejects_bad_overrides),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
