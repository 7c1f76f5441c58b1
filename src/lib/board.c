/* The board's settings (see board.h). */
#include "board.h"
#include "tpm/tpm.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int board_config_load(struct config *c, char *const *files, size_t n, char **ret_err)
{
	static char *const defaults[] = {BOARD_CONFIG, BOARD_USER_CONFIG};
	char *const *v = n ? files : defaults;
	size_t k = n ? n : ARRAY_SIZE(defaults);

	*ret_err = NULL;
	for (size_t i = 0; i < k; i++) {
		char *err = NULL;
		int r = config_load(c, v[i], &err);
		if (r == -ENOENT && !n) {
			free(err);
			continue;
		}
		if (r < 0) {
			if (err)
				*ret_err = err;
			else if (r == -ENOENT)
				*ret_err = xasprintf("%s: no such file", v[i]);
			else
				*ret_err = xasprintf("%s: %s", v[i], strerror(-r));
			return r;
		}
	}
	return 0;
}

int board_totp_pcrs(const struct config *c, uint32_t *ret_mask, char **ret_err)
{
	const char *pcrs = config_get(c, "CONFIG_TOTP_PCRS");
	uint32_t mask = 0;

	*ret_err = NULL;
	if (!pcrs || !*pcrs)
		pcrs = BOARD_TOTP_PCRS_DEFAULT;
	if (tpm_parse_pcr_list(pcrs, &mask) < 0 || mask == 0) {
		*ret_err = xasprintf("bad PCR list '%s'", pcrs);
		return -EINVAL;
	}
	*ret_mask = mask;
	return 0;
}

char *board_pcr_list(uint32_t mask)
{
	char buf[TPM_PCR_COUNT * 3 + 1] = "";
	size_t len = 0;

	for (unsigned i = 0; i < TPM_PCR_COUNT && i < 32; i++)
		if (mask & (UINT32_C(1) << i))
			len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%u",
						len ? "," : "", i);
	return xstrdup(buf);
}

const char *board_tcti(const char *opt)
{
	if (opt && *opt)
		return opt;
	return tpm_default_tcti();
}
