/* What a container is made of, and its OCI runtime-spec 1.0 config.json.
 *
 * struct container_spec is the runtime-neutral description of one container
 * (the root filesystem, the process, its user, mounts, network, limits and
 * confinement). oci_spec_to_json turns it into the config.json that runc and
 * crun read from a bundle; it is a pure function, so every choice it makes
 * (default mounts, capabilities, the seccomp profile, masked paths) is
 * checked by unit tests without running anything. */
#ifndef NUA_OCI_SPEC_H
#define NUA_OCI_SPEC_H

#include <stdbool.h>
#include <sys/types.h>

#include "error.h"

/* Which network namespace the container gets. */
enum container_net {
	/* A new namespace with only a loopback interface: a build step or test
	 * that needs no network, and the safe default. */
	CONTAINER_NET_NONE,
	/* Join the namespace at netns_path (made by network_cni.h). */
	CONTAINER_NET_PATH,
	/* Share the host's namespace: build steps that fetch Debian packages,
	 * which must reach the same mirror the host reaches with the host's
	 * resolver (see docs/runtime.md for why). */
	CONTAINER_NET_HOST,
};

/* Which capabilities the process gets. */
enum container_caps {
	/* podman's default set, as the bounding set only when the user is not
	 * root (a non-root app then holds no capability at all, and cannot
	 * gain one through a setuid binary beyond the set). */
	CONTAINER_CAPS_DEFAULT,
	/* A build step running apt and maintainer scripts as root: the default
	 * set plus CAP_MKNOD and CAP_AUDIT_WRITE (docker's set, which Debian's
	 * maintainer scripts are used to), effective and permitted. */
	CONTAINER_CAPS_BUILD,
};

enum container_mount_type {
	CONTAINER_MOUNT_BIND,
	CONTAINER_MOUNT_TMPFS,
};

struct container_mount {
	enum container_mount_type type;
	char *source;		 /* bind: absolute host path; tmpfs: NULL */
	char *target;		 /* absolute path in the container */
	bool readonly;
	unsigned long long size; /* tmpfs: bytes, 0 for the kernel's default */
	mode_t mode;		 /* tmpfs: 0 for 0755 */
};

struct container_spec {
	char *rootfs;	    /* absolute path of the root filesystem */
	bool readonly_root;
	char **argv;	    /* NULL-terminated, at least one element */
	char **env;	    /* NULL-terminated "KEY=value" strings */
	size_t nenv, env_alloc;
	char *cwd;	    /* absolute; NULL for "/" */
	uid_t uid;
	gid_t gid;
	gid_t *gids;	    /* additional groups */
	size_t ngids;
	char *hostname;	    /* NULL: no new UTS name */
	enum container_net net;
	char *netns_path;   /* CONTAINER_NET_PATH only */
	struct container_mount *mounts; /* besides the default ones */
	size_t nmounts, mounts_alloc;
	unsigned long long memory; /* bytes, 0 = no limit */
	long long pids;		   /* max tasks, 0 = no limit */
	unsigned int millicpus;	   /* 1000 = one CPU, 0 = no limit */
	char *cgroup_path;	   /* relative to the runtime's cgroup; NULL: the runtime picks */
	enum container_caps caps;
	bool no_new_privileges;
	bool seccomp; /* apply the default seccomp profile */
};

/* An empty spec: root user, no network, no limits, no_new_privileges and
 * seccomp on, default capabilities. */
void container_spec_init(struct container_spec *spec);
void container_spec_release(struct container_spec *spec);

/* Setters copy their arguments; the spec owns the copies. */
void container_spec_set_rootfs(struct container_spec *spec, const char *path);
void container_spec_set_argv(struct container_spec *spec, const char *const *argv);
void container_spec_set_cwd(struct container_spec *spec, const char *cwd);
void container_spec_set_hostname(struct container_spec *spec, const char *hostname);
void container_spec_set_netns(struct container_spec *spec, const char *path);
void container_spec_set_cgroup(struct container_spec *spec, const char *path);
/* Add or replace KEY (the part of kv before '='). */
void container_spec_setenv(struct container_spec *spec, const char *kv);
void container_spec_add_gid(struct container_spec *spec, gid_t gid);
void container_spec_add_bind(struct container_spec *spec, const char *source, const char *target,
			     bool readonly);
void container_spec_add_tmpfs(struct container_spec *spec, const char *target,
			      unsigned long long size, mode_t mode);

/* Check the spec and render it as an OCI runtime-spec 1.0 config.json.
 * On success *out is a NUL-terminated JSON text the caller frees. Fails with
 * NUA_EINPUT naming the field when the spec is unusable (relative paths, no
 * argv, "KEY" without "=", a netns path missing for CONTAINER_NET_PATH). */
int oci_spec_to_json(const struct container_spec *spec, char **out, struct nua_error **err);

/* oci_spec_to_json, written atomically to BUNDLE/config.json (mode 0600:
 * the environment may hold secrets). */
int oci_spec_write(const struct container_spec *spec, const char *bundle, struct nua_error **err);

/* The default seccomp profile alone, as its JSON text (caller frees): a
 * denylist answering EPERM to the system calls a web app never needs and a
 * container must not make (modules, kexec, reboot, mount, keyrings, bpf,
 * namespaces, clock setting...), ENOSYS to clone3 so that libc falls back to
 * clone, whose new-user-namespace flag is refused. */
char *oci_seccomp_profile_json(void);

#endif
