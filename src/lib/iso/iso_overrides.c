/* iso_overrides.c - per-ISO kernel command-line overrides (reference
 * kexec-iso-init: kexec_iso_add.txt / kexec_iso_remove.txt beside a
 * kexec.sig), read without a shell. */
#include "iso/iso.h"
#include "boot/sig.h"
#include "boot/signed.h"
#include "fs.h"
#include "log.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OVERRIDE_MAX_FILE (64u * 1024)
#define OVERRIDE_MAX_FILES 64

static int cmp_file(const void *a, const void *b)
{
	return strcmp(((const struct boot_signed_file *)a)->name,
		      ((const struct boot_signed_file *)b)->name);
}

/* One line of words: $ISO_PATH/${ISO_PATH}, $DEV_UUID/${DEV_UUID} replaced;
 * any other '$' or a backquote refuses it (-EINVAL). */
static int expand(const char *name, const char *in, const char *iso_path, const char *uuid,
		  char **ret)
{
	static const struct { const char *a, *b; int which; } vars[] = {
		{"${ISO_PATH}", NULL, 0}, {"$ISO_PATH", NULL, 0},
		{"${DEV_UUID}", NULL, 1}, {"$DEV_UUID", NULL, 1},
	};
	size_t cap = strlen(in) * 2 + 64, o = 0;
	char *out = xmalloc(cap);

	for (const char *p = in; *p;) {
		bool done = false;
		for (size_t i = 0; i < ARRAY_SIZE(vars) && !done; i++) {
			size_t l = strlen(vars[i].a);
			if (strncmp(p, vars[i].a, l) != 0)
				continue;
			/* "$ISO_PATHX" is another variable */
			if (vars[i].a[1] != '{' && (p[l] == '_' || (p[l] >= 'A' && p[l] <= 'Z') ||
						    (p[l] >= 'a' && p[l] <= 'z') ||
						    (p[l] >= '0' && p[l] <= '9')))
				continue;
			const char *v = vars[i].which ? uuid : iso_path;
			if (!v) {
				free(out);
				return log_error_errno(-EINVAL, "%s: %s is not known for this medium",
						       name, vars[i].a);
			}
			size_t vl = strlen(v);
			if (o + vl + 1 > cap) {
				cap = (o + vl + 1) * 2;
				out = xrealloc(out, cap);
			}
			memcpy(out + o, v, vl);
			o += vl;
			p += l;
			done = true;
		}
		if (done)
			continue;
		if (*p == '$' || *p == '`') {
			free(out);
			return log_error_errno(-EINVAL, "%s: a shell expansion other than $ISO_PATH "
					       "and $DEV_UUID, refused", name);
		}
		if (o + 2 > cap) {
			cap *= 2;
			out = xrealloc(out, cap);
		}
		out[o++] = (*p == '\n' || *p == '\r' || *p == '\t') ? ' ' : *p;
		p++;
	}
	out[o] = 0;
	*ret = out;
	return 0;
}

void iso_overrides_free(struct iso_overrides *o)
{
	free(o->add);
	free(o->remove);
	memset(o, 0, sizeof(*o));
}

int iso_overrides_load(const char *dir, const char *keyring, const char *iso_path,
		       const char *uuid, struct iso_overrides *ret)
{
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct boot_signed_file files[OVERRIDE_MAX_FILES];
	_cleanup_free_ char *sig = NULL;
	size_t n = 0, sig_len = 0;
	struct sig_result res;
	DIR *d = NULL;
	struct dirent *de;
	int r = 0;

	memset(ret, 0, sizeof(*ret));
	if (dfd < 0)
		return errno == ENOENT ? 0 : log_error_errno(-errno, "%s", dir);
	int dup_fd = dup(dfd);
	if (dup_fd < 0 || !(d = fdopendir(dup_fd))) {
		if (dup_fd >= 0)
			close(dup_fd);
		return log_error_errno(-errno, "%s", dir);
	}
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		struct stat st;
		if (!startswith(de->d_name, "kexec") || l < 9 || strcmp(de->d_name + l - 4, ".txt"))
			continue;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (n == OVERRIDE_MAX_FILES) {
			r = log_error_errno(-E2BIG, "%s: more than %d kexec*.txt files", dir,
					    OVERRIDE_MAX_FILES);
			goto out;
		}
		_cleanup_close_ int fd = openat(dfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || fs_read_fd(fd, OVERRIDE_MAX_FILE, &files[n].data, &files[n].len) < 0) {
			r = log_error_errno(fd < 0 ? -errno : -EIO, "%s/%s", dir, de->d_name);
			goto out;
		}
		files[n++].name = xstrdup(de->d_name);
	}
	qsort(files, n, sizeof(*files), cmp_file);
	const struct boot_signed_file *add = NULL, *rm = NULL;
	for (size_t i = 0; i < n; i++) {
		if (streq(files[i].name, "kexec_iso_add.txt"))
			add = &files[i];
		else if (streq(files[i].name, "kexec_iso_remove.txt"))
			rm = &files[i];
	}
	if (!add && !rm)
		goto out;
	if (!keyring) {
		log_warn("%s: ISO overrides present but no keyring to check kexec.sig: ignored", dir);
		goto out;
	}
	r = sig_read_boot(dfd, &sig, &sig_len, &res);
	if (r > 0)
		r = sig_verify_files(keyring, sig, sig_len, files, n, &res);
	if (r < 0)
		goto out;
	r = 0;
	if (res.state != SIG_VERIFIED) {
		log_warn("%s: ISO overrides not used: kexec.sig %s%s%s", dir, sig_state_name(res.state),
			 res.detail[0] ? ": " : "", res.detail);
		goto out;
	}
	if (add && (r = expand("kexec_iso_add.txt", add->data, iso_path, uuid, &ret->add)) < 0)
		goto out;
	if (rm && (r = expand("kexec_iso_remove.txt", rm->data, iso_path, uuid, &ret->remove)) < 0)
		goto out;
	ret->present = true;
out:
	if (r < 0)
		iso_overrides_free(ret);
	for (size_t i = 0; i < n; i++) {
		free(files[i].name);
		free(files[i].data);
	}
	closedir(d);
	return r;
}
