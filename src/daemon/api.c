/* The HTTP API of the daemon (docs/api.md), served by libmicrohttpd with a
 * thread per connection: a handler may block (a deploy waits for the new
 * container's health check; a followed log waits for lines). */
#define _GNU_SOURCE
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <malloc.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "api.h"
#include "api_request.h"
#include "backup.h"
#include "build.h"
#include "config.h"
#include "image.h"
#include "metrics.h"
#include "paths.h"
#include "resource.h"
#include "secret.h"
#include "state.h"
#include "store.h"
#include "tls.h"
#include "upgrade.h"
#include "strbuf.h"
#include "util.h"
#include "banned.h"

#define BODY_MAX (1024 * 1024)
#define KEEPALIVE_MS 15000
#define API_THREAD_STACK (1024 * 1024)

/* ---- responses ---- */

static __thread unsigned last_status;

unsigned api_last_status(void) { return last_status; }

enum MHD_Result api_queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *r)
{
	last_status = status;
	return MHD_queue_response(c, status, r);
}

enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *type,
			  const char *text, size_t len)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	MHD_add_response_header(r, "Content-Type", type);
	ret = api_queue(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	enum MHD_Result ret;

	json_decref(j);
	ret = send_text(c, status, "application/json", s, strlen(s));
	free(s);
	return ret;
}

/* The HTTP status of an error from the library. */
static unsigned error_status(const struct nua_error *e)
{
	if (e->status != NUA_EINPUT)
		return 500;
	if (starts_with(e->msg, "no instance named") || starts_with(e->msg, "no image"))
		return 404;
	if (strstr(e->msg, "exists already") || strstr(e->msg, "is already routed") ||
	    strstr(e->msg, "is used by"))
		return 409;
	return 400;
}

static json_t *error_json(unsigned status, const char *msg)
{
	return json_pack("{s:{s:i, s:s}}", "error", "status", (int)status, "message", msg);
}

enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	enum MHD_Result r;
	va_list ap;

	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	r = send_json(c, status, error_json(status, sb.buf));
	strbuf_release(&sb);
	return r;
}

enum MHD_Result send_nua_error(struct MHD_Connection *c, struct nua_error *err)
{
	unsigned status = err ? error_status(err) : 500;
	enum MHD_Result r = send_json(c, status, error_json(status, err ? err->msg : "failed"));

	nua_error_free(err);
	return r;
}

const char *arg(struct MHD_Connection *c, const char *key)
{
	return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
}

bool arg_true(struct MHD_Connection *c, const char *key)
{
	const char *v = arg(c, key);

	return v && (streq(v, "1") || streq(v, "true") || streq(v, "yes"));
}

long long arg_int(struct MHD_Connection *c, const char *key, long long def)
{
	const char *v = arg(c, key);
	char *end;
	long long x;

	if (!v || !*v)
		return def;
	x = strtoll(v, &end, 10);
	return *end || x < 0 ? def : x;
}

/* ---- objects ---- */

static const char *shown_state(const struct instance_rec *in, const struct instance_status *is)
{
	if (streq(in->desired, "stopped"))
		return "stopped";
	if (is->ctr.status == CONTAINER_RUNNING) {
		if (streq(in->actual, "deploying") || streq(in->actual, "unhealthy"))
			return in->actual;
		if (in->health && streq(in->health, "unhealthy"))
			return "unhealthy";
		return "running";
	}
	if (streq(in->actual, "restarting") || streq(in->actual, "crashloop") ||
	    streq(in->actual, "failed") || streq(in->actual, "starting"))
		return in->actual;
	if (is->ctr.status == CONTAINER_STOPPED)
		return "exited";
	return "down";
}

static json_t *int_or_null(int64_t v, bool known)
{
	return known ? json_integer(v) : json_null();
}


/* Where domain+path answers: https when HTTP is redirected there (its
 * certificate is served, and not from the local CA for a development
 * domain, which is served on both), with the port when it is not the
 * scheme's own. */
static json_t *instance_url(struct daemon *d, const char *domain, const char *path)
{
	struct tls_cert_info info;
	bool https = domain && d->proxy.https_port && !tls_dev_domain(domain) &&
		     tls_live_info(domain, (int64_t)time(NULL), &info);
	int port = https ? d->proxy.https_port : d->proxy.port;

	if (https)
		tls_cert_info_release(&info);
	if (port == (https ? 443 : 80))
		return json_sprintf("%s://%s%s", https ? "https" : "http", domain ? domain : "",
				    path ? path : "/");
	return json_sprintf("%s://%s:%d%s", https ? "https" : "http", domain ? domain : "", port,
			    path ? path : "/");
}

/* [{"domain": "HOST[/PATH]", "redirect": bool, "url": URL}] */
static json_t *aliases_json(struct daemon *d, const struct instance_rec *in)
{
	json_t *a = json_array();

	for (size_t i = 0; i < in->n_aliases; i++) {
		const struct alias_rec *al = &in->aliases[i];
		_cleanup_free_ char *path = xasprintf("%s%s", al->path, streq(al->path, "/") ? "" : "/");

		json_array_append_new(
		    a, json_pack("{s:o, s:b, s:o}", "domain",
				 json_sprintf("%s%s", al->domain, streq(al->path, "/") ? "" : al->path),
				 "redirect", al->redirect, "url", instance_url(d, al->domain, path)));
	}
	return a;
}

static json_t *instance_object(struct daemon *d, struct nua_ctx *ctx, const struct instance_rec *in)
{
	struct instance_status is;
	long long latency;
	int64_t now = (int64_t)time(NULL);
	json_t *o = json_object();
	bool running;

	if (instance_status_of(ctx, in, &is, NULL) < 0)
		memset(&is, 0, sizeof(is));
	running = is.ctr.status == CONTAINER_RUNNING;
	sup_health_info(d, in->name, &latency, NULL, 0);
	json_object_set_new(o, "name", json_string(in->name));
	json_object_set_new(o, "image", json_string(in->image_ref));
	json_object_set_new(o, "domain", in->domain ? json_string(in->domain) : json_null());
	json_object_set_new(o, "path", json_string(in->path ? in->path : "/"));
	json_object_set_new(o, "url", instance_url(d, in->domain, in->path));
	json_object_set_new(o, "aliases", aliases_json(d, in));
	{
		char *newer = NULL;

		json_object_set_new(o, "upgrade_available",
				    store_newer(in->image_ref, &newer, NULL) ? json_string(newer)
									     : json_null());
		free(newer);
	}
	json_object_set_new(o, "desired", json_string(in->desired));
	json_object_set_new(o, "state", json_string(shown_state(in, &is)));
	json_object_set_new(o, "health",
			    json_string(running && in->health ? in->health : "unknown"));
	json_object_set_new(o, "generation", json_integer(in->generation));
	json_object_set_new(o, "serving_generation",
			    int_or_null(is.generation, running && is.generation > 0));
	json_object_set_new(o, "restarts", json_integer(in->restarts));
	json_object_set_new(o, "last_exit", int_or_null(in->last_exit, in->last_exit >= 0));
	json_object_set_new(o, "ip", is.ip[0] ? json_string(is.ip) : json_null());
	json_object_set_new(o, "pid", int_or_null(is.ctr.pid, running && is.ctr.pid > 0));
	json_object_set_new(o, "started_at", int_or_null(is.started_at, running && is.started_at));
	json_object_set_new(o, "uptime",
			    int_or_null(now - is.started_at, running && is.started_at));
	json_object_set_new(o, "exit_code",
			    int_or_null(is.ctr.exit_code,
					is.ctr.status == CONTAINER_STOPPED && is.ctr.exit_code >= 0));
	json_object_set_new(o, "oom_killed", json_boolean(is.ctr.oom_killed));
	json_object_set_new(o, "health_ms", int_or_null(latency, latency >= 0));
	json_object_set_new(o, "env_count", json_integer((json_int_t)in->n_env));
	json_object_set_new(o, "created_at", json_integer(in->created_at));
	json_object_set_new(o, "updated_at", json_integer(in->updated_at));
	return o;
}

/* The instance object of name, or NULL with *err. */
static json_t *instance_object_named(struct daemon *d, struct nua_ctx *ctx, const char *name,
				     struct nua_error **err)
{
	struct instance_rec in = { 0 };
	json_t *o;

	if (instance_get(ctx, name, &in, err) < 0)
		return NULL;
	o = instance_object(d, ctx, &in);
	instance_rec_release(&in);
	return o;
}

static json_t *log_lines(const char *name, int n)
{
	_cleanup_free_ char *path = instance_log_path(name);
	_cleanup_free_ char *tail = file_tail(path, n);
	json_t *a = json_array();

	for (char *line = tail, *nl; line && *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		json_array_append_new(a, json_string(line));
		if (!nl)
			break;
	}
	return a;
}

static json_t *image_object(const struct image_rec *img, const struct instance_rec *ins, size_t n)
{
	json_t *used = json_array();

	for (size_t i = 0; i < n; i++)
		if (streq(ins[i].image_ref, img->ref))
			json_array_append_new(used, json_string(ins[i].name));
	return json_pack("{s:s, s:s, s:s, s:I, s:s, s:I, s:I, s:o}", "ref", img->ref, "id", img->id,
			 "version", img->version, "release", (json_int_t)img->release, "digest",
			 img->digest ? img->digest : "", "size", (json_int_t)img->size,
			 "created_at", (json_int_t)img->created_at, "used_by", used);
}

static json_t *image_object_named(struct nua_ctx *ctx, const char *ref, struct nua_error **err)
{
	struct image_rec img = { 0 };
	struct instance_rec *ins = NULL;
	size_t n = 0;
	json_t *o;

	if (state_image_get(ctx->st, ref, &img, err) < 0)
		return NULL;
	state_instance_list(ctx->st, &ins, &n, NULL);
	o = image_object(&img, ins, n);
	instance_rec_list_free(ins, n);
	image_rec_release(&img);
	return o;
}

static json_t *event_object(const struct event_rec *e)
{
	json_t *o = json_pack("{s:I, s:I, s:o, s:s, s:s}", "id", (json_int_t)e->id, "time",
			      (json_int_t)e->time, "instance",
			      e->instance ? json_string(e->instance) : json_null(), "kind", e->kind,
			      "message", e->message);
	json_t *data = e->data ? json_loads(e->data, 0, NULL) : NULL;

	if (data)
		json_object_set_new(o, "data", data);
	return o;
}

/* ---- long operations, with progress ---- */

enum op_kind {
	OP_CHECK,
	OP_DEPLOY,
	OP_BUILD,
	OP_BACKUP,
	OP_RESTORE,
	OP_RECOVER,
	OP_UPGRADE,
	OP_ROLLBACK,
	OP_EXPORT,
	OP_IMPORT,
};

struct op {
	struct daemon *d;
	enum op_kind kind;
	char name[API_SEGMENT_MAX]; /* the instance of a backup or restore */
	struct strbuf body; /* the request's, kept: a streamed op outlives it */
	/* Streaming: progress and the final line go to fd; else NULL. */
	int fd;
	struct strbuf line; /* progress text not yet ended by a newline */
	/* Result, when not streaming. */
	unsigned status;
	json_t *result;
};

static void op_write(struct op *op, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	size_t len = strlen(s);

	json_decref(j);
	s = xrealloc(s, len + 2);
	s[len++] = '\n';
	for (size_t off = 0; off < len;) {
		ssize_t w = write(op->fd, s + off, len - off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			break; /* the client is gone; the operation goes on */
		}
		off += (size_t)w;
	}
	free(s);
}

/* A FILE* whose lines become {"progress": LINE} in the stream. */
static ssize_t progress_write(void *cookie, const char *buf, size_t size)
{
	struct op *op = cookie;

	strbuf_add(&op->line, buf, size);
	for (;;) {
		char *nl = memchr(op->line.buf, '\n', op->line.len);
		size_t len;

		if (!nl)
			break;
		len = (size_t)(nl - op->line.buf);
		op_write(op, json_pack("{s:s%}", "progress", op->line.buf, len));
		strbuf_remove(&op->line, 0, len + 1);
	}
	return (ssize_t)size;
}

/* The instance name a deploy is about, for its lock: the request's, or
 * the image's id. */
static char *deploy_target(const char *source, const char *name)
{
	if (name)
		return xstrdup(name);
	if (is_dir(source)) {
		struct nua_config *cfg = NULL;
		struct diag_list diags = DIAG_LIST_INIT;
		struct nua_error *err = NULL;
		char *id = NULL;

		/* A config that does not load fails the deploy later, with
		 * its problems. */
		if (config_load(source, &cfg, &diags, &err) == 0 && cfg && cfg->metadata.id)
			id = xstrdup(cfg->metadata.id);
		config_free(cfg);
		diag_list_release(&diags);
		nua_error_free(err);
		return id;
	}
	{
		const char *colon = strchr(source, ':');

		return colon ? xstrndup(source, (size_t)(colon - source)) : xstrdup(source);
	}
}

static void op_run(struct op *op)
{
	struct daemon *d = op->d;
	struct nua_ctx ctx;
	struct nua_error *err = NULL;
	FILE *progress = NULL;
	json_t *res = NULL;
	unsigned status = 200;

	if (op->fd >= 0) {
		cookie_io_functions_t io = { .write = progress_write };

		progress = fopencookie(op, "w", io);
		setvbuf(progress, NULL, _IOLBF, 0);
	}
	if (daemon_ctx(d, &ctx, &err) < 0)
		goto done;
	ctx.progress = progress;
	if (op->kind == OP_DEPLOY) {
		struct api_deploy req;
		_cleanup_free_ char *target = NULL;
		char *made = NULL;
		struct instance_rec cur = { 0 };
		bool exists, dir;

		if (api_parse_deploy(op->body.buf, op->body.len, &req, &err) < 0) {
			api_deploy_release(&req);
			goto done_ctx;
		}
		dir = is_dir(req.source) || ends_with(req.source, ".toml");
		if (dir && req.source[0] != '/') {
			nua_error_set(&err, NUA_EINPUT,
				      "'%s' is a relative path: give the package's absolute path",
				      req.source);
			api_deploy_release(&req);
			goto done_ctx;
		}
		target = deploy_target(req.source, req.name);
		if (target && !valid_name(target, 40)) {
			free(target);
			target = NULL;
		}
		if (target)
			daemon_lock(d, target);
		if (dir)
			pthread_mutex_lock(&d->build_mu);
		exists = target && state_instance_get(ctx.st, target, &cur, NULL) == 0 &&
			 !cur.removing;
		if (cur.name)
			instance_rec_release(&cur);
		{
			struct deploy_request dr = { req.source,
						     req.name,
						     req.domain,
						     (const char *const *)req.env,
						     req.no_cache,
						     false,
						     (const char *const *)req.resources };

			if (instance_deploy(&ctx, &dr, &made, &err) == 0) {
				res = instance_object_named(d, &ctx, made, &err);
				status = exists ? 200 : 201;
			}
		}
		if (dir)
			pthread_mutex_unlock(&d->build_mu);
		if (target)
			daemon_unlock(d, target);
		free(made);
		api_deploy_release(&req);
	} else if (op->kind == OP_BACKUP || op->kind == OP_RESTORE) {
		struct api_snapshot_body req;
		char *snap = NULL;
		int r;

		if (api_parse_snapshot_body(op->kind == OP_BACKUP ? API_BACKUP : API_RESTORE_SNAPSHOT,
					    op->body.buf, op->body.len, &req, &err) < 0) {
			api_snapshot_body_release(&req);
			goto done_ctx;
		}
		/* A copy is made under its own name's lock; the original is
		 * only read (its snapshots). */
		const char *lock = req.as ? req.as : op->name;

		daemon_lock(d, lock);
		if (op->kind == OP_BACKUP)
			r = backup_instance(&ctx, op->name, "manual", &snap, &err);
		else if (req.as)
			r = backup_clone(&ctx, op->name, req.snapshot, req.as, req.domain, &err);
		else
			r = backup_restore(&ctx, op->name, req.snapshot, &snap, &err);
		daemon_unlock(d, lock);
		if (r == 0) {
			res = instance_object_named(d, &ctx, lock, &err);
			if (res && !req.as)
				json_object_set_new(res, op->kind == OP_BACKUP ? "snapshot" : "safety",
						    snap ? json_string(snap) : json_null());
		}
		free(snap);
		api_snapshot_body_release(&req);
	} else if (op->kind == OP_UPGRADE || op->kind == OP_ROLLBACK) {
		struct api_upgrade req;
		char *ref = NULL, *snap = NULL;
		int r = 0;

		if (api_parse_upgrade(op->body.buf, op->body.len, &req, &err) < 0) {
			api_upgrade_release(&req);
			goto done_ctx;
		}
		/* A package directory is built first: a build that fails
		 * changes nothing, not even a backup. */
		if (op->kind == OP_UPGRADE && req.source && req.source[0] == '/') {
			struct build_options bo = { req.no_cache, progress, false };

			pthread_mutex_lock(&d->build_mu);
			r = build_package_worker(req.source, &bo, &ref, &err);
			pthread_mutex_unlock(&d->build_mu);
		} else if (req.source) {
			ref = xstrdup(req.source);
		} else if (op->kind == OP_UPGRADE) {
			/* No source: the store's newer version of its package, when
			 * there is one (built first), else the newest image here. */
			struct instance_rec in = { 0 };
			char *path = NULL;

			if (instance_get(&ctx, op->name, &in, NULL) == 0 &&
			    store_newer(in.image_ref, NULL, &path)) {
				struct build_options bo = { req.no_cache, progress, false };

				pthread_mutex_lock(&d->build_mu);
				r = build_package_worker(path, &bo, &ref, &err);
				pthread_mutex_unlock(&d->build_mu);
			}
			instance_rec_release(&in);
			free(path);
		}
		if (r == 0) {
			daemon_lock(d, op->name);
			r = op->kind == OP_UPGRADE
				    ? upgrade_instance(&ctx, op->name, ref, &snap, &err)
				    : upgrade_rollback(&ctx, op->name, &err);
			daemon_unlock(d, op->name);
		}
		if (r == 0) {
			res = instance_object_named(d, &ctx, op->name, &err);
			if (res && snap)
				json_object_set_new(res, "snapshot", json_string(snap));
		}
		free(ref);
		free(snap);
		api_upgrade_release(&req);
	} else if (op->kind == OP_CHECK) {
		if (backup_maintain(&ctx, (int64_t)time(NULL), true, &err) >= 0)
			res = json_pack("{s:b}", "checked", 1);
	} else if (op->kind == OP_EXPORT) {
		struct api_path_body req;

		if (api_parse_path_body(API_EXPORT, op->body.buf, op->body.len, &req, &err) == 0) {
			daemon_lock(d, op->name);
			if (backup_export(&ctx, op->name, req.path, &err) == 0)
				res = json_pack("{s:s, s:s}", "exported", op->name, "path", req.path);
			daemon_unlock(d, op->name);
		}
		api_path_body_release(&req);
	} else if (op->kind == OP_IMPORT) {
		struct api_import req;
		char *made = NULL;

		if (api_parse_import(op->body.buf, op->body.len, &req, &err) == 0) {
			if (req.name)
				daemon_lock(d, req.name);
			if (backup_import(&ctx, req.path, req.name, req.domain, req.key, &made,
					  &err) == 0)
				res = instance_object_named(d, &ctx, made, &err);
			if (req.name)
				daemon_unlock(d, req.name);
		}
		free(made);
		api_import_release(&req);
	} else if (op->kind == OP_RECOVER) {
		struct api_recover req;
		char **made = NULL;

		if (api_parse_recover(op->body.buf, op->body.len, &req, &err) < 0) {
			api_recover_release(&req);
			goto done_ctx;
		}
		if (backup_recover_server(&ctx, req.from, req.key, &made, &err) == 0) {
			res = json_array();
			for (size_t i = 0; made[i]; i++) {
				json_t *o = instance_object_named(d, &ctx, made[i], NULL);

				json_array_append_new(res, o ? o : json_pack("{s:s}", "name", made[i]));
			}
			res = json_pack("{s:o}", "restored", res);
		}
		strv_free(made);
		api_recover_release(&req);
	} else {
		struct api_path_body req;
		char *ref = NULL;

		if (api_parse_path_body(API_BUILD, op->body.buf, op->body.len, &req, &err) < 0) {
			api_path_body_release(&req);
			goto done_ctx;
		}
		pthread_mutex_lock(&d->build_mu);
		{
			struct build_options bo = { req.no_cache, progress, false };

			if (build_package_worker(req.path, &bo, &ref, &err) == 0) {
				res = image_object_named(&ctx, ref, &err);
				status = 201;
			}
		}
		pthread_mutex_unlock(&d->build_mu);
		free(ref);
		api_path_body_release(&req);
	}
done_ctx:
	daemon_ctx_close(&ctx);
done:
	if (progress)
		fclose(progress);
	if (!res) {
		status = err ? error_status(err) : 500;
		res = error_json(status, err ? err->msg : "failed");
		nua_error_free(err);
	} else {
		daemon_changed(d);
	}
	if (op->fd >= 0) {
		if (status >= 400)
			op_write(op, res);
		else
			op_write(op, json_pack("{s:o}", "result", res));
		close(op->fd);
		op->fd = -1;
		strbuf_release(&op->body);
		strbuf_release(&op->line);
		free(op);
		return;
	}
	op->status = status;
	op->result = res;
}

static void *op_thread(void *arg)
{
	op_run(arg);
	return NULL;
}

/* Reads the pipe an operation's thread writes its lines to. */
static ssize_t pipe_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	int fd = (int)(intptr_t)cls;
	ssize_t got;

	(void)pos;
	do
		got = read(fd, buf, max);
	while (got < 0 && errno == EINTR);
	if (got <= 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	return got;
}

static void pipe_free(void *cls) { close((int)(intptr_t)cls); }

/* 0 when instance name exists, else NUA_EINPUT (a 404): checked before an
 * operation on it starts streaming. */
static int instance_known(struct daemon *d, const char *name, struct nua_error **err)
{
	struct instance_rec in = { 0 };
	struct nua_ctx ctx;
	int r;

	if (daemon_ctx(d, &ctx, err) < 0)
		return -1;
	r = instance_get(&ctx, name, &in, err);
	if (in.name)
		instance_rec_release(&in);
	daemon_ctx_close(&ctx);
	return r;
}

static enum MHD_Result run_op(struct daemon *d, struct MHD_Connection *c, enum op_kind kind,
			      const char *name, const struct request *req)
{
	const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept");
	struct nua_error *err = NULL;
	struct op *op;
	int r;

	/* A malformed request is a 400 before anything starts (streamed or
	 * not); the operation parses it again in its thread. */
	if (kind == OP_DEPLOY) {
		struct api_deploy dr;

		r = api_parse_deploy(req->body.buf, req->body.len, &dr, &err);
		api_deploy_release(&dr);
	} else if (kind == OP_UPGRADE || kind == OP_ROLLBACK) {
		struct api_upgrade ub;

		r = api_parse_upgrade(req->body.buf, req->body.len, &ub, &err);
		api_upgrade_release(&ub);
		if (r == 0)
			r = instance_known(d, name, &err);
	} else if (kind == OP_CHECK) {
		struct api_snapshot_body cb;

		r = api_parse_snapshot_body(API_BACKUP, req->body.buf, req->body.len, &cb, &err);
		api_snapshot_body_release(&cb);
	} else if (kind == OP_EXPORT) {
		struct api_path_body pb;

		r = api_parse_path_body(API_EXPORT, req->body.buf, req->body.len, &pb, &err);
		api_path_body_release(&pb);
		if (r == 0)
			r = instance_known(d, name, &err);
	} else if (kind == OP_IMPORT) {
		struct api_import ib;

		r = api_parse_import(req->body.buf, req->body.len, &ib, &err);
		api_import_release(&ib);
	} else if (kind == OP_RECOVER) {
		struct api_recover rb;

		r = api_parse_recover(req->body.buf, req->body.len, &rb, &err);
		api_recover_release(&rb);
	} else if (kind == OP_BACKUP || kind == OP_RESTORE) {
		struct api_snapshot_body sb;
		bool copy;

		r = api_parse_snapshot_body(kind == OP_BACKUP ? API_BACKUP : API_RESTORE_SNAPSHOT,
					    req->body.buf, req->body.len, &sb, &err);
		copy = r == 0 && sb.as;
		api_snapshot_body_release(&sb);
		/* An unknown instance is a 404 before any stream starts (a copy
		 * may be made of one that is gone: its snapshots stay). */
		if (r == 0 && !copy)
			r = instance_known(d, name, &err);
	} else {
		struct api_path_body pb;

		r = api_parse_path_body(API_BUILD, req->body.buf, req->body.len, &pb, &err);
		api_path_body_release(&pb);
	}
	if (r < 0)
		return send_nua_error(c, err);
	op = xcalloc(1, sizeof(*op));
	op->d = d;
	op->kind = kind;
	snprintf(op->name, sizeof(op->name), "%s", name ? name : "");
	strbuf_init(&op->body, req->body.len);
	strbuf_add(&op->body, req->body.buf, req->body.len);
	strbuf_init(&op->line, 0);
	if (accept && strstr(accept, "application/x-ndjson")) {
		int fds[2];
		pthread_t t;
		pthread_attr_t attr;
		struct MHD_Response *resp;
		enum MHD_Result ret;

		if (pipe2(fds, O_CLOEXEC) < 0) {
			strbuf_release(&op->body);
			free(op);
			return send_error(c, 500, "cannot make a pipe: %s", strerror(errno));
		}
		op->fd = fds[1];
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &attr, op_thread, op) != 0)
			BUG("cannot start a thread");
		pthread_attr_destroy(&attr);
		resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, pipe_reader,
							 (void *)(intptr_t)fds[0], pipe_free);
		MHD_add_response_header(resp, "Content-Type", "application/x-ndjson");
		ret = api_queue(c, 200, resp);
		MHD_destroy_response(resp);
		return ret;
	}
	op->fd = -1;
	op_run(op);
	{
		enum MHD_Result ret = send_json(c, op->status, op->result);

		strbuf_release(&op->body);
		strbuf_release(&op->line);
		free(op);
		return ret;
	}
}

/* ---- server-sent events ---- */

enum stream_kind { STREAM_LOG, STREAM_EVENTS };

struct stream {
	struct daemon *d;
	enum stream_kind kind;
	char name[64];	  /* log: the instance; events: filter or "" */
	struct strbuf out; /* bytes not sent yet */
	/* log */
	char *path;
	int fd;
	ino_t ino;
	off_t off;
	struct strbuf partial;
	/* events */
	struct state *st;
	int64_t last_id;
	long long last_sent_ms;
};

static void sse_add(struct strbuf *out, int64_t id, const char *event, const char *data)
{
	if (id > 0)
		strbuf_addf(out, "id: %lld\n", (long long)id);
	strbuf_addf(out, "event: %s\n", event);
	for (const char *p = data;;) {
		const char *nl = strchr(p, '\n');

		strbuf_addstr(out, "data: ");
		strbuf_add(out, p, nl ? (size_t)(nl - p) : strlen(p));
		strbuf_addch(out, '\n');
		if (!nl)
			break;
		p = nl + 1;
	}
	strbuf_addch(out, '\n');
}

/* New lines of the log file (reopened when conmon rotates it). */
static void stream_log_poll(struct stream *s)
{
	struct stat st;
	char buf[65536];
	ssize_t got;

	if (stat(s->path, &st) == 0 && (s->fd < 0 || st.st_ino != s->ino || st.st_size < s->off)) {
		if (s->fd >= 0)
			close(s->fd);
		s->fd = open(s->path, O_RDONLY | O_CLOEXEC);
		s->ino = st.st_ino;
		s->off = 0;
	}
	if (s->fd < 0)
		return;
	while ((got = pread(s->fd, buf, sizeof(buf), s->off)) > 0) {
		s->off += got;
		strbuf_add(&s->partial, buf, (size_t)got);
	}
	for (;;) {
		char *nl = memchr(s->partial.buf, '\n', s->partial.len);
		size_t len;

		if (!nl)
			break;
		len = (size_t)(nl - s->partial.buf);
		*nl = '\0';
		sse_add(&s->out, 0, "log", s->partial.buf);
		strbuf_remove(&s->partial, 0, len + 1);
	}
}

static void stream_events_poll(struct stream *s)
{
	struct event_rec *list = NULL;
	size_t n = 0;

	if (state_event_list(s->st, s->last_id, 500, &list, &n, NULL) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		s->last_id = list[i].id;
		if (s->name[0] && (!list[i].instance || !streq(list[i].instance, s->name)))
			continue;
		{
			json_t *o = event_object(&list[i]);
			char *data = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);

			sse_add(&s->out, list[i].id, list[i].kind, data);
			free(data);
			json_decref(o);
		}
	}
	event_rec_list_free(list, n);
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *s = cls;
	size_t n;

	(void)pos;
	while (s->out.len == 0) {
		long long now = monotonic_ms();

		if (s->d->stopping)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (s->kind == STREAM_LOG)
			stream_log_poll(s);
		else
			stream_events_poll(s);
		if (s->out.len)
			break;
		if (now - s->last_sent_ms >= KEEPALIVE_MS) {
			strbuf_addstr(&s->out, ": keep-alive\n\n");
			break;
		}
		sleep_ms(s->kind == STREAM_LOG ? 100 : 250);
	}
	n = s->out.len < max ? s->out.len : max;
	memcpy(buf, s->out.buf, n);
	strbuf_remove(&s->out, 0, n);
	s->last_sent_ms = monotonic_ms();
	return (ssize_t)n;
}

static void stream_free(void *cls)
{
	struct stream *s = cls;

	strbuf_release(&s->out);
	strbuf_release(&s->partial);
	free(s->path);
	if (s->fd >= 0)
		close(s->fd);
	if (s->st)
		state_close(s->st);
	free(s);
}

static enum MHD_Result send_stream(struct MHD_Connection *c, struct stream *s)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	s->last_sent_ms = monotonic_ms();
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_reader, s,
					      stream_free);
	MHD_add_response_header(r, "Content-Type", "text/event-stream");
	MHD_add_response_header(r, "Cache-Control", "no-cache");
	ret = api_queue(c, 200, r);
	MHD_destroy_response(r);
	return ret;
}

static struct stream *stream_new(struct daemon *d, enum stream_kind kind, const char *name)
{
	struct stream *s = xcalloc(1, sizeof(*s));

	s->d = d;
	s->kind = kind;
	s->fd = -1;
	snprintf(s->name, sizeof(s->name), "%s", name ? name : "");
	strbuf_init(&s->out, 0);
	strbuf_init(&s->partial, 0);
	return s;
}

/* ---- handlers ---- */

/* Every instance, or the only one a token may see. */
static enum MHD_Result h_instances(struct daemon *d, struct MHD_Connection *c, struct nua_ctx *ctx,
				   const struct principal *who)
{
	struct instance_rec *list = NULL;
	struct nua_error *err = NULL;
	size_t n = 0;
	json_t *a;

	if (state_instance_list(ctx->st, &list, &n, &err) < 0)
		return send_nua_error(c, err);
	a = json_array();
	for (size_t i = 0; i < n; i++)
		if (!list[i].removing && (!who->instance[0] || streq(who->instance, list[i].name)))
			json_array_append_new(a, instance_object(d, ctx, &list[i]));
	instance_rec_list_free(list, n);
	return send_json(c, 200, a);
}

typedef int (*instance_verb)(struct nua_ctx *ctx, const char *name, struct nua_error **err);

static enum MHD_Result h_verb(struct daemon *d, struct MHD_Connection *c, struct nua_ctx *ctx,
			      const char *name, instance_verb fn)
{
	struct nua_error *err = NULL;
	json_t *o = NULL;
	int r;

	daemon_lock(d, name);
	r = fn(ctx, name, &err);
	if (r == 0)
		o = instance_object_named(d, ctx, name, &err);
	daemon_unlock(d, name);
	if (!o)
		return send_nua_error(c, err);
	return send_json(c, 200, o);
}

static enum MHD_Result h_remove(struct daemon *d, struct MHD_Connection *c, struct nua_ctx *ctx,
				const char *name)
{
	struct nua_error *err = NULL;
	bool purge = arg_true(c, "purge");
	int r;

	daemon_lock(d, name);
	r = instance_remove(ctx, name, purge, &err);
	daemon_unlock(d, name);
	if (r < 0)
		return send_nua_error(c, err);
	return send_json(c, 200, json_pack("{s:s, s:b}", "removed", name, "purged", purge));
}

static enum MHD_Result h_env_get(struct MHD_Connection *c, struct nua_ctx *ctx, const char *name)
{
	struct instance_rec in = { 0 };
	struct nua_error *err = NULL;
	bool show = arg_true(c, "show_secrets") || arg_true(c, "show-secrets");
	json_t *o;

	if (instance_get(ctx, name, &in, &err) < 0)
		return send_nua_error(c, err);
	o = json_object();
	for (size_t i = 0; i < in.n_env; i++) {
		const struct env_rec *e = &in.env[i];
		json_t *v;

		if (!e->secret) {
			v = json_string(e->value);
		} else if (!show) {
			v = json_null();
		} else if (secret_is_sealed(e->value)) {
			char *plain = NULL;

			if (secret_open(e->value, &plain, &err) < 0) {
				json_decref(o);
				instance_rec_release(&in);
				return send_nua_error(c, err);
			}
			v = json_string(plain);
			free(plain);
		} else {
			v = json_string(e->value);
		}
		json_object_set_new(o, e->key, json_pack("{s:o, s:b}", "value", v, "secret",
							 e->secret));
	}
	instance_rec_release(&in);
	return send_json(c, 200, o);
}

static enum MHD_Result h_env_patch(struct daemon *d, struct MHD_Connection *c, struct nua_ctx *ctx,
				   const char *name, const struct request *req)
{
	struct api_env_patch p;
	struct nua_error *err = NULL;
	json_t *o = NULL;

	if (api_parse_env_patch(req->body.buf, req->body.len, &p, &err) < 0) {
		api_env_patch_release(&p);
		return send_nua_error(c, err);
	}
	daemon_lock(d, name);
	if (instance_set_env(ctx, name, (const char *const *)p.set, p.unset, &err) == 0)
		o = instance_object_named(d, ctx, name, &err);
	daemon_unlock(d, name);
	api_env_patch_release(&p);
	if (!o)
		return send_nua_error(c, err);
	return send_json(c, 200, o);
}

static enum MHD_Result h_logs(struct daemon *d, struct MHD_Connection *c, struct nua_ctx *ctx,
			      const char *name)
{
	struct instance_rec in = { 0 };
	struct nua_error *err = NULL;
	const char *tail_arg = arg(c, "tail");
	/* "all", or a count (0: none, for a follow from now on). */
	long long tail = tail_arg && streq(tail_arg, "all") ? -1 : arg_int(c, "tail", 100);
	_cleanup_free_ char *path = NULL;

	if (instance_get(ctx, name, &in, &err) < 0)
		return send_nua_error(c, err);
	instance_rec_release(&in);
	path = instance_log_path(name);
	if (arg_true(c, "follow")) {
		struct stream *s = stream_new(d, STREAM_LOG, name);
		struct stat st;

		s->path = TAKE_PTR(path);
		if (tail != 0) {
			_cleanup_free_ char *t = NULL;
			size_t len;

			if (tail > 0)
				t = file_tail(s->path, (int)tail);
			else if (read_file(s->path, &t, &len) < 0)
				t = xstrdup("");

			for (char *line = t, *nl; *line; line = nl + 1) {
				nl = strchr(line, '\n');
				if (nl)
					*nl = '\0';
				sse_add(&s->out, 0, "log", line);
				if (!nl)
					break;
			}
		}
		/* Follow from the end of what exists now. */
		if (stat(s->path, &st) == 0) {
			s->fd = open(s->path, O_RDONLY | O_CLOEXEC);
			s->ino = st.st_ino;
			s->off = st.st_size;
		}
		return send_stream(c, s);
	}
	if (tail == 0)
		return send_text(c, 200, "text/plain; charset=utf-8", "", 0);
	if (tail < 0) {
		_cleanup_free_ char *all = NULL;
		size_t len = 0;

		if (read_file(path, &all, &len) < 0)
			return send_text(c, 200, "text/plain; charset=utf-8", "", 0);
		return send_text(c, 200, "text/plain; charset=utf-8", all, len);
	}
	{
		_cleanup_free_ char *t = file_tail(path, (int)tail);

		return send_text(c, 200, "text/plain; charset=utf-8", t, strlen(t));
	}
}

static enum MHD_Result h_events(struct daemon *d, struct MHD_Connection *c, struct nua_ctx *ctx)
{
	const char *inst = arg(c, "instance");
	const char *last_event = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID");
	long long limit = arg_int(c, "limit", 100);
	long long since = arg_int(c, "since", -1);
	struct nua_error *err = NULL;
	struct event_rec *list = NULL;
	size_t n = 0;
	json_t *a;

	if (last_event && since < 0)
		since = atoll(last_event);
	if (limit <= 0 || limit > 10000)
		limit = 100;
	if (since < 0) {
		int64_t last = 0;

		/* The last `limit` (of the instance when filtered: look further
		 * back, a bounded amount). */
		if (state_event_last_id(ctx->st, &last, &err) < 0)
			return send_nua_error(c, err);
		since = last - (inst ? limit * 20 : limit);
		if (since < 0)
			since = 0;
	}
	if (arg_true(c, "follow")) {
		struct stream *s = stream_new(d, STREAM_EVENTS, inst);
		_cleanup_free_ char *db = nua_root_path("nua.db");

		if (state_open(db, &s->st, &err) < 0) {
			stream_free(s);
			return send_nua_error(c, err);
		}
		s->last_id = since;
		stream_events_poll(s);
		return send_stream(c, s);
	}
	if (state_event_list(ctx->st, since, 100000, &list, &n, &err) < 0)
		return send_nua_error(c, err);
	a = json_array();
	for (size_t i = 0; i < n; i++)
		if (!inst || (list[i].instance && streq(list[i].instance, inst)))
			json_array_append_new(a, event_object(&list[i]));
	while (json_array_size(a) > (size_t)limit)
		json_array_remove(a, 0);
	event_rec_list_free(list, n);
	return send_json(c, 200, a);
}

static json_t *stats_object(const char *name, const struct metric_rec *recs, size_t n,
			    int64_t now, int64_t window, bool series)
{
	struct metrics_summary m;
	json_t *o;

	metrics_summarize(recs, n, now, window, &m);
	o = json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:I, s:I}", "name", name,
		      "cpu_percent", m.cpu_percent >= 0 ? json_real(m.cpu_percent) : json_null(),
		      "memory", int_or_null(m.memory, m.memory >= 0), "memory_peak",
		      int_or_null(m.memory_peak, m.memory_peak >= 0), "pids",
		      int_or_null(m.pids, m.pids >= 0), "restarts",
		      int_or_null(m.restarts, m.restarts >= 0), "health_ms",
		      int_or_null(m.health_ms, m.health_ms >= 0), "samples",
		      (json_int_t)m.samples, "from", (json_int_t)m.from, "to", (json_int_t)m.to);
	if (series) {
		json_t *a = json_array();

		for (size_t i = 0; i < n; i++)
			if (recs[i].time >= now - window)
				json_array_append_new(
					a, json_pack("[I, o, o, o, o]", (json_int_t)recs[i].time,
						     int_or_null(recs[i].cpu_usec, recs[i].cpu_usec >= 0),
						     int_or_null(recs[i].memory, recs[i].memory >= 0),
						     int_or_null(recs[i].pids, recs[i].pids >= 0),
						     int_or_null(recs[i].health_ms,
								 recs[i].health_ms >= 0)));
		json_object_set_new(o, "series", a);
	}
	return o;
}

static enum MHD_Result h_stats(struct daemon *d, struct MHD_Connection *c, struct nua_ctx *ctx,
			       const char *name)
{
	int64_t now = (int64_t)time(NULL);
	int64_t window = arg_int(c, "window", 300);
	struct metric_rec *recs = NULL;
	struct instance_rec *list = NULL;
	struct nua_error *err = NULL;
	size_t n = 0, ni = 0;
	json_t *a;

	if (window <= 0)
		window = 300;
	if (name) {
		struct instance_rec in = { 0 };
		json_t *o;

		if (instance_get(ctx, name, &in, &err) < 0)
			return send_nua_error(c, err);
		instance_rec_release(&in);
		if (state_metrics_list(ctx->st, name, now - window, &recs, &n, &err) < 0)
			return send_nua_error(c, err);
		o = stats_object(name, recs, n, now, window, arg_true(c, "series"));
		metric_rec_list_free(recs, n);
		return send_json(c, 200, o);
	}
	if (state_instance_list(ctx->st, &list, &ni, &err) < 0 ||
	    state_metrics_list(ctx->st, NULL, now - window, &recs, &n, &err) < 0) {
		instance_rec_list_free(list, ni);
		return send_nua_error(c, err);
	}
	a = json_array();
	for (size_t i = 0; i < ni; i++) {
		size_t from = 0, to;

		while (from < n && strcmp(recs[from].instance, list[i].name) < 0)
			from++;
		for (to = from; to < n && streq(recs[to].instance, list[i].name); to++)
			;
		json_array_append_new(a, stats_object(list[i].name, recs + from, to - from, now,
						      window, false));
	}
	metric_rec_list_free(recs, n);
	instance_rec_list_free(list, ni);
	return send_json(c, 200,
			 json_pack("{s:o, s:{s:I, s:I}}", "instances", a, "daemon", "rss",
				   (json_int_t)metrics_self_rss(), "uptime",
				   (json_int_t)((monotonic_ms() - d->started_ms) / 1000)));
}

static enum MHD_Result h_metrics(struct daemon *d, struct MHD_Connection *c, struct nua_ctx *ctx)
{
	struct instance_rec *list = NULL;
	struct metrics_instance *mi;
	struct metrics_daemon md;
	struct nua_error *err = NULL;
	struct strbuf out = STRBUF_INIT;
	size_t ni = 0;
	enum MHD_Result ret;

	if (state_instance_list(ctx->st, &list, &ni, &err) < 0)
		return send_nua_error(c, err);
	mi = xcalloc(ni ? ni : 1, sizeof(*mi));
	for (size_t i = 0; i < ni; i++) {
		struct instance_status is;
		struct cgroup_sample cs = { -1, -1, -1, -1 };
		long long latency = -1;
		bool running;

		if (instance_status_of(ctx, &list[i], &is, NULL) < 0)
			memset(&is, 0, sizeof(is));
		running = is.ctr.status == CONTAINER_RUNNING;
		/* Counters read now, and the supervisor's last health check: a
		 * scrape sees the present, not the last stored sample. */
		if (running && is.ctr.pid > 0 && metrics_sample_pid(is.ctr.pid, &cs, NULL) < 0)
			cs = (struct cgroup_sample){ -1, -1, -1, -1 };
		if (running)
			sup_health_info(d, list[i].name, &latency, NULL, 0);
		mi[i] = (struct metrics_instance){
			.name = list[i].name,
			.state = shown_state(&list[i], &is),
			.health = running ? list[i].health : "unknown",
			.cpu_usec = cs.cpu_usec,
			.memory = cs.memory,
			.memory_limit = cs.memory_limit,
			.pids = cs.pids,
			.restarts = list[i].restarts,
			.health_ms = latency,
			.started_at = running && is.started_at ? is.started_at : -1,
		};
	}
	md = (struct metrics_daemon){ metrics_self_rss(), (monotonic_ms() - d->started_ms) / 1000,
				      (int64_t)ni, (int64_t)d->requests };
	metrics_render_prometheus(&out, mi, ni, &md);
	ret = send_text(c, 200, "text/plain; version=0.0.4; charset=utf-8", out.buf, out.len);
	strbuf_release(&out);
	free(mi);
	instance_rec_list_free(list, ni);
	return ret;
}

static enum MHD_Result h_images(struct MHD_Connection *c, struct nua_ctx *ctx)
{
	struct image_rec *imgs = NULL;
	struct instance_rec *ins = NULL;
	struct nua_error *err = NULL;
	size_t n = 0, ni = 0;
	json_t *a;

	if (state_image_list(ctx->st, &imgs, &n, &err) < 0 ||
	    state_instance_list(ctx->st, &ins, &ni, &err) < 0) {
		image_rec_list_free(imgs, n);
		return send_nua_error(c, err);
	}
	a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, image_object(&imgs[i], ins, ni));
	image_rec_list_free(imgs, n);
	instance_rec_list_free(ins, ni);
	return send_json(c, 200, a);
}

static enum MHD_Result h_image_rm(struct daemon *d, struct MHD_Connection *c, struct nua_ctx *ctx,
				  const char *ref)
{
	struct nua_error *err = NULL;
	int r;

	pthread_mutex_lock(&d->build_mu);
	r = image_remove(ctx->st, ref, &err);
	pthread_mutex_unlock(&d->build_mu);
	if (r < 0)
		return send_nua_error(c, err);
	return send_json(c, 200, json_pack("{s:s}", "removed", ref));
}

static enum MHD_Result h_image_import(struct daemon *d, struct MHD_Connection *c,
				      struct nua_ctx *ctx, const struct request *req)
{
	struct api_path_body b;
	struct nua_error *err = NULL;
	char *made = NULL;
	json_t *o = NULL;
	int r;

	if (api_parse_path_body(API_IMPORT, req->body.buf, req->body.len, &b, &err) < 0) {
		api_path_body_release(&b);
		return send_nua_error(c, err);
	}
	pthread_mutex_lock(&d->build_mu);
	r = image_import(ctx->st, b.path, b.ref, &made, &err);
	pthread_mutex_unlock(&d->build_mu);
	api_path_body_release(&b);
	if (r == 0)
		o = image_object_named(ctx, made, &err);
	free(made);
	if (!o)
		return send_nua_error(c, err);
	return send_json(c, 201, o);
}

static enum MHD_Result h_image_export(struct MHD_Connection *c, struct nua_ctx *ctx,
				      const char *ref, const struct request *req)
{
	struct api_path_body b;
	struct nua_error *err = NULL;
	struct stat st;
	json_t *o;

	if (api_parse_path_body(API_EXPORT, req->body.buf, req->body.len, &b, &err) < 0) {
		api_path_body_release(&b);
		return send_nua_error(c, err);
	}
	if (image_export(ctx->st, ref, b.path, &err) < 0) {
		api_path_body_release(&b);
		return send_nua_error(c, err);
	}
	o = json_pack("{s:s, s:I}", "path", b.path,
		      "size", (json_int_t)(stat(b.path, &st) == 0 ? st.st_size : 0));
	api_path_body_release(&b);
	return send_json(c, 200, o);
}

/* The resource servers, and which instance's resources each serves. */
static enum MHD_Result h_resources(struct daemon *d, struct MHD_Connection *c,
				   struct nua_ctx *ctx)
{
	struct instance_rec *list = NULL;
	struct nua_error *err = NULL;
	size_t n = 0;
	json_t *servers = json_object(), *a = json_array(), *v;
	const char *key;

	if (state_instance_list(ctx->st, &list, &n, &err) < 0) {
		json_decref(servers);
		json_decref(a);
		return send_nua_error(c, err);
	}
	for (size_t i = 0; i < n; i++) {
		if (list[i].removing || !resource_reserved_name(list[i].name))
			continue;
		json_t *o = instance_object(d, ctx, &list[i]);

		_cleanup_free_ char *type = xstrndup(list[i].image_ref,
						     strcspn(list[i].image_ref, ":"));

		json_object_set_new(servers, list[i].name,
				    json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:[]}", "name",
					      list[i].name, "type", type, "state",
					      json_incref(json_object_get(o, "state")), "health",
					      json_incref(json_object_get(o, "health")), "ip",
					      json_incref(json_object_get(o, "ip")), "image",
					      json_incref(json_object_get(o, "image")), "used_by"));
		json_decref(o);
	}
	for (size_t i = 0; i < n; i++) {
		struct image_rec img = { 0 };
		json_t *cfg, *r;
		size_t k;

		if (list[i].removing || resource_reserved_name(list[i].name) ||
		    state_image_get(ctx->st, list[i].image_ref, &img, NULL) < 0)
			continue;
		cfg = json_loads(img.config ? img.config : "{}", 0, NULL);
		image_rec_release(&img);
		json_array_foreach(json_object_get(cfg, "resource"), k, r) {
			const char *rname = json_string_value(json_object_get(r, "name"));
			const char *server =
				rname ? resource_server_of(list[i].env, list[i].n_env, rname) : NULL;
			json_t *srv = server ? json_object_get(servers, server) : NULL;

			if (srv)
				json_array_append_new(
					json_object_get(srv, "used_by"),
					json_pack("{s:s, s:o}", "instance", list[i].name, "resource",
						  json_incref(json_object_get(r, "name"))));
		}
		json_decref(cfg);
	}
	json_object_foreach(servers, key, v) json_array_append(a, v);
	json_decref(servers);
	instance_rec_list_free(list, n);
	return send_json(c, 200, a);
}

/* POST /v1/instances/NAME/resources/RES/dump or restore. */
static enum MHD_Result h_resource_data(struct daemon *d, struct MHD_Connection *c,
				       struct nua_ctx *ctx, const char *name, const char *res,
				       bool dump, const struct request *req)
{
	struct api_path_body b;
	struct nua_error *err = NULL;
	struct instance_rec in = { 0 };
	struct image_rec img = { 0 };
	const char *type = NULL, *server = NULL;
	json_t *cfg = NULL, *r;
	size_t i;
	int ret;

	if (api_parse_path_body(dump ? API_DUMP : API_RESTORE, req->body.buf, req->body.len, &b,
				&err) < 0) {
		api_path_body_release(&b);
		return send_nua_error(c, err);
	}
	daemon_lock(d, name);
	ret = instance_get(ctx, name, &in, &err);
	if (ret == 0 && (ret = state_image_get(ctx->st, in.image_ref, &img, &err)) == 0) {
		cfg = json_loads(img.config ? img.config : "{}", 0, NULL);
		json_array_foreach(json_object_get(cfg, "resource"), i, r)
			if (streq(json_string_value(json_object_get(r, "name")) ?: "", res))
				type = json_string_value(json_object_get(r, "type"));
		if (!type)
			ret = nua_error_set(&err, NUA_EINPUT, "'%s' has no resource named '%s'", name,
					    res);
	}
	if (ret == 0 && !(server = resource_server_of(in.env, in.n_env, res)))
		ret = nua_error_set(&err, NUA_EINPUT,
				    "resource '%s' of '%s' is on a server outside Nua: dump it there",
				    res, name);
	if (ret == 0)
		ret = dump ? resource_dump(ctx, name, res, type, server, b.path, &err)
			   : resource_restore(ctx, name, res, type, server, b.path, &err);
	daemon_unlock(d, name);
	json_decref(cfg);
	image_rec_release(&img);
	if (in.name)
		instance_rec_release(&in);
	if (ret < 0) {
		api_path_body_release(&b);
		return send_nua_error(c, err);
	}
	{
		json_t *o = json_pack("{s:s, s:s, s:s}", dump ? "dumped" : "restored", res,
				      "instance", name, "path", b.path);

		api_path_body_release(&b);
		return send_json(c, 200, o);
	}
}

/* GET /v1/backups[?instance=NAME] */
static enum MHD_Result h_backups(struct MHD_Connection *c, struct nua_ctx *ctx)
{
	const char *inst = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "instance");
	struct backup_snapshot *list = NULL;
	struct nua_error *err = NULL;
	size_t n = 0;
	json_t *a;

	if (inst && !valid_name(inst, 64))
		return send_error(c, 400, "'%s' is not an instance name", inst);
	if (backup_list(ctx, inst, &list, &n, &err) < 0)
		return send_nua_error(c, err);
	a = json_array();
	for (size_t i = 0; i < n; i++) {
		const struct backup_snapshot *b = &list[i];
		json_t *vols, *res, *o;

		if (b->error) {
			json_array_append_new(a, json_pack("{s:s, s:s}", "target", b->target, "error",
							   b->error));
			continue;
		}
		vols = json_array();
		res = json_array();

		for (size_t k = 0; b->volumes[k]; k++)
			json_array_append_new(vols, json_string(b->volumes[k]));
		for (size_t k = 0; b->resources[k]; k++)
			json_array_append_new(res, json_string(b->resources[k]));
		o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s?, s:s?, s:s?, s:o, s:o}", "id", b->id,
			      "short_id", b->short_id, "target", b->target, "instance", b->instance,
			      "time", (json_int_t)b->time, "kind", b->kind, "image", b->image_ref,
			      "nua_version", b->nua_version, "volumes", vols, "resources", res);
		json_object_set_new(o, "bytes", b->bytes >= 0 ? json_integer(b->bytes) : json_null());
		json_object_set_new(o, "files", b->files >= 0 ? json_integer(b->files) : json_null());
		json_object_set_new(o, "added", b->added >= 0 ? json_integer(b->added) : json_null());
		json_array_append_new(a, o);
	}
	backup_snapshot_list_free(list, n);
	return send_json(c, 200, a);
}

/* GET /v1/backup/key */
static enum MHD_Result h_backup_key(struct MHD_Connection *c, struct nua_ctx *ctx)
{
	struct nua_error *err = NULL;
	char *text = NULL;
	enum MHD_Result ret;
	json_t *o;

	if (backup_key(ctx, &text, &err) < 0)
		return send_nua_error(c, err);
	o = json_pack("{s:s}", "key", text);
	explicit_bzero(text, strlen(text));
	free(text);
	ret = send_json(c, 200, o);
	return ret;
}

/* GET, POST /v1/backup/targets; DELETE /v1/backup/targets/NAME */
static enum MHD_Result h_targets(struct MHD_Connection *c, struct nua_ctx *ctx,
				 const char *method, const char *name, const struct request *req)
{
	struct nua_error *err = NULL;
	void *list = NULL;
	int r;

	if (streq(method, "POST")) {
		struct api_target t;

		r = api_parse_target(req->body.buf, req->body.len, &t, &err);
		if (r == 0)
			r = backup_target_add(ctx, t.name, t.url, t.sftp_command,
					      (const char *const *)t.credentials, &err);
		api_target_release(&t);
		if (r < 0)
			return send_nua_error(c, err);
	} else if (streq(method, "DELETE")) {
		if (backup_target_remove(ctx, name, &err) < 0)
			return send_nua_error(c, err);
	}
	if (backup_target_list(ctx, &list, &err) < 0)
		return send_nua_error(c, err);
	return send_json(c, streq(method, "POST") ? 201 : 200, list);
}

/* GET, PATCH /v1/backup/policy */
static enum MHD_Result h_policy(struct MHD_Connection *c, struct nua_ctx *ctx, bool patch,
				const struct request *req)
{
	struct nua_error *err = NULL;
	struct backup_policy p;

	if (backup_policy_get(ctx, &p, &err) < 0)
		return send_nua_error(c, err);
	if (patch) {
		struct api_policy a;

		if (api_parse_policy(req->body.buf, req->body.len, &a, &err) < 0)
			return send_nua_error(c, err);
		if (a.has_frequency)
			p.frequency = a.frequency;
		if (a.has_last)
			p.keep_last = (int)a.last;
		if (a.has_daily)
			p.keep_daily = (int)a.daily;
		if (a.has_weekly)
			p.keep_weekly = (int)a.weekly;
		if (a.has_monthly)
			p.keep_monthly = (int)a.monthly;
		if (backup_policy_set(ctx, &p, &err) < 0)
			return send_nua_error(c, err);
	}
	return send_json(c, 200,
			 json_pack("{s:I, s:{s:i, s:i, s:i, s:i}}", "frequency",
				   (json_int_t)p.frequency, "keep", "last", p.keep_last, "daily",
				   p.keep_daily, "weekly", p.keep_weekly, "monthly", p.keep_monthly));
}

/* ---- TLS ---- */

/* GET /v1/instances/NAME/domains; POST (add) and DELETE (remove) with
 * {"domain": "HOST[/PATH]", "redirect"?: bool}. */
static enum MHD_Result h_domains(struct daemon *d, struct MHD_Connection *c,
				 struct nua_ctx *ctx, const char *method, const char *name,
				 const struct request *req)
{
	struct nua_error *err = NULL;
	struct instance_rec in = { 0 };
	struct api_tls t = { 0 };
	int r = 0;
	json_t *o;

	if (!streq(method, "GET")) {
		if (instance_known(d, name, &err) < 0)
			return send_nua_error(c, err);
		r = api_parse_tls(req->body.buf, req->body.len,
				  streq(method, "POST") ? API_TLS_ALIAS : API_TLS_UNALIAS, &t, &err);
		if (r == 0) {
			daemon_lock(d, name);
			r = streq(method, "POST")
				    ? instance_alias_add(ctx, name, t.domain, t.redirect, &err)
				    : instance_alias_remove(ctx, name, t.domain, &err);
			daemon_unlock(d, name);
		}
		api_tls_release(&t);
		if (r < 0)
			return send_nua_error(c, err);
	}
	if (instance_get(ctx, name, &in, &err) < 0)
		return send_nua_error(c, err);
	o = json_pack("{s:s, s:o, s:o, s:o}", "name", name, "domain",
		      in.domain ? json_sprintf("%s%s", in.domain,
					       in.path && !streq(in.path, "/") ? in.path : "")
				: json_null(),
		      "url", instance_url(d, in.domain, in.path), "aliases", aliases_json(d, &in));
	instance_rec_release(&in);
	return send_json(c, 200, o);
}

/* GET /v1/tls; GET /v1/tls/ca; GET, PATCH /v1/tls/config; PUT
 * /v1/tls/certs/DOMAIN; POST /v1/tls/renew */
static enum MHD_Result h_tls(struct MHD_Connection *c, struct nua_ctx *ctx, const char *method,
			     const char *what, const char *domain, const struct request *req)
{
	struct nua_error *err = NULL;
	struct api_tls t = { 0 };
	void *json = NULL;
	int r = 0;

	if (!what) {
		r = tls_list(ctx, &json, &err);
	} else if (streq(what, "ca")) {
		char *pem = NULL;

		if ((r = tls_ca_pem(&pem, &err)) == 0)
			json = json_pack("{s:s}", "pem", pem);
		free(pem);
	} else if (streq(what, "config")) {
		if (streq(method, "PATCH")) {
			struct tls_config cfg = { 0 };

			r = api_parse_tls(req->body.buf, req->body.len, API_TLS_CONFIG, &t, &err);
			cfg = (struct tls_config){ t.directory, t.email, t.ca_bundle, t.issuer };
			if (r == 0)
				r = tls_config_set(ctx, &cfg, &err);
		}
		if (r == 0)
			r = tls_config_get(ctx, &json, &err);
	} else if (streq(what, "certs")) {
		r = api_parse_tls(req->body.buf, req->body.len, API_TLS_CERT, &t, &err);
		if (r == 0)
			r = tls_set_custom(ctx, domain, t.cert, strlen(t.cert), t.key,
					   strlen(t.key), &err);
		if (r == 0)
			r = tls_list(ctx, &json, &err);
	} else {
		r = api_parse_tls(req->body.buf, req->body.len, API_TLS_RENEW, &t, &err);
		if (r == 0)
			r = tls_issue(ctx, t.domain, true, &err);
		if (r == 0)
			r = tls_list(ctx, &json, &err);
	}
	api_tls_release(&t);
	if (r < 0)
		return send_nua_error(c, err);
	return send_json(c, 200, json);
}

/* PATCH /v1/instances/NAME/tls {"hsts": bool} */
static enum MHD_Result h_instance_tls(struct daemon *d, struct MHD_Connection *c,
				      struct nua_ctx *ctx, const char *name,
				      const struct request *req)
{
	struct nua_error *err = NULL;
	struct api_tls t;
	int r;

	if (instance_known(d, name, &err) < 0)
		return send_nua_error(c, err);
	r = api_parse_tls(req->body.buf, req->body.len, API_TLS_HSTS, &t, &err);
	if (r == 0)
		r = tls_set_hsts(ctx, name, t.hsts == 1, &err);
	api_tls_release(&t);
	if (r == 0) {
		/* The route carries it: the instance's next pass rewrites it. */
		daemon_lock(d, name);
		r = instance_converge(ctx, name, &err);
		daemon_unlock(d, name);
	}
	if (r < 0)
		return send_nua_error(c, err);
	return send_json(c, 200,
			 json_pack("{s:s, s:b}", "name", name, "hsts", tls_hsts(ctx, name)));
}

/* ---- the store ---- */

/* GET /v1/store[?q=WORDS]; GET /v1/store/APP */
static enum MHD_Result h_store(struct MHD_Connection *c, const char *app)
{
	struct nua_error *err = NULL;
	json_t *out = NULL;
	int r;

	if (app)
		r = store_get(app, &out, &err);
	else
		r = store_list(MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "q"), &out, &err);
	if (r < 0)
		return send_nua_error(c, err);
	return send_json(c, 200, out);
}

/* ---- routing ---- */

static enum MHD_Result route(struct daemon *d, struct MHD_Connection *c, const char *url,
			     const char *method, const struct request *req,
			     char seg[][API_SEGMENT_MAX], size_t n)
{
	struct nua_ctx ctx;
	struct nua_error *err = NULL;
	enum MHD_Result ret;
	bool get = streq(method, "GET"), post = streq(method, "POST");
	bool del = streq(method, "DELETE"), patch = streq(method, "PATCH");
	const char *name = n >= 3 ? seg[2] : NULL;

	if (n == 1 && streq(seg[0], "metrics") && get) {
		if (daemon_ctx(d, &ctx, &err) < 0)
			return send_nua_error(c, err);
		ret = h_metrics(d, c, &ctx);
		daemon_ctx_close(&ctx);
		return ret;
	}
	if (n < 2 || n > 6 || !streq(seg[0], "v1"))
		return send_error(c, 404, "no endpoint '%s' (see docs/api.md)", url);
	{
		bool handled = false;

		ret = api_access_route(d, c, method, seg, n, req, &handled);
		if (handled)
			return ret;
	}
	if ((n == 2 || n == 3) && streq(seg[1], "store") && get)
		return h_store(c, n == 3 ? seg[2] : NULL);
	if (n == 2 && streq(seg[1], "version") && get)
		return send_json(c, 200,
				 json_pack("{s:s, s:i, s:s, s:s, s:s}", "version", NUA_VERSION,
					   "api", 1, "root", nua_root(), "driver",
					   d->rt.driver->name, "runtime", d->rt.oci_name));
	if ((n == 2 && (streq(seg[1], "instances") || streq(seg[1], "images")) && post))
		return run_op(d, c, streq(seg[1], "instances") ? OP_DEPLOY : OP_BUILD, NULL, req);
	if (n == 2 && streq(seg[1], "restore") && post)
		return run_op(d, c, OP_RECOVER, NULL, req);
	if (n == 2 && streq(seg[1], "import") && post)
		return run_op(d, c, OP_IMPORT, NULL, req);
	if (n == 3 && streq(seg[1], "backup") && streq(seg[2], "check") && post)
		return run_op(d, c, OP_CHECK, NULL, req);
	if (n == 4 && streq(seg[1], "instances") && post && streq(seg[3], "export"))
		return run_op(d, c, OP_EXPORT, name, req);
	if (n == 4 && streq(seg[1], "instances") && post &&
	    (streq(seg[3], "upgrade") || streq(seg[3], "rollback")))
		return run_op(d, c, streq(seg[3], "upgrade") ? OP_UPGRADE : OP_ROLLBACK, name, req);
	if (n == 4 && streq(seg[1], "instances") && post &&
	    (streq(seg[3], "backup") || streq(seg[3], "restore")))
		return run_op(d, c, streq(seg[3], "backup") ? OP_BACKUP : OP_RESTORE, name, req);

	if (daemon_ctx(d, &ctx, &err) < 0)
		return send_nua_error(c, err);
	ret = MHD_NO;
	if (n == 2 && streq(seg[1], "health") && get) {
		ret = send_json(c, 200,
				json_pack("{s:s, s:I, s:b}", "status", "ok", "uptime",
					  (json_int_t)((monotonic_ms() - d->started_ms) / 1000),
					  "converged", d->reconciled));
	} else if (n == 2 && streq(seg[1], "instances") && get) {
		ret = h_instances(d, c, &ctx, &req->who);
	} else if (n == 3 && streq(seg[1], "instances") && get) {
		json_t *o = instance_object_named(d, &ctx, name, &err);

		if (o)
			json_object_set_new(o, "log", log_lines(name, 10));
		ret = o ? send_json(c, 200, o) : send_nua_error(c, err);
	} else if (n == 3 && streq(seg[1], "instances") && del) {
		ret = h_remove(d, c, &ctx, name);
	} else if (n == 4 && streq(seg[1], "instances") && post && streq(seg[3], "start")) {
		ret = h_verb(d, c, &ctx, name, instance_start);
	} else if (n == 4 && streq(seg[1], "instances") && post && streq(seg[3], "stop")) {
		ret = h_verb(d, c, &ctx, name, instance_stop);
	} else if (n == 4 && streq(seg[1], "instances") && post && streq(seg[3], "restart")) {
		ret = h_verb(d, c, &ctx, name, instance_restart);
	} else if (n == 4 && streq(seg[1], "instances") && get && streq(seg[3], "env")) {
		ret = h_env_get(c, &ctx, name);
	} else if (n == 4 && streq(seg[1], "instances") && patch && streq(seg[3], "env")) {
		ret = h_env_patch(d, c, &ctx, name, req);
	} else if (n == 4 && streq(seg[1], "instances") && get && streq(seg[3], "logs")) {
		ret = h_logs(d, c, &ctx, name);
	} else if (n == 4 && streq(seg[1], "instances") && get && streq(seg[3], "stats")) {
		ret = h_stats(d, c, &ctx, name);
	} else if (n == 6 && streq(seg[1], "instances") && streq(seg[3], "resources") && post &&
		   (streq(seg[5], "dump") || streq(seg[5], "restore"))) {
		ret = h_resource_data(d, c, &ctx, name, seg[4], streq(seg[5], "dump"), req);
	} else if (n == 2 && streq(seg[1], "backups") && get) {
		ret = h_backups(c, &ctx);
	} else if (n == 3 && streq(seg[1], "backup") && streq(seg[2], "targets") && (get || post)) {
		ret = h_targets(c, &ctx, method, NULL, req);
	} else if (n == 4 && streq(seg[1], "backup") && streq(seg[2], "targets") && del) {
		ret = h_targets(c, &ctx, method, seg[3], req);
	} else if (n == 3 && streq(seg[1], "backup") && streq(seg[2], "policy") && (get || patch)) {
		ret = h_policy(c, &ctx, patch, req);
	} else if (n == 3 && streq(seg[1], "backup") && get && streq(seg[2], "key")) {
		ret = h_backup_key(c, &ctx);
	} else if (n == 2 && streq(seg[1], "tls") && get) {
		ret = h_tls(c, &ctx, method, NULL, NULL, req);
	} else if (n == 3 && streq(seg[1], "tls") &&
		   ((get && (streq(seg[2], "ca") || streq(seg[2], "config"))) ||
		    (patch && streq(seg[2], "config")) || (post && streq(seg[2], "renew")))) {
		ret = h_tls(c, &ctx, method, seg[2], NULL, req);
	} else if (n == 4 && streq(seg[1], "tls") && streq(seg[2], "certs") &&
		   streq(method, "PUT")) {
		ret = h_tls(c, &ctx, method, seg[2], seg[3], req);
	} else if (n == 4 && streq(seg[1], "instances") && streq(seg[3], "domains") &&
		   (get || post || del)) {
		ret = h_domains(d, c, &ctx, method, name, req);
	} else if (n == 4 && streq(seg[1], "instances") && patch && streq(seg[3], "tls")) {
		ret = h_instance_tls(d, c, &ctx, name, req);
	} else if (n == 2 && streq(seg[1], "resources") && get) {
		ret = h_resources(d, c, &ctx);
	} else if (n == 2 && streq(seg[1], "stats") && get) {
		ret = h_stats(d, c, &ctx, NULL);
	} else if (n == 2 && streq(seg[1], "events") && get) {
		ret = h_events(d, c, &ctx);
	} else if (n == 2 && streq(seg[1], "images") && get) {
		ret = h_images(c, &ctx);
	} else if (n == 3 && streq(seg[1], "images") && post && streq(seg[2], "import")) {
		ret = h_image_import(d, c, &ctx, req);
	} else if (n == 3 && streq(seg[1], "images") && del) {
		ret = h_image_rm(d, c, &ctx, seg[2]);
	} else if (n == 4 && streq(seg[1], "images") && post && streq(seg[3], "export")) {
		ret = h_image_export(c, &ctx, seg[2], req);
	} else {
		bool known = (n == 2 && (streq(seg[1], "instances") || streq(seg[1], "images") ||
					 streq(seg[1], "resources") || streq(seg[1], "backups") ||
					 streq(seg[1], "events") || streq(seg[1], "stats") ||
					 streq(seg[1], "health") || streq(seg[1], "tls"))) ||
			     (n >= 3 && (streq(seg[1], "instances") || streq(seg[1], "images")));

		ret = known ? send_error(c, 405, "%s is not allowed on '%s'", method, url)
			    : send_error(c, 404, "no endpoint '%s' (see docs/api.md)", url);
	}
	daemon_ctx_close(&ctx);
	return ret;
}

/* The API is served on two sockets: the unix socket of root, and the one
 * nginx passes the remote API to (the admin domain), where every request
 * needs a token. */
struct listener {
	struct daemon *d;
	bool remote;
};
static struct listener listeners[2];

/* Identified, allowed, then routed. */
static enum MHD_Result serve(const struct listener *l, struct MHD_Connection *c,
			     const char *url, const char *method, const struct request *req)
{
	char seg[API_PATH_SEGMENTS][API_SEGMENT_MAX];
	int sn = api_split_path(url, seg);
	size_t n = sn < 0 ? 99 : (size_t)sn;
	const char *why;

	if (req->too_big && req->upload_fd >= 0)
		return send_error(c, 413, "the upload is over %lld bytes (NUA_UPLOAD_MAX on the server)",
				  api_upload_max());
	if (req->too_big)
		return send_error(c, 413, "the request's body is over %d bytes", BODY_MAX);
	if (req->portal)
		return api_portal(l->d, c, method, url, req);
	if (!req->who.known) {
		struct MHD_Response *r;
		_cleanup_free_ char *body = NULL;
		enum MHD_Result ret;

		{
			json_t *j = json_pack("{s:{s:i, s:s}}", "error", "status", 401, "message",
					      req->who.why);

			body = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
			json_decref(j);
		}
		r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
		MHD_add_response_header(r, "Content-Type", "application/json");
		MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"nua\"");
		ret = api_queue(c, 401, r);
		MHD_destroy_response(r);
		return ret;
	}
	if (n >= 2 && n <= 6 && (why = api_forbidden(c, req, method, seg, n)))
		return send_error(c, 403, "%s", why);
	return route(l->d, c, url, method, req, seg, n);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
			       const char *method, const char *version, const char *upload,
			       size_t *upload_size, void **con_cls)
{
	const struct listener *l = cls;
	struct request *req = *con_cls;
	long long t0;
	enum MHD_Result r;

	(void)version;
	if (!req) {
		req = xcalloc(1, sizeof(*req));
		strbuf_init(&req->body, 0);
		req->upload_fd = -1;
		api_identify(l->d, c, l->remote, req);
		req->portal = l->remote && api_portal_path(method, url);
		/* A package's upload goes to a file as it comes. */
		if (req->who.known && streq(method, "POST") && streq(url, "/v1/packages")) {
			_cleanup_free_ char *dir = api_uploads_dir();

			if (mkdir_p(dir, 0700) == 0) {
				req->upload_path = xasprintf("%s/.upload-XXXXXX", dir);
				req->upload_fd = mkostemp(req->upload_path, O_CLOEXEC);
			}
		}
		*con_cls = req;
		return MHD_YES;
	}
	if (*upload_size) {
		/* Nothing of an unknown client's body is kept, but the
		 * portal's forms. */
		if ((!req->who.known && !req->portal) || req->too_big) {
			/* dropped */
		} else if (req->upload_fd >= 0) {
			req->upload_len += (long long)*upload_size;
			if (req->upload_len > api_upload_max() ||
			    write_all(req->upload_fd, upload, *upload_size) < 0)
				req->too_big = true;
		} else if (req->body.len + *upload_size > BODY_MAX) {
			req->too_big = true;
		} else {
			strbuf_add(&req->body, upload, *upload_size);
		}
		*upload_size = 0;
		return MHD_YES;
	}
	l->d->requests++;
	t0 = monotonic_ms();
	r = serve(l, c, url, method, req);
	if (!streq(method, "GET") || api_last_status() == 401 || api_last_status() == 403) {
		daemon_log("%s %s%s%s (%u, %lld ms)", method, url, req->who.remote ? " from " : "",
			   req->who.remote ? req->who.origin : "", api_last_status(),
			   monotonic_ms() - t0);
		api_audit(l->d, req, method, url, api_last_status());
	}
	return r;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct request *req = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (req) {
		strbuf_release(&req->body);
		if (req->upload_fd >= 0)
			close(req->upload_fd);
		if (req->upload_path)
			unlink(req->upload_path);
		free(req->upload_path);
		free(req);
	}
	*con_cls = NULL;
	/* What a request used (a list of 200 instances is a few hundred kB
	 * of JSON) goes back to the system. */
	malloc_trim(0);
}

struct MHD_Daemon *api_start(struct daemon *d, int fd, bool remote, struct nua_error **err)
{
	struct listener *l = &listeners[remote];
	struct MHD_Daemon *mhd;

	*l = (struct listener){ d, remote };
	mhd = MHD_start_daemon(
		MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0,
		NULL, NULL, handler, l, MHD_OPTION_LISTEN_SOCKET, fd,
		MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned)0, MHD_OPTION_THREAD_STACK_SIZE, (size_t)API_THREAD_STACK,
		MHD_OPTION_END);

	if (!mhd) {
		close(fd);
		nua_error_set(err, NUA_EFAIL, "cannot serve the API (libmicrohttpd refused)");
	}
	return mhd;
}

void api_stop(struct MHD_Daemon *mhd)
{
	if (mhd)
		MHD_stop_daemon(mhd);
}
