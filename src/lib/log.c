#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum log_level console_level = LOG_INFO;
static int session_fd = -1;
static int trace_fd = -1;
static bool console_level_from_env_done;
static log_console_sink console_sink;
static void *console_sink_data;
static __thread bool in_sink; /* a sink that logs does not recurse */
/* Worker threads (parallel hashing) may log: one sink call at a time. */
static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {
	[LOG_ERROR] = "error",
	[LOG_WARN] = "warn",
	[LOG_NOTE] = "note",
	[LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

static void console_level_from_env(void)
{
	const char *e;
	if (console_level_from_env_done)
		return;
	console_level_from_env_done = true;
	e = getenv("HEADS_DEBUG");
	if (e && *e && !streq(e, "0"))
		console_level = LOG_DEBUG;
}

void log_set_console_level(enum log_level level)
{
	console_level_from_env_done = true;
	console_level = level;
}

void log_set_console_sink(log_console_sink fn, void *data)
{
	console_sink = fn;
	console_sink_data = data;
}

enum log_level log_get_console_level(void)
{
	console_level_from_env();
	return console_level;
}

int log_level_from_string(const char *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(level_names); i++)
		if (s && streq(s, level_names[i]))
			return (int)i;
	return -EINVAL;
}

const char *log_level_to_string(enum log_level level)
{
	if ((unsigned)level >= ARRAY_SIZE(level_names))
		return "?";
	return level_names[level];
}

static int open_append(const char *path, int *fdp)
{
	int fd = -1;
	if (path) {
		fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			return -errno;
	}
	if (*fdp >= 0)
		close(*fdp);
	*fdp = fd;
	return 0;
}

int log_open_session(const char *path) { return open_append(path, &session_fd); }
int log_open_trace(const char *path) { return open_append(path, &trace_fd); }

void log_close(void)
{
	open_append(NULL, &session_fd);
	open_append(NULL, &trace_fd);
}

static void emit_session(enum log_level level, const char *msg)
{
	struct timespec ts;
	char *line;
	if (session_fd < 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	line = xasprintf("[%5lld.%06ld] %s: %s\n", (long long)ts.tv_sec,
			 ts.tv_nsec / 1000, log_level_to_string(level), msg);
	(void)write_full(session_fd, line, strlen(line));
	free(line);
}

static void emit(enum log_level level, const char *msg)
{
	static const char *const prefix[] = {
		[LOG_ERROR] = "ERROR: ",
		[LOG_WARN] = "WARNING: ",
		[LOG_NOTE] = "NOTE: ",
		[LOG_INFO] = "",
		[LOG_DEBUG] = "DEBUG: ",
	};
	emit_session(level, msg);
	if (level > log_get_console_level())
		return;
	if (console_sink) {
		/* A message the sink itself logs stays in the session log. */
		if (!in_sink) {
			in_sink = true;
			pthread_mutex_lock(&sink_lock);
			console_sink(level, msg, console_sink_data);
			pthread_mutex_unlock(&sink_lock);
			in_sink = false;
		}
	} else {
		char *line = xasprintf("%s%s\n", prefix[level], msg);
		(void)write_full(STDERR_FILENO, line, strlen(line));
		free(line);
	}
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char *msg;
	int saved = errno;
	if ((unsigned)level > LOG_DEBUG)
		level = LOG_DEBUG;
	errno = saved; /* for %m */
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	emit(level, msg);
	free(msg);
	errno = saved;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

int log_error_errno(int err, const char *fmt, ...)
{
	va_list ap;
	char *msg, *full;
	if (err > 0)
		err = -err;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	va_end(ap);
	full = xasprintf("%s: %s", msg, strerror(-err));
	emit(LOG_ERROR, full);
	free(full);
	free(msg);
	return err;
}

char *log_escape(const char *s)
{
	size_t n = strlen(s);
	char *out = xmalloc(n * 4 + 1), *o = out;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f || c == '\\')
			o += sprintf(o, "\\x%02x", c);
		else
			*o++ = (char)c;
	}
	*o = '\0';
	return out;
}

int log_measurement(unsigned pcr, const char *bank, const char *digest_hex,
		    const char *description)
{
	_cleanup_free_ char *desc = log_escape(description ? description : "");
	_cleanup_free_ char *line = xasprintf("MEASURE\t%u\t%s\t%s\t%s\n", pcr, bank,
					      digest_hex, desc);
	size_t len = strlen(line);
	line[len - 1] = '\0';
	emit_session(LOG_INFO, line);
	line[len - 1] = '\n';
	if (trace_fd >= 0)
		return write_full(trace_fd, line, len);
	return 0;
}
