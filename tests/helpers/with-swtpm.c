/* with-swtpm [--state DIR] -- CMD [ARGS...]
 * Start a private swtpm, run CMD with HEADS_TCTI set to it, stop that swtpm
 * (only it), exit with CMD's status. With --state the TPM state persists in
 * DIR (created if needed) so a sequence of invocations sees one TPM. */
#include "swtpm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct swtpm t = {0};
	int i = 1, status, r;
	int keep = 0;
	pid_t child;

	if (i + 1 < argc && strcmp(argv[i], "--state") == 0) {
		snprintf(t.state_dir, sizeof(t.state_dir), "%s", argv[i + 1]);
		mkdir(t.state_dir, 0700);
		keep = 1;
		i += 2;
	}
	if (i < argc && strcmp(argv[i], "--") == 0)
		i++;
	if (i >= argc) {
		fprintf(stderr, "usage: with-swtpm [--state DIR] -- CMD [ARGS...]\n");
		return 2;
	}
	r = swtpm_start(&t);
	if (r < 0) {
		fprintf(stderr, "with-swtpm: cannot start swtpm: %s\n", strerror(-r));
		return 125;
	}
	setenv("HEADS_TCTI", t.tcti, 1);
	child = fork();
	if (child == 0) {
		execvp(argv[i], argv + i);
		perror(argv[i]);
		_exit(127);
	}
	waitpid(child, &status, 0);
	if (keep)
		swtpm_stop(&t);
	else
		swtpm_destroy(&t);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
