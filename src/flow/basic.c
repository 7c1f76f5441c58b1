/* flow/basic.c - Basic mode (part of `heads menu`, flow/menu.h): the
 * reference's gui-init-basic (heads-behaviour.md 1.9, 8 CONFIG_BASIC*): a
 * machine without TPM attestation or signing. No rollback, GPG key, TOTP
 * or HOTP check at start-up; the default boot is the first entry of /boot
 * (or the OS boot menu with CONFIG_BASIC_NO_AUTOMATIC_DEFAULT=y), read
 * through the unverified view with a plain warning on the screen.
 *
 * Stricter than the reference, which touches no TPM in Basic mode: every
 * Basic boot extends PCR 4 with "unsafe" before anything is loaded, as an
 * explicit unsafe boot does, so nothing sealed to a normal boot (TOTP, Disk
 * Unlock Key) unseals from a Basic boot; the Disk Unlock Key is never used. */
#include "flow/menu.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>

bool menu_basic(const struct menu *m)
{
	return config_enabled(&m->cfg, "CONFIG_BASIC") ||
	       config_enabled(&m->cfg, "CONFIG_PUREBOOT_BASIC"); /* legacy name */
}

enum flow_outcome menu_basic_startup(struct menu *m)
{
	enum flow_outcome o;

	snprintf(m->totp, sizeof(m->totp), "%s", "BASIC MODE");
	snprintf(m->hotp, sizeof(m->hotp), "%s", "");
	m->bg = UI_BG_WARNING;
	menu_refresh_status(m);
	while (!menu_boot_populated(m)) {
		o = menu_no_boot_menu(m);
		if (o != FLOW_BACK)
			return o;
		if (m->skip_to_menu)
			return FLOW_BACK;
	}
	/* Reference basic-autoboot: the countdown needs no HOTP here. */
	const char *secs_s = config_get(&m->cfg, "CONFIG_AUTO_BOOT_TIMEOUT");
	unsigned long long secs;
	if (secs_s && parse_uint(secs_s, 3600, &secs) == 0 && secs > 0) {
		_cleanup_free_ char *t = xasprintf("Basic mode: automatic boot in %llu seconds "
						   "unless interrupted by keypress...", secs);
		int r = ui_countdown(m->ui, t, (unsigned)secs);
		if (ui_fatal(r))
			return menu_outcome(m, r);
		if (r == 0)
			return menu_basic_default_boot(m);
	}
	return FLOW_BACK;
}

/* Basic boots: the unverified view, PCR 4 "unsafe" (by the handover, before
 * the plan is loaded). first: the first entry, else the OS boot menu. */
static enum flow_outcome basic_boot(struct menu *m, bool first)
{
	struct boot_entries l = {0};
	_cleanup_view_ struct boot_view *view = NULL;
	enum flow_outcome o;
	int r = menu_view(m, false, &view);

	if (r == 0)
		r = bootcfg_scan(view, &l);
	if (r < 0 || l.n == 0) {
		_cleanup_free_ char *t = xasprintf("No boot entries found in %s%s%s.", m->bootdir,
						   r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
		r = ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: No boot options", t);
		boot_entries_free(&l);
		return menu_gone_or_back(r);
	}
	r = first ? 0 : menu_choose_entry(m, UI_BG_WARNING, "Basic mode: select your boot option",
					   "Nothing is verified in Basic mode.", &l, 0);
	if (r < 0) {
		boot_entries_free(&l);
		return menu_outcome(m, r);
	}
	log_warn("Basic mode: booting '%s' without verification", l.v[r].title);
	o = menu_kexec_entry(m, view, &l.v[r], "unsafe");
	boot_entries_free(&l);
	return o;
}

enum flow_outcome menu_basic_default_boot(struct menu *m)
{
	return basic_boot(m, !config_enabled(&m->cfg, "CONFIG_BASIC_NO_AUTOMATIC_DEFAULT"));
}

enum flow_outcome menu_basic_boot_menu(struct menu *m)
{
	return basic_boot(m, false);
}
