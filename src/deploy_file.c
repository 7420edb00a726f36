/* deploy.toml: see deploy_file.h. */
#define _GNU_SOURCE
#include "deploy_file.h"

#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

#include "toml.h"
#include "util.h"
#include "banned.h"

static const char *const site_keys[] = { "image", "domain", "label", "env", NULL };

static char *resolve_image(const char *file, const char *image)
{
	const char *slash = strrchr(file, '/');
	struct stat sb;
	char *path;

	if (image[0] == '/' || !(image[0] == '.' || strchr(image, '/')))
		return xstrdup(image);
	/* A relative path is a package directory next to the file. */
	path = slash ? xasprintf("%.*s/%s", (int)(slash - file), file, image) : xstrdup(image);
	if (stat(path, &sb) == 0)
		return path;
	free(path);
	return xstrdup(image);
}

static const char *string_of(const char *file, const struct toml_keyval *kv, struct diag_list *d)
{
	if (kv->val.type != TOML_STRING) {
		diag_add(d, file, kv->val.pos.line, kv->val.pos.col, "'%s' must be a string, not %s",
			 kv->key, toml_type_desc(kv->val.type));
		return NULL;
	}
	if (strlen(kv->val.u.s.ptr) != kv->val.u.s.len || !kv->val.u.s.len) {
		diag_add(d, file, kv->val.pos.line, kv->val.pos.col,
			 "'%s' must be a non-empty string without NUL characters", kv->key);
		return NULL;
	}
	return kv->val.u.s.ptr;
}

static void parse_site(const char *file, const struct toml_table *t, int line,
		       struct deploy_site *s, struct diag_list *d)
{
	s->line = line;
	for (size_t i = 0; i < t->n; i++) {
		const struct toml_keyval *kv = &t->items[i];
		_cleanup_free_ char *norm = xstrdup(kv->key);
		const char *v;

		if (streq(kv->key, "image") || streq(kv->key, "domain") ||
		    streq(kv->key, "label")) {
			if (!(v = string_of(file, kv, d)))
				continue;
			if (streq(kv->key, "image"))
				s->image = resolve_image(file, v);
			else if (streq(kv->key, "domain"))
				s->domain = xstrdup(v);
			else
				s->label = xstrdup(v);
		} else if (streq(kv->key, "env")) {
			const struct toml_table *env;

			if (kv->val.type != TOML_TABLE) {
				diag_add(d, file, kv->val.pos.line, kv->val.pos.col,
					 "'env' must be a table of strings, not %s",
					 toml_type_desc(kv->val.type));
				continue;
			}
			env = kv->val.u.tab;
			s->env = xcalloc(env->n + 1, sizeof(*s->env));
			for (size_t j = 0; j < env->n; j++) {
				const struct toml_keyval *e = &env->items[j];

				if (strlen(e->key) != e->key_len || !valid_env_name(e->key, e->key_len)) {
					diag_add(d, file, e->key_pos.line, e->key_pos.col,
						 "env name '%s' must be letters, digits and '_', not "
						 "starting with a digit",
						 e->key);
					continue;
				}
				if (e->val.type == TOML_STRING &&
				    strlen(e->val.u.s.ptr) == e->val.u.s.len)
					s->env[s->nenv++] =
						xasprintf("%s=%s", e->key, e->val.u.s.ptr);
				else if (e->val.type == TOML_INTEGER)
					s->env[s->nenv++] = xasprintf("%s=%lld", e->key,
								      (long long)e->val.u.i);
				else if (e->val.type == TOML_BOOL)
					s->env[s->nenv++] = xasprintf(
						"%s=%s", e->key, e->val.u.b ? "true" : "false");
				else
					diag_add(d, file, e->val.pos.line, e->val.pos.col,
						 "env '%s' must be a string, not %s", e->key,
						 toml_type_desc(e->val.type));
			}
		} else {
			const char *near;

			for (char *c = norm; *c; c++)
				if (*c == '_')
					*c = '-';
			near = nearest_word(norm, site_keys);
			if (near)
				diag_add(d, file, kv->key_pos.line, kv->key_pos.col,
					 "unknown key '%s' in [[site]]; did you mean '%s'?",
					 kv->key, near);
			else
				diag_add(d, file, kv->key_pos.line, kv->key_pos.col,
					 "unknown key '%s' in [[site]]", kv->key);
		}
	}
	if (!s->image)
		diag_add(d, file, line, 1, "[[site]] needs 'image' (an image or a package directory)");
}

int deploy_file_parse(const char *name, const char *buf, size_t len, struct deploy_file *out,
		      struct diag_list *diags)
{
	struct toml_parse_error perr;
	struct toml_table *root = NULL;
	const struct toml_keyval *sites;
	size_t before = diags->n;

	memset(out, 0, sizeof(*out));
	if (toml_parse(buf, len, &root, &perr) < 0) {
		diag_add(diags, name, perr.line, perr.col, "%s", perr.msg);
		return -1;
	}
	for (size_t i = 0; i < root->n; i++)
		if (!streq(root->items[i].key, "site"))
			diag_add(diags, name, root->items[i].key_pos.line,
				 root->items[i].key_pos.col,
				 "unknown key '%s'; a deploy file holds [[site]] tables",
				 root->items[i].key);
	sites = toml_table_get_kv(root, "site");
	if (!sites) {
		diag_add(diags, name, 1, 1, "no [[site]] to deploy");
	} else if (sites->val.type != TOML_ARRAY) {
		diag_add(diags, name, sites->val.pos.line, sites->val.pos.col,
			 "'site' must be an array of tables ([[site]])");
	} else {
		const struct toml_array *a = sites->val.u.arr;

		out->sites = xcalloc(a->n ? a->n : 1, sizeof(*out->sites));
		for (size_t i = 0; i < a->n; i++) {
			if (a->items[i].type != TOML_TABLE) {
				diag_add(diags, name, a->items[i].pos.line, a->items[i].pos.col,
					 "each site must be a table");
				continue;
			}
			parse_site(name, a->items[i].u.tab, a->items[i].pos.line,
				   &out->sites[out->n++], diags);
		}
		if (a->n == 0)
			diag_add(diags, name, sites->val.pos.line, sites->val.pos.col,
				 "no [[site]] to deploy");
		for (size_t i = 0; i < out->n; i++)
			for (size_t j = 0; j < i; j++)
				if (out->sites[i].label && out->sites[j].label &&
				    streq(out->sites[i].label, out->sites[j].label)) {
					diag_add(diags, name, out->sites[i].line, 1,
						 "label '%s' is given to two sites (the other at "
						 "line %d)",
						 out->sites[i].label, out->sites[j].line);
					break;
				}
	}
	toml_table_free(root);
	if (diags->n > before) {
		diag_list_sort(diags);
		deploy_file_release(out);
		return -1;
	}
	return 0;
}

void deploy_file_release(struct deploy_file *df)
{
	for (size_t i = 0; i < df->n; i++) {
		struct deploy_site *s = &df->sites[i];

		free(s->image);
		free(s->domain);
		free(s->label);
		for (size_t j = 0; j < s->nenv; j++)
			free(s->env[j]);
		free(s->env);
	}
	free(df->sites);
	memset(df, 0, sizeof(*df));
}
