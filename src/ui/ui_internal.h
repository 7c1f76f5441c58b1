/* ui_internal.h - what the back-ends share (not a public contract). */
#ifndef HEADS_UI_INTERNAL_H
#define HEADS_UI_INTERNAL_H

#include "ui/ui.h"
#include "ui/ui_script_parse.h"

struct ui;

struct ui_ops {
	int (*menu)(struct ui *ui, enum ui_bg bg, const char *title, const char *text,
		    const struct ui_item *items, size_t n, size_t def);
	int (*yesno)(struct ui *ui, enum ui_bg bg, const char *title, const char *text);
	int (*msgbox)(struct ui *ui, enum ui_bg bg, const char *title, const char *text,
		      bool scroll);
	int (*input)(struct ui *ui, const char *title, const char *prompt,
		     const char *initial, char **ret);
	int (*passphrase)(struct ui *ui, const char *title, const char *prompt, size_t max,
			  struct secret **ret);
	int (*progress)(struct ui *ui, const char *title, const char *text, unsigned pct);
	void (*progress_end)(struct ui *ui);
	int (*countdown)(struct ui *ui, const char *text, unsigned seconds);
	void (*close)(struct ui *ui);
};

struct ui {
	enum ui_mode mode;
	const struct ui_ops *ops;
	int in_fd, out_fd, secret_fd;
	char *board, *totp, *hotp;
	struct ui_script script; /* UI_SCRIPT */
	int last_pct;            /* line-mode gauge: last printed percent, -1 none */
	void *newt;              /* newt back-end state */
};

extern const struct ui_ops ui_line_ops;
extern const struct ui_ops ui_script_ops;
extern const struct ui_ops ui_newt_ops;

int ui_newt_open(struct ui *ui);

/* The kernel's console loglevel while a newt screen is up (ui_newt.c; the
 * paths are parameters for the tests). quiet: read the first field of
 * printk_path (/proc/sys/kernel/printk) into *ret_saved, write level there;
 * restore: write saved back. Return 0 or -errno. */
int ui_kernel_console_quiet(const char *printk_path, int level, int *ret_saved);
int ui_kernel_console_restore(const char *printk_path, int saved);
/* Whether fd is a terminal the kernel prints its messages on: /dev/console,
 * or a tty named in active_path (/sys/class/tty/console/active; "tty0"
 * stands for the virtual consoles tty1..). */
bool ui_fd_is_kernel_console(int fd, const char *active_path);

/* Shared helpers. */
int ui_write(int fd, const char *s);
int ui_printf(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Read one line (without '\n', '\r' dropped) byte by byte; -EPIPE at EOF
 * before any byte, -EFBIG over max. */
int ui_read_line(int fd, size_t max, char **ret);
/* Same, into a locked secret. */
int ui_read_secret_line(int fd, size_t max, struct secret **ret);
const char *ui_bg_name(enum ui_bg bg);
/* Index of the item whose key equals s, or -1. */
long ui_item_by_key(const struct ui_item *items, size_t n, const char *s);

#define UI_LINE_MAX 4096

#endif
