/* iso.h - an ISO file on a boot medium: opened once, its signature checked
 * over the bytes of that descriptor, its boot entries read from the same
 * descriptor, and the kernel command-line words each distribution family
 * needs to find the ISO again (heads-behaviour.md 1.7, kexec-iso-init).
 *
 * Contract:
 * - iso_open() opens the file once (O_RDONLY, no symlink followed in the
 *   last component) and keeps that descriptor. Everything after uses it:
 *   the hash, the signature check, the ISO 9660 reader. The path is never
 *   opened again; sibling files (signatures, checksum lists) are opened
 *   relative to the directory descriptor taken at the same time.
 * - iso_verify(): the file is read once, streaming (ISO_CHUNK reads, with a
 *   progress callback), and hashed with SHA-256. A detached signature
 *   FILE.sig or FILE.asc decides when present (gpg is fed the same bytes
 *   through a GPGME callback while we hash them: one pass); otherwise a
 *   checksum list SHA256SUMS (also sha256sum.txt, SHA256SUMS.txt) with a
 *   detached signature (.sign, .gpg, .asc) or a clear-signed *CHECKSUM
 *   file: the list's signature is checked first, then the file's SHA-256
 *   must equal its line. VERIFIED only when a good signature by a key of
 *   the keyring (or of the key file the caller chose to trust) covers the
 *   bytes read. GPG runs on a private temporary GnuPG home (0700 under
 *   $TMPDIR or /tmp: tmpfs in the initramfs) holding a copy of the keyring
 *   plus the key file's keys, removed afterwards; the keyring directory
 *   itself is never modified.
 * - Signatures and checksum lists are bounded (ISO_MAX_SIG, ISO_MAX_SUMS);
 *   the checksum-list parser is strict and fuzzed.
 * All functions return 0 or a negative errno and log errors with log.h.
 */
#ifndef HEADS_ISO_H
#define HEADS_ISO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bootcfg/bootcfg.h"
#include "iso/iso9660.h"

#define ISO_CHUNK (1024u * 1024)
#define ISO_MAX_SIG (256u * 1024)
#define ISO_MAX_SUMS (1024u * 1024)
#define ISO_MAX_KEYFILE (1024u * 1024)

struct iso_file {
	int fd;            /* the one descriptor of the ISO */
	int dirfd;         /* its directory, for sibling files (-1 for a device) */
	char *path;        /* as given (for messages) */
	char *name;        /* basename */
	uint64_t size;
	bool hashed;
	uint8_t sha256[32]; /* of the bytes read from fd (when hashed) */
	/* Checked reads (see iso_read_at): the image in ISO_CHUNK chunks. */
	size_t n_chunks;
	uint8_t *chunk_want;         /* bit per chunk: read before the check, or marked */
	uint8_t (*chunk_sha256)[32]; /* their digests, recorded by the last full pass */
	bool chunks_recorded;
	bool checked;                /* reads must match chunk_sha256 */
	uint8_t *cache;              /* one checked chunk */
	uint64_t cache_idx;
};

/* A regular file (no symlink in the last component). */
int iso_open(const char *path, struct iso_file *ret);
/* An already open image (a block device holding a dd-written ISO); fd is
 * taken. */
void iso_open_fd(int fd, const char *path, uint64_t size, struct iso_file *ret);
void iso_close(struct iso_file *f);

/* Hash what you load, for an image too large to keep in memory:
 * - Before the signature check, iso_read_at() reads the file and marks
 *   each ISO_CHUNK chunk it touched (the ISO 9660 directories, the
 *   configuration files); iso_mark() marks more (the entries' kernels and
 *   initrds, iso_mark_entries()).
 * - The check's single pass over the file (iso_hash / iso_verify) also
 *   records the SHA-256 of every marked chunk.
 * - After iso_check_reads() (iso_verify calls it when the state is
 *   VERIFIED), iso_read_at() serves whole chunks whose digest equals the
 *   recorded one: a byte that differs from what was verified is -EBADMSG
 *   ("changed since it was verified"), a chunk that was not marked -EPERM.
 *   So the bytes parsed and loaded are bytes the signature covered, even
 *   when the medium answers a second read differently, and no loop device
 *   or kernel ISO 9660 driver is involved. */
int iso_read_at(void *iso_file, uint64_t off, size_t len, uint8_t *buf); /* iso9660_read_fn */
void iso_mark(struct iso_file *f, uint64_t off, uint64_t len);
int iso_check_reads(struct iso_file *f); /* -EINVAL without a completed pass */

/* done/total bytes; called at most once per ISO_CHUNK and at the end. */
typedef void (*iso_progress_fn)(void *userdata, uint64_t done, uint64_t total);

/* Stream the whole file through SHA-256 (sets f->sha256, f->hashed). */
int iso_hash(struct iso_file *f, iso_progress_fn progress, void *userdata);

enum iso_sig_state {
	ISO_VERIFIED = 0,
	ISO_NO_SIGNATURE,   /* no FILE.sig/.asc, no checksum list naming the file */
	ISO_BAD_SIGNATURE,  /* a signature that does not match its data */
	ISO_UNKNOWN_KEY,    /* made by a key not in the keyring */
	ISO_HASH_MISMATCH,  /* signed checksum list, but the file's SHA-256 differs */
	ISO_NOT_LISTED,     /* signed checksum list without this file's name */
	ISO_MALFORMED,      /* a signature or list that cannot be parsed */
	ISO_INVALID,        /* other (expired or revoked key, gpg error) */
	ISO_READ_ERROR,     /* the file could not be read to its end */
};
const char *iso_sig_state_name(enum iso_sig_state s);

struct iso_verify_result {
	enum iso_sig_state state;
	char method[128];   /* "FILE.sig", "SHA256SUMS + SHA256SUMS.gpg", ... */
	char fpr[64];       /* the signer's fingerprint (or key id) when known */
	char detail[256];   /* one line: why, for a non-VERIFIED state */
};

struct iso_verify_opts {
	const char *keyring_dir; /* GnuPG home with the trusted public keys (may be NULL
				    when key_file is given) */
	const char *key_file;    /* OpenPGP public key(s) the user chose to trust, or NULL */
	/* called once per key imported from key_file (fingerprint, first user id) */
	void (*key_imported)(void *userdata, const char *fpr, const char *uid);
	iso_progress_fn progress;
	void *userdata;
};

/* Returns 0 when a state was determined (see res), -errno when gpg could
 * not run or the key file could not be imported. */
int iso_verify(struct iso_file *f, const struct iso_verify_opts *o,
	       struct iso_verify_result *res);

/* A checksum list: "HEX  NAME", "HEX *NAME" (GNU) or "SHA256 (NAME) = HEX"
 * (BSD) lines; blank lines and '#' comments ignored; NAME matched exactly,
 * a leading "./" or "*" ignored; lines of other algorithms (BSD "SHA1 (...)",
 * or hex of another length) are ignored. A malformed line is -EINVAL
 * (logged with its number), the name listed twice with different digests
 * -EINVAL, absent -ENOENT. */
int iso_sums_find(const char *buf, size_t len, const char *name, uint8_t ret[32]);

/* ---- boot entries and the words that find the ISO ---------------------- */

enum iso_family {
	ISO_FAMILY_UNKNOWN = 0,
	ISO_FAMILY_CASPER,   /* Ubuntu and derivatives: boot=casper or a /casper/ kernel */
	ISO_FAMILY_LIVEBOOT, /* Debian live-boot: boot=live */
	ISO_FAMILY_TAILS,    /* Tails (live-boot with its own rules) */
	ISO_FAMILY_DRACUT,   /* Fedora/RHEL/openSUSE live: root=live: or rd.live.image */
	ISO_FAMILY_ARCH,     /* archiso: archisobasedir= / archisolabel= */
	ISO_FAMILY_NIXOS,    /* NixOS: init=/nix/store/... */
};
const char *iso_family_name(enum iso_family f);

enum iso_compat {
	ISO_COMPAT_OK = 0,  /* [OK] the family's documented ISO parameter is added */
	ISO_COMPAT_MAYBE,   /* [~]  family unknown or not known to loop-boot: generic words */
	ISO_COMPAT_NO,      /* [X]  cannot boot from an ISO file (Xen/multiboot, installer
			       that looks for a CD) */
};
const char *iso_compat_mark(enum iso_compat c); /* "[OK]", "[~]", "[X]" */

struct iso_boot_opts {
	const char *iso_path;  /* the ISO's path on its medium, "/isos/x.iso" */
	const char *device;    /* the medium as the OS finds it: /dev/disk/by-uuid/U or /dev/sdb1 */
	const char *uuid;      /* the medium's file-system UUID (NULL if none) */
	const char *add;       /* extra words (configuration) */
	const char *remove;    /* words to remove */
	const char *replace_add; /* a per-ISO kexec_iso_add.txt: replaces the family words */
};

/* Per-ISO overrides (reference kexec-iso-init, heads-behaviour 1.7):
 * dir/kexec_iso_add.txt replaces the words that find the ISO,
 * dir/kexec_iso_remove.txt gives words to remove. Used only when
 * dir/kexec.sig verifies (sig.h: `sha256sum kexec*.txt` of dir) against the
 * keyring; otherwise ignored with a warning (present = false), as the
 * reference's check_config copies nothing unsigned. Never a shell:
 * $ISO_PATH/${ISO_PATH} and $DEV_UUID/${DEV_UUID} are replaced by iso_path
 * and uuid, any other '$' or '`' refuses the file (-EINVAL). A missing dir
 * is no override (0). */
struct iso_overrides {
	bool present;
	char *add;    /* NULL: no kexec_iso_add.txt */
	char *remove;
};
int iso_overrides_load(const char *dir, const char *keyring, const char *iso_path,
		       const char *uuid, struct iso_overrides *ret);
void iso_overrides_free(struct iso_overrides *o);

struct iso_entry_info {
	enum iso_family family;
	enum iso_compat compat;
	char *add;    /* the words added for this entry (ISO keys + opts->add) */
	char *why;    /* one line */
};

/* Classify entry e (from the ISO's configuration) and build the words it
 * needs. Parameters holding '$' (the reference strips unexpanded GRUB
 * variables) or ending in '=' (a variable expanded to nothing) are removed
 * from e->cmdline first; e->cmdline is then replaced
 * by the final command line (bootcfg_build_cmdline with info->add and
 * opts->remove). */
void iso_entry_prepare(struct boot_entry *e, const struct iso9660_tree *tree,
		       const struct iso_boot_opts *opts, struct iso_entry_info *ret);
void iso_entry_info_free(struct iso_entry_info *i);

/* Where the ISO lives, as the booted OS will look for it: ret_path = its
 * path inside the file system that holds it ("/isos/x.iso", from the
 * descriptor's /proc/self/fd link, walking up while st_dev stays the same),
 * ret_device = "/dev/disk/by-uuid/<UUID>" of that file system's block
 * device (or the device node when it has no UUID), ret_uuid (NULL when
 * none). -ENODEV when the file is not on a block device (tmpfs, overlay):
 * the caller must then be told the device. Any ret_* may be NULL. */
int iso_locate(struct iso_file *f, char **ret_path, char **ret_device, char **ret_uuid);

/* Mark the kernel, initrd and module files of entries (iso_mark). */
void iso_mark_entries(struct iso_file *f, const struct iso9660_tree *t,
		      const struct boot_entries *l);

/* Read a file of the image into a sealed memfd through iso_read_at()
 * (checked after iso_check_reads()). *ret_fd at offset 0. */
int iso_load(struct iso_file *f, const struct iso9660_tree *t, const char *path, uint64_t max,
	     int *ret_fd, uint64_t *ret_size, uint8_t ret_sha256[32]);

/* A kexec plan (kexec.h) for a Linux entry of the image: kernel and
 * initrds loaded with iso_load() (several initrds concatenated, each padded
 * to 4 bytes, as kexec.c does), the command line = e->cmdline (already
 * final, iso_entry_prepare) with board_add appended where missing.
 * plan->verified is true only when the reads were checked (f->checked).
 * Xen/multiboot entries: -EOPNOTSUPP. */
struct kexec_plan;
int iso_plan_build(struct iso_file *f, const struct iso9660_tree *t, const struct boot_entry *e,
		   const char *board_add, struct kexec_plan *ret);

/* The ISO's boot entries: the image is read with iso9660.h through
 * iso_read_at();
 * its configuration files (*.cfg, *.conf, *.lst, grubenv, at most
 * BOOTCFG_MAX_FILE each) are copied into a private temporary directory
 * (under $TMPDIR or /tmp, removed before returning) with every other file
 * present as an empty placeholder, and
 * parsed there with bootcfg_scan() on an unverified view (GRUB loopback.cfg
 * files are what bootcfg uses only if nothing else gave entries). The
 * kernel and initrd bytes are read later from f->fd, never from shadowdir. */
int iso_entries(struct iso_file *f, struct iso9660_tree *ret_tree, struct boot_entries *ret);

#endif
