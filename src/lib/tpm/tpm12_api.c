/* tpm12_api.c - the TPM 1.2 side of tpm.h (called from the public
 * functions when the context holds a TPM 1.2). Reference layout
 * (heads-behaviour.md 2.4): a sealed secret for persistent handle
 * 0x81XXXXXX lives as a TPM_Seal blob (312 bytes) in NV index
 * 0x00XXXXXX (0x81004d47 -> 0x4d47 TOTP, 0x81000003 -> 0x3 DUK); the
 * rollback counter is a TPM_CreateCounter counter (label 0xbaddecaf =
 * 3135106223, empty counter auth = SHA-1("")). The PCR values a blob was
 * sealed to are recorded next to it as on TPM 2.0 (tpm.h, seal record
 * 0x0148XXXX, 20 bytes per PCR), in an NV area only the owner writes, and
 * checked against the blob's own TPM_PCR_INFO (digestAtRelease = SHA-1 of
 * the composite of the recorded values) before they are believed. */
#include "tpm/tpm-internal.h"
#include "tpm/tpm12-internal.h"

#include "log.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define SEALED_NV_SIZE 312u

static int sealed_index(uint32_t handle, uint32_t *ret)
{
	if ((handle >> 24) != 0x81)
		return -EINVAL;
	*ret = handle & 0x00ffffffu;
	return 0;
}

static uint32_t record_index(uint32_t handle)
{
	return TPM12_SEALREC_BASE | (handle & 0xffff);
}

/* The seal record: whatever is at its index goes (owner auth), then it is
 * defined anew, owner-written only, and written with owner auth. */
static int record_write(struct tpm *t, uint32_t handle, const struct tpm_pcr_values *v,
			bool with_auth, const struct secret *owner_auth)
{
	uint8_t buf[SEALREC_MAX];
	size_t len = sealrec_encode(v, with_auth, TPM_SHA1_LEN, buf);
	uint32_t index = record_index(handle);
	struct tpm12_nv_public pub;
	int r = tpm12_nv_info(t->t12, index, &pub);

	if (r == 0)
		r = tpm12_nv_undefine(t->t12, index, owner_auth);
	else if (r == TPM_E_NO_OBJECT)
		r = 0;
	if (r == 0)
		r = tpm12_nv_define(t->t12, index, (uint32_t)len, TPM12_NV_PER_OWNERWRITE, owner_auth);
	if (r == 0)
		r = tpm12_nv_write(t->t12, index, buf, len, owner_auth);
	return r;
}

int tpm12_api_seal(struct tpm *t, uint32_t handle, const struct secret *data,
		   const struct tpm_pcr_values *expected, const struct secret *auth,
		   const struct secret *owner_auth)
{
	uint8_t vals[16][20];
	_cleanup_free_ uint8_t *blob = NULL;
	uint8_t padded[SEALED_NV_SIZE] = {0};
	struct tpm12_nv_public pub;
	size_t len;
	uint32_t index;
	int r;

	if (sealed_index(handle, &index) < 0 || !expected || expected->mask >> 16)
		return log_error_errno(-EINVAL, "TPM 1.2: seals only to PCRs 0-15");
	for (unsigned i = 0; i < 16; i++)
		memcpy(vals[i], expected->sha256[i], 20); /* SHA-1 values (tpm.h) */
	r = tpm12_seal(t->t12, expected->mask, (const uint8_t(*)[20])vals, data, auth, &blob, &len);
	if (r < 0)
		return log_error_errno(r, "TPM 1.2: Seal failed");
	if (len > SEALED_NV_SIZE)
		return log_error_errno(-E2BIG, "TPM 1.2: sealed blob of %zu bytes", len);
	memcpy(padded, blob, len);
	r = tpm12_nv_info(t->t12, index, &pub);
	if (r == 0 && pub.size != SEALED_NV_SIZE) {
		r = tpm12_nv_undefine(t->t12, index, owner_auth);
		if (r == 0)
			r = TPM_E_NO_OBJECT;
	}
	if (r == TPM_E_NO_OBJECT)
		r = tpm12_nv_define(t->t12, index, SEALED_NV_SIZE, TPM12_NV_PER_OWNERWRITE, owner_auth);
	if (r == 0)
		r = tpm12_nv_write(t->t12, index, padded, SEALED_NV_SIZE, owner_auth);
	if (r < 0)
		return log_error_errno(r, "TPM 1.2: cannot store the sealed blob in NV 0x%x", index);
	r = record_write(t, handle, expected, auth != NULL, owner_auth);
	if (r < 0)
		return log_error_errno(r, "TPM 1.2: sealed in NV 0x%x, but recording its PCR values "
				       "in NV 0x%08x failed", index, record_index(handle));
	log_info("TPM: sealed %zu bytes in NV 0x%x", data->len, index);
	return 0;
}

int tpm12_api_sealed_expected(struct tpm *t, uint32_t handle, struct tpm_pcr_values *ret,
			      bool *ret_with_auth)
{
	uint32_t index, rindex = record_index(handle), mask;
	struct tpm12_nv_public pub;
	uint8_t rec[SEALREC_MAX], blob[SEALED_NV_SIZE], rel[20], want[20];
	uint8_t vals[16][20], comp[TPM12_COMPOSITE_MAX];
	struct tpm_pcr_values v;
	bool with_auth;
	int r;

	if (sealed_index(handle, &index) < 0)
		return -EINVAL;
	r = tpm12_nv_info(t->t12, rindex, &pub);
	if (r < 0)
		return r;
	/* Only an area heads defined: written by the owner alone, nothing else. */
	if (pub.permission != TPM12_NV_PER_OWNERWRITE || pub.size < 9 || pub.size > SEALREC_MAX) {
		log_error("TPM 1.2: NV 0x%08x (the PCR record of 0x%08x) was not defined by heads "
			  "(attributes 0x%x, %u bytes): refusing it", rindex, handle,
			  pub.permission, pub.size);
		return TPM_E_FOREIGN_RECORD;
	}
	r = tpm12_nv_read(t->t12, rindex, pub.size, rec);
	if (r < 0)
		return r;
	if (sealrec_decode(rec, pub.size, TPM_SHA1_LEN, &v, &with_auth) < 0 || v.mask >> 16)
		return log_error_errno(-EBADMSG, "TPM 1.2: the PCR record 0x%08x of 0x%08x is "
				       "malformed", rindex, handle);
	/* Believed only if the sealed blob itself was sealed to exactly these. */
	r = tpm12_nv_read(t->t12, index, sizeof(blob), blob);
	if (r < 0)
		return r;
	r = tpm12_stored_data_pcrs(blob, sizeof(blob), &mask, rel);
	if (r < 0)
		return log_error_errno(TPM_E_NO_OBJECT, "TPM 1.2: NV 0x%x holds no sealed blob", index);
	for (unsigned i = 0; i < 16; i++)
		memcpy(vals[i], v.sha256[i], 20);
	tpm12_sha1(comp, tpm12_pcr_composite(v.mask, (const uint8_t(*)[20])vals, comp), want);
	if (mask != v.mask || memcmp(rel, want, 20) != 0) {
		log_error("TPM: the PCR record of 0x%08x does not match its sealed blob (forged or "
			  "left over from another seal): refusing it", handle);
		return -EBADMSG;
	}
	*ret = v;
	*ret_with_auth = with_auth;
	return 0;
}

int tpm12_api_unseal(struct tpm *t, uint32_t handle, const struct secret *auth,
		     struct secret **ret)
{
	uint8_t blob[SEALED_NV_SIZE];
	uint32_t index;
	int r;

	if (sealed_index(handle, &index) < 0)
		return -EINVAL;
	r = tpm12_nv_read(t->t12, index, sizeof(blob), blob);
	if (r == TPM_E_NO_OBJECT)
		log_error("TPM: nothing is sealed at 0x%08x (NV 0x%x)", handle, index);
	if (r < 0)
		return r;
	/* A passphrase is a DA-protected authorization. */
	if (auth && (r = tpm_lockout_check(t, NULL)) < 0)
		return r;
	r = tpm12_unseal(t->t12, blob, sizeof(blob), auth, ret);
	explicit_bzero(blob, sizeof(blob));
	if (r == -EBADMSG)
		log_error("TPM: NV 0x%x holds no sealed blob", index);
	return r == -EBADMSG ? TPM_E_NO_OBJECT : r;
}

int tpm12_api_evict(struct tpm *t, uint32_t handle, const struct secret *owner_auth)
{
	uint32_t index;
	if (sealed_index(handle, &index) < 0)
		return -EINVAL;
	int r = tpm12_nv_undefine(t->t12, index, owner_auth);
	if (r < 0)
		return r;
	struct tpm12_nv_public pub;
	if (tpm12_nv_info(t->t12, record_index(handle), &pub) == 0)
		r = tpm12_nv_undefine(t->t12, record_index(handle), owner_auth);
	return r;
}

int tpm12_api_lockout_status(struct tpm *t, bool *ret_lockout, uint32_t *ret_counter,
			     uint32_t *ret_max_tries, uint32_t *ret_seconds)
{
	struct tpm12_da_info da;
	int r = tpm12_da_info(t->t12, &da);
	if (r < 0)
		return r;
	if (ret_lockout)
		*ret_lockout = da.state == 1;
	if (ret_counter)
		*ret_counter = da.current;
	if (ret_max_tries)
		*ret_max_tries = da.threshold;
	if (ret_seconds) /* actionDependValue: seconds until the lock ends */
		*ret_seconds = da.depend;
	return 0;
}

static struct secret *empty_secret(void)
{
	return secret_dup("", 0);
}

static const uint8_t counter_label[4] = {0xba, 0xdd, 0xec, 0xaf}; /* 3135106223 */

int tpm12_api_counter_create(struct tpm *t, const struct secret *owner_auth, uint32_t *ret_index)
{
	_cleanup_secret_ struct secret *empty = empty_secret();
	uint32_t v, id;
	int r = tpm12_counter_create(t->t12, owner_auth, empty, counter_label, &id, &v);
	if (r < 0)
		return log_error_errno(r, "TPM 1.2: CreateCounter failed");
	if (id > 0xffff) /* a TPM_COUNT_ID heads cannot name: leave no counter behind */
		return log_error_errno(-ERANGE, "TPM 1.2: CreateCounter gave the id 0x%x, beyond "
				       "what heads names (0..0xffff)", id);
	*ret_index = TPM12_COUNTER_TAG | id;
	return 0;
}

/* The TPM's counter id behind a heads counter index, once ReadCounter shows
 * it carries the reference's label (else another tool's counter: refused,
 * TPM_E_FOREIGN_RECORD, never read as a rollback state). */
static int counter_id(struct tpm *t, uint32_t index, uint32_t *ret_id, uint32_t *ret_value)
{
	uint8_t label[4];
	uint32_t v;
	int r;

	if ((index & 0xffff0000u) != TPM12_COUNTER_TAG)
		return log_error_errno(-EINVAL, "TPM 1.2: 0x%x is not a TPM 1.2 counter (0x%xNNNN)",
				       index, TPM12_COUNTER_TAG >> 16);
	r = tpm12_counter_read(t->t12, index & 0xffff, &v, label);
	if (r < 0)
		return r;
	if (memcmp(label, counter_label, 4) != 0) {
		log_error("TPM 1.2: counter %u has the label %02x%02x%02x%02x, not the rollback "
			  "counter's 0xbaddecaf: not a counter heads created", index & 0xffff,
			  label[0], label[1], label[2], label[3]);
		return TPM_E_FOREIGN_RECORD;
	}
	*ret_id = index & 0xffff;
	if (ret_value)
		*ret_value = v;
	return 0;
}

int tpm12_api_counter_read(struct tpm *t, uint32_t index, uint64_t *ret_value)
{
	uint32_t id, v;
	int r = counter_id(t, index, &id, &v);
	if (r < 0)
		return r;
	*ret_value = v;
	return 0;
}

int tpm12_api_counter_increment(struct tpm *t, uint32_t index, uint64_t *ret_value)
{
	_cleanup_secret_ struct secret *empty = empty_secret();
	uint32_t v, id;
	int r = counter_id(t, index, &id, NULL);
	if (r < 0)
		return r;
	r = tpm_lockout_check(t, NULL);
	if (r < 0)
		return r;
	r = tpm12_counter_increment(t->t12, id, empty, &v);
	if (r < 0)
		return log_error_errno(r, "TPM 1.2: IncrementCounter failed");
	if (ret_value)
		*ret_value = v;
	return 0;
}

int tpm12_api_nv_info(struct tpm *t, uint32_t index, uint32_t *ret_attributes, size_t *ret_size)
{
	struct tpm12_nv_public pub;
	int r = tpm12_nv_info(t->t12, index, &pub);
	if (r < 0)
		return r;
	if (ret_attributes)
		*ret_attributes = pub.permission;
	if (ret_size)
		*ret_size = pub.size;
	return 0;
}

int tpm12_api_nv_read(struct tpm *t, uint32_t index, uint8_t **ret, size_t *ret_len)
{
	size_t size;
	int r = tpm12_api_nv_info(t, index, NULL, &size);
	if (r < 0)
		return r;
	if (size == 0 || size > 2048)
		return -EBADMSG;
	uint8_t *b = xmalloc(size);
	r = tpm12_nv_read(t->t12, index, size, b);
	if (r < 0) {
		free(b);
		return r;
	}
	*ret = b;
	*ret_len = size;
	return 0;
}
