/* qr.h: the QR code decodes back to its text with zbarimg (zbar-tools), both
 * the PNG and the terminal half-block rendering as a light-on-dark console
 * shows it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "otp.h"
#include "qr.h"
#include "secret.h"
#include "util.h"

static char tmpdir[] = "/tmp/heads-qr-XXXXXX";

/* zbarimg --raw -q PATH; returns its stdout (trailing newline stripped). */
static char *zbarimg(const char *path)
{
	int p[2], st;
	pid_t pid;
	char *out = xmalloc(4096);
	size_t n = 0;
	long r;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		execlp("zbarimg", "zbarimg", "--raw", "-q", path, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	while ((r = read(p[0], out + n, 4095 - n)) > 0)
		n += (size_t)r;
	close(p[0]);
	out[n] = '\0';
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) != 0)
		out[0] = '\0';
	if (n && out[n - 1] == '\n')
		out[n - 1] = '\0';
	return out;
}

static void test_png_decodes(void **state)
{
	static const char *texts[] = {
		"otpauth://totp/qemu-tpm2?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
		"otpauth://totp/TPMTOTP?secret=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"lower case and UPPER case must survive",
	};
	char path[128];
	(void)state;
	snprintf(path, sizeof(path), "%s/qr.png", tmpdir);
	for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
		struct qr_matrix m = {0};
		char *got;
		assert_int_equal(qr_encode(texts[i], strlen(texts[i]), &m), 0);
		assert_true(m.width >= 21 && (m.width - 17) % 4 == 0);
		assert_int_equal(qr_write_png(&m, 4, 4, path), 0);
		got = zbarimg(path);
		assert_string_equal(got, texts[i]);
		free(got);
		qr_matrix_free(&m);
	}
}

/* Parse the half-block rendering back into light/dark cells. */
static int glyph_at(const char *s, bool *top_light, bool *bot_light)
{
	if (s[0] == ' ') {
		*top_light = *bot_light = false;
		return 1;
	}
	if ((unsigned char)s[0] == 0xe2 && (unsigned char)s[1] == 0x96) {
		unsigned char c = (unsigned char)s[2];
		*top_light = c == 0x88 || c == 0x80;
		*bot_light = c == 0x88 || c == 0x84;
		if (c == 0x88 || c == 0x80 || c == 0x84)
			return 3;
	}
	fail_msg("unexpected byte 0x%02x in rendering", (unsigned char)s[0]);
	return -1;
}

static void test_terminal_rendering_decodes(void **state)
{
	static const char *uri =
		"otpauth://totp/qemu-coreboot-fbwhiptail-tpm2?secret=MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U";
	const unsigned bg = 4; /* console background around the text */
	struct qr_matrix m = {0}, screen = {0};
	struct secret *txt = NULL;
	unsigned side, lines, sw;
	char path[128], *got;
	const char *p;
	(void)state;

	assert_int_equal(qr_encode(uri, strlen(uri), &m), 0);
	assert_int_equal(qr_render_utf8(&m, 1, &txt), 0);
	side = m.width + 2;
	lines = (side + 1) / 2;

	/* Rebuild what the console shows: glyph = light, space/background = dark. */
	sw = side + 2 * bg;
	screen.width = sw;
	screen.modules = secret_new((size_t)sw * sw);
	memset(screen.modules->data, 1, (size_t)sw * sw);
	screen.modules->len = (size_t)sw * sw;
	p = (const char *)txt->data;
	for (unsigned l = 0; l < lines; l++) {
		for (unsigned x = 0; x < side; x++) {
			bool tl, bl;
			int n = glyph_at(p, &tl, &bl);
			p += n;
			screen.modules->data[(size_t)(bg + 2 * l) * sw + bg + x] = !tl;
			if (2 * l + 1 < side)
				screen.modules->data[(size_t)(bg + 2 * l + 1) * sw + bg + x] = !bl;
			else
				assert_false(bl); /* odd row count: lower half stays background */
		}
		assert_int_equal(*p, '\n');
		p++;
	}
	assert_int_equal(*p, '\0');

	snprintf(path, sizeof(path), "%s/term.png", tmpdir);
	assert_int_equal(qr_write_png(&screen, 4, 0, path), 0);
	got = zbarimg(path);
	assert_string_equal(got, uri);
	free(got);
	qr_matrix_free(&screen);
	qr_matrix_free(&m);
	secret_free(txt);
}

static void test_glyphs(void **state)
{
	/* 2x2: dark at (0,0) and (1,1). With margin 0: one line,
	 * column 0 = top dark, bottom light -> lower half; column 1 -> upper. */
	struct qr_matrix m = {.width = 2};
	struct secret *txt = NULL;
	(void)state;
	m.modules = secret_dup("\1\0\0\1", 4);
	assert_int_equal(qr_render_utf8(&m, 0, &txt), 0);
	assert_string_equal((char *)txt->data, "\xe2\x96\x84\xe2\x96\x80\n");
	secret_free(txt);
	/* margin 1: 4x4, first line all light-over-(light|dark). */
	assert_int_equal(qr_render_utf8(&m, 1, &txt), 0);
	assert_string_equal((char *)txt->data,
			    "\xe2\x96\x88\xe2\x96\x80\xe2\x96\x88\xe2\x96\x88\n"
			    "\xe2\x96\x88\xe2\x96\x88\xe2\x96\x84\xe2\x96\x88\n");
	secret_free(txt);
	qr_matrix_free(&m);
}

static void test_rejects(void **state)
{
	struct qr_matrix m = {0};
	char big[QR_TEXT_MAX + 2];
	(void)state;
	assert_int_equal(qr_encode("", 0, &m), -EINVAL);
	assert_int_equal(qr_encode("a\0b", 3, &m), -EINVAL);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(qr_encode(big, strlen(big), &m), -EINVAL);
	assert_null(m.modules);
	assert_int_equal(qr_write_png(&m, 4, 4, "/nonexistent/x.png"), -EINVAL);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char path[160];
	(void)state;
	snprintf(path, sizeof(path), "%s/qr.png", tmpdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/term.png", tmpdir);
	unlink(path);
	return rmdir(tmpdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_png_decodes),
		cmocka_unit_test(test_terminal_rendering_decodes),
		cmocka_unit_test(test_glyphs),
		cmocka_unit_test(test_rejects),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
