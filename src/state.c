/* The state store on SQLite. */
#define _GNU_SOURCE
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "strbuf.h"
#include "util.h"
#include "banned.h"

struct state {
	sqlite3 *db;
	char *path;
};

/* Append-only: a released migration is never edited; a change to the
 * schema is a new entry. Each runs in one transaction with the bump of
 * user_version. */
static const char *const migrations[] = {
	/* 1: images, instances with their env and volumes, events. */
	"CREATE TABLE images ("
	"  ref TEXT PRIMARY KEY,"
	"  id TEXT NOT NULL,"
	"  version TEXT NOT NULL,"
	"  release INTEGER NOT NULL CHECK (release > 0),"
	"  digest TEXT NOT NULL,"
	"  config TEXT NOT NULL DEFAULT '{}',"
	"  size INTEGER NOT NULL DEFAULT 0,"
	"  created_at INTEGER NOT NULL"
	");"
	"CREATE TABLE instances ("
	"  name TEXT PRIMARY KEY"
	"    CHECK (length(name) BETWEEN 1 AND 63 AND name NOT GLOB '*[^a-z0-9-]*'"
	"           AND substr(name, 1, 1) != '-'),"
	"  image_ref TEXT NOT NULL REFERENCES images(ref) ON DELETE RESTRICT,"
	"  domain TEXT,"
	"  path TEXT NOT NULL DEFAULT '/',"
	"  desired TEXT NOT NULL DEFAULT 'running' CHECK (desired IN ('running', 'stopped')),"
	"  actual TEXT NOT NULL DEFAULT 'unknown',"
	"  generation INTEGER NOT NULL DEFAULT 1,"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL,"
	"  UNIQUE (domain, path)"
	");"
	"CREATE INDEX instances_image ON instances(image_ref);"
	"CREATE TABLE instance_env ("
	"  instance TEXT NOT NULL REFERENCES instances(name) ON DELETE CASCADE,"
	"  key TEXT NOT NULL,"
	"  value BLOB NOT NULL,"
	"  PRIMARY KEY (instance, key)"
	");"
	"CREATE TABLE volumes ("
	"  instance TEXT NOT NULL REFERENCES instances(name) ON DELETE CASCADE,"
	"  name TEXT NOT NULL,"
	"  target TEXT NOT NULL,"
	"  type TEXT NOT NULL DEFAULT 'managed' CHECK (type IN ('managed', 'directory', 'tmpfs')),"
	"  source TEXT,"
	"  PRIMARY KEY (instance, name),"
	"  UNIQUE (instance, target)"
	");"
	"CREATE TABLE events ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  time INTEGER NOT NULL,"
	"  instance TEXT," /* no foreign key: events outlive their instance */
	"  kind TEXT NOT NULL,"
	"  message TEXT NOT NULL,"
	"  data TEXT"
	");"
	"CREATE INDEX events_time ON events(time);"
	"CREATE INDEX events_instance ON events(instance, id);",

	/* 2: secrets in the environment, and backing-service resources with
	 * the bindings of instances to them. */
	"ALTER TABLE instance_env ADD COLUMN secret INTEGER NOT NULL DEFAULT 0"
	"  CHECK (secret IN (0, 1));"
	"CREATE TABLE resources ("
	"  name TEXT PRIMARY KEY,"
	"  type TEXT NOT NULL CHECK (type IN ('postgres', 'mariadb', 'redis', 'mongodb')),"
	"  version TEXT,"
	"  instance TEXT REFERENCES instances(name) ON DELETE CASCADE,"
	"  state TEXT NOT NULL DEFAULT 'pending',"
	"  created_at INTEGER NOT NULL"
	");"
	"CREATE TABLE resource_bindings ("
	"  instance TEXT NOT NULL REFERENCES instances(name) ON DELETE CASCADE,"
	"  name TEXT NOT NULL,"
	"  resource TEXT NOT NULL REFERENCES resources(name) ON DELETE RESTRICT,"
	"  PRIMARY KEY (instance, name)"
	");"
	"CREATE INDEX resource_bindings_resource ON resource_bindings(resource);",

	/* 3: the daemon. An instance being removed (the removal is recorded
	 * first, then carried out), what the supervisor saw (restarts, last
	 * exit, health, start time), the previous spec of an instance while a
	 * redeploy is pending (to go back to when the new one never becomes
	 * healthy), and metrics samples. */
	"ALTER TABLE instances ADD COLUMN removing INTEGER NOT NULL DEFAULT 0"
	"  CHECK (removing IN (0, 1, 2));" /* 2: remove and purge */
	"ALTER TABLE instances ADD COLUMN restarts INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE instances ADD COLUMN last_exit INTEGER;"
	"ALTER TABLE instances ADD COLUMN health TEXT NOT NULL DEFAULT 'unknown';"
	"ALTER TABLE instances ADD COLUMN started_at INTEGER NOT NULL DEFAULT 0;"
	"CREATE TABLE revisions ("
	"  instance TEXT NOT NULL REFERENCES instances(name) ON DELETE CASCADE,"
	"  generation INTEGER NOT NULL,"
	"  image_ref TEXT NOT NULL REFERENCES images(ref) ON DELETE RESTRICT,"
	"  env TEXT NOT NULL," /* JSON [[key, value, secret], ...], values as stored */
	"  created_at INTEGER NOT NULL,"
	"  PRIMARY KEY (instance, generation)"
	");"
	"CREATE TABLE metrics ("
	"  instance TEXT NOT NULL," /* no foreign key: kept for the day after removal */
	"  time INTEGER NOT NULL,"
	"  cpu_usec INTEGER," /* cumulative CPU time */
	"  memory INTEGER,"   /* bytes */
	"  pids INTEGER,"
	"  restarts INTEGER,"
	"  health_ms INTEGER," /* latency of the last health check */
	"  PRIMARY KEY (instance, time)"
	") WITHOUT ROWID;"
	"CREATE INDEX metrics_time ON metrics(time);",
	/* 4: server settings (backup targets among them) and the backups taken,
	 * as restic reported them. */
	"CREATE TABLE settings ("
	"  key TEXT PRIMARY KEY,"
	"  value TEXT NOT NULL"
	");"
	"CREATE TABLE backups ("
	"  target TEXT NOT NULL,"
	"  snapshot TEXT NOT NULL," /* restic's full snapshot id */
	"  instance TEXT NOT NULL," /* no foreign key: kept after removal */
	"  time INTEGER NOT NULL,"
	"  kind TEXT NOT NULL," /* manual, scheduled, safety, upgrade */
	"  image_ref TEXT NOT NULL,"
	"  bytes INTEGER NOT NULL," /* what the snapshot holds */
	"  files INTEGER NOT NULL,"
	"  added INTEGER NOT NULL," /* bytes the repository grew by */
	"  PRIMARY KEY (target, snapshot)"
	");"
	"CREATE INDEX backups_instance ON backups(instance, time);",
	/* 5: more domains for an instance, served as its own or sent to it
	 * (redirect). A domain+path belongs to one instance or alias at most:
	 * state_alias_add checks it against instances too. */
	"CREATE TABLE domain_aliases ("
	"  instance TEXT NOT NULL REFERENCES instances(name) ON DELETE CASCADE,"
	"  domain TEXT NOT NULL,"
	"  path TEXT NOT NULL DEFAULT '/',"
	"  redirect INTEGER NOT NULL DEFAULT 0 CHECK (redirect IN (0, 1)),"
	"  created_at INTEGER NOT NULL,"
	"  PRIMARY KEY (domain, path)"
	");"
	"CREATE INDEX domain_aliases_instance ON domain_aliases(instance);",
	/* 6: the people and programs that use Nua (users.c), and what they
	 * changed through the API. Passwords are argon2id strings; a token
	 * is kept as the SHA-256 of its secret part only. */
	"CREATE TABLE users ("
	"  name TEXT PRIMARY KEY,"
	"  email TEXT,"
	"  role TEXT NOT NULL CHECK (role IN ('admin', 'user')),"
	"  password TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  password_at INTEGER NOT NULL"
	");"
	"CREATE TABLE user_groups ("
	"  name TEXT PRIMARY KEY,"
	"  created_at INTEGER NOT NULL"
	");"
	"CREATE TABLE group_members ("
	"  grp TEXT NOT NULL REFERENCES user_groups(name) ON DELETE CASCADE,"
	"  user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,"
	"  PRIMARY KEY (grp, user)"
	");"
	"CREATE INDEX group_members_user ON group_members(user);"
	"CREATE TABLE tokens ("
	"  id TEXT PRIMARY KEY,"
	"  name TEXT NOT NULL,"
	"  hash TEXT NOT NULL,"
	"  role TEXT NOT NULL CHECK (role IN ('admin', 'deploy', 'read')),"
	"  instance TEXT," /* the only instance it may touch, or NULL */
	"  owner TEXT REFERENCES users(name) ON DELETE CASCADE,"
	"  created_at INTEGER NOT NULL,"
	"  expires_at INTEGER,"
	"  last_used_at INTEGER"
	");"
	"CREATE TABLE audit ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  time INTEGER NOT NULL,"
	"  who TEXT NOT NULL,"
	"  origin TEXT NOT NULL," /* "socket" or the client's address */
	"  method TEXT NOT NULL,"
	"  path TEXT NOT NULL,"
	"  status INTEGER NOT NULL"
	");"
	"CREATE INDEX audit_time ON audit(time);",
	/* 7: the login portal's sessions (the cookie's SHA-256 only) and
	 * the count of failed logins per account and per address. */
	"CREATE TABLE sessions ("
	"  id TEXT PRIMARY KEY,"
	"  user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,"
	"  csrf TEXT NOT NULL,"
	"  origin TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  seen_at INTEGER NOT NULL,"
	"  expires_at INTEGER NOT NULL"
	");"
	"CREATE INDEX sessions_user ON sessions(user);"
	"CREATE TABLE login_failures ("
	"  key TEXT PRIMARY KEY," /* "user:NAME" or "addr:ADDRESS" */
	"  count INTEGER NOT NULL,"
	"  first_at INTEGER NOT NULL,"
	"  blocked_until INTEGER NOT NULL DEFAULT 0"
	");"
	/* A session whose second factor is still to come. */
	"ALTER TABLE sessions ADD COLUMN pending INTEGER NOT NULL DEFAULT 0;"
	/* TOTP: the sealed secret, the last time step used (no replay), and
	 * the recovery codes' SHA-256. */
	"ALTER TABLE users ADD COLUMN totp TEXT;"
	"ALTER TABLE users ADD COLUMN totp_step INTEGER NOT NULL DEFAULT 0;"
	"CREATE TABLE recovery_codes ("
	"  user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,"
	"  hash TEXT NOT NULL,"
	"  PRIMARY KEY (user, hash)"
	");",
	/* 8: access control of apps (access.c): rules per instance and URL
	 * prefix; the one-time codes and the sessions that carry a portal
	 * login to an app's domain (they end with the portal's session). */
	"CREATE TABLE access_rules ("
	"  instance TEXT NOT NULL REFERENCES instances(name) ON DELETE CASCADE,"
	"  path TEXT NOT NULL,"
	"  private INTEGER NOT NULL CHECK (private IN (0, 1)),"
	"  allow TEXT NOT NULL DEFAULT '',"
	"  PRIMARY KEY (instance, path)"
	");"
	"CREATE TABLE app_codes ("
	"  hash TEXT PRIMARY KEY,"
	"  user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,"
	"  domain TEXT NOT NULL,"
	"  portal TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,"
	"  expires_at INTEGER NOT NULL"
	");"
	"CREATE TABLE app_sessions ("
	"  id TEXT PRIMARY KEY,"
	"  user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,"
	"  domain TEXT NOT NULL,"
	"  portal TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE"
	");"
	"CREATE INDEX app_sessions_portal ON app_sessions(portal);",
};

int state_latest_version(void) { return (int)ARRAY_SIZE(migrations); }

sqlite3 *state_db(struct state *st) { return st->db; }

int state_db_error(struct state *st, struct nua_error **err, const char *what)
{
	return nua_error_set(err, NUA_EFAIL, "state database '%s': %s: %s", st->path, what,
			     sqlite3_errmsg(st->db));
}

int state_exec(struct state *st, const char *sql, struct nua_error **err)
{
	char *msg = NULL;

	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		nua_error_set(err, NUA_EFAIL, "state database '%s': %s", st->path,
			      msg ? msg : sqlite3_errmsg(st->db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

int state_prepare(struct state *st, const char *sql, sqlite3_stmt **stmt, struct nua_error **err)
{
	if (sqlite3_prepare_v2(st->db, sql, -1, stmt, NULL) != SQLITE_OK)
		return state_db_error(st, err, "cannot prepare a statement");
	return 0;
}

void state_finalizep(sqlite3_stmt **s)
{
	if (*s)
		sqlite3_finalize(*s);
}

void state_bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

char *state_column_text(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	return t ? xstrdup((const char *)t) : NULL;
}

static int64_t now(void) { return (int64_t)time(NULL); }

int state_schema_version(struct state *st)
{
	sqlite3_stmt *s;
	int v = -1;

	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return v;
}

static int refuse_newer(struct state *st, int v, struct nua_error **err)
{
	return nua_error_set(err, NUA_EFAIL,
			     "state database '%s' has schema version %d, newer than this nua (%d); "
			     "upgrade nua",
			     st->path, v, state_latest_version());
}

/* Each step reads the version inside its BEGIN IMMEDIATE: another process
 * opening the same new database at the same time (the daemon and a CLI)
 * may have migrated it while this one waited for the lock. */
static int migrate(struct state *st, int target, struct nua_error **err)
{
	int now_v = state_schema_version(st);

	/* Up to date, the usual case: no need for the write lock. */
	if (now_v > state_latest_version())
		return refuse_newer(st, now_v, err);
	if (now_v >= target)
		return 0;
	for (;;) {
		_cleanup_free_ char *bump = NULL;
		int v;

		if (state_exec(st, "BEGIN IMMEDIATE", err) < 0)
			return -1;
		v = state_schema_version(st);
		if (v < 0 || v > state_latest_version() || v >= target) {
			state_exec(st, "ROLLBACK", NULL);
			if (v < 0)
				return state_db_error(st, err, "cannot read the schema version");
			if (v > state_latest_version())
				return refuse_newer(st, v, err);
			return 0;
		}
		bump = xasprintf("PRAGMA user_version = %d", v + 1);
		if (state_exec(st, migrations[v], err) < 0 || state_exec(st, bump, err) < 0 ||
		    state_exec(st, "COMMIT", err) < 0) {
			nua_error_prefix(err, "migration to schema version %d", v + 1);
			state_exec(st, "ROLLBACK", NULL);
			return -1;
		}
	}
}

/* Switching a new database to WAL takes an exclusive lock. When two
 * processes do it at once, SQLite sees a deadlock and fails at once with
 * SQLITE_BUSY, without calling the busy handler: retry, for as long as
 * the busy timeout. */
static int set_wal(struct state *st, struct nua_error **err)
{
	for (int i = 0; i < 500; i++) {
		int rc = sqlite3_exec(st->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);

		if (rc == SQLITE_OK)
			return 0;
		if (rc != SQLITE_BUSY)
			break;
		usleep(10 * 1000);
	}
	return state_exec(st, "PRAGMA journal_mode = WAL", err);
}

int state_open_version(const char *path, int version, struct state **out, struct nua_error **err)
{
	struct state *st;
	_cleanup_free_ char *dir = xstrdup(path);
	int fd, r;

	*out = NULL;
	if (version < 0 || version > state_latest_version())
		BUG("no schema version %d", version);
	r = mkdir_p(dirname(dir), 0755);
	if (r < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot create the directory of '%s': %s", path,
				     strerror(-r));
	/* Create the file ourselves so that it is 0600 from the start: it will
	 * hold secrets, even if encrypted. Only when it does not exist: closing
	 * a descriptor of a file drops every POSIX lock the process holds on
	 * it, so an open and close of a database that other connections of
	 * this process use would drop their locks, and another process (a
	 * build worker) could then write under them: a corrupt database. */
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 && errno != EEXIST)
		return nua_error_set(err, NUA_EFAIL, "cannot open state database '%s': %s", path,
				     strerror(errno));
	if (fd >= 0)
		close(fd);
	st = xcalloc(1, sizeof(*st));
	st->path = xstrdup(path);
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) !=
	    SQLITE_OK) {
		nua_error_set(err, NUA_EFAIL, "cannot open state database '%s': %s", path,
			      st->db ? sqlite3_errmsg(st->db) : "out of memory");
		state_close(st);
		return -1;
	}
	sqlite3_busy_timeout(st->db, 5000);
	/* WAL lets readers (the CLI, the web UI) run beside the daemon's
	 * writes; with WAL, synchronous=NORMAL loses at most the last
	 * transactions on power loss and never corrupts the database. */
	if (set_wal(st, err) < 0 ||
	    state_exec(st, "PRAGMA synchronous = NORMAL", err) < 0 ||
	    state_exec(st, "PRAGMA foreign_keys = ON", err) < 0 || migrate(st, version, err) < 0) {
		state_close(st);
		return -1;
	}
	*out = st;
	return 0;
}

int state_open(const char *path, struct state **out, struct nua_error **err)
{
	return state_open_version(path, state_latest_version(), out, err);
}

void state_close(struct state *st)
{
	if (!st)
		return;
	sqlite3_close(st->db);
	free(st->path);
	free(st);
}

int state_tx(struct state *st, int (*fn)(struct state *st, void *arg, struct nua_error **err),
	     void *arg, struct nua_error **err)
{
	int r;

	if (state_exec(st, "BEGIN IMMEDIATE", err) < 0)
		return -1;
	r = fn(st, arg, err);
	if (r < 0) {
		state_exec(st, "ROLLBACK", NULL);
		return r;
	}
	if (state_exec(st, "COMMIT", err) < 0) {
		state_exec(st, "ROLLBACK", NULL);
		return -1;
	}
	return r;
}

/* Run a prepared statement that returns no rows. */
static int step_done(struct state *st, sqlite3_stmt *s, struct nua_error **err, const char *what)
{
	if (sqlite3_step(s) != SQLITE_DONE)
		return state_db_error(st, err, what);
	return 0;
}

/* ---- images ---- */

void image_rec_release(struct image_rec *img)
{
	free(img->ref);
	free(img->id);
	free(img->version);
	free(img->digest);
	free(img->config);
	memset(img, 0, sizeof(*img));
}

void image_rec_list_free(struct image_rec *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		image_rec_release(&list[i]);
	free(list);
}

int state_image_put(struct state *st, struct image_rec *img, struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;

	if (state_prepare(st,
		    "INSERT INTO images (ref, id, version, release, digest, config, size, created_at)"
		    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
		    " ON CONFLICT (ref) DO UPDATE SET digest = excluded.digest,"
		    " config = excluded.config, size = excluded.size, created_at = excluded.created_at",
		    &s, err) < 0)
		return -1;
	img->created_at = now();
	state_bind_text(s, 1, img->ref);
	state_bind_text(s, 2, img->id);
	state_bind_text(s, 3, img->version);
	sqlite3_bind_int64(s, 4, img->release);
	state_bind_text(s, 5, img->digest);
	state_bind_text(s, 6, img->config ? img->config : "{}");
	sqlite3_bind_int64(s, 7, img->size);
	sqlite3_bind_int64(s, 8, img->created_at);
	return step_done(st, s, err, "cannot record the image");
}

#define IMAGE_COLUMNS "ref, id, version, release, digest, config, size, created_at"

static void image_from_row(sqlite3_stmt *s, struct image_rec *img)
{
	img->ref = state_column_text(s, 0);
	img->id = state_column_text(s, 1);
	img->version = state_column_text(s, 2);
	img->release = sqlite3_column_int64(s, 3);
	img->digest = state_column_text(s, 4);
	img->config = state_column_text(s, 5);
	img->size = sqlite3_column_int64(s, 6);
	img->created_at = sqlite3_column_int64(s, 7);
}

int state_image_get(struct state *st, const char *ref, struct image_rec *out,
		    struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if (state_prepare(st, "SELECT " IMAGE_COLUMNS " FROM images WHERE ref = ?", &s, err) < 0)
		return -1;
	state_bind_text(s, 1, ref);
	r = sqlite3_step(s);
	if (r == SQLITE_DONE)
		return nua_error_set(err, NUA_EINPUT, "no image '%s'", ref);
	if (r != SQLITE_ROW)
		return state_db_error(st, err, "cannot read images");
	image_from_row(s, out);
	return 0;
}

int state_image_list(struct state *st, struct image_rec **out, size_t *n, struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	struct image_rec *list = NULL;
	size_t len = 0, alloc = 0;
	int r;

	*out = NULL;
	*n = 0;
	if (state_prepare(st, "SELECT " IMAGE_COLUMNS " FROM images ORDER BY created_at DESC, ref", &s,
		    err) < 0)
		return -1;
	while ((r = sqlite3_step(s)) == SQLITE_ROW) {
		ALLOC_GROW(list, len + 1, alloc);
		memset(&list[len], 0, sizeof(list[len]));
		image_from_row(s, &list[len++]);
	}
	if (r != SQLITE_DONE) {
		image_rec_list_free(list, len);
		return state_db_error(st, err, "cannot read images");
	}
	*out = list;
	*n = len;
	return 0;
}

/* The name of an instance that uses image ref, or NULL. Caller frees. */
static char *instance_using(struct state *st, const char *column, const char *table,
			    const char *value)
{
	_cleanup_free_ char *sql =
		xasprintf("SELECT %s FROM %s WHERE %s = ? LIMIT 1",
			  streq(table, "instances") ? "name" : "instance", table, column);
	_cleanup_stmt_ sqlite3_stmt *s = NULL;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return NULL;
	state_bind_text(s, 1, value);
	if (sqlite3_step(s) == SQLITE_ROW)
		return state_column_text(s, 0);
	return NULL;
}

int state_image_remove(struct state *st, const char *ref, struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	_cleanup_free_ char *user = instance_using(st, "image_ref", "instances", ref);

	if (user)
		return nua_error_set(err, NUA_EINPUT, "image '%s' is used by instance '%s'", ref,
				     user);
	/* The previous version of an instance while its redeploy is under
	 * way (schema 3). */
	if (state_schema_version(st) >= 3 &&
	    (user = instance_using(st, "image_ref", "revisions", ref)))
		return nua_error_set(err, NUA_EINPUT,
				     "image '%s' is used by instance '%s' (its previous version, "
				     "while a redeploy is under way)",
				     ref, user);
	if (state_prepare(st, "DELETE FROM images WHERE ref = ?", &s, err) < 0)
		return -1;
	state_bind_text(s, 1, ref);
	if (step_done(st, s, err, "cannot remove the image") < 0)
		return -1;
	if (sqlite3_changes(st->db) == 0)
		return nua_error_set(err, NUA_EINPUT, "no image '%s'", ref);
	return 0;
}

/* ---- instances ---- */

void instance_rec_release(struct instance_rec *in)
{
	free(in->name);
	free(in->image_ref);
	free(in->domain);
	free(in->path);
	free(in->desired);
	free(in->actual);
	free(in->health);
	for (size_t i = 0; i < in->n_env; i++) {
		free(in->env[i].key);
		free(in->env[i].value);
	}
	free(in->env);
	for (size_t i = 0; i < in->n_volumes; i++) {
		free(in->volumes[i].name);
		free(in->volumes[i].target);
		free(in->volumes[i].type);
		free(in->volumes[i].source);
	}
	free(in->volumes);
	for (size_t i = 0; i < in->n_aliases; i++) {
		free(in->aliases[i].domain);
		free(in->aliases[i].path);
	}
	free(in->aliases);
	memset(in, 0, sizeof(*in));
}

void instance_rec_list_free(struct instance_rec *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		instance_rec_release(&list[i]);
	free(list);
}

static int insert_env(struct state *st, const char *name, const struct env_rec *env, size_t n,
		      struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;

	if (state_prepare(st, "INSERT INTO instance_env (instance, key, value, secret) VALUES (?, ?, ?, ?)",
		    &s, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		sqlite3_reset(s);
		state_bind_text(s, 1, name);
		state_bind_text(s, 2, env[i].key);
		sqlite3_bind_blob(s, 3, env[i].value, (int)strlen(env[i].value), SQLITE_TRANSIENT);
		sqlite3_bind_int(s, 4, env[i].secret);
		if (sqlite3_step(s) != SQLITE_DONE) {
			if (sqlite3_extended_errcode(st->db) == SQLITE_CONSTRAINT_PRIMARYKEY)
				return nua_error_set(err, NUA_EINPUT,
						     "variable '%s' is given twice for instance '%s'",
						     env[i].key, name);
			return state_db_error(st, err, "cannot record the environment");
		}
	}
	return 0;
}

/* The SQL of a stored path in the form "/" or "/a/b" (no trailing slash). */
#define NORM_PATH(col) "CASE WHEN rtrim(" col ", '/') = '' THEN '/' ELSE rtrim(" col ", '/') END"

int state_domain_free(struct state *st, const char *domain, const char *path,
		      struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	_cleanup_free_ char *user = NULL;
	int r;

	if (state_prepare(st,
		    "SELECT name FROM instances WHERE domain = ?1 AND " NORM_PATH("path") " = "
		    NORM_PATH("?2") " UNION ALL SELECT instance FROM domain_aliases"
		    " WHERE domain = ?1 AND path = " NORM_PATH("?2") " UNION ALL SELECT ''"
		    " FROM settings WHERE key = 'server.admin_domain' AND value = ?1 LIMIT 1",
		    &s, err) < 0)
		return -1;
	state_bind_text(s, 1, domain);
	state_bind_text(s, 2, path);
	r = sqlite3_step(s);
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		return state_db_error(st, err, "cannot read domains");
	if (r == SQLITE_DONE)
		return 0;
	user = state_column_text(s, 0);
	if (!user[0])
		return nua_error_set(err, NUA_EINPUT,
				     "domain '%s' is the server's admin domain ('nua server')",
				     domain);
	return nua_error_set(err, NUA_EINPUT, "domain '%s%s' is used by instance '%s'", domain,
			     streq(path, "/") ? "" : path, user);
}

static int instance_add_tx(struct state *st, void *arg, struct nua_error **err)
{
	struct instance_rec *in = arg;
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	_cleanup_stmt_ sqlite3_stmt *v = NULL;
	struct image_rec img;

	if (state_image_get(st, in->image_ref, &img, err) < 0)
		return -1;
	image_rec_release(&img);
	if (in->domain && state_domain_free(st, in->domain, in->path ? in->path : "/", err) < 0)
		return -1;
	if (state_prepare(st,
		    "INSERT INTO instances (name, image_ref, domain, path, desired, actual,"
		    " generation, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'unknown', 1, ?, ?)",
		    &s, err) < 0)
		return -1;
	in->created_at = in->updated_at = now();
	in->generation = 1;
	state_bind_text(s, 1, in->name);
	state_bind_text(s, 2, in->image_ref);
	state_bind_text(s, 3, in->domain);
	state_bind_text(s, 4, in->path ? in->path : "/");
	state_bind_text(s, 5, in->desired ? in->desired : "running");
	sqlite3_bind_int64(s, 6, in->created_at);
	sqlite3_bind_int64(s, 7, in->updated_at);
	if (sqlite3_step(s) != SQLITE_DONE) {
		int ext = sqlite3_extended_errcode(st->db);

		if (ext == SQLITE_CONSTRAINT_PRIMARYKEY)
			return nua_error_set(err, NUA_EINPUT, "instance '%s' already exists", in->name);
		/* A taken domain+path: domain_free said so before the insert. */
		if (ext == SQLITE_CONSTRAINT_CHECK)
			return nua_error_set(err, NUA_EINPUT, "invalid instance '%s': %s", in->name,
					     sqlite3_errmsg(st->db));
		return state_db_error(st, err, "cannot record the instance");
	}
	if (insert_env(st, in->name, in->env, in->n_env, err) < 0)
		return -1;
	if (state_prepare(st, "INSERT INTO volumes (instance, name, target, type, source) VALUES (?, ?, ?, ?, ?)",
		    &v, err) < 0)
		return -1;
	for (size_t i = 0; i < in->n_volumes; i++) {
		const struct volume_rec *vol = &in->volumes[i];

		sqlite3_reset(v);
		state_bind_text(v, 1, in->name);
		state_bind_text(v, 2, vol->name);
		state_bind_text(v, 3, vol->target);
		state_bind_text(v, 4, vol->type ? vol->type : "managed");
		state_bind_text(v, 5, vol->source);
		if (sqlite3_step(v) != SQLITE_DONE) {
			int ext = sqlite3_extended_errcode(st->db);

			if (ext == SQLITE_CONSTRAINT_PRIMARYKEY || ext == SQLITE_CONSTRAINT_UNIQUE)
				return nua_error_set(err, NUA_EINPUT,
						     "volume '%s' (at '%s') is given twice for instance '%s'",
						     vol->name, vol->target, in->name);
			return state_db_error(st, err, "cannot record a volume");
		}
	}
	return 0;
}

int state_instance_add(struct state *st, struct instance_rec *in, struct nua_error **err)
{
	if (!valid_name(in->name, 63))
		return nua_error_set(err, NUA_EINPUT,
				     "invalid instance name '%s': use a-z, 0-9 and '-', at most 63",
				     in->name);
	return state_tx(st, instance_add_tx, in, err);
}

#define INSTANCE_COLUMNS                                                                          \
	"name, image_ref, domain, path, desired, actual, generation, created_at, updated_at,"     \
	" removing, restarts, coalesce(last_exit, -1), health, started_at"

static int instance_details(struct state *st, struct instance_rec *in, struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *e = NULL;
	_cleanup_stmt_ sqlite3_stmt *v = NULL;
	_cleanup_stmt_ sqlite3_stmt *a = NULL;
	size_t alloc = 0;
	int r;

	if (state_prepare(st, "SELECT key, value, secret FROM instance_env WHERE instance = ? ORDER BY key",
		    &e, err) < 0)
		return -1;
	state_bind_text(e, 1, in->name);
	while ((r = sqlite3_step(e)) == SQLITE_ROW) {
		struct env_rec *rec;

		ALLOC_GROW(in->env, in->n_env + 1, alloc);
		rec = &in->env[in->n_env++];
		rec->key = state_column_text(e, 0);
		rec->value = xstrndup(sqlite3_column_blob(e, 1) ? sqlite3_column_blob(e, 1) : "",
				      (size_t)sqlite3_column_bytes(e, 1));
		rec->secret = sqlite3_column_int(e, 2);
	}
	if (r != SQLITE_DONE)
		return state_db_error(st, err, "cannot read the environment");
	alloc = 0;
	if (state_prepare(st, "SELECT name, target, type, source FROM volumes WHERE instance = ? ORDER BY name",
		    &v, err) < 0)
		return -1;
	state_bind_text(v, 1, in->name);
	while ((r = sqlite3_step(v)) == SQLITE_ROW) {
		struct volume_rec *rec;

		ALLOC_GROW(in->volumes, in->n_volumes + 1, alloc);
		rec = &in->volumes[in->n_volumes++];
		rec->name = state_column_text(v, 0);
		rec->target = state_column_text(v, 1);
		rec->type = state_column_text(v, 2);
		rec->source = state_column_text(v, 3);
	}
	if (r != SQLITE_DONE)
		return state_db_error(st, err, "cannot read volumes");
	alloc = 0;
	if (state_prepare(st,
		    "SELECT domain, path, redirect FROM domain_aliases WHERE instance = ?"
		    " ORDER BY created_at, domain, path",
		    &a, err) < 0)
		return -1;
	state_bind_text(a, 1, in->name);
	while ((r = sqlite3_step(a)) == SQLITE_ROW) {
		struct alias_rec *rec;

		ALLOC_GROW(in->aliases, in->n_aliases + 1, alloc);
		rec = &in->aliases[in->n_aliases++];
		rec->domain = state_column_text(a, 0);
		rec->path = state_column_text(a, 1);
		rec->redirect = sqlite3_column_int(a, 2);
	}
	if (r != SQLITE_DONE)
		return state_db_error(st, err, "cannot read the domains");
	return 0;
}

static void instance_from_row(sqlite3_stmt *s, struct instance_rec *in)
{
	memset(in, 0, sizeof(*in));
	in->name = state_column_text(s, 0);
	in->image_ref = state_column_text(s, 1);
	in->domain = state_column_text(s, 2);
	in->path = state_column_text(s, 3);
	in->desired = state_column_text(s, 4);
	in->actual = state_column_text(s, 5);
	in->generation = sqlite3_column_int64(s, 6);
	in->created_at = sqlite3_column_int64(s, 7);
	in->updated_at = sqlite3_column_int64(s, 8);
	in->removing = sqlite3_column_int(s, 9);
	in->restarts = sqlite3_column_int64(s, 10);
	in->last_exit = sqlite3_column_int64(s, 11);
	in->health = state_column_text(s, 12);
	in->started_at = sqlite3_column_int64(s, 13);
}

int state_instance_get(struct state *st, const char *name, struct instance_rec *out,
		       struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if (state_prepare(st, "SELECT " INSTANCE_COLUMNS " FROM instances WHERE name = ?", &s, err) < 0)
		return -1;
	state_bind_text(s, 1, name);
	r = sqlite3_step(s);
	if (r == SQLITE_DONE)
		return nua_error_set(err, NUA_EINPUT, "no instance named '%s'", name);
	if (r != SQLITE_ROW)
		return state_db_error(st, err, "cannot read instances");
	instance_from_row(s, out);
	if (instance_details(st, out, err) < 0) {
		instance_rec_release(out);
		return -1;
	}
	return 0;
}

int state_instance_list(struct state *st, struct instance_rec **out, size_t *n,
			struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	struct instance_rec *list = NULL;
	size_t len = 0, alloc = 0;
	int r;

	*out = NULL;
	*n = 0;
	if (state_prepare(st, "SELECT " INSTANCE_COLUMNS " FROM instances ORDER BY name", &s, err) < 0)
		return -1;
	while ((r = sqlite3_step(s)) == SQLITE_ROW) {
		ALLOC_GROW(list, len + 1, alloc);
		instance_from_row(s, &list[len++]);
		if (instance_details(st, &list[len - 1], err) < 0) {
			instance_rec_list_free(list, len);
			return -1;
		}
	}
	if (r != SQLITE_DONE) {
		instance_rec_list_free(list, len);
		return state_db_error(st, err, "cannot read instances");
	}
	*out = list;
	*n = len;
	return 0;
}

struct alias_args {
	const char *name, *domain, *path;
	bool redirect;
};

static int alias_add_tx(struct state *st, void *arg, struct nua_error **err)
{
	const struct alias_args *a = arg;
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	struct instance_rec in;

	if (state_instance_get(st, a->name, &in, err) < 0)
		return -1;
	if (!in.domain) {
		instance_rec_release(&in);
		return nua_error_set(err, NUA_EINPUT,
				     "instance '%s' has no domain: deploy it with --domain first",
				     a->name);
	}
	instance_rec_release(&in);
	if (state_domain_free(st, a->domain, a->path, err) < 0)
		return -1;
	if (state_prepare(st,
		    "INSERT INTO domain_aliases (instance, domain, path, redirect, created_at)"
		    " VALUES (?, ?, ?, ?, ?)",
		    &s, err) < 0)
		return -1;
	state_bind_text(s, 1, a->name);
	state_bind_text(s, 2, a->domain);
	state_bind_text(s, 3, a->path);
	sqlite3_bind_int(s, 4, a->redirect);
	sqlite3_bind_int64(s, 5, now());
	return step_done(st, s, err, "cannot record the domain");
}

int state_alias_add(struct state *st, const char *name, const char *domain, const char *path,
		    bool redirect, struct nua_error **err)
{
	struct alias_args a = { name, domain, path, redirect };

	return state_tx(st, alias_add_tx, &a, err);
}

int state_alias_remove(struct state *st, const char *name, const char *domain, const char *path,
		       struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;

	if (state_prepare(st, "DELETE FROM domain_aliases WHERE instance = ? AND domain = ? AND path = ?",
		    &s, err) < 0)
		return -1;
	state_bind_text(s, 1, name);
	state_bind_text(s, 2, domain);
	state_bind_text(s, 3, path);
	if (step_done(st, s, err, "cannot remove the domain") < 0)
		return -1;
	if (sqlite3_changes(st->db) == 0)
		return nua_error_set(err, NUA_EINPUT, "'%s%s' is not a domain of '%s'", domain,
				     streq(path, "/") ? "" : path, name);
	return 0;
}

static int set_column(struct state *st, const char *name, const char *sql, const char *value,
		      struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;

	if (state_prepare(st, sql, &s, err) < 0)
		return -1;
	state_bind_text(s, 1, value);
	sqlite3_bind_int64(s, 2, now());
	state_bind_text(s, 3, name);
	if (sqlite3_step(s) != SQLITE_DONE) {
		if (sqlite3_extended_errcode(st->db) == SQLITE_CONSTRAINT_CHECK)
			return nua_error_set(err, NUA_EINPUT, "invalid state '%s' for instance '%s'",
					     value, name);
		return state_db_error(st, err, "cannot update the instance");
	}
	if (sqlite3_changes(st->db) == 0)
		return nua_error_set(err, NUA_EINPUT, "no instance named '%s'", name);
	return 0;
}

int state_instance_set_desired(struct state *st, const char *name, const char *desired,
			       struct nua_error **err)
{
	return set_column(st, name,
			  "UPDATE instances SET desired = ?, updated_at = ? WHERE name = ?", desired,
			  err);
}

int state_instance_set_actual(struct state *st, const char *name, const char *actual,
			      struct nua_error **err)
{
	return set_column(st, name, "UPDATE instances SET actual = ?, updated_at = ? WHERE name = ?",
			  actual, err);
}

struct update_args {
	const char *name, *image_ref;
	const struct env_rec *env;
	size_t n_env;
};

static int instance_update_tx(struct state *st, void *arg, struct nua_error **err)
{
	struct update_args *a = arg;
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	_cleanup_stmt_ sqlite3_stmt *d = NULL;

	_cleanup_stmt_ sqlite3_stmt *r = NULL;

	if (a->image_ref) {
		struct image_rec img;

		if (state_image_get(st, a->image_ref, &img, err) < 0)
			return -1;
		image_rec_release(&img);
	}
	/* The spec being replaced, to go back to while the new one is not
	 * serving yet. */
	if (state_prepare(st,
		    "INSERT OR REPLACE INTO revisions (instance, generation, image_ref, env, created_at)"
		    " SELECT name, generation, image_ref, (SELECT json_group_array(json_array(key,"
		    "   CAST(value AS TEXT), secret)) FROM instance_env WHERE instance = ?1), ?2"
		    " FROM instances WHERE name = ?1",
		    &r, err) < 0)
		return -1;
	state_bind_text(r, 1, a->name);
	sqlite3_bind_int64(r, 2, now());
	if (step_done(st, r, err, "cannot record the revision") < 0)
		return -1;
	if (state_prepare(st,
		    "UPDATE instances SET image_ref = coalesce(?, image_ref),"
		    " generation = generation + 1, restarts = 0, updated_at = ? WHERE name = ?",
		    &s, err) < 0)
		return -1;
	state_bind_text(s, 1, a->image_ref);
	sqlite3_bind_int64(s, 2, now());
	state_bind_text(s, 3, a->name);
	if (step_done(st, s, err, "cannot update the instance") < 0)
		return -1;
	if (sqlite3_changes(st->db) == 0)
		return nua_error_set(err, NUA_EINPUT, "no instance named '%s'", a->name);
	if (!a->env)
		return 0;
	if (state_prepare(st, "DELETE FROM instance_env WHERE instance = ?", &d, err) < 0)
		return -1;
	state_bind_text(d, 1, a->name);
	if (step_done(st, d, err, "cannot update the environment") < 0)
		return -1;
	return insert_env(st, a->name, a->env, a->n_env, err);
}

int state_instance_update(struct state *st, const char *name, const char *image_ref,
			  const struct env_rec *env, size_t n_env, struct nua_error **err)
{
	struct update_args a = { name, image_ref, env, n_env };

	return state_tx(st, instance_update_tx, &a, err);
}

struct revert_args {
	const char *name;
	int64_t generation;
};

static int instance_revert_tx(struct state *st, void *arg, struct nua_error **err)
{
	struct revert_args *a = arg;
	_cleanup_stmt_ sqlite3_stmt *u = NULL;
	_cleanup_stmt_ sqlite3_stmt *d = NULL;
	_cleanup_stmt_ sqlite3_stmt *e = NULL;
	_cleanup_stmt_ sqlite3_stmt *r = NULL;

	if (state_prepare(st,
		    "UPDATE instances SET (image_ref, generation, updated_at) = (SELECT image_ref,"
		    " generation, ?3 FROM revisions WHERE instance = ?1 AND generation = ?2)"
		    " WHERE name = ?1 AND EXISTS (SELECT 1 FROM revisions WHERE instance = ?1"
		    " AND generation = ?2)",
		    &u, err) < 0)
		return -1;
	state_bind_text(u, 1, a->name);
	sqlite3_bind_int64(u, 2, a->generation);
	sqlite3_bind_int64(u, 3, now());
	if (step_done(st, u, err, "cannot revert the instance") < 0)
		return -1;
	if (sqlite3_changes(st->db) == 0)
		return nua_error_set(err, NUA_EINPUT, "instance '%s' has no revision %lld", a->name,
				     (long long)a->generation);
	if (state_prepare(st, "DELETE FROM instance_env WHERE instance = ?", &d, err) < 0)
		return -1;
	state_bind_text(d, 1, a->name);
	if (step_done(st, d, err, "cannot revert the environment") < 0)
		return -1;
	if (state_prepare(st,
		    "INSERT INTO instance_env (instance, key, value, secret)"
		    " SELECT ?1, json_extract(j.value, '$[0]'),"
		    "  CAST(json_extract(j.value, '$[1]') AS BLOB), json_extract(j.value, '$[2]')"
		    " FROM revisions, json_each(revisions.env) AS j"
		    " WHERE instance = ?1 AND generation = ?2",
		    &e, err) < 0)
		return -1;
	state_bind_text(e, 1, a->name);
	sqlite3_bind_int64(e, 2, a->generation);
	if (step_done(st, e, err, "cannot revert the environment") < 0)
		return -1;
	if (state_prepare(st, "DELETE FROM revisions WHERE instance = ? AND generation >= ?", &r, err) < 0)
		return -1;
	state_bind_text(r, 1, a->name);
	sqlite3_bind_int64(r, 2, a->generation);
	return step_done(st, r, err, "cannot drop revisions");
}

int state_instance_revert(struct state *st, const char *name, int64_t generation,
			  struct nua_error **err)
{
	struct revert_args a = { name, generation };

	return state_tx(st, instance_revert_tx, &a, err);
}

int state_revision_latest(struct state *st, const char *name, int64_t *generation,
			  struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;

	*generation = 0;
	if (state_prepare(st,
		    "SELECT max(r.generation) FROM revisions r JOIN instances i ON i.name = r.instance"
		    " WHERE r.instance = ? AND r.generation < i.generation",
		    &s, err) < 0)
		return -1;
	state_bind_text(s, 1, name);
	if (sqlite3_step(s) != SQLITE_ROW)
		return state_db_error(st, err, "cannot read revisions");
	*generation = sqlite3_column_int64(s, 0);
	return 0;
}

int state_revisions_drop(struct state *st, const char *name, struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;

	if (state_prepare(st, "DELETE FROM revisions WHERE instance = ?", &s, err) < 0)
		return -1;
	state_bind_text(s, 1, name);
	return step_done(st, s, err, "cannot drop revisions");
}

static int set_int_column(struct state *st, const char *name, const char *sql, int64_t value,
			  struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;

	if (state_prepare(st, sql, &s, err) < 0)
		return -1;
	sqlite3_bind_int64(s, 1, value);
	sqlite3_bind_int64(s, 2, now());
	state_bind_text(s, 3, name);
	if (step_done(st, s, err, "cannot update the instance") < 0)
		return -1;
	if (sqlite3_changes(st->db) == 0)
		return nua_error_set(err, NUA_EINPUT, "no instance named '%s'", name);
	return 0;
}

int state_instance_set_removing(struct state *st, const char *name, bool purge,
				struct nua_error **err)
{
	return set_int_column(st, name,
			      "UPDATE instances SET removing = ?, updated_at = ? WHERE name = ?",
			      purge ? 2 : 1, err);
}

int state_instance_record_exit(struct state *st, const char *name, int exit_code,
			       struct nua_error **err)
{
	return set_int_column(st, name,
			      "UPDATE instances SET last_exit = CASE WHEN ?1 >= 0 THEN ?1 ELSE"
			      " last_exit END, restarts = restarts + 1,"
			      " updated_at = ?2 WHERE name = ?3",
			      exit_code, err);
}

int state_instance_set_started(struct state *st, const char *name, int64_t started_at,
			       struct nua_error **err)
{
	return set_int_column(st, name,
			      "UPDATE instances SET started_at = ?, updated_at = ? WHERE name = ?",
			      started_at, err);
}

int state_instance_set_health(struct state *st, const char *name, const char *health,
			      struct nua_error **err)
{
	return set_column(st, name, "UPDATE instances SET health = ?, updated_at = ? WHERE name = ?",
			  health, err);
}

int state_instance_remove(struct state *st, const char *name, struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;

	if (state_prepare(st, "DELETE FROM instances WHERE name = ?", &s, err) < 0)
		return -1;
	state_bind_text(s, 1, name);
	if (step_done(st, s, err, "cannot remove the instance") < 0)
		return -1;
	if (sqlite3_changes(st->db) == 0)
		return nua_error_set(err, NUA_EINPUT, "no instance named '%s'", name);
	return 0;
}

/* ---- resources ---- */

void resource_rec_release(struct resource_rec *r)
{
	free(r->name);
	free(r->type);
	free(r->version);
	free(r->instance);
	free(r->state);
	memset(r, 0, sizeof(*r));
}

void resource_rec_list_free(struct resource_rec *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		resource_rec_release(&list[i]);
	free(list);
}

int state_resource_add(struct state *st, struct resource_rec *r, struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;

	if (state_prepare(st,
		    "INSERT INTO resources (name, type, version, instance, state, created_at)"
		    " VALUES (?, ?, ?, ?, ?, ?)",
		    &s, err) < 0)
		return -1;
	r->created_at = now();
	state_bind_text(s, 1, r->name);
	state_bind_text(s, 2, r->type);
	state_bind_text(s, 3, r->version);
	state_bind_text(s, 4, r->instance);
	state_bind_text(s, 5, r->state ? r->state : "pending");
	sqlite3_bind_int64(s, 6, r->created_at);
	if (sqlite3_step(s) != SQLITE_DONE) {
		int ext = sqlite3_extended_errcode(st->db);

		if (ext == SQLITE_CONSTRAINT_PRIMARYKEY)
			return nua_error_set(err, NUA_EINPUT, "resource '%s' already exists", r->name);
		if (ext == SQLITE_CONSTRAINT_CHECK)
			return nua_error_set(err, NUA_EINPUT, "unknown resource type '%s'", r->type);
		if (ext == SQLITE_CONSTRAINT_FOREIGNKEY)
			return nua_error_set(err, NUA_EINPUT, "no instance named '%s'", r->instance);
		return state_db_error(st, err, "cannot record the resource");
	}
	return 0;
}

int state_resource_list(struct state *st, struct resource_rec **out, size_t *n,
			struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	struct resource_rec *list = NULL;
	size_t len = 0, alloc = 0;
	int r;

	*out = NULL;
	*n = 0;
	if (state_prepare(st,
		    "SELECT name, type, version, instance, state, created_at FROM resources ORDER BY name",
		    &s, err) < 0)
		return -1;
	while ((r = sqlite3_step(s)) == SQLITE_ROW) {
		struct resource_rec *rec;

		ALLOC_GROW(list, len + 1, alloc);
		rec = &list[len++];
		rec->name = state_column_text(s, 0);
		rec->type = state_column_text(s, 1);
		rec->version = state_column_text(s, 2);
		rec->instance = state_column_text(s, 3);
		rec->state = state_column_text(s, 4);
		rec->created_at = sqlite3_column_int64(s, 5);
	}
	if (r != SQLITE_DONE) {
		resource_rec_list_free(list, len);
		return state_db_error(st, err, "cannot read resources");
	}
	*out = list;
	*n = len;
	return 0;
}

int state_resource_remove(struct state *st, const char *name, struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	_cleanup_free_ char *user = instance_using(st, "resource", "resource_bindings", name);

	if (user)
		return nua_error_set(err, NUA_EINPUT, "resource '%s' is used by instance '%s'", name,
				     user);
	if (state_prepare(st, "DELETE FROM resources WHERE name = ?", &s, err) < 0)
		return -1;
	state_bind_text(s, 1, name);
	if (step_done(st, s, err, "cannot remove the resource") < 0)
		return -1;
	if (sqlite3_changes(st->db) == 0)
		return nua_error_set(err, NUA_EINPUT, "no resource named '%s'", name);
	return 0;
}

/* ---- events ---- */

void event_rec_list_free(struct event_rec *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(list[i].instance);
		free(list[i].kind);
		free(list[i].message);
		free(list[i].data);
	}
	free(list);
}

int state_event_add(struct state *st, const char *instance, const char *kind, const char *message,
		    const char *data, int64_t *id, struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;

	if (state_prepare(st, "INSERT INTO events (time, instance, kind, message, data) VALUES (?, ?, ?, ?, ?)",
		    &s, err) < 0)
		return -1;
	sqlite3_bind_int64(s, 1, now());
	state_bind_text(s, 2, instance);
	state_bind_text(s, 3, kind);
	state_bind_text(s, 4, message);
	state_bind_text(s, 5, data);
	if (step_done(st, s, err, "cannot record the event") < 0)
		return -1;
	if (id)
		*id = sqlite3_last_insert_rowid(st->db);
	return 0;
}

int state_event_last_id(struct state *st, int64_t *id, struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;

	*id = 0;
	if (state_prepare(st, "SELECT coalesce(max(id), 0) FROM events", &s, err) < 0)
		return -1;
	if (sqlite3_step(s) != SQLITE_ROW)
		return state_db_error(st, err, "cannot read events");
	*id = sqlite3_column_int64(s, 0);
	return 0;
}

int state_event_list(struct state *st, int64_t since_id, size_t limit, struct event_rec **out,
		     size_t *n, struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	struct event_rec *list = NULL;
	size_t len = 0, alloc = 0;
	int r;

	*out = NULL;
	*n = 0;
	if (state_prepare(st,
		    "SELECT id, time, instance, kind, message, data FROM events WHERE id > ?"
		    " ORDER BY id LIMIT ?",
		    &s, err) < 0)
		return -1;
	sqlite3_bind_int64(s, 1, since_id);
	sqlite3_bind_int64(s, 2, (int64_t)limit);
	while ((r = sqlite3_step(s)) == SQLITE_ROW) {
		struct event_rec *e;

		ALLOC_GROW(list, len + 1, alloc);
		e = &list[len++];
		e->id = sqlite3_column_int64(s, 0);
		e->time = sqlite3_column_int64(s, 1);
		e->instance = state_column_text(s, 2);
		e->kind = state_column_text(s, 3);
		e->message = state_column_text(s, 4);
		e->data = state_column_text(s, 5);
	}
	if (r != SQLITE_DONE) {
		event_rec_list_free(list, len);
		return state_db_error(st, err, "cannot read events");
	}
	*out = list;
	*n = len;
	return 0;
}

int state_event_prune(struct state *st, int64_t before, int64_t *deleted, struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;

	if (state_prepare(st, "DELETE FROM events WHERE time < ?", &s, err) < 0)
		return -1;
	sqlite3_bind_int64(s, 1, before);
	if (step_done(st, s, err, "cannot prune events") < 0)
		return -1;
	if (deleted)
		*deleted = sqlite3_changes(st->db);
	return 0;
}

/* ---- metrics ---- */

void metric_rec_list_free(struct metric_rec *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i].instance);
	free(list);
}

static void bind_opt_int(sqlite3_stmt *s, int i, int64_t v)
{
	if (v < 0)
		sqlite3_bind_null(s, i);
	else
		sqlite3_bind_int64(s, i, v);
}

struct metrics_args {
	const struct metric_rec *recs;
	size_t n;
};

static int metrics_add_tx(struct state *st, void *arg, struct nua_error **err)
{
	struct metrics_args *a = arg;
	_cleanup_stmt_ sqlite3_stmt *s = NULL;

	if (state_prepare(st,
		    "INSERT OR REPLACE INTO metrics (instance, time, cpu_usec, memory, pids, restarts,"
		    " health_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
		    &s, err) < 0)
		return -1;
	for (size_t i = 0; i < a->n; i++) {
		const struct metric_rec *m = &a->recs[i];

		sqlite3_reset(s);
		state_bind_text(s, 1, m->instance);
		sqlite3_bind_int64(s, 2, m->time);
		bind_opt_int(s, 3, m->cpu_usec);
		bind_opt_int(s, 4, m->memory);
		bind_opt_int(s, 5, m->pids);
		bind_opt_int(s, 6, m->restarts);
		bind_opt_int(s, 7, m->health_ms);
		if (sqlite3_step(s) != SQLITE_DONE)
			return state_db_error(st, err, "cannot record metrics");
	}
	return 0;
}

int state_metrics_add(struct state *st, const struct metric_rec *recs, size_t n,
		      struct nua_error **err)
{
	struct metrics_args a = { recs, n };

	if (n == 0)
		return 0;
	return state_tx(st, metrics_add_tx, &a, err);
}

static int64_t column_opt_int(sqlite3_stmt *s, int i)
{
	return sqlite3_column_type(s, i) == SQLITE_NULL ? -1 : sqlite3_column_int64(s, i);
}

int state_metrics_list(struct state *st, const char *instance, int64_t since,
		       struct metric_rec **out, size_t *n, struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	struct metric_rec *list = NULL;
	size_t len = 0, alloc = 0;
	int r;

	*out = NULL;
	*n = 0;
	if (state_prepare(st,
		    "SELECT instance, time, cpu_usec, memory, pids, restarts, health_ms FROM metrics"
		    " WHERE (?1 IS NULL OR instance = ?1) AND time >= ?2 ORDER BY instance, time",
		    &s, err) < 0)
		return -1;
	state_bind_text(s, 1, instance);
	sqlite3_bind_int64(s, 2, since);
	while ((r = sqlite3_step(s)) == SQLITE_ROW) {
		struct metric_rec *m;

		ALLOC_GROW(list, len + 1, alloc);
		m = &list[len++];
		m->instance = state_column_text(s, 0);
		m->time = sqlite3_column_int64(s, 1);
		m->cpu_usec = column_opt_int(s, 2);
		m->memory = column_opt_int(s, 3);
		m->pids = column_opt_int(s, 4);
		m->restarts = column_opt_int(s, 5);
		m->health_ms = column_opt_int(s, 6);
	}
	if (r != SQLITE_DONE) {
		metric_rec_list_free(list, len);
		return state_db_error(st, err, "cannot read metrics");
	}
	*out = list;
	*n = len;
	return 0;
}

int state_metrics_prune(struct state *st, int64_t before, struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;

	if (state_prepare(st, "DELETE FROM metrics WHERE time < ?", &s, err) < 0)
		return -1;
	sqlite3_bind_int64(s, 1, before);
	return step_done(st, s, err, "cannot prune metrics");
}

/* ---- settings (schema 4) ---- */

int state_setting_get(struct state *st, const char *key, char **value, struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int r;

	*value = NULL;
	if (state_prepare(st, "SELECT value FROM settings WHERE key = ?", &s, err) < 0)
		return -1;
	state_bind_text(s, 1, key);
	r = sqlite3_step(s);
	if (r == SQLITE_ROW)
		*value = state_column_text(s, 0);
	else if (r != SQLITE_DONE)
		return state_db_error(st, err, "cannot read a setting");
	return 0;
}

int state_setting_set(struct state *st, const char *key, const char *value,
		      struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;

	if (value ? state_prepare(st, "INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", &s,
			    err) < 0
		  : state_prepare(st, "DELETE FROM settings WHERE key = ?", &s, err) < 0)
		return -1;
	state_bind_text(s, 1, key);
	if (value)
		state_bind_text(s, 2, value);
	return step_done(st, s, err, "cannot write a setting");
}

int state_setting_keys(struct state *st, const char *prefix, char ***keys, struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	char **v = NULL;
	size_t n = 0, alloc = 0;
	int r;

	ALLOC_GROW(v, 1, alloc);
	v[0] = NULL;
	if (state_prepare(st, "SELECT key FROM settings WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key",
		    &s, err) < 0) {
		free(v);
		return -1;
	}
	state_bind_text(s, 1, prefix);
	while ((r = sqlite3_step(s)) == SQLITE_ROW) {
		ALLOC_GROW(v, n + 2, alloc);
		v[n++] = state_column_text(s, 0);
		v[n] = NULL;
	}
	if (r != SQLITE_DONE) {
		strv_free(v);
		return state_db_error(st, err, "cannot read settings");
	}
	*keys = v;
	return 0;
}

/* ---- backups (schema 4) ---- */

void backup_rec_list_free(struct backup_rec *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(list[i].target);
		free(list[i].snapshot);
		free(list[i].instance);
		free(list[i].kind);
		free(list[i].image_ref);
	}
	free(list);
}

int state_backup_add(struct state *st, const struct backup_rec *b, struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;

	if (state_prepare(st,
		    "INSERT OR REPLACE INTO backups (target, snapshot, instance, time, kind, "
		    "image_ref, bytes, files, added) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		    &s, err) < 0)
		return -1;
	state_bind_text(s, 1, b->target);
	state_bind_text(s, 2, b->snapshot);
	state_bind_text(s, 3, b->instance);
	sqlite3_bind_int64(s, 4, b->time);
	state_bind_text(s, 5, b->kind);
	state_bind_text(s, 6, b->image_ref);
	sqlite3_bind_int64(s, 7, b->bytes);
	sqlite3_bind_int64(s, 8, b->files);
	sqlite3_bind_int64(s, 9, b->added);
	return step_done(st, s, err, "cannot record the backup");
}

int state_backup_list(struct state *st, const char *instance, struct backup_rec **out, size_t *n,
		      struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	struct backup_rec *list = NULL;
	size_t len = 0, alloc = 0;
	int r;

	*out = NULL;
	*n = 0;
	if (state_prepare(st,
		    "SELECT target, snapshot, instance, time, kind, image_ref, bytes, files, added "
		    "FROM backups WHERE ?1 IS NULL OR instance = ?1 ORDER BY time, snapshot",
		    &s, err) < 0)
		return -1;
	state_bind_text(s, 1, instance);
	while ((r = sqlite3_step(s)) == SQLITE_ROW) {
		struct backup_rec *b;

		ALLOC_GROW(list, len + 1, alloc);
		b = &list[len++];
		b->target = state_column_text(s, 0);
		b->snapshot = state_column_text(s, 1);
		b->instance = state_column_text(s, 2);
		b->time = sqlite3_column_int64(s, 3);
		b->kind = state_column_text(s, 4);
		b->image_ref = state_column_text(s, 5);
		b->bytes = sqlite3_column_int64(s, 6);
		b->files = sqlite3_column_int64(s, 7);
		b->added = sqlite3_column_int64(s, 8);
	}
	if (r != SQLITE_DONE) {
		backup_rec_list_free(list, len);
		return state_db_error(st, err, "cannot read backups");
	}
	*out = list;
	*n = len;
	return 0;
}

int state_backup_last(struct state *st, const char *instance, int64_t *time,
		      struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;

	*time = 0;
	if (state_prepare(st, "SELECT max(time) FROM backups WHERE instance = ?", &s, err) < 0)
		return -1;
	state_bind_text(s, 1, instance);
	if (sqlite3_step(s) != SQLITE_ROW)
		return state_db_error(st, err, "cannot read backups");
	*time = sqlite3_column_int64(s, 0);
	return 0;
}

int state_backup_remove(struct state *st, const char *target, const char *snapshot,
			struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;

	if (state_prepare(st, "DELETE FROM backups WHERE target = ? AND snapshot = ?", &s, err) < 0)
		return -1;
	state_bind_text(s, 1, target);
	state_bind_text(s, 2, snapshot);
	return step_done(st, s, err, "cannot forget a backup");
}
