/* libFuzzer target: the status lines gpg-agent/scdaemon send about a card.
 * Input: lines "KEYWORD args"; each is applied to one card_info, which
 * must stay NUL-terminated and within its bounds. */
#include "gpg/card.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct card_info ci;
	char *buf, *line, *save = NULL;

	if (size > 64 * 1024)
		return 0;
	buf = xmalloc(size + 1);
	memcpy(buf, data, size);
	buf[size] = '\0';
	card_info_init(&ci);
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(line, ' ');
		if (sp)
			*sp++ = '\0';
		(void)card_parse_status(&ci, line, sp ? sp : "");
	}
	if (strnlen(ci.aid, sizeof(ci.aid)) == sizeof(ci.aid) ||
	    strnlen(ci.name, sizeof(ci.name)) == sizeof(ci.name) ||
	    strnlen(ci.manufacturer, sizeof(ci.manufacturer)) == sizeof(ci.manufacturer) ||
	    strnlen(ci.serial, sizeof(ci.serial)) == sizeof(ci.serial) ||
	    strnlen(ci.version, sizeof(ci.version)) == sizeof(ci.version))
		abort();
	for (size_t i = 0; i < 3; i++)
		if (strnlen(ci.fpr[i], 41) == 41 || strnlen(ci.algo[i], 24) == 24 ||
		    ci.retries[i] < -1 || ci.retries[i] > 255)
			abort();
	free(buf);
	return 0;
}
