/* card.c - the owner's OpenPGP card through GPGME, gpg-agent and scdaemon. */
#include "codec.h"
#include "gpg/card.h"
#include "boot/sig.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gpgme.h>

extern char **environ;

#define CARD_WAIT_MS 3000

void card_info_init(struct card_info *ci)
{
	memset(ci, 0, sizeof(*ci));
	for (size_t i = 0; i < 3; i++)
		ci->retries[i] = -1;
}

/* ---- status lines ------------------------------------------------------ */

/* Percent-unescape src (Assuan) into dst (size n): control bytes become
 * '?', output truncated to n-1. -EINVAL on a broken escape. */
static int unescape(const char *src, char *dst, size_t n)
{
	size_t o = 0;

	for (const char *p = src; *p; p++) {
		int c = (unsigned char)*p;
		if (c == '%') {
			int h, l;
			if ((h = hex_digit(p[1])) < 0 || (l = hex_digit(p[2])) < 0)
				return -EINVAL;
			c = h << 4 | l;
			p += 2;
		}
		if (c < 0x20 || c == 0x7f)
			c = '?';
		if (o + 1 < n)
			dst[o++] = (char)c;
	}
	dst[o] = '\0';
	return 0;
}

static bool is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (hex_digit(s[i]) < 0)
			return false;
	return true;
}

/* The next space-separated token of *p (at most max-1 bytes, longer is
 * -EINVAL); *p moves past it. 0 if there is none. */
static int token(const char **p, char *out, size_t max)
{
	const char *s = *p, *e;
	size_t n;

	while (*s == ' ')
		s++;
	e = s;
	while (*e && *e != ' ')
		e++;
	n = (size_t)(e - s);
	if (n >= max)
		return -EINVAL;
	memcpy(out, s, n);
	out[n] = '\0';
	*p = e;
	return n ? 1 : 0;
}

static int parse_ulong(const char *s, unsigned long max, unsigned long *ret)
{
	unsigned long v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > max)
			return -EINVAL;
	}
	*ret = v;
	return 0;
}

/* ISO 7816 name "Surname<<Given<Names" -> "Given Names Surname". */
static void display_name(const char *iso, char *out, size_t n)
{
	const char *sep = strstr(iso, "<<");
	char buf[80];
	size_t o = 0;

	if (sep)
		snprintf(buf, sizeof(buf), "%s %.*s", sep + 2, (int)(sep - iso), iso);
	else
		snprintf(buf, sizeof(buf), "%s", iso);
	for (const char *p = buf; *p && o + 1 < n; p++)
		out[o++] = *p == '<' ? ' ' : *p;
	out[o] = '\0';
	while (o && out[o - 1] == ' ')
		out[--o] = '\0';
}

int card_parse_status(struct card_info *ci, const char *kw, const char *args)
{
	char t[CARD_STATUS_LINE_MAX];
	const char *p = args ? args : "";
	unsigned long v;

	if (strlen(p) >= CARD_STATUS_LINE_MAX)
		return -EINVAL;
	if (streq(kw, "SERIALNO")) {
		if (token(&p, t, sizeof(t)) != 1 || strlen(t) != 32 || !is_hex(t, 32))
			return -EINVAL;
		memcpy(ci->aid, t, 33);
		if (strncasecmp(t, "D27600012401", 12) == 0) {
			snprintf(ci->version, sizeof(ci->version), "%lu.%lu",
				 strtoul((char[]){t[12], t[13], 0}, NULL, 16),
				 strtoul((char[]){t[14], t[15], 0}, NULL, 16));
			memcpy(ci->serial, t + 20, 8);
			ci->serial[8] = '\0';
		}
		return 0;
	}
	if (streq(kw, "MANUFACTURER")) {
		if (token(&p, t, sizeof(t)) != 1 || parse_ulong(t, 0xffff, &v) < 0)
			return -EINVAL;
		while (*p == ' ')
			p++;
		return unescape(p, ci->manufacturer, sizeof(ci->manufacturer));
	}
	if (streq(kw, "DISP-NAME")) {
		char iso[80];
		int r = unescape(p, iso, sizeof(iso));
		if (r < 0)
			return r;
		display_name(iso, ci->name, sizeof(ci->name));
		return 0;
	}
	if (streq(kw, "KEY-FPR") || streq(kw, "KEY-ATTR")) {
		bool fpr = kw[4] == 'F';
		if (token(&p, t, sizeof(t)) != 1 || parse_ulong(t, 3, &v) < 0 || v < 1)
			return -EINVAL;
		if (fpr) {
			if (token(&p, t, sizeof(t)) != 1 || strlen(t) != 40 || !is_hex(t, 40))
				return -EINVAL;
			for (size_t i = 0; i < 40; i++)
				ci->fpr[v - 1][i] = (char)(t[i] >= 'a' ? t[i] - 32 : t[i]);
			ci->fpr[v - 1][40] = '\0';
			return 0;
		}
		/* "KEY-ATTR n algo-id name ...": the name is the third token */
		if (token(&p, t, sizeof(t)) != 1 || token(&p, t, sizeof(t)) != 1 ||
		    strlen(t) >= sizeof(ci->algo[0]))
			return -EINVAL;
		/* scdaemon 2.2 says "rsa2048", "Ed25519", "Curve25519" */
		for (char *c = t; *c; c++) {
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
			else if (!(*c >= 'a' && *c <= 'z') && !(*c >= '0' && *c <= '9'))
				return -EINVAL;
		}
		const char *name = streq(t, "curve25519") ? "cv25519" : t;
		if (strlen(name) >= sizeof(ci->algo[0]))
			return -EINVAL; /* no algorithm name is that long */
		memcpy(ci->algo[v - 1], name, strlen(name) + 1);
		return 0;
	}
	if (streq(kw, "CHV-STATUS")) {
		/* "+F+L1+L2+L3+C1+C2+C3" (or space separated): "signature PIN cached"
		 * flag, maximum lengths, retry counters */
		unsigned long f[7];
		size_t n = 0;
		char *s;
		if (token(&p, t, sizeof(t)) != 1)
			return -EINVAL;
		for (s = t; *s; s++)
			if (*s == '+')
				*s = ' ';
		p = t;
		while (n < 7 && token(&p, (char[16]){0}, 16) == 1)
			n++;
		if (n != 7)
			return -EINVAL;
		p = t;
		for (size_t i = 0; i < 7; i++) {
			char num[16];
			if (token(&p, num, sizeof(num)) != 1 ||
			    (num[0] == '-' ? (f[i] = 0, 0) : parse_ulong(num, 255, &f[i])) < 0)
				return -EINVAL;
		}
		if (token(&p, (char[16]){0}, 16) != 0)
			return -EINVAL;
		ci->forcesig = f[0] == 0; /* the first field says "PIN cached" */
		for (size_t i = 0; i < 3; i++)
			ci->retries[i] = (int)f[4 + i];
		return 0;
	}
	if (streq(kw, "SIG-COUNTER")) {
		if (token(&p, t, sizeof(t)) != 1 || parse_ulong(t, 0xffffff, &v) < 0)
			return -EINVAL;
		ci->sig_count = v;
		return 0;
	}
	return 0;
}

/* ---- the agent over Assuan --------------------------------------------- */

struct learn {
	struct card_info *ci;
	int bad;
};

static void status_cb(void *ud, const char *kw, const char *args)
{
	struct learn *l = ud;
	if (card_parse_status(l->ci, kw, args) < 0) {
		log_warn("card: malformed status line from the agent: %s", kw);
		l->bad++;
	}
}

static int launch_agent(const char *home)
{
	char *argv[] = {"gpgconf", "--homedir", (char *)home, "--launch", "gpg-agent", NULL};
	char *argv_default[] = {"gpgconf", "--launch", "gpg-agent", NULL};
	pid_t pid;
	int st = 0, r;

	r = posix_spawnp(&pid, "gpgconf", NULL, NULL, home ? argv : argv_default, environ);
	if (r)
		return log_error_errno(-r, "cannot run gpgconf");
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		return log_error_errno(-EIO, "gpgconf --launch gpg-agent failed");
	return 0;
}

static bool no_card_error(unsigned e)
{
	switch (gpg_err_code(e)) {
	case GPG_ERR_CARD_NOT_PRESENT:
	case GPG_ERR_CARD_REMOVED:
	case GPG_ERR_ENODEV:
	case GPG_ERR_NOT_SUPPORTED: /* a card without an OpenPGP application */
	case GPG_ERR_NO_SCDAEMON:
	case GPG_ERR_CARD:
		return true;
	default:
		return false;
	}
}

/* One agent command; its ERR mapped (no card: -ENODEV). */
static int agent_cmd(const char *home, const char *cmd, struct learn *l)
{
	unsigned err = 0;
	int r = sig_agent_transact(home, cmd, l ? status_cb : NULL, l, &err);

	if (r < 0)
		return log_error_errno(r, "gpg-agent (%s)", cmd);
	if (err && no_card_error(err)) {
		log_debug("no OpenPGP card: %s", gpgme_strerror(err));
		return -ENODEV;
	}
	if (err)
		return log_error_errno(-EIO, "card (%s): %s", cmd, gpgme_strerror(err));
	return 0;
}

int card_status(const char *home, struct card_info *ci)
{
	static const char *const cmds[] = {
		"SCD SERIALNO openpgp",
		"LEARN --sendinfo --force", /* writes the stubs of the card's keys too */
		"SCD GETATTR DISP-NAME", "SCD GETATTR KEY-FPR", "SCD GETATTR KEY-ATTR",
		"SCD GETATTR CHV-STATUS",
	};
	_cleanup_free_ char *sock = sig_agent_socket(home);
	struct learn l = {.ci = ci};
	int r = 0;

	card_info_init(ci);
	if (!sock)
		return -errno;
	if (access(sock, F_OK) < 0)
		r = launch_agent(home);
	/* A card just plugged in, or a reader the scdaemon of the previous
	 * session (card_release) has not closed yet, shows as no card for a
	 * moment: the reference waits up to 2 s for `gpg --card-status` too. */
	for (int t = 0; r == 0; t++) {
		r = agent_cmd(home, cmds[0], &l);
		if (r != -ENODEV || t >= CARD_WAIT_MS / 100)
			break;
		r = 0;
		usleep(100 * 1000);
	}
	for (size_t i = 1; r == 0 && i < ARRAY_SIZE(cmds); i++)
		r = agent_cmd(home, cmds[i], &l);
	if (r == 0 && (l.bad || !ci->aid[0]))
		r = log_error_errno(-EIO, "card: the agent's answers are malformed");
	return r;
}

int card_release(const char *home)
{
	_cleanup_free_ char *sock = sig_agent_socket(home);
	unsigned err = 0;
	int r;

	if (!sock || access(sock, F_OK) < 0)
		return 0; /* no agent: no card session */
	r = sig_agent_transact(home, "KILLAGENT", NULL, NULL, &err);
	if (r == -ECONNREFUSED || r == -ENOENT)
		return 0; /* a stale socket: the agent is gone */
	if (r < 0)
		return log_error_errno(r, "cannot stop gpg-agent");
	if (err)
		return log_error_errno(-EIO, "gpg-agent refused to stop: %s", gpgme_strerror(err));
	/* Wait for the agent's and its scdaemon's sockets to go (scdaemon
	 * "--multi-server" listens beside the agent): until scdaemon has
	 * closed the reader, a new one cannot open it ("Reader Exclusive")
	 * and the card would look absent. */
	{
		_cleanup_free_ char *scd = xstrdup(sock);
		char *slash = strrchr(scd, '/');
		_cleanup_free_ char *scdsock = NULL;
		if (slash)
			*slash = '\0';
		scdsock = xasprintf("%s/S.scdaemon", slash ? scd : ".");
		for (int i = 0; i < 500 && (access(sock, F_OK) == 0 || access(scdsock, F_OK) == 0);
		     i++)
			usleep(20000);
		if (access(sock, F_OK) == 0 || access(scdsock, F_OK) == 0)
			return log_error_errno(-ETIMEDOUT, "gpg-agent/scdaemon did not stop");
	}
	return 0;
}

/* ---- the ROM keyring --------------------------------------------------- */

const char *card_rom_match_name(enum card_rom_match m)
{
	switch (m) {
	case CARD_ROM_MATCH: return "MATCHES";
	case CARD_ROM_NO_CARD: return "NO DONGLE";
	case CARD_ROM_NOT_PROVISIONED: return "NOT PROVISIONED";
	case CARD_ROM_NOT_TRUSTED: return "NOT ROM-TRUSTED";
	}
	return "?";
}

int card_keyring_has(const char *keyring, const char *fpr, bool *ret)
{
	gpgme_ctx_t ctx = NULL;
	gpgme_key_t k = NULL;
	gpgme_error_t e;
	bool found = false;
	int r = sig_gpgme_new(keyring, &ctx);

	if (r < 0)
		return r;
	/* every key of the keyring, each subkey compared: no pattern
	 * matching by gpg decides what "the same key" is */
	e = gpgme_op_keylist_start(ctx, NULL, 0);
	if (e) {
		gpgme_release(ctx);
		return log_error_errno(-EIO, "cannot list the keyring %s: %s", keyring,
				       gpgme_strerror(e));
	}
	while (!found && !(e = gpgme_op_keylist_next(ctx, &k))) {
		for (gpgme_subkey_t s = k->subkeys; s && !found; s = s->next)
			found = s->fpr && strcasecmp(s->fpr, fpr) == 0 && s->can_sign &&
				!s->revoked && !s->expired && !s->disabled && !s->invalid;
		gpgme_key_unref(k);
	}
	gpgme_op_keylist_end(ctx);
	gpgme_release(ctx);
	if (!found && gpgme_err_code(e) != GPG_ERR_EOF)
		return log_error_errno(-EIO, "cannot list the keyring %s: %s", keyring,
				       gpgme_strerror(e));
	*ret = found;
	return 0;
}

int card_check_rom_key(const struct card_info *ci, const char *keyring, enum card_rom_match *ret)
{
	bool found = false;
	int r;

	if (!ci || !ci->aid[0]) {
		*ret = CARD_ROM_NO_CARD;
		return 0;
	}
	if (!ci->fpr[0][0]) {
		*ret = CARD_ROM_NOT_PROVISIONED;
		return 0;
	}
	r = card_keyring_has(keyring, ci->fpr[0], &found);
	if (r < 0)
		return r;
	*ret = found ? CARD_ROM_MATCH : CARD_ROM_NOT_TRUSTED;
	return 0;
}

/* ---- gpg's card editor ------------------------------------------------- */

#define EDIT_MAX_ANSWERS 64

/* One answer: for the next prompt named kw (in order among the answers
 * with that kw), text or a secret. */
struct answer {
	const char *kw;
	const char *text;
	const struct secret *pin;
	bool optional;       /* a prompt gpg asks only in some states */
	bool used;
};

struct edit {
	struct answer *a;
	size_t n;
	int answers;
	int err;             /* first failure seen */
	bool bad_pin;        /* the card refused a PIN: stop answering */
	char created[41];    /* KEY_CREATED fingerprint */
};

static gpgme_error_t edit_cb(void *opaque, const char *status, const char *args, int fd)
{
	struct edit *ed = opaque;
	const char *shown;

	if (!status)
		return 0;
	shown = args && !streq(status, "GET_HIDDEN") ? args : "";
	log_debug("card edit: %s %s", status, shown);
	if (streq(status, "CARDCTRL") && args && (args[0] == '4' || args[0] == '5')) {
		/* 4: no card, 5: no reader (gpg's status codes) */
		if (!ed->err)
			ed->err = -ENODEV;
		ed->bad_pin = true; /* answer nothing more */
		return 0;
	}
	if (streq(status, "SC_OP_FAILURE")) {
		/* 2: bad PIN; 3: PIN blocked (gpg 2.2's card-util codes) */
		ed->bad_pin = true;
		if (!ed->err)
			ed->err = args && (streq(args, "2") || streq(args, "3")) ? -EACCES : -EIO;
		return 0;
	}
	if (streq(status, "KEY_CREATED") && args) {
		const char *sp = strchr(args, ' ');
		if (sp && strlen(sp + 1) == 40 && is_hex(sp + 1, 40))
			memcpy(ed->created, sp + 1, 41);
		return 0;
	}
	if (streq(status, "KEY_NOT_CREATED") || streq(status, "ERROR")) {
		if (!ed->err)
			ed->err = -EIO;
		log_debug("card edit: %s %s", status, args ? args : "");
		return 0;
	}
	if (fd < 0 || !startswith(status, "GET_"))
		return 0;
	if (ed->bad_pin) /* never guess on: end the session */
		return gpgme_error(GPG_ERR_CANCELED);
	if (++ed->answers > EDIT_MAX_ANSWERS) {
		ed->err = log_error_errno(-EPROTO, "card edit: too many prompts");
		return gpgme_error(GPG_ERR_CANCELED);
	}
	for (size_t i = 0; i < ed->n; i++) {
		struct answer *a = &ed->a[i];
		if (a->used || !streq(a->kw, args ? args : ""))
			continue;
		a->used = true;
		/* gpg has moved past any optional question before this one */
		for (size_t j = 0; j < i; j++)
			if (ed->a[j].optional)
				ed->a[j].used = true;
		if (a->pin) {
			if (memchr(a->pin->data, '\n', a->pin->len) ||
			    gpgme_io_writen(fd, a->pin->data, a->pin->len) < 0)
				return gpgme_error(GPG_ERR_CANCELED);
		} else if (gpgme_io_writen(fd, a->text, strlen(a->text)) < 0) {
			return gpgme_error(GPG_ERR_CANCELED);
		}
		return gpgme_io_writen(fd, "\n", 1) < 0 ? gpgme_error(GPG_ERR_CANCELED) : 0;
	}
	/* a prompt this operation does not expect: never answer blindly */
	if (!ed->err)
		ed->err = log_error_errno(-EPROTO, "card edit: unexpected prompt %s %s", status,
					  args ? args : "");
	return gpgme_error(GPG_ERR_CANCELED);
}

static int edit_run_now(const char *home, const char *fpr, struct answer *a, size_t n,
			struct edit *ed)
{
	gpgme_ctx_t ctx = NULL;
	gpgme_key_t key = NULL;
	gpgme_data_t out = NULL;
	gpgme_error_t e;
	int r;

	memset(ed, 0, sizeof(*ed));
	ed->a = a;
	ed->n = n;
	r = sig_gpgme_new(home, &ctx);
	if (r < 0)
		return r;
	e = gpgme_set_pinentry_mode(ctx, GPGME_PINENTRY_MODE_LOOPBACK);
	if (!e && fpr)
		e = gpgme_get_key(ctx, fpr, &key, 1);
	if (!e)
		e = gpgme_data_new(&out);
	if (e) {
		r = log_error_errno(-EIO, "card edit: %s", gpgme_strerror(e));
		goto out;
	}
	e = gpgme_op_interact(ctx, key, fpr ? 0 : GPGME_INTERACT_CARD, edit_cb, ed, out);
	if (ed->err)
		r = ed->err;
	else if (e)
		r = log_error_errno(-EIO, "card edit: %s", gpgme_strerror(e));
	else
		r = 0;
	/* every answer the operation needs was asked for: else gpg took
	 * another path than the one this operation means */
	for (size_t i = 0; r == 0 && i < n; i++)
		if (!a[i].used && !a[i].optional)
			r = log_error_errno(-EPROTO, "card edit: gpg never asked %s", a[i].kw);
	if (r == -EACCES)
		log_error("the card refused the PIN");
out:
	gpgme_data_release(out);
	if (key)
		gpgme_key_unref(key);
	gpgme_release(ctx);
	return r;
}

/* Run gpg --card-edit (key NULL) or --edit-key fpr with these answers,
 * in a card session that has seen the card (card_status waits for it). */
static int edit_run(const char *home, const char *fpr, struct answer *a, size_t n,
		    struct edit *ed)
{
	struct card_info ci;
	int q = card_status(home, &ci);

	memset(ed, 0, sizeof(*ed));
	if (q < 0)
		return q;
	return edit_run_now(home, fpr, a, n, ed);
}

#define TEXT(k, t) ((struct answer){.kw = (k), .text = (t)})
#define PIN(s) ((struct answer){.kw = "passphrase.enter", .pin = (s)})

int card_factory_reset(const char *home)
{
	struct answer a[] = {
		TEXT("cardedit.prompt", "admin"), TEXT("cardedit.prompt", "factory-reset"),
		TEXT("cardedit.factory-reset.proceed", "y"),
		TEXT("cardedit.factory-reset.really", "yes"), TEXT("cardedit.prompt", "quit"),
	};
	struct edit ed;
	int r = edit_run(home, NULL, a, ARRAY_SIZE(a), &ed);
	int q = card_release(home);
	return r < 0 ? r : q;
}

int card_passwd(const char *home, enum card_pin which, const struct secret *old,
		const struct secret *new)
{
	const char *item = which == CARD_PW1 ? "1" : which == CARD_RC ? "2" : "3";
	struct answer a[] = {
		TEXT("cardedit.prompt", "admin"), TEXT("cardedit.prompt", "passwd"),
		TEXT("cardutil.change_pin.menu", item), PIN(old), PIN(new), PIN(new),
		TEXT("cardutil.change_pin.menu", "q"), TEXT("cardedit.prompt", "quit"),
	};
	struct edit ed;
	int r = edit_run(home, NULL, a, ARRAY_SIZE(a), &ed);
	int q = card_release(home);

	if (r == 0 && !a[5].used)
		r = log_error_errno(-EIO, "card: the PIN was not changed");
	return r < 0 ? r : q;
}

static bool name_ok(const char *s)
{
	if (!s || !*s || strlen(s) > 38)
		return false;
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == ' ' || *s == '-'))
			return false;
	return true;
}

int card_set_name(const char *home, const char *surname, const char *given,
		  const struct secret *admin)
{
	struct answer a[] = {
		TEXT("cardedit.prompt", "admin"), TEXT("cardedit.prompt", "name"),
		TEXT("keygen.smartcard.surname", surname),
		TEXT("keygen.smartcard.givenname", given), PIN(admin),
		TEXT("cardedit.prompt", "quit"),
	};
	struct edit ed;
	int r, q;

	if (!name_ok(surname) || !name_ok(given) || strlen(surname) + strlen(given) > 37)
		return log_error_errno(-EINVAL, "cardholder name: letters, space and '-' only, "
				       "39 characters at most");
	r = edit_run(home, NULL, a, ARRAY_SIZE(a), &ed);
	q = card_release(home);
	return r < 0 ? r : q;
}

static bool attrs_are(const struct card_info *ci, const char *algo)
{
	bool ecc = streq(algo, "ed25519");
	return streq(ci->algo[0], algo) && streq(ci->algo[1], ecc ? "cv25519" : algo) &&
	       streq(ci->algo[2], algo);
}

/* key-attr: the three slots to one algorithm ("rsa2048".."rsa4096":
 * RSA of that size; "ed25519": ed25519, cv25519, ed25519). gpg asks the
 * Admin PIN for each slot it changes (scdaemon reselects the
 * application) and nothing for a slot already right: those PINs are
 * optional, and the result is read back from the card. */
static int set_key_attr(const char *home, const char *algo, const struct secret *admin)
{
	bool ecc = streq(algo, "ed25519");
	const char *bits = ecc ? NULL : algo + 3;
	struct answer a[12];
	struct card_info ci;
	struct edit ed;
	size_t n = 0;
	int r, q;

	a[n++] = TEXT("cardedit.prompt", "admin");
	a[n++] = TEXT("cardedit.prompt", "key-attr");
	for (int i = 0; i < 3; i++) {
		a[n++] = TEXT("cardedit.genkeys.algo", ecc ? "2" : "1");
		a[n++] = ecc ? TEXT("keygen.curve", "1") : TEXT("cardedit.genkeys.size", bits);
		a[n] = PIN(admin);
		a[n++].optional = true;
	}
	a[n++] = TEXT("cardedit.prompt", "quit");
	r = edit_run(home, NULL, a, n, &ed);
	q = card_release(home);
	if (r < 0 || q < 0)
		return r < 0 ? r : q;
	r = card_status(home, &ci);
	q = card_release(home);
	if (r < 0 || q < 0)
		return r < 0 ? r : q;
	if (!attrs_are(&ci, algo))
		return log_error_errno(-EIO, "card: key attributes are %s %s %s, not %s", ci.algo[0],
				       ci.algo[1], ci.algo[2], algo);
	return 0;
}

static bool algo_ok(const char *a)
{
	return streq(a, "rsa2048") || streq(a, "rsa3072") || streq(a, "rsa4096") ||
	       streq(a, "ed25519");
}

static bool uid_part_ok(const char *s, size_t max)
{
	if (!s || strlen(s) > max)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f || *s == '<' || *s == '>' || *s == '(' ||
		    *s == ')')
			return false;
	return true;
}

int card_generate(const char *home, const struct card_keygen *g, const struct secret *pin,
		  const struct secret *admin, char ret_fpr[41])
{
	struct card_info ci;
	struct edit ed;
	int r;

	if (!algo_ok(g->algo))
		return log_error_errno(-EINVAL, "card: unsupported algorithm %s", g->algo);
	if (!uid_part_ok(g->name, 64) || strlen(g->name) < 5 || !uid_part_ok(g->email, 64) ||
	    !strchr(g->email, '@') || !uid_part_ok(g->comment ? g->comment : "", 60))
		return log_error_errno(-EINVAL, "card: the user id needs a name (5 characters "
				       "or more), an email with '@' and an optional comment, "
				       "without <>() or control characters");
	r = card_status(home, &ci);
	if (r < 0) {
		(void)card_release(home);
		return r;
	}
	r = card_release(home);
	if (r < 0)
		return r;
	if (!attrs_are(&ci, g->algo)) {
		r = set_key_attr(home, g->algo, admin);
		if (r < 0)
			return r;
		r = card_status(home, &ci);
		(void)card_release(home);
		if (r < 0)
			return r;
	}
	{
		/* gpg 2.2 asks, in this order: with the signature PIN forced
		 * (the default), the Admin PIN (to lift it during generation)
		 * then the User PIN; otherwise the User PIN then the Admin PIN;
		 * then the User PIN for the self-signature (measured against
		 * gpg 2.2.40 and the model; a PIN the card refuses stops the
		 * session at once, costing one try) */
		const struct secret *first = ci.forcesig ? admin : pin;
		const struct secret *second = ci.forcesig ? pin : admin;
		struct answer a[] = {
			TEXT("cardedit.prompt", "admin"), TEXT("cardedit.prompt", "generate"),
			TEXT("cardedit.genkeys.backup_enc", "n"),
			{.kw = "cardedit.genkeys.replace_keys", .text = "y", .optional = true},
			PIN(first), PIN(second),
			TEXT("keygen.valid", "0"), TEXT("keygen.name", g->name),
			TEXT("keygen.email", g->email),
			TEXT("keygen.comment", g->comment ? g->comment : ""),
			PIN(pin), TEXT("cardedit.prompt", "quit"),
		};
		r = edit_run(home, NULL, a, ARRAY_SIZE(a), &ed);
	}
	{
		int q = card_release(home);
		if (r == 0 && q < 0)
			r = q;
	}
	if (r == 0 && !ed.created[0])
		r = log_error_errno(-EIO, "card: no key was created");
	if (r == 0 && ret_fpr)
		memcpy(ret_fpr, ed.created, 41);
	return r;
}

/* The card key-attr name of a subkey: "rsa2048".., "ed25519", "cv25519";
 * NULL when the card cannot hold it. */
static const char *subkey_algo(gpgme_subkey_t s)
{
	static char rsa[16];

	if (s->pubkey_algo == GPGME_PK_RSA && (s->length == 2048 || s->length == 3072 ||
					       s->length == 4096)) {
		snprintf(rsa, sizeof(rsa), "rsa%u", s->length);
		return rsa;
	}
	if (s->curve && streq(s->curve, "ed25519"))
		return "ed25519";
	if (s->curve && (streq(s->curve, "cv25519") || streq(s->curve, "Curve25519")))
		return "cv25519";
	return NULL;
}

int card_keytocard(const char *home, const char *fpr, const struct secret *keypass,
		   const struct secret *admin)
{
	gpgme_ctx_t ctx = NULL;
	gpgme_key_t k = NULL;
	gpgme_error_t e;
	int idx[3] = {0, 0, 0}, i = 0, r;
	char algo[3][16] = {"", "", ""};
	struct answer a[3 * 7 + 2];
	char keycmd[3][2][16];
	size_t n = 0;
	struct edit ed;
	bool first = true;

	r = sig_gpgme_new(home, &ctx);
	if (r < 0)
		return r;
	e = gpgme_get_key(ctx, fpr, &k, 1);
	gpgme_release(ctx);
	if (e)
		return log_error_errno(-ENOKEY, "no secret key %s: %s", fpr, gpgme_strerror(e));
	/* subkeys in gpg's "key N" numbering (the primary is 0) */
	for (gpgme_subkey_t s = k->subkeys ? k->subkeys->next : NULL; s; s = s->next) {
		int slot = -1;
		i++;
		if (s->revoked || s->expired || s->invalid || !s->secret)
			continue;
		if (s->can_sign)
			slot = 0;
		else if (s->can_encrypt)
			slot = 1;
		else if (s->can_authenticate)
			slot = 2;
		if (slot < 0 || idx[slot])
			continue;
		if (!subkey_algo(s)) {
			gpgme_key_unref(k);
			return log_error_errno(-EINVAL, "subkey %s: an algorithm no OpenPGP card "
					       "holds", s->fpr ? s->fpr : "?");
		}
		idx[slot] = i;
		snprintf(algo[slot], sizeof(algo[slot]), "%s", subkey_algo(s));
	}
	gpgme_key_unref(k);
	if (!idx[0])
		return log_error_errno(-ENOKEY, "key %s has no signing subkey to move", fpr);
	/* the card's slots must have the subkeys' algorithms first (gpg 2.2
	 * does not change them on keytocard): one algorithm family for all */
	{
		const char *want = streq(algo[0], "ed25519") ? "ed25519" : algo[0];
		if ((idx[1] && !streq(algo[1], streq(want, "ed25519") ? "cv25519" : want)) ||
		    (idx[2] && !streq(algo[2], want)))
			return log_error_errno(-EINVAL, "key %s: the subkeys' algorithms differ "
					       "(%s, %s, %s): not one card configuration", fpr,
					       algo[0], algo[1], algo[2]);
		r = set_key_attr(home, want, admin);
		if (r < 0)
			return r;
	}
	for (int slot = 0; slot < 3; slot++) {
		static const char *const type[] = {"1", "2", "3"};
		if (!idx[slot])
			continue;
		snprintf(keycmd[slot][0], sizeof(keycmd[0][0]), "key %d", idx[slot]);
		a[n++] = TEXT("keyedit.prompt", keycmd[slot][0]);
		a[n++] = TEXT("keyedit.prompt", "keytocard");
		a[n++] = TEXT("cardedit.genkeys.storekeytype", type[slot]);
		a[n++] = (struct answer){.kw = "cardedit.genkeys.replace_key", .text = "y",
					 .optional = true};
		/* the subkey's passphrase (the agent caches per key, so each
		 * subkey asks), then the Admin PIN, which scdaemon keeps
		 * verified after the first slot (measured, gpg 2.2.40) */
		a[n++] = PIN(keypass);
		a[n] = PIN(admin);
		a[n++].optional = first == false;
		first = false;
		a[n++] = TEXT("keyedit.prompt", keycmd[slot][0]); /* deselect */
	}
	a[n++] = TEXT("keyedit.prompt", "save");
	r = edit_run(home, fpr, a, n, &ed);
	{
		int q = card_release(home);
		if (r == 0 && q < 0)
			r = q;
	}
	return r;
}
