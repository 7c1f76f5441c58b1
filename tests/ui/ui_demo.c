/* ui-demo: drives the newt back-end for the tmux screen test (test_newt.py).
 * Shows: an error-coloured menu, a warning yes/no, an input line, a
 * passphrase, a progress gauge and a message box; writes what the user chose
 * to the file argv[1], one line per widget. */
#include "ui/ui.h"
#include "util.h"

#include <stdio.h>
#include <unistd.h>

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

	if (argc != 2)
		return 2;
	out = fopen(argv[1], "w");
	if (!out)
		return 1;
	ui_options_init(&o);
	o.mode = UI_NEWT;
	if (ui_open(&o, &ui) < 0)
		return 1;
	ui_set_status(ui, "Demo Board", "123456", "Success");
	r = ui_menu(ui, UI_BG_ERROR, "Demo | Heads Boot Menu", "Pick an option below.",
		    items, ARRAY_SIZE(items), 0);
	fprintf(out, "menu %d\n", r);
	fflush(out);
	r = ui_yesno(ui, UI_BG_WARNING, "Question", "Proceed with the demo?");
	fprintf(out, "yesno %d\n", r);
	fflush(out);
	r = ui_input(ui, "Input", "Type a word", "initial", &in);
	fprintf(out, "input %d %s\n", r, r == 0 ? in : "");
	fflush(out);
	r = ui_passphrase(ui, "Secret", "Passphrase", 64, &s);
	fprintf(out, "passphrase %d %zu\n", r, r == 0 ? s->len : 0);
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
