/* coreboot_cmd.h - the coreboot subcommands of `heads tpm` (in cbfs.c). */
#ifndef HEADS_COREBOOT_CMD_H
#define HEADS_COREBOOT_CMD_H

/* heads tpm predict-pcr2 --rom FILE: PCR 2 coreboot will measure. */
int cmd_tpm_predict_pcr2(int argc, char **argv);
/* heads tpm coreboot-log [--mem PATH] [--out FILE]: coreboot's cbmem TPM
 * log: events and the replay of each PCR (--out: the TCG log bytes). */
int cmd_tpm_coreboot_log(int argc, char **argv);

#endif
