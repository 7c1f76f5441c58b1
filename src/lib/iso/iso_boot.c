/* iso_boot.c - an ISO's boot entries and the command-line words each
 * distribution family needs to find its ISO file after kexec. */
#include "iso/iso.h"
#include "kexec.h"
#include "log.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>

#include <blkid/blkid.h>
#include <openssl/evp.h>

#define SHADOW_MAX_COPY (64u * 1024 * 1024)

const char *iso_family_name(enum iso_family f)
{
	switch (f) {
	case ISO_FAMILY_UNKNOWN: return "unknown";
	case ISO_FAMILY_CASPER: return "casper";
	case ISO_FAMILY_LIVEBOOT: return "live-boot";
	case ISO_FAMILY_TAILS: return "tails";
	case ISO_FAMILY_DRACUT: return "dracut";
	case ISO_FAMILY_ARCH: return "archiso";
	case ISO_FAMILY_NIXOS: return "nixos";
	}
	return "?";
}

const char *iso_compat_mark(enum iso_compat c)
{
	switch (c) {
	case ISO_COMPAT_OK: return "[OK]";
	case ISO_COMPAT_MAYBE: return "[~]";
	case ISO_COMPAT_NO: return "[X]";
	}
	return "[?]";
}

/* A whole word of s equal to w, or (prefix) starting with w. */
static bool has_word(const char *s, const char *w, bool prefix)
{
	size_t wl = strlen(w);
	for (const char *p = s; p && *p;) {
		while (*p == ' ')
			p++;
		const char *e = strchr(p, ' ');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		if (l >= wl && memcmp(p, w, wl) == 0 && (prefix || l == wl))
			return true;
		p = e;
	}
	return false;
}

/* The words of s without those holding '$' (unexpanded GRUB variables, as
 * the reference strips them) or ending in '=' (a variable our GRUB
 * interpreter expanded to nothing, e.g. findiso=${iso_path}: the words that
 * find the ISO are added instead). */
static char *strip_dollar_words(const char *s)
{
	char *out = xmalloc(strlen(s) + 1);
	size_t o = 0;
	for (const char *p = s; *p;) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		const char *e = strchr(p, ' ');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		if (!memchr(p, '$', l) && p[l - 1] != '=') {
			if (o)
				out[o++] = ' ';
			memcpy(out + o, p, l);
			o += l;
		}
		p += l;
	}
	out[o] = 0;
	return out;
}

static bool ci_contains(const char *s, const char *w)
{
	return s && strcasestr(s, w) != NULL;
}

/* The families whose ISO words are fixed: each word is KEY=VALUE with the
 * value the ISO's path (P), the device (D) or both (device then path). */
struct family_words {
	enum iso_family family;
	const char *key[2];
	char val[2];
	enum iso_compat compat;
	const char *why;
};

static const struct family_words FAMILY_WORDS[] = {
	{ISO_FAMILY_CASPER, {"iso-scan/filename="}, {'P'}, ISO_COMPAT_OK,
	 "casper finds the ISO with iso-scan/filename="},
	{ISO_FAMILY_LIVEBOOT, {"findiso="}, {'P'}, ISO_COMPAT_OK,
	 "live-boot finds the ISO with findiso="},
	/* fromiso= takes device + path; findiso= is not added with it:
	 * live-boot loops when both are given (heads-behaviour 10.1). */
	{ISO_FAMILY_TAILS, {"fromiso="}, {'B'}, ISO_COMPAT_MAYBE,
	 "Tails (live-boot fromiso=); Tails does not support booting from an ISO file"},
	{ISO_FAMILY_ARCH, {"img_dev=", "img_loop="}, {'D', 'P'}, ISO_COMPAT_OK,
	 "archiso finds the ISO with img_dev= and img_loop="},
	{ISO_FAMILY_NIXOS, {"findiso="}, {'P'}, ISO_COMPAT_OK,
	 "NixOS stage 1 finds the ISO with findiso="},
};

static const struct family_words *family_words_of(enum iso_family f)
{
	for (size_t k = 0; k < ARRAY_SIZE(FAMILY_WORDS); k++)
		if (FAMILY_WORDS[k].family == f)
			return &FAMILY_WORDS[k];
	return NULL;
}

static char *family_add(const struct family_words *fw, const char *D, const char *P)
{
	char *out = xstrdup("");
	for (size_t k = 0; k < 2 && fw->key[k]; k++) {
		char v = fw->val[k];
		char *t = xasprintf("%s%s%s%s%s", out, k ? " " : "", fw->key[k],
				    v == 'P' ? "" : D, v == 'D' ? "" : P);
		free(out);
		out = t;
	}
	return out;
}

void iso_entry_prepare(struct boot_entry *e, const struct iso9660_tree *tree,
		       const struct iso_boot_opts *o, struct iso_entry_info *ret)
{
	_cleanup_free_ char *params = strip_dollar_words(e->cmdline ? e->cmdline : "");
	_cleanup_free_ char *add = NULL;
	const char *P = o->iso_path, *D = o->device;
	const char *base = strrchr(e->kernel ? e->kernel : "", '/');
	struct iso_entry_info i = {.family = ISO_FAMILY_UNKNOWN, .compat = ISO_COMPAT_MAYBE};

	base = base ? base + 1 : (e->kernel ? e->kernel : "");
	if (has_word(params, "boot=casper", false) || startswith(e->kernel ? e->kernel : "", "/casper/"))
		i.family = ISO_FAMILY_CASPER;
	else if (has_word(params, "boot=live", false))
		i.family = (ci_contains(e->title, "tails") ||
			    (tree && iso9660_find(tree, "/live/Tails.module")))
				   ? ISO_FAMILY_TAILS : ISO_FAMILY_LIVEBOOT;
	else if (has_word(params, "root=live:", true) || has_word(params, "rd.live.image", false) ||
		 has_word(params, "inst.stage2=", true) || has_word(params, "inst.repo=", true))
		i.family = ISO_FAMILY_DRACUT;
	else if (has_word(params, "archisobasedir=", true) || has_word(params, "archisolabel=", true) ||
		 has_word(params, "archisosearchuuid=", true))
		i.family = ISO_FAMILY_ARCH;
	else if (has_word(params, "init=/nix/store/", true))
		i.family = ISO_FAMILY_NIXOS;

	if (strpbrk(P, " \t\n")) {
		i.compat = ISO_COMPAT_NO;
		i.why = xasprintf("the ISO's path %s holds whitespace: no kernel command line can "
				  "name it", P);
		add = xstrdup("");
	} else if (e->kind != BOOT_LINUX) {
		i.compat = ISO_COMPAT_NO;
		i.why = xstrdup("Xen/multiboot entry: its installer looks for a CD drive, not an "
				"ISO file (write the ISO to the drive with dd instead)");
		add = xstrdup("");
	} else if (strstr(base, "memtest")) {
		i.compat = ISO_COMPAT_MAYBE;
		i.why = xstrdup("a memory tester: it needs nothing from the ISO");
		add = xstrdup("");
	} else if (i.family == ISO_FAMILY_UNKNOWN &&
		   (strstr(e->kernel, "/install") || ci_contains(e->title, "install")) &&
		   !strstr(params, "iso-scan")) {
		i.compat = ISO_COMPAT_NO;
		i.why = xstrdup("an installer that looks for its medium on a CD drive (write the "
				"ISO to the drive with dd instead)");
		add = xstrdup("");
	} else {
		const struct family_words *fw = family_words_of(i.family);
		switch (i.family) {
		case ISO_FAMILY_CASPER:
		case ISO_FAMILY_LIVEBOOT:
		case ISO_FAMILY_TAILS:
		case ISO_FAMILY_ARCH:
		case ISO_FAMILY_NIXOS:
			add = family_add(fw, D, P);
			i.compat = fw->compat;
			i.why = xstrdup(fw->why);
			break;
		case ISO_FAMILY_DRACUT:
			add = xasprintf("iso-scan/filename=%s%s", P,
					has_word(params, "rd.live.image", false) ? "" : " rd.live.image");
			i.compat = has_word(params, "root=live:", true) ? ISO_COMPAT_OK : ISO_COMPAT_MAYBE;
			i.why = xstrdup(i.compat == ISO_COMPAT_OK
					? "dracut dmsquash-live finds the ISO with iso-scan/filename="
					: "dracut installer: iso-scan/filename= with rd.live.image, "
					  "its stage 2 may still look for a CD");
			break;
		case ISO_FAMILY_UNKNOWN:
			/* the reference's universal words */
			if (o->uuid)
				add = xasprintf("iso-scan/filename=%s findiso=%s img_dev=%s img_loop=%s "
						"iso=%s%s live-media=%s", P, P, D, P, o->uuid, P, D);
			else
				add = xasprintf("iso-scan/filename=%s findiso=%s img_dev=%s img_loop=%s "
						"live-media=%s", P, P, D, P, D);
			i.why = xstrdup("family not recognised: the generic ISO words are added");
			break;
		}
	}
	if (o->replace_add && i.compat != ISO_COMPAT_NO) {
		free(add);
		add = xstrdup(o->replace_add);
		free(i.why);
		i.why = xstrdup("the ISO's signed kexec_iso_add.txt gives the words");
	}
	if (o->add && *o->add) {
		char *t = xasprintf("%s %s", add, o->add);
		free(add);
		add = t;
	}
	char *final = bootcfg_build_cmdline(params, add, o->remove, NULL, NULL);
	free(e->cmdline);
	e->cmdline = final;
	i.add = TAKE_PTR(add);
	*ret = i;
}

void iso_entry_info_free(struct iso_entry_info *i)
{
	free(i->add);
	free(i->why);
	memset(i, 0, sizeof(*i));
}

static bool is_config_name(const char *path)
{
	const char *b = strrchr(path, '/');
	size_t l;
	b = b ? b + 1 : path;
	l = strlen(b);
	if (l > 4 && (strcmp(b + l - 4, ".cfg") == 0 || strcmp(b + l - 4, ".lst") == 0))
		return true;
	if (l > 5 && strcmp(b + l - 5, ".conf") == 0)
		return true;
	return streq(b, "grubenv");
}

/* Create the image's tree under dirfd: directories, config files with their
 * bytes, every other file empty. */
static int shadow(struct iso_file *iso, const struct iso9660_tree *t, int dirfd)
{
	uint64_t copied = 0;
	int r;

	for (size_t i = 0; i < t->n; i++) {
		const struct iso9660_file *f = &t->v[i];
		const char *rel = f->path + 1;
		if (f->dir) {
			if (mkdirat(dirfd, rel, 0700) < 0 && errno != EEXIST)
				return log_error_errno(-errno, "ISO image: cannot mirror %s", f->path);
			continue;
		}
		_cleanup_close_ int out = openat(dirfd, rel, O_WRONLY | O_CREAT | O_EXCL |
						 O_NOFOLLOW | O_CLOEXEC, 0600);
		if (out < 0) {
			if (errno == EEXIST)
				continue; /* the same name twice in a directory */
			return log_error_errno(-errno, "ISO image: cannot mirror %s", f->path);
		}
		if (!is_config_name(f->path) || f->size > BOOTCFG_MAX_FILE)
			continue;
		if (copied + f->size > SHADOW_MAX_COPY)
			return log_error_errno(-E2BIG, "ISO image: configuration files larger than "
					       "%u bytes in all", SHADOW_MAX_COPY);
		_cleanup_free_ char *buf = NULL;
		size_t len;
		r = iso9660_read(iso_read_at, iso, f, BOOTCFG_MAX_FILE, &buf, &len);
		if (r < 0)
			return r;
		r = write_full(out, buf, len);
		if (r < 0)
			return log_error_errno(r, "ISO image: cannot mirror %s", f->path);
		copied += len;
	}
	return 0;
}

static void rm_tree_at(int dfd, const char *name, unsigned depth)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (!d) {
		if (fd >= 0)
			close(fd);
		(void)unlinkat(dfd, name, 0);
		return;
	}
	while ((de = readdir(d))) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno == EISDIR &&
		    depth <= ISO9660_MAX_DEPTH + 1)
			rm_tree_at(dirfd(d), de->d_name, depth + 1);
	}
	closedir(d);
	(void)unlinkat(dfd, name, AT_REMOVEDIR);
}

int iso_entries(struct iso_file *f, struct iso9660_tree *ret_tree, struct boot_entries *ret)
{
	struct iso9660_tree t = {0};
	const char *tmp = getenv("TMPDIR");
	_cleanup_free_ char *dir = xasprintf("%s/heads-iso-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	_cleanup_close_ int dfd = -1;
	struct boot_view *view = NULL;
	bool made = false;
	int r;

	r = iso9660_list(iso_read_at, f, f->size, &t);
	if (r < 0)
		return log_error_errno(r, "%s: not a readable ISO 9660 image", f->path);
	if (!mkdtemp(dir)) {
		r = log_error_errno(-errno, "cannot create a temporary directory");
		goto out;
	}
	made = true;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		r = log_error_errno(-errno, "%s", dir);
		goto out;
	}
	r = shadow(f, &t, dfd);
	if (r < 0)
		goto out;
	r = boot_view_open(dir, NULL, &view);
	if (r < 0)
		goto out;
	r = bootcfg_scan(view, ret);
	boot_view_free(view);
out:
	if (made)
		rm_tree_at(AT_FDCWD, dir, 0);
	if (r < 0 || !ret_tree)
		iso9660_tree_free(&t);
	else
		*ret_tree = t;
	return r;
}

int iso_locate(struct iso_file *f, char **ret_path, char **ret_device, char **ret_uuid)
{
	_cleanup_free_ char *link = xasprintf("/proc/self/fd/%d", f->fd);
	_cleanup_free_ char *self = NULL, *devname = NULL, *uuid = NULL;
	char buf[4096];
	struct stat st, pst;
	ssize_t n;
	size_t root = 0;

	if (fstat(f->fd, &st) < 0)
		return -errno;
	n = readlink(link, buf, sizeof(buf) - 1);
	if (n <= 0 || buf[0] != '/')
		return log_error_errno(-EINVAL, "%s: cannot tell its path", f->path);
	buf[n] = 0;
	self = xstrdup(buf);
	/* the mount root: the shortest directory prefix on the same device */
	root = (size_t)(strrchr(self, '/') - self);
	while (root > 0) {
		size_t p = root - 1;
		while (p > 0 && self[p] != '/')
			p--;
		_cleanup_free_ char *parent = p ? xstrndup(self, p) : xstrdup("/");
		if (stat(parent, &pst) < 0 || pst.st_dev != st.st_dev)
			break;
		root = p;
	}
	if (major(st.st_dev) == 0)
		return -ENODEV;
	_cleanup_free_ char *ue = xasprintf("/sys/dev/block/%u:%u/uevent", major(st.st_dev),
					     minor(st.st_dev));
	_cleanup_close_ int ufd = open(ue, O_RDONLY | O_CLOEXEC);
	if (ufd < 0)
		return -ENODEV;
	n = read(ufd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return -ENODEV;
	buf[n] = 0;
	for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n"))
		if (startswith(l, "DEVNAME=") && l[8] && !strstr(l + 8, "..") && !devname)
			devname = xasprintf("/dev/%s", l + 8);
	if (!devname)
		return -ENODEV;
	blkid_probe pr = blkid_new_probe_from_filename(devname);
	if (pr) {
		const char *v = NULL;
		blkid_probe_enable_superblocks(pr, 1);
		blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_UUID);
		if (blkid_do_safeprobe(pr) == 0 && blkid_probe_lookup_value(pr, "UUID", &v, NULL) == 0 &&
		    v && *v && !strpbrk(v, " /\t\n"))
			uuid = xstrdup(v);
		blkid_free_probe(pr);
	}
	if (ret_path)
		*ret_path = xstrdup(root ? self + root : self);
	if (ret_device)
		*ret_device = uuid ? xasprintf("/dev/disk/by-uuid/%s", uuid) : xstrdup(devname);
	if (ret_uuid)
		*ret_uuid = TAKE_PTR(uuid);
	return 0;
}

static void mark_path(struct iso_file *f, const struct iso9660_tree *t, const char *path)
{
	const struct iso9660_file *x = path ? iso9660_find(t, path) : NULL;
	if (x && !x->dir)
		iso_mark(f, x->offset, x->size);
}

void iso_mark_entries(struct iso_file *f, const struct iso9660_tree *t,
		      const struct boot_entries *l)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct boot_entry *e = &l->v[i];
		mark_path(f, t, e->kernel);
		for (size_t k = 0; k < e->n_initrd; k++)
			mark_path(f, t, e->initrd[k]);
		for (size_t k = 0; k < e->n_modules; k++)
			mark_path(f, t, e->modules[k].path);
	}
}

int iso_load(struct iso_file *f, const struct iso9660_tree *t, const char *path, uint64_t max,
	     int *ret_fd, uint64_t *ret_size, uint8_t ret_sha256[32])
{
	const struct iso9660_file *x = iso9660_find(t, path);
	_cleanup_free_ uint8_t *buf = NULL;
	_cleanup_close_ int mfd = -1;
	EVP_MD_CTX *md;
	unsigned int dl = 32;
	int r = 0;

	if (!x || x->dir)
		return log_error_errno(-ENOENT, "%s: no file %s in the image", f->path, path);
	if (x->size > max)
		return log_error_errno(-EFBIG, "%s: %s is larger than %llu bytes", f->path, path,
				       (unsigned long long)max);
	mfd = memfd_create("heads-iso-load", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0)
		return log_error_errno(-errno, "memfd_create");
	buf = xmalloc(ISO_CHUNK);
	md = EVP_MD_CTX_new();
	if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL))
		abort();
	for (uint64_t done = 0; done < x->size && r >= 0;) {
		size_t n = (size_t)(x->size - done < ISO_CHUNK ? x->size - done : ISO_CHUNK);
		r = iso_read_at(f, x->offset + done, n, buf);
		if (r >= 0) {
			EVP_DigestUpdate(md, buf, n);
			r = write_full(mfd, buf, n);
		}
		done += n;
	}
	EVP_DigestFinal_ex(md, ret_sha256, &dl);
	EVP_MD_CTX_free(md);
	if (r < 0)
		return log_error_errno(r, "%s: cannot load %s", f->path, path);
	if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0 ||
	    lseek(mfd, 0, SEEK_SET) < 0)
		return log_error_errno(-errno, "sealing the copy of %s", path);
	*ret_fd = TAKE_FD(mfd);
	*ret_size = x->size;
	return 0;
}

static int blob_from_iso(struct iso_file *f, const struct iso9660_tree *t, const char *path,
			 struct boot_blob *b)
{
	memset(b, 0, sizeof(*b));
	b->fd = -1;
	int r = iso_load(f, t, path, BOOT_VIEW_MAX_LOAD, &b->fd, &b->size, b->sha256);
	if (r < 0)
		return r;
	b->path = xstrdup(path);
	b->real = xasprintf(".%s", path);
	b->verified = f->checked;
	return 0;
}

int iso_plan_build(struct iso_file *f, const struct iso9660_tree *t, const struct boot_entry *e,
		   const char *board_add, struct kexec_plan *ret)
{
	struct kexec_plan p = {.kind = e->kind, .initrd_fd = -1, .verified = f->checked};
	int r;

	if (e->kind != BOOT_LINUX)
		return log_error_errno(-EOPNOTSUPP, "%s: %s: only Linux entries boot from an ISO file",
				       f->path, e->title);
	p.bootdir = xstrdup(f->path);
	p.kernel.fd = -1;
	r = blob_from_iso(f, t, e->kernel, &p.kernel);
	if (r < 0)
		goto fail;
	p.initrd = xcalloc(e->n_initrd ? e->n_initrd : 1, sizeof(*p.initrd));
	for (size_t i = 0; i < e->n_initrd; i++) {
		r = blob_from_iso(f, t, e->initrd[i], &p.initrd[i]);
		p.n_initrd = i + 1;
		if (r < 0)
			goto fail;
	}
	if (p.n_initrd == 1) {
		p.initrd_fd = p.initrd[0].fd;
	} else if (p.n_initrd > 1) {
		int mfd = memfd_create("heads-iso-initrds", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (mfd < 0) {
			r = log_error_errno(-errno, "memfd_create");
			goto fail;
		}
		p.initrd_fd = mfd;
		_cleanup_free_ uint8_t *buf = xmalloc(ISO_CHUNK);
		for (size_t i = 0; i < p.n_initrd && r >= 0; i++) {
			static const uint8_t pad[4];
			ssize_t n;
			if (lseek(p.initrd[i].fd, 0, SEEK_SET) < 0) {
				r = -errno;
				break;
			}
			while ((n = read(p.initrd[i].fd, buf, ISO_CHUNK)) > 0 && r >= 0)
				r = write_full(mfd, buf, (size_t)n);
			if (n < 0)
				r = -errno;
			if (r >= 0 && p.initrd[i].size % 4)
				r = write_full(mfd, pad, 4 - p.initrd[i].size % 4);
			(void)lseek(p.initrd[i].fd, 0, SEEK_SET);
		}
		if (r < 0 || lseek(mfd, 0, SEEK_SET) < 0) {
			r = log_error_errno(r < 0 ? r : -errno, "cannot concatenate the initrds");
			goto fail;
		}
	}
	p.cmdline = bootcfg_build_cmdline(e->cmdline, NULL, NULL, board_add, &p.cmdline_too_long);
	*ret = p;
	return 0;
fail:
	kexec_plan_free(&p);
	return r;
}
