/* libFuzzer harness for the TOML parser: parse, walk the whole tree, format
 * every date-time, free. */
#include <stddef.h>
#include <stdint.h>

#include "toml.h"

static void walk_table(const struct toml_table *t);

static void walk_value(const struct toml_value *v)
{
	char buf[64];

	switch (v->type) {
	case TOML_ARRAY:
		for (size_t i = 0; i < v->u.arr->n; i++)
			walk_value(&v->u.arr->items[i]);
		break;
	case TOML_TABLE:
		walk_table(v->u.tab);
		break;
	case TOML_DATETIME:
	case TOML_DATETIME_LOCAL:
	case TOML_DATE_LOCAL:
	case TOML_TIME_LOCAL:
		toml_datetime_format(v, buf, sizeof(buf));
		break;
	default:
		break;
	}
	(void)toml_type_name(v->type);
}

static void walk_table(const struct toml_table *t)
{
	for (size_t i = 0; i < t->n; i++) {
		/* Lookups by key must find what the walk sees. */
		if (t->items[i].key_len == __builtin_strlen(t->items[i].key) &&
		    toml_table_get(t, t->items[i].key) == NULL)
			__builtin_trap();
		walk_value(&t->items[i].val);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct toml_parse_error perr;
	struct toml_table *root;

	if (toml_parse((const char *)data, size, &root, &perr) == 0) {
		walk_table(root);
		toml_table_free(root);
	} else if (perr.line < 1 || perr.col < 1 || !perr.msg[0]) {
		__builtin_trap(); /* every error says where and what */
	}
	return 0;
}
