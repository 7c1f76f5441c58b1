/* flow/sign.h - signing /boot, written once for `heads boot sign` and the
 * menu ("Update checksums and sign", ownership, a new default entry, the
 * Disk Unlock Key files): the board's rollback rules (s->cfg:
 * CONFIG_IGNORE_ROLLBACK, CONFIG_BOOT_REQ_ROLLBACK, CONFIG_ROLLBACK_COUNTER),
 * the TPM (primary pinned) for the rollback counter, the TPM owner
 * passphrase when a counter must be created (asked only if the caller
 * allows it), the key's passphrase / card PIN through the session
 * (flow_sign_pin), then integrity_sign(). Which key signs is chosen
 * first by flow_signkey_get() (flow/signkey.h: the dongle, the in-memory
 * key, the "GPG signing key unavailable" menu). */
#ifndef HEADS_FLOW_SIGN_H
#define HEADS_FLOW_SIGN_H

#include "boot/integrity.h"
#include "flow/flow.h"
#include "flow/signkey.h"

#include <stdbool.h>

struct flow_sign {
	const char *bootdir;
	enum integrity_sign_mode mode;  /* KEEP: /boot must verify against s->keyring */
	const char *key;                /* NULL: the default key of s->gnupghome */
	const struct integrity_file *extra; /* staged kexec*.txt (the default entry) */
	size_t n_extra;
	const struct secret *owner;     /* known (NULL: asked when needed and ask_owner) */
	bool ask_owner;
	bool new_counter;               /* always create a new rollback counter */
	bool no_counter;                /* the caller has no TPM / said no counter */
	manifest_progress_fn progress;  /* hashing progress (may be NULL) */
	void *userdata;
	/* The caller can go to the OEM reset / recovery shell when the user
	 * picks them in "GPG signing key unavailable" (*leave says which). */
	bool offer_leave;
	enum flow_signkey_leave *leave;
};

enum flow_sign_step {
	FLOW_SIGN_TPM,   /* opening the TPM for the rollback counter failed */
	FLOW_SIGN_OWNER, /* the owner passphrase was needed and not given */
	FLOW_SIGN_SIGN,  /* integrity_sign() failed (-EBADMSG: /boot does not verify) */
	FLOW_SIGN_KEY,   /* no signing key (-ENOKEY), or the user returned (-ECANCELED) */
};

/* 0 and res; <0 and *ret_step. Nothing in bootdir changes on failure. */
int flow_sign_boot(const struct session *s, const struct flow_sign *a,
		   struct integrity_sign_result *res, enum flow_sign_step *ret_step);

#endif
