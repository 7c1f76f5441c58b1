/* kexec.c - being written (issue 6). */
#include "kexec.h"
#include <errno.h>
#include <string.h>
void kexec_opts_init(struct kexec_opts *o) { memset(o, 0, sizeof(*o)); o->initrd_fd = -1; }
int kexec_plan_build(const char *b, const struct boot_entry *e, const struct kexec_opts *o, struct kexec_plan *r) { (void)b; (void)e; (void)o; (void)r; return -ENOSYS; }
void kexec_plan_free(struct kexec_plan *p) { (void)p; }
char **kexec_plan_argv(const struct kexec_plan *p, const char *t) { (void)p; (void)t; return NULL; }
void kexec_argv_free(char **argv) { (void)argv; }
int kexec_plan_describe(const struct kexec_plan *p, const char *t, FILE *out) { (void)p; (void)t; (void)out; return -ENOSYS; }
int kexec_plan_load(const struct kexec_plan *p, const char *t) { (void)p; (void)t; return -ENOSYS; }
int kexec_exec(void) { return -ENOSYS; }
