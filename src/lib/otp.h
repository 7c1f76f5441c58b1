/* otp.h - HOTP (RFC 4226) and TOTP (RFC 6238) codes, the otpauth URI, and the
 * HOTP counter file (heads-behaviour.md §6).
 *
 * Contract:
 * - Codes are HMAC-SHA1 over the 8-byte big-endian counter, dynamic
 *   truncation (RFC 4226 §5.3), modulo 10^digits (digits 6..8). TOTP uses
 *   T = floor(unix_time / period), T0 = 0 (RFC 6238 §4).
 * - otp_truncate() is the only place truncation happens: the TPM path
 *   (tpm_otp.h) computes the HMAC inside the TPM and truncates with it, so
 *   software and TPM codes cannot drift apart.
 * - otp_totp_uri() builds `otpauth://totp/<label>?secret=<BASE32>` exactly as
 *   the reference (no issuer/algorithm/digits/period: authenticator defaults
 *   SHA-1, 6 digits, 30 s); the label is percent-encoded outside RFC 3986
 *   unreserved characters. The URI contains the secret, so it is returned in
 *   a struct secret.
 * - The HOTP counter file (<boot>/kexec_hotp_counter) holds a decimal number
 *   and a newline (reference format). otp_counter_parse() is strict and
 *   bounded: ASCII digits (at most 19, value <= OTP_COUNTER_MAX), then at
 *   most one "\n" (a "\r\n" is tolerated); anything else is -EINVAL, empty is
 *   -ENODATA. otp_counter_write() replaces it atomically (fs_write_atomic).
 * Return 0 or a negative errno; outputs untouched on failure.
 */
#ifndef HEADS_OTP_H
#define HEADS_OTP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct secret;

#define OTP_SECRET_LEN 20         /* reference: 20 random bytes */
#define OTP_SHA1_LEN 20
#define OTP_TOTP_PERIOD 30
#define OTP_DIGITS 6
#define OTP_CODE_MAX 8            /* digits */
#define OTP_COUNTER_MAX 999999999999999999ULL /* 18 nines: +1 never overflows */
#define OTP_COUNTER_FILE "kexec_hotp_counter"
#define OTP_LABEL_MAX 128
#define OTP_DEFAULT_LABEL "TPMTOTP"

/* The 8-byte big-endian message for counter c. */
void otp_counter_message(uint64_t c, uint8_t out[8]);

/* RFC 4226 §5.3 dynamic truncation of an HMAC-SHA1 value, mod 10^digits.
 * digits outside 6..8 is -EINVAL. */
int otp_truncate(const uint8_t hmac[OTP_SHA1_LEN], unsigned digits, uint32_t *ret_code);

/* HOTP/TOTP in software (tests, and hosts without a TPM object).
 * key_len 1..64 bytes. */
int otp_hotp(const void *key, size_t key_len, uint64_t counter, unsigned digits,
	     uint32_t *ret_code);
/* T for unix time t (t >= 0, period >= 1). */
int otp_totp_counter(time_t t, unsigned period, uint64_t *ret_counter);
int otp_totp(const void *key, size_t key_len, time_t t, unsigned period, unsigned digits,
	     uint32_t *ret_code);

/* "%0*u" of code into out (at least OTP_CODE_MAX + 1 bytes). */
void otp_format_code(uint32_t code, unsigned digits, char *out);

/* otpauth://totp/<label>?secret=<BASE32, no padding>. label NULL or empty
 * means OTP_DEFAULT_LABEL; longer than OTP_LABEL_MAX is -ENAMETOOLONG. */
int otp_totp_uri(const char *label, const struct secret *key, struct secret **ret_uri);
/* The base32 text (no padding) of key, for manual entry, in a secret. */
int otp_base32(const struct secret *key, struct secret **ret);

/* HOTP counter file. */
int otp_counter_parse(const char *buf, size_t len, uint64_t *ret);
/* Read <path>: missing is -ENOENT, empty -ENODATA, malformed -EINVAL. */
int otp_counter_read(const char *path, uint64_t *ret);
/* Write "<value>\n" atomically; value > OTP_COUNTER_MAX is -ERANGE. */
int otp_counter_write(const char *path, uint64_t value);

/* A device that checks HOTP codes (USB security dongle): see
 * dongle/dongle.h. */

#endif
