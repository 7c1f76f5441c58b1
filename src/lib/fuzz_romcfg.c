/* libFuzzer target: the ROM config slot parser. The first byte chooses
 * whether the input is a raw slot or a payload wrapped in a header with a
 * valid checksum (so the cpio part is reached); a parsed area must encode
 * and parse back to the same files. */
#include "romcfg.h"
#include "util.h"

#include <endian.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct romcfg c, back;
	uint8_t *slot;
	size_t slot_len;

	if (size < 1 || size > 256 * 1024)
		return 0;
	if (data[0] & 1) {
		slot_len = size - 1;
		slot = xmalloc(slot_len ? slot_len : 1);
		memcpy(slot, data + 1, slot_len);
	} else {
		uint32_t v;
		uint64_t seq = htole64(1);
		unsigned n = 32;
		slot_len = ROMCFG_HEADER_SIZE + size - 1;
		slot = xcalloc(1, slot_len);
		memcpy(slot, "HEADSROM", 8);
		v = htole32(1);
		memcpy(slot + 8, &v, 4);
		v = htole32(ROMCFG_HEADER_SIZE);
		memcpy(slot + 12, &v, 4);
		memcpy(slot + 16, &seq, 8);
		v = htole32((uint32_t)(size - 1));
		memcpy(slot + 24, &v, 4);
		memcpy(slot + ROMCFG_HEADER_SIZE, data + 1, size - 1);
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();
		EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
		EVP_DigestUpdate(ctx, slot, 32);
		EVP_DigestUpdate(ctx, data + 1, size - 1);
		EVP_DigestFinal_ex(ctx, slot + 32, &n);
		EVP_MD_CTX_free(ctx);
	}
	if (romcfg_parse_slot(slot, slot_len, &c) == 0) {
		size_t cap = 2 * slot_len + 4096;
		uint8_t *enc = xmalloc(cap);
		for (size_t i = 0; i < c.n; i++)
			if (romcfg_name_ok(c.v[i].name) < 0)
				abort();
		if (romcfg_encode(&c, c.seq, enc, cap) != 0 ||
		    romcfg_parse_slot(enc, cap, &back) != 0 || back.n != c.n)
			abort();
		for (size_t i = 0; i < c.n; i++)
			if (!streq(back.v[i].name, c.v[i].name) || back.v[i].len != c.v[i].len ||
			    memcmp(back.v[i].data, c.v[i].data, c.v[i].len))
				abort();
		romcfg_free(&back);
		romcfg_free(&c);
		free(enc);
	}
	free(slot);
	return 0;
}
