/* libFuzzer target: kexec_links.txt as signed (hostile link targets) and a
 * path to resolve through it. Input: PATH NUL LINKS. The parser must never
 * crash or leak; resolution must end (links, loops, long targets) and give
 * either an error or a canonical "./" path with no "." or ".." component
 * and no "//", which is a signed file or directory. Nothing is read from
 * the file system but an empty directory. */
#include "boot/manifest.h"
#include "boot/signed.h"
#include "boot/view.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *dir(void)
{
	static char d[64];
	if (!d[0]) {
		strcpy(d, "/tmp/heads-fuzz-view-XXXXXX");
		if (!mkdtemp(d))
			abort();
	}
	return d;
}

static void check_canonical(const struct boot_view *v, const char *p)
{
	(void)v;
	if (!startswith(p, "./") || strstr(p, "//") || strstr(p, "/./") || strstr(p, "/../") ||
	    (strlen(p) > 2 && (p[strlen(p) - 1] == '/' || !strcmp(p + strlen(p) - 2, "/.") ||
			       !strcmp(p + strlen(p) - 3, "/.."))))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char tree[] = "./\0./a\0./a/b\0./a/b/k\0./boot\0./boot/vmlinuz-6.1\0./k\0";
	static const char hashes[] =
		"0000000000000000000000000000000000000000000000000000000000000000  ./a/b/k\n"
		"1111111111111111111111111111111111111111111111111111111111111111  ./boot/vmlinuz-6.1\n"
		"2222222222222222222222222222222222222222222222222222222222222222  ./k\n";
	const char *z = memchr(data, '\0', size);
	struct boot_signed s = {0};
	struct boot_view *v = NULL;
	size_t line;

	if (!z || size > 64 * 1024)
		return 0;
	if (manifest_parse_tree(tree, sizeof(tree) - 1, &s.tree, &line) < 0 ||
	    manifest_parse_hashes(hashes, sizeof(hashes) - 1, &s.hashes, &line) < 0)
		abort();
	if (manifest_parse_links(z + 1, size - (size_t)(z + 1 - (const char *)data), &s.links,
				 &line) == 0) {
		s.has_links = true;
		/* the signed tree lists every link */
		for (size_t i = 0; i < s.links.n; i++) {
			s.tree.path = xrealloc(s.tree.path, (s.tree.n + 1) * sizeof(char *));
			s.tree.path[s.tree.n++] = xstrdup(s.links.l[i].path);
		}
		if (boot_view_open(dir(), &s, &v) < 0)
			abort();
		char *real = NULL;
		uint8_t md[32];
		if (boot_view_resolve(v, (const char *)data, &real) == 0) {
			check_canonical(v, real);
			if (boot_view_stat(v, (const char *)data) == BOOT_VIEW_NONE)
				abort();
			free(real);
		}
		if (boot_view_signed_digest(v, (const char *)data, md, &real) == 0) {
			check_canonical(v, real);
			free(real);
		}
		boot_view_free(v);
	}
	boot_signed_free(&s);
	return 0;
}
