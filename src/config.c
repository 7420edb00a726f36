/* nua-config.toml: from the TOML tree to struct nua_config, checking every
 * key. Each section is described by a table of fields (canonical name,
 * aliases, kind, where the value goes); walking a section stores what is
 * valid, reports the rest, and remembers where each key was written so that
 * the checks that involve several keys can point at the right place. */
#define _GNU_SOURCE
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>

#include "cron.h"
#include "strbuf.h"
#include "util.h"
#include "banned.h"

struct checker {
	const char *file;
	const char *src; /* the TOML text, to place problems inside strings */
	size_t src_len;
	struct diag_list *diags;
	struct nua_config *cfg;
};

PRINTF(3, 4) static void problem(struct checker *c, struct toml_pos pos, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	diag_add(c->diags, c->file, pos.line ? pos.line : 1, pos.col ? pos.col : 1, "%s", sb.buf);
	strbuf_release(&sb);
}

static void strv_push(struct config_strv *l, const char *s)
{
	ALLOC_GROW(l->v, l->n + 1, l->alloc);
	l->v[l->n++] = xstrdup(s);
}

static void strv_release(struct config_strv *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static bool in_list(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (streq(*list, s))
			return true;
	return false;
}

/* ---- where a problem is ---- */

/* Byte offset in the source of a (line, col) position; columns count
 * characters. Returns len when out of range. */
static size_t src_offset(const struct checker *c, struct toml_pos pos)
{
	size_t i = 0;
	int line = 1, col = 1;

	while (i < c->src_len && line < pos.line)
		if (c->src[i++] == '\n')
			line++;
	while (i < c->src_len && col < pos.col && c->src[i] != '\n') {
		i++;
		while (i < c->src_len && (c->src[i] & 0xc0) == 0x80)
			i++;
		col++;
	}
	return i;
}

/* The position of byte off of the string value at vpos, when the string is
 * written without escapes (so that its bytes are the source's bytes);
 * otherwise the position of the value. */
static struct toml_pos pos_in_string(const struct checker *c, struct toml_pos vpos, size_t off)
{
	size_t i = src_offset(c, vpos);
	struct toml_pos p = vpos;
	char q;

	if (!c->src || i >= c->src_len || (c->src[i] != '"' && c->src[i] != '\''))
		return vpos;
	q = c->src[i];
	if (i + 2 < c->src_len && c->src[i + 1] == q && c->src[i + 2] == q) {
		i += 3;
		p.col += 3;
		if (i < c->src_len && c->src[i] == '\n') {
			i++;
			p.line++;
			p.col = 1;
		} else if (i + 1 < c->src_len && c->src[i] == '\r' && c->src[i + 1] == '\n') {
			i += 2;
			p.line++;
			p.col = 1;
		}
	} else {
		i++;
		p.col++;
	}
	for (; off > 0; off--, i++) {
		if (i >= c->src_len || (q == '"' && c->src[i] == '\\') || c->src[i] == '\r')
			return vpos;
		if (c->src[i] == '\n') {
			p.line++;
			p.col = 1;
		} else if ((c->src[i] & 0xc0) != 0x80) {
			p.col++;
		}
	}
	return p;
}

/* ---- field tables ---- */

enum field_kind {
	F_STRING,      /* char * */
	F_STRINGS,     /* struct config_strv: a string or an array of strings */
	F_ARRAY,       /* struct config_strv: an array of strings only */
	F_POSINT,      /* int64_t > 0 */
	F_COUNT,       /* int64_t >= 0 */
	F_SIZE,        /* uint64_t bytes, from "256M" or a number */
	F_POSNUMBER,   /* double > 0 */
	F_BOOL,        /* bool */
	F_DURATION,    /* int64_t seconds > 0, from a number or "24h" */
	F_DURATION0,   /* the same, 0 allowed */
	F_TABLE,       /* json_t * from a table, kept as given */
	F_CUSTOM,      /* the section's own code reads it */
	F_UNSUPPORTED, /* a Python Nua key this Nua refuses, with a reason */
};

struct field {
	const char *name;      /* canonical spelling, with dashes */
	const char *alias[3];  /* other names (dash spelling) */
	enum field_kind kind;
	size_t offset;         /* into the section's struct */
	bool required;
	const char *why;       /* F_UNSUPPORTED: the reason given */
};

#define NO_ALIAS { NULL, NULL, NULL }
#define END_FIELDS { NULL, NO_ALIAS, F_CUSTOM, 0, false, NULL }
#define MAX_FIELDS 32

/* One walked section: for every field, the key/value that gave it. */
struct section {
	const struct field *fields;
	const struct toml_value *table;
	const char *where; /* "[build]", "[port.web]", "[[volume]]"... */
	const struct toml_keyval *kv[MAX_FIELDS];
};

/* '_' and '-' are the same in key names. */
static void canonical_key(const char *key, char *out, size_t n)
{
	size_t i;

	for (i = 0; key[i] && i + 1 < n; i++)
		out[i] = key[i] == '_' ? '-' : key[i];
	out[i] = '\0';
}

static const struct field *find_field(const struct field *fields, const char *key)
{
	char k[64];

	if (strlen(key) >= sizeof(k))
		return NULL;
	canonical_key(key, k, sizeof(k));
	for (const struct field *f = fields; f->name; f++) {
		if (streq(f->name, k))
			return f;
		for (int i = 0; i < 3 && f->alias[i]; i++)
			if (streq(f->alias[i], k))
				return f;
	}
	return NULL;
}

/* The key/value of the field named name (canonical) in s, or NULL. */
static const struct toml_keyval *got(const struct section *s, const char *name)
{
	for (const struct field *f = s->fields; f->name; f++)
		if (streq(f->name, name))
			return s->kv[f - s->fields];
	BUG("no field '%s' in the table of %s", name, s->where);
}

static struct toml_pos val_pos(const struct section *s, const char *name)
{
	const struct toml_keyval *kv = got(s, name);

	return kv ? kv->val.pos : s->table->pos;
}

static const struct field sections[];

static void unknown_key(struct checker *c, const struct toml_keyval *kv, const char *where,
			const struct field *fields)
{
	const char *names[4 * MAX_FIELDS + 1];
	const char *near;
	size_t n = 0;
	char k[64];

	for (const struct field *f = fields; f->name; f++) {
		names[n++] = f->name;
		for (int i = 0; i < 3 && f->alias[i]; i++)
			names[n++] = f->alias[i];
	}
	names[n] = NULL;
	canonical_key(kv->key, k, sizeof(k));
	near = strlen(kv->key) < sizeof(k) ? nearest_word(k, names) : NULL;
	if (!near && find_field(sections, kv->key))
		problem(c, kv->key_pos,
			"unknown key '%s' in %s; [%s] is a section of its own",
			kv->key, where, kv->key);
	else if (near)
		problem(c, kv->key_pos, "unknown key '%s' in %s; did you mean '%s'?", kv->key, where,
			near);
	else
		problem(c, kv->key_pos, "unknown key '%s' in %s", kv->key, where);
}

static void wrong_type(struct checker *c, const struct toml_keyval *kv, const char *where,
		       const char *expected)
{
	problem(c, kv->val.pos, "'%s' in %s must be %s, not %s", kv->key, where, expected,
		toml_type_desc(kv->val.type));
}

/* The text of a string value, or NULL after a problem. No setting can hold
 * a NUL character. */
static const char *string_of(struct checker *c, const struct toml_keyval *kv, const char *where)
{
	if (kv->val.type != TOML_STRING) {
		wrong_type(c, kv, where, "a string");
		return NULL;
	}
	if (strlen(kv->val.u.s.ptr) != kv->val.u.s.len) {
		problem(c, kv->val.pos, "'%s' in %s must not hold a NUL character", kv->key, where);
		return NULL;
	}
	return kv->val.u.s.ptr;
}

static void set_string(char **dst, const char *s)
{
	free(*dst);
	*dst = xstrdup(s);
}

/* A string or an array of strings into out. An empty string alone is an
 * empty list (as the Python Nua read it). */
static void read_strings(struct checker *c, const struct toml_keyval *kv, const char *where,
			 struct config_strv *out, bool allow_single)
{
	const struct toml_value *v = &kv->val;

	if (allow_single && v->type == TOML_STRING) {
		const char *s = string_of(c, kv, where);

		if (s && *s)
			strv_push(out, s);
		return;
	}
	if (v->type != TOML_ARRAY) {
		wrong_type(c, kv, where,
			   allow_single ? "a string or an array of strings" : "an array of strings");
		return;
	}
	for (size_t i = 0; i < v->u.arr->n; i++) {
		const struct toml_value *e = &v->u.arr->items[i];

		if (e->type != TOML_STRING) {
			problem(c, e->pos, "'%s' in %s must hold strings only, not %s", kv->key, where,
				toml_type_desc(e->type));
		} else if (strlen(e->u.s.ptr) != e->u.s.len) {
			problem(c, e->pos, "'%s' in %s must not hold a NUL character", kv->key, where);
		} else if (!e->u.s.ptr[0]) {
			problem(c, e->pos, "empty string in '%s' in %s", kv->key, where);
		} else {
			strv_push(out, e->u.s.ptr);
		}
	}
}

static json_t *toml_to_json(const struct toml_value *v)
{
	char buf[64];

	switch (v->type) {
	case TOML_STRING:
		return json_stringn(v->u.s.ptr, v->u.s.len);
	case TOML_INTEGER:
		return json_integer(v->u.i);
	case TOML_FLOAT:
		return isfinite(v->u.f) ? json_real(v->u.f) : json_null();
	case TOML_BOOL:
		return json_boolean(v->u.b);
	case TOML_ARRAY: {
		json_t *a = json_array();

		for (size_t i = 0; i < v->u.arr->n; i++)
			json_array_append_new(a, toml_to_json(&v->u.arr->items[i]));
		return a;
	}
	case TOML_TABLE: {
		json_t *o = json_object();

		for (size_t i = 0; i < v->u.tab->n; i++)
			json_object_setn_new(o, v->u.tab->items[i].key, v->u.tab->items[i].key_len,
					     toml_to_json(&v->u.tab->items[i].val));
		return o;
	}
	default:
		return json_string(toml_datetime_format(v, buf, sizeof(buf)));
	}
}

/* Store kv's value at base + f->offset according to f->kind. */
static void set_field(struct checker *c, const struct field *f, const struct toml_keyval *kv,
		      const char *where, void *base)
{
	void *dst = (char *)base + f->offset;
	const struct toml_value *v = &kv->val;
	const char *s;

	switch (f->kind) {
	case F_STRING:
		s = string_of(c, kv, where);
		if (!s)
			return;
		/* Only the keys the Python Nua allowed in [metadata] as well as
		 * in [build] can find their place taken. */
		if (*(char **)dst) {
			problem(c, kv->key_pos,
				"'%s' is given both in [metadata] and in [build]; keep one",
				f->name);
			return;
		}
		set_string(dst, s);
		return;
	case F_STRINGS:
	case F_ARRAY:
		strv_release(dst);
		read_strings(c, kv, where, dst, f->kind == F_STRINGS);
		return;
	case F_POSINT:
	case F_COUNT: {
		int64_t min = f->kind == F_POSINT ? 1 : 0;
		const char *what = f->kind == F_POSINT ? "a positive integer" : "an integer, 0 or more";

		if (v->type == TOML_INTEGER && v->u.i >= min)
			*(int64_t *)dst = v->u.i;
		else if (v->type == TOML_INTEGER)
			problem(c, v->pos, "'%s' in %s must be %s, not %lld", kv->key, where, what,
				(long long)v->u.i);
		else
			wrong_type(c, kv, where, what);
		return;
	}
	case F_SIZE:
		if (v->type == TOML_INTEGER && v->u.i > 0) {
			*(uint64_t *)dst = (uint64_t)v->u.i;
			return;
		}
		if (v->type == TOML_STRING && config_parse_size(v->u.s.ptr, dst) == 0)
			return;
		if (v->type == TOML_STRING || v->type == TOML_INTEGER)
			problem(c, v->pos, "'%s' in %s must be a size such as \"256M\" or \"1G\"",
				kv->key, where);
		else
			wrong_type(c, kv, where, "a size such as \"256M\" or \"1G\"");
		return;
	case F_POSNUMBER: {
		double d = v->type == TOML_INTEGER ? (double)v->u.i : v->type == TOML_FLOAT ? v->u.f : 0;

		if (v->type != TOML_INTEGER && v->type != TOML_FLOAT)
			wrong_type(c, kv, where, "a positive number");
		else if (!(d > 0) || !isfinite(d))
			problem(c, v->pos, "'%s' in %s must be a positive number", kv->key, where);
		else
			*(double *)dst = d;
		return;
	}
	case F_BOOL:
		if (v->type != TOML_BOOL)
			wrong_type(c, kv, where, "true or false");
		else
			*(bool *)dst = v->u.b;
		return;
	case F_DURATION:
	case F_DURATION0: {
		int64_t min = f->kind == F_DURATION ? 1 : 0;

		if (v->type == TOML_INTEGER && v->u.i >= min) {
			*(int64_t *)dst = v->u.i;
			return;
		}
		if (v->type == TOML_STRING && config_parse_duration(v->u.s.ptr, dst) == 0)
			return;
		if (v->type == TOML_STRING || v->type == TOML_INTEGER)
			problem(c, v->pos,
				"'%s' in %s must be %s seconds or a duration such as \"30s\", \"15m\" or \"24h\"",
				kv->key, where, min ? "a positive number of" : "a number of");
		else
			wrong_type(c, kv, where, "a duration");
		return;
	}
	case F_TABLE:
		if (v->type != TOML_TABLE) {
			wrong_type(c, kv, where, "a table");
			return;
		}
		json_decref(*(json_t **)dst);
		*(json_t **)dst = toml_to_json(v);
		return;
	case F_UNSUPPORTED:
		problem(c, kv->key_pos, "'%s' in %s is not supported: %s", kv->key, where, f->why);
		return;
	case F_CUSTOM:
		return;
	}
	BUG("unknown field kind %d", (int)f->kind);
}

typedef void custom_fn(struct checker *c, const struct toml_keyval *kv, const struct field *f,
		       const char *where, void *arg);

/* Walk the table section (a TOML table) described by fields: unknown keys
 * and keys given twice (two spellings) are problems, known ones are stored
 * (F_CUSTOM ones handed to custom), missing required ones are problems. */
static void walk_section(struct checker *c, struct section *s, const struct toml_value *table,
			 const char *where, const struct field *fields, void *base, custom_fn *custom,
			 void *arg)
{
	const struct toml_table *t = table->u.tab;

	memset(s, 0, sizeof(*s));
	s->fields = fields;
	s->table = table;
	s->where = where;
	for (size_t i = 0; i < t->n; i++) {
		const struct toml_keyval *kv = &t->items[i];
		const struct field *f = find_field(fields, kv->key);
		size_t k;

		if (!f) {
			unknown_key(c, kv, where, fields);
			continue;
		}
		k = (size_t)(f - fields);
		if (k >= MAX_FIELDS)
			BUG("field table of %s too long", where);
		if (s->kv[k]) {
			problem(c, kv->key_pos, "'%s' in %s is given twice (as '%s' and as '%s')",
				f->name, where, s->kv[k]->key, kv->key);
			continue;
		}
		s->kv[k] = kv;
		if (f->kind == F_CUSTOM) {
			if (custom)
				custom(c, kv, f, where, arg);
		} else
			set_field(c, f, kv, where, base);
	}
	for (const struct field *f = fields; f->name; f++)
		if (f->required && !s->kv[f - fields])
			problem(c, table->pos, "%s is missing the required key '%s'", where, f->name);
}

static bool need_table(struct checker *c, const struct toml_keyval *kv, const char *where)
{
	if (kv->val.type == TOML_TABLE)
		return true;
	problem(c, kv->val.pos, "%s must be a table, not %s", where, toml_type_desc(kv->val.type));
	return false;
}

static void check_choice(struct checker *c, const char *value, struct toml_pos pos,
			 const char *what, const char *const *choices)
{
	struct strbuf all = STRBUF_INIT;
	const char *near;

	if (in_list(value, choices))
		return;
	for (const char *const *k = choices; *k; k++)
		strbuf_addf(&all, "%s%s", all.len ? ", " : "", *k);
	near = nearest_word(value, choices);
	if (near)
		problem(c, pos, "unknown %s '%s'; did you mean '%s'?", what, value, near);
	else
		problem(c, pos, "unknown %s '%s' (known: %s)", what, value, all.buf);
	strbuf_release(&all);
}

/* ---- shapes of values ---- */

/* [a-z0-9] then [a-z0-9] and the extra characters, at most max. */
static bool valid_word(const char *s, const char *extra, size_t max)
{
	size_t n;

	if (!(islower((unsigned char)s[0]) || isdigit((unsigned char)s[0])))
		return false;
	for (n = 1; s[n]; n++)
		if (!islower((unsigned char)s[n]) && !isdigit((unsigned char)s[n]) &&
		    !strchr(extra, s[n]))
			return false;
	return n <= max;
}

static bool valid_abs_path(const char *p)
{
	if (p[0] != '/')
		return false;
	for (const char *s = p; *s; s++) {
		if (s[0] != '/')
			continue;
		if (s[1] == '/' || (s[1] == '\0' && s != p))
			return false;
		if (s[1] == '.' && (s[2] == '/' || s[2] == '\0' ||
				    (s[2] == '.' && (s[3] == '/' || s[3] == '\0'))))
			return false;
	}
	return true;
}

/* Whether the normalised path p is dir or inside it ("/dev/shm" is under
 * "/dev", "/devices" is not). */
static bool path_under(const char *p, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(p, dir, n) == 0 && (p[n] == '\0' || p[n] == '/');
}

static bool valid_rel_path(const char *p)
{
	if (!*p || p[0] == '/')
		return false;
	for (const char *s = p; *s;) {
		size_t n = strcspn(s, "/");

		if (n == 2 && s[0] == '.' && s[1] == '.')
			return false;
		s += n;
		if (*s)
			s++;
	}
	return true;
}

static bool valid_env_key(const char *s) { return valid_env_name(s, strlen(s)); }

/* A resource name is a host name and a variable prefix (DB_URL). */
static bool valid_resource_name(const char *s)
{
	size_t n = strlen(s);

	return islower((unsigned char)s[0]) && valid_word(s, "-", 32) && s[n - 1] != '-' &&
	       !strstr(s, "--");
}

/* A Debian package, optionally with :ARCH and =VERSION. */
static bool valid_package(const char *p)
{
	size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789+-.");

	if (n < 1 || !isalnum((unsigned char)p[0]))
		return false;
	p += n;
	if (*p == ':') {
		n = strspn(p + 1, "abcdefghijklmnopqrstuvwxyz0123456789-");
		if (!n)
			return false;
		p += n + 1;
	}
	if (*p == '=') {
		n = strspn(p + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.+~:-");
		if (!n)
			return false;
		p += n + 1;
	}
	return *p == '\0';
}

/* "sha256:" and 64 hex digits; the Python Nua took the digits alone. */
static char *normal_checksum(const char *s)
{
	char *out;

	if (starts_with(s, "sha256:"))
		s += 7;
	if (strlen(s) != 64 || strspn(s, "0123456789abcdefABCDEF") != 64)
		return NULL;
	out = xasprintf("sha256:%s", s);
	for (char *p = out; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return out;
}

static bool looks_like_url(const char *s)
{
	const char *colon = strstr(s, "://");

	if (!colon || colon == s || !isalpha((unsigned char)s[0]))
		return false;
	for (const char *p = s; p < colon; p++)
		if (!isalnum((unsigned char)*p) && !strchr("+.-", *p))
			return false;
	return colon[3] && !strpbrk(s, " \t\n");
}

/* ---- placeholders ---- */

/* The length of the placeholder name at s ("{name}" with s after '{'):
 * letters, digits, '_' and '-', closed by '}'. 0 when s does not start one. */
static size_t placeholder_len(const char *s)
{
	size_t n = 0;

	if (!isalpha((unsigned char)s[0]) && s[0] != '_')
		return 0;
	while (isalnum((unsigned char)s[n]) || s[n] == '_' || s[n] == '-')
		n++;
	return s[n] == '}' ? n : 0;
}

/* What a placeholder of the metadata stands for: the raw value of that key
 * of [metadata]. */
static const char *metadata_value(const struct nua_config *cfg, const char *name, size_t len,
				  char *buf, size_t bufsize)
{
	const struct {
		const char *name;
		const char *value;
	} vars[] = {
		{ "id", cfg->metadata.id },
		{ "version", cfg->metadata.version },
		{ "title", cfg->metadata.title },
		{ "author", cfg->metadata.author },
		{ "tagline", cfg->metadata.tagline },
		{ "website", cfg->metadata.website },
		{ "license", cfg->metadata.license },
		{ "licence", cfg->metadata.license },
	};
	char k[32];

	if (len >= sizeof(k))
		return NULL;
	memcpy(k, name, len);
	k[len] = '\0';
	canonical_key(k, k, sizeof(k));
	if (streq(k, "release")) {
		snprintf(buf, bufsize, "%lld", (long long)(cfg->metadata.release ? cfg->metadata.release : 1));
		return buf;
	}
	for (size_t i = 0; i < ARRAY_SIZE(vars); i++)
		if (streq(vars[i].name, k))
			return vars[i].value ? vars[i].value : "";
	return NULL;
}

static const char *const metadata_placeholders[] = { "id", "version", "release", "title",
						     "author", "tagline", "website", "license",
						     NULL };

/* Expand the metadata placeholders of *s, whose value starts at vpos.
 * "{{" and "}}" are literal braces. strict: any other {name} is a problem;
 * otherwise it is left as written (shell code in commands). */
static void interpolate(struct checker *c, char **s, struct toml_pos vpos, const char *what,
			bool strict)
{
	struct strbuf out = STRBUF_INIT;
	const char *p = *s;
	char buf[32];

	if (!p || !strpbrk(p, "{}"))
		return;
	while (*p) {
		size_t n = p[0] == '{' ? placeholder_len(p + 1) : 0;
		const char *v = n ? metadata_value(c->cfg, p + 1, n, buf, sizeof(buf)) : NULL;

		if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
			strbuf_addch(&out, p[0]);
			p += 2;
		} else if (v) {
			strbuf_addstr(&out, v);
			p += n + 2;
		} else {
			if (n && strict) {
				_cleanup_free_ char *name = xstrndup(p + 1, n);
				const char *near = nearest_word(name, metadata_placeholders);
				struct toml_pos at = pos_in_string(c, vpos, (size_t)(p - *s));

				if (near)
					problem(c, at, "unknown placeholder '{%s}' in %s; did you mean '{%s}'?",
						name, what, near);
				else
					problem(c, at, "unknown placeholder '{%s}' in %s (use {{ and }} for braces)",
						name, what);
			}
			strbuf_addch(&out, *p++);
		}
	}
	free(*s);
	*s = strbuf_detach(&out, NULL);
}

/* ---- the sections ---- */

#define CF(f) offsetof(struct nua_config, f)

/* Where the sources come from: keys of [build], also accepted in
 * [metadata] where older Python Nua packages put them. */
#define SOURCE_FIELDS                                                                         \
	{ "src-url", NO_ALIAS, F_STRING, CF(build.src_url), false, NULL },                      \
	{ "src-checksum", { "checksum", NULL, NULL }, F_STRING, CF(build.src_checksum), false,  \
	  NULL },                                                                               \
	{ "git-url", NO_ALIAS, F_STRING, CF(build.git_url), false, NULL },                      \
	{ "git-branch", NO_ALIAS, F_STRING, CF(build.git_branch), false, NULL },                \
	{ "base-image", NO_ALIAS, F_STRING, CF(build.base_image), false, NULL }

static const struct field metadata_fields[] = {
	{ "id", NO_ALIAS, F_STRING, CF(metadata.id), true, NULL },
	{ "version", NO_ALIAS, F_STRING, CF(metadata.version), true, NULL },
	{ "release", NO_ALIAS, F_POSINT, CF(metadata.release), false, NULL },
	{ "title", NO_ALIAS, F_STRING, CF(metadata.title), false, NULL },
	{ "author", NO_ALIAS, F_STRING, CF(metadata.author), false, NULL },
	{ "tagline", NO_ALIAS, F_STRING, CF(metadata.tagline), false, NULL },
	{ "description", NO_ALIAS, F_STRING, CF(metadata.description), false, NULL },
	{ "website", NO_ALIAS, F_STRING, CF(metadata.website), false, NULL },
	{ "tags", NO_ALIAS, F_ARRAY, CF(metadata.tags), false, NULL },
	{ "license", { "licence", NULL, NULL }, F_STRING, CF(metadata.license), false, NULL },
	{ "profile", NO_ALIAS, F_STRINGS, CF(metadata.profile), false, NULL },
	{ "icon", NO_ALIAS, F_STRING, CF(metadata.icon), false, NULL },
	SOURCE_FIELDS,
	END_FIELDS,
};

static const struct field build_fields[] = {
	{ "packages", NO_ALIAS, F_STRINGS, CF(build.packages), false, NULL },
	{ "meta-packages", NO_ALIAS, F_STRINGS, CF(build.meta_packages), false, NULL },
	{ "pip-install", NO_ALIAS, F_STRINGS, CF(build.pip_install), false, NULL },
	{ "before-build", NO_ALIAS, F_STRINGS, CF(build.before_build), false, NULL },
	{ "build", { "build-command", NULL, NULL }, F_STRINGS, CF(build.build), false, NULL },
	{ "test", NO_ALIAS, F_STRINGS, CF(build.test), false, NULL },
	{ "project", NO_ALIAS, F_STRING, CF(build.project), false, NULL },
	SOURCE_FIELDS,
	{ "method", NO_ALIAS, F_STRING, CF(build.method), false, NULL },
	{ "builder", NO_ALIAS, F_CUSTOM, 0, false, NULL },
	{ "document-root", NO_ALIAS, F_STRING, CF(build.document_root), false, NULL },
	{ "license", { "licence", NULL, NULL }, F_STRING, CF(metadata.license), false, NULL },
	{ "builders", NO_ALIAS, F_UNSUPPORTED, 0, false,
	  "give one 'builder' and install other tools with 'packages' or 'build'" },
	END_FIELDS,
};

static const struct field run_fields[] = {
	{ "packages", NO_ALIAS, F_STRINGS, CF(run.packages), false, NULL },
	{ "start", NO_ALIAS, F_STRINGS, CF(run.start), false, NULL },
	{ "migrate", NO_ALIAS, F_STRINGS, CF(run.migrate), false, NULL },
	{ "first-start", NO_ALIAS, F_STRINGS, CF(run.first_start), false, NULL },
	{ "user", NO_ALIAS, F_STRING, CF(run.user), false, NULL },
	{ "workdir", NO_ALIAS, F_STRING, CF(run.workdir), false, NULL },
	{ "memory", NO_ALIAS, F_SIZE, CF(run.memory), false, NULL },
	{ "cpus", NO_ALIAS, F_POSNUMBER, CF(run.cpus), false, NULL },
	{ "pids", NO_ALIAS, F_POSINT, CF(run.pids), false, NULL },
	{ "before-run", NO_ALIAS, F_UNSUPPORTED, 0, false,
	  "put these commands first in 'start', which runs its commands in order" },
	{ "post-run", NO_ALIAS, F_UNSUPPORTED, 0, false,
	  "put these commands in 'start', which runs its commands in order" },
	{ "post-run-status", NO_ALIAS, F_UNSUPPORTED, 0, false, "it goes with 'post-run'" },
	END_FIELDS,
};

static const struct field healthcheck_fields[] = {
	{ "command", { "cmd", NULL, NULL }, F_STRINGS, CF(healthcheck.command), false, NULL },
	{ "path", NO_ALIAS, F_STRING, CF(healthcheck.path), false, NULL },
	{ "interval", NO_ALIAS, F_DURATION, CF(healthcheck.interval), false, NULL },
	{ "timeout", NO_ALIAS, F_DURATION, CF(healthcheck.timeout), false, NULL },
	{ "retries", NO_ALIAS, F_COUNT, CF(healthcheck.retries), false, NULL },
	{ "start-period", NO_ALIAS, F_DURATION0, CF(healthcheck.start_period), false, NULL },
	END_FIELDS,
};

#define PT(f) offsetof(struct config_port, f)
static const struct field port_fields[] = {
	{ "container", NO_ALIAS, F_CUSTOM, PT(container), true, NULL },
	{ "host", NO_ALIAS, F_CUSTOM, PT(host), false, NULL },
	{ "proxy", NO_ALIAS, F_CUSTOM, PT(proxy), false, NULL },
	{ "protocol", NO_ALIAS, F_CUSTOM, 0, false, NULL },
	{ "ssl", NO_ALIAS, F_BOOL, PT(ssl), false, NULL },
	END_FIELDS,
};

#define BK(f) offsetof(struct config_backup, f)
static const struct field backup_fields[] = {
	/* Optional: Nua backs up volumes and resources its own way (restic and
	 * the resource's dump); a method the Python Nua knew is still checked. */
	{ "method", NO_ALIAS, F_STRING, BK(method), false, NULL },
	{ "frequency", NO_ALIAS, F_DURATION, BK(frequency), false, NULL },
	{ "destination", NO_ALIAS, F_STRING, BK(destination), false, NULL },
	{ "pause", NO_ALIAS, F_BOOL, BK(pause), false, NULL },
	{ "options", NO_ALIAS, F_TABLE, BK(options), false, NULL },
	END_FIELDS,
};

#define VL(f) offsetof(struct config_volume, f)
static const struct field volume_fields[] = {
	{ "name", { "prefix", NULL, NULL }, F_STRING, VL(name), false, NULL },
	{ "target", { "dest", "destination", NULL }, F_STRING, VL(target), true, NULL },
	{ "type", NO_ALIAS, F_CUSTOM, 0, false, NULL },
	{ "source", { "src", NULL, NULL }, F_STRING, VL(source), false, NULL },
	{ "driver", NO_ALIAS, F_STRING, VL(driver), false, NULL },
	{ "options", NO_ALIAS, F_CUSTOM, 0, false, NULL },
	{ "backup", NO_ALIAS, F_CUSTOM, 0, false, NULL },
	END_FIELDS,
};

static const struct field volume_option_fields[] = {
	{ "size", { "tmpfs-size", NULL, NULL }, F_SIZE, VL(size), false, NULL },
	{ "mode", { "tmpfs-mode", NULL, NULL }, F_CUSTOM, 0, false, NULL },
	{ "read-only", { "readonly", NULL, NULL }, F_BOOL, VL(read_only), false, NULL },
	END_FIELDS,
};

#define RS(f) offsetof(struct config_resource, f)
static const struct field resource_fields[] = {
	{ "name", NO_ALIAS, F_STRING, RS(name), true, NULL },
	{ "type", { "module-name", NULL, NULL }, F_STRING, RS(type), true, NULL },
	{ "version", { "module-version", NULL, NULL }, F_STRING, RS(version), false, NULL },
	{ "base-image", NO_ALIAS, F_STRING, RS(base_image), false, NULL },
	{ "network", NO_ALIAS, F_BOOL, RS(network), false, NULL },
	{ "dedicated", NO_ALIAS, F_BOOL, RS(dedicated), false, NULL },
	{ "connector", NO_ALIAS, F_STRINGS, RS(connector), false, NULL },
	{ "env", NO_ALIAS, F_CUSTOM, 0, false, NULL },
	{ "volume", NO_ALIAS, F_CUSTOM, 0, false, NULL },
	{ "docker", NO_ALIAS, F_TABLE, RS(docker), false, NULL },
	{ "backup", NO_ALIAS, F_CUSTOM, 0, false, NULL },
	{ "build", NO_ALIAS, F_UNSUPPORTED, 0, false,
	  "a resource built from a sub-project; package it on its own" },
	{ "run", NO_ALIAS, F_UNSUPPORTED, 0, false,
	  "a resource built from a sub-project; package it on its own" },
	{ "port", NO_ALIAS, F_UNSUPPORTED, 0, false,
	  "a resource's ports are its own; the app reaches it by name" },
	{ "module-versions", NO_ALIAS, F_UNSUPPORTED, 0, false,
	  "Nua's own resource modules list the versions they provide" },
	END_FIELDS,
};

static const struct field env_table_fields[] = {
	{ "from", NO_ALIAS, F_CUSTOM, 0, false, NULL },
	{ "key", NO_ALIAS, F_CUSTOM, 0, false, NULL },
	{ "random", NO_ALIAS, F_CUSTOM, 0, false, NULL },
	{ "length", NO_ALIAS, F_CUSTOM, 0, false, NULL },
	{ "type", NO_ALIAS, F_CUSTOM, 0, false, NULL },
	{ "unique-user", NO_ALIAS, F_CUSTOM, 0, false, NULL },
	{ "unique-db", NO_ALIAS, F_CUSTOM, 0, false, NULL },
	{ "external-ip", NO_ALIAS, F_CUSTOM, 0, false, NULL },
	{ "persist", { "persistent", NULL, NULL }, F_CUSTOM, 0, false, NULL },
	{ "display", NO_ALIAS, F_CUSTOM, 0, false, NULL },
	END_FIELDS,
};

static const struct field sections[] = {
	{ "metadata", NO_ALIAS, F_CUSTOM, 0, true, NULL },
	{ "build", NO_ALIAS, F_CUSTOM, 0, false, NULL },
	{ "run", NO_ALIAS, F_CUSTOM, 0, false, NULL },
	{ "env", NO_ALIAS, F_CUSTOM, 0, false, NULL },
	{ "port", NO_ALIAS, F_CUSTOM, 0, false, NULL },
	{ "volume", NO_ALIAS, F_CUSTOM, 0, false, NULL },
	{ "resource", { "provider", NULL, NULL }, F_CUSTOM, 0, false, NULL },
	{ "healthcheck", NO_ALIAS, F_CUSTOM, 0, false, NULL },
	{ "backup", NO_ALIAS, F_CUSTOM, 0, false, NULL },
	{ "docker", NO_ALIAS, F_CUSTOM, 0, false, NULL },
	{ "process", NO_ALIAS, F_CUSTOM, 0, false, NULL },
	{ "cron", NO_ALIAS, F_CUSTOM, 0, false, NULL },
	{ "template", NO_ALIAS, F_CUSTOM, 0, false, NULL },
	{ "admin", NO_ALIAS, F_CUSTOM, 0, false, NULL },
	END_FIELDS,
};

static const struct field admin_fields[] = {
	{ "user-key", NO_ALIAS, F_STRING, CF(admin.user_key), false, NULL },
	{ "password-key", NO_ALIAS, F_STRING, CF(admin.password_key), true, NULL },
	END_FIELDS,
};

#define PR(f) offsetof(struct config_process, f)
static const struct field process_fields[] = {
	{ "name", NO_ALIAS, F_STRING, PR(name), true, NULL },
	{ "command", { "cmd", NULL, NULL }, F_STRING, PR(command), true, NULL },
	END_FIELDS,
};

#define CR(f) offsetof(struct config_cron, f)
static const struct field cron_fields[] = {
	{ "name", NO_ALIAS, F_STRING, CR(name), true, NULL },
	{ "schedule", NO_ALIAS, F_STRING, CR(schedule), true, NULL },
	{ "command", { "cmd", NULL, NULL }, F_STRING, CR(command), true, NULL },
	END_FIELDS,
};

#define TP(f) offsetof(struct config_template, f)
static const struct field template_fields[] = {
	{ "source", { "src", NULL, NULL }, F_STRING, TP(source), true, NULL },
	{ "target", { "dest", "destination", NULL }, F_STRING, TP(target), true, NULL },
	{ "mode", NO_ALIAS, F_CUSTOM, 0, false, NULL },
	END_FIELDS,
};

static const char *const resource_types[] = { "postgres", "mariadb", "redis", "redis-cache",
					      "mongodb", "sqlite", "docker-image", NULL };
static const char *const volume_types[] = { "managed", "directory", "tmpfs", NULL };
static const char *const backup_methods[] = { "pg_dump", "pg_dumpall", "mysqldump", "mongodump",
					      "redis_dump", "tgz_volumes", NULL };
static const char *const build_methods[] = { "build", "wrap", NULL };

/* ---- [metadata], [build], [run] ---- */

static void read_builder(struct checker *c, const struct toml_keyval *kv, const struct field *f,
			 const char *where, void *arg)
{
	struct nua_config *cfg = arg;
	const struct toml_value *v = &kv->val;

	(void)f;
	/* builder = "node-18", or { name = "node", version = "18" } */
	if (v->type == TOML_STRING) {
		const char *s = string_of(c, kv, where);

		if (s)
			set_string(&cfg->build.builder, s);
	} else if (v->type == TOML_TABLE) {
		static const struct field builder_fields[] = {
			{ "name", NO_ALIAS, F_STRING, CF(build.builder), true, NULL },
			{ "version", NO_ALIAS, F_CUSTOM, 0, false, NULL },
			END_FIELDS,
		};
		const struct toml_keyval *ver;
		struct section s;

		walk_section(c, &s, v, "[build.builder]", builder_fields, cfg, NULL, NULL);
		ver = got(&s, "version");
		if (ver && ver->val.type == TOML_INTEGER)
			cfg->build.builder_version = xasprintf("%lld", (long long)ver->val.u.i);
		else if (ver && ver->val.type == TOML_STRING && string_of(c, ver, "[build.builder]"))
			set_string(&cfg->build.builder_version, ver->val.u.s.ptr);
		else if (ver)
			wrong_type(c, ver, "[build.builder]", "a string");
		if (cfg->build.builder_version &&
		    !valid_word(cfg->build.builder_version, "._-", 32))
			problem(c, ver->val.pos, "invalid builder version '%s'",
				cfg->build.builder_version);
	} else {
		wrong_type(c, kv, where, "a string or a table { name, version }");
		return;
	}
	if (cfg->build.builder && !valid_word(cfg->build.builder, "._-", 32))
		problem(c, v->pos, "invalid builder '%s' (such as \"python\" or \"node-18\")", cfg->build.builder);
}

/* Packages written as one string may list several, as a shell would. */
static void split_packages(struct config_strv *l)
{
	struct config_strv out = { 0 };

	for (size_t i = 0; i < l->n; i++) {
		for (char *p = l->v[i]; *p;) {
			size_t n;

			p += strspn(p, " \t\n");
			n = strcspn(p, " \t\n");
			if (n) {
				char *w = xstrndup(p, n);

				ALLOC_GROW(out.v, out.n + 1, out.alloc);
				out.v[out.n++] = w;
			}
			p += n;
		}
	}
	strv_release(l);
	*l = out;
}

static void check_packages(struct checker *c, struct config_strv *l, const struct section *s,
			   const char *key, bool debian)
{
	const struct toml_keyval *kv = got(s, key);
	struct toml_pos pos = val_pos(s, key);

	if (kv && kv->val.type == TOML_STRING)
		split_packages(l);
	for (size_t i = 0; i < l->n; i++) {
		if (debian && !valid_package(l->v[i]))
			problem(c, pos, "invalid Debian package name '%s' in %s", l->v[i], s->where);
		else if (!debian && !valid_word(l->v[i], "-", 64))
			problem(c, pos, "invalid name '%s' in '%s' in %s", l->v[i], key, s->where);
	}
}

static void check_metadata(struct checker *c, const struct toml_keyval *kv, struct section *s)
{
	struct nua_config *cfg = c->cfg;
	const char *v;

	walk_section(c, s, &kv->val, "[metadata]", metadata_fields, cfg, NULL, NULL);
	if (cfg->metadata.id && !valid_word(cfg->metadata.id, "-", 63))
		problem(c, val_pos(s, "id"),
			"invalid id '%s': use lowercase letters, digits and '-', starting with a "
			"letter or digit, at most 63 characters",
			cfg->metadata.id);
	v = cfg->metadata.version;
	/* VERSION-RELEASE is an image tag: [A-Za-z0-9_.-], 128 at most. */
	if (v && (!isalnum((unsigned char)v[0]) || strlen(v) > 100 ||
		  strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") !=
			  strlen(v)))
		problem(c, val_pos(s, "version"),
			"invalid version '%s': use letters, digits, '.', '_' and '-' (it is part of "
			"the image tag)",
			v);
	for (size_t i = 0; i < cfg->metadata.profile.n; i++)
		if (!valid_word(cfg->metadata.profile.v[i], "-.+_", 32))
			problem(c, val_pos(s, "profile"),
				"invalid profile '%s' (such as \"python\", \"node\" or \"static\")",
				cfg->metadata.profile.v[i]);
	if (cfg->metadata.title && strchr(cfg->metadata.title, '\n'))
		problem(c, val_pos(s, "title"), "'title' in [metadata] must be one line");
	if (cfg->metadata.tagline && strchr(cfg->metadata.tagline, '\n'))
		problem(c, val_pos(s, "tagline"), "'tagline' in [metadata] must be one line");
}

static void check_build(struct checker *c, const struct toml_keyval *kv, struct section *s)
{
	struct nua_config *cfg = c->cfg;

	walk_section(c, s, &kv->val, "[build]", build_fields, cfg, read_builder, cfg);
	check_packages(c, &cfg->build.packages, s, "packages", true);
	check_packages(c, &cfg->build.meta_packages, s, "meta-packages", false);
	if (cfg->build.method)
		check_choice(c, cfg->build.method, val_pos(s, "method"), "build method",
			     build_methods);
	if (cfg->build.project && !valid_rel_path(cfg->build.project))
		problem(c, val_pos(s, "project"),
			"'project' in [build] must be a path inside the sources, not '%s'",
			cfg->build.project);
	if (cfg->build.document_root && !valid_abs_path(cfg->build.document_root))
		problem(c, val_pos(s, "document-root"),
			"'document-root' in [build] must be a normalised absolute path, not '%s'",
			cfg->build.document_root);
}

static void check_run(struct checker *c, const struct toml_keyval *kv, struct section *s)
{
	struct nua_config *cfg = c->cfg;
	const char *u;

	walk_section(c, s, &kv->val, "[run]", run_fields, cfg, NULL, NULL);
	check_packages(c, &cfg->run.packages, s, "packages", true);
	u = cfg->run.user;
	if (u && !(valid_word(u, "_-", 32) && !isdigit((unsigned char)u[0])) &&
	    strspn(u, "0123456789:") != strlen(u))
		problem(c, val_pos(s, "user"),
			"invalid user '%s' (a user name such as \"www-data\", or a uid such as \"1000\")",
			u);
	if (cfg->run.workdir && !valid_abs_path(cfg->run.workdir))
		problem(c, val_pos(s, "workdir"),
			"'workdir' in [run] must be a normalised absolute path, not '%s'",
			cfg->run.workdir);
	if (cfg->run.memory && cfg->run.memory < (4ULL << 20))
		problem(c, val_pos(s, "memory"),
			"'memory' in [run] is %llu bytes, too small to run anything (at least \"4M\")",
			(unsigned long long)cfg->run.memory);
	if (cfg->run.cpus > 1024)
		problem(c, val_pos(s, "cpus"), "'cpus' in [run] is %g, more than any server has",
			cfg->run.cpus);
}

/* ---- [env] and a resource's env ---- */

/* true, or the strings "true"/"false" the Python Nua packages use. */
static int flag_of(struct checker *c, const struct toml_keyval *kv, const char *where)
{
	if (kv->val.type == TOML_BOOL)
		return kv->val.u.b;
	if (kv->val.type == TOML_STRING && streq(kv->val.u.s.ptr, "true"))
		return 1;
	if (kv->val.type == TOML_STRING && streq(kv->val.u.s.ptr, "false"))
		return 0;
	wrong_type(c, kv, where, "true or false");
	return -1;
}

static void read_env_table(struct checker *c, const struct toml_keyval *kv, struct config_env *e,
			   const char *where)
{
	const struct toml_keyval *from, *key, *random, *length, *type, *uu, *ud, *ip, *persist,
		*display;
	const struct toml_keyval *forms[4];
	struct section s;
	size_t nforms = 0;

	walk_section(c, &s, &kv->val, where, env_table_fields, NULL, NULL, NULL);
	from = got(&s, "from");
	key = got(&s, "key");
	random = got(&s, "random");
	length = got(&s, "length");
	type = got(&s, "type");
	uu = got(&s, "unique-user");
	ud = got(&s, "unique-db");
	ip = got(&s, "external-ip");
	persist = got(&s, "persist");
	display = got(&s, "display");
	e->persist = true;

	if (random)
		forms[nforms++] = random;
	if (uu)
		forms[nforms++] = uu;
	if (ud)
		forms[nforms++] = ud;
	if (ip)
		forms[nforms++] = ip;
	if (nforms + !!(from || key) != 1) {
		problem(c, kv->val.pos,
			"%s must be one of { from, key }, { random = true, length }, "
			"{ unique-user = true }, { unique-db = true } or { external-ip = true }",
			where);
		return;
	}
	if (nforms == 0) {
		e->kind = CONFIG_ENV_FROM;
		if (!key) {
			problem(c, kv->val.pos, "%s needs a 'key' (the variable to take from '%s')",
				where, from->val.type == TOML_STRING ? from->val.u.s.ptr : "?");
			return;
		}
		if (from && string_of(c, from, where))
			set_string(&e->from, from->val.u.s.ptr);
		else if (!from)
			set_string(&e->from, "");
		if (string_of(c, key, where)) {
			if (!key->val.u.s.ptr[0])
				problem(c, key->val.pos, "'key' in %s must not be empty", where);
			set_string(&e->from_key, key->val.u.s.ptr);
		}
	} else {
		int on = flag_of(c, forms[0], where);

		if (on == 0)
			problem(c, forms[0]->val.pos, "'%s' in %s must be true (remove the table otherwise)",
				forms[0]->key, where);
		e->kind = forms[0] == random ? CONFIG_ENV_RANDOM
			  : forms[0] == uu   ? CONFIG_ENV_UNIQUE_USER
			  : forms[0] == ud   ? CONFIG_ENV_UNIQUE_DB
					     : CONFIG_ENV_EXTERNAL_IP;
	}
	if (e->kind == CONFIG_ENV_RANDOM) {
		e->length = 24;
		if (length && (length->val.type != TOML_INTEGER || length->val.u.i < 8 ||
			       length->val.u.i > 256))
			problem(c, length->val.pos, "'length' in %s must be an integer from 8 to 256",
				where);
		else if (length)
			e->length = (int)length->val.u.i;
		if (type && string_of(c, type, where)) {
			const char *t = type->val.u.s.ptr;

			if (streq(t, "int") || streq(t, "integer"))
				e->integer = true;
			else if (!streq(t, "str") && !streq(t, "string"))
				problem(c, type->val.pos,
					"'type' in %s must be \"string\" or \"int\", not \"%s\"", where, t);
		}
	} else {
		if (length)
			problem(c, length->key_pos, "'length' in %s goes with 'random'", where);
		if (type)
			problem(c, type->key_pos, "'type' in %s goes with 'random'", where);
	}
	if (persist) {
		int on = flag_of(c, persist, where);

		if (e->kind == CONFIG_ENV_FROM || e->kind == CONFIG_ENV_EXTERNAL_IP)
			problem(c, persist->key_pos,
				"'%s' in %s goes with random, unique-user or unique-db", persist->key,
				where);
		else if (on >= 0)
			e->persist = on;
	}
	if (display) {
		int on = flag_of(c, display, where);

		if (on >= 0)
			e->display = on;
	}
}

/* Read a table of variables into list; prefix is "env" or "resource.env". */
static void read_env(struct checker *c, const struct toml_keyval *kv, struct config_env_list *list,
		     const char *prefix)
{
	const struct toml_table *t;
	char where[160];

	snprintf(where, sizeof(where), "[%s]", prefix);
	if (!need_table(c, kv, where))
		return;
	t = kv->val.u.tab;
	for (size_t i = 0; i < t->n; i++) {
		const struct toml_keyval *ek = &t->items[i];
		struct config_env *e;

		if (!valid_env_key(ek->key) || strlen(ek->key) > 100) {
			_cleanup_free_ char *fix = xstrdup(ek->key);

			for (char *p = fix; *p; p++)
				if (*p == '-' || *p == '.')
					*p = '_';
			if (valid_env_key(fix) && strlen(fix) <= 100)
				problem(c, ek->key_pos, "invalid variable name '%s' in %s; did you mean '%s'?",
					ek->key, where, fix);
			else
				problem(c, ek->key_pos,
					"invalid variable name '%s' in %s (letters, digits and '_', not "
					"starting with a digit)",
					ek->key, where);
			continue;
		}
		ALLOC_GROW(list->v, list->n + 1, list->alloc);
		e = &list->v[list->n++];
		memset(e, 0, sizeof(*e));
		e->key = xstrdup(ek->key);
		e->pos = ek->key_pos;
		e->value_pos = ek->val.pos;
		switch (ek->val.type) {
		case TOML_STRING:
			if (string_of(c, ek, where))
				e->value = xstrdup(ek->val.u.s.ptr);
			break;
		case TOML_INTEGER:
			e->value = xasprintf("%lld", (long long)ek->val.u.i);
			break;
		case TOML_FLOAT:
			if (isfinite(ek->val.u.f))
				e->value = xasprintf("%.17g", ek->val.u.f);
			else
				problem(c, ek->val.pos, "'%s' in %s must be a finite number", ek->key, where);
			break;
		case TOML_BOOL:
			e->value = xstrdup(ek->val.u.b ? "true" : "false");
			break;
		case TOML_TABLE: {
			char sub[256];

			snprintf(sub, sizeof(sub), "[%s.%s]", prefix, ek->key);
			read_env_table(c, ek, e, sub);
			break;
		}
		default:
			problem(c, ek->val.pos,
				"'%s' in %s must be a string, a number, true or false, or a table, not %s",
				ek->key, where, toml_type_desc(ek->val.type));
		}
		if (e->kind == CONFIG_ENV_VALUE && !e->value)
			e->value = xstrdup("");
	}
}

static const struct config_env *env_find(const struct config_env_list *l, const char *key,
					 size_t len)
{
	for (size_t i = 0; i < l->n; i++)
		if (strlen(l->v[i].key) == len && memcmp(l->v[i].key, key, len) == 0)
			return &l->v[i];
	return NULL;
}

/* Follow the {OTHER} references of list->v[i]; state: 0 unseen, 1 on the
 * path (whose indexes are path[0..depth)), 2 done. A reference back to a
 * variable on the path closes a cycle, reported once, where it closes. */
static void env_cycles(struct checker *c, const struct config_env_list *l, size_t i,
		       unsigned char *state, size_t *path, size_t depth, const char *where)
{
	const char *v = l->v[i].value;

	state[i] = 1;
	path[depth++] = i;
	for (const char *p = v; *p; p++) {
		const struct config_env *o;
		size_t n, k;

		if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
			p++;
			continue;
		}
		if (p[0] != '{' || !(n = placeholder_len(p + 1)))
			continue;
		o = env_find(l, p + 1, n);
		if (!o || o->kind != CONFIG_ENV_VALUE)
			continue;
		k = (size_t)(o - l->v);
		if (state[k] == 1) {
			struct strbuf sb = STRBUF_INIT;
			size_t from = 0;

			while (path[from] != k)
				from++;
			for (size_t j = from; j < depth; j++)
				strbuf_addf(&sb, "%s -> ", l->v[path[j]].key);
			strbuf_addstr(&sb, o->key);
			problem(c, pos_in_string(c, l->v[i].value_pos, (size_t)(p - v)),
				"references in %s make a cycle: %s", where, sb.buf);
			strbuf_release(&sb);
		} else if (state[k] == 0) {
			env_cycles(c, l, k, state, path, depth, where);
		}
	}
	state[i] = 2;
}

static void report_unknown_ref(struct checker *c, const struct config_env_list *l,
			       const struct config_env *e, const char *p, size_t n, const char *where)
{
	_cleanup_free_ const char **names = xcalloc(l->n + 1, sizeof(*names));
	_cleanup_free_ char *name = xstrndup(p + 1, n);
	struct toml_pos at = pos_in_string(c, e->value_pos, (size_t)(p - e->value));
	const char *near;

	for (size_t i = 0; i < l->n; i++)
		names[i] = l->v[i].key;
	near = nearest_word(name, names);
	if (near)
		problem(c, at, "'%s' in %s refers to '{%s}', which %s does not define; did you mean '{%s}'?",
			e->key, where, name, where, near);
	else
		problem(c, at, "'%s' in %s refers to '{%s}', which %s does not define (use {{ and }} for braces)",
			e->key, where, name, where);
}

/* Check the references of the variables of list: {OTHER} to a variable of
 * the same list, from = a resource or volume of this package. */
static void check_env_refs(struct checker *c, const struct config_env_list *l, const char *where,
			   const struct config_resource_list *resources,
			   const struct config_volume_list *volumes)
{
	_cleanup_free_ unsigned char *state = xcalloc(l->n + 1, 1);
	_cleanup_free_ size_t *path = xcalloc(l->n + 1, sizeof(*path));

	for (size_t i = 0; i < l->n; i++) {
		const struct config_env *e = &l->v[i];

		if (e->kind == CONFIG_ENV_VALUE) {
			const char *v = e->value;

			for (const char *p = v; *p; p++) {
				size_t n;

				if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
					p++;
					continue;
				}
				if (p[0] != '{' || !(n = placeholder_len(p + 1)) || env_find(l, p + 1, n))
					continue;
				report_unknown_ref(c, l, e, p, n, where);
			}
		}
		if (e->kind == CONFIG_ENV_FROM && e->from && *e->from) {
			bool found = false;

			for (size_t r = 0; resources && r < resources->n; r++)
				if (resources->v[r].name && streq(resources->v[r].name, e->from))
					found = true;
			for (size_t r = 0; volumes && r < volumes->n; r++)
				if (volumes->v[r].name && streq(volumes->v[r].name, e->from))
					found = true;
			if (!found)
				problem(c, e->pos,
					"'%s' in %s takes its value from '%s', which is neither a "
					"[[resource]] nor a [[volume]] of this package",
					e->key, where, e->from);
		}
	}
	for (size_t i = 0; i < l->n; i++)
		if (!state[i] && l->v[i].kind == CONFIG_ENV_VALUE)
			env_cycles(c, l, i, state, path, 0, where);
}

/* ---- [port.NAME] ---- */

static void read_port_ref(struct checker *c, const struct toml_keyval *kv, const struct field *f,
			  const char *where, void *arg)
{
	struct config_port *p = arg;
	struct config_port_ref *ref;

	if (streq(f->name, "protocol")) {
		const char *s = string_of(c, kv, where);

		if (!s)
			return;
		if (!strcasecmp(s, "tcp"))
			p->protocol = CONFIG_TCP;
		else if (!strcasecmp(s, "udp"))
			p->protocol = CONFIG_UDP;
		else
			problem(c, kv->val.pos, "'protocol' in %s must be \"tcp\" or \"udp\", not \"%s\"",
				where, s);
		return;
	}
	ref = (struct config_port_ref *)((char *)p + f->offset);
	if (kv->val.type == TOML_INTEGER) {
		if (kv->val.u.i < 1 || kv->val.u.i > 65535)
			problem(c, kv->val.pos, "'%s' in %s must be a port from 1 to 65535, not %lld",
				kv->key, where, (long long)kv->val.u.i);
		else
			ref->number = (int)kv->val.u.i;
	} else if (kv->val.type == TOML_TABLE) {
		/* { key = "PORT" }: the port is the value of that variable. */
		const struct toml_keyval *key = toml_table_get_kv(kv->val.u.tab, "key");

		if (kv->val.u.tab->n != 1 || !key)
			problem(c, kv->val.pos,
				"'%s' in %s as a table takes one key, 'key' (the variable holding the port)",
				kv->key, where);
		else if (string_of(c, key, where) && !valid_env_key(key->val.u.s.ptr))
			problem(c, key->val.pos, "invalid variable name '%s'", key->val.u.s.ptr);
		else if (key->val.type == TOML_STRING)
			set_string(&ref->env, key->val.u.s.ptr);
	} else {
		wrong_type(c, kv, where, "a port number or { key = \"VARIABLE\" }");
	}
}

static void check_ports(struct checker *c, const struct toml_keyval *kv)
{
	struct nua_config *cfg = c->cfg;
	const struct toml_table *t;

	if (!need_table(c, kv, "[port]"))
		return;
	t = kv->val.u.tab;
	for (size_t i = 0; i < t->n; i++) {
		const struct toml_keyval *pk = &t->items[i];
		struct config_port *p;
		struct section s;
		char where[96];

		if (!valid_word(pk->key, "_-", 32)) {
			problem(c, pk->key_pos,
				"invalid port name '%s' (lowercase letters, digits, '-' and '_')", pk->key);
			continue;
		}
		snprintf(where, sizeof(where), "[port.%s]", pk->key);
		if (pk->val.type != TOML_TABLE) {
			problem(c, pk->val.pos, "%s must be a table with at least 'container', not %s",
				where, toml_type_desc(pk->val.type));
			continue;
		}
		ALLOC_GROW(cfg->ports, cfg->n_ports + 1, cfg->alloc_ports);
		p = &cfg->ports[cfg->n_ports++];
		memset(p, 0, sizeof(*p));
		p->name = xstrdup(pk->key);
		p->ssl = true;
		p->pos = pk->key_pos;
		walk_section(c, &s, &pk->val, where, port_fields, p, read_port_ref, p);
	}
}

/* The number a port reference stands for: as written, or the literal value
 * of its variable; 0 when only known at deploy time. */
static int port_number(struct checker *c, const struct config_port *p,
		       const struct config_port_ref *ref, const char *what)
{
	const struct config_env *e;
	char *end;
	long v;

	if (!ref->env)
		return ref->number;
	e = env_find(&c->cfg->env, ref->env, strlen(ref->env));
	if (!e) {
		problem(c, p->pos, "[port.%s] takes its %s port from '%s', which [env] does not define",
			p->name, what, ref->env);
		return 0;
	}
	if (e->kind != CONFIG_ENV_VALUE || strchr(e->value, '{'))
		return 0;
	errno = 0;
	v = strtol(e->value, &end, 10);
	if (errno || *end || end == e->value || v < 1 || v > 65535) {
		problem(c, e->pos, "'%s' in [env] is the %s port of [port.%s], but '%s' is not a port number",
			e->key, what, p->name, e->value);
		return 0;
	}
	return (int)v;
}

static void check_ports_across(struct checker *c)
{
	struct nua_config *cfg = c->cfg;
	size_t n = cfg->n_ports;
	_cleanup_free_ int *num = xcalloc(3 * n + 1, sizeof(int));
	static const char *const what[] = { "container", "host", "public" };

	for (size_t i = 0; i < n; i++) {
		struct config_port *p = &cfg->ports[i];

		num[3 * i] = port_number(c, p, &p->container, "container");
		num[3 * i + 1] = port_number(c, p, &p->host, "host");
		if (!p->proxy.number && !p->proxy.env && streq(p->name, "web"))
			p->proxy.number = p->ssl ? 443 : 80;
		/* A port other than web without proxy nor host is internal:
		 * other instances reach it by the instance's name (a database
		 * server's, say). */
		num[3 * i + 2] = port_number(c, p, &p->proxy, "public");
	}
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < i; k++) {
			const struct config_port *p = &cfg->ports[i], *q = &cfg->ports[k];

			if (p->protocol != q->protocol)
				continue;
			for (int w = 0; w < 3; w++)
				if (num[3 * i + w] && num[3 * i + w] == num[3 * k + w])
					problem(c, p->pos, "[port.%s] and [port.%s] both use %s port %d/%s",
						q->name, p->name, what[w], num[3 * i + w],
						p->protocol == CONFIG_UDP ? "udp" : "tcp");
		}
	}
}

/* ---- backups ---- */

static void read_backup(struct checker *c, const struct toml_keyval *kv, const char *where,
			struct config_backup *b, const char *const *fit, const char *fit_what)
{
	struct section s;

	if (!need_table(c, kv, where))
		return;
	b->set = true;
	walk_section(c, &s, &kv->val, where, backup_fields, b, NULL, NULL);
	if (!b->method)
		return;
	if (!in_list(b->method, backup_methods))
		check_choice(c, b->method, val_pos(&s, "method"), "backup method", backup_methods);
	else if (fit && !in_list(b->method, fit))
		problem(c, val_pos(&s, "method"), "backup method '%s' does not fit %s (use '%s')",
			b->method, fit_what, fit[0]);
}

/* ---- [[volume]] ---- */

static void read_volume_part(struct checker *c, const struct toml_keyval *kv,
			     const struct field *f, const char *where, void *arg);

/* The mode of a volume: octal digits as a string ("0750"), a TOML octal
 * integer (0o750), or an integer written with octal digits (750, read as
 * the same digits, which is what its author meant). */
static void read_mode(struct checker *c, const struct toml_keyval *kv, const char *where,
		      struct config_volume *v)
{
	const char *s = "";
	char buf[24];
	size_t at;

	if (kv->val.type == TOML_INTEGER) {
		at = src_offset(c, kv->val.pos);
		if (at + 2 <= c->src_len && c->src[at] == '0' && c->src[at + 1] == 'o') {
			if (kv->val.u.i >= 0 && kv->val.u.i <= 07777) {
				v->mode = (int)kv->val.u.i;
				return;
			}
		} else if (kv->val.u.i >= 0) {
			snprintf(buf, sizeof(buf), "%lld", (long long)kv->val.u.i);
			s = buf;
		}
	} else if (kv->val.type == TOML_STRING) {
		s = kv->val.u.s.ptr;
	}
	if (!*s || strlen(s) > 4 || strspn(s, "01234567") != strlen(s)) {
		problem(c, kv->val.pos, "'%s' in %s must be an octal mode such as \"0750\"", kv->key,
			where);
		return;
	}
	v->mode = (int)strtol(s, NULL, 8);
}

/* options = { ... } or [[volume.options]] tables, read as one. Options a
 * driver other than the local one takes are passed to it as given. */
static void read_volume_options(struct checker *c, const struct toml_value *val,
				struct config_volume *v, const char *where, bool other_driver)
{
	const struct toml_table *t = val->u.tab;

	for (size_t i = 0; i < t->n; i++) {
		const struct toml_keyval *kv = &t->items[i];
		const struct field *f = find_field(volume_option_fields, kv->key);

		if (!f && other_driver) {
			if (!v->driver_options)
				v->driver_options = json_object();
			if (json_object_getn(v->driver_options, kv->key, kv->key_len))
				problem(c, kv->key_pos, "'%s' in %s is given twice", kv->key, where);
			json_object_setn_new(v->driver_options, kv->key, kv->key_len,
					     toml_to_json(&kv->val));
		} else if (!f) {
			unknown_key(c, kv, where, volume_option_fields);
		} else if (streq(f->name, "mode")) {
			if (v->mode >= 0)
				problem(c, kv->key_pos, "'mode' in %s is given twice", where);
			read_mode(c, kv, where, v);
		} else {
			set_field(c, f, kv, where, v);
		}
	}
}

struct volume_ctx {
	struct config_volume *v;
	const char *prefix; /* "volume" or "resource.volume" */
	const struct toml_keyval *options, *backup;
};

static void read_volume_part(struct checker *c, const struct toml_keyval *kv,
			     const struct field *f, const char *where, void *arg)
{
	struct volume_ctx *ctx = arg;

	(void)c;
	(void)where;
	/* Read once the type and the driver are known. */
	if (streq(f->name, "options"))
		ctx->options = kv;
	else if (streq(f->name, "backup"))
		ctx->backup = kv;
}

/* The array of an array-of-tables section (NULL, with a problem, when it is
 * something else); each element that is not a table is a problem too, and
 * the callers skip it. */
static const struct toml_array *table_array(struct checker *c, const struct toml_keyval *kv,
					    const char *where)
{
	const struct toml_array *a;

	if (kv->val.type != TOML_ARRAY) {
		problem(c, kv->val.pos, "'%s' must be an array of tables (%s), not %s", kv->key, where,
			toml_type_desc(kv->val.type));
		return NULL;
	}
	a = kv->val.u.arr;
	for (size_t i = 0; i < a->n; i++)
		if (a->items[i].type != TOML_TABLE)
			problem(c, a->items[i].pos, "each %s must be a table, not %s", where,
				toml_type_desc(a->items[i].type));
	return a;
}

static void read_volumes(struct checker *c, const struct toml_keyval *kv,
			 struct config_volume_list *list, const char *prefix)
{
	static const char *const tgz[] = { "tgz_volumes", NULL };
	const struct toml_array *a;
	char where[64];

	snprintf(where, sizeof(where), "[[%s]]", prefix);
	if (!(a = table_array(c, kv, where)))
		return;
	for (size_t i = 0; i < a->n; i++) {
		const struct toml_value *e = &a->items[i];
		struct volume_ctx ctx = { NULL, prefix, NULL, NULL };
		const struct toml_keyval *type;
		struct config_volume *v;
		char sub[96];
		struct section s;
		bool other_driver;

		if (e->type != TOML_TABLE)
			continue; /* table_array said so */
		ALLOC_GROW(list->v, list->n + 1, list->alloc);
		v = &list->v[list->n++];
		memset(v, 0, sizeof(*v));
		v->mode = -1;
		v->pos = e->pos;
		ctx.v = v;
		walk_section(c, &s, e, where, volume_fields, v, read_volume_part, &ctx);

		type = got(&s, "type");
		if (type && string_of(c, type, where)) {
			const char *t = type->val.u.s.ptr;

			if (streq(t, "managed"))
				v->type = CONFIG_VOLUME_MANAGED;
			else if (streq(t, "directory"))
				v->type = CONFIG_VOLUME_DIRECTORY;
			else if (streq(t, "tmpfs"))
				v->type = CONFIG_VOLUME_TMPFS;
			else
				check_choice(c, t, type->val.pos, "volume type", volume_types);
		}
		/* The Python Nua named a directory volume by its host path. */
		if (v->type == CONFIG_VOLUME_DIRECTORY && !v->source && v->name && v->name[0] == '/') {
			v->source = v->name;
			v->name = NULL;
		}
		if (v->driver && (streq(v->driver, "local") || streq(v->driver, "docker"))) {
			free(v->driver);
			v->driver = NULL;
		}
		if (v->driver && v->type != CONFIG_VOLUME_MANAGED)
			problem(c, val_pos(&s, "driver"), "'driver' in %s is for managed volumes only",
				where);
		else if (v->driver && !valid_word(v->driver, "_.-", 32))
			problem(c, val_pos(&s, "driver"), "invalid volume driver '%s'", v->driver);
		other_driver = v->driver != NULL;

		if (ctx.options) {
			snprintf(sub, sizeof(sub), "[%s.options]", prefix);
			if (ctx.options->val.type == TOML_TABLE) {
				read_volume_options(c, &ctx.options->val, v, sub, other_driver);
			} else if (ctx.options->val.type == TOML_ARRAY) {
				const struct toml_array *oa = ctx.options->val.u.arr;

				for (size_t k = 0; k < oa->n; k++)
					if (oa->items[k].type == TOML_TABLE)
						read_volume_options(c, &oa->items[k], v, sub, other_driver);
					else
						problem(c, oa->items[k].pos, "%s must hold tables, not %s",
							sub, toml_type_desc(oa->items[k].type));
			} else {
				wrong_type(c, ctx.options, where, "a table");
			}
		}
		if (ctx.backup) {
			snprintf(sub, sizeof(sub), "[%s.backup]", prefix);
			if (v->type == CONFIG_VOLUME_TMPFS)
				problem(c, ctx.backup->key_pos, "a tmpfs volume has nothing to back up");
			else
				read_backup(c, ctx.backup, sub, &v->backup, tgz, "a volume");
		}

		if (v->target && !valid_abs_path(v->target))
			problem(c, val_pos(&s, "target"),
				"volume target '%s' must be a normalised absolute path", v->target);
		else if (v->target && (streq(v->target, "/") || path_under(v->target, "/proc") ||
				       path_under(v->target, "/sys") || path_under(v->target, "/dev")))
			problem(c, val_pos(&s, "target"), "volume target '%s' is reserved", v->target);
		if (v->name && !valid_word(v->name, "_-", 63))
			problem(c, val_pos(&s, "name"),
				"invalid volume name '%s' (lowercase letters, digits, '-' and '_')",
				v->name);
		if (!v->name && v->type == CONFIG_VOLUME_MANAGED && !got(&s, "name"))
			problem(c, e->pos, "%s of type \"managed\" needs a 'name' (it names the data kept)",
				where);
		if (v->type == CONFIG_VOLUME_DIRECTORY && !v->source)
			problem(c, e->pos, "%s of type \"directory\" needs a 'source' (a host path)",
				where);
		else if (v->type != CONFIG_VOLUME_DIRECTORY && v->source)
			problem(c, val_pos(&s, "source"),
				"'source' in %s is for volumes of type \"directory\" only", where);
		else if (v->source && !valid_abs_path(v->source))
			problem(c, got(&s, "source") ? val_pos(&s, "source") : val_pos(&s, "name"),
				"volume source '%s' must be a normalised absolute path", v->source);
		if (v->size && v->type != CONFIG_VOLUME_TMPFS && ctx.options)
			problem(c, ctx.options->val.pos, "'size' in [%s.options] is for tmpfs volumes only",
				prefix);
	}
}

static void check_volume_dups(struct checker *c, const struct config_volume_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		for (size_t k = 0; k < i; k++) {
			const struct config_volume *v = &l->v[i], *w = &l->v[k];

			if (v->name && w->name && streq(v->name, w->name))
				problem(c, v->pos, "duplicate volume name '%s' (also at line %d)", v->name,
					w->pos.line);
			if (v->target && w->target && streq(v->target, w->target))
				problem(c, v->pos, "two volumes are mounted at '%s' (also at line %d)",
					v->target, w->pos.line);
		}
	}
}

/* ---- [[resource]] ---- */

struct resource_ctx {
	struct config_resource *r;
	const char *spelling; /* "resource" or "provider" */
	const struct toml_keyval *backup;
};

static void read_resource_part(struct checker *c, const struct toml_keyval *kv,
			       const struct field *f, const char *where, void *arg)
{
	struct resource_ctx *ctx = arg;
	char prefix[64];

	(void)where;
	if (streq(f->name, "env")) {
		snprintf(prefix, sizeof(prefix), "%s.env", ctx->spelling);
		read_env(c, kv, &ctx->r->env, prefix);
	} else if (streq(f->name, "volume")) {
		snprintf(prefix, sizeof(prefix), "%s.volume", ctx->spelling);
		read_volumes(c, kv, &ctx->r->volumes, prefix);
	} else {
		ctx->backup = kv; /* read once the type is known */
	}
}

/* The backup methods that fit a resource type, the best first. */
static const char *const *backup_fit(const char *type)
{
	static const char *const pg[] = { "pg_dump", "pg_dumpall", NULL };
	static const char *const my[] = { "mysqldump", NULL };
	static const char *const mongo[] = { "mongodump", NULL };
	static const char *const redis[] = { "redis_dump", NULL };
	static const char *const files[] = { "tgz_volumes", NULL };

	if (streq(type, "postgres"))
		return pg;
	if (streq(type, "mariadb"))
		return my;
	if (streq(type, "mongodb"))
		return mongo;
	if (streq(type, "redis") || streq(type, "redis-cache"))
		return redis;
	return files;
}

static void read_resources(struct checker *c, const struct toml_keyval *kv)
{
	struct config_resource_list *list = &c->cfg->resources;
	const struct toml_array *a;
	char where[32];

	snprintf(where, sizeof(where), "[[%s]]", kv->key);
	if (!(a = table_array(c, kv, where)))
		return;
	for (size_t i = 0; i < a->n; i++) {
		const struct toml_value *e = &a->items[i];
		struct resource_ctx ctx = { NULL, kv->key, NULL };
		struct config_resource *r;
		struct section s;

		if (e->type != TOML_TABLE)
			continue; /* table_array said so */
		ALLOC_GROW(list->v, list->n + 1, list->alloc);
		r = &list->v[list->n++];
		memset(r, 0, sizeof(*r));
		r->network = true;
		r->pos = e->pos;
		ctx.r = r;
		walk_section(c, &s, e, where, resource_fields, r, read_resource_part, &ctx);

		if (r->name && !valid_resource_name(r->name))
			problem(c, val_pos(&s, "name"),
				"invalid resource name '%s' (a lowercase letter, then lowercase letters, "
				"digits and single '-'; it becomes a host name)",
				r->name);
		if (r->type) {
			/* The names the Python Nua's modules had. */
			if (streq(r->type, "mongo"))
				set_string(&r->type, "mongodb");
			else if (streq(r->type, "postgresql"))
				set_string(&r->type, "postgres");
			check_choice(c, r->type, val_pos(&s, "type"), "resource type", resource_types);
			if (streq(r->type, "docker-image") && !r->base_image)
				problem(c, e->pos, "%s of type \"docker-image\" needs a 'base-image'", where);
			else if (!streq(r->type, "docker-image") && r->base_image)
				problem(c, val_pos(&s, "base-image"),
					"'base-image' in %s is for resources of type \"docker-image\" only",
					where);
		}
		if (r->version) {
			_cleanup_free_ char *why = NULL;

			if (config_version_parse(r->version, &r->constraint, &why) < 0)
				problem(c, val_pos(&s, "version"),
					"invalid version constraint '%s' for resource '%s': %s",
					r->version, r->name ? r->name : "?", why);
		}
		if (got(&s, "connector") && got(&s, "connector")->val.type == TOML_STRING)
			split_packages(&r->connector);
		for (size_t k = 0; k < r->connector.n; k++)
			if (!valid_word(r->connector.v[k], "-", 64))
				problem(c, val_pos(&s, "connector"), "invalid connector '%s' in %s",
					r->connector.v[k], where);
		if (ctx.backup) {
			char sub[64], fit_what[96];

			snprintf(sub, sizeof(sub), "[%s.backup]", kv->key);
			snprintf(fit_what, sizeof(fit_what), "a resource of type '%s'",
				 r->type ? r->type : "?");
			read_backup(c, ctx.backup, sub, &r->backup,
				    r->type && in_list(r->type, resource_types) ? backup_fit(r->type)
										: NULL,
				    fit_what);
		}
		check_volume_dups(c, &r->volumes);
	}
}

/* ---- [healthcheck] ---- */

static void check_healthcheck(struct checker *c, const struct toml_keyval *kv, struct section *s)
{
	struct nua_config *cfg = c->cfg;
	const char *path;

	if (!need_table(c, kv, "[healthcheck]"))
		return;
	cfg->healthcheck.set = true;
	cfg->healthcheck.interval = cfg->healthcheck.timeout = -1;
	cfg->healthcheck.retries = cfg->healthcheck.start_period = -1;
	walk_section(c, s, &kv->val, "[healthcheck]", healthcheck_fields, cfg, NULL, NULL);
	path = cfg->healthcheck.path;
	if (got(s, "command") && got(s, "path"))
		problem(c, kv->val.pos, "[healthcheck] takes either 'command' or 'path', not both");
	else if (!got(s, "command") && !got(s, "path"))
		problem(c, kv->val.pos,
			"[healthcheck] needs a 'command' (run in the container) or a 'path' (an HTTP "
			"GET on the web port)");
	else if (got(s, "command") && !cfg->healthcheck.command.n)
		problem(c, val_pos(s, "command"), "'command' in [healthcheck] must not be empty");
	if (path && (path[0] != '/' || strpbrk(path, " \t\r\n")))
		problem(c, val_pos(s, "path"),
			"'path' in [healthcheck] must be a URL path starting with '/', not '%s'", path);
}

/* ---- the whole file ---- */

/* ---- [[process]], [[cron]], [[template]] ---- */

static void check_job_name(struct checker *c, const char *name, const struct section *s,
			   const char *where)
{
	if (name && !valid_word(name, "-", 32))
		problem(c, val_pos(s, "name"),
			"invalid name '%s' in %s: use lowercase letters, digits and '-', at most 32",
			name, where);
}

static void read_processes(struct checker *c, const struct toml_keyval *kv)
{
	struct nua_config *cfg = c->cfg;
	const struct toml_array *a = table_array(c, kv, "[[process]]");

	for (size_t i = 0; a && i < a->n; i++) {
		struct config_process *p;
		struct section s;

		if (a->items[i].type != TOML_TABLE)
			continue;
		ALLOC_GROW(cfg->processes, cfg->n_processes + 1, cfg->alloc_processes);
		p = &cfg->processes[cfg->n_processes++];
		memset(p, 0, sizeof(*p));
		p->pos = a->items[i].pos;
		walk_section(c, &s, &a->items[i], "[[process]]", process_fields, p, NULL, NULL);
		check_job_name(c, p->name, &s, "[[process]]");
		if (p->command && !*p->command)
			problem(c, val_pos(&s, "command"), "'command' in [[process]] is empty");
	}
}

static void read_crons(struct checker *c, const struct toml_keyval *kv)
{
	struct nua_config *cfg = c->cfg;
	const struct toml_array *a = table_array(c, kv, "[[cron]]");

	for (size_t i = 0; a && i < a->n; i++) {
		struct config_cron *j;
		struct cron_schedule sched;
		struct section s;
		char msg[256];

		if (a->items[i].type != TOML_TABLE)
			continue;
		ALLOC_GROW(cfg->crons, cfg->n_crons + 1, cfg->alloc_crons);
		j = &cfg->crons[cfg->n_crons++];
		memset(j, 0, sizeof(*j));
		j->pos = a->items[i].pos;
		walk_section(c, &s, &a->items[i], "[[cron]]", cron_fields, j, NULL, NULL);
		check_job_name(c, j->name, &s, "[[cron]]");
		if (j->schedule && cron_parse(j->schedule, &sched, msg, sizeof(msg)) < 0)
			problem(c, val_pos(&s, "schedule"), "'schedule' in [[cron]]: %s", msg);
		if (j->command && !*j->command)
			problem(c, val_pos(&s, "command"), "'command' in [[cron]] is empty");
	}
}

struct template_ctx {
	struct config_template *t;
};

static void read_template_mode(struct checker *c, const struct toml_keyval *kv,
			       const struct field *f, const char *where, void *arg)
{
	struct config_template *t = ((struct template_ctx *)arg)->t;
	struct config_volume v = { .mode = -1 };

	(void)f;
	read_mode(c, kv, where, &v);
	if (v.mode >= 0)
		t->mode = v.mode;
}

static void read_templates(struct checker *c, const struct toml_keyval *kv)
{
	struct nua_config *cfg = c->cfg;
	const struct toml_array *a = table_array(c, kv, "[[template]]");

	for (size_t i = 0; a && i < a->n; i++) {
		struct config_template *t;
		struct template_ctx ctx;
		struct section s;

		if (a->items[i].type != TOML_TABLE)
			continue;
		ALLOC_GROW(cfg->templates, cfg->n_templates + 1, cfg->alloc_templates);
		t = &cfg->templates[cfg->n_templates++];
		memset(t, 0, sizeof(*t));
		t->pos = a->items[i].pos;
		t->mode = 0644;
		ctx.t = t;
		walk_section(c, &s, &a->items[i], "[[template]]", template_fields, t,
			     read_template_mode, &ctx);
		t->source_pos = val_pos(&s, "source");
		if (t->source && !valid_rel_path(t->source))
			problem(c, t->source_pos,
				"'source' in [[template]] must be a path inside the package, not '%s'",
				t->source);
		if (t->target && (!valid_abs_path(t->target) || streq(t->target, "/") ||
				  path_under(t->target, "/nua") || path_under(t->target, "/proc") ||
				  path_under(t->target, "/sys") || path_under(t->target, "/dev")))
			problem(c, val_pos(&s, "target"),
				"'target' in [[template]] must be a normalised absolute path of a file "
				"outside /nua, /proc, /sys and /dev, not '%s'",
				t->target);
	}
}

/* Names shared by processes and cron jobs (one log prefix each), and
 * [run] start with [[process]] (which one would be the app?), two
 * templates for one file. */
static void check_jobs_across(struct checker *c, struct toml_pos start_pos)
{
	struct nua_config *cfg = c->cfg;
	size_t n = cfg->n_processes + cfg->n_crons;

	for (size_t i = 0; i < n; i++) {
		const char *a = i < cfg->n_processes ? cfg->processes[i].name
						     : cfg->crons[i - cfg->n_processes].name;
		struct toml_pos pa = i < cfg->n_processes ? cfg->processes[i].pos
							  : cfg->crons[i - cfg->n_processes].pos;

		for (size_t k = 0; a && k < i; k++) {
			const char *b = k < cfg->n_processes ? cfg->processes[k].name
							     : cfg->crons[k - cfg->n_processes].name;
			struct toml_pos pb = k < cfg->n_processes
						     ? cfg->processes[k].pos
						     : cfg->crons[k - cfg->n_processes].pos;

			if (b && streq(a, b))
				problem(c, pa,
					"the name '%s' is given to two processes or cron jobs (also at "
					"line %d): each names its lines in the log",
					a, pb.line);
		}
	}
	if (cfg->n_processes && cfg->run.start.n)
		problem(c, start_pos,
			"give either 'start' in [run] or [[process]] sections, not both (a [[process]] "
			"runs each long-running command)");
	for (size_t i = 0; i < cfg->n_templates; i++)
		for (size_t k = 0; k < i; k++)
			if (cfg->templates[i].target && cfg->templates[k].target &&
			    streq(cfg->templates[i].target, cfg->templates[k].target))
				problem(c, cfg->templates[i].pos,
					"two templates write '%s' (also at line %d)",
					cfg->templates[i].target, cfg->templates[k].pos.line);
}

struct sections_seen {
	struct section metadata, build, run, healthcheck, admin;
	bool has_metadata, has_build, has_run, has_healthcheck, has_admin;
};

/* A key outside any section: say which section it belongs to. */
static void stray_key(struct checker *c, const struct toml_keyval *kv)
{
	static const struct {
		const char *name;
		const struct field *fields;
	} homes[] = { { "metadata", metadata_fields }, { "build", build_fields },
		      { "run", run_fields },           { "healthcheck", healthcheck_fields } };
	const char *names[ARRAY_SIZE(sections)];
	const char *near;
	size_t n = 0;

	if (kv->val.type != TOML_TABLE && kv->val.type != TOML_ARRAY) {
		for (size_t i = 0; i < ARRAY_SIZE(homes); i++) {
			if (find_field(homes[i].fields, kv->key)) {
				problem(c, kv->key_pos,
					"'%s' is outside any section; put it under [%s]", kv->key,
					homes[i].name);
				return;
			}
		}
	}
	for (const struct field *s = sections; s->name; s++)
		names[n++] = s->name;
	names[n] = NULL;
	near = nearest_word(kv->key, names);
	if (near)
		problem(c, kv->key_pos, "unknown section '%s'; did you mean '%s'?", kv->key, near);
	else
		problem(c, kv->key_pos, "unknown section '%s'", kv->key);
}

static void check_root(struct checker *c, const struct toml_table *root, struct sections_seen *ss)
{
	const struct toml_keyval *seen[ARRAY_SIZE(sections)] = { NULL };
	struct nua_config *cfg = c->cfg;

	for (size_t i = 0; i < root->n; i++) {
		const struct toml_keyval *kv = &root->items[i];
		const struct field *f = find_field(sections, kv->key);
		size_t k;

		if (!f) {
			stray_key(c, kv);
			continue;
		}
		k = (size_t)(f - sections);
		/* [[resource]] and [[provider]] add to one list. */
		if (seen[k] && !streq(f->name, "resource")) {
			problem(c, kv->key_pos, "section '%s' is given twice (as '%s' and as '%s')",
				f->name, seen[k]->key, kv->key);
			continue;
		}
		seen[k] = kv;
		if (streq(f->name, "metadata")) {
			if (need_table(c, kv, "[metadata]")) {
				check_metadata(c, kv, &ss->metadata);
				ss->has_metadata = true;
			}
		} else if (streq(f->name, "build")) {
			if (need_table(c, kv, "[build]")) {
				check_build(c, kv, &ss->build);
				ss->has_build = true;
			}
		} else if (streq(f->name, "run")) {
			if (need_table(c, kv, "[run]")) {
				check_run(c, kv, &ss->run);
				ss->has_run = true;
			}
		} else if (streq(f->name, "env")) {
			read_env(c, kv, &cfg->env, "env");
		} else if (streq(f->name, "port")) {
			check_ports(c, kv);
		} else if (streq(f->name, "volume")) {
			read_volumes(c, kv, &cfg->volumes, "volume");
		} else if (streq(f->name, "resource")) {
			read_resources(c, kv);
		} else if (streq(f->name, "healthcheck")) {
			check_healthcheck(c, kv, &ss->healthcheck);
			ss->has_healthcheck = cfg->healthcheck.set;
		} else if (streq(f->name, "backup")) {
			static const char *const tgz[] = { "tgz_volumes", NULL };

			read_backup(c, kv, "[backup]", &cfg->backup, tgz, "the app's own backup");
		} else if (streq(f->name, "docker")) {
			if (need_table(c, kv, "[docker]"))
				cfg->docker = toml_to_json(&kv->val);
		} else if (streq(f->name, "process")) {
			read_processes(c, kv);
		} else if (streq(f->name, "cron")) {
			read_crons(c, kv);
		} else if (streq(f->name, "template")) {
			read_templates(c, kv);
		} else if (streq(f->name, "admin")) {
			if (need_table(c, kv, "[admin]")) {
				walk_section(c, &ss->admin, &kv->val, "[admin]", admin_fields, cfg,
					     NULL, NULL);
				ss->has_admin = true;
			}
		}
	}
	if (!seen[0])
		problem(c, (struct toml_pos){ 1, 1 },
			"missing [metadata] section (it needs at least 'id' and 'version')");
}

/* Where key of section was written: its value in [build] or [metadata]
 * (the keys the two share), else the section. */
static struct toml_pos build_pos(const struct sections_seen *ss, const char *key)
{
	const struct toml_keyval *kv = NULL;

	if (ss->has_build)
		kv = got(&ss->build, key);
	if (!kv && ss->has_metadata && find_field(metadata_fields, key))
		kv = got(&ss->metadata, key);
	if (kv)
		return kv->val.pos;
	return ss->has_build ? ss->build.table->pos : (struct toml_pos){ 1, 1 };
}

static void interpolate_commands(struct checker *c, struct config_strv *l)
{
	for (size_t i = 0; i < l->n; i++)
		interpolate(c, &l->v[i], (struct toml_pos){ 0, 0 }, "a command", false);
}

static void check_across(struct checker *c, struct sections_seen *ss)
{
	struct nua_config *cfg = c->cfg;
	struct toml_pos p;

	if (ss->has_metadata) {
		const struct section *m = &ss->metadata;

		interpolate(c, &cfg->metadata.title, val_pos(m, "title"), "'title'", true);
		interpolate(c, &cfg->metadata.author, val_pos(m, "author"), "'author'", true);
		interpolate(c, &cfg->metadata.tagline, val_pos(m, "tagline"), "'tagline'", true);
		interpolate(c, &cfg->metadata.description, val_pos(m, "description"),
			    "'description'", true);
		interpolate(c, &cfg->metadata.website, val_pos(m, "website"), "'website'", true);
	}
	interpolate(c, &cfg->build.src_url, build_pos(ss, "src-url"), "'src-url'", true);
	interpolate(c, &cfg->build.git_url, build_pos(ss, "git-url"), "'git-url'", true);
	interpolate(c, &cfg->build.git_branch, build_pos(ss, "git-branch"), "'git-branch'", true);
	interpolate(c, &cfg->build.base_image, build_pos(ss, "base-image"), "'base-image'", true);
	interpolate(c, &cfg->build.builder, build_pos(ss, "builder"), "'builder'", true);
	interpolate_commands(c, &cfg->build.before_build);
	interpolate_commands(c, &cfg->build.build);
	interpolate_commands(c, &cfg->build.test);

	if (cfg->metadata.website && *cfg->metadata.website && !looks_like_url(cfg->metadata.website))
		problem(c, val_pos(&ss->metadata, "website"),
			"'website' in [metadata] must be a URL such as \"https://example.com/\"");
	if (cfg->build.src_checksum && !*cfg->build.src_checksum) {
		/* An empty checksum is no checksum, as the Python Nua read it. */
		free(cfg->build.src_checksum);
		cfg->build.src_checksum = NULL;
	} else if (cfg->build.src_checksum) {
		char *norm = normal_checksum(cfg->build.src_checksum);

		p = build_pos(ss, "src-checksum");
		if (!norm)
			problem(c, p, "invalid checksum '%s': expected \"sha256:\" and 64 hex digits",
				cfg->build.src_checksum);
		else if (!cfg->build.src_url)
			problem(c, p, "'src-checksum' is given without a 'src-url' to check");
		if (norm) {
			free(cfg->build.src_checksum);
			cfg->build.src_checksum = norm;
		}
	}
	if (cfg->build.src_url && !looks_like_url(cfg->build.src_url))
		problem(c, build_pos(ss, "src-url"),
			"'src-url' must be a URL such as \"https://example.com/app-{version}.tar.gz\"");
	if (cfg->build.src_url && cfg->build.git_url)
		problem(c, build_pos(ss, "git-url"), "give either 'src-url' or 'git-url', not both");
	if (cfg->build.git_url && strpbrk(cfg->build.git_url, " \t\n"))
		problem(c, build_pos(ss, "git-url"), "'git-url' must be a URL, not '%s'",
			cfg->build.git_url);
	if (cfg->build.git_branch && !cfg->build.git_url)
		problem(c, build_pos(ss, "git-branch"), "'git-branch' needs a 'git-url'");
	if (cfg->build.method && streq(cfg->build.method, "wrap") && !cfg->build.base_image)
		problem(c, build_pos(ss, "method"), "build method \"wrap\" needs a 'base-image' to wrap");

	check_env_refs(c, &cfg->env, "[env]", &cfg->resources, &cfg->volumes);
	for (size_t i = 0; i < cfg->resources.n; i++) {
		struct config_resource *r = &cfg->resources.v[i];

		check_env_refs(c, &r->env, "[resource.env]", NULL, &r->volumes);
	}
	check_ports_across(c);
	check_jobs_across(c, ss->has_run ? val_pos(&ss->run, "start") : (struct toml_pos){ 1, 1 });
	if (ss->has_admin) {
		const char *keys[] = { cfg->admin.user_key, cfg->admin.password_key };
		const char *names[] = { "user-key", "password-key" };

		for (size_t i = 0; i < 2; i++)
			if (keys[i] && !env_find(&cfg->env, keys[i], strlen(keys[i])))
				problem(c, val_pos(&ss->admin, names[i]),
					"'%s' in [admin] names '%s', which is not a key of [env]",
					names[i], keys[i]);
	}
	if (cfg->metadata.icon && ss->has_metadata &&
	    (!valid_rel_path(cfg->metadata.icon) ||
	     !(ends_with(cfg->metadata.icon, ".png") || ends_with(cfg->metadata.icon, ".svg"))))
		problem(c, val_pos(&ss->metadata, "icon"),
			"'icon' in [metadata] must be a .png or .svg file inside the package, not '%s'",
			cfg->metadata.icon);
	if (ss->has_metadata)
		cfg->metadata.icon_pos = val_pos(&ss->metadata, "icon");
	check_volume_dups(c, &cfg->volumes);
	for (size_t i = 0; i < cfg->resources.n; i++)
		for (size_t k = 0; k < i; k++)
			if (cfg->resources.v[i].name && cfg->resources.v[k].name &&
			    streq(cfg->resources.v[i].name, cfg->resources.v[k].name))
				problem(c, cfg->resources.v[i].pos,
					"duplicate resource name '%s' (also at line %d)",
					cfg->resources.v[i].name, cfg->resources.v[k].pos.line);

	if (cfg->healthcheck.set && cfg->healthcheck.path && !config_port_find(cfg, "web"))
		problem(c, val_pos(&ss->healthcheck, "path"),
			"'path' in [healthcheck] is checked on the web port, but there is no [port.web]");

	/* Defaults. */
	if (!cfg->metadata.release)
		cfg->metadata.release = 1;
	if (cfg->healthcheck.set) {
		if (cfg->healthcheck.interval < 0)
			cfg->healthcheck.interval = 5;
		if (cfg->healthcheck.timeout < 0)
			cfg->healthcheck.timeout = 30;
		if (cfg->healthcheck.retries < 0)
			cfg->healthcheck.retries = 3;
		if (cfg->healthcheck.start_period < 0)
			cfg->healthcheck.start_period = 120;
	}
	if (!cfg->build.method)
		cfg->build.method = xstrdup(cfg->build.base_image ? "wrap" : "build");
	if (!cfg->build.project)
		cfg->build.project = xstrdup(".");
}

int config_parse_buffer(const char *name, const char *buf, size_t len, struct nua_config **out,
			struct diag_list *diags)
{
	struct toml_parse_error perr;
	struct toml_table *root;
	struct checker c = { name, buf, len, diags, NULL };
	size_t before = diags->n;
	struct sections_seen *ss;

	*out = NULL;
	if (toml_parse(buf, len, &root, &perr) < 0) {
		diag_add(diags, name, perr.line, perr.col, "%s", perr.msg);
		return -1;
	}
	c.cfg = xcalloc(1, sizeof(*c.cfg));
	c.cfg->file = xstrdup(name);
	ss = xcalloc(1, sizeof(*ss));
	check_root(&c, root, ss);
	check_across(&c, ss);
	free(ss);
	toml_table_free(root);
	if (diags->n > before) {
		diag_list_sort(diags);
		config_free(c.cfg);
		return -1;
	}
	*out = c.cfg;
	return 0;
}

/* The package directory of the manifest file: its directory, or DIR for
 * DIR/nua/nua-config.toml. */
static char *package_dir(const char *file)
{
	const char *slash = strrchr(file, '/');
	char *dir, *last;

	if (!slash)
		return xstrdup(".");
	dir = xstrndup(file, slash == file ? 1 : (size_t)(slash - file));
	last = strrchr(dir, '/');
	if (streq(last ? last + 1 : dir, "nua")) {
		if (!last)
			set_string(&dir, ".");
		else if (last == dir)
			dir[1] = '\0';
		else
			*last = '\0';
	}
	return dir;
}

/* The package's files that the config names (templates, icon) are there:
 * -1 with diags otherwise, and *cfg freed. */
static int check_files(struct nua_config *cfg, struct diag_list *diags)
{
	size_t before = diags->n;

	for (size_t i = 0; i < cfg->n_templates; i++) {
		const struct config_template *t = &cfg->templates[i];
		_cleanup_free_ char *path = xasprintf("%s/%s", cfg->dir, t->source);

		if (access(path, R_OK) < 0)
			diag_add(diags, cfg->file, t->source_pos.line, t->source_pos.col,
				 "template '%s' is not in the package (%s)", t->source, strerror(errno));
	}
	if (cfg->metadata.icon) {
		_cleanup_free_ char *path = xasprintf("%s/%s", cfg->dir, cfg->metadata.icon);

		if (access(path, R_OK) < 0)
			diag_add(diags, cfg->file, cfg->metadata.icon_pos.line,
				 cfg->metadata.icon_pos.col, "icon '%s' is not in the package (%s)",
				 cfg->metadata.icon, strerror(errno));
	}
	if (diags->n == before)
		return 0;
	config_free(cfg);
	return -1;
}

int config_load(const char *path, struct nua_config **out, struct diag_list *diags,
		struct nua_error **err)
{
	_cleanup_free_ char *file = NULL;
	_cleanup_free_ char *data = NULL;
	size_t len;
	int r;

	*out = NULL;
	if (is_dir(path)) {
		const char *sep = ends_with(path, "/") ? "" : "/";

		file = xasprintf("%s%snua-config.toml", path, sep);
		if (access(file, F_OK) < 0) {
			/* The Python Nua also looked in DIR/nua/. */
			char *alt = xasprintf("%s%snua/nua-config.toml", path, sep);

			if (access(alt, F_OK) == 0) {
				free(file);
				file = alt;
			} else {
				free(alt);
			}
		}
	} else {
		file = xstrdup(path);
	}
	r = read_file(file, &data, &len);
	if (r < 0)
		return nua_error_set(err, NUA_EINPUT, "cannot read '%s': %s", file, strerror(-r));
	if (config_parse_buffer(file, data, len, out, diags) < 0)
		return -1;
	(*out)->dir = package_dir(file);
	return check_files(*out, diags);
}

static void backup_release(struct config_backup *b)
{
	free(b->method);
	free(b->destination);
	json_decref(b->options);
}

static void env_release(struct config_env_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].key);
		free(l->v[i].value);
		free(l->v[i].from);
		free(l->v[i].from_key);
	}
	free(l->v);
}

static void volumes_release(struct config_volume_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		struct config_volume *v = &l->v[i];

		free(v->name);
		free(v->target);
		free(v->source);
		free(v->driver);
		json_decref(v->driver_options);
		backup_release(&v->backup);
	}
	free(l->v);
}

void config_free(struct nua_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->file);
	free(cfg->dir);
	free(cfg->metadata.id);
	free(cfg->metadata.version);
	free(cfg->metadata.title);
	free(cfg->metadata.author);
	free(cfg->metadata.tagline);
	free(cfg->metadata.description);
	free(cfg->metadata.website);
	free(cfg->metadata.license);
	free(cfg->metadata.icon);
	strv_release(&cfg->metadata.tags);
	strv_release(&cfg->metadata.profile);
	strv_release(&cfg->build.packages);
	strv_release(&cfg->build.meta_packages);
	strv_release(&cfg->build.pip_install);
	strv_release(&cfg->build.before_build);
	strv_release(&cfg->build.build);
	strv_release(&cfg->build.test);
	free(cfg->build.project);
	free(cfg->build.src_url);
	free(cfg->build.src_checksum);
	free(cfg->build.git_url);
	free(cfg->build.git_branch);
	free(cfg->build.base_image);
	free(cfg->build.method);
	free(cfg->build.builder);
	free(cfg->build.builder_version);
	free(cfg->build.document_root);
	strv_release(&cfg->run.packages);
	strv_release(&cfg->run.start);
	strv_release(&cfg->run.migrate);
	strv_release(&cfg->run.first_start);
	free(cfg->admin.user_key);
	free(cfg->admin.password_key);
	free(cfg->run.user);
	free(cfg->run.workdir);
	env_release(&cfg->env);
	for (size_t i = 0; i < cfg->n_ports; i++) {
		free(cfg->ports[i].name);
		free(cfg->ports[i].container.env);
		free(cfg->ports[i].host.env);
		free(cfg->ports[i].proxy.env);
	}
	free(cfg->ports);
	volumes_release(&cfg->volumes);
	for (size_t i = 0; i < cfg->n_processes; i++) {
		free(cfg->processes[i].name);
		free(cfg->processes[i].command);
	}
	free(cfg->processes);
	for (size_t i = 0; i < cfg->n_crons; i++) {
		free(cfg->crons[i].name);
		free(cfg->crons[i].schedule);
		free(cfg->crons[i].command);
	}
	free(cfg->crons);
	for (size_t i = 0; i < cfg->n_templates; i++) {
		free(cfg->templates[i].source);
		free(cfg->templates[i].target);
	}
	free(cfg->templates);
	for (size_t i = 0; i < cfg->resources.n; i++) {
		struct config_resource *r = &cfg->resources.v[i];

		free(r->name);
		free(r->type);
		free(r->version);
		free(r->base_image);
		strv_release(&r->connector);
		env_release(&r->env);
		volumes_release(&r->volumes);
		json_decref(r->docker);
		backup_release(&r->backup);
	}
	free(cfg->resources.v);
	strv_release(&cfg->healthcheck.command);
	free(cfg->healthcheck.path);
	backup_release(&cfg->backup);
	json_decref(cfg->docker);
	free(cfg);
}

char *config_image_ref(const struct nua_config *cfg)
{
	return xasprintf("%s:%s-%lld", cfg->metadata.id, cfg->metadata.version,
			 (long long)cfg->metadata.release);
}

const struct config_port *config_port_find(const struct nua_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_ports; i++)
		if (streq(cfg->ports[i].name, name))
			return &cfg->ports[i];
	return NULL;
}
