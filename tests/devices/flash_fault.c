/* flash_fault.c - the test build's fault in the flash write path
 * (heads-flash-test only; `heads` leaves flash_test_after_write undefined).
 *
 * HEADS_FLASH_FAULT="OFFSET:COUNT": the first COUNT times a piece holding
 * chip offset OFFSET has been written, it is overwritten right away with
 * 0x5a bytes through the same libflashrom chip (a real second write on the
 * emulated chip), so the read-back that follows finds other bytes: a write
 * that did not take, as a flaky SPI bus or a chip losing its write enable
 * gives on hardware. */
#include "flash.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

void flash_test_after_write(struct flash *f, uint32_t off, uint32_t n, unsigned attempt)
{
	static bool parsed;
	static unsigned long long target, remaining;
	(void)attempt;
	if (!parsed) {
		const char *s = getenv("HEADS_FLASH_FAULT");
		char *colon;
		parsed = true;
		if (!s || !(colon = strchr(s, ':')))
			return;
		target = strtoull(s, NULL, 0);
		remaining = strtoull(colon + 1, NULL, 0);
	}
	if (!remaining || target < off || target >= (unsigned long long)off + n)
		return;
	remaining--;
	_cleanup_free_ uint8_t *junk = xmalloc(flash_size(f));
	memset(junk, 0x5a, flash_size(f));
	flash_program_range(f, junk, off, n);
}
