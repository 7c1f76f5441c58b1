/* libFuzzer target: the HOTP counter file parser (otp_counter_parse) must
 * never read out of bounds, and what it accepts must round-trip through the
 * reference format "<decimal>\n". */
#include "otp.h"
#include "util.h"

#include <stdint.h>
#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t v, back;
	char buf[32];
	int n;

	if (size > 64 * 1024)
		return 0;
	/* Copy so the parser sees exactly size bytes with no NUL after them. */
	char *copy = xmalloc(size ? size : 1);
	memcpy(copy, data, size);
	if (otp_counter_parse(copy, size, &v) == 0) {
		if (v > OTP_COUNTER_MAX)
			abort();
		n = snprintf(buf, sizeof(buf), "%llu\n", (unsigned long long)v);
		if (otp_counter_parse(buf, (size_t)n, &back) != 0 || back != v)
			abort();
	}
	free(copy);
	return 0;
}
