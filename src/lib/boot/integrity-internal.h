/* integrity-internal.h - what integrity.c and integrity_sign.c share (not a
 * public interface; the contract is integrity.h). */
#ifndef HEADS_BOOT_INTEGRITY_INTERNAL_H
#define HEADS_BOOT_INTEGRITY_INTERNAL_H

#include "boot/integrity.h"
#include "boot/sig.h"

#include <stdbool.h>
#include <stddef.h>

#define DEFAULT_GLOB "kexec_default.*.txt"
#define TRIGGER_GLOB MANIFEST_TRIGGER_GLOB

/* The signature check runs in a child process (sig_verify_files_start)
 * while /boot is hashed: its fixed cost (a gpg process) overlaps the
 * hashing instead of preceding it. */
struct pending_sig {
	char *sig;
	size_t len;
	bool started;
	struct sig_job job;
};

/* integrity.c */
void integrity_detail(struct integrity_report *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
const struct boot_signed_file *integrity_need(struct integrity_report *rep,
					      const struct boot_signed *ps, const char *name,
					      enum integrity_manifest_state *st);
void integrity_finish_sig(int bootfd, const char *keyring, struct pending_sig *p,
			  const struct boot_signed *ps, struct integrity_report *rep);
int integrity_read_signed(int bootfd, const char *keyring, struct integrity_report *rep,
			  struct boot_signed *ps, struct pending_sig *pending);

#endif
