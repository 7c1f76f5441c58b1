/* libFuzzer target: the PCR 2 stage baseline record (cbstages_decode) and
 * the stages of a TCG log (cbstages_from_log). The first byte chooses. A
 * decoded record must encode back to the same bytes. */
#include "cbstages.h"
#include "tpm/eventlog.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cbstages s, t;
	static uint8_t buf[5 + CBSTAGES_MAX * (CBSTAGES_NAME_MAX + 32)];
	if (size < 1)
		return 0;
	if (data[0] & 1) {
		if (cbstages_decode(data + 1, size - 1, &s) == 0) {
			size_t n = cbstages_encode(&s, buf);
			if (n != size - 1 || memcmp(buf, data + 1, n) != 0)
				abort();
		}
	} else {
		struct tpm_eventlog *l = NULL;
		if (tpm_eventlog_parse(data + 1, size - 1, &l) == 0) {
			if (cbstages_from_log(l, &s) == 0) {
				size_t n = cbstages_encode(&s, buf);
				if (n != cbstages_encoded_size(&s) || cbstages_decode(buf, n, &t) != 0 ||
				    t.n != s.n)
					abort();
				free(cbstages_diff(&s, &t));
			}
			tpm_eventlog_free(l);
		}
	}
	return 0;
}
