/* A new TOTP/HOTP secret sealed and shown (see flow/enrol.h). */
#include "flow/enrol.h"
#include "board.h"
#include "log.h"
#include "otp.h"
#include "qr.h"
#include "tpm/tpm.h"
#include "tpm_otp.h"
#include "ui/ui.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* What failed, through the session's channel; r, or the UI's error. */
static int say_failed(const struct session *s, int r, const char *what)
{
	if (!s->ui) {
		fprintf(stderr, "heads totp: %s\n", what);
		return r;
	}
	_cleanup_free_ char *msg = xasprintf("Sealing the TOTP secret failed: %s", what);
	int u = ui_msgbox(s->ui, UI_BG_ERROR, "ERROR: TOTP sealing failed", msg);
	return u < 0 && u != -ECANCELED ? u : r;
}

static int seal(const struct session *s, struct tpm *t, const struct enrol_options *o,
		struct secret **ret_key)
{
	_cleanup_free_ char *note = NULL, *what = NULL;
	enum tpm_otp_enrol_step step;
	struct tpm_pcr_values next = {0};
	if (o->next_pcr7) {
		next.mask |= 1u << 7;
		memcpy(next.sha256[7], o->next_pcr7, 32);
	}
	if (o->next_pcr2) {
		next.mask |= 1u << 2;
		memcpy(next.sha256[2], o->next_pcr2, 32);
	}
	int r = tpm_otp_enrol_next(t, o->mask, o->eventlog, &next, o->owner, ret_key, &note,
				   &step);

	if (r < 0) {
		const char *name = tpm_otp_enrol_step_name(step);
		_cleanup_free_ char *why = NULL;
		if (step == TPM_OTP_STEP_SECRET)
			what = xasprintf("%s: %s", name, strerror(-r));
		else if (step == TPM_OTP_STEP_MISMATCH)
			what = xstrdup(name);
		else
			what = xasprintf("%s: %s", name, why = tpm_otp_reason(t, r, o->mask));
		return say_failed(s, r, what);
	}
	if (s->ui) {
		_cleanup_free_ char *list = board_pcr_list(o->mask);
		log_info("TOTP secret sealed to PCRs %s", list);
	}
	if (note && s->ui)
		log_info("no code in this boot (%s); it will work after a reboot with unchanged "
			 "firmware", note);
	else if (note)
		fprintf(stderr, "heads totp: note: no code in this boot (%s); it will work "
				"after a reboot with unchanged firmware\n", note);
	return 0;
}

/* The QR code and the secret go straight to the terminal (or the UI),
 * never to a log: they are the secret. */
static int show(const struct session *s, const struct enrol_options *o,
		const struct secret *key)
{
	_cleanup_secret_ struct secret *uri = NULL, *b32 = NULL, *art = NULL;
	struct qr_matrix q = {0};
	int r;

	if ((r = otp_totp_uri(o->label, key, &uri)) < 0 || (r = otp_base32(key, &b32)) < 0 ||
	    (r = qr_encode((const char *)uri->data, uri->len, &q)) < 0 ||
	    (r = qr_render_utf8(&q, s->ui ? 2 : 1, &art)) < 0) {
		qr_matrix_free(&q);
		if (s->ui)
			return log_error_errno(r, "rendering the enrolment QR code");
		fprintf(stderr, "heads totp: cannot render the enrolment QR code: %s\n",
			strerror(-r));
		return r;
	}
	qr_matrix_free(&q);
	if (!s->ui) {
		fputs("Scan this QR code with your TOTP app:\n", stdout);
		fwrite(art->data, 1, art->len, stdout);
		printf("Secret (base32): %s\n", (const char *)b32->data);
		fflush(stdout);
		return 0;
	}
	_cleanup_free_ char *text = xasprintf(
		"Scan this QR code with your TOTP app (or type the secret):\n\n%s\n"
		"Secret (base32): %s\n", (const char *)art->data, (const char *)b32->data);
	r = ui_textbox(s->ui, UI_BG_NORMAL, "New TOTP secret", text);
	explicit_bzero(text, strlen(text));
	return r;
}

int flow_totp_enrol(const struct session *s, struct tpm *t, const struct enrol_options *o)
{
	_cleanup_secret_ struct secret *key = NULL;
	int r = seal(s, t, o, &key);

	if (r >= 0)
		r = show(s, o, key);
	if (r >= 0 && o->then)
		r = o->then(o->then_ctx, key);
	return r;
}
