/* hotp_boot.h - the boot-time HOTP check as the menu runs it (heads-
 * behaviour.md §6.3 "Verify at boot"): the TPM computes HOTP(N) for the
 * /boot counter N, the counter file becomes N+1, the dongle checks the
 * code. No user I/O: the caller opens the dongle (so it can show "Please
 * insert your <brand>" and retry) and shows the outcome.
 *
 * Order: the caller has a dongle before calling (no dongle = no call = the
 * counter stays); the counter file is advanced before the dongle sees the
 * code (a code is never offered twice for one counter), and only after the
 * TPM computed it (a TPM failure leaves the file alone).
 */
#ifndef HEADS_DONGLE_HOTP_BOOT_H
#define HEADS_DONGLE_HOTP_BOOT_H

#include <stdint.h>

#include "dongle/dongle.h"

struct tpm;

struct hotp_boot_result {
	/* 0: a code was computed and checked (verdict below); else why there
	 * was no code: -ENOENT/-ENODATA/-EINVAL/-ERANGE (counter file),
	 * -EOVERFLOW (counter exhausted), a TPM_E_* (tpm.h), -errno writing
	 * the file. */
	int code_error;
	enum { HOTP_STAGE_NONE, HOTP_STAGE_READ, HOTP_STAGE_TPM, HOTP_STAGE_WRITE } stage;
	enum dongle_result verdict; /* valid when code_error == 0 */
	uint64_t counter;           /* N read from the file */
};

/* counter_path: <boot>/kexec_hotp_counter. pcr_mask 0: the sealed list.
 * Returns 0 (see ret) or -EINVAL for bad arguments. */
int hotp_boot_verify(struct tpm *t, uint32_t pcr_mask, const char *counter_path,
		     struct dongle *d, struct hotp_boot_result *ret);

/* The status-line word for the menu ("HOTP: <word>"): "Success", "Invalid
 * code", "Not configured", "No dongle", "Not supported", "Error" (talking to
 * the dongle), "Unverified" (no code: counter file or TPM). */
const char *hotp_status_word(const struct hotp_boot_result *r);

/* One sentence for a counter-file error code (code_error from the file). */
const char *hotp_counter_reason(int code_error);

#endif
