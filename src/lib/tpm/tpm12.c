/* tpm12.c - TPM 1.2 client: transport, OIAP/OSAP, commands. See tpm12.h. */
#include "tpm/tpm12.h"
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

struct tpm12 {
	int fd;
	bool stream; /* TCP: read the header, then the rest */
	unsigned count;
	uint8_t srk[20]; /* SRK usage auth: well-known (zeros) unless set */
};

void tpm12_set_srk_auth(struct tpm12 *t, const uint8_t auth[20])
{
	memcpy(t->srk, auth, 20);
}

/* One authorization session (OIAP or OSAP). */
struct sess {
	uint32_t handle;
	uint8_t even[20];     /* last nonceEven */
	uint8_t odd[20];      /* nonceOdd of the command in flight */
	uint8_t key[20];      /* HMAC key: usage auth (OIAP) or shared secret (OSAP) */
	bool cont;
};

static void sess_wipe(struct sess *s)
{
	explicit_bzero(s, sizeof(*s));
}

static int rnd(void *p, size_t n)
{
	uint8_t *b = p;
	while (n) {
		ssize_t k = getrandom(b, n, 0);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

static void sha1(const void *p, size_t n, uint8_t out[20])
{
	unsigned int len = 20;
	EVP_Digest(p, n, out, &len, EVP_sha1(), NULL);
}

static void hmac1(const uint8_t key[20], const uint8_t *msg, size_t n, uint8_t out[20])
{
	unsigned int len = 20;
	HMAC(EVP_sha1(), key, 20, msg, n, out, &len);
}

void tpm12_auth_value(const struct secret *pass, uint8_t ret[20])
{
	if (!pass)
		memset(ret, 0, 20);
	else
		sha1(pass->data, pass->len, ret);
}

const char *tpm12_rc_name(uint32_t rc)
{
	switch (rc) {
	case TPM12_SUCCESS: return "TPM_SUCCESS";
	case TPM12_AUTHFAIL: return "TPM_AUTHFAIL";
	case TPM12_BADINDEX: return "TPM_BADINDEX";
	case TPM12_BAD_PARAMETER: return "TPM_BAD_PARAMETER";
	case TPM12_DEACTIVATED: return "TPM_DEACTIVATED";
	case TPM12_DISABLED: return "TPM_DISABLED";
	case TPM12_FAIL: return "TPM_FAIL";
	case TPM12_NOSPACE: return "TPM_NOSPACE";
	case TPM12_NOSRK: return "TPM_NOSRK";
	case TPM12_NOTSEALED_BLOB: return "TPM_NOTSEALED_BLOB";
	case TPM12_OWNER_SET: return "TPM_OWNER_SET";
	case TPM12_RESOURCES: return "TPM_RESOURCES";
	case TPM12_WRONGPCRVAL: return "TPM_WRONGPCRVAL";
	case TPM12_AUTH2FAIL: return "TPM_AUTH2FAIL";
	case TPM12_INVALID_AUTHHANDLE: return "TPM_INVALID_AUTHHANDLE";
	case TPM12_INVALID_POSTINIT: return "TPM_INVALID_POSTINIT";
	case TPM12_BAD_PRESENCE: return "TPM_BAD_PRESENCE";
	case TPM12_AUTH_CONFLICT: return "TPM_AUTH_CONFLICT";
	case TPM12_AREA_LOCKED: return "TPM_AREA_LOCKED";
	case TPM12_PER_NOWRITE: return "TPM_PER_NOWRITE";
	case TPM12_BAD_COUNTER: return "TPM_BAD_COUNTER";
	case TPM12_RETRY: return "TPM_RETRY";
	case TPM12_DEFEND_LOCK_RUNNING: return "TPM_DEFEND_LOCK_RUNNING";
	default: return "TPM error";
	}
}

int tpm12_rc_to_errno(uint32_t rc)
{
	switch (rc) {
	case TPM12_SUCCESS: return 0;
	case TPM12_AUTHFAIL:
	case TPM12_AUTH2FAIL: return TPM_E_AUTH_FAIL;
	case TPM12_DEFEND_LOCK_RUNNING: return TPM_E_LOCKOUT;
	case TPM12_WRONGPCRVAL: return TPM_E_PCR_MISMATCH;
	case TPM12_BADINDEX:
	case TPM12_BAD_COUNTER: return TPM_E_NO_OBJECT;
	case TPM12_NOSRK: return TPM_E_NO_PRIMARY;
	case TPM12_NOSPACE:
	case TPM12_RESOURCES: return TPM_E_NV_FULL;
	case TPM12_AREA_LOCKED:
	case TPM12_PER_NOWRITE:
	case TPM12_AUTH_CONFLICT:
	case TPM12_BAD_PRESENCE:
	case TPM12_DISABLED:
	case TPM12_DEACTIVATED: return -EPERM;
	case TPM12_OWNER_SET: return -EEXIST;
	case TPM12_RETRY: return -EAGAIN;
	case TPM12_BAD_PARAMETER:
	case TPM12_NOTSEALED_BLOB: return -EINVAL;
	default: return -EIO;
	}
}

/* --- transport ------------------------------------------------------------ */

static int open_tcp(const char *spec)
{
	char host[128] = "127.0.0.1", port[16] = "2321";
	const char *p = spec;
	while (*p) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n > 5 && strncmp(p, "host=", 5) == 0 && n - 5 < sizeof(host)) {
			memcpy(host, p + 5, n - 5);
			host[n - 5] = '\0';
		} else if (n > 5 && strncmp(p, "port=", 5) == 0 && n - 5 < sizeof(port)) {
			memcpy(port, p + 5, n - 5);
			port[n - 5] = '\0';
		} else {
			return -EINVAL;
		}
		p += n;
		if (*p == ',')
			p++;
	}
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	if (getaddrinfo(host, port, &hints, &ai) != 0)
		return -EHOSTUNREACH;
	int fd = -1;
	for (struct addrinfo *a = ai; a; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd < 0)
		return -ECONNREFUSED;
	struct timeval tv = {.tv_sec = 120};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t k = write(fd, p, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static int read_exact(int fd, uint8_t *p, size_t n)
{
	while (n) {
		ssize_t k = read(fd, p, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0)
			return -ECONNRESET;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

int tpm12_transmit(struct tpm12 *t, struct tpm12_cmd *c, uint8_t *resp, struct tpm12_rsp *r)
{
	size_t len = 0;
	int e = tpm12_cmd_finish(c);
	if (e < 0)
		return e;
	t->count++;
	e = write_all(t->fd, c->b, c->len);
	if (e < 0)
		return log_error_errno(TPM_E_NO_TPM, "TPM 1.2: cannot send a command: %s", strerror(-e));
	if (t->stream) {
		e = read_exact(t->fd, resp, TPM12_HEADER);
		if (e == 0) {
			len = (size_t)resp[2] << 24 | (size_t)resp[3] << 16 | (size_t)resp[4] << 8 | resp[5];
			if (len < TPM12_HEADER || len > TPM12_MAX_COMMAND)
				return log_error_errno(-EBADMSG, "TPM 1.2: malformed response size %zu", len);
			e = read_exact(t->fd, resp + TPM12_HEADER, len - TPM12_HEADER);
		}
	} else {
		ssize_t k;
		do
			k = read(t->fd, resp, TPM12_MAX_COMMAND);
		while (k < 0 && errno == EINTR);
		e = k < 0 ? -errno : 0;
		len = k < 0 ? 0 : (size_t)k;
	}
	if (e < 0)
		return log_error_errno(TPM_E_NO_TPM, "TPM 1.2: no response: %s", strerror(-e));
	if (tpm12_rsp_parse(r, resp, len) < 0)
		return log_error_errno(-EBADMSG, "TPM 1.2: malformed response");
	return 0;
}

int tpm12_open(const char *spec, struct tpm12 **ret)
{
	struct tpm12 *t = xcalloc(1, sizeof(*t));
	if (strncmp(spec, "device:", 7) == 0) {
		t->fd = open(spec + 7, O_RDWR | O_CLOEXEC | O_NOCTTY);
		if (t->fd < 0) {
			int e = -errno;
			free(t);
			log_error("TPM 1.2: cannot open %s: %s", spec + 7, strerror(-e));
			return TPM_E_NO_TPM;
		}
	} else if (strncmp(spec, "swtpm:", 6) == 0) {
		t->fd = open_tcp(spec + 6);
		t->stream = true;
		if (t->fd < 0) {
			free(t);
			log_error("TPM 1.2: cannot connect to '%s'", spec);
			return TPM_E_NO_TPM;
		}
	} else {
		free(t);
		log_error("TPM 1.2: unknown transport '%s' (device:PATH or swtpm:host=H,port=P)", spec);
		return TPM_E_NO_TPM;
	}
	/* TPM_Startup(ST_CLEAR); TPM_INVALID_POSTINIT = already started. */
	struct tpm12_cmd c;
	struct tpm12_rsp r;
	uint8_t resp[TPM12_MAX_COMMAND];
	tpm12_cmd_init(&c, TPM12_TAG_RQU_COMMAND, TPM12_ORD_Startup);
	tpm12_put_u16(&c, TPM12_ST_CLEAR);
	int e = tpm12_transmit(t, &c, resp, &r);
	if (e == 0 && r.rc != 0 && r.rc != TPM12_INVALID_POSTINIT) {
		log_error("TPM 1.2: Startup: %s (0x%x)", tpm12_rc_name(r.rc), r.rc);
		e = TPM_E_NO_TPM;
	}
	if (e < 0) {
		tpm12_close(t);
		return TPM_E_NO_TPM;
	}
	*ret = t;
	return 0;
}

void tpm12_close(struct tpm12 *t)
{
	if (!t)
		return;
	if (t->fd >= 0)
		close(t->fd);
	explicit_bzero(t, sizeof(*t));
	free(t);
}

unsigned tpm12_command_count(const struct tpm12 *t)
{
	return t->count;
}

/* A command without authorization whose answer must be TPM_SUCCESS. */
static int simple(struct tpm12 *t, struct tpm12_cmd *c, uint8_t *resp, struct tpm12_rsp *r,
		  const char *what)
{
	int e = tpm12_transmit(t, c, resp, r);
	if (e < 0)
		return e;
	if (r->rc != 0) {
		e = tpm12_rc_to_errno(r->rc);
		log_debug("TPM 1.2: %s: %s (0x%x)", what, tpm12_rc_name(r->rc), r->rc);
		return e;
	}
	return 0;
}

/* --- sessions -------------------------------------------------------------- */

static int oiap(struct tpm12 *t, const uint8_t auth[20], struct sess *s)
{
	struct tpm12_cmd c;
	struct tpm12_rsp r;
	uint8_t resp[TPM12_MAX_COMMAND];
	tpm12_cmd_init(&c, TPM12_TAG_RQU_COMMAND, TPM12_ORD_OIAP);
	int e = simple(t, &c, resp, &r, "OIAP");
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
static int osap(struct tpm12 *t, uint16_t etype, uint32_t evalue, const uint8_t auth[20],
		struct sess *s)
{
	struct tpm12_cmd c;
	struct tpm12_rsp r;
	uint8_t resp[TPM12_MAX_COMMAND], odd_osap[20], m[40];
	int e = rnd(odd_osap, 20);
	if (e < 0)
		return e;
	tpm12_cmd_init(&c, TPM12_TAG_RQU_COMMAND, TPM12_ORD_OSAP);
	tpm12_put_u16(&c, etype);
	tpm12_put_u32(&c, evalue);
	tpm12_put_bytes(&c, odd_osap, 20);
	e = simple(t, &c, resp, &r, "OSAP");
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
	hmac1(auth, m, 40, s->key);
	explicit_bzero(m, sizeof(m));
	return 0;
}

/* An authorization session the TPM may still hold (a command that failed
 * before or without ending it): FlushSpecific(TPM_RT_AUTH), errors ignored
 * (the TPM ends a session on a failed authorization itself). TPM 1.2s
 * have few session slots and keep them across connections. */
static void sess_flush(struct tpm12 *t, struct sess *s)
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
static void adip(const struct sess *s, const uint8_t new_auth[20], uint8_t out[20])
{
	uint8_t m[40], x[20];
	memcpy(m, s->key, 20);
	memcpy(m + 20, s->even, 20);
	sha1(m, 40, x);
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
	int e = rnd(s->odd, 20);
	if (e < 0)
		return e;
	s->cont = cont;
	memcpy(m, digest, 20);
	memcpy(m + 20, s->even, 20);
	memcpy(m + 40, s->odd, 20);
	m[60] = cont;
	hmac1(s->key, m, 61, a);
	tpm12_put_u32(c, s->handle);
	tpm12_put_bytes(c, s->odd, 20);
	tpm12_put_u8(c, cont);
	tpm12_put_bytes(c, a, 20);
	explicit_bzero(a, sizeof(a));
	return 0;
}

/* Send an authorized command (n sessions, 1 or 2) and verify every resAuth:
 * outParamDigest = SHA1(returnCode || ordinal || out parameters). */
static int auth_transmit(struct tpm12 *t, struct tpm12_cmd *c, struct sess **ss, unsigned n,
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
		hmac1(ss[i]->key, m, 61, a);
		if (tr[20] > 1 || CRYPTO_memcmp(a, tr + 21, 20) != 0) {
			e = log_error_errno(-EBADMSG, "TPM 1.2: %s: the response authorization "
					    "does not verify (not our TPM, or tampered)", what);
			goto fail;
		}
	}
	return 0;
fail:
	for (unsigned i = 0; i < n; i++)
		sess_flush(t, ss[i]);
	return e;
}

/* --- commands --------------------------------------------------------------- */

int tpm12_pcr_read(struct tpm12 *t, unsigned pcr, uint8_t out[20])
{
	struct tpm12_cmd c;
	struct tpm12_rsp r;
	uint8_t resp[TPM12_MAX_COMMAND];
	if (pcr >= TPM_PCR_COUNT)
		return -EINVAL;
	tpm12_cmd_init(&c, TPM12_TAG_RQU_COMMAND, TPM12_ORD_PcrRead);
	tpm12_put_u32(&c, pcr);
	int e = simple(t, &c, resp, &r, "PcrRead");
	if (e < 0)
		return log_error_errno(e, "TPM 1.2: PcrRead(%u) failed", pcr);
	const uint8_t *d = tpm12_get_bytes(&r, 20);
	if (!d || r.off != r.len)
		return log_error_errno(-EBADMSG, "TPM 1.2: malformed PcrRead response");
	memcpy(out, d, 20);
	return 0;
}

int tpm12_extend(struct tpm12 *t, unsigned pcr, const uint8_t digest[20], uint8_t ret_new[20])
{
	struct tpm12_cmd c;
	struct tpm12_rsp r;
	uint8_t resp[TPM12_MAX_COMMAND];
	if (pcr >= TPM_PCR_COUNT)
		return -EINVAL;
	tpm12_cmd_init(&c, TPM12_TAG_RQU_COMMAND, TPM12_ORD_Extend);
	tpm12_put_u32(&c, pcr);
	tpm12_put_bytes(&c, digest, 20);
	int e = simple(t, &c, resp, &r, "Extend");
	if (e < 0)
		return log_error_errno(e, "TPM 1.2: Extend(%u) failed", pcr);
	const uint8_t *d = tpm12_get_bytes(&r, 20);
	if (!d || r.off != r.len)
		return log_error_errno(-EBADMSG, "TPM 1.2: malformed Extend response");
	if (ret_new)
		memcpy(ret_new, d, 20);
	return 0;
}

/* GetCapability(cap, subcap of subcap_len bytes): the resp blob, bounded. */
static int get_cap(struct tpm12 *t, uint32_t cap, const uint8_t *sub, uint32_t sub_len,
		   uint8_t *resp, const uint8_t **ret, uint32_t *ret_len)
{
	struct tpm12_cmd c;
	struct tpm12_rsp r;
	tpm12_cmd_init(&c, TPM12_TAG_RQU_COMMAND, TPM12_ORD_GetCapability);
	tpm12_put_u32(&c, cap);
	tpm12_put_u32(&c, sub_len);
	tpm12_put_bytes(&c, sub, sub_len);
	int e = simple(t, &c, resp, &r, "GetCapability");
	if (e < 0)
		return e;
	uint32_t n = tpm12_get_u32(&r);
	const uint8_t *p = tpm12_get_bytes(&r, n);
	if (!p || r.off != r.len)
		return log_error_errno(-EBADMSG, "TPM 1.2: malformed GetCapability response");
	*ret = p;
	*ret_len = n;
	return 0;
}

int tpm12_manufacturer(struct tpm12 *t, char ret[5])
{
	uint8_t resp[TPM12_MAX_COMMAND], sub[4] = {0, 0, 0x01, 0x03};
	const uint8_t *p;
	uint32_t n;
	int e = get_cap(t, TPM12_CAP_PROPERTY, sub, 4, resp, &p, &n);
	if (e < 0)
		return e;
	if (n != 4)
		return -EBADMSG;
	for (int i = 0; i < 4; i++)
		ret[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : ' ';
	ret[4] = '\0';
	return 0;
}

int tpm12_perm_flags(struct tpm12 *t, struct tpm12_perm_flags *ret)
{
	uint8_t resp[TPM12_MAX_COMMAND], sub[4] = {0, 0, 0x01, 0x08};
	const uint8_t *p;
	uint32_t n;
	int e = get_cap(t, TPM12_CAP_FLAG, sub, 4, resp, &p, &n);
	if (e < 0)
		return e;
	return tpm12_parse_perm_flags(p, n, ret);
}

int tpm12_count_handles(struct tpm12 *t, uint32_t resource_type, unsigned *ret)
{
	uint8_t resp[TPM12_MAX_COMMAND], sub[4] = {0, 0, 0, (uint8_t)resource_type};
	const uint8_t *p;
	uint32_t n;
	int e = get_cap(t, TPM12_CAP_HANDLE, sub, 4, resp, &p, &n);
	if (e < 0)
		return e;
	/* TPM_KEY_HANDLE_LIST: loaded(2) handle(4)[loaded] */
	if (n < 2 || n != 2 + 4 * (uint32_t)(p[0] << 8 | p[1]))
		return log_error_errno(-EBADMSG, "TPM 1.2: malformed handle list");
	*ret = (unsigned)(p[0] << 8 | p[1]);
	return 0;
}

int tpm12_da_info(struct tpm12 *t, struct tpm12_da_info *ret)
{
	uint8_t resp[TPM12_MAX_COMMAND], sub[2] = {0, TPM12_ET_OWNER};
	const uint8_t *p;
	uint32_t n;
	int e = get_cap(t, TPM12_CAP_DA_LOGIC, sub, 2, resp, &p, &n);
	if (e < 0)
		return e;
	e = tpm12_parse_da_info(p, n, ret);
	if (e < 0)
		log_error("TPM 1.2: malformed DA information");
	return e;
}

int tpm12_check_owner(struct tpm12 *t, const struct secret *owner)
{
	struct tpm12_cmd c;
	struct tpm12_rsp r;
	struct sess s = {0}, *ss[1] = {&s};
	uint8_t resp[TPM12_MAX_COMMAND], a[20];
	tpm12_auth_value(owner, a);
	int e = oiap(t, a, &s);
	explicit_bzero(a, sizeof(a));
	if (e < 0)
		return e;
	tpm12_cmd_init(&c, TPM12_TAG_RQU_AUTH1, TPM12_ORD_GetCapabilityOwner);
	e = auth_transmit(t, &c, ss, 1, false, resp, &r, "GetCapabilityOwner");
	sess_wipe(&s);
	return e;
}

static int counter_value(struct tpm12_rsp *r, unsigned n_auth, uint32_t *ret)
{
	struct tpm12_counter_value v;
	const uint8_t *p = tpm12_get_bytes(r, 10);
	if (!p || tpm12_rsp_left(r, n_auth) != 0 || tpm12_parse_counter_value(p, 10, &v) < 0)
		return log_error_errno(-EBADMSG, "TPM 1.2: malformed counter value");
	*ret = v.counter;
	return 0;
}

int tpm12_counter_create(struct tpm12 *t, const struct secret *owner, const struct secret *counter_auth,
			 const uint8_t label[4], uint32_t *ret_id, uint32_t *ret_value)
{
	struct tpm12_cmd c;
	struct tpm12_rsp r;
	struct sess s = {0}, *ss[1] = {&s};
	uint8_t resp[TPM12_MAX_COMMAND], a[20], enc[20];
	tpm12_auth_value(owner, a);
	int e = osap(t, TPM12_ET_OWNER, 0, a, &s);
	if (e < 0)
		goto out;
	tpm12_auth_value(counter_auth, a);
	adip(&s, a, enc);
	tpm12_cmd_init(&c, TPM12_TAG_RQU_AUTH1, TPM12_ORD_CreateCounter);
	tpm12_put_bytes(&c, enc, 20);
	tpm12_put_bytes(&c, label, 4);
	e = auth_transmit(t, &c, ss, 1, false, resp, &r, "CreateCounter");
	if (e < 0)
		goto out;
	*ret_id = tpm12_get_u32(&r);
	e = counter_value(&r, 1, ret_value);
out:
	explicit_bzero(a, sizeof(a));
	sess_wipe(&s);
	return e;
}

int tpm12_counter_read(struct tpm12 *t, uint32_t id, uint32_t *ret_value)
{
	struct tpm12_cmd c;
	struct tpm12_rsp r;
	uint8_t resp[TPM12_MAX_COMMAND];
	tpm12_cmd_init(&c, TPM12_TAG_RQU_COMMAND, TPM12_ORD_ReadCounter);
	tpm12_put_u32(&c, id);
	int e = simple(t, &c, resp, &r, "ReadCounter");
	if (e < 0)
		return e;
	return counter_value(&r, 0, ret_value);
}

int tpm12_counter_increment(struct tpm12 *t, uint32_t id, const struct secret *counter_auth,
			    uint32_t *ret_value)
{
	struct tpm12_cmd c;
	struct tpm12_rsp r;
	struct sess s = {0}, *ss[1] = {&s};
	uint8_t resp[TPM12_MAX_COMMAND], a[20];
	tpm12_auth_value(counter_auth, a);
	int e = oiap(t, a, &s);
	explicit_bzero(a, sizeof(a));
	if (e < 0)
		return e;
	tpm12_cmd_init(&c, TPM12_TAG_RQU_AUTH1, TPM12_ORD_IncrementCounter);
	tpm12_put_u32(&c, id);
	e = auth_transmit(t, &c, ss, 1, false, resp, &r, "IncrementCounter");
	sess_wipe(&s);
	if (e < 0)
		return e;
	return counter_value(&r, 1, ret_value);
}

static void put_pcr_info_short_none(struct tpm12_cmd *c)
{
	uint8_t z[20] = {0};
	tpm12_put_u16(c, 3);
	tpm12_put_bytes(c, z, 3);
	tpm12_put_u8(c, 0x1f); /* localityAtRelease: any */
	tpm12_put_bytes(c, z, 20);
}

int tpm12_nv_define(struct tpm12 *t, uint32_t index, uint32_t size, uint32_t per,
		    const struct secret *owner)
{
	struct tpm12_cmd c;
	struct tpm12_rsp r;
	struct sess s = {0}, *ss[1] = {&s};
	uint8_t resp[TPM12_MAX_COMMAND], a[20], enc[20], zero[20] = {0};
	tpm12_auth_value(owner, a);
	int e = osap(t, TPM12_ET_OWNER, 0, a, &s);
	explicit_bzero(a, sizeof(a));
	if (e < 0)
		return e;
	adip(&s, zero, enc); /* the index's own auth: empty (well-known) */
	tpm12_cmd_init(&c, TPM12_TAG_RQU_AUTH1, TPM12_ORD_NV_DefineSpace);
	tpm12_put_u16(&c, 0x0018); /* TPM_TAG_NV_DATA_PUBLIC */
	tpm12_put_u32(&c, index);
	put_pcr_info_short_none(&c);
	put_pcr_info_short_none(&c);
	tpm12_put_u16(&c, 0x0017); /* TPM_TAG_NV_ATTRIBUTES */
	tpm12_put_u32(&c, per);
	tpm12_put_u8(&c, 0); /* bReadSTClear */
	tpm12_put_u8(&c, 0); /* bWriteSTClear */
	tpm12_put_u8(&c, 0); /* bWriteDefine */
	tpm12_put_u32(&c, size);
	tpm12_put_bytes(&c, enc, 20);
	e = auth_transmit(t, &c, ss, 1, false, resp, &r, "NV_DefineSpace");
	sess_wipe(&s);
	return e;
}

int tpm12_nv_info(struct tpm12 *t, uint32_t index, struct tpm12_nv_public *ret)
{
	uint8_t resp[TPM12_MAX_COMMAND], sub[4] = {(uint8_t)(index >> 24), (uint8_t)(index >> 16),
						   (uint8_t)(index >> 8), (uint8_t)index};
	const uint8_t *p;
	uint32_t n;
	int e = get_cap(t, TPM12_CAP_NV_INDEX, sub, 4, resp, &p, &n);
	if (e == -EINVAL || e == TPM_E_NO_OBJECT)
		return TPM_E_NO_OBJECT; /* TPM_BADINDEX / TPM_BAD_PARAMETER */
	if (e < 0)
		return e;
	e = tpm12_parse_nv_public(p, n, ret);
	if (e < 0)
		return log_error_errno(e, "TPM 1.2: malformed NV index information");
	return 0;
}

int tpm12_nv_undefine(struct tpm12 *t, uint32_t index, const struct secret *owner)
{
	struct tpm12_nv_public pub;
	int e = tpm12_nv_info(t, index, &pub);
	if (e < 0)
		return e;
	return tpm12_nv_define(t, index, 0, pub.permission, owner);
}

int tpm12_nv_write(struct tpm12 *t, uint32_t index, const void *data, size_t len,
		   const struct secret *owner)
{
	struct tpm12_cmd c;
	struct tpm12_rsp r;
	uint8_t resp[TPM12_MAX_COMMAND];
	if (len > 2048)
		return -E2BIG;
	tpm12_cmd_init(&c, owner ? TPM12_TAG_RQU_AUTH1 : TPM12_TAG_RQU_COMMAND,
		       TPM12_ORD_NV_WriteValue);
	tpm12_put_u32(&c, index);
	tpm12_put_u32(&c, 0);
	tpm12_put_u32(&c, (uint32_t)len);
	tpm12_put_bytes(&c, data, len);
	if (!owner)
		return simple(t, &c, resp, &r, "NV_WriteValue");
	struct sess s = {0}, *ss[1] = {&s};
	uint8_t a[20];
	tpm12_auth_value(owner, a);
	int e = oiap(t, a, &s);
	explicit_bzero(a, sizeof(a));
	if (e == 0)
		e = auth_transmit(t, &c, ss, 1, false, resp, &r, "NV_WriteValue");
	sess_wipe(&s);
	return e;
}

int tpm12_nv_read(struct tpm12 *t, uint32_t index, size_t len, uint8_t *out)
{
	struct tpm12_cmd c;
	struct tpm12_rsp r;
	uint8_t resp[TPM12_MAX_COMMAND];
	if (len > 2048)
		return -E2BIG;
	tpm12_cmd_init(&c, TPM12_TAG_RQU_COMMAND, TPM12_ORD_NV_ReadValue);
	tpm12_put_u32(&c, index);
	tpm12_put_u32(&c, 0);
	tpm12_put_u32(&c, (uint32_t)len);
	int e = simple(t, &c, resp, &r, "NV_ReadValue");
	if (e < 0)
		return e;
	uint32_t n = tpm12_get_u32(&r);
	const uint8_t *p = tpm12_get_bytes(&r, n);
	if (!p || n != len || r.off != r.len)
		return log_error_errno(-EBADMSG, "TPM 1.2: malformed NV_ReadValue response");
	memcpy(out, p, n);
	return 0;
}

int tpm12_seal(struct tpm12 *t, uint32_t mask, const uint8_t (*values)[20],
	       const struct secret *data, const struct secret *auth, uint8_t **ret, size_t *ret_len)
{
	struct tpm12_cmd c;
	struct tpm12_rsp r;
	struct sess s = {0}, *ss[1] = {&s};
	uint8_t resp[TPM12_MAX_COMMAND], a[20], enc[20], zero[20] = {0}, rel[20];
	uint8_t comp[2 + 2 + 4 + 16 * 20];
	size_t cn = 0, nv = 0;
	int e;

	if (mask >> 16 || !data || data->len > 256)
		return -EINVAL;
	/* TPM_PCR_COMPOSITE: select(2 + 2 bytes) valueSize(4) values */
	comp[cn++] = 0;
	comp[cn++] = 2;
	comp[cn++] = (uint8_t)mask;
	comp[cn++] = (uint8_t)(mask >> 8);
	for (unsigned i = 0; i < 16; i++)
		if (mask & (1u << i))
			nv++;
	comp[cn++] = 0;
	comp[cn++] = 0;
	comp[cn++] = (uint8_t)((nv * 20) >> 8);
	comp[cn++] = (uint8_t)(nv * 20);
	for (unsigned i = 0; i < 16; i++)
		if (mask & (1u << i)) {
			memcpy(comp + cn, values[i], 20);
			cn += 20;
		}
	sha1(comp, cn, rel);

	e = osap(t, TPM12_ET_KEYHANDLE, TPM12_KH_SRK, t->srk, &s);
	if (e < 0)
		return e;
	tpm12_auth_value(auth, a);
	adip(&s, a, enc);
	explicit_bzero(a, sizeof(a));
	tpm12_cmd_init(&c, TPM12_TAG_RQU_AUTH1, TPM12_ORD_Seal);
	tpm12_put_u32(&c, TPM12_KH_SRK);
	tpm12_params_start(&c);
	tpm12_put_bytes(&c, enc, 20);
	tpm12_put_u32(&c, mask ? 2 + 2 + 20 + 20 : 0);
	if (mask) {
		tpm12_put_u16(&c, 2);
		tpm12_put_u8(&c, (uint8_t)mask);
		tpm12_put_u8(&c, (uint8_t)(mask >> 8));
		tpm12_put_bytes(&c, rel, 20);
		tpm12_put_bytes(&c, zero, 20); /* digestAtCreation: set by the TPM */
	}
	tpm12_put_u32(&c, (uint32_t)data->len);
	tpm12_put_bytes(&c, data->data, data->len);
	e = auth_transmit(t, &c, ss, 1, false, resp, &r, "Seal");
	explicit_bzero(c.b, sizeof(c.b));
	sess_wipe(&s);
	if (e < 0)
		return e;
	size_t left = tpm12_rsp_left(&r, 1), blen;
	const uint8_t *p = tpm12_get_bytes(&r, left);
	if (!p || tpm12_stored_data_size(p, left, &blen) < 0 || blen != left)
		return log_error_errno(-EBADMSG, "TPM 1.2: malformed sealed blob");
	*ret = xmalloc(blen);
	memcpy(*ret, p, blen);
	*ret_len = blen;
	return 0;
}

int tpm12_unseal(struct tpm12 *t, const uint8_t *blob, size_t len, const struct secret *auth,
		 struct secret **ret)
{
	struct tpm12_cmd c;
	struct tpm12_rsp r;
	struct sess s1 = {0}, s2 = {0}, *ss[2] = {&s1, &s2};
	uint8_t resp[TPM12_MAX_COMMAND], a[20], zero[20] = {0};
	size_t blen;
	int e;

	if (tpm12_stored_data_size(blob, len, &blen) < 0)
		return log_error_errno(-EBADMSG, "TPM 1.2: not a sealed blob");
	(void)zero;
	e = oiap(t, t->srk, &s1);
	if (e < 0)
		return e;
	tpm12_auth_value(auth, a);
	e = oiap(t, a, &s2);
	explicit_bzero(a, sizeof(a));
	if (e < 0) {
		sess_flush(t, &s1);
		goto out;
	}
	tpm12_cmd_init(&c, TPM12_TAG_RQU_AUTH2, TPM12_ORD_Unseal);
	tpm12_put_u32(&c, TPM12_KH_SRK);
	tpm12_params_start(&c);
	tpm12_put_bytes(&c, blob, blen);
	e = auth_transmit(t, &c, ss, 2, false, resp, &r, "Unseal");
	if (e < 0)
		goto out;
	uint32_t n = tpm12_get_u32(&r);
	const uint8_t *p = tpm12_get_bytes(&r, n);
	if (!p || tpm12_rsp_left(&r, 2) != 0) {
		e = log_error_errno(-EBADMSG, "TPM 1.2: malformed Unseal response");
		goto out;
	}
	*ret = secret_dup(p, n);
	e = *ret ? 0 : -ENOMEM;
out:
	explicit_bzero(resp, sizeof(resp));
	sess_wipe(&s1);
	sess_wipe(&s2);
	return e;
}

/* --- ownership --------------------------------------------------------------- */

#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/bn.h>
#include <openssl/rsa.h>

static int phys_presence(struct tpm12 *t, uint16_t v)
{
	struct tpm12_cmd c;
	struct tpm12_rsp r;
	uint8_t resp[TPM12_MAX_COMMAND];
	tpm12_cmd_init(&c, TPM12_TAG_RQU_COMMAND, TPM12_ORD_TSC_PhysicalPresence);
	tpm12_put_u16(&c, v);
	return simple(t, &c, resp, &r, "TSC_PhysicalPresence");
}

static int no_arg(struct tpm12 *t, uint32_t ord, int arg, const char *what)
{
	struct tpm12_cmd c;
	struct tpm12_rsp r;
	uint8_t resp[TPM12_MAX_COMMAND];
	tpm12_cmd_init(&c, TPM12_TAG_RQU_COMMAND, ord);
	if (arg >= 0)
		tpm12_put_u8(&c, (uint8_t)arg);
	return simple(t, &c, resp, &r, what);
}

/* RSA-OAEP(SHA-1, MGF1-SHA-1, label "TCPA") to the EK. */
static int ek_encrypt(const struct tpm12_rsa_pub *pk, const uint8_t in[20], uint8_t *out,
		      size_t *out_len)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *kctx = NULL, *ctx = NULL;
	EVP_PKEY *key = NULL;
	BIGNUM *n = BN_bin2bn(pk->n, (int)pk->n_len, NULL), *e = BN_new();
	int r = -EIO;

	if (!bld || !n || !e || !BN_set_word(e, pk->e) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
	    !(params = OSSL_PARAM_BLD_to_param(bld)) ||
	    !(kctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) ||
	    EVP_PKEY_fromdata_init(kctx) <= 0 ||
	    EVP_PKEY_fromdata(kctx, &key, EVP_PKEY_PUBLIC_KEY, params) <= 0 ||
	    !(ctx = EVP_PKEY_CTX_new(key, NULL)) || EVP_PKEY_encrypt_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha1()) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha1()) <= 0)
		goto out;
	{
		unsigned char *label = OPENSSL_malloc(4);
		if (!label)
			goto out;
		memcpy(label, "TCPA", 4);
		if (EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, label, 4) <= 0) {
			OPENSSL_free(label);
			goto out;
		}
	}
	if (EVP_PKEY_encrypt(ctx, out, out_len, in, 20) <= 0)
		goto out;
	r = 0;
out:
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_CTX_free(kctx);
	EVP_PKEY_free(key);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return r;
}

int tpm12_reset(struct tpm12 *t, const struct secret *owner)
{
	struct tpm12_cmd c;
	struct tpm12_rsp r;
	struct tpm12_rsa_pub pk;
	struct tpm12_perm_flags f;
	struct sess s = {0}, *ss[1] = {&s};
	uint8_t resp[TPM12_MAX_COMMAND], nonce[20], sum[20], oa[20], sa[20] = {0};
	uint8_t eo[512], es[512];
	size_t eo_len = sizeof(eo), es_len = sizeof(es), used;
	int e;

	/* Physical presence by command (the firmware leaves it enabled on
	 * Heads boards; swtpm allows it). Enabling may be locked: then the
	 * "present" assertion alone decides. */
	(void)phys_presence(t, 0x0020); /* TPM_PHYSICAL_PRESENCE_CMD_ENABLE */
	e = phys_presence(t, 0x0008);   /* TPM_PHYSICAL_PRESENCE_PRESENT */
	if (e < 0)
		return log_error_errno(e, "TPM 1.2: cannot assert physical presence");
	e = no_arg(t, TPM12_ORD_ForceClear, -1, "ForceClear");
	if (e < 0) {
		log_error("TPM 1.2: ForceClear failed (%s)", strerror(-e));
		goto out;
	}
	if ((e = no_arg(t, TPM12_ORD_PhysicalEnable, -1, "PhysicalEnable")) < 0 ||
	    (e = no_arg(t, TPM12_ORD_PhysicalSetDeactivated, 0, "PhysicalSetDeactivated")) < 0)
		goto out;
	e = tpm12_perm_flags(t, &f);
	if (e == 0 && (f.disabled || f.deactivated)) {
		log_error("TPM 1.2: cleared, but the TPM stays deactivated until the next power "
			  "cycle: power off, then reset the TPM again");
		e = -EPERM;
		goto out;
	}
	/* ReadPubek with an anti-replay nonce: checksum = SHA1(pubkey || nonce) */
	if ((e = rnd(nonce, 20)) < 0)
		goto out;
	tpm12_cmd_init(&c, TPM12_TAG_RQU_COMMAND, TPM12_ORD_ReadPubek);
	tpm12_put_bytes(&c, nonce, 20);
	if ((e = simple(t, &c, resp, &r, "ReadPubek")) < 0) {
		log_error("TPM 1.2: ReadPubek failed (%s): no endorsement key?", strerror(-e));
		goto out;
	}
	{
		size_t left = r.len - r.off;
		const uint8_t *p = tpm12_get_bytes(&r, left);
		if (!p || left < 20 || tpm12_parse_pubkey(p, left - 20, &pk, &used) < 0 ||
		    used != left - 20) {
			e = log_error_errno(-EBADMSG, "TPM 1.2: malformed endorsement key");
			goto out;
		}
		uint8_t m[TPM12_MAX_COMMAND];
		memcpy(m, p, used);
		memcpy(m + used, nonce, 20);
		sha1(m, used + 20, sum);
		if (CRYPTO_memcmp(sum, p + used, 20) != 0) {
			e = log_error_errno(-EBADMSG, "TPM 1.2: ReadPubek checksum does not verify");
			goto out;
		}
	}
	tpm12_auth_value(owner, oa);
	if (ek_encrypt(&pk, oa, eo, &eo_len) < 0 || ek_encrypt(&pk, sa, es, &es_len) < 0) {
		e = log_error_errno(-EIO, "TPM 1.2: cannot encrypt to the endorsement key");
		goto out;
	}
	if ((e = oiap(t, oa, &s)) < 0)
		goto out;
	tpm12_cmd_init(&c, TPM12_TAG_RQU_AUTH1, TPM12_ORD_TakeOwnership);
	tpm12_put_u16(&c, 0x0005); /* TPM_PID_OWNER */
	tpm12_put_u32(&c, (uint32_t)eo_len);
	tpm12_put_bytes(&c, eo, eo_len);
	tpm12_put_u32(&c, (uint32_t)es_len);
	tpm12_put_bytes(&c, es, es_len);
	/* srkParams: TPM_KEY 1.1, storage, auth always, RSA 2048 OAEP */
	tpm12_put_u32(&c, 0x01010000);
	tpm12_put_u16(&c, 0x0011); /* TPM_KEY_STORAGE */
	tpm12_put_u32(&c, 0);      /* keyFlags */
	tpm12_put_u8(&c, 0x01);    /* TPM_AUTH_ALWAYS */
	tpm12_put_u32(&c, 1);      /* TPM_ALG_RSA */
	tpm12_put_u16(&c, 0x0003); /* TPM_ES_RSAESOAEP_SHA1_MGF1 */
	tpm12_put_u16(&c, 0x0001); /* TPM_SS_NONE */
	tpm12_put_u32(&c, 12);
	tpm12_put_u32(&c, 2048);
	tpm12_put_u32(&c, 2);
	tpm12_put_u32(&c, 0);
	tpm12_put_u32(&c, 0); /* PCRInfoSize */
	tpm12_put_u32(&c, 0); /* pubKey */
	tpm12_put_u32(&c, 0); /* encData */
	e = auth_transmit(t, &c, ss, 1, false, resp, &r, "TakeOwnership");
	if (e < 0)
		log_error("TPM 1.2: TakeOwnership failed (%s)", strerror(-e));
out:
	(void)phys_presence(t, 0x0010); /* TPM_PHYSICAL_PRESENCE_NOTPRESENT */
	explicit_bzero(oa, sizeof(oa));
	sess_wipe(&s);
	return e;
}
