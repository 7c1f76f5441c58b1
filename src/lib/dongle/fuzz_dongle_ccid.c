/* libFuzzer target: the Nitrokey 3 CCID/APDU/TLV answer path. Input: byte 0
 * selects the operation and whether CCID headers are fixed up (length and
 * sequence number right, so the APDU and TLV layers are reached), then
 * answers as [u16 LE length][bytes]. The TLV and SELECT parsers are also run
 * on the raw input. Nothing may read out of bounds or loop forever. */
#include "dongle/dongle.h"
#include "dongle/nk3_secrets.h"
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
	uint8_t seq;
};

static int feed_send(void *ctx, const uint8_t *buf, size_t len)
{
	struct feed *f = ctx;

	if (len < CCID_HDR_LEN)
		abort();
	f->seq = buf[6];
	return 0;
}

static int feed_recv(void *ctx, uint8_t *buf, size_t cap, size_t *ret_len)
{
	struct feed *f = ctx;
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
		buf[6] = f->seq;
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
	struct feed *f;
	struct dongle_transport *t;
	struct dongle *d = NULL;
	struct dongle_info info;
	uint8_t op;

	if (size < 1 || size > 64 * 1024)
		return 0;
	if (secrets_tlv_find(data, size, 0x79, &v, &l) == 0 && (v < data || v + l > data + size))
		abort();
	(void)secrets_select_parse(data, size, &sel);
	if (ccid_parse(data, size, &m) == 0 && m.len != size - CCID_HDR_LEN)
		abort();

	op = data[0];
	f = xcalloc(1, sizeof(*f));
	*f = (struct feed){.data = data + 1, .len = size - 1, .fix = op & 1};
	t = xcalloc(1, sizeof(*t));
	*t = (struct dongle_transport){.name = "fuzz", .proto = DONGLE_PROTO_CCID,
				       .send = feed_send, .recv = feed_recv, .close = free, .ctx = f};
	if (dongle_attach(t, dongle_id_lookup(0x20a0, 0x42b2), &d) != DONGLE_OK)
		abort();
	switch ((op >> 1) % 4) {
	case 0:
		(void)dongle_info(d, &info);
		break;
	case 1:
		(void)dongle_hotp_check(d, 123456);
		break;
	case 2:
		(void)dongle_reset_secrets(d);
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
