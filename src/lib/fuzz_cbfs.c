/* libFuzzer target: the FMAP + CBFS reader, the PCR 2 prediction and
 * decompression of every file found. */
#include "cbfs.h"
#include "coreboot.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cbfs c;
	uint8_t pcr[32];

	if (size > 1024 * 1024)
		return 0;
	if (cbfs_parse(data, size, NULL, &c) < 0)
		return 0;
	for (size_t i = 0; i < c.n; i++) {
		const struct cbfs_file *f = &c.files[i];
		uint8_t *out;
		size_t n;
		if ((uint64_t)f->rom_data + f->len > size)
			abort();
		(void)cbfs_type_name(f->type);
		if (f->decompressed_size <= 4 * 1024 * 1024 && cbfs_read(&c, f, &out, &n) == 0)
			free(out);
	}
	(void)coreboot_predict_pcr2(&c, pcr);
	cbfs_free(&c);
	return 0;
}
