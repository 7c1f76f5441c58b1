/* flow/flash_rom.c - the Flash menu's ROM file (flow/flash.c): found on a
 * removable disk (iso/media.h: volumes mounted read-only, nosuid, nodev,
 * noexec; a bounded walk for *.rom and *.zip), chosen, read once into
 * memory; a .zip is the reference's update package, whose one .rom must
 * match its sha256sum.txt (zip.h, iso_sums_find), else it is refused.
 */
#include "board.h"
#include "cbfs.h"
#include "cbfs_write.h"
#include "cbstages.h"
#include "coreboot.h"
#include "codec.h"
#include "duk.h"
#include "flash.h"
#include "flow/menu.h"
#include "fs.h"
#include "iso/iso.h"
#include "iso/media.h"
#include "log.h"
#include "romcfg.h"
#include "tpm/tpm.h"
#include "tpm_otp.h"
#include "ui/ui.h"
#include "util.h"
#include "zip.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define FLASH_ROM_MAX_FILES 64
#define FLASH_ROM_MAX_DEPTH 4

/* --- the ROM file on a removable disk ----------------------------------- */

struct rom_file {
	size_t vol;   /* index in the scan */
	char *path;   /* inside the volume, "/dir/x.rom" */
	uint64_t size;
	bool zip;     /* an update package: x.zip with a .rom and sha256sum.txt */
};

struct rom_list {
	struct rom_file *v;
	size_t n;
	bool truncated;
};

static bool ends_with(const char *n, const char *ext)
{
	size_t l = strlen(n), e = strlen(ext);
	return l > e && strcasecmp(n + l - e, ext) == 0;
}

struct rom_walk {
	struct rom_list *l;
	size_t vol;
};

/* media_walk's callback: the *.rom and *.zip files of volume w->vol. */
static bool found_rom(void *ud, int dirfd, const char *name, const char *path,
		      const struct stat *st)
{
	struct rom_walk *w = ud;
	struct rom_list *l = w->l;
	(void)dirfd;
	if (!ends_with(name, ".rom") && !ends_with(name, ".zip"))
		return true;
	if (l->n >= FLASH_ROM_MAX_FILES)
		return false;
	l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = (struct rom_file){
		.vol = w->vol,
		.path = xstrdup(path),
		.size = (uint64_t)st->st_size,
		.zip = ends_with(name, ".zip"),
	};
	return true;
}

static int cmp_rom(const void *a, const void *b)
{
	const struct rom_file *x = a, *y = b;
	if (x->vol != y->vol)
		return x->vol < y->vol ? -1 : 1;
	return strcmp(x->path, y->path);
}

static void rom_list_free(struct rom_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].path);
	free(l->v);
	*l = (struct rom_list){0};
}

/* The file's bytes, read once from the volume mounted read-only. */
static int read_rom(const struct media_volume *v, const char *path, uint8_t **ret, size_t *ret_len)
{
	char *dir = NULL, *buf = NULL;
	struct stat st;
	size_t len = 0;
	int dfd = -1, fd = -1, r;

	if ((r = media_mount_ro(v, &dir)) < 0)
		return r;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	r = dfd < 0 ? -errno : 0;
	if (r == 0) {
		fd = fs_open_beneath(dfd, path + 1, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0);
		r = fd < 0 ? fd : 0;
	}
	if (r == 0 && fstat(fd, &st) < 0)
		r = -errno;
	if (r == 0 && !S_ISREG(st.st_mode))
		r = -EINVAL;
	if (r == 0)
		r = fs_read_fd(fd, FLASH_MAX_SIZE, &buf, &len);
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	media_umount(dir);
	if (r < 0)
		return log_error_errno(r, "%s:%s: cannot read the ROM file%s", v->device, path,
				       r == -EFBIG ? " (larger than any flash chip)" : "");
	*ret = (uint8_t *)buf;
	*ret_len = len;
	return 0;
}

/* The reference's update package: exactly one *.rom and a sha256sum.txt
 * (beside it in the archive) whose line for it must give the ROM's
 * SHA-256. *ret: the ROM's bytes; *ret_inner its name in the package;
 * *ret_why the reason of a refusal (both caller-freed). */
static int unpack_zip(const uint8_t *pkg, size_t len, uint8_t **ret, size_t *ret_len,
		      char **ret_inner, char **ret_why)
{
	struct zip z;
	const struct zip_entry *rom = NULL, *sums;
	_cleanup_free_ char *sums_name = NULL;
	_cleanup_free_ uint8_t *sbuf = NULL, *rbuf = NULL;
	size_t slen = 0, rlen = 0;
	uint8_t want[32], got[32];
	const char *base;
	unsigned nroms = 0;
	int r = zip_parse(pkg, len, &z);

	if (r < 0) {
		*ret_why = xasprintf("not a ZIP archive this build reads (%s)", strerror(-r));
		return r;
	}
	for (size_t i = 0; i < z.n; i++)
		if (ends_with(z.v[i].name, ".rom")) {
			rom = &z.v[i];
			nroms++;
		}
	if (nroms != 1) {
		*ret_why = xasprintf("the package holds %u .rom files (one expected)", nroms);
		r = -EINVAL;
		goto out;
	}
	base = strrchr(rom->name, '/');
	sums_name = base ? xasprintf("%.*s/sha256sum.txt", (int)(base - rom->name), rom->name)
			 : xstrdup("sha256sum.txt");
	base = base ? base + 1 : rom->name;
	sums = zip_find(&z, sums_name);
	if (!sums) {
		*ret_why = xasprintf("the package has no %s", sums_name);
		r = -ENOENT;
		goto out;
	}
	if ((r = zip_extract(&z, sums, 64 * 1024, &sbuf, &slen)) < 0) {
		*ret_why = xasprintf("%s cannot be extracted (%s)", sums_name, strerror(-r));
		goto out;
	}
	if ((r = zip_extract(&z, rom, FLASH_MAX_SIZE, &rbuf, &rlen)) < 0) {
		*ret_why = xasprintf("%s cannot be extracted (%s)", rom->name, strerror(-r));
		goto out;
	}
	r = iso_sums_find((const char *)sbuf, slen, base, want);
	if (r < 0) {
		*ret_why = xasprintf("%s has no valid line for %s", sums_name, base);
		goto out;
	}
	EVP_Digest(rbuf, rlen, got, NULL, EVP_sha256(), NULL);
	if (memcmp(want, got, 32)) {
		char a[65], b[65];
		hex_encode(got, 32, a);
		hex_encode(want, 32, b);
		*ret_why = xasprintf("%s does not match %s: SHA-256 %s, listed %s", rom->name,
				     sums_name, a, b);
		r = -EBADMSG;
		goto out;
	}
	*ret_inner = xstrdup(rom->name);
	*ret = TAKE_PTR(rbuf);
	*ret_len = rlen;
	r = 0;
out:
	zip_free(&z);
	return r;
}

/* The user picks a *.rom on a removable disk; its bytes into *ret. 1 read,
 * 0 none chosen (said why), or a fatal UI error. */
int menu_flash_choose_rom(struct menu *m, uint8_t **ret, size_t *ret_len, char **ret_name)
{
	char **disks = m->media;
	size_t n_disks = m->n_media;
	char **found = NULL;
	struct media_scan scan = {0};
	struct rom_list l = {0};
	struct ui_item *items = NULL;
	char **labels = NULL, **keys = NULL;
	int r;

	if (!disks) {
		r = media_discover(&found, &n_disks);
		if (r < 0)
			n_disks = 0;
		disks = found;
	}
	r = n_disks ? media_scan(disks, n_disks, &scan) : 0;
	for (size_t i = 0; r == 0 && i < scan.n; i++) {
		const struct media_volume *v = &scan.v[i];
		char *dir = NULL;
		if (v->status != MEDIA_OK || !v->fstype || streq(v->fstype, "iso9660"))
			continue;
		if (media_mount_ro(v, &dir) < 0)
			continue;
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			struct rom_walk w = {&l, i};
			if (media_walk(dfd, FLASH_ROM_MAX_DEPTH, found_rom, &w))
				l.truncated = true;
			close(dfd);
		}
		media_umount(dir);
	}
	if (l.n)
		qsort(l.v, l.n, sizeof(*l.v), cmp_rom);
	if (r < 0 || l.n == 0) {
		_cleanup_free_ char *t = xasprintf(
			"No ROM file (*.rom) or update package (*.zip) found on %s.\n\nInsert a "
			"USB drive holding the firmware image and try again.",
			n_disks ? "the removable disks" : "any removable disk (none attached)");
		r = ui_msgbox(m->ui, UI_BG_WARNING, "No ROM file", t);
		r = ui_fatal(r) ? r : 0;
		goto out;
	}
	items = xcalloc(l.n, sizeof(*items));
	labels = xcalloc(l.n, sizeof(char *));
	keys = xcalloc(l.n, sizeof(char *));
	for (size_t i = 0; i < l.n; i++) {
		keys[i] = xasprintf("%zu", i + 1);
		labels[i] = xasprintf("%s:%s (%" PRIu64 " bytes)", scan.v[l.v[i].vol].device,
				      l.v[i].path, l.v[i].size);
		items[i] = (struct ui_item){keys[i], labels[i]};
	}
	{
		_cleanup_free_ char *text = xasprintf(
			"Choose the ROM file to flash%s:",
			l.truncated ? " (the list is cut: too many files or directories)" : "");
		r = ui_menu(m->ui, UI_BG_NORMAL, "Select the ROM file", text, items, l.n, l.n);
	}
	if (r < 0) {
		r = ui_fatal(r) ? r : 0;
		goto out;
	}
	{
		const struct rom_file *f = &l.v[r];
		_cleanup_free_ char *why = NULL, *inner = NULL;
		r = read_rom(&scan.v[f->vol], f->path, ret, ret_len);
		if (r == 0 && f->zip) {
			uint8_t *pkg = *ret;
			*ret = NULL;
			r = unpack_zip(pkg, *ret_len, ret, ret_len, &inner, &why);
			free(pkg);
		}
		if (r < 0) {
			_cleanup_free_ char *t = xasprintf("%s:%s cannot be used: %s.",
							   scan.v[f->vol].device, f->path,
							   why ? why : strerror(-r));
			r = ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: ROM file", t);
			r = ui_fatal(r) ? r : 0;
			goto out;
		}
		*ret_name = inner ? xasprintf("%s:%s (%s, checked against its sha256sum.txt)",
					      scan.v[f->vol].device, f->path, inner)
				  : xasprintf("%s:%s", scan.v[f->vol].device, f->path);
		r = 1;
	}
out:
	for (size_t i = 0; labels && i < l.n; i++) {
		free(labels[i]);
		free(keys[i]);
	}
	free(labels);
	free(keys);
	free(items);
	rom_list_free(&l);
	media_scan_free(&scan);
	if (found)
		media_strv_free(found, n_disks);
	return r;
}

