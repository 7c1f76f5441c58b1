/* bootcfg/default.c - the default entry: kexec_default.N.txt and
 * kexec_default_hashes.txt made in memory, loaded from a directory or from
 * the signed set (see bootcfg.h). */
#include "bootcfg.h"
#include "internal.h"
#include "codec.h"
#include "fs.h"
#include "log.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* ---- default entry persistence ------------------------------------------- */

static int add_hash_line(struct sbuf *b, struct boot_view *view, const char *rel)
{
	_cleanup_free_ char *real = NULL;
	uint8_t md[32];
	char hex[65];
	int r;

	if (!path_ok(rel))
		return log_error_errno(-EINVAL, "'%s': a path with whitespace or control bytes "
				       "cannot be saved", rel);
	if (boot_view_verified(view)) {
		r = boot_view_signed_digest(view, rel, md, &real);
	} else {
		struct boot_blob blob = {.fd = -1};
		r = boot_view_load(view, rel, &blob);
		if (r == 0) {
			memcpy(md, blob.sha256, 32);
			real = TAKE_PTR(blob.real);
		}
		boot_blob_free(&blob);
	}
	if (r < 0)
		return log_error_errno(r, "cannot hash %s in %s", rel, boot_view_dir(view));
	/* the file it resolves to: what is checked without following links */
	hex_encode(md, 32, hex);
	sb_puts(b, hex);
	sb_puts(b, "  ");
	sb_puts(b, real);
	sb_putc(b, '\n');
	return 0;
}

/* N of "kexec_default.N.txt" (1..100000), 0 if name is not one. */
static unsigned default_index(const char *name)
{
	size_t l = strlen(name);
	unsigned long long idx = 0;
	if (!startswith(name, "kexec_default.") || l <= 18 || !streq(name + l - 4, ".txt"))
		return 0;
	_cleanup_free_ char *num = xstrndup(name + 14, l - 18);
	if (strspn(num, "0123456789") != strlen(num) || parse_uint(num, 100000, &idx) < 0)
		return 0;
	return (unsigned)idx;
}

void bootcfg_default_files_free(struct bootcfg_default_files *d)
{
	free(d->name);
	free(d->line);
	free(d->hashes);
	memset(d, 0, sizeof(*d));
}

int bootcfg_default_files(struct boot_view *view, const struct boot_entry *e, unsigned index1,
			  struct bootcfg_default_files *ret)
{
	struct sbuf hashes = {0};
	_cleanup_free_ char *line = NULL;
	int r;

	if (index1 == 0 || !e->kernel)
		return -EINVAL;
	r = add_hash_line(&hashes, view, e->kernel);
	for (size_t i = 0; r == 0 && i < e->n_modules; i++)
		r = add_hash_line(&hashes, view, e->modules[i].path);
	for (size_t i = 0; r == 0 && i < e->n_initrd; i++)
		r = add_hash_line(&hashes, view, e->initrd[i]);
	if (r < 0) {
		sb_free(&hashes);
		return r;
	}
	line = boot_entry_to_line(e);
	ret->name = xasprintf("kexec_default.%u.txt", index1);
	ret->line = xasprintf("%s\n", line);
	ret->line_len = strlen(ret->line);
	ret->hashes_len = hashes.len;
	ret->hashes = sb_take(&hashes);
	return 0;
}

static int parse_default(const char *name, const char *text, size_t len, struct boot_entry *ret)
{
	int r;
	if (strlen(text) != len)
		return log_error_errno(-EINVAL, "%s: NUL byte", name);
	r = boot_entry_from_line(text, ret);
	if (r < 0)
		return log_error_errno(r, "%s: malformed entry", name);
	return 0;
}

int bootcfg_load_default(const char *paramsdir, struct boot_entry *ret, unsigned *ret_index1)
{
	DIR *d = opendir(paramsdir);
	struct dirent *de;
	_cleanup_free_ char *found = NULL;
	unsigned idx = 0;
	int n = 0, r;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		unsigned i = default_index(de->d_name);
		if (!i)
			continue;
		n++;
		idx = i;
		free(found);
		found = xstrdup(de->d_name);
	}
	closedir(d);
	if (n == 0)
		return -ENOENT;
	if (n > 1)
		return log_error_errno(-EINVAL, "%s: several kexec_default.N.txt files", paramsdir);
	_cleanup_free_ char *path = xasprintf("%s/%s", paramsdir, found), *text = NULL;
	size_t len;
	r = fs_read_file(path, FS_SMALL_FILE_MAX, &text, &len);
	if (r < 0)
		return log_error_errno(r, "cannot read %s", path);
	r = parse_default(path, text, len, ret);
	if (r == 0)
		*ret_index1 = idx;
	return r;
}

int bootcfg_signed_default(const struct boot_signed *s, struct boot_entry *ret,
			   unsigned *ret_index1)
{
	const struct boot_signed_file *found = NULL;
	unsigned idx = 0;
	int n = 0, r;

	for (size_t i = 0; i < s->n_files; i++) {
		unsigned k = default_index(s->files[i].name);
		if (!k)
			continue;
		n++;
		idx = k;
		found = &s->files[i];
	}
	if (n == 0)
		return -ENOENT;
	if (n > 1)
		return log_error_errno(-EINVAL, "several signed kexec_default.N.txt files");
	r = parse_default(found->name, found->data, found->len, ret);
	if (r == 0)
		*ret_index1 = idx;
	return r;
}
