/* romcfg.c - the ROM configuration area (see romcfg.h). */
#include "romcfg.h"

#include "cbfs.h"
#include "codec.h"
#include "cpio.h"
#include "fs.h"
#include "log.h"
#include "util.h"

#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <linux/fs.h>
#include <unistd.h>

static const char MAGIC[8] = {'H', 'E', 'A', 'D', 'S', 'R', 'O', 'M'};
#define VERSION 1u

static const char *const GNUPG_FILES[] = {"pubring.kbx", "pubring.gpg", "trustdb.gpg",
					  "gpg.conf"};

static int sha256(const void *a, size_t alen, const void *b, size_t blen, uint8_t out[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned n = 32;
	int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
		 EVP_DigestUpdate(ctx, a, alen) && (!blen || EVP_DigestUpdate(ctx, b, blen)) &&
		 EVP_DigestFinal_ex(ctx, out, &n);
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -EIO;
}

void romcfg_free(struct romcfg *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].name);
		free(c->v[i].data);
	}
	free(c->v);
	c->v = NULL;
	c->n = 0;
}

int romcfg_name_ok(const char *name)
{
	if (!name)
		return -EINVAL;
	if (streq(name, "etc/config.user"))
		return 0;
	if (strncmp(name, ".gnupg/", 7) == 0)
		for (size_t i = 0; i < ARRAY_SIZE(GNUPG_FILES); i++)
			if (streq(name + 7, GNUPG_FILES[i]))
				return 0;
	return -EINVAL;
}

static int cmp_file(const void *a, const void *b)
{
	return strcmp(((const struct romcfg_file *)a)->name,
		      ((const struct romcfg_file *)b)->name);
}

int romcfg_set(struct romcfg *c, const char *name, const void *data, size_t len)
{
	if (romcfg_name_ok(name) < 0)
		return -EINVAL;
	if (len > ROMCFG_MAX_SLOT)
		return -EFBIG;
	uint8_t *copy = xmalloc(len ? len : 1);
	if (len)
		memcpy(copy, data, len);
	for (size_t i = 0; i < c->n; i++)
		if (streq(c->v[i].name, name)) {
			free(c->v[i].data);
			c->v[i].data = copy;
			c->v[i].len = len;
			return 0;
		}
	if (c->n >= ROMCFG_MAX_FILES) {
		free(copy);
		return -E2BIG;
	}
	c->v = xrealloc(c->v, (c->n + 1) * sizeof(*c->v));
	c->v[c->n++] = (struct romcfg_file){.name = xstrdup(name), .data = copy, .len = len};
	qsort(c->v, c->n, sizeof(*c->v), cmp_file);
	return 0;
}

int romcfg_remove(struct romcfg *c, const char *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (streq(c->v[i].name, name)) {
			free(c->v[i].name);
			free(c->v[i].data);
			memmove(&c->v[i], &c->v[i + 1], (c->n - i - 1) * sizeof(*c->v));
			c->n--;
			return 0;
		}
	return -ENOENT;
}

int romcfg_set_keyring(struct romcfg *c, const char *gnupghome)
{
	for (size_t i = 0; i < c->n;)
		if (strncmp(c->v[i].name, ".gnupg/", 7) == 0)
			romcfg_remove(c, c->v[i].name);
		else
			i++;
	size_t stored = 0;
	for (size_t i = 0; i < ARRAY_SIZE(GNUPG_FILES); i++) {
		_cleanup_free_ char *path = xasprintf("%s/%s", gnupghome, GNUPG_FILES[i]);
		_cleanup_free_ char *name = xasprintf(".gnupg/%s", GNUPG_FILES[i]);
		_cleanup_free_ char *data = NULL;
		size_t len;
		int r = fs_read_file(path, ROMCFG_MAX_SLOT, &data, &len);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return log_error_errno(r, "%s", path);
		if ((r = romcfg_set(c, name, data, len)) < 0)
			return r;
		stored++;
	}
	if (!stored)
		return log_error_errno(-ENOENT, "%s: no keyring file (pubring.kbx) to store",
				       gnupghome);
	return 0;
}

/* --- slots ------------------------------------------------------------------ */

struct parse_ctx {
	struct romcfg *c;
	int err;
};

static int visit(const struct cpio_entry *e, void *userdata)
{
	struct parse_ctx *p = userdata;
	if (S_ISDIR(e->mode))
		return 0;
	if (!S_ISREG(e->mode)) {
		log_error("ROM config area: %s is not a regular file", e->name);
		return -EBADMSG;
	}
	if (romcfg_name_ok(e->name) < 0) {
		log_error("ROM config area: %s is not a file the ROM may hold", e->name);
		return -EBADMSG;
	}
	for (size_t i = 0; i < p->c->n; i++)
		if (streq(p->c->v[i].name, e->name)) {
			log_error("ROM config area: %s twice", e->name);
			return -EBADMSG;
		}
	int r = romcfg_set(p->c, e->name, e->data, e->size);
	return r < 0 ? -EBADMSG : 0;
}

static bool all_bytes(const uint8_t *p, size_t n, uint8_t b)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != b)
			return false;
	return true;
}

int romcfg_parse_slot(const void *buf, size_t len, struct romcfg *ret)
{
	const uint8_t *p = buf;
	struct romcfg c = {.slot = -1};
	uint8_t digest[32];
	uint32_t version, hsize, plen;
	uint64_t seq;

	if (len < ROMCFG_HEADER_SIZE || len > ROMCFG_MAX_SLOT)
		return -EBADMSG;
	if (all_bytes(p, ROMCFG_HEADER_SIZE, 0) || all_bytes(p, ROMCFG_HEADER_SIZE, 0xff))
		return -ENODATA;
	if (memcmp(p, MAGIC, sizeof(MAGIC)))
		return -EBADMSG;
	memcpy(&version, p + 8, 4);
	memcpy(&hsize, p + 12, 4);
	memcpy(&seq, p + 16, 8);
	memcpy(&plen, p + 24, 4);
	version = le32toh(version);
	hsize = le32toh(hsize);
	seq = le64toh(seq);
	plen = le32toh(plen);
	if (version != VERSION || hsize != ROMCFG_HEADER_SIZE || plen > len - ROMCFG_HEADER_SIZE)
		return -EBADMSG;
	if (sha256(p, 32, p + ROMCFG_HEADER_SIZE, plen, digest) < 0)
		return -EIO;
	if (memcmp(digest, p + 32, 32))
		return -EBADMSG;
	struct parse_ctx pc = {.c = &c};
	int r = plen ? cpio_walk(p + ROMCFG_HEADER_SIZE, plen, visit, &pc) : 0;
	if (r < 0) {
		romcfg_free(&c);
		return -EBADMSG;
	}
	c.seq = seq;
	*ret = c;
	return 0;
}

static int open_area(const char *path, int flags, uint64_t *ret_size)
{
	struct stat st;
	int fd = open(path, flags | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		goto fail;
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, ret_size) < 0)
			goto fail;
	} else if (S_ISREG(st.st_mode)) {
		*ret_size = (uint64_t)st.st_size;
	} else {
		errno = ENOTBLK;
		goto fail;
	}
	if (*ret_size < 2 * 4096 || *ret_size > 2ull * ROMCFG_MAX_SLOT) {
		close(fd);
		return log_error_errno(-EINVAL, "%s: %llu bytes is not a ROM config area "
						"(8 KiB .. 16 MiB)", path,
				       (unsigned long long)*ret_size);
	}
	return fd;
fail:;
	int e = -errno;
	close(fd);
	return e;
}

static int read_slot(int fd, size_t slot_size, int i, uint8_t *buf)
{
	ssize_t n = pread(fd, buf, slot_size, (off_t)i * (off_t)slot_size);
	if (n < 0)
		return -errno;
	return (size_t)n == slot_size ? 0 : -EIO;
}

/* The CBFS backend when path holds a coreboot image: 1, else 0. */
static int read_cbfs(const char *path, struct romcfg *ret, int *r)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	*r = fs_read_file(path, CBFS_MAX_IMAGE, &buf, &len);
	if (*r < 0 || !romcfg_is_cbfs(buf, len))
		return 0;
	*r = romcfg_parse_cbfs(buf, len, ret);
	if (*r < 0)
		log_error_errno(*r, "%s: the ROM's CBFS is unreadable", path);
	return 1;
}

int romcfg_read(const char *path, struct romcfg *ret)
{
	int cr;
	if (read_cbfs(path, ret, &cr))
		return cr;
	uint64_t size;
	_cleanup_close_ int fd = open_area(path, O_RDONLY, &size);
	if (fd < 0)
		return log_error_errno(fd, "%s: opening the ROM config area", path);
	size_t slot_size = size / 2;
	_cleanup_free_ uint8_t *buf = xmalloc(slot_size);
	struct romcfg best = {.slot = -1};
	int bad = 0;

	for (int i = 0; i < 2; i++) {
		struct romcfg c;
		int r = read_slot(fd, slot_size, i, buf);
		if (r < 0)
			return log_error_errno(r, "%s: reading slot %d", path, i);
		r = romcfg_parse_slot(buf, slot_size, &c);
		if (r == -ENODATA)
			continue;
		if (r < 0) {
			log_warn("%s: ROM config slot %d is invalid (%s)", path, i,
				 r == -EBADMSG ? "bad header, checksum or content" : strerror(-r));
			bad++;
			continue;
		}
		c.slot = i;
		if (best.slot < 0 || c.seq > best.seq) {
			romcfg_free(&best);
			best = c;
		} else {
			romcfg_free(&c);
		}
	}
	if (best.slot < 0 && bad)
		return log_error_errno(-EBADMSG, "%s: no valid ROM config slot", path);
	*ret = best;
	return 0;
}

static int write_slot(const char *path, int slot, const uint8_t *buf, size_t slot_size)
{
	uint64_t size;
	_cleanup_close_ int fd = open_area(path, O_RDWR, &size);
	if (fd < 0)
		return log_error_errno(fd, "%s: opening the ROM config area", path);
	if (size / 2 != slot_size)
		return -EIO;
	ssize_t n = pwrite(fd, buf, slot_size, (off_t)slot * (off_t)slot_size);
	if (n < 0 || (size_t)n != slot_size)
		return log_error_errno(n < 0 ? -errno : -EIO, "%s: writing slot %d", path, slot);
	if (fsync(fd) < 0)
		return log_error_errno(-errno, "%s: syncing slot %d", path, slot);
	return 0;
}

int romcfg_encode(const struct romcfg *c, uint64_t seq, uint8_t *buf, size_t slot_size)
{
	struct cpio_writer w;
	bool gnupg_dir = false;
	int r = 0;

	if (slot_size < ROMCFG_HEADER_SIZE || slot_size > ROMCFG_MAX_SLOT)
		return -EINVAL;
	cpio_writer_init(&w);
	for (size_t i = 0; i < c->n && r >= 0; i++) {
		if (!gnupg_dir && strncmp(c->v[i].name, ".gnupg/", 7) == 0) {
			r = cpio_add_dir(&w, ".gnupg", 0700);
			gnupg_dir = true;
		}
		if (r >= 0)
			r = cpio_add_file(&w, c->v[i].name,
					  strncmp(c->v[i].name, ".gnupg/", 7) ? 0644 : 0600,
					  c->v[i].data, c->v[i].len);
	}
	if (r >= 0)
		r = cpio_finish(&w);
	if (r >= 0 && w.len > slot_size - ROMCFG_HEADER_SIZE)
		r = -ENOSPC;
	if (r < 0) {
		cpio_writer_free(&w);
		return r;
	}
	uint32_t v32;
	uint64_t v64;
	memset(buf, 0, slot_size);
	memcpy(buf, MAGIC, 8);
	v32 = htole32(VERSION);
	memcpy(buf + 8, &v32, 4);
	v32 = htole32(ROMCFG_HEADER_SIZE);
	memcpy(buf + 12, &v32, 4);
	v64 = htole64(seq);
	memcpy(buf + 16, &v64, 8);
	v32 = htole32((uint32_t)w.len);
	memcpy(buf + 24, &v32, 4);
	memcpy(buf + ROMCFG_HEADER_SIZE, w.buf, w.len);
	r = sha256(buf, 32, w.buf, w.len, buf + 32);
	cpio_writer_free(&w);
	return r;
}

int romcfg_write(const char *path, struct romcfg *c)
{
	uint64_t size;
	{
		struct romcfg probe;
		int cr;
		if (read_cbfs(path, &probe, &cr)) {
			if (cr < 0)
				return cr;
			romcfg_free(&probe);
			return romcfg_write_cbfs(path, c);
		}
	}
	{
		_cleanup_close_ int fd = open_area(path, O_RDONLY, &size);
		if (fd < 0)
			return log_error_errno(fd, "%s: opening the ROM config area", path);
	}
	/* The active slot on the device decides, not what c was read from. */
	struct romcfg cur = {.slot = -1};
	int r = romcfg_read(path, &cur);
	int target = r == 0 && cur.slot == 0 ? 1 : 0;
	uint64_t seq = (r == 0 && cur.seq > c->seq ? cur.seq : c->seq) + 1;
	romcfg_free(&cur);

	size_t slot_size = size / 2;
	_cleanup_free_ uint8_t *buf = xcalloc(1, slot_size);
	r = romcfg_encode(c, seq, buf, slot_size);
	if (r == -ENOSPC)
		return log_error_errno(r, "%s: the files do not fit in a %zu-byte slot", path,
				       slot_size);
	if (r < 0)
		return r;
	r = write_slot(path, target, buf, slot_size);
	if (r < 0)
		return r;
	c->seq = seq;
	c->slot = target;
	log_info("%s: ROM config written (slot %d, sequence %llu, %zu files)", path, target,
		 (unsigned long long)seq, c->n);
	return 0;
}

int romcfg_erase(const char *path)
{
	uint64_t size;
	{
		_cleanup_close_ int fd = open_area(path, O_RDONLY, &size);
		if (fd < 0)
			return log_error_errno(fd, "%s: opening the ROM config area", path);
	}
	_cleanup_free_ uint8_t *zero = xcalloc(1, size / 2);
	for (int i = 0; i < 2; i++) {
		int r = write_slot(path, i, zero, size / 2);
		if (r < 0)
			return r;
	}
	return 0;
}

int romcfg_find(const char *sys_block, const char *serial, char **ret)
{
	const char *root = sys_block ? sys_block : "/sys/block";
	const char *want = serial ? serial : ROMCFG_SERIAL;
	DIR *d = opendir(root);
	struct dirent *de;
	int r = -ENOENT;

	if (!d)
		return -errno;
	while (r == -ENOENT && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		_cleanup_free_ char *p = xasprintf("%s/%s/serial", root, de->d_name);
		_cleanup_free_ char *s = NULL;
		size_t len;
		if (fs_read_file(p, 8192, &s, &len) < 0) /* sysfs: st_size 4096 */
			continue;
		len = strlen(s);
		while (len && (s[len - 1] == '\n' || s[len - 1] == ' '))
			s[--len] = '\0';
		if (streq(s, want)) {
			*ret = xasprintf("/dev/%s", de->d_name);
			r = 0;
		}
	}
	closedir(d);
	if (r == -ENOENT && !sys_block && access("/dev/mtd0", R_OK) == 0) {
		*ret = xstrdup("/dev/mtd0");
		r = 0;
	}
	return r;
}

int romcfg_extract(const struct romcfg *c, const char *root)
{
	for (size_t i = 0; i < c->n; i++) {
		_cleanup_free_ char *path = NULL;
		bool gnupg = strncmp(c->v[i].name, ".gnupg/", 7) == 0;
		int r = fs_path_join(root, c->v[i].name, &path);
		if (r < 0)
			return r;
		char *slash = strrchr(path, '/');
		*slash = '\0';
		r = fs_mkdir_p(path, gnupg ? 0700 : 0755);
		*slash = '/';
		if (r < 0)
			return log_error_errno(r, "creating the directory of %s", path);
		r = fs_write_atomic(path, c->v[i].data, c->v[i].len, gnupg ? 0600 : 0644);
		if (r < 0)
			return log_error_errno(r, "%s: writing", path);
	}
	return 0;
}

/* --- PCR 7 ------------------------------------------------------------------ */

/* The PCR bank's digest size: "sha1" (TPM 1.2) 20, "sha256" 32, else 0. */
static size_t bank_len(const char *bank)
{
	if (bank && streq(bank, "sha1"))
		return 20;
	if (bank && streq(bank, "sha256"))
		return 32;
	return 0;
}

/* The bank's hash of a || b into out, zero-padded to 32 bytes. */
static int bank_hash(const char *bank, const void *a, size_t alen, const void *b, size_t blen,
		     uint8_t out[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t h[32] = {0};
	unsigned n = 32;
	int ok = ctx && bank_len(bank) &&
		 EVP_DigestInit_ex(ctx, bank_len(bank) == 20 ? EVP_sha1() : EVP_sha256(), NULL) &&
		 EVP_DigestUpdate(ctx, a, alen) && (!blen || EVP_DigestUpdate(ctx, b, blen)) &&
		 EVP_DigestFinal_ex(ctx, h, &n);
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return -EIO;
	memcpy(out, h, 32);
	return 0;
}

static void add_event(struct romcfg_event **v, size_t *n, const char *bank, const void *data,
		      size_t len, const char *desc)
{
	*v = xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[*n].description = xstrdup(desc);
	bank_hash(bank, data, len, NULL, 0, (*v)[*n].digest);
	(*n)++;
}

/* Path, then content: what tpm_extend_string + tpm_extend_file record. */
static int add_file_events(struct romcfg_event **v, size_t *n, const char *bank,
			   const char *path, const void *data, size_t len)
{
	add_event(v, n, bank, path, strlen(path), path);
	add_event(v, n, bank, data, len, path);
	return 0;
}

/* Read from path, recorded under name (the payload path). */
static int add_host_file(struct romcfg_event **v, size_t *n, const char *bank, const char *path,
			 const char *name)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	int r = fs_read_file(path, FS_SMALL_FILE_MAX, &data, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return log_error_errno(r, "%s", path);
	return add_file_events(v, n, bank, name, data, len);
}

void romcfg_events_free(struct romcfg_event *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].description);
	free(v);
}

int romcfg_events(const struct romcfg *c, const char *board, const char *user,
		  const char *bank, struct romcfg_event **ret, size_t *ret_n)
{
	struct romcfg_event *v = NULL;
	size_t n = 0;
	bool rom_user = false;
	int r;

	if (!bank_len(bank))
		return -EINVAL;
	r = board ? add_host_file(&v, &n, bank, board, ROMCFG_BOARD_CONFIG) : 0;

	for (size_t i = 0; r >= 0 && c && i < c->n; i++) {
		_cleanup_free_ char *abs = xasprintf("/%s", c->v[i].name);
		rom_user |= streq(c->v[i].name, "etc/config.user");
		r = add_file_events(&v, &n, bank, abs, c->v[i].data, c->v[i].len);
	}
	if (r >= 0 && user && !rom_user)
		r = add_host_file(&v, &n, bank, user, ROMCFG_USER_CONFIG);
	if (r < 0) {
		romcfg_events_free(v, n);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int romcfg_fold(const char *bank, const uint8_t base[32], const struct romcfg_event *v,
		size_t n, uint8_t ret[32])
{
	size_t dl = bank_len(bank);
	uint8_t state[32];

	if (!dl)
		return -EINVAL;
	memcpy(state, base, 32);
	for (size_t i = 0; i < n; i++) {
		int r = bank_hash(bank, state, dl, v[i].digest, dl, state);
		if (r < 0)
			return r;
	}
	memcpy(ret, state, 32);
	return 0;
}

int romcfg_save_base(const char *path, const char *bank, const uint8_t base[32])
{
	size_t dl = bank_len(bank);
	char text[66];

	if (!dl)
		return -EINVAL;
	hex_encode(base, dl, text);
	text[2 * dl] = '\n';
	return fs_write_atomic(path, text, 2 * dl + 1, 0644);
}

int romcfg_load_base(const char *path, const char *bank, uint8_t ret[32])
{
	_cleanup_free_ char *text = NULL;
	size_t len, dl = bank_len(bank), out_len;
	int r;

	if (!dl)
		return -EINVAL;
	r = fs_read_file(path, 256, &text, &len);
	if (r < 0)
		return r;
	if (len && text[len - 1] == '\n')
		text[--len] = '\0';
	memset(ret, 0, 32);
	if (len != 2 * dl)
		return log_error_errno(-EBADMSG, "%s: not a %s value (%zu hex digits, not %zu)",
				       path, bank, len, 2 * dl);
	r = hex_decode(text, ret, dl, &out_len);
	return r < 0 || out_len != dl
		       ? log_error_errno(-EBADMSG, "%s: not a %s value", path, bank)
		       : 0;
}

int romcfg_predict_pcr7(const struct romcfg *c, const char *bank, uint8_t ret[32])
{
	uint8_t base[32];
	struct romcfg_event *v;
	size_t n;
	int r = romcfg_load_base(ROMCFG_PCR7_BASE, bank, base);
	if (r < 0)
		return r;
	r = romcfg_events(c, ROMCFG_BOARD_CONFIG, ROMCFG_USER_CONFIG, bank, &v, &n);
	if (r < 0)
		return r;
	r = romcfg_fold(bank, base, v, n, ret);
	romcfg_events_free(v, n);
	return r;
}
