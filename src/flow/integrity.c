/* flow/integrity.c - /boot integrity in the menu: the report (integrity_check()), the
 * investigation screens, signing /boot and saving a signed default entry. */
#include "cmd/cmd.h"
#include "flow/recovery.h"
#include "gpg/keyring.h"
#include "handover.h"
#include "board.h"
#include "flow/menu.h"
#include "flow/sign.h"
#include "gpg/card.h"
#include "boot/integrity.h"
#include "boot/rollback.h"
#include "boot/sig.h"
#include "bootcfg/bootcfg.h"
#include "codec.h"
#include "cpio.h"
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
#define GPG_PIN_MAX MENU_GPG_PIN_MAX

/* --- /boot integrity ---------------------------------------------------- */

static void progress_cb(void *u, uint64_t done, uint64_t total, size_t fd, size_t ft)
{
	struct menu *m = u;
	(void)fd;
	(void)ft;
	ui_progress(m->ui, "Verifying /boot", "Hashing files",
		    total ? (unsigned)(done * 100 / total) : 0);
}

void menu_rollback_requirement(const struct menu *m, bool *ret_required, uint32_t *ret_counter)
{
	const char *id = config_get(&m->cfg, "CONFIG_ROLLBACK_COUNTER");
	unsigned long long v = 0;

	*ret_required = config_enabled(&m->cfg, "CONFIG_BOOT_REQ_ROLLBACK");
	if (id && *id && parse_uint(id, UINT32_MAX, &v) < 0) {
		log_warn("CONFIG_ROLLBACK_COUNTER=%s is not a counter index: ignored", id);
		v = 0;
	}
	*ret_counter = (uint32_t)v;
}

int menu_run_integrity(struct menu *m, struct integrity_report *rep)
{
	_cleanup_tpm_ struct tpm *t = NULL;
	struct integrity_options o = {
		.bootdir = m->bootdir,
		.keyring = m->keyring,
		.rollback_disabled = config_enabled(&m->cfg, "CONFIG_IGNORE_ROLLBACK") ||
				     !m->tpm_on,
		.progress = progress_cb,
		.userdata = m,
	};
	int r;

	menu_rollback_requirement(m, &o.require_rollback, &o.rollback_counter);
	if (m->tpm_on && menu_tpm_open(m, &t) == 0)
		o.tpm = t;
	r = integrity_check(&o, rep);
	ui_progress_end(m->ui);
	return r;
}


static char *issues_text(const struct manifest_report *f, size_t max)
{
	char *s = NULL;
	for (size_t i = 0; i < f->n_issue && i < max; i++) {
		_cleanup_free_ char *p = manifest_escape_name(f->issue[i].path);
		str_appendf(&s, "  %s: %s\n", manifest_issue_kind_name(f->issue[i].kind), p);
	}
	if (f->n_issue > max)
		str_appendf(&s, "  ... and %zu more\n", f->n_issue - max);
	return s ? s : xstrdup("");
}

static const char *manifest_state_name(enum integrity_manifest_state s)
{
	return s == INTEGRITY_MANIFEST_OK ? "present" :
	       s == INTEGRITY_MANIFEST_MISSING ? "MISSING" : "MALFORMED";
}

/* The reference "Measured Integrity Report" as text. */
char *menu_report_text(struct menu *m, const struct integrity_report *rep)
{
	char date[64], *s = NULL;
	bool files_ok = rep->hashes == INTEGRITY_MANIFEST_OK &&
			rep->tree == INTEGRITY_MANIFEST_OK && rep->files.n_issue == 0;

	menu_utc_now(date);
	str_appendf(&s, "Date: %s\n", date);
	str_appendf(&s, "TOTP: %s%s%s\n", m->totp, m->totp_reason[0] ? " - " : "", m->totp_reason);
	if (*m->hotp)
		str_appendf(&s, "HOTP: %s\n", m->hotp);
	str_appendf(&s, "/boot/kexec.sig: %s", sig_state_name(rep->sig.state));
	if (rep->sig.state == SIG_UNKNOWN_KEY && rep->sig.fpr[0])
		str_appendf(&s, " (key %s)", rep->sig.fpr);
	if (rep->sig.state != SIG_VERIFIED && rep->sig.detail[0])
		str_appendf(&s, " - %s", rep->sig.detail);
	str_appendf(&s, "\n");
	if (rep->kexec_files.n_issue) {
		_cleanup_free_ char *l = issues_text(&rep->kexec_files, 10);
		str_appendf(&s, "kexec*.txt files:\n%s", l);
	}
	for (size_t i = 0; i < rep->n_triggers; i++)
		str_appendf(&s, "Package trigger present: %s (the OS updated /boot)\n", rep->triggers[i]);
	str_appendf(&s, "Boot files: %s", files_ok ? "OK" : "UNTRUSTED/ALTERED");
	str_appendf(&s, " (%zu checked)\n", rep->files.files_checked);
	if (rep->hashes != INTEGRITY_MANIFEST_OK || rep->tree != INTEGRITY_MANIFEST_OK)
		str_appendf(&s, "  kexec_hashes.txt %s, kexec_tree.txt %s%s%s\n",
		       manifest_state_name(rep->hashes), manifest_state_name(rep->tree),
		       rep->manifest_detail[0] ? ": " : "", rep->manifest_detail);
	if (rep->files.n_issue) {
		_cleanup_free_ char *l = issues_text(&rep->files, 10);
		str_appendf(&s, "%s", l);
	}
	if (rep->files.n_unbound)
		str_appendf(&s, "  %zu symlink%s not bound by a signed kexec_links.txt (signed by "
			   "an older version: never followed when booting)\n",
		       rep->files.n_unbound, rep->files.n_unbound == 1 ? "" : "s");
	if (rep->has_default_hashes) {
		str_appendf(&s, "Default entry files: %s\n",
		       rep->default_hashes == INTEGRITY_MANIFEST_OK &&
				       rep->default_files.n_issue == 0 ? "OK" : "ALTERED");
		if (rep->default_files.n_issue) {
			_cleanup_free_ char *l = issues_text(&rep->default_files, 10);
			str_appendf(&s, "%s", l);
		}
	}
	str_appendf(&s, "Rollback counter: %s%s%s\n", rollback_state_name(rep->rollback.state),
	       rep->rollback.detail[0] ? " - " : "", rep->rollback.detail);
	if (integrity_ok(rep))
		str_appendf(&s, "\nEverything verified: /boot is signed by a key in the ROM "
			   "keyring and unchanged.\n");
	else
		str_appendf(&s, "\nSomething does not verify. If you did not just update your OS "
			   "or change /boot yourself, THIS COULD INDICATE TAMPERING. "
			   "Investigate before booting.\n");
	return s;
}


/* Detail of the mismatches and the signed files (investigation screens). */
enum flow_outcome menu_investigate(struct menu *m, const struct integrity_report *rep)
{
	static const struct ui_item items[] = {
		{"d", "Show mismatch details"},
		{"s", "Show the signed kexec*.txt files"},
		{"u", "Update checksums now (sign /boot)"},
		{"r", "Drop to recovery shell"},
		{"c", "Continue"},
	};
	for (;;) {
		int r = ui_menu(m->ui, UI_BG_ERROR, "Integrity investigation",
				"Look at what changed before deciding. Only sign /boot again "
				"if you made these changes yourself.", items, ARRAY_SIZE(items), 0);
		if (ui_fatal(r))
			return menu_outcome(m, r);
		switch (r) {
		case 0: {
			_cleanup_free_ char *a = issues_text(&rep->files, SIZE_MAX);
			_cleanup_free_ char *b = issues_text(&rep->default_files, SIZE_MAX);
			_cleanup_free_ char *t = xasprintf("Boot files:\n%s%s%s%s",
				*a ? a : "  no differences\n", rep->manifest_detail[0] ? "  " : "",
				rep->manifest_detail, *b ? "\nDefault entry files:\n" : "");
			_cleanup_free_ char *t2 = xasprintf("%s%s", t, b);
			ui_textbox(m->ui, UI_BG_ERROR, "Mismatch details", t2);
			break;
		}
		case 1: {
			/* What the verified signature covers, from the bytes the
			 * check verified (never re-read from /boot). */
			_cleanup_free_ char *listing = NULL;
			size_t len;
			if (rep->sig.state != SIG_VERIFIED || !rep->signed_set) {
				_cleanup_free_ char *k = issues_text(&rep->kexec_files, SIZE_MAX);
				_cleanup_free_ char *t = xasprintf(
					"There is no verified signature over the kexec*.txt files.%s%s",
					*k ? "\n\n" : "", k);
				ui_msgbox(m->ui, UI_BG_ERROR, "Signed files", t);
			} else {
				sig_listing_bufs(rep->signed_set->files, rep->signed_set->n_files,
						 rep->sig.legacy ? SIG_LEGACY_PREFIX : "", &listing,
						 &len);
				ui_textbox(m->ui, UI_BG_NORMAL, "Signed files (sha256)", listing);
			}
			break;
		}
		case 2:
			return menu_update_checksums(m);
		case 3:
			return menu_go_recovery(m, "investigating integrity discrepancies");
		default:
			return FLOW_BACK;
		}
	}
}

static enum flow_outcome investigate_cb(struct menu *m, void *rep)
{
	return menu_investigate(m, rep);
}

/* Reference report_integrity_measurements. FLOW_DONE when /boot verifies,
 * else FLOW_BACK or the outcome of the investigation. */
enum flow_outcome menu_integrity_report_screen(struct menu *m)
{
	struct integrity_report rep = {0};
	_cleanup_free_ char *text = NULL;
	int r = menu_run_integrity(m, &rep);
	enum flow_outcome o;
	bool ok;

	if (r < 0) {
		_cleanup_free_ char *t = xasprintf("Cannot read %s: %s", m->bootdir, strerror(-r));
		ui_msgbox(m->ui, UI_BG_ERROR, "Measured Integrity Report", t);
		return FLOW_BACK;
	}
	ok = integrity_ok(&rep);
	text = menu_report_text(m, &rep);
	/* the dongle section (issue 16, flow/dongle.c) and its follow-ups */
	{
		struct card_info ci;
		enum card_rom_match v;
		_cleanup_free_ char *line = NULL;
		if (menu_dongle_verdict(m, &ci, &v) == 0) {
			line = menu_dongle_line(&ci, v);
			str_appendf(&text, "\n%s", line);
			if (v == CARD_ROM_NOT_PROVISIONED || v == CARD_ROM_NOT_TRUSTED) {
				o = menu_dongle_followup(m, ok, &ci, v, "Measured Integrity Report",
							 text, investigate_cb, &rep);
				integrity_report_free(&rep);
				return o == FLOW_DONE && !ok ? FLOW_BACK : o;
			}
		}
	}
	if (ok) {
		r = ui_textbox(m->ui, UI_BG_NORMAL, "Measured Integrity Report", text);
		integrity_report_free(&rep);
		return r < 0 ? menu_outcome(m, r) : FLOW_DONE;
	}
	{
		static const struct ui_item items[] = {
			{"i", "Investigate discrepancies"},
			{"c", "Continue"},
		};
		r = ui_menu(m->ui, UI_BG_ERROR, "Measured Integrity Report", text, items,
			    ARRAY_SIZE(items), 0);
		o = r == 0 ? menu_investigate(m, &rep) : menu_outcome(m, r);
	}
	integrity_report_free(&rep);
	/* Never FLOW_DONE ("verified") from here: /boot did not verify. */
	return o == FLOW_DONE ? FLOW_BACK : o;
}

/* PIN callback for signing: the key's passphrase / card PIN from the UI
 * (the prompt of every signing: flow_sign_pin). */
int menu_sign_pin(void *userdata, const char *hint, int attempt, struct secret **ret)
{
	struct session s = menu_session(userdata);
	return flow_sign_pin(&s, hint, attempt, ret);
}

/* Sign /boot; extra kexec*.txt files (the default entry) are staged and
 * written only after the signature verified (never before, 10.3). mode:
 * REGENERATE only for "Update checksums" and ownership (after the report
 * was shown / on a fresh machine); KEEP (every other signing) refuses a
 * /boot that does not verify against the ROM keyring. The rollback
 * counter's index goes to *ret_counter (0: none). */
static int sign_with(struct menu *m, enum integrity_sign_mode mode, const struct secret *owner,
		     bool ask_owner, const char *key, const struct integrity_file *extra,
		     size_t n_extra, bool new_counter, uint32_t *ret_counter,
		     enum flow_signkey_leave *leave)
{
	/* The flow `heads boot sign` runs (flow/sign.h). */
	struct session s = menu_session(m);
	struct flow_sign a = {
		.bootdir = m->bootdir,
		.mode = mode,
		.key = key,
		.extra = extra,
		.n_extra = n_extra,
		.owner = owner,
		.ask_owner = ask_owner,
		.new_counter = new_counter,
		.no_counter = !m->tpm_on,
		.progress = progress_cb,
		.userdata = m,
		.offer_leave = leave != NULL,
		.leave = leave,
	};
	struct integrity_sign_result res = {0};
	enum flow_sign_step step;
	int r = flow_sign_boot(&s, &a, &res, &step);

	if (r < 0 && step == FLOW_SIGN_SIGN) {
		_cleanup_free_ char *t2 = xasprintf(
			"Signing /boot failed: %s. Nothing in %s was changed.%s",
			r == -EACCES ? "wrong PIN or passphrase" : strerror(-r), m->bootdir, r == -EBADMSG ? "\n\n/boot does not verify: look at the "
			"integrity report; only \"Update checksums and sign\" signs a changed "
			"/boot." : "");
		ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: Signing failed", t2);
	}
	if (r < 0)
		return r;
	if (ret_counter)
		*ret_counter = res.rollback.state == ROLLBACK_OK ? res.rollback.id : 0;
	return 0;
}

int menu_sign_boot_with(struct menu *m, enum integrity_sign_mode mode,
			  const struct secret *owner, const char *key,
			  const struct integrity_file *extra, size_t n_extra, bool new_counter,
			  uint32_t *ret_counter)
{
	return sign_with(m, mode, owner, false, key, extra, n_extra, new_counter, ret_counter,
			 NULL);
}

/* "Update checksums and sign": the one user action that re-hashes /boot; a
 * new rollback counter needs the owner passphrase: the flow asks it. */
static int sign_boot(struct menu *m, enum flow_signkey_leave *leave)
{
	return sign_with(m, INTEGRITY_SIGN_REGENERATE, NULL, true, NULL, NULL, 0, false, NULL,
			 leave);
}

/* Sign the default entry files with the rest of /boot (a previous default
 * with another index leaves the signed set and /boot with it). */
int menu_save_default_signed(struct menu *m, struct boot_view *view,
			       enum integrity_sign_mode mode, const struct boot_entry *e,
			       unsigned index1, const struct secret *owner, const char *key,
			       bool new_counter, uint32_t *ret_counter)
{
	struct bootcfg_default_files f = {0};
	struct integrity_file extra[2];
	int r = bootcfg_default_files(view, e, index1, &f);

	if (r < 0)
		return log_error_errno(r, "preparing the default entry files");
	extra[0] = (struct integrity_file){.name = f.name, .data = f.line, .len = f.line_len};
	extra[1] = (struct integrity_file){.name = MANIFEST_DEFAULT_HASHES_FILE, .data = f.hashes,
					   .len = f.hashes_len};
	r = menu_sign_boot_with(m, mode, owner, key, extra, 2, new_counter, ret_counter);
	bootcfg_default_files_free(&f);
	return r;
}

/* Options -> u: reference prompt_update_checksums. */
enum flow_outcome menu_update_checksums(struct menu *m)
{
	enum flow_signkey_leave leave = FLOW_SIGNKEY_STAY;
	int r;

	/* Signing re-blesses /boot as it is: show what that would bless. */
	{
		struct integrity_report rep = {0};
		if (menu_run_integrity(m, &rep) == 0) {
			if (!integrity_ok(&rep)) {
				_cleanup_free_ char *text = menu_report_text(m, &rep);
				r = ui_textbox(m->ui, UI_BG_WARNING,
					       "What signing now would trust", text);
				if (ui_gone(r)) {
					integrity_report_free(&rep);
					return FLOW_UI_GONE;
				}
			}
			integrity_report_free(&rep);
		}
	}
	r = ui_yesno(m->ui, UI_BG_WARNING, "Update Checksums and sign all files in /boot",
			 "You have chosen to update the checksums and sign all of the files in "
			 "/boot.\n\nThis means that you trust that these files have not been "
			 "tampered with.\n\nYou will need your GPG key (or card) to continue and "
			 "this change will modify your disk.\n\nDo you want to continue?");
	if (r != 1)
		return menu_outcome(m, r);
	r = sign_boot(m, &leave);
	if (ui_gone(r))
		return FLOW_UI_GONE;
	/* "GPG signing key unavailable" -> F / x */
	if (leave == FLOW_SIGNKEY_RESET)
		return menu_ownership(m, false);
	if (leave == FLOW_SIGNKEY_RECOVERY)
		return menu_go_recovery(m, "GPG signing key unavailable");
	if (r == 0)
		ui_msgbox(m->ui, UI_BG_NORMAL, "Signed", "/boot has been signed.");
	return FLOW_BACK;
}
