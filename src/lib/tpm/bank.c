/* bank.c - the PCR bank of a TPM as a parameter (tpm.h "Banks"): one
 * prediction path for TPM 2.0 (SHA-256) and TPM 1.2 (SHA-1). Digests of
 * either bank travel in 32-byte entries, the bank's bytes first and the
 * rest zero (the struct tpm_pcr_values convention). */
#include "tpm/tpm-internal.h"
#include "tpm/eventlog.h"

#include "log.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

const char *tpm_bank(const struct tpm *t)
{
	return t && t->t12 ? "sha1" : "sha256";
}

const char *tpm_tcti_bank(const char *tcti)
{
	if (!tcti)
		tcti = tpm_default_tcti();
	return tcti && strncmp(tcti, "tpm12-", 6) == 0 ? "sha1" : "sha256";
}

size_t tpm_bank_len(const char *bank)
{
	if (bank && streq(bank, "sha1"))
		return TPM_SHA1_LEN;
	if (bank && streq(bank, "sha256"))
		return TPM_SHA256_LEN;
	return 0;
}

int tpm_bank_hash(const char *bank, const void *data, size_t len, uint8_t ret[32])
{
	size_t dl = tpm_bank_len(bank);
	unsigned int n = (unsigned int)dl;
	uint8_t h[32] = {0};

	if (!dl)
		return -EINVAL;
	if (!EVP_Digest(data, len, h, &n, dl == TPM_SHA1_LEN ? EVP_sha1() : EVP_sha256(), NULL))
		return -EIO;
	memcpy(ret, h, 32);
	return 0;
}

int tpm_predict_pcr_bank(const char *bank, const struct tpm_eventlog *log, unsigned pcr,
			 const uint8_t (*extra)[32], size_t n_extra, uint8_t ret[32])
{
	size_t dl = tpm_bank_len(bank);
	uint8_t out[32] = {0};
	int r;

	if (!dl)
		return -EINVAL;
	if (dl == TPM_SHA256_LEN)
		return tpm_predict_pcr(log, pcr, extra, n_extra, ret);
	uint8_t(*e)[20] = n_extra ? xcalloc(n_extra, 20) : NULL;
	for (size_t i = 0; i < n_extra; i++)
		memcpy(e[i], extra[i], 20);
	r = tpm_predict_pcr_sha1(log, pcr, (const uint8_t(*)[20])e, n_extra, out);
	free(e);
	if (r < 0)
		return r;
	memcpy(ret, out, 32);
	return 0;
}

int tpm_check_parent(struct tpm *t)
{
	if (t->t12) {
		bool owned;
		int r = tpm12_owned(t->t12, &owned);
		if (r < 0)
			return log_error_errno(r, "TPM 1.2: cannot read whether it has an owner");
		if (!owned) {
			log_error("TPM 1.2: the TPM has no owner (no storage root key): the TPM must be reset");
			return TPM_E_NO_PRIMARY;
		}
		return 0;
	}
	ESYS_TR primary;
	return tpm_get_primary(t, &primary);
}
