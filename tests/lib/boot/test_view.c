/* Unit tests of boot/view: reading /boot only through what was signed.
 * The signed set is made the way signing makes it (scan + generate), then
 * the evil maid changes the disk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/manifest.h"
#include "boot/view.h"
#include "fs.h"
#include "util.h"

static char root[64];

static int setup(void **state)
{
	(void)state;
	strcpy(root, "/tmp/heads-test-view-XXXXXX");
	return mkdtemp(root) ? 0 : -1;
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

static void put(const char *rel, const char *content)
{
	char *p = xasprintf("%s/%s", root, rel);
	char *d = xstrdup(p);
	*strrchr(d, '/') = '\0';
	assert_int_equal(fs_mkdir_p(d, 0755), 0);
	unlink(p);
	assert_int_equal(fs_write_atomic(p, content, strlen(content), 0644), 0);
	free(d);
	free(p);
}

static void link_(const char *target, const char *rel)
{
	char *p = xasprintf("%s/%s", root, rel);
	unlink(p);
	assert_int_equal(symlink(target, p), 0);
	free(p);
}

/* The signed set of the current tree: hashes and tree as integrity_sign
 * writes them, the link table from the scan (readlink), as
 * kexec_links.txt says. */
static struct boot_signed *sign_now(bool with_links)
{
	struct boot_signed *s = xcalloc(1, sizeof(*s));
	struct manifest_scan scan = {0};
	char *h = NULL, *t = NULL;
	size_t hl, tl, line;
	int bootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	assert_true(bootfd >= 0);
	assert_int_equal(manifest_scan_dir(bootfd, &scan), 0);
	assert_int_equal(manifest_generate(bootfd, &scan, &h, &hl, &t, &tl, NULL, NULL), 0);
	assert_int_equal(manifest_parse_hashes(h, hl, &s->hashes, &line), 0);
	assert_int_equal(manifest_parse_tree(t, tl, &s->tree, &line), 0);
	if (with_links) {
		char buf[65536];
		size_t n = 0;
		for (size_t i = 0; i < scan.tree.n; i++) {
			if (scan.type[i] != MANIFEST_SYMLINK)
				continue;
			char tg[4096];
			ssize_t k = readlinkat(bootfd, scan.tree.path[i], tg, sizeof(tg) - 1);
			assert_true(k > 0);
			tg[k] = '\0';
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%c%s%c", scan.tree.path[i],
					      0, tg, 0);
		}
		assert_int_equal(manifest_parse_links(buf, n, &s->links, &line), 0);
		s->has_links = true;
	}
	manifest_scan_free(&scan);
	free(h);
	free(t);
	close(bootfd);
	return s;
}

static void drop(struct boot_signed *s)
{
	boot_signed_free(s);
	free(s);
}

static void sha(const char *text, uint8_t out[32])
{
	assert_true(EVP_Digest(text, strlen(text), out, NULL, EVP_sha256(), NULL));
}

static void make_boot(void)
{
	put("vmlinuz-6.1", "kernel 6.1");
	put("initrd.img-6.1", "initrd 6.1");
	put("grub/grub.cfg", "menuentry A { linux /vmlinuz }\n");
	put("loader/entries/a.conf", "title A\nlinux /vmlinuz-6.1\n");
	link_("vmlinuz-6.1", "vmlinuz");
	link_("/initrd.img-6.1", "initrd.img"); /* absolute: from the boot root */
}

/* What is signed reads; what the maid changed or planted does not. */
static void test_verified_reads(void **state)
{
	(void)state;
	make_boot();
	struct boot_signed *s = sign_now(true);
	struct boot_view *v = NULL;
	char *buf = NULL;
	size_t len;

	assert_int_equal(boot_view_open(root, s, &v), 0);
	assert_true(boot_view_verified(v));
	assert_int_equal(boot_view_read(v, "/grub/grub.cfg", 4096, &buf, &len), 0);
	assert_string_equal(buf, "menuentry A { linux /vmlinuz }\n");
	free(buf);

	/* planted: a config under a kexec* name and an unsigned one */
	put("kexec_x/grub.cfg", "menuentry EVIL { linux /evil }\n");
	put("grub/custom.cfg", "menuentry EVIL { linux /evil }\n");
	assert_int_equal(boot_view_read(v, "/grub/custom.cfg", 4096, &buf, &len), -EPERM);
	assert_int_equal(boot_view_stat(v, "/grub/custom.cfg"), BOOT_VIEW_NONE);
	assert_int_equal(boot_view_stat(v, "/kexec_x/grub.cfg"), BOOT_VIEW_NONE);

	/* listings come from the signed tree: the planted files are not there */
	struct boot_view_dirent *d = NULL;
	size_t n = 0;
	assert_int_equal(boot_view_list(v, "/grub", &d, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(d[0].name, "grub.cfg");
	boot_view_dirents_free(d, n);
	assert_int_equal(boot_view_list(v, "/", &d, &n), 0);
	for (size_t i = 0; i < n; i++)
		assert_false(startswith(d[i].name, "kexec"));
	boot_view_dirents_free(d, n);

	/* a signed config changed on disk: the parser never sees its bytes */
	put("grub/grub.cfg", "menuentry EVIL { linux /vmlinuz init=/bin/sh }\n");
	assert_int_equal(boot_view_read(v, "grub/grub.cfg", 4096, &buf, &len), -EBADMSG);

	/* a signed file replaced by a symlink is not followed */
	link_("vmlinuz-6.1", "grub/grub.cfg");
	assert_true(boot_view_read(v, "grub/grub.cfg", 4096, &buf, &len) < 0);

	boot_view_free(v);
	drop(s);
}

/* Kernel and initrd: one read into a sealed memfd, digest = signed line of
 * the path it resolves to; links resolved by the signed table only. */
static void test_verified_load_and_links(void **state)
{
	(void)state;
	make_boot();
	struct boot_signed *s = sign_now(true);
	struct boot_view *v = NULL;
	struct boot_blob b = {.fd = -1};
	uint8_t want[32];
	char *real = NULL;

	assert_int_equal(boot_view_open(root, s, &v), 0);
	assert_int_equal(boot_view_load(v, "/vmlinuz", &b), 0);
	assert_true(b.verified);
	assert_string_equal(b.real, "./vmlinuz-6.1");
	sha("kernel 6.1", want);
	assert_memory_equal(b.sha256, want, 32);
	assert_int_equal(b.size, strlen("kernel 6.1"));
	assert_int_equal(write(b.fd, "x", 1), -1); /* sealed */
	char got[64] = {0};
	assert_int_equal(pread(b.fd, got, sizeof(got), 0), (ssize_t)strlen("kernel 6.1"));
	assert_string_equal(got, "kernel 6.1");
	boot_blob_free(&b);

	assert_int_equal(boot_view_resolve(v, "/initrd.img", &real), 0);
	assert_string_equal(real, "./initrd.img-6.1");
	free(real);
	assert_int_equal(boot_view_signed_digest(v, "/initrd.img", want, &real), 0);
	assert_string_equal(real, "./initrd.img-6.1");
	free(real);
	uint8_t w2[32];
	sha("initrd 6.1", w2);
	assert_memory_equal(want, w2, 32);

	/* the maid retargets the link and plants a kernel: the view still
	 * resolves the signed target and loads the signed bytes */
	put("evil", "evil kernel");
	link_("evil", "vmlinuz");
	assert_int_equal(boot_view_load(v, "/vmlinuz", &b), 0);
	assert_string_equal(b.real, "./vmlinuz-6.1");
	sha("kernel 6.1", want);
	assert_memory_equal(b.sha256, want, 32);
	boot_blob_free(&b);
	assert_int_equal(boot_view_load(v, "/evil", &b), -EPERM);

	/* the signed kernel itself replaced: refused, naming it */
	put("vmlinuz-6.1", "kernel 6.1 + backdoor");
	assert_int_equal(boot_view_load(v, "/vmlinuz", &b), -EBADMSG);
	assert_int_equal(b.fd, -1);
	put("vmlinuz-6.1", "kernel 6.1");

	/* an unsigned link (added after signing) is never followed */
	link_("vmlinuz-6.1", "vmlinuz-new");
	assert_int_equal(boot_view_load(v, "/vmlinuz-new", &b), -EPERM);
	/* ".." never, even when it would land inside */
	assert_int_equal(boot_view_load(v, "/grub/../vmlinuz-6.1", &b), -EXDEV);

	boot_view_free(v);
	drop(s);
}

/* A /boot signed by the shell version has no kexec_links.txt: a symlinked
 * kernel verifies only against its kexec_default_hashes.txt line. */
static void test_shell_signed_links(void **state)
{
	(void)state;
	make_boot();
	struct boot_signed *s = sign_now(false);
	struct boot_view *v = NULL;
	struct boot_blob b = {.fd = -1};
	uint8_t k[32];
	char line[128], hex[65];
	size_t ln;

	assert_int_equal(boot_view_open(root, s, &v), 0);
	assert_int_equal(boot_view_load(v, "/vmlinuz", &b), -EPERM);
	boot_view_free(v);

	sha("kernel 6.1", k);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", k[i]);
	snprintf(line, sizeof(line), "%s  ./vmlinuz\n", hex);
	assert_int_equal(manifest_parse_hashes(line, strlen(line), &s->defaults, &ln), 0);
	s->has_defaults = true;
	assert_int_equal(boot_view_open(root, s, &v), 0);
	assert_int_equal(boot_view_load(v, "/vmlinuz", &b), 0);
	assert_true(b.verified);
	boot_blob_free(&b);
	/* retargeted: the bytes read no longer match the default line */
	put("evil", "evil kernel");
	link_("evil", "vmlinuz");
	assert_int_equal(boot_view_load(v, "/vmlinuz", &b), -EBADMSG);
	/* the default line is for /vmlinuz only, not for /initrd.img */
	assert_int_equal(boot_view_load(v, "/initrd.img", &b), -EPERM);
	boot_view_free(v);
	drop(s);
}

/* Without a signature the view still stays inside /boot. */
static void test_unverified_stays_inside(void **state)
{
	(void)state;
	make_boot();
	struct boot_view *v = NULL;
	struct boot_blob b = {.fd = -1};
	char *real = NULL;

	assert_int_equal(boot_view_open(root, NULL, &v), 0);
	assert_false(boot_view_verified(v));
	assert_int_equal(boot_view_load(v, "/initrd.img", &b), 0);
	assert_false(b.verified);
	assert_string_equal(b.real, "./initrd.img-6.1");
	boot_blob_free(&b);
	link_("/etc/passwd", "passwd");         /* absolute: /boot's etc/passwd */
	assert_int_equal(boot_view_load(v, "/passwd", &b), -ENOENT);
	link_("../../../../etc/passwd", "up");  /* leaves the root */
	assert_int_equal(boot_view_resolve(v, "/up", &real), -EXDEV);
	link_("loop2", "loop1");
	link_("loop1", "loop2");
	assert_int_equal(boot_view_resolve(v, "/loop1", &real), -ELOOP);
	boot_view_free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_verified_reads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verified_load_and_links, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shell_signed_links, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unverified_stays_inside, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
