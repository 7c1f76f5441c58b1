/* media.c - removable media: file systems, ISO files, boot configurations. */
#include "iso/media.h"
#include "iso/iso.h"
#include "fs.h"
#include "log.h"
#include "util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <blkid/blkid.h>
#include <linux/fs.h>

const char *media_status_name(enum media_status s)
{
	switch (s) {
	case MEDIA_OK: return "ok";
	case MEDIA_NO_FS: return "no-filesystem";
	case MEDIA_UNSUPPORTED: return "unsupported";
	case MEDIA_ERROR: return "error";
	}
	return "?";
}

void media_strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* /dev/NAME appended to the list (v, n). */
static void dev_list_add(char ***v, size_t *n, const char *name)
{
	*v = xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[(*n)++] = xasprintf("/dev/%s", name);
}

/* The directory walked closed, the list sorted and handed to the caller. */
static void dev_list_finish(DIR *d, char **v, size_t n, char ***ret, size_t *ret_n)
{
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), cmp_str);
	*ret = v;
	*ret_n = n;
}

int media_discover(char ***ret, size_t *ret_n)
{
	DIR *d = opendir("/sys/block");
	struct dirent *de;
	char **v = NULL;
	size_t n = 0;

	if (!d)
		return log_error_errno(-errno, "/sys/block");
	while ((de = readdir(d)) && n < MEDIA_MAX_PARTS) {
		char link[PATH_MAX], rm[8] = "";
		if (de->d_name[0] == '.' || strchr(de->d_name, '/'))
			continue;
		_cleanup_free_ char *p = xasprintf("/sys/block/%s", de->d_name);
		_cleanup_free_ char *rp = xasprintf("/sys/block/%s/removable", de->d_name);
		ssize_t l = readlink(p, link, sizeof(link) - 1);
		link[l > 0 ? l : 0] = 0;
		_cleanup_close_ int fd = open(rp, O_RDONLY | O_CLOEXEC);
		if (fd >= 0 && read(fd, rm, sizeof(rm) - 1) < 0)
			rm[0] = 0;
		if (rm[0] != '1' && !strstr(link, "/usb"))
			continue;
		dev_list_add(&v, &n, de->d_name);
	}
	dev_list_finish(d, v, n, ret, ret_n);
	return 0;
}

/* ---- probing ---------------------------------------------------------- */

struct probe {
	char *type, *label, *uuid;
	bool pttype;
	uint64_t size;
};

static char *clean(const char *v)
{
	char *s = xstrdup(v);
	for (char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return s;
}

static void probe_dev(const char *dev, struct probe *ret)
{
	blkid_probe pr;
	const char *v;

	memset(ret, 0, sizeof(*ret));
	pr = blkid_new_probe_from_filename(dev);
	if (!pr)
		return;
	ret->size = (uint64_t)blkid_probe_get_size(pr);
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_LABEL |
					      BLKID_SUBLKS_UUID);
	blkid_probe_enable_partitions(pr, 1);
	if (blkid_do_safeprobe(pr) == 0) {
		if (blkid_probe_lookup_value(pr, "TYPE", &v, NULL) == 0)
			ret->type = clean(v);
		if (blkid_probe_lookup_value(pr, "LABEL", &v, NULL) == 0)
			ret->label = clean(v);
		if (blkid_probe_lookup_value(pr, "UUID", &v, NULL) == 0)
			ret->uuid = clean(v);
		if (blkid_probe_lookup_value(pr, "PTTYPE", &v, NULL) == 0)
			ret->pttype = true;
	}
	blkid_free_probe(pr);
}

/* The partitions of disk (from sysfs), as /dev/NAME, sorted. */
static void partitions(const char *disk, char ***ret, size_t *ret_n)
{
	struct stat st;
	char **v = NULL;
	size_t n = 0;

	*ret = NULL;
	*ret_n = 0;
	if (stat(disk, &st) < 0 || !S_ISBLK(st.st_mode))
		return;
	_cleanup_free_ char *sys = xasprintf("/sys/dev/block/%u:%u", major(st.st_rdev),
					      minor(st.st_rdev));
	DIR *d = opendir(sys);
	struct dirent *de;
	if (!d)
		return;
	while ((de = readdir(d)) && n < MEDIA_MAX_PARTS) {
		if (de->d_name[0] == '.')
			continue;
		_cleanup_free_ char *pf = xasprintf("%s/%s/partition", sys, de->d_name);
		if (access(pf, F_OK) != 0)
			continue;
		dev_list_add(&v, &n, de->d_name);
	}
	dev_list_finish(d, v, n, ret, ret_n);
}

/* ---- walking a mounted volume ----------------------------------------- */

static bool ends_iso(const char *n)
{
	size_t l = strlen(n);
	return l > 4 && strcasecmp(n + l - 4, ".iso") == 0;
}

static const char *sig_beside(int dfd, const char *name)
{
	static const char *const lists[] = {"SHA256SUMS", "SHA256SUMS.txt", "sha256sum.txt",
					    "sha256sums.txt"};
	static char buf[NAME_MAX + 8];
	struct stat st;

	snprintf(buf, sizeof(buf), "%s.sig", name);
	if (fstatat(dfd, buf, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
		return buf;
	snprintf(buf, sizeof(buf), "%s.asc", name);
	if (fstatat(dfd, buf, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
		return buf;
	for (size_t i = 0; i < ARRAY_SIZE(lists); i++)
		if (fstatat(dfd, lists[i], &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
			return lists[i];
	return NULL;
}

static bool walk_at(int dfd, const char *prefix, unsigned depth, unsigned max_depth,
		    media_walk_fn found, void *ud)
{
	DIR *d = NULL;
	struct dirent *de;
	unsigned seen = 0;
	bool truncated = false;

	if (fs_opendir_at(dfd, ".", &d) < 0)
		return false;
	while ((de = readdir(d))) {
		struct stat st;
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		if (++seen > MEDIA_MAX_DIRENTS) {
			truncated = true;
			break;
		}
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		_cleanup_free_ char *p = xasprintf("%s/%s", prefix, de->d_name);
		if (S_ISDIR(st.st_mode)) {
			if (depth + 1 >= max_depth) {
				truncated = true;
				continue;
			}
			int sub = openat(dirfd(d), de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0)
				continue;
			truncated |= walk_at(sub, p, depth + 1, max_depth, found, ud);
			close(sub);
		} else if (S_ISREG(st.st_mode) && !found(ud, dirfd(d), de->d_name, p, &st)) {
			truncated = true;
		}
	}
	closedir(d);
	return truncated;
}

bool media_walk(int dfd, unsigned max_depth, media_walk_fn found, void *ud)
{
	return walk_at(dfd, "", 0, max_depth, found, ud);
}

/* media_walk's callback for a volume: its *.iso files. */
static bool found_iso(void *ud, int dirfd, const char *name, const char *path,
		      const struct stat *st)
{
	struct media_volume *v = ud;
	if (!ends_iso(name))
		return true;
	if (v->n_isos >= MEDIA_MAX_ISOS)
		return false;
	const char *sig = sig_beside(dirfd, name);
	v->isos = xrealloc(v->isos, (v->n_isos + 1) * sizeof(*v->isos));
	v->isos[v->n_isos++] = (struct media_iso){
		.path = xstrdup(path),
		.size = (uint64_t)st->st_size,
		.signature = sig ? xstrdup(sig) : NULL,
	};
	return true;
}

static int cmp_iso_rev(const void *a, const void *b)
{
	return strcmp(((const struct media_iso *)b)->path, ((const struct media_iso *)a)->path);
}

static void set_error(struct media_volume *v, enum media_status s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_error(struct media_volume *v, enum media_status s, const char *fmt, ...)
{
	va_list ap;
	char *m = NULL;
	va_start(ap, fmt);
	if (vasprintf(&m, fmt, ap) < 0)
		abort();
	va_end(ap);
	free(v->error);
	v->error = m;
	v->status = s;
}

static void read_mounted(struct media_volume *v)
{
	const char *tmp = getenv("TMPDIR");
	_cleanup_free_ char *dir = xasprintf("%s/heads-media-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	struct boot_view *view = NULL;
	int dfd, r;

	if (!mkdtemp(dir)) {
		set_error(v, MEDIA_ERROR, "cannot create a mount point: %s", strerror(errno));
		return;
	}
	if (mount(v->device, dir, v->fstype, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  NULL) < 0) {
		int e = errno;
		rmdir(dir);
		if (e == ENODEV)
			set_error(v, MEDIA_UNSUPPORTED, "%s: file system %s not supported by this kernel",
				  v->device, v->fstype);
		else
			set_error(v, MEDIA_ERROR, "%s: cannot mount %s read-only: %s", v->device,
				  v->fstype, strerror(e));
		return;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		if (media_walk(dfd, MEDIA_MAX_DEPTH, found_iso, v))
			v->isos_truncated = true;
		close(dfd);
	}
	if (v->n_isos)
		qsort(v->isos, v->n_isos, sizeof(*v->isos), cmp_iso_rev);
	r = boot_view_open(dir, NULL, &view);
	if (r >= 0) {
		r = bootcfg_scan(view, &v->entries);
		if (r < 0)
			log_warn("%s: its boot configuration could not be parsed (%s)", v->device,
				 strerror(-r));
		boot_view_free(view);
	}
	v->status = MEDIA_OK;
	if (umount2(dir, 0) < 0) {
		log_warn("%s: unmount: %s; detaching", dir, strerror(errno));
		(void)umount2(dir, MNT_DETACH);
	}
	rmdir(dir);
}

static void read_iso9660(struct media_volume *v)
{
	struct iso_file f;
	uint64_t size = 0;
	int fd, r;

	fd = open(v->device, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || ioctl(fd, BLKGETSIZE64, &size) < 0) {
		set_error(v, MEDIA_ERROR, "%s: %s", v->device, strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	iso_open_fd(fd, v->device, size, &f);
	r = iso_entries(&f, NULL, &v->entries);
	if (r < 0)
		set_error(v, MEDIA_ERROR, "%s: not a readable ISO 9660 image (%s)", v->device,
			  strerror(-r));
	else
		v->status = MEDIA_OK;
	iso_close(&f);
}

static bool mountable(const char *t)
{
	static const char *const ok[] = {"vfat", "exfat", "ext2", "ext3", "ext4", "udf"};
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++)
		if (streq(t, ok[i]))
			return true;
	return false;
}

static void add_volume(struct media_scan *s, const char *dev, const char *disk, bool whole,
		       struct probe *p)
{
	struct media_volume *v;

	s->v = xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
	v = &s->v[s->n++];
	memset(v, 0, sizeof(*v));
	v->entries.default_index = -1;
	v->device = xstrdup(dev);
	v->disk = xstrdup(disk);
	v->whole_disk = whole;
	v->fstype = TAKE_PTR(p->type);
	v->label = TAKE_PTR(p->label);
	v->uuid = TAKE_PTR(p->uuid);
	v->size = p->size;
	if (!v->fstype)
		set_error(v, MEDIA_NO_FS, "%s: no file system", dev);
	else if (streq(v->fstype, "iso9660"))
		read_iso9660(v);
	else if (mountable(v->fstype))
		read_mounted(v);
	else
		set_error(v, MEDIA_UNSUPPORTED, "%s: file system %s is not read for boot media", dev,
			  v->fstype);
}

static void probe_free(struct probe *p)
{
	free(p->type);
	free(p->label);
	free(p->uuid);
}

int media_scan(char *const *disks, size_t n, struct media_scan *ret)
{
	struct media_scan s = {0};

	for (size_t i = 0; i < n; i++) {
		struct stat st;
		struct probe p;
		char **parts;
		size_t np;
		int e = stat(disks[i], &st) < 0 ? -errno : S_ISBLK(st.st_mode) ? 0 : -ENOTBLK;
		if (e < 0) {
			log_error_errno(e, "%s: not a block device", disks[i]);
			media_scan_free(&s);
			return e;
		}
		probe_dev(disks[i], &p);
		partitions(disks[i], &parts, &np);
		if (p.type || !np) {
			/* a file system on the whole disk (dd-written ISO, hybrid or
			 * not; a superfloppy): its partitions are views of it */
			add_volume(&s, disks[i], disks[i], true, &p);
		} else {
			for (size_t k = 0; k < np; k++) {
				struct probe q;
				probe_dev(parts[k], &q);
				add_volume(&s, parts[k], disks[i], false, &q);
				probe_free(&q);
			}
		}
		probe_free(&p);
		media_strv_free(parts, np);
	}
	*ret = s;
	return 0;
}

void media_scan_free(struct media_scan *s)
{
	for (size_t i = 0; i < s->n; i++) {
		struct media_volume *v = &s->v[i];
		free(v->device);
		free(v->disk);
		free(v->fstype);
		free(v->label);
		free(v->uuid);
		free(v->error);
		for (size_t k = 0; k < v->n_isos; k++) {
			free(v->isos[k].path);
			free(v->isos[k].signature);
		}
		free(v->isos);
		boot_entries_free(&v->entries);
	}
	free(s->v);
	memset(s, 0, sizeof(*s));
}

int media_mount_ro(const struct media_volume *v, char **ret_dir)
{
	const char *tmp = getenv("TMPDIR");
	char *dir;

	if (v->status != MEDIA_OK || !v->fstype || !mountable(v->fstype))
		return log_error_errno(-EMEDIUMTYPE, "%s: not a volume with a file system to mount",
				       v->device);
	dir = xasprintf("%s/heads-media-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		int e = -errno;
		free(dir);
		return log_error_errno(e, "cannot create a mount point");
	}
	if (mount(v->device, dir, v->fstype, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  NULL) < 0) {
		int e = -errno;
		rmdir(dir);
		free(dir);
		return log_error_errno(e, "%s: cannot mount %s read-only", v->device, v->fstype);
	}
	*ret_dir = dir;
	return 0;
}

void media_umount(char *dir)
{
	if (!dir)
		return;
	if (umount2(dir, 0) < 0) {
		log_warn("%s: unmount: %s; detaching", dir, strerror(errno));
		(void)umount2(dir, MNT_DETACH);
	}
	rmdir(dir);
	free(dir);
}
