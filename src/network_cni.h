/* Container networking: one bridge, one network namespace per container,
 * wired by the standard CNI plugins (containernetworking-plugins, in
 * /usr/lib/cni) which Nua runs itself, without a CNI library.
 *
 * The network is the `bridge` plugin (a host bridge acting as the gateway,
 * outbound NAT with ipMasq, hairpin) with `host-local` address management,
 * followed by the `firewall` plugin (which lets the containers' traffic
 * through a FORWARD chain whose policy is DROP, as docker leaves it). Nua
 * writes the conflist to $NUA_ROOT/cni/NAME.conflist, keeps host-local's
 * leases in $NUA_ROOT/cni/ipam and each ADD result (what DEL needs) in
 * $NUA_ROOT/cni/results; namespaces are bind mounts under $NUA_RUN/netns.
 *
 * Host-wide names must not collide between roots (concurrent test roots,
 * say): the default root uses the bridge `nua0`, network `nua` and subnet
 * 10.88.0.0/16; another root uses `nua-TAG` for both (TAG from
 * nua_root_tag) and a /24 derived from TAG in 10.100.0.0-10.199.255.0.
 * NUA_SUBNET overrides the subnet. A subnet that overlaps a route of the
 * host's (other than through our bridge) is refused. */
#ifndef NUA_NETWORK_CNI_H
#define NUA_NETWORK_CNI_H

#include "error.h"

struct cni_network {
	char *name;	    /* CNI network name */
	char *bridge;	    /* host bridge interface */
	char *subnet;	    /* "10.88.0.0/16" */
	char *plugin_dir;   /* /usr/lib/cni */
	char *dir;	    /* $NUA_ROOT/cni */
	char *conflist;	    /* $NUA_ROOT/cni/NAME.conflist */
	char *netns_dir;    /* $NUA_RUN/netns */
};

/* What ADD gave a container. */
struct cni_result {
	char ip[64];	  /* "10.88.0.2", no prefix length */
	int prefix;	  /* 16 */
	char gateway[64]; /* "10.88.0.1" */
};

/* Describe this root's network and write its conflist (atomically, only
 * when it changed). subnet NULL: NUA_SUBNET or the default above. Fails
 * with NUA_EINPUT for a malformed or clashing subnet, NUA_EFAIL when the
 * plugins are not installed. */
int cni_network_open(struct cni_network *net, const char *subnet, struct nua_error **err);
void cni_network_release(struct cni_network *net);

/* Delete this root's bridge (when Nua stops with its apps). Absent is
 * success; a namespace left in $NUA_RUN/netns is an error (the bridge
 * still serves it). */
int cni_network_remove(const struct cni_network *net, struct nua_error **err);

/* Create the network namespace $NUA_RUN/netns/NAME (a new namespace, its
 * loopback up) and give its path in *path (caller frees; may be NULL). name
 * is checked with valid_name. An existing namespace of that name is an
 * error. */
int netns_create(const struct cni_network *net, const char *name, char **path,
		 struct nua_error **err);

/* Unmount and remove the namespace NAME; absent is success. */
int netns_remove(const struct cni_network *net, const char *name, struct nua_error **err);

/* Run the conflist's plugins with ADD on the namespace NAME (made by
 * netns_create), interface eth0; *res is what the bridge's IPAM gave. Turns
 * on IPv4 forwarding when it is off (for outbound NAT). On failure the
 * plugins already run are undone with DEL. */
int cni_add(const struct cni_network *net, const char *name, struct cni_result *res,
	    struct nua_error **err);

/* DEL on NAME, plugins in reverse order, with the result ADD recorded;
 * releases the address, veth, NAT and firewall rules. Nothing to delete is
 * success. */
int cni_del(const struct cni_network *net, const char *name, struct nua_error **err);

/* netns_create then cni_add, undoing the first when the second fails. */
int cni_attach(const struct cni_network *net, const char *name, char **netns_path,
	       struct cni_result *res, struct nua_error **err);
/* cni_del then netns_remove; both are tried, the first error is returned. */
int cni_detach(const struct cni_network *net, const char *name, struct nua_error **err);

#endif
