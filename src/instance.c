/* Instances and their lifecycle: see instance.h. */
#define _GNU_SOURCE
#include "instance.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "build.h"
#include "health.h"
#include "image.h"
#include "mount.h"
#include "oci_spec.h"
#include "paths.h"
#include "resource.h"
#include "secret.h"
#include "strbuf.h"
#include "tls.h"
#include "util.h"
#include "banned.h"

/* The app's log is rotated at this size. */
#define LOG_SIZE_MAX (10ULL * 1024 * 1024)
/* Seconds a stop waits after SIGTERM before SIGKILL. */
#define STOP_TIMEOUT_SEC 10
/* The longest wait for a new app to answer, whatever its start-period. */
#define READY_MAX_SEC 300
/* A statically linked init for the containers (Debian's tini). */
#define INIT_PATH "/usr/bin/tini-static"
/* The longest wait for nginx's requests on an old container to finish. */
#define DRAIN_MAX_MS 10000

void nua_say(struct nua_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	if (!ctx->progress)
		return;
	va_start(ap, fmt);
	vfprintf(ctx->progress, fmt, ap);
	va_end(ap);
	fputc('\n', ctx->progress);
	fflush(ctx->progress);
}

/* ---- paths ---- */

static char *inst_path(const char *name, const char *rel)
{
	return rel ? xasprintf("%s/instances/%s/%s", nua_root(), name, rel)
		   : xasprintf("%s/instances/%s", nua_root(), name);
}

char *instance_log_path(const char *name) { return inst_path(name, "logs/app.log"); }

const char *instance_log_text(const char *line)
{
	int spaces = 0;

	for (const char *p = line; *p && *p != '\n'; p++)
		if (*p == ' ' && ++spaces == 3)
			return p + 1;
	return line;
}

/* Names of resource servers: "nua-..." is kept for them. */
static bool is_server_name(const char *name)
{
	return strncmp(name, "nua-", 4) == 0;
}

static int check_instance_name(const char *name, struct nua_error **err)
{
	if (!valid_name(name, 40))
		return nua_error_set(err, NUA_EINPUT,
				     "'%s' is not a valid instance name: use 1 to 40 lowercase "
				     "letters, digits and '-', starting with a letter or digit",
				     name);
	return 0;
}

/* ---- the image's description ---- */

/* What an instance needs to know of its image, read from the image's OCI
 * config and its package's normalised nua-config. */
struct image_info {
	json_t *oci;	 /* config: Env, Cmd, User, WorkingDir */
	json_t *nua;	 /* nua-config.json */
};

static void image_info_release(struct image_info *ii)
{
	json_decref(ii->oci);
	json_decref(ii->nua);
}

static int image_info_load(struct state *st, const char *ref, struct image_info *ii,
			   struct nua_error **err)
{
	struct image_rec img = { 0 };
	json_error_t jerr;
	void *oci = NULL;

	memset(ii, 0, sizeof(*ii));
	if (state_image_get(st, ref, &img, err) < 0)
		return -1;
	ii->nua = json_loads(img.config ? img.config : "{}", 0, &jerr);
	image_rec_release(&img);
	if (!ii->nua)
		return nua_error_set(err, NUA_EFAIL, "image '%s' has a damaged config: %s", ref,
				     jerr.text);
	if (image_oci_config(st, ref, &oci, err) < 0) {
		image_info_release(ii);
		return -1;
	}
	ii->oci = oci;
	return 0;
}

static json_t *nua_get(const struct image_info *ii, const char *section, const char *key)
{
	json_t *s = json_object_get(ii->nua, section);

	return s ? json_object_get(s, key) : NULL;
}

static const char *env_lookup(const struct env_rec *env, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (streq(env[i].key, key))
			return env[i].value;
	return NULL;
}

/* The package's [port.web], or NULL. */
static json_t *web_port_conf(const struct image_info *ii)
{
	return json_object_get(json_object_get(ii->nua, "port"), "web");
}

/* The container port of [port.web] for this env (0: none; the other
 * ports are internal, or published another way). */
static int web_port(const struct image_info *ii, const struct env_rec *env, size_t n)
{
	json_t *p = web_port_conf(ii);
	json_t *c;

	if (!p || !(c = json_object_get(p, "container")))
		return 0;
	if (json_is_integer(c))
		return (int)json_integer_value(c);
	if (json_is_object(c)) {
		const char *key = json_string_value(json_object_get(c, "key"));
		const char *v = key ? env_lookup(env, n, key) : NULL;

		return v ? atoi(v) : 0;
	}
	return 0;
}

/* Whether the web port wants HTTPS ([port.web] ssl, true unless false). */
static bool web_tls(const struct image_info *ii)
{
	return !json_is_false(json_object_get(web_port_conf(ii), "ssl"));
}

/* ---- env ---- */

struct env_list {
	struct env_rec *v;
	size_t n, alloc;
};

static void env_list_release(struct env_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].key);
		free(l->v[i].value);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static void env_list_set(struct env_list *l, const char *key, const char *value, bool secret)
{
	for (size_t i = 0; i < l->n; i++)
		if (streq(l->v[i].key, key)) {
			free(l->v[i].value);
			l->v[i].value = xstrdup(value);
			l->v[i].secret = secret;
			return;
		}
	ALLOC_GROW(l->v, l->n + 1, l->alloc);
	l->v[l->n].key = xstrdup(key);
	l->v[l->n].value = xstrdup(value);
	l->v[l->n].secret = secret;
	l->n++;
}

static bool env_list_unset(struct env_list *l, const char *key)
{
	for (size_t i = 0; i < l->n; i++)
		if (streq(l->v[i].key, key)) {
			free(l->v[i].key);
			free(l->v[i].value);
			memmove(&l->v[i], &l->v[i + 1], (l->n - i - 1) * sizeof(*l->v));
			l->n--;
			return true;
		}
	return false;
}

/* Replace {KEY} by the value of KEY in l (already resolved), leaving
 * unknown names as written. */
static char *interpolate(const char *text, const struct env_list *l)
{
	struct strbuf sb = STRBUF_INIT;

	for (const char *p = text; *p;) {
		const char *close = *p == '{' ? strchr(p, '}') : NULL;

		if (close && valid_env_name(p + 1, (size_t)(close - p - 1))) {
			_cleanup_free_ char *k = xstrndup(p + 1, (size_t)(close - p - 1));
			const char *v = env_lookup(l->v, l->n, k);

			if (v) {
				strbuf_addstr(&sb, v);
				p = close + 1;
				continue;
			}
		}
		strbuf_addch(&sb, *p++);
	}
	return strbuf_detach(&sb, NULL);
}

/* The instance's env at its first deploy, from the package's [env] and the
 * operator's overrides. Generated values (random) are made here, once; they
 * are secrets. */
static int initial_env(const struct image_info *ii, const char *name, const char *host,
		       const struct env_list *res, const char *const *overrides,
		       struct env_list *out, struct nua_error **err)
{
	json_t *env = json_object_get(ii->nua, "env");
	const char *key;
	json_t *v;
	int pass;

	/* Two passes: plain and generated values, then the {KEY} references
	 * among them (which may name a value of the first pass). */
	for (pass = 0; pass < 2; pass++) {
		json_object_foreach(env, key, v) {
			if (json_is_string(v)) {
				if (pass == 0) {
					env_list_set(out, key, json_string_value(v), false);
				} else {
					_cleanup_free_ char *x =
						interpolate(json_string_value(v), out);

					env_list_set(out, key, x, false);
				}
				continue;
			}
			if (pass == 1 || !json_is_object(v))
				continue;
			if (json_is_true(json_object_get(v, "random"))) {
				json_t *len = json_object_get(v, "length");
				const char *type = json_string_value(json_object_get(v, "type"));
				_cleanup_free_ char *s = NULL;

				if (type && streq(type, "int")) {
					s = xasprintf("%lld", secret_random_int63());
				} else {
					s = secret_random_string(json_is_integer(len)
									 ? (int)json_integer_value(len)
									 : 24);
				}
				env_list_set(out, key, s, true);
			} else if (json_object_get(v, "from")) {
				const char *from = json_string_value(json_object_get(v, "from"));
				const char *fk = json_string_value(json_object_get(v, "key"));

				const char *rv = from && from[0] && fk && res
							 ? resource_env_lookup(res->v, res->n, from, fk)
							 : NULL;

				if (from && !from[0] && fk &&
				    (streq(fk, "domain") || streq(fk, "hostname") ||
				     streq(fk, "host"))) {
					env_list_set(out, key, streq(fk, "hostname") ? name : host,
						     false);
				} else if (rv) {
					/* A password or a URL holding one is a secret. */
					env_list_set(out, key, rv,
						     strcasestr(fk, "password") || strcasestr(fk, "url"));
				} else {
					return nua_error_set(
						err, NUA_EINPUT,
						"[env] %s takes its value from '%s' of resource '%s', "
						"which is not one of the package's resources or not one "
						"of their variables (url, host, port, user, password, db)",
						key, fk ? fk : "", from ? from : "");
				}
			} else {
				return nua_error_set(err, NUA_EINPUT,
						     "[env] %s needs a resource, and resources are "
						     "not provisioned by this version of nua",
						     key);
			}
		}
	}
	for (size_t i = 0; overrides && overrides[i]; i++) {
		const char *eq = strchr(overrides[i], '=');
		_cleanup_free_ char *k = NULL;

		if (!eq || !valid_env_name(overrides[i], (size_t)(eq - overrides[i])))
			return nua_error_set(err, NUA_EINPUT,
					     "'%s' is not KEY=VALUE with KEY made of letters, "
					     "digits and '_'",
					     overrides[i]);
		k = xstrndup(overrides[i], (size_t)(eq - overrides[i]));
		env_list_set(out, k, eq + 1, false);
	}
	return 0;
}

/* Seal the secret values of l for the state store (in place). */
static int seal_env(struct env_list *l, struct nua_error **err)
{
	for (size_t i = 0; i < l->n; i++) {
		char *sealed;

		if (!l->v[i].secret || secret_is_sealed(l->v[i].value))
			continue;
		if (secret_seal(l->v[i].value, &sealed, err) < 0)
			return -1;
		free(l->v[i].value);
		l->v[i].value = sealed;
	}
	return 0;
}

/* A copy of the stored env with secrets opened. */
static int open_env(const struct instance_rec *in, struct env_list *out, struct nua_error **err)
{
	for (size_t i = 0; i < in->n_env; i++) {
		const struct env_rec *e = &in->env[i];

		if (e->secret && secret_is_sealed(e->value)) {
			_cleanup_free_ char *plain = NULL;

			if (secret_open(e->value, &plain, err) < 0)
				return nua_error_prefix(err, "env %s of '%s'", e->key, in->name);
			env_list_set(out, e->key, plain, true);
		} else {
			env_list_set(out, e->key, e->value, e->secret);
		}
	}
	return 0;
}

/* ---- what runs ---- */

static int parse_user(const char *user, uid_t *uid, gid_t *gid)
{
	unsigned long u, g;
	char *end;

	if (!user || !user[0]) {
		*uid = 0;
		*gid = 0;
		return 0;
	}
	u = strtoul(user, &end, 10);
	if (end == user)
		return -1;
	g = u;
	if (*end == ':') {
		const char *gs = end + 1;

		g = strtoul(gs, &end, 10);
		if (end == gs)
			return -1;
	}
	if (*end)
		return -1;
	*uid = (uid_t)u;
	*gid = (gid_t)g;
	return 0;
}

/* ---- generations ----
 *
 * Each deploy, env change or restart of an instance is a new generation
 * (the state's instance.generation) and runs in a container of its own,
 * "nua-[TAG-]NAME-gGEN", with its files under instances/NAME/gen/GEN: a new
 * one starts beside the old, takes the route once healthy, and the old one
 * is drained and removed. */

static char *gen_path(const char *name, int64_t gen, const char *rel)
{
	return rel ? xasprintf("%s/instances/%s/gen/%lld/%s", nua_root(), name, (long long)gen, rel)
		   : xasprintf("%s/instances/%s/gen/%lld", nua_root(), name, (long long)gen);
}

char *instance_container_id(const char *name, int64_t gen)
{
	_cleanup_free_ char *tag = nua_root_tag();

	return tag[0] ? xasprintf("nua-%s-%s-g%lld", tag, name, (long long)gen)
		      : xasprintf("nua-%s-g%lld", name, (long long)gen);
}

bool instance_parse_container_id(const char *id, char *name, size_t size, int64_t *gen)
{
	_cleanup_free_ char *tag = nua_root_tag();
	_cleanup_free_ char *prefix = tag[0] ? xasprintf("nua-%s-", tag) : xstrdup("nua-");
	const char *rest, *g;
	char *end;
	long long v;

	if (!starts_with(id, prefix))
		return false;
	rest = id + strlen(prefix);
	g = strrchr(rest, '-');
	if (!g || g == rest || g[1] != 'g' || !g[2])
		return false;
	errno = 0;
	v = strtoll(g + 2, &end, 10);
	if (*end || errno || v <= 0 || (size_t)(g - rest) >= size)
		return false;
	memcpy(name, rest, (size_t)(g - rest));
	name[g - rest] = '\0';
	if (!valid_name(name, 40))
		return false;
	*gen = v;
	return true;
}

/* The CNI name (network namespace) of a generation's container. */
static char *net_name(const char *name, int64_t gen)
{
	return xasprintf("%s-g%lld", name, (long long)gen);
}

static int cmp_gen(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static void gens_add(int64_t **v, size_t *n, size_t *alloc, int64_t g)
{
	for (size_t i = 0; i < *n; i++)
		if ((*v)[i] == g)
			return;
	ALLOC_GROW(*v, *n + 1, *alloc);
	(*v)[(*n)++] = g;
}

/* The generations of name that exist in any form: a container the runtime
 * knows, or a directory under gen/. Sorted, oldest first. */
static int list_gens(struct nua_ctx *ctx, const char *name, int64_t **out, size_t *n,
		     struct nua_error **err)
{
	_cleanup_free_ char *dir = inst_path(name, "gen");
	char **ids = NULL;
	size_t alloc = 0;
	DIR *d;

	*out = NULL;
	*n = 0;
	if (ctx->rt.driver->list(&ctx->rt, &ids, err) < 0)
		return -1;
	for (size_t i = 0; ids[i]; i++) {
		char nm[64];
		int64_t g;

		if (instance_parse_container_id(ids[i], nm, sizeof(nm), &g) && streq(nm, name))
			gens_add(out, n, &alloc, g);
	}
	strv_free(ids);
	if ((d = opendir(dir))) {
		struct dirent *de;

		while ((de = readdir(d))) {
			char *end;
			long long g = strtoll(de->d_name, &end, 10);

			if (de->d_name[0] != '.' && !*end && g > 0)
				gens_add(out, n, &alloc, g);
		}
		closedir(d);
	}
	if (*n)
		qsort(*out, *n, sizeof(**out), cmp_gen);
	return 0;
}

static bool gen_running(struct nua_ctx *ctx, const char *name, int64_t gen, pid_t *pid)
{
	_cleanup_free_ char *id = instance_container_id(name, gen);
	struct container_state cs;

	if (ctx->rt.driver->peek(&ctx->rt, id, &cs, NULL) < 0 || cs.status != CONTAINER_RUNNING)
		return false;
	if (pid)
		*pid = cs.pid;
	return true;
}

static char *gen_ip(const char *name, int64_t gen)
{
	_cleanup_free_ char *path = gen_path(name, gen, "ip");
	char *ip = NULL;
	size_t len;

	if (read_file(path, &ip, &len) < 0 || len == 0 || len >= 64) {
		free(ip);
		return NULL;
	}
	return ip;
}

/* ---- hosts ---- */

/* The /etc/hosts of every instance: localhost, then each running instance
 * by name (the address of the generation that serves). Written in place
 * (not renamed) so that the containers, which bind-mount the file, see the
 * change. */
static void update_hosts_files(struct nua_ctx *ctx)
{
	struct instance_rec *list = NULL;
	size_t n = 0;
	struct strbuf hosts = STRBUF_INIT;

	if (state_instance_list(ctx->st, &list, &n, NULL) < 0)
		return;
	strbuf_addstr(&hosts, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *ipf = inst_path(list[i].name, "ip");
		_cleanup_free_ char *ip = NULL;
		size_t len;

		if (read_file(ipf, &ip, &len) == 0 && len > 0)
			strbuf_addf(&hosts, "%s\t%s\n", ip, list[i].name);
	}
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *path = inst_path(list[i].name, "hosts");
		_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

		if (fd < 0)
			continue;
		if (write(fd, hosts.buf, hosts.len) == (ssize_t)hosts.len)
			if (ftruncate(fd, (off_t)hosts.len) < 0) {
				/* a longer old file keeps a stray tail line; harmless */
			}
	}
	instance_rec_list_free(list, n);
	strbuf_release(&hosts);
}

/* ---- health ---- */

void instance_run_release(struct instance_run *r)
{
	free(r->hc_path);
	strv_free(r->hc_command);
	memset(r, 0, sizeof(*r));
}

static int json_secs(json_t *o, const char *key, int def)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) && json_integer_value(v) >= 0 ? (int)json_integer_value(v) : def;
}

/* The health check of an instance: its image's [healthcheck], or for a
 * web port, any answer below 500 on "/". */
static void health_conf(const struct image_info *ii, struct instance_run *r)
{
	json_t *hc = json_object_get(ii->nua, "healthcheck");
	json_t *cmd = json_object_get(hc, "command");

	r->interval = json_secs(hc, "interval", 5);
	r->timeout = json_secs(hc, "timeout", 30);
	r->retries = json_secs(hc, "retries", 3);
	r->start_period = json_secs(hc, "start-period", 120);
	if (r->interval < 1)
		r->interval = 1;
	if (r->timeout < 1)
		r->timeout = 1;
	if (r->retries < 1)
		r->retries = 1;
	if (json_is_array(cmd) && json_array_size(cmd) > 0) {
		struct strbuf sb = STRBUF_INIT;
		size_t i;
		json_t *c;

		json_array_foreach(cmd, i, c) {
			if (i)
				strbuf_addstr(&sb, " && ");
			strbuf_addstr(&sb, json_string_value(c) ? json_string_value(c) : "false");
		}
		r->hc_command = xcalloc(4, sizeof(char *));
		r->hc_command[0] = xstrdup("/bin/sh");
		r->hc_command[1] = xstrdup("-c");
		r->hc_command[2] = strbuf_detach(&sb, NULL);
		r->hc_explicit = true;
	} else if (json_is_string(json_object_get(hc, "path"))) {
		r->hc_path = xstrdup(json_string_value(json_object_get(hc, "path")));
		r->hc_explicit = true;
	} else {
		r->hc_path = xstrdup("/");
	}
}

struct health_probe *instance_health_probe(struct nua_ctx *ctx, const struct instance_run *r,
					   int timeout_ms)
{
	if (r->hc_command) {
		_cleanup_free_ char *id = instance_container_id(r->name, r->generation);
		char **argv = ctx->rt.driver->exec_argv(&ctx->rt, id,
							 (const char *const *)r->hc_command);
		struct health_probe *p = health_probe_cmd((const char *const *)argv, timeout_ms);

		strv_free(argv);
		return p;
	}
	if (!r->port || !r->ip[0])
		return NULL;
	return health_probe_http(r->ip, r->port, r->hc_path, r->host, timeout_ms);
}

bool instance_health_ok(const struct instance_run *r, const struct health_result *res)
{
	if (r->hc_command || r->hc_explicit)
		return res->ok;
	/* Without a health check of its own, an app that answers at all
	 * (a 404 on "/" included) is up. */
	return res->http_status > 0 && res->http_status < 500;
}

/* The app's log without conmon's prefix ("TIME stream F "), last n
 * lines. */
static char *log_tail(const char *name, int n)
{
	_cleanup_free_ char *path = instance_log_path(name);
	_cleanup_free_ char *raw = file_tail(path, n);
	struct strbuf sb = STRBUF_INIT;

	for (char *line = raw; *line;) {
		char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		const char *text = instance_log_text(line);

		strbuf_addstr(&sb, "  | ");
		strbuf_add(&sb, text, len - (size_t)(text - line));
		strbuf_addch(&sb, '\n');
		line += len + (nl ? 1 : 0);
	}
	return strbuf_detach(&sb, NULL);
}

/* Wait until the new container passes its health check, or for an app
 * without port nor check, until it has run a second. An app that exits
 * meanwhile, or does not pass within its start period, fails, with the
 * check's last word and the app's last log lines. */
static int wait_ready(struct nua_ctx *ctx, const struct instance_run *r, struct nua_error **err)
{
	_cleanup_free_ char *id = instance_container_id(r->name, r->generation);
	long limit_ms = (long)r->start_period * 1000;
	long long t0 = monotonic_ms(), waited = 0;
	char last[512] = "";

	if (limit_ms > READY_MAX_SEC * 1000L)
		limit_ms = READY_MAX_SEC * 1000L;
	for (int round = 0;; round++) {
		struct container_state cs;
		struct health_probe *p;

		if (ctx->rt.driver->peek(&ctx->rt, id, &cs, err) < 0)
			return -1;
		/* conmon writes the exit status a moment after the process
		 * ends: give it that moment, for the message's sake. */
		for (int i = 0; i < 40 && cs.status != CONTAINER_RUNNING && cs.exit_code < 0; i++) {
			sleep_ms(50);
			if (ctx->rt.driver->state(&ctx->rt, id, &cs, err) < 0)
				return -1;
		}
		if (cs.status != CONTAINER_RUNNING) {
			_cleanup_free_ char *tail = log_tail(r->name, 20);

			if (cs.oom_killed)
				return nua_error_set(err, NUA_EFAIL,
						     "'%s' was killed for using more memory than its "
						     "limit, right after it started; its last lines:\n%s",
						     r->name, tail);
			return nua_error_set(err, NUA_EFAIL,
					     "'%s' exited right after it started (exit status "
					     "%d); its last lines:\n%s",
					     r->name, cs.exit_code, tail);
		}
		p = instance_health_probe(ctx, r, r->timeout * 1000 < 2000 ? r->timeout * 1000 : 2000);
		if (p) {
			const struct health_result *res;

			health_probe_run(p);
			res = health_probe_result(p);
			/* An answer from an app that is already going (one of its
			 * processes failed as it started) is no answer. */
			if (instance_health_ok(r, res) &&
			    ctx->rt.driver->peek(&ctx->rt, id, &cs, NULL) == 0 &&
			    cs.status == CONTAINER_RUNNING) {
				health_probe_free(p);
				return 0;
			}
			snprintf(last, sizeof(last), "%s", res->detail);
			health_probe_free(p);
		} else if (waited >= 1000) {
			return 0;
		}
		waited = monotonic_ms() - t0;
		if (waited > limit_ms) {
			_cleanup_free_ char *tail = log_tail(r->name, 20);

			if (r->hc_command)
				return nua_error_set(err, NUA_EFAIL,
						     "'%s' did not pass its health check in %lld s: "
						     "%s; its last lines:\n%s",
						     r->name, waited / 1000, last, tail);
			return nua_error_set(err, NUA_EFAIL,
					     "'%s' did not pass its health check (GET %s on port "
					     "%d) in %lld s: %s; its last lines:\n%s",
					     r->name, r->hc_path, r->port, waited / 1000, last, tail);
		}
		sleep_ms(round < 20 ? 25 : 200);
	}
}

static int make_dirs(const struct instance_rec *in, int64_t gen, uid_t uid, gid_t gid,
		     struct nua_error **err)
{
	const char *name = in->name;
	const char *subs[] = { "upper", "work", "rootfs", "bundle", NULL };

	for (size_t i = 0; subs[i]; i++) {
		_cleanup_free_ char *p = gen_path(name, gen, subs[i]);
		int r;

		if ((r = mkdir_p(p, 0700)) < 0)
			return nua_error_set(err, NUA_EFAIL, "cannot create '%s': %s", p,
					     strerror(-r));
	}
	{
		_cleanup_free_ char *logs = inst_path(name, "logs");
		_cleanup_free_ char *vols = inst_path(name, "volumes");
		_cleanup_free_ char *root = gen_path(name, gen, "rootfs");
		_cleanup_free_ char *up = gen_path(name, gen, "upper");
		_cleanup_free_ char *g = gen_path(name, gen, NULL);
		_cleanup_free_ char *gens = inst_path(name, "gen");
		_cleanup_free_ char *top = inst_path(name, NULL);

		if (mkdir_p(logs, 0700) < 0 || mkdir_p(vols, 0700) < 0)
			return nua_error_set(err, NUA_EFAIL, "cannot create '%s': %s", logs,
					     strerror(errno));
		/* The overlay's root directory must let the app's user in; the
		 * upper directory is the container's "/". */
		chmod(up, 0755);
		chmod(root, 0755);
		chmod(g, 0711);
		chmod(gens, 0711);
		chmod(top, 0711);
	}
	for (size_t i = 0; i < in->n_volumes; i++) {
		const struct volume_rec *v = &in->volumes[i];
		_cleanup_free_ char *rel = NULL, *p = NULL;
		int r;

		if (!streq(v->type, "managed"))
			continue;
		rel = xasprintf("volumes/%s", v->name);
		p = inst_path(name, rel);
		if (access(p, F_OK) == 0)
			continue;
		if ((r = mkdir_p(p, 0750)) < 0)
			return nua_error_set(err, NUA_EFAIL, "cannot create '%s': %s", p,
					     strerror(-r));
		/* A new volume belongs to the app's user; an existing one keeps
		 * whatever the app made of it. */
		if (chown(p, uid, gid) < 0)
			return nua_error_set(err, NUA_EFAIL, "cannot give '%s' to %u: %s", p,
					     (unsigned)uid, strerror(errno));
	}
	return 0;
}

/* Undo what start_gen did, in reverse order; every step is tried and is a
 * no-op when there is nothing to undo. drop also deletes the generation's
 * files (its writable layer). */
static int teardown_gen(struct nua_ctx *ctx, const char *name, int64_t gen, bool drop,
			struct nua_error **err)
{
	_cleanup_free_ char *id = instance_container_id(name, gen);
	_cleanup_free_ char *net = net_name(name, gen);
	_cleanup_free_ char *rootfs = gen_path(name, gen, "rootfs");
	_cleanup_free_ char *ipf = gen_path(name, gen, "ip");
	_cleanup_free_ char *dir = gen_path(name, gen, NULL);
	struct nua_error *e = NULL;
	int ret = 0;

	if (ctx->rt.driver->stop(&ctx->rt, id, STOP_TIMEOUT_SEC, &e) < 0 ||
	    ctx->rt.driver->remove(&ctx->rt, id, &e) < 0)
		ret = -1;
	if (cni_detach(&ctx->net, net, ret < 0 ? NULL : &e) < 0)
		ret = -1;
	if (unmount_path(rootfs, ret < 0 ? NULL : &e) < 0)
		ret = -1;
	unlink(ipf);
	if (ret == 0 && drop)
		remove_tree(dir);
	if (ret < 0 && err)
		*err = e;
	else
		nua_error_free(e);
	return ret;
}

/* Mount, wire and start generation r->generation of in, and wait for it to
 * pass its health check. Fills r->ip. On failure everything is undone. */
/* How long a package's migration may take. */
#define MIGRATE_TIMEOUT_SEC 900

char *instance_migration_key(const char *name) { return xasprintf("migrate.%s", name); }

/* The state setting that marks an instance's [run] first-start as not yet
 * run: set when the instance is made, cleared once the commands succeed. */
static char *first_start_key(const char *name) { return xasprintf("firststart.%s", name); }

/* The instance is gone: no first start is pending for its name. */
static void forget_first_start(struct nua_ctx *ctx, const char *name)
{
	_cleanup_free_ char *key = first_start_key(name);

	state_setting_set(ctx->st, key, NULL, NULL);
}

/* nua-init (src/init/): NUA_INIT, or beside the running nua. NULL when it
 * is not there. */
static char *init_binary(void)
{
	_cleanup_free_ char *dir = nua_exe_dir();
	char *path;

	if (getenv("NUA_INIT") && *getenv("NUA_INIT"))
		return xstrdup(getenv("NUA_INIT"));
	if (!dir)
		return NULL;
	path = xasprintf("%s/nua-init", dir);
	if (access(path, X_OK) == 0)
		return path;
	free(path);
	return NULL;
}

static size_t array_len(const struct image_info *ii, const char *key)
{
	return json_array_size(json_object_get(ii->nua, key));
}

/* The package runs under nua-init: several processes, cron jobs or
 * templates. */
static bool needs_init(const struct image_info *ii)
{
	return array_len(ii, "process") || array_len(ii, "cron") || array_len(ii, "template");
}

/* Add s (taken) to the NULL-terminated *v. */
static void push_arg(char ***v, size_t *n, size_t *alloc, char *s)
{
	ALLOC_GROW(*v, *n + 2, *alloc);
	(*v)[(*n)++] = s;
	(*v)[*n] = NULL;
}

/* nua-init's arguments (after its path) for the package's templates. */
static void template_args(const struct image_info *ii, char ***v, size_t *n, size_t *alloc)
{
	size_t i;
	json_t *t;

	json_array_foreach(json_object_get(ii->nua, "template"), i, t) {
		push_arg(v, n, alloc, xstrdup("--template"));
		push_arg(v, n, alloc,
			 xasprintf("/nua/build/%s", json_string_value(json_object_get(t, "source"))));
		push_arg(v, n, alloc, xstrdup(json_string_value(json_object_get(t, "target"))));
		push_arg(v, n, alloc, xstrdup(json_string_value(json_object_get(t, "mode"))));
	}
}

/* The app's argv under nua-init: templates, each [[process]] (or the
 * image's start command as "app"), each [[cron]]. */
static char **init_argv(const struct image_info *ii, const char *start)
{
	char **v = NULL;
	size_t n = 0, alloc = 0, i;
	json_t *e;

	push_arg(&v, &n, &alloc, xstrdup("/.nua-init"));
	template_args(ii, &v, &n, &alloc);
	json_array_foreach(json_object_get(ii->nua, "process"), i, e) {
		push_arg(&v, &n, &alloc, xstrdup("--process"));
		push_arg(&v, &n, &alloc, xstrdup(json_string_value(json_object_get(e, "name"))));
		push_arg(&v, &n, &alloc, xstrdup(json_string_value(json_object_get(e, "command"))));
	}
	if (!array_len(ii, "process") && start && *start) {
		push_arg(&v, &n, &alloc, xstrdup("--process"));
		push_arg(&v, &n, &alloc, xstrdup("app"));
		push_arg(&v, &n, &alloc, xstrdup(start));
	}
	json_array_foreach(json_object_get(ii->nua, "cron"), i, e) {
		push_arg(&v, &n, &alloc, xstrdup("--cron"));
		push_arg(&v, &n, &alloc, xstrdup(json_string_value(json_object_get(e, "name"))));
		push_arg(&v, &n, &alloc, xstrdup(json_string_value(json_object_get(e, "schedule"))));
		push_arg(&v, &n, &alloc, xstrdup(json_string_value(json_object_get(e, "command"))));
	}
	return v;
}

/* Commands an instance runs once, to completion, in a container like the
 * generation's own (its root, env, volumes and network, the templates
 * written), before the generation's app starts: [run] migrate for an
 * upgrade, [run] first-start for a new instance. */
struct run_once {
	const char *what;    /* "migration", "first start" */
	const char *doing;   /* for the progress: "migrating", "first start of" */
	const char *suffix;  /* of the container's id and bundle */
	const char *section; /* [run] key of the commands */
	char *key;	     /* the state setting that says it is pending */
	bool for_gen;	     /* pending only for the generation its value names */
};

/* Run o's commands when o->key is pending. Their output goes to the progress
 * and, when they fail, into the error. Done, the mark goes; a process
 * killed in between runs them again (they are meant to be safe to). */
static int run_once(struct nua_ctx *ctx, const struct instance_rec *in,
		    const struct image_info *ii, int64_t gen, struct container_spec *spec,
		    const struct run_once *o, struct nua_error **err)
{
	_cleanup_free_ char *pending = NULL, *id = NULL;
	_cleanup_free_ char *bundle = gen_path(in->name, gen, o->suffix);
	_cleanup_close_ int out = -1;
	struct strbuf script = STRBUF_INIT, text = STRBUF_INIT;
	char **saved = NULL, **argv = NULL;
	size_t na = 0, alloc = 0;
	json_t *cmds = nua_get(ii, "run", o->section), *c;
	size_t i;
	int code = -1, ret = -1;

	if (state_setting_get(ctx->st, o->key, &pending, err) < 0)
		return -1;
	if (!pending || (o->for_gen && atoll(pending) != gen))
		return 0;
	if (!json_is_array(cmds) || json_array_size(cmds) == 0) {
		state_setting_set(ctx->st, o->key, NULL, NULL);
		return 0;
	}
	json_array_foreach(cmds, i, c)
		strbuf_addf(&script, "%s%s", i ? " && " : "", json_string_value(c));
	nua_say(ctx, "%s %s: %s", o->doing, in->name, script.buf);
	{
		_cleanup_free_ char *ctr = instance_container_id(in->name, gen);

		id = xasprintf("%s-%s", ctr, o->suffix);
	}
	out = memfd_create("nua-once", MFD_CLOEXEC);
	if (out < 0 || mkdir_p(bundle, 0700) < 0) {
		nua_error_set(err, NUA_EFAIL, "cannot prepare the %s of '%s': %s", o->what,
			      in->name, strerror(errno));
		goto out;
	}
	if (array_len(ii, "template")) {
		push_arg(&argv, &na, &alloc, xstrdup("/.nua-init"));
		template_args(ii, &argv, &na, &alloc);
		push_arg(&argv, &na, &alloc, xstrdup("--exec"));
	} else {
		push_arg(&argv, &na, &alloc, xstrdup("/bin/sh"));
		push_arg(&argv, &na, &alloc, xstrdup("-c"));
	}
	push_arg(&argv, &na, &alloc, xstrdup(script.buf));
	if (spec->argv) {
		size_t n = 0;

		while (spec->argv[n])
			n++;
		saved = xcalloc(n + 1, sizeof(*saved));
		for (size_t k = 0; k < n; k++)
			saved[k] = xstrdup(spec->argv[k]);
	}
	container_spec_set_argv(spec, (const char *const *)argv);
	if (ctx->rt.driver->run(&ctx->rt, id, bundle, spec, out, MIGRATE_TIMEOUT_SEC, &code, err) <
	    0) {
		nua_error_prefix(err, "the %s of '%s' did not run", o->what, in->name);
		goto out;
	}
	nua_fd_read_all(out, &text);
	strbuf_rtrim(&text);
	if (text.len)
		nua_say(ctx, "%s", text.buf);
	if (code != 0) {
		const char *tail = text.buf;

		/* The end of what it said is the reason, most often. */
		if (text.len > 1500)
			tail = text.buf + text.len - 1500;
		nua_error_set(err, NUA_EFAIL, "the %s of '%s' failed with exit status %d%s%s",
			      o->what, in->name, code, text.len ? ":\n" : "", tail);
		if (o->for_gen)
			nua_event(ctx, in->name, "migrate-failed",
				  "migration to generation %lld failed (exit status %d)",
				  (long long)gen, code);
		else
			nua_event(ctx, in->name, "first-start-failed",
				  "the first start failed (exit status %d)", code);
		goto out;
	}
	state_setting_set(ctx->st, o->key, NULL, NULL);
	if (o->for_gen)
		nua_event(ctx, in->name, "migrate", "migration to generation %lld done",
			  (long long)gen);
	else
		nua_event(ctx, in->name, "first-start", "first start done");
	ret = 0;
out:
	if (saved) {
		container_spec_set_argv(spec, (const char *const *)saved);
		strv_free(saved);
	}
	strv_free(argv);
	strbuf_release(&script);
	strbuf_release(&text);
	return ret;
}

static int start_gen(struct nua_ctx *ctx, const struct instance_rec *in, const struct image_info *ii,
		     struct instance_run *r, struct nua_error **err)
{
	const char *name = in->name;
	int64_t gen = r->generation;
	_cleanup_free_ char *id = instance_container_id(name, gen);
	_cleanup_free_ char *net = net_name(name, gen);
	_cleanup_free_ char *rootfs = gen_path(name, gen, "rootfs");
	_cleanup_free_ char *upper = gen_path(name, gen, "upper");
	_cleanup_free_ char *work = gen_path(name, gen, "work");
	_cleanup_free_ char *bundle = gen_path(name, gen, "bundle");
	_cleanup_free_ char *ipf = gen_path(name, gen, "ip");
	_cleanup_free_ char *hosts = inst_path(name, "hosts");
	_cleanup_free_ char *log = instance_log_path(name);
	_cleanup_free_ char *netns = NULL;
	struct env_list env = { 0 };
	struct container_spec spec;
	struct cni_result res;
	char **lowers = NULL;
	size_t nlowers = 0;
	uid_t uid = 0;
	gid_t gid = 0;
	int ret = -1;
	json_t *j;
	size_t idx;

	container_spec_init(&spec);
	if (open_env(in, &env, err) < 0)
		goto out;
	if (parse_user(json_string_value(json_object_get(ii->oci, "User")), &uid, &gid) < 0) {
		nua_error_set(err, NUA_EFAIL, "image '%s' has a user that is not UID[:GID]",
			      in->image_ref);
		goto out;
	}
	if (make_dirs(in, gen, uid, gid, err) < 0)
		goto out;
	if (access(hosts, F_OK) != 0)
		update_hosts_files(ctx);
	if (image_layer_dirs(ctx->st, in->image_ref, &lowers, &nlowers, err) < 0)
		goto out;
	if (!is_mount_point(rootfs) &&
	    overlay_mount((const char *const *)lowers, nlowers, upper, work, rootfs, err) < 0)
		goto out;
	if (cni_attach(&ctx->net, net, &netns, &res, err) < 0)
		goto fail;
	if (write_file_atomic(ipf, res.ip, strlen(res.ip), 0644) < 0) {
		nua_error_set(err, NUA_EFAIL, "cannot write '%s': %s", ipf, strerror(errno));
		goto fail;
	}
	snprintf(r->ip, sizeof(r->ip), "%s", res.ip);

	/* The process: the image's command, env and user. */
	j = json_object_get(ii->oci, "Cmd");
	if ((!json_is_array(j) || json_array_size(j) == 0) && !needs_init(ii)) {
		nua_error_set(err, NUA_EINPUT, "image '%s' has no start command ([run] start)",
			      in->image_ref);
		goto fail;
	}
	{
		size_t n = json_array_size(j), k = 0;
		const char **argv = xcalloc(n + 4, sizeof(*argv));
		json_t *a;

		/* A package of several processes, cron jobs or templates runs
		 * under nua-init, which does tini's work too. */
		if (needs_init(ii)) {
			_cleanup_free_ char *init = init_binary();
			char **iv;

			if (!init) {
				free(argv);
				nua_error_set(err, NUA_EFAIL,
					      "'%s' needs nua-init ([[process]], [[cron]] or "
					      "[[template]]), which is not beside nua (make builds it; "
					      "NUA_INIT names another)",
					      in->image_ref);
				goto fail;
			}
			container_spec_add_bind(&spec, init, "/.nua-init", true);
			/* The image's start command is "/bin/sh -c SCRIPT". */
			iv = init_argv(ii, n == 3 ? json_string_value(json_array_get(j, 2)) : NULL);
			container_spec_set_argv(&spec, (const char *const *)iv);
			strv_free(iv);
			free(argv);
			goto argv_done;
		}
		/* An init as PID 1 (tini, as docker's --init): it passes SIGTERM
		 * on to the app's process group (PID 1 of a namespace ignores
		 * signals it has no handler for, so a plain app would only die
		 * of the SIGKILL after the stop timeout) and reaps orphans. */
		if (access(INIT_PATH, X_OK) == 0) {
			container_spec_add_bind(&spec, INIT_PATH, "/.nua-init", true);
			argv[k++] = "/.nua-init";
			argv[k++] = "-g";
			argv[k++] = "--";
		}
		json_array_foreach(j, idx, a) argv[k++] = json_string_value(a);
		container_spec_set_argv(&spec, argv);
		free(argv);
	}
argv_done:
	json_array_foreach(json_object_get(ii->oci, "Env"), idx, j)
		container_spec_setenv(&spec, json_string_value(j));
	for (size_t i = 0; i < env.n; i++) {
		_cleanup_free_ char *kv = xasprintf("%s=%s", env.v[i].key, env.v[i].value);

		container_spec_setenv(&spec, kv);
	}
	{
		_cleanup_free_ char *kv = xasprintf("NUA_INSTANCE=%s", name);

		container_spec_setenv(&spec, kv);
	}
	container_spec_set_rootfs(&spec, rootfs);
	if ((j = json_object_get(ii->oci, "WorkingDir")) && json_string_length(j))
		container_spec_set_cwd(&spec, json_string_value(j));
	spec.uid = uid;
	spec.gid = gid;
	container_spec_set_hostname(&spec, name);
	container_spec_set_netns(&spec, netns);
	spec.net = CONTAINER_NET_PATH;
	container_spec_add_bind(&spec, hosts, "/etc/hosts", true);
	if (access("/etc/resolv.conf", R_OK) == 0)
		container_spec_add_bind(&spec, "/etc/resolv.conf", "/etc/resolv.conf", true);
	if ((j = nua_get(ii, "run", "memory")) && json_is_integer(j))
		spec.memory = (unsigned long long)json_integer_value(j);
	if ((j = nua_get(ii, "run", "pids")) && json_is_integer(j))
		spec.pids = json_integer_value(j);
	if ((j = nua_get(ii, "run", "cpus")) && json_is_number(j))
		spec.millicpus = (unsigned)(json_number_value(j) * 1000);
	for (size_t i = 0; i < in->n_volumes; i++) {
		const struct volume_rec *v = &in->volumes[i];

		if (streq(v->type, "managed")) {
			_cleanup_free_ char *rel = xasprintf("volumes/%s", v->name);
			_cleanup_free_ char *src = inst_path(name, rel);

			container_spec_add_bind(&spec, src, v->target, false);
		} else if (streq(v->type, "directory") && v->source) {
			container_spec_add_bind(&spec, v->source, v->target, false);
		} else if (streq(v->type, "tmpfs")) {
			container_spec_add_tmpfs(&spec, v->target, 0, 01777);
		}
	}

	{
		struct run_once first = { "first start", "first start of", "first-start",
					  "first-start", first_start_key(name), false };
		struct run_once mig = { "migration", "migrating", "migrate", "migrate",
					instance_migration_key(name), true };
		int rr = run_once(ctx, in, ii, gen, &spec, &first, err);

		if (rr == 0)
			rr = run_once(ctx, in, ii, gen, &spec, &mig, err);
		free(first.key);
		free(mig.key);
		if (rr < 0)
			goto fail;
	}
	if (ctx->rt.driver->start(&ctx->rt, id, bundle, &spec, log, LOG_SIZE_MAX, err) < 0)
		goto fail;
	if (wait_ready(ctx, r, err) < 0)
		goto fail;
	ret = 0;
	goto out;
fail:
	teardown_gen(ctx, name, gen, false, NULL);
out:
	strv_free(lowers);
	env_list_release(&env);
	container_spec_release(&spec);
	return ret;
}

/* What the instance's container of generation gen needs to be reached and
 * checked. */
static void run_info_fill(const struct instance_rec *in, const struct image_info *ii, int64_t gen,
			  struct instance_run *r)
{
	struct env_list env = { 0 };

	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", in->name);
	snprintf(r->host, sizeof(r->host), "%s", in->domain ? in->domain : in->name);
	r->generation = gen;
	/* The web port may come from the env: only plain values matter. */
	for (size_t i = 0; i < in->n_env; i++)
		if (!in->env[i].secret)
			env_list_set(&env, in->env[i].key, in->env[i].value, false);
	r->port = web_port(ii, env.v, env.n);
	r->tls = web_tls(ii);
	env_list_release(&env);
	health_conf(ii, r);
}

int instance_run_info(struct nua_ctx *ctx, const char *name, struct instance_run *out,
		      struct nua_error **err)
{
	struct instance_rec in = { 0 };
	struct image_info ii = { 0 };
	_cleanup_free_ char *ip = NULL;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (instance_get(ctx, name, &in, err) < 0)
		return -1;
	if (image_info_load(ctx->st, in.image_ref, &ii, err) < 0)
		goto out;
	run_info_fill(&in, &ii, in.generation, out);
	if ((ip = gen_ip(name, in.generation)))
		snprintf(out->ip, sizeof(out->ip), "%s", ip);
	gen_running(ctx, name, in.generation, &out->pid);
	ret = 0;
out:
	image_info_release(&ii);
	instance_rec_release(&in);
	return ret;
}

/* Write route r (its name, main domain, upstream, TLS and HSTS) with in's
 * aliases. A domain of the local CA has its certificate before the route
 * is written, so that it is served over HTTPS at once; others get theirs
 * from the TLS pass. */
static int route_instance(struct nua_ctx *ctx, const struct instance_rec *in,
			  struct proxy_route r, struct nua_error **err)
{
	_cleanup_free_ struct proxy_alias *aliases = xcalloc(in->n_aliases + 1, sizeof(*aliases));
	_cleanup_free_ char *auth = NULL;

	for (size_t i = 0; i < in->n_aliases; i++)
		aliases[i] = (struct proxy_alias){ in->aliases[i].domain, in->aliases[i].path,
						   in->aliases[i].redirect };
	r.aliases = aliases;
	r.n_aliases = in->n_aliases;
	/* A private app: nginx asks the daemon before each request (r may be
	 * the route nginx has: what it says of access is redone). */
	r.auth = NULL;
	if (access_protected(ctx->st, in->name)) {
		_cleanup_free_ char *sock = proxy_api_socket(&ctx->proxy);

		auth = xasprintf("unix:%s", sock);
		r.auth = auth;
	}
	for (size_t i = 0; r.tls && ctx->proxy.https_port && i <= r.n_aliases; i++)
		if (tls_uses_local(ctx, proxy_route_domain(&r, i)) &&
		    tls_local_ensure(ctx, proxy_route_domain(&r, i), err) < 0)
			return -1;
	return proxy_set_route(&ctx->proxy, &r, err);
}

/* Point the instance's route at ip:port, or at nothing (503). */
static int set_route(struct nua_ctx *ctx, const struct instance_rec *in,
		     const struct instance_run *run, const char *ip, int port,
		     struct nua_error **err)
{
	_cleanup_free_ char *upstream = ip && port ? xasprintf("%s:%d", ip, port) : NULL;
	struct proxy_route r = { in->name, in->domain, in->path, upstream, run->tls, false,
				 NULL,	   0,	      NULL };

	if (!in->domain)
		return 0;
	if (r.tls && ctx->proxy.https_port)
		r.hsts = tls_hsts(ctx, in->name);
	return route_instance(ctx, in, r, err);
}

/* Established TCP connections from this host to ip:port (IPv4). */
static int tcp_conns_to(const char *ip, int port)
{
	_cleanup_free_ char *data = NULL;
	struct in_addr a;
	char want[32];
	int n = 0;

	if (inet_pton(AF_INET, ip, &a) != 1 || read_file("/proc/net/tcp", &data, NULL) < 0)
		return 0;
	/* The kernel prints the address as a host-order word of the
	 * network-order bytes; states 01 and 02 are ESTABLISHED and
	 * SYN_SENT. */
	snprintf(want, sizeof(want), " %08X:%04X 0", (unsigned)a.s_addr, (unsigned)port);
	for (const char *p = data; (p = strstr(p, want)); p++) {
		char st = p[strlen(want)];

		if (st == '1' || st == '2')
			n++;
	}
	return n;
}

/* Let the requests nginx still has on the old container finish: first
 * the nginx workers of the configuration before the switch (the only ones
 * that send requests there), then the connections to it. */
static void drain(struct nua_ctx *ctx, const char *ip, int port)
{
	long long t0 = monotonic_ms();

	if (!ip || !port)
		return;
	proxy_drain(&ctx->proxy, DRAIN_MAX_MS);
	while (tcp_conns_to(ip, port) > 0 && monotonic_ms() - t0 < DRAIN_MAX_MS)
		sleep_ms(20);
}

void nua_event(struct nua_ctx *ctx, const char *name, const char *kind, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	state_event_add(ctx->st, name, kind, sb.buf, NULL, NULL, NULL);
	strbuf_release(&sb);
}

static void set_actual(struct nua_ctx *ctx, const struct instance_rec *in, const char *actual)
{
	if (!in->actual || !streq(in->actual, actual))
		state_instance_set_actual(ctx->st, in->name, actual, NULL);
}

/* The serving address of the instance, for the other instances' hosts
 * files. */
static void set_serving_ip(struct nua_ctx *ctx, const char *name, const char *ip)
{
	_cleanup_free_ char *path = inst_path(name, "ip");
	_cleanup_free_ char *old = NULL;
	size_t len;

	if (ip && read_file(path, &old, &len) == 0 && streq(old, ip))
		return;
	if (!ip && access(path, F_OK) != 0)
		return;
	if (ip)
		write_file_atomic(path, ip, strlen(ip), 0644);
	else
		unlink(path);
	update_hosts_files(ctx);
}

/* ---- resources ---- */

/* The variables of the image's resources that have does not hold yet (a
 * new password each), their servers made sure of first; DATABASE_URL and
 * REDIS_URL name the first database and the first Redis. */
/* The URL given for resource rname in ext ("NAME=URL" strings), or NULL. */
static const char *external_url(const char *const *ext, const char *rname)
{
	size_t len = strlen(rname);

	for (size_t i = 0; ext && ext[i]; i++)
		if (strncmp(ext[i], rname, len) == 0 && ext[i][len] == '=')
			return ext[i] + len + 1;
	return NULL;
}

static int resources_env(struct nua_ctx *ctx, const struct image_info *ii, const char *name,
			 const struct env_list *have, const char *const *ext, struct env_list *out,
			 struct nua_error **err)
{
	json_t *rs = json_object_get(ii->nua, "resource");
	size_t nres = json_array_size(rs), i;
	_cleanup_free_ const char **names = xcalloc(nres + 1, sizeof(*names));
	_cleanup_free_ const char **types = xcalloc(nres + 1, sizeof(*types));
	json_t *r;

	json_array_foreach(rs, i, r) {
		names[i] = json_string_value(json_object_get(r, "name"));
		types[i] = json_string_value(json_object_get(r, "type"));
	}

	/* Every external URL names one of the package's resources. */
	for (size_t k = 0; ext && ext[k]; k++) {
		const char *one[] = { ext[k], NULL };
		bool known = false;

		json_array_foreach(json_object_get(ii->nua, "resource"), i, r) {
			const char *rname = json_string_value(json_object_get(r, "name"));

			if (rname && external_url(one, rname))
				known = true;
		}
		if (!known)
			return nua_error_set(err, NUA_EINPUT,
					     "--resource %.*s: the package has no resource of that "
					     "name",
					     (int)strcspn(ext[k], "="), ext[k]);
	}
	json_array_foreach(json_object_get(ii->nua, "resource"), i, r) {
		const char *rname = json_string_value(json_object_get(r, "name"));
		const char *type = json_string_value(json_object_get(r, "type"));
		const char *xurl = rname ? external_url(ext, rname) : NULL;
		_cleanup_free_ char *server = NULL;
		struct env_rec *v = NULL;
		size_t n = 0, alloc = 0;
		const char *alias = resource_url_alias(names, types, nres, i);
		_cleanup_free_ char *url = NULL;

		if (!rname || !type)
			continue;
		server = resource_server_for(name, rname, type,
					     json_is_true(json_object_get(r, "dedicated")), err);
		if (!server)
			return -1;
		if (xurl) {
			struct resource_url u;

			if (resource_parse_url(type, xurl, &u, err) < 0)
				return nua_error_prefix(err, "resource '%s'", rname);
			resource_external_env(rname, type, xurl, &u, &v, &n, &alloc);
			resource_url_release(&u);
		} else {
			if (resource_check_version(
				    rname, type, json_string_value(json_object_get(r, "version")),
				    err) < 0)
				return -1;
			if (have && resource_env_lookup(have->v, have->n, rname, "password")) {
				const char *had = resource_server_of(have->v, have->n, rname);

				if (had && resource_ensure_server(ctx, type, had, err) < 0)
					return -1;
				continue; /* provisioned by an earlier version */
			}
			if (resource_ensure_server(ctx, type, server, err) < 0)
				return -1;
			if (resource_new_env(name, rname, type, server, &v, &n, &alloc, err) < 0)
				return -1;
		}
		for (size_t k = 0; k < n; k++) {
			env_list_set(out, v[k].key, v[k].value, v[k].secret);
			if (ends_with(v[k].key, "_URL") && !url)
				url = xstrdup(v[k].value);
		}
		/* The alias never overrides what the operator or an earlier
		 * version of the instance set. */
		if (url && alias && !(have && env_lookup(have->v, have->n, alias)))
			env_list_set(out, alias, url, true);
		for (size_t k = 0; k < n; k++) {
			free(v[k].key);
			free(v[k].value);
		}
		free(v);
	}
	return 0;
}

/* Create (or bring up to date) the databases and users of the instance's
 * resources: idempotent, run before each start. */
static int provision_all(struct nua_ctx *ctx, const struct instance_rec *in,
			 const struct image_info *ii, struct nua_error **err)
{
	struct env_list env = { 0 };
	size_t i;
	json_t *r;
	int ret = 0;

	if (json_array_size(json_object_get(ii->nua, "resource")) == 0)
		return 0;
	if (open_env(in, &env, err) < 0)
		return -1;
	json_array_foreach(json_object_get(ii->nua, "resource"), i, r) {
		const char *rname = json_string_value(json_object_get(r, "name"));
		const char *type = json_string_value(json_object_get(r, "type"));

		const char *server = rname ? resource_server_of(env.v, env.n, rname) : NULL;

		if (type && server &&
		    resource_provision(ctx, in->name, rname, type, server, env.v, env.n, err) < 0) {
			ret = -1;
			break;
		}
	}
	env_list_release(&env);
	return ret;
}

/* Take its resources from a removed instance: with purge, their data
 * goes too. A server that is not there has nothing to take. */
static int deprovision_all(struct nua_ctx *ctx, const struct instance_rec *in,
			   const struct image_info *ii, bool purge, struct nua_error **err)
{
	size_t i;
	json_t *r;

	json_array_foreach(json_object_get(ii->nua, "resource"), i, r) {
		const char *rname = json_string_value(json_object_get(r, "name"));
		const char *type = json_string_value(json_object_get(r, "type"));
		const char *server = rname ? resource_server_of(in->env, in->n_env, rname) : NULL;
		struct instance_rec srv = { 0 };

		if (!type || !server || state_instance_get(ctx->st, server, &srv, NULL) < 0)
			continue;
		instance_rec_release(&srv);
		if (resource_deprovision(ctx, in->name, rname, type, server, purge, err) < 0)
			return -1;
	}
	return 0;
}

/* ---- convergence ---- */

/* Everything of an instance the state does not know (its removal was
 * interrupted before, or a failed first deploy): containers, networks,
 * mounts, route; its volumes stay. */
static int clean_unknown(struct nua_ctx *ctx, const char *name, struct nua_error **err)
{
	int64_t *gens = NULL;
	size_t n = 0;
	int ret = 0;

	if (!valid_name(name, 40))
		return 0;
	if (list_gens(ctx, name, &gens, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (teardown_gen(ctx, name, gens[i], true, ret < 0 ? NULL : err) < 0)
			ret = -1;
	free(gens);
	if (proxy_remove_route(&ctx->proxy, name, ret < 0 ? NULL : err) < 0)
		ret = -1;
	if (ret == 0) {
		_cleanup_free_ char *g = inst_path(name, "gen");
		_cleanup_free_ char *ip = inst_path(name, "ip");

		remove_tree(g);
		unlink(ip);
	}
	return ret;
}

/* The servers of its own a removed instance had go with it (their data
 * too with purge). A failure leaves the server, named in an event. */
static void remove_dedicated_servers(struct nua_ctx *ctx, const struct instance_rec *in,
				     const struct image_info *ii, bool purge)
{
	size_t i;
	json_t *r;

	json_array_foreach(json_object_get(ii->nua, "resource"), i, r) {
		const char *rname = json_string_value(json_object_get(r, "name"));
		const char *server = rname ? resource_server_of(in->env, in->n_env, rname) : NULL;
		_cleanup_free_ char *own = NULL;
		struct nua_error *e = NULL;

		if (!server || !json_is_true(json_object_get(r, "dedicated")))
			continue;
		own = xstrdup(server);
		if (ctx->lock)
			ctx->lock(ctx->lock_arg, own, true);
		if (state_instance_set_removing(ctx->st, own, purge, &e) < 0 ||
		    instance_converge(ctx, own, &e) < 0) {
			nua_event(ctx, in->name, "remove", "its server '%s' stays: %s", own, e->msg);
			nua_error_free(e);
		}
		if (ctx->lock)
			ctx->lock(ctx->lock_arg, own, false);
	}
}

static int finish_remove(struct nua_ctx *ctx, const struct instance_rec *in,
			 const struct image_info *ii, const int64_t *gens, size_t n,
			 struct nua_error **err)
{
	const char *name = in->name;
	bool purge = in->removing == 2;
	_cleanup_free_ char *dir = inst_path(name, NULL);

	for (size_t i = 0; i < n; i++)
		if (teardown_gen(ctx, name, gens[i], true, err) < 0)
			return -1;
	if (deprovision_all(ctx, in, ii, purge, err) < 0)
		return -1;
	if (proxy_remove_route(&ctx->proxy, name, err) < 0)
		return -1;
	forget_first_start(ctx, name);
	if (state_instance_remove(ctx->st, name, err) < 0)
		return -1;
	remove_dedicated_servers(ctx, in, ii, purge);
	set_serving_ip(ctx, name, NULL);
	update_hosts_files(ctx);
	if (purge) {
		remove_tree(dir);
	} else {
		const char *subs[] = { "gen", "hosts", "ip", "logs", NULL };

		for (size_t i = 0; subs[i]; i++) {
			_cleanup_free_ char *p = inst_path(name, subs[i]);

			remove_tree(p);
		}
		rmdir(dir);
	}
	nua_event(ctx, name, "remove", purge ? "removed with its data" : "removed");
	return 0;
}

/* Drain and remove every generation of gens but keep (nginx no longer
 * routes to them). */
static int retire_others(struct nua_ctx *ctx, const char *name, const int64_t *gens, size_t n,
			 int64_t keep, int port, struct nua_error **err)
{
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *old = NULL;

		if (gens[i] == keep)
			continue;
		old = gen_ip(name, gens[i]);
		drain(ctx, old, port);
		if (teardown_gen(ctx, name, gens[i], true, err) < 0)
			return -1;
	}
	return 0;
}

int instance_converge(struct nua_ctx *ctx, const char *name, struct nua_error **err)
{
	struct instance_rec in = { 0 };
	struct image_info ii = { 0 };
	struct instance_run run = { 0 };
	int64_t *gens = NULL, gen, serving = 0, recreated = 0;
	size_t n = 0;
	int ret = -1;

	if (state_instance_get(ctx->st, name, &in, NULL) < 0)
		return clean_unknown(ctx, name, err);
	if (list_gens(ctx, name, &gens, &n, err) < 0)
		goto out;
	if (image_info_load(ctx->st, in.image_ref, &ii, err) < 0)
		goto out;
	if (in.removing) {
		ret = finish_remove(ctx, &in, &ii, gens, n, err);
		goto out;
	}
	gen = in.generation;
	run_info_fill(&in, &ii, gen, &run);
	if (streq(in.desired, "stopped")) {
		if (run.port && set_route(ctx, &in, &run, NULL, 0, err) < 0)
			goto out;
		for (size_t i = 0; i < n; i++)
			if (teardown_gen(ctx, name, gens[i], gens[i] != gen, err) < 0)
				goto out;
		set_serving_ip(ctx, name, NULL);
		if (!streq(in.actual, "stopped")) {
			set_actual(ctx, &in, "stopped");
			state_instance_set_started(ctx->st, name, 0, NULL);
			state_instance_set_health(ctx->st, name, "unknown", NULL);
			nua_event(ctx, name, "stop", "stopped");
		}
		ret = 0;
		goto out;
	}
	if (gen_running(ctx, name, gen, &run.pid)) {
		_cleanup_free_ char *ip = gen_ip(name, gen);

		/* It runs: make sure it is what nginx serves and nothing else
		 * of the instance is left. */
		if (ip && run.port && set_route(ctx, &in, &run, ip, run.port, err) < 0)
			goto out;
		/* An instance without a web port has no route (one an older
		 * version of it had goes). */
		if (!run.port && proxy_remove_route(&ctx->proxy, name, err) < 0)
			goto out;
		set_serving_ip(ctx, name, ip);
		if (retire_others(ctx, name, gens, n, gen, run.port, err) < 0)
			goto out;
		if (!streq(in.actual, "running") && !streq(in.actual, "unhealthy"))
			set_actual(ctx, &in, "running");
		if (!in.started_at)
			state_instance_set_started(ctx->st, name, (int64_t)time(NULL), NULL);
		ret = 0;
		goto out;
	}

	/* Start generation gen, beside an older one that may still serve. */
	for (size_t i = n; i-- > 0;)
		if (gens[i] != gen && gen_running(ctx, name, gens[i], NULL)) {
			serving = gens[i];
			break;
		}
	if (teardown_gen(ctx, name, gen, false, err) < 0)
		goto out;
	if (serving && !run.port) {
		/* Without a web port there is no switch to make, and two
		 * generations at once would share the volumes (a database's
		 * files, a worker's queue): the old one stops first. */
		nua_say(ctx, "stopping generation %lld of %s to start generation %lld",
		    (long long)serving, name, (long long)gen);
		if (retire_others(ctx, name, gens, n, gen, 0, err) < 0)
			goto out;
		recreated = serving;
		serving = 0;
	}
	set_actual(ctx, &in, serving ? "deploying" : "starting");
	state_instance_set_health(ctx->st, name, "starting", NULL);
	if (serving)
		nua_say(ctx, "starting generation %lld of %s beside generation %lld", (long long)gen,
		    name, (long long)serving);
	if (provision_all(ctx, &in, &ii, err) < 0 || start_gen(ctx, &in, &ii, &run, err) < 0) {
		int64_t rev = 0;

		teardown_gen(ctx, name, gen, serving != 0 || recreated != 0, NULL);
		if (recreated && state_revision_latest(ctx->st, name, &rev, NULL) == 0 && rev > 0 &&
		    state_instance_revert(ctx->st, name, rev, NULL) == 0) {
			struct nua_error *e2 = NULL;

			/* Back to the previous spec, started again. */
			nua_event(ctx, name, "deploy-failed",
			      "generation %lld did not become healthy; generation %lld is started "
			      "again",
			      (long long)gen, (long long)rev);
			if (instance_converge(ctx, name, &e2) < 0) {
				nua_event(ctx, name, "start-failed", "the previous version did not start: %s",
				      e2->msg);
				nua_error_free(e2);
			}
			nua_error_prefix(err, "the new version of '%s' did not become healthy; the "
					      "previous one was started again",
					 name);
		} else if (serving && state_revision_latest(ctx->st, name, &rev, NULL) == 0 &&
			   rev > 0 && state_instance_revert(ctx->st, name, rev, NULL) == 0) {
			state_instance_set_actual(ctx->st, name, "running", NULL);
			state_instance_set_health(ctx->st, name, "healthy", NULL);
			nua_event(ctx, name, "deploy-failed",
			      "generation %lld did not become healthy; generation %lld still serves",
			      (long long)gen, (long long)rev);
			nua_error_prefix(err, "the new version of '%s' did not become healthy, and "
					      "the previous one still serves",
					 name);
		} else {
			state_instance_set_actual(ctx->st, name, "failed", NULL);
			state_instance_set_health(ctx->st, name, "unhealthy", NULL);
			state_instance_set_started(ctx->st, name, 0, NULL);
			nua_event(ctx, name, "start-failed", "generation %lld did not start",
			      (long long)gen);
			nua_error_prefix(err, "cannot start '%s'", name);
		}
		goto out;
	}
	if (run.port && set_route(ctx, &in, &run, run.ip, run.port, err) < 0) {
		teardown_gen(ctx, name, gen, false, NULL);
		goto out;
	}
	set_serving_ip(ctx, name, run.ip);
	state_instance_set_started(ctx->st, name, (int64_t)time(NULL), NULL);
	state_instance_set_actual(ctx->st, name, "running", NULL);
	state_instance_set_health(ctx->st, name, "healthy", NULL);
	state_revisions_drop(ctx->st, name, NULL);
	if (serving)
		nua_event(ctx, name, "switch", "generation %lld serves %s%s (was %lld)", (long long)gen,
		      in.domain ? in.domain : name, in.path, (long long)serving);
	else
		nua_event(ctx, name, "start", "generation %lld started", (long long)gen);
	retire_others(ctx, name, gens, n, gen, run.port, NULL);
	ret = 0;
out:
	free(gens);
	instance_run_release(&run);
	image_info_release(&ii);
	instance_rec_release(&in);
	return ret;
}

int instance_recover(struct nua_ctx *ctx, const char *name, struct nua_error **err)
{
	struct instance_rec in = { 0 };
	int ret;

	if (instance_get(ctx, name, &in, err) < 0)
		return -1;
	/* From the image again: whatever broke it in its writable layer goes
	 * (its data is in volumes). */
	ret = teardown_gen(ctx, name, in.generation, true, err);
	instance_rec_release(&in);
	if (ret < 0)
		return -1;
	return instance_converge(ctx, name, err);
}

int instance_known_names(struct nua_ctx *ctx, char ***out, struct nua_error **err)
{
	struct instance_rec *list = NULL;
	struct proxy_route *routes = NULL;
	size_t n = 0, nr = 0, len = 0, alloc = 0;
	char **names = NULL, **ids = NULL;
	_cleanup_free_ char *dir = xasprintf("%s/instances", nua_root());
	DIR *d;


	if (state_instance_list(ctx->st, &list, &n, err) < 0)
		return -1;
	ALLOC_GROW(names, 1, alloc);
	names[0] = NULL;
	for (size_t i = 0; i < n; i++)
		strv_add_unique(&names, &len, &alloc, list[i].name);
	instance_rec_list_free(list, n);
	if (proxy_list_routes(&ctx->proxy, &routes, &nr, NULL) == 0) {
		/* The admin domain's route is the daemon's, not an instance's. */
		for (size_t i = 0; i < nr; i++)
			if (!streq(routes[i].name, PROXY_ADMIN_ROUTE))
				strv_add_unique(&names, &len, &alloc, routes[i].name);
		proxy_route_list_free(routes, nr);
	}
	if (ctx->rt.driver->list(&ctx->rt, &ids, NULL) == 0) {
		for (size_t i = 0; ids[i]; i++) {
			char nm[64];
			int64_t g;

			if (instance_parse_container_id(ids[i], nm, sizeof(nm), &g))
				strv_add_unique(&names, &len, &alloc, nm);
		}
		strv_free(ids);
	}
	if ((d = opendir(dir))) {
		struct dirent *de;

		while ((de = readdir(d))) {
			_cleanup_free_ char *g = NULL;

			if (!valid_name(de->d_name, 40))
				continue;
			g = inst_path(de->d_name, "gen");
			if (is_dir(g))
				strv_add_unique(&names, &len, &alloc, de->d_name);
		}
		closedir(d);
	}
	/* Resource servers first (a stable partition): the apps that use
	 * them start after them. */
	{
		size_t k = 0;
		char **sorted = xcalloc(len + 1, sizeof(*sorted));

		for (size_t i = 0; i < len; i++)
			if (is_server_name(names[i]))
				sorted[k++] = names[i];
		for (size_t i = 0; i < len; i++)
			if (!is_server_name(names[i]))
				sorted[k++] = names[i];
		free(names);
		names = sorted;
	}
	*out = names;
	return 0;
}

int instance_halt(struct nua_ctx *ctx, const char *name, struct nua_error **err)
{
	struct instance_rec in = { 0 };
	int64_t *gens = NULL;
	size_t n = 0;
	int ret = 0;

	if (state_instance_get(ctx->st, name, &in, NULL) < 0)
		return clean_unknown(ctx, name, err);
	if (list_gens(ctx, name, &gens, &n, err) < 0) {
		instance_rec_release(&in);
		return -1;
	}
	/* The current generation keeps its writable layer, as a container
	 * of a machine that shuts down does; older ones go. */
	for (size_t i = 0; i < n; i++)
		if (teardown_gen(ctx, name, gens[i], gens[i] != in.generation,
				 ret < 0 ? NULL : err) < 0)
			ret = -1;
	free(gens);
	set_serving_ip(ctx, name, NULL);
	if (ret == 0 && !streq(in.actual, "stopped")) {
		set_actual(ctx, &in, "stopped");
		state_instance_set_started(ctx->st, name, 0, NULL);
		state_instance_set_health(ctx->st, name, "unknown", NULL);
		nua_event(ctx, name, "stop", "stopped with the platform (it %s when Nua starts)",
		      streq(in.desired, "running") ? "starts again" : "stays stopped");
	}
	instance_rec_release(&in);
	return ret;
}

int instance_halt_all(struct nua_ctx *ctx, struct nua_error **err)
{
	char **names = NULL;
	size_t len = 0;
	int ret = 0;

	if (instance_known_names(ctx, &names, err) < 0)
		return -1;
	while (names[len])
		len++;
	/* The apps before the servers they use. */
	for (size_t i = len; i-- > 0;) {
		nua_say(ctx, "stopping %s", names[i]);
		if (instance_halt(ctx, names[i], ret < 0 ? NULL : err) < 0) {
			if (ret == 0)
				nua_error_prefix(err, "cannot stop '%s'", names[i]);
			ret = -1;
		}
	}
	strv_free(names);
	return ret;
}

/* ---- operations ---- */

/* Split "host/path" into a checked host and a path ("/" when none). */
static int split_domain(const char *domain, char **host, char **path, struct nua_error **err)
{
	const char *slash = strchr(domain, '/');
	_cleanup_free_ char *h = slash ? xstrndup(domain, (size_t)(slash - domain)) : xstrdup(domain);

	if (!proxy_valid_domain(h))
		return nua_error_set(err, NUA_EINPUT,
				     "'%s' is not a valid domain: use lowercase labels of letters, "
				     "digits and '-', separated by dots (example.com)",
				     domain);
	if (slash) {
		for (const char *c = slash; *c; c++)
			if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' ||
			      *c == '_' || *c == '.' || *c == '/') ||
			    (c[0] == '/' && c[1] == '/') || (c[0] == '.' && c[1] == '.'))
				return nua_error_set(err, NUA_EINPUT,
						     "'%s' has a path that is not made of lowercase "
						     "letters, digits, '-', '_', '.' and '/'",
						     domain);
	}
	*path = xstrdup(slash && slash[1] ? slash : "/");
	*host = TAKE_PTR(h);
	return 0;
}

static void derive_name(const char *ref, char *out, size_t size)
{
	size_t i;

	for (i = 0; ref[i] && ref[i] != ':' && i + 1 < size; i++)
		out[i] = ref[i];
	out[i] = '\0';
}

int instance_get(struct nua_ctx *ctx, const char *name, struct instance_rec *in,
		 struct nua_error **err)
{
	if (check_instance_name(name, err) < 0)
		return -1;
	if (state_instance_get(ctx->st, name, in, NULL) < 0 || in->removing) {
		if (in->name)
			instance_rec_release(in);
		return nua_error_set(err, NUA_EINPUT, "no instance named '%s' ('nua ls' lists them)",
				     name);
	}
	return 0;
}

/* Check what an image asks for that this nua cannot give. */
static int check_image_needs(const struct image_info *ii, const char *ref, struct nua_error **err)
{
	const char *pname;
	json_t *p;

	size_t i;
	json_t *r;

	json_array_foreach(json_object_get(ii->nua, "resource"), i, r) {
		const char *type = json_string_value(json_object_get(r, "type"));

		if (!type || !resource_type_supported(type))
			return nua_error_set(err, NUA_EINPUT,
					     "'%s' needs resource '%s' of type '%s', which this nua "
					     "does not provision (postgres, mariadb and redis it does)",
					     ref, json_string_value(json_object_get(r, "name")),
					     type ? type : "?");
	}
	json_object_foreach(json_object_get(ii->nua, "port"), pname, p)
		if (!json_is_null(json_object_get(p, "host")))
			return nua_error_set(err, NUA_EINPUT,
					     "'%s' asks for host port [port.%s] host, and this "
					     "version of nua publishes web ports through nginx only",
					     ref, pname);
	return 0;
}

/* Build or find the image of a deploy request; *ref is its reference. */
static int resolve_image(struct nua_ctx *ctx, const struct deploy_request *req, char **ref,
			 struct nua_error **err)
{
	if (is_dir(req->source) || ends_with(req->source, ".toml")) {
		struct build_options bo = { req->no_cache, ctx->progress, ctx->tty };

		if (ctx->build_worker)
			return build_package_worker(req->source, &bo, ref, err);
		return build_package(ctx->st, &ctx->rt, req->source, &bo, ref, err);
	} else {
		struct image_rec img = { 0 };

		if (state_image_get(ctx->st, req->source, &img, NULL) < 0)
			return nua_error_set(err, NUA_EINPUT,
					     "'%s' is neither a package directory nor an image "
					     "('nua images' lists them)",
					     req->source);
		*ref = xstrdup(img.ref);
		image_rec_release(&img);
	}
	return 0;
}

static int parse_override(const char *kv, char **key, struct nua_error **err)
{
	const char *eq = strchr(kv, '=');

	if (!eq || !valid_env_name(kv, (size_t)(eq - kv)))
		return nua_error_set(err, NUA_EINPUT,
				     "'%s' is not KEY=VALUE with KEY made of letters, digits and '_'",
				     kv);
	*key = xstrndup(kv, (size_t)(eq - kv));
	return 0;
}

/* A new version (image, env overrides) of an existing instance: recorded
 * as its next generation, then started beside the one that serves. */
static int redeploy(struct nua_ctx *ctx, const struct deploy_request *req, const char *host,
		    const char *path, struct instance_rec *cur, struct nua_error **err)
{
	_cleanup_free_ char *ref = NULL;
	struct image_info ii = { 0 };
	struct env_list env = { 0 }, fresh = { 0 }, res = { 0 };
	int ret = -1;

	if (host && (!cur->domain || !streq(host, cur->domain) || !streq(path, cur->path)))
		return nua_error_set(err, NUA_EINPUT,
				     "'%s' is served at %s%s; a redeploy keeps its domain (remove "
				     "it and deploy it again to move it)",
				     cur->name, cur->domain ? cur->domain : "", cur->path);
	if (resolve_image(ctx, req, &ref, err) < 0)
		return -1;
	if (image_info_load(ctx->st, ref, &ii, err) < 0)
		return -1;
	if (check_image_needs(&ii, ref, err) < 0)
		goto out;
	/* The env it has (generated secrets are kept), plus what the new
	 * version's [env] adds, plus the request's overrides. */
	for (size_t i = 0; i < cur->n_env; i++)
		env_list_set(&env, cur->env[i].key, cur->env[i].value, cur->env[i].secret);
	if (resources_env(ctx, &ii, cur->name, &env, req->resources, &res, err) < 0)
		goto out;
	for (size_t k = 0; k < res.n; k++)
		env_list_set(&env, res.v[k].key, res.v[k].value, res.v[k].secret);
	if (initial_env(&ii, cur->name, cur->domain ? cur->domain : cur->name, &env, NULL, &fresh,
			err) < 0)
		goto out;
	for (size_t i = 0; i < fresh.n; i++)
		if (!env_lookup(env.v, env.n, fresh.v[i].key))
			env_list_set(&env, fresh.v[i].key, fresh.v[i].value, fresh.v[i].secret);
	for (size_t i = 0; req->env && req->env[i]; i++) {
		_cleanup_free_ char *k = NULL;

		if (parse_override(req->env[i], &k, err) < 0)
			goto out;
		env_list_set(&env, k, strchr(req->env[i], '=') + 1, false);
	}
	if (seal_env(&env, err) < 0)
		goto out;
	if (state_instance_update(ctx->st, cur->name, ref, env.v, env.n, err) < 0 ||
	    state_instance_set_desired(ctx->st, cur->name, "running", err) < 0)
		goto out;
	nua_event(ctx, cur->name, "deploy", "deploying %s", ref);
	nua_say(ctx, "deploying %s to %s beside the running version", ref, cur->name);
	if (instance_converge(ctx, cur->name, err) < 0)
		goto out;
	ret = 0;
out:
	env_list_release(&env);
	env_list_release(&fresh);
	env_list_release(&res);
	image_info_release(&ii);
	return ret;
}

int instance_deploy(struct nua_ctx *ctx, const struct deploy_request *req, char **name_out,
		    struct nua_error **err)
{
	_cleanup_free_ char *ref = NULL, *host = NULL, *path = NULL;
	_cleanup_free_ char *dir = NULL;
	struct instance_rec in = { 0 }, existing = { 0 };
	struct image_info ii = { 0 };
	struct env_list env = { 0 }, res = { 0 };
	struct volume_rec *vols = NULL;
	size_t nvols = 0, vols_alloc = 0;
	char name[64];
	bool added = false, had_dir;
	int ret = -1;
	json_t *jv;
	size_t idx;

	/* Everything about the request is checked before anything is built or
	 * changed. */
	if (req->name && check_instance_name(req->name, err) < 0)
		return -1;
	if (req->name && resource_reserved_name(req->name) && !req->server)
		return nua_error_set(err, NUA_EINPUT,
				     "'%s' is a name Nua keeps for its resource servers (nua-...); "
				     "choose another --name",
				     req->name);
	if (req->domain && split_domain(req->domain, &host, &path, err) < 0)
		return -1;
	if (req->name && instance_get(ctx, req->name, &existing, NULL) == 0) {
		ret = redeploy(ctx, req, host, path, &existing, err);
		if (ret == 0 && name_out)
			*name_out = xstrdup(req->name);
		instance_rec_release(&existing);
		return ret;
	}
	if (resolve_image(ctx, req, &ref, err) < 0)
		return -1;
	if (req->name) {
		snprintf(name, sizeof(name), "%s", req->name);
	} else {
		derive_name(ref, name, sizeof(name));
		if (check_instance_name(name, err) < 0)
			return -1;
	}
	if (!req->name && state_instance_get(ctx->st, name, &existing, NULL) == 0) {
		instance_rec_release(&existing);
		return nua_error_set(err, NUA_EINPUT,
				     "an instance named '%s' exists already; give the new one "
				     "another --name, or --name %s to deploy a new version of it",
				     name, name);
	}
	if (!host) {
		host = xasprintf("%s.localhost", name);
		path = xstrdup("/");
	}

	if (image_info_load(ctx->st, ref, &ii, err) < 0)
		goto out;
	if (check_image_needs(&ii, ref, err) < 0)
		goto out;
	if (resources_env(ctx, &ii, name, NULL, req->resources, &res, err) < 0)
		goto out;
	for (size_t k = 0; k < res.n; k++)
		env_list_set(&env, res.v[k].key, res.v[k].value, res.v[k].secret);
	if (initial_env(&ii, name, host, &res, req->env, &env, err) < 0)
		goto out;
	if (seal_env(&env, err) < 0)
		goto out;
	json_array_foreach(json_object_get(ii.nua, "volume"), idx, jv) {
		const char *vname = json_string_value(json_object_get(jv, "name"));
		const char *type = json_string_value(json_object_get(jv, "type"));

		ALLOC_GROW(vols, nvols + 1, vols_alloc);
		vols[nvols] = (struct volume_rec){
			(char *)(vname ? vname : ""),
			(char *)json_string_value(json_object_get(jv, "target")),
			(char *)(type ? type : "managed"),
			(char *)json_string_value(json_object_get(jv, "source")),
		};
		nvols++;
	}

	dir = inst_path(name, NULL);
	had_dir = access(dir, F_OK) == 0;
	in.name = name;
	in.image_ref = ref;
	in.domain = host;
	in.path = path;
	in.desired = (char *)"running";
	in.actual = (char *)"starting";
	in.env = env.v;
	in.n_env = env.n;
	in.volumes = vols;
	in.n_volumes = nvols;
	if (state_instance_add(ctx->st, &in, err) < 0)
		goto out;
	added = true;
	{
		_cleanup_free_ char *key = first_start_key(name);

		if (state_setting_set(ctx->st, key, "pending", err) < 0)
			goto undo;
	}
	nua_say(ctx, "starting %s (%s) at http://%s%s", name, ref, host,
	    streq(path, "/") ? "/" : path);
	if (instance_converge(ctx, name, err) < 0)
		goto undo;
	nua_event(ctx, name, "deploy", "deployed %s at %s%s", ref, host, path);
	if (name_out)
		*name_out = xstrdup(name);
	ret = 0;
	goto out;
undo:
	nua_error_prefix(err, "cannot deploy '%s'", name);
	if (added) {
		forget_first_start(ctx, name);
		proxy_remove_route(&ctx->proxy, name, NULL);
		/* Its databases go too (what a first start put there would
		 * meet the next try), unless a removed instance of the same
		 * name left them: its kept data, as its volumes below. */
		deprovision_all(ctx, &in, &ii, !had_dir, NULL);
		state_instance_remove(ctx->st, name, NULL);
		remove_dedicated_servers(ctx, &in, &ii, !had_dir);
		clean_unknown(ctx, name, NULL);
	}
	/* Nothing of the new instance stays, but data a removed instance of
	 * the same name left behind (kept volumes) does. */
	if (!had_dir) {
		remove_tree(dir);
	} else {
		const char *subs[] = { "gen", "hosts", "ip", NULL };

		for (size_t i = 0; subs[i]; i++) {
			_cleanup_free_ char *p = inst_path(name, subs[i]);

			remove_tree(p);
		}
	}
out:
	free(vols);
	env_list_release(&env);
	env_list_release(&res);
	image_info_release(&ii);
	return ret;
}

int instance_start(struct nua_ctx *ctx, const char *name, struct nua_error **err)
{
	struct instance_rec in = { 0 };
	int ret = -1;

	if (instance_get(ctx, name, &in, err) < 0)
		return -1;
	if (!streq(in.desired, "running") &&
	    state_instance_set_desired(ctx->st, name, "running", err) < 0)
		goto out;
	ret = instance_converge(ctx, name, err);
out:
	instance_rec_release(&in);
	return ret;
}

int instance_stop(struct nua_ctx *ctx, const char *name, struct nua_error **err)
{
	struct instance_rec in = { 0 };
	int ret = -1;

	if (instance_get(ctx, name, &in, err) < 0)
		return -1;
	if (state_instance_set_desired(ctx->st, name, "stopped", err) < 0)
		goto out;
	if ((ret = instance_converge(ctx, name, err)) < 0)
		nua_error_prefix(err, "cannot stop '%s'", name);
out:
	instance_rec_release(&in);
	return ret;
}

int instance_restart(struct nua_ctx *ctx, const char *name, struct nua_error **err)
{
	struct instance_rec in = { 0 };
	int ret = -1;

	if (instance_get(ctx, name, &in, err) < 0)
		return -1;
	/* A new generation of the same spec: it starts beside the one that
	 * serves, which keeps serving until the new one is healthy. */
	if (state_instance_update(ctx->st, name, NULL, NULL, 0, err) < 0 ||
	    state_instance_set_desired(ctx->st, name, "running", err) < 0)
		goto out;
	nua_event(ctx, name, "restart", "restart requested");
	ret = instance_converge(ctx, name, err);
out:
	instance_rec_release(&in);
	return ret;
}

/* The name of an instance whose resources the server name serves, or
 * NULL (caller frees). */
static char *server_user(struct nua_ctx *ctx, const char *name)
{
	struct instance_rec *list = NULL;
	char *user = NULL;
	size_t n = 0;

	if (!resource_reserved_name(name) || state_instance_list(ctx->st, &list, &n, NULL) < 0)
		return NULL;
	for (size_t i = 0; i < n && !user; i++) {
		struct image_info ii = { 0 };
		size_t k;
		json_t *r;

		if (list[i].removing || image_info_load(ctx->st, list[i].image_ref, &ii, NULL) < 0)
			continue;
		json_array_foreach(json_object_get(ii.nua, "resource"), k, r) {
			const char *rname = json_string_value(json_object_get(r, "name"));
			const char *server =
				rname ? resource_server_of(list[i].env, list[i].n_env, rname) : NULL;

			if (server && streq(server, name) && !user)
				user = xstrdup(list[i].name);
		}
		image_info_release(&ii);
	}
	instance_rec_list_free(list, n);
	return user;
}

int instance_remove(struct nua_ctx *ctx, const char *name, bool purge, struct nua_error **err)
{
	struct instance_rec in = { 0 };
	_cleanup_free_ char *user = NULL;
	int ret = -1;

	if (instance_get(ctx, name, &in, err) < 0)
		return -1;
	if ((user = server_user(ctx, name))) {
		instance_rec_release(&in);
		return nua_error_set(err, NUA_EINPUT,
				     "'%s' is used by instance '%s', whose resource it serves; remove "
				     "that instance first",
				     name, user);
	}
	if (state_instance_set_removing(ctx->st, name, purge, err) < 0)
		goto out;
	if ((ret = instance_converge(ctx, name, err)) < 0)
		nua_error_prefix(err, "cannot remove '%s'", name);
out:
	instance_rec_release(&in);
	return ret;
}

/* Give the route of in (as nginx serves it now: upstream, TLS) in's
 * aliases and access rules. No route yet: the next converge makes it with
 * them. */
static int route_aliases(struct nua_ctx *ctx, const struct instance_rec *in,
			 struct nua_error **err)
{
	struct proxy_route *routes = NULL;
	size_t n = 0;
	int ret = 0;

	if (proxy_list_routes(&ctx->proxy, &routes, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (streq(routes[i].name, in->name)) {
			ret = route_instance(ctx, in, routes[i], err);
			break;
		}
	proxy_route_list_free(routes, n);
	return ret;
}

int instance_route_refresh(struct nua_ctx *ctx, const char *name, struct nua_error **err)
{
	struct instance_rec in = { 0 };
	int r;

	if (instance_get(ctx, name, &in, err) < 0)
		return -1;
	r = route_aliases(ctx, &in, err);
	instance_rec_release(&in);
	return r;
}

/* host and normalised path of a DOMAIN[/PATH] argument. */
static int alias_spec(const char *spec, char **host, char **path, struct nua_error **err)
{
	char *raw;

	if (split_domain(spec, host, &raw, err) < 0)
		return -1;
	*path = proxy_normalise_path(raw);
	free(raw);
	return 0;
}

int instance_alias_add(struct nua_ctx *ctx, const char *name, const char *spec, bool redirect,
		       struct nua_error **err)
{
	_cleanup_free_ char *host = NULL, *path = NULL;
	struct instance_rec in = { 0 };
	struct nua_error *e = NULL;
	int ret = -1;

	if (instance_get(ctx, name, &in, err) < 0 || alias_spec(spec, &host, &path, err) < 0)
		goto out;
	if (state_alias_add(ctx->st, name, host, path, redirect, err) < 0)
		goto out;
	instance_rec_release(&in);
	if (instance_get(ctx, name, &in, err) < 0)
		goto out;
	if (route_aliases(ctx, &in, err) < 0) {
		/* nginx refused it: as it was. */
		state_alias_remove(ctx->st, name, host, path, &e);
		nua_error_free(e);
		goto out;
	}
	nua_event(ctx, name, "domain", "%s%s added%s", host, streq(path, "/") ? "" : path,
		  redirect ? " (redirects to the main domain)" : "");
	ret = 0;
out:
	instance_rec_release(&in);
	return ret;
}

int instance_alias_remove(struct nua_ctx *ctx, const char *name, const char *spec,
			  struct nua_error **err)
{
	_cleanup_free_ char *host = NULL, *path = NULL, *main_path = NULL;
	struct instance_rec in = { 0 };
	bool redirect = false;
	struct nua_error *e = NULL;
	int ret = -1;

	if (instance_get(ctx, name, &in, err) < 0 || alias_spec(spec, &host, &path, err) < 0)
		goto out;
	main_path = proxy_normalise_path(in.path);
	if (in.domain && streq(host, in.domain) && streq(path, main_path)) {
		nua_error_set(err, NUA_EINPUT,
			      "'%s' is the main domain of '%s': only its aliases can be removed",
			      spec, name);
		goto out;
	}
	for (size_t i = 0; i < in.n_aliases; i++)
		if (streq(in.aliases[i].domain, host) && streq(in.aliases[i].path, path))
			redirect = in.aliases[i].redirect;
	if (state_alias_remove(ctx->st, name, host, path, err) < 0)
		goto out;
	instance_rec_release(&in);
	if (instance_get(ctx, name, &in, err) < 0)
		goto out;
	if (route_aliases(ctx, &in, err) < 0) {
		state_alias_add(ctx->st, name, host, path, redirect, &e);
		nua_error_free(e);
		goto out;
	}
	nua_event(ctx, name, "domain", "%s%s removed", host, streq(path, "/") ? "" : path);
	ret = 0;
out:
	instance_rec_release(&in);
	return ret;
}

int instance_set_env(struct nua_ctx *ctx, const char *name, const char *const *set,
		     const char *const *unset, struct nua_error **err)
{
	struct instance_rec in = { 0 };
	struct env_list env = { 0 };
	int ret = -1;

	if (instance_get(ctx, name, &in, err) < 0)
		return -1;
	for (size_t i = 0; i < in.n_env; i++)
		env_list_set(&env, in.env[i].key, in.env[i].value, in.env[i].secret);
	for (size_t i = 0; set && set[i]; i++) {
		_cleanup_free_ char *k = NULL;

		if (parse_override(set[i], &k, err) < 0)
			goto out;
		env_list_set(&env, k, strchr(set[i], '=') + 1, false);
	}
	for (size_t i = 0; unset && unset[i]; i++)
		if (!env_list_unset(&env, unset[i])) {
			nua_error_set(err, NUA_EINPUT, "'%s' has no variable '%s'", name, unset[i]);
			goto out;
		}
	if (state_instance_update(ctx->st, name, NULL, env.v, env.n, err) < 0)
		goto out;
	nua_event(ctx, name, "env", "environment changed");
	if (streq(in.desired, "running")) {
		nua_say(ctx, "starting %s with its new environment", name);
		if (instance_converge(ctx, name, err) < 0)
			goto out;
	}
	ret = 0;
out:
	env_list_release(&env);
	instance_rec_release(&in);
	return ret;
}

/* When pid started, in unix seconds (0 when unknown): its start time in
 * clock ticks after boot (/proc/PID/stat, field 22) plus the boot time. */
static long long process_start_time(pid_t pid)
{
	_cleanup_free_ char *path = xasprintf("/proc/%d/stat", (int)pid);
	_cleanup_free_ char *stat = NULL, *sys = NULL;
	unsigned long long ticks = 0;
	long long btime = 0;
	const char *p;
	size_t len;
	int field;

	/* The boot time does not change: read it once. */
	static long long boot;

	if (read_file(path, &stat, &len) < 0)
		return 0;
	if (!boot) {
		const char *b;

		if (read_file("/proc/stat", &sys, &len) < 0 || !(b = strstr(sys, "\nbtime ")))
			return 0;
		boot = atoll(b + 7);
	}
	/* The command name (field 2) may hold spaces: count after its ')'. */
	if (!(p = strrchr(stat, ')')))
		return 0;
	for (field = 2; *p && field < 22; p++)
		if (*p == ' ')
			field++;
	ticks = strtoull(p, NULL, 10);
	btime = boot;
	if (!btime || !ticks)
		return 0;
	return btime + (long long)(ticks / (unsigned long long)sysconf(_SC_CLK_TCK));
}

int instance_status_of(struct nua_ctx *ctx, const struct instance_rec *in,
		       struct instance_status *out, struct nua_error **err)
{
	const char *name = in->name;
	_cleanup_free_ char *id = NULL, *ip = NULL, *serving_ip = NULL, *cur_ip = NULL;
	_cleanup_free_ char *sip_path = inst_path(name, "ip");
	int64_t *gens = NULL, gen = in->generation;
	size_t n = 0, len;

	memset(out, 0, sizeof(*out));
	/* What users get: the generation nginx routes to (whose address is the
	 * serving one), usually the current one; while a new one starts or
	 * when nothing is routed, the newest that runs. */
	if (read_file(sip_path, &serving_ip, &len) < 0)
		serving_ip = NULL;
	cur_ip = gen_ip(name, gen);
	if (!(serving_ip && cur_ip && streq(serving_ip, cur_ip) && gen_running(ctx, name, gen, NULL)) &&
	    list_gens(ctx, name, &gens, &n, NULL) == 0) {
		int64_t found = 0;

		for (size_t i = n; i-- > 0 && !found;) {
			_cleanup_free_ char *gip = serving_ip ? gen_ip(name, gens[i]) : NULL;

			if (gip && streq(gip, serving_ip) && gen_running(ctx, name, gens[i], NULL))
				found = gens[i];
		}
		for (size_t i = n; i-- > 0 && !found;)
			if (gen_running(ctx, name, gens[i], NULL))
				found = gens[i];
		if (found)
			gen = found;
		free(gens);
	}
	out->generation = gen;
	id = instance_container_id(name, gen);
	if (ctx->rt.driver->peek(&ctx->rt, id, &out->ctr, err) < 0)
		return -1;
	if (out->ctr.status == CONTAINER_RUNNING && (ip = gen_ip(name, gen)))
		snprintf(out->ip, sizeof(out->ip), "%s", ip);
	if (out->ctr.status == CONTAINER_RUNNING && out->ctr.pid > 0)
		out->started_at = process_start_time(out->ctr.pid);
	return 0;
}

int instance_status(struct nua_ctx *ctx, const char *name, struct instance_status *out,
		    struct nua_error **err)
{
	struct instance_rec in = { 0 };
	int r;

	memset(out, 0, sizeof(*out));
	if (state_instance_get(ctx->st, name, &in, err) < 0)
		return -1;
	r = instance_status_of(ctx, &in, out, err);
	instance_rec_release(&in);
	return r;
}
