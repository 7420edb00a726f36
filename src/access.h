/* Access control of apps (docs/access.md): rules per instance and URL
 * prefix, public or private (a login needed, maybe of some users or
 * groups only), checked by nginx's auth_request against the daemon; the
 * one-time codes and the sessions that carry a portal login to an app's
 * own domain. Kept in the state database (schema 8). */
#ifndef NUA_ACCESS_H
#define NUA_ACCESS_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "state.h"

/* Make or replace the rule of instance for path ("/" or "/a/b"): private or
 * public; allow (for a private rule) is "" for any user who logs in, or a
 * comma-separated list of user names and @groups. */
int access_set(struct state *st, const char *instance, const char *path, bool private_,
	       const char *allow, struct nua_error **err);
int access_remove(struct state *st, const char *instance, const char *path, struct nua_error **err);
/* [{path, private, allow: [...]}] by path (a jansson json_t *). */
int access_list(struct state *st, const char *instance, void **out, struct nua_error **err);
/* True when a rule of instance is private: nginx asks the daemon. */
bool access_protected(struct state *st, const char *instance);

enum access_decision {
	ACCESS_PUBLIC,	  /* no login needed */
	ACCESS_ALLOWED,	  /* user may */
	ACCESS_LOGIN,	  /* a login is needed */
	ACCESS_FORBIDDEN, /* user may not */
};
/* What the rule of the longest prefix of path says for user (NULL: not
 * logged in). */
enum access_decision access_decide(struct state *st, const char *instance, const char *path,
				   const char *user);

/* A one-time code (60 s) that carries user's portal session (portal: its
 * id) to domain; *code receives it (caller frees). */
int access_code_create(struct state *st, const char *user, const char *domain, const char *portal,
		       char **code, struct nua_error **err);
/* Use up code for domain: *user and *portal receive its user and portal
 * session (caller frees); NUA_EINPUT when unknown, used, expired or for
 * another domain. */
int access_code_take(struct state *st, const char *code, const char *domain, char **user,
		     char **portal, struct nua_error **err);
/* A session of user on an app's domain, tied to a portal session: *cookie
 * receives its secret. */
int access_session_create(struct state *st, const char *user, const char *domain,
			  const char *portal, char **cookie, struct nua_error **err);
/* The user of an app session's cookie on domain (caller frees), or NULL
 * when there is none, it ended, or its portal session did. */
char *access_session_user(struct state *st, const char *cookie, const char *domain);

/* True when host is the domain (or an alias) of an instance: where a login
 * may be carried to. */
bool access_known_host(struct state *st, const char *host);
/* The email (or NULL) and groups ("a,b", or "") of user, for the app's
 * headers; false when there is no such user. Caller frees. */
bool access_user_info(struct state *st, const char *user, char **email, char **groups);

#endif
