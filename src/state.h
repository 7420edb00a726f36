/* The desired state of a Nua server, in SQLite at $NUA_ROOT/nua.db.
 *
 * The database says what should be (images, instances with their env and
 * volumes, resources) and keeps an event log; the daemon converges what runs
 * on it. Every change that touches several rows is one transaction. The
 * schema is versioned (PRAGMA user_version) and migrated forward on open;
 * docs/state.md describes it. */
#ifndef NUA_STATE_H
#define NUA_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

struct state;

/* Open (creating it, mode 0600, and its directory) the database at path,
 * in WAL mode with foreign keys on, and migrate it to the latest schema. A
 * database whose schema is newer than this nua knows is refused. */
int state_open(const char *path, struct state **out, struct nua_error **err);

/* As state_open, but migrate no further than version (for the migration
 * tests). */
int state_open_version(const char *path, int version, struct state **out, struct nua_error **err);

void state_close(struct state *st);

/* The schema version of the open database, and the newest this code has. */
int state_schema_version(struct state *st);
int state_latest_version(void);

/* Run fn inside BEGIN IMMEDIATE ... COMMIT; roll back when fn fails (returns
 * negative) and return its result. Transactions do not nest. */
int state_tx(struct state *st, int (*fn)(struct state *st, void *arg, struct nua_error **err),
	     void *arg, struct nua_error **err);

/* Run one SQL statement without results (tests, maintenance). */
int state_exec(struct state *st, const char *sql, struct nua_error **err);

/* For the modules that keep tables of their own here (users.c): the
 * database handle, and an error naming the database, what failed and
 * SQLite's message. */
struct sqlite3;
struct sqlite3_stmt;
struct sqlite3 *state_db(struct state *st);
int state_db_error(struct state *st, struct nua_error **err, const char *what);
/* Prepare sql (an error names the database); finalize with the cleanup. */
int state_prepare(struct state *st, const char *sql, struct sqlite3_stmt **stmt,
		  struct nua_error **err);
void state_finalizep(struct sqlite3_stmt **s);
#define _cleanup_stmt_ _cleanup_(state_finalizep)
/* Bind text, or NULL for a NULL pointer. */
void state_bind_text(struct sqlite3_stmt *s, int i, const char *v);
/* A copy of column i's text, or NULL (caller frees). */
char *state_column_text(struct sqlite3_stmt *s, int i);

/* ---- images ---- */

struct image_rec {
	char *ref;     /* "id:version-release", unique */
	char *id, *version;
	int64_t release;
	char *digest;  /* "sha256:..." of the manifest */
	char *config;  /* the package's nua-config as JSON */
	int64_t size;
	int64_t created_at; /* unix seconds; set by state_image_add */
};

void image_rec_release(struct image_rec *img);
void image_rec_list_free(struct image_rec *list, size_t n);

/* Add an image, or replace the record of the same ref (a rebuild). */
int state_image_put(struct state *st, struct image_rec *img, struct nua_error **err);
/* Fill *out; no such image is NUA_EINPUT "no image 'ref'". */
int state_image_get(struct state *st, const char *ref, struct image_rec *out,
		    struct nua_error **err);
/* All images, newest first. The caller frees with image_rec_list_free. */
int state_image_list(struct state *st, struct image_rec **out, size_t *n, struct nua_error **err);
/* Refused (NUA_EINPUT) while an instance uses the image. */
int state_image_remove(struct state *st, const char *ref, struct nua_error **err);

/* ---- instances ---- */

struct env_rec {
	char *key;
	char *value;
	bool secret; /* stored as given here; encryption at rest is the caller's */
};

struct volume_rec {
	char *name, *target;
	char *type;   /* managed, directory, tmpfs */
	char *source; /* host path for directory, or NULL */
};

/* Another domain+path of an instance: served as the instance's own, or
 * (redirect) answered with a 301 to its main domain. */
struct alias_rec {
	char *domain;
	char *path; /* "/" or "/a/b" */
	bool redirect;
};

struct instance_rec {
	char *name;
	char *image_ref;
	char *domain; /* NULL when none */
	char *path;   /* URL path prefix, "/" by default */
	char *desired; /* running, stopped */
	char *actual;  /* last observed: unknown, starting, running, stopped, crashloop, ... */
	int64_t generation;
	int64_t created_at, updated_at;
	int removing;	    /* 0, 1: being removed, 2: being removed with its data */
	int64_t restarts;   /* restarts by the supervisor since the last deploy */
	int64_t last_exit;  /* exit code of the last exit seen, -1 none */
	char *health;	    /* unknown, starting, healthy, unhealthy */
	int64_t started_at; /* unix seconds the running container started, 0 none */
	struct env_rec *env;
	size_t n_env;
	struct volume_rec *volumes;
	size_t n_volumes;
	struct alias_rec *aliases; /* oldest first */
	size_t n_aliases;
};

void instance_rec_release(struct instance_rec *in);
void instance_rec_list_free(struct instance_rec *list, size_t n);

/* Add an instance with its env and volumes, all or nothing. A taken name,
 * a taken domain+path or an unknown image is NUA_EINPUT. */
int state_instance_add(struct state *st, struct instance_rec *in, struct nua_error **err);
int state_instance_get(struct state *st, const char *name, struct instance_rec *out,
		       struct nua_error **err);
/* All instances by name, with env and volumes. */
int state_instance_list(struct state *st, struct instance_rec **out, size_t *n,
			struct nua_error **err);
int state_instance_set_desired(struct state *st, const char *name, const char *desired,
			       struct nua_error **err);
int state_instance_set_actual(struct state *st, const char *name, const char *actual,
			      struct nua_error **err);
/* Point the instance at image_ref (when not NULL) and replace its env with
 * env[0..n_env) (when env is not NULL), bumping its generation and
 * resetting its restarts, in one transaction. The spec it replaces is kept
 * as a revision (see state_instance_revert). */
int state_instance_update(struct state *st, const char *name, const char *image_ref,
			  const struct env_rec *env, size_t n_env, struct nua_error **err);
/* Go back to the spec that revision generation recorded (state_instance_update
 * keeps the one it replaces): its image, env and generation number; later
 * revisions are dropped. No such revision is NUA_EINPUT. */
int state_instance_revert(struct state *st, const char *name, int64_t generation,
			  struct nua_error **err);
/* The newest revision older than the instance's generation (0: none). */
int state_revision_latest(struct state *st, const char *name, int64_t *generation,
			  struct nua_error **err);
/* Forget the instance's revisions (once its new generation serves). */
int state_revisions_drop(struct state *st, const char *name, struct nua_error **err);
/* Add domain+path (path normalised: "/" or "/a/b") as an alias of name.
 * NUA_EINPUT: no such instance, an instance without a domain, or
 * domain+path served by an instance already (its own or an alias). */
/* Refused (NUA_EINPUT, naming the instance) when an instance serves
 * domain+path already, as its own or through an alias, or when domain is
 * the server's admin domain. */
int state_domain_free(struct state *st, const char *domain, const char *path,
		      struct nua_error **err);
int state_alias_add(struct state *st, const char *name, const char *domain, const char *path,
		    bool redirect, struct nua_error **err);
/* NUA_EINPUT when name has no such alias. */
int state_alias_remove(struct state *st, const char *name, const char *domain, const char *path,
		       struct nua_error **err);
/* Record that the instance is to be removed (with its data when purge). */
int state_instance_set_removing(struct state *st, const char *name, bool purge,
				struct nua_error **err);
/* The supervisor saw the instance's container exit with exit_code (< 0:
 * not known, the last one is kept), or restarted it for failing its health
 * check: count a restart. */
int state_instance_record_exit(struct state *st, const char *name, int exit_code,
			       struct nua_error **err);
int state_instance_set_started(struct state *st, const char *name, int64_t started_at,
			       struct nua_error **err);
int state_instance_set_health(struct state *st, const char *name, const char *health,
			      struct nua_error **err);
/* Remove the instance; its env, volumes records and resource bindings go
 * with it. */
int state_instance_remove(struct state *st, const char *name, struct nua_error **err);

/* ---- resources (schema 2) ---- */

struct resource_rec {
	char *name;     /* the server: "postgres" when shared, or dedicated */
	char *type;     /* postgres, mariadb, redis, mongodb */
	char *version;  /* or NULL */
	char *instance; /* owner of a dedicated server, or NULL when shared */
	char *state;
	int64_t created_at;
};

void resource_rec_release(struct resource_rec *r);
void resource_rec_list_free(struct resource_rec *list, size_t n);
int state_resource_add(struct state *st, struct resource_rec *r, struct nua_error **err);
int state_resource_list(struct state *st, struct resource_rec **out, size_t *n,
			struct nua_error **err);
int state_resource_remove(struct state *st, const char *name, struct nua_error **err);

/* ---- events ---- */

struct event_rec {
	int64_t id;
	int64_t time;   /* unix seconds */
	char *instance; /* or NULL for server-wide events */
	char *kind;     /* "deploy", "start", "crash", ... */
	char *message;
	char *data;     /* JSON, or NULL */
};

void event_rec_list_free(struct event_rec *list, size_t n);
/* Append an event; *id (when not NULL) receives its id. */
int state_event_add(struct state *st, const char *instance, const char *kind, const char *message,
		    const char *data, int64_t *id, struct nua_error **err);
/* The id of the newest event, 0 when there is none. */
int state_event_last_id(struct state *st, int64_t *id, struct nua_error **err);
/* Events with id > since_id, oldest first, at most limit. */
int state_event_list(struct state *st, int64_t since_id, size_t limit, struct event_rec **out,
		     size_t *n, struct nua_error **err);
/* Delete events older than before (unix seconds); *deleted receives the
 * count when not NULL. */
int state_event_prune(struct state *st, int64_t before, int64_t *deleted, struct nua_error **err);

/* ---- metrics (schema 3) ---- */

/* One sample of an instance; -1 for a value not known. */
struct metric_rec {
	char *instance;
	int64_t time; /* unix seconds */
	int64_t cpu_usec, memory, pids, restarts, health_ms;
};

void metric_rec_list_free(struct metric_rec *list, size_t n);
/* Record n samples in one transaction (a sample of the same instance and
 * second replaces the older). */
int state_metrics_add(struct state *st, const struct metric_rec *recs, size_t n,
		      struct nua_error **err);
/* Samples with time >= since, of instance (NULL: all), by instance then
 * time. */
int state_metrics_list(struct state *st, const char *instance, int64_t since,
		       struct metric_rec **out, size_t *n, struct nua_error **err);
int state_metrics_prune(struct state *st, int64_t before, struct nua_error **err);

/* ---- settings (schema 4) ---- */

/* Server-wide settings, by dotted key ("backup.frequency",
 * "backup.target.local"). *value is NULL (and 0 returned) when the key is
 * not set; the caller frees it. */
int state_setting_get(struct state *st, const char *key, char **value, struct nua_error **err);
/* Set key to value, or delete it when value is NULL. */
int state_setting_set(struct state *st, const char *key, const char *value,
		      struct nua_error **err);
/* The keys that start with prefix, sorted, as a NULL-terminated array the
 * caller frees with strv_free. */
int state_setting_keys(struct state *st, const char *prefix, char ***keys, struct nua_error **err);

/* ---- backups (schema 4) ---- */

/* A snapshot Nua took, as restic reported it. */
struct backup_rec {
	char *target;	/* the repository's name */
	char *snapshot; /* restic's snapshot id (64 hex digits) */
	char *instance;
	int64_t time;	/* unix seconds */
	char *kind;	/* manual, scheduled, safety, upgrade */
	char *image_ref;
	int64_t bytes, files, added;
};
void backup_rec_list_free(struct backup_rec *list, size_t n);
/* Record a snapshot (replacing the record of the same target and id). */
int state_backup_add(struct state *st, const struct backup_rec *b, struct nua_error **err);
/* The snapshots of instance (NULL: all), oldest first. */
int state_backup_list(struct state *st, const char *instance, struct backup_rec **out, size_t *n,
		      struct nua_error **err);
/* When the newest recorded snapshot of instance was taken (0: none). */
int state_backup_last(struct state *st, const char *instance, int64_t *time,
		      struct nua_error **err);
int state_backup_remove(struct state *st, const char *target, const char *snapshot,
			struct nua_error **err);

#endif
