/* flow/enrol.h - a new TOTP/HOTP secret sealed and shown, written once for
 * `heads totp seal` and the menu (a new secret, ownership, after a ROM
 * write).
 *
 * tpm_otp_enrol() seals the secret to the PCRs (with the TPM-vs-software
 * self-check), then its otpauth URI is shown as a QR code plus the base32
 * secret. Presentation follows the session: with s->ui a text box (and
 * failures in a message box), without one the `heads totp seal` format on
 * stdout (failures "heads totp: ..." on stderr). The secret never reaches a
 * log.
 */
#ifndef HEADS_FLOW_ENROL_H
#define HEADS_FLOW_ENROL_H

#include "flow/flow.h"
#include "secret.h"

#include <stdint.h>

struct tpm;

struct enrol_options {
	uint32_t mask;              /* the PCRs to seal to */
	const char *eventlog;       /* TCG event log for PCR prediction, or NULL */
	const uint8_t *next_pcr7;   /* the next boot's PCR 7 (ROM rewritten), or NULL */
	const uint8_t *next_pcr2;   /* the next boot's PCR 2 (firmware update), or NULL */
	const char *label;          /* the otpauth label (the board's name) */
	const struct secret *owner; /* TPM owner passphrase, or NULL */
	/* Called with the same secret once it is sealed and shown (the menu
	 * enrols it into the HOTP dongle, the reference's seal-hotpkey); its
	 * result is flow_totp_enrol's. The secret is wiped after. NULL = none. */
	int (*then)(void *ctx, const struct secret *key);
	void *then_ctx;
};

/* 0 sealed and shown; a negative errno after saying why (the UI's own
 * error when the conversation ended). */
int flow_totp_enrol(const struct session *s, struct tpm *t, const struct enrol_options *o);

#endif
