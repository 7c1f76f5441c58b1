/* fuzz_dongle.h - the part the dongle fuzz targets (fuzz_dongle_hid.c,
 * fuzz_dongle_ccid.c) share: a dongle attached over a transport whose
 * answers come from the fuzz input, then one dongle operation on it.
 * Each target brings its own answer feed (the wire format differs). */
#ifndef HEADS_FUZZ_DONGLE_H
#define HEADS_FUZZ_DONGLE_H

#include "dongle/transport.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The device's answers: the input after byte 0; fix: byte 0's bit 0 (the
 * target fixes up headers/CRCs so deeper layers are reached); echo: what
 * the last request carried that the answer must repeat (CCID sequence
 * number, HID CRC). */
struct fuzz_feed {
	const uint8_t *data;
	size_t len, pos;
	bool fix;
	uint32_t echo;
};

/* Input byte 0: bit 0 fix, the rest the operation (modulo n_ops) of: info,
 * HOTP check, HOTP enroll (PIN, 20-byte key), reset of the secrets app; the
 * rest of the input is the feed. Attaches a dongle (USB ids 0x20a0:pid)
 * over a transport of proto whose send and recv get the struct fuzz_feed
 * as ctx, and runs the operation. size >= 1. Aborts if the attach fails. */
void fuzz_dongle_run(const uint8_t *data, size_t size, enum dongle_proto proto, uint16_t pid,
		     int (*send)(void *ctx, const uint8_t *buf, size_t len),
		     int (*recv)(void *ctx, uint8_t *buf, size_t cap, size_t *ret_len),
		     unsigned n_ops);

#endif
