/* swtpm.h - test helper: a private software TPM 2.0 on loopback.
 *
 * swtpm_start() creates (or reuses, for a restart) a state directory, finds a
 * free pair of loopback ports (server P, control P+1, as the swtpm TCTI
 * expects), starts `swtpm socket --tpm2` as a child process and waits until
 * it accepts connections. swtpm_stop() signals exactly that pid and reaps it;
 * nothing else is ever killed. swtpm_destroy() also removes the state.
 */
#ifndef HEADS_TEST_SWTPM_H
#define HEADS_TEST_SWTPM_H

#include <sys/types.h>

struct swtpm {
	pid_t pid;
	int port;
	char state_dir[256];
	char tcti[128]; /* "swtpm:host=127.0.0.1,port=P" */
	/* Set before swtpm_start(): a TPM 1.2 (swtpm without --tpm2); tcti is
	 * then "tpm12-swtpm:host=127.0.0.1,port=P". */
	int tpm12;
};

/* TPM 1.2 only, before swtpm_start() on an empty state: manufacture it as
 * a TPM 1.2 machine leaves the factory and Heads finds it after a reset:
 * EK created, owned with SHA-1(owner_pass), SRK well-known (swtpm_setup,
 * an independent implementation of TakeOwnership); owner_pass NULL: the EK
 * only, no owner. Creates state_dir. */
int swtpm12_manufacture(struct swtpm *t, const char *owner_pass);

/* Start a fresh swtpm (state_dir empty) or restart on t->state_dir. 0/-errno. */
int swtpm_start(struct swtpm *t);
/* Stop (SIGTERM, then SIGKILL after 5 s) and reap; state is kept. */
void swtpm_stop(struct swtpm *t);
/* Stop, then start again on the same state (a power cycle). */
int swtpm_restart(struct swtpm *t);
/* Stop and delete the state directory. */
void swtpm_destroy(struct swtpm *t);

#endif
