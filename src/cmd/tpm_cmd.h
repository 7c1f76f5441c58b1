/* tpm_cmd.h - internal to `heads tpm`: the options and helpers shared by
 * tpm.c (PCRs, event log, prediction, reset, info) and tpm_secrets.c
 * (seal, unseal, evict, counters, NV). Not a library contract. */
#ifndef HEADS_TPM_CMD_H
#define HEADS_TPM_CMD_H

#include "secret.h"
#include "tpm/tpm.h"

#include <stdbool.h>
#include <stdint.h>

#define PASS_MAX 256

/* Exit codes of the TPM outcomes (documented in usage). */
enum {
	EXIT_PCR_MISMATCH = 1,
	EXIT_AUTH = 3,
	EXIT_LOCKOUT = 4,
	EXIT_NO_OBJECT = 5,
	EXIT_NO_TPM = 6,
	EXIT_NO_PRIMARY = 7,
	EXIT_PRIMARY_CHANGED = 9,
	EXIT_FOREIGN_RECORD = 10,
};

/* Options shared by subcommands. */
struct opts {
	const char *tcti, *primary_name;
	int owner_fd, auth_fd;
	const char *str, *file, *trace, *eventlog, *bank, *pcrs;
	bool no_eventlog, no_compare;
	/* seal/predict prediction */
	uint32_t future_mask;
	struct extra {
		unsigned pcr;
		bool is_file;
		const char *v;
	} *extra;
	size_t n_extra;
	struct pcr_value {
		unsigned pcr;
		uint8_t v[32];
	} *values;
	size_t n_values;
	unsigned long long size;
	unsigned long long da_max_tries, da_recovery;
	int optind;
};

enum {
	O_TCTI = 256, O_PRIMARY_NAME, O_OWNER_FD, O_AUTH_FD, O_STRING, O_FILE, O_TRACE, O_EVENTLOG,
	O_NO_EVENTLOG, O_NO_COMPARE, O_BANK, O_PCRS, O_FUTURE, O_FUTURE_STRING,
	O_FUTURE_FILE, O_PCR_VALUE, O_SIZE, O_DA_MAX_TRIES, O_DA_RECOVERY,
};

int tpm_cmd_exit_for(int r);
int tpm_cmd_parse_opts(const char *sub, int argc, char **argv, struct opts *o);
void tpm_cmd_free_opts(struct opts *o);
int tpm_cmd_open_tpm(const struct opts *o, struct tpm **t);
int tpm_cmd_get_pass(int fd, const char *prompt, struct secret **ret);
int tpm_cmd_parse_handle(const char *s, uint32_t prefix, uint32_t *ret);
int tpm_cmd_parse_index(const struct opts *o, const char *s, uint32_t *ret);
int tpm_cmd_predict_into(const struct opts *o, struct tpm_pcr_values *v);
int tpm_cmd_do_seal(int argc, char **argv);
int tpm_cmd_do_unseal(int argc, char **argv);
int tpm_cmd_do_evict(int argc, char **argv);
int tpm_cmd_do_counter(int argc, char **argv);
int tpm_cmd_do_nv(int argc, char **argv);

#endif
