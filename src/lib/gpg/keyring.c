/* The one GPGME set-up (see gpg/keyring.h). */
#include "gpg/keyring.h"
#include "fs.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init_once(void)
{
	gpgme_set_global_flag("disable-gpgconf", "1");
	gpgme_check_version(NULL);
}

void gpg_init(void)
{
	pthread_once(&once, init_once);
}

int gpg_context(const char *home, unsigned flags, gpgme_ctx_t *ret)
{
	gpgme_ctx_t ctx;
	gpgme_error_t e;

	gpg_init();
	if ((flags & GPG_CTX_MKDIR) && home && fs_mkdir_p(home, 0700) < 0)
		return log_error_errno(-errno, "creating %s", home);
	if ((flags & GPG_CTX_ENV_HOME) && home && setenv("GNUPGHOME", home, 1) < 0)
		return log_error_errno(-errno, "GNUPGHOME=%s", home);
	e = gpgme_new(&ctx);
	if (e)
		return log_error_errno(-EIO, "gpgme_new: %s", gpgme_strerror(e));
	e = gpgme_set_protocol(ctx, GPGME_PROTOCOL_OpenPGP);
	if (!e && home && !(flags & GPG_CTX_ENV_HOME))
		e = gpgme_ctx_set_engine_info(ctx, GPGME_PROTOCOL_OpenPGP, NULL, home);
	if (!e && (flags & GPG_CTX_LOOPBACK))
		e = gpgme_set_pinentry_mode(ctx, GPGME_PINENTRY_MODE_LOOPBACK);
	if (e) {
		gpgme_release(ctx);
		return log_error_errno(-EIO, "GnuPG engine for %s: %s", home ? home : "~/.gnupg",
				       gpgme_strerror(e));
	}
	if (flags & GPG_CTX_ARMOR)
		gpgme_set_armor(ctx, 1);
	*ret = ctx;
	return 0;
}
