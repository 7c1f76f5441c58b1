/* duk_unlock.c - Disk Unlock Key unlock: the LUKS headers against the
 * sealed listing (PCR 6), the unseal with up to DUK_TRIES passphrases, PCR 4
 * "generic" always, the key checked on every container, and the reasons
 * told to the user (see duk.h, "unlock"). Setup and the helpers both share
 * are in duk.c. */
#include "duk.h"
#include "cbstages.h"

#include "boot/integrity.h"
#include "codec.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* --- unlock ---------------------------------------------------------------- */

void duk_unlock_result_free(struct duk_unlock_result *r)
{
	secret_free(r->key);
	r->key = NULL;
	luks_key_devices_free(r->devices, r->n_devices);
	r->devices = NULL;
	r->n_devices = 0;
}

static void explain_pcrs(struct tpm *t, char *out, size_t size)
{
	struct tpm_pcr_values exp, cur;
	bool with_auth;
	size_t off;

	off = (size_t)snprintf(out, size, "The TPM refused to unseal the Disk Unlock Key: the "
				"PCRs it was sealed to have changed");
	if (!t || tpm_sealed_expected(t, TPM_HANDLE_DUK, &exp, &with_auth) < 0 ||
	    tpm_pcr_values_current(t, exp.mask, &cur) < 0) {
		snprintf(out + off, off < size ? size - off : 0,
			 " (firmware 0-3, boot mode 4, kernel modules 5, LUKS headers 6, "
			 "ROM configuration 7).");
		return;
	}
	for (unsigned p = 0; p < TPM_PCR_COUNT && off < size; p++) {
		char a[9], b[9];
		if (!(exp.mask & (1u << p)) || memcmp(exp.sha256[p], cur.sha256[p], 32) == 0)
			continue;
		hex_encode(exp.sha256[p], 4, a);
		hex_encode(cur.sha256[p], 4, b);
		off += (size_t)snprintf(out + off, size - off, "; PCR %u expected %s..., now %s...",
					p, a, b);
		if (p == CBSTAGES_PCR && off < size) {
			_cleanup_free_ char *st = cbstages_explain(t, exp.sha256[p], cur.sha256[p]);
			off += (size_t)snprintf(out + off, size - off, " [%s]", st);
		}
	}
	if (off < size)
		snprintf(out + off, size - off, ".");
}

void duk_reason(struct tpm *t, int r, char *out, size_t size)
{
	switch (r) {
	case 0:
		snprintf(out, size, "Unlocked with the Disk Unlock Key.");
		break;
	case DUK_E_NOT_SET_UP:
		snprintf(out, size, "No Disk Unlock Key is set up (no " DUK_KEY_DEVICES_FILE ").");
		break;
	case DUK_E_HEADERS_CHANGED:
		snprintf(out, size, "Encrypted disk keys have changed since the TPM Disk Unlock Key "
			 "was sealed. If you did not make this change (re-encryption, Disk "
			 "Recovery Key change), the disk may have been tampered with. Reseal the "
			 "Disk Unlock Key (heads duk setup).");
		break;
	case TPM_E_PCR_MISMATCH:
		explain_pcrs(t, out, size);
		break;
	case TPM_E_AUTH_FAIL:
		snprintf(out, size, "Wrong Disk Unlock Key passphrase.");
		break;
	case TPM_E_LOCKOUT:
		snprintf(out, size, "The TPM is in dictionary-attack lockout after too many wrong "
			 "passphrases: wait for it to forgive a failure, or reset the TPM.");
		break;
	case TPM_E_NO_OBJECT:
		snprintf(out, size, "Nothing is sealed at 0x%08x: the TPM was reset or the Disk "
			 "Unlock Key was never sealed. Set it up again.", TPM_HANDLE_DUK);
		break;
	case TPM_E_NO_PRIMARY:
		snprintf(out, size, "The TPM has no primary key (0x%08x): reset the TPM, then set "
			 "up the Disk Unlock Key again.", TPM_PRIMARY_HANDLE);
		break;
	case TPM_E_PRIMARY_CHANGED:
		snprintf(out, size, "The TPM's primary key (0x%08x) is not the one recorded at "
			 "ownership: TPM swapped or reset? The Disk Unlock Key is not used.",
			 TPM_PRIMARY_HANDLE);
		break;
	case TPM_E_NO_TPM:
		snprintf(out, size, "No TPM: the Disk Unlock Key cannot be unsealed.");
		break;
	case DUK_E_ABORTED:
		snprintf(out, size, "Disk Unlock Key entry aborted.");
		break;
	case DUK_E_BAD_KEY:
		snprintf(out, size, "The unsealed key does not open every LUKS container.");
		break;
	case -EIO:
		snprintf(out, size, "PCR 4 could not be extended: refusing to boot.");
		break;
	default:
		snprintf(out, size, "Disk Unlock Key: %s.", strerror(r < 0 ? -r : r));
		break;
	}
}

static void set_reason(struct tpm *t, struct duk_unlock_result *res, int r, const char *detail)
{
	size_t off;
	duk_reason(t, r, res->reason, sizeof(res->reason));
	off = strlen(res->reason);
	if (detail && off + 2 < sizeof(res->reason))
		snprintf(res->reason + off, sizeof(res->reason) - off, " (%s)", detail);
}

/* Steps 1-3 of the reference kexec-insert-key: devices, PCR 6, compare. */
static int check_headers(struct tpm *t, const struct boot_signed *s,
			 struct duk_unlock_result *res, char **ret_detail)
{
	const struct boot_signed_file *kd = boot_signed_file(s, DUK_KEY_DEVICES_FILE);
	const struct boot_signed_file *hdr = boot_signed_file(s, DUK_LUKSHDR_FILE);
	_cleanup_free_ char *err = NULL, *listing = NULL;
	struct luks_device *v = NULL;
	size_t n, listing_len;
	int r;

	*ret_detail = NULL;
	if (!kd)
		return DUK_E_NOT_SET_UP;
	r = luks_parse_key_devices(kd->data, kd->len, &res->devices, &res->n_devices, &err);
	if (r < 0) {
		log_error("%s: %s", DUK_KEY_DEVICES_FILE, err ? err : strerror(-r));
		return r;
	}
	n = res->n_devices;
	if (n == 0)
		return DUK_E_NOT_SET_UP;
	v = xcalloc(n, sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		r = luks_probe(res->devices[i].path, &v[i]);
		if (r < 0) {
			*ret_detail = xasprintf("%s: %s", res->devices[i].path,
						r == -EINVAL ? "no longer a LUKS container" :
							       strerror(-r));
			r = DUK_E_HEADERS_CHANGED;
			goto out;
		}
		if (res->devices[i].uuid && v[i].uuid &&
		    strcasecmp(res->devices[i].uuid, v[i].uuid) != 0) {
			*ret_detail = xasprintf("%s: LUKS UUID is %s, was %s", v[i].path,
						v[i].uuid, res->devices[i].uuid);
			r = DUK_E_HEADERS_CHANGED;
			goto out;
		}
	}
	r = luks_header_listing(v, n, DUK_HEADER_DIR, &listing, &listing_len);
	if (r < 0) {
		log_error_errno(r, "cannot measure the LUKS headers");
		goto out;
	}
	r = tpm_extend_buffer(t, DUK_PCR_LUKS, listing, listing_len, "/tmp/luksDump.txt");
	if (r < 0) {
		log_error_errno(r, "extending PCR %d with the LUKS headers", DUK_PCR_LUKS);
		goto out;
	}
	if (!hdr) {
		log_warn("%s is not signed: cannot check the LUKS headers against the sealed "
			 "ones", DUK_LUKSHDR_FILE);
		log_warn("reseal the Disk Unlock Key to recreate it");
		r = 0;
		goto out;
	}
	r = duk_compare_headers(hdr->data, hdr->len, listing, listing_len, res->devices, n,
				ret_detail);
	if (r < 0)
		log_warn("Encrypted disk keys have changed since the TPM Disk Unlock Key was "
			 "sealed: %s", *ret_detail);
out:
	luks_devices_free(v, n);
	return r;
}

int duk_unlock(struct tpm *t, const struct boot_signed *s, const struct duk_unlock_callbacks *cb,
	       struct duk_unlock_result *ret)
{
	struct duk_unlock_result *res = ret;
	_cleanup_free_ char *detail = NULL;
	struct secret *key = NULL;
	int r, e;

	memset(res, 0, sizeof(*res));
	r = check_headers(t, s, res, &detail);
	if (r == 0) {
		const char *last = NULL;
		char why[256];
		for (int a = 1; a <= DUK_TRIES; a++) {
			_cleanup_secret_ struct secret *pass = NULL;
			if (cb && cb->show_totp && (r = cb->show_totp(cb->userdata, a)) < 0)
				break;
			r = cb && cb->passphrase ? cb->passphrase(cb->userdata, a, last, &pass) :
						   -ENOKEY;
			if (r == 0 && pass->len == 0)
				r = DUK_E_ABORTED;
			if (r < 0)
				break;
			res->attempts = a;
			r = tpm_unseal_mask(t, TPM_HANDLE_DUK, DUK_PCR_MASK, pass, &key);
			if (r != TPM_E_AUTH_FAIL)
				break;
			duk_reason(t, r, why, sizeof(why));
			last = why;
			log_warn("Disk Unlock Key: wrong passphrase (attempt %d of %d)", a, DUK_TRIES);
		}
		if (r == TPM_E_AUTH_FAIL)
			log_error("Retry count exceeded: the Disk Unlock Key was not unsealed");
	}
	/* The reason may need the PCRs as they are now: before PCR 4 moves. */
	if (r < 0)
		set_reason(t, res, r, detail);

	/* Reference 1.6 step 5: always, whatever happened. */
	e = tpm_extend_string(t, DUK_PCR_BOOT_MODE, "generic");
	if (e < 0) {
		log_error_errno(e, "extending PCR %d with \"generic\"", DUK_PCR_BOOT_MODE);
		secret_free(key);
		res->outcome = -EIO;
		set_reason(t, res, -EIO, NULL);
		return -EIO;
	}
	res->pcr4_extended = true;

	if (r == 0 && key->len != LUKS_DUK_LEN) {
		log_error("the unsealed Disk Unlock Key has %zu bytes, not %d", key->len, LUKS_DUK_LEN);
		r = DUK_E_BAD_KEY;
		set_reason(t, res, r, NULL);
	}
	for (size_t i = 0; r == 0 && i < res->n_devices; i++) {
		int s = luks_test_passphrase(res->devices[i].path, key, -1);
		if (s < 0) {
			_cleanup_free_ char *d = xasprintf("%s: %s", res->devices[i].path,
							   s == -EPERM ? "no key slot opens" :
									 strerror(-s));
			r = DUK_E_BAD_KEY;
			set_reason(t, res, r, d);
		} else {
			log_info("%s: opens with the Disk Unlock Key (key slot %d)",
				 res->devices[i].path, s);
		}
	}
	if (r < 0) {
		secret_free(key);
		key = NULL;
	} else {
		duk_reason(t, 0, res->reason, sizeof(res->reason));
	}
	res->key = key;
	res->outcome = r;
	return r;
}
