/* The one road from a plan to the next kernel (see handover.h). */
#include "handover.h"
#include "board.h"
#include "log.h"
#include "tpm/tpm.h"

#include <errno.h>

const char *handover_step_name(enum handover_step step)
{
	switch (step) {
	case HANDOVER_PCR4:
		return "extending PCR 4";
	case HANDOVER_LOAD:
		return "loading the kernel";
	case HANDOVER_FINALIZE:
		return "TPM finalize (platform hierarchy lock)";
	case HANDOVER_EXEC:
		return "kexec";
	}
	return "boot";
}

int handover_boot(const struct handover *h, enum handover_step *ret_step)
{
	int r;

	*ret_step = HANDOVER_PCR4;
	if (h->pcr4 && h->tpm) {
		r = tpm_extend_string(h->tpm, BOARD_PCR_BOOT_MODE, h->pcr4);
		if (r < 0)
			return log_error_errno(r, "extending PCR %d with \"%s\"",
					       BOARD_PCR_BOOT_MODE, h->pcr4);
		log_info("PCR %d extended with \"%s\"", BOARD_PCR_BOOT_MODE, h->pcr4);
	}
	*ret_step = HANDOVER_LOAD;
	if (!h->dry_run && (r = kexec_plan_load(h->plan, h->kexec_tool)) < 0)
		return r;
	*ret_step = HANDOVER_FINALIZE;
	if (h->tpm && (r = tpm_finalize(h->tpm)) < 0)
		return log_error_errno(r, "TPM finalize (platform hierarchy lock) failed: "
				       "not booting");
	if (h->dry_run || !h->exec)
		return 0;
	*ret_step = HANDOVER_EXEC;
	if (h->before_exec)
		h->before_exec(h->userdata);
	r = kexec_exec();
	return r < 0 ? r : -EIO;
}
