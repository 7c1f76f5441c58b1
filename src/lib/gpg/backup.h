/* backup.h - signing from the encrypted backup of the owner's key, when no
 * card is present (issue 16; reference: "use the backup thumb drive").
 *
 * The backup is what ownership writes (src/cmd/menu_gpg.c): the secret key
 * export (still protected by the key's own passphrase) encrypted with the
 * backup passphrase (OpenPGP symmetric). gpg_backup_open() reads it once
 * (bounded: 1 MiB), decrypts it into locked memory (struct secret), and
 * imports it into a fresh private GnuPG home (0700, under $TMPDIR or /tmp:
 * tmpfs in the payload) whose gpg-agent then holds the key for one signing;
 * the plaintext export is wiped right after the import. The caller signs
 * with that home and the returned signing subkey, then gpg_backup_close()
 * stops that agent (card_release: KILLAGENT) and removes the home. The key
 * on disk in that home is only ever the passphrase-protected form.
 *
 * Returns 0 or a negative errno (logged): -EACCES wrong backup passphrase,
 * -EBADMSG not an encrypted key backup, -ENOKEY no secret signing key in it.
 */
#ifndef HEADS_GPG_BACKUP_H
#define HEADS_GPG_BACKUP_H

#include "secret.h"

#define GPG_BACKUP_MAX (1024 * 1024)

/* Write the backup of the secret key fpr of home (its passphrase keypass)
 * to path (atomic, 0600): the armoured secret export, encrypted with
 * backup_pass; then read path back, decrypt it and compare it with the
 * export (-EBADMSG if it does not restore). Before keytocard: the card is
 * the only other copy. */
int gpg_backup_write(const char *home, const char *fpr, const struct secret *keypass,
		     const struct secret *backup_pass, const char *path);

int gpg_backup_open(const char *path, const struct secret *backup_pass, char **ret_home,
		    char ret_fpr[41]);
void gpg_backup_close(char *home); /* frees home; NULL is a no-op */

#endif
