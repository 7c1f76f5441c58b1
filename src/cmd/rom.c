/* rom.c - `heads rom`: the board's ROM configuration area (romcfg.h). */
#include "cmd.h"
#include "hash.h"
#include "log.h"
#include "romcfg.h"
#include "tpm/tpm.h"
#include "codec.h"
#include "fs.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
	"usage: heads rom list [--device PATH]\n"
	"       heads rom add [--device PATH] NAME=FILE...\n"
	"       heads rom remove [--device PATH] NAME...\n"
	"       heads rom add-keyring [--device PATH] --gnupghome DIR\n"
	"       heads rom extract [--device PATH] --root DIR\n"
	"       heads rom erase --device PATH\n"
	"       heads rom predict-pcr7 [--device PATH] [--bank sha256|sha1]\n"
	"                              [--base HEX --board FILE [--user FILE]]\n"
	"\n"
	"The ROM configuration area: the files kept in the boot ROM next to the\n"
	"payload (the ROM GPG keyring and config.user), extracted into / and\n"
	"measured into PCR 7 by init at every boot. On the QEMU board it is a\n"
	"virtio disk with serial \"" ROMCFG_SERIAL "\" (found by that serial when\n"
	"--device is not given); on the host --device is its image file.\n"
	"NAME is relative to the initramfs root: .gnupg/pubring.kbx, .gnupg/pubring.gpg,\n"
	".gnupg/trustdb.gpg, .gnupg/gpg.conf or etc/config.user.\n"
	"\n"
	"list         active slot, sequence, then NAME SIZE SHA256 per file\n"
	"add          add or replace files (read from FILE) and write the area\n"
	"add-keyring  store the GnuPG home's keyring files as .gnupg/* (the owner's\n"
	"             public key into the ROM keyring)\n"
	"extract      write the files beneath DIR (what init does with /)\n"
	"erase        blank both slots (a new machine)\n"
	"predict-pcr7 PCR 7 after a boot with this area: from the value before\n"
	"             init's measurements (--base; default: the one init saved in\n"
	"             " ROMCFG_PCR7_BASE ") and the payload's config files (default\n"
	"             /etc/config, /etc/config.user), in --bank (default: the\n"
	"             bank of this machine's TPM: sha1 on a TPM 1.2, else sha256;\n"
	"             --base is 40 or 64 hex digits accordingly)\n"
	"\n"
	"Writes go to the inactive slot with the next sequence number: a crash\n"
	"leaves the previous content. Exit: 0 ok, 1 failed, 2 usage.\n";

struct opts {
	const char *device, *gnupghome, *root, *base, *board, *user, *bank;
};

static int parse(int argc, char **argv, const char *sub, struct opts *o)
{
	static const struct option lo[] = {
		{"device", required_argument, NULL, 'd'},
		{"gnupghome", required_argument, NULL, 'g'},
		{"root", required_argument, NULL, 'r'},
		{"base", required_argument, NULL, 'b'},
		{"board", required_argument, NULL, 'B'},
		{"user", required_argument, NULL, 'u'},
		{"bank", required_argument, NULL, 'k'},
		{},
	};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'd': o->device = optarg; break;
		case 'g': o->gnupghome = optarg; break;
		case 'r': o->root = optarg; break;
		case 'b': o->base = optarg; break;
		case 'k': o->bank = optarg; break;
		case 'B': o->board = optarg; break;
		case 'u': o->user = optarg; break;
		default: return cmd_usage_error("rom", "%s: bad option", sub);
		}
	}
	return 0;
}

/* --device, else the board's ROM found by its serial. */
static int device(const struct opts *o, char **ret)
{
	if (o->device) {
		*ret = xstrdup(o->device);
		return 0;
	}
	int r = romcfg_find(NULL, NULL, ret);
	if (r < 0)
		log_error("no ROM config area (no block device with serial \"%s\"); "
			  "give --device", ROMCFG_SERIAL);
	return r;
}

static int load(int argc, char **argv, const char *sub, struct opts *o, char **dev,
		struct romcfg *c)
{
	int r = parse(argc, argv, sub, o);
	if (r)
		return r;
	if (device(o, dev) < 0 || romcfg_read(*dev, c) < 0)
		return HEADS_EXIT_FAIL;
	return 0;
}

static int do_list(int argc, char **argv)
{
	struct opts o = {0};
	_cleanup_free_ char *dev = NULL;
	struct romcfg c = {.slot = -1};
	int r = load(argc, argv, "list", &o, &dev, &c);
	if (r)
		return r;
	if (c.slot < 0)
		printf("%s: blank\n", dev);
	else
		printf("%s: slot %d sequence %llu, %zu files\n", dev, c.slot,
		       (unsigned long long)c.seq, c.n);
	for (size_t i = 0; i < c.n; i++) {
		char hex[65] = "";
		hash_sha256_hex(c.v[i].data, c.v[i].len, hex);
		printf("%s %zu %s\n", c.v[i].name, c.v[i].len, hex);
	}
	romcfg_free(&c);
	return 0;
}

static int finish_write(const char *dev, struct romcfg *c)
{
	int r = romcfg_write(dev, c);
	romcfg_free(c);
	return r < 0 ? HEADS_EXIT_FAIL : 0;
}

static int do_add(int argc, char **argv)
{
	struct opts o = {0};
	_cleanup_free_ char *dev = NULL;
	struct romcfg c = {.slot = -1};
	int r = load(argc, argv, "add", &o, &dev, &c);
	if (r)
		return r;
	if (optind >= argc) {
		romcfg_free(&c);
		return cmd_usage_error("rom", "add: NAME=FILE expected");
	}
	for (int i = optind; i < argc; i++) {
		_cleanup_free_ char *name = xstrdup(argv[i]), *data = NULL;
		char *eq = strchr(name, '=');
		size_t len;
		if (!eq || romcfg_name_ok((*eq = '\0', name)) < 0) {
			romcfg_free(&c);
			return cmd_usage_error("rom", "add: %s: not NAME=FILE with an allowed NAME",
					       argv[i]);
		}
		r = fs_read_file(eq + 1, ROMCFG_MAX_SLOT, &data, &len);
		if (r == 0)
			r = romcfg_set(&c, name, data, len);
		if (r < 0) {
			log_error_errno(r, "%s", eq + 1);
			romcfg_free(&c);
			return HEADS_EXIT_FAIL;
		}
	}
	return finish_write(dev, &c);
}

static int do_remove(int argc, char **argv)
{
	struct opts o = {0};
	_cleanup_free_ char *dev = NULL;
	struct romcfg c = {.slot = -1};
	int r = load(argc, argv, "remove", &o, &dev, &c);
	if (r)
		return r;
	for (int i = optind; i < argc; i++)
		if (romcfg_remove(&c, argv[i]) < 0) {
			log_error("%s: %s is not in the ROM config area", dev, argv[i]);
			romcfg_free(&c);
			return HEADS_EXIT_FAIL;
		}
	return finish_write(dev, &c);
}

static int do_add_keyring(int argc, char **argv)
{
	struct opts o = {0};
	_cleanup_free_ char *dev = NULL;
	struct romcfg c = {.slot = -1};
	int r = load(argc, argv, "add-keyring", &o, &dev, &c);
	if (r)
		return r;
	if (!o.gnupghome) {
		romcfg_free(&c);
		return cmd_usage_error("rom", "add-keyring: --gnupghome DIR is required");
	}
	if (romcfg_set_keyring(&c, o.gnupghome) < 0) {
		romcfg_free(&c);
		return HEADS_EXIT_FAIL;
	}
	return finish_write(dev, &c);
}

static int do_extract(int argc, char **argv)
{
	struct opts o = {0};
	_cleanup_free_ char *dev = NULL;
	struct romcfg c = {.slot = -1};
	int r = load(argc, argv, "extract", &o, &dev, &c);
	if (r)
		return r;
	if (!o.root) {
		romcfg_free(&c);
		return cmd_usage_error("rom", "extract: --root DIR is required");
	}
	r = romcfg_extract(&c, o.root);
	romcfg_free(&c);
	return r < 0 ? HEADS_EXIT_FAIL : 0;
}

static int do_erase(int argc, char **argv)
{
	struct opts o = {0};
	int r = parse(argc, argv, "erase", &o);
	if (r)
		return r;
	if (!o.device)
		return cmd_usage_error("rom", "erase: --device PATH is required");
	return romcfg_erase(o.device) < 0 ? HEADS_EXIT_FAIL : 0;
}

static int do_predict(int argc, char **argv)
{
	struct opts o = {0};
	_cleanup_free_ char *dev = NULL;
	struct romcfg c = {.slot = -1};
	struct romcfg_event *ev = NULL;
	size_t n = 0, len = 0, dl;
	uint8_t base[32] = {0}, out[32];
	char hex[65];
	int r = load(argc, argv, "predict-pcr7", &o, &dev, &c);
	if (r)
		return r;
	const char *bank = o.bank ? o.bank : tpm_tcti_bank(NULL);
	dl = tpm_bank_len(bank);
	if (!dl) {
		romcfg_free(&c);
		return cmd_usage_error("rom", "predict-pcr7: --bank is sha256 or sha1");
	}
	if (!o.base) {
		r = romcfg_predict_pcr7(&c, bank, out);
		if (r < 0)
			log_error_errno(r, "predicting PCR 7 (no %s: was init run with a TPM?)",
					ROMCFG_PCR7_BASE);
	} else if (strlen(o.base) != 2 * dl || hex_decode(o.base, base, dl, &len) < 0 ||
		   len != dl) {
		romcfg_free(&c);
		return cmd_usage_error("rom", "predict-pcr7: --base takes %zu hex digits (%s)",
				       2 * dl, bank);
	} else {
		r = romcfg_events(&c, o.board, o.user, bank, &ev, &n);
		if (r == 0)
			r = romcfg_fold(bank, base, ev, n, out);
	}
	romcfg_free(&c);
	romcfg_events_free(ev, n);
	if (r < 0)
		return HEADS_EXIT_FAIL;
	hex_encode(out, dl, hex);
	printf("%s\n", hex);
	return 0;
}

static const struct heads_subcommand subs[] = {
	{"list", "show the ROM config area", do_list},
	{"add", "add or replace files", do_add},
	{"remove", "remove files", do_remove},
	{"add-keyring", "store a GnuPG home's keyring as the ROM keyring", do_add_keyring},
	{"extract", "write the files beneath a directory", do_extract},
	{"erase", "blank the area", do_erase},
	{"predict-pcr7", "PCR 7 after a boot with this area", do_predict},
	{},
};

static int run(int argc, char **argv);
const struct heads_command cmd_rom = {
	.name = "rom",
	.summary = "the ROM configuration area (ROM keyring, config.user)",
	.usage = usage,
	.run = run,
};

static int run(int argc, char **argv)
{
	return cmd_run_sub(&cmd_rom, subs, argc, argv);
}
