/* libFuzzer target: the TCG event log parser and replay. */
#include "tpm/eventlog.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tpm_eventlog *l = NULL;
	uint8_t out[32];
	size_t len;

	if (tpm_eventlog_parse(data, size, &l) < 0)
		return 0;
	for (unsigned pcr = 0; pcr < 24; pcr++) {
		(void)tpm_eventlog_replay(l, "sha256", pcr, out, &len);
		(void)tpm_eventlog_replay(l, "sha1", pcr, out, &len);
	}
	for (size_t i = 0; i < l->n; i++)
		(void)tpm_event_type_name(l->events[i].type);
	tpm_eventlog_free(l);
	return 0;
}
