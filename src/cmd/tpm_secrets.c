/* heads tpm seal|unseal|evict|counter|nv - the TPM's secrets and NV
 * indices (usage and exit codes: tpm.c). */
#include "cmd/cmd.h"
#include "codec.h"
#include "fs.h"
#include "log.h"
#include "secret.h"
#include "tpm/tpm.h"
#include "util.h"
#include "tpm_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* "heads tpm: WHAT refused: ... lockout: next try in N s" when the TPM is
 * in dictionary-attack lockout, else "heads tpm: WHAT failed<detail>". */
static void report_failure(struct tpm *t, int r, const char *what, const char *detail)
{
	uint32_t secs = 0;

	if (r != TPM_E_LOCKOUT) {
		fprintf(stderr, "heads tpm: %s failed%s\n", what, detail);
		return;
	}
	tpm_lockout_status(t, NULL, NULL, NULL, &secs);
	fprintf(stderr, "heads tpm: %s refused: the TPM is in dictionary-attack lockout: "
		"next try in %u s\n", what, secs);
}

int tpm_cmd_do_seal(int argc, char **argv)
{
	struct opts o;
	_cleanup_tpm_ struct tpm *t = NULL;
	_cleanup_secret_ struct secret *data = NULL, *auth = NULL, *owner = NULL;
	struct tpm_pcr_values v, pred = {0};
	uint32_t handle, mask;
	int r = tpm_cmd_parse_opts("seal", argc, argv, &o), ex = 0;
	if (r)
		return r;
	if (argc - o.optind != 1 || tpm_cmd_parse_handle(argv[o.optind], 0x81000000, &handle) < 0 ||
	    handle == TPM_PRIMARY_HANDLE) {
		tpm_cmd_free_opts(&o);
		return cmd_usage_error("tpm", "seal takes one persistent HANDLE (0x81xxxxxx)");
	}
	if (!o.pcrs || tpm_parse_pcr_list(o.pcrs, &mask) < 0) {
		tpm_cmd_free_opts(&o);
		return cmd_usage_error("tpm", "seal needs --pcrs LIST (e.g. 0,1,2,3,4,7)");
	}
	for (size_t i = 0; i < o.n_values; i++)
		if (!(mask & (1u << o.values[i].pcr)))
			ex = cmd_usage_error("tpm", "--pcr-value %u is not in --pcrs", o.values[i].pcr);
	if (o.future_mask & ~mask)
		ex = cmd_usage_error("tpm", "a --future PCR is not in --pcrs");
	if (ex)
		goto out;
	r = secret_read_fd(STDIN_FILENO, 128, &data);
	if (r < 0) {
		fprintf(stderr, "heads tpm: reading the secret from stdin: %s\n",
			r == -EFBIG ? "more than 128 bytes" : strerror(-r));
		ex = HEADS_EXIT_USAGE;
		goto out;
	}
	if (o.auth_fd >= 0 && secret_read_line_fd(o.auth_fd, PASS_MAX, &auth) < 0) {
		ex = HEADS_EXIT_USAGE;
		goto out;
	}
	if (tpm_cmd_get_pass(o.owner_fd, "TPM Owner Passphrase", &owner) < 0) {
		ex = HEADS_EXIT_USAGE;
		goto out;
	}
	if (tpm_cmd_predict_into(&o, &pred) < 0) {
		ex = HEADS_EXIT_USAGE;
		goto out;
	}
	if ((r = tpm_cmd_open_tpm(&o, &t)) < 0) {
		ex = tpm_cmd_exit_for(r);
		goto out;
	}
	if (tpm_version(t) == 12 && (o.n_values || mask >> 16)) {
		fprintf(stderr, "heads tpm: on a TPM 1.2, seal takes PCRs 0-15, current or "
				"--future (SHA-1 replay), no --pcr-value\n");
		ex = HEADS_EXIT_USAGE;
		goto out;
	}
	r = tpm_pcr_values_current(t, mask, &v);
	if (r < 0) {
		ex = tpm_cmd_exit_for(r);
		goto out;
	}
	for (unsigned i = 0; i < TPM_PCR_COUNT; i++)
		if (o.future_mask & (1u << i))
			memcpy(v.sha256[i], pred.sha256[i], 32);
	for (size_t i = 0; i < o.n_values; i++)
		memcpy(v.sha256[o.values[i].pcr], o.values[i].v, 32);
	r = tpm_seal(t, handle, data, &v, auth, owner);
	if (r < 0) {
		_cleanup_free_ char *what = xasprintf("sealing at 0x%08x", handle);
		report_failure(t, r, what, r == TPM_E_AUTH_FAIL ? ": wrong owner passphrase" : "");
		ex = tpm_cmd_exit_for(r);
	}
out:
	tpm_cmd_free_opts(&o);
	return ex;
}

static void report_mismatch(struct tpm *t, uint32_t handle)
{
	struct tpm_pcr_values exp, cur;
	size_t dl = tpm_bank_len(tpm_bank(t)); /* 20 on a TPM 1.2 */
	bool with_auth;
	if (tpm_sealed_expected(t, handle, &exp, &with_auth) < 0 ||
	    tpm_pcr_values_current(t, exp.mask, &cur) < 0) {
		fprintf(stderr, "heads tpm: unseal refused: PCR values differ from those sealed "
				"(no record of the expected values)\n");
		return;
	}
	fprintf(stderr, "heads tpm: unseal refused: PCR values differ from those sealed:\n");
	for (unsigned i = 0; i < TPM_PCR_COUNT; i++) {
		char he[65], hc[65];
		if (!(exp.mask & (1u << i)) || memcmp(exp.sha256[i], cur.sha256[i], 32) == 0)
			continue;
		hex_encode(exp.sha256[i], dl, he);
		hex_encode(cur.sha256[i], dl, hc);
		fprintf(stderr, "  PCR %u: expected %s, actual %s\n", i, he, hc);
	}
}

int tpm_cmd_do_unseal(int argc, char **argv)
{
	struct opts o;
	_cleanup_tpm_ struct tpm *t = NULL;
	_cleanup_secret_ struct secret *auth = NULL, *out = NULL;
	uint32_t handle, mask = 0;
	int r = tpm_cmd_parse_opts("unseal", argc, argv, &o);
	if (r)
		return r;
	if (argc - o.optind != 1 || tpm_cmd_parse_handle(argv[o.optind], 0x81000000, &handle) < 0)
		return cmd_usage_error("tpm", "unseal takes one persistent HANDLE (0x81xxxxxx)");
	if (o.pcrs && tpm_parse_pcr_list(o.pcrs, &mask) < 0)
		return cmd_usage_error("tpm", "bad --pcrs '%s'", o.pcrs);
	if (o.auth_fd >= 0 && secret_read_line_fd(o.auth_fd, PASS_MAX, &auth) < 0)
		return HEADS_EXIT_USAGE;
	if ((r = tpm_cmd_open_tpm(&o, &t)) < 0)
		return tpm_cmd_exit_for(r);
	r = mask ? tpm_unseal_mask(t, handle, mask, auth, &out) : tpm_unseal(t, handle, auth, &out);
	switch (r) {
	case 0:
		if (write_full(STDOUT_FILENO, out->data, out->len) < 0)
			return HEADS_EXIT_FAIL;
		return 0;
	case TPM_E_PCR_MISMATCH:
		report_mismatch(t, handle);
		break;
	case TPM_E_AUTH_FAIL:
		fprintf(stderr, "heads tpm: unseal refused: wrong passphrase (counts towards the "
				"dictionary-attack lockout)\n");
		break;
	case TPM_E_LOCKOUT: {
		uint32_t secs = 0, cnt = 0, max = 0;
		tpm_lockout_status(t, NULL, &cnt, &max, &secs);
		if (tpm_version(t) == 12) /* the TPM reports the time left */
			fprintf(stderr, "heads tpm: unseal refused: the TPM is in dictionary-attack "
					"lockout (%u failures): next try in %u s\n", cnt, secs);
		else
			fprintf(stderr, "heads tpm: unseal refused: the TPM is in dictionary-attack "
					"lockout (%u of %u failures): next try in %u s (it forgives "
					"one failure every %u s)\n", cnt, max, secs, secs);
		break;
	}
	case TPM_E_NO_OBJECT:
		fprintf(stderr, "heads tpm: nothing is sealed at 0x%08x\n", handle);
		break;
	case TPM_E_NO_PRIMARY:
		fprintf(stderr, "heads tpm: no primary key at 0x%08x: the TPM must be reset\n",
			TPM_PRIMARY_HANDLE);
		break;
	case TPM_E_PRIMARY_CHANGED:
		fprintf(stderr, "heads tpm: unseal refused: the primary key is not the one "
				"recorded at ownership\n");
		break;
	case TPM_E_FOREIGN_RECORD:
	case -EBADMSG:
		fprintf(stderr, "heads tpm: unseal refused: the PCR record of 0x%08x cannot be "
				"trusted\n", handle);
		break;
	default:
		fprintf(stderr, "heads tpm: unseal of 0x%08x failed: %s\n", handle, strerror(-r));
	}
	return tpm_cmd_exit_for(r);
}

int tpm_cmd_do_evict(int argc, char **argv)
{
	struct opts o;
	_cleanup_tpm_ struct tpm *t = NULL;
	_cleanup_secret_ struct secret *owner = NULL;
	uint32_t handle;
	int r = tpm_cmd_parse_opts("evict", argc, argv, &o);
	if (r)
		return r;
	if (argc - o.optind != 1 || tpm_cmd_parse_handle(argv[o.optind], 0x81000000, &handle) < 0)
		return cmd_usage_error("tpm", "evict takes one persistent HANDLE (0x81xxxxxx)");
	if (tpm_cmd_get_pass(o.owner_fd, "TPM Owner Passphrase", &owner) < 0)
		return HEADS_EXIT_USAGE;
	if ((r = tpm_cmd_open_tpm(&o, &t)) < 0)
		return tpm_cmd_exit_for(r);
	r = tpm_evict(t, handle, owner);
	if (r == TPM_E_NO_OBJECT)
		fprintf(stderr, "heads tpm: nothing at 0x%08x\n", handle);
	else if (r < 0)
		fprintf(stderr, "heads tpm: evicting 0x%08x failed\n", handle);
	return tpm_cmd_exit_for(r);
}

/* `heads tpm WHAT OP [options] ...`: OP (one of needs) and the options
 * after it; argc/argv then start at OP. 0, or the exit status of a usage
 * error. */
static int sub_op(const char *what, const char *needs, int *argc, char ***argv,
		  struct opts *o, const char **ret_op)
{
	int r;

	if (*argc < 2)
		return cmd_usage_error("tpm", "%s needs %s", what, needs);
	*ret_op = (*argv)[1];
	r = tpm_cmd_parse_opts(what, *argc - 1, *argv + 1, o);
	if (r)
		return r;
	*argc -= 1;
	*argv += 1;
	return 0;
}

int tpm_cmd_do_counter(int argc, char **argv)
{
	struct opts o;
	_cleanup_tpm_ struct tpm *t = NULL;
	_cleanup_secret_ struct secret *owner = NULL;
	const char *op;
	uint32_t index = 0;
	uint64_t value = 0;
	int r;

	if ((r = sub_op("counter", "create, read or increment", &argc, &argv, &o, &op)))
		return r;
	if (streq(op, "create")) {
		if (argc != o.optind)
			return cmd_usage_error("tpm", "counter create takes no arguments");
		if (tpm_cmd_get_pass(o.owner_fd, "TPM Owner Passphrase", &owner) < 0)
			return HEADS_EXIT_USAGE;
	} else if (streq(op, "read") || streq(op, "increment")) {
		if (argc - o.optind != 1 || tpm_cmd_parse_index(&o, argv[o.optind], &index) < 0)
			return cmd_usage_error("tpm", "counter %s takes one INDEX (0x01xxxxxx)", op);
		if (streq(op, "increment") && o.owner_fd >= 0 &&
		    secret_read_line_fd(o.owner_fd, PASS_MAX, &owner) < 0)
			return HEADS_EXIT_USAGE;
	} else {
		return cmd_usage_error("tpm", "unknown counter operation '%s'", op);
	}
	if ((r = tpm_cmd_open_tpm(&o, &t)) < 0)
		return tpm_cmd_exit_for(r);
	if (streq(op, "create")) {
		r = tpm_counter_create(t, owner, &index);
		if (r == 0)
			r = tpm_counter_read(t, index, &value);
	} else if (streq(op, "read")) {
		r = tpm_counter_read(t, index, &value);
	} else {
		r = tpm_counter_increment(t, index, owner, &value);
	}
	if (r < 0) {
		_cleanup_free_ char *what = xasprintf("counter %s", op);
		report_failure(t, r, what, r == TPM_E_NO_OBJECT ? ": no such counter" :
				   r == TPM_E_AUTH_FAIL ? ": authorization failed" : "");
		return tpm_cmd_exit_for(r);
	}
	printf("%x: %016llx\n", index, (unsigned long long)value);
	return 0;
}

int tpm_cmd_do_nv(int argc, char **argv)
{
	struct opts o;
	_cleanup_tpm_ struct tpm *t = NULL;
	_cleanup_secret_ struct secret *owner = NULL, *data = NULL;
	const char *op;
	uint32_t index;
	int r;

	if ((r = sub_op("nv", "define, write, read, info or undefine", &argc, &argv, &o, &op)))
		return r;
	if (!streq(op, "define") && !streq(op, "write") && !streq(op, "read") &&
	    !streq(op, "info") && !streq(op, "undefine"))
		return cmd_usage_error("tpm", "unknown nv operation '%s'", op);
	if (argc - o.optind != 1 || tpm_cmd_parse_index(&o, argv[o.optind], &index) < 0)
		return cmd_usage_error("tpm", "nv %s takes one INDEX (0x01xxxxxx)", op);
	if (streq(op, "define") && !o.size)
		return cmd_usage_error("tpm", "nv define needs --size N");
	if (streq(op, "define") || streq(op, "undefine") || (streq(op, "write") && o.owner_fd >= 0))
		if (tpm_cmd_get_pass(o.owner_fd, "TPM Owner Passphrase", &owner) < 0)
			return HEADS_EXIT_USAGE;
	if (streq(op, "write") && secret_read_fd(STDIN_FILENO, 2048, &data) < 0) {
		fprintf(stderr, "heads tpm: nv write: cannot read up to 2048 bytes from stdin\n");
		return HEADS_EXIT_USAGE;
	}
	if ((r = tpm_cmd_open_tpm(&o, &t)) < 0)
		return tpm_cmd_exit_for(r);
	if (streq(op, "define")) {
		r = tpm_nv_define(t, index, (size_t)o.size, owner);
	} else if (streq(op, "undefine")) {
		r = tpm_nv_undefine(t, index, owner);
	} else if (streq(op, "write")) {
		r = tpm_nv_write(t, index, data->data, data->len, owner);
	} else if (streq(op, "info")) {
		uint32_t attrs;
		size_t size;
		r = tpm_nv_info(t, index, &attrs, &size);
		if (r == 0)
			printf("attributes: 0x%08x\nsize: %zu\n", attrs, size);
	} else {
		_cleanup_free_ uint8_t *buf = NULL;
		size_t len;
		r = tpm_nv_read(t, index, &buf, &len);
		if (r == 0 && write_full(STDOUT_FILENO, buf, len) < 0)
			return HEADS_EXIT_FAIL;
	}
	if (r < 0)
		fprintf(stderr, "heads tpm: nv %s 0x%08x failed%s\n", op, index,
			r == TPM_E_NO_OBJECT ? ": no such index" :
			r == TPM_E_AUTH_FAIL ? ": authorization failed" :
			r == -EEXIST ? ": already defined" :
			r == -ENODATA ? ": never written" : "");
	return tpm_cmd_exit_for(r);
}
