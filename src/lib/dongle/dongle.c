/* dongle.c - dongle table, dispatch by protocol, the enrolment walk. */
#include "dongle/dongle.h"

#include "dongle/dongle_internal.h"
#include "dongle/nk3_secrets.h"
#include "dongle/nk_hid.h"
#include "log.h"
#include "otp.h"
#include "secret.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

static const struct dongle_id ids[] = {
	{0x20a0, 0x4108, DONGLE_KIND_NK_PRO, DONGLE_PROTO_HID, "Nitrokey Pro"},
	{0x20a0, 0x4109, DONGLE_KIND_NK_STORAGE, DONGLE_PROTO_HID, "Nitrokey Storage"},
	{0x316d, 0x4c4b, DONGLE_KIND_LIBREM_KEY, DONGLE_PROTO_HID, "Librem Key"},
	{0x20a0, 0x42b2, DONGLE_KIND_NK3, DONGLE_PROTO_CCID, "Nitrokey 3"},
	/* Security keys that cannot check HOTP codes: reported, not failed. */
	{0x20a0, 0x42d4, DONGLE_KIND_UNSUPPORTED, DONGLE_PROTO_NONE, "Canokey"},
	{0x20a0, 0x42b1, DONGLE_KIND_UNSUPPORTED, DONGLE_PROTO_NONE, "Nitrokey FIDO2"},
	{0x20a0, 0x42b4, DONGLE_KIND_UNSUPPORTED, DONGLE_PROTO_NONE, "Nitrokey Passkey"},
	{0x20a0, 0x4211, DONGLE_KIND_UNSUPPORTED, DONGLE_PROTO_NONE, "Nitrokey Start"},
	{0x1050, 0x0407, DONGLE_KIND_UNSUPPORTED, DONGLE_PROTO_NONE, "YubiKey"},
	{},
};

const struct dongle_id *dongle_id_lookup(uint16_t vid, uint16_t pid)
{
	for (const struct dongle_id *i = ids; i->brand; i++)
		if (i->vid == vid && i->pid == pid)
			return i;
	return NULL;
}

const char *dongle_result_str(enum dongle_result r)
{
	switch (r) {
	case DONGLE_OK:
		return "Success";
	case DONGLE_INVALID_CODE:
		return "Invalid code";
	case DONGLE_NOT_CONFIGURED:
		return "HOTP slot not configured";
	case DONGLE_WRONG_PIN:
		return "Wrong PIN";
	case DONGLE_BLOCKED:
		return "PIN blocked (no retries left)";
	case DONGLE_NO_DONGLE:
		return "No dongle";
	case DONGLE_NOT_SUPPORTED:
		return "HOTP not supported by this dongle";
	case DONGLE_CONNECTION_ERROR:
		return "Error checking code";
	default:
		return "Unknown dongle result";
	}
}

void dongle_transport_free(struct dongle_transport *t)
{
	if (!t)
		return;
	if (t->close)
		t->close(t->ctx);
	free(t);
}

enum dongle_result dongle_attach(struct dongle_transport *t, const struct dongle_id *id,
				 struct dongle **ret)
{
	struct dongle *d;

	if (!id || id->proto == DONGLE_PROTO_NONE || id->proto != t->proto) {
		dongle_transport_free(t);
		return DONGLE_NOT_SUPPORTED;
	}
	d = xcalloc(1, sizeof(*d));
	d->id = id;
	d->t = t;
	*ret = d;
	return DONGLE_OK;
}

void dongle_close(struct dongle *d)
{
	if (!d)
		return;
	dongle_transport_free(d->t);
	free(d);
}

const struct dongle_id *dongle_get_id(const struct dongle *d)
{
	return d->id;
}

enum dongle_result dongle_info(struct dongle *d, struct dongle_info *ret)
{
	struct dongle_info i = {.kind = d->id->kind, .brand = d->id->brand};
	enum dongle_result r;

	r = d->id->proto == DONGLE_PROTO_HID ? nk_hid_info(d, &i) : nk3_info(d, &i);
	if (r == DONGLE_OK)
		*ret = i;
	return r;
}

enum dongle_result dongle_hotp_write(struct dongle *d, const struct secret *pin,
				     const struct secret *key)
{
	if (!pin || pin->len > DONGLE_PIN_MAX || !key || key->len < DONGLE_SECRET_LEN) {
		log_error("dongle: PIN longer than %d bytes or HOTP secret shorter than %d",
			  DONGLE_PIN_MAX, DONGLE_SECRET_LEN);
		return DONGLE_WRONG_PIN;
	}
	return d->id->proto == DONGLE_PROTO_HID ? nk_hid_hotp_write(d, pin, key)
						: nk3_hotp_write(d, pin, key);
}

enum dongle_result dongle_hotp_check(struct dongle *d, uint32_t code)
{
	if (code > 999999)
		return DONGLE_INVALID_CODE;
	return d->id->proto == DONGLE_PROTO_HID ? nk_hid_hotp_check(d, code)
						: nk3_hotp_check(d, code);
}

static enum dongle_result check_counter(struct dongle *d, const struct secret *key, uint64_t c)
{
	uint32_t code;

	if (otp_hotp(key->data, DONGLE_SECRET_LEN, c, OTP_DIGITS, &code) < 0)
		return DONGLE_CONNECTION_ERROR;
	return dongle_hotp_check(d, code);
}

enum dongle_result dongle_hotp_enroll(struct dongle *d, const struct secret *pin,
				      const struct secret *key, uint64_t target)
{
	enum dongle_result r;

	if (target < 1 || target >= OTP_COUNTER_MAX)
		return DONGLE_INVALID_CODE;
	r = dongle_hotp_write(d, pin, key);
	if (r != DONGLE_OK)
		return r;
	/* Device counter 0: each check of c (c within its window) moves it to
	 * c + 1; 9, 19, ... keep every step inside the window of 10. */
	for (uint64_t c = DONGLE_WINDOW - 1; c < target; c += DONGLE_WINDOW) {
		r = check_counter(d, key, c);
		if (r != DONGLE_OK) {
			log_error("dongle: counter walk: the code for %llu was refused: %s",
				  (unsigned long long)c, dongle_result_str(r));
			return r;
		}
	}
	return check_counter(d, key, target);
}

enum dongle_result dongle_reset_secrets(struct dongle *d)
{
	if (d->id->proto != DONGLE_PROTO_CCID)
		return DONGLE_NOT_SUPPORTED;
	return nk3_reset(d);
}
