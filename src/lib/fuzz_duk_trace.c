/* libFuzzer target: the Disk Unlock Key's two parsers of untrusted text,
 * the measurement trace (duk_trace_pcr5) and the sealed LUKS header listing
 * (duk_compare_headers). Neither may read out of bounds; a listing always
 * equals itself; the digests taken with a module list are a subset of the
 * PCR 5 lines. Input: trace, then a NUL byte, then a header listing. */
#include "duk.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *paths[] = {"/lib/modules/a.ko", "/lib/modules/b.ko", "x"};
	static char *args[] = {"", "opt=1", ""};
	const uint8_t *nul;
	size_t tlen, hlen;
	uint8_t(*d)[32] = NULL;
	size_t n = 0, nall = 0;
	char *detail = NULL;

	if (size > 64 * 1024)
		return 0;
	nul = memchr(data, 0, size);
	tlen = nul ? (size_t)(nul - data) : size;
	hlen = nul ? size - tlen - 1 : 0;
	/* Copies so the parsers see exactly len bytes with nothing after. */
	char *trace = xmalloc(tlen ? tlen : 1);
	char *hdr = xmalloc(hlen ? hlen : 1);
	memcpy(trace, data, tlen);
	if (hlen)
		memcpy(hdr, nul + 1, hlen);

	for (int b = 0; b < 2; b++) { /* both banks: TPM 2.0 and TPM 1.2 traces */
		const char *bank = b ? "sha1" : "sha256";
		if (duk_trace_pcr5(trace, tlen, bank, NULL, NULL, 0, &d, &nall) == 0) {
			free(d);
			d = NULL;
			if (duk_trace_pcr5(trace, tlen, bank, paths, args, 3, &d, &n) != 0 || n > nall)
				abort();
			free(d);
			d = NULL;
		}
	}
	if (duk_compare_headers(hdr, hlen, hdr, hlen, NULL, 0, &detail) != 0 || detail)
		abort();
	if (duk_compare_headers(hdr, hlen, trace, tlen, NULL, 0, &detail) == 0) {
		if (tlen != hlen || memcmp(hdr, trace, tlen) != 0 || detail)
			abort();
	} else if (!detail) {
		abort();
	}
	free(detail);
	free(trace);
	free(hdr);
	return 0;
}
