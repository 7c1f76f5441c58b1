/* libFuzzer target: the scripted-UI answer file parser. */
#include "ui/ui_script_parse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ui_script s = {0};
	char *err = NULL;

	if (ui_script_parse(&s, "fuzz", (const char *)data, size, &err) == 0) {
		/* Every answer is bounded and newline-free. */
		for (size_t i = 0; i < s.n; i++) {
			size_t l = strlen(s.answers[i]);
			if (l > UI_SCRIPT_MAX_LINE || memchr(s.answers[i], '\n', l))
				abort();
		}
	} else if (!err) {
		abort();
	}
	free(err);
	ui_script_free(&s);
	return 0;
}
