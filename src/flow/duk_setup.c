/* The Disk Unlock Key setup, for `heads duk setup` and the menu (see
 * flow/duk_setup.h). Reference heads-behaviour.md 5.2; the work is lib/duk's. */
#include "flow/duk_setup.h"
#include "flow/signkey.h"
#include "log.h"
#include "secret.h"
#include "tpm/tpm.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define DRK_MAX 512

#define all_of flow_luks_all
#define names flow_luks_names

char *flow_luks_names(const struct luks_device *v, size_t n, uint64_t mask)
{
	char *s = xstrdup("");
	for (size_t i = 0; i < n; i++)
		if (mask & (UINT64_C(1) << i))
			str_appendf(&s, "  %s (LUKS%d)\n", v[i].path, v[i].version);
	return s;
}

/* The paths of the containers in mask, on one line. */
static char *paths(const struct luks_device *v, size_t n, uint64_t mask)
{
	char *s = xstrdup("");
	for (size_t i = 0; i < n; i++)
		if (mask & (UINT64_C(1) << i))
			str_appendf(&s, "%s%s", *s ? " " : "", v[i].path);
	return s;
}

static void narrow(struct luks_device *v, size_t *n, uint64_t mask)
{
	size_t k = 0;
	for (size_t i = 0; i < *n; i++) {
		if (mask & (UINT64_C(1) << i))
			v[k++] = v[i];
		else
			luks_device_done(&v[i]);
	}
	*n = k;
}

/* A UI error that ends the conversation (anything but "no"/"cancel"). */
static bool fatal(int r)
{
	return r < 0 && r != -ECANCELED;
}

int flow_luks_drk(const struct session *s, struct luks_device *v, size_t *n,
		  const struct secret *known, const char *why, struct secret **ret)
{
	_cleanup_free_ char *list = names(v, *n, all_of(*n));
	_cleanup_free_ char *prompt = xasprintf("%s\n\nLUKS Disk Recovery Key (DRK) passphrase "
						"that opens:\n%s", why, list);
	int asked = 0;

	if (*n > 64) /* the check reports with a 64-bit mask */
		return log_error_errno(-E2BIG, "more than 64 LUKS containers: not supported");
	for (int round = 1; round <= 3; round++) {
		_cleanup_secret_ struct secret *drk = NULL;
		uint64_t ok = 0;
		int r;

		if (known && round == 1) {
			drk = secret_dup(known->data, known->len);
		} else {
			r = flow_secret(s, FLOW_SECRET_DRK, ++asked, "Disk Recovery Key", prompt,
					DRK_MAX, &drk);
			if (r == -EACCES)
				break; /* a command's single answer was wrong: no retry */
			if (r < 0 && r != -EFBIG)
				return r;
		}
		if (!drk) /* -EFBIG: longer than any Disk Recovery Key we accept */
			continue;
		if (drk->len == 0)
			return -ECANCELED;
		flow_progress(s, "Disk Recovery Key", "Testing the passphrase on each container", 0);
		r = duk_drk_check(v, *n, drk, &ok);
		flow_progress_end(s);
		if (r == (int)*n) {
			*ret = TAKE_PTR(drk);
			return 0;
		}
		if (r > 0) {
			_cleanup_free_ char *bad = paths(v, *n, all_of(*n) & ~ok);
			_cleanup_free_ char *good = paths(v, *n, ok);
			_cleanup_free_ char *q = xasprintf(
				"The Disk Recovery Key does not open: %s.\n\nContinue with only the "
				"unlockable devices (%s)?", bad, good);
			log_warn("the Disk Recovery Key does not open every container");
			r = flow_yesno(s, UI_BG_WARNING, "Disk Recovery Key", q);
			if (fatal(r))
				return r;
			if (r == 1) {
				narrow(v, n, ok);
				*ret = TAKE_PTR(drk);
				return 0;
			}
			continue;
		}
		if (!(known && round == 1))
			flow_tell(s, UI_BG_WARNING, "Disk Recovery Key",
				  "That passphrase opens none of the containers.");
	}
	flow_tell(s, UI_BG_ERROR, "Disk Recovery Key",
		  "No Disk Recovery Key passphrase that opens the containers: nothing was "
		  "changed.\n\nIf it is forgotten, the disk cannot be recovered: reinstall the OS.");
	return -ECANCELED;
}

/* >= 12 characters, twice, 3 attempts (reference 5.2 step 3). */
static int ask_duk_passphrase(const struct session *s, struct secret **ret)
{
	for (int attempt = 1; attempt <= 3; attempt++) {
		_cleanup_secret_ struct secret *a = NULL, *b = NULL;
		int r = flow_secret(s, FLOW_SECRET_DUK, attempt, "Disk Unlock Key",
				    "New LUKS TPM Disk Unlock Key passphrase (at least 12 "
				    "characters; typed at every boot)", DUK_PASSPHRASE_MAX, &a);
		if (r == 0)
			r = flow_secret(s, FLOW_SECRET_DUK, attempt, "Disk Unlock Key",
					"Repeat the Disk Unlock Key passphrase", DUK_PASSPHRASE_MAX,
					&b);
		if (r == -EACCES)
			break;
		if (r < 0 && r != -EFBIG)
			return r;
		r = r < 0 ? -EMSGSIZE : duk_check_passphrase(a, b);
		if (r == 0) {
			*ret = TAKE_PTR(a);
			return 0;
		}
		flow_tell(s, UI_BG_WARNING, "Disk Unlock Key",
			  r == -EINVAL ? "The passphrase must have at least 12 characters." :
			  r == -ENOTUNIQ ? "The two passphrases differ." :
					   "The passphrase is too long.");
	}
	flow_tell(s, UI_BG_ERROR, "Disk Unlock Key",
		  "No valid passphrase: the Disk Unlock Key was not set up.");
	return -ECANCELED;
}

static bool confirm_wipe(void *userdata, const char *device, int slot)
{
	const struct session *s = userdata;
	_cleanup_free_ char *q = xasprintf("Key slot %d of %s is in use and is not the Disk "
					   "Recovery Key.\n\nWipe key slot %d on %s?", slot,
					   device, slot, device);
	return flow_yesno(s, UI_BG_WARNING, "Wipe LUKS key slot", q) == 1;
}

static int duk_setup_key(const struct session *s, struct flow_duk_setup *a,
			 struct duk_setup_result *res, struct flow_signkey *k)
{
	_cleanup_secret_ struct secret *drk = NULL, *pass = NULL, *owner = NULL;
	_cleanup_tpm_ struct tpm *t = NULL;
	struct luks_opts lo = {.confirm_wipe = confirm_wipe, .userdata = (void *)s};
	bool use_rollback;
	int r;

	if (s->cfg && config_enabled(s->cfg, "CONFIG_TPM_NO_LUKS_DISK_UNLOCK")) {
		flow_tell(s, UI_BG_WARNING, "Disk Unlock Key",
			  "The Disk Unlock Key is disabled on this board "
			  "(CONFIG_TPM_NO_LUKS_DISK_UNLOCK).");
		return -EPERM;
	}
	if (luks_same_version(a->devices, a->n_devices) < 0) {
		flow_tell(s, UI_BG_ERROR, "ERROR: Disk Unlock Key",
			  "The containers mix LUKS1 and LUKS2: one Disk Unlock Key needs one "
			  "LUKS version.");
		return -EMEDIUMTYPE;
	}
	r = flow_tpm_open(s, &t);
	if (r < 0)
		return log_error_errno(r, "cannot open the TPM");
	r = flow_luks_drk(s, a->devices, &a->n_devices, a->drk,
			  "The Disk Unlock Key is added next to the Disk Recovery Key, which "
			  "stays in its key slot.", &drk);
	if (r < 0)
		return r;
	r = ask_duk_passphrase(s, &pass);
	if (r < 0)
		return r;
	if (!a->owner) {
		r = flow_secret(s, FLOW_SECRET_OWNER, 1, "TPM Owner Passphrase",
				"TPM owner passphrase", 4096, &owner);
		if (r < 0)
			return log_error_errno(r, "reading the TPM owner passphrase");
	}
	struct duk_setup_options so = {
		.bootdir = a->bootdir,
		.devices = a->devices,
		.n_devices = a->n_devices,
		.drk = drk,
		.passphrase = pass,
		.owner_auth = a->owner ? a->owner : owner,
		.pcr = a->pcr,
		.luks = &lo,
		.sign = !a->no_sign,
		.keyring = s->keyring,
		.gnupghome = k->gnupghome,
		.key = k->key,
		.pin = flow_signkey_pin,
		.pin_userdata = k,
	};
	flow_rollback_rules(s, &so.require_rollback, &so.rollback_counter, &use_rollback);
	so.rollback = use_rollback && !a->no_rollback;
	flow_progress(s, "Disk Unlock Key", "Adding the key to each container and sealing it", 0);
	memset(res, 0, sizeof(*res));
	r = duk_setup(t, &so, res);
	flow_progress_end(s);
	if (r == 0)
		log_info("Disk Unlock Key set up on %zu container(s)", a->n_devices);
	return r;
}

int flow_duk_setup(const struct session *s, struct flow_duk_setup *a,
		   struct duk_setup_result *res)
{
	/* the signing key first (flow/signkey.h): the dongle, the in-memory
	 * key, or the "GPG signing key unavailable" menu */
	struct flow_signkey k = {.source = FLOW_SIGNKEY_NONE, .s = s, .pin_tries = -1,
				 .gnupghome = s->gnupghome, .key = a->key};
	enum flow_signkey_leave leave;
	int r;

	if (!a->no_sign && (r = flow_signkey_get(s, a->key, false, &k, &leave)) < 0)
		return r;
	r = duk_setup_key(s, a, res, &k);
	flow_signkey_put(&k);
	return r;
}
