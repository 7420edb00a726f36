/* nua store: the applications of the store; nua install: one of them,
 * built and deployed in one command (docs/store.md). The daemon reads the
 * store (store.c); this asks it through the API. */
#define _GNU_SOURCE
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client.h"
#include "util.h"
#include "banned.h"

static void print_list(json_t *list)
{
	json_t *e, *t;
	size_t i, k;

	if (json_array_size(list) == 0) {
		fprintf(stderr, "no app of the store matches\n");
		return;
	}
	printf("%-16s %-14s %-28s %s\n", "APP", "VERSION", "NEEDS", "SUMMARY");
	json_array_foreach(list, i, e) {
		char needs[64] = "-";
		size_t off = 0;

		json_array_foreach(json_object_get(e, "resources"), k, t) {
			int n = snprintf(needs + off, sizeof(needs) - off, "%s%s", k ? "," : "",
					 json_string_value(t));

			if (n < 0 || (size_t)n >= sizeof(needs) - off)
				break;
			off += (size_t)n;
		}
		printf("%-16s %-14s %-28s %s\n", json_string_value(json_object_get(e, "id")),
		       json_string_value(json_object_get(e, "version")), needs,
		       cli_json_str(e, "summary", cli_json_str(e, "title", "")));
	}
}

int cmd_store(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd_struct *self = cli_find_command("store");
	_cleanup_args_ struct cli_args pos = { 0 };
	_cleanup_error_ struct nua_error *err = NULL;
	_cleanup_free_ char *path = NULL;
	json_t *out = NULL;
	bool json = false;
	int c;

	while ((c = cli_getopt_args(self, argc, argv, "", longopts, &pos)) != -1) {
		if (c == '?')
			return NUA_EINPUT;
		if (c == 'j')
			json = true;
	}
	if (pos.n > 1)
		return cli_usage_error(self, "give one search word at most");
	if (pos.n == 1) {
		_cleanup_free_ char *q = client_escape(pos.v[0]);

		path = xasprintf("/v1/store?q=%s", q);
	} else {
		path = xstrdup("/v1/store");
	}
	if (client_call("GET", path, NULL, &out, &err) < 0)
		return nua_error_report(err);
	if (json) {
		cli_print_json(out);
	} else {
		print_list(out);
		json_decref(out);
	}
	return 0;
}

/* The value of key in the instance's env, secrets opened. Caller frees. */
static char *env_value(const char *name, const char *key)
{
	_cleanup_free_ char *path = client_instance_path(name, "/env?show_secrets=1");
	json_t *env = NULL;
	char *v = NULL;

	/* {"KEY": {"value": V, "secret": B}, ...} */
	if (client_call("GET", path, NULL, &env, NULL) == 0 &&
	    json_string_value(json_object_get(json_object_get(env, key), "value")))
		v = xstrdup(json_string_value(json_object_get(json_object_get(env, key), "value")));
	json_decref(env);
	return v;
}

int cmd_install(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "domain", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd_struct *self = cli_find_command("install");
	_cleanup_args_ struct cli_args pos = { 0 };
	_cleanup_error_ struct nua_error *err = NULL;
	_cleanup_free_ char *esc = NULL, *path = NULL, *user = NULL, *password = NULL;
	const char *name = NULL, *domain = NULL, *user_key, *password_key;
	json_t *app = NULL, *body, *in = NULL, *had = NULL;
	bool json = false;
	int c, r;

	while ((c = cli_getopt_args(self, argc, argv, "n:d:", longopts, &pos)) != -1) {
		switch (c) {
		case '?':
			return NUA_EINPUT;
		case 'n':
			name = optarg;
			break;
		case 'd':
			domain = optarg;
			break;
		case 'j':
			json = true;
			break;
		}
	}
	if (pos.n != 1)
		return cli_usage_error(self, "give the app to install ('nua store' lists them)");
	esc = client_escape(pos.v[0]);
	path = xasprintf("/v1/store/%s", esc);
	if (client_call("GET", path, NULL, &app, &err) < 0)
		return nua_error_report(err);
	if (!name)
		name = json_string_value(json_object_get(app, "id"));
	/* An install makes a new instance: it never upgrades one by accident. */
	free(path);
	path = client_instance_path(name, "");
	if (client_call("GET", path, NULL, &had, NULL) == 0) {
		r = cli_error(NUA_EINPUT,
			      "an instance named '%s' exists already; give another with --name", name);
		json_decref(had);
		json_decref(app);
		return r;
	}
	body = json_pack("{s:s, s:s}", "source", json_string_value(json_object_get(app, "path")),
			 "name", name);
	if (domain)
		json_object_set_new(body, "domain", json_string(domain));
	r = client_call_progress("POST", "/v1/instances", body, &in, &err);
	json_decref(body);
	if (r < 0) {
		json_decref(app);
		return nua_error_report(err);
	}
	user_key = json_string_value(json_object_get(app, "admin_user_key"));
	password_key = json_string_value(json_object_get(app, "admin_password_key"));
	if (user_key)
		user = env_value(name, user_key);
	if (password_key)
		password = env_value(name, password_key);
	if (json) {
		json_t *o = json_pack("{s:s, s:s, s:O}", "app", json_string_value(json_object_get(app, "id")),
				      "name", name, "url", json_object_get(in, "url"));

		if (password_key)
			json_object_set_new(o, "admin",
					    json_pack("{s:s?, s:s?}", "user", user, "password", password));
		cli_print_json(o);
		json_decref(o);
	} else {
		printf("%s %s installed as %s: %s\n", json_string_value(json_object_get(app, "title")),
		       json_string_value(json_object_get(app, "version")), name,
		       cli_json_str(in, "url", "-"));
		if (user)
			printf("admin login:    %s\n", user);
		if (password)
			printf("admin password: %s\n"
			       "(shown once; 'nua env %s --show-secrets' shows it again)\n",
			       password, name);
	}
	json_decref(in);
	json_decref(app);
	return 0;
}
