/* luks.c - see luks.h. */
#include "luks/luks.h"
#include "codec.h"
#include "log.h"
#include "util.h"

#include <blkid/blkid.h>
#include <errno.h>
#include <fcntl.h>
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

static int open_luks(const char *path, struct crypt_device **ret)
{
	struct crypt_device *cd = NULL;
	int r;

	crypt_set_log_callback(NULL, luks_crypt_log, NULL);
	r = crypt_init(&cd, path);
	if (r < 0)
		return log_error_errno(r, "%s: cannot open", path);
	crypt_set_log_callback(cd, luks_crypt_log, NULL);
	r = crypt_load(cd, CRYPT_LUKS, NULL);
	if (r < 0) {
		crypt_free(cd);
		if (r == -EINVAL)
			log_error("%s: not a LUKS container (or a damaged header)", path);
		else
			log_error_errno(r, "%s: cannot read the LUKS header", path);
		return r;
	}
	*ret = cd;
	return 0;
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

int luks_reencrypt(const char *path, const struct secret *drk, const struct luks_opts *opts,
		   bool *ret_resumed)
{
	_cleanup_crypt_ struct crypt_device *cd = NULL;
	const char *resilience = opts && opts->resilience ? opts->resilience : "checksum";
	struct progress_ctx pc = {.o = opts, .path = path};
	int r, state, drk_slot, new_slot;

	r = open_luks(path, &cd);
	if (r < 0)
		return r;
	if (version_of(cd) != 2) {
		log_error("%s: LUKS1 reencryption needs device-mapper and is not crash-safe here; "
			  "convert it to LUKS2 (cryptsetup convert --type luks2) first", path);
		return -EOPNOTSUPP;
	}
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
		drk_slot = test_on(cd, drk, -1);
		if (drk_slot == -EPERM) {
			log_error("%s: the Disk Recovery Key does not open it", path);
			return -EPERM;
		}
		if (drk_slot < 0)
			return log_error_errno(drk_slot, "%s: cannot test the Disk Recovery Key", path);
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
