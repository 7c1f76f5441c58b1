/* libFuzzer target: the GRUB interpreter on one grub.cfg. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 256 * 1024)
		return 0;
	fuzz_parse_as("grub/grub.cfg", BOOTCFG_GRUB, data, size);
	return 0;
}
