/* manifest_verify.c - comparing /boot with its manifests: hashes, tree and
 * signed links, issues collected in a report (see manifest.h). */
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

/* ---- verification ----------------------------------------------------- */

const char *manifest_issue_kind_name(enum manifest_issue_kind k)
{
	switch (k) {
	case MANIFEST_CHANGED: return "changed";
	case MANIFEST_MISSING: return "missing";
	case MANIFEST_NEW: return "new";
	case MANIFEST_NOT_REGULAR: return "not a regular file";
	case MANIFEST_UNREADABLE: return "unreadable";
	}
	return "?";
}

size_t manifest_report_count(const struct manifest_report *r, enum manifest_issue_kind k)
{
	size_t c = 0;
	for (size_t i = 0; i < r->n_issue; i++)
		c += r->issue[i].kind == k;
	return c;
}

void manifest_report_free(struct manifest_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_issue; i++) {
		free(r->issue[i].path);
		free(r->issue[i].detail);
	}
	free(r->issue);
	for (size_t i = 0; i < r->n_unbound; i++)
		free(r->unbound[i]);
	free(r->unbound);
	memset(r, 0, sizeof(*r));
}

static void add_issue_d(struct manifest_report *r, size_t *cap, enum manifest_issue_kind k,
			const char *path, int err, char *detail)
{
	if (r->n_issue == *cap) {
		*cap = *cap ? 2 * *cap : 16;
		r->issue = xrealloc(r->issue, *cap * sizeof(*r->issue));
	}
	r->issue[r->n_issue++] = (struct manifest_issue){k, xstrdup(path), err, detail};
}

static void add_issue(struct manifest_report *r, size_t *cap, enum manifest_issue_kind k,
		      const char *path, int err)
{
	add_issue_d(r, cap, k, path, err, NULL);
}

void manifest_report_add(struct manifest_report *r, enum manifest_issue_kind k,
			 const char *path, const char *detail)
{
	size_t cap = r->n_issue; /* grows on every add: fine for the few callers */
	add_issue_d(r, &cap, k, path, 0, detail ? xstrdup(detail) : NULL);
}

static int cmp_issue(const void *a, const void *b)
{
	const struct manifest_issue *x = a, *y = b;
	int c = strcmp(x->path, y->path);
	return c ? c : (int)x->kind - (int)y->kind;
}

/* Index of path in the sorted scan, or -1. */
static long scan_find(const struct manifest_scan *s, const char *path)
{
	size_t lo = 0, hi = s->tree.n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(s->tree.path[mid], path);
		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* Normalise a sha256sum name to our "./x" form for lookup. */
static char *norm_path(const char *p)
{
	if (startswith(p, "./"))
		return xstrdup(p);
	if (p[0] == '/')
		return NULL; /* absolute names are never in a Heads manifest */
	return xasprintf("./%s", p);
}

int manifest_verify(int bootfd, const struct manifest *hashes,
		    const struct manifest_tree *tree, struct manifest_report *ret,
		    manifest_progress_fn progress, void *userdata)
{
	return manifest_verify_links(bootfd, hashes, tree, MANIFEST_LINKS_IGNORE, NULL, ret,
				     progress, userdata);
}

static char *read_link(int bootfd, const char *path)
{
	char buf[MANIFEST_MAX_PATH + 1];
	const char *rel = startswith(path, "./") ? path + 2 : path;
	ssize_t n = readlinkat(bootfd, rel, buf, sizeof(buf));
	if (n < 0 || (size_t)n > MANIFEST_MAX_PATH)
		return NULL;
	buf[n] = '\0';
	return xstrdup(buf);
}

/* The signed link table against the scan: every signed link must still be
 * a symlink with the same target; every symlink of the scan must be signed. */
static void check_links(int bootfd, const struct manifest_scan *s,
			const struct manifest_links *links, struct manifest_report *rep,
			size_t *cap)
{
	for (size_t i = 0; i < links->n; i++) {
		const struct manifest_link *l = &links->l[i];
		long k = scan_find(s, l->path);
		if (k < 0) {
			add_issue_d(rep, cap, MANIFEST_MISSING, l->path, 0,
				    xasprintf("symlink -> %s is gone", l->target));
		} else if (s->type[k] != MANIFEST_SYMLINK) {
			add_issue_d(rep, cap, MANIFEST_NOT_REGULAR, l->path, 0,
				    xasprintf("was a symlink -> %s, now a %s", l->target,
					      s->type[k] == MANIFEST_DIR ? "directory" :
					      s->type[k] == MANIFEST_REG ? "regular file" :
					      "special file"));
		} else {
			_cleanup_free_ char *t = read_link(bootfd, l->path);
			if (!t || !streq(t, l->target)) {
				_cleanup_free_ char *e = t ? manifest_escape_name(t) : NULL;
				add_issue_d(rep, cap, MANIFEST_CHANGED, l->path, 0,
					    xasprintf("symlink was -> %s, now -> %s", l->target,
						      e ? e : "(unreadable)"));
			}
		}
	}
	for (size_t k = 0; k < s->tree.n; k++) {
		const char *p = s->tree.path[k];
		size_t lo = 0, hi = links->n;
		bool found = false;
		if (s->type[k] != MANIFEST_SYMLINK)
			continue;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			int c = strcmp(links->l[mid].path, p);
			if (c == 0) {
				found = true;
				break;
			}
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (!found) {
			_cleanup_free_ char *t = read_link(bootfd, p);
			_cleanup_free_ char *e = t ? manifest_escape_name(t) : NULL;
			add_issue_d(rep, cap, MANIFEST_NEW, p, 0,
				    xasprintf("symlink -> %s is not in %s", e ? e : "?",
					      MANIFEST_LINKS_FILE));
		}
	}
}

int manifest_verify_links(int bootfd, const struct manifest *hashes,
			  const struct manifest_tree *tree, enum manifest_links_mode mode,
			  const struct manifest_links *links, struct manifest_report *ret,
			  manifest_progress_fn progress, void *userdata)
{
	struct manifest_scan s = {0};
	struct manifest_report rep = {0};
	size_t cap = 0;
	int r;

	r = manifest_scan_dir(bootfd, &s);
	if (r < 0)
		return r;

	if (hashes) {
		char **paths = xcalloc(hashes->n + 1, sizeof(char *));
		uint64_t *sizes = xcalloc(hashes->n + 1, sizeof(uint64_t));
		size_t *which = xcalloc(hashes->n + 1, sizeof(size_t));
		uint8_t (*dig)[32] = xcalloc(hashes->n + 1, 32);
		int *errs = xcalloc(hashes->n + 1, sizeof(int));
		size_t nh = 0;

		for (size_t i = 0; i < hashes->n; i++) {
			char *p = norm_path(hashes->e[i].path);
			long k = p && manifest_path_valid(p) ? scan_find(&s, p) : -1;
			if (k < 0) {
				/* Not in the scanned tree (absent, under a
				 * symlinked directory, or under an excluded
				 * ./kexec* path): missing. */
				add_issue(&rep, &cap, MANIFEST_MISSING, p ? p : hashes->e[i].path, 0);
				free(p);
				continue;
			}
			if (s.type[k] != MANIFEST_REG) {
				add_issue(&rep, &cap, MANIFEST_NOT_REGULAR, p, 0);
				free(p);
				continue;
			}
			paths[nh] = p;
			sizes[nh] = s.size[k];
			which[nh++] = i;
		}
		r = manifest_hash_files(bootfd, paths, sizes, nh, dig, errs, progress, userdata);
		for (size_t i = 0; r == 0 && i < nh; i++) {
			const struct manifest_entry *e = &hashes->e[which[i]];
			if (errs[i] == -ENOENT)
				add_issue(&rep, &cap, MANIFEST_MISSING, paths[i], 0);
			else if (errs[i] == -ELOOP || errs[i] == -EINVAL || errs[i] == -EISDIR)
				add_issue(&rep, &cap, MANIFEST_NOT_REGULAR, paths[i], 0);
			else if (errs[i])
				add_issue(&rep, &cap, MANIFEST_UNREADABLE, paths[i], errs[i]);
			else if (memcmp(dig[i], e->sha256, 32) != 0)
				add_issue(&rep, &cap, MANIFEST_CHANGED, paths[i], 0);
			else
				rep.bytes_hashed += sizes[i];
		}
		rep.files_checked = hashes->n;
		for (size_t i = 0; i < nh; i++)
			free(paths[i]);
		free(paths);
		free(sizes);
		free(which);
		free(dig);
		free(errs);
		if (r < 0)
			goto fail;
	}

	if (tree) {
		char **signed_sorted = xcalloc(tree->n + 1, sizeof(char *));
		memcpy(signed_sorted, tree->path, tree->n * sizeof(char *));
		qsort(signed_sorted, tree->n, sizeof(char *), manifest_cmp_str);
		size_t i = 0, k = 0;
		while (i < tree->n || k < s.tree.n) {
			int c;
			if (i < tree->n && i > 0 && streq(signed_sorted[i], signed_sorted[i - 1])) {
				i++;
				continue;
			}
			if (i >= tree->n)
				c = 1;
			else if (k >= s.tree.n)
				c = -1;
			else
				c = strcmp(signed_sorted[i], s.tree.path[k]);
			if (c == 0) {
				i++;
				k++;
			} else if (c < 0) {
				add_issue(&rep, &cap, MANIFEST_MISSING, signed_sorted[i++], 0);
			} else {
				add_issue(&rep, &cap, MANIFEST_NEW, s.tree.path[k++], 0);
			}
		}
		free(signed_sorted);
	}
	if (mode == MANIFEST_LINKS_CHECK) {
		static const struct manifest_links none;
		check_links(bootfd, &s, links ? links : &none, &rep, &cap);
	} else if (mode == MANIFEST_LINKS_UNBOUND) {
		size_t ucap = 0;
		for (size_t k = 0; k < s.tree.n; k++) {
			if (s.type[k] != MANIFEST_SYMLINK)
				continue;
			if (rep.n_unbound == ucap) {
				ucap = ucap ? 2 * ucap : 8;
				rep.unbound = xrealloc(rep.unbound, ucap * sizeof(char *));
			}
			rep.unbound[rep.n_unbound++] = xstrdup(s.tree.path[k]);
		}
	}
	if (rep.n_issue) {
		/* Sort (stable for equal keys: the first, with its detail,
		 * is kept), then keep one issue per (path, kind). */
		size_t w = 1;
		qsort(rep.issue, rep.n_issue, sizeof(*rep.issue), cmp_issue);
		for (size_t i = 1; i < rep.n_issue; i++) {
			if (cmp_issue(&rep.issue[i], &rep.issue[w - 1]) == 0) {
				if (!rep.issue[w - 1].detail) {
					rep.issue[w - 1].detail = rep.issue[i].detail;
					rep.issue[i].detail = NULL;
				}
				free(rep.issue[i].path);
				free(rep.issue[i].detail);
			} else {
				rep.issue[w++] = rep.issue[i];
			}
		}
		rep.n_issue = w;
	}
	manifest_scan_free(&s);
	*ret = rep;
	return 0;
fail:
	manifest_scan_free(&s);
	manifest_report_free(&rep);
	return r;
}
