/* PCR 7 as init measures it (board_measure_config: the board config, the
 * ROM config area's files, the initramfs config.user) against the
 * prediction the ownership flow seals to (romcfg_events + romcfg_fold in
 * the TPM's bank, what romcfg_predict_pcr7 composes) and an independent
 * replay here with EVP, on both backends: swtpm TPM 2.0 (sha256) and swtpm
 * TPM 1.2 (sha1). The PCR is read from the TPM after the real extends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "board.h"
#include "romcfg.h"
#include "swtpm.h"
#include "tpm/tpm.h"
#include "util.h"

static struct swtpm sw;

static int setup2(void **state)
{
	(void)state;
	memset(&sw, 0, sizeof(sw));
	return swtpm_start(&sw);
}

static int setup12(void **state)
{
	(void)state;
	memset(&sw, 0, sizeof(sw));
	sw.tpm12 = 1;
	if (swtpm12_manufacture(&sw, "owner-pass") < 0)
		return -1;
	return swtpm_start(&sw);
}

static int teardown(void **state)
{
	(void)state;
	swtpm_destroy(&sw);
	return 0;
}

static char *write_tmp(const char *content)
{
	char *path = xstrdup("/tmp/test-tpm-pcr7-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
	return path;
}

/* state := H(state || H(blob)) in the bank's hash (the TPM's extend). */
static void replay(const EVP_MD *md, size_t dl, uint8_t state[32], const void *blob, size_t n)
{
	uint8_t d[32], buf[64];
	unsigned l = 32;
	EVP_Digest(blob, n, d, &l, md, NULL);
	memcpy(buf, state, dl);
	memcpy(buf + dl, d, dl);
	EVP_Digest(buf, 2 * dl, state, &l, md, NULL);
}

/* Two boots' worth: a blank ROM (board config + initramfs config.user), then
 * a ROM with a keyring and its own config.user (the initramfs one is then
 * not measured), each from PCR 7's value at that point. */
static void check_bank(const char *want_bank)
{
	struct tpm *t = NULL;
	struct romcfg rom = {.slot = -1};
	const char *board_text = "export CONFIG_BOARD=\"qemu\"\n";
	const char *initramfs_user = "export CONFIG_X=\"initramfs\"\n";
	const char *rom_user = "export CONFIG_X=\"rom\"\n";
	const char kbx[] = "\0keybox-bytes";
	char *board = write_tmp(board_text), *user = write_tmp(initramfs_user);

	assert_int_equal(tpm_open(sw.tcti, &t), 0);
	const char *bank = tpm_bank(t);
	assert_string_equal(bank, want_bank);
	assert_string_equal(tpm_tcti_bank(sw.tcti), want_bank);
	size_t dl = tpm_bank_len(bank);
	const EVP_MD *md = dl == 20 ? EVP_sha1() : EVP_sha256();

	for (int round = 0; round < 2; round++) {
		uint8_t base[32] = {0}, live[32] = {0}, predicted[32], mine[32] = {0};
		size_t len = 0, n = 0;
		struct romcfg_event *ev = NULL;

		if (round == 1) {
			assert_int_equal(romcfg_set(&rom, ".gnupg/pubring.kbx", kbx, sizeof(kbx) - 1),
					 0);
			assert_int_equal(romcfg_set(&rom, "etc/config.user", rom_user,
						    strlen(rom_user)), 0);
		}
		assert_int_equal(tpm_pcr_read(t, bank, 7, base, &len), 0);
		assert_int_equal(len, dl);
		/* the prediction, from the value before (as init saves it) */
		assert_int_equal(romcfg_events(&rom, board, user, bank, &ev, &n), 0);
		assert_int_equal(romcfg_fold(bank, base, ev, n, predicted), 0);
		romcfg_events_free(ev, n);
		/* the real extends */
		assert_int_equal(board_measure_config(t, &rom, board, user), 0);
		assert_int_equal(tpm_pcr_read(t, bank, 7, live, &len), 0);
		/* independent replay: name then content, in init's order */
		memcpy(mine, base, dl);
		replay(md, dl, mine, "/etc/config", 11);
		replay(md, dl, mine, board_text, strlen(board_text));
		if (round == 1) {
			replay(md, dl, mine, "/.gnupg/pubring.kbx", 19);
			replay(md, dl, mine, kbx, sizeof(kbx) - 1);
			replay(md, dl, mine, "/etc/config.user", 16);
			replay(md, dl, mine, rom_user, strlen(rom_user));
		} else {
			replay(md, dl, mine, "/etc/config.user", 16);
			replay(md, dl, mine, initramfs_user, strlen(initramfs_user));
		}
		assert_memory_equal(live, mine, dl);
		assert_memory_equal(predicted, live, dl);
		assert_memory_not_equal(live, base, dl);
	}
	/* A digest of the other bank is refused, not truncated or padded. */
	uint8_t d[32] = {1};
	assert_int_equal(tpm_extend_bank(t, 7, dl == 20 ? "sha256" : "sha1", d, "x"), -EINVAL);
	tpm_close(t);
	romcfg_free(&rom);
	unlink(board);
	unlink(user);
	free(board);
	free(user);
}

static void test_pcr7_tpm2(void **state)
{
	(void)state;
	check_bank("sha256");
}

static void test_pcr7_tpm12(void **state)
{
	(void)state;
	check_bank("sha1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pcr7_tpm2, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_pcr7_tpm12, setup12, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
