/* Signing /boot (see flow/sign.h). */
#include "flow/sign.h"
#include "boot/rollback.h"
#include "log.h"
#include "secret.h"
#include "tpm/tpm.h"
#include "util.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

/* A counter is created (the owner passphrase needed) when asked for or
 * when /boot has none yet. */
static bool creates_counter(const struct flow_sign *a)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", a->bootdir, ROLLBACK_FILE);
	struct stat st;
	return a->new_counter || (lstat(p, &st) < 0 && errno == ENOENT);
}

/* The signing itself with the key k chose. */
static int sign_with_key(const struct session *s, const struct flow_sign *a,
			 struct flow_signkey *k, struct integrity_sign_result *res,
			 enum flow_sign_step *ret_step)
{
	_cleanup_tpm_ struct tpm *t = NULL;
	_cleanup_secret_ struct secret *owner = NULL;
	struct integrity_sign_options o = {
		.bootdir = a->bootdir,
		.mode = a->mode,
		.keyring = s->keyring,
		.signer = {.gnupghome = k->gnupghome, .key = k->key, .pin = flow_signkey_pin,
			   .userdata = k, .max_attempts = flow_signkey_attempts(k)},
		.owner_auth = a->owner,
		.new_counter = a->new_counter,
		.progress = a->progress,
		.userdata = a->userdata,
		.extra = a->extra,
		.n_extra = a->n_extra,
	};
	bool use;
	int r;

	flow_rollback_rules(s, &o.require_rollback, &o.rollback_counter, &use);
	if (use && !a->no_counter) {
		*ret_step = FLOW_SIGN_TPM;
		r = flow_tpm_open(s, &t);
		if (r < 0)
			return log_error_errno(r, "opening the TPM for the rollback counter");
		o.tpm = t;
		if (!a->owner && a->ask_owner && creates_counter(a)) {
			*ret_step = FLOW_SIGN_OWNER;
			r = flow_secret(s, FLOW_SECRET_OWNER, 1, "TPM Owner Passphrase",
					"TPM owner passphrase", 4096, &owner);
			if (r < 0)
				return r;
			o.owner_auth = owner;
		}
	}
	*ret_step = FLOW_SIGN_SIGN;
	memset(res, 0, sizeof(*res));
	r = integrity_sign(&o, res);
	flow_progress_end(s);
	if (r < 0)
		return r;
	log_info("/boot signed: %zu files, key %s, rollback %s", res->files, res->fpr,
		 rollback_state_name(res->rollback.state));
	return 0;
}

int flow_sign_boot(const struct session *s, const struct flow_sign *a,
		   struct integrity_sign_result *res, enum flow_sign_step *ret_step)
{
	struct flow_signkey k;
	enum flow_signkey_leave leave;
	int r;

	*ret_step = FLOW_SIGN_KEY;
	r = flow_signkey_get(s, a->key, a->offer_leave, &k, &leave);
	if (a->leave)
		*a->leave = leave;
	if (r < 0)
		return r;
	r = sign_with_key(s, a, &k, res, ret_step);
	flow_signkey_put(&k);
	return r;
}
