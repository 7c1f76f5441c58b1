/* flow/duk_setup.h - the LUKS Disk Unlock Key setup, written once for
 * `heads duk setup` and the menu (Options k, the end of ownership, the
 * reseal after a TOTP, Disk Recovery Key or reencryption change).
 *
 * The caller chooses the containers (its selection rules: arguments or a
 * devices file for the command, the menu's list, /boot's
 * kexec_key_devices.txt, else discovery); the flow does the rest in this
 * order: the board allows it (not CONFIG_TPM_NO_LUKS_DISK_UNLOCK), one
 * LUKS version, the TPM (primary pinned), the Disk Recovery Key
 * (it must open every container; when it opens only some, going on with
 * those is asked), the new DUK passphrase (twice), the TPM owner
 * passphrase, then duk_setup() (wipe confirmations asked per slot), the
 * rollback rules of the board (s->cfg: CONFIG_IGNORE_ROLLBACK,
 * CONFIG_BOOT_REQ_ROLLBACK, CONFIG_ROLLBACK_COUNTER) for both callers.
 * Questions go through the session (flow_secret / flow_yesno), refusals
 * are told (flow_tell); the result is the caller's to show. */
#ifndef HEADS_FLOW_DUK_SETUP_H
#define HEADS_FLOW_DUK_SETUP_H

#include "duk.h"
#include "flow/flow.h"
#include "luks/luks.h"

#include <stdbool.h>
#include <stdint.h>

struct flow_duk_setup {
	const char *bootdir;
	struct luks_device *devices; /* narrowed to those the DRK opens */
	size_t n_devices;            /* in/out */
	const struct secret *drk;    /* known: tried first (NULL: asked) */
	const struct secret *owner;  /* known (NULL: asked) */
	struct duk_pcr_sources pcr;
	bool no_sign;                /* write the three files unsigned */
	bool no_rollback;            /* do not advance the rollback counter */
	const char *key;             /* signing key (NULL: the home's default) */
};

/* 0 and res; -EPERM the board disables the DUK (told); -EMEDIUMTYPE the containers mix LUKS versions (told);
 * -ECANCELED declined or no valid answer (told); a UI error; the TPM
 * opening's error (logged); else duk_setup()'s error (the caller tells:
 * -EBADMSG /boot did not verify, nothing changed). */
int flow_duk_setup(const struct session *s, struct flow_duk_setup *a,
		   struct duk_setup_result *res);

/* The Disk Recovery Key for containers v[0..*n): known tried first, then
 * asked (3 rounds, a blank answer cancels); when it opens only some, the
 * user may go on with those (v and *n narrowed). why: the question's first
 * paragraph. 0 and *ret; -ECANCELED (told) or a UI error. */
int flow_luks_drk(const struct session *s, struct luks_device *v, size_t *n,
		  const struct secret *known, const char *why, struct secret **ret);

/* "  DEVICE (LUKSn)\n" for each container whose bit is set in mask. */
char *flow_luks_names(const struct luks_device *v, size_t n, uint64_t mask);

/* The mask of n containers (n <= 64). */
static inline uint64_t flow_luks_all(size_t n)
{
	return n >= 64 ? ~UINT64_C(0) : (UINT64_C(1) << n) - 1;
}

#endif
