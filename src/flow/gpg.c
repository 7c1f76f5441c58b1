/* menu_gpg.c - the owner's GPG key in the ownership flow (part of `heads
 * menu`): the public key into the ROM keyring (the board's ROM config area,
 * romcfg.h; the reference flashes heads/initrd/.gnupg into CBFS), the PCR 7
 * value the next boot will have after that write, and the encrypted backup
 * of the secret key (reference 7.4: in-memory key generation with a
 * backup). Reference heads-behaviour.md 7.1, 7.4. */
#include "cmd/cmd.h"
#include "gpg/keyring.h"
#include "flow/menu.h"
#include "fs.h"
#include "log.h"
#include "romcfg.h"
#include "util.h"

#include <blkid/blkid.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <gpgme.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#define BACKUP_PASS_MIN 8
#define BACKUP_PASS_MAX 256
#define BACKUP_MAX (4u * 1024 * 1024) /* an exported secret key is a few KiB */

/* --- the ROM config area ------------------------------------------------ */

/* The ROM config area: --rom, else the board's (found by its serial).
 * -ENOENT: this board has none. */
static int rom_device(const struct menu *m, char **ret)
{
	if (m->rom) {
		*ret = xstrdup(m->rom);
		return 0;
	}
	return romcfg_find(NULL, NULL, ret);
}

/* The keyring files of home into the ROM config area (see
 * menu_rom_store_keyring); with_config: the user config too (ownership:
 * CONFIG_TPM_PRIMARY_NAME), in the same ROM write. */
static int rom_store_keyring_from(struct menu *m, const char *home, bool with_config)
{
	_cleanup_free_ char *dev = NULL;
	struct romcfg c = {.slot = -1};
	int r = rom_device(m, &dev);

	if (r == -ENOENT) {
		_cleanup_free_ char *t = xasprintf(
			"This board has no ROM configuration area: the new public key is only "
			"in %s, in RAM, until the next reboot.\n\nAfter a reboot the keyring is "
			"empty again and /boot can no longer be verified: add the key to the "
			"ROM (reflash the firmware with it) before rebooting.", m->keyring);
		log_warn("no ROM config area: the public key is not persisted");
		r = ui_msgbox(m->ui, UI_BG_WARNING, "Public key NOT stored in the ROM", t);
		return ui_gone(r) ? r : 0;
	}
	if (r == 0)
		r = romcfg_read(dev, &c);
	if (r == 0)
		r = romcfg_set_keyring(&c, home);
	if (r == 0 && with_config) {
		_cleanup_free_ char *text = NULL;
		size_t len = 0;
		int q = fs_read_file(m->user_config, 64 * 1024, &text, &len);
		if (q == 0)
			r = romcfg_set(&c, "etc/config.user", text, len);
		else if (q != -ENOENT)
			r = q;
	}
	if (r == 0)
		r = romcfg_write(dev, &c);
	romcfg_free(&c);
	if (r < 0) {
		_cleanup_free_ char *t = xasprintf(
			"Writing the public key into the ROM configuration area %s failed: %s.\n\n"
			"The key is only in %s until the next reboot.", dev ? dev : "?",
			strerror(-r), m->keyring);
		log_error_errno(r, "%s: storing the ROM keyring", dev ? dev : "ROM");
		r = ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: ROM keyring", t);
		return ui_gone(r) ? r : -EIO;
	}
	log_info("%s: ROM keyring written (%s)", dev, home);
	return 1;
}

int menu_rom_store_keyring(struct menu *m)
{
	return rom_store_keyring_from(m, m->keyring, true);
}

/* text as etc/config.user into the ROM config area dev (the other files
 * kept). */
static int write_user_config(const char *dev, const char *text, size_t len)
{
	struct romcfg c = {.slot = -1};
	int r = romcfg_read(dev, &c);

	if (r == 0)
		r = romcfg_set(&c, "etc/config.user", text, len);
	if (r == 0)
		r = romcfg_write(dev, &c);
	romcfg_free(&c);
	return r;
}

int menu_rom_store_user_config(struct menu *m)
{
	_cleanup_free_ char *dev = NULL, *text = NULL;
	size_t len = 0;
	int r = rom_device(m, &dev);

	if (r < 0)
		return r;
	r = fs_read_file(m->user_config, 64 * 1024, &text, &len);
	if (r == 0)
		r = write_user_config(dev, text, len);
	if (r < 0)
		return log_error_errno(r, "%s: storing etc/config.user", dev);
	m->rom_written = true;
	log_info("%s: configuration written (%s)", dev, m->user_config);
	return 0;
}

int menu_rom_store_config(struct menu *m)
{
	_cleanup_free_ char *dev = NULL, *text = NULL;
	size_t len = 0;
	int r = rom_device(m, &dev);

	if (r == -ENOENT) {
		r = ui_msgbox(m->ui, UI_BG_ERROR, "Save configuration",
			      "This board has no ROM configuration area: the settings stay in "
			      "RAM until the next reboot.");
		return ui_gone(r) ? r : 0;
	}
	r = fs_read_file(m->user_config, 64 * 1024, &text, &len);
	if (r == -ENOENT) {
		r = ui_msgbox(m->ui, UI_BG_NORMAL, "Save configuration",
			      "No setting was changed: nothing to save.");
		return ui_gone(r) ? r : 0;
	}
	if ((r = menu_yes(m, UI_BG_WARNING, "Save configuration",
			  "Write the settings into the ROM? The ROM is measured (PCR 7): the "
			  "TOTP/HOTP secret and the Disk Unlock Key must then be resealed "
			  "(offered next) or regenerated after the reboot.")) != 1)
		return r;
	r = write_user_config(dev, text, len);
	if (r < 0) {
		_cleanup_free_ char *t = xasprintf("Writing the settings into %s failed: %s.", dev,
						   strerror(-r));
		log_error_errno(r, "%s: storing etc/config.user", dev);
		r = ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: Save configuration", t);
		return ui_gone(r) ? r : 0;
	}
	m->rom_written = true;
	log_info("%s: configuration written (%s)", dev, m->user_config);
	r = ui_msgbox(m->ui, UI_BG_NORMAL, "Save configuration",
		      "The settings were written into the ROM. The machine reboots now.");
	return ui_gone(r) ? r : 1;
}

int menu_next_pcr7(struct menu *m, uint8_t ret[32])
{
	_cleanup_free_ char *dev = NULL;
	struct romcfg c = {.slot = -1};
	int r = rom_device(m, &dev);

	if (r == 0)
		r = romcfg_read(dev, &c);
	if (r == 0)
		r = romcfg_predict_pcr7(&c, tpm_tcti_bank(m->tcti), ret);
	romcfg_free(&c);
	if (r == -ENOENT)
		return r; /* no ROM area or no saved base: PCR 7 stays as it is */
	if (r < 0)
		return log_error_errno(r, "predicting PCR 7 of the next boot");
	return 0;
}

/* --- encrypted backup of the secret key --------------------------------- */

gpgme_error_t menu_gpgme_pass_cb(void *hook, const char *uid_hint, const char *info,
				 int prev_bad, int fd)
{
	struct menu_gpgme_pass *p = hook;
	(void)uid_hint;
	(void)info;
	if (prev_bad)
		return gpg_error(GPG_ERR_BAD_PASSPHRASE);
	if (write_full(fd, p->pass->data, p->pass->len) < 0 || write_full(fd, "\n", 1) < 0)
		return gpg_error(GPG_ERR_CANCELED);
	return 0;
}

static gpgme_ctx_t new_ctx(const char *home, struct menu_gpgme_pass *cb)
{
	gpgme_ctx_t ctx = NULL;

	if (gpg_context(home, GPG_CTX_LOOPBACK | GPG_CTX_ARMOR, &ctx) < 0)
		return NULL;
	gpgme_set_passphrase_cb(ctx, menu_gpgme_pass_cb, cb);
	return ctx;
}

/* gpgme memory data -> a secret (wiped); the data is released. */
static struct secret *take_data(gpgme_data_t d)
{
	size_t n = 0;
	char *p = gpgme_data_release_and_get_mem(d, &n);
	struct secret *s = p && n ? secret_dup(p, n) : NULL;
	if (p) {
		explicit_bzero(p, n);
		gpgme_free(p);
	}
	return s;
}

/* The secret key fpr of home, exported (still protected by its own
 * passphrase), then encrypted with the backup passphrase (OpenPGP
 * symmetric, armored). Also the armored public key. */
static int make_backup(const char *home, const char *fpr, const struct secret *keypass,
		       const struct secret *backup_pass, struct secret **ret_enc,
		       struct secret **ret_plain, char **ret_pub, size_t *ret_pub_len)
{
	struct menu_gpgme_pass kcb = {.pass = keypass}, bcb = {.pass = backup_pass};
	gpgme_ctx_t ctx = NULL;
	gpgme_data_t sec = NULL, enc = NULL, pub = NULL;
	_cleanup_secret_ struct secret *plain = NULL;
	gpgme_error_t e;
	int r = -EIO;

	if (!(ctx = new_ctx(home, &kcb)))
		return -EIO;
	if ((e = gpgme_data_new(&sec)) || (e = gpgme_op_export(ctx, fpr, GPGME_EXPORT_MODE_SECRET,
							       sec))) {
		log_error("exporting the secret key %s: %s", fpr, gpgme_strerror(e));
		goto out;
	}
	plain = take_data(sec);
	sec = NULL;
	if (!plain) {
		log_error("exporting the secret key %s: nothing exported", fpr);
		goto out;
	}
	if ((e = gpgme_data_new(&pub)) || (e = gpgme_op_export(ctx, fpr, 0, pub))) {
		log_error("exporting the public key %s: %s", fpr, gpgme_strerror(e));
		goto out;
	}
	gpgme_release(ctx);
	if (!(ctx = new_ctx(home, &bcb)))
		goto out;
	if ((e = gpgme_data_new_from_mem(&sec, (const char *)plain->data, plain->len, 0)) ||
	    (e = gpgme_data_new(&enc)) ||
	    (e = gpgme_op_encrypt(ctx, NULL, GPGME_ENCRYPT_SYMMETRIC | GPGME_ENCRYPT_NO_COMPRESS,
				  sec, enc))) {
		log_error("encrypting the key backup: %s", gpgme_strerror(e));
		goto out;
	}
	if (!(*ret_enc = take_data(enc))) {
		enc = NULL;
		goto out;
	}
	enc = NULL;
	r = 0;
out:
	gpgme_data_release(sec);
	gpgme_data_release(enc);
	if (r == 0) {
		size_t n = 0;
		char *p = gpgme_data_release_and_get_mem(pub, &n);
		*ret_pub = p ? xstrndup(p, n) : xstrdup("");
		*ret_pub_len = n;
		gpgme_free(p);
		*ret_plain = TAKE_PTR(plain);
	} else {
		gpgme_data_release(pub);
	}
	gpgme_release(ctx);
	return r;
}

/* Decrypt the written backup with the backup passphrase and compare it
 * with the export: the file restores. */
static int check_backup(const char *home, const char *path, const struct secret *backup_pass,
			const struct secret *plain)
{
	struct menu_gpgme_pass bcb = {.pass = backup_pass};
	_cleanup_free_ char *text = NULL;
	_cleanup_secret_ struct secret *back = NULL;
	gpgme_ctx_t ctx = new_ctx(home, &bcb);
	gpgme_data_t in = NULL, out = NULL;
	gpgme_error_t e;
	size_t len = 0;
	int r = fs_read_file(path, BACKUP_MAX, &text, &len);

	if (!ctx)
		return -EIO;
	if (r == 0 && ((e = gpgme_data_new_from_mem(&in, text, len, 0)) ||
		       (e = gpgme_data_new(&out)) || (e = gpgme_op_decrypt(ctx, in, out)))) {
		log_error("%s: decrypting the backup: %s", path, gpgme_strerror(e));
		r = -EBADMSG;
	}
	if (r == 0) {
		back = take_data(out);
		out = NULL;
		r = back && secret_equal(back, plain) ? 0 : -EBADMSG;
		if (r < 0)
			log_error("%s: the backup does not decrypt to the exported key", path);
	}
	gpgme_data_release(in);
	gpgme_data_release(out);
	gpgme_release(ctx);
	return r;
}

/* A block device: mount it (its filesystem as libblkid sees it) on a
 * private directory. Returns the mount point in *ret_mnt. */
int menu_mount_device(const char *dev, char **ret_mnt)
{
	const char *type = NULL;
	blkid_probe pr = blkid_new_probe_from_filename(dev);
	char tmpl[] = "/tmp/heads-backup-XXXXXX";
	int r = -EINVAL;

	if (!pr)
		return log_error_errno(-errno ? -errno : -EIO, "%s: cannot probe", dev);
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE);
	if (blkid_do_safeprobe(pr) == 0 && blkid_probe_lookup_value(pr, "TYPE", &type, NULL) == 0 &&
	    type) {
		/* A USB drive's filesystem: only the usual ones reach the kernel's
		 * parsers (a crafted image of an exotic one is attack surface). */
		if (!streq(type, "vfat") && !streq(type, "exfat") && !streq(type, "ext2") &&
		    !streq(type, "ext3") && !streq(type, "ext4")) {
			log_error("%s: %s filesystem: only vfat, exfat and ext2/3/4 are mounted",
				  dev, type);
			r = -EMEDIUMTYPE;
		} else if (!mkdtemp(tmpl)) {
			r = -errno;
		} else if (mount(dev, tmpl, type, MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
			r = log_error_errno(-errno, "%s: mounting (%s)", dev, type);
			rmdir(tmpl);
		} else {
			*ret_mnt = xstrdup(tmpl);
			r = 0;
		}
	} else {
		log_error("%s: no filesystem found", dev);
	}
	blkid_free_probe(pr);
	return r;
}

static int write_backup(struct menu *m, const char *dir, const char *fpr,
			const struct secret *enc, const char *pub, size_t pub_len,
			const struct secret *backup_pass, const struct secret *plain,
			char **ret_path)
{
	_cleanup_free_ char *sec_path = xasprintf("%s/heads-key-%s.sec.asc", dir, fpr);
	_cleanup_free_ char *pub_path = xasprintf("%s/heads-key-%s.pub.asc", dir, fpr);
	int r = fs_write_atomic(sec_path, enc->data, enc->len, 0600);

	if (r == 0)
		r = fs_write_atomic(pub_path, pub, pub_len, 0644);
	if (r < 0)
		return log_error_errno(r, "%s: writing the key backup", dir);
	r = check_backup(m->gnupghome, sec_path, backup_pass, plain);
	if (r == 0)
		*ret_path = TAKE_PTR(sec_path);
	return r;
}

/* Where: a directory (a mounted USB drive) or a block device (mounted for
 * this), asked with prompt (CONFIG_GPG_BACKUP_DIR suggested). 0 and
 * *ret_dir (*ret_mnt when mounted here: menu_usb_done() after), -ECANCELED,
 * a UI error. */
int menu_usb_dir(struct ui *ui, const struct config *cfg, const char *title, const char *prompt,
		 char **ret_dir, char **ret_mnt)
{
	const char *dflt = cfg ? config_get(cfg, "CONFIG_GPG_BACKUP_DIR") : NULL;
	_cleanup_free_ char *where = NULL;
	struct stat st;
	int r = ui_input(ui, title, prompt, dflt, &where);

	*ret_mnt = NULL;
	if (r < 0)
		return r;
	if (!*where && dflt) {
		free(where);
		where = xstrdup(dflt);
	}
	if (stat(where, &st) < 0 || !(S_ISDIR(st.st_mode) || S_ISBLK(st.st_mode))) {
		r = ui_msgbox(ui, UI_BG_WARNING, title,
			      "That is neither a directory nor a block device.");
		return ui_gone(r) ? r : -ECANCELED;
	}
	if (S_ISBLK(st.st_mode)) {
		r = menu_mount_device(where, ret_mnt);
		if (r < 0) {
			_cleanup_free_ char *t = xasprintf("%s cannot be mounted: %s.", where,
							   strerror(-r));
			r = ui_msgbox(ui, UI_BG_ERROR, title, t);
			return ui_gone(r) ? r : -ECANCELED;
		}
		*ret_dir = xstrdup(*ret_mnt);
		return 0;
	}
	*ret_dir = TAKE_PTR(where);
	return 0;
}

void menu_usb_done(const char *mnt)
{
	if (!mnt)
		return;
	sync();
	if (umount(mnt) < 0)
		log_error_errno(-errno, "unmounting %s", mnt);
	else
		rmdir(mnt);
}

/* Ask where the backup goes: an existing directory or block device.
 * 0 and *ret_where / *ret_st, -ECANCELED, or a fatal UI error. */
static int ask_location(struct menu *m, char **ret_where, struct stat *ret_st)
{
	const char *dflt = config_get(&m->cfg, "CONFIG_GPG_BACKUP_DIR");

	for (;;) {
		_cleanup_free_ char *where = NULL;
		int r = ui_input(m->ui, "Backup location",
				 "Directory (a mounted USB drive) or block device (a USB "
				 "partition) for the backup", dflt, &where);
		if (r < 0)
			return r;
		if (!*where && dflt) { /* Enter on the suggestion */
			free(where);
			where = xstrdup(dflt);
		}
		if (stat(where, ret_st) == 0 &&
		    (S_ISDIR(ret_st->st_mode) || S_ISBLK(ret_st->st_mode))) {
			*ret_where = TAKE_PTR(where);
			return 0;
		}
		r = ui_msgbox(m->ui, UI_BG_WARNING, "Backup location",
			      "That is neither a directory nor a block device.");
		if (ui_gone(r))
			return r;
	}
}

/* Write the backup to where (a directory, or a block device mounted for
 * it). 0 and the message for the user in *ret_done, or -errno. */
static int backup_to(struct menu *m, const char *where, const struct stat *st, const char *fpr,
		     const struct secret *enc, const char *pub, size_t pub_len,
		     const struct secret *bpass, const struct secret *plain, char **ret_done)
{
	_cleanup_free_ char *mnt = NULL, *written = NULL;
	int r = S_ISBLK(st->st_mode) ? menu_mount_device(where, &mnt) : 0;

	if (r == 0)
		r = write_backup(m, mnt ? mnt : where, fpr, enc, pub, pub_len, bpass, plain,
				 &written);
	if (mnt) {
		sync();
		if (umount(mnt) < 0)
			log_error_errno(-errno, "%s: unmounting %s", where, mnt);
		else
			rmdir(mnt);
	}
	if (r < 0)
		return r;
	log_info("GPG key backup written and checked: %s on %s", written, where);
	*ret_done = xasprintf("Encrypted backup of key %s written to %s%s%s and checked (it "
			      "decrypts to the key).\n\nKeep the drive and the backup passphrase "
			      "apart.", fpr, mnt ? where : written, mnt ? ", file " : "",
			      mnt ? strrchr(written, '/') + 1 : "");
	return 0;
}

int menu_gpg_backup(struct menu *m, const char *fpr, const struct secret *keypass,
		    bool to_card)
{
	_cleanup_secret_ struct secret *bpass = NULL, *enc = NULL, *plain = NULL;
	_cleanup_free_ char *pub = NULL;
	size_t pub_len = 0;
	int r;

	if ((r = menu_yes(m, UI_BG_NORMAL, "Encrypted GPG key backup",
			  to_card ?
			  "The keys were generated in memory and move to the USB security "
			  "dongle next: after that the dongle holds the only copy.\n\n"
			  "Write an encrypted backup of them first (to a USB drive), to sign "
			  "/boot without the dongle or to provision a new one?" :
			  "The signing key was generated in memory: it is lost at power off.\n\n"
			  "Write an encrypted backup of it (to a USB drive), to sign /boot again "
			  "later or on another machine?")) != 1)
		return r;
	r = menu_ask_new_passphrase(m, "Backup passphrase", "backup passphrase",
				    BACKUP_PASS_MIN, BACKUP_PASS_MAX, &bpass);
	if (r < 0)
		return ui_gone(r) ? r : 0;
	ui_progress(m->ui, "GPG key backup", "Exporting and encrypting the key", 0);
	r = make_backup(m->gnupghome, fpr, keypass, bpass, &enc, &plain, &pub, &pub_len);
	ui_progress_end(m->ui);
	if (r < 0) {
		r = ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: GPG key backup",
			      "Exporting or encrypting the key failed (details in the log). There "
			      "is NO backup of the key.");
		return ui_gone(r) ? r : 0;
	}
	for (;;) {
		_cleanup_free_ char *where = NULL, *done = NULL, *t = NULL;
		struct stat st;

		if ((r = ask_location(m, &where, &st)) < 0)
			return ui_gone(r) ? r : 0;
		ui_progress(m->ui, "GPG key backup", "Writing and checking the backup", 0);
		r = backup_to(m, where, &st, fpr, enc, pub, pub_len, bpass, plain, &done);
		ui_progress_end(m->ui);
		if (r == 0) {
			r = ui_msgbox(m->ui, UI_BG_NORMAL, "GPG key backup", done);
			return ui_gone(r) ? r : 1;
		}
		t = xasprintf("The key backup to %s failed: %s (details in the log). There is "
			      "NO backup of the key yet.\n\nTry another location?", where,
			      strerror(-r));
		if ((r = menu_yes(m, UI_BG_ERROR, "ERROR: GPG key backup", t)) != 1)
			return r;
	}
}

/* --- GPG options: the ROM keyring ----------------------------------------- */

#define KEYFILE_MAX (1024 * 1024)

/* "FPR  uid" lines of the keys in data (or of the keyring home when data
 * is NULL); *ret_secret: some key in data has secret material. Returns the
 * number of keys or -errno. */
static int key_lines(const char *home, gpgme_data_t data, char **ret, bool *ret_secret)
{
	gpgme_ctx_t ctx = NULL;
	gpgme_key_t key;
	gpgme_error_t e;
	char *s = xstrdup("");
	int n = 0;

	/* gpg needs an existing home */
	if (gpg_context(home, data ? GPG_CTX_MKDIR : 0, &ctx) < 0) {
		free(s);
		return -EIO;
	}
	if (ret_secret)
		*ret_secret = false;
	e = data ? gpgme_op_keylist_from_data_start(ctx, data, 0) :
		   gpgme_op_keylist_start(ctx, NULL, 0);
	while (!e && !(e = gpgme_op_keylist_next(ctx, &key))) {
		str_appendf(&s, "%s  %s\n", key->fpr ? key->fpr : "?",
			    key->uids && key->uids->uid ? key->uids->uid : "");
		if (ret_secret && key->secret)
			*ret_secret = true;
		gpgme_key_unref(key);
		n++;
	}
	gpgme_op_keylist_end(ctx);
	gpgme_release(ctx);
	if (gpg_err_code(e) != GPG_ERR_EOF) {
		log_error("listing keys: %s", gpgme_strerror(e));
		free(s);
		return -EBADMSG;
	}
	*ret = s;
	return n;
}

static int import_into(const char *home, const char *text, size_t len)
{
	gpgme_ctx_t ctx = NULL;
	gpgme_data_t d = NULL;
	gpgme_import_result_t res;
	gpgme_error_t e;

	if (gpg_context(home, GPG_CTX_MKDIR, &ctx) < 0)
		return -EIO;
	e = gpgme_data_new_from_mem(&d, text, len, 0);
	if (!e)
		e = gpgme_op_import(ctx, d);
	res = e ? NULL : gpgme_op_import_result(ctx); /* owned by ctx */
	bool ok = res && res->considered > 0 && res->not_imported == 0;
	gpgme_data_release(d);
	gpgme_release(ctx);
	if (!ok) {
		log_error("importing into %s: %s", home, e ? gpgme_strerror(e) : "no key taken");
		return -EBADMSG;
	}
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return (flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 ? -errno : 0;
}

/* May the ROM keyring change (Restricted Boot; a ROM config area to
 * replace)? 1 yes, 0 no (said), <0 the UI is gone. */
static int rom_keys_allowed(struct menu *m, bool replace)
{
	int r;

	if (config_enabled(&m->cfg, "CONFIG_RESTRICTED_BOOT")) {
		r = ui_msgbox(m->ui, UI_BG_ERROR, "Restricted Boot",
			      "Restricted Boot is enabled: the ROM keyring cannot be changed.");
		return ui_gone(r) ? r : 0;
	}
	if (replace) {
		_cleanup_free_ char *dev = NULL;
		if (rom_device(m, &dev) < 0) {
			r = ui_msgbox(m->ui, UI_BG_ERROR, "ROM keyring",
				      "This board has no ROM configuration area: there is no ROM "
				      "keyring to replace.");
			return ui_gone(r) ? r : 0;
		}
	}
	return 1;
}

int menu_gpg_rom_keys(struct menu *m, bool replace)
{
	_cleanup_free_ char *path = NULL, *text = NULL;
	size_t len = 0;
	int r = rom_keys_allowed(m, replace);

	if (r != 1)
		return r;
	r = ui_input(m->ui, replace ? "Replace the ROM keyring" : "Add a key to the ROM keyring",
		     "Public key file (e.g. pubkey.asc on a mounted USB drive)", NULL, &path);
	if (r < 0)
		return ui_gone(r) ? r : 0;
	r = fs_read_file(path, KEYFILE_MAX, &text, &len);
	return menu_gpg_rom_keys_text(m, replace, path, r < 0 ? NULL : text, r < 0 ? 0 : len,
				      r);
}

int menu_gpg_rom_keys_text(struct menu *m, bool replace, const char *path, const char *text,
			   size_t len, int read_error)
{
	_cleanup_free_ char *lines = NULL, *q = NULL;
	char tmp[] = "/tmp/heads-keyring-XXXXXX";
	gpgme_data_t d = NULL;
	bool secret = false, made_tmp = false;
	int r = read_error, n;

	if (r == 0 && (r = rom_keys_allowed(m, replace)) != 1)
		return r;
	gpg_init();
	r = read_error;
	if (r == 0)
		r = gpgme_data_new_from_mem(&d, text, len, 0) ? -ENOMEM : 0;
	n = r < 0 ? r : key_lines(m->keyring, d, &lines, &secret);
	gpgme_data_release(d);
	if (n <= 0 || secret) {
		_cleanup_free_ char *t = xasprintf(
			"%s: %s", path, n < 0 && r < 0 ? strerror(-r) :
			secret ? "it holds a SECRET key: only public keys go into the ROM keyring" :
				 "no OpenPGP public key in it");
		r = ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: public key", t);
		return ui_gone(r) ? r : 0;
	}
	q = xasprintf("%s these keys%s:\n\n%s\nThe ROM is rewritten and the machine reboots. "
		      "The ROM is measured (PCR 7): the TOTP/HOTP secret and the Disk Unlock "
		      "Key must then be resealed (offered next) or regenerated after the "
		      "reboot.\n\nContinue?",
		      replace ? "Replace the ROM keyring with" : "Add to the ROM keyring",
		      replace ? " (every key now in it is removed)" : "", lines);
	if ((r = menu_yes(m, UI_BG_WARNING, "ROM keyring", q)) != 1)
		return r;
	if (replace) {
		if (!mkdtemp(tmp)) {
			log_error_errno(-errno, "mkdtemp");
			return 0;
		}
		made_tmp = true;
	}
	r = import_into(replace ? tmp : m->keyring, text, len);
	if (r == 0)
		r = rom_store_keyring_from(m, replace ? tmp : m->keyring, false);
	else
		r = ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: public key",
			      "Importing the key failed (details in the log).") < 0 ? -EPIPE : 0;
	if (made_tmp)
		nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	if (r <= 0)
		return ui_gone(r) ? r : 0;
	m->rom_written = true;
	log_info("ROM keyring %s: %d key(s) from %s", replace ? "replaced" : "extended", n, path);
	r = ui_msgbox(m->ui, UI_BG_NORMAL, "ROM keyring",
		      "The ROM keyring was written. The machine reboots now.");
	return ui_gone(r) ? r : 1;
}

enum flow_outcome menu_gpg_list_keys(struct menu *m)
{
	_cleanup_free_ char *lines = NULL;
	int n = key_lines(m->keyring, NULL, &lines, NULL);
	_cleanup_free_ char *t = n < 0 ? xasprintf("Cannot list %s.", m->keyring) :
				 xasprintf("%d key(s) in the ROM keyring %s:\n\n%s", n, m->keyring,
					   lines);
	int r = ui_textbox(m->ui, n < 0 ? UI_BG_ERROR : UI_BG_NORMAL, "ROM keyring", t);
	return menu_gone_or_back(r);
}
