/* transport.h - how dongle frames reach a device. The protocol code
 * (nk_hid.c, nk3_secrets.c) only sees this interface, so the unit tests run
 * the real protocol against the device models of tests/devices/ through an
 * in-process transport, and the payload talks to hardware through hidraw /
 * usbfs with the very same calls.
 *
 * HID (DONGLE_PROTO_HID): send() = one SET_REPORT(Feature, id 0) of exactly
 *   NK_HID_REPORT_LEN bytes (the report id is not part of buf); recv() = one
 *   GET_REPORT(Feature, id 0) of NK_HID_REPORT_LEN bytes.
 * CCID (DONGLE_PROTO_CCID): send() = one bulk-OUT CCID message (10-byte
 *   header + data); recv() = one bulk-IN CCID message.
 * Both return 0 or a negative errno (-EIO, -ETIMEDOUT, -ENODEV if the
 * device went away); recv() sets *ret_len (at most cap).
 * poll_ms: the pause before each HID GET_REPORT retry (the Storage needs
 * 200 ms); 0 for models.
 */
#ifndef HEADS_DONGLE_TRANSPORT_H
#define HEADS_DONGLE_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "dongle/dongle.h"

struct dongle_transport {
	const char *name;
	enum dongle_proto proto;
	unsigned poll_ms;
	int (*send)(void *ctx, const uint8_t *buf, size_t len);
	int (*recv)(void *ctx, uint8_t *buf, size_t cap, size_t *ret_len);
	void (*close)(void *ctx); /* frees ctx; may be NULL */
	void *ctx;
};

/* Free t (calls close); NULL is fine. */
void dongle_transport_free(struct dongle_transport *t);

/* Real devices (dongle_usb.c). path: /dev/hidrawN, or /dev/bus/usb/BBB/DDD
 * with the CCID interface number and its bulk endpoints. */
int dongle_hidraw_open(const char *path, struct dongle_transport **ret);
int dongle_usbfs_ccid_open(const char *path, unsigned iface, uint8_t ep_out, uint8_t ep_in,
			   struct dongle_transport **ret);

#endif
