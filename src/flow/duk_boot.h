/* flow/duk_boot.h - the Disk Unlock Key given to a boot, written once for
 * the menu's default boot (flow/boot.c) and `heads duk unlock`.
 *
 * Called with the plan of a signed entry already built (every file read
 * once and checked against the signed /boot) and nothing unsealed yet:
 * duk_unlock() (the LUKS headers against the signed listing, PCR 4
 * extended with "generic" whatever happens, the TOTP shown and the
 * passphrase asked through cb), then the key into the plan's initrd
 * (duk_plan_inject()). When no key comes (headers changed, PCRs moved, the
 * passphrase refused, the initrd could not take it) the reason is the
 * question: boot and type the Disk Recovery Key into the OS, or not
 * (flow_yesno through the session). Never boots without PCR 4 extended. */
#ifndef HEADS_FLOW_DUK_BOOT_H
#define HEADS_FLOW_DUK_BOOT_H

#include "duk.h"
#include "flow/flow.h"

struct kexec_plan;

struct flow_duk_boot {
	int r;                /* 0 the key is in the plan's initrd, else why not (-errno, DUK_E_*) */
	size_t n_devices;     /* containers the key opens (r == 0) */
	char reason[1024];    /* r < 0: the paragraph the person was shown */
};

/* FLOW_DONE boot the plan (with the key when ret->r == 0, else with the
 * Disk Recovery Key, as chosen); FLOW_BACK refused: PCR 4 could not be
 * extended or the TPM failed (told); FLOW_RECOVERY the person declined to
 * boot without the key; FLOW_UI_GONE. */
enum flow_outcome flow_duk_boot(const struct session *s, struct tpm *t,
				const struct boot_signed *signed_set, struct kexec_plan *p,
				const struct duk_unlock_callbacks *cb, struct flow_duk_boot *ret);

#endif
