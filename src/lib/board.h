/* board.h - the board's settings: where the configuration layers live,
 * the one loop that layers them, typed settings read from them, the PCR
 * map and the TPM default.
 *
 * Layering: the board config (/etc/config, from the ROM) then the user
 * config (/etc/config.user, the ROM config area's copy); the last layer
 * wins. Given files (--config) must all exist; the default files are
 * skipped when missing. Errors name the file (and line, from config.h).
 */
#ifndef HEADS_BOARD_H
#define HEADS_BOARD_H

#include "config.h"

#include <stddef.h>
#include <stdint.h>

/* Runtime paths. */
#define BOARD_CONFIG "/etc/config"
#define BOARD_USER_CONFIG "/etc/config.user"

/* The PCR map (heads-behaviour.md): who extends what. */
#define BOARD_PCR_FIRMWARE_MAX 3 /* 0-3: coreboot and the firmware */
#define BOARD_PCR_BOOT_MODE 4    /* "generic", "unsafe", "recovery": how we boot */
#define BOARD_PCR_MODULES 5      /* kernel modules init loads */
#define BOARD_PCR_LUKS_HEADERS 6 /* the LUKS headers the Disk Unlock Key opens */
#define BOARD_PCR_ROM_CONFIG 7   /* the ROM configuration area (romcfg_events) */

/* The attestation PCRs of the TOTP/HOTP secret when the board does not say
 * (CONFIG_TOTP_PCRS): 0,1,2,3,4,7. */
#define BOARD_TOTP_PCRS_DEFAULT "0,1,2,3,4,7"

/* Load the layers into c (config_init()ed by the caller): files[0..n) in
 * order, or with n == 0 the defaults (BOARD_CONFIG, BOARD_USER_CONFIG),
 * each skipped when missing. 0, or a negative errno with *ret_err set to
 * "FILE: reason" / "FILE:LINE: reason" (caller frees). */
int board_config_load(struct config *c, char *const *files, size_t n, char **ret_err);

/* init's loading (no caller to hand an error to: a bad layer must not
 * stop the boot): each of files[0..n) that exists, a malformed one logged
 * "FILE:LINE: reason (file ignored)" and skipped while the others still
 * count. *ret_loaded (optional) gets bit i set for each files[i] loaded.
 * 0, or the last layer's negative errno. */
int board_config_load_each(struct config *c, const char *const *files, size_t n,
			   uint32_t *ret_loaded);

struct tpm;
struct romcfg;

/* PCR 7 (BOARD_PCR_ROM_CONFIG) extended with romcfg_events(rom, board,
 * user) in order: the board config, the ROM config area's files, the
 * initramfs' user config when the ROM has none (name, then content). Done
 * before the layers are parsed, so what was read is on record even if it
 * is refused. 0, or the first failure (logged). */
int board_measure_config(struct tpm *t, const struct romcfg *rom, const char *board,
			 const char *user);

/* CONFIG_TOTP_PCRS (else BOARD_TOTP_PCRS_DEFAULT) as a PCR mask. -EINVAL
 * for a malformed or empty list, with *ret_err "bad PCR list 'L'". */
int board_totp_pcrs(const struct config *c, uint32_t *ret_mask, char **ret_err);

/* A PCR mask as the "0,1,2,3,4,7" list users write. Caller frees. */
char *board_pcr_list(uint32_t mask);

/* The board's TPM version: CONFIG_TPM2_TOOLS "y" a TPM 2.0, "n" a TPM 1.2;
 * unset (a board that runs either, as board qemu) the device decides. A
 * TPM of the other version is refused, logged with both versions: a chip
 * swapped for another kind is never used quietly. 0 or -ENXIO. */
int board_tpm_check_version(const struct config *c, const struct tpm *t);

/* The TCTI to use: opt if given, else $HEADS_TCTI, else the detected
 * device (TPM 1.2: tpm12-device:/dev/tpm0, else device:/dev/tpmrm0). */
const char *board_tcti(const char *opt);

#endif
