/* Health probes: one HTTP GET or one command, run without ever blocking, so
 * that a single-threaded event loop can check hundreds of instances at once
 * and a slow app delays nobody but itself.
 *
 * A probe starts when it is made. The loop asks which descriptors to watch
 * (health_probe_fds) and until when (health_probe_deadline), waits on them
 * with poll or epoll, and calls health_probe_step on activity or when the
 * deadline passes, until the probe is done; then it reads the result and
 * frees the probe:
 *
 *	p = health_probe_http("10.88.0.5", 8080, "/health", "app.example", 2000);
 *	while (!health_probe_done(p)) {
 *		n = health_probe_fds(p, fds, HEALTH_PROBE_MAX_FDS);
 *		poll(fds, n, health_probe_deadline(p) - monotonic_ms());
 *		health_probe_step(p, monotonic_ms());
 *	}
 *	r = health_probe_result(p);
 *	health_probe_free(p);
 *
 * A command's end is seen through a pidfd and its child is reaped with
 * waitpid on its own pid, never waitpid(-1) nor SIGCHLD, so other threads
 * may spawn and wait for their own children meanwhile. Every descriptor is
 * non-blocking and close-on-exec. */
#ifndef NUA_HEALTH_H
#define NUA_HEALTH_H

#include <poll.h>
#include <stdbool.h>
#include <sys/types.h>

/* The most descriptors a probe watches at once (a command: its pidfd and its
 * output pipe). */
#define HEALTH_PROBE_MAX_FDS 2
/* How much of a command's output (stdout and stderr together) is kept; the
 * rest is read and thrown away, so that the command never blocks on a full
 * pipe. */
#define HEALTH_OUTPUT_MAX 4096

struct health_probe;

struct health_result {
	bool ok;	      /* HTTP: status 200-399; command: exit status 0 */
	int http_status;      /* the answer's status; 0 without an HTTP answer */
	int exit_status;      /* command: 0-255, 128+N after signal N; else -1 */
	long long latency_ms; /* from the start to the answer, exit or timeout */
	/* For a person, one line: "HTTP 500 Internal Server Error", "cannot
	 * connect to '10.88.0.5:8080': connection refused", "timed out after
	 * 3000 ms waiting for an answer", "exit status 1: first | lines of
	 * its output". Truncated to fit. */
	char detail[512];
};

/* Start GET path on ip:port (an IPv4 or IPv6 literal; brackets around IPv6
 * are allowed) with "Host: host" (NULL or "": "ip:port"), HTTP/1.1 with
 * Connection: close. Only the status line is read; the probe is done when it
 * has arrived, or on an error, or after timeout_ms (> 0) in all for the
 * connection, the request and the answer. path must start with '/', and path
 * and host must hold no blank or control character.
 *
 * Never fails: a probe that cannot even start (bad address or path, no
 * socket, connection refused at once) is returned already done, not ok, with
 * the reason in its detail. Free it with health_probe_free. */
struct health_probe *health_probe_http(const char *ip, int port, const char *path, const char *host,
				       int timeout_ms);

/* Start argv (argv[0] an absolute path; used during the call only) as
 * nua_cmd_spawn does, stdin on /dev/null, stdout and stderr both on a pipe of
 * which the first HEALTH_OUTPUT_MAX bytes are kept for the detail. Done when
 * the process exits and is reaped (output still unread then is taken without
 * waiting for the pipe's end, which a left-behind grandchild may hold). After
 * timeout_ms (> 0) the process (not its descendants) is sent SIGTERM, which
 * "runc exec" and "crun exec" pass on to the command in the container, then
 * SIGKILL half a second later; the probe is done, not ok, once it is reaped.
 *
 * Never fails: a command that cannot be started is returned already done,
 * not ok, exit_status -1, with the reason in its detail. */
struct health_probe *health_probe_cmd(const char *const *argv, int timeout_ms);

/* Fill fds (room for max entries, at least the number needed, which is never
 * more than HEALTH_PROBE_MAX_FDS) with the descriptors to watch and the
 * events (POLLIN or POLLOUT) to watch them for; revents is zeroed. Returns
 * how many, 0 when the probe is done or has nothing to wait for but its
 * deadline.
 *
 * The set may change after each step: an event loop using epoll
 * (level-triggered) must call this again after every step and update its
 * registrations. A descriptor no longer listed stays open, so that it can be
 * removed from an epoll set, until health_probe_free closes it; remove them
 * all before that. */
int health_probe_fds(const struct health_probe *p, struct pollfd *fds, int max);

/* When the loop must call health_probe_step at the latest, on the monotonic
 * clock (monotonic_ms); LLONG_MAX once done. */
long long health_probe_deadline(const struct health_probe *p);

/* Make what progress can be made without blocking, after activity on the
 * probe's descriptors or once its deadline has passed; now_ms is
 * monotonic_ms(). Calling it with nothing to do is harmless, and so is
 * calling it after the end. Returns true when the probe is done. */
bool health_probe_step(struct health_probe *p, long long now_ms);

bool health_probe_done(const struct health_probe *p);

/* The outcome; meaningful once done. Borrowed from p. */
const struct health_result *health_probe_result(const struct health_probe *p);

/* The command probe's process id while it has not been reaped, else 0 (for
 * logs, and for tests). */
pid_t health_probe_pid(const struct health_probe *p);

/* Run p to its end, waiting with poll: for callers without an event loop (a
 * deploy waiting in a worker thread for its new container). Blocks until
 * the probe's timeout at most (for a command, plus the time to kill it). */
void health_probe_run(struct health_probe *p);

/* Close p's descriptors, kill (SIGKILL) a command still running and reap it
 * (waiting for it to die, which takes an instant unless it is stuck in the
 * kernel), and free p. NULL is allowed. */
void health_probe_free(struct health_probe *p);

#endif
