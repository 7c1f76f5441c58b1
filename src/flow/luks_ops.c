/* LUKS changes over a list of containers (see flow/luks_ops.h). */
#include "flow/luks_ops.h"
#include "log.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

size_t flow_luks_drk_precheck(const struct luks_device *v, size_t n, const struct secret *drk,
			      const struct secret *newp, struct flow_luks_result *res)
{
	size_t fails = 0;

	for (size_t i = 0; i < n; i++) {
		res[i] = (struct flow_luks_result){.slot = -1};
		if (luks_test_passphrase(v[i].path, drk, -1) < 0 &&
		    (!newp || luks_test_passphrase(v[i].path, newp, -1) < 0)) {
			res[i].r = -EACCES;
			fails++;
		}
	}
	return fails;
}

size_t flow_luks_change_drk(const struct luks_device *v, size_t n, const struct secret *drk,
			    const struct secret *newp, const struct luks_opts *lo,
			    flow_luks_each_fn each, void *userdata, struct flow_luks_result *res)
{
	size_t done = 0, fails = flow_luks_drk_precheck(v, n, drk, newp, res);

	if (fails) {
		log_error("the current passphrase does not open %zu container(s): nothing changed",
			  fails);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (each)
			each(userdata, i);
		res[i].r = luks_change_passphrase(v[i].path, drk, newp, lo, &res[i].slot,
						  &res[i].state);
		done += res[i].r == 0;
	}
	if (done)
		log_warn("LUKS headers changed: the Disk Unlock Key must be resealed (PCR 6)");
	return done;
}

static volatile int interrupted;

static void on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
}

size_t flow_luks_reencrypt(const struct luks_device *v, size_t n, const struct secret *drk,
			   struct luks_opts *lo, flow_luks_each_fn each, void *userdata,
			   struct flow_luks_result *res)
{
	struct sigaction sa = {.sa_handler = on_interrupt}, old_int, old_term;
	size_t done = 0;

	/* Ctrl-C / SIGTERM stop at the next hotzone boundary: resumable. */
	sigemptyset(&sa.sa_mask);
	interrupted = 0;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	lo->interrupt = &interrupted;
	for (size_t i = 0; i < n; i++) {
		res[i] = (struct flow_luks_result){.slot = -1};
		if (each)
			each(userdata, i);
		/* a signal before this container started: do not start it */
		res[i].r = interrupted ? -EINTR : luks_reencrypt(v[i].path, drk, lo,
								  &res[i].resumed);
		if (res[i].r == 0) {
			res[i].slot = luks_test_passphrase(v[i].path, drk, -1);
			done++;
		}
	}
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	lo->interrupt = NULL;
	if (done)
		log_warn("new volume keys: only the Disk Recovery Key was kept; add and seal the "
			 "Disk Unlock Key again");
	return done;
}
