/* heads tpm ... - TPM 2.0 and 1.2: PCRs, event log, sealing, counters,
 * ownership. Which subcommand exists on which version: `versions` below
 * (printed by `heads tpm info`) and the table at the end of the help. */
#include "cmd/cmd.h"
#include "flow/tpm_reset.h"
#include "hash.h"
#include "codec.h"
#include "fs.h"
#include "log.h"
#include "secret.h"
#include "tpm/eventlog.h"
#include "tpm/tpm.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "coreboot_cmd.h"
#include "tpm_cmd.h"

#define DEFAULT_TRACE "/tmp/measuring_trace.log"


static const char usage[] =
	"Usage: heads tpm pcrread [N...] [--bank sha256|sha1]\n"
	"       heads tpm extend N (--string S | --file F) [--trace FILE]\n"
	"       heads tpm eventlog [--file F] [--no-compare]\n"
	"       heads tpm predict N [--eventlog F | --no-eventlog] [--string S]... [--file F]...\n"
	"       heads tpm predict-pcr2 --rom FILE\n"
	"       heads tpm coreboot-log [--mem /dev/mem | --log FILE] [--out FILE] [--rom ROM]\n"
	"       heads tpm reset [--owner-fd FD] [--da-max-tries N] [--da-recovery S]\n"
	"       heads tpm seal HANDLE --pcrs LIST [--auth-fd FD] [--owner-fd FD]\n"
	"                [--future N]... [--future-string N=S]... [--future-file N=F]...\n"
	"                [--pcr-value N=HEX]... [--eventlog F | --no-eventlog]\n"
	"       heads tpm unseal HANDLE [--auth-fd FD] [--pcrs LIST]\n"
	"       heads tpm evict HANDLE [--owner-fd FD]\n"
	"       heads tpm counter create [--owner-fd FD]\n"
	"       heads tpm counter read INDEX\n"
	"       heads tpm counter increment INDEX [--owner-fd FD]\n"
	"       heads tpm nv define INDEX --size N [--owner-fd FD]\n"
	"       heads tpm nv write INDEX [--owner-fd FD]   (data on stdin)\n"
	"       heads tpm nv read INDEX | info INDEX\n"
	"       heads tpm nv undefine INDEX [--owner-fd FD]\n"
	"       heads tpm info | finalize | shutdown\n"
	"\n"
	"Every subcommand takes --tcti STR (default $HEADS_TCTI, else by\n"
	"/sys/class/tpm/tpm0/tpm_version_major: device:/dev/tpmrm0 for a TPM 2.0,\n"
	"tpm12-device:/dev/tpm0 for a TPM 1.2; tpm12-swtpm:host=H,port=P is swtpm in\n"
	"TPM 1.2 mode) and --primary-name HEX: the Name of the primary key\n"
	"recorded at ownership (CONFIG_TPM_PRIMARY_NAME); a different key at\n"
	"0x81000000 is then never used to salt a session, seal or unseal. Passphrases come from an fd (--x-fd N, one line) or a\n"
	"no-echo prompt on /dev/tty, never from argv. One bank is extended,\n"
	"sealed against and predicted: sha256 on a TPM 2.0, sha1 on a TPM 1.2.\n"
	"\n"
	"pcrread   one line per PCR: `N: <lower-case hex>` (default PCRs 0-23).\n"
	"extend    sha256(S) or sha256(file content) into PCR N; appends a MEASURE\n"
	"          line to the measurement trace (--trace, $HEADS_MEASURE_TRACE, else\n"
	"          " DEFAULT_TRACE ").\n"
	"eventlog  lists the firmware event log (default\n"
	"          " TPM_EVENTLOG_DEFAULT ")\n"
	"          and compares its replay with the live PCRs (exit 1 if different).\n"
	"predict   the value PCR N will have: firmware log replay, then each --string\n"
	"          and --file measurement in order.\n"
	"seal      seals stdin (<= 128 bytes) at HANDLE (e.g. 0x81004d47) to the\n"
	"          current values of the PCRs in LIST (e.g. 0,1,2,3,4,7), except:\n"
	"          --future N: the firmware-only value of N (event log replay);\n"
	"          --future-string/--future-file N=...: that plus these measurements;\n"
	"          --pcr-value N=HEX: exactly this value. With --auth-fd the secret\n"
	"          also needs that passphrase. The expected values are recorded in NV\n"
	"          index 0x0148XXXX (XXXX = low 16 bits of HANDLE; 0x0048XXXX on a\n"
	"          TPM 1.2), checked against the sealed object before it is used.\n"
	"unseal    writes the secret to stdout. The PCR list comes from that record\n"
	"          (or --pcrs). On a PCR mismatch, each moved PCR is named with its\n"
	"          expected and actual value.\n"
	"counter   NV monotonic counter (index 0x01XXXXXX; on a TPM 1.2 0xbaddNNNN:\n"
	"          the reference's label 0xbaddecaf, the TPM's counter id NNNN);\n"
	"          prints `INDEX: <16 hex>`.\n"
	"nv        plain NV index (ownerwrite|ownerread|authread|authwrite|no_da,\n"
	"          empty index auth; write without --owner-fd uses index auth);\n"
	"          read writes the raw content to stdout; info prints\n"
	"          `attributes: 0x<hex>` and `size: N`.\n"
	"reset     clears the TPM (platform auth), sets the owner passphrase, creates\n"
	"          and persists the primary key at 0x81000000, DA 10 tries / 3600 s\n"
	"          (--da-max-tries, --da-recovery: tests), random lockout auth;\n"
	"          prints CONFIG_TPM_PRIMARY_NAME=\"<hex Name>\" (record it).\n"
	"info      `TPM 1.2` or `TPM 2.0`, `manufacturer: XXXX`, `lockout: no` or\n"
	"          `lockout: yes, next try in N s` (TPM 2.0: N is the recovery\n"
	"          interval, an upper bound: it does not say when the last failure\n"
	"          was; TPM 1.2: the TPM's remaining lock time), the DA counters,\n"
	"          loaded handles, then `commands: ...` (the subcommands this TPM's\n"
	"          version has) and `not-on-this-tpm: ...` (those it has not).\n"
	"          finalize: random platform auth before kexec. shutdown:\n"
	"          TPM2_Shutdown(CLEAR).\n"
	"\n"
	"Which command exists for which version (TPM 1.2: our own client over\n"
	"/dev/tpm0 or swtpm's port, no TrouSerS/tcsd):\n"
	"  command       TPM 2.0                 TPM 1.2\n"
	"  pcrread       sha256 (sha1 readable)  sha1 (the only bank)\n"
	"  extend        SHA-256                 SHA-1 (`sha1` trace lines)\n"
	"  eventlog      crypto-agile log        TCPA (SHA-1) log\n"
	"  predict       sha256 replay           sha1 replay\n"
	"  predict-pcr2  yes                     no (coreboot's SHA-256 PCR 2)\n"
	"  coreboot-log  yes                     no (coreboot's TPM 2.0 log)\n"
	"  reset         platform/lockout clear  physical presence, ForceClear,\n"
	"                + primary 0x81000000    TakeOwnership (SRK well-known)\n"
	"  seal          PCRs 0-23               PCRs 0-15, no --pcr-value; blob in\n"
	"                                        NV HANDLE & 0xffffff (312 bytes)\n"
	"  unseal evict  yes                     yes\n"
	"  counter       NV counter 0x01XXXXXX   TPM_CreateCounter, 0xbaddNNNN\n"
	"  nv info       yes                     yes\n"
	"  finalize      platform auth random    no-op (as the reference)\n"
	"  shutdown      Shutdown(CLEAR)         no-op (as the reference)\n"
	"On a TPM 1.2 --primary-name and --da-max-tries/--da-recovery have no\n"
	"effect (no primary key; the DA policy is the vendor's).\n"
	"\n"
	"Exit status: 0 ok; 1 check failed (PCR mismatch, event log differs);\n"
	"2 usage error; 3 wrong passphrase or owner passphrase; 4 dictionary-attack\n"
	"lockout (the TPM forgives one failure every recovery interval); 5 nothing\n"
	"sealed at HANDLE / no such NV index; 6 no TPM; 7 no primary key (TPM reset\n"
	"needed); 8 other TPM error; 9 the primary key is not the one recorded at\n"
	"ownership (--primary-name); 10 a PCR record NV index not defined by heads.\n";

int tpm_cmd_exit_for(int r)
{
	switch (r) {
	case 0:
		return 0;
	case TPM_E_PCR_MISMATCH:
		return EXIT_PCR_MISMATCH;
	case TPM_E_AUTH_FAIL:
		return EXIT_AUTH;
	case TPM_E_LOCKOUT:
		return EXIT_LOCKOUT;
	case TPM_E_NO_OBJECT:
		return EXIT_NO_OBJECT;
	case TPM_E_NO_TPM:
		return EXIT_NO_TPM;
	case TPM_E_NO_PRIMARY:
		return EXIT_NO_PRIMARY;
	case TPM_E_PRIMARY_CHANGED:
		return EXIT_PRIMARY_CHANGED;
	case TPM_E_FOREIGN_RECORD:
		return EXIT_FOREIGN_RECORD;
	default:
		return 8;
	}
}



static int parse_pcr(const char *s, unsigned *ret)
{
	unsigned long long v;
	if (parse_uint(s, TPM_PCR_COUNT - 1, &v) < 0)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

/* "N=REST" -> pcr, rest. */
static int split_assign(const char *s, unsigned *pcr, const char **rest)
{
	const char *eq = strchr(s, '=');
	char num[8];
	if (!eq || (size_t)(eq - s) >= sizeof(num) || eq == s)
		return -EINVAL;
	memcpy(num, s, (size_t)(eq - s));
	num[eq - s] = '\0';
	*rest = eq + 1;
	return parse_pcr(num, pcr);
}

int tpm_cmd_parse_opts(const char *sub, int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{"tcti", required_argument, NULL, O_TCTI},
		{"primary-name", required_argument, NULL, O_PRIMARY_NAME},
		{"owner-fd", required_argument, NULL, O_OWNER_FD},
		{"auth-fd", required_argument, NULL, O_AUTH_FD},
		{"string", required_argument, NULL, O_STRING},
		{"file", required_argument, NULL, O_FILE},
		{"trace", required_argument, NULL, O_TRACE},
		{"eventlog", required_argument, NULL, O_EVENTLOG},
		{"no-eventlog", no_argument, NULL, O_NO_EVENTLOG},
		{"no-compare", no_argument, NULL, O_NO_COMPARE},
		{"bank", required_argument, NULL, O_BANK},
		{"pcrs", required_argument, NULL, O_PCRS},
		{"future", required_argument, NULL, O_FUTURE},
		{"future-string", required_argument, NULL, O_FUTURE_STRING},
		{"future-file", required_argument, NULL, O_FUTURE_FILE},
		{"pcr-value", required_argument, NULL, O_PCR_VALUE},
		{"size", required_argument, NULL, O_SIZE},
		{"da-max-tries", required_argument, NULL, O_DA_MAX_TRIES},
		{"da-recovery", required_argument, NULL, O_DA_RECOVERY},
		{},
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->owner_fd = o->auth_fd = -1;
	o->da_max_tries = TPM_DA_MAX_TRIES;
	o->da_recovery = TPM_DA_RECOVERY_SECONDS;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		unsigned pcr;
		const char *rest;
		switch (c) {
		case O_TCTI:
			o->tcti = optarg;
			break;
		case O_DA_MAX_TRIES:
			if (!streq(sub, "reset") || parse_uint(optarg, 1000, &o->da_max_tries) < 0 ||
			    o->da_max_tries == 0)
				return cmd_usage_error("tpm", "%s: bad --da-max-tries '%s'", sub, optarg);
			break;
		case O_DA_RECOVERY:
			if (!streq(sub, "reset") || parse_uint(optarg, 86400, &o->da_recovery) < 0 ||
			    o->da_recovery == 0)
				return cmd_usage_error("tpm", "%s: bad --da-recovery '%s'", sub, optarg);
			break;
		case O_PRIMARY_NAME:
			o->primary_name = optarg;
			break;
		case O_OWNER_FD:
			if (cmd_parse_fd(optarg, &o->owner_fd) < 0)
				return cmd_usage_error("tpm", "%s: bad --owner-fd '%s'", sub, optarg);
			break;
		case O_AUTH_FD:
			if (cmd_parse_fd(optarg, &o->auth_fd) < 0)
				return cmd_usage_error("tpm", "%s: bad --auth-fd '%s'", sub, optarg);
			break;
		case O_STRING:
		case O_FILE:
			if (streq(sub, "predict")) {
				o->extra = xrealloc(o->extra, (o->n_extra + 1) * sizeof(*o->extra));
				o->extra[o->n_extra++] = (struct extra){0, c == O_FILE, optarg};
			} else if (c == O_STRING) {
				o->str = optarg;
			} else {
				o->file = optarg;
			}
			break;
		case O_TRACE:
			o->trace = optarg;
			break;
		case O_EVENTLOG:
			o->eventlog = optarg;
			break;
		case O_NO_EVENTLOG:
			o->no_eventlog = true;
			break;
		case O_NO_COMPARE:
			o->no_compare = true;
			break;
		case O_BANK:
			if (!streq(optarg, "sha256") && !streq(optarg, "sha1"))
				return cmd_usage_error("tpm", "bank must be sha256 or sha1");
			o->bank = optarg;
			break;
		case O_PCRS:
			o->pcrs = optarg;
			break;
		case O_FUTURE:
			if (parse_pcr(optarg, &pcr) < 0)
				return cmd_usage_error("tpm", "bad --future '%s'", optarg);
			o->future_mask |= 1u << pcr;
			break;
		case O_FUTURE_STRING:
		case O_FUTURE_FILE:
			if (split_assign(optarg, &pcr, &rest) < 0)
				return cmd_usage_error("tpm", "bad '%s': expected N=VALUE", optarg);
			o->future_mask |= 1u << pcr;
			o->extra = xrealloc(o->extra, (o->n_extra + 1) * sizeof(*o->extra));
			o->extra[o->n_extra++] = (struct extra){pcr, c == O_FUTURE_FILE, rest};
			break;
		case O_PCR_VALUE: {
			size_t len;
			if (split_assign(optarg, &pcr, &rest) < 0 || strlen(rest) != 64)
				return cmd_usage_error("tpm", "bad --pcr-value '%s': expected N=<64 hex>", optarg);
			o->values = xrealloc(o->values, (o->n_values + 1) * sizeof(*o->values));
			o->values[o->n_values].pcr = pcr;
			if (hex_decode(rest, o->values[o->n_values].v, 32, &len) < 0 || len != 32)
				return cmd_usage_error("tpm", "bad hex in --pcr-value '%s'", optarg);
			o->n_values++;
			break;
		}
		case O_SIZE:
			if (parse_uint(optarg, 2048, &o->size) < 0 || o->size == 0)
				return cmd_usage_error("tpm", "bad --size '%s' (1-2048)", optarg);
			break;
		default:
			return cmd_usage_error("tpm", "%s: unknown or incomplete option '%s'", sub,
					       argv[optind - 1]);
		}
	}
	o->optind = optind;
	return 0;
}

void tpm_cmd_free_opts(struct opts *o)
{
	free(o->extra);
	free(o->values);
}

int tpm_cmd_open_tpm(const struct opts *o, struct tpm **t)
{
	int r = cmd_tpm_open(o->tcti, o->primary_name, t);
	if (r == -EINVAL)
		fprintf(stderr, "heads tpm: bad --primary-name '%s'\n", o->primary_name);
	else if (r < 0)
		fprintf(stderr, "heads tpm: no TPM at %s\n", cmd_tcti(o->tcti));
	return r;
}

/* Passphrase from fd, else a prompt on the terminal (cmd_passphrase). */
int tpm_cmd_get_pass(int fd, const char *prompt, struct secret **ret)
{
	int r = cmd_passphrase(fd, "TPM", prompt, PASS_MAX, ret);
	if (r == -ENOTTY)
		fprintf(stderr, "heads tpm: no terminal to ask for the %s; use the -fd option\n", prompt);
	return r;
}

int tpm_cmd_parse_handle(const char *s, uint32_t prefix, uint32_t *ret)
{
	unsigned long long v;
	if (parse_uint(s, 0xffffffffULL, &v) < 0 || (v >> 24) != (prefix >> 24))
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

/* NV indices and counter ids: 0x01XXXXXX on a TPM 2.0; on a TPM 1.2 the
 * TPM's own numbers (counter ids it assigns, NV indices such as 0x4d47). */
static bool tcti_is_tpm12(const char *tcti)
{
	return strncmp(cmd_tcti(tcti), "tpm12-", 6) == 0;
}

int tpm_cmd_parse_index(const struct opts *o, const char *s, uint32_t *ret)
{
	unsigned long long v;
	if (!tcti_is_tpm12(o->tcti))
		return tpm_cmd_parse_handle(s, 0x01000000, ret);
	if (parse_uint(s, 0xffffffffULL, &v) < 0)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

static void print_hex_line(unsigned pcr, const uint8_t *v, size_t len)
{
	char hex[65];
	hex_encode(v, len, hex);
	printf("%u: %s\n", pcr, hex);
}

static int do_pcrread(int argc, char **argv)
{
	struct opts o;
	_cleanup_tpm_ struct tpm *t = NULL;
	uint32_t mask = 0;
	int r = tpm_cmd_parse_opts("pcrread", argc, argv, &o);
	if (r)
		return r;
	for (int i = o.optind; i < argc; i++) {
		unsigned pcr;
		if (parse_pcr(argv[i], &pcr) < 0)
			return cmd_usage_error("tpm", "bad PCR '%s'", argv[i]);
		mask |= 1u << pcr;
	}
	if (!mask)
		mask = (1u << TPM_PCR_COUNT) - 1;
	if ((r = tpm_cmd_open_tpm(&o, &t)) < 0)
		return tpm_cmd_exit_for(r);
	if (tpm_version(t) == 12 && o.bank && streq(o.bank, "sha256")) {
		fprintf(stderr, "heads tpm: a TPM 1.2 has only SHA-1 PCRs (--bank sha1)\n");
		return HEADS_EXIT_USAGE;
	}
	if (tpm_version(t) == 12 && !o.bank)
		o.bank = "sha1";
	if (!o.bank || streq(o.bank, "sha256")) {
		uint8_t v[TPM_PCR_COUNT][32];
		r = tpm_pcr_read_mask(t, mask, v);
		if (r < 0)
			return tpm_cmd_exit_for(r);
		for (unsigned i = 0; i < TPM_PCR_COUNT; i++)
			if (mask & (1u << i))
				print_hex_line(i, v[i], 32);
	} else {
		for (unsigned i = 0; i < TPM_PCR_COUNT; i++) {
			uint8_t v[32];
			size_t len;
			if (!(mask & (1u << i)))
				continue;
			r = tpm_pcr_read(t, o.bank, i, v, &len);
			if (r < 0)
				return tpm_cmd_exit_for(r);
			print_hex_line(i, v, len);
		}
	}
	return fflush(stdout) == 0 ? 0 : HEADS_EXIT_FAIL;
}

static int do_extend(int argc, char **argv)
{
	struct opts o;
	_cleanup_tpm_ struct tpm *t = NULL;
	const char *trace;
	unsigned pcr;
	int r = tpm_cmd_parse_opts("extend", argc, argv, &o);
	if (r)
		return r;
	if (argc - o.optind != 1 || parse_pcr(argv[o.optind], &pcr) < 0)
		return cmd_usage_error("tpm", "extend takes one PCR number (0-23)");
	if (!!o.str == !!o.file)
		return cmd_usage_error("tpm", "extend needs exactly one of --string or --file");
	trace = o.trace ? o.trace : getenv("HEADS_MEASURE_TRACE");
	if (!trace || !*trace)
		trace = DEFAULT_TRACE;
	r = log_open_trace(trace);
	if (r < 0) {
		fprintf(stderr, "heads tpm: cannot open the measurement trace %s: %s\n", trace, strerror(-r));
		return HEADS_EXIT_FAIL;
	}
	if ((r = tpm_cmd_open_tpm(&o, &t)) < 0)
		return tpm_cmd_exit_for(r);
	r = o.str ? tpm_extend_string(t, pcr, o.str) : tpm_extend_file(t, pcr, o.file);
	if (r < 0) {
		fprintf(stderr, "heads tpm: extending PCR %u failed: %s\n", pcr, strerror(-r));
		return r == -ENOENT || r == -EISDIR || r == -EACCES ? HEADS_EXIT_USAGE : tpm_cmd_exit_for(r);
	}
	return 0;
}

static int load_log(const struct opts *o, struct tpm_eventlog **ret)
{
	int r = tpm_eventlog_load(o->eventlog, ret);
	if (r < 0)
		fprintf(stderr, "heads tpm: cannot use the event log %s: %s\n",
			o->eventlog ? o->eventlog : TPM_EVENTLOG_DEFAULT,
			r == -EBADMSG ? "malformed" : strerror(-r));
	return r;
}

static int do_eventlog(int argc, char **argv)
{
	struct opts o;
	_cleanup_tpm_ struct tpm *t = NULL;
	struct tpm_eventlog *l = NULL;
	const char *bank;
	uint32_t used = 0;
	bool differs = false;
	int r = tpm_cmd_parse_opts("eventlog", argc, argv, &o);
	if (r)
		return r;
	if (argc != o.optind)
		return cmd_usage_error("tpm", "eventlog takes no arguments");
	if (o.file)
		o.eventlog = o.file;
	if (load_log(&o, &l) < 0)
		return HEADS_EXIT_USAGE;
	bank = l->has_sha256_bank ? "sha256" : "sha1";
	printf("# %s log, %zu events, bank %s\n", l->crypto_agile ? "crypto-agile" : "SHA-1 (TCPA)",
	       l->n, bank);
	for (size_t i = 0; i < l->n; i++) {
		const struct tpm_event *e = &l->events[i];
		const char *name = tpm_event_type_name(e->type);
		char hex[65] = "-";
		if (streq(bank, "sha256") && e->has_sha256)
			hex_encode(e->sha256, 32, hex);
		else if (streq(bank, "sha1") && e->has_sha1)
			hex_encode(e->sha1, 20, hex);
		printf("%zu\tPCR %u\t%s\t%s\t%u bytes\n", i, e->pcr, hex,
		       name ? name : "unknown", e->data_len);
		if (e->pcr < TPM_PCR_COUNT && e->type != TPM_EV_NO_ACTION)
			used |= 1u << e->pcr;
	}
	if (!o.no_compare) {
		r = tpm_cmd_open_tpm(&o, &t);
		if (r < 0) {
			tpm_eventlog_free(l);
			return tpm_cmd_exit_for(r);
		}
	}
	for (unsigned pcr = 0; pcr < TPM_PCR_COUNT; pcr++) {
		uint8_t want[32], live[32];
		char hw[65], hl[65];
		size_t len;
		if (!(used & (1u << pcr)))
			continue;
		if (tpm_eventlog_replay(l, bank, pcr, want, &len) < 0) {
			printf("PCR %u: replay impossible (an event lacks the %s digest)\n", pcr, bank);
			differs = true;
			continue;
		}
		hex_encode(want, len, hw);
		if (o.no_compare) {
			printf("PCR %u: replay %s\n", pcr, hw);
			continue;
		}
		r = tpm_pcr_read(t, bank, pcr, live, &len);
		if (r < 0) {
			tpm_eventlog_free(l);
			return tpm_cmd_exit_for(r);
		}
		hex_encode(live, len, hl);
		if (streq(hw, hl)) {
			printf("PCR %u: replay matches the live value %s\n", pcr, hw);
		} else {
			printf("PCR %u: replay %s differs from the live value %s\n", pcr, hw, hl);
			differs = true;
		}
	}
	tpm_eventlog_free(l);
	if (differs)
		fprintf(stderr, "heads tpm: the event log replay does not match the PCRs\n");
	return differs ? HEADS_EXIT_FAIL : 0;
}

/* The measurement of one extra argument: sha256 (sha1 on a TPM 1.2) of
 * the string or file. */
static int extra_digest(const struct extra *e, bool sha1, uint8_t out[32])
{
	enum hash_alg alg = sha1 ? HASH_SHA1 : HASH_SHA256;
	if (e->is_file) {
		_cleanup_close_ int fd = open(e->v, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		int r = fd < 0 ? -errno : hash_fd(alg, fd, NULL, out, NULL);
		if (r < 0)
			fprintf(stderr, "heads tpm: cannot read %s: %s\n", e->v, strerror(-r));
		return r;
	}
	return hash_buf(alg, e->v, strlen(e->v), out);
}

/* Predict every PCR in o->future_mask into v. */
int tpm_cmd_predict_into(const struct opts *o, struct tpm_pcr_values *v)
{
	struct tpm_eventlog *l = NULL;
	int r = 0;
	/* SHA-1 bank: a TPM 1.2, or --bank sha1 */
	bool sha1 = (o->bank && streq(o->bank, "sha1")) || tcti_is_tpm12(o->tcti);
	if (!o->future_mask)
		return 0;
	if (!o->no_eventlog && load_log(o, &l) < 0)
		return -EINVAL;
	for (unsigned pcr = 0; pcr < TPM_PCR_COUNT && r == 0; pcr++) {
		uint8_t(*extra)[32];
		size_t n = 0;
		if (!(o->future_mask & (1u << pcr)))
			continue;
		extra = xcalloc(o->n_extra + 1, 32);
		for (size_t i = 0; i < o->n_extra && r == 0; i++)
			if (o->extra[i].pcr == pcr)
				r = extra_digest(&o->extra[i], sha1, extra[n++]);
		if (r == 0 && sha1) {
			uint8_t(*e20)[20] = xcalloc(n + 1, 20);
			for (size_t i = 0; i < n; i++)
				memcpy(e20[i], extra[i], 20);
			memset(v->sha256[pcr], 0, 32);
			r = tpm_predict_pcr_sha1(l, pcr, (const uint8_t(*)[20])e20, n, v->sha256[pcr]);
			free(e20);
		} else if (r == 0) {
			r = tpm_predict_pcr(l, pcr, (const uint8_t(*)[32])extra, n, v->sha256[pcr]);
		}
		free(extra);
	}
	tpm_eventlog_free(l);
	return r;
}

static int do_predict(int argc, char **argv)
{
	struct opts o;
	struct tpm_pcr_values v = {0};
	unsigned pcr;
	int r = tpm_cmd_parse_opts("predict", argc, argv, &o);
	if (r)
		return r;
	if (argc - o.optind != 1 || parse_pcr(argv[o.optind], &pcr) < 0) {
		tpm_cmd_free_opts(&o);
		return cmd_usage_error("tpm", "predict takes one PCR number (0-23)");
	}
	for (size_t i = 0; i < o.n_extra; i++)
		o.extra[i].pcr = pcr;
	o.future_mask = 1u << pcr;
	r = tpm_cmd_predict_into(&o, &v);
	bool sha1 = (o.bank && streq(o.bank, "sha1")) || tcti_is_tpm12(o.tcti);
	tpm_cmd_free_opts(&o);
	if (r < 0)
		return HEADS_EXIT_USAGE;
	print_hex_line(pcr, v.sha256[pcr], sha1 ? 20 : 32);
	return 0;
}

static int do_reset(int argc, char **argv)
{
	struct opts o;
	_cleanup_secret_ struct secret *owner = NULL;
	_cleanup_free_ char *name = NULL;
	enum flow_tpm_reset_step step;
	int version = 0;
	int r = tpm_cmd_parse_opts("reset", argc, argv, &o);
	if (r)
		return r;
	if (argc != o.optind)
		return cmd_usage_error("tpm", "reset takes no arguments");
	if (tpm_cmd_get_pass(o.owner_fd, "New TPM Owner Passphrase", &owner) < 0)
		return HEADS_EXIT_USAGE;
	/* The flow the menu runs (flow/tpm_reset.h). */
	struct session s = {.tcti = o.tcti};
	struct flow_tpm_reset a = {.owner = owner, .da_max_tries = (uint32_t)o.da_max_tries,
				   .da_recovery = (uint32_t)o.da_recovery};
	r = flow_tpm_reset(&s, &a, &version, &name, &step);
	if (r < 0) {
		if (step == FLOW_TPM_RESET_OPEN)
			fprintf(stderr, "heads tpm: no TPM at %s\n", cmd_tcti(o.tcti));
		else if (step == FLOW_TPM_RESET_RESET)
			fprintf(stderr, "heads tpm: TPM reset failed\n");
		return tpm_cmd_exit_for(r);
	}
	if (version == 12) { /* SRK 0x40000000, well-known auth: nothing to pin */
		fprintf(stderr, "heads tpm: TPM 1.2 reset; owned, SRK at 0x40000000\n");
		return 0;
	}
	fprintf(stderr, "heads tpm: TPM reset; primary key at 0x%08x\n", TPM_PRIMARY_HANDLE);
	/* The line to record in the owner's configuration (the pin). */
	printf("%s=\"%s\"\n", CMD_CONFIG_PRIMARY_NAME, name);
	return 0;
}

/* The subcommands and the versions they exist on (the help's table). */
static const struct {
	const char *name;
	bool tpm12;
} versions[] = {
	{"pcrread", true},	{"extend", true},	 {"eventlog", true}, {"predict", true},
	{"predict-pcr2", false}, {"coreboot-log", false}, {"reset", true},    {"seal", true},
	{"unseal", true},	{"evict", true},	 {"counter", true},  {"nv", true},
	{"info", true},		{"finalize", true},	 {"shutdown", true},
};

static void print_commands(bool tpm12)
{
	for (int have = 1; have >= 0; have--) {
		fputs(have ? "commands:" : "not-on-this-tpm:", stdout);
		for (size_t i = 0; i < ARRAY_SIZE(versions); i++)
			if ((!tpm12 || versions[i].tpm12) == (have == 1))
				printf(" %s", versions[i].name);
		putchar('\n');
	}
}

static int do_simple(int argc, char **argv)
{
	struct opts o;
	_cleanup_tpm_ struct tpm *t = NULL;
	const char *sub = argv[0];
	int r = tpm_cmd_parse_opts(sub, argc, argv, &o);
	if (r)
		return r;
	if (argc != o.optind)
		return cmd_usage_error("tpm", "%s takes no arguments", sub);
	if ((r = tpm_cmd_open_tpm(&o, &t)) < 0)
		return tpm_cmd_exit_for(r);
	if (streq(sub, "finalize")) {
		r = tpm_finalize(t);
	} else if (streq(sub, "shutdown")) {
		r = tpm_shutdown(t);
	} else {
		bool lockout;
		uint32_t cnt, max, secs;
		unsigned tr, se;
		char manu[5] = "?";
		printf("TPM %s\n", tpm_version(t) == 12 ? "1.2" : "2.0");
		if (tpm_manufacturer(t, manu) == 0)
			printf("manufacturer: %s\n", manu);
		r = tpm_lockout_status(t, &lockout, &cnt, &max, &secs);
		if (r == 0)
			r = tpm_count_handles(t, &tr, &se);
		if (r == 0) {
			if (lockout)
				printf("lockout: yes, next try in %u s\n", secs);
			else
				printf("lockout: no\n");
			printf("failed-tries: %u\nmax-tries: %u\nrecovery-seconds: %u\n"
			       "transient-handles: %u\nloaded-sessions: %u\n",
			       cnt, max, secs, tr, se);
			print_commands(tpm_version(t) == 12);
		}
	}
	if (r < 0)
		fprintf(stderr, "heads tpm: %s failed\n", sub);
	return tpm_cmd_exit_for(r);
}

static const struct heads_subcommand subs[] = {
	{"pcrread", "read PCRs", do_pcrread},
	{"extend", "extend a PCR", do_extend},
	{"eventlog", "list and replay the firmware event log", do_eventlog},
	{"predict", "compute a future PCR value", do_predict},
	{"predict-pcr2", "PCR 2 coreboot will measure, from a ROM", cmd_tpm_predict_pcr2},
	{"coreboot-log", "coreboot's TPM log (cbmem) and its replay", cmd_tpm_coreboot_log},
	{"reset", "clear and take ownership", do_reset},
	{"seal", "seal stdin to PCR values", tpm_cmd_do_seal},
	{"unseal", "unseal to stdout", tpm_cmd_do_unseal},
	{"evict", "remove a persistent object", tpm_cmd_do_evict},
	{"counter", "NV monotonic counter", tpm_cmd_do_counter},
	{"nv", "plain NV index", tpm_cmd_do_nv},
	{"info", "DA and handle status", do_simple},
	{"finalize", "lock the platform hierarchy", do_simple},
	{"shutdown", "TPM2_Shutdown(CLEAR)", do_simple},
	{},
};

static int run(int argc, char **argv);

const struct heads_command cmd_tpm = {
	.name = "tpm",
	.summary = "TPM 2.0 and 1.2: PCRs, event log, seal/unseal, counters, ownership",
	.usage = usage,
	.run = run,
};

static int run(int argc, char **argv)
{
	return cmd_run_sub(&cmd_tpm, subs, argc, argv);
}
