/* flow/config.c - the Config Management items of issue 20 (part of `heads
 * menu`, flow/menu.h): L Restricted Boot, P Basic mode, A Basic mode's
 * automatic default boot, r clear the GPG keys and reset all settings. Reference heads-behaviour.md 8
 * (CONFIG_RESTRICTED_BOOT), 9 (config-gui), 10.1 ("disabling Restricted
 * Boot wipes TOTP before reflashing, leaving evidence").
 *
 * Stricter than the reference: turning Restricted Boot on or off needs the
 * GPG challenge (the owner's key signs a fresh nonce that the ROM keyring
 * verifies), so a person at the keyboard without the key can neither
 * switch it off nor lock the owner out; enabling needs a key in the ROM
 * keyring for the same reason (no key: no signed boot, no way back). */
#include "flow/menu.h"
#include "flow/recovery.h"
#include "flow/tpm_reset.h"
#include "log.h"
#include "romcfg.h"
#include "tpm_otp.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RESTRICTED "CONFIG_RESTRICTED_BOOT"

/* What Restricted Boot forbids, in one place for the questions. */
#define RESTRICTED_FORBIDS                                                               \
	"Under Restricted Boot:\n"                                                       \
	" - only /boot entries signed with your key boot (no forced unsafe boot),\n"   \
	" - there is no recovery shell,\n"                                              \
	" - the firmware cannot be flashed from the menu,\n"                            \
	" - USB media that nothing signs do not boot."

/* The GPG challenge before a change of Restricted Boot. 1 passed; 0 failed
 * (said so); <0 the UI is gone. */
static int challenge(struct menu *m, const char *what)
{
	int r;

	if (menu_keyring_count(m->keyring) <= 0) {
		_cleanup_free_ char *t = xasprintf(
			"%s needs the owner's GPG key: the ROM keyring is empty.\n\nAdd your "
			"public key to the ROM first (GPG Options, or OEM Factory Reset / "
			"Re-Ownership).", what);
		r = ui_msgbox(m->ui, UI_BG_ERROR, "Restricted Boot", t);
		return ui_fatal(r) ? r : 0;
	}
	struct session s = menu_session(m);
	r = flow_gpg_challenge(&s, what);
	if (r == 0)
		return 1;
	if (ui_gone(r))
		return r;
	r = ui_msgbox(m->ui, UI_BG_ERROR, "Restricted Boot",
		      "GPG authentication failed: nothing was changed.");
	return ui_fatal(r) ? r : 0;
}

static enum flow_outcome restricted_enable(struct menu *m)
{
	int r;

	if (menu_basic(m)) {
		r = ui_msgbox(m->ui, UI_BG_ERROR, "Restricted Boot",
			      "Restricted Boot cannot be enabled in Basic mode, which verifies "
			      "nothing: disable Basic mode first.");
		return menu_gone_or_back(r);
	}
	r = menu_yes(m, UI_BG_WARNING, "Enable Restricted Boot",
			 RESTRICTED_FORBIDS "\n\nTurning it off later needs your GPG key, "
			 "erases the TOTP/HOTP secret (so the next boot shows that it was "
			 "turned off) and rewrites the ROM.\n\nEnable Restricted Boot?");

	if (r != 1)
		return menu_outcome(m, r);
	r = challenge(m, "Enable Restricted Boot");
	if (r != 1)
		return menu_outcome(m, r);
	r = menu_set_setting(m, RESTRICTED, "y");
	if (r < 0 || !config_enabled(&m->cfg, RESTRICTED))
		return menu_outcome(m, r);
	log_info("Restricted Boot enabled (RAM; persists once saved to the ROM)");
	/* In force now; it lasts past a reboot only in the ROM, which is
	 * measured (PCR 7): the existing save, with its TOTP/DUK reseal. */
	r = menu_rom_store_config(m);
	if (r == 1)
		return menu_after_rom_write(m);
	if (r == 0)
		r = ui_msgbox(m->ui, UI_BG_WARNING, "Restricted Boot",
			      "Restricted Boot is enabled until the next reboot. Save the "
			      "configuration to the ROM to keep it.");
	return menu_outcome(m, r);
}

/* Erase the TOTP/HOTP object (reference wipe-totp before the reflash):
 * 0, or <0 (said so). */
static int wipe_totp(struct menu *m)
{
	_cleanup_secret_ struct secret *owner = NULL;
	_cleanup_tpm_ struct tpm *t = NULL;
	int r = menu_ask_owner_passphrase(m, false, &owner);

	if (r < 0)
		return r;
	r = menu_tpm_open(m, &t);
	if (r == 0)
		r = tpm_otp_wipe(t, TPM_HANDLE_TOTP, owner);
	if (r == TPM_E_NO_OBJECT) {
		log_info("no TOTP/HOTP secret in the TPM: nothing to erase");
		return 0;
	}
	if (r < 0) {
		_cleanup_free_ char *why = tpm_otp_reason(t, r, 0);
		_cleanup_free_ char *msg = xasprintf(
			"The TOTP/HOTP secret could not be erased (%s): Restricted Boot stays "
			"enabled.", why);
		log_error("erasing the TOTP/HOTP secret: %s", why);
		r = ui_msgbox(m->ui, UI_BG_ERROR, "Restricted Boot", msg);
		return ui_gone(r) ? r : -EACCES;
	}
	log_info("TOTP/HOTP secret erased (Restricted Boot turned off)");
	snprintf(m->totp, sizeof(m->totp), "%s", "ERASED");
	return 0;
}

static enum flow_outcome restricted_disable(struct menu *m)
{
	int r = menu_yes(m, UI_BG_ERROR, "Disable Restricted Boot",
			 "Turning Restricted Boot off erases the TOTP/HOTP secret first: the "
			 "next boot shows a TOTP failure, the evidence that it was turned off, "
			 "and you generate a new secret then.\n\nThe setting is written into "
			 "the ROM now and the machine reboots.\n\nDisable Restricted Boot?");

	if (r != 1)
		return menu_outcome(m, r);
	r = challenge(m, "Disable Restricted Boot");
	if (r != 1)
		return menu_outcome(m, r);
	if (m->tpm_on && (r = wipe_totp(m)) < 0)
		return ui_gone(r) ? FLOW_UI_GONE : FLOW_BACK;
	r = menu_set_setting(m, RESTRICTED, "n");
	if (r < 0 || config_enabled(&m->cfg, RESTRICTED))
		return menu_outcome(m, r);
	r = menu_rom_store_user_config(m);
	if (r == -ENOENT) {
		r = ui_msgbox(m->ui, UI_BG_WARNING, "Restricted Boot",
			      "Restricted Boot is off until the next reboot: this board has no "
			      "ROM configuration area to keep the change in.");
		return menu_outcome(m, r);
	}
	if (r < 0) {
		r = ui_msgbox(m->ui, UI_BG_ERROR, "Restricted Boot",
			      "Writing the configuration into the ROM failed: Restricted Boot is "
			      "off only until the next reboot.");
		return menu_outcome(m, r);
	}
	r = ui_msgbox(m->ui, UI_BG_NORMAL, "Restricted Boot",
		      "Restricted Boot is disabled and the ROM written. The machine reboots "
		      "now; generate a new TOTP/HOTP secret after the reboot.");
	return ui_gone(r) ? FLOW_UI_GONE : FLOW_REBOOT;
}

enum flow_outcome menu_config_restricted_boot(struct menu *m)
{
	return config_enabled(&m->cfg, RESTRICTED) ? restricted_disable(m) :
						     restricted_enable(m);
}

/* Config -> P (reference: refused under Restricted Boot). The mode is
 * chosen at start-up, so the switch is written into the ROM at once and
 * the machine reboots into it. What each mode needs is kept apart rather
 * than erased: a Basic boot always extends PCR 4 with "unsafe", so the
 * TOTP/HOTP secret and the Disk Unlock Key of the normal mode never unseal
 * in Basic mode, and back in the normal mode the start-up checks /boot,
 * the rollback counter and the TOTP as on any boot (a /boot changed in
 * Basic mode is reported and signed there). */
static enum flow_outcome basic_toggle(struct menu *m)
{
	bool on = menu_basic(m);
	int r;

	if (!on && config_enabled(&m->cfg, RESTRICTED)) {
		r = ui_msgbox(m->ui, UI_BG_ERROR, "Basic mode",
			      "Basic mode cannot be enabled while Restricted Boot is enabled: "
			      "Basic mode boots what nothing verifies.");
		return menu_gone_or_back(r);
	}
	r = on ? menu_yes(m, UI_BG_WARNING, "Disable Basic mode",
			  "The normal mode checks the /boot signature, the rollback counter, "
			  "the TOTP/HOTP and the GPG keyring at every start. If you never set "
			  "them up, the next start offers to take ownership.\n\nThe setting is "
			  "written into the ROM now and the machine reboots.\n\nDisable Basic "
			  "mode?") :
		 menu_yes(m, UI_BG_ERROR, "Enable Basic mode",
			  "Basic mode boots WITHOUT any verification: no /boot signature, no "
			  "TOTP/HOTP, no rollback counter, no Disk Unlock Key. Every boot in "
			  "Basic mode extends PCR 4 with \"unsafe\", so the secrets sealed to "
			  "normal boots stay sealed.\n\nThe setting is written into the ROM "
			  "now and the machine reboots.\n\nEnable Basic mode?");
	if (r != 1)
		return menu_outcome(m, r);
	r = menu_set_setting(m, "CONFIG_BASIC", on ? "n" : "y");
	if (r < 0 || menu_basic(m) == on)
		return menu_outcome(m, r);
	if (config_get(&m->cfg, "CONFIG_PUREBOOT_BASIC") && on)
		r = menu_set_setting(m, "CONFIG_PUREBOOT_BASIC", "n");
	r = menu_rom_store_user_config(m);
	if (r < 0) {
		_cleanup_free_ char *t = xasprintf(
			"%s: Basic mode is not changed for the next start.",
			r == -ENOENT ? "This board has no ROM configuration area" :
				       "Writing the configuration into the ROM failed");
		(void)menu_set_setting(m, "CONFIG_BASIC", on ? "y" : "n");
		r = ui_msgbox(m->ui, UI_BG_ERROR, "Basic mode", t);
		return menu_outcome(m, r);
	}
	log_info("Basic mode %s (ROM written)", on ? "disabled" : "enabled");
	r = ui_msgbox(m->ui, UI_BG_NORMAL, "Basic mode",
		      on ? "Basic mode is disabled. The machine reboots now." :
			   "Basic mode is enabled. The machine reboots now.");
	return ui_gone(r) ? FLOW_UI_GONE : FLOW_REBOOT;
}

/* Config -> A: Basic mode's default boot, the first entry (reference
 * default) or the OS boot menu (CONFIG_BASIC_NO_AUTOMATIC_DEFAULT=y). In
 * RAM until saved, as the other settings. */
static enum flow_outcome basic_auto_default(struct menu *m)
{
	bool menu_now = config_enabled(&m->cfg, "CONFIG_BASIC_NO_AUTOMATIC_DEFAULT");
	int r = menu_set_setting(m, "CONFIG_BASIC_NO_AUTOMATIC_DEFAULT", menu_now ? "n" : "y");
	return menu_outcome(m, r);
}

/* --- r: clear the GPG keys and reset all settings ---------------------- */

static int rm_below(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	if (ftw->level == 0)
		return 0; /* the directory itself stays */
	if (remove(path) < 0) {
		log_error_errno(-errno, "removing %s", path);
		return -1;
	}
	return 0;
}

/* Everything beneath dir (not following symlinks); a missing dir is empty. */
static int clear_dir(const char *dir)
{
	if (access(dir, F_OK) < 0 && errno == ENOENT)
		return 0;
	return nftw(dir, rm_below, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -EIO;
}

/* Every owner file of the ROM config area removed (reference: every heads/
 * CBFS file). -ENOENT: the board has none. */
static int rom_clear(struct menu *m)
{
	_cleanup_free_ char *dev = NULL;
	struct romcfg c = {.slot = -1};
	int r = m->rom ? (dev = xstrdup(m->rom), 0) : romcfg_find(NULL, NULL, &dev);

	if (r < 0)
		return r;
	r = romcfg_read(dev, &c);
	while (r == 0 && c.n > 0) {
		_cleanup_free_ char *name = xstrdup(c.v[0].name);
		r = romcfg_remove(&c, name);
	}
	if (r == 0)
		r = romcfg_write(dev, &c);
	romcfg_free(&c);
	if (r < 0)
		return log_error_errno(r, "%s: clearing the ROM configuration area", dev);
	m->rom_written = true;
	log_info("%s: every owner file removed", dev);
	return 0;
}

/* The top-level kexec* files of /boot (signatures, hashes, defaults,
 * rollback, key devices: reference rm /boot/kexec*). */
static int boot_clear(struct menu *m)
{
	_cleanup_free_ char *mp = NULL;
	unsigned long flags = 0;
	DIR *d;
	struct dirent *de;
	int r = integrity_boot_writable(m->bootdir, &mp, &flags), k;

	if (r < 0)
		return log_error_errno(r, "%s: cannot write", m->bootdir);
	d = opendir(m->bootdir);
	if (!d)
		r = log_error_errno(-errno, "opening %s", m->bootdir);
	while (d && (de = readdir(d))) {
		struct stat st;
		if (fnmatch("kexec*", de->d_name, 0) != 0 ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || S_ISDIR(st.st_mode))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) < 0 && r == 0)
			r = log_error_errno(-errno, "removing %s/%s", m->bootdir, de->d_name);
	}
	if (d)
		closedir(d);
	k = integrity_boot_restore_ro(mp, flags);
	return r < 0 ? r : k;
}

static enum flow_outcome reset_all(struct menu *m)
{
	_cleanup_free_ char *failed = NULL;
	int r;

	if (config_enabled(&m->cfg, RESTRICTED) &&
	    (r = challenge(m, "Reset the configuration (Restricted Boot)")) != 1)
		return menu_outcome(m, r);
	r = menu_yes(m, UI_BG_ERROR, "Reset Configuration?",
		     "This clears every GPG key (the ROM keyring and this machine's keyring), "
		     "the /boot signatures and checksums (/boot/kexec*), every setting saved "
		     "in the ROM (the /boot device, Restricted Boot, Basic mode, ...), and "
		     "resets the TPM (the TOTP/HOTP secret and the Disk Unlock Key are lost)."
		     "\n\nThe machine then reboots as a new one and offers to take ownership."
		     "\n\nDo you want to proceed?");
	if (r != 1)
		return menu_outcome(m, r);
	/* The TPM first: without its new owner passphrase nothing is changed. */
	if (m->tpm_on) {
		_cleanup_secret_ struct secret *owner = NULL;
		_cleanup_free_ char *name = NULL;
		struct session s = menu_session(m);
		struct flow_tpm_reset a = {0};
		enum flow_tpm_reset_step step;
		int version;

		r = menu_ask_owner_passphrase(m, true, &owner);
		if (r < 0)
			return ui_gone(r) ? FLOW_UI_GONE : FLOW_BACK;
		a.owner = owner;
		r = flow_tpm_reset(&s, &a, &version, &name, &step);
		if (r < 0) {
			_cleanup_free_ char *t = xasprintf("The TPM reset failed (%s): nothing "
							   "else was changed.", strerror(-r));
			r = ui_msgbox(m->ui, UI_BG_ERROR, "Reset Configuration", t);
			return menu_gone_or_back(r);
		}
		log_info("TPM reset");
		snprintf(m->totp, sizeof(m->totp), "%s", "TPM RESET");
	}
	r = rom_clear(m);
	if (r < 0 && r != -ENOENT)
		str_appendf(&failed, "the ROM configuration area (%s)\n", strerror(-r));
	if (clear_dir(m->keyring) < 0)
		str_appendf(&failed, "the keyring %s\n", m->keyring);
	if (m->gnupghome && !streq(m->gnupghome, m->keyring) && clear_dir(m->gnupghome) < 0)
		str_appendf(&failed, "the GnuPG home %s\n", m->gnupghome);
	if ((r = boot_clear(m)) < 0)
		str_appendf(&failed, "%s/kexec* (%s)\n", m->bootdir, strerror(-r));
	if (unlink(m->user_config) < 0 && errno != ENOENT)
		str_appendf(&failed, "%s (%s)\n", m->user_config, strerror(errno));
	if (failed) {
		_cleanup_free_ char *t = xasprintf("The reset is incomplete; these were not "
						   "cleared:\n\n%s", failed);
		log_error("configuration reset incomplete");
		r = ui_msgbox(m->ui, UI_BG_ERROR, "Reset Configuration", t);
		return menu_gone_or_back(r);
	}
	log_info("configuration reset: keys, /boot signatures and settings cleared");
	r = ui_msgbox(m->ui, UI_BG_NORMAL, "Configuration Reset",
		      "The configuration was reset. The machine reboots now.");
	return ui_gone(r) ? FLOW_UI_GONE : FLOW_REBOOT;
}

enum flow_outcome menu_config_item(struct menu *m, char key)
{
	switch (key) {
	case 'L':
		return menu_config_restricted_boot(m);
	case 'P':
		return basic_toggle(m);
	case 'A':
		return basic_auto_default(m);
	case 'r':
		return reset_all(m);
	case 'R':
		return menu_config_root(m, false);
	case 'D':
		return menu_config_root(m, true);
	case 'B':
		return menu_outcome(m, menu_set_setting(m, "CONFIG_ROOT_CHECK_AT_BOOT",
				    config_enabled(&m->cfg, "CONFIG_ROOT_CHECK_AT_BOOT") ? "n" : "y"));
	default:
		return FLOW_BACK;
	}
}

char *menu_config_status(const struct menu *m)
{
	return xasprintf("Restricted Boot: %s\nBasic mode: %s (default boot: %s)\n"
			 "Root check at boot: %s",
			 config_enabled(&m->cfg, RESTRICTED) ? "ENABLED" : "disabled",
			 menu_basic(m) ? "ENABLED" : "disabled",
			 config_enabled(&m->cfg, "CONFIG_BASIC_NO_AUTOMATIC_DEFAULT") ?
				 "the OS boot menu" : "the first entry",
			 config_enabled(&m->cfg, "CONFIG_ROOT_CHECK_AT_BOOT") ? "on" : "off");
}
