/* menu_luks.c - the menu's LUKS flows (part of `heads menu`): reencryption
 * with a new volume key (Options C), the Disk Recovery Key passphrase
 * change (Options P), the Disk Unlock Key setup / reseal (Options k, the
 * end of ownership, and after either change). Reference heads-behaviour.md
 * 5.2-5.4; the work is done by lib/luks and lib/duk.
 *
 * Containers: the --luks-devices file (kexec_key_devices.txt format), else
 * /boot/kexec_key_devices.txt (the ones the DUK was set up for), else every
 * LUKS container on a non-removable disk (luks_discover). */
#include "cmd/cmd.h"
#include "flow/menu.h"
#include "flow/duk_setup.h"
#include "flow/luks_ops.h"
#include "boot/rollback.h"
#include "duk.h"
#include "fs.h"
#include "log.h"
#include "luks/luks.h"
#include "luks/select.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define DRK_MIN 8
#define DRK_MAX 512

struct containers {
	struct luks_device *v;
	size_t n;
	const char *source; /* where the list came from, for the screens */
};

static void containers_free(struct containers *c)
{
	luks_devices_free(c->v, c->n);
	c->v = NULL;
	c->n = 0;
}

/* The device paths of the containers whose bit is set in mask, one a line. */
static char *names(const struct containers *c, uint64_t mask)
{
	return flow_luks_names(c->v, c->n, mask);
}

static uint64_t all_of(size_t n)
{
	return flow_luks_all(n);
}

/* The containers of a kexec_key_devices.txt-format file (UUIDs checked),
 * or of discovery (file NULL). 0, -ENOENT (no such file), or an error
 * already shown. */
static int select_from(struct menu *m, const char *file, struct containers *c)
{
	_cleanup_free_ char *err = NULL;
	struct luks_select s = {.devices_file = file};
	int r = luks_select_containers(&s, &c->v, &c->n, &err);

	if (r == -ENOENT && file)
		return r;
	if (r < 0) {
		_cleanup_free_ char *t = xasprintf(
			"%s.%s", err, file ? "\n\nFix or remove that file (a new Disk Unlock "
					     "Key setup rewrites it)." : "");
		ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: LUKS containers", t);
	}
	return r;
}

/* The containers to work on (see the top of the file). 0 with c->n
 * possibly 0 (told the user unless quiet), or <0 (told the user). */
static int select_containers(struct menu *m, struct containers *c, bool quiet)
{
	_cleanup_free_ char *conf = xasprintf("%s/%s", m->bootdir, DUK_KEY_DEVICES_FILE);
	int r;

	memset(c, 0, sizeof(*c));
	if (m->luks_devices) {
		c->source = "the configured container list";
		r = select_from(m, m->luks_devices, c);
		if (r == -ENOENT)
			ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: LUKS containers",
				  "The container list given to the menu does not exist.");
	} else if ((r = select_from(m, conf, c)) != -ENOENT) {
		c->source = "/boot/" DUK_KEY_DEVICES_FILE;
	} else {
		c->source = "the disks of this machine";
		r = select_from(m, NULL, c);
	}
	if (r < 0)
		return r;
	if (c->n == 0 && !quiet)
		ui_msgbox(m->ui, UI_BG_WARNING, "LUKS", "No LUKS container was found.");
	if (c->n > 64) { /* the DRK check reports with a 64-bit mask */
		ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: LUKS containers",
			  "More than 64 LUKS containers: not supported.");
		containers_free(c);
		return -E2BIG;
	}
	return 0;
}

/* The Disk Recovery Key (flow/duk_setup.h), for the containers of c. */
static int get_drk(struct menu *m, struct containers *c, const struct secret *known,
		   const char *why, struct secret **ret)
{
	struct session s = menu_session(m);
	return flow_luks_drk(&s, c->v, &c->n, known, why, ret);
}

/* --- Disk Unlock Key setup (flow/duk.c) ---------------------------------- */

static int duk_setup_on(struct menu *m, struct containers *c, const struct secret *drk,
			const struct secret *owner_in, const char *key)
{
	struct session s = menu_session(m);
	struct flow_duk_setup a = {
		.bootdir = m->bootdir,
		.devices = c->v,
		.n_devices = c->n,
		.drk = drk,
		.owner = owner_in,
		.pcr = {.eventlog = m->eventlog, .trace = m->trace, .modules = m->modules,
			.pcr7 = m->have_next_pcr7 ? m->next_pcr7 : NULL,
			.pcr2 = m->have_next_pcr2 ? m->next_pcr2 : NULL},
		.key = key,
	};
	struct duk_setup_result res;
	_cleanup_free_ char *report = NULL;
	int r;

	r = flow_duk_setup(&s, &a, &res);
	c->n = a.n_devices; /* narrowed to the containers the DRK opens */
	if (ui_gone(r))
		return r;
	if (r == -EPERM || r == -EMEDIUMTYPE || r == -ECANCELED || r == -E2BIG)
		return 0; /* told */
	if (r < 0) {
		_cleanup_free_ char *e = xasprintf(
			"Setting up the Disk Unlock Key failed: %s (details in the log).\n\n"
			"Containers that got the key keep an unused key slot; the next setup "
			"wipes it. /boot was %s.", strerror(-r),
			r == -EACCES || r == -ECANCELED ? "not re-signed" : "left as it was");
		/* -EBADMSG: /boot did not verify, nothing was changed. */
		ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: Disk Unlock Key", e);
		return 0;
	}
	report = xstrdup("");
	for (size_t i = 0; i < c->n; i++)
		str_appendf(&report, "%s: Disk Unlock Key in key slot %d, Disk Recovery Key in "
			    "slot %d\n", c->v[i].path, res.duk_slot[i], res.drk_slot[i]);
	{
		_cleanup_free_ char *t2 = xasprintf(
			"%s\nSealed in the TPM to PCRs 0-7 of the next boot and your passphrase.\n"
			"crypttab for the OS: %s.\n/boot re-signed (key %s).\n\nReboot: the "
			"Default boot then asks for the Disk Unlock Key passphrase.", report,
			res.crypttab_from_initrd ? "from the default entry's initrd" :
						   "generic lines", res.fpr);
		r = ui_textbox(m->ui, UI_BG_NORMAL, "Disk Unlock Key set up", t2);
	}
	return ui_gone(r) ? r : 0;
}

enum flow_outcome menu_duk_setup(struct menu *m, const struct secret *drk, const struct secret *owner,
		   const char *key, bool ask)
{
	struct containers c;
	int r;

	if (!m->tpm_on || config_enabled(&m->cfg, "CONFIG_TPM_NO_LUKS_DISK_UNLOCK")) {
		if (!ask)
			ui_msgbox(m->ui, UI_BG_WARNING, "Disk Unlock Key",
				  m->tpm_on ? "The Disk Unlock Key is disabled on this board "
					      "(CONFIG_TPM_NO_LUKS_DISK_UNLOCK)." :
					      "The Disk Unlock Key needs a TPM (CONFIG_TPM).");
		return FLOW_BACK;
	}
	if (ask) {
		/* Offered, not forced: no container, no question. */
		if ((r = select_containers(m, &c, true)) < 0)
			return menu_gone_or_back(r);
		if (c.n == 0) {
			containers_free(&c);
			return FLOW_BACK;
		}
		_cleanup_free_ char *list = names(&c, all_of(c.n));
		_cleanup_free_ char *q = xasprintf(
			"LUKS containers (%s):\n%s\nDo you wish to add a LUKS TPM Disk Unlock Key "
			"(DUK)? The OS then boots with a passphrase of yours checked by the TPM "
			"instead of the Disk Recovery Key.", c.source, list);
		r = ui_yesno(m->ui, UI_BG_NORMAL, "Disk Unlock Key (optional)", q);
		if (r != 1) {
			containers_free(&c);
			return menu_gone_or_back(r);
		}
	} else if ((r = select_containers(m, &c, false)) < 0 || c.n == 0) {
		containers_free(&c);
		return menu_gone_or_back(r);
	}
	r = duk_setup_on(m, &c, drk, owner, key);
	containers_free(&c);
	return menu_gone_or_back(r);
}

/* Offer to reseal a configured DUK: why (the question's first paragraph),
 * drk/owner: already known or NULL (asked). */
static int offer_reseal(struct menu *m, const struct secret *drk, const struct secret *owner,
			const char *title, const char *why)
{
	struct containers c;
	int r;

	if (!m->tpm_on || config_enabled(&m->cfg, "CONFIG_TPM_NO_LUKS_DISK_UNLOCK") ||
	    !menu_boot_has(m, DUK_KEY_DEVICES_FILE))
		return 0;
	_cleanup_free_ char *q = xasprintf("%s\n\nReseal the Disk Unlock Key now?", why);
	if ((r = menu_yes(m, UI_BG_WARNING, title, q)) != 1)
		return r;
	if ((r = select_containers(m, &c, false)) < 0 || c.n == 0) {
		containers_free(&c);
		return ui_gone(r) ? r : 0;
	}
	r = duk_setup_on(m, &c, drk, owner, NULL);
	containers_free(&c);
	return r;
}

int menu_duk_reseal_after_totp(struct menu *m, const struct secret *owner)
{
	return offer_reseal(m, NULL, owner, "Disk Unlock Key",
			    "A new TOTP secret was sealed to the PCRs of this firmware. The Disk "
			    "Unlock Key is sealed to the same measurements (PCRs 0-7): if the "
			    "firmware or its configuration changed, it no longer unseals either.");
}

/* The per-container report of a header change (red unless all of the n
 * containers succeeded), then the reseal offer if any changed. */
static int report_and_reseal(struct menu *m, size_t n, size_t done, const char *ok_title,
			     const char *bad_title, const char *report, const struct secret *drk,
			     bool reencrypted)
{
	int r = ui_textbox(m->ui, done == n ? UI_BG_NORMAL : UI_BG_ERROR,
			   done == n ? ok_title : bad_title, report);
	if (ui_fatal(r))
		return r;
	if (!done)
		return 0;
	_cleanup_free_ char *why = xasprintf(
		"The LUKS headers changed%s: the Disk Unlock Key is now INVALID (it was sealed "
		"to the old headers, PCR 6). Until it is resealed, booting asks for the Disk "
		"Recovery Key.", reencrypted ? " and the reencryption dropped its key slot" : "");
	return offer_reseal(m, drk, NULL, "Disk Unlock Key invalid", why);
}

/* --- reencryption (Options C, reference 5.3) ---------------------------- */

struct progress_ctx {
	struct menu *m;
	size_t index, count;
};

static void reencrypt_progress(void *userdata, const char *device, uint64_t done,
			       uint64_t total, double rate, double eta)
{
	struct progress_ctx *p = userdata;
	unsigned pct = total ? (unsigned)(done * 100 / total) : 100;
	_cleanup_free_ char *t = xasprintf("%s (%zu of %zu): %llu/%llu MiB, %.1f MiB/s, ETA "
					   "%d:%02d", device, p->index + 1, p->count,
					   (unsigned long long)(done >> 20),
					   (unsigned long long)(total >> 20), rate / 1048576.0,
					   (int)eta / 60, (int)eta % 60);
	ui_progress(p->m->ui, "LUKS reencryption", t, pct);
}

/* Before container i: the gauge of the previous one ends. */
static void reencrypt_next(void *userdata, size_t i)
{
	struct progress_ctx *p = userdata;
	ui_progress_end(p->m->ui);
	p->index = i;
}

/* Crash-safe (default) or fast: the fast mode is an explicit, warned
 * choice. 1 crash-safe, 0 fast, <0 cancelled / UI error. */
static int choose_resilience(struct menu *m)
{
	static const struct ui_item items[] = {
		{"s", "Crash-safe (checksum resilience; an interruption is resumed)"},
		{"f", "Fast, NOT crash-safe (a power loss destroys data)"},
		{"c", "Cancel"},
	};
	int r = ui_menu(m->ui, UI_BG_NORMAL, "LUKS reencryption mode",
			"How should the containers be reencrypted?", items, ARRAY_SIZE(items), 0);
	if (r < 0)
		return r;
	if (r == 2)
		return -ECANCELED;
	if (r == 0)
		return 1;
	r = ui_yesno(m->ui, UI_BG_ERROR, "Fast reencryption: DANGER",
		     "Fast reencryption keeps no copy of the data being rewritten.\n\nIf the "
		     "machine loses power or crashes while it runs, THE DATA OF THE CONTAINER "
		     "IS DESTROYED and cannot be recovered.\n\nUse the fast mode anyway?");
	if (r < 0)
		return r;
	return r == 1 ? 0 : -ECANCELED;
}

enum flow_outcome menu_luks_reencrypt(struct menu *m)
{
	_cleanup_secret_ struct secret *drk = NULL;
	_cleanup_free_ char *list = NULL, *q = NULL, *report = NULL;
	struct containers c;
	size_t done = 0;
	int r, safe;

	if ((r = select_containers(m, &c, false)) < 0 || c.n == 0) {
		containers_free(&c);
		return menu_gone_or_back(r);
	}
	r = get_drk(m, &c, NULL, "Reencryption gives each container a new volume key. Only "
		    "the Disk Recovery Key is kept: every other key slot (the Disk Unlock Key) "
		    "is dropped.", &drk);
	if (r < 0)
		goto out;
	if ((r = safe = choose_resilience(m)) < 0)
		goto out;
	list = names(&c, all_of(c.n));
	q = xasprintf("Reencrypt these containers (from %s) with new volume keys?\n%s\n%s\n\n"
		      "This takes a while (the whole container is rewritten).", c.source, list,
		      safe ? "Crash-safe: if it is interrupted, choose this option again to "
			     "resume." :
			     "FAST MODE: DO NOT POWER DOWN until it is done.");
	r = ui_yesno(m->ui, safe ? UI_BG_WARNING : UI_BG_ERROR, "LUKS reencryption", q);
	if (r != 1) {
		r = r == 0 ? -ECANCELED : r;
		goto out;
	}
	{
		/* The flow `heads luks reencrypt` runs (flow/luks_ops.h): SIGINT
		 * and SIGTERM stop at the next hotzone, resumable. */
		struct progress_ctx p = {.m = m, .count = c.n};
		struct luks_opts lo = {.progress = reencrypt_progress, .userdata = &p,
				       .resilience = safe ? "checksum" : "none"};
		struct flow_luks_result *res = xcalloc(c.n, sizeof(*res));
		done = flow_luks_reencrypt(c.v, c.n, drk, &lo, reencrypt_next, &p, res);
		ui_progress_end(m->ui);
		report = xstrdup("");
		for (size_t i = 0; i < c.n; i++) {
			size_t before = strlen(report);
			r = res[i].r;
			if (r == 0)
				str_appendf(&report, "%s: reencrypted%s (Disk Recovery Key in slot "
					    "%d)\n", c.v[i].path, res[i].resumed ? " (resumed)" : "",
					    res[i].slot);
			else
				str_appendf(&report, "%s: %s\n", c.v[i].path,
					    r == -EOPNOTSUPP ? "NOT reencrypted: not supported for "
							       "this container (LUKS1?)" :
					    r == -EINTR ? "INTERRUPTED (choose the option again to "
							  "resume)" :
							  "FAILED (details in the log)");
			log_info("%.*s", (int)(strlen(report) - before - 1), report + before);
		}
		free(res);
	}
	r = report_and_reseal(m, c.n, done, "LUKS reencryption done",
			      "LUKS reencryption incomplete", report, drk, true);
out:
	containers_free(&c);
	return menu_gone_or_back(r);
}

/* --- Disk Recovery Key passphrase change (Options P, reference 5.4) ---- */

enum flow_outcome menu_luks_change_drk(struct menu *m)
{
	_cleanup_secret_ struct secret *drk = NULL, *newp = NULL;
	_cleanup_free_ char *report = NULL;
	struct containers c;
	size_t done = 0;
	int r;

	if ((r = select_containers(m, &c, false)) < 0 || c.n == 0) {
		containers_free(&c);
		return menu_gone_or_back(r);
	}
	r = get_drk(m, &c, NULL, "Current passphrase first.", &drk);
	if (r < 0)
		goto out;
	r = ui_msgbox(m->ui, UI_BG_NORMAL, "New Disk Recovery Key passphrase",
		      "Choose a long passphrase you will not forget: several random words "
		      "(Diceware) are easier to remember than a short complex password.\n\n"
		      "Without it (or a working Disk Unlock Key) the disk cannot be opened.");
	if (ui_fatal(r))
		goto out;
	r = menu_ask_new_passphrase(m, "New Disk Recovery Key passphrase",
				    "Disk Recovery Key passphrase", DRK_MIN, DRK_MAX, &newp);
	if (r < 0)
		goto out;
	{
		/* The flow `heads luks change-passphrase` runs (flow/luks_ops.h). */
		struct luks_opts lo = {0};
		struct flow_luks_result *res = xcalloc(c.n, sizeof(*res));
		ui_progress(m->ui, "Disk Recovery Key", "Changing the passphrase", 0);
		done = flow_luks_change_drk(c.v, c.n, drk, newp, &lo, NULL, NULL, res);
		ui_progress_end(m->ui);
		report = xstrdup("");
		for (size_t i = 0; i < c.n; i++) {
			if (res[i].r == 0)
				str_appendf(&report, "%s: %s (key slot %d)\n", c.v[i].path,
					    res[i].state == LUKS_CHANGED ? "changed" :
					    res[i].state == LUKS_COMPLETED ? "completed" :
					    "already changed", res[i].slot);
			else
				str_appendf(&report, "%s: FAILED: %s (the old passphrase still "
					    "opens it)\n", c.v[i].path,
					    res[i].r == -E2BIG ? "its key slot needs more memory "
					    "than the unlocking machine allows" :
					    res[i].r == -EACCES ? "neither passphrase opens it" :
					    "see the log");
		}
		free(res);
	}
	log_info("Disk Recovery Key change: %zu of %zu container(s)", done, c.n);
	r = report_and_reseal(m, c.n, done, "Disk Recovery Key changed",
			      "Disk Recovery Key change incomplete", report, newp, false);
out:
	containers_free(&c);
	return menu_gone_or_back(r);
}
