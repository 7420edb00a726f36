/* Schedules of [[cron]] and the {{NAME}} templates of [[template]]. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cron.h"
#include "template.h"
#include "test.h"

/* Unix time of a UTC date (the tests run with TZ=UTC). */
static int64_t utc(int y, int mon, int d, int h, int min)
{
	struct tm tm = { 0 };

	tm.tm_year = y - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = min;
	return (int64_t)timegm(&tm);
}

static int64_t next_of(const char *text, int64_t t)
{
	struct cron_schedule s;
	char msg[256];

	if (cron_parse(text, &s, msg, sizeof(msg)) < 0)
		return -2;
	return cron_next(&s, t);
}

TEST(cron_parses_fields_names_steps_and_shorthands)
{
	struct cron_schedule s;
	char msg[256];

	setenv("TZ", "UTC", 1);
	tzset();
	CHECK_INT(cron_parse("*/15 9-17 * * mon-fri", &s, msg, sizeof(msg)), 0);
	CHECK(s.minutes == ((1ULL << 0) | (1ULL << 15) | (1ULL << 30) | (1ULL << 45)));
	CHECK_INT(s.hours, 0x3fe00);
	CHECK_INT(s.wdays, 0x3e);
	CHECK(s.mday_star && !s.wday_star);
	/* 7 is Sunday as 0 is; names in any case. */
	CHECK_INT(cron_parse("0 0 * JAN,dec 7", &s, msg, sizeof(msg)), 0);
	CHECK_INT(s.wdays, 1);
	CHECK_INT(s.months, (1 << 1) | (1 << 12));
	/* "5/20": from 5 on, every 20. */
	CHECK_INT(cron_parse("5/20 * * * *", &s, msg, sizeof(msg)), 0);
	CHECK(s.minutes == ((1ULL << 5) | (1ULL << 25) | (1ULL << 45)));
	CHECK_INT(cron_parse("@daily", &s, msg, sizeof(msg)), 0);
	CHECK(s.minutes == 1 && s.hours == 1);
	CHECK_INT(cron_parse("@every 90s", &s, msg, sizeof(msg)), 0);
	CHECK_INT(s.every, 90);
	CHECK_INT(cron_parse("@every 2h", &s, msg, sizeof(msg)), 0);
	CHECK_INT(s.every, 7200);
}

TEST(cron_refuses_what_is_not_a_schedule)
{
	static const char *const bad[] = {
		"", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * 32 * *",
		"* * * 13 *", "* * * * 8", "5-1 * * * *", "*/0 * * * *", "a * * * *", "1,,2 * * * *",
		"* * * foo *", "@often", "@every", "@every 5", "@every 0s", "@every 32d", "@every -1m",
		"1- * * * *", "0001 * * * *",
	};
	struct cron_schedule s;
	char msg[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		msg[0] = '\0';
		CHECK_INT(cron_parse(bad[i], &s, msg, sizeof(msg)), -1);
		CHECK(msg[0] != '\0');
	}
	CHECK_INT(cron_parse("61 * * * *", &s, msg, sizeof(msg)), -1);
	CHECK_STR(msg, "'61' is not a valid minute (0-59)");
}

TEST(cron_next_finds_the_next_minute_it_fires)
{
	int64_t t = utc(2026, 12, 7, 10, 7) + 30; /* Monday 10:07:30 */

	setenv("TZ", "UTC", 1);
	tzset();
	CHECK_INT(next_of("* * * * *", t), utc(2026, 12, 7, 10, 8));
	CHECK_INT(next_of("*/15 * * * *", t), utc(2026, 12, 7, 10, 15));
	CHECK_INT(next_of("0 3 * * *", t), utc(2026, 12, 8, 3, 0));
	CHECK_INT(next_of("@hourly", utc(2026, 12, 7, 10, 0)), utc(2026, 12, 7, 11, 0));
	/* Saturday: the 12th. */
	CHECK_INT(next_of("30 9 * * sat", t), utc(2026, 12, 12, 9, 30));
	/* Both day fields restricted: either matches (the 1st, or a Friday). */
	CHECK_INT(next_of("0 0 1 * fri", t), utc(2026, 12, 11, 0, 0));
	/* The 29th of February: in 2028. */
	CHECK_INT(next_of("0 0 29 2 *", t), utc(2028, 2, 29, 0, 0));
	/* Never: -1, quickly. */
	CHECK_INT(next_of("0 0 30 2 *", t), -1);
	CHECK_INT(next_of("@every 45s", t), t + 45);
}

static const char *lookup(const char *name, size_t len, void *arg)
{
	(void)arg;
	if (len == 4 && !memcmp(name, "PORT", 4))
		return "8080";
	if (len == 7 && !memcmp(name, "DB_PASS", 7))
		return "s3cr{{et";
	return NULL;
}

TEST(template_fills_names_and_leaves_the_rest)
{
	static const char text[] = "port={{PORT}} pass='{{ DB_PASS }}'\n"
				   "php: ${var} {{ not a name }} {{x-y}} {{PORT} {{{{PORT}}}}\n";
	char *out = NULL, msg[128];
	size_t len = 0;

	CHECK_INT(template_render(text, sizeof(text) - 1, lookup, NULL, &out, &len, msg,
				  sizeof(msg)),
		  0);
	CHECK_STR(out, "port=8080 pass='s3cr{{et'\n"
		       "php: ${var} {{ not a name }} {{x-y}} {{PORT} {{8080}}\n");
	CHECK_INT(len, strlen(out));
	free(out);
	/* A value is never read again as a template. */
	CHECK_INT(template_render("{{DB_PASS}}", 11, lookup, NULL, &out, &len, msg, sizeof(msg)),
		  0);
	CHECK_STR(out, "s3cr{{et");
	free(out);
	/* Empty text; NUL bytes are kept. */
	CHECK_INT(template_render("", 0, lookup, NULL, &out, &len, msg, sizeof(msg)), 0);
	CHECK_STR(out, "");
	free(out);
	CHECK_INT(template_render("a\0b", 3, lookup, NULL, &out, &len, msg, sizeof(msg)), 0);
	CHECK_INT(len, 3);
	free(out);
}

TEST(template_names_an_unknown_variable_and_its_line)
{
	static const char text[] = "a\nb {{PORT}}\nc {{ MISSING }}\n";
	char *out = (char *)"x", msg[128];
	size_t len;

	CHECK_INT(template_render(text, sizeof(text) - 1, lookup, NULL, &out, &len, msg,
				  sizeof(msg)),
		  -1);
	CHECK(out == NULL);
	CHECK_STR(msg, "line 3: {{MISSING}} is not in the environment");
}
