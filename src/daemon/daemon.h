/* The orchestrator: `nua daemon`, the single owner of a server's state.
 *
 * One main thread runs the event loop (signals as a signalfd, a one-second
 * timerfd tick driving the supervisor, metrics and the periodic reconcile,
 * and the health probes' sockets and pidfds). libmicrohttpd serves the API
 * (api.c) on the unix socket $NUA_RUN/nua.sock, a thread per connection;
 * slow work (deploys, restarts, the reconcile) runs in job threads. Work on
 * one instance is serialised by a per-instance lock; builds by one build
 * lock.
 *
 * Crash-only: nothing here is needed to recover. Every change is recorded in
 * the state database first and carried out by instance_converge, so a
 * daemon killed at any point converges again when it starts. */
#ifndef NUA_DAEMON_H
#define NUA_DAEMON_H

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "instance.h"

struct sup; /* supervise.c: what the supervisor knows of one instance */

struct daemon {
	/* Opened once, read-only afterwards: shared by every thread. */
	struct runtime rt;
	struct proxy proxy;
	struct cni_network net;
	struct state *st; /* the main thread's connection */

	pthread_mutex_t mu; /* guards what follows */
	pthread_cond_t cond;
	char **busy; /* names of instances an operation holds */
	size_t n_busy, alloc_busy;
	int jobs;	 /* job threads running */
	bool dirty;	 /* instances changed: the supervisor reloads them */
	bool reconciled; /* the start-up reconcile is done */

	pthread_mutex_t build_mu; /* one build at a time */

	struct sup *sups; /* main thread only */
	size_t n_sups, alloc_sups;

	int wake_fd; /* eventfd: wakes the loop (after an operation) */
	atomic_bool stopping;
	atomic_bool backups_running; /* the backup scheduler's job runs */
	atomic_bool tls_running;     /* the certificates' job runs */
	atomic_llong requests;
	long long started_ms; /* monotonic */
	int64_t started_at;   /* unix seconds */
	int64_t last_event_id;
};

/* A context for one thread: the shared runtime, proxy and network, and a
 * database connection of its own. Release with daemon_ctx_close. */
int daemon_ctx(struct daemon *d, struct nua_ctx *ctx, struct nua_error **err);
void daemon_ctx_close(struct nua_ctx *ctx);

/* Take the lock of instance name, waiting while another holds it. */
void daemon_lock(struct daemon *d, const char *name);
/* Take it only when free. */
bool daemon_trylock(struct daemon *d, const char *name);
void daemon_unlock(struct daemon *d, const char *name);
bool daemon_is_busy(struct daemon *d, const char *name);

/* Tell the loop that instances changed (reload, recheck now). */
void daemon_changed(struct daemon *d);

/* Run fn(d, name) in a job thread holding the lock of name (when name is
 * not NULL); name is copied. Returns false when the lock is taken. */
bool daemon_job(struct daemon *d, const char *name, void (*fn)(struct daemon *d, const char *name),
		bool wait_lock);

/* Converge every instance something is left of (instance_known_names),
 * each under its lock; busy ones are skipped. */
void daemon_reconcile_all(struct daemon *d, const char *why);

/* ---- api.c ---- */

struct MHD_Daemon;
/* Serve the API on the listening socket fd (taken). */
struct MHD_Daemon *api_start(struct daemon *d, int fd, bool remote, struct nua_error **err);
void api_stop(struct MHD_Daemon *mhd);

/* ---- supervise.c ---- */

/* Reload the instances from the state when they changed. */
void sup_sync(struct daemon *d);
/* One tick: crashed containers, restarts due, health probes due, metrics. */
void sup_tick(struct daemon *d, long long now_ms);
/* The fds of the running probes (for the loop), and their progress. */
int sup_poll_fds(struct daemon *d, struct pollfd *fds, int max);
void sup_poll_done(struct daemon *d, long long now_ms);
/* The soonest probe deadline (monotonic ms), or -1. */
long long sup_next_deadline(struct daemon *d);
void sup_free(struct daemon *d);

/* What the supervisor knows of name, for the API: the latest health check
 * latency (-1 none) and detail. */
void sup_health_info(struct daemon *d, const char *name, long long *latency_ms, char *detail,
		     size_t size);

/* A line of the daemon's log (stderr): the UTC time, then the message. */
void daemon_log(const char *fmt, ...) PRINTF(1, 2);

int cmd_daemon(int argc, char **argv);

#endif
