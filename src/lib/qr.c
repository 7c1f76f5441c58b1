#include "qr.h"

#include "fs.h"
#include "secret.h"
#include "util.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <qrencode.h>
#include <zlib.h>

int qr_encode(const char *text, size_t len, struct qr_matrix *ret)
{
	QRcode *q;
	struct secret *mods;
	size_t n;

	if (!text || len == 0 || len > QR_TEXT_MAX || memchr(text, '\0', len))
		return -EINVAL;
	if (text[len] != '\0')
		return -EINVAL;
	q = QRcode_encodeString(text, 0, QR_ECLEVEL_L, QR_MODE_8, 1);
	if (!q)
		return errno > 0 ? -errno : -EIO;
	n = (size_t)q->width * (size_t)q->width;
	mods = secret_new(n);
	if (!mods) {
		int r = -errno;
		explicit_bzero(q->data, n);
		QRcode_free(q);
		return r;
	}
	/* Bit 0 of each libqrencode byte is the module colour (1 = dark). */
	for (size_t i = 0; i < n; i++)
		mods->data[i] = q->data[i] & 1;
	mods->len = n;
	ret->width = (unsigned)q->width;
	ret->modules = mods;
	explicit_bzero(q->data, n);
	QRcode_free(q);
	return 0;
}

void qr_matrix_free(struct qr_matrix *m)
{
	if (!m)
		return;
	secret_free(m->modules);
	m->modules = NULL;
	m->width = 0;
}

/* Dark module at (x, y) of the margin-extended square; outside is light. */
static bool dark(const struct qr_matrix *m, unsigned margin, unsigned x, unsigned y)
{
	if (x < margin || y < margin || x >= margin + m->width || y >= margin + m->width)
		return false;
	return m->modules->data[(size_t)(y - margin) * m->width + (x - margin)] != 0;
}

int qr_render_utf8(const struct qr_matrix *m, unsigned margin, struct secret **ret)
{
	static const char full[] = "\xe2\x96\x88", upper[] = "\xe2\x96\x80",
			  lower[] = "\xe2\x96\x84";
	struct secret *s;
	unsigned side, lines;
	size_t o = 0;

	if (!m || !m->modules || m->width == 0 || margin > 16)
		return -EINVAL;
	side = m->width + 2 * margin;
	lines = (side + 1) / 2;
	s = secret_new((size_t)lines * (side * 3 + 1));
	if (!s)
		return -errno;
	for (unsigned l = 0; l < lines; l++) {
		unsigned y = 2 * l;
		for (unsigned x = 0; x < side; x++) {
			/* Light = glyph; a row past the end counts as dark
			 * (the console background). */
			bool top_light = !dark(m, margin, x, y);
			bool bot_light = y + 1 < side && !dark(m, margin, x, y + 1);
			const char *g = top_light && bot_light ? full
					: top_light	       ? upper
					: bot_light	       ? lower
							       : " ";
			size_t gl = strlen(g);
			memcpy(s->data + o, g, gl);
			o += gl;
		}
		s->data[o++] = '\n';
	}
	s->data[o] = '\0';
	s->len = o;
	*ret = s;
	return 0;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Append a PNG chunk (length, type, data, CRC over type+data). */
static size_t png_chunk(uint8_t *out, const char type[4], const uint8_t *data, uint32_t len)
{
	uLong crc;
	put32(out, len);
	memcpy(out + 4, type, 4);
	if (len)
		memcpy(out + 8, data, len);
	crc = crc32(0L, out + 4, 4 + len);
	put32(out + 8 + len, (uint32_t)crc);
	return 12 + (size_t)len;
}

int qr_write_png(const struct qr_matrix *m, unsigned scale, unsigned margin, const char *path)
{
	static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
	_cleanup_free_ uint8_t *raw = NULL, *z = NULL, *png = NULL;
	uint8_t ihdr[13];
	unsigned side, px;
	size_t raw_len, o = 0;
	uLongf z_len;
	int r;

	if (!m || !m->modules || m->width == 0 || scale == 0 || scale > 32 || margin > 16)
		return -EINVAL;
	side = m->width + 2 * margin;
	px = side * scale;
	raw_len = (size_t)px * (px + 1);
	raw = xmalloc(raw_len);
	for (unsigned y = 0; y < px; y++) {
		uint8_t *row = raw + (size_t)y * (px + 1);
		row[0] = 0; /* filter: none */
		for (unsigned x = 0; x < px; x++)
			row[1 + x] = dark(m, margin, x / scale, y / scale) ? 0x00 : 0xff;
	}
	z_len = compressBound(raw_len);
	z = xmalloc(z_len);
	if (compress2(z, &z_len, raw, raw_len, 9) != Z_OK)
		return -EIO;
	explicit_bzero(raw, raw_len);

	put32(ihdr, px);
	put32(ihdr + 4, px);
	ihdr[8] = 8;  /* bit depth */
	ihdr[9] = 0;  /* grayscale */
	ihdr[10] = 0; /* deflate */
	ihdr[11] = 0; /* adaptive filtering */
	ihdr[12] = 0; /* no interlace */
	png = xmalloc(sizeof(sig) + 3 * 12 + sizeof(ihdr) + z_len);
	memcpy(png, sig, sizeof(sig));
	o = sizeof(sig);
	o += png_chunk(png + o, "IHDR", ihdr, sizeof(ihdr));
	o += png_chunk(png + o, "IDAT", z, (uint32_t)z_len);
	o += png_chunk(png + o, "IEND", NULL, 0);
	r = fs_write_atomic(path, png, o, 0600);
	explicit_bzero(png, o);
	return r;
}
