/* tcg_log_writer.h - test helper: a crypto-agile TCG event log (SHA-256
 * bank only) with the PCR 2 events coreboot writes: type EV_ACTION (5),
 * the stage name NUL-padded to 50 bytes as event data (coreboot's cbmem
 * log layout, tspi/log-tpm2.c: TPM_CB_LOG_PCR_HASH_NAME). */
#ifndef HEADS_TEST_TCG_LOG_WRITER_H
#define HEADS_TEST_TCG_LOG_WRITER_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/sha.h>

struct test_stage {
	const char *name;
	const char *content; /* digest = SHA-256(content) */
};

static inline void put32(uint8_t **p, uint32_t v)
{
	memcpy(*p, &v, 4); /* little-endian host (x86) as the log format */
	*p += 4;
}

static inline void stage_digest(const struct test_stage *s, uint8_t out[32])
{
	SHA256((const uint8_t *)s->content, strlen(s->content), out);
}

/* Write the log of n stages to path; 0 or -1. */
static inline int write_tcg_log(const char *path, const struct test_stage *s, size_t n)
{
	static uint8_t buf[65536];
	uint8_t *p = buf;
	FILE *f;
	/* TCG_PCR_EVENT carrying the Spec ID event */
	put32(&p, 0);
	put32(&p, 3); /* EV_NO_ACTION */
	memset(p, 0, 20);
	p += 20;
	put32(&p, 33);
	memcpy(p, "Spec ID Event03", 16);
	p += 16;
	put32(&p, 0); /* platform class */
	*p++ = 0;     /* spec version minor, major, errata, uintn size */
	*p++ = 2;
	*p++ = 0;
	*p++ = 2;
	put32(&p, 1); /* one algorithm */
	*p++ = 0x0b;  /* TPM_ALG_SHA256, 32 bytes */
	*p++ = 0x00;
	*p++ = 32;
	*p++ = 0;
	*p++ = 0; /* no vendor info */
	for (size_t i = 0; i < n; i++) {
		put32(&p, 2);
		put32(&p, 5); /* EV_ACTION */
		put32(&p, 1);
		*p++ = 0x0b;
		*p++ = 0x00;
		stage_digest(&s[i], p);
		p += 32;
		put32(&p, 50);
		memset(p, 0, 50);
		memcpy(p, s[i].name, strlen(s[i].name));
		p += 50;
	}
	f = fopen(path, "wb");
	if (!f)
		return -1;
	if (fwrite(buf, 1, (size_t)(p - buf), f) != (size_t)(p - buf)) {
		fclose(f);
		return -1;
	}
	return fclose(f) == 0 ? 0 : -1;
}

#endif
