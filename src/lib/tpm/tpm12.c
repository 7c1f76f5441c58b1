/* tpm12.c - TPM 1.2 client: the transport (device or TCP), response codes,
 * the digest helpers. See tpm12.h. */
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

void tpm12_set_srk_auth(struct tpm12 *t, const uint8_t auth[20])
{
	memcpy(t->srk, auth, 20);
}

void tpm12_sess_wipe(struct sess *s)
{
	explicit_bzero(s, sizeof(*s));
}

int tpm12_random(void *p, size_t n)
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

void tpm12_sha1(const void *p, size_t n, uint8_t out[20])
{
	unsigned int len = 20;
	EVP_Digest(p, n, out, &len, EVP_sha1(), NULL);
}

void tpm12_hmac1(const uint8_t key[20], const uint8_t *msg, size_t n, uint8_t out[20])
{
	unsigned int len = 20;
	HMAC(EVP_sha1(), key, 20, msg, n, out, &len);
}

void tpm12_auth_value(const struct secret *pass, uint8_t ret[20])
{
	if (!pass)
		memset(ret, 0, 20);
	else
		tpm12_sha1(pass->data, pass->len, ret);
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
int tpm12_simple(struct tpm12 *t, struct tpm12_cmd *c, uint8_t *resp, struct tpm12_rsp *r,
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
