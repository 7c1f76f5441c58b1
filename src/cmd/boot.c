/* heads boot sign|verify|report - /boot integrity (issue 5). */
#include "boot/integrity.h"
#include "bootcfg/bootcfg.h"
#include "cmd/cmd.h"
#include "flow/sign.h"
#include "board.h"
#include "config.h"
#include "log.h"
#include "secret.h"
#include "tpm/tpm.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#define PIN_MAX 256

static const char usage[] =
	"Usage: heads boot sign   --boot DIR [--gnupghome DIR] [--key ID] [--pin-fd FD]\n"
	"                         [--keyring DIR] [--keep] [--tcti STR] [--owner-fd FD]\n"
	"                         [--new-counter] [--no-rollback] [--default N]\n"
	"                         [--config F]...\n"
	"       heads boot verify --boot DIR --keyring DIR [--tcti STR] [--no-rollback]\n"
	"                         [--config F]...\n"
	"       heads boot report --boot DIR --keyring DIR [--tcti STR] [--no-rollback]\n"
	"                         [--config F]...\n"
	"\n"
	"/boot integrity: kexec_hashes.txt (sha256 of every file), kexec_tree.txt\n"
	"(every path), kexec_links.txt (every symlink and its target),\n"
	"kexec_rollback.txt (TPM counter) and kexec.sig (detached OpenPGP signature\n"
	"over `sha256sum kexec*.txt`; kexec_package_trigger_* excluded), in the shell\n"
	"version's formats (kexec_links.txt and kexec.sig.listing, a copy of the\n"
	"signed listing, are ignored by it).\n"
	"\n"
	"sign    regenerates the manifests from /boot as it is now (this is the\n"
	"        explicit \"update checksums\": it trusts every file), advances the\n"
	"        TPM rollback counter, signs with the key (default: the first secret\n"
	"        signing key of --gnupghome, else $GNUPGHOME), and only then writes\n"
	"        /boot with atomic renames (remounting it read-write if it is a\n"
	"        read-only mount point, and read-only again afterwards). Of the\n"
	"        kexec*.txt on disk only those covered by the current signature,\n"
	"        verified against --keyring (default: --gnupghome), are signed\n"
	"        again; any other is named and NOT signed. The PIN is asked on the\n"
	"        terminal when gpg needs it, or read from --pin-fd; gpg-agent's\n"
	"        passphrase cache is emptied afterwards. Names with bytes 0x01-0x1f,\n"
	"        '\\' or >= 0x7f are refused.\n"
	"        --keep: do not regenerate anything: /boot must verify against\n"
	"        --keyring first (else exit 1, nothing written); the signed files\n"
	"        are signed again unchanged (with the counter advanced).\n"
	"        --default N: also make entry N of `heads entries` the default\n"
	"        (kexec_default.N.txt and kexec_default_hashes.txt, written by this\n"
	"        signing; any other default leaves /boot). With --keep the entry\n"
	"        must come from the signed configurations and files.\n"
	"verify  checks the signature against --keyring (a GnuPG home holding only\n"
	"        the trusted public keys; it is not modified), every hashed file,\n"
	"        the tree (new/missing paths), the symlinks against kexec_links.txt,\n"
	"        kexec_default_hashes.txt if present and the rollback counter;\n"
	"        prints each problem on stderr, naming the path or link.\n"
	"report  prints the integrity report: signature state (VERIFIED, MISSING,\n"
	"        BAD, UNKNOWN KEY with fingerprint, MALFORMED, INVALID), every\n"
	"        unsigned or changed kexec*.txt, every changed, missing and new file\n"
	"        or link, package trigger files, and the counter state.\n"
	"\n"
	"Rollback: used when a TPM is available (--tcti, $HEADS_TCTI, or\n"
	"/dev/tpmrm0) unless --no-rollback or CONFIG_IGNORE_ROLLBACK=y in the\n"
	"config files (--config, default " BOARD_CONFIG " then " BOARD_USER_CONFIG ").\n"
	"CONFIG_BOOT_REQ_ROLLBACK=y (written at ownership): a /boot without a\n"
	"verified counter fails, even with --no-rollback; CONFIG_ROLLBACK_COUNTER=0xN:\n"
	"kexec_rollback.txt must name that counter.\n"
	"Counter creation needs the TPM owner passphrase: prompt or --owner-fd.\n"
	"--new-counter creates a fresh counter even if /boot names one (after a\n"
	"TPM reset, when the old counter is gone).\n"
	"\n"
	"Exit status: 0 everything holds / signed; 1 an integrity check failed or\n"
	"signing failed; 2 usage error.\n";

struct opts {
	const char *boot, *keyring, *gnupghome, *key, *tcti;
	int pin_fd, owner_fd;
	bool no_rollback, new_counter, keep;
	unsigned default_entry;   /* --default N, 0: none */
	bool req_rollback;        /* CONFIG_BOOT_REQ_ROLLBACK=y */
	uint32_t counter;         /* CONFIG_ROLLBACK_COUNTER */
	char **configs;
	size_t n_configs;
};

static int parse_opts(const char *sub, int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{"boot", required_argument, NULL, 'b'},
		{"keyring", required_argument, NULL, 'k'},
		{"gnupghome", required_argument, NULL, 'g'},
		{"key", required_argument, NULL, 'u'},
		{"pin-fd", required_argument, NULL, 'p'},
		{"owner-fd", required_argument, NULL, 'o'},
		{"tcti", required_argument, NULL, 't'},
		{"no-rollback", no_argument, NULL, 'n'},
		{"new-counter", no_argument, NULL, 'N'},
		{"keep", no_argument, NULL, 'K'},
		{"default", required_argument, NULL, 'D'},
		{"config", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->pin_fd = o->owner_fd = -1;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'b': o->boot = optarg; break;
		case 'k': o->keyring = optarg; break;
		case 'g': o->gnupghome = optarg; break;
		case 'u': o->key = optarg; break;
		case 't': o->tcti = optarg; break;
		case 'n': o->no_rollback = true; break;
		case 'N': o->new_counter = true; break;
		case 'K': o->keep = true; break;
		case 'D': {
			unsigned long long n;
			if (parse_uint(optarg, 100000, &n) < 0 || n == 0)
				return cmd_usage_error("boot", "%s: --default takes an entry number "
						       "from 1", sub);
			o->default_entry = (unsigned)n;
			break;
		}
		case 'c':
			o->configs = xrealloc(o->configs, (o->n_configs + 1) * sizeof(char *));
			o->configs[o->n_configs++] = optarg;
			break;
		case 'p':
		case 'o':
			if (cmd_parse_fd(optarg, c == 'p' ? &o->pin_fd : &o->owner_fd) < 0)
				return cmd_usage_error("boot", "%s: bad file descriptor '%s'", sub, optarg);
			break;
		case 'h':
			fputs(usage, stdout);
			return -1;
		default:
			return cmd_usage_error("boot", "%s: bad option '%s'", sub, argv[optind - 1]);
		}
	}
	if (optind != argc)
		return cmd_usage_error("boot", "%s: unexpected argument '%s'", sub, argv[optind]);
	if (!o->boot)
		return cmd_usage_error("boot", "%s: --boot DIR is required", sub);
	return 0;
}

/* CONFIG_IGNORE_ROLLBACK, CONFIG_BOOT_REQ_ROLLBACK, CONFIG_ROLLBACK_COUNTER
 * from the config layers. Returns 0 or exit code. */
static int rollback_disabled(struct opts *o, bool *ret)
{
	_cleanup_free_ char *err = NULL;
	struct config c;
	int rc = 0;

	*ret = o->no_rollback;
	config_init(&c);
	if (board_config_load(&c, o->configs, o->n_configs, &err) < 0) {
		fprintf(stderr, "heads boot: %s\n", err);
		rc = HEADS_EXIT_USAGE;
	}
	if (rc == 0 && config_enabled(&c, "CONFIG_IGNORE_ROLLBACK"))
		*ret = true;
	if (rc == 0) {
		const char *id = config_get(&c, "CONFIG_ROLLBACK_COUNTER");
		unsigned long long v = 0;
		o->req_rollback = config_enabled(&c, "CONFIG_BOOT_REQ_ROLLBACK");
		if (id && *id && (parse_uint(id, UINT32_MAX, &v) < 0 || v == 0)) {
			fprintf(stderr, "heads boot: CONFIG_ROLLBACK_COUNTER=%s is not a counter "
				"index\n", id);
			rc = HEADS_EXIT_USAGE;
		}
		o->counter = (uint32_t)v;
	}
	config_free(&c);
	return rc;
}

/* The TPM to use, or NULL when there is none. */
static const char *tpm_tcti(const struct opts *o)
{
	const char *e = getenv("HEADS_TCTI");
	if (o->tcti && *o->tcti)
		return o->tcti;
	if (e && *e)
		return e;
	if (access("/dev/tpmrm0", F_OK) == 0)
		return "device:/dev/tpmrm0";
	return NULL;
}

struct progress {
	struct timespec start;
	bool shown, tty;
};

static double elapsed(const struct timespec *s)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - s->tv_sec) + (double)(now.tv_nsec - s->tv_nsec) / 1e9;
}

static void progress_cb(void *ud, uint64_t bytes, uint64_t total, size_t files, size_t nfiles)
{
	struct progress *p = ud;
	double t = elapsed(&p->start);
	if (!p->tty || (t < 1.0 && !p->shown))
		return;
	p->shown = true;
	fprintf(stderr, "\rhashing: %" PRIu64 "/%" PRIu64 " MiB, %zu/%zu files, %.0f MiB/s   ",
		bytes >> 20, total >> 20, files, nfiles, t > 0 ? (double)bytes / (1 << 20) / t : 0.0);
	if (files == nfiles)
		fputc('\n', stderr);
}

static void progress_init(struct progress *p)
{
	clock_gettime(CLOCK_MONOTONIC, &p->start);
	p->shown = false;
	p->tty = isatty(STDERR_FILENO);
}

static void print_time(FILE *f, time_t t)
{
	struct tm tm;
	char buf[64];
	if (!t || !gmtime_r(&t, &tm))
		return;
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm);
	fprintf(f, ", signed %s", buf);
}

static void print_sig(FILE *f, const struct sig_result *s)
{
	fprintf(f, "signature: %s", sig_state_name(s->state));
	if (s->fpr[0])
		fprintf(f, " (key %s", s->fpr);
	if (s->fpr[0]) {
		print_time(f, s->created);
		fputc(')', f);
	}
	if (s->legacy)
		fprintf(f, " [legacy absolute names]");
	if (s->state != SIG_VERIFIED && s->detail[0])
		fprintf(f, ": %s", s->detail);
	fputc('\n', f);
}

static void print_issues(FILE *f, const char *what, const struct manifest_report *m)
{
	for (size_t i = 0; i < m->n_issue; i++) {
		_cleanup_free_ char *e = manifest_escape_name(m->issue[i].path);
		fprintf(f, "%s%s: %s", what, manifest_issue_kind_name(m->issue[i].kind), e);
		if (m->issue[i].detail) {
			_cleanup_free_ char *d = manifest_escape_name(m->issue[i].detail);
			fprintf(f, " (%s)", d);
		} else if (m->issue[i].kind == MANIFEST_UNREADABLE) {
			fprintf(f, " (%s)", strerror(-m->issue[i].err));
		}
		fputc('\n', f);
	}
}

/* What is not a failure but must be seen. */
static void print_notes(FILE *f, const char *indent, const struct integrity_report *rep)
{
	for (size_t i = 0; i < rep->n_triggers; i++)
		fprintf(f, "%spackage trigger present: %s (written by the OS's package "
			"hooks; not signed)\n", indent, rep->triggers[i]);
	for (size_t i = 0; i < rep->files.n_unbound; i++) {
		_cleanup_free_ char *e = manifest_escape_name(rep->files.unbound[i]);
		fprintf(f, "%sunbound symlink: %s (no signed kexec_links.txt: not verified, "
			"never followed when booting)\n", indent, e);
	}
}

static void print_kexec_files(FILE *f, const char *indent, const struct integrity_report *rep)
{
	char what[64];
	snprintf(what, sizeof(what), "%skexec*.txt ", indent);
	print_issues(f, what, &rep->kexec_files);
}

static void print_rollback(FILE *f, const struct rollback_result *r)
{
	fprintf(f, "counter: %s", rollback_state_name(r->state));
	if (r->detail[0])
		fprintf(f, ": %s", r->detail);
	fputc('\n', f);
}

/* verify and report share the check; report prints everything on stdout,
 * verify prints problems on stderr and one summary line. */
static int check(int argc, char **argv, bool report)
{
	const char *sub = report ? "report" : "verify";
	struct opts o;
	struct integrity_report rep;
	struct integrity_options io = {0};
	struct progress pr;
	struct tpm *tpm = NULL;
	bool disabled;
	int r, rc;

	r = parse_opts(sub, argc, argv, &o);
	if (r)
		return r < 0 ? HEADS_EXIT_OK : r;
	if (!o.keyring) {
		free(o.configs);
		return cmd_usage_error("boot", "%s: --keyring DIR is required", sub);
	}
	rc = rollback_disabled(&o, &disabled);
	if (rc) {
		free(o.configs);
		return rc;
	}
	if (!disabled) {
		const char *tcti = tpm_tcti(&o);
		if (tcti && tpm_open(tcti, &tpm) < 0)
			tpm = NULL; /* reported as a counter problem if one is needed */
	}
	progress_init(&pr);
	io.bootdir = o.boot;
	io.keyring = o.keyring;
	io.tpm = tpm;
	io.rollback_disabled = disabled;
	io.require_rollback = o.req_rollback;
	io.rollback_counter = o.counter;
	io.progress = progress_cb;
	io.userdata = &pr;
	r = integrity_check(&io, &rep);
	tpm_close(tpm);
	free(o.configs);
	if (r < 0) {
		fprintf(stderr, "heads boot %s: cannot check %s (%s)\n", sub, o.boot, strerror(-r));
		return HEADS_EXIT_FAIL;
	}
	bool ok = integrity_ok(&rep);
	if (report) {
		FILE *f = stdout;
		fprintf(f, "/boot integrity report: %s\n", o.boot);
		print_sig(f, &rep.sig);
		print_kexec_files(f, "  ", &rep);
		if (rep.hashes != INTEGRITY_MANIFEST_OK || rep.tree != INTEGRITY_MANIFEST_OK ||
		    rep.links == INTEGRITY_MANIFEST_MALFORMED)
			fprintf(f, "manifest: %s\n", rep.manifest_detail);
		if (rep.files.n_issue == 0 && rep.hashes == INTEGRITY_MANIFEST_OK &&
		    rep.tree == INTEGRITY_MANIFEST_OK)
			fprintf(f, "files: OK (%zu checked)\n", rep.files.files_checked);
		else
			fprintf(f, "files: ALTERED (%zu changed, %zu missing, %zu new, %zu not regular, %zu unreadable)\n",
				manifest_report_count(&rep.files, MANIFEST_CHANGED),
				manifest_report_count(&rep.files, MANIFEST_MISSING),
				manifest_report_count(&rep.files, MANIFEST_NEW),
				manifest_report_count(&rep.files, MANIFEST_NOT_REGULAR),
				manifest_report_count(&rep.files, MANIFEST_UNREADABLE));
		print_issues(f, "  ", &rep.files);
		print_notes(f, "", &rep);
		if (rep.has_default_hashes) {
			if (rep.default_hashes != INTEGRITY_MANIFEST_OK)
				fprintf(f, "default boot files: %s malformed\n",
					MANIFEST_DEFAULT_HASHES_FILE);
			else
				fprintf(f, "default boot files: %s\n",
					rep.default_files.n_issue ? "ALTERED" : "OK");
			print_issues(f, "  ", &rep.default_files);
		}
		print_rollback(f, &rep.rollback);
		fprintf(f, "result: %s\n", ok ? "OK" : "FAILED");
	} else {
		FILE *f = stderr;
		if (rep.sig.state != SIG_VERIFIED)
			print_sig(f, &rep.sig);
		print_kexec_files(f, "", &rep);
		if (rep.hashes != INTEGRITY_MANIFEST_OK || rep.tree != INTEGRITY_MANIFEST_OK ||
		    rep.links == INTEGRITY_MANIFEST_MALFORMED)
			fprintf(f, "manifest: %s\n", rep.manifest_detail);
		print_issues(f, "", &rep.files);
		print_notes(f, "", &rep);
		if (rep.has_default_hashes && rep.default_hashes != INTEGRITY_MANIFEST_OK)
			fprintf(f, "default boot files: %s malformed\n", MANIFEST_DEFAULT_HASHES_FILE);
		print_issues(f, "default boot file ", &rep.default_files);
		if (!(rep.rollback.state == ROLLBACK_OK || rep.rollback.state == ROLLBACK_NOT_USED ||
		      rep.rollback.state == ROLLBACK_DISABLED) ||
		    (rep.rollback_required && rep.rollback.state != ROLLBACK_OK))
			print_rollback(f, &rep.rollback);
		if (ok)
			printf("/boot OK: signature VERIFIED%s, %zu files, counter %s\n",
			       rep.sig.legacy ? " (legacy names)" : "", rep.files.files_checked,
			       rollback_state_name(rep.rollback.state));
		else
			fprintf(f, "heads boot verify: %s FAILED integrity verification\n", o.boot);
	}
	integrity_report_free(&rep);
	return ok ? HEADS_EXIT_OK : HEADS_EXIT_FAIL;
}

static int do_verify(int argc, char **argv) { return check(argc, argv, false); }
static int do_report(int argc, char **argv) { return check(argc, argv, true); }

/* --default N: the files that make entry N the default, from the view a
 * signing of this kind trusts (REGENERATE: /boot as it is, which is what
 * is signed; KEEP: the signed one). */
static int default_files(const struct opts *o, struct bootcfg_default_files *ret)
{
	struct integrity_report rep = {0};
	_cleanup_view_ struct boot_view *view = NULL;
	struct boot_entries l = {.default_index = -1};
	int r = cmd_boot_view("boot", o->boot, o->keep ? o->keyring : NULL, &rep, &view);

	if (r == 0)
		r = bootcfg_scan(view, &l);
	if (r == 0 && o->default_entry > l.n) {
		fprintf(stderr, "heads boot sign: no entry %u in %s (%zu entries)\n",
			o->default_entry, o->boot, l.n);
		r = -ENOENT;
	}
	if (r == 0)
		r = bootcfg_default_files(view, &l.v[o->default_entry - 1], o->default_entry, ret);
	if (r == 0) {
		_cleanup_free_ char *t = str_escape_controls(l.v[o->default_entry - 1].title, false);
		printf("default entry %u: %s\n", o->default_entry, t);
	}
	boot_entries_free(&l);
	integrity_report_free(&rep);
	return r;
}

static int do_sign(int argc, char **argv)
{
	struct opts o;
	struct integrity_sign_result res = {0};
	struct progress pr;
	struct config cfg;
	struct cmd_prompt cp;
	struct flow_prompt fp;
	enum flow_sign_step step;
	const char *tcti = NULL;
	_cleanup_free_ char *err = NULL;
	_cleanup_secret_ struct secret *owner = NULL;
	bool disabled;
	int r, rc;

	r = parse_opts("sign", argc, argv, &o);
	if (r)
		return r < 0 ? HEADS_EXIT_OK : r;
	if (o.keep && !o.keyring) {
		free(o.configs);
		return cmd_usage_error("boot", "sign: --keep needs --keyring DIR (what /boot must "
				       "verify against)");
	}
	rc = rollback_disabled(&o, &disabled);
	config_init(&cfg);
	if (rc == 0 && board_config_load(&cfg, o.configs, o.n_configs, &err) < 0)
		rc = HEADS_EXIT_USAGE; /* said by rollback_disabled */
	free(o.configs);
	if (rc) {
		config_free(&cfg);
		return rc;
	}
	if (!disabled) {
		tcti = tpm_tcti(&o);
		if (!tcti)
			log_warn("no TPM: signing without a rollback counter");
	}
	struct bootcfg_default_files df = {0};
	struct integrity_file extra[2];
	size_t n_extra = 0;
	if (o.default_entry) {
		r = default_files(&o, &df);
		if (r < 0) {
			config_free(&cfg);
			return HEADS_EXIT_FAIL;
		}
		extra[0] = (struct integrity_file){.name = df.name, .data = df.line,
						   .len = df.line_len};
		extra[1] = (struct integrity_file){.name = MANIFEST_DEFAULT_HASHES_FILE,
						   .data = df.hashes, .len = df.hashes_len};
		n_extra = 2;
	}
	if (tcti && o.owner_fd >= 0) {
		/* given: read now and used whatever the counter needs */
		r = secret_read_line_fd(o.owner_fd, PIN_MAX, &owner);
		if (r < 0) {
			bootcfg_default_files_free(&df);
			config_free(&cfg);
			fprintf(stderr, "heads boot sign: cannot read the owner passphrase: %s\n",
				strerror(-r));
			return HEADS_EXIT_FAIL;
		}
	}
	cmd_prompt_init(&cp);
	cp.fd[FLOW_SECRET_PIN] = o.pin_fd;
	fp = cmd_prompt_ops(&cp);
	progress_init(&pr);
	{
		/* The flow the menu runs (flow/sign.h); --no-rollback and
		 * CONFIG_IGNORE_ROLLBACK (rollback_disabled) or no TPM: no counter. */
		struct session s = {.cfg = &cfg, .tcti = tcti, .keyring = o.keyring,
				    .gnupghome = o.gnupghome, .prompt = &fp};
		struct flow_sign a = {
			.bootdir = o.boot,
			.mode = o.keep ? INTEGRITY_SIGN_KEEP : INTEGRITY_SIGN_REGENERATE,
			.key = o.key,
			.extra = n_extra ? extra : NULL,
			.n_extra = n_extra,
			.owner = owner,
			.ask_owner = true,
			.new_counter = o.new_counter,
			.no_counter = !tcti,
			.progress = progress_cb,
			.userdata = &pr,
		};
		r = flow_sign_boot(&s, &a, &res, &step);
	}
	bootcfg_default_files_free(&df);
	cmd_prompt_done(&cp);
	config_free(&cfg);
	if (r < 0 && step == FLOW_SIGN_TPM) {
		fprintf(stderr, "heads boot sign: cannot open the TPM (%s): %s; use --no-rollback "
			"to sign without the rollback counter\n", tcti, strerror(-r));
		return HEADS_EXIT_FAIL;
	}
	if (r < 0 && step == FLOW_SIGN_OWNER) {
		fprintf(stderr, "heads boot sign: the TPM owner passphrase is needed to create the "
			"rollback counter (--owner-fd): %s\n", strerror(-r));
		return HEADS_EXIT_FAIL;
	}
	if (r < 0 && (res.rollback.state == ROLLBACK_TPM_ERROR ||
		      res.rollback.state == ROLLBACK_LOCKOUT ||
		      res.rollback.state == ROLLBACK_MALFORMED)) {
		/* the counter, not the key: its TPM errors (e.g. no such NV
		 * index) must not read as key or PIN errors */
		fprintf(stderr, "heads boot sign: %s not signed: rollback counter: %s\n", o.boot,
			res.rollback.detail);
		return HEADS_EXIT_FAIL;
	}
	if (r < 0) {
		const char *why = r == -EACCES ? "bad PIN or passphrase"
				  : r == -ENOKEY ? "no usable signing key"
				  : r == -ECANCELED ? "PIN entry cancelled"
				  : r == -EBADMSG ? "it does not verify (see `heads boot report`)"
				  : strerror(-r);
		fprintf(stderr, "heads boot sign: %s not signed: %s\n",
			o.boot, why);
		return HEADS_EXIT_FAIL;
	}
	printf("signed %s: %zu files, key %s, counter %s", o.boot, res.files, res.fpr,
	       rollback_state_name(res.rollback.state));
	if (res.rollback.state == ROLLBACK_OK)
		printf(" (%" PRIx32 " = %" PRIu64 ")", res.rollback.id, res.rollback.tpm_value);
	printf("\n");
	return HEADS_EXIT_OK;
}

static const struct heads_subcommand subs[] = {
	{"sign", "regenerate the manifests, advance the counter, sign /boot", do_sign},
	{"verify", "exit 0 only if /boot's signature, files and counter hold", do_verify},
	{"report", "print the /boot integrity report", do_report},
	{},
};

static int run(int argc, char **argv);
const struct heads_command cmd_boot = {
	.name = "boot",
	.summary = "/boot integrity: sign, verify, report",
	.usage = usage,
	.run = run,
};

static int run(int argc, char **argv)
{
	return cmd_run_sub(&cmd_boot, subs, argc, argv);
}
