/* {{NAME}} templates: see template.h. */
#define _GNU_SOURCE
#include "template.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "banned.h"

struct out {
	char *buf;
	size_t len, alloc;
	bool failed;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->failed)
		return;
	if (o->len + n + 1 > o->alloc) {
		size_t alloc = o->alloc ? o->alloc : 256;
		char *b;

		while (alloc < o->len + n + 1)
			alloc *= 2;
		if (!(b = realloc(o->buf, alloc))) {
			o->failed = true;
			return;
		}
		o->buf = b;
		o->alloc = alloc;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static bool name_start(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool name_char(char c)
{
	return name_start(c) || (c >= '0' && c <= '9');
}

/* At p (just after "{{"): spaces, a name, spaces, "}}". The name's start
 * and length, and the length of the whole from p, or false. */
static bool placeholder(const char *p, const char *end, const char **name, size_t *nlen,
			size_t *total)
{
	const char *s = p;

	while (s < end && *s == ' ')
		s++;
	if (s == end || !name_start(*s))
		return false;
	*name = s;
	while (s < end && name_char(*s))
		s++;
	*nlen = (size_t)(s - *name);
	while (s < end && *s == ' ')
		s++;
	if (end - s < 2 || s[0] != '}' || s[1] != '}')
		return false;
	*total = (size_t)(s + 2 - p);
	return true;
}

int template_render(const char *text, size_t len, template_lookup_fn lookup, void *arg,
		    char **out, size_t *out_len, char *msg, size_t size)
{
	struct out o = { 0 };
	const char *p = text, *end = text + len;
	int line = 1;

	*out = NULL;
	*out_len = 0;
	put(&o, "", 0);
	while (p < end) {
		const char *open = memmem(p, (size_t)(end - p), "{{", 2), *name, *value;
		size_t nlen, total;

		if (!open) {
			put(&o, p, (size_t)(end - p));
			break;
		}
		for (const char *c = p; c < open; c++)
			line += *c == '\n';
		put(&o, p, (size_t)(open - p));
		if (!placeholder(open + 2, end, &name, &nlen, &total)) {
			put(&o, "{", 1);
			p = open + 1;
			continue;
		}
		if (!(value = lookup(name, nlen, arg))) {
			snprintf(msg, size, "line %d: {{%.*s}} is not in the environment", line,
				 (int)nlen, name);
			free(o.buf);
			return -1;
		}
		put(&o, value, strlen(value));
		p = open + 2 + total;
	}
	if (o.failed) {
		snprintf(msg, size, "out of memory");
		free(o.buf);
		return -1;
	}
	*out = o.buf;
	*out_len = o.len;
	return 0;
}
