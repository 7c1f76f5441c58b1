/* libFuzzer target: the config parser must never crash, leak or accept
 * bytes it cannot represent; a parsed config must round-trip through
 * config_quote(). */
#include "config.h"
#include "util.h"

#include <stdint.h>
#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config c, back;
	char *err = NULL;

	if (size > 64 * 1024)
		return 0;
	config_init(&c);
	if (config_parse(&c, "fuzz", (const char *)data, size, &err) == 0) {
		/* Re-serialise and re-parse: values must survive. */
		for (size_t i = 0; i < c.n; i++) {
			char *q = config_quote(c.entries[i].value);
			char *line = xasprintf("%s=%s\n", c.entries[i].key, q);
			char *err2 = NULL;
			config_init(&back);
			if (config_parse(&back, "rt", line, strlen(line), &err2) != 0 ||
			    back.n != 1 || !streq(back.entries[0].value, c.entries[i].value))
				abort();
			config_free(&back);
			free(err2);
			free(line);
			free(q);
		}
	} else if (!err || !startswith(err, "fuzz:")) {
		abort();
	}
	free(err);
	config_free(&c);
	return 0;
}
