/* The verbs of backups and what relies on them: backup (key, target,
 * policy), backups, restore, upgrade, rollback, export, import. The daemon runs restic;
 * these ask it through the API (docs/api.md). */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "config.h"
#include "strbuf.h"
#include "util.h"
#include "banned.h"

static int backup_one(const char *name, bool json)
{
	_cleanup_error_ struct nua_error *err = NULL;
	_cleanup_free_ char *path = client_instance_path(name, "/backup");
	json_t *body = json_object(), *out = NULL;
	int r;

	r = client_call_progress("POST", path, body, &out, &err);
	json_decref(body);
	if (r < 0)
		return nua_error_report(err);
	if (json)
		cli_print_json(json_pack("{s:s, s:O}", "instance", name, "snapshot",
					 json_object_get(out, "snapshot")));
	else
		printf("%s: snapshot %.8s\n", name, cli_json_str(out, "snapshot", "?"));
	json_decref(out);
	return 0;
}

static int backup_key(void)
{
	_cleanup_error_ struct nua_error *err = NULL;
	json_t *out = NULL;

	if (client_call("GET", "/v1/backup/key", NULL, &out, &err) < 0)
		return nua_error_report(err);
	fputs(cli_json_str(out, "key", ""), stdout);
	json_decref(out);
	return 0;
}

/* KEY=VALUE lines from standard input (blank lines and # comments
 * skipped) into o. */
static int read_credentials(json_t *o)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int n = 0;

	while ((len = getline(&line, &cap, stdin)) >= 0) {
		char *eq;

		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (!len || line[0] == '#')
			continue;
		if (!(eq = strchr(line, '='))) {
			explicit_bzero(line, cap);
			free(line);
			return cli_error(NUA_EINPUT, "line %d of the credentials is not KEY=VALUE",
					 n + 1);
		}
		*eq = '\0';
		json_object_set_new(o, line, json_string(eq + 1));
		n++;
	}
	if (line)
		explicit_bzero(line, cap);
	free(line);
	return 0;
}

static int targets_print(json_t *list, bool json)
{
	json_t *t, *k;
	size_t i, j;

	if (json) {
		cli_print_json(list);
		return 0;
	}
	printf("%-12s %-48s %s\n", "NAME", "REPOSITORY", "CREDENTIALS");
	json_array_foreach(list, i, t) {
		struct strbuf keys = STRBUF_INIT;

		json_array_foreach(json_object_get(t, "credentials"), j, k)
			strbuf_addf(&keys, "%s%s", keys.len ? ", " : "", json_string_value(k));
		printf("%-12s %-48s %s\n", cli_json_str(t, "name", "?"),
		       cli_json_str(t, "url", "?"), keys.len ? keys.buf : "-");
		strbuf_release(&keys);
	}
	json_decref(list);
	return 0;
}

static int backup_target(const struct cmd_struct *self, struct cli_args *pos, bool json,
			 const char *sftp_command, bool credentials)
{
	_cleanup_error_ struct nua_error *err = NULL;
	const char *verb = pos->n > 1 ? pos->v[1] : "ls";
	json_t *out = NULL;

	if (streq(verb, "ls") && pos->n <= 2) {
		if (client_call("GET", "/v1/backup/targets", NULL, &out, &err) < 0)
			return nua_error_report(err);
		return targets_print(out, json);
	}
	if (streq(verb, "add") && pos->n == 4) {
		json_t *body = json_pack("{s:s, s:s, s:s*}", "name", pos->v[2], "url", pos->v[3],
					 "sftp_command", sftp_command);
		int r;

		if (credentials) {
			json_t *c = json_object();

			if ((r = read_credentials(c)) != 0) {
				json_decref(c);
				json_decref(body);
				return r;
			}
			json_object_set_new(body, "credentials", c);
		}
		r = client_call("POST", "/v1/backup/targets", body, &out, &err);
		json_decref(body);
		if (r < 0)
			return nua_error_report(err);
		fprintf(stderr, "backup target %s added; every backup now goes there too\n",
			pos->v[2]);
		return targets_print(out, json);
	}
	if (streq(verb, "rm") && pos->n == 3) {
		_cleanup_free_ char *esc = client_escape(pos->v[2]);
		_cleanup_free_ char *path = xasprintf("/v1/backup/targets/%s", esc);

		if (client_call("DELETE", path, NULL, &out, &err) < 0)
			return nua_error_report(err);
		fprintf(stderr, "backup target %s removed; its repository is left as it is\n",
			pos->v[2]);
		json_decref(out);
		return 0;
	}
	return cli_usage_error(self, "nua backup target [ls] | add NAME URL | rm NAME");
}

struct policy_opts {
	const char *frequency;
	const char *keep[4]; /* last, daily, weekly, monthly */
};

static int backup_policy(const struct cmd_struct *self, const struct policy_opts *o, bool json)
{
	static const char *const names[] = { "last", "daily", "weekly", "monthly" };
	_cleanup_error_ struct nua_error *err = NULL;
	json_t *body = json_object(), *keep = json_object(), *out = NULL;
	int r;

	if (o->frequency) {
		int64_t secs;

		if (config_parse_duration(o->frequency, &secs) < 0 || secs <= 0) {
			json_decref(body);
			json_decref(keep);
			return cli_usage_error(self, "'%s' is not a duration (24h, 6h, 30m...)",
					       o->frequency);
		}
		json_object_set_new(body, "frequency", json_integer(secs));
	}
	for (size_t i = 0; i < 4; i++) {
		char *end;
		long v;

		if (!o->keep[i])
			continue;
		v = strtol(o->keep[i], &end, 10);
		if (*end || end == o->keep[i] || v < 0) {
			json_decref(body);
			json_decref(keep);
			return cli_usage_error(self, "--keep-%s takes a count, not '%s'", names[i],
					       o->keep[i]);
		}
		json_object_set_new(keep, names[i], json_integer(v));
	}
	if (json_object_size(keep))
		json_object_set_new(body, "keep", keep);
	else
		json_decref(keep);
	r = json_object_size(body) ? client_call("PATCH", "/v1/backup/policy", body, &out, &err)
				   : client_call("GET", "/v1/backup/policy", NULL, &out, &err);
	json_decref(body);
	if (r < 0)
		return nua_error_report(err);
	if (json) {
		cli_print_json(out);
		return 0;
	}
	{
		long long f = 0, v;
		char dur[32];
		json_t *k = json_object_get(out, "keep");

		cli_json_int(out, "frequency", &f);
		cli_duration(f, dur, sizeof(dur));
		printf("backups every %s (unless a package sets its own [backup] frequency)\n",
		       dur);
		printf("keep per instance:");
		for (size_t i = 0; i < 4; i++)
			if (cli_json_int(k, names[i], &v) && v > 0)
				printf(" %s %lld", names[i], v);
		printf("\n");
	}
	json_decref(out);
	return 0;
}

int cmd_backup(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ "sftp-command", required_argument, NULL, 's' },
		{ "credentials", no_argument, NULL, 'c' },
		{ "frequency", required_argument, NULL, 'f' },
		{ "keep-last", required_argument, NULL, '0' },
		{ "keep-daily", required_argument, NULL, '1' },
		{ "keep-weekly", required_argument, NULL, '2' },
		{ "keep-monthly", required_argument, NULL, '3' },
		{ NULL, 0, NULL, 0 },
	};
	struct policy_opts po = { 0 };
	const char *sftp_command = NULL;
	bool credentials = false;
	const struct cmd_struct *self = cli_find_command("backup");
	_cleanup_args_ struct cli_args pos = { 0 };
	_cleanup_error_ struct nua_error *err = NULL;
	bool all = false, json = false;
	json_t *list = NULL, *in;
	size_t i;
	int c, failed = 0;

	while ((c = cli_getopt_args(self, argc, argv, "", longopts, &pos)) != -1) {
		if (c == '?')
			return NUA_EINPUT;
		if (c == 'a')
			all = true;
		if (c == 'j')
			json = true;
		if (c == 's')
			sftp_command = optarg;
		if (c == 'c')
			credentials = true;
		if (c == 'f')
			po.frequency = optarg;
		if (c >= '0' && c <= '3')
			po.keep[c - '0'] = optarg;
	}
	if (pos.n == 1 && streq(pos.v[0], "policy") && !all)
		return backup_policy(self, &po, json);
	if (pos.n == 1 && streq(pos.v[0], "key") && !all)
		return backup_key();
	if (pos.n == 1 && streq(pos.v[0], "check") && !all) {
		json_t *body = json_object(), *out = NULL;
		int r = client_call_progress("POST", "/v1/backup/check", body, &out, &err);

		json_decref(body);
		json_decref(out);
		return r < 0 ? nua_error_report(err) : 0;
	}
	if (pos.n >= 1 && streq(pos.v[0], "target") && !all)
		return backup_target(self, &pos, json, sftp_command, credentials);
	if (all ? pos.n != 0 : pos.n != 1)
		return cli_usage_error(self, "give one instance name, or --all");
	if (!all)
		return backup_one(pos.v[0], json);
	if (client_call("GET", "/v1/instances", NULL, &list, &err) < 0)
		return nua_error_report(err);
	json_array_foreach(list, i, in) {
		const char *name = cli_json_str(in, "name", NULL);

		/* Resource servers are in every backup of the instances they
		 * serve, as dumps. */
		if (!name || starts_with(name, "nua-"))
			continue;
		if (backup_one(name, json) != 0)
			failed++;
	}
	json_decref(list);
	return failed ? NUA_EFAIL : 0;
}

int cmd_backups(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd_struct *self = cli_find_command("backups");
	_cleanup_args_ struct cli_args pos = { 0 };
	_cleanup_error_ struct nua_error *err = NULL;
	_cleanup_free_ char *path = NULL;
	json_t *list = NULL, *s, *v;
	bool json = false;
	size_t i, k;
	int c;

	while ((c = cli_getopt_args(self, argc, argv, "", longopts, &pos)) != -1) {
		if (c == '?')
			return NUA_EINPUT;
		json = true;
	}
	if (pos.n > 1)
		return cli_usage_error(self, "give at most one instance name");
	if (pos.n == 1) {
		_cleanup_free_ char *esc = client_escape(pos.v[0]);

		path = xasprintf("/v1/backups?instance=%s", esc);
	} else {
		path = xstrdup("/v1/backups");
	}
	if (client_call("GET", path, NULL, &list, &err) < 0)
		return nua_error_report(err);
	json_array_foreach(list, i, s) {
		if (json_object_get(s, "error"))
			fprintf(stderr, "warning: backup target %s cannot be read: %s\n",
				cli_json_str(s, "target", "?"), cli_json_str(s, "error", "?"));
	}
	if (json) {
		cli_print_json(list);
		return 0;
	}
	if (json_array_size(list) == 0) {
		fprintf(stderr, "no backups%s%s; 'nua backup NAME' takes one\n",
			pos.n ? " of " : "", pos.n ? pos.v[0] : "");
		json_decref(list);
		return 0;
	}
	printf("%-9s %-19s %-16s %-8s %-8s %9s  %-24s %s\n", "ID", "TIME", "INSTANCE", "KIND",
	       "TARGET", "SIZE", "IMAGE", "HOLDS");
	json_array_foreach(list, i, s) {
		char when[32], size[32] = "-";
		long long t = 0, bytes;
		struct strbuf holds = STRBUF_INIT;

		if (json_object_get(s, "error"))
			continue;
		cli_json_int(s, "time", &t);
		cli_format_time(t, false, "%Y-%m-%d %H:%M:%S", when, sizeof(when));
		if (cli_json_int(s, "bytes", &bytes))
			cli_human_size(bytes, size, sizeof(size));
		json_array_foreach(json_object_get(s, "volumes"), k, v)
			strbuf_addf(&holds, "%svolume %s", holds.len ? ", " : "",
				    json_string_value(v));
		json_array_foreach(json_object_get(s, "resources"), k, v)
			strbuf_addf(&holds, "%sdatabase %s", holds.len ? ", " : "",
				    json_string_value(v));
		printf("%-9s %-19s %-16s %-8s %-8s %9s  %-24s %s\n",
		       cli_json_str(s, "short_id", "?"), when, cli_json_str(s, "instance", "?"),
		       cli_json_str(s, "kind", "-"), cli_json_str(s, "target", "-"), size,
		       cli_json_str(s, "image", "-"), holds.len ? holds.buf : "image and record");
		strbuf_release(&holds);
	}
	json_decref(list);
	return 0;
}

/* The text of a recovery key: the file path, or standard input for "-". */
static int read_key(const char *path, struct strbuf *out)
{
	FILE *f = streq(path, "-") ? stdin : fopen(path, "r");
	char buf[4096];
	size_t got;

	if (!f)
		return cli_error(NUA_EINPUT, "cannot read '%s': %s", path, strerror(errno));
	while ((got = fread(buf, 1, sizeof(buf), f)) > 0)
		strbuf_add(out, buf, got);
	if (f != stdin)
		fclose(f);
	explicit_bzero(buf, sizeof(buf));
	return 0;
}

static int restore_all(const char *from, const char *key_path, bool json)
{
	_cleanup_error_ struct nua_error *err = NULL;
	struct strbuf key = STRBUF_INIT;
	json_t *body, *out = NULL, *in;
	size_t i;
	int r;

	if (key_path && (r = read_key(key_path, &key)) != 0)
		return r;
	body = json_pack("{s:s, s:s*}", "from", from, "key", key_path ? key.buf : NULL);
	explicit_bzero(key.buf, key.len);
	strbuf_release(&key);
	r = client_call_progress("POST", "/v1/restore", body, &out, &err);
	{
		/* The key is in the body's copy of it too. */
		json_t *k = json_object_get(body, "key");

		if (json_string_value(k))
			explicit_bzero((char *)json_string_value(k), strlen(json_string_value(k)));
	}
	json_decref(body);
	if (r < 0)
		return nua_error_report(err);
	if (json) {
		cli_print_json(out);
		return 0;
	}
	if (json_array_size(json_object_get(out, "restored")) == 0)
		fprintf(stderr, "nothing to bring back from %s\n", from);
	json_array_foreach(json_object_get(out, "restored"), i, in)
		printf("%s restored: %s\n", cli_json_str(in, "name", "?"),
		       cli_json_str(in, "url", cli_json_str(in, "domain", "-")));
	json_decref(out);
	return 0;
}

int cmd_restore(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "as", required_argument, NULL, 'A' },
		{ "domain", required_argument, NULL, 'd' },
		{ "all", no_argument, NULL, 'a' },
		{ "from", required_argument, NULL, 'f' },
		{ "key", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd_struct *self = cli_find_command("restore");
	_cleanup_args_ struct cli_args pos = { 0 };
	_cleanup_error_ struct nua_error *err = NULL;
	_cleanup_free_ char *path = NULL;
	const char *as = NULL, *domain = NULL, *from = NULL, *key = NULL;
	json_t *body, *out = NULL;
	bool json = false, all = false;
	int c, r;

	while ((c = cli_getopt_args(self, argc, argv, "d:", longopts, &pos)) != -1) {
		switch (c) {
		case '?':
			return NUA_EINPUT;
		case 'j':
			json = true;
			break;
		case 'A':
			as = optarg;
			break;
		case 'd':
			domain = optarg;
			break;
		case 'a':
			all = true;
			break;
		case 'f':
			from = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		}
	}
	if (all) {
		if (pos.n || as || domain || !from)
			return cli_usage_error(self, "--all takes --from TARGET (and --key FILE), "
						     "no instance");
		return restore_all(from, key, json);
	}
	if (from || key)
		return cli_usage_error(self, "--from and --key are for --all");
	if (domain && !as)
		return cli_usage_error(self, "--domain is for a copy (--as NEW)");
	if (pos.n < 1 || pos.n > 2)
		return cli_usage_error(self, "give an instance name and, optionally, a snapshot");
	path = client_instance_path(pos.v[0], "/restore");
	body = json_pack("{s:s*, s:s*, s:s*}", "snapshot", pos.n == 2 ? pos.v[1] : NULL, "as", as,
			 "domain", domain);
	r = client_call_progress("POST", path, body, &out, &err);
	json_decref(body);
	if (r < 0)
		return nua_error_report(err);
	if (json) {
		cli_print_json(out);
		return 0;
	}
	if (as)
		printf("%s made from snapshot %s of %s: %s\n", as, pos.n == 2 ? pos.v[1] : "latest",
		       pos.v[0], cli_json_str(out, "url", "-"));
	else
		fprintf(stderr,
			"%s restored from snapshot %s (what it held before: snapshot %.8s)\n",
			pos.v[0], pos.n == 2 ? pos.v[1] : "latest", cli_json_str(out, "safety", "?"));
	json_decref(out);
	return 0;
}

int cmd_upgrade(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "no-cache", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd_struct *self = cli_find_command("upgrade");
	_cleanup_args_ struct cli_args pos = { 0 };
	_cleanup_error_ struct nua_error *err = NULL;
	_cleanup_free_ char *path = NULL, *source = NULL;
	json_t *body, *out = NULL;
	bool json = false, no_cache = false;
	int c, r;

	while ((c = cli_getopt_args(self, argc, argv, "", longopts, &pos)) != -1) {
		if (c == '?')
			return NUA_EINPUT;
		if (c == 'n')
			no_cache = true;
		if (c == 'j')
			json = true;
	}
	if (pos.n < 1 || pos.n > 2)
		return cli_usage_error(self, "give an instance name and, optionally, the new "
					     "version (a package directory or an image)");
	if (pos.n == 2)
		source = strchr(pos.v[1], ':') && access(pos.v[1], F_OK) != 0
				 ? xstrdup(pos.v[1])
				 : cli_absolute_path(pos.v[1]);
	/* From another machine, a package directory is sent first. */
	if (source && source[0] == '/' && client_is_remote()) {
		char *sent = NULL;

		if (client_upload(source, &sent, &err) < 0)
			return nua_error_report(err);
		free(source);
		source = sent;
	}
	path = client_instance_path(pos.v[0], "/upgrade");
	body = json_pack("{s:s*, s:b}", "source", source, "no_cache", no_cache);
	r = client_call_progress("POST", path, body, &out, &err);
	json_decref(body);
	if (r < 0)
		return nua_error_report(err);
	if (json) {
		cli_print_json(out);
		return 0;
	}
	printf("%s upgraded to %s: %s (before: snapshot %.8s; 'nua rollback %s' goes back)\n",
	       pos.v[0], cli_json_str(out, "image", "?"), cli_json_str(out, "url", "-"),
	       cli_json_str(out, "snapshot", "?"), pos.v[0]);
	json_decref(out);
	return 0;
}

int cmd_rollback(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd_struct *self = cli_find_command("rollback");
	_cleanup_args_ struct cli_args pos = { 0 };
	_cleanup_error_ struct nua_error *err = NULL;
	_cleanup_free_ char *path = NULL;
	json_t *out = NULL, *body;
	bool json = false;
	int c, r;

	while ((c = cli_getopt_args(self, argc, argv, "", longopts, &pos)) != -1) {
		if (c == '?')
			return NUA_EINPUT;
		json = true;
	}
	if (pos.n != 1)
		return cli_usage_error(self, "give one instance name");
	path = client_instance_path(pos.v[0], "/rollback");
	body = json_object();
	r = client_call_progress("POST", path, body, &out, &err);
	json_decref(body);
	if (r < 0)
		return nua_error_report(err);
	if (json) {
		cli_print_json(out);
		return 0;
	}
	printf("%s rolled back to %s\n", pos.v[0], cli_json_str(out, "image", "?"));
	json_decref(out);
	return 0;
}

static int export_one(const char *name, const char *file)
{
	_cleanup_error_ struct nua_error *err = NULL;
	_cleanup_free_ char *path = client_instance_path(name, "/export");
	_cleanup_free_ char *abs = cli_absolute_path(file);
	json_t *body = json_pack("{s:s}", "path", abs), *out = NULL;
	int r = client_call_progress("POST", path, body, &out, &err);

	json_decref(body);
	if (r < 0)
		return nua_error_report(err);
	printf("%s exported to %s\n", name, abs);
	json_decref(out);
	return 0;
}

int cmd_export(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "all", no_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd_struct *self = cli_find_command("export");
	_cleanup_args_ struct cli_args pos = { 0 };
	_cleanup_error_ struct nua_error *err = NULL;
	const char *output = NULL;
	bool all = false;
	json_t *list = NULL, *in;
	size_t i;
	int c, failed = 0;

	while ((c = cli_getopt_args(self, argc, argv, "o:", longopts, &pos)) != -1) {
		if (c == '?')
			return NUA_EINPUT;
		if (c == 'o')
			output = optarg;
		if (c == 'a')
			all = true;
	}
	if (!output)
		return cli_usage_error(self, "give where to write it: -o FILE (a directory with --all)");
	if (!all) {
		if (pos.n != 1)
			return cli_usage_error(self, "give one instance name, or --all");
		return export_one(pos.v[0], output);
	}
	if (pos.n)
		return cli_usage_error(self, "--all takes no instance name");
	if (mkdir(output, 0700) < 0 && errno != EEXIST)
		return cli_error(NUA_EFAIL, "cannot create '%s': %s", output, strerror(errno));
	if (client_call("GET", "/v1/instances", NULL, &list, &err) < 0)
		return nua_error_report(err);
	json_array_foreach(list, i, in) {
		const char *name = cli_json_str(in, "name", NULL);
		_cleanup_free_ char *file = NULL;

		if (!name || starts_with(name, "nua-"))
			continue;
		file = xasprintf("%s/%s.nua", output, name);
		if (export_one(name, file) != 0)
			failed++;
	}
	json_decref(list);
	return failed ? NUA_EFAIL : 0;
}

int cmd_import(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "domain", required_argument, NULL, 'd' },
		{ "key", required_argument, NULL, 'k' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd_struct *self = cli_find_command("import");
	_cleanup_args_ struct cli_args pos = { 0 };
	const char *name = NULL, *domain = NULL, *key_path = NULL;
	struct strbuf key = STRBUF_INIT;
	bool json = false;
	int c, r, failed = 0;

	while ((c = cli_getopt_args(self, argc, argv, "n:d:", longopts, &pos)) != -1) {
		if (c == '?')
			return NUA_EINPUT;
		if (c == 'n')
			name = optarg;
		if (c == 'd')
			domain = optarg;
		if (c == 'k')
			key_path = optarg;
		if (c == 'j')
			json = true;
	}
	if (pos.n < 1)
		return cli_usage_error(self, "give the file(s) 'nua export' wrote");
	if (pos.n > 1 && (name || domain))
		return cli_usage_error(self, "--name and --domain are for one file");
	if (key_path && (r = read_key(key_path, &key)) != 0)
		return r;
	for (size_t i = 0; i < pos.n; i++) {
		_cleanup_error_ struct nua_error *err = NULL;
		_cleanup_free_ char *abs = cli_absolute_path(pos.v[i]);
		json_t *body = json_pack("{s:s, s:s*, s:s*, s:s*}", "path", abs, "name", name,
					 "domain", domain, "key", key_path ? key.buf : NULL);
		json_t *out = NULL;

		r = client_call_progress("POST", "/v1/import", body, &out, &err);
		json_decref(body);
		if (r < 0) {
			nua_error_report(err);
			failed = failed ?: (err->status == NUA_EINPUT ? NUA_EINPUT : NUA_EFAIL);
			continue;
		}
		if (json)
			cli_print_json(out);
		else
			printf("%s imported: %s\n", cli_json_str(out, "name", "?"),
			       cli_json_str(out, "url", "-"));
		if (!json)
			json_decref(out);
	}
	explicit_bzero(key.buf, key.len);
	strbuf_release(&key);
	return failed;
}
