/* luks/reencrypt_luks1.c - LUKS1 reencryption: convert to LUKS2, reencrypt,
 * rebuild as LUKS1; torn headers restored from tmpfs backups (see luks.h). */
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

/* ---- LUKS1 reencryption: convert, reencrypt as LUKS2, rebuild LUKS1 ---- */

/* The marker of a LUKS1 container converted for reencryption: subsystem
 * LUKS1_PENDING_SUBSYSTEM, label "heads: LUKS1, DRK key slot N". Returns N,
 * or -1 for no marker. */
#define LUKS1_LABEL_PREFIX "heads: LUKS1, DRK key slot "

int luks1_marker(struct crypt_device *cd)
{
	const char *sub, *label;
	unsigned long long v;

	if (luks_version_of(cd) != 2)
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
	int r = luks_open_quiet(path, true, &cd);
	if (r < 0)
		return r;
	if (uuid)
		snprintf(uuid, 40, "%s", crypt_get_uuid(cd) ? crypt_get_uuid(cd) : "");
	if (ret_version)
		*ret_version = luks_version_of(cd);
	return luks_get_volume_key(cd, drk, ret_vk);
}

bool luks1_backup_exists(const char *path, const char *backup_dir)
{
	struct luks_opts o = {.backup_dir = backup_dir};
	_cleanup_free_ char *b1 = luks1_file(&o, path, "luks1"), *b2 = luks1_file(&o, path, "luks2");
	return file_exists(b1) || file_exists(b2);
}

void luks1_cleanup(const struct luks_opts *o, const char *path)
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
int luks1_recover_header(const char *path, const struct secret *drk,
			 const struct luks_opts *o)
{
	_cleanup_crypt_ struct crypt_device *cd = NULL;
	_cleanup_free_ char *b1 = luks1_file(o, path, "luks1"), *b2 = luks1_file(o, path, "luks2");
	const char *bk = file_exists(b2) ? b2 : file_exists(b1) ? b1 : NULL;
	char dev_uuid[40] = "", bk_uuid[40] = "";
	int r, version = 0;

	if (!bk)
		return 0;
	r = luks_open_quiet(path, true, &cd);
	if (r == 0) {
		snprintf(dev_uuid, sizeof(dev_uuid), "%s", crypt_get_uuid(cd) ? crypt_get_uuid(cd) : "");
		if (luks_version_of(cd) == 1 && luks_test_on(cd, drk, -1) >= 0)
			return 0; /* an intact LUKS1 header */
		if (luks_version_of(cd) == 2) {
			/* LUKS2 headers have two copies; only a torn rebuild
			 * (rebuild_header) leaves one the DRK opens no slot of */
			_cleanup_secret_ struct secret *k = NULL;
			if (luks_get_volume_key(cd, drk, &k) >= 0)
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
int luks1_to_luks2(const char *path, const struct secret *drk, const struct luks_opts *o)
{
	_cleanup_crypt_ struct crypt_device *cd = NULL;
	_cleanup_free_ char *b1 = luks1_file(o, path, "luks1"), *b2 = luks1_file(o, path, "luks2");
	const char *resilience = o && o->resilience ? o->resilience : "checksum";
	int r, slot, free_slots, need;

	r = luks_open(path, &cd);
	if (r < 0)
		return r;
	slot = luks_drk_slot_of(cd, path, drk);
	if (slot < 0)
		return slot;
	/* One LUKS1 key slot area for the new volume key, one for the
	 * checksums of the crash-safe hotzone. */
	free_slots = 8 - __builtin_popcount(luks_used_slots(cd, 8));
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
	r = luks_open(path, &cd);
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
int luks1_adopt(struct crypt_device *cd, const char *path, const struct secret *drk,
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
	if (luks_reencrypt_state_of(cd) != 0 || luks_get_volume_key(cd, drk, &vk2) != slot ||
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
int luks1_rebuild_header(const char *path, const struct secret *drk, int slot, int key_slot,
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

	r = luks_open(path, &cd);
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
		s = luks_get_volume_key(cd, drk, &vk);
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
bool luks1_done(const char *path, const struct secret *drk, const struct luks_opts *o)
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
bool luks1_teardown_window(const char *path, const struct secret *drk, int slot)
{
	_cleanup_crypt_ struct crypt_device *cd = NULL;
	_cleanup_secret_ struct secret *vk = NULL;
	int s;

	if (luks_open_quiet(path, true, &cd) < 0 || luks_reencrypt_state_of(cd) <= 0)
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
	s = luks_get_volume_key(cd, drk, &vk);
	return s >= 0 && s != slot;
}
