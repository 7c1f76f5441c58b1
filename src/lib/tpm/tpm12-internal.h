/* tpm12-internal.h - what the TPM 1.2 client files share (not a public
 * interface; the contract is tpm12.h). */
#ifndef HEADS_TPM12_INTERNAL_H
#define HEADS_TPM12_INTERNAL_H

#include "tpm/tpm12.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tpm12 {
	int fd;
	bool stream; /* TCP: read the header, then the rest */
	unsigned count;
	uint8_t srk[20]; /* SRK usage auth: well-known (zeros) unless set */
};

/* One authorization session (OIAP or OSAP). */
struct sess {
	uint32_t handle;
	uint8_t even[20];     /* last nonceEven */
	uint8_t odd[20];      /* nonceOdd of the command in flight */
	uint8_t key[20];      /* HMAC key: usage auth (OIAP) or shared secret (OSAP) */
	bool cont;
};

/* tpm12.c */
void tpm12_sess_wipe(struct sess *s);
int tpm12_random(void *p, size_t n);
void tpm12_sha1(const void *p, size_t n, uint8_t out[20]);
void tpm12_hmac1(const uint8_t key[20], const uint8_t *msg, size_t n, uint8_t out[20]);
int tpm12_simple(struct tpm12 *t, struct tpm12_cmd *c, uint8_t *resp, struct tpm12_rsp *r,
		 const char *what);

/* tpm12_session.c */
int tpm12_oiap(struct tpm12 *t, const uint8_t auth[20], struct sess *s);
int tpm12_osap(struct tpm12 *t, uint16_t etype, uint32_t evalue, const uint8_t auth[20],
	       struct sess *s);
void tpm12_sess_flush(struct tpm12 *t, struct sess *s);
void tpm12_adip(const struct sess *s, const uint8_t new_auth[20], uint8_t out[20]);
int tpm12_auth_transmit(struct tpm12 *t, struct tpm12_cmd *c, struct sess **ss, unsigned n,
			bool cont, uint8_t *resp, struct tpm12_rsp *r, const char *what);

/* tpm12_cmd.c */
int tpm12_get_cap(struct tpm12 *t, uint32_t cap, const uint8_t *sub, uint32_t sub_len,
		  uint8_t *resp, const uint8_t **ret, uint32_t *ret_len);

#endif
