/* boot-internal.h - helpers shared inside src/lib/boot (not an API). */
#ifndef HEADS_BOOT_INTERNAL_H
#define HEADS_BOOT_INTERNAL_H

/* Remove a private temporary directory tree we created (bounded depth,
 * never follows symlinks). Errors are ignored. */
void boot_rm_rf(const char *path);

#endif
