/* Unit tests of src/lib/bootcfg: GRUB interpreter semantics, hostile input,
 * bounds, syslinux INCLUDE, BLS, cmdline builder, line format, JSON,
 * default-entry persistence. */
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

#include "bootcfg/bootcfg.h"
#include "fs.h"
#include "util.h"

static char root[64];

static int setup(void **state)
{
	(void)state;
	strcpy(root, "/tmp/heads-test-bootcfg-XXXXXX");
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

static void put(const char *rel, const char *text)
{
	char *p = xasprintf("%s/%s", root, rel);
	char *d = xstrdup(p);
	*strrchr(d, '/') = '\0';
	assert_int_equal(fs_mkdir_p(d, 0755), 0);
	assert_int_equal(fs_write_atomic(p, text, strlen(text), 0644), 0);
	free(d);
	free(p);
}

static void touch_kernels(void)
{
	put("vmlinuz", "kernel");
	put("initrd.img", "initrd");
	put("xen.gz", "xen");
}

static struct boot_entries parse(const char *cfg, enum bootcfg_format f, int expect)
{
	struct boot_entries l = {.default_index = -1};
	struct boot_view *v = NULL;
	assert_int_equal(boot_view_open(root, NULL, &v), 0);
	assert_int_equal(bootcfg_parse(v, cfg, f, &l), expect);
	boot_view_free(v);
	return l;
}

/* ---- GRUB ---- */

static void test_grub_hostile_inert(void **state)
{
	(void)state;
	touch_kernels();
	put("grub/grub.cfg",
	    "menuentry 'A $(reboot) `reboot`; rm -rf /' {\n"
	    "  linux /vmlinuz root=/dev/sda1 x='$(reboot)' \"`id`\" a\\;b\n"
	    "  initrd /initrd.img\n"
	    "}\n"
	    "menuentry \"B $(reboot)\" { linux /vmlinuz $(reboot) ; initrd /initrd.img; }\n");
	struct boot_entries l = parse("grub/grub.cfg", BOOTCFG_GRUB, 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[0].title, "A $(reboot) `reboot`; rm -rf /");
	assert_string_equal(l.v[0].cmdline, "root=/dev/sda1 x=$(reboot) `id` a;b");
	assert_string_equal(l.v[1].title, "B $(reboot)");
	assert_string_equal(l.v[1].cmdline, "$(reboot)");
	assert_string_equal(l.v[1].initrd[0], "/initrd.img");
	boot_entries_free(&l);
}

static void test_grub_scoping(void **state)
{
	(void)state;
	touch_kernels();
	put("grub/grub.cfg",
	    "set plain=P\nset exp=E\nexport exp\n"
	    "function f { linux /vmlinuz $1 $plain $exp $opt; initrd /initrd.img; }\n"
	    "menuentry 'top' { set opt=O; f first; }\n"
	    "submenu 'sub' { menuentry 'in' { f second; } }\n"
	    "if [ ${unset} ]; then menuentry 'emptytest' { linux /vmlinuz ok; } fi\n"
	    "if [ -z \"$unset\" -a -n x ]; then set t=1; else set t=0; fi\n"
	    "for i in 1 2; do menuentry \"loop $i\" $i { linux /vmlinuz n=$2; } done\n"
	    "menuentry 'last' { linux /vmlinuz t=$t late=$late; }\n"
	    "set late=L\nset default='sub>in'\n");
	struct boot_entries l = parse("grub/grub.cfg", BOOTCFG_GRUB, 0);
	assert_int_equal(l.n, 6);
	assert_string_equal(l.v[0].cmdline, "first P E O");
	assert_string_equal(l.v[1].title, "sub>in");
	assert_string_equal(l.v[1].cmdline, "second E"); /* plain not exported */
	assert_string_equal(l.v[2].title, "emptytest");
	assert_string_equal(l.v[3].title, "loop 1");
	assert_string_equal(l.v[3].cmdline, "n=1");
	assert_string_equal(l.v[4].cmdline, "n=2");
	assert_string_equal(l.v[5].cmdline, "t=1 late=L"); /* entries run after the config */
	assert_string_equal(l.default_id, "1>0");
	assert_int_equal(l.default_index, 1);
	boot_entries_free(&l);
}

static void test_grub_xen_and_missing(void **state)
{
	(void)state;
	touch_kernels();
	put("grub/grub.cfg",
	    "menuentry 'xen' {\n multiboot2 ($root)/xen.gz placeholder dom0_mem=1G\n"
	    " module2 (hd0,gpt2)/vmlinuz root=x ro\n module2 --nounzip /initrd.img\n}\n"
	    "menuentry 'gone' { linux /vmlinuz-missing; initrd /initrd.img; }\n"
	    "menuentry 'gone2' { linux /vmlinuz; initrd /missing.img; }\n");
	struct boot_entries l = parse("grub/grub.cfg", BOOTCFG_GRUB, 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.v[0].kind, BOOT_XEN);
	assert_string_equal(l.v[0].kernel, "/xen.gz");
	assert_string_equal(l.v[0].cmdline, "placeholder dom0_mem=1G");
	assert_int_equal(l.v[0].n_modules, 2);
	assert_string_equal(l.v[0].modules[0].path, "/vmlinuz");
	assert_string_equal(l.v[0].modules[0].args, "root=x ro");
	assert_string_equal(l.v[0].modules[1].path, "/initrd.img");
	assert_string_equal(l.v[0].modules[1].args, "");
	assert_int_equal(l.v[0].n_initrd, 0);
	boot_entries_free(&l);
}

static void test_grub_source_loop_bounded(void **state)
{
	(void)state;
	touch_kernels();
	put("grub/grub.cfg", "source /grub/a.cfg\nmenuentry x { linux /vmlinuz; }\n");
	put("grub/a.cfg", "source /grub/grub.cfg\n");
	struct boot_entries l = parse("grub/grub.cfg", BOOTCFG_GRUB, -ELOOP);
	boot_entries_free(&l);
	put("grub/grub.cfg", "function f { f; }\nf\n");
	l = parse("grub/grub.cfg", BOOTCFG_GRUB, -ELOOP);
	boot_entries_free(&l);
	put("grub/grub.cfg", "while true; do set a=b; done\n");
	l = parse("grub/grub.cfg", BOOTCFG_GRUB, -E2BIG);
	boot_entries_free(&l);
}

static void test_grub_big_refused(void **state)
{
	(void)state;
	size_t n = 10u * 1024 * 1024;
	char *big = xmalloc(n + 1);
	memset(big, '#', n);
	big[n] = '\0';
	for (size_t i = 100; i < n; i += 100)
		big[i] = '\n';
	put("grub/grub.cfg", big);
	free(big);
	struct boot_entries l = parse("grub/grub.cfg", BOOTCFG_GRUB, -EFBIG);
	boot_entries_free(&l);
}

static void test_grub_syntax_error(void **state)
{
	(void)state;
	put("grub/grub.cfg", "menuentry 'x' {\n linux /vmlinuz\n");
	struct boot_entries l = parse("grub/grub.cfg", BOOTCFG_GRUB, -EINVAL);
	boot_entries_free(&l);
	put("grub/grub.cfg", "if true; then\n");
	l = parse("grub/grub.cfg", BOOTCFG_GRUB, -EINVAL);
	boot_entries_free(&l);
}

static void test_grub_dotdot_refused(void **state)
{
	(void)state;
	touch_kernels();
	put("grub/grub.cfg", "source /../../etc/passwd\nmenuentry x { linux /../vmlinuz; }\n");
	struct boot_entries l = parse("grub/grub.cfg", BOOTCFG_GRUB, 0);
	assert_int_equal(l.n, 0);
	boot_entries_free(&l);
}

/* ---- syslinux ---- */

static void test_syslinux_include_cycle(void **state)
{
	(void)state;
	touch_kernels();
	put("isolinux/isolinux.cfg", "include a.cfg\n");
	put("isolinux/a.cfg", "include b.cfg\n");
	put("isolinux/b.cfg", "include a.cfg\n");
	struct boot_entries l = parse("isolinux/isolinux.cfg", BOOTCFG_SYSLINUX, -ELOOP);
	boot_entries_free(&l);
}

static void test_syslinux_entries(void **state)
{
	(void)state;
	touch_kernels();
	put("isolinux/vmlinuz", "k");
	put("isolinux/initrd.img", "i");
	put("isolinux/xen.gz", "x");
	put("isolinux/isolinux.cfg",
	    "default vesamenu.c32\nappend global=1\n"
	    "label one\n menu label ^One $(reboot);\n kernel vmlinuz\n append initrd=initrd.img,/initrd.img quiet\n"
	    "label two\n kernel /vmlinuz\n initrd /initrd.img\n menu default\n"
	    "menu begin sub\n menu title Sub\n"
	    "label xen\n kernel mboot.c32\n append xen.gz a=1 --- vmlinuz b=2 --- initrd.img\n"
	    "menu end\n"
	    "label c32\n kernel hdt.c32\n"
	    "label local\n localboot 0\n");
	struct boot_entries l = parse("isolinux/isolinux.cfg", BOOTCFG_SYSLINUX, 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.v[0].title, "One $(reboot);");
	assert_string_equal(l.v[0].kernel, "/isolinux/vmlinuz");
	assert_int_equal(l.v[0].n_initrd, 2);
	assert_string_equal(l.v[0].initrd[0], "/isolinux/initrd.img");
	assert_string_equal(l.v[0].initrd[1], "/initrd.img");
	assert_string_equal(l.v[0].cmdline, "quiet");
	assert_string_equal(l.v[1].title, "two");
	assert_string_equal(l.v[1].cmdline, "global=1");
	assert_string_equal(l.v[2].title, "Sub>xen");
	assert_int_equal(l.v[2].kind, BOOT_XEN);
	assert_string_equal(l.v[2].modules[1].path, "/isolinux/initrd.img");
	assert_string_equal(l.default_id, "two");
	assert_int_equal(l.default_index, 1);
	boot_entries_free(&l);
}

/* ---- BLS ---- */

static void test_bls(void **state)
{
	(void)state;
	touch_kernels();
	put("vmlinuz-5.10", "k");
	put("vmlinuz-5.9", "k");
	put("grub2/grubenv", "# GRUB Environment Block\nkernelopts=root=/dev/x ro\n#####\n");
	put("loader/entries/a-5.9.conf", "title Old\nversion 5.9\nlinux /vmlinuz-5.9\noptions $kernelopts old\n");
	put("loader/entries/a-5.10.conf", "title New\nversion 5.10\nlinux /vmlinuz-5.10\ninitrd /initrd.img\n");
	struct boot_entries l = parse("loader", BOOTCFG_BLS, 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[0].title, "New");
	assert_string_equal(l.v[0].cmdline, "root=/dev/x ro");
	assert_string_equal(l.v[1].cmdline, "root=/dev/x ro old");
	boot_entries_free(&l);
}

static void test_boot_prefix_fallback(void **state)
{
	(void)state;
	touch_kernels();
	put("boot/vmlinuz-r", "k");
	put("grub/grub.cfg", "menuentry a { linux /boot/vmlinuz root=x; initrd /initrd.img; }\n"
			     "menuentry b { linux /vmlinuz-r; initrd /boot/initrd.img; }\n");
	struct boot_entries l = parse("grub/grub.cfg", BOOTCFG_GRUB, 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[0].kernel, "/vmlinuz");
	assert_string_equal(l.v[1].kernel, "/boot/vmlinuz-r");
	assert_string_equal(l.v[1].initrd[0], "/initrd.img");
	boot_entries_free(&l);
}

/* ---- cmdline builder ---- */

static void test_cmdline(void **state)
{
	(void)state;
	bool tl;
	char *s = bootcfg_build_cmdline("root=/dev/sda1 quiet --- splash quiet", NULL, "quiet", NULL, &tl);
	assert_string_equal(s, "root=/dev/sda1 splash");
	assert_false(tl);
	free(s);
	/* whole words only: "quiet" does not remove "quietly" */
	s = bootcfg_build_cmdline("quietly quiet", NULL, "quiet", NULL, NULL);
	assert_string_equal(s, "quietly");
	free(s);
	s = bootcfg_build_cmdline("findiso=/old.iso root=x iso-scan/filename=/a", "iso-scan/filename=/b.iso findiso=/b.iso",
				  NULL, "intel_iommu=on root=x", NULL);
	assert_string_equal(s, "iso-scan/filename=/b.iso findiso=/b.iso root=x intel_iommu=on");
	free(s);
	s = bootcfg_build_cmdline(NULL, NULL, NULL, NULL, NULL);
	assert_string_equal(s, "");
	free(s);
	char *longp = xmalloc(3000);
	memset(longp, 'a', 2999);
	longp[2999] = '\0';
	s = bootcfg_build_cmdline(longp, NULL, NULL, NULL, &tl);
	assert_true(tl);
	free(s);
	free(longp);
}

/* ---- line format, JSON ---- */

static void test_line_roundtrip(void **state)
{
	(void)state;
	struct boot_entry e = {0}, back = {0};
	char *ird[] = {"/initrd.img", "/ucode.img"};
	e.title = "T|x";
	e.kind = BOOT_LINUX;
	e.kernel = "/vmlinuz";
	e.initrd = ird;
	e.n_initrd = 2;
	e.cmdline = "root=/dev/x ro";
	char *s = boot_entry_to_line(&e);
	assert_string_equal(s, "Tx|elf|kernel /vmlinuz|initrd /initrd.img|initrd /ucode.img|append root=/dev/x ro");
	assert_int_equal(boot_entry_from_line(s, &back), 0);
	assert_string_equal(back.kernel, "/vmlinuz");
	assert_int_equal(back.n_initrd, 2);
	assert_string_equal(back.cmdline, "root=/dev/x ro");
	boot_entry_free(&back);
	free(s);
	assert_int_equal(boot_entry_from_line("x|elf", &back), -EINVAL);
	assert_int_equal(boot_entry_from_line("x|sh|kernel /a", &back), -EINVAL);
	assert_int_equal(boot_entry_from_line("x|xen|kernel /xen.gz a|module /v b c|module /i", &back), 0);
	assert_int_equal(back.kind, BOOT_XEN);
	assert_string_equal(back.cmdline, "a");
	assert_int_equal(back.n_modules, 2);
	assert_string_equal(back.modules[0].args, "b c");
	boot_entry_free(&back);
}

static void test_json_escaping(void **state)
{
	(void)state;
	struct boot_entries l = {.default_index = -1};
	struct boot_entry e = {0};
	e.title = xstrdup("q\"b\\s\n\x01 \xc3\xa9 \xff");
	e.kernel = xstrdup("/k");
	e.cmdline = xstrdup("");
	l.v = &e;
	l.n = 1;
	char *j = bootcfg_to_json(&l);
	assert_non_null(strstr(j, "\"title\": \"q\\\"b\\\\s\\u000a\\u0001 \xc3\xa9 \\ufffd\""));
	assert_non_null(strstr(j, "\"initrd\": [], \"cmdline\": \"\", \"modules\": []"));
	free(j);
	l.v = NULL;
	l.n = 0;
	boot_entry_free(&e);
}

/* ---- default persistence ---- */

static void test_default_persistence(void **state)
{
	(void)state;
	touch_kernels();
	char *params = xasprintf("%s/params", root);
	assert_int_equal(fs_mkdir_p(params, 0755), 0);
	struct boot_entry e = {0}, back = {0};
	char *ird[] = {"/initrd.img"};
	e.title = "Debian";
	e.kind = BOOT_LINUX;
	e.kernel = "/vmlinuz";
	e.initrd = ird;
	e.n_initrd = 1;
	e.cmdline = "ro";
	struct boot_view *v = NULL;
	assert_int_equal(boot_view_open(root, NULL, &v), 0);
	/* The files `heads boot sign --default` and the menu sign with /boot,
	 * written where a signing writes them. */
	struct bootcfg_default_files f = {0};
	assert_int_equal(bootcfg_default_files(v, &e, 2, &f), 0);
	assert_string_equal(f.name, "kexec_default.2.txt");
	assert_int_equal(strlen(f.hashes), f.hashes_len);
	char *hp = xasprintf("%s/kexec_default_hashes.txt", params);
	char *lp = xasprintf("%s/%s", params, f.name);
	assert_int_equal(fs_write_atomic(hp, f.hashes, f.hashes_len, 0644), 0);
	assert_int_equal(fs_write_atomic(lp, f.line, f.line_len, 0644), 0);
	/* the format sha256sum -c accepts, checked by the real tool */
	char *cmd = xasprintf("cd '%s' && sha256sum --quiet -c '%s' >/dev/null", root, hp);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	assert_non_null(strstr(f.hashes, "  ./vmlinuz\n"));
	assert_non_null(strstr(f.hashes, "  ./initrd.img\n"));
	unsigned idx;
	assert_int_equal(bootcfg_load_default(params, &back, &idx), 0);
	assert_int_equal(idx, 2);
	assert_string_equal(back.title, "Debian");
	assert_string_equal(back.initrd[0], "/initrd.img");
	boot_entry_free(&back);
	bootcfg_default_files_free(&f);
	/* a path the line format cannot carry is refused */
	e.kernel = "/vmlinuz old";
	assert_int_equal(bootcfg_default_files(v, &e, 3, &f), -EINVAL);
	assert_null(f.name);
	boot_view_free(v);
	free(hp);
	free(lp);
	free(params);
}

/* What a person is shown is what boots: a path with whitespace or a control
 * byte cannot be carried faithfully (line format, kexec-tools --module), so
 * its entry is dropped; titles are shown escaped. */
static void test_hostile_paths_and_titles(void **state)
{
	(void)state;
	touch_kernels();
	put("vmlinuz x", "kernel");
	put("grub/grub.cfg",
	    "menuentry 'ok\x1b[2J' { linux /vmlinuz ro; initrd /initrd.img; }\n"
	    "menuentry 'spaced' { linux \"/vmlinuz x\" ro; initrd /initrd.img; }\n"
	    "menuentry 'tab' { linux \"/vmlinuz\tx\" ro; }\n");
	struct boot_entries l = parse("grub/grub.cfg", BOOTCFG_GRUB, 0);
	assert_int_equal(l.n, 1);
	char *t = str_escape_controls("a\x1b[2Jb\x7f\n", false);
	assert_string_equal(t, "a\\x1b[2Jb\\x7f\\x0a");
	free(t);
	boot_entries_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_grub_hostile_inert, setup, teardown),
		cmocka_unit_test_setup_teardown(test_grub_scoping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_grub_xen_and_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_grub_source_loop_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_grub_big_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_grub_syntax_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_grub_dotdot_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syslinux_include_cycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syslinux_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_boot_prefix_fallback, setup, teardown),
		cmocka_unit_test(test_cmdline),
		cmocka_unit_test(test_line_roundtrip),
		cmocka_unit_test(test_json_escaping),
		cmocka_unit_test_setup_teardown(test_default_persistence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_paths_and_titles, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
