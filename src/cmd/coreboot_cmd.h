/* coreboot_cmd.h - the coreboot subcommands of `heads tpm` (in cbfs.c). */
#ifndef HEADS_COREBOOT_CMD_H
#define HEADS_COREBOOT_CMD_H

/* heads tpm predict-pcr2 --rom FILE: PCR 2 coreboot will measure. */
int cmd_tpm_predict_pcr2(int argc, char **argv);
/* heads tpm coreboot-log [--mem PATH | --log FILE] [--out FILE] [--rom ROM]:
 * coreboot's cbmem TPM log (or a saved one): events and the replay of each
 * PCR (--out: save the TCG log bytes); --rom: each PCR 2 event against the
 * ROM's measurement of the same stage ("MOVED" names what changed; exit 1). */
int cmd_tpm_coreboot_log(int argc, char **argv);

#endif
