/* Backing services attached to instances: see resource.h. */
#define _GNU_SOURCE
#include "resource.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "instance.h"
#include "paths.h"
#include "secret.h"
#include "strbuf.h"
#include "util.h"
#include "banned.h"

/* One provider per type: the server's port, the client run in its
 * container (commands on its standard input), and the commands. */
struct provider {
	const char *type;
	const char *version; /* of the server Nua runs (Debian 12's) */
	int port;
	const char *scheme; /* of the URL */
	const char *client; /* shell line run in the server's container */
	void (*provision)(struct strbuf *sb, const char *user, const char *db, const char *pw);
	void (*deprovision)(struct strbuf *sb, const char *user, const char *db, bool purge);
	/* A failure the client reports on its output but not in its status. */
	const char *error_mark;
	/* Shell lines printing the database DB of user USER as SQL, and
	 * reading such SQL back into it ($NUA_DB and $NUA_USER are set); NULL
	 * when the type has none. */
	const char *dump, *restore;
	/* The restore of a dump in the server's own archive format (what dump
	 * writes when it differs from SQL: PostgreSQL's custom format), told
	 * apart by its first bytes, magic; NULL when dump writes SQL. */
	const char *restore_archive, *magic;
};

static void pg_provision(struct strbuf *sb, const char *user, const char *db, const char *pw)
{
	strbuf_addf(sb,
		    "SELECT format('CREATE ROLE %%I LOGIN', '%s') WHERE NOT EXISTS "
		    "(SELECT 1 FROM pg_roles WHERE rolname = '%s')\\gexec\n"
		    "ALTER ROLE \"%s\" LOGIN PASSWORD '%s';\n"
		    "SELECT format('CREATE DATABASE %%I OWNER %%I', '%s', '%s') WHERE NOT EXISTS "
		    "(SELECT 1 FROM pg_database WHERE datname = '%s')\\gexec\n"
		    "REVOKE ALL ON DATABASE \"%s\" FROM PUBLIC;\n",
		    user, user, user, pw, db, user, db, db);
}

static void pg_deprovision(struct strbuf *sb, const char *user, const char *db, bool purge)
{
	if (purge)
		strbuf_addf(sb,
			    "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE);\n"
			    "DROP ROLE IF EXISTS \"%s\";\n",
			    db, user);
	else
		strbuf_addf(sb,
			    "SELECT format('ALTER ROLE %%I NOLOGIN', '%s') WHERE EXISTS "
			    "(SELECT 1 FROM pg_roles WHERE rolname = '%s')\\gexec\n",
			    user, user);
}

static void my_provision(struct strbuf *sb, const char *user, const char *db, const char *pw)
{
	strbuf_addf(sb,
		    "CREATE DATABASE IF NOT EXISTS `%s`;\n"
		    "CREATE USER IF NOT EXISTS '%s'@'%%' IDENTIFIED BY '%s';\n"
		    "ALTER USER '%s'@'%%' IDENTIFIED BY '%s' ACCOUNT UNLOCK;\n"
		    "GRANT ALL PRIVILEGES ON `%s`.* TO '%s'@'%%';\n"
		    "FLUSH PRIVILEGES;\n",
		    db, user, pw, user, pw, db, user);
}

static void my_deprovision(struct strbuf *sb, const char *user, const char *db, bool purge)
{
	if (purge)
		strbuf_addf(sb, "DROP DATABASE IF EXISTS `%s`;\nDROP USER IF EXISTS '%s'@'%%';\n", db,
			    user);
	else
		strbuf_addf(sb, "ALTER USER IF EXISTS '%s'@'%%' ACCOUNT LOCK;\n", user);
}

/* Redis: a user per instance, allowed its own key prefix ("USER:") only. */
static void redis_provision(struct strbuf *sb, const char *user, const char *db, const char *pw)
{
	(void)db;
	strbuf_addf(sb,
		    "ACL SETUSER %s reset on >%s ~%s:* &%s:* +@all -@admin -@dangerous\n"
		    "ACL SAVE\n",
		    user, pw, user, user);
}

static void redis_deprovision(struct strbuf *sb, const char *user, const char *db, bool purge)
{
	(void)db;
	if (purge)
		strbuf_addf(sb,
			    "EVAL \"local n = 0 for _, k in ipairs(redis.call('KEYS', ARGV[1])) do "
			    "redis.call('DEL', k) n = n + 1 end return n\" 0 %s:*\n"
			    "ACL DELUSER %s\nACL SAVE\n",
			    user, user);
	else
		strbuf_addf(sb, "ACL SETUSER %s off\nACL SAVE\n", user);
}

/* Redis has no per-prefix dump: a script run in the server writes the
 * instance's keys as the commands that make them again (SET, HSET, RPUSH,
 * SADD, ZADD, PEXPIRE), every string quoted as redis-cli reads it back.
 * Keys are written without the instance's prefix ("USER:"), which the
 * restore puts back: a dump restored into a copy of the instance fills the
 * copy's keys, never the original's. */
#define REDIS_LUA_DUMP                                                                            \
	"local function q(s)\n"                                                                  \
	"  s = s:gsub('[\\\\\"]', function(c) return '\\\\' .. c end)\n"                        \
	"  s = s:gsub('[%z\\1-\\31\\127-\\255]', function(c)\n"                                 \
	"    return string.format('\\\\x%02x', c:byte()) end)\n"                                 \
	"  return '\"' .. s .. '\"'\n"                                                             \
	"end\n"                                                                                  \
	"local pre = string.sub(ARGV[1], 1, -2)\n"                                               \
	"local function rel(k) return string.sub(k, #pre + 1) end\n"                            \
	"local out = {}\n"                                                                       \
	"for _, k in ipairs(redis.call('KEYS', ARGV[1])) do\n"                                   \
	"  local t = redis.call('TYPE', k).ok\n"                                                 \
	"  if t == 'string' then table.insert(out, 'SET ' .. q(rel(k)) .. ' ' .. q(redis.call('GET', k)))\n" \
	"  elseif t == 'hash' then local h = redis.call('HGETALL', k)\n"                         \
	"    for i = 1, #h, 2 do table.insert(out, 'HSET ' .. q(rel(k)) .. ' ' .. q(h[i]) .. ' ' .. q(h[i + 1])) end\n" \
	"  elseif t == 'list' then for _, v in ipairs(redis.call('LRANGE', k, 0, -1)) do\n"      \
	"    table.insert(out, 'RPUSH ' .. q(rel(k)) .. ' ' .. q(v)) end\n"                            \
	"  elseif t == 'set' then for _, v in ipairs(redis.call('SMEMBERS', k)) do\n"            \
	"    table.insert(out, 'SADD ' .. q(rel(k)) .. ' ' .. q(v)) end\n"                             \
	"  elseif t == 'zset' then local z = redis.call('ZRANGE', k, 0, -1, 'WITHSCORES')\n"     \
	"    for i = 1, #z, 2 do table.insert(out, 'ZADD ' .. q(rel(k)) .. ' ' .. z[i + 1] .. ' ' .. q(z[i])) end\n" \
	"  end\n"                                                                                \
	"  local ttl = redis.call('PTTL', k)\n"                                                  \
	"  if ttl > 0 then table.insert(out, 'PEXPIRE ' .. q(rel(k)) .. ' ' .. ttl) end\n"            \
	"end\n"                                                                                  \
	"return table.concat(out, '\\n')\n"
#define REDIS_DUMP                                                                                \
	"export REDISCLI_AUTH=\"$REDIS_PASSWORD\"; umask 077; cat >/tmp/nua-dump.lua <<'LUA'\n"   \
	REDIS_LUA_DUMP "LUA\n"                                                                    \
	"redis-cli -h 127.0.0.1 --raw --eval /tmp/nua-dump.lua , \"$NUA_USER:*\"; r=$?; "          \
	"rm -f /tmp/nua-dump.lua; exit $r"
/* A restore replaces the instance's keys: the old ones go first. Each
 * command's key gets the instance's prefix (but in a dump of older nua,
 * whose keys have it already). */
#define REDIS_RESTORE                                                                             \
	"export REDISCLI_AUTH=\"$REDIS_PASSWORD\"; "                                              \
	"redis-cli -h 127.0.0.1 EVAL \"for _, k in ipairs(redis.call('KEYS', ARGV[1])) do "        \
	"redis.call('DEL', k) end\" 0 \"$NUA_USER:*\" >/dev/null && "                             \
	"sed -e \"/^[A-Z]* \\\"$NUA_USER:/b\" -e \"s/^\\([A-Z]*\\) \\\"/\\1 \\\"$NUA_USER:/\" | "     \
	"redis-cli -h 127.0.0.1"

static const struct provider providers[] = {
	{ "postgres", "15", 5432, "postgresql",
	  "exec /nua/app/bin/psql -X -q -v ON_ERROR_STOP=1 -h /tmp -U postgres -d postgres",
	  pg_provision, pg_deprovision, NULL,
	  /* The custom format, uncompressed (the backups' repository
	   * compresses and deduplicates). Objects restored as the instance's
	   * user are the instance's. */
	  "exec /nua/app/bin/pg_dump -h /tmp -U postgres --format=custom --compress=0 --no-owner "
	  "--no-privileges \"$NUA_DB\"",
	  /* SQL, as older versions of Nua dumped. */
	  "exec /nua/app/bin/psql -X -q -v ON_ERROR_STOP=1 -h /tmp -U \"$NUA_USER\" \"$NUA_DB\"",
	  "exec /nua/app/bin/pg_restore -h /tmp -U \"$NUA_USER\" -d \"$NUA_DB\" --clean --if-exists "
	  "--no-owner --no-privileges --single-transaction --exit-on-error",
	  "PGDMP" },
	{ "mariadb", "10.11", 3306, "mysql",
	  "MYSQL_PWD=\"$MARIADB_ROOT_PASSWORD\" exec mariadb --socket=/tmp/mysqld.sock -uroot",
	  my_provision, my_deprovision, NULL,
	  "MYSQL_PWD=\"$MARIADB_ROOT_PASSWORD\" exec mariadb-dump --socket=/tmp/mysqld.sock "
	  /* No date: an unchanged database dumps the same bytes (which a
	   * backup stores once). */
	  "-uroot --single-transaction --skip-lock-tables --skip-dump-date \"$NUA_DB\"",
	  "MYSQL_PWD=\"$MARIADB_ROOT_PASSWORD\" exec mariadb --socket=/tmp/mysqld.sock -uroot "
	  "\"$NUA_DB\"",
	  NULL, NULL },
	{ "redis", "7.0", 6379, "redis", "REDISCLI_AUTH=\"$REDIS_PASSWORD\" exec redis-cli -h 127.0.0.1",
	  redis_provision, redis_deprovision, "ERR", REDIS_DUMP, REDIS_RESTORE, NULL, NULL },
};

static const struct provider *provider_of(const char *type)
{
	for (size_t i = 0; i < ARRAY_SIZE(providers); i++)
		if (streq(providers[i].type, type))
			return &providers[i];
	return NULL;
}

bool resource_type_supported(const char *type) { return provider_of(type) != NULL; }

char *resource_server_name(const char *type) { return xasprintf("nua-%s", type); }

bool resource_reserved_name(const char *name) { return starts_with(name, "nua-"); }

/* "notes" and "db": "notes_db", a name every server takes as is. */
static char *ident(const char *instance, const char *name)
{
	char *s = xasprintf("%s_%s", instance, name);

	for (char *p = s; *p; p++)
		if (*p == '-')
			*p = '_';
	return s;
}

/* "db": "DB_", the prefix of its variables. */
static char *var_prefix(const char *name)
{
	char *s = xasprintf("%s_", name);

	for (char *p = s; *p; p++)
		*p = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
	return s;
}

/* Where the packages of the servers are. */
static char *services_dir(void)
{
	return nua_share_dir("services", "NUA_SERVICES");
}

static pthread_mutex_t servers_mu = PTHREAD_MUTEX_INITIALIZER;

char *resource_server_for(const char *instance, const char *name, const char *type,
			  bool dedicated, struct nua_error **err)
{
	char *s;

	if (!dedicated)
		return resource_server_name(type);
	s = xasprintf("nua-%s-%s", instance, name);
	if (!valid_name(s, 40)) {
		nua_error_set(err, NUA_EINPUT,
			      "the dedicated server of resource '%s' would be named '%s', over 40 "
			      "characters: give the instance a shorter name",
			      name, s);
		free(s);
		return NULL;
	}
	return s;
}

const char *resource_server_of(const struct env_rec *env, size_t n, const char *name)
{
	const char *host = resource_env_lookup(env, n, name, "host");

	/* Nua's servers are instances, named nua-...; an external server is
	 * anything else (a host name with dots, an address). */
	if (!host || !resource_reserved_name(host) || !valid_name(host, 40))
		return NULL;
	return host;
}

int resource_ensure_server(struct nua_ctx *ctx, const char *type, const char *server,
			   struct nua_error **err)
{
	const char *name = server;
	_cleanup_free_ char *dir = NULL, *pkg = NULL;
	struct instance_rec in = { 0 };
	int ret = -1;

	if (!provider_of(type))
		return nua_error_set(err, NUA_EINPUT, "resources of type '%s' are not supported "
						      "(postgres, mariadb and redis are)",
				     type);
	pthread_mutex_lock(&servers_mu);
	if (state_instance_get(ctx->st, name, &in, NULL) == 0) {
		bool stopped = streq(in.desired, "stopped");

		instance_rec_release(&in);
		/* Under the server's lock (after a restart its supervisor
		 * may be making): converging one that runs changes nothing,
		 * and one that should run but does not (Nua was stopped with
		 * its apps) starts now, before the app that needs it. */
		if (ctx->lock)
			ctx->lock(ctx->lock_arg, name, true);
		ret = stopped ? instance_start(ctx, name, err) : instance_converge(ctx, name, err);
		if (ctx->lock)
			ctx->lock(ctx->lock_arg, name, false);
		if (ret < 0)
			nua_error_prefix(err, "the %s server ('%s') does not run", type, name);
		goto out;
	}
	dir = services_dir();
	pkg = xasprintf("%s/%s", dir, type);
	if (!is_dir(pkg)) {
		nua_error_set(err, NUA_EFAIL,
			      "the package of the %s server is not in '%s' (set NUA_SERVICES)", type,
			      dir);
		goto out;
	}
	{
		struct deploy_request req = { pkg, name, NULL, NULL, false, true, NULL };

		if (ctx->progress)
			fprintf(ctx->progress, "starting the %s server (%s)\n", type, name);
		if (ctx->lock)
			ctx->lock(ctx->lock_arg, name, true);
		ret = instance_deploy(ctx, &req, NULL, err);
		if (ctx->lock)
			ctx->lock(ctx->lock_arg, name, false);
		if (ret < 0)
			nua_error_prefix(err, "cannot start the %s server", type);
	}
out:
	pthread_mutex_unlock(&servers_mu);
	return ret;
}

static void env_add(struct env_rec **env, size_t *n, size_t *alloc, const char *prefix,
		    const char *key, const char *value, bool secret)
{
	ALLOC_GROW(*env, *n + 1, *alloc);
	(*env)[*n].key = xasprintf("%s%s", prefix, key);
	(*env)[*n].value = xstrdup(value);
	(*env)[*n].secret = secret;
	(*n)++;
}

int resource_new_env(const char *instance, const char *name, const char *type, const char *server,
		     struct env_rec **env, size_t *n, size_t *alloc, struct nua_error **err)
{
	const struct provider *p = provider_of(type);
	_cleanup_free_ char *prefix = var_prefix(name), *user = ident(instance, name);
	_cleanup_free_ char *pw = NULL, *url = NULL;
	const char *host = server;
	char port[16];

	if (!p)
		return nua_error_set(err, NUA_EINPUT,
				     "resource '%s' has the type '%s', which this nua does not "
				     "provision (postgres, mariadb, redis)",
				     name, type);
	pw = secret_random_string(32);
	snprintf(port, sizeof(port), "%d", p->port);
	if (streq(type, "redis"))
		url = xasprintf("%s://%s:%s@%s:%s/0", p->scheme, user, pw, host, port);
	else
		url = xasprintf("%s://%s:%s@%s:%s/%s", p->scheme, user, pw, host, port, user);
	env_add(env, n, alloc, prefix, "URL", url, true);
	env_add(env, n, alloc, prefix, "HOST", host, false);
	env_add(env, n, alloc, prefix, "PORT", port, false);
	env_add(env, n, alloc, prefix, "USER", user, false);
	env_add(env, n, alloc, prefix, "PASSWORD", pw, true);
	if (streq(type, "redis")) {
		_cleanup_free_ char *kp = xasprintf("%s:", user);

		env_add(env, n, alloc, prefix, "DB", "0", false);
		env_add(env, n, alloc, prefix, "PREFIX", kp, false);
	} else {
		env_add(env, n, alloc, prefix, "DB", user, false);
	}
	return 0;
}

/* Whether NAME_URL of resource name is key. */
static bool own_url_is(const char *name, const char *key)
{
	_cleanup_free_ char *prefix = var_prefix(name);
	size_t len = strlen(prefix);

	return strncmp(prefix, key, len) == 0 && streq(key + len, "URL");
}

bool resource_owned_key(const char *key, const char *const *names, const char *const *types,
			size_t n)
{
	static const char *const suffixes[] = { "URL", "HOST", "PORT", "USER",
						"PASSWORD", "DB", "PREFIX", NULL };

	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *prefix = names[i] ? var_prefix(names[i]) : NULL;
		const char *alias = resource_url_alias(names, types, n, i);

		if (alias && streq(key, alias))
			return true;
		if (!prefix || !starts_with(key, prefix))
			continue;
		for (size_t k = 0; suffixes[k]; k++)
			if (streq(key + strlen(prefix), suffixes[k]))
				return true;
	}
	return false;
}

const char *resource_url_alias(const char *const *names, const char *const *types, size_t n,
			       size_t i)
{
	const char *alias;

	if (i >= n || !names[i] || !types[i])
		return NULL;
	alias = streq(types[i], "redis") ? "REDIS_URL" : "DATABASE_URL";
	for (size_t k = 0; k < n; k++) {
		if (!names[k] || !types[k])
			continue;
		if (own_url_is(names[k], alias))
			return NULL;
		if (k < i && streq(types[k], "redis") == streq(types[i], "redis"))
			return NULL;
	}
	return alias;
}

const char *resource_env_lookup(const struct env_rec *env, size_t n, const char *name,
				const char *key)
{
	_cleanup_free_ char *prefix = var_prefix(name), *want = NULL;

	if (strcasecmp(key, "database") == 0 || strcasecmp(key, "name") == 0)
		key = "db";
	want = xasprintf("%s%s", prefix, key);
	for (char *p = want; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	for (size_t i = 0; i < n; i++)
		if (streq(env[i].key, want))
			return env[i].value;
	return NULL;
}

/* The argument vector that runs the shell line in the container of
 * server, which must run (caller frees with strv_free); NULL with *err. */
static char **server_argv(struct nua_ctx *ctx, const struct provider *p, const char *server,
			  const char *line, struct nua_error **err)
{
	_cleanup_free_ char *id = NULL;
	const char *cmd[] = { "/bin/sh", "-c", line, NULL };
	struct instance_run run;

	if (instance_run_info(ctx, server, &run, err) < 0)
		return NULL;
	if (run.pid <= 0) {
		instance_run_release(&run);
		nua_error_set(err, NUA_EFAIL, "the %s server ('%s') does not run", p->type, server);
		return NULL;
	}
	id = instance_container_id(server, run.generation);
	instance_run_release(&run);
	return ctx->rt.driver->exec_argv(&ctx->rt, id, cmd);
}

/* Run the provider's client in the server's container with script on its
 * standard input. */
static int run_in_server(struct nua_ctx *ctx, const struct provider *p, const char *name,
			 const char *script, struct nua_error **err)
{
	_cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
	_cleanup_strbuf_ struct strbuf errs = STRBUF_INIT;
	struct nua_cmd c = NUA_CMD_INIT;
	char **argv;
	int status, r;

	if (!(argv = server_argv(ctx, p, name, p->client, err)))
		return -1;
	c.argv = (const char *const *)argv;
	r = nua_cmd_capture(&c, script, &out, &errs, &status, err);
	strv_free(argv);
	if (r < 0)
		return -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    (p->error_mark && strstr(out.buf, p->error_mark))) {
		strbuf_rtrim(&errs);
		strbuf_rtrim(&out);
		return nua_error_set(err, NUA_EFAIL, "the %s server refused: %s", p->type,
				     errs.len ? errs.buf : out.buf);
	}
	return 0;
}

int resource_provision(struct nua_ctx *ctx, const char *instance, const char *name,
		       const char *type, const char *server, const struct env_rec *env, size_t n,
		       struct nua_error **err)
{
	const struct provider *p = provider_of(type);
	_cleanup_free_ char *user = ident(instance, name);
	_cleanup_strbuf_ struct strbuf script = STRBUF_INIT;
	const char *pw = resource_env_lookup(env, n, name, "password");

	if (!p)
		return nua_error_set(err, NUA_EINPUT, "resource type '%s' is not supported", type);
	if (!pw)
		return nua_error_set(err, NUA_EFAIL,
				     "instance '%s' has no password for its resource '%s'", instance,
				     name);
	p->provision(&script, user, user, pw);
	if (run_in_server(ctx, p, server, script.buf, err) < 0)
		return nua_error_prefix(err, "cannot provision resource '%s' of '%s'", name,
					instance);
	return 0;
}

int resource_deprovision(struct nua_ctx *ctx, const char *instance, const char *name,
			 const char *type, const char *server, bool purge, struct nua_error **err)
{
	const struct provider *p = provider_of(type);
	_cleanup_free_ char *user = ident(instance, name);
	_cleanup_strbuf_ struct strbuf script = STRBUF_INIT;

	if (!p)
		return 0;
	p->deprovision(&script, user, user, purge);
	if (run_in_server(ctx, p, server, script.buf, err) < 0)
		return nua_error_prefix(err, "cannot %s resource '%s' of '%s'",
					purge ? "drop" : "deprovision", name, instance);
	return 0;
}

/* Run line (a provider's dump or restore) in the server's container, its
 * standard input and output on fd. */
static int stream_in_server(struct nua_ctx *ctx, const struct provider *p, const char *server,
			    const char *line, const char *instance, const char *name, int in_fd,
			    int out_fd, struct nua_error **err)
{
	_cleanup_free_ char *user = ident(instance, name);
	_cleanup_free_ char *script = xasprintf("NUA_DB='%s' NUA_USER='%s'; %s", user, user, line);
	_cleanup_close_ int errfd = -1;
	struct nua_cmd c = NUA_CMD_INIT;
	char **argv;
	pid_t pid;
	int status, r;

	if (!(argv = server_argv(ctx, p, server, script, err)))
		return -1;
	errfd = memfd_create("nua-err", MFD_CLOEXEC);
	c.argv = (const char *const *)argv;
	c.in = in_fd;
	c.out = out_fd;
	c.err = errfd;
	r = nua_cmd_spawn(&c, &pid, err);
	strv_free(argv);
	if (r < 0 || nua_cmd_wait(pid, -1, &status, err) < 0)
		return -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char buf[1024];
		ssize_t got = errfd >= 0 ? pread(errfd, buf, sizeof(buf) - 1, 0) : -1;

		buf[got > 0 ? got : 0] = '\0';
		for (ssize_t i = got - 1; i >= 0 && (buf[i] == '\n' || buf[i] == ' '); i--)
			buf[i] = '\0';
		return nua_error_set(err, NUA_EFAIL, "the %s server failed (%s): %s", p->type,
				     nua_wait_status_str(status), buf);
	}
	return 0;
}

bool pg_archive_time(const unsigned char *h, size_t len, size_t *off, size_t *n)
{
	size_t int_size, at;
	unsigned minor;

	/* "PGDMP", version major.minor.rev, int size, offset size, format,
	 * then the compression (an int before 1.15, one byte since), then the
	 * time as 7 ints (a sign byte and int size bytes each). */
	if (len < 11 || memcmp(h, "PGDMP", 5) != 0 || h[5] != 1)
		return false;
	minor = h[6];
	int_size = h[8];
	if (minor < 12 || minor > 16 || int_size < 1 || int_size > 8)
		return false;
	at = 11 + (minor >= 15 ? 1 : 1 + int_size);
	if (len < at + 7 * (1 + int_size))
		return false;
	*off = at;
	*n = 7 * (1 + int_size);
	return true;
}

/* Whether the file at fd holds what path holds. */
static bool same_file_content(int fd, const char *path)
{
	_cleanup_close_ int other = open(path, O_RDONLY | O_CLOEXEC);
	static const size_t chunk = 1 << 20;
	_cleanup_free_ char *a = NULL, *b = NULL;
	struct stat sa, sb;
	off_t at = 0;

	if (other < 0 || fstat(fd, &sa) < 0 || fstat(other, &sb) < 0 || sa.st_size != sb.st_size)
		return false;
	a = xmalloc(chunk);
	b = xmalloc(chunk);
	while (at < sa.st_size) {
		ssize_t x = pread(fd, a, chunk, at), y = pread(other, b, chunk, at);

		if (x <= 0 || x != y || memcmp(a, b, (size_t)x) != 0)
			return false;
		at += x;
	}
	return true;
}

int resource_dump(struct nua_ctx *ctx, const char *instance, const char *name, const char *type,
		  const char *server, const char *path, struct nua_error **err)
{
	const struct provider *p = provider_of(type);
	_cleanup_free_ char *tmp = xasprintf("%s.tmp", path);
	unsigned char head[128];
	size_t off, n;
	ssize_t got;
	int fd, r;

	if (!p || !p->dump)
		return nua_error_set(err, NUA_EINPUT, "resources of type '%s' have no dump", type);
	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot create '%s': %s", tmp, strerror(errno));
	r = stream_in_server(ctx, p, server, p->dump, instance, name, -1, fd, err);
	/* PostgreSQL's archive says when it was made: without that time, an
	 * unchanged database dumps the same bytes. */
	if (r == 0 && p->magic && (got = pread(fd, head, sizeof(head), 0)) > 0 &&
	    pg_archive_time(head, (size_t)got, &off, &n)) {
		static const unsigned char zeros[64];

		if (pwrite(fd, zeros, n, (off_t)off) != (ssize_t)n)
			r = nua_error_set(err, NUA_EFAIL, "cannot write '%s': %s", tmp,
					  strerror(errno));
	}
	/* The same dump as before keeps its file: a backup then sees by its
	 * metadata that it did not change, and does not read it again. */
	if (r == 0 && same_file_content(fd, path)) {
		close(fd);
		unlink(tmp);
		return 0;
	}
	if (r == 0 && fsync(fd) < 0)
		r = nua_error_set(err, NUA_EFAIL, "cannot write '%s': %s", tmp, strerror(errno));
	close(fd);
	if (r == 0 && rename(tmp, path) < 0)
		r = nua_error_set(err, NUA_EFAIL, "cannot write '%s': %s", path, strerror(errno));
	if (r < 0) {
		unlink(tmp);
		return nua_error_prefix(err, "cannot dump resource '%s' of '%s'", name, instance);
	}
	return 0;
}

int resource_restore(struct nua_ctx *ctx, const char *instance, const char *name,
		     const char *type, const char *server, const char *path, struct nua_error **err)
{
	const struct provider *p = provider_of(type);
	_cleanup_close_ int fd = -1;
	const char *line = p ? p->restore : NULL;

	if (!p || !p->restore)
		return nua_error_set(err, NUA_EINPUT, "resources of type '%s' have no restore",
				     type);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return nua_error_set(err, NUA_EINPUT, "cannot read '%s': %s", path, strerror(errno));
	if (p->magic) {
		char head[8] = { 0 };
		size_t len = strlen(p->magic);

		if (pread(fd, head, len, 0) == (ssize_t)len && memcmp(head, p->magic, len) == 0)
			line = p->restore_archive;
	}
	if (stream_in_server(ctx, p, server, line, instance, name, fd, -1, err) < 0)
		return nua_error_prefix(err, "cannot restore resource '%s' of '%s'", name,
					instance);
	return 0;
}

void resource_url_release(struct resource_url *u)
{
	free(u->scheme);
	free(u->user);
	free(u->password);
	free(u->host);
	free(u->db);
	memset(u, 0, sizeof(*u));
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* s[0..len) with %XX decoded; NULL for a bad escape or a NUL byte. */
static char *url_decode(const char *s, size_t len)
{
	char *out = xmalloc(len + 1), *o = out;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%') {
			int a = i + 1 < len ? hexval(s[i + 1]) : -1;
			int b = i + 2 < len ? hexval(s[i + 2]) : -1;

			if (a < 0 || b < 0 || (a == 0 && b == 0)) {
				free(out);
				return NULL;
			}
			*o++ = (char)(a * 16 + b);
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

int resource_parse_url(const char *type, const char *url, struct resource_url *out,
		       struct nua_error **err)
{
	const struct provider *p = provider_of(type);
	const char *rest, *at, *slash, *colon, *hostp, *end;
	bool ok_scheme;

	memset(out, 0, sizeof(*out));
	if (!p)
		return nua_error_set(err, NUA_EINPUT, "resources of type '%s' are not supported",
				     type);
	if (!(rest = strstr(url, "://")))
		return nua_error_set(err, NUA_EINPUT,
				     "the URL of a %s server must look like %s://USER:PASSWORD@HOST:"
				     "PORT/DB",
				     type, p->scheme);
	out->scheme = xstrndup(url, (size_t)(rest - url));
	ok_scheme = streq(out->scheme, p->scheme) || streq(out->scheme, type) ||
		    (streq(type, "mariadb") && streq(out->scheme, "mysql"));
	if (!ok_scheme) {
		nua_error_set(err, NUA_EINPUT, "a %s server's URL starts with %s://, not %s://",
			      type, p->scheme, out->scheme);
		goto bad;
	}
	rest += 3;
	end = rest + strcspn(rest, "?#");
	slash = memchr(rest, '/', (size_t)(end - rest));
	if (!slash)
		slash = end;
	/* The last '@' before the path: a password may hold one, escaped or
	 * not. */
	at = NULL;
	for (const char *q = rest; q < slash; q++)
		if (*q == '@')
			at = q;
	if (!at) {
		nua_error_set(err, NUA_EINPUT, "the URL of the %s server has no USER@ part", type);
		goto bad;
	}
	colon = memchr(rest, ':', (size_t)(at - rest));
	out->user = url_decode(rest, (size_t)((colon ? colon : at) - rest));
	out->password = colon ? url_decode(colon + 1, (size_t)(at - colon - 1)) : xstrdup("");
	if (!out->user || !out->user[0] || !out->password) {
		nua_error_set(err, NUA_EINPUT,
			      "the user or password in the URL of the %s server is empty or "
			      "badly escaped",
			      type);
		goto bad;
	}
	hostp = at + 1;
	colon = memchr(hostp, ':', (size_t)(slash - hostp));
	out->host = xstrndup(hostp, (size_t)((colon ? colon : slash) - hostp));
	if (!out->host[0] || strspn(out->host, "abcdefghijklmnopqrstuvwxyz"
					       "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_[]") !=
				     strlen(out->host)) {
		nua_error_set(err, NUA_EINPUT, "'%s' is not a host name for the %s server",
			      out->host, type);
		goto bad;
	}
	out->port = p->port;
	if (colon) {
		char *e;
		long v = strtol(colon + 1, &e, 10);

		if (e != slash || v < 1 || v > 65535) {
			nua_error_set(err, NUA_EINPUT, "the port in the URL of the %s server is not "
						       "a port number",
				      type);
			goto bad;
		}
		out->port = (int)v;
	}
	out->db = slash < end ? url_decode(slash + 1, (size_t)(end - slash - 1)) : xstrdup("");
	if (!out->db) {
		nua_error_set(err, NUA_EINPUT, "the database in the URL of the %s server is badly "
					       "escaped",
			      type);
		goto bad;
	}
	if (!out->db[0] && !streq(type, "redis")) {
		nua_error_set(err, NUA_EINPUT, "the URL of the %s server names no database (/DB)",
			      type);
		goto bad;
	}
	return 0;
bad:
	resource_url_release(out);
	return -1;
}

void resource_external_env(const char *name, const char *type, const char *url,
			   const struct resource_url *u, struct env_rec **env, size_t *n,
			   size_t *alloc)
{
	_cleanup_free_ char *prefix = var_prefix(name);
	char port[16];

	snprintf(port, sizeof(port), "%d", u->port);
	env_add(env, n, alloc, prefix, "URL", url, true);
	env_add(env, n, alloc, prefix, "HOST", u->host, false);
	env_add(env, n, alloc, prefix, "PORT", port, false);
	env_add(env, n, alloc, prefix, "USER", u->user, false);
	env_add(env, n, alloc, prefix, "PASSWORD", u->password, true);
	env_add(env, n, alloc, prefix, "DB", streq(type, "redis") && !u->db[0] ? "0" : u->db,
		false);
	if (streq(type, "redis"))
		env_add(env, n, alloc, prefix, "PREFIX", "", false);
}


int resource_check_version(const char *name, const char *type, const char *constraint,
			   struct nua_error **err)
{
	const struct provider *p = provider_of(type);
	struct config_version_constraint c;
	char *why = NULL;

	if (!p || !constraint || !constraint[0])
		return 0;
	if (config_version_parse(constraint, &c, &why) < 0) {
		nua_error_set(err, NUA_EINPUT, "resource '%s': version '%s': %s", name, constraint,
			      why ? why : "not a constraint");
		free(why);
		return -1;
	}
	if (!config_version_match(&c, p->version))
		return nua_error_set(err, NUA_EINPUT,
				     "resource '%s' asks for %s '%s', and the %s server Nua runs is "
				     "version %s; give the package a server of its own with "
				     "--resource %s=URL",
				     name, type, constraint, type, p->version, name);
	return 0;
}
