/* flow/usb.c - USB boot from the menu (issue 18; reference usb-init,
 * media-scan, kexec-iso-init, heads-behaviour.md 1.7): Boot Options -> u
 * and "No /boot partition found" -> u.
 *
 *   PCR 4 "usb" (once per boot, before any medium is read)
 *   -> media scan (removable disks, or the menu's --usb-device list)
 *   -> an ISO file, a dd-written ISO, or a USB disk with its own /boot
 *   -> ISO: its signature checked in one streaming pass (progress bar);
 *      not VERIFIED, a dd-written ISO or a USB disk: said plainly, an
 *      explicit "boot unsigned" (never under Restricted Boot), then PCR 4
 *      "unsafe" before its configuration is read
 *   -> entries ([OK]/[~]/[X] for an ISO file), confirm
 *   -> the plan (every kernel/initrd byte read once into a sealed memfd:
 *      ISO reads checked against the verification's chunk record; a USB
 *      disk through the unverified view) -> handover (PCR 4 already left,
 *      load, TPM finalize, exec; a dry run describes).
 *
 * The medium is mounted read-only (nosuid,nodev,noexec) on a private
 * temporary directory for the length of the flow and unmounted before it
 * returns; a dd-written ISO is read from the device, never mounted. The
 * Disk Unlock Key is never used on this road. */
#include "cmd/cmd.h"
#include "board.h"
#include "codec.h"
#include "config.h"
#include "flow/menu.h"
#include "fs.h"
#include "handover.h"
#include "iso/iso.h"
#include "iso/media.h"
#include "kexec.h"
#include "log.h"
#include "tpm/tpm.h"
#include "ui/ui.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#define USB_MAX_CHOICES 64
#define USB_SETTLE_MS 5000

enum usb_kind { USB_ISO_FILE, USB_ISO_DISK, USB_DISK };

struct usb_choice {
	enum usb_kind kind;
	const struct media_volume *v;
	const struct media_iso *iso; /* USB_ISO_FILE */
	char *label;
};

static int extend(struct menu *m, const char *what)
{
	_cleanup_tpm_ struct tpm *t = NULL;
	int r;

	if (!m->tpm_on)
		return 0;
	uint8_t v[32];
	size_t len = 0;
	char hex[65] = "?";

	r = menu_tpm_open(m, &t);
	/* the value before, in the log: a test (or an owner) can recompute
	 * what the booted system reads */
	if (r == 0 && tpm_pcr_read(t, tpm_bank(t), BOARD_PCR_BOOT_MODE, v, &len) == 0 &&
	    len <= sizeof(v))
		hex_encode(v, len, hex);
	if (r == 0)
		r = tpm_extend_string(t, BOARD_PCR_BOOT_MODE, what);
	if (r < 0)
		return log_error_errno(r, "extending PCR %d with \"%s\"", BOARD_PCR_BOOT_MODE, what);
	log_info("PCR %d extended with \"%s\" (it was %s)", BOARD_PCR_BOOT_MODE, what, hex);
	return 0;
}

/* ---- the medium, mounted for the flow --------------------------------- */

struct mounted {
	char *dir;
};

static int mount_volume(const struct media_volume *v, struct mounted *ret)
{
	const char *tmp = getenv("TMPDIR");
	char *dir = xasprintf("%s/heads-usb-XXXXXX", tmp && *tmp ? tmp : "/tmp");

	if (!mkdtemp(dir)) {
		int r = -errno;
		free(dir);
		return log_error_errno(r, "creating a mount point");
	}
	if (mount(v->device, dir, v->fstype, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  NULL) < 0) {
		int r = -errno;
		rmdir(dir);
		free(dir);
		return log_error_errno(r, "%s: cannot mount %s read-only", v->device, v->fstype);
	}
	ret->dir = dir;
	return 0;
}

static void unmount_volume(struct mounted *mt)
{
	if (!mt->dir)
		return;
	if (umount2(mt->dir, 0) < 0) {
		log_warn("%s: unmount: %s; detaching", mt->dir, strerror(errno));
		(void)umount2(mt->dir, MNT_DETACH);
	}
	rmdir(mt->dir);
	free(mt->dir);
	mt->dir = NULL;
}

/* ---- handing over ------------------------------------------------------ */

struct usb_handover_ctx {
	struct menu *m;
	struct kexec_plan *plan;
};

static void usb_before_exec(void *userdata)
{
	struct usb_handover_ctx *hc = userdata;
	ui_close(hc->m->ui);
	hc->m->ui = NULL;
}

/* PCR 4 has left its firmware value already ("usb", and "unsafe" for an
 * unsigned medium). Load (dry run: describe), TPM finalize, exec. */
/* "Cannot boot 'TITLE': why" in an error box; the box's result. */
static int refused(struct menu *m, const struct boot_entry *e, const char *why)
{
	_cleanup_free_ char *msg = xasprintf("Cannot boot '%s': %s", e->title, why);
	return ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: USB boot refused", msg);
}

static enum flow_outcome boot_plan(struct menu *m, struct kexec_plan *p, const char *title,
				   const char *source, const char *state)
{
	_cleanup_tpm_ struct tpm *t = NULL;
	struct usb_handover_ctx hc = {m, p};
	struct handover h = {.plan = p, .pcr4 = NULL, .dry_run = !m->live, .exec = true,
			     .before_exec = usb_before_exec, .userdata = &hc};
	enum handover_step step = HANDOVER_LOAD;
	int r = m->tpm_on ? menu_tpm_open(m, &t) : 0;

	if (r == 0) {
		h.tpm = t;
		r = handover_boot(&h, &step);
	}
	if (r < 0 && step != HANDOVER_EXEC) {
		_cleanup_free_ char *msg = xasprintf("Cannot boot '%s': %s failed: %s", title,
						     handover_step_name(step), strerror(-r));
		if (m->ui)
			ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: USB boot failed", msg);
		return FLOW_BACK;
	}
	if (r < 0) {
		log_error_errno(r, "kexec");
		return menu_finish(m, HEADS_EXIT_FAIL);
	}
	if (m->ui) {
		ui_close(m->ui);
		m->ui = NULL;
	}
	{
		_cleanup_free_ char *tt = str_escape_controls(title, false);
		printf("heads menu: usb boot (dry run): %s\n", tt);
	}
	printf("source: %s\n", source);
	printf("signature: %s\n", state);
	kexec_plan_describe(p, NULL, stdout);
	if (m->tpm_on) {
		uint8_t v[32];
		size_t len;
		char hex[65];
		if (t && tpm_pcr_read(t, tpm_bank(t), BOARD_PCR_BOOT_MODE, v, &len) == 0 &&
		    len <= sizeof(v)) {
			hex_encode(v, len, hex);
			printf("pcr4-value: %s\n", hex);
		}
		printf("tpm: finalized (platform hierarchy locked)\n");
	}
	fflush(stdout);
	return menu_finish(m, HEADS_EXIT_OK);
}

/* ---- the explicit choice for unsigned media ---------------------------- */

/* 1 the person chose to boot it (PCR 4 "unsafe" extended), 0 not (said
 * why), <0 a fatal UI error. */
static int unsafe_choice(struct menu *m, const char *what, const char *why)
{
	_cleanup_free_ char *t = NULL;
	int r;

	if (config_enabled(&m->cfg, "CONFIG_RESTRICTED_BOOT")) {
		t = xasprintf("%s\n\n%s\n\nRestricted Boot is enabled: only signed media boot.",
			      what, why);
		r = ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: Restricted Boot", t);
		return ui_fatal(r) ? r : 0;
	}
	t = xasprintf("%s\n\n%s\n\nNothing vouches for what this medium boots. Booting it "
		      "is an UNSAFE boot: PCR 4 is extended with \"unsafe\" now, so the TOTP "
		      "and the Disk Unlock Key will not unseal until you reboot.\n\n"
		      "Boot it anyway?", what, why);
	r = menu_yes(m, UI_BG_ERROR, "UNSIGNED USB BOOT WARNING", t);
	if (r != 1)
		return r;
	if (!m->usb_unsafe_extended && extend(m, "unsafe") < 0) {
		r = ui_msgbox(m->ui, UI_BG_ERROR, "ERROR", "PCR 4 could not be extended: not booting.");
		return ui_fatal(r) ? r : 0;
	}
	m->usb_unsafe_extended = true; /* once per boot, like "usb" */
	snprintf(m->totp, sizeof(m->totp), "UNSAFE BOOT");
	m->bg = UI_BG_ERROR;
	menu_refresh_status(m);
	return 1;
}

/* ---- ISO ---------------------------------------------------------------- */

struct iso_progress {
	struct menu *m;
	const char *name;
	int last;
};

static void on_iso_progress(void *ud, uint64_t done, uint64_t total)
{
	struct iso_progress *p = ud;
	int pct = total ? (int)(done * 100 / total) : 100;

	if (pct / 5 == p->last / 5 && done != total)
		return;
	p->last = pct;
	_cleanup_free_ char *t = xasprintf("Checking %s (%llu of %llu MiB)", p->name,
					   (unsigned long long)(done >> 20),
					   (unsigned long long)(total >> 20));
	(void)ui_progress(p->m->ui, "Verifying the ISO", t, (unsigned)pct);
}

/* ---- a key file from the medium (UNKNOWN KEY) --------------------------- */

struct key_list {
	char *text;
};

static void on_key(void *ud, const char *fpr, const char *uid)
{
	struct key_list *k = ud;
	_cleanup_free_ char *u = str_escape_controls(uid ? uid : "", false);
	str_appendf(&k->text, "%s\n  %s\n", fpr, u);
}

struct verify_ud {
	struct iso_progress pg;
	struct key_list keys;
};

static void on_verify_progress(void *ud, uint64_t done, uint64_t total)
{
	on_iso_progress(&((struct verify_ud *)ud)->pg, done, total);
}

static void on_verify_key(void *ud, const char *fpr, const char *uid)
{
	on_key(&((struct verify_ud *)ud)->keys, fpr, uid);
}

/* The signature is by a key outside the ROM keyring: offer to check it
 * with a public key file from the same medium, shown by fingerprint and
 * trusted for this boot only after the person says so (the key goes into
 * the check's temporary keyring only). 0 go on (res updated when the key
 * was trusted), 1 back, <0 a fatal UI error. */
static int offer_key_file(struct menu *m, struct iso_file *f, const struct mounted *mt,
			  const char *iso_path, struct iso_verify_result *res)
{
	static const struct ui_item items[] = {
		{"k", "Check it with a public key file from the USB drive"},
		{"u", "Go on without it (unsigned: asks before booting)"},
		{"x", "Back"},
	};
	_cleanup_free_ char *text = xasprintf(
		"%s is signed by key %s, which is not in the ROM keyring.\n\nA public key file "
		"from the USB drive can check it for this boot: its fingerprint is shown before "
		"anything boots. Compare it with the one the distribution publishes.",
		iso_path, res->fpr[0] ? res->fpr : "(unknown)");
	int r = ui_menu(m->ui, UI_BG_WARNING, "ISO signed by an unknown key", text, items,
			ARRAY_SIZE(items), 1);

	if (ui_fatal(r))
		return r;
	if (r != 0)
		return r == 1 ? 0 : 1;
	_cleanup_free_ char *in = NULL;
	r = ui_input(m->ui, "Public key file", "Path of the key file on the USB drive", NULL, &in);
	if (r < 0)
		return ui_fatal(r) ? r : 0;
	const char *rel = in;
	while (*rel == '/')
		rel++;
	_cleanup_close_ int dfd = open(mt->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_close_ int kfd = dfd < 0 || !*rel ? -EINVAL :
				  fs_open_beneath(dfd, rel, O_RDONLY | O_CLOEXEC, 0);
	if (kfd < 0) {
		_cleanup_free_ char *t = xasprintf("%s: cannot open it on the USB drive (%s).", in,
						   strerror(-kfd));
		r = ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: key file", t);
		return ui_fatal(r) ? r : 0;
	}
	_cleanup_free_ char *kpath = xasprintf("/proc/self/fd/%d", kfd);
	struct verify_ud ud = {.pg = {m, iso_path, -1}};
	struct iso_verify_opts vo = {.keyring_dir = m->keyring, .key_file = kpath,
				     .key_imported = on_verify_key, .progress = on_verify_progress,
				     .userdata = &ud};
	struct iso_verify_result kres;
	r = iso_verify(f, &vo, &kres);
	ui_progress_end(m->ui);
	if (r < 0 || kres.state != ISO_VERIFIED) {
		_cleanup_free_ char *t = xasprintf(
			"With the key file %s the ISO does not verify either: %s%s%s\n\nKeys in "
			"the file:\n%s", in, r < 0 ? "the check could not run: " :
			iso_sig_state_name(kres.state), r < 0 ? strerror(-r) : ": ",
			r < 0 ? "" : kres.detail, ud.keys.text ? ud.keys.text : "(none)\n");
		free(ud.keys.text);
		r = ui_msgbox(m->ui, UI_BG_ERROR, "ISO not verified", t);
		return ui_fatal(r) ? r : 0;
	}
	_cleanup_free_ char *t = xasprintf(
		"The ISO verifies with a key from %s on the USB drive:\n\nSigner: %s\n\nKeys in the "
		"file:\n%s\nDoes the signer's fingerprint match the one the distribution "
		"publishes? Trust this key for this boot?", in, kres.fpr,
		ud.keys.text ? ud.keys.text : "");
	free(ud.keys.text);
	r = menu_yes(m, UI_BG_WARNING, "Trust this key?", t);
	if (r < 0)
		return r;
	if (r == 1) {
		log_info("%s: verified with the key file %s, signer %s (trusted by the user)",
			 iso_path, in, kres.fpr);
		*res = kres;
		snprintf(res->method + strlen(res->method), sizeof(res->method) - strlen(res->method),
			 " + key file %s", in);
	}
	return 0;
}

/* The ISO's entries with their marks; the chosen one confirmed and booted.
 * info NULL: a dd-written image (entries as its configuration has them). */
static enum flow_outcome iso_choose_and_boot(struct menu *m, struct iso_file *f,
					     const struct iso9660_tree *tree,
					     struct boot_entries *l, const struct iso_entry_info *info,
					     const char *source, const char *state)
{
	struct ui_item *items = xcalloc(l->n, sizeof(*items));
	char **labels = xcalloc(l->n * 2, sizeof(char *));
	enum flow_outcome o = FLOW_BACK;
	int r;

	for (size_t i = 0; i < l->n; i++) {
		labels[2 * i] = xasprintf("%zu", i + 1);
		labels[2 * i + 1] = xasprintf("%s %s", info ? iso_compat_mark(info[i].compat) : "[~]",
					      l->v[i].title);
		items[i] = (struct ui_item){labels[2 * i], labels[2 * i + 1]};
	}
	for (;;) {
		_cleanup_free_ char *text = xasprintf(
			"%s\nSignature: %s\n\n[OK] the family's documented ISO parameter is added, "
			"[~] may work, [X] cannot boot from an ISO file.", source, state);
		r = ui_menu(m->ui, UI_BG_NORMAL, "Select the ISO's boot option", text, items, l->n, 0);
		if (r < 0) {
			o = menu_outcome(m, r);
			break;
		}
		const struct boot_entry *e = &l->v[r];
		char *t = NULL;
		str_appendf(&t, "%s\n\n", e->title);
		if (info)
			str_appendf(&t, "%s %s: %s\n", iso_compat_mark(info[r].compat),
				    iso_family_name(info[r].family), info[r].why);
		else
			str_appendf(&t, "[~] a dd-written image: booted as its own medium\n");
		str_appendf(&t, "Kernel: %s\n", e->kernel ? e->kernel : "");
		for (size_t i = 0; i < e->n_initrd; i++)
			str_appendf(&t, "Initrd: %s\n", e->initrd[i]);
		str_appendf(&t, "Final command line: %s\n", e->cmdline ? e->cmdline : "");
		int c = menu_yes(m, info && info[r].compat == ISO_COMPAT_NO ? UI_BG_WARNING :
				 UI_BG_NORMAL, "Confirm USB boot", t);
		free(t);
		if (c < 0) {
			o = menu_outcome(m, c);
			break;
		}
		if (c == 0)
			continue;
		struct kexec_plan p = {.initrd_fd = -1, .kernel = {.fd = -1}};
		r = iso_plan_build(f, tree, e, config_get(&m->cfg, "CONFIG_BOOT_KERNEL_ADD"), &p);
		if (r < 0) {
			if (ui_gone(refused(m, e, r == -EBADMSG ?
					    "the ISO changed since it was verified" :
					    r == -EOPNOTSUPP ?
					    "Xen/multiboot entries are not booted from an ISO" :
					    strerror(-r)))) {
				o = FLOW_UI_GONE;
				break;
			}
			continue;
		}
		o = boot_plan(m, &p, e->title, source, state);
		kexec_plan_free(&p);
		break;
	}
	for (size_t i = 0; i < l->n * 2; i++)
		free(labels[i]);
	free(labels);
	free(items);
	return o;
}

static enum flow_outcome boot_iso(struct menu *m, const struct usb_choice *c)
{
	struct mounted mt = {0};
	struct iso_file f;
	bool opened = false;
	struct iso9660_tree tree = {0};
	struct boot_entries l = {.default_index = -1};
	struct iso_entry_info *info = NULL;
	struct iso_overrides ov = {0};
	_cleanup_free_ char *source = NULL, *device = NULL, *remove_all = NULL;
	enum flow_outcome o = FLOW_BACK;
	struct iso_verify_result res = {.state = ISO_NO_SIGNATURE};
	const char *state;
	int r;

	if (c->kind == USB_ISO_FILE) {
		r = mount_volume(c->v, &mt);
		if (r < 0) {
			_cleanup_free_ char *t = xasprintf("%s: cannot mount it read-only: %s",
							   c->v->device, strerror(-r));
			return menu_outcome(m, ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: USB boot", t));
		}
		_cleanup_free_ char *path = xasprintf("%s%s", mt.dir, c->iso->path);
		if (iso_open(path, &f) < 0) {
			_cleanup_free_ char *t = xasprintf("%s on %s cannot be opened.", c->iso->path,
							   c->v->device);
			o = menu_outcome(m, ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: USB boot", t));
			goto out;
		}
		source = xasprintf("ISO %s on %s", c->iso->path, c->v->device);
	} else {
		uint64_t size = 0;
		int fd = open(c->v->device, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0 || ioctl(fd, BLKGETSIZE64, &size) < 0) {
			_cleanup_free_ char *t = xasprintf("%s: %s", c->v->device, strerror(errno));
			if (fd >= 0)
				close(fd);
			return menu_outcome(m, ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: USB boot", t));
		}
		iso_open_fd(fd, c->v->device, size, &f);
		source = xasprintf("ISO image written to %s", c->v->device);
	}
	opened = true;

	/* Plan what parsing and loading will read, so the one verifying pass
	 * records those chunks (iso.h: bytes verified = bytes used). */
	{
		struct iso9660_tree t0 = {0};
		struct boot_entries l0 = {.default_index = -1};
		if (iso_entries(&f, &t0, &l0) >= 0)
			iso_mark_entries(&f, &t0, &l0);
		boot_entries_free(&l0);
		iso9660_tree_free(&t0);
	}
	if (c->kind == USB_ISO_FILE) {
		struct iso_progress pg = {m, c->iso->path, -1};
		struct iso_verify_opts vo = {.keyring_dir = m->keyring, .progress = on_iso_progress,
					     .userdata = &pg};
		r = iso_verify(&f, &vo, &res);
		ui_progress_end(m->ui);
		if (r < 0) {
			res.state = ISO_INVALID;
			snprintf(res.detail, sizeof(res.detail), "the check could not run: %s",
				 strerror(-r));
		}
		log_info("%s: %s%s%s", c->iso->path, iso_sig_state_name(res.state),
			 res.state == ISO_VERIFIED ? " by " : ": ",
			 res.state == ISO_VERIFIED ? res.fpr : res.detail);
	} else {
		snprintf(res.detail, sizeof(res.detail), "an image written to the drive has no "
			 "signature beside it");
	}
	if (res.state == ISO_UNKNOWN_KEY && c->kind == USB_ISO_FILE) {
		r = offer_key_file(m, &f, &mt, c->iso->path, &res);
		if (r != 0) {
			o = r == 1 ? FLOW_BACK : menu_outcome(m, r);
			goto out;
		}
	}
	state = iso_sig_state_name(res.state);
	if (res.state != ISO_VERIFIED) {
		_cleanup_free_ char *what = xasprintf("%s\n\nSignature: %s", source, state);
		r = unsafe_choice(m, what, res.detail);
		if (r <= 0) {
			o = menu_outcome(m, r);
			goto out;
		}
	} else {
		_cleanup_free_ char *t = xasprintf("%s\n\nSignature: VERIFIED (%s)\nSigner: %s",
						   source, res.method, res.fpr);
		r = ui_msgbox(m->ui, UI_BG_NORMAL, "ISO verified", t);
		if (ui_fatal(r)) {
			o = menu_outcome(m, r);
			goto out;
		}
	}

	r = iso_entries(&f, &tree, &l);
	if (r < 0 || l.n == 0) {
		_cleanup_free_ char *t = xasprintf("%s: no boot entry could be read from its "
						   "configuration%s%s.", source, r < 0 ? ": " : "",
						   r < 0 ? strerror(-r) : "");
		o = menu_outcome(m, ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: No boot options", t));
		goto out;
	}
	if (c->kind == USB_ISO_FILE) {
		const struct media_volume *v = c->v;
		struct iso_boot_opts bo = {
			.iso_path = c->iso->path,
			.uuid = v->uuid,
			.remove = config_get(&m->cfg, "CONFIG_BOOT_KERNEL_REMOVE"),
		};
		device = v->uuid ? xasprintf("/dev/disk/by-uuid/%s", v->uuid) : xstrdup(v->device);
		bo.device = device;
		/* Per-ISO overrides (reference kexec_iso/<path>/ on the medium),
		 * used only under their own signed kexec.sig. */
		_cleanup_free_ char *odir = xasprintf("%s/kexec_iso%s", mt.dir, c->iso->path);
		r = iso_overrides_load(odir, m->keyring, bo.iso_path, bo.uuid, &ov);
		if (r < 0) {
			_cleanup_free_ char *t = xasprintf("kexec_iso%s: the ISO's overrides are "
							   "refused (%s).", c->iso->path, strerror(-r));
			o = menu_outcome(m, ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: USB boot", t));
			goto out;
		}
		if (ov.present) {
			log_info("kexec_iso%s: signed ISO overrides used", c->iso->path);
			bo.replace_add = ov.add;
			remove_all = xasprintf("%s %s", bo.remove ? bo.remove : "",
					       ov.remove ? ov.remove : "");
			bo.remove = remove_all;
		}
		info = xcalloc(l.n, sizeof(*info));
		for (size_t i = 0; i < l.n; i++)
			iso_entry_prepare(&l.v[i], &tree, &bo, &info[i]);
	} else {
		/* a dd-written image: its own command lines, the board's
		 * removals applied (the additions come with the plan) */
		const char *rm = config_get(&m->cfg, "CONFIG_BOOT_KERNEL_REMOVE");
		for (size_t i = 0; i < l.n; i++) {
			char *cl = bootcfg_build_cmdline(l.v[i].cmdline, NULL, rm, NULL, NULL);
			free(l.v[i].cmdline);
			l.v[i].cmdline = cl;
		}
	}
	o = iso_choose_and_boot(m, &f, &tree, &l, info, source, state);
out:
	for (size_t i = 0; info && i < l.n; i++)
		iso_entry_info_free(&info[i]);
	free(info);
	iso_overrides_free(&ov);
	boot_entries_free(&l);
	iso9660_tree_free(&tree);
	if (opened)
		iso_close(&f);
	unmount_volume(&mt);
	return o;
}

/* ---- a USB disk with its own /boot ------------------------------------- */

static enum flow_outcome boot_disk(struct menu *m, const struct usb_choice *c)
{
	struct mounted mt = {0};
	_cleanup_view_ struct boot_view *view = NULL;
	struct boot_entries l = {.default_index = -1};
	_cleanup_free_ char *source = xasprintf("USB disk %s (%s%s%s)", c->v->device,
						 c->v->fstype, c->v->label ? " " : "",
						 c->v->label ? c->v->label : "");
	enum flow_outcome o = FLOW_BACK;
	int r;

	r = unsafe_choice(m, source, "A USB disk's /boot is not signed by your key: its "
			  "kernel and initrd are read as they are.");
	if (r <= 0)
		return menu_outcome(m, r);
	r = mount_volume(c->v, &mt);
	if (r == 0)
		r = boot_view_open(mt.dir, NULL, &view);
	if (r == 0)
		r = bootcfg_scan(view, &l);
	if (r < 0 || l.n == 0) {
		_cleanup_free_ char *t = xasprintf("%s: no boot entries found%s%s.", source,
						   r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
		o = menu_outcome(m, ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: No boot options", t));
		goto out;
	}
	for (;;) {
		r = menu_choose_entry(m, UI_BG_ERROR, "UNSAFE USB boot: select your boot option",
				      source, &l, l.default_index >= 0 ? (size_t)l.default_index : 0);
		if (r < 0) {
			o = menu_outcome(m, r);
			break;
		}
		const struct boot_entry *e = &l.v[r];
		struct kexec_opts ko;
		struct kexec_plan p = {.initrd_fd = -1, .kernel = {.fd = -1}};
		kexec_opts_init(&ko);
		ko.board_add = config_get(&m->cfg, "CONFIG_BOOT_KERNEL_ADD");
		ko.remove = config_get(&m->cfg, "CONFIG_BOOT_KERNEL_REMOVE");
		r = kexec_plan_build(view, e, &ko, &p);
		if (r < 0) {
			if (ui_gone(refused(m, e, strerror(-r)))) {
				o = FLOW_UI_GONE;
				break;
			}
			continue;
		}
		o = boot_plan(m, &p, e->title, source, "none (unsigned USB disk)");
		kexec_plan_free(&p);
		break;
	}
out:
	boot_entries_free(&l);
	boot_view_free(TAKE_PTR(view));
	unmount_volume(&mt);
	return o;
}

/* ---- the flow ------------------------------------------------------------ */

static void choices_free(struct usb_choice *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].label);
	free(v);
}

enum flow_outcome menu_usb_boot(struct menu *m)
{
	char **disks = NULL;
	size_t n_disks = 0;
	struct media_scan s = {0};
	struct usb_choice *ch = NULL;
	size_t n = 0;
	enum flow_outcome o = FLOW_BACK;
	int r;

	/* Reference usb-init: PCR 4 "usb" before any medium is read. */
	if (!m->usb_extended) {
		if (extend(m, "usb") < 0) {
			r = ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: USB boot",
				      "PCR 4 could not be extended: not booting from USB.");
			return menu_outcome(m, r);
		}
		m->usb_extended = true;
		if (m->tpm_on) {
			snprintf(m->totp, sizeof(m->totp), "USB BOOT");
			if (m->bg == UI_BG_NORMAL)
				m->bg = UI_BG_WARNING;
			menu_refresh_status(m);
		}
	}
	if (m->n_usb_devices) {
		disks = xcalloc(m->n_usb_devices, sizeof(char *));
		for (size_t i = 0; i < m->n_usb_devices; i++)
			disks[n_disks++] = xstrdup(m->usb_devices[i]);
	} else {
		/* A drive plugged in (or found at power-on) shows up after the
		 * USB storage driver's settle time (usb-storage delay_use, 1 s
		 * by default): wait up to USB_SETTLE_MS for the first one. */
		for (unsigned waited = 0;; waited += 250) {
			if ((r = media_discover(&disks, &n_disks)) < 0)
				return menu_outcome(m, ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: USB boot",
								 "The block devices could not be "
								 "listed."));
			if (n_disks || waited >= USB_SETTLE_MS)
				break;
			media_strv_free(disks, n_disks);
			disks = NULL;
			(void)ui_progress(m->ui, "USB boot", "Waiting for a USB drive",
					  waited * 100 / USB_SETTLE_MS);
			usleep(250 * 1000);
		}
		ui_progress_end(m->ui);
	}
	if (!n_disks) {
		media_strv_free(disks, n_disks);
		return menu_outcome(m, ui_msgbox(m->ui, UI_BG_WARNING, "USB boot",
						 "No USB drive found. Insert one and try again."));
	}
	r = media_scan(disks, n_disks, &s);
	media_strv_free(disks, n_disks);
	if (r < 0)
		return menu_outcome(m, ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: USB boot",
						 "The USB drives could not be read (see the log)."));
	for (size_t i = 0; i < s.n && n < USB_MAX_CHOICES; i++) {
		const struct media_volume *v = &s.v[i];
		if (v->status != MEDIA_OK) {
			if (v->error)
				log_warn("%s", v->error);
			continue;
		}
		bool iso9660 = v->fstype && streq(v->fstype, "iso9660");
		for (size_t k = 0; !iso9660 && k < v->n_isos && n < USB_MAX_CHOICES; k++) {
			ch = xrealloc(ch, (n + 1) * sizeof(*ch));
			ch[n++] = (struct usb_choice){
				USB_ISO_FILE, v, &v->isos[k],
				xasprintf("ISO %s on %s (%s)", v->isos[k].path, v->device,
					  v->isos[k].signature ? v->isos[k].signature : "unsigned")};
		}
		if (v->entries.n && n < USB_MAX_CHOICES) {
			ch = xrealloc(ch, (n + 1) * sizeof(*ch));
			ch[n++] = (struct usb_choice){
				iso9660 ? USB_ISO_DISK : USB_DISK, v, NULL,
				xasprintf("%s %s (%s%s%s): %zu boot entr%s", iso9660 ? "ISO image on" :
					  "USB disk", v->device, v->fstype, v->label ? " " : "",
					  v->label ? v->label : "", v->entries.n,
					  v->entries.n == 1 ? "y" : "ies")};
		}
	}
	if (!n) {
		o = menu_outcome(m, ui_msgbox(m->ui, UI_BG_WARNING, "USB boot",
					      "No ISO file and no boot configuration found on the "
					      "USB drives."));
		goto out;
	}
	{
		struct ui_item *items = xcalloc(n, sizeof(*items));
		char **keys = xcalloc(n, sizeof(char *));
		for (size_t i = 0; i < n; i++) {
			keys[i] = xasprintf("%zu", i + 1);
			items[i] = (struct ui_item){keys[i], ch[i].label};
		}
		r = ui_menu(m->ui, UI_BG_NORMAL, "USB boot", "Select an ISO file or a USB disk to "
			    "boot:", items, n, 0);
		for (size_t i = 0; i < n; i++)
			free(keys[i]);
		free(keys);
		free(items);
	}
	if (r < 0)
		o = menu_outcome(m, r);
	else if (ch[r].kind == USB_DISK)
		o = boot_disk(m, &ch[r]);
	else
		o = boot_iso(m, &ch[r]);
out:
	choices_free(ch, n);
	media_scan_free(&s);
	return o;
}
