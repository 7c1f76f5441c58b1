/* internal.h - shared by the bootcfg parsers (not a public interface). */
#ifndef HEADS_BOOTCFG_INTERNAL_H
#define HEADS_BOOTCFG_INTERNAL_H

#include "bootcfg.h"

#include <stdbool.h>
#include <stddef.h>

struct sbuf {
	char *s;
	size_t len, cap;
};
void sb_putc(struct sbuf *b, char c);
void sb_puts(struct sbuf *b, const char *s);
void sb_putn(struct sbuf *b, const char *s, size_t n);
/* Never NULL; the buffer keeps ownership. */
const char *sb_str(struct sbuf *b);
char *sb_take(struct sbuf *b);
void sb_free(struct sbuf *b);

/* Whitespace-collapsed copy (blanks = space, tab, CR, LF). */
char *bc_collapse(const char *s);
/* Remove GRUB device prefixes "(...)" at the start of a path ("(hd0,1)/x",
 * "($root)/x" -> "/x"); a path not starting with '/' afterwards gets '/'. */
char *bc_strip_device(const char *path);
/* True if rel (absolute in bootdir) names an existing file (not dir) or,
 * with want_dir, a directory; stays beneath bootdir. */
bool bc_exists(const char *bootdir, const char *rel, bool want_dir);
/* Read bootdir/rel bounded by BOOTCFG_MAX_FILE; logs errors with the name. */
int bc_read(const char *bootdir, const char *rel, char **ret, size_t *ret_len);

/* True if the file name of path contains "xen" (Xen vs other multiboot). */
bool is_xen_name(const char *path);

/* Append a copy of e if every file exists (else warn and drop). Takes
 * ownership of e's contents in both cases. */
int bc_emit(const char *bootdir, struct boot_entries *l, struct boot_entry *e);

int bc_parse_grub(const char *bootdir, const char *config, struct boot_entries *l);
int bc_parse_syslinux(const char *bootdir, const char *config, struct boot_entries *l);
int bc_parse_bls(const char *bootdir, const char *config, struct boot_entries *l);
int bc_parse_grub_legacy(const char *bootdir, const char *config, struct boot_entries *l);

/* BLS entries of bootdir/loader/entries (or bootdir/boot/loader/entries),
 * newest first as GRUB's blscfg orders them. kernelopts substitutes
 * $kernelopts; lookup (may be NULL) resolves other $vars. Appends to l;
 * ids are the entry file paths relative to bootdir. */
typedef const char *(*bc_lookup_fn)(const char *name, void *ud);
int bc_bls_load(const char *bootdir, const char *entries_dir, bc_lookup_fn lookup,
		void *ud, struct boot_entries *l);

/* Parse "key=value" lines of a grubenv block. Callback per pair. */
typedef void (*bc_env_fn)(const char *key, const char *value, void *ud);
void bc_parse_grubenv(const char *text, size_t len, bc_env_fn fn, void *ud);

#endif
