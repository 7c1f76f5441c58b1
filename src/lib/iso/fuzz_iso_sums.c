/* libFuzzer target: the checksum-list parser (iso_sums_find) must never
 * read out of bounds; a found digest must come from a line naming the file. */
#include "iso/iso.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t d[32];

	if (size > 64 * 1024)
		return 0;
	char *copy = xmalloc(size ? size : 1);
	memcpy(copy, data, size);
	if (iso_sums_find(copy, size, "x.iso", d) == 0 && !memmem(copy, size, "x.iso", 5))
		abort();
	free(copy);
	return 0;
}
