/* nua-init: PID 1 of the containers of packages that need more than one
 * command (docs/nua-config.md: [[process]], [[cron]], [[template]]).
 *
 *   nua-init [--template SRC TARGET MODE]... [--process NAME CMD]...
 *            [--cron NAME SCHEDULE CMD]...
 *   nua-init [--template SRC TARGET MODE]... --exec CMD
 *
 * The second form writes the templates and becomes /bin/sh -c CMD: the
 * one-off containers of [run] first-start and migrate see the same files
 * as the app.
 *
 * At each start it writes every TARGET from its template SRC, filled from
 * the environment (template.h), then starts each process (/bin/sh -c CMD,
 * in a session of its own) and runs each cron job when its schedule says
 * (cron.h), never twice at once. Every line the processes and jobs write is
 * copied to its own output with "[NAME] " in front, so the instance's log
 * says who spoke. It reaps every child, orphans included.
 *
 * A process that exits is a failure of the whole instance: nua-init stops
 * the others (SIGTERM, then SIGKILL after STOP_GRACE_S) and exits with that
 * process's status (1 when it was 0), which the daemon's supervisor sees as
 * a crash. SIGTERM, SIGINT or SIGHUP stop everything the same way and exit
 * 0. A template that cannot be written stops it before anything starts,
 * with status 2.
 *
 * Statically linked with libc only (the image may have no library Nua
 * uses); the daemon bind-mounts it read-only into the container. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cron.h"
#include "template.h"
#include "banned.h"

#define MAX_CHILDREN 64
#define LINE_MAX_BYTES 4096
#define STOP_GRACE_S 10

struct job {
	const char *name, *cmd;
	bool cron;
	struct cron_schedule sched;
	long long next; /* cron: when it runs next */
	pid_t pid;	/* 0: not running */
	int out;	/* read end of its output, -1 none */
	char buf[LINE_MAX_BYTES];
	size_t len;
};

static struct job jobs[MAX_CHILDREN];
static size_t njobs;
static int sigpipe[2] = { -1, -1 };

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
	char line[LINE_MAX_BYTES + 64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	while (write(STDOUT_FILENO, line, (size_t)n) < 0 && errno == EINTR)
		;
}

static void on_signal(int sig)
{
	unsigned char c = (unsigned char)sig;
	int saved = errno;

	if (write(sigpipe[1], &c, 1) < 0) {
		/* Full: a wakeup is already pending. */
	}
	errno = saved;
}

static const char *env_lookup(const char *name, size_t len, void *arg)
{
	char key[256];

	(void)arg;
	if (len >= sizeof(key))
		return NULL;
	memcpy(key, name, len);
	key[len] = '\0';
	return getenv(key);
}

static int read_all(const char *path, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t alloc = 4096;
	char *buf;
	ssize_t n;

	if (fd < 0)
		return -1;
	*len = 0;
	if (!(buf = malloc(alloc))) {
		close(fd);
		return -1;
	}
	while ((n = read(fd, buf + *len, alloc - *len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			free(buf);
			close(fd);
			return -1;
		}
		*len += (size_t)n;
		if (*len == alloc) {
			char *b = alloc > (64u << 20) ? NULL : realloc(buf, alloc * 2);

			if (!b) {
				free(buf);
				close(fd);
				errno = EFBIG;
				return -1;
			}
			buf = b;
			alloc *= 2;
		}
	}
	close(fd);
	*out = buf;
	return 0;
}

/* Write target from template src with mode, atomically. */
static int write_template(const char *src, const char *target, const char *mode_text)
{
	char *text = NULL, *out = NULL, msg[512], tmp[4096];
	size_t len = 0, out_len = 0, off = 0;
	long mode;
	char *end;
	int fd, r = -1;

	mode = strtol(mode_text, &end, 8);
	if (*end || end == mode_text || mode < 0 || mode > 07777) {
		say("nua-init: template %s: mode '%s' is not octal", target, mode_text);
		return -1;
	}
	if (read_all(src, &text, &len) < 0) {
		say("nua-init: cannot read template '%s': %s", src, strerror(errno));
		return -1;
	}
	if (template_render(text, len, env_lookup, NULL, &out, &out_len, msg, sizeof(msg)) < 0) {
		say("nua-init: template '%s' for '%s': %s", src, target, msg);
		goto out;
	}
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.nua-tmp", target) >= sizeof(tmp))
		goto out;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
	if (fd < 0) {
		say("nua-init: cannot write '%s': %s", target, strerror(errno));
		goto out;
	}
	while (off < out_len) {
		ssize_t n = write(fd, out + off, out_len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		off += (size_t)n;
	}
	if (off < out_len || fchmod(fd, (mode_t)mode) < 0 || fsync(fd) < 0) {
		say("nua-init: cannot write '%s': %s", target, strerror(errno));
		close(fd);
		unlink(tmp);
		goto out;
	}
	close(fd);
	if (rename(tmp, target) < 0) {
		say("nua-init: cannot write '%s': %s", target, strerror(errno));
		unlink(tmp);
		goto out;
	}
	r = 0;
out:
	free(text);
	free(out);
	return r;
}

static int spawn(struct job *j)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0) {
		say("nua-init: cannot start %s: %s", j->name, strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		say("nua-init: cannot start %s: %s", j->name, strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		sigset_t none;
		int devnull = open("/dev/null", O_RDONLY);

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGCHLD, SIG_DFL);
		setsid();
		if (devnull >= 0)
			dup2(devnull, STDIN_FILENO);
		dup2(p[1], STDOUT_FILENO);
		dup2(p[1], STDERR_FILENO);
		execl("/bin/sh", "sh", "-c", j->cmd, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	if (j->out >= 0)
		close(j->out);
	j->out = p[0];
	j->len = 0;
	j->pid = pid;
	return 0;
}

static void flush_line(struct job *j, size_t n)
{
	say("[%s] %.*s", j->name, (int)n, j->buf);
	memmove(j->buf, j->buf + n, j->len - n);
	j->len -= n;
}

/* Copy what j wrote, line by line; at the end of its output, what is
 * left. */
static void relay(struct job *j)
{
	for (;;) {
		ssize_t n = read(j->out, j->buf + j->len, sizeof(j->buf) - j->len);
		char *nl;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return; /* EAGAIN: later */
		if (n == 0) {
			if (j->len)
				flush_line(j, j->len);
			close(j->out);
			j->out = -1;
			return;
		}
		j->len += (size_t)n;
		while ((nl = memchr(j->buf, '\n', j->len))) {
			size_t k = (size_t)(nl - j->buf);

			say("[%s] %.*s", j->name, (int)k, j->buf);
			memmove(j->buf, nl + 1, j->len - k - 1);
			j->len -= k + 1;
		}
		if (j->len == sizeof(j->buf))
			flush_line(j, j->len);
	}
}

static int status_code(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return 1;
}

static void signal_all(int sig)
{
	for (size_t i = 0; i < njobs; i++)
		if (jobs[i].pid > 0)
			kill(-jobs[i].pid, sig);
}

static bool any_running(void)
{
	for (size_t i = 0; i < njobs; i++)
		if (jobs[i].pid > 0)
			return true;
	return false;
}

static int usage(void)
{
	say("usage: nua-init [--template SRC TARGET MODE]... [--process NAME CMD]... "
	    "[--cron NAME SCHEDULE CMD]... | [--template SRC TARGET MODE]... --exec CMD");
	return 2;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { 0 };
	bool stopping = false;
	long long stop_at = 0;
	int code = 0;
	size_t nprocs = 0;

	setvbuf(stdout, NULL, _IONBF, 0);
	/* Templates first: nothing starts on a config file with a hole. */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--template") == 0) {
			if (i + 3 >= argc)
				return usage();
			if (write_template(argv[i + 1], argv[i + 2], argv[i + 3]) < 0)
				return 2;
			i += 3;
		} else if (strcmp(argv[i], "--exec") == 0) {
			if (i + 2 != argc || njobs)
				return usage();
			execl("/bin/sh", "sh", "-c", argv[i + 1], (char *)NULL);
			say("nua-init: cannot run /bin/sh: %s", strerror(errno));
			return 127;
		} else if (strcmp(argv[i], "--process") == 0 || strcmp(argv[i], "--cron") == 0) {
			bool cron = argv[i][2] == 'c';
			struct job *j;
			char msg[256];

			if (i + (cron ? 3 : 2) >= argc || njobs == MAX_CHILDREN)
				return usage();
			j = &jobs[njobs++];
			j->name = argv[i + 1];
			j->cron = cron;
			j->out = -1;
			if (cron) {
				if (cron_parse(argv[i + 2], &j->sched, msg, sizeof(msg)) < 0) {
					say("nua-init: cron %s: %s", j->name, msg);
					return 2;
				}
				j->cmd = argv[i + 3];
				i += 3;
			} else {
				j->cmd = argv[i + 2];
				nprocs++;
				i += 2;
			}
		} else {
			return usage();
		}
	}
	if (!njobs)
		return usage();
	if (pipe2(sigpipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return 1;
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	{
		long long now = (long long)time(NULL);

		for (size_t i = 0; i < njobs; i++) {
			if (jobs[i].cron) {
				jobs[i].next = cron_next(&jobs[i].sched, now);
			} else if (spawn(&jobs[i]) < 0) {
				stopping = true;
				code = 1;
				stop_at = now + STOP_GRACE_S;
				signal_all(SIGTERM);
				break;
			}
		}
	}

	for (;;) {
		struct pollfd pfd[MAX_CHILDREN + 1];
		struct job *owner[MAX_CHILDREN + 1];
		size_t n = 0;
		long long now;
		int st;
		pid_t pid;

		pfd[n] = (struct pollfd){ sigpipe[0], POLLIN, 0 };
		owner[n++] = NULL;
		for (size_t i = 0; i < njobs; i++)
			if (jobs[i].out >= 0) {
				pfd[n] = (struct pollfd){ jobs[i].out, POLLIN, 0 };
				owner[n++] = &jobs[i];
			}
		if (poll(pfd, n, 1000) < 0 && errno != EINTR)
			return 1;
		for (size_t i = 1; i < n; i++)
			if (pfd[i].revents)
				relay(owner[i]);
		if (pfd[0].revents) {
			unsigned char sigs[64];
			ssize_t k = read(sigpipe[0], sigs, sizeof(sigs));

			for (ssize_t s = 0; s < k; s++)
				if (sigs[s] != SIGCHLD && !stopping) {
					say("nua-init: signal %d: stopping", sigs[s]);
					stopping = true;
					stop_at = (long long)time(NULL) + STOP_GRACE_S;
					signal_all(SIGTERM);
				}
		}
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
			for (size_t i = 0; i < njobs; i++) {
				struct job *j = &jobs[i];

				if (j->pid != pid)
					continue;
				j->pid = 0;
				if (j->cron) {
					if (status_code(st))
						say("nua-init: cron job %s exited with status %d", j->name,
						    status_code(st));
				} else if (!stopping) {
					code = status_code(st) ? status_code(st) : 1;
					say("nua-init: process %s exited with status %d: stopping the "
					    "others",
					    j->name, status_code(st));
					stopping = true;
					stop_at = (long long)time(NULL) + STOP_GRACE_S;
					signal_all(SIGTERM);
				}
			}
		}
		now = (long long)time(NULL);
		if (stopping) {
			if (!any_running()) {
				/* What they wrote last. */
				for (size_t i = 0; i < njobs; i++)
					if (jobs[i].out >= 0)
						relay(&jobs[i]);
				return code;
			}
			if (now >= stop_at) {
				signal_all(SIGKILL);
				stop_at = now + 3600;
			}
			continue;
		}
		for (size_t i = 0; i < njobs; i++) {
			struct job *j = &jobs[i];

			if (!j->cron || j->next < 0 || now < j->next)
				continue;
			if (j->pid)
				say("nua-init: cron job %s is still running: this run is skipped", j->name);
			else
				spawn(j);
			j->next = cron_next(&j->sched, now);
		}
	}
}
