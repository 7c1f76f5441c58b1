/* cpio.c - newc writer, initramfs segment reader, key injection. */
#include "cpio.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <lzma.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <zlib.h>
#include <zstd.h>

/* ---- writer ------------------------------------------------------------- */

void cpio_writer_init(struct cpio_writer *w)
{
	memset(w, 0, sizeof(*w));
	w->ino = 1;
}

static void w_put(struct cpio_writer *w, const void *p, size_t n)
{
	if (w->len + n > w->cap) {
		size_t c = w->cap ? w->cap : 4096;
		while (c < w->len + n)
			c *= 2;
		/* grow by copy so the old buffer (maybe holding a key) is wiped */
		uint8_t *nb = xmalloc(c);
		if (w->len)
			memcpy(nb, w->buf, w->len);
		if (w->buf) {
			explicit_bzero(w->buf, w->cap);
			free(w->buf);
		}
		w->buf = nb;
		w->cap = c;
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void w_pad(struct cpio_writer *w, size_t align)
{
	static const uint8_t zero[512];
	size_t r = w->len % align;
	if (r)
		w_put(w, zero, align - r);
}

static int w_entry(struct cpio_writer *w, const char *name, uint32_t mode, const void *data,
		   size_t len)
{
	char hdr[111];
	while (*name == '/')
		name++;
	size_t nl = strlen(name);
	if (nl == 0 || nl >= CPIO_MAX_NAME || len > 0xffffffffu)
		return -EINVAL;
	snprintf(hdr, sizeof(hdr),
		 "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		 streq(name, "TRAILER!!!") ? 0 : w->ino++, mode, 0u, 0u, 1u, 0u, (unsigned)len, 0u,
		 0u, 0u, 0u, (unsigned)(nl + 1), 0u);
	w_put(w, hdr, 110);
	w_put(w, name, nl + 1);
	w_pad(w, 4);
	if (len)
		w_put(w, data, len);
	w_pad(w, 4);
	return 0;
}

int cpio_add_file(struct cpio_writer *w, const char *name, mode_t mode, const void *data,
		  size_t len)
{
	return w_entry(w, name, S_IFREG | (mode & 07777), data, len);
}

int cpio_add_dir(struct cpio_writer *w, const char *name, mode_t mode)
{
	return w_entry(w, name, S_IFDIR | (mode & 07777), NULL, 0);
}

int cpio_finish(struct cpio_writer *w)
{
	int r = w_entry(w, "TRAILER!!!", 0, NULL, 0);
	if (r == 0)
		w_pad(w, 512);
	return r;
}

void cpio_writer_free(struct cpio_writer *w)
{
	if (w->buf) {
		explicit_bzero(w->buf, w->cap);
		free(w->buf);
	}
	memset(w, 0, sizeof(*w));
}

/* ---- reader --------------------------------------------------------------- */

struct walker {
	cpio_visit_fn fn;
	void *ud;
	size_t unpacked; /* total decompressed bytes */
	size_t entries;
	unsigned segment;
	unsigned depth;
};

static int hex8(const uint8_t *p, uint32_t *ret)
{
	uint32_t v = 0;
	for (int i = 0; i < 8; i++) {
		int c = p[i], d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -EBADMSG;
		v = v << 4 | (uint32_t)d;
	}
	*ret = v;
	return 0;
}

static size_t align4(size_t x) { return (x + 3) & ~(size_t)3; }

/* Parse newc archives in buf starting at *pos, up to TRAILER!!!. */
static int walk_cpio(struct walker *w, const uint8_t *buf, size_t len, size_t *pos)
{
	size_t p = *pos;
	for (;;) {
		uint32_t f[13];
		if (len - p < 110)
			return log_error_errno(-EBADMSG, "initrd: truncated cpio header at %zu", p);
		if (memcmp(buf + p, "070701", 6) && memcmp(buf + p, "070702", 6))
			return log_error_errno(-EBADMSG, "initrd: bad cpio magic at %zu", p);
		for (int i = 0; i < 13; i++)
			if (hex8(buf + p + 6 + 8 * i, &f[i]) < 0)
				return log_error_errno(-EBADMSG, "initrd: bad cpio header at %zu", p);
		uint32_t mode = f[1], size = f[6], namesize = f[11];
		if (namesize == 0 || namesize > CPIO_MAX_NAME)
			return log_error_errno(-EBADMSG, "initrd: bad cpio name size at %zu", p);
		size_t nameoff = p + 110;
		if (len - nameoff < namesize)
			return log_error_errno(-EBADMSG, "initrd: truncated cpio name at %zu", p);
		const char *name = (const char *)buf + nameoff;
		if (name[namesize - 1] != '\0' || strlen(name) != namesize - 1)
			return log_error_errno(-EBADMSG, "initrd: bad cpio name at %zu", p);
		size_t dataoff = align4(nameoff + namesize);
		if (dataoff > len || len - dataoff < size)
			return log_error_errno(-EBADMSG, "initrd: truncated cpio data at %zu", p);
		size_t next = align4(dataoff + size);
		if (next > len)
			next = len;
		if (streq(name, "TRAILER!!!")) {
			*pos = next;
			return 0;
		}
		if (++w->entries > CPIO_MAX_ENTRIES)
			return log_error_errno(-E2BIG, "initrd: more than %d entries", CPIO_MAX_ENTRIES);
		while (startswith(name, "./"))
			name += 2;
		while (*name == '/')
			name++;
		struct cpio_entry e = {.name = name, .mode = mode, .data = buf + dataoff,
				       .size = size, .segment = w->segment};
		int r = w->fn(&e, w->ud);
		if (r)
			return r;
		p = next;
	}
}

static int walk_image(struct walker *w, const uint8_t *buf, size_t len);

static int grow(uint8_t **out, size_t *cap, size_t need, struct walker *w)
{
	if (need > CPIO_MAX_UNPACKED || w->unpacked + need > CPIO_MAX_UNPACKED)
		return log_error_errno(-E2BIG, "initrd: more than %u bytes decompressed",
				       CPIO_MAX_UNPACKED);
	if (need > *cap) {
		size_t c = *cap ? *cap : 1 << 16;
		while (c < need)
			c *= 2;
		if (c > CPIO_MAX_UNPACKED)
			c = CPIO_MAX_UNPACKED;
		*out = xrealloc(*out, c);
		*cap = c;
	}
	return 0;
}

/* Decompress one gzip member starting at buf; *used = compressed bytes. */
static int unz_gzip(struct walker *w, const uint8_t *buf, size_t len, uint8_t **ret, size_t *ret_len,
		    size_t *used)
{
	z_stream z = {0};
	uint8_t *out = NULL;
	size_t cap = 0, olen = 0;
	int r = 0, zr;

	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		return -ENOMEM;
	z.next_in = (Bytef *)buf;
	z.avail_in = len > UINT32_MAX ? UINT32_MAX : (uInt)len;
	do {
		if ((r = grow(&out, &cap, olen + 65536, w)) < 0)
			break;
		z.next_out = out + olen;
		z.avail_out = (uInt)(cap - olen);
		zr = inflate(&z, Z_NO_FLUSH);
		olen = cap - z.avail_out;
		if (zr == Z_STREAM_END)
			break;
		if (zr != Z_OK) {
			r = log_error_errno(-EBADMSG, "initrd: gzip segment corrupt (%s)", z.msg ? z.msg : "error");
			break;
		}
		if (z.avail_in == 0) {
			r = log_error_errno(-EBADMSG, "initrd: gzip segment truncated");
			break;
		}
	} while (1);
	*used = len - z.avail_in;
	inflateEnd(&z);
	if (r < 0) {
		free(out);
		return r;
	}
	*ret = out;
	*ret_len = olen;
	return 0;
}

static int unz_xz(struct walker *w, const uint8_t *buf, size_t len, uint8_t **ret, size_t *ret_len,
		  size_t *used)
{
	lzma_stream s = LZMA_STREAM_INIT;
	uint8_t *out = NULL;
	size_t cap = 0, olen = 0;
	int r = 0;
	lzma_ret lr;

	if (lzma_stream_decoder(&s, 1u << 30, 0) != LZMA_OK)
		return -ENOMEM;
	s.next_in = buf;
	s.avail_in = len;
	for (;;) {
		if ((r = grow(&out, &cap, olen + 65536, w)) < 0)
			break;
		s.next_out = out + olen;
		s.avail_out = cap - olen;
		lr = lzma_code(&s, LZMA_FINISH);
		olen = cap - s.avail_out;
		if (lr == LZMA_STREAM_END)
			break;
		if (lr != LZMA_OK && lr != LZMA_BUF_ERROR) {
			r = log_error_errno(-EBADMSG, "initrd: xz segment corrupt (%d)", (int)lr);
			break;
		}
		if (lr == LZMA_BUF_ERROR || (s.avail_in == 0 && s.avail_out != 0)) {
			r = log_error_errno(-EBADMSG, "initrd: xz segment truncated");
			break;
		}
	}
	*used = len - s.avail_in;
	lzma_end(&s);
	if (r < 0) {
		free(out);
		return r;
	}
	*ret = out;
	*ret_len = olen;
	return 0;
}

static int unz_zstd(struct walker *w, const uint8_t *buf, size_t len, uint8_t **ret, size_t *ret_len,
		    size_t *used)
{
	ZSTD_DStream *d = ZSTD_createDStream();
	uint8_t *out = NULL;
	size_t cap = 0, olen = 0;
	int r = 0;
	ZSTD_inBuffer in = {buf, len, 0};

	if (!d)
		return -ENOMEM;
	ZSTD_initDStream(d);
	for (;;) {
		if ((r = grow(&out, &cap, olen + 65536, w)) < 0)
			break;
		ZSTD_outBuffer o = {out + olen, cap - olen, 0};
		size_t zr = ZSTD_decompressStream(d, &o, &in);
		olen += o.pos;
		if (ZSTD_isError(zr)) {
			r = log_error_errno(-EBADMSG, "initrd: zstd segment corrupt (%s)",
					    ZSTD_getErrorName(zr));
			break;
		}
		if (zr == 0)
			break;
		if (in.pos == in.size && o.pos < o.size) {
			r = log_error_errno(-EBADMSG, "initrd: zstd segment truncated");
			break;
		}
	}
	*used = in.pos;
	ZSTD_freeDStream(d);
	if (r < 0) {
		free(out);
		return r;
	}
	*ret = out;
	*ret_len = olen;
	return 0;
}

static int walk_image(struct walker *w, const uint8_t *buf, size_t len)
{
	size_t p = 0;
	int r;

	if (++w->depth > 4) {
		w->depth--;
		return log_error_errno(-ELOOP, "initrd: compressed segments nested too deeply");
	}
	while (p < len) {
		if (buf[p] == 0) {
			p++;
			continue;
		}
		size_t rest = len - p;
		if (rest >= 6 && (memcmp(buf + p, "070701", 6) == 0 || memcmp(buf + p, "070702", 6) == 0)) {
			r = walk_cpio(w, buf, len, &p);
			w->segment++;
			if (r)
				goto out;
			continue;
		}
		int (*unz)(struct walker *, const uint8_t *, size_t, uint8_t **, size_t *, size_t *) = NULL;
		if (rest >= 2 && buf[p] == 0x1f && (buf[p + 1] == 0x8b || buf[p + 1] == 0x9e))
			unz = unz_gzip;
		else if (rest >= 6 && memcmp(buf + p, "\xfd" "7zXZ\0", 6) == 0)
			unz = unz_xz;
		else if (rest >= 4 && memcmp(buf + p, "\x28\xb5\x2f\xfd", 4) == 0)
			unz = unz_zstd;
		if (!unz) {
			r = log_error_errno(-EBADMSG, "initrd: unknown segment magic %02x%02x at offset %zu",
					    buf[p], rest > 1 ? buf[p + 1] : 0, p);
			goto out;
		}
		uint8_t *out = NULL;
		size_t olen = 0, used = 0;
		r = unz(w, buf + p, rest, &out, &olen, &used);
		if (r < 0)
			goto out;
		w->unpacked += olen;
		if (used == 0) {
			free(out);
			r = log_error_errno(-EBADMSG, "initrd: empty compressed segment at %zu", p);
			goto out;
		}
		r = walk_image(w, out, olen);
		free(out);
		if (r)
			goto out;
		p += used;
	}
	r = 0;
out:
	w->depth--;
	return r;
}

int cpio_walk(const void *image, size_t len, cpio_visit_fn fn, void *userdata)
{
	struct walker w = {.fn = fn, .ud = userdata};
	int r = walk_image(&w, image, len);
	return r > 0 ? 0 : r;
}

/* ---- crypttab overrides ------------------------------------------------------ */

/* Rewrite one crypttab line: the key field (3rd) becomes /secret.key when it
 * is "none", "-" or missing. Returns NULL for comments/blank lines. */
static char *override_line(const char *line, size_t n)
{
	char *l = xstrndup(line, n), *f[4] = {0};
	size_t nf = 0;
	char *p = l;
	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p || *p == '#') {
		free(l);
		return NULL;
	}
	/* split into at most 4 fields: name device key options... */
	while (*p && nf < 4) {
		f[nf++] = p;
		if (nf == 4)
			break;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		if (*p)
			*p++ = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
	}
	if (nf < 2) {
		free(l);
		return NULL;
	}
	const char *key = nf >= 3 && !streq(f[2], "none") && !streq(f[2], "-") ? f[2] : "/secret.key";
	char *r = nf == 4 ? xasprintf("%s %s %s %s", f[0], f[1], key, f[3])
			  : xasprintf("%s %s %s", f[0], f[1], key);
	/* trim trailing blanks of options */
	size_t rl = strlen(r);
	while (rl && (r[rl - 1] == ' ' || r[rl - 1] == '\t' || r[rl - 1] == '\r'))
		r[--rl] = '\0';
	free(l);
	return r;
}

struct ov_ctx {
	char *out;
	size_t len;
};

static int ov_visit(const struct cpio_entry *e, void *ud)
{
	struct ov_ctx *c = ud;
	if (!S_ISREG(e->mode) || !strstr(e->name, "crypttab"))
		return 0;
	if (strchr(e->name, ':') || strchr(e->name, '\n'))
		return 0; /* cannot be represented in the override format */
	const char *p = (const char *)e->data, *end = p + e->size;
	while (p < end) {
		const char *nl = memchr(p, '\n', end - p);
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (!memchr(p, '\0', n)) {
			char *ol = override_line(p, n);
			if (ol) {
				char *add = xasprintf("%s%s:%s\n", c->out ? c->out : "", e->name, ol);
				free(c->out);
				c->out = add;
				free(ol);
				if (strlen(c->out) > 1024 * 1024)
					return log_error_errno(-E2BIG, "initrd: crypttab overrides too large");
			}
		}
		p += n + 1;
	}
	return 0;
}

int initrd_crypttab_overrides(const void *image, size_t len, char **ret)
{
	struct ov_ctx c = {0};
	int r = cpio_walk(image, len, ov_visit, &c);
	if (r < 0) {
		free(c.out);
		return r;
	}
	*ret = c.out ? c.out : xstrdup("");
	return 0;
}

/* ---- injection ---------------------------------------------------------------- */

struct ovfile {
	char *path;
	char *text;
};

static int add_dirs(struct cpio_writer *w, const char *path, char ***made, size_t *n_made)
{
	_cleanup_free_ char *c = xstrdup(path);
	for (char *s = strchr(c, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		bool seen = false;
		for (size_t i = 0; i < *n_made && !seen; i++)
			seen = streq((*made)[i], c);
		if (!seen && *c) {
			int r = cpio_add_dir(w, c, 0755);
			if (r < 0)
				return r;
			*made = xrealloc(*made, (*n_made + 1) * sizeof(char *));
			(*made)[(*n_made)++] = xstrdup(c);
		}
		*s = '/';
	}
	return 0;
}

int initrd_inject_key(int initrd_fd, const struct secret *key, const char *overrides)
{
	struct cpio_writer w;
	struct ovfile *ov = NULL;
	size_t n_ov = 0, n_made = 0;
	char **made = NULL;
	_cleanup_close_ int mfd = -1;
	struct stat st;
	int r = 0;

	if (!key || initrd_fd < 0)
		return -EINVAL;
	if (fstat(initrd_fd, &st) < 0)
		return -errno;
	/* Parse override lines: path up to the first ':', the rest is the line. */
	for (const char *p = overrides ? overrides : ""; *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		const char *colon = memchr(p, ':', n);
		if (n && p[0] != '#') {
			if (!colon || colon == p) {
				r = log_error_errno(-EINVAL, "crypttab override without '<path>:': %.*s",
						    (int)(n > 80 ? 80 : n), p);
				goto out;
			}
			_cleanup_free_ char *path = xstrndup(p, colon - p);
			char *clean = path;
			while (startswith(clean, "./"))
				clean += 2;
			while (*clean == '/')
				clean++;
			if (!*clean || strstr(clean, "..") || streq(clean, "secret.key")) {
				r = log_error_errno(-EINVAL, "crypttab override path '%s' refused", path);
				goto out;
			}
			size_t i;
			for (i = 0; i < n_ov; i++)
				if (streq(ov[i].path, clean))
					break;
			if (i == n_ov) {
				ov = xrealloc(ov, (n_ov + 1) * sizeof(*ov));
				ov[n_ov++] = (struct ovfile){xstrdup(clean), xstrdup("")};
			}
			char *t = xasprintf("%s%.*s\n", ov[i].text, (int)(n - (colon + 1 - p)), colon + 1);
			free(ov[i].text);
			ov[i].text = t;
		}
		p += n + (nl ? 1 : 0);
	}

	mfd = memfd_create("heads-initrd", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0) {
		r = log_error_errno(-errno, "memfd_create");
		goto out;
	}
	/* copy the original initrd */
	{
		uint8_t buf[65536];
		long n;
		off_t total = 0;
		if (lseek(initrd_fd, 0, SEEK_SET) < 0 && errno != ESPIPE) {
			r = -errno;
			goto out;
		}
		while ((n = read_full(initrd_fd, buf, sizeof(buf))) > 0) {
			if ((r = write_full(mfd, buf, n)) < 0)
				goto out;
			total += n;
		}
		if (n < 0) {
			r = (int)n;
			goto out;
		}
		static const uint8_t zero[512];
		if (total % 512 && (r = write_full(mfd, zero, 512 - total % 512)) < 0)
			goto out;
	}
	cpio_writer_init(&w);
	r = cpio_add_file(&w, "secret.key", 0400, key->data, key->len);
	for (size_t i = 0; r == 0 && i < n_ov; i++) {
		r = add_dirs(&w, ov[i].path, &made, &n_made);
		if (r == 0)
			r = cpio_add_file(&w, ov[i].path, 0644, ov[i].text, strlen(ov[i].text));
	}
	if (r == 0)
		r = cpio_finish(&w);
	if (r == 0)
		r = write_full(mfd, w.buf, w.len);
	cpio_writer_free(&w);
	if (r < 0)
		goto out;
	if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		r = log_error_errno(-errno, "sealing the initrd memfd");
		goto out;
	}
	if (lseek(mfd, 0, SEEK_SET) < 0) {
		r = -errno;
		goto out;
	}
	r = TAKE_FD(mfd);
out:
	for (size_t i = 0; i < n_ov; i++) {
		free(ov[i].path);
		free(ov[i].text);
	}
	free(ov);
	for (size_t i = 0; i < n_made; i++)
		free(made[i]);
	free(made);
	return r;
}

int initrd_wipe(int fd)
{
	static const uint8_t zero[65536];
	struct stat st;
	off_t off = 0;

	if (fstat(fd, &st) < 0)
		return -errno;
	while (off < st.st_size) {
		size_t n = st.st_size - off > (off_t)sizeof(zero) ? sizeof(zero)
								  : (size_t)(st.st_size - off);
		ssize_t w = pwrite(fd, zero, n, off);
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		off += w;
	}
	return 0;
}
