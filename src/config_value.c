/* The small grammars of nua-config.toml values: sizes, durations and
 * version constraints. */
#define _GNU_SOURCE
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "strbuf.h"
#include "util.h"
#include "banned.h"

int config_parse_size(const char *s, uint64_t *bytes)
{
	uint64_t mult = 1;
	double v, total;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !isfinite(v))
		return -1;
	switch (*end) {
	case '\0':
		break;
	case 'b': case 'B': mult = 1; end++; break;
	case 'k': case 'K': mult = 1ULL << 10; end++; break;
	case 'm': case 'M': mult = 1ULL << 20; end++; break;
	case 'g': case 'G': mult = 1ULL << 30; end++; break;
	case 't': case 'T': mult = 1ULL << 40; end++; break;
	default: return -1;
	}
	/* "M", "MB", "Mi", "MiB": all binary multiples, as docker reads them. */
	if (mult > 1 && *end == 'i')
		end++;
	if (mult > 1 && (*end == 'b' || *end == 'B'))
		end++;
	if (*end)
		return -1;
	total = v * (double)mult;
	if (total < 1 || total >= 18446744073709551616.0)
		return -1;
	*bytes = (uint64_t)total;
	return 0;
}

int config_parse_duration(const char *s, int64_t *seconds)
{
	int64_t total = 0;

	if (!isdigit((unsigned char)*s))
		return -1;
	while (*s) {
		int64_t mult;
		long long v;
		char *end;

		if (!isdigit((unsigned char)*s))
			return -1;
		errno = 0;
		v = strtoll(s, &end, 10);
		if (errno)
			return -1;
		switch (*end) {
		case '\0': /* plain seconds, only alone or last */
		case 's': mult = 1; break;
		case 'm': mult = 60; break;
		case 'h': mult = 3600; break;
		case 'd': mult = 86400; break;
		case 'w': mult = 7 * 86400; break;
		default: return -1;
		}
		if (v > (INT64_MAX - total) / mult)
			return -1;
		total += v * mult;
		s = *end ? end + 1 : end;
	}
	if (total <= 0)
		return -1;
	*seconds = total;
	return 0;
}

/* ---- version constraints ---- */

struct op_name {
	const char *text;
	enum config_version_op op;
};

static const struct op_name ops[] = {
	{ ">=", VERSION_GE }, { "<=", VERSION_LE }, { "==", VERSION_EQ }, { "!=", VERSION_NE },
	{ "~=", VERSION_COMPAT }, { ">", VERSION_GT }, { "<", VERSION_LT }, { "^", VERSION_CARET },
};

/* Read "14", "10.11", "1.2.3" (and a trailing ".*" when star is not NULL)
 * from *s. Returns the number of parts, or -1. */
static int read_version(const char **s, unsigned long *part, bool *star)
{
	const char *p = *s;
	int n = 0;

	for (;;) {
		char *end;

		if (star && n > 0 && *p == '*') {
			*star = true;
			p++;
			break;
		}
		if (!isdigit((unsigned char)*p))
			return -1;
		if (n == CONFIG_VERSION_PARTS)
			return -1;
		errno = 0;
		part[n++] = strtoul(p, &end, 10);
		if (errno || end - p > 9)
			return -1;
		p = end;
		if (*p != '.')
			break;
		p++;
	}
	*s = p;
	return n;
}

PRINTF(2, 3) static int set_why(char **why, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	if (!why)
		return -1;
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	*why = strbuf_detach(&sb, NULL);
	return -1;
}

/* Compare two versions, missing parts counting as 0. */
static int cmp_parts(const unsigned long *a, int na, const unsigned long *b, int nb)
{
	for (int i = 0; i < CONFIG_VERSION_PARTS; i++) {
		unsigned long x = i < na ? a[i] : 0, y = i < nb ? b[i] : 0;

		if (x != y)
			return x < y ? -1 : 1;
	}
	return 0;
}

/* The bounds a clause sets on versions, for the emptiness check: every
 * clause but != is an interval [lo, hi) or [lo, hi]. */
struct bound {
	bool has;
	bool inclusive;
	unsigned long part[CONFIG_VERSION_PARTS + 1];
	int nparts;
};

static void bump(struct bound *b, const unsigned long *part, int upto)
{
	/* The first version after every X.Y.* where upto = 2: X.(Y+1). */
	b->has = true;
	b->inclusive = false;
	b->nparts = upto;
	for (int i = 0; i < upto; i++)
		b->part[i] = part[i];
	b->part[upto - 1]++;
}

static void clause_bounds(const struct config_version_clause *c, struct bound *lo, struct bound *hi)
{
	int i;

	memset(lo, 0, sizeof(*lo));
	memset(hi, 0, sizeof(*hi));
	switch (c->op) {
	case VERSION_NE:
		return;
	case VERSION_GE:
	case VERSION_GT:
		lo->has = true;
		lo->inclusive = c->op == VERSION_GE;
		break;
	case VERSION_LE:
	case VERSION_LT:
		hi->has = true;
		hi->inclusive = c->op == VERSION_LE;
		memcpy(hi->part, c->part, sizeof(c->part));
		hi->nparts = c->nparts;
		return;
	case VERSION_EQ:
		lo->has = hi->has = true;
		lo->inclusive = hi->inclusive = true;
		memcpy(hi->part, c->part, sizeof(c->part));
		hi->nparts = c->nparts;
		break;
	case VERSION_PREFIX:
		lo->has = lo->inclusive = true;
		bump(hi, c->part, c->nparts);
		break;
	case VERSION_COMPAT:
		lo->has = lo->inclusive = true;
		bump(hi, c->part, c->nparts - 1);
		break;
	case VERSION_CARET:
		lo->has = lo->inclusive = true;
		for (i = 0; i < c->nparts - 1 && c->part[i] == 0; i++)
			;
		bump(hi, c->part, i + 1);
		break;
	}
	memcpy(lo->part, c->part, sizeof(c->part));
	lo->nparts = c->nparts;
}

static bool constraint_empty(const struct config_version_constraint *c)
{
	struct bound lo = { 0 }, hi = { 0 };

	for (size_t i = 0; i < c->n; i++) {
		struct bound l, h;

		clause_bounds(&c->clause[i], &l, &h);
		if (l.has) {
			int d = lo.has ? cmp_parts(l.part, l.nparts, lo.part, lo.nparts) : 1;

			if (d > 0 || (d == 0 && !l.inclusive))
				lo = l;
		}
		if (h.has) {
			int d = hi.has ? cmp_parts(h.part, h.nparts, hi.part, hi.nparts) : -1;

			if (d < 0 || (d == 0 && !h.inclusive))
				hi = h;
		}
	}
	if (!lo.has || !hi.has)
		return false;
	int d = cmp_parts(lo.part, lo.nparts, hi.part, hi.nparts);
	return d > 0 || (d == 0 && !(lo.inclusive && hi.inclusive));
}

int config_version_parse(const char *s, struct config_version_constraint *out, char **why)
{
	const char *start = s;

	memset(out, 0, sizeof(*out));
	if (why)
		*why = NULL;
	for (;;) {
		struct config_version_clause *c;
		bool star = false;
		const char *at;

		while (*s == ' ')
			s++;
		if (out->n == CONFIG_VERSION_CLAUSES)
			return set_why(why, "more than %d clauses", CONFIG_VERSION_CLAUSES);
		c = &out->clause[out->n];
		c->op = VERSION_PREFIX;
		for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
			if (starts_with(s, ops[i].text)) {
				c->op = ops[i].op;
				s += strlen(ops[i].text);
				break;
			}
		}
		if (c->op == VERSION_PREFIX && (*s == '=' || *s == '~'))
			return set_why(why, "unknown operator '%.1s' (use ==, ~= or ^)", s);
		while (*s == ' ')
			s++;
		at = s;
		c->nparts = read_version(&s, c->part,
					 c->op == VERSION_EQ || c->op == VERSION_NE ? &star : NULL);
		if (c->nparts < 0) {
			if (!*at || *at == ',')
				return set_why(why, "a version is missing%s", *at ? " before ','" : " at the end");
			return set_why(why, "'%s' is not a version (numbers and dots, such as 14 or 10.11)", at);
		}
		if (star) {
			if (c->op == VERSION_EQ)
				c->op = VERSION_PREFIX;
			else
				c->wildcard = true;
		}
		if (c->op == VERSION_COMPAT && c->nparts < 2) {
			char buf[32];

			snprintf(buf, sizeof(buf), "%lu", c->part[0]);
			return set_why(why, "'~=' needs at least two numbers, such as ~=%s.0", buf);
		}
		out->n++;
		while (*s == ' ')
			s++;
		if (*s == '\0')
			break;
		if (*s != ',')
			return set_why(why, "unexpected '%s' (separate clauses with commas)", s);
		s++;
	}
	if (constraint_empty(out))
		return set_why(why, "no version can satisfy '%s'", start);
	return 0;
}

static bool clause_match(const struct config_version_clause *c, const unsigned long *v, int nv)
{
	struct bound lo, hi;
	int d;

	if (c->op == VERSION_NE) {
		if (c->wildcard) {
			for (int i = 0; i < c->nparts; i++)
				if ((i < nv ? v[i] : 0) != c->part[i])
					return true;
			return false;
		}
		return cmp_parts(v, nv, c->part, c->nparts) != 0;
	}
	clause_bounds(c, &lo, &hi);
	if (lo.has) {
		d = cmp_parts(v, nv, lo.part, lo.nparts);
		if (d < 0 || (d == 0 && !lo.inclusive))
			return false;
	}
	if (hi.has) {
		d = cmp_parts(v, nv, hi.part, hi.nparts);
		if (d > 0 || (d == 0 && !hi.inclusive))
			return false;
	}
	return true;
}

bool config_version_match(const struct config_version_constraint *c, const char *version)
{
	unsigned long v[CONFIG_VERSION_PARTS] = { 0 };
	const char *p = version;
	int nv = 0;

	/* Leading dotted numbers only: "15+248", "10.11.4-0+deb12u1". */
	while (nv < CONFIG_VERSION_PARTS && isdigit((unsigned char)*p)) {
		char *end;

		v[nv++] = strtoul(p, &end, 10);
		p = end;
		if (*p != '.' || !isdigit((unsigned char)p[1]))
			break;
		p++;
	}
	if (nv == 0)
		return c->n == 0;
	for (size_t i = 0; i < c->n; i++)
		if (!clause_match(&c->clause[i], v, nv))
			return false;
	return true;
}
