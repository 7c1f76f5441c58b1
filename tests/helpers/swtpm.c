#include "swtpm.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int port_free(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;
	if (s < 0)
		return 0;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = bind(s, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(s);
	return ok;
}

static int pick_port_pair(void)
{
	for (int tries = 0; tries < 200; tries++) {
		struct sockaddr_in a = {.sin_family = AF_INET};
		socklen_t l = sizeof(a);
		int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), p;
		if (s < 0)
			return -errno;
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 ||
		    getsockname(s, (struct sockaddr *)&a, &l) < 0) {
			close(s);
			return -errno;
		}
		p = ntohs(a.sin_port);
		close(s);
		if (p < 65535 && port_free(p) && port_free(p + 1))
			return p;
	}
	return -EADDRINUSE;
}

static int can_connect(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;
	if (s < 0)
		return 0;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = connect(s, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(s);
	return ok;
}

int swtpm_start(struct swtpm *t)
{
	char server[128], ctrl[128], state[300];
	int port;

	if (!t->state_dir[0]) {
		const char *tmp = getenv("TMPDIR");
		snprintf(t->state_dir, sizeof(t->state_dir), "%s/heads-swtpm-XXXXXX",
			 tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(t->state_dir))
			return -errno;
	}
	port = pick_port_pair();
	if (port < 0)
		return port;
	t->port = port;
	snprintf(t->tcti, sizeof(t->tcti), "%sswtpm:host=127.0.0.1,port=%d",
		 t->tpm12 ? "tpm12-" : "", port);
	snprintf(server, sizeof(server), "type=tcp,port=%d,bindaddr=127.0.0.1", port);
	snprintf(ctrl, sizeof(ctrl), "type=tcp,port=%d,bindaddr=127.0.0.1", port + 1);
	snprintf(state, sizeof(state), "dir=%s", t->state_dir);

	t->pid = fork();
	if (t->pid < 0)
		return -errno;
	if (t->pid == 0) {
		char *argv[] = {"swtpm", "socket", "--tpm2", "--server", server, "--ctrl", ctrl,
				"--flags", "not-need-init,startup-clear", "--tpmstate", state,
				NULL};
		if (t->tpm12) /* drop --tpm2: TPM 1.2 mode */
			memmove(&argv[2], &argv[3], sizeof(argv) - 3 * sizeof(argv[0]));
		execvp("swtpm", argv);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		int status;
		struct timespec ts = {0, 10 * 1000 * 1000};
		if (waitpid(t->pid, &status, WNOHANG) == t->pid) {
			t->pid = 0;
			return -ECHILD; /* swtpm exited: port race or not installed */
		}
		if (can_connect(port) && can_connect(port + 1))
			return 0;
		nanosleep(&ts, NULL);
	}
	swtpm_stop(t);
	return -ETIMEDOUT;
}

void swtpm_stop(struct swtpm *t)
{
	int status;
	if (t->pid <= 0)
		return;
	kill(t->pid, SIGTERM);
	for (int i = 0; i < 500; i++) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		if (waitpid(t->pid, &status, WNOHANG) == t->pid) {
			t->pid = 0;
			return;
		}
		nanosleep(&ts, NULL);
	}
	kill(t->pid, SIGKILL);
	waitpid(t->pid, &status, 0);
	t->pid = 0;
}

int swtpm_restart(struct swtpm *t)
{
	swtpm_stop(t);
	return swtpm_start(t);
}

void swtpm_destroy(struct swtpm *t)
{
	char cmd[300];
	swtpm_stop(t);
	if (t->state_dir[0] && strncmp(t->state_dir, "/", 1) == 0 &&
	    strstr(t->state_dir, "heads-swtpm-")) {
		/* Only the directory we created: files inside, then it. */
		snprintf(cmd, sizeof(cmd), "%s", t->state_dir);
		pid_t p = fork();
		if (p == 0) {
			execlp("rm", "rm", "-rf", "--", cmd, (char *)NULL);
			_exit(127);
		}
		if (p > 0)
			waitpid(p, NULL, 0);
	}
	t->state_dir[0] = '\0';
}

int swtpm12_manufacture(struct swtpm *t, const char *owner_pass)
{
	int status;
	pid_t pid;

	if (!t->state_dir[0]) {
		const char *tmp = getenv("TMPDIR");
		snprintf(t->state_dir, sizeof(t->state_dir), "%s/heads-swtpm-XXXXXX",
			 tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(t->state_dir))
			return -errno;
	}
	t->tpm12 = 1;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0) {
			dup2(devnull, 1);
			dup2(devnull, 2);
		}
		if (!owner_pass) /* EK only, no owner: as the TPM leaves the factory */
			execlp("swtpm_setup", "swtpm_setup", "--tpmstate", t->state_dir,
			       "--createek", "--config", "/dev/null", (char *)NULL);
		else
			execlp("swtpm_setup", "swtpm_setup", "--tpmstate", t->state_dir,
			       "--createek", "--take-ownership", "--ownerpass", owner_pass,
			       "--srk-well-known", "--config", "/dev/null", (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}
