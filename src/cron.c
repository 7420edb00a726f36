/* crontab(5) schedules: see cron.h. */
#define _GNU_SOURCE
#include "cron.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "banned.h"

struct field {
	const char *name;
	int min, max;
	const char *const *names; /* indexed from min, or NULL */
};

static const char *const month_names[] = { "jan", "feb", "mar", "apr", "may", "jun",
					   "jul", "aug", "sep", "oct", "nov", "dec", NULL };
static const char *const day_names[] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL };

static const struct field fields[5] = {
	{ "minute", 0, 59, NULL },
	{ "hour", 0, 23, NULL },
	{ "day of month", 1, 31, NULL },
	{ "month", 1, 12, month_names },
	{ "day of week", 0, 7, day_names },
};

static int fail(char *msg, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *msg, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, size, fmt, ap);
	va_end(ap);
	return -1;
}

/* A number or (for fields that have them) a three-letter name at *p. */
static int value(const struct field *f, const char **p, int *out)
{
	const char *s = *p;
	long v = 0;
	int digits = 0;

	if (f->names && isalpha((unsigned char)s[0])) {
		for (int i = 0; f->names[i]; i++)
			if (strncasecmp(s, f->names[i], 3) == 0 && !isalpha((unsigned char)s[3])) {
				*out = f->min + i;
				*p = s + 3;
				return 0;
			}
		return -1;
	}
	while (isdigit((unsigned char)*s) && digits < 3) {
		v = v * 10 + (*s++ - '0');
		digits++;
	}
	if (!digits || isdigit((unsigned char)*s) || v < f->min || v > f->max)
		return -1;
	*out = (int)v;
	*p = s;
	return 0;
}

/* One field's text (no spaces) into the bits of values min..max. */
static int parse_field(const struct field *f, const char *text, uint64_t *bits, bool *star,
		       char *msg, size_t size)
{
	const char *p = text;

	*bits = 0;
	*star = false;
	for (;;) {
		int lo, hi, step = 1;

		if (*p == '*') {
			lo = f->min;
			hi = f->max;
			p++;
			if (*p != '/')
				*star = true;
		} else {
			if (value(f, &p, &lo) < 0)
				goto bad;
			hi = lo;
			if (*p == '-') {
				p++;
				if (value(f, &p, &hi) < 0 || hi < lo)
					goto bad;
			}
		}
		if (*p == '/') {
			int s;
			struct field steps = { f->name, 1, f->max, NULL };

			p++;
			if (value(&steps, &p, &s) < 0)
				goto bad;
			step = s;
			/* "5/15": from 5 to the end. */
			if (lo == hi)
				hi = f->max;
		}
		for (int v = lo; v <= hi; v += step)
			*bits |= 1ULL << v;
		if (*p == '\0')
			return 0;
		if (*p++ != ',')
			goto bad;
	}
bad:
	return fail(msg, size, "'%s' is not a valid %s (%d-%d)", text, f->name, f->min, f->max);
}

static int parse_every(const char *text, struct cron_schedule *out, char *msg, size_t size)
{
	char *end;
	unsigned long n;
	unsigned long unit = 0;

	if (!isdigit((unsigned char)text[0]))
		goto bad;
	n = strtoul(text, &end, 10);
	if (strcmp(end, "s") == 0)
		unit = 1;
	else if (strcmp(end, "m") == 0)
		unit = 60;
	else if (strcmp(end, "h") == 0)
		unit = 3600;
	else if (strcmp(end, "d") == 0)
		unit = 86400;
	if (!unit || n == 0 || n > 31UL * 86400 / unit)
		goto bad;
	out->every = (unsigned)(n * unit);
	return 0;
bad:
	return fail(msg, size,
		    "'@every %s' is not a duration from 1s to 31d (a number and s, m, h or d)",
		    text);
}

int cron_parse(const char *text, struct cron_schedule *out, char *msg, size_t size)
{
	static const struct {
		const char *name, *fields;
	} shorthands[] = {
		{ "@hourly", "0 * * * *" },   { "@daily", "0 0 * * *" },
		{ "@midnight", "0 0 * * *" }, { "@weekly", "0 0 * * 0" },
		{ "@monthly", "0 0 1 * *" },  { "@yearly", "0 0 1 1 *" },
		{ "@annually", "0 0 1 1 *" },
	};
	char copy[256], *words[6], *save = NULL;
	size_t n = 0;
	uint64_t bits;

	memset(out, 0, sizeof(*out));
	if (!text || strlen(text) >= sizeof(copy))
		return fail(msg, size, "a schedule is 5 fields or an @ shorthand, under 256 characters");
	if (strncmp(text, "@every ", 7) == 0) {
		const char *d = text + 7;

		while (*d == ' ')
			d++;
		return parse_every(d, out, msg, size);
	}
	for (size_t i = 0; i < sizeof(shorthands) / sizeof(shorthands[0]); i++)
		if (strcmp(text, shorthands[i].name) == 0)
			return cron_parse(shorthands[i].fields, out, msg, size);
	memcpy(copy, text, strlen(text) + 1);
	for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		if (n == 5)
			return fail(msg, size, "'%s' has more than 5 fields", text);
		words[n++] = w;
	}
	if (n != 5)
		return fail(msg, size,
			    "'%s' is not a schedule: 5 fields (minute hour day month weekday), "
			    "@hourly, @daily, @weekly, @monthly, @yearly or @every DURATION",
			    text);
	for (size_t i = 0; i < 5; i++) {
		bool star;

		if (parse_field(&fields[i], words[i], &bits, &star, msg, size) < 0)
			return -1;
		switch (i) {
		case 0:
			out->minutes = bits;
			break;
		case 1:
			out->hours = (uint32_t)bits;
			break;
		case 2:
			out->mdays = (uint32_t)bits;
			out->mday_star = star;
			break;
		case 3:
			out->months = (uint16_t)bits;
			break;
		case 4:
			/* 7 is Sunday too. */
			out->wdays = (uint8_t)((bits | (bits >> 7)) & 0x7f);
			out->wday_star = star;
			break;
		}
	}
	return 0;
}

bool cron_matches(const struct cron_schedule *s, const struct tm *tm)
{
	bool mday = s->mdays >> tm->tm_mday & 1, wday = s->wdays >> tm->tm_wday & 1;
	bool day;

	if (!(s->minutes >> tm->tm_min & 1) || !(s->hours >> tm->tm_hour & 1) ||
	    !(s->months >> (tm->tm_mon + 1) & 1))
		return false;
	/* crontab(5): with both day fields restricted, either matching is
	 * enough. */
	if (s->mday_star || s->wday_star)
		day = mday && wday;
	else
		day = mday || wday;
	return day;
}

int64_t cron_next(const struct cron_schedule *s, int64_t t)
{
	time_t m = (time_t)(t - t % 60 + 60);

	if (s->every)
		return t + s->every;
	/* Minute by minute, skipping whole hours and days that cannot match:
	 * at most a few thousand steps for any schedule. */
	for (int steps = 0; steps < 200000; steps++) {
		struct tm tm;

		localtime_r(&m, &tm);
		if (m - t > 5LL * 366 * 86400)
			break;
		if (!(s->months >> (tm.tm_mon + 1) & 1) ||
		    !((s->mday_star || s->wday_star)
			      ? ((s->mdays >> tm.tm_mday & 1) && (s->wdays >> tm.tm_wday & 1))
			      : ((s->mdays >> tm.tm_mday & 1) || (s->wdays >> tm.tm_wday & 1)))) {
			m += (time_t)(86400 - (tm.tm_hour * 3600 + tm.tm_min * 60));
			continue;
		}
		if (!(s->hours >> tm.tm_hour & 1)) {
			m += (time_t)(3600 - tm.tm_min * 60);
			continue;
		}
		if (s->minutes >> tm.tm_min & 1)
			return (int64_t)m;
		m += 60;
	}
	return -1;
}
