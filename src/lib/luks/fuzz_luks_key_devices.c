/* libFuzzer target: the key devices file parser (kexec_key_devices.txt). */
#include "luks/luks.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct luks_key_device *v = NULL;
	size_t n = 0;
	char *err = NULL;

	if (size > 65536)
		return 0;
	int r = luks_parse_key_devices((const char *)data, size, &v, &n, &err);
	if (r >= 0) {
		if ((size_t)r != n)
			abort();
		for (size_t i = 0; i < n; i++)
			if (!v[i].path || v[i].path[0] != '/')
				abort();
		luks_key_devices_free(v, n);
	} else if (!err) {
		abort();
	}
	free(err);
	return 0;
}
