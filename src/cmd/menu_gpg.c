/* menu_gpg.c - the owner's GPG key in the ownership flow (part of `heads
 * menu`): the public key into the ROM keyring (the board's ROM config area,
 * romcfg.h; the reference flashes heads/initrd/.gnupg into CBFS), the PCR 7
 * value the next boot will have after that write, and the encrypted backup
 * of the secret key (reference 7.4: in-memory key generation with a
 * backup). Reference heads-behaviour.md 7.1, 7.4. */
#include "cmd/cmd.h"
#include "cmd/menu.h"
#include "fs.h"
#include "log.h"
#include "romcfg.h"
#include "util.h"

#include <blkid/blkid.h>
#include <errno.h>
#include <fcntl.h>
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

int menu_rom_store_keyring(struct menu *m)
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
		r = romcfg_set_keyring(&c, m->keyring);
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
	log_info("%s: ROM keyring written (%s)", dev, m->keyring);
	return 1;
}

int menu_next_pcr7(struct menu *m, uint8_t ret[32])
{
	_cleanup_free_ char *dev = NULL;
	struct romcfg c = {.slot = -1};
	int r = rom_device(m, &dev);

	if (r == 0)
		r = romcfg_read(dev, &c);
	if (r == 0)
		r = romcfg_predict_pcr7(&c, ret);
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

	gpgme_check_version(NULL);
	if (gpgme_new(&ctx))
		return NULL;
	if (gpgme_ctx_set_engine_info(ctx, GPGME_PROTOCOL_OpenPGP, NULL, home) ||
	    gpgme_set_pinentry_mode(ctx, GPGME_PINENTRY_MODE_LOOPBACK)) {
		gpgme_release(ctx);
		return NULL;
	}
	gpgme_set_armor(ctx, 1);
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
static int mount_device(const char *dev, char **ret_mnt)
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
		if (!mkdtemp(tmpl)) {
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
			const struct secret *backup_pass, const struct secret *plain, char **ret_path)
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

int menu_gpg_backup(struct menu *m, const char *fpr, const struct secret *keypass)
{
	_cleanup_secret_ struct secret *bpass = NULL, *enc = NULL, *plain = NULL;
	_cleanup_free_ char *where = NULL, *pub = NULL, *mnt = NULL, *written = NULL;
	const char *dflt = config_get(&m->cfg, "CONFIG_GPG_BACKUP_DIR");
	size_t pub_len = 0;
	struct stat st;
	int r;

	r = ui_yesno(m->ui, UI_BG_NORMAL, "Encrypted GPG key backup",
		     "The signing key was generated in memory: it is lost at power off.\n\n"
		     "Write an encrypted backup of it (to a USB drive), to sign /boot again "
		     "later or on another machine?");
	if (r != 1)
		return ui_gone(r) ? r : 0;
	for (;;) {
		free(where);
		where = NULL;
		r = ui_input(m->ui, "Backup location",
			     "Directory (a mounted USB drive) or block device (a USB partition) "
			     "for the backup", dflt, &where);
		if (r < 0)
			return ui_gone(r) ? r : 0;
		if (!*where && dflt) { /* Enter on the suggestion */
			free(where);
			where = xstrdup(dflt);
		}
		if (stat(where, &st) == 0 && (S_ISDIR(st.st_mode) || S_ISBLK(st.st_mode)))
			break;
		r = ui_msgbox(m->ui, UI_BG_WARNING, "Backup location",
			      "That is neither a directory nor a block device.");
		if (ui_gone(r))
			return r;
	}
	r = menu_ask_new_passphrase(m, "Backup passphrase", "backup passphrase",
				    BACKUP_PASS_MIN, BACKUP_PASS_MAX, &bpass);
	if (r < 0)
		return ui_gone(r) ? r : 0;
	ui_progress(m->ui, "GPG key backup", "Exporting and encrypting the key", 0);
	r = make_backup(m->gnupghome, fpr, keypass, bpass, &enc, &plain, &pub, &pub_len);
	if (r == 0 && S_ISBLK(st.st_mode))
		r = mount_device(where, &mnt);
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
	ui_progress_end(m->ui);
	if (r < 0) {
		_cleanup_free_ char *t = xasprintf("The key backup to %s failed: %s (details in "
						   "the log). There is NO backup of the key.",
						   where, strerror(-r));
		r = ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: GPG key backup", t);
		return ui_gone(r) ? r : 0;
	}
	log_info("GPG key backup written and checked: %s", written);
	{
		_cleanup_free_ char *t = xasprintf(
			"Encrypted backup of key %s written to %s%s%s and checked (it decrypts to "
			"the key).\n\nKeep the drive and the backup passphrase apart.", fpr,
			mnt ? where : written, mnt ? ", file " : "",
			mnt ? strrchr(written, '/') + 1 : "");
		r = ui_msgbox(m->ui, UI_BG_NORMAL, "GPG key backup", t);
	}
	return ui_gone(r) ? r : 0;
}
