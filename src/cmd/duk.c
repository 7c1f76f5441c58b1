/* heads duk setup|unlock - the LUKS Disk Unlock Key (issue 9,
 * heads-behaviour.md 1.6, 2.3, 4.6, 5.2). setup: argv -> options -> the
 * menu's flow (flow/duk_setup.h) -> exit status; unlock: lib/duk's unlock,
 * the questions asked here, then the handover. */
#include "boot/integrity.h"
#include "cmd/cmd.h"
#include "flow/duk_boot.h"
#include "flow/duk_setup.h"
#include "handover.h"
#include "board.h"
#include "config.h"
#include "duk.h"
#include "boot/view.h"
#include "fs.h"
#include "kexec.h"
#include "log.h"
#include "luks/luks.h"
#include "luks/select.h"
#include "secret.h"
#include "tpm/tpm.h"
#include "tpm_otp.h"
#include "ui/ui.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PASS_MAX 4096

enum {
	EXIT_DRK_FALLBACK = 3, /* not unsealed: booting with the DRK typed into the OS */
	EXIT_HEADERS_CHANGED = 4,
};

static const char usage[] =
	"Usage: heads duk setup  --boot DIR [SELECTION] [--drk-fd FD] [--duk-fd FD]\n"
	"                        [--owner-fd FD] [--tcti T] [--eventlog F | --no-eventlog]\n"
	"                        [--trace F] [--modules F] [--gnupghome D] [--key ID]\n"
	"                        [--keyring DIR] [--pin-fd FD] [--no-sign] [--no-rollback]\n"
	"                        [--yes] [--config F]...\n"
	"       heads duk unlock --boot DIR --keyring DIR [--duk-fd FD] [--tcti T]\n"
	"                        [--drk-fallback ask|yes|no] [--no-act] [--config F]...\n"
	"\n"
	"The Disk Unlock Key (DUK): 128 random bytes added to every LUKS container of\n"
	"the OS, sealed in the TPM at 0x81000003 to PCRs 0-7 of the next boot and a\n"
	"passphrase, handed to the OS initramfs as /secret.key so it boots without\n"
	"typing the disk passphrase.\n"
	"\n"
	"setup   SELECTION is DEVICE... or --devices-file F (\"DEVICE [UUID]\" lines);\n"
	"        default: the containers of an existing kexec_key_devices.txt (a\n"
	"        reseal), else every LUKS container on non-removable disks. The Disk\n"
	"        Recovery Key (DRK) is tested on all of them (3 tries; containers it\n"
	"        does not open are dropped after confirmation, or with --yes); the DUK\n"
	"        passphrase (>= 12 characters) is asked twice; all containers must\n"
	"        share one LUKS version. The DUK goes into key slot 7 (LUKS1) / 31\n"
	"        (LUKS2) with a minimal PBKDF2 (slot 1 and the old DUK slot are wiped;\n"
	"        other used slots but the DRK's only if confirmed or --yes). Sealed\n"
	"        against: PCRs 0-3 and 7 now; PCR 4 firmware-only and PCRs 5-6\n"
	"        predicted (firmware event log --eventlog, default the kernel's; the\n"
	"        modules init loads from --trace (/tmp/measuring_trace.log) and\n"
	"        --modules (/etc/modules); the new LUKS headers). Writes\n"
	"        kexec_key_devices.txt, kexec_lukshdr_hash.txt and\n"
	"        kexec_initrd_crypttab_overrides.txt and re-signs /boot (gpg key\n"
	"        --key in --gnupghome, PIN from --pin-fd or the terminal; rollback\n"
	"        counter advanced unless --no-rollback), or writes them unsigned with\n"
	"        --no-sign. Signing needs --keyring DIR: /boot must verify against it\n"
	"        before anything is changed (else exit 1), and its signed manifests are\n"
	"        kept as they are (only these three files are added or replaced). A\n"
	"        reboot is needed before the key unseals.\n"
	"unlock  Measures the LUKS headers of kexec_key_devices.txt into PCR 6 and\n"
	"        unseals nothing if they differ from kexec_lukshdr_hash.txt; shows the TOTP;\n"
	"        asks the DUK passphrase (3 tries, blank aborts); unseals; ALWAYS\n"
	"        extends PCR 4 with \"generic\" afterwards; checks the key opens every\n"
	"        container; then boots the default entry (kexec_default.N.txt) with\n"
	"        /secret.key and the crypttab overrides appended to its initrd. If the\n"
	"        key did not unseal it says why and offers to boot without it (the OS\n"
	"        asks for the Disk Recovery Key): --drk-fallback yes|no answers that.\n"
	"        The same sequence as the menu's default boot (flow/duk_boot.h).\n"
	"        --no-act describes the kexec instead of doing it. --keyring DIR\n"
	"        (required): first verify /boot (signature by a key of DIR, every\n"
	"        hash, rollback counter) as `heads boot verify` does and refuse if\n"
	"        it fails; the key devices, headers, overrides and default entry\n"
	"        are then taken from the signed bytes, and the entry's kernel and\n"
	"        initrd are read and checked before anything is unsealed.\n"
	"\n"
	"Passphrases come from a no-echo prompt or a file descriptor: --drk-fd (one\n"
	"line), --duk-fd (setup: the passphrase and its confirmation, one line each;\n"
	"unlock: one line per attempt), --owner-fd (TPM owner passphrase), --pin-fd.\n"
	"--config F: board/user config (default /etc/config then /etc/config.user);\n"
	"its CONFIG_TPM_PRIMARY_NAME pins the TPM primary key (a different key at\n"
	"0x81000000 is refused).\n"
	"\n"
	"Exit status: 0 done (unlock: unsealed and booted/described); 1 failed;\n"
	"2 usage error; 3 (unlock) the key was not unsealed and the boot goes on\n"
	"with the Disk Recovery Key typed into the OS; 4 (unlock) the LUKS headers\n"
	"changed since sealing and the boot without the key was declined: reseal\n"
	"with `heads duk setup`.\n";

struct opts {
	const char *boot, *devices_file, *tcti, *eventlog, *trace, *modules;
	const char *gnupghome, *key, *fallback, *keyring;
	int drk_fd, duk_fd, owner_fd, pin_fd;
	bool no_eventlog, no_sign, no_rollback, yes, no_act;
	char **configs;
	size_t n_configs;
	struct ui *ui; /* opened on first need */
};

enum {
	O_BOOT = 0x100, O_DEVFILE, O_TCTI, O_EVENTLOG, O_NO_EVENTLOG, O_TRACE, O_MODULES,
	O_GNUPGHOME, O_KEY, O_PIN_FD, O_NO_SIGN, O_NO_ROLLBACK, O_YES, O_DRK_FD, O_DUK_FD,
	O_OWNER_FD, O_FALLBACK, O_NO_ACT, O_CONFIG, O_KEYRING,
};

static int parse_opts(const char *sub, int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{"boot", required_argument, NULL, O_BOOT},
		{"devices-file", required_argument, NULL, O_DEVFILE},
		{"tcti", required_argument, NULL, O_TCTI},
		{"eventlog", required_argument, NULL, O_EVENTLOG},
		{"no-eventlog", no_argument, NULL, O_NO_EVENTLOG},
		{"trace", required_argument, NULL, O_TRACE},
		{"modules", required_argument, NULL, O_MODULES},
		{"gnupghome", required_argument, NULL, O_GNUPGHOME},
		{"key", required_argument, NULL, O_KEY},
		{"pin-fd", required_argument, NULL, O_PIN_FD},
		{"no-sign", no_argument, NULL, O_NO_SIGN},
		{"no-rollback", no_argument, NULL, O_NO_ROLLBACK},
		{"yes", no_argument, NULL, O_YES},
		{"drk-fd", required_argument, NULL, O_DRK_FD},
		{"duk-fd", required_argument, NULL, O_DUK_FD},
		{"owner-fd", required_argument, NULL, O_OWNER_FD},
		{"drk-fallback", required_argument, NULL, O_FALLBACK},
		{"no-act", no_argument, NULL, O_NO_ACT},
		{"config", required_argument, NULL, O_CONFIG},
		{"keyring", required_argument, NULL, O_KEYRING},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	int c, *fd;

	memset(o, 0, sizeof(*o));
	o->drk_fd = o->duk_fd = o->owner_fd = o->pin_fd = -1;
	o->fallback = "ask";
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case O_BOOT: o->boot = optarg; break;
		case O_DEVFILE: o->devices_file = optarg; break;
		case O_TCTI: o->tcti = optarg; break;
		case O_EVENTLOG: o->eventlog = optarg; break;
		case O_NO_EVENTLOG: o->no_eventlog = true; break;
		case O_TRACE: o->trace = optarg; break;
		case O_MODULES: o->modules = optarg; break;
		case O_GNUPGHOME: o->gnupghome = optarg; break;
		case O_KEY: o->key = optarg; break;
		case O_NO_SIGN: o->no_sign = true; break;
		case O_NO_ROLLBACK: o->no_rollback = true; break;
		case O_YES: o->yes = true; break;
		case O_NO_ACT: o->no_act = true; break;
		case O_KEYRING: o->keyring = optarg; break;
		case O_FALLBACK:
			if (!streq(optarg, "ask") && !streq(optarg, "yes") && !streq(optarg, "no"))
				return cmd_usage_error("duk", "%s: --drk-fallback ask|yes|no", sub);
			o->fallback = optarg;
			break;
		case O_CONFIG:
			o->configs = xrealloc(o->configs, (o->n_configs + 1) * sizeof(char *));
			o->configs[o->n_configs++] = optarg;
			break;
		case O_PIN_FD:
		case O_DRK_FD:
		case O_DUK_FD:
		case O_OWNER_FD:
			fd = c == O_PIN_FD ? &o->pin_fd : c == O_DRK_FD ? &o->drk_fd :
			     c == O_DUK_FD ? &o->duk_fd : &o->owner_fd;
			if (cmd_parse_fd(optarg, fd) < 0)
				return cmd_usage_error("duk", "%s: bad file descriptor '%s'", sub, optarg);
			break;
		case 'h':
			fputs(usage, stdout);
			return -1;
		default:
			return cmd_usage_error("duk", "%s: bad option '%s'", sub, argv[optind - 1]);
		}
	}
	if (!o->boot)
		return cmd_usage_error("duk", "%s: --boot DIR is required", sub);
	return 0;
}

static int get_ui(struct opts *o, struct ui **ret)
{
	struct ui_options uo;
	int r;

	if (!o->ui) {
		ui_options_init(&uo);
		r = ui_options_from_env(&uo);
		if (r == 0)
			r = ui_open(&uo, &o->ui);
		if (r < 0)
			return log_error_errno(r, "cannot talk to the user (no terminal; use the "
					       "--*-fd options)");
	}
	*ret = o->ui;
	return 0;
}

/* A passphrase from fd (one line) or the UI. */
static int ask_secret(struct opts *o, int fd, const char *title, const char *prompt,
		      struct secret **ret)
{
	struct ui *ui = NULL;
	int r;

	if (fd >= 0)
		return secret_read_line_fd(fd, PASS_MAX, ret);
	r = get_ui(o, &ui);
	if (r < 0)
		return r;
	return ui_passphrase(ui, title, prompt, PASS_MAX, ret);
}

/* yes (1) / no (0): answered by --yes, else asked. */
static int ask_yes(struct opts *o, bool preset, enum ui_bg bg, const char *title,
		   const char *text)
{
	struct ui *ui = NULL;
	int r;

	if (preset)
		return 1;
	r = get_ui(o, &ui);
	if (r < 0)
		return r;
	return ui_yesno(ui, bg, title, text);
}

/* --- setup --------------------------------------------------------------- */

static int select_devices(const struct opts *o, int argc, char **argv,
			  struct luks_device **ret, size_t *ret_n)
{
	_cleanup_free_ char *conf = NULL;
	struct luks_select s = {.devices_file = o->devices_file, .paths = argv + optind,
				.n_paths = (size_t)(argc - optind)};

	if (o->devices_file && optind < argc)
		return cmd_usage_error("duk", "setup: give devices or --devices-file, not both");
	if (!o->devices_file && optind == argc) {
		/* A reseal keeps the configured containers (reference "reuse
		 * configured devices"). */
		conf = xasprintf("%s/%s", o->boot, DUK_KEY_DEVICES_FILE);
		if (access(conf, F_OK) == 0) {
			log_info("resealing for the containers of %s", conf);
			s.devices_file = conf;
		}
	}
	return cmd_select_containers("duk", &s, "no LUKS container to set up the Disk Unlock "
				     "Key for", ret, ret_n);
}

static int load_boot_config(const struct opts *o, struct config *c);

/* The TPM, pinned to the primary key recorded at ownership
 * (CONFIG_TPM_PRIMARY_NAME of the board/user config), if any. */
static int open_tpm(const struct opts *o, struct tpm **ret)
{
	struct config c;
	int r = load_boot_config(o, &c);
	if (r == 0)
		r = cmd_tpm_open(o->tcti, config_get(&c, CMD_CONFIG_PRIMARY_NAME), ret);
	if (r == 0 && (r = board_tpm_check_version(&c, *ret)) < 0) {
		tpm_close(*ret);
		*ret = NULL;
	}
	config_free(&c);
	return r;
}

static int do_setup(int argc, char **argv)
{
	struct opts o;
	struct luks_device *v = NULL;
	size_t n = 0;
	struct config cfg;
	struct cmd_prompt cp;
	struct flow_prompt fp;
	struct duk_setup_result res;
	int r, rc;

	r = parse_opts("setup", argc, argv, &o);
	if (r)
		return r < 0 ? HEADS_EXIT_OK : r;
	config_init(&cfg);
	cmd_prompt_init(&cp);
	if (!o.no_sign && !o.keyring) {
		rc = cmd_usage_error("duk", "setup: signing /boot needs --keyring DIR (what "
				     "/boot must verify against), or --no-sign");
		goto out;
	}
	rc = select_devices(&o, argc, argv, &v, &n);
	if (rc)
		goto out;
	if (load_boot_config(&o, &cfg) < 0) {
		rc = HEADS_EXIT_FAIL;
		goto out;
	}
	cp.fd[FLOW_SECRET_DRK] = o.drk_fd;
	cp.fd[FLOW_SECRET_DUK] = o.duk_fd;
	cp.fd[FLOW_SECRET_OWNER] = o.owner_fd;
	cp.fd[FLOW_SECRET_PIN] = o.pin_fd;
	cp.yes = o.yes;
	fp = cmd_prompt_ops(&cp);
	{
		/* The flow the menu runs (flow/duk_setup.h). */
		struct session s = {.cfg = &cfg, .tcti = o.tcti, .keyring = o.keyring,
				    .gnupghome = o.gnupghome, .prompt = &fp};
		struct flow_duk_setup a = {
			.bootdir = o.boot,
			.devices = v,
			.n_devices = n,
			.pcr = {.eventlog = o.eventlog, .no_eventlog = o.no_eventlog,
				.trace = o.trace, .modules = o.modules},
			.no_sign = o.no_sign,
			.no_rollback = o.no_rollback,
			.key = o.key,
		};
		r = flow_duk_setup(&s, &a, &res);
		n = a.n_devices;
	}
	if (r == -EMEDIUMTYPE) {
		rc = HEADS_EXIT_USAGE;
		goto out;
	}
	if (r < 0) {
		if (r != -ECANCELED && r != -EPERM)
			fprintf(stderr, "heads duk setup: failed: %s\n", strerror(-r));
		rc = HEADS_EXIT_FAIL;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		printf("%s: duk slot %d drk slot %d\n", v[i].path, res.duk_slot[i], res.drk_slot[i]);
	printf("sealed at 0x%08x to PCRs 0-7 + passphrase; crypttab: %s; /boot %s%s\n",
	       TPM_HANDLE_DUK, res.crypttab_from_initrd ? "from the default initrd" : "generic",
	       o.no_sign ? "files written unsigned" : "signed by ", o.no_sign ? "" : res.fpr);
	printf("Reboot to unlock with the Disk Unlock Key.\n");
	rc = HEADS_EXIT_OK;
out:
	luks_devices_free(v, n);
	cmd_prompt_done(&cp);
	config_free(&cfg);
	ui_close(o.ui);
	free(o.configs);
	return rc;
}

/* --- unlock -------------------------------------------------------------- */

struct unlock_ctx {
	struct opts *o;
	struct tpm *t;
	uint32_t totp_pcrs; /* the board's CONFIG_TOTP_PCRS */
};

static int show_totp(void *ud, int attempt)
{
	struct unlock_ctx *c = ud;
	uint32_t code;
	char when[32], text[256];
	time_t now = time(NULL);
	struct tm tm;
	uint32_t mask = tpm_otp_code_mask(c->t, c->totp_pcrs);
	int r = tpm_otp_totp(c->t, TPM_HANDLE_TOTP, mask, now, &code);

	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	if (r == 0) {
		char s[OTP_CODE_MAX + 1];
		otp_format_code(code, OTP_DIGITS, s);
		snprintf(text, sizeof(text), "%s  TOTP: %s", when, s);
	} else {
		_cleanup_free_ char *why = tpm_otp_reason(c->t, r, mask);
		snprintf(text, sizeof(text), "%s  TOTP: unavailable (%s)", when, why);
	}
	if (c->o->duk_fd >= 0) {
		fprintf(stderr, "%s\n", text);
		return 0;
	}
	struct ui *ui = NULL;
	_cleanup_free_ char *body = xasprintf("%s\n\nCompare the TOTP code with your phone "
					      "before typing the Disk Unlock Key passphrase "
					      "(attempt %d of %d).", text, attempt, DUK_TRIES);
	r = get_ui(c->o, &ui);
	if (r < 0)
		return r;
	r = ui_msgbox(ui, UI_BG_NORMAL, "TOTP", body);
	return r == -ECANCELED ? 0 : r;
}

static int unlock_passphrase(void *ud, int attempt, const char *last_error,
			     struct secret **ret)
{
	struct unlock_ctx *c = ud;
	_cleanup_free_ char *prompt = xasprintf(
		"%s%sEnter LUKS TPM Disk Unlock Key passphrase (blank to abort, attempt %d of %d): ",
		last_error ? last_error : "", last_error ? "\n" : "", attempt, DUK_TRIES);
	int r = ask_secret(c->o, c->o->duk_fd, "Disk Unlock Key", prompt, ret);
	if (r < 0)
		log_error_errno(r, "reading the Disk Unlock Key passphrase");
	return r;
}

static int load_boot_config(const struct opts *o, struct config *c)
{
	_cleanup_free_ char *err = NULL;
	int r;

	config_init(c);
	r = board_config_load(c, o->configs, o->n_configs, &err);
	if (r < 0)
		log_error("%s", err);
	return r;
}

/* The signed default entry, every file read once and checked against the
 * signed /boot: built before anything is unsealed. */
static int plan_default(struct opts *o, const struct boot_signed *signed_set,
			struct kexec_plan *ret, char **ret_title)
{
	struct boot_entry e = {0};
	struct kexec_opts ko;
	struct config cfg;
	_cleanup_view_ struct boot_view *view = NULL;
	unsigned idx;
	int r;

	r = bootcfg_signed_default(signed_set, &e, &idx);
	if (r < 0)
		return log_error_errno(r, "%s: no signed default boot entry (kexec_default.N.txt)",
				       o->boot);
	r = load_boot_config(o, &cfg);
	if (r == 0)
		r = boot_view_open(o->boot, signed_set, &view);
	if (r == 0) {
		kexec_opts_init(&ko);
		ko.board_add = config_get(&cfg, "CONFIG_BOOT_KERNEL_ADD");
		ko.remove = config_get(&cfg, "CONFIG_BOOT_KERNEL_REMOVE");
		r = kexec_plan_build(view, &e, &ko, ret);
		if (r < 0)
			log_error("'%s': a file of the default entry does not verify: nothing is "
				  "unsealed", e.title);
	}
	if (r == 0)
		*ret_title = xstrdup(e.title ? e.title : "");
	config_free(&cfg);
	boot_entry_free(&e);
	return r;
}

static void close_ui(void *userdata)
{
	struct opts *o = userdata;
	ui_close(o->ui);
	o->ui = NULL;
}

/* The question of flow_duk_boot() (boot with the Disk Recovery Key?):
 * --drk-fallback yes|no, else asked. Its messages go to stderr. */
static int fallback_yesno(void *userdata, enum ui_bg bg, const char *title, const char *text)
{
	struct opts *o = userdata;
	if (streq(o->fallback, "yes") || streq(o->fallback, "no"))
		return streq(o->fallback, "yes");
	return ask_yes(o, false, bg, title, text);
}

static void fallback_tell(void *userdata, enum ui_bg bg, const char *title, const char *text)
{
	(void)userdata;
	(void)bg;
	fprintf(stderr, "heads duk unlock: %s: %s\n", title, text);
}

/* Boot (or describe) the planned default entry, its initrd holding the
 * key when flow_duk_boot() put it there (injected). */
static int boot_planned(struct opts *o, struct tpm *t, struct kexec_plan *p, const char *title,
			bool injected)
{
	int r = 0;

	if (o->no_act) {
		/* What would boot (stable lines for tests). */
		struct stat st;
		_cleanup_free_ char *tt = str_escape_controls(title, false);
		printf("boot: %s\n", tt);
		kexec_plan_describe(p, NULL, stdout);
		if (injected && fstat(kexec_plan_initrd_fd(p), &st) == 0)
			printf("initrd-injected: %lld bytes (/secret.key + crypttab)\n",
			       (long long)st.st_size);
		return 0;
	}
	{
		/* PCR 4 is extended already (duk_unlock, "generic"). */
		struct handover h = {.plan = p, .tpm = t, .exec = true,
				     .before_exec = close_ui, .userdata = o};
		enum handover_step step;
		r = handover_boot(&h, &step);
		return log_error_errno(r, "booting the default entry: %s",
				       handover_step_name(step));
	}
}

static int do_unlock(int argc, char **argv)
{
	struct opts o;
	_cleanup_tpm_ struct tpm *t = NULL;
	struct integrity_report rep = {0};
	struct kexec_plan plan = {.initrd_fd = -1, .kernel = {.fd = -1}};
	char *title = NULL;
	struct flow_duk_boot res;
	struct unlock_ctx uc = {.totp_pcrs = TPM_OTP_DEFAULT_PCRS};
	struct duk_unlock_callbacks cb = {show_totp, unlock_passphrase, &uc};
	int r, rc;

	r = parse_opts("unlock", argc, argv, &o);
	if (r)
		return r < 0 ? HEADS_EXIT_OK : r;
	if (optind != argc) {
		free(o.configs);
		return cmd_usage_error("duk", "unlock: unexpected argument '%s'", argv[optind]);
	}
	r = open_tpm(&o, &t);
	if (r < 0) {
		char why[256];
		duk_reason(NULL, r, why, sizeof(why));
		fprintf(stderr, "heads duk unlock: %s\n", why);
		free(o.configs);
		return HEADS_EXIT_FAIL;
	}
	/* The key devices, header listing and crypttab overrides are trusted,
	 * and the default entry booted, only from a /boot that verifies, and
	 * the entry's files are read and checked before anything is unsealed. */
	{
		struct integrity_options io = {.bootdir = o.boot, .keyring = o.keyring, .tpm = t,
					       .rollback_disabled = o.no_rollback};
		struct config cfg;
		bool ok;
		int cr;
		if (!o.keyring) {
			free(o.configs);
			return cmd_usage_error("duk", "unlock: --keyring DIR is required (the "
					       "signed /boot is what unlocks)");
		}
		cr = load_boot_config(&o, &cfg);
		if (cr == 0) {
			const char *id = config_get(&cfg, "CONFIG_ROLLBACK_COUNTER");
			unsigned long long v = 0;
			io.require_rollback = config_enabled(&cfg, "CONFIG_BOOT_REQ_ROLLBACK");
			if (id && *id && parse_uint(id, UINT32_MAX, &v) == 0)
				io.rollback_counter = (uint32_t)v;
			io.rollback_disabled |= config_enabled(&cfg, "CONFIG_IGNORE_ROLLBACK");
			_cleanup_free_ char *err = NULL;
			if (board_totp_pcrs(&cfg, &uc.totp_pcrs, &err) < 0)
				log_error("CONFIG_TOTP_PCRS: %s", err);
		}
		config_free(&cfg);
		r = cr < 0 ? cr : integrity_check(&io, &rep);
		ok = r == 0 && integrity_ok(&rep) && rep.signed_set;
		if (!ok) {
			if (r == 0)
				integrity_report_free(&rep);
			fprintf(stderr, "heads duk unlock: %s does not verify against %s: not "
				"unlocking (see `heads boot report`)\n", o.boot, o.keyring);
			free(o.configs);
			return HEADS_EXIT_FAIL;
		}
	}
	if (plan_default(&o, rep.signed_set, &plan, &title) < 0) {
		rc = HEADS_EXIT_FAIL;
		goto out;
	}
	uc.o = &o;
	uc.t = t;
	{
		struct flow_prompt pr = {.yesno = fallback_yesno, .tell = fallback_tell,
					 .userdata = &o};
		struct session s = {.prompt = &pr};
		enum flow_outcome fo = flow_duk_boot(&s, t, rep.signed_set, &plan, &cb, &res);

		if (res.r == 0) {
			printf("duk: unlocked: %zu container%s open with the Disk Unlock Key; PCR 4 "
			       "extended with \"generic\"\n", res.n_devices,
			       res.n_devices == 1 ? "" : "s");
		} else {
			printf("duk: not unlocked: %s\n", res.reason);
		}
		if (fo != FLOW_DONE) {
			printf("duk: boot aborted%s\n", res.r == DUK_E_HEADERS_CHANGED ?
			       ": reseal the Disk Unlock Key with `heads duk setup`" : "");
			rc = res.r == DUK_E_HEADERS_CHANGED ? EXIT_HEADERS_CHANGED : HEADS_EXIT_FAIL;
			goto out;
		}
		if (res.r < 0)
			printf("duk: booting without the Disk Unlock Key: type the Disk Recovery "
			       "Key when the OS asks\n");
		r = boot_planned(&o, t, &plan, title, res.r == 0);
		rc = r < 0 ? HEADS_EXIT_FAIL : res.r == 0 ? HEADS_EXIT_OK : EXIT_DRK_FALLBACK;
	}
out:
	kexec_plan_free(&plan); /* wipes an injected key that did not boot */
	free(title);
	integrity_report_free(&rep);
	ui_close(o.ui);
	free(o.configs);
	return rc;
}

static const struct heads_subcommand subs[] = {
	{"setup", "add the Disk Unlock Key to the LUKS containers and seal it", do_setup},
	{"unlock", "unseal the Disk Unlock Key and boot the default entry with it", do_unlock},
	{},
};

static int run(int argc, char **argv);

const struct heads_command cmd_duk = {
	.name = "duk",
	.summary = "LUKS Disk Unlock Key: setup (seal to the TPM) and unlock at boot",
	.usage = usage,
	.run = run,
};

static int run(int argc, char **argv)
{
	return cmd_run_sub(&cmd_duk, subs, argc, argv);
}
