/* eventlog.h - the firmware TCG event log: parse, replay, predict.
 *
 * Formats (reference section 2.2, TCG PC Client Platform Firmware Profile):
 * - crypto-agile: a first SHA-1-format event of type EV_NO_ACTION carrying
 *   "Spec ID Event03" (the algorithm table), then TCG_PCR_EVENT2 records
 *   with one digest per algorithm (Linux:
 *   /sys/kernel/security/tpm0/binary_bios_measurements on TPM 2.0);
 * - SHA-1 (TCPA, TPM 1.2): TCG_PCClientPCREvent records only.
 * The parser is bounded: input <= TPM_EVENTLOG_MAX bytes, at most
 * TPM_EVENTLOG_MAX_EVENTS events, at most 8 algorithms; every length is
 * checked against the remaining input. Malformed input is -EBADMSG (with a
 * debug log naming the byte offset); it never reads out of bounds.
 * Replay: EV_NO_ACTION events are not extended; a StartupLocality event
 * sets PCR 0's initial value (last byte = locality); PCRs 17-22 start at
 * all-ones, others at zero.
 */
#ifndef HEADS_TPM_EVENTLOG_H
#define HEADS_TPM_EVENTLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TPM_EVENTLOG_DEFAULT "/sys/kernel/security/tpm0/binary_bios_measurements"
#define TPM_EVENTLOG_MAX (16u * 1024 * 1024)
#define TPM_EVENTLOG_MAX_EVENTS 65536u

#define TPM_EV_NO_ACTION 0x00000003u

struct tpm_event {
	uint32_t pcr;
	uint32_t type;
	bool has_sha1, has_sha256;
	uint8_t sha1[20];
	uint8_t sha256[32];
	uint32_t data_len;
	const uint8_t *data; /* event data, inside the log's copy of the input */
	size_t offset;       /* byte offset of the record in the input */
};

struct tpm_eventlog {
	bool crypto_agile;
	bool has_sha1_bank, has_sha256_bank;
	bool has_locality;
	uint8_t locality;
	size_t n;
	struct tpm_event *events;
	uint8_t *raw;
	size_t raw_len;
};

int tpm_eventlog_parse(const void *buf, size_t len, struct tpm_eventlog **ret);
/* path NULL = TPM_EVENTLOG_DEFAULT. -ENOENT etc. from reading. */
int tpm_eventlog_load(const char *path, struct tpm_eventlog **ret);
void tpm_eventlog_free(struct tpm_eventlog *log);
/* Replay one PCR in bank "sha1"/"sha256" (out: 20/32 bytes). -ENOENT if the
 * log has no such bank; -EBADMSG if an event of that PCR lacks the digest. */
int tpm_eventlog_replay(const struct tpm_eventlog *log, const char *bank, unsigned pcr,
			uint8_t *out, size_t *ret_len);
/* "EV_POST_CODE" etc., or NULL for an unknown type. */
const char *tpm_event_type_name(uint32_t type);

#endif
