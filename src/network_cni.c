#define _GNU_SOURCE
#include "network_cni.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "mount.h"
#include "paths.h"
#include "runtime_oci.h"
#include "strbuf.h"
#include "util.h"

#include "banned.h"

#define PLUGIN_DIR "/usr/lib/cni"
#define CNI_VERSION "1.0.0"
#define IFNAME "eth0"
#define NAME_MAX_LEN 64

static bool parse_subnet(const char *s, struct in_addr *addr, int *prefix)
{
	const char *slash = strchr(s, '/');
	char ip[INET_ADDRSTRLEN];
	char *end;
	long p;

	if (!slash || (size_t)(slash - s) >= sizeof(ip))
		return false;
	memcpy(ip, s, (size_t)(slash - s));
	ip[slash - s] = '\0';
	if (inet_pton(AF_INET, ip, addr) != 1)
		return false;
	p = strtol(slash + 1, &end, 10);
	if (*end || end == slash + 1 || p < 8 || p > 30)
		return false;
	*prefix = (int)p;
	return true;
}

static uint32_t prefix_mask(int prefix) /* network byte order */
{
	return htonl(prefix ? ~0U << (32 - prefix) : 0);
}

/* A host route other than through our bridge that overlaps the subnet: the
 * name of its interface, or NULL. */
static char *route_clash(const char *bridge, struct in_addr net, int prefix)
{
	_cleanup_free_ char *data = NULL;
	char *line, *save = NULL;
	uint32_t mask = prefix_mask(prefix);

	if (read_file("/proc/net/route", &data, NULL) < 0)
		return NULL;
	line = strtok_r(data, "\n", &save); /* header */
	while ((line = strtok_r(NULL, "\n", &save))) {
		char iface[IFNAMSIZ + 1];
		unsigned int dest, gw, flags, refcnt, use, metric, rmask;

		if (sscanf(line, "%16s %x %x %x %u %u %u %x", iface, &dest, &gw, &flags, &refcnt,
			   &use, &metric, &rmask) != 8)
			continue;
		if (rmask == 0 || streq(iface, bridge))
			continue; /* the default route overlaps everything */
		if ((dest & (rmask & mask)) == (net.s_addr & (rmask & mask)))
			return xstrdup(iface);
	}
	return NULL;
}

static json_t *conflist_json(const struct cni_network *net)
{
	_cleanup_free_ char *ipam_dir = xasprintf("%s/ipam", net->dir);

	return json_pack("{s:s, s:s, s:[{s:s, s:s, s:b, s:b, s:b, s:{s:s, s:[[{s:s}]], s:[{s:s}], s:s}},"
			 " {s:s, s:s}]}",
			 "cniVersion", CNI_VERSION, "name", net->name, "plugins",
			 "type", "bridge", "bridge", net->bridge, "isGateway", 1, "ipMasq", 1,
			 "hairpinMode", 1, "ipam", "type", "host-local", "ranges", "subnet",
			 net->subnet, "routes", "dst", "0.0.0.0/0", "dataDir", ipam_dir,
			 "type", "firewall", "backend", "iptables");
}

int cni_network_open(struct cni_network *net, const char *subnet, struct nua_error **err)
{
	_cleanup_free_ char *tag = nua_root_tag();
	_cleanup_free_ char *text = NULL, *clash = NULL, *results = NULL;
	_cleanup_free_ char *bridge_plugin = NULL;
	const char *env = getenv("NUA_SUBNET");
	struct in_addr addr;
	json_t *j;
	int prefix, r;

	memset(net, 0, sizeof(*net));
	if (!*tag) {
		net->name = xstrdup("nua");
		net->bridge = xstrdup("nua0");
	} else {
		net->name = xasprintf("nua-%s", tag);
		net->bridge = xasprintf("nua-%s", tag);
	}
	if (subnet)
		net->subnet = xstrdup(subnet);
	else if (env && *env)
		net->subnet = xstrdup(env);
	else if (!*tag)
		net->subnet = xstrdup("10.88.0.0/16");
	else {
		unsigned long h = strtoul(tag, NULL, 16);

		net->subnet = xasprintf("10.%lu.%lu.0/24", 100 + (h >> 24) % 100, (h >> 16) & 0xff);
	}
	net->plugin_dir = xstrdup(PLUGIN_DIR);
	net->dir = xasprintf("%s/cni", nua_root());
	net->conflist = xasprintf("%s/%s.conflist", net->dir, net->name);
	net->netns_dir = xasprintf("%s/netns", nua_run_dir());

	if (!parse_subnet(net->subnet, &addr, &prefix)) {
		nua_error_set(err, NUA_EINPUT, "subnet '%s' is not an IPv4 a.b.c.d/N with N in 8..30",
			      net->subnet);
		goto fail;
	}
	if ((addr.s_addr & ~prefix_mask(prefix)) != 0) {
		nua_error_set(err, NUA_EINPUT, "subnet '%s' has host bits set", net->subnet);
		goto fail;
	}
	if ((clash = route_clash(net->bridge, addr, prefix))) {
		nua_error_set(err, NUA_EINPUT,
			      "subnet '%s' overlaps a route through '%s': choose another with NUA_SUBNET",
			      net->subnet, clash);
		goto fail;
	}
	bridge_plugin = xasprintf("%s/bridge", net->plugin_dir);
	if (access(bridge_plugin, X_OK) < 0) {
		nua_error_set(err, NUA_EFAIL,
			      "CNI plugins are not installed in '%s' (apt-get install containernetworking-plugins)",
			      net->plugin_dir);
		goto fail;
	}
	results = xasprintf("%s/results", net->dir);
	if ((r = mkdir_p(results, 0700)) < 0 || (r = mkdir_p(net->netns_dir, 0755)) < 0) {
		nua_error_set(err, NUA_EFAIL, "cannot create '%s' or '%s': %s", results,
			      net->netns_dir, strerror(-r));
		goto fail;
	}
	j = conflist_json(net);
	text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(j);
	if ((r = write_file_if_changed(net->conflist, text, 0644)) < 0) {
		nua_error_set(err, NUA_EFAIL, "cannot write '%s': %s", net->conflist, strerror(-r));
		goto fail;
	}
	return 0;
fail:
	cni_network_release(net);
	return -1;
}

void cni_network_release(struct cni_network *net)
{
	free(net->name);
	free(net->bridge);
	free(net->subnet);
	free(net->plugin_dir);
	free(net->dir);
	free(net->conflist);
	free(net->netns_dir);
	memset(net, 0, sizeof(*net));
}

int cni_network_remove(const struct cni_network *net, struct nua_error **err)
{
	_cleanup_free_ char *ip = NULL;
	struct strbuf errs = STRBUF_INIT;
	int status, ret = 0;
	DIR *d;

	if (if_nametoindex(net->bridge) == 0)
		return 0;
	if ((d = opendir(net->netns_dir))) {
		struct dirent *de;
		bool busy = false;

		while ((de = readdir(d)))
			if (de->d_name[0] != '.')
				busy = true;
		closedir(d);
		if (busy)
			return nua_error_set(err, NUA_EFAIL,
					     "the bridge '%s' still has containers (in '%s')",
					     net->bridge, net->netns_dir);
	}
	if (!(ip = nua_find_program("ip")))
		return nua_error_set(err, NUA_EFAIL, "cannot remove the bridge '%s': 'ip' (iproute2) "
						     "is not installed",
				     net->bridge);
	{
		const char *argv[] = { ip, "link", "delete", "dev", net->bridge, "type", "bridge",
				       NULL };
		struct nua_cmd cmd = NUA_CMD_INIT;

		cmd.argv = argv;
		if (nua_cmd_capture(&cmd, NULL, NULL, &errs, &status, err) < 0)
			ret = -1;
		else if (status != 0 && if_nametoindex(net->bridge) != 0)
			ret = nua_error_set(err, NUA_EFAIL, "cannot remove the bridge '%s': %s",
					    net->bridge, errs.buf);
	}
	strbuf_release(&errs);
	return ret;
}

/* ---- namespaces ---- */

static int check_name(const char *name, struct nua_error **err)
{
	if (!valid_name(name, NAME_MAX_LEN))
		return nua_error_set(err, NUA_EINPUT,
				     "network namespace name '%s' is not [a-z0-9][a-z0-9-]*, %d at most",
				     name, NAME_MAX_LEN);
	return 0;
}

/* In the child: a new namespace, loopback up, pinned on target. Returns an
 * errno value, or 0. */
static int make_netns(const char *target)
{
	struct ifreq ifr;
	int s;

	if (unshare(CLONE_NEWNET) < 0)
		return errno;
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return errno;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, "lo", 3);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return errno;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		return errno;
	close(s);
	if (mount("/proc/self/ns/net", target, NULL, MS_BIND, NULL) < 0)
		return errno;
	return 0;
}

int netns_create(const struct cni_network *net, const char *name, char **path_out,
		 struct nua_error **err)
{
	_cleanup_free_ char *path = NULL;
	int fd, status, e;
	pid_t pid;

	if (check_name(name, err) < 0)
		return -1;
	path = xasprintf("%s/%s", net->netns_dir, name);
	if (is_mount_point(path))
		return nua_error_set(err, NUA_EFAIL, "network namespace '%s' already exists", path);
	fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0444);
	if (fd < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot create '%s': %s", path, strerror(errno));
	close(fd);
	/* unshare in a child: the caller keeps its own namespace. */
	pid = fork();
	if (pid < 0) {
		e = errno;
		unlink(path);
		return nua_error_set(err, NUA_EFAIL, "cannot fork: %s", strerror(e));
	}
	if (pid == 0)
		_exit(make_netns(path) & 0xff);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			break;
	e = WIFEXITED(status) ? WEXITSTATUS(status) : EINTR;
	if (e) {
		unlink(path);
		return nua_error_set(err, NUA_EFAIL, "cannot create network namespace '%s': %s",
				     path, strerror(e));
	}
	if (path_out)
		*path_out = TAKE_PTR(path);
	return 0;
}

int netns_remove(const struct cni_network *net, const char *name, struct nua_error **err)
{
	_cleanup_free_ char *path = NULL;

	if (check_name(name, err) < 0)
		return -1;
	path = xasprintf("%s/%s", net->netns_dir, name);
	if (unmount_path(path, err) < 0)
		return -1;
	if (unlink(path) < 0 && errno != ENOENT)
		return nua_error_set(err, NUA_EFAIL, "cannot remove '%s': %s", path, strerror(errno));
	return 0;
}

/* ---- plugins ---- */

static bool valid_plugin_type(const char *t)
{
	if (!t || !*t)
		return false;
	for (; *t; t++)
		if (!((*t >= 'a' && *t <= 'z') || (*t >= '0' && *t <= '9') || *t == '-'))
			return false;
	return true;
}

/* Run one plugin. conf is the plugin's entry of the conflist; name,
 * cniVersion and prevResult are added as the CNI spec wants. For ADD, the
 * result is returned in *result. */
static int run_plugin(const struct cni_network *net, json_t *plugin, json_t *prev,
		      const char *command, const char *name, json_t **result,
		      struct nua_error **err)
{
	_cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
	_cleanup_strbuf_ struct strbuf errs = STRBUF_INIT;
	_cleanup_free_ char *input = NULL, *path = NULL, *netns = NULL;
	_cleanup_free_ char *e_cmd = NULL, *e_id = NULL, *e_netns = NULL, *e_path = NULL;
	const char *type = json_string_value(json_object_get(plugin, "type"));
	struct nua_cmd cmd = NUA_CMD_INIT;
	json_t *conf;
	int status;

	if (!valid_plugin_type(type))
		return nua_error_set(err, NUA_EINPUT, "'%s' names a CNI plugin of no valid type",
				     net->conflist);
	conf = json_deep_copy(plugin);
	json_object_set_new(conf, "cniVersion", json_string(CNI_VERSION));
	json_object_set_new(conf, "name", json_string(net->name));
	if (prev)
		json_object_set(conf, "prevResult", prev);
	input = json_dumps(conf, JSON_COMPACT);
	json_decref(conf);

	path = xasprintf("%s/%s", net->plugin_dir, type);
	netns = xasprintf("%s/%s", net->netns_dir, name);
	e_cmd = xasprintf("CNI_COMMAND=%s", command);
	e_id = xasprintf("CNI_CONTAINERID=%s", name);
	e_netns = xasprintf("CNI_NETNS=%s", netns);
	e_path = xasprintf("CNI_PATH=%s", net->plugin_dir);
	const char *argv[] = { path, NULL };
	/* PATH: the plugins run iptables. */
	const char *env[] = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			      e_cmd, e_id, e_netns, "CNI_IFNAME=" IFNAME, e_path, NULL };

	cmd.argv = argv;
	cmd.envp = env;
	if (nua_cmd_capture(&cmd, input, &out, &errs, &status, err) < 0)
		return nua_error_prefix(err, "CNI plugin '%s' %s for '%s'", type, command, name);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		json_t *j = json_loads(out.buf, 0, NULL);
		const char *msg = json_string_value(json_object_get(j, "msg"));
		const char *details = json_string_value(json_object_get(j, "details"));

		strbuf_rtrim(&errs);
		nua_error_set(err, NUA_EFAIL, "CNI plugin '%s' %s for '%s' failed: %s%s%s%s", type,
			      command, name,
			      msg ? msg : (errs.len ? errs.buf : nua_wait_status_str(status)),
			      details && *details ? " (" : "", details && *details ? details : "",
			      details && *details ? ")" : "");
		json_decref(j);
		return -1;
	}
	if (result) {
		*result = json_loads(out.buf, 0, NULL);
		if (!json_is_object(*result)) {
			json_decref(*result);
			*result = NULL;
			return nua_error_set(err, NUA_EFAIL,
					     "CNI plugin '%s' ADD for '%s' gave no JSON result", type,
					     name);
		}
	}
	return 0;
}

static json_t *load_plugins(const struct cni_network *net, struct nua_error **err)
{
	json_t *j = json_load_file(net->conflist, 0, NULL);
	json_t *plugins = json_object_get(j, "plugins");

	if (!json_is_array(plugins) || json_array_size(plugins) == 0) {
		json_decref(j);
		nua_error_set(err, NUA_EFAIL, "'%s' has no plugins list (run cni_network_open)",
			      net->conflist);
		return NULL;
	}
	json_incref(plugins);
	json_decref(j);
	return plugins;
}

static char *result_path(const struct cni_network *net, const char *name)
{
	return xasprintf("%s/results/%s.json", net->dir, name);
}

static void enable_ip_forward(void)
{
	_cleanup_free_ char *v = NULL;
	int fd;

	if (read_file("/proc/sys/net/ipv4/ip_forward", &v, NULL) == 0 && v[0] == '1')
		return;
	fd = open("/proc/sys/net/ipv4/ip_forward", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (write(fd, "1\n", 2) < 0) {
		/* the bridge plugin tries too; a failure shows as no NAT */
	}
	close(fd);
}

static int parse_result(json_t *result, struct cni_result *res, struct nua_error **err)
{
	json_t *ips = json_object_get(result, "ips");
	json_t *first = json_array_get(ips, 0);
	const char *addr = json_string_value(json_object_get(first, "address"));
	const char *gw = json_string_value(json_object_get(first, "gateway"));
	const char *slash;

	memset(res, 0, sizeof(*res));
	if (!addr || !(slash = strchr(addr, '/')) || (size_t)(slash - addr) >= sizeof(res->ip))
		return nua_error_set(err, NUA_EFAIL, "CNI result has no IP address");
	memcpy(res->ip, addr, (size_t)(slash - addr));
	res->prefix = atoi(slash + 1);
	if (gw)
		snprintf(res->gateway, sizeof(res->gateway), "%s", gw);
	return 0;
}

int cni_add(const struct cni_network *net, const char *name, struct cni_result *res,
	    struct nua_error **err)
{
	_cleanup_free_ char *netns = NULL, *rpath = NULL, *text = NULL;
	json_t *plugins, *prev = NULL;
	size_t i, n;
	int r, ret = -1;

	if (check_name(name, err) < 0)
		return -1;
	netns = xasprintf("%s/%s", net->netns_dir, name);
	if (!is_mount_point(netns))
		return nua_error_set(err, NUA_EFAIL, "network namespace '%s' does not exist", netns);
	if (!(plugins = load_plugins(net, err)))
		return -1;
	enable_ip_forward();
	n = json_array_size(plugins);
	for (i = 0; i < n; i++) {
		json_t *result = NULL;

		if (run_plugin(net, json_array_get(plugins, i), prev, "ADD", name, &result, err) < 0)
			goto undo;
		json_decref(prev);
		prev = result;
	}
	if (parse_result(prev, res, err) < 0)
		goto undo;
	rpath = result_path(net, name);
	text = json_dumps(prev, JSON_COMPACT);
	if ((r = write_file_atomic(rpath, text, strlen(text), 0600)) < 0) {
		nua_error_set(err, NUA_EFAIL, "cannot write '%s': %s", rpath, strerror(-r));
		goto undo;
	}
	ret = 0;
	goto out;
undo:
	/* The spec asks for DEL on every plugin ADD was tried on, the
	 * failing one included, so that half-made state goes. */
	for (size_t k = i < n ? i + 1 : n; k-- > 0;)
		run_plugin(net, json_array_get(plugins, k), prev, "DEL", name, NULL, NULL);
out:
	json_decref(prev);
	json_decref(plugins);
	return ret;
}

int cni_del(const struct cni_network *net, const char *name, struct nua_error **err)
{
	_cleanup_free_ char *rpath = NULL;
	json_t *plugins, *prev;
	int ret = 0;

	if (check_name(name, err) < 0)
		return -1;
	if (!(plugins = load_plugins(net, err)))
		return -1;
	rpath = result_path(net, name);
	prev = json_load_file(rpath, 0, NULL);
	for (size_t k = json_array_size(plugins); k-- > 0;) {
		struct nua_error *e = NULL;

		if (run_plugin(net, json_array_get(plugins, k), prev, "DEL", name, NULL, &e) < 0) {
			if (ret == 0 && err) {
				nua_error_free(*err);
				*err = e;
				e = NULL;
			}
			ret = -1;
		}
		nua_error_free(e);
	}
	if (ret == 0)
		unlink(rpath);
	json_decref(prev);
	json_decref(plugins);
	return ret;
}

int cni_attach(const struct cni_network *net, const char *name, char **netns_path,
	       struct cni_result *res, struct nua_error **err)
{
	_cleanup_free_ char *path = NULL;

	if (netns_create(net, name, &path, err) < 0)
		return -1;
	if (cni_add(net, name, res, err) < 0) {
		netns_remove(net, name, NULL);
		return -1;
	}
	if (netns_path)
		*netns_path = TAKE_PTR(path);
	return 0;
}

int cni_detach(const struct cni_network *net, const char *name, struct nua_error **err)
{
	struct nua_error *e2 = NULL;
	int r1, r2;

	r1 = cni_del(net, name, err);
	r2 = netns_remove(net, name, r1 < 0 ? &e2 : err);
	nua_error_free(e2);
	return r1 < 0 || r2 < 0 ? -1 : 0;
}
