/* flow/luks_ops.h - the LUKS changes applied to a list of containers,
 * written once for `heads luks change-passphrase|reencrypt` and the menu
 * (Options P and C). The caller selects the containers and gets the
 * passphrases (its own questions: --*-fd options or the UI); the flow does
 * the part both must do the same way:
 * - Disk Recovery Key change: every container must open with the current
 *   passphrase or, after an interrupted run, the new one, before any is
 *   changed; then luks_change_passphrase() (crash-safe) on each;
 * - reencryption: SIGINT/SIGTERM stop at the next hotzone (resumable; a
 *   container not started yet is not started), luks_reencrypt() on each,
 *   the Disk Recovery Key's slot read back afterwards.
 * Each container's outcome is in res[i] for the caller to show. */
#ifndef HEADS_FLOW_LUKS_OPS_H
#define HEADS_FLOW_LUKS_OPS_H

#include "flow/flow.h"
#include "luks/luks.h"

#include <stdbool.h>

struct flow_luks_result {
	int r;                        /* 0 or the negative errno (-EINTR: interrupted) */
	int slot;                     /* the Disk Recovery Key's key slot after */
	enum luks_change_state state; /* change: what was done */
	bool resumed;                 /* reencrypt: an interrupted run was finished */
};

/* Called before each container i (e.g. to reset a progress display). */
typedef void (*flow_luks_each_fn)(void *userdata, size_t i);

/* Containers that open with neither drk nor newp are res[i].r = -EACCES;
 * their count is returned (nothing changed then). 0: all open. */
size_t flow_luks_drk_precheck(const struct luks_device *v, size_t n, const struct secret *drk,
			      const struct secret *newp, struct flow_luks_result *res);

/* The precheck, then the change on each container. Returns the number
 * changed (every res[i] set), or 0 with the precheck's failures in res. */
size_t flow_luks_change_drk(const struct luks_device *v, size_t n, const struct secret *drk,
			    const struct secret *newp, const struct luks_opts *lo,
			    flow_luks_each_fn each, void *userdata, struct flow_luks_result *res);

/* Reencrypt each container with drk (lo: resilience, progress, ...; its
 * interrupt flag is the flow's). Returns the number reencrypted. */
size_t flow_luks_reencrypt(const struct luks_device *v, size_t n, const struct secret *drk,
			   struct luks_opts *lo, flow_luks_each_fn each, void *userdata,
			   struct flow_luks_result *res);

#endif
