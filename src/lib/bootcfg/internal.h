/* internal.h - shared by the bootcfg parsers (not a public interface). */
#ifndef HEADS_BOOTCFG_INTERNAL_H
#define HEADS_BOOTCFG_INTERNAL_H

#include "bootcfg.h"
#include "boot/view.h"

#include <stdbool.h>
#include <stddef.h>

static inline bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

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

/* A path that the reference line format (and kexec-tools' --module) can
 * carry: no whitespace, no control byte. */
bool path_ok(const char *p);
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

/* One boot configuration format: the parsers register here and scan.c
 * dispatches through its table (parsers never call the dispatcher, the
 * dispatcher never calls a parser by name). */
struct bc_parser {
	enum bootcfg_format format;
	/* Auto-detection: whether config (a path in the view) is in this
	 * format, from its name; NULL for the fallback (GRUB). */
	bool (*claims)(struct boot_view *view, const char *config);
	/* Append the entries of config to l. */
	int (*parse)(struct boot_view *view, const char *config, struct boot_entries *l);
};
extern const struct bc_parser bc_parser_grub;         /* grub.c */
extern const struct bc_parser bc_parser_syslinux;     /* syslinux.c */
extern const struct bc_parser bc_parser_grub_legacy;  /* syslinux.c */
extern const struct bc_parser bc_parser_bls;          /* bls.c */

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
