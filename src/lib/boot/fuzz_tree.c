/* libFuzzer target: the kexec_tree.txt parser must never crash or leak, and
 * every accepted entry is a valid "./" path that re-serialises identically. */
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
	return 0;
}
