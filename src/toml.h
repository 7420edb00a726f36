/* TOML 1.0 parser. Debian packages no C TOML library, so Nua has its own; it
 * passes the TOML 1.0 conformance suite (tests/toml-test.sh).
 *
 * The parse result is a tree of tables, arrays and scalars. Every key and
 * value remembers where it started in the source (1-based line and column,
 * columns counted in characters) so that callers can point at the exact
 * place of a problem. Tables keep their keys in document order. */
#ifndef NUA_TOML_H
#define NUA_TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum toml_type {
	TOML_STRING,
	TOML_INTEGER,
	TOML_FLOAT,
	TOML_BOOL,
	TOML_DATETIME,       /* offset date-time: 1979-05-27T07:32:00Z */
	TOML_DATETIME_LOCAL, /* 1979-05-27T07:32:00 */
	TOML_DATE_LOCAL,     /* 1979-05-27 */
	TOML_TIME_LOCAL,     /* 07:32:00 */
	TOML_ARRAY,
	TOML_TABLE,
};

struct toml_pos {
	int line, col;
};

struct toml_datetime {
	int year, month, day;        /* set for all but TOML_TIME_LOCAL */
	int hour, minute, second;    /* set for all but TOML_DATE_LOCAL */
	int nanosecond;              /* fractional seconds, truncated to 9 digits */
	int frac_digits;             /* digits of the fraction as written, 0..9 */
	int offset_minutes;          /* TOML_DATETIME only; Z is 0 */
};

struct toml_table;
struct toml_array;

struct toml_value {
	enum toml_type type;
	struct toml_pos pos; /* where the value starts */
	union {
		struct {
			char *ptr;  /* NUL-terminated, but may also hold NUL (\u0000) */
			size_t len; /* bytes, UTF-8 */
		} s;
		int64_t i;
		double f;
		bool b;
		struct toml_datetime dt;
		struct toml_array *arr;
		struct toml_table *tab;
	} u;
};

struct toml_keyval {
	char *key;               /* one key segment, unquoted, UTF-8 */
	size_t key_len;          /* bytes: a quoted key may hold NUL (\u0000) */
	struct toml_pos key_pos; /* where the key (that segment) was written */
	struct toml_value val;
};

struct toml_table {
	struct toml_keyval *items; /* document order */
	size_t n, alloc;
	/* Parser bookkeeping: how the table came to be, to enforce the rules
	 * on redefinition. Read-only for callers. */
	bool header;   /* defined by a [header] */
	bool implicit; /* created as a parent of a header or dotted key */
	bool dotted;   /* created by a dotted key */
	bool inline_;  /* an inline table: closed to later additions */
};

struct toml_array {
	struct toml_value *items;
	size_t n, alloc;
	bool of_tables; /* created by [[header]]: may be appended to */
};

struct toml_parse_error {
	int line, col; /* 1-based position of the problem */
	char msg[256]; /* lowercase, no position in it */
};

/* Parse len bytes of TOML (they need not be NUL-terminated). On success
 * returns 0 and stores the root table in *out, which the caller frees with
 * toml_table_free. On failure returns -1, stores nothing in *out, and fills
 * *perr with the position and a message. Invalid UTF-8, control characters
 * and every other violation of TOML 1.0 are errors. */
int toml_parse(const char *buf, size_t len, struct toml_table **out,
	       struct toml_parse_error *perr);

void toml_table_free(struct toml_table *t);

/* The value of key in t, or NULL. Borrowed. Exact match of the segment. */
const struct toml_value *toml_table_get(const struct toml_table *t, const char *key);

/* The entry of key in t (for its key position), or NULL. Borrowed. */
const struct toml_keyval *toml_table_get_kv(const struct toml_table *t, const char *key);

/* "string", "integer", "float", "bool", "datetime", "datetime-local",
 * "date-local", "time-local", "array", "table": the names toml-test uses. */
const char *toml_type_name(enum toml_type type);

/* A plain-English name for messages: "a string", "an integer", "a table"... */
const char *toml_type_desc(enum toml_type type);

/* Format a date-time value as RFC 3339 text (the form toml-test expects),
 * into buf of size n. Returns buf. */
char *toml_datetime_format(const struct toml_value *v, char *buf, size_t n);

#endif
