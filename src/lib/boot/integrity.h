/* integrity.h - the whole /boot integrity check and the signed update.
 *
 * integrity_check(): signature (sig.h), manifest and tree (manifest.h),
 * kexec_default_hashes.txt if present, rollback counter (rollback.h), in
 * one struct the UI and the boot flow render (`heads boot report`).
 * integrity_ok() is true only if all of them hold.
 *
 * integrity_sign(): the reference update_checksums/kexec-sign-config flow,
 * made atomic:
 *   1. refuse names that cannot be signed (manifest_name_signable), and
 *      kexec*.txt that are not regular files;
 *   2. stage in a fresh 0700 directory under staging_parent ($TMPDIR or
 *      /tmp by default): the existing kexec*.txt (package trigger files
 *      are dropped, not signed), fresh kexec_hashes.txt and kexec_tree.txt;
 *   3. rollback (if a TPM context is given): increment the counter
 *      (create it when /boot has none), stage kexec_rollback.txt;
 *   4. sign the staged listing, verify the new signature;
 *   5. only then write /boot: remount its mount rw if it was ro, write each
 *      staged file with an atomic rename (fs_write_atomic_at), kexec.sig
 *      last, delete kexec_package_trigger_*.txt, remount ro if it was.
 * If the boot directory is not a mount point and is read-only, the update
 * fails rather than remounting some parent.
 */
#ifndef HEADS_BOOT_INTEGRITY_H
#define HEADS_BOOT_INTEGRITY_H

#include <stdbool.h>

#include "boot/manifest.h"
#include "boot/rollback.h"
#include "boot/sig.h"
#include "boot/signed.h"

struct tpm;

enum integrity_manifest_state {
	INTEGRITY_MANIFEST_OK = 0,   /* parsed (issues are in files) */
	INTEGRITY_MANIFEST_MISSING,  /* file absent */
	INTEGRITY_MANIFEST_MALFORMED,/* unreadable or bad syntax */
};

struct integrity_report {
	struct sig_result sig;
	enum integrity_manifest_state hashes, tree;
	char manifest_detail[256];   /* first MISSING/MALFORMED reason */
	struct manifest_report files;
	bool has_default_hashes;
	enum integrity_manifest_state default_hashes;
	struct manifest_report default_files;
	struct rollback_result rollback;
	/* What kexec.sig vouches for, parsed from the bytes it covers; NULL
	 * unless the signature is VERIFIED and kexec_hashes.txt and
	 * kexec_tree.txt parsed (boot/view.h reads /boot through it). */
	struct boot_signed *signed_set;
};

struct integrity_options {
	const char *bootdir;
	const char *keyring;       /* GnuPG home with the trusted public keys */
	struct tpm *tpm;           /* NULL: no TPM */
	bool rollback_disabled;    /* CONFIG_IGNORE_ROLLBACK=y / --no-rollback */
	manifest_progress_fn progress;
	void *userdata;
};

/* Returns 0 when the report was filled (check integrity_ok()), -errno if
 * the boot directory cannot be read at all. */
int integrity_check(const struct integrity_options *o, struct integrity_report *ret);
bool integrity_ok(const struct integrity_report *r);
void integrity_report_free(struct integrity_report *r);

/* A kexec*.txt to add to (or replace in) the signed set, e.g. the Disk
 * Unlock Key's kexec_key_devices.txt: staged with the others and written
 * to /boot only after the signature verified (additive, for duk.h). */
struct integrity_file {
	const char *name; /* basename matching kexec*.txt */
	const char *data;
	size_t len;
};

struct integrity_sign_options {
	const char *bootdir;
	const char *staging_parent;      /* NULL: $TMPDIR or /tmp */
	struct sig_signer signer;
	struct tpm *tpm;                 /* NULL: no rollback counter */
	const struct secret *owner_auth; /* for counter creation/increment */
	bool new_counter;                /* create a fresh counter even if /boot
					    names one (after a TPM reset) */
	manifest_progress_fn progress;
	void *userdata;
	const struct integrity_file *extra; /* n_extra files staged too */
	size_t n_extra;
};

struct integrity_sign_result {
	size_t files;          /* regular files hashed */
	char fpr[41];          /* signing key */
	struct rollback_result rollback;
	bool remounted;        /* /boot was ro and was remounted rw then ro */
};

int integrity_sign(const struct integrity_sign_options *o, struct integrity_sign_result *ret);

#endif
