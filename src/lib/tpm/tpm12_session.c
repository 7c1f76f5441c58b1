/* tpm12_session.c - TPM 1.2 authorization sessions: OIAP/OSAP, ADIP, the
 * auth HMACs with every resAuth verified. See tpm12.h. */
#include "tpm/tpm12.h"
#include "tpm/tpm12-internal.h"
#include "tpm/tpm.h"

#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

/* --- sessions -------------------------------------------------------------- */

int tpm12_oiap(struct tpm12 *t, const uint8_t auth[20], struct sess *s)
{
	struct tpm12_cmd c;
	struct tpm12_rsp r;
	uint8_t resp[TPM12_MAX_COMMAND];
	tpm12_cmd_init(&c, TPM12_TAG_RQU_COMMAND, TPM12_ORD_OIAP);
	int e = tpm12_simple(t, &c, resp, &r, "OIAP");
	if (e < 0)
		return e;
	s->handle = tpm12_get_u32(&r);
	const uint8_t *even = tpm12_get_bytes(&r, 20);
	if (!even || r.off != r.len)
		return log_error_errno(-EBADMSG, "TPM 1.2: malformed OIAP response");
	memcpy(s->even, even, 20);
	memcpy(s->key, auth, 20);
	return 0;
}

/* OSAP: shared secret = HMAC(entity auth, nonceEvenOSAP || nonceOddOSAP). */
int tpm12_osap(struct tpm12 *t, uint16_t etype, uint32_t evalue, const uint8_t auth[20],
	       struct sess *s)
{
	struct tpm12_cmd c;
	struct tpm12_rsp r;
	uint8_t resp[TPM12_MAX_COMMAND], odd_osap[20], m[40];
	int e = tpm12_random(odd_osap, 20);
	if (e < 0)
		return e;
	tpm12_cmd_init(&c, TPM12_TAG_RQU_COMMAND, TPM12_ORD_OSAP);
	tpm12_put_u16(&c, etype);
	tpm12_put_u32(&c, evalue);
	tpm12_put_bytes(&c, odd_osap, 20);
	e = tpm12_simple(t, &c, resp, &r, "OSAP");
	if (e < 0)
		return e;
	s->handle = tpm12_get_u32(&r);
	const uint8_t *even = tpm12_get_bytes(&r, 20);
	const uint8_t *even_osap = tpm12_get_bytes(&r, 20);
	if (!even || !even_osap || r.off != r.len)
		return log_error_errno(-EBADMSG, "TPM 1.2: malformed OSAP response");
	memcpy(s->even, even, 20);
	memcpy(m, even_osap, 20);
	memcpy(m + 20, odd_osap, 20);
	tpm12_hmac1(auth, m, 40, s->key);
	explicit_bzero(m, sizeof(m));
	return 0;
}

/* An authorization session the TPM may still hold (a command that failed
 * before or without ending it): FlushSpecific(TPM_RT_AUTH), errors ignored
 * (the TPM ends a session on a failed authorization itself). TPM 1.2s
 * have few session slots and keep them across connections. */
void tpm12_sess_flush(struct tpm12 *t, struct sess *s)
{
	struct tpm12_cmd c;
	struct tpm12_rsp r;
	uint8_t resp[TPM12_MAX_COMMAND];
	if (!s->handle)
		return;
	tpm12_cmd_init(&c, TPM12_TAG_RQU_COMMAND, TPM12_ORD_FlushSpecific);
	tpm12_put_u32(&c, s->handle);
	tpm12_put_u32(&c, 0x00000002); /* TPM_RT_AUTH */
	(void)tpm12_transmit(t, &c, resp, &r);
	s->handle = 0;
}

/* ADIP: encAuth = newAuth XOR SHA1(sharedSecret || nonceEven). */
void tpm12_adip(const struct sess *s, const uint8_t new_auth[20], uint8_t out[20])
{
	uint8_t m[40], x[20];
	memcpy(m, s->key, 20);
	memcpy(m + 20, s->even, 20);
	tpm12_sha1(m, 40, x);
	for (int i = 0; i < 20; i++)
		out[i] = new_auth[i] ^ x[i];
	explicit_bzero(m, sizeof(m));
	explicit_bzero(x, sizeof(x));
}

/* inParamDigest = SHA1(ordinal || parameters after the handles). */
static void in_digest(const struct tpm12_cmd *c, uint8_t out[20])
{
	EVP_MD_CTX *x = EVP_MD_CTX_new();
	unsigned int n = 20;
	EVP_DigestInit_ex(x, EVP_sha1(), NULL);
	EVP_DigestUpdate(x, c->b + 6, 4);
	EVP_DigestUpdate(x, c->b + c->param_start, c->len - c->param_start);
	EVP_DigestFinal_ex(x, out, &n);
	EVP_MD_CTX_free(x);
}

/* Append authHandle nonceOdd continue HMAC(key, digest||even||odd||cont). */
static int add_auth(struct tpm12_cmd *c, const uint8_t digest[20], struct sess *s, bool cont)
{
	uint8_t m[61], a[20];
	int e = tpm12_random(s->odd, 20);
	if (e < 0)
		return e;
	s->cont = cont;
	memcpy(m, digest, 20);
	memcpy(m + 20, s->even, 20);
	memcpy(m + 40, s->odd, 20);
	m[60] = cont;
	tpm12_hmac1(s->key, m, 61, a);
	tpm12_put_u32(c, s->handle);
	tpm12_put_bytes(c, s->odd, 20);
	tpm12_put_u8(c, cont);
	tpm12_put_bytes(c, a, 20);
	explicit_bzero(a, sizeof(a));
	return 0;
}

/* Send an authorized command (n sessions, 1 or 2) and verify every resAuth:
 * outParamDigest = SHA1(returnCode || ordinal || out parameters). */
int tpm12_auth_transmit(struct tpm12 *t, struct tpm12_cmd *c, struct sess **ss, unsigned n,
			bool cont, uint8_t *resp, struct tpm12_rsp *r, const char *what)
{
	uint8_t d[20];
	int e;
	in_digest(c, d);
	for (unsigned i = 0; i < n; i++)
		if ((e = add_auth(c, d, ss[i], cont)) < 0)
			goto fail;
	e = tpm12_transmit(t, c, resp, r);
	if (e < 0)
		goto fail;
	if (r->rc != 0) {
		log_debug("TPM 1.2: %s: %s (0x%x)", what, tpm12_rc_name(r->rc), r->rc);
		e = tpm12_rc_to_errno(r->rc);
		goto fail;
	}
	size_t tail = (size_t)n * TPM12_RSP_AUTH_TRAILER;
	if (r->len < TPM12_HEADER + tail ||
	    r->tag != (n == 1 ? TPM12_TAG_RSP_AUTH1 : TPM12_TAG_RSP_AUTH2))
	{
		e = log_error_errno(-EBADMSG, "TPM 1.2: %s: malformed response", what);
		goto fail;
	}
	size_t out_end = r->len - tail;
	EVP_MD_CTX *x = EVP_MD_CTX_new();
	unsigned int dn = 20;
	EVP_DigestInit_ex(x, EVP_sha1(), NULL);
	EVP_DigestUpdate(x, r->b + 6, 4);  /* returnCode */
	EVP_DigestUpdate(x, c->b + 6, 4);  /* ordinal */
	EVP_DigestUpdate(x, r->b + TPM12_HEADER, out_end - TPM12_HEADER);
	EVP_DigestFinal_ex(x, d, &dn);
	EVP_MD_CTX_free(x);
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *tr = r->b + out_end + (size_t)i * TPM12_RSP_AUTH_TRAILER;
		uint8_t m[61], a[20];
		memcpy(ss[i]->even, tr, 20);
		memcpy(m, d, 20);
		memcpy(m + 20, tr, 20);
		memcpy(m + 40, ss[i]->odd, 20);
		m[60] = tr[20];
		tpm12_hmac1(ss[i]->key, m, 61, a);
		if (tr[20] > 1 || CRYPTO_memcmp(a, tr + 21, 20) != 0) {
			e = log_error_errno(-EBADMSG, "TPM 1.2: %s: the response authorization "
					    "does not verify (not our TPM, or tampered)", what);
			goto fail;
		}
	}
	return 0;
fail:
	for (unsigned i = 0; i < n; i++)
		tpm12_sess_flush(t, ss[i]);
	return e;
}
