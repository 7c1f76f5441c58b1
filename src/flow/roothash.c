/* flow/roothash.c - root file-system hashes (part of `heads menu`,
 * flow/menu.h): Options -> R (c check, u update), Config -> R (root device)
 * and D (directories). Reference heads-behaviour.md 9 (root-hashes-gui.sh)
 * and 3.1 (kexec_root_hashes.txt: sha256sum lines "<hex>  <dir>/<path>"
 * relative to the root file system, for the regular files of
 * CONFIG_ROOT_DIRLIST whose name does not contain "kexec").
 *
 * The root device (CONFIG_ROOT_DEV) is mounted read-only, nosuid, nodev,
 * noexec on a private directory: ext2/3/4, xfs or btrfs (the reference:
 * not btrfs; here btrfs's default subvolume). A LUKS container is opened
 * read-only with the Disk Recovery Key passphrase (libcryptsetup,
 * device-mapper: the payload) and closed after. Files are hashed with the
 * parallel hasher of the /boot manifests (boot/manifest.h: symlinks never
 * followed, bounded depth and entry count, memory bounded by the workers'
 * buffers), with a progress bar (bytes, files, ETA). The file is stored in
 * /boot and signed with it; a check reads it only from what kexec.sig
 * vouches for, and names the changed, new and missing files. */
#include "boot/manifest.h"
#include "flow/menu.h"
#include "fs.h"
#include "log.h"
#include "util.h"

#include <blkid/blkid.h>
#include <errno.h>
#include <fcntl.h>
#include <libcryptsetup.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ROOT_HASHES_FILE "kexec_root_hashes.txt"
#define ROOT_DIRLIST_DEFAULT "bin boot lib sbin usr"
#define ROOT_MAPPER "heads-root"
#define DRK_MAX 512

struct root_mount {
	char *dir;        /* the private mount point */
	bool luks_active; /* ROOT_MAPPER to close */
};

static char *probe_type(const char *dev)
{
	char *type = blkid_get_tag_value(NULL, "TYPE", dev);
	return type;
}

static void root_umount(struct root_mount *rm)
{
	if (rm->dir) {
		if (umount2(rm->dir, 0) < 0)
			(void)umount2(rm->dir, MNT_DETACH);
		(void)rmdir(rm->dir);
		free(rm->dir);
		rm->dir = NULL;
	}
	if (rm->luks_active) {
		struct crypt_device *cd = NULL;
		if (crypt_init_by_name(&cd, ROOT_MAPPER) == 0) {
			(void)crypt_deactivate(cd, ROOT_MAPPER);
			crypt_free(cd);
		}
		rm->luks_active = false;
	}
}

/* A LUKS root opened read-only as /dev/mapper/ROOT_MAPPER. 0, or <0 (said). */
static int open_luks(struct menu *m, const char *dev, struct root_mount *rm)
{
	struct crypt_device *cd = NULL;
	int r = crypt_init(&cd, dev);

	if (r == 0)
		r = crypt_load(cd, NULL, NULL);
	for (int attempt = 1; r == 0 && attempt <= 3; attempt++) {
		_cleanup_secret_ struct secret *pass = NULL;
		_cleanup_free_ char *p = xasprintf("Disk Recovery Key passphrase of %s%s", dev,
						   attempt > 1 ? " (wrong, again)" : "");
		r = ui_passphrase(m->ui, "Root file system", p, DRK_MAX, &pass);
		if (r < 0)
			break;
		r = crypt_activate_by_passphrase(cd, ROOT_MAPPER, CRYPT_ANY_SLOT,
						 (const char *)pass->data, pass->len,
						 CRYPT_ACTIVATE_READONLY);
		if (r >= 0) {
			rm->luks_active = true;
			r = 0;
			break;
		}
		if (r != -EPERM)
			break;
		r = attempt < 3 ? 0 : -EACCES;
	}
	if (cd)
		crypt_free(cd);
	if (r < 0 && !ui_gone(r))
		log_error_errno(r, "%s: opening the LUKS container", dev);
	return r;
}

/* The root file system mounted read-only: 0, or <0 (logged). */
static int root_mount(struct menu *m, struct root_mount *rm)
{
	const char *dev = config_get(&m->cfg, "CONFIG_ROOT_DEV");
	_cleanup_free_ char *type = NULL;
	char tmpl[] = "/tmp/heads-root-XXXXXX";
	int r;

	if (!dev || !*dev)
		return -ENODEV;
	type = probe_type(dev);
	if (type && streq(type, "crypto_LUKS")) {
		r = open_luks(m, dev, rm);
		if (r < 0)
			return r;
		dev = "/dev/mapper/" ROOT_MAPPER;
		free(type);
		type = probe_type(dev);
	}
	if (!type || !(streq(type, "ext4") || streq(type, "ext3") || streq(type, "ext2") ||
		       streq(type, "xfs") || streq(type, "btrfs"))) {
		log_error("%s: %s%s is not a root file system this build mounts (ext2/3/4, xfs, "
			  "btrfs)", dev, type ? "type " : "no file system found", type ? type : "");
		root_umount(rm);
		return -EMEDIUMTYPE;
	}
	if (!mkdtemp(tmpl)) {
		r = log_error_errno(-errno, "mkdtemp");
		root_umount(rm);
		return r;
	}
	rm->dir = xstrdup(tmpl);
	if (mount(dev, rm->dir, type, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  streq(type, "ext4") || streq(type, "ext3") ? "noload" : NULL) < 0) {
		r = log_error_errno(-errno, "mounting %s (%s) read-only", dev, type);
		root_umount(rm);
		return r;
	}
	log_info("%s (%s) mounted read-only on %s", dev, type, rm->dir);
	return 0;
}

struct progress {
	struct menu *m;
	time_t start, last;
};

static void progress_cb(void *u, uint64_t done, uint64_t total, size_t files, size_t nfiles)
{
	struct progress *p = u;
	time_t now = time(NULL);
	unsigned pct = total ? (unsigned)(done * 100 / total) : 100;
	unsigned long long eta = done && now > p->start ?
		(unsigned long long)((total - done) * (uint64_t)(now - p->start) / done) : 0;
	_cleanup_free_ char *t = NULL;

	if (now == p->last && done < total)
		return;
	p->last = now;
	t = xasprintf("%llu of %llu MiB, %zu of %zu files, about %llu s left",
		      (unsigned long long)(done >> 20), (unsigned long long)(total >> 20), files,
		      nfiles, eta);
	(void)ui_progress(p->m->ui, "Hashing the root file system", t, pct);
}

static int cmp_path(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct manifest_entry *)a)->path,
		      ((const struct manifest_entry *)b)->path);
}

static bool name_ok(const char *path)
{
	for (const unsigned char *c = (const unsigned char *)path; *c; c++)
		if (*c < 0x20 || *c == '\\' || *c == 0x7f)
			return false;
	return true;
}

/* The sha256sum lines of the directories of CONFIG_ROOT_DIRLIST beneath
 * rootfd, in C byte order of the path. <0 (logged): a name that cannot be
 * written in the format, an unreadable file, a scan limit. */
static int hash_dirs(struct menu *m, int rootfd, char **ret, size_t *ret_len)
{
	const char *list = config_get(&m->cfg, "CONFIG_ROOT_DIRLIST");
	_cleanup_free_ char *dirs = xstrdup(list && *list ? list : ROOT_DIRLIST_DEFAULT);
	char **paths = NULL;
	uint64_t *sizes = NULL;
	size_t n = 0, cap_p = 0, cap_s = 0, out_len = 0, out_cap = 0;
	uint8_t (*sha)[32] = NULL;
	int *errs = NULL, r = 0;
	char *out = NULL, *save = NULL;
	struct progress pr = {.m = m, .start = time(NULL)};

	for (char *d = strtok_r(dirs, " \t", &save); d && r == 0; d = strtok_r(NULL, " \t", &save)) {
		_cleanup_free_ char *dot = xasprintf("./%s", d);
		struct manifest_scan scan = {0};
		struct stat st;
		int fd;

		if (!manifest_path_valid(dot)) {
			r = log_error_errno(-EINVAL, "CONFIG_ROOT_DIRLIST: '%s' is not a directory "
					    "name beneath the root", d);
			break;
		}
		if (fstatat(rootfd, d, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode)) {
			log_warn("/%s: %s: not hashed", d, S_ISLNK(st.st_mode) ?
				 "a symbolic link (never followed)" : "not a directory");
			continue;
		}
		fd = openat(rootfd, d, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			r = log_error_errno(-errno, "/%s", d);
			break;
		}
		r = manifest_scan_dir(fd, &scan);
		close(fd);
		if (r < 0) {
			log_error_errno(r, "/%s: scanning", d);
			break;
		}
		for (size_t i = 0; i < scan.tree.n; i++) {
			const char *rel = scan.tree.path[i] + 2; /* "./x" */
			const char *base = strrchr(rel, '/');
			if (scan.type[i] != MANIFEST_REG || strstr(base ? base + 1 : rel, "kexec"))
				continue;
			if (!name_ok(rel)) {
				_cleanup_free_ char *e = manifest_escape_name(rel);
				r = log_error_errno(-EINVAL, "/%s/%s: a name the hash file cannot "
						    "hold", d, e);
				break;
			}
			paths = xgrow(paths, &cap_p, n + 1, sizeof(*paths));
			sizes = xgrow(sizes, &cap_s, n + 1, sizeof(*sizes));
			paths[n] = xasprintf("%s/%s", d, rel);
			sizes[n++] = scan.size[i];
		}
		manifest_scan_free(&scan);
	}
	if (r == 0) {
		/* C byte order: the file is the same for the same tree. */
		qsort(paths, n, sizeof(*paths), cmp_path);
		sha = xcalloc(n ? n : 1, sizeof(*sha));
		errs = xcalloc(n ? n : 1, sizeof(*errs));
		r = manifest_hash_files(rootfd, paths, sizes, n, sha, errs, progress_cb, &pr);
		ui_progress_end(m->ui);
	}
	for (size_t i = 0; r == 0 && i < n; i++) {
		size_t k = strlen(paths[i]);
		if (errs[i]) {
			r = log_error_errno(errs[i], "/%s: cannot hash", paths[i]);
			break;
		}
		/* one line: 64 hex, two spaces, the path, newline (and a NUL) */
		if (out_len + 64 + 2 + k + 2 > out_cap) {
			out_cap = 2 * (out_len + 64 + 2 + k + 2);
			out = xrealloc(out, out_cap);
		}
		for (unsigned j = 0; j < 32; j++)
			snprintf(out + out_len + 2 * j, 3, "%02x", sha[i][j]);
		out_len += 64;
		memcpy(out + out_len, "  ", 2);
		memcpy(out + out_len + 2, paths[i], k);
		out_len += 2 + k;
		out[out_len++] = '\n';
		out[out_len] = '\0';
	}
	if (r == 0) {
		*ret = out ? out : xstrdup("");
		*ret_len = out_len;
		log_info("root hashes: %zu files", n);
	} else {
		free(out);
	}
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	free(sizes);
	free(sha);
	free(errs);
	return r;
}

/* Mount, hash, unmount. */
static int compute(struct menu *m, char **ret, size_t *ret_len)
{
	struct root_mount rm = {0};
	_cleanup_close_ int fd = -1;
	int r = root_mount(m, &rm);

	if (r < 0)
		return r;
	fd = open(rm.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	r = fd < 0 ? log_error_errno(-errno, "%s", rm.dir) : hash_dirs(m, fd, ret, ret_len);
	if (fd >= 0)
		close(fd), fd = -1;
	root_umount(&rm);
	return r;
}

static enum flow_outcome failed(struct menu *m, const char *what, int r)
{
	_cleanup_free_ char *t = NULL;

	if (ui_gone(r))
		return FLOW_UI_GONE;
	t = r == -ENODEV ?
		xstrdup("No root device is configured (CONFIG_ROOT_DEV): set it in the "
			"configuration menu (R).") :
		xasprintf("%s failed: %s (see the log).", what, strerror(-r));
	return menu_gone_or_back(ui_msgbox(m->ui, UI_BG_ERROR, "Root hashes", t));
}

static enum flow_outcome update(struct menu *m)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	struct integrity_file f;
	int r;

	r = menu_verified_or_report(m, false) == FLOW_DONE ? 0 : -EBADMSG;
	if (r < 0)
		return FLOW_BACK; /* /boot must verify before it is re-signed */
	r = compute(m, &text, &len);
	if (r < 0)
		return failed(m, "Hashing the root file system", r);
	f = (struct integrity_file){.name = ROOT_HASHES_FILE, .data = text, .len = len};
	r = menu_sign_boot_with(m, INTEGRITY_SIGN_KEEP, NULL, NULL, &f, 1, false, NULL);
	if (r < 0)
		return failed(m, "Signing /boot with the root hashes", r);
	size_t files = 0;
	for (size_t i = 0; i < len; i++)
		files += text[i] == '\n';
	_cleanup_free_ char *t = xasprintf("The hashes of %zu files of the root file system are "
					   "in %s/%s, signed with /boot.", files, m->bootdir,
					   ROOT_HASHES_FILE);
	return menu_gone_or_back(ui_msgbox(m->ui, UI_BG_NORMAL, "Root hashes", t));
}

#define REPORT_MAX 1000 /* lines in the report; the counts are complete */

static void report_line(char **rep, size_t shown, const char *what, const char *path)
{
	if (shown < REPORT_MAX)
		str_appendf(rep, "%-8s /%s\n", what, path);
	else if (shown == REPORT_MAX)
		str_appendf(rep, "... (more: see the counts above)\n");
}

/* The signed file against the files now. 0 all match (*ret_text NULL), 1
 * differences (*ret_text: the report), <0 (logged). */
static int check(struct menu *m, char **ret_text)
{
	const struct boot_signed_file *sf;
	struct manifest a = {0}, b = {0};
	_cleanup_free_ char *now = NULL, *rep = NULL;
	size_t len = 0, line = 0, i = 0, j = 0, changed = 0, added = 0, missing = 0;
	int r;

	sf = boot_signed_file(m->signed_set, ROOT_HASHES_FILE);
	if (!sf)
		return -ENOENT;
	r = manifest_parse_hashes(sf->data, sf->len, &a, &line);
	if (r < 0)
		return log_error_errno(r, "%s/%s:%zu: malformed", m->bootdir, ROOT_HASHES_FILE, line);
	r = compute(m, &now, &len);
	if (r == 0 && (r = manifest_parse_hashes(now, len, &b, &line)) < 0)
		log_error_errno(r, "the new root hashes:%zu: malformed", line);
	if (r < 0) {
		manifest_free(&a);
		return r;
	}
	qsort(a.e, a.n, sizeof(*a.e), cmp_entry);
	qsort(b.e, b.n, sizeof(*b.e), cmp_entry);
	while (i < a.n || j < b.n) {
		int c = i == a.n ? 1 : j == b.n ? -1 : strcmp(a.e[i].path, b.e[j].path);
		if (c < 0) {
			report_line(&rep, changed + added + missing, "MISSING", a.e[i++].path);
			missing++;
		} else if (c > 0) {
			report_line(&rep, changed + added + missing, "NEW", b.e[j++].path);
			added++;
		} else {
			if (memcmp(a.e[i].sha256, b.e[j].sha256, 32) != 0) {
				report_line(&rep, changed + added + missing, "CHANGED", a.e[i].path);
				changed++;
			}
			i++, j++;
		}
	}
	log_info("root hashes: %zu checked, %zu changed, %zu new, %zu missing", a.n, changed,
		 added, missing);
	manifest_free(&a);
	manifest_free(&b);
	if (!rep)
		return 0;
	*ret_text = xasprintf("%zu changed, %zu new, %zu missing:\n\n%s", changed, added, missing,
			      rep);
	return 1;
}

static enum flow_outcome check_screen(struct menu *m)
{
	_cleanup_free_ char *rep = NULL;
	int r;

	if (menu_verified_or_report(m, false) != FLOW_DONE)
		return FLOW_BACK; /* the hash file is read only from a verified /boot */
	r = check(m, &rep);
	if (r == -ENOENT)
		return menu_gone_or_back(ui_msgbox(m->ui, UI_BG_WARNING, "Root hashes",
						   "There are no signed root hashes in /boot yet: "
						   "create them with u."));
	if (r < 0)
		return failed(m, "Checking the root file system", r);
	if (r == 0)
		return menu_gone_or_back(ui_msgbox(m->ui, UI_BG_NORMAL, "Root hashes",
						   "Every file of the root hashes matches."));
	log_error("root hashes: the root file system changed");
	return menu_gone_or_back(ui_textbox(m->ui, UI_BG_ERROR,
					    "ERROR: Root file system changed", rep));
}

enum flow_outcome menu_root_check_at_boot(struct menu *m)
{
	_cleanup_free_ char *rep = NULL;
	int r;

	if (!config_enabled(&m->cfg, "CONFIG_ROOT_CHECK_AT_BOOT"))
		return FLOW_DONE;
	r = check(m, &rep);
	if (r == 0)
		return FLOW_DONE;
	log_error("root check at boot failed: boot refused");
	if (r == -ENOENT)
		r = ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: Root check",
			      "The root check at boot is enabled but /boot holds no signed root "
			      "hashes: boot refused. Create them (Options -> R) or turn the check "
			      "off (configuration menu, B).");
	else if (r == 1)
		r = ui_textbox(m->ui, UI_BG_ERROR, "ERROR: Root file system changed, boot refused",
			       rep);
	else
		return failed(m, "The root check at boot (boot refused)", r);
	return menu_gone_or_back(r);
}

enum flow_outcome menu_root_hashes(struct menu *m)
{
	static const struct ui_item items[] = {
		{"c", "Check root hashes"},
		{"u", "Update (create) root hashes"},
		{"x", "Exit"},
	};
	const char *dev = config_get(&m->cfg, "CONFIG_ROOT_DEV");
	const char *dirs = config_get(&m->cfg, "CONFIG_ROOT_DIRLIST");
	_cleanup_free_ char *t = xasprintf("Root device: %s\nDirectories: %s",
					   dev && *dev ? dev : "(not set)",
					   dirs && *dirs ? dirs : ROOT_DIRLIST_DEFAULT);
	int r = ui_menu(m->ui, UI_BG_NORMAL, "Root disk verification", t, items,
			ARRAY_SIZE(items), 0);

	if (r == 0)
		return check_screen(m);
	if (r == 1)
		return update(m);
	return menu_outcome(m, r < 0 ? r : 0);
}

/* Config -> R / D: the settings, in RAM until saved. */
enum flow_outcome menu_config_root(struct menu *m, bool dirs)
{
	const char *key = dirs ? "CONFIG_ROOT_DIRLIST" : "CONFIG_ROOT_DEV";
	const char *cur = config_get(&m->cfg, key);
	_cleanup_free_ char *in = NULL;
	int r = ui_input(m->ui, dirs ? "Root directories to hash" : "Root device for hashing",
			 dirs ? "Directories of the root file system, separated by spaces:" :
				"Block device of the root file system (LUKS or plain):",
			 cur && *cur ? cur : dirs ? ROOT_DIRLIST_DEFAULT : "", &in);

	if (r == 0 && *in)
		r = menu_set_setting(m, key, in);
	return menu_outcome(m, r);
}
