/* Access control of apps: see access.h. */
#define _GNU_SOURCE
#include "access.h"

#include <jansson.h>
#include <sqlite3.h>
#include <string.h>
#include <time.h>

#include "proxy_nginx.h"
#include "secret.h"
#include "users.h"
#include "util.h"
#include "banned.h"

static int64_t now(void)
{
	return (int64_t)time(NULL);
}

/* Each entry of a comma-separated allow list: a user name or @group. */
static int check_allow(const char *allow, struct nua_error **err)
{
	_cleanup_free_ char *copy = xstrdup(allow ? allow : "");
	char *save = NULL;

	for (char *e = strtok_r(copy, ",", &save); e; e = strtok_r(NULL, ",", &save)) {
		if (!user_valid_name(e[0] == '@' ? e + 1 : e))
			return nua_error_set(
				err, NUA_EINPUT,
				"invalid entry '%s' in the allow list: a user name, or "
				"@ and a group name",
				e);
	}
	return 0;
}

int access_set(struct state *st, const char *instance, const char *path, bool private_,
	       const char *allow, struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	_cleanup_free_ char *norm = NULL;

	if (!path || path[0] != '/' || strpbrk(path, " \t\r\n?#%\"'<>\\;{}$") ||
	    strstr(path, "/../") || strstr(path, "//"))
		return nua_error_set(err, NUA_EINPUT,
				     "invalid path '%s': a URL prefix such as / or /admin",
				     path ? path : "");
	norm = proxy_normalise_path(path);
	if (!private_ && allow && allow[0])
		return nua_error_set(err, NUA_EINPUT, "an allow list is for a private rule");
	if (check_allow(allow, err) < 0)
		return -1;
	if (state_prepare(st, "SELECT 1 FROM instances WHERE name = ?", &s, err) < 0)
		return -1;
	state_bind_text(s, 1, instance);
	if (sqlite3_step(s) != SQLITE_ROW)
		return nua_error_set(err, NUA_EINPUT,
				     "no instance named '%s' ('nua ls' lists them)", instance);
	sqlite3_finalize(s);
	s = NULL;
	if (state_prepare(st,
			  "INSERT OR REPLACE INTO access_rules (instance, path, private, allow) "
			  "VALUES (?, ?, ?, ?)",
			  &s, err) < 0)
		return -1;
	state_bind_text(s, 1, instance);
	state_bind_text(s, 2, norm);
	sqlite3_bind_int(s, 3, private_);
	state_bind_text(s, 4, private_ && allow ? allow : "");
	if (sqlite3_step(s) != SQLITE_DONE)
		return state_db_error(st, err, "cannot write an access rule");
	return 0;
}

int access_remove(struct state *st, const char *instance, const char *path, struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	_cleanup_free_ char *norm = proxy_normalise_path(path ? path : "/");

	if (state_prepare(st, "DELETE FROM access_rules WHERE instance = ? AND path = ?", &s, err) <
	    0)
		return -1;
	state_bind_text(s, 1, instance);
	state_bind_text(s, 2, norm);
	if (sqlite3_step(s) != SQLITE_DONE)
		return state_db_error(st, err, "cannot remove an access rule");
	if (sqlite3_changes(state_db(st)) == 0)
		return nua_error_set(err, NUA_EINPUT, "'%s' has no access rule for '%s'", instance,
				     norm);
	return 0;
}

int access_list(struct state *st, const char *instance, void **out, struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	json_t *a = json_array();
	int r;

	*out = NULL;
	if (state_prepare(st,
			  "SELECT path, private, allow FROM access_rules WHERE instance = ? "
			  "ORDER BY path",
			  &s, err) < 0) {
		json_decref(a);
		return -1;
	}
	state_bind_text(s, 1, instance);
	while ((r = sqlite3_step(s)) == SQLITE_ROW) {
		const char *allow = (const char *)sqlite3_column_text(s, 2);
		json_t *list = json_array();
		_cleanup_free_ char *copy = xstrdup(allow ? allow : "");
		char *save = NULL;

		for (char *e = strtok_r(copy, ",", &save); e; e = strtok_r(NULL, ",", &save))
			json_array_append_new(list, json_string(e));
		json_array_append_new(a, json_pack("{s:s, s:b, s:o}", "path",
						   sqlite3_column_text(s, 0), "private",
						   sqlite3_column_int(s, 1), "allow", list));
	}
	if (r != SQLITE_DONE) {
		json_decref(a);
		return state_db_error(st, err, "cannot read the access rules");
	}
	*out = a;
	return 0;
}

bool access_protected(struct state *st, const char *instance)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;

	if (state_prepare(st, "SELECT 1 FROM access_rules WHERE instance = ? AND private = 1", &s,
			  NULL) < 0)
		return false;
	state_bind_text(s, 1, instance);
	return sqlite3_step(s) == SQLITE_ROW;
}

/* True when rule path prefix covers path: "/" everything, "/a" "/a" and
 * "/a/...". */
static bool covers(const char *prefix, const char *path)
{
	size_t n = strlen(prefix);

	if (streq(prefix, "/"))
		return true;
	return strncmp(path, prefix, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* True when user is in the allow list: by name, or in a @group. */
static bool allowed(struct state *st, const char *allow, const char *user)
{
	_cleanup_free_ char *copy = xstrdup(allow);
	char *save = NULL;

	if (!allow[0])
		return true;
	for (char *e = strtok_r(copy, ",", &save); e; e = strtok_r(NULL, ",", &save)) {
		_cleanup_stmt_ sqlite3_stmt *s = NULL;

		if (e[0] != '@') {
			if (streq(e, user))
				return true;
			continue;
		}
		if (state_prepare(st, "SELECT 1 FROM group_members WHERE grp = ? AND user = ?", &s,
				  NULL) < 0)
			return false;
		state_bind_text(s, 1, e + 1);
		state_bind_text(s, 2, user);
		if (sqlite3_step(s) == SQLITE_ROW)
			return true;
	}
	return false;
}

enum access_decision access_decide(struct state *st, const char *instance, const char *path,
				   const char *user)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	_cleanup_free_ char *best_allow = NULL;
	size_t best = 0;
	int best_private = 0;
	bool found = false;

	if (state_prepare(st, "SELECT path, private, allow FROM access_rules WHERE instance = ?",
			  &s, NULL) < 0)
		return ACCESS_LOGIN; /* closed when the rules cannot be read */
	state_bind_text(s, 1, instance);
	while (sqlite3_step(s) == SQLITE_ROW) {
		const char *p = (const char *)sqlite3_column_text(s, 0);
		size_t n = strlen(p);

		if (!covers(p, path) || (found && n <= best))
			continue;
		found = true;
		best = n;
		best_private = sqlite3_column_int(s, 1);
		free(best_allow);
		best_allow = xstrdup((const char *)sqlite3_column_text(s, 2));
	}
	if (!found || !best_private)
		return ACCESS_PUBLIC;
	if (!user)
		return ACCESS_LOGIN;
	return allowed(st, best_allow, user) ? ACCESS_ALLOWED : ACCESS_FORBIDDEN;
}

/* ---- carrying a login to an app's domain ---- */

int access_code_create(struct state *st, const char *user, const char *domain, const char *portal,
		       char **code, struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	_cleanup_free_ char *c = secret_random_string(32);
	char h[65];

	*code = NULL;
	secret_sha256_hex(c, h);
	/* Old codes go first: they live a minute. */
	if (state_exec(st, "DELETE FROM app_codes WHERE expires_at < strftime('%s')", err) < 0 ||
	    state_prepare(st,
			  "INSERT INTO app_codes (hash, user, domain, portal, expires_at) "
			  "VALUES (?, ?, ?, ?, ?)",
			  &s, err) < 0)
		return -1;
	state_bind_text(s, 1, h);
	state_bind_text(s, 2, user);
	state_bind_text(s, 3, domain);
	state_bind_text(s, 4, portal);
	sqlite3_bind_int64(s, 5, now() + 60);
	if (sqlite3_step(s) != SQLITE_DONE)
		return state_db_error(st, err, "cannot write a login code");
	*code = TAKE_PTR(c);
	return 0;
}

int access_code_take(struct state *st, const char *code, const char *domain, char **user,
		     char **portal, struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	char h[65];

	*user = *portal = NULL;
	if (!code || strlen(code) != 32)
		return nua_error_set(err, NUA_EINPUT, "this login link is not valid: log in again");
	secret_sha256_hex(code, h);
	if (state_prepare(st,
			  "DELETE FROM app_codes WHERE hash = ? AND domain = ? AND expires_at >= ? "
			  "RETURNING user, portal",
			  &s, err) < 0)
		return -1;
	state_bind_text(s, 1, h);
	state_bind_text(s, 2, domain);
	sqlite3_bind_int64(s, 3, now());
	if (sqlite3_step(s) != SQLITE_ROW)
		return nua_error_set(err, NUA_EINPUT,
				     "this login link is used, expired or for another site: log "
				     "in again");
	*user = state_column_text(s, 0);
	*portal = state_column_text(s, 1);
	return 0;
}

int access_session_create(struct state *st, const char *user, const char *domain,
			  const char *portal, char **cookie, struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	_cleanup_free_ char *c = secret_random_string(43);
	char h[65];

	*cookie = NULL;
	secret_sha256_hex(c, h);
	if (state_prepare(st,
			  "INSERT INTO app_sessions (id, user, domain, portal) VALUES (?, ?, ?, ?)",
			  &s, err) < 0)
		return -1;
	state_bind_text(s, 1, h);
	state_bind_text(s, 2, user);
	state_bind_text(s, 3, domain);
	state_bind_text(s, 4, portal);
	if (sqlite3_step(s) != SQLITE_DONE)
		return state_db_error(st, err, "cannot write an app session");
	*cookie = TAKE_PTR(c);
	return 0;
}

char *access_session_user(struct state *st, const char *cookie, const char *domain)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	char h[65];

	if (!cookie || strlen(cookie) != 43)
		return NULL;
	secret_sha256_hex(cookie, h);
	/* It lives as long as the portal's session it came from. */
	if (state_prepare(st,
			  "SELECT a.user FROM app_sessions a JOIN sessions p ON p.id = a.portal "
			  "WHERE a.id = ? AND a.domain = ? AND p.pending = 0 AND p.expires_at > ? "
			  "AND p.seen_at + ? > ?",
			  &s, NULL) < 0)
		return NULL;
	state_bind_text(s, 1, h);
	state_bind_text(s, 2, domain);
	sqlite3_bind_int64(s, 3, now());
	sqlite3_bind_int64(s, 4, SESSION_IDLE);
	sqlite3_bind_int64(s, 5, now());
	return sqlite3_step(s) == SQLITE_ROW ? state_column_text(s, 0) : NULL;
}

bool access_known_host(struct state *st, const char *host)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;

	if (!host || state_prepare(st,
				   "SELECT 1 FROM instances WHERE domain = ?1 UNION ALL "
				   "SELECT 1 FROM domain_aliases WHERE domain = ?1 LIMIT 1",
				   &s, NULL) < 0)
		return false;
	state_bind_text(s, 1, host);
	return sqlite3_step(s) == SQLITE_ROW;
}

bool access_user_info(struct state *st, const char *user, char **email, char **groups)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;

	*email = *groups = NULL;
	if (state_prepare(st,
			  "SELECT email, (SELECT group_concat(grp, ',') FROM (SELECT grp FROM "
			  "group_members WHERE user = ?1 ORDER BY grp)) FROM users WHERE name = ?1",
			  &s, NULL) < 0)
		return false;
	state_bind_text(s, 1, user);
	if (sqlite3_step(s) != SQLITE_ROW)
		return false;
	*email = state_column_text(s, 0);
	*groups = state_column_text(s, 1);
	if (!*groups)
		*groups = xstrdup("");
	return true;
}
