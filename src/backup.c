/* Backups and restores of instances, with restic. */
#define _GNU_SOURCE
#include "backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "archive_tree.h"
#include "image.h"
#include "instance.h"
#include "mount.h"
#include "paths.h"
#include "resource.h"
#include "runtime_oci.h"
#include "secret.h"
#include "state.h"
#include "strbuf.h"
#include "tls.h"
#include "util.h"
#include "banned.h"

#define TARGET_PREFIX  "backup.target."
#define DEFAULT_TARGET "local"

/* $NUA_ROOT/instances/NAME[/rel] (caller frees). */
static char *inst_file(const char *name, const char *rel)
{
	_cleanup_free_ char *r =
		rel ? xasprintf("instances/%s/%s", name, rel) : xasprintf("instances/%s", name);

	return nua_root_path(r);
}

/* ---- targets ---- */

struct target {
	char *name, *url;
	char *password;	    /* plain; wiped when released */
	json_t *env;	    /* the backend's credentials {KEY: VALUE}, plain, or NULL */
	char *sftp_command; /* restic's -o sftp.command, or NULL */
	int64_t created_at;
};

static void target_release(struct target *t)
{
	free(t->name);
	free(t->url);
	if (t->password) {
		explicit_bzero(t->password, strlen(t->password));
		free(t->password);
	}
	json_decref(t->env);
	free(t->sftp_command);
	memset(t, 0, sizeof(*t));
}

static void targets_free(struct target *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		target_release(&v[i]);
	free(v);
}

static int target_load(struct nua_ctx *ctx, const char *name, struct target *t,
		       struct nua_error **err)
{
	_cleanup_free_ char *key = xasprintf(TARGET_PREFIX "%s", name), *text = NULL;
	_cleanup_free_ char *env = NULL;
	json_t *o;
	const char *url, *pw, *sealed_env, *cmd;
	int ret = -1;

	memset(t, 0, sizeof(*t));
	if (state_setting_get(ctx->st, key, &text, err) < 0)
		return -1;
	if (!text)
		return nua_error_set(err, NUA_EINPUT, "no backup target named '%s'", name);
	o = json_loads(text, 0, NULL);
	url = json_string_value(json_object_get(o, "url"));
	pw = json_string_value(json_object_get(o, "password"));
	sealed_env = json_string_value(json_object_get(o, "env"));
	cmd = json_string_value(json_object_get(json_object_get(o, "options"), "sftp.command"));
	if (!url || !pw) {
		nua_error_set(err, NUA_EFAIL, "the setting '%s' is damaged", key);
		goto out;
	}
	if (secret_open(pw, &t->password, err) < 0 ||
	    (sealed_env && secret_open(sealed_env, &env, err) < 0)) {
		nua_error_prefix(err, "cannot open the secrets of backup target '%s'", name);
		goto out;
	}
	if (env) {
		t->env = json_loads(env, 0, NULL);
		explicit_bzero(env, strlen(env));
	}
	t->name = xstrdup(name);
	t->url = xstrdup(url);
	t->sftp_command = cmd ? xstrdup(cmd) : NULL;
	t->created_at = json_integer_value(json_object_get(o, "created_at"));
	ret = 0;
out:
	json_decref(o);
	return ret;
}

/* Record t (its password and credentials sealed). */
static int target_save(struct nua_ctx *ctx, const struct target *t, struct nua_error **err)
{
	_cleanup_free_ char *key = xasprintf(TARGET_PREFIX "%s", t->name), *sealed = NULL;
	_cleanup_free_ char *sealed_env = NULL;
	char *text;
	json_t *o;
	int r;

	if (secret_seal(t->password, &sealed, err) < 0)
		return -1;
	if (t->env && json_object_size(t->env)) {
		char *plain = json_dumps(t->env, JSON_COMPACT);

		r = secret_seal(plain, &sealed_env, err);
		explicit_bzero(plain, strlen(plain));
		free(plain);
		if (r < 0)
			return -1;
	}
	o = json_pack("{s:s, s:s, s:s?, s:{s:s?}, s:I}", "url", t->url, "password", sealed, "env",
		      sealed_env, "options", "sftp.command", t->sftp_command, "created_at",
		      (json_int_t)(t->created_at ? t->created_at : time(NULL)));
	text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	r = state_setting_set(ctx->st, key, text, err);
	free(text);
	return r;
}

/* Every target, by name. */
static int targets_load(struct nua_ctx *ctx, struct target **out, size_t *n, struct nua_error **err)
{
	char **keys = NULL;
	struct target *v = NULL;
	size_t len = 0, alloc = 0;

	*out = NULL;
	*n = 0;
	if (state_setting_keys(ctx->st, TARGET_PREFIX, &keys, err) < 0)
		return -1;
	for (size_t i = 0; keys[i]; i++) {
		ALLOC_GROW(v, len + 1, alloc);
		if (target_load(ctx, keys[i] + strlen(TARGET_PREFIX), &v[len], err) < 0) {
			strv_free(keys);
			targets_free(v, len);
			return -1;
		}
		len++;
	}
	strv_free(keys);
	*out = v;
	*n = len;
	return 0;
}

/* ---- running restic ---- */

/* Called with each line restic writes on its standard output. */
typedef void (*line_fn)(const char *line, void *arg);

struct restic_io {
	const char *dir; /* working directory, NULL: unchanged */
	line_fn fn;	 /* each line of the output, or NULL */
	void *arg;
	struct strbuf *out; /* the whole output, or NULL */
	int timeout_s;	    /* 0: none */
};

/* How long restic may take to answer a question about a repository (it
 * retries a backend that does not answer for much longer). */
#define RESTIC_QUICK_S 60

/* restic's exclusive locks (forget, prune) make every other command on
 * the repository fail at once: commands that take one wait here for the
 * others to end, and the others for them. */
static pthread_rwlock_t repo_lock = PTHREAD_RWLOCK_INITIALIZER;

static bool exclusive_command(const char *cmd)
{
	return streq(cmd, "forget") || streq(cmd, "prune") || streq(cmd, "unlock");
}

static int restic_exec_locked(const struct target *t, const char *const *args,
			      const struct restic_io *io, struct nua_error **err);

/* Run restic on target t with args (NULL-terminated). Fails with restic's
 * own message when it exits with an error, or when it runs past the
 * timeout (it is then killed). */
static int restic_exec(const struct target *t, const char *const *args, const struct restic_io *io,
		       struct nua_error **err)
{
	bool excl = exclusive_command(args[0]);
	int r;

	if (excl)
		pthread_rwlock_wrlock(&repo_lock);
	else
		pthread_rwlock_rdlock(&repo_lock);
	r = restic_exec_locked(t, args, io, err);
	pthread_rwlock_unlock(&repo_lock);
	return r;
}

static int restic_exec_locked(const struct target *t, const char *const *args,
			      const struct restic_io *io, struct nua_error **err)
{
	_cleanup_free_ char *prog = nua_find_program("restic");
	_cleanup_free_ char *cache = xasprintf("%s/restic", nua_cache_dir());
	_cleanup_free_ char *home = nua_root_path("backups");
	_cleanup_free_ char *home_env = xasprintf("HOME=%s", home);
	_cleanup_free_ char *sftp_opt = NULL;
	_cleanup_close_ int pw_fd = -1, err_fd = -1;
	const char **envp = NULL, **argv = NULL;
	size_t n = 0, ne = 0, nargs = 0;
	struct nua_cmd cmd = NUA_CMD_INIT;
	struct strbuf line = STRBUF_INIT, errs = STRBUF_INIT;
	int pipefd[2], status = 0, ret = -1, pfd;
	long long deadline = io->timeout_s ? monotonic_ms() + io->timeout_s * 1000LL : 0;
	bool timed_out = false;
	const char *key;
	json_t *v;
	pid_t pid;

	if (!prog)
		return nua_error_set(err, NUA_EFAIL,
				     "restic is not installed: 'scripts/setup' installs it");
	mkdir_p(cache, 0700);
	mkdir_p(home, 0700);
	while (args[nargs])
		nargs++;
	argv = xcalloc(nargs + 12, sizeof(*argv));
	argv[n++] = prog;
	argv[n++] = "--repo";
	argv[n++] = t->url;
	argv[n++] = "--password-file";
	argv[n++] = "/dev/fd/3";
	argv[n++] = "--cache-dir";
	argv[n++] = cache;
	if (t->sftp_command) {
		sftp_opt = xasprintf("sftp.command=%s", t->sftp_command);
		argv[n++] = "--option";
		argv[n++] = sftp_opt;
	}
	for (size_t i = 0; i < nargs; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	envp = xcalloc(json_object_size(t->env) + 6, sizeof(*envp));
	envp[ne++] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	envp[ne++] = "LC_ALL=C";
	envp[ne++] = "RESTIC_PROGRESS_FPS=1";
	envp[ne++] = home_env;
	/* The backend's credentials: restic reads them from its environment
	 * only (which no other user can read), never from its arguments. */
	json_object_foreach(t->env, key, v)
		envp[ne++] =
			xasprintf("%s=%s", key, json_string_value(v) ? json_string_value(v) : "");
	envp[ne] = NULL;
	/* The password on a memory file: /dev/fd/3 opens it from the start,
	 * and it is never on disk, in an argument or in the environment. */
	pw_fd = memfd_create("nua-restic", MFD_CLOEXEC);
	err_fd = memfd_create("nua-restic-err", MFD_CLOEXEC);
	if (pw_fd < 0 || err_fd < 0 ||
	    write(pw_fd, t->password, strlen(t->password)) != (ssize_t)strlen(t->password) ||
	    write(pw_fd, "\n", 1) != 1) {
		nua_error_set(err, NUA_EFAIL, "cannot pass restic its password: %s",
			      strerror(errno));
		goto out_free;
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		nua_error_set(err, NUA_EFAIL, "cannot make a pipe: %s", strerror(errno));
		goto out_free;
	}
	cmd.argv = argv;
	cmd.envp = envp;
	cmd.out = pipefd[1];
	cmd.err = err_fd;
	cmd.extra_fd = pw_fd;
	cmd.dir = io->dir;
	if (nua_cmd_spawn(&cmd, &pid, err) < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		goto out_free;
	}
	close(pipefd[1]);
	pfd = pipefd[0];
	for (;;) {
		char chunk[8192];
		ssize_t got;
		char *nl;

		if (deadline) {
			struct pollfd p = { .fd = pfd, .events = POLLIN };
			long long left = deadline - monotonic_ms();
			int r = left > 0 ? poll(&p, 1, (int)left) : 0;

			if (r < 0 && errno == EINTR)
				continue;
			if (r == 0) {
				timed_out = true;
				kill(pid, SIGTERM);
				break;
			}
		}
		got = read(pfd, chunk, sizeof(chunk));
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		strbuf_add(&line, chunk, (size_t)got);
		while ((nl = memchr(line.buf, '\n', line.len))) {
			*nl = '\0';
			if (io->fn)
				io->fn(line.buf, io->arg);
			if (io->out) {
				strbuf_addstr(io->out, line.buf);
				strbuf_addch(io->out, '\n');
			}
			strbuf_remove(&line, 0, (size_t)(nl - line.buf) + 1);
		}
	}
	close(pfd);
	if (line.len && !timed_out) {
		if (io->fn)
			io->fn(line.buf, io->arg);
		if (io->out)
			strbuf_addstr(io->out, line.buf);
	}
	if (timed_out && nua_cmd_wait(pid, 5000, &status, NULL) == 1) {
		kill(pid, SIGKILL);
		nua_cmd_wait(pid, -1, &status, NULL);
	} else if (!timed_out && nua_cmd_wait(pid, -1, &status, err) < 0) {
		goto out;
	}
	if (timed_out || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		const char *last;
		_cleanup_free_ char *reason = NULL;

		nua_fd_read_all(err_fd, &errs);
		strbuf_rtrim(&errs);
		/* restic's "Fatal: " line says what went wrong, or else its
		 * last line; when it only counts errors ("There were 3
		 * errors"), the first of them says which. */
		if ((last = strstr(errs.buf, "Fatal: "))) {
			const char *first = strstr(errs.buf, "error");

			last += strlen("Fatal: ");
			strbuf_setlen(&errs, (size_t)(last - errs.buf) + strcspn(last, "\n"));
			if (first && first < last - strlen("Fatal: ")) {
				const char *bol = first;

				while (bol > errs.buf && bol[-1] != '\n')
					bol--;
				reason = xasprintf("%s (%.*s)", last, (int)strcspn(bol, "\n"), bol);
				last = reason;
			}
		} else {
			last = strrchr(errs.buf, '\n');
			last = last ? last + 1 : errs.buf;
		}
		if (timed_out)
			nua_error_set(err, NUA_EFAIL,
				      "backup target '%s' did not answer within %d s%s%s", t->name,
				      io->timeout_s, *last ? ": " : "", last);
		else
			nua_error_set(err, NUA_EFAIL, "restic %s on backup target '%s': %s",
				      args[0], t->name, *last ? last : nua_wait_status_str(status));
		goto out;
	}
	ret = 0;
out:
	strbuf_release(&line);
	strbuf_release(&errs);
out_free:
	for (size_t i = 4; i < ne; i++)
		free((char *)envp[i]);
	free(envp);
	free(argv);
	return ret;
}

/* restic_exec without a timeout, its output to fn or out. */
static int restic_run(const struct target *t, const char *const *args, const char *dir, line_fn fn,
		      void *arg, struct strbuf *out, struct nua_error **err)
{
	struct restic_io io = { dir, fn, arg, out, 0 };

	return restic_exec(t, args, &io, err);
}

/* A question about the repository: its answer in out, within
 * RESTIC_QUICK_S. */
static int restic_ask(const struct target *t, const char *const *args, struct strbuf *out,
		      struct nua_error **err)
{
	struct restic_io io = { NULL, NULL, NULL, out, RESTIC_QUICK_S };

	return restic_exec(t, args, &io, err);
}

/* Make the repository of t when it has none yet; an existing one must
 * open with t's password. */
static int repo_ensure(const struct target *t, struct nua_error **err)
{
	const char *cat[] = { "cat", "config", "--quiet", NULL };
	const char *init[] = { "init", "--quiet", NULL };
	struct strbuf out = STRBUF_INIT;
	struct nua_error *e = NULL;
	int r;

	if (t->url[0] == '/') {
		_cleanup_free_ char *cfg = xasprintf("%s/config", t->url);

		if (access(cfg, F_OK) == 0)
			return 0;
		mkdir_p(t->url, 0700);
		return restic_ask(t, init, NULL, err);
	}
	r = restic_ask(t, cat, &out, &e);
	strbuf_release(&out);
	if (r == 0)
		return 0;
	/* Only a repository that is not there yet is made; a wrong password
	 * or a backend that does not answer is an error. */
	if (!strstr(e->msg, "does not exist") && !strstr(e->msg, "no such file") &&
	    !strstr(e->msg, "NoSuchBucket") && !strstr(e->msg, "NoSuchKey")) {
		if (err)
			*err = e;
		else
			nua_error_free(e);
		return -1;
	}
	nua_error_free(e);
	return restic_ask(t, init, NULL, err);
}

/* The targets, with the default one made when there is none. */
static int targets_ready(struct nua_ctx *ctx, struct target **out, size_t *n,
			 struct nua_error **err)
{
	if (targets_load(ctx, out, n, err) < 0)
		return -1;
	if (*n == 0) {
		_cleanup_free_ char *url = nua_root_path("backups/" DEFAULT_TARGET);
		struct target t = { .name = xstrdup(DEFAULT_TARGET),
				    .url = xstrdup(url),
				    .password = secret_random_string(40) };
		int r = target_save(ctx, &t, err);

		target_release(&t);
		free(*out);
		if (r < 0 || targets_load(ctx, out, n, err) < 0)
			return -1;
	}
	for (size_t i = 0; i < *n; i++)
		if ((*out)[i].url[0] == '/' && repo_ensure(&(*out)[i], err) < 0) {
			targets_free(*out, *n);
			*out = NULL;
			*n = 0;
			return -1;
		}
	return 0;
}

/* ---- backup ---- */

/* The resources of an instance that a backup dumps. */
struct res {
	const char *name, *type; /* borrowed from the config */
	const char *server;	 /* borrowed from the env; NULL: outside Nua */
};

static size_t resources_of(json_t *cfg, const struct instance_rec *in, struct res *out, size_t max)
{
	size_t n = 0, i;
	json_t *r;

	json_array_foreach(json_object_get(cfg, "resource"), i, r) {
		const char *name = json_string_value(json_object_get(r, "name"));
		const char *type = json_string_value(json_object_get(r, "type"));

		if (!name || !type || n >= max)
			continue;
		out[n].name = name;
		out[n].type = type;
		out[n].server = resource_server_of(in->env, in->n_env, name);
		n++;
	}
	return n;
}

static json_t *env_json(const struct instance_rec *in)
{
	json_t *a = json_array();

	for (size_t i = 0; i < in->n_env; i++)
		json_array_append_new(a,
				      json_pack("{s:s, s:s, s:b}", "key", in->env[i].key, "value",
						in->env[i].value, "secret", in->env[i].secret));
	return a;
}

/* Write backup/image.tar again when the image changed since the last one. */
static int stage_image(struct nua_ctx *ctx, const struct image_rec *img, const char *stage,
		       struct nua_error **err)
{
	_cleanup_free_ char *tar = xasprintf("%s/image.tar", stage);
	_cleanup_free_ char *stamp = xasprintf("%s/image.digest", stage);
	_cleanup_free_ char *had = NULL;
	size_t len;

	if (read_file(stamp, &had, &len) == 0 && access(tar, F_OK) == 0 && img->digest &&
	    streq(had, img->digest))
		return 0;
	nua_say(ctx, "exporting image %s", img->ref);
	unlink(stamp);
	if (image_export(ctx->st, img->ref, tar, err) < 0)
		return -1;
	if (write_file_atomic(stamp, img->digest ? img->digest : "", strlen(img->digest ?: ""),
			      0600) < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot write '%s': %s", stamp,
				     strerror(errno));
	return 0;
}

/* Remove the files of dir but those named in keep (NULL-terminated). */
static void prune_dir(const char *dir, char *const *keep)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		_cleanup_free_ char *p = NULL;
		bool kept = false;

		if (de->d_name[0] == '.')
			continue;
		for (size_t i = 0; keep[i] && !kept; i++)
			kept = streq(de->d_name, keep[i]);
		if (kept)
			continue;
		p = xasprintf("%s/%s", dir, de->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
}

/* The certificate domain is served with, into dir (backup/tls/DOMAIN.pem,
 * 0600), written again only when it changed: its manifest entry, or NULL
 * when there is none. */
static json_t *stage_cert(struct nua_ctx *ctx, const char *domain, const char *dir)
{
	_cleanup_free_ char *live = tls_live_path(domain), *text = NULL, *source = NULL;
	_cleanup_free_ char *file = xasprintf("%s/%s.pem", dir, domain), *rel = NULL;

	if (read_file(live, &text, NULL) < 0) {
		unlink(file);
		return NULL;
	}
	mkdir_p(dir, 0700);
	if (write_file_if_changed(file, text, 0600) < 0)
		return NULL;
	rel = xasprintf("backup/tls/%s.pem", domain);
	source = tls_source(ctx, domain);
	return json_pack("{s:s, s:s, s:s?}", "domain", domain, "path", rel, "source", source);
}

/* The certificates the instance's domains are served with, beside the dumps:
 * a restore on a new server serves them before their issuer is asked
 * again. Other domains' go. Sets the manifest's "tls" (the main domain's)
 * and "tls_aliases" entries. */
static void stage_tls(struct nua_ctx *ctx, const struct instance_rec *in, const char *stage,
		      json_t *manifest)
{
	_cleanup_free_ char *dir = xasprintf("%s/tls", stage);
	char **keep = xcalloc(in->n_aliases + 2, sizeof(*keep));
	json_t *more = json_array(), *t;

	for (size_t i = 0; in->domain && i <= in->n_aliases; i++)
		keep[i] = xasprintf("%s.pem", i ? in->aliases[i - 1].domain : in->domain);
	prune_dir(dir, keep);
	for (size_t i = 0; in->domain && i <= in->n_aliases; i++) {
		free(keep[i]);
		if (!(t = stage_cert(ctx, i ? in->aliases[i - 1].domain : in->domain, dir)))
			continue;
		if (i == 0)
			json_object_set_new(manifest, "tls", t);
		else
			json_array_append_new(more, t);
	}
	free(keep);
	if (json_array_size(more))
		json_object_set(manifest, "tls_aliases", more);
	json_decref(more);
}

/* Serve the certificate a snapshot holds for domain (entry t of its
 * manifest; data: where the snapshot's tree is) when this server has none
 * as good. */
static void adopt_cert(struct nua_ctx *ctx, const char *domain, json_t *t, const char *data)
{
	const char *rel = json_string_value(json_object_get(t, "path"));
	_cleanup_free_ char *path = NULL;
	struct nua_error *e = NULL;

	if (!rel || strncmp(rel, "backup/tls/", 11) != 0 || strstr(rel, ".."))
		return;
	path = xasprintf("%s/%s", data, rel);
	if (tls_adopt(ctx, domain, path, json_string_value(json_object_get(t, "source")), &e) < 0) {
		nua_say(ctx, "the snapshot's certificate for %s is not used: %s", domain, e->msg);
		nua_error_free(e);
	}
}

/* The certificates a snapshot holds for the instance's domains, as it is
 * now (a copy under another domain takes none of them). */
static void adopt_tls(struct nua_ctx *ctx, const char *name, json_t *manifest, const char *data)
{
	struct instance_rec in = { 0 };
	json_t *t;
	size_t i;

	if (!ctx->proxy.https_port || instance_get(ctx, name, &in, NULL) < 0)
		return;
	if (in.domain && json_object_get(manifest, "tls"))
		adopt_cert(ctx, in.domain, json_object_get(manifest, "tls"), data);
	json_array_foreach(json_object_get(manifest, "tls_aliases"), i, t) {
		const char *d = json_string_value(json_object_get(t, "domain"));

		for (size_t k = 0; d && k < in.n_aliases; k++)
			if (streq(in.aliases[k].domain, d)) {
				adopt_cert(ctx, d, t, data);
				break;
			}
	}
	instance_rec_release(&in);
}

/* The instance's aliases as the manifest records them. */
static json_t *aliases_json(const struct instance_rec *in)
{
	json_t *a = json_array();

	for (size_t i = 0; i < in->n_aliases; i++)
		json_array_append_new(a, json_pack("{s:s, s:s, s:b}", "domain", in->aliases[i].domain,
						   "path", in->aliases[i].path, "redirect",
						   in->aliases[i].redirect));
	return a;
}

struct progress {
	struct nua_ctx *ctx;
	json_t *summary;
	long long last_ms;
};

static void backup_line(const char *line, void *arg)
{
	struct progress *p = arg;
	json_t *j = json_loads(line, 0, NULL);
	const char *type = json_string_value(json_object_get(j, "message_type"));

	if (type && streq(type, "summary")) {
		json_decref(p->summary);
		p->summary = j;
		return;
	}
	if (type && streq(type, "status") && p->ctx->progress) {
		long long now = monotonic_ms();
		double pct = json_number_value(json_object_get(j, "percent_done")) * 100;
		json_int_t done = json_integer_value(json_object_get(j, "bytes_done"));
		json_int_t total = json_integer_value(json_object_get(j, "total_bytes"));
		json_int_t files = json_integer_value(json_object_get(j, "files_done"));
		double secs = json_number_value(json_object_get(j, "seconds_elapsed"));

		if (now - p->last_ms >= 1000) {
			p->last_ms = now;
			nua_say(p->ctx, "backup: %.0f%%, %lld of %lld MB, %lld files, %.1f MB/s", pct,
			    (long long)done / 1000000, (long long)total / 1000000, (long long)files,
			    secs > 0 ? (double)done / 1e6 / secs : 0.0);
		}
	}
	json_decref(j);
}

static const char *str_or(const char *s, const char *dflt)
{
	return s ? s : dflt;
}

/* Thaw container id and remove the mark that says it is frozen. */
static void thaw(struct nua_ctx *ctx, const char *id, const char *mark)
{
	struct nua_error *e = NULL;

	if (ctx->rt.driver->freeze(&ctx->rt, id, false, &e) < 0) {
		/* Gone (stopped, removed) is thawed enough. */
		struct container_state st;

		if (ctx->rt.driver->state(&ctx->rt, id, &st, NULL) == 0 &&
		    st.status == CONTAINER_PAUSED) {
			nua_say(ctx, "%s", e->msg);
			nua_error_free(e);
			return; /* the mark stays: the next start tries again */
		}
		nua_error_free(e);
	}
	unlink(mark);
}

void backup_thaw_all(struct nua_ctx *ctx)
{
	_cleanup_free_ char *dir = nua_root_path("instances");
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		_cleanup_free_ char *mark = NULL, *id = NULL;
		size_t len;

		if (de->d_name[0] == '.' || !valid_name(de->d_name, 64))
			continue;
		mark = inst_file(de->d_name, "backup/frozen");
		if (read_file(mark, &id, &len) < 0)
			continue;
		if (valid_name(id, 128))
			thaw(ctx, id, mark);
		else
			unlink(mark);
	}
	if (d)
		closedir(d);
}

/* The full id of snapshot short in the local repository of t, or NULL. */
static char *local_full_id(const struct target *t, const char *short_id)
{
	_cleanup_free_ char *dir = NULL;
	DIR *d;
	struct dirent *de;
	char *found = NULL;
	int hits = 0;

	if (t->url[0] != '/')
		return NULL;
	dir = xasprintf("%s/snapshots", t->url);
	if (!(d = opendir(dir)))
		return NULL;
	while ((de = readdir(d)))
		if (strlen(de->d_name) == 64 && starts_with(de->d_name, short_id) && !hits++)
			found = xstrdup(de->d_name);
	closedir(d);
	if (hits != 1) {
		free(found);
		return NULL;
	}
	return found;
}

/* What a backup or an export reads of an instance, made ready under its
 * backup/ directory: a dump of each resource, the image's archive, the
 * manifest. */
struct staged {
	struct instance_rec in;
	struct image_rec img;
	json_t *manifest;
	char **paths; /* what to read, relative to the instance's directory or
			 absolute; NULL-terminated */
};

static void staged_release(struct staged *s)
{
	if (s->in.name)
		instance_rec_release(&s->in);
	image_rec_release(&s->img);
	json_decref(s->manifest);
	strv_free(s->paths);
	memset(s, 0, sizeof(*s));
}

static int stage_instance(struct nua_ctx *ctx, const char *name, const char *kind,
			  struct staged *st, struct nua_error **err)
{
	struct instance_rec in = { 0 };
	struct image_rec img = { 0 };
	size_t nres = 0;
	struct res res[16];
	json_t *cfg = NULL, *manifest = NULL, *vols, *dumps;
	_cleanup_free_ char *dir = inst_file(name, NULL), *stage = inst_file(name, "backup");
	_cleanup_free_ char *dumpdir = inst_file(name, "backup/dumps");
	char **paths = NULL;
	size_t np = 0, ap = 0;
	char keyid[17];
	int ret = -1, r;

	memset(st, 0, sizeof(*st));
	if (instance_get(ctx, name, &in, err) < 0)
		return -1;
	if (state_image_get(ctx->st, in.image_ref, &img, err) < 0)
		goto out;
	cfg = json_loads(img.config ? img.config : "{}", 0, NULL);
	nres = resources_of(cfg, &in, res, ARRAY_SIZE(res));
	if ((r = mkdir_p(dumpdir, 0700)) < 0) {
		nua_error_set(err, NUA_EFAIL, "cannot create '%s': %s", dumpdir, strerror(-r));
		goto out;
	}
	chmod(stage, 0700);
	/* Dumps of resources the package no longer has (or outside Nua now)
	 * would be restored as if they were current: they go. The others stay
	 * until they are made again: one that did not change keeps its file. */
	{
		char *keep[ARRAY_SIZE(res) + 1] = { NULL };
		size_t nk = 0;

		for (size_t i = 0; i < nres; i++)
			if (res[i].server)
				keep[nk++] = xasprintf("%s.dump", res[i].name);
		prune_dir(dumpdir, keep);
		for (size_t i = 0; i < nk; i++)
			free(keep[i]);
	}
	dumps = json_array();
	for (size_t i = 0; i < nres; i++) {
		_cleanup_free_ char *file = NULL, *rel = NULL;

		if (!res[i].server) {
			json_array_append_new(dumps,
					      json_pack("{s:s, s:s, s:b}", "name", res[i].name,
							"type", res[i].type, "external", 1));
			nua_say(ctx, "resource %s is on a server outside Nua: not in the backup",
			    res[i].name);
			continue;
		}
		file = xasprintf("%s/%s.dump", dumpdir, res[i].name);
		rel = xasprintf("backup/dumps/%s.dump", res[i].name);
		nua_say(ctx, "dumping resource %s (%s)", res[i].name, res[i].type);
		if (resource_dump(ctx, name, res[i].name, res[i].type, res[i].server, file, err) <
		    0) {
			json_decref(dumps);
			goto out;
		}
		json_array_append_new(dumps, json_pack("{s:s, s:s, s:s}", "name", res[i].name,
						       "type", res[i].type, "path", rel));
	}
	if (stage_image(ctx, &img, stage, err) < 0) {
		json_decref(dumps);
		goto out;
	}

	ALLOC_GROW(paths, 2, ap);
	paths[np++] = xstrdup("backup");
	paths[np] = NULL;
	vols = json_array();
	for (size_t i = 0; i < in.n_volumes; i++) {
		const struct volume_rec *v = &in.volumes[i];
		char *path;

		if (streq(v->type, "tmpfs"))
			continue;
		if (streq(v->type, "managed")) {
			_cleanup_free_ char *abs = NULL;

			path = xasprintf("volumes/%s", v->name);
			abs = xasprintf("%s/%s", dir, path);
			if (!is_dir(abs)) {
				free(path);
				continue;
			}
		} else {
			if (!v->source || !is_dir(v->source))
				continue;
			path = xstrdup(v->source);
		}
		json_array_append_new(vols, json_pack("{s:s, s:s, s:s, s:s}", "name",
						      str_or(v->name, ""), "type", v->type,
						      "target", v->target, "path", path));
		ALLOC_GROW(paths, np + 2, ap);
		paths[np++] = path;
		paths[np] = NULL;
	}
	if (secret_key_id(keyid, err) < 0) {
		json_decref(vols);
		json_decref(dumps);
		goto out;
	}
	manifest = json_pack(
		"{s:i, s:s, s:I, s:s, s:s, s:{s:s, s:s?, s:s, s:s, s:I, s:o}, s:{s:s, s:s?, s:s}, "
		"s:o, s:o, s:O}",
		"format", BACKUP_FORMAT, "nua_version", NUA_VERSION, "created_at",
		(json_int_t)time(NULL), "kind", kind, "secrets_key", keyid, "instance", "name",
		name, "domain", in.domain, "path", str_or(in.path, "/"), "desired", in.desired,
		"generation", (json_int_t)in.generation, "env", env_json(&in), "image", "ref",
		img.ref, "digest", img.digest, "archive", "backup/image.tar", "volumes", vols,
		"resources", dumps, "config", cfg ? cfg : json_null());
	json_object_set_new(json_object_get(manifest, "instance"), "aliases", aliases_json(&in));
	stage_tls(ctx, &in, stage, manifest);
	{
		_cleanup_free_ char *mpath = xasprintf("%s/nua-backup.json", stage);
		_cleanup_free_ char *text =
			json_dumps(manifest, JSON_INDENT(1) | JSON_PRESERVE_ORDER);

		if (write_file_atomic(mpath, text, strlen(text), 0600) < 0) {
			nua_error_set(err, NUA_EFAIL, "cannot write '%s': %s", mpath,
				      strerror(errno));
			goto out;
		}
	}

	st->in = in;
	st->img = img;
	st->manifest = manifest;
	st->paths = paths;
	memset(&in, 0, sizeof(in));
	memset(&img, 0, sizeof(img));
	manifest = NULL;
	paths = NULL;
	ret = 0;
out:
	strv_free(paths);
	json_decref(manifest);
	if (!manifest && ret < 0 && cfg && !st->manifest)
		json_decref(cfg);
	image_rec_release(&img);
	if (in.name)
		instance_rec_release(&in);
	return ret;
}

/* Dumps are made through their servers while the app runs; a package that
 * asks for it is frozen while its files are read, so that files and dumps
 * agree: *frozen (the caller thaws it) is its container then, else NULL. A
 * mark says so until it is thawed: a daemon killed in between thaws it when
 * it starts again. */
static int freeze_if_asked(struct nua_ctx *ctx, const struct staged *st, const char *mark,
			   char **frozen, struct nua_error **err)
{
	json_t *cfg = json_object_get(st->manifest, "config");
	char *id;

	*frozen = NULL;
	if (!json_is_true(json_object_get(json_object_get(cfg, "backup"), "pause")) ||
	    !streq(st->in.desired, "running"))
		return 0;
	id = instance_container_id(st->in.name, st->in.generation);
	if (write_file_atomic(mark, id, strlen(id), 0600) < 0 ||
	    ctx->rt.driver->freeze(&ctx->rt, id, true, err) < 0) {
		unlink(mark);
		free(id);
		return -1;
	}
	nua_say(ctx, "%s is paused while its volumes are read", st->in.name);
	*frozen = id;
	return 0;
}

static int backup_one(struct nua_ctx *ctx, const char *name, const char *kind, char **snapshot,
		      struct nua_error **err)
{
	struct staged st = { 0 };
	struct target *targets = NULL;
	size_t nt = 0, np = 0;
	_cleanup_free_ char *dir = inst_file(name, NULL);
	char **paths = NULL, **tags = NULL;
	size_t ntags = 0, atags = 0;
	long long t0 = monotonic_ms();
	struct strbuf failed = STRBUF_INIT;
	_cleanup_free_ char *frozen_mark = inst_file(name, "backup/frozen");
	char *frozen = NULL; /* the container frozen while restic reads */
	size_t taken = 0;    /* snapshots made */
	json_t *vols, *dumps;
	struct image_rec *imgp;
	int ret = -1, r;

	if (targets_ready(ctx, &targets, &nt, err) < 0)
		return -1;
	if (stage_instance(ctx, name, kind, &st, err) < 0)
		goto out;
	paths = st.paths;
	while (paths[np])
		np++;
	vols = json_object_get(st.manifest, "volumes");
	dumps = json_object_get(st.manifest, "resources");
	imgp = &st.img;
	ALLOC_GROW(tags, 8, atags);
	tags[ntags++] = xstrdup("nua");
	tags[ntags++] = xasprintf("instance=%s", name);
	tags[ntags++] = xasprintf("image=%s", imgp->ref);
	tags[ntags++] = xasprintf("kind=%s", kind);
	tags[ntags++] = xasprintf("nua-version=%s", NUA_VERSION);
	{
		size_t i;
		json_t *v;

		json_array_foreach(vols, i, v) {
			ALLOC_GROW(tags, ntags + 1, atags);
			tags[ntags++] = xasprintf("volume=%s",
						  json_string_value(json_object_get(v, "name")));
		}
		json_array_foreach(dumps, i, v) {
			if (json_is_true(json_object_get(v, "external")))
				continue;
			ALLOC_GROW(tags, ntags + 1, atags);
			tags[ntags++] = xasprintf("resource=%s",
						  json_string_value(json_object_get(v, "name")));
		}
	}

	if (freeze_if_asked(ctx, &st, frozen_mark, &frozen, err) < 0)
		goto out;
	for (size_t t = 0; t < nt; t++) {
		const char **argv = xcalloc(2 * ntags + np + 8, sizeof(*argv));
		size_t n = 0;
		struct progress pr = { ctx, NULL, monotonic_ms() };
		struct backup_rec rec = { 0 };
		struct nua_error *e = NULL;
		const char *id;

		argv[n++] = "backup";
		argv[n++] = "--json";
		argv[n++] = "--exclude";
		argv[n++] = "*.tmp";
		for (size_t i = 0; i < ntags; i++) {
			argv[n++] = "--tag";
			argv[n++] = tags[i];
		}
		for (size_t i = 0; i < np; i++)
			argv[n++] = paths[i];
		argv[n] = NULL;
		nua_say(ctx, "backing up %s to %s", name, targets[t].name);
		/* A remote target that does not answer fails in a minute, not
		 * after restic's own retries. */
		r = targets[t].url[0] == '/' ? 0 : repo_ensure(&targets[t], &e);
		if (r == 0)
			r = restic_run(&targets[t], argv, dir, backup_line, &pr, NULL, &e);
		free(argv);
		id = json_string_value(json_object_get(pr.summary, "snapshot_id"));
		if (r == 0 && !id)
			r = nua_error_set(&e, NUA_EFAIL, "restic reported no snapshot of '%s'",
					  name);
		if (r < 0) {
			/* The other targets still get their copy. */
			json_decref(pr.summary);
			nua_say(ctx, "backup of %s to %s failed: %s", name, targets[t].name, e->msg);
			nua_event(ctx, name, "backup-failed", "%s backup to %s failed: %s", kind,
			      targets[t].name, e->msg);
			strbuf_addf(&failed, "%s%s", failed.len ? "; " : "", e->msg);
			nua_error_free(e);
			continue;
		}
		/* The summary has the short id; the full one names it for sure.
		 * A local repository has a file named by it. */
		rec.snapshot = local_full_id(&targets[t], id);
		if (!rec.snapshot) {
			const char *snaps[] = { "snapshots", "--json", id, NULL };
			struct strbuf sout = STRBUF_INIT;
			json_t *a = NULL;

			if (restic_ask(&targets[t], snaps, &sout, NULL) == 0)
				a = json_loads(sout.buf, 0, NULL);
			strbuf_release(&sout);
			rec.snapshot = xstrdup(str_or(
				json_string_value(json_object_get(json_array_get(a, 0), "id")),
				id));
			json_decref(a);
		}
		rec.target = targets[t].name;
		rec.instance = (char *)name;
		rec.time = (int64_t)time(NULL);
		rec.kind = (char *)kind;
		rec.image_ref = imgp->ref;
		rec.bytes =
			json_integer_value(json_object_get(pr.summary, "total_bytes_processed"));
		rec.files =
			json_integer_value(json_object_get(pr.summary, "total_files_processed"));
		rec.added = json_integer_value(json_object_get(pr.summary, "data_added"));
		json_decref(pr.summary);
		state_backup_add(ctx->st, &rec, NULL);
		nua_say(ctx, "snapshot %.8s of %s in %s: %lld files, %lld bytes, %lld added",
		    rec.snapshot, name, targets[t].name, (long long)rec.files, (long long)rec.bytes,
		    (long long)rec.added);
		nua_event(ctx, name, "backup",
		      "%s snapshot %.8s in %s: %lld files, %lld bytes (%lld new) in %.1f s%s", kind,
		      rec.snapshot, targets[t].name, (long long)rec.files, (long long)rec.bytes,
		      (long long)rec.added, (double)(monotonic_ms() - t0) / 1000,
		      frozen ? ", the app paused meanwhile" : "");
		if (snapshot && !*snapshot)
			*snapshot = xstrdup(rec.snapshot);
		free(rec.snapshot);
		taken++;
	}
	if (frozen) {
		thaw(ctx, frozen, frozen_mark);
		free(frozen);
		frozen = NULL;
	}
	/* The backup a restore or an upgrade takes first needs one copy: a
	 * target that does not answer must not keep the instance from being
	 * put back. Any other backup fails with it. */
	if (failed.len && !(taken && (streq(kind, "safety") || streq(kind, "upgrade")))) {
		nua_error_set(err, NUA_EFAIL, "%s", failed.buf);
		goto out;
	}
	ret = 0;
out:
	if (frozen) {
		thaw(ctx, frozen, frozen_mark);
		free(frozen);
	}
	strbuf_release(&failed);
	if (tags) {
		for (size_t i = 0; i < ntags; i++)
			free(tags[i]);
		free(tags);
	}
	staged_release(&st);
	targets_free(targets, nt);
	return ret;
}

int backup_instance(struct nua_ctx *ctx, const char *name, const char *kind, char **snapshot,
		    struct nua_error **err)
{
	struct nua_error *e = NULL;

	if (snapshot)
		*snapshot = NULL;
	if (backup_one(ctx, name, kind, snapshot, &e) < 0) {
		if (e->status != NUA_EINPUT && !strstr(e->msg, "backup target '"))
			nua_event(ctx, name, "backup-failed", "%s backup failed: %s", kind, e->msg);
		nua_error_prefix(&e, "cannot back up '%s'", name);
		if (err)
			*err = e;
		else
			nua_error_free(e);
		return -1;
	}
	return 0;
}

/* ---- listing ---- */

void backup_snapshot_release(struct backup_snapshot *s)
{
	free(s->target);
	free(s->id);
	free(s->short_id);
	free(s->instance);
	free(s->kind);
	free(s->image_ref);
	free(s->nua_version);
	strv_free(s->volumes);
	strv_free(s->resources);
	free(s->error);
	memset(s, 0, sizeof(*s));
}

void backup_snapshot_list_free(struct backup_snapshot *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		backup_snapshot_release(&list[i]);
	free(list);
}

/* restic's times: "2026-12-02T16:33:14.570105452Z" or with "+01:00". */
static int64_t parse_time(const char *s)
{
	struct tm tm = { 0 };
	const char *p = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
	int64_t t;

	if (!p)
		return 0;
	t = (int64_t)timegm(&tm);
	if (*p == '.')
		while (*++p >= '0' && *p <= '9')
			;
	if ((*p == '+' || *p == '-') && strlen(p) >= 6) {
		int off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600 +
			  ((p[4] - '0') * 10 + (p[5] - '0')) * 60;

		t -= *p == '+' ? off : -off;
	}
	return t;
}

static int cmp_snapshot(const void *a, const void *b)
{
	const struct backup_snapshot *x = a, *y = b;

	if (x->time != y->time)
		return x->time < y->time ? -1 : 1;
	return strcmp(x->id, y->id);
}

static int list_target(struct nua_ctx *ctx, const struct target *t, const char *instance,
		       struct backup_snapshot **list, size_t *len, size_t *alloc,
		       struct nua_error **err)
{
	_cleanup_free_ char *tag = instance ? xasprintf("instance=%s", instance) : xstrdup("nua");
	const char *argv[] = { "snapshots", "--json", "--tag", tag, NULL };
	struct strbuf out = STRBUF_INIT;
	struct backup_rec *recs = NULL;
	size_t nrecs = 0, i;
	json_t *a, *s;

	if (restic_ask(t, argv, &out, err) < 0) {
		strbuf_release(&out);
		return -1;
	}
	a = json_loads(out.buf, 0, NULL);
	strbuf_release(&out);
	state_backup_list(ctx->st, instance, &recs, &nrecs, NULL);
	json_array_foreach(a, i, s) {
		struct backup_snapshot *b;
		size_t k, nv = 0, av = 0, nr = 0, ar = 0;
		json_t *tg;

		ALLOC_GROW(*list, *len + 1, *alloc);
		b = &(*list)[(*len)++];
		memset(b, 0, sizeof(*b));
		b->target = xstrdup(t->name);
		b->id = xstrdup(str_or(json_string_value(json_object_get(s, "id")), ""));
		b->short_id =
			xstrdup(str_or(json_string_value(json_object_get(s, "short_id")), ""));
		b->time = parse_time(json_string_value(json_object_get(s, "time")));
		b->bytes = b->files = b->added = -1;
		ALLOC_GROW(b->volumes, 1, av);
		b->volumes[0] = NULL;
		ALLOC_GROW(b->resources, 1, ar);
		b->resources[0] = NULL;
		json_array_foreach(json_object_get(s, "tags"), k, tg) {
			const char *v = json_string_value(tg);
			const char *eq = v ? strchr(v, '=') : NULL;

			if (!eq)
				continue;
			if (starts_with(v, "instance="))
				b->instance = xstrdup(eq + 1);
			else if (starts_with(v, "kind="))
				b->kind = xstrdup(eq + 1);
			else if (starts_with(v, "image="))
				b->image_ref = xstrdup(eq + 1);
			else if (starts_with(v, "nua-version="))
				b->nua_version = xstrdup(eq + 1);
			else if (starts_with(v, "volume="))
				strv_add_unique(&b->volumes, &nv, &av, eq + 1);
			else if (starts_with(v, "resource="))
				strv_add_unique(&b->resources, &nr, &ar, eq + 1);
		}
		if (!b->instance)
			b->instance = xstrdup("");
		for (k = 0; k < nrecs; k++)
			if (streq(recs[k].target, t->name) && streq(recs[k].snapshot, b->id)) {
				b->bytes = recs[k].bytes;
				b->files = recs[k].files;
				b->added = recs[k].added;
			}
	}
	backup_rec_list_free(recs, nrecs);
	json_decref(a);
	return 0;
}

int backup_list(struct nua_ctx *ctx, const char *instance, struct backup_snapshot **out, size_t *n,
		struct nua_error **err)
{
	struct target *targets = NULL;
	size_t nt = 0, len = 0, alloc = 0, nf = 0, af = 0;
	struct backup_snapshot *list = NULL;
	struct {
		char *target, *error;
	} *failed = NULL;
	struct nua_error *e = NULL;

	*out = NULL;
	*n = 0;
	if (targets_load(ctx, &targets, &nt, err) < 0)
		return -1;
	for (size_t t = 0; t < nt; t++) {
		if (targets[t].url[0] == '/') {
			_cleanup_free_ char *cfg = xasprintf("%s/config", targets[t].url);

			if (access(cfg, F_OK) < 0)
				continue; /* made but never used */
		}
		if (list_target(ctx, &targets[t], instance, &list, &len, &alloc, &e) < 0) {
			ALLOC_GROW(failed, nf + 1, af);
			failed[nf].target = xstrdup(targets[t].name);
			failed[nf++].error = xstrdup(e->msg);
			nua_error_free(e);
			e = NULL;
		}
	}
	targets_free(targets, nt);
	if (len)
		qsort(list, len, sizeof(*list), cmp_snapshot);
	for (size_t i = 0; i < nf; i++) {
		ALLOC_GROW(list, len + 1, alloc);
		memset(&list[len], 0, sizeof(list[len]));
		list[len].target = failed[i].target;
		list[len].id = xstrdup("");
		list[len].short_id = xstrdup("");
		list[len].instance = xstrdup(instance ? instance : "");
		list[len].volumes = xcalloc(1, sizeof(char *));
		list[len].resources = xcalloc(1, sizeof(char *));
		list[len].bytes = list[len].files = list[len].added = -1;
		list[len++].error = failed[i].error;
	}
	free(failed);
	*out = list;
	*n = len;
	return 0;
}

/* ---- restore ---- */

/* The snapshot of name that spec names in the first target: a (prefix of
 * an) id, or NULL/"latest". NUA_EINPUT lists the known ones. */
static int find_snapshot(struct nua_ctx *ctx, const char *name, const char *spec,
			 struct backup_snapshot *found, struct nua_error **err)
{
	struct backup_snapshot *list = NULL;
	size_t n = 0, hit = SIZE_MAX, hits = 0;
	struct strbuf known = STRBUF_INIT;
	int ret = -1;

	memset(found, 0, sizeof(*found));
	if (backup_list(ctx, name, &list, &n, err) < 0)
		return -1;
	if (n == 0 || list[0].error) {
		ret = nua_error_set(err, NUA_EINPUT, "'%s' has no backup%s%s: 'nua backup %s' takes one",
				    name, n ? " that can be read; " : "", n ? list[0].error : "", name);
		goto out;
	}
	/* Any target's snapshot (their ids differ); the latest is the newest
	 * of all (the list is oldest first). */
	for (size_t i = 0; i < n; i++) {
		if (list[i].error)
			continue;
		if (!spec || streq(spec, "latest"))
			hit = i, hits = 1;
		else if (strlen(spec) >= 4 && starts_with(list[i].id, spec))
			hit = i, hits++;
	}
	if (hits != 1) {
		for (size_t i = n; i-- > 0 && known.len < 600;) {
			char when[32];

			if (list[i].error)
				continue;
			time_t tt = (time_t)list[i].time;
			struct tm tm;

			gmtime_r(&tt, &tm);
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
			strbuf_addf(&known, "\n  %s  %s  %s", list[i].short_id, when,
				    list[i].kind ? list[i].kind : "");
		}
		ret = nua_error_set(err, NUA_EINPUT, "%s snapshot '%s' of '%s'; its snapshots:%s",
				    hits ? "more than one" : "no", spec, name, known.buf);
		goto out;
	}
	*found = list[hit];
	memset(&list[hit], 0, sizeof(list[hit]));
	ret = 0;
out:
	strbuf_release(&known);
	backup_snapshot_list_free(list, n);
	return ret;
}

/* The journal of a restore: what to put back when it is interrupted. */
struct journal {
	char *snapshot, *safety;
	char *desired, *image_ref; /* before the restore */
	char *step;		   /* restoring (things are being changed), done */
};

static void journal_release(struct journal *j)
{
	free(j->snapshot);
	free(j->safety);
	free(j->desired);
	free(j->image_ref);
	free(j->step);
	memset(j, 0, sizeof(*j));
}

static int journal_write(const char *name, const struct journal *j, struct nua_error **err)
{
	_cleanup_free_ char *path = inst_file(name, "restore/journal.json");
	json_t *o =
		json_pack("{s:s, s:s?, s:s, s:s, s:s}", "snapshot", j->snapshot, "safety",
			  j->safety, "desired", j->desired, "image", j->image_ref, "step", j->step);
	char *text = json_dumps(o, JSON_COMPACT);
	int r = write_file_atomic(path, text, strlen(text), 0600);

	free(text);
	json_decref(o);
	if (r < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot write '%s': %s", path, strerror(-r));
	return 0;
}

static int journal_read(const char *name, struct journal *j)
{
	_cleanup_free_ char *path = inst_file(name, "restore/journal.json"), *text = NULL;
	size_t len;
	json_t *o;

	memset(j, 0, sizeof(*j));
	if (read_file(path, &text, &len) < 0)
		return -1;
	o = json_loads(text, 0, NULL);
	if (!o)
		return -1;
	j->snapshot = xstrdup(str_or(json_string_value(json_object_get(o, "snapshot")), ""));
	if (json_string_value(json_object_get(o, "safety")))
		j->safety = xstrdup(json_string_value(json_object_get(o, "safety")));
	j->desired = xstrdup(str_or(json_string_value(json_object_get(o, "desired")), "running"));
	j->image_ref = xstrdup(str_or(json_string_value(json_object_get(o, "image")), ""));
	j->step = xstrdup(str_or(json_string_value(json_object_get(o, "step")), "restoring"));
	json_decref(o);
	return 0;
}

/* Move src to dst, replacing nothing: dst must not exist. */
static int move(const char *src, const char *dst, struct nua_error **err)
{
	_cleanup_free_ char *parent = xstrdup(dst);
	char *slash = strrchr(parent, '/');

	if (slash) {
		*slash = '\0';
		mkdir_p(parent, 0700);
	}
	if (rename(src, dst) < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot move '%s' to '%s': %s", src, dst,
				     strerror(errno));
	return 0;
}

/* Where a volume of the manifest is now (its path in the snapshot is
 * relative to the instance's directory, or absolute). */
static char *volume_live_path(const char *name, const char *path)
{
	return path[0] == '/' ? xstrdup(path) : inst_file(name, path);
}

/* The directory a volume is restored into first: beside where it lives,
 * so that it takes its place with a rename. */
static char *volume_staged_path(const char *name, const char *path)
{
	if (path[0] == '/') {
		_cleanup_free_ char *dir = xstrdup(path);
		char *slash = strrchr(dir, '/');

		*slash = '\0';
		return xasprintf("%s/.nua-restore-%s%s", *dir ? dir : "", name, path);
	}
	{
		_cleanup_free_ char *rel = xasprintf("restore/data/%s", path);

		return inst_file(name, rel);
	}
}

/* The old copy of a volume, kept until the restore is done. */
static char *volume_old_path(const char *name, const char *path)
{
	if (path[0] == '/')
		return xasprintf("%s.nua-before-restore", path);
	{
		_cleanup_free_ char *rel = xasprintf("restore/old/%s", path);

		return inst_file(name, rel);
	}
}

/* Put every volume of manifest that was swapped back (idempotent). */
static int volumes_back(const char *name, json_t *manifest, struct nua_error **err)
{
	size_t i;
	json_t *v;
	int ret = 0;

	json_array_foreach(json_object_get(manifest, "volumes"), i, v) {
		const char *path = json_string_value(json_object_get(v, "path"));
		_cleanup_free_ char *live = NULL, *old = NULL;

		if (!path)
			continue;
		live = volume_live_path(name, path);
		old = volume_old_path(name, path);
		if (access(old, F_OK) < 0)
			continue;
		if (access(live, F_OK) == 0) {
			_cleanup_free_ char *gone = xasprintf("%s.nua-failed-restore", live);

			remove_tree(gone);
			if (rename(live, gone) < 0 || remove_tree(gone) < 0)
				ret = nua_error_set(err, NUA_EFAIL, "cannot take '%s' away: %s",
						    live, strerror(errno));
		}
		if (rename(old, live) < 0)
			ret = nua_error_set(err, NUA_EFAIL, "cannot put '%s' back: %s", live,
					    strerror(errno));
	}
	return ret;
}

/* Load the manifest at path. */
static json_t *manifest_load(const char *path, struct nua_error **err)
{
	json_error_t jerr;
	json_t *m = json_load_file(path, 0, &jerr);
	json_int_t format;

	if (!m) {
		nua_error_set(err, NUA_EINPUT, "the snapshot's manifest '%s' cannot be read: %s",
			      path, jerr.text);
		return NULL;
	}
	format = json_integer_value(json_object_get(m, "format"));
	if (format < 1 || format > BACKUP_FORMAT) {
		nua_error_set(err, NUA_EINPUT,
			      "the snapshot has format version %lld, this nua reads up to %d: "
			      "upgrade nua to restore it",
			      (long long)format, BACKUP_FORMAT);
		json_decref(m);
		return NULL;
	}
	return m;
}

/* Restore the resources' dumps of manifest, found under base. */
static int restore_dumps(struct nua_ctx *ctx, const char *name, json_t *manifest, const char *base,
			 struct nua_error **err)
{
	struct instance_rec in = { 0 };
	size_t i;
	json_t *r;
	int ret = 0;

	if (instance_get(ctx, name, &in, err) < 0)
		return -1;
	json_array_foreach(json_object_get(manifest, "resources"), i, r) {
		const char *rname = json_string_value(json_object_get(r, "name"));
		const char *type = json_string_value(json_object_get(r, "type"));
		const char *rel = json_string_value(json_object_get(r, "path"));
		const char *server = rname ? resource_server_of(in.env, in.n_env, rname) : NULL;
		_cleanup_free_ char *file = NULL;

		if (!rel || !type)
			continue;
		if (!server) {
			ret = nua_error_set(
				err, NUA_EINPUT,
				"'%s' has no resource '%s' on a server of Nua's to restore "
				"into",
				name, rname);
			break;
		}
		file = xasprintf("%s/%s", base, rel);
		nua_say(ctx, "restoring resource %s (%s)", rname, type);
		if ((ret = resource_restore(ctx, name, rname, type, server, file, err)) < 0)
			break;
	}
	instance_rec_release(&in);
	return ret;
}

/* Point the instance at image_ref (when it differs) and bring it to
 * desired. */
static int bring_up(struct nua_ctx *ctx, const char *name, const char *image_ref,
		    const char *desired, struct nua_error **err)
{
	struct instance_rec in = { 0 };
	int ret;

	if (instance_get(ctx, name, &in, err) < 0)
		return -1;
	ret = 0;
	if (image_ref && *image_ref && !streq(in.image_ref, image_ref))
		ret = state_instance_update(ctx->st, name, image_ref, NULL, 0, err);
	instance_rec_release(&in);
	if (ret < 0)
		return -1;
	if (streq(desired, "running"))
		return instance_start(ctx, name, err);
	return instance_stop(ctx, name, err);
}

/* Undo a restore that stopped half way: volumes back, databases from the
 * safety dumps, the image and desired state of before. */
static int roll_back(struct nua_ctx *ctx, const char *name, const struct journal *j,
		     json_t *manifest, struct nua_error **err)
{
	_cleanup_free_ char *safety = inst_file(name, "restore/safety");
	struct nua_error *e = NULL;
	json_t *sm = NULL;
	int ret = 0;

	nua_say(ctx, "putting %s back as it was before the restore", name);
	if (state_instance_set_desired(ctx->st, name, "stopped", &e) < 0 ||
	    instance_converge(ctx, name, &e) < 0)
		goto fail;
	if (volumes_back(name, manifest, &e) < 0)
		goto fail;
	{
		_cleanup_free_ char *mpath = xasprintf("%s/backup/nua-backup.json", safety);

		if (access(mpath, F_OK) == 0) {
			if (!(sm = manifest_load(mpath, &e)))
				goto fail;
			if (restore_dumps(ctx, name, sm, safety, &e) < 0)
				goto fail;
		}
	}
	if (bring_up(ctx, name, j->image_ref, j->desired, &e) < 0)
		goto fail;
	goto out;
fail:
	ret = nua_error_set(err, NUA_EFAIL, "%s", e ? e->msg : "failed");
	nua_error_free(e);
out:
	json_decref(sm);
	return ret;
}

static void restore_cleanup(const char *name)
{
	_cleanup_free_ char *dir = inst_file(name, "restore");

	remove_tree(dir);
}

/* Remove what a restore put beside volumes kept at absolute paths: the
 * staging directory and the old copy. */
static void volumes_cleanup(const char *name, json_t *manifest)
{
	size_t i;
	json_t *v;

	json_array_foreach(json_object_get(manifest, "volumes"), i, v) {
		const char *path = json_string_value(json_object_get(v, "path"));
		_cleanup_free_ char *old = NULL, *dir = NULL, *stage = NULL;
		char *slash;

		if (!path || path[0] != '/')
			continue;
		old = volume_old_path(name, path);
		remove_tree(old);
		dir = xstrdup(path);
		slash = strrchr(dir, '/');
		*slash = '\0';
		stage = xasprintf("%s/.nua-restore-%s", dir, name);
		remove_tree(stage);
	}
}

/* Read snapshot snap into the new directory data (all but the image),
 * load its manifest (*manifest, the caller's), and make sure this server
 * has the image it names (imported from the snapshot when it lacks it, or
 * has another build under the same name). */
static int fetch_tree(struct nua_ctx *ctx, const struct backup_snapshot *snap, const char *data,
		      json_t **manifest, struct nua_error **err)
{
	struct target t = { 0 };
	_cleanup_free_ char *mpath = xasprintf("%s/backup/nua-backup.json", data);
	const char *ref, *digest;
	struct image_rec have = { 0 };
	bool ok;
	int r;

	*manifest = NULL;
	if (target_load(ctx, snap->target, &t, err) < 0)
		return -1;
	if ((r = mkdir_p(data, 0700)) < 0) {
		target_release(&t);
		return nua_error_set(err, NUA_EFAIL, "cannot create '%s': %s", data, strerror(-r));
	}
	nua_say(ctx, "reading snapshot %s from %s", snap->short_id, snap->target);
	{
		/* The image comes later, when this server lacks it. */
		const char *argv[] = { "restore",	    snap->id, "--target", data, "--exclude",
				       "/backup/image.tar", NULL };

		if (restic_run(&t, argv, NULL, NULL, NULL, NULL, err) < 0)
			goto fail;
	}
	if (!(*manifest = manifest_load(mpath, err)))
		goto fail;
	ref = json_string_value(json_object_get(json_object_get(*manifest, "image"), "ref"));
	digest = json_string_value(json_object_get(json_object_get(*manifest, "image"), "digest"));
	if (!ref) {
		nua_error_set(err, NUA_EINPUT, "the snapshot's manifest names no image");
		goto fail;
	}
	ok = state_image_get(ctx->st, ref, &have, NULL) == 0 && digest && have.digest &&
	     streq(have.digest, digest);
	image_rec_release(&have);
	if (!ok) {
		_cleanup_free_ char *tar = xasprintf("%s/backup/image.tar", data);
		const char *argv[] = { "restore",   snap->id, "--target", data,
				       "--include", "/backup/image.tar", NULL };

		nua_say(ctx, "importing image %s from the snapshot", ref);
		if (restic_run(&t, argv, NULL, NULL, NULL, NULL, err) < 0 ||
		    image_import(ctx->st, tar, ref, NULL, err) < 0)
			goto fail;
		unlink(tar);
	}
	target_release(&t);
	return 0;
fail:
	json_decref(*manifest);
	*manifest = NULL;
	target_release(&t);
	return -1;
}

/* Restore snapshot (already found) into name. */
static int restore_into(struct nua_ctx *ctx, const char *name, const struct backup_snapshot *snap,
			char **safety_out, struct nua_error **err)
{
	struct instance_rec in = { 0 };
	struct image_rec img = { 0 };
	struct journal j = { 0 };
	_cleanup_free_ char *rdir = inst_file(name, "restore");
	_cleanup_free_ char *data = inst_file(name, "restore/data");
	/* As the snapshot holds them: the manifest names backup/dumps/... */
	_cleanup_free_ char *safety_dir = inst_file(name, "restore/safety/backup");
	_cleanup_free_ char *stage = inst_file(name, "backup");
	json_t *manifest = NULL;
	char *safety = NULL;
	bool changing = false;
	int ret = -1;

	if (instance_get(ctx, name, &in, err) < 0)
		return -1;
	if (state_image_get(ctx->st, in.image_ref, &img, err) < 0)
		goto out;
	/* Another package's data would not fit this one. */
	if (snap->image_ref) {
		size_t a = strcspn(snap->image_ref, ":"), b = strcspn(in.image_ref, ":");

		if (a != b || strncmp(snap->image_ref, in.image_ref, a) != 0) {
			nua_error_set(err, NUA_EINPUT,
				      "snapshot %s holds the package '%.*s', and '%s' runs '%.*s': "
				      "restore it as a new instance instead",
				      snap->short_id, (int)a, snap->image_ref, name, (int)b,
				      in.image_ref);
			goto out;
		}
	}
	remove_tree(rdir);
	if (fetch_tree(ctx, snap, data, &manifest, err) < 0)
		goto out;
	chmod(rdir, 0700);
	/* Volumes kept at an absolute path come back beside it. */
	{
		size_t i;
		json_t *v;

		json_array_foreach(json_object_get(manifest, "volumes"), i, v) {
			const char *path = json_string_value(json_object_get(v, "path"));
			_cleanup_free_ char *from = NULL, *to = NULL;

			if (!path || path[0] != '/')
				continue;
			from = xasprintf("%s%s", data, path);
			to = volume_staged_path(name, path);
			remove_tree(to);
			if (move(from, to, err) < 0)
				goto out;
		}
	}

	/* Now the instance changes: a safety snapshot first. */
	nua_say(ctx, "taking a safety backup of %s", name);
	if (backup_instance(ctx, name, "safety", &safety, err) < 0) {
		nua_error_prefix(err, "no safety backup, so nothing was restored");
		goto out;
	}
	/* Its dumps and manifest, kept aside for a roll back. */
	{
		_cleanup_free_ char *dumps = xasprintf("%s/dumps", safety_dir);
		_cleanup_free_ char *sdumps = xasprintf("%s/dumps", stage);
		_cleanup_free_ char *sman = xasprintf("%s/nua-backup.json", stage);
		_cleanup_free_ char *dman = xasprintf("%s/nua-backup.json", safety_dir);
		DIR *d;
		struct dirent *de;

		mkdir_p(dumps, 0700);
		if (link(sman, dman) < 0) {
			nua_error_set(err, NUA_EFAIL, "cannot keep '%s': %s", sman,
				      strerror(errno));
			goto out;
		}
		d = opendir(sdumps);
		while (d && (de = readdir(d))) {
			_cleanup_free_ char *a = NULL, *b = NULL;

			if (de->d_name[0] == '.')
				continue;
			a = xasprintf("%s/%s", sdumps, de->d_name);
			b = xasprintf("%s/%s", dumps, de->d_name);
			if (link(a, b) < 0) {
				closedir(d);
				nua_error_set(err, NUA_EFAIL, "cannot keep '%s': %s", a,
					      strerror(errno));
				goto out;
			}
		}
		if (d)
			closedir(d);
	}
	j.snapshot = xstrdup(snap->id);
	j.safety = safety ? xstrdup(safety) : NULL;
	j.desired = xstrdup(in.desired);
	j.image_ref = xstrdup(in.image_ref);
	j.step = xstrdup("restoring");
	if (journal_write(name, &j, err) < 0)
		goto out;
	changing = true;

	nua_say(ctx, "stopping %s", name);
	if (state_instance_set_desired(ctx->st, name, "stopped", err) < 0 ||
	    instance_converge(ctx, name, err) < 0)
		goto fail;
	{
		size_t i;
		json_t *v;

		json_array_foreach(json_object_get(manifest, "volumes"), i, v) {
			const char *path = json_string_value(json_object_get(v, "path"));
			_cleanup_free_ char *live = NULL, *old = NULL, *staged = NULL;

			if (!path)
				continue;
			live = volume_live_path(name, path);
			old = volume_old_path(name, path);
			staged = volume_staged_path(name, path);
			nua_say(ctx, "restoring volume %s",
			    str_or(json_string_value(json_object_get(v, "name")), path));
			if (access(live, F_OK) == 0 && move(live, old, err) < 0)
				goto fail;
			if (move(staged, live, err) < 0)
				goto fail;
		}
	}
	{
		_cleanup_free_ char *base = xstrdup(data);

		if (restore_dumps(ctx, name, manifest, base, err) < 0)
			goto fail;
	}
	nua_say(ctx, "starting %s", name);
	if (bring_up(ctx, name,
		     json_string_value(json_object_get(json_object_get(manifest, "image"), "ref")),
		     in.desired, err) < 0)
		goto fail;
	free(j.step);
	j.step = xstrdup("done");
	journal_write(name, &j, NULL);
	adopt_tls(ctx, name, manifest, data);
	volumes_cleanup(name, manifest);
	restore_cleanup(name);
	nua_event(ctx, name, "restore", "restored from snapshot %s (safety snapshot %.8s)",
	      snap->short_id, safety ? safety : "-");
	if (safety_out)
		*safety_out = TAKE_PTR(safety);
	ret = 0;
	goto out;
fail : {
	struct nua_error *e = NULL;

	if (roll_back(ctx, name, &j, manifest, &e) == 0) {
		nua_event(ctx, name, "restore-failed",
		      "restore from snapshot %s failed (%s); put back as it was", snap->short_id,
		      (*err)->msg);
		nua_error_prefix(err, "'%s' was put back as it was", name);
		volumes_cleanup(name, manifest);
		restore_cleanup(name);
	} else {
		nua_event(ctx, name, "restore-failed",
		      "restore from snapshot %s failed (%s), and so did putting it back "
		      "(%s); the safety snapshot is %.8s",
		      snap->short_id, (*err)->msg, e->msg, safety ? safety : "-");
		nua_error_prefix(err,
				 "putting '%s' back failed too (%s); its safety snapshot is %.8s",
				 name, e->msg, safety ? safety : "-");
		nua_error_free(e);
	}
}
out:
	if (!changing && ret < 0)
		restore_cleanup(name);
	free(safety);
	journal_release(&j);
	json_decref(manifest);
	image_rec_release(&img);
	instance_rec_release(&in);
	return ret;
}

int backup_restore(struct nua_ctx *ctx, const char *name, const char *snapshot, char **safety,
		   struct nua_error **err)
{
	struct backup_snapshot snap;
	struct instance_rec in = { 0 };
	int ret;

	if (safety)
		*safety = NULL;
	if (instance_get(ctx, name, &in, err) < 0)
		return -1;
	instance_rec_release(&in);
	if (find_snapshot(ctx, name, snapshot, &snap, err) < 0)
		return -1;
	ret = restore_into(ctx, name, &snap, safety, err);
	backup_snapshot_release(&snap);
	if (ret < 0)
		return nua_error_prefix(err, "cannot restore '%s' from snapshot %.8s", name,
					snapshot ? snapshot : "latest");
	return 0;
}

char **backup_interrupted(void)
{
	_cleanup_free_ char *dir = nua_root_path("instances");
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, alloc = 0;

	ALLOC_GROW(names, 1, alloc);
	names[0] = NULL;
	while (d && (de = readdir(d))) {
		_cleanup_free_ char *journal = NULL;

		if (de->d_name[0] == '.' || !valid_name(de->d_name, 64))
			continue;
		/* A restore killed before its journal leaves what it read. */
		journal = inst_file(de->d_name, "restore");
		if (access(journal, F_OK) == 0)
			strv_add_unique(&names, &n, &alloc, de->d_name);
	}
	if (d)
		closedir(d);
	return names;
}

int backup_recover(struct nua_ctx *ctx, const char *name, struct nua_error **err)
{
	struct journal j;
	_cleanup_free_ char *mpath = inst_file(name, "restore/data/backup/nua-backup.json");
	json_t *manifest;
	struct nua_error *e = NULL;
	int ret = 0;

	manifest = json_load_file(mpath, 0, NULL);
	if (!manifest)
		manifest = json_object();
	/* No journal: killed before it changed anything. Done: killed while
	 * cleaning up. Either way only its files go. */
	if (journal_read(name, &j) < 0 || streq(j.step, "done")) {
		volumes_cleanup(name, manifest);
		restore_cleanup(name);
		if (j.step)
			journal_release(&j);
		json_decref(manifest);
		return 0;
	}
	if (roll_back(ctx, name, &j, manifest, &e) == 0) {
		nua_event(ctx, name, "restore-failed",
		      "the restore from snapshot %.8s was interrupted; put back as it was",
		      j.snapshot);
		volumes_cleanup(name, manifest);
		restore_cleanup(name);
	} else {
		nua_event(ctx, name, "restore-failed",
		      "the restore from snapshot %.8s was interrupted, and putting it back failed: "
		      "%s",
		      j.snapshot, e->msg);
		ret = nua_error_set(err, NUA_EFAIL,
				    "cannot put '%s' back after an interrupted restore: %s", name,
				    e->msg);
		nua_error_free(e);
	}
	json_decref(manifest);
	journal_release(&j);
	return ret;
}

/* ---- snapshots as new instances: clones, disaster recovery ---- */

/* How a snapshot becomes a new instance of this server. */
struct materialize {
	const char *name;    /* the new instance */
	const char *domain;  /* NULL: the snapshot's (same) or NAME.localhost */
	bool same;	     /* the same instance on a new server: its env whole */
	const char *old_key; /* the master key that sealed its secrets, when not ours */
};

/* The value an env entry of the manifest takes here: sealed secrets of
 * another server opened with its key and sealed with ours. */
static int env_value_here(json_t *e, const char *from_key, const char *here_key,
			  const char *old_key, char **out, struct nua_error **err)
{
	const char *v = json_string_value(json_object_get(e, "value"));
	char *plain = NULL;
	int r;

	if (!v)
		v = "";
	if (!secret_is_sealed(v) || (from_key && streq(from_key, here_key))) {
		*out = xstrdup(v);
		return 0;
	}
	if (!old_key)
		return nua_error_set(err, NUA_EINPUT,
				     "the snapshot's secrets were sealed by another server: give "
				     "that server's recovery key ('nua backup key' there)");
	if (secret_open_with(v, old_key, &plain, err) < 0)
		return -1;
	r = secret_seal(plain, out, err);
	explicit_bzero(plain, strlen(plain));
	free(plain);
	return r;
}

/* The env of the new instance: what its deploy made, with the snapshot's
 * values over it (all of them for the same instance; for a copy, all but
 * what its own resources and its own domain give it). */
static int merged_env(struct nua_ctx *ctx, json_t *manifest, const struct materialize *m,
		      struct env_rec **out, size_t *n_out, struct nua_error **err)
{
	struct instance_rec in = { 0 };
	json_t *cfg = json_object_get(manifest, "config");
	json_t *spec = json_object_get(cfg, "env"), *res = json_object_get(cfg, "resource");
	const char *names[16], *types[16];
	const char *from_key = json_string_value(json_object_get(manifest, "secrets_key"));
	char here_key[17];
	struct env_rec *env = NULL;
	size_t n = 0, alloc = 0, nres = 0, i;
	json_t *e, *r;
	int ret = -1;

	if (instance_get(ctx, m->name, &in, err) < 0 || secret_key_id(here_key, err) < 0)
		goto out;
	json_array_foreach(res, i, r) {
		if (nres < ARRAY_SIZE(names)) {
			names[nres] = json_string_value(json_object_get(r, "name"));
			types[nres++] = json_string_value(json_object_get(r, "type"));
		}
	}
	ALLOC_GROW(env, in.n_env, alloc);
	for (i = 0; i < in.n_env; i++) {
		env[n].key = xstrdup(in.env[i].key);
		env[n].value = xstrdup(in.env[i].value);
		env[n++].secret = in.env[i].secret;
	}
	json_array_foreach(json_object_get(json_object_get(manifest, "instance"), "env"), i, e) {
		const char *key = json_string_value(json_object_get(e, "key"));
		json_t *how = key ? json_object_get(spec, key) : NULL;
		char *value = NULL;
		size_t k;

		if (!key)
			continue;
		if (!m->same && (resource_owned_key(key, names, types, nres) ||
				 (json_is_object(how) && json_object_get(how, "from"))))
			continue;
		if (env_value_here(e, from_key, here_key, m->old_key, &value, err) < 0)
			goto out;
		for (k = 0; k < n && !streq(env[k].key, key); k++)
			;
		if (k == n) {
			ALLOC_GROW(env, n + 1, alloc);
			env[n].key = xstrdup(key);
			env[n].value = NULL;
			n++;
		}
		free(env[k].value);
		env[k].value = value;
		env[k].secret = json_is_true(json_object_get(e, "secret"));
	}
	*out = env;
	*n_out = n;
	env = NULL;
	ret = 0;
out:
	for (i = 0; env && i < n; i++) {
		free(env[i].key);
		free(env[i].value);
	}
	free(env);
	if (in.name)
		instance_rec_release(&in);
	return ret;
}

/* Make instance m->name from the tree data (a fetched snapshot): deployed
 * from the snapshot's image (with resources of its own), given the
 * snapshot's env, volumes and databases, then started as the snapshot's
 * instance was. Any failure removes the new instance whole. */
static int materialize(struct nua_ctx *ctx, const char *data, json_t *manifest,
		       const struct materialize *m, struct nua_error **err)
{
	json_t *rec = json_object_get(manifest, "instance");
	const char *ref = json_string_value(json_object_get(json_object_get(manifest, "image"), "ref"));
	const char *desired = json_string_value(json_object_get(rec, "desired"));
	_cleanup_free_ char *domain = NULL;
	struct instance_rec had = { 0 };
	struct env_rec *env = NULL;
	size_t n = 0;
	bool made = false;
	int ret = -1;

	if (instance_get(ctx, m->name, &had, NULL) == 0) {
		instance_rec_release(&had);
		return nua_error_set(err, NUA_EINPUT, "an instance named '%s' exists already",
				     m->name);
	}
	if (m->domain) {
		domain = xstrdup(m->domain);
	} else if (m->same && json_string_value(json_object_get(rec, "domain"))) {
		const char *path = json_string_value(json_object_get(rec, "path"));

		domain = xasprintf("%s%s", json_string_value(json_object_get(rec, "domain")),
				   path && !streq(path, "/") ? path : "");
	}
	/* The secrets must open before anything is made. */
	{
		const char *from_key = json_string_value(json_object_get(manifest, "secrets_key"));
		char here_key[17];
		size_t i;
		json_t *e;

		if (secret_key_id(here_key, err) < 0)
			goto out;
		json_array_foreach(json_object_get(rec, "env"), i, e) {
			char *v = NULL;

			if (env_value_here(e, from_key, here_key, m->old_key, &v, err) < 0)
				goto out;
			free(v);
		}
	}
	nua_say(ctx, "deploying %s from %s", m->name, ref);
	{
		struct deploy_request dr = { ref, m->name, domain, NULL, false, false, NULL };

		if (instance_deploy(ctx, &dr, NULL, err) < 0)
			goto out;
	}
	made = true;
	/* The same instance moved keeps its other domains; a copy under
	 * another domain takes none (they are the original's). */
	if (domain && !m->domain) {
		size_t i;
		json_t *a;

		json_array_foreach(json_object_get(rec, "aliases"), i, a) {
			const char *host = json_string_value(json_object_get(a, "domain"));
			const char *path = json_string_value(json_object_get(a, "path"));
			_cleanup_free_ char *spec = NULL;
			struct nua_error *e = NULL;

			if (!host)
				continue;
			spec = xasprintf("%s%s", host, path && !streq(path, "/") ? path : "");
			if (instance_alias_add(ctx, m->name, spec,
					       json_is_true(json_object_get(a, "redirect")), &e) < 0) {
				nua_say(ctx, "domain %s is not added: %s", spec, e->msg);
				nua_error_free(e);
			}
		}
	}
	if (merged_env(ctx, manifest, m, &env, &n, err) < 0 ||
	    state_instance_update(ctx->st, m->name, NULL, env, n, err) < 0)
		goto out;
	nua_say(ctx, "stopping %s to put its data in", m->name);
	if (state_instance_set_desired(ctx->st, m->name, "stopped", err) < 0 ||
	    instance_converge(ctx, m->name, err) < 0)
		goto out;
	{
		size_t i;
		json_t *v;

		json_array_foreach(json_object_get(manifest, "volumes"), i, v) {
			const char *path = json_string_value(json_object_get(v, "path"));
			const char *vname = json_string_value(json_object_get(v, "name"));
			_cleanup_free_ char *from = NULL, *live = NULL;

			if (!path)
				continue;
			from = xasprintf("%s%s%s", data, path[0] == '/' ? "" : "/", path);
			if (path[0] == '/') {
				/* A host directory: filled when it is not there,
				 * never overwritten. */
				if (access(path, F_OK) == 0) {
					nua_say(ctx, "directory volume %s at %s exists: left as it is",
					    str_or(vname, ""), path);
					continue;
				}
				live = xstrdup(path);
			} else {
				live = inst_file(m->name, path);
				remove_tree(live);
			}
			nua_say(ctx, "restoring volume %s", str_or(vname, path));
			if (move(from, live, err) < 0)
				goto out;
		}
	}
	if (restore_dumps(ctx, m->name, manifest, data, err) < 0)
		goto out;
	adopt_tls(ctx, m->name, manifest, data);
	nua_say(ctx, "starting %s", m->name);
	if (streq(str_or(desired, "running"), "running") && instance_start(ctx, m->name, err) < 0)
		goto out;
	nua_event(ctx, m->name, "restore", "made from a snapshot of '%s' (%s)",
	      str_or(json_string_value(json_object_get(rec, "name")), "?"),
	      m->same ? "the same instance" : "a copy");
	ret = 0;
out:
	for (size_t i = 0; env && i < n; i++) {
		free(env[i].key);
		free(env[i].value);
	}
	free(env);
	if (ret < 0 && made) {
		struct nua_error *e = NULL;

		nua_say(ctx, "removing %s, which could not be made whole", m->name);
		if (instance_remove(ctx, m->name, true, &e) < 0)
			nua_error_free(e);
	}
	return ret;
}

/* A fresh directory for fetching a snapshot to make instance name. */
static char *fetch_dir(const char *name)
{
	_cleanup_free_ char *rel = xasprintf("backups/tmp/%s", name);
	_cleanup_free_ char *parent = nua_root_path("backups/tmp");
	char *dir = nua_root_path(rel);

	mkdir_p(parent, 0700);
	remove_tree(dir);
	return dir;
}

int backup_clone(struct nua_ctx *ctx, const char *name, const char *snapshot,
		 const char *new_name, const char *domain, struct nua_error **err)
{
	struct backup_snapshot snap;
	struct materialize m = { new_name, domain, false, NULL };
	_cleanup_free_ char *data = NULL;
	json_t *manifest = NULL;
	int ret = -1;

	if (!valid_name(new_name, 40) || resource_reserved_name(new_name))
		return nua_error_set(err, NUA_EINPUT,
				     "'%s' is not an instance name: use [a-z0-9-], at most 40, not "
				     "starting with 'nua-'",
				     new_name);
	if (find_snapshot(ctx, name, snapshot, &snap, err) < 0)
		return -1;
	data = fetch_dir(new_name);
	if (fetch_tree(ctx, &snap, data, &manifest, err) == 0 &&
	    materialize(ctx, data, manifest, &m, err) == 0)
		ret = 0;
	remove_tree(data);
	json_decref(manifest);
	backup_snapshot_release(&snap);
	if (ret < 0)
		return nua_error_prefix(err, "cannot make '%s' from a snapshot of '%s'", new_name,
					name);
	return 0;
}

/* The recovery key's parts: the master key and the targets. */
static json_t *parse_recovery_key(const char *text, struct nua_error **err)
{
	const char *p = strstr(text, "nua-recovery-v1:");
	unsigned char *bin;
	size_t len = 0, cap;
	json_t *j;

	if (!p) {
		nua_error_set(err, NUA_EINPUT, "no recovery key ('nua-recovery-v1:...') in what was "
					       "given");
		return NULL;
	}
	p += strlen("nua-recovery-v1:");
	cap = strcspn(p, "\r\n \t");
	bin = xmalloc(cap + 1);
	if (sodium_base642bin(bin, cap, p, cap, NULL, &len, NULL, sodium_base64_VARIANT_ORIGINAL) <
	    0) {
		free(bin);
		nua_error_set(err, NUA_EINPUT, "the recovery key is damaged (not base64)");
		return NULL;
	}
	j = json_loadb((const char *)bin, len, 0, NULL);
	explicit_bzero(bin, len);
	free(bin);
	if (!j || !json_string_value(json_object_get(j, "master_key")) ||
	    !json_is_array(json_object_get(j, "targets"))) {
		json_decref(j);
		nua_error_set(err, NUA_EINPUT, "the recovery key is damaged");
		return NULL;
	}
	return j;
}

int backup_recover_server(struct nua_ctx *ctx, const char *from, const char *key_text,
			  char ***restored, struct nua_error **err)
{
	json_t *key = NULL, *kt, *t0 = NULL;
	struct target t = { 0 };
	struct backup_snapshot *list = NULL;
	size_t n = 0, alloc = 0, nr = 0, ar = 0, i;
	struct strbuf failed = STRBUF_INIT;
	const char *old_key = NULL;
	int ret = -1;

	*restored = NULL;
	ALLOC_GROW(*restored, 1, ar);
	(*restored)[0] = NULL;
	if (key_text) {
		if (!(key = parse_recovery_key(key_text, err)))
			goto out;
		old_key = json_string_value(json_object_get(key, "master_key"));
		json_array_foreach(json_object_get(key, "targets"), i, kt)
			if (streq(str_or(json_string_value(json_object_get(kt, "name")), ""), from))
				t0 = kt;
	}
	/* The target: this server's of that name (with the credentials its
	 * backend needs), its password the key's; or the key's own. */
	if (target_load(ctx, from, &t, NULL) == 0) {
		if (t0) {
			explicit_bzero(t.password, strlen(t.password));
			free(t.password);
			t.password = xstrdup(json_string_value(json_object_get(t0, "password")));
			if (target_save(ctx, &t, err) < 0)
				goto out;
		}
	} else if (t0) {
		_cleanup_free_ char *pw = xasprintf(
			"RESTIC_PASSWORD=%s", json_string_value(json_object_get(t0, "password")));
		const char *creds[] = { pw, NULL };

		if (backup_target_add(ctx, from, json_string_value(json_object_get(t0, "url")),
				      NULL, creds, err) < 0)
			goto out;
		explicit_bzero(pw, strlen(pw));
		if (target_load(ctx, from, &t, err) < 0)
			goto out;
	} else {
		nua_error_set(err, NUA_EINPUT,
			      "no backup target named '%s' here%s: add it ('nua backup target add') "
			      "or give the recovery key that names it",
			      from, key_text ? " nor in the recovery key" : "");
		goto out;
	}
	if (list_target(ctx, &t, NULL, &list, &n, &alloc, err) < 0)
		goto out;
	if (n)
		qsort(list, n, sizeof(*list), cmp_snapshot);
	/* The newest snapshot of each instance (they are sorted oldest
	 * first), but of instances this server has already. */
	for (i = n; i-- > 0;) {
		struct materialize m = { list[i].instance, NULL, true, old_key };
		struct instance_rec had = { 0 };
		struct nua_error *e = NULL;
		_cleanup_free_ char *data = NULL;
		json_t *manifest = NULL;
		bool seen = false;

		for (size_t k = i + 1; k < n; k++)
			seen = seen || streq(list[k].instance, list[i].instance);
		if (seen || !valid_name(list[i].instance, 40))
			continue;
		if (instance_get(ctx, list[i].instance, &had, NULL) == 0) {
			instance_rec_release(&had);
			nua_say(ctx, "%s exists here already: left as it is", list[i].instance);
			continue;
		}
		nua_say(ctx, "bringing %s back from snapshot %s", list[i].instance, list[i].short_id);
		data = fetch_dir(list[i].instance);
		if (ctx->lock)
			ctx->lock(ctx->lock_arg, list[i].instance, true);
		if (fetch_tree(ctx, &list[i], data, &manifest, &e) < 0 ||
		    materialize(ctx, data, manifest, &m, &e) < 0) {
			nua_say(ctx, "%s: %s", list[i].instance, e->msg);
			strbuf_addf(&failed, "%s%s: %s", failed.len ? "; " : "", list[i].instance,
				    e->msg);
			nua_error_free(e);
		} else {
			strv_add_unique(restored, &nr, &ar, list[i].instance);
		}
		if (ctx->lock)
			ctx->lock(ctx->lock_arg, list[i].instance, false);
		remove_tree(data);
		json_decref(manifest);
	}
	if (failed.len) {
		nua_error_set(err, NUA_EFAIL, "%s", failed.buf);
		goto out;
	}
	ret = 0;
out:
	strbuf_release(&failed);
	backup_snapshot_list_free(list, n);
	target_release(&t);
	json_decref(key);
	return ret;
}

/* ---- export and import ---- */

int backup_export(struct nua_ctx *ctx, const char *name, const char *path,
		  struct nua_error **err)
{
	struct staged st = { 0 };
	_cleanup_free_ char *dir = inst_file(name, NULL);
	_cleanup_free_ char *frozen_mark = inst_file(name, "backup/frozen");
	char *frozen = NULL;
	long long t0 = monotonic_ms();
	int ret = -1;

	if (path[0] != '/')
		return nua_error_set(err, NUA_EINPUT, "'%s' is a relative path: give an absolute one",
				     path);
	if (stage_instance(ctx, name, "export", &st, err) < 0)
		return nua_error_prefix(err, "cannot export '%s'", name);
	if (freeze_if_asked(ctx, &st, frozen_mark, &frozen, err) < 0)
		goto out;
	nua_say(ctx, "writing %s", path);
	ret = archive_tree_write(path, dir, (const char *const *)st.paths, err);
	if (frozen) {
		thaw(ctx, frozen, frozen_mark);
		free(frozen);
	}
	if (ret == 0) {
		struct stat sb;

		stat(path, &sb);
		nua_event(ctx, name, "export", "exported to %s (%lld bytes) in %.1f s", path,
		      (long long)sb.st_size, (double)(monotonic_ms() - t0) / 1000);
	}
out:
	staged_release(&st);
	if (ret < 0)
		return nua_error_prefix(err, "cannot export '%s'", name);
	return 0;
}

int backup_import(struct nua_ctx *ctx, const char *path, const char *name, const char *domain,
		  const char *key_text, char **made, struct nua_error **err)
{
	_cleanup_free_ char *base = xasprintf("import-%d-%lld", (int)getpid(),
					      (long long)monotonic_ms());
	_cleanup_free_ char *data = fetch_dir(base);
	_cleanup_free_ char *mpath = xasprintf("%s/backup/nua-backup.json", data);
	json_t *manifest = NULL, *key = NULL;
	const char *orig, *ref, *digest;
	struct image_rec have = { 0 };
	struct materialize m = { 0 };
	bool ok;
	int ret = -1;

	*made = NULL;
	if (path[0] != '/')
		return nua_error_set(err, NUA_EINPUT, "'%s' is a relative path: give an absolute one",
				     path);
	nua_say(ctx, "reading %s", path);
	if (archive_tree_read(path, data, err) < 0)
		return nua_error_prefix(err, "cannot import '%s'", path);
	if (!(manifest = manifest_load(mpath, err)))
		goto out;
	orig = json_string_value(json_object_get(json_object_get(manifest, "instance"), "name"));
	ref = json_string_value(json_object_get(json_object_get(manifest, "image"), "ref"));
	digest = json_string_value(json_object_get(json_object_get(manifest, "image"), "digest"));
	if (!orig || !ref) {
		nua_error_set(err, NUA_EINPUT, "'%s' names no instance or no image", path);
		goto out;
	}
	if (key_text) {
		if (!(key = parse_recovery_key(key_text, err)))
			goto out;
		m.old_key = json_string_value(json_object_get(key, "master_key"));
	}
	ok = state_image_get(ctx->st, ref, &have, NULL) == 0 && digest && have.digest &&
	     streq(have.digest, digest);
	image_rec_release(&have);
	if (!ok) {
		_cleanup_free_ char *tar = xasprintf("%s/backup/image.tar", data);

		nua_say(ctx, "importing image %s", ref);
		if (image_import(ctx->st, tar, ref, NULL, err) < 0)
			goto out;
	}
	m.name = name ? name : orig;
	/* Under its own name it is the same instance, moved (its env whole);
	 * under another, a copy with resources of its own. */
	m.same = streq(m.name, orig);
	m.domain = domain;
	if (ctx->lock && m.name != name)
		ctx->lock(ctx->lock_arg, m.name, true);
	ret = materialize(ctx, data, manifest, &m, err);
	if (ctx->lock && m.name != name)
		ctx->lock(ctx->lock_arg, m.name, false);
	if (ret == 0)
		*made = xstrdup(m.name);
out:
	remove_tree(data);
	json_decref(manifest);
	json_decref(key);
	if (ret < 0)
		return nua_error_prefix(err, "cannot import '%s'", path);
	return 0;
}

/* ---- schedules, retention, checks ---- */

#define DAY (24 * 3600)

int backup_policy_get(struct nua_ctx *ctx, struct backup_policy *p, struct nua_error **err)
{
	_cleanup_free_ char *freq = NULL, *keep = NULL;
	json_t *k;

	*p = (struct backup_policy){ DAY, 0, 7, 4, 6 };
	if (state_setting_get(ctx->st, "backup.frequency", &freq, err) < 0 ||
	    state_setting_get(ctx->st, "backup.keep", &keep, err) < 0)
		return -1;
	if (freq && atoll(freq) > 0)
		p->frequency = atoll(freq);
	if (keep && (k = json_loads(keep, 0, NULL))) {
		p->keep_last = (int)json_integer_value(json_object_get(k, "last"));
		p->keep_daily = (int)json_integer_value(json_object_get(k, "daily"));
		p->keep_weekly = (int)json_integer_value(json_object_get(k, "weekly"));
		p->keep_monthly = (int)json_integer_value(json_object_get(k, "monthly"));
		json_decref(k);
	}
	return 0;
}

int backup_policy_set(struct nua_ctx *ctx, const struct backup_policy *p, struct nua_error **err)
{
	_cleanup_free_ char *freq = xasprintf("%lld", (long long)p->frequency);
	json_t *k;
	char *text;
	int r;

	if (p->frequency < 60)
		return nua_error_set(err, NUA_EINPUT,
				     "a backup every %lld s is too often: 60 s "
				     "at least",
				     (long long)p->frequency);
	if (p->keep_last < 0 || p->keep_daily < 0 || p->keep_weekly < 0 || p->keep_monthly < 0 ||
	    p->keep_last + p->keep_daily + p->keep_weekly + p->keep_monthly == 0)
		return nua_error_set(err, NUA_EINPUT,
				     "a retention that keeps no snapshot: keep at least one");
	k = json_pack("{s:i, s:i, s:i, s:i}", "last", p->keep_last, "daily", p->keep_daily,
		      "weekly", p->keep_weekly, "monthly", p->keep_monthly);
	text = json_dumps(k, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(k);
	r = state_setting_set(ctx->st, "backup.frequency", freq, err);
	if (r == 0)
		r = state_setting_set(ctx->st, "backup.keep", text, err);
	free(text);
	if (r == 0)
		nua_event(ctx, NULL, "backup-policy",
		      "backups every %lld s; keep last %d, daily %d, weekly %d, monthly %d",
		      (long long)p->frequency, p->keep_last, p->keep_daily, p->keep_weekly,
		      p->keep_monthly);
	return r;
}

/* The package's [backup] frequency of image ref, 0 when it says none. */
static int64_t package_frequency(struct nua_ctx *ctx, const char *ref)
{
	struct image_rec img = { 0 };
	json_t *cfg;
	int64_t f = 0;

	if (state_image_get(ctx->st, ref, &img, NULL) < 0)
		return 0;
	cfg = json_loads(img.config ? img.config : "{}", 0, NULL);
	f = json_integer_value(json_object_get(json_object_get(cfg, "backup"), "frequency"));
	json_decref(cfg);
	image_rec_release(&img);
	return f > 0 ? f : 0;
}

char **backup_due(struct nua_ctx *ctx, int64_t now)
{
	struct instance_rec *list = NULL;
	struct backup_policy pol;
	size_t n = 0, len = 0, alloc = 0;
	char **due = NULL;

	ALLOC_GROW(due, 1, alloc);
	due[0] = NULL;
	if (backup_policy_get(ctx, &pol, NULL) < 0 ||
	    state_instance_list(ctx->st, &list, &n, NULL) < 0)
		return due;
	for (size_t i = 0; i < n; i++) {
		int64_t last = 0, freq;

		/* Resource servers are in their instances' dumps. */
		if (list[i].removing || resource_reserved_name(list[i].name))
			continue;
		if (state_backup_last(ctx->st, list[i].name, &last, NULL) < 0 ||
		    last < list[i].created_at)
			last = list[i].created_at;
		freq = package_frequency(ctx, list[i].image_ref);
		if (!freq)
			freq = pol.frequency;
		if (now >= last + freq)
			strv_add_unique(&due, &len, &alloc, list[i].name);
	}
	instance_rec_list_free(list, n);
	return due;
}

int backup_forget(struct nua_ctx *ctx, const char *name, struct nua_error **err)
{
	struct backup_policy pol;
	struct target *targets = NULL;
	size_t nt = 0;
	int ret = 0;

	if (backup_policy_get(ctx, &pol, err) < 0 || targets_load(ctx, &targets, &nt, err) < 0)
		return -1;
	for (size_t t = 0; t < nt; t++) {
		_cleanup_free_ char *tag = xasprintf("instance=%s", name);
		char last[16], daily[16], weekly[16], monthly[16];
		const char *argv[] = { "forget", "--tag",
				       tag,	 "--group-by",
				       "host",	 "--keep-last",
				       last,	 "--keep-daily",
				       daily,	 "--keep-weekly",
				       weekly,	 "--keep-monthly",
				       monthly,	 NULL };

		snprintf(last, sizeof(last), "%d", pol.keep_last);
		snprintf(daily, sizeof(daily), "%d", pol.keep_daily);
		snprintf(weekly, sizeof(weekly), "%d", pol.keep_weekly);
		snprintf(monthly, sizeof(monthly), "%d", pol.keep_monthly);
		struct strbuf out = STRBUF_INIT;
		const char *jargv[ARRAY_SIZE(argv) + 1];
		size_t k = 0, removed = 0, kept = 0, i;
		json_t *a, *g;

		for (k = 0; argv[k]; k++)
			jargv[k] = argv[k];
		jargv[k++] = "--json";
		jargv[k] = NULL;
		if (restic_ask(&targets[t], jargv, &out, err) < 0) {
			strbuf_release(&out);
			ret = -1;
			break;
		}
		/* One group per host: what it kept and what it removed. */
		a = json_loads(out.buf, 0, NULL);
		json_array_foreach(a, i, g) {
			size_t r;
			json_t *snap;

			kept += json_array_size(json_object_get(g, "keep"));
			removed += json_array_size(json_object_get(g, "remove"));
			/* Their records go with them. */
			json_array_foreach(json_object_get(g, "remove"), r, snap) {
				const char *id = json_string_value(json_object_get(snap, "id"));

				if (id)
					state_backup_remove(ctx->st, targets[t].name, id, NULL);
			}
		}
		json_decref(a);
		strbuf_release(&out);
		if (removed)
			nua_event(ctx, name, "backup-forget",
			      "retention in %s: %zu snapshots kept, %zu forgotten", targets[t].name,
			      kept, removed);
	}
	targets_free(targets, nt);
	return ret;
}

int backup_maintain(struct nua_ctx *ctx, int64_t now, bool now_all, struct nua_error **err)
{
	_cleanup_free_ char *at = NULL, *stamp = xasprintf("%lld", (long long)now);
	struct target *targets = NULL;
	size_t nt = 0;
	int ret = 0;

	if (state_setting_get(ctx->st, "backup.maintained_at", &at, err) < 0)
		return -1;
	/* The first check is a day after the first look. */
	if (!at && !now_all)
		return state_setting_set(ctx->st, "backup.maintained_at", stamp, err) < 0 ? -1 : 1;
	if (!now_all && now < atoll(at) + DAY)
		return 1;
	if (targets_load(ctx, &targets, &nt, err) < 0)
		return -1;
	for (size_t t = 0; t < nt; t++) {
		/* A different seventh of the data each day of the week. */
		char subset[16];
		const char *unlock[] = { "unlock", NULL };
		const char *prune[] = { "prune", "--quiet", NULL };
		const char *check[] = { "check", "--read-data-subset", subset, NULL };
		const char *check_all[] = { "check", "--read-data", NULL };
		struct nua_error *e = NULL;
		long long t0 = monotonic_ms();

		if (targets[t].url[0] == '/') {
			_cleanup_free_ char *cfg = xasprintf("%s/config", targets[t].url);

			if (access(cfg, F_OK) < 0)
				continue;
		}
		snprintf(subset, sizeof(subset), "%lld/7", (long long)(now / DAY % 7) + 1);
		nua_say(ctx, "pruning and checking backup target %s", targets[t].name);
		/* Locks left by a restic that was killed would stop prune. */
		restic_run(&targets[t], unlock, NULL, NULL, NULL, NULL, NULL);
		if (restic_run(&targets[t], prune, NULL, NULL, NULL, NULL, &e) < 0 ||
		    restic_run(&targets[t], now_all ? check_all : check, NULL, NULL, NULL, NULL,
			       &e) < 0) {
			nua_say(ctx, "backup target %s: %s", targets[t].name, e->msg);
			nua_event(ctx, NULL, "backup-check-failed", "backup target %s: %s",
			      targets[t].name, e->msg);
			nua_error_free(e);
			ret = -1;
			continue;
		}
		nua_event(ctx, NULL, "backup-check",
			  "backup target %s pruned and checked (data %s) in %.1f s",
			  targets[t].name, now_all ? "all" : subset,
			  (double)(monotonic_ms() - t0) / 1000);
		nua_say(ctx, "backup target %s: no errors", targets[t].name);
	}
	targets_free(targets, nt);
	state_setting_set(ctx->st, "backup.maintained_at", stamp, NULL);
	if (ret < 0)
		return nua_error_set(err, NUA_EFAIL,
				     "a backup target failed its check (see events)");
	return 0;
}

/* ---- targets, for the API ---- */

int backup_target_add(struct nua_ctx *ctx, const char *name, const char *url,
		      const char *sftp_command, const char *const *credentials,
		      struct nua_error **err)
{
	_cleanup_free_ char *key = xasprintf(TARGET_PREFIX "%s", name), *had = NULL;
	struct target *all = NULL, t = { 0 };
	size_t n = 0;
	int ret = -1;

	/* The default target first, so that adding one does not leave the
	 * server without its local copy. */
	if (targets_ready(ctx, &all, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (streq(all[i].url, url)) {
			nua_error_set(err, NUA_EINPUT,
				      "backup target '%s' is that repository already", all[i].name);
			goto out;
		}
	if (state_setting_get(ctx->st, key, &had, err) < 0)
		goto out;
	if (had) {
		nua_error_set(err, NUA_EINPUT, "backup target '%s' exists already", name);
		goto out;
	}
	t.name = xstrdup(name);
	t.url = xstrdup(url);
	t.sftp_command = sftp_command ? xstrdup(sftp_command) : NULL;
	t.env = json_object();
	for (size_t i = 0; credentials && credentials[i]; i++) {
		const char *eq = strchr(credentials[i], '=');
		_cleanup_free_ char *k = NULL;

		if (!eq)
			continue;
		k = xstrndup(credentials[i], (size_t)(eq - credentials[i]));
		if (streq(k, "RESTIC_PASSWORD"))
			t.password = xstrdup(eq + 1);
		else
			json_object_set_new(t.env, k, json_string(eq + 1));
	}
	if (!t.password)
		t.password = secret_random_string(40);
	if (repo_ensure(&t, err) < 0) {
		nua_error_prefix(err, "cannot use '%s' as a backup target", url);
		goto out;
	}
	if (target_save(ctx, &t, err) < 0)
		goto out;
	nua_event(ctx, NULL, "backup-target", "backup target '%s' added: %s", name, url);
	ret = 0;
out:
	target_release(&t);
	targets_free(all, n);
	return ret;
}

int backup_target_remove(struct nua_ctx *ctx, const char *name, struct nua_error **err)
{
	_cleanup_free_ char *key = xasprintf(TARGET_PREFIX "%s", name), *had = NULL;

	if (state_setting_get(ctx->st, key, &had, err) < 0)
		return -1;
	if (!had)
		return nua_error_set(err, NUA_EINPUT, "no backup target named '%s'", name);
	if (state_setting_set(ctx->st, key, NULL, err) < 0)
		return -1;
	nua_event(ctx, NULL, "backup-target", "backup target '%s' removed (its repository is kept)",
	      name);
	return 0;
}

int backup_target_list(struct nua_ctx *ctx, void **json, struct nua_error **err)
{
	struct target *all = NULL;
	size_t n = 0;
	json_t *a;

	if (targets_ready(ctx, &all, &n, err) < 0)
		return -1;
	a = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *keys = json_array();
		const char *k;
		json_t *v;

		json_object_foreach(all[i].env, k, v)
			json_array_append_new(keys, json_string(k));
		json_array_append_new(a, json_pack("{s:s, s:s, s:s?, s:o, s:I}", "name",
						   all[i].name, "url", all[i].url, "sftp_command",
						   all[i].sftp_command, "credentials", keys,
						   "created_at", (json_int_t)all[i].created_at));
	}
	targets_free(all, n);
	*json = a;
	return 0;
}

/* ---- the recovery key ---- */

int backup_key(struct nua_ctx *ctx, char **text, struct nua_error **err)
{
	struct target *targets = NULL;
	size_t nt = 0;
	char *master = NULL, *dump, *b64;
	json_t *o, *a;
	struct strbuf sb = STRBUF_INIT;
	size_t blen;

	if (targets_ready(ctx, &targets, &nt, err) < 0)
		return -1;
	if (secret_master_key_text(&master, err) < 0) {
		targets_free(targets, nt);
		return -1;
	}
	a = json_array();
	for (size_t i = 0; i < nt; i++)
		json_array_append_new(a,
				      json_pack("{s:s, s:s, s:s}", "name", targets[i].name, "url",
						targets[i].url, "password", targets[i].password));
	o = json_pack("{s:i, s:s, s:o}", "v", 1, "master_key", master, "targets", a);
	dump = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	explicit_bzero(master, strlen(master));
	free(master);
	blen = strlen(dump);
	{
		size_t cap = sodium_base64_encoded_len(blen, sodium_base64_VARIANT_ORIGINAL);

		b64 = xmalloc(cap);
		sodium_bin2base64(b64, cap, (const unsigned char *)dump, blen,
				  sodium_base64_VARIANT_ORIGINAL);
	}
	explicit_bzero(dump, blen);
	free(dump);
	strbuf_addstr(&sb,
		      "# Keep this off the server (a password manager, a printed copy).\n"
		      "# With it and a copy of a repository below, 'nua restore --all' brings\n"
		      "# every instance back on a new server.\n");
	for (size_t i = 0; i < nt; i++)
		strbuf_addf(&sb, "# target %s: %s%s\n", targets[i].name, targets[i].url,
			    targets[i].url[0] == '/' ? "  (on this server: copy it off too)" : "");
	strbuf_addf(&sb, "nua-recovery-v1:%s\n", b64);
	explicit_bzero(b64, strlen(b64));
	free(b64);
	targets_free(targets, nt);
	*text = strbuf_detach(&sb, NULL);
	return 0;
}
