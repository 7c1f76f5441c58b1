/* duk.h - the LUKS Disk Unlock Key (DUK), end to end: set up (add to every
 * container, seal to the TPM with predicted PCRs + a passphrase, record and
 * sign the /boot files) and unlock at boot (header change detection, unseal,
 * PCR 4 "generic", key injected into the OS initrd).
 * Reference: heads-behaviour.md 1.6, 2.3, 4.6, 5.2; issue 9.
 *
 * Contract:
 * - Composition only: LUKS through luks.h, the TPM through tpm.h, the
 *   initrd through cpio.h, /boot signing through boot/integrity.h. Nothing
 *   here talks to the user: questions go through callbacks, errors through
 *   log.h, and every failure has a one-sentence reason for the UI
 *   (duk_reason()).
 * - The DUK (128 random bytes) only lives in struct secret; it leaves this
 *   module only inside a sealed memfd (the injected initrd).
 * - Sealing policy (reference 2.3, DUK row): PCRs 0-7 + the DUK passphrase
 *   (PolicyPCR + PolicyAuthValue), at TPM_HANDLE_DUK (0x81000003). Expected
 *   values: 0-3 and 7 current; 4 firmware-only (event log replay); 5 the
 *   firmware value extended with the modules init loads at boot (the PCR 5
 *   lines of the measurement trace that belong to the board's module list,
 *   not whatever was loaded later in this session: 10.2 #19); 6 the
 *   firmware value extended with H(header listing) of the new headers.
 * - Unlock always extends PCR 4 with "generic" after the unseal attempt,
 *   whatever its outcome (and also when it was skipped because the headers
 *   changed): a failure to extend is fatal (-EIO, nothing may boot).
 * All functions return 0 or a negative errno.
 */
#ifndef HEADS_DUK_H
#define HEADS_DUK_H

#include "board.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boot/sig.h"
#include "bootcfg/bootcfg.h"
#include "luks/luks.h"
#include "secret.h"
#include "boot/signed.h"
#include "tpm/tpm.h"

#define DUK_PASSPHRASE_MIN 12
#define DUK_PASSPHRASE_MAX 1024
#define DUK_TRIES 3
#define DUK_PCR_MASK 0xffu /* PCRs 0-7 */
#define DUK_PCR_BOOT_MODE BOARD_PCR_BOOT_MODE /* board.h: the PCR map */
#define DUK_PCR_MODULES 5
#define DUK_PCR_LUKS 6
#define DUK_KEY_DEVICES_FILE "kexec_key_devices.txt"
#define DUK_LUKSHDR_FILE "kexec_lukshdr_hash.txt"
#define DUK_CRYPTTAB_FILE "kexec_initrd_crypttab_overrides.txt"
/* Where header backups are made; part of the hashed listing text, so it is
 * fixed (setup and unlock must produce the same lines). */
#define DUK_HEADER_DIR "/tmp"
#define DUK_TRACE_DEFAULT "/tmp/measuring_trace.log"
#define DUK_MODULES_DEFAULT "/etc/modules"
#define DUK_TRACE_MAX (4u * 1024 * 1024)

/* Distinct unlock outcomes (negative errno values besides the TPM_E_*). */
#define DUK_E_NOT_SET_UP (-ENOENT)       /* no kexec_key_devices.txt */
#define DUK_E_HEADERS_CHANGED (-ESTALE)  /* LUKS headers differ from sealing time */
#define DUK_E_ABORTED (-ECANCELED)       /* user gave a blank passphrase */
#define DUK_E_BAD_KEY (-EKEYREVOKED)     /* unsealed key does not open a container */

/* --- pure helpers (no TPM, no devices) ---------------------------------- */

/* 0 if pass is acceptable and equal to again (again NULL: not checked);
 * -EINVAL shorter than DUK_PASSPHRASE_MIN, -EMSGSIZE longer than
 * DUK_PASSPHRASE_MAX, -ENOTUNIQ the two differ. */
int duk_check_passphrase(const struct secret *pass, const struct secret *again);

/* PCR 5 digests of the modules init loads at boot, from the measurement
 * trace (log.h format, "MEASURE\t5\t<bank>\t<hex>\t<desc>" lines of the
 * TPM's bank, tpm_bank(): "sha256" or "sha1"; digests zero-padded to 32
 * bytes, other banks' lines ignored): walking
 * the module list in order, each entry's trace line (description = its path)
 * is taken, preceded by its arguments line when it has arguments; entries
 * without a line were built in / already loaded and are skipped; lines of
 * other modules (loaded later) are left out. module_paths/module_args
 * (n_modules) NULL: every PCR 5 line. Bounded: trace <= DUK_TRACE_MAX,
 * at most 4096 digests. Malformed MEASURE lines are -EBADMSG. *ret is
 * malloc'd (NULL when n is 0). */
int duk_trace_pcr5(const char *trace, size_t len, const char *bank, char *const *module_paths,
		   char *const *module_args, size_t n_modules, uint8_t (**ret)[32],
		   size_t *ret_n);

/* Compare the sealed header listing with the current one (both sha256sum
 * lines "<hex>  <dir>/lukshdr-<dev>"). 0 if byte-identical; else
 * DUK_E_HEADERS_CHANGED and *ret_detail (caller frees) names each device
 * whose header changed, appeared or disappeared (by its path in devs when
 * the mangled name matches; devs may be NULL). */
int duk_compare_headers(const char *sealed, size_t sealed_len, const char *now,
			size_t now_len, const struct luks_key_device *devs, size_t n_devs,
			char **ret_detail);

/* kexec_key_devices.txt text: "<path> <uuid>\n" per device. */
char *duk_key_devices_text(const struct luks_device *v, size_t n);

/* Crypttab override lines for targets whose initrd has no crypttab (the
 * reference kexec-insert-key fallback): for each device
 * "etc/crypttab:luks-<uuid> UUID=<uuid> /secret.key luks,discard" and the
 * same for cryptroot/crypttab. Caller frees. */
char *duk_fallback_overrides(const struct luks_key_device *v, size_t n);

/* --- PCR prediction ------------------------------------------------------ */

struct duk_pcr_sources {
	const char *eventlog;  /* firmware log; NULL = TPM_EVENTLOG_DEFAULT; a
				* missing file means no log (all-zero start) */
	bool no_eventlog;      /* ignore any log */
	const char *trace;     /* NULL = DUK_TRACE_DEFAULT; missing: PCR 5 current */
	const char *modules;   /* NULL = DUK_MODULES_DEFAULT; missing: all PCR 5 lines */
	const uint8_t *pcr7;   /* NULL = PCR 7 as now; else the value (32 bytes, the
				* TPM's bank first: tpm_bank) it will
				* have at the next boot (the ROM config area was just
				* rewritten: romcfg_predict_pcr7) */
	const uint8_t *pcr2;   /* NULL = PCR 2 as now; else its value at the next
				* boot (a firmware update: flash_predict_pcrs) */
};

/* Expected PCRs 0-7 for the DUK given the new header listing, in the TPM's
 * bank (tpm_bank(t): SHA-256 on a TPM 2.0, SHA-1 on a TPM 1.2). */
int duk_expected_pcrs(struct tpm *t, const struct duk_pcr_sources *src, const char *listing,
		      size_t listing_len, struct tpm_pcr_values *ret);

/* --- setup ---------------------------------------------------------------- */

struct duk_setup_options {
	const char *bootdir;            /* where the kexec*.txt live */
	const struct luks_device *devices; /* probed, DRK already validated */
	size_t n_devices;
	const struct secret *drk;
	const struct secret *passphrase; /* checked with duk_check_passphrase() */
	const struct secret *owner_auth; /* TPM owner (evict/persist); NULL = empty */
	struct duk_pcr_sources pcr;
	const struct luks_opts *luks;   /* wipe confirmation etc.; may be NULL */
	/* /boot signing (integrity_sign) with the three files added; when
	 * sign is false the files are written directly (unsigned). */
	bool sign;
	/* Signing keeps /boot's signed manifests (integrity_sign KEEP): /boot
	 * must verify against keyring before anything is changed (-EBADMSG),
	 * so a tampered /boot is never re-blessed by a DUK setup. */
	const char *keyring;
	bool require_rollback;          /* CONFIG_BOOT_REQ_ROLLBACK (the check) */
	uint32_t rollback_counter;      /* CONFIG_ROLLBACK_COUNTER, 0 = any */
	const char *gnupghome, *key;
	sig_pin_fn pin;                 /* signing PIN (may be NULL) */
	void *pin_userdata;
	bool rollback;                  /* advance the rollback counter */
};

struct duk_setup_result {
	int duk_slot[LUKS_MAX_DEVICES];
	int drk_slot[LUKS_MAX_DEVICES];
	struct tpm_pcr_values sealed;   /* the expected values sealed against */
	bool crypttab_from_initrd;      /* overrides came from the default initrd */
	char fpr[41];                   /* signing key, if signed */
};

/* DRK check without activation: bit i of *ret_ok set when devices[i]
 * opens with drk. Returns the number that open. */
int duk_drk_check(const struct luks_device *v, size_t n, const struct secret *drk,
		  uint64_t *ret_ok);

/* The whole setup (reference 5.2 steps 3-8 + 4.6 + signing): one LUKS
 * version, DUK = 128 random bytes added to every device, header listing,
 * expected PCRs, seal, then kexec_key_devices.txt, kexec_lukshdr_hash.txt and
 * kexec_initrd_crypttab_overrides.txt (from the default entry's initrd,
 * else the fallback lines) signed into bootdir. A failure after some
 * containers got the DUK leaves them with an unused key slot (the next
 * setup wipes it). */
int duk_setup(struct tpm *t, const struct duk_setup_options *o, struct duk_setup_result *ret);

/* --- unlock (duk_unlock.c) ------------------------------------------------ */

struct duk_unlock_callbacks {
	/* Before each passphrase prompt (reference show_totp_until_esc); may be
	 * NULL. A negative return aborts. */
	int (*show_totp)(void *userdata, int attempt);
	/* The DUK passphrase for attempt 1..DUK_TRIES; last_error is the reason
	 * the previous attempt failed (NULL on the first). An empty passphrase
	 * or -ECANCELED aborts. */
	int (*passphrase)(void *userdata, int attempt, const char *last_error,
			  struct secret **ret);
	void *userdata;
};

struct duk_unlock_result {
	int outcome;            /* 0 or the negative code also returned */
	int attempts;           /* passphrases tried */
	bool pcr4_extended;     /* "generic" went into PCR 4 */
	char reason[1024];      /* one paragraph for the user when outcome < 0 */
	struct secret *key;     /* the DUK (outcome 0); caller frees */
	struct luks_key_device *devices; /* from kexec_key_devices.txt */
	size_t n_devices;
};
void duk_unlock_result_free(struct duk_unlock_result *r);

/* Reference kexec-insert-key up to the initrd: the key devices and sealed
 * header listing from the signed kexec*.txt of s (never re-read from
 * /boot; NULL or unsigned: DUK_E_NOT_SET_UP, nothing unsealed), measure the headers into PCR 6, refuse
 * (DUK_E_HEADERS_CHANGED) if they changed, else up to DUK_TRIES unseal
 * attempts (a wrong passphrase retries; PCRs moved, lockout, no object stop
 * at once), then ALWAYS extend PCR 4 with "generic". An unsealed key is
 * checked to open every key device (DUK_E_BAD_KEY otherwise). Returns the
 * outcome (also in ret->outcome); -EIO when PCR 4 could not be extended. */
int duk_unlock(struct tpm *t, const struct boot_signed *s,
	       const struct duk_unlock_callbacks *cb, struct duk_unlock_result *ret);

/* Human reason for an unlock/unseal outcome; names moved PCRs when the
 * TPM is given. Writes at most size bytes. */
void duk_reason(struct tpm *t, int r, char *out, size_t size);

/* The initrd the OS gets (kexec_plan_initrd_fd(): the verified bytes, read
 * once) with /secret.key and the crypttab files of the signed
 * kexec_initrd_crypttab_overrides.txt (fallback lines from devices when s
 * has none) appended: a memfd from initrd_inject_key(), to give to
 * kexec_plan_set_initrd(). */
int duk_inject(const struct boot_signed *s, int initrd, const struct secret *key,
	       const struct luks_key_device *devices, size_t n_devices);

/* The key of a successful duk_unlock() given to the boot: duk_inject() of
 * the plan's initrd, made the plan's initrd (kexec_plan_set_initrd()). On
 * a failure the new initrd (it holds the key) is wiped and closed and the
 * plan keeps its own. 0 or -errno, logged. The one road for the menu's
 * default boot and `heads duk unlock`. */
struct kexec_plan;
int duk_plan_inject(const struct boot_signed *s, struct kexec_plan *p,
		    const struct duk_unlock_result *u);

#endif
