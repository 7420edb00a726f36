#define _GNU_SOURCE
#include "proxy_nginx.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pwd.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "paths.h"
#include "runtime_oci.h"
#include "strbuf.h"
#include "tls.h"
#include "util.h"

#include "banned.h"

#define NGINX_PACKAGE  "nginx-light"
#define ROUTE_NAME_MAX 64
#define PATH_MAX_LEN   1024
#define STOP_GRACE_MS  5000
#define RELOAD_WAIT_MS 5000
#define START_WAIT_MS  5000
#define HSTS_MAX_AGE   "31536000"
/* Mozilla's "intermediate" list, without the finite-field DHE suites (no
 * dhparam here): TLS 1.2's ECDHE with AES-GCM or ChaCha20-Poly1305 (TLS 1.3
 * has its own, all strong). */
#define TLS_CIPHERS                                                                                \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                               \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                               \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

/* A route as stored: path normalised ("/" or "/a/b", no trailing slash),
 * upstream NULL for a stopped instance. */
struct route {
	char *name, *domain, *path, *upstream, *auth;
	bool tls, hsts;
	struct proxy_alias *aliases; /* owned, with their strings; paths normalised */
	size_t n_aliases;
};

struct route_set {
	struct route *v;
	size_t n, alloc;
};

static void route_release(struct route *r)
{
	free(r->name);
	free(r->domain);
	free(r->path);
	free(r->upstream);
	free(r->auth);
	for (size_t i = 0; i < r->n_aliases; i++) {
		free((char *)r->aliases[i].domain);
		free((char *)r->aliases[i].path);
	}
	free(r->aliases);
	memset(r, 0, sizeof(*r));
}

/* The domain and normalised path of host i of r: 0 the main one, 1.. its
 * aliases. */
static const char *route_domain(const struct route *r, size_t i)
{
	return i == 0 ? r->domain : r->aliases[i - 1].domain;
}

static const char *route_host_path(const struct route *r, size_t i)
{
	return i == 0 ? r->path : r->aliases[i - 1].path;
}

/* Whether domain is r's main domain or one of its aliases. */
static bool route_serves(const struct route *r, const char *domain)
{
	for (size_t i = 0; i <= r->n_aliases; i++)
		if (streq(route_domain(r, i), domain))
			return true;
	return false;
}

static void route_set_release(struct route_set *rs)
{
	for (size_t i = 0; i < rs->n; i++)
		route_release(&rs->v[i]);
	free(rs->v);
	memset(rs, 0, sizeof(*rs));
}

static void route_set_releasep(struct route_set *rs)
{
	route_set_release(rs);
}

/* ---- validation ---- */

bool proxy_valid_domain(const char *domain)
{
	size_t len, label = 0;

	if (!domain)
		return false;
	len = strlen(domain);
	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i <= len; i++) {
		char c = domain[i];

		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || domain[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
		if (label == 0 && c == '-')
			return false;
		label++;
	}
	return true;
}

/* A URL prefix safe to write unquoted into nginx's configuration:
 * [A-Za-z0-9._~/-], starting with '/', no empty, "." or ".." segment
 * (a trailing '/' is allowed and dropped by normalise_path). */
static bool valid_path(const char *path)
{
	size_t len = strlen(path);

	if (len == 0 || len > PATH_MAX_LEN || path[0] != '/')
		return false;
	for (const char *s = path; *s; s++) {
		char c = *s;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '~' || c == '-' || c == '/'))
			return false;
		if (c == '/') {
			const char *seg = s + 1, *end = strchrnul(seg, '/');
			size_t n = (size_t)(end - seg);

			if (n == 0 && *end == '/')
				return false; /* "//" */
			if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
				return false;
		}
	}
	return true;
}

char *proxy_normalise_path(const char *path)
{
	size_t len;

	if (!path || !*path)
		return xstrdup("/");
	len = strlen(path);
	while (len > 1 && path[len - 1] == '/')
		len--;
	return xstrndup(path, len);
}

/* "IPv4:port", "[IPv6]:port", "host.name:port", or "unix:/path" (the
 * daemon's remote API: letters, digits, and . _ - / in the path). */
static bool valid_upstream(const char *up)
{
	const char *colon = strrchr(up, ':');
	char host[256];
	size_t hlen;
	char *end;
	long port;

	if (starts_with(up, "unix:/")) {
		for (const char *c = up + 5; *c; c++)
			if (!isalnum((unsigned char)*c) && !strchr("._-/", *c))
				return false;
		return !strstr(up, "/../") && strlen(up) < 108;
	}

	if (!colon || colon == up)
		return false;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || colon[1] == '0' || colon[1] == '+' || colon[1] == '-' ||
	    port < 1 || port > 65535 || errno)
		return false;
	hlen = (size_t)(colon - up);
	if (hlen >= sizeof(host))
		return false;
	if (up[0] == '[') {
		struct in6_addr a6;

		if (hlen < 3 || up[hlen - 1] != ']')
			return false;
		memcpy(host, up + 1, hlen - 2);
		host[hlen - 2] = '\0';
		return inet_pton(AF_INET6, host, &a6) == 1;
	}
	memcpy(host, up, hlen);
	host[hlen] = '\0';
	return proxy_valid_domain(host);
}

static int check_route(const struct proxy_route *r, struct nua_error **err)
{
	if (!r->name || !valid_name(r->name, ROUTE_NAME_MAX))
		return nua_error_set(err, NUA_EINPUT,
				     "route name '%s' is not [a-z0-9][a-z0-9-]*, %d at most",
				     r->name ? r->name : "", ROUTE_NAME_MAX);
	if (!proxy_valid_domain(r->domain))
		return nua_error_set(err, NUA_EINPUT,
				     "domain '%s' of '%s' is not a lowercase host name "
				     "(labels of a-z, 0-9 and '-', separated by dots)",
				     r->domain ? r->domain : "", r->name);
	if (r->path && *r->path && !valid_path(r->path))
		return nua_error_set(err, NUA_EINPUT,
				     "path '%s' of '%s' must start with '/' and hold only letters, "
				     "digits and . _ ~ - / (no empty, '.' or '..' segment)",
				     r->path, r->name);
	if (r->auth && (!starts_with(r->auth, "unix:/") || !valid_upstream(r->auth)))
		return nua_error_set(err, NUA_EINPUT, "auth '%s' of '%s' is not unix:/PATH", r->auth,
				     r->name);
	if (r->upstream && !valid_upstream(r->upstream))
		return nua_error_set(err, NUA_EINPUT,
				     "upstream '%s' of '%s' is not HOST:PORT (an IPv4 address, "
				     "[IPv6] or host name, and a port in 1-65535) or unix:/PATH",
				     r->upstream, r->name);
	for (size_t i = 0; i < r->n_aliases; i++) {
		const struct proxy_alias *a = &r->aliases[i];

		if (!proxy_valid_domain(a->domain))
			return nua_error_set(err, NUA_EINPUT,
					     "alias '%s' of '%s' is not a lowercase host name "
					     "(labels of a-z, 0-9 and '-', separated by dots)",
					     a->domain ? a->domain : "", r->name);
		if (a->path && *a->path && !valid_path(a->path))
			return nua_error_set(err, NUA_EINPUT,
					     "path '%s' of alias '%s' of '%s' must start with '/' and "
					     "hold only letters, digits and . _ ~ - / (no empty, '.' or "
					     "'..' segment)",
					     a->path, a->domain, r->name);
	}
	for (size_t i = 0; i <= r->n_aliases; i++)
		for (size_t k = 0; k < i; k++) {
			_cleanup_free_ char *pi = proxy_normalise_path(i ? r->aliases[i - 1].path : r->path);
			_cleanup_free_ char *pk = proxy_normalise_path(k ? r->aliases[k - 1].path : r->path);

			if (streq(proxy_route_domain(r, i), proxy_route_domain(r, k)) &&
			    streq(pi, pk))
				return nua_error_set(err, NUA_EINPUT, "'%s%s' is named twice by '%s'",
						     proxy_route_domain(r, i),
						     streq(pi, "/") ? "" : pi, r->name);
		}
	return 0;
}

/* ---- paths, locking ---- */

static char *pdir(const struct proxy *p, const char *rel)
{
	return xasprintf("%s/%s", p->dir, rel);
}

static char *conf_path(const struct proxy *p)
{
	return pdir(p, "nginx.conf");
}

static char *site_path(const struct proxy *p, const char *domain)
{
	return xasprintf("%s/sites/%s.conf", p->dir, domain);
}

static char *route_path(const struct proxy *p, const char *name)
{
	return xasprintf("%s/routes/%s.json", p->dir, name);
}

/* Serialise changes between processes (CLI and daemon). The descriptor is
 * close-on-exec so that nginx never inherits the lock. */
static int lock_dir(const struct proxy *p, int *fd, struct nua_error **err)
{
	_cleanup_free_ char *path = pdir(p, "lock");

	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (*fd < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot open '%s': %s", path, strerror(errno));
	while (flock(*fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			int e = errno;

			close(*fd);
			*fd = -1;
			return nua_error_set(err, NUA_EFAIL, "cannot lock '%s': %s", path,
					     strerror(e));
		}
	}
	return 0;
}

/* ---- configuration text ---- */

/* True when this host can listen on IPv6 (not disabled, not a container
 * without it). */
static bool have_ipv6(void)
{
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT};
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (fd < 0)
		return false;
	ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

/* The listen directives on port, each followed by extra (" ssl http2",
 * " default_server" or ""): the address given, or every IPv4 and (where the
 * host has it) IPv6 address. */
static void add_listen(struct strbuf *sb, const struct proxy *p, int port, const char *indent,
		       const char *extra)
{
	if (!p->addr) {
		strbuf_addf(sb, "%slisten %d%s;\n", indent, port, extra);
		if (have_ipv6())
			strbuf_addf(sb, "%slisten [::]:%d%s;\n", indent, port, extra);
	} else if (strchr(p->addr, ':')) {
		strbuf_addf(sb, "%slisten [%s]:%d%s;\n", indent, p->addr, port, extra);
	} else {
		strbuf_addf(sb, "%slisten %s:%d%s;\n", indent, p->addr, port, extra);
	}
}

/* nginx fetches OCSP responses to staple through the host's first name
 * server. */
static void add_resolver(struct strbuf *sb)
{
	_cleanup_free_ char *text = NULL;
	const char *line;

	if (read_file("/etc/resolv.conf", &text, NULL) < 0)
		return;
	for (line = text; line && *line;
	     line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		char addr[64];
		struct in6_addr a6;
		struct in_addr a4;

		if (sscanf(line, "nameserver %63s", addr) != 1)
			continue;
		if (inet_pton(AF_INET, addr, &a4) == 1)
			strbuf_addf(sb, "\tresolver %s;\n", addr);
		else if (inet_pton(AF_INET6, addr, &a6) == 1)
			strbuf_addf(sb, "\tresolver [%s];\n", addr);
		else
			continue;
		return;
	}
}

char *proxy_api_socket(const struct proxy *p) { return xasprintf("%s/api.sock", p->dir); }

/* The user nginx's workers run as: www-data where it exists (Debian's
 * packages own their files with it), nobody otherwise. NULL when not root,
 * where nginx cannot switch users anyway. */
const char *proxy_worker_user(void)
{
	if (geteuid() != 0)
		return NULL;
	return getpwnam("www-data") ? "www-data" : "nobody";
}

static const char *const temp_dirs[] = {"body", "proxy", "fastcgi", "uwsgi", "scgi", "auth"};

/* The headers every proxied request gets. */
static void add_proxy_headers(struct strbuf *sb, const char *indent)
{
	static const char *const headers[] = {
	    /* The name a server matched (never another the client claims
	     * in an absolute request line), with the port when the client
	     * gave one: an app on a front door other than 80 or 443 makes
	     * its links with it. */
	    "Host $host$nua_port",
	    "X-Real-IP $remote_addr",
	    /* nginx is the front door: what a client claims is not passed on. */
	    "X-Forwarded-For $remote_addr",
	    "X-Forwarded-Proto $scheme",
	    "X-Forwarded-Host $host$nua_port",
	    "X-Forwarded-Port $server_port",
	    /* Who the user is comes from the daemon (a private app's
	     * locations set them), never from the client. */
	    "X-Nua-User \"\"",
	    "X-Nua-Email \"\"",
	    "X-Nua-Groups \"\"",
	    /* Websockets. */
	    "Upgrade $http_upgrade",
	    "Connection $connection_upgrade",
	};

	for (size_t i = 0; i < ARRAY_SIZE(headers); i++)
		strbuf_addf(sb, "%sproxy_set_header %s;\n", indent, headers[i]);
}

/* Paths are relative to the prefix (-p): NUA_ROOT never needs quoting. */
static char *main_conf_text(const struct proxy *p)
{
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
	const char *user = proxy_worker_user();

	strbuf_addstr(&sb, "# Written by Nua (proxy_open): changes are overwritten.\n");
	if (user)
		strbuf_addf(&sb, "user %s;\n", user);
	strbuf_addstr(&sb, "worker_processes 1;\n"
			   "pid nginx.pid;\n"
			   "lock_file nginx.lock;\n"
			   "error_log logs/error.log;\n"
			   "\n"
			   "events {\n"
			   "\tworker_connections 1024;\n"
			   "}\n"
			   "\n"
			   "http {\n"
			   "\tinclude /etc/nginx/mime.types;\n"
			   "\tdefault_type application/octet-stream;\n"
			   "\taccess_log logs/access.log;\n");
	strbuf_addf(&sb, "\tclient_body_temp_path tmp/%s;\n", temp_dirs[0]);
	strbuf_addf(&sb, "\tproxy_temp_path tmp/%s;\n", temp_dirs[1]);
	strbuf_addf(&sb, "\tfastcgi_temp_path tmp/%s;\n", temp_dirs[2]);
	strbuf_addf(&sb, "\tuwsgi_temp_path tmp/%s;\n", temp_dirs[3]);
	strbuf_addf(&sb, "\tscgi_temp_path tmp/%s;\n", temp_dirs[4]);
	/* The daemon's answers about private apps, kept a few seconds. */
	strbuf_addf(&sb,
		    "\tproxy_cache_path tmp/%s levels=1 keys_zone=nua_auth:1m max_size=16m "
		    "inactive=1m use_temp_path=off;\n",
		    temp_dirs[5]);
	strbuf_addstr(&sb, "\tserver_tokens off;\n"
			   "\tserver_names_hash_bucket_size 128;\n"
			   "\tserver_names_hash_max_size 4096;\n"
			   "\tabsolute_redirect off;\n"
			   "\tclient_max_body_size 100m;\n"
			   "\n"
			   "\t# Websockets: pass the upgrade through, keep other connections\n"
			   "\t# to the upstream closable.\n"
			   "\tmap $http_upgrade $connection_upgrade {\n"
			   "\t\tdefault upgrade;\n"
			   "\t\t'' close;\n"
			   "\t}\n"
			   "\t# The port the client named in its Host header: the app gets\n"
			   "\t# the host a server name matched, with that port.\n"
			   "\tmap $http_host $nua_port {\n"
			   "\t\t\"~:(?<nua_p>[0-9]{1,5})$\" :$nua_p;\n"
			   "\t\tdefault \"\";\n"
			   "\t}\n"
			   "\n"
			   "\t# Inherited by every location that proxies.\n");
	add_proxy_headers(&sb, "\t");
	strbuf_addstr(&sb, "\tproxy_http_version 1.1;\n"
			   "\tproxy_connect_timeout 10s;\n"
			   "\tproxy_send_timeout 300s;\n"
			   "\tproxy_read_timeout 300s;\n"
			   "\tproxy_buffering on;\n"
			   "\t# Never spool a response to disk: large downloads stream.\n"
			   "\tproxy_max_temp_file_size 0;\n"
			   "\n"
			   "\tserver {\n");
	add_listen(&sb, p, p->port, "\t\t", " default_server");
	strbuf_addstr(&sb, "\t\tserver_name _;\n"
			   "\t\tdefault_type text/plain;\n"
			   "\t\treturn 404 \"no app is deployed at $host\\n\";\n"
			   "\t}\n"
			   "\n"
			   "\n");
	if (p->https_port) {
		/* TLS 1.2 and 1.3 with forward-secret AEAD ciphers only; the
		 * client picks among them (all are strong). */
		strbuf_addstr(&sb, "\tssl_protocols TLSv1.2 TLSv1.3;\n"
				   "\tssl_ciphers " TLS_CIPHERS ";\n"
				   "\tssl_prefer_server_ciphers off;\n"
				   "\tssl_ecdh_curve X25519:prime256v1:secp384r1;\n"
				   "\tssl_session_cache shared:nua_tls:10m;\n"
				   "\tssl_session_timeout 1d;\n"
				   "\tssl_session_tickets off;\n");
		add_resolver(&sb);
		strbuf_addstr(&sb, "\n"
				   "\tserver {\n");
		add_listen(&sb, p, p->https_port, "\t\t", " ssl http2 default_server");
		strbuf_addstr(&sb, "\t\tserver_name _;\n"
				   "\t\t# No certificate for an unknown name.\n"
				   "\t\tssl_reject_handshake on;\n"
				   "\t}\n"
				   "\n");
	}
	strbuf_addstr(&sb, "\tinclude sites/*.conf;\n"
			   "}\n");
	return strbuf_detach(&sb, NULL);
}

static char *listen_conf_text(const struct proxy *p)
{
	struct strbuf sb = STRBUF_INIT;

	strbuf_addstr(&sb, "# Written by Nua (proxy_open): where every site listens.\n");
	add_listen(&sb, p, p->port, "", "");
	return strbuf_detach(&sb, NULL);
}

static char *listen_tls_conf_text(const struct proxy *p)
{
	struct strbuf sb = STRBUF_INIT;

	strbuf_addstr(&sb, "# Written by Nua (proxy_open): where every site with a certificate\n"
			   "# listens for HTTPS.\n");
	if (p->https_port)
		add_listen(&sb, p, p->https_port, "", " ssl http2");
	return strbuf_detach(&sb, NULL);
}

/* What one location of a site serves: route r at path, as r's own or (with
 * redirect) by a 301 to r's main domain. */
struct site_entry {
	const struct proxy_route *r;
	char *path; /* normalised */
	bool redirect;
};

static int cmp_entry_path(const void *a, const void *b)
{
	return strcmp(((const struct site_entry *)a)->path, ((const struct site_entry *)b)->path);
}

/* The URL of r's main domain and path (no trailing '/') for a redirect from
 * a server block of the given kind. */
static char *main_url(const struct proxy_route *r, const struct proxy_site_tls *t, bool https)
{
	_cleanup_free_ char *path = proxy_normalise_path(r->path);
	int port = https ? (t ? t->https_port : 443) : (t && t->http_port ? t->http_port : 80);
	_cleanup_free_ char *p = port == (https ? 443 : 80) ? xstrdup("") : xasprintf(":%d", port);

	return xasprintf("%s://%s%s%s", https ? "https" : "http", r->domain, p,
			 streq(path, "/") ? "" : path);
}

/* A redirecting alias: everything under path goes to the same place under
 * the route's main domain and path, query kept. */
static void render_redirect(struct strbuf *sb, const struct site_entry *e,
			    const struct proxy_site_tls *t, bool https)
{
	_cleanup_free_ char *to = main_url(e->r, t, https);

	if (streq(e->path, "/")) {
		strbuf_addf(sb, "\tlocation / {\n\t\treturn 301 %s$request_uri;\n\t}\n", to);
		return;
	}
	/* $request_uri is the URL as sent, not decoded: matched against the
	 * path with its dots escaped, the rest is carried over unchanged. */
	strbuf_addf(sb, "\tlocation = %s {\n\t\treturn 301 %s/$is_args$args;\n\t}\n", e->path, to);
	strbuf_addf(sb, "\tlocation %s/ {\n\t\tif ($request_uri ~ \"^", e->path);
	for (const char *c = e->path; *c; c++) {
		if (*c == '.')
			strbuf_addch(sb, '\\');
		strbuf_addch(sb, *c);
	}
	strbuf_addf(sb,
		    "/(.*)$\") {\n"
		    "\t\t\treturn 301 %s/$1;\n"
		    "\t\t}\n"
		    "\t\treturn 301 %s/;\n"
		    "\t}\n",
		    to, to);
}

static void render_location_body(struct strbuf *sb, const struct proxy_route *r, const char *path,
				 bool hsts)
{
	if (hsts)
		strbuf_addstr(sb, "\t\tadd_header Strict-Transport-Security \"max-age=" HSTS_MAX_AGE
				  "\" always;\n");
	if (!r->upstream) {
		strbuf_addf(sb,
			    "\t\tdefault_type text/plain;\n"
			    "\t\treturn 503 \"%s is stopped\\n\";\n",
			    r->name);
		return;
	}
	if (r->auth)
		/* The daemon says yes (200, with who), log in (401: to the
		 * portal, or a 401 for a client that does not take HTML) or
		 * no (403). */
		strbuf_addf(sb,
			    "\t\t# The path as nginx matched it (decoded, dots resolved),\n"
			    "\t\t# for the check: the subrequest shares the variable.\n"
			    "\t\tset $nua_path $uri;\n"
			    "\t\tauth_request /.nua/auth/%s;\n"
			    "\t\tauth_request_set $nua_user $upstream_http_x_nua_user;\n"
			    "\t\tauth_request_set $nua_email $upstream_http_x_nua_email;\n"
			    "\t\tauth_request_set $nua_groups $upstream_http_x_nua_groups;\n"
			    "\t\terror_page 401 = @nua_login;\n",
			    r->name);
	strbuf_addf(sb, "\t\tproxy_pass http://%s;\n", r->upstream);
	if (!streq(path, "/") || r->auth) {
		/* A header set here drops all those inherited from http. */
		if (!streq(path, "/"))
			strbuf_addf(sb, "\t\tproxy_set_header X-Forwarded-Prefix %s;\n", path);
		add_proxy_headers(sb, "\t\t");
		if (r->auth)
			strbuf_addstr(sb, "\t\tproxy_set_header X-Nua-User $nua_user;\n"
					  "\t\tproxy_set_header X-Nua-Email $nua_email;\n"
					  "\t\tproxy_set_header X-Nua-Groups $nua_groups;\n");
	}
}

/* The locations a server needs for its private routes: the check of
 * each (internal), the way to the portal, and the return from it. */
static void render_auth(struct strbuf *sb, const struct site_entry *mine, size_t m)
{
	const char *sock = NULL;

	for (size_t i = 0; i < m; i++) {
		const struct proxy_route *r = mine[i].r;

		if (!r->auth || mine[i].redirect)
			continue;
		sock = r->auth;
		strbuf_addf(sb,
			    "\n\tlocation = /.nua/auth/%s {\n"
			    "\t\tinternal;\n"
			    "\t\tproxy_pass http://%s:/v1/access/check;\n"
			    "\t\tproxy_pass_request_body off;\n"
			    "\t\tproxy_set_header Content-Length \"\";\n"
			    "\t\tproxy_set_header X-Nua-Instance %s;\n"
			    "\t\tproxy_set_header X-Nua-Path $nua_path;\n"
			    "\t\t# A decision holds %d s for one session, host and path.\n"
			    "\t\tproxy_cache nua_auth;\n"
			    "\t\tproxy_cache_key \"$host|$nua_path|$cookie_nua_app\";\n"
			    "\t\tproxy_cache_valid 200 401 403 %ds;\n"
			    "\t\tproxy_ignore_headers Cache-Control Expires Set-Cookie;\n"
			    "\t\tproxy_set_header Host $host;\n"
			    "\t\tproxy_set_header X-Forwarded-Proto $scheme;\n"
			    "\t\tproxy_set_header X-Real-IP $remote_addr;\n"
			    "\t}\n",
			    r->name, r->auth, r->name, PROXY_AUTH_CACHE, PROXY_AUTH_CACHE);
	}
	if (!sock)
		return;
	strbuf_addf(sb,
		    "\n\tlocation @nua_login {\n"
		    "\t\trewrite ^ /v1/access/start break;\n"
		    "\t\tproxy_pass http://%s;\n"
		    "\t\tproxy_method GET;\n"
		    "\t\tproxy_pass_request_body off;\n"
		    "\t\tproxy_set_header Content-Length \"\";\n"
		    "\t\tproxy_set_header X-Original-URI $request_uri;\n"
		    "\t\tproxy_set_header Host $host$nua_port;\n"
		    "\t\tproxy_set_header Accept $http_accept;\n"
		    "\t\tproxy_set_header X-Forwarded-Proto $scheme;\n"
		    "\t\tproxy_set_header X-Real-IP $remote_addr;\n"
		    "\t}\n"
		    "\n\tlocation = /.nua/callback {\n"
		    "\t\trewrite ^ /v1/access/callback break;\n"
		    "\t\tproxy_pass http://%s;\n"
		    "\t\tproxy_pass_request_body off;\n"
		    "\t\tproxy_set_header Content-Length \"\";\n"
		    "\t\tproxy_set_header Host $host;\n"
		    "\t\tproxy_set_header X-Forwarded-Proto $scheme;\n"
		    "\t\tproxy_set_header X-Real-IP $remote_addr;\n"
		    "\t}\n",
		    sock, sock);
}

/* The locations of one server block: each route's, served (or, with
 * redirect set, sent to HTTPS when the route wants TLS). */
static void render_locations(struct strbuf *sb, const struct site_entry *mine, size_t m,
			     const struct proxy_site_tls *t, bool https)
{
	bool has_root = false;
	bool redirect = !https && t && t->cert && t->redirect;
	_cleanup_free_ char *target = t && t->https_port != 443
					      ? xasprintf("https://$host:%d", t->https_port)
					      : xstrdup("https://$host");

	for (size_t i = 0; i < m; i++) {
		const struct proxy_route *r = mine[i].r;
		const char *path = mine[i].path;
		bool away = redirect && r->tls;

		if (streq(path, "/"))
			has_root = true;
		if (mine[i].redirect) {
			strbuf_addf(sb, "\n\t# %s: sent to %s\n", r->name, r->domain);
			render_redirect(sb, &mine[i], t, https);
			continue;
		}
		strbuf_addf(sb, "\n\t# %s\n", r->name);
		if (streq(path, "/")) {
			strbuf_addstr(sb, "\tlocation / {\n");
		} else {
			/* /notes/ and below go to the app; /notes itself gets
			 * the slash, and /notesx is not the app's. */
			strbuf_addf(sb,
				    "\tlocation = %s {\n"
				    "\t\treturn 301 %s%s/$is_args$args;\n"
				    "\t}\n"
				    "\tlocation %s/ {\n",
				    path, away ? target : "", path, path);
		}
		if (away)
			strbuf_addf(sb, "\t\treturn 301 %s$request_uri;\n", target);
		else
			render_location_body(sb, r, path, https && r->hsts);
		strbuf_addstr(sb, "\t}\n");
	}
	if (!has_root)
		strbuf_addstr(sb, "\n\tlocation / {\n"
				  "\t\tdefault_type text/plain;\n"
				  "\t\treturn 404 \"no app is deployed at $host$uri\\n\";\n"
				  "\t}\n");
}

char *proxy_render_site(const struct proxy_route *routes, size_t n, const char *domain,
			const struct proxy_site_tls *t)
{
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
	struct site_entry *mine = NULL;
	size_t m = 0, alloc = 0;

	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k <= routes[i].n_aliases; k++) {
			if (!streq(proxy_route_domain(&routes[i], k), domain))
				continue;
			ALLOC_GROW(mine, m + 1, alloc);
			mine[m++] = (struct site_entry){
				&routes[i],
				proxy_normalise_path(k ? routes[i].aliases[k - 1].path : routes[i].path),
				k && routes[i].aliases[k - 1].redirect
			};
		}
	if (m)
		qsort(mine, m, sizeof(*mine), cmp_entry_path);

	strbuf_addf(&sb,
		    "# Written by Nua from routes/*.json: changes are overwritten.\n"
		    "server {\n"
		    "\tinclude listen.conf;\n"
		    "\tserver_name %s;\n",
		    domain);
	if (t && t->https_port)
		/* The ACME CA reads its challenges here, never redirected. */
		strbuf_addstr(&sb, "\n\tlocation ^~ /.well-known/acme-challenge/ {\n"
				   "\t\troot ../tls/acme/webroot;\n"
				   "\t\tdefault_type text/plain;\n"
				   "\t}\n");
	render_auth(&sb, mine, m);
	render_locations(&sb, mine, m, t, false);
	strbuf_addstr(&sb, "}\n");
	if (t && t->https_port && t->cert) {
		strbuf_addf(&sb,
			    "\nserver {\n"
			    "\tinclude listen-tls.conf;\n"
			    "\tserver_name %s;\n"
			    "\t# The chain and its key, in one file (0600).\n"
			    "\tssl_certificate ../tls/live/%s.pem;\n"
			    "\tssl_certificate_key ../tls/live/%s.pem;\n",
			    domain, domain, domain);
		if (t->ocsp)
			strbuf_addf(&sb,
				    "\tssl_stapling on;\n"
				    "\tssl_stapling_verify on;\n"
				    "\tssl_trusted_certificate ../tls/live/%s.pem;\n",
				    domain);
		render_auth(&sb, mine, m);
		render_locations(&sb, mine, m, t, true);
		strbuf_addstr(&sb, "}\n");
	}
	for (size_t i = 0; i < m; i++)
		free(mine[i].path);
	free(mine);
	return strbuf_detach(&sb, NULL);
}

/* ---- routes on disk ---- */

static json_t *route_json(const struct route *r)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:s?, s:b, s:b}", "name", r->name, "domain",
			      r->domain, "path", r->path, "upstream", r->upstream, "tls", r->tls,
			      "hsts", r->hsts);

	if (r->auth)
		json_object_set_new(j, "auth", json_string(r->auth));
	if (r->n_aliases) {
		json_t *a = json_array();

		for (size_t i = 0; i < r->n_aliases; i++)
			json_array_append_new(a, json_pack("{s:s, s:s, s:b}", "domain",
							   r->aliases[i].domain, "path",
							   r->aliases[i].path, "redirect",
							   r->aliases[i].redirect));
		json_object_set_new(j, "aliases", a);
	}
	return j;
}

/* Copy r (checked) into the stored form. */
static void route_store(struct route *out, const struct proxy_route *r)
{
	out->name = xstrdup(r->name);
	out->domain = xstrdup(r->domain);
	out->path = proxy_normalise_path(r->path);
	out->upstream = r->upstream ? xstrdup(r->upstream) : NULL;
	out->auth = r->auth ? xstrdup(r->auth) : NULL;
	out->tls = r->tls;
	out->hsts = r->hsts;
	out->n_aliases = r->n_aliases;
	out->aliases = r->n_aliases ? xcalloc(r->n_aliases, sizeof(*out->aliases)) : NULL;
	for (size_t i = 0; i < r->n_aliases; i++)
		out->aliases[i] = (struct proxy_alias){ xstrdup(r->aliases[i].domain),
							proxy_normalise_path(r->aliases[i].path),
							r->aliases[i].redirect };
}

/* A view of stored route r, valid while r is. */
static struct proxy_route route_view(const struct route *r)
{
	return (struct proxy_route){ r->name, r->domain,  r->path,	  r->upstream, r->tls,
				     r->hsts, r->aliases, r->n_aliases, r->auth };
}

static bool same_route(const struct route *a, const struct route *b)
{
	if (!streq(a->domain, b->domain) || !streq(a->path, b->path) || a->tls != b->tls ||
	    a->hsts != b->hsts || a->n_aliases != b->n_aliases ||
	    (!a->upstream) != (!b->upstream) || (a->upstream && !streq(a->upstream, b->upstream)) ||
	    (!a->auth) != (!b->auth) || (a->auth && !streq(a->auth, b->auth)))
		return false;
	for (size_t i = 0; i < a->n_aliases; i++)
		if (!streq(a->aliases[i].domain, b->aliases[i].domain) ||
		    !streq(a->aliases[i].path, b->aliases[i].path) ||
		    a->aliases[i].redirect != b->aliases[i].redirect)
			return false;
	return true;
}

static int load_route(const char *file, struct route *r, struct nua_error **err)
{
	json_error_t jerr;
	json_t *j = json_load_file(file, 0, &jerr);
	const char *name = NULL, *domain = NULL, *path = NULL, *upstream = NULL, *auth = NULL;
	json_t *up = NULL, *aliases = NULL, *e;
	int tls = 0, hsts = 0;
	struct proxy_route pr;
	_cleanup_free_ struct proxy_alias *av = NULL;
	size_t i;
	int ret = 0;

	if (!j)
		return nua_error_set(err, NUA_EFAIL, "cannot read route '%s': %s", file, jerr.text);
	if (json_unpack_ex(j, &jerr, 0, "{s:s, s:s, s:s, s?:o, s?:b, s?:b, s?:o, s?:s}", "name",
			   &name, "domain", &domain, "path", &path, "upstream", &up, "tls", &tls,
			   "hsts", &hsts, "aliases", &aliases, "auth", &auth) < 0) {
		ret = nua_error_set(err, NUA_EFAIL, "cannot read route '%s': %s", file, jerr.text);
		goto out;
	}
	if (up && !json_is_null(up) && !(upstream = json_string_value(up))) {
		ret = nua_error_set(
		    err, NUA_EFAIL,
		    "cannot read route '%s': 'upstream' is neither a string nor null", file);
		goto out;
	}
	if (aliases && !json_is_array(aliases)) {
		ret = nua_error_set(err, NUA_EFAIL, "cannot read route '%s': 'aliases' is not an array",
				    file);
		goto out;
	}
	av = xcalloc(json_array_size(aliases) + 1, sizeof(*av));
	json_array_foreach(aliases, i, e) {
		int redirect = 0;

		if (json_unpack_ex(e, &jerr, 0, "{s:s, s:s, s?:b}", "domain", &av[i].domain, "path",
				   &av[i].path, "redirect", &redirect) < 0) {
			ret = nua_error_set(err, NUA_EFAIL, "cannot read route '%s': alias %zu: %s",
					    file, i + 1, jerr.text);
			goto out;
		}
		av[i].redirect = redirect;
	}
	pr = (struct proxy_route){ name, domain, path, upstream, tls, hsts, av,
				   json_array_size(aliases), auth };
	if (check_route(&pr, err) < 0) {
		ret = nua_error_prefix(err, "route '%s'", file);
		goto out;
	}
	route_store(r, &pr);
out:
	json_decref(j);
	return ret;
}

static int load_routes(const struct proxy *p, struct route_set *rs, struct nua_error **err)
{
	_cleanup_free_ char *dir = pdir(p, "routes");
	DIR *d = opendir(dir);
	struct dirent *de;
	int ret = 0;

	if (!d) {
		if (errno == ENOENT)
			return 0;
		return nua_error_set(err, NUA_EFAIL, "cannot read '%s': %s", dir, strerror(errno));
	}
	while ((de = readdir(d))) {
		_cleanup_free_ char *file = NULL;

		if (de->d_name[0] == '.' || !ends_with(de->d_name, ".json"))
			continue;
		file = xasprintf("%s/%s", dir, de->d_name);
		ALLOC_GROW(rs->v, rs->n + 1, rs->alloc);
		memset(&rs->v[rs->n], 0, sizeof(rs->v[rs->n]));
		if ((ret = load_route(file, &rs->v[rs->n], err)) < 0)
			break;
		rs->n++;
	}
	closedir(d);
	return ret;
}

static ssize_t find_route(const struct route_set *rs, const char *name)
{
	for (size_t i = 0; i < rs->n; i++)
		if (streq(rs->v[i].name, name))
			return (ssize_t)i;
	return -1;
}

/* ---- the nginx process ---- */

/* What /proc says of pid: its parent, whether it is a zombie, and the first
 * string of its command line (nginx puts its process title there). */
static bool proc_info(pid_t pid, pid_t *ppid, bool *zombie, char **title)
{
	_cleanup_free_ char *path = xasprintf("/proc/%d/stat", (int)pid), *stat = NULL;
	char *rp, state;
	int pp;

	if (read_file(path, &stat, NULL) < 0)
		return false;
	rp = strrchr(stat, ')');
	if (!rp || sscanf(rp + 1, " %c %d", &state, &pp) != 2)
		return false;
	if (ppid)
		*ppid = pp;
	if (zombie)
		*zombie = state == 'Z';
	if (title) {
		free(path);
		path = xasprintf("/proc/%d/cmdline", (int)pid);
		*title = NULL;
		if (read_file(path, title, NULL) < 0)
			*title = xstrdup("");
	}
	return true;
}

static bool pid_alive(pid_t pid)
{
	bool zombie;

	return pid > 0 && proc_info(pid, NULL, &zombie, NULL) && !zombie;
}

/* The master's pid when nginx runs for this root, else 0. The pid file may
 * be stale: the process must be an nginx master started on our config. */
static pid_t master_pid(const struct proxy *p)
{
	_cleanup_free_ char *pidfile = pdir(p, "nginx.pid"), *text = NULL, *title = NULL;
	_cleanup_free_ char *conf = conf_path(p), *needle = NULL;
	bool zombie;
	char *end, *at;
	long pid;

	if (read_file(pidfile, &text, NULL) < 0)
		return 0;
	pid = strtol(text, &end, 10);
	if (end == text || pid <= 1 || pid > 0x7fffffff)
		return 0;
	if (!proc_info((pid_t)pid, NULL, &zombie, &title) || zombie)
		return 0;
	if (!starts_with(title, "nginx: master process"))
		return 0;
	/* Its title holds its command line: ours has "-c CONF". */
	needle = xasprintf(" -c %s", conf);
	at = strstr(title, needle);
	if (!at || (at[strlen(needle)] != ' ' && at[strlen(needle)] != '\0'))
		return 0;
	return (pid_t)pid;
}

bool proxy_running(const struct proxy *p)
{
	return master_pid(p) != 0;
}

struct child {
	pid_t pid;
	bool serving; /* a worker taking new connections */
};

/* The children of master (its workers), at most max. */
static size_t list_children(pid_t master, struct child *out, size_t max)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	size_t n = 0;

	if (!d)
		return 0;
	while (n < max && (de = readdir(d))) {
		_cleanup_free_ char *title = NULL;
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		pid_t ppid;
		bool zombie;

		if (*end || end == de->d_name || pid <= 0)
			continue;
		if (!proc_info((pid_t)pid, &ppid, &zombie, &title) || ppid != master || zombie)
			continue;
		out[n].pid = (pid_t)pid;
		/* A worker told to quit closes its listening sockets, then
		 * retitles itself "... is shutting down". */
		out[n].serving =
		    starts_with(title, "nginx: worker process") && !strstr(title, "shutting down");
		n++;
	}
	closedir(d);
	return n;
}

/* The last lines of the error log, for a message. */
static char *error_log_tail(const struct proxy *p)
{
	_cleanup_free_ char *path = pdir(p, "logs/error.log"), *text = NULL;
	size_t len, lines = 0;
	char *s;

	if (read_file(path, &text, &len) < 0 || len == 0)
		return xstrdup("(no error log)");
	while (len > 0 && text[len - 1] == '\n')
		text[--len] = '\0';
	for (s = text + len; s > text; s--)
		if (s[-1] == '\n' && ++lines == 3)
			break;
	return xstrdup(s);
}

/* What nginx said, reduced to its [emerg]/[alert] lines without the
 * "nginx: " prefix (all of it when there is no such line). */
static char *nginx_message(const char *out)
{
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
	_cleanup_free_ char *copy = xstrdup(out);
	char *line, *save = NULL;

	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *lvl = strstr(line, "[emerg]");

		if (!lvl)
			lvl = strstr(line, "[alert]");
		if (!lvl)
			continue;
		if (sb.len)
			strbuf_addstr(&sb, "; ");
		strbuf_addstr(&sb, lvl + 8);
	}
	if (!sb.len) {
		strbuf_addstr(&sb, out);
		strbuf_rtrim(&sb);
	}
	return strbuf_detach(&sb, NULL);
}

static int run_nginx(const struct proxy *p, const char *flag, struct strbuf *errs, int *status,
		     struct nua_error **err)
{
	_cleanup_free_ char *prefix = xasprintf("%s/", p->dir), *conf = conf_path(p);
	_cleanup_free_ char *elog = pdir(p, "logs/error.log");
	const char *argv[] = {p->nginx, "-p", prefix, "-c", conf, "-e", elog, flag, NULL};
	struct nua_cmd cmd = NUA_CMD_INIT;

	cmd.argv = argv;
	return nua_cmd_capture(&cmd, NULL, errs, errs, status, err);
}

/* nginx -t on the files now in place. *from_files (may be NULL) tells
 * whether nginx's complaint names one of files (NULL-terminated). */
static int nginx_test(const struct proxy *p, const char *const *files, bool *from_files,
		      struct nua_error **err)
{
	_cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
	_cleanup_free_ char *msg = NULL;
	int status;

	if (from_files)
		*from_files = false;
	if (run_nginx(p, "-t", &out, &status, err) < 0)
		return -1;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	msg = nginx_message(out.buf);
	for (const char *const *f = files; f && *f && from_files; f++)
		if (strstr(msg, *f))
			*from_files = true;
	return nua_error_set(err, NUA_EFAIL, "nginx refuses the configuration: %s", msg);
}

static int start_nginx(const struct proxy *p, struct nua_error **err)
{
	_cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
	long long deadline;
	int status;

	if (run_nginx(p, NULL, &out, &status, err) < 0)
		return -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		_cleanup_free_ char *msg = nginx_message(out.buf);

		return nua_error_set(err, NUA_EFAIL, "nginx did not start (%s): %s",
				     nua_wait_status_str(status), msg);
	}
	/* The parent exits once it has forked the master, which then writes
	 * the pid file. */
	deadline = monotonic_ms() + START_WAIT_MS;
	while (!master_pid(p)) {
		if (monotonic_ms() > deadline) {
			_cleanup_free_ char *tail = error_log_tail(p);

			return nua_error_set(err, NUA_EFAIL, "nginx did not start within %d s: %s",
					     START_WAIT_MS / 1000, tail);
		}
		sleep_ms(20);
	}
	return 0;
}

/* SIGHUP, then wait until the new workers serve and the old ones have
 * stopped accepting, so that when this returns nginx answers with the new
 * configuration. */
static int reload_nginx(const struct proxy *p, pid_t master, struct nua_error **err)
{
	struct child before[64], now[64];
	size_t nb = list_children(master, before, ARRAY_SIZE(before));
	long long deadline = monotonic_ms() + RELOAD_WAIT_MS;

	if (kill(master, SIGHUP) < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot signal nginx (pid %d): %s",
				     (int)master, strerror(errno));
	for (;;) {
		size_t nn = list_children(master, now, ARRAY_SIZE(now));
		bool fresh = false, stale = false;

		for (size_t i = 0; i < nn; i++) {
			bool old = false;

			for (size_t j = 0; j < nb; j++)
				if (before[j].pid == now[i].pid)
					old = true;
			if (old && now[i].serving)
				stale = true;
			if (!old && now[i].serving)
				fresh = true;
		}
		if (fresh && !stale)
			return 0;
		if (!pid_alive(master))
			return nua_error_set(err, NUA_EFAIL, "nginx exited while reloading");
		if (monotonic_ms() > deadline) {
			_cleanup_free_ char *tail = error_log_tail(p);

			return nua_error_set(err, NUA_EFAIL, "nginx did not reload within %d s: %s",
					     RELOAD_WAIT_MS / 1000, tail);
		}
		sleep_ms(10);
	}
}

/* Start or reload on the configuration now on disk (already tested). */
static int apply_running(const struct proxy *p, struct nua_error **err)
{
	pid_t master = master_pid(p);

	if (master)
		return reload_nginx(p, master, err);
	return start_nginx(p, err);
}

static bool wait_gone(pid_t pid, long ms)
{
	long long deadline = monotonic_ms() + ms;

	/* Reaps it when it is our child (we are a subreaper, say); ECHILD
	 * otherwise, and init reaps it. */
	while (waitpid(pid, NULL, WNOHANG) == 0 || pid_alive(pid)) {
		if (monotonic_ms() > deadline)
			return false;
		sleep_ms(20);
	}
	return true;
}

static int stop_locked(const struct proxy *p, struct nua_error **err)
{
	_cleanup_free_ char *pidfile = pdir(p, "nginx.pid");
	pid_t master = master_pid(p);
	struct child kids[64];
	size_t nk;

	if (!master)
		return 0;
	nk = list_children(master, kids, ARRAY_SIZE(kids));
	if (kill(master, SIGQUIT) < 0 && errno != ESRCH)
		return nua_error_set(err, NUA_EFAIL, "cannot signal nginx (pid %d): %s",
				     (int)master, strerror(errno));
	if (!wait_gone(master, STOP_GRACE_MS)) {
		/* Workers too: a master killed alone leaves them serving. */
		kill(master, SIGTERM);
		for (size_t i = 0; i < nk; i++)
			kill(kids[i].pid, SIGTERM);
		if (!wait_gone(master, 1000)) {
			kill(master, SIGKILL);
			for (size_t i = 0; i < nk; i++)
				kill(kids[i].pid, SIGKILL);
			if (!wait_gone(master, 2000))
				return nua_error_set(err, NUA_EFAIL, "nginx (pid %d) does not stop",
						     (int)master);
		}
	}
	for (size_t i = 0; i < nk; i++)
		if (!wait_gone(kids[i].pid, 2000)) {
			kill(kids[i].pid, SIGKILL);
			wait_gone(kids[i].pid, 1000);
		}
	unlink(pidfile); /* gone already after a graceful exit */
	return 0;
}

/* ---- opening ---- */

static char *find_nginx(void)
{
	static const char *const dirs[] = {"/usr/sbin",	     "/usr/local/sbin", "/usr/bin",
					   "/usr/local/bin", "/sbin",		NULL};
	const char *env = getenv("NUA_NGINX");

	if (env && *env)
		return access(env, X_OK) == 0 ? xstrdup(env) : NULL;
	for (const char *const *d = dirs; *d; d++) {
		char *path = xasprintf("%s/nginx", *d);

		if (access(path, X_OK) == 0)
			return path;
		free(path);
	}
	return NULL;
}

static int write_if_changed(const char *path, const char *text, struct nua_error **err)
{
	int r;

	if ((r = write_file_if_changed(path, text, 0644)) < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot write '%s': %s", path, strerror(-r));
	return 0;
}

/* The port in the environment variable name (dflt when unset): min to
 * 65535 (min 0: 0 turns the listener off). */
static int env_port(const char *name, int dflt, int min, int *out, struct nua_error **err)
{
	const char *v = getenv(name);
	char *end;
	long n;

	*out = dflt;
	if (!v || !*v)
		return 0;
	errno = 0;
	n = strtol(v, &end, 10);
	if (*end || errno || n < min || n > 65535 || v[0] == '+' || v[0] == '-')
		return nua_error_set(err, NUA_EINPUT, "%s '%s' is not a port number (%d-65535%s)",
				     name, v, min ? min : 1, min ? "" : ", or 0 for none");
	*out = (int)n;
	return 0;
}

int proxy_open(struct proxy *p, struct nua_error **err)
{
	static const char *const subdirs[] = {"sites", "routes", "logs", "tmp"};
	const char *addr = getenv("NUA_HTTP_ADDR");
	_cleanup_free_ char *conf = NULL, *listen = NULL, *conf_text = NULL, *listen_text = NULL;
	_cleanup_free_ char *listen_tls = NULL, *listen_tls_text = NULL;
	const char *user;
	int r;

	memset(p, 0, sizeof(*p));
	if (env_port("NUA_HTTP_PORT", 80, 1, &p->port, err) < 0 ||
	    env_port("NUA_HTTPS_PORT", 443, 0, &p->https_port, err) < 0)
		return -1;
	if (p->https_port && p->https_port == p->port)
		return nua_error_set(
			err, NUA_EINPUT,
			"NUA_HTTPS_PORT and NUA_HTTP_PORT are both %d: they must differ", p->port);
	if (addr && *addr) {
		struct in6_addr a6;
		struct in_addr a4;

		if (inet_pton(AF_INET, addr, &a4) != 1 && inet_pton(AF_INET6, addr, &a6) != 1)
			return nua_error_set(err, NUA_EINPUT,
					     "NUA_HTTP_ADDR '%s' is not an IPv4 or IPv6 address",
					     addr);
		p->addr = xstrdup(addr);
	}
	p->nginx = find_nginx();
	if (!p->nginx) {
		nua_error_set(err, NUA_EFAIL, "nginx is not installed (apt-get install %s)",
			      NGINX_PACKAGE);
		goto fail;
	}
	p->dir = nua_root_path("nginx");
	if ((r = mkdir_p(p->dir, 0755)) < 0) {
		nua_error_set(err, NUA_EFAIL, "cannot create '%s': %s", p->dir, strerror(-r));
		goto fail;
	}
	for (size_t i = 0; i < ARRAY_SIZE(subdirs); i++) {
		_cleanup_free_ char *d = pdir(p, subdirs[i]);

		if ((r = mkdir_p(d, 0755)) < 0) {
			nua_error_set(err, NUA_EFAIL, "cannot create '%s': %s", d, strerror(-r));
			goto fail;
		}
	}
	/* nginx creates the temp dirs itself when missing, owned by the
	 * worker user; make them here so that an existing one is fixed too. */
	user = proxy_worker_user();
	for (size_t i = 0; i < ARRAY_SIZE(temp_dirs); i++) {
		_cleanup_free_ char *d = xasprintf("%s/tmp/%s", p->dir, temp_dirs[i]);
		struct passwd *pw;

		if ((r = mkdir_p(d, 0700)) < 0) {
			nua_error_set(err, NUA_EFAIL, "cannot create '%s': %s", d, strerror(-r));
			goto fail;
		}
		if (user && (pw = getpwnam(user)) && chown(d, pw->pw_uid, pw->pw_gid) < 0) {
			nua_error_set(err, NUA_EFAIL, "cannot give '%s' to %s: %s", d, user,
				      strerror(errno));
			goto fail;
		}
	}
	conf = conf_path(p);
	listen = pdir(p, "listen.conf");
	conf_text = main_conf_text(p);
	listen_text = listen_conf_text(p);
	listen_tls = pdir(p, "listen-tls.conf");
	listen_tls_text = listen_tls_conf_text(p);
	if (write_if_changed(conf, conf_text, err) < 0 ||
	    write_if_changed(listen, listen_text, err) < 0 ||
	    write_if_changed(listen_tls, listen_tls_text, err) < 0)
		goto fail;
	return 0;
fail:
	proxy_release(p);
	return -1;
}

void proxy_release(struct proxy *p)
{
	free(p->dir);
	free(p->nginx);
	free(p->addr);
	memset(p, 0, sizeof(*p));
}

/* ---- changing routes ---- */

/* One site file being replaced: its old text to put back. */
struct site_change {
	char *path;
	char *old; /* NULL: the file did not exist */
	bool changed;
};

static void restore_sites(struct site_change *sc, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!sc[i].changed)
			continue;
		if (sc[i].old)
			write_file_atomic(sc[i].path, sc[i].old, strlen(sc[i].old), 0644);
		else
			unlink(sc[i].path);
	}
}

static void release_sites(struct site_change *sc, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(sc[i].path);
		free(sc[i].old);
	}
}

/* Write the route file of name from rs (removed when rs has none) and
 * keep the old text in *old (NULL when absent). */
static int write_route_file(const struct proxy *p, const struct route_set *rs, const char *name,
			    char **old, struct nua_error **err)
{
	_cleanup_free_ char *path = route_path(p, name), *text = NULL, *sb_text = NULL;
	ssize_t i = find_route(rs, name);
	int r;

	*old = NULL;
	if (read_file(path, old, NULL) < 0)
		*old = NULL;
	if (i < 0) {
		if (unlink(path) < 0 && errno != ENOENT)
			return nua_error_set(err, NUA_EFAIL, "cannot remove '%s': %s", path,
					     strerror(errno));
		return 0;
	}
	json_t *j = route_json(&rs->v[i]);

	text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(j);
	sb_text = xasprintf("%s\n", text);
	if ((r = write_file_atomic(path, sb_text, strlen(sb_text), 0644)) < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot write '%s': %s", path, strerror(-r));
	return 0;
}

static void restore_route_file(const struct proxy *p, const char *name, const char *old)
{
	_cleanup_free_ char *path = route_path(p, name);

	if (old)
		write_file_atomic(path, old, strlen(old), 0644);
	else
		unlink(path);
}

/* What the site of domain serves over TLS: a certificate when a route of
 * it wants TLS and its file holds a valid one. */
static void site_tls(const struct proxy *p, const struct route_set *rs, const char *domain,
		     struct proxy_site_tls *t)
{
	struct tls_cert_info info;
	bool wants = false;

	memset(t, 0, sizeof(*t));
	t->https_port = p->https_port;
	t->http_port = p->port;
	for (size_t i = 0; i < rs->n; i++)
		if (rs->v[i].tls && route_serves(&rs->v[i], domain))
			wants = true;
	if (!p->https_port || !wants)
		return;
	if (!tls_live_info(domain, (int64_t)time(NULL), &info))
		return;
	t->cert = true;
	/* A certificate from the local CA is not trusted by browsers as they
	 * come: such a domain is served on both. */
	t->redirect = !tls_dev_domain(domain);
	t->ocsp = info.ocsp;
	tls_cert_info_release(&info);
}

/* Make the sites of domains match rs, test, record the route of name (NULL:
 * no route changes), and start or reload nginx. Anything failing puts the
 * old files back. */
static int apply(struct proxy *p, const struct route_set *rs, const char *name,
		 const char *const *domains, size_t nd, const char *what, struct nua_error **err)
{
	_cleanup_free_ struct site_change *sc = xcalloc(nd ? nd : 1, sizeof(*sc));
	_cleanup_free_ struct proxy_route *view = xcalloc(rs->n ? rs->n : 1, sizeof(*view));
	_cleanup_free_ char *old_route = NULL;
	_cleanup_free_ const char **written = xcalloc(nd + 1, sizeof(*written));
	size_t nw = 0;
	bool from_route;
	int ret = -1, r;

	for (size_t i = 0; i < rs->n; i++)
		view[i] = route_view(&rs->v[i]);
	for (size_t i = 0; i < nd; i++) {
		_cleanup_free_ char *text = NULL;
		bool used = false;

		sc[i].path = site_path(p, domains[i]);
		if (read_file(sc[i].path, &sc[i].old, NULL) < 0)
			sc[i].old = NULL;
		for (size_t k = 0; k < rs->n; k++)
			if (route_serves(&rs->v[k], domains[i]))
				used = true;
		if (used) {
			struct proxy_site_tls t;

			site_tls(p, rs, domains[i], &t);
			text = proxy_render_site(view, rs->n, domains[i], &t);
			if (sc[i].old && streq(sc[i].old, text))
				continue;
			sc[i].changed = true;
			written[nw++] = sc[i].path;
			if ((r = write_file_atomic(sc[i].path, text, strlen(text), 0644)) < 0) {
				nua_error_set(err, NUA_EFAIL, "cannot write '%s': %s", sc[i].path,
					      strerror(-r));
				goto out;
			}
		} else if (sc[i].old) {
			sc[i].changed = true;
			if (unlink(sc[i].path) < 0) {
				nua_error_set(err, NUA_EFAIL, "cannot remove '%s': %s", sc[i].path,
					      strerror(errno));
				goto out;
			}
		}
	}
	/* At the daemon's start, sites as they were need no reload. */
	if (streq(what, "start")) {
		bool any = false;

		for (size_t i = 0; i < nd; i++)
			any = any || sc[i].changed;
		if (!any) {
			ret = 0;
			goto out;
		}
	}
	if (nginx_test(p, written, &from_route, err) < 0) {
		if (from_route && *err)
			(*err)->status = NUA_EINPUT;
		nua_error_prefix(err, "cannot %s the route of '%s'", what, name);
		goto out;
	}
	if (name && write_route_file(p, rs, name, &old_route, err) < 0)
		goto out;
	if (apply_running(p, err) < 0) {
		if (name)
			restore_route_file(p, name, old_route);
		goto out;
	}
	ret = 0;
out:
	if (ret < 0)
		restore_sites(sc, nd);
	release_sites(sc, nd);
	return ret;
}

/* Add domain to domains[0..*n) unless it is there. */
static void add_domain(const char **domains, size_t *n, const char *domain)
{
	for (size_t i = 0; i < *n; i++)
		if (streq(domains[i], domain))
			return;
	domains[(*n)++] = domain;
}

int proxy_set_route(struct proxy *p, const struct proxy_route *r, struct nua_error **err)
{
	_cleanup_(route_set_releasep) struct route_set rs = {0};
	_cleanup_close_ int lock = -1;
	_cleanup_(route_release) struct route want = { 0 }, old = { 0 };
	_cleanup_free_ const char **domains = NULL;
	size_t nd = 0;
	ssize_t i;

	if (check_route(r, err) < 0)
		return -1;
	route_store(&want, r);
	if (lock_dir(p, &lock, err) < 0 || load_routes(p, &rs, err) < 0)
		return -1;
	for (size_t k = 0; k < rs.n; k++) {
		if (streq(rs.v[k].name, r->name))
			continue;
		for (size_t a = 0; a <= rs.v[k].n_aliases; a++)
			for (size_t b = 0; b <= want.n_aliases; b++)
				if (streq(route_domain(&rs.v[k], a), route_domain(&want, b)) &&
				    streq(route_host_path(&rs.v[k], a), route_host_path(&want, b)))
					return nua_error_set(
					    err, NUA_EINPUT, "'%s%s' is already routed to '%s'",
					    route_domain(&want, b),
					    streq(route_host_path(&want, b), "/")
						    ? ""
						    : route_host_path(&want, b),
					    rs.v[k].name);
	}
	i = find_route(&rs, r->name);
	/* The same route again (a reconcile pass) changes nothing: no
	 * rewrite, no reload, as long as nginx serves it. */
	if (i >= 0 && same_route(&rs.v[i], &want) && proxy_running(p))
		return 0;
	if (i < 0) {
		ALLOC_GROW(rs.v, rs.n + 1, rs.alloc);
		i = (ssize_t)rs.n++;
	} else {
		old = rs.v[i];
	}
	rs.v[i] = want;
	/* The sites of every domain the route had or has are made again. */
	domains = xcalloc(old.n_aliases + want.n_aliases + 2, sizeof(*domains));
	for (size_t k = 0; k <= want.n_aliases; k++)
		add_domain(domains, &nd, route_domain(&want, k));
	for (size_t k = 0; old.name && k <= old.n_aliases; k++)
		add_domain(domains, &nd, route_domain(&old, k));
	i = apply(p, &rs, r->name, domains, nd, "set", err);
	/* rs owns want now; old stays ours to release. */
	memset(&want, 0, sizeof(want));
	return (int)i;
}

int proxy_remove_route(struct proxy *p, const char *name, struct nua_error **err)
{
	_cleanup_(route_set_releasep) struct route_set rs = {0};
	_cleanup_close_ int lock = -1;
	_cleanup_(route_release) struct route old = { 0 };
	_cleanup_free_ const char **domains = NULL;
	size_t nd = 0;
	ssize_t i;

	if (!valid_name(name, ROUTE_NAME_MAX))
		return nua_error_set(err, NUA_EINPUT,
				     "route name '%s' is not [a-z0-9][a-z0-9-]*, %d at most", name,
				     ROUTE_NAME_MAX);
	if (lock_dir(p, &lock, err) < 0 || load_routes(p, &rs, err) < 0)
		return -1;
	if ((i = find_route(&rs, name)) < 0)
		return 0;
	old = rs.v[i];
	rs.v[i] = rs.v[--rs.n];
	domains = xcalloc(old.n_aliases + 1, sizeof(*domains));
	for (size_t k = 0; k <= old.n_aliases; k++)
		add_domain(domains, &nd, route_domain(&old, k));
	return apply(p, &rs, name, domains, nd, "remove", err);
}

void proxy_drain(const struct proxy *p, int timeout_ms)
{
	long long deadline = monotonic_ms() + timeout_ms;
	pid_t master = master_pid(p);

	while (master && monotonic_ms() < deadline) {
		struct child kids[64];
		size_t n = list_children(master, kids, ARRAY_SIZE(kids));
		bool old = false;

		for (size_t i = 0; i < n; i++)
			if (!kids[i].serving)
				old = true;
		if (!old)
			return;
		sleep_ms(10);
	}
}

void proxy_route_list_free(struct proxy_route *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((char *)list[i].name);
		free((char *)list[i].domain);
		free((char *)list[i].path);
		free((char *)list[i].upstream);
		for (size_t k = 0; k < list[i].n_aliases; k++) {
			free((char *)list[i].aliases[k].domain);
			free((char *)list[i].aliases[k].path);
		}
		free((struct proxy_alias *)list[i].aliases);
	}
	free(list);
}

int proxy_list_routes(const struct proxy *p, struct proxy_route **out, size_t *n,
		      struct nua_error **err)
{
	_cleanup_(route_set_releasep) struct route_set rs = {0};
	struct proxy_route *list;

	*out = NULL;
	*n = 0;
	if (load_routes(p, &rs, err) < 0)
		return -1;
	list = xcalloc(rs.n ? rs.n : 1, sizeof(*list));
	for (size_t i = 0; i < rs.n; i++) {
		list[i] = route_view(&rs.v[i]);
		/* The list owns what rs held. */
		memset(&rs.v[i], 0, sizeof(rs.v[i]));
	}
	*out = list;
	*n = rs.n;
	return 0;
}

int proxy_refresh_domain(struct proxy *p, const char *domain, struct nua_error **err)
{
	_cleanup_(route_set_releasep) struct route_set rs = {0};
	_cleanup_close_ int lock = -1;
	const char *domains[1] = {domain};

	if (lock_dir(p, &lock, err) < 0 || load_routes(p, &rs, err) < 0)
		return -1;
	return apply(p, &rs, NULL, domains, 1, "refresh", err);
}

int proxy_refresh_all(struct proxy *p, struct nua_error **err)
{
	_cleanup_(route_set_releasep) struct route_set rs = {0};
	_cleanup_close_ int lock = -1;
	_cleanup_free_ const char **domains = NULL;
	size_t nd = 0, all = 0;

	if (lock_dir(p, &lock, err) < 0 || load_routes(p, &rs, err) < 0)
		return -1;
	for (size_t i = 0; i < rs.n; i++)
		all += rs.v[i].n_aliases + 1;
	if (!all)
		return 0;
	domains = xcalloc(all + 1, sizeof(*domains));
	for (size_t i = 0; i < rs.n; i++)
		for (size_t k = 0; k <= rs.v[i].n_aliases; k++)
			add_domain(domains, &nd, route_domain(&rs.v[i], k));
	return apply(p, &rs, NULL, domains, nd, "start", err);
}

int proxy_ensure_running(struct proxy *p, struct nua_error **err)
{
	_cleanup_close_ int lock = -1;

	if (lock_dir(p, &lock, err) < 0)
		return -1;
	if (nginx_test(p, NULL, NULL, err) < 0)
		return -1;
	return apply_running(p, err);
}

int proxy_stop(struct proxy *p, struct nua_error **err)
{
	_cleanup_close_ int lock = -1;

	if (lock_dir(p, &lock, err) < 0)
		return -1;
	return stop_locked(p, err);
}
