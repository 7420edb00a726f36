/* The verbs that build, deploy and drive instances: build, deploy, ls,
 * status, logs, start, stop, restart, rm, env. Until the daemon takes
 * them over, they do the work themselves under the server-wide lock. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "build.h"
#include "cli.h"
#include "deploy_file.h"
#include "instance.h"
#include "secret.h"
#include "strbuf.h"
#include "toml.h"
#include "util.h"
#include "banned.h"

static int open_ctx(struct nua_ctx *ctx, unsigned needs)
{
	_cleanup_error_ struct nua_error *err = NULL;

	memset(ctx, 0, sizeof(*ctx));
	ctx->lock_fd = -1;
	ctx->progress = stderr;
	ctx->tty = isatty(STDERR_FILENO);
	if (nua_ctx_open(ctx, needs, &err) < 0) {
		nua_ctx_close(ctx);
		return nua_error_report(err);
	}
	return 0;
}

static int finish(struct nua_ctx *ctx, int r, struct nua_error *err)
{
	int status = 0;

	if (r < 0)
		status = nua_error_report(err);
	nua_error_free(err);
	nua_ctx_close(ctx);
	return status;
}

/* Options may come before and after the positional arguments (nua deploy
 * DIR --name x): collect the positional ones as getopt stops at them. */
struct args {
	char **v;
	size_t n, alloc;
};

static int next_opt(const struct cmd_struct *self, int argc, char **argv, const char *shortopts,
		    const struct option *longopts, struct args *pos)
{
	for (;;) {
		int c;

		if (optind >= argc)
			return -1;
		c = cli_getopt(self, argc, argv, shortopts, longopts);
		if (c != -1)
			return c;
		if (optind >= argc)
			return -1;
		if (streq(argv[optind - 1], "--")) {
			while (optind < argc) {
				ALLOC_GROW(pos->v, pos->n + 1, pos->alloc);
				pos->v[pos->n++] = argv[optind++];
			}
			return -1;
		}
		ALLOC_GROW(pos->v, pos->n + 1, pos->alloc);
		pos->v[pos->n++] = argv[optind++];
	}
}

/* ---- build ---- */

int cmd_build(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "no-cache", no_argument, NULL, 'N' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd_struct *self = cli_find_command("build");
	struct nua_error *err = NULL;
	struct args pos = { 0 };
	struct nua_ctx ctx;
	_cleanup_free_ char *ref = NULL;
	bool no_cache = false;
	int c, r;

	while ((c = next_opt(self, argc, argv, "", longopts, &pos)) != -1) {
		if (c == '?')
			return NUA_EINPUT;
		if (c == 'N')
			no_cache = true;
	}
	if (pos.n > 1) {
		free(pos.v);
		return cli_usage_error(self, "too many arguments");
	}
	if ((r = open_ctx(&ctx, CTX_STATE | CTX_RUNTIME | CTX_LOCK))) {
		free(pos.v);
		return r;
	}
	struct build_options bo = { no_cache, stderr, ctx.tty };

	r = build_package(ctx.st, &ctx.rt, pos.n ? pos.v[0] : ".", &bo, &ref, &err);
	if (r == 0)
		printf("%s\n", ref);
	free(pos.v);
	return finish(&ctx, r, err);
}

/* ---- deploy ---- */

static void print_url(struct nua_ctx *ctx, const char *name)
{
	struct instance_rec in = { 0 };

	if (state_instance_get(ctx->st, name, &in, NULL) < 0)
		return;
	if (ctx->proxy.port == 80)
		printf("http://%s%s\n", in.domain, in.path);
	else
		printf("http://%s:%d%s\n", in.domain, ctx->proxy.port, in.path);
	instance_rec_release(&in);
}

/* deploy -f FILE: each [[site]] an instance, in order; the first failure
 * stops there (the sites deployed before it stay). */
static int deploy_file(struct nua_ctx *ctx, const char *file, bool no_cache)
{
	_cleanup_free_ char *data = NULL;
	struct diag_list diags = DIAG_LIST_INIT;
	struct deploy_file df;
	size_t len;
	int r;

	if ((r = read_file(file, &data, &len)) < 0) {
		nua_ctx_close(ctx);
		return cli_error(NUA_EINPUT, "cannot read '%s': %s", file, strerror(-r));
	}
	if (deploy_file_parse(file, data, len, &df, &diags) < 0) {
		diag_list_print(&diags, stderr);
		diag_list_release(&diags);
		nua_ctx_close(ctx);
		return NUA_EINPUT;
	}
	for (size_t i = 0; i < df.n; i++) {
		const struct deploy_site *s = &df.sites[i];
		struct deploy_request req = { s->image, s->label, s->domain,
					      (const char *const *)s->env, no_cache };
		struct nua_error *err = NULL;
		_cleanup_free_ char *name = NULL;

		if (instance_deploy(ctx, &req, &name, &err) < 0) {
			nua_error_prefix(&err, "%s:%d: site %zu of %zu", file, s->line, i + 1, df.n);
			deploy_file_release(&df);
			return finish(ctx, -1, err);
		}
		print_url(ctx, name);
	}
	deploy_file_release(&df);
	return finish(ctx, 0, NULL);
}

int cmd_deploy(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "domain", required_argument, NULL, 'd' },
		{ "env", required_argument, NULL, 'e' },
		{ "file", required_argument, NULL, 'f' },
		{ "no-cache", no_argument, NULL, 'N' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd_struct *self = cli_find_command("deploy");
	struct deploy_request req = { 0 };
	struct nua_error *err = NULL;
	struct args pos = { 0 }, env = { 0 };
	struct nua_ctx ctx;
	_cleanup_free_ char *name = NULL;
	const char *file = NULL;
	int c, r;

	while ((c = next_opt(self, argc, argv, "n:d:e:f:", longopts, &pos)) != -1) {
		switch (c) {
		case '?':
			free(pos.v);
			free(env.v);
			return NUA_EINPUT;
		case 'n':
			req.name = optarg;
			break;
		case 'd':
			req.domain = optarg;
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
			req.no_cache = true;
			break;
		}
	}
	if (file ? pos.n != 0 : pos.n != 1) {
		free(pos.v);
		free(env.v);
		return cli_usage_error(self, file ? "give either -f FILE or a package or image"
						  : "give one package directory or image");
	}
	if ((r = open_ctx(&ctx, CTX_ALL))) {
		free(pos.v);
		free(env.v);
		return r;
	}
	if (file) {
		r = deploy_file(&ctx, file, req.no_cache);
		free(pos.v);
		free(env.v);
		return r;
	}
	req.source = pos.v[0];
	req.env = (const char *const *)env.v;
	r = instance_deploy(&ctx, &req, &name, &err);
	if (r == 0)
		print_url(&ctx, name);
	free(pos.v);
	free(env.v);
	return finish(&ctx, r, err);
}

/* ---- ls, status ---- */

static const char *observed_state(struct nua_ctx *ctx, const struct instance_rec *in,
				  struct instance_status *is)
{
	if (instance_status(ctx, in->name, is, NULL) < 0)
		return "unknown";
	switch (is->ctr.status) {
	case CONTAINER_RUNNING:
		return "running";
	case CONTAINER_STOPPED:
		return streq(in->desired, "running") ? "exited" : "stopped";
	case CONTAINER_ABSENT:
		return streq(in->desired, "running") ? (streq(in->actual, "failed") ? "failed"
										      : "down")
						     : "stopped";
	default:
		return container_status_name(is->ctr.status);
	}
}

static void format_age(long long since, char *buf, size_t n)
{
	long long s = (long long)time(NULL) - since;

	if (since <= 0)
		snprintf(buf, n, "-");
	else if (s < 60)
		snprintf(buf, n, "%llds", s);
	else if (s < 3600)
		snprintf(buf, n, "%lldm", s / 60);
	else if (s < 86400)
		snprintf(buf, n, "%lldh", s / 3600);
	else
		snprintf(buf, n, "%lldd", s / 86400);
}

static json_t *instance_json(struct nua_ctx *ctx, const struct instance_rec *in)
{
	struct instance_status is;
	const char *state = observed_state(ctx, in, &is);
	json_t *o = json_object();

	json_object_set_new(o, "name", json_string(in->name));
	json_object_set_new(o, "image", json_string(in->image_ref));
	json_object_set_new(o, "domain", in->domain ? json_string(in->domain) : json_null());
	json_object_set_new(o, "path", json_string(in->path ? in->path : "/"));
	json_object_set_new(o, "desired", json_string(in->desired));
	json_object_set_new(o, "state", json_string(state));
	json_object_set_new(o, "ip", is.ip[0] ? json_string(is.ip) : json_null());
	json_object_set_new(o, "pid", is.ctr.pid > 0 ? json_integer(is.ctr.pid) : json_null());
	json_object_set_new(o, "started_at",
			    is.started_at ? json_integer(is.started_at) : json_null());
	json_object_set_new(o, "exit_code",
			    is.ctr.status == CONTAINER_STOPPED && is.ctr.exit_code >= 0
				    ? json_integer(is.ctr.exit_code)
				    : json_null());
	json_object_set_new(o, "oom_killed", json_boolean(is.ctr.oom_killed));
	json_object_set_new(o, "generation", json_integer(in->generation));
	json_object_set_new(o, "created_at", json_integer(in->created_at));
	return o;
}

static void print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	printf("%s\n", s);
	free(s);
	json_decref(j);
}

int cmd_ls(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd_struct *self = cli_find_command("ls");
	struct nua_error *err = NULL;
	struct instance_rec *list = NULL;
	struct nua_ctx ctx;
	size_t n = 0;
	bool json = false;
	int c, r;

	while ((c = cli_getopt(self, argc, argv, "", longopts)) != -1) {
		if (c == '?')
			return NUA_EINPUT;
		json = true;
	}
	if (optind < argc)
		return cli_usage_error(self, "too many arguments");
	if ((r = open_ctx(&ctx, CTX_STATE | CTX_RUNTIME)))
		return r;
	if (state_instance_list(ctx.st, &list, &n, &err) < 0)
		return finish(&ctx, -1, err);
	if (json) {
		json_t *a = json_array();

		for (size_t i = 0; i < n; i++)
			json_array_append_new(a, instance_json(&ctx, &list[i]));
		print_json(a);
	} else if (n == 0) {
		fprintf(stderr, "no instances; deploy one with 'nua deploy DIR --domain DOMAIN'\n");
	} else {
		printf("%-20s %-28s %-10s %-8s %s\n", "NAME", "IMAGE", "STATE", "UPTIME", "URL");
		for (size_t i = 0; i < n; i++) {
			struct instance_status is;
			const char *state = observed_state(&ctx, &list[i], &is);
			char age[32];
			_cleanup_free_ char *url = xasprintf("http://%s%s", list[i].domain,
							     list[i].path);

			format_age(is.started_at, age, sizeof(age));
			printf("%-20s %-28s %-10s %-8s %s\n", list[i].name, list[i].image_ref, state,
			       age, url);
		}
	}
	instance_rec_list_free(list, n);
	return finish(&ctx, 0, NULL);
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

int cmd_status(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd_struct *self = cli_find_command("status");
	struct nua_error *err = NULL;
	struct instance_rec in = { 0 };
	struct nua_ctx ctx;
	bool json = false;
	json_t *o;
	int c, r;

	while ((c = cli_getopt(self, argc, argv, "", longopts)) != -1) {
		if (c == '?')
			return NUA_EINPUT;
		json = true;
	}
	if (argc - optind != 1)
		return cli_usage_error(self, "give one instance name");
	if ((r = open_ctx(&ctx, CTX_STATE | CTX_RUNTIME)))
		return r;
	if (instance_get(&ctx, argv[optind], &in, &err) < 0)
		return finish(&ctx, -1, err);
	o = instance_json(&ctx, &in);
	if (json) {
		print_json(o);
	} else {
		char age[32];
		json_t *started = json_object_get(o, "started_at");
		json_t *code = json_object_get(o, "exit_code");

		format_age(json_is_integer(started) ? json_integer_value(started) : 0, age,
			   sizeof(age));
		printf("name:     %s\n", in.name);
		printf("image:    %s\n", in.image_ref);
		printf("url:      http://%s%s\n", in.domain, in.path);
		printf("state:    %s (wanted: %s)\n", json_string_value(json_object_get(o, "state")),
		       in.desired);
		if (json_is_integer(json_object_get(o, "pid")))
			printf("pid:      %lld\n", json_integer_value(json_object_get(o, "pid")));
		if (json_is_string(json_object_get(o, "ip")))
			printf("address:  %s\n", json_string_value(json_object_get(o, "ip")));
		printf("uptime:   %s\n", age);
		if (json_is_integer(code))
			printf("exit:     %lld%s\n", json_integer_value(code),
			       json_is_true(json_object_get(o, "oom_killed"))
				       ? " (killed: out of memory)"
				       : "");
		printf("env:      %zu variables ('nua env %s')\n", in.n_env, in.name);
		printf("last lines of the log:\n");
		_cleanup_free_ char *path = instance_log_path(in.name);
		_cleanup_free_ char *tail = file_tail(path, 10);

		print_log_lines(tail, false, "  ");
		json_decref(o);
	}
	instance_rec_release(&in);
	return finish(&ctx, 0, NULL);
}

/* ---- logs ---- */

static void print_log_fd(int fd, struct strbuf *partial, bool timestamps)
{
	char buf[65536];
	ssize_t got;

	while ((got = read(fd, buf, sizeof(buf))) > 0) {
		strbuf_add(partial, buf, (size_t)got);
		for (;;) {
			char *nl = memchr(partial->buf, '\n', partial->len);
			size_t len;

			if (!nl)
				break;
			*nl = '\0';
			len = (size_t)(nl - partial->buf) + 1;
			print_log_line(partial->buf, timestamps, "");
			memmove(partial->buf, partial->buf + len, partial->len - len);
			strbuf_setlen(partial, partial->len - len);
		}
	}
	fflush(stdout);
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
	struct nua_error *err = NULL;
	struct instance_rec in = { 0 };
	struct nua_ctx ctx;
	struct strbuf partial = STRBUF_INIT;
	_cleanup_free_ char *path = NULL;
	bool follow = false, ts = false;
	long lines = 100;
	int c, r, fd;
	struct stat sb;
	char *end;

	while ((c = cli_getopt(self, argc, argv, "fn:t", longopts)) != -1) {
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
			if (*end || lines < 0)
				return cli_usage_error(self, "-n takes a number of lines, not '%s'",
						       optarg);
			break;
		}
	}
	if (argc - optind != 1)
		return cli_usage_error(self, "give one instance name");
	if ((r = open_ctx(&ctx, CTX_STATE)))
		return r;
	if (instance_get(&ctx, argv[optind], &in, &err) < 0)
		return finish(&ctx, -1, err);
	path = instance_log_path(in.name);
	instance_rec_release(&in);
	nua_ctx_close(&ctx);
	{
		_cleanup_free_ char *tail = lines ? file_tail(path, (int)lines) : xstrdup("");

		print_log_lines(tail, ts, "");
	}
	if (!follow)
		return 0;
	/* Follow: read what is appended; a log rotated away (a new inode or a
	 * shorter file) is read again from its start. */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	for (;;) {
		struct stat now;

		if (fd >= 0)
			print_log_fd(fd, &partial, ts);
		if (stat(path, &now) == 0 &&
		    (fd < 0 || (fstat(fd, &sb) == 0 &&
				(now.st_ino != sb.st_ino || now.st_size < lseek(fd, 0, SEEK_CUR))))) {
			if (fd >= 0)
				close(fd);
			fd = open(path, O_RDONLY | O_CLOEXEC);
		}
		poll(NULL, 0, 200);
	}
	return 0;
}

/* ---- start, stop, restart, rm ---- */

static int one_instance_verb(const char *verb, int argc, char **argv,
			     int (*op)(struct nua_ctx *, const char *, struct nua_error **),
			     const char *done)
{
	const struct cmd_struct *self = cli_find_command(verb);
	struct nua_error *err = NULL;
	struct nua_ctx ctx;
	int c, r;

	while ((c = cli_getopt(self, argc, argv, "", NULL)) != -1)
		if (c == '?')
			return NUA_EINPUT;
	if (argc - optind != 1)
		return cli_usage_error(self, "give one instance name");
	if ((r = open_ctx(&ctx, CTX_ALL)))
		return r;
	r = op(&ctx, argv[optind], &err);
	if (r == 0)
		fprintf(stderr, "%s %s\n", argv[optind], done);
	return finish(&ctx, r, err);
}

int cmd_start(int argc, char **argv)
{
	return one_instance_verb("start", argc, argv, instance_start, "started");
}

int cmd_stop(int argc, char **argv)
{
	return one_instance_verb("stop", argc, argv, instance_stop, "stopped");
}

int cmd_restart(int argc, char **argv)
{
	return one_instance_verb("restart", argc, argv, instance_restart, "restarted");
}

int cmd_rm(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "purge", no_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd_struct *self = cli_find_command("rm");
	struct nua_error *err = NULL;
	struct nua_ctx ctx;
	bool purge = false;
	int c, r;

	while ((c = cli_getopt(self, argc, argv, "", longopts)) != -1) {
		if (c == '?')
			return NUA_EINPUT;
		purge = true;
	}
	if (argc - optind != 1)
		return cli_usage_error(self, "give one instance name");
	if ((r = open_ctx(&ctx, CTX_ALL)))
		return r;
	r = instance_remove(&ctx, argv[optind], purge, &err);
	if (r == 0)
		fprintf(stderr, "%s removed%s\n", argv[optind],
			purge ? " with its volumes" : "; its volumes are kept (--purge removes them)");
	return finish(&ctx, r, err);
}

/* ---- env ---- */

int cmd_env(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "unset", required_argument, NULL, 'u' },
		{ "show-secrets", no_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd_struct *self = cli_find_command("env");
	struct nua_error *err = NULL;
	struct args pos = { 0 }, set = { 0 }, unset = { 0 };
	struct instance_rec in = { 0 };
	struct nua_ctx ctx;
	bool show = false, json = false;
	int c, r;

	while ((c = next_opt(self, argc, argv, "u:", longopts, &pos)) != -1) {
		switch (c) {
		case '?':
			r = NUA_EINPUT;
			goto out_args;
		case 'u':
			ALLOC_GROW(unset.v, unset.n + 2, unset.alloc);
			unset.v[unset.n++] = optarg;
			unset.v[unset.n] = NULL;
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
		goto out_args;
	}
	for (size_t i = 1; i < pos.n; i++) {
		if (!strchr(pos.v[i], '=')) {
			r = cli_usage_error(self, "'%s' is not KEY=VALUE (use -u KEY to unset)",
					    pos.v[i]);
			goto out_args;
		}
		ALLOC_GROW(set.v, set.n + 2, set.alloc);
		set.v[set.n++] = pos.v[i];
		set.v[set.n] = NULL;
	}
	if (set.n || unset.n) {
		if ((r = open_ctx(&ctx, CTX_ALL)))
			goto out_args;
		r = instance_set_env(&ctx, pos.v[0], (const char *const *)set.v,
				     (const char *const *)unset.v, &err);
		r = finish(&ctx, r, err);
		goto out_args;
	}
	if ((r = open_ctx(&ctx, CTX_STATE)))
		goto out_args;
	if (instance_get(&ctx, pos.v[0], &in, &err) < 0) {
		r = finish(&ctx, -1, err);
		goto out_args;
	}
	{
		json_t *o = json_object();

		for (size_t i = 0; i < in.n_env; i++) {
			const struct env_rec *e = &in.env[i];
			_cleanup_free_ char *plain = NULL;
			const char *v = e->value;

			if (e->secret) {
				if (!show) {
					v = "(secret; --show-secrets shows it)";
				} else if (secret_is_sealed(e->value)) {
					if (secret_open(e->value, &plain, &err) < 0) {
						instance_rec_release(&in);
						r = finish(&ctx, -1, err);
						json_decref(o);
						goto out_args;
					}
					v = plain;
				}
			}
			if (json)
				json_object_set_new(o, e->key, json_string(v));
			else
				printf("%s=%s\n", e->key, v);
		}
		if (json)
			print_json(o);
		else
			json_decref(o);
	}
	instance_rec_release(&in);
	r = finish(&ctx, 0, NULL);
out_args:
	free(pos.v);
	free(set.v);
	free(unset.v);
	return r;
}
