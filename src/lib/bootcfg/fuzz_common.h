/* Shared by the bootcfg fuzz targets: a private boot directory with a few
 * kernels, the input written as one configuration file, and invariants
 * checked on every parsed entry. */
#ifndef HEADS_BOOTCFG_FUZZ_COMMON_H
#define HEADS_BOOTCFG_FUZZ_COMMON_H

#include "bootcfg.h"
#include "fs.h"
#include "log.h"
#include "util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <unistd.h>

static char fuzz_dir[64];

static int fuzz_rm(const char *p, const struct stat *st, int type, struct FTW *f)
{
	(void)st;
	(void)f;
	return type == FTW_DP ? rmdir(p) : unlink(p);
}

static void fuzz_cleanup(void)
{
	if (fuzz_dir[0])
		nftw(fuzz_dir, fuzz_rm, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *fuzz_bootdir(void)
{
	char *dir = fuzz_dir;
	if (!dir[0]) {
		static const char *const files[] = {"vmlinuz", "initrd.img", "xen.gz", "isolinux/vmlinuz",
						    "isolinux/initrd.img", "boot/vmlinuz"};
		snprintf(fuzz_dir, sizeof(fuzz_dir), "/tmp/heads-fuzz-bootcfg-%d", (int)getpid());
		atexit(fuzz_cleanup);
		for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
			char *p = xasprintf("%s/%s", dir, files[i]);
			char *d = xstrdup(p);
			*strrchr(d, '/') = '\0';
			if (fs_mkdir_p(d, 0755) < 0 || fs_write_atomic(p, "x", 1, 0644) < 0)
				abort();
			free(d);
			free(p);
		}
		log_set_console_level(LOG_ERROR);
	}
	return dir;
}

static void fuzz_check(const struct boot_entries *l)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct boot_entry *e = &l->v[i];
		struct boot_entry back;
		if (!e->title || !e->kernel || e->kernel[0] != '/' || !e->cmdline)
			abort();
		for (size_t k = 0; k < e->n_initrd; k++)
			if (e->initrd[k][0] != '/')
				abort();
		char *line = boot_entry_to_line(e);
		if (boot_entry_from_line(line, &back) == 0)
			boot_entry_free(&back);
		free(line);
	}
	if (l->default_index >= (long)l->n)
		abort();
	free(bootcfg_to_json(l));
}

static void fuzz_parse_as(const char *rel, enum bootcfg_format fmt, const uint8_t *data, size_t size)
{
	const char *dir = fuzz_bootdir();
	char *p = xasprintf("%s/%s", dir, rel), *d = xstrdup(p);
	*strrchr(d, '/') = '\0';
	if (fs_mkdir_p(d, 0755) < 0 || fs_write_atomic(p, data, size, 0644) < 0)
		abort();
	struct boot_entries l = {.default_index = -1};
	struct boot_view *v = NULL;
	if (boot_view_open(dir, NULL, &v) < 0)
		abort();
	if (bootcfg_parse(v, fmt == BOOTCFG_BLS ? "loader" : rel, fmt, &l) == 0)
		fuzz_check(&l);
	boot_view_free(v);
	boot_entries_free(&l);
	free(d);
	free(p);
}

#endif
