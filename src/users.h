/* The people and programs that use Nua: users with argon2id passwords, a
 * role (admin or user) and groups; API tokens with a role (admin, deploy,
 * read) and maybe one instance they are limited to. Kept in the state
 * database (schema 6); docs/users.md. */
#ifndef NUA_USERS_H
#define NUA_USERS_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "state.h"

/* argon2id's cost: 3 passes over 64 MiB, one lane (RFC 9106's second
 * recommendation, with one lane: the daemon checks one login per thread). */
#define USER_ARGON2_T	  3
#define USER_ARGON2_M_KIB 65536
#define USER_ARGON2_P	  1
#define USER_PASSWORD_MIN 10
#define USER_PASSWORD_MAX 1024

/* A user or group name: a lowercase letter, then lowercase letters, digits,
 * '.', '_' and '-', at most 32. */
bool user_valid_name(const char *name);
bool user_valid_role(const char *role);

/* Hash password with argon2id (a random salt): *out is the encoded string
 * "$argon2id$v=19$m=...,t=...,p=...$SALT$HASH". A password shorter than
 * USER_PASSWORD_MIN or longer than USER_PASSWORD_MAX is NUA_EINPUT. */
int user_hash_password(const char *password, char **out, struct nua_error **err);
/* True when password matches the encoded hash. */
bool user_password_matches(const char *encoded, const char *password);

int user_add(struct state *st, const char *name, const char *email, const char *role,
	     const char *password, struct nua_error **err);
int user_remove(struct state *st, const char *name, struct nua_error **err);
int user_set_password(struct state *st, const char *name, const char *password,
		      struct nua_error **err);
int user_set_role(struct state *st, const char *name, const char *role, struct nua_error **err);
/* An empty email removes it. */
int user_set_email(struct state *st, const char *name, const char *email, struct nua_error **err);
/* [{name, email, role, groups: [...], created_at, password_at}] by name;
 * *out is a jansson json_t * (void * keeps jansson out of this header). */
int user_list(struct state *st, void **out, struct nua_error **err);
/* 0 when name's password is password (*role, when not NULL, receives its
 * role; the caller frees it); otherwise NUA_EINPUT "wrong user name or
 * password", the same words for an unknown user. The hash is computed even
 * for an unknown user, so that the time does not tell. */
int user_authenticate(struct state *st, const char *name, const char *password, char **role,
		      struct nua_error **err);

int group_add(struct state *st, const char *name, struct nua_error **err);
int group_remove(struct state *st, const char *name, struct nua_error **err);
/* [{name, members: [...], created_at}] */
int group_list(struct state *st, void **out, struct nua_error **err);
int group_set_member(struct state *st, const char *group, const char *user, bool add,
		     struct nua_error **err);

/* ---- tokens ---- */

bool token_valid_role(const char *role);

/* A new token "nua_ID_SECRET": its id is 12 hex digits, shown in lists; only
 * the SHA-256 of the whole token is kept. *token receives it (the only time
 * it is known), *id its id. instance (may be NULL) limits it to that
 * instance; expires_at 0 is never. */
int token_create(struct state *st, const char *name, const char *role, const char *instance,
		 const char *owner, int64_t expires_at, char **token, char **id,
		 struct nua_error **err);
/* [{id, name, role, instance, owner, created_at, expires_at, last_used_at}] */
int token_list(struct state *st, void **out, struct nua_error **err);
/* Remove the token whose id or name is key (a name shared by several
 * tokens is NUA_EINPUT, asking for the id). */
int token_remove(struct state *st, const char *key, struct nua_error **err);

struct token_rec {
	char *id, *name, *role, *instance, *owner;
};
void token_rec_release(struct token_rec *t);
/* Check a token a client sent: 0 and *out filled when it is known and not
 * expired (its last use is recorded); NUA_EINPUT "invalid or expired
 * token" otherwise. */
int token_check(struct state *st, const char *token, struct token_rec *out, struct nua_error **err);

/* ---- TOTP, the second factor (RFC 6238: HMAC-SHA1, 30 s, 6 digits) ---- */

#define TOTP_SECRET_BYTES   20
#define TOTP_RECOVERY_CODES 10

/* The code of the base32 secret at unix time t into code[7]; -1 for a
 * secret that is not base32. */
int totp_code(const char *secret_b32, int64_t t, char code[7]);
/* A new secret (base32, caller frees) and its otpauth:// URI for user. */
void totp_new(const char *user, char **secret_b32, char **uri);
/* Turn TOTP on for user with secret_b32, once code proves the
 * authenticator has it: the secret is sealed, and *codes (NULL-terminated,
 * caller frees) receives TOTP_RECOVERY_CODES one-time recovery codes, of
 * which only the hashes are kept. A wrong code is NUA_EINPUT. */
int user_totp_enable(struct state *st, const char *user, const char *secret_b32, const char *code,
		     char ***codes, struct nua_error **err);
int user_totp_disable(struct state *st, const char *user, struct nua_error **err);
bool user_has_totp(struct state *st, const char *user);
/* 0 when code is user's current code (the step before or after too, for
 * clocks a little apart; a step used once is refused after) or one of its
 * recovery codes (used up by this); NUA_EINPUT otherwise. */
int user_totp_check(struct state *st, const char *user, const char *code, int64_t now,
		    struct nua_error **err);

/* ---- sessions of the login portal ---- */

#define SESSION_LIFE (7 * 86400) /* at most, from the login */
#define SESSION_IDLE (12 * 3600) /* without a request */

/* A new session of user: *cookie receives the secret for the client's
 * cookie (only its SHA-256 is kept), *csrf the token its forms and
 * API requests must carry. */
int session_create(struct state *st, const char *user, const char *origin, char **cookie,
		   char **csrf, struct nua_error **err);
/* As session_create, for a user whose second factor is still to come: the
 * session counts for nothing (session_check refuses it) until
 * session_confirm, within five minutes. */
int session_create_pending(struct state *st, const char *user, const char *origin, char **cookie,
			   char **csrf, struct nua_error **err);
/* The user and CSRF token of a pending session (caller frees both); false
 * when there is none. */
bool session_pending(struct state *st, const char *cookie, char **user, char **csrf);
int session_confirm(struct state *st, const char *cookie, struct nua_error **err);
struct session_rec {
	char *user, *role, *csrf;
	int64_t created_at, expires_at;
};
void session_rec_release(struct session_rec *s);
/* 0 and *out for a live session (its last use recorded), NUA_EINPUT
 * otherwise ("not logged in"). */
int session_check(struct state *st, const char *cookie, struct session_rec *out,
		  struct nua_error **err);
/* The id a session's cookie is kept as (its SHA-256, hexadecimal). */
void session_id(const char *cookie, char id[65]);
/* End the session of cookie; with everywhere, every session of its user. */
int session_end(struct state *st, const char *cookie, bool everywhere, struct nua_error **err);

/* ---- failed logins ---- */

#define LOGIN_WINDOW	    (15 * 60) /* failures older than this are forgotten */
#define LOGIN_BLOCK_AFTER   10	      /* failures in the window that block the key */
#define LOGIN_BLOCK_SECONDS (15 * 60)

/* Seconds key ("user:NAME", "addr:ADDRESS") is still blocked for, 0 when
 * it is not. */
int64_t login_blocked(struct state *st, const char *key, int64_t now);
/* Count a failure of key: its count in the window (1 for the first), and
 * *blocked true when this one blocked it. */
int login_failed(struct state *st, const char *key, int64_t now, bool *blocked);
/* A login that succeeded forgets key's failures. */
void login_succeeded(struct state *st, const char *key);

/* ---- the audit log ---- */

/* Record that who (from origin) asked method path and got status. */
int audit_add(struct state *st, const char *who, const char *origin, const char *method,
	      const char *path, int status, struct nua_error **err);
/* The entries after id since (the last limit when since is negative), oldest
 * first: [{id, time, who, origin, method, path, status}]. */
int audit_list(struct state *st, long long since, long long limit, void **out,
	       struct nua_error **err);
/* Delete the entries older than before (unix seconds). */
int audit_prune(struct state *st, int64_t before, struct nua_error **err);

#endif
