#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "proxy_nginx.h"
#include "strbuf.h"
#include "test.h"
#include "util.h"

/* ---- domain names ---- */

TEST(proxy_valid_domain_accepts)
{
	static const char *const ok[] = {
	    "example.com",
	    "a.b",
	    "localhost",
	    "x",
	    "notes.example.com",
	    "a-b.c-d.e",
	    "123.example.com",
	    "xn--bcher-kva.example",
	    "0",
	    "a1.b2.c3",
	    "127.0.0.1", /* labels of digits are labels */
	};

	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		if (!proxy_valid_domain(ok[i]))
			test_fail(__FILE__, __LINE__, "'%s' refused", ok[i]);
	}
}

TEST(proxy_valid_domain_refuses)
{
	static const char *const bad[] = {
	    "",
	    ".",
	    "example.com.",
	    ".example.com",
	    "a..b",
	    "-a.com",
	    "a-.com",
	    "a.-b",
	    "a.b-",
	    "Example.com",
	    "EXAMPLE",
	    "exa_mple.com",
	    "*.example.com",
	    "a b.com",
	    "a;b.com",
	    "a/b",
	    "a:80",
	    "é.com",
	    "a.com/",
	    "a\n.com",
	    "{x}.com",
	    "$host",
	    "\"quoted\"",
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (proxy_valid_domain(bad[i]))
			test_fail(__FILE__, __LINE__, "'%s' accepted", bad[i]);
	}
	CHECK(!proxy_valid_domain(NULL));
}

TEST(proxy_valid_domain_lengths)
{
	char label[80], name[300];

	memset(label, 'a', 63);
	label[63] = '\0';
	CHECK(proxy_valid_domain(label));
	label[63] = 'a';
	label[64] = '\0';
	CHECK(!proxy_valid_domain(label)); /* 64 in one label */

	/* 4 labels of 63 and dots: 255; trim to exactly 253 and 254. */
	memset(name, 'a', sizeof(name));
	for (int i = 63; i < 253; i += 64)
		name[i] = '.';
	name[253] = '\0';
	CHECK_INT(strlen(name), 253);
	CHECK(proxy_valid_domain(name));
	name[253] = 'a';
	name[254] = '\0';
	CHECK(!proxy_valid_domain(name));
}

/* ---- rendering ---- */

TEST(proxy_render_one_route)
{
	struct proxy_route r = {"blog", "blog.example.com", NULL, "10.88.0.5:8080", false, false, NULL, 0, NULL };
	_cleanup_free_ char *s = proxy_render_site(&r, 1, "blog.example.com", NULL);

	CHECK(strstr(s, "server_name blog.example.com;\n"));
	CHECK(strstr(s, "include listen.conf;"));
	CHECK(strstr(s, "location / {\n\t\tproxy_pass http://10.88.0.5:8080;\n"));
	CHECK(!strstr(s, "return 404")); /* "/" is the app's */
	CHECK(!strstr(s, "return 503"));
	/* One server block. */
	CHECK(strstr(s, "server {") && !strstr(strstr(s, "server {") + 1, "server {"));
}

TEST(proxy_render_aliases)
{
	struct proxy_alias al[] = { { "www.example.com", NULL, false },
				    { "old.example.com", "/", true },
				    { "old.example.com", "/v1.0/", true } };
	struct proxy_route r = { "blog", "example.com", "/blog", "10.88.0.5:8080", true, false,
				 al, 3, NULL };
	struct proxy_site_tls t = { 8443, true, true, false, 8080 };
	_cleanup_free_ char *www = proxy_render_site(&r, 1, "www.example.com", NULL);
	_cleanup_free_ char *old = proxy_render_site(&r, 1, "old.example.com", &t);
	_cleanup_free_ char *none = proxy_render_site(&r, 1, "other.example.com", NULL);
	const char *https = strstr(old, "include listen-tls.conf;");

	/* Served as the route's own, under its own path ("/"). */
	CHECK(strstr(www, "server_name www.example.com;"));
	CHECK(strstr(www, "location / {\n\t\tproxy_pass http://10.88.0.5:8080;"));
	/* Sent to the main domain and path, the rest of the URL kept, with
	 * the scheme and port of the server block it came to. */
	CHECK(https);
	CHECK(strstr(old, "location / {\n\t\treturn 301 http://example.com:8080/blog$request_uri;"));
	CHECK(strstr(https, "location / {\n\t\treturn 301 https://example.com:8443/blog$request_uri;"));
	CHECK(strstr(old, "location = /v1.0 {\n\t\treturn 301 http://example.com:8080/blog/$is_args$args;"));
	CHECK(strstr(old, "if ($request_uri ~ \"^/v1\\.0/(.*)$\") {\n\t\t\treturn 301 "
			  "http://example.com:8080/blog/$1;"));
	CHECK(!strstr(old, "proxy_pass"));
	CHECK(strstr(none, "return 404"));
}

TEST(proxy_render_two_paths_one_server)
{
	struct proxy_route rs[] = {
	    {"notes", "example.com", "/notes/", "10.88.0.6:3000", false, false, NULL, 0, NULL },
	    {"blog", "example.com", "/", "10.88.0.5:8080", false, false, NULL, 0, NULL },
	    {"other", "other.example.com", NULL, "10.88.0.7:80", false, false, NULL, 0, NULL },
	};
	_cleanup_free_ char *s = proxy_render_site(rs, 3, "example.com", NULL);
	const char *first = strstr(s, "server {");

	CHECK(first && !strstr(first + 1, "server {"));
	CHECK(strstr(s, "server_name example.com;"));
	CHECK(!strstr(s, "other"));
	CHECK(strstr(s, "location / {\n\t\tproxy_pass http://10.88.0.5:8080;\n"));
	/* The trailing slash is normalised away, /notes redirects to /notes/. */
	CHECK(strstr(s, "location = /notes {\n\t\treturn 301 /notes/$is_args$args;\n"));
	CHECK(strstr(s, "location /notes/ {\n\t\tproxy_pass http://10.88.0.6:3000;\n"));
	CHECK(strstr(s, "proxy_set_header X-Forwarded-Prefix /notes;"));
	CHECK(!strstr(s, "/notes//"));
	/* Sorted by path: deterministic output. */
	CHECK(strstr(s, "# blog") < strstr(s, "# notes"));
}

TEST(proxy_render_path_only_gets_404_root)
{
	struct proxy_route r = {"notes", "example.com", "/notes", "10.88.0.6:3000", false, false, NULL, 0, NULL };
	_cleanup_free_ char *s = proxy_render_site(&r, 1, "example.com", NULL);

	CHECK(strstr(s, "location / {\n\t\tdefault_type text/plain;\n\t\treturn 404 "));
}

TEST(proxy_render_stopped_route)
{
	struct proxy_route r = {"blog", "blog.example.com", NULL, NULL, false, false, NULL, 0, NULL };
	_cleanup_free_ char *s = proxy_render_site(&r, 1, "blog.example.com", NULL);

	CHECK(strstr(s, "return 503 \"blog is stopped\\n\";"));
	CHECK(!strstr(s, "proxy_pass"));
}

/* ---- against a real nginx ---- */

static bool have_nginx(void)
{
	return access("/usr/sbin/nginx", X_OK) == 0;
}

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* A tiny HTTP server in a child: answers every request with
 * "TAG PATH [HEADER: VALUE]...\n" (200) for the headers in echoed, closing
 * each connection. */
static pid_t start_upstream(const char *tag, int *port_out)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	pid_t pid;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 16) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		close(fd);
		return -1;
	}
	*port_out = ntohs(a.sin_port);
	static const char *const echoed[] = {
	    "\r\nHost: ", "\r\nX-Forwarded-Prefix: ", "\r\nX-Forwarded-For: "};

	pid = fork();
	if (pid != 0) {
		close(fd);
		return pid;
	}
	for (;;) {
		char req[4096], path[1024] = "?", body[1200], resp[1500];
		int c = accept(fd, NULL, NULL), n, m;
		size_t got = 0;

		if (c < 0)
			continue;
		while (got < sizeof(req) - 1) {
			ssize_t r = read(c, req + got, sizeof(req) - 1 - got);

			if (r <= 0)
				break;
			got += (size_t)r;
			req[got] = '\0';
			if (strstr(req, "\r\n\r\n"))
				break;
		}
		req[got] = '\0';
		sscanf(req, "%*s %1023s", path);
		n = snprintf(body, sizeof(body), "%s %s", tag, path);
		/* Echo what the app must see of the proxy's headers. */
		for (size_t h = 0; h < ARRAY_SIZE(echoed); h++) {
			const char *at = strstr(req, echoed[h]);
			int vlen = at ? (int)strcspn(at + strlen(echoed[h]), "\r\n") : 0;

			if (at && n < (int)sizeof(body))
				n += snprintf(body + n, sizeof(body) - (size_t)n, " [%s%.*s]",
					      echoed[h] + 2, vlen, at + strlen(echoed[h]));
		}
		if (n < (int)sizeof(body) - 1)
			n += snprintf(body + n, sizeof(body) - (size_t)n, "\n");
		else
			n = (int)sizeof(body) - 1;
		m = snprintf(resp, sizeof(resp),
			     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
			     "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
			     n, body);
		if (write(c, resp, (size_t)m) < 0) {
			/* the client went away */
		}
		close(c);
	}
}

/* GET path with Host host from 127.0.0.1:port; the status, or -1 when the
 * connection is refused or fails. body (may be NULL) gets the body. */
static int http_get(int port, const char *host, const char *path, struct strbuf *body)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct timeval tv = {5, 0};
	_cleanup_strbuf_ struct strbuf req = STRBUF_INIT, resp = STRBUF_INIT;
	_cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	char buf[4096], *end;
	int status = -1;
	ssize_t n;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return -1;
	strbuf_addf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, host);
	if (write(fd, req.buf, req.len) != (ssize_t)req.len)
		return -1;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		strbuf_add(&resp, buf, (size_t)n);
	if (sscanf(resp.buf, "HTTP/1.%*d %d", &status) != 1)
		return -1;
	if (body) {
		strbuf_reset(body);
		if ((end = strstr(resp.buf, "\r\n\r\n")))
			strbuf_addstr(body, end + 4);
	}
	return status;
}

struct live {
	struct proxy p;
	bool opened;
	int port, port_a, port_b;
	pid_t up_a, up_b;
	char *old_root, *old_addr, *old_port, *old_https;
};

static char *save_env(const char *name)
{
	const char *v = getenv(name);

	return v ? xstrdup(v) : NULL;
}

static void restore_env(const char *name, char *v)
{
	if (v)
		setenv(name, v, 1);
	else
		unsetenv(name);
	free(v);
}

/* nginx on a free loopback port with NUA_ROOT in the test's directory, and
 * two upstreams answering "A PATH" and "B PATH". */
static bool live_setup(struct live *t)
{
	struct nua_error *err = NULL;
	char port[16], https[16];

	memset(t, 0, sizeof(*t));
	t->up_a = t->up_b = -1;
	t->old_root = save_env("NUA_ROOT");
	t->old_addr = save_env("NUA_HTTP_ADDR");
	t->old_port = save_env("NUA_HTTP_PORT");
	t->old_https = save_env("NUA_HTTPS_PORT");
	t->port = free_port();
	snprintf(port, sizeof(port), "%d", t->port);
	snprintf(https, sizeof(https), "%d", free_port());
	/* nginx's workers (www-data) must reach its tmp/. */
	chmod(test_tmpdir(), 0711);
	setenv("NUA_ROOT", test_tmpdir(), 1);
	setenv("NUA_HTTP_ADDR", "127.0.0.1", 1);
	setenv("NUA_HTTP_PORT", port, 1);
	setenv("NUA_HTTPS_PORT", https, 1);
	t->up_a = start_upstream("A", &t->port_a);
	t->up_b = start_upstream("B", &t->port_b);
	if (t->port < 0 || t->up_a < 0 || t->up_b < 0) {
		test_fail(__FILE__, __LINE__, "cannot set up ports or upstreams");
		return false;
	}
	if (proxy_open(&t->p, &err) < 0) {
		test_fail(__FILE__, __LINE__, "proxy_open: %s", err->msg);
		nua_error_free(err);
		return false;
	}
	t->opened = true;
	return true;
}

static void live_teardown(struct live *t)
{
	struct nua_error *err = NULL;

	if (t->opened) {
		if (proxy_stop(&t->p, &err) < 0) {
			test_fail(__FILE__, __LINE__, "proxy_stop: %s", err->msg);
			nua_error_free(err);
		}
		proxy_release(&t->p);
	}
	for (int i = 0; i < 2; i++) {
		pid_t pid = i ? t->up_b : t->up_a;

		if (pid > 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
	}
	restore_env("NUA_ROOT", t->old_root);
	restore_env("NUA_HTTP_ADDR", t->old_addr);
	restore_env("NUA_HTTP_PORT", t->old_port);
	restore_env("NUA_HTTPS_PORT", t->old_https);
}

static char *upstream(int port)
{
	return xasprintf("127.0.0.1:%d", port);
}

/* call reports its error through &e_, declared here. */
#define CHECK_OK(call)                                                                             \
	do {                                                                                       \
		struct nua_error *e_ = NULL;                                                       \
		if ((call) < 0) {                                                                  \
			test_fail(__FILE__, __LINE__, "%s: %s", #call,                             \
				  e_ ? e_->msg : "(no message)");                                  \
			nua_error_free(e_);                                                        \
			return;                                                                    \
		}                                                                                  \
	} while (0)

#define CHECK_GET(host, path, want_status, want_body_)                                             \
	do {                                                                                       \
		_cleanup_strbuf_ struct strbuf b_ = STRBUF_INIT;                                   \
		const char *want_body = (want_body_);                                              \
		int s_ = http_get(t->port, host, path, &b_);                                       \
		if (s_ != (want_status) || (want_body && !strstr(b_.buf, want_body))) {            \
			test_fail(__FILE__, __LINE__, "GET %s%s: %d '%s', expected %d '%s'", host, \
				  path, s_, b_.buf, want_status, want_body ? want_body : "");      \
			return;                                                                    \
		}                                                                                  \
	} while (0)

static void serve_checks(struct live *t)
{
	_cleanup_free_ char *up_a = upstream(t->port_a), *up_b = upstream(t->port_b);
	struct proxy_route ra = {"alpha", "app.test", NULL, up_a, false, false, NULL, 0, NULL };
	struct proxy_route rb = {"beta", "app.test", "/b", up_b, false, false, NULL, 0, NULL };
	struct proxy_route dup = {"gamma", "app.test", "/b/", up_a, false, false, NULL, 0, NULL };
	struct nua_error *err = NULL;
	_cleanup_free_ char *site = NULL, *route_file = NULL;

	CHECK(!proxy_running(&t->p));
	CHECK_OK(proxy_set_route(&t->p, &ra, &e_));
	CHECK(proxy_running(&t->p));
	CHECK_GET("app.test", "/hello", 200, "A /hello [Host: app.test]");
	CHECK_GET("app.test", "/hello", 200, "[X-Forwarded-For: 127.0.0.1]");
	CHECK_GET("unknown.test", "/", 404, "no app is deployed at unknown.test");

	/* Stopped: 503 naming the instance. */
	ra.upstream = NULL;
	CHECK_OK(proxy_set_route(&t->p, &ra, &e_));
	CHECK_GET("app.test", "/", 503, "alpha is stopped");
	ra.upstream = up_a;
	CHECK_OK(proxy_set_route(&t->p, &ra, &e_));
	CHECK_GET("app.test", "/", 200, "A /");

	/* A second route on the same host, under /b. */
	CHECK_OK(proxy_set_route(&t->p, &rb, &e_));
	CHECK_GET("app.test", "/b/x?q=1", 200, "B /b/x?q=1 [Host: app.test]");
	CHECK_GET("app.test", "/b/x", 200, "[X-Forwarded-Prefix: /b]");
	CHECK_GET("app.test", "/b/", 200, "B /b/");
	CHECK_GET("app.test", "/b", 301, NULL);
	CHECK_GET("app.test", "/bx", 200, "A /bx");
	CHECK_GET("app.test", "/", 200, "A /");

	/* The same host and path for another instance: refused, untouched. */
	CHECK(proxy_set_route(&t->p, &dup, &err) < 0);
	CHECK(err && err->status == NUA_EINPUT && strstr(err->msg, "beta"));
	nua_error_free(err);
	err = NULL;
	route_file = xasprintf("%s/routes/gamma.json", t->p.dir);
	CHECK(access(route_file, F_OK) < 0);
	CHECK_GET("app.test", "/b/y", 200, "B /b/y");

	/* Aliases: another host served as alpha, one sent to alpha's main
	 * domain; one that beta holds is refused, nothing changed. */
	{
		struct proxy_alias al[] = { { "www.app.test", NULL, false },
					    { "old.test", "/", true },
					    { "app.test", "/b", false } };
		_cleanup_free_ char *www = xasprintf("%s/sites/www.app.test.conf", t->p.dir);

		ra.aliases = al;
		ra.n_aliases = 2;
		CHECK_OK(proxy_set_route(&t->p, &ra, &e_));
		CHECK_GET("www.app.test", "/w", 200, "A /w [Host: www.app.test]");
		CHECK_GET("old.test", "/o?q=1", 301, NULL);
		CHECK_GET("app.test", "/", 200, "A /");
		ra.n_aliases = 3;
		CHECK(proxy_set_route(&t->p, &ra, &err) < 0);
		CHECK(err && err->status == NUA_EINPUT &&
		      strstr(err->msg, "'app.test/b' is already routed to 'beta'"));
		nua_error_free(err);
		err = NULL;
		CHECK_GET("www.app.test", "/w", 200, "A /w");
		/* Twice in one route. */
		al[2] = (struct proxy_alias){ "www.app.test", "/", true };
		CHECK(proxy_set_route(&t->p, &ra, &err) < 0);
		CHECK(err && strstr(err->msg, "'www.app.test' is named twice by 'alpha'"));
		nua_error_free(err);
		err = NULL;
		/* Dropped: their sites go. */
		ra.n_aliases = 0;
		CHECK_OK(proxy_set_route(&t->p, &ra, &e_));
		CHECK(access(www, F_OK) < 0);
		CHECK_GET("www.app.test", "/", 404, "no app is deployed");
		ra.aliases = NULL;
	}

	/* Removing a route: the root then answers 404, /b still works. */
	CHECK_OK(proxy_remove_route(&t->p, "alpha", &e_));
	CHECK_GET("app.test", "/", 404, "no app is deployed");
	CHECK_GET("app.test", "/b/z", 200, "B /b/z");
	CHECK_OK(proxy_remove_route(&t->p, "alpha", &e_)); /* absent: fine */

	/* The last route of a host gone: its site file goes too. */
	CHECK_OK(proxy_remove_route(&t->p, "beta", &e_));
	CHECK_GET("app.test", "/b/z", 404, "no app is deployed");
	site = xasprintf("%s/sites/app.test.conf", t->p.dir);
	CHECK(access(site, F_OK) < 0);

	/* Stopping: the port refuses. */
	CHECK_OK(proxy_stop(&t->p, &e_));
	CHECK(!proxy_running(&t->p));
	CHECK_INT(http_get(t->port, "app.test", "/", NULL), -1);
	CHECK_OK(proxy_stop(&t->p, &e_)); /* not running: fine */
}

TEST(proxy_nginx_serves_routes)
{
	struct live t;

	if (!have_nginx()) {
		printf("# skip: nginx is not installed\n");
		return;
	}
	if (live_setup(&t))
		serve_checks(&t);
	live_teardown(&t);
}

static void rejected_checks(struct live *t)
{
	_cleanup_free_ char *up_a = upstream(t->port_a), *up_b = upstream(t->port_b);
	_cleanup_free_ char *broken = NULL, *route_file = NULL, *site = NULL;
	struct proxy_route ra = {"alpha", "a.test", NULL, up_a, false, false, NULL, 0, NULL };
	struct proxy_route rb = {"beta", "b.test", NULL, up_b, false, false, NULL, 0, NULL };
	struct nua_error *err = NULL;
	FILE *f;

	CHECK_OK(proxy_set_route(&t->p, &ra, &e_));
	CHECK_GET("a.test", "/", 200, "A /");

	/* Something nginx refuses: the change fails with nginx's words, no
	 * file of it stays, and nginx goes on serving the old routes. */
	broken = xasprintf("%s/sites/broken.conf", t->p.dir);
	f = fopen(broken, "w");
	CHECK(f);
	fputs("this_is_not_nginx on;\n", f);
	fclose(f);
	CHECK(proxy_set_route(&t->p, &rb, &err) < 0);
	CHECK(err && strstr(err->msg, "this_is_not_nginx") && strstr(err->msg, "beta"));
	nua_error_free(err);
	err = NULL;
	route_file = xasprintf("%s/routes/beta.json", t->p.dir);
	site = xasprintf("%s/sites/b.test.conf", t->p.dir);
	CHECK(access(route_file, F_OK) < 0);
	CHECK(access(site, F_OK) < 0);
	CHECK(proxy_running(&t->p));
	CHECK_GET("a.test", "/", 200, "A /");
	CHECK_GET("b.test", "/", 404, NULL);

	/* ensure_running does not reload a broken configuration either. */
	CHECK(proxy_ensure_running(&t->p, &err) < 0);
	nua_error_free(err);
	err = NULL;
	CHECK_GET("a.test", "/", 200, "A /");

	unlink(broken);
	CHECK_OK(proxy_set_route(&t->p, &rb, &e_));
	CHECK_GET("b.test", "/", 200, "B /");
	CHECK_GET("a.test", "/", 200, "A /");

	/* Invalid routes are refused before nginx sees them. */
	rb.upstream = "127.0.0.1:99999";
	CHECK(proxy_set_route(&t->p, &rb, &err) < 0 && err->status == NUA_EINPUT);
	nua_error_free(err);
	err = NULL;
	rb.upstream = "127.0.0.1:1;evil";
	CHECK(proxy_set_route(&t->p, &rb, &err) < 0 && err->status == NUA_EINPUT);
	nua_error_free(err);
	err = NULL;
	rb.upstream = up_b;
	rb.path = "/x;y";
	CHECK(proxy_set_route(&t->p, &rb, &err) < 0 && err->status == NUA_EINPUT);
	nua_error_free(err);
	err = NULL;
	rb.path = "/../x";
	CHECK(proxy_set_route(&t->p, &rb, &err) < 0 && err->status == NUA_EINPUT);
	nua_error_free(err);
	err = NULL;
	rb.path = NULL;
	rb.domain = "B.test";
	CHECK(proxy_set_route(&t->p, &rb, &err) < 0 && err->status == NUA_EINPUT);
	nua_error_free(err);
	err = NULL;
	CHECK_GET("b.test", "/", 200, "B /");

	/* A route moving to another domain leaves the old one. */
	rb.domain = "c.test";
	CHECK_OK(proxy_set_route(&t->p, &rb, &e_));
	CHECK_GET("c.test", "/", 200, "B /");
	CHECK_GET("b.test", "/", 404, NULL);
	CHECK(access(site, F_OK) < 0);

	/* nginx killed behind our back (stale pid file): started again. */
	{
		_cleanup_free_ char *pidfile = xasprintf("%s/nginx.pid", t->p.dir), *text = NULL;
		pid_t pid;

		CHECK(read_file(pidfile, &text, NULL) == 0);
		pid = (pid_t)atoi(text);
		CHECK(pid > 1);
		CHECK_OK(proxy_stop(&t->p, &e_));
		/* Leave a pid file naming a live process that is not nginx. */
		free(text);
		text = xasprintf("%d\n", (int)getpid());
		CHECK(write_file_atomic(pidfile, text, strlen(text), 0644) == 0);
		CHECK(!proxy_running(&t->p));
		CHECK_OK(proxy_ensure_running(&t->p, &e_));
		CHECK(proxy_running(&t->p));
		CHECK_GET("c.test", "/", 200, "B /");
		CHECK_GET("a.test", "/", 200, "A /");
	}
}

TEST(proxy_nginx_keeps_serving_when_refused)
{
	struct live t;

	if (!have_nginx()) {
		printf("# skip: nginx is not installed\n");
		return;
	}
	if (live_setup(&t))
		rejected_checks(&t);
	live_teardown(&t);
}
