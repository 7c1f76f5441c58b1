/* luks.h - LUKS key management across several containers (libcryptsetup,
 * libblkid). Reference: heads-behaviour.md section 5, issue 7.
 *
 * Contract:
 * - Nothing here activates a mapping: passphrases are tested with
 *   crypt_activate_by_passphrase(cd, NULL, ...), which needs no
 *   device-mapper. Every function works on block devices and image files.
 * - Secrets (passphrases, the DUK, volume keys) only ever live in
 *   struct secret; nothing is logged or written outside tmpfs.
 * - Every function returns 0 (or a count / slot) on success and a negative
 *   errno on failure; -EPERM means "the passphrase does not open it".
 *   Errors are logged once, naming the device.
 * - Multi-container operations are per container: the caller gets one
 *   result per device and decides; nothing stops at the first failure
 *   unless stated.
 */
#ifndef HEADS_LUKS_H
#define HEADS_LUKS_H

#include "secret.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LUKS_DUK_SLOT_LUKS1 7
#define LUKS_DUK_SLOT_LUKS2 31
#define LUKS_LEGACY_DUK_SLOT 1
#define LUKS_DUK_LEN 128
#define LUKS_MAX_SLOTS 32
/* Largest number of containers a selection may hold. */
#define LUKS_MAX_DEVICES 64

struct luks_device {
	char *path;    /* /dev/sda2, /dev/mapper/vg-root or an image file */
	char *uuid;    /* LUKS UUID */
	int version;   /* 1 or 2 */
	char *parent;  /* parent disk name ("sda", "nvme0n1", "dm-0"); NULL for files */
	bool removable; /* on USB or a removable disk */
	uint32_t used_slots; /* bit N set: key slot N in use */
	int max_slots; /* 8 or 32 */
	int reencrypt; /* LUKS2 reencryption: 0 none, 1 in progress, 2 crashed */
	/* A LUKS1 container converted to LUKS2 by an unfinished `luks
	 * reencrypt` (marker in the LUKS2 subsystem label): the next run
	 * finishes the reencryption and converts it back to LUKS1. */
	bool luks1_pending;
};

void luks_device_done(struct luks_device *d);
void luks_devices_free(struct luks_device *v, size_t n);

/* Read the LUKS header of path (no passphrase). -EINVAL: not LUKS. */
int luks_probe(const char *path, struct luks_device *ret);

/* Discovery of LUKS containers with libblkid (partitions, whole disks
 * including NVMe namespaces, dm/LVM devices). USB/removable disks are left
 * out unless include_removable. Sorted by path. Returns the count. */
int luks_discover(bool include_removable, struct luks_device **ret, size_t *ret_n);

/* Parent disk of a block device name ("sda2" -> "sda", "nvme0n1p3" ->
 * "nvme0n1", "nvme0n1" -> "nvme0n1", "dm-1" -> "dm-1") from sysfs under
 * sys_root ("/sys"). Returns 0 or -ENOENT (not a block device). */
int luks_parent_disk(const char *sys_root, const char *name, char **ret_parent,
		     bool *ret_removable);

/* Test a passphrase on every key slot (slot = -1) or one slot, without
 * activating. Returns the slot that opened, -EPERM if none. */
int luks_test_passphrase(const char *path, const struct secret *pass, int slot);

/* Argon2 guard: refuse (-E2BIG) to create a human-passphrase key slot whose
 * Argon2 memory cost exceeds half of unlock_ram_kib (the RAM of the machine
 * that will unlock it; 0 means this machine's RAM). */
struct luks_opts {
	uint64_t unlock_ram_kib;
	/* Asked before wiping a used key slot other than slot 1 and the
	 * previous DUK slot; true = wipe. NULL = never wipe those. */
	bool (*confirm_wipe)(void *userdata, const char *device, int slot);
	void *userdata;
	/* Reencryption progress: bytes done, total, bytes/s, seconds left. */
	void (*progress)(void *userdata, const char *device, uint64_t done,
			 uint64_t total, double rate, double eta);
	/* Reencryption: "checksum" (default, crash-safe) or "none" (--fast). */
	const char *resilience;
	/* Set (e.g. by a SIGINT handler) to stop a reencryption cleanly at the
	 * next hotzone boundary: luks_reencrypt() then returns -EINTR and a
	 * later run resumes. NULL: not interruptible. */
	volatile int *interrupt;
	/* Checksum hotzone in MiB; 0 = LUKS_REENCRYPT_HOTZONE. */
	unsigned hotzone_mib;
	/* LUKS1 reencryption: directory (tmpfs) for the header backups taken
	 * before each non-atomic header rewrite; NULL = "/tmp". */
	const char *backup_dir;
};

/* Checksum-resilience hotzone: libcryptsetup's default is as large as the
 * checksum area allows (hundreds of MiB, read whole before writing); 64 MiB
 * bounds memory (peak RSS ~95 MiB, 43 MiB at 16) and needs a quarter of the
 * data syncs of 16 MiB, 10-30 % faster at 1 GiB (bench/RESULTS.md).
 * libcryptsetup shrinks it to what the checksum area holds (a LUKS1
 * header converted for reencryption: ~24 MiB). */
#define LUKS_REENCRYPT_HOTZONE (64u << 20)

int luks_argon2_guard(const struct luks_opts *o, const char *device, const char *pbkdf_type,
		      uint32_t memory_kib);

/* DUK (issue 7 item 3). The DRK slot is found dynamically. Slot 1 and the
 * previous DUK slot (prev_duk_slot, or -1; the standard 7/31 slot is always
 * treated as one) are wiped silently; every other used slot but the DRK
 * only after opts->confirm_wipe. The DUK goes into 7 (LUKS1) / 31 (LUKS2),
 * or, if the DRK sits there, the highest free slot. The DUK slot uses
 * PBKDF2-SHA512 with the minimum iteration count. */
struct luks_duk_result {
	int drk_slot;
	int duk_slot;
	uint32_t wiped; /* bit N: slot N was wiped */
};
int luks_add_duk(const char *path, const struct secret *drk, const struct secret *duk,
		 int prev_duk_slot, const struct luks_opts *opts, struct luks_duk_result *ret);

/* All devices must share one LUKS version: 0 or -EMEDIUMTYPE (logged,
 * naming the first device of each version). */
int luks_same_version(const struct luks_device *v, size_t n);

/* Crash-safe passphrase change on one container: add the new passphrase in
 * a free slot with the old slot's PBKDF parameters (Argon2 guard), verify
 * it opens, then destroy the old slot. At every instant the container
 * opens with old or new. Idempotent: a container that already opens with
 * new (and not old, or both in different slots) is completed.
 * Returns 0 and the new slot in *ret_slot. */
enum luks_change_state {
	LUKS_CHANGED,          /* added new, removed old */
	LUKS_ALREADY_CHANGED,  /* old no longer opens, new does */
	LUKS_COMPLETED,        /* both opened: removed the old slot */
};
int luks_change_passphrase(const char *path, const struct secret *old_pass,
			   const struct secret *new_pass, const struct luks_opts *opts,
			   int *ret_slot, enum luks_change_state *ret_state);

/* Reencrypt a container offline with a new volume key (same cipher and
 * key size): only the DRK is carried over (a new key slot with the DRK
 * slot's PBKDF parameters), every other key slot (the DUK) is dropped, as
 * in the reference. An interrupted reencryption is detected and resumed
 * (crash recovery first). *ret_resumed is set when an interrupted run was
 * resumed.
 *
 * LUKS1 (libcryptsetup's reencryption is LUKS2-only; LUKS1 needs
 * device-mapper): back the LUKS1 header up into opts->backup_dir, convert
 * to LUKS2 (crypt_convert), mark it (subsystem LUKS1_PENDING_SUBSYSTEM,
 * label with the DRK's LUKS1 slot), run the same crash-safe LUKS2
 * reencryption, back the LUKS2 header up, then write a rebuilt LUKS1
 * header (same UUID, cipher, hash, payload offset, DRK slot number and
 * PBKDF2 iterations) with crypt_header_restore. A run finding the marker
 * resumes; a header torn by a crash inside one of the two header rewrites
 * is restored from its backup when the DRK opens the backup (ARCHITECTURE.md
 * lists the windows). -ENOSPC: a LUKS1 header needs two free key slots. */
int luks_reencrypt(const char *path, const struct secret *drk, const struct luks_opts *opts,
		   bool *ret_resumed);

#define LUKS1_PENDING_SUBSYSTEM "heads-luks1-reencrypt"

/* True if an interrupted LUKS1 reencryption of path left a header backup
 * in backup_dir (NULL = "/tmp"): the header may be torn, and
 * luks_reencrypt() is the one to look at it (luks_probe() may fail). */
bool luks1_backup_exists(const char *path, const char *backup_dir);

/* Reencryption state: 0 none, 1 in progress (clean), 2 crashed, <0 error. */
int luks_reencrypt_state(const char *path);

/* PCR 6 measurement input: write each device's header backup into dir as
 * "lukshdr-<path with '/' -> '_'>", then return the listing
 * "<sha256 hex>  <dir>/lukshdr-<...>\n" per device (sha256sum format, the
 * reference line format) ordered by LUKS UUID (stable over device renames;
 * the reference used glob order). Backups are removed before returning.
 * Caller frees *ret. */
int luks_header_listing(const struct luks_device *v, size_t n, const char *dir, char **ret,
			size_t *ret_len);

/* Key devices file (kexec_key_devices.txt): one "DEVICE UUID" per line
 * (UUID optional), blank lines and '#' comments skipped. Bounded: at most
 * LUKS_MAX_DEVICES entries, 4096 bytes per line. Errors name the line in
 * *ret_err (caller frees). Returns the count. */
struct luks_key_device {
	char *path;
	char *uuid; /* may be NULL */
};
int luks_parse_key_devices(const char *text, size_t len, struct luks_key_device **ret,
			   size_t *ret_n, char **ret_err);
void luks_key_devices_free(struct luks_key_device *v, size_t n);

#endif
