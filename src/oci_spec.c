#define _GNU_SOURCE
#include "oci_spec.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>

#include "strbuf.h"
#include "util.h"

#include "banned.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* podman's default capability set (containers.conf, podman 4). */
static const char *const caps_default[] = {
	"CAP_CHOWN",  "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL",   "CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID",
	"CAP_SETPCAP", "CAP_SETUID",	   "CAP_SYS_CHROOT", NULL,
};

/* What a maintainer script run by apt as root may also need. */
static const char *const caps_build_extra[] = { "CAP_MKNOD", "CAP_AUDIT_WRITE", NULL };

/* Paths of /proc and /sys that reveal or change the host; as runc's and
 * podman's defaults. */
static const char *const masked_paths[] = {
	"/proc/acpi",	     "/proc/asound",	   "/proc/kcore",	    "/proc/keys",
	"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
	"/proc/scsi",	     "/sys/firmware",	   "/sys/devices/virtual/powercap", NULL,
};

static const char *const readonly_paths[] = {
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL,
};

/* System calls refused with EPERM. The profile is a denylist over a default
 * of "allow": what a web application or a package build legitimately does
 * must keep working, and everything here either needs a capability the
 * container does not hold (so refusing early closes kernel attack surface)
 * or reaches outside the container (kernel modules, clocks, keyrings,
 * mounts, namespaces). io_uring is refused because its many kernel bugs
 * bypass this very filter. */
static const char *const seccomp_denied[] = {
	"acct",		   "add_key",	      "bpf",		"clock_adjtime",
	"clock_settime",   "create_module",   "delete_module",	"finit_module",
	"fsconfig",	   "fsmount",	      "fsopen",		"fspick",
	"get_kernel_syms", "init_module",     "io_uring_enter", "io_uring_register",
	"io_uring_setup",  "ioperm",	      "iopl",		"kexec_file_load",
	"kexec_load",	   "keyctl",	      "lookup_dcookie", "mount",
	"mount_setattr",   "move_mount",      "name_to_handle_at", "nfsservctl",
	"open_by_handle_at", "open_tree",     "perf_event_open", "pivot_root",
	"query_module",	   "quotactl",	      "quotactl_fd",	"reboot",
	"request_key",	   "setns",	      "settimeofday",	"stime",
	"swapoff",	   "swapon",	      "_sysctl",	"sysfs",
	"syslog",	   "umount",	      "umount2",	"unshare",
	"uselib",	   "userfaultfd",     "ustat",		"vhangup",
	"vm86",		   "vm86old",	      NULL,
};

#define NUA_CLONE_NEWUSER 0x10000000LL

void container_spec_init(struct container_spec *spec)
{
	memset(spec, 0, sizeof(*spec));
	spec->net = CONTAINER_NET_NONE;
	spec->caps = CONTAINER_CAPS_DEFAULT;
	spec->no_new_privileges = true;
	spec->seccomp = true;
	container_spec_setenv(spec, "PATH=" DEFAULT_PATH);
	container_spec_setenv(spec, "LANG=C.UTF-8");
}

void container_spec_release(struct container_spec *spec)
{
	free(spec->rootfs);
	strv_free(spec->argv);
	strv_free(spec->env);
	free(spec->cwd);
	free(spec->gids);
	free(spec->hostname);
	free(spec->netns_path);
	for (size_t i = 0; i < spec->nmounts; i++) {
		free(spec->mounts[i].source);
		free(spec->mounts[i].target);
	}
	free(spec->mounts);
	free(spec->cgroup_path);
	memset(spec, 0, sizeof(*spec));
}

static void set_str(char **field, const char *value)
{
	free(*field);
	*field = value ? xstrdup(value) : NULL;
}

void container_spec_set_rootfs(struct container_spec *spec, const char *path)
{
	set_str(&spec->rootfs, path);
}

void container_spec_set_cwd(struct container_spec *spec, const char *cwd) { set_str(&spec->cwd, cwd); }

void container_spec_set_hostname(struct container_spec *spec, const char *hostname)
{
	set_str(&spec->hostname, hostname);
}

void container_spec_set_netns(struct container_spec *spec, const char *path)
{
	set_str(&spec->netns_path, path);
	spec->net = CONTAINER_NET_PATH;
}

void container_spec_set_cgroup(struct container_spec *spec, const char *path)
{
	set_str(&spec->cgroup_path, path);
}

void container_spec_set_argv(struct container_spec *spec, const char *const *argv)
{
	size_t n = 0;

	strv_free(spec->argv);
	while (argv[n])
		n++;
	spec->argv = xcalloc(n + 1, sizeof(*spec->argv));
	for (size_t i = 0; i < n; i++)
		spec->argv[i] = xstrdup(argv[i]);
}

void container_spec_setenv(struct container_spec *spec, const char *kv)
{
	const char *eq = strchr(kv, '=');
	size_t klen = eq ? (size_t)(eq - kv) : strlen(kv);

	for (size_t i = 0; i < spec->nenv; i++) {
		if (strncmp(spec->env[i], kv, klen) == 0 &&
		    (spec->env[i][klen] == '=' || spec->env[i][klen] == '\0')) {
			free(spec->env[i]);
			spec->env[i] = xstrdup(kv);
			return;
		}
	}
	ALLOC_GROW(spec->env, spec->nenv + 2, spec->env_alloc);
	spec->env[spec->nenv++] = xstrdup(kv);
	spec->env[spec->nenv] = NULL;
}

void container_spec_add_gid(struct container_spec *spec, gid_t gid)
{
	spec->gids = xrealloc(spec->gids, (spec->ngids + 1) * sizeof(*spec->gids));
	spec->gids[spec->ngids++] = gid;
}

static struct container_mount *add_mount(struct container_spec *spec)
{
	struct container_mount *m;

	ALLOC_GROW(spec->mounts, spec->nmounts + 1, spec->mounts_alloc);
	m = &spec->mounts[spec->nmounts++];
	memset(m, 0, sizeof(*m));
	return m;
}

void container_spec_add_bind(struct container_spec *spec, const char *source, const char *target,
			     bool readonly)
{
	struct container_mount *m = add_mount(spec);

	m->type = CONTAINER_MOUNT_BIND;
	m->source = xstrdup(source);
	m->target = xstrdup(target);
	m->readonly = readonly;
}

void container_spec_add_tmpfs(struct container_spec *spec, const char *target,
			      unsigned long long size, mode_t mode)
{
	struct container_mount *m = add_mount(spec);

	m->type = CONTAINER_MOUNT_TMPFS;
	m->target = xstrdup(target);
	m->size = size;
	m->mode = mode;
}

/* An absolute path without "." or ".." components, and without characters
 * that a mount option list would split on. */
static bool clean_abs_path(const char *p)
{
	if (!p || p[0] != '/')
		return false;
	if (strchr(p, ','))
		return false;
	for (const char *s = p; *s;) {
		const char *e;
		size_t n;

		while (*s == '/')
			s++;
		e = strchrnul(s, '/');
		n = (size_t)(e - s);
		if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		s = e;
	}
	return true;
}

static bool valid_cgroup_path(const char *p)
{
	if (!*p || p[0] == '/')
		return false;
	for (const char *s = p; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' ||
		      *s == '/' || *s == '_' || *s == '.'))
			return false;
	return !strstr(p, "..") && !strstr(p, "//") && !ends_with(p, "/");
}

static int check_spec(const struct container_spec *spec, struct nua_error **err)
{
	if (!clean_abs_path(spec->rootfs))
		return nua_error_set(err, NUA_EINPUT, "container root '%s' is not a clean absolute path",
				     spec->rootfs ? spec->rootfs : "");
	if (!spec->argv || !spec->argv[0] || !spec->argv[0][0])
		return nua_error_set(err, NUA_EINPUT, "container has no command to run");
	if (spec->cwd && !clean_abs_path(spec->cwd))
		return nua_error_set(err, NUA_EINPUT, "working directory '%s' is not an absolute path",
				     spec->cwd);
	for (size_t i = 0; i < spec->nenv; i++) {
		const char *eq = strchr(spec->env[i], '=');

		if (!eq || eq == spec->env[i])
			return nua_error_set(err, NUA_EINPUT,
					     "environment entry '%s' is not KEY=value", spec->env[i]);
	}
	if (spec->hostname && !valid_name(spec->hostname, 63))
		return nua_error_set(err, NUA_EINPUT, "hostname '%s' is not [a-z0-9-], 63 at most",
				     spec->hostname);
	if (spec->net == CONTAINER_NET_PATH && !clean_abs_path(spec->netns_path))
		return nua_error_set(err, NUA_EINPUT, "network namespace path '%s' is not absolute",
				     spec->netns_path ? spec->netns_path : "");
	if (spec->cgroup_path && !valid_cgroup_path(spec->cgroup_path))
		return nua_error_set(err, NUA_EINPUT,
				     "cgroup path '%s' is not a relative path of [a-z0-9_.-] names",
				     spec->cgroup_path);
	if (spec->memory > LLONG_MAX)
		return nua_error_set(err, NUA_EINPUT, "memory limit %llu is too large", spec->memory);
	if (spec->pids < 0)
		return nua_error_set(err, NUA_EINPUT, "pids limit %lld is negative", spec->pids);
	for (size_t i = 0; i < spec->nmounts; i++) {
		const struct container_mount *m = &spec->mounts[i];

		if (!clean_abs_path(m->target) || streq(m->target, "/"))
			return nua_error_set(err, NUA_EINPUT,
					     "mount target '%s' is not a clean absolute path", m->target);
		if (m->type == CONTAINER_MOUNT_BIND && !clean_abs_path(m->source))
			return nua_error_set(err, NUA_EINPUT,
					     "bind mount source '%s' is not a clean absolute path",
					     m->source ? m->source : "");
	}
	return 0;
}

static json_t *strv_json(const char *const *v)
{
	json_t *a = json_array();

	for (; v && *v; v++)
		json_array_append_new(a, json_string(*v));
	return a;
}

static json_t *caps_json(const struct container_spec *spec)
{
	json_t *set = strv_json(caps_default);
	json_t *caps = json_object();

	if (spec->caps == CONTAINER_CAPS_BUILD) {
		json_t *extra = strv_json(caps_build_extra);

		json_array_extend(set, extra);
		json_decref(extra);
	}
	json_object_set(caps, "bounding", set);
	/* A non-root process holds nothing; the bounding set only caps what a
	 * setuid or file-capability binary could give it. */
	if (spec->uid == 0) {
		json_object_set(caps, "effective", set);
		json_object_set(caps, "permitted", set);
	} else {
		json_object_set_new(caps, "effective", json_array());
		json_object_set_new(caps, "permitted", json_array());
	}
	json_object_set_new(caps, "inheritable", json_array());
	json_object_set_new(caps, "ambient", json_array());
	json_decref(set);
	return caps;
}

static json_t *mount_json(const char *dest, const char *type, const char *source,
			  const char *const *options)
{
	json_t *m = json_object();

	json_object_set_new(m, "destination", json_string(dest));
	json_object_set_new(m, "type", json_string(type));
	json_object_set_new(m, "source", json_string(source));
	json_object_set_new(m, "options", strv_json(options));
	return m;
}

static json_t *mounts_json(const struct container_spec *spec)
{
	static const char *const proc_opts[] = { "nosuid", "noexec", "nodev", NULL };
	static const char *const dev_opts[] = { "nosuid", "strictatime", "mode=755", "size=65536k",
						NULL };
	static const char *const pts_opts[] = { "nosuid",	 "noexec", "newinstance", "ptmxmode=0666",
						"mode=0620", "gid=5",  NULL };
	static const char *const shm_opts[] = { "nosuid", "noexec", "nodev", "mode=1777",
						"size=65536k", NULL };
	static const char *const mq_opts[] = { "nosuid", "noexec", "nodev", NULL };
	static const char *const sys_opts[] = { "nosuid", "noexec", "nodev", "ro", NULL };
	static const char *const cg_opts[] = { "nosuid", "noexec", "nodev", "relatime", "ro", NULL };
	json_t *a = json_array();

	json_array_append_new(a, mount_json("/proc", "proc", "proc", proc_opts));
	json_array_append_new(a, mount_json("/dev", "tmpfs", "tmpfs", dev_opts));
	json_array_append_new(a, mount_json("/dev/pts", "devpts", "devpts", pts_opts));
	json_array_append_new(a, mount_json("/dev/shm", "tmpfs", "shm", shm_opts));
	json_array_append_new(a, mount_json("/dev/mqueue", "mqueue", "mqueue", mq_opts));
	json_array_append_new(a, mount_json("/sys", "sysfs", "sysfs", sys_opts));
	json_array_append_new(a, mount_json("/sys/fs/cgroup", "cgroup", "cgroup", cg_opts));

	for (size_t i = 0; i < spec->nmounts; i++) {
		const struct container_mount *m = &spec->mounts[i];
		json_t *opts = json_array();
		json_t *o = json_object();

		json_object_set_new(o, "destination", json_string(m->target));
		if (m->type == CONTAINER_MOUNT_BIND) {
			json_object_set_new(o, "type", json_string("bind"));
			json_object_set_new(o, "source", json_string(m->source));
			json_array_append_new(opts, json_string("rbind"));
			json_array_append_new(opts, json_string("rprivate"));
		} else {
			json_object_set_new(o, "type", json_string("tmpfs"));
			json_object_set_new(o, "source", json_string("tmpfs"));
			json_array_append_new(opts, json_string("nodev"));
			json_array_append_new(opts, json_string("nosuid"));
			json_array_append_new(opts, json_sprintf("mode=%o",
								 m->mode ? (unsigned)m->mode : 0755u));
			if (m->size)
				json_array_append_new(opts, json_sprintf("size=%llu", m->size));
		}
		json_array_append_new(opts, json_string(m->readonly ? "ro" : "rw"));
		if (m->type == CONTAINER_MOUNT_BIND) {
			json_array_append_new(opts, json_string("nosuid"));
			json_array_append_new(opts, json_string("nodev"));
		}
		json_object_set_new(o, "options", opts);
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *ns_json(const char *type, const char *path)
{
	json_t *o = json_object();

	json_object_set_new(o, "type", json_string(type));
	if (path)
		json_object_set_new(o, "path", json_string(path));
	return o;
}

static const char *seccomp_arch[] = {
#if defined(__x86_64__)
	"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32",
#elif defined(__aarch64__)
	"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM",
#endif
	NULL,
};

static json_t *seccomp_json(void)
{
	json_t *sc = json_object();
	json_t *calls = json_array();
	json_t *rule;

	json_object_set_new(sc, "defaultAction", json_string("SCMP_ACT_ALLOW"));
	json_object_set_new(sc, "architectures", strv_json(seccomp_arch));

	rule = json_object();
	json_object_set_new(rule, "names", strv_json(seccomp_denied));
	json_object_set_new(rule, "action", json_string("SCMP_ACT_ERRNO"));
	json_object_set_new(rule, "errnoRet", json_integer(EPERM));
	json_array_append_new(calls, rule);

	/* clone3 passes its flags in memory a filter cannot read: answer
	 * ENOSYS so that libc falls back to clone, checked below. */
	rule = json_object();
	json_object_set_new(rule, "names", json_pack("[s]", "clone3"));
	json_object_set_new(rule, "action", json_string("SCMP_ACT_ERRNO"));
	json_object_set_new(rule, "errnoRet", json_integer(ENOSYS));
	json_array_append_new(calls, rule);

	/* clone(flags & CLONE_NEWUSER): a new user namespace gives back every
	 * capability over namespaced kernel code. libseccomp's masked compare
	 * takes the mask in value and the expected result in valueTwo. */
	rule = json_pack("{s:[s], s:s, s:i, s:[{s:i, s:I, s:I, s:s}]}", "names", "clone", "action",
			 "SCMP_ACT_ERRNO", "errnoRet", EPERM, "args", "index", 0, "value",
			 (json_int_t)NUA_CLONE_NEWUSER, "valueTwo", (json_int_t)NUA_CLONE_NEWUSER, "op",
			 "SCMP_CMP_MASKED_EQ");
	json_array_append_new(calls, rule);

	json_object_set_new(sc, "syscalls", calls);
	return sc;
}

char *oci_seccomp_profile_json(void)
{
	json_t *sc = seccomp_json();
	char *s = json_dumps(sc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	json_decref(sc);
	if (!s)
		BUG("cannot render the seccomp profile");
	return s;
}

static json_t *process_json(const struct container_spec *spec)
{
	json_t *p = json_object();
	json_t *user = json_object();

	json_object_set_new(p, "terminal", json_false());
	json_object_set_new(user, "uid", json_integer(spec->uid));
	json_object_set_new(user, "gid", json_integer(spec->gid));
	if (spec->ngids) {
		json_t *g = json_array();

		for (size_t i = 0; i < spec->ngids; i++)
			json_array_append_new(g, json_integer(spec->gids[i]));
		json_object_set_new(user, "additionalGids", g);
	}
	json_object_set_new(p, "user", user);
	json_object_set_new(p, "args", strv_json((const char *const *)spec->argv));
	json_object_set_new(p, "env", strv_json((const char *const *)spec->env));
	json_object_set_new(p, "cwd", json_string(spec->cwd ? spec->cwd : "/"));
	json_object_set_new(p, "capabilities", caps_json(spec));
	json_object_set_new(p, "noNewPrivileges", json_boolean(spec->no_new_privileges));
	return p;
}

static json_t *resources_json(const struct container_spec *spec)
{
	json_t *r = json_object();

	/* Deny every device node; the runtime adds back the standard ones
	 * (null, zero, full, random, urandom, tty, ptmx). */
	json_object_set_new(r, "devices", json_pack("[{s:b, s:s}]", "allow", 0, "access", "rwm"));
	if (spec->memory)
		json_object_set_new(r, "memory",
				    json_pack("{s:I}", "limit", (json_int_t)spec->memory));
	if (spec->pids)
		json_object_set_new(r, "pids", json_pack("{s:I}", "limit", (json_int_t)spec->pids));
	if (spec->millicpus) {
		const json_int_t period = 100000;

		json_object_set_new(r, "cpu", json_pack("{s:I, s:I}", "quota",
							(json_int_t)spec->millicpus * period / 1000,
							"period", period));
	}
	return r;
}

static json_t *linux_json(const struct container_spec *spec)
{
	json_t *l = json_object();
	json_t *ns = json_array();

	json_array_append_new(ns, ns_json("pid", NULL));
	json_array_append_new(ns, ns_json("ipc", NULL));
	json_array_append_new(ns, ns_json("uts", NULL));
	json_array_append_new(ns, ns_json("mount", NULL));
	json_array_append_new(ns, ns_json("cgroup", NULL));
	if (spec->net == CONTAINER_NET_NONE)
		json_array_append_new(ns, ns_json("network", NULL));
	else if (spec->net == CONTAINER_NET_PATH)
		json_array_append_new(ns, ns_json("network", spec->netns_path));
	json_object_set_new(l, "namespaces", ns);
	json_object_set_new(l, "resources", resources_json(spec));
	if (spec->cgroup_path)
		json_object_set_new(l, "cgroupsPath", json_string(spec->cgroup_path));
	/* In its own network namespace an unprivileged app may bind port 80:
	 * that is what a container without CAP_NET_BIND_SERVICE needs, and the
	 * ports are only reachable through the bridge. */
	if (spec->net != CONTAINER_NET_HOST)
		json_object_set_new(l, "sysctl",
				    json_pack("{s:s}", "net.ipv4.ip_unprivileged_port_start", "0"));
	json_object_set_new(l, "maskedPaths", strv_json(masked_paths));
	json_object_set_new(l, "readonlyPaths", strv_json(readonly_paths));
	if (spec->seccomp)
		json_object_set_new(l, "seccomp", seccomp_json());
	return l;
}

int oci_spec_to_json(const struct container_spec *spec, char **out, struct nua_error **err)
{
	json_t *root;
	char *s;

	if (check_spec(spec, err) < 0)
		return -1;
	root = json_object();
	json_object_set_new(root, "ociVersion", json_string("1.0.2"));
	json_object_set_new(root, "process", process_json(spec));
	json_object_set_new(root, "root", json_pack("{s:s, s:b}", "path", spec->rootfs, "readonly",
						    spec->readonly_root));
	if (spec->hostname)
		json_object_set_new(root, "hostname", json_string(spec->hostname));
	json_object_set_new(root, "mounts", mounts_json(spec));
	json_object_set_new(root, "linux", linux_json(spec));
	s = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (!s)
		return nua_error_set(err, NUA_EINPUT, "cannot render config.json (invalid UTF-8 in the spec?)");
	*out = s;
	return 0;
}

int oci_spec_write(const struct container_spec *spec, const char *bundle, struct nua_error **err)
{
	_cleanup_free_ char *json = NULL;
	_cleanup_free_ char *path = NULL;
	int r;

	if (oci_spec_to_json(spec, &json, err) < 0)
		return -1;
	path = xasprintf("%s/config.json", bundle);
	r = write_file_atomic(path, json, strlen(json), 0600);
	if (r < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot write '%s': %s", path, strerror(-r));
	return 0;
}
