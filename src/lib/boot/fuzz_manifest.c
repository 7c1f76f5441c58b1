/* libFuzzer target: the sha256sum-format parsers (kexec_hashes.txt,
 * kexec_default_hashes.txt, kexec_rollback.txt) must never crash or leak;
 * every parsed path is non-empty and free of control bytes, and a parsed
 * manifest re-serialises to a form that parses to the same entries. */
#include "boot/manifest.h"
#include "boot/rollback.h"
#include "codec.h"
#include "util.h"

#include <stdint.h>
#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct manifest m, back;
	uint8_t h[32];
	uint32_t id;
	size_t line = 0;

	if (size > 256 * 1024)
		return 0;
	if (manifest_parse_hashes((const char *)data, size, &m, &line) == 0) {
		size_t cap = 1, len = 0;
		char *out = xmalloc(cap);
		for (size_t i = 0; i < m.n; i++) {
			size_t pl = strlen(m.e[i].path);
			if (pl == 0)
				abort();
			for (size_t k = 0; k < pl; k++)
				if ((unsigned char)m.e[i].path[k] < 0x20)
					abort();
			out = xrealloc(out, cap = len + 64 + 2 + pl + 2);
			hex_encode(m.e[i].sha256, 32, out + len);
			len += 64;
			memcpy(out + len, "  ", 2);
			len += 2;
			memcpy(out + len, m.e[i].path, pl);
			len += pl;
			out[len++] = '\n';
		}
		if (manifest_parse_hashes(out, len, &back, NULL) != 0 || back.n != m.n)
			abort();
		for (size_t i = 0; i < m.n; i++)
			if (!streq(back.e[i].path, m.e[i].path) ||
			    memcmp(back.e[i].sha256, m.e[i].sha256, 32))
				abort();
		manifest_free(&back);
		free(out);
		manifest_free(&m);
	} else if (line == 0) {
		abort(); /* a refusal names its line */
	}
	if (rollback_parse((const char *)data, size, &id, h) == 0) {
		size_t len;
		char *s = rollback_format(id, 0, &len);
		uint32_t id2;
		uint8_t h2[32];
		if (rollback_parse(s, len, &id2, h2) != 0 || id2 != id)
			abort();
		free(s);
	}
	return 0;
}
