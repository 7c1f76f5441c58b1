/* duk_boot.c - the Disk Unlock Key given to a boot (flow/duk_boot.h). */
#include "flow/duk_boot.h"
#include "kexec.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

enum flow_outcome flow_duk_boot(const struct session *s, struct tpm *t,
				const struct boot_signed *signed_set, struct kexec_plan *p,
				const struct duk_unlock_callbacks *cb, struct flow_duk_boot *ret)
{
	struct duk_unlock_result res = {0};
	_cleanup_free_ char *q = NULL;
	int r;

	*ret = (struct flow_duk_boot){0};
	r = t ? duk_unlock(t, signed_set, cb, &res) : -ENODEV;
	ret->r = r;
	if (r == -EIO || (r < 0 && !res.pcr4_extended)) {
		duk_unlock_result_free(&res);
		snprintf(ret->reason, sizeof(ret->reason),
			 "PCR 4 could not be extended: not booting.");
		flow_tell(s, UI_BG_ERROR, "ERROR: Boot refused", ret->reason);
		return FLOW_BACK;
	}
	if (r == 0) {
		ret->n_devices = res.n_devices;
		r = duk_plan_inject(signed_set, p, &res);
		duk_unlock_result_free(&res);
		if (r == 0)
			return FLOW_DONE;
		ret->r = r;
		snprintf(ret->reason, sizeof(ret->reason),
			 "The initrd with the Disk Unlock Key could not be built.");
	} else {
		snprintf(ret->reason, sizeof(ret->reason), "%s",
			 res.reason[0] ? res.reason : strerror(-r));
		duk_unlock_result_free(&res);
	}
	q = xasprintf("%s\n\nDo you wish to boot and use the LUKS Disk Recovery Key?",
		      ret->reason);
	r = flow_yesno(s, UI_BG_WARNING, "Disk Unlock Key unavailable", q);
	if (r == 1)
		return FLOW_DONE;
	if (r < 0 && r != -ECANCELED)
		return FLOW_UI_GONE; /* no one to ask, or the conversation ended */
	/* PCR 4 is extended: nothing else may be unsealed in this boot (the
	 * reference DIEs). */
	return FLOW_RECOVERY;
}
