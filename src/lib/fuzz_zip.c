/* libFuzzer target: the ZIP reader (zip_parse, zip_extract of every entry)
 * must never read out of bounds; an extracted entry has exactly its stated
 * size and CRC-32. */
#include "zip.h"

#include <stdint.h>
#include <stdlib.h>
#include <zlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zip z;

	if (zip_parse(data, size, &z) < 0)
		return 0;
	for (size_t i = 0; i < z.n; i++) {
		uint8_t *out = NULL;
		size_t len = 0;
		if (zip_extract(&z, &z.v[i], 1u << 20, &out, &len) == 0) {
			if (len != z.v[i].usize || crc32(crc32(0L, Z_NULL, 0), out, len) != z.v[i].crc)
				abort();
			free(out);
		}
	}
	zip_free(&z);
	return 0;
}
