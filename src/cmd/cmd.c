#include "cmd/cmd.h"
#include "board.h"
#include "boot/integrity.h"
#include "boot/view.h"
#include "bootcfg/bootcfg.h"
#include "util.h"
#include "tpm/tpm.h"
#include "secret.h"
#include "ui/ui.h"
#include "log.h"
#include "luks/select.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int cmd_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "heads %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'heads %s --help'.\n", cmd);
	return HEADS_EXIT_USAGE;
}

int cmd_run_sub(const struct heads_command *parent, const struct heads_subcommand *subs,
		int argc, char **argv)
{
	if (argc < 2 || streq(argv[1], "--help") || streq(argv[1], "-h")) {
		fputs(parent->usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? HEADS_EXIT_USAGE : HEADS_EXIT_OK;
	}
	for (const struct heads_subcommand *s = subs; s->name; s++)
		if (streq(s->name, argv[1]))
			return s->run(argc - 1, argv + 1);
	return cmd_usage_error(parent->name, "unknown subcommand '%s'", argv[1]);
}

int cmd_boot_view(const char *cmd, const char *boot, const char *keyring,
		  struct integrity_report *rep, struct boot_view **ret)
{
	struct integrity_options io = {.bootdir = boot, .keyring = keyring,
				       .rollback_disabled = true};
	int r;

	memset(rep, 0, sizeof(*rep));
	if (!keyring)
		return boot_view_open(boot, NULL, ret);
	r = integrity_check(&io, rep);
	if (r < 0)
		return r;
	if (!rep->signed_set) {
		fprintf(stderr, "heads %s: %s: signature %s against %s%s%s: nothing in it is "
			"trusted\n", cmd, boot, sig_state_name(rep->sig.state), keyring,
			rep->sig.detail[0] ? ": " : "", rep->sig.detail[0] ? rep->sig.detail :
			rep->manifest_detail);
		integrity_report_free(rep);
		return -EBADMSG;
	}
	r = boot_view_open(boot, rep->signed_set, ret);
	if (r < 0)
		integrity_report_free(rep);
	return r;
}

bool cmd_boot_source_opt(struct cmd_boot_source *src, int c, const char *arg)
{
	switch (c) {
	case 'b': src->boot = arg; return true;
	case 'c': src->config = arg; return true;
	case 'k': src->keyring = arg; return true;
	default: return false;
	}
}

static const char *bootcfg_why(int r)
{
	switch (r) {
	case -EFBIG: return "configuration file too large, refused";
	case -E2BIG: return "configuration too large or runs too long, refused";
	case -ELOOP: return "include/source loop or nesting too deep, refused";
	case -EINVAL: return "syntax error, refused";
	default: return strerror(-r);
	}
}

int cmd_boot_entries(const char *cmd, struct boot_view *view, const struct cmd_boot_source *src,
		     int fmt, struct boot_entries *ret)
{
	int r = src->config ? bootcfg_parse(view, src->config, (enum bootcfg_format)fmt, ret) :
			      bootcfg_scan(view, ret);
	if (r < 0)
		fprintf(stderr, "heads %s: %s: %s\n", cmd, src->config ? src->config : src->boot,
			bootcfg_why(r));
	return r;
}

const char *cmd_tcti(const char *opt)
{
	return board_tcti(opt);
}

int cmd_parse_fd(const char *s, int *ret_fd)
{
	unsigned long long v;
	if (parse_uint(s, 65535, &v) < 0)
		return -EINVAL;
	if (fcntl((int)v, F_GETFD) < 0)
		return -EBADF;
	*ret_fd = (int)v;
	return 0;
}

bool cmd_has_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (streq(argv[i], "--"))
			return false;
		if (streq(argv[i], "--help") || streq(argv[i], "-h"))
			return true;
	}
	return false;
}

int cmd_tpm_open(const char *tcti, const char *primary_name, struct tpm **ret)
{
	struct tpm *t;
	int r = tpm_open(cmd_tcti(tcti), &t);
	if (r < 0)
		return r;
	r = tpm_pin_primary(t, primary_name);
	if (r < 0) {
		tpm_close(t);
		return r;
	}
	*ret = t;
	return 0;
}

int cmd_passphrase(int fd, const char *title, const char *prompt, size_t max,
		   struct secret **ret)
{
	_cleanup_close_ int tty = -1;
	_cleanup_ui_ struct ui *ui = NULL;
	struct ui_options uo;
	int r;

	if (fd >= 0)
		return secret_read_line_fd(fd, max, ret);
	tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (tty < 0)
		return -ENOTTY;
	ui_options_init(&uo);
	if ((r = ui_options_from_env(&uo)) < 0)
		return r;
	if (uo.mode == UI_AUTO)
		uo.mode = UI_LINE; /* a command's prompt: no full-screen UI unless asked */
	uo.in_fd = uo.out_fd = tty;
	if ((r = ui_open(&uo, &ui)) < 0)
		return r;
	return ui_passphrase(ui, title, prompt, max, ret);
}

int cmd_select_containers(const char *cmd, const struct luks_select *s, const char *none,
			  struct luks_device **ret, size_t *ret_n)
{
	_cleanup_free_ char *err = NULL;
	int r;

	if (s->n_paths > LUKS_MAX_DEVICES)
		return cmd_usage_error(cmd, "at most %d devices", LUKS_MAX_DEVICES);
	r = luks_select_containers(s, ret, ret_n, &err);
	if (r < 0) {
		log_error("%s", err);
		return luks_select_bad_input(r) ? HEADS_EXIT_USAGE : HEADS_EXIT_FAIL;
	}
	if (*ret_n == 0) {
		free(*ret);
		log_error("%s", none);
		return HEADS_EXIT_FAIL;
	}
	return 0;
}
