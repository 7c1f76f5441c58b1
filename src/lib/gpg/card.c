/* card.c - the owner's OpenPGP card through GPGME, gpg-agent and scdaemon:
 * status lines, the agent over Assuan, the ROM keyring check (see card.h);
 * changes through gpg's card editor are in card_edit.c. */
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
	return card_status_wait(home, CARD_WAIT_MS, ci);
}

int card_status_wait(const char *home, unsigned wait_ms, struct card_info *ci)
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
		if (r != -ENODEV || t >= (int)(wait_ms / 100))
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
