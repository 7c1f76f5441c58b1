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
#include <sys/stat.h>
#include <unistd.h>

#include "boot/view.h"
#include "cpio.h"
#include "duk.h"
#include "fs.h"
#include "kexec.h"
#include "secret.h"
#include "util.h"

#include <openssl/sha.h>
#include <zlib.h>

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

/* --- Xen (issue 25): the .gz image decoded in-process ------------------- */

#define ELF_SIZE (300 * 1024)

static uint8_t *fake_elf(void)
{
	uint8_t *e = xmalloc(ELF_SIZE);
	uint32_t x = 7;
	memcpy(e, "\x7f" "ELF\x01\x01\x01", 7);
	for (size_t i = 7; i < ELF_SIZE; i++) {
		x = x * 1103515245u + 12345u;
		e[i] = i % 5 ? (uint8_t)"xen hypervisor "[i % 15] : (uint8_t)(x >> 24);
	}
	return e;
}

/* gzip as gzip(1) writes it, by zlib's encoder (the oracle) */
static void put_gz(const char *rel, const void *data, size_t len)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
	size_t cap = deflateBound(&z, len) + 64;
	uint8_t *out = xmalloc(cap);
	z.next_in = (Bytef *)data;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	char *p = xasprintf("%s/%s", root, rel);
	assert_int_equal(fs_write_atomic(p, out, cap - z.avail_out, 0644), 0);
	deflateEnd(&z);
	free(out);
	free(p);
}

static uint8_t *read_fd_all(int fd, size_t *ret_len)
{
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	uint8_t *b = xmalloc((size_t)st.st_size + 1);
	assert_int_equal(pread(fd, b, (size_t)st.st_size, 0), st.st_size);
	*ret_len = (size_t)st.st_size;
	return b;
}

static uint8_t *read_file(const char *rel, size_t *ret_len)
{
	char *p = xasprintf("%s/%s", root, rel);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	uint8_t *b = read_fd_all(fd, ret_len);
	close(fd);
	free(p);
	return b;
}

static const char CRYPTTAB[] = "luks-aaaa UUID=aaaa none luks,discard\n";

static int xen_setup(void **state)
{
	if (setup(state) < 0)
		return -1;
	uint8_t *e = fake_elf();
	put_gz("xen-4.17-amd64.gz", e, ELF_SIZE);
	put_gz("dom0.gz", "dom0 kernel", 11);
	free(e);
	struct cpio_writer w;
	cpio_writer_init(&w);
	if (cpio_add_dir(&w, "etc", 0755) < 0 ||
	    cpio_add_file(&w, "etc/crypttab", 0644, CRYPTTAB, strlen(CRYPTTAB)) < 0 ||
	    cpio_add_file(&w, "init", 0755, "#!/bin/sh\n", 10) < 0 || cpio_finish(&w) < 0)
		return -1;
	put_gz("initrd.img-6.1.gz", w.buf, w.len);
	cpio_writer_free(&w);
	return 0;
}

static struct boot_module xen_modules[] = {
	{.path = "/vmlinuz", .args = "placeholder root=/dev/mapper/root ro"},
	{.path = "/initrd.img-6.1.gz", .args = "", .nounzip = true},
};
static struct boot_entry xen_entry = {.title = "Xen", .kind = BOOT_XEN,
				      .kernel = "/xen-4.17-amd64.gz",
				      .cmdline = "placeholder dom0_mem=1G",
				      .modules = xen_modules, .n_modules = 2};

static void test_xen_gz_decoded_into_sealed_memfd(void **state)
{
	(void)state;
	struct boot_view *v = NULL;
	struct kexec_opts o;
	struct kexec_plan p;
	uint8_t want[32];
	size_t n, gzlen;

	assert_int_equal(boot_view_open(root, NULL, &v), 0);
	kexec_opts_init(&o);
	assert_int_equal(kexec_plan_build(v, &xen_entry, &o, &p), 0);
	/* the blob still describes the bytes read (and checked): the .gz */
	uint8_t *gzb = read_file("xen-4.17-amd64.gz", &gzlen);
	SHA256(gzb, gzlen, want);
	assert_memory_equal(p.kernel.sha256, want, 32);
	assert_int_equal(p.kernel.size, gzlen);
	/* what kexec-tools reads is the ELF */
	assert_int_equal(p.kernel_unpacked.format, DECOMPRESS_GZIP);
	assert_int_equal(p.kernel_unpacked.size, ELF_SIZE);
	uint8_t *got = read_fd_all(p.kernel.fd, &n), *e = fake_elf();
	assert_int_equal(n, ELF_SIZE);
	assert_memory_equal(got, e, ELF_SIZE);
	SHA256(e, ELF_SIZE, want);
	assert_memory_equal(p.kernel_unpacked.sha256, want, 32);
	int seals = fcntl(p.kernel.fd, F_GET_SEALS);
	assert_true((seals & (F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK)) ==
		    (F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK));
	/* the --nounzip initrd stays as it is */
	assert_int_equal(p.modules[1].unpacked.format, DECOMPRESS_NONE);
	size_t il, fl;
	uint8_t *ib = read_fd_all(p.modules[1].blob.fd, &il), *fb = read_file("initrd.img-6.1.gz", &fl);
	assert_int_equal(il, fl);
	assert_memory_equal(ib, fb, il);
	/* kexec-tools gets /proc/self/fd paths of exactly these memfds */
	char **argv = kexec_plan_argv(&p, "/sbin/kexec");
	char *k = xasprintf("/proc/self/fd/%d", p.kernel.fd);
	char *m1 = xasprintf("--module=/proc/self/fd/%d", p.modules[1].blob.fd);
	assert_string_equal(argv[2], k);
	assert_string_equal(argv[5], m1);
	kexec_argv_free(argv);
	/* and the description says what was decoded */
	char *text = NULL;
	size_t tl = 0;
	FILE *f = open_memstream(&text, &tl);
	assert_int_equal(kexec_plan_describe(&p, NULL, f), 0);
	fclose(f);
	char hex[65];
	for (int i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", want[i]);
	char *line = xasprintf("kernel-unpacked: gzip, %d bytes, sha256 %s\n", ELF_SIZE, hex);
	assert_non_null(strstr(text, line));
	assert_non_null(strstr(text, "module-unpacked: no (--nounzip, gzip)\n"));
	free(line);
	free(text);
	free(k);
	free(m1);
	free(ib);
	free(fb);
	free(got);
	free(e);
	free(gzb);
	kexec_plan_free(&p);
	boot_view_free(v);
}

/* Xen/multiboot on UEFI firmware (the EFI sysfs directory exists) is refused,
 * with the reason, before anything is loaded; Linux never is; without the
 * directory nothing is refused. */
static void test_firmware_refusal_on_uefi(void **state)
{
	(void)state;
	struct boot_view *v = NULL;
	struct kexec_opts o;
	struct kexec_plan p;

	assert_int_equal(boot_view_open(root, NULL, &v), 0);
	kexec_opts_init(&o);
	assert_int_equal(kexec_plan_build(v, &xen_entry, &o, &p), 0);
	char *efi = xasprintf("%s/efi", root);
	assert_null(kexec_plan_firmware_refusal(&p, efi)); /* not there yet */
	assert_int_equal(mkdir(efi, 0755), 0);
	const char *why = kexec_plan_firmware_refusal(&p, efi);
	assert_non_null(why);
	assert_non_null(strstr(why, "Xen cannot start on this machine: its firmware is UEFI"));
	p.kind = BOOT_MULTIBOOT;
	why = kexec_plan_firmware_refusal(&p, efi);
	assert_non_null(why);
	assert_non_null(strstr(why, "multiboot kernel cannot start"));
	p.kind = BOOT_LINUX;
	assert_null(kexec_plan_firmware_refusal(&p, efi));
	p.kind = BOOT_XEN;
	assert_int_equal(rmdir(efi), 0);
	free(efi);
	kexec_plan_free(&p);
	boot_view_free(v);
}

static void test_module_without_nounzip_decoded(void **state)
{
	(void)state;
	struct boot_view *v = NULL;
	struct kexec_opts o;
	struct kexec_plan p;
	struct boot_module mods[] = {{.path = "/dom0.gz", .args = ""},
				     {.path = "/initrd.img-6.1.gz", .args = ""}};
	struct boot_entry e = xen_entry;
	e.modules = mods;
	size_t n;

	assert_int_equal(boot_view_open(root, NULL, &v), 0);
	kexec_opts_init(&o);
	assert_int_equal(kexec_plan_build(v, &e, &o, &p), 0);
	uint8_t *b = read_fd_all(p.modules[0].blob.fd, &n);
	assert_int_equal(n, 11);
	assert_memory_equal(b, "dom0 kernel", 11);
	free(b);
	assert_int_equal(p.modules[1].unpacked.format, DECOMPRESS_GZIP);
	b = read_fd_all(p.modules[1].blob.fd, &n);
	assert_memory_equal(b, "070701", 6); /* the cpio itself */
	free(b);
	kexec_plan_free(&p);
	boot_view_free(v);
}

/* stderr into a memfd while f runs */
static char *capture_stderr(int (*f)(void *), void *arg, int *ret)
{
	int mfd = memfd_create("err", MFD_CLOEXEC), saved = dup(2);
	fflush(stderr);
	dup2(mfd, 2);
	*ret = f(arg);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	size_t n;
	char *s = (char *)read_fd_all(mfd, &n);
	s[n] = '\0';
	close(mfd);
	return s;
}

struct build_args {
	struct boot_view *v;
	struct kexec_opts *o;
	struct kexec_plan *p;
};

static int build(void *a)
{
	struct build_args *b = a;
	return kexec_plan_build(b->v, &xen_entry, b->o, b->p);
}

static void test_bomb_refused_naming_the_file(void **state)
{
	(void)state;
	struct boot_view *v = NULL;
	struct kexec_opts o;
	struct kexec_plan p = {.initrd_fd = -1, .kernel = {.fd = -1}};
	int r;

	assert_int_equal(boot_view_open(root, NULL, &v), 0);
	kexec_opts_init(&o);
	o.max_unpacked = 64 * 1024; /* the 300 KiB ELF is "too large" */
	struct build_args a = {v, &o, &p};
	char *err = capture_stderr(build, &a, &r);
	assert_int_equal(r, -EFBIG);
	char *want = xasprintf("%s/xen-4.17-amd64.gz: decompresses to more than 65536 bytes", root);
	if (!strstr(err, want))
		fail_msg("stderr: %s", err);
	free(want);
	free(err);
	boot_view_free(v);
}

struct walk {
	const struct secret *key;
	bool key_found, old_crypttab, new_crypttab;
	unsigned crypttab_lines;
};

static int visit(const struct cpio_entry *e, void *ud)
{
	struct walk *w = ud;
	if (streq(e->name, "secret.key")) {
		assert_int_equal(e->size, w->key->len);
		assert_memory_equal(e->data, w->key->data, e->size);
		assert_int_equal(e->mode & 0777, 0400);
		w->key_found = true;
	} else if (streq(e->name, "etc/crypttab") && e->segment == 0) {
		w->old_crypttab = true;
	} else if (streq(e->name, "etc/crypttab")) {
		char *t = strndup((const char *)e->data, e->size);
		assert_non_null(strstr(t, "UUID=aaaa /secret.key"));
		assert_non_null(strstr(t, "UUID=bbbb /secret.key"));
		free(t);
		w->new_crypttab = true;
	}
	return 0;
}

/* Item 2: the dom0 initrd (module 1) is what the Disk Unlock Key goes into,
 * with crypttab lines for every container. */
static void test_duk_reaches_dom0_initrd(void **state)
{
	(void)state;
	struct boot_view *v = NULL;
	struct kexec_opts o;
	struct kexec_plan p;
	struct luks_key_device devs[] = {{.path = "/dev/vda2", .uuid = "aaaa"},
					 {.path = "/dev/vda3", .uuid = "bbbb"}};
	struct secret *key = secret_new(128);
	size_t before, n;

	assert_int_equal(secret_random(key, 128), 0);
	assert_int_equal(boot_view_open(root, NULL, &v), 0);
	kexec_opts_init(&o);
	assert_int_equal(kexec_plan_build(v, &xen_entry, &o, &p), 0);
	assert_int_equal(kexec_plan_initrd_fd(&p), p.modules[1].blob.fd);
	free(read_fd_all(kexec_plan_initrd_fd(&p), &before));
	int fd = duk_inject(NULL, kexec_plan_initrd_fd(&p), key, devs, 2);
	assert_true(fd >= 0);
	assert_int_equal(kexec_plan_set_initrd(&p, fd), 0);
	/* kexec-tools would get the injected initrd as the second module */
	char **argv = kexec_plan_argv(&p, NULL);
	char *m1 = xasprintf("--module=/proc/self/fd/%d", fd);
	assert_string_equal(argv[5], m1);
	assert_null(argv[6]);
	kexec_argv_free(argv);
	free(m1);
	uint8_t *img = read_fd_all(fd, &n);
	assert_true(n > before + 128);
	struct walk w = {.key = key};
	assert_int_equal(cpio_walk(img, n, visit, &w), 0);
	assert_true(w.key_found);
	assert_true(w.old_crypttab);
	assert_true(w.new_crypttab);
	explicit_bzero(img, n);
	free(img);
	secret_free(key);
	kexec_plan_free(&p);
	boot_view_free(v);
}

static void test_summary_for_confirmation(void **state)
{
	(void)state;
	struct boot_view *v = NULL;
	struct kexec_opts o;
	struct kexec_plan p;
	char *t = NULL;
	struct boot_module mods[] = {{.path = "/vmlinuz", .args = "placeholder root=/dev/x\x1b[2J"},
				     {.path = "/initrd.img-6.1.gz", .args = "", .nounzip = true}};
	struct boot_entry e = xen_entry;
	e.modules = mods;

	assert_int_equal(boot_view_open(root, NULL, &v), 0);
	kexec_opts_init(&o);
	o.remove = "placeholder";
	assert_int_equal(kexec_plan_build(v, &e, &o, &p), 0);
	assert_int_equal(kexec_plan_summary(&p, &t), 0);
	char *want = xasprintf(
		"Hypervisor: /xen-4.17-amd64.gz (gzip, decoded in memory: %d bytes)\n"
		"Hypervisor arguments: placeholder dom0_mem=1G no-real-mode reboot=no vga=current\n"
		"Module 1 (dom0 kernel): /vmlinuz\n"
		"  arguments: root=/dev/x\\x1b[2J\n"
		"Module 2 (dom0 initrd): /initrd.img-6.1.gz (kept compressed: --nounzip)\n"
		"  arguments: (none)\n"
		"Signed: NO (the files are not verified against a keyring)\n", ELF_SIZE);
	assert_string_equal(t, want);
	free(want);
	free(t);
	kexec_plan_free(&p);
	boot_view_free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_replaced_initrd_wiped_on_free, setup, teardown),
		cmocka_unit_test_setup_teardown(test_entry_without_initrd_cannot_be_given_one, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_xen_gz_decoded_into_sealed_memfd, xen_setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_module_without_nounzip_decoded, xen_setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bomb_refused_naming_the_file, xen_setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_duk_reaches_dom0_initrd, xen_setup, teardown),
		cmocka_unit_test_setup_teardown(test_summary_for_confirmation, xen_setup, teardown),
		cmocka_unit_test_setup_teardown(test_firmware_refusal_on_uefi, xen_setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
