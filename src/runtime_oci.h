/* Running containers: the runtime driver interface, and the "oci" driver
 * (runc or crun, with conmon for long-running containers).
 *
 * A container is named by an id (valid_name, 64 at most) and lives in a
 * bundle directory owned by the caller: the driver writes BUNDLE/config.json
 * from a struct container_spec (whose rootfs, typically an overlay from
 * mount.h, the caller has prepared) and conmon adds its fifos and attach
 * socket there. The driver's own state is under $NUA_RUN/oci:
 *
 *   runc/ or crun/     the OCI runtime's --root (its container state)
 *   exits/ID           exit status written by conmon
 *   sockets/           conmon's --socket-dir-path (must exist)
 *   ctr/ID/            conmon.pid, pid (container init), oci-log (runtime's
 *                      own log, JSON), persist/ (conmon's exit and oom files)
 *
 * Nothing of a long-running container depends on the calling process: conmon
 * detaches, keeps the container's stdio, writes its log and exit status, so
 * a daemon can exit, restart, and find its containers with state(). */
#ifndef NUA_RUNTIME_OCI_H
#define NUA_RUNTIME_OCI_H

#include <stdbool.h>
#include <sys/types.h>

#include "error.h"
#include "oci_spec.h"
#include "strbuf.h"

enum container_status {
	CONTAINER_ABSENT,  /* unknown to the runtime and no exit recorded */
	CONTAINER_CREATED, /* created, not started */
	CONTAINER_RUNNING,
	CONTAINER_PAUSED,
	CONTAINER_STOPPED,
};

struct container_state {
	enum container_status status;
	pid_t pid;	 /* the container's init as seen on the host; 0 if none */
	int exit_code;	 /* STOPPED: 0-255, 128+N after signal N; -1 not (yet) known */
	bool oom_killed; /* conmon saw the memory cgroup kill a process */
};

/* The name of a status for messages and the API ("running"...). */
const char *container_status_name(enum container_status s);

struct runtime;

/* One driver per way of running containers (oci here; docker later). Every
 * function returns 0 or -1 with *err set. */
struct runtime_driver {
	const char *name;
	/* Run spec to completion (a build step, a test): the process's stdout
	 * and stderr go to out_fd, stdin is /dev/null. *exit_code is its exit
	 * status, 128+N when killed by signal N (137: SIGKILL, which is also
	 * what the memory cgroup's OOM killer sends). timeout_sec > 0 kills it
	 * after that long and fails. Nothing is left behind on return. */
	int (*run)(struct runtime *rt, const char *id, const char *bundle,
		   const struct container_spec *spec, int out_fd, int timeout_sec, int *exit_code,
		   struct nua_error **err);
	/* Start spec as a long-running container under conmon, its stdout and
	 * stderr logged to log_path (k8s-file format: "TIME stdout F line"),
	 * replaced by a new file when it reaches log_size_max bytes (0: no
	 * limit). Returns once the process runs. */
	int (*start)(struct runtime *rt, const char *id, const char *bundle,
		     const struct container_spec *spec, const char *log_path,
		     unsigned long long log_size_max, struct nua_error **err);
	/* What the runtime and conmon know of id; an unknown id is
	 * CONTAINER_ABSENT, not an error. */
	int (*state)(struct runtime *rt, const char *id, struct container_state *st,
		     struct nua_error **err);
	/* As state, but cheap enough to call every second for every
	 * container: files and a kill(pid, 0) first, the runtime only when
	 * they do not tell. */
	int (*peek)(struct runtime *rt, const char *id, struct container_state *st,
		    struct nua_error **err);
	/* SIGTERM, then SIGKILL after timeout_sec; returns once the exit
	 * status is recorded. Stopping a stopped or absent container is
	 * success. */
	int (*stop)(struct runtime *rt, const char *id, int timeout_sec, struct nua_error **err);
	/* Forget id: kill what is left, delete the runtime's state, its
	 * cgroup, exit status and conmon files. Absent is success. The bundle
	 * is the caller's. */
	int (*remove)(struct runtime *rt, const char *id, struct nua_error **err);
	/* The ids of every container this driver knows (running, stopped, or
	 * left half-made by a killed process), NULL-terminated; free with
	 * strv_free. */
	int (*list)(struct runtime *rt, char ***ids, struct nua_error **err);
	/* The argument vector that runs cmd inside running container id
	 * (argv[0] absolute; free with strv_free), for health checks. */
	char **(*exec_argv)(struct runtime *rt, const char *id, const char *const *cmd);
	/* Freeze (frozen true) or thaw every process of running container id
	 * (the cgroup freezer): a frozen app changes no file while its
	 * volumes are read. */
	int (*freeze)(struct runtime *rt, const char *id, bool frozen, struct nua_error **err);
};

struct runtime {
	const struct runtime_driver *driver;
	char *oci;	 /* path of the OCI runtime binary */
	char *oci_name;	 /* "runc" or "crun" */
	char *conmon;	 /* path of conmon, NULL when not installed */
	char *state_dir; /* $NUA_RUN/oci */
};

/* Open the oci driver. The OCI runtime is NUA_OCI_RUNTIME when set ("runc",
 * "crun" or an absolute path), otherwise crun when it works on this host and
 * runc when crun is missing or refuses the host's cgroups (crun rejects a
 * hybrid v1/v2 layout whose v2 hierarchy holds controllers). Creates the
 * state directories. Fails when no usable runtime is installed, saying
 * which package to install. */
int runtime_oci_open(struct runtime *rt, struct nua_error **err);
void runtime_release(struct runtime *rt);

/* True when crun can run containers with this host's cgroup layout. */
bool oci_crun_usable(void);

/* The cgroup (relative to the runtime's own) given to container id when its
 * spec names none: "nua/ID" for the default NUA_ROOT, "nua-TAG/ID" for
 * another root, so that concurrent test roots never share one. Caller
 * frees. */
char *runtime_cgroup_path(const char *id);

/* Remove the cgroup directories of rel (as runtime_cgroup_path gives) in
 * every hierarchy, and its parents while they are empty. Best effort: runc
 * removes the leaf itself; this catches what a killed runtime left. */
void runtime_cgroup_cleanup(const char *rel);

/* "" for the default NUA_ROOT, else 8 hex digits of the SHA-256 of
 * NUA_ROOT: a tag that keeps host-wide names (cgroups, bridges, iptables
 * chains) of concurrent roots apart. Caller frees. */
char *nua_root_tag(void);

/* External commands, run with execve and an argument vector (argv[0] an
 * absolute path). envp NULL gives a minimal environment (PATH, LC_ALL=C). The
 * child's signal mask and dispositions are reset and it inherits no file
 * descriptor but stdin, stdout, stderr (-1: /dev/null) and extra_fd (which
 * becomes its fd 3, when not -1). */
struct nua_cmd {
	const char *const *argv;
	const char *const *envp;
	int in, out, err;
	int extra_fd;
	const char *dir; /* working directory of the child, NULL: unchanged */
};
#define NUA_CMD_INIT { NULL, NULL, -1, -1, -1, -1, NULL }

/* The absolute path of program name in the system's directories
 * (/usr/local/sbin, /usr/local/bin, /usr/sbin, /usr/bin, /sbin, /bin), or
 * NULL when none has it. Caller frees. */
char *nua_find_program(const char *name);

/* Start cmd; *pid is the child's. Fails when it cannot be executed. */
int nua_cmd_spawn(const struct nua_cmd *cmd, pid_t *pid, struct nua_error **err);

/* Wait for pid, at most timeout_ms (< 0: forever). Returns 0 with *status
 * (a wait status), 1 when the time ran out (the child is left running), -1
 * with *err on failure. */
int nua_cmd_wait(pid_t pid, int timeout_ms, int *status, struct nua_error **err);

/* Run cmd with input (may be NULL) as stdin, and wait. Its stdout goes to
 * out and stderr to errs (either NULL: /dev/null), ignoring cmd's in, out and
 * err. *status is the wait status. Fails only when it could not run. */
int nua_cmd_capture(const struct nua_cmd *cmd, const char *input, struct strbuf *out,
		    struct strbuf *errs, int *status, struct nua_error **err);

/* Append all of the file fd (a memory file a command wrote its output to),
 * from its start, to sb. Returns 0 or -errno. */
int nua_fd_read_all(int fd, struct strbuf *sb);

/* "exit status N" / "killed by signal N" for messages (static buffer). */
const char *nua_wait_status_str(int status);

#endif
