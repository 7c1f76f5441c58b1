/* kexec.c - resolve a boot entry into a kexec plan; describe or load it. */
#include "kexec.h"
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
	o->initrd_fd = -1;
}

void kexec_plan_free(struct kexec_plan *p)
{
	if (!p)
		return;
	free(p->kernel);
	free(p->cmdline);
	for (size_t i = 0; i < p->n_initrd; i++)
		free(p->initrd[i]);
	free(p->initrd);
	for (size_t i = 0; i < p->n_modules; i++) {
		free(p->modules[i].path);
		free(p->modules[i].args);
	}
	free(p->modules);
	memset(p, 0, sizeof(*p));
	p->initrd_fd = -1;
}

/* rel must be a regular file beneath bootdir; returns bootdir + rel. */
static int resolve(const char *bootdir, const char *rel, char **ret)
{
	_cleanup_close_ int dfd = open(bootdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_close_ int fd = -1;
	struct stat st;
	const char *r = rel;

	if (dfd < 0)
		return log_error_errno(-errno, "cannot open boot directory %s", bootdir);
	while (*r == '/')
		r++;
	if (!*r)
		return log_error_errno(-EINVAL, "empty path in boot entry");
	fd = fs_open_beneath(dfd, r, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return log_error_errno(fd, "Failed to find file %s in %s", rel, bootdir);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return log_error_errno(-EINVAL, "%s in %s is not a regular file", rel, bootdir);
	return fs_path_join(bootdir, r, ret);
}

static bool has_word(const char *s, const char *w)
{
	size_t n = strlen(w);
	for (const char *p = s; (p = strstr(p, w)); p += n)
		if ((p == s || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return true;
	return false;
}

int kexec_plan_build(const char *bootdir, const struct boot_entry *e, const struct kexec_opts *o,
		     struct kexec_plan *ret)
{
	struct kexec_plan p = {.kind = e->kind, .initrd_fd = o->initrd_fd};
	int r;

	if (!e->kernel)
		return log_error_errno(-EINVAL, "boot entry '%s' has no kernel", e->title ? e->title : "");
	r = resolve(bootdir, e->kernel, &p.kernel);
	if (r < 0)
		goto fail;
	if (e->kind == BOOT_LINUX) {
		p.cmdline = bootcfg_build_cmdline(e->cmdline, o->add, o->remove, o->board_add,
						  &p.cmdline_too_long);
		if (o->initrd_fd < 0) {
			p.initrd = xcalloc(e->n_initrd + 1, sizeof(char *));
			for (size_t i = 0; i < e->n_initrd; i++) {
				r = resolve(bootdir, e->initrd[i], &p.initrd[i]);
				if (r < 0)
					goto fail;
				p.n_initrd++;
			}
		}
	} else {
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
		p.modules = xcalloc(e->n_modules + 1, sizeof(struct boot_module));
		for (size_t i = 0; i < e->n_modules; i++) {
			struct boot_module *m = &p.modules[i];
			if (i == 1 && o->initrd_fd >= 0) {
				m->path = xasprintf("/proc/self/fd/%d", o->initrd_fd);
			} else {
				r = resolve(bootdir, e->modules[i].path, &m->path);
				if (r < 0) {
					p.n_modules = i;
					goto fail;
				}
			}
			if (i == 0 && e->kind == BOOT_XEN)
				m->args = bootcfg_build_cmdline(e->modules[i].args, o->add, o->remove,
								o->board_add, &p.cmdline_too_long);
			else
				m->args = xstrdup(e->modules[i].args ? e->modules[i].args : "");
			p.n_modules = i + 1;
		}
	}
	*ret = p;
	return 0;
fail:
	kexec_plan_free(&p);
	return r;
}

void kexec_argv_free(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

char **kexec_plan_argv(const struct kexec_plan *p, const char *tool)
{
	size_t n = 0, cap = 8 + p->n_modules + p->n_initrd;
	char **v = xcalloc(cap, sizeof(char *));
	v[n++] = xstrdup(tool ? tool : DEFAULT_KEXEC_TOOL);
	v[n++] = xstrdup("-l");
	v[n++] = xstrdup(p->kernel);
	if (p->kind == BOOT_LINUX) {
		/* equivalent kexec-tools call (kexec keeps only the last --initrd,
		 * so at most one is given: the override or the first one) */
		if (p->initrd_fd >= 0)
			v[n++] = xasprintf("--initrd=/proc/self/fd/%d", p->initrd_fd);
		else if (p->n_initrd)
			v[n++] = xasprintf("--initrd=%s", p->initrd[0]);
		v[n++] = xasprintf("--append=%s", p->cmdline);
	} else {
		v[n++] = xasprintf("--command-line=%s", p->cmdline);
		for (size_t i = 0; i < p->n_modules; i++)
			v[n++] = *p->modules[i].args
					 ? xasprintf("--module=%s %s", p->modules[i].path, p->modules[i].args)
					 : xasprintf("--module=%s", p->modules[i].path);
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

int kexec_plan_describe(const struct kexec_plan *p, const char *tool, FILE *out)
{
	fprintf(out, "kind: %s\n", boot_kind_to_string(p->kind));
	fprintf(out, "kernel: %s\n", p->kernel);
	if (p->kind == BOOT_LINUX) {
		if (p->initrd_fd >= 0)
			fprintf(out, "initrd: fd:%d\n", p->initrd_fd);
		for (size_t i = 0; i < p->n_initrd; i++)
			fprintf(out, "initrd: %s\n", p->initrd[i]);
		fprintf(out, "cmdline: %s\n", p->cmdline);
		fprintf(out, "method: kexec_file_load%s\n",
			p->n_initrd > 1 ? " (initrds concatenated)" : "");
	} else {
		fprintf(out, "cmdline: %s\n", p->cmdline);
		for (size_t i = 0; i < p->n_modules; i++)
			fprintf(out, "module: %s%s%s\n", p->modules[i].path,
				*p->modules[i].args ? " " : "", p->modules[i].args);
		fprintf(out, "method: kexec-tools\n");
		char **v = kexec_plan_argv(p, tool);
		fputs("exec:", out);
		for (size_t i = 0; v[i]; i++) {
			fputc(' ', out);
			put_quoted(out, v[i]);
		}
		fputc('\n', out);
		kexec_argv_free(v);
	}
	if (p->cmdline_too_long)
		fprintf(out, "warning: command line longer than %d bytes\n", BOOTCFG_MAX_CMDLINE);
	return ferror(out) ? -EIO : 0;
}

/* Concatenate initrds (each padded to 4 bytes) into a memfd. */
static int concat_initrds(const struct kexec_plan *p)
{
	_cleanup_close_ int mfd = memfd_create("heads-initrds", MFD_CLOEXEC);
	static const uint8_t zero[4];
	uint8_t buf[65536];
	if (mfd < 0)
		return -errno;
	for (size_t i = 0; i < p->n_initrd; i++) {
		_cleanup_close_ int fd = open(p->initrd[i], O_RDONLY | O_CLOEXEC);
		long n, total = 0;
		int r;
		if (fd < 0)
			return log_error_errno(-errno, "cannot open %s", p->initrd[i]);
		while ((n = read_full(fd, buf, sizeof(buf))) > 0) {
			if ((r = write_full(mfd, buf, n)) < 0)
				return r;
			total += n;
		}
		if (n < 0)
			return (int)n;
		if (total % 4 && (r = write_full(mfd, zero, 4 - total % 4)) < 0)
			return r;
	}
	if (lseek(mfd, 0, SEEK_SET) < 0)
		return -errno;
	return TAKE_FD(mfd);
}

int kexec_plan_load(const struct kexec_plan *p, const char *tool)
{
	if (p->kind == BOOT_LINUX) {
		_cleanup_close_ int kfd = open(p->kernel, O_RDONLY | O_CLOEXEC);
		_cleanup_close_ int own = -1;
		int ifd = -1;
		unsigned long flags = 0;
		if (kfd < 0)
			return log_error_errno(-errno, "cannot open %s", p->kernel);
		if (p->initrd_fd >= 0) {
			ifd = p->initrd_fd;
			if (lseek(ifd, 0, SEEK_SET) < 0 && errno != ESPIPE)
				return log_error_errno(-errno, "initrd fd");
		} else if (p->n_initrd == 1) {
			own = open(p->initrd[0], O_RDONLY | O_CLOEXEC);
			if (own < 0)
				return log_error_errno(-errno, "cannot open %s", p->initrd[0]);
			ifd = own;
		} else if (p->n_initrd > 1) {
			own = concat_initrds(p);
			if (own < 0)
				return log_error_errno(own, "cannot concatenate initrds");
			ifd = own;
		} else {
			flags |= KEXEC_FILE_NO_INITRAMFS;
		}
		size_t len = strlen(p->cmdline) + 1;
		if (syscall(SYS_kexec_file_load, kfd, ifd, len, p->cmdline, flags) < 0)
			return log_error_errno(-errno, "kexec_file_load of %s", p->kernel);
		log_info("kexec: loaded %s", p->kernel);
		return 0;
	}
	char **v = kexec_plan_argv(p, tool);
	pid_t pid = fork();
	if (pid < 0) {
		kexec_argv_free(v);
		return log_error_errno(-errno, "fork");
	}
	if (pid == 0) {
		/* keep an initrd override fd open across exec for /proc/self/fd/N */
		if (p->initrd_fd >= 0) {
			int fl = fcntl(p->initrd_fd, F_GETFD);
			if (fl >= 0)
				fcntl(p->initrd_fd, F_SETFD, fl & ~FD_CLOEXEC);
		}
		execv(v[0], v);
		_exit(127);
	}
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	int r = 0;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		r = log_error_errno(-EIO, "%s -l %s failed (status %d)", v[0], p->kernel,
				    WIFEXITED(st) ? WEXITSTATUS(st) : -1);
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
