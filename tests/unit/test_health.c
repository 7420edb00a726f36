#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "health.h"
#include "strbuf.h"
#include "test.h"
#include "util.h"

/* ---- a tiny HTTP server, one thread serving a few connections ---- */

enum serve_mode {
	SERVE_OK,      /* 200 OK with a body */
	SERVE_500,     /* 500 Internal Server Error */
	SERVE_SILENT,  /* reads the request, never answers */
	SERVE_SLOW,    /* 204, one byte at a time */
	SERVE_GARBAGE, /* something that is not HTTP */
	SERVE_CLOSE,   /* closes without a word */
};

struct server {
	int fd, port, conns;
	enum serve_mode mode;
	pthread_t thread;
	struct strbuf request; /* the last request received, whole */
};

/* Read until the end of the request's headers (or of the connection). */
static void read_request(int c, struct strbuf *req)
{
	char buf[65536];
	ssize_t n;

	strbuf_reset(req);
	while ((n = read(c, buf, sizeof(buf))) > 0) {
		size_t from = req->len > 3 ? req->len - 3 : 0;

		strbuf_add(req, buf, (size_t)n);
		if (strstr(req->buf + from, "\r\n\r\n"))
			return;
	}
}

static void send_all(int c, const char *s)
{
	size_t len = strlen(s);

	while (len) {
		ssize_t n = send(c, s, len, MSG_NOSIGNAL);

		if (n <= 0)
			return;
		s += n;
		len -= (size_t)n;
	}
}

static void *serve(void *arg)
{
	struct server *srv = arg;

	for (int i = 0; i < srv->conns; i++) {
		int c = accept4(srv->fd, NULL, NULL, SOCK_CLOEXEC);
		char sink[256];

		if (c < 0)
			break;
		if (srv->mode != SERVE_CLOSE)
			read_request(c, &srv->request);
		switch (srv->mode) {
		case SERVE_OK:
			send_all(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
			break;
		case SERVE_500:
			send_all(c, "HTTP/1.0 500 Internal Server Error\r\n\r\n");
			break;
		case SERVE_SILENT:
			/* Until the probe gives up and closes. */
			while (read(c, sink, sizeof(sink)) > 0)
				;
			break;
		case SERVE_SLOW:
			for (const char *s = "HTTP/1.1 204 No Content\r\n\r\n"; *s; s++) {
				if (send(c, s, 1, MSG_NOSIGNAL) != 1)
					break;
				sleep_ms(5);
			}
			break;
		case SERVE_GARBAGE:
			send_all(c, "SSH-2.0-OpenSSH_9.2\r\n");
			break;
		case SERVE_CLOSE:
			break;
		}
		close(c);
	}
	return NULL;
}

/* Listen on 127.0.0.1 (or ::1), an ephemeral port, and serve conns
 * connections in a thread. False when the address is not available. */
static bool server_start(struct server *srv, enum serve_mode mode, int conns, bool v6)
{
	struct sockaddr_storage ss;
	socklen_t len;

	memset(srv, 0, sizeof(*srv));
	srv->mode = mode;
	srv->conns = conns;
	srv->request = (struct strbuf)STRBUF_INIT;
	memset(&ss, 0, sizeof(ss));
	if (v6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*a);
	}
	srv->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (srv->fd < 0)
		return false;
	if (bind(srv->fd, (struct sockaddr *)&ss, len) < 0 || listen(srv->fd, 16) < 0 ||
	    getsockname(srv->fd, (struct sockaddr *)&ss, &len) < 0) {
		close(srv->fd);
		return false;
	}
	srv->port = ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
			     : ((struct sockaddr_in *)&ss)->sin_port);
	if (pthread_create(&srv->thread, NULL, serve, srv) != 0)
		abort();
	return true;
}

/* Wait for the thread to have served its connections; the request stays
 * to be checked, then freed with server_release. */
static void server_stop(struct server *srv)
{
	pthread_join(srv->thread, NULL);
	close(srv->fd);
}

static void server_release(struct server *srv) { strbuf_release(&srv->request); }

/* A port on which nothing listens. */
static int closed_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, len) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		abort();
	close(fd);
	return ntohs(a.sin_port);
}

/* ---- driving several probes as the daemon does ---- */

/* Step every probe after each wake-up, whether its own descriptors woke the
 * loop or not: spurious steps must be harmless. */
static void drive_poll(struct health_probe **ps, size_t n)
{
	for (;;) {
		struct pollfd fds[32];
		long long deadline = LLONG_MAX, wait;
		size_t nfds = 0;
		bool all_done = true;

		for (size_t i = 0; i < n; i++) {
			if (health_probe_done(ps[i]))
				continue;
			all_done = false;
			nfds += (size_t)health_probe_fds(ps[i], fds + nfds, (int)(32 - nfds));
			if (health_probe_deadline(ps[i]) < deadline)
				deadline = health_probe_deadline(ps[i]);
		}
		if (all_done)
			return;
		wait = deadline - monotonic_ms();
		poll(fds, nfds, wait < 0 ? 0 : (int)wait);
		for (size_t i = 0; i < n; i++)
			health_probe_step(ps[i], monotonic_ms());
	}
}

/* As the daemon will: one level-triggered epoll set, the registrations
 * brought up to date after every step, only the probe whose descriptor is
 * ready (or whose deadline passed) stepped. */
struct watched {
	struct pollfd fds[HEALTH_PROBE_MAX_FDS];
	int n;
};

static void epoll_sync(int ep, struct health_probe *p, size_t idx, struct watched *w)
{
	struct watched now;

	now.n = health_probe_fds(p, now.fds, HEALTH_PROBE_MAX_FDS);
	for (int i = 0; i < w->n; i++)
		epoll_ctl(ep, EPOLL_CTL_DEL, w->fds[i].fd, NULL);
	for (int i = 0; i < now.n; i++) {
		struct epoll_event ev = { .events = 0, .data.u64 = idx };

		if (now.fds[i].events & POLLIN)
			ev.events |= EPOLLIN;
		if (now.fds[i].events & POLLOUT)
			ev.events |= EPOLLOUT;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, now.fds[i].fd, &ev) < 0)
			abort();
	}
	*w = now;
}

static void drive_epoll(struct health_probe **ps, size_t n)
{
	struct watched w[8];
	int ep = epoll_create1(EPOLL_CLOEXEC);
	size_t left = 0;

	for (size_t i = 0; i < n; i++)
		left += !health_probe_done(ps[i]);
	if (ep < 0 || n > ARRAY_SIZE(w))
		abort();
	memset(w, 0, sizeof(w));
	for (size_t i = 0; i < n; i++)
		epoll_sync(ep, ps[i], i, &w[i]);
	while (left) {
		struct epoll_event evs[16];
		long long deadline = LLONG_MAX, wait, now;
		int k;

		for (size_t i = 0; i < n; i++)
			if (health_probe_deadline(ps[i]) < deadline)
				deadline = health_probe_deadline(ps[i]);
		wait = deadline - monotonic_ms();
		k = epoll_wait(ep, evs, 16, wait < 0 ? 0 : (int)wait);
		now = monotonic_ms();
		for (int j = 0; j < k; j++) {
			size_t i = (size_t)evs[j].data.u64;

			if (!health_probe_done(ps[i]) && health_probe_step(ps[i], now))
				left--;
			epoll_sync(ep, ps[i], i, &w[i]);
		}
		for (size_t i = 0; i < n; i++) {
			if (!health_probe_done(ps[i]) && health_probe_deadline(ps[i]) <= now) {
				if (health_probe_step(ps[i], now))
					left--;
				epoll_sync(ep, ps[i], i, &w[i]);
			}
		}
	}
	close(ep);
}

static bool contains(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

/* ---- HTTP ---- */

TEST(health_http_ok)
{
	struct server srv;
	struct health_probe *p;
	const struct health_result *r;

	CHECK(server_start(&srv, SERVE_OK, 1, false));
	p = health_probe_http("127.0.0.1", srv.port, "/health?x=1", "app.example.org", 2000);
	health_probe_run(p);
	r = health_probe_result(p);
	CHECK(r->ok);
	CHECK_INT(r->http_status, 200);
	CHECK_INT(r->exit_status, -1);
	CHECK_STR(r->detail, "HTTP 200 OK");
	CHECK(r->latency_ms >= 0 && r->latency_ms < 1000);
	CHECK(health_probe_step(p, monotonic_ms())); /* spurious, after the end */
	CHECK_INT(health_probe_fds(p, NULL, 0), 0);
	health_probe_free(p);
	server_stop(&srv);
	CHECK(starts_with(srv.request.buf, "GET /health?x=1 HTTP/1.1\r\n"));
	CHECK(contains(srv.request.buf, "\r\nHost: app.example.org\r\n"));
	CHECK(contains(srv.request.buf, "\r\nConnection: close\r\n"));
	server_release(&srv);
}

TEST(health_http_500)
{
	struct server srv;
	struct health_probe *p;
	const struct health_result *r;

	CHECK(server_start(&srv, SERVE_500, 1, false));
	p = health_probe_http("127.0.0.1", srv.port, "/", "", 2000);
	health_probe_run(p);
	r = health_probe_result(p);
	CHECK(!r->ok);
	CHECK_INT(r->http_status, 500);
	CHECK_STR(r->detail, "HTTP 500 Internal Server Error");
	health_probe_free(p);
	server_stop(&srv);
	/* Without a host name, the address is the Host. */
	CHECK(contains(srv.request.buf, "\r\nHost: 127.0.0.1:"));
	server_release(&srv);
}

TEST(health_http_slow_answer_in_pieces)
{
	struct server srv;
	struct health_probe *p;
	const struct health_result *r;

	CHECK(server_start(&srv, SERVE_SLOW, 1, false));
	p = health_probe_http("127.0.0.1", srv.port, "/", NULL, 3000);
	health_probe_run(p);
	r = health_probe_result(p);
	CHECK_STR(r->detail, "HTTP 204 No Content");
	CHECK(r->ok);
	/* 24 bytes of status line, 5 ms apart. */
	CHECK(r->latency_ms >= 100);
	health_probe_free(p);
	server_stop(&srv);
	server_release(&srv);
}

TEST(health_http_long_request_in_pieces)
{
	struct server srv;
	struct health_probe *p;
	char *path = xmalloc(8 << 20);

	/* Far more than a socket buffer takes at once. */
	path[0] = '/';
	memset(path + 1, 'a', (8 << 20) - 2);
	path[(8 << 20) - 1] = '\0';
	CHECK(server_start(&srv, SERVE_OK, 1, false));
	p = health_probe_http("127.0.0.1", srv.port, path, "h", 5000);
	health_probe_run(p);
	CHECK_STR(health_probe_result(p)->detail, "HTTP 200 OK");
	health_probe_free(p);
	server_stop(&srv);
	CHECK(starts_with(srv.request.buf, "GET /aaaa"));
	CHECK_INT(srv.request.len, strlen(path) + strlen("GET  HTTP/1.1\r\nHost: h\r\n") +
					   strlen("User-Agent: nua-health-check\r\n") +
					   strlen("Accept: */*\r\nConnection: close\r\n\r\n"));
	free(path);
	server_release(&srv);
}

TEST(health_http_refused)
{
	int port = closed_port();
	struct health_probe *p = health_probe_http("127.0.0.1", port, "/", NULL, 2000);
	const struct health_result *r;

	health_probe_run(p);
	r = health_probe_result(p);
	CHECK(!r->ok);
	CHECK_INT(r->http_status, 0);
	CHECK(contains(r->detail, "connection refused"));
	CHECK(contains(r->detail, "127.0.0.1:"));
	health_probe_free(p);
}

TEST(health_http_timeout)
{
	struct server srv;
	struct health_probe *p;
	const struct health_result *r;
	long long t0 = monotonic_ms();

	CHECK(server_start(&srv, SERVE_SILENT, 1, false));
	p = health_probe_http("127.0.0.1", srv.port, "/", NULL, 200);
	health_probe_run(p);
	r = health_probe_result(p);
	CHECK(!r->ok);
	CHECK_INT(r->http_status, 0);
	CHECK_STR(r->detail, "timed out after 200 ms waiting for an answer");
	CHECK(r->latency_ms >= 200 && r->latency_ms < 1000);
	CHECK(monotonic_ms() - t0 < 1000);
	health_probe_free(p); /* closes: the silent server's read ends */
	server_stop(&srv);
	server_release(&srv);
}

TEST(health_http_not_http_or_no_answer)
{
	struct server srv;
	struct health_probe *p;
	const struct health_result *r;

	CHECK(server_start(&srv, SERVE_GARBAGE, 1, false));
	p = health_probe_http("127.0.0.1", srv.port, "/", NULL, 2000);
	health_probe_run(p);
	r = health_probe_result(p);
	CHECK(!r->ok);
	CHECK_INT(r->http_status, 0);
	CHECK(contains(r->detail, "not HTTP: 'SSH-2.0-OpenSSH_9.2'"));
	health_probe_free(p);
	server_stop(&srv);
	server_release(&srv);

	CHECK(server_start(&srv, SERVE_CLOSE, 1, false));
	p = health_probe_http("127.0.0.1", srv.port, "/", NULL, 2000);
	health_probe_run(p);
	r = health_probe_result(p);
	CHECK(!r->ok);
	CHECK(contains(r->detail, "closed the connection without answering") ||
	      contains(r->detail, "connection reset"));
	health_probe_free(p);
	server_stop(&srv);
	server_release(&srv);
}

TEST(health_http_bad_arguments_finish_at_once)
{
	static const char *const bad[][2] = {
		{ "300.1.2.3", "/" },     { "localhost", "/" },	   { "", "/" },
		{ "127.0.0.1", "health" }, { "127.0.0.1", "/a b" }, { "127.0.0.1", "/a\r\nX: y" },
	};
	struct health_probe *p;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		p = health_probe_http(bad[i][0], 80, bad[i][1], NULL, 1000);
		CHECK(health_probe_done(p));
		CHECK(!health_probe_result(p)->ok);
		CHECK(contains(health_probe_result(p)->detail, "invalid"));
		CHECK_INT(health_probe_fds(p, NULL, 0), 0);
		health_probe_free(p);
	}
	p = health_probe_http("127.0.0.1", 0, "/", NULL, 1000);
	CHECK(health_probe_done(p));
	CHECK(contains(health_probe_result(p)->detail, "invalid port"));
	health_probe_free(p);
	p = health_probe_http("127.0.0.1", 80, "/", "a b", 1000);
	CHECK(health_probe_done(p));
	CHECK(contains(health_probe_result(p)->detail, "invalid host"));
	health_probe_free(p);
}

TEST(health_http_ipv6)
{
	struct server srv;
	struct health_probe *p;

	if (!server_start(&srv, SERVE_OK, 2, true)) {
		printf("# no IPv6 loopback here, skipped\n");
		return;
	}
	p = health_probe_http("::1", srv.port, "/", NULL, 2000);
	health_probe_run(p);
	CHECK_STR(health_probe_result(p)->detail, "HTTP 200 OK");
	health_probe_free(p);
	CHECK(contains(srv.request.buf, "\r\nHost: [::1]:"));
	p = health_probe_http("[::1]", srv.port, "/", NULL, 2000);
	health_probe_run(p);
	CHECK(health_probe_result(p)->ok);
	health_probe_free(p);
	server_stop(&srv);
	server_release(&srv);
}

/* ---- commands ---- */

static struct health_probe *run_cmd(const char *const *argv, int timeout_ms)
{
	struct health_probe *p = health_probe_cmd(argv, timeout_ms);

	health_probe_run(p);
	return p;
}

TEST(health_cmd_exit_status)
{
	static const char *const t[] = { "/bin/true", NULL };
	static const char *const f[] = { "/bin/false", NULL };
	static const char *const boom[] = {
		"/bin/sh", "-c", "echo boom; echo >&2 '  bang  '; exit 3", NULL
	};
	struct health_probe *p;
	const struct health_result *r;

	p = run_cmd(t, 2000);
	r = health_probe_result(p);
	CHECK(r->ok);
	CHECK_INT(r->exit_status, 0);
	CHECK_INT(r->http_status, 0);
	CHECK_STR(r->detail, "exit status 0");
	CHECK(r->latency_ms < 1000);
	CHECK_INT(health_probe_pid(p), 0);
	health_probe_free(p);

	p = run_cmd(f, 2000);
	r = health_probe_result(p);
	CHECK(!r->ok);
	CHECK_INT(r->exit_status, 1);
	CHECK_STR(r->detail, "exit status 1");
	health_probe_free(p);

	p = run_cmd(boom, 2000);
	r = health_probe_result(p);
	CHECK(!r->ok);
	CHECK_INT(r->exit_status, 3);
	CHECK_STR(r->detail, "exit status 3: boom | bang");
	health_probe_free(p);
}

TEST(health_cmd_signal)
{
	static const char *const argv[] = { "/bin/sh", "-c", "kill -9 $$", NULL };
	struct health_probe *p = run_cmd(argv, 2000);
	const struct health_result *r = health_probe_result(p);

	CHECK(!r->ok);
	CHECK_INT(r->exit_status, 128 + 9);
	CHECK_STR(r->detail, "killed by signal 9");
	health_probe_free(p);
}

TEST(health_cmd_timeout_kills_and_reaps)
{
	static const char *const argv[] = { "/bin/sleep", "10", NULL };
	static const char *const stubborn[] = { "/bin/sh", "-c", "trap '' TERM; echo started; "
								 "while :; do sleep 0.05; done",
						NULL };
	struct health_probe *p = health_probe_cmd(argv, 200);
	pid_t pid = health_probe_pid(p);
	const struct health_result *r;
	long long t0 = monotonic_ms();

	CHECK(pid > 0);
	health_probe_run(p);
	r = health_probe_result(p);
	CHECK(monotonic_ms() - t0 < 1000);
	CHECK(!r->ok);
	CHECK_INT(r->exit_status, 128 + SIGTERM);
	CHECK_STR(r->detail, "timed out after 200 ms");
	CHECK(r->latency_ms >= 200 && r->latency_ms < 1000);
	/* Reaped: no zombie left. */
	CHECK_INT(health_probe_pid(p), 0);
	CHECK(kill(pid, 0) < 0 && errno == ESRCH);
	health_probe_free(p);

	/* One that ignores SIGTERM gets SIGKILL. */
	p = health_probe_cmd(stubborn, 100);
	pid = health_probe_pid(p);
	health_probe_run(p);
	r = health_probe_result(p);
	CHECK(!r->ok);
	CHECK_INT(r->exit_status, 128 + SIGKILL);
	CHECK_STR(r->detail, "timed out after 100 ms: started");
	CHECK(r->latency_ms >= 100 + 500 && r->latency_ms < 1500);
	CHECK(kill(pid, 0) < 0 && errno == ESRCH);
	health_probe_free(p);
}

TEST(health_cmd_free_kills_and_reaps)
{
	static const char *const argv[] = { "/bin/sleep", "10", NULL };
	struct health_probe *p = health_probe_cmd(argv, 5000);
	pid_t pid = health_probe_pid(p);

	CHECK(pid > 0);
	CHECK(!health_probe_step(p, monotonic_ms()));
	health_probe_free(p);
	CHECK(kill(pid, 0) < 0 && errno == ESRCH);
}

TEST(health_cmd_much_output_does_not_block)
{
	/* Far more than a pipe holds: the command must not block on it. */
	static const char *const argv[] = {
		"/bin/sh", "-c",
		"i=0; while [ $i -lt 2000 ]; do echo line $i: "
		"............................................................"
		"............................................................; "
		"i=$((i+1)); done; exit 2",
		NULL
	};
	struct health_probe *p = run_cmd(argv, 5000);
	const struct health_result *r = health_probe_result(p);

	CHECK_INT(r->exit_status, 2);
	CHECK(starts_with(r->detail, "exit status 2: line 0: ....."));
	CHECK(contains(r->detail, "..... | line 1: ....."));
	CHECK(ends_with(r->detail, "..."));
	CHECK_INT(strlen(r->detail), sizeof(r->detail) - 1);
	health_probe_free(p);
}

TEST(health_cmd_does_not_wait_for_descendants)
{
	/* The background sleep keeps the pipe open after sh exits. */
	static const char *const argv[] = { "/bin/sh", "-c", "/bin/sleep 1 & echo hi", NULL };
	struct health_probe *p = run_cmd(argv, 5000);
	const struct health_result *r = health_probe_result(p);

	CHECK(r->ok);
	CHECK_STR(r->detail, "exit status 0: hi");
	CHECK(r->latency_ms < 800);
	health_probe_free(p);
}

TEST(health_cmd_cannot_run)
{
	static const char *const argv[] = { "/nonexistent/health", NULL };
	struct health_probe *p = health_probe_cmd(argv, 1000);
	const struct health_result *r = health_probe_result(p);

	CHECK(health_probe_done(p));
	CHECK(!r->ok);
	CHECK_INT(r->exit_status, -1);
	CHECK(contains(r->detail, "cannot run '/nonexistent/health'"));
	health_probe_free(p);
}

TEST(health_cmd_output_made_printable)
{
	static const char *const argv[] = { "/usr/bin/printf", "a\\tb\\001c\\377d \\303\\251\\n",
					    NULL };
	struct health_probe *p = run_cmd(argv, 2000);

	CHECK_STR(health_probe_result(p)->detail, "exit status 0: a b c?d \xc3\xa9");
	health_probe_free(p);
}

/* ---- many at once ---- */

/* One silent app, one slow, one quick, one refusing, three commands: each
 * ends on its own time, the quick ones not held by the slow ones. */
static void check_many(void (*drive)(struct health_probe **, size_t))
{
	static const char *const t[] = { "/bin/true", NULL };
	static const char *const sleep1[] = { "/bin/sleep", "0.1", NULL };
	static const char *const sleep10[] = { "/bin/sleep", "10", NULL };
	struct server silent, slow, ok;
	struct health_probe *ps[7];
	long long t0 = monotonic_ms();

	CHECK(server_start(&silent, SERVE_SILENT, 1, false));
	CHECK(server_start(&slow, SERVE_SLOW, 1, false));
	CHECK(server_start(&ok, SERVE_OK, 1, false));
	ps[0] = health_probe_http("127.0.0.1", silent.port, "/", NULL, 300);
	ps[1] = health_probe_http("127.0.0.1", slow.port, "/", NULL, 2000);
	ps[2] = health_probe_http("127.0.0.1", ok.port, "/", NULL, 2000);
	ps[3] = health_probe_http("127.0.0.1", closed_port(), "/", NULL, 2000);
	ps[4] = health_probe_cmd(t, 2000);
	ps[5] = health_probe_cmd(sleep1, 2000);
	ps[6] = health_probe_cmd(sleep10, 300);
	drive(ps, ARRAY_SIZE(ps));
	CHECK(monotonic_ms() - t0 < 1500);

	CHECK(contains(health_probe_result(ps[0])->detail, "timed out after 300 ms"));
	CHECK_STR(health_probe_result(ps[1])->detail, "HTTP 204 No Content");
	CHECK(health_probe_result(ps[1])->latency_ms >= 100);
	CHECK_STR(health_probe_result(ps[2])->detail, "HTTP 200 OK");
	CHECK(health_probe_result(ps[2])->latency_ms < 100);
	CHECK(contains(health_probe_result(ps[3])->detail, "connection refused"));
	CHECK(health_probe_result(ps[4])->ok);
	CHECK(health_probe_result(ps[4])->latency_ms < 100);
	CHECK(health_probe_result(ps[5])->ok);
	CHECK(health_probe_result(ps[5])->latency_ms >= 100);
	CHECK_STR(health_probe_result(ps[6])->detail, "timed out after 300 ms");
	CHECK_INT(health_probe_pid(ps[6]), 0);
	for (size_t i = 0; i < ARRAY_SIZE(ps); i++)
		health_probe_free(ps[i]);
	server_stop(&silent);
	server_stop(&slow);
	server_stop(&ok);
	server_release(&ok);
	server_release(&silent);
	server_release(&slow);
}

TEST(health_many_at_once_poll) { check_many(drive_poll); }

TEST(health_many_at_once_epoll) { check_many(drive_epoll); }
