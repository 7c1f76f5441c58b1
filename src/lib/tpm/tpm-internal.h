/* tpm-internal.h - shared between the files of src/lib/tpm (not a public API). */
#ifndef HEADS_TPM_INTERNAL_H
#define HEADS_TPM_INTERNAL_H

#include "tpm/tpm.h"

#include <tss2/tss2_tcti.h>

struct count_tcti {
	TSS2_TCTI_CONTEXT_COMMON_V2 common;
	TSS2_TCTI_CONTEXT *inner;
	unsigned count;
};

struct tpm {
	struct count_tcti ct; /* what ESAPI talks to */
	TSS2_TCTI_CONTEXT *inner;
	ESYS_CONTEXT *esys;
	ESYS_TR *tracked;
	size_t n_tracked;
};

/* Map rc and log it at debug level; returns tpm_rc_to_errno(rc). */
int tpm_log_rc(TSS2_RC rc, const char *what);
int tpm_sha256(const void *data, size_t len, uint8_t out[32]);

#endif
