/* fuzz_dongle.c - see fuzz_dongle.h. */
#include "dongle/fuzz_dongle.h"
#include "dongle/dongle.h"
#include "secret.h"
#include "util.h"

#include <stdlib.h>

void fuzz_dongle_run(const uint8_t *data, size_t size, enum dongle_proto proto, uint16_t pid,
		     int (*send)(void *ctx, const uint8_t *buf, size_t len),
		     int (*recv)(void *ctx, uint8_t *buf, size_t cap, size_t *ret_len),
		     unsigned n_ops)
{
	struct fuzz_feed *f = xcalloc(1, sizeof(*f));
	struct dongle_transport *t = xcalloc(1, sizeof(*t));
	struct dongle *d = NULL;
	struct dongle_info info;

	*f = (struct fuzz_feed){.data = data + 1, .len = size - 1, .fix = data[0] & 1};
	*t = (struct dongle_transport){.name = "fuzz", .proto = proto, .send = send,
				       .recv = recv, .close = free, .ctx = f};
	if (dongle_attach(t, dongle_id_lookup(0x20a0, pid), &d) != DONGLE_OK)
		abort();
	switch ((unsigned)(data[0] >> 1) % n_ops) {
	case 0:
		(void)dongle_info(d, &info);
		break;
	case 1:
		(void)dongle_hotp_check(d, 123456);
		break;
	case 2: {
		struct secret *pin = secret_dup("12345678", 8), *key = secret_dup(
			"01234567890123456789", 20);

		if (!pin || !key)
			abort();
		(void)dongle_hotp_enroll(d, pin, key, 25);
		secret_free(pin);
		secret_free(key);
		break;
	}
	default:
		(void)dongle_reset_secrets(d);
		break;
	}
	dongle_close(d);
}
