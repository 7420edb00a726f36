/* Unit tests of src/oci_spec.h: the config.json that oci_spec_to_json renders
 * is parsed back with jansson and each choice checked (namespaces, user,
 * capabilities, seccomp, limits, mounts, env, masked paths), as are the
 * specs it refuses. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "oci_spec.h"
#include "test.h"
#include "util.h"

static const char *const true_argv[] = {"/bin/true", NULL};

/* A spec that renders: a rootfs and a command, the rest as initialised. */
static void spec_min(struct container_spec *spec)
{
	container_spec_init(spec);
	container_spec_set_rootfs(spec, "/var/lib/nua/instances/app/rootfs");
	container_spec_set_argv(spec, true_argv);
}

/* oci_spec_to_json's text, parsed; NULL (and a failure) when it refuses the
 * spec or the text is not JSON. */
static json_t *render(const struct container_spec *spec, const char *file, int line)
{
	struct nua_error *err = NULL;
	json_error_t jerr;
	char *text = NULL;
	json_t *root;

	if (oci_spec_to_json(spec, &text, &err) < 0) {
		test_fail(file, line, "oci_spec_to_json: %s", err ? err->msg : "(no error)");
		nua_error_free(err);
		return NULL;
	}
	root = json_loads(text, 0, &jerr);
	if (!root)
		test_fail(file, line, "not JSON: %s (line %d)", jerr.text, jerr.line);
	free(text);
	return root;
}
#define RENDER(spec) render((spec), __FILE__, __LINE__)

/* The spec is refused with NUA_EINPUT and a message holding want. */
static bool refused(const struct container_spec *spec, const char *want, const char *file, int line)
{
	struct nua_error *err = NULL;
	char *text = NULL;
	bool ok = true;

	if (oci_spec_to_json(spec, &text, &err) == 0) {
		test_fail(file, line, "spec accepted, expected an error with '%s'", want);
		free(text);
		return false;
	}
	if (!err) {
		test_fail(file, line, "refused without an error");
		return false;
	}
	if (err->status != NUA_EINPUT) {
		test_fail(file, line, "status %d, expected NUA_EINPUT", err->status);
		ok = false;
	}
	if (!strstr(err->msg, want)) {
		test_fail(file, line, "message '%s' does not hold '%s'", err->msg, want);
		ok = false;
	}
	if (text) {
		test_fail(file, line, "*out set on failure");
		free(text);
		ok = false;
	}
	nua_error_free(err);
	return ok;
}
#define CHECK_REFUSED(spec, want)                                                                  \
	do {                                                                                       \
		if (!refused((spec), (want), __FILE__, __LINE__))                                  \
			goto out;                                                                  \
	} while (0)

/* Does the JSON array of strings hold s? */
static bool array_has(const json_t *a, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach(a, i,
			   v) if (json_is_string(v) && streq(json_string_value(v), s)) return true;
	return false;
}

/* The linux.namespaces entry of that type, or NULL. */
static json_t *namespace(json_t *root, const char *type)
{
	json_t *ns = json_object_get(json_object_get(root, "linux"), "namespaces");
	size_t i;
	json_t *v;

	json_array_foreach(
	    ns, i, v) if (streq(json_string_value(json_object_get(v, "type")), type)) return v;
	return NULL;
}

/* The mounts entry with that destination, or NULL. */
static json_t *mount_at(json_t *root, const char *dest)
{
	json_t *mounts = json_object_get(root, "mounts");
	size_t i;
	json_t *v;

	json_array_foreach(
	    mounts, i,
	    v) if (streq(json_string_value(json_object_get(v, "destination")), dest)) return v;
	return NULL;
}

static const char *str_at(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

TEST(oci_spec_minimal_document)
{
	struct container_spec spec;
	json_t *root, *proc, *r;

	spec_min(&spec);
	root = RENDER(&spec);
	container_spec_release(&spec);
	if (!root)
		return;
	CHECK_STR(str_at(root, "ociVersion"), "1.0.2");
	proc = json_object_get(root, "process");
	r = json_object_get(root, "root");
	CHECK_STR(str_at(r, "path"), "/var/lib/nua/instances/app/rootfs");
	CHECK(json_is_false(json_object_get(r, "readonly")));
	CHECK_INT(json_array_size(json_object_get(proc, "args")), 1);
	CHECK_STR(json_string_value(json_array_get(json_object_get(proc, "args"), 0)), "/bin/true");
	CHECK_STR(str_at(proc, "cwd"), "/");
	CHECK(json_is_false(json_object_get(proc, "terminal")));
	CHECK(json_is_true(json_object_get(proc, "noNewPrivileges")));
	/* No hostname unless one is asked for. */
	CHECK(!json_object_get(root, "hostname"));
	json_decref(root);
}

TEST(oci_spec_namespaces_default_net_none)
{
	static const char *const want[] = {"pid", "mount", "ipc", "uts", "network", "cgroup"};
	struct container_spec spec;
	json_t *root, *net;

	spec_min(&spec);
	root = RENDER(&spec);
	container_spec_release(&spec);
	if (!root)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		json_t *ns = namespace(root, want[i]);

		if (!ns) {
			test_fail(__FILE__, __LINE__, "no %s namespace", want[i]);
			break;
		}
		/* New namespaces, not joined ones. */
		if (json_object_get(ns, "path"))
			test_fail(__FILE__, __LINE__, "%s namespace has a path", want[i]);
	}
	/* Its own network namespace: an unprivileged app may bind port 80. */
	net = json_object_get(json_object_get(root, "linux"), "sysctl");
	CHECK_STR(str_at(net, "net.ipv4.ip_unprivileged_port_start"), "0");
	json_decref(root);
}

TEST(oci_spec_namespace_net_path)
{
	struct container_spec spec;
	json_t *root, *net;

	spec_min(&spec);
	container_spec_set_netns(&spec, "/run/netns/nua-app");
	CHECK_INT(spec.net, CONTAINER_NET_PATH);
	root = RENDER(&spec);
	container_spec_release(&spec);
	if (!root)
		return;
	net = namespace(root, "network");
	CHECK(net != NULL);
	CHECK_STR(str_at(net, "path"), "/run/netns/nua-app");
	CHECK(namespace(root, "pid") && !json_object_get(namespace(root, "pid"), "path"));
	CHECK(json_object_get(json_object_get(root, "linux"), "sysctl") != NULL);
	json_decref(root);
}

TEST(oci_spec_namespace_net_host)
{
	struct container_spec spec;
	json_t *root;

	spec_min(&spec);
	spec.net = CONTAINER_NET_HOST;
	root = RENDER(&spec);
	container_spec_release(&spec);
	if (!root)
		return;
	CHECK(namespace(root, "network") == NULL);
	CHECK(namespace(root, "pid") != NULL);
	CHECK(namespace(root, "mount") != NULL);
	/* The host's sysctls are not the container's to change. */
	CHECK(json_object_get(json_object_get(root, "linux"), "sysctl") == NULL);
	json_decref(root);
}

TEST(oci_spec_user_and_groups)
{
	struct container_spec spec;
	json_t *root, *user, *gids;

	spec_min(&spec);
	spec.uid = 1000;
	spec.gid = 1001;
	container_spec_add_gid(&spec, 27);
	container_spec_add_gid(&spec, 100);
	root = RENDER(&spec);
	container_spec_release(&spec);
	if (!root)
		return;
	user = json_object_get(json_object_get(root, "process"), "user");
	CHECK_INT(json_integer_value(json_object_get(user, "uid")), 1000);
	CHECK_INT(json_integer_value(json_object_get(user, "gid")), 1001);
	gids = json_object_get(user, "additionalGids");
	CHECK_INT(json_array_size(gids), 2);
	CHECK_INT(json_integer_value(json_array_get(gids, 0)), 27);
	CHECK_INT(json_integer_value(json_array_get(gids, 1)), 100);
	json_decref(root);
}

TEST(oci_spec_user_root_without_groups)
{
	struct container_spec spec;
	json_t *root, *user;

	spec_min(&spec);
	root = RENDER(&spec);
	container_spec_release(&spec);
	if (!root)
		return;
	user = json_object_get(json_object_get(root, "process"), "user");
	CHECK_INT(json_integer_value(json_object_get(user, "uid")), 0);
	CHECK_INT(json_integer_value(json_object_get(user, "gid")), 0);
	CHECK(json_object_get(user, "additionalGids") == NULL);
	json_decref(root);
}

TEST(oci_spec_caps_non_root_bounding_only)
{
	struct container_spec spec;
	json_t *root, *caps, *bounding;

	spec_min(&spec);
	spec.uid = 1000;
	spec.gid = 1000;
	root = RENDER(&spec);
	container_spec_release(&spec);
	if (!root)
		return;
	caps = json_object_get(json_object_get(root, "process"), "capabilities");
	bounding = json_object_get(caps, "bounding");
	CHECK(array_has(bounding, "CAP_CHOWN"));
	CHECK(array_has(bounding, "CAP_NET_BIND_SERVICE"));
	CHECK(array_has(bounding, "CAP_SETUID"));
	CHECK(!array_has(bounding, "CAP_SYS_ADMIN"));
	CHECK(!array_has(bounding, "CAP_NET_ADMIN"));
	CHECK(!array_has(bounding, "CAP_MKNOD"));
	CHECK(!array_has(bounding, "CAP_AUDIT_WRITE"));
	CHECK_INT(json_array_size(bounding), 11);
	/* A non-root app holds nothing. */
	CHECK(json_is_array(json_object_get(caps, "effective")));
	CHECK_INT(json_array_size(json_object_get(caps, "effective")), 0);
	CHECK_INT(json_array_size(json_object_get(caps, "permitted")), 0);
	CHECK_INT(json_array_size(json_object_get(caps, "inheritable")), 0);
	CHECK_INT(json_array_size(json_object_get(caps, "ambient")), 0);
	json_decref(root);
}

TEST(oci_spec_caps_root_default)
{
	struct container_spec spec;
	json_t *root, *caps;

	spec_min(&spec);
	root = RENDER(&spec);
	container_spec_release(&spec);
	if (!root)
		return;
	caps = json_object_get(json_object_get(root, "process"), "capabilities");
	CHECK_INT(json_array_size(json_object_get(caps, "bounding")), 11);
	CHECK(json_equal(json_object_get(caps, "bounding"), json_object_get(caps, "effective")));
	CHECK(json_equal(json_object_get(caps, "bounding"), json_object_get(caps, "permitted")));
	CHECK(!array_has(json_object_get(caps, "effective"), "CAP_MKNOD"));
	CHECK_INT(json_array_size(json_object_get(caps, "inheritable")), 0);
	CHECK_INT(json_array_size(json_object_get(caps, "ambient")), 0);
	json_decref(root);
}

TEST(oci_spec_caps_build)
{
	struct container_spec spec;
	json_t *root, *caps, *eff;

	spec_min(&spec);
	spec.caps = CONTAINER_CAPS_BUILD;
	root = RENDER(&spec);
	container_spec_release(&spec);
	if (!root)
		return;
	caps = json_object_get(json_object_get(root, "process"), "capabilities");
	eff = json_object_get(caps, "effective");
	CHECK_INT(json_array_size(json_object_get(caps, "bounding")), 13);
	CHECK(array_has(eff, "CAP_MKNOD"));
	CHECK(array_has(eff, "CAP_AUDIT_WRITE"));
	CHECK(array_has(eff, "CAP_CHOWN"));
	CHECK(array_has(eff, "CAP_SETGID"));
	CHECK(!array_has(eff, "CAP_SYS_ADMIN"));
	CHECK(json_equal(eff, json_object_get(caps, "bounding")));
	CHECK(json_equal(eff, json_object_get(caps, "permitted")));
	CHECK_INT(json_array_size(json_object_get(caps, "ambient")), 0);
	json_decref(root);
}

/* The syscalls rule answering EPERM, or NULL. */
static json_t *eperm_rule(json_t *sc, const char *name)
{
	json_t *calls = json_object_get(sc, "syscalls");
	size_t i;
	json_t *rule;

	json_array_foreach(calls, i,
			   rule) if (!json_object_get(rule, "args") &&
				     array_has(json_object_get(rule, "names"), name)) return rule;
	return NULL;
}

static void check_seccomp(json_t *sc)
{
	static const char *const denied[] = {
	    "mount",	   "umount2",	     "kexec_load",     "bpf",
	    "init_module", "reboot",	     "unshare",	       "setns",
	    "keyctl",	   "io_uring_setup", "perf_event_open"};
	static const char *const allowed[] = {"read",	"write",  "openat", "clone",
					      "execve", "socket", "bind"};
	json_t *rule, *calls;
	size_t i;
	bool clone_newuser = false;

	CHECK(json_is_object(sc));
	CHECK_STR(str_at(sc, "defaultAction"), "SCMP_ACT_ALLOW");
	CHECK(json_array_size(json_object_get(sc, "architectures")) > 0);
	for (i = 0; i < ARRAY_SIZE(denied); i++) {
		rule = eperm_rule(sc, denied[i]);
		if (!rule) {
			test_fail(__FILE__, __LINE__, "'%s' is not refused", denied[i]);
			return;
		}
		CHECK_STR(str_at(rule, "action"), "SCMP_ACT_ERRNO");
		CHECK_INT(json_integer_value(json_object_get(rule, "errnoRet")), 1 /* EPERM */);
	}
	for (i = 0; i < ARRAY_SIZE(allowed); i++)
		if (eperm_rule(sc, allowed[i])) {
			test_fail(__FILE__, __LINE__, "'%s' is refused", allowed[i]);
			return;
		}
	/* clone3 answers ENOSYS so that libc falls back to clone. */
	rule = eperm_rule(sc, "clone3");
	CHECK(rule != NULL);
	CHECK_INT(json_integer_value(json_object_get(rule, "errnoRet")), 38 /* ENOSYS */);
	/* clone with CLONE_NEWUSER is refused, by a masked compare of arg 0. */
	calls = json_object_get(sc, "syscalls");
	json_array_foreach(calls, i, rule)
	{
		json_t *arg = json_array_get(json_object_get(rule, "args"), 0);

		if (!array_has(json_object_get(rule, "names"), "clone") || !arg)
			continue;
		CHECK_INT(json_integer_value(json_object_get(arg, "index")), 0);
		CHECK_INT(json_integer_value(json_object_get(arg, "value")), 0x10000000);
		CHECK_INT(json_integer_value(json_object_get(arg, "valueTwo")), 0x10000000);
		CHECK_STR(str_at(arg, "op"), "SCMP_CMP_MASKED_EQ");
		CHECK_INT(json_integer_value(json_object_get(rule, "errnoRet")), 1);
		clone_newuser = true;
	}
	CHECK(clone_newuser);
}

TEST(oci_spec_seccomp_present_and_denies)
{
	struct container_spec spec;
	json_t *root;

	spec_min(&spec);
	root = RENDER(&spec);
	container_spec_release(&spec);
	if (!root)
		return;
	check_seccomp(json_object_get(json_object_get(root, "linux"), "seccomp"));
	json_decref(root);
}

TEST(oci_spec_seccomp_off_and_profile_alone)
{
	struct container_spec spec;
	json_t *root, *alone;
	char *text;

	spec_min(&spec);
	spec.seccomp = false;
	spec.no_new_privileges = false;
	root = RENDER(&spec);
	container_spec_release(&spec);
	if (!root)
		return;
	CHECK(json_object_get(json_object_get(root, "linux"), "seccomp") == NULL);
	CHECK(json_is_false(json_object_get(json_object_get(root, "process"), "noNewPrivileges")));
	json_decref(root);

	/* The profile on its own is the same one. */
	text = oci_seccomp_profile_json();
	alone = json_loads(text, 0, NULL);
	free(text);
	CHECK(alone != NULL);
	check_seccomp(alone);
	json_decref(alone);
}

TEST(oci_spec_resources_limits)
{
	struct container_spec spec;
	json_t *root, *res, *dev;

	spec_min(&spec);
	spec.memory = 256ULL << 20;
	spec.pids = 512;
	spec.millicpus = 1500;
	root = RENDER(&spec);
	container_spec_release(&spec);
	if (!root)
		return;
	res = json_object_get(json_object_get(root, "linux"), "resources");
	CHECK_INT(json_integer_value(json_object_get(json_object_get(res, "memory"), "limit")),
		  256LL << 20);
	CHECK_INT(json_integer_value(json_object_get(json_object_get(res, "pids"), "limit")), 512);
	CHECK_INT(json_integer_value(json_object_get(json_object_get(res, "cpu"), "quota")),
		  150000);
	CHECK_INT(json_integer_value(json_object_get(json_object_get(res, "cpu"), "period")),
		  100000);
	/* Every device denied; the runtime adds back the standard ones. */
	dev = json_array_get(json_object_get(res, "devices"), 0);
	CHECK(json_is_false(json_object_get(dev, "allow")));
	CHECK_STR(str_at(dev, "access"), "rwm");
	json_decref(root);
}

TEST(oci_spec_resources_unlimited_and_small_cpu)
{
	struct container_spec spec;
	json_t *root, *res;

	spec_min(&spec);
	root = RENDER(&spec);
	if (!root) {
		container_spec_release(&spec);
		return;
	}
	res = json_object_get(json_object_get(root, "linux"), "resources");
	CHECK(json_object_get(res, "memory") == NULL);
	CHECK(json_object_get(res, "pids") == NULL);
	CHECK(json_object_get(res, "cpu") == NULL);
	CHECK(json_object_get(res, "devices") != NULL);
	json_decref(root);

	/* A quarter of a CPU. */
	spec.millicpus = 250;
	container_spec_set_cgroup(&spec, "nua/app-1");
	root = RENDER(&spec);
	container_spec_release(&spec);
	if (!root)
		return;
	res = json_object_get(json_object_get(root, "linux"), "resources");
	CHECK_INT(json_integer_value(json_object_get(json_object_get(res, "cpu"), "quota")), 25000);
	CHECK_STR(str_at(json_object_get(root, "linux"), "cgroupsPath"), "nua/app-1");
	json_decref(root);
}

TEST(oci_spec_default_mounts)
{
	static const struct {
		const char *dest, *type;
	} want[] = {
	    {"/proc", "proc"},
	    {"/dev", "tmpfs"},
	    {"/dev/pts", "devpts"},
	    {"/dev/shm", "tmpfs"},
	    {"/dev/mqueue", "mqueue"},
	    {"/sys", "sysfs"},
	    {"/sys/fs/cgroup", "cgroup"},
	};
	struct container_spec spec;
	json_t *root, *m;

	spec_min(&spec);
	root = RENDER(&spec);
	container_spec_release(&spec);
	if (!root)
		return;
	CHECK_INT(json_array_size(json_object_get(root, "mounts")), ARRAY_SIZE(want));
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		m = mount_at(root, want[i].dest);
		if (!m || !streq(str_at(m, "type"), want[i].type)) {
			test_fail(__FILE__, __LINE__, "no %s mount of %s", want[i].type,
				  want[i].dest);
			break;
		}
	}
	CHECK(array_has(json_object_get(mount_at(root, "/proc"), "options"), "noexec"));
	CHECK(array_has(json_object_get(mount_at(root, "/sys"), "options"), "ro"));
	CHECK(array_has(json_object_get(mount_at(root, "/sys/fs/cgroup"), "options"), "ro"));
	CHECK(array_has(json_object_get(mount_at(root, "/dev/shm"), "options"), "mode=1777"));
	json_decref(root);
}

TEST(oci_spec_bind_and_tmpfs_mounts)
{
	struct container_spec spec;
	json_t *root, *m, *opts;

	spec_min(&spec);
	container_spec_add_bind(&spec, "/var/lib/nua/instances/app/volumes/data", "/data", false);
	container_spec_add_bind(&spec, "/etc/nua/hosts", "/etc/hosts", true);
	container_spec_add_tmpfs(&spec, "/tmp", 64ULL << 20, 01777);
	container_spec_add_tmpfs(&spec, "/run", 0, 0);
	root = RENDER(&spec);
	container_spec_release(&spec);
	if (!root)
		return;
	CHECK_INT(json_array_size(json_object_get(root, "mounts")), 7 + 4);

	m = mount_at(root, "/data");
	CHECK(m != NULL);
	CHECK_STR(str_at(m, "type"), "bind");
	CHECK_STR(str_at(m, "source"), "/var/lib/nua/instances/app/volumes/data");
	opts = json_object_get(m, "options");
	CHECK(array_has(opts, "rbind"));
	CHECK(array_has(opts, "rprivate"));
	CHECK(array_has(opts, "rw"));
	CHECK(!array_has(opts, "ro"));
	CHECK(array_has(opts, "nosuid"));
	CHECK(array_has(opts, "nodev"));

	m = mount_at(root, "/etc/hosts");
	CHECK(m != NULL);
	opts = json_object_get(m, "options");
	CHECK(array_has(opts, "ro"));
	CHECK(!array_has(opts, "rw"));

	m = mount_at(root, "/tmp");
	CHECK(m != NULL);
	CHECK_STR(str_at(m, "type"), "tmpfs");
	CHECK_STR(str_at(m, "source"), "tmpfs");
	opts = json_object_get(m, "options");
	CHECK(array_has(opts, "size=67108864"));
	CHECK(array_has(opts, "mode=1777"));
	CHECK(array_has(opts, "nodev"));
	CHECK(array_has(opts, "nosuid"));
	CHECK(array_has(opts, "rw"));

	/* No size: the kernel's default; no mode: 0755. */
	opts = json_object_get(mount_at(root, "/run"), "options");
	CHECK(array_has(opts, "mode=755"));
	for (size_t i = 0; i < json_array_size(opts); i++)
		CHECK(!starts_with(json_string_value(json_array_get(opts, i)), "size="));
	json_decref(root);
}

TEST(oci_spec_env_defaults_and_replacement)
{
	struct container_spec spec;
	json_t *root, *env;
	size_t npath = 0;

	spec_min(&spec);
	container_spec_setenv(&spec, "APP_ENV=production");
	container_spec_setenv(&spec, "PATH=/nua/app/bin:/usr/bin:/bin");
	container_spec_setenv(&spec, "APP_ENV=staging");
	/* A key that is a prefix of another is a key of its own. */
	container_spec_setenv(&spec, "APP=1");
	container_spec_setenv(&spec, "EMPTY=");
	CHECK_INT(spec.nenv, 5);
	root = RENDER(&spec);
	container_spec_release(&spec);
	if (!root)
		return;
	env = json_object_get(json_object_get(root, "process"), "env");
	CHECK_INT(json_array_size(env), 5);
	CHECK(array_has(env, "PATH=/nua/app/bin:/usr/bin:/bin"));
	CHECK(array_has(env, "LANG=C.UTF-8"));
	CHECK(array_has(env, "APP_ENV=staging"));
	CHECK(!array_has(env, "APP_ENV=production"));
	CHECK(array_has(env, "APP=1"));
	CHECK(array_has(env, "EMPTY="));
	for (size_t i = 0; i < json_array_size(env); i++)
		if (starts_with(json_string_value(json_array_get(env, i)), "PATH="))
			npath++;
	CHECK_INT(npath, 1);
	/* Replacement keeps the place of the first. */
	CHECK(starts_with(json_string_value(json_array_get(env, 0)), "PATH="));
	json_decref(root);
}

TEST(oci_spec_masked_readonly_paths_and_root)
{
	struct container_spec spec;
	json_t *root, *linux_, *masked, *ro;

	spec_min(&spec);
	spec.readonly_root = true;
	container_spec_set_cwd(&spec, "/nua/app");
	container_spec_set_hostname(&spec, "app-1");
	root = RENDER(&spec);
	container_spec_release(&spec);
	if (!root)
		return;
	linux_ = json_object_get(root, "linux");
	masked = json_object_get(linux_, "maskedPaths");
	ro = json_object_get(linux_, "readonlyPaths");
	CHECK(array_has(masked, "/proc/kcore"));
	CHECK(array_has(masked, "/proc/keys"));
	CHECK(array_has(masked, "/sys/firmware"));
	CHECK(array_has(ro, "/proc/sys"));
	CHECK(array_has(ro, "/proc/sysrq-trigger"));
	CHECK(json_is_true(json_object_get(json_object_get(root, "root"), "readonly")));
	CHECK_STR(str_at(json_object_get(root, "process"), "cwd"), "/nua/app");
	CHECK_STR(str_at(root, "hostname"), "app-1");
	json_decref(root);
}

TEST(oci_spec_refuses_bad_rootfs)
{
	struct container_spec spec;

	container_spec_init(&spec);
	container_spec_set_argv(&spec, true_argv);
	CHECK_REFUSED(&spec, "container root ''");
	container_spec_set_rootfs(&spec, "rootfs");
	CHECK_REFUSED(&spec, "container root 'rootfs'");
	container_spec_set_rootfs(&spec, "/var/lib/nua/../etc");
	CHECK_REFUSED(&spec, "container root '/var/lib/nua/../etc'");
	container_spec_set_rootfs(&spec, "/a/./b");
	CHECK_REFUSED(&spec, "container root");
out:
	container_spec_release(&spec);
}

TEST(oci_spec_refuses_no_argv)
{
	static const char *const empty[] = {NULL};
	static const char *const blank[] = {"", NULL};
	struct container_spec spec;

	container_spec_init(&spec);
	container_spec_set_rootfs(&spec, "/rootfs");
	CHECK_REFUSED(&spec, "no command");
	container_spec_set_argv(&spec, empty);
	CHECK_REFUSED(&spec, "no command");
	container_spec_set_argv(&spec, blank);
	CHECK_REFUSED(&spec, "no command");
out:
	container_spec_release(&spec);
}

TEST(oci_spec_refuses_env_without_equals)
{
	struct container_spec spec;

	spec_min(&spec);
	container_spec_setenv(&spec, "JUSTAKEY");
	CHECK_REFUSED(&spec, "environment entry 'JUSTAKEY' is not KEY=value");
	container_spec_release(&spec);

	spec_min(&spec);
	container_spec_setenv(&spec, "=value");
	CHECK_REFUSED(&spec, "environment entry '=value'");
out:
	container_spec_release(&spec);
}

TEST(oci_spec_refuses_missing_netns_path)
{
	struct container_spec spec;

	spec_min(&spec);
	spec.net = CONTAINER_NET_PATH;
	CHECK_REFUSED(&spec, "network namespace path ''");
	container_spec_set_netns(&spec, "run/netns/x");
	CHECK_REFUSED(&spec, "network namespace path 'run/netns/x'");
out:
	container_spec_release(&spec);
}

TEST(oci_spec_refuses_other_fields)
{
	struct container_spec spec;

	spec_min(&spec);
	container_spec_set_cwd(&spec, "app");
	CHECK_REFUSED(&spec, "working directory 'app'");
	container_spec_set_cwd(&spec, NULL);
	container_spec_set_hostname(&spec, "Bad_Host");
	CHECK_REFUSED(&spec, "hostname 'Bad_Host'");
	container_spec_set_hostname(&spec, NULL);
	container_spec_set_cgroup(&spec, "/abs");
	CHECK_REFUSED(&spec, "cgroup path '/abs'");
	container_spec_set_cgroup(&spec, "nua/../x");
	CHECK_REFUSED(&spec, "cgroup path 'nua/../x'");
	container_spec_set_cgroup(&spec, NULL);
	spec.pids = -1;
	CHECK_REFUSED(&spec, "pids limit -1");
	spec.pids = 0;
	container_spec_add_tmpfs(&spec, "/", 0, 0);
	CHECK_REFUSED(&spec, "mount target '/'");
	container_spec_release(&spec);

	spec_min(&spec);
	container_spec_add_bind(&spec, "relative/src", "/data", false);
	CHECK_REFUSED(&spec, "bind mount source 'relative/src'");
	container_spec_release(&spec);

	spec_min(&spec);
	container_spec_add_bind(&spec, "/a,b", "/data", false);
	CHECK_REFUSED(&spec, "bind mount source '/a,b'");
out:
	container_spec_release(&spec);
}

TEST(oci_spec_write_bundle_mode)
{
	struct container_spec spec;
	struct nua_error *err = NULL;
	char *path = xasprintf("%s/config.json", test_tmpdir());
	char *text = NULL;
	size_t len = 0;
	struct stat sb;
	json_t *root;

	spec_min(&spec);
	container_spec_setenv(&spec, "SECRET=s3cret");
	CHECK_INT(oci_spec_write(&spec, test_tmpdir(), &err), 0);
	container_spec_release(&spec);
	CHECK_INT(stat(path, &sb), 0);
	CHECK_INT(sb.st_mode & 07777, 0600);
	CHECK_INT(read_file(path, &text, &len), 0);
	root = json_loads(text, 0, NULL);
	free(text);
	free(path);
	CHECK(root != NULL);
	CHECK(array_has(json_object_get(json_object_get(root, "process"), "env"), "SECRET=s3cret"));
	json_decref(root);
}
