/* bootcfg.h - boot entries from GRUB, syslinux/isolinux/extlinux, BLS and
 * GRUB-legacy configurations; the final kernel command line; default-entry
 * persistence.
 *
 * Contract:
 * - Parsing is text only. GRUB configurations are interpreted by a bounded
 *   subset of GRUB's script language (variables with export/submenu scoping,
 *   functions, if/elif/else, for, test/[, source/configfile of files inside
 *   the boot tree, load_env, search --set, blscfg); loader commands
 *   (linux*, initrd*, multiboot*, module*) only record their arguments.
 *   Nothing is ever executed and no shell is involved: `$(reboot)`, backticks
 *   and `;` inside quoted titles or paths stay literal text.
 * - Bounds: a configuration file larger than BOOTCFG_MAX_FILE is refused
 *   (-EFBIG); include/source depth BOOTCFG_MAX_DEPTH (-ELOOP on deeper
 *   nesting, and syslinux INCLUDE cycles are refused with -ELOOP); loop
 *   iterations, commands executed, entries and total output are capped
 *   (-E2BIG). Errors are logged once with FILE:LINE.
 * - Every file is read through a boot view (boot/view.h): with a verified
 *   view, configurations are found in the signed tree only and parsed only
 *   from bytes that hash to their signed line; an unsigned file is as good
 *   as absent.
 * - Paths in entries are absolute inside the boot directory (begin with
 *   '/'), device prefixes such as "(hd0,gpt2)" or "($root)" removed, "//"
 *   kept. An entry whose kernel, module or initrd file does not exist in the
 *   view is dropped with a warning naming the file, and so is an entry with
 *   a path holding whitespace or a control byte (the reference line format
 *   and kexec-tools' --module could not carry it faithfully).
 * - Entries are in boot-menu order; a GRUB submenu contributes
 *   "Submenu>Entry" titles.
 * All functions return 0 on success or a negative errno.
 */
#ifndef HEADS_BOOTCFG_H
#define HEADS_BOOTCFG_H

#include <stdbool.h>
#include <stddef.h>

#include "boot/view.h"

#define BOOTCFG_MAX_FILE (4u * 1024 * 1024)   /* one configuration file */
#define BOOTCFG_MAX_DEPTH 16                  /* source/INCLUDE/call/submenu nesting */
#define BOOTCFG_MAX_ENTRIES 4096
#define BOOTCFG_MAX_OUTPUT (16u * 1024 * 1024) /* total bytes of entry text */
#define BOOTCFG_MAX_CMDLINE 2047               /* warning threshold (x86 COMMAND_LINE_SIZE-1) */

enum boot_kind {
	BOOT_LINUX = 0,   /* kexec_file_load: kernel + initrd + cmdline */
	BOOT_XEN,         /* multiboot hypervisor named *xen*: kexec-tools --module */
	BOOT_MULTIBOOT,   /* other multiboot kernels (tboot, ...) */
};

enum bootcfg_format {
	BOOTCFG_AUTO = 0, /* from the file name / content */
	BOOTCFG_GRUB,
	BOOTCFG_SYSLINUX, /* syslinux, isolinux, extlinux */
	BOOTCFG_BLS,      /* a loader/ directory, loader.conf or an entries/ dir */
	BOOTCFG_GRUB_LEGACY,
};

struct boot_module {
	char *path; /* absolute in the boot dir */
	char *args; /* whitespace-collapsed, may be "" */
	bool nounzip; /* GRUB `module[2] --nounzip`: load the bytes as they are */
};

struct boot_entry {
	char *title;          /* "Submenu>Entry" */
	enum boot_kind kind;
	char *kernel;         /* Linux kernel, or the hypervisor for xen/multiboot */
	char **initrd;        /* linux only; empty for xen/multiboot */
	size_t n_initrd;
	char *cmdline;        /* kernel (or hypervisor) arguments, collapsed, no BOOT_IMAGE= */
	struct boot_module *modules; /* xen/multiboot: dom0 kernel + args, then initrd */
	size_t n_modules;
	char *id;             /* menu path "1>2" (GRUB), LABEL (syslinux), BLS file */
};

struct boot_entries {
	struct boot_entry *v;
	size_t n;
	/* What the bootloader boots by itself: GRUB's menu path ("0", "1>2"),
	 * the syslinux DEFAULT label, or the BLS entry file; NULL if unknown. */
	char *default_id;
	/* Index into v of the default entry, or -1 when it is not bootable
	 * or not found. */
	long default_index;
};

const char *boot_kind_to_string(enum boot_kind k);
void boot_entry_free(struct boot_entry *e);
void boot_entries_free(struct boot_entries *l);
void boot_entry_copy(struct boot_entry *dst, const struct boot_entry *src);

/* Parse one configuration file (or BLS directory) config, a path relative to
 * the view's boot directory (a leading '/' is accepted). Entries are appended to *ret (call
 * with a zeroed struct). fmt BOOTCFG_AUTO guesses from the name: *.conf
 * under loader/ or a directory -> BLS, isolinux/syslinux/extlinux *.cfg or
 * a file whose first keyword is a syslinux one -> syslinux, grub.conf /
 * menu.lst -> GRUB-legacy, else GRUB. */
int bootcfg_parse(struct boot_view *view, const char *config, enum bootcfg_format fmt,
		  struct boot_entries *ret);

/* Discovery like Heads' scan_boot_options: every grub.cfg / isolinux.cfg /
 * syslinux.cfg / extlinux.conf the view lists (never under a top-level
 * kexec* name) (paths containing "efi"/"EFI"
 * and ISO loopback.cfg files are used only if nothing else gave entries),
 * then BLS when nothing was found and loader/entries exists. Duplicate
 * entries are removed; the default is the first parsed config's default. */
int bootcfg_scan(struct boot_view *view, struct boot_entries *ret);

/* JSON array (stable interface, docs/entries-json.md): objects with exactly
 * title, kind, kernel, initrd[], cmdline, modules[{path,args}]. Caller frees. */
char *bootcfg_to_json(const struct boot_entries *l);

/* The reference one-line format (heads-behaviour.md 4.1):
 * name|elf|kernel PATH[ args]|initrd P|append CMDLINE   (linux)
 * name|xen|kernel XEN[ args]|module P args|module P      (xen/multiboot)
 * '|' is removed from names and arguments. Caller frees. */
char *boot_entry_to_line(const struct boot_entry *e);
/* Inverse of boot_entry_to_line(); -EINVAL on malformed lines. */
int boot_entry_from_line(const char *line, struct boot_entry *ret);

/* Final kernel command line (heads-behaviour.md 4.5 _build_final_cmdline,
 * without its bugs): GRUB "---" separators removed; every whole word equal
 * to a word of remove deleted from add, params and board_add; result =
 * add + params; for each key of iso-scan/filename findiso img_dev img_loop
 * iso live-media given in add, other occurrences of that key are dropped and
 * the add value kept once; then each board_add word not already present is
 * appended. Any argument may be NULL. Whitespace collapsed. Caller frees.
 * *ret_too_long (if not NULL) is set when the result exceeds
 * BOOTCFG_MAX_CMDLINE bytes. */
char *bootcfg_build_cmdline(const char *params, const char *add, const char *remove,
			    const char *board_add, bool *ret_too_long);

/* The default entry in the reference formats (heads-behaviour.md 3.1), in
 * memory, to be signed with /boot (integrity_sign() extras: a
 * kexec_default.N.txt among them replaces any other signed default):
 * kexec_default.<index1>.txt (one line, boot_entry_to_line() + "\n") and
 * kexec_default_hashes.txt ("<sha256 hex>  ./<path>" for the kernel, every
 * module and every initrd, each path as it resolves: a symlinked kernel
 * stores the file it points to, which verifies without following a link).
 * With a verified view the digests are the signed ones (links resolved by
 * the signed table), nothing is read; an unverified view hashes the files.
 * Paths with whitespace are refused (-EINVAL; *ret untouched). */
struct bootcfg_default_files {
	char *name;        /* "kexec_default.N.txt" */
	char *line;        /* its content */
	size_t line_len;
	char *hashes;      /* kexec_default_hashes.txt */
	size_t hashes_len;
};
int bootcfg_default_files(struct boot_view *view, const struct boot_entry *e, unsigned index1,
			  struct bootcfg_default_files *ret);
void bootcfg_default_files_free(struct bootcfg_default_files *d);
/* Find paramsdir/kexec_default.N.txt: returns the entry and N, -ENOENT if
 * none, -EINVAL if several or malformed. */
int bootcfg_load_default(const char *paramsdir, struct boot_entry *ret, unsigned *ret_index1);
/* The same from the signed kexec*.txt (the bytes the signature covers). */
int bootcfg_signed_default(const struct boot_signed *s, struct boot_entry *ret,
			   unsigned *ret_index1);

#endif
