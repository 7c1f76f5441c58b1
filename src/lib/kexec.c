/* kexec.c - resolve a boot entry into a kexec plan; describe or load it. */
#include "kexec.h"
#include "codec.h"
#include "cpio.h"
#include "fs.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/reboot.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef KEXEC_FILE_NO_INITRAMFS
#define KEXEC_FILE_NO_INITRAMFS 0x00000004
#endif

#define DEFAULT_KEXEC_TOOL "/sbin/kexec"

void kexec_opts_init(struct kexec_opts *o)
{
	memset(o, 0, sizeof(*o));
}

void kexec_plan_free(struct kexec_plan *p)
{
	if (!p)
		return;
	free(p->bootdir);
	free(p->cmdline);
	/* a replaced initrd may hold a key (duk_inject): wipe it, the boot
	 * did not happen (after a successful kexec this is never reached) */
	if (p->initrd_replaced) {
		int fd = kexec_plan_initrd_fd(p);
		if (fd >= 0 && initrd_wipe(fd) < 0)
			log_warn("cannot wipe the replaced initrd: %m");
	}
	boot_blob_free(&p->kernel);
	for (size_t i = 0; i < p->n_initrd; i++)
		boot_blob_free(&p->initrd[i]);
	free(p->initrd);
	/* the single initrd's fd belongs to its blob */
	if (p->initrd_fd >= 0 && (p->n_initrd != 1 || p->initrd_replaced))
		close(p->initrd_fd);
	for (size_t i = 0; i < p->n_modules; i++) {
		boot_blob_free(&p->modules[i].blob);
		free(p->modules[i].args);
	}
	free(p->modules);
	memset(p, 0, sizeof(*p));
	p->initrd_fd = -1;
}

static bool has_word(const char *s, const char *w)
{
	size_t n = strlen(w);
	for (const char *p = s; (p = strstr(p, w)); p += n)
		if ((p == s || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return true;
	return false;
}

/* Concatenate the initrd memfds (each padded to 4 bytes) into a new one. */
static int concat_initrds(const struct kexec_plan *p)
{
	_cleanup_close_ int mfd = memfd_create("heads-initrds", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	static const uint8_t zero[4];
	uint8_t buf[65536];
	if (mfd < 0)
		return -errno;
	for (size_t i = 0; i < p->n_initrd; i++) {
		int fd = p->initrd[i].fd;
		off_t off = 0;
		long n;
		int r;
		while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
			if ((r = write_full(mfd, buf, (size_t)n)) < 0)
				return r;
			off += n;
		}
		if (n < 0)
			return -errno;
		if (off % 4 && (r = write_full(mfd, zero, 4 - (size_t)(off % 4))) < 0)
			return r;
	}
	if (lseek(mfd, 0, SEEK_SET) < 0 ||
	    fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
		return -errno;
	return TAKE_FD(mfd);
}

static int load_blob(struct boot_view *v, const char *path, struct boot_blob *b, bool *verified)
{
	int r = boot_view_load(v, path, b);
	if (r < 0)
		return r; /* logged with the path by the view */
	if (!b->verified)
		*verified = false;
	return 0;
}

/* Decode a compressed blob into a sealed memfd that replaces its fd (the
 * verified bytes, read once; nothing is opened again). */
static int unpack_blob(const char *bootdir, struct boot_blob *b, uint64_t max,
		       struct kexec_unpacked *u)
{
	uint8_t head[8];
	ssize_t n = b->fd < 0 ? 0 : pread(b->fd, head, sizeof(head), 0);
	if (n < 0)
		return log_error_errno(-errno, "%s%s: read: %m", bootdir, b->path);
	enum decompress_format f = decompress_detect(head, (size_t)n);
	if (f == DECOMPRESS_NONE)
		return 0;
	_cleanup_free_ char *name = xasprintf("%s%s%s", bootdir, b->path[0] == '/' ? "" : "/", b->path);
	int fd = decompress_to_memfd(b->fd, b->size, f, max, name, &u->size, u->sha256);
	if (fd < 0)
		return fd; /* logged with the name */
	close(b->fd);
	b->fd = fd;
	u->format = f;
	return 0;
}

static enum decompress_format format_of(const struct boot_blob *b)
{
	uint8_t head[8];
	ssize_t n = b->fd < 0 ? 0 : pread(b->fd, head, sizeof(head), 0);
	return n > 0 ? decompress_detect(head, (size_t)n) : DECOMPRESS_NONE;
}

int kexec_plan_build(struct boot_view *view, const struct boot_entry *e,
		     const struct kexec_opts *o, struct kexec_plan *ret)
{
	struct kexec_plan p = {.kind = e->kind, .initrd_fd = -1, .verified = true,
			       .kernel = {.fd = -1}};
	int r;

	p.bootdir = xstrdup(boot_view_dir(view));
	if (!e->kernel) {
		r = log_error_errno(-EINVAL, "boot entry '%s' has no kernel", e->title ? e->title : "");
		goto fail;
	}
	r = load_blob(view, e->kernel, &p.kernel, &p.verified);
	if (r < 0)
		goto fail;
	if (e->kind == BOOT_LINUX) {
		p.cmdline = bootcfg_build_cmdline(e->cmdline, o->add, o->remove, o->board_add,
						  &p.cmdline_too_long);
		p.initrd = xcalloc(e->n_initrd + 1, sizeof(*p.initrd));
		for (size_t i = 0; i < e->n_initrd; i++) {
			p.initrd[i].fd = -1;
			r = load_blob(view, e->initrd[i], &p.initrd[i], &p.verified);
			if (r < 0)
				goto fail;
			p.n_initrd++;
		}
		if (p.n_initrd == 1) {
			p.initrd_fd = p.initrd[0].fd;
		} else if (p.n_initrd > 1) {
			p.initrd_fd = concat_initrds(&p);
			if (p.initrd_fd < 0) {
				r = log_error_errno(p.initrd_fd, "cannot concatenate the initrds");
				p.initrd_fd = -1;
				goto fail;
			}
		}
	} else {
		uint64_t max = o->max_unpacked ? o->max_unpacked : KEXEC_MAX_UNPACKED;
		r = unpack_blob(p.bootdir, &p.kernel, max, &p.kernel_unpacked);
		if (r < 0)
			goto fail;
		/* hypervisor arguments; Xen gets Heads' hand-off options once */
		if (e->kind == BOOT_XEN) {
			const char *extra[] = {"no-real-mode", "reboot=no", "vga=current"};
			char *x = xstrdup(e->cmdline ? e->cmdline : "");
			for (size_t i = 0; i < ARRAY_SIZE(extra); i++)
				if (!has_word(x, extra[i])) {
					char *t = *x ? xasprintf("%s %s", x, extra[i]) : xstrdup(extra[i]);
					free(x);
					x = t;
				}
			p.cmdline = x;
		} else {
			p.cmdline = xstrdup(e->cmdline ? e->cmdline : "");
		}
		p.modules = xcalloc(e->n_modules + 1, sizeof(*p.modules));
		for (size_t i = 0; i < e->n_modules; i++) {
			struct kexec_module *m = &p.modules[i];
			m->blob.fd = -1;
			p.n_modules = i + 1;
			r = load_blob(view, e->modules[i].path, &m->blob, &p.verified);
			if (r < 0)
				goto fail;
			m->nounzip = e->modules[i].nounzip;
			if (!m->nounzip && (r = unpack_blob(p.bootdir, &m->blob, max, &m->unpacked)) < 0)
				goto fail;
			if (i == 0 && e->kind == BOOT_XEN)
				m->args = bootcfg_build_cmdline(e->modules[i].args, o->add, o->remove,
								o->board_add, &p.cmdline_too_long);
			else
				m->args = xstrdup(e->modules[i].args ? e->modules[i].args : "");
		}
	}
	*ret = p;
	return 0;
fail:
	kexec_plan_free(&p);
	return r;
}

int kexec_plan_initrd_fd(const struct kexec_plan *p)
{
	if (p->kind == BOOT_LINUX)
		return p->initrd_fd;
	return p->n_modules > 1 ? p->modules[1].blob.fd : -1;
}

int kexec_plan_set_initrd(struct kexec_plan *p, int fd)
{
	if (p->kind == BOOT_LINUX) {
		if (p->initrd_fd < 0)
			return -EINVAL;
		if (p->n_initrd != 1 || p->initrd_replaced)
			close(p->initrd_fd);
		p->initrd_fd = fd;
		p->initrd_replaced = true;
		return 0;
	}
	if (p->n_modules < 2)
		return -EINVAL;
	struct boot_blob *b = &p->modules[1].blob;
	if (b->fd >= 0)
		close(b->fd);
	b->fd = fd;
	b->verified = false; /* built from verified bytes, no longer them */
	p->initrd_replaced = true;
	return 0;
}

void kexec_argv_free(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

char **kexec_plan_argv(const struct kexec_plan *p, const char *tool)
{
	size_t n = 0, cap = 8 + p->n_modules;
	char **v = xcalloc(cap, sizeof(char *));
	v[n++] = xstrdup(tool ? tool : DEFAULT_KEXEC_TOOL);
	v[n++] = xstrdup("-l");
	v[n++] = xasprintf("/proc/self/fd/%d", p->kernel.fd);
	if (p->kind == BOOT_LINUX) {
		if (p->initrd_fd >= 0)
			v[n++] = xasprintf("--initrd=/proc/self/fd/%d", p->initrd_fd);
		v[n++] = xasprintf("--append=%s", p->cmdline);
	} else {
		v[n++] = xasprintf("--command-line=%s", p->cmdline);
		for (size_t i = 0; i < p->n_modules; i++)
			v[n++] = *p->modules[i].args
					 ? xasprintf("--module=/proc/self/fd/%d %s",
						     p->modules[i].blob.fd, p->modules[i].args)
					 : xasprintf("--module=/proc/self/fd/%d", p->modules[i].blob.fd);
	}
	v[n] = NULL;
	return v;
}

static void put_quoted(FILE *out, const char *s)
{
	if (*s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+@%") == strlen(s)) {
		fputs(s, out);
		return;
	}
	fputc('\'', out);
	for (; *s; s++) {
		if (*s == '\'')
			fputs("'\\''", out);
		else
			fputc(*s, out);
	}
	fputc('\'', out);
}

static void put_escaped(FILE *out, const char *key, const char *a, const char *b)
{
	_cleanup_free_ char *x = str_escape_controls(a, false), *y = str_escape_controls(b ? b : "", false);
	fprintf(out, "%s: %s%s\n", key, x, y);
}

static void put_file(FILE *out, const char *key, const struct kexec_plan *p,
		     const struct boot_blob *b, const char *args)
{
	_cleanup_free_ char *path = xasprintf("%s%s%s", p->bootdir, b->path[0] == '/' ? "" : "/",
					      b->path);
	_cleanup_free_ char *tail = args && *args ? xasprintf(" %s", args) : NULL;
	char hex[65];
	put_escaped(out, key, path, tail);
	hex_encode(b->sha256, 32, hex);
	fprintf(out, "%s-sha256: %s%s\n", key, hex, b->verified ? " (signed)" : "");
}

static void put_unpacked(FILE *out, const char *key, const struct kexec_unpacked *u)
{
	char hex[65];
	if (u->format == DECOMPRESS_NONE)
		return;
	hex_encode(u->sha256, 32, hex);
	fprintf(out, "%s-unpacked: %s, %llu bytes, sha256 %s\n", key,
		decompress_format_name(u->format), (unsigned long long)u->size, hex);
}

int kexec_plan_describe(const struct kexec_plan *p, const char *tool, FILE *out)
{
	fprintf(out, "kind: %s\n", boot_kind_to_string(p->kind));
	fprintf(out, "verified: %s\n", p->verified ? "yes" : "NO (UNVERIFIED)");
	put_file(out, "kernel", p, &p->kernel, NULL);
	if (p->kind == BOOT_LINUX) {
		for (size_t i = 0; i < p->n_initrd && !p->initrd_replaced; i++)
			put_file(out, "initrd", p, &p->initrd[i], NULL);
		if (p->initrd_replaced) {
			struct stat st;
			fprintf(out, "initrd: replaced (%lld bytes)\n",
				fstat(p->initrd_fd, &st) == 0 ? (long long)st.st_size : -1LL);
		}
		put_escaped(out, "cmdline", p->cmdline, NULL);
		fprintf(out, "method: kexec_file_load%s\n",
			p->n_initrd > 1 ? " (initrds concatenated)" : "");
	} else {
		put_unpacked(out, "kernel", &p->kernel_unpacked);
		put_escaped(out, "cmdline", p->cmdline, NULL);
		for (size_t i = 0; i < p->n_modules; i++) {
			const struct kexec_module *m = &p->modules[i];
			put_file(out, "module", p, &m->blob, m->args);
			put_unpacked(out, "module", &m->unpacked);
			enum decompress_format f = format_of(&m->blob);
			if (m->nounzip && !(p->initrd_replaced && i == 1) && f != DECOMPRESS_NONE)
				fprintf(out, "module-unpacked: no (--nounzip, %s)\n",
					decompress_format_name(f));
		}
		fprintf(out, "method: kexec-tools\n");
		char **v = kexec_plan_argv(p, tool);
		fputs("exec:", out);
		for (size_t i = 0; v[i]; i++) {
			_cleanup_free_ char *w = str_escape_controls(v[i], false);
			fputc(' ', out);
			put_quoted(out, w);
		}
		fputc('\n', out);
		kexec_argv_free(v);
	}
	if (p->cmdline_too_long)
		fprintf(out, "warning: command line longer than %d bytes\n", BOOTCFG_MAX_CMDLINE);
	return ferror(out) ? -EIO : 0;
}

static void sum_file(FILE *f, const char *key, const struct boot_blob *b,
		     const struct kexec_unpacked *u, bool nounzip)
{
	_cleanup_free_ char *x = str_escape_controls(b->path, false);
	fprintf(f, "%s: %s", key, x);
	if (u && u->format != DECOMPRESS_NONE)
		fprintf(f, " (%s, decoded in memory: %llu bytes)", decompress_format_name(u->format),
			(unsigned long long)u->size);
	else if (nounzip && format_of(b) != DECOMPRESS_NONE)
		fputs(" (kept compressed: --nounzip)", f);
	fputc('\n', f);
}

int kexec_plan_summary(const struct kexec_plan *p, char **ret)
{
	char *t = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&t, &n);
	if (!f)
		return -errno;
	if (p->kind == BOOT_LINUX) {
		sum_file(f, "Kernel", &p->kernel, NULL, false);
		for (size_t i = 0; i < p->n_initrd; i++)
			sum_file(f, "Initrd", &p->initrd[i], NULL, false);
	} else {
		sum_file(f, "Hypervisor", &p->kernel, &p->kernel_unpacked, false);
	}
	_cleanup_free_ char *c = str_escape_controls(p->cmdline ? p->cmdline : "", false);
	fprintf(f, "%s: %s\n", p->kind == BOOT_LINUX ? "Final command line" : "Hypervisor arguments",
		c);
	for (size_t i = 0; i < p->n_modules; i++) {
		const struct kexec_module *m = &p->modules[i];
		const char *role = p->kind != BOOT_XEN ? "multiboot module"
				   : i == 0		   ? "dom0 kernel"
				   : i == 1		   ? "dom0 initrd"
							   : "module";
		_cleanup_free_ char *key = xasprintf("Module %zu (%s)", i + 1, role);
		_cleanup_free_ char *a = str_escape_controls(m->args ? m->args : "", false);
		sum_file(f, key, &m->blob, &m->unpacked, m->nounzip);
		fprintf(f, "  arguments: %s\n", *a ? a : "(none)");
	}
	fprintf(f, "Signed: %s\n",
		p->verified ? "yes" : "NO (the files are not verified against a keyring)");
	if (fclose(f) != 0) {
		free(t);
		return -EIO;
	}
	*ret = t;
	return 0;
}

static int rewind_fd(int fd)
{
	return fd < 0 || lseek(fd, 0, SEEK_SET) >= 0 ? 0 : -errno;
}

const char *kexec_plan_firmware_refusal(const struct kexec_plan *p, const char *efi_dir)
{
	if (p->kind == BOOT_LINUX || access(efi_dir ? efi_dir : KEXEC_EFI_DIR, F_OK) != 0)
		return NULL;
	return p->kind == BOOT_XEN ?
		"Xen cannot start on this machine: its firmware is UEFI, and Xen "
		"started by kexec (multiboot2, no EFI information) needs the BIOS "
		"data area and the legacy ACPI pointer that UEFI firmware does not "
		"provide (the machine would reset). Xen entries boot on coreboot." :
		"This multiboot kernel cannot start on this machine: its firmware is "
		"UEFI, and kexec's multiboot2 hand-over passes no EFI information "
		"(the kernel would find no BIOS data area or legacy ACPI pointer).";
}

int kexec_plan_load(const struct kexec_plan *p, const char *tool)
{
	const char *refusal = kexec_plan_firmware_refusal(p, NULL);
	if (refusal) {
		log_error("kexec: %s", refusal);
		return -ENOTSUP;
	}
	if (p->kind == BOOT_LINUX) {
		unsigned long flags = p->initrd_fd < 0 ? KEXEC_FILE_NO_INITRAMFS : 0;
		size_t len = strlen(p->cmdline) + 1;
		int r = rewind_fd(p->kernel.fd);
		if (r == 0)
			r = rewind_fd(p->initrd_fd);
		if (r < 0)
			return log_error_errno(r, "kexec: cannot rewind a loaded file");
		if (syscall(SYS_kexec_file_load, p->kernel.fd, p->initrd_fd, len, p->cmdline,
			    flags) < 0)
			return log_error_errno(-errno, "kexec_file_load of %s%s", p->bootdir,
					       p->kernel.path);
		log_info("kexec: loaded %s%s", p->bootdir, p->kernel.path);
		return 0;
	}
	char **v = kexec_plan_argv(p, tool);
	pid_t pid = fork();
	if (pid < 0) {
		kexec_argv_free(v);
		return log_error_errno(-errno, "fork");
	}
	if (pid == 0) {
		/* the memfds stay open across exec for /proc/self/fd/N (the
		 * child's own descriptors; the parent's keep FD_CLOEXEC) */
		int fds[1 + p->n_modules];
		fds[0] = p->kernel.fd;
		for (size_t i = 0; i < p->n_modules; i++)
			fds[1 + i] = p->modules[i].blob.fd;
		for (size_t i = 0; i < 1 + p->n_modules; i++) {
			int fl = fcntl(fds[i], F_GETFD);
			if (fl < 0 || fcntl(fds[i], F_SETFD, fl & ~FD_CLOEXEC) < 0 ||
			    lseek(fds[i], 0, SEEK_SET) < 0)
				_exit(126);
		}
		execv(v[0], v);
		_exit(127);
	}
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	int r = 0;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		r = log_error_errno(-EIO, "%s -l %s%s failed (status %d)", v[0], p->bootdir,
				    p->kernel.path, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	kexec_argv_free(v);
	return r;
}

int kexec_exec(void)
{
	sync();
	if (reboot(LINUX_REBOOT_CMD_KEXEC) < 0)
		return log_error_errno(-errno, "reboot(LINUX_REBOOT_CMD_KEXEC)");
	return 0;
}
