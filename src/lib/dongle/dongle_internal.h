/* dongle_internal.h - the dongle handle shared by the protocol modules. */
#ifndef HEADS_DONGLE_INTERNAL_H
#define HEADS_DONGLE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "dongle/dongle.h"
#include "dongle/transport.h"

struct dongle {
	const struct dongle_id *id;
	struct dongle_transport *t;
	uint8_t ccid_seq;   /* CCID bSeq of the next message */
	bool ccid_powered;  /* IccPowerOn sent */
};

#endif
