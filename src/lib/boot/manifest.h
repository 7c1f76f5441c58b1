/* manifest.h - the /boot manifest: kexec_hashes.txt and kexec_tree.txt.
 *
 * Formats (byte-exact with the shell version, heads-behaviour.md §3.1):
 * - kexec_hashes.txt: sha256sum lines "<64 lower hex>  ./<path>\n", one per
 *   regular file under the boot directory except the top-level files
 *   manifest_name_excluded() names (the shell version excluded every
 *   "./kexec*" path, so a directory kexec_x/ was never hashed: we scan it,
 *   and a shell-signed /boot holding one reports it as new). We write them in
 *   C byte order of the path (the shell wrote find's readdir order; order
 *   does not matter to `sha256sum -c`). kexec_default_hashes.txt uses the
 *   same line format.
 * - kexec_tree.txt: every path of the scan (the same exclusion; for a /boot
 *   without other kexec* names, exactly what `find ./ ! -path './kexec*'
 *   -print0` prints: "./" itself, directories, files, symlinks, ...), each
 *   terminated by a NUL byte, sorted in C byte order (`sort -z`, BusyBox in
 *   the C locale).
 * Symlinks are never followed: a symlink is listed in the tree but is not a
 * regular file, so it is not hashed (and a listed file replaced by a
 * symlink is reported as NOT_REGULAR, which `sha256sum -c` would miss).
 *
 * Names: the shell version refuses to sign a /boot holding a name with a
 * byte 0x01-0x1F, '\\', or 0x7F-0xFF (BusyBox bug 14226); so do we
 * (manifest_name_signable). Such names may still appear in a verification
 * report (as new files); print them with manifest_escape_name().
 *
 * Bounds: manifest files <= MANIFEST_MAX_FILE bytes, <= MANIFEST_MAX_ENTRIES
 * entries, paths <= MANIFEST_MAX_PATH bytes, tree depth <= MANIFEST_MAX_DEPTH.
 *
 * Hashing runs on all online CPUs (one file per worker, 1 MiB buffer per
 * worker, largest files first), so memory stays bounded by
 * workers x 1 MiB whatever the size of /boot. A progress callback is
 * called from the calling thread about every 250 ms.
 *
 * All functions return 0 or a negative errno; parse errors are -EINVAL
 * with *ret_line set (1-based line or entry number) and are not logged;
 * scan limits and unreadable files are logged with log.h.
 */
#ifndef HEADS_BOOT_MANIFEST_H
#define HEADS_BOOT_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MANIFEST_HASHES_FILE "kexec_hashes.txt"
#define MANIFEST_TREE_FILE "kexec_tree.txt"
#define MANIFEST_DEFAULT_HASHES_FILE "kexec_default_hashes.txt"

/* A copy of the listing kexec.sig signs (not a kexec*.txt, so never part
 * of it): lets a failing check name the kexec*.txt that were added,
 * changed or removed, once the signature verifies over this copy. */
#define MANIFEST_SIG_LISTING_FILE "kexec.sig.listing"
/* Written by the OS's package hooks; never signed, never hashed. */
#define MANIFEST_TRIGGER_GLOB "kexec_package_trigger_*"

#define MANIFEST_MAX_FILE (32 * 1024 * 1024)
#define MANIFEST_MAX_ENTRIES (256 * 1024)
#define MANIFEST_MAX_PATH 4096
#define MANIFEST_MAX_DEPTH 64
#define MANIFEST_CHUNK (1024 * 1024)

/* One sha256sum line. path is as written ("./x" in Heads files). */
struct manifest_entry {
	char *path;
	uint8_t sha256[32];
};

struct manifest {
	struct manifest_entry *e;
	size_t n;
};

/* A NUL-separated path list (kexec_tree.txt). */
struct manifest_tree {
	char **path;
	size_t n;
};

/* kexec_links.txt: every symlink of the signed tree and its target, so a
 * retargeted, added or removed link is seen (the shell version ignores this
 * file; kexec.sig covers it like every kexec*.txt). Format: for each symlink
 * in C byte order of the path, "./<path>" NUL "<target as readlink(2)>" NUL.
 * Targets are non-empty, <= MANIFEST_MAX_PATH, no NUL. */
#define MANIFEST_LINKS_FILE "kexec_links.txt"

struct manifest_link {
	char *path;   /* "./x" */
	char *target; /* raw readlink(2) text */
};

struct manifest_links {
	struct manifest_link *l;
	size_t n;
};

/* Parse kexec_links.txt (format above); -EINVAL with *ret_line = the entry
 * number on an odd count, an invalid path, an empty target or unsorted or
 * duplicate paths. */
int manifest_parse_links(const char *buf, size_t len, struct manifest_links *ret,
			 size_t *ret_line);
void manifest_links_free(struct manifest_links *l);

enum manifest_ftype {
	MANIFEST_REG = 0,
	MANIFEST_DIR,
	MANIFEST_SYMLINK,
	MANIFEST_OTHER,
};

/* True for the top-level names that are not part of the manifests when
 * they are regular files: kexec*.txt (covered by kexec.sig instead),
 * kexec.sig, kexec.sig.listing, kexec_hotp_counter (changes on every HOTP
 * use) and kexec_package_trigger_*. Anything else, and any of these that is
 * not a regular file or not at the top, is scanned. */
bool manifest_name_excluded(const char *name);

/* A scan of the boot directory (manifest_name_excluded() top-level regular
 * files left out). */
struct manifest_scan {
	struct manifest_tree tree;        /* every path, sorted, "./" first */
	enum manifest_ftype *type;        /* per tree entry */
	uint64_t *size;                   /* per tree entry (regular files) */
	char **unsignable;                /* names failing manifest_name_signable,
					     including kexec* ones; sorted */
	size_t n_unsignable;
};

/* Progress: bytes/files done so far of the totals. */
typedef void (*manifest_progress_fn)(void *userdata, uint64_t bytes_done,
				     uint64_t bytes_total, size_t files_done,
				     size_t files_total);

/* True if every byte of name is allowed in a signed /boot (see above). */
bool manifest_name_signable(const char *name);
/* Printable copy of a name: disallowed bytes as \xHH. Caller frees. */
char *manifest_escape_name(const char *name);

/* Parse sha256sum lines. Accepts "<hex>  name" and "<hex> *name" (binary
 * mode), upper or lower hex, final line with or without '\n'. Refuses
 * GNU escaped lines ("\\<hex>"), empty names, names with bytes < 0x20,
 * and lines without the two-character separator. */
int manifest_parse_hashes(const char *buf, size_t len, struct manifest *ret,
			  size_t *ret_line);
/* Parse a tree listing: NUL-terminated entries (a missing final NUL is
 * refused), no empty entry, each "./" or "./<path>" with no "//", no ".."
 * component and no trailing '/'. */
int manifest_parse_tree(const char *buf, size_t len, struct manifest_tree *ret,
			size_t *ret_line);
/* A path usable in our manifests: "./<rel>" with no empty, "." or ".."
 * component, no trailing '/', <= MANIFEST_MAX_PATH. */
bool manifest_path_valid(const char *path);

void manifest_free(struct manifest *m);
void manifest_tree_free(struct manifest_tree *t);
void manifest_scan_free(struct manifest_scan *s);

/* Walk the directory bootfd (never following symlinks, leaving out the
 * excluded top-level regular files). -ELOOP for a tree deeper than
 * MANIFEST_MAX_DEPTH, -E2BIG for too many entries. */
int manifest_scan_dir(int bootfd, struct manifest_scan *ret);

/* Hash n regular files (paths relative to bootfd, "./x" or "x") in
 * parallel. out[i] receives the digest of paths[i]; errs[i] is 0 or the
 * negative errno of that file (-ELOOP/-EINVAL: not a regular file, it is
 * opened with O_NOFOLLOW and checked with fstat). progress may be NULL.
 * sizes (may be NULL) orders the work, largest first. Returns 0 even if
 * individual files failed; negative only if the work could not run. */
int manifest_hash_files(int bootfd, char *const *paths, const uint64_t *sizes,
			size_t n, uint8_t (*out)[32], int *errs,
			manifest_progress_fn progress, void *userdata);

/* Generate both manifests from a scan: *ret_hashes and *ret_tree are malloc'd
 * bytes in the reference formats. Fails with -EINVAL if a name is not
 * signable (the first one is logged), or the errno of an unreadable file. */
int manifest_generate(int bootfd, const struct manifest_scan *scan,
		      char **ret_hashes, size_t *ret_hashes_len,
		      char **ret_tree, size_t *ret_tree_len,
		      manifest_progress_fn progress, void *userdata);

/* sha256sum lines "<hex>  <path>\n" for the given paths (each "./x",
 * manifest_path_valid and signable; regular files reached without any
 * symlink), in the given order: kexec_default_hashes.txt for the kernel,
 * initrd and modules of the default entry. -EINVAL for a bad path, else
 * the errno of the first file that cannot be hashed (logged). */
int manifest_hash_lines(int bootfd, char *const *paths, size_t n, char **ret,
			size_t *ret_len);

/* Result of checking /boot against signed manifests. */
enum manifest_issue_kind {
	MANIFEST_CHANGED = 0,   /* hash differs */
	MANIFEST_MISSING,       /* listed (hashes or tree), absent now */
	MANIFEST_NEW,           /* present now, not in the signed tree */
	MANIFEST_NOT_REGULAR,   /* hashed file is now a symlink/dir/other */
	MANIFEST_UNREADABLE,    /* listed, present, cannot be read */
};

struct manifest_issue {
	enum manifest_issue_kind kind;
	char *path;  /* "./x", raw bytes (escape before printing) */
	int err;     /* for UNREADABLE */
	char *detail;/* NULL, or e.g. "symlink was -> a, now -> b" */
};

struct manifest_report {
	struct manifest_issue *issue;
	size_t n_issue;
	size_t files_checked;   /* hash lines checked */
	uint64_t bytes_hashed;
	/* MANIFEST_LINKS_UNBOUND: the symlinks of the tree, bound by no
	 * signed link table (a /boot signed by the shell version). */
	char **unbound;
	size_t n_unbound;
};

/* Append one issue (report built outside manifest_verify). */
void manifest_report_add(struct manifest_report *r, enum manifest_issue_kind k,
			 const char *path, const char *detail);

const char *manifest_issue_kind_name(enum manifest_issue_kind k);

/* Count issues of one kind. */
size_t manifest_report_count(const struct manifest_report *r,
			     enum manifest_issue_kind k);

/* Check the directory against parsed manifests. hashes: every line is
 * checked (missing / not regular / changed); tree: compared as a set with a
 * fresh scan (missing / new). Either may be NULL to skip that part. Issues
 * are sorted by path then kind. Returns 0 (issues may exist) or -errno if
 * the check could not run. */
int manifest_verify(int bootfd, const struct manifest *hashes,
		    const struct manifest_tree *tree, struct manifest_report *ret,
		    manifest_progress_fn progress, void *userdata);

/* What to do with symlinks. CHECK: against links (NULL = an empty table):
 * a signed link that is gone is MISSING, one that is no longer a symlink
 * NOT_REGULAR, one with another target CHANGED; a symlink not in the table
 * NEW (each with a detail naming the targets); links are read with
 * readlinkat, never followed. UNBOUND: no signed table; every symlink of
 * the tree is listed in report->unbound. */
enum manifest_links_mode {
	MANIFEST_LINKS_IGNORE = 0,
	MANIFEST_LINKS_CHECK,
	MANIFEST_LINKS_UNBOUND,
};

int manifest_verify_links(int bootfd, const struct manifest *hashes,
			  const struct manifest_tree *tree, enum manifest_links_mode mode,
			  const struct manifest_links *links, struct manifest_report *ret,
			  manifest_progress_fn progress, void *userdata);

/* kexec_links.txt content for the symlinks of a scan (readlinkat, format
 * above; empty when there is none). -EINVAL if a target is empty, longer
 * than MANIFEST_MAX_PATH or unreadable (logged). */
int manifest_generate_links(int bootfd, const struct manifest_scan *scan, char **ret,
			    size_t *ret_len);

void manifest_report_free(struct manifest_report *r);

#endif
