/* flash_predict.c - the next boot's PCR 2 and PCR 7 from an image about to
 * be flashed (see flash.h). */
#include "cbfs.h"
#include "coreboot.h"
#include "flash.h"
#include "romcfg.h"

#include <errno.h>
#include <string.h>

int flash_predict_pcrs(const uint8_t *img, size_t len, const uint8_t *pcr7_base,
		       const char *board, const char *user, struct flash_pcrs *ret)
{
	struct flash_pcrs out = {0};
	struct cbfs c;

	if (cbfs_parse(img, len, NULL, &c) == 0) {
		out.pcr2_ok = coreboot_predict_pcr2(&c, out.pcr2) == 0;
		cbfs_free(&c);
	}
	if (pcr7_base && romcfg_is_cbfs(img, len)) {
		struct romcfg rc = {.slot = -1};
		struct romcfg_event *ev = NULL;
		size_t n = 0;
		if (romcfg_parse_cbfs(img, len, &rc) == 0 &&
		    romcfg_events(&rc, board, user, "sha256", &ev, &n) == 0)
			out.pcr7_ok = romcfg_fold("sha256", pcr7_base, ev, n, out.pcr7) == 0;
		romcfg_events_free(ev, n);
		romcfg_free(&rc);
	}
	*ret = out;
	return out.pcr2_ok || out.pcr7_ok ? 0 : -ENODATA;
}
