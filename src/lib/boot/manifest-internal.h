/* manifest-internal.h - what the manifest files share (not a public
 * interface; the contract is manifest.h). */
#ifndef HEADS_BOOT_MANIFEST_INTERNAL_H
#define HEADS_BOOT_MANIFEST_INTERNAL_H

#include "boot/manifest.h"

/* manifest.c */
int manifest_cmp_str(const void *a, const void *b);

#endif
