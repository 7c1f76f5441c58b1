/* luks/device.c - opening containers and finding them: probe, discovery with
 * libblkid, parent disks (see luks.h). */
#include "luks/luks.h"
#include "luks/luks-internal.h"
#include "codec.h"
#include "log.h"
#include "util.h"

#include <blkid/blkid.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <libcryptsetup.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/sysmacros.h>
#include <time.h>

/* libcryptsetup's own messages go to the session log only: we log one
 * error per failure at the boundary, naming the device. */
void luks_crypt_log(int level, const char *msg, void *usrptr)
{
	(void)usrptr;
	if (level == CRYPT_LOG_DEBUG || level == CRYPT_LOG_DEBUG_JSON)
		return;
	size_t n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		n--;
	log_debug("libcryptsetup: %.*s", (int)n, msg);
}

int luks_open_quiet(const char *path, bool quiet, struct crypt_device **ret)
{
	struct crypt_device *cd = NULL;
	int r;

	crypt_set_log_callback(NULL, luks_crypt_log, NULL);
	r = crypt_init(&cd, path);
	if (r < 0)
		return quiet ? r : log_error_errno(r, "%s: cannot open", path);
	crypt_set_log_callback(cd, luks_crypt_log, NULL);
	r = crypt_load(cd, CRYPT_LUKS, NULL);
	if (r < 0) {
		crypt_free(cd);
		if (quiet)
			return r;
		if (r == -EINVAL)
			log_error("%s: not a LUKS container (or a damaged header)", path);
		else
			log_error_errno(r, "%s: cannot read the LUKS header", path);
		return r;
	}
	*ret = cd;
	return 0;
}

int luks_open(const char *path, struct crypt_device **ret)
{
	return luks_open_quiet(path, false, ret);
}

int luks_version_of(struct crypt_device *cd)
{
	const char *t = crypt_get_type(cd);
	if (t && streq(t, CRYPT_LUKS1))
		return 1;
	if (t && streq(t, CRYPT_LUKS2))
		return 2;
	return 0;
}

uint32_t luks_used_slots(struct crypt_device *cd, int max)
{
	uint32_t m = 0;
	for (int i = 0; i < max && i < LUKS_MAX_SLOTS; i++) {
		crypt_keyslot_info ki = crypt_keyslot_status(cd, i);
		if (ki == CRYPT_SLOT_ACTIVE || ki == CRYPT_SLOT_ACTIVE_LAST ||
		    ki == CRYPT_SLOT_UNBOUND)
			m |= UINT32_C(1) << i;
	}
	return m;
}

void luks_device_done(struct luks_device *d)
{
	if (!d)
		return;
	free(d->path);
	free(d->uuid);
	free(d->parent);
	memset(d, 0, sizeof(*d));
}

void luks_devices_free(struct luks_device *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		luks_device_done(&v[i]);
	free(v);
}

int luks_parent_disk(const char *sys_root, const char *name, char **ret_parent,
		     bool *ret_removable)
{
	_cleanup_free_ char *link = NULL, *real = NULL, *part = NULL, *parent = NULL;
	_cleanup_free_ char *rem = NULL;
	struct stat st;
	bool removable = false;
	char buf[8] = "";

	if (!*name || strchr(name, '/') || streq(name, ".") || streq(name, ".."))
		return -EINVAL;
	link = xasprintf("%s/class/block/%s", sys_root, name);
	real = realpath(link, NULL);
	if (!real)
		return -errno;
	part = xasprintf("%s/partition", real);
	if (stat(part, &st) == 0) {
		/* .../block/sda/sda2 -> sda ; .../nvme0n1/nvme0n1p3 -> nvme0n1 */
		char *slash = strrchr(real, '/');
		if (!slash || slash == real)
			return -EINVAL;
		*slash = '\0';
		const char *b = strrchr(real, '/');
		parent = xstrdup(b ? b + 1 : real);
		*slash = '/';
	} else {
		parent = xstrdup(name);
	}
	if (strstr(real, "/usb"))
		removable = true;
	rem = xasprintf("%s/block/%s/removable", sys_root, parent);
	int fd = open(rem, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		long n = read_full(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0 && buf[0] == '1')
			removable = true;
	}
	*ret_parent = TAKE_PTR(parent);
	if (ret_removable)
		*ret_removable = removable;
	return 0;
}

/* Block device name of path ("sda2", "dm-0") via its device number, or
 * NULL for a regular file. */
static char *block_name(const char *path)
{
	struct stat st;
	char buf[PATH_MAX];
	_cleanup_free_ char *link = NULL;
	ssize_t n;

	if (stat(path, &st) < 0 || !S_ISBLK(st.st_mode))
		return NULL;
	link = xasprintf("/sys/dev/block/%u:%u", major(st.st_rdev), minor(st.st_rdev));
	n = readlink(link, buf, sizeof(buf) - 1);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	const char *b = strrchr(buf, '/');
	return xstrdup(b ? b + 1 : buf);
}

int luks_probe(const char *path, struct luks_device *ret)
{
	_cleanup_crypt_ struct crypt_device *cd = NULL;
	struct luks_device d = {0};
	_cleanup_free_ char *name = NULL;
	int r;

	r = luks_open(path, &cd);
	if (r < 0)
		return r;
	d.version = luks_version_of(cd);
	if (!d.version)
		return log_error_errno(-EMEDIUMTYPE, "%s: unsupported LUKS version", path);
	d.max_slots = crypt_keyslot_max(crypt_get_type(cd));
	if (d.max_slots <= 0 || d.max_slots > LUKS_MAX_SLOTS)
		return log_error_errno(-EINVAL, "%s: unexpected key slot count", path);
	d.used_slots = luks_used_slots(cd, d.max_slots);
	if (d.version == 2) {
		d.reencrypt = luks_reencrypt_state_of(cd);
		d.luks1_pending = luks1_marker(cd) >= 0;
	}
	d.path = xstrdup(path);
	d.uuid = xstrdup(crypt_get_uuid(cd) ? crypt_get_uuid(cd) : "");
	name = block_name(path);
	if (name && luks_parent_disk("/sys", name, &d.parent, &d.removable) < 0)
		d.parent = NULL;
	*ret = d;
	return 0;
}

static int cmp_path(const void *a, const void *b)
{
	return strcmp(((const struct luks_device *)a)->path,
		      ((const struct luks_device *)b)->path);
}

int luks_discover(bool include_removable, struct luks_device **ret, size_t *ret_n)
{
	blkid_cache cache = NULL;
	blkid_dev_iterate it;
	blkid_dev dev;
	struct luks_device *v = NULL;
	size_t n = 0;
	int r;

	r = blkid_get_cache(&cache, "/dev/null");
	if (r < 0)
		return log_error_errno(-ENOMEM, "blkid: cannot create a cache");
	r = blkid_probe_all(cache);
	if (r < 0) {
		blkid_put_cache(cache);
		return log_error_errno(-EIO, "blkid: cannot probe block devices");
	}
	it = blkid_dev_iterate_begin(cache);
	blkid_dev_set_search(it, (char *)"TYPE", (char *)"crypto_LUKS");
	while (blkid_dev_next(it, &dev) == 0) {
		dev = blkid_verify(cache, dev);
		if (!dev)
			continue;
		const char *p = blkid_dev_devname(dev);
		struct luks_device d;
		if (!p || luks_probe(p, &d) < 0)
			continue;
		if (d.removable && !include_removable) {
			log_debug("%s: on a removable/USB disk, skipped", p);
			luks_device_done(&d);
			continue;
		}
		if (n >= LUKS_MAX_DEVICES) {
			luks_device_done(&d);
			log_warn("more than %d LUKS containers: ignoring the rest", LUKS_MAX_DEVICES);
			break;
		}
		v = xrealloc(v, (n + 1) * sizeof(*v));
		v[n++] = d;
	}
	blkid_dev_iterate_end(it);
	blkid_put_cache(cache);
	qsort(v, n, sizeof(*v), cmp_path);
	*ret = v;
	*ret_n = n;
	return (int)n;
}

int luks_same_version(const struct luks_device *v, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (v[i].version != v[0].version) {
			log_error("LUKS versions differ: %s is LUKS%d but %s is LUKS%d; "
				  "all selected containers must share one version",
				  v[0].path, v[0].version, v[i].path, v[i].version);
			return -EMEDIUMTYPE;
		}
	return 0;
}
