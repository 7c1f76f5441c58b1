/* luks/reencrypt.c - resumable LUKS2 reencryption with progress, and
 * luks_reencrypt(), which takes LUKS1 through reencrypt_luks1.c (see luks.h). */
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

int luks_reencrypt_state_of(struct crypt_device *cd)
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
	int r = luks_open(path, &cd);
	if (r < 0)
		return r;
	if (luks_version_of(cd) != 2)
		return 0;
	return luks_reencrypt_state_of(cd);
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

/* reencrypt_init_flags(); where libcryptsetup says the metadata needs a
 * repair (-EINVAL), repair it (CRYPT_REENCRYPT_REPAIR_NEEDED) and try once
 * more. */
static int reencrypt_init_repairing(struct crypt_device *cd, const struct secret *drk,
				    uint32_t flags, const char *resilience,
				    const struct luks_opts *o, const char *path)
{
	int r = reencrypt_init_flags(cd, drk, flags, resilience, o);
	if (r != -EINVAL)
		return r;
	log_note("%s: repairing the reencryption metadata", path);
	r = reencrypt_init_flags(cd, drk, CRYPT_REENCRYPT_REPAIR_NEEDED, NULL, o);
	if (r >= 0)
		r = reencrypt_init_flags(cd, drk, flags, resilience, o);
	return r;
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

/* True if the DRK opens key slot s (its volume key read into locked memory
 * and wiped). */
static bool drk_opens(struct crypt_device *cd, const struct secret *drk, int s)
{
	int ks = crypt_keyslot_get_key_size(cd, s);
	if (ks <= 0)
		return false;
	_cleanup_secret_ struct secret *k = secret_new((size_t)ks);
	size_t len = (size_t)ks;
	return k && crypt_volume_key_get(cd, s, (char *)k->data, &len, (const char *)drk->data,
					 drk->len) == s;
}

/* A reencryption interrupted before its first hotzone is rolled back by
 * recovery, leaving the unbound key slot it had added for the DRK: drop
 * such slots (unbound and opened by the DRK) before starting again. */
static void drop_stale_unbound(struct crypt_device *cd, const char *path,
			       const struct secret *drk)
{
	int max = crypt_keyslot_max(crypt_get_type(cd));
	for (int s = 0; s < max; s++) {
		if (crypt_keyslot_status(cd, s) != CRYPT_SLOT_UNBOUND || !drk_opens(cd, drk, s))
			continue;
		log_info("%s: removing unbound key slot %d left by an interrupted start", path, s);
		(void)crypt_keyslot_destroy(cd, s);
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

	if (luks_reencrypt_state_of(cd) != 1 || crypt_dump_json(cd, &text, 0) < 0 || !text)
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
	for (int s = 0; s < LUKS_MAX_SLOTS; s++)
		if ((mask & (UINT32_C(1) << s)) && drk_opens(cd, drk, s))
			return s;
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

	state = luks_reencrypt_state_of(cd);
	if (state < 0)
		return log_error_errno(-EINVAL, "%s: invalid reencryption state", path);

	if (ret_resumed)
		*ret_resumed = state > 0;
	if (state == 2) {
		/* Crash: replay or roll back the hotzone from the resilience
		 * data (cryptsetup repair), then resume. */
		log_note("%s: an interrupted reencryption was found: recovering", path);
		r = reencrypt_init_repairing(cd, drk, CRYPT_REENCRYPT_RECOVERY, NULL, opts, path);
		if (r < 0)
			return reencrypt_init_error(path, r, "recover");
		crypt_free(TAKE_PTR(cd));
		r = luks_open(path, &cd);
		if (r < 0)
			return r;
		state = luks_reencrypt_state_of(cd);
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
		r = reencrypt_init_repairing(cd, drk, CRYPT_REENCRYPT_RESUME_ONLY, resilience, opts,
					     path);
		if (r < 0)
			return reencrypt_init_error(path, r, "resume");
	} else {
		char cipher[64], mode[64];
		int vk_size = crypt_get_volume_key_size(cd);
		drop_stale_unbound(cd, path, drk);
		drk_slot = luks_drk_slot_of(cd, path, drk);
		if (drk_slot < 0)
			return drk_slot;
		r = luks_copy_pbkdf(cd, path, drk_slot, opts);
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
	if (opts && opts->interrupt && *opts->interrupt && luks_reencrypt_state_of(cd) != 0) {
		log_warn("%s: reencryption interrupted: run it again to resume", path);
		return -EINTR;
	}
	return 0;
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
	r = luks_open(path, &cd);
	if (r < 0)
		return r;
	if (luks_version_of(cd) == 1) {
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
		r = luks_open(path, &cd);
		if (r < 0)
			return r;
	} else if (luks_version_of(cd) == 2) {
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
	if (slot >= 0 && luks_reencrypt_state_of(cd) == 0 && luks_test_on(cd, drk, -1) >= 0 &&
	    luks_test_on(cd, drk, slot) != slot) {
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
		r = luks1_rebuild_header(path, drk, key_slot, key_slot, CRYPT_LUKS2, opts);
		if (r < 0)
			return r;
		resumed = true;
	} else {
		r = reencrypt_luks2(TAKE_PTR(cd), path, drk, opts, &r2);
		if (r < 0)
			return r;
	}
	if (slot >= 0) {
		r = luks1_rebuild_header(path, drk, slot, key_slot, CRYPT_LUKS1, opts);
		if (r < 0)
			return r;
	}
	luks1_cleanup(opts, path); /* no stale backup outlives a finished run */
	if (ret_resumed)
		*ret_resumed = resumed || r2;
	return 0;
}
