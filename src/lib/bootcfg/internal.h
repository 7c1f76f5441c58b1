/* internal.h - shared by the bootcfg parsers (not a public interface). */
#ifndef HEADS_BOOTCFG_INTERNAL_H
#define HEADS_BOOTCFG_INTERNAL_H

#include "bootcfg.h"
#include "boot/view.h"

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
/* True if rel (absolute in the boot directory) names a file (not dir) or,
 * with want_dir, a directory, as the view sees it (boot/view.h: a verified
 * view sees only what is signed). */
bool bc_exists(struct boot_view *view, const char *rel, bool want_dir);
/* Read rel through the view (verified against its signed hash when the
 * view is verified), bounded by BOOTCFG_MAX_FILE; logs errors with the name. */
int bc_read(struct boot_view *view, const char *rel, char **ret, size_t *ret_len);

/* True if the file name of path contains "xen" (Xen vs other multiboot). */
bool is_xen_name(const char *path);

/* Append a copy of e if every file exists (else warn and drop). Takes
 * ownership of e's contents in both cases. */
int bc_emit(struct boot_view *view, struct boot_entries *l, struct boot_entry *e);

int bc_parse_grub(struct boot_view *view, const char *config, struct boot_entries *l);
int bc_parse_syslinux(struct boot_view *view, const char *config, struct boot_entries *l);
int bc_parse_bls(struct boot_view *view, const char *config, struct boot_entries *l);
int bc_parse_grub_legacy(struct boot_view *view, const char *config, struct boot_entries *l);

/* BLS entries of loader/entries (or boot/loader/entries) in the view,
 * newest first as GRUB's blscfg orders them. kernelopts substitutes
 * $kernelopts; lookup (may be NULL) resolves other $vars. Appends to l;
 * ids are the entry file paths relative to the boot directory. */
typedef const char *(*bc_lookup_fn)(const char *name, void *ud);
int bc_bls_load(struct boot_view *view, const char *entries_dir, bc_lookup_fn lookup,
		void *ud, struct boot_entries *l);

/* Parse "key=value" lines of a grubenv block. Callback per pair. */
typedef void (*bc_env_fn)(const char *key, const char *value, void *ud);
void bc_parse_grubenv(const char *text, size_t len, bc_env_fn fn, void *ud);

#endif
