/* romcfg.h - the board's ROM configuration area: the files the owner keeps
 * in the boot ROM next to the payload (the reference's CBFS files
 * heads/initrd/...: the ROM GPG keyring /.gnupg/pubring.kbx + trustdb.gpg
 * and /etc/config.user), read by init at every boot, extracted into the
 * initramfs root and measured into PCR 7.
 *
 * On the QEMU board the area is a raw block device (a virtio disk whose
 * serial is ROMCFG_SERIAL, 1 MiB). Writing it is the QEMU board's "flash
 * the ROM". On coreboot boards (qemu-coreboot) it is CBFS: the files
 * "heads/initrd/<name>" of the flash (/dev/mtd0) or a ROM image; that
 * backend (romcfg_cbfs.c) writes with the CBFS writer (cbfs_write.h): an
 * image file is replaced atomically, /dev/mtdN is flashed (flash.h, only the
 * COREBOOT region's changed pieces, verified).
 *
 * Contract:
 * - Layout: the device is two slots of half its size each. A slot is a
 *   64-byte header (magic "HEADSROM", u32 LE version 1, u32 header size 64,
 *   u64 LE sequence, u32 LE payload length, u32 0, SHA-256 over header bytes
 *   0..31 followed by the payload) and a payload: a newc cpio archive of
 *   regular files. The active slot is the valid one with the higher
 *   sequence; an all-zero or all-0xff slot is blank.
 * - A write goes to the other slot with sequence + 1 and is synced: a crash
 *   during a write leaves the previous content active (never a mix).
 * - Names are relative to the initramfs root and must be on the allowlist:
 *   ".gnupg/" + one of pubring.kbx, pubring.gpg, trustdb.gpg, gpg.conf, or
 *   "etc/config.user". Anything else, a duplicate, a non-regular entry, a bad
 *   checksum or a size over the bounds is refused (-EBADMSG) naming the slot.
 *   Bounded: ROMCFG_MAX_FILES files, slot size <= ROMCFG_MAX_SLOT.
 * - PCR 7 at boot is, from the value it had when init started measuring
 *   (the "base", saved by init in ROMCFG_PCR7_BASE): /etc/config (its path,
 *   then its content, each hashed in the TPM's PCR bank: SHA-256 on a TPM
 *   2.0, SHA-1 on a TPM 1.2), then each ROM file in name order
 *   (its absolute path, then its content), then the initramfs'
 *   /etc/config.user when the ROM has none. romcfg_events() is that list,
 *   used both by init to extend and by romcfg_predict_pcr7() to predict the
 *   next boot after a write (TOTP / DUK sealing in the ownership flow).
 * All functions return 0 on success, a negative errno on failure.
 */
#ifndef HEADS_ROMCFG_H
#define HEADS_ROMCFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ROMCFG_SERIAL "heads-rom"
#define ROMCFG_PCR 7
#define ROMCFG_PCR7_BASE "/tmp/pcr7_base.txt"
#define ROMCFG_BOARD_CONFIG "/etc/config"
#define ROMCFG_USER_CONFIG "/etc/config.user"
#define ROMCFG_MAX_FILES 32
#define ROMCFG_MAX_SLOT (8u * 1024 * 1024)
#define ROMCFG_HEADER_SIZE 64

struct romcfg_file {
	char *name; /* relative, allowlisted, e.g. ".gnupg/pubring.kbx" */
	uint8_t *data;
	size_t len;
};

struct romcfg {
	struct romcfg_file *v; /* sorted by name */
	size_t n;
	uint64_t seq; /* sequence of the slot read (0: blank area) */
	int slot;     /* slot read, -1: blank */
};

void romcfg_free(struct romcfg *c);

/* 0 if name may be stored, -EINVAL otherwise. */
int romcfg_name_ok(const char *name);

/* The block device whose sysfs "serial" is serial ("heads-rom" by default
 * when NULL), under sys_block ("/sys/block" when NULL): "/dev/<name>" in
 * *ret; with sys_block NULL and no such disk, the boot flash "/dev/mtd0"
 * when it exists (CBFS backend). -ENOENT when there is none. */
int romcfg_find(const char *sys_block, const char *serial, char **ret);

/* CBFS backend: true if buf is a coreboot image (an FMAP with a COREBOOT
 * region, no romcfg slot header); its heads/initrd/ files as a romcfg
 * (names that romcfg_name_ok refuses are skipped with a warning). */
bool romcfg_is_cbfs(const void *buf, size_t len);
int romcfg_parse_cbfs(const void *buf, size_t len, struct romcfg *ret);
/* romcfg_write's CBFS backend: every owner file of the ROM at path replaced
 * by c's (c->seq + 1, slot 0 on success). */
int romcfg_write_cbfs(const char *path, struct romcfg *c);

/* Parse one slot (len bytes). Blank slot: -ENODATA. */
int romcfg_parse_slot(const void *buf, size_t len, struct romcfg *ret);

/* Read the active slot of the device or image file at path. A blank area
 * is an empty set (n 0, slot -1), not an error. Two invalid slots: -EBADMSG. */
int romcfg_read(const char *path, struct romcfg *ret);

/* Add or replace a file; remove one (-ENOENT if absent). */
int romcfg_set(struct romcfg *c, const char *name, const void *data, size_t len);
int romcfg_remove(struct romcfg *c, const char *name);

/* Replace every ".gnupg/" file with the allowlisted files of gnupghome. */
int romcfg_set_keyring(struct romcfg *c, const char *gnupghome);

/* One slot image of c with sequence seq into buf (slot_size bytes, zero
 * padded). -ENOSPC when the files do not fit. */
int romcfg_encode(const struct romcfg *c, uint64_t seq, uint8_t *buf, size_t slot_size);

/* Write c into the inactive slot of path with sequence c->seq + 1; on
 * success c->seq and c->slot describe the new active slot. */
int romcfg_write(const char *path, struct romcfg *c);

/* Erase both slots (the ROM of a fresh machine). */
int romcfg_erase(const char *path);

/* Write the files beneath root (directories 0700, ".gnupg" files 0600,
 * others 0644), each atomically. */
int romcfg_extract(const struct romcfg *c, const char *root);

/* One PCR 7 extend. bank: "sha256" (TPM 2.0) or "sha1" (TPM 1.2), as
 * tpm_bank() names it; digests in that bank, zero-padded to 32 bytes. */
struct romcfg_event {
	uint8_t digest[32];
	char *description;
};
/* The PCR 7 events of a boot with ROM content c (NULL: none), the board
 * config read from the file board (missing: skipped) and the initramfs
 * user config read from user (used only when c has no etc/config.user;
 * missing: skipped). They are recorded under their payload names
 * ROMCFG_BOARD_CONFIG and ROMCFG_USER_CONFIG whatever path they are read
 * from (the host predicts with the board's source file). Free with
 * romcfg_events_free. */
int romcfg_events(const struct romcfg *c, const char *board, const char *user,
		  const char *bank, struct romcfg_event **ret, size_t *ret_n);
void romcfg_events_free(struct romcfg_event *v, size_t n);

/* base extended with the events (software) in bank. -EINVAL bad bank. */
int romcfg_fold(const char *bank, const uint8_t base[32], const struct romcfg_event *v,
		size_t n, uint8_t ret[32]);

/* Save / load the PCR 7 base value of bank (hex of the bank's digest size:
 * 64 digits for sha256, 40 for sha1, + newline). Loading a base of another
 * bank is -EBADMSG. */
int romcfg_save_base(const char *path, const char *bank, const uint8_t base[32]);
int romcfg_load_base(const char *path, const char *bank, uint8_t ret[32]);

/* The PCR 7 value (bank) the next boot will have when the ROM holds c: the
 * saved base (ROMCFG_PCR7_BASE) folded with romcfg_events(c,
 * ROMCFG_BOARD_CONFIG, ROMCFG_USER_CONFIG, bank). -ENOENT when init saved
 * no base (no TPM); -EBADMSG when init saved one of another bank. */
int romcfg_predict_pcr7(const struct romcfg *c, const char *bank, uint8_t ret[32]);

#endif
