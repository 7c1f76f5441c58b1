/* libFuzzer target: the coreboot build record read before a PCR 2
 * prediction (flash_scheme_from_record: build_info's COREBOOT_VERSION line
 * and the Kconfig .config lookups). Input: build_info, a NUL, the .config.
 * A scheme string is always terminated and a value never longer than its
 * buffer. */
#include "flash.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t blen = nul ? (size_t)(nul - data) : size;
	const char *cfg = nul ? (const char *)nul + 1 : "";
	size_t clen = nul ? size - blen - 1 : 0;
	struct flash_pcrs p;
	char v[8];

	memset(&p, 0xa5, sizeof(p));
	(void)flash_scheme_from_record(data, blen, cfg, clen, &p);
	if (!memchr(p.scheme, 0, sizeof(p.scheme)) || !memchr(p.why, 0, sizeof(p.why)))
		abort();
	if (flash_kconfig_get(cfg, clen, "CONFIG_X", v, sizeof(v)) == 1 && strlen(v) >= sizeof(v))
		abort();
	return 0;
}
