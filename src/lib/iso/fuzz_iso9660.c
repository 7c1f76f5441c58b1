/* libFuzzer target: the ISO 9660 reader (iso9660_list_mem) must stay inside
 * the image, respect its bounds, and only produce clean absolute paths.
 * The input is the image from sector 16 on (the volume descriptors): the
 * 32 KiB system area before it is zeros here, so inputs stay under
 * libFuzzer's max_len. */
#include "iso/iso9660.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct iso9660_tree t = {0};

	if (size > 1024 * 1024)
		return 0;
	size_t n = 16 * ISO9660_SECTOR + size;
	uint8_t *copy = xcalloc(1, n);
	memcpy(copy + 16 * ISO9660_SECTOR, data, size);
	size = n;
	if (iso9660_list_mem(copy, size, &t) == 0) {
		if (t.n > ISO9660_MAX_FILES)
			abort();
		for (size_t i = 0; i < t.n; i++) {
			const struct iso9660_file *f = &t.v[i];
			if (f->path[0] != '/' || strstr(f->path, "//") || strstr(f->path, "/../") ||
			    f->offset > size || f->size > size - f->offset)
				abort();
		}
	}
	iso9660_tree_free(&t);
	free(copy);
	return 0;
}
