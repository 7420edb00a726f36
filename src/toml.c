/* TOML 1.0 parser: a recursive-descent reader over a byte buffer that builds
 * the tree declared in toml.h and stops at the first error. */
#define _GNU_SOURCE
#include "toml.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"
#include "util.h"
#include "banned.h"

/* Arrays and inline tables nest by recursion; refuse documents that would
 * exhaust the stack. */
#define MAX_DEPTH 128

struct parser {
	const char *s;
	size_t len;
	size_t pos;
	int line, col;
	int depth;
	struct toml_parse_error *err;
	bool failed;
};

PRINTF(2, 3) static int fail(struct parser *p, const char *fmt, ...)
{
	va_list ap;

	if (p->failed)
		return -1;
	p->failed = true;
	p->err->line = p->line;
	p->err->col = p->col;
	va_start(ap, fmt);
	vsnprintf(p->err->msg, sizeof(p->err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

PRINTF(3, 4) static int fail_at(struct parser *p, struct toml_pos at, const char *fmt, ...)
{
	va_list ap;

	if (p->failed)
		return -1;
	p->failed = true;
	p->err->line = at.line;
	p->err->col = at.col;
	va_start(ap, fmt);
	vsnprintf(p->err->msg, sizeof(p->err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

static int peek(const struct parser *p)
{
	return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1;
}

static int peek_at(const struct parser *p, size_t off)
{
	return p->pos + off < p->len ? (unsigned char)p->s[p->pos + off] : -1;
}

static bool at_eof(const struct parser *p) { return p->pos >= p->len; }

/* Advance one byte, keeping line and column (in characters: UTF-8
 * continuation bytes do not move the column). */
static void advance(struct parser *p)
{
	unsigned char c = (unsigned char)p->s[p->pos++];

	if (c == '\n') {
		p->line++;
		p->col = 1;
	} else if ((c & 0xC0) != 0x80) {
		p->col++;
	}
}

static void advance_n(struct parser *p, size_t n)
{
	while (n-- && !at_eof(p))
		advance(p);
}

static struct toml_pos here(const struct parser *p)
{
	return (struct toml_pos){ p->line, p->col };
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if invalid (overlong,
 * surrogate, beyond U+10FFFF, truncated). *cp receives the code point. */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	uint32_t c;
	size_t len;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xE0) == 0xC0) {
		len = 2;
		c = s[0] & 0x1F;
	} else if ((s[0] & 0xF0) == 0xE0) {
		len = 3;
		c = s[0] & 0x0F;
	} else if ((s[0] & 0xF8) == 0xF0) {
		len = 4;
		c = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3F);
	}
	if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) || (len == 4 && c < 0x10000))
		return 0;
	if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	*cp = c;
	return len;
}

static void utf8_encode(struct strbuf *sb, uint32_t c)
{
	char b[4];

	if (c < 0x80) {
		strbuf_addch(sb, (char)c);
		return;
	}
	if (c < 0x800) {
		b[0] = (char)(0xC0 | (c >> 6));
		b[1] = (char)(0x80 | (c & 0x3F));
		strbuf_add(sb, b, 2);
	} else if (c < 0x10000) {
		b[0] = (char)(0xE0 | (c >> 12));
		b[1] = (char)(0x80 | ((c >> 6) & 0x3F));
		b[2] = (char)(0x80 | (c & 0x3F));
		strbuf_add(sb, b, 3);
	} else {
		b[0] = (char)(0xF0 | (c >> 18));
		b[1] = (char)(0x80 | ((c >> 12) & 0x3F));
		b[2] = (char)(0x80 | ((c >> 6) & 0x3F));
		b[3] = (char)(0x80 | (c & 0x3F));
		strbuf_add(sb, b, 4);
	}
}

/* The whole document must be UTF-8 before anything else is looked at. */
static int check_utf8(struct parser *p)
{
	const unsigned char *s = (const unsigned char *)p->s;
	int line = 1, col = 1;

	for (size_t i = 0; i < p->len;) {
		uint32_t cp;
		size_t n = utf8_decode(s + i, p->len - i, &cp);

		if (!n) {
			p->line = line;
			p->col = col;
			return fail(p, "invalid UTF-8 byte 0x%02x", s[i]);
		}
		if (cp == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
		i += n;
	}
	return 0;
}

static bool is_control(int c)
{
	return (c >= 0 && c < 0x20 && c != '\t') || c == 0x7F;
}

static const char *char_desc(int c, char *buf, size_t n)
{
	if (c < 0)
		snprintf(buf, n, "end of file");
	else if (c == '\n')
		snprintf(buf, n, "end of line");
	else if (c < 0x20 || c == 0x7F)
		snprintf(buf, n, "control character U+%04X", c);
	else if (c < 0x80)
		snprintf(buf, n, "'%c'", c);
	else
		snprintf(buf, n, "a non-ASCII character");
	return buf;
}

static int fail_unexpected(struct parser *p, const char *expected)
{
	char b[48];

	return fail(p, "expected %s, found %s", expected, char_desc(peek(p), b, sizeof(b)));
}

static void skip_ws(struct parser *p)
{
	while (peek(p) == ' ' || peek(p) == '\t')
		advance(p);
}

/* A comment runs to the end of the line; control characters are not
 * allowed in it. */
static int skip_comment(struct parser *p)
{
	if (peek(p) != '#')
		return 0;
	while (!at_eof(p) && peek(p) != '\n') {
		int c = peek(p);

		if (c == '\r' && peek_at(p, 1) == '\n')
			break;
		if (is_control(c))
			return fail(p, "control character U+%04X in comment", c);
		advance(p);
	}
	return 0;
}

/* Consume a newline (LF or CRLF) if there is one. Returns 1 if consumed,
 * 0 if none, -1 on a bare CR. */
static int eat_newline(struct parser *p)
{
	if (peek(p) == '\n') {
		advance(p);
		return 1;
	}
	if (peek(p) == '\r') {
		if (peek_at(p, 1) == '\n') {
			advance_n(p, 2);
			return 1;
		}
		return fail(p, "carriage return not followed by a newline");
	}
	return 0;
}

/* Whitespace, newlines and comments, as allowed inside arrays. */
static int skip_ws_nl_comments(struct parser *p)
{
	for (;;) {
		int r;

		skip_ws(p);
		if (skip_comment(p) < 0)
			return -1;
		r = eat_newline(p);
		if (r < 0)
			return -1;
		if (r == 0)
			return 0;
	}
}

/* ---- tree ---- */

struct key_part {
	char *name;
	size_t len; /* keys may hold NUL through \u0000 */
	struct toml_pos pos;
};


static void value_release(struct toml_value *v);

static void array_free(struct toml_array *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n; i++)
		value_release(&a->items[i]);
	free(a->items);
	free(a);
}

void toml_table_free(struct toml_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++) {
		free(t->items[i].key);
		value_release(&t->items[i].val);
	}
	free(t->items);
	free(t);
}

static void value_release(struct toml_value *v)
{
	switch (v->type) {
	case TOML_STRING:
		free(v->u.s.ptr);
		break;
	case TOML_ARRAY:
		array_free(v->u.arr);
		break;
	case TOML_TABLE:
		toml_table_free(v->u.tab);
		break;
	default:
		break;
	}
}

static struct toml_keyval *table_find(const struct toml_table *t, const char *key, size_t klen)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->items[i].key_len == klen && memcmp(t->items[i].key, key, klen) == 0)
			return &t->items[i];
	return NULL;
}

const struct toml_keyval *toml_table_get_kv(const struct toml_table *t, const char *key)
{
	return t ? table_find(t, key, strlen(key)) : NULL;
}

const struct toml_value *toml_table_get(const struct toml_table *t, const char *key)
{
	const struct toml_keyval *kv = toml_table_get_kv(t, key);

	return kv ? &kv->val : NULL;
}

/* Append a copy of the key part to t. Returns the new entry, whose value
 * the caller fills. Pointers into t->items are invalidated. */
static struct toml_keyval *table_add(struct toml_table *t, const struct key_part *part)
{
	struct toml_keyval *kv;

	ALLOC_GROW(t->items, t->n + 1, t->alloc);
	kv = &t->items[t->n++];
	memset(kv, 0, sizeof(*kv));
	kv->key = xmalloc(part->len + 1);
	memcpy(kv->key, part->name, part->len + 1);
	kv->key_len = part->len;
	kv->key_pos = part->pos;
	return kv;
}

static struct toml_table *table_new(void) { return xcalloc(1, sizeof(struct toml_table)); }

/* ---- keys ---- */

struct key_path {
	struct key_part *parts;
	size_t n, alloc;
};

static void key_path_release(struct key_path *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->parts[i].name);
	free(k->parts);
	k->parts = NULL;
	k->n = k->alloc = 0;
}

static int parse_basic_string(struct parser *p, struct strbuf *out, bool multiline);
static int parse_literal_string(struct parser *p, struct strbuf *out, bool multiline);

static bool is_bare_key_char(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

static int parse_simple_key(struct parser *p, struct key_part *part)
{
	struct strbuf sb = STRBUF_INIT;
	int c = peek(p);

	part->pos = here(p);
	if (c == '"') {
		if (peek_at(p, 1) == '"' && peek_at(p, 2) == '"')
			return fail(p, "a key cannot be a multi-line string");
		if (parse_basic_string(p, &sb, false) < 0)
			goto fail;
	} else if (c == '\'') {
		if (peek_at(p, 1) == '\'' && peek_at(p, 2) == '\'')
			return fail(p, "a key cannot be a multi-line string");
		if (parse_literal_string(p, &sb, false) < 0)
			goto fail;
	} else if (is_bare_key_char(c)) {
		while (is_bare_key_char(peek(p))) {
			strbuf_addch(&sb, (char)peek(p));
			advance(p);
		}
	} else {
		return fail_unexpected(p, "a key");
	}
	part->len = sb.len;
	part->name = strbuf_detach(&sb, NULL);
	return 0;
fail:
	strbuf_release(&sb);
	return -1;
}

static int parse_key(struct parser *p, struct key_path *k)
{
	for (;;) {
		ALLOC_GROW(k->parts, k->n + 1, k->alloc);
		if (parse_simple_key(p, &k->parts[k->n]) < 0)
			return -1;
		k->n++;
		skip_ws(p);
		if (peek(p) != '.')
			return 0;
		advance(p);
		skip_ws(p);
	}
}

/* "a.b.c" for messages, up to part n (exclusive). */
static void key_path_text(const struct key_path *k, size_t n, char *buf, size_t size)
{
	struct strbuf sb = STRBUF_INIT;

	for (size_t i = 0; i < n; i++) {
		if (i)
			strbuf_addch(&sb, '.');
		strbuf_addstr(&sb, k->parts[i].name);
	}
	snprintf(buf, size, "%s", sb.buf);
	strbuf_release(&sb);
}

/* ---- strings ---- */


static int parse_escape(struct parser *p, struct strbuf *out)
{
	struct toml_pos at = here(p);
	int c;
	uint32_t cp = 0;
	int digits;

	advance(p); /* the backslash */
	c = peek(p);
	switch (c) {
	case 'b': strbuf_addch(out, '\b'); advance(p); return 0;
	case 't': strbuf_addch(out, '\t'); advance(p); return 0;
	case 'n': strbuf_addch(out, '\n'); advance(p); return 0;
	case 'f': strbuf_addch(out, '\f'); advance(p); return 0;
	case 'r': strbuf_addch(out, '\r'); advance(p); return 0;
	case '"': strbuf_addch(out, '"'); advance(p); return 0;
	case '\\': strbuf_addch(out, '\\'); advance(p); return 0;
	case 'u': digits = 4; break;
	case 'U': digits = 8; break;
	default:
		if (c > 0x20 && c < 0x7F)
			return fail_at(p, at, "invalid escape sequence '\\%c'", c);
		return fail_at(p, at, "invalid escape sequence");
	}
	advance(p);
	for (int i = 0; i < digits; i++) {
		int h = hex_digit(peek(p));

		if (h < 0)
			return fail_at(p, at, "escape sequence '\\%c' needs %d hex digits",
				       digits == 4 ? 'u' : 'U', digits);
		cp = cp * 16 + (uint32_t)h;
		advance(p);
	}
	if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return fail_at(p, at, "escape sequence is not a Unicode scalar value (U+%X)", cp);
	utf8_encode(out, cp);
	return 0;
}

/* Copy one (valid, since the document was checked) UTF-8 character. */
static void copy_char(struct parser *p, struct strbuf *out)
{
	uint32_t cp;
	size_t n = utf8_decode((const unsigned char *)p->s + p->pos, p->len - p->pos, &cp);

	if (!n)
		BUG("invalid UTF-8 after validation");
	strbuf_add(out, p->s + p->pos, n);
	advance_n(p, n);
}

/* In a multi-line string, a run of quotes: up to two belong to the content
 * before the three that close it. Returns 1 when the string closed. */
static int multiline_quotes(struct parser *p, struct strbuf *out, char q)
{
	size_t run = 0;

	while (peek_at(p, run) == q)
		run++;
	if (run < 3) {
		for (size_t i = 0; i < run; i++) {
			strbuf_addch(out, q);
			advance(p);
		}
		return 0;
	}
	if (run > 5)
		return fail(p, "too many quotes at the end of a multi-line string");
	for (size_t i = 0; i < run - 3; i++)
		strbuf_addch(out, q);
	advance_n(p, run);
	return 1;
}

static int parse_basic_string(struct parser *p, struct strbuf *out, bool multiline)
{
	struct toml_pos start = here(p);

	advance_n(p, multiline ? 3 : 1);
	if (multiline) {
		int r = eat_newline(p); /* a newline right after """ is trimmed */

		if (r < 0)
			return -1;
	}
	for (;;) {
		int c = peek(p);

		if (c < 0)
			return fail_at(p, start, "unterminated string");
		if (c == '"') {
			if (!multiline) {
				advance(p);
				return 0;
			}
			int r = multiline_quotes(p, out, '"');
			if (r != 0)
				return r < 0 ? -1 : 0;
			continue;
		}
		if (c == '\\') {
			if (multiline) {
				/* A backslash ending a line trims the newline and
				 * the whitespace after it. */
				size_t k = 1;

				while (peek_at(p, k) == ' ' || peek_at(p, k) == '\t')
					k++;
				if (peek_at(p, k) == '\n' ||
				    (peek_at(p, k) == '\r' && peek_at(p, k + 1) == '\n')) {
					advance_n(p, k);
					for (;;) {
						int r = eat_newline(p);

						if (r < 0)
							return -1;
						if (peek(p) == ' ' || peek(p) == '\t') {
							advance(p);
							continue;
						}
						if (r == 0)
							break;
					}
					continue;
				}
			}
			if (parse_escape(p, out) < 0)
				return -1;
			continue;
		}
		if (c == '\n' || c == '\r') {
			if (!multiline)
				return fail(p, "newline in a single-line string");
			if (eat_newline(p) < 0)
				return -1;
			strbuf_addch(out, '\n');
			continue;
		}
		if (is_control(c))
			return fail(p, "control character U+%04X in a string; use an escape", c);
		copy_char(p, out);
	}
}

static int parse_literal_string(struct parser *p, struct strbuf *out, bool multiline)
{
	struct toml_pos start = here(p);

	advance_n(p, multiline ? 3 : 1);
	if (multiline && eat_newline(p) < 0)
		return -1;
	for (;;) {
		int c = peek(p);

		if (c < 0)
			return fail_at(p, start, "unterminated string");
		if (c == '\'') {
			if (!multiline) {
				advance(p);
				return 0;
			}
			int r = multiline_quotes(p, out, '\'');
			if (r != 0)
				return r < 0 ? -1 : 0;
			continue;
		}
		if (c == '\n' || c == '\r') {
			if (!multiline)
				return fail(p, "newline in a single-line string");
			if (eat_newline(p) < 0)
				return -1;
			strbuf_addch(out, '\n');
			continue;
		}
		if (is_control(c))
			return fail(p, "control character U+%04X in a string", c);
		copy_char(p, out);
	}
}

static int parse_string_value(struct parser *p, struct toml_value *v)
{
	struct strbuf sb = STRBUF_INIT;
	char q = (char)peek(p);
	bool ml = peek_at(p, 1) == q && peek_at(p, 2) == q;
	int r;

	r = q == '"' ? parse_basic_string(p, &sb, ml) : parse_literal_string(p, &sb, ml);
	if (r < 0) {
		strbuf_release(&sb);
		return -1;
	}
	v->type = TOML_STRING;
	v->u.s.ptr = strbuf_detach(&sb, &v->u.s.len);
	return 0;
}

/* ---- numbers, booleans, dates ---- */

static bool is_digit(int c) { return c >= '0' && c <= '9'; }

static bool is_token_char(int c)
{
	return is_bare_key_char(c) || c == '+' || c == '.' || c == ':';
}

/* Check underscores (each between two digits of the given base) and copy the
 * digits without them into out. */
static int strip_underscores(struct parser *p, struct toml_pos at, const char *s, size_t n,
			     int base, struct strbuf *out)
{
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];

		if (c == '_') {
			int prev = i > 0 ? (unsigned char)s[i - 1] : -1;
			int next = i + 1 < n ? (unsigned char)s[i + 1] : -1;
			bool ok = base == 16 ? (prev >= 0 && hex_digit(prev) >= 0 &&
						next >= 0 && hex_digit(next) >= 0)
					     : (is_digit(prev) && is_digit(next));

			if (!ok)
				return fail_at(p, at, "an underscore in a number must be between two digits");
			continue;
		}
		strbuf_addch(out, (char)c);
	}
	return 0;
}

static int parse_integer(struct parser *p, struct toml_pos at, const char *s, size_t n,
			 struct toml_value *v)
{
	struct strbuf digits = STRBUF_INIT;
	int base = 10;
	bool neg = false;
	size_t i = 0;
	uint64_t acc = 0;
	int ret = -1;

	if (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-';
		i = 1;
	}
	if (n - i >= 2 && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'o' || s[i + 1] == 'b')) {
		if (i)
			return fail_at(p, at, "a sign is not allowed on a hex, octal or binary integer");
		base = s[i + 1] == 'x' ? 16 : s[i + 1] == 'o' ? 8 : 2;
		i += 2;
	}
	if (i == n)
		return fail_at(p, at, "invalid number '%.*s'", (int)n, s);
	if (strip_underscores(p, at, s + i, n - i, base, &digits) < 0)
		goto out;
	if (base == 10 && digits.len > 1 && digits.buf[0] == '0') {
		fail_at(p, at, "leading zeros are not allowed in '%.*s'", (int)n, s);
		goto out;
	}
	for (size_t k = 0; k < digits.len; k++) {
		int d = hex_digit((unsigned char)digits.buf[k]);

		if (d < 0 || d >= base) {
			fail_at(p, at, "invalid number '%.*s'", (int)n, s);
			goto out;
		}
		if (acc > (UINT64_MAX - (uint64_t)d) / (uint64_t)base) {
			fail_at(p, at, "integer '%.*s' is out of range", (int)n, s);
			goto out;
		}
		acc = acc * (uint64_t)base + (uint64_t)d;
	}
	if ((!neg && acc > (uint64_t)INT64_MAX) || (neg && acc > (uint64_t)INT64_MAX + 1)) {
		fail_at(p, at, "integer '%.*s' is out of range", (int)n, s);
		goto out;
	}
	v->type = TOML_INTEGER;
	v->u.i = neg ? (int64_t)(0 - acc) : (int64_t)acc;
	ret = 0;
out:
	strbuf_release(&digits);
	return ret;
}

static int parse_float(struct parser *p, struct toml_pos at, const char *s, size_t n,
		       struct toml_value *v)
{
	struct strbuf sb = STRBUF_INIT;
	size_t i = 0;
	int ret = -1;
	char *end;

	if (s[0] == '+' || s[0] == '-')
		i = 1;
	const char *rest = s + i;
	size_t rn = n - i;

	if ((rn == 3 && memcmp(rest, "inf", 3) == 0) || (rn == 3 && memcmp(rest, "nan", 3) == 0)) {
		v->type = TOML_FLOAT;
		if (rest[0] == 'i')
			v->u.f = s[0] == '-' ? -INFINITY : INFINITY;
		else
			v->u.f = s[0] == '-' ? -NAN : NAN;
		return 0;
	}
	/* Shape: int-part [ '.' digits ] [ (e|E) [sign] digits ], with digits
	 * on both sides of the dot. */
	size_t k = 0;
	size_t int_start = k;

	while (k < rn && (is_digit(rest[k]) || rest[k] == '_'))
		k++;
	if (k == int_start)
		goto bad;
	if (rest[int_start] == '0' && k - int_start > 1)
		goto leading;
	if (k < rn && rest[k] == '.') {
		size_t f = ++k;

		while (k < rn && (is_digit(rest[k]) || rest[k] == '_'))
			k++;
		if (k == f)
			goto bad;
	}
	if (k < rn && (rest[k] == 'e' || rest[k] == 'E')) {
		k++;
		if (k < rn && (rest[k] == '+' || rest[k] == '-'))
			k++;
		size_t e = k;

		while (k < rn && (is_digit(rest[k]) || rest[k] == '_'))
			k++;
		if (k == e)
			goto bad;
	}
	if (k != rn)
		goto bad;
	/* Underscores: each between digits, checked per run. */
	for (size_t j = 0; j < rn; j++) {
		if (rest[j] != '_')
			continue;
		if (j == 0 || j + 1 == rn || !is_digit(rest[j - 1]) || !is_digit(rest[j + 1])) {
			fail_at(p, at, "an underscore in a number must be between two digits");
			goto out;
		}
	}
	if (i)
		strbuf_addch(&sb, s[0]);
	for (size_t j = 0; j < rn; j++)
		if (rest[j] != '_')
			strbuf_addch(&sb, rest[j]);
	errno = 0;
	v->u.f = strtod(sb.buf, &end);
	if (*end)
		goto bad;
	v->type = TOML_FLOAT;
	ret = 0;
	goto out;
leading:
	fail_at(p, at, "leading zeros are not allowed in '%.*s'", (int)n, s);
	goto out;
bad:
	fail_at(p, at, "invalid number '%.*s'", (int)n, s);
out:
	strbuf_release(&sb);
	return ret;
}

static int digits_at(const char *s, size_t n, size_t off, size_t count)
{
	int v = 0;

	if (off + count > n)
		return -1;
	for (size_t i = 0; i < count; i++) {
		if (!is_digit(s[off + i]))
			return -1;
		v = v * 10 + (s[off + i] - '0');
	}
	return v;
}

static bool leap_year(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int days_in_month(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return m == 2 && leap_year(y) ? 29 : days[m - 1];
}

/* HH:MM:SS[.frac] at s[off..]; returns the length consumed or -1. */
static int parse_time_part(const char *s, size_t n, size_t off, struct toml_datetime *dt)
{
	size_t k = off;

	dt->hour = digits_at(s, n, k, 2);
	if (dt->hour < 0 || k + 2 >= n || s[k + 2] != ':')
		return -1;
	dt->minute = digits_at(s, n, k + 3, 2);
	if (dt->minute < 0 || k + 5 >= n || s[k + 5] != ':')
		return -1;
	dt->second = digits_at(s, n, k + 6, 2);
	if (dt->second < 0)
		return -1;
	k += 8;
	if (dt->hour > 23 || dt->minute > 59 || dt->second > 60)
		return -1;
	if (k < n && s[k] == '.') {
		size_t f = ++k;
		int ns = 0, nd = 0;

		while (k < n && is_digit(s[k])) {
			if (nd < 9) {
				ns = ns * 10 + (s[k] - '0');
				nd++;
			}
			k++;
		}
		if (k == f)
			return -1;
		dt->frac_digits = nd;
		for (int d = nd; d < 9; d++)
			ns *= 10;
		dt->nanosecond = ns;
	}
	return (int)(k - off);
}

static int parse_datetime(struct parser *p, struct toml_pos at, const char *s, size_t n,
			  struct toml_value *v)
{
	struct toml_datetime dt = { 0 };
	size_t k = 0;
	int t;

	if (n >= 3 && s[2] == ':') {
		t = parse_time_part(s, n, 0, &dt);
		if (t < 0 || (size_t)t != n)
			return fail_at(p, at, "invalid time '%.*s'", (int)n, s);
		v->type = TOML_TIME_LOCAL;
		v->u.dt = dt;
		return 0;
	}
	dt.year = digits_at(s, n, 0, 4);
	dt.month = digits_at(s, n, 5, 2);
	dt.day = digits_at(s, n, 8, 2);
	if (dt.year < 0 || s[4] != '-' || dt.month < 0 || n < 10 || s[7] != '-' || dt.day < 0)
		return fail_at(p, at, "invalid date '%.*s'", (int)n, s);
	if (dt.month < 1 || dt.month > 12 || dt.day < 1 || dt.day > days_in_month(dt.year, dt.month))
		return fail_at(p, at, "invalid date '%.*s': no such day", (int)n, s);
	k = 10;
	if (k == n) {
		v->type = TOML_DATE_LOCAL;
		v->u.dt = dt;
		return 0;
	}
	if (s[k] != 'T' && s[k] != 't' && s[k] != ' ')
		return fail_at(p, at, "invalid date-time '%.*s'", (int)n, s);
	t = parse_time_part(s, n, k + 1, &dt);
	if (t < 0)
		return fail_at(p, at, "invalid date-time '%.*s'", (int)n, s);
	k += 1 + (size_t)t;
	if (k == n) {
		v->type = TOML_DATETIME_LOCAL;
		v->u.dt = dt;
		return 0;
	}
	if ((s[k] == 'Z' || s[k] == 'z') && k + 1 == n) {
		dt.offset_minutes = 0;
	} else if ((s[k] == '+' || s[k] == '-') && n - k == 6 && s[k + 3] == ':') {
		int oh = digits_at(s, n, k + 1, 2), om = digits_at(s, n, k + 4, 2);

		if (oh < 0 || om < 0 || oh > 23 || om > 59)
			return fail_at(p, at, "invalid offset in date-time '%.*s'", (int)n, s);
		dt.offset_minutes = (oh * 60 + om) * (s[k] == '-' ? -1 : 1);
	} else {
		return fail_at(p, at, "invalid date-time '%.*s'", (int)n, s);
	}
	v->type = TOML_DATETIME;
	v->u.dt = dt;
	return 0;
}

static bool looks_like_date(const char *s, size_t n)
{
	return n >= 5 && is_digit(s[0]) && is_digit(s[1]) && is_digit(s[2]) && is_digit(s[3]) &&
	       s[4] == '-';
}

static int parse_scalar(struct parser *p, struct toml_value *v)
{
	size_t start = p->pos;
	struct toml_pos at = here(p);
	const char *s;
	size_t n;

	while (is_token_char(peek(p)))
		advance(p);
	/* A date and a time may be separated by a space. */
	if (looks_like_date(p->s + start, p->pos - start) && p->pos - start == 10 &&
	    peek(p) == ' ' && is_digit(peek_at(p, 1)) && is_digit(peek_at(p, 2)) &&
	    peek_at(p, 3) == ':') {
		advance(p);
		while (is_token_char(peek(p)))
			advance(p);
	}
	s = p->s + start;
	n = p->pos - start;
	if (n == 0)
		return fail_unexpected(p, "a value");
	if (n == 4 && memcmp(s, "true", 4) == 0) {
		v->type = TOML_BOOL;
		v->u.b = true;
		return 0;
	}
	if (n == 5 && memcmp(s, "false", 5) == 0) {
		v->type = TOML_BOOL;
		v->u.b = false;
		return 0;
	}
	if (looks_like_date(s, n) || (n >= 3 && is_digit(s[0]) && is_digit(s[1]) && s[2] == ':'))
		return parse_datetime(p, at, s, n, v);
	const char *body = (s[0] == '+' || s[0] == '-') ? s + 1 : s;
	size_t bn = n - (size_t)(body - s);

	if (bn >= 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'o' || body[1] == 'b'))
		return parse_integer(p, at, s, n, v);
	if (memchr(body, '.', bn) || memchr(body, 'e', bn) || memchr(body, 'E', bn) ||
	    (bn == 3 && (memcmp(body, "inf", 3) == 0 || memcmp(body, "nan", 3) == 0)))
		return parse_float(p, at, s, n, v);
	if (bn == 0 || !is_digit(body[0]))
		return fail_at(p, at, "invalid value '%.*s'", (int)n, s);
	return parse_integer(p, at, s, n, v);
}

/* ---- values ---- */

static int parse_value(struct parser *p, struct toml_value *v);
static int parse_keyval(struct parser *p, struct toml_table *t, bool in_inline);

static int parse_array(struct parser *p, struct toml_value *v)
{
	struct toml_array *a = xcalloc(1, sizeof(*a));

	v->type = TOML_ARRAY;
	v->u.arr = a;
	advance(p); /* [ */
	for (;;) {
		if (skip_ws_nl_comments(p) < 0)
			return -1;
		if (peek(p) == ']') {
			advance(p);
			return 0;
		}
		ALLOC_GROW(a->items, a->n + 1, a->alloc);
		memset(&a->items[a->n], 0, sizeof(a->items[a->n]));
		a->items[a->n].type = TOML_BOOL;
		if (parse_value(p, &a->items[a->n]) < 0) {
			a->n++; /* so that what was built is freed */
			return -1;
		}
		a->n++;
		if (skip_ws_nl_comments(p) < 0)
			return -1;
		if (peek(p) == ',') {
			advance(p);
			continue;
		}
		if (peek(p) == ']') {
			advance(p);
			return 0;
		}
		return fail_unexpected(p, "',' or ']' in array");
	}
}

static void close_inline(struct toml_table *t)
{
	t->inline_ = true;
	for (size_t i = 0; i < t->n; i++) {
		struct toml_value *v = &t->items[i].val;

		if (v->type == TOML_TABLE)
			close_inline(v->u.tab);
	}
}

static int parse_inline_table(struct parser *p, struct toml_value *v)
{
	struct toml_table *t = table_new();

	v->type = TOML_TABLE;
	v->u.tab = t;
	advance(p); /* { */
	skip_ws(p);
	if (peek(p) == '}') {
		advance(p);
		close_inline(t);
		return 0;
	}
	for (;;) {
		skip_ws(p);
		if (peek(p) == '\n' || peek(p) == '\r')
			return fail(p, "newline in an inline table");
		if (parse_keyval(p, t, true) < 0)
			return -1;
		skip_ws(p);
		if (peek(p) == ',') {
			advance(p);
			skip_ws(p);
			if (peek(p) == '}')
				return fail(p, "trailing comma in an inline table");
			continue;
		}
		if (peek(p) == '}') {
			advance(p);
			close_inline(t);
			return 0;
		}
		if (peek(p) == '\n' || peek(p) == '\r')
			return fail(p, "newline in an inline table");
		return fail_unexpected(p, "',' or '}' in inline table");
	}
}

static int parse_value(struct parser *p, struct toml_value *v)
{
	int c = peek(p);
	int r;

	v->pos = here(p);
	if (c == '"' || c == '\'')
		return parse_string_value(p, v);
	if (c == '[' || c == '{') {
		if (++p->depth > MAX_DEPTH)
			return fail(p, "arrays and inline tables nested more than %d deep", MAX_DEPTH);
		r = c == '[' ? parse_array(p, v) : parse_inline_table(p, v);
		p->depth--;
		return r;
	}
	if (c < 0 || c == '\n' || c == '\r' || c == '#')
		return fail_unexpected(p, "a value");
	return parse_scalar(p, v);
}

/* ---- key/value pairs and tables ---- */

/* Walk the dotted prefix of key from t, creating tables as needed, for a
 * key/value pair. Returns the table that receives the last part. */
static struct toml_table *descend_dotted(struct parser *p, struct toml_table *t,
					 const struct key_path *k)
{
	char name[256];

	for (size_t i = 0; i + 1 < k->n; i++) {
		const struct key_part *part = &k->parts[i];
		struct toml_keyval *kv = table_find(t, part->name, part->len);

		if (!kv) {
			kv = table_add(t, part);
			kv->val.type = TOML_TABLE;
			kv->val.pos = part->pos;
			kv->val.u.tab = table_new();
			kv->val.u.tab->dotted = true;
		} else if (kv->val.type != TOML_TABLE || kv->val.u.tab->inline_ ||
			   !kv->val.u.tab->dotted) {
			key_path_text(k, i + 1, name, sizeof(name));
			fail_at(p, part->pos, "cannot add keys to '%s': it is already defined", name);
			return NULL;
		}
		t = kv->val.u.tab;
	}
	return t;
}

static int parse_keyval(struct parser *p, struct toml_table *t, bool in_inline)
{
	struct key_path k = { 0 };
	struct toml_table *dst;
	struct toml_keyval *kv;
	const struct key_part *last;
	char name[256];
	int ret = -1;

	(void)in_inline;
	if (parse_key(p, &k) < 0)
		goto out;
	skip_ws(p);
	if (peek(p) != '=') {
		key_path_text(&k, k.n, name, sizeof(name));
		fail_unexpected(p, "'=' after a key");
		goto out;
	}
	advance(p);
	skip_ws(p);
	dst = descend_dotted(p, t, &k);
	if (!dst)
		goto out;
	last = &k.parts[k.n - 1];
	if (table_find(dst, last->name, last->len)) {
		key_path_text(&k, k.n, name, sizeof(name));
		fail_at(p, last->pos, "duplicate key '%s'", name);
		goto out;
	}
	kv = table_add(dst, last);
	kv->val.type = TOML_BOOL; /* nothing to free until filled */
	ret = parse_value(p, &kv->val);
out:
	key_path_release(&k);
	return ret;
}

/* Walk a header's key from the root; the last part is handled by the
 * caller. Arrays of tables descend into their last element. */
static struct toml_table *descend_header(struct parser *p, struct toml_table *t,
					 const struct key_path *k)
{
	char name[256];

	for (size_t i = 0; i + 1 < k->n; i++) {
		const struct key_part *part = &k->parts[i];
		struct toml_keyval *kv = table_find(t, part->name, part->len);

		if (!kv) {
			kv = table_add(t, part);
			kv->val.type = TOML_TABLE;
			kv->val.pos = part->pos;
			kv->val.u.tab = table_new();
			kv->val.u.tab->implicit = true;
			t = kv->val.u.tab;
			continue;
		}
		if (kv->val.type == TOML_TABLE && !kv->val.u.tab->inline_) {
			t = kv->val.u.tab;
			continue;
		}
		if (kv->val.type == TOML_ARRAY && kv->val.u.arr->of_tables) {
			struct toml_array *a = kv->val.u.arr;

			t = a->items[a->n - 1].u.tab;
			continue;
		}
		key_path_text(k, i + 1, name, sizeof(name));
		fail_at(p, part->pos, "'%s' is already defined as %s, not a table", name,
			toml_type_desc(kv->val.type));
		return NULL;
	}
	return t;
}

static int parse_header(struct parser *p, struct toml_table *root, struct toml_table **cur)
{
	struct key_path k = { 0 };
	struct toml_pos at = here(p);
	bool aot = peek_at(p, 1) == '[';
	struct toml_table *parent, *t;
	struct toml_keyval *kv;
	const struct key_part *last;
	char name[256];
	int ret = -1;

	advance_n(p, aot ? 2 : 1);
	skip_ws(p);
	if (parse_key(p, &k) < 0)
		goto out;
	skip_ws(p);
	if (peek(p) != ']' || (aot && peek_at(p, 1) != ']')) {
		fail_unexpected(p, aot ? "']]' to close the table header" : "']' to close the table header");
		goto out;
	}
	advance_n(p, aot ? 2 : 1);
	key_path_text(&k, k.n, name, sizeof(name));
	parent = descend_header(p, root, &k);
	if (!parent)
		goto out;
	last = &k.parts[k.n - 1];
	kv = table_find(parent, last->name, last->len);
	if (aot) {
		struct toml_array *a;

		if (!kv) {
			kv = table_add(parent, last);
			kv->val.type = TOML_ARRAY;
			kv->val.pos = at;
			kv->val.u.arr = xcalloc(1, sizeof(struct toml_array));
			kv->val.u.arr->of_tables = true;
		} else if (kv->val.type != TOML_ARRAY || !kv->val.u.arr->of_tables) {
			fail_at(p, last->pos, "cannot define '%s' as an array of tables: it is already %s",
				name, toml_type_desc(kv->val.type));
			goto out;
		}
		a = kv->val.u.arr;
		ALLOC_GROW(a->items, a->n + 1, a->alloc);
		memset(&a->items[a->n], 0, sizeof(a->items[a->n]));
		a->items[a->n].type = TOML_TABLE;
		a->items[a->n].pos = at;
		t = a->items[a->n].u.tab = table_new();
		t->header = true;
		a->n++;
	} else {
		if (!kv) {
			kv = table_add(parent, last);
			kv->val.type = TOML_TABLE;
			kv->val.pos = at;
			kv->val.u.tab = table_new();
		} else if (kv->val.type != TOML_TABLE) {
			fail_at(p, last->pos, "'%s' is already defined as %s, not a table", name,
				toml_type_desc(kv->val.type));
			goto out;
		} else if (kv->val.u.tab->header || kv->val.u.tab->dotted || kv->val.u.tab->inline_) {
			fail_at(p, last->pos, "table '%s' defined twice", name);
			goto out;
		}
		t = kv->val.u.tab;
		t->header = true;
		t->implicit = false;
	}
	*cur = t;
	ret = 0;
out:
	key_path_release(&k);
	return ret;
}

static int parse_document(struct parser *p, struct toml_table *root)
{
	struct toml_table *cur = root;

	/* A byte order mark may start the document. */
	if (p->len >= 3 && memcmp(p->s, "\xEF\xBB\xBF", 3) == 0)
		p->pos = 3;
	while (!at_eof(p)) {
		int r;

		skip_ws(p);
		if (peek(p) == '[') {
			if (parse_header(p, root, &cur) < 0)
				return -1;
		} else if (peek(p) != '#' && peek(p) != '\n' && peek(p) != '\r' && !at_eof(p)) {
			if (parse_keyval(p, cur, false) < 0)
				return -1;
		}
		skip_ws(p);
		if (skip_comment(p) < 0)
			return -1;
		r = eat_newline(p);
		if (r < 0)
			return -1;
		if (r == 0 && !at_eof(p))
			return fail_unexpected(p, "end of line");
	}
	return 0;
}

int toml_parse(const char *buf, size_t len, struct toml_table **out, struct toml_parse_error *perr)
{
	struct parser p = { .s = buf, .len = len, .line = 1, .col = 1, .err = perr };
	struct toml_table *root = table_new();

	memset(perr, 0, sizeof(*perr));
	*out = NULL;
	if (check_utf8(&p) < 0 || parse_document(&p, root) < 0) {
		toml_table_free(root);
		return -1;
	}
	*out = root;
	return 0;
}

const char *toml_type_name(enum toml_type type)
{
	switch (type) {
	case TOML_STRING: return "string";
	case TOML_INTEGER: return "integer";
	case TOML_FLOAT: return "float";
	case TOML_BOOL: return "bool";
	case TOML_DATETIME: return "datetime";
	case TOML_DATETIME_LOCAL: return "datetime-local";
	case TOML_DATE_LOCAL: return "date-local";
	case TOML_TIME_LOCAL: return "time-local";
	case TOML_ARRAY: return "array";
	case TOML_TABLE: return "table";
	}
	BUG("unknown toml type %d", (int)type);
}

const char *toml_type_desc(enum toml_type type)
{
	switch (type) {
	case TOML_STRING: return "a string";
	case TOML_INTEGER: return "an integer";
	case TOML_FLOAT: return "a float";
	case TOML_BOOL: return "a boolean";
	case TOML_DATETIME: return "a date-time";
	case TOML_DATETIME_LOCAL: return "a local date-time";
	case TOML_DATE_LOCAL: return "a local date";
	case TOML_TIME_LOCAL: return "a local time";
	case TOML_ARRAY: return "an array";
	case TOML_TABLE: return "a table";
	}
	BUG("unknown toml type %d", (int)type);
}

char *toml_datetime_format(const struct toml_value *v, char *buf, size_t n)
{
	const struct toml_datetime *d = &v->u.dt;
	struct strbuf sb = STRBUF_INIT;

	if (v->type != TOML_TIME_LOCAL)
		strbuf_addf(&sb, "%04d-%02d-%02d", d->year, d->month, d->day);
	if (v->type == TOML_DATETIME || v->type == TOML_DATETIME_LOCAL)
		strbuf_addch(&sb, 'T');
	if (v->type != TOML_DATE_LOCAL) {
		strbuf_addf(&sb, "%02d:%02d:%02d", d->hour, d->minute, d->second);
		if (d->frac_digits) {
			int ns = d->nanosecond;

			for (int i = d->frac_digits; i < 9; i++)
				ns /= 10;
			strbuf_addf(&sb, ".%0*d", d->frac_digits, ns);
		}
	}
	if (v->type == TOML_DATETIME) {
		int off = d->offset_minutes;

		if (off == 0)
			strbuf_addch(&sb, 'Z');
		else
			strbuf_addf(&sb, "%c%02d:%02d", off < 0 ? '-' : '+', abs(off) / 60,
				    abs(off) % 60);
	}
	snprintf(buf, n, "%s", sb.buf);
	strbuf_release(&sb);
	return buf;
}
