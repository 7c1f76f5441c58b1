/* qr.h - QR codes for TOTP enrolment (heads-behaviour.md §6.1).
 *
 * Contract:
 * - qr_encode(): libqrencode, automatic version, EC level L, 8-bit mode,
 *   case sensitive (as the reference `qrenc`). The text usually holds a
 *   secret (otpauth URI), so the module matrix lives in a struct secret
 *   (width*width bytes, 1 = dark module) and libqrencode's own copy is
 *   wiped before it is freed. (libqrencode's internal scratch buffers are
 *   outside our control and freed unwiped.)
 * - qr_render_utf8(): one text line per two module rows with the Unicode
 *   half blocks U+2580/U+2584/U+2588 and spaces, so it scans from a serial
 *   console: like `qrencode -t UTF8`, a *light* module is drawn with the
 *   glyph (the console's foreground) and a dark one as a space, which is right
 *   for the usual light-on-dark console. margin light modules surround the
 *   code (reference: 1). The result is a NUL-terminated secret.
 * - qr_write_png(): a grayscale PNG (black dark modules on white, scale
 *   pixels per module, margin modules) for tests and documentation; written
 *   with zlib, atomically.
 * Return 0 or a negative errno.
 */
#ifndef HEADS_QR_H
#define HEADS_QR_H

#include <stddef.h>

struct secret;

#define QR_TEXT_MAX 1024

struct qr_matrix {
	unsigned width;
	struct secret *modules; /* width*width bytes, 1 = dark */
};

/* text is a C string and len its strlen (1..QR_TEXT_MAX); -EINVAL else. */
int qr_encode(const char *text, size_t len, struct qr_matrix *ret);
void qr_matrix_free(struct qr_matrix *m);

int qr_render_utf8(const struct qr_matrix *m, unsigned margin, struct secret **ret);

int qr_write_png(const struct qr_matrix *m, unsigned scale, unsigned margin, const char *path);

#endif
