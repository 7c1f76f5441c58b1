/* libFuzzer target: the TPM 1.2 response parser and the structures read
 * from responses (DA info, counter value, stored data, permanent flags). */
#include "tpm/tpm12_wire.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tpm12_rsp r;
	struct tpm12_da_info da;
	struct tpm12_counter_value cv;
	struct tpm12_perm_flags pf;
	struct tpm12_stclear_flags sf;
	struct tpm12_nv_public nv;
	struct tpm12_rsa_pub pk;
	size_t n;

	if (tpm12_rsp_parse(&r, data, size) == 0) {
		/* walk it the ways the client does */
		(void)tpm12_rsp_left(&r, 1);
		(void)tpm12_rsp_left(&r, 2);
		uint32_t k = tpm12_get_u32(&r);
		(void)tpm12_get_bytes(&r, k);
		(void)tpm12_get_u16(&r);
		(void)tpm12_get_u8(&r);
	}
	(void)tpm12_parse_da_info(data, size, &da);
	(void)tpm12_parse_counter_value(data, size, &cv);
	(void)tpm12_parse_perm_flags(data, size, &pf);
	(void)tpm12_parse_stclear_flags(data, size, &sf);
	(void)tpm12_stored_data_size(data, size, &n);
	uint32_t mask;
	uint8_t rel[20];
	(void)tpm12_stored_data_pcrs(data, size, &mask, rel);
	(void)tpm12_parse_nv_public(data, size, &nv);
	(void)tpm12_parse_pubkey(data, size, &pk, &n);
	return 0;
}
