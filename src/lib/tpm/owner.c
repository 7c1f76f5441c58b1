/* owner.c - TPM reset (ownership), finalize before kexec, shutdown. */
#include "tpm/tpm-internal.h"

#include "log.h"
#include "util.h"

#include <string.h>

static int set_auth(struct tpm *t, ESYS_TR h, const TPM2B_AUTH *a)
{
	return Esys_TR_SetAuth(t->esys, h, a) == TSS2_RC_SUCCESS ? 0 : -EIO;
}

static int random_auth(TPM2B_AUTH *a)
{
	a->size = 32;
	return tpm_random(a->buffer, 32);
}

/* Reference template: tpm2 createprimary -C owner -g sha256 -G ecc. */
static void primary_template(TPM2B_PUBLIC *pub)
{
	memset(pub, 0, sizeof(*pub));
	pub->publicArea.type = TPM2_ALG_ECC;
	pub->publicArea.nameAlg = TPM2_ALG_SHA256;
	pub->publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
					   TPMA_OBJECT_SENSITIVEDATAORIGIN |
					   TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED |
					   TPMA_OBJECT_DECRYPT;
	pub->publicArea.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
	pub->publicArea.parameters.eccDetail.symmetric.keyBits.aes = 128;
	pub->publicArea.parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
	pub->publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
	pub->publicArea.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
	pub->publicArea.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
}

int tpm_reset(struct tpm *t, const struct secret *owner_auth)
{
	if (t->t12)
		return tpm12_reset(t->t12, owner_auth);
	TPM2B_AUTH owner, lockout, empty = {0};
	TPM2B_SENSITIVE_CREATE sens = {0};
	TPM2B_PUBLIC tmpl;
	TPM2B_DATA outside = {0};
	TPML_PCR_SELECTION pcrs = {0};
	ESYS_TR primary = ESYS_TR_NONE, persisted = ESYS_TR_NONE, sess;
	TSS2_RC rc;
	int r;

	/* Forget cached handles and the pinned primary: Clear flushes everything. */
	memset(&t->pin, 0, sizeof(t->pin));
	while (t->n_tracked > 0)
		tpm_flush(t, t->tracked[t->n_tracked - 1]);
	if (t->primary != ESYS_TR_NONE) {
		Esys_TR_Close(t->esys, &t->primary);
		t->primary = ESYS_TR_NONE;
	}
	/* Reference: clear with platform auth (empty under coreboot). Firmware
	 * that locked the platform hierarchy (UEFI, or our own finalize) leaves
	 * the lockout hierarchy: its auth is empty on a never-owned TPM. */
	rc = Esys_ClearControl(t->esys, ESYS_TR_RH_PLATFORM, ESYS_TR_PASSWORD, ESYS_TR_NONE,
			       ESYS_TR_NONE, TPM2_NO);
	if (rc == TSS2_RC_SUCCESS)
		rc = Esys_Clear(t->esys, ESYS_TR_RH_PLATFORM, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				ESYS_TR_NONE);
	if (rc != TSS2_RC_SUCCESS) {
		r = tpm_log_rc(rc, "Clear(platform)");
		if (r == TPM_E_NO_TPM)
			return tpm_log_rc_error(rc, "Clear(platform)");
		log_debug("TPM: platform hierarchy unavailable, clearing with lockout auth");
		set_auth(t, ESYS_TR_RH_LOCKOUT, &empty);
		rc = Esys_Clear(t->esys, ESYS_TR_RH_LOCKOUT, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				ESYS_TR_NONE);
		if (rc != TSS2_RC_SUCCESS) {
			log_error("TPM: cannot clear: the platform hierarchy is locked and the "
				  "lockout authorization is not empty");
			return tpm_log_rc_error(rc, "Clear(lockout)");
		}
	}
	set_auth(t, ESYS_TR_RH_OWNER, &empty);
	set_auth(t, ESYS_TR_RH_ENDORSEMENT, &empty);
	set_auth(t, ESYS_TR_RH_LOCKOUT, &empty);

	/* The primary first (owner auth still empty), so the new
	 * authorizations can travel encrypted in a session salted with it. */
	primary_template(&tmpl);
	rc = Esys_CreatePrimary(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				ESYS_TR_NONE, &sens, &tmpl, &outside, &pcrs, &primary, NULL, NULL,
				NULL, NULL);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_log_rc_error(rc, "CreatePrimary");
	tpm_track(t, primary);
	rc = Esys_EvictControl(t->esys, ESYS_TR_RH_OWNER, primary, ESYS_TR_PASSWORD, ESYS_TR_NONE,
			       ESYS_TR_NONE, TPM_PRIMARY_HANDLE, &persisted);
	tpm_flush(t, primary);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_log_rc_error(rc, "EvictControl(primary)");
	t->primary = persisted;
	/* This context now trusts the key it just made (tpm_primary_name() gives
	 * the Name to record). */
	{
		TPM2B_NAME *name = NULL;
		if (Esys_TR_GetName(t->esys, persisted, &name) != TSS2_RC_SUCCESS)
			return -EIO;
		t->pin = *name;
		Esys_Free(name);
	}

	r = tpm_hmac_session(t, &sess);
	if (r < 0)
		return r;
	tpm_auth_value(owner_auth, &owner);
	rc = Esys_HierarchyChangeAuth(t->esys, ESYS_TR_RH_OWNER, sess, ESYS_TR_NONE, ESYS_TR_NONE,
				      &owner);
	if (rc == TSS2_RC_SUCCESS)
		rc = Esys_HierarchyChangeAuth(t->esys, ESYS_TR_RH_ENDORSEMENT, sess, ESYS_TR_NONE,
					      ESYS_TR_NONE, &owner);
	explicit_bzero(&owner, sizeof(owner));
	if (rc != TSS2_RC_SUCCESS) {
		tpm_flush(t, sess);
		return tpm_log_rc_error(rc, "HierarchyChangeAuth(owner/endorsement)");
	}
	rc = Esys_DictionaryAttackParameters(t->esys, ESYS_TR_RH_LOCKOUT, sess, ESYS_TR_NONE,
					     ESYS_TR_NONE, t->da_max_tries, t->da_recovery, 0);
	if (rc != TSS2_RC_SUCCESS) {
		tpm_flush(t, sess);
		return tpm_log_rc_error(rc, "DictionaryAttackParameters");
	}
	r = random_auth(&lockout);
	if (r < 0) {
		tpm_flush(t, sess);
		return r;
	}
	rc = Esys_HierarchyChangeAuth(t->esys, ESYS_TR_RH_LOCKOUT, sess, ESYS_TR_NONE, ESYS_TR_NONE,
				      &lockout);
	explicit_bzero(&lockout, sizeof(lockout));
	tpm_flush(t, sess);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_log_rc_error(rc, "HierarchyChangeAuth(lockout)");
	log_info("TPM: reset done; primary persisted at 0x%08x", TPM_PRIMARY_HANDLE);
	return 0;
}

/* 1 when the platform hierarchy is disabled (phEnable clear: UEFI firmware
 * such as OVMF does it before the OS runs), 0 when enabled, <0 error. */
static int platform_disabled(struct tpm *t)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more;
	int r = -EIO;
	TSS2_RC rc = Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					TPM2_CAP_TPM_PROPERTIES, TPM2_PT_STARTUP_CLEAR, 1, &more,
					&cap);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_log_rc_error(rc, "GetCapability(startup clear)");
	if (cap->data.tpmProperties.count == 1 &&
	    cap->data.tpmProperties.tpmProperty[0].property == TPM2_PT_STARTUP_CLEAR)
		r = !(cap->data.tpmProperties.tpmProperty[0].value & TPMA_STARTUP_CLEAR_PHENABLE);
	Esys_Free(cap);
	return r;
}

int tpm_finalize(struct tpm *t)
{
	if (t->t12)
		return 0; /* reference: no-op on TPM 1.2 */
	TPM2B_AUTH a;
	TSS2_RC rc;
	int r;

	while (t->n_tracked > 0)
		tpm_flush(t, t->tracked[t->n_tracked - 1]);
	r = random_auth(&a);
	if (r < 0)
		return r;
	/* The new platform auth goes encrypted in a session salted with the
	 * primary; without a usable primary (not owned yet, or not the pinned
	 * one) it is still set, in clear: a random value nobody is told, and
	 * leaving the platform hierarchy open would be worse. */
	ESYS_TR sess = ESYS_TR_PASSWORD;
	TPM2B_AUTH empty = {0};
	Esys_TR_SetAuth(t->esys, ESYS_TR_RH_PLATFORM, &empty);
	if (tpm_hmac_session(t, &sess) < 0) {
		log_warn("TPM: no primary key to encrypt the new platform authorization with");
		sess = ESYS_TR_PASSWORD;
	}
	rc = Esys_HierarchyChangeAuth(t->esys, ESYS_TR_RH_PLATFORM, sess, ESYS_TR_NONE,
				      ESYS_TR_NONE, &a);
	explicit_bzero(&a, sizeof(a));
	tpm_owner_session_end(t, sess);
	if (rc == TSS2_RC_SUCCESS)
		return 0;
	/* Already locked before us, and nothing left to lock: the firmware
	 * disabled the platform hierarchy (OVMF), or set a platform
	 * authorization nobody is told (SeaBIOS sets a random one at every
	 * start; so does an earlier finalize in this power cycle). Any other
	 * failure may leave it usable by the next OS: an error. */
	if ((rc & ~TPM2_RC_N_MASK) == TPM2_RC_BAD_AUTH || (rc & ~TPM2_RC_N_MASK) == TPM2_RC_AUTH_FAIL) {
		log_info("TPM: the platform hierarchy already has an authorization we do not "
			 "know (set by the firmware): locked");
		return 0;
	}
	if (platform_disabled(t) == 1) {
		log_info("TPM: the platform hierarchy is already disabled (firmware)");
		return 0;
	}
	return tpm_log_rc_error(rc, "HierarchyChangeAuth(platform)");
}

int tpm_shutdown(struct tpm *t)
{
	if (t->t12)
		return 0; /* reference: no-op on TPM 1.2 */
	TSS2_RC rc;
	while (t->n_tracked > 0)
		tpm_flush(t, t->tracked[t->n_tracked - 1]);
	rc = Esys_Shutdown(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_SU_CLEAR);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_log_rc_error(rc, "Shutdown");
	return 0;
}
