/* flow/menu.h - internal to `heads menu`: the state shared by
 * src/cmd/menu.c (the screens: main and options menus, start-up, run) and
 * the flows it calls, one file each in src/flow/: totp.c (TOTP code, seal,
 * QR, after a ROM write), ownership.c (TPM reset, owner passphrase, GPG key,
 * first-boot ownership), integrity.c (the report, investigation, signing
 * /boot), boot.c (default, menu and forced boots down to the handover),
 * startup.c (preflight, rollback, keyring and /boot checks), luks.c
 * (reencryption, Disk Recovery Key, Disk Unlock Key setup), gpg.c (the
 * owner's key backup and the ROM keyring), recovery.c (the recovery
 * shell, shared with `heads recovery`). Not a library contract. */
#ifndef HEADS_FLOW_MENU_H
#define HEADS_FLOW_MENU_H

#include <errno.h>
#include <gpgme.h>
#include <stdbool.h>
#include <stdint.h>

#include "boot/integrity.h"
#include "boot/view.h"
#include "bootcfg/bootcfg.h"
#include "config.h"
#include "flow/flow.h"
#include "secret.h"
#include "tpm/tpm.h"
#include "ui/ui.h"

#define MENU_OWNER_PASS_MAX 32
#define MENU_GPG_PIN_MAX 25 /* MAX_HOTP_GPG_PIN_LENGTH, heads #1167 */

struct menu {
	struct ui *ui;
	struct config cfg;
	const char *bootdir, *keyring, *gnupghome, *user_config, *tcti, *secret_dir;
	const char *eventlog, *recovery_shell;
	const char *luks_devices; /* kexec_key_devices.txt-format selection, or NULL */
	const char *trace, *modules; /* DUK PCR 5 prediction inputs (NULL: defaults) */
	const char *rom;          /* ROM config area device/image; NULL: the board's */
	const char *board;
	char totp[128], hotp[128];
	/* HOTP (flow/hotp.c): the dongle model of heads-dongle-test (NULL:
	 * USB), the last brand seen, the firmware notice shown, and whether
	 * the last check succeeded (a code computed and accepted): auto-boot
	 * needs it. */
	const char *dongle_model, *hotp_brand;
	bool hotp_fw_shown, hotp_success;
	char totp_reason[512];
	enum ui_bg bg;
	bool tpm_on, live, skip_to_menu, gate_required;
	bool preflight_failed;
	bool rom_written;   /* this menu rewrote the ROM config area: reboot */
	bool have_next_pcr7; /* next_pcr7 is the next boot's PCR 7 (seal to it) */
	uint8_t next_pcr7[32];
	bool have_next_pcr2; /* next_pcr2 is the next boot's PCR 2 (firmware update) */
	uint8_t next_pcr2[32];
	char **media;        /* --media: the disks the Flash menu looks at (NULL: discovery) */
	size_t n_media;
	/* What kexec.sig vouched for at the last check that passed (owned):
	 * normal boots read /boot only through it (boot/view.h). */
	struct boot_signed *signed_set;
	int exit_code;            /* the menu's exit status after FLOW_DONE */
	const char *recovery_why; /* the message of FLOW_RECOVERY */
	/* USB boot (flow/usb.c): the disks to scan (--usb-device; none:
	 * removable disks), and whether PCR 4 got "usb" in this boot. */
	char **usb_devices;
	size_t n_usb_devices;
	bool usb_extended, usb_unsafe_extended;
};

/* The menu's session for a flow (flow/flow.h): its UI, settings, TPM and
 * keys; no command prompt. */
static inline struct session menu_session(struct menu *m)
{
	return (struct session){.ui = m->ui, .cfg = &m->cfg, .tcti = m->tcti,
				.keyring = m->keyring, .gnupghome = m->gnupghome,
				.secret_dir = m->secret_dir};
}

/* A UI error that means the conversation is over (script ended, console
 * closed): the menu exits instead of looping. */
static inline bool ui_fatal(int r)
{
	return r < 0 && r != -ECANCELED;
}

/* The script or the console ended (or a script has no passphrase to
 * give): stop at once, whatever the flow. */
static inline bool ui_gone(int r)
{
	return r == -EPROTO || r == -EPIPE || r == -ENOKEY;
}

/* A UI result (0, a count, -ECANCELED, or a UI error) as an outcome: back
 * to the screen, FLOW_UI_GONE when the conversation ended. Any other
 * failure ends the menu too (as before the outcomes): its exit status
 * (HEADS_EXIT_FAIL) is set and FLOW_UI_GONE returned. */
enum flow_outcome menu_outcome(struct menu *m, int r);

/* FLOW_UI_GONE when the conversation ended (ui_gone), else FLOW_BACK. */
static inline enum flow_outcome menu_gone_or_back(int r)
{
	return ui_gone(r) ? FLOW_UI_GONE : FLOW_BACK;
}

/* A yes/no question: 1 yes; 0 no or Esc; <0 the UI is gone. */
static inline int menu_yes(struct menu *m, enum ui_bg bg, const char *title, const char *text)
{
	int r = ui_yesno(m->ui, bg, title, text);
	return r == 1 ? 1 : ui_fatal(r) ? r : 0;
}

int menu_tpm_open(struct menu *m, struct tpm **ret);
bool menu_boot_has(const struct menu *m, const char *name);
/* TPM owner passphrase (twice when new); 3 attempts, -EACCES after. */
int menu_ask_owner_passphrase(struct menu *m, bool twice, struct secret **ret);
/* A new passphrase of min..max bytes, entered twice; 3 attempts. */
int menu_ask_new_passphrase(struct menu *m, const char *title, const char *what, size_t min,
			    size_t max, struct secret **ret);
/* sig_pin_fn for /boot signing: the key passphrase / card PIN from the UI. */
int menu_sign_pin(void *userdata, const char *hint, int attempt, struct secret **ret);

/* flow/luks.c. Each returns FLOW_BACK, or FLOW_UI_GONE. */
enum flow_outcome menu_luks_reencrypt(struct menu *m);
enum flow_outcome menu_luks_change_drk(struct menu *m);
/* DUK setup / reseal. drk, owner: already known (NULL: asked). key: the
 * signing key (NULL: the default of the GnuPG home). ask: first ask
 * whether to add one at all (ownership). */
enum flow_outcome menu_duk_setup(struct menu *m, const struct secret *drk, const struct secret *owner,
		   const char *key, bool ask);

/* After a new TOTP secret (reference generate_totp_hotp: gate, generate,
 * reseal DUK): offer the DUK reseal when one is configured. */
int menu_duk_reseal_after_totp(struct menu *m, const struct secret *owner);

/* menu_gpg.c. */
/* GPGME loopback passphrase callback (hook: struct menu_gpgme_pass *):
 * gives pass once, refuses a second try. */
struct menu_gpgme_pass {
	const struct secret *pass;
};
gpgme_error_t menu_gpgme_pass_cb(void *hook, const char *uid_hint, const char *info,
				 int prev_bad, int fd);
/* The ROM keyring (m->keyring's pubring.kbx, trustdb.gpg) and the user
 * config (etc/config.user, if any: the primary key's Name recorded at
 * ownership) into the ROM config area, in one write. 1 written; 0 the board has none (said so); <0 failed (said
 * so) or a fatal UI error. */
int menu_rom_store_keyring(struct menu *m);
/* The user settings (m->user_config) into the ROM as etc/config.user,
 * after a confirmation. 1 written (the caller reboots), 0 not (said why),
 * or a fatal UI error. */
int menu_rom_store_config(struct menu *m);
/* The user config file into the ROM config area, no question asked
 * (ownership); -ENOENT: no area on this board. Sets rom_written. */
int menu_rom_store_user_config(struct menu *m);
/* CONFIG_BOOT_REQ_ROLLBACK / CONFIG_ROLLBACK_COUNTER (0 = none or bad). */
void menu_rollback_requirement(const struct menu *m, bool *ret_required, uint32_t *ret_counter);
/* PCR 7 of the next boot from the ROM config area as it is now (romcfg
 * prediction from the base init saved). -ENOENT: no ROM area or no base
 * (PCR 7 will be as it is now). */
int menu_next_pcr7(struct menu *m, uint8_t ret[32]);
/* GPG options: add the public keys of a file to the ROM keyring, or
 * replace it with them, and write the ROM. 1 written (the caller reboots),
 * 0 not (said why), or a fatal UI error. */
int menu_gpg_rom_keys(struct menu *m, bool replace);
/* The same with the public key(s) text (from path: named in the messages;
 * read_error: reading it failed, said so). */
int menu_gpg_rom_keys_text(struct menu *m, bool replace, const char *path, const char *text,
			   size_t len, int read_error);
/* The keys of the ROM keyring, as a text box. */
enum flow_outcome menu_gpg_list_keys(struct menu *m);
/* Offer an encrypted backup of the new secret key fpr (protected by
 * keypass) to a directory or block device (to_card: before its subkeys
 * move to the owner's OpenPGP card). 1 a checked backup was written, 0
 * none, or a fatal UI error. */
int menu_gpg_backup(struct menu *m, const char *fpr, const struct secret *keypass,
		    bool to_card);
/* A USB drive partition (vfat, exfat, ext2/3/4 only) mounted nosuid,nodev,
 * noexec on a new /tmp directory (*ret_mnt). */
int menu_mount_device(const char *dev, char **ret_mnt);
/* A directory (a mounted USB drive) or a block device, mounted for this,
 * asked with prompt (CONFIG_GPG_BACKUP_DIR suggested): 0 and *ret_dir
 * (*ret_mnt when mounted here: menu_usb_done(*ret_mnt) after), -ECANCELED
 * (told), a UI error. */
int menu_usb_dir(struct ui *ui, const struct config *cfg, const char *title, const char *prompt,
		 char **ret_dir, char **ret_mnt);
void menu_usb_done(const char *mnt);
/* The Flash menu's ROM file (flow/flash_rom.c): chosen on a removable disk
 * and read once (a .zip package checked against its sha256sum.txt). 0 and
 * the bytes (caller frees) and its name, -ECANCELED, a UI error. */
int menu_flash_choose_rom(struct menu *m, uint8_t **ret, size_t *ret_len, char **ret_name);

/* Shared by the menu's files (src/cmd/menu.c and src/flow/). The flows
 * return an outcome (flow/flow.h) that the menu's state machine acts on:
 * FLOW_BACK the screen again; FLOW_DONE the caller goes on (menu_finish:
 * booted, powered off, m->exit_code set; menu_verified_or_report and
 * menu_integrity_report_screen: /boot verified); FLOW_REBOOT;
 * FLOW_RECOVERY (menu_go_recovery: m->recovery_why set); FLOW_UI_GONE. */
enum flow_outcome menu_finish(struct menu *m, int code);
int menu_set_setting(struct menu *m, const char *key, const char *value);
void menu_unavailable(struct menu *m, const char *what, const char *issue);
enum flow_outcome menu_go_recovery(struct menu *m, const char *why);
int menu_view(struct menu *m, bool verified, struct boot_view **ret);
int menu_keyring_count(const char *home);
enum flow_outcome menu_power_off_how(struct menu *m, int how);
void menu_forget_signed(struct menu *m);
int menu_choose_entry(struct menu *m, enum ui_bg bg, const char *title, const char *text,
			const struct boot_entries *l, size_t dflt);
void menu_utc_now(char date[64]);
void menu_refresh_status(struct menu *m);
/* flow/hotp.c: the HOTP check (status word in m->hotp; prompts and
 * failure menus); 0 or a fatal UI error. */
enum flow_outcome menu_update_hotp(struct menu *m);
/* Refresh: the TOTP, then the HOTP check (the reference's update_totp &&
 * update_hotp), from a clean screen state. */
enum flow_outcome menu_refresh_attestation(struct menu *m);
/* The HOTP secret key into the dongle after a new TOTP secret (PIN asked,
 * counter file 2); 0 (outcome told) or a fatal UI error. */
int menu_hotp_enrol(struct menu *m, const struct secret *key);
bool menu_hotp_enabled(const struct menu *m);
/* heads-dongle-test (device models linked in): --test-model is accepted. */
bool menu_hotp_test_build(void);
int menu_seal_totp_with(struct menu *m, struct tpm *t, const struct secret *owner);
/* The owner passphrase asked (into *owner, kept for a DUK reseal after),
 * the TPM opened, menu_seal_totp_with(). */
int menu_seal_totp_asked(struct menu *m, struct secret **owner);
enum flow_outcome menu_update_totp(struct menu *m);
int menu_compute_totp(struct menu *m);
/* The same with a TPM context the caller holds (NULL: opens its own). A TPM
 * 1.2's /dev/tpm0 opens once: a flow that holds it (the DUK unlock) must
 * compute the TOTP through its own context. */
int menu_compute_totp_with(struct menu *m, struct tpm *held);
enum flow_outcome menu_after_rom_write(struct menu *m);
enum flow_outcome menu_generate_totp(struct menu *m, const struct secret *owner_in);
enum flow_outcome menu_reset_tpm(struct menu *m);
enum flow_outcome menu_ownership(struct menu *m, bool clean_boot);
enum flow_outcome menu_update_checksums(struct menu *m);
enum flow_outcome menu_integrity_report_screen(struct menu *m);
/* flow/dongle.c (issue 16): the integrity report's dongle section. */
struct card_info;
enum card_rom_match;
int menu_dongle_verdict(struct menu *m, struct card_info *ci, enum card_rom_match *ret);
char *menu_dongle_line(const struct card_info *ci, enum card_rom_match v);
/* NOT PROVISIONED / NOT ROM-TRUSTED: i (when /boot does not verify), r
 * (NOT ROM-TRUSTED: the dongle's public key replaces the ROM keyring), o
 * OEM reset, c continue (FLOW_DONE when boot_ok). */
enum flow_outcome menu_dongle_followup(struct menu *m, bool boot_ok, const struct card_info *ci,
				       enum card_rom_match v, const char *title, const char *text,
				       enum flow_outcome (*investigate)(struct menu *m, void *ud),
				       void *ud);
/* GPG options g (keys generated on the dongle) and p (public key to USB). */
enum flow_outcome menu_gpg_card_generate(struct menu *m);
enum flow_outcome menu_gpg_export_pubkey(struct menu *m);
int menu_save_default_signed(struct menu *m, struct boot_view *view,
			       enum integrity_sign_mode mode, const struct boot_entry *e,
			       unsigned index1, const struct secret *owner, const char *key,
			       bool new_counter, uint32_t *ret_counter);
/* The integrity report as text (caller frees). */
char *menu_report_text(struct menu *m, const struct integrity_report *rep);
int menu_run_integrity(struct menu *m, struct integrity_report *rep);
enum flow_outcome menu_investigate(struct menu *m, const struct integrity_report *rep);
int menu_sign_boot_with(struct menu *m, enum integrity_sign_mode mode,
			  const struct secret *owner, const char *key,
			  const struct integrity_file *extra, size_t n_extra, bool new_counter,
			  uint32_t *ret_counter);
enum flow_outcome menu_default_boot(struct menu *m);
enum flow_outcome menu_verified_or_report(struct menu *m, bool for_default);
enum flow_outcome menu_force_unsafe_boot(struct menu *m);
enum flow_outcome menu_boot_menu(struct menu *m, bool forced);
enum flow_outcome menu_gpg_key_check(struct menu *m);
bool menu_boot_populated(const struct menu *m);
enum flow_outcome menu_preflight_menu(struct menu *m);
enum flow_outcome menu_no_boot_menu(struct menu *m);
/* flow/usb.c: USB boot (ISO file, dd-written ISO, USB disk with /boot). */
enum flow_outcome menu_usb_boot(struct menu *m);

/* flow/flash.c: Options -> f, the Flash / Update BIOS menu: f keeps the
 * owner's files (and reseals the TOTP/HOTP and the DUK to the new
 * firmware's predicted PCRs), c resets them. */
enum flow_outcome menu_flash_keep(struct menu *m);
enum flow_outcome menu_flash_reset(struct menu *m);

/* flow/config.c: the Config Management items of issue 20. The keys this
 * file handles (menu_config_item), one outcome each. */
#define MENU_CONFIG_KEYS "LPArRDB"
enum flow_outcome menu_config_item(struct menu *m, char key);
/* Config -> L: Restricted Boot on (GPG challenge, then saved to the ROM
 * through the usual save) or off (GPG challenge, TOTP/HOTP erased, ROM
 * written, reboot). */
enum flow_outcome menu_config_restricted_boot(struct menu *m);
/* Lines for the Config Management text (caller frees). */
char *menu_config_status(const struct menu *m);

/* flow/basic.c: Basic mode (CONFIG_BASIC, legacy CONFIG_PUREBOOT_BASIC). */
bool menu_basic(const struct menu *m);
/* Start-up in Basic mode: no checks, the auto-boot countdown. */
enum flow_outcome menu_basic_startup(struct menu *m);
/* Main menu d in Basic mode: the first entry unverified (PCR 4 "unsafe"),
 * or the OS boot menu with CONFIG_BASIC_NO_AUTOMATIC_DEFAULT=y. */
enum flow_outcome menu_basic_default_boot(struct menu *m);
/* Boot Options m in Basic mode: the OS boot menu, unverified. */
enum flow_outcome menu_basic_boot_menu(struct menu *m);
/* flow/roothash.c: Options -> R (check / update the signed root hashes of
 * CONFIG_ROOT_DEV), Config -> R / D (dirs: CONFIG_ROOT_DIRLIST). */
enum flow_outcome menu_root_hashes(struct menu *m);
enum flow_outcome menu_config_root(struct menu *m, bool dirs);
/* The default boot's root check (CONFIG_ROOT_CHECK_AT_BOOT=y; /boot
 * already verified): FLOW_DONE the root matches its signed hashes (or no
 * check configured), else the boot is refused (said why). */
enum flow_outcome menu_root_check_at_boot(struct menu *m);
/* flow/systime.c: Options -> h, set the clock and the RTC (UTC; a dry run
 * prints the time instead); the start-up prompt when the clock is before
 * this firmware's date. */
enum flow_outcome menu_change_time(struct menu *m);
enum flow_outcome menu_time_check(struct menu *m);
/* flow/boot.c: one entry through the handover (pcr4: PCR 4's extension,
 * NULL already extended). */
enum flow_outcome menu_kexec_entry(struct menu *m, struct boot_view *view,
				   const struct boot_entry *e, const char *pcr4);

#endif
