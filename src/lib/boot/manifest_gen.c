/* manifest_gen.c - writing kexec_hashes.txt / kexec_tree.txt /
 * kexec_links.txt and the hash lines of named files (see manifest.h). */
#include "boot/manifest.h"
#include "boot/manifest-internal.h"
#include "codec.h"
#include "log.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <stdatomic.h>
#include <stdio.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

#include <openssl/evp.h>

/* ---- generation ------------------------------------------------------- */

struct buf {
	char *p;
	size_t n, cap;
};

static void buf_add(struct buf *b, const void *d, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, d, n);
	b->n += n;
	b->p[b->n] = '\0';
}

int manifest_generate(int bootfd, const struct manifest_scan *scan,
		      char **ret_hashes, size_t *ret_hashes_len,
		      char **ret_tree, size_t *ret_tree_len,
		      manifest_progress_fn progress, void *userdata)
{
	struct buf h = {0}, t = {0};
	char **files;
	uint64_t *sizes;
	uint8_t (*dig)[32];
	int *errs;
	size_t nf = 0;
	int r = 0;

	if (scan->n_unsignable) {
		_cleanup_free_ char *e = manifest_escape_name(scan->unsignable[0]);
		log_error("cannot sign /boot: name %s has a control byte, '\\' or a byte >= 0x7f "
			  "(%zu such name%s)", e, scan->n_unsignable,
			  scan->n_unsignable == 1 ? "" : "s");
		return -EINVAL;
	}
	files = xcalloc(scan->tree.n + 1, sizeof(char *));
	sizes = xcalloc(scan->tree.n + 1, sizeof(uint64_t));
	for (size_t i = 0; i < scan->tree.n; i++)
		if (scan->type[i] == MANIFEST_REG) {
			files[nf] = scan->tree.path[i];
			sizes[nf++] = scan->size[i];
		}
	dig = xcalloc(nf + 1, 32);
	errs = xcalloc(nf + 1, sizeof(int));
	r = manifest_hash_files(bootfd, files, sizes, nf, dig, errs, progress, userdata);
	for (size_t i = 0; r == 0 && i < nf; i++) {
		char hex[65];
		if (errs[i]) {
			r = log_error_errno(errs[i], "cannot hash %s", files[i]);
			break;
		}
		hex_encode(dig[i], 32, hex);
		buf_add(&h, hex, 64);
		buf_add(&h, "  ", 2);
		buf_add(&h, files[i], strlen(files[i]));
		buf_add(&h, "\n", 1);
	}
	for (size_t i = 0; r == 0 && i < scan->tree.n; i++)
		buf_add(&t, scan->tree.path[i], strlen(scan->tree.path[i]) + 1);
	free(files);
	free(sizes);
	free(dig);
	free(errs);
	if (r < 0) {
		free(h.p);
		free(t.p);
		return r;
	}
	*ret_hashes = h.p ? h.p : xstrdup("");
	*ret_hashes_len = h.n;
	*ret_tree = t.p ? t.p : xstrdup("");
	*ret_tree_len = t.n;
	return 0;
}

int manifest_generate_links(int bootfd, const struct manifest_scan *scan, char **ret,
			    size_t *ret_len)
{
	struct buf b = {0};

	for (size_t i = 0; i < scan->tree.n; i++) {
		char t[MANIFEST_MAX_PATH + 1];
		const char *p = scan->tree.path[i];
		ssize_t n;
		if (scan->type[i] != MANIFEST_SYMLINK)
			continue;
		n = readlinkat(bootfd, p + 2, t, sizeof(t));
		if (n <= 0 || (size_t)n > MANIFEST_MAX_PATH) {
			int r = n < 0 ? -errno : -EINVAL;
			free(b.p);
			return log_error_errno(r, "%s: symlink target %s", p,
						n < 0 ? "unreadable" : "empty or too long");
		}
		buf_add(&b, p, strlen(p) + 1);
		buf_add(&b, t, (size_t)n);
		buf_add(&b, "", 1);
	}
	*ret = b.p ? b.p : xstrdup("");
	*ret_len = b.n;
	return 0;
}

int manifest_hash_lines(int bootfd, char *const *paths, size_t n, char **ret,
			size_t *ret_len)
{
	struct buf b = {0};
	uint8_t (*dig)[32];
	int *errs, r = 0;

	for (size_t i = 0; i < n; i++)
		if (!manifest_path_valid(paths[i]) || streq(paths[i], "./") ||
		    !manifest_name_signable(paths[i])) {
			_cleanup_free_ char *e = manifest_escape_name(paths[i]);
			return log_error_errno(-EINVAL, "%s: not a path for a manifest", e);
		}
	dig = xcalloc(n + 1, 32);
	errs = xcalloc(n + 1, sizeof(int));
	r = manifest_hash_files(bootfd, paths, NULL, n, dig, errs, NULL, NULL);
	for (size_t i = 0; r == 0 && i < n; i++) {
		char hex[65];
		if (errs[i]) {
			r = log_error_errno(errs[i], "cannot hash %s", paths[i]);
			break;
		}
		hex_encode(dig[i], 32, hex);
		buf_add(&b, hex, 64);
		buf_add(&b, "  ", 2);
		buf_add(&b, paths[i], strlen(paths[i]));
		buf_add(&b, "\n", 1);
	}
	free(dig);
	free(errs);
	if (r < 0) {
		free(b.p);
		return r;
	}
	*ret = b.p ? b.p : xstrdup("");
	if (ret_len)
		*ret_len = b.n;
	return 0;
}
