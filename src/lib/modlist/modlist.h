/* modlist.h - the board's kernel module list and loading one module.
 *
 * The payload's /etc/modules (written by tools/payload/build-payload.py from
 * boards/<board>/modules and modules.dep) lists the modules init loads, in
 * load order (dependencies first):
 *   # comment
 *   /lib/modules/<kver>/kernel/drivers/block/virtio_blk.ko
 *   /lib/modules/<kver>/kernel/foo.ko arg1=x arg2=y
 * One module per line: an absolute path ending in ".ko" (no ".." component,
 * no control characters, no spaces), optionally one space and the module
 * arguments (printable, passed to finit_module as is). Blank and '#' lines
 * are skipped. Bounds: file <= 64 KiB, <= 512 modules, a line <= 4096 bytes.
 * A malformed line rejects the whole file ("NAME:LINE: reason").
 *
 * modlist_insmod() loads one module with finit_module(2); the measurement
 * (PCR 5: the arguments if any, then the file) is the caller's, done before
 * the load as the reference insmod.sh does.
 * All return 0 or a negative errno.
 */
#ifndef HEADS_MODLIST_H
#define HEADS_MODLIST_H

#include <stdbool.h>
#include <stddef.h>

#define MODLIST_MAX_FILE (64 * 1024)
#define MODLIST_MAX_ENTRIES 512
#define MODLIST_MAX_LINE 4096

struct modlist_entry {
	char *path;   /* absolute path of the .ko */
	char *args;   /* "" when none */
	char *name;   /* kernel name: basename without .ko, '-' -> '_' */
	unsigned line;
};

struct modlist {
	struct modlist_entry *v;
	size_t n;
};

void modlist_free(struct modlist *m);

/* Parse buf (len bytes; name for messages). On error -EINVAL and, if
 * ret_error, a malloc'd "name:line: reason"; *ret untouched. */
int modlist_parse(const char *name, const char *buf, size_t len, struct modlist *ret,
		  char **ret_error);
/* Read (bounded) and parse a file; -ENOENT if missing, -EFBIG if too big. */
int modlist_load(const char *path, struct modlist *ret, char **ret_error);

/* True if /sys/module/<name> exists (loaded or built in). */
bool modlist_is_loaded(const char *name);

/* finit_module(2) the file with args. -EEXIST if already loaded. */
int modlist_insmod(const char *path, const char *args);

#endif
