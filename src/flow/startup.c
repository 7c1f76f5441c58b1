/* flow/startup.c - the menu's start-up checks: rollback preflight, the ROM keyring, a /boot
 * with nothing signed (ownership offered) or no /boot at all. */
#include "cmd/cmd.h"
#include "flow/recovery.h"
#include "gpg/keyring.h"
#include "handover.h"
#include "board.h"
#include "flow/menu.h"
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

/* --- start-up checks ----------------------------------------------------- */

/* Reference rollback preflight (heads-behaviour.md 2.5), in return mode.
 * 0 passes; else the reason in *ret. */
static int rollback_preflight(struct menu *m, char **ret)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", m->bootdir, ROLLBACK_FILE), *buf = NULL;
	_cleanup_tpm_ struct tpm *t = NULL;
	struct rollback_result res = {0};
	size_t len;
	int r;

	if (!m->tpm_on || config_enabled(&m->cfg, "CONFIG_IGNORE_ROLLBACK"))
		return 0;
	r = fs_read_file(p, ROLLBACK_MAX_FILE, &buf, &len);
	if (r == -ENOENT) {
		if (menu_boot_has(m, "kexec.sig") || menu_boot_has(m, "kexec_default_hashes.txt")) {
			*ret = xstrdup("Boot integrity counter file missing: /boot has signed "
				       "metadata but no kexec_rollback.txt.");
			return -ENOENT;
		}
		return 0; /* first ownership */
	}
	if (r < 0) {
		*ret = xasprintf("%s cannot be read: %s", p, strerror(-r));
		return r;
	}
	if ((r = menu_tpm_open(m, &t)) < 0) {
		*ret = xasprintf("The TPM cannot be opened: %s", strerror(-r));
		return r;
	}
	r = rollback_verify(t, buf, len, &res);
	if (r < 0 || res.state != ROLLBACK_OK) {
		*ret = xasprintf("TPM integrity counter %s%s%s. This can mean the TPM was "
				 "reset or swapped, or /boot was replaced by an older copy.",
				 r < 0 ? "cannot be checked" : rollback_state_name(res.state),
				 res.detail[0] ? ": " : "", res.detail);
		return r < 0 ? r : -EBADMSG;
	}
	return 0;
}

enum flow_outcome menu_preflight_menu(struct menu *m)
{
	static const struct ui_item items[] = {
		{"i", "Show integrity report"},
		{"o", "OEM Factory Reset / Re-Ownership"},
		{"t", "Reset the TPM"},
		{"m", "Continue to main menu"},
	};
	for (;;) {
		_cleanup_free_ char *why = NULL, *text = NULL;
		int r = rollback_preflight(m, &why);
		enum flow_outcome o;

		if (r == 0) {
			m->preflight_failed = false;
			return FLOW_BACK;
		}
		m->preflight_failed = true;
		m->bg = UI_BG_ERROR;
		text = xasprintf("%s\n\nThe rollback counter that binds your signed /boot to "
				 "this TPM does not match. Until it is fixed, TOTP/HOTP are not "
				 "checked and /boot cannot be re-signed.", why);
		r = ui_menu(m->ui, UI_BG_ERROR, "ERROR: TPM State Inconsistent", text, items,
			    ARRAY_SIZE(items), 0);
		if (ui_fatal(r))
			return menu_outcome(m, r);
		switch (r) {
		case 0:
			o = menu_integrity_report_screen(m);
			break;
		case 1:
			o = menu_ownership(m, false);
			break;
		case 2:
			o = menu_reset_tpm(m);
			break;
		default:
			m->skip_to_menu = true;
			return FLOW_BACK;
		}
		if (o != FLOW_BACK && o != FLOW_DONE) /* DONE: the report verified */
			return o;
	}
}

enum flow_outcome menu_gpg_key_check(struct menu *m)
{
	static const struct ui_item items[] = {
		{"g", "Add a GPG key to the running BIOS"},
		{"F", "OEM Factory Reset / Re-Ownership"},
		{"i", "Ignore error and continue to main menu"},
		{"x", "Exit to recovery shell"},
	};
	int n = menu_keyring_count(m->keyring), r;

	if (n > 0)
		return FLOW_BACK;
	m->bg = UI_BG_ERROR;
	if (m->skip_to_menu)
		return FLOW_BACK;
	r = ui_menu(m->ui, UI_BG_ERROR, "ERROR: GPG keyring empty!",
		    "ERROR: Heads couldn't find any GPG keys in your keyring.\n\n"
		    "If this is the first time the system has booted, you should add a "
		    "public GPG key to the BIOS now.\n\nIf you just reflashed a new BIOS, "
		    "you'll need to add at least one public key to the keyring.\n\n"
		    "If you have not just reflashed your BIOS, THIS COULD INDICATE TAMPERING!",
		    items, ARRAY_SIZE(items), 0);
	if (ui_fatal(r))
		return menu_outcome(m, r);
	switch (r) {
	case 0:
		r = menu_gpg_rom_keys(m, false);
		return r == 1 ? menu_after_rom_write(m) : menu_outcome(m, r);
	case 1:
		return menu_ownership(m, false);
	case 3:
		return menu_go_recovery(m, "GPG keyring empty");
	default:
		m->skip_to_menu = true;
		return FLOW_BACK;
	}
}

enum flow_outcome menu_no_boot_menu(struct menu *m)
{
	static const struct ui_item items[] = {
		{"b", "Select a new boot device"},
		{"u", "Boot from USB"},
		{"m", "Continue to the main menu"},
		{"x", "Exit to recovery shell"},
	};
	_cleanup_free_ char *text = xasprintf(
		"Heads couldn't find a /boot to use (%s is empty or missing).\n\n"
		"Please select a new boot device, boot from USB, or continue.", m->bootdir);
	int r = ui_menu(m->ui, UI_BG_ERROR, "ERROR: No /boot Partition Found", text, items,
			ARRAY_SIZE(items), 2);
	if (ui_fatal(r))
		return menu_outcome(m, r);
	switch (r) {
	case 0: {
		_cleanup_free_ char *dev = NULL, *err = NULL;
		r = ui_input(m->ui, "Boot device", "Block device holding /boot (saved as "
			     "CONFIG_BOOT_DEV; used from the next boot)",
			     config_get(&m->cfg, "CONFIG_BOOT_DEV"), &dev);
		if (r < 0)
			return menu_outcome(m, r);
		if (config_set(m->user_config, "CONFIG_BOOT_DEV", dev, &err) < 0)
			ui_msgbox(m->ui, UI_BG_ERROR, "ERROR", err ? err : "saving failed");
		return FLOW_BACK;
	}
	case 1:
		return menu_usb_boot(m);
	case 3:
		return menu_go_recovery(m, "no /boot partition found");
	default:
		m->skip_to_menu = true;
		return FLOW_BACK;
	}
}

bool menu_boot_populated(const struct menu *m)
{
	DIR *d = opendir(m->bootdir);
	struct dirent *de;
	bool any = false;

	if (!d)
		return false;
	while (!any && (de = readdir(d)))
		any = !streq(de->d_name, ".") && !streq(de->d_name, "..") &&
		      !streq(de->d_name, "lost+found");
	closedir(d);
	return any;
}
