/* iso9660.c - bounded ISO 9660 reader (ECMA-119, SUSP/Rock Ridge, Joliet). */
#include "iso/iso9660.h"
#include "log.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct src {
	iso9660_read_fn read;
	void *ctx;
	const uint8_t *mem;
	uint64_t size;
};

static int src_read(const struct src *s, uint64_t off, size_t len, uint8_t *buf)
{
	if (off > s->size || len > s->size - off)
		return log_error_errno(-EINVAL, "ISO image: read of %zu bytes at %llu beyond its "
				       "end (%llu bytes)", len, (unsigned long long)off,
				       (unsigned long long)s->size);
	if (s->mem) {
		memcpy(buf, s->mem + off, len);
		return 0;
	}
	return s->read(s->ctx, off, len, buf);
}

int iso9660_pread(void *ctx, uint64_t off, size_t len, uint8_t *buf)
{
	int fd = *(const int *)ctx;
	while (len) {
		ssize_t n = pread(fd, buf, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return log_error_errno(-errno, "ISO image: read at %llu",
					       (unsigned long long)off);
		if (n == 0)
			return log_error_errno(-EINVAL, "ISO image: truncated at %llu",
					       (unsigned long long)off);
		buf += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

enum naming { NAME_PLAIN, NAME_JOLIET };

struct walk {
	const struct src *s;
	struct iso9660_tree *t;
	size_t cap;
	size_t records;
	bool rr;
	unsigned susp_skip;
	enum naming naming;
};

static bool name_ok(const char *n)
{
	if (!*n || streq(n, ".") || streq(n, ".."))
		return false;
	for (const unsigned char *p = (const unsigned char *)n; *p; p++)
		if (*p == '/' || *p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

/* Rock Ridge: gather NM (possibly continued, possibly through CE areas) and
 * note SL/RE/CL. Returns 0, with *name (malloc'd, may stay NULL), *skip. */
static int rr_scan(struct walk *w, const uint8_t *su, size_t len, char **name, bool *skip)
{
	uint8_t *area = NULL;
	size_t name_len = 0;
	char *nm = NULL;
	int r = 0;

	for (unsigned ce = 0;; ce++) {
		uint64_t next_off = 0;
		size_t next_len = 0;
		size_t i = 0;
		while (i + 4 <= len) {
			const uint8_t *e = su + i;
			unsigned el = e[2];
			if (el < 4 || i + el > len)
				break;
			if (e[0] == 'N' && e[1] == 'M' && el >= 5) {
				unsigned flags = e[4];
				size_t add = el - 5;
				if (!(flags & 0x6)) {
					if (name_len + add > 1024) {
						r = log_error_errno(-EINVAL, "ISO image: Rock Ridge name too long");
						goto out;
					}
					nm = xrealloc(nm, name_len + add + 1);
					memcpy(nm + name_len, e + 5, add);
					name_len += add;
					nm[name_len] = 0;
				}
			} else if (e[0] == 'C' && e[1] == 'E' && el >= 28) {
				next_off = (uint64_t)le32(e + 4) * ISO9660_SECTOR + le32(e + 12);
				next_len = le32(e + 20);
			} else if ((e[0] == 'S' && e[1] == 'L') || (e[0] == 'R' && e[1] == 'E') ||
				   (e[0] == 'C' && e[1] == 'L')) {
				*skip = true;
			} else if (e[0] == 'S' && e[1] == 'T') {
				break;
			}
			i += el;
		}
		if (!next_len)
			break;
		if (ce >= ISO9660_MAX_CE || next_len > ISO9660_SECTOR) {
			r = log_error_errno(-E2BIG, "ISO image: too many or too large Rock Ridge "
					    "continuation areas");
			goto out;
		}
		area = xrealloc(area, next_len);
		r = src_read(w->s, next_off, next_len, area);
		if (r < 0)
			goto out;
		su = area;
		len = next_len;
	}
	if (nm && strlen(nm) != name_len) {
		free(nm); /* embedded NUL */
		nm = xstrdup("");
	}
	*name = TAKE_PTR(nm);
out:
	free(nm);
	free(area);
	return r;
}

static char *plain_name(const uint8_t *id, size_t len, enum naming naming)
{
	char *n;
	size_t o = 0;

	if (naming == NAME_JOLIET) {
		n = xmalloc(len / 2 * 3 + 1);
		for (size_t i = 0; i + 1 < len; i += 2) {
			unsigned c = (unsigned)id[i] << 8 | id[i + 1];
			if (c < 0x80) {
				n[o++] = (char)c;
			} else if (c < 0x800) {
				n[o++] = (char)(0xc0 | c >> 6);
				n[o++] = (char)(0x80 | (c & 0x3f));
			} else {
				n[o++] = (char)(0xe0 | c >> 12);
				n[o++] = (char)(0x80 | ((c >> 6) & 0x3f));
				n[o++] = (char)(0x80 | (c & 0x3f));
			}
		}
	} else {
		n = xmalloc(len + 1);
		for (size_t i = 0; i < len; i++)
			n[o++] = (char)tolower(id[i]);
	}
	n[o] = 0;
	if (memchr(n, 0, o)) {
		n[0] = 0;
		return n;
	}
	char *semi = strrchr(n, ';');
	if (semi)
		*semi = 0;
	o = strlen(n);
	if (o > 1 && n[o - 1] == '.')
		n[o - 1] = 0;
	return n;
}

static void add_file(struct walk *w, char *path, bool dir, uint64_t off, uint64_t size)
{
	if (w->t->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 64;
		w->t->v = xrealloc(w->t->v, w->cap * sizeof(*w->t->v));
	}
	w->t->v[w->t->n++] = (struct iso9660_file){.path = path, .dir = dir, .offset = off, .size = size};
}

static int walk_dir(struct walk *w, const char *prefix, uint32_t lba, uint32_t size, unsigned depth)
{
	_cleanup_free_ uint8_t *buf = NULL;
	uint64_t off = (uint64_t)lba * ISO9660_SECTOR;
	int r;

	if (depth > ISO9660_MAX_DEPTH)
		return log_error_errno(-E2BIG, "ISO image: directories nested deeper than %d at %s",
				       ISO9660_MAX_DEPTH, *prefix ? prefix : "/");
	if (size > ISO9660_MAX_DIR)
		return log_error_errno(-E2BIG, "ISO image: directory %s larger than %u bytes",
				       *prefix ? prefix : "/", ISO9660_MAX_DIR);
	buf = xmalloc(size ? size : 1);
	r = src_read(w->s, off, size, buf);
	if (r < 0)
		return r;
	for (size_t i = 0; i < size;) {
		const uint8_t *d = buf + i;
		unsigned dl = d[0];
		if (dl == 0) { /* records do not cross sectors: go to the next one */
			i = (i / ISO9660_SECTOR + 1) * ISO9660_SECTOR;
			continue;
		}
		if (dl < 34 || i + dl > size || 33u + d[32] > dl)
			return log_error_errno(-EINVAL, "ISO image: bad directory record at byte %llu",
					       (unsigned long long)(off + i));
		i += dl;
		if (++w->records > ISO9660_MAX_FILES)
			return log_error_errno(-E2BIG, "ISO image: more than %d directory records",
					       ISO9660_MAX_FILES);
		unsigned nl = d[32];
		const uint8_t *id = d + 33;
		if (nl == 1 && (id[0] == 0 || id[0] == 1))
			continue; /* "." and ".." */
		uint32_t ext = le32(d + 2), len = le32(d + 10);
		unsigned flags = d[25];
		bool dir = flags & 2;
		size_t su_at = 33 + nl + (nl % 2 ? 0 : 1);
		char *name = NULL;
		bool skip = false;
		if (w->rr && su_at + w->susp_skip <= dl) {
			r = rr_scan(w, d + su_at + w->susp_skip, dl - su_at - w->susp_skip, &name, &skip);
			if (r < 0)
				return r;
		}
		if (!name)
			name = plain_name(id, nl, w->naming);
		if (skip || (flags & 0x80) || !name_ok(name)) {
			log_debug("ISO image: skipping record at byte %llu (%s)",
				  (unsigned long long)(off + i - dl),
				  skip ? "symlink or relocated" : (flags & 0x80) ? "multi-extent" : "name");
			free(name);
			continue;
		}
		uint64_t data = (uint64_t)ext * ISO9660_SECTOR;
		if (data > w->s->size || len > w->s->size - data) {
			log_error("ISO image: %s/%s: extent beyond the end of the image", prefix, name);
			free(name);
			return -EINVAL;
		}
		char *path = xasprintf("%s/%s", prefix, name);
		free(name);
		add_file(w, path, dir, data, len);
		if (dir) {
			r = walk_dir(w, path, ext, len, depth + 1);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int list_src(const struct src *s, struct iso9660_tree *ret)
{
	uint8_t vd[ISO9660_SECTOR], pvd_root[34], jol_root[34];
	bool have_pvd = false, have_joliet = false;
	struct iso9660_tree t = {0};
	struct walk w = {.s = s, .t = &t};
	int r;

	for (unsigned i = 0; i < 32; i++) {
		r = src_read(s, (uint64_t)(16 + i) * ISO9660_SECTOR, sizeof(vd), vd);
		if (r < 0)
			return r;
		if (memcmp(vd + 1, "CD001", 5) != 0)
			return log_error_errno(-EINVAL, "ISO image: no ISO 9660 volume descriptor "
					       "at sector %u", 16 + i);
		if (vd[0] == 255)
			break;
		if (vd[0] == 1 && !have_pvd) {
			if (le16(vd + 128) != ISO9660_SECTOR)
				return log_error_errno(-EINVAL, "ISO image: logical block size %u "
						       "is not 2048", le16(vd + 128));
			memcpy(pvd_root, vd + 156, 34);
			size_t n = 32;
			memcpy(t.volume_id, vd + 40, 32);
			while (n && (t.volume_id[n - 1] == ' ' || !t.volume_id[n - 1]))
				n--;
			t.volume_id[n] = 0;
			for (size_t k = 0; k < n; k++)
				if ((unsigned char)t.volume_id[k] < 0x20 || t.volume_id[k] == 0x7f)
					t.volume_id[k] = '?';
			have_pvd = true;
		} else if (vd[0] == 2 && vd[88] == '%' && vd[89] == '/' &&
			   (vd[90] == '@' || vd[90] == 'C' || vd[90] == 'E') && !have_joliet) {
			memcpy(jol_root, vd + 156, 34);
			have_joliet = true;
		}
	}
	if (!have_pvd)
		return log_error_errno(-EINVAL, "ISO image: no primary volume descriptor");

	/* Rock Ridge: the root's "." record starts its system use area with SP. */
	uint32_t root_lba = le32(pvd_root + 2), root_len = le32(pvd_root + 10);
	uint8_t first[ISO9660_SECTOR];
	r = src_read(s, (uint64_t)root_lba * ISO9660_SECTOR, sizeof(first), first);
	if (r < 0)
		return r;
	if (first[0] >= 34 && first[32] == 1) {
		size_t su = 34;
		if (first[0] >= su + 7 && first[su] == 'S' && first[su + 1] == 'P' &&
		    first[su + 4] == 0xbe && first[su + 5] == 0xef) {
			w.rr = true;
			w.susp_skip = first[su + 6];
		}
	}
	if (!w.rr && have_joliet) {
		w.naming = NAME_JOLIET;
		root_lba = le32(jol_root + 2);
		root_len = le32(jol_root + 10);
	}
	t.rock_ridge = w.rr;
	t.joliet = !w.rr && have_joliet;
	r = walk_dir(&w, "", root_lba, root_len, 0);
	if (r < 0) {
		iso9660_tree_free(&t);
		return r;
	}
	*ret = t;
	return 0;
}

int iso9660_list(iso9660_read_fn read, void *ctx, uint64_t size, struct iso9660_tree *ret)
{
	struct src s = {.read = read, .ctx = ctx, .size = size};
	return list_src(&s, ret);
}

int iso9660_list_mem(const uint8_t *data, size_t size, struct iso9660_tree *ret)
{
	struct src s = {.mem = data, .size = size};
	return list_src(&s, ret);
}

void iso9660_tree_free(struct iso9660_tree *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i].path);
	free(t->v);
	memset(t, 0, sizeof(*t));
}

const struct iso9660_file *iso9660_find(const struct iso9660_tree *t, const char *path)
{
	while (path[0] == '/' && path[1] == '/')
		path++;
	for (size_t i = 0; i < t->n; i++) {
		const char *p = t->v[i].path;
		if (streq(p, path) || (path[0] != '/' && streq(p + 1, path)))
			return &t->v[i];
	}
	return NULL;
}

int iso9660_read(iso9660_read_fn read, void *ctx, const struct iso9660_file *f, size_t max,
		 char **ret, size_t *ret_len)
{
	struct src s = {.read = read, .ctx = ctx, .size = UINT64_MAX};
	char *buf;
	int r;

	if (f->dir)
		return -EISDIR;
	if (f->size > max)
		return log_error_errno(-EFBIG, "ISO image: %s is larger than %zu bytes", f->path, max);
	buf = xmalloc((size_t)f->size + 1);
	r = src_read(&s, f->offset, (size_t)f->size, (uint8_t *)buf);
	if (r < 0) {
		free(buf);
		return r;
	}
	buf[f->size] = 0;
	*ret = buf;
	*ret_len = (size_t)f->size;
	return 0;
}
