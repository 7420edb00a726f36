/* The login portal on the admin domain (docs/users.md): a form that opens a
 * session (an HttpOnly, Secure, SameSite cookie), a page that shows it,
 * logout here or everywhere. Every form carries a CSRF token; failed
 * logins slow down, then block the account and the address for a while. */
#define _GNU_SOURCE
#include "api.h"

#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "proxy_nginx.h"
#include "secret.h"
#include "users.h"
#include "util.h"
#include "banned.h"

#define SESSION_COOKIE "nua_session"
#define CSRF_COOKIE    "nua_login_csrf"

static const char style[] =
	"body{font:16px/1.5 system-ui,sans-serif;max-width:22rem;margin:4rem auto;padding:0 1rem;"
	"color:#1d2330;background:#f6f7f9}"
	"h1{font-size:1.4rem}label{display:block;margin-top:.8rem}"
	"input{width:100%;padding:.5rem;font:inherit;box-sizing:border-box}"
	"button{margin-top:1rem;padding:.5rem 1rem;font:inherit}"
	".error{color:#a4161a}"
	"@media (prefers-color-scheme:dark){body{color:#e6e8ee;background:#161a22}}";

static void html_escape(struct strbuf *sb, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&':
			strbuf_addstr(sb, "&amp;");
			break;
		case '<':
			strbuf_addstr(sb, "&lt;");
			break;
		case '>':
			strbuf_addstr(sb, "&gt;");
			break;
		case '"':
			strbuf_addstr(sb, "&quot;");
			break;
		case '\'':
			strbuf_addstr(sb, "&#39;");
			break;
		default:
			strbuf_addch(sb, *s);
		}
	}
}

/* Queue an HTML page (taken) with the headers every portal answer has,
 * plus cookie headers (NULL-terminated, may be NULL) and a Location. */
static enum MHD_Result send_page(struct MHD_Connection *c, unsigned status, struct strbuf *body,
				 const char *const *cookies, const char *location)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(body->len, body->buf, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	strbuf_release(body);
	MHD_add_response_header(r, "Content-Type", "text/html; charset=utf-8");
	MHD_add_response_header(r, "Content-Security-Policy",
				"default-src 'none'; style-src 'self'; form-action 'self'; "
				"frame-ancestors 'none'; base-uri 'none'");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	for (size_t i = 0; cookies && cookies[i]; i++)
		MHD_add_response_header(r, "Set-Cookie", cookies[i]);
	if (location)
		MHD_add_response_header(r, "Location", location);
	ret = api_queue(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static void page_start(struct strbuf *sb, const char *title)
{
	strbuf_addstr(sb, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
			  "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
			  "<link rel=\"stylesheet\" href=\"/portal.css\"><title>");
	html_escape(sb, title);
	strbuf_addstr(sb, " · Nua</title></head><body><main>\n");
}

/* Split an app's URL into its origin ("https://host:port") and path; the
 * host alone in *host. False when it is not one. */
static bool app_url(struct state *st, const char *r, char **origin, char **host, char **path)
{
	const char *h, *slash, *colon;
	_cleanup_free_ char *name = NULL;

	*origin = *host = *path = NULL;
	if (!r || strpbrk(r, "\r\n\t <>\"'\\"))
		return false;
	if (starts_with(r, "https://"))
		h = r + 8;
	else if (starts_with(r, "http://"))
		h = r + 7;
	else
		return false;
	slash = strchr(h, '/');
	if (!slash || slash == h)
		return false;
	colon = memchr(h, ':', (size_t)(slash - h));
	name = xstrndup(h, (size_t)((colon ? colon : slash) - h));
	if (!proxy_valid_domain(name) || !access_known_host(st, name))
		return false;
	*origin = xstrndup(r, (size_t)(slash - r));
	*host = TAKE_PTR(name);
	*path = xstrdup(slash);
	return true;
}

/* True when r is a path of this site ("/x", never "//host"). */
static bool local_path(const char *r)
{
	return r && r[0] == '/' && r[1] != '/' && r[1] != '\\' && !strpbrk(r, "\r\n\t <>\"'");
}

/* Where to go after the login: a path of this site, or an app's URL
 * (http[s]://HOST[:PORT]/PATH, HOST an instance's domain); "/" otherwise. */
static const char *safe_return(struct state *st, const char *r)
{
	_cleanup_free_ char *o = NULL, *h = NULL, *p = NULL;

	return local_path(r) || app_url(st, r, &o, &h, &p) ? r : "/";
}

/* The Location after a login: ret, or for an app's URL its callback with a
 * one-time code that carries the portal session (cookie) there. */
static char *after_login(struct nua_ctx *ctx, const char *user, const char *cookie, const char *ret)
{
	_cleanup_free_ char *o = NULL, *h = NULL, *p = NULL, *code = NULL, *ep = NULL;
	char id[65];

	if (!app_url(ctx->st, ret, &o, &h, &p))
		return xstrdup(safe_return(ctx->st, ret));
	session_id(cookie, id);
	if (access_code_create(ctx->st, user, h, id, &code, NULL) < 0)
		return xstrdup("/");
	ep = url_escape(p);
	return xasprintf("%s/.nua/callback?code=%s&return=%s", o, code, ep);
}

/* A page with one form of the login: its heading, the error (or NULL),
 * the hidden CSRF token and return address, then fields (HTML). */
static void form_page(struct strbuf *sb, const char *title, const char *heading, const char *error,
		      const char *action, const char *csrf, const char *ret, const char *fields)
{
	page_start(sb, title);
	strbuf_addf(sb, "<h1>%s</h1>\n", heading);
	if (error) {
		strbuf_addstr(sb, "<p class=\"error\" role=\"alert\">");
		html_escape(sb, error);
		strbuf_addstr(sb, "</p>\n");
	}
	strbuf_addf(sb,
		    "<form method=\"post\" action=\"%s\">\n"
		    "<input type=\"hidden\" name=\"csrf\" value=\"",
		    action);
	html_escape(sb, csrf);
	strbuf_addstr(sb, "\">\n<input type=\"hidden\" name=\"return\" value=\"");
	html_escape(sb, ret);
	strbuf_addf(sb, "\">\n%s</form>\n</main></body></html>\n", fields);
}

static enum MHD_Result login_form(struct MHD_Connection *c, unsigned status, const char *csrf,
				  bool new_cookie, const char *ret, const char *error)
{
	struct strbuf sb = STRBUF_INIT;
	_cleanup_free_ char *cookie = NULL;
	const char *cookies[2] = { NULL, NULL };

	form_page(&sb, "Log in", "Log in to Nua", error, "/login", csrf, ret,
		  "<label for=\"user\">User name</label>"
		  "<input id=\"user\" name=\"user\" autocomplete=\"username\" required "
		  "autofocus>\n"
		  "<label for=\"password\">Password</label>"
		  "<input id=\"password\" name=\"password\" type=\"password\" "
		  "autocomplete=\"current-password\" required>\n"
		  "<button type=\"submit\">Log in</button>\n");
	if (new_cookie) {
		cookie = xasprintf(
			CSRF_COOKIE "=%s; Path=/login; HttpOnly; Secure; SameSite=Strict", csrf);
		cookies[0] = cookie;
	}
	return send_page(c, status, &sb, cookies, NULL);
}

/* The second step of a login with TOTP: the code (or a recovery code). */
static enum MHD_Result code_form(struct MHD_Connection *c, unsigned status, const char *csrf,
				 const char *ret, const char *const *cookies, const char *error)
{
	struct strbuf sb = STRBUF_INIT;

	form_page(&sb, "Second factor", "Second factor", error, "/login/code", csrf, ret,
		  "<label for=\"code\">The code of your authenticator app, or a recovery "
		  "code</label>"
		  "<input id=\"code\" name=\"code\" autocomplete=\"one-time-code\" "
		  "inputmode=\"numeric\" required autofocus>\n"
		  "<button type=\"submit\">Continue</button>\n");
	return send_page(c, status, &sb, cookies, NULL);
}

static char *cookie_of(struct MHD_Connection *c, const char *name)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Cookie");

	return h ? api_cookie_value(h, name) : NULL;
}

static bool same_secret(const char *a, const char *b)
{
	size_t n = a ? strlen(a) : 0;

	return a && b && n > 0 && n == strlen(b) && sodium_memcmp(a, b, n) == 0;
}

/* Record a failed login of user from origin, and wait longer after each
 * one: a guesser gets a few tries a minute at most. */
static void failed(struct daemon *d, struct nua_ctx *ctx, const char *user, const char *origin)
{
	_cleanup_free_ char *ukey = xasprintf("user:%s", user);
	_cleanup_free_ char *akey = xasprintf("addr:%s", origin);
	int64_t t = (int64_t)time(NULL);
	bool ublocked, ablocked;
	int n = login_failed(ctx->st, ukey, t, &ublocked);
	int m = login_failed(ctx->st, akey, t, &ablocked);
	int worst = n > m ? n : m;

	(void)d;
	{
		/* A name that is not a user's name is not repeated. */
		_cleanup_free_ char *msg =
			user_valid_name(user)
				? xasprintf("a login as %s from %s failed", user, origin)
				: xasprintf("a login from %s failed", origin);

		state_event_add(ctx->st, NULL, "login-failed", msg, NULL, NULL, NULL);
	}
	if (ublocked || ablocked) {
		_cleanup_free_ char *msg = xasprintf(
			"%s%s%s%s blocked for %d minutes after %d failed logins",
			ublocked ? "the account " : "", ublocked ? user : "",
			ublocked && ablocked ? " and " : "", ablocked ? "this address" : "",
			LOGIN_BLOCK_SECONDS / 60, LOGIN_BLOCK_AFTER);

		state_event_add(ctx->st, NULL, "login-blocked", msg, NULL, NULL, NULL);
		daemon_log("login: %s (from %s)", msg, origin);
	}
	/* 0.25 s, 0.5 s, 1 s... up to 4 s. */
	sleep_ms(250L << (worst > 5 ? 4 : worst - 1));
}

static enum MHD_Result h_login_post(struct daemon *d, struct MHD_Connection *c, struct nua_ctx *ctx,
				    const struct request *req)
{
	const char *origin = req->who.origin;
	_cleanup_free_ char *user = api_form_value(req->body.buf, req->body.len, "user");
	_cleanup_free_ char *csrf = api_form_value(req->body.buf, req->body.len, "csrf");
	_cleanup_free_ char *ret = api_form_value(req->body.buf, req->body.len, "return");
	_cleanup_free_ char *cookie_csrf = cookie_of(c, CSRF_COOKIE);
	_cleanup_free_ char *ukey = NULL, *akey = NULL, *session = NULL, *token = NULL;
	_cleanup_free_ char *set = NULL, *fresh = NULL;
	char *password = api_form_value(req->body.buf, req->body.len, "password");
	struct nua_error *err = NULL;
	const char *cookies[3] = { NULL, NULL, NULL };
	const char *back = safe_return(ctx->st, ret);
	int64_t wait;
	int r;

	if (!same_secret(csrf, cookie_csrf)) {
		if (password)
			sodium_memzero(password, strlen(password));
		free(password);
		fresh = secret_random_string(32);
		return login_form(c, 403, fresh, true, back,
				  "This form is stale or did not come from this site: try again.");
	}
	if (!user || !password) {
		free(password);
		return login_form(c, 400, csrf, false, back, "Give a user name and a password.");
	}
	ukey = xasprintf("user:%s", user);
	akey = xasprintf("addr:%s", origin);
	wait = login_blocked(ctx->st, ukey, (int64_t)time(NULL));
	if (!wait)
		wait = login_blocked(ctx->st, akey, (int64_t)time(NULL));
	if (wait) {
		_cleanup_free_ char *msg =
			xasprintf("Too many failed logins: try again in %lld minutes.",
				  (long long)(wait + 59) / 60);

		sodium_memzero(password, strlen(password));
		free(password);
		return login_form(c, 429, csrf, false, back, msg);
	}
	r = user_authenticate(ctx->st, user, password, NULL, &err);
	sodium_memzero(password, strlen(password));
	free(password);
	if (r < 0) {
		bool input = err->status == NUA_EINPUT;

		nua_error_free(err);
		if (!input)
			return login_form(c, 500, csrf, false, back,
					  "The login cannot be checked now.");
		failed(d, ctx, user, origin);
		return login_form(c, 401, csrf, false, back, "Wrong user name or password.");
	}
	if (user_has_totp(ctx->st, user)) {
		/* The password was right; the session counts once the code
		 * comes, within five minutes. */
		if (session_create_pending(ctx->st, user, origin, &session, &token, &err) < 0) {
			nua_error_free(err);
			return login_form(c, 500, csrf, false, back,
					  "The session cannot be opened now.");
		}
		set = xasprintf(SESSION_COOKIE
				"=%s; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=300",
				session);
		cookies[0] = set;
		cookies[1] =
			CSRF_COOKIE "=; Path=/login; HttpOnly; Secure; SameSite=Strict; Max-Age=0";
		return code_form(c, 200, token, back, cookies, NULL);
	}
	login_succeeded(ctx->st, ukey);
	login_succeeded(ctx->st, akey);
	if (session_create(ctx->st, user, origin, &session, &token, &err) < 0) {
		nua_error_free(err);
		return login_form(c, 500, csrf, false, back, "The session cannot be opened now.");
	}
	{
		_cleanup_free_ char *msg = xasprintf("%s logged in from %s", user, origin);

		state_event_add(ctx->st, NULL, "login", msg, NULL, NULL, NULL);
	}
	set = xasprintf(SESSION_COOKIE "=%s; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=%d",
			session, SESSION_LIFE);
	cookies[0] = set;
	cookies[1] = CSRF_COOKIE "=; Path=/login; HttpOnly; Secure; SameSite=Strict; Max-Age=0";
	{
		struct strbuf sb = STRBUF_INIT;
		_cleanup_free_ char *to = after_login(ctx, user, session, ret);

		return send_page(c, 303, &sb, cookies, to);
	}
}

/* POST /login/code: the second factor of a pending session. */
static enum MHD_Result h_code_post(struct daemon *d, struct MHD_Connection *c, struct nua_ctx *ctx,
				   const struct request *req)
{
	const char *origin = req->who.origin;
	_cleanup_free_ char *cookie = cookie_of(c, SESSION_COOKIE);
	_cleanup_free_ char *csrf = api_form_value(req->body.buf, req->body.len, "csrf");
	_cleanup_free_ char *code = api_form_value(req->body.buf, req->body.len, "code");
	_cleanup_free_ char *ret = api_form_value(req->body.buf, req->body.len, "return");
	_cleanup_free_ char *user = NULL, *token = NULL, *ukey = NULL, *akey = NULL;
	_cleanup_free_ char *set = NULL;
	const char *cookies[2] = { NULL, NULL };
	struct nua_error *err = NULL;
	struct strbuf sb = STRBUF_INIT;
	const char *back = safe_return(ctx->st, ret);
	int64_t wait;

	if (!session_pending(ctx->st, cookie, &user, &token))
		return send_page(c, 303, &sb, NULL, "/login");
	if (!same_secret(csrf, token))
		return send_error(c, 403, "this form is stale or did not come from this site");
	ukey = xasprintf("user:%s", user);
	akey = xasprintf("addr:%s", origin);
	wait = login_blocked(ctx->st, ukey, (int64_t)time(NULL));
	if (!wait)
		wait = login_blocked(ctx->st, akey, (int64_t)time(NULL));
	if (wait) {
		_cleanup_free_ char *msg =
			xasprintf("Too many failed logins: try again in %lld minutes.",
				  (long long)(wait + 59) / 60);

		return code_form(c, 429, token, back, NULL, msg);
	}
	if (user_totp_check(ctx->st, user, code ? code : "", (int64_t)time(NULL), &err) < 0) {
		nua_error_free(err);
		failed(d, ctx, user, origin);
		return code_form(c, 401, token, back, NULL, "Wrong code.");
	}
	if (session_confirm(ctx->st, cookie, &err) < 0) {
		nua_error_free(err);
		return code_form(c, 500, token, back, NULL, "The session cannot be opened now.");
	}
	login_succeeded(ctx->st, ukey);
	login_succeeded(ctx->st, akey);
	{
		_cleanup_free_ char *msg =
			xasprintf("%s logged in from %s, with a second factor", user, origin);

		state_event_add(ctx->st, NULL, "login", msg, NULL, NULL, NULL);
	}
	set = xasprintf(SESSION_COOKIE "=%s; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=%d",
			cookie, SESSION_LIFE);
	cookies[0] = set;
	{
		_cleanup_free_ char *to = after_login(ctx, user, cookie, ret);

		return send_page(c, 303, &sb, cookies, to);
	}
}

/* GET /: who is logged in, and the logout buttons. */
static enum MHD_Result h_home(struct MHD_Connection *c, const struct session_rec *s)
{
	struct strbuf sb = STRBUF_INIT;

	page_start(&sb, "Nua");
	strbuf_addstr(&sb, "<h1>Nua</h1>\n<p>Logged in as <strong>");
	html_escape(&sb, s->user);
	strbuf_addstr(&sb, "</strong> (");
	html_escape(&sb, s->role);
	strbuf_addstr(&sb, ").</p>\n");
	for (int everywhere = 0; everywhere < 2; everywhere++) {
		strbuf_addstr(&sb, "<form method=\"post\" action=\"/logout\">"
				   "<input type=\"hidden\" name=\"csrf\" value=\"");
		html_escape(&sb, s->csrf);
		strbuf_addf(&sb, "\">%s<button type=\"submit\">%s</button></form>\n",
			    everywhere ? "<input type=\"hidden\" name=\"everywhere\" value=\"1\">"
				       : "",
			    everywhere ? "Log out everywhere" : "Log out");
	}
	strbuf_addstr(&sb, "</main></body></html>\n");
	return send_page(c, 200, &sb, NULL, NULL);
}

static enum MHD_Result h_logout(struct MHD_Connection *c, struct nua_ctx *ctx,
				const struct request *req, const char *cookie,
				const struct session_rec *s)
{
	_cleanup_free_ char *csrf = api_form_value(req->body.buf, req->body.len, "csrf");
	_cleanup_free_ char *every = api_form_value(req->body.buf, req->body.len, "everywhere");
	const char *cookies[2] = { SESSION_COOKIE
				   "=; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=0",
				   NULL };
	struct strbuf sb = STRBUF_INIT;

	if (!same_secret(csrf, s->csrf))
		return send_error(c, 403, "this form is stale or did not come from this site");
	session_end(ctx->st, cookie, every && streq(every, "1"), NULL);
	return send_page(c, 303, &sb, cookies, "/login");
}

/* ---- what nginx asks for the apps ---- */

#define APP_COOKIE "nua_app"

static const char *header(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* The request's host without its port (nginx's $host with its port). */
static char *host_of(struct MHD_Connection *c)
{
	const char *h = header(c, "Host");
	const char *colon = h ? strchr(h, ':') : NULL;

	return h ? xstrndup(h, colon ? (size_t)(colon - h) : strlen(h)) : NULL;
}

/* GET /v1/access/check (nginx's auth_request): 200 and who the user is,
 * 401 (log in) or 403. */
static enum MHD_Result h_access_check(struct MHD_Connection *c, struct nua_ctx *ctx)
{
	const char *instance = header(c, "X-Nua-Instance"), *path = header(c, "X-Nua-Path");
	_cleanup_free_ char *host = host_of(c), *cookie = cookie_of(c, APP_COOKIE);
	_cleanup_free_ char *user = NULL, *email = NULL, *groups = NULL;
	struct MHD_Response *r;
	enum access_decision d;
	enum MHD_Result ret;
	unsigned status;

	if (!instance || !path || !host)
		return send_error(c, 400, "not a request of nginx");
	user = access_session_user(ctx->st, cookie, host);
	d = access_decide(ctx->st, instance, path, user);
	status = d == ACCESS_LOGIN ? 401 : d == ACCESS_FORBIDDEN ? 403 : 200;
	r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (status == 200 && user && access_user_info(ctx->st, user, &email, &groups)) {
		MHD_add_response_header(r, "X-Nua-User", user);
		if (email)
			MHD_add_response_header(r, "X-Nua-Email", email);
		if (groups[0])
			MHD_add_response_header(r, "X-Nua-Groups", groups);
	}
	MHD_add_response_header(r, "Cache-Control", "no-store");
	ret = api_queue(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* GET /v1/access/start (a private page without a login): a browser goes
 * to the portal and comes back; another client gets a 401. */
static enum MHD_Result h_access_start(struct daemon *d, struct MHD_Connection *c,
				      struct nua_ctx *ctx)
{
	const char *uri = header(c, "X-Original-URI"), *proto = header(c, "X-Forwarded-Proto");
	const char *host = header(c, "Host"), *accept = header(c, "Accept");
	_cleanup_free_ char *admin = NULL, *back = NULL, *eback = NULL, *to = NULL;
	struct strbuf sb = STRBUF_INIT;

	if (state_setting_get(ctx->st, "server.admin_domain", &admin, NULL) < 0 || !admin)
		return send_error(c, 503,
				  "this app is private, and the server has no admin domain "
				  "to log in on ('nua server domain')");
	if (!accept || !strstr(accept, "text/html")) {
		if (d->proxy.https_port == 443)
			return send_error(c, 401, "this app is private: log in at https://%s/login",
					  admin);
		return send_error(c, 401, "this app is private: log in at https://%s:%d/login",
				  admin, d->proxy.https_port);
	}
	back = xasprintf("%s://%s%s", proto && streq(proto, "https") ? "https" : "http",
			 host ? host : "", uri && uri[0] == '/' ? uri : "/");
	eback = url_escape(back);
	to = d->proxy.https_port == 443 ? xasprintf("https://%s/login?return=%s", admin, eback)
					: xasprintf("https://%s:%d/login?return=%s", admin,
						    d->proxy.https_port, eback);
	return send_page(c, 302, &sb, NULL, to);
}

/* GET /v1/access/callback?code=&return= (on the app's domain): the code
 * becomes a session of this domain, in its own cookie. */
static enum MHD_Result h_access_callback(struct MHD_Connection *c, struct nua_ctx *ctx)
{
	const char *proto = header(c, "X-Forwarded-Proto");
	_cleanup_free_ char *host = host_of(c), *user = NULL, *portal = NULL, *cookie = NULL;
	_cleanup_free_ char *set = NULL;
	const char *cookies[2] = { NULL, NULL };
	struct nua_error *err = NULL;
	struct strbuf sb = STRBUF_INIT;
	const char *ret = arg(c, "return");

	if (!host)
		return send_error(c, 400, "not a request of nginx");
	if (access_code_take(ctx->st, arg(c, "code"), host, &user, &portal, &err) < 0 ||
	    access_session_create(ctx->st, user, host, portal, &cookie, &err) < 0)
		return send_nua_error(c, err);
	set = xasprintf(APP_COOKIE "=%s; Path=/; HttpOnly;%s SameSite=Lax", cookie,
			proto && streq(proto, "https") ? " Secure;" : "");
	cookies[0] = set;
	/* Back to a path of this site only. */
	if (!local_path(ret))
		ret = "/";
	return send_page(c, 302, &sb, cookies, ret);
}

bool api_portal_path(const char *method, const char *url)
{
	bool get = streq(method, "GET"), post = streq(method, "POST");

	return (get && (streq(url, "/") || streq(url, "/portal.css") || streq(url, "/login") ||
			streq(url, "/v1/access/check") || streq(url, "/v1/access/start") ||
			streq(url, "/v1/access/callback"))) ||
	       (post &&
		(streq(url, "/login") || streq(url, "/login/code") || streq(url, "/logout")));
}

enum MHD_Result api_portal(struct daemon *d, struct MHD_Connection *c, const char *method,
			   const char *url, const struct request *req)
{
	_cleanup_free_ char *cookie = cookie_of(c, SESSION_COOKIE);
	const char *proto = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Forwarded-Proto");
	struct session_rec s = { 0 };
	struct nua_ctx ctx;
	struct nua_error *err = NULL;
	enum MHD_Result ret;
	bool in;

	if (streq(url, "/portal.css")) {
		struct MHD_Response *r = MHD_create_response_from_buffer(
			sizeof(style) - 1, (void *)style, MHD_RESPMEM_PERSISTENT);

		MHD_add_response_header(r, "Content-Type", "text/css; charset=utf-8");
		MHD_add_response_header(r, "Cache-Control", "max-age=3600");
		ret = api_queue(c, 200, r);
		MHD_destroy_response(r);
		return ret;
	}
	if (starts_with(url, "/v1/access/")) {
		/* nginx asks for an app, on whatever domain (the remote
		 * socket only). */
		if (!req->who.remote)
			return send_error(c, 404, "no endpoint '%s' here", url);
		if (daemon_ctx(d, &ctx, &err) < 0)
			return send_nua_error(c, err);
		ret = streq(url, "/v1/access/check")   ? h_access_check(c, &ctx)
		      : streq(url, "/v1/access/start") ? h_access_start(d, c, &ctx)
						       : h_access_callback(c, &ctx);
		daemon_ctx_close(&ctx);
		return ret;
	}
	if (!req->who.remote || !proto || !streq(proto, "https"))
		return send_error(c, 403,
				  "the login portal is served over HTTPS on the admin "
				  "domain only ('nua server')");
	if (daemon_ctx(d, &ctx, &err) < 0)
		return send_nua_error(c, err);
	in = session_check(ctx.st, cookie, &s, NULL) == 0;
	if (streq(method, "POST") && streq(url, "/login")) {
		ret = h_login_post(d, c, &ctx, req);
	} else if (streq(url, "/login/code")) {
		ret = h_code_post(d, c, &ctx, req);
	} else if (streq(url, "/login") && in) {
		/* Logged in already: back where it came from. */
		struct strbuf sb = STRBUF_INIT;
		_cleanup_free_ char *to = after_login(&ctx, s.user, cookie, arg(c, "return"));

		ret = send_page(c, 303, &sb, NULL, to);
	} else if (streq(url, "/login")) {
		_cleanup_free_ char *csrf = cookie_of(c, CSRF_COOKIE);
		bool fresh = !csrf || strlen(csrf) != 32;

		if (fresh) {
			free(csrf);
			csrf = secret_random_string(32);
		}
		ret = login_form(c, 200, csrf, fresh, safe_return(ctx.st, arg(c, "return")), NULL);
	} else if (streq(url, "/logout")) {
		ret = in ? h_logout(c, &ctx, req, cookie, &s) : send_error(c, 401, "not logged in");
	} else if (in) {
		ret = h_home(c, &s);
	} else {
		struct strbuf sb = STRBUF_INIT;

		ret = send_page(c, 303, &sb, NULL, "/login");
	}
	session_rec_release(&s);
	daemon_ctx_close(&ctx);
	return ret;
}
