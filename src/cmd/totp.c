/* heads totp seal|show|wipe - TOTP attestation computed inside the TPM
 * (issue 4; heads-behaviour.md §6). */
#include "cmd/cmd.h"
#include "flow/enrol.h"
#include "board.h"
#include "config.h"
#include "log.h"
#include "otp.h"
#include "qr.h"
#include "secret.h"
#include "tpm_otp.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_EVENTLOG "/sys/kernel/security/tpm0/binary_bios_measurements"

static const char usage[] =
	"Usage: heads totp seal [--owner-fd FD] [OPTIONS]\n"
	"       heads totp show [--live] [OPTIONS]\n"
	"       heads totp wipe [--owner-fd FD] [OPTIONS]\n"
	"\n"
	"seal: generate a 20-byte secret, store it in the TPM as an HMAC-SHA1 key\n"
	"  (persistent handle 0x81004d47) usable only while the attestation PCRs\n"
	"  have their sealed values (PCR 4: the firmware-only value predicted from\n"
	"  the firmware event log), show it once as an otpauth://totp QR code and\n"
	"  as base32 text (`Secret (base32): ...`), then wipe it from memory.\n"
	"show: print `YYYY-MM-DD HH:MM:SS UTC TOTP: NNNNNN`, the code the TPM\n"
	"  computes for that time. --live redraws every second until a key (Enter)\n"
	"  is pressed.\n"
	"wipe: remove the TPM object (and its record of the sealed PCR values).\n"
	"\n"
	"Options:\n"
	"  --tcti STR        TPM to use (default $HEADS_TCTI, else device:/dev/tpmrm0)\n"
	"  --owner-fd FD     read the TPM owner passphrase from FD (default: prompt\n"
	"                    on the terminal; empty if stdin is not a terminal)\n"
	"  --pcrs LIST       attestation PCRs, e.g. 0,1,2,3,4,7 (seal default: board\n"
	"                    config CONFIG_TOTP_PCRS, else 0,1,2,3,4,7; show default:\n"
	"                    the list the object was sealed with, from its TPM record)\n"
	"  --label NAME      otpauth label (default: CONFIG_BOARD_NAME, else TPMTOTP)\n"
	"  --eventlog FILE   firmware event log for the PCR 4 prediction (default\n"
	"                    " DEFAULT_EVENTLOG ";\n"
	"                    missing: PCR 4 is predicted as all zeros)\n"
	"  --config FILE     board/user config to read (repeatable; default\n"
	"                    /etc/config then /etc/config.user, missing ones skipped);\n"
	"                    CONFIG_TPM_PRIMARY_NAME there pins the primary key\n"
	"\n"
	"Exit status: 0 ok; 1 the code cannot be computed or sealing failed (the\n"
	"reason is printed: which PCR moved, lockout, not sealed, no TPM); 2 usage.\n";

struct opts {
	const char *tcti, *pcrs, *label, *eventlog;
	char **configs;
	size_t n_configs;
	int owner_fd;
	bool live;
	/* resolved */
	uint32_t mask;
	char *label_buf;
	char *primary_name; /* CONFIG_TPM_PRIMARY_NAME: the pinned primary */
};

static void opts_free(struct opts *o)
{
	free(o->configs);
	free(o->label_buf);
	free(o->primary_name);
}

/* Board config: label and PCR list unless given on the command line. */
static int resolve(struct opts *o, const char *cmd)
{
	_cleanup_free_ char *err = NULL;
	struct config c;
	int r;

	config_init(&c);
	r = board_config_load(&c, o->configs, o->n_configs, &err);
	if (r == 0 && o->pcrs) {
		if (tpm_parse_pcr_list(o->pcrs, &o->mask) < 0 || o->mask == 0) {
			err = xasprintf("bad PCR list '%s'", o->pcrs);
			r = -EINVAL;
		}
	} else if (r == 0) {
		r = board_totp_pcrs(&c, &o->mask, &err);
	}
	if (r < 0) {
		fprintf(stderr, "heads %s: %s\n", cmd, err);
		config_free(&c);
		return HEADS_EXIT_USAGE;
	}
	{
		const char *pn = config_get(&c, CMD_CONFIG_PRIMARY_NAME);
		if (pn && *pn)
			o->primary_name = xstrdup(pn);
	}
	if (!o->label) {
		const char *b = config_get(&c, "CONFIG_BOARD_NAME");
		if (b && *b) {
			o->label_buf = xstrdup(b);
			o->label = o->label_buf;
		}
	}
	config_free(&c);
	return 0;
}

static int parse(int argc, char **argv, struct opts *o, bool want_owner, bool want_live)
{
	static const struct option lopts[] = {
		{"tcti", required_argument, NULL, 't'},
		{"owner-fd", required_argument, NULL, 'o'},
		{"pcrs", required_argument, NULL, 'p'},
		{"label", required_argument, NULL, 'l'},
		{"eventlog", required_argument, NULL, 'e'},
		{"config", required_argument, NULL, 'c'},
		{"live", no_argument, NULL, 'L'},
		{},
	};
	int c;
	o->owner_fd = -1;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (c) {
		case 't':
			o->tcti = optarg;
			break;
		case 'o':
			if (!want_owner)
				return cmd_usage_error("totp", "%s takes no --owner-fd", argv[0]);
			if (cmd_parse_fd(optarg, &o->owner_fd) < 0)
				return cmd_usage_error("totp", "bad --owner-fd '%s'", optarg);
			break;
		case 'p':
			o->pcrs = optarg;
			break;
		case 'l':
			o->label = optarg;
			break;
		case 'e':
			o->eventlog = optarg;
			break;
		case 'c':
			o->configs = xrealloc(o->configs, (o->n_configs + 1) * sizeof(char *));
			o->configs[o->n_configs++] = optarg;
			break;
		case 'L':
			if (!want_live)
				return cmd_usage_error("totp", "%s takes no --live", argv[0]);
			o->live = true;
			break;
		default:
			return cmd_usage_error("totp", "bad option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc)
		return cmd_usage_error("totp", "unexpected argument '%s'", argv[optind]);
	return resolve(o, "totp");
}

static int read_owner(const struct opts *o, struct secret **ret)
{
	int r;
	if (o->owner_fd < 0) {
		/* Interactive: prompt as the reference does; scripted (no
		 * terminal): empty owner auth. */
		*ret = NULL;
		if (!isatty(STDIN_FILENO))
			return 0;
		r = cmd_passphrase(-1, "TPM", "TPM Owner Passphrase", 1024, ret);
		if (r == -ENOTTY)
			return 0;
		if (r < 0)
			fprintf(stderr, "heads totp: cannot read the owner passphrase: %s\n",
				strerror(-r));
		return r;
	}
	r = secret_read_line_fd(o->owner_fd, 1024, ret);
	if (r < 0)
		fprintf(stderr, "heads totp: cannot read the owner passphrase from fd %d: %s\n",
			o->owner_fd, strerror(-r));
	return r;
}

/* Without --pcrs, the PCR list the object was sealed with wins over the
 * board config (the TPM enforces the policy either way). */
static void use_sealed_mask(struct tpm *t, struct opts *o)
{
	if (!o->pcrs)
		o->mask = tpm_otp_code_mask(t, o->mask);
}

static int fail(struct tpm *t, int r, uint32_t mask, const char *what)
{
	_cleanup_free_ char *why = tpm_otp_reason(t, r, mask);
	fprintf(stderr, "heads totp: %s: %s\n", what, why);
	return HEADS_EXIT_FAIL;
}

static int do_seal(int argc, char **argv)
{
	struct opts o = {0};
	_cleanup_tpm_ struct tpm *t = NULL;
	_cleanup_secret_ struct secret *owner = NULL;
	struct session ss = {0}; /* no UI: the QR code on stdout */
	int r, ret = HEADS_EXIT_FAIL;

	if ((r = parse(argc, argv, &o, true, false))) {
		opts_free(&o);
		return r;
	}
	if (read_owner(&o, &owner) < 0)
		goto out_opts;
	r = cmd_tpm_open(o.tcti, o.primary_name, &t);
	if (r < 0) {
		ret = fail(NULL, r, o.mask, "cannot seal");
		goto out_opts;
	}
	{
		struct enrol_options eo = {
			.mask = o.mask, .eventlog = o.eventlog ? o.eventlog : DEFAULT_EVENTLOG,
			.label = o.label, .owner = owner,
		};
		if (flow_totp_enrol(&ss, t, &eo) == 0)
			ret = HEADS_EXIT_OK;
	}
out_opts:
	opts_free(&o);
	return ret;
}

static void format_time(time_t now, char out[32])
{
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(out, 32, "%Y-%m-%d %H:%M:%S", &tm);
}

/* Wait up to ms for a key on stdin; true if one was pressed (or EOF). */
static bool key_pressed(int ms)
{
	struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
	char c;
	if (poll(&p, 1, ms) <= 0)
		return false;
	if (p.revents & (POLLIN | POLLHUP))
		return read(STDIN_FILENO, &c, 1) >= 0;
	return false;
}

static int do_show(int argc, char **argv)
{
	struct opts o = {0};
	_cleanup_tpm_ struct tpm *t = NULL;
	char when[32], code[OTP_CODE_MAX + 1];
	uint32_t c;
	int r, ret = HEADS_EXIT_FAIL;

	if ((r = parse(argc, argv, &o, false, true))) {
		opts_free(&o);
		return r;
	}
	r = cmd_tpm_open(o.tcti, o.primary_name, &t);
	if (r < 0) {
		ret = fail(NULL, r, o.mask, "no TOTP code");
		goto out;
	}
	use_sealed_mask(t, &o);
	if (!o.live) {
		time_t now = time(NULL);
		r = tpm_otp_totp(t, TPM_HANDLE_TOTP, o.mask, now, &c);
		if (r < 0) {
			ret = fail(t, r, o.mask, "no TOTP code");
			goto out;
		}
		format_time(now, when);
		otp_format_code(c, OTP_DIGITS, code);
		printf("%s UTC TOTP: %s\n", when, code);
		ret = HEADS_EXIT_OK;
		goto out;
	}

	/* Live: the code changes every 30 s; the clock line every second. */
	{
		struct termios saved, raw;
		bool tty = tcgetattr(STDIN_FILENO, &saved) == 0;
		uint64_t shown = UINT64_MAX;
		if (tty) {
			raw = saved;
			raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
			tcsetattr(STDIN_FILENO, TCSANOW, &raw);
		}
		for (;;) {
			time_t now = time(NULL);
			uint64_t window;
			otp_totp_counter(now, OTP_TOTP_PERIOD, &window);
			if (window != shown) {
				r = tpm_otp_totp(t, TPM_HANDLE_TOTP, o.mask, now, &c);
				if (r < 0)
					break;
				otp_format_code(c, OTP_DIGITS, code);
				shown = window;
			}
			format_time(now, when);
			printf("\r[%s UTC] | TOTP code: %s | Press Enter to continue...", when,
			       code);
			fflush(stdout);
			if (key_pressed(1000))
				break;
		}
		if (tty)
			tcsetattr(STDIN_FILENO, TCSANOW, &saved);
		printf("\n");
		if (r < 0) {
			ret = fail(t, r, o.mask, "no TOTP code");
			goto out;
		}
		ret = HEADS_EXIT_OK;
	}
out:
	opts_free(&o);
	return ret;
}

static int do_wipe(int argc, char **argv)
{
	struct opts o = {0};
	_cleanup_tpm_ struct tpm *t = NULL;
	_cleanup_secret_ struct secret *owner = NULL;
	int r, ret = HEADS_EXIT_FAIL;

	if ((r = parse(argc, argv, &o, true, false))) {
		opts_free(&o);
		return r;
	}
	if (read_owner(&o, &owner) < 0)
		goto out;
	r = cmd_tpm_open(o.tcti, o.primary_name, &t);
	if (r == 0)
		r = tpm_otp_wipe(t, TPM_HANDLE_TOTP, owner);
	if (r < 0) {
		ret = fail(t, r, o.mask, "wipe failed");
		goto out;
	}
	fprintf(stderr, "heads totp: the TOTP/HOTP object was removed from the TPM\n");
	ret = HEADS_EXIT_OK;
out:
	opts_free(&o);
	return ret;
}

static const struct heads_subcommand subs[] = {
	{"seal", "generate and seal a TOTP secret, show the enrolment QR code", do_seal},
	{"show", "print the current TOTP code computed by the TPM", do_show},
	{"wipe", "remove the TOTP object from the TPM", do_wipe},
	{},
};

static int run(int argc, char **argv);
const struct heads_command cmd_totp = {
	.name = "totp",
	.summary = "TOTP attestation computed inside the TPM (seal, show, wipe)",
	.usage = usage,
	.run = run,
};

static int run(int argc, char **argv)
{
	return cmd_run_sub(&cmd_totp, subs, argc, argv);
}
