/* Unit tests of boot/manifest and boot/rollback (pure parts). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/manifest.h"
#include "boot/rollback.h"
#include "codec.h"
#include "util.h"

#define H0 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static char root[64];

static int setup(void **state)
{
	(void)state;
	strcpy(root, "/tmp/heads-test-manifest-XXXXXX");
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
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
	free(p);
}

static void mkd(const char *rel)
{
	char *p = xasprintf("%s/%s", root, rel);
	assert_int_equal(mkdir(p, 0755), 0);
	free(p);
}

static void test_signable(void **state)
{
	(void)state;
	assert_true(manifest_name_signable("vmlinuz-6.1.0 (x)~+,=@"));
	assert_false(manifest_name_signable("a\nb"));
	assert_false(manifest_name_signable("a\x01"));
	assert_false(manifest_name_signable("a\\b"));
	assert_false(manifest_name_signable("a\x7f"));
	assert_false(manifest_name_signable("caf\xc3\xa9"));
	char *e = manifest_escape_name("a\nb\\c\xff");
	assert_string_equal(e, "a\\x0ab\\x5cc\\xff");
	free(e);
}

static void test_path_valid(void **state)
{
	(void)state;
	assert_true(manifest_path_valid("./"));
	assert_true(manifest_path_valid("./a/b"));
	assert_true(manifest_path_valid("./.hidden"));
	assert_false(manifest_path_valid("a"));
	assert_false(manifest_path_valid("/a"));
	assert_false(manifest_path_valid("./a/"));
	assert_false(manifest_path_valid(".//a"));
	assert_false(manifest_path_valid("./a/../b"));
	assert_false(manifest_path_valid("./."));
	assert_false(manifest_path_valid("./a/./b"));
	assert_false(manifest_path_valid(""));
}

static void test_parse_hashes(void **state)
{
	struct manifest m;
	size_t line = 0;
	const char *good = H0 "  ./a\n" H0 " *./b c\n" "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855  ./d";
	(void)state;

	assert_int_equal(manifest_parse_hashes(good, strlen(good), &m, &line), 0);
	assert_int_equal(m.n, 3);
	assert_string_equal(m.e[0].path, "./a");
	assert_string_equal(m.e[1].path, "./b c");
	assert_string_equal(m.e[2].path, "./d");
	assert_memory_equal(m.e[0].sha256, m.e[2].sha256, 32);
	manifest_free(&m);

	assert_int_equal(manifest_parse_hashes("", 0, &m, &line), 0);
	assert_int_equal(m.n, 0);
	manifest_free(&m);

	static const char *bad[] = {
		H0 " ./a\n",                 /* one space */
		H0 "\t./a\n",
		H0 "  \n",                   /* empty name */
		"\\" H0 "  ./a\\nb\n",       /* GNU escaped name */
		"g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  ./a\n",
		"e3b0  ./a\n",
		H0 "  ./a\tb\n",             /* control byte in name */
		"\n",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		line = 0;
		assert_int_equal(manifest_parse_hashes(bad[i], strlen(bad[i]), &m, &line), -EINVAL);
		assert_int_equal(line, 1);
	}
	const char *second = H0 "  ./a\nxx\n";
	assert_int_equal(manifest_parse_hashes(second, strlen(second), &m, &line), -EINVAL);
	assert_int_equal(line, 2);
	/* NUL inside a name */
	char nul[80];
	memcpy(nul, H0 "  ./a", 69);
	nul[67] = '\0';
	assert_int_equal(manifest_parse_hashes(nul, 69, &m, &line), -EINVAL);
}

static void test_parse_tree(void **state)
{
	struct manifest_tree t;
	size_t e = 0;
	const char good[] = "./\0./a\0./a/b\0";
	(void)state;

	assert_int_equal(manifest_parse_tree(good, sizeof(good) - 1, &t, &e), 0);
	assert_int_equal(t.n, 3);
	assert_string_equal(t.path[2], "./a/b");
	manifest_tree_free(&t);
	assert_int_equal(manifest_parse_tree("./\0./a", 6, &t, &e), -EINVAL); /* no final NUL */
	assert_int_equal(e, 2);
	assert_int_equal(manifest_parse_tree("./\0\0", 4, &t, &e), -EINVAL);   /* empty entry */
	assert_int_equal(manifest_parse_tree("./../x\0", 7, &t, &e), -EINVAL);
	assert_int_equal(manifest_parse_tree("x\0", 2, &t, &e), -EINVAL);
}

static void test_scan_generate(void **state)
{
	struct manifest_scan s;
	char *h, *t;
	size_t hl, tl;
	_cleanup_close_ int fd = -1;
	(void)state;

	mkd("grub");
	mkd("kexecdir");
	put("grub/grub.cfg", "");
	put("kexecdir/x", "");
	put("kexec_hashes.txt", "old");
	put("vmlinuz", "");
	put("B", "");
	fd = open(root, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	assert_int_equal(symlinkat("vmlinuz", fd, "link"), 0);
	assert_int_equal(manifest_scan_dir(fd, &s), 0);
	assert_int_equal(s.n_unsignable, 0);
	/* byte order: "./" < "./B" < "./grub" < "./grub/grub.cfg" < "./kexecdir" <
	 * "./kexecdir/x" < "./link" < "./vmlinuz"; a directory named kexec* is
	 * scanned like any other (issue 15 item 1) */
	assert_int_equal(s.tree.n, 8);
	assert_string_equal(s.tree.path[0], "./");
	assert_string_equal(s.tree.path[1], "./B");
	assert_string_equal(s.tree.path[2], "./grub");
	assert_string_equal(s.tree.path[3], "./grub/grub.cfg");
	assert_string_equal(s.tree.path[4], "./kexecdir");
	assert_string_equal(s.tree.path[5], "./kexecdir/x");
	assert_string_equal(s.tree.path[6], "./link");
	assert_int_equal(s.type[6], MANIFEST_SYMLINK);
	assert_int_equal(manifest_generate(fd, &s, &h, &hl, &t, &tl, NULL, NULL), 0);
	assert_string_equal(h, H0 "  ./B\n" H0 "  ./grub/grub.cfg\n" H0 "  ./kexecdir/x\n" H0
			    "  ./vmlinuz\n");
	assert_int_equal(tl, strlen("./") + strlen("./B") + strlen("./grub") +
			 strlen("./grub/grub.cfg") + strlen("./kexecdir") + strlen("./kexecdir/x") +
			 strlen("./link") + strlen("./vmlinuz") + 8);
	assert_memory_equal(t, "./\0./B\0./grub\0", 14);
	free(h);
	free(t);
	manifest_scan_free(&s);

	/* an unsignable name anywhere (even under kexec*) refuses generation */
	put("kexecdir/bad\x1b", "");
	assert_int_equal(manifest_scan_dir(fd, &s), 0);
	assert_int_equal(s.n_unsignable, 1);
	assert_string_equal(s.unsignable[0], "./kexecdir/bad\x1b");
	assert_int_equal(manifest_generate(fd, &s, &h, &hl, &t, &tl, NULL, NULL), -EINVAL);
	manifest_scan_free(&s);
}

/* Issue 15 item 1: exactly the top-level regular kexec*.txt, kexec.sig,
 * kexec.sig.listing, kexec_hotp_counter and kexec_package_trigger_* are
 * left out; a kexec*.txt symlink, a fifo, a kexec_x/ directory are not. */
static void test_scan_exclusion(void **state)
{
	struct manifest_scan s;
	_cleanup_close_ int fd = -1;
	static const char *const want[] = {
		"./", "./kexec.sig.d", "./kexec_evil.txt", "./kexec_fifo", "./kexec_x",
		"./kexec_x/grub.cfg", "./kexec_x/kexec_hashes.txt", "./kexecfile",
	};
	(void)state;

	put("kexec_hashes.txt", "");
	put("kexec.sig", "");
	put("kexec.sig.listing", "");
	put("kexec_hotp_counter", "1\n");
	put("kexec_package_trigger_pre.txt", "");
	put("kexecfile", "");
	mkd("kexec.sig.d");
	mkd("kexec_x");
	put("kexec_x/grub.cfg", "menuentry");
	put("kexec_x/kexec_hashes.txt", "");
	fd = open(root, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	assert_int_equal(symlinkat("kexec_hashes.txt", fd, "kexec_evil.txt"), 0);
	assert_int_equal(mkfifoat(fd, "kexec_fifo", 0600), 0);
	assert_int_equal(manifest_scan_dir(fd, &s), 0);
	assert_int_equal(s.tree.n, ARRAY_SIZE(want));
	for (size_t i = 0; i < ARRAY_SIZE(want); i++)
		assert_string_equal(s.tree.path[i], want[i]);
	assert_int_equal(s.type[2], MANIFEST_SYMLINK);
	assert_int_equal(s.type[3], MANIFEST_OTHER);
	manifest_scan_free(&s);
	assert_true(manifest_name_excluded("kexec_default.1.txt"));
	assert_true(manifest_name_excluded("kexec_package_trigger_post.txt"));
	assert_false(manifest_name_excluded("kexec_x"));
	assert_false(manifest_name_excluded("kexec.sig.d"));
}

/* Issue 15 item 3: kexec_links.txt written from a scan, and checked. */
static void test_links(void **state)
{
	struct manifest_scan s;
	struct manifest_links l;
	struct manifest_report rep;
	char *buf;
	size_t len;
	_cleanup_close_ int fd = -1;
	(void)state;

	put("vmlinuz-1", "a");
	put("vmlinuz-2", "b");
	mkd("d");
	fd = open(root, O_RDONLY | O_DIRECTORY);
	assert_int_equal(symlinkat("vmlinuz-1", fd, "vmlinuz"), 0);
	assert_int_equal(symlinkat("../vmlinuz-2", fd, "d/old"), 0);
	assert_int_equal(symlinkat("vmlinuz-2", fd, "gone"), 0);
	assert_int_equal(manifest_scan_dir(fd, &s), 0);
	assert_int_equal(manifest_generate_links(fd, &s, &buf, &len), 0);
	manifest_scan_free(&s);
	assert_int_equal(len, sizeof("./d/old\0../vmlinuz-2\0./gone\0vmlinuz-2\0"
				     "./vmlinuz\0vmlinuz-1") );
	assert_memory_equal(buf, "./d/old\0../vmlinuz-2\0./gone\0vmlinuz-2\0./vmlinuz\0vmlinuz-1",
			    len);
	assert_int_equal(manifest_parse_links(buf, len, &l, NULL), 0);
	free(buf);
	assert_int_equal(l.n, 3);

	/* unchanged: nothing to report */
	assert_int_equal(manifest_verify_links(fd, NULL, NULL, MANIFEST_LINKS_CHECK, &l, &rep,
					       NULL, NULL), 0);
	assert_int_equal(rep.n_issue, 0);
	manifest_report_free(&rep);

	/* retargeted, replaced by a file, removed, added */
	assert_int_equal(unlinkat(fd, "vmlinuz", 0), 0);
	assert_int_equal(symlinkat("vmlinuz-2", fd, "vmlinuz"), 0);
	assert_int_equal(unlinkat(fd, "d/old", 0), 0);
	put("d/old", "b");
	assert_int_equal(unlinkat(fd, "gone", 0), 0);
	assert_int_equal(symlinkat("/etc/passwd", fd, "d/new"), 0);
	assert_int_equal(manifest_verify_links(fd, NULL, NULL, MANIFEST_LINKS_CHECK, &l, &rep,
					       NULL, NULL), 0);
	assert_int_equal(rep.n_issue, 4);
	assert_string_equal(rep.issue[0].path, "./d/new");
	assert_int_equal(rep.issue[0].kind, MANIFEST_NEW);
	assert_string_equal(rep.issue[0].detail, "symlink -> /etc/passwd is not in kexec_links.txt");
	assert_string_equal(rep.issue[1].path, "./d/old");
	assert_int_equal(rep.issue[1].kind, MANIFEST_NOT_REGULAR);
	assert_string_equal(rep.issue[1].detail, "was a symlink -> ../vmlinuz-2, now a regular file");
	assert_string_equal(rep.issue[2].path, "./gone");
	assert_int_equal(rep.issue[2].kind, MANIFEST_MISSING);
	assert_string_equal(rep.issue[3].path, "./vmlinuz");
	assert_int_equal(rep.issue[3].kind, MANIFEST_CHANGED);
	assert_string_equal(rep.issue[3].detail, "symlink was -> vmlinuz-1, now -> vmlinuz-2");
	manifest_report_free(&rep);

	/* no signed table (shell-signed /boot): listed as unbound, no issue */
	assert_int_equal(manifest_verify_links(fd, NULL, NULL, MANIFEST_LINKS_UNBOUND, NULL, &rep,
					       NULL, NULL), 0);
	assert_int_equal(rep.n_issue, 0);
	assert_int_equal(rep.n_unbound, 2);
	assert_string_equal(rep.unbound[0], "./d/new");
	assert_string_equal(rep.unbound[1], "./vmlinuz");
	manifest_report_free(&rep);
	manifest_links_free(&l);
}

static void test_verify(void **state)
{
	struct manifest_scan s;
	struct manifest m;
	struct manifest_tree tr;
	struct manifest_report rep;
	char *h, *t;
	size_t hl, tl;
	_cleanup_close_ int fd = -1;
	(void)state;

	put("a", "1");
	put("b", "2");
	put("c", "3");
	fd = open(root, O_RDONLY | O_DIRECTORY);
	assert_int_equal(manifest_scan_dir(fd, &s), 0);
	assert_int_equal(manifest_generate(fd, &s, &h, &hl, &t, &tl, NULL, NULL), 0);
	manifest_scan_free(&s);
	assert_int_equal(manifest_parse_hashes(h, hl, &m, NULL), 0);
	assert_int_equal(manifest_parse_tree(t, tl, &tr, NULL), 0);

	assert_int_equal(manifest_verify(fd, &m, &tr, &rep, NULL, NULL), 0);
	assert_int_equal(rep.n_issue, 0);
	assert_int_equal(rep.files_checked, 3);
	manifest_report_free(&rep);

	put("a", "changed");
	assert_int_equal(unlinkat(fd, "b", 0), 0);
	assert_int_equal(unlinkat(fd, "c", 0), 0);
	assert_int_equal(symlinkat("a", fd, "c"), 0);
	put("d", "new");
	assert_int_equal(manifest_verify(fd, &m, &tr, &rep, NULL, NULL), 0);
	assert_int_equal(rep.n_issue, 4);
	assert_int_equal(rep.issue[0].kind, MANIFEST_CHANGED);
	assert_string_equal(rep.issue[0].path, "./a");
	assert_int_equal(rep.issue[1].kind, MANIFEST_MISSING);
	assert_string_equal(rep.issue[1].path, "./b");
	assert_int_equal(rep.issue[2].kind, MANIFEST_NOT_REGULAR);
	assert_string_equal(rep.issue[2].path, "./c");
	assert_int_equal(rep.issue[3].kind, MANIFEST_NEW);
	assert_string_equal(rep.issue[3].path, "./d");
	assert_int_equal(manifest_report_count(&rep, MANIFEST_MISSING), 1);
	manifest_report_free(&rep);
	manifest_free(&m);
	manifest_tree_free(&tr);
	free(h);
	free(t);
}

struct prog {
	uint64_t bytes, total;
	size_t files, nfiles, calls;
};

static void prog_cb(void *ud, uint64_t b, uint64_t t, size_t f, size_t n)
{
	struct prog *p = ud;
	assert_true(b >= p->bytes && f >= p->files); /* monotonic */
	assert_true(b <= t && f <= n);
	p->bytes = b;
	p->total = t;
	p->files = f;
	p->nfiles = n;
	p->calls++;
}

static void test_hash_symlinked_dir_refused(void **state)
{
	/* A path through a symlinked directory is never hashed: the file is
	 * reached only by following the link. */
	char *paths[] = {"./d/f", "./real/f"};
	uint8_t dig[2][32];
	int errs[2];
	_cleanup_close_ int fd = -1;
	(void)state;

	mkd("real");
	put("real/f", "x");
	fd = open(root, O_RDONLY | O_DIRECTORY);
	assert_int_equal(symlinkat("real", fd, "d"), 0);
	assert_int_equal(manifest_hash_files(fd, paths, NULL, 2, dig, errs, NULL, NULL), 0);
	assert_int_equal(errs[0], -ELOOP);
	assert_int_equal(errs[1], 0);
}

static void test_hash_lines(void **state)
{
	char *paths[] = {"./vmlinuz", "./grub/grub.cfg"};
	char *bad[] = {"vmlinuz"};
	char *out = NULL;
	size_t len;
	_cleanup_close_ int fd = -1;
	(void)state;

	mkd("grub");
	put("vmlinuz", "");
	put("grub/grub.cfg", "");
	fd = open(root, O_RDONLY | O_DIRECTORY);
	assert_int_equal(manifest_hash_lines(fd, paths, 2, &out, &len), 0);
	assert_string_equal(out, H0 "  ./vmlinuz\n" H0 "  ./grub/grub.cfg\n");
	assert_int_equal(len, strlen(out));
	free(out);
	assert_int_equal(manifest_hash_lines(fd, bad, 1, &out, &len), -EINVAL);
	paths[0] = "./absent";
	assert_int_equal(manifest_hash_lines(fd, paths, 2, &out, &len), -ENOENT);
}

static void test_hash_many_parallel(void **state)
{
	/* More files than cores, of different sizes: every digest lands at
	 * its own index. */
	enum { N = 40 };
	char *paths[N];
	uint64_t sizes[N];
	uint8_t dig[N][32];
	int errs[N];
	_cleanup_close_ int fd = -1;
	(void)state;

	for (int i = 0; i < N; i++) {
		char name[16], *content = xmalloc((size_t)i * 1000 + 1);
		memset(content, 'a' + i % 26, (size_t)i * 1000);
		content[i * 1000] = '\0';
		snprintf(name, sizeof(name), "f%02d", i);
		put(name, content);
		free(content);
		paths[i] = xasprintf("./%s", name);
		sizes[i] = (uint64_t)i * 1000;
	}
	struct prog pr = {0};
	fd = open(root, O_RDONLY | O_DIRECTORY);
	assert_int_equal(manifest_hash_files(fd, paths, sizes, N, dig, errs, prog_cb, &pr), 0);
	/* the last progress call reports everything done */
	assert_true(pr.calls >= 1);
	assert_int_equal(pr.files, N);
	assert_int_equal(pr.nfiles, N);
	assert_int_equal(pr.bytes, pr.total);
	assert_int_equal(pr.total, (uint64_t)(N - 1) * N / 2 * 1000);
	for (int i = 0; i < N; i++) {
		char *cmd = xasprintf("cd '%s' && sha256sum f%02d | cut -c1-64", root, i);
		FILE *p = popen(cmd, "r");
		char want[80] = "", hex[65];
		assert_non_null(fgets(want, sizeof(want), p));
		pclose(p);
		hex_encode(dig[i], 32, hex);
		assert_int_equal(errs[i], 0);
		assert_memory_equal(hex, want, 64);
		free(cmd);
		free(paths[i]);
	}
}

static void test_rollback_format(void **state)
{
	char txt[ROLLBACK_STATE_MAX];
	uint8_t h[32];
	uint32_t id;
	size_t len;
	char *s;
	struct rollback_result res = {0};
	(void)state;

	rollback_state_text(0x1a2b3c4, 5, txt);
	assert_string_equal(txt, "1a2b3c4: 0000000000000005\n");
	s = rollback_format(0x1a2b3c4, 5, &len);
	/* sha256 of "1a2b3c4: 0000000000000005\n" */
	char *cmd = xasprintf("printf '1a2b3c4: 0000000000000005\\n' | sha256sum | cut -c1-64");
	FILE *p = popen(cmd, "r");
	char want[80] = "";
	assert_non_null(fgets(want, sizeof(want), p));
	pclose(p);
	free(cmd);
	assert_memory_equal(s, want, 64);
	assert_string_equal(s + 64, "  /tmp/counter-1a2b3c4\n");
	assert_int_equal(rollback_parse(s, len, &id, h), 0);
	assert_int_equal(id, 0x1a2b3c4);

	rollback_check_value(id, h, 5, &res);
	assert_int_equal(res.state, ROLLBACK_OK);
	rollback_check_value(id, h, 7, &res);
	assert_int_equal(res.state, ROLLBACK_BEHIND);
	assert_int_equal(res.behind_by, 2);
	rollback_check_value(id, h, 4, &res);
	assert_int_equal(res.state, ROLLBACK_MISMATCH);
	rollback_check_value(id + 1, h, 5, &res);
	assert_int_equal(res.state, ROLLBACK_MISMATCH);
	free(s);

	static const char *bad[] = {
		H0 "  /tmp/counter-\n",
		H0 "  /tmp/counter-xyz\n",
		H0 "  /tmp/counter-123456789\n",
		H0 "  /tmp/count-12\n",
		H0 "  /tmp/counter-12\n" H0 "  /tmp/counter-13\n",
		"",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(rollback_parse(bad[i], strlen(bad[i]), &id, h), -EINVAL);
	/* the legacy TPM1 form (decimal ids) parses as hex digits, like the regex */
	assert_int_equal(rollback_parse(H0 "  /tmp/counter-12\n", strlen(H0 "  /tmp/counter-12\n"), &id, h), 0);
	assert_int_equal(id, 0x12);
}

/* Files are hashed from a mapping: one truncated meanwhile raises SIGBUS,
 * which must end as an error for that file (or a digest of what was read
 * before), never as a crash. A second thread truncates and regrows the
 * file while it is hashed, many times. */
struct shrinker {
	int fd;
	volatile int stop;
};

static void *shrink_loop(void *arg)
{
	struct shrinker *s = arg;
	while (!s->stop) {
		if (ftruncate(s->fd, 4096) < 0 || ftruncate(s->fd, 32 << 20) < 0)
			break;
	}
	return NULL;
}

static void test_hash_truncated_while_mapped(void **state)
{
	(void)state;
	char *p = xasprintf("%s/big", root);
	int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	int bootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct shrinker s = {.fd = fd};
	pthread_t th;
	char *paths[] = {"./big"};
	int eio = 0;

	struct sigaction before, after;
	assert_true(fd >= 0 && bootfd >= 0);
	assert_int_equal(sigaction(SIGBUS, NULL, &before), 0);
	assert_int_equal(ftruncate(fd, 32 << 20), 0);
	assert_int_equal(pthread_create(&th, NULL, shrink_loop, &s), 0);
	for (int i = 0; i < 200; i++) {
		uint8_t dig[1][32];
		int errs[1] = {0};
		assert_int_equal(manifest_hash_files(bootfd, paths, NULL, 1, dig, errs, NULL, NULL), 0);
		assert_true(errs[0] == 0 || errs[0] == -EIO);
		eio += errs[0] == -EIO;
	}
	s.stop = 1;
	pthread_join(th, NULL);
	/* the process is alive, and SIGBUS outside hashing is as it was */
	assert_int_equal(sigaction(SIGBUS, NULL, &after), 0);
	assert_true(after.sa_handler == before.sa_handler);
	print_message("truncated during hashing: %d of 200 runs\n", eio);
	close(fd);
	close(bootfd);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signable),
		cmocka_unit_test(test_path_valid),
		cmocka_unit_test(test_parse_hashes),
		cmocka_unit_test(test_parse_tree),
		cmocka_unit_test_setup_teardown(test_scan_generate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_exclusion, setup, teardown),
		cmocka_unit_test_setup_teardown(test_links, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hash_many_parallel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hash_symlinked_dir_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hash_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hash_truncated_while_mapped, setup, teardown),
		cmocka_unit_test(test_rollback_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
