#include "otp.h"

#include "codec.h"
#include "fs.h"
#include "secret.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

void otp_counter_message(uint64_t c, uint8_t out[8])
{
	for (int i = 7; i >= 0; i--) {
		out[i] = (uint8_t)(c & 0xff);
		c >>= 8;
	}
}

int otp_truncate(const uint8_t hmac[OTP_SHA1_LEN], unsigned digits, uint32_t *ret_code)
{
	static const uint32_t mod[] = {1000000, 10000000, 100000000};
	unsigned off;
	uint32_t bin;

	if (digits < 6 || digits > OTP_CODE_MAX)
		return -EINVAL;
	off = hmac[OTP_SHA1_LEN - 1] & 0x0f;
	bin = (uint32_t)(hmac[off] & 0x7f) << 24 | (uint32_t)hmac[off + 1] << 16 |
	      (uint32_t)hmac[off + 2] << 8 | hmac[off + 3];
	*ret_code = bin % mod[digits - 6];
	return 0;
}

int otp_hotp(const void *key, size_t key_len, uint64_t counter, unsigned digits,
	     uint32_t *ret_code)
{
	uint8_t msg[8], mac[EVP_MAX_MD_SIZE];
	unsigned mac_len = 0;
	int r;

	if (key_len < 1 || key_len > 64)
		return -EINVAL;
	if (digits < 6 || digits > OTP_CODE_MAX)
		return -EINVAL;
	otp_counter_message(counter, msg);
	if (!HMAC(EVP_sha1(), key, (int)key_len, msg, sizeof(msg), mac, &mac_len) ||
	    mac_len != OTP_SHA1_LEN)
		return -EIO;
	r = otp_truncate(mac, digits, ret_code);
	explicit_bzero(mac, sizeof(mac));
	return r;
}

int otp_totp_counter(time_t t, unsigned period, uint64_t *ret_counter)
{
	if (t < 0 || period == 0)
		return -EINVAL;
	*ret_counter = (uint64_t)t / period;
	return 0;
}

int otp_totp(const void *key, size_t key_len, time_t t, unsigned period, unsigned digits,
	     uint32_t *ret_code)
{
	uint64_t c;
	int r = otp_totp_counter(t, period, &c);
	if (r < 0)
		return r;
	return otp_hotp(key, key_len, c, digits, ret_code);
}

void otp_format_code(uint32_t code, unsigned digits, char *out)
{
	snprintf(out, OTP_CODE_MAX + 1, "%0*u", (int)digits, code);
}

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

int otp_base32(const struct secret *key, struct secret **ret)
{
	struct secret *s;
	if (!key || key->len == 0 || key->len > 64)
		return -EINVAL;
	s = secret_new(base32_encoded_len(key->len, false));
	if (!s)
		return -errno;
	base32_encode(key->data, key->len, false, (char *)s->data);
	s->len = strlen((char *)s->data);
	*ret = s;
	return 0;
}

int otp_totp_uri(const char *label, const struct secret *key, struct secret **ret_uri)
{
	static const char prefix[] = "otpauth://totp/", mid[] = "?secret=";
	static const char hex[] = "0123456789ABCDEF";
	_cleanup_secret_ struct secret *b32 = NULL;
	struct secret *u;
	size_t ll, cap, o = 0;
	int r;

	if (!label || !*label)
		label = OTP_DEFAULT_LABEL;
	ll = strlen(label);
	if (ll > OTP_LABEL_MAX)
		return -ENAMETOOLONG;
	r = otp_base32(key, &b32);
	if (r < 0)
		return r;
	cap = strlen(prefix) + 3 * ll + strlen(mid) + b32->len;
	u = secret_new(cap);
	if (!u)
		return -errno;
	memcpy(u->data, prefix, strlen(prefix));
	o = strlen(prefix);
	for (size_t i = 0; i < ll; i++) {
		unsigned char c = (unsigned char)label[i];
		if (unreserved(c)) {
			u->data[o++] = c;
		} else {
			u->data[o++] = '%';
			u->data[o++] = (uint8_t)hex[c >> 4];
			u->data[o++] = (uint8_t)hex[c & 15];
		}
	}
	memcpy(u->data + o, mid, strlen(mid));
	o += strlen(mid);
	memcpy(u->data + o, b32->data, b32->len);
	o += b32->len;
	u->data[o] = '\0';
	u->len = o;
	*ret_uri = u;
	return 0;
}

int otp_counter_parse(const char *buf, size_t len, uint64_t *ret)
{
	uint64_t v = 0;
	size_t i = 0, digits = 0;

	if (len == 0)
		return -ENODATA;
	for (; i < len && buf[i] >= '0' && buf[i] <= '9'; i++) {
		if (++digits > 19)
			return -EINVAL;
		v = v * 10 + (uint64_t)(buf[i] - '0');
	}
	if (digits == 0)
		return -EINVAL;
	if (i < len && buf[i] == '\r')
		i++;
	if (i < len && buf[i] == '\n')
		i++;
	if (i != len)
		return -EINVAL;
	if (v > OTP_COUNTER_MAX)
		return -ERANGE;
	*ret = v;
	return 0;
}

int otp_counter_read(const char *path, uint64_t *ret)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r = fs_read_file(path, 64, &buf, &len);
	if (r == -EFBIG)
		return -EINVAL;
	if (r < 0)
		return r;
	return otp_counter_parse(buf, len, ret);
}

int otp_counter_write(const char *path, uint64_t value)
{
	char buf[32];
	int n;
	if (value > OTP_COUNTER_MAX)
		return -ERANGE;
	n = snprintf(buf, sizeof(buf), "%llu\n", (unsigned long long)value);
	return fs_write_atomic(path, buf, (size_t)n, 0644);
}
