/* Instances and their lifecycle: see instance.h. */
#define _GNU_SOURCE
#include "instance.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "build.h"
#include "image.h"
#include "mount.h"
#include "oci_spec.h"
#include "paths.h"
#include "secret.h"
#include "strbuf.h"
#include "util.h"
#include "banned.h"

/* The app's log is rotated at this size. */
#define LOG_SIZE_MAX (10ULL * 1024 * 1024)
/* Seconds a stop waits after SIGTERM before SIGKILL. */
#define STOP_TIMEOUT_SEC 10
/* The longest wait for a new app to answer, whatever its start-period. */
#define READY_MAX_SEC 300

/* ---- context ---- */

int nua_ctx_open(struct nua_ctx *ctx, unsigned needs, struct nua_error **err)
{
	_cleanup_free_ char *db = NULL;
	int r;

	if (!ctx->lock_fd)
		ctx->lock_fd = -1;
	if ((r = mkdir_p(nua_root(), 0711)) < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot create '%s': %s", nua_root(),
				     strerror(-r));
	if ((needs & CTX_LOCK) && ctx->lock_fd < 0) {
		_cleanup_free_ char *path = nua_root_path("nua.lock");

		ctx->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (ctx->lock_fd < 0)
			return nua_error_set(err, NUA_EFAIL, "cannot open '%s': %s", path,
					     strerror(errno));
		if (flock(ctx->lock_fd, LOCK_EX | LOCK_NB) < 0) {
			if (ctx->progress)
				fprintf(ctx->progress, "waiting for another nua command to finish\n");
			while (flock(ctx->lock_fd, LOCK_EX) < 0)
				if (errno != EINTR)
					return nua_error_set(err, NUA_EFAIL, "cannot lock '%s': %s",
							     path, strerror(errno));
		}
	}
	if ((needs & CTX_STATE) && !ctx->st) {
		db = nua_root_path("nua.db");
		if (state_open(db, &ctx->st, err) < 0)
			return -1;
	}
	if ((needs & CTX_RUNTIME) && !ctx->rt_open) {
		if (runtime_oci_open(&ctx->rt, err) < 0)
			return -1;
		ctx->rt_open = true;
	}
	if ((needs & CTX_NETWORK) && !ctx->net_open) {
		if (cni_network_open(&ctx->net, NULL, err) < 0)
			return -1;
		ctx->net_open = true;
	}
	if ((needs & CTX_PROXY) && !ctx->proxy_open) {
		if (proxy_open(&ctx->proxy, err) < 0)
			return -1;
		ctx->proxy_open = true;
	}
	return 0;
}

void nua_ctx_close(struct nua_ctx *ctx)
{
	if (ctx->st)
		state_close(ctx->st);
	if (ctx->rt_open)
		runtime_release(&ctx->rt);
	if (ctx->net_open)
		cni_network_release(&ctx->net);
	if (ctx->proxy_open)
		proxy_release(&ctx->proxy);
	if (ctx->lock_fd > 0)
		close(ctx->lock_fd);
	ctx->st = NULL;
	ctx->rt_open = ctx->net_open = ctx->proxy_open = false;
	ctx->lock_fd = -1;
}

static void say(struct nua_ctx *ctx, const char *fmt, ...) PRINTF(2, 3);
static void say(struct nua_ctx *ctx, const char *fmt, ...)
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

char *instance_container_id(const char *name)
{
	_cleanup_free_ char *tag = nua_root_tag();

	return tag[0] ? xasprintf("nua-%s-%s", tag, name) : xasprintf("nua-%s", name);
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

/* The container port of [port.web] (or the only port) for this env. */
static int web_port(const struct image_info *ii, const struct env_rec *env, size_t n)
{
	json_t *ports = json_object_get(ii->nua, "port");
	json_t *p = ports ? json_object_get(ports, "web") : NULL;
	json_t *c;

	if (!p && ports && json_object_size(ports) == 1) {
		const char *k;
		json_t *v;

		json_object_foreach(ports, k, v) p = v;
	}
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
		       const char *const *overrides, struct env_list *out, struct nua_error **err)
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

				if (from && !from[0] && fk &&
				    (streq(fk, "domain") || streq(fk, "hostname") ||
				     streq(fk, "host"))) {
					env_list_set(out, key, streq(fk, "hostname") ? name : host,
						     false);
				} else {
					return nua_error_set(
						err, NUA_EINPUT,
						"[env] %s takes its value from resource '%s', and "
						"resources are not provisioned by this version of nua",
						key, from ? from : "");
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

/* The /etc/hosts of every instance: localhost, then each running instance
 * by name. Written in place (not renamed) so that the containers, which
 * bind-mount the file, see the change. */
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

/* One HTTP GET of path on ip:port; *code is the status (0: no answer). */
static void http_probe(const char *ip, int port, const char *path, const char *host,
		       int timeout_ms, int *code)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	_cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct pollfd pfd;
	char buf[256];
	struct strbuf req = STRBUF_INIT;
	ssize_t got;
	int soerr = 0;
	socklen_t sl = sizeof(soerr);

	*code = 0;
	if (fd < 0 || inet_pton(AF_INET, ip, &sa.sin_addr) != 1)
		return;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
		return;
	pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
	if (poll(&pfd, 1, timeout_ms) != 1 ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr)
		return;
	strbuf_addf(&req, "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: nua-health\r\n\r\n",
		    path, host);
	if (write(fd, req.buf, req.len) != (ssize_t)req.len) {
		strbuf_release(&req);
		return;
	}
	strbuf_release(&req);
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	if (poll(&pfd, 1, timeout_ms) != 1)
		return;
	got = read(fd, buf, sizeof(buf) - 1);
	if (got < 12)
		return;
	buf[got] = '\0';
	if (starts_with(buf, "HTTP/1.") && buf[8] == ' ')
		*code = atoi(buf + 9);
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

/* Wait until the app answers on its web port (any status below 500 on the
 * health path), or for an app without a port, until it has run a second.
 * An app that exits meanwhile fails, with its last log lines. */
static int wait_ready(struct nua_ctx *ctx, const char *name, const char *id,
		      const struct image_info *ii, const char *ip, int port, const char *host,
		      struct nua_error **err)
{
	json_t *hc_path = nua_get(ii, "healthcheck", "path");
	json_t *hc_start = nua_get(ii, "healthcheck", "start-period");
	const char *path = json_is_string(hc_path) ? json_string_value(hc_path) : "/";
	long limit_ms = (json_is_integer(hc_start) ? json_integer_value(hc_start) : 120) * 1000;
	long long t0 = monotonic_ms(), waited = 0;
	int code = 0;

	if (limit_ms > READY_MAX_SEC * 1000L)
		limit_ms = READY_MAX_SEC * 1000L;
	for (int round = 0;; round++) {
		struct container_state cs;

		if (ctx->rt.driver->state(&ctx->rt, id, &cs, err) < 0)
			return -1;
		/* conmon writes the exit status a moment after the process
		 * ends: give it that moment, for the message's sake. */
		for (int i = 0; i < 40 && cs.status != CONTAINER_RUNNING && cs.exit_code < 0; i++) {
			sleep_ms(50);
			if (ctx->rt.driver->state(&ctx->rt, id, &cs, err) < 0)
				return -1;
		}
		if (cs.status != CONTAINER_RUNNING) {
			_cleanup_free_ char *tail = log_tail(name, 20);

			if (cs.oom_killed)
				return nua_error_set(err, NUA_EFAIL,
						     "'%s' was killed for using more memory than its "
						     "limit, right after it started; its last lines:\n%s",
						     name, tail);
			return nua_error_set(err, NUA_EFAIL,
					     "'%s' exited right after it started (exit status "
					     "%d); its last lines:\n%s",
					     name, cs.exit_code, tail);
		}
		if (port) {
			http_probe(ip, port, path, host, 1000, &code);
			if (code > 0 && code < 500)
				return 0;
		} else if (waited >= 1000) {
			return 0;
		}
		waited = monotonic_ms() - t0;
		if (waited > limit_ms) {
			_cleanup_free_ char *tail = log_tail(name, 20);

			if (code)
				return nua_error_set(err, NUA_EFAIL,
						     "'%s' answers %d on %s:%d%s after %lld s; its "
						     "last lines:\n%s",
						     name, code, ip, port, path, waited / 1000, tail);
			return nua_error_set(err, NUA_EFAIL,
					     "'%s' does not answer on port %d after %lld s; its last "
					     "lines:\n%s",
					     name, port, waited / 1000, tail);
		}
		sleep_ms(round < 20 ? 25 : 200);
	}
}

static int make_dirs(const char *name, const struct instance_rec *in, uid_t uid, gid_t gid,
		     struct nua_error **err)
{
	const char *subs[] = { "upper", "work", "rootfs", "bundle", "logs", "volumes", NULL };

	for (size_t i = 0; subs[i]; i++) {
		_cleanup_free_ char *p = inst_path(name, subs[i]);
		int r;

		if ((r = mkdir_p(p, 0700)) < 0)
			return nua_error_set(err, NUA_EFAIL, "cannot create '%s': %s", p,
					     strerror(-r));
	}
	/* The overlay's root directory must let the app's user in. */
	{
		_cleanup_free_ char *root = inst_path(name, "rootfs");
		_cleanup_free_ char *up = inst_path(name, "upper");
		_cleanup_free_ char *top = inst_path(name, NULL);

		/* The upper directory is the container's "/". */
		chmod(up, 0755);
		chmod(root, 0755);
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

/* Undo what start_container did, in reverse order; every step is tried
 * and is a no-op when there is nothing to undo. */
static int teardown(struct nua_ctx *ctx, const char *name, struct nua_error **err)
{
	_cleanup_free_ char *id = instance_container_id(name);
	_cleanup_free_ char *rootfs = inst_path(name, "rootfs");
	_cleanup_free_ char *ipf = inst_path(name, "ip");
	struct nua_error *e = NULL;
	int ret = 0;

	if (ctx->rt.driver->stop(&ctx->rt, id, STOP_TIMEOUT_SEC, &e) < 0 ||
	    ctx->rt.driver->remove(&ctx->rt, id, &e) < 0)
		ret = -1;
	if (cni_detach(&ctx->net, name, ret < 0 ? NULL : &e) < 0)
		ret = -1;
	if (unmount_path(rootfs, ret < 0 ? NULL : &e) < 0)
		ret = -1;
	unlink(ipf);
	if (ret < 0 && err)
		*err = e;
	else
		nua_error_free(e);
	return ret;
}

/* Mount, wire, start the container of in and wait for it to answer, then
 * route its domain to it. On failure everything is undone. */
static int start_container(struct nua_ctx *ctx, const struct instance_rec *in,
			   struct nua_error **err)
{
	const char *name = in->name;
	_cleanup_free_ char *id = instance_container_id(name);
	_cleanup_free_ char *rootfs = inst_path(name, "rootfs");
	_cleanup_free_ char *upper = inst_path(name, "upper");
	_cleanup_free_ char *work = inst_path(name, "work");
	_cleanup_free_ char *bundle = inst_path(name, "bundle");
	_cleanup_free_ char *hosts = inst_path(name, "hosts");
	_cleanup_free_ char *ipf = inst_path(name, "ip");
	_cleanup_free_ char *log = instance_log_path(name);
	_cleanup_free_ char *netns = NULL, *upstream = NULL;
	struct image_info ii = { 0 };
	struct env_list env = { 0 };
	struct container_spec spec;
	struct cni_result res;
	char **lowers = NULL;
	size_t nlowers = 0;
	uid_t uid = 0;
	gid_t gid = 0;
	int port, ret = -1;
	json_t *j;
	size_t idx;

	container_spec_init(&spec);
	if (image_info_load(ctx->st, in->image_ref, &ii, err) < 0)
		goto out;
	if (open_env(in, &env, err) < 0)
		goto out;
	if (parse_user(json_string_value(json_object_get(ii.oci, "User")), &uid, &gid) < 0) {
		nua_error_set(err, NUA_EFAIL, "image '%s' has a user that is not UID[:GID]",
			      in->image_ref);
		goto out;
	}
	if (make_dirs(name, in, uid, gid, err) < 0)
		goto out;
	if (image_layer_dirs(ctx->st, in->image_ref, &lowers, &nlowers, err) < 0)
		goto out;
	if (!is_mount_point(rootfs) &&
	    overlay_mount((const char *const *)lowers, nlowers, upper, work, rootfs, err) < 0)
		goto out;
	if (cni_attach(&ctx->net, name, &netns, &res, err) < 0)
		goto fail;
	if (write_file_atomic(ipf, res.ip, strlen(res.ip), 0644) < 0) {
		nua_error_set(err, NUA_EFAIL, "cannot write '%s': %s", ipf, strerror(errno));
		goto fail;
	}
	update_hosts_files(ctx);

	/* The process: the image's command, env and user. */
	j = json_object_get(ii.oci, "Cmd");
	if (!json_is_array(j) || json_array_size(j) == 0) {
		nua_error_set(err, NUA_EINPUT, "image '%s' has no start command ([run] start)",
			      in->image_ref);
		goto fail;
	}
	{
		size_t n = json_array_size(j);
		const char **argv = xcalloc(n + 1, sizeof(*argv));
		json_t *a;

		json_array_foreach(j, idx, a) argv[idx] = json_string_value(a);
		container_spec_set_argv(&spec, argv);
		free(argv);
	}
	json_array_foreach(json_object_get(ii.oci, "Env"), idx, j)
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
	if ((j = json_object_get(ii.oci, "WorkingDir")) && json_string_length(j))
		container_spec_set_cwd(&spec, json_string_value(j));
	spec.uid = uid;
	spec.gid = gid;
	container_spec_set_hostname(&spec, name);
	container_spec_set_netns(&spec, netns);
	spec.net = CONTAINER_NET_PATH;
	container_spec_add_bind(&spec, hosts, "/etc/hosts", true);
	if (access("/etc/resolv.conf", R_OK) == 0)
		container_spec_add_bind(&spec, "/etc/resolv.conf", "/etc/resolv.conf", true);
	if ((j = nua_get(&ii, "run", "memory")) && json_is_integer(j))
		spec.memory = (unsigned long long)json_integer_value(j);
	if ((j = nua_get(&ii, "run", "pids")) && json_is_integer(j))
		spec.pids = json_integer_value(j);
	if ((j = nua_get(&ii, "run", "cpus")) && json_is_number(j))
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

	if (ctx->rt.driver->start(&ctx->rt, id, bundle, &spec, log, LOG_SIZE_MAX, err) < 0)
		goto fail;
	port = web_port(&ii, env.v, env.n);
	{
		_cleanup_free_ char *host = xstrdup(in->domain ? in->domain : name);

		if (wait_ready(ctx, name, id, &ii, res.ip, port, host, err) < 0)
			goto fail;
	}
	if (in->domain && port) {
		struct proxy_route r = { name, in->domain, in->path, NULL };

		upstream = xasprintf("%s:%d", res.ip, port);
		r.upstream = upstream;
		if (proxy_set_route(&ctx->proxy, &r, err) < 0)
			goto fail;
	}
	ret = 0;
	goto out;
fail:
	teardown(ctx, name, NULL);
	update_hosts_files(ctx);
out:
	strv_free(lowers);
	env_list_release(&env);
	image_info_release(&ii);
	container_spec_release(&spec);
	return ret;
}

/* Route the instance's domain to "stopped" (503) and stop everything. */
static int stop_container(struct nua_ctx *ctx, const struct instance_rec *in,
			  struct nua_error **err)
{
	if (in->domain) {
		struct proxy_route r = { in->name, in->domain, in->path, NULL };

		if (proxy_set_route(&ctx->proxy, &r, err) < 0)
			return -1;
	}
	if (teardown(ctx, in->name, err) < 0)
		return -1;
	update_hosts_files(ctx);
	return 0;
}

static void event(struct nua_ctx *ctx, const char *name, const char *kind, const char *fmt, ...)
	PRINTF(4, 5);
static void event(struct nua_ctx *ctx, const char *name, const char *kind, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	state_event_add(ctx->st, name, kind, sb.buf, NULL, NULL, NULL);
	strbuf_release(&sb);
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

int instance_deploy(struct nua_ctx *ctx, const struct deploy_request *req, char **name_out,
		    struct nua_error **err)
{
	_cleanup_free_ char *ref = NULL, *host = NULL, *path = NULL;
	_cleanup_free_ char *dir = NULL;
	struct instance_rec in = { 0 }, existing = { 0 };
	struct image_info ii = { 0 };
	struct env_list env = { 0 };
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
	if (req->domain && split_domain(req->domain, &host, &path, err) < 0)
		return -1;
	if (req->name && state_instance_get(ctx->st, req->name, &existing, NULL) == 0) {
		instance_rec_release(&existing);
		return nua_error_set(err, NUA_EINPUT,
				     "an instance named '%s' exists already; choose another --name, "
				     "or remove it first with 'nua rm %s'",
				     req->name, req->name);
	}

	if (is_dir(req->source) || ends_with(req->source, ".toml")) {
		struct build_options bo = { req->no_cache, ctx->progress, ctx->tty };

		if (build_package(ctx->st, &ctx->rt, req->source, &bo, &ref, err) < 0)
			return -1;
	} else {
		struct image_rec img = { 0 };

		if (state_image_get(ctx->st, req->source, &img, NULL) < 0)
			return nua_error_set(err, NUA_EINPUT,
					     "'%s' is neither a package directory nor an image "
					     "('nua images' lists them)",
					     req->source);
		ref = xstrdup(img.ref);
		image_rec_release(&img);
	}
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
				     "another --name",
				     name);
	}
	if (!host) {
		host = xasprintf("%s.localhost", name);
		path = xstrdup("/");
	}

	if (image_info_load(ctx->st, ref, &ii, err) < 0)
		goto out;
	if (json_array_size(json_object_get(ii.nua, "resource")) > 0) {
		nua_error_set(err, NUA_EINPUT,
			      "'%s' needs resources ([[resource]]), which this version of nua does "
			      "not provision yet",
			      ref);
		goto out;
	}
	{
		const char *pname;
		json_t *p;

		json_object_foreach(json_object_get(ii.nua, "port"), pname, p)
			if (!json_is_null(json_object_get(p, "host"))) {
				nua_error_set(err, NUA_EINPUT,
					      "'%s' asks for host port [port.%s] host, and this "
					      "version of nua publishes web ports through nginx only",
					      ref, pname);
				goto out;
			}
	}
	if (initial_env(&ii, name, host, req->env, &env, err) < 0)
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
	say(ctx, "starting %s (%s) at http://%s%s", name, ref, host,
	    streq(path, "/") ? "/" : path);
	{
		struct instance_rec stored = { 0 };
		int r;

		if (state_instance_get(ctx->st, name, &stored, err) < 0)
			goto undo;
		r = start_container(ctx, &stored, err);
		instance_rec_release(&stored);
		if (r < 0)
			goto undo;
	}
	state_instance_set_actual(ctx->st, name, "running", NULL);
	event(ctx, name, "deploy", "deployed %s at %s%s", ref, host, path);
	if (name_out)
		*name_out = xstrdup(name);
	ret = 0;
	goto out;
undo:
	nua_error_prefix(err, "cannot deploy '%s'", name);
	if (added) {
		proxy_remove_route(&ctx->proxy, name, NULL);
		state_instance_remove(ctx->st, name, NULL);
	}
	/* Nothing of the new instance stays, but data a removed instance of
	 * the same name left behind (kept volumes) does. */
	if (!had_dir) {
		remove_tree(dir);
	} else {
		const char *subs[] = { "upper", "work", "rootfs", "bundle", "hosts", "ip", NULL };

		for (size_t i = 0; subs[i]; i++) {
			_cleanup_free_ char *p = inst_path(name, subs[i]);

			remove_tree(p);
		}
	}
out:
	free(vols);
	env_list_release(&env);
	image_info_release(&ii);
	return ret;
}

int instance_get(struct nua_ctx *ctx, const char *name, struct instance_rec *in,
		 struct nua_error **err)
{
	if (check_instance_name(name, err) < 0)
		return -1;
	if (state_instance_get(ctx->st, name, in, NULL) < 0)
		return nua_error_set(err, NUA_EINPUT, "no instance named '%s' ('nua ls' lists them)",
				     name);
	return 0;
}

static bool container_running(struct nua_ctx *ctx, const char *name)
{
	_cleanup_free_ char *id = instance_container_id(name);
	struct container_state cs;

	return ctx->rt.driver->state(&ctx->rt, id, &cs, NULL) == 0 &&
	       cs.status == CONTAINER_RUNNING;
}

/* Start the instance, or restart it when restart is set: what a previous
 * container left (one that exited on its own, or the running one when
 * restarting) is taken down first. */
static int bring_up(struct nua_ctx *ctx, const char *name, bool restart, struct nua_error **err)
{
	const char *verb = restart ? "restart" : "start";
	struct instance_rec in = { 0 };
	int ret = -1;

	if (instance_get(ctx, name, &in, err) < 0)
		return -1;
	if (state_instance_set_desired(ctx->st, name, "running", err) < 0)
		goto out;
	if (!restart && container_running(ctx, name)) {
		ret = 0;
		goto out;
	}
	if (teardown(ctx, name, restart ? err : NULL) < 0 ||
	    start_container(ctx, &in, err) < 0) {
		state_instance_set_actual(ctx->st, name, "failed", NULL);
		event(ctx, name, "start-failed", "could not %s", verb);
		nua_error_prefix(err, "cannot %s '%s'", verb, name);
		goto out;
	}
	state_instance_set_actual(ctx->st, name, "running", NULL);
	event(ctx, name, verb, restart ? "restarted" : "started");
	ret = 0;
out:
	instance_rec_release(&in);
	return ret;
}

int instance_start(struct nua_ctx *ctx, const char *name, struct nua_error **err)
{
	return bring_up(ctx, name, false, err);
}

int instance_stop(struct nua_ctx *ctx, const char *name, struct nua_error **err)
{
	struct instance_rec in = { 0 };
	int ret = -1;

	if (instance_get(ctx, name, &in, err) < 0)
		return -1;
	if (state_instance_set_desired(ctx->st, name, "stopped", err) < 0)
		goto out;
	if (stop_container(ctx, &in, err) < 0) {
		nua_error_prefix(err, "cannot stop '%s'", name);
		goto out;
	}
	state_instance_set_actual(ctx->st, name, "stopped", NULL);
	event(ctx, name, "stop", "stopped");
	ret = 0;
out:
	instance_rec_release(&in);
	return ret;
}

int instance_restart(struct nua_ctx *ctx, const char *name, struct nua_error **err)
{
	return bring_up(ctx, name, true, err);
}

int instance_remove(struct nua_ctx *ctx, const char *name, bool purge, struct nua_error **err)
{
	struct instance_rec in = { 0 };
	_cleanup_free_ char *dir = NULL;
	int ret = -1;

	if (instance_get(ctx, name, &in, err) < 0)
		return -1;
	if (teardown(ctx, name, err) < 0 || proxy_remove_route(&ctx->proxy, name, err) < 0) {
		nua_error_prefix(err, "cannot remove '%s'", name);
		goto out;
	}
	if (state_instance_remove(ctx->st, name, err) < 0)
		goto out;
	update_hosts_files(ctx);
	dir = inst_path(name, NULL);
	if (purge) {
		remove_tree(dir);
	} else {
		const char *subs[] = { "upper", "work", "rootfs", "bundle", "hosts", "ip", "logs",
				       NULL };

		for (size_t i = 0; subs[i]; i++) {
			_cleanup_free_ char *p = inst_path(name, subs[i]);

			remove_tree(p);
		}
		rmdir(dir);
	}
	event(ctx, name, "remove", purge ? "removed with its data" : "removed");
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
		const char *eq = strchr(set[i], '=');
		_cleanup_free_ char *k = NULL;

		if (!eq || !valid_env_name(set[i], (size_t)(eq - set[i]))) {
			nua_error_set(err, NUA_EINPUT,
				      "'%s' is not KEY=VALUE with KEY made of letters, digits and '_'",
				      set[i]);
			goto out;
		}
		k = xstrndup(set[i], (size_t)(eq - set[i]));
		env_list_set(&env, k, eq + 1, false);
	}
	for (size_t i = 0; unset && unset[i]; i++)
		if (!env_list_unset(&env, unset[i])) {
			nua_error_set(err, NUA_EINPUT, "'%s' has no variable '%s'", name, unset[i]);
			goto out;
		}
	if (state_instance_update(ctx->st, name, NULL, env.v, env.n, err) < 0)
		goto out;
	event(ctx, name, "env", "environment changed");
	if (streq(in.desired, "running")) {
		say(ctx, "restarting %s with its new environment", name);
		if (instance_restart(ctx, name, err) < 0)
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

	if (read_file(path, &stat, &len) < 0 || read_file("/proc/stat", &sys, &len) < 0)
		return 0;
	/* The command name (field 2) may hold spaces: count after its ')'. */
	if (!(p = strrchr(stat, ')')))
		return 0;
	for (field = 2; *p && field < 22; p++)
		if (*p == ' ')
			field++;
	ticks = strtoull(p, NULL, 10);
	if ((p = strstr(sys, "\nbtime ")))
		btime = atoll(p + 7);
	if (!btime || !ticks)
		return 0;
	return btime + (long long)(ticks / (unsigned long long)sysconf(_SC_CLK_TCK));
}

int instance_status(struct nua_ctx *ctx, const char *name, struct instance_status *out,
		    struct nua_error **err)
{
	_cleanup_free_ char *id = instance_container_id(name);
	_cleanup_free_ char *ipf = inst_path(name, "ip");
	_cleanup_free_ char *ip = NULL;
	size_t len;

	memset(out, 0, sizeof(*out));
	if (ctx->rt.driver->state(&ctx->rt, id, &out->ctr, err) < 0)
		return -1;
	if (out->ctr.status == CONTAINER_RUNNING && read_file(ipf, &ip, &len) == 0)
		snprintf(out->ip, sizeof(out->ip), "%s", ip);
	if (out->ctr.status == CONTAINER_RUNNING && out->ctr.pid > 0)
		out->started_at = process_start_time(out->ctr.pid);
	return 0;
}
