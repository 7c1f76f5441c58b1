/* romcfg_cbfs.c - romcfg's CBFS backend (coreboot boards): the owner's files
 * are CBFS files named "heads/initrd/" + a romcfg name (the reference's
 * layout), in the flash (/dev/mtd0 through the kernel's physmap MTD driver)
 * or a ROM image file. Read-only: the files are written into the ROM on the
 * host (cbfstool add); a CBFS writer is not part of this build. */
#include "cbfs.h"
#include "log.h"
#include "romcfg.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
