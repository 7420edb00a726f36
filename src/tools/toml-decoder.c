/* toml-decoder: TOML on standard input, the toml-test tagged JSON on
 * standard output. Exit 0 on success, 1 (with the position on standard
 * error) for invalid TOML. */
#define _GNU_SOURCE
#include <jansson.h>
#include <math.h>
#include <stdio.h>

#include "strbuf.h"
#include "toml.h"
#include "banned.h"

static json_t *to_json(const struct toml_value *v);

static json_t *table_json(const struct toml_table *t)
{
	json_t *o = json_object();

	for (size_t i = 0; i < t->n; i++)
		json_object_setn_new(o, t->items[i].key, t->items[i].key_len,
				     to_json(&t->items[i].val));
	return o;
}

static json_t *tagged(const char *type, const char *value)
{
	return json_pack("{s:s, s:s}", "type", type, "value", value);
}

static json_t *to_json(const struct toml_value *v)
{
	char buf[64];

	switch (v->type) {
	case TOML_STRING:
		return json_pack("{s:s, s:s%}", "type", "string", "value", v->u.s.ptr, v->u.s.len);
	case TOML_INTEGER:
		snprintf(buf, sizeof(buf), "%lld", (long long)v->u.i);
		return tagged("integer", buf);
	case TOML_FLOAT:
		if (isnan(v->u.f))
			snprintf(buf, sizeof(buf), "nan");
		else if (isinf(v->u.f))
			snprintf(buf, sizeof(buf), "%sinf", v->u.f < 0 ? "-" : "");
		else
			snprintf(buf, sizeof(buf), "%.17g", v->u.f);
		return tagged("float", buf);
	case TOML_BOOL:
		return tagged("bool", v->u.b ? "true" : "false");
	case TOML_DATETIME:
	case TOML_DATETIME_LOCAL:
	case TOML_DATE_LOCAL:
	case TOML_TIME_LOCAL:
		return tagged(toml_type_name(v->type), toml_datetime_format(v, buf, sizeof(buf)));
	case TOML_ARRAY: {
		json_t *a = json_array();

		for (size_t i = 0; i < v->u.arr->n; i++)
			json_array_append_new(a, to_json(&v->u.arr->items[i]));
		return a;
	}
	case TOML_TABLE:
		return table_json(v->u.tab);
	}
	return json_null();
}

int main(void)
{
	struct strbuf in = STRBUF_INIT;
	struct toml_parse_error perr;
	struct toml_table *root;
	char chunk[65536];
	size_t n;
	json_t *out;

	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
		strbuf_add(&in, chunk, n);
	if (ferror(stdin)) {
		perror("toml-decoder: reading standard input");
		return 2;
	}
	if (toml_parse(in.buf, in.len, &root, &perr) < 0) {
		fprintf(stderr, "toml-decoder: line %d, column %d: %s\n", perr.line, perr.col, perr.msg);
		strbuf_release(&in);
		return 1;
	}
	out = table_json(root);
	json_dumpf(out, stdout, JSON_INDENT(1) | JSON_SORT_KEYS);
	fputc('\n', stdout);
	json_decref(out);
	toml_table_free(root);
	strbuf_release(&in);
	return 0;
}
