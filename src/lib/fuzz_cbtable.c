/* libFuzzer target: the coreboot table parser and coreboot's cbmem TPM 2.0
 * log layout. The first byte chooses which. */
#include "coreboot.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1) {
		struct cbtable t;
		if (cbtable_parse(data + 1, size - 1, &t) == 0)
			cbtable_free(&t);
	} else {
		size_t n;
		if (coreboot_tpm2_log_len(data + 1, size - 1, &n) == 0 && n > size - 1)
			abort();
	}
	return 0;
}
