/* coreboot.h - what coreboot measures and where it leaves its records.
 *
 * PCR 2 prediction (coreboot 26.06, CONFIG_TPM_MEASURED_BOOT, SHA-256,
 * src/security/tpm/tspi/crtm.c + src/lib/cbfs.c): from all zeros, extend
 * SHA-256 of, in this order, the FMAP region ("FMAP: FMAP", the whole
 * region), then each CBFS file as stored (compressed bytes when compressed):
 * bootblock, fallback/romstage, fallback/postcar, fallback/ramstage,
 * fallback/payload ("CBFS: <name>"). Files absent from the ROM are skipped
 * (a board without postcar). COREBOOT_PCR2_FILES is that list.
 *
 * The coreboot table ("LBIO" header: u32 header_bytes, header_checksum,
 * table_bytes, table_checksum, table_entries; then records u32 tag, u32
 * size) is found in the first MiB of physical memory (0-4 KiB, 960 KiB-1 MiB,
 * 16-byte aligned); a LB_TAG_FORWARD record points to the real one. Its
 * LB_TAG_CBMEM_ENTRY records (u64 address, u32 size, u32 id) locate the
 * TPM 2.0 log (id "TPM2" 0x54504d32): a TCG crypto-agile log (Spec ID
 * event with coreboot's vendor info "CBT2": max/num entries, entry size)
 * followed by max_entries fixed-size TCG_PCR_EVENT2 records of which
 * num_entries are used; coreboot_tpm2_log_len() gives the used length so
 * the TCG parser (tpm/eventlog.h) reads it.
 * Bounded parsers (+fuzz: fuzz_cbtable); 0 or negative errno.
 */
#ifndef HEADS_COREBOOT_H
#define HEADS_COREBOOT_H

#include <stddef.h>
#include <stdint.h>

#include "cbfs.h"

#define COREBOOT_PCR2 2
#define CBMEM_ID_TPM2_TCG_LOG 0x54504d32u
#define CBTABLE_MAX (1024u * 1024)
#define CBTABLE_MAX_ENTRIES 1024u

struct coreboot_measurement {
	char name[64]; /* the event log's name, e.g. "CBFS: fallback/romstage" */
	uint8_t sha256[32];
};

/* The measurements coreboot makes of rom, in order (see above); ret_n <= 6.
 * -ENOENT when the ROM has no FMAP region "FMAP" or no bootblock. */
int coreboot_measurements(const struct cbfs *c, struct coreboot_measurement *ret, size_t *ret_n);
/* PCR 2 after those measurements. */
int coreboot_predict_pcr2(const struct cbfs *c, uint8_t ret[32]);

struct cbmem_entry {
	uint32_t id;
	uint32_t size;
	uint64_t address;
};

struct cbtable {
	uint64_t forward;        /* LB_TAG_FORWARD address, 0 when none */
	size_t n;
	struct cbmem_entry *cbmem; /* LB_TAG_CBMEM_ENTRY records */
};

/* Parse a coreboot table (header + records) at the start of buf. The
 * header checksum is checked (IP checksum, as coreboot computes it), the
 * table bytes must fit in len. */
int cbtable_parse(const void *buf, size_t len, struct cbtable *ret);
void cbtable_free(struct cbtable *t);

/* Bytes of the used part of coreboot's cbmem TPM 2.0 log at buf (len: the
 * cbmem entry's size): -EBADMSG when it is not coreboot's layout. */
int coreboot_tpm2_log_len(const void *buf, size_t len, size_t *ret);

/* From physical memory (mem: "/dev/mem"; mmap, not read): the coreboot
 * TPM 2.0 log, its used bytes copied into *ret. Quiet (debug log only): a
 * machine without coreboot is an ordinary answer (-ENOENT); callers say
 * what it means for them. */
int coreboot_read_tpm_log(const char *mem, uint8_t **ret, size_t *ret_len);

#endif
