/* test_integrity.c - integrity_check reads each kexec*.txt once (issue 15
 * item 2): what it verifies, parses and hands out (signed_set) are the
 * same bytes, whatever happens on disk during the check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/integrity.h"
#include "fs.h"
#include "util.h"

static char root[64], boot[96], home[96];

static void put(const char *dir, const char *rel, const char *content)
{
	char *p = xasprintf("%s/%s", dir, rel);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
	free(p);
}

static char *slurp(const char *rel, size_t *len)
{
	char *p = xasprintf("%s/%s", boot, rel), *buf = NULL;
	assert_int_equal(fs_read_file(p, 1 << 20, &buf, len), 0);
	free(p);
	return buf;
}

static int setup(void **state)
{
	char *cmd;
	int r;
	(void)state;
	strcpy(root, "/tmp/heads-test-integrity-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	snprintf(boot, sizeof(boot), "%s/boot", root);
	snprintf(home, sizeof(home), "%s/gnupg", root);
	if (mkdir(boot, 0755) < 0 || mkdir(home, 0700) < 0)
		return -1;
	cmd = xasprintf("gpg --homedir '%s' --batch --quiet --pinentry-mode loopback "
			"--passphrase '' --quick-gen-key 'Test <t@example.org>' ed25519 sign never "
			">/dev/null 2>&1", home);
	r = system(cmd);
	free(cmd);
	put(boot, "vmlinuz", "kernel");
	put(boot, "grub.cfg", "menuentry 'x' { linux /vmlinuz }\n");
	return r == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	char *cmd = xasprintf("gpgconf --homedir '%s' --kill all >/dev/null 2>&1; rm -rf '%s'",
			      home, root);
	int r;
	(void)state;
	r = system(cmd);
	free(cmd);
	return r == 0 ? 0 : -1;
}

static void sign(void)
{
	struct integrity_sign_options so = {
		.bootdir = boot,
		.mode = INTEGRITY_SIGN_REGENERATE,
		.signer = {.gnupghome = home},
	};
	struct integrity_sign_result res;
	assert_int_equal(integrity_sign(&so, &res), 0);
}

/* Rewrites kexec_hashes.txt on disk while the check hashes /boot, i.e.
 * after the signature was verified and the buffers parsed. */
static void swap_hashes(void *ud, uint64_t b, uint64_t bt, size_t f, size_t ft)
{
	int *done = ud;
	(void)b;
	(void)bt;
	if (*done || f != ft)
		return;
	put(boot, "kexec_hashes.txt",
	    "0000000000000000000000000000000000000000000000000000000000000000  ./vmlinuz\n");
	*done = 1;
}

static void test_signed_set_is_what_was_signed(void **state)
{
	struct integrity_report rep;
	struct integrity_options io = {.bootdir = boot, .keyring = home, .rollback_disabled = true};
	static const char *const names[] = {"kexec_hashes.txt", "kexec_links.txt", "kexec_tree.txt"};
	char *orig[3];
	size_t orig_len[3];
	int swapped = 0;
	(void)state;

	sign();
	for (size_t i = 0; i < 3; i++)
		orig[i] = slurp(names[i], &orig_len[i]);

	assert_int_equal(integrity_check(&io, &rep), 0);
	assert_true(integrity_ok(&rep));
	assert_non_null(rep.signed_set);
	assert_int_equal(rep.signed_set->n_files, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(rep.signed_set->files[i].name, names[i]);
		assert_int_equal(rep.signed_set->files[i].len, orig_len[i]);
		assert_memory_equal(rep.signed_set->files[i].data, orig[i], orig_len[i]);
	}
	assert_true(rep.signed_set->has_links);
	assert_int_equal(rep.signed_set->links.n, 0);
	assert_int_equal(rep.signed_set->hashes.n, 2);
	integrity_report_free(&rep);

	/* A manifest swapped while the check runs: the signed set keeps the
	 * bytes that were verified (nothing is read twice). */
	io.progress = swap_hashes;
	io.userdata = &swapped;
	assert_int_equal(integrity_check(&io, &rep), 0);
	assert_int_equal(swapped, 1);
	assert_true(integrity_ok(&rep));
	assert_non_null(rep.signed_set);
	assert_int_equal(rep.signed_set->files[0].len, orig_len[0]);
	assert_memory_equal(rep.signed_set->files[0].data, orig[0], orig_len[0]);
	assert_string_equal(rep.signed_set->hashes.e[1].path, "./vmlinuz");
	assert_memory_not_equal(rep.signed_set->hashes.e[1].sha256,
				"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 32);
	integrity_report_free(&rep);

	/* The next check sees the swapped file: not signed, named. */
	io.progress = NULL;
	assert_int_equal(integrity_check(&io, &rep), 0);
	assert_false(integrity_ok(&rep));
	assert_int_equal(rep.sig.state, SIG_BAD);
	assert_null(rep.signed_set);
	assert_true(rep.kexec_files_exact);
	assert_int_equal(rep.kexec_files.n_issue, 1);
	assert_int_equal(rep.kexec_files.issue[0].kind, MANIFEST_CHANGED);
	assert_string_equal(rep.kexec_files.issue[0].path, "./kexec_hashes.txt");
	integrity_report_free(&rep);
	for (size_t i = 0; i < 3; i++)
		free(orig[i]);
}

/* KEEP: a tampered /boot is refused and kexec.sig is left as it was; the
 * caller's own file is added to an unchanged signed set. */
static void test_keep(void **state)
{
	struct integrity_file extra = {"kexec_key_devices.txt", "/dev/sda2 uuid\n", 15};
	struct integrity_sign_options so = {
		.bootdir = boot,
		.mode = INTEGRITY_SIGN_KEEP,
		.keyring = home,
		.signer = {.gnupghome = home},
		.extra = &extra,
		.n_extra = 1,
	};
	struct integrity_sign_result res;
	struct integrity_report rep;
	struct integrity_options io = {.bootdir = boot, .keyring = home, .rollback_disabled = true};
	char *sig0, *sig1, *h0, *h1;
	size_t l0, l1, hl0, hl1;
	(void)state;

	sign();
	sig0 = slurp("kexec.sig", &l0);
	h0 = slurp("kexec_hashes.txt", &hl0);
	put(boot, "vmlinuz", "evil kernel");
	assert_int_equal(integrity_sign(&so, &res), -EBADMSG);
	sig1 = slurp("kexec.sig", &l1);
	assert_int_equal(l0, l1);
	assert_memory_equal(sig0, sig1, l0);
	free(sig1);
	/* the manifests cannot be replaced in KEEP */
	extra.name = "kexec_hashes.txt";
	put(boot, "vmlinuz", "kernel");
	assert_int_equal(integrity_sign(&so, &res), -EINVAL);
	extra.name = "kexec_key_devices.txt";
	assert_int_equal(integrity_sign(&so, &res), 0);
	h1 = slurp("kexec_hashes.txt", &hl1);
	assert_int_equal(hl0, hl1);
	assert_memory_equal(h0, h1, hl0);
	assert_int_equal(integrity_check(&io, &rep), 0);
	assert_true(integrity_ok(&rep));
	assert_non_null(boot_signed_file(rep.signed_set, "kexec_key_devices.txt"));
	integrity_report_free(&rep);
	free(sig0);
	free(h0);
	free(h1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_signed_set_is_what_was_signed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keep, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
