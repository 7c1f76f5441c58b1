/* libFuzzer target: whole-file decompression (gzip, xz, zstd) with a small
 * output bound; the sink checks that the bound holds. */
#include "decompress.h"

#include <stdint.h>
#include <stdlib.h>

#define MAX_OUT (4u * 1024 * 1024)

struct count {
	uint64_t n;
};

static int sink(const uint8_t *p, size_t n, void *ud)
{
	struct count *c = ud;
	(void)p;
	c->n += n;
	if (c->n > MAX_OUT)
		abort(); /* the bound did not hold */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct count c = {0};
	if (size > 1024 * 1024)
		return 0;
	enum decompress_format f = decompress_detect(data, size);
	(void)decompress_format_name(f);
	if (f == DECOMPRESS_NONE)
		f = (enum decompress_format)(1 + (size % 3)); /* still exercise the decoders */
	(void)decompress_stream(data, size, f, MAX_OUT, "fuzz", sink, &c);
	return 0;
}
