/* hotp_boot.c - see hotp_boot.h. */
#include "dongle/hotp_boot.h"

#include "log.h"
#include "otp.h"
#include "tpm_otp.h"

#include <errno.h>
#include <string.h>

int hotp_boot_verify(struct tpm *t, uint32_t pcr_mask, const char *counter_path,
		     struct dongle *d, struct hotp_boot_result *ret)
{
	struct hotp_boot_result res = {.verdict = DONGLE_CONNECTION_ERROR};
	uint32_t mask = pcr_mask, code;
	uint64_t n;
	int r;

	if (!t || !counter_path || !d || !ret)
		return -EINVAL;
	res.stage = HOTP_STAGE_READ;
	r = otp_counter_read(counter_path, &n);
	if (r == 0 && n >= OTP_COUNTER_MAX)
		r = -EOVERFLOW;
	if (r < 0)
		goto out_err;
	res.counter = n;
	if (!mask && tpm_otp_sealed_mask(t, &mask) < 0)
		mask = TPM_OTP_DEFAULT_PCRS;
	res.stage = HOTP_STAGE_TPM;
	r = tpm_otp_hotp(t, TPM_HANDLE_TOTP, mask, n, &code);
	if (r < 0)
		goto out_err;
	res.stage = HOTP_STAGE_WRITE;
	r = otp_counter_write(counter_path, n + 1);
	if (r < 0)
		goto out_err;
	res.stage = HOTP_STAGE_NONE;
	res.verdict = dongle_hotp_check(d, code);
	log_info("HOTP: counter %llu checked by the %s: %s", (unsigned long long)n,
		 dongle_get_id(d)->brand, dongle_result_str(res.verdict));
	*ret = res;
	return 0;
out_err:
	res.code_error = r;
	*ret = res;
	return 0;
}

const char *hotp_status_word(const struct hotp_boot_result *r)
{
	if (r->code_error)
		return "Unverified";
	switch (r->verdict) {
	case DONGLE_OK:
		return "Success";
	case DONGLE_INVALID_CODE:
		return "Invalid code";
	case DONGLE_NOT_CONFIGURED:
		return "Not configured";
	case DONGLE_NO_DONGLE:
		return "No dongle";
	case DONGLE_NOT_SUPPORTED:
		return "Not supported";
	default:
		return "Error";
	}
}

const char *hotp_counter_reason(int code_error)
{
	switch (code_error) {
	case -ENOENT:
		return "no HOTP counter (not enrolled with a dongle?)";
	case -ENODATA:
		return "the HOTP counter file is empty";
	case -EINVAL:
		return "malformed HOTP counter (expected a decimal number)";
	case -ERANGE:
		return "HOTP counter out of range";
	case -EOVERFLOW:
		return "HOTP counter exhausted";
	default:
		return code_error < 0 ? strerror(-code_error) : "no error";
	}
}
