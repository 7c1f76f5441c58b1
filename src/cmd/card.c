/* heads card - the owner's OpenPGP card (USB security dongle, issue 16):
 * status, check-rom-key, sign-boot, generate, factory-reset, passwd, name,
 * keytocard. The card is reached only through GnuPG (src/lib/gpg/card.h);
 * this file is the command surface. */
#include "cmd/cmd.h"
#include "gpg/backup.h"
#include "gpg/card.h"
#include "log.h"
#include "secret.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PIN_MAX 256

enum {
	CARD_EXIT_NO_CARD = 3,
	CARD_EXIT_NOT_PROVISIONED = 4,
	CARD_EXIT_NOT_TRUSTED = 5,
	CARD_EXIT_BLOCKED = 6,
};

static const char usage[] =
	"Usage: heads card status        [--gnupghome DIR] [--keyring DIR]\n"
	"       heads card check-rom-key --keyring DIR [--gnupghome DIR]\n"
	"       heads card sign-boot     --keyring DIR [--gnupghome DIR] -- BOOT-SIGN-OPTIONS\n"
	"       heads card generate      [--algo A] --name N --email E [--comment C]\n"
	"                                [--pin-fd FD] [--admin-fd FD] [--gnupghome DIR]\n"
	"       heads card factory-reset --yes [--gnupghome DIR]\n"
	"       heads card passwd        --user|--admin|--unblock [--old-fd FD] [--new-fd FD]\n"
	"                                [--gnupghome DIR]\n"
	"       heads card name          --surname S --given G [--admin-fd FD] [--gnupghome DIR]\n"
	"       heads card keytocard     --key FPR [--pin-fd FD] [--admin-fd FD] [--gnupghome DIR]\n"
	"                                [--backup FILE [--backup-pass-fd FD]]\n"
	"       heads card sign-backup   --backup FILE --keyring DIR [--backup-pass-fd FD]\n"
	"                                -- BOOT-SIGN-OPTIONS\n"
	"\n"
	"The owner's OpenPGP card (Nitrokey, Librem Key, YubiKey, ...) through\n"
	"gpg-agent and scdaemon of the GnuPG home (default $GNUPGHOME). After every\n"
	"command the card session is ended (gpg-agent and scdaemon stop), so no\n"
	"PIN stays verified or cached.\n"
	"\n"
	"status         serial, cardholder, key fingerprints and algorithms, PIN\n"
	"               retry counters (User, Reset code, Admin); with --keyring also\n"
	"               the ROM keyring verdict as check-rom-key prints it.\n"
	"check-rom-key  is the card's signing key a signing key of the ROM keyring\n"
	"               (--keyring: a GnuPG home of the trusted public keys)?\n"
	"               MATCHES (exit 0), NO DONGLE (3), NOT PROVISIONED (4),\n"
	"               NOT ROM-TRUSTED (5).\n"
	"sign-boot      signs /boot with the card: the card must be present, its\n"
	"               User PIN not blocked and its signing key the ROM keyring's;\n"
	"               then exactly `heads boot sign --gnupghome DIR --keyring DIR\n"
	"               --key <card signing key>! BOOT-SIGN-OPTIONS` runs (same files,\n"
	"               same kexec.sig, the PIN asked on the terminal or read from\n"
	"               --pin-fd there).\n"
	"generate       keys generated on the card (algo rsa2048|rsa3072|rsa4096|\n"
	"               ed25519, default rsa2048; ed25519 signs and authenticates,\n"
	"               cv25519 decrypts), no expiry, public key into the GnuPG home;\n"
	"               prints the new key's fingerprint.\n"
	"factory-reset  blocks both PINs and resets the card's OpenPGP application\n"
	"               (keys erased, PINs back to 123456 / 12345678).\n"
	"passwd         --user: change the User PIN (old User PIN, new); --admin:\n"
	"               the Admin PIN; --unblock: set a new User PIN with the Admin\n"
	"               PIN (old = Admin PIN), which also unblocks it.\n"
	"name           the cardholder name (Admin PIN).\n"
	"keytocard      moves the signing, encryption and authentication subkeys of\n"
	"               the secret key FPR (its passphrase: --pin-fd) to the card's\n"
	"               slots 1-3 (Admin PIN), the card's key attributes set to theirs\n"
	"               first; the home keeps stubs. --backup: first the encrypted\n"
	"               backup (checked by decrypting it back; nothing moves if not).\n"
	"sign-backup    no card: signs /boot with the key from its encrypted backup\n"
	"               (as ownership writes it): decrypted with the backup passphrase\n"
	"               into locked memory, imported into a private GnuPG home for this\n"
	"               one signing (its signing key must be the ROM keyring's), then\n"
	"               `heads boot sign` as for sign-boot (the key's passphrase asked\n"
	"               there, or --pin-fd); the home and its agent are removed after.\n"
	"\n"
	"PINs are read one line each from the given descriptors, else asked on the\n"
	"terminal; they are never arguments or environment.\n"
	"\n"
	"Exit status: 0 ok; 1 the operation failed; 2 usage; 3 no card; 4 the card\n"
	"has no signing key; 5 its key is not in the ROM keyring; 6 the PIN is\n"
	"blocked.\n";

struct opts {
	const char *home, *keyring, *algo, *name, *email, *comment, *surname, *given, *backup;
	const char *key;
	int pin_fd, admin_fd, old_fd, new_fd, backup_pass_fd;
	bool yes, user, admin, unblock;
	int rest; /* argv index after "--" (sign-boot) */
};

static int parse(const char *sub, int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{"gnupghome", required_argument, NULL, 'g'},
		{"keyring", required_argument, NULL, 'k'},
		{"algo", required_argument, NULL, 'a'},
		{"name", required_argument, NULL, 'n'},
		{"email", required_argument, NULL, 'e'},
		{"comment", required_argument, NULL, 'c'},
		{"surname", required_argument, NULL, 's'},
		{"given", required_argument, NULL, 'G'},
		{"pin-fd", required_argument, NULL, 'p'},
		{"admin-fd", required_argument, NULL, 'A'},
		{"old-fd", required_argument, NULL, 'o'},
		{"new-fd", required_argument, NULL, 'N'},
		{"yes", no_argument, NULL, 'y'},
		{"user", no_argument, NULL, 'u'},
		{"admin", no_argument, NULL, 'D'},
		{"unblock", no_argument, NULL, 'U'},
		{"backup", required_argument, NULL, 'B'},
		{"key", required_argument, NULL, 'K'},
		{"backup-pass-fd", required_argument, NULL, 'P'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->pin_fd = o->admin_fd = o->old_fd = o->new_fd = o->backup_pass_fd = -1;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		int *fd = NULL;
		switch (c) {
		case 'g': o->home = optarg; break;
		case 'k': o->keyring = optarg; break;
		case 'a': o->algo = optarg; break;
		case 'n': o->name = optarg; break;
		case 'e': o->email = optarg; break;
		case 'c': o->comment = optarg; break;
		case 's': o->surname = optarg; break;
		case 'G': o->given = optarg; break;
		case 'p': fd = &o->pin_fd; break;
		case 'A': fd = &o->admin_fd; break;
		case 'o': fd = &o->old_fd; break;
		case 'N': fd = &o->new_fd; break;
		case 'y': o->yes = true; break;
		case 'u': o->user = true; break;
		case 'D': o->admin = true; break;
		case 'U': o->unblock = true; break;
		case 'B': o->backup = optarg; break;
		case 'K': o->key = optarg; break;
		case 'P': fd = &o->backup_pass_fd; break;
		case 'h': fputs(usage, stdout); return -1;
		default:
			return cmd_usage_error("card", "%s: bad option '%s'", sub, argv[optind - 1]);
		}
		if (fd && cmd_parse_fd(optarg, fd) < 0)
			return cmd_usage_error("card", "%s: bad file descriptor '%s'", sub, optarg);
	}
	o->rest = optind;
	if (optind < argc && !(optind > 0 && streq(argv[optind - 1], "--")))
		return cmd_usage_error("card", "%s: unexpected argument '%s'", sub, argv[optind]);
	return 0;
}

/* One secret: a line of fd, else the terminal (no echo). */
static int get_secret(int fd, const char *prompt, struct secret **ret)
{
	_cleanup_close_ int tty = -1;
	int r;

	if (fd >= 0)
		r = secret_read_line_fd(fd, PIN_MAX, ret);
	else if ((tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0)
		r = -ENOTTY;
	else
		r = secret_read_passphrase(tty, prompt, PIN_MAX, ret);
	if (r < 0)
		fprintf(stderr, "heads card: cannot read the %s: %s\n", prompt, strerror(-r));
	return r;
}

static const char *pin_name(int i)
{
	return i == CARD_PW1 ? "User PIN" : i == CARD_RC ? "Reset code" : "Admin PIN";
}

static void print_status(const struct card_info *ci)
{
	static const char *const slot[] = {"signature", "encryption", "authentication"};
	printf("card: OpenPGP %s, serial %s, manufacturer %s\n", ci->version[0] ? ci->version : "?",
	       ci->serial[0] ? ci->serial : ci->aid, ci->manufacturer[0] ? ci->manufacturer : "?");
	printf("cardholder: %s\n", ci->name[0] ? ci->name : "[not set]");
	for (size_t i = 0; i < 3; i++)
		printf("%s key: %s%s%s%s\n", slot[i], ci->fpr[i][0] ? ci->fpr[i] : "[none]",
		       ci->algo[i][0] ? " (" : "", ci->algo[i], ci->algo[i][0] ? ")" : "");
	printf("PIN retry counters: User %d, Reset code %d, Admin %d%s\n", ci->retries[0],
	       ci->retries[1], ci->retries[2], ci->forcesig ? "" : " (signature PIN not forced)");
	printf("signatures made: %lu\n", ci->sig_count);
	for (int i = 0; i < 3; i += 2)
		if (ci->retries[i] == 0)
			printf("%s BLOCKED (0 tries left)%s\n", pin_name(i),
			       i == CARD_PW1 ? ": unblock it with the Admin PIN "
					       "(heads card passwd --unblock)"
					     : ": only a factory reset makes the card usable again");
}

/* card_status, mapped to an exit status on failure (and the session ended). */
static int status_or_exit(const struct opts *o, struct card_info *ci)
{
	int r = card_status(o->home, ci);

	if (r == -ENODEV) {
		(void)card_release(o->home);
		fprintf(stderr, "heads card: no OpenPGP card (insert the USB security dongle)\n");
		return CARD_EXIT_NO_CARD;
	}
	if (r < 0) {
		(void)card_release(o->home);
		fprintf(stderr, "heads card: cannot read the card: %s\n", strerror(-r));
		return HEADS_EXIT_FAIL;
	}
	return 0;
}

static int rom_verdict(const struct opts *o, const struct card_info *ci)
{
	enum card_rom_match m;
	int r = card_check_rom_key(ci, o->keyring, &m);

	if (r < 0) {
		fprintf(stderr, "heads card: cannot read the ROM keyring %s: %s\n", o->keyring,
			strerror(-r));
		return HEADS_EXIT_FAIL;
	}
	printf("dongle key: %s\n", card_rom_match_name(m));
	return m == CARD_ROM_MATCH ? 0 : m == CARD_ROM_NO_CARD ? CARD_EXIT_NO_CARD
	       : m == CARD_ROM_NOT_PROVISIONED ? CARD_EXIT_NOT_PROVISIONED
					       : CARD_EXIT_NOT_TRUSTED;
}

/* The subcommand's options; true when it ends here with *ret_exit (help
 * shown: 0; a usage error, also a missing --keyring when need_keyring). */
static bool parse_or_exit(const char *sub, int argc, char **argv, struct opts *o,
			  bool need_keyring, int *ret_exit)
{
	int r = parse(sub, argc, argv, o);

	if (r) {
		*ret_exit = r < 0 ? HEADS_EXIT_OK : r;
		return true;
	}
	if (need_keyring && !o->keyring) {
		*ret_exit = cmd_usage_error("card", "%s: --keyring DIR is required", sub);
		return true;
	}
	return false;
}

/* status (show: the card's fields printed) and, with --keyring, the
 * verdict on the card's key against the ROM keyring. */
static int status_verdict(const char *sub, int argc, char **argv, bool show, bool need_keyring)
{
	struct opts o;
	struct card_info ci;
	int r, rc;

	if (parse_or_exit(sub, argc, argv, &o, need_keyring, &rc))
		return rc;
	rc = status_or_exit(&o, &ci);
	if (rc == CARD_EXIT_NO_CARD && o.keyring)
		printf("dongle key: %s\n", card_rom_match_name(CARD_ROM_NO_CARD));
	if (rc)
		return rc;
	if (show)
		print_status(&ci);
	rc = o.keyring ? rom_verdict(&o, &ci) : 0;
	r = card_release(o.home);
	return r < 0 && !rc ? HEADS_EXIT_FAIL : rc;
}

static int do_status(int argc, char **argv)
{
	return status_verdict("status", argc, argv, true, false);
}

static int do_check_rom_key(int argc, char **argv)
{
	return status_verdict("check-rom-key", argc, argv, false, true);
}

extern const struct heads_command cmd_boot;

/* heads boot sign with these options, in this process (the same flow and
 * files as the command itself). */
static int boot_sign(const struct opts *o, const char *home, const char *fpr, int argc,
		     char **argv)
{
	_cleanup_free_ char *key = xasprintf("%s!", fpr);
	_cleanup_free_ char **bargv = xcalloc((size_t)(argc - o->rest) + 10, sizeof(char *));
	int n = 0;

	bargv[n++] = "boot";
	bargv[n++] = "sign";
	bargv[n++] = "--keyring";
	bargv[n++] = (char *)o->keyring;
	bargv[n++] = "--key";
	bargv[n++] = key;
	if (home) {
		bargv[n++] = "--gnupghome";
		bargv[n++] = (char *)home;
	}
	for (int i = o->rest; i < argc; i++)
		bargv[n++] = argv[i];
	bargv[n] = NULL;
	return cmd_boot.run(n, bargv);
}

static bool reserved_boot_option(int argc, char **argv, int from)
{
	for (int i = from; i < argc; i++)
		if (streq(argv[i], "--gnupghome") || streq(argv[i], "--key") ||
		    streq(argv[i], "--keyring") || startswith(argv[i], "--gnupghome=") ||
		    startswith(argv[i], "--key=") || startswith(argv[i], "--keyring=")) {
			cmd_usage_error("card", "%s is chosen by the card command, not passed to "
					"boot sign", argv[i]);
			return true;
		}
	return false;
}


static int do_sign_boot(int argc, char **argv)
{
	struct opts o;
	struct card_info ci;
	int r, rc;

	if (parse_or_exit("sign-boot", argc, argv, &o, true, &rc))
		return rc;
	if (reserved_boot_option(argc, argv, o.rest))
		return HEADS_EXIT_USAGE;
	rc = status_or_exit(&o, &ci);
	if (rc)
		return rc;
	if (ci.retries[CARD_PW1] == 0) {
		print_status(&ci);
		(void)card_release(o.home);
		fprintf(stderr, "heads card: the card's User PIN is blocked (0 tries left); "
			"/boot not signed\n");
		return CARD_EXIT_BLOCKED;
	}
	rc = rom_verdict(&o, &ci);
	if (rc) {
		(void)card_release(o.home);
		fprintf(stderr, "heads card: the card's signing key %s is not usable for /boot; "
			"not signed\n", ci.fpr[0][0] ? ci.fpr[0] : "(none)");
		return rc;
	}
	printf("User PIN tries left: %d\n", ci.retries[CARD_PW1]);
	fflush(stdout);
	rc = boot_sign(&o, o.home, ci.fpr[0], argc, argv);
	r = card_release(o.home);
	if (rc != HEADS_EXIT_OK) {
		struct card_info after;
		/* how many tries are left now: read again, in a new session */
		if (card_status(o.home, &after) == 0) {
			printf("User PIN tries left: %d\n", after.retries[CARD_PW1]);
			if (after.retries[CARD_PW1] == 0) {
				print_status(&after);
				rc = CARD_EXIT_BLOCKED;
			}
		}
		(void)card_release(o.home);
		return rc;
	}
	return r < 0 ? HEADS_EXIT_FAIL : rc;
}

static int fail(const char *what, int r)
{
	if (r == -ENODEV) {
		fprintf(stderr, "heads card: %s: no OpenPGP card (insert the USB security dongle)\n",
			what);
		return CARD_EXIT_NO_CARD;
	}
	fprintf(stderr, "heads card: %s failed: %s\n", what,
		r == -EACCES ? "the card refused the PIN" : r == -EPROTO
		? "gpg asked something unexpected (see the log)" : strerror(-r));
	return HEADS_EXIT_FAIL;
}

static int do_generate(int argc, char **argv)
{
	struct opts o;
	_cleanup_secret_ struct secret *pin = NULL, *admin = NULL;
	char fpr[41];
	int r = parse("generate", argc, argv, &o);

	if (r)
		return r < 0 ? HEADS_EXIT_OK : r;
	if (!o.name || !o.email)
		return cmd_usage_error("card", "generate: --name and --email are required");
	if (get_secret(o.pin_fd, "card User PIN: ", &pin) < 0 ||
	    get_secret(o.admin_fd, "card Admin PIN: ", &admin) < 0)
		return HEADS_EXIT_FAIL;
	r = card_generate(o.home, &(struct card_keygen){.algo = o.algo ? o.algo : "rsa2048",
			  .name = o.name, .email = o.email, .comment = o.comment},
			  pin, admin, fpr);
	if (r == -EINVAL)
		return HEADS_EXIT_USAGE;
	if (r < 0)
		return fail("key generation", r);
	printf("generated on the card: %s\n", fpr);
	return HEADS_EXIT_OK;
}

static int do_factory_reset(int argc, char **argv)
{
	struct opts o;
	int r = parse("factory-reset", argc, argv, &o);

	if (r)
		return r < 0 ? HEADS_EXIT_OK : r;
	if (!o.yes)
		return cmd_usage_error("card", "factory-reset erases the card's keys: add --yes");
	r = card_factory_reset(o.home);
	if (r < 0)
		return fail("factory reset", r);
	printf("the card's OpenPGP application was reset (User PIN 123456, Admin PIN 12345678)\n");
	return HEADS_EXIT_OK;
}

static int do_passwd(int argc, char **argv)
{
	struct opts o;
	_cleanup_secret_ struct secret *old = NULL, *new = NULL;
	enum card_pin which;
	int r = parse("passwd", argc, argv, &o);

	if (r)
		return r < 0 ? HEADS_EXIT_OK : r;
	if (o.user + o.admin + o.unblock != 1)
		return cmd_usage_error("card", "passwd: one of --user, --admin, --unblock");
	which = o.user ? CARD_PW1 : o.admin ? CARD_PW3 : CARD_RC;
	if (get_secret(o.old_fd, which == CARD_PW1 ? "current User PIN: " : "Admin PIN: ",
		       &old) < 0 ||
	    get_secret(o.new_fd, which == CARD_PW3 ? "new Admin PIN: " : "new User PIN: ",
		       &new) < 0)
		return HEADS_EXIT_FAIL;
	if (new->len < (which == CARD_PW3 ? 8u : 6u) || new->len > 64) {
		fprintf(stderr, "heads card: the new %s needs %u to 64 characters\n",
			which == CARD_PW3 ? "Admin PIN" : "User PIN", which == CARD_PW3 ? 8u : 6u);
		return HEADS_EXIT_USAGE;
	}
	r = card_passwd(o.home, which, old, new);
	if (r < 0)
		return fail("PIN change", r);
	printf("%s changed\n", which == CARD_PW3 ? "Admin PIN" : which == CARD_RC
	       ? "User PIN set and unblocked" : "User PIN");
	return HEADS_EXIT_OK;
}

static int do_name(int argc, char **argv)
{
	struct opts o;
	_cleanup_secret_ struct secret *admin = NULL;
	int r = parse("name", argc, argv, &o);

	if (r)
		return r < 0 ? HEADS_EXIT_OK : r;
	if (!o.surname || !o.given)
		return cmd_usage_error("card", "name: --surname and --given are required");
	if (get_secret(o.admin_fd, "card Admin PIN: ", &admin) < 0)
		return HEADS_EXIT_FAIL;
	r = card_set_name(o.home, o.surname, o.given, admin);
	if (r == -EINVAL)
		return HEADS_EXIT_USAGE;
	if (r < 0)
		return fail("setting the cardholder name", r);
	printf("cardholder: %s %s\n", o.given, o.surname);
	return HEADS_EXIT_OK;
}

static int do_keytocard(int argc, char **argv)
{
	struct opts o;
	_cleanup_secret_ struct secret *pass = NULL, *admin = NULL;
	int r = parse("keytocard", argc, argv, &o);

	if (r)
		return r < 0 ? HEADS_EXIT_OK : r;
	if (!o.key)
		return cmd_usage_error("card", "keytocard: --key FPR is required");
	if (get_secret(o.pin_fd, "key passphrase: ", &pass) < 0 ||
	    get_secret(o.admin_fd, "card Admin PIN: ", &admin) < 0)
		return HEADS_EXIT_FAIL;
	if (o.backup) {
		_cleanup_secret_ struct secret *bpass = NULL;
		if (get_secret(o.backup_pass_fd, "backup passphrase: ", &bpass) < 0)
			return HEADS_EXIT_FAIL;
		r = gpg_backup_write(o.home, o.key, pass, bpass, o.backup);
		if (r < 0) {
			fprintf(stderr, "heads card: %s: the key backup failed; nothing moved to "
				"the card\n", o.backup);
			return HEADS_EXIT_FAIL;
		}
		printf("backup written and checked: %s\n", o.backup);
	}
	r = card_keytocard(o.home, o.key, pass, admin);
	if (r == -EINVAL)
		return HEADS_EXIT_USAGE;
	if (r < 0)
		return fail("keytocard", r);
	printf("subkeys of %s moved to the card\n", o.key);
	return HEADS_EXIT_OK;
}

static int do_sign_backup(int argc, char **argv)
{
	struct opts o;
	_cleanup_secret_ struct secret *pass = NULL;
	char *home = NULL;
	char fpr[41];
	bool trusted = false;
	int r = parse("sign-backup", argc, argv, &o), rc;

	if (r)
		return r < 0 ? HEADS_EXIT_OK : r;
	if (!o.keyring || !o.backup)
		return cmd_usage_error("card", "sign-backup: --backup FILE and --keyring DIR are "
				       "required");
	if (reserved_boot_option(argc, argv, o.rest))
		return HEADS_EXIT_USAGE;
	if (get_secret(o.backup_pass_fd, "backup passphrase: ", &pass) < 0)
		return HEADS_EXIT_FAIL;
	r = gpg_backup_open(o.backup, pass, &home, fpr);
	secret_free(TAKE_PTR(pass));
	if (r < 0) {
		fprintf(stderr, "heads card: %s: %s\n", o.backup,
			r == -EACCES ? "wrong backup passphrase" : r == -ENOKEY
			? "no usable secret signing key in it" : r == -EBADMSG
			? "not an encrypted key backup" : strerror(-r));
		return HEADS_EXIT_FAIL;
	}
	r = card_keyring_has(o.keyring, fpr, &trusted);
	if (r < 0 || !trusted) {
		gpg_backup_close(home);
		if (r == 0) {
			printf("backup key: NOT ROM-TRUSTED\n");
			fprintf(stderr, "heads card: the backup's signing key %s is not in the ROM "
				"keyring; /boot not signed\n", fpr);
		}
		return r < 0 ? HEADS_EXIT_FAIL : CARD_EXIT_NOT_TRUSTED;
	}
	printf("backup key: %s MATCHES the ROM keyring\n", fpr);
	fflush(stdout);
	rc = boot_sign(&o, home, fpr, argc, argv);
	gpg_backup_close(home);
	return rc;
}

static const struct heads_subcommand subs[] = {
	{"status", "serial, cardholder, keys and PIN retry counters of the card", do_status},
	{"check-rom-key", "is the card's signing key in the ROM keyring", do_check_rom_key},
	{"sign-boot", "sign /boot with the card (heads boot sign with its key)", do_sign_boot},
	{"generate", "generate the keys on the card", do_generate},
	{"factory-reset", "reset the card's OpenPGP application", do_factory_reset},
	{"passwd", "change the User or Admin PIN, unblock the User PIN", do_passwd},
	{"name", "set the cardholder name", do_name},
	{"keytocard", "move a secret key's subkeys to the card", do_keytocard},
	{"sign-backup", "no card: sign /boot with the key from its encrypted backup", do_sign_backup},
	{},
};

static int run(int argc, char **argv);
const struct heads_command cmd_card = {
	.name = "card",
	.summary = "the owner's OpenPGP card: status, sign /boot, keys, PINs",
	.usage = usage,
	.run = run,
};

static int run(int argc, char **argv)
{
	return cmd_run_sub(&cmd_card, subs, argc, argv);
}
