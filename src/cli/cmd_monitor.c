/* The verbs that watch the server: events (what happened to the
 * instances) and stats (what they use), from the daemon's API. */
#define _GNU_SOURCE
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cli.h"
#include "client.h"
#include "util.h"
#include "banned.h"

/* ---- events ---- */

/* One event as "TIME  INSTANCE  KIND  MESSAGE", or as one line of JSON. */
static void print_event(const json_t *ev, bool json)
{
	long long t = 0;
	char when[32] = "-";

	if (json) {
		char *s = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);

		printf("%s\n", s ? s : "null");
		free(s);
	} else {
		if (cli_json_int(ev, "time", &t))
			cli_format_time(t, false, "%Y-%m-%d %H:%M:%S", when, sizeof(when));
		printf("%s  %-16s  %-13s  %s\n", when, cli_json_str(ev, "instance", "-"),
		       cli_json_str(ev, "kind", "-"), cli_json_str(ev, "message", ""));
	}
	fflush(stdout);
}

static int on_event(const struct client_event *ev, void *arg)
{
	const bool *json = arg;
	json_t *j = json_loads(ev->data, 0, NULL);

	/* A keep-alive or an event of another shape is not an instance's. */
	if (json_is_object(j))
		print_event(j, *json);
	json_decref(j);
	return 0;
}

int cmd_events(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "since", required_argument, NULL, 's' },
		{ "follow", no_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd_struct *self = cli_find_command("events");
	_cleanup_error_ struct nua_error *err = NULL;
	_cleanup_free_ char *path = NULL;
	const char *since = NULL;
	bool follow = false, json = false;
	json_t *list = NULL, *ev;
	size_t i;
	int c;

	while ((c = cli_getopt(self, argc, argv, "f", longopts)) != -1) {
		switch (c) {
		case '?':
			return NUA_EINPUT;
		case 's': {
			char *end;
			long long id = strtoll(optarg, &end, 10);

			if (end == optarg || *end || id < 0)
				return cli_usage_error(
					self, "--since takes an event's id, not '%s'", optarg);
			since = optarg;
			break;
		}
		case 'f':
			follow = true;
			break;
		case 'j':
			json = true;
			break;
		}
	}
	if (optind < argc)
		return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
	path = xasprintf("/v1/events%s%s%s%s", since || follow ? "?" : "", since ? "since=" : "",
			 since ? since : "", follow ? (since ? "&follow=1" : "follow=1") : "");
	if (follow) {
		if (client_events(path, on_event, &json, &err) < 0)
			return nua_error_report(err);
		return 0;
	}
	if (client_call("GET", path, NULL, &list, &err) < 0)
		return nua_error_report(err);
	if (!json_is_array(list)) {
		json_decref(list);
		return cli_error(NUA_EFAIL, "the nua daemon did not answer 'GET %s' with a list",
				 path);
	}
	json_array_foreach(list, i, ev) {
		print_event(ev, json);
	}
	json_decref(list);
	return 0;
}

/* ---- stats ---- */

static void print_stats_row(const json_t *s)
{
	long long v;
	char mem[32] = "-", pids[32] = "-", restarts[32] = "-", health[32] = "-", cpus[32] = "-";
	const json_t *c = json_object_get(s, "cpu_percent");

	if (json_is_number(c))
		snprintf(cpus, sizeof(cpus), "%.2f", json_number_value(c));
	if (cli_json_int(s, "memory", &v))
		cli_human_size(v, mem, sizeof(mem));
	if (cli_json_int(s, "pids", &v))
		snprintf(pids, sizeof(pids), "%lld", v);
	if (cli_json_int(s, "restarts", &v))
		snprintf(restarts, sizeof(restarts), "%lld", v);
	if (cli_json_int(s, "health_ms", &v))
		snprintf(health, sizeof(health), "%lld ms", v);
	printf("%-20s %-6s %-9s %-5s %-9s %s\n", cli_json_str(s, "name", "?"), cpus, mem, pids,
	       restarts, health);
}

int cmd_stats(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd_struct *self = cli_find_command("stats");
	_cleanup_error_ struct nua_error *err = NULL;
	_cleanup_args_ struct cli_args pos = { 0 };
	_cleanup_free_ char *path = NULL;
	json_t *answer = NULL, *list, *s;
	bool json = false;
	size_t i;
	int c;

	while ((c = cli_getopt_args(self, argc, argv, "", longopts, &pos)) != -1) {
		if (c == '?')
			return NUA_EINPUT;
		json = true;
	}
	if (pos.n > 1)
		return cli_usage_error(self, "give one instance name, or none for all");
	path = pos.n ? client_instance_path(pos.v[0], "/stats") : xstrdup("/v1/stats");
	if (client_call("GET", path, NULL, &answer, &err) < 0)
		return nua_error_report(err);
	if (json) {
		cli_print_json(answer);
		return 0;
	}
	list = pos.n ? NULL : json_object_get(answer, "instances");
	if (pos.n ? !json_is_object(answer) : !json_is_array(list)) {
		json_decref(answer);
		return cli_error(NUA_EFAIL, "the nua daemon's answer to 'GET %s' is not stats",
				 path);
	}
	if (list && json_array_size(list) == 0) {
		json_decref(answer);
		fprintf(stderr, "no instances; deploy one with 'nua deploy DIR --domain DOMAIN'\n");
		return 0;
	}
	printf("%-20s %-6s %-9s %-5s %-9s %s\n", "NAME", "CPU%", "MEM", "PIDS", "RESTARTS",
	       "HEALTH-LATENCY");
	if (list) {
		json_array_foreach(list, i, s) {
			print_stats_row(s);
		}
	} else {
		print_stats_row(answer);
	}
	json_decref(answer);
	return 0;
}

/* ---- resources ---- */

/* nua resources dump|restore INSTANCE RESOURCE FILE */
static int resource_data(const struct cmd_struct *self, int argc, char **argv)
{
	_cleanup_error_ struct nua_error *err = NULL;
	_cleanup_free_ char *inst = NULL, *res = NULL, *path = NULL, *file = NULL;
	bool dump;
	json_t *body, *answer = NULL;

	if (!streq(argv[0], "dump") && !streq(argv[0], "restore"))
		return cli_usage_error(self, "'%s' is not dump or restore", argv[0]);
	if (argc != 4)
		return cli_usage_error(self, "%s takes INSTANCE RESOURCE FILE", argv[0]);
	dump = streq(argv[0], "dump");
	inst = client_escape(argv[1]);
	res = client_escape(argv[2]);
	file = cli_absolute_path(argv[3]);
	path = xasprintf("/v1/instances/%s/resources/%s/%s", inst, res, argv[0]);
	body = json_pack("{s:s}", "path", file);
	if (client_call("POST", path, body, &answer, &err) < 0) {
		json_decref(body);
		return nua_error_report(err);
	}
	json_decref(body);
	json_decref(answer);
	printf("%s %s of %s %s '%s'\n", dump ? "dumped" : "restored", argv[2], argv[1],
	       dump ? "to" : "from", file);
	return 0;
}

int cmd_resources(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd_struct *self = cli_find_command("resources");
	_cleanup_error_ struct nua_error *err = NULL;
	json_t *answer = NULL, *s, *u;
	bool json = false;
	size_t i, k;
	int c;

	while ((c = cli_getopt(self, argc, argv, "", longopts)) != -1) {
		if (c == '?')
			return NUA_EINPUT;
		json = true;
	}
	if (optind < argc)
		return resource_data(self, argc - optind, argv + optind);
	if (client_call("GET", "/v1/resources", NULL, &answer, &err) < 0)
		return nua_error_report(err);
	if (json) {
		cli_print_json(answer);
		return 0;
	}
	if (!json_is_array(answer) || json_array_size(answer) == 0) {
		json_decref(answer);
		fprintf(stderr, "no resource servers; a package with a [[resource]] starts one\n");
		return 0;
	}
	printf("%-16s %-10s %-10s %-10s %s\n", "SERVER", "TYPE", "STATE", "HEALTH", "USED BY");
	json_array_foreach(answer, i, s) {
		printf("%-16s %-10s %-10s %-10s ", cli_json_str(s, "name", "-"),
		       cli_json_str(s, "type", "-"), cli_json_str(s, "state", "-"),
		       cli_json_str(s, "health", "-"));
		json_array_foreach(json_object_get(s, "used_by"), k, u)
			printf("%s%s (%s)", k ? ", " : "", cli_json_str(u, "instance", "?"),
			       cli_json_str(u, "resource", "?"));
		printf("%s\n", json_array_size(json_object_get(s, "used_by")) ? "" : "-");
	}
	json_decref(answer);
	return 0;
}
