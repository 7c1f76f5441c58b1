/* luks-internal.h - what the files of luks/ share (not a public contract;
 * the contract is luks.h). */
#ifndef HEADS_LUKS_INTERNAL_H
#define HEADS_LUKS_INTERNAL_H

#include "luks/luks.h"
#include "util.h"

#include <libcryptsetup.h>
#include <stdbool.h>
#include <stdint.h>

static inline void crypt_freep(struct crypt_device **cd)
{
	if (*cd)
		crypt_free(*cd);
}
#define _cleanup_crypt_ _cleanup_(crypt_freep)

/* device.c */
void luks_crypt_log(int level, const char *msg, void *usrptr);
int luks_open_quiet(const char *path, bool quiet, struct crypt_device **ret);
int luks_open(const char *path, struct crypt_device **ret);
int luks_version_of(struct crypt_device *cd);
uint32_t luks_used_slots(struct crypt_device *cd, int max);

/* keys.c */
int luks_test_on(struct crypt_device *cd, const struct secret *pass, int slot);
int luks_drk_slot_of(struct crypt_device *cd, const char *path, const struct secret *drk);
int luks_get_volume_key(struct crypt_device *cd, const struct secret *pass,
			struct secret **ret_vk);
int luks_copy_pbkdf(struct crypt_device *cd, const char *path, int from,
		    const struct luks_opts *o);

/* reencrypt.c */
int luks_reencrypt_state_of(struct crypt_device *cd);

/* reencrypt_luks1.c */
int luks1_marker(struct crypt_device *cd);
void luks1_cleanup(const struct luks_opts *o, const char *path);
int luks1_recover_header(const char *path, const struct secret *drk,
			 const struct luks_opts *o);
int luks1_to_luks2(const char *path, const struct secret *drk, const struct luks_opts *o);
int luks1_adopt(struct crypt_device *cd, const char *path, const struct secret *drk,
		const struct luks_opts *o);
int luks1_rebuild_header(const char *path, const struct secret *drk, int slot, int key_slot,
			 const char *type, const struct luks_opts *o);
bool luks1_done(const char *path, const struct secret *drk, const struct luks_opts *o);
bool luks1_teardown_window(const char *path, const struct secret *drk, int slot);

#endif
