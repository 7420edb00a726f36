/* Reading the API's requests: see api_request.h. */
#include "api_request.h"

#include <jansson.h>
#include <string.h>

#include "strbuf.h"
#include "util.h"
#include "banned.h"

int api_split_path(const char *url, char seg[][API_SEGMENT_MAX])
{
	int n = 0;

	for (const char *p = url; *p;) {
		const char *e;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		e = strchr(p, '/');
		if (!e)
			e = p + strlen(p);
		if (n >= API_PATH_SEGMENTS || (size_t)(e - p) >= API_SEGMENT_MAX)
			return -1;
		memcpy(seg[n], p, (size_t)(e - p));
		seg[n][e - p] = '\0';
		n++;
		p = e;
	}
	return n;
}

/* The body as a JSON object, or NUA_EINPUT. */
static json_t *load_object(const char *body, size_t len, const char *what, struct nua_error **err)
{
	json_error_t jerr;
	json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);

	if (!j) {
		nua_error_set(err, NUA_EINPUT, "bad %s request: the body is not JSON: %s", what,
			      jerr.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		nua_error_set(err, NUA_EINPUT, "bad %s request: the body is not a JSON object",
			      what);
		return NULL;
	}
	return j;
}

void api_deploy_release(struct api_deploy *d)
{
	free(d->env);
	strv_free(d->resources);
	json_decref(d->root);
	memset(d, 0, sizeof(*d));
}

int api_parse_deploy(const char *body, size_t len, struct api_deploy *out, struct nua_error **err)
{
	json_t *env = NULL, *res = NULL, *v;
	json_error_t jerr;
	int no_cache = 0;
	const char *key;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (!(out->root = load_object(body, len, "deploy", err)))
		return -1;
	if (json_unpack_ex(out->root, &jerr, JSON_STRICT, "{s:s, s?s, s?s, s?o, s?o, s?b}",
			   "source", &out->source, "name", &out->name, "domain", &out->domain,
			   "env", &env, "resources", &res, "no_cache", &no_cache) < 0)
		return nua_error_set(err, NUA_EINPUT, "bad deploy request: %s", jerr.text);
	out->no_cache = no_cache;
	if (!out->source[0])
		return nua_error_set(err, NUA_EINPUT, "bad deploy request: 'source' is empty");
	if (res && !json_is_null(res)) {
		if (!json_is_object(res))
			return nua_error_set(err, NUA_EINPUT,
					     "bad deploy request: 'resources' must be {\"NAME\": "
					     "\"URL\"}");
		out->resources = xcalloc(json_object_size(res) + 1, sizeof(*out->resources));
		i = 0;
		json_object_foreach(res, key, v) {
			if (!json_is_string(v) || !key[0] || strchr(key, '='))
				return nua_error_set(err, NUA_EINPUT,
						     "bad deploy request: 'resources' must be "
						     "{\"NAME\": \"URL\"}");
			out->resources[i++] = xasprintf("%s=%s", key, json_string_value(v));
		}
	}
	if (!env || json_is_null(env))
		return 0;
	if (!json_is_array(env))
		return nua_error_set(err, NUA_EINPUT,
				     "bad deploy request: 'env' must be an array of \"KEY=VALUE\"");
	out->env = xcalloc(json_array_size(env) + 1, sizeof(*out->env));
	json_array_foreach(env, i, v) {
		if (!json_is_string(v))
			return nua_error_set(err, NUA_EINPUT,
					     "bad deploy request: 'env' must be an array of "
					     "\"KEY=VALUE\"");
		out->env[i] = json_string_value(v);
	}
	return 0;
}

void api_path_body_release(struct api_path_body *b)
{
	json_decref(b->root);
	memset(b, 0, sizeof(*b));
}

int api_parse_path_body(enum api_path_kind kind, const char *body, size_t len,
			struct api_path_body *out, struct nua_error **err)
{
	static const char *const what[] = { "build", "export", "import", "dump", "restore" };
	json_t *ref = NULL;
	json_error_t jerr;
	int no_cache = 0, r;

	memset(out, 0, sizeof(*out));
	if (!(out->root = load_object(body, len, what[kind], err)))
		return -1;
	if (kind == API_BUILD)
		r = json_unpack_ex(out->root, &jerr, JSON_STRICT, "{s:s, s?b}", "path", &out->path,
				   "no_cache", &no_cache);
	else if (kind != API_IMPORT)
		r = json_unpack_ex(out->root, &jerr, JSON_STRICT, "{s:s}", "path", &out->path);
	else
		r = json_unpack_ex(out->root, &jerr, JSON_STRICT, "{s:s, s?o}", "path", &out->path,
				   "ref", &ref);
	if (r < 0)
		return nua_error_set(err, NUA_EINPUT, "bad %s request: %s", what[kind], jerr.text);
	if (ref && !json_is_null(ref) && !json_is_string(ref))
		return nua_error_set(err, NUA_EINPUT,
				     "bad import request: 'ref' must be \"ID:VERSION-RELEASE\" or "
				     "null");
	out->ref = json_string_value(ref);
	out->no_cache = no_cache;
	if (out->path[0] != '/')
		return nua_error_set(err, NUA_EINPUT,
				     "'%s' is a relative path: give an absolute path", out->path);
	return 0;
}

void api_env_patch_release(struct api_env_patch *p)
{
	strv_free(p->set);
	free(p->unset);
	json_decref(p->root);
	memset(p, 0, sizeof(*p));
}

int api_parse_env_patch(const char *body, size_t len, struct api_env_patch *out,
			struct nua_error **err)
{
	json_t *set = NULL, *unset = NULL, *v;
	json_error_t jerr;
	const char *key;
	size_t i = 0, idx;

	memset(out, 0, sizeof(*out));
	if (!(out->root = load_object(body, len, "env", err)))
		return -1;
	if (json_unpack_ex(out->root, &jerr, JSON_STRICT, "{s?o, s?o}", "set", &set, "unset",
			   &unset) < 0 ||
	    (set && !json_is_object(set)) || (unset && !json_is_array(unset)))
		return nua_error_set(err, NUA_EINPUT,
				     "bad env request: the body must be {\"set\": {\"KEY\": "
				     "\"VALUE\"}, \"unset\": [\"KEY\"]}");
	out->set = xcalloc(json_object_size(set) + 1, sizeof(*out->set));
	json_object_foreach(set, key, v) {
		if (!valid_env_name(key, strlen(key)))
			return nua_error_set(err, NUA_EINPUT,
					     "'%s' is not a variable name: use letters, digits and "
					     "'_', not starting with a digit",
					     key);
		if (!json_is_string(v))
			return nua_error_set(err, NUA_EINPUT,
					     "bad env request: the value of '%s' must be a string",
					     key);
		out->set[i++] = xasprintf("%s=%s", key, json_string_value(v));
	}
	out->unset = xcalloc(json_array_size(unset) + 1, sizeof(*out->unset));
	json_array_foreach(unset, idx, v) {
		if (!json_is_string(v))
			return nua_error_set(err, NUA_EINPUT,
					     "bad env request: 'unset' must be an array of names");
		out->unset[idx] = json_string_value(v);
	}
	return 0;
}

void api_snapshot_body_release(struct api_snapshot_body *b)
{
	json_decref(b->root);
	memset(b, 0, sizeof(*b));
}

int api_parse_snapshot_body(enum api_snapshot_kind kind, const char *body, size_t len,
			    struct api_snapshot_body *out, struct nua_error **err)
{
	const char *what = kind == API_BACKUP ? "backup" : "restore";
	json_t *snap = NULL;
	json_error_t jerr;

	memset(out, 0, sizeof(*out));
	if (len == 0) {
		out->root = json_object();
		return 0;
	}
	if (!(out->root = load_object(body, len, what, err)))
		return -1;
	if (kind == API_BACKUP) {
		if (json_unpack_ex(out->root, &jerr, JSON_STRICT, "{}") < 0)
			return nua_error_set(err, NUA_EINPUT, "bad backup request: %s", jerr.text);
		return 0;
	}
	if (json_unpack_ex(out->root, &jerr, JSON_STRICT, "{s?o, s?s, s?s}", "snapshot", &snap, "as",
			   &out->as, "domain", &out->domain) < 0)
		return nua_error_set(err, NUA_EINPUT, "bad restore request: %s", jerr.text);
	if (out->as && !valid_name(out->as, 40))
		return nua_error_set(err, NUA_EINPUT,
				     "'%s' is not an instance name: use [a-z0-9-], at most 40",
				     out->as);
	if (out->domain && !out->as)
		return nua_error_set(err, NUA_EINPUT,
				     "bad restore request: a domain is for a new instance ('as')");
	if (snap && !json_is_null(snap)) {
		const char *s = json_string_value(snap);
		size_t n = s ? strlen(s) : 0;

		if (!s || !(streq(s, "latest") ||
			    (n >= 4 && n <= 64 && strspn(s, "0123456789abcdef") == n)))
			return nua_error_set(err, NUA_EINPUT,
					     "bad restore request: 'snapshot' must be a snapshot id "
					     "(at least 4 hex digits) or \"latest\"");
		out->snapshot = s;
	}
	return 0;
}

void api_target_release(struct api_target *t)
{
	if (t->credentials)
		for (size_t i = 0; t->credentials[i]; i++)
			explicit_bzero(t->credentials[i], strlen(t->credentials[i]));
	strv_free(t->credentials);
	json_decref(t->root);
	memset(t, 0, sizeof(*t));
}

static bool credential_key(const char *k)
{
	static const char *const prefixes[] = { "AWS_",	   "B2_", "AZURE_",	   "GOOGLE_",
						"OS_",	   "ST_", "RESTIC_REST_", "RCLONE_",
						NULL };

	if (streq(k, "RESTIC_PASSWORD"))
		return true;
	for (size_t i = 0; prefixes[i]; i++)
		if (starts_with(k, prefixes[i]) && strlen(k) > strlen(prefixes[i]) &&
		    strspn(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == strlen(k))
			return true;
	return false;
}

int api_parse_target(const char *body, size_t len, struct api_target *out,
		     struct nua_error **err)
{
	static const char *const schemes[] = { "sftp:", "s3:",	   "rest:", "b2:", "azure:",
					       "gs:",	"swift:", "rclone:", NULL };
	json_t *creds = NULL, *cmd = NULL, *v;
	json_error_t jerr;
	const char *key;
	size_t i = 0;
	bool ok = false;

	memset(out, 0, sizeof(*out));
	if (!(out->root = load_object(body, len, "backup target", err)))
		return -1;
	if (json_unpack_ex(out->root, &jerr, JSON_STRICT, "{s:s, s:s, s?o, s?o}", "name",
			   &out->name, "url", &out->url, "sftp_command", &cmd, "credentials",
			   &creds) < 0)
		return nua_error_set(err, NUA_EINPUT, "bad backup target request: %s", jerr.text);
	if (cmd && !json_is_null(cmd) && !json_is_string(cmd))
		return nua_error_set(err, NUA_EINPUT,
				     "bad backup target request: 'sftp_command' must be a string");
	out->sftp_command = json_string_value(cmd);
	if (creds && json_is_null(creds))
		creds = NULL;
	if (!valid_name(out->name, 32))
		return nua_error_set(err, NUA_EINPUT,
				     "'%s' is not a target name: use [a-z0-9-], at most 32",
				     out->name);
	for (size_t k = 0; schemes[k]; k++)
		ok = ok || starts_with(out->url, schemes[k]);
	if (!(ok || out->url[0] == '/') || strpbrk(out->url, "\n\r") ||
	    strlen(out->url) > 1024)
		return nua_error_set(err, NUA_EINPUT,
				     "'%s' is not a repository: give an absolute path or a restic "
				     "URL (sftp:, s3:, rest:, b2:, azure:, gs:, swift:, rclone:)",
				     out->url);
	if (out->sftp_command &&
	    (!starts_with(out->url, "sftp:") || strpbrk(out->sftp_command, "\n\r") ||
	     strlen(out->sftp_command) > 1024))
		return nua_error_set(err, NUA_EINPUT,
				     "bad backup target request: an SFTP command is one line, for "
				     "an sftp: URL");
	if (creds && !json_is_object(creds))
		return nua_error_set(err, NUA_EINPUT,
				     "bad backup target request: 'credentials' must be {\"KEY\": "
				     "\"VALUE\"}");
	out->credentials = xcalloc(json_object_size(creds) + 1, sizeof(*out->credentials));
	json_object_foreach(creds, key, v) {
		if (!credential_key(key))
			return nua_error_set(err, NUA_EINPUT,
					     "'%s' is not a credential restic reads (AWS_*, B2_*, "
					     "AZURE_*, GOOGLE_*, OS_*, ST_*, RESTIC_REST_*, RCLONE_*, "
					     "RESTIC_PASSWORD)",
					     key);
		if (!json_is_string(v) || strchr(json_string_value(v), '\n'))
			return nua_error_set(err, NUA_EINPUT,
					     "bad backup target request: the value of '%s' must be "
					     "one line of text",
					     key);
		out->credentials[i++] = xasprintf("%s=%s", key, json_string_value(v));
	}
	return 0;
}

int api_parse_policy(const char *body, size_t len, struct api_policy *out,
		     struct nua_error **err)
{
	static const char *const keys[] = { "last", "daily", "weekly", "monthly" };
	bool *has[] = { &out->has_last, &out->has_daily, &out->has_weekly, &out->has_monthly };
	long long *val[] = { &out->last, &out->daily, &out->weekly, &out->monthly };
	json_t *root, *freq = NULL, *keep = NULL, *v;
	json_error_t jerr;
	const char *key;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (!(root = load_object(body, len, "backup policy", err)))
		return -1;
	if (json_unpack_ex(root, &jerr, JSON_STRICT, "{s?o, s?o}", "frequency", &freq, "keep",
			   &keep) < 0) {
		nua_error_set(err, NUA_EINPUT, "bad backup policy request: %s", jerr.text);
		goto out;
	}
	if (freq) {
		if (!json_is_integer(freq) || json_integer_value(freq) <= 0) {
			nua_error_set(err, NUA_EINPUT,
				      "bad backup policy request: 'frequency' must be seconds, > 0");
			goto out;
		}
		out->has_frequency = true;
		out->frequency = json_integer_value(freq);
	}
	if (keep && !json_is_object(keep)) {
		nua_error_set(err, NUA_EINPUT, "bad backup policy request: 'keep' must be an object");
		goto out;
	}
	json_object_foreach(keep, key, v) {
		size_t k;

		for (k = 0; k < ARRAY_SIZE(keys) && !streq(key, keys[k]); k++)
			;
		if (k == ARRAY_SIZE(keys) || !json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > 100000) {
			nua_error_set(err, NUA_EINPUT,
				      "bad backup policy request: 'keep' takes last, daily, weekly "
				      "and monthly, each a count >= 0");
			goto out;
		}
		*has[k] = true;
		*val[k] = json_integer_value(v);
	}
	ret = 0;
out:
	json_decref(root);
	return ret;
}

void api_recover_release(struct api_recover *r)
{
	json_decref(r->root);
	memset(r, 0, sizeof(*r));
}

int api_parse_recover(const char *body, size_t len, struct api_recover *out,
		      struct nua_error **err)
{
	json_error_t jerr;

	memset(out, 0, sizeof(*out));
	if (!(out->root = load_object(body, len, "restore", err)))
		return -1;
	if (json_unpack_ex(out->root, &jerr, JSON_STRICT, "{s:s, s?s}", "from", &out->from, "key",
			   &out->key) < 0)
		return nua_error_set(err, NUA_EINPUT, "bad restore request: %s", jerr.text);
	if (!valid_name(out->from, 32))
		return nua_error_set(err, NUA_EINPUT, "'%s' is not a backup target's name",
				     out->from);
	return 0;
}

void api_upgrade_release(struct api_upgrade *u)
{
	json_decref(u->root);
	memset(u, 0, sizeof(*u));
}

int api_parse_upgrade(const char *body, size_t len, struct api_upgrade *out,
		      struct nua_error **err)
{
	json_error_t jerr;
	int no_cache = 0;

	memset(out, 0, sizeof(*out));
	if (len == 0) {
		out->root = json_object();
		return 0;
	}
	if (!(out->root = load_object(body, len, "upgrade", err)))
		return -1;
	if (json_unpack_ex(out->root, &jerr, JSON_STRICT, "{s?s, s?b}", "source", &out->source,
			   "no_cache", &no_cache) < 0)
		return nua_error_set(err, NUA_EINPUT, "bad upgrade request: %s", jerr.text);
	out->no_cache = no_cache;
	if (out->source && out->source[0] != '/' && !strchr(out->source, ':'))
		return nua_error_set(err, NUA_EINPUT,
				     "'%s' is neither an absolute package directory nor an image "
				     "(ID:VERSION-RELEASE)",
				     out->source);
	return 0;
}

void api_import_release(struct api_import *i)
{
	json_decref(i->root);
	memset(i, 0, sizeof(*i));
}

int api_parse_import(const char *body, size_t len, struct api_import *out,
		     struct nua_error **err)
{
	json_error_t jerr;

	memset(out, 0, sizeof(*out));
	if (!(out->root = load_object(body, len, "import", err)))
		return -1;
	if (json_unpack_ex(out->root, &jerr, JSON_STRICT, "{s:s, s?s, s?s, s?s}", "path",
			   &out->path, "name", &out->name, "domain", &out->domain, "key",
			   &out->key) < 0)
		return nua_error_set(err, NUA_EINPUT, "bad import request: %s", jerr.text);
	if (out->path[0] != '/')
		return nua_error_set(err, NUA_EINPUT,
				     "'%s' is a relative path: give an absolute path", out->path);
	if (out->name && !valid_name(out->name, 40))
		return nua_error_set(err, NUA_EINPUT,
				     "'%s' is not an instance name: use [a-z0-9-], at most 40",
				     out->name);
	return 0;
}

void api_tls_release(struct api_tls *t)
{
	json_decref(t->root);
	memset(t, 0, sizeof(*t));
}

int api_parse_tls(const char *body, size_t len, enum api_tls_kind kind, struct api_tls *out,
		  struct nua_error **err)
{
	static const char *const what[] = { "TLS settings", "certificate", "renewal",
					    "HSTS",	    "domain",	   "domain" };
	json_error_t jerr;
	int hsts = 0, redirect = 0, r = -1;

	memset(out, 0, sizeof(*out));
	out->hsts = -1;
	if (!(out->root = load_object(body, len, what[kind], err)))
		return -1;
	switch (kind) {
	case API_TLS_CONFIG:
		r = json_unpack_ex(out->root, &jerr, JSON_STRICT, "{s?s, s?s, s?s, s?s}",
				   "directory", &out->directory, "email", &out->email, "ca_bundle",
				   &out->ca_bundle, "issuer", &out->issuer);
		break;
	case API_TLS_CERT:
		r = json_unpack_ex(out->root, &jerr, JSON_STRICT, "{s:s, s:s}", "cert", &out->cert,
				   "key", &out->key);
		break;
	case API_TLS_RENEW:
		r = json_unpack_ex(out->root, &jerr, JSON_STRICT, "{s:s}", "domain", &out->domain);
		break;
	case API_TLS_HSTS:
		r = json_unpack_ex(out->root, &jerr, JSON_STRICT, "{s:b}", "hsts", &hsts);
		out->hsts = hsts;
		break;
	case API_TLS_ALIAS:
		r = json_unpack_ex(out->root, &jerr, JSON_STRICT, "{s:s, s?b}", "domain",
				   &out->domain, "redirect", &redirect);
		out->redirect = redirect;
		break;
	case API_TLS_UNALIAS:
		r = json_unpack_ex(out->root, &jerr, JSON_STRICT, "{s:s}", "domain", &out->domain);
		break;
	case API_TLS_KINDS:
		BUG("api_parse_tls: kind %d", (int)kind);
	}
	if (r < 0)
		return nua_error_set(err, NUA_EINPUT, "bad %s request: %s", what[kind], jerr.text);
	return 0;
}

void api_user_release(struct api_user *u)
{
	json_decref(u->root);
	memset(u, 0, sizeof(*u));
}

int api_parse_user(const char *body, size_t len, enum api_user_kind kind, struct api_user *out,
		   struct nua_error **err)
{
	static const char *const what[] = { "user",  "user change", "group", "group member",
					    "token", "TOTP" };
	json_error_t jerr;
	json_int_t expires = 0;
	int r = -1;

	memset(out, 0, sizeof(*out));
	if (!(out->root = load_object(body, len, what[kind], err)))
		return -1;
	switch (kind) {
	case API_USER_ADD:
		r = json_unpack_ex(out->root, &jerr, JSON_STRICT, "{s:s, s:s, s?s, s?s}", "name",
				   &out->name, "password", &out->password, "role", &out->role,
				   "email", &out->email);
		break;
	case API_USER_PATCH:
		r = json_unpack_ex(out->root, &jerr, JSON_STRICT, "{s?s, s?s, s?s}", "password",
				   &out->password, "role", &out->role, "email", &out->email);
		if (r == 0 && !out->password && !out->role && !out->email)
			return nua_error_set(err, NUA_EINPUT,
					     "bad user change request: nothing to change "
					     "(password, role or email)");
		break;
	case API_GROUP_ADD:
		r = json_unpack_ex(out->root, &jerr, JSON_STRICT, "{s:s}", "name", &out->name);
		break;
	case API_GROUP_MEMBER:
		r = json_unpack_ex(out->root, &jerr, JSON_STRICT, "{s:s}", "user", &out->user);
		break;
	case API_TOKEN_CREATE:
		r = json_unpack_ex(out->root, &jerr, JSON_STRICT, "{s:s, s?s, s?s, s?I}", "name",
				   &out->name, "role", &out->role, "instance", &out->instance,
				   "expires_in", &expires);
		if (r == 0 && json_object_get(out->root, "expires_in") &&
		    (expires <= 0 || expires > 10LL * 366 * 86400))
			return nua_error_set(err, NUA_EINPUT,
					     "bad token request: expires_in must be seconds, "
					     "more than 0 and at most ten years");
		out->expires_in = expires;
		break;
	case API_USER_TOTP:
		r = json_unpack_ex(out->root, &jerr, JSON_STRICT, "{s?s, s?s}", "secret",
				   &out->secret, "code", &out->code);
		if (r == 0 && !out->secret != !out->code)
			return nua_error_set(err, NUA_EINPUT,
					     "bad TOTP request: give both the secret and a code, "
					     "or neither");
		break;
	case API_USER_KINDS:
		BUG("api_parse_user: kind %d", (int)kind);
	}
	if (r < 0)
		return nua_error_set(err, NUA_EINPUT, "bad %s request: %s", what[kind], jerr.text);
	return 0;
}

#define FORM_VALUE_MAX 4096

/* Decode n bytes of s ('+' a space, %XX a byte); NULL when malformed, too
 * long or holding a NUL. */
static char *form_decode(const char *s, size_t n)
{
	struct strbuf sb = STRBUF_INIT;

	if (n > 3 * FORM_VALUE_MAX)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi, lo;

			if (i + 2 >= n)
				goto bad;
			hi = hex_digit(s[i + 1]);
			lo = hex_digit(s[i + 2]);
			if (hi < 0 || lo < 0)
				goto bad;
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		if (c == '\0' || sb.len >= FORM_VALUE_MAX)
			goto bad;
		strbuf_addch(&sb, c);
	}
	return strbuf_detach(&sb, NULL);
bad:
	strbuf_release(&sb);
	return NULL;
}

char *api_form_value(const char *body, size_t len, const char *name)
{
	size_t nlen = strlen(name), i = 0;
	char *found = NULL;

	while (body && i < len) {
		size_t end = i, eq;

		while (end < len && body[end] != '&')
			end++;
		for (eq = i; eq < end && body[eq] != '='; eq++)
			;
		if (eq - i == nlen && memcmp(body + i, name, nlen) == 0) {
			if (found) {
				free(found);
				return NULL;
			}
			found = eq < end ? form_decode(body + eq + 1, end - eq - 1) : xstrdup("");
			if (!found)
				return NULL;
		}
		i = end + 1;
	}
	return found;
}

char *api_cookie_value(const char *header, const char *name)
{
	size_t nlen = strlen(name);
	const char *p = header;
	char *found = NULL;

	while (p && *p) {
		const char *end = strchr(p, ';'), *eq;

		if (!end)
			end = p + strlen(p);
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		eq = memchr(p, '=', (size_t)(end - p));
		if (eq && (size_t)(eq - p) == nlen && memcmp(p, name, nlen) == 0) {
			size_t vlen = (size_t)(end - eq - 1);

			while (vlen && (eq[vlen] == ' ' || eq[vlen] == '\t'))
				vlen--;
			if (found || vlen > FORM_VALUE_MAX) {
				free(found);
				return NULL;
			}
			found = xstrndup(eq + 1, vlen);
		}
		p = *end ? end + 1 : end;
	}
	return found;
}

void api_access_release(struct api_access *a)
{
	json_decref(a->root);
	memset(a, 0, sizeof(*a));
}

int api_parse_access(const char *body, size_t len, bool remove, struct api_access *out,
		     struct nua_error **err)
{
	json_error_t jerr;
	int priv = 0, r;

	memset(out, 0, sizeof(*out));
	if (!(out->root = load_object(body, len, "access rule", err)))
		return -1;
	r = remove ? json_unpack_ex(out->root, &jerr, JSON_STRICT, "{s?s}", "path", &out->path)
		   : json_unpack_ex(out->root, &jerr, JSON_STRICT, "{s?s, s:b, s?s}", "path",
				    &out->path, "private", &priv, "allow", &out->allow);
	if (r < 0)
		return nua_error_set(err, NUA_EINPUT, "bad access rule request: %s", jerr.text);
	out->private_ = priv;
	if (!out->path)
		out->path = "/";
	return 0;
}
