/* Reading the API's requests (docs/api.md): the parts of a URL path and the
 * JSON bodies of the requests that take one, checked before anything acts
 * on them. Outside input: every function here has the fuzz harness
 * fuzz/api_request.c. */
#ifndef NUA_API_REQUEST_H
#define NUA_API_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#define API_PATH_SEGMENTS 6
#define API_SEGMENT_MAX 256

/* The segments of url's path ("/v1/instances/blog/logs": "v1",
 * "instances", "blog", "logs"), empty ones skipped. Returns how many, or
 * -1 for more than API_PATH_SEGMENTS or a segment of API_SEGMENT_MAX bytes
 * or more. */
int api_split_path(const char *url, char seg[][API_SEGMENT_MAX]);

/* POST /v1/instances: {"source": S, "name"?: S, "domain"?: S, "env"?:
 * [S...] | null, "resources"?: {NAME: URL}, "no_cache"?: B}. The strings point into the request's
 * parsed body, kept in root. */
struct api_deploy {
	void *root; /* json_t */
	const char *source, *name, *domain;
	const char **env;  /* NULL-terminated, or NULL */
	char **resources;  /* "NAME=URL" (from "resources"?: {NAME: URL}), or NULL */
	bool no_cache;
};
/* Fill *out from the body; a malformed one is NUA_EINPUT saying what is
 * wrong. Release with api_deploy_release (also after a failure). */
int api_parse_deploy(const char *body, size_t len, struct api_deploy *out, struct nua_error **err);
void api_deploy_release(struct api_deploy *d);

/* POST /v1/images: {"path": S, "no_cache"?: B}; POST
 * /v1/images/REF/export: {"path": S}; POST /v1/images/import: {"path": S,
 * "ref"?: S | null}; POST .../resources/RES/dump and restore: {"path": S}.
 * path must be absolute. *path and *ref point into
 * *root (release it with api_json_release). */
struct api_path_body {
	void *root;
	const char *path, *ref;
	bool no_cache;
};
enum api_path_kind { API_BUILD, API_EXPORT, API_IMPORT, API_DUMP, API_RESTORE };
int api_parse_path_body(enum api_path_kind kind, const char *body, size_t len,
			struct api_path_body *out, struct nua_error **err);
void api_path_body_release(struct api_path_body *b);

/* PATCH /v1/instances/NAME/env: {"set"?: {KEY: S}, "unset"?: [KEY...]}.
 * *set is "KEY=VALUE" strings (NULL-terminated, free with strv_free),
 * *unset names pointing into the body (NULL-terminated; free the array
 * and api_json_release the root). */
struct api_env_patch {
	void *root;
	char **set;
	const char **unset;
};
int api_parse_env_patch(const char *body, size_t len, struct api_env_patch *out,
			struct nua_error **err);
void api_env_patch_release(struct api_env_patch *p);

/* POST /v1/instances/NAME/backup: {} (or no body); POST
 * /v1/instances/NAME/restore: {"snapshot"?: S | null (an id, a prefix of
 * one of at least 4 hex digits, or "latest"), "as"?: NAME (a new instance
 * made from it), "domain"?: S (with "as")}. The strings point into *root
 * (snapshot NULL: the latest). */
struct api_snapshot_body {
	void *root;
	const char *snapshot, *as, *domain;
};
enum api_snapshot_kind { API_BACKUP, API_RESTORE_SNAPSHOT };
int api_parse_snapshot_body(enum api_snapshot_kind kind, const char *body, size_t len,
			    struct api_snapshot_body *out, struct nua_error **err);
void api_snapshot_body_release(struct api_snapshot_body *b);

/* POST /v1/backup/targets: {"name": S, "url": S, "sftp_command"?: S,
 * "credentials"?: {KEY: S}}. The name is [a-z0-9-], the URL an absolute
 * path or a restic backend ("sftp:", "s3:", "rest:", ...), credential keys
 * the backends' variables (AWS_*, B2_*, AZURE_*, GOOGLE_*, OS_*, ST_*,
 * RESTIC_REST_*, RCLONE_*) or RESTIC_PASSWORD (an existing repository's).
 * *credentials is "KEY=VALUE" strings (NULL-terminated, strv_free). */
struct api_target {
	void *root;
	const char *name, *url, *sftp_command;
	char **credentials;
};
int api_parse_target(const char *body, size_t len, struct api_target *out,
		     struct nua_error **err);
void api_target_release(struct api_target *t);

/* PATCH /v1/backup/policy: {"frequency"?: N (seconds), "keep"?: {"last"?:
 * N, "daily"?: N, "weekly"?: N, "monthly"?: N}}, integers >= 0. Each
 * member given sets *has_* and its value. */
struct api_policy {
	bool has_frequency, has_last, has_daily, has_weekly, has_monthly;
	long long frequency, last, daily, weekly, monthly;
};
int api_parse_policy(const char *body, size_t len, struct api_policy *out,
		     struct nua_error **err);

/* POST /v1/restore: {"from": NAME (a backup target), "key"?: S (the old
 * server's recovery key)}. The strings point into *root. */
struct api_recover {
	void *root;
	const char *from, *key;
};
int api_parse_recover(const char *body, size_t len, struct api_recover *out,
		      struct nua_error **err);
void api_recover_release(struct api_recover *r);

/* POST /v1/instances/NAME/upgrade: {"source"?: S (an absolute package
 * directory, or an image ref; absent: the newest image of the package),
 * "no_cache"?: B}. *source points into *root. POST .../rollback takes {} (or
 * no body): API_BACKUP's rule. */
struct api_upgrade {
	void *root;
	const char *source;
	bool no_cache;
};
int api_parse_upgrade(const char *body, size_t len, struct api_upgrade *out,
		      struct nua_error **err);
void api_upgrade_release(struct api_upgrade *u);

/* POST /v1/import: {"path": S (absolute), "name"?: NAME, "domain"?: S,
 * "key"?: S (the writing server's recovery key)}. The strings point into
 * *root. */
struct api_import {
	void *root;
	const char *path, *name, *domain, *key;
};
int api_parse_import(const char *body, size_t len, struct api_import *out,
		     struct nua_error **err);
void api_import_release(struct api_import *i);

/* The TLS endpoints' bodies (the strings point into *root):
 *   PATCH /v1/tls/config: {"directory"?, "email"?, "ca_bundle"? (PEM),
 *                          "issuer"? ("acme" or "local")}, strings
 *   PUT /v1/tls/certs/DOMAIN: {"cert": PEM chain, "key": PEM key}
 *   POST /v1/tls/renew: {"domain": S}
 *   PATCH /v1/instances/NAME/tls: {"hsts": bool}
 *   POST, DELETE /v1/instances/NAME/domains: {"domain": S, "redirect"?: bool}
 *     (no "redirect" with DELETE)
 * Any other key or type is NUA_EINPUT. */
enum api_tls_kind {
	API_TLS_CONFIG,
	API_TLS_CERT,
	API_TLS_RENEW,
	API_TLS_HSTS,
	API_TLS_ALIAS,
	API_TLS_UNALIAS,
	API_TLS_KINDS /* how many */
};
struct api_tls {
	void *root;
	const char *directory, *email, *ca_bundle, *issuer, *cert, *key, *domain;
	int hsts;     /* -1: absent */
	bool redirect;
};
int api_parse_tls(const char *body, size_t len, enum api_tls_kind kind, struct api_tls *out,
		  struct nua_error **err);
void api_tls_release(struct api_tls *t);

/* Bodies of the users', groups' and tokens' requests:
 *   POST /v1/users: {"name": S, "password": S, "role"?: S, "email"?: S}
 *   PATCH /v1/users/NAME: {"password"?: S, "role"?: S, "email"?: S}, one at
 *     least
 *   POST /v1/groups: {"name": S}
 *   POST, DELETE /v1/groups/NAME/members: {"user": S}
 *   POST /v1/tokens: {"name": S, "role"?: S, "instance"?: S,
 *     "expires_in"?: seconds > 0}
 *   POST /v1/users/NAME/totp: {} (a new secret) or {"secret": S, "code": S}
 * Any other key or type is NUA_EINPUT. */
enum api_user_kind {
	API_USER_ADD,
	API_USER_PATCH,
	API_GROUP_ADD,
	API_GROUP_MEMBER,
	API_TOKEN_CREATE,
	API_USER_TOTP,
	API_USER_KINDS /* how many */
};
struct api_user {
	void *root;
	const char *name, *password, *role, *email, *user, *instance, *secret, *code;
	long long expires_in; /* 0: absent */
};
int api_parse_user(const char *body, size_t len, enum api_user_kind kind, struct api_user *out,
		   struct nua_error **err);
void api_user_release(struct api_user *u);

/* POST /v1/instances/NAME/access: {"path"?: S ("/"), "private": B,
 * "allow"?: S}; DELETE: {"path"?: S}. */
struct api_access {
	void *root;
	const char *path, *allow;
	bool private_;
};
int api_parse_access(const char *body, size_t len, bool remove, struct api_access *out,
		     struct nua_error **err);
void api_access_release(struct api_access *a);

/* A field of an application/x-www-form-urlencoded body (the login
 * portal's forms): the value of name, '+' and %XX decoded (caller frees);
 * NULL when absent, repeated, malformed, over 4096 bytes or holding a NUL. */
char *api_form_value(const char *body, size_t len, const char *name);

/* The value of the cookie name in a Cookie header ("a=1; b=2"), or NULL
 * (caller frees); a cookie given twice is NULL too. */
char *api_cookie_value(const char *header, const char *name);

#endif
