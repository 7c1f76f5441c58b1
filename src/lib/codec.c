#include "codec.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

static const char hexdigits[] = "0123456789abcdef";
static const char b32alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

void hex_encode(const void *data, size_t n, char *out)
{
	const uint8_t *p = data;
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexdigits[p[i] >> 4];
		out[2 * i + 1] = hexdigits[p[i] & 0xf];
	}
	out[2 * n] = '\0';
}

int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int hex_decode(const char *s, void *out, size_t out_cap, size_t *ret_len)
{
	size_t n = strlen(s);
	uint8_t *o = out;
	if (n % 2)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (hex_digit(s[i]) < 0)
			return -EINVAL;
	if (n / 2 > out_cap)
		return -ENOBUFS;
	for (size_t i = 0; i < n / 2; i++)
		o[i] = (uint8_t)(hex_digit(s[2 * i]) << 4 | hex_digit(s[2 * i + 1]));
	if (ret_len)
		*ret_len = n / 2;
	return 0;
}

size_t base32_encoded_len(size_t n, bool pad)
{
	if (pad)
		return (n + 4) / 5 * 8 + 1;
	return (n * 8 + 4) / 5 + 1;
}

void base32_encode(const void *data, size_t n, bool pad, char *out)
{
	const uint8_t *p = data;
	uint32_t buf = 0;
	int bits = 0;
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		buf = (buf << 8) | p[i];
		bits += 8;
		while (bits >= 5) {
			out[o++] = b32alpha[(buf >> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	if (bits > 0)
		out[o++] = b32alpha[(buf << (5 - bits)) & 31];
	if (pad)
		while (o % 8)
			out[o++] = '=';
	out[o] = '\0';
}

static int b32val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a';
	if (c >= '2' && c <= '7')
		return c - '2' + 26;
	return -1;
}

int base32_decode(const char *s, void *out, size_t out_cap, size_t *ret_len)
{
	size_t n = strlen(s), data_chars = n, o = 0;
	uint8_t *dst = out;
	uint32_t buf = 0;
	int bits = 0;

	/* Padding: only at the end, and only if the padded length is a
	 * multiple of 8 with a legal number of data characters. */
	while (data_chars > 0 && s[data_chars - 1] == '=')
		data_chars--;
	if (data_chars != n && n % 8)
		return -EINVAL;
	switch (data_chars % 8) {
	case 1: case 3: case 6:
		return -EINVAL;
	}
	if (data_chars != n) {
		static const size_t pads[8] = {0, 0, 6, 0, 4, 3, 0, 1};
		if (n - data_chars != pads[data_chars % 8] || data_chars % 8 == 0)
			return -EINVAL;
	}
	if ((data_chars * 5) / 8 > out_cap)
		return -ENOBUFS;
	for (size_t i = 0; i < data_chars; i++) {
		int v = b32val(s[i]);
		if (v < 0)
			return -EINVAL;
		buf = (buf << 5) | (uint32_t)v;
		bits += 5;
		if (bits >= 8) {
			dst[o++] = (uint8_t)(buf >> (bits - 8));
			bits -= 8;
		}
	}
	/* Left-over bits must be zero (canonical encoding). */
	if (bits > 0 && (buf & ((1u << bits) - 1)))
		return -EINVAL;
	if (ret_len)
		*ret_len = o;
	return 0;
}
