/* Instances: deployed copies of an image, and their lifecycle on the oci
 * driver (deploy, start, stop, restart, remove, env).
 *
 * An instance's files live under $NUA_ROOT/instances/NAME:
 *
 *   rootfs/         overlay of the image's layers and upper/ (mounted while
 *                   the instance runs)
 *   upper/ work/    the instance's own writable layer
 *   bundle/         the OCI bundle (config.json, conmon's fifos)
 *   volumes/VOL/    managed volumes, bind-mounted; kept by `rm` unless
 *                   purged
 *   logs/app.log    the app's stdout and stderr (k8s-file, rotated)
 *   hosts           /etc/hosts of the container: itself and the other
 *                   running instances by name
 *   ip              the address CNI gave it while it runs
 *
 * The container is named "nua-NAME" (or "nua-TAG-NAME" for another
 * NUA_ROOT, see nua_root_tag) in the runtime, its network namespace NAME.
 * The desired state is the state store's; each operation here records the
 * change first, then carries it out, and undoes what it did when it fails. */
#ifndef NUA_INSTANCE_H
#define NUA_INSTANCE_H

#include <stdbool.h>
#include <stdio.h>

#include "error.h"
#include "network_cni.h"
#include "proxy_nginx.h"
#include "runtime_oci.h"
#include "state.h"

/* The pieces of a server an operation needs, opened once. */
struct nua_ctx {
	struct state *st;
	struct runtime rt;
	struct proxy proxy;
	struct cni_network net;
	bool rt_open, proxy_open, net_open;
	int lock_fd;
	FILE *progress; /* messages for a person (NULL: quiet) */
	bool tty;
};

enum {
	CTX_STATE = 1 << 0,   /* the state store */
	CTX_RUNTIME = 1 << 1, /* the oci driver */
	CTX_PROXY = 1 << 2,   /* nginx */
	CTX_NETWORK = 1 << 3, /* CNI */
	CTX_LOCK = 1 << 4,    /* the server-wide lock for changes */
	CTX_ALL = 0x1f,
};

/* Open what needs asks for. The lock is an flock on $NUA_ROOT/nua.lock,
 * waited for; it is released by nua_ctx_close (or the process's end). */
int nua_ctx_open(struct nua_ctx *ctx, unsigned needs, struct nua_error **err);
void nua_ctx_close(struct nua_ctx *ctx);

struct deploy_request {
	const char *source; /* a package directory, or an image ref */
	const char *name;   /* NULL: the image's id */
	const char *domain; /* "example.com" or "example.com/path"; NULL: NAME.localhost */
	const char *const *env; /* "KEY=VALUE" overrides, NULL-terminated, or NULL */
	bool no_cache;      /* when building */
};

/* Build (when source is a directory), record, start and route a new
 * instance. A taken name or domain, a bad domain or name, an unknown image,
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
int instance_restart(struct nua_ctx *ctx, const char *name, struct nua_error **err);
/* Stop, unroute and forget the instance; managed volumes are kept under
 * $NUA_ROOT/instances/NAME/volumes unless purge. */
int instance_remove(struct nua_ctx *ctx, const char *name, bool purge, struct nua_error **err);

/* Set (KEY=VALUE) and unset (KEY) variables of the instance's env, then
 * restart it when it runs. An unknown KEY to unset is NUA_EINPUT. */
int instance_set_env(struct nua_ctx *ctx, const char *name, const char *const *set,
		     const char *const *unset, struct nua_error **err);

/* What runs: the runtime's view of the instance's container. */
struct instance_status {
	struct container_state ctr;
	char ip[64];
	long long started_at; /* unix seconds, 0 when not running */
};
int instance_status(struct nua_ctx *ctx, const char *name, struct instance_status *out,
		    struct nua_error **err);

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

/* The runtime's id of the instance's container (caller frees). */
char *instance_container_id(const char *name);

#endif
