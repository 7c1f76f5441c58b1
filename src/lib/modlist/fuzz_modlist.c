/* libFuzzer target: the module list parser never crashes, leaks or accepts
 * a line it cannot represent; every accepted entry satisfies the contract. */
#include "modlist/modlist.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct modlist m;
	char *err = NULL;

	if (size > 2 * MODLIST_MAX_FILE)
		return 0;
	if (modlist_parse("fuzz", (const char *)data, size, &m, &err) == 0) {
		if (err || m.n > MODLIST_MAX_ENTRIES)
			abort();
		for (size_t i = 0; i < m.n; i++) {
			const struct modlist_entry *e = &m.v[i];
			size_t n = strlen(e->path);
			if (e->path[0] != '/' || n < 5 || strcmp(e->path + n - 3, ".ko") ||
			    strstr(e->path, "/../") || strchr(e->path, ' ') ||
			    !*e->name || strchr(e->name, '-') || strchr(e->name, '/'))
				abort();
		}
		modlist_free(&m);
	} else if (!err) {
		abort();
	}
	free(err);
	return 0;
}
