/* The supervisor: crashed and unhealthy instances restarted with
 * exponential backoff, health checks, metrics samples. Main thread only,
 * except the results of restart jobs, which come back through a queue.
 *
 * Each instance that should run is in one state of a small machine; what
 * happens to it is an event, and the table below says where each event
 * leads:
 *
 *   state \ event   dead     probe-ok  probe-fail*  restart-due  restart-ok  restart-fail
 *   healthy         backoff  healthy   backoff      -            -           -
 *   backoff         -        -         -            restarting   -           -
 *   restarting      -        -         -            -            healthy     backoff
 *
 *   dead: its container is gone; probe-fail*: the check failed `retries`
 *   times in a row (the instance is then marked unhealthy). A start (by
 *   an operation or a restart) waits for the first passing check within
 *   the start period before the instance counts as healthy.
 *
 * "backoff" becomes "crashloop" (what the state database and the API show)
 * from the CRASHLOOP_AFTER-th failure in a row on; the wait before the next
 * restart doubles from BACKOFF_BASE_MS up to BACKOFF_MAX_MS. Staying healthy
 * for HEALTHY_RESET_MS forgives past failures. */
#define _GNU_SOURCE
#include "daemon.h"
#include "api.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "health.h"
#include "metrics.h"
#include "state.h"
#include "users.h"
#include "util.h"
#include "banned.h"

#define BACKOFF_BASE_MS 500LL
#define BACKOFF_MAX_MS (300 * 1000LL)
#define CRASHLOOP_AFTER 5
#define HEALTHY_RESET_MS (60 * 1000LL)
#define METRICS_PERIOD_MS (10 * 1000LL)
#define METRICS_KEEP_SEC (24 * 3600)
#define PRUNE_PERIOD_MS (3600 * 1000LL)

enum sup_state { S_IDLE, S_HEALTHY, S_BACKOFF, S_RESTARTING };
enum sup_event { E_DEAD, E_PROBE_OK, E_PROBE_FAIL, E_RESTART_DUE, E_RESTART_OK, E_RESTART_FAIL };

#define X S_IDLE /* no transition: the event does not apply in this state */
static const enum sup_state transitions[][6] = {
	/*                  dead       probe-ok   probe-fail  due           ok         fail */
	[S_IDLE] = { X, X, X, X, X, X },
	[S_HEALTHY] = { S_BACKOFF, S_HEALTHY, S_BACKOFF, X, X, X },
	[S_BACKOFF] = { X, X, X, S_RESTARTING, X, X },
	[S_RESTARTING] = { X, X, X, X, S_HEALTHY, S_BACKOFF },
};
#undef X


struct sup {
	char name[64];
	enum sup_state state;
	bool want;	/* desired running, not being removed */
	bool present;	/* seen in the last sync */
	int64_t generation, updated_at, restarts;
	char desired[16];
	struct instance_run run;
	int failures;	 /* failed runs in a row */
	int probe_fails; /* failed checks in a row */
	long long healthy_since_ms, next_probe_ms, restart_at_ms;
	struct health_probe *probe;
	long long latency_ms;
	char detail[512];
	/* The state store says "healthy" since the last time the supervisor
	 * (re)learnt the instance: a daemon killed in the middle of a start
	 * leaves "starting" there, which the first passing check corrects. */
	bool health_recorded;
};

/* Results of restart jobs, handed from their threads to the loop. */
struct result {
	char name[64];
	bool ok;
	char msg[512];
};
static pthread_mutex_t results_mu = PTHREAD_MUTEX_INITIALIZER;
static struct result *results;
static size_t n_results, alloc_results;

static long long last_metrics_ms, last_prune_ms;

static struct nua_ctx main_ctx(struct daemon *d)
{
	struct nua_ctx ctx;

	memset(&ctx, 0, sizeof(ctx));
	ctx.st = d->st;
	ctx.rt = d->rt;
	ctx.proxy = d->proxy;
	ctx.net = d->net;
	return ctx;
}

static struct sup *sup_find(struct daemon *d, const char *name)
{
	for (size_t i = 0; i < d->n_sups; i++)
		if (streq(d->sups[i].name, name))
			return &d->sups[i];
	return NULL;
}

static void sup_release(struct sup *s)
{
	if (s->probe)
		health_probe_free(s->probe);
	instance_run_release(&s->run);
}

static long long backoff_ms(int failures)
{
	long long ms = BACKOFF_BASE_MS;

	for (int i = 1; i < failures && ms < BACKOFF_MAX_MS; i++)
		ms *= 2;
	return ms < BACKOFF_MAX_MS ? ms : BACKOFF_MAX_MS;
}

static void event(struct daemon *d, const char *name, const char *kind, const char *fmt, ...)
	PRINTF(4, 5);
static void event(struct daemon *d, const char *name, const char *kind, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	state_event_add(d->st, name, kind, sb.buf, NULL, NULL, NULL);
	daemon_log("%s: %s: %s", name, kind, sb.buf);
	strbuf_release(&sb);
}

static void load_run(struct daemon *d, struct sup *s)
{
	struct nua_ctx ctx = main_ctx(d);
	struct nua_error *err = NULL;

	instance_run_release(&s->run);
	if (instance_run_info(&ctx, s->name, &s->run, &err) < 0) {
		daemon_log("%s: %s", s->name, err->msg);
		nua_error_free(err);
	}
}

/* Apply event ev to s; returns whether it changed state. */
static bool fire(struct daemon *d, struct sup *s, enum sup_event ev, long long now)
{
	enum sup_state next = transitions[s->state][ev];

	if (next == S_IDLE)
		return false;
	if (next == S_BACKOFF) {
		s->failures++;
		s->restart_at_ms = now + backoff_ms(s->failures);
		s->healthy_since_ms = 0;
		if (s->probe) {
			health_probe_free(s->probe);
			s->probe = NULL;
		}
		if (s->failures >= CRASHLOOP_AFTER) {
			if (s->failures == CRASHLOOP_AFTER)
				event(d, s->name, "crashloop",
				      "failed %d times in a row; restarting every %lld s at most",
				      s->failures, backoff_ms(s->failures) / 1000);
			state_instance_set_actual(d->st, s->name, "crashloop", NULL);
		} else {
			state_instance_set_actual(d->st, s->name, "restarting", NULL);
		}
	} else if (next == S_HEALTHY && s->state != S_HEALTHY) {
		s->probe_fails = 0;
		s->healthy_since_ms = now;
		s->next_probe_ms = now + s->run.interval * 1000LL;
		state_instance_set_health(d->st, s->name, "healthy", NULL);
		s->health_recorded = true;
	} else if (next == S_HEALTHY) {
		s->probe_fails = 0;
		if (!s->health_recorded && ev == E_PROBE_OK) {
			state_instance_set_health(d->st, s->name, "healthy", NULL);
			s->health_recorded = true;
		}
	}
	s->state = next;
	return true;
}

/* ---- sync with the state ---- */

/* Where an instance stands when the supervisor (re)learns it, or after an
 * operation on it. */
static void evaluate(struct daemon *d, struct sup *s, long long now)
{
	if (s->probe) {
		health_probe_free(s->probe);
		s->probe = NULL;
	}
	s->probe_fails = 0;
	s->health_recorded = false;
	if (!s->want) {
		s->state = S_IDLE;
		s->failures = 0;
		return;
	}
	load_run(d, s);
	if (s->run.pid > 0) {
		s->state = S_HEALTHY;
		s->healthy_since_ms = now;
		s->next_probe_ms = now + s->run.interval * 1000LL;
	} else {
		/* It should run and does not (a failed start): retry. */
		s->state = S_HEALTHY;
		fire(d, s, E_DEAD, now);
	}
}

void sup_sync(struct daemon *d)
{
	struct instance_rec *list = NULL;
	size_t n = 0;
	long long now = monotonic_ms();
	bool dirty, reconciled;

	pthread_mutex_lock(&d->mu);
	dirty = d->dirty;
	reconciled = d->reconciled;
	d->dirty = false;
	pthread_mutex_unlock(&d->mu);
	if (!dirty || !reconciled)
		return;
	if (state_instance_list(d->st, &list, &n, NULL) < 0)
		return;
	for (size_t i = 0; i < d->n_sups; i++)
		d->sups[i].present = false;
	for (size_t i = 0; i < n; i++) {
		const struct instance_rec *in = &list[i];
		struct sup *s = sup_find(d, in->name);
		bool want = streq(in->desired, "running") && !in->removing;

		if (!s) {
			pthread_mutex_lock(&d->mu);
			ALLOC_GROW(d->sups, d->n_sups + 1, d->alloc_sups);
			s = &d->sups[d->n_sups++];
			memset(s, 0, sizeof(*s));
			snprintf(s->name, sizeof(s->name), "%s", in->name);
			s->latency_ms = -1;
			pthread_mutex_unlock(&d->mu);
			s->generation = -1;
		}
		s->present = true;
		s->restarts = in->restarts;
		if (daemon_is_busy(d, in->name))
			continue; /* looked at again when the operation ends */
		if (s->generation != in->generation || s->updated_at != in->updated_at ||
		    s->want != want || !streq(s->desired, in->desired)) {
			bool op = s->generation != in->generation || !streq(s->desired, in->desired);

			s->generation = in->generation;
			s->updated_at = in->updated_at;
			snprintf(s->desired, sizeof(s->desired), "%s", in->desired);
			s->want = want;
			if (op || s->state == S_IDLE)
				evaluate(d, s, now);
		}
	}
	instance_rec_list_free(list, n);
	pthread_mutex_lock(&d->mu);
	for (size_t i = 0; i < d->n_sups;) {
		if (!d->sups[i].present && d->sups[i].state != S_RESTARTING) {
			sup_release(&d->sups[i]);
			d->sups[i] = d->sups[--d->n_sups];
		} else {
			i++;
		}
	}
	pthread_mutex_unlock(&d->mu);
}

/* ---- restarts ---- */

static void restart_job(struct daemon *d, const char *name)
{
	struct nua_ctx ctx;
	struct nua_error *err = NULL;
	struct result r = { .ok = false };

	snprintf(r.name, sizeof(r.name), "%s", name);
	if (daemon_ctx(d, &ctx, &err) == 0) {
		r.ok = instance_recover(&ctx, name, &err) == 0;
		daemon_ctx_close(&ctx);
	}
	if (err) {
		/* The first line is enough for the event; the log tail follows. */
		const char *nl = strchr(err->msg, '\n');

		snprintf(r.msg, sizeof(r.msg), "%.*s", nl ? (int)(nl - err->msg) : (int)strlen(err->msg),
			 err->msg);
		nua_error_free(err);
	}
	pthread_mutex_lock(&results_mu);
	ALLOC_GROW(results, n_results + 1, alloc_results);
	results[n_results++] = r;
	pthread_mutex_unlock(&results_mu);
}

static void take_results(struct daemon *d, long long now)
{
	struct result *rs;
	size_t n;

	pthread_mutex_lock(&results_mu);
	rs = results;
	n = n_results;
	results = NULL;
	n_results = alloc_results = 0;
	pthread_mutex_unlock(&results_mu);
	for (size_t i = 0; i < n; i++) {
		struct sup *s = sup_find(d, rs[i].name);

		if (!s || s->state != S_RESTARTING)
			continue;
		if (rs[i].ok) {
			load_run(d, s);
			fire(d, s, E_RESTART_OK, now);
		} else {
			state_instance_record_exit(d->st, s->name, -1, NULL);
			event(d, s->name, "start-failed", "restart failed: %s", rs[i].msg);
			fire(d, s, E_RESTART_FAIL, now);
		}
	}
	free(rs);
}

/* The container of the current generation is gone: say how it ended. */
static void saw_death(struct daemon *d, struct sup *s, long long now)
{
	_cleanup_free_ char *id = instance_container_id(s->name, s->generation);
	struct container_state cs = { .exit_code = -1 };

	d->rt.driver->state(&d->rt, id, &cs, NULL);
	state_instance_record_exit(d->st, s->name, cs.exit_code, NULL);
	if (cs.oom_killed)
		event(d, s->name, "crash", "killed for using more memory than its limit");
	else if (cs.exit_code >= 0)
		event(d, s->name, "crash", "exited with status %d", cs.exit_code);
	else
		event(d, s->name, "crash", "its container is gone");
	fire(d, s, E_DEAD, now);
}

/* ---- health probes ---- */

static void probe_done(struct daemon *d, struct sup *s, long long now)
{
	const struct health_result *res = health_probe_result(s->probe);
	bool ok = instance_health_ok(&s->run, res);

	pthread_mutex_lock(&d->mu);
	s->latency_ms = res->latency_ms;
	snprintf(s->detail, sizeof(s->detail), "%s", res->detail);
	pthread_mutex_unlock(&d->mu);
	health_probe_free(s->probe);
	s->probe = NULL;
	s->next_probe_ms = now + s->run.interval * 1000LL;
	if (ok) {
		fire(d, s, E_PROBE_OK, now);
		return;
	}
	if (++s->probe_fails < s->run.retries)
		return;
	/* Failed `retries` checks in a row: mark it unhealthy and restart it
	 * from its image. */
	event(d, s->name, "unhealthy", "failed its health check %d times in a row: %s",
	      s->probe_fails, s->detail);
	state_instance_set_health(d->st, s->name, "unhealthy", NULL);
	s->health_recorded = false;
	state_instance_record_exit(d->st, s->name, -1, NULL);
	fire(d, s, E_PROBE_FAIL, now);
	s->probe_fails = 0;
}

int sup_poll_fds(struct daemon *d, struct pollfd *fds, int max)
{
	int n = 0;

	for (size_t i = 0; i < d->n_sups && n + HEALTH_PROBE_MAX_FDS <= max; i++)
		if (d->sups[i].probe)
			n += health_probe_fds(d->sups[i].probe, fds + n, max - n);
	return n;
}

void sup_poll_done(struct daemon *d, long long now)
{
	take_results(d, now);
	for (size_t i = 0; i < d->n_sups; i++) {
		struct sup *s = &d->sups[i];

		if (s->probe && health_probe_step(s->probe, now))
			probe_done(d, s, now);
	}
}

long long sup_next_deadline(struct daemon *d)
{
	long long next = -1;

	for (size_t i = 0; i < d->n_sups; i++)
		if (d->sups[i].probe) {
			long long t = health_probe_deadline(d->sups[i].probe);

			if (next < 0 || t < next)
				next = t;
		}
	return next;
}

/* ---- metrics ---- */

static void sample_metrics(struct daemon *d)
{
	struct metric_rec *recs = xcalloc(d->n_sups ? d->n_sups : 1, sizeof(*recs));
	int64_t t = (int64_t)time(NULL);
	size_t n = 0;

	for (size_t i = 0; i < d->n_sups; i++) {
		struct sup *s = &d->sups[i];
		struct cgroup_sample cs;

		if (!s->want || s->run.pid <= 0 ||
		    s->state != S_HEALTHY)
			continue;
		if (metrics_sample_pid(s->run.pid, &cs, NULL) < 0)
			continue;
		recs[n++] = (struct metric_rec){ s->name,    t,		  cs.cpu_usec,
						 cs.memory,  cs.pids,	  s->restarts,
						 s->latency_ms };
	}
	state_metrics_add(d->st, recs, n, NULL);
	free(recs);
}

/* ---- the tick ---- */

void sup_tick(struct daemon *d, long long now)
{
	if (!d->reconciled)
		return;
	take_results(d, now);
	for (size_t i = 0; i < d->n_sups; i++) {
		struct sup *s = &d->sups[i];

		if (!s->want || s->state == S_IDLE || s->state == S_RESTARTING ||
		    daemon_is_busy(d, s->name))
			continue;
		if (s->state == S_BACKOFF) {
			if (now < s->restart_at_ms)
				continue;
			if (daemon_job(d, s->name, restart_job, false))
				fire(d, s, E_RESTART_DUE, now);
			continue;
		}
		/* healthy: does it still run? */
		{
			_cleanup_free_ char *id = instance_container_id(s->name, s->generation);
			struct container_state cs;

			if (d->rt.driver->peek(&d->rt, id, &cs, NULL) == 0 &&
			    cs.status != CONTAINER_RUNNING) {
				saw_death(d, s, now);
				continue;
			}
			if (cs.status == CONTAINER_RUNNING)
				s->run.pid = cs.pid;
		}
		if (s->state == S_HEALTHY && s->failures &&
		    now - s->healthy_since_ms >= HEALTHY_RESET_MS)
			s->failures = 0;
		if (!s->probe && now >= s->next_probe_ms) {
			struct nua_ctx ctx = main_ctx(d);

			s->probe = instance_health_probe(&ctx, &s->run, s->run.timeout * 1000);
			if (!s->probe)
				s->next_probe_ms = now + s->run.interval * 1000LL;
		}
	}
	if (now - last_metrics_ms >= METRICS_PERIOD_MS) {
		last_metrics_ms = now;
		sample_metrics(d);
	}
	if (now - last_prune_ms >= PRUNE_PERIOD_MS) {
		last_prune_ms = now;
		state_metrics_prune(d->st, (int64_t)time(NULL) - METRICS_KEEP_SEC, NULL);
		state_event_prune(d->st, (int64_t)time(NULL) - 30 * 86400, NULL, NULL);
		/* Who changed what is kept longer: a year. */
		audit_prune(d->st, (int64_t)time(NULL) - 366 * 86400, NULL);
		api_uploads_prune();
	}
}

void sup_health_info(struct daemon *d, const char *name, long long *latency_ms, char *detail,
		     size_t size)
{
	struct sup *s;

	pthread_mutex_lock(&d->mu);
	s = sup_find(d, name);
	*latency_ms = s ? s->latency_ms : -1;
	if (detail && size)
		snprintf(detail, size, "%s", s ? s->detail : "");
	pthread_mutex_unlock(&d->mu);
}

void sup_free(struct daemon *d)
{
	for (size_t i = 0; i < d->n_sups; i++)
		sup_release(&d->sups[i]);
	free(d->sups);
	d->sups = NULL;
	d->n_sups = 0;
}
