/* Temporary: parsers being written. */
#include "internal.h"
#include <errno.h>
int bc_parse_grub(const char *b, const char *c, struct boot_entries *l) { (void)b; (void)c; (void)l; return -EOPNOTSUPP; }
int bc_parse_syslinux(const char *b, const char *c, struct boot_entries *l) { (void)b; (void)c; (void)l; return -EOPNOTSUPP; }
int bc_parse_bls(const char *b, const char *c, struct boot_entries *l) { (void)b; (void)c; (void)l; return -EOPNOTSUPP; }
int bc_parse_grub_legacy(const char *b, const char *c, struct boot_entries *l) { (void)b; (void)c; (void)l; return -EOPNOTSUPP; }
