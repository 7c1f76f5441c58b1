/* The board's settings (see board.h). */
#include "board.h"
#include "log.h"
#include "romcfg.h"
#include "tpm/tpm.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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

int board_config_load_each(struct config *c, const char *const *files, size_t n,
			   uint32_t *ret_loaded)
{
	uint32_t loaded = 0;
	int ret = 0;

	for (size_t i = 0; i < n && i < 32; i++) {
		_cleanup_free_ char *err = NULL;
		int r;

		if (access(files[i], F_OK) < 0)
			continue;
		r = config_load(c, files[i], &err);
		if (r < 0) {
			if (err)
				log_error("%s (file ignored)", err);
			else
				log_error_errno(r, "%s (file ignored)", files[i]);
			ret = r;
			continue;
		}
		loaded |= UINT32_C(1) << i;
	}
	if (ret_loaded)
		*ret_loaded = loaded;
	return ret;
}

int board_measure_config(struct tpm *t, const struct romcfg *rom, const char *board,
			 const char *user)
{
	struct romcfg_event *ev = NULL;
	size_t n = 0;
	int r, ret = 0;

	r = romcfg_events(rom, board, user, tpm_bank(t), &ev, &n);
	if (r < 0)
		return log_error_errno(r, "listing the PCR %d measurements",
				       BOARD_PCR_ROM_CONFIG);
	for (size_t i = 0; i < n; i++) {
		r = tpm_extend_bank(t, BOARD_PCR_ROM_CONFIG, tpm_bank(t), ev[i].digest,
				    ev[i].description);
		if (r < 0) {
			log_error("%s: measuring into PCR %d failed", ev[i].description,
				  BOARD_PCR_ROM_CONFIG);
			if (!ret)
				ret = r;
		}
	}
	romcfg_events_free(ev, n);
	return ret;
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

int board_tpm_check_version(const struct config *c, const struct tpm *t)
{
	const char *v = c ? config_get(c, "CONFIG_TPM2_TOOLS") : NULL;
	int want, have = tpm_version(t);

	if (!v)
		return 0;
	want = streq(v, "y") ? 20 : streq(v, "n") ? 12 : 0;
	if (!want) {
		log_error("CONFIG_TPM2_TOOLS=\"%s\": want y (TPM 2.0) or n (TPM 1.2)", v);
		return -ENXIO;
	}
	if (want != have) {
		log_error("the board expects a TPM %s (CONFIG_TPM2_TOOLS=%s) but this TPM is a "
			  "TPM %s: not used (a TPM chip of another kind is not this board's)",
			  want == 20 ? "2.0" : "1.2", v, have == 20 ? "2.0" : "1.2");
		return -ENXIO;
	}
	return 0;
}

const char *board_tcti(const char *opt)
{
	if (opt && *opt)
		return opt;
	return tpm_default_tcti();
}
