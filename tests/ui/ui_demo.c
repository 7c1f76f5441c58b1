/* ui-demo: drives the newt back-end for the tmux screen test (test_newt.py).
 * Shows: an error-coloured menu, a warning yes/no (after two log lines), an
 * input line, a passphrase, a progress gauge and a message box; writes what
 * the user chose to the file argv[1], one line per widget.
 * `ui-demo OUT qr`: a new random TOTP secret's otpauth URI (written to OUT
 * as "qr URI") shown as the menu shows it: QR code and base32 in a textbox. */
#include "codec.h"
#include "log.h"
#include "otp.h"
#include "qr.h"
#include "ui/ui.h"
#include "util.h"

#include <stdio.h>
#include <unistd.h>

static int show_qr(struct ui *ui, FILE *out)
{
	struct secret *key = secret_new(OTP_SECRET_LEN), *uri = NULL, *b32 = NULL, *art = NULL;
	struct qr_matrix q = {0};
	char *text;
	int r;

	if (!key || secret_random(key, OTP_SECRET_LEN) < 0 ||
	    otp_totp_uri("Demo Board", key, &uri) < 0 || otp_base32(key, &b32) < 0 ||
	    qr_encode((const char *)uri->data, uri->len, &q) < 0 ||
	    qr_render_utf8(&q, 2, &art) < 0)
		return 1;
	fprintf(out, "qr %s\n", (const char *)uri->data);
	fflush(out);
	text = xasprintf("Scan this QR code with your TOTP app (or type the secret):\n\n%s\n"
			 "Secret (base32): %s\n", (const char *)art->data,
			 (const char *)b32->data);
	r = ui_textbox(ui, UI_BG_NORMAL, "New TOTP secret", text);
	fprintf(out, "textbox %d\n", r);
	free(text);
	qr_matrix_free(&q);
	secret_free(art);
	secret_free(b32);
	secret_free(uri);
	secret_free(key);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct ui_item items[] = {
		{"d", "Default boot"},
		{"r", "Refresh TOTP/HOTP"},
		{"o", "Options -->"},
		{"p", "Power Off"},
	};
	struct ui_options o;
	struct ui *ui = NULL;
	struct secret *s = NULL;
	char *in = NULL;
	FILE *out;
	int r;

	if (argc != 2 && !(argc == 3 && streq(argv[2], "qr")))
		return 2;
	out = fopen(argv[1], "w");
	if (!out)
		return 1;
	ui_options_init(&o);
	o.mode = UI_NEWT;
	if (ui_open(&o, &ui) < 0)
		return 1;
	ui_set_status(ui, "Demo Board", "123456", "Success");
	if (argc == 3) {
		r = show_qr(ui, out);
		ui_close(ui);
		fclose(out);
		return r;
	}
	r = ui_menu(ui, UI_BG_ERROR, "Demo | Heads Boot Menu", "Pick an option below.",
		    items, ARRAY_SIZE(items), 0);
	fprintf(out, "menu %d\n", r);
	fflush(out);
	/* Log lines while a screen is up: the status area, not over a window. */
	log_info("demo: an info line while a screen is up");
	log_warn("demo: a warning while a screen is up");
	r = ui_yesno(ui, UI_BG_WARNING, "Question", "Proceed with the demo?");
	fprintf(out, "yesno %d\n", r);
	fflush(out);
	r = ui_input(ui, "Input", "Type a word", "initial", &in);
	fprintf(out, "input %d %s\n", r, r == 0 ? in : "");
	fflush(out);
	r = ui_passphrase(ui, "Secret", "Passphrase", 64, &s);
	/* The bytes typed, in hex: this demo is a test program, never shipped. */
	{
		char hex[2 * 64 + 1] = "";
		if (r == 0)
			hex_encode(s->data, s->len, hex);
		fprintf(out, "passphrase %d %zu %s\n", r, r == 0 ? s->len : 0, hex);
	}
	fflush(out);
	for (unsigned p = 0; p <= 100; p += 50)
		ui_progress(ui, "Gauge", "Working", p);
	/* A text longer than the gauge window: its end stays visible. */
	ui_progress(ui, "Gauge", "/dev/mapper/a-very-long-volume-group-name-lv-root (1 of 2): "
		    "100/200 MiB, 12.3 MiB/s, ETA 0:08", 50);
	usleep(1500 * 1000);
	ui_progress_end(ui);
	r = ui_msgbox(ui, UI_BG_NORMAL, "Done", "All widgets shown.");
	fprintf(out, "msgbox %d\n", r);
	ui_close(ui);
	secret_free(s);
	free(in);
	fclose(out);
	return 0;
}
