/* libFuzzer target: the Nitrokey HID response path. The input is a stream
 * of answers a (hostile) device gives: byte 0 selects the operation and
 * whether the CRCs are fixed up (so the payload interpretation is reached,
 * not only the CRC check), then 64-byte frames. Nothing may read out of
 * bounds, hang or accept a frame whose CRC is wrong. */
#include "dongle/dongle.h"
#include "dongle/nk_hid.h"
#include "dongle/transport.h"
#include "secret.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct feed {
	const uint8_t *data;
	size_t len, pos;
	bool fix;
	uint32_t last_crc;
};

static int feed_send(void *ctx, const uint8_t *buf, size_t len)
{
	struct feed *f = ctx;

	if (len != NK_HID_REPORT_LEN)
		abort();
	f->last_crc = nk_hid_get_le32(buf + NK_HID_CRC_OFF);
	return 0;
}

static int feed_recv(void *ctx, uint8_t *buf, size_t cap, size_t *ret_len)
{
	struct feed *f = ctx;
	size_t n = f->len - f->pos;

	if (n == 0)
		return -EIO;
	if (n > NK_HID_REPORT_LEN)
		n = NK_HID_REPORT_LEN;
	if (n > cap)
		abort();
	memcpy(buf, f->data + f->pos, n);
	f->pos += n;
	if (f->fix && n == NK_HID_REPORT_LEN) {
		nk_hid_put_le32(buf + 2, f->last_crc);
		nk_hid_put_le32(buf + NK_HID_CRC_OFF, nk_hid_crc32(buf, NK_HID_CRC_OFF));
	}
	*ret_len = n;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nk_hid_response resp;
	struct feed *f;
	struct dongle_transport *t;
	struct dongle *d = NULL;
	struct dongle_info info;
	uint8_t op;

	if (size < 1 || size > 64 * 1024)
		return 0;
	/* The frame parser alone, on the raw input. */
	if (nk_hid_response_parse(data + 1, size - 1, 0, &resp) == 0 &&
	    nk_hid_crc32(data + 1, NK_HID_CRC_OFF) != nk_hid_get_le32(data + 1 + NK_HID_CRC_OFF))
		abort();

	op = data[0];
	f = xcalloc(1, sizeof(*f));
	*f = (struct feed){.data = data + 1, .len = size - 1, .fix = op & 1};
	t = xcalloc(1, sizeof(*t));
	*t = (struct dongle_transport){.name = "fuzz", .proto = DONGLE_PROTO_HID,
				       .send = feed_send, .recv = feed_recv, .close = free, .ctx = f};
	if (dongle_attach(t, dongle_id_lookup(0x20a0, 0x4108), &d) != DONGLE_OK)
		abort();
	switch ((op >> 1) % 3) {
	case 0:
		(void)dongle_info(d, &info);
		break;
	case 1:
		(void)dongle_hotp_check(d, 123456);
		break;
	default: {
		struct secret *pin = secret_dup("12345678", 8), *key = secret_dup(
			"01234567890123456789", 20);

		if (!pin || !key)
			abort();
		(void)dongle_hotp_enroll(d, pin, key, 25);
		secret_free(pin);
		secret_free(key);
	}
	}
	dongle_close(d);
	return 0;
}
