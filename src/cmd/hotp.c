/* heads hotp code - the HOTP code for the /boot counter, computed inside the
 * TPM (issue 4; heads-behaviour.md §6.3). Verification by a USB dongle is a
 * later issue: it plugs in through struct otp_verifier (otp.h). */
#include "cmd/cmd.h"
#include "fs.h"
#include "log.h"
#include "otp.h"
#include "tpm_otp.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>

static const char usage[] =
	"Usage: heads hotp code [--boot DIR] [--tcti STR] [--pcrs LIST]\n"
	"                       [--primary-name HEX]\n"
	"\n"
	"code: read the counter N from DIR/" OTP_COUNTER_FILE " (default DIR\n"
	"  /boot; format: decimal and a newline), compute HOTP(N) (RFC 4226, 6\n"
	"  digits) inside the TPM with the TOTP/HOTP object (0x81004d47, see\n"
	"  `heads totp seal`), write N+1 to the counter file atomically, then print\n"
	"  the code. The counter is advanced before the code is shown, so a code is\n"
	"  never shown twice for the same counter.\n"
	"\n"
	"Options:\n"
	"  --boot DIR   directory holding " OTP_COUNTER_FILE " (default /boot)\n"
	"  --tcti STR   TPM to use (default $HEADS_TCTI, else device:/dev/tpmrm0)\n"
	"  --pcrs LIST  attestation PCRs of the object (default: the list it was\n"
	"               sealed with, from its TPM record, else 0,1,2,3,4,7)\n"
	"  --primary-name HEX  the TPM primary key's Name recorded at ownership\n"
	"               (CONFIG_TPM_PRIMARY_NAME): another key is refused\n"
	"\n"
	"Exit status: 0 ok; 1 no code (counter file missing/empty/malformed or not\n"
	"writable, or the TPM refused: the reason is printed); 2 usage.\n";

static int do_code(int argc, char **argv)
{
	static const struct option lopts[] = {
		{"boot", required_argument, NULL, 'b'},
		{"tcti", required_argument, NULL, 't'},
		{"pcrs", required_argument, NULL, 'p'},
		{"primary-name", required_argument, NULL, 'n'},
		{},
	};
	const char *boot = "/boot", *tcti = NULL, *pcrs = NULL, *primary_name = NULL;
	_cleanup_free_ char *path = NULL, *why = NULL;
	_cleanup_tpm_ struct tpm *t = NULL;
	char code[OTP_CODE_MAX + 1];
	uint32_t mask, c;
	uint64_t n;
	int r, opt;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (opt) {
		case 'b':
			boot = optarg;
			break;
		case 't':
			tcti = optarg;
			break;
		case 'p':
			pcrs = optarg;
			break;
		case 'n':
			primary_name = optarg;
			break;
		default:
			return cmd_usage_error("hotp", "bad option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc)
		return cmd_usage_error("hotp", "unexpected argument '%s'", argv[optind]);
	if (tpm_parse_pcr_list(pcrs ? pcrs : "0,1,2,3,4,7", &mask) < 0 || mask == 0)
		return cmd_usage_error("hotp", "bad PCR list '%s'", pcrs);
	r = fs_path_join(boot, OTP_COUNTER_FILE, &path);
	if (r < 0)
		return cmd_usage_error("hotp", "bad --boot '%s'", boot);

	r = otp_counter_read(path, &n);
	if (r < 0) {
		fprintf(stderr, "heads hotp: %s: %s\n", path,
			r == -ENOENT	? "no HOTP counter (not enrolled with a dongle?)"
			: r == -ENODATA ? "the HOTP counter file is empty"
			: r == -EINVAL	? "malformed HOTP counter (expected a decimal number)"
			: r == -ERANGE	? "HOTP counter out of range"
					: strerror(-r));
		return HEADS_EXIT_FAIL;
	}
	if (n >= OTP_COUNTER_MAX) {
		fprintf(stderr, "heads hotp: %s: HOTP counter exhausted\n", path);
		return HEADS_EXIT_FAIL;
	}
	r = cmd_tpm_open(tcti, primary_name, &t);
	if (r == 0 && !pcrs)
		(void)tpm_otp_sealed_mask(t, &mask); /* the sealed list wins */
	if (r == 0)
		r = tpm_otp_hotp(t, TPM_HANDLE_TOTP, mask, n, &c);
	if (r < 0) {
		why = tpm_otp_reason(t, r, mask);
		fprintf(stderr, "heads hotp: no HOTP code: %s\n", why);
		return HEADS_EXIT_FAIL;
	}
	r = otp_counter_write(path, n + 1);
	if (r < 0) {
		fprintf(stderr, "heads hotp: %s: cannot advance the HOTP counter: %s\n", path,
			strerror(-r));
		return HEADS_EXIT_FAIL;
	}
	otp_format_code(c, OTP_DIGITS, code);
	printf("%s\n", code);
	log_debug("HOTP: code for counter %llu shown, counter now %llu",
		  (unsigned long long)n, (unsigned long long)n + 1);
	return HEADS_EXIT_OK;
}

static const struct heads_subcommand subs[] = {
	{"code", "compute the HOTP code for the /boot counter in the TPM and advance it",
	 do_code},
	{},
};

static int run(int argc, char **argv);
const struct heads_command cmd_hotp = {
	.name = "hotp",
	.summary = "HOTP code computed inside the TPM (for a USB security dongle)",
	.usage = usage,
	.run = run,
};

static int run(int argc, char **argv)
{
	return cmd_run_sub(&cmd_hotp, subs, argc, argv);
}
