/* The front door: Nua's own nginx, routing each instance's domain (and
 * optional path) to its container.
 *
 * Everything is under $NUA_ROOT/nginx, never the distribution's files:
 *
 *   nginx.conf          main config (written by proxy_open): the default
 *                       server, shared proxy settings, includes sites/
 *   listen.conf         the listen line every site includes
 *   listen-tls.conf     the HTTPS listen line of every site with a certificate
 *   routes/NAME.json    one route per instance: the desired state
 *   sites/DOMAIN.conf   one server block per domain, made from the routes
 *                       of that domain: a location per path (nginx allows a
 *                       server_name once per listen, so instances sharing a
 *                       host share its file)
 *   nginx.pid, lock (serialises changes between processes), logs/, tmp/
 *   (client bodies; owned by the worker user, www-data when it exists, which
 *   must be able to reach it: keep NUA_ROOT's parents searchable)
 *
 * A change rewrites only the sites of the domains it touches; the other
 * files in sites/ are left as they are.
 *
 * nginx listens on NUA_HTTP_PORT (default 80) and NUA_HTTPS_PORT (default
 * 443; 0: no HTTPS) on NUA_HTTP_ADDR (default all addresses; tests use
 * 127.0.0.1). An unknown Host gets 404 from a default server, and no TLS
 * handshake; a route without upstream (instance stopped) answers 503.
 *
 * A domain whose routes want TLS and which has a certificate in
 * $NUA_ROOT/tls/live (tls.h) is served over HTTPS too (HTTP/2, TLS 1.2 and
 * 1.3); its HTTP requests go to HTTPS with a 301, but for ACME's challenges
 * and for domains of the local CA (served on both).
 *
 * Setting a route to what it already is does nothing (no reload).
 *
 * Every change is checked with `nginx -t` on the new configuration before
 * nginx reloads: a configuration that fails the check is rolled back to the
 * previous files and the error says what nginx said, so a bad config never
 * replaces a good one. */
#ifndef NUA_PROXY_NGINX_H
#define NUA_PROXY_NGINX_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

struct proxy {
	char *dir;	/* $NUA_ROOT/nginx */
	char *nginx;	/* the nginx binary */
	char *addr;	/* listen address, NULL for all */
	int port;	/* NUA_HTTP_PORT */
	int https_port; /* NUA_HTTPS_PORT (443); 0: no HTTPS */
};

/* Another domain (and path) of a route: served like its main one, or with
 * redirect a 301 to it (the rest of the URL kept). */
struct proxy_alias {
	const char *domain;
	const char *path; /* NULL or "/" for the whole host */
	bool redirect;
};

struct proxy_route {
	const char *name;     /* instance name (valid_name) */
	const char *domain;   /* host name, checked with proxy_valid_domain */
	const char *path;     /* URL prefix, NULL or "/" for the whole host */
	const char *upstream; /* "10.88.0.5:8080", or NULL: answer 503 */
	bool tls;	      /* served over HTTPS once its domain has a certificate */
	bool hsts;	      /* and sends Strict-Transport-Security there */
	const struct proxy_alias *aliases; /* with tls and hsts as the route's */
	size_t n_aliases;
	/* "unix:/PATH" of the daemon's socket when the instance has private
	 * access rules: nginx asks it (auth_request) before each request, and
	 * gives the app who the user is; NULL for an app open to all. */
	const char *auth;
};

/* The domain of host i of r: 0 the main one, 1.. its aliases. */
static inline const char *proxy_route_domain(const struct proxy_route *r, size_t i)
{
	return i == 0 ? r->domain : r->aliases[i - 1].domain;
}

/* How a site is served over TLS. */
struct proxy_site_tls {
	int https_port; /* 0: no HTTPS at all (nor ACME challenges) */
	bool cert;	/* $NUA_ROOT/tls/live/DOMAIN.pem is served */
	bool redirect;	/* HTTP requests of routes that want TLS go to HTTPS (301) */
	bool ocsp;	/* staple OCSP responses */
	int http_port;	/* for redirects to another domain; 0: 80 */
};

/* Fill p from the environment, create the directories and write nginx.conf
 * and listen.conf when they changed (a running nginx picks them up at the
 * next change or proxy_ensure_running). NUA_NGINX names another nginx
 * binary. Fails with NUA_EINPUT for a malformed NUA_HTTP_PORT or
 * NUA_HTTP_ADDR, NUA_EFAIL when nginx is not installed (naming the
 * package). */
int proxy_open(struct proxy *p, struct nua_error **err);
void proxy_release(struct proxy *p);

/* True for a host name nginx and DNS accept: labels of [a-z0-9-] not
 * starting or ending with '-', 1-63 characters each, 253 at most, at least
 * one dot or "localhost"-style single label allowed. Lowercase only. */
bool proxy_valid_domain(const char *domain);

/* path as routes keep it: "/" (for NULL or "" too) or without its trailing
 * slashes ("/a/b/" is "/a/b"). Caller frees. */
char *proxy_normalise_path(const char *path);

/* The server blocks of domain, made from those of routes (n of them) whose
 * domain or alias it is: one location per path (a 301 to the route's main
 * domain for a redirecting alias), 503 for a route without upstream, and
 * 404 at "/" when no route takes it; with t (may be NULL: plain HTTP) ACME's
 * challenges on HTTP, and an HTTPS server when t->cert. The routes must be
 * valid (as proxy_set_route checks them). Caller frees. For tests and
 * diagnostics. */
char *proxy_render_site(const struct proxy_route *routes, size_t n, const char *domain,
			const struct proxy_site_tls *t);

/* Write (or replace) the route of r->name, check, and apply it: start
 * nginx when it does not run, reload it otherwise. When it returns 0, nginx
 * answers with the new route (the reload has completed: new workers serve,
 * old ones only finish their connections). On failure nothing changes on
 * disk or in what nginx serves. NUA_EINPUT: an invalid field (path: letters,
 * digits and . _ ~ - /; upstream: IPv4:PORT, [IPv6]:PORT or HOST:PORT), a
 * domain+path taken by another route or named twice by this one, as its
 * domain or an alias ("/notes" and "/notes/" are the same),
 * or nginx refusing the route's own server block (an upstream host that
 * does not resolve, say). Other refusals by nginx are NUA_EFAIL, with
 * nginx's message. A path route gets PATH/ and below, with the full URI and
 * X-Forwarded-Prefix: PATH; PATH itself redirects to PATH/. */
int proxy_set_route(struct proxy *p, const struct proxy_route *r, struct nua_error **err);

/* Remove the route of name (absent is success), check and reload, with the
 * same guarantees as proxy_set_route. The host answers 404 once no route
 * is left on it. */
int proxy_remove_route(struct proxy *p, const char *name, struct nua_error **err);

/* Render the site of domain again from the routes (its certificate came or
 * changed), check and reload, with the guarantees of proxy_set_route. */
int proxy_refresh_domain(struct proxy *p, const char *domain, struct nua_error **err);

/* Wait (at most timeout_ms) until the workers of an earlier configuration
 * have finished their requests and exited: after it, no request goes to
 * an upstream that the current routes no longer name. */
void proxy_drain(const struct proxy *p, int timeout_ms);

/* Every route on disk, as copies (free with proxy_route_list_free). */
int proxy_list_routes(const struct proxy *p, struct proxy_route **out, size_t *n,
		      struct nua_error **err);
void proxy_route_list_free(struct proxy_route *list, size_t n);

/* Check the configuration on disk with nginx -t, then start nginx when it
 * does not run (a stale pid file is ignored: the pid must be a live nginx
 * master started on this root's nginx.conf) or reload it otherwise. */
int proxy_ensure_running(struct proxy *p, struct nua_error **err);

/* Write every site again from the routes (a new version of Nua may write
 * them otherwise), at the daemon's start; nginx is reloaded only when a
 * site changed. */
int proxy_refresh_all(struct proxy *p, struct nua_error **err);

/* The user nginx's workers run as (www-data, else nobody), or NULL when
 * not root. */
const char *proxy_worker_user(void);

/* The route of the admin domain, to the daemon's remote API ("nua-..." is
 * never an instance's name). */
#define PROXY_ADMIN_ROUTE "nua-admin"

/* Seconds nginx keeps the daemon's answer about a private app's request
 * (for one session, host and path). */
#define PROXY_AUTH_CACHE 5

/* The unix socket nginx passes the remote API to (in its directory, which
 * its workers reach): caller frees. */
char *proxy_api_socket(const struct proxy *p);

/* Stop nginx: QUIT (graceful), then TERM and KILL, master and workers,
 * after 5 seconds. Not running is success. */
int proxy_stop(struct proxy *p, struct nua_error **err);

/* True when nginx runs for this root. */
bool proxy_running(const struct proxy *p);

#endif
