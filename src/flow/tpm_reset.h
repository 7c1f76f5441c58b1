/* flow/tpm_reset.h - the TPM reset, written once for `heads tpm reset` and
 * the menu (ownership, Options -> TPM reset): open the TPM (no primary
 * pinned: the reset replaces it), the dictionary-attack policy, clear and
 * take ownership with the new owner passphrase (tpm_reset), then the new
 * primary key's Name (TPM 2.0; a TPM 1.2 has a well-known SRK and nothing
 * to pin). Recording the Name is the caller's: the menu writes it into the
 * user config, the command prints the line to record. */
#ifndef HEADS_FLOW_TPM_RESET_H
#define HEADS_FLOW_TPM_RESET_H

#include "flow/flow.h"

#include <stdint.h>

struct flow_tpm_reset {
	const struct secret *owner; /* the new owner passphrase (asked by the caller) */
	uint32_t da_max_tries;      /* TPM_DA_MAX_TRIES unless the command says */
	uint32_t da_recovery;       /* TPM_DA_RECOVERY_SECONDS likewise */
};

enum flow_tpm_reset_step {
	FLOW_TPM_RESET_OPEN,  /* opening the TPM failed */
	FLOW_TPM_RESET_RESET, /* the reset failed */
	FLOW_TPM_RESET_NAME,  /* reading the new primary key's Name failed */
};

/* 0: reset; *ret_version 20 or 12; *ret_name the new primary's hex Name
 * (TPM 2.0) or NULL (TPM 1.2). <0: failed at *ret_step (logged). */
int flow_tpm_reset(const struct session *s, const struct flow_tpm_reset *a, int *ret_version,
		   char **ret_name, enum flow_tpm_reset_step *ret_step);

#endif
