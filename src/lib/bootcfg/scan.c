/* bootcfg/scan.c - the parser table, format detection and discovery of
 * configuration files in a view (see bootcfg.h). */
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

/* ---- dispatch --------------------------------------------------------- */

/* In the order auto-detection asks them (a BLS directory or loader.conf
 * before names; GRUB, without a claim, takes the rest). */
static const struct bc_parser *const parsers[] = {
	&bc_parser_bls,
	&bc_parser_grub_legacy,
	&bc_parser_syslinux,
	&bc_parser_grub,
};

static const struct bc_parser *parser_for(struct boot_view *view, const char *config,
					  enum bootcfg_format fmt)
{
	for (size_t i = 0; i < ARRAY_SIZE(parsers); i++) {
		const struct bc_parser *p = parsers[i];
		if (fmt != BOOTCFG_AUTO ? p->format == fmt : !p->claims || p->claims(view, config))
			return p;
	}
	return &bc_parser_grub;
}

int bootcfg_parse(struct boot_view *view, const char *config, enum bootcfg_format fmt,
		  struct boot_entries *ret)
{
	if (ret->n == 0 && !ret->default_id)
		ret->default_index = -1;
	if (fs_has_dotdot(config))
		return log_error_errno(-EXDEV, "%s: '..' not allowed", config);
	return parser_for(view, config, fmt)->parse(view, config, ret);
}

/* ---- discovery ------------------------------------------------------------ */

struct found {
	char **v;
	size_t n;
};

static bool config_name(const char *n)
{
	return streq(n, "grub.cfg") || streq(n, "isolinux.cfg") || streq(n, "loopback.cfg") ||
	       streq(n, "syslinux.cfg") || streq(n, "extlinux.conf");
}

/* Configuration files under rel, as the view lists them (a verified view
 * lists only the signed tree; top-level kexec* names never); symlinks are
 * not followed. */
static void find_configs(struct boot_view *view, const char *rel, int depth, struct found *f)
{
	struct boot_view_dirent *de = NULL;
	size_t n = 0;

	if (depth > 6 || f->n > 64 || boot_view_list(view, *rel ? rel : "/", &de, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		const char *name = de[i].name;
		if (name[0] == '.')
			continue;
		_cleanup_free_ char *child = *rel ? xasprintf("%s/%s", rel, name) : xstrdup(name);
		if (de[i].type == BOOT_VIEW_DIR) {
			find_configs(view, child, depth + 1, f);
		} else if (de[i].type == BOOT_VIEW_FILE && config_name(name)) {
			f->v = xrealloc(f->v, (f->n + 1) * sizeof(char *));
			f->v[f->n++] = TAKE_PTR(child);
		}
	}
	boot_view_dirents_free(de, n);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool same_entry(const struct boot_entry *a, const struct boot_entry *b)
{
	_cleanup_free_ char *la = boot_entry_to_line(a), *lb = boot_entry_to_line(b);
	return streq(la, lb);
}

int bootcfg_scan(struct boot_view *view, struct boot_entries *ret)
{
	struct found f = {0};
	struct boot_entries all = {.default_index = -1};
	int r = 0;

	find_configs(view, "", 0, &f);
	if (f.n)
		qsort(f.v, f.n, sizeof(char *), cmp_str);
	for (int pass = 0; pass < 2 && all.n == 0; pass++) {
		for (size_t i = 0; i < f.n; i++) {
			/* EFI copies and ISO loopback.cfg only when nothing else boots */
			bool late = strcasestr(f.v[i], "efi") != NULL ||
				    strstr(f.v[i], "loopback.cfg") != NULL;
			if (late != (pass == 1))
				continue;
			struct boot_entries one = {.default_index = -1};
			int q = bootcfg_parse(view, f.v[i], BOOTCFG_AUTO, &one);
			if (q < 0)
				log_warn("%s: skipped (%s)", f.v[i], strerror(-q));
			for (size_t j = 0; j < one.n; j++) {
				bool dup = false;
				for (size_t k = 0; k < all.n && !dup; k++)
					dup = same_entry(&all.v[k], &one.v[j]);
				if (dup)
					continue;
				if (!all.default_id && (long)j == one.default_index) {
					all.default_id = xstrdup(one.default_id ? one.default_id : "");
					all.default_index = (long)all.n;
				}
				all.v = xrealloc(all.v, (all.n + 1) * sizeof(*all.v));
				all.v[all.n++] = one.v[j];
				memset(&one.v[j], 0, sizeof(one.v[j]));
			}
			boot_entries_free(&one);
		}
	}
	if (all.n == 0 && (bc_exists(view, "/loader/entries", true) ||
			   bc_exists(view, "/boot/loader/entries", true)))
		r = bootcfg_parse(view, "/loader", BOOTCFG_BLS, &all);
	for (size_t i = 0; i < f.n; i++)
		free(f.v[i]);
	free(f.v);
	if (r < 0) {
		boot_entries_free(&all);
		return r;
	}
	*ret = all;
	return 0;
}
