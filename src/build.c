/* The builder: see build.h. */
#define _GNU_SOURCE
#include "build.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "base.h"
#include "config.h"
#include "image.h"
#include "mount.h"
#include "oci_spec.h"
#include "paths.h"
#include "strbuf.h"
#include "util.h"
#include "banned.h"

/* A build step that has run longer than this is killed. */
#define STEP_TIMEOUT_SEC 3600
/* Where the finished image's processes look for programs. */
#define IMAGE_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct build {
	struct state *st;
	struct runtime *rt;
	const struct build_options *opt;
	struct nua_config *cfg;
	char *layers_dir;	   /* $NUA_ROOT/layers */
	char *log_path;		   /* the build's full log */
	int log_fd;
	char **keys;		   /* layers made so far, bottom first */
	size_t nkeys, keys_alloc;
	int step, nsteps;
	int cached, built;
	long long t0;
};

static double seconds_since(long long t0) { return (double)(monotonic_ms() - t0) / 1000.0; }

/* The key of a step: SHA-256 of the key below it and its definition. */
static char *step_key(const char *parent, const char *definition)
{
	crypto_hash_sha256_state s;
	unsigned char h[crypto_hash_sha256_BYTES];
	char hex[2 * crypto_hash_sha256_BYTES + 1];

	crypto_hash_sha256_init(&s);
	crypto_hash_sha256_update(&s, (const unsigned char *)(parent ? parent : ""),
				  parent ? strlen(parent) : 0);
	crypto_hash_sha256_update(&s, (const unsigned char *)"\n", 1);
	crypto_hash_sha256_update(&s, (const unsigned char *)definition, strlen(definition));
	crypto_hash_sha256_final(&s, h);
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	return xstrdup(hex);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Add the tree under dir/rel to the hash: names in sorted order, with their
 * type, mode and content (a symlink's target), so that any change to the
 * package's files changes the files step's key. .git is left out, as it is
 * left out of the copy. */
static int hash_tree(crypto_hash_sha256_state *s, const char *dir, const char *rel,
		     struct nua_error **err)
{
	_cleanup_free_ char *path = rel[0] ? xasprintf("%s/%s", dir, rel) : xstrdup(dir);
	char **names = NULL;
	size_t n = 0, alloc = 0;
	DIR *d;
	struct dirent *e;
	int ret = 0;

	if (!(d = opendir(path)))
		return nua_error_set(err, NUA_EFAIL, "cannot read '%s': %s", path,
				     strerror(errno));
	while ((e = readdir(d))) {
		if (streq(e->d_name, ".") || streq(e->d_name, "..") ||
		    (!rel[0] && streq(e->d_name, ".git")))
			continue;
		ALLOC_GROW(names, n + 1, alloc);
		names[n++] = xstrdup(e->d_name);
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n && ret == 0; i++) {
		_cleanup_free_ char *sub = rel[0] ? xasprintf("%s/%s", rel, names[i])
						  : xstrdup(names[i]);
		_cleanup_free_ char *full = xasprintf("%s/%s", dir, sub);
		struct stat sb;
		struct strbuf head = STRBUF_INIT;

		if (lstat(full, &sb) < 0) {
			ret = nua_error_set(err, NUA_EFAIL, "cannot read '%s': %s", full,
					    strerror(errno));
			break;
		}
		strbuf_addf(&head, "%s\n%o\n%lld\n", sub, (unsigned)sb.st_mode,
			    (long long)sb.st_size);
		crypto_hash_sha256_update(s, (const unsigned char *)head.buf, head.len);
		strbuf_release(&head);
		if (S_ISDIR(sb.st_mode)) {
			ret = hash_tree(s, dir, sub, err);
		} else if (S_ISLNK(sb.st_mode)) {
			char target[4096];
			ssize_t len = readlink(full, target, sizeof(target));

			if (len > 0)
				crypto_hash_sha256_update(s, (const unsigned char *)target,
							  (size_t)len);
		} else if (S_ISREG(sb.st_mode)) {
			_cleanup_close_ int fd = open(full, O_RDONLY | O_CLOEXEC);
			unsigned char buf[65536];
			ssize_t got;

			if (fd < 0) {
				ret = nua_error_set(err, NUA_EFAIL, "cannot read '%s': %s", full,
						    strerror(errno));
				break;
			}
			while ((got = read(fd, buf, sizeof(buf))) > 0)
				crypto_hash_sha256_update(s, buf, (size_t)got);
			if (got < 0)
				ret = nua_error_set(err, NUA_EFAIL, "cannot read '%s': %s", full,
						    strerror(errno));
		}
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return ret;
}

char *file_tail(const char *path, int n)
{
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	int lines = 0;
	size_t i;

	if (read_file(path, &data, &len) < 0 || len == 0)
		return xstrdup("");
	i = len;
	if (data[i - 1] == '\n')
		i--;
	while (i > 0) {
		if (data[i - 1] == '\n' && ++lines == n)
			break;
		i--;
	}
	return xstrndup(data + i, len - i);
}

static void progress(struct build *b, const char *label, const char *detail, const char *result,
		     double secs)
{
	FILE *out = b->opt ? b->opt->progress : NULL;

	if (!out)
		return;
	if (b->opt->tty)
		fputs("\r\033[K", out);
	if (result)
		fprintf(out, "[%d/%d] %-15s %s (%s, %.1f s)\n", b->step, b->nsteps, label,
			detail, result, secs);
	else
		fprintf(out, "[%d/%d] %-15s %s ...", b->step, b->nsteps, label, detail);
	fflush(out);
}

static void log_line(struct build *b, const char *fmt, ...) PRINTF(2, 3);
static void log_line(struct build *b, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	strbuf_addch(&sb, '\n');
	if (write(b->log_fd, sb.buf, sb.len) < 0) {
		/* The log is best effort; the step's result is what counts. */
	}
	strbuf_release(&sb);
}

static void push_key(struct build *b, const char *key)
{
	ALLOC_GROW(b->keys, b->nkeys + 1, b->keys_alloc);
	b->keys[b->nkeys++] = xstrdup(key);
}

static const char *top_key(const struct build *b)
{
	return b->nkeys ? b->keys[b->nkeys - 1] : NULL;
}

/* A scratch directory under layers/ (same filesystem, so that an upper
 * directory can be renamed into a layer). */
static char *scratch_dir(struct build *b, const char *key, struct nua_error **err)
{
	char *dir = xasprintf("%s/.tmp-%.16s-%d", b->layers_dir, key, (int)getpid());
	int r;

	remove_tree(dir);
	if ((r = mkdir_p(dir, 0700)) < 0) {
		nua_error_set(err, NUA_EFAIL, "cannot create '%s': %s", dir, strerror(-r));
		free(dir);
		return NULL;
	}
	return dir;
}

static char **lower_dirs(struct build *b)
{
	char **v = xcalloc(b->nkeys + 1, sizeof(*v));

	for (size_t i = 0; i < b->nkeys; i++)
		v[i] = xasprintf("%s/%s/diff", b->layers_dir, b->keys[i]);
	return v;
}

#define HOST_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

/* Run script with /bin/sh -e as root in a container on the layers so far,
 * with the host's network (to reach the Debian mirror). The upper directory
 * is left in scratch/upper. */
static int run_in_container(struct build *b, const char *scratch, const char *label,
			    const char *cwd, const char *script, struct nua_error **err)
{
	_cleanup_free_ char *upper = xasprintf("%s/upper", scratch);
	_cleanup_free_ char *work = xasprintf("%s/work", scratch);
	_cleanup_free_ char *merged = xasprintf("%s/merged", scratch);
	_cleanup_free_ char *bundle = xasprintf("%s/bundle", scratch);
	_cleanup_free_ char *id = xasprintf("nua-build-%d-%d", (int)getpid(), b->step);
	char **lowers = lower_dirs(b);
	struct container_spec spec;
	const char *argv[] = { "/bin/sh", "-ec", script, NULL };
	int code = -1, ret = -1;
	bool mounted = false;

	container_spec_init(&spec);
	if (mkdir(upper, 0755) < 0 || mkdir(work, 0700) < 0 || mkdir(merged, 0755) < 0 ||
	    mkdir(bundle, 0700) < 0) {
		nua_error_set(err, NUA_EFAIL, "cannot create the directories of '%s': %s",
			      scratch, strerror(errno));
		goto out;
	}
	if (overlay_mount((const char *const *)lowers, b->nkeys, upper, work, merged, err) < 0)
		goto out;
	mounted = true;
	container_spec_set_rootfs(&spec, merged);
	container_spec_set_argv(&spec, argv);
	container_spec_set_cwd(&spec, cwd);
	container_spec_set_hostname(&spec, "nua-build");
	container_spec_setenv(&spec, "PATH=" IMAGE_PATH);
	container_spec_setenv(&spec, "HOME=/root");
	container_spec_setenv(&spec, "LANG=C.UTF-8");
	container_spec_setenv(&spec, "DEBIAN_FRONTEND=noninteractive");
	spec.net = CONTAINER_NET_HOST;
	spec.caps = CONTAINER_CAPS_BUILD;
	spec.no_new_privileges = false;
	if (access("/etc/resolv.conf", R_OK) == 0)
		container_spec_add_bind(&spec, "/etc/resolv.conf", "/etc/resolv.conf", true);
	/* The host's certificate authorities, for what a step fetches over
	 * HTTPS with a client of its own (npm): a machine behind a proxy
	 * with a CA of its own reaches the registry as its other programs
	 * do. Under a tmpfs /run, so that no mount point stays in the layer. */
	if (access(HOST_CA_BUNDLE, R_OK) == 0) {
		container_spec_add_tmpfs(&spec, "/run", 0, 0755);
		container_spec_add_bind(&spec, HOST_CA_BUNDLE, "/run/nua-host-ca.pem", true);
		container_spec_setenv(&spec, "NODE_EXTRA_CA_CERTS=/run/nua-host-ca.pem");
	}
	log_line(b, "==> %s: %s", label, script);
	if (b->rt->driver->run(b->rt, id, bundle, &spec, b->log_fd, STEP_TIMEOUT_SEC, &code,
			       err) < 0) {
		nua_error_prefix(err, "step '%s'", label);
		goto out;
	}
	if (code != 0) {
		_cleanup_free_ char *tail = file_tail(b->log_path, 15);

		nua_error_set(err, NUA_EFAIL, "step '%s' failed with exit status %d\n%s(full log: %s)",
			      label, code, tail, b->log_path);
		goto out;
	}
	ret = 0;
out:
	if (mounted && unmount_path(merged, ret == 0 ? err : NULL) < 0)
		ret = -1;
	container_spec_release(&spec);
	strv_free(lowers);
	return ret;
}

/* True when the root has layer key or takes it from the machine's layer
 * cache; a cache that fails is logged and the step runs. */
static bool cached_layer(struct build *b, const char *label, const char *key)
{
	struct nua_error *err = NULL;
	int r = layer_cache_take(key, &err);

	if (r < 0)
		log_line(b, "==> %s: not taken from the layer cache: %s", label,
			 err ? err->msg : "?");
	nua_error_free(err);
	return r > 0;
}

/* One step that makes a layer: found in the cache by its key, or made by
 * make() in a scratch directory whose "upper" becomes the layer. */
typedef int (*step_fn)(struct build *b, const char *scratch, const void *arg,
		       struct nua_error **err);

static int layer_step(struct build *b, const char *label, const char *detail,
		      const char *definition, step_fn make, const void *arg,
		      struct nua_error **err)
{
	_cleanup_free_ char *key = step_key(top_key(b), definition);
	_cleanup_free_ char *scratch = NULL, *upper = NULL;
	long long t0 = monotonic_ms();
	int ret = -1;

	b->step++;
	if (!b->opt->no_cache && cached_layer(b, label, key)) {
		log_line(b, "==> %s: cached (%s)", label, key);
		progress(b, label, detail, "cached", seconds_since(t0));
		push_key(b, key);
		b->cached++;
		return 0;
	}
	if (b->opt->tty)
		progress(b, label, detail, NULL, 0);
	if (!(scratch = scratch_dir(b, key, err)))
		return -1;
	if (make(b, scratch, arg, err) < 0)
		goto out;
	upper = xasprintf("%s/upper", scratch);
	/* After a forced rebuild the layer may exist already: layer_commit
	 * keeps it, the key saying both are the same step. */
	if (layer_commit(key, upper, NULL, err) < 0)
		goto out;
	{
		struct nua_error *cerr = NULL;

		if (layer_cache_put(key, &cerr) < 0)
			log_line(b, "==> %s: not put in the layer cache: %s", label,
				 cerr ? cerr->msg : "?");
		nua_error_free(cerr);
	}
	ret = 0;
	push_key(b, key);
	b->built++;
	progress(b, label, detail, "built", seconds_since(t0));
out:
	remove_tree(scratch);
	if (ret < 0 && b->opt->progress && b->opt->tty)
		fputs("\n", b->opt->progress);
	return ret;
}

/* ---- the steps ---- */

static int make_base(struct build *b, const char *scratch, const void *arg,
		     struct nua_error **err)
{
	_cleanup_free_ char *upper = xasprintf("%s/upper", scratch);

	(void)b;
	/* Hard links when the cache is on the same filesystem: the layer is a
	 * read-only lower directory, so sharing inodes with the cache is
	 * safe and costs no space. */
	if (copy_tree(arg, upper, true, err) < 0)
		return nua_error_prefix(err, "cannot copy the base");
	return 0;
}

static void add_packages(struct strbuf *sb, const struct config_strv *pkgs)
{
	for (size_t i = 0; i < pkgs->n; i++) {
		strbuf_addch(sb, ' ');
		strbuf_addstr(sb, pkgs->v[i]);
	}
}

struct script_step {
	const char *label;
	const char *cwd;
	const char *script;
};

static int make_script(struct build *b, const char *scratch, const void *arg,
		       struct nua_error **err)
{
	const struct script_step *s = arg;

	return run_in_container(b, scratch, s->label, s->cwd, s->script, err);
}

/* Package names reach a shell script: check them against Debian's own rule
 * for names (lowercase letters, digits, + - . ; starting with an alnum). */
static int check_packages(const struct config_strv *pkgs, const char *where,
			  struct nua_error **err)
{
	for (size_t i = 0; i < pkgs->n; i++) {
		const char *p = pkgs->v[i];
		bool ok = p[0] && (isalnum((unsigned char)p[0]));

		for (const char *c = p; ok && *c; c++)
			ok = (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '+' ||
			     *c == '-' || *c == '.' || *c == ':' || *c == '=';
		if (!ok)
			return nua_error_set(err, NUA_EINPUT, "%s: '%s' is not a Debian package name",
					     where, p);
	}
	return 0;
}

static int packages_step(struct build *b, const char *label, const struct config_strv *pkgs,
			 struct nua_error **err)
{
	struct strbuf script = STRBUF_INIT, detail = STRBUF_INIT, def = STRBUF_INIT;
	struct script_step s;
	int r;

	strbuf_addstr(&script, "apt-get update -q\n"
			       "apt-get install -y -q --no-install-recommends");
	add_packages(&script, pkgs);
	strbuf_addstr(&script, "\napt-get clean\nrm -rf /var/lib/apt/lists/*\n");
	for (size_t i = 0; i < pkgs->n; i++)
		strbuf_addf(&detail, "%s%s", i ? " " : "", pkgs->v[i]);
	strbuf_addf(&def, "packages\n%s", script.buf);
	s = (struct script_step){ label, "/", script.buf };
	r = layer_step(b, label, detail.buf, def.buf, make_script, &s, err);
	strbuf_release(&script);
	strbuf_release(&detail);
	strbuf_release(&def);
	return r;
}

struct files_arg {
	const char *dir;
	const char *config_json;
};

static int make_files(struct build *b, const char *scratch, const void *arg,
		      struct nua_error **err)
{
	const struct files_arg *f = arg;
	_cleanup_free_ char *upper = xasprintf("%s/upper", scratch);
	_cleanup_free_ char *dest = xasprintf("%s/nua/build", upper);
	_cleanup_free_ char *meta = xasprintf("%s/nua/metadata", upper);
	_cleanup_free_ char *json = xasprintf("%s/nua-config.json", meta);
	_cleanup_free_ char *src = xasprintf("%s/.", f->dir);
	_cleanup_free_ char *nua = xasprintf("%s/nua", upper);
	struct strbuf out = STRBUF_INIT, errs = STRBUF_INIT;
	struct nua_cmd cmd = NUA_CMD_INIT;
	int status, r, ret = -1;
	/* Owned by root whoever owns them on the host, modes and times
	 * kept. */
	const char *argv[] = { "/bin/cp", "-R", "--preserve=mode,timestamps,links",
			       "--no-preserve=ownership", src, dest, NULL };

	(void)b;
	if ((r = mkdir_p(dest, 0755)) < 0 || (r = mkdir_p(meta, 0755)) < 0) {
		nua_error_set(err, NUA_EFAIL, "cannot create '%s': %s", dest, strerror(-r));
		goto out;
	}
	chmod(nua, 0755);
	chmod(upper, 0755);
	cmd.argv = argv;
	if (nua_cmd_capture(&cmd, NULL, &out, &errs, &status, err) < 0)
		goto out;
	if (status != 0) {
		strbuf_rtrim(&errs);
		nua_error_set(err, NUA_EFAIL, "cannot copy the package '%s': %s", f->dir,
			      errs.buf);
		goto out;
	}
	/* The sources' own .git is history, not part of the app. */
	{
		_cleanup_free_ char *git = xasprintf("%s/.git", dest);

		remove_tree(git);
	}
	if (write_file_atomic(json, f->config_json, strlen(f->config_json), 0644) < 0) {
		nua_error_set(err, NUA_EFAIL, "cannot write '%s': %s", json, strerror(errno));
		goto out;
	}
	ret = 0;
out:
	strbuf_release(&out);
	strbuf_release(&errs);
	return ret;
}

static void add_commands(struct strbuf *sb, const struct config_strv *cmds)
{
	for (size_t i = 0; i < cmds->n; i++) {
		strbuf_addstr(sb, cmds->v[i]);
		strbuf_addch(sb, '\n');
	}
}

/* The commands as they run: each must succeed. sh -e does not stop on a
 * failure inside "a && b" (only its last command counts), so each
 * command's status is checked after it. The step's key is made from the
 * commands themselves (add_commands), which this does not change. */
static void add_checked_commands(struct strbuf *sb, const struct config_strv *cmds)
{
	for (size_t i = 0; i < cmds->n; i++)
		strbuf_addf(sb,
			    "%s\n"
			    "nua_status=$?; [ \"$nua_status\" -eq 0 ] || { echo \"nua: command %zu "
			    "of the list failed with exit status $nua_status\" >&2; exit "
			    "\"$nua_status\"; }\n",
			    cmds->v[i], i + 1);
}

/* The test commands in a container on the finished layers; the upper
 * directory is thrown away. A success is remembered by key. */
static int test_step(struct build *b, struct nua_error **err)
{
	const struct config_strv *t = &b->cfg->build.test;
	struct strbuf script = STRBUF_INIT, def = STRBUF_INIT;
	_cleanup_free_ char *key = NULL, *marker = NULL, *scratch = NULL;
	long long t0 = monotonic_ms();
	int ret = -1;

	b->step++;
	add_commands(&script, t);
	strbuf_addf(&def, "test\n%s", script.buf);
	key = step_key(top_key(b), def.buf);
	strbuf_reset(&script);
	add_checked_commands(&script, t);
	marker = xasprintf("%s/tests/%s", b->layers_dir, key);
	if (!b->opt->no_cache && access(marker, F_OK) == 0) {
		progress(b, "test", t->v[0], "passed before", seconds_since(t0));
		b->cached++;
		ret = 0;
		goto out;
	}
	if (b->opt->tty)
		progress(b, "test", t->v[0], NULL, 0);
	if (!(scratch = scratch_dir(b, key, err)))
		goto out;
	if (run_in_container(b, scratch, "test", "/nua/app", script.buf, err) < 0)
		goto out;
	{
		_cleanup_free_ char *dir = xasprintf("%s/tests", b->layers_dir);

		mkdir_p(dir, 0700);
		write_file_atomic(marker, "", 0, 0600);
	}
	progress(b, "test", t->v[0], "passed", seconds_since(t0));
	b->built++;
	ret = 0;
out:
	if (scratch)
		remove_tree(scratch);
	strbuf_release(&script);
	strbuf_release(&def);
	return ret;
}

/* The container port of [port.web] (or the only port), resolving
 * { key = "ENV" } through a plain [env] value; 0 when there is none. */
static int web_port(const struct nua_config *cfg)
{
	const struct config_port *p = config_port_find(cfg, "web");

	if (!p)
		return 0;
	if (p->container.number)
		return p->container.number;
	for (size_t i = 0; i < cfg->env.n; i++) {
		const struct config_env *e = &cfg->env.v[i];

		if (e->kind == CONFIG_ENV_VALUE && streq(e->key, p->container.env))
			return atoi(e->value);
	}
	return 0;
}

/* The start command as one shell line: [run] start commands run in order,
 * the last one replacing the shell (when it is a simple command) so that it
 * gets the signals. */
static char *start_script(const struct nua_config *cfg)
{
	struct strbuf sb = STRBUF_INIT;

	for (size_t i = 0; i < cfg->run.start.n; i++) {
		const char *c = cfg->run.start.v[i];

		if (i + 1 < cfg->run.start.n)
			strbuf_addf(&sb, "%s && ", c);
		else if (strpbrk(c, ";&|\n()`"))
			strbuf_addf(&sb, "%s", c); /* a compound command: no exec */
		else
			strbuf_addf(&sb, "exec %s", c);
	}
	return strbuf_detach(&sb, NULL);
}

/* "UID:GID" of user name in the image's /etc/passwd: the topmost layer's
 * copy of it. */
static int passwd_lookup(const struct build *b, const char *name, char *out, size_t size)
{
	size_t len = strlen(name);

	for (size_t i = b->nkeys; i-- > 0;) {
		_cleanup_free_ char *dir = layer_path(b->keys[i]), *file = NULL, *text = NULL;

		file = xasprintf("%s/diff/etc/passwd", dir);
		if (read_file(file, &text, NULL) < 0)
			continue;
		for (char *line = text; line && *line;) {
			char *next = strchr(line, '\n');
			unsigned long uid, gid;

			if (next)
				*next++ = '\0';
			/* name:x:uid:gid:... */
			if (strncmp(line, name, len) == 0 && line[len] == ':' &&
			    sscanf(line + len, ":%*[^:]:%lu:%lu:", &uid, &gid) == 2) {
				snprintf(out, size, "%lu:%lu", uid, gid);
				return 0;
			}
			line = next;
		}
		return -1;
	}
	return -1;
}

static int store_image(struct build *b, const char *ref, const char *config_json,
		       struct nua_error **err)
{
	_cleanup_free_ char *script = start_script(b->cfg);
	const char **layers = xcalloc(b->nkeys + 1, sizeof(*layers));
	const char *env[] = { "PATH=" IMAGE_PATH, "LANG=C.UTF-8", "HOME=/home/nua", NULL };
	const char *cmd[] = { "/bin/sh", "-c", script, NULL };
	int ports[2] = { web_port(b->cfg), 0 };
	const char *user = b->cfg->run.user ? b->cfg->run.user : "1000:1000";
	struct image_def def = { 0 };
	int r;

	char resolved[32];

	if (b->cfg->run.user && streq(b->cfg->run.user, "root"))
		user = "0:0";
	else if (b->cfg->run.user && streq(b->cfg->run.user, "nua"))
		user = "1000:1000";
	else if (b->cfg->run.user && strspn(user, "0123456789:") != strlen(user)) {
		if (passwd_lookup(b, user, resolved, sizeof(resolved)) < 0) {
			free(layers);
			return nua_error_set(err, NUA_EINPUT,
					     "[run] user '%s' is not in the image's /etc/passwd (a "
					     "package of [run] packages makes it, or give a uid)",
					     user);
		}
		user = resolved;
	}
	for (size_t i = 0; i < b->nkeys; i++)
		layers[i] = b->keys[i];
	def.ref = ref;
	def.layers = layers;
	def.env = env;
	def.cmd = b->cfg->run.start.n ? cmd : NULL;
	def.user = user;
	def.workdir = b->cfg->run.workdir ? b->cfg->run.workdir : "/nua/app";
	def.ports = ports[0] ? ports : NULL;
	def.nua_config_json = config_json;
	r = image_store(b->st, &def, err);
	free(layers);
	return r;
}

static int load_config(const char *dir, struct nua_config **cfg, struct nua_error **err)
{
	struct diag_list diags = DIAG_LIST_INIT;
	struct strbuf msg = STRBUF_INIT;

	if (config_load(dir, cfg, &diags, err) == 0)
		return 0;
	if (*err)
		return -1;
	strbuf_addf(&msg, "%zu problem%s in the package's nua-config.toml:", diags.n,
		    diags.n == 1 ? "" : "s");
	for (size_t i = 0; i < diags.n; i++)
		strbuf_addf(&msg, "\n%s:%d:%d: %s", diags.items[i].file, diags.items[i].line,
			    diags.items[i].col, diags.items[i].msg);
	nua_error_set(err, NUA_EINPUT, "%s", msg.buf);
	strbuf_release(&msg);
	diag_list_release(&diags);
	return -1;
}

static int open_log(struct build *b, struct nua_error **err)
{
	_cleanup_free_ char *dir = nua_root_path("logs/build");
	int r;

	if ((r = mkdir_p(dir, 0700)) < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot create '%s': %s", dir, strerror(-r));
	b->log_path = xasprintf("%s/%s.log", dir, b->cfg->metadata.id);
	b->log_fd = open(b->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_APPEND, 0600);
	if (b->log_fd < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot create '%s': %s", b->log_path,
				     strerror(errno));
	return 0;
}

int build_package(struct state *st, struct runtime *rt, const char *dir,
		  const struct build_options *opt, char **ref_out, struct nua_error **err)
{
	static const struct build_options no_opt = { false, NULL, false };
	struct build b = { .st = st, .rt = rt, .opt = opt ? opt : &no_opt, .log_fd = -1 };
	_cleanup_free_ char *base = NULL, *ref = NULL, *config_json = NULL, *src = NULL;
	_cleanup_free_ char *files_def = NULL, *cwd = NULL;
	struct strbuf script = STRBUF_INIT, def = STRBUF_INIT;
	struct config_strv purge = { 0 };
	crypto_hash_sha256_state hs;
	unsigned char h[crypto_hash_sha256_BYTES];
	char hex[2 * crypto_hash_sha256_BYTES + 1];
	json_t *json;
	int r, ret = -1;

	b.t0 = monotonic_ms();
	if (load_config(dir, &b.cfg, err) < 0)
		return -1;
	if (check_packages(&b.cfg->run.packages, "[run] packages", err) < 0 ||
	    check_packages(&b.cfg->build.packages, "[build] packages", err) < 0)
		goto out;
	if (b.cfg->build.src_url || b.cfg->build.git_url) {
		nua_error_set(err, NUA_EINPUT,
			      "%s: sources from src-url or git-url are not fetched by this "
			      "builder yet; put the sources in the package directory",
			      b.cfg->file);
		goto out;
	}
	if (b.cfg->build.base_image) {
		nua_error_set(err, NUA_EINPUT,
			      "%s: [build] base-image (wrapping a docker image) is not supported "
			      "by the oci builder; images start from Debian bookworm",
			      b.cfg->file);
		goto out;
	}
	ref = config_image_ref(b.cfg);
	json = config_to_json(b.cfg);
	config_json = json_dumps(json, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(json);
	b.layers_dir = nua_root_path("layers");
	if ((r = mkdir_p(b.layers_dir, 0700)) < 0) {
		nua_error_set(err, NUA_EFAIL, "cannot create '%s': %s", b.layers_dir,
			      strerror(-r));
		goto out;
	}
	if (open_log(&b, err) < 0)
		goto out;

	b.nsteps = 3 + (b.cfg->run.packages.n > 0) + 2 * (b.cfg->build.packages.n > 0) +
		   (b.cfg->build.test.n > 0);
	if (b.opt->progress)
		fprintf(b.opt->progress, "building %s\n", ref);

	/* base: debootstrap's first run takes a while, so a terminal sees the
	 * step before base_rootfs; layer_step then counts it. */
	if (b.opt->tty) {
		b.step++;
		progress(&b, "base", "debian bookworm", NULL, 0);
		b.step--;
	}
	if (base_rootfs(NULL, &base, err) < 0 ||
	    layer_step(&b, "base", "debian bookworm", base, make_base, base, err) < 0)
		goto out;

	if (b.cfg->run.packages.n && packages_step(&b, "run packages", &b.cfg->run.packages, err) < 0)
		goto out;
	if (b.cfg->build.packages.n &&
	    packages_step(&b, "build packages", &b.cfg->build.packages, err) < 0)
		goto out;

	/* files */
	src = b.cfg->dir ? xstrdup(b.cfg->dir) : NULL;
	if (!src) {
		nua_error_set(err, NUA_EINPUT, "'%s' is not a package directory", dir);
		goto out;
	}
	crypto_hash_sha256_init(&hs);
	crypto_hash_sha256_update(&hs, (const unsigned char *)config_json, strlen(config_json));
	if (hash_tree(&hs, src, "", err) < 0)
		goto out;
	crypto_hash_sha256_final(&hs, h);
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	files_def = xasprintf("files\n%s", hex);
	{
		struct files_arg fa = { src, config_json };

		if (layer_step(&b, "files", "/nua/build", files_def, make_files, &fa, err) < 0)
			goto out;
	}

	/* build commands */
	cwd = b.cfg->build.project && !streq(b.cfg->build.project, ".")
		      ? xasprintf("/nua/build/%s", b.cfg->build.project)
		      : xstrdup("/nua/build");
	strbuf_addstr(&script, "mkdir -p /nua/app\n");
	add_commands(&script, &b.cfg->build.build);
	strbuf_addf(&def, "build\n%s\n%s", cwd, script.buf);
	strbuf_reset(&script);
	strbuf_addstr(&script, "mkdir -p /nua/app\n");
	add_checked_commands(&script, &b.cfg->build.build);
	{
		struct script_step s = { "build", cwd, script.buf };
		const char *detail = b.cfg->build.build.n ? b.cfg->build.build.v[0] : "(none)";

		if (layer_step(&b, "build", detail, def.buf, make_script, &s, err) < 0)
			goto out;
	}

	/* cleanup: build packages purged, except those the app runs with */
	if (b.cfg->build.packages.n) {
		for (size_t i = 0; i < b.cfg->build.packages.n; i++) {
			bool kept = false;

			for (size_t j = 0; j < b.cfg->run.packages.n; j++)
				kept |= streq(b.cfg->build.packages.v[i], b.cfg->run.packages.v[j]);
			if (!kept) {
				ALLOC_GROW(purge.v, purge.n + 1, purge.alloc);
				purge.v[purge.n++] = b.cfg->build.packages.v[i];
			}
		}
		strbuf_reset(&script);
		strbuf_reset(&def);
		if (purge.n) {
			strbuf_addstr(&script, "apt-get purge -y -q --auto-remove");
			add_packages(&script, &purge);
			strbuf_addch(&script, '\n');
		}
		strbuf_addstr(&script, "apt-get clean\nrm -rf /var/lib/apt/lists/*\n");
		strbuf_addf(&def, "cleanup\n%s", script.buf);
		struct script_step s = { "cleanup", "/", script.buf };

		if (layer_step(&b, "cleanup", "build packages removed", def.buf, make_script, &s,
			       err) < 0)
			goto out;
	}

	if (b.cfg->build.test.n && test_step(&b, err) < 0)
		goto out;

	if (store_image(&b, ref, config_json, err) < 0)
		goto out;
	if (b.opt->progress)
		fprintf(b.opt->progress, "built %s in %.1f s (%d step%s cached, %d run)\n", ref,
			seconds_since(b.t0), b.cached, b.cached == 1 ? "" : "s", b.built);
	log_line(&b, "==> built %s", ref);
	if (ref_out)
		*ref_out = TAKE_PTR(ref);
	ret = 0;
out:
	if (ret < 0 && b.cfg)
		nua_error_prefix(err, "cannot build '%s'", b.cfg->metadata.id);
	free(purge.v);
	strbuf_release(&script);
	strbuf_release(&def);
	for (size_t i = 0; i < b.nkeys; i++)
		free(b.keys[i]);
	free(b.keys);
	if (b.log_fd >= 0)
		close(b.log_fd);
	free(b.log_path);
	free(b.layers_dir);
	config_free(b.cfg);
	return ret;
}

/* ---- the build worker ---- */

/* All of fd until its end, appended to sb. */
static int slurp_fd(int fd, struct strbuf *sb)
{
	char buf[4096];

	for (;;) {
		ssize_t got = read(fd, buf, sizeof(buf));

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -1;
		if (got == 0)
			return 0;
		strbuf_add(sb, buf, (size_t)got);
	}
}

int build_package_worker(const char *dir, const struct build_options *opt, char **ref,
			 struct nua_error **err)
{
	extern char **environ;
	char parent[24];
	const char *argv[8];
	size_t k = 0;
	int out[2] = { -1, -1 }, res[2] = { -1, -1 }, status = 0, ret = -1;
	struct strbuf result = STRBUF_INIT;
	struct nua_cmd cmd = NUA_CMD_INIT;
	json_t *j = NULL;
	pid_t pid;
	FILE *in = NULL;
	char *line = NULL;
	size_t cap = 0;

	snprintf(parent, sizeof(parent), "--parent=%d", (int)getpid());
	argv[k++] = "/proc/self/exe";
	argv[k++] = "__build";
	argv[k++] = parent;
	if (opt->no_cache)
		argv[k++] = "--no-cache";
	if (opt->tty)
		argv[k++] = "--tty";
	argv[k++] = "--";
	argv[k++] = dir;
	argv[k] = NULL;
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(res, O_CLOEXEC) < 0) {
		nua_error_set(err, NUA_EFAIL, "cannot make a pipe: %s", strerror(errno));
		goto out;
	}
	cmd.argv = argv;
	cmd.envp = (const char *const *)environ;
	cmd.out = out[1];
	cmd.err = STDERR_FILENO;
	cmd.extra_fd = res[1];
	if (nua_cmd_spawn(&cmd, &pid, err) < 0) {
		nua_error_prefix(err, "cannot start the build worker");
		goto out;
	}
	close(out[1]);
	close(res[1]);
	out[1] = res[1] = -1;
	in = fdopen(out[0], "r");
	out[0] = -1;
	while (in && getline(&line, &cap, in) > 0)
		if (opt->progress) {
			fputs(line, opt->progress);
			fflush(opt->progress);
		}
	if (slurp_fd(res[0], &result) < 0)
		strbuf_reset(&result);
	if (nua_cmd_wait(pid, -1, &status, err) < 0)
		goto out;
	j = json_loadb(result.buf, result.len, 0, NULL);
	if (json_is_string(json_object_get(j, "ref"))) {
		*ref = xstrdup(json_string_value(json_object_get(j, "ref")));
		ret = 0;
	} else if (json_is_string(json_object_get(j, "error"))) {
		json_int_t code = json_integer_value(json_object_get(j, "code"));

		nua_error_set(err, code == NUA_EINPUT ? NUA_EINPUT : NUA_EFAIL, "%s",
			      json_string_value(json_object_get(j, "error")));
	} else {
		nua_error_set(err, NUA_EFAIL, "the build worker ended without a result (%s)",
			      nua_wait_status_str(status));
	}
out:
	json_decref(j);
	free(line);
	if (in)
		fclose(in);
	for (int i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (res[i] >= 0)
			close(res[i]);
	}
	strbuf_release(&result);
	return ret;
}

static void write_result(int fd, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	size_t len = strlen(s);

	for (size_t off = 0; off < len;) {
		ssize_t w = write(fd, s + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	free(s);
	json_decref(j);
}

int build_worker_main(const char *dir, bool no_cache, bool tty, int result_fd)
{
	_cleanup_free_ char *db = nua_root_path("nua.db");
	struct build_options opt = { no_cache, stdout, tty };
	struct nua_error *err = NULL;
	struct state *st = NULL;
	struct runtime rt;
	char *ref = NULL;
	int ret;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (state_open(db, &st, &err) < 0 || runtime_oci_open(&rt, &err) < 0) {
		if (st)
			state_close(st);
		goto fail;
	}
	ret = build_package(st, &rt, dir, &opt, &ref, &err);
	runtime_release(&rt);
	state_close(st);
	if (ret < 0)
		goto fail;
	write_result(result_fd, json_pack("{s:s}", "ref", ref));
	free(ref);
	return 0;
fail:
	write_result(result_fd, json_pack("{s:s, s:i}", "error", err->msg, "code", err->status));
	ret = err->status == NUA_EINPUT ? NUA_EINPUT : NUA_EFAIL;
	nua_error_free(err);
	return ret;
}

void build_clean_stale(struct runtime *rt)
{
	_cleanup_free_ char *layers = nua_root_path("layers");
	char **ids = NULL;
	DIR *d;

	if (rt->driver->list(rt, &ids, NULL) == 0) {
		for (size_t i = 0; ids[i]; i++)
			if (strncmp(ids[i], "nua-build-", 10) == 0) {
				rt->driver->stop(rt, ids[i], 0, NULL);
				rt->driver->remove(rt, ids[i], NULL);
			}
		strv_free(ids);
	}
	if (!(d = opendir(layers)))
		return;
	for (struct dirent *de; (de = readdir(d));) {
		_cleanup_free_ char *dir = NULL, *merged = NULL;

		if (strncmp(de->d_name, ".tmp-", 5) != 0)
			continue;
		dir = xasprintf("%s/%s", layers, de->d_name);
		merged = xasprintf("%s/merged", dir);
		unmount_path(merged, NULL);
		remove_tree(dir);
	}
	closedir(d);
}

