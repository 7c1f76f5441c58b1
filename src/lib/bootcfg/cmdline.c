/* bootcfg/cmdline.c - the final kernel command line (heads-behaviour.md 4.5
 * _build_final_cmdline; see bootcfg.h). */
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

/* ---- final command line -------------------------------------------------- */

struct words {
	char **v;
	size_t n;
};

static void words_split(struct words *w, const char *s)
{
	while (s && *s) {
		while (is_ws(*s))
			s++;
		if (!*s)
			break;
		const char *e = s;
		while (*e && !is_ws(*e))
			e++;
		if (!(e - s == 3 && strncmp(s, "---", 3) == 0)) {
			w->v = xrealloc(w->v, (w->n + 1) * sizeof(char *));
			w->v[w->n++] = xstrndup(s, e - s);
		}
		s = e;
	}
}

static void words_free(struct words *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(w->v[i]);
	free(w->v);
	w->v = NULL;
	w->n = 0;
}

static bool words_has(const struct words *w, const char *s)
{
	for (size_t i = 0; i < w->n; i++)
		if (w->v[i] && streq(w->v[i], s))
			return true;
	return false;
}

static void words_remove_all(struct words *w, const struct words *rm)
{
	for (size_t i = 0; i < w->n; i++)
		if (w->v[i] && words_has(rm, w->v[i])) {
			free(w->v[i]);
			w->v[i] = NULL;
		}
}

static size_t keylen(const char *w)
{
	const char *eq = strchr(w, '=');
	return eq ? (size_t)(eq - w) : strlen(w);
}

char *bootcfg_build_cmdline(const char *params, const char *add, const char *remove,
			    const char *board_add, bool *ret_too_long)
{
	static const char *const iso_keys[] = {"iso-scan/filename", "findiso", "img_dev",
					       "img_loop", "iso", "live-media"};
	struct words wadd = {0}, wpar = {0}, wrm = {0}, wboard = {0}, out = {0};
	struct sbuf b = {0};

	words_split(&wadd, add);
	words_split(&wpar, params);
	words_split(&wrm, remove);
	words_split(&wboard, board_add);
	words_remove_all(&wadd, &wrm);
	words_remove_all(&wpar, &wrm);
	words_remove_all(&wboard, &wrm);

	/* Keys forced by add: drop them from params, keep add's first value. */
	for (size_t k = 0; k < ARRAY_SIZE(iso_keys); k++) {
		size_t kl = strlen(iso_keys[k]);
		bool in_add = false;
		for (size_t i = 0; i < wadd.n; i++) {
			if (!wadd.v[i] || keylen(wadd.v[i]) != kl || strncmp(wadd.v[i], iso_keys[k], kl))
				continue;
			if (in_add) {
				free(wadd.v[i]);
				wadd.v[i] = NULL;
			}
			in_add = true;
		}
		if (!in_add)
			continue;
		for (size_t i = 0; i < wpar.n; i++)
			if (wpar.v[i] && keylen(wpar.v[i]) == kl &&
			    strncmp(wpar.v[i], iso_keys[k], kl) == 0) {
				free(wpar.v[i]);
				wpar.v[i] = NULL;
			}
	}
	for (size_t i = 0; i < wadd.n; i++)
		if (wadd.v[i]) {
			out.v = xrealloc(out.v, (out.n + 1) * sizeof(char *));
			out.v[out.n++] = xstrdup(wadd.v[i]);
		}
	for (size_t i = 0; i < wpar.n; i++)
		if (wpar.v[i]) {
			out.v = xrealloc(out.v, (out.n + 1) * sizeof(char *));
			out.v[out.n++] = xstrdup(wpar.v[i]);
		}
	for (size_t i = 0; i < wboard.n; i++)
		if (wboard.v[i] && !words_has(&out, wboard.v[i])) {
			out.v = xrealloc(out.v, (out.n + 1) * sizeof(char *));
			out.v[out.n++] = xstrdup(wboard.v[i]);
		}
	for (size_t i = 0; i < out.n; i++) {
		if (i)
			sb_putc(&b, ' ');
		sb_puts(&b, out.v[i]);
	}
	words_free(&wadd);
	words_free(&wpar);
	words_free(&wrm);
	words_free(&wboard);
	words_free(&out);
	if (ret_too_long)
		*ret_too_long = b.len > BOOTCFG_MAX_CMDLINE;
	if (b.len > BOOTCFG_MAX_CMDLINE)
		log_warn("kernel command line is %zu bytes (more than %d)", b.len,
			 BOOTCFG_MAX_CMDLINE);
	return sb_take(&b);
}
