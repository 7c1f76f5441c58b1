/* libFuzzer target: the Nitrokey 3 CCID/APDU/TLV answer path. Input: byte 0
 * selects the operation and whether CCID headers are fixed up (length and
 * sequence number right, so the APDU and TLV layers are reached), then
 * answers as [u16 LE length][bytes]. The TLV and SELECT parsers are also run
 * on the raw input. Nothing may read out of bounds or loop forever. */
#include "dongle/dongle.h"
#include "dongle/fuzz_dongle.h"
#include "dongle/nk3_secrets.h"
#include "dongle/transport.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int feed_send(void *ctx, const uint8_t *buf, size_t len)
{
	struct fuzz_feed *f = ctx;

	if (len < CCID_HDR_LEN)
		abort();
	f->echo = buf[6];
	return 0;
}

static int feed_recv(void *ctx, uint8_t *buf, size_t cap, size_t *ret_len)
{
	struct fuzz_feed *f = ctx;
	size_t n;

	if (f->len - f->pos < 2)
		return -EIO;
	n = (size_t)f->data[f->pos] | (size_t)f->data[f->pos + 1] << 8;
	f->pos += 2;
	if (n > f->len - f->pos)
		n = f->len - f->pos;
	if (n > cap)
		n = cap;
	memcpy(buf, f->data + f->pos, n);
	f->pos += n;
	if (f->fix && n >= CCID_HDR_LEN) {
		size_t l = n - CCID_HDR_LEN;

		buf[0] = CCID_RDR_TO_PC_DATABLOCK;
		buf[1] = (uint8_t)l;
		buf[2] = (uint8_t)(l >> 8);
		buf[3] = buf[4] = 0;
		buf[6] = (uint8_t)f->echo;
	}
	*ret_len = n;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct secrets_select sel;
	struct ccid_msg m;
	const uint8_t *v;
	size_t l;

	if (size < 1 || size > 64 * 1024)
		return 0;
	if (secrets_tlv_find(data, size, 0x79, &v, &l) == 0 && (v < data || v + l > data + size))
		abort();
	(void)secrets_select_parse(data, size, &sel);
	if (ccid_parse(data, size, &m) == 0 && m.len != size - CCID_HDR_LEN)
		abort();

	fuzz_dongle_run(data, size, DONGLE_PROTO_CCID, 0x42b2, feed_send, feed_recv, 4);
	return 0;
}
