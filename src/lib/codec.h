/* codec.h - hex and base32 (RFC 4648 section 6) encoding.
 *
 * Encoders write a NUL-terminated string into a caller buffer of the size the
 * *_len() helper returns (including the NUL). Decoders are strict: any
 * character outside the alphabet, bad padding or non-zero trailing bits is
 * -EINVAL; output larger than out_cap is -ENOBUFS. Both decoders accept upper
 * and lower case. base32 decoding accepts input with or without '=' padding.
 */
#ifndef HEADS_CODEC_H
#define HEADS_CODEC_H

#include <stdbool.h>
#include <stddef.h>

/* The value of one hex digit (either case), or -1. */
int hex_digit(char c);

static inline size_t hex_encoded_len(size_t n) { return 2 * n + 1; }
/* Lower-case hex. */
void hex_encode(const void *data, size_t n, char *out);
/* Decode exactly strlen(s)/2 bytes. Returns 0 or -EINVAL/-ENOBUFS. */
int hex_decode(const char *s, void *out, size_t out_cap, size_t *ret_len);

/* With padding: 8 * ceil(n/5) + 1. Without: ceil(8n/5) + 1. */
size_t base32_encoded_len(size_t n, bool pad);
void base32_encode(const void *data, size_t n, bool pad, char *out);
int base32_decode(const char *s, void *out, size_t out_cap, size_t *ret_len);

#endif
