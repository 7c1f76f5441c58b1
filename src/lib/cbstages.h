/* cbstages.h - the firmware's PCR 2 measurements by name ("stages"): a
 * baseline kept in the TPM when a secret is sealed, and the named
 * differences when PCR 2 moved (issue 23).
 *
 * Stages: the events of PCR 2 in a TCG log (EV_NO_ACTION left out), in
 * order, each a name and its SHA-256 digest. coreboot names them in the
 * event data ("FMAP: FMAP", "CBFS: fallback/romstage"); an event whose data
 * is not a printable string (UEFI firmware) is named by its type and its
 * number among the events of that type ("EV_EFI_BOOT_SERVICES_DRIVER #1").
 * At most CBSTAGES_MAX events; a longer list is -E2BIG. The replay of the
 * stages (from zeros, extend each digest) is what PCR 2 holds when the log
 * is complete.
 *
 * Baseline record: an owner-written NV record (tpm_record_write/read: only
 * the owner writes it, an index heads did not define is refused) at
 * CBSTAGES_RECORD_INDEX, next to the TOTP record: "CBS2", u8 count, then
 * per stage u8 name length (1..63), the name, 32 digest bytes. It is
 * written only when the stages replay to the PCR 2 value being sealed, and
 * used only when its replay equals the sealed PCR 2 value (the sealed
 * object's policy vouches for that value): a record of another firmware is
 * never taken for this one's. Decoding is bounded (+fuzz: cbstages).
 *
 * Current stages: from the coreboot log source of the TPM context
 * (tpm_coreboot_log(): NULL = coreboot's cbmem log through /dev/mem, else
 * a saved log file, coreboot's cbmem layout or a plain TCG log).
 * 0 or a negative errno, unless said otherwise.
 */
#ifndef HEADS_CBSTAGES_H
#define HEADS_CBSTAGES_H

#include <stddef.h>
#include <stdint.h>

#include "secret.h"

struct tpm;
struct tpm_eventlog;

#define CBSTAGES_MAX 32u
#define CBSTAGES_NAME_MAX 64u /* with the terminating NUL */
#define CBSTAGES_RECORD_INDEX 0x01504d48u
#define CBSTAGES_RECORD_MAGIC "CBS2"
#define CBSTAGES_PCR 2u

struct cbstage {
	char name[CBSTAGES_NAME_MAX];
	uint8_t sha256[32];
};

struct cbstages {
	size_t n;
	struct cbstage v[CBSTAGES_MAX];
};

/* The PCR 2 events of log (sha256 bank required: -ENOENT without it). */
int cbstages_from_log(const struct tpm_eventlog *log, struct cbstages *ret);
/* From a saved log file (coreboot's cbmem layout or a TCG log); path NULL
 * = the cbmem log through /dev/mem. */
int cbstages_load(const char *path, struct cbstages *ret);
/* PCR 2 after the stages, from zeros. */
void cbstages_replay(const struct cbstages *s, uint8_t ret[32]);

/* Record bytes: encode into buf (size >= cbstages_encoded_size()); decode
 * is strict (-EBADMSG: wrong magic, bad length, empty or unprintable name,
 * trailing bytes). */
size_t cbstages_encoded_size(const struct cbstages *s);
size_t cbstages_encode(const struct cbstages *s, uint8_t *buf);
int cbstages_decode(const uint8_t *buf, size_t len, struct cbstages *ret);

/* What differs from base to now, one line per stage: "NAME: changed",
 * "NAME: added", "NAME: removed" (matched by name, the n-th of equal names
 * with the n-th), or "the stages are the same, in another order"; NULL when
 * equal. Caller frees. */
char *cbstages_diff(const struct cbstages *base, const struct cbstages *now);

/* The baseline for sealed_pcr2 into the TPM (owner auth): the current
 * stages (tpm_coreboot_log(t)) when they replay to sealed_pcr2, else the
 * record is removed (a sealed value without its stages). 1 written, 0 no
 * baseline (no log, or it does not replay to sealed_pcr2), <0 a TPM error. */
int cbstages_record_seal(struct tpm *t, const uint8_t sealed_pcr2[32],
			 const struct secret *owner_auth);
/* The record, checked to replay to sealed_pcr2: -ESTALE when it does not
 * (another firmware's), TPM_E_NO_OBJECT when there is none. */
int cbstages_record_read(struct tpm *t, const uint8_t sealed_pcr2[32], struct cbstages *ret);
/* Remove the record (TPM_E_NO_OBJECT if none). */
int cbstages_record_wipe(struct tpm *t, const struct secret *owner_auth);

/* After PCR 2 moved from sealed_pcr2 (authenticated by the caller: the
 * sealed object's record) to live_pcr2: a sentence naming the stages that
 * differ from the baseline ("coreboot stages changed since sealing:
 * CBFS: fallback/romstage changed"), or saying why none can be named (no
 * baseline, no log, a log that does not explain the live PCR 2). Caller
 * frees; never NULL. */
char *cbstages_explain(struct tpm *t, const uint8_t sealed_pcr2[32],
		       const uint8_t live_pcr2[32]);

#endif
