/* Who asks the API and what they may do; the users', groups' and tokens'
 * endpoints and the audit log (docs/users.md, docs/api.md). */
#define _GNU_SOURCE
#include "api.h"

#include <dirent.h>
#include <jansson.h>
#include <limits.h>
#include <sodium.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "access.h"
#include "archive_tree.h"
#include "mount.h"
#include "paths.h"
#include "proxy_nginx.h"
#include "store.h"
#include "tls.h"
#include "users.h"
#include "util.h"
#include "banned.h"

/* Copy s into a fixed field, cut to fit. */
#define SET_FIELD(field, s)                                                                        \
	do {                                                                                       \
		const char *s_ = (s);                                                              \
		size_t n_ = strlen(s_);                                                            \
		if (n_ >= sizeof(field))                                                           \
			n_ = sizeof(field) - 1;                                                    \
		memcpy(field, s_, n_);                                                             \
		field[n_] = '\0';                                                                  \
	} while (0)

/* The client's address as nginx gave it (X-Real-IP), checked to be an
 * address: it reaches the audit log and the daemon's log. */
static void client_origin(struct MHD_Connection *c, struct principal *p)
{
	const char *ip = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Real-IP");
	bool ok = ip && *ip && strlen(ip) < sizeof(p->origin);

	for (const char *q = ip; ok && *q; q++)
		ok = strchr("0123456789abcdefABCDEF.:", *q) != NULL;
	SET_FIELD(p->origin, ok ? ip : "unknown");
}

/* A login portal's session in the Cookie header: the user, with the role
 * of the user's role. */
static bool identify_session(struct daemon *d, const char *cookies, struct principal *p)
{
	_cleanup_free_ char *cookie = api_cookie_value(cookies, "nua_session");
	struct nua_ctx ctx;
	struct session_rec s;
	bool ok = false;

	if (!cookie || daemon_ctx(d, &ctx, NULL) < 0)
		return false;
	if (session_check(ctx.st, cookie, &s, NULL) == 0) {
		_cleanup_free_ char *who = xasprintf("user %s", s.user);

		p->known = ok = true;
		SET_FIELD(p->who, who);
		SET_FIELD(p->role, s.role);
		SET_FIELD(p->csrf, s.csrf);
		session_rec_release(&s);
	}
	daemon_ctx_close(&ctx);
	return ok;
}

void api_identify(struct daemon *d, struct MHD_Connection *c, bool remote, struct request *req)
{
	struct principal *p = &req->who;
	const char *auth, *proto, *cookies;
	struct nua_ctx ctx;
	struct nua_error *err = NULL;
	struct token_rec t;

	memset(p, 0, sizeof(*p));
	p->remote = remote;
	if (!remote) {
		/* The socket is root's (0660 root:root). */
		p->known = true;
		SET_FIELD(p->who, "root");
		SET_FIELD(p->origin, "socket");
		SET_FIELD(p->role, "admin");
		return;
	}
	client_origin(c, p);
	auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	cookies = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Cookie");
	/* nginx says which: a token never counts over plain HTTP. */
	proto = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Forwarded-Proto");
	if (!proto || !streq(proto, "https")) {
		SET_FIELD(p->why, auth ? "the remote API takes tokens over HTTPS only; this one "
					 "went in clear: revoke it ('nua token rm')"
				       : "the remote API is served over HTTPS only");
		return;
	}
	if ((!auth || strncasecmp(auth, "Bearer ", 7) != 0) && cookies &&
	    identify_session(d, cookies, p))
		return;
	if (!auth || strncasecmp(auth, "Bearer ", 7) != 0) {
		SET_FIELD(p->why, "this API needs a token: 'Authorization: Bearer TOKEN' "
				  "('nua token create' makes one), or a login (/login)");
		return;
	}
	if (daemon_ctx(d, &ctx, &err) < 0) {
		SET_FIELD(p->why, "the daemon cannot check tokens now");
		nua_error_free(err);
		return;
	}
	if (token_check(ctx.st, auth + 7, &t, &err) < 0) {
		SET_FIELD(p->why, err->status == NUA_EINPUT ? err->msg : "cannot check the token");
		nua_error_free(err);
	} else {
		_cleanup_free_ char *who = xasprintf("token %s (%s)", t.name, t.id);

		p->known = true;
		SET_FIELD(p->who, who);
		SET_FIELD(p->role, t.role);
		SET_FIELD(p->instance, t.instance ? t.instance : "");
		SET_FIELD(p->token_id, t.id);
		token_rec_release(&t);
	}
	daemon_ctx_close(&ctx);
}

/* ---- what a request may do ---- */

static bool is(const char *a, const char *b)
{
	return streq(a, b);
}

/* ---- uploads ---- */

char *api_uploads_dir(void)
{
	return nua_root_path("uploads");
}

long long api_upload_max(void)
{
	const char *v = getenv("NUA_UPLOAD_MAX");
	char *end;
	long long n;

	if (!v || !*v)
		return 512LL << 20;
	n = strtoll(v, &end, 10);
	return *end || n <= 0 ? 512LL << 20 : n;
}

/* True when path is under dir (both resolved). */
static bool under(const char *dir, const char *path)
{
	_cleanup_free_ char *real_dir = NULL, *real = NULL;
	size_t n;

	if (!dir || !(real_dir = realpath(dir, NULL)) || !(real = realpath(path, NULL)))
		return false;
	n = strlen(real_dir);
	return strncmp(real, real_dir, n) == 0 && real[n] == '/';
}

bool api_in_uploads(const char *path)
{
	_cleanup_free_ char *dir = api_uploads_dir();

	return under(dir, path);
}

/* POST /v1/packages: the body, a package as 'nua deploy' writes it (the
 * archive of export, tar and zstd with a checksum of every file), checked
 * and extracted into uploads/ID. */
static enum MHD_Result h_package(struct MHD_Connection *c, const struct request *req)
{
	_cleanup_free_ char *dir = api_uploads_dir(), *id = NULL, *pkg = NULL, *cfg = NULL;
	struct nua_error *err = NULL;
	unsigned char raw[8];

	if (req->upload_fd < 0 || !req->upload_path)
		return send_error(c, 500, "cannot keep the upload in '%s'", dir);
	if (req->upload_len == 0)
		return send_error(c, 400, "the upload is empty: send the package's archive");
	randombytes_buf(raw, sizeof(raw));
	id = xmalloc(2 * sizeof(raw) + 1);
	sodium_bin2hex(id, 2 * sizeof(raw) + 1, raw, sizeof(raw));
	pkg = xasprintf("%s/%s", dir, id);
	if (archive_tree_read(req->upload_path, pkg, &err) < 0) {
		nua_error_prefix(&err, "the upload is not a package archive");
		return send_nua_error(c, err);
	}
	cfg = xasprintf("%s/nua-config.toml", pkg);
	if (access(cfg, F_OK) < 0) {
		remove_tree(pkg);
		return send_error(c, 400, "the upload holds no nua-config.toml at its top");
	}
	return send_json(c, 201, json_pack("{s:s, s:s}", "package", id, "path", pkg));
}

/* Remove what uploads left that is older than an hour (their images are
 * built by then). */
void api_uploads_prune(void)
{
	_cleanup_free_ char *dir = api_uploads_dir();
	DIR *d = opendir(dir);
	struct dirent *de;
	time_t now = time(NULL);

	if (!d)
		return;
	while ((de = readdir(d))) {
		_cleanup_free_ char *p = NULL;
		struct stat sb;

		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		p = xasprintf("%s/%s", dir, de->d_name);
		if (lstat(p, &sb) == 0 && now - sb.st_mtime > 3600)
			remove_tree(p);
	}
	closedir(d);
}

/* True when path is the store's package of an app: `nua install` from
 * afar deploys it by its path on the server. */
static bool in_store(const char *path)
{
	_cleanup_free_ char *dir = store_dir();

	return under(dir, path);
}

/* POST /v1/images of an uploaded package. */
static bool build_of_upload(const struct request *req)
{
	struct api_path_body b;
	bool ok = api_parse_path_body(API_BUILD, req->body.buf, req->body.len, &b, NULL) == 0 &&
		  b.path && api_in_uploads(b.path);

	api_path_body_release(&b);
	return ok;
}

/* Why the body of POST .../upgrade (a package on the server) or .../restore
 * (a copy as another instance, for a token of one instance) is not for the
 * request's principal, or NULL. */
static const char *change_forbidden(const struct request *req, const char *sub)
{
	const char *why = NULL;

	if (is(sub, "upgrade")) {
		struct api_upgrade u;

		if (api_parse_upgrade(req->body.buf, req->body.len, &u, NULL) == 0 && u.source &&
		    u.source[0] == '/' && !in_store(u.source) && !api_in_uploads(u.source))
			why = "a package on the server's disk cannot be named through the remote "
			      "API: upgrade to an image, the store's version, or a directory of "
			      "yours (nua uploads it)";
		api_upgrade_release(&u);
	} else if (is(sub, "restore") && req->who.instance[0]) {
		struct api_snapshot_body b;

		if (api_parse_snapshot_body(API_RESTORE_SNAPSHOT, req->body.buf, req->body.len, &b,
					    NULL) == 0 &&
		    b.as)
			why = "this token is limited to its instance: it cannot restore a copy as "
			      "another";
		api_snapshot_body_release(&b);
	}
	return why;
}

/* Why the body of POST /v1/instances is not for p, or NULL. */
static const char *deploy_forbidden(const struct request *req)
{
	const struct principal *p = &req->who;
	struct api_deploy dep;
	const char *why = NULL;

	/* A malformed body is the route's to refuse. */
	if (api_parse_deploy(req->body.buf, req->body.len, &dep, NULL) < 0) {
		api_deploy_release(&dep);
		return NULL;
	}
	if (dep.source && dep.source[0] == '/' && !in_store(dep.source) &&
	    !api_in_uploads(dep.source))
		why = "a package on the server's disk cannot be deployed through the remote API: "
		      "deploy an image, an app of the store, or a directory of yours (nua uploads "
		      "it)";
	else if (p->instance[0] && (!dep.name || !is(dep.name, p->instance)))
		why = "this token may deploy its own instance only (give its name)";
	api_deploy_release(&dep);
	return why;
}

const char *api_forbidden(struct MHD_Connection *c, const struct request *req, const char *method,
			  char seg[][API_SEGMENT_MAX], size_t n)
{
	const struct principal *p = &req->who;
	bool get = is(method, "GET"), post = is(method, "POST");
	const char *top = seg[1], *name = n >= 3 ? seg[2] : NULL;
	bool inst = is(top, "instances"), inst_path = inst && n >= 3;
	bool admin = is(p->role, "admin"), deploy = admin || is(p->role, "deploy");
	const char *sub = n >= 4 ? seg[3] : NULL;

	if (!p->remote)
		return NULL;
	/* A session's changes carry its CSRF token: a page of another site
	 * can make the browser send the cookie, not read the token. */
	if (p->csrf[0] && !get) {
		const char *t = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-CSRF-Token");

		if (!t || strlen(t) != strlen(p->csrf) ||
		    sodium_memcmp(t, p->csrf, strlen(p->csrf)) != 0)
			return "a change made with a login needs its X-CSRF-Token header";
	}
	/* The users of apps: who they are, and the store. */
	if (is(p->role, "user"))
		return get && (is(top, "me") || is(top, "health") || is(top, "version") ||
			       is(top, "store"))
			       ? NULL
			       : "this needs a user of the admin role";
	/* What reads or writes the server's own files by path, or hands out
	 * the backups' key: root's, on the server. */
	if ((is(top, "images") && post && !(n == 2 && build_of_upload(req))) || is(top, "import") ||
	    is(top, "restore") ||
	    (inst_path && sub && (is(sub, "export") || is(sub, "resources"))) ||
	    (is(top, "backup") && n >= 3 &&
	     (is(seg[2], "key") || (is(seg[2], "targets") && !get))) ||
	    (is(top, "tls") && !get && !(n == 3 && is(seg[2], "renew") && admin)))
		return "this is done on the server itself (nua on its unix socket): it reads or "
		       "writes the server's files, or its backup key";
	if (admin)
		return inst && n == 2 && post	  ? deploy_forbidden(req)
		       : inst_path && sub && post ? change_forbidden(req, sub)
						  : NULL;
	/* Tokens of the deploy and read roles. */
	if (is(top, "users") || is(top, "groups") || is(top, "tokens") || is(top, "audit") ||
	    is(top, "backup") || is(top, "tls") || is(top, "resources") || is(top, "server"))
		return "this needs a token of the admin role";
	if (p->instance[0]) {
		if (inst_path && !is(name, p->instance))
			return "this token is limited to another instance";
		if (!inst && !is(top, "health") && !is(top, "version") && !is(top, "me") &&
		    !is(top, "store") && !(is(top, "packages") && post) &&
		    !(is(top, "images") && post && n == 2) &&
		    !(is(top, "events") && get && arg(c, "instance") &&
		      is(arg(c, "instance"), p->instance)))
			return "this token is limited to one instance";
	}
	if (get) {
		if (inst_path && sub && is(sub, "env") && !deploy &&
		    (arg_true(c, "show_secrets") || arg_true(c, "show-secrets")))
			return "secrets need a token of the deploy or admin role";
		return NULL;
	}
	if (!deploy)
		return "this token may only read (its role is read)";
	if (inst && n == 2 && post)
		return deploy_forbidden(req);
	if ((is(top, "packages") || is(top, "images")) && n == 2 && post)
		return NULL;
	if (inst_path && n == 3)
		return "removing an instance needs a token of the admin role";
	if (inst_path && sub &&
	    (is(sub, "start") || is(sub, "stop") || is(sub, "restart") || is(sub, "upgrade") ||
	     is(sub, "rollback") || is(sub, "backup") || is(sub, "restore") || is(sub, "env") ||
	     is(sub, "domains") || is(sub, "tls")))
		return post ? change_forbidden(req, sub) : NULL;
	return "this needs a token of the admin role";
}

void api_audit(struct daemon *d, const struct request *req, const char *method, const char *url,
	       unsigned status)
{
	struct nua_ctx ctx;
	struct nua_error *err = NULL;

	if (daemon_ctx(d, &ctx, &err) < 0 ||
	    audit_add(ctx.st, req->who.known ? req->who.who : "unknown", req->who.origin, method,
		      url, (int)status, &err) < 0)
		daemon_log("audit: %s", err ? err->msg : "?");
	nua_error_free(err);
	daemon_ctx_close(&ctx);
}

/* ---- the endpoints ---- */

static enum MHD_Result send_result(struct MHD_Connection *c, int r, struct nua_error *err,
				   unsigned status, json_t *j)
{
	if (r < 0) {
		json_decref(j);
		return send_nua_error(c, err);
	}
	return send_json(c, status, j ? j : json_object());
}

static enum MHD_Result h_me(struct MHD_Connection *c, const struct principal *p)
{
	return send_json(c, 200,
			 json_pack("{s:s, s:s, s:s, s:o, s:b, s:o}", "who", p->who, "origin",
				   p->origin, "role", p->role, "instance",
				   p->instance[0] ? json_string(p->instance) : json_null(),
				   "remote", p->remote, "csrf",
				   p->csrf[0] ? json_string(p->csrf) : json_null()));
}

/* POST /v1/users, PATCH and DELETE /v1/users/NAME */
static enum MHD_Result h_users(struct MHD_Connection *c, struct nua_ctx *ctx, const char *method,
			       const char *name, const struct request *req)
{
	struct nua_error *err = NULL;
	struct api_user u;
	void *list = NULL;
	int r = 0;

	if (is(method, "GET")) {
		r = user_list(ctx->st, &list, &err);
		return send_result(c, r, err, 200, list);
	}
	if (is(method, "DELETE")) {
		r = user_remove(ctx->st, name, &err);
		return send_result(c, r, err, 200, NULL);
	}
	r = api_parse_user(req->body.buf, req->body.len,
			   is(method, "POST") ? API_USER_ADD : API_USER_PATCH, &u, &err);
	if (r == 0 && is(method, "POST")) {
		r = user_add(ctx->st, u.name, u.email, u.role ? u.role : "user", u.password, &err);
		name = u.name;
	} else if (r == 0) {
		/* Each change checked before any is made. */
		if (u.role && !user_valid_role(u.role))
			r = nua_error_set(&err, NUA_EINPUT, "invalid role '%s': admin or user",
					  u.role);
		if (r == 0 && u.role)
			r = user_set_role(ctx->st, name, u.role, &err);
		if (r == 0 && u.password)
			r = user_set_password(ctx->st, name, u.password, &err);
		if (r == 0 && u.email)
			r = user_set_email(ctx->st, name, u.email, &err);
	}
	{
		json_t *j = r == 0 ? json_pack("{s:s}", "name", name) : NULL;

		api_user_release(&u);
		return send_result(c, r, err, is(method, "POST") ? 201 : 200, j);
	}
}

/* POST /v1/users/NAME/totp: a new secret and its URI, then, with a code
 * that proves the authenticator has it, TOTP on and the recovery codes;
 * DELETE: off. */
static enum MHD_Result h_totp(struct MHD_Connection *c, struct nua_ctx *ctx, const char *method,
			      const char *name, const struct request *req)
{
	struct nua_error *err = NULL;
	struct api_user u;
	char **codes = NULL;
	json_t *j = NULL, *a;
	int r;

	if (is(method, "DELETE")) {
		r = user_totp_disable(ctx->st, name, &err);
		return send_result(c, r, err, 200, NULL);
	}
	r = api_parse_user(req->body.buf, req->body.len, API_USER_TOTP, &u, &err);
	if (r == 0 && !u.secret) {
		_cleanup_free_ char *secret = NULL, *uri = NULL;

		if (!user_valid_name(name)) {
			api_user_release(&u);
			return send_error(c, 404, "no user '%s'", name);
		}
		totp_new(name, &secret, &uri);
		j = json_pack("{s:s, s:s}", "secret", secret, "uri", uri);
	} else if (r == 0 &&
		   (r = user_totp_enable(ctx->st, name, u.secret, u.code, &codes, &err)) == 0) {
		a = json_array();
		for (size_t i = 0; codes[i]; i++)
			json_array_append_new(a, json_string(codes[i]));
		j = json_pack("{s:o}", "recovery_codes", a);
		strv_free(codes);
	}
	api_user_release(&u);
	return send_result(c, r, err, 200, j);
}

/* GET, POST, DELETE /v1/instances/NAME/access: the rules; a change
 * renders the instance's route again (nginx asks the daemon, or not). */
static enum MHD_Result h_access(struct daemon *d, struct MHD_Connection *c, struct nua_ctx *ctx,
				const char *method, const char *name, const struct request *req)
{
	struct nua_error *err = NULL;
	struct api_access a;
	void *rules = NULL;
	int r = 0;

	if (!is(method, "GET")) {
		r = api_parse_access(req->body.buf, req->body.len, is(method, "DELETE"), &a, &err);
		if (r == 0) {
			daemon_lock(d, name);
			r = is(method, "DELETE")
				    ? access_remove(ctx->st, name, a.path, &err)
				    : access_set(ctx->st, name, a.path, a.private_, a.allow, &err);
			if (r == 0)
				r = instance_route_refresh(ctx, name, &err);
			daemon_unlock(d, name);
		}
		api_access_release(&a);
		if (r < 0)
			return send_nua_error(c, err);
	}
	if (access_list(ctx->st, name, &rules, &err) < 0)
		return send_nua_error(c, err);
	return send_json(c, 200, json_pack("{s:s, s:o}", "name", name, "rules", rules));
}

/* /v1/groups, /v1/groups/NAME, /v1/groups/NAME/members */
static enum MHD_Result h_groups(struct MHD_Connection *c, struct nua_ctx *ctx, const char *method,
				const char *name, bool members, const struct request *req)
{
	struct nua_error *err = NULL;
	struct api_user u;
	void *list = NULL;
	int r;

	if (is(method, "GET")) {
		r = group_list(ctx->st, &list, &err);
		return send_result(c, r, err, 200, list);
	}
	if (is(method, "DELETE") && !members) {
		r = group_remove(ctx->st, name, &err);
		return send_result(c, r, err, 200, NULL);
	}
	r = api_parse_user(req->body.buf, req->body.len, members ? API_GROUP_MEMBER : API_GROUP_ADD,
			   &u, &err);
	if (r == 0)
		r = members ? group_set_member(ctx->st, name, u.user, is(method, "POST"), &err)
			    : group_add(ctx->st, u.name, &err);
	api_user_release(&u);
	return send_result(c, r, err, is(method, "POST") && !members ? 201 : 200, NULL);
}

/* /v1/tokens, /v1/tokens/KEY */
static enum MHD_Result h_tokens(struct MHD_Connection *c, struct nua_ctx *ctx, const char *method,
				const char *key, const struct request *req)
{
	struct nua_error *err = NULL;
	struct api_user u;
	void *list = NULL;
	char *token = NULL, *id = NULL;
	json_t *j = NULL;
	int r;

	if (is(method, "GET")) {
		r = token_list(ctx->st, &list, &err);
		return send_result(c, r, err, 200, list);
	}
	if (is(method, "DELETE")) {
		r = token_remove(ctx->st, key, &err);
		return send_result(c, r, err, 200, NULL);
	}
	r = api_parse_user(req->body.buf, req->body.len, API_TOKEN_CREATE, &u, &err);
	if (r == 0)
		r = token_create(ctx->st, u.name, u.role ? u.role : "deploy", u.instance, NULL,
				 u.expires_in ? (int64_t)time(NULL) + u.expires_in : 0, &token, &id,
				 &err);
	if (r == 0)
		j = json_pack("{s:s, s:s, s:s, s:s, s:o}", "id", id, "name", u.name, "token", token,
			      "role", u.role ? u.role : "deploy", "instance",
			      u.instance ? json_string(u.instance) : json_null());
	if (token)
		explicit_bzero(token, strlen(token));
	free(token);
	free(id);
	api_user_release(&u);
	return send_result(c, r, err, 201, j);
}

static enum MHD_Result h_audit(struct MHD_Connection *c, struct nua_ctx *ctx)
{
	struct nua_error *err = NULL;
	void *list = NULL;
	int r = audit_list(ctx->st, arg_int(c, "since", -1), arg_int(c, "limit", 100), &list, &err);

	return send_result(c, r, err, 200, list);
}

/* ---- the admin domain ---- */

#define ADMIN_DOMAIN_KEY "server.admin_domain"

int api_admin_apply(struct nua_ctx *ctx, struct nua_error **err)
{
	_cleanup_free_ char *domain = NULL, *sock = NULL, *up = NULL;
	struct proxy *p = &ctx->proxy;
	struct proxy_route r;

	if (state_setting_get(ctx->st, ADMIN_DOMAIN_KEY, &domain, err) < 0)
		return -1;
	if (!domain) {
		struct proxy_route *routes = NULL;
		size_t n = 0;
		bool have = false;

		if (proxy_list_routes(p, &routes, &n, err) < 0)
			return -1;
		for (size_t i = 0; i < n; i++)
			have = have || streq(routes[i].name, PROXY_ADMIN_ROUTE);
		proxy_route_list_free(routes, n);
		return have ? proxy_remove_route(p, PROXY_ADMIN_ROUTE, err) : 0;
	}
	/* A development domain's certificate is made at once, as an
	 * instance's; a public one's comes from the TLS pass. */
	if (p->https_port && tls_uses_local(ctx, domain) && tls_local_ensure(ctx, domain, err) < 0)
		return -1;
	sock = proxy_api_socket(p);
	up = xasprintf("unix:%s", sock);
	r = (struct proxy_route){ PROXY_ADMIN_ROUTE, domain, "/", up, true, true, NULL, 0, NULL };
	return proxy_set_route(p, &r, err);
}

/* The remote API's URL, or null: HTTPS when the server serves it (the
 * domain's certificate comes within seconds, at once from the local CA). */
static json_t *admin_url(struct nua_ctx *ctx, const char *domain)
{
	bool https = ctx->proxy.https_port != 0;
	int port = https ? ctx->proxy.https_port : ctx->proxy.port;

	if (!domain)
		return json_null();
	if (port == (https ? 443 : 80))
		return json_sprintf("%s://%s", https ? "https" : "http", domain);
	return json_sprintf("%s://%s:%d", https ? "https" : "http", domain, port);
}

/* GET, PATCH /v1/server: {"admin_domain": S | null} */
static enum MHD_Result h_server(struct MHD_Connection *c, struct nua_ctx *ctx, const char *method,
				const struct request *req)
{
	struct nua_error *err = NULL;
	_cleanup_free_ char *domain = NULL, *old = NULL;
	json_t *body, *v;
	json_error_t jerr;
	int r = 0;

	if (is(method, "PATCH")) {
		body = json_loadb(req->body.buf, req->body.len, JSON_REJECT_DUPLICATES, &jerr);
		v = json_is_object(body) && json_object_size(body) == 1
			    ? json_object_get(body, "admin_domain")
			    : NULL;
		if (!v || !(json_is_null(v) || json_is_string(v))) {
			json_decref(body);
			return send_error(c, 400,
					  "bad server request: {\"admin_domain\": DOMAIN or null}");
		}
		if (json_is_string(v) && !proxy_valid_domain(json_string_value(v))) {
			r = nua_error_set(&err, NUA_EINPUT, "invalid domain '%s'",
					  json_string_value(v));
		} else if (json_is_string(v)) {
			r = state_domain_free(ctx->st, json_string_value(v), "/", &err);
		}
		if (r == 0)
			r = state_setting_get(ctx->st, ADMIN_DOMAIN_KEY, &old, &err);
		if (r == 0)
			r = state_setting_set(ctx->st, ADMIN_DOMAIN_KEY,
					      json_is_string(v) ? json_string_value(v) : NULL,
					      &err);
		json_decref(body);
		if (r == 0 && api_admin_apply(ctx, &err) < 0) {
			/* nginx refused it: the setting goes back. */
			state_setting_set(ctx->st, ADMIN_DOMAIN_KEY, old, NULL);
			api_admin_apply(ctx, NULL);
			r = -1;
		}
		if (r < 0)
			return send_nua_error(c, err);
	}
	if (state_setting_get(ctx->st, ADMIN_DOMAIN_KEY, &domain, &err) < 0)
		return send_nua_error(c, err);
	return send_json(c, 200,
			 json_pack("{s:o, s:o}", "admin_domain",
				   domain ? json_string(domain) : json_null(), "api_url",
				   admin_url(ctx, domain)));
}

enum MHD_Result api_access_route(struct daemon *d, struct MHD_Connection *c, const char *method,
				 char seg[][API_SEGMENT_MAX], size_t n, const struct request *req,
				 bool *handled)
{
	const char *top = seg[1], *name = n >= 3 ? seg[2] : NULL;
	bool get = is(method, "GET"), post = is(method, "POST"), del = is(method, "DELETE");
	bool patch = is(method, "PATCH");
	struct nua_ctx ctx;
	struct nua_error *err = NULL;
	enum MHD_Result ret;

	*handled = true;
	if (n == 2 && is(top, "me") && get)
		return h_me(c, &req->who);
	if (n == 2 && is(top, "packages") && post)
		return h_package(c, req);
	if (n == 4 && is(top, "instances") && is(seg[3], "access") && (get || post || del)) {
		if (daemon_ctx(d, &ctx, &err) < 0)
			return send_nua_error(c, err);
		ret = h_access(d, c, &ctx, method, name, req);
		daemon_ctx_close(&ctx);
		return ret;
	}
	if (!(is(top, "users") || is(top, "groups") || is(top, "tokens") || is(top, "audit") ||
	      is(top, "server"))) {
		*handled = false;
		return MHD_NO;
	}
	if (daemon_ctx(d, &ctx, &err) < 0)
		return send_nua_error(c, err);
	if (is(top, "users") && ((n == 2 && (get || post)) || (n == 3 && (patch || del))))
		ret = h_users(c, &ctx, method, name, req);
	else if (is(top, "users") && n == 4 && is(seg[3], "totp") && (post || del))
		ret = h_totp(c, &ctx, method, name, req);
	else if (is(top, "groups") && ((n == 2 && (get || post)) || (n == 3 && del)))
		ret = h_groups(c, &ctx, method, name, false, req);
	else if (is(top, "groups") && n == 4 && is(seg[3], "members") && (post || del))
		ret = h_groups(c, &ctx, method, name, true, req);
	else if (is(top, "tokens") && ((n == 2 && (get || post)) || (n == 3 && del)))
		ret = h_tokens(c, &ctx, method, name, req);
	else if (is(top, "audit") && n == 2 && get)
		ret = h_audit(c, &ctx);
	else if (is(top, "server") && n == 2 && (get || patch))
		ret = h_server(c, &ctx, method, req);
	else
		ret = send_error(c, n <= 4 ? 405 : 404,
				 "%s is not allowed on this path (see docs/api.md)", method);
	daemon_ctx_close(&ctx);
	return ret;
}
