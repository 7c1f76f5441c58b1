/* menu_shared.c - the helpers every file of `heads menu` uses (src/cmd/menu.c
 * and the flows in src/flow/): outcomes, the TPM and /boot of the menu's
 * session, the verified view, entry choice, leaving for the recovery shell,
 * power off. Declared in flow/menu.h ("Shared by the menu's files"). */
#include "cmd/cmd.h"
#include "flow/menu.h"
#include "boot/sig.h"
#include "boot/view.h"
#include "gpg/keyring.h"
#include "log.h"
#include "tpm/tpm.h"
#include "ui/ui.h"
#include "util.h"

#include <errno.h>
#include <gpgme.h>
#include <stdio.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum flow_outcome menu_finish(struct menu *m, int code)
{
	m->exit_code = code;
	return FLOW_DONE;
}

enum flow_outcome menu_outcome(struct menu *m, int r)
{
	if (!ui_fatal(r))
		return FLOW_BACK;
	if (!ui_gone(r))
		m->exit_code = HEADS_EXIT_FAIL;
	return FLOW_UI_GONE;
}

void menu_unavailable(struct menu *m, const char *what, const char *issue)
{
	_cleanup_free_ char *t = xasprintf("%s is unavailable in this build (%s).", what, issue);
	log_warn("%s", t);
	ui_msgbox(m->ui, UI_BG_WARNING, "Unavailable", t);
}

int menu_tpm_open(struct menu *m, struct tpm **ret)
{
	struct session s = menu_session(m);
	if (!m->tpm_on)
		return -ENODEV;
	return flow_tpm_open(&s, ret);
}

void menu_refresh_status(struct menu *m)
{
	ui_set_status(m->ui, m->board, m->totp, m->hotp);
}

bool menu_boot_has(const struct menu *m, const char *name)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", m->bootdir, name);
	struct stat st;
	return lstat(p, &st) == 0;
}

void menu_forget_signed(struct menu *m)
{
	if (m->signed_set) {
		boot_signed_free(m->signed_set);
		free(m->signed_set);
		m->signed_set = NULL;
	}
}

/* The view a boot reads /boot through: the signed one (from the last check
 * that passed; none: refused) or, for an explicit unsafe boot and for
 * ownership (which signs what the user accepts), the unverified one. */
int menu_view(struct menu *m, bool verified, struct boot_view **ret)
{
	if (verified && !m->signed_set)
		return log_error_errno(-EBADMSG, "%s has not been verified: not booting",
				       m->bootdir);
	return boot_view_open(m->bootdir, verified ? m->signed_set : NULL, ret);
}

/* Number of public keys in a GnuPG home (0 if it does not exist). */
int menu_keyring_count(const char *home)
{
	gpgme_ctx_t ctx = NULL;
	gpgme_key_t key;
	struct stat st;
	int n = 0;

	if (stat(home, &st) < 0)
		return 0;
	if (gpg_context(home, 0, &ctx) < 0)
		return -EIO;
	if (gpgme_op_keylist_start(ctx, NULL, 0)) {
		gpgme_release(ctx);
		return -EIO;
	}
	while (gpgme_op_keylist_next(ctx, &key) == 0) {
		n++;
		gpgme_key_unref(key);
	}
	gpgme_op_keylist_end(ctx);
	gpgme_release(ctx);
	return n;
}

/* "YYYY-MM-DD HH:MM:SS UTC" now. */
void menu_utc_now(char date[64])
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(date, 64, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

/* A menu of boot entries, keyed "1".."n". Returns the index or -errno. */
int menu_choose_entry(struct menu *m, enum ui_bg bg, const char *title, const char *text,
			const struct boot_entries *l, size_t dflt)
{
	struct ui_item *items = xcalloc(l->n, sizeof(*items));
	char **keys = xcalloc(l->n, sizeof(char *));
	int r;

	for (size_t i = 0; i < l->n; i++) {
		keys[i] = xasprintf("%zu", i + 1);
		items[i].key = keys[i];
		items[i].label = l->v[i].title;
	}
	r = ui_menu(m->ui, bg, title, text, items, l->n, dflt);
	for (size_t i = 0; i < l->n; i++)
		free(keys[i]);
	free(keys);
	free(items);
	return r;
}

/* --- recovery, power --------------------------------------------------- */

/* Leave the menu for the recovery shell (reference `recovery "<msg>"`):
 * the state machine runs it (run_recovery). */
enum flow_outcome menu_go_recovery(struct menu *m, const char *why)
{
	if (config_enabled(&m->cfg, "CONFIG_RESTRICTED_BOOT")) {
		ui_msgbox(m->ui, UI_BG_ERROR, "Restricted Boot",
			  "Restricted Boot is enabled: the recovery shell is disabled.");
		return FLOW_BACK;
	}
	m->recovery_why = why;
	return FLOW_RECOVERY;
}

/* Power off (how = RB_POWER_OFF) or reboot (RB_AUTOBOOT). */
enum flow_outcome menu_power_off_how(struct menu *m, int how)
{
	_cleanup_tpm_ struct tpm *t = NULL;
	const char *what = how == RB_AUTOBOOT ? "reboot" : "power off";

	if (menu_tpm_open(m, &t) == 0)
		(void)tpm_shutdown(t);
	sync();
	if (!m->live) {
		printf("heads menu: %s (dry run: not %s)\n", what,
		       how == RB_AUTOBOOT ? "rebooting" : "powering off");
		return menu_finish(m, HEADS_EXIT_OK);
	}
	ui_close(m->ui);
	m->ui = NULL;
	reboot(how);
	return menu_finish(m, log_error_errno(-errno, "%s", what) ? HEADS_EXIT_FAIL : 0);
}
