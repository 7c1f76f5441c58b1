/* libFuzzer target: the NUL-separated parsers, kexec_tree.txt and
 * kexec_links.txt, must never crash or leak; every accepted path is a valid
 * "./" path, links are sorted with non-empty targets, and both re-serialise
 * to exactly the input. */
#include "boot/manifest.h"
#include "util.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct manifest_tree t;
	size_t e = 0;

	if (size > 256 * 1024)
		return 0;
	if (manifest_parse_tree((const char *)data, size, &t, &e) == 0) {
		size_t len = 0;
		for (size_t i = 0; i < t.n; i++) {
			if (!manifest_path_valid(t.path[i]))
				abort();
			len += strlen(t.path[i]) + 1;
		}
		if (len != size)
			abort();
		manifest_tree_free(&t);
	} else if (e == 0) {
		abort();
	}
	{
		struct manifest_links l;
		e = 0;
		if (manifest_parse_links((const char *)data, size, &l, &e) == 0) {
			size_t len = 0;
			for (size_t i = 0; i < l.n; i++) {
				if (!manifest_path_valid(l.l[i].path) || !*l.l[i].target ||
				    (i && strcmp(l.l[i - 1].path, l.l[i].path) >= 0))
					abort();
				len += strlen(l.l[i].path) + strlen(l.l[i].target) + 2;
			}
			if (len != size)
				abort();
			manifest_links_free(&l);
		} else if (e == 0) {
			abort();
		}
	}
	return 0;
}
