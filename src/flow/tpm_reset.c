/* The TPM reset (see flow/tpm_reset.h). */
#include "flow/tpm_reset.h"
#include "cmd/cmd.h"
#include "log.h"
#include "tpm/tpm.h"
#include "util.h"

#include <errno.h>

int flow_tpm_reset(const struct session *s, const struct flow_tpm_reset *a, int *ret_version,
		   char **ret_name, enum flow_tpm_reset_step *ret_step)
{
	_cleanup_tpm_ struct tpm *t = NULL;
	_cleanup_free_ char *name = NULL;
	int r;

	*ret_step = FLOW_TPM_RESET_OPEN;
	r = cmd_tpm_open(s->tcti, NULL, &t);
	if (r < 0)
		return r;
	*ret_step = FLOW_TPM_RESET_RESET;
	tpm_set_da_policy(t, a->da_max_tries, a->da_recovery);
	r = tpm_reset(t, a->owner);
	if (r < 0)
		return log_error_errno(r, "TPM reset failed");
	*ret_version = tpm_version(t);
	if (*ret_version != 12) {
		*ret_step = FLOW_TPM_RESET_NAME;
		r = tpm_primary_name(t, &name);
		if (r < 0)
			return log_error_errno(r, "reading the new primary key's Name");
	}
	log_info("TPM reset with a new owner passphrase");
	*ret_name = TAKE_PTR(name);
	return 0;
}
