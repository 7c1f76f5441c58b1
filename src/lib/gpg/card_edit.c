/* card_edit.c - changes to the owner's OpenPGP card through gpg's card
 * editor (GPGME interact, loopback PINs, a fixed answer list per
 * operation): factory reset, PINs, cardholder name, key generation and
 * keytocard (see card.h, "Operations through gpg's card editor"). Status,
 * detection and the ROM keyring check are in card.c. */
#include "codec.h"
#include "gpg/card.h"
#include "boot/sig.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <gpgme.h>

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
		uint8_t bin[20];
		size_t bl = 0;
		if (sp && strlen(sp + 1) == 40 && hex_decode(sp + 1, bin, sizeof(bin), &bl) == 0)
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
