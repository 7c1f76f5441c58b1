/* kexec.h - load a boot entry for kexec, or describe what would be loaded.
 *
 * Contract:
 * - kexec_plan_build() reads every file of a struct boot_entry (kernel,
 *   initrds, multiboot modules) once, through a boot view (boot/view.h),
 *   into sealed memfds: with a verified view each one's SHA-256 equals the
 *   signed line of that exact path or the build fails naming the file
 *   (-EBADMSG, -EPERM for an unsigned file or link). The plan holds only
 *   those memfds: loading never opens a path again. It also builds the
 *   final command line(s) (bootcfg_build_cmdline() with the add/remove/board
 *   rules).
 * - Linux entries are loaded with kexec_file_load(2) from the kernel memfd
 *   and the initrd memfd (several initrds are concatenated, each padded to
 *   4 bytes, into one memfd, as the kernel accepts concatenated archives).
 * - kexec_plan_set_initrd() replaces the initrd the OS gets (the Disk Unlock
 *   Key injection builds it from kexec_plan_initrd_fd(), the verified
 *   bytes): for Linux the initrd, for Xen/multiboot the second module.
 * - Xen and multiboot entries are loaded with kexec-tools:
 *   `kexec -l /proc/self/fd/K --command-line=ARGS --module="/proc/self/fd/M ARGS"`
 *   run with fork+execv and an argv array (never a shell), the memfds
 *   inherited by the child. For Xen the hypervisor arguments get
 *   "no-real-mode reboot=no vga=current" appended (as Heads does) and the
 *   first module's arguments go through the cmdline builder.
 * - Xen and multiboot images are decompressed in-process (decompress.h):
 *   the hypervisor (kernel) file when it is gzip, xz or zstd (kexec-tools
 *   needs the ELF; GRUB decompresses it too), and every module that is
 *   compressed and not marked `--nounzip` (GRUB's rule; the Heads line
 *   format has no such flag, so its modules load as they are, as the
 *   reference did). The verified (compressed) memfd is decoded into a new
 *   sealed memfd that replaces it: the bytes checked are the bytes decoded,
 *   no path is opened again, nothing is written to disk. More than
 *   o->max_unpacked (default KEXEC_MAX_UNPACKED) decoded bytes fails the
 *   build naming the file (-EFBIG). Linux entries are not touched
 *   (kexec_file_load takes the bzImage; the kernel unpacks its initrds).
 * - For Xen the dom0 initrd is the second module (module 1: the first is
 *   the dom0 kernel), as in GRUB's 20_linux_xen entries and the reference's
 *   `kexec-boot -i`; for a generic multiboot entry the same position is
 *   used. That is what kexec_plan_initrd_fd() returns and what the Disk
 *   Unlock Key is appended to (after decompression, when it was decoded).
 * - kexec_plan_describe() prints what kexec_plan_load() would do, one
 *   "key: value" per line (stable; see `heads kexec --help`), with the
 *   SHA-256 of every file and whether it matched a signed line.
 * - kexec_exec() reboots into the loaded kernel (reboot(LINUX_REBOOT_CMD_KEXEC)).
 * All return 0 or a negative errno.
 */
#ifndef HEADS_KEXEC_H
#define HEADS_KEXEC_H

#include "bootcfg/bootcfg.h"
#include "decompress.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct kexec_opts {
	const char *add;        /* extra words (e.g. iso-scan/filename=...) */
	const char *remove;     /* CONFIG_BOOT_KERNEL_REMOVE + -r words */
	const char *board_add;  /* CONFIG_BOOT_KERNEL_ADD */
	const char *kexec_tool; /* path of kexec-tools' kexec; NULL = "/sbin/kexec" */
	uint64_t max_unpacked;  /* bound of one decompressed file; 0 = KEXEC_MAX_UNPACKED */
};

#define KEXEC_MAX_UNPACKED (1024ull * 1024 * 1024)

/* A file decoded in-process: the blob keeps the size and SHA-256 of the
 * verified (compressed) bytes, its fd now holds these. */
struct kexec_unpacked {
	enum decompress_format format; /* DECOMPRESS_NONE: used as read */
	uint64_t size;
	uint8_t sha256[32];
};

struct kexec_module {
	struct boot_blob blob;
	char *args;          /* final arguments */
	bool nounzip;        /* the entry's --nounzip */
	struct kexec_unpacked unpacked;
};

struct kexec_plan {
	enum boot_kind kind;
	char *bootdir;
	bool verified;       /* every file matched a signed line */
	struct boot_blob kernel;
	struct boot_blob *initrd;    /* linux: the entry's initrds */
	size_t n_initrd;
	int initrd_fd;       /* linux: what the kernel gets (the single
				initrd's memfd, the concatenation, or a
				replacement); -1 for none */
	bool initrd_replaced;
	char *cmdline;       /* final cmdline (linux) or hypervisor args */
	struct kexec_module *modules;
	size_t n_modules;
	bool cmdline_too_long;
	struct kexec_unpacked kernel_unpacked;
};

void kexec_opts_init(struct kexec_opts *o);
int kexec_plan_build(struct boot_view *view, const struct boot_entry *e,
		     const struct kexec_opts *o, struct kexec_plan *ret);
void kexec_plan_free(struct kexec_plan *p);

/* The initrd the OS would get (not owned; -1 if none). */
int kexec_plan_initrd_fd(const struct kexec_plan *p);
/* Replace it with fd (taken). -EINVAL for an entry without one.
 * kexec_plan_free() overwrites a replaced initrd with zeros (it may hold
 * the Disk Unlock Key: a boot that did not happen leaves no copy). */
int kexec_plan_set_initrd(struct kexec_plan *p, int fd);

/* The argv kexec-tools would get (xen/multiboot), NULL-terminated, with
 * /proc/self/fd/N for every file; also meaningful for Linux as the
 * equivalent kexec-tools call. Caller frees with kexec_argv_free(). */
char **kexec_plan_argv(const struct kexec_plan *p, const char *kexec_tool);
void kexec_argv_free(char **argv);

/* Lines: "kind: linux", "verified: yes|NO", "kernel: PATH", "kernel-sha256:
 * HEX", "initrd: PATH" + "initrd-sha256: HEX" (one pair per initrd;
 * "initrd: replaced (N bytes)" after kexec_plan_set_initrd), "cmdline: ...",
 * "module: PATH ARGS" + "module-sha256: HEX", after the sha256 line of a
 * decoded file "kernel-unpacked: FORMAT, N bytes, sha256 HEX" (or
 * "module-unpacked: ..."), of a compressed module left as it is
 * "module-unpacked: no (--nounzip, FORMAT)", and for xen/multiboot "exec:
 * kexec -l ..." with the argv words each shell-quoted for display only.
 * PATH is the boot directory + the path the entry names; control bytes
 * are escaped (str_escape_controls). */
int kexec_plan_describe(const struct kexec_plan *p, const char *kexec_tool, FILE *out);

/* The confirmation text a person reads before booting (UTF-8-free, control
 * bytes escaped, paths as the entry names them), one item per line:
 *   Kernel: PATH | Hypervisor: PATH [(gzip, decoded in memory: N bytes)]
 *   Initrd: PATH (linux, one per initrd)
 *   Final command line: ARGS | Hypervisor arguments: ARGS (with Heads'
 *     hand-off options, i.e. exactly what the hypervisor gets)
 *   Module N (dom0 kernel|dom0 initrd|multiboot module): PATH [(gzip,
 *     decoded in memory: N bytes) | (kept compressed: --nounzip)]
 *     "  arguments: ARGS" (also when empty: "  arguments: (none)")
 *   Signed: yes | NO (the files are not verified against a keyring)
 * *ret is malloc'd. */
int kexec_plan_summary(const struct kexec_plan *p, char **ret);

/* Whether this machine's firmware can start the plan. Xen and multiboot
 * kernels are handed over by kexec-tools' multiboot2 loader, which gives
 * them no EFI system table and no ACPI RSDP: they take their legacy BIOS
 * path, which places Xen's low-memory trampoline from the BIOS Data Area
 * (0x40e, 0x413) and finds the RSDP by scanning the EBDA and the F segment.
 * coreboot and SeaBIOS provide both; UEFI firmware does not (measured on
 * OVMF: the machine resets right after the kexec, before Xen prints
 * anything). So when the payload was started by UEFI firmware (efi_dir
 * exists; NULL = "/sys/firmware/efi") a Xen/multiboot plan is refused:
 * returns a static sentence for the screen; NULL = bootable (always for
 * Linux, loaded by kexec_file_load with the kernel's own EFI hand-over). */
#define KEXEC_EFI_DIR "/sys/firmware/efi"
const char *kexec_plan_firmware_refusal(const struct kexec_plan *p, const char *efi_dir);

/* Load for a later kexec_exec(). Needs CAP_SYS_BOOT. A Xen/multiboot plan
 * that kexec_plan_firmware_refusal() refuses is not loaded (-ENOTSUP, the
 * reason logged). */
int kexec_plan_load(const struct kexec_plan *p, const char *kexec_tool);
int kexec_exec(void);

#endif
