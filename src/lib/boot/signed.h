/* signed.h - the signed description of /boot: what kexec.sig vouches for.
 *
 * integrity_check() reads every top-level kexec*.txt of /boot once, builds
 * the `sha256sum kexec*.txt` listing from those buffers, verifies kexec.sig
 * over it and, only when the signature is VERIFIED, parses the very same
 * buffers into a struct boot_signed. Nothing in it was read twice: the
 * bytes parsed are the bytes whose hashes were signed.
 *
 * Everything that later decides what to boot reads /boot through this
 * description (boot/view.h): configurations are listed from the signed tree
 * and parsed only when their bytes hash to the signed line; kernels, initrds
 * and modules are loaded into memfds whose digest must equal the signed
 * line of that exact path; symlinks are resolved with the signed link table,
 * never by the file system.
 */
#ifndef HEADS_BOOT_SIGNED_H
#define HEADS_BOOT_SIGNED_H

#include <stdbool.h>
#include <stddef.h>

#include "boot/manifest.h"

/* One kexec*.txt covered by the verified signature, as it was hashed. */
struct boot_signed_file {
	char *name;  /* basename, e.g. "kexec_default.1.txt" */
	char *data;  /* NUL-terminated copy (len excludes the NUL) */
	size_t len;
};

struct boot_signed {
	struct boot_signed_file *files; /* sorted by name (C order) */
	size_t n_files;
	struct manifest hashes;         /* kexec_hashes.txt */
	struct manifest_tree tree;      /* kexec_tree.txt */
	struct manifest_links links;    /* kexec_links.txt (empty if absent) */
	bool has_links;                 /* kexec_links.txt was signed */
	struct manifest defaults;       /* kexec_default_hashes.txt */
	bool has_defaults;
};

/* The signed file called name, or NULL. */
const struct boot_signed_file *boot_signed_file(const struct boot_signed *s, const char *name);

void boot_signed_free(struct boot_signed *s);

#endif
