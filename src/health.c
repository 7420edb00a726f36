#define _GNU_SOURCE
#include "health.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "error.h"
#include "runtime_oci.h"
#include "strbuf.h"
#include "util.h"

#include "banned.h"

/* Room for the status line of an answer; a longer first line is not HTTP. */
#define ANSWER_MAX 1024
/* The most a step reads from a command's output, so that a command writing
 * without pause cannot hold the event loop. */
#define READ_BUDGET (64 * 1024)
/* How long a command sent SIGTERM at its timeout has before SIGKILL. */
#define TERM_GRACE_MS 500
/* How long a process killed with SIGKILL may take to die before the probe
 * ends without it (it is then reaped by health_probe_free). */
#define KILL_GRACE_MS 2000

enum phase {
	PHASE_DONE,
	/* HTTP */
	PHASE_CONNECTING,
	PHASE_SENDING,
	PHASE_RECEIVING,
	/* command */
	PHASE_RUNNING,
	PHASE_TERMINATING, /* timed out, sent SIGTERM */
	PHASE_KILLING,	   /* timed out, sent SIGKILL */
};

struct health_probe {
	enum phase phase;
	int timeout_ms;
	long long start_ms, deadline_ms;
	struct health_result res;

	/* HTTP */
	int sock;
	char addr[INET6_ADDRSTRLEN + 16]; /* "IP:PORT" or "[IP]:PORT", for messages */
	struct strbuf req;
	size_t req_off;
	char answer[ANSWER_MAX];
	size_t answer_len;

	/* command */
	pid_t pid; /* 0 when none or reaped */
	int pidfd, out;
	bool out_eof;
	char output[HEALTH_OUTPUT_MAX];
	size_t output_len;
};

static struct health_probe *probe_new(int timeout_ms)
{
	struct health_probe *p = xcalloc(1, sizeof(*p));

	if (timeout_ms <= 0)
		BUG("health probe timeout must be positive, not %d", timeout_ms);
	p->timeout_ms = timeout_ms;
	p->start_ms = monotonic_ms();
	p->deadline_ms = p->start_ms + timeout_ms;
	p->sock = p->pidfd = p->out = -1;
	p->req = (struct strbuf)STRBUF_INIT;
	p->res.exit_status = -1;
	return p;
}

/* ---- the detail, for a person ---- */

/* The length of the valid UTF-8 sequence at s (len > 0 bytes), 0 when it is
 * not one. The detail ends up in JSON, which takes nothing else. */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		if (s[0] == 0xe0)
			lo = 0xa0; /* overlong */
		else if (s[0] == 0xed)
			hi = 0x9f; /* surrogates */
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		if (s[0] == 0xf0)
			lo = 0x90; /* overlong */
		else if (s[0] == 0xf4)
			hi = 0x8f; /* beyond U+10FFFF */
	} else {
		return 0;
	}
	if (len < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* Copy text into r->detail: control characters become blanks, bytes that are
 * not UTF-8 '?', and what does not fit is cut on a character boundary and
 * marked with "...". */
static void set_detail(struct health_result *r, const char *text, size_t len)
{
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
	const unsigned char *s = (const unsigned char *)text;
	size_t max = sizeof(r->detail) - 1, i = 0;

	while (i < len) {
		size_t n = utf8_seq(s + i, len - i);

		if (n == 0)
			strbuf_addch(&sb, '?');
		else if (n == 1 && (s[i] < 0x20 || s[i] == 0x7f))
			strbuf_addch(&sb, ' ');
		else
			strbuf_add(&sb, s + i, n);
		i += n ? n : 1;
	}
	if (sb.len > max) {
		size_t cut = max - 3;

		while (cut > 0 && ((unsigned char)sb.buf[cut] & 0xc0) == 0x80)
			cut--;
		strbuf_setlen(&sb, cut);
		strbuf_addstr(&sb, "...");
	}
	memcpy(r->detail, sb.buf, sb.len + 1);
}

/* strerror(e), starting lowercase as messages do. */
static void add_errno(struct strbuf *sb, int e)
{
	size_t at = sb->len;

	strbuf_addstr(sb, strerror(e));
	if (sb->len > at)
		sb->buf[at] = (char)tolower((unsigned char)sb->buf[at]);
}

static void finish(struct health_probe *p, long long now_ms, bool ok, const struct strbuf *detail)
{
	p->phase = PHASE_DONE;
	p->res.ok = ok;
	p->res.latency_ms = now_ms > p->start_ms ? now_ms - p->start_ms : 0;
	set_detail(&p->res, detail->buf, detail->len);
}

PRINTF(4, 5) static void fail(struct health_probe *p, long long now_ms, int e, const char *fmt, ...)
{
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	if (e) {
		strbuf_addstr(&sb, ": ");
		add_errno(&sb, e);
	}
	finish(p, now_ms, false, &sb);
}

/* ---- HTTP ---- */

/* True when s is non-empty and has no blank or control character, so that
 * it cannot break the request line or a header. */
static bool valid_token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || *s == 0x7f)
			return false;
	return true;
}

static void http_send(struct health_probe *p, long long now_ms)
{
	while (p->req_off < p->req.len) {
		ssize_t n = send(p->sock, p->req.buf + p->req_off, p->req.len - p->req_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			p->req_off += (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			return;
		} else {
			fail(p, now_ms, n < 0 ? errno : EPIPE, "cannot send the request to '%s'",
			     p->addr);
			return;
		}
	}
	p->phase = PHASE_RECEIVING;
}

/* Parse "HTTP/x.y SSS reason" (the line without its end); false when it is
 * not a status line. */
static bool parse_status_line(const char *line, size_t len, int *status, const char **reason,
			      size_t *reason_len)
{
	size_t i = 5;

	if (len < 5 || memcmp(line, "HTTP/", 5) != 0)
		return false;
	while (i < len && line[i] != ' ')
		i++;
	while (i < len && line[i] == ' ')
		i++;
	if (len - i < 3 || !isdigit((unsigned char)line[i]) ||
	    !isdigit((unsigned char)line[i + 1]) || !isdigit((unsigned char)line[i + 2]))
		return false;
	if (len - i > 3 && line[i + 3] != ' ')
		return false;
	*status = (line[i] - '0') * 100 + (line[i + 1] - '0') * 10 + (line[i + 2] - '0');
	i += 3;
	while (i < len && line[i] == ' ')
		i++;
	*reason = line + i;
	*reason_len = len - i;
	return true;
}

/* Finish with the answer's first line (complete, or all there is at its
 * end). */
static void http_answered(struct health_probe *p, long long now_ms, size_t line_len)
{
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
	const char *reason;
	size_t reason_len;
	int status;

	while (line_len > 0 && (p->answer[line_len - 1] == '\r' || p->answer[line_len - 1] == '\n'))
		line_len--;
	if (!parse_status_line(p->answer, line_len, &status, &reason, &reason_len)) {
		strbuf_addf(&sb, "'%s' gave an answer that is not HTTP: '", p->addr);
		strbuf_add(&sb, p->answer, line_len < 80 ? line_len : 80);
		strbuf_addstr(&sb, line_len > 80 ? "...'" : "'");
		finish(p, now_ms, false, &sb);
		return;
	}
	p->res.http_status = status;
	strbuf_addf(&sb, "HTTP %d", status);
	if (reason_len) {
		strbuf_addch(&sb, ' ');
		strbuf_add(&sb, reason, reason_len < 100 ? reason_len : 100);
	}
	finish(p, now_ms, status >= 200 && status <= 399, &sb);
}

static void http_receive(struct health_probe *p, long long now_ms)
{
	for (;;) {
		size_t room = sizeof(p->answer) - p->answer_len;
		ssize_t n = recv(p->sock, p->answer + p->answer_len, room, MSG_DONTWAIT);
		const char *nl;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0) {
			fail(p, now_ms, errno, "cannot read the answer of '%s'", p->addr);
			return;
		}
		if (n == 0) {
			if (p->answer_len == 0)
				fail(p, now_ms, 0, "'%s' closed the connection without answering",
				     p->addr);
			else
				http_answered(p, now_ms, p->answer_len);
			return;
		}
		nl = memchr(p->answer + p->answer_len, '\n', (size_t)n);
		p->answer_len += (size_t)n;
		if (nl) {
			http_answered(p, now_ms, (size_t)(nl - p->answer));
			return;
		}
		if (p->answer_len == sizeof(p->answer)) {
			http_answered(p, now_ms, p->answer_len);
			return;
		}
	}
}

/* Whether the non-blocking connect has ended, and how. */
static void http_connecting(struct health_probe *p, long long now_ms)
{
	struct pollfd pfd = { .fd = p->sock, .events = POLLOUT };
	socklen_t len = sizeof(int);
	int r, e = 0;

	do
		r = poll(&pfd, 1, 0);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		fail(p, now_ms, errno, "cannot connect to '%s'", p->addr);
		return;
	}
	if (r == 0)
		return;
	if (getsockopt(p->sock, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
		e = errno;
	if (e) {
		fail(p, now_ms, e, "cannot connect to '%s'", p->addr);
		return;
	}
	p->phase = PHASE_SENDING;
}

static void http_step(struct health_probe *p, long long now_ms)
{
	if (p->phase == PHASE_CONNECTING)
		http_connecting(p, now_ms);
	if (p->phase == PHASE_SENDING)
		http_send(p, now_ms);
	if (p->phase == PHASE_RECEIVING)
		http_receive(p, now_ms);
	if (p->phase != PHASE_DONE && now_ms >= p->deadline_ms)
		fail(p, now_ms, 0, "timed out after %d ms %s", p->timeout_ms,
		     p->phase == PHASE_CONNECTING ? "connecting"
		     : p->phase == PHASE_SENDING  ? "sending the request"
						  : "waiting for an answer");
}

struct health_probe *health_probe_http(const char *ip, int port, const char *path, const char *host,
				       int timeout_ms)
{
	struct health_probe *p = probe_new(timeout_ms);
	const char *given = ip;
	struct sockaddr_storage ss;
	socklen_t ss_len;
	char buf[INET6_ADDRSTRLEN];
	size_t ip_len = strlen(ip);
	int family = AF_INET;

	if (host && !*host)
		host = NULL;
	memset(&ss, 0, sizeof(ss));
	if (ip_len >= 2 && ip[0] == '[' && ip[ip_len - 1] == ']') {
		ip++;
		ip_len -= 2;
	}
	if (ip_len >= sizeof(buf)) {
		fail(p, p->start_ms, 0, "invalid IP address '%s'", given);
		return p;
	}
	memcpy(buf, ip, ip_len);
	buf[ip_len] = '\0';
	if (inet_pton(AF_INET, buf, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		ss_len = sizeof(*sin);
		snprintf(p->addr, sizeof(p->addr), "%s:%d", buf, port);
	} else if (inet_pton(AF_INET6, buf, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		family = AF_INET6;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		ss_len = sizeof(*sin6);
		snprintf(p->addr, sizeof(p->addr), "[%s]:%d", buf, port);
	} else {
		fail(p, p->start_ms, 0, "invalid IP address '%s'", given);
		return p;
	}
	if (port < 1 || port > 65535) {
		fail(p, p->start_ms, 0, "invalid port %d for '%s'", port, buf);
		return p;
	}
	if (path[0] != '/' || !valid_token(path)) {
		fail(p, p->start_ms, 0,
		     "invalid health check path '%s': it must start with '/' and hold no blank",
		     path);
		return p;
	}
	if (host && !valid_token(host)) {
		fail(p, p->start_ms, 0, "invalid host name '%s' for a health check", host);
		return p;
	}
	strbuf_addf(&p->req,
		    "GET %s HTTP/1.1\r\n"
		    "Host: %s\r\n"
		    "User-Agent: nua-health-check\r\n"
		    "Accept: */*\r\n"
		    "Connection: close\r\n"
		    "\r\n",
		    path, host ? host : p->addr);

	p->sock = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->sock < 0) {
		fail(p, p->start_ms, errno, "cannot make a socket to reach '%s'", p->addr);
		return p;
	}
	p->phase = PHASE_CONNECTING;
	if (connect(p->sock, (struct sockaddr *)&ss, ss_len) == 0) {
		p->phase = PHASE_SENDING;
		http_send(p, monotonic_ms());
	} else if (errno != EINPROGRESS && errno != EINTR) {
		/* EINTR: the connection goes on in the background, as with
		 * EINPROGRESS. */
		fail(p, monotonic_ms(), errno, "cannot connect to '%s'", p->addr);
	}
	return p;
}

/* ---- commands ---- */

/* Read what the command wrote, keeping the first HEALTH_OUTPUT_MAX bytes, at
 * most budget bytes, without waiting. */
static void cmd_read_output(struct health_probe *p, size_t budget)
{
	char sink[4096];

	while (!p->out_eof && budget > 0) {
		bool keep = p->output_len < sizeof(p->output);
		char *dst = sink;
		size_t room = sizeof(sink);
		ssize_t n;

		if (keep) {
			dst = p->output + p->output_len;
			room = sizeof(p->output) - p->output_len;
		}
		n = read(p->out, dst, room < budget ? room : budget);

		if (n > 0) {
			if (keep)
				p->output_len += (size_t)n;
			budget -= (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			return;
		} else {
			/* The end, or an error that the next read would
			 * give again: nothing more to read either way. */
			p->out_eof = true;
		}
	}
}

/* ": line | line" from the output kept, blank lines and edges left out. */
static void add_output(struct strbuf *sb, const char *out, size_t len)
{
	const char *end = out + len;
	bool first = true;

	while (out < end && sb->len < 2 * sizeof(((struct health_result *)0)->detail)) {
		const char *nl = memchr(out, '\n', (size_t)(end - out));
		const char *s = out, *e = nl ? nl : end;

		while (s < e && isspace((unsigned char)*s))
			s++;
		while (e > s && isspace((unsigned char)e[-1]))
			e--;
		if (e > s) {
			strbuf_addstr(sb, first ? ": " : " | ");
			strbuf_add(sb, s, (size_t)(e - s));
			first = false;
		}
		out = nl ? nl + 1 : end;
	}
}

/* Reap the process if it has ended; false when it still runs. */
static bool cmd_reap(struct health_probe *p, int *status)
{
	pid_t r;

	do
		r = waitpid(p->pid, status, WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return false;
	if (r < 0) {
		/* ECHILD: someone reaped our child behind our back, a bug of
		 * theirs; the status is lost. */
		*status = -1;
	}
	p->pid = 0;
	return true;
}

static void cmd_finish(struct health_probe *p, long long now_ms, int status, bool timed_out)
{
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;

	if (status == -1)
		p->res.exit_status = -1;
	else if (WIFEXITED(status))
		p->res.exit_status = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		p->res.exit_status = 128 + WTERMSIG(status);
	/* Output written just before the end is taken, but the pipe's end is
	 * not awaited: a descendant may hold it open for ever. */
	cmd_read_output(p, READ_BUDGET);
	if (timed_out)
		strbuf_addf(&sb, "timed out after %d ms", p->timeout_ms);
	else if (status == -1)
		strbuf_addstr(&sb, "exit status lost");
	else
		strbuf_addstr(&sb, nua_wait_status_str(status));
	add_output(&sb, p->output, p->output_len);
	finish(p, now_ms, !timed_out && status != -1 && p->res.exit_status == 0, &sb);
}

static void cmd_step(struct health_probe *p, long long now_ms)
{
	int status;

	if (p->phase == PHASE_RUNNING) {
		cmd_read_output(p, READ_BUDGET);
		if (cmd_reap(p, &status)) {
			cmd_finish(p, now_ms, status, false);
		} else if (now_ms >= p->deadline_ms) {
			/* SIGTERM first: "runc exec" and "crun exec" pass it on
			 * to the command in the container, which SIGKILL would
			 * leave running there. */
			kill(p->pid, SIGTERM);
			p->phase = PHASE_TERMINATING;
			p->deadline_ms = now_ms + TERM_GRACE_MS;
			return;
		}
	}
	if (p->phase == PHASE_TERMINATING) {
		if (cmd_reap(p, &status)) {
			cmd_finish(p, now_ms, status, true);
		} else if (now_ms >= p->deadline_ms) {
			kill(p->pid, SIGKILL);
			p->phase = PHASE_KILLING;
			p->deadline_ms = now_ms + KILL_GRACE_MS;
			return;
		}
	}
	if (p->phase == PHASE_KILLING) {
		if (cmd_reap(p, &status)) {
			cmd_finish(p, now_ms, status, true);
		} else if (now_ms >= p->deadline_ms) {
			/* Stuck in the kernel: health_probe_free reaps it. */
			fail(p, now_ms, 0,
			     "timed out after %d ms; process %d, killed, does not die",
			     p->timeout_ms, (int)p->pid);
		}
	}
}

struct health_probe *health_probe_cmd(const char *const *argv, int timeout_ms)
{
	struct health_probe *p = probe_new(timeout_ms);
	_cleanup_error_ struct nua_error *err = NULL;
	struct nua_cmd cmd = NUA_CMD_INIT;
	int pipefd[2], e;

	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		fail(p, p->start_ms, errno, "cannot make a pipe for '%s'", argv[0]);
		return p;
	}
	p->out = pipefd[0];
	/* Only the reading end: the command's own writes must block. */
	if (fcntl(p->out, F_SETFL, O_NONBLOCK) < 0) {
		e = errno;
		close(pipefd[1]);
		fail(p, p->start_ms, e, "cannot set up the pipe for '%s'", argv[0]);
		return p;
	}
	cmd.argv = argv;
	cmd.out = cmd.err = pipefd[1];
	e = nua_cmd_spawn(&cmd, &p->pid, &err);
	close(pipefd[1]);
	if (e < 0) {
		p->pid = 0;
		fail(p, monotonic_ms(), 0, "%s", err->msg);
		return p;
	}
	p->pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
	if (p->pidfd < 0) {
		e = errno;
		fail(p, monotonic_ms(), e, "cannot watch process %d running '%s'", (int)p->pid,
		     argv[0]);
		return p; /* health_probe_free kills and reaps it */
	}
	p->phase = PHASE_RUNNING;
	return p;
}

/* ---- driving ---- */

int health_probe_fds(const struct health_probe *p, struct pollfd *fds, int max)
{
	int n = 0;

	switch (p->phase) {
	case PHASE_DONE:
		return 0;
	case PHASE_CONNECTING:
	case PHASE_SENDING:
		if (max < 1)
			BUG("health_probe_fds needs room for 1 descriptor");
		fds[n++] = (struct pollfd){ .fd = p->sock, .events = POLLOUT };
		return n;
	case PHASE_RECEIVING:
		if (max < 1)
			BUG("health_probe_fds needs room for 1 descriptor");
		fds[n++] = (struct pollfd){ .fd = p->sock, .events = POLLIN };
		return n;
	case PHASE_RUNNING:
	case PHASE_TERMINATING:
	case PHASE_KILLING:
		if (max < (p->out_eof || p->phase != PHASE_RUNNING ? 1 : 2))
			BUG("health_probe_fds needs room for %d descriptors", HEALTH_PROBE_MAX_FDS);
		fds[n++] = (struct pollfd){ .fd = p->pidfd, .events = POLLIN };
		/* Once the time is out the output is no longer awaited (and
		 * what came is still read at the end). */
		if (!p->out_eof && p->phase == PHASE_RUNNING)
			fds[n++] = (struct pollfd){ .fd = p->out, .events = POLLIN };
		return n;
	}
	BUG("health probe in phase %d", (int)p->phase);
}

long long health_probe_deadline(const struct health_probe *p)
{
	return p->phase == PHASE_DONE ? LLONG_MAX : p->deadline_ms;
}

bool health_probe_step(struct health_probe *p, long long now_ms)
{
	switch (p->phase) {
	case PHASE_DONE:
		break;
	case PHASE_CONNECTING:
	case PHASE_SENDING:
	case PHASE_RECEIVING:
		http_step(p, now_ms);
		break;
	case PHASE_RUNNING:
	case PHASE_TERMINATING:
	case PHASE_KILLING:
		cmd_step(p, now_ms);
		break;
	}
	return p->phase == PHASE_DONE;
}

bool health_probe_done(const struct health_probe *p) { return p->phase == PHASE_DONE; }

const struct health_result *health_probe_result(const struct health_probe *p) { return &p->res; }

pid_t health_probe_pid(const struct health_probe *p) { return p->pid; }

void health_probe_run(struct health_probe *p)
{
	struct pollfd fds[HEALTH_PROBE_MAX_FDS];

	while (!health_probe_done(p)) {
		int n = health_probe_fds(p, fds, HEALTH_PROBE_MAX_FDS);
		long long wait = health_probe_deadline(p) - monotonic_ms();

		if (wait < 0)
			wait = 0;
		/* An error (EINTR, ENOMEM) is as good as a spurious wake-up:
		 * the deadline still ends the probe. */
		(void)poll(fds, (nfds_t)n, wait > INT_MAX ? INT_MAX : (int)wait);
		health_probe_step(p, monotonic_ms());
	}
}

void health_probe_free(struct health_probe *p)
{
	if (!p)
		return;
	if (p->pid > 0) {
		kill(p->pid, SIGKILL);
		while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (p->sock >= 0)
		close(p->sock);
	if (p->pidfd >= 0)
		close(p->pidfd);
	if (p->out >= 0)
		close(p->out);
	strbuf_release(&p->req);
	free(p);
}
