/* boot_path.c - the boot-path TPM work done the way heads does it: one
 * process, one struct tpm. Prints "commands N" (tpm_command_count()).
 * Usage: boot_path TCTI DUK_PASSPHRASE_FD */
#include "tpm/tpm.h"
#include "secret.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	struct tpm *t = NULL;
	struct secret *totp = NULL, *duk = NULL, *pass = NULL;
	uint8_t pcrs[TPM_PCR_COUNT][32];
	uint8_t h[32] = {1};
	int r;

	if (argc != 3)
		return 2;
	log_set_console_level(LOG_ERROR);
	if (secret_read_line_fd(atoi(argv[2]), 256, &pass) < 0)
		return 2;
	if ((r = tpm_open(argv[1], &t)) < 0)
		return 1;
	r = tpm_pcr_read_mask(t, 0xff, pcrs);
	if (r == 0)
		r = tpm_unseal_mask(t, TPM_HANDLE_TOTP, 0x9f, NULL, &totp);
	if (r == 0)
		r = tpm_unseal_mask(t, TPM_HANDLE_DUK, 0xff, pass, &duk);
	if (r == 0)
		r = tpm_extend_string(t, 4, "generic");
	if (r == 0)
		r = tpm_extend_digest(t, 5, h, "module");
	if (r == 0)
		r = tpm_extend_string(t, 6, "luksDump");
	if (r < 0)
		fprintf(stderr, "boot_path: failed: %s\n", strerror(-r));
	printf("commands %u\n", tpm_command_count(t));
	tpm_close(t);
	secret_free(totp);
	secret_free(duk);
	secret_free(pass);
	return r < 0 ? 1 : 0;
}
