/* luks.c - see luks.h. */
#include "luks/luks.h"
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
static void luks_crypt_log(int level, const char *msg, void *usrptr)
{
	(void)usrptr;
	if (level == CRYPT_LOG_DEBUG || level == CRYPT_LOG_DEBUG_JSON)
		return;
	size_t n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		n--;
	log_debug("libcryptsetup: %.*s", (int)n, msg);
}

static void crypt_freep(struct crypt_device **cd)
{
	if (*cd)
		crypt_free(*cd);
}
#define _cleanup_crypt_ _cleanup_(crypt_freep)

static int open_luks_quiet(const char *path, bool quiet, struct crypt_device **ret)
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

static int open_luks(const char *path, struct crypt_device **ret)
{
	return open_luks_quiet(path, false, ret);
}

static int version_of(struct crypt_device *cd)
{
	const char *t = crypt_get_type(cd);
	if (t && streq(t, CRYPT_LUKS1))
		return 1;
	if (t && streq(t, CRYPT_LUKS2))
		return 2;
	return 0;
}

static uint32_t used_slots(struct crypt_device *cd, int max)
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

static int reencrypt_state_of(struct crypt_device *cd);
static int luks1_marker(struct crypt_device *cd);

int luks_probe(const char *path, struct luks_device *ret)
{
	_cleanup_crypt_ struct crypt_device *cd = NULL;
	struct luks_device d = {0};
	_cleanup_free_ char *name = NULL;
	int r;

	r = open_luks(path, &cd);
	if (r < 0)
		return r;
	d.version = version_of(cd);
	if (!d.version)
		return log_error_errno(-EMEDIUMTYPE, "%s: unsupported LUKS version", path);
	d.max_slots = crypt_keyslot_max(crypt_get_type(cd));
	if (d.max_slots <= 0 || d.max_slots > LUKS_MAX_SLOTS)
		return log_error_errno(-EINVAL, "%s: unexpected key slot count", path);
	d.used_slots = used_slots(cd, d.max_slots);
	if (d.version == 2) {
		d.reencrypt = reencrypt_state_of(cd);
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

static int test_on(struct crypt_device *cd, const struct secret *pass, int slot)
{
	int r = crypt_activate_by_passphrase(cd, NULL, slot < 0 ? CRYPT_ANY_SLOT : slot,
					     (const char *)pass->data, pass->len, 0);
	if (r == -ENOENT)
		r = -EPERM; /* no usable slot for it: "does not open" */
	return r;
}

/* The slot the DRK opens, or a logged error naming the device. */
static int drk_slot_of(struct crypt_device *cd, const char *path, const struct secret *drk)
{
	int r = test_on(cd, drk, -1);
	if (r == -EPERM)
		log_error("%s: the Disk Recovery Key does not open it", path);
	else if (r < 0)
		log_error_errno(r, "%s: cannot test the Disk Recovery Key", path);
	return r;
}

int luks_test_passphrase(const char *path, const struct secret *pass, int slot)
{
	_cleanup_crypt_ struct crypt_device *cd = NULL;
	int r = open_luks(path, &cd);
	if (r < 0)
		return r;
	return test_on(cd, pass, slot);
}

/* The volume key opened by pass; returns the slot. */
static int get_volume_key(struct crypt_device *cd, const struct secret *pass,
			  struct secret **ret_vk)
{
	_cleanup_secret_ struct secret *vk = NULL;
	int size = crypt_get_volume_key_size(cd);
	size_t len;
	int r;

	if (size <= 0)
		return -EINVAL;
	vk = secret_new((size_t)size);
	if (!vk)
		return -errno;
	len = (size_t)size;
	r = crypt_volume_key_get(cd, CRYPT_ANY_SLOT, (char *)vk->data, &len,
				 (const char *)pass->data, pass->len);
	if (r == -ENOENT)
		r = -EPERM;
	if (r < 0)
		return r;
	vk->len = len;
	*ret_vk = TAKE_PTR(vk);
	return r;
}

static uint64_t total_ram_kib(void)
{
	struct sysinfo si;
	if (sysinfo(&si) < 0)
		return 0;
	return (uint64_t)si.totalram * si.mem_unit / 1024;
}

int luks_argon2_guard(const struct luks_opts *o, const char *device, const char *pbkdf_type,
		      uint32_t memory_kib)
{
	uint64_t ram = o && o->unlock_ram_kib ? o->unlock_ram_kib : total_ram_kib();
	if (!pbkdf_type || !startswith(pbkdf_type, "argon2"))
		return 0;
	if (ram && (uint64_t)memory_kib > ram / 2) {
		log_error("%s: Argon2 memory cost %u KiB exceeds half of the unlocking machine's "
			  "RAM (%llu KiB): refusing to create a key slot that may not unlock",
			  device, memory_kib, (unsigned long long)ram);
		return -E2BIG;
	}
	return 0;
}

/* Set the PBKDF for the next key slot to that of slot `from`. */
static int copy_pbkdf(struct crypt_device *cd, const char *path, int from,
		      const struct luks_opts *o)
{
	struct crypt_pbkdf_type p = {0};
	char type[32], hash[32];
	int r;

	r = crypt_keyslot_get_pbkdf(cd, from, &p);
	if (r < 0)
		return log_error_errno(r, "%s: cannot read the PBKDF of key slot %d", path, from);
	snprintf(type, sizeof(type), "%s", p.type ? p.type : CRYPT_KDF_PBKDF2);
	snprintf(hash, sizeof(hash), "%s", p.hash ? p.hash : "sha256");
	r = luks_argon2_guard(o, path, type, p.max_memory_kb);
	if (r < 0)
		return r;
	struct crypt_pbkdf_type n = {
		.type = type,
		.hash = hash,
		.iterations = p.iterations,
		.max_memory_kb = p.max_memory_kb,
		.parallel_threads = p.parallel_threads,
		.flags = CRYPT_PBKDF_NO_BENCHMARK,
	};
	if (!startswith(type, "argon2")) {
		n.max_memory_kb = 0;
		n.parallel_threads = 0;
	}
	r = crypt_set_pbkdf_type(cd, &n);
	if (r < 0)
		return log_error_errno(r, "%s: cannot use the PBKDF of key slot %d (%s)", path,
				       from, type);
	return 0;
}

int luks_add_duk(const char *path, const struct secret *drk, const struct secret *duk,
		 int prev_duk_slot, const struct luks_opts *opts, struct luks_duk_result *ret)
{
	_cleanup_crypt_ struct crypt_device *cd = NULL;
	_cleanup_secret_ struct secret *vk = NULL;
	struct luks_duk_result res = {.drk_slot = -1, .duk_slot = -1};
	int r, version, max, std_slot;
	uint32_t used;

	r = open_luks(path, &cd);
	if (r < 0)
		return r;
	version = version_of(cd);
	if (!version)
		return log_error_errno(-EMEDIUMTYPE, "%s: unsupported LUKS version", path);
	max = crypt_keyslot_max(crypt_get_type(cd));
	std_slot = version == 1 ? LUKS_DUK_SLOT_LUKS1 : LUKS_DUK_SLOT_LUKS2;

	r = get_volume_key(cd, drk, &vk);
	if (r == -EPERM) {
		log_error("%s: the Disk Recovery Key does not open it", path);
		return r;
	}
	if (r < 0)
		return log_error_errno(r, "%s: cannot unlock with the Disk Recovery Key", path);
	res.drk_slot = r;
	log_info("%s: Disk Recovery Key is in key slot %d", path, res.drk_slot);

	used = used_slots(cd, max);
	for (int s = 0; s < max; s++) {
		if (!(used & (UINT32_C(1) << s)) || s == res.drk_slot)
			continue; /* the DRK slot is never touched */
		bool silent = s == LUKS_LEGACY_DUK_SLOT || s == std_slot || s == prev_duk_slot;
		if (!silent) {
			if (!opts || !opts->confirm_wipe ||
			    !opts->confirm_wipe(opts->userdata, path, s)) {
				log_info("%s: keeping key slot %d", path, s);
				continue;
			}
		}
		if (s == res.drk_slot) /* hard guard, never reached */
			return -EINVAL;
		r = crypt_keyslot_destroy(cd, s);
		if (r < 0) {
			log_warn("%s: could not wipe key slot %d: %s", path, s, strerror(-r));
			continue;
		}
		res.wiped |= UINT32_C(1) << s;
		log_info("%s: wiped key slot %d", path, s);
	}

	used = used_slots(cd, max);
	if (std_slot != res.drk_slot && !(used & (UINT32_C(1) << std_slot))) {
		res.duk_slot = std_slot;
	} else {
		for (int s = max - 1; s >= 0; s--)
			if (!(used & (UINT32_C(1) << s))) {
				res.duk_slot = s;
				break;
			}
		if (res.duk_slot < 0) {
			log_error("%s: no free key slot for the Disk Unlock Key", path);
			return -ENOSPC;
		}
		log_note("%s: the Disk Recovery Key occupies slot %d: the Disk Unlock Key goes "
			 "into slot %d", path, std_slot, res.duk_slot);
	}

	/* The DUK is 128 random bytes: PBKDF cost protects only human
	 * passphrases, so use the minimum (systemd does the same). LUKS1
	 * keeps its header hash for PBKDF2. */
	const struct crypt_pbkdf_type *cur = crypt_get_pbkdf_type(cd);
	struct crypt_pbkdf_type p = {
		.type = CRYPT_KDF_PBKDF2,
		.hash = version == 1 && cur && cur->hash ? cur->hash : "sha512",
		.iterations = 1000,
		.flags = CRYPT_PBKDF_NO_BENCHMARK,
	};
	r = crypt_set_pbkdf_type(cd, &p);
	if (r < 0)
		return log_error_errno(r, "%s: cannot set the DUK key slot PBKDF", path);
	r = crypt_keyslot_add_by_key(cd, res.duk_slot, (const char *)vk->data, vk->len,
				     (const char *)duk->data, duk->len, 0);
	if (r < 0)
		return log_error_errno(r, "%s: cannot add the Disk Unlock Key in slot %d", path,
				       res.duk_slot);
	if (ret)
		*ret = res;
	return 0;
}

int luks_change_passphrase(const char *path, const struct secret *old_pass,
			   const struct secret *new_pass, const struct luks_opts *opts,
			   int *ret_slot, enum luks_change_state *ret_state)
{
	_cleanup_crypt_ struct crypt_device *cd = NULL;
	_cleanup_secret_ struct secret *vk = NULL;
	int r, old_slot, new_slot;

	r = open_luks(path, &cd);
	if (r < 0)
		return r;
	old_slot = get_volume_key(cd, old_pass, &vk);
	if (old_slot < 0 && old_slot != -EPERM)
		return log_error_errno(old_slot, "%s: cannot test the current passphrase", path);
	/* A run interrupted after the new slot was added leaves both; one
	 * interrupted after the old slot was destroyed leaves only new. */
	new_slot = test_on(cd, new_pass, -1);
	if (new_slot < 0 && new_slot != -EPERM)
		return log_error_errno(new_slot, "%s: cannot test the new passphrase", path);
	if (old_slot < 0) {
		if (new_slot < 0) {
			log_error("%s: the current passphrase does not open it", path);
			return -EPERM;
		}
		*ret_slot = new_slot;
		*ret_state = LUKS_ALREADY_CHANGED;
		return 0;
	}
	if (new_slot == old_slot) {
		/* Same passphrase (or it opens the same slot): nothing to do. */
		*ret_slot = new_slot;
		*ret_state = LUKS_ALREADY_CHANGED;
		return 0;
	}
	if (new_slot >= 0) {
		r = crypt_keyslot_destroy(cd, old_slot);
		if (r < 0)
			return log_error_errno(r, "%s: cannot remove the old key slot %d", path,
					       old_slot);
		*ret_slot = new_slot;
		*ret_state = LUKS_COMPLETED;
		return 0;
	}

	int max = crypt_keyslot_max(crypt_get_type(cd));
	if (__builtin_popcount(used_slots(cd, max)) >= max) {
		log_error("%s: no free key slot: a crash-safe change needs one (wipe an "
			  "unused slot first)", path);
		return -ENOSPC;
	}
	r = copy_pbkdf(cd, path, old_slot, opts);
	if (r < 0)
		return r;
	new_slot = crypt_keyslot_add_by_key(cd, CRYPT_ANY_SLOT, (const char *)vk->data, vk->len,
					    (const char *)new_pass->data, new_pass->len, 0);
	if (new_slot < 0)
		return log_error_errno(new_slot, "%s: cannot add the new passphrase", path);
	r = test_on(cd, new_pass, new_slot);
	if (r != new_slot) {
		(void)crypt_keyslot_destroy(cd, new_slot);
		log_error("%s: the new passphrase does not open its new key slot %d; "
			  "kept the current one", path, new_slot);
		return r < 0 ? r : -EIO;
	}
	r = crypt_keyslot_destroy(cd, old_slot);
	if (r < 0)
		return log_error_errno(r, "%s: new passphrase added in slot %d but the old slot %d "
				       "could not be removed", path, new_slot, old_slot);
	*ret_slot = new_slot;
	*ret_state = LUKS_CHANGED;
	return 0;
}

struct progress_ctx {
	const struct luks_opts *o;
	const char *path;
	struct timespec start;
	uint64_t start_off;
	bool started;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int reencrypt_progress(uint64_t size, uint64_t offset, void *usrptr)
{
	struct progress_ctx *p = usrptr;
	double t = now_s(), el, rate = 0, eta = 0;

	if (!p->started) {
		p->started = true;
		p->start.tv_sec = (time_t)t;
		p->start.tv_nsec = (long)((t - (double)(time_t)t) * 1e9);
		p->start_off = offset;
	}
	el = t - ((double)p->start.tv_sec + (double)p->start.tv_nsec / 1e9);
	if (el > 0 && offset > p->start_off)
		rate = (double)(offset - p->start_off) / el;
	if (rate > 0 && size > offset)
		eta = (double)(size - offset) / rate;
	if (p->o && p->o->progress)
		p->o->progress(p->o->userdata, p->path, offset, size, rate, eta);
	return p->o && p->o->interrupt && *p->o->interrupt ? 1 : 0;
}

static int reencrypt_state_of(struct crypt_device *cd)
{
	switch (crypt_reencrypt_status(cd, NULL)) {
	case CRYPT_REENCRYPT_NONE:
		return 0;
	case CRYPT_REENCRYPT_CLEAN:
		return 1;
	case CRYPT_REENCRYPT_CRASH:
		return 2;
	default:
		return -EINVAL;
	}
}

int luks_reencrypt_state(const char *path)
{
	_cleanup_crypt_ struct crypt_device *cd = NULL;
	int r = open_luks(path, &cd);
	if (r < 0)
		return r;
	if (version_of(cd) != 2)
		return 0;
	return reencrypt_state_of(cd);
}

static uint64_t hotzone_sectors(const struct luks_opts *o, const char *resilience)
{
	uint64_t bytes = o && o->hotzone_mib ? (uint64_t)o->hotzone_mib << 20 : LUKS_REENCRYPT_HOTZONE;
	return resilience && streq(resilience, "checksum") ? bytes / 512 : 0;
}

static int reencrypt_init_flags(struct crypt_device *cd, const struct secret *drk,
				uint32_t flags, const char *resilience, const struct luks_opts *o)
{
	struct crypt_params_reencrypt rp = {
		.resilience = resilience,
		.hash = resilience && streq(resilience, "checksum") ? "sha256" : NULL,
		.max_hotzone_size = hotzone_sectors(o, resilience),
		.flags = flags,
	};
	return crypt_reencrypt_init_by_passphrase(cd, NULL, (const char *)drk->data, drk->len,
						  CRYPT_ANY_SLOT, CRYPT_ANY_SLOT, NULL, NULL, &rp);
}

static int reencrypt_init_error(const char *path, int r, const char *what)
{
	if (r == -EPERM || r == -ENOENT) {
		/* Resuming needs both volume keys. A run killed inside
		 * libcryptsetup's final teardown has lost the old-key slots
		 * although the data is done: say so rather than "wrong key". */
		log_error("%s: cannot %s the reencryption: the Disk Recovery Key does not open "
			  "both the old and the new volume key slots (wrong passphrase, or a run "
			  "killed while libcryptsetup was finishing removed the old slots)",
			  path, what);
		return -EPERM;
	}
	return log_error_errno(r, "%s: cannot %s the reencryption", path, what);
}

/* A reencryption interrupted before its first hotzone is rolled back by
 * recovery, leaving the unbound key slot it had added for the DRK: drop
 * such slots (unbound and opened by the DRK) before starting again. */
static void drop_stale_unbound(struct crypt_device *cd, const char *path,
			       const struct secret *drk)
{
	int max = crypt_keyslot_max(crypt_get_type(cd));
	for (int s = 0; s < max; s++) {
		if (crypt_keyslot_status(cd, s) != CRYPT_SLOT_UNBOUND)
			continue;
		int ks = crypt_keyslot_get_key_size(cd, s);
		if (ks <= 0)
			continue;
		_cleanup_secret_ struct secret *k = secret_new((size_t)ks);
		size_t len = (size_t)ks;
		if (!k)
			continue;
		if (crypt_volume_key_get(cd, s, (char *)k->data, &len, (const char *)drk->data,
					 drk->len) == s) {
			log_info("%s: removing unbound key slot %d left by an interrupted start",
				 path, s);
			(void)crypt_keyslot_destroy(cd, s);
		}
	}
}

static bool json_str_in(json_object *arr, const char *v)
{
	if (!arr || !json_object_is_type(arr, json_type_array))
		return false;
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		const char *e = json_object_get_string(json_object_array_get_idx(arr, i));
		if (e && streq(e, v))
			return true;
	}
	return false;
}

/* libcryptsetup 2.6.1 writes the final segment layout (one segment, the
 * whole device under the new key) before its teardown; a run killed
 * between the two leaves the reencryption flagged, and resuming it
 * (crypt_reencrypt_init_by_passphrase + RESUME_ONLY, and `cryptsetup
 * reencrypt --resume-only` alike) reencrypts the whole device AGAIN from
 * the start: the data is destroyed (seen with the fsync kill sweep,
 * tests/cmd/test_luks1.py). Detect that state from the metadata: one
 * non-backup segment "0", dynamic size, bound to a digest other than the
 * "backup-previous" segment's. Returns a mask of the new key's slots, 0
 * if not in that state. */
static uint32_t reencrypt_done_untorn(struct crypt_device *cd)
{
	const char *text = NULL;
	json_object *root, *segs, *digs, *seg0 = NULL, *size;
	const char *prev = NULL;
	uint32_t mask = 0;
	int crypt_segments = 0;

	if (reencrypt_state_of(cd) != 1 || crypt_dump_json(cd, &text, 0) < 0 || !text)
		return 0;
	root = json_tokener_parse(text);
	if (!root)
		return 0;
	if (!json_object_object_get_ex(root, "segments", &segs) ||
	    !json_object_object_get_ex(root, "digests", &digs))
		goto out;
	json_object_object_foreach(segs, id, seg) {
		json_object *flags = NULL;
		json_object_object_get_ex(seg, "flags", &flags);
		if (json_str_in(flags, "backup-previous"))
			prev = id;
		else if (!flags || json_object_array_length(flags) == 0) {
			crypt_segments++;
			if (streq(id, "0"))
				seg0 = seg;
		} else if (!json_str_in(flags, "backup-final") &&
			   !json_str_in(flags, "backup-moved-segment"))
			crypt_segments += 2; /* in-reencryption hotzone: not done */
	}
	if (crypt_segments != 1 || !seg0 || !prev ||
	    !json_object_object_get_ex(seg0, "size", &size) ||
	    !streq(json_object_get_string(size), "dynamic"))
		goto out;
	json_object_object_foreach(digs, did, dig) {
		json_object *dsegs = NULL, *dks = NULL;
		(void)did;
		json_object_object_get_ex(dig, "segments", &dsegs);
		json_object_object_get_ex(dig, "keyslots", &dks);
		if (!json_str_in(dsegs, "0") || json_str_in(dsegs, prev) || !dks)
			continue;
		for (size_t i = 0; i < json_object_array_length(dks); i++) {
			unsigned long long v;
			if (parse_uint(json_object_get_string(json_object_array_get_idx(dks, i)),
				       LUKS_MAX_SLOTS - 1, &v) == 0)
				mask |= UINT32_C(1) << v;
		}
	}
out:
	json_object_put(root);
	return mask;
}

/* The slot (in mask) the DRK opens, or -1. */
static int drk_slot_in(struct crypt_device *cd, const struct secret *drk, uint32_t mask)
{
	for (int s = 0; s < LUKS_MAX_SLOTS; s++) {
		if (!(mask & (UINT32_C(1) << s)))
			continue;
		int ks = crypt_keyslot_get_key_size(cd, s);
		if (ks <= 0)
			continue;
		_cleanup_secret_ struct secret *k = secret_new((size_t)ks);
		size_t len = (size_t)ks;
		if (k && crypt_volume_key_get(cd, s, (char *)k->data, &len, (const char *)drk->data,
					      drk->len) == s)
			return s;
	}
	return -1;
}

/* The LUKS2 reencryption of an open container (cd is consumed). */
static int reencrypt_luks2(struct crypt_device *cd_in, const char *path, const struct secret *drk,
			   const struct luks_opts *opts, bool *ret_resumed)
{
	_cleanup_crypt_ struct crypt_device *cd = cd_in;
	const char *resilience = opts && opts->resilience ? opts->resilience : "checksum";
	struct progress_ctx pc = {.o = opts, .path = path};
	int r, state, drk_slot, new_slot;

	state = reencrypt_state_of(cd);
	if (state < 0)
		return log_error_errno(-EINVAL, "%s: invalid reencryption state", path);

	if (ret_resumed)
		*ret_resumed = state > 0;
	if (state == 2) {
		/* Crash: replay or roll back the hotzone from the resilience
		 * data (cryptsetup repair), then resume. */
		log_note("%s: an interrupted reencryption was found: recovering", path);
		r = reencrypt_init_flags(cd, drk, CRYPT_REENCRYPT_RECOVERY, NULL, opts);
		if (r == -EINVAL) {
			log_note("%s: repairing the reencryption metadata", path);
			r = reencrypt_init_flags(cd, drk, CRYPT_REENCRYPT_REPAIR_NEEDED, NULL, opts);
			if (r >= 0)
				r = reencrypt_init_flags(cd, drk, CRYPT_REENCRYPT_RECOVERY, NULL, opts);
		}
		if (r < 0)
			return reencrypt_init_error(path, r, "recover");
		crypt_free(TAKE_PTR(cd));
		r = open_luks(path, &cd);
		if (r < 0)
			return r;
		state = reencrypt_state_of(cd);
		if (state < 0 || state == 2)
			return log_error_errno(-EINVAL, "%s: reencryption recovery did not complete",
					       path);
	}
	if (state == 1 && drk_slot_in(cd, drk, reencrypt_done_untorn(cd)) >= 0) {
		log_error("%s: the reencryption had finished when it was interrupted, before "
			  "libcryptsetup removed its metadata; resuming it would reencrypt the data a "
			  "second time (libcryptsetup 2.6 bug): not resuming. The data is intact under "
			  "the new key and the Disk Recovery Key still opens it; see ARCHITECTURE.md "
			  "(luks)", path);
		return -EUCLEAN;
	}
	if (state == 1) {
		log_note("%s: resuming the interrupted reencryption", path);
		r = reencrypt_init_flags(cd, drk, CRYPT_REENCRYPT_RESUME_ONLY, resilience, opts);
		if (r == -EINVAL) {
			log_note("%s: repairing the reencryption metadata", path);
			r = reencrypt_init_flags(cd, drk, CRYPT_REENCRYPT_REPAIR_NEEDED, NULL, opts);
			if (r >= 0)
				r = reencrypt_init_flags(cd, drk, CRYPT_REENCRYPT_RESUME_ONLY, resilience, opts);
		}
		if (r < 0)
			return reencrypt_init_error(path, r, "resume");
	} else {
		char cipher[64], mode[64];
		int vk_size = crypt_get_volume_key_size(cd);
		drop_stale_unbound(cd, path, drk);
		drk_slot = drk_slot_of(cd, path, drk);
		if (drk_slot < 0)
			return drk_slot;
		r = copy_pbkdf(cd, path, drk_slot, opts);
		if (r < 0)
			return r;
		snprintf(cipher, sizeof(cipher), "%s", crypt_get_cipher(cd));
		snprintf(mode, sizeof(mode), "%s", crypt_get_cipher_mode(cd));
		/* A new random volume key in an unbound slot for the DRK. */
		new_slot = crypt_keyslot_add_by_key(cd, CRYPT_ANY_SLOT, NULL, (size_t)vk_size,
						    (const char *)drk->data, drk->len,
						    CRYPT_VOLUME_KEY_NO_SEGMENT);
		if (new_slot < 0)
			return log_error_errno(new_slot, "%s: cannot add a key slot for the new "
					       "volume key (is there a free slot?)", path);
		struct crypt_params_luks2 l2 = {.sector_size = (uint32_t)crypt_get_sector_size(cd)};
		struct crypt_params_reencrypt rp = {
			.mode = CRYPT_REENCRYPT_REENCRYPT,
			.direction = CRYPT_REENCRYPT_FORWARD,
			.resilience = resilience,
			.hash = streq(resilience, "checksum") ? "sha256" : NULL,
			.max_hotzone_size = hotzone_sectors(opts, resilience),
			.luks2 = &l2,
		};
		r = crypt_reencrypt_init_by_passphrase(cd, NULL, (const char *)drk->data, drk->len,
						       drk_slot, new_slot, cipher, mode, &rp);
		if (r < 0) {
			(void)crypt_keyslot_destroy(cd, new_slot);
			return log_error_errno(r, "%s: cannot start the reencryption", path);
		}
	}

	r = crypt_reencrypt_run(cd, reencrypt_progress, &pc);
	if (r < 0)
		return log_error_errno(r, "%s: reencryption failed (run it again to resume)", path);
	if (opts && opts->interrupt && *opts->interrupt && reencrypt_state_of(cd) != 0) {
		log_warn("%s: reencryption interrupted: run it again to resume", path);
		return -EINTR;
	}
	return 0;
}

/* ---- LUKS1 reencryption: convert, reencrypt as LUKS2, rebuild LUKS1 ---- */

/* The marker of a LUKS1 container converted for reencryption: subsystem
 * LUKS1_PENDING_SUBSYSTEM, label "heads: LUKS1, DRK key slot N". Returns N,
 * or -1 for no marker. */
#define LUKS1_LABEL_PREFIX "heads: LUKS1, DRK key slot "

static int luks1_marker(struct crypt_device *cd)
{
	const char *sub, *label;
	unsigned long long v;

	if (version_of(cd) != 2)
		return -1;
	sub = crypt_get_subsystem(cd);
	label = crypt_get_label(cd);
	if (!sub || !streq(sub, LUKS1_PENDING_SUBSYSTEM) || !label ||
	    !startswith(label, LUKS1_LABEL_PREFIX))
		return -1;
	if (parse_uint(label + strlen(LUKS1_LABEL_PREFIX), 7, &v) < 0)
		return -1;
	return (int)v;
}

static int luks1_set_marker(struct crypt_device *cd, const char *path, int slot)
{
	char label[48];
	snprintf(label, sizeof(label), LUKS1_LABEL_PREFIX "%d", slot);
	int r = crypt_set_label(cd, label, LUKS1_PENDING_SUBSYSTEM);
	if (r < 0)
		return log_error_errno(r, "%s: cannot mark the LUKS1 conversion", path);
	return 0;
}

/* "<dir>/heads-luks1-<path, '/' -> '_'>.<what>" */
static char *luks1_file(const struct luks_opts *o, const char *path, const char *what)
{
	_cleanup_free_ char *m = xstrdup(path);
	for (char *c = m; *c; c++)
		if (*c == '/')
			*c = '_';
	return xasprintf("%s/heads-luks1-%s.%s", o && o->backup_dir ? o->backup_dir : "/tmp", m,
			 what);
}

static bool file_exists(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The volume key the DRK opens in the header at path (a device or a
 * header backup file); quiet. Returns the slot. */
static int header_volume_key(const char *path, const struct secret *drk, char uuid[40],
			     int *ret_version, struct secret **ret_vk)
{
	_cleanup_crypt_ struct crypt_device *cd = NULL;
	int r = open_luks_quiet(path, true, &cd);
	if (r < 0)
		return r;
	if (uuid)
		snprintf(uuid, 40, "%s", crypt_get_uuid(cd) ? crypt_get_uuid(cd) : "");
	if (ret_version)
		*ret_version = version_of(cd);
	return get_volume_key(cd, drk, ret_vk);
}

bool luks1_backup_exists(const char *path, const char *backup_dir)
{
	struct luks_opts o = {.backup_dir = backup_dir};
	_cleanup_free_ char *b1 = luks1_file(&o, path, "luks1"), *b2 = luks1_file(&o, path, "luks2");
	return file_exists(b1) || file_exists(b2);
}

static void luks1_cleanup(const struct luks_opts *o, const char *path)
{
	static const char *const what[] = {"new", "luks1", "luks2"};
	for (size_t i = 0; i < ARRAY_SIZE(what); i++) {
		_cleanup_free_ char *f = luks1_file(o, path, what[i]);
		(void)unlink(f);
	}
}

/* A crash inside one of the two non-atomic header rewrites (crypt_convert
 * to LUKS2, the LUKS1 header write at the end) leaves a header that does
 * not load, or a LUKS1 header the DRK does not open. If this run's backup
 * of the header before that rewrite exists and the DRK opens it, write it
 * back: neither rewrite touches the data area. The newer backup (.luks2,
 * taken before the conversion back; a new conversion deletes it first)
 * wins. Returns 1 if restored, 0 if nothing to do. */
static int luks1_recover_header(const char *path, const struct secret *drk,
				const struct luks_opts *o)
{
	_cleanup_crypt_ struct crypt_device *cd = NULL;
	_cleanup_free_ char *b1 = luks1_file(o, path, "luks1"), *b2 = luks1_file(o, path, "luks2");
	const char *bk = file_exists(b2) ? b2 : file_exists(b1) ? b1 : NULL;
	char dev_uuid[40] = "", bk_uuid[40] = "";
	int r, version = 0;

	if (!bk)
		return 0;
	r = open_luks_quiet(path, true, &cd);
	if (r == 0) {
		snprintf(dev_uuid, sizeof(dev_uuid), "%s", crypt_get_uuid(cd) ? crypt_get_uuid(cd) : "");
		if (version_of(cd) == 1 && test_on(cd, drk, -1) >= 0)
			return 0; /* an intact LUKS1 header */
		if (version_of(cd) == 2) {
			/* LUKS2 headers have two copies; only a torn rebuild
			 * (rebuild_header) leaves one the DRK opens no slot of */
			_cleanup_secret_ struct secret *k = NULL;
			if (get_volume_key(cd, drk, &k) >= 0)
				return 0;
		}
		crypt_free(TAKE_PTR(cd));
	}
	{
		_cleanup_secret_ struct secret *vk = NULL;
		r = header_volume_key(bk, drk, bk_uuid, &version, &vk);
		if (r < 0) {
			log_warn("%s: header backup %s does not open with the Disk Recovery Key: "
				 "not restoring it", path, bk);
			return 0;
		}
	}
	if (*dev_uuid && strcasecmp(dev_uuid, bk_uuid) != 0)
		return 0; /* another container */
	log_note("%s: the header was damaged by an interrupted %s: restoring the backup %s",
		 path, bk == b2 ? "conversion back to LUKS1" : "conversion to LUKS2", bk);
	crypt_set_log_callback(NULL, luks_crypt_log, NULL);
	r = crypt_init(&cd, path);
	if (r < 0)
		return log_error_errno(r, "%s: cannot open", path);
	crypt_set_log_callback(cd, luks_crypt_log, NULL);
	r = crypt_header_restore(cd, version == 1 ? CRYPT_LUKS1 : CRYPT_LUKS2, bk);
	if (r < 0)
		return log_error_errno(r, "%s: restoring the header backup %s failed; restore it "
				       "with `cryptsetup luksHeaderRestore %s --header-backup-file %s`",
				       path, bk, path, bk);
	return 1;
}

/* LUKS1 -> LUKS2 with the marker. Returns the DRK's LUKS1 slot. */
static int luks1_to_luks2(const char *path, const struct secret *drk, const struct luks_opts *o)
{
	_cleanup_crypt_ struct crypt_device *cd = NULL;
	_cleanup_free_ char *b1 = luks1_file(o, path, "luks1"), *b2 = luks1_file(o, path, "luks2");
	const char *resilience = o && o->resilience ? o->resilience : "checksum";
	int r, slot, free_slots, need;

	r = open_luks(path, &cd);
	if (r < 0)
		return r;
	slot = drk_slot_of(cd, path, drk);
	if (slot < 0)
		return slot;
	/* One LUKS1 key slot area for the new volume key, one for the
	 * checksums of the crash-safe hotzone. */
	free_slots = 8 - __builtin_popcount(used_slots(cd, 8));
	need = streq(resilience, "none") ? 1 : 2;
	if (free_slots < need) {
		log_error("%s: LUKS1 reencryption needs %d free key slot%s (the new volume key%s); "
			  "%d free: remove an unused key slot first", path, need, need > 1 ? "s" : "",
			  need > 1 ? " and the crash-safety checksums" : "", free_slots);
		return -ENOSPC;
	}
	(void)unlink(b2); /* a stale one from an earlier run must never be restored */
	(void)unlink(b1);
	r = crypt_header_backup(cd, CRYPT_LUKS1, b1);
	if (r < 0)
		return log_error_errno(r, "%s: cannot back the LUKS1 header up to %s", path, b1);
	log_note("%s: LUKS1: converting to LUKS2 for the reencryption, converted back at the end "
		 "(header backup: %s)", path, b1);
	r = crypt_convert(cd, CRYPT_LUKS2, NULL);
	if (r < 0) {
		log_error_errno(r, "%s: cannot convert the LUKS1 header to LUKS2", path);
		crypt_free(TAKE_PTR(cd));
		if (luks1_recover_header(path, drk, o) <= 0)
			(void)unlink(b1); /* unchanged: nothing to restore */
		return r;
	}
	crypt_free(TAKE_PTR(cd));
	r = open_luks(path, &cd);
	if (r < 0)
		return r;
	r = luks1_set_marker(cd, path, slot);
	if (r < 0)
		return r;
	return slot;
}

/* A LUKS2 header without the marker that this boot's LUKS1 backup shows
 * was converted by us (a crash between the conversion and the marker):
 * mark it. Returns the DRK's LUKS1 slot or -1. */
static int luks1_adopt(struct crypt_device *cd, const char *path, const struct secret *drk,
		       const struct luks_opts *o)
{
	_cleanup_free_ char *b1 = luks1_file(o, path, "luks1");
	_cleanup_secret_ struct secret *vk1 = NULL, *vk2 = NULL;
	char uuid[40];
	int version = 0, slot;

	if (!file_exists(b1))
		return -1;
	slot = header_volume_key(b1, drk, uuid, &version, &vk1);
	if (slot < 0 || version != 1 || !crypt_get_uuid(cd) ||
	    strcasecmp(uuid, crypt_get_uuid(cd)) != 0)
		return -1;
	if (reencrypt_state_of(cd) != 0 || get_volume_key(cd, drk, &vk2) != slot ||
	    !secret_equal(vk1, vk2))
		return -1;
	if (luks1_set_marker(cd, path, slot) < 0)
		return -1;
	log_note("%s: completing an interrupted conversion from LUKS1", path);
	return slot;
}

/* The reencrypted container's header rebuilt from its new volume key:
 * type CRYPT_LUKS1 (the conversion back of a marked LUKS1 container) or
 * CRYPT_LUKS2 (a LUKS2 reencryption killed between libcryptsetup's final
 * segment write and the end of its teardown, which cannot be resumed).
 * Built in a file with the same UUID, cipher, data offset (LUKS1: hash;
 * LUKS2: metadata and key slot area sizes, sector size, label, subsystem,
 * activation flags), the DRK in key slot `slot` with the PBKDF parameters
 * of the slot it opens now, checked (volume key) off the device, then
 * written by crypt_header_restore after a backup of the current header.
 * key_slot: the slot holding the new key (-1: any slot the DRK opens). */
static int rebuild_header(const char *path, const struct secret *drk, int slot, int key_slot,
			  const char *type, const struct luks_opts *o)
{
	_cleanup_crypt_ struct crypt_device *cd = NULL, *nd = NULL;
	_cleanup_secret_ struct secret *vk = NULL, *vk_new = NULL;
	_cleanup_free_ char *b2 = luks1_file(o, path, "luks2"), *nf = luks1_file(o, path, "new");
	_cleanup_free_ char *label = NULL, *subsystem = NULL;
	struct crypt_pbkdf_type p = {0};
	char cipher[64], mode[64], uuid[40], hash[32], kdf[32];
	uint64_t offset, md_size = 0, ks_size = 0;
	uint32_t act_flags = 0;
	bool luks1 = streq(type, CRYPT_LUKS1);
	int want = luks1 ? 1 : 2;
	int r, s, version = 0;

	r = open_luks(path, &cd);
	if (r < 0)
		return r;
	if (key_slot >= 0) {
		/* the new key's slot (the old key's may still be there) */
		int ks = crypt_get_volume_key_size(cd);
		size_t len = ks > 0 ? (size_t)ks : 0;
		vk = ks > 0 ? secret_new(len) : NULL;
		s = vk ? crypt_volume_key_get(cd, key_slot, (char *)vk->data, &len,
					      (const char *)drk->data, drk->len) : -ENOMEM;
		if (s >= 0)
			vk->len = len;
	} else {
		s = get_volume_key(cd, drk, &vk);
	}
	if (s < 0)
		return log_error_errno(s, "%s: the Disk Recovery Key does not open the reencrypted "
				       "container", path);
	r = crypt_keyslot_get_pbkdf(cd, s, &p);
	if (r < 0 || !p.type || (luks1 && (!streq(p.type, CRYPT_KDF_PBKDF2) || !p.hash)))
		return log_error_errno(r < 0 ? r : -EINVAL, "%s: key slot %d is not PBKDF2: cannot "
				       "convert back to LUKS1", path, s);
	snprintf(kdf, sizeof(kdf), "%s", p.type);
	snprintf(hash, sizeof(hash), "%s", p.hash ? p.hash : "sha256");
	snprintf(cipher, sizeof(cipher), "%s", crypt_get_cipher(cd));
	snprintf(mode, sizeof(mode), "%s", crypt_get_cipher_mode(cd));
	snprintf(uuid, sizeof(uuid), "%s", crypt_get_uuid(cd));
	offset = crypt_get_data_offset(cd);
	if (!luks1) {
		if (crypt_get_metadata_size(cd, &md_size, &ks_size) < 0 ||
		    crypt_persistent_flags_get(cd, CRYPT_FLAGS_ACTIVATION, &act_flags) < 0)
			return log_error_errno(-EINVAL, "%s: cannot read the LUKS2 header layout", path);
		label = crypt_get_label(cd) && *crypt_get_label(cd) ? xstrdup(crypt_get_label(cd)) : NULL;
		subsystem = crypt_get_subsystem(cd) && *crypt_get_subsystem(cd) ?
				    xstrdup(crypt_get_subsystem(cd)) : NULL;
	}
	log_note("%s: data reencrypted; building the %s header (DRK in slot %d)", path,
		 luks1 ? "LUKS1" : "LUKS2", slot);

	/* The new header, built and checked off the device. */
	{
		_cleanup_close_ int fd = -1;
		(void)unlink(nf);
		fd = open(nf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 || ftruncate(fd, (off_t)((offset << 9) + (1 << 20))) < 0)
			return log_error_errno(-errno, "%s: cannot create %s", path, nf);
	}
	crypt_set_log_callback(NULL, luks_crypt_log, NULL);
	r = crypt_init(&nd, nf);
	if (r < 0)
		return log_error_errno(r, "%s: cannot open", nf);
	crypt_set_log_callback(nd, luks_crypt_log, NULL);
	struct crypt_pbkdf_type np = {
		.type = kdf,
		.hash = hash,
		.iterations = p.iterations,
		.max_memory_kb = startswith(kdf, "argon2") ? p.max_memory_kb : 0,
		.parallel_threads = startswith(kdf, "argon2") ? p.parallel_threads : 0,
		.flags = CRYPT_PBKDF_NO_BENCHMARK,
	};
	struct crypt_params_luks1 p1 = {.hash = hash, .data_alignment = (size_t)offset};
	struct crypt_params_luks2 p2 = {
		.data_alignment = (size_t)offset,
		.sector_size = (uint32_t)crypt_get_sector_size(cd),
		.label = label,
		.subsystem = subsystem,
	};
	r = crypt_set_pbkdf_type(nd, &np);
	if (r >= 0 && !luks1)
		r = crypt_set_metadata_size(nd, md_size, ks_size);
	if (r >= 0)
		r = crypt_format(nd, type, cipher, mode, uuid, (const char *)vk->data, vk->len,
				 luks1 ? (void *)&p1 : (void *)&p2);
	if (r >= 0 && !luks1 && act_flags)
		r = crypt_persistent_flags_set(nd, CRYPT_FLAGS_ACTIVATION, act_flags);
	if (r >= 0)
		r = crypt_keyslot_add_by_volume_key(nd, slot, (const char *)vk->data, vk->len,
						    (const char *)drk->data, drk->len);
	if (r >= 0 && crypt_get_data_offset(nd) != offset)
		r = -EINVAL;
	crypt_free(TAKE_PTR(nd));
	if (r < 0)
		return log_error_errno(r, "%s: cannot build the %s header (%s-%s, offset %llu)", path,
				       type, cipher, mode, (unsigned long long)offset);
	if (header_volume_key(nf, drk, NULL, &version, &vk_new) != slot || version != want ||
	    !secret_equal(vk, vk_new))
		return log_error_errno(-EIO, "%s: the rebuilt header %s does not open", path, nf);
	secret_free(TAKE_PTR(vk_new));

	/* Back up the current LUKS2 header, then the one non-atomic write. */
	(void)unlink(b2);
	r = crypt_header_backup(cd, CRYPT_LUKS2, b2);
	if (r < 0)
		return log_error_errno(r, "%s: cannot back the LUKS2 header up to %s", path, b2);
	crypt_free(TAKE_PTR(cd));
	log_note("%s: writing the %s header (header backup: %s)", path, luks1 ? "LUKS1" : "LUKS2",
		 b2);
	crypt_set_log_callback(NULL, luks_crypt_log, NULL);
	r = crypt_init(&cd, path);
	if (r < 0)
		return log_error_errno(r, "%s: cannot open", path);
	crypt_set_log_callback(cd, luks_crypt_log, NULL);
	r = crypt_header_restore(cd, type, nf);
	if (r < 0)
		return log_error_errno(r, "%s: writing the %s header failed (run again: the "
				       "backup %s is restored)", path, type, b2);
	if (header_volume_key(path, drk, NULL, &version, &vk_new) != slot || version != want ||
	    !secret_equal(vk, vk_new))
		return log_error_errno(-EIO, "%s: the written header does not open with the "
				       "Disk Recovery Key in slot %d (run again: the backup %s is "
				       "restored)", path, slot, b2);
	luks1_cleanup(o, path);
	return 0;
}

/* A LUKS1 header whose volume key is the one of this run's pre-conversion
 * LUKS2 backup: the conversion back completed before a crash. */
static bool luks1_done(const char *path, const struct secret *drk, const struct luks_opts *o)
{
	_cleanup_free_ char *b2 = luks1_file(o, path, "luks2");
	_cleanup_secret_ struct secret *a = NULL, *b = NULL;
	int va = 0, vb = 0;

	if (!file_exists(b2))
		return false;
	return header_volume_key(path, drk, NULL, &va, &a) >= 0 && va == 1 &&
	       header_volume_key(b2, drk, NULL, &vb, &b) >= 0 && vb == 2 && secret_equal(a, b);
}

/* libcryptsetup destroys the old volume key's slots only in the teardown
 * of a finished reencryption (reencrypt_teardown_ok), before it clears the
 * requirement flag: a reencryption still flagged whose DRK no longer opens
 * its LUKS1 slot (bound to the old key) but opens another one was killed
 * there, with every sector already under the new key. Outside that window
 * the DRK opens its slot, and resuming works. */
static bool luks1_teardown_window(const char *path, const struct secret *drk, int slot)
{
	_cleanup_crypt_ struct crypt_device *cd = NULL;
	_cleanup_secret_ struct secret *vk = NULL;
	int s;

	if (open_luks_quiet(path, true, &cd) < 0 || reencrypt_state_of(cd) <= 0)
		return false;
	/* gone, or its key material already wiped (killed inside the slot's
	 * destruction: area wiped, header not yet written). Not an
	 * activation test: activation is refused during a reencryption. */
	if (crypt_keyslot_status(cd, slot) != CRYPT_SLOT_INACTIVE) {
		int ks = crypt_keyslot_get_key_size(cd, slot);
		if (ks <= 0)
			return false;
		_cleanup_secret_ struct secret *k = secret_new((size_t)ks);
		size_t len = (size_t)ks;
		if (!k)
			return false;
		s = crypt_volume_key_get(cd, slot, (char *)k->data, &len, (const char *)drk->data,
					 drk->len);
		if (s != -EPERM && s != -ENOENT)
			return false; /* it opens (or an error): not that window */
	}
	s = get_volume_key(cd, drk, &vk);
	return s >= 0 && s != slot;
}

int luks_reencrypt(const char *path, const struct secret *drk, const struct luks_opts *opts,
		   bool *ret_resumed)
{
	_cleanup_crypt_ struct crypt_device *cd = NULL;
	bool resumed = false, r2 = false;
	int r, slot = -1, key_slot = -1;

	if (ret_resumed)
		*ret_resumed = false;
	r = luks1_recover_header(path, drk, opts);
	if (r < 0)
		return r;
	resumed = r > 0;
	r = open_luks(path, &cd);
	if (r < 0)
		return r;
	if (version_of(cd) == 1) {
		if (luks1_done(path, drk, opts)) {
			luks1_cleanup(opts, path);
			log_note("%s: an interrupted run had finished: LUKS1 again", path);
			if (ret_resumed)
				*ret_resumed = true;
			return 0;
		}
		crypt_free(TAKE_PTR(cd));
		slot = luks1_to_luks2(path, drk, opts);
		if (slot < 0)
			return slot;
		r = open_luks(path, &cd);
		if (r < 0)
			return r;
	} else if (version_of(cd) == 2) {
		slot = luks1_marker(cd);
		if (slot < 0)
			slot = luks1_adopt(cd, path, drk, opts);
		if (slot >= 0) {
			resumed = true;
			log_note("%s: resuming the reencryption of a LUKS1 container (converted to "
				 "LUKS2 while it runs)", path);
		}
	}
	/* Marked and no reencryption in progress: the DRK still in its LUKS1
	 * slot means the data was not reencrypted yet; in another slot, the
	 * reencryption finished (libcryptsetup removed the old slot). */
	if (slot >= 0 && reencrypt_state_of(cd) == 0 && test_on(cd, drk, -1) >= 0 &&
	    test_on(cd, drk, slot) != slot) {
		log_note("%s: data already reencrypted; converting back to LUKS1", path);
		crypt_free(TAKE_PTR(cd));
	} else if (slot >= 0 && (key_slot = drk_slot_in(cd, drk, reencrypt_done_untorn(cd))) >= 0) {
		/* finished but not torn down: resuming would reencrypt again */
		log_note("%s: the reencryption had finished (killed before libcryptsetup's "
			 "teardown); converting back to LUKS1 with the new key", path);
		crypt_free(TAKE_PTR(cd));
		resumed = true;
	} else if (slot >= 0 && luks1_teardown_window(path, drk, slot)) {
		/* libcryptsetup was killed in the teardown of a finished
		 * reencryption (old key slots gone, flag still set): the LUKS1
		 * header rebuilt from the new key drops that state. */
		log_note("%s: the reencryption had finished (killed while libcryptsetup removed "
			 "the old key slots); converting back to LUKS1", path);
		crypt_free(TAKE_PTR(cd));
		resumed = true;
	} else if (slot < 0 && (key_slot = drk_slot_in(cd, drk, reencrypt_done_untorn(cd))) >= 0) {
		/* LUKS2, finished before libcryptsetup's teardown ended (the
		 * libcryptsetup 2.6.1 resume bug, or the old slots already
		 * gone): a LUKS2 header rebuilt from the new key ends it. */
		log_note("%s: the reencryption had finished (killed before libcryptsetup's "
			 "teardown ended); rebuilding the LUKS2 header with the new key", path);
		crypt_free(TAKE_PTR(cd));
		r = rebuild_header(path, drk, key_slot, key_slot, CRYPT_LUKS2, opts);
		if (r < 0)
			return r;
		resumed = true;
	} else {
		r = reencrypt_luks2(TAKE_PTR(cd), path, drk, opts, &r2);
		if (r < 0)
			return r;
	}
	if (slot >= 0) {
		r = rebuild_header(path, drk, slot, key_slot, CRYPT_LUKS1, opts);
		if (r < 0)
			return r;
	}
	luks1_cleanup(opts, path); /* no stale backup outlives a finished run */
	if (ret_resumed)
		*ret_resumed = resumed || r2;
	return 0;
}

static int cmp_uuid(const void *a, const void *b)
{
	const struct luks_device *x = *(const struct luks_device *const *)a;
	const struct luks_device *y = *(const struct luks_device *const *)b;
	int c = strcmp(x->uuid ? x->uuid : "", y->uuid ? y->uuid : "");
	return c ? c : strcmp(x->path, y->path);
}

static int sha256_file(const char *path, char out[65])
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	unsigned char md[32];
	unsigned int mdlen = 0;
	_cleanup_free_ uint8_t *buf = xmalloc(1 << 16);
	EVP_MD_CTX *ctx;
	long n;
	int r = 0;

	if (fd < 0)
		return -errno;
	ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		return -ENOMEM;
	}
	while ((n = read_full(fd, buf, 1 << 16)) > 0)
		if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1) {
			r = -EIO;
			break;
		}
	if (n < 0)
		r = (int)n;
	if (r == 0 && EVP_DigestFinal_ex(ctx, md, &mdlen) != 1)
		r = -EIO;
	EVP_MD_CTX_free(ctx);
	if (r == 0)
		hex_encode(md, 32, out);
	return r;
}

int luks_header_listing(const struct luks_device *v, size_t n, const char *dir, char **ret,
			size_t *ret_len)
{
	_cleanup_free_ const struct luks_device **order = NULL;
	char *out = NULL;
	size_t len = 0;
	int r = 0;

	if (n > LUKS_MAX_DEVICES)
		return -E2BIG;
	order = xcalloc(n ? n : 1, sizeof(*order));
	for (size_t i = 0; i < n; i++)
		order[i] = &v[i];
	qsort(order, n, sizeof(*order), cmp_uuid);
	out = xstrdup("");
	for (size_t i = 0; i < n; i++) {
		_cleanup_crypt_ struct crypt_device *cd = NULL;
		_cleanup_free_ char *mangled = xstrdup(order[i]->path), *file = NULL;
		char hex[65];
		for (char *c = mangled; *c; c++)
			if (*c == '/')
				*c = '_';
		file = xasprintf("%s/lukshdr-%s", dir, mangled);
		(void)unlink(file); /* crypt_header_backup refuses an existing file */
		r = open_luks(order[i]->path, &cd);
		if (r < 0)
			break;
		r = crypt_header_backup(cd, NULL, file);
		if (r < 0) {
			log_error_errno(r, "%s: header backup to %s failed", order[i]->path, file);
			(void)unlink(file);
			break;
		}
		r = sha256_file(file, hex);
		(void)unlink(file);
		if (r < 0) {
			log_error_errno(r, "%s: cannot hash the header backup", order[i]->path);
			break;
		}
		char *line = xasprintf("%s  %s\n", hex, file);
		out = xrealloc(out, len + strlen(line) + 1);
		memcpy(out + len, line, strlen(line) + 1);
		len += strlen(line);
		free(line);
	}
	if (r < 0) {
		free(out);
		return r;
	}
	*ret = out;
	*ret_len = len;
	return 0;
}

void luks_key_devices_free(struct luks_key_device *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].path);
		free(v[i].uuid);
	}
	free(v);
}

#define KEY_DEVICES_LINE_MAX 4096

int luks_parse_key_devices(const char *text, size_t len, struct luks_key_device **ret,
			   size_t *ret_n, char **ret_err)
{
	struct luks_key_device *v = NULL;
	size_t n = 0, lineno = 0, pos = 0;

	while (pos < len) {
		size_t end = pos, s, e;
		while (end < len && text[end] != '\n')
			end++;
		lineno++;
		if (end - pos > KEY_DEVICES_LINE_MAX) {
			*ret_err = xasprintf("line %zu: longer than %d bytes", lineno,
					     KEY_DEVICES_LINE_MAX);
			goto fail;
		}
		s = pos;
		e = end;
		pos = end + 1;
		while (s < e && (text[s] == ' ' || text[s] == '\t'))
			s++;
		while (e > s && (text[e - 1] == ' ' || text[e - 1] == '\t' || text[e - 1] == '\r'))
			e--;
		if (s == e || text[s] == '#')
			continue;
		for (size_t i = s; i < e; i++)
			if ((unsigned char)text[i] < 0x20 && text[i] != '\t') {
				*ret_err = xasprintf("line %zu: control character", lineno);
				goto fail;
			}
		size_t f1 = s;
		while (f1 < e && text[f1] != ' ' && text[f1] != '\t')
			f1++;
		size_t s2 = f1;
		while (s2 < e && (text[s2] == ' ' || text[s2] == '\t'))
			s2++;
		size_t f2 = s2;
		while (f2 < e && text[f2] != ' ' && text[f2] != '\t')
			f2++;
		if (f2 != e) {
			*ret_err = xasprintf("line %zu: expected \"DEVICE [UUID]\"", lineno);
			goto fail;
		}
		if (text[s] != '/') {
			*ret_err = xasprintf("line %zu: device must be an absolute path", lineno);
			goto fail;
		}
		if (memchr(text + s, '\0', f1 - s)) {
			*ret_err = xasprintf("line %zu: NUL byte", lineno);
			goto fail;
		}
		for (size_t i = s2; i < f2; i++) {
			char c = text[i];
			if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
			      (c >= 'A' && c <= 'F') || c == '-')) {
				*ret_err = xasprintf("line %zu: malformed UUID", lineno);
				goto fail;
			}
		}
		if (n >= LUKS_MAX_DEVICES) {
			*ret_err = xasprintf("line %zu: more than %d devices", lineno,
					     LUKS_MAX_DEVICES);
			goto fail;
		}
		v = xrealloc(v, (n + 1) * sizeof(*v));
		v[n].path = xstrndup(text + s, f1 - s);
		v[n].uuid = f2 > s2 ? xstrndup(text + s2, f2 - s2) : NULL;
		n++;
	}
	*ret = v;
	*ret_n = n;
	return (int)n;
fail:
	luks_key_devices_free(v, n);
	return -EINVAL;
}
