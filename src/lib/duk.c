/* duk.c - Disk Unlock Key: pure helpers, PCR prediction, initrd injection
 * and setup (see duk.h); unlock is in duk_unlock.c. */
#include "duk.h"

#include "boot/integrity.h"
#include "codec.h"
#include "cpio.h"
#include "fs.h"
#include "kexec.h"
#include "log.h"
#include "modlist/modlist.h"
#include "tpm/eventlog.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libcryptsetup.h>

#define DUK_MAX_DIGESTS 4096
#define DUK_INITRD_MAX (512u * 1024 * 1024)
#define DUK_BOOT_FILE_MAX (1024 * 1024)

/* --- pure helpers ---------------------------------------------------------- */

int duk_check_passphrase(const struct secret *pass, const struct secret *again)
{
	if (!pass || pass->len < DUK_PASSPHRASE_MIN)
		return -EINVAL;
	if (pass->len > DUK_PASSPHRASE_MAX)
		return -EMSGSIZE;
	if (again && !secret_equal(pass, again))
		return -ENOTUNIQ;
	return 0;
}

struct trace_line {
	uint8_t digest[32];
	char *desc; /* as in the trace (escaped) */
};

static void trace_lines_free(struct trace_line *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].desc);
	free(v);
}

/* The PCR 5 lines of a trace in bank (digests zero-padded to 32 bytes). */
static int trace_parse_pcr5(const char *trace, size_t len, const char *bank,
			    struct trace_line **ret, size_t *ret_n)
{
	size_t bl = tpm_bank_len(bank), hl = 2 * bl;
	struct trace_line *v = NULL;
	size_t n = 0;
	const char *p = trace, *end = trace + len;

	if (!bl)
		return -EINVAL;
	if (len > DUK_TRACE_MAX)
		return -EFBIG;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		size_t ll = (size_t)(le - p);
		if (ll >= 8 && memcmp(p, "MEASURE\t", 8) == 0) {
			/* MEASURE \t pcr \t bank \t hex \t desc */
			const char *f[5];
			size_t fl[5];
			const char *q = p;
			int k = 0;
			while (k < 5) {
				const char *tab = k < 4 ? memchr(q, '\t', (size_t)(le - q)) : NULL;
				f[k] = q;
				fl[k] = tab ? (size_t)(tab - q) : (size_t)(le - q);
				k++;
				if (!tab)
					break;
				q = tab + 1;
			}
			if (k != 5) {
				trace_lines_free(v, n);
				return -EBADMSG;
			}
			bool pcr5 = fl[1] == 1 && f[1][0] == '5';
			bool sha = fl[2] == strlen(bank) && memcmp(f[2], bank, fl[2]) == 0;
			if (pcr5 && sha) {
				char hex[65];
				size_t dl = 0;
				if (fl[3] != hl || n >= DUK_MAX_DIGESTS) {
					trace_lines_free(v, n);
					return fl[3] != hl ? -EBADMSG : -E2BIG;
				}
				memcpy(hex, f[3], hl);
				hex[hl] = '\0';
				v = xrealloc(v, (n + 1) * sizeof(*v));
				memset(v[n].digest, 0, 32);
				if (hex_decode(hex, v[n].digest, 32, &dl) < 0 || dl != bl) {
					trace_lines_free(v, n);
					return -EBADMSG;
				}
				v[n].desc = xstrndup(f[4], fl[4]);
				n++;
			}
		}
		p = nl ? nl + 1 : end;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int duk_trace_pcr5(const char *trace, size_t len, const char *bank, char *const *module_paths,
		   char *const *module_args, size_t n_modules, uint8_t (**ret)[32],
		   size_t *ret_n)
{
	struct trace_line *l = NULL;
	size_t nl = 0, n = 0, cur = 0;
	uint8_t(*out)[32] = NULL;
	int r = trace_parse_pcr5(trace, len, bank, &l, &nl);

	if (r < 0)
		return r;
	if (nl)
		out = xcalloc(nl, 32);
	if (!module_paths) {
		for (size_t i = 0; i < nl; i++)
			memcpy(out[n++], l[i].digest, 32);
	} else {
		for (size_t m = 0; m < n_modules; m++) {
			_cleanup_free_ char *path = log_escape(module_paths[m]);
			_cleanup_free_ char *args = NULL;
			size_t j;
			if (module_args && module_args[m] && *module_args[m])
				args = log_escape(module_args[m]);
			for (j = cur; j < nl && !streq(l[j].desc, path); j++)
				;
			if (j == nl)
				continue; /* built in or already loaded: not measured */
			if (args) {
				/* init measures the arguments right before the file */
				if (j == cur || !streq(l[j - 1].desc, args))
					continue;
				memcpy(out[n++], l[j - 1].digest, 32);
			}
			memcpy(out[n++], l[j].digest, 32);
			cur = j + 1;
		}
	}
	trace_lines_free(l, nl);
	if (n == 0) {
		free(out);
		out = NULL;
	}
	*ret = out;
	*ret_n = n;
	return 0;
}

struct hdr_line {
	char hex[65];
	char *name;
};

static int hdr_parse(const char *s, size_t len, struct hdr_line **ret, size_t *ret_n)
{
	struct hdr_line *v = NULL;
	size_t n = 0;
	const char *p = s, *end = s + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		size_t ll = (size_t)(le - p);
		if (ll > 0) {
			if (ll < 67 || p[64] != ' ' || p[65] != ' ' || n >= LUKS_MAX_DEVICES) {
				for (size_t i = 0; i < n; i++)
					free(v[i].name);
				free(v);
				return -EBADMSG;
			}
			v = xrealloc(v, (n + 1) * sizeof(*v));
			memcpy(v[n].hex, p, 64);
			v[n].hex[64] = '\0';
			v[n].name = xstrndup(p + 66, ll - 66);
			n++;
		}
		p = nl ? nl + 1 : end;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/* "/tmp/lukshdr-_dev_vda2" -> "/dev/vda2" (for messages): the device whose
 * mangled path ('/' -> '_') it is, else the lossy reverse mapping. */
static char *hdr_device(const char *name, const struct luks_key_device *devs, size_t n)
{
	const char *b = strstr(name, "lukshdr-");
	const char *m = b ? b + 8 : name;
	char *d;

	for (size_t i = 0; devs && i < n; i++) {
		_cleanup_free_ char *x = xstrdup(devs[i].path);
		for (char *c = x; *c; c++)
			if (*c == '/')
				*c = '_';
		if (streq(x, m))
			return xstrdup(devs[i].path);
	}
	d = xstrdup(m);
	for (char *c = d; *c; c++)
		if (*c == '_')
			*c = '/';
	return d;
}

int duk_compare_headers(const char *sealed, size_t sealed_len, const char *now,
			size_t now_len, const struct luks_key_device *devs, size_t n_devs,
			char **ret_detail)
{
	struct hdr_line *a = NULL, *b = NULL;
	size_t na = 0, nb = 0;
	char *d = NULL;

	if (sealed_len == now_len && memcmp(sealed, now, now_len) == 0) {
		if (ret_detail)
			*ret_detail = NULL;
		return 0;
	}
	if (hdr_parse(sealed, sealed_len, &a, &na) < 0) {
		d = xstrdup("the sealed header listing (" DUK_LUKSHDR_FILE ") is malformed");
	} else {
		(void)hdr_parse(now, now_len, &b, &nb);
		for (size_t i = 0; i < na; i++) {
			_cleanup_free_ char *dev = hdr_device(a[i].name, devs, n_devs);
			size_t j;
			for (j = 0; j < nb && !streq(a[i].name, b[j].name); j++)
				;
			if (j == nb)
				str_appendf(&d, "%s%s: no longer present", d ? "; " : "", dev);
			else if (!streq(a[i].hex, b[j].hex))
				str_appendf(&d, "%s%s: LUKS header changed", d ? "; " : "", dev);
		}
		for (size_t j = 0; j < nb; j++) {
			size_t i;
			for (i = 0; i < na && !streq(a[i].name, b[j].name); i++)
				;
			if (i == na) {
				_cleanup_free_ char *dev = hdr_device(b[j].name, devs, n_devs);
				str_appendf(&d, "%s%s: not present when the key was sealed", d ? "; " : "",
					dev);
			}
		}
		if (!d)
			d = xstrdup("the header listing differs (order or format)");
	}
	for (size_t i = 0; i < na; i++)
		free(a[i].name);
	for (size_t i = 0; i < nb; i++)
		free(b[i].name);
	free(a);
	free(b);
	if (ret_detail)
		*ret_detail = d;
	else
		free(d);
	return DUK_E_HEADERS_CHANGED;
}

char *duk_key_devices_text(const struct luks_device *v, size_t n)
{
	char *s = xstrdup("");
	for (size_t i = 0; i < n; i++)
		str_appendf(&s, "%s %s\n", v[i].path, v[i].uuid ? v[i].uuid : "");
	return s;
}

char *duk_fallback_overrides(const struct luks_key_device *v, size_t n)
{
	static const char *const files[] = {"etc/crypttab", "cryptroot/crypttab"};
	char *s = xstrdup("");
	for (size_t f = 0; f < ARRAY_SIZE(files); f++)
		for (size_t i = 0; i < n; i++)
			if (v[i].uuid && *v[i].uuid)
				str_appendf(&s, "%s:luks-%s UUID=%s /secret.key luks,discard\n", files[f],
					v[i].uuid, v[i].uuid);
	return s;
}

/* --- PCR prediction ---------------------------------------------------------- */

static int load_eventlog(const struct duk_pcr_sources *src, struct tpm_eventlog **ret)
{
	const char *path = src && src->eventlog ? src->eventlog : TPM_EVENTLOG_DEFAULT;
	int r;

	*ret = NULL;
	if (src && src->no_eventlog)
		return 0;
	r = tpm_eventlog_load(path, ret);
	if (r == -ENOENT) {
		log_info("no firmware event log at %s: predicting from all-zero PCRs", path);
		*ret = NULL;
		return 0;
	}
	if (r < 0)
		return log_error_errno(r, "%s: cannot use the firmware event log", path);
	return 0;
}

static int predict_pcr5(const struct duk_pcr_sources *src, const char *bank,
			const struct tpm_eventlog *log, struct tpm_pcr_values *v)
{
	const char *tpath = src && src->trace ? src->trace : DUK_TRACE_DEFAULT;
	const char *mpath = src && src->modules ? src->modules : DUK_MODULES_DEFAULT;
	_cleanup_free_ char *trace = NULL, *err = NULL;
	_cleanup_free_ uint8_t(*dig)[32] = NULL;
	_cleanup_free_ char **paths = NULL, **args = NULL;
	struct modlist m = {0};
	size_t len, n = 0;
	bool have_mods;
	uint8_t pred[32];
	int r;

	r = fs_read_file(tpath, DUK_TRACE_MAX, &trace, &len);
	if (r == -ENOENT) {
		log_warn("%s: no measurement trace: PCR %d is sealed to its current value "
			 "(every module loaded in this session)", tpath, DUK_PCR_MODULES);
		return 0;
	}
	if (r < 0)
		return log_error_errno(r, "%s: cannot read the measurement trace", tpath);
	r = modlist_load(mpath, &m, &err);
	if (r < 0 && r != -ENOENT) {
		if (err)
			log_error("%s", err);
		return log_error_errno(r, "%s: cannot read the module list", mpath);
	}
	have_mods = r == 0;
	if (have_mods && m.n) {
		paths = xcalloc(m.n, sizeof(char *));
		args = xcalloc(m.n, sizeof(char *));
		for (size_t i = 0; i < m.n; i++) {
			paths[i] = m.v[i].path;
			args[i] = m.v[i].args;
		}
	}
	r = duk_trace_pcr5(trace, len, bank, have_mods ? (paths ? paths : (char *[]){NULL}) : NULL,
			   args, have_mods ? m.n : 0, &dig, &n);
	modlist_free(&m);
	if (r < 0)
		return log_error_errno(r, "%s: malformed measurement trace", tpath);
	r = tpm_predict_pcr_bank(bank, log, DUK_PCR_MODULES, (const uint8_t(*)[32])dig, n, pred);
	if (r < 0)
		return log_error_errno(r, "predicting PCR %d", DUK_PCR_MODULES);
	if (memcmp(pred, v->sha256[DUK_PCR_MODULES], 32) != 0)
		log_note("PCR %d: modules loaded after init are not part of the sealed value "
			 "(%zu boot-time measurements)", DUK_PCR_MODULES, n);
	memcpy(v->sha256[DUK_PCR_MODULES], pred, 32);
	return 0;
}

int duk_expected_pcrs(struct tpm *t, const struct duk_pcr_sources *src, const char *listing,
		      size_t listing_len, struct tpm_pcr_values *ret)
{
	struct tpm_eventlog *log = NULL;
	struct tpm_pcr_values v;
	const char *bank = tpm_bank(t);
	uint8_t d[1][32];
	int r;

	r = tpm_pcr_values_current(t, DUK_PCR_MASK, &v);
	if (r < 0)
		return log_error_errno(r, "reading PCRs 0-7");
	r = load_eventlog(src, &log);
	if (r < 0)
		return r;
	r = tpm_predict_pcr_bank(bank, log, DUK_PCR_BOOT_MODE, NULL, 0, v.sha256[DUK_PCR_BOOT_MODE]);
	if (r == 0)
		r = predict_pcr5(src, bank, log, &v);
	if (r == 0 && src->pcr7)
		memcpy(v.sha256[7], src->pcr7, 32);
	if (r == 0 && src->pcr2)
		memcpy(v.sha256[2], src->pcr2, 32);
	if (r == 0)
		r = tpm_bank_hash(bank, listing, listing_len, d[0]);
	if (r == 0)
		r = tpm_predict_pcr_bank(bank, log, DUK_PCR_LUKS, (const uint8_t(*)[32])d, 1,
					 v.sha256[DUK_PCR_LUKS]);
	tpm_eventlog_free(log);
	if (r < 0)
		return log_error_errno(r, "predicting the PCRs of the next boot");
	*ret = v;
	return 0;
}

/* --- initrd helpers ---------------------------------------------------------- */

/* Override lines from the default entry's initrd ("" if it has no crypttab),
 * read through the same road as a boot: with the signed set (signing), the
 * signed default entry and its initrd checked against its signed line;
 * without (--no-sign), the unverified view. -ENOENT: no default entry. */
static int default_overrides(const char *bootdir, const struct boot_signed *signed_set,
			     char **ret)
{
	struct boot_entry e = {0};
	struct kexec_opts ko;
	struct kexec_plan p = {.initrd_fd = -1, .kernel = {.fd = -1}};
	_cleanup_view_ struct boot_view *view = NULL;
	_cleanup_free_ char *img = NULL;
	unsigned idx;
	size_t len;
	int r, fd;

	r = signed_set ? bootcfg_signed_default(signed_set, &e, &idx)
		       : bootcfg_load_default(bootdir, &e, &idx);
	if (r < 0)
		return r;
	kexec_opts_init(&ko);
	r = boot_view_open(bootdir, signed_set, &view);
	if (r == 0)
		r = kexec_plan_build(view, &e, &ko, &p);
	boot_entry_free(&e);
	if (r < 0)
		return r;
	fd = kexec_plan_initrd_fd(&p);
	if (fd < 0)
		r = log_error_errno(-ENOENT, "the default boot entry has no initrd");
	else if (lseek(fd, 0, SEEK_SET) < 0)
		r = -errno;
	else
		r = fs_read_fd(fd, DUK_INITRD_MAX, &img, &len);
	kexec_plan_free(&p);
	if (r < 0)
		return r;
	return initrd_crypttab_overrides(img, len, ret);
}

int duk_inject(const struct boot_signed *s, int initrd, const struct secret *key,
	       const struct luks_key_device *devices, size_t n_devices)
{
	const struct boot_signed_file *f = boot_signed_file(s, DUK_CRYPTTAB_FILE);
	_cleanup_free_ char *fallback = NULL;
	int r;

	if (initrd < 0)
		return log_error_errno(-ENOENT, "the boot entry has no initrd to add the key to");
	if (!f)
		fallback = duk_fallback_overrides(devices, n_devices);
	r = initrd_inject_key(initrd, key, f ? f->data : fallback);
	if (r < 0)
		return log_error_errno(r, "cannot add the key to the initrd");
	return r;
}

int duk_plan_inject(const struct boot_signed *s, struct kexec_plan *p,
		    const struct duk_unlock_result *u)
{
	int fd = duk_inject(s, kexec_plan_initrd_fd(p), u->key, u->devices, u->n_devices);
	if (fd < 0)
		return fd;
	int r = kexec_plan_set_initrd(p, fd);
	if (r < 0) {
		initrd_wipe(fd);
		close(fd);
		return log_error_errno(r, "the boot entry's initrd cannot take the key");
	}
	log_info("Disk Unlock Key injected into the initrd");
	return 0;
}

/* --- setup ----------------------------------------------------------------- */

int duk_drk_check(const struct luks_device *v, size_t n, const struct secret *drk,
		  uint64_t *ret_ok)
{
	uint64_t ok = 0;
	int count = 0;

	if (n > LUKS_MAX_DEVICES)
		return -E2BIG;
	for (size_t i = 0; i < n; i++) {
		int r = luks_test_passphrase(v[i].path, drk, -1);
		if (r >= 0) {
			ok |= UINT64_C(1) << i;
			count++;
		} else if (r != -EPERM) {
			log_warn("%s: cannot test the Disk Recovery Key: %s", v[i].path,
				 strerror(-r));
		}
	}
	*ret_ok = ok;
	return count;
}

static int write_unsigned(const char *bootdir, const struct integrity_file *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s", bootdir, f[i].name);
		int r = fs_write_atomic(p, f[i].data, f[i].len, 0644);
		if (r < 0)
			return log_error_errno(r, "cannot write %s", p);
	}
	return 0;
}

/* LUKS2: mark the DUK key slot "prefer" so an any-slot open (the OS
 * initramfs with crypttab's key file, and our own check at unlock) tries it
 * first instead of running the DRK slot's Argon2 (up to 1 GiB, seconds)
 * with the wrong key before reaching it. LUKS1 has no priorities. */
static int prefer_slot(const char *path, int slot)
{
	struct crypt_device *cd = NULL;
	int r = crypt_init(&cd, path);

	if (r == 0)
		r = crypt_load(cd, CRYPT_LUKS2, NULL);
	if (r == 0)
		r = crypt_keyslot_set_priority(cd, slot, CRYPT_SLOT_PRIORITY_PREFER);
	crypt_free(cd);
	if (r < 0)
		log_warn("%s: cannot give key slot %d priority: %s", path, slot, strerror(-r));
	return r;
}

static void signed_freep(struct boot_signed **s)
{
	if (*s) {
		boot_signed_free(*s);
		free(*s);
	}
}

int duk_setup(struct tpm *t, const struct duk_setup_options *o, struct duk_setup_result *ret)
{
	_cleanup_(signed_freep) struct boot_signed *signed_set = NULL;
	struct duk_setup_result res;
	_cleanup_secret_ struct secret *duk = NULL;
	_cleanup_free_ char *listing = NULL, *devtext = NULL, *over = NULL;
	struct luks_key_device *kd = NULL;
	size_t listing_len;
	int r;

	memset(&res, 0, sizeof(res));
	if (!o->n_devices || o->n_devices > LUKS_MAX_DEVICES)
		return log_error_errno(-EINVAL, "no LUKS container selected for the Disk Unlock Key");
	r = duk_check_passphrase(o->passphrase, NULL);
	if (r < 0)
		return log_error_errno(r, "the Disk Unlock Key passphrase must have at least %d "
				       "characters", DUK_PASSPHRASE_MIN);
	r = luks_same_version(o->devices, o->n_devices);
	if (r < 0)
		return r;
	if (o->sign) {
		/* Nothing is changed for a /boot that does not verify: the
		 * signing at the end would refuse it anyway (KEEP). */
		struct integrity_options io = {
			.bootdir = o->bootdir, .keyring = o->keyring,
			.tpm = o->rollback ? t : NULL, .rollback_disabled = !o->rollback,
			.require_rollback = o->require_rollback,
			.rollback_counter = o->rollback_counter,
		};
		struct integrity_report rep;
		bool ok;
		if (!o->keyring)
			return log_error_errno(-EINVAL, "signing /boot with the Disk Unlock Key "
					       "files needs the keyring it must verify against");
		r = integrity_check(&io, &rep);
		if (r < 0)
			return r;
		ok = integrity_ok(&rep) && rep.signed_set;
		if (ok)
			signed_set = TAKE_PTR(rep.signed_set);
		integrity_report_free(&rep);
		if (!ok)
			return log_error_errno(-EBADMSG, "%s does not verify against %s: no Disk "
					       "Unlock Key is set up for it (see `heads boot report`)",
					       o->bootdir, o->keyring);
	}
	/* Before any container is touched: the TPM's primary key is there and
	 * is the one recorded at ownership (if pinned); tpm_seal() would only
	 * find out after the key slots were written. */
	r = tpm_check_parent(t);
	if (r < 0)
		return r;

	/* 4. the key: 128 random bytes, only ever in locked memory */
	duk = secret_new(LUKS_DUK_LEN);
	if (!duk)
		return log_error_errno(-errno, "cannot allocate the Disk Unlock Key");
	r = secret_random(duk, LUKS_DUK_LEN);
	if (r < 0)
		return log_error_errno(r, "no randomness for the Disk Unlock Key");

	/* 5. add it to every container (slot rules in luks.h) */
	for (size_t i = 0; i < o->n_devices; i++) {
		struct luks_duk_result lr;
		r = luks_add_duk(o->devices[i].path, o->drk, duk, -1, o->luks, &lr);
		if (r < 0)
			return log_error_errno(r, "%s: adding the Disk Unlock Key failed",
					       o->devices[i].path);
		res.duk_slot[i] = lr.duk_slot;
		res.drk_slot[i] = lr.drk_slot;
		if (o->devices[i].version == 2)
			(void)prefer_slot(o->devices[i].path, lr.duk_slot);
		log_info("%s: Disk Unlock Key in key slot %d (Disk Recovery Key in %d)",
			 o->devices[i].path, lr.duk_slot, lr.drk_slot);
	}

	/* 6-7. the new headers, the PCRs of the next boot, seal */
	r = luks_header_listing(o->devices, o->n_devices, DUK_HEADER_DIR, &listing, &listing_len);
	if (r < 0)
		return log_error_errno(r, "cannot list the new LUKS headers");
	r = duk_expected_pcrs(t, &o->pcr, listing, listing_len, &res.sealed);
	if (r < 0)
		return r;
	r = tpm_seal(t, TPM_HANDLE_DUK, duk, &res.sealed, o->passphrase, o->owner_auth);
	if (r < 0)
		return log_error_errno(r, "sealing the Disk Unlock Key at 0x%08x", TPM_HANDLE_DUK);
	log_info("Disk Unlock Key sealed at 0x%08x to PCRs 0-7 and its passphrase",
		 TPM_HANDLE_DUK);

	/* 8. the /boot files (4.6: crypttab overrides from the default initrd) */
	devtext = duk_key_devices_text(o->devices, o->n_devices);
	r = default_overrides(o->bootdir, signed_set, &over);
	if (r == 0 && *over) {
		res.crypttab_from_initrd = true;
	} else {
		if (r == -ENOENT)
			log_warn("no default boot entry in %s: generic crypttab lines", o->bootdir);
		else if (r < 0)
			log_warn("cannot read crypttab from the default entry's initrd (%s): generic "
				 "crypttab lines", strerror(-r));
		else
			log_info("the default entry's initrd has no crypttab: generic crypttab lines");
		free(over);
		kd = xcalloc(o->n_devices, sizeof(*kd));
		for (size_t i = 0; i < o->n_devices; i++) {
			kd[i].path = o->devices[i].path;
			kd[i].uuid = o->devices[i].uuid;
		}
		over = duk_fallback_overrides(kd, o->n_devices);
		free(kd);
	}
	const struct integrity_file files[] = {
		{DUK_KEY_DEVICES_FILE, devtext, strlen(devtext)},
		{DUK_LUKSHDR_FILE, listing, listing_len},
		{DUK_CRYPTTAB_FILE, over, strlen(over)},
	};
	if (o->sign) {
		struct integrity_sign_options so = {
			.bootdir = o->bootdir,
			.signer = {.gnupghome = o->gnupghome, .key = o->key, .pin = o->pin,
				   .userdata = o->pin_userdata},
			.tpm = o->rollback ? t : NULL,
			.owner_auth = o->owner_auth,
			.mode = INTEGRITY_SIGN_KEEP,
			.keyring = o->keyring,
			.require_rollback = o->require_rollback,
			.rollback_counter = o->rollback_counter,
			.extra = files,
			.n_extra = ARRAY_SIZE(files),
		};
		struct integrity_sign_result sr;
		r = integrity_sign(&so, &sr);
		if (r < 0)
			return log_error_errno(r, "signing %s with the Disk Unlock Key files",
					       o->bootdir);
		memcpy(res.fpr, sr.fpr, sizeof(res.fpr));
	} else {
		r = write_unsigned(o->bootdir, files, ARRAY_SIZE(files));
		if (r < 0)
			return r;
	}
	if (ret)
		*ret = res;
	return 0;
}
