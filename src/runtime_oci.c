#define _GNU_SOURCE
#include "runtime_oci.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>

#include "mount.h"
#include "paths.h"
#include "util.h"

#include "banned.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define MINIMAL_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define ID_MAX 64
/* How long conmon may take to report that runc created the container. */
#define CREATE_TIMEOUT_MS 60000
/* How long after the process died conmon may take to record it. */
#define EXIT_RECORD_MS 5000

static const char *const default_env[] = { MINIMAL_PATH, "LC_ALL=C", NULL };

/* ---- external commands ---- */

const char *nua_wait_status_str(int status)
{
	static char buf[64];

	if (WIFEXITED(status))
		snprintf(buf, sizeof(buf), "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, sizeof(buf), "killed by signal %d", WTERMSIG(status));
	else
		snprintf(buf, sizeof(buf), "wait status %#x", (unsigned)status);
	return buf;
}

/* In the child, between fork and execve: async-signal-safe calls only. */
static NORETURN void child_exec(const struct nua_cmd *cmd, int errpipe)
{
	int src[4] = { cmd->in, cmd->out, cmd->err, cmd->extra_fd };
	int high[4];
	sigset_t none;
	int e, null = -1;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (cmd->dir && chdir(cmd->dir) < 0)
		_exit(127);
	for (int s = 1; s < NSIG; s++) {
		struct sigaction sa;

		if (s == SIGKILL || s == SIGSTOP)
			continue;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		sigaction(s, &sa, NULL);
	}
	/* Move every source above the target range first, so that a source
	 * that is itself 0..3 is not overwritten before it is used. */
	for (int i = 0; i < 4; i++) {
		int fd = src[i];

		if (fd < 0 && i < 3) {
			if (null < 0)
				null = open("/dev/null", O_RDWR | O_CLOEXEC);
			fd = null;
		}
		high[i] = fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 10);
		if (fd >= 0 && high[i] < 0)
			goto fail;
	}
	for (int i = 0; i < 4; i++)
		if (high[i] >= 0 && dup2(high[i], i) < 0)
			goto fail;
	syscall(SYS_close_range, cmd->extra_fd >= 0 ? 4U : 3U, ~0U, CLOSE_RANGE_CLOEXEC);
	execve(cmd->argv[0], (char *const *)cmd->argv,
	       (char *const *)(cmd->envp ? cmd->envp : default_env));
fail:
	e = errno;
	if (write(errpipe, &e, sizeof(e)) < 0) {
		/* nothing more to say */
	}
	_exit(127);
}

int nua_cmd_spawn(const struct nua_cmd *cmd, pid_t *pid_out, struct nua_error **err)
{
	int pipefd[2], e = 0;
	ssize_t n;
	pid_t pid;

	if (!cmd->argv || !cmd->argv[0] || cmd->argv[0][0] != '/')
		BUG("nua_cmd_spawn needs an absolute program path");
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot make a pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0) {
		e = errno;
		close(pipefd[0]);
		close(pipefd[1]);
		return nua_error_set(err, NUA_EFAIL, "cannot fork to run '%s': %s", cmd->argv[0],
				     strerror(e));
	}
	if (pid == 0) {
		close(pipefd[0]);
		child_exec(cmd, pipefd[1]);
	}
	close(pipefd[1]);
	do
		n = read(pipefd[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(pipefd[0]);
	if (n == (ssize_t)sizeof(e)) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		return nua_error_set(err, NUA_EFAIL, "cannot run '%s': %s", cmd->argv[0],
				     strerror(e));
	}
	*pid_out = pid;
	return 0;
}

int nua_cmd_wait(pid_t pid, int timeout_ms, int *status, struct nua_error **err)
{
	int pidfd, r;

	if (timeout_ms >= 0) {
		pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
		if (pidfd < 0)
			return nua_error_set(err, NUA_EFAIL, "cannot watch process %d: %s", (int)pid,
					     strerror(errno));
		struct pollfd p = { .fd = pidfd, .events = POLLIN };

		do
			r = poll(&p, 1, timeout_ms);
		while (r < 0 && errno == EINTR);
		close(pidfd);
		if (r == 0)
			return 1;
	}
	while (waitpid(pid, status, 0) < 0)
		if (errno != EINTR)
			return nua_error_set(err, NUA_EFAIL, "cannot wait for process %d: %s",
					     (int)pid, strerror(errno));
	return 0;
}

int nua_fd_read_all(int fd, struct strbuf *sb)
{
	char chunk[8192];
	ssize_t n;

	if (lseek(fd, 0, SEEK_SET) < 0)
		return -errno;
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		strbuf_add(sb, chunk, (size_t)n);
	}
	return 0;
}

int nua_cmd_capture(const struct nua_cmd *cmd, const char *input, struct strbuf *out,
		    struct strbuf *errs, int *status, struct nua_error **err)
{
	/* Memory files rather than pipes: no deadlock whatever the sizes,
	 * and nothing to multiplex. The outputs read here are small. */
	_cleanup_close_ int in_fd = -1, out_fd = -1, err_fd = -1;
	struct nua_cmd c = *cmd;
	pid_t pid;

	if (input) {
		size_t len = strlen(input);

		in_fd = memfd_create("nua-in", MFD_CLOEXEC);
		if (in_fd < 0 || write(in_fd, input, len) != (ssize_t)len ||
		    lseek(in_fd, 0, SEEK_SET) < 0)
			return nua_error_set(err, NUA_EFAIL, "cannot buffer input for '%s': %s",
					     cmd->argv[0], strerror(errno));
	}
	if (out && (out_fd = memfd_create("nua-out", MFD_CLOEXEC)) < 0)
		return nua_error_set(err, NUA_EFAIL, "memfd_create: %s", strerror(errno));
	if (errs && (err_fd = memfd_create("nua-err", MFD_CLOEXEC)) < 0)
		return nua_error_set(err, NUA_EFAIL, "memfd_create: %s", strerror(errno));
	c.in = in_fd;
	c.out = out_fd;
	c.err = err_fd;
	if (nua_cmd_spawn(&c, &pid, err) < 0)
		return -1;
	if (nua_cmd_wait(pid, -1, status, err) < 0)
		return -1;
	if ((out && nua_fd_read_all(out_fd, out) < 0) || (errs && nua_fd_read_all(err_fd, errs) < 0))
		return nua_error_set(err, NUA_EFAIL, "cannot read the output of '%s': %s",
				     cmd->argv[0], strerror(errno));
	return 0;
}

/* ---- names, tags, cgroups ---- */

char *nua_root_tag(void)
{
	unsigned char h[crypto_hash_sha256_BYTES];
	const char *root = nua_root();
	char hex[9];

	if (streq(root, "/var/lib/nua"))
		return xstrdup("");
	if (sodium_init() < 0)
		BUG("libsodium cannot initialise");
	crypto_hash_sha256(h, (const unsigned char *)root, strlen(root));
	snprintf(hex, sizeof(hex), "%02x%02x%02x%02x", h[0], h[1], h[2], h[3]);
	return xstrdup(hex);
}

char *runtime_cgroup_path(const char *id)
{
	_cleanup_free_ char *tag = nua_root_tag();

	if (!*tag)
		return xasprintf("nua/%s", id);
	return xasprintf("nua-%s/%s", tag, id);
}

static bool fs_is_cgroup2(const char *path)
{
	struct statfs sf;

	return statfs(path, &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC;
}

/* rmdir base/rel, then its parents inside rel, while they are empty. */
static void rmdir_chain(const char *base, const char *rel)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", base, rel);
	size_t stop = strlen(base);

	for (;;) {
		char *slash;

		/* Gone already (runc removes the leaf itself) is no reason to
		 * leave its parents. */
		if (rmdir(path) < 0 && errno != ENOENT)
			return;
		slash = strrchr(path, '/');
		if (!slash || (size_t)(slash - path) <= stop)
			return;
		*slash = '\0';
	}
}

void runtime_cgroup_cleanup(const char *rel)
{
	_cleanup_free_ char *data = NULL;
	char *line, *save = NULL;

	if (read_file("/proc/self/cgroup", &data, NULL) < 0)
		return;
	for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *ctrls = strchr(line, ':');
		char *own;
		_cleanup_free_ char *base = NULL, *mine = NULL, *parent = NULL;

		if (!ctrls || !(own = strchr(ctrls + 1, ':')))
			continue;
		*own++ = '\0';
		ctrls++;
		if (!*ctrls)
			base = xstrdup(fs_is_cgroup2("/sys/fs/cgroup") ? "/sys/fs/cgroup"
								       : "/sys/fs/cgroup/unified");
		else
			base = xasprintf("/sys/fs/cgroup/%s",
					 starts_with(ctrls, "name=") ? ctrls + 5 : ctrls);
		/* The runtime puts a relative path under its own cgroup (v1),
		 * or under its parent (v2); an absolute one under the root. */
		mine = xasprintf("%s%s", base, streq(own, "/") ? "" : own);
		rmdir_chain(mine, rel);
		parent = xstrdup(mine);
		if (strlen(parent) > strlen(base))
			rmdir_chain(dirname(parent), rel);
		rmdir_chain(base, rel);
	}
}

bool oci_crun_usable(void)
{
	_cleanup_free_ char *ctrls = NULL;

	if (fs_is_cgroup2("/sys/fs/cgroup"))
		return true; /* pure v2 */
	if (!fs_is_cgroup2("/sys/fs/cgroup/unified"))
		return true; /* pure v1 */
	/* Hybrid: crun refuses when the v2 hierarchy holds controllers (here,
	 * hugetlb, until a v1 hugetlb hierarchy takes it). */
	if (read_file("/sys/fs/cgroup/unified/cgroup.controllers", &ctrls, NULL) < 0)
		return false;
	for (char *p = ctrls; *p; p++)
		if (*p != ' ' && *p != '\n')
			return false;
	return true;
}

/* ---- the OCI runtime binary ---- */

char *nua_find_program(const char *name)
{
	static const char *const dirs[] = { "/usr/local/sbin", "/usr/local/bin", "/usr/sbin",
					    "/usr/bin", "/sbin", "/bin", NULL };

	for (const char *const *d = dirs; *d; d++) {
		char *p = xasprintf("%s/%s", *d, name);

		if (access(p, X_OK) == 0)
			return p;
		free(p);
	}
	return NULL;
}

static char *oci_root(struct runtime *rt) { return xasprintf("%s/%s", rt->state_dir, rt->oci_name); }

static char *ctr_dir(struct runtime *rt, const char *id)
{
	return xasprintf("%s/ctr/%s", rt->state_dir, id);
}

static char *exit_file(struct runtime *rt, const char *id)
{
	return xasprintf("%s/exits/%s", rt->state_dir, id);
}

/* Run "OCI --root ROOT ARGS..." and capture its output. */
static int oci_cmd(struct runtime *rt, const char *const *args, struct strbuf *out,
		   struct strbuf *errs, int *status, struct nua_error **err)
{
	_cleanup_free_ char *root = oci_root(rt);
	const char *argv[16];
	struct nua_cmd cmd = NUA_CMD_INIT;
	size_t n = 0;

	argv[n++] = rt->oci;
	argv[n++] = "--root";
	argv[n++] = root;
	for (; *args; args++) {
		if (n + 2 > ARRAY_SIZE(argv))
			BUG("too many runtime arguments");
		argv[n++] = *args;
	}
	argv[n] = NULL;
	cmd.argv = argv;
	return nua_cmd_capture(&cmd, NULL, out, errs, status, err);
}

/* The message of the last error a runtime wrote to its JSON log. */
static char *runtime_log_error(const char *path)
{
	_cleanup_free_ char *data = NULL;
	char *line, *save = NULL, *msg = NULL;

	if (read_file(path, &data, NULL) < 0)
		return NULL;
	for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *j = json_loads(line, 0, NULL);
		const char *level = json_string_value(json_object_get(j, "level"));
		const char *m = json_string_value(json_object_get(j, "msg"));

		if (level && m && (streq(level, "error") || streq(level, "fatal"))) {
			free(msg);
			msg = xstrdup(m);
		}
		json_decref(j);
	}
	return msg;
}

static bool path_exists(const char *p)
{
	struct stat st;

	return lstat(p, &st) == 0;
}

static int check_id(const char *id, struct nua_error **err)
{
	if (!valid_name(id, ID_MAX))
		return nua_error_set(err, NUA_EINPUT,
				     "container name '%s' is not [a-z0-9][a-z0-9-]*, %d at most", id,
				     ID_MAX);
	return 0;
}

/* config.json in bundle, with the default cgroup when the spec has none. */
static int write_config(const char *id, const char *bundle, const struct container_spec *spec,
			struct nua_error **err)
{
	struct container_spec copy = *spec;
	_cleanup_free_ char *cg = NULL;

	if (!copy.cgroup_path)
		copy.cgroup_path = cg = runtime_cgroup_path(id);
	if (oci_spec_write(&copy, bundle, err) < 0)
		return nua_error_prefix(err, "container '%s'", id);
	return 0;
}

static void forget_files(struct runtime *rt, const char *id)
{
	_cleanup_free_ char *dir = ctr_dir(rt, id);
	_cleanup_free_ char *ex = exit_file(rt, id);
	_cleanup_free_ char *sock = xasprintf("%s/sockets/%s", rt->state_dir, id);

	unlink(ex);
	unlink(sock);
	remove_tree(dir);
}

/* ---- run to completion ---- */

static int oci_run(struct runtime *rt, const char *id, const char *bundle,
		   const struct container_spec *spec, int out_fd, int timeout_sec, int *exit_code,
		   struct nua_error **err)
{
	_cleanup_free_ char *root = oci_root(rt);
	_cleanup_free_ char *dir = NULL, *log = NULL, *cg = NULL, *msg = NULL;
	struct nua_cmd cmd = NUA_CMD_INIT;
	bool timed_out = false;
	int status, r, ret = -1;
	pid_t pid;

	if (check_id(id, err) < 0)
		return -1;
	cg = spec->cgroup_path ? xstrdup(spec->cgroup_path) : runtime_cgroup_path(id);
	dir = ctr_dir(rt, id);
	log = xasprintf("%s/oci-log", dir);
	if ((r = mkdir_p(dir, 0700)) < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot create '%s': %s", dir, strerror(-r));
	unlink(log);
	if (write_config(id, bundle, spec, err) < 0)
		goto out;

	const char *argv[] = { rt->oci, "--root", root, "--log", log, "--log-format", "json",
			       "run", "--bundle", bundle, id, NULL };
	cmd.argv = argv;
	cmd.out = cmd.err = out_fd;
	if (nua_cmd_spawn(&cmd, &pid, err) < 0)
		goto out;
	r = nua_cmd_wait(pid, timeout_sec > 0 ? timeout_sec * 1000 : -1, &status, err);
	if (r == 1) {
		const char *kill_args[] = { "kill", id, "KILL", NULL };
		int ks;

		timed_out = true;
		oci_cmd(rt, kill_args, NULL, NULL, &ks, NULL);
		r = nua_cmd_wait(pid, 10000, &status, err);
		if (r == 1) {
			kill(pid, SIGKILL);
			r = nua_cmd_wait(pid, -1, &status, err);
		}
	}
	if (r < 0)
		goto out;
	if (timed_out) {
		nua_error_set(err, NUA_EFAIL, "container '%s' ran longer than %d s and was killed",
			      id, timeout_sec);
		goto out;
	}
	if (!WIFEXITED(status)) {
		nua_error_set(err, NUA_EFAIL, "%s for container '%s' was %s", rt->oci_name, id,
			      nua_wait_status_str(status));
		goto out;
	}
	if (WEXITSTATUS(status) != 0 && (msg = runtime_log_error(log))) {
		nua_error_set(err, NUA_EFAIL, "%s cannot run container '%s': %s", rt->oci_name, id,
			      msg);
		goto out;
	}
	*exit_code = WEXITSTATUS(status);
	ret = 0;
out: {
	/* runc run deletes its container on the way out, unless it was
	 * killed; make sure, then remove what the cgroup and we kept. */
	const char *del_args[] = { "delete", "--force", id, NULL };
	int ds;

	oci_cmd(rt, del_args, NULL, NULL, &ds, NULL);
	runtime_cgroup_cleanup(cg);
	forget_files(rt, id);
}
	return ret;
}

/* ---- long-running, under conmon ---- */

/* Read conmon's report on the sync pipe: {"data": PID} once the runtime
 * created the container, {"data": -1, "message": "..."} when it failed. */
static int read_sync(int fd, const char *id, long long *pid, struct nua_error **err)
{
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char chunk[4096];
		long elapsed;
		ssize_t n;
		json_t *j;
		int r;

		clock_gettime(CLOCK_MONOTONIC, &now);
		elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
		if (elapsed >= CREATE_TIMEOUT_MS)
			return nua_error_set(err, NUA_EFAIL,
					     "conmon did not report container '%s' created within %d s",
					     id, CREATE_TIMEOUT_MS / 1000);
		r = poll(&p, 1, (int)(CREATE_TIMEOUT_MS - elapsed));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			continue;
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return nua_error_set(err, NUA_EFAIL,
					     "conmon exited without creating container '%s'%s%s", id,
					     sb.len ? ": " : "", sb.buf);
		strbuf_add(&sb, chunk, (size_t)n);
		j = json_loadb(sb.buf, sb.len, JSON_DISABLE_EOF_CHECK, NULL);
		if (!j)
			continue; /* not complete yet */
		json_t *data = json_object_get(j, "data");
		const char *message = json_string_value(json_object_get(j, "message"));

		*pid = json_is_integer(data) ? json_integer_value(data) : -1;
		if (*pid <= 0) {
			nua_error_set(err, NUA_EFAIL, "cannot create container '%s': %s", id,
				      message ? message : "conmon reported a failure");
			json_decref(j);
			return -1;
		}
		json_decref(j);
		return 0;
	}
}

static int oci_start(struct runtime *rt, const char *id, const char *bundle,
		     const struct container_spec *spec, const char *log_path,
		     unsigned long long log_size_max, struct nua_error **err)
{
	_cleanup_free_ char *root = oci_root(rt);
	_cleanup_free_ char *dir = NULL, *persist = NULL, *pidfile = NULL, *conmon_pid = NULL;
	_cleanup_free_ char *ocilog = NULL, *logarg = NULL, *sizearg = NULL, *exits = NULL;
	_cleanup_free_ char *sockets = NULL, *msg = NULL;
	_cleanup_strbuf_ struct strbuf errs = STRBUF_INIT;
	struct nua_cmd cmd = NUA_CMD_INIT;
	int sync[2] = { -1, -1 };
	long long ctr_pid = 0;
	int status, r;
	pid_t pid;

	if (check_id(id, err) < 0)
		return -1;
	if (!rt->conmon)
		return nua_error_set(err, NUA_EFAIL,
				     "cannot start container '%s': conmon is not installed (apt-get install conmon)",
				     id);
	dir = ctr_dir(rt, id);
	persist = xasprintf("%s/persist", dir);
	pidfile = xasprintf("%s/pid", dir);
	conmon_pid = xasprintf("%s/conmon.pid", dir);
	ocilog = xasprintf("%s/oci-log", dir);
	exits = xasprintf("%s/exits", rt->state_dir);
	sockets = xasprintf("%s/sockets", rt->state_dir);
	logarg = xasprintf("k8s-file:%s", log_path);
	sizearg = xasprintf("%llu", log_size_max ? log_size_max : 0);

	{
		struct container_state st;

		if (rt->driver->state(rt, id, &st, err) < 0)
			return -1;
		if (st.status == CONTAINER_RUNNING || st.status == CONTAINER_CREATED ||
		    st.status == CONTAINER_PAUSED)
			return nua_error_set(err, NUA_EFAIL, "container '%s' already exists (%s)", id,
					     container_status_name(st.status));
		/* A stopped leftover of the same name goes first. */
		if (st.status != CONTAINER_ABSENT && rt->driver->remove(rt, id, err) < 0)
			return -1;
		forget_files(rt, id);
	}
	if ((r = mkdir_p(persist, 0700)) < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot create '%s': %s", persist, strerror(-r));
	if (write_config(id, bundle, spec, err) < 0)
		goto fail;

	/* conmon flags, as podman passes them:
	 *   -c/-u/-n      id, also the attach socket's directory name
	 *   -r/-b         the runtime and the bundle; runtime-args go before
	 *                 "create": our --root, and the runtime's own log
	 *   -p/-P         the container's and conmon's pid files
	 *   -l            k8s-file log, --log-size-max rotation
	 *   --exit-dir    exits/ID holds the exit status when it ends
	 *   --persist-dir also the exit status, and "oom" after an OOM kill
	 *   --socket-dir-path  must exist, or conmon's child fails silently
	 * conmon forks: the first process exits once the second (setsid,
	 * subreaper of the container) runs, which then reports on fd 3. */
	const char *argv[] = {
		rt->conmon,	  "--api-version", "1",	      "-c",	 id,		"-u",
		id,		  "-n",		 id,	      "-r",	 rt->oci,	"-b",
		bundle,		  "-p",		 pidfile,     "-P",	 conmon_pid,	"-l",
		logarg,		  "--log-size-max", sizearg,  "--exit-dir", exits,	"--persist-dir",
		persist,	  "--socket-dir-path", sockets, "--runtime-arg", "--root",
		"--runtime-arg", root,		 "--runtime-arg", "--log", "--runtime-arg", ocilog,
		"--runtime-arg", "--log-format", "--runtime-arg", "json", "--log-level", "error",
		NULL,
	};
	const char *env[] = { MINIMAL_PATH, "LC_ALL=C", "_OCI_SYNCPIPE=3", NULL };

	if (pipe2(sync, O_CLOEXEC) < 0) {
		nua_error_set(err, NUA_EFAIL, "cannot make a pipe: %s", strerror(errno));
		goto fail;
	}
	cmd.argv = argv;
	cmd.envp = env;
	cmd.extra_fd = sync[1];
	/* conmon writes an "oom" file in its working directory. */
	cmd.dir = dir;
	if (nua_cmd_spawn(&cmd, &pid, err) < 0)
		goto fail;
	close(sync[1]);
	sync[1] = -1;
	if (nua_cmd_wait(pid, -1, &status, err) < 0)
		goto fail;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		nua_error_set(err, NUA_EFAIL, "conmon for container '%s' failed: %s", id,
			      nua_wait_status_str(status));
		goto fail;
	}
	if (read_sync(sync[0], id, &ctr_pid, err) < 0) {
		if ((msg = runtime_log_error(ocilog)))
			nua_error_prefix(err, "%s", msg);
		goto fail;
	}
	close(sync[0]);
	sync[0] = -1;

	const char *start_args[] = { "start", id, NULL };

	if (oci_cmd(rt, start_args, NULL, &errs, &status, err) < 0)
		goto fail;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		strbuf_rtrim(&errs);
		nua_error_set(err, NUA_EFAIL, "%s cannot start container '%s': %s", rt->oci_name, id,
			      errs.len ? errs.buf : nua_wait_status_str(status));
		goto fail;
	}
	return 0;
fail:
	if (sync[0] >= 0)
		close(sync[0]);
	if (sync[1] >= 0)
		close(sync[1]);
	rt->driver->remove(rt, id, NULL);
	return -1;
}

/* ---- state, stop, remove ---- */

const char *container_status_name(enum container_status s)
{
	switch (s) {
	case CONTAINER_ABSENT:
		return "absent";
	case CONTAINER_CREATED:
		return "created";
	case CONTAINER_RUNNING:
		return "running";
	case CONTAINER_PAUSED:
		return "paused";
	case CONTAINER_STOPPED:
		return "stopped";
	}
	return "unknown";
}

static int read_exit_code(struct runtime *rt, const char *id)
{
	_cleanup_free_ char *path = exit_file(rt, id);
	_cleanup_free_ char *data = NULL;
	char *end;
	long v;

	if (read_file(path, &data, NULL) < 0)
		return -1;
	v = strtol(data, &end, 10);
	if (end == data || v < 0 || v > 255)
		return -1;
	return (int)v;
}

/* Whether the conmon of container id still runs (it writes the exit status
 * once the container's process ends). */
static bool conmon_alive(struct runtime *rt, const char *id)
{
	_cleanup_free_ char *dir = ctr_dir(rt, id);
	_cleanup_free_ char *path = xasprintf("%s/conmon.pid", dir);
	_cleanup_free_ char *data = NULL;
	long pid;

	if (read_file(path, &data, NULL) < 0 || (pid = strtol(data, NULL, 10)) <= 0)
		return false;
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

static int oci_state(struct runtime *rt, const char *id, struct container_state *st,
		     struct nua_error **err)
{
	_cleanup_free_ char *root = oci_root(rt);
	_cleanup_free_ char *known = NULL, *oom = NULL, *dir = NULL;
	_cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
	_cleanup_strbuf_ struct strbuf errs = STRBUF_INIT;
	const char *args[] = { "state", id, NULL };
	const char *s;
	json_t *j;
	int status;

	if (check_id(id, err) < 0)
		return -1;
	memset(st, 0, sizeof(*st));
	st->exit_code = read_exit_code(rt, id);
	dir = ctr_dir(rt, id);
	oom = xasprintf("%s/persist/oom", dir);
	st->oom_killed = path_exists(oom);
	known = xasprintf("%s/%s", root, id);
	if (!path_exists(known)) {
		st->status = st->exit_code >= 0 ? CONTAINER_STOPPED : CONTAINER_ABSENT;
		return 0;
	}
	if (oci_cmd(rt, args, &out, &errs, &status, err) < 0)
		return -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (!path_exists(known)) { /* deleted meanwhile */
			st->status = st->exit_code >= 0 ? CONTAINER_STOPPED : CONTAINER_ABSENT;
			return 0;
		}
		strbuf_rtrim(&errs);
		return nua_error_set(err, NUA_EFAIL, "%s cannot tell the state of '%s': %s",
				     rt->oci_name, id, errs.buf);
	}
	j = json_loads(out.buf, 0, NULL);
	s = json_string_value(json_object_get(j, "status"));
	if (!s) {
		json_decref(j);
		return nua_error_set(err, NUA_EFAIL, "%s state of '%s' is not understood: %s",
				     rt->oci_name, id, out.buf);
	}
	if (streq(s, "running"))
		st->status = CONTAINER_RUNNING;
	else if (streq(s, "created") || streq(s, "creating"))
		st->status = CONTAINER_CREATED;
	else if (streq(s, "paused") || streq(s, "pausing"))
		st->status = CONTAINER_PAUSED;
	else
		st->status = CONTAINER_STOPPED;
	if (st->status != CONTAINER_STOPPED)
		st->pid = (pid_t)json_integer_value(json_object_get(j, "pid"));
	json_decref(j);
	return 0;
}

/* Wait until the process is gone, up to ms. 1: gone; 0: still there. */
static int wait_stopped(struct runtime *rt, const char *id, long ms, struct nua_error **err)
{
	long long t0;

	t0 = monotonic_ms();
	for (;;) {
		struct container_state st;

		if (oci_state(rt, id, &st, err) < 0)
			return -1;
		if (st.status == CONTAINER_STOPPED || st.status == CONTAINER_ABSENT)
			return 1;
		if ((monotonic_ms() - t0) >= ms)
			return 0;
		sleep_ms(20);
	}
}

static int oci_kill(struct runtime *rt, const char *id, const char *sig)
{
	const char *args[] = { "kill", id, sig, NULL };
	int status;

	return oci_cmd(rt, args, NULL, NULL, &status, NULL);
}

static int oci_stop(struct runtime *rt, const char *id, int timeout_sec, struct nua_error **err)
{
	struct container_state st;
	long long t0;
	int r;

	if (oci_state(rt, id, &st, err) < 0)
		return -1;
	if (st.status == CONTAINER_ABSENT || st.status == CONTAINER_STOPPED)
		return 0;
	if (st.status == CONTAINER_PAUSED) {
		const char *args[] = { "resume", id, NULL };
		int status;

		oci_cmd(rt, args, NULL, NULL, &status, NULL);
	}
	oci_kill(rt, id, "TERM");
	r = wait_stopped(rt, id, timeout_sec > 0 ? timeout_sec * 1000L : 0, err);
	if (r < 0)
		return -1;
	if (r == 0) {
		oci_kill(rt, id, "KILL");
		r = wait_stopped(rt, id, 10000, err);
		if (r < 0)
			return -1;
		if (r == 0)
			return nua_error_set(err, NUA_EFAIL,
					     "container '%s' is still running after SIGKILL", id);
	}
	/* conmon reaps the process and then writes the exit status. A conmon
	 * that is gone (killed, or never past a create that its daemon did
	 * not live to start) writes nothing: the container is stopped all
	 * the same, with no status to wait for. */
	t0 = monotonic_ms();
	while (read_exit_code(rt, id) < 0 && conmon_alive(rt, id)) {
		if ((monotonic_ms() - t0) > EXIT_RECORD_MS)
			return nua_error_set(err, NUA_EFAIL,
					     "container '%s' stopped but conmon recorded no exit status",
					     id);
		sleep_ms(10);
	}
	return 0;
}

static int oci_remove(struct runtime *rt, const char *id, struct nua_error **err)
{
	_cleanup_free_ char *cg = NULL;
	struct container_state st;
	const char *args[] = { "delete", "--force", id, NULL };
	_cleanup_strbuf_ struct strbuf errs = STRBUF_INIT;
	_cleanup_free_ char *root = oci_root(rt);
	_cleanup_free_ char *known = NULL;
	int status;

	if (check_id(id, err) < 0)
		return -1;
	if (oci_state(rt, id, &st, err) < 0)
		return -1;
	if (st.status != CONTAINER_ABSENT && st.status != CONTAINER_STOPPED) {
		oci_kill(rt, id, "KILL");
		wait_stopped(rt, id, 5000, NULL);
	}
	known = xasprintf("%s/%s", root, id);
	if (path_exists(known)) {
		if (oci_cmd(rt, args, NULL, &errs, &status, err) < 0)
			return -1;
		if ((!WIFEXITED(status) || WEXITSTATUS(status) != 0) && path_exists(known)) {
			strbuf_rtrim(&errs);
			return nua_error_set(err, NUA_EFAIL, "%s cannot delete container '%s': %s",
					     rt->oci_name, id, errs.buf);
		}
	}
	/* The spec's cgroup may have been another; the default is ours. */
	cg = runtime_cgroup_path(id);
	runtime_cgroup_cleanup(cg);
	forget_files(rt, id);
	return 0;
}

/* Cheap: conmon's exit file says stopped; a live pid from the pid file says
 * running; only when neither tells, ask the runtime. */
static int oci_peek(struct runtime *rt, const char *id, struct container_state *st,
		    struct nua_error **err)
{
	_cleanup_free_ char *dir = NULL, *pidfile = NULL, *data = NULL, *oom = NULL;
	_cleanup_free_ char *root = oci_root(rt), *fifo = NULL;
	long pid;

	if (check_id(id, err) < 0)
		return -1;
	memset(st, 0, sizeof(*st));
	dir = ctr_dir(rt, id);
	st->exit_code = read_exit_code(rt, id);
	if (st->exit_code >= 0) {
		oom = xasprintf("%s/persist/oom", dir);
		st->oom_killed = path_exists(oom);
		st->status = CONTAINER_STOPPED;
		return 0;
	}
	pidfile = xasprintf("%s/pid", dir);
	/* A container created but not started (its creator was killed in
	 * between) has a live init too, waiting on its exec fifo: only the
	 * runtime tells it from a running one. */
	fifo = xasprintf("%s/%s/exec.fifo", root, id);
	if (!path_exists(fifo) && read_file(pidfile, &data, NULL) == 0 &&
	    (pid = strtol(data, NULL, 10)) > 1 && kill((pid_t)pid, 0) == 0) {
		st->status = CONTAINER_RUNNING;
		st->pid = (pid_t)pid;
		return 0;
	}
	return oci_state(rt, id, st, err);
}

static int add_ids(const char *dir, char ***ids, size_t *n, size_t *alloc)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(d)))
		if (valid_name(de->d_name, ID_MAX))
			strv_add_unique(ids, n, alloc, de->d_name);
	closedir(d);
	return 0;
}

static int oci_list(struct runtime *rt, char ***out, struct nua_error **err)
{
	_cleanup_free_ char *root = oci_root(rt);
	_cleanup_free_ char *ctrs = xasprintf("%s/ctr", rt->state_dir);
	_cleanup_free_ char *exits = xasprintf("%s/exits", rt->state_dir);
	char **ids = xcalloc(1, sizeof(*ids));
	size_t n = 0, alloc = 1;

	if (add_ids(root, &ids, &n, &alloc) < 0 || add_ids(ctrs, &ids, &n, &alloc) < 0 ||
	    add_ids(exits, &ids, &n, &alloc) < 0) {
		strv_free(ids);
		return nua_error_set(err, NUA_EFAIL, "cannot list containers in '%s': %s",
				     rt->state_dir, strerror(errno));
	}
	*out = ids;
	return 0;
}

static char **oci_exec_argv(struct runtime *rt, const char *id, const char *const *cmd)
{
	size_t n = 0, i = 0;
	char **argv;

	while (cmd[n])
		n++;
	argv = xcalloc(n + 6, sizeof(*argv));
	argv[i++] = xstrdup(rt->oci);
	argv[i++] = xstrdup("--root");
	argv[i++] = oci_root(rt);
	argv[i++] = xstrdup("exec");
	argv[i++] = xstrdup(id);
	for (size_t k = 0; k < n; k++)
		argv[i++] = xstrdup(cmd[k]);
	return argv;
}

static int oci_freeze(struct runtime *rt, const char *id, bool frozen, struct nua_error **err)
{
	const char *args[] = { frozen ? "pause" : "resume", id, NULL };
	struct strbuf errs = STRBUF_INIT;
	int status = 0, r;

	r = oci_cmd(rt, args, NULL, &errs, &status, err);
	if (r == 0 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
		strbuf_rtrim(&errs);
		r = nua_error_set(err, NUA_EFAIL, "cannot %s container '%s': %s",
				  frozen ? "freeze" : "thaw", id,
				  errs.len ? errs.buf : nua_wait_status_str(status));
	}
	strbuf_release(&errs);
	return r;
}

static const struct runtime_driver oci_driver = {
	.name = "oci",
	.run = oci_run,
	.start = oci_start,
	.state = oci_state,
	.peek = oci_peek,
	.stop = oci_stop,
	.remove = oci_remove,
	.list = oci_list,
	.exec_argv = oci_exec_argv,
	.freeze = oci_freeze,
};

int runtime_oci_open(struct runtime *rt, struct nua_error **err)
{
	const char *want = getenv("NUA_OCI_RUNTIME");
	static const char *const subdirs[] = { "exits", "sockets", "ctr", NULL };
	int r;

	memset(rt, 0, sizeof(*rt));
	rt->driver = &oci_driver;
	if (want && *want) {
		if (want[0] == '/') {
			rt->oci = xstrdup(want);
			if (access(want, X_OK) < 0)
				goto missing;
		} else if (streq(want, "runc") || streq(want, "crun")) {
			rt->oci = nua_find_program(want);
			if (!rt->oci) {
				rt->oci = xstrdup(want);
				goto missing;
			}
		} else {
			return nua_error_set(err, NUA_EINPUT,
					     "NUA_OCI_RUNTIME='%s' is neither runc, crun nor an absolute path",
					     want);
		}
		rt->oci_name = xstrdup(ends_with(rt->oci, "crun") ? "crun" : "runc");
		if (streq(rt->oci_name, "crun") && !oci_crun_usable()) {
			runtime_release(rt);
			return nua_error_set(err, NUA_EFAIL,
					     "crun refuses this host's hybrid cgroups (controllers on the v2 hierarchy): use runc, or mount a v1 hugetlb hierarchy at /sys/fs/cgroup/hugetlb");
		}
	} else {
		if (oci_crun_usable())
			rt->oci = nua_find_program("crun");
		if (!rt->oci)
			rt->oci = nua_find_program("runc");
		if (!rt->oci) {
			runtime_release(rt);
			return nua_error_set(err, NUA_EFAIL,
					     "no OCI runtime found: install runc (apt-get install runc)");
		}
		rt->oci_name = xstrdup(ends_with(rt->oci, "crun") ? "crun" : "runc");
	}
	rt->conmon = nua_find_program("conmon");
	rt->state_dir = xasprintf("%s/oci", nua_run_dir());
	for (const char *const *d = subdirs; *d; d++) {
		_cleanup_free_ char *p = xasprintf("%s/%s", rt->state_dir, *d);

		if ((r = mkdir_p(p, 0700)) < 0) {
			nua_error_set(err, NUA_EFAIL, "cannot create '%s': %s", p, strerror(-r));
			runtime_release(rt);
			return -1;
		}
	}
	return 0;
missing:
	nua_error_set(err, NUA_EFAIL, "OCI runtime '%s' (NUA_OCI_RUNTIME) is not installed", rt->oci);
	runtime_release(rt);
	return -1;
}

void runtime_release(struct runtime *rt)
{
	free(rt->oci);
	free(rt->oci_name);
	free(rt->conmon);
	free(rt->state_dir);
	memset(rt, 0, sizeof(*rt));
}
