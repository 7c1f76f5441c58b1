/* integrity.h - the whole /boot integrity check and the signed update.
 *
 * integrity_check(): reads every top-level kexec*.txt once (no symlink,
 * bounded), builds the `sha256sum kexec*.txt` listing from those buffers,
 * verifies kexec.sig over it and parses the same buffers (signed.h), then
 * checks /boot against them: manifest and tree (manifest.h), the signed
 * symlink table kexec_links.txt, kexec_default_hashes.txt if present, the
 * rollback counter (rollback.h). One struct the UI and the boot flow render
 * (`heads boot report`); integrity_ok() is true only if all of them hold.
 * kexec_package_trigger_* are never part of the listing (reported as
 * present). When the listing does not match, kexec.sig is tried over
 * kexec.sig.listing (the copy of the signed listing written at signing):
 * if it verifies there, every added, changed or removed kexec*.txt is
 * named in kexec_files.
 *
 * integrity_sign(): the reference update_checksums/kexec-sign-config flow,
 * made atomic, in one of two modes:
 *   REGENERATE ("Update checksums and sign", ownership): fresh
 *     kexec_hashes.txt, kexec_tree.txt, kexec_links.txt from a scan; the
 *     kexec*.txt carried over are only those covered by the currently
 *     VERIFIED signature (against keyring, default the signer's GnuPG home),
 *     plus the caller's extras; any other kexec*.txt on disk is not signed
 *     (logged by name, left on disk, so the next check names it).
 *   KEEP (every other caller: DUK setup/reseal, save default): /boot must
 *     pass integrity_check() against keyring first (else -EBADMSG, nothing
 *     written); the signed bytes are staged unchanged, the caller's extras
 *     added or replaced by name (never the manifests or the rollback file),
 *     the names in remove dropped.
 * Then: rollback (if a TPM context is given) stages kexec_rollback.txt for
 * the counter's next value (creating the counter when there is none); the
 * staged listing is signed and the signature verified; only then the
 * counter is incremented (a signature that fails leaves it where the /boot
 * on disk says) and /boot is written:
 * remount rw if it was a ro mount point, each staged file with an atomic
 * rename, removed names unlinked, kexec.sig.listing, kexec.sig last,
 * kexec_package_trigger_* deleted, remount ro. If the boot directory is not
 * a mount point and is read-only, the update fails rather than remounting
 * some parent. Nothing is staged on disk: the listing is built from the
 * staged buffers.
 */
#ifndef HEADS_BOOT_INTEGRITY_H
#define HEADS_BOOT_INTEGRITY_H

#include <stdbool.h>
#include <stdint.h>

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
	bool rollback_required;      /* only ROLLBACK_OK passes */
	/* kexec_links.txt: OK, MISSING (not signed: a /boot signed by the
	 * shell version; its symlinks are in files.unbound, reported but not
	 * failing: nothing follows a link outside a signed table) or
	 * MALFORMED. */
	enum integrity_manifest_state links;
	/* The kexec*.txt themselves, "./name": NOT_REGULAR / UNREADABLE / NEW
	 * (a name that cannot be signed) always; NEW (not signed), CHANGED,
	 * MISSING when the signature does not match the live listing but
	 * verifies over kexec.sig.listing (kexec_files_exact). */
	struct manifest_report kexec_files;
	bool kexec_files_exact;
	char **triggers;             /* kexec_package_trigger_* present */
	size_t n_triggers;
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
	/* CONFIG_BOOT_REQ_ROLLBACK=y (written at ownership once the machine
	 * has a counter): a missing, unbound or disabled counter fails.
	 * rollback_counter (CONFIG_ROLLBACK_COUNTER, 0 = any): the NV index
	 * kexec_rollback.txt must name. */
	bool require_rollback;
	uint32_t rollback_counter;
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

enum integrity_sign_mode {
	INTEGRITY_SIGN_KEEP = 0,         /* default: keep the signed manifests */
	INTEGRITY_SIGN_REGENERATE,       /* re-hash /boot (explicit user action) */
};

struct integrity_sign_options {
	const char *bootdir;
	const char *staging_parent;      /* unused (staging is in memory) */
	enum integrity_sign_mode mode;
	/* GnuPG home of the trusted public keys: what is signed now is what
	 * verifies against it. KEEP: required. REGENERATE: NULL = the
	 * signer's home. */
	const char *keyring;
	bool require_rollback;           /* KEEP's check (integrity_options) */
	uint32_t rollback_counter;
	const char *const *remove;       /* kexec*.txt names to drop (unlinked */
	size_t n_remove;                 /* from /boot with the update) */
	struct sig_signer signer;
	struct tpm *tpm;                 /* NULL: no rollback counter */
	const struct secret *owner_auth; /* for counter creation/increment */
	bool new_counter;                /* create a fresh counter even if /boot
					    names one (after a TPM reset) */
	manifest_progress_fn progress;
	void *userdata;
	const struct integrity_file *extra; /* n_extra files staged too; a
					       kexec_default.N.txt among them
					       drops (and deletes) any other
					       signed kexec_default.*.txt */
	size_t n_extra;
};

struct integrity_sign_result {
	size_t files;          /* regular files hashed (signed, in KEEP) */
	char fpr[41];          /* signing key */
	struct rollback_result rollback;
	bool remounted;        /* /boot was ro and was remounted rw then ro */
};

int integrity_sign(const struct integrity_sign_options *o, struct integrity_sign_result *ret);

/* A write to /boot outside signing (the unsigned HOTP counter file, as the
 * shell version's remount rw/ro): bootdir made writable, remounted rw when
 * it is a read-only mount point (*ret_mp set, caller frees; NULL when
 * nothing was remounted); integrity_boot_restore_ro(mp, flags) after the
 * write (NULL mp: nothing to do). Read-only and not a mount point: -EROFS. */
int integrity_boot_writable(const char *bootdir, char **ret_mp, unsigned long *ret_flags);
int integrity_boot_restore_ro(const char *mp, unsigned long flags);

#endif
