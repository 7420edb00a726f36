/* Schedules of the packages' [[cron]] jobs: the five fields of crontab(5)
 * (minute hour day-of-month month day-of-week, each "*", a number, a range
 * "a-b", a list "a,b", any of them with a step "/n"; month and weekday
 * names; 7 is Sunday as 0 is; the day fields match when either does unless
 * one is "*"), the @hourly, @daily (@midnight), @weekly, @monthly, @yearly
 * (@annually) shorthands, and "@every DURATION" (10s, 5m, 2h, 1d; 1 s to
 * 31 days) for what runs more often than each minute.
 *
 * Plain C and libc only: the in-container init (src/init/) is linked
 * statically with it, without the rest of the library. */
#ifndef NUA_CRON_H
#define NUA_CRON_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct cron_schedule {
	uint64_t minutes;  /* bit n: minute n (0-59) */
	uint32_t hours;	   /* 0-23 */
	uint32_t mdays;	   /* bit n: day n (1-31) */
	uint16_t months;   /* bit n: month n (1-12) */
	uint8_t wdays;	   /* bit n: weekday n (0 Sunday - 6) */
	bool mday_star, wday_star;
	unsigned every; /* seconds for "@every"; then the fields are unused */
};

/* Parse text into *out. On failure return -1 with a message naming what is
 * wrong in msg (size bytes). */
int cron_parse(const char *text, struct cron_schedule *out, char *msg, size_t size);

/* Whether the schedule fires in the minute of tm (seconds ignored). Not
 * for "@every" schedules. */
bool cron_matches(const struct cron_schedule *s, const struct tm *tm);

/* The first time strictly after t at which the schedule fires (local time,
 * as localtime_r gives it), or -1 when none within five years (February
 * 30th). */
int64_t cron_next(const struct cron_schedule *s, int64_t t);

#endif
