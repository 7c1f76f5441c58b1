/* kexec.h - load a boot entry for kexec, or describe what would be loaded.
 *
 * Contract:
 * - kexec_plan_build() resolves a struct boot_entry against the boot
 *   directory into absolute file paths and the final command line(s)
 *   (bootcfg_build_cmdline() with the add/remove/board rules). Every file
 *   must exist beneath bootdir (opened with fs_open_beneath(), so symlinks
 *   cannot escape): -ENOENT otherwise, logged with the path.
 * - Linux entries are loaded with kexec_file_load(2) (kernel fd, initrd fd,
 *   command line); with several initrds they are concatenated (each padded
 *   to 4 bytes) into a memfd, as the kernel accepts concatenated archives.
 *   An initrd override fd (e.g. the memfd from initrd_inject_key()) replaces
 *   the entry's initrd(s).
 * - Xen and multiboot entries are loaded with kexec-tools:
 *   `kexec -l HYPERVISOR --command-line=ARGS --module="PATH ARGS" ...`
 *   run with fork+execv and an argv array (never a shell). For Xen the
 *   hypervisor arguments get "no-real-mode reboot=no vga=current" appended
 *   (as Heads does) and the first module's arguments go through the cmdline
 *   builder; for xen an initrd override replaces module 2 (passed as
 *   /proc/self/fd/N to kexec-tools).
 * - kexec_plan_describe() prints exactly what kexec_plan_load() would do,
 *   one "key: value" per line (stable; see `heads kexec --help`).
 * - kexec_exec() reboots into the loaded kernel (reboot(LINUX_REBOOT_CMD_KEXEC)).
 * All return 0 or a negative errno.
 */
#ifndef HEADS_KEXEC_H
#define HEADS_KEXEC_H

#include "bootcfg/bootcfg.h"

#include <stdbool.h>
#include <stdio.h>

struct kexec_opts {
	const char *add;        /* extra words (e.g. iso-scan/filename=...) */
	const char *remove;     /* CONFIG_BOOT_KERNEL_REMOVE + -r words */
	const char *board_add;  /* CONFIG_BOOT_KERNEL_ADD */
	int initrd_fd;          /* override, or -1 */
	const char *kexec_tool; /* path of kexec-tools' kexec; NULL = "/sbin/kexec" */
};

struct kexec_plan {
	enum boot_kind kind;
	char *kernel;        /* absolute path */
	char **initrd;       /* absolute paths (linux), n_initrd may be 0 */
	size_t n_initrd;
	int initrd_fd;       /* override (borrowed), -1 if none */
	char *cmdline;       /* final cmdline (linux) or hypervisor args */
	struct boot_module *modules; /* absolute paths, final args */
	size_t n_modules;
	bool cmdline_too_long;
};

void kexec_opts_init(struct kexec_opts *o);
int kexec_plan_build(const char *bootdir, const struct boot_entry *e,
		     const struct kexec_opts *o, struct kexec_plan *ret);
void kexec_plan_free(struct kexec_plan *p);

/* The argv kexec-tools would get (xen/multiboot), NULL-terminated; also
 * meaningful for Linux as the equivalent kexec-tools call. Caller frees
 * with kexec_argv_free(). */
char **kexec_plan_argv(const struct kexec_plan *p, const char *kexec_tool);
void kexec_argv_free(char **argv);

/* Lines: "kind: linux", "kernel: PATH", "initrd: PATH" (one per initrd, or
 * "initrd: fd:N" for an override), "cmdline: ...", "module: PATH ARGS",
 * and for xen/multiboot "exec: kexec -l ..." with the argv words each
 * shell-quoted for display only. */
int kexec_plan_describe(const struct kexec_plan *p, const char *kexec_tool, FILE *out);

/* Load for a later kexec_exec(). Needs CAP_SYS_BOOT. */
int kexec_plan_load(const struct kexec_plan *p, const char *kexec_tool);
int kexec_exec(void);

#endif
