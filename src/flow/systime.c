/* flow/systime.c - the system time (part of `heads menu`, flow/menu.h):
 * Options -> h and the "System Time Incorrect" prompt at start-up
 * (reference heads-behaviour.md 1.2 step 7 key-init.sh, 9 change-time.sh:
 * UTC, year 2024-2200, `date -s` + `hwclock -w`). TOTP codes are computed
 * from the clock: with a wrong clock they never match the phone.
 *
 * The date is read with strptime(3) in one fixed format and checked by the
 * round trip through timegm/gmtime (no 30 February). The clock is set with
 * clock_settime(2) and the RTC with RTC_SET_TIME (UTC, as the reference's
 * `hwclock -w`); in a dry run (not the payload) nothing is set and the time
 * that would be is printed. */
#include "flow/menu.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/rtc.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define YEAR_MIN 2024
#define YEAR_MAX 2200
/* A clock before this is wrong: the date of this source (a constant, so
 * the payload builds reproducibly; raise it with a release). The
 * reference's floor is 2024-01-01. */
#define TIME_FLOOR ((time_t)1767225600) /* 2026-01-01 00:00:00 UTC */

static void fmt_utc(time_t t, char out[64])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 64, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

/* "YYYY-MM-DD HH:MM:SS" (UTC) -> t. NULL ok, else the reason. */
static const char *parse_utc(const char *s, time_t *ret)
{
	struct tm tm = {0}, back;
	const char *end;
	time_t t;

	if (strlen(s) != 19)
		return "the format is YYYY-MM-DD HH:MM:SS";
	end = strptime(s, "%Y-%m-%d %H:%M:%S", &tm);
	if (!end || *end)
		return "the format is YYYY-MM-DD HH:MM:SS";
	if (tm.tm_year + 1900 < YEAR_MIN || tm.tm_year + 1900 > YEAR_MAX)
		return "the year must be between 2024 and 2200";
	back = tm;
	t = timegm(&back);
	if (t == (time_t)-1 || !gmtime_r(&t, &back) || back.tm_mday != tm.tm_mday ||
	    back.tm_mon != tm.tm_mon || back.tm_hour != tm.tm_hour || back.tm_min != tm.tm_min ||
	    back.tm_sec != tm.tm_sec)
		return "there is no such date or time";
	*ret = t;
	return NULL;
}

/* The system clock, then the RTC. 0, or <0 (logged). */
static int set_clock(struct menu *m, time_t t)
{
	struct timespec ts = {.tv_sec = t};
	struct rtc_time rt = {0};
	struct tm tm;
	char when[64];
	int fd;

	fmt_utc(t, when);
	if (!m->live) {
		printf("heads menu: set time (dry run): %s\n", when);
		return 0;
	}
	if (clock_settime(CLOCK_REALTIME, &ts) < 0)
		return log_error_errno(-errno, "setting the system time to %s", when);
	log_info("system time set to %s", when);
	fd = open("/dev/rtc0", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fd = open("/dev/rtc", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		log_warn("no RTC (/dev/rtc0): the time lasts until power-off");
		return 0;
	}
	gmtime_r(&t, &tm);
	rt.tm_sec = tm.tm_sec, rt.tm_min = tm.tm_min, rt.tm_hour = tm.tm_hour;
	rt.tm_mday = tm.tm_mday, rt.tm_mon = tm.tm_mon, rt.tm_year = tm.tm_year;
	if (ioctl(fd, RTC_SET_TIME, &rt) < 0) {
		int e = -errno;
		close(fd);
		return log_error_errno(e, "writing the RTC");
	}
	close(fd);
	log_info("RTC set to %s", when);
	return 0;
}

enum flow_outcome menu_change_time(struct menu *m)
{
	char now[64];

	for (int attempt = 0; attempt < 3; attempt++) {
		_cleanup_free_ char *in = NULL;
		const char *why;
		time_t t;
		int r;

		menu_utc_now(now);
		now[19] = '\0'; /* without " UTC": the input format */
		r = ui_input(m->ui, "Change system time",
			     "The date and time in UTC, YYYY-MM-DD HH:MM:SS (year 2024-2200):", now,
			     &in);
		if (r < 0)
			return menu_outcome(m, r);
		why = parse_utc(in, &t);
		if (why) {
			_cleanup_free_ char *msg = xasprintf("'%s' refused: %s.", in, why);
			r = ui_msgbox(m->ui, UI_BG_ERROR, "Change system time", msg);
			if (ui_fatal(r))
				return menu_outcome(m, r);
			continue;
		}
		r = set_clock(m, t);
		if (r < 0) {
			_cleanup_free_ char *msg = xasprintf("The time could not be set: %s.",
							     strerror(-r));
			r = ui_msgbox(m->ui, UI_BG_ERROR, "Change system time", msg);
			return menu_gone_or_back(r);
		}
		if (m->live && m->tpm_on && !menu_basic(m)) {
			(void)menu_compute_totp(m); /* the code of the new time */
			menu_refresh_status(m);
		}
		fmt_utc(t, now);
		_cleanup_free_ char *msg = xasprintf("The system time is now %s.", now);
		r = ui_msgbox(m->ui, UI_BG_NORMAL, "Change system time", msg);
		return menu_gone_or_back(r);
	}
	return FLOW_BACK;
}

enum flow_outcome menu_time_check(struct menu *m)
{
	time_t now = time(NULL);
	char a[64], b[64];
	int r;

	if (now >= TIME_FLOOR)
		return FLOW_BACK;
	fmt_utc(now, a);
	fmt_utc(TIME_FLOOR, b);
	log_warn("the system time %s is before %s", a, b);
	_cleanup_free_ char *t = xasprintf(
		"The system time, %s, is before this firmware was made (%s): the clock is "
		"wrong. TOTP codes depend on it and will not match your phone.\n\nSet the "
		"time now?", a, b);
	r = menu_yes(m, UI_BG_WARNING, "System Time Incorrect", t);
	if (r == 1)
		return menu_change_time(m);
	return menu_outcome(m, r);
}
