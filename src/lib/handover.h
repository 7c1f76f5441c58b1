/* handover.h - the one road from a built kexec plan to the next kernel.
 *
 * Every boot (the menu, `heads duk unlock`, `heads kexec`) ends here, in
 * this order, stopping at the first failure:
 *   1. PCR 4 (BOARD_PCR_BOOT_MODE) leaves its firmware value: extended with
 *      pcr4 ("generic", "unsafe") unless NULL (already extended, e.g. by
 *      the Disk Unlock Key's unlock); nothing sealed to the boot-time PCRs
 *      unseals after this;
 *   2. the plan is loaded (kexec_plan_load(): the memfds checked when the
 *      plan was built, never a path) - skipped in a dry run;
 *   3. the TPM is finalized (platform hierarchy locked for the next OS,
 *      the reference's kexec_finalize) - a failure stops the boot;
 *   4. before_exec (close the UI; it may free the plan: the kernel has its
 *      copy), then kexec_exec() - only with exec and not in a dry run.
 * tpm NULL: a board without TPM (steps 1 and 3 are skipped).
 * Returns 0 (dry run, or loaded without exec), or a negative errno with
 * *ret_step naming the step that failed (the reason is logged). kexec_exec()
 * returns only on failure. The caller frees the plan (which wipes an
 * injected initrd).
 */
#ifndef HEADS_HANDOVER_H
#define HEADS_HANDOVER_H

#include "kexec.h"

#include <stdbool.h>

struct tpm;

enum handover_step {
	HANDOVER_PCR4,
	HANDOVER_LOAD,
	HANDOVER_FINALIZE,
	HANDOVER_EXEC,
};

struct handover {
	struct kexec_plan *plan;
	struct tpm *tpm;        /* NULL: no TPM */
	const char *pcr4;       /* extend PCR 4 with this first; NULL: already */
	const char *kexec_tool; /* NULL: the default */
	bool dry_run;           /* no load, no exec (PCR 4 and finalize happen) */
	bool exec;              /* kexec_exec() after loading */
	void (*before_exec)(void *userdata);
	void *userdata;
};

int handover_boot(const struct handover *h, enum handover_step *ret_step);

/* "extending PCR 4", "loading the kernel", "TPM finalize", "kexec". */
const char *handover_step_name(enum handover_step step);

#endif
