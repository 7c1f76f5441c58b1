/* media.h - what is on removable boot media: their file systems, the ISO
 * files on them and their own boot configurations (heads-behaviour.md 1.7,
 * media-scan).
 *
 * Contract:
 * - Discovery (media_discover): every disk of /sys/block whose "removable"
 *   is 1 or whose sysfs path runs through a USB bus ("/usb"), as /dev/NAME.
 *   Loop devices are never "removable": tests name them explicitly.
 * - For each disk: the whole disk and its partitions (sysfs), each probed
 *   with libblkid (TYPE, LABEL, UUID). A whole disk holding a file system
 *   (a dd-written ISO, hybrid GPT/MBR included, or a superfloppy) is read as
 *   that file system and its partitions are left out (on a hybrid ISO they
 *   are views of the same image).
 * - iso9660 is read by our own reader (iso9660.h) from the device
 *   descriptor: its boot configuration gives the entries, nothing is
 *   mounted. vfat, exfat, ext2/3/4 and udf are mounted read-only with
 *   nosuid,nodev,noexec on a fresh private directory (under $TMPDIR or
 *   /tmp), walked for *.iso files (case-insensitive; no symlink followed;
 *   MEDIA_MAX_DEPTH levels, MEDIA_MAX_ISOS files, MEDIA_MAX_DIRENTS entries
 *   per directory, the excess reported as truncated), their boot
 *   configurations parsed (bootcfg_scan, unverified view), and unmounted
 *   before the next volume. A file-system type the kernel does not know is
 *   reported as such, not an error of the scan.
 * - ISO lists are in reverse path order, as the reference's menu.
 * All functions return 0 or a negative errno (logged).
 */
#ifndef HEADS_MEDIA_H
#define HEADS_MEDIA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "bootcfg/bootcfg.h"

#define MEDIA_MAX_DEPTH 8
#define MEDIA_MAX_ISOS 256
#define MEDIA_MAX_DIRENTS 4096
#define MEDIA_MAX_PARTS 128

enum media_status {
	MEDIA_OK = 0,        /* read (mounted and walked, or read as ISO 9660) */
	MEDIA_NO_FS,         /* no file system libblkid recognises */
	MEDIA_UNSUPPORTED,   /* a file system we do not read (or the kernel does not know) */
	MEDIA_ERROR,         /* mount or read failed (see error) */
};
const char *media_status_name(enum media_status s); /* "ok", "no-filesystem", ... */

/* A bounded walk of the files beneath the directory dfd (left open): at
 * most max_depth levels, MEDIA_MAX_DIRENTS entries read per directory, no
 * symlink followed. found() gets each regular file: the fd of its
 * directory, its name, its path from the walk's root ("/isos/x.iso") and
 * its stat; it returns false when it left the file out because a limit of
 * its own was reached. Returns true when anything was left out. */
typedef bool (*media_walk_fn)(void *ud, int dirfd, const char *name, const char *path,
			      const struct stat *st);
bool media_walk(int dfd, unsigned max_depth, media_walk_fn found, void *ud);

struct media_iso {
	char *path;       /* inside the volume, "/isos/x.iso" */
	uint64_t size;
	char *signature;  /* "x.iso.sig", "x.iso.asc", "SHA256SUMS", ... or NULL */
};

struct media_volume {
	char *device;      /* /dev/sdb1, /dev/loop3 */
	char *disk;        /* the whole disk it belongs to */
	bool whole_disk;
	char *fstype, *label, *uuid; /* NULL when unknown */
	uint64_t size;
	enum media_status status;
	char *error;       /* one line, for MEDIA_ERROR / MEDIA_UNSUPPORTED */
	struct media_iso *isos;
	size_t n_isos;
	bool isos_truncated;
	struct boot_entries entries; /* the volume's own boot configuration */
};

struct media_scan {
	struct media_volume *v;
	size_t n;
};

/* Removable disks ("/dev/sdb", ...), sorted. */
int media_discover(char ***ret, size_t *ret_n);
void media_strv_free(char **v, size_t n);

/* Scan the given disks (block devices). */
int media_scan(char *const *disks, size_t n, struct media_scan *ret);
void media_scan_free(struct media_scan *s);

/* A volume of a scan (status MEDIA_OK, a mountable file system: not
 * iso9660) mounted read-only with nosuid,nodev,noexec on a fresh private
 * directory, as the scan does, for a caller that reads files from it
 * (the Flash menu's ROM files): *ret_dir, to give to media_umount(), which
 * unmounts (detaching when busy), removes and frees it. */
int media_mount_ro(const struct media_volume *v, char **ret_dir);
void media_umount(char *dir);

#endif
