/* The verbs that build, deploy and drive instances: build, deploy, ls,
 * status, logs, start, stop, restart, rm, env. Each is one or a few
 * requests to the daemon's API (docs/api.md); the daemon does the work and
 * owns the state. */
#define _GNU_SOURCE
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client.h"
#include "deploy_file.h"
#include "instance.h"
#include "strbuf.h"
#include "util.h"
#include "banned.h"

/* An instance's URL: the daemon's, or one made of its domain and path. */
static char *instance_url(const json_t *in)
{
	const char *url = cli_json_str(in, "url", NULL);

	if (url)
		return xstrdup(url);
	return xasprintf("http://%s%s", cli_json_str(in, "domain", "-"),
			 cli_json_str(in, "path", "/"));
}

/* ---- build ---- */

int cmd_build(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "no-cache", no_argument, NULL, 'N' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd_struct *self = cli_find_command("build");
	_cleanup_error_ struct nua_error *err = NULL;
	_cleanup_free_ char *dir = NULL;
	struct cli_args pos = { 0 };
	bool no_cache = false;
	json_t *body, *img = NULL;
	int c, r;

	while ((c = cli_getopt_args(self, argc, argv, "", longopts, &pos)) != -1) {
		if (c == '?') {
			free(pos.v);
			return NUA_EINPUT;
		}
		if (c == 'N')
			no_cache = true;
	}
	if (pos.n > 1) {
		free(pos.v);
		return cli_usage_error(self, "too many arguments");
	}
	dir = cli_absolute_path(pos.n ? pos.v[0] : ".");
	free(pos.v);
	if (client_is_remote()) {
		char *sent = NULL;

		if (client_upload(dir, &sent, &err) < 0)
			return nua_error_report(err);
		free(dir);
		dir = sent;
	}
	body = json_pack("{s:s, s:b}", "path", dir, "no_cache", no_cache);
	r = client_call_progress("POST", "/v1/images", body, &img, &err);
	json_decref(body);
	if (r < 0)
		return nua_error_report(err);
	printf("%s\n", cli_json_str(img, "ref", "?"));
	json_decref(img);
	return 0;
}

/* ---- deploy ---- */

/* What to send as a deploy's source: a package directory as an absolute
 * path (the daemon does not share our current directory), or where a
 * remote server put it once uploaded; an image reference as it is. NULL
 * with *err when the upload fails. */
static char *deploy_source(const char *s, struct nua_error **err)
{
	char *dir, *sent = NULL;

	if (!(strchr(s, '/') || streq(s, ".") || streq(s, "..") || is_dir(s)))
		return xstrdup(s);
	dir = cli_absolute_path(s);
	if (!client_is_remote())
		return dir;
	if (client_upload(dir, &sent, err) < 0)
		sent = NULL;
	free(dir);
	return sent;
}

/* POST one deploy and print the instance's URL. */
static int deploy_one(const char *source, const char *name, const char *domain,
		      char *const *env, char *const *res, bool no_cache, struct nua_error **err)
{
	_cleanup_free_ char *src = deploy_source(source, err);
	_cleanup_free_ char *url = NULL;
	json_t *body, *vars, *in = NULL;
	int r;

	if (!src)
		return -1;
	vars = json_array();

	for (size_t i = 0; env && env[i]; i++)
		json_array_append_new(vars, json_string(env[i]));
	body = json_pack("{s:s, s:o, s:b}", "source", src, "env", vars, "no_cache", no_cache);
	/* Left out when not given: the daemon's defaults apply. */
	if (name)
		json_object_set_new(body, "name", json_string(name));
	if (domain)
		json_object_set_new(body, "domain", json_string(domain));
	if (res && res[0]) {
		json_t *o = json_object();

		for (size_t i = 0; res[i]; i++) {
			const char *eq = strchr(res[i], '=');
			_cleanup_free_ char *k = NULL;

			if (!eq || eq == res[i]) {
				json_decref(o);
				json_decref(body);
				return nua_error_set(err, NUA_EINPUT,
						     "--resource takes NAME=URL, not '%s'", res[i]);
			}
			k = xstrndup(res[i], (size_t)(eq - res[i]));
			json_object_set_new(o, k, json_string(eq + 1));
		}
		json_object_set_new(body, "resources", o);
	}
	r = client_call_progress("POST", "/v1/instances", body, &in, err);
	json_decref(body);
	if (r < 0)
		return -1;
	url = instance_url(in);
	printf("%s\n", url);
	fflush(stdout);
	json_decref(in);
	return 0;
}

/* deploy -f FILE: each [[site]] an instance, in order; the first failure
 * stops there (the sites deployed before it stay). */
static int deploy_file(const char *file, bool no_cache)
{
	_cleanup_free_ char *data = NULL;
	struct diag_list diags = DIAG_LIST_INIT;
	struct deploy_file df;
	size_t len;
	int r;

	if ((r = read_file(file, &data, &len)) < 0)
		return cli_error(NUA_EINPUT, "cannot read '%s': %s", file, strerror(-r));
	if (deploy_file_parse(file, data, len, &df, &diags) < 0) {
		diag_list_print(&diags, stderr);
		diag_list_release(&diags);
		return NUA_EINPUT;
	}
	for (size_t i = 0; i < df.n; i++) {
		const struct deploy_site *s = &df.sites[i];
		_cleanup_error_ struct nua_error *err = NULL;

		if (deploy_one(s->image, s->label, s->domain, s->env, NULL, no_cache, &err) < 0) {
			nua_error_prefix(&err, "%s:%d: site %zu of %zu", file, s->line, i + 1,
					 df.n);
			deploy_file_release(&df);
			return nua_error_report(err);
		}
	}
	deploy_file_release(&df);
	return 0;
}

int cmd_deploy(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "domain", required_argument, NULL, 'd' },
		{ "env", required_argument, NULL, 'e' },
		{ "file", required_argument, NULL, 'f' },
		{ "no-cache", no_argument, NULL, 'N' },
		{ "resource", required_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd_struct *self = cli_find_command("deploy");
	_cleanup_error_ struct nua_error *err = NULL;
	struct cli_args pos = { 0 }, env = { 0 }, res = { 0 };
	const char *file = NULL, *name = NULL, *domain = NULL;
	bool no_cache = false;
	int c, r;

	while ((c = cli_getopt_args(self, argc, argv, "n:d:e:f:", longopts, &pos)) != -1) {
		switch (c) {
		case '?':
			r = NUA_EINPUT;
			goto out;
		case 'n':
			name = optarg;
			break;
		case 'd':
			domain = optarg;
			break;
		case 'e':
			ALLOC_GROW(env.v, env.n + 2, env.alloc);
			env.v[env.n++] = optarg;
			env.v[env.n] = NULL;
			break;
		case 'f':
			file = optarg;
			break;
		case 'N':
			no_cache = true;
			break;
		case 'R':
			ALLOC_GROW(res.v, res.n + 2, res.alloc);
			res.v[res.n++] = optarg;
			res.v[res.n] = NULL;
			break;
		}
	}
	if (file ? pos.n != 0 : pos.n != 1) {
		r = cli_usage_error(self, file ? "give either -f FILE or a package or image"
					       : "give one package directory or image");
		goto out;
	}
	if (file)
		r = deploy_file(file, no_cache);
	else if (deploy_one(pos.v[0], name, domain, env.v, res.v, no_cache, &err) < 0)
		r = nua_error_report(err);
	else
		r = 0;
out:
	free(pos.v);
	free(env.v);
	free(res.v);
	return r;
}

/* ---- ls, status ---- */

int cmd_ls(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "names", no_argument, NULL, 'N' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd_struct *self = cli_find_command("ls");
	_cleanup_error_ struct nua_error *err = NULL;
	bool json = false, names = false;
	json_t *list = NULL, *in;
	size_t i;
	int c;

	while ((c = cli_getopt(self, argc, argv, "", longopts)) != -1) {
		if (c == '?')
			return NUA_EINPUT;
		if (c == 'j')
			json = true;
		if (c == 'N')
			names = true;
	}
	if (optind < argc)
		return cli_usage_error(self, "too many arguments");
	if (client_call("GET", "/v1/instances", NULL, &list, &err) < 0)
		return nua_error_report(err);
	if (!json_is_array(list)) {
		json_decref(list);
		return cli_error(NUA_EFAIL,
				 "the nua daemon did not answer 'GET /v1/instances' with a list");
	}
	if (json) {
		cli_print_json(list);
		return 0;
	}
	if (names) {
		json_array_foreach(list, i, in) {
			printf("%s\n", cli_json_str(in, "name", "?"));
		}
	} else if (json_array_size(list) == 0) {
		fprintf(stderr, "no instances; deploy one with 'nua deploy DIR --domain DOMAIN'\n");
	} else {
		printf("%-20s %-28s %-10s %-8s %s\n", "NAME", "IMAGE", "STATE", "UPTIME", "URL");
		json_array_foreach(list, i, in) {
			_cleanup_free_ char *url = instance_url(in);
			long long up = -1;
			char age[32];

			cli_json_int(in, "uptime", &up);
			cli_duration(up, age, sizeof(age));
			printf("%-20s %-28s %-10s %-8s %s\n", cli_json_str(in, "name", "?"),
			       cli_json_str(in, "image", "-"), cli_json_str(in, "state", "unknown"),
			       age, url);
		}
		/* New versions in the store, under the table. */
		json_array_foreach(list, i, in) {
			const char *up = cli_json_str(in, "upgrade_available", NULL);

			if (up)
				printf("%s: %s is in the store; 'nua upgrade %s' takes it\n",
				       cli_json_str(in, "name", "?"), up, cli_json_str(in, "name", "?"));
		}
	}
	json_decref(list);
	return 0;
}

/* One line of an app's log as a person reads it: the app's text, after
 * the time it was written when ts. */
static void print_log_line(const char *line, bool ts, const char *indent)
{
	const char *text = instance_log_text(line);
	const char *sp = strchr(line, ' ');

	if (ts && sp && sp < text)
		printf("%s%.*s %s\n", indent, (int)(sp - line), line, text);
	else
		printf("%s%s\n", indent, text);
}

/* Every line of text (modified: lines are cut at their newlines). */
static void print_log_lines(char *text, bool ts, const char *indent)
{
	for (char *line = text, *nl; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		print_log_line(line, ts, indent);
		if (!nl)
			break;
	}
	fflush(stdout);
}

static void print_status(const json_t *in)
{
	const char *name = cli_json_str(in, "name", "?");
	_cleanup_free_ char *url = instance_url(in);
	long long v, gen, up = -1, n_env = 0;
	const json_t *log = json_object_get(in, "log"), *line;
	char age[32];
	size_t i;

	printf("name:     %s\n", name);
	printf("image:    %s", cli_json_str(in, "image", "-"));
	if (cli_json_int(in, "generation", &gen))
		printf(" (generation %lld)", gen);
	printf("\n");
	if (cli_json_str(in, "upgrade_available", NULL))
		printf("upgrade:  %s is in the store ('nua upgrade %s')\n",
		       cli_json_str(in, "upgrade_available", NULL), name);
	printf("url:      %s\n", url);
	json_array_foreach(json_object_get(in, "aliases"), i, line)
		printf("%s %s%s\n", i ? "         " : "aliases: ", cli_json_str(line, "url", "-"),
		       json_is_true(json_object_get(line, "redirect")) ? " (redirects)" : "");
	printf("state:    %s (wanted: %s)\n", cli_json_str(in, "state", "unknown"),
	       cli_json_str(in, "desired", "-"));
	printf("health:   %s\n", cli_json_str(in, "health", "unknown"));
	if (cli_json_int(in, "pid", &v))
		printf("pid:      %lld\n", v);
	if (cli_json_str(in, "ip", NULL))
		printf("address:  %s\n", cli_json_str(in, "ip", NULL));
	cli_json_int(in, "uptime", &up);
	cli_duration(up, age, sizeof(age));
	printf("uptime:   %s\n", age);
	if (cli_json_int(in, "restarts", &v)) {
		printf("restarts: %lld", v);
		if (cli_json_int(in, "last_exit", &v))
			printf(" (last exit status %lld)", v);
		fputc('\n', stdout);
	}
	if (cli_json_int(in, "exit_code", &v))
		printf("exit:     %lld%s\n", v,
		       json_is_true(json_object_get(in, "oom_killed")) ? " (killed: out of memory)"
								       : "");
	cli_json_int(in, "env_count", &n_env);
	printf("env:      %lld variables ('nua env %s')\n", n_env, name);
	printf("last lines of the log:\n");
	json_array_foreach(log, i, line) {
		if (json_is_string(line))
			print_log_line(json_string_value(line), false, "  ");
	}
}

int cmd_status(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd_struct *self = cli_find_command("status");
	_cleanup_error_ struct nua_error *err = NULL;
	_cleanup_args_ struct cli_args pos = { 0 };
	_cleanup_free_ char *path = NULL;
	bool json = false;
	json_t *in = NULL;
	int c;

	while ((c = cli_getopt_args(self, argc, argv, "", longopts, &pos)) != -1) {
		if (c == '?')
			return NUA_EINPUT;
		json = true;
	}
	if (pos.n != 1)
		return cli_usage_error(self, "give one instance name");
	path = client_instance_path(pos.v[0], "");
	if (client_call("GET", path, NULL, &in, &err) < 0)
		return nua_error_report(err);
	if (json) {
		cli_print_json(in);
		return 0;
	}
	print_status(in);
	json_decref(in);
	return 0;
}

/* ---- logs ---- */

static int on_log_event(const struct client_event *ev, void *arg)
{
	const bool *ts = arg;

	if (!*ev->event || streq(ev->event, "log")) {
		print_log_line(ev->data, *ts, "");
		fflush(stdout);
	}
	return 0;
}

int cmd_logs(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "lines", required_argument, NULL, 'n' },
		{ "timestamps", no_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd_struct *self = cli_find_command("logs");
	_cleanup_error_ struct nua_error *err = NULL;
	_cleanup_args_ struct cli_args pos = { 0 };
	_cleanup_free_ char *path = NULL, *query = NULL, *text = NULL;
	bool follow = false, ts = false;
	long lines = 100;
	char *end;
	int c;

	while ((c = cli_getopt_args(self, argc, argv, "fn:t", longopts, &pos)) != -1) {
		switch (c) {
		case '?':
			return NUA_EINPUT;
		case 'f':
			follow = true;
			break;
		case 't':
			ts = true;
			break;
		case 'n':
			lines = strtol(optarg, &end, 10);
			if (*end || lines < 0 || end == optarg)
				return cli_usage_error(self, "-n takes a number of lines, not '%s'",
						       optarg);
			break;
		}
	}
	if (pos.n != 1)
		return cli_usage_error(self, "give one instance name");
	query = xasprintf("/logs?tail=%ld%s", lines, follow ? "&follow=1" : "");
	path = client_instance_path(pos.v[0], query);
	if (follow) {
		if (client_events(path, on_log_event, &ts, &err) < 0)
			return nua_error_report(err);
		return 0;
	}
	if (client_get_text(path, &text, NULL, &err) < 0)
		return nua_error_report(err);
	print_log_lines(text, ts, "");
	return 0;
}

/* ---- start, stop, restart, rm ---- */

static int one_instance_verb(const char *verb, int argc, char **argv, const char *done)
{
	const struct cmd_struct *self = cli_find_command(verb);
	_cleanup_error_ struct nua_error *err = NULL;
	_cleanup_free_ char *suffix = NULL, *path = NULL;
	int c;

	while ((c = cli_getopt(self, argc, argv, "", NULL)) != -1)
		if (c == '?')
			return NUA_EINPUT;
	if (argc - optind != 1)
		return cli_usage_error(self, "give one instance name");
	suffix = xasprintf("/%s", verb);
	path = client_instance_path(argv[optind], suffix);
	if (client_call("POST", path, NULL, NULL, &err) < 0)
		return nua_error_report(err);
	fprintf(stderr, "%s %s\n", argv[optind], done);
	return 0;
}

int cmd_start(int argc, char **argv)
{
	return one_instance_verb("start", argc, argv, "started");
}

int cmd_stop(int argc, char **argv)
{
	return one_instance_verb("stop", argc, argv, "stopped");
}

int cmd_restart(int argc, char **argv)
{
	return one_instance_verb("restart", argc, argv, "restarted");
}

int cmd_rm(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "purge", no_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd_struct *self = cli_find_command("rm");
	_cleanup_error_ struct nua_error *err = NULL;
	_cleanup_args_ struct cli_args pos = { 0 };
	_cleanup_free_ char *path = NULL;
	bool purge = false;
	int c;

	while ((c = cli_getopt_args(self, argc, argv, "", longopts, &pos)) != -1) {
		if (c == '?')
			return NUA_EINPUT;
		purge = true;
	}
	if (pos.n != 1)
		return cli_usage_error(self, "give one instance name");
	path = client_instance_path(pos.v[0], purge ? "?purge=1" : "");
	if (client_call("DELETE", path, NULL, NULL, &err) < 0)
		return nua_error_report(err);
	fprintf(stderr, "%s removed%s\n", pos.v[0],
		purge ? " with its volumes" : "; its volumes are kept (--purge removes them)");
	return 0;
}

/* ---- env ---- */

/* PATCH the instance's env with set ("KEY=VALUE") and unset (keys). */
static int env_change(const char *name, struct cli_args *set, struct cli_args *unset)
{
	_cleanup_error_ struct nua_error *err = NULL;
	_cleanup_free_ char *path = client_instance_path(name, "/env");
	json_t *s = json_object(), *u = json_array(), *body, *in = NULL;
	long long gen;
	int r;

	for (size_t i = 0; i < set->n; i++) {
		const char *eq = strchr(set->v[i], '=');
		_cleanup_free_ char *key = xstrndup(set->v[i], (size_t)(eq - set->v[i]));

		json_object_set_new(s, key, json_string(eq + 1));
	}
	for (size_t i = 0; i < unset->n; i++)
		json_array_append_new(u, json_string(unset->v[i]));
	body = json_pack("{s:o, s:o}", "set", s, "unset", u);
	r = client_call("PATCH", path, body, &in, &err);
	json_decref(body);
	if (r < 0)
		return nua_error_report(err);
	if (streq(cli_json_str(in, "desired", ""), "running") &&
	    cli_json_int(in, "generation", &gen))
		fprintf(stderr, "%s runs with its new environment (generation %lld)\n", name, gen);
	json_decref(in);
	return 0;
}

/* Print the env as KEY=VALUE lines or as a JSON object of strings, the
 * secrets' values hidden unless the daemon gave them. */
static void env_print(json_t *env, bool json)
{
	json_t *out = json_object(), *e;
	const char *key;

	json_object_foreach(env, key, e) {
		const json_t *v = json_object_get(e, "value");
		const char *value = json_is_string(v) ? json_string_value(v) : "";

		if (json_is_true(json_object_get(e, "secret")) && !json_is_string(v))
			value = "(secret; --show-secrets shows it)";
		if (json)
			json_object_set_new(out, key, json_string(value));
		else
			printf("%s=%s\n", key, value);
	}
	if (json)
		cli_print_json(out);
	else
		json_decref(out);
}

int cmd_env(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "unset", required_argument, NULL, 'u' },
		{ "show-secrets", no_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd_struct *self = cli_find_command("env");
	_cleanup_error_ struct nua_error *err = NULL;
	struct cli_args pos = { 0 }, set = { 0 }, unset = { 0 };
	bool show = false, json = false;
	json_t *env = NULL;
	int c, r;

	while ((c = cli_getopt_args(self, argc, argv, "u:", longopts, &pos)) != -1) {
		switch (c) {
		case '?':
			r = NUA_EINPUT;
			goto out;
		case 'u':
			ALLOC_GROW(unset.v, unset.n + 1, unset.alloc);
			unset.v[unset.n++] = optarg;
			break;
		case 's':
			show = true;
			break;
		case 'j':
			json = true;
			break;
		}
	}
	if (pos.n < 1) {
		r = cli_usage_error(self, "give an instance name");
		goto out;
	}
	for (size_t i = 1; i < pos.n; i++) {
		if (!strchr(pos.v[i], '=')) {
			r = cli_usage_error(self, "'%s' is not KEY=VALUE (use -u KEY to unset)",
					    pos.v[i]);
			goto out;
		}
		ALLOC_GROW(set.v, set.n + 1, set.alloc);
		set.v[set.n++] = pos.v[i];
	}
	if (set.n || unset.n) {
		r = env_change(pos.v[0], &set, &unset);
	} else {
		_cleanup_free_ char *path =
			client_instance_path(pos.v[0], show ? "/env?show_secrets=1" : "/env");

		if (client_call("GET", path, NULL, &env, &err) < 0) {
			r = nua_error_report(err);
			goto out;
		}
		env_print(env, json);
		json_decref(env);
		r = 0;
	}
out:
	free(pos.v);
	free(set.v);
	free(unset.v);
	return r;
}
