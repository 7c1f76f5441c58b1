/* flash.c - the boot flash (see flash.h): libflashrom (dlopen()ed) for the
 * internal and dummy programmers, the MTD character device directly for
 * linux_mtd. The verified-pieces / retry / restore logic above both is the
 * same: it calls read_range() and flash_program_range(). */
#include "flash.h"
#include "cbfs.h"
#include "log.h"
#include "util.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libflashrom.h>
#include <mtd/mtd-user.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define READ_PIECE (256u * 1024)
#define MTD_MAX_ERASESIZE (4u * 1024 * 1024)

struct flash {
	bool mtd;                         /* linux_mtd: our own backend */
	/* libflashrom */
	struct flashrom_programmer *prog; /* libflashrom 1.3 leaves it NULL */
	bool prog_up;
	struct flashrom_flashctx *ctx;
	/* MTD */
	int fd;
	uint32_t erasesize;
	uint8_t *block; /* erasesize bytes */
	size_t size;
	uint8_t *scratch; /* size bytes: flashrom reads into a whole-chip buffer */
	flash_progress_fn progress;
	void *userdata;
};

/* libflashrom is loaded only when one of its programmers is used: `heads`
 * starts without it, and a payload may leave it out. */
#define FLASHROM_SYMS(X)                                                                        \
	X(flashrom_set_log_callback) X(flashrom_init) X(flashrom_programmer_init)              \
	X(flashrom_programmer_shutdown) X(flashrom_flash_probe) X(flashrom_flash_getsize)      \
	X(flashrom_flash_release) X(flashrom_flag_set) X(flashrom_layout_new)                  \
	X(flashrom_layout_add_region) X(flashrom_layout_include_region)                        \
	X(flashrom_layout_set) X(flashrom_layout_release) X(flashrom_image_read)               \
	X(flashrom_image_write)
#define FR_FIELD(sym) __typeof__(sym) *sym;
static struct {
	FLASHROM_SYMS(FR_FIELD)
} fr;
#define FLASHROM_SONAME "libflashrom.so.1"

/* libflashrom prints in fragments: collect a line, then log it. */
static char log_line[512];
static size_t log_len;
static enum flashrom_log_level log_line_level = FLASHROM_MSG_SPEW;

/* flashrom's pleas to report a failure: we handle the failure. */
static bool noise(const char *line)
{
	return strstr(line, "Please report") || strstr(line, "mailing list") ||
	       strstr(line, "unknown state") || strstr(line, "Thanks for your help") ||
	       strstr(line, "IRC") || strstr(line, "DO NOT REBOOT");
}

static int log_cb(enum flashrom_log_level level, const char *fmt, va_list ap)
{
	char buf[512];
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	if (n < 0)
		return 0;
	if (level > FLASHROM_MSG_DEBUG)
		return 0; /* DEBUG2/SPEW: every probe's bus cycles */
	if (level < log_line_level)
		log_line_level = level;
	for (const char *p = buf; *p; p++) {
		if (*p == '\n' || log_len == sizeof(log_line) - 1) {
			log_line[log_len] = '\0';
			if (log_len)
				log_msg(log_line_level <= FLASHROM_MSG_ERROR && !noise(log_line)
						? LOG_INFO : LOG_DEBUG,
					"flashrom: %s", log_line);
			log_len = 0;
			log_line_level = FLASHROM_MSG_SPEW;
			if (*p == '\n')
				continue;
		}
		log_line[log_len++] = *p;
	}
	return n;
}

static int lib_init(const char *programmer)
{
	static bool done;
	void *h;
	if (done)
		return 0;
	h = dlopen(FLASHROM_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return log_error_errno(-ENOPKG,
				       "flash: this build carries no libflashrom (%s): programmer %s unavailable",
				       FLASHROM_SONAME, programmer);
#define FR_LOAD(sym)                                                                            \
	*(void **)&fr.sym = dlsym(h, #sym);                                                     \
	if (!fr.sym) {                                                                          \
		dlclose(h);                                                                     \
		return log_error_errno(-ENOPKG, "flash: %s lacks %s: programmer %s unavailable",  \
				       FLASHROM_SONAME, #sym, programmer);                      \
	}
	FLASHROM_SYMS(FR_LOAD)
#undef FR_LOAD
	fr.flashrom_set_log_callback(log_cb);
	if (fr.flashrom_init(1) != 0)
		return log_error_errno(-EIO, "libflashrom: initialisation failed");
	done = true;
	return 0;
}

/* linux_mtd's parameters: exactly "dev=N". */
static int mtd_parse(const char *params, unsigned *dev)
{
	char *end;
	unsigned long v;
	if (!params || strncmp(params, "dev=", 4) != 0 || params[4] < '0' || params[4] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(params + 4, &end, 10);
	if (errno || *end || v > 255)
		return -EINVAL;
	*dev = (unsigned)v;
	return 0;
}

static int mtd_ioctl(int fd, unsigned long req, void *arg)
{
	if (flash_test_mtd_ioctl)
		return flash_test_mtd_ioctl(fd, req, arg);
	return ioctl(fd, req, arg);
}

static int mtd_open(const char *params, struct flash *f)
{
	char path[32];
	const char *p = path;
	struct mtd_info_user info;
	unsigned dev;

	if (mtd_parse(params, &dev) < 0)
		return log_error_errno(-EINVAL, "flash: linux_mtd takes dev=N, not \"%s\"",
				       params ? params : "");
	snprintf(path, sizeof(path), "/dev/mtd%u", dev);
	if (flash_test_mtd_path)
		p = flash_test_mtd_path(dev);
	f->fd = open(p, O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (f->fd < 0)
		return log_error_errno(-ENODEV, "flash: %s: %m", p);
	if (mtd_ioctl(f->fd, MEMGETINFO, &info) < 0)
		return log_error_errno(-ENODEV, "flash: %s: not an MTD device (MEMGETINFO: %m)", p);
	if (info.type != MTD_NORFLASH && info.type != MTD_RAM)
		return log_error_errno(-ENODEV, "flash: %s: MTD type %u is not NOR flash", p,
				       info.type);
	if (!(info.flags & MTD_WRITEABLE))
		return log_error_errno(-EROFS, "flash: %s: read-only MTD device", p);
	if (info.size == 0 || info.size > FLASH_MAX_SIZE || info.erasesize == 0 ||
	    info.erasesize > MTD_MAX_ERASESIZE || info.size % info.erasesize != 0 ||
	    info.writesize == 0 || info.erasesize % info.writesize != 0)
		return log_error_errno(-ENODEV,
				       "flash: %s: size %u, erase block %u, write size %u not supported",
				       p, info.size, info.erasesize, info.writesize);
	f->size = info.size;
	f->erasesize = info.erasesize;
	f->block = xmalloc(f->erasesize);
	log_debug("flash: %s: %zu bytes, erase block %u", p, f->size, f->erasesize);
	return 0;
}

static int mtd_read(struct flash *f, uint32_t off, uint32_t n, uint8_t *out)
{
	size_t done = 0;
	while (done < n) {
		ssize_t k = pread(f->fd, out + done, n - done, (off_t)off + (off_t)done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return log_error_errno(-EIO, "flash: reading MTD 0x%zx failed: %s",
					       off + done, k < 0 ? strerror(errno) : "end of device");
		done += (size_t)k;
	}
	return 0;
}

static int mtd_pwrite(struct flash *f, const uint8_t *buf, uint32_t n, uint32_t off)
{
	size_t done = 0;
	while (done < n) {
		ssize_t k = pwrite(f->fd, buf + done, n - done, (off_t)off + (off_t)done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -EIO;
		done += (size_t)k;
	}
	return 0;
}

/* Program [off, off+n) of img: each erase block it touches is read, the
 * range laid over it, erased and written whole. */
static int mtd_program(struct flash *f, const uint8_t *img, uint32_t off, uint32_t n)
{
	uint32_t end = off + n;
	for (uint32_t eb = off / f->erasesize * f->erasesize; eb < end; eb += f->erasesize) {
		uint32_t from = off > eb ? off : eb;
		uint32_t to = end < eb + f->erasesize ? end : eb + f->erasesize;
		struct erase_info_user ei = {.start = eb, .length = f->erasesize};
		int r;
		if (from != eb || to != eb + f->erasesize) {
			r = mtd_read(f, eb, f->erasesize, f->block);
			if (r < 0)
				return r;
		}
		memcpy(f->block + (from - eb), img + from, to - from);
		if (mtd_ioctl(f->fd, MEMERASE, &ei) < 0) {
			log_debug("flash: MTD erase of 0x%x+0x%x failed: %m", eb, f->erasesize);
			return -EIO;
		}
		r = mtd_pwrite(f, f->block, f->erasesize, eb);
		if (r < 0) {
			log_debug("flash: MTD write of 0x%x+0x%x failed: %m", eb, f->erasesize);
			return r;
		}
	}
	return 0;
}

int flash_open(const char *programmer, struct flash **ret)
{
	_cleanup_free_ char *name = NULL;
	const char *params = NULL, *colon;
	struct flash *f;
	int r;

	if (!programmer || !*programmer)
		return -EINVAL;
	colon = strchr(programmer, ':');
	name = colon ? xstrndup(programmer, (size_t)(colon - programmer)) : xstrdup(programmer);
	if (colon)
		params = colon + 1;
	f = xcalloc(1, sizeof(*f));
	f->fd = -1;
	if (streq(name, "linux_mtd")) {
		f->mtd = true;
		r = mtd_open(params, f);
		if (r < 0) {
			flash_close(f);
			return r;
		}
		f->scratch = xmalloc(f->size);
		*ret = f;
		return 0;
	}
	r = lib_init(name);
	if (r < 0) {
		free(f);
		return r;
	}
	if (fr.flashrom_programmer_init(&f->prog, name, params) != 0) {
		free(f);
		return log_error_errno(-ENODEV, "flash: programmer %s did not start", name);
	}
	f->prog_up = true;
	r = fr.flashrom_flash_probe(&f->ctx, f->prog, NULL);
	if (r != 0) {
		fr.flashrom_programmer_shutdown(f->prog);
		free(f);
		if (r == 3)
			return log_error_errno(-ENOTUNIQ, "flash: several chip definitions match on %s",
					       name);
		return log_error_errno(-ENODEV, "flash: no flash chip found on %s", name);
	}
	f->size = fr.flashrom_flash_getsize(f->ctx);
	if (f->size == 0 || f->size > FLASH_MAX_SIZE) {
		flash_close(f);
		return log_error_errno(-ENODEV, "flash: chip of %zu bytes not supported", f->size);
	}
	/* Our own read-back checks each piece; flashrom's verify of the
	 * included range is kept as a first check. */
	fr.flashrom_flag_set(f->ctx, FLASHROM_FLAG_VERIFY_AFTER_WRITE, true);
	fr.flashrom_flag_set(f->ctx, FLASHROM_FLAG_VERIFY_WHOLE_CHIP, false);
	f->scratch = xmalloc(f->size);
	log_debug("flash: %s: chip of %zu bytes", name, f->size);
	*ret = f;
	return 0;
}

int flash_close(struct flash *f)
{
	int r = 0;
	if (!f)
		return 0;
	if (f->ctx)
		fr.flashrom_flash_release(f->ctx);
	if (f->prog_up && fr.flashrom_programmer_shutdown(f->prog) != 0)
		r = log_error_errno(-EIO, "flash: programmer shutdown failed");
	if (f->fd >= 0 && close(f->fd) < 0 && r == 0)
		r = log_error_errno(-EIO, "flash: closing the MTD device: %m");
	free(f->block);
	free(f->scratch);
	free(f);
	return r;
}

size_t flash_size(const struct flash *f)
{
	return f->size;
}

void flash_set_progress(struct flash *f, flash_progress_fn fn, void *userdata)
{
	f->progress = fn;
	f->userdata = userdata;
}

static void progress(struct flash *f, const char *phase, uint64_t done, uint64_t total)
{
	if (f->progress)
		f->progress(f->userdata, phase, done, total);
}

int flash_region(const uint8_t *img, size_t len, const char *region, uint32_t *ret_offset,
		 uint32_t *ret_size)
{
	struct fmap m;
	const struct fmap_area *a;
	int r = fmap_parse(img, len, &m);
	if (r < 0)
		return -ENOENT;
	a = fmap_find(&m, region);
	if (!a) {
		fmap_free(&m);
		return -ENOENT;
	}
	if (a->size == 0 || a->offset > len || a->size > len - a->offset) {
		fmap_free(&m);
		return -EBADMSG;
	}
	*ret_offset = a->offset;
	*ret_size = a->size;
	fmap_free(&m);
	return 0;
}

/* A layout of the one range [off, off+n) set on the context. */
static int set_range(struct flash *f, uint32_t off, uint32_t n, struct flashrom_layout **ret)
{
	struct flashrom_layout *l = NULL;
	if (fr.flashrom_layout_new(&l) != 0)
		return -ENOMEM;
	if (fr.flashrom_layout_add_region(l, off, (size_t)off + n - 1, "heads-range") != 0 ||
	    fr.flashrom_layout_include_region(l, "heads-range") != 0) {
		fr.flashrom_layout_release(l);
		return -ENOMEM;
	}
	fr.flashrom_layout_set(f->ctx, l);
	*ret = l;
	return 0;
}

static void clear_range(struct flash *f, struct flashrom_layout *l)
{
	fr.flashrom_layout_set(f->ctx, NULL);
	fr.flashrom_layout_release(l);
}

/* [off, off+n) of the chip into out (n bytes). */
static int read_range(struct flash *f, uint32_t off, uint32_t n, uint8_t *out,
		      const char *phase)
{
	uint64_t done = 0;
	while (done < n) {
		uint32_t piece = n - done < READ_PIECE ? (uint32_t)(n - done) : READ_PIECE;
		uint32_t at = off + (uint32_t)done;
		struct flashrom_layout *l;
		int r;
		if (f->mtd) {
			r = mtd_read(f, at, piece, out + done);
			if (r < 0)
				return r;
		} else {
			r = set_range(f, at, piece, &l);
			if (r < 0)
				return r;
			r = fr.flashrom_image_read(f->ctx, f->scratch, f->size);
			clear_range(f, l);
			if (r != 0)
				return log_error_errno(-EIO, "flash: reading 0x%x..0x%x failed", at,
						       at + piece - 1);
			memcpy(out + done, f->scratch + at, piece);
		}
		done += piece;
		if (phase)
			progress(f, phase, done, n);
	}
	return 0;
}

int flash_read(struct flash *f, uint8_t **ret)
{
	uint8_t *buf = xmalloc(f->size);
	int r = read_range(f, 0, (uint32_t)f->size, buf, "reading");
	if (r < 0) {
		free(buf);
		return r;
	}
	*ret = buf;
	return 0;
}

int flash_program_range(struct flash *f, const uint8_t *img, uint32_t off, uint32_t n)
{
	struct flashrom_layout *l;
	int r;
	if (off > f->size || n > f->size - off || n == 0)
		return -EINVAL;
	if (f->mtd)
		return mtd_program(f, img, off, n);
	/* flashrom may use the buffer for its own checks: give it a copy. */
	memcpy(f->scratch, img, f->size);
	r = set_range(f, off, n, &l);
	if (r < 0)
		return r;
	r = fr.flashrom_image_write(f->ctx, f->scratch, f->size, NULL);
	clear_range(f, l);
	if (r != 0) {
		log_debug("flash: flashrom write of 0x%x..0x%x returned %d", off, off + n - 1, r);
		return -EIO;
	}
	return 0;
}

/* Resolve what a write/verify covers: the whole chip or a region whose
 * place must be the same in img and in the chip's content cur (NULL: not
 * checked yet). */
static int check_image(struct flash *f, const uint8_t *img, size_t len, const char *region,
		       const uint8_t *cur, uint32_t *off, uint32_t *n)
{
	if (len != f->size)
		return log_error_errno(-EMSGSIZE,
				       "flash: the image is %zu bytes, the chip %zu: refused", len,
				       f->size);
	if (!region) {
		struct fmap m;
		*off = 0;
		*n = (uint32_t)f->size;
		if (cur && fmap_parse(cur, f->size, &m) == 0) {
			fmap_free(&m);
			if (fmap_parse(img, len, &m) < 0)
				return log_error_errno(-EXDEV,
					"flash: the chip holds a coreboot image (FMAP) and the new image has no FMAP: refused");
			fmap_free(&m);
		}
		return 0;
	}
	if (flash_region(img, len, region, off, n) < 0)
		return log_error_errno(-EXDEV, "flash: the image has no FMAP region %s", region);
	if (cur) {
		uint32_t coff, cn;
		if (flash_region(cur, f->size, region, &coff, &cn) < 0)
			return log_error_errno(-EXDEV,
					       "flash: the chip's FMAP has no region %s: refused",
					       region);
		if (coff != *off || cn != *n)
			return log_error_errno(-EXDEV,
				"flash: region %s is 0x%x+0x%x in the image and 0x%x+0x%x on the chip: the layout does not match",
				region, *off, *n, coff, cn);
	}
	return 0;
}

int flash_verify(struct flash *f, const uint8_t *img, size_t len, const char *region,
		 uint32_t *ret_first_diff, uint32_t *ret_ndiff)
{
	_cleanup_free_ uint8_t *cur = NULL;
	uint32_t off, n, first = 0, nd = 0;
	int r;

	if (len != f->size)
		return check_image(f, img, len, region, NULL, &off, &n);
	if (region) {
		/* The chip's layout must be known before comparing a region. */
		r = check_image(f, img, len, region, NULL, &off, &n);
		if (r < 0)
			return r;
		r = flash_read(f, &cur);
		if (r < 0)
			return r;
		r = check_image(f, img, len, region, cur, &off, &n);
		if (r < 0)
			return r;
	} else {
		off = 0;
		n = (uint32_t)f->size;
		cur = xmalloc(f->size);
		r = read_range(f, 0, n, cur, "verifying");
		if (r < 0)
			return r;
	}
	for (uint32_t i = off; i < off + n; i++)
		if (cur[i] != img[i]) {
			if (!nd)
				first = i;
			nd++;
		}
	if (ret_first_diff)
		*ret_first_diff = first;
	if (ret_ndiff)
		*ret_ndiff = nd;
	return nd ? 1 : 0;
}

/* The pieces of [off, off+n): aligned to FLASH_CHUNK from the chip start. */
static uint32_t piece_end(uint32_t at, uint32_t end)
{
	uint32_t next = (at / FLASH_CHUNK + 1) * FLASH_CHUNK;
	return next < end ? next : end;
}

/* Write one piece of want and read it back, up to FLASH_RETRIES times. */
static int write_piece(struct flash *f, const uint8_t *want, uint32_t at, uint32_t n,
		       uint8_t *back, uint32_t *retries)
{
	for (unsigned attempt = 0; attempt < FLASH_RETRIES; attempt++) {
		int r = flash_program_range(f, want, at, n);
		if (flash_test_after_write)
			flash_test_after_write(f, at, n, attempt);
		if (read_range(f, at, n, back, NULL) == 0 && memcmp(back, want + at, n) == 0) {
			if (attempt)
				log_warn("flash: 0x%x..0x%x verified after %u retr%s", at,
					 at + n - 1, attempt, attempt == 1 ? "y" : "ies");
			return 0;
		}
		log_warn("flash: 0x%x..0x%x does not verify after writing%s (attempt %u of %u)",
			 at, at + n - 1, r < 0 ? " (write reported an error)" : "", attempt + 1,
			 FLASH_RETRIES);
		if (attempt + 1 < FLASH_RETRIES)
			(*retries)++;
	}
	return -EIO;
}

int flash_write(struct flash *f, const uint8_t *img, size_t len, const char *region,
		const uint8_t *cur_in, struct flash_write_result *res)
{
	_cleanup_free_ uint8_t *old = NULL, *cur = NULL, *back = NULL, *written = NULL;
	struct flash_write_result out = {.state = FLASH_STATE_OLD};
	uint32_t off, n, end, npieces, total = 0, done = 0;
	bool read_failed = false;
	int r;

	r = check_image(f, img, len, region, NULL, &off, &n);
	if (r < 0)
		return r;
	old = xmalloc(f->size);
	if (cur_in)
		memcpy(old, cur_in, f->size);
	else if ((r = read_range(f, 0, (uint32_t)f->size, old, "reading")) < 0)
		return r;
	r = check_image(f, img, len, region, old, &off, &n);
	if (r < 0)
		return r;
	end = off + n;
	out.offset = off;
	out.size = n;
	npieces = (end - 1) / FLASH_CHUNK - off / FLASH_CHUNK + 1;
	written = xcalloc(npieces, 1);
	back = xmalloc(FLASH_CHUNK);
	cur = xmalloc(f->size);
	memcpy(cur, old, f->size);

	for (uint32_t at = off; at < end; at = piece_end(at, end))
		if (memcmp(cur + at, img + at, piece_end(at, end) - at))
			total += piece_end(at, end) - at;

	/* Pass 1: the pieces that differ from what was read; pass 2: the
	 * whole range read back, any piece still different written again. */
	for (int pass = 0; pass < 2 && r == 0; pass++) {
		if (pass == 1) {
			r = read_range(f, off, n, cur + off, "verifying");
			if (r < 0) {
				out.bad_offset = off;
				read_failed = true;
				break;
			}
		}
		for (uint32_t at = off, i = 0; at < end; at = piece_end(at, end), i++) {
			uint32_t pn = piece_end(at, end) - at;
			if (!memcmp(cur + at, img + at, pn))
				continue;
			if (pass == 1)
				log_warn("flash: 0x%x..0x%x differs in the final read-back", at,
					 at + pn - 1);
			written[i] = 1;
			out.state = FLASH_STATE_MIXED;
			r = write_piece(f, img, at, pn, back, &out.retries);
			if (r < 0) {
				out.bad_offset = at;
				break;
			}
			out.pieces_written += pass == 0;
			done += pn;
			if (pass == 0)
				progress(f, "writing", done, total);
		}
	}
	if (r == 0) {
		out.state = FLASH_STATE_NEW; /* (also when the chip already held it) */
		if (res)
			*res = out;
		return 0;
	}

	/* A piece does not verify: put back what was there, piece by piece. */
	log_error("flash: 0x%x: %s: restoring the previous content", out.bad_offset,
		  read_failed ? "the chip could not be read back" : "does not verify after 3 writes");
	{
		uint32_t rdone = 0, rtotal = 0;
		bool ok = true;
		for (uint32_t i = 0; i < npieces; i++)
			rtotal += written[i];
		for (uint32_t at = off, i = 0; at < end; at = piece_end(at, end), i++) {
			uint32_t dummy = 0;
			if (!written[i])
				continue;
			if (write_piece(f, old, at, piece_end(at, end) - at, back, &dummy) < 0)
				ok = false;
			progress(f, "restoring", ++rdone, rtotal);
		}
		out.state = ok ? FLASH_STATE_OLD : FLASH_STATE_MIXED;
	}
	if (res)
		*res = out;
	return -EIO;
}
