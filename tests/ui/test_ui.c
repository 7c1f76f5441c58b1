/* Unit tests of src/ui: scripted and line back-ends, script parser, fold. */
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
#include <time.h>
#include <unistd.h>

#include <pty.h>

#include "log.h"
#include "ui/ui.h"
#include "ui/ui_internal.h"
#include "ui/ui_script_parse.h"
#include "util.h"

static const struct ui_item main_items[] = {
	{"d", "Default boot"},
	{"r", "Refresh TOTP/HOTP"},
	{"o", "Options -->"},
	{"F", "OEM Factory Reset"},
	{"f", "Flash"},
};
#define N_MAIN ARRAY_SIZE(main_items)

static int pipe_with(const char *data)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write_full(p[1], data, strlen(data)), 0);
	close(p[1]);
	return p[0];
}

static int out_file(void)
{
	int fd = memfd_create("ui-out", 0);
	assert_true(fd >= 0);
	return fd;
}

static char *slurp(int fd)
{
	off_t n = lseek(fd, 0, SEEK_END);
	char *b = xmalloc((size_t)n + 1);
	assert_int_equal(pread(fd, b, (size_t)n, 0), n);
	b[n] = 0;
	return b;
}

static struct ui *open_script(const char *script, int out, int secret_fd)
{
	struct ui_options o;
	struct ui *ui = NULL;
	int fd = pipe_with(script);

	ui_options_init(&o);
	o.mode = UI_SCRIPT;
	o.script_fd = fd;
	o.out_fd = out;
	o.secret_fd = secret_fd;
	assert_int_equal(ui_open(&o, &ui), 0);
	close(fd);
	assert_int_equal(ui_get_mode(ui), UI_SCRIPT);
	return ui;
}

static struct ui *open_line(const char *input, int out, int *ret_in)
{
	struct ui_options o;
	struct ui *ui = NULL;

	ui_options_init(&o);
	o.mode = UI_LINE;
	o.in_fd = *ret_in = pipe_with(input);
	o.out_fd = out;
	assert_int_equal(ui_open(&o, &ui), 0);
	return ui;
}

/* --- script parser ---------------------------------------------------- */

static void test_parse_comments_crlf(void **state)
{
	struct ui_script s = {0};
	const char buf[] = "# c\r\nd\r\n\nESC\n#x\nlast";
	(void)state;
	assert_int_equal(ui_script_parse(&s, "t", buf, strlen(buf), NULL), 0);
	assert_int_equal(s.n, 4);
	assert_string_equal(s.answers[0], "d");
	assert_int_equal(s.lines[0], 2);
	assert_string_equal(s.answers[1], "");
	assert_string_equal(s.answers[2], "ESC");
	assert_string_equal(s.answers[3], "last");
	assert_int_equal(s.lines[3], 6);
	ui_script_free(&s);
}

static void test_parse_rejects(void **state)
{
	struct ui_script s = {0};
	char *err = NULL;
	char *big = xmalloc(5000);
	(void)state;
	memset(big, 'x', 4999);
	big[4999] = 0;
	assert_int_equal(ui_script_parse(&s, "t", "a\nb\0c", 5, &err), -EINVAL);
	assert_non_null(strstr(err, "NUL"));
	free(err);
	err = NULL;
	assert_int_equal(ui_script_parse(&s, "file.txt", big, strlen(big), &err), -EINVAL);
	assert_string_equal(err, "file.txt:1: line longer than 4096 bytes");
	assert_int_equal(s.n, 0);
	free(err);
	free(big);
}

/* --- scripted back-end ---------------------------------------------- */

static void test_script_menu(void **state)
{
	int out = out_file();
	struct ui *ui = open_script("F\n# comment\nf\nnope\n", out, -1);
	char *t;
	(void)state;

	ui_set_status(ui, "QEMU Board", "123456", "Success");
	assert_int_equal(ui_menu(ui, UI_BG_ERROR, "Main", "Pick one", main_items, N_MAIN, 0), 3);
	assert_int_equal(ui_menu(ui, UI_BG_NORMAL, "Main", "", main_items, N_MAIN, 9), 4);
	/* An answer that is not a key fails, and so does the end of the script. */
	assert_int_equal(ui_menu(ui, UI_BG_NORMAL, "Main", "", main_items, N_MAIN, 0), -EPROTO);
	assert_int_equal(ui_menu(ui, UI_BG_NORMAL, "Main", "", main_items, N_MAIN, 0), -EPROTO);
	t = slurp(out);
	assert_non_null(strstr(t, "=== menu [error] Main\n"));
	assert_non_null(strstr(t, "status: QEMU Board | "));
	assert_non_null(strstr(t, " | TOTP: 123456 | HOTP: Success\n"));
	assert_non_null(strstr(t, "Pick one\n  d) Default boot (default)\n"));
	assert_non_null(strstr(t, "> F\n"));
	free(t);
	ui_close(ui);
	close(out);
}

/* Strings from disks (boot entry titles, paths) cannot redraw the screen:
 * every back-end gets them with control bytes escaped; text keeps its
 * newlines. */
static void test_controls_escaped_on_every_screen(void **state)
{
	int out = out_file();
	struct ui *ui = open_script("1\ny\n", out, -1);
	static const struct ui_item evil[] = {
		{"1", "Debian\x1b[2J\x1b[H(fake: VERIFIED)"},
		{"2", "tab\there\rCR"},
	};
	char *t;
	(void)state;

	assert_int_equal(ui_menu(ui, UI_BG_NORMAL, "Boot \x1b]0;x\x07", "line 1\nline\x1b[1A 2",
				 evil, 2, 0), 0);
	assert_int_equal(ui_yesno(ui, UI_BG_WARNING, "t\x7f", "a\nb\x08" "c"), 1);
	t = slurp(out);
	assert_null(strchr(t, 0x1b));
	assert_null(strchr(t, 0x07));
	assert_null(strchr(t, 0x7f));
	assert_null(strchr(t, 0x08));
	assert_null(strchr(t, '\r'));
	assert_non_null(strstr(t, "Debian\\x1b[2J\\x1b[H(fake: VERIFIED)"));
	assert_non_null(strstr(t, "tab\\x09here\\x0dCR"));
	assert_non_null(strstr(t, "line 1\nline\\x1b[1A 2"));
	assert_non_null(strstr(t, "a\nb\\x08c"));
	free(t);
	ui_close(ui);
	close(out);
}

static void test_script_duplicate_keys_refused(void **state)
{
	const struct ui_item dup[] = {{"a", "one"}, {"a", "two"}};
	int out = out_file();
	struct ui *ui = open_script("a\n", out, -1);
	(void)state;
	assert_int_equal(ui_menu(ui, UI_BG_NORMAL, "t", "", dup, 2, 0), -EINVAL);
	assert_int_equal(ui_menu(ui, UI_BG_NORMAL, "t", "", dup, 0, 0), -EINVAL);
	ui_close(ui);
	close(out);
}

static void test_script_yesno_input_countdown(void **state)
{
	int out = out_file();
	struct ui *ui = open_script("y\nno\nmaybe\nESC\nhello world\n\nESC\nkey\ntimeout\n", out, -1);
	char *s = NULL, *t;
	(void)state;

	assert_int_equal(ui_yesno(ui, UI_BG_WARNING, "Q", "Sure?"), 1);
	assert_int_equal(ui_yesno(ui, UI_BG_WARNING, "Q", "Sure?"), 0);
	assert_int_equal(ui_yesno(ui, UI_BG_WARNING, "Q", "Sure?"), -EPROTO);
	assert_int_equal(ui_yesno(ui, UI_BG_WARNING, "Q", "Sure?"), -ECANCELED);
	/* Message boxes consume nothing. */
	assert_int_equal(ui_msgbox(ui, UI_BG_NORMAL, "Note", "text"), 0);
	assert_int_equal(ui_textbox(ui, UI_BG_ERROR, "Report", "/boot/vmlinuz: FAILED\n"), 0);
	assert_int_equal(ui_input(ui, "Name", "Your name", NULL, &s), 0);
	assert_string_equal(s, "hello world");
	free(s);
	assert_int_equal(ui_input(ui, "Name", "Your name", "x", &s), 0);
	assert_string_equal(s, "");
	free(s);
	assert_int_equal(ui_input(ui, "Name", "Your name", NULL, &s), -ECANCELED);
	assert_int_equal(ui_countdown(ui, "Automatic boot", 5), 1);
	assert_int_equal(ui_countdown(ui, "Automatic boot", 5), 0);
	assert_int_equal(ui_countdown(ui, "Automatic boot", 5), -EPROTO);
	t = slurp(out);
	assert_non_null(strstr(t, "=== yesno [warning] Q\n"));
	assert_non_null(strstr(t, "=== textbox [error] Report\n"));
	assert_non_null(strstr(t, "/boot/vmlinuz: FAILED\n"));
	assert_non_null(strstr(t, "=== countdown 5s: Automatic boot\n> key\n"));
	free(t);
	ui_close(ui);
	close(out);
}

static void test_script_passphrase_from_fd_only(void **state)
{
	int out = out_file();
	int sfd = pipe_with("first pass\nsecond\r\n");
	struct ui *ui = open_script("", out, sfd);
	struct ui *ui2;
	struct secret *s = NULL;
	char *t;
	(void)state;

	assert_int_equal(ui_passphrase(ui, "TPM", "Owner passphrase", 64, &s), 0);
	assert_int_equal(s->len, 10);
	assert_string_equal((char *)s->data, "first pass");
	secret_free(s);
	/* The second passphrase is intact: the first read did not over-consume. */
	assert_int_equal(ui_passphrase(ui, "TPM", "Again", 64, &s), 0);
	assert_string_equal((char *)s->data, "second");
	secret_free(s);
	assert_int_equal(ui_passphrase(ui, "TPM", "Again", 64, &s), -EPIPE);
	t = slurp(out);
	assert_null(strstr(t, "first pass"));
	assert_null(strstr(t, "second\n"));
	free(t);
	ui_close(ui);
	close(sfd);

	/* Without a secret fd the script cannot supply one: -ENOKEY. */
	ui2 = open_script("secret-in-script\n", out, -1);
	assert_int_equal(ui_passphrase(ui2, "TPM", "Owner", 64, &s), -ENOKEY);
	ui_close(ui2);
	close(out);
}

static void test_script_open_errors(void **state)
{
	struct ui_options o;
	struct ui *ui = NULL;
	(void)state;

	ui_options_init(&o);
	o.mode = UI_SCRIPT;
	o.script_path = "/nonexistent/heads-ui-script";
	assert_int_equal(ui_open(&o, &ui), -ENOENT);
	assert_null(ui);
	ui_options_init(&o);
	o.mode = UI_SCRIPT;
	assert_int_equal(ui_open(&o, &ui), -EINVAL);
}

static void test_options_from_env(void **state)
{
	struct ui_options o;
	(void)state;

	ui_options_init(&o);
	setenv("HEADS_UI", "line", 1);
	setenv("HEADS_UI_SCRIPT", "/tmp/x", 1);
	setenv("HEADS_UI_SECRET_FD", "0", 1);
	assert_int_equal(ui_options_from_env(&o), 0);
	assert_int_equal(o.mode, UI_LINE);
	assert_string_equal(o.script_path, "/tmp/x");
	assert_int_equal(o.secret_fd, 0);
	/* Explicit settings win. */
	ui_options_init(&o);
	o.mode = UI_NEWT;
	assert_int_equal(ui_options_from_env(&o), 0);
	assert_int_equal(o.mode, UI_NEWT);
	ui_options_init(&o);
	setenv("HEADS_UI", "fancy", 1);
	assert_int_equal(ui_options_from_env(&o), -EINVAL);
	setenv("HEADS_UI", "script", 1);
	setenv("HEADS_UI_SECRET_FD", "999", 1);
	ui_options_init(&o);
	assert_int_equal(ui_options_from_env(&o), -EINVAL);
	unsetenv("HEADS_UI");
	unsetenv("HEADS_UI_SCRIPT");
	unsetenv("HEADS_UI_SECRET_FD");
	assert_int_equal(ui_mode_from_string("newt"), UI_NEWT);
	assert_string_equal(ui_mode_to_string(UI_SCRIPT), "script");
}

static void test_auto_without_tty_is_line(void **state)
{
	struct ui_options o;
	struct ui *ui = NULL;
	int in = pipe_with(""), out = out_file();
	(void)state;

	ui_options_init(&o);
	o.in_fd = in;
	o.out_fd = out;
	assert_int_equal(ui_open(&o, &ui), 0);
	assert_int_equal(ui_get_mode(ui), UI_LINE);
	ui_close(ui);
	/* newt refuses to start without a terminal. */
	o.mode = UI_NEWT;
	assert_int_equal(ui_open(&o, &ui), -ENOTTY);
	close(in);
	close(out);
}

/* --- line back-end ----------------------------------------------------- */

static void test_line_menu(void **state)
{
	int in, out = out_file();
	/* number; key (case-sensitive); invalid then valid; empty = default; Esc; EOF */
	struct ui *ui = open_line("2\nF\nzz\n9\no\n\nESC\n", out, &in);
	char *t;
	(void)state;

	ui_set_status(ui, "QEMU", "NO TPM", "");
	assert_int_equal(ui_menu(ui, UI_BG_ERROR, "Main", "text here", main_items, N_MAIN, 0), 1);
	assert_int_equal(ui_menu(ui, UI_BG_NORMAL, "Main", "", main_items, N_MAIN, 0), 3);
	assert_int_equal(ui_menu(ui, UI_BG_NORMAL, "Main", "", main_items, N_MAIN, 0), 2);
	assert_int_equal(ui_menu(ui, UI_BG_NORMAL, "Main", "", main_items, N_MAIN, 4), 4);
	assert_int_equal(ui_menu(ui, UI_BG_NORMAL, "Main", "", main_items, N_MAIN, 4), -ECANCELED);
	assert_int_equal(ui_menu(ui, UI_BG_NORMAL, "Main", "", main_items, N_MAIN, 4), -EPIPE);
	t = slurp(out);
	assert_non_null(strstr(t, "==== !! ERROR !! Main ====\nQEMU | "));
	assert_non_null(strstr(t, " | TOTP: NO TPM\n"));
	assert_non_null(strstr(t, "text here\n  1) d   Default boot\n"));
	assert_non_null(strstr(t, "  4) F   OEM Factory Reset\n"));
	assert_non_null(strstr(t, "'zz' is not a choice."));
	assert_non_null(strstr(t, "'9' is not a choice."));
	assert_non_null(strstr(t, "Enter = f"));
	free(t);
	ui_close(ui);
	close(in);
	close(out);
}

static void test_line_yesno_msgbox_input(void **state)
{
	int in, out = out_file();
	struct ui *ui = open_line("what\nY\n\nn\n\nname\n", out, &in);
	char *s = NULL, *t;
	(void)state;

	assert_int_equal(ui_yesno(ui, UI_BG_WARNING, "Confirm", "Really?"), 1);
	assert_int_equal(ui_msgbox(ui, UI_BG_NORMAL, "Info", "a message"), 0);
	assert_int_equal(ui_yesno(ui, UI_BG_WARNING, "Confirm", "Really?"), 0);
	assert_int_equal(ui_input(ui, "Dev", "Boot device", "/dev/vda1", &s), 0);
	assert_string_equal(s, "/dev/vda1");
	free(s);
	assert_int_equal(ui_input(ui, "Dev", "Name", NULL, &s), 0);
	assert_string_equal(s, "name");
	free(s);
	assert_int_equal(ui_yesno(ui, UI_BG_WARNING, "Confirm", "Really?"), -EPIPE);
	t = slurp(out);
	assert_non_null(strstr(t, "==== ! WARNING ! Confirm ===="));
	assert_non_null(strstr(t, "Boot device [/dev/vda1]: "));
	free(t);
	ui_close(ui);
	close(in);
	close(out);
}

static void test_line_passphrase_pipe(void **state)
{
	int in, out = out_file();
	struct ui *ui = open_line("s3cret pass\nnext answer\n0123456789abc\n", out, &in);
	struct secret *s = NULL;
	char *a = NULL, *t;
	(void)state;

	assert_int_equal(ui_passphrase(ui, "Disk", "DUK passphrase", 64, &s), 0);
	assert_string_equal((char *)s->data, "s3cret pass");
	secret_free(s);
	assert_int_equal(ui_input(ui, "x", "y", NULL, &a), 0);
	assert_string_equal(a, "next answer");
	free(a);
	assert_int_equal(ui_passphrase(ui, "Disk", "short", 8, &s), -EFBIG);
	t = slurp(out);
	assert_null(strstr(t, "s3cret"));
	assert_non_null(strstr(t, "DUK passphrase: "));
	free(t);
	ui_close(ui);
	close(in);
	close(out);
}

static void test_line_countdown(void **state)
{
	int p[2], out = out_file();
	struct ui_options o;
	struct ui *ui = NULL;
	struct timespec a, b;
	(void)state;

	/* No key for 1 s: timed out. */
	assert_int_equal(pipe(p), 0);
	ui_options_init(&o);
	o.mode = UI_LINE;
	o.in_fd = p[0];
	o.out_fd = out;
	assert_int_equal(ui_open(&o, &ui), 0);
	ui_set_status(ui, "Board", "123456", "Success");
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_int_equal(ui_countdown(ui, "Automatic boot in 1 seconds", 1), 0);
	clock_gettime(CLOCK_MONOTONIC, &b);
	assert_true((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 >= 900);
	{
		/* the attestation the auto-boot rests on, before the count */
		char *t = slurp(out), *st = strstr(t, "\nBoard | "), *cd = strstr(t, "\rAutomatic");

		assert_non_null(st);
		assert_non_null(strstr(st, " | TOTP: 123456 | HOTP: Success\n"));
		assert_non_null(cd);
		assert_true(st < cd);
		free(t);
	}
	/* A key interrupts at once, and its line is consumed. */
	assert_int_equal(write_full(p[1], "x\n", 2), 0);
	assert_int_equal(ui_countdown(ui, "Automatic boot in 5 seconds", 5), 1);
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_true(a.tv_sec - b.tv_sec < 2);
	/* A closed input is no key press: the countdown runs out. */
	close(p[1]);
	assert_int_equal(ui_countdown(ui, "Automatic boot in 1 seconds", 1), 0);
	ui_close(ui);
	close(p[0]);
	close(out);
}

static void test_line_progress(void **state)
{
	int in, out = out_file();
	struct ui *ui = open_line("", out, &in);
	char *t;
	(void)state;

	for (unsigned i = 0; i <= 100; i++)
		assert_int_equal(ui_progress(ui, "Reencrypt", "sda2", i), 0);
	ui_progress_end(ui);
	t = slurp(out);
	assert_non_null(strstr(t, "Reencrypt: sda2 0%\n"));
	assert_non_null(strstr(t, "Reencrypt: sda2 50%\n"));
	assert_non_null(strstr(t, "Reencrypt: sda2 100%\n"));
	assert_null(strstr(t, "Reencrypt: sda2 51%\n"));
	free(t);
	ui_close(ui);
	close(in);
	close(out);
}

static void test_fold(void **state)
{
	char *f;
	(void)state;
	f = ui_fold("aaa bbb ccc ddd", 8);
	assert_string_equal(f, "aaa bbb\nccc ddd");
	free(f);
	f = ui_fold("line one\n\nabcdefghijkl", 8);
	assert_string_equal(f, "line one\n\nabcdefgh\nijkl");
	free(f);
	f = ui_fold("", 75);
	assert_string_equal(f, "");
	free(f);
	/* UTF-8: a column per code point (the QR code's half blocks are 3
	 * bytes each), never split inside one. */
	{
		char line[37 * 3 + 1] = "", two[10 * 3 + 1] = "";
		for (int i = 0; i < 37; i++)
			strcat(line, "\u2580");
		f = ui_fold(line, 40);
		assert_string_equal(f, line); /* 37 columns fit in 40 */
		free(f);
		for (int i = 0; i < 10; i++)
			strcat(two, "\u2588");
		f = ui_fold(two, 8);
		assert_string_equal(f, "\u2588\u2588\u2588\u2588\u2588\u2588\u2588\u2588\n"
				       "\u2588\u2588");
		free(f);
		f = ui_fold("ab \u00e9\u00e9\u00e9\u00e9\u00e9\u00e9 cd", 8);
		assert_string_equal(f, "ab\n\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\ncd");
		free(f);
	}
}

/* The kernel console loglevel is lowered and restored through printk's first
 * field (a file standing in for /proc/sys/kernel/printk). */
static void test_kernel_console_quiet(void **state)
{
	char dir[] = "/tmp/heads-ui-printk-XXXXXX", path[64], buf[64] = "";
	int fd, saved = -1;
	ssize_t n;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/printk", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_int_equal(write_full(fd, "7\t4\t1\t7\n", 8), 0);
	close(fd);
	assert_int_equal(ui_kernel_console_quiet(path, 1, &saved), 0);
	assert_int_equal(saved, 7);
	fd = open(path, O_RDONLY);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n > 0);
	assert_int_equal(atoi(buf), 1);
	assert_int_equal(ui_kernel_console_restore(path, saved), 0);
	fd = open(path, O_RDONLY);
	memset(buf, 0, sizeof(buf));
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n > 0);
	assert_int_equal(atoi(buf), 7);
	/* Not a number: refused, nothing written. */
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_int_equal(write_full(fd, "x\n", 2), 0);
	close(fd);
	saved = -1;
	assert_int_equal(ui_kernel_console_quiet(path, 1, &saved), -EINVAL);
	assert_int_equal(saved, -1);
	unlink(path);
	assert_int_equal(ui_kernel_console_quiet(path, 1, &saved), -ENOENT);
	rmdir(dir);
}

/* Only a terminal named in console/active (or /dev/console) is the kernel's. */
static void test_fd_is_kernel_console(void **state)
{
	char dir[] = "/tmp/heads-ui-active-XXXXXX", path[64], name[128], *line;
	int master, slave, fd, p[2];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/active", dir);
	assert_int_equal(openpty(&master, &slave, name, NULL, NULL), 0);
	assert_int_equal(strncmp(name, "/dev/", 5), 0);
	line = xasprintf("tty0 %s\n", name + 5);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_int_equal(write_full(fd, line, strlen(line)), 0);
	close(fd);
	free(line);
	assert_true(ui_fd_is_kernel_console(slave, path));
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_int_equal(write_full(fd, "ttyS0\n", 6), 0);
	close(fd);
	assert_false(ui_fd_is_kernel_console(slave, path));
	assert_int_equal(pipe(p), 0);
	assert_false(ui_fd_is_kernel_console(p[0], path));
	close(p[0]);
	close(p[1]);
	unlink(path);
	assert_false(ui_fd_is_kernel_console(slave, path));
	close(slave);
	close(master);
	rmdir(dir);
}

struct sunk {
	int n;
	enum log_level level;
	char msg[128];
};

static void sink(enum log_level level, const char *msg, void *data)
{
	struct sunk *k = data;
	k->n++;
	k->level = level;
	snprintf(k->msg, sizeof(k->msg), "%s", msg);
	log_error("a sink that logs does not recurse");
}

/* While a console sink is set, console messages go to it (not stderr) and
 * the session log still gets them. */
static void test_log_console_sink(void **state)
{
	char dir[] = "/tmp/heads-ui-log-XXXXXX", path[64], buf[1024] = "";
	struct sunk k = {0};
	int fd, saved_err = dup(STDERR_FILENO), errp[2];
	ssize_t n;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/debug.log", dir);
	assert_int_equal(log_open_session(path), 0);
	assert_int_equal(pipe(errp), 0);
	dup2(errp[1], STDERR_FILENO);
	log_set_console_sink(sink, &k);
	log_warn("drawn in the status area %d", 42);
	log_debug("below the console level");
	log_set_console_sink(NULL, NULL);
	log_info("back on stderr");
	dup2(saved_err, STDERR_FILENO);
	close(saved_err);
	close(errp[1]);
	n = read(errp[0], buf, sizeof(buf) - 1);
	close(errp[0]);
	assert_int_equal(k.n, 1);
	assert_int_equal(k.level, LOG_WARN);
	assert_string_equal(k.msg, "drawn in the status area 42");
	assert_true(n > 0);
	assert_string_equal(buf, "back on stderr\n");
	log_open_session(NULL);
	fd = open(path, O_RDONLY);
	memset(buf, 0, sizeof(buf));
	assert_true(read(fd, buf, sizeof(buf) - 1) > 0);
	close(fd);
	assert_non_null(strstr(buf, "warn: drawn in the status area 42"));
	assert_non_null(strstr(buf, "error: a sink that logs does not recurse"));
	assert_non_null(strstr(buf, "info: back on stderr"));
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_comments_crlf),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_script_menu),
		cmocka_unit_test(test_script_duplicate_keys_refused),
		cmocka_unit_test(test_controls_escaped_on_every_screen),
		cmocka_unit_test(test_script_yesno_input_countdown),
		cmocka_unit_test(test_script_passphrase_from_fd_only),
		cmocka_unit_test(test_script_open_errors),
		cmocka_unit_test(test_options_from_env),
		cmocka_unit_test(test_auto_without_tty_is_line),
		cmocka_unit_test(test_line_menu),
		cmocka_unit_test(test_line_yesno_msgbox_input),
		cmocka_unit_test(test_line_passphrase_pipe),
		cmocka_unit_test(test_line_countdown),
		cmocka_unit_test(test_line_progress),
		cmocka_unit_test(test_fold),
		cmocka_unit_test(test_kernel_console_quiet),
		cmocka_unit_test(test_fd_is_kernel_console),
		cmocka_unit_test(test_log_console_sink),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
