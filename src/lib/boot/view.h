/* view.h - reading /boot through what kexec.sig vouches for.
 *
 * A view is how everything that decides what to boot sees the boot
 * directory: the configuration parsers (bootcfg), the loader (kexec) and the
 * Disk Unlock Key injection. There is one road from signed bytes to kexec:
 *
 *   integrity_check() -> struct boot_signed -> boot_view_open(signed)
 *     -> bootcfg_scan(view)   configurations listed from the signed tree,
 *                             parsed from bytes that hash to their line
 *     -> kexec_plan_build(view, entry)
 *                             kernel, initrds, modules read once into sealed
 *                             memfds whose SHA-256 equals the signed line of
 *                             that exact path
 *     -> duk_inject(plan's initrd memfd)  the key goes into those bytes
 *     -> kexec_file_load(memfds) / kexec-tools /proc/self/fd/N
 *
 * A verified view (signed != NULL):
 * - A path with a ".." component is refused (-EXDEV). Paths are resolved component by component; a component that is a
 *   symlink is replaced by its target from the signed link table
 *   (kexec_links.txt), never by asking the file system (absolute targets
 *   are taken from the boot directory's root, ".." may not leave it; at most
 *   BOOT_VIEW_MAX_LINKS substitutions). The resolved path must be a regular
 *   file of the signed kexec_hashes.txt, or a directory of the signed tree.
 * - Files are opened beneath the boot directory with no symlink followed at
 *   all (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS), read once, and their
 *   digest compared with the signed one: a mismatch is -EBADMSG, logged
 *   with the path. Nothing is re-opened by path after that.
 * - A /boot signed by the shell version has no kexec_links.txt: a path that
 *   needs a symlink then verifies only against a kexec_default_hashes.txt
 *   line for exactly that path (the shell hashed it through the link); any
 *   other link is refused.
 * - Directory listings come from the signed tree, never from readdir: a
 *   file planted in /boot is not seen at all.
 * An unverified view (signed == NULL: no keyring given, or the user chose an
 * explicit unsafe boot) reads the file system with the same resolution
 * (symlinks resolved by readlinkat inside the boot directory, never
 * escaping it) and nothing to compare against; callers say so.
 * Top-level names starting with "kexec" are never listed by either view:
 * configurations are never parsed under them.
 *
 * All functions return 0 (or a count) or a negative errno; errors that
 * concern a path are logged with it.
 */
#ifndef HEADS_BOOT_VIEW_H
#define HEADS_BOOT_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boot/signed.h"

#define BOOT_VIEW_MAX_LINKS 40
#define BOOT_VIEW_MAX_LOAD (1024ull * 1024 * 1024) /* one kernel/initrd/module */
#define BOOT_VIEW_MAX_LIST 4096                    /* entries of one directory */

struct boot_view;

/* signed may be NULL (unverified view); it is borrowed and must outlive the
 * view. */
int boot_view_open(const char *bootdir, const struct boot_signed *signed_set,
		   struct boot_view **ret);
void boot_view_free(struct boot_view *v);
static inline void boot_view_freep(struct boot_view **v) { boot_view_free(*v); }
#define _cleanup_view_ __attribute__((cleanup(boot_view_freep)))

bool boot_view_verified(const struct boot_view *v);
const char *boot_view_dir(const struct boot_view *v);

enum boot_view_type {
	BOOT_VIEW_NONE = 0, /* absent (or, verified: not signed) */
	BOOT_VIEW_FILE,
	BOOT_VIEW_DIR,
	BOOT_VIEW_LINK,     /* only in listings (not followed) */
	BOOT_VIEW_OTHER,
};

/* "./a/b" for path ("/a/b", "a/b" or "./a/b") with every symlink resolved
 * as above. -ENOENT, -ELOOP (too many links), -EXDEV (leaves the root),
 * -EPERM (verified: a link that is not in the signed table). */
int boot_view_resolve(struct boot_view *v, const char *path, char **ret);

/* Type of path after resolution; BOOT_VIEW_NONE when it does not resolve. */
enum boot_view_type boot_view_stat(struct boot_view *v, const char *path);

struct boot_view_dirent {
	char *name;               /* basename */
	enum boot_view_type type; /* links are not followed */
};

/* The entries of directory dir (resolved), sorted by name; top-level kexec*
 * names are left out. Free with boot_view_dirents_free(). */
int boot_view_list(struct boot_view *v, const char *dir, struct boot_view_dirent **ret,
		   size_t *ret_n);
void boot_view_dirents_free(struct boot_view_dirent *d, size_t n);

/* A configuration-sized file: at most max bytes, NUL-terminated; verified
 * against its signed digest. -EFBIG above max, -EBADMSG on a mismatch,
 * -EPERM (verified) when the file is not signed. */
int boot_view_read(struct boot_view *v, const char *path, size_t max, char **ret,
		   size_t *ret_len);

/* A file to boot, read once into a sealed memfd. */
struct boot_blob {
	char *path;         /* as asked ("/vmlinuz") */
	char *real;         /* resolved "./vmlinuz-6.1.0" */
	int fd;             /* memfd (sealed, offset 0), -1 when empty */
	uint64_t size;
	uint8_t sha256[32]; /* of the bytes in fd */
	bool verified;      /* matched a signed line */
};

int boot_view_load(struct boot_view *v, const char *path, struct boot_blob *ret);
void boot_blob_free(struct boot_blob *b);

/* The signed digest that a boot_view_load() of path must match and the
 * path it resolves to ("./vmlinuz-6.1" for a signed link "/vmlinuz"; ret_real
 * may be NULL), verified views only, nothing is read: for
 * kexec_default_hashes.txt, so a default entry whose kernel is a symlink
 * stores what verifies (the real file, which is checked without following
 * any link). */
int boot_view_signed_digest(struct boot_view *v, const char *path, uint8_t ret[32],
			    char **ret_real);

#endif
