/* luks/keys.c - key slots: passphrase test, DRK slot, the Disk Unlock Key
 * slot rules, crash-safe passphrase change (see luks.h). */
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

int luks_test_on(struct crypt_device *cd, const struct secret *pass, int slot)
{
	int r = crypt_activate_by_passphrase(cd, NULL, slot < 0 ? CRYPT_ANY_SLOT : slot,
					     (const char *)pass->data, pass->len, 0);
	if (r == -ENOENT)
		r = -EPERM; /* no usable slot for it: "does not open" */
	return r;
}

/* The slot the DRK opens, or a logged error naming the device. */
int luks_drk_slot_of(struct crypt_device *cd, const char *path, const struct secret *drk)
{
	int r = luks_test_on(cd, drk, -1);
	if (r == -EPERM)
		log_error("%s: the Disk Recovery Key does not open it", path);
	else if (r < 0)
		log_error_errno(r, "%s: cannot test the Disk Recovery Key", path);
	return r;
}

int luks_test_passphrase(const char *path, const struct secret *pass, int slot)
{
	_cleanup_crypt_ struct crypt_device *cd = NULL;
	int r = luks_open(path, &cd);
	if (r < 0)
		return r;
	return luks_test_on(cd, pass, slot);
}

/* The volume key opened by pass; returns the slot. */
int luks_get_volume_key(struct crypt_device *cd, const struct secret *pass,
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
int luks_copy_pbkdf(struct crypt_device *cd, const char *path, int from,
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

	r = luks_open(path, &cd);
	if (r < 0)
		return r;
	version = luks_version_of(cd);
	if (!version)
		return log_error_errno(-EMEDIUMTYPE, "%s: unsupported LUKS version", path);
	max = crypt_keyslot_max(crypt_get_type(cd));
	std_slot = version == 1 ? LUKS_DUK_SLOT_LUKS1 : LUKS_DUK_SLOT_LUKS2;

	r = luks_get_volume_key(cd, drk, &vk);
	if (r == -EPERM) {
		log_error("%s: the Disk Recovery Key does not open it", path);
		return r;
	}
	if (r < 0)
		return log_error_errno(r, "%s: cannot unlock with the Disk Recovery Key", path);
	res.drk_slot = r;
	log_info("%s: Disk Recovery Key is in key slot %d", path, res.drk_slot);

	used = luks_used_slots(cd, max);
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

	used = luks_used_slots(cd, max);
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

	r = luks_open(path, &cd);
	if (r < 0)
		return r;
	old_slot = luks_get_volume_key(cd, old_pass, &vk);
	if (old_slot < 0 && old_slot != -EPERM)
		return log_error_errno(old_slot, "%s: cannot test the current passphrase", path);
	/* A run interrupted after the new slot was added leaves both; one
	 * interrupted after the old slot was destroyed leaves only new. */
	new_slot = luks_test_on(cd, new_pass, -1);
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
	if (__builtin_popcount(luks_used_slots(cd, max)) >= max) {
		log_error("%s: no free key slot: a crash-safe change needs one (wipe an "
			  "unused slot first)", path);
		return -ENOSPC;
	}
	r = luks_copy_pbkdf(cd, path, old_slot, opts);
	if (r < 0)
		return r;
	new_slot = crypt_keyslot_add_by_key(cd, CRYPT_ANY_SLOT, (const char *)vk->data, vk->len,
					    (const char *)new_pass->data, new_pass->len, 0);
	if (new_slot < 0)
		return log_error_errno(new_slot, "%s: cannot add the new passphrase", path);
	r = luks_test_on(cd, new_pass, new_slot);
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
