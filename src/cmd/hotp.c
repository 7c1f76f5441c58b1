/* heads hotp - the HOTP code for the /boot counter, computed inside the TPM
 * (issue 4), and its verification by a USB security dongle (issue 17;
 * heads-behaviour.md §6.3): code, verify, enroll, check, info. The dongle
 * protocols are src/lib/dongle; this file is the command surface only. */
#include "cmd/cmd.h"
#include "dongle/dongle.h"
#include "dongle/hotp_boot.h"
#include "fs.h"
#include "log.h"
#include "otp.h"
#include "secret.h"
#include "tpm_otp.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Exit status of verify/enroll/check/info beyond 0/1/2 (documented in usage). */
enum {
	HOTP_EXIT_NOT_CONFIGURED = 3,
	HOTP_EXIT_NO_DONGLE = 4,
	HOTP_EXIT_NOT_SUPPORTED = 5,
	HOTP_EXIT_DONGLE_ERROR = 6,
	HOTP_EXIT_NO_CODE = 7,
	HOTP_EXIT_WRONG_PIN = 8,
	HOTP_EXIT_BLOCKED = 9,
};

/* Test builds only: tests/devices/model_transport.c defines this (linked
 * into heads-dongle-test, never into heads): a device model in-process
 * behind the same struct dongle. In the shipped binary it is NULL and
 * --test-model is refused. Hidden visibility: the static linker resolves
 * it (to NULL in heads), so no dynamic symbol exists for a preloaded
 * library to supply. */
extern enum dongle_result dongle_test_model_open(const char *spec, struct dongle **ret)
	__attribute__((weak, visibility("hidden")));

static const char usage[] =
	"Usage: heads hotp code   [--boot DIR] [TPM OPTIONS]\n"
	"       heads hotp verify [--boot DIR] [TPM OPTIONS]\n"
	"       heads hotp enroll --secret-fd FD [--pin-fd FD] [--counter N] [--boot DIR]\n"
	"       heads hotp check CODE\n"
	"       heads hotp info\n"
	"\n"
	"code: read the counter N from DIR/" OTP_COUNTER_FILE " (default DIR\n"
	"  /boot; format: decimal and a newline), compute HOTP(N) (RFC 4226, 6\n"
	"  digits) inside the TPM with the TOTP/HOTP object (0x81004d47, see\n"
	"  `heads totp seal`), write N+1 to the counter file atomically, then print\n"
	"  the code. The counter is advanced before the code is shown, so a code is\n"
	"  never shown twice for the same counter.\n"
	"verify: the same code, checked by the USB security dongle (Nitrokey Pro/\n"
	"  Pro 2/Storage, Librem Key: HID; Nitrokey 3: Secrets app over CCID). The\n"
	"  dongle is looked for first: without a usable one nothing is computed and\n"
	"  the counter is not advanced. Prints one line: Success, Invalid code,\n"
	"  HOTP slot not configured, No dongle, HOTP not supported by this dongle,\n"
	"  Error checking code.\n"
	"enroll: write the HOTP secret (raw bytes read from FD, at least 20: the\n"
	"  TOTP secret or sha256 of the ROM, truncated to 20) into the dongle's HOTP\n"
	"  slot with the Admin PIN (Nitrokey 3: the Secrets app PIN; if it has none\n"
	"  yet, this PIN becomes it), walk the dongle's counter to N (default 1) by\n"
	"  checking the codes for 9, 19, ... and N, then write N+1 to\n"
	"  DIR/" OTP_COUNTER_FILE " (sign /boot afterwards). The PIN comes from FD\n"
	"  (one attempt) or the terminal (no echo; the retries left are shown\n"
	"  before each prompt; at most min(retries-1, 3) prompts, one when a\n"
	"  single retry is left).\n"
	"check: ask the dongle to check CODE (6 digits).\n"
	"info: the dongle's brand, firmware version, serial and PIN retry counters.\n"
	"\n"
	"Options:\n"
	"  --boot DIR   directory holding " OTP_COUNTER_FILE " (default /boot)\n"
	"  --tcti STR   TPM to use (default $HEADS_TCTI, else device:/dev/tpmrm0)\n"
	"  --pcrs LIST  attestation PCRs of the object (default: the list it was\n"
	"               sealed with, from its TPM record, else 0,1,2,3,4,7)\n"
	"  --primary-name HEX  the TPM primary key's Name recorded at ownership\n"
	"               (CONFIG_TPM_PRIMARY_NAME): another key is refused\n"
	"  --secret-fd FD, --pin-fd FD, --counter N  (enroll, above)\n"
	"  --test-model SPEC  only in the test build heads-dongle-test: a device\n"
	"               model instead of USB (refused by heads)\n"
	"\n"
	"Exit status: 0 ok (code accepted, enrolled); 1 the dongle refused the code\n"
	"(Invalid code), or for `code` no code; 2 usage; 3 HOTP slot not\n"
	"configured; 4 no dongle; 5 HOTP not supported by this dongle; 6 error\n"
	"talking to the dongle; 7 no HOTP code (counter file missing/malformed/\n"
	"not writable, or the TPM refused: the reason is printed); 8 wrong PIN\n"
	"(retries left printed); 9 PIN blocked.\n";

struct opts {
	const char *boot, *tcti, *pcrs, *primary_name, *model;
	int secret_fd, pin_fd;
	uint64_t counter;
	bool counter_set;
};

/* Options in allowed; at most nargs words after them. */
static int parse_opts(int argc, char **argv, struct opts *o, const char *allowed, int nargs)
{
	static const struct option lopts[] = {
		{"boot", required_argument, NULL, 'b'},
		{"tcti", required_argument, NULL, 't'},
		{"pcrs", required_argument, NULL, 'p'},
		{"primary-name", required_argument, NULL, 'n'},
		{"secret-fd", required_argument, NULL, 's'},
		{"pin-fd", required_argument, NULL, 'P'},
		{"counter", required_argument, NULL, 'c'},
		{"test-model", required_argument, NULL, 'm'},
		{},
	};
	unsigned long long v;
	int opt;

	*o = (struct opts){.boot = "/boot", .secret_fd = -1, .pin_fd = -1, .counter = 1};
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		if (opt == '?' || !strchr(allowed, opt))
			return cmd_usage_error("hotp", "bad option '%s'", argv[optind - 1]);
		switch (opt) {
		case 'b':
			o->boot = optarg;
			break;
		case 't':
			o->tcti = optarg;
			break;
		case 'p':
			o->pcrs = optarg;
			break;
		case 'n':
			o->primary_name = optarg;
			break;
		case 's':
			if (cmd_parse_fd(optarg, &o->secret_fd) < 0)
				return cmd_usage_error("hotp", "bad --secret-fd '%s'", optarg);
			break;
		case 'P':
			if (cmd_parse_fd(optarg, &o->pin_fd) < 0)
				return cmd_usage_error("hotp", "bad --pin-fd '%s'", optarg);
			break;
		case 'c':
			if (parse_uint(optarg, OTP_COUNTER_MAX - 1, &v) < 0 || v < 1)
				return cmd_usage_error("hotp", "bad --counter '%s'", optarg);
			o->counter = v;
			o->counter_set = true;
			break;
		case 'm':
			if (!dongle_test_model_open)
				return cmd_usage_error("hotp", "--test-model exists only in the test "
							       "build (heads-dongle-test)");
			o->model = optarg;
			break;
		}
	}
	if (argc - optind > nargs)
		return cmd_usage_error("hotp", "unexpected argument '%s'", argv[optind + nargs]);
	return 0;
}

/* The first dongle (or the test model); prints the outcome when there is
 * none to use. */
static enum dongle_result open_dongle(const struct opts *o, struct dongle **ret)
{
	const struct dongle_id *id = NULL;
	enum dongle_result r;

	if (o->model)
		r = dongle_test_model_open(o->model, ret);
	else
		r = dongle_open(NULL, ret, &id);
	if (r == DONGLE_NOT_SUPPORTED)
		fprintf(stderr, "heads hotp: %s: HOTP not supported by this dongle\n",
			id ? id->brand : "dongle");
	else if (r == DONGLE_NO_DONGLE)
		fprintf(stderr, "heads hotp: no USB security dongle found\n");
	else if (r != DONGLE_OK)
		fprintf(stderr, "heads hotp: cannot use the dongle: %s\n", dongle_result_str(r));
	return r;
}

static int exit_for(enum dongle_result r)
{
	switch (r) {
	case DONGLE_OK:
		return HEADS_EXIT_OK;
	case DONGLE_INVALID_CODE:
		return HEADS_EXIT_FAIL;
	case DONGLE_NOT_CONFIGURED:
		return HOTP_EXIT_NOT_CONFIGURED;
	case DONGLE_NO_DONGLE:
		return HOTP_EXIT_NO_DONGLE;
	case DONGLE_NOT_SUPPORTED:
		return HOTP_EXIT_NOT_SUPPORTED;
	case DONGLE_WRONG_PIN:
		return HOTP_EXIT_WRONG_PIN;
	case DONGLE_BLOCKED:
		return HOTP_EXIT_BLOCKED;
	default:
		return HOTP_EXIT_DONGLE_ERROR;
	}
}

/* Read N from the counter file, compute HOTP(N) in the TPM, write N+1.
 * 0 or HEADS_EXIT_USAGE / HOTP_EXIT_NO_CODE (reason printed). */
static int boot_code(const struct opts *o, uint32_t *ret_code)
{
	_cleanup_free_ char *path = NULL, *why = NULL;
	_cleanup_tpm_ struct tpm *t = NULL;
	uint32_t mask, c;
	uint64_t n;
	int r;

	if (tpm_parse_pcr_list(o->pcrs ? o->pcrs : "0,1,2,3,4,7", &mask) < 0 || mask == 0)
		return cmd_usage_error("hotp", "bad PCR list '%s'", o->pcrs);
	r = fs_path_join(o->boot, OTP_COUNTER_FILE, &path);
	if (r < 0)
		return cmd_usage_error("hotp", "bad --boot '%s'", o->boot);

	r = otp_counter_read(path, &n);
	if (r < 0) {
		fprintf(stderr, "heads hotp: %s: %s\n", path,
			r == -ENOENT	? "no HOTP counter (not enrolled with a dongle?)"
			: r == -ENODATA ? "the HOTP counter file is empty"
			: r == -EINVAL	? "malformed HOTP counter (expected a decimal number)"
			: r == -ERANGE	? "HOTP counter out of range"
					: strerror(-r));
		return HOTP_EXIT_NO_CODE;
	}
	if (n >= OTP_COUNTER_MAX) {
		fprintf(stderr, "heads hotp: %s: HOTP counter exhausted\n", path);
		return HOTP_EXIT_NO_CODE;
	}
	r = cmd_tpm_open(o->tcti, o->primary_name, &t);
	if (r == 0 && !o->pcrs)
		(void)tpm_otp_sealed_mask(t, &mask); /* the sealed list wins */
	if (r == 0)
		r = tpm_otp_hotp(t, TPM_HANDLE_TOTP, mask, n, &c);
	if (r < 0) {
		why = tpm_otp_reason(t, r, mask);
		fprintf(stderr, "heads hotp: no HOTP code: %s\n", why);
		return HOTP_EXIT_NO_CODE;
	}
	r = otp_counter_write(path, n + 1);
	if (r < 0) {
		fprintf(stderr, "heads hotp: %s: cannot advance the HOTP counter: %s\n", path,
			strerror(-r));
		return HOTP_EXIT_NO_CODE;
	}
	log_debug("HOTP: code for counter %llu computed, counter now %llu",
		  (unsigned long long)n, (unsigned long long)n + 1);
	*ret_code = c;
	return 0;
}

static int do_code(int argc, char **argv)
{
	char code[OTP_CODE_MAX + 1];
	struct opts o;
	uint32_t c = 0;
	int r;

	r = parse_opts(argc, argv, &o, "btpn", 0);
	if (r)
		return r;
	r = boot_code(&o, &c);
	if (r)
		return r == HOTP_EXIT_NO_CODE ? HEADS_EXIT_FAIL : r;
	otp_format_code(c, OTP_DIGITS, code);
	printf("%s\n", code);
	return HEADS_EXIT_OK;
}

static int do_verify(int argc, char **argv)
{
	_cleanup_dongle_ struct dongle *d = NULL;
	_cleanup_free_ char *path = NULL, *why = NULL;
	_cleanup_tpm_ struct tpm *t = NULL;
	struct hotp_boot_result res;
	enum dongle_result dr;
	uint32_t mask = 0;
	struct opts o;
	int r;

	r = parse_opts(argc, argv, &o, "btpnm", 0);
	if (r)
		return r;
	if (o.pcrs && (tpm_parse_pcr_list(o.pcrs, &mask) < 0 || mask == 0))
		return cmd_usage_error("hotp", "bad PCR list '%s'", o.pcrs);
	if (fs_path_join(o.boot, OTP_COUNTER_FILE, &path) < 0)
		return cmd_usage_error("hotp", "bad --boot '%s'", o.boot);
	/* The dongle first: without one the counter must not move. */
	dr = open_dongle(&o, &d);
	if (dr != DONGLE_OK) {
		printf("%s\n", dongle_result_str(dr));
		return exit_for(dr);
	}
	r = cmd_tpm_open(o.tcti, o.primary_name, &t);
	if (r == 0)
		r = hotp_boot_verify(t, mask, path, d, &res);
	else
		res = (struct hotp_boot_result){.code_error = r, .stage = HOTP_STAGE_TPM};
	if (r == -EINVAL)
		return HOTP_EXIT_NO_CODE;
	if (res.code_error) {
		if (res.stage == HOTP_STAGE_TPM) {
			why = tpm_otp_reason(t, res.code_error, mask);
			fprintf(stderr, "heads hotp: no HOTP code: %s\n", why);
		} else
			fprintf(stderr, "heads hotp: %s: %s\n", path,
				res.stage == HOTP_STAGE_READ ? hotp_counter_reason(res.code_error)
							     : strerror(-res.code_error));
		printf("%s\n", hotp_status_word(&res));
		return HOTP_EXIT_NO_CODE;
	}
	printf("%s\n", dongle_result_str(res.verdict));
	return exit_for(res.verdict);
}

static int do_check(int argc, char **argv)
{
	_cleanup_dongle_ struct dongle *d = NULL;
	unsigned long long v;
	enum dongle_result dr;
	struct opts o;
	int r;

	r = parse_opts(argc, argv, &o, "m", 1);
	if (r)
		return r;
	if (optind + 1 != argc || strlen(argv[optind]) != OTP_DIGITS ||
	    strspn(argv[optind], "0123456789") != OTP_DIGITS)
		return cmd_usage_error("hotp", "check takes one 6-digit code");
	v = strtoull(argv[optind], NULL, 10); /* leading zeros are part of codes */
	dr = open_dongle(&o, &d);
	if (dr == DONGLE_OK)
		dr = dongle_hotp_check(d, (uint32_t)v);
	printf("%s\n", dongle_result_str(dr));
	return exit_for(dr);
}

static void print_retries(const struct dongle_info *i)
{
	if (!i->have_retries)
		printf("%s: no Secrets app PIN set yet\n", i->brand);
	else if (i->kind == DONGLE_KIND_NK3)
		printf("Secrets app PIN counter: %u\n", i->admin_retries);
	else
		printf("Card counters: Admin %u, User %u\n", i->admin_retries, i->user_retries);
}

static int do_info(int argc, char **argv)
{
	_cleanup_dongle_ struct dongle *d = NULL;
	struct dongle_info i;
	enum dongle_result dr;
	struct opts o;
	int r;

	r = parse_opts(argc, argv, &o, "m", 0);
	if (r)
		return r;
	dr = open_dongle(&o, &d);
	if (dr == DONGLE_OK)
		dr = dongle_info(d, &i);
	if (dr != DONGLE_OK) {
		printf("%s\n", dongle_result_str(dr));
		return exit_for(dr);
	}
	printf("Connected device status:\n");
	printf("Brand: %s\n", i.brand);
	printf("Firmware: %s\n", i.firmware);
	printf("Serial: 0x%08x\n", i.serial);
	print_retries(&i);
	return HEADS_EXIT_OK;
}

/* One PIN: from the fd, or the terminal (no echo). */
static int read_pin(const struct opts *o, const char *prompt, struct secret **ret)
{
	int r = cmd_passphrase(o->pin_fd, "Security dongle", prompt, 256, ret);

	if (r == -ENOTTY) {
		fprintf(stderr, "heads hotp: no terminal for the PIN (use --pin-fd)\n");
		return r;
	}
	if (r < 0)
		fprintf(stderr, "heads hotp: cannot read the PIN: %s\n", strerror(-r));
	return r;
}

static int do_enroll(int argc, char **argv)
{
	_cleanup_dongle_ struct dongle *d = NULL;
	_cleanup_secret_ struct secret *key = NULL;
	_cleanup_free_ char *path = NULL;
	enum dongle_result dr;
	struct dongle_info i;
	struct opts o;
	unsigned tries;
	int r;

	r = parse_opts(argc, argv, &o, "bsPcm", 0);
	if (r)
		return r;
	if (o.secret_fd < 0)
		return cmd_usage_error("hotp", "enroll needs --secret-fd");
	if (fs_path_join(o.boot, OTP_COUNTER_FILE, &path) < 0)
		return cmd_usage_error("hotp", "bad --boot '%s'", o.boot);
	r = secret_read_fd(o.secret_fd, 4096, &key);
	if (r < 0 || key->len < DONGLE_SECRET_LEN) {
		fprintf(stderr, "heads hotp: the HOTP secret must be at least %d bytes\n",
			DONGLE_SECRET_LEN);
		return HEADS_EXIT_USAGE;
	}
	key->len = DONGLE_SECRET_LEN; /* reference: truncated to 20 bytes */

	dr = open_dongle(&o, &d);
	if (dr == DONGLE_OK)
		dr = dongle_info(d, &i);
	if (dr != DONGLE_OK)
		return exit_for(dr);
	printf("Enrolling the HOTP secret into the %s (firmware %s)\n", i.brand, i.firmware);
	if (i.have_retries && i.admin_retries == 0) {
		fprintf(stderr, "heads hotp: the %s PIN is blocked\n", i.brand);
		return HOTP_EXIT_BLOCKED;
	}
	tries = o.pin_fd >= 0		  ? 1
		: !i.have_retries	  ? 3
		: i.admin_retries >= 2 ? (i.admin_retries - 1 < 3 ? i.admin_retries - 1 : 3)
				       : 1;
	for (unsigned t = 0; t < tries; t++) {
		_cleanup_secret_ struct secret *pin = NULL;

		print_retries(&i);
		r = read_pin(&o, i.kind == DONGLE_KIND_NK3 ? "Secrets app PIN" : "Admin PIN",
			     &pin);
		if (r < 0)
			return HEADS_EXIT_USAGE;
		dr = dongle_hotp_enroll(d, pin, key, o.counter);
		if (dr != DONGLE_WRONG_PIN)
			break;
		if (dongle_info(d, &i) != DONGLE_OK)
			break;
		fprintf(stderr, "heads hotp: wrong PIN\n");
	}
	if (dr == DONGLE_WRONG_PIN && dongle_info(d, &i) == DONGLE_OK)
		print_retries(&i);
	if (dr != DONGLE_OK) {
		fprintf(stderr, "heads hotp: enrolment failed: %s\n", dongle_result_str(dr));
		return exit_for(dr);
	}
	r = otp_counter_write(path, o.counter + 1);
	if (r < 0) {
		fprintf(stderr, "heads hotp: %s: cannot write the HOTP counter: %s\n", path,
			strerror(-r));
		return HOTP_EXIT_NO_CODE;
	}
	printf("HOTP secret enrolled; %s set to %llu\n", path,
	       (unsigned long long)(o.counter + 1));
	return HEADS_EXIT_OK;
}

static const struct heads_subcommand subs[] = {
	{"code", "compute the HOTP code for the /boot counter in the TPM and advance it",
	 do_code},
	{"verify", "have the USB dongle check the HOTP code for the /boot counter", do_verify},
	{"enroll", "write the HOTP secret into the USB dongle and set the /boot counter",
	 do_enroll},
	{"check", "have the USB dongle check a given code", do_check},
	{"info", "brand, firmware version and PIN retry counters of the USB dongle", do_info},
	{},
};

static int run(int argc, char **argv);
const struct heads_command cmd_hotp = {
	.name = "hotp",
	.summary = "HOTP code computed inside the TPM, checked by a USB security dongle",
	.usage = usage,
	.run = run,
};

static int run(int argc, char **argv)
{
	return cmd_run_sub(&cmd_hotp, subs, argc, argv);
}
