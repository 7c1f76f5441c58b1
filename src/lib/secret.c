#include "secret.h"
#include "fs.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <termios.h>
#include <unistd.h>

static size_t page_round(size_t n)
{
	long ps = sysconf(_SC_PAGESIZE);
	size_t p = ps > 0 ? (size_t)ps : 4096;
	return (n + p - 1) / p * p;
}

struct secret *secret_new(size_t cap)
{
	struct secret *s;
	size_t maplen;
	void *m;

	if (cap > SECRET_MAX) {
		errno = EINVAL;
		return NULL;
	}
	maplen = page_round(cap + 1);
	m = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	if (mlock(m, maplen) < 0) {
		int e = errno;
		munmap(m, maplen);
		errno = e;
		return NULL;
	}
	(void)madvise(m, maplen, MADV_DONTDUMP);
	s = calloc(1, sizeof(*s));
	if (!s) {
		munlock(m, maplen);
		munmap(m, maplen);
		errno = ENOMEM;
		return NULL;
	}
	s->data = m;
	s->cap = maplen - 1;
	s->len = 0;
	return s;
}

struct secret *secret_dup(const void *data, size_t len)
{
	struct secret *s = secret_new(len);
	if (!s)
		return NULL;
	memcpy(s->data, data, len);
	s->len = len;
	s->data[len] = 0;
	return s;
}

void secret_free(struct secret *s)
{
	size_t maplen;
	if (!s)
		return;
	maplen = s->cap + 1;
	explicit_bzero(s->data, maplen);
	munlock(s->data, maplen);
	munmap(s->data, maplen);
	explicit_bzero(s, sizeof(*s));
	free(s);
}

int secret_random(struct secret *s, size_t len)
{
	size_t got = 0;
	if (len > s->cap)
		return -EINVAL;
	while (got < len) {
		ssize_t r = getrandom(s->data + got, len - got, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)r;
	}
	s->len = len;
	s->data[len] = 0;
	return 0;
}

int secret_read_fd(int fd, size_t max, struct secret **ret)
{
	struct secret *s = secret_new(max);
	if (!s)
		return -errno;
	for (;;) {
		ssize_t r;
		if (s->len == max) {
			uint8_t probe;
			r = read(fd, &probe, 1);
			if (r < 0 && errno == EINTR)
				continue;
			explicit_bzero(&probe, 1);
			if (r == 0)
				break;
			secret_free(s);
			return r < 0 ? -errno : -EFBIG;
		}
		r = read(fd, s->data + s->len, max - s->len);
		if (r < 0) {
			int e = errno;
			if (e == EINTR)
				continue;
			secret_free(s);
			return -e;
		}
		if (r == 0)
			break;
		s->len += (size_t)r;
	}
	s->data[s->len] = 0;
	*ret = s;
	return 0;
}

int secret_read_line_fd(int fd, size_t max, struct secret **ret)
{
	struct secret *s = secret_new(max + 1);
	if (!s)
		return -errno;
	int r = fs_read_line_into(fd, s->data, max, &s->len);
	if (r == -EPIPE) /* an empty input is an empty passphrase */
		r = 0, s->len = 0;
	if (r < 0) {
		secret_free(s);
		return r;
	}
	s->data[s->len] = 0;
	*ret = s;
	return 0;
}

int secret_read_passphrase(int tty_fd, const char *prompt, size_t max,
			   struct secret **ret)
{
	struct termios old, noecho;
	sigset_t block, saved;
	int r;

	if (tcgetattr(tty_fd, &old) < 0) {
		if (prompt)
			(void)write_full(tty_fd, prompt, strlen(prompt));
		return secret_read_line_fd(tty_fd, max, ret);
	}

	/* Block job-control/termination signals while echo is off so the
	 * terminal is always restored. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTSTP);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGQUIT);
	sigprocmask(SIG_BLOCK, &block, &saved);

	noecho = old;
	noecho.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
	noecho.c_lflag |= ICANON;
	if (tcsetattr(tty_fd, TCSAFLUSH, &noecho) < 0) {
		r = -errno;
		sigprocmask(SIG_SETMASK, &saved, NULL);
		return r;
	}
	/* The prompt only once type-ahead was flushed and echo is off: an
	 * answer typed as soon as the prompt shows is never thrown away. */
	if (prompt)
		(void)write_full(tty_fd, prompt, strlen(prompt));
	r = secret_read_line_fd(tty_fd, max, ret);
	(void)tcsetattr(tty_fd, TCSAFLUSH, &old);
	sigprocmask(SIG_SETMASK, &saved, NULL);
	(void)write_full(tty_fd, "\n", 1);
	return r;
}

int secret_equal(const struct secret *a, const struct secret *b)
{
	size_t n = a->len > b->len ? a->len : b->len;
	unsigned char diff = (unsigned char)(a->len != b->len);
	for (size_t i = 0; i < n; i++) {
		unsigned char x = i < a->len ? a->data[i] : 0;
		unsigned char y = i < b->len ? b->data[i] : 0;
		diff |= (unsigned char)(x ^ y);
	}
	return diff == 0;
}
