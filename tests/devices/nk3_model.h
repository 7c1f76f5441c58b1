/* nk3_model.h - a model of the Nitrokey 3 for tests (never in the payload):
 * a CCID reader on the bulk level (IccPowerOn, XfrBlock, DataBlock answers
 * with time extensions while "waiting for a touch") holding two
 * applications: the admin app (firmware version, ins 0x61) and the Secrets
 * app (SELECT with version/salt/PIN counter/serial, VERIFY/SET PIN with 8
 * retries down to blocked, PUT/DELETE of credentials needing the PIN once
 * one is set, VERIFY CODE for reverse-HOTP credentials searching c..c+9 and
 * moving to match+1, RESET). Long answers can be cut into 61xx chunks to
 * exercise GET RESPONSE. TLVs and HOTP implemented independently of
 * src/lib. */
#ifndef HEADS_TEST_NK3_MODEL_H
#define HEADS_TEST_NK3_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dongle/transport.h"

#define NK3M_CREDS 4
#define NK3M_QUEUE 8
#define NK3M_LOG_MAX 64

struct nk3_cred {
	bool used;
	char name[64];
	uint8_t kind_algo, digits;
	uint8_t key[64];
	size_t key_len;
	uint8_t props;
	uint32_t counter;
};

struct nk3_model {
	uint32_t fw_version;  /* admin app encoding: major<<22 | minor<<6 | patch */
	uint8_t app_version[3];
	uint32_t serial;
	bool has_secrets_app; /* false: a CCID device without it */
	bool pin_set;
	char pin[130];
	unsigned pin_retries;
	bool pin_verified;
	enum { NK3M_NONE, NK3M_ADMIN, NK3M_SECRETS } selected;
	struct nk3_cred creds[NK3M_CREDS];
	bool powered;
	/* fault injection / behaviour */
	size_t chunk;          /* >0: answers longer than this go out in 61xx pieces */
	unsigned touch_waits;  /* time extensions sent before a PUT or RESET answer */
	/* GET RESPONSE remainder */
	uint8_t pending[1024];
	size_t pending_len, pending_off;
	/* outgoing CCID messages */
	uint8_t queue[NK3M_QUEUE][1100];
	size_t queue_len[NK3M_QUEUE];
	unsigned q_head, q_count;
	unsigned ext_pending;
	uint8_t ext_seq;
	/* what happened */
	uint64_t verified[NK3M_LOG_MAX];
	unsigned n_verified;
	unsigned apdus, time_extensions;
};

/* Factory state: no Secrets PIN, firmware 1.7.2, Secrets app 4.11.0. */
struct nk3_model *nk3_model_new(void);
void nk3_model_free(struct nk3_model *m);

/* Device side of one bulk-OUT message / one bulk-IN read. */
int nk3_model_bulk_out(struct nk3_model *m, const uint8_t *buf, size_t len);
int nk3_model_bulk_in(struct nk3_model *m, uint8_t *buf, size_t cap, size_t *ret_len);

/* An in-process transport to m (m not owned). */
struct dongle_transport *nk3_model_transport(struct nk3_model *m);

/* The credential named name, or NULL. */
struct nk3_cred *nk3_model_cred(struct nk3_model *m, const char *name);

#endif
