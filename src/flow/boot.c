/* flow/boot.c - booting from the menu: the default entry, the OS boot menu and the forced
 * unsafe boot; every file read once into the plan, the Disk Unlock Key, then
 * the handover (handover.h: PCR 4, load, TPM finalize, exec). */
#include "cmd/cmd.h"
#include "flow/recovery.h"
#include "gpg/keyring.h"
#include "handover.h"
#include "board.h"
#include "flow/duk_boot.h"
#include "flow/menu.h"
#include "boot/integrity.h"
#include "boot/rollback.h"
#include "boot/sig.h"
#include "bootcfg/bootcfg.h"
#include "codec.h"
#include "config.h"
#include "duk.h"
#include "fs.h"
#include "kexec.h"
#include "log.h"
#include "otp.h"
#include "qr.h"
#include "tpm/tpm.h"
#include "tpm_otp.h"
#include "ui/ui.h"
#include "util.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <getopt.h>
#include <gpgme.h>
#include <stdio.h>
#include <sys/reboot.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

/* --- booting ----------------------------------------------------------- */

static int extend_pcr4(struct menu *m, const char *what)
{
	_cleanup_tpm_ struct tpm *t = NULL;
	int r;

	if (!m->tpm_on)
		return 0;
	r = menu_tpm_open(m, &t);
	if (r == 0)
		r = tpm_extend_string(t, BOARD_PCR_BOOT_MODE, what);
	if (r < 0)
		return log_error_errno(r, "extending PCR %d with \"%s\"", BOARD_PCR_BOOT_MODE, what);
	log_info("PCR %d extended with \"%s\"", BOARD_PCR_BOOT_MODE, what);
	return 0;
}

/* Dry run: what would boot, on stdout (stable lines for tests). */
static void describe_dry(struct menu *m, const struct boot_entry *e, const char *pcr4)
{
	_cleanup_free_ char *line = boot_entry_to_line(e);
	_cleanup_free_ char *cmd = bootcfg_build_cmdline(
		e->cmdline, NULL, config_get(&m->cfg, "CONFIG_BOOT_KERNEL_REMOVE"),
		config_get(&m->cfg, "CONFIG_BOOT_KERNEL_ADD"), NULL);

	_cleanup_free_ char *title = str_escape_controls(e->title, false);
	printf("heads menu: boot (dry run): %s\n", title);
	printf("entry: %s\n", line);
	printf("kernel: %s\n", e->kernel);
	for (size_t i = 0; i < e->n_initrd; i++)
		printf("initrd: %s\n", e->initrd[i]);
	printf("cmdline: %s\n", cmd ? cmd : "");
	if (pcr4)
		printf("pcr4: extended with \"%s\"\n", pcr4);
	if (m->tpm_on) {
		_cleanup_tpm_ struct tpm *t = NULL;
		uint8_t v[32];
		size_t len;
		if (menu_tpm_open(m, &t) == 0 &&
		    tpm_pcr_read(t, tpm_bank(t), BOARD_PCR_BOOT_MODE, v, &len) == 0) {
			char hex[65];
			hex_encode(v, len, hex);
			printf("pcr4-value: %s\n", hex);
		}
	}
}

/* DUK unlock callbacks (reference kexec-unseal-key: TOTP first, then the
 * passphrase, 3 tries). */
/* The callbacks' userdata: the menu and the TPM the unlock holds. */
struct duk_ui {
	struct menu *m;
	struct tpm *t;
};

static int duk_show_totp(void *u, int attempt)
{
	struct duk_ui *d = u;
	struct menu *m = d->m;
	_cleanup_free_ char *t = NULL;
	(void)attempt;
	menu_compute_totp_with(m, d->t); /* a TPM 1.2 opens once: use the unlock's */
	menu_refresh_status(m);
	t = xasprintf("TOTP: %s\n\nCompare it with your phone before typing the Disk "
		      "Unlock Key passphrase.", m->totp);
	return ui_msgbox(m->ui, UI_BG_NORMAL, "Disk Unlock Key", t);
}

static int duk_passphrase_cb(void *u, int attempt, const char *last_error,
			     struct secret **ret)
{
	struct menu *m = ((struct duk_ui *)u)->m;
	_cleanup_free_ char *p = xasprintf("Enter LUKS TPM Disk Unlock Key passphrase "
					   "(attempt %d of %d, blank to abort)", attempt, DUK_TRIES);
	if (last_error)
		ui_msgbox(m->ui, UI_BG_WARNING, "Disk Unlock Key", last_error);
	return ui_passphrase(m->ui, "Disk Unlock Key", p, DUK_PASSPHRASE_MAX, ret);
}

/* With a signed kexec_key_devices.txt: the Disk Unlock Key into the plan's
 * initrd (flow/duk_boot.h, as `heads duk unlock`). FLOW_DONE go on (with or
 * without the key), FLOW_BACK to the menu, FLOW_RECOVERY, FLOW_UI_GONE. */
static enum flow_outcome duk_for_boot(struct menu *m, struct kexec_plan *p)
{
	_cleanup_tpm_ struct tpm *t = NULL;
	struct duk_ui ui = {.m = m};
	struct duk_unlock_callbacks cb = {
		.show_totp = duk_show_totp, .passphrase = duk_passphrase_cb, .userdata = &ui,
	};
	struct session s = menu_session(m);
	struct flow_duk_boot res;

	if (menu_tpm_open(m, &t) < 0)
		t = NULL; /* refused by the flow: PCR 4 cannot be extended */
	ui.t = t;
	enum flow_outcome o = flow_duk_boot(&s, t, m->signed_set, p, &cb, &res);
	if (o == FLOW_RECOVERY)
		return menu_go_recovery(m, res.n_devices ?
					"Disk Unlock Key initrd failed" :
					"Disk Unlock Key not used and boot declined");
	return o;
}

/* Right before kexec: the kernel has its copy of the plan, so ours (an
 * injected key) is wiped, and the screen is given back. */
struct handover_ctx {
	struct menu *m;
	struct kexec_plan *plan;
};

static void before_exec(void *userdata)
{
	struct handover_ctx *hc = userdata;
	kexec_plan_free(hc->plan);
	ui_close(hc->m->ui);
	hc->m->ui = NULL;
}

/* Read and check every file of the entry (the one read: what is hashed is
 * what boots), then the Disk Unlock Key, PCR 4, and describe (dry) or load
 * and execute (live). pcr4: what PCR 4 is extended with first (NULL: it
 * already was, forced boot through an unverified view). */
static enum flow_outcome kexec_entry(struct menu *m, struct boot_view *view,
				     const struct boot_entry *e, const char *pcr4)
{
	struct kexec_opts o;
	struct kexec_plan p = {.initrd_fd = -1, .kernel = {.fd = -1}};
	bool extended = false, duk = false;
	int r;

	kexec_opts_init(&o);
	o.board_add = config_get(&m->cfg, "CONFIG_BOOT_KERNEL_ADD");
	o.remove = config_get(&m->cfg, "CONFIG_BOOT_KERNEL_REMOVE");
	r = kexec_plan_build(view, e, &o, &p);
	if (r < 0) {
		_cleanup_free_ char *t = xasprintf("Cannot boot '%s': %s%s", e->title,
						   r == -EBADMSG || r == -EPERM ?
						   "a file does not match the signed /boot" :
						   strerror(-r), r == -EBADMSG || r == -EPERM ?
						   " (see the log). Nothing was unsealed." : "");
		ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: Boot refused", t);
		return FLOW_BACK;
	}
	/* Xen/multiboot on UEFI firmware: say so before anything is unsealed
	 * (kexec_plan_load() would refuse it too, after the DUK). */
	const char *refusal = kexec_plan_firmware_refusal(&p, NULL);
	if (refusal) {
		kexec_plan_free(&p);
		ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: Boot refused", refusal);
		return FLOW_BACK;
	}
	/* Disk Unlock Key (normal boots only, verified bytes only; its unlock
	 * extends PCR 4). */
	if (pcr4 && p.verified && m->tpm_on && boot_signed_file(m->signed_set,
								DUK_KEY_DEVICES_FILE) &&
	    !config_enabled(&m->cfg, "CONFIG_TPM_NO_LUKS_DISK_UNLOCK")) {
		enum flow_outcome o = duk_for_boot(m, &p);
		if (o != FLOW_DONE) {
			kexec_plan_free(&p);
			return o;
		}
		extended = true;
		duk = p.initrd_replaced;
	}
	/* The one road to the next kernel: PCR 4 (unless the Disk Unlock Key
	 * did), load (a dry run describes instead), TPM finalize (the dry run
	 * does that for real too), exec. */
	{
		_cleanup_tpm_ struct tpm *t = NULL;
		struct handover_ctx hc = {m, &p};
		struct handover h = {.plan = &p, .pcr4 = extended ? NULL : pcr4,
				     .dry_run = !m->live, .exec = true,
				     .before_exec = before_exec, .userdata = &hc};
		enum handover_step step = HANDOVER_PCR4;

		r = m->tpm_on ? menu_tpm_open(m, &t) : 0;
		if (r < 0)
			log_error_errno(r, "opening the TPM");
		else
			h.tpm = t, r = handover_boot(&h, &step);
		if (r < 0 && step == HANDOVER_PCR4) {
			kexec_plan_free(&p);
			ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: Boot refused",
				  "PCR 4 could not be extended: not booting.");
			return FLOW_BACK;
		}
		if (r < 0 && step != HANDOVER_EXEC) {
			kexec_plan_free(&p); /* wipes an injected key */
			_cleanup_free_ char *msg = xasprintf("Cannot boot '%s': %s", e->title,
							     strerror(-r));
			ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: Boot failed", msg);
			return menu_go_recovery(m, "Failed default boot");
		}
		if (r < 0) {
			log_error_errno(r, "kexec");
			return menu_finish(m, HEADS_EXIT_FAIL);
		}
	}
	ui_close(m->ui);
	m->ui = NULL;
	describe_dry(m, e, pcr4);
	printf("verified: %s\n", p.verified ? "yes" : "NO (unsafe boot)");
	if (extended)
		printf("duk: %s\n", duk ? "unlocked, key added to the initrd" :
			"not used (Disk Recovery Key)");
	if (m->tpm_on)
		printf("tpm: finalized (platform hierarchy locked)\n");
	kexec_plan_free(&p); /* wipes the key */
	return menu_finish(m, HEADS_EXIT_OK);
}

enum flow_outcome menu_kexec_entry(struct menu *m, struct boot_view *view,
				   const struct boot_entry *e, const char *pcr4)
{
	return kexec_entry(m, view, e, pcr4);
}

/* Reference confirm_menu_option: what will boot, then boot / default / back.
 * Every path, module and argument as it will be used (the UI escapes
 * control bytes). Returns 1 boot, 2 make default and boot, 0 back, or a
 * fatal UI error. */
static int confirm_entry(struct menu *m, const struct boot_entry *e)
{
	static const struct ui_item items[] = {
		{"y", "Boot"},
		{"d", "Make default, sign /boot, and boot"},
		{"b", "Back to the menu"},
	};
	const char *rm = config_get(&m->cfg, "CONFIG_BOOT_KERNEL_REMOVE");
	const char *add = config_get(&m->cfg, "CONFIG_BOOT_KERNEL_ADD");
	_cleanup_free_ char *cmd = e->kind == BOOT_LINUX ?
					   bootcfg_build_cmdline(e->cmdline, NULL, rm, add, NULL) :
					   xstrdup(e->cmdline ? e->cmdline : "");
	char *t = NULL;
	int r;

	str_appendf(&t, "%s\n\n", e->title);
	str_appendf(&t, "%s%s\n", e->kind == BOOT_LINUX ? "Kernel: " : "Hypervisor: ", e->kernel);
	for (size_t i = 0; i < e->n_initrd; i++)
		str_appendf(&t, "Initrd: %s\n", e->initrd[i]);
	str_appendf(&t, "%s%s\n", e->kind == BOOT_LINUX ? "Final command line: " :
		   "Hypervisor arguments: ", cmd ? cmd : "");
	for (size_t i = 0; i < e->n_modules; i++) {
		_cleanup_free_ char *args = i == 0 && e->kind == BOOT_XEN ?
			bootcfg_build_cmdline(e->modules[i].args, NULL, rm, add, NULL) :
			xstrdup(e->modules[i].args ? e->modules[i].args : "");
		str_appendf(&t, "Module %zu: %s\n  arguments: %s\n", i + 1, e->modules[i].path, args);
	}
	r = ui_menu(m->ui, UI_BG_NORMAL, "Confirm boot details", t, items, ARRAY_SIZE(items), 0);
	free(t);
	if (ui_fatal(r))
		return r;
	return r == 0 ? 1 : r == 1 ? 2 : 0;
}

/* The OS boot menu (reference user_select). forced: an explicit unsafe boot
 * (PCR 4 was already extended with "unsafe"), read through the unverified
 * view; otherwise only what the last passed check signed is listed. */
enum flow_outcome menu_boot_menu(struct menu *m, bool forced)
{
	struct boot_entries l = {0};
	_cleanup_view_ struct boot_view *view = NULL;
	enum flow_outcome o = FLOW_BACK;
	int r = menu_view(m, !forced, &view);

	if (r == 0)
		r = bootcfg_scan(view, &l);
	if (r < 0 || l.n == 0) {
		_cleanup_free_ char *t = xasprintf("No %sboot entries found in %s%s%s.",
						   forced ? "" : "signed ", m->bootdir,
						   r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
		ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: No boot options", t);
		boot_entries_free(&l);
		return FLOW_BACK;
	}
	for (;;) {
		r = menu_choose_entry(m, forced ? UI_BG_ERROR : UI_BG_NORMAL,
				 forced ? "UNSAFE boot: select your boot option" :
					  "Select your boot option", "", &l,
				 l.n == 1 ? 0 : (l.default_index >= 0 ? (size_t)l.default_index : 0));
		if (r < 0) {
			o = menu_outcome(m, r);
			break;
		}
		const struct boot_entry *e = &l.v[r];
		int c = forced ? 1 : confirm_entry(m, e);
		if (ui_fatal(c)) {
			o = menu_outcome(m, c);
			break;
		}
		if (c == 0)
			continue;
		if (c == 2 && menu_save_default_signed(m, view, INTEGRITY_SIGN_KEEP, e, (unsigned)r + 1,
						   NULL, NULL, false, NULL) < 0)
			continue;
		o = kexec_entry(m, view, e, forced ? NULL : "generic");
		break;
	}
	boot_entries_free(&l);
	return o;
}

/* /boot must verify before a normal boot (reference verify_global_hashes). */
/* Reference verify_global_hashes: signature, manifest, tree and rollback;
 * the default entry's own hashes matter only for booting that default. */
static bool global_ok(const struct integrity_report *r)
{
	struct integrity_report c = *r;
	c.has_default_hashes = false;
	return integrity_ok(&c);
}

/* FLOW_DONE when /boot verifies (m->signed_set then holds what was signed),
 * else the outcome of the report (nothing to boot). */
enum flow_outcome menu_verified_or_report(struct menu *m, bool for_default)
{
	struct integrity_report rep = {0};
	enum flow_outcome o;
	int r;
	static const struct ui_item items[] = {
		{"i", "Investigate discrepancies"},
		{"u", "Update checksums now (sign /boot)"},
		{"m", "Return to main menu"},
	};
	_cleanup_free_ char *text = NULL;

	menu_forget_signed(m);
	r = menu_run_integrity(m, &rep);
	if (r < 0) {
		_cleanup_free_ char *t = xasprintf("Cannot read %s: %s", m->bootdir, strerror(-r));
		ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: /boot", t);
		return FLOW_BACK;
	}
	if ((for_default ? integrity_ok(&rep) : global_ok(&rep)) && rep.signed_set) {
		m->signed_set = TAKE_PTR(rep.signed_set);
		integrity_report_free(&rep);
		return FLOW_DONE;
	}
	text = menu_report_text(m, &rep);
	log_error("/boot does not verify: boot refused");
	r = ui_menu(m->ui, UI_BG_ERROR, "ERROR: Boot Hash Mismatch", text, items,
		    ARRAY_SIZE(items), 2);
	if (r == 0)
		o = menu_investigate(m, &rep);
	else if (r == 1)
		o = menu_update_checksums(m);
	else
		o = menu_outcome(m, r);
	integrity_report_free(&rep);
	/* Never FLOW_DONE ("verified") from here: /boot did not verify. */
	return o == FLOW_DONE ? FLOW_BACK : o;
}

/* Main menu d: reference attempt_default_boot, from the signed
 * kexec_default.N.txt only. */
enum flow_outcome menu_default_boot(struct menu *m)
{
	struct boot_entry e = {0};
	struct boot_entries l = {0};
	_cleanup_view_ struct boot_view *view = NULL;
	unsigned idx;
	enum flow_outcome o = menu_verified_or_report(m, true);
	int r;

	if (o == FLOW_DONE)
		o = menu_root_check_at_boot(m); /* flow/roothash.c */
	if (o != FLOW_DONE)
		return o;
	r = bootcfg_signed_default(m->signed_set, &e, &idx);
	if (r == -ENOENT) {
		if ((r = menu_yes(m, UI_BG_WARNING, "No Default Boot Option Configured",
				  "There is no default boot option configured yet.\n\n"
				  "Would you like to load a menu of boot options?\n"
				  "Otherwise you will return to the main menu.")) != 1)
			return menu_outcome(m, r);
		return menu_boot_menu(m, false);
	}
	if (r < 0) {
		ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: Default boot",
			  "The default boot option (kexec_default.N.txt) is malformed.");
		return FLOW_BACK;
	}
	/* The saved line must still be entry N of the (signed) menu (reference
	 * default_select); the signature already covers the file itself. */
	r = menu_view(m, true, &view);
	if (r == 0)
		r = bootcfg_scan(view, &l);
	if (r < 0 || idx == 0 || idx > l.n) {
		r = 0;
	} else {
		_cleanup_free_ char *a = boot_entry_to_line(&e);
		_cleanup_free_ char *b = boot_entry_to_line(&l.v[idx - 1]);
		r = streq(a, b);
	}
	boot_entries_free(&l);
	if (!r) {
		boot_entry_free(&e);
		ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: Boot Entry Has Changed",
			  "The list of boot entries has changed.\n\nPlease set a new default.");
		return menu_boot_menu(m, false);
	}
	o = kexec_entry(m, view, &e, "generic");
	boot_entry_free(&e);
	return o;
}

/* Options -> b -> i: reference force_unsafe_boot, with PCR 4 extended
 * first (the reference never extended it, 10.2 #6). */
enum flow_outcome menu_force_unsafe_boot(struct menu *m)
{
	int r;

	if (config_enabled(&m->cfg, "CONFIG_RESTRICTED_BOOT")) {
		ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: Restricted Boot",
			  "Restricted Boot is enabled: unsafe boot is not allowed.");
		return FLOW_BACK;
	}
	if ((r = menu_yes(m, UI_BG_ERROR, "Unsafe Boot Warning",
			  "WARNING: Proceeding with an unsafe boot skips the /boot signature, "
			  "the checksums and the rollback counter.\n\nPCR 4 is extended now: "
			  "the TOTP and the Disk Unlock Key will not unseal until you reboot.\n\n"
			  "Do you want to proceed?")) != 1)
		return menu_outcome(m, r);
	if (extend_pcr4(m, "unsafe") < 0) {
		ui_msgbox(m->ui, UI_BG_ERROR, "ERROR", "PCR 4 could not be extended: not booting.");
		return FLOW_BACK;
	}
	/* From here on nothing sealed to this boot's PCRs may unseal: check it,
	 * and show the outcome in the status line. */
	if (m->tpm_on && menu_compute_totp(m) == 0)
		log_error("the TOTP still unseals after extending PCR 4: the seal does "
			  "not cover PCR 4");
	else if (m->tpm_on)
		log_info("TOTP no longer unseals in this boot: %s", m->totp_reason);
	snprintf(m->totp, sizeof(m->totp), "UNSAFE BOOT");
	m->bg = UI_BG_ERROR;
	menu_refresh_status(m);
	return menu_boot_menu(m, true);
}
