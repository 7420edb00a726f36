/* nua daemon: start-up, the event loop, locks and jobs. See daemon.h. */
#define _GNU_SOURCE
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <linux/close_range.h>

#include <microhttpd.h>

#include "api.h"
#include "backup.h"
#include "build.h"
#include "paths.h"
#include "state.h"
#include "store.h"
#include "tls.h"
#include "util.h"
#include "banned.h"

/* Seconds between two full reconcile passes (drift: a route file edited by
 * hand, a container killed from outside between two ticks...). */
#define RECONCILE_PERIOD_SEC 60
/* How often the backup scheduler looks for instances whose backup is due. */
#define BACKUP_SCHEDULE_SEC 10
#define TLS_SCHEDULE_SEC    5

void daemon_log(const char *fmt, ...)
{
	char ts[32];
	time_t t = time(NULL);
	struct tm tm;
	va_list ap;

	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	flockfile(stderr);
	fprintf(stderr, "%s ", ts);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	funlockfile(stderr);
}

/* ---- contexts ---- */

static void ctx_lock(void *arg, const char *name, bool take)
{
	if (take)
		daemon_lock(arg, name);
	else
		daemon_unlock(arg, name);
}

int daemon_ctx(struct daemon *d, struct nua_ctx *ctx, struct nua_error **err)
{
	_cleanup_free_ char *db = nua_root_path("nua.db");

	memset(ctx, 0, sizeof(*ctx));
	ctx->rt = d->rt;
	ctx->proxy = d->proxy;
	ctx->net = d->net;
	ctx->lock = ctx_lock;
	ctx->lock_arg = d;
	/* The daemon's footprint and life are kept apart from builds. */
	ctx->build_worker = true;
	return state_open(db, &ctx->st, err);
}

void daemon_ctx_close(struct nua_ctx *ctx)
{
	if (ctx->st)
		state_close(ctx->st);
	ctx->st = NULL;
}

/* ---- locks ---- */

static ssize_t busy_find(struct daemon *d, const char *name)
{
	for (size_t i = 0; i < d->n_busy; i++)
		if (streq(d->busy[i], name))
			return (ssize_t)i;
	return -1;
}

static void busy_take(struct daemon *d, const char *name)
{
	ALLOC_GROW(d->busy, d->n_busy + 1, d->alloc_busy);
	d->busy[d->n_busy++] = xstrdup(name);
}

void daemon_lock(struct daemon *d, const char *name)
{
	pthread_mutex_lock(&d->mu);
	while (busy_find(d, name) >= 0)
		pthread_cond_wait(&d->cond, &d->mu);
	busy_take(d, name);
	pthread_mutex_unlock(&d->mu);
}

bool daemon_trylock(struct daemon *d, const char *name)
{
	bool ok;

	pthread_mutex_lock(&d->mu);
	ok = busy_find(d, name) < 0;
	if (ok)
		busy_take(d, name);
	pthread_mutex_unlock(&d->mu);
	return ok;
}

void daemon_unlock(struct daemon *d, const char *name)
{
	ssize_t i;

	pthread_mutex_lock(&d->mu);
	i = busy_find(d, name);
	if (i < 0)
		BUG("unlock of '%s', which is not locked", name);
	free(d->busy[i]);
	d->busy[i] = d->busy[--d->n_busy];
	d->dirty = true;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->mu);
	daemon_changed(d);
}

bool daemon_is_busy(struct daemon *d, const char *name)
{
	bool b;

	pthread_mutex_lock(&d->mu);
	b = busy_find(d, name) >= 0;
	pthread_mutex_unlock(&d->mu);
	return b;
}

void daemon_changed(struct daemon *d)
{
	uint64_t one = 1;

	pthread_mutex_lock(&d->mu);
	d->dirty = true;
	pthread_mutex_unlock(&d->mu);
	if (write(d->wake_fd, &one, sizeof(one)) < 0) {
		/* the counter is saturated: the loop is awake anyway */
	}
}

/* ---- jobs ---- */

struct job {
	struct daemon *d;
	char *name;
	void (*fn)(struct daemon *d, const char *name);
};

static void *job_main(void *arg)
{
	struct job *j = arg;

	j->fn(j->d, j->name);
	if (j->name)
		daemon_unlock(j->d, j->name);
	pthread_mutex_lock(&j->d->mu);
	j->d->jobs--;
	pthread_cond_broadcast(&j->d->cond);
	pthread_mutex_unlock(&j->d->mu);
	free(j->name);
	free(j);
	/* A deploy or reconcile pass may have used a few MB: give them back. */
	malloc_trim(0);
	return NULL;
}

bool daemon_job(struct daemon *d, const char *name, void (*fn)(struct daemon *d, const char *name),
		bool wait_lock)
{
	struct job *j;
	pthread_attr_t attr;
	pthread_t t;

	if (name) {
		if (wait_lock)
			daemon_lock(d, name);
		else if (!daemon_trylock(d, name))
			return false;
	}
	j = xcalloc(1, sizeof(*j));
	j->d = d;
	j->name = name ? xstrdup(name) : NULL;
	j->fn = fn;
	pthread_mutex_lock(&d->mu);
	d->jobs++;
	pthread_mutex_unlock(&d->mu);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, job_main, j) != 0)
		BUG("cannot start a thread: %s", strerror(errno));
	pthread_attr_destroy(&attr);
	return true;
}

/* ---- reconcile ---- */

void daemon_reconcile_all(struct daemon *d, const char *why)
{
	struct nua_ctx ctx;
	struct nua_error *err = NULL;
	char **names = NULL;
	int failed = 0, done = 0;

	if (daemon_ctx(d, &ctx, &err) < 0) {
		daemon_log("reconcile: %s", err->msg);
		nua_error_free(err);
		return;
	}
	if (instance_known_names(&ctx, &names, &err) < 0) {
		daemon_log("reconcile: %s", err->msg);
		nua_error_free(err);
		daemon_ctx_close(&ctx);
		return;
	}
	for (size_t i = 0; names[i] && !d->stopping; i++) {
		if (!daemon_trylock(d, names[i]))
			continue;
		if (instance_converge(&ctx, names[i], &err) < 0) {
			daemon_log("reconcile: %s: %s", names[i], err->msg);
			nua_error_free(err);
			err = NULL;
			failed++;
		}
		done++;
		daemon_unlock(d, names[i]);
	}
	if (failed || streq(why, "start"))
		daemon_log("reconcile (%s): %d instances, %d failed", why, done, failed);
	strv_free(names);
	daemon_ctx_close(&ctx);
}

static void reconcile_job(struct daemon *d, const char *name)
{
	struct nua_ctx ctx;

	(void)name;
	/* An app a killed daemon left frozen for a backup runs again first. */
	if (daemon_ctx(d, &ctx, NULL) == 0) {
		backup_thaw_all(&ctx);
		daemon_ctx_close(&ctx);
	}
	daemon_reconcile_all(d, "start");
	/* Restores cut short by the last stop are undone once the resource
	 * servers run again. */
	if (daemon_ctx(d, &ctx, NULL) == 0) {
		char **names = backup_interrupted();

		for (size_t i = 0; names[i] && !d->stopping; i++) {
			struct nua_error *err = NULL;

			daemon_lock(d, names[i]);
			if (backup_recover(&ctx, names[i], &err) < 0) {
				daemon_log("recover: %s", err->msg);
				nua_error_free(err);
			}
			daemon_unlock(d, names[i]);
		}
		strv_free(names);
		daemon_ctx_close(&ctx);
	}
	if (daemon_ctx(d, &ctx, NULL) == 0) {
		state_event_add(ctx.st, NULL, "daemon", "converged after its start", NULL, NULL,
				NULL);
		daemon_ctx_close(&ctx);
	}
	pthread_mutex_lock(&d->mu);
	d->reconciled = true;
	pthread_mutex_unlock(&d->mu);
	daemon_changed(d);
}

static void periodic_reconcile_job(struct daemon *d, const char *name)
{
	(void)name;
	daemon_reconcile_all(d, "periodic");
}

/* Scheduled backups, one instance at a time (a busy one waits for the
 * next round), then each's retention; the daily prune and check. */
static void backup_schedule_job(struct daemon *d, const char *name)
{
	struct nua_ctx ctx;
	struct nua_error *err = NULL;
	char **due;

	(void)name;
	if (daemon_ctx(d, &ctx, &err) < 0) {
		daemon_log("backups: %s", err->msg);
		nua_error_free(err);
		d->backups_running = false;
		return;
	}
	due = backup_due(&ctx, (int64_t)time(NULL));
	for (size_t i = 0; due[i] && !d->stopping; i++) {
		if (!daemon_trylock(d, due[i]))
			continue;
		if (backup_instance(&ctx, due[i], "scheduled", NULL, &err) < 0 ||
		    backup_forget(&ctx, due[i], &err) < 0) {
			daemon_log("backups: %s", err->msg);
			nua_error_free(err);
			err = NULL;
		}
		daemon_unlock(d, due[i]);
	}
	strv_free(due);
	if (!d->stopping && backup_maintain(&ctx, (int64_t)time(NULL), false, &err) < 0) {
		daemon_log("backups: %s", err->msg);
		nua_error_free(err);
	}
	daemon_ctx_close(&ctx);
	d->backups_running = false;
}

/* Certificates: new domains get theirs, due ones are renewed, failures
 * wait for their backoff (tls.c). */
static void tls_job(struct daemon *d, const char *name)
{
	struct nua_ctx ctx;

	(void)name;
	if (daemon_ctx(d, &ctx, NULL) == 0) {
		tls_maintain(&ctx, (int64_t)time(NULL));
		/* The store's new versions: once a minute at most. */
		store_maintain(&ctx, (int64_t)time(NULL));
		daemon_ctx_close(&ctx);
	}
	d->tls_running = false;
}

/* ---- the socket ---- */

static int listen_socket(const char *path, gid_t gid, struct nua_error **err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return nua_error_set(err, NUA_EINPUT,
				     "socket path '%s' is too long (NUA_RUN must be short)", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot create a socket: %s", strerror(errno));
	/* The pid file's lock proved no other daemon serves it: a socket file
	 * left there is stale. */
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0660) < 0 ||
	    (gid != (gid_t)-1 && chown(path, 0, gid) < 0) || listen(fd, 128) < 0) {
		int e = errno;

		close(fd);
		return nua_error_set(err, NUA_EFAIL, "cannot listen on '%s': %s", path,
				     strerror(e));
	}
	return fd;
}

/* $NUA_RUN/nua.pid, locked for the daemon's life: one daemon per root. */
static int take_pid_file(struct nua_error **err)
{
	_cleanup_free_ char *path = nua_run_path("nua.pid");
	char buf[32];
	int fd, n;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot open '%s': %s", path, strerror(errno));
	/* A daemon that was just killed may not be gone yet: give it a
	 * moment to release the lock. */
	for (int i = 0; i < 30 && flock(fd, LOCK_EX | LOCK_NB) < 0; i++)
		sleep_ms(100);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		_cleanup_free_ char *pid = NULL;

		read_file(path, &pid, NULL);
		close(fd);
		return nua_error_set(err, NUA_EINPUT,
				     "a nua daemon already runs for this server (pid %s, '%s')",
				     pid ? strtok(pid, "\n") : "?", path);
	}
	/* One per root as well (two run directories could name the same
	 * root): the root's lock, held for the daemon's life. */
	{
		_cleanup_free_ char *lpath = nua_root_path("nua.lock");
		int lfd = open(lpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

		for (int i = 0; lfd >= 0 && i < 30 && flock(lfd, LOCK_EX | LOCK_NB) < 0; i++)
			sleep_ms(100);
		if (lfd < 0 || flock(lfd, LOCK_EX | LOCK_NB) < 0) {
			if (lfd >= 0)
				close(lfd);
			close(fd);
			return nua_error_set(err, NUA_EINPUT,
					     "a nua daemon already runs for the root '%s' (its lock "
					     "'%s' is taken)",
					     nua_root(), lpath);
		}
		/* Kept open (and locked) until the process ends. */
	}
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
		close(fd);
		return nua_error_set(err, NUA_EFAIL, "cannot write '%s': %s", path, strerror(errno));
	}
	return fd;
}

/* ---- the loop ---- */

static int open_shared(struct daemon *d, struct nua_error **err)
{
	_cleanup_free_ char *db = nua_root_path("nua.db");
	int r;

	if ((r = mkdir_p(nua_root(), 0711)) < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot create '%s': %s", nua_root(),
				     strerror(-r));
	if (state_open(db, &d->st, err) < 0)
		return -1;
	if (runtime_oci_open(&d->rt, err) < 0)
		return -1;
	if (cni_network_open(&d->net, NULL, err) < 0)
		return -1;
	if (proxy_open(&d->proxy, err) < 0)
		return -1;
	return 0;
}

static int run_loop(struct daemon *d, int sfd, int tfd)
{
	long long last_reconcile = monotonic_ms(), last_backups = 0, last_tls = 0;

	while (!d->stopping) {
		struct pollfd fds[512];
		int n = 0, timeout = 1000;
		long long now, next;

		fds[n++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		fds[n++] = (struct pollfd){ .fd = tfd, .events = POLLIN };
		fds[n++] = (struct pollfd){ .fd = d->wake_fd, .events = POLLIN };
		n += sup_poll_fds(d, fds + n, (int)ARRAY_SIZE(fds) - n);
		next = sup_next_deadline(d);
		if (next >= 0) {
			long long wait = next - monotonic_ms();

			timeout = wait < 0 ? 0 : wait < 1000 ? (int)wait : 1000;
		}
		if (poll(fds, (nfds_t)n, timeout) < 0 && errno != EINTR)
			return -1;
		now = monotonic_ms();
		if (fds[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				daemon_log("signal %u: stopping", si.ssi_signo);
				d->stopping = true;
				break;
			}
		}
		if (fds[2].revents & POLLIN) {
			uint64_t v;

			if (read(d->wake_fd, &v, sizeof(v)) < 0) {
				/* nothing to read: fine */
			}
			sup_sync(d);
		}
		sup_poll_done(d, now);
		if (fds[1].revents & POLLIN) {
			uint64_t ticks;

			if (read(tfd, &ticks, sizeof(ticks)) < 0) {
				/* spurious */
			}
			sup_sync(d);
			sup_tick(d, now);
			if (now - last_reconcile >= RECONCILE_PERIOD_SEC * 1000LL && d->reconciled) {
				last_reconcile = now;
				daemon_job(d, NULL, periodic_reconcile_job, false);
			}
			if (now - last_backups >= BACKUP_SCHEDULE_SEC * 1000LL && d->reconciled &&
			    !d->backups_running) {
				last_backups = now;
				d->backups_running = true;
				daemon_job(d, NULL, backup_schedule_job, false);
			}
			if (now - last_tls >= TLS_SCHEDULE_SEC * 1000LL && d->reconciled &&
			    !d->tls_running) {
				last_tls = now;
				d->tls_running = true;
				daemon_job(d, NULL, tls_job, false);
			}
		}
	}
	return 0;
}

static void wait_jobs(struct daemon *d, int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	pthread_mutex_lock(&d->mu);
	while (d->jobs > 0)
		if (pthread_cond_timedwait(&d->cond, &d->mu, &ts) != 0)
			break;
	pthread_mutex_unlock(&d->mu);
}

/* Fork; the parent waits until the child serves the socket (or dies). */
static int detach(const char *log_path, const char *sock)
{
	int pipefd[2];
	pid_t pid;
	char c;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		BUG("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		BUG("fork: %s", strerror(errno));
	if (pid > 0) {
		ssize_t got;

		close(pipefd[1]);
		got = read(pipefd[0], &c, 1);
		if (got == 1 && c == 'k')
			_exit(0);
		fprintf(stderr, "error: the daemon did not start; see '%s'\n", log_path);
		(void)sock;
		_exit(1);
	}
	close(pipefd[0]);
	setsid();
	/* Nothing the caller had open stays open in a daemon (a test runner
	 * waits for its pipes to close; an operator's shell may hold a lock). */
	if (pipefd[1] > 3)
		syscall(SYS_close_range, 3U, (unsigned)pipefd[1] - 1, 0U);
	syscall(SYS_close_range, (unsigned)pipefd[1] + 1, ~0U, 0U);
	{
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		int log = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

		if (null >= 0)
			dup2(null, 0);
		if (log >= 0) {
			dup2(log, 1);
			dup2(log, 2);
		}
	}
	return pipefd[1];
}

/* ---- nua daemon stop ---- */

/* The pid of the daemon that holds this run directory's pid file, or 0
 * when none does. */
static pid_t running_daemon(void)
{
	_cleanup_free_ char *path = nua_run_path("nua.pid");
	_cleanup_free_ char *text = NULL;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	long pid;

	if (fd < 0 || flock(fd, LOCK_SH | LOCK_NB) == 0)
		return 0;
	if (read_file(path, &text, NULL) < 0 || (pid = strtol(text, NULL, 10)) <= 0)
		return -1; /* held, but not written yet */
	return (pid_t)pid;
}

/* Wait until no daemon holds the pid file, at most ms. */
static bool wait_daemon_gone(int ms)
{
	for (int waited = 0; waited < ms; waited += 50) {
		if (running_daemon() == 0)
			return true;
		sleep_ms(50);
	}
	return running_daemon() == 0;
}

/* With the daemon gone, and its lock held so that none starts meanwhile:
 * stop every instance, then nginx, then remove the bridge. */
static int halt_platform(struct nua_error **err)
{
	static struct daemon dd;
	struct nua_ctx ctx = { 0 };
	int pidfd, ret;

	if ((pidfd = take_pid_file(err)) < 0)
		return -1;
	if (open_shared(&dd, err) < 0) {
		close(pidfd);
		return -1;
	}
	ctx.st = dd.st;
	ctx.rt = dd.rt;
	ctx.proxy = dd.proxy;
	ctx.net = dd.net;
	ctx.progress = stdout;
	build_clean_stale(&dd.rt);
	/* nginx stops even when an instance did not; the first error is
	 * the one reported. */
	ret = instance_halt_all(&ctx, err);
	if (proxy_stop(&dd.proxy, ret < 0 ? NULL : err) < 0)
		ret = -1;
	else if (ret == 0)
		printf("stopped nginx\n");
	if (ret == 0 && cni_network_remove(&dd.net, err) < 0)
		ret = -1;
	close(pidfd);
	return ret;
}

static int daemon_stop(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct nua_error *err = NULL;
	bool all = false;
	long timeout = 30;
	pid_t pid;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "aht:", longopts, NULL)) != -1) {
		if (c == 'a') {
			all = true;
		} else if (c == 't') {
			char *end;

			timeout = strtol(optarg, &end, 10);
			if (*end || timeout < 1 || timeout > 3600) {
				fprintf(stderr, "error: --timeout '%s': give seconds, 1 to 3600\n",
					optarg);
				return NUA_EINPUT;
			}
		} else if (c == 'h') {
			printf("usage: nua daemon stop [--all] [--timeout SECONDS]\n");
			return 0;
		} else {
			return NUA_EINPUT;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "error: nua daemon stop takes no arguments\n");
		return NUA_EINPUT;
	}
	pid = running_daemon();
	if (pid < 0) {
		/* Starting: its pid comes in a moment. */
		sleep_ms(500);
		pid = running_daemon();
	}
	if (pid > 0) {
		if (kill(pid, SIGTERM) < 0 && errno != ESRCH) {
			fprintf(stderr, "error: cannot stop the daemon (pid %d): %s\n", (int)pid,
				strerror(errno));
			return NUA_EFAIL;
		}
		if (!wait_daemon_gone((int)timeout * 1000)) {
			fprintf(stderr, "nua: the daemon (pid %d) did not stop in %ld s: killed\n",
				(int)pid, timeout);
			kill(pid, SIGKILL);
			if (!wait_daemon_gone(5000)) {
				fprintf(stderr, "error: the daemon (pid %d) does not stop\n",
					(int)pid);
				return NUA_EFAIL;
			}
		}
		printf("stopped the nua daemon (pid %d)%s\n", (int)pid,
		       all ? "" : "; the apps keep running");
	} else if (!all) {
		printf("no nua daemon runs for '%s'\n", nua_run_dir());
		return 0;
	}
	if (!all)
		return 0;
	if (halt_platform(&err) < 0) {
		nua_error_prefix(&err, "cannot stop everything");
		r = nua_error_report(err);
		nua_error_free(err);
		return r;
	}
	printf("stopped Nua for '%s': what should run starts again with 'nua daemon'\n",
	       nua_root());
	return 0;
}

int cmd_daemon(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "detach", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct daemon dd;
	struct daemon *d = &dd;
	struct nua_error *err = NULL;
	_cleanup_free_ char *sock = NULL, *log_path = NULL, *web_sock = NULL;
	struct MHD_Daemon *mhd = NULL, *web_mhd = NULL;
	bool detach_opt = false;
	int c, pidfd, lfd, sfd, tfd, ready_fd = -1, r;
	sigset_t mask;

	if (argc > 1 && streq(argv[1], "stop"))
		return daemon_stop(argc - 1, argv + 1);
	optind = 1;
	while ((c = getopt_long(argc, argv, "dh", longopts, NULL)) != -1) {
		if (c == 'd')
			detach_opt = true;
		else if (c == 'h') {
			printf("usage: nua daemon [--detach]\n       nua daemon stop [--all] "
			       "[--timeout SECONDS]\n");
			return 0;
		} else
			return NUA_EINPUT;
	}
	if (optind < argc) {
		fprintf(stderr, "error: '%s': nua daemon takes no arguments but 'stop'\n",
			argv[optind]);
		return NUA_EINPUT;
	}
	if ((r = mkdir_p(nua_run_dir(), 0711)) < 0) {
		fprintf(stderr, "error: cannot create '%s': %s\n", nua_run_dir(), strerror(-r));
		return NUA_EFAIL;
	}
	if ((r = mkdir_p(nua_root(), 0711)) < 0) {
		fprintf(stderr, "error: cannot create '%s': %s\n", nua_root(), strerror(-r));
		return NUA_EFAIL;
	}
	/* nginx's workers reach their files and ACME's challenges below it
	 * (not its listing): a root made 0700 elsewhere gets its search bits. */
	{
		struct stat st;

		if (stat(nua_root(), &st) == 0 && (st.st_mode & 0011) != 0011)
			chmod(nua_root(), (st.st_mode & 07777) | 0011);
	}
	sock = nua_run_path("nua.sock");
	log_path = nua_root_path("daemon.log");
	if (detach_opt)
		ready_fd = detach(log_path, sock);
	else
		syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);

	/* One malloc arena: glibc gives threads arenas of their own (up to 8
	 * per core), which a daemon with a thread per connection and per job
	 * would grow and never give back; the daemon is not bound by
	 * allocation speed, and its footprint is one of its promises. */
	mallopt(M_ARENA_MAX, 1);
	if ((pidfd = take_pid_file(&err)) < 0)
		goto fail;
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->cond, NULL);
	pthread_mutex_init(&d->build_mu, NULL);
	d->started_ms = monotonic_ms();
	d->started_at = (int64_t)time(NULL);
	d->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (open_shared(d, &err) < 0)
		goto fail;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	/* Blocked before any thread starts, so that every thread inherits
	 * the mask and the signals reach the signalfd only. */
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	{
		struct itimerspec its = { { 1, 0 }, { 1, 0 } };

		timerfd_settime(tfd, 0, &its, NULL);
	}

	/* What a build killed with an earlier daemon left. */
	build_clean_stale(&d->rt);
	/* nginx first: a configuration written by a daemon killed before its
	 * reload is checked and applied now. */
	/* The sites as this version writes them first (a site an older one
	 * wrote may not even load now), then nginx running on them. */
	if (proxy_refresh_all(&d->proxy, &err) < 0) {
		daemon_log("nginx: %s", err->msg);
		nua_error_free(err);
		err = NULL;
	}
	if (proxy_ensure_running(&d->proxy, &err) < 0) {
		daemon_log("nginx: %s", err->msg);
		nua_error_free(err);
		err = NULL;
	}
	{
		struct nua_ctx ctx;

		if (daemon_ctx(d, &ctx, &err) < 0 || api_admin_apply(&ctx, &err) < 0) {
			daemon_log("admin domain: %s", err->msg);
			nua_error_free(err);
			err = NULL;
		}
		daemon_ctx_close(&ctx);
	}
	state_event_add(d->st, NULL, "daemon", "daemon started", NULL, NULL, NULL);
	if ((lfd = listen_socket(sock, (gid_t)-1, &err)) < 0)
		goto fail;
	if (!(mhd = api_start(d, lfd, false, &err)))
		goto fail;
	/* The remote API: nginx's workers connect to it for the admin
	 * domain; every request there needs a token. */
	{
		const char *user = proxy_worker_user();
		struct passwd *pw = user ? getpwnam(user) : NULL;

		web_sock = proxy_api_socket(&d->proxy);
		if ((lfd = listen_socket(web_sock, pw ? pw->pw_gid : (gid_t)-1, &err)) < 0 ||
		    !(web_mhd = api_start(d, lfd, true, &err)))
			goto fail;
	}
	daemon_log("nua daemon %s serving %s (root %s, runtime %s)", NUA_VERSION, sock, nua_root(),
	     d->rt.oci_name);
	if (ready_fd >= 0) {
		if (write(ready_fd, "k", 1) < 0) {
			/* the parent is gone */
		}
		close(ready_fd);
	}
	d->dirty = true;
	daemon_job(d, NULL, reconcile_job, false);
	run_loop(d, sfd, tfd);

	api_stop(web_mhd);
	api_stop(mhd);
	wait_jobs(d, 3000);
	unlink(sock);
	unlink(web_sock);
	daemon_log("stopped");
	sup_free(d);
	/* Job threads that did not finish may still use the shared parts:
	 * leave them to the process's end. */
	close(pidfd);
	return 0;
fail:
	if (ready_fd >= 0)
		close(ready_fd);
	r = nua_error_report(err);
	nua_error_free(err);
	return r;
}
