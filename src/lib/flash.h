/* flash.h - the boot flash chip: through libflashrom (no flashrom process)
 * for the internal and dummy programmers, through the kernel's MTD
 * character device (our own code) for linux_mtd.
 *
 * Contract:
 * - A programmer is named in flashrom's syntax "NAME[:PARAMS]":
 *   "internal" (the chipset's SPI controller on hardware), "linux_mtd:dev=N"
 *   (/dev/mtdN, e.g. the QEMU board's pflash through physmap: MEMGETINFO,
 *   MEMERASE of whole erase blocks, pread/pwrite; any erase block size that
 *   divides the device), "dummy:emulate=VARIABLE_SIZE,size=N,image=FILE"
 *   (host tests; the dummy writes FILE back when the chip is closed).
 *   Exactly one chip must be found (else -ENODEV, or -ENOTUNIQ for several
 *   matching chip definitions).
 * - libflashrom (libflashrom.so.1) is dlopen()ed the first time a programmer
 *   other than linux_mtd is opened; without it flash_open() fails with
 *   -ENOPKG ("this build carries no libflashrom"). linux_mtd never loads it.
 * - Images are whole-chip images: an image whose size is not the chip's is
 *   refused (-EMSGSIZE) before anything is read or written. A region is an
 *   FMAP area of the image (our FMAP reader, cbfs.h); writing or verifying
 *   one needs the chip's current FMAP to hold the same area at the same
 *   offset and size (-EXDEV otherwise: the layout does not match the chip).
 *   A whole write is refused (-EXDEV) when the chip holds an FMAP and the
 *   new image has none (not an image of this kind of board).
 * - Writing goes in FLASH_CHUNK pieces (aligned to the chip start): the
 *   chip is read first, only pieces that differ are written, each piece is
 *   read back and compared after its write and rewritten up to
 *   FLASH_RETRIES times; the written range is read back once more at the
 *   end. If a piece still does not verify, every piece written so far is
 *   written back with its previous content (same checks): the chip then
 *   holds the old image (state FLASH_STATE_OLD) or, when that fails too,
 *   a mix (FLASH_STATE_MIXED: do not power off, write again).
 * - Progress: a callback per piece for the phases "reading", "writing",
 *   "verifying", "restoring".
 * - libflashrom's messages go to log at debug level (errors at info).
 * - On MTD a piece is programmed by erasing each erase block it touches and
 *   writing it back whole (the bytes outside the piece as read just before).
 * All functions return 0 on success or a negative errno.
 */
#ifndef HEADS_FLASH_H
#define HEADS_FLASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FLASH_CHUNK (64u * 1024)
#define FLASH_RETRIES 3u
#define FLASH_MAX_SIZE (64u * 1024 * 1024)

struct flash;

typedef void (*flash_progress_fn)(void *userdata, const char *phase, uint64_t done,
				  uint64_t total);

enum flash_state {
	FLASH_STATE_NEW = 0, /* the chip holds the new content */
	FLASH_STATE_OLD,     /* nothing changed, or restored after a failure */
	FLASH_STATE_MIXED,   /* partly written: the write must be done again */
};

struct flash_write_result {
	enum flash_state state;
	uint32_t offset, size;  /* the range considered (whole chip or region) */
	uint32_t pieces_written; /* pieces that differed and were written */
	uint32_t retries;        /* extra writes after a piece did not verify */
	uint32_t bad_offset;     /* on failure: the piece that did not verify */
};

/* Open the programmer and probe the chip. */
int flash_open(const char *programmer, struct flash **ret);
/* Shut the programmer down (the dummy saves its image file then). */
int flash_close(struct flash *f);
size_t flash_size(const struct flash *f);
void flash_set_progress(struct flash *f, flash_progress_fn fn, void *userdata);

/* The offset and size of FMAP area region of img (-ENOENT no FMAP or no
 * such area, -EBADMSG outside the image). */
int flash_region(const uint8_t *img, size_t len, const char *region, uint32_t *ret_offset,
		 uint32_t *ret_size);

/* The whole chip into a new buffer of flash_size() bytes. */
int flash_read(struct flash *f, uint8_t **ret);

/* Compare the chip (whole, or region of img) with img: 0 equal, 1 differ
 * (*ret_first_diff = first differing chip offset, *ret_ndiff bytes). */
int flash_verify(struct flash *f, const uint8_t *img, size_t len, const char *region,
		 uint32_t *ret_first_diff, uint32_t *ret_ndiff);

/* Write img (whole, or only region) as described above. cur: the chip's
 * content if the caller just read it with flash_read (else NULL: read
 * here). -EIO when the write did not verify (see res->state). */
int flash_write(struct flash *f, const uint8_t *img, size_t len, const char *region,
		const uint8_t *cur, struct flash_write_result *res);

/* The next boot after img is flashed (coreboot boards): PCR 2 as coreboot
 * measures img (coreboot_predict_pcr2: FMAP region and the stages it
 * loads, as stored) and, with pcr7_base (PCR 7 before init measures, SHA-256
 * bank: the coreboot board here has a TPM 2.0), PCR 7
 * from img's owner files (romcfg_events with the board config file board
 * and the initramfs user config user, either NULL to leave out). Each part
 * is marked ok only when it could be computed (pcr2_ok false: not a
 * coreboot image this prediction knows, reason in why; the caller falls
 * back to a reseal after the reboot). -ENODATA when neither could.
 *
 * PCR 2 is predicted only for an image whose measurement scheme is the
 * one coreboot_predict_pcr2 models: the image's own build record says so
 * (CBFS "build_info", line "COREBOOT_VERSION: V", and "config", coreboot's
 * .config as built, CONFIG_INCLUDE_CONFIG_FILE): measured boot on, the
 * SHA-256 bank, no vboot, no bootblock TPM init, no runtime-data list.
 * scheme is then "coreboot V" followed by every set option of
 * FLASH_SCHEME_OPTIONS ("KEY=value", in that order): a caller compares the
 * new image's with the chip's current one (whose prediction was checked
 * against the live PCR 2) and predicts only when they are equal. */
#define FLASH_SCHEME_MAX 512
struct flash_pcrs {
	bool pcr2_ok, pcr7_ok;
	uint8_t pcr2[32], pcr7[32];
	char scheme[FLASH_SCHEME_MAX]; /* "" when the image has no build record */
	char why[256];                 /* !pcr2_ok: why not */
};
int flash_predict_pcrs(const uint8_t *img, size_t len, const uint8_t *pcr7_base,
		       const char *board, const char *user, struct flash_pcrs *ret);
/* The part of flash_predict_pcrs that reads the build record: build_info
 * (blen bytes) and the .config text (clen bytes, at most 1 MiB) into
 * ret->scheme / ret->why. 0 when the scheme is the modelled one, -ENOTSUP
 * when it is another, other -errno when the record is unreadable. */
int flash_scheme_from_record(const uint8_t *build_info, size_t blen, const char *config,
			     size_t clen, struct flash_pcrs *ret);
/* A file of the initramfs inside a coreboot SELF payload (the stored
 * fallback/payload: 28-byte big-endian segment headers up to "ENTR", at
 * most 64): each uncompressed DATA segment that is a cpio, or a gzip/xz/
 * zstd cpio (decompress.h, at most 128 MiB out), is searched for path
 * (cpio name without "./"). 1 found (*ret malloc'd, NUL-terminated), 0 no
 * segment holds it, -EBADMSG a header or segment outside len, -E2BIG no
 * "ENTR" within 64 segments. */
int flash_self_file(const uint8_t *self, size_t len, const char *path, char **ret,
		    size_t *ret_len);
/* Whether two whole images' payloads hold the same path (e.g. "etc/config",
 * the board configuration init measures into PCR 7): 1 the same (also when
 * the payloads are byte-identical, without unpacking), 0 different,
 * -ENODATA not known (no SELF payload, or the file not found in one). */
int flash_payload_same_file(const uint8_t *a, const uint8_t *b, size_t len, const char *path);
/* Kconfig .config lookup (coreboot's "config" file, not a shell file:
 * `CONFIG_X=y`, `CONFIG_X=0x10`, `CONFIG_X="str"` with \" and \\ escapes;
 * "# CONFIG_X is not set" and other lines are skipped). The first line
 * for key: 1 and its value in out (outlen bytes with the NUL, else
 * -E2BIG), 0 absent, -EBADMSG a malformed value (no closing quote, text
 * after it, a space or control byte unquoted). Bounded by len. */
int flash_kconfig_get(const char *buf, size_t len, const char *key, char *out, size_t outlen);

/* One flashrom write of [off, off+n) from img (a whole-chip buffer), with
 * no read-back and no retry: the building block of flash_write, exposed
 * for the test build's fault hook. */
int flash_program_range(struct flash *f, const uint8_t *img, uint32_t off, uint32_t n);

/* Test builds only (tests/devices/flash_fault.c defines it; `heads` does
 * not): called after each piece is written, before it is read back. */
__attribute__((weak)) void flash_test_after_write(struct flash *f, uint32_t off, uint32_t n,
						  unsigned attempt);

/* Test builds only (tests/devices/flash_mtd_file.c): linux_mtd:dev=N opens
 * the file flash_test_mtd_path(N) instead of /dev/mtdN, and the MTD ioctls
 * (MEMGETINFO, MEMERASE) go to flash_test_mtd_ioctl, which models them on
 * that plain file. */
__attribute__((weak)) const char *flash_test_mtd_path(unsigned dev);
__attribute__((weak)) int flash_test_mtd_ioctl(int fd, unsigned long req, void *arg);

#endif
