/* What the verbs share to print the daemon's answers. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cli.h"
#include "strbuf.h"
#include "util.h"
#include "banned.h"

void cli_print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);

	printf("%s\n", s ? s : "null");
	free(s);
	json_decref(j);
}

void cli_human_size(int64_t n, char *buf, size_t len)
{
	static const char *const units[] = { "B", "kB", "MB", "GB", "TB" };
	double v = (double)n;
	size_t u = 0;

	while (v >= 1000 && u + 1 < ARRAY_SIZE(units)) {
		v /= 1000;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%lld B", (long long)n);
	else
		snprintf(buf, len, "%.*f %s", v < 10 ? 1 : 0, v, units[u]);
}

void cli_format_time(long long t, bool utc, const char *fmt, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if ((utc ? gmtime_r(&tt, &tm) : localtime_r(&tt, &tm)) && strftime(buf, len, fmt, &tm))
		return;
	snprintf(buf, len, "-");
}

void cli_duration(long long s, char *buf, size_t len)
{
	if (s < 0)
		snprintf(buf, len, "-");
	else if (s < 60)
		snprintf(buf, len, "%llds", s);
	else if (s < 3600)
		snprintf(buf, len, "%lldm", s / 60);
	else if (s < 86400)
		snprintf(buf, len, "%lldh", s / 3600);
	else
		snprintf(buf, len, "%lldd", s / 86400);
}

const char *cli_json_str(const json_t *o, const char *key, const char *dflt)
{
	const json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : dflt;
}

bool cli_json_int(const json_t *o, const char *key, long long *v)
{
	const json_t *j = json_object_get(o, key);

	if (json_is_integer(j))
		*v = json_integer_value(j);
	else if (json_is_real(j))
		*v = (long long)json_real_value(j);
	else
		return false;
	return true;
}

char *cli_absolute_path(const char *path)
{
	char *real = realpath(path, NULL);
	_cleanup_free_ char *cwd = NULL;
	struct strbuf sb = STRBUF_INIT;

	if (real)
		return real;
	if (path[0] != '/') {
		cwd = getcwd(NULL, 0);
		if (!cwd)
			return xstrdup(path); /* the daemon then says what it cannot find */
		strbuf_addstr(&sb, cwd);
	}
	/* A path that does not exist (yet): "." and ".." taken as written,
	 * so that the daemon's messages show a plain path. */
	for (const char *p = path; *p;) {
		size_t len = strcspn(p, "/");

		if (len == 2 && p[0] == '.' && p[1] == '.') {
			char *slash = strrchr(sb.buf, '/');

			strbuf_setlen(&sb, slash ? (size_t)(slash - sb.buf) : 0);
		} else if (len && !(len == 1 && p[0] == '.')) {
			strbuf_addch(&sb, '/');
			strbuf_add(&sb, p, len);
		}
		p += len;
		while (*p == '/')
			p++;
	}
	if (!sb.len)
		strbuf_addch(&sb, '/');
	return strbuf_detach(&sb, NULL);
}
