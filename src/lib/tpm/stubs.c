/* stubs.c - parts of tpm.h not implemented yet: -EOPNOTSUPP. */
#include "tpm/tpm-internal.h"

int tpm_pcr_values_current(struct tpm *t, uint32_t mask, struct tpm_pcr_values *ret)
{
	int r;
	if (mask >> TPM_PCR_COUNT)
		return -EINVAL;
	r = tpm_pcr_read_mask(t, mask, ret->sha256);
	if (r < 0)
		return r;
	ret->mask = mask;
	return 0;
}

#define STUB(decl) decl { return -EOPNOTSUPP; }
#pragma GCC diagnostic ignored "-Wunused-parameter"
STUB(int tpm_policy_digest(const struct tpm_pcr_values *v, bool w, uint8_t d[32]))
STUB(int tpm_policy_session(struct tpm *t, uint32_t m, bool w, ESYS_TR *s))
STUB(int tpm_seal(struct tpm *t, uint32_t h, const struct secret *d, const struct tpm_pcr_values *e, const struct secret *a, const struct secret *o))
STUB(int tpm_unseal(struct tpm *t, uint32_t h, const struct secret *a, struct secret **r))
STUB(int tpm_unseal_mask(struct tpm *t, uint32_t h, uint32_t m, const struct secret *a, struct secret **r))
STUB(int tpm_sealed_expected(struct tpm *t, uint32_t h, struct tpm_pcr_values *r, bool *w))
STUB(int tpm_evict(struct tpm *t, uint32_t h, const struct secret *o))
STUB(int tpm_lockout_status(struct tpm *t, bool *l, uint32_t *c, uint32_t *m, uint32_t *s))
STUB(int tpm_counter_create(struct tpm *t, const struct secret *o, uint32_t *i))
STUB(int tpm_counter_read(struct tpm *t, uint32_t i, uint64_t *v))
STUB(int tpm_counter_increment(struct tpm *t, uint32_t i, const struct secret *o, uint64_t *v))
STUB(int tpm_nv_define(struct tpm *t, uint32_t i, size_t s, const struct secret *o))
STUB(int tpm_nv_write(struct tpm *t, uint32_t i, const void *d, size_t l, const struct secret *o))
STUB(int tpm_nv_read(struct tpm *t, uint32_t i, uint8_t **r, size_t *l))
STUB(int tpm_nv_undefine(struct tpm *t, uint32_t i, const struct secret *o))
STUB(int tpm_nv_info(struct tpm *t, uint32_t i, uint32_t *a, size_t *s))
STUB(int tpm_reset(struct tpm *t, const struct secret *o))
STUB(int tpm_finalize(struct tpm *t))
STUB(int tpm_shutdown(struct tpm *t))
STUB(int tpm_predict_pcr(const struct tpm_eventlog *l, unsigned p, const uint8_t (*e)[32], size_t n, uint8_t r[32]))
