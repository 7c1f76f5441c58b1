/* libFuzzer target: one BLS entry file, the grubenv reader, the Heads entry
 * line format and the cmdline builder. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 256 * 1024)
		return 0;
	fuzz_parse_as("loader/entries/fuzz.conf", BOOTCFG_BLS, data, size);
	fuzz_parse_as("grub2/grubenv", BOOTCFG_BLS, data, size);
	char *s = xstrndup((const char *)data, size);
	struct boot_entry e;
	if (boot_entry_from_line(s, &e) == 0) {
		char *l = boot_entry_to_line(&e);
		free(l);
		boot_entry_free(&e);
	}
	char *c = bootcfg_build_cmdline(s, s, NULL, s, NULL);
	free(c);
	free(s);
	return 0;
}
