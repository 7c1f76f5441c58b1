/* log.h - leveled logging to the console and a session log, plus the
 * append-only measurement trace.
 *
 * Levels (most to least severe): error, warn, note, info, debug.
 * - Console (stderr): messages at or above the console threshold
 *   (default: info; HEADS_DEBUG=1 or log_set_console_level() lowers it).
 * - Session log (log_open_session(), e.g. /tmp/debug.log): every message at
 *   every level, with a monotonic timestamp and the level name.
 * - Measurement trace (log_open_trace(), e.g. /tmp/measuring_trace.log): one
 *   line per PCR extension, format documented at log_measurement(). It is
 *   opened O_APPEND and never truncated.
 *
 * - Console sink (log_set_console_sink()): while set, the messages that
 *   would go to stderr go to the sink instead (the newt UI draws them in
 *   its status area, so no line is written over its windows).
 *
 * Never log secrets. log_error_errno() returns the negative errno it was
 * given, so call sites can `return log_error_errno(r, "...: %m")`-style.
 * Not thread-safe against log_open_*(); message emission is line-atomic.
 */
#ifndef HEADS_LOG_H
#define HEADS_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_ERROR = 0,
	LOG_WARN,
	LOG_NOTE,
	LOG_INFO,
	LOG_DEBUG,
};

void log_set_console_level(enum log_level level);

/* Console messages (at or above the console threshold, without their level
 * prefix) go to fn instead of stderr while it is set; NULL restores stderr.
 * The session log is unaffected. Calls are serialised (worker threads may
 * log); a message fn itself logs goes to the session log only. */
typedef void (*log_console_sink)(enum log_level level, const char *msg, void *data);
void log_set_console_sink(log_console_sink fn, void *data);
enum log_level log_get_console_level(void);

/* Parse "error|warn|note|info|debug"; returns the level or -EINVAL. */
int log_level_from_string(const char *s);
const char *log_level_to_string(enum log_level level);

/* Open (append) the session log. Returns 0 or -errno. NULL closes it. */
int log_open_session(const char *path);
/* Open (append) the measurement trace. Returns 0 or -errno. NULL closes it. */
int log_open_trace(const char *path);
void log_close(void);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_note(...) log_msg(LOG_NOTE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/* Log at LOG_ERROR with ": <strerror(-err)>" appended; returns err (negative
 * errno; a positive value is negated). */
int log_error_errno(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Append one line to the measurement trace (if open) and the session log.
 * Line format (tab-separated, one extension per line):
 *   MEASURE<TAB><pcr><TAB><bank><TAB><digest hex><TAB><description>
 * where <bank> is "sha1" or "sha256", <digest hex> is the lower-case hex of
 * the digest that was extended (not the resulting PCR value), and
 * <description> has every byte < 0x20, 0x7f and '\\' written as \xHH so a
 * line never splits. Returns 0 or -errno (trace write failure). */
int log_measurement(unsigned pcr, const char *bank, const char *digest_hex,
		    const char *description);

/* Escape a description as log_measurement() does; caller frees. */
char *log_escape(const char *s);

#endif
