/* tpm12_owner.c - TPM 1.2 reset: physical presence, ForceClear,
 * TakeOwnership with the EK (RSA-OAEP "TCPA"). See tpm12.h. */
#include "tpm/tpm12.h"
#include "tpm/tpm12-internal.h"
#include "tpm/tpm.h"

#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

/* --- ownership --------------------------------------------------------------- */

static int phys_presence(struct tpm12 *t, uint16_t v)
{
	struct tpm12_cmd c;
	struct tpm12_rsp r;
	uint8_t resp[TPM12_MAX_COMMAND];
	tpm12_cmd_init(&c, TPM12_TAG_RQU_COMMAND, TPM12_ORD_TSC_PhysicalPresence);
	tpm12_put_u16(&c, v);
	return tpm12_simple(t, &c, resp, &r, "TSC_PhysicalPresence");
}

int tpm12_physical_presence(struct tpm12 *t, uint16_t value)
{
	return phys_presence(t, value);
}

static int no_arg(struct tpm12 *t, uint32_t ord, int arg, const char *what)
{
	struct tpm12_cmd c;
	struct tpm12_rsp r;
	uint8_t resp[TPM12_MAX_COMMAND];
	tpm12_cmd_init(&c, TPM12_TAG_RQU_COMMAND, ord);
	if (arg >= 0)
		tpm12_put_u8(&c, (uint8_t)arg);
	return tpm12_simple(t, &c, resp, &r, what);
}

/* RSA-OAEP(SHA-1, MGF1-SHA-1, label "TCPA") to the EK. */
static int ek_encrypt(const struct tpm12_rsa_pub *pk, const uint8_t in[20], uint8_t *out,
		      size_t *out_len)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *kctx = NULL, *ctx = NULL;
	EVP_PKEY *key = NULL;
	BIGNUM *n = BN_bin2bn(pk->n, (int)pk->n_len, NULL), *e = BN_new();
	int r = -EIO;

	if (!bld || !n || !e || !BN_set_word(e, pk->e) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
	    !(params = OSSL_PARAM_BLD_to_param(bld)) ||
	    !(kctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) ||
	    EVP_PKEY_fromdata_init(kctx) <= 0 ||
	    EVP_PKEY_fromdata(kctx, &key, EVP_PKEY_PUBLIC_KEY, params) <= 0 ||
	    !(ctx = EVP_PKEY_CTX_new(key, NULL)) || EVP_PKEY_encrypt_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha1()) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha1()) <= 0)
		goto out;
	{
		unsigned char *label = OPENSSL_malloc(4);
		if (!label)
			goto out;
		memcpy(label, "TCPA", 4);
		if (EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, label, 4) <= 0) {
			OPENSSL_free(label);
			goto out;
		}
	}
	if (EVP_PKEY_encrypt(ctx, out, out_len, in, 20) <= 0)
		goto out;
	r = 0;
out:
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_CTX_free(kctx);
	EVP_PKEY_free(key);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return r;
}

int tpm12_reset(struct tpm12 *t, const struct secret *owner)
{
	struct tpm12_cmd c;
	struct tpm12_rsp r;
	struct tpm12_rsa_pub pk;
	struct tpm12_perm_flags f;
	struct sess s = {0}, *ss[1] = {&s};
	uint8_t resp[TPM12_MAX_COMMAND], nonce[20], sum[20], oa[20], sa[20] = {0};
	uint8_t eo[512], es[512];
	size_t eo_len = sizeof(eo), es_len = sizeof(es), used;
	int e;

	/* Physical presence by command (the firmware leaves it enabled on
	 * Heads boards; swtpm allows it). Enabling may be locked: then the
	 * "present" assertion alone decides. */
	struct tpm12_stclear_flags sf;
	bool pp = true, owned = true;
	(void)phys_presence(t, 0x0020); /* TPM_PHYSICAL_PRESENCE_CMD_ENABLE */
	e = phys_presence(t, 0x0008);   /* TPM_PHYSICAL_PRESENCE_PRESENT */
	if (e < 0) {
		if (tpm12_stclear_flags(t, &sf) < 0 || !sf.physical_presence_lock)
			return log_error_errno(e, "TPM 1.2: cannot assert physical presence");
		if (tpm12_owned(t, &owned) < 0 || owned)
			return log_error_errno(-EPERM,
					       "TPM 1.2: the firmware locked physical presence for "
					       "this boot, so the owned TPM cannot be cleared: clear "
					       "it in the firmware's TPM menu, then reset it again");
		log_info("TPM 1.2: physical presence locked by the firmware; the TPM has no "
			 "owner, nothing to clear: taking ownership");
		pp = false;
	}
	if (pp) {
		e = no_arg(t, TPM12_ORD_ForceClear, -1, "ForceClear");
		if (e < 0) {
			log_error("TPM 1.2: ForceClear failed (%s)", strerror(-e));
			goto out;
		}
		if ((e = no_arg(t, TPM12_ORD_PhysicalEnable, -1, "PhysicalEnable")) < 0 ||
		    (e = no_arg(t, TPM12_ORD_PhysicalSetDeactivated, 0,
				"PhysicalSetDeactivated")) < 0)
			goto out;
	}
	e = tpm12_perm_flags(t, &f);
	if (e == 0 && (f.disabled || f.deactivated)) {
		if (pp)
			log_error("TPM 1.2: cleared, but the TPM stays deactivated until the next "
				  "power cycle: power off, then reset the TPM again");
		else
			log_error("TPM 1.2: the TPM is disabled or deactivated and the firmware "
				  "locked physical presence: enable it in the firmware's TPM menu");
		e = -EPERM;
		goto out;
	}
	/* ReadPubek with an anti-replay nonce: checksum = SHA1(pubkey || nonce) */
	if ((e = tpm12_random(nonce, 20)) < 0)
		goto out;
	tpm12_cmd_init(&c, TPM12_TAG_RQU_COMMAND, TPM12_ORD_ReadPubek);
	tpm12_put_bytes(&c, nonce, 20);
	if ((e = tpm12_simple(t, &c, resp, &r, "ReadPubek")) < 0) {
		log_error("TPM 1.2: ReadPubek failed (%s): no endorsement key?", strerror(-e));
		goto out;
	}
	{
		size_t left = r.len - r.off;
		const uint8_t *p = tpm12_get_bytes(&r, left);
		if (!p || left < 20 || tpm12_parse_pubkey(p, left - 20, &pk, &used) < 0 ||
		    used != left - 20) {
			e = log_error_errno(-EBADMSG, "TPM 1.2: malformed endorsement key");
			goto out;
		}
		uint8_t m[TPM12_MAX_COMMAND];
		memcpy(m, p, used);
		memcpy(m + used, nonce, 20);
		tpm12_sha1(m, used + 20, sum);
		if (CRYPTO_memcmp(sum, p + used, 20) != 0) {
			e = log_error_errno(-EBADMSG, "TPM 1.2: ReadPubek checksum does not verify");
			goto out;
		}
	}
	tpm12_auth_value(owner, oa);
	if (ek_encrypt(&pk, oa, eo, &eo_len) < 0 || ek_encrypt(&pk, sa, es, &es_len) < 0) {
		e = log_error_errno(-EIO, "TPM 1.2: cannot encrypt to the endorsement key");
		goto out;
	}
	if ((e = tpm12_oiap(t, oa, &s)) < 0)
		goto out;
	tpm12_cmd_init(&c, TPM12_TAG_RQU_AUTH1, TPM12_ORD_TakeOwnership);
	tpm12_put_u16(&c, 0x0005); /* TPM_PID_OWNER */
	tpm12_put_u32(&c, (uint32_t)eo_len);
	tpm12_put_bytes(&c, eo, eo_len);
	tpm12_put_u32(&c, (uint32_t)es_len);
	tpm12_put_bytes(&c, es, es_len);
	/* srkParams: TPM_KEY 1.1, storage, auth always, RSA 2048 OAEP */
	tpm12_put_u32(&c, 0x01010000);
	tpm12_put_u16(&c, 0x0011); /* TPM_KEY_STORAGE */
	tpm12_put_u32(&c, 0);      /* keyFlags */
	tpm12_put_u8(&c, 0x01);    /* TPM_AUTH_ALWAYS */
	tpm12_put_u32(&c, 1);      /* TPM_ALG_RSA */
	tpm12_put_u16(&c, 0x0003); /* TPM_ES_RSAESOAEP_SHA1_MGF1 */
	tpm12_put_u16(&c, 0x0001); /* TPM_SS_NONE */
	tpm12_put_u32(&c, 12);
	tpm12_put_u32(&c, 2048);
	tpm12_put_u32(&c, 2);
	tpm12_put_u32(&c, 0);
	tpm12_put_u32(&c, 0); /* PCRInfoSize */
	tpm12_put_u32(&c, 0); /* pubKey */
	tpm12_put_u32(&c, 0); /* encData */
	e = tpm12_auth_transmit(t, &c, ss, 1, false, resp, &r, "TakeOwnership");
	if (e < 0)
		log_error("TPM 1.2: TakeOwnership failed (%s)", strerror(-e));
out:
	if (pp)
		(void)phys_presence(t, 0x0010); /* TPM_PHYSICAL_PRESENCE_NOTPRESENT */
	explicit_bzero(oa, sizeof(oa));
	tpm12_sess_wipe(&s);
	return e;
}
