/* libFuzzer target: syslinux/isolinux parser (the input also serves as an
 * INCLUDEd file when it includes itself: cycles must be refused). */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 256 * 1024)
		return 0;
	fuzz_parse_as("isolinux/isolinux.cfg", BOOTCFG_SYSLINUX, data, size);
	fuzz_parse_as("grub/grub.conf", BOOTCFG_GRUB_LEGACY, data, size);
	return 0;
}
