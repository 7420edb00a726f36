/* Instances: deployed copies of an image, and their lifecycle on the oci
 * driver (deploy, start, stop, restart, remove, env).
 *
 * An instance's files live under $NUA_ROOT/instances/NAME:
 *
 *   gen/GEN/        one generation of the instance (each deploy, env change
 *                   or restart makes the next): rootfs/ (overlay of the
 *                   image's layers and upper/, mounted while it runs),
 *                   upper/ work/ (its writable layer), bundle/ (the OCI
 *                   bundle), ip (the address CNI gave it)
 *   volumes/VOL/    managed volumes, bind-mounted; kept by `rm` unless
 *                   purged
 *   logs/app.log    the app's stdout and stderr (k8s-file, rotated), all
 *                   generations
 *   hosts           /etc/hosts of the container: itself and the other
 *                   running instances by name
 *   ip              the address of the generation that serves
 *
 * Generation GEN runs in the container "nua-NAME-gGEN" (or
 * "nua-TAG-NAME-gGEN" for another NUA_ROOT, see nua_root_tag), in the
 * network namespace NAME-gGEN. A new generation starts beside the one that
 * serves and takes its route once healthy; the old one is drained, then
 * removed.
 *
 * The desired state is the state store's. Every operation records the
 * change first, then calls instance_converge, which compares the record
 * with what runs and closes the gap, idempotently: a process killed in the
 * middle of any operation leaves a state that the next instance_converge
 * completes. Callers serialise operations on one instance (the daemon
 * holds a lock per instance). */
#ifndef NUA_INSTANCE_H
#define NUA_INSTANCE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "network_cni.h"
#include "proxy_nginx.h"
#include "runtime_oci.h"
#include "state.h"

/* The pieces of a server an operation needs: the daemon opens the runtime,
 * network and proxy once and gives each thread a context with a database
 * connection of its own (daemon_ctx). */
struct nua_ctx {
	struct state *st;
	struct runtime rt;
	struct proxy proxy;
	struct cni_network net;
	FILE *progress; /* messages for a person (NULL: quiet) */
	bool tty;
	bool build_worker; /* builds run in a child (build_package_worker) */
	/* Take (take true) or release the lock of another instance than the
	 * one being worked on (a resource server); NULL: no locks. */
	void (*lock)(void *arg, const char *name, bool take);
	void *lock_arg;
};

/* A line for the person waiting on the operation (ctx->progress), when
 * there is one. */
void nua_say(struct nua_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Record an event of instance name (NULL: of the server) of kind. */
void nua_event(struct nua_ctx *ctx, const char *name, const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

struct deploy_request {
	const char *source; /* a package directory, or an image ref */
	const char *name;   /* NULL: the image's id */
	const char *domain; /* "example.com" or "example.com/path"; NULL: NAME.localhost */
	const char *const *env; /* "KEY=VALUE" overrides, NULL-terminated, or NULL */
	bool no_cache;      /* when building */
	bool server;	    /* a resource server (may take a reserved name) */
	/* "NAME=URL": resource NAME on a server the operator runs (Nua
	 * provisions nothing there), NULL-terminated, or NULL */
	const char *const *resources;
};

/* Build (when source is a directory), record, start and route a new
 * instance; when req->name is an existing instance, deploy the image (and
 * env overrides) as its next generation without downtime instead (its
 * domain cannot change). A taken name or domain, a bad domain or name, an unknown image,
 * a host port in use, a missing resource are NUA_EINPUT and change nothing.
 * An app that does not start or answer fails the deploy (with the end of
 * its log) and leaves nothing of the new instance behind. *name_out (may
 * be NULL; caller frees) is the instance's name. */
int instance_deploy(struct nua_ctx *ctx, const struct deploy_request *req, char **name_out,
		    struct nua_error **err);

/* Start a stopped instance and route it; running already is success. */
int instance_start(struct nua_ctx *ctx, const char *name, struct nua_error **err);
/* Stop it (SIGTERM, SIGKILL after 10 s); its domain answers 503. */
int instance_stop(struct nua_ctx *ctx, const char *name, struct nua_error **err);
/* A new generation of the same spec, started beside the running one. */
int instance_restart(struct nua_ctx *ctx, const char *name, struct nua_error **err);
/* Stop, unroute and forget the instance; managed volumes are kept under
 * $NUA_ROOT/instances/NAME/volumes unless purge. */
int instance_remove(struct nua_ctx *ctx, const char *name, bool purge, struct nua_error **err);

/* Serve the instance at one more DOMAIN[/PATH] (spec), as its own or, with
 * redirect, by a 301 to its main domain; the route changes at once (a
 * certificate for it is asked for by the next TLS pass). NUA_EINPUT: a bad
 * spec, no such instance, one without a domain, or a domain+path taken. */
int instance_alias_add(struct nua_ctx *ctx, const char *name, const char *spec, bool redirect,
		       struct nua_error **err);
/* Stop serving the instance at alias spec. The main domain is NUA_EINPUT. */
int instance_alias_remove(struct nua_ctx *ctx, const char *name, const char *spec,
			  struct nua_error **err);

/* Set (KEY=VALUE) and unset (KEY) variables of the instance's env, then
 * start the new generation beside the running one when it runs. An unknown KEY to unset is NUA_EINPUT. */
int instance_set_env(struct nua_ctx *ctx, const char *name, const char *const *set,
		     const char *const *unset, struct nua_error **err);

/* What runs: the runtime's view of the instance's container. */
struct instance_status {
	struct container_state ctr;
	int64_t generation; /* the generation looked at */
	char ip[64];
	long long started_at; /* unix seconds, 0 when not running */
};
int instance_status(struct nua_ctx *ctx, const char *name, struct instance_status *out,
		    struct nua_error **err);
/* The same for a record the caller has already read. The generation looked
 * at is the one nginx routes to (while a new one starts beside it, the old
 * one), else the newest that runs, else the current one. */
int instance_status_of(struct nua_ctx *ctx, const struct instance_rec *in,
		       struct instance_status *out, struct nua_error **err);

/* Make what runs match the record of name: start, restart (a stopped or
 * crashed container of the current generation), switch to the current
 * generation (starting it beside the one that serves, reverting to the
 * previous revision when it never becomes healthy), stop, or finish a
 * removal; for a name the state does not know, remove whatever is left of
 * it (containers, networks, mounts, route; never volumes). Fails with what
 * went wrong; a failed start leaves actual "failed". */
int instance_converge(struct nua_ctx *ctx, const char *name, struct nua_error **err);

/* Take down the current generation's container (crashed, or failing its
 * health check) with its writable layer, and converge, which starts it
 * again from its image. */
int instance_recover(struct nua_ctx *ctx, const char *name, struct nua_error **err);

/* Every instance name something is left of: the state's, the proxy's
 * routes, the runtime's containers, instances/ directories with
 * generations; the resource servers (nua-...) first. NULL-terminated; free
 * with strv_free. */
int instance_known_names(struct nua_ctx *ctx, char ***names, struct nua_error **err);

/* Stop what runs of name (every generation's container, network and
 * mounts) without changing what it should be: the next instance_converge
 * (the daemon's start) starts it again, with its writable layer. For
 * stopping the whole platform; a name the state does not know is cleaned
 * up as instance_converge does. */
int instance_halt(struct nua_ctx *ctx, const char *name, struct nua_error **err);
/* instance_halt for every known name, the apps before the resource
 * servers; goes on past a failure and reports the first. */
int instance_halt_all(struct nua_ctx *ctx, struct nua_error **err);

/* How to reach and check the current generation of an instance. */
struct instance_run {
	char name[64];
	char host[256];	    /* Host header of HTTP checks */
	int64_t generation;
	char ip[64];	    /* "" when it has no address */
	int port;	    /* web port, 0 none */
	pid_t pid;	    /* its init on the host when running, else 0 */
	bool tls;	   /* its [port.web] wants HTTPS (ssl) */
	char *hc_path;	    /* HTTP check path, or NULL with hc_command */
	char **hc_command;  /* argv run in the container, or NULL */
	bool hc_explicit;   /* from [healthcheck]; else "/" answering < 500 */
	int interval, timeout, retries, start_period; /* seconds */
};
int instance_run_info(struct nua_ctx *ctx, const char *name, struct instance_run *out,
		      struct nua_error **err);
void instance_run_release(struct instance_run *r);

struct health_probe;
struct health_result;
/* A health probe of r's container (see health.h), or NULL when it has
 * neither a port nor a command to check. */
struct health_probe *instance_health_probe(struct nua_ctx *ctx, const struct instance_run *r,
					   int timeout_ms);
/* Whether res counts as healthy for r. */
bool instance_health_ok(const struct instance_run *r, const struct health_result *res);

/* $NUA_ROOT/instances/NAME/logs/app.log (caller frees). */
char *instance_log_path(const char *name);

/* The app's text in one line of its log: what follows conmon's
 * "TIME STREAM TAG " prefix, or the whole line when it has none. Points
 * into line. */
const char *instance_log_text(const char *line);

/* The record of instance name; an invalid or unknown name is NUA_EINPUT
 * ("no instance named ..."). Release with instance_rec_release. */
int instance_get(struct nua_ctx *ctx, const char *name, struct instance_rec *in,
		 struct nua_error **err);

/* The state setting that marks a migration pending for the instance:
 * "migrate.NAME", its value the generation that runs the package's [run]
 * migrate before it starts (caller frees). */
char *instance_migration_key(const char *name);

/* The runtime's id of generation gen of the instance (caller frees). */
char *instance_container_id(const char *name, int64_t gen);
/* The instance and generation of a container id of this root; false for
 * another id. */
bool instance_parse_container_id(const char *id, char *name, size_t size, int64_t *gen);

/* Render the route of instance name again with its aliases and access
 * rules (after a change of its access rules). */
int instance_route_refresh(struct nua_ctx *ctx, const char *name, struct nua_error **err);

#endif
