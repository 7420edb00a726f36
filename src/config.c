/* nua-config.toml: from the TOML tree to struct nua_config, checking every
 * key. Each section is described by a table of fields (canonical name,
 * aliases, kind, where it goes); the checks that involve several keys come
 * after. */
#define _GNU_SOURCE
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>

#include "strbuf.h"
#include "util.h"
#include "banned.h"

void strlist_push(struct strlist *l, const char *s)
{
	ALLOC_GROW(l->items, l->n + 1, l->alloc);
	l->items[l->n++] = xstrdup(s);
}

void strlist_release(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = l->alloc = 0;
}

struct checker {
	const char *file;
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

/* ---- field tables ---- */

enum field_kind {
	F_STRING,     /* char * */
	F_STRINGS,    /* struct strlist: a string or an array of strings */
	F_ARRAY,      /* struct strlist: an array of strings only */
	F_POSINT,     /* int64_t > 0 */
	F_SIZE,       /* uint64_t from "256M" */
	F_POSNUMBER,  /* double > 0 */
	F_BOOL,       /* bool */
	F_DURATION,   /* int64_t seconds from an integer or "24h" */
	F_TABLE_JSON, /* json_t * from a table */
	F_CUSTOM,     /* handled by the section's own code */
};

struct field {
	const char *name; /* canonical, with dashes */
	const char *alias[3];
	enum field_kind kind;
	size_t offset;
	bool required;
};

#define NO_ALIAS { NULL, NULL, NULL }

/* A key's canonical spelling: '_' and '-' are the same. */
static void canonical_key(const char *key, char *out, size_t n)
{
	size_t i;

	for (i = 0; key[i] && i + 1 < n; i++)
		out[i] = key[i] == '_' ? '-' : key[i];
	out[i] = '\0';
}

/* Where the value of key (any spelling of it) is in table t, or a zero
 * position. */
static struct toml_pos value_pos(const struct toml_table *t, const char *key)
{
	char k[128];

	for (size_t i = 0; t && i < t->n; i++) {
		canonical_key(t->items[i].key, k, sizeof(k));
		if (streq(k, key))
			return t->items[i].val.pos;
	}
	return (struct toml_pos){ 0, 0 };
}

static const struct toml_table *section_of(const struct toml_table *root, const char *name)
{
	const struct toml_value *s = toml_table_get(root, name);

	return s && s->type == TOML_TABLE ? s->u.tab : NULL;
}

static const struct field *find_field(const struct field *fields, const char *key)
{
	char k[128];

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

static void unknown_key(struct checker *c, const struct toml_keyval *kv, const char *where,
			const struct field *fields)
{
	const char *names[96];
	size_t n = 0;
	char k[128];
	const char *near;

	for (const struct field *f = fields; f->name; f++) {
		if (n + 4 >= ARRAY_SIZE(names))
			BUG("field table too large");
		names[n++] = f->name;
		for (int i = 0; i < 3 && f->alias[i]; i++)
			names[n++] = f->alias[i];
	}
	names[n] = NULL;
	canonical_key(kv->key, k, sizeof(k));
	near = nearest_word(k, names);
	if (near)
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

static bool is_string(const struct toml_value *v) { return v->type == TOML_STRING; }

/* A string value without NUL (which no setting can use). */
static const char *string_of(struct checker *c, const struct toml_keyval *kv, const char *where)
{
	if (!is_string(&kv->val)) {
		wrong_type(c, kv, where, "a string");
		return NULL;
	}
	if (strlen(kv->val.u.s.ptr) != kv->val.u.s.len) {
		problem(c, kv->val.pos, "'%s' in %s must not contain a NUL character", kv->key, where);
		return NULL;
	}
	return kv->val.u.s.ptr;
}

static void get_strings(struct checker *c, const struct toml_keyval *kv, const char *where,
			struct strlist *out, bool allow_single)
{
	const struct toml_value *v = &kv->val;

	if (allow_single && v->type == TOML_STRING) {
		const char *s = string_of(c, kv, where);

		if (s)
			strlist_push(out, s);
		return;
	}
	if (v->type != TOML_ARRAY) {
		wrong_type(c, kv, where, allow_single ? "a string or an array of strings" :
							"an array of strings");
		return;
	}
	for (size_t i = 0; i < v->u.arr->n; i++) {
		const struct toml_value *e = &v->u.arr->items[i];

		if (e->type != TOML_STRING) {
			problem(c, e->pos, "'%s' in %s must hold strings only, not %s", kv->key, where,
				toml_type_desc(e->type));
			continue;
		}
		strlist_push(out, e->u.s.ptr);
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

/* Fill base+offset from kv according to f. Returns false when the value was
 * refused (a problem was recorded). */
static bool set_field(struct checker *c, const struct field *f, const struct toml_keyval *kv,
		      const char *where, void *base)
{
	void *dst = (char *)base + f->offset;
	const struct toml_value *v = &kv->val;
	const char *s;

	switch (f->kind) {
	case F_STRING:
		s = string_of(c, kv, where);
		if (!s)
			return false;
		free(*(char **)dst);
		*(char **)dst = xstrdup(s);
		return true;
	case F_STRINGS:
	case F_ARRAY: {
		size_t before = c->diags->n;

		strlist_release(dst);
		get_strings(c, kv, where, dst, f->kind == F_STRINGS);
		return c->diags->n == before;
	}
	case F_POSINT:
		if (v->type != TOML_INTEGER || v->u.i <= 0) {
			if (v->type == TOML_INTEGER)
				problem(c, v->pos, "'%s' in %s must be a positive integer, not %lld",
					kv->key, where, (long long)v->u.i);
			else
				wrong_type(c, kv, where, "a positive integer");
			return false;
		}
		*(int64_t *)dst = v->u.i;
		return true;
	case F_SIZE:
		if (v->type == TOML_INTEGER && v->u.i > 0) {
			*(uint64_t *)dst = (uint64_t)v->u.i;
			return true;
		}
		if (v->type != TOML_STRING || parse_size(v->u.s.ptr, dst) < 0) {
			problem(c, v->pos, "'%s' in %s must be a size such as \"256M\" or \"1G\"",
				kv->key, where);
			return false;
		}
		return true;
	case F_POSNUMBER: {
		double d = v->type == TOML_INTEGER ? (double)v->u.i : v->type == TOML_FLOAT ? v->u.f : -1;

		if ((v->type != TOML_INTEGER && v->type != TOML_FLOAT) || !(d > 0) || !isfinite(d)) {
			if (v->type == TOML_INTEGER || v->type == TOML_FLOAT)
				problem(c, v->pos, "'%s' in %s must be a positive number", kv->key, where);
			else
				wrong_type(c, kv, where, "a positive number");
			return false;
		}
		*(double *)dst = d;
		return true;
	}
	case F_BOOL:
		if (v->type != TOML_BOOL) {
			wrong_type(c, kv, where, "true or false");
			return false;
		}
		*(bool *)dst = v->u.b;
		return true;
	case F_DURATION:
		if (v->type == TOML_INTEGER && v->u.i > 0) {
			*(int64_t *)dst = v->u.i;
			return true;
		}
		if (v->type != TOML_STRING || parse_duration(v->u.s.ptr, dst) < 0) {
			problem(c, v->pos,
				"'%s' in %s must be a duration such as \"24h\", \"30m\" or \"7d\"",
				kv->key, where);
			return false;
		}
		return true;
	case F_TABLE_JSON:
		if (v->type != TOML_TABLE) {
			wrong_type(c, kv, where, "a table");
			return false;
		}
		json_decref(*(json_t **)dst);
		*(json_t **)dst = toml_to_json(v);
		return true;
	case F_CUSTOM:
		return true;
	}
	BUG("unknown field kind %d", (int)f->kind);
}

/* Walk a section's table: unknown keys are problems, known ones are stored
 * (except F_CUSTOM, for which custom(kv, f) is called), required ones must
 * be there. */
static void check_section(struct checker *c, const struct toml_value *section, const char *where,
			  const struct field *fields, void *base,
			  void (*custom)(struct checker *, const struct toml_keyval *,
					 const struct field *, void *),
			  void *arg)
{
	const struct toml_table *t = section->u.tab;
	bool seen[64] = { false };

	for (size_t i = 0; i < t->n; i++) {
		const struct toml_keyval *kv = &t->items[i];
		const struct field *f = find_field(fields, kv->key);

		if (!f) {
			unknown_key(c, kv, where, fields);
			continue;
		}
		if (seen[f - fields]) {
			problem(c, kv->key_pos, "'%s' in %s is given twice (as '%s' and another spelling)",
				f->name, where, kv->key);
			continue;
		}
		seen[f - fields] = true;
		if (f->kind == F_CUSTOM)
			custom(c, kv, f, arg);
		else
			set_field(c, f, kv, where, base);
	}
	for (const struct field *f = fields; f->name; f++)
		if (f->required && !seen[f - fields])
			problem(c, section->pos, "%s is missing the required key '%s'", where, f->name);
}

/* ---- values ---- */

int parse_size(const char *s, uint64_t *bytes)
{
	char *end;
	double v;
	uint64_t mult = 1;

	while (isspace((unsigned char)*s))
		s++;
	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s)
		return -1;
	while (*end == ' ')
		end++;
	switch (tolower((unsigned char)*end)) {
	case '\0': break;
	case 'b': mult = 1; break;
	case 'k': mult = 1ULL << 10; break;
	case 'm': mult = 1ULL << 20; break;
	case 'g': mult = 1ULL << 30; break;
	case 't': mult = 1ULL << 40; break;
	default: return -1;
	}
	if (*end) {
		end++;
		/* "M", "MB", "Mi", "MiB" are all binary multiples here, as in
		 * docker's --memory. */
		if (mult > 1 && (*end == 'i' || *end == 'I'))
			end++;
		if (mult > 1 && (*end == 'b' || *end == 'B'))
			end++;
	}
	if (*end || v <= 0 || v * (double)mult > 1.8e19)
		return -1;
	*bytes = (uint64_t)(v * (double)mult);
	return *bytes ? 0 : -1;
}

int parse_duration(const char *s, int64_t *seconds)
{
	char *end;
	long long v;
	int64_t mult;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || v <= 0)
		return -1;
	switch (*end) {
	case '\0':
	case 's': mult = 1; break;
	case 'm': mult = 60; break;
	case 'h': mult = 3600; break;
	case 'd': mult = 86400; break;
	case 'w': mult = 7 * 86400; break;
	default: return -1;
	}
	if (*end && end[1])
		return -1;
	if (v > INT64_MAX / mult)
		return -1;
	*seconds = v * mult;
	return 0;
}

bool valid_version_constraint(const char *s)
{
	static const char *const ops[] = { ">=", "<=", "==", "!=", "~=", ">", "<", "^", "~", "=" };

	for (;;) {
		size_t digits = 0;

		while (*s == ' ')
			s++;
		for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
			if (starts_with(s, ops[i])) {
				s += strlen(ops[i]);
				break;
			}
		}
		while (*s == ' ')
			s++;
		/* A dotted version: 14, 10.11, 7.0.*, 1.2.3 */
		for (;;) {
			size_t n = 0;

			if (*s == '*' && digits) {
				s++;
				n = 1;
			}
			while (isdigit((unsigned char)s[n]))
				n++;
			if (!n)
				return false;
			s += n;
			digits++;
			if (*s != '.')
				break;
			s++;
		}
		while (*s == ' ')
			s++;
		if (*s == '\0')
			return true;
		if (*s != ',')
			return false;
		s++;
	}
}

static bool valid_version_text(const char *s)
{
	size_t n = 0;

	if (!isalnum((unsigned char)s[0]))
		return false;
	for (; s[n]; n++)
		if (!isalnum((unsigned char)s[n]) && !strchr("._+-", s[n]))
			return false;
	return n <= 100;
}

static bool valid_abs_path(const char *p)
{
	if (p[0] != '/')
		return false;
	for (const char *s = p; *s; s++) {
		if (s[0] == '/' && (s[1] == '/' || (s[1] == '\0' && s != p)))
			return false;
		if (s[0] == '/' && s[1] == '.' && (s[2] == '/' || s[2] == '\0' ||
						   (s[2] == '.' && (s[3] == '/' || s[3] == '\0'))))
			return false;
	}
	return true;
}

static bool valid_checksum(const char *s)
{
	if (starts_with(s, "sha256:"))
		s += 7;
	if (strlen(s) != 64)
		return false;
	for (; *s; s++)
		if (!isxdigit((unsigned char)*s) || isupper((unsigned char)*s))
			return false;
	return true;
}

/* A resource name becomes a host name and an environment prefix. */
static bool valid_resource_name(const char *s)
{
	return islower((unsigned char)s[0]) && valid_name(s, 32) && !strstr(s, "--");
}

static bool valid_env_key(const char *s)
{
	if (!(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return false;
	return true;
}

static bool in_list(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (streq(*list, s))
			return true;
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

/* ---- sections ---- */

#define MD(f) offsetof(struct nua_config, metadata.f)
static const struct field metadata_fields[] = {
	{ "id", NO_ALIAS, F_STRING, MD(id), true },
	{ "version", NO_ALIAS, F_STRING, MD(version), true },
	{ "release", NO_ALIAS, F_POSINT, MD(release), false },
	{ "title", NO_ALIAS, F_STRING, MD(title), false },
	{ "author", NO_ALIAS, F_STRING, MD(author), false },
	{ "tagline", NO_ALIAS, F_STRING, MD(tagline), false },
	{ "description", NO_ALIAS, F_STRING, MD(description), false },
	{ "website", NO_ALIAS, F_STRING, MD(website), false },
	{ "tags", NO_ALIAS, F_ARRAY, MD(tags), false },
	{ "license", { "licence", NULL, NULL }, F_STRING, MD(license), false },
	{ "profile", NO_ALIAS, F_STRINGS, MD(profile), false },
	/* The Python Nua kept the source's location in [metadata]. */
	{ "src-url", NO_ALIAS, F_STRING, offsetof(struct nua_config, build.src_url), false },
	{ "src-checksum", { "checksum", NULL, NULL }, F_STRING,
	  offsetof(struct nua_config, build.src_checksum), false },
	{ "git-url", NO_ALIAS, F_STRING, offsetof(struct nua_config, build.git_url), false },
	{ "git-branch", NO_ALIAS, F_STRING, offsetof(struct nua_config, build.git_branch), false },
	{ NULL, NO_ALIAS, 0, 0, false },
};

#define BD(f) offsetof(struct nua_config, build.f)
static const struct field build_fields[] = {
	{ "packages", NO_ALIAS, F_STRINGS, BD(packages), false },
	{ "build", { "build-command", NULL, NULL }, F_STRINGS, BD(build), false },
	{ "test", NO_ALIAS, F_STRINGS, BD(test), false },
	{ "project", NO_ALIAS, F_STRING, BD(project), false },
	{ "src-url", NO_ALIAS, F_STRING, BD(src_url), false },
	{ "src-checksum", { "checksum", NULL, NULL }, F_STRING, BD(src_checksum), false },
	{ "git-url", NO_ALIAS, F_STRING, BD(git_url), false },
	{ "git-branch", NO_ALIAS, F_STRING, BD(git_branch), false },
	{ "builder", NO_ALIAS, F_CUSTOM, 0, false },
	{ "document-root", NO_ALIAS, F_STRING, BD(document_root), false },
	{ "license", { "licence", NULL, NULL }, F_STRING, BD(license), false },
	{ NULL, NO_ALIAS, 0, 0, false },
};

#define RN(f) offsetof(struct nua_config, run.f)
static const struct field run_fields[] = {
	{ "packages", NO_ALIAS, F_STRINGS, RN(packages), false },
	{ "start", NO_ALIAS, F_STRINGS, RN(start), false },
	{ "user", NO_ALIAS, F_STRING, RN(user), false },
	{ "workdir", NO_ALIAS, F_STRING, RN(workdir), false },
	{ "memory", NO_ALIAS, F_SIZE, RN(memory), false },
	{ "cpus", NO_ALIAS, F_POSNUMBER, RN(cpus), false },
	{ "pids", NO_ALIAS, F_POSINT, RN(pids), false },
	{ NULL, NO_ALIAS, 0, 0, false },
};

#define PT(f) offsetof(struct config_port, f)
static const struct field port_fields[] = {
	{ "container", NO_ALIAS, F_CUSTOM, 0, true },
	{ "proxy", NO_ALIAS, F_CUSTOM, 0, false },
	{ "host", NO_ALIAS, F_CUSTOM, 0, false },
	{ "protocol", NO_ALIAS, F_STRING, PT(protocol), false },
	{ "ssl", NO_ALIAS, F_BOOL, PT(ssl), false },
	{ NULL, NO_ALIAS, 0, 0, false },
};

#define BK(f) offsetof(struct config_backup, f)
static const struct field backup_fields[] = {
	{ "method", NO_ALIAS, F_STRING, BK(method), false },
	{ "frequency", NO_ALIAS, F_DURATION, BK(frequency), false },
	{ "options", NO_ALIAS, F_TABLE_JSON, BK(options), false },
	{ NULL, NO_ALIAS, 0, 0, false },
};

#define VL(f) offsetof(struct config_volume, f)
static const struct field volume_fields[] = {
	{ "name", NO_ALIAS, F_STRING, VL(name), false },
	{ "target", { "dest", "destination", NULL }, F_STRING, VL(target), true },
	{ "type", NO_ALIAS, F_STRING, VL(type), false },
	{ "source", { "src", NULL, NULL }, F_STRING, VL(source), false },
	{ "options", NO_ALIAS, F_CUSTOM, 0, false },
	{ "backup", NO_ALIAS, F_CUSTOM, 0, false },
	{ NULL, NO_ALIAS, 0, 0, false },
};

static const struct field volume_option_fields[] = {
	{ "size", NO_ALIAS, F_SIZE, VL(size), false },
	{ "mode", NO_ALIAS, F_CUSTOM, 0, false },
	{ "read-only", { "readonly", NULL, NULL }, F_BOOL, VL(read_only), false },
	{ NULL, NO_ALIAS, 0, 0, false },
};

#define RS(f) offsetof(struct config_resource, f)
static const struct field resource_fields[] = {
	{ "name", NO_ALIAS, F_STRING, RS(name), true },
	{ "type", { "module-name", NULL, NULL }, F_STRING, RS(type), true },
	{ "version", { "module-version", NULL, NULL }, F_STRING, RS(version), false },
	{ "backup", NO_ALIAS, F_CUSTOM, 0, false },
	{ "env", NO_ALIAS, F_TABLE_JSON, RS(env), false },
	{ NULL, NO_ALIAS, 0, 0, false },
};

#define HC(f) offsetof(struct nua_config, healthcheck.f)
static const struct field healthcheck_fields[] = {
	{ "command", NO_ALIAS, F_STRINGS, HC(command), false },
	{ "path", NO_ALIAS, F_STRING, HC(path), false },
	{ "interval", NO_ALIAS, F_DURATION, HC(interval), false },
	{ "timeout", NO_ALIAS, F_DURATION, HC(timeout), false },
	{ "retries", NO_ALIAS, F_POSINT, HC(retries), false },
	{ "start-period", NO_ALIAS, F_DURATION, HC(start_period), false },
	{ NULL, NO_ALIAS, 0, 0, false },
};

static const struct field env_table_fields[] = {
	{ "from", NO_ALIAS, F_CUSTOM, 0, false },
	{ "key", NO_ALIAS, F_CUSTOM, 0, false },
	{ "random", NO_ALIAS, F_CUSTOM, 0, false },
	{ "length", NO_ALIAS, F_CUSTOM, 0, false },
	{ "unique-user", NO_ALIAS, F_CUSTOM, 0, false },
	{ "unique-db", NO_ALIAS, F_CUSTOM, 0, false },
	{ NULL, NO_ALIAS, 0, 0, false },
};

static const struct field sections[] = {
	{ "metadata", NO_ALIAS, F_CUSTOM, 0, true },
	{ "build", NO_ALIAS, F_CUSTOM, 0, false },
	{ "run", NO_ALIAS, F_CUSTOM, 0, false },
	{ "env", NO_ALIAS, F_CUSTOM, 0, false },
	{ "port", NO_ALIAS, F_CUSTOM, 0, false },
	{ "volume", NO_ALIAS, F_CUSTOM, 0, false },
	{ "resource", { "provider", NULL, NULL }, F_CUSTOM, 0, false },
	{ "healthcheck", NO_ALIAS, F_CUSTOM, 0, false },
	{ "backup", NO_ALIAS, F_CUSTOM, 0, false },
	{ "docker", NO_ALIAS, F_CUSTOM, 0, false },
	{ NULL, NO_ALIAS, 0, 0, false },
};

static const char *const known_profiles[] = { "python", "node", "php", "static", "ruby",
					      "go", "java", "rust", NULL };
static const char *const known_resource_types[] = { "postgres", "mariadb", "redis", "mongodb",
						    NULL };
static const char *const known_volume_types[] = { "managed", "directory", "tmpfs", NULL };
static const char *const known_backup_methods[] = { "pg_dump", "pg_dumpall", "mysqldump",
						    "mariadb_dump", "redis_dump", "tgz_volumes",
						    "copy", NULL };

static bool need_table(struct checker *c, const struct toml_keyval *kv, const char *where)
{
	if (kv->val.type == TOML_TABLE)
		return true;
	problem(c, kv->val.pos, "%s must be a table, not %s", where, toml_type_desc(kv->val.type));
	return false;
}

static void check_backup_table(struct checker *c, const struct toml_keyval *kv, const char *where,
			       struct config_backup *b)
{
	if (!need_table(c, kv, where))
		return;
	check_section(c, &kv->val, where, backup_fields, b, NULL, NULL);
	if (b->method) {
		check_choice(c, b->method, value_pos(kv->val.u.tab, "method"), "backup method",
			     known_backup_methods);
	}
}

static void build_custom(struct checker *c, const struct toml_keyval *kv, const struct field *f,
			 void *arg)
{
	struct nua_config *cfg = arg;
	const struct toml_value *v = &kv->val;

	(void)f;
	/* builder = "node-18" or { name = "node", version = "18" } */
	if (v->type == TOML_STRING) {
		cfg->build.builder = xstrdup(v->u.s.ptr);
	} else if (v->type == TOML_TABLE) {
		const struct toml_keyval *name = toml_table_get_kv(v->u.tab, "name");
		const struct toml_keyval *ver = toml_table_get_kv(v->u.tab, "version");

		for (size_t i = 0; i < v->u.tab->n; i++) {
			const char *k = v->u.tab->items[i].key;

			if (!streq(k, "name") && !streq(k, "version"))
				problem(c, v->u.tab->items[i].key_pos,
					"unknown key '%s' in 'builder' (it takes 'name' and 'version')", k);
		}
		if (!name) {
			problem(c, v->pos, "'builder' needs a 'name'");
			return;
		}
		if (string_of(c, name, "'builder'"))
			cfg->build.builder = xstrdup(name->val.u.s.ptr);
		if (ver && string_of(c, ver, "'builder'"))
			cfg->build.builder_version = xstrdup(ver->val.u.s.ptr);
	} else {
		wrong_type(c, kv, "[build]", "a string or a table { name, version }");
		return;
	}
	if (cfg->build.builder && !valid_version_text(cfg->build.builder))
		problem(c, v->pos, "invalid builder name '%s'", cfg->build.builder);
}

static void port_number(struct checker *c, const struct toml_keyval *kv, int *out)
{
	if (kv->val.type != TOML_INTEGER) {
		wrong_type(c, kv, "a [port] table", "a port number");
		return;
	}
	if (kv->val.u.i < 1 || kv->val.u.i > 65535) {
		problem(c, kv->val.pos, "port %lld is out of range (1 to 65535)", (long long)kv->val.u.i);
		return;
	}
	*out = (int)kv->val.u.i;
}

static void port_custom(struct checker *c, const struct toml_keyval *kv, const struct field *f,
			void *arg)
{
	struct config_port *p = arg;

	if (streq(f->name, "proxy")) {
		port_number(c, kv, &p->proxy);
	} else if (streq(f->name, "host")) {
		port_number(c, kv, &p->host);
	} else if (kv->val.type == TOML_TABLE) {
		/* container = { key = "PORT" }: the port is in the environment. */
		const struct toml_table *t = kv->val.u.tab;
		const struct toml_keyval *key = toml_table_get_kv(t, "key");

		if (t->n != 1 || !key) {
			problem(c, kv->val.pos, "'container' as a table takes one key, 'key' (the "
						"environment variable holding the port)");
			return;
		}
		if (string_of(c, key, "'container'"))
			p->container_env = xstrdup(key->val.u.s.ptr);
	} else {
		port_number(c, kv, &p->container);
	}
}

static void check_ports(struct checker *c, const struct toml_keyval *kv)
{
	const struct toml_table *t;

	if (!need_table(c, kv, "[port]"))
		return;
	t = kv->val.u.tab;
	for (size_t i = 0; i < t->n; i++) {
		const struct toml_keyval *pk = &t->items[i];
		struct nua_config *cfg = c->cfg;
		struct config_port *p;
		char where[96];

		snprintf(where, sizeof(where), "[port.%s]", pk->key);
		if (pk->val.type != TOML_TABLE) {
			problem(c, pk->val.pos, "%s must be a table with at least 'container', not %s",
				where, toml_type_desc(pk->val.type));
			continue;
		}
		if (!valid_name(pk->key, 32)) {
			problem(c, pk->key_pos, "invalid port name '%s' (use a-z, 0-9 and '-')", pk->key);
			continue;
		}
		ALLOC_GROW(cfg->ports, cfg->n_ports + 1, cfg->alloc_ports);
		p = &cfg->ports[cfg->n_ports++];
		memset(p, 0, sizeof(*p));
		p->name = xstrdup(pk->key);
		p->ssl = true;
		p->pos = pk->key_pos;
		check_section(c, &pk->val, where, port_fields, p, port_custom, p);
		if (!p->protocol)
			p->protocol = xstrdup("tcp");
		else if (!streq(p->protocol, "tcp") && !streq(p->protocol, "udp"))
			problem(c, value_pos(pk->val.u.tab, "protocol"),
				"protocol of %s must be \"tcp\" or \"udp\", not \"%s\"", where,
				p->protocol);
	}
}

static void volume_custom(struct checker *c, const struct toml_keyval *kv, const struct field *f,
			  void *arg)
{
	struct config_volume *v = arg;

	if (streq(f->name, "backup")) {
		check_backup_table(c, kv, "the backup of a [[volume]]", &v->backup);
	} else if (streq(f->name, "options")) {
		if (need_table(c, kv, "'options' of a [[volume]]"))
			check_section(c, &kv->val, "the options of a [[volume]]", volume_option_fields,
				      v, volume_custom, v);
	} else { /* mode */
		char buf[16];
		const char *s = buf;

		if (kv->val.type == TOML_INTEGER)
			snprintf(buf, sizeof(buf), "%llo", (long long)kv->val.u.i);
		else if (kv->val.type == TOML_STRING)
			s = kv->val.u.s.ptr;
		else
			s = "";
		if (!*s || strlen(s) > 4 || strspn(s, "01234567") != strlen(s)) {
			problem(c, kv->val.pos, "'mode' of a [[volume]] must be an octal mode such as \"0750\"");
			return;
		}
		v->mode = xstrdup(s);
	}
}

static struct toml_pos target_pos(const struct toml_table *t)
{
	static const char *const spellings[] = { "target", "dest", "destination" };

	for (size_t i = 0; i < ARRAY_SIZE(spellings); i++) {
		struct toml_pos p = value_pos(t, spellings[i]);

		if (p.line)
			return p;
	}
	return (struct toml_pos){ 0, 0 };
}

static void check_volumes(struct checker *c, const struct toml_keyval *kv)
{
	const struct toml_array *a;

	if (kv->val.type != TOML_ARRAY) {
		problem(c, kv->val.pos, "'volume' must be an array of tables ([[volume]]), not %s",
			toml_type_desc(kv->val.type));
		return;
	}
	a = kv->val.u.arr;
	for (size_t i = 0; i < a->n; i++) {
		struct nua_config *cfg = c->cfg;
		const struct toml_value *e = &a->items[i];
		struct config_volume *v;

		if (e->type != TOML_TABLE) {
			problem(c, e->pos, "each [[volume]] must be a table, not %s", toml_type_desc(e->type));
			continue;
		}
		ALLOC_GROW(cfg->volumes, cfg->n_volumes + 1, cfg->alloc_volumes);
		v = &cfg->volumes[cfg->n_volumes++];
		memset(v, 0, sizeof(*v));
		v->pos = e->pos;
		check_section(c, e, "a [[volume]]", volume_fields, v, volume_custom, v);
		if (!v->type)
			v->type = xstrdup("managed");
		else
			check_choice(c, v->type, value_pos(e->u.tab, "type"), "volume type",
				     known_volume_types);
		if (v->target && !valid_abs_path(v->target))
			problem(c, target_pos(e->u.tab),
				"volume target '%s' must be a normalised absolute path", v->target);
		else if (v->target && (streq(v->target, "/") || starts_with(v->target, "/proc") ||
				       starts_with(v->target, "/sys") || starts_with(v->target, "/dev")))
			problem(c, target_pos(e->u.tab), "volume target '%s' is reserved", v->target);
		if (v->name && !valid_name(v->name, 63))
			problem(c, e->pos, "invalid volume name '%s' (use a-z, 0-9 and '-')", v->name);
		if (!v->name && v->target && streq(v->type, "managed"))
			problem(c, e->pos, "a managed volume needs a 'name' (it names the data to keep)");
		if (streq(v->type, "directory") && !v->source)
			problem(c, e->pos, "a volume of type \"directory\" needs a 'source' (a host path)");
		if (v->source && !valid_abs_path(v->source))
			problem(c, e->pos, "volume source '%s' must be a normalised absolute path",
				v->source);
	}
}

static void resource_custom(struct checker *c, const struct toml_keyval *kv,
			    const struct field *f, void *arg)
{
	struct config_resource *r = arg;

	(void)f;
	check_backup_table(c, kv, "the backup of a [[resource]]", &r->backup);
}

static void check_resources(struct checker *c, const struct toml_keyval *kv)
{
	const struct toml_array *a;

	if (kv->val.type != TOML_ARRAY) {
		problem(c, kv->val.pos, "'%s' must be an array of tables ([[resource]]), not %s",
			kv->key, toml_type_desc(kv->val.type));
		return;
	}
	a = kv->val.u.arr;
	for (size_t i = 0; i < a->n; i++) {
		struct nua_config *cfg = c->cfg;
		const struct toml_value *e = &a->items[i];
		struct config_resource *r;

		if (e->type != TOML_TABLE) {
			problem(c, e->pos, "each [[resource]] must be a table, not %s",
				toml_type_desc(e->type));
			continue;
		}
		ALLOC_GROW(cfg->resources, cfg->n_resources + 1, cfg->alloc_resources);
		r = &cfg->resources[cfg->n_resources++];
		memset(r, 0, sizeof(*r));
		r->pos = e->pos;
		check_section(c, e, "a [[resource]]", resource_fields, r, resource_custom, r);
		if (r->name && !valid_resource_name(r->name))
			problem(c, value_pos(e->u.tab, "name"),
				"invalid resource name '%s' (a lowercase letter, then a-z, 0-9 and '-')",
				r->name);
		if (r->type) {
			struct toml_pos tp = value_pos(e->u.tab, "type");

			if (!tp.line)
				tp = value_pos(e->u.tab, "module-name");
			check_choice(c, r->type, tp, "resource type", known_resource_types);
		}
		if (r->version && !valid_version_constraint(r->version))
			problem(c, value_pos(e->u.tab, "version").line ? value_pos(e->u.tab, "version")
								      : value_pos(e->u.tab, "module-version"),
				"invalid version constraint '%s' for resource '%s' (e.g. \">=14, <16\")",
				r->version, r->name ? r->name : "?");
		if (r->env) {
			const char *k;
			json_t *v;

			json_object_foreach(r->env, k, v)
			{
				if (!json_is_string(v))
					problem(c, e->pos, "'env' of resource '%s' must hold strings only",
						r->name ? r->name : "?");
			}
		}
	}
}

static void env_table(struct checker *c, const struct toml_keyval *kv, struct config_env *e)
{
	const struct toml_table *t = kv->val.u.tab;
	const struct toml_keyval *from = NULL, *key = NULL, *random = NULL, *length = NULL;
	const struct toml_keyval *uu = NULL, *ud = NULL;
	char where[160];
	int forms;

	snprintf(where, sizeof(where), "[env] '%s'", kv->key);
	for (size_t i = 0; i < t->n; i++) {
		const struct toml_keyval *k = &t->items[i];
		const struct field *f = find_field(env_table_fields, k->key);

		if (!f) {
			unknown_key(c, k, where, env_table_fields);
			continue;
		}
		if (streq(f->name, "from"))
			from = k;
		else if (streq(f->name, "key"))
			key = k;
		else if (streq(f->name, "random"))
			random = k;
		else if (streq(f->name, "length"))
			length = k;
		else if (streq(f->name, "unique-user"))
			uu = k;
		else
			ud = k;
	}
	forms = !!from + !!random + !!uu + !!ud;
	if (forms != 1) {
		problem(c, kv->val.pos,
			"%s must be one of { from, key }, { random = true, length }, "
			"{ unique_user = true } or { unique_db = true }",
			where);
		return;
	}
	if (from) {
		e->kind = ENV_FROM;
		if (!key) {
			problem(c, kv->val.pos, "%s needs a 'key' (the variable to take from '%s')", where,
				is_string(&from->val) ? from->val.u.s.ptr : "?");
			return;
		}
		if (string_of(c, from, where))
			e->from = xstrdup(from->val.u.s.ptr);
		if (string_of(c, key, where))
			e->from_key = xstrdup(key->val.u.s.ptr);
		return;
	}
	if (key)
		problem(c, key->key_pos, "'key' in %s goes with 'from'", where);
	if (random) {
		e->kind = ENV_RANDOM;
		e->length = 24;
		if (random->val.type != TOML_BOOL || !random->val.u.b)
			problem(c, random->val.pos, "'random' in %s must be true", where);
		if (length) {
			if (length->val.type != TOML_INTEGER || length->val.u.i < 8 ||
			    length->val.u.i > 256)
				problem(c, length->val.pos,
					"'length' in %s must be an integer from 8 to 256", where);
			else
				e->length = (int)length->val.u.i;
		}
		return;
	}
	if (length)
		problem(c, length->key_pos, "'length' in %s goes with 'random'", where);
	e->kind = uu ? ENV_UNIQUE_USER : ENV_UNIQUE_DB;
	if ((uu ? uu : ud)->val.type != TOML_BOOL || !(uu ? uu : ud)->val.u.b)
		problem(c, (uu ? uu : ud)->val.pos, "'%s' in %s must be true", (uu ? uu : ud)->key,
			where);
}

static void check_env(struct checker *c, const struct toml_keyval *kv)
{
	const struct toml_table *t;

	if (!need_table(c, kv, "[env]"))
		return;
	t = kv->val.u.tab;
	for (size_t i = 0; i < t->n; i++) {
		const struct toml_keyval *ek = &t->items[i];
		struct nua_config *cfg = c->cfg;
		struct config_env *e;
		char buf[64];

		if (!valid_env_key(ek->key)) {
			problem(c, ek->key_pos,
				"invalid environment variable name '%s' (letters, digits and '_')",
				ek->key);
			continue;
		}
		ALLOC_GROW(cfg->env, cfg->n_env + 1, cfg->alloc_env);
		e = &cfg->env[cfg->n_env++];
		memset(e, 0, sizeof(*e));
		e->key = xstrdup(ek->key);
		e->pos = ek->key_pos;
		switch (ek->val.type) {
		case TOML_STRING:
			if (string_of(c, ek, "[env]"))
				e->value = xstrdup(ek->val.u.s.ptr);
			break;
		case TOML_INTEGER:
			snprintf(buf, sizeof(buf), "%lld", (long long)ek->val.u.i);
			e->value = xstrdup(buf);
			break;
		case TOML_FLOAT:
			snprintf(buf, sizeof(buf), "%.17g", ek->val.u.f);
			e->value = xstrdup(buf);
			break;
		case TOML_BOOL:
			e->value = xstrdup(ek->val.u.b ? "true" : "false");
			break;
		case TOML_TABLE:
			env_table(c, ek, e);
			break;
		default:
			problem(c, ek->val.pos,
				"[env] '%s' must be a string, a number, a boolean or a table, not %s",
				ek->key, toml_type_desc(ek->val.type));
			e->value = xstrdup("");
		}
	}
}

static void check_healthcheck(struct checker *c, const struct toml_keyval *kv)
{
	struct nua_config *cfg = c->cfg;

	if (!need_table(c, kv, "[healthcheck]"))
		return;
	cfg->healthcheck.set = true;
	check_section(c, &kv->val, "[healthcheck]", healthcheck_fields, cfg, NULL, NULL);
	if (cfg->healthcheck.command.n && cfg->healthcheck.path)
		problem(c, kv->val.pos, "[healthcheck] takes either 'command' or 'path', not both");
	if (cfg->healthcheck.path && cfg->healthcheck.path[0] != '/')
		problem(c, value_pos(kv->val.u.tab, "path"),
			"[healthcheck] path '%s' must start with '/'", cfg->healthcheck.path);
}

/* ---- checks across sections ---- */

static bool env_defined(const struct nua_config *cfg, const char *key, size_t len)
{
	for (size_t i = 0; i < cfg->n_env; i++)
		if (strlen(cfg->env[i].key) == len && memcmp(cfg->env[i].key, key, len) == 0)
			return true;
	return false;
}

static const char *metadata_value(const struct nua_config *cfg, const char *name, size_t len)
{
	struct {
		const char *name;
		const char *value;
	} vars[] = {
		{ "id", cfg->metadata.id },
		{ "version", cfg->metadata.version },
		{ "title", cfg->metadata.title },
		{ "author", cfg->metadata.author },
		{ "website", cfg->metadata.website },
		{ "license", cfg->metadata.license },
	};

	for (size_t i = 0; i < ARRAY_SIZE(vars); i++)
		if (strlen(vars[i].name) == len && memcmp(vars[i].name, name, len) == 0)
			return vars[i].value ? vars[i].value : "";
	return NULL;
}

/* Expand {version}-style placeholders in *s from the metadata. "{{" and
 * "}}" stand for literal braces. */
static void interpolate(struct checker *c, char **s, struct toml_pos pos, const char *what)
{
	struct strbuf out = STRBUF_INIT;
	const char *p = *s;

	if (!p || !strchr(p, '{'))
		return;
	while (*p) {
		if (p[0] == '{' && p[1] == '{') {
			strbuf_addch(&out, '{');
			p += 2;
			continue;
		}
		if (p[0] == '}' && p[1] == '}') {
			strbuf_addch(&out, '}');
			p += 2;
			continue;
		}
		if (*p == '{') {
			size_t n = strspn(p + 1, "abcdefghijklmnopqrstuvwxyz_-");
			const char *v = p[1 + n] == '}' ? metadata_value(c->cfg, p + 1, n) : NULL;

			if (p[1 + n] == '}' && n > 0 && !v) {
				problem(c, pos, "unknown placeholder '{%.*s}' in %s", (int)n, p + 1, what);
			} else if (v) {
				strbuf_addstr(&out, v);
				p += n + 2;
				continue;
			}
		}
		strbuf_addch(&out, *p++);
	}
	free(*s);
	*s = strbuf_detach(&out, NULL);
}

/* The position of section.key, trying each key spelling given in turn (in
 * [build] first, then in [metadata] where the Python Nua kept the source's
 * location); the section's header, or 1:1, when absent. */
static struct toml_pos pos_of(const struct toml_table *root, const char *section, const char *key)
{
	const char *secs[] = { section, "metadata" };

	for (size_t i = 0; i < (streq(section, "build") ? 2u : 1u); i++) {
		struct toml_pos p = value_pos(section_of(root, secs[i]), key);

		if (p.line)
			return p;
	}
	const struct toml_value *s = toml_table_get(root, section);
	return s ? s->pos : (struct toml_pos){ 1, 1 };
}

static void check_across(struct checker *c, const struct toml_table *root)
{
	struct nua_config *cfg = c->cfg;

	if (cfg->metadata.id && !valid_name(cfg->metadata.id, 63))
		problem(c, pos_of(root, "metadata", "id"),
			"invalid id '%s': use lowercase letters, digits and '-', starting with a "
			"letter or digit, at most 63 characters",
			cfg->metadata.id);
	if (cfg->metadata.version && !valid_version_text(cfg->metadata.version))
		problem(c, pos_of(root, "metadata", "version"),
			"invalid version '%s': use letters, digits, '.', '_', '+' and '-'",
			cfg->metadata.version);
	for (size_t i = 0; i < cfg->metadata.profile.n; i++)
		check_choice(c, cfg->metadata.profile.items[i], pos_of(root, "metadata", "profile"),
			     "profile", known_profiles);
	interpolate(c, &cfg->metadata.title, pos_of(root, "metadata", "title"), "'title'");
	interpolate(c, &cfg->metadata.tagline, pos_of(root, "metadata", "tagline"), "'tagline'");
	interpolate(c, &cfg->metadata.description, pos_of(root, "metadata", "description"),
		    "'description'");
	interpolate(c, &cfg->metadata.website, pos_of(root, "metadata", "website"), "'website'");
	interpolate(c, &cfg->build.src_url, pos_of(root, "build", "src-url"), "'src-url'");
	if (cfg->build.src_checksum) {
		struct toml_pos p = pos_of(root, "build", "src-checksum");

		if (!value_pos(section_of(root, "build"), "src-checksum").line &&
		    !value_pos(section_of(root, "metadata"), "src-checksum").line)
			p = pos_of(root, "build", "checksum");
		if (!valid_checksum(cfg->build.src_checksum)) {
			problem(c, p, "invalid checksum '%s': expected \"sha256:\" and 64 lowercase hex digits",
				cfg->build.src_checksum);
		} else if (!starts_with(cfg->build.src_checksum, "sha256:")) {
			char *s = xasprintf("sha256:%s", cfg->build.src_checksum);

			free(cfg->build.src_checksum);
			cfg->build.src_checksum = s;
		}
		if (!cfg->build.src_url)
			problem(c, p, "'src-checksum' is given without a 'src-url' to check");
	}
	if (cfg->build.src_url && cfg->build.git_url)
		problem(c, pos_of(root, "build", "git-url"),
			"give either 'src-url' or 'git-url', not both");
	if (cfg->build.git_branch && !cfg->build.git_url)
		problem(c, pos_of(root, "build", "git-branch"), "'git-branch' needs a 'git-url'");
	if (cfg->run.user && !(islower((unsigned char)cfg->run.user[0]) || cfg->run.user[0] == '_'))
		problem(c, pos_of(root, "run", "user"), "invalid user name '%s'", cfg->run.user);
	if (cfg->run.workdir && !valid_abs_path(cfg->run.workdir))
		problem(c, pos_of(root, "run", "workdir"), "workdir '%s' must be an absolute path",
			cfg->run.workdir);
	if (cfg->run.memory && cfg->run.memory < (4ULL << 20))
		problem(c, pos_of(root, "run", "memory"),
			"memory limit of %llu bytes is too small (at least 4M)",
			(unsigned long long)cfg->run.memory);
	if (cfg->run.cpus > 1024)
		problem(c, pos_of(root, "run", "cpus"), "cpus %g is more than any machine has",
			cfg->run.cpus);
	for (size_t i = 0; i < cfg->build.packages.n + cfg->run.packages.n; i++) {
		const char *p = i < cfg->build.packages.n ? cfg->build.packages.items[i]
							  : cfg->run.packages.items[i - cfg->build.packages.n];
		const char *sec = i < cfg->build.packages.n ? "build" : "run";

		if (!*p || strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789+-.:=") != strlen(p) ||
		    !isalnum((unsigned char)p[0]))
			problem(c, pos_of(root, sec, "packages"), "invalid Debian package name '%s'", p);
	}

	/* Environment references: {OTHER} in values, from = resource. */
	for (size_t i = 0; i < cfg->n_env; i++) {
		struct config_env *e = &cfg->env[i];

		if (e->kind == ENV_VALUE && e->value) {
			for (const char *p = strchr(e->value, '{'); p; p = strchr(p + 1, '{')) {
				size_t n = strcspn(p + 1, "{}");

				if (p[1 + n] != '}' || n == 0)
					continue;
				if (!env_defined(cfg, p + 1, n) && !metadata_value(cfg, p + 1, n))
					problem(c, e->pos,
						"[env] '%s' refers to '{%.*s}', which is not defined in [env]",
						e->key, (int)n, p + 1);
			}
		}
		if (e->kind == ENV_FROM && e->from && *e->from) {
			bool found = false;

			for (size_t r = 0; r < cfg->n_resources; r++)
				if (cfg->resources[r].name && streq(cfg->resources[r].name, e->from))
					found = true;
			if (!found)
				problem(c, e->pos,
					"[env] '%s' takes its value from '%s', which is not a declared "
					"[[resource]]",
					e->key, e->from);
		}
	}

	/* Ports: the environment they come from, and clashes. */
	for (size_t i = 0; i < cfg->n_ports; i++) {
		struct config_port *p = &cfg->ports[i];

		if (p->container_env && !env_defined(cfg, p->container_env, strlen(p->container_env)))
			problem(c, p->pos,
				"[port.%s] takes its container port from '%s', which [env] does not define",
				p->name, p->container_env);
		if (p->container_env) {
			for (size_t k = 0; k < cfg->n_env; k++) {
				const struct config_env *e = &cfg->env[k];
				char *end;
				long v;

				if (!streq(e->key, p->container_env) || e->kind != ENV_VALUE || !e->value)
					continue;
				v = strtol(e->value, &end, 10);
				if (*end || v < 1 || v > 65535)
					problem(c, e->pos, "[env] '%s' is the port of [port.%s], but '%s' is not a port number",
						e->key, p->name, e->value);
				else
					p->container = (int)v;
			}
		}
		if (!p->proxy && streq(p->name, "web"))
			p->proxy = p->ssl ? 443 : 80;
		for (size_t k = 0; k < i; k++) {
			struct config_port *q = &cfg->ports[k];

			if (!streq(p->protocol, q->protocol))
				continue;
			if (p->proxy && p->proxy == q->proxy)
				problem(c, p->pos, "[port.%s] and [port.%s] both use public port %d/%s",
					q->name, p->name, p->proxy, p->protocol);
			if (p->host && p->host == q->host)
				problem(c, p->pos, "[port.%s] and [port.%s] both use host port %d/%s",
					q->name, p->name, p->host, p->protocol);
			if (p->container && p->container == q->container)
				problem(c, p->pos, "[port.%s] and [port.%s] both use container port %d/%s",
					q->name, p->name, p->container, p->protocol);
		}
	}

	for (size_t i = 0; i < cfg->n_volumes; i++) {
		for (size_t k = 0; k < i; k++) {
			struct config_volume *v = &cfg->volumes[i], *w = &cfg->volumes[k];

			if (v->name && w->name && streq(v->name, w->name))
				problem(c, v->pos, "duplicate volume name '%s' (also at line %d)", v->name,
					w->pos.line);
			if (v->target && w->target && streq(v->target, w->target))
				problem(c, v->pos, "two volumes are mounted at '%s' (also at line %d)",
					v->target, w->pos.line);
		}
	}
	for (size_t i = 0; i < cfg->n_resources; i++)
		for (size_t k = 0; k < i; k++)
			if (cfg->resources[i].name && cfg->resources[k].name &&
			    streq(cfg->resources[i].name, cfg->resources[k].name))
				problem(c, cfg->resources[i].pos,
					"duplicate resource name '%s' (also at line %d)",
					cfg->resources[i].name, cfg->resources[k].pos.line);

	if (!cfg->healthcheck.interval)
		cfg->healthcheck.interval = 5;
	if (!cfg->healthcheck.timeout)
		cfg->healthcheck.timeout = 5;
	if (!cfg->healthcheck.retries)
		cfg->healthcheck.retries = 3;
	if (!cfg->healthcheck.start_period)
		cfg->healthcheck.start_period = 120;
	if (!cfg->metadata.release)
		cfg->metadata.release = 1;
}

static void check_root(struct checker *c, const struct toml_table *root)
{
	bool seen[16] = { false };

	for (size_t i = 0; i < root->n; i++) {
		const struct toml_keyval *kv = &root->items[i];
		const struct field *f = find_field(sections, kv->key);
		char where[64];

		if (!f) {
			const char *names[16];
			size_t n = 0;
			const char *near;

			for (const struct field *s = sections; s->name; s++)
				names[n++] = s->name;
			names[n] = NULL;
			near = nearest_word(kv->key, names);
			if (near)
				problem(c, kv->key_pos, "unknown section '%s'; did you mean '%s'?", kv->key,
					near);
			else
				problem(c, kv->key_pos, "unknown section '%s'", kv->key);
			continue;
		}
		/* [[resource]] and [[provider]] are one list. */
		if (seen[f - sections] && !streq(f->name, "resource")) {
			problem(c, kv->key_pos, "section '%s' is given twice (as '%s' and another spelling)",
				f->name, kv->key);
			continue;
		}
		seen[f - sections] = true;
		snprintf(where, sizeof(where), "[%s]", f->name);
		if (streq(f->name, "metadata")) {
			if (need_table(c, kv, where))
				check_section(c, &kv->val, where, metadata_fields, c->cfg, NULL, NULL);
		} else if (streq(f->name, "build")) {
			if (need_table(c, kv, where))
				check_section(c, &kv->val, where, build_fields, c->cfg, build_custom,
					      c->cfg);
		} else if (streq(f->name, "run")) {
			if (need_table(c, kv, where))
				check_section(c, &kv->val, where, run_fields, c->cfg, NULL, NULL);
		} else if (streq(f->name, "env")) {
			check_env(c, kv);
		} else if (streq(f->name, "port")) {
			check_ports(c, kv);
		} else if (streq(f->name, "volume")) {
			check_volumes(c, kv);
		} else if (streq(f->name, "resource")) {
			check_resources(c, kv);
		} else if (streq(f->name, "healthcheck")) {
			check_healthcheck(c, kv);
		} else if (streq(f->name, "backup")) {
			check_backup_table(c, kv, "[backup]", &c->cfg->backup);
		} else if (streq(f->name, "docker")) {
			if (need_table(c, kv, where))
				c->cfg->docker = toml_to_json(&kv->val);
		}
	}
	if (!seen[0])
		problem(c, (struct toml_pos){ 1, 1 },
			"missing [metadata] section (it needs at least 'id' and 'version')");
}

int config_parse_buffer(const char *name, const char *buf, size_t len, struct nua_config **out,
			struct diag_list *diags)
{
	struct toml_parse_error perr;
	struct toml_table *root;
	struct checker c = { name, diags, NULL };
	size_t before = diags->n;

	*out = NULL;
	if (toml_parse(buf, len, &root, &perr) < 0) {
		diag_add(diags, name, perr.line, perr.col, "%s", perr.msg);
		return -1;
	}
	c.cfg = xcalloc(1, sizeof(*c.cfg));
	c.cfg->file = xstrdup(name);
	check_root(&c, root);
	check_across(&c, root);
	toml_table_free(root);
	if (diags->n > before) {
		diag_list_sort(diags);
		config_free(c.cfg);
		return -1;
	}
	*out = c.cfg;
	return 0;
}

int config_load(const char *path, struct nua_config **out, struct diag_list *diags,
		struct nua_error **err)
{
	_cleanup_free_ char *file = NULL;
	_cleanup_free_ char *data = NULL;
	struct stat st;
	size_t len;
	int r;

	*out = NULL;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		file = xasprintf("%s%snua-config.toml", path, ends_with(path, "/") ? "" : "/");
	else
		file = xstrdup(path);
	r = read_file(file, &data, &len);
	if (r < 0)
		return nua_error_set(err, NUA_EINPUT, "cannot read '%s': %s", file, strerror(-r));
	return config_parse_buffer(file, data, len, out, diags);
}

static void backup_release(struct config_backup *b)
{
	free(b->method);
	json_decref(b->options);
}

void config_free(struct nua_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->file);
	free(cfg->metadata.id);
	free(cfg->metadata.version);
	free(cfg->metadata.title);
	free(cfg->metadata.author);
	free(cfg->metadata.tagline);
	free(cfg->metadata.description);
	free(cfg->metadata.website);
	free(cfg->metadata.license);
	strlist_release(&cfg->metadata.tags);
	strlist_release(&cfg->metadata.profile);
	strlist_release(&cfg->build.packages);
	strlist_release(&cfg->build.build);
	strlist_release(&cfg->build.test);
	free(cfg->build.project);
	free(cfg->build.src_url);
	free(cfg->build.src_checksum);
	free(cfg->build.git_url);
	free(cfg->build.git_branch);
	free(cfg->build.builder);
	free(cfg->build.builder_version);
	free(cfg->build.document_root);
	free(cfg->build.license);
	strlist_release(&cfg->run.packages);
	strlist_release(&cfg->run.start);
	free(cfg->run.user);
	free(cfg->run.workdir);
	for (size_t i = 0; i < cfg->n_env; i++) {
		free(cfg->env[i].key);
		free(cfg->env[i].value);
		free(cfg->env[i].from);
		free(cfg->env[i].from_key);
	}
	free(cfg->env);
	for (size_t i = 0; i < cfg->n_ports; i++) {
		free(cfg->ports[i].name);
		free(cfg->ports[i].container_env);
		free(cfg->ports[i].protocol);
	}
	free(cfg->ports);
	for (size_t i = 0; i < cfg->n_volumes; i++) {
		struct config_volume *v = &cfg->volumes[i];

		free(v->name);
		free(v->target);
		free(v->type);
		free(v->source);
		free(v->mode);
		backup_release(&v->backup);
	}
	free(cfg->volumes);
	for (size_t i = 0; i < cfg->n_resources; i++) {
		struct config_resource *r = &cfg->resources[i];

		free(r->name);
		free(r->type);
		free(r->version);
		backup_release(&r->backup);
		json_decref(r->env);
	}
	free(cfg->resources);
	strlist_release(&cfg->healthcheck.command);
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

/* ---- JSON ---- */

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

static json_t *strlist_json(const struct strlist *l)
{
	json_t *a = json_array();

	for (size_t i = 0; i < l->n; i++)
		json_array_append_new(a, json_string(l->items[i]));
	return a;
}

static json_t *backup_json(const struct config_backup *b)
{
	if (!b->method && !b->frequency && !b->options)
		return json_null();
	return json_pack("{s:o, s:o, s:O}", "method", str_or_null(b->method), "frequency",
			 b->frequency ? json_integer(b->frequency) : json_null(), "options",
			 b->options ? b->options : json_null());
}

json_t *config_to_json(const struct nua_config *cfg)
{
	json_t *root = json_object(), *env = json_object(), *ports = json_object();
	json_t *volumes = json_array(), *resources = json_array();
	char *ref = config_image_ref(cfg);

	json_object_set_new(root, "image", json_string(ref));
	free(ref);
	json_object_set_new(
		root, "metadata",
		json_pack("{s:s, s:s, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id",
			  cfg->metadata.id, "version", cfg->metadata.version, "release",
			  (json_int_t)cfg->metadata.release, "title", str_or_null(cfg->metadata.title),
			  "author", str_or_null(cfg->metadata.author), "tagline",
			  str_or_null(cfg->metadata.tagline), "description",
			  str_or_null(cfg->metadata.description), "website",
			  str_or_null(cfg->metadata.website), "license",
			  str_or_null(cfg->metadata.license ? cfg->metadata.license
							    : cfg->build.license),
			  "tags", strlist_json(&cfg->metadata.tags), "profile",
			  strlist_json(&cfg->metadata.profile)));
	json_object_set_new(
		root, "build",
		json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "packages",
			  strlist_json(&cfg->build.packages), "build", strlist_json(&cfg->build.build),
			  "test", strlist_json(&cfg->build.test), "project",
			  str_or_null(cfg->build.project), "src-url", str_or_null(cfg->build.src_url),
			  "src-checksum", str_or_null(cfg->build.src_checksum), "git-url",
			  str_or_null(cfg->build.git_url), "git-branch",
			  str_or_null(cfg->build.git_branch), "builder",
			  str_or_null(cfg->build.builder), "builder-version",
			  str_or_null(cfg->build.builder_version), "document-root",
			  str_or_null(cfg->build.document_root)));
	json_object_set_new(root, "run",
			    json_pack("{s:o, s:o, s:o, s:o, s:I, s:f, s:I}", "packages",
				      strlist_json(&cfg->run.packages), "start",
				      strlist_json(&cfg->run.start), "user", str_or_null(cfg->run.user),
				      "workdir", str_or_null(cfg->run.workdir), "memory",
				      (json_int_t)cfg->run.memory, "cpus", cfg->run.cpus, "pids",
				      (json_int_t)cfg->run.pids));
	for (size_t i = 0; i < cfg->n_env; i++) {
		const struct config_env *e = &cfg->env[i];
		json_t *v;

		switch (e->kind) {
		case ENV_VALUE:
			v = json_string(e->value);
			break;
		case ENV_FROM:
			v = json_pack("{s:s, s:s}", "from", e->from, "key", e->from_key);
			break;
		case ENV_RANDOM:
			v = json_pack("{s:b, s:i}", "random", 1, "length", e->length);
			break;
		case ENV_UNIQUE_USER:
			v = json_pack("{s:b}", "unique-user", 1);
			break;
		default:
			v = json_pack("{s:b}", "unique-db", 1);
			break;
		}
		json_object_set_new(env, e->key, v);
	}
	json_object_set_new(root, "env", env);
	for (size_t i = 0; i < cfg->n_ports; i++) {
		const struct config_port *p = &cfg->ports[i];

		json_object_set_new(
			ports, p->name,
			json_pack("{s:o, s:o, s:o, s:o, s:s, s:b}", "container",
				  p->container ? json_integer(p->container) : json_null(),
				  "container-env", str_or_null(p->container_env), "proxy",
				  p->proxy ? json_integer(p->proxy) : json_null(), "host",
				  p->host ? json_integer(p->host) : json_null(), "protocol", p->protocol,
				  "ssl", p->ssl));
	}
	json_object_set_new(root, "port", ports);
	for (size_t i = 0; i < cfg->n_volumes; i++) {
		const struct config_volume *v = &cfg->volumes[i];

		json_array_append_new(
			volumes,
			json_pack("{s:o, s:s, s:s, s:o, s:o, s:o, s:b, s:o}", "name",
				  str_or_null(v->name), "target", v->target, "type", v->type, "source",
				  str_or_null(v->source), "size",
				  v->size ? json_integer((json_int_t)v->size) : json_null(), "mode",
				  str_or_null(v->mode), "read-only", v->read_only, "backup",
				  backup_json(&v->backup)));
	}
	json_object_set_new(root, "volume", volumes);
	for (size_t i = 0; i < cfg->n_resources; i++) {
		const struct config_resource *r = &cfg->resources[i];

		json_array_append_new(resources,
				      json_pack("{s:s, s:s, s:o, s:o, s:O}", "name", r->name, "type",
						r->type, "version", str_or_null(r->version), "backup",
						backup_json(&r->backup), "env",
						r->env ? r->env : json_null()));
	}
	json_object_set_new(root, "resource", resources);
	json_object_set_new(root, "healthcheck",
			    json_pack("{s:o, s:o, s:I, s:I, s:I, s:I}", "command",
				      strlist_json(&cfg->healthcheck.command), "path",
				      str_or_null(cfg->healthcheck.path), "interval",
				      (json_int_t)cfg->healthcheck.interval, "timeout",
				      (json_int_t)cfg->healthcheck.timeout, "retries",
				      (json_int_t)cfg->healthcheck.retries, "start-period",
				      (json_int_t)cfg->healthcheck.start_period));
	json_object_set_new(root, "backup", backup_json(&cfg->backup));
	if (cfg->docker)
		json_object_set(root, "docker", cfg->docker);
	return root;
}
