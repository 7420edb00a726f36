/* Backing services attached to instances: a [[resource]] of type postgres,
 * mariadb or redis gets a database (or a Redis key prefix), a user and a
 * password of its own on a server that Nua runs, shared by the instances
 * that need one of that type.
 *
 * A server is an instance named "nua-TYPE", deployed from the package
 * services/TYPE (found in NUA_SERVICES, default: the services/ directory
 * beside the nua binary's build directory, or /usr/share/nua/services).
 * Provisioning runs the server's own client inside its container (runc
 * exec) with the commands on its standard input, so that no password is
 * ever on a command line; it is idempotent, and instance_converge runs it
 * before every start of an instance that has resources, so a process
 * killed in the middle of a deploy leaves nothing that the next start does
 * not complete. */
#ifndef NUA_RESOURCE_H
#define NUA_RESOURCE_H

#include <stdbool.h>

#include "error.h"
#include "state.h"

struct nua_ctx;

/* True for a type this nua provisions. */
bool resource_type_supported(const char *type);

/* The instance name of the shared server of type (caller frees). */
char *resource_server_name(const char *type);

/* True for the instance names Nua keeps for its servers ("nua-..."). */
bool resource_reserved_name(const char *name);

/* The instance name of the server of resource name (type) of instance:
 * the shared "nua-TYPE", or with dedicated its own "nua-INSTANCE-NAME"
 * (NUA_EINPUT when that is over 40 characters). Caller frees. */
char *resource_server_for(const char *instance, const char *name, const char *type,
			  bool dedicated, struct nua_error **err);

/* The server (a Nua instance) that resource name's variables in env point
 * at, or NULL for a server outside Nua. Points into env. */
const char *resource_server_of(const struct env_rec *env, size_t n, const char *name);

/* Make sure server (an instance of the package services/TYPE) exists and
 * runs: deploy it when it does not exist, start it when it is stopped.
 * Takes the server's lock (ctx->lock); servers are made one at a time. */
int resource_ensure_server(struct nua_ctx *ctx, const char *type, const char *server,
			   struct nua_error **err);

/* The variables an instance named instance gets for its resource name of
 * type: NAME_URL, NAME_HOST, NAME_PORT, NAME_USER, NAME_PASSWORD, NAME_DB
 * (NAME uppercased, '-' as '_'), with a new random password. Appended to
 * *env (n entries, *alloc allocated; values and keys owned by the array).
 * The password and the URL are marked secret. */
int resource_new_env(const char *instance, const char *name, const char *type, const char *server,
		     struct env_rec **env, size_t *n, size_t *alloc, struct nua_error **err);

/* The twelve-factor name under which resource i of a package (names and
 * types: its n resources in order) also gets its URL: DATABASE_URL for the
 * first SQL database, REDIS_URL for the first Redis. NULL when it gets
 * none: an earlier resource took the name, or the name is some resource's
 * own NAME_URL (a resource named "database" or "redis" owns it). */
const char *resource_url_alias(const char *const *names, const char *const *types, size_t n,
			       size_t i);

/* Whether key is one of the variables resources (names, types: a
 * package's n resources) give an instance (NAME_URL, NAME_HOST, NAME_PORT,
 * NAME_USER, NAME_PASSWORD, NAME_DB, NAME_PREFIX, and the DATABASE_URL or
 * REDIS_URL alias): what a copy of the instance must not take from the
 * original, having resources of its own. */
bool resource_owned_key(const char *key, const char *const *names, const char *const *types,
			size_t n);

/* The value of the variable KEY of resource name in env (the instance's
 * opened env), for {from = "name", key = "url"} references: url, host,
 * port, user, password, db (any case). NULL when there is none. */
const char *resource_env_lookup(const struct env_rec *env, size_t n, const char *name,
				const char *key);

/* Create (or update to the password in env) the database and user of the
 * resource name of type for instance. env is the instance's env with its
 * secrets opened. */
int resource_provision(struct nua_ctx *ctx, const char *instance, const char *name,
		       const char *type, const char *server, const struct env_rec *env, size_t n,
		       struct nua_error **err);

/* Take the resource away from the instance: its user can no longer log in
 * (its data is kept); with purge, drop the database (or keys) and the user.
 * A server that does not run is no error when nothing needs purging. */
int resource_deprovision(struct nua_ctx *ctx, const char *instance, const char *name,
			 const char *type, const char *server, bool purge, struct nua_error **err);

/* Write the data of the resource name (type) of instance on server to
 * path, atomically, mode 0600: PostgreSQL's custom format (pg_dump -Fc,
 * uncompressed), MariaDB's SQL (mariadb-dump --single-transaction), or for
 * Redis the commands that make the instance's keys again. A dump equal to
 * the one already at path leaves that file as it is (its time too). */
int resource_dump(struct nua_ctx *ctx, const char *instance, const char *name, const char *type,
		  const char *server, const char *path, struct nua_error **err);
/* Where the time a PostgreSQL custom-format archive was made is in its
 * header h[0..len): *n bytes from *off; false when h is not such a header of
 * a known version. resource_dump clears it. */
bool pg_archive_time(const unsigned char *h, size_t len, size_t *off, size_t *n);
/* Read such a dump back into the resource, replacing what it holds (a
 * PostgreSQL dump, custom format or SQL, drops and recreates its objects,
 * as the instance's user;
 * a MariaDB one its tables; Redis: the instance's keys). */
int resource_restore(struct nua_ctx *ctx, const char *instance, const char *name,
		     const char *type, const char *server, const char *path, struct nua_error **err);

/* Whether the server Nua runs for type satisfies the version constraint
 * of resource name (the [[resource]]'s `version`; NULL or "" takes any):
 * NUA_EINPUT saying which version it is otherwise. */
int resource_check_version(const char *name, const char *type, const char *constraint,
			   struct nua_error **err);

/* A server the operator runs, given as a URL at deploy time
 * ("postgresql://USER:PASSWORD@HOST:PORT/DB", "mysql://...", "redis://..."):
 * Nua provisions nothing on it and injects the same variables. */
struct resource_url {
	char *scheme, *user, *password, *host, *db;
	int port;
};
void resource_url_release(struct resource_url *u);
/* Parse url for a resource of type: the scheme must be the type's
 * (postgres or postgresql; mysql or mariadb; redis), the host and the user
 * are required, the port defaults to the type's, %XX escapes are decoded.
 * NUA_EINPUT says what is wrong (never quoting the password). */
int resource_parse_url(const char *type, const char *url, struct resource_url *out,
		       struct nua_error **err);
/* The variables of resource name for the external server u (as
 * resource_new_env's). */
void resource_external_env(const char *name, const char *type, const char *url,
			   const struct resource_url *u, struct env_rec **env, size_t *n,
			   size_t *alloc);

#endif
