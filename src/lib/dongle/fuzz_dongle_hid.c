/* libFuzzer target: the Nitrokey HID response path. The input is a stream
 * of answers a (hostile) device gives: byte 0 selects the operation and
 * whether the CRCs are fixed up (so the payload interpretation is reached,
 * not only the CRC check), then 64-byte frames. Nothing may read out of
 * bounds, hang or accept a frame whose CRC is wrong. */
#include "dongle/dongle.h"
#include "dongle/fuzz_dongle.h"
#include "dongle/nk_hid.h"
#include "dongle/transport.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int feed_send(void *ctx, const uint8_t *buf, size_t len)
{
	struct fuzz_feed *f = ctx;

	if (len != NK_HID_REPORT_LEN)
		abort();
	f->echo = nk_hid_get_le32(buf + NK_HID_CRC_OFF);
	return 0;
}

static int feed_recv(void *ctx, uint8_t *buf, size_t cap, size_t *ret_len)
{
	struct fuzz_feed *f = ctx;
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
		nk_hid_put_le32(buf + 2, f->echo);
		nk_hid_put_le32(buf + NK_HID_CRC_OFF, nk_hid_crc32(buf, NK_HID_CRC_OFF));
	}
	*ret_len = n;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nk_hid_response resp;

	if (size < 1 || size > 64 * 1024)
		return 0;
	/* The frame parser alone, on the raw input. */
	if (nk_hid_response_parse(data + 1, size - 1, 0, &resp) == 0 &&
	    nk_hid_crc32(data + 1, NK_HID_CRC_OFF) != nk_hid_get_le32(data + 1 + NK_HID_CRC_OFF))
		abort();

	fuzz_dongle_run(data, size, DONGLE_PROTO_HID, 0x4108, feed_send, feed_recv, 3);
	return 0;
}
