/* flow/flash.c - Options -> f, the reference's Flash / Update BIOS menu
 * (heads-behaviour.md 9): f flashes a new ROM keeping the owner's files
 * (the ROM keyring and config.user copied into the new image's CBFS), c
 * flashes it with them removed ("erase settings").
 *
 * The ROM file comes from a removable disk, read once into memory
 * (flow/flash_rom.c), and those bytes are what is checked, shown
 * (SHA-256), predicted and flashed. The chip is CONFIG_FLASH_PROGRAMMER (flash.h's
 * syntax). Refused before anything is written: an image whose size is not
 * the chip's, or whose FMAP layout differs from the chip's.
 *
 * Updates that keep the attestation (f only): the next boot's PCR 2 is
 * coreboot's measurement of the new image (flash_predict_pcrs) and PCR 7
 * stays (the owner files are carried byte for byte, and init measures the
 * same board config and files). The prediction is used only when the
 * model reproduces this boot: PCR 2 computed from the chip's current image
 * must equal the TPM's PCR 2 now; otherwise (another build, another
 * measurement scheme, a chip that is no coreboot image) the user is told
 * what differs and the reference's way applies: flash, reboot, and seal a
 * new TOTP secret on the new firmware. With a prediction, the TOTP/HOTP
 * secret is sealed to it (owner passphrase, a new secret and QR code, as
 * every seal) and the Disk Unlock Key resealed, before the write; after
 * the reboot the TOTP matches at once.
 */
#include "board.h"
#include "cbfs.h"
#include "cbfs_write.h"
#include "cbstages.h"
#include "coreboot.h"
#include "codec.h"
#include "duk.h"
#include "flash.h"
#include "flow/menu.h"
#include "fs.h"
#include "iso/iso.h"
#include "iso/media.h"
#include "log.h"
#include "romcfg.h"
#include "tpm/tpm.h"
#include "tpm_otp.h"
#include "ui/ui.h"
#include "util.h"
#include "zip.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define FLASH_DIFF_MAX_LINES 40

/* --- checks and what changes ------------------------------------------- */

/* NULL when the new image's FMAP layout is the chip's (or the chip has no
 * FMAP and neither has the image), else why not (caller frees). */
static char *layout_mismatch(const uint8_t *cur, const uint8_t *img, size_t len)
{
	struct fmap a, b;
	bool ha = fmap_parse(cur, len, &a) == 0, hb = fmap_parse(img, len, &b) == 0;
	char *why = NULL;

	if (ha && !hb)
		why = xstrdup("the chip holds a flash map (FMAP) and the image has none: not an "
			      "image for this board");
	else if (!ha && hb)
		why = xstrdup("the image has a flash map (FMAP) and the chip's content has none");
	else if (ha && hb) {
		for (size_t i = 0; !why && i < a.n; i++) {
			const struct fmap_area *x = &a.areas[i], *y = fmap_find(&b, x->name);
			if (!y)
				why = xasprintf("the chip's region %s is not in the image", x->name);
			else if (x->offset != y->offset || x->size != y->size)
				why = xasprintf("region %s: the chip has it at 0x%x (0x%x bytes), the "
						"image at 0x%x (0x%x bytes)", x->name, x->offset,
						x->size, y->offset, y->size);
		}
		for (size_t i = 0; !why && i < b.n; i++)
			if (!fmap_find(&a, b.areas[i].name))
				why = xasprintf("the image's region %s is not on the chip",
						b.areas[i].name);
	}
	if (ha)
		fmap_free(&a);
	if (hb)
		fmap_free(&b);
	return why;
}

/* Append a line to a growing text. */
static void addf(char **t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void addf(char **t, const char *fmt, ...)
{
	va_list ap;
	char *line = NULL, *n;
	va_start(ap, fmt);
	if (vasprintf(&line, fmt, ap) < 0)
		abort();
	va_end(ap);
	n = xasprintf("%s%s", *t ? *t : "", line);
	free(line);
	free(*t);
	*t = n;
}

/* The FMAP regions and COREBOOT files that differ between the chip and
 * the image about to be written. */
static void describe_changes(char **t, const uint8_t *cur, const uint8_t *img, size_t len)
{
	struct fmap fm;
	struct cbfs a, b;
	unsigned lines = 0;

	if (fmap_parse(img, len, &fm) == 0) {
		addf(t, "Regions:");
		for (size_t i = 0; i < fm.n; i++) {
			const struct fmap_area *x = &fm.areas[i];
			if (x->offset > len || x->size > len - x->offset)
				continue;
			bool same = memcmp(cur + x->offset, img + x->offset, x->size) == 0;
			addf(t, " %s %s", x->name, same ? "unchanged" : "CHANGES");
			addf(t, i + 1 < fm.n ? "," : "\n");
		}
		fmap_free(&fm);
	} else {
		addf(t, "Whole image: %s\n", memcmp(cur, img, len) ? "CHANGES" : "unchanged");
	}
	if (cbfs_parse(cur, len, NULL, &a) < 0)
		return;
	if (cbfs_parse(img, len, NULL, &b) == 0) {
		for (size_t i = 0; i < b.n && lines < FLASH_DIFF_MAX_LINES; i++) {
			const struct cbfs_file *y = &b.files[i], *x;
			if (!*y->name)
				continue;
			x = cbfs_find(&a, y->name);
			if (!x) {
				addf(t, "  added   %s (%u bytes)\n", y->name, y->len);
				lines++;
			} else if (x->len != y->len ||
				   memcmp(cbfs_data(&a, x), cbfs_data(&b, y), y->len)) {
				addf(t, "  changed %s (%u -> %u bytes)\n", y->name, x->len, y->len);
				lines++;
			}
		}
		for (size_t i = 0; i < a.n && lines < FLASH_DIFF_MAX_LINES; i++)
			if (*a.files[i].name && !cbfs_find(&b, a.files[i].name)) {
				addf(t, "  removed %s\n", a.files[i].name);
				lines++;
			}
		if (lines == FLASH_DIFF_MAX_LINES)
			addf(t, "  (more files differ)\n");
		else if (lines == 0)
			addf(t, "  no CBFS file changes\n");
		cbfs_free(&b);
	}
	cbfs_free(&a);
}

/* --- the next boot's PCRs ------------------------------------------------ */

struct next_boot {
	bool ok;               /* the TOTP can be sealed to it before the write */
	char why[1280];        /* else: why not */
	uint8_t now2[32], next2[32], live7[32];
	bool have_live;
	int cfg_same;          /* flash_payload_same_file of etc/config */
};

static void hex_prefix(const uint8_t d[32], char out[17])
{
	char h[65];
	hex_encode(d, 32, h);
	memcpy(out, h, 16);
	out[16] = '\0';
}

static void predict(struct menu *m, const uint8_t *cur, const uint8_t *img, size_t len,
		    struct next_boot *nb)
{
	struct flash_pcrs now, next;
	_cleanup_tpm_ struct tpm *t = NULL;
	uint8_t live2[32];
	size_t dl = 0;
	int r;

	*nb = (struct next_boot){0};
	flash_predict_pcrs(cur, len, NULL, NULL, NULL, &now);
	flash_predict_pcrs(img, len, NULL, NULL, NULL, &next);
	if (!m->tpm_on) {
		snprintf(nb->why, sizeof(nb->why), "this board has no TPM");
		return;
	}
	if ((r = menu_tpm_open(m, &t)) < 0 || (r = tpm_pcr_read(t, "sha256", 2, live2, &dl)) < 0 ||
	    (r = tpm_pcr_read(t, "sha256", 7, nb->live7, &dl)) < 0) {
		snprintf(nb->why, sizeof(nb->why), "the TPM's PCRs cannot be read (%s)",
			 strerror(-r));
		return;
	}
	nb->have_live = true;
	if (!next.pcr2_ok) {
		snprintf(nb->why, sizeof(nb->why),
			 "the new image is not a coreboot image whose measurements this build "
			 "knows: %s", next.why);
		return;
	}
	memcpy(nb->next2, next.pcr2, 32);
	if (!now.pcr2_ok) {
		snprintf(nb->why, sizeof(nb->why),
			 "the chip's current content is not a coreboot image whose measurements "
			 "this build knows: %s", now.why);
		return;
	}
	memcpy(nb->now2, now.pcr2, 32);
	if (memcmp(now.pcr2, live2, 32)) {
		char a[17], b[17];
		hex_prefix(live2, a);
		hex_prefix(now.pcr2, b);
		snprintf(nb->why, sizeof(nb->why),
			 "this firmware does not measure what the prediction computes from the "
			 "chip: PCR 2 is %s... now, the chip's image gives %s... (a build from "
			 "elsewhere, or another measurement scheme)", a, b);
		return;
	}
	/* The model was checked against this boot only: it holds for the new
	 * image when that was built to measure the same way. */
	if (strcmp(now.scheme, next.scheme)) {
		snprintf(nb->why, sizeof(nb->why),
			 "the new image comes from a build that measures differently: %s; this "
			 "firmware: %s", next.scheme, now.scheme);
		return;
	}
	/* PCR 7 measures the board configuration of the payload (its
	 * initramfs's /etc/config) and the owner files (carried byte for byte) */
	nb->cfg_same = flash_payload_same_file(cur, img, len, "etc/config");
	if (nb->cfg_same == 0) {
		snprintf(nb->why, sizeof(nb->why),
			 "the new firmware's board configuration (/etc/config in its payload) "
			 "differs from this firmware's: PCR 7, which measures it, changes");
		return;
	}
	nb->ok = true;
}

/* --- flashing ------------------------------------------------------------ */

struct progress {
	struct menu *m;
	unsigned last;
	const char *phase;
};

static void on_progress(void *userdata, const char *phase, uint64_t done, uint64_t total)
{
	struct progress *p = userdata;
	unsigned pct = total ? (unsigned)(done * 100 / total) : 100;
	if (p->phase == phase && pct == p->last)
		return;
	p->phase = phase;
	p->last = pct;
	_cleanup_free_ char *t = xasprintf("%s the flash chip... do not power off", phase);
	(void)ui_progress(p->m->ui, "Flashing", t, pct);
}

/* 1 a TOTP/HOTP secret is sealed in the TPM, 0 not (or no TPM). */
static int tpm_otp_present_checked(struct menu *m)
{
	_cleanup_tpm_ struct tpm *t = NULL;
	return m->tpm_on && menu_tpm_open(m, &t) == 0 && tpm_otp_present(t, TPM_HANDLE_TOTP) == 1;
}

static void forget_next(struct menu *m)
{
	m->have_next_pcr2 = m->have_next_pcr7 = false;
}

/* The stage baseline (cbstages.h) of the new image, kept in the TPM next
 * to the secret just sealed to its predicted PCR 2: the seal itself could
 * only record this boot's stages (which do not replay to the prediction),
 * so without this a later change of PCR 2 on the new firmware would not be
 * named. Written only when the predicted stages replay to the sealed value;
 * a failure is logged (the secret is sealed either way). */
static void record_predicted_stages(struct menu *m, const uint8_t *img, size_t len,
				    const uint8_t next2[32], const struct secret *owner)
{
	struct coreboot_measurement ms[6];
	struct cbstages st = {0};
	uint8_t v[32], buf[5 + 6 * (1 + CBSTAGES_NAME_MAX + 32)];
	_cleanup_tpm_ struct tpm *t = NULL;
	struct cbfs c;
	size_t n = 0;
	int r;

	if (cbfs_parse(img, len, NULL, &c) < 0)
		return;
	r = coreboot_measurements(&c, ms, &n);
	cbfs_free(&c);
	if (r < 0 || n == 0)
		return;
	for (size_t i = 0; i < n; i++) {
		_Static_assert(sizeof(st.v[i].name) == sizeof(ms[i].name), "stage name sizes");
		memcpy(st.v[i].name, ms[i].name, sizeof(st.v[i].name));
		st.v[i].name[sizeof(st.v[i].name) - 1] = '\0';
		memcpy(st.v[i].sha256, ms[i].sha256, 32);
	}
	st.n = n;
	cbstages_replay(&st, v);
	if (memcmp(v, next2, 32))
		return;
	if ((r = menu_tpm_open(m, &t)) < 0 ||
	    (r = tpm_record_write(t, CBSTAGES_RECORD_INDEX, buf, cbstages_encode(&st, buf),
				  owner)) < 0)
		log_warn("the new firmware's stages (NV 0x%08x) could not be recorded (%s): a "
			 "moved PCR 2 will not name them", CBSTAGES_RECORD_INDEX, strerror(-r));
	else
		log_info("PCR 2 stages of the new firmware recorded (%zu)", n);
}

/* The Disk Unlock Key across the update: the same key, resealed. Its
 * passphrase is asked as at a boot and the key unsealed as the default boot
 * does (duk_unlock: the LUKS headers measured into PCR 6, PCR 4 then
 * extended "generic"), then sealed again, with the same passphrase, to the
 * values it was sealed to with PCR 2 replaced by the new firmware's. No key
 * slot and no /boot file changes, so /boot needs no new signature (the
 * signing key may be on a card that is not there, or was only in memory at
 * ownership). *spent: PCR 4 was extended (this boot can no longer unseal
 * anything: it must reboot). 1 resealed, 0 not, <0 the UI is gone. */
struct duk_pass_keep {
	struct menu *m;
	struct secret *last; /* a copy of the passphrase last given */
};

static int duk_pass_keep_cb(void *u, int attempt, const char *last_error, struct secret **ret)
{
	struct duk_pass_keep *k = u;
	_cleanup_free_ char *p = xasprintf("Enter LUKS TPM Disk Unlock Key passphrase "
					   "(attempt %d of %d, blank to abort)", attempt, DUK_TRIES);
	int r;
	if (last_error)
		ui_msgbox(k->m->ui, UI_BG_WARNING, "Disk Unlock Key", last_error);
	r = ui_passphrase(k->m->ui, "Disk Unlock Key", p, DUK_PASSPHRASE_MAX, ret);
	secret_free(k->last);
	k->last = r == 0 ? secret_dup((*ret)->data, (*ret)->len) : NULL;
	return r == 0 && !k->last ? -ENOMEM : r;
}

static int duk_reseal_to_next(struct menu *m, const struct next_boot *nb,
			      const struct secret *owner, bool *spent)
{
	struct duk_pass_keep keep = {.m = m};
	struct duk_unlock_callbacks cb = {.passphrase = duk_pass_keep_cb, .userdata = &keep};
	struct duk_unlock_result res = {0};
	_cleanup_tpm_ struct tpm *t = NULL;
	struct tpm_pcr_values exp;
	bool with_auth = false;
	enum flow_outcome o;
	int r;

	if (!m->tpm_on || config_enabled(&m->cfg, "CONFIG_TPM_NO_LUKS_DISK_UNLOCK") ||
	    !menu_boot_has(m, DUK_KEY_DEVICES_FILE) || menu_tpm_open(m, &t) < 0 ||
	    tpm_sealed_expected(t, TPM_HANDLE_DUK, &exp, &with_auth) < 0 ||
	    !(exp.mask & (1u << 2)))
		return 0;
	tpm_close(t);
	t = NULL;
	r = menu_yes(m, UI_BG_WARNING, "Disk Unlock Key",
		     "The Disk Unlock Key is sealed to this firmware's PCR 2 too.\n\nReseal it "
		     "to the new firmware now (its passphrase, as at boot)? No: after the "
		     "reboot the disks open with the Disk Recovery Key until it is resealed.");
	if (r != 1)
		return r < 0 ? r : 0;
	/* the signed kexec_key_devices.txt and header list, verified now */
	o = menu_verified_or_report(m, true);
	if (o == FLOW_UI_GONE)
		return -EPIPE;
	if (o != FLOW_DONE || !m->signed_set) {
		r = ui_msgbox(m->ui, UI_BG_ERROR, "Disk Unlock Key not resealed",
			      "/boot does not verify: the Disk Unlock Key files cannot be trusted. "
			      "Flashing goes on; reseal the key after the reboot.");
		return ui_gone(r) ? r : 0;
	}
	if ((r = menu_tpm_open(m, &t)) == 0)
		r = duk_unlock(t, m->signed_set, &cb, &res);
	*spent = *spent || res.pcr4_extended;
	if (r == 0) {
		memcpy(exp.sha256[2], nb->next2, 32);
		if (exp.mask & (1u << 7))
			memcpy(exp.sha256[7], nb->live7, 32);
		r = tpm_seal(t, TPM_HANDLE_DUK, res.key, &exp, with_auth ? keep.last : NULL,
			     owner);
		if (r < 0)
			log_error("Disk Unlock Key: sealing to the new firmware failed (%d)", r);
	}
	secret_free(keep.last);
	if (r == 0) {
		duk_unlock_result_free(&res);
		log_info("Disk Unlock Key resealed at 0x%08x to the new firmware's PCR 2",
			 TPM_HANDLE_DUK);
		r = ui_msgbox(m->ui, UI_BG_NORMAL, "Disk Unlock Key resealed",
			      "The Disk Unlock Key is sealed to the new firmware: after the reboot "
			      "the default boot unlocks the disks with it (its passphrase).");
		return ui_gone(r) ? r : 1;
	}
	_cleanup_free_ char *t2 = xasprintf("The Disk Unlock Key was not resealed: %s\n\n"
					    "Flashing goes on; after the reboot the disks open with "
					    "the Disk Recovery Key until the key is resealed.",
					    res.reason[0] ? res.reason : strerror(-r < 0 ? -r : EIO));
	duk_unlock_result_free(&res);
	r = ui_msgbox(m->ui, UI_BG_ERROR, "Disk Unlock Key not resealed", t2);
	return ui_gone(r) ? r : 0;
}

/* Seal the TOTP/HOTP secret (and reseal the DUK) to the predicted next
 * boot. 1 sealed; 0 not (the user chose to go on without); <0 stop. */
static int reseal_to_next(struct menu *m, const struct next_boot *nb, const uint8_t *img,
			  size_t len, bool *spent)
{
	_cleanup_secret_ struct secret *owner = NULL;
	char a[17], b[17];
	int r;

	hex_prefix(nb->now2, a);
	hex_prefix(nb->next2, b);
	_cleanup_free_ char *text = xasprintf(
		"The new firmware will be measured differently: PCR 2 %s... now, %s... after "
		"the update (predicted from the image); PCR 7 stays (your keyring and settings "
		"are carried over).\n\nSeal a new TOTP/HOTP secret to the new firmware now, so "
		"that the TOTP matches right after the reboot? (TPM owner passphrase, then scan "
		"the new QR code.)\n\nNo: flash anyway and seal a new secret after the reboot.",
		a, b);
	r = menu_yes(m, UI_BG_WARNING, "Keep the TOTP across the update", text);
	if (r <= 0)
		return r;
	m->have_next_pcr2 = m->have_next_pcr7 = true;
	memcpy(m->next_pcr2, nb->next2, 32);
	memcpy(m->next_pcr7, nb->live7, 32);
	r = menu_seal_totp_asked(m, &owner);
	if (ui_gone(r))
		return r;
	if (r < 0) {
		forget_next(m);
		r = menu_yes(m, UI_BG_ERROR, "TOTP not sealed",
			     "The TOTP secret could not be sealed to the new firmware.\n\nFlash "
			     "anyway (seal a new secret after the reboot)?");
		return r == 1 ? 0 : r < 0 ? r : -ECANCELED;
	}
	log_info("TOTP secret sealed to the predicted PCR 2 of the new firmware");
	record_predicted_stages(m, img, len, nb->next2, owner);
	r = duk_reseal_to_next(m, nb, owner, spent);
	if (ui_gone(r))
		return r;
	return 1;
}

static enum flow_outcome flash_flow(struct menu *m, bool keep)
{
	const char *prog = config_get(&m->cfg, "CONFIG_FLASH_PROGRAMMER");
	_cleanup_free_ uint8_t *img = NULL, *cur = NULL;
	_cleanup_free_ char *name = NULL, *text = NULL, *bad = NULL;
	struct flash *f = NULL;
	struct flash_write_result res = {0};
	struct progress pg = {.m = m, .last = 101};
	struct next_boot nb;
	unsigned char sha[32];
	char hex[65];
	size_t len = 0, kept = 0;
	bool sealed = false, spent = false;
	int r;

	if (config_enabled(&m->cfg, "CONFIG_RESTRICTED_BOOT")) {
		r = ui_msgbox(m->ui, UI_BG_ERROR, "Restricted Boot",
			      "Flashing the firmware is disabled by Restricted Boot. Disable it in "
			      "the configuration menu first.");
		return menu_gone_or_back(r);
	}
	if (!prog || !*prog) {
		r = ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: Flash",
			      "This board names no flash programmer (CONFIG_FLASH_PROGRAMMER): "
			      "the firmware cannot be flashed from here.");
		return menu_gone_or_back(r);
	}
	r = menu_flash_choose_rom(m, &img, &len, &name);
	if (r <= 0)
		return menu_gone_or_back(r);
	EVP_Digest(img, len, sha, NULL, EVP_sha256(), NULL);
	hex_encode(sha, 32, hex);
	log_info("flash: %s, %zu bytes, sha256 %s", name, len, hex);

	if ((r = flash_open(prog, &f)) < 0) {
		_cleanup_free_ char *t = xasprintf("The flash chip cannot be opened (%s): %s.",
						   prog, strerror(-r));
		r = ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: Flash", t);
		return menu_gone_or_back(r);
	}
	flash_set_progress(f, on_progress, &pg);
	if (len != flash_size(f))
		bad = xasprintf("%s has %zu bytes; the flash chip has %zu: refused, nothing was "
				"written.", name, len, flash_size(f));
	else if ((r = flash_read(f, &cur)) < 0)
		bad = xasprintf("The flash chip cannot be read (%s): nothing was written.",
				strerror(-r));
	ui_progress_end(m->ui);
	if (!bad) {
		_cleanup_free_ char *why = layout_mismatch(cur, img, len);
		if (why)
			bad = xasprintf("%s does not match the flash chip's layout: %s. Refused, "
					"nothing was written.", name, why);
	}
	if (!bad && keep) {
		struct fmap fm;
		r = fmap_parse(cur, len, &fm);
		if (r == 0) {
			r = fmap_find(&fm, CBFS_DEFAULT_REGION) ? 0 : -ENOENT;
			fmap_free(&fm);
		}
		if (r == 0)
			r = cbfs_carry_owner_files(cur, len, img, len, &kept);
		if (r < 0)
			bad = xasprintf("Your keyring and settings could not be copied into %s (%s): "
					"refused, nothing was written. (\"Erase settings\" flashes "
					"without them.)", name,
					r == -ENOSPC ? "no room in its CBFS" :
					r == -ENOENT ? "the chip holds no coreboot image" :
						       strerror(-r));
	} else if (!bad) {
		struct romcfg none = {.slot = -1};
		r = cbfs_set_owner_files(img, len, &none);
		if (r < 0 && r != -ENOENT)
			bad = xasprintf("The settings in %s could not be removed (%s): refused.", name,
					strerror(-r));
	}
	if (bad) {
		log_error("%s", bad);
		flash_close(f);
		r = ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: Flash", bad);
		return menu_gone_or_back(r);
	}

	predict(m, cur, img, len, &nb);
	addf(&text, "ROM file: %s\n%zu bytes, SHA-256 %s\n\n", name, len, hex);
	describe_changes(&text, cur, img, len);
	if (keep)
		addf(&text, "\nYour keyring and settings: %zu file%s carried into the new image.\n",
		     kept, kept == 1 ? "" : "s");
	else
		addf(&text, "\nSettings ERASED: the new image carries no keyring and no "
			    "config.user (the next boot is a clean boot: take ownership again).\n");
	if (keep && nb.ok) {
		char a[65], b[65];
		hex_encode(nb.now2, 32, a);
		hex_encode(nb.next2, 32, b);
		addf(&text, "\nNext boot: PCR 2 %s (now %s): %s\nNext boot: PCR 7 unchanged%s\n", b,
		     a, memcmp(nb.now2, nb.next2, 32) ? "changes" : "unchanged",
		     nb.cfg_same == 1 ? "" : " (assumed: the payloads' board configurations "
					     "could not be compared)");
	} else if (keep) {
		addf(&text, "\nNext boot: PCR 2 cannot be predicted: %s.\n", nb.why);
	}
	r = ui_textbox(m->ui, UI_BG_WARNING, "Flash the firmware: what changes", text);
	if (ui_fatal(r)) {
		flash_close(f);
		return menu_outcome(m, r);
	}
	_cleanup_free_ char *q = xasprintf("Flash %s now?\n\nDo not power off until the machine "
					   "reboots.", name);
	r = menu_yes(m, UI_BG_WARNING, "Flash the firmware", q);
	if (r != 1) {
		flash_close(f);
		return menu_outcome(m, r < 0 ? r : 0);
	}

	if (keep && nb.ok && memcmp(nb.now2, nb.next2, 32) &&
	    tpm_otp_present_checked(m) == 1) {
		r = reseal_to_next(m, &nb, img, len, &spent);
		if (r < 0) {
			forget_next(m);
			flash_close(f);
			if (spent && !ui_gone(r))
				return menu_go_recovery(m, "PCR 4 extended by the Disk Unlock Key "
							"reseal and the flash not done");
			return r == -ECANCELED ? FLOW_BACK : menu_outcome(m, r);
		}
		sealed = r == 1;
	} else if (keep && !nb.ok && m->tpm_on) {
		_cleanup_free_ char *t = xasprintf(
			"The next boot's measurements cannot be predicted: %s.\n\nThe TOTP/HOTP "
			"secret stays sealed to this firmware: after the reboot the TOTP will not "
			"match. Check the integrity report then and generate a new TOTP/HOTP secret "
			"(the \"TOTP Generation Failed\" screen offers it).", nb.why);
		r = ui_msgbox(m->ui, UI_BG_WARNING, "No prediction: reseal after the reboot", t);
		if (ui_fatal(r)) {
			flash_close(f);
			return menu_outcome(m, r);
		}
	}

	r = flash_write(f, img, len, NULL, cur, &res);
	ui_progress_end(m->ui);
	if (flash_close(f) < 0 && r == 0)
		r = -EIO;
	if (r < 0) {
		_cleanup_free_ char *t = NULL;
		forget_next(m);
		if (res.size && res.state == FLASH_STATE_MIXED)
			t = xasprintf("The write did not verify at 0x%x and the previous content "
				      "could not be restored: the chip holds a PARTIAL image. Do not "
				      "power off: flash again.", res.bad_offset);
		else
			t = xasprintf("Flashing failed (%s); the chip holds its previous content.%s",
				      strerror(-r),
				      sealed ? " The TOTP secret was sealed to the new firmware: "
					       "generate a new one for this firmware (TPM/TOTP/HOTP "
					       "options)." : "");
		log_error("flash: %s", t);
		r = ui_msgbox(m->ui, UI_BG_ERROR, "ERROR: Flash", t);
		if (spent && !ui_gone(r)) /* this boot unsealed the DUK: PCR 4 moved */
			return menu_go_recovery(m, "flash failed after the Disk Unlock Key reseal");
		return menu_gone_or_back(r);
	}
	log_info("flash: %s written (%u pieces, %u retries)", name, res.pieces_written,
		 res.retries);
	r = ui_msgbox(m->ui, UI_BG_NORMAL, "Flash complete",
		      sealed ? "The firmware was updated and verified. The TOTP is sealed to it: "
			       "it matches right after the reboot. The machine reboots now."
			     : "The firmware was updated and verified. The machine reboots now.");
	if (ui_gone(r))
		return FLOW_UI_GONE;
	return FLOW_REBOOT;
}

enum flow_outcome menu_flash_keep(struct menu *m)
{
	return flash_flow(m, true);
}

enum flow_outcome menu_flash_reset(struct menu *m)
{
	return flash_flow(m, false);
}
