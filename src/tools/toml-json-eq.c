/* toml-json-eq EXPECTED ACTUAL: compare two toml-test JSON documents the way
 * the suite means them: tables as sets of keys, floats by value (nan equal
 * to nan), date-times after normalising their spelling. Exit 0 when equal,
 * 1 with the first difference on standard error, 2 on bad input. */
#define _GNU_SOURCE
#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"
#include "banned.h"

static bool is_tagged(json_t *v)
{
	return json_is_object(v) && json_object_size(v) == 2 &&
	       json_is_string(json_object_get(v, "type")) &&
	       json_is_string(json_object_get(v, "value"));
}

static double parse_float(const char *s)
{
	const char *b = (*s == '+' || *s == '-') ? s + 1 : s;

	if (strcmp(b, "nan") == 0)
		return NAN;
	if (strcmp(b, "inf") == 0)
		return *s == '-' ? -INFINITY : INFINITY;
	return strtod(s, NULL);
}

/* 1979-05-27 07:32:00.500z → 1979-05-27T07:32:00.5Z; +00:00 → Z. */
static void normalise_datetime(const char *s, struct strbuf *out)
{
	size_t n;

	for (; *s; s++) {
		char c = *s;

		if (c == ' ' || c == 't')
			c = 'T';
		else if (c == 'z')
			c = 'Z';
		strbuf_addch(out, c);
	}
	if (ends_with(out->buf, "+00:00") || ends_with(out->buf, "-00:00")) {
		strbuf_setlen(out, out->len - 6);
		strbuf_addch(out, 'Z');
	}
	/* Trailing zeros of a fraction carry no meaning. */
	char *dot = strchr(out->buf, '.');
	if (!dot)
		return;
	n = (size_t)(dot - out->buf) + 1;
	size_t end = n;
	while (end < out->len && isdigit((unsigned char)out->buf[end]))
		end++;
	size_t last = end;
	while (last > n && out->buf[last - 1] == '0')
		last--;
	if (last == n)
		last--; /* drop the dot too */
	memmove(out->buf + last, out->buf + end, out->len - end + 1);
	out->len -= end - last;
}

static int compare(json_t *want, json_t *got, struct strbuf *path)
{
	size_t len = path->len;

	if (is_tagged(want) || is_tagged(got)) {
		const char *wt, *gt, *wv, *gv;

		if (!is_tagged(want) || !is_tagged(got)) {
			fprintf(stderr, "%s: expected %s, got %s\n", path->buf,
				is_tagged(want) ? "a value" : "a table or array",
				is_tagged(got) ? "a value" : "a table or array");
			return 1;
		}
		wt = json_string_value(json_object_get(want, "type"));
		gt = json_string_value(json_object_get(got, "type"));
		wv = json_string_value(json_object_get(want, "value"));
		gv = json_string_value(json_object_get(got, "value"));
		if (strcmp(wt, gt) != 0) {
			fprintf(stderr, "%s: expected type %s, got %s\n", path->buf, wt, gt);
			return 1;
		}
		if (strcmp(wt, "float") == 0) {
			double a = parse_float(wv), b = parse_float(gv);

			if ((isnan(a) && isnan(b)) || a == b)
				return 0;
		} else if (strcmp(wt, "integer") == 0) {
			if (strtoll(wv, NULL, 10) == strtoll(gv, NULL, 10))
				return 0;
		} else if (strstr(wt, "date") || strstr(wt, "time")) {
			struct strbuf a = STRBUF_INIT, b = STRBUF_INIT;
			int eq;

			normalise_datetime(wv, &a);
			normalise_datetime(gv, &b);
			eq = strcmp(a.buf, b.buf) == 0;
			strbuf_release(&a);
			strbuf_release(&b);
			if (eq)
				return 0;
		} else {
			json_t *wvj = json_object_get(want, "value"), *gvj = json_object_get(got, "value");

			if (json_string_length(wvj) == json_string_length(gvj) &&
			    memcmp(wv, gv, json_string_length(wvj)) == 0)
				return 0;
		}
		fprintf(stderr, "%s: expected %s '%s', got '%s'\n", path->buf, wt, wv, gv);
		return 1;
	}
	if (json_is_array(want)) {
		if (!json_is_array(got) || json_array_size(want) != json_array_size(got)) {
			fprintf(stderr, "%s: expected an array of %zu\n", path->buf,
				json_array_size(want));
			return 1;
		}
		for (size_t i = 0; i < json_array_size(want); i++) {
			strbuf_addf(path, "[%zu]", i);
			if (compare(json_array_get(want, i), json_array_get(got, i), path))
				return 1;
			strbuf_setlen(path, len);
		}
		return 0;
	}
	if (json_is_object(want)) {
		const char *key;
		json_t *v;

		if (!json_is_object(got)) {
			fprintf(stderr, "%s: expected a table\n", path->buf);
			return 1;
		}
		json_object_foreach(got, key, v)
		{
			if (!json_object_get(want, key)) {
				fprintf(stderr, "%s: unexpected key '%s'\n", path->buf, key);
				return 1;
			}
		}
		json_object_foreach(want, key, v)
		{
			json_t *g = json_object_get(got, key);

			if (!g) {
				fprintf(stderr, "%s: missing key '%s'\n", path->buf, key);
				return 1;
			}
			strbuf_addf(path, ".%s", key);
			if (compare(v, g, path))
				return 1;
			strbuf_setlen(path, len);
		}
		return 0;
	}
	fprintf(stderr, "%s: unexpected JSON value\n", path->buf);
	return 1;
}

/* jansson refuses NUL in object keys; TOML allows it ("\u0000" = 1). Such
 * documents are loaded with every \u0000 escape turned into U+2400 (the
 * symbol for NUL), the same on both sides, so that they still compare. */
static json_t *load(const char *path)
{
	struct strbuf text = STRBUF_INIT, fixed = STRBUF_INIT;
	json_error_t jerr;
	json_t *j;
	char *data;
	size_t len;

	if (read_file(path, &data, &len) < 0) {
		perror(path);
		return NULL;
	}
	strbuf_add(&text, data, len);
	free(data);
	j = json_loadb(text.buf, text.len, JSON_ALLOW_NUL, &jerr);
	if (!j && strstr(jerr.text, "NUL byte in object key")) {
		for (size_t i = 0; i < text.len; i++) {
			if (text.buf[i] == '\\' && starts_with(text.buf + i, "\\u0000")) {
				strbuf_addstr(&fixed, "\\u2400");
				i += 5;
				continue;
			}
			strbuf_addch(&fixed, text.buf[i]);
			/* An escaped backslash is not the start of an escape. */
			if (text.buf[i] == '\\' && i + 1 < text.len)
				strbuf_addch(&fixed, text.buf[++i]);
		}
		j = json_loadb(fixed.buf, fixed.len, JSON_ALLOW_NUL, &jerr);
	}
	if (!j)
		fprintf(stderr, "%s: %s\n", path, jerr.text);
	strbuf_release(&text);
	strbuf_release(&fixed);
	return j;
}

int main(int argc, char **argv)
{
	struct strbuf path = STRBUF_INIT;
	json_t *want, *got;
	int r;

	if (argc != 3) {
		fprintf(stderr, "usage: toml-json-eq EXPECTED.json ACTUAL.json\n");
		return 2;
	}
	want = load(argv[1]);
	if (!want)
		return 2;
	got = load(argv[2]);
	if (!got) {
		json_decref(want);
		return 2;
	}
	strbuf_addstr(&path, "$");
	r = compare(want, got, &path);
	strbuf_release(&path);
	json_decref(want);
	json_decref(got);
	return r;
}
