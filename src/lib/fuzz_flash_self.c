/* libFuzzer target: a file of the initramfs in a coreboot SELF payload
 * (flash_self_file: segment table, decompression, cpio walk) never reads
 * out of bounds; a file found is NUL-terminated at its length. */
#include "flash.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *got = NULL;
	size_t n = 0;

	if (flash_self_file(data, size, "etc/config", &got, &n) == 1) {
		if (got[n] != '\0')
			abort();
		free(got);
	}
	return 0;
}
