/* romcfg_cbfs.c - romcfg's CBFS backend (coreboot boards): the owner's files
 * are CBFS files named "heads/initrd/" + a romcfg name (the reference's
 * layout), in the flash (/dev/mtd0 through the kernel's physmap MTD driver)
 * or a ROM image file. Writing replaces those files with our CBFS writer
 * (cbfs_write.h): in place for an image file (atomic replace), through
 * the linux_mtd programmer (flash.h's own MTD backend) for /dev/mtdN (only
 * the COREBOOT region's changed pieces, each verified; flash.h). */
#include "cbfs.h"
#include "cbfs_write.h"
#include "flash.h"
#include "fs.h"
#include "log.h"
#include "romcfg.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PREFIX "heads/initrd/"

bool romcfg_is_cbfs(const void *buf, size_t len)
{
	struct fmap f;
	bool yes;
	if (len >= 8 && !memcmp(buf, "HEADSROM", 8))
		return false;
	if (len >= 2 * 8 && !memcmp((const uint8_t *)buf + len / 2, "HEADSROM", 8))
		return false;
	if (fmap_parse(buf, len, &f) < 0)
		return false;
	yes = fmap_find(&f, CBFS_DEFAULT_REGION) != NULL;
	fmap_free(&f);
	return yes;
}

int romcfg_parse_cbfs(const void *buf, size_t len, struct romcfg *ret)
{
	struct cbfs c;
	struct romcfg out = {.slot = -1};
	int r = cbfs_parse(buf, len, NULL, &c);
	if (r < 0)
		return r == -ENOENT ? -EBADMSG : r;
	for (size_t i = 0; i < c.n; i++) {
		const struct cbfs_file *f = &c.files[i];
		_cleanup_free_ uint8_t *data = NULL;
		size_t n;
		if (f->type == CBFS_TYPE_NULL || f->type == CBFS_TYPE_DELETED ||
		    strncmp(f->name, PREFIX, strlen(PREFIX)))
			continue;
		if (romcfg_name_ok(f->name + strlen(PREFIX)) < 0) {
			log_warn("CBFS file %s: not a ROM configuration name: ignored", f->name);
			continue;
		}
		if (out.n >= ROMCFG_MAX_FILES || f->decompressed_size > ROMCFG_MAX_SLOT) {
			r = -EBADMSG;
			goto fail;
		}
		r = cbfs_read(&c, f, &data, &n);
		if (r < 0)
			goto fail;
		r = romcfg_set(&out, f->name + strlen(PREFIX), data, n);
		if (r < 0)
			goto fail;
		out.slot = 0;
	}
	cbfs_free(&c);
	*ret = out;
	return 0;
fail:
	cbfs_free(&c);
	romcfg_free(&out);
	return r;
}

/* "/dev/mtdN" -> N (the linux_mtd programmer's dev=N). */
static int mtd_index(const char *path, unsigned *ret)
{
	const char *b = strrchr(path, '/');
	unsigned long long n;
	b = b ? b + 1 : path;
	if (strncmp(b, "mtd", 3) || parse_uint(b + 3, 255, &n) < 0)
		return -ENOTSUP;
	*ret = (unsigned)n;
	return 0;
}

int romcfg_write_cbfs(const char *path, struct romcfg *c)
{
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t len;
	int r;

	if (stat(path, &st) < 0)
		return log_error_errno(-errno, "%s", path);
	r = fs_read_file(path, CBFS_MAX_IMAGE, &buf, &len);
	if (r < 0)
		return log_error_errno(r, "%s: reading the ROM", path);
	r = cbfs_set_owner_files((uint8_t *)buf, len, c);
	if (r == -ENOSPC)
		return log_error_errno(r, "%s: the owner's files do not fit in the ROM's CBFS", path);
	if (r < 0)
		return log_error_errno(r, "%s: writing the owner's files into the ROM's CBFS", path);
	if (S_ISREG(st.st_mode)) {
		r = fs_write_atomic(path, buf, len, st.st_mode & 07777);
		if (r < 0)
			return log_error_errno(r, "%s: writing", path);
	} else {
		struct flash *f;
		struct flash_write_result res = {0};
		unsigned idx;
		char prog[32];
		if (!S_ISCHR(st.st_mode) || mtd_index(path, &idx) < 0)
			return log_error_errno(-ENOTSUP, "%s: neither an image file nor an MTD device",
					       path);
		snprintf(prog, sizeof(prog), "linux_mtd:dev=%u", idx);
		r = flash_open(prog, &f);
		if (r < 0)
			return r;
		r = flash_write(f, (const uint8_t *)buf, len, CBFS_DEFAULT_REGION, NULL, &res);
		if (flash_close(f) < 0 && r == 0)
			r = -EIO;
		if (r < 0)
			return log_error_errno(r, "%s: flashing the ROM's %s region%s", path,
					       CBFS_DEFAULT_REGION,
					       res.state == FLASH_STATE_MIXED
						       ? " left it partly written: write again"
						       : "");
	}
	c->seq++;
	c->slot = 0;
	log_info("%s: ROM config written into CBFS (%zu files)", path, c->n);
	return 0;
}
