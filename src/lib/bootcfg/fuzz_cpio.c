/* libFuzzer target: the initrd segment walker (cpio, gzip, xz, zstd) and the
 * crypttab override extraction. */
#include "cpio.h"
#include "log.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int visit(const struct cpio_entry *e, void *ud)
{
	size_t *n = ud;
	if (!e->name || (e->size && !e->data))
		abort();
	(*n)++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n = 0;
	char *ov = NULL;
	log_set_console_level(LOG_ERROR);
	(void)cpio_walk(data, size, visit, &n);
	if (initrd_crypttab_overrides(data, size, &ov) == 0) {
		/* every line is "<path>:<line>" */
		for (char *p = ov; *p;) {
			char *nl = strchr(p, '\n');
			if (!nl || !memchr(p, ':', nl - p))
				abort();
			p = nl + 1;
		}
		free(ov);
	}
	return 0;
}
