/* Unit tests of the TOML parser's API (src/toml.h): positions of keys and
 * values, document order, error messages and their positions, limits. The
 * conformance suite (tests/toml-test.sh) covers the grammar itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "toml.h"
#include "util.h"

/* Parse a NUL-terminated document; NULL (and a failure) when it is refused. */
static struct toml_table *parse_ok(const char *src, const char *file, int line)
{
	struct toml_parse_error perr;
	struct toml_table *t = NULL;

	if (toml_parse(src, strlen(src), &t, &perr) < 0) {
		test_fail(file, line, "toml_parse refused the document: %d:%d: %s", perr.line,
			  perr.col, perr.msg);
		return NULL;
	}
	return t;
}
#define PARSE_OK(src) parse_ok((src), __FILE__, __LINE__)

/* Parse a document that must be refused; returns 0 and fills *perr, or -1
 * (and a failure) when it was accepted. */
static int parse_err(const char *src, struct toml_parse_error *perr, const char *file, int line)
{
	struct toml_table *t = (struct toml_table *)1;

	if (toml_parse(src, strlen(src), &t, perr) == 0) {
		test_fail(file, line, "toml_parse accepted a document it should refuse");
		toml_table_free(t);
		return -1;
	}
	if (t != NULL) {
		test_fail(file, line, "toml_parse stored a table on failure");
		return -1;
	}
	return 0;
}
#define PARSE_ERR(src, perr) parse_err((src), (perr), __FILE__, __LINE__)

/* The refusal of src is at line:col with message msg. */
#define CHECK_ERROR(src, l, c, m)                                                  \
	do {                                                                       \
		struct toml_parse_error e_;                                         \
		if (PARSE_ERR((src), &e_) < 0)                                      \
			return;                                                     \
		CHECK_STR(e_.msg, (m));                                             \
		CHECK_INT(e_.line, (l));                                            \
		CHECK_INT(e_.col, (c));                                             \
	} while (0)

TEST(toml_scalar_types_and_values)
{
	struct toml_table *t = PARSE_OK("s = \"text\"\n"
					"i = -42\n"
					"f = 2.5\n"
					"b = true\n"
					"h = 0xff\n"
					"o = 0o755\n"
					"n = 1_000\n");
	const struct toml_value *v;

	CHECK(t);
	v = toml_table_get(t, "s");
	CHECK(v && v->type == TOML_STRING);
	CHECK_STR(v->u.s.ptr, "text");
	CHECK_INT(v->u.s.len, 4);
	v = toml_table_get(t, "i");
	CHECK(v && v->type == TOML_INTEGER);
	CHECK_INT(v->u.i, -42);
	v = toml_table_get(t, "f");
	CHECK(v && v->type == TOML_FLOAT && v->u.f == 2.5);
	v = toml_table_get(t, "b");
	CHECK(v && v->type == TOML_BOOL && v->u.b);
	CHECK_INT(toml_table_get(t, "h")->u.i, 255);
	CHECK_INT(toml_table_get(t, "o")->u.i, 0755);
	CHECK_INT(toml_table_get(t, "n")->u.i, 1000);
	CHECK(toml_table_get(t, "missing") == NULL);
	CHECK(toml_table_get_kv(t, "missing") == NULL);
	toml_table_free(t);
}

TEST(toml_positions_of_keys_and_values)
{
	struct toml_table *t = PARSE_OK("# a comment\n"
					"name = \"x\"\n"
					"  indented   =   42\n"
					"\n"
					"[server]\n"
					"port = 8080\n");
	const struct toml_keyval *kv;
	const struct toml_value *server;

	CHECK(t);
	kv = toml_table_get_kv(t, "name");
	CHECK(kv);
	CHECK_INT(kv->key_pos.line, 2);
	CHECK_INT(kv->key_pos.col, 1);
	CHECK_INT(kv->val.pos.line, 2);
	CHECK_INT(kv->val.pos.col, 8);
	kv = toml_table_get_kv(t, "indented");
	CHECK(kv);
	CHECK_INT(kv->key_pos.line, 3);
	CHECK_INT(kv->key_pos.col, 3);
	CHECK_INT(kv->val.pos.line, 3);
	CHECK_INT(kv->val.pos.col, 18);
	server = toml_table_get(t, "server");
	CHECK(server && server->type == TOML_TABLE);
	kv = toml_table_get_kv(server->u.tab, "port");
	CHECK(kv);
	CHECK_INT(kv->key_pos.line, 6);
	CHECK_INT(kv->key_pos.col, 1);
	CHECK_INT(kv->val.pos.col, 8);
	toml_table_free(t);
}

TEST(toml_columns_count_characters_not_bytes)
{
	/* "é" is 2 bytes, "€" 3, "😀" 4: each is one column. */
	struct toml_table *t = PARSE_OK("t = { a = \"é€😀\", b = 2 }\n"
					"\"é\" = 1\n"
					"s = \"\"\"\n"
					"ééé\n"
					"€€\"\"\"\n"
					"k = 'ü'\n");
	const struct toml_value *inl;
	const struct toml_keyval *kv;

	CHECK(t);
	inl = toml_table_get(t, "t");
	CHECK(inl && inl->type == TOML_TABLE);
	CHECK_INT(inl->pos.col, 5);
	kv = toml_table_get_kv(inl->u.tab, "a");
	CHECK(kv);
	CHECK_INT(kv->key_pos.col, 7);
	CHECK_INT(kv->val.pos.col, 11);
	CHECK_INT(kv->val.u.s.len, 9); /* 2 + 3 + 4 bytes */
	kv = toml_table_get_kv(inl->u.tab, "b");
	CHECK(kv);
	CHECK_INT(kv->key_pos.line, 1);
	CHECK_INT(kv->key_pos.col, 18);
	CHECK_INT(kv->val.pos.col, 22);

	kv = toml_table_get_kv(t, "é");
	CHECK(kv);
	CHECK_INT(kv->key_pos.line, 2);
	CHECK_INT(kv->key_pos.col, 1);
	CHECK_INT(kv->val.pos.col, 7);

	/* A multi-line string moves the line count on. */
	kv = toml_table_get_kv(t, "s");
	CHECK(kv);
	CHECK_INT(kv->val.pos.line, 3);
	CHECK_INT(kv->val.pos.col, 5);
	CHECK_STR(kv->val.u.s.ptr, "ééé\n€€");
	kv = toml_table_get_kv(t, "k");
	CHECK(kv);
	CHECK_INT(kv->key_pos.line, 6);
	CHECK_INT(kv->val.pos.col, 5);
	toml_table_free(t);
}

TEST(toml_error_column_after_multibyte_characters)
{
	CHECK_ERROR("s = \"éé\" x\n", 1, 10, "expected end of line, found 'x'");
	CHECK_ERROR("ok = 1\n\"€😀\" = = 2\n", 2, 8, "expected a value, found '='");
	/* Invalid UTF-8 is found before anything else, and placed too. */
	CHECK_ERROR("a = 1\nb = \"é\xff\"\n", 2, 7, "invalid UTF-8 byte 0xff");
}

TEST(toml_positions_with_crlf_and_bom)
{
	struct toml_table *t = PARSE_OK("\xEF\xBB\xBF"
					"a = 1\r\n"
					"b = 2\r\n");
	const struct toml_keyval *kv;

	CHECK(t);
	kv = toml_table_get_kv(t, "a");
	CHECK(kv);
	CHECK_INT(kv->key_pos.line, 1);
	CHECK_INT(kv->key_pos.col, 1);
	kv = toml_table_get_kv(t, "b");
	CHECK(kv);
	CHECK_INT(kv->key_pos.line, 2);
	CHECK_INT(kv->key_pos.col, 1);
	CHECK_INT(kv->val.pos.col, 5);
	toml_table_free(t);
}

TEST(toml_keys_keep_document_order)
{
	struct toml_table *t = PARSE_OK("zeta = 1\n"
					"alpha = 2\n"
					"mid = 3\n"
					"[zz]\n"
					"y = 1\n"
					"b = 2\n"
					"[aa]\n");
	const struct toml_value *zz;

	CHECK(t);
	CHECK_INT(t->n, 5);
	CHECK_STR(t->items[0].key, "zeta");
	CHECK_STR(t->items[1].key, "alpha");
	CHECK_STR(t->items[2].key, "mid");
	CHECK_STR(t->items[3].key, "zz");
	CHECK_STR(t->items[4].key, "aa");
	zz = &t->items[3].val;
	CHECK(zz->type == TOML_TABLE);
	CHECK(zz->u.tab->header);
	CHECK_INT(zz->u.tab->n, 2);
	CHECK_STR(zz->u.tab->items[0].key, "y");
	CHECK_STR(zz->u.tab->items[1].key, "b");
	/* An empty table from a header is still there, and empty. */
	CHECK(t->items[4].val.type == TOML_TABLE);
	CHECK_INT(t->items[4].val.u.tab->n, 0);
	toml_table_free(t);
}

TEST(toml_errors_name_line_and_column)
{
	CHECK_ERROR("a = \n", 1, 5, "expected a value, found end of line");
	CHECK_ERROR("a = ", 1, 5, "expected a value, found end of file");
	CHECK_ERROR("a = 1\nb = 2 3\n", 2, 7, "expected end of line, found '3'");
	CHECK_ERROR("a = 1\n\na = 2\n", 3, 1, "duplicate key 'a'");
	CHECK_ERROR("x = 01\n", 1, 5, "leading zeros are not allowed in '01'");
	CHECK_ERROR("t = { a = 1, }\n", 1, 14, "trailing comma in an inline table");
	CHECK_ERROR("[a]\nk = 1\n[a]\n", 3, 2, "table 'a' defined twice");
	CHECK_ERROR("s = \"abc\n", 1, 9, "newline in a single-line string");
	CHECK_ERROR("n = 1__0\n", 1, 5, "an underscore in a number must be between two digits");
	CHECK_ERROR("d = 2023-02-30\n", 1, 5, "invalid date '2023-02-30': no such day");
	CHECK_ERROR("key\n", 1, 4, "expected '=' after a key, found end of line");
	CHECK_ERROR("t = { a = 1\nb = 2 }\n", 1, 12, "newline in an inline table");
}

TEST(toml_error_in_escape_points_at_the_escape)
{
	CHECK_ERROR("s = \"ab\\qc\"\n", 1, 8, "invalid escape sequence '\\q'");
	CHECK_ERROR("s = \"\\u12\"\n", 1, 6, "escape sequence '\\u' needs 4 hex digits");
}

TEST(toml_errors_leave_nothing_and_stop_at_the_first)
{
	struct toml_parse_error e;

	/* Two problems: only the first is reported. */
	if (PARSE_ERR("a = 1\na = 2\nb = \n", &e) < 0)
		return;
	CHECK_INT(e.line, 2);
	CHECK_STR(e.msg, "duplicate key 'a'");
	CHECK(strchr(e.msg, '\n') == NULL);
}

/* key = [[[...]]] nested depth deep. */
static char *nested_arrays(int depth)
{
	char *s = xmalloc((size_t)depth * 2 + 8);
	size_t n = 0;

	memcpy(s, "a = ", 4);
	n = 4;
	for (int i = 0; i < depth; i++)
		s[n++] = '[';
	for (int i = 0; i < depth; i++)
		s[n++] = ']';
	s[n++] = '\n';
	s[n] = '\0';
	return s;
}

TEST(toml_nesting_depth_limit)
{
	char *ok = nested_arrays(128), *deep = nested_arrays(129);
	struct toml_parse_error e;
	struct toml_table *t = NULL;
	int r;

	r = toml_parse(ok, strlen(ok), &t, &e);
	toml_table_free(t);
	free(ok);
	if (r != 0) {
		free(deep);
		CHECK(r == 0);
	}
	r = PARSE_ERR(deep, &e);
	free(deep);
	if (r < 0)
		return;
	CHECK_STR(e.msg, "arrays and inline tables nested more than 128 deep");
	CHECK_INT(e.line, 1);
	CHECK_INT(e.col, 5 + 128);
	/* Inline tables count as well. */
	{
		char b[1024];
		size_t n = (size_t)snprintf(b, sizeof(b), "a = ");

		for (int i = 0; i < 129; i++)
			n += (size_t)snprintf(b + n, sizeof(b) - n, "%s", i % 2 ? "{x=" : "[");
		CHECK(n < sizeof(b));
		if (PARSE_ERR(b, &e) < 0)
			return;
		CHECK_STR(e.msg, "arrays and inline tables nested more than 128 deep");
	}
}

TEST(toml_int64_limits)
{
	struct toml_table *t = PARSE_OK("max = 9223372036854775807\n"
					"min = -9223372036854775808\n"
					"hex = 0x7fffffffffffffff\n");

	CHECK(t);
	CHECK(toml_table_get(t, "max")->u.i == INT64_MAX);
	CHECK(toml_table_get(t, "min")->u.i == INT64_MIN);
	CHECK(toml_table_get(t, "hex")->u.i == INT64_MAX);
	toml_table_free(t);
	CHECK_ERROR("big = 9223372036854775808\n", 1, 7,
		    "integer '9223372036854775808' is out of range");
	CHECK_ERROR("small = -9223372036854775809\n", 1, 9,
		    "integer '-9223372036854775809' is out of range");
	CHECK_ERROR("hex = 0x8000000000000000\n", 1, 7,
		    "integer '0x8000000000000000' is out of range");
	CHECK_ERROR("huge = 99999999999999999999999\n", 1, 8,
		    "integer '99999999999999999999999' is out of range");
}

TEST(toml_datetime_kinds)
{
	struct toml_table *t = PARSE_OK("odt = 1979-05-27T07:32:00Z\n"
					"off = 1979-05-27T00:32:00.999999-07:00\n"
					"sp = 1979-05-27 07:32:00+05:30\n"
					"ldt = 1979-05-27T07:32:00\n"
					"ld = 1979-05-27\n"
					"lt = 07:32:00.5\n");
	const struct toml_value *v;
	char buf[64];

	CHECK(t);
	v = toml_table_get(t, "odt");
	CHECK(v && v->type == TOML_DATETIME);
	CHECK_INT(v->u.dt.year, 1979);
	CHECK_INT(v->u.dt.month, 5);
	CHECK_INT(v->u.dt.day, 27);
	CHECK_INT(v->u.dt.hour, 7);
	CHECK_INT(v->u.dt.minute, 32);
	CHECK_INT(v->u.dt.offset_minutes, 0);
	CHECK_STR(toml_datetime_format(v, buf, sizeof(buf)), "1979-05-27T07:32:00Z");

	v = toml_table_get(t, "off");
	CHECK(v && v->type == TOML_DATETIME);
	CHECK_INT(v->u.dt.offset_minutes, -7 * 60);
	CHECK_INT(v->u.dt.nanosecond, 999999000);
	CHECK_INT(v->u.dt.frac_digits, 6);
	CHECK_STR(toml_datetime_format(v, buf, sizeof(buf)), "1979-05-27T00:32:00.999999-07:00");

	v = toml_table_get(t, "sp");
	CHECK(v && v->type == TOML_DATETIME);
	CHECK_INT(v->u.dt.offset_minutes, 5 * 60 + 30);
	CHECK_STR(toml_datetime_format(v, buf, sizeof(buf)), "1979-05-27T07:32:00+05:30");

	v = toml_table_get(t, "ldt");
	CHECK(v && v->type == TOML_DATETIME_LOCAL);
	CHECK_STR(toml_datetime_format(v, buf, sizeof(buf)), "1979-05-27T07:32:00");

	v = toml_table_get(t, "ld");
	CHECK(v && v->type == TOML_DATE_LOCAL);
	CHECK_INT(v->u.dt.day, 27);
	CHECK_STR(toml_datetime_format(v, buf, sizeof(buf)), "1979-05-27");

	v = toml_table_get(t, "lt");
	CHECK(v && v->type == TOML_TIME_LOCAL);
	CHECK_INT(v->u.dt.second, 0);
	CHECK_INT(v->u.dt.nanosecond, 500000000);
	CHECK_STR(toml_datetime_format(v, buf, sizeof(buf)), "07:32:00.5");

	CHECK_STR(toml_type_name(TOML_DATETIME), "datetime");
	CHECK_STR(toml_type_name(TOML_DATETIME_LOCAL), "datetime-local");
	CHECK_STR(toml_type_name(TOML_DATE_LOCAL), "date-local");
	CHECK_STR(toml_type_name(TOML_TIME_LOCAL), "time-local");
	toml_table_free(t);
}

TEST(toml_dotted_keys)
{
	struct toml_table *t = PARSE_OK("site.\"x.y\".port = 1\n"
					"site.name = \"n\"\n"
					"[srv]\n"
					"a.b = true\n");
	const struct toml_value *site, *xy, *srv, *a;
	const struct toml_keyval *kv;

	CHECK(t);
	CHECK_INT(t->n, 2);
	kv = toml_table_get_kv(t, "site");
	CHECK(kv && kv->val.type == TOML_TABLE);
	CHECK_INT(kv->key_pos.col, 1);
	site = &kv->val;
	CHECK(site->u.tab->dotted);
	CHECK_INT(site->u.tab->n, 2);
	CHECK_STR(site->u.tab->items[0].key, "x.y");
	CHECK_STR(site->u.tab->items[1].key, "name");
	/* Each segment remembers where it was written. */
	kv = toml_table_get_kv(site->u.tab, "x.y");
	CHECK(kv);
	CHECK_INT(kv->key_pos.col, 6);
	xy = &kv->val;
	kv = toml_table_get_kv(xy->u.tab, "port");
	CHECK(kv);
	CHECK_INT(kv->key_pos.col, 12);
	CHECK_INT(kv->val.pos.col, 19);
	CHECK_INT(kv->val.u.i, 1);
	kv = toml_table_get_kv(site->u.tab, "name");
	CHECK(kv);
	CHECK_INT(kv->key_pos.line, 2);
	CHECK_INT(kv->key_pos.col, 6);

	srv = toml_table_get(t, "srv");
	CHECK(srv && srv->type == TOML_TABLE);
	a = toml_table_get(srv->u.tab, "a");
	CHECK(a && a->type == TOML_TABLE);
	CHECK(toml_table_get(a->u.tab, "b")->u.b);
	toml_table_free(t);

	/* A table made by dotted keys cannot be reopened by a header. */
	{
		struct toml_parse_error e;

		if (PARSE_ERR("a.b = 1\n[a]\n", &e) < 0)
			return;
		CHECK_INT(e.line, 2);
	}
	/* Nor can a value be extended by a dotted key. */
	CHECK_ERROR("a = 1\na.b = 2\n", 2, 1, "cannot add keys to 'a': it is already defined");
}

TEST(toml_arrays_of_tables)
{
	struct toml_table *t = PARSE_OK("[[fruit]]\n"
					"name = \"apple\"\n"
					"[fruit.skin]\n"
					"colour = \"red\"\n"
					"\n"
					"[[fruit]]\n"
					"name = \"banana\"\n");
	const struct toml_value *fruit, *skin;
	const struct toml_table *f0, *f1;

	CHECK(t);
	fruit = toml_table_get(t, "fruit");
	CHECK(fruit && fruit->type == TOML_ARRAY);
	CHECK(fruit->u.arr->of_tables);
	CHECK_INT(fruit->u.arr->n, 2);
	CHECK(fruit->u.arr->items[0].type == TOML_TABLE);
	f0 = fruit->u.arr->items[0].u.tab;
	f1 = fruit->u.arr->items[1].u.tab;
	CHECK_STR(toml_table_get(f0, "name")->u.s.ptr, "apple");
	CHECK_STR(toml_table_get(f1, "name")->u.s.ptr, "banana");
	/* [fruit.skin] belongs to the latest [[fruit]]. */
	skin = toml_table_get(f0, "skin");
	CHECK(skin && skin->type == TOML_TABLE);
	CHECK_STR(toml_table_get(skin->u.tab, "colour")->u.s.ptr, "red");
	CHECK(toml_table_get(f1, "skin") == NULL);
	/* Each element starts where its header was written. */
	CHECK_INT(fruit->u.arr->items[0].pos.line, 1);
	CHECK_INT(fruit->u.arr->items[1].pos.line, 6);
	toml_table_free(t);

	/* A static array cannot be appended to by a header. */
	{
		struct toml_parse_error e;

		if (PARSE_ERR("fruit = []\n[[fruit]]\n", &e) < 0)
			return;
		CHECK_INT(e.line, 2);
		CHECK_INT(e.col, 3);
	}
}

TEST(toml_inline_arrays_hold_mixed_values_with_positions)
{
	struct toml_table *t = PARSE_OK("a = [\n"
					"  1,\n"
					"  \"two\", # comment\n"
					"  { x = 3 },\n"
					"]\n");
	const struct toml_value *a;

	CHECK(t);
	a = toml_table_get(t, "a");
	CHECK(a && a->type == TOML_ARRAY);
	CHECK(!a->u.arr->of_tables);
	CHECK_INT(a->u.arr->n, 3);
	CHECK(a->u.arr->items[0].type == TOML_INTEGER);
	CHECK_INT(a->u.arr->items[0].pos.line, 2);
	CHECK_INT(a->u.arr->items[0].pos.col, 3);
	CHECK(a->u.arr->items[1].type == TOML_STRING);
	CHECK_INT(a->u.arr->items[1].pos.line, 3);
	CHECK(a->u.arr->items[2].type == TOML_TABLE);
	CHECK(a->u.arr->items[2].u.tab->inline_);
	CHECK_INT(a->u.arr->items[2].pos.line, 4);
	toml_table_free(t);
}

TEST(toml_strings_and_keys_may_hold_nul)
{
	struct toml_table *t = PARSE_OK("s = \"a\\u0000b\"\n"
					"\"k\\u0000\" = 1\n");
	const struct toml_value *s;

	CHECK(t);
	s = toml_table_get(t, "s");
	CHECK(s && s->type == TOML_STRING);
	CHECK_INT(s->u.s.len, 3);
	CHECK_INT(strlen(s->u.s.ptr), 1);
	CHECK(memcmp(s->u.s.ptr, "a\0b", 4) == 0);
	CHECK_INT(t->n, 2);
	CHECK_INT(t->items[1].key_len, 2);
	CHECK(memcmp(t->items[1].key, "k\0", 3) == 0);
	toml_table_free(t);
}

TEST(toml_type_names_and_descriptions)
{
	CHECK_STR(toml_type_name(TOML_STRING), "string");
	CHECK_STR(toml_type_name(TOML_INTEGER), "integer");
	CHECK_STR(toml_type_name(TOML_FLOAT), "float");
	CHECK_STR(toml_type_name(TOML_BOOL), "bool");
	CHECK_STR(toml_type_name(TOML_ARRAY), "array");
	CHECK_STR(toml_type_name(TOML_TABLE), "table");
	CHECK_STR(toml_type_desc(TOML_STRING), "a string");
	CHECK_STR(toml_type_desc(TOML_INTEGER), "an integer");
	CHECK_STR(toml_type_desc(TOML_BOOL), "a boolean");
	CHECK_STR(toml_type_desc(TOML_ARRAY), "an array");
	CHECK_STR(toml_type_desc(TOML_TABLE), "a table");
	CHECK_STR(toml_type_desc(TOML_DATE_LOCAL), "a local date");
}

TEST(toml_parse_needs_no_nul_terminator)
{
	/* Only len bytes are read: the rest of the buffer is not TOML. */
	const char buf[] = "a = 1\nb = 2\n!!! not toml";
	struct toml_parse_error e;
	struct toml_table *t = NULL;

	CHECK_INT(toml_parse(buf, 12, &t, &e), 0);
	CHECK(t);
	CHECK_INT(t->n, 2);
	CHECK_INT(toml_table_get(t, "b")->u.i, 2);
	toml_table_free(t);
	/* An empty document is an empty table. */
	CHECK_INT(toml_parse("", 0, &t, &e), 0);
	CHECK(t && t->n == 0);
	toml_table_free(t);
}

TEST(toml_control_characters_are_refused)
{
	CHECK_ERROR("a = 1 # bell \a\n", 1, 14, "control character U+0007 in comment");
	CHECK_ERROR("s = \"x\ty\x01\"\n", 1, 9,
		    "control character U+0001 in a string; use an escape");
	CHECK_ERROR("a = 1\rb = 2\n", 1, 6, "carriage return not followed by a newline");
}
