/* Users, groups and API tokens: see users.h. */
#define _GNU_SOURCE
#include "users.h"

#include <argon2.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>
#include <sqlite3.h>
#include <string.h>
#include <time.h>

#include "secret.h"
#include "strbuf.h"
#include "util.h"
#include "banned.h"

#define SALT_LEN 16
#define HASH_LEN 32

bool user_valid_name(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > 32 || name[0] < 'a' || name[0] > 'z')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
	}
	return true;
}

bool user_valid_role(const char *role)
{
	return role && (streq(role, "admin") || streq(role, "user"));
}

bool token_valid_role(const char *role)
{
	return role && (streq(role, "admin") || streq(role, "deploy") || streq(role, "read"));
}

static int check_password(const char *password, struct nua_error **err)
{
	size_t n = password ? strlen(password) : 0;

	if (n < USER_PASSWORD_MIN)
		return nua_error_set(err, NUA_EINPUT, "a password needs %d characters or more",
				     USER_PASSWORD_MIN);
	if (n > USER_PASSWORD_MAX)
		return nua_error_set(err, NUA_EINPUT, "a password has at most %d characters",
				     USER_PASSWORD_MAX);
	return 0;
}

int user_hash_password(const char *password, char **out, struct nua_error **err)
{
	unsigned char salt[SALT_LEN];
	size_t len;
	char *enc;
	int r;

	*out = NULL;
	if (check_password(password, err) < 0)
		return -1;
	randombytes_buf(salt, sizeof(salt));
	len = argon2_encodedlen(USER_ARGON2_T, USER_ARGON2_M_KIB, USER_ARGON2_P, SALT_LEN, HASH_LEN,
				Argon2_id);
	enc = xmalloc(len);
	r = argon2id_hash_encoded(USER_ARGON2_T, USER_ARGON2_M_KIB, USER_ARGON2_P, password,
				  strlen(password), salt, sizeof(salt), HASH_LEN, enc, len);
	sodium_memzero(salt, sizeof(salt));
	if (r != ARGON2_OK) {
		free(enc);
		return nua_error_set(err, NUA_EFAIL, "cannot hash the password: %s",
				     argon2_error_message(r));
	}
	*out = enc;
	return 0;
}

bool user_password_matches(const char *encoded, const char *password)
{
	if (!encoded || !password || !starts_with(encoded, "$argon2id$"))
		return false;
	return argon2id_verify(encoded, password, strlen(password)) == ARGON2_OK;
}

/* ---- the database ---- */

static json_t *col_json(sqlite3_stmt *s, int i)
{
	switch (sqlite3_column_type(s, i)) {
	case SQLITE_NULL:
		return json_null();
	case SQLITE_INTEGER:
		return json_integer(sqlite3_column_int64(s, i));
	default:
		return json_string((const char *)sqlite3_column_text(s, i));
	}
}

/* Run a statement that changes rows: *changed (may be NULL) receives how
 * many. A constraint (a name taken) is NUA_EINPUT with taken's words. */
static int run(struct state *st, sqlite3_stmt *s, int *changed, const char *taken,
	       struct nua_error **err)
{
	int r = sqlite3_step(s);

	if (r == SQLITE_CONSTRAINT && taken)
		return nua_error_set(err, NUA_EINPUT, "%s", taken);
	if (r != SQLITE_DONE)
		return state_db_error(st, err, "cannot write");
	if (changed)
		*changed = sqlite3_changes(state_db(st));
	return 0;
}

static int64_t now(void)
{
	return (int64_t)time(NULL);
}

static int check_name(const char *what, const char *name, struct nua_error **err)
{
	if (!user_valid_name(name))
		return nua_error_set(err, NUA_EINPUT,
				     "invalid %s name '%s': a lowercase letter, then lowercase "
				     "letters, digits, '.', '_' or '-', at most 32",
				     what, name ? name : "");
	return 0;
}

static int check_role(const char *role, struct nua_error **err)
{
	if (!user_valid_role(role))
		return nua_error_set(err, NUA_EINPUT, "invalid role '%s': admin or user",
				     role ? role : "");
	return 0;
}

/* Its email: empty is none; otherwise something@something, no blanks. */
static int check_email(const char *email, struct nua_error **err)
{
	const char *at = email ? strchr(email, '@') : NULL;

	if (!email || !email[0])
		return 0;
	if (!at || at == email || !at[1] || strchr(at + 1, '@') || strlen(email) > 254 ||
	    strpbrk(email, " \t\r\n<>\"'"))
		return nua_error_set(err, NUA_EINPUT, "invalid email '%s'", email);
	return 0;
}

static int no_such(const char *what, const char *name, struct nua_error **err)
{
	return nua_error_set(err, NUA_EINPUT, "no %s '%s'", what, name);
}

/* Delete the rows of user in table (whose column "user" names it). */
static int delete_of_user(struct state *st, const char *table, const char *user,
			  struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	_cleanup_free_ char *sql = xasprintf("DELETE FROM %s WHERE user = ?", table);

	if (state_prepare(st, sql, &s, err) < 0)
		return -1;
	state_bind_text(s, 1, user);
	return run(st, s, NULL, NULL, err);
}

int user_add(struct state *st, const char *name, const char *email, const char *role,
	     const char *password, struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	_cleanup_free_ char *hash = NULL, *taken = NULL;
	int64_t t = now();

	if (check_name("user", name, err) < 0 || check_role(role, err) < 0 ||
	    check_email(email, err) < 0 || user_hash_password(password, &hash, err) < 0)
		return -1;
	if (state_prepare(
		    st,
		    "INSERT INTO users (name, email, role, password, created_at, password_at) "
		    "VALUES (?, ?, ?, ?, ?, ?)",
		    &s, err) < 0)
		return -1;
	state_bind_text(s, 1, name);
	state_bind_text(s, 2, email && email[0] ? email : NULL);
	state_bind_text(s, 3, role);
	state_bind_text(s, 4, hash);
	sqlite3_bind_int64(s, 5, t);
	sqlite3_bind_int64(s, 6, t);
	taken = xasprintf("a user named '%s' exists already", name);
	return run(st, s, NULL, taken, err);
}

/* Run "... WHERE name = ?" with the values bound by the caller; no row
 * changed is "no what 'name'". */
static int change_named(struct state *st, sqlite3_stmt *s, const char *what, const char *name,
			struct nua_error **err)
{
	int changed = 0;

	if (run(st, s, &changed, NULL, err) < 0)
		return -1;
	return changed ? 0 : no_such(what, name, err);
}

int user_remove(struct state *st, const char *name, struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;

	if (state_prepare(st, "DELETE FROM users WHERE name = ?", &s, err) < 0)
		return -1;
	state_bind_text(s, 1, name);
	return change_named(st, s, "user", name, err);
}

int user_set_password(struct state *st, const char *name, const char *password,
		      struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	_cleanup_free_ char *hash = NULL;

	if (user_hash_password(password, &hash, err) < 0 ||
	    state_prepare(st, "UPDATE users SET password = ?, password_at = ? WHERE name = ?", &s,
			  err) < 0)
		return -1;
	state_bind_text(s, 1, hash);
	sqlite3_bind_int64(s, 2, now());
	state_bind_text(s, 3, name);
	if (change_named(st, s, "user", name, err) < 0)
		return -1;
	/* A new password logs the user out everywhere. */
	return delete_of_user(st, "sessions", name, err);
}

int user_set_role(struct state *st, const char *name, const char *role, struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;

	if (check_role(role, err) < 0 ||
	    state_prepare(st, "UPDATE users SET role = ? WHERE name = ?", &s, err) < 0)
		return -1;
	state_bind_text(s, 1, role);
	state_bind_text(s, 2, name);
	return change_named(st, s, "user", name, err);
}

int user_set_email(struct state *st, const char *name, const char *email, struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;

	if (check_email(email, err) < 0 ||
	    state_prepare(st, "UPDATE users SET email = ? WHERE name = ?", &s, err) < 0)
		return -1;
	state_bind_text(s, 1, email && email[0] ? email : NULL);
	state_bind_text(s, 2, name);
	return change_named(st, s, "user", name, err);
}

/* Rows of a SELECT as objects with the given keys, one per column; a key
 * "+LIST" takes a string of names separated by newlines (group_concat) as
 * an array, a key "?FLAG" an integer as a boolean. */
static int select_objects(struct state *st, const char *sql, const char *const *keys, json_t **out,
			  struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	json_t *arr;
	int r;

	*out = NULL;
	if (state_prepare(st, sql, &s, err) < 0)
		return -1;
	arr = json_array();
	while ((r = sqlite3_step(s)) == SQLITE_ROW) {
		json_t *o = json_object();

		for (int i = 0; keys[i]; i++) {
			if (keys[i][0] == '?') {
				json_object_set_new(o, keys[i] + 1,
						    json_boolean(sqlite3_column_int(s, i)));
			} else if (keys[i][0] == '+') {
				const char *v = (const char *)sqlite3_column_text(s, i);
				json_t *list = json_array();

				while (v && *v) {
					const char *nl = strchrnul(v, '\n');

					json_array_append_new(list,
							      json_stringn(v, (size_t)(nl - v)));
					v = *nl ? nl + 1 : nl;
				}
				json_object_set_new(o, keys[i] + 1, list);
			} else {
				json_object_set_new(o, keys[i], col_json(s, i));
			}
		}
		json_array_append_new(arr, o);
	}
	if (r != SQLITE_DONE) {
		json_decref(arr);
		return state_db_error(st, err, "cannot read");
	}
	*out = arr;
	return 0;
}

int user_list(struct state *st, void **out, struct nua_error **err)
{
	static const char *const keys[] = { "name",	   "email", "role",    "created_at",
					    "password_at", "?totp", "+groups", NULL };

	return select_objects(st,
			      "SELECT u.name, u.email, u.role, u.created_at, u.password_at, "
			      "u.totp IS NOT NULL, (SELECT group_concat(grp, char(10)) FROM "
			      " (SELECT grp FROM group_members WHERE user = u.name ORDER BY grp)) "
			      "FROM users u ORDER BY u.name",
			      keys, (json_t **)out, err);
}

int user_authenticate(struct state *st, const char *name, const char *password, char **role,
		      struct nua_error **err)
{
	/* A hash of a password nobody has, checked when the user is unknown:
	 * the answer takes as long either way. */
	static char decoy[256];
	static bool have_decoy;
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	_cleanup_free_ char *hash = NULL, *r = NULL;
	int rc;

	if (role)
		*role = NULL;
	if (state_prepare(st, "SELECT password, role FROM users WHERE name = ?", &s, err) < 0)
		return -1;
	state_bind_text(s, 1, name ? name : "");
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		hash = xstrdup((const char *)sqlite3_column_text(s, 0));
		r = xstrdup((const char *)sqlite3_column_text(s, 1));
	} else if (rc != SQLITE_DONE) {
		return state_db_error(st, err, "cannot read a user");
	}
	if (!hash) {
		if (!__atomic_load_n(&have_decoy, __ATOMIC_ACQUIRE)) {
			_cleanup_free_ char *d = NULL, *pw = secret_random_string(24);

			if (user_hash_password(pw, &d, NULL) == 0 && strlen(d) < sizeof(decoy)) {
				memcpy(decoy, d, strlen(d) + 1);
				__atomic_store_n(&have_decoy, true, __ATOMIC_RELEASE);
			}
		}
		if (__atomic_load_n(&have_decoy, __ATOMIC_ACQUIRE))
			user_password_matches(decoy, password ? password : "");
		return nua_error_set(err, NUA_EINPUT, "wrong user name or password");
	}
	if (!user_password_matches(hash, password ? password : ""))
		return nua_error_set(err, NUA_EINPUT, "wrong user name or password");
	if (role)
		*role = TAKE_PTR(r);
	return 0;
}

/* ---- groups ---- */

int group_add(struct state *st, const char *name, struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	_cleanup_free_ char *taken = NULL;

	if (check_name("group", name, err) < 0 ||
	    state_prepare(st, "INSERT INTO user_groups (name, created_at) VALUES (?, ?)", &s, err) <
		    0)
		return -1;
	state_bind_text(s, 1, name);
	sqlite3_bind_int64(s, 2, now());
	taken = xasprintf("a group named '%s' exists already", name);
	return run(st, s, NULL, taken, err);
}

int group_remove(struct state *st, const char *name, struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;

	if (state_prepare(st, "DELETE FROM user_groups WHERE name = ?", &s, err) < 0)
		return -1;
	state_bind_text(s, 1, name);
	return change_named(st, s, "group", name, err);
}

int group_list(struct state *st, void **out, struct nua_error **err)
{
	static const char *const keys[] = { "name", "created_at", "+members", NULL };

	return select_objects(st,
			      "SELECT g.name, g.created_at, "
			      "(SELECT group_concat(user, char(10)) FROM "
			      " (SELECT user FROM group_members WHERE grp = g.name ORDER BY user)) "
			      "FROM user_groups g ORDER BY g.name",
			      keys, (json_t **)out, err);
}

static bool exists(struct state *st, const char *table, const char *name)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	_cleanup_free_ char *sql = xasprintf("SELECT 1 FROM %s WHERE name = ?", table);

	if (state_prepare(st, sql, &s, NULL) < 0)
		return false;
	state_bind_text(s, 1, name);
	return sqlite3_step(s) == SQLITE_ROW;
}

int group_set_member(struct state *st, const char *group, const char *user, bool add,
		     struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int changed = 0;

	if (!exists(st, "user_groups", group))
		return no_such("group", group, err);
	if (!exists(st, "users", user))
		return no_such("user", user, err);
	if (state_prepare(st,
			  add ? "INSERT OR IGNORE INTO group_members (grp, user) VALUES (?, ?)"
			      : "DELETE FROM group_members WHERE grp = ? AND user = ?",
			  &s, err) < 0)
		return -1;
	state_bind_text(s, 1, group);
	state_bind_text(s, 2, user);
	if (run(st, s, &changed, NULL, err) < 0)
		return -1;
	if (!add && !changed)
		return nua_error_set(err, NUA_EINPUT, "user '%s' is not in group '%s'", user,
				     group);
	return 0;
}

/* ---- tokens ---- */

#define TOKEN_ID_LEN	 12
#define TOKEN_SECRET_LEN 40

int token_create(struct state *st, const char *name, const char *role, const char *instance,
		 const char *owner, int64_t expires_at, char **token, char **id,
		 struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	_cleanup_free_ char *secret = NULL, *tok = NULL;
	unsigned char raw[TOKEN_ID_LEN / 2];
	char idhex[TOKEN_ID_LEN + 1], hash[65];

	*token = NULL;
	*id = NULL;
	if (!name || !name[0] || strlen(name) > 64 || !valid_name(name, 64))
		return nua_error_set(err, NUA_EINPUT,
				     "invalid token name '%s': lowercase letters, digits and "
				     "'-', at most 64",
				     name ? name : "");
	if (!token_valid_role(role))
		return nua_error_set(err, NUA_EINPUT,
				     "invalid token role '%s': admin, deploy or read",
				     role ? role : "");
	if (instance && !valid_name(instance, 40))
		return nua_error_set(err, NUA_EINPUT, "invalid instance name '%s'", instance);
	if (owner && !exists(st, "users", owner))
		return no_such("user", owner, err);
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(idhex, sizeof(idhex), raw, sizeof(raw));
	secret = secret_random_string(TOKEN_SECRET_LEN);
	tok = xasprintf("nua_%s_%s", idhex, secret);
	secret_sha256_hex(tok, hash);
	if (state_prepare(st,
			  "INSERT INTO tokens (id, name, hash, role, instance, owner, created_at, "
			  "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			  &s, err) < 0)
		return -1;
	state_bind_text(s, 1, idhex);
	state_bind_text(s, 2, name);
	state_bind_text(s, 3, hash);
	state_bind_text(s, 4, role);
	state_bind_text(s, 5, instance);
	state_bind_text(s, 6, owner);
	sqlite3_bind_int64(s, 7, now());
	if (expires_at > 0)
		sqlite3_bind_int64(s, 8, expires_at);
	else
		sqlite3_bind_null(s, 8);
	if (run(st, s, NULL, "a token with this id exists already; try again", err) < 0)
		return -1;
	*token = TAKE_PTR(tok);
	*id = xstrdup(idhex);
	return 0;
}

int token_list(struct state *st, void **out, struct nua_error **err)
{
	static const char *const keys[] = { "id",	  "name",	  "role",
					    "instance",	  "owner",	  "created_at",
					    "expires_at", "last_used_at", NULL };

	return select_objects(st,
			      "SELECT id, name, role, instance, owner, created_at, expires_at, "
			      "last_used_at FROM tokens ORDER BY created_at, id",
			      keys, (json_t **)out, err);
}

int token_remove(struct state *st, const char *key, struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int changed = 0, n = 0;

	if (state_prepare(st, "SELECT count(*) FROM tokens WHERE name = ? AND id != ?", &s, err) <
	    0)
		return -1;
	state_bind_text(s, 1, key);
	state_bind_text(s, 2, key);
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	s = NULL;
	if (n > 1)
		return nua_error_set(err, NUA_EINPUT,
				     "%d tokens are named '%s': give the id of the one to remove "
				     "('nua token ls')",
				     n, key);
	if (state_prepare(st, "DELETE FROM tokens WHERE id = ?1 OR name = ?1", &s, err) < 0)
		return -1;
	state_bind_text(s, 1, key);
	if (run(st, s, &changed, NULL, err) < 0)
		return -1;
	return changed ? 0 : no_such("token", key, err);
}

void token_rec_release(struct token_rec *t)
{
	free(t->id);
	free(t->name);
	free(t->role);
	free(t->instance);
	free(t->owner);
	*t = (struct token_rec){ 0 };
}

int token_check(struct state *st, const char *token, struct token_rec *out, struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	char id[TOKEN_ID_LEN + 1], hash[65];
	const char *stored;
	int64_t t = now();
	bool ok;

	*out = (struct token_rec){ 0 };
	if (!token || strlen(token) != 4 + TOKEN_ID_LEN + 1 + TOKEN_SECRET_LEN ||
	    !starts_with(token, "nua_") || token[4 + TOKEN_ID_LEN] != '_')
		return nua_error_set(err, NUA_EINPUT, "invalid or expired token");
	memcpy(id, token + 4, TOKEN_ID_LEN);
	id[TOKEN_ID_LEN] = '\0';
	secret_sha256_hex(token, hash);
	if (state_prepare(
		    st,
		    "SELECT hash, name, role, instance, owner, expires_at FROM tokens WHERE id = ?",
		    &s, err) < 0)
		return -1;
	state_bind_text(s, 1, id);
	if (sqlite3_step(s) != SQLITE_ROW)
		return nua_error_set(err, NUA_EINPUT, "invalid or expired token");
	stored = (const char *)sqlite3_column_text(s, 0);
	ok = stored && strlen(stored) == 64 && sodium_memcmp(stored, hash, 64) == 0;
	if (ok && sqlite3_column_type(s, 5) != SQLITE_NULL && sqlite3_column_int64(s, 5) <= t)
		ok = false;
	if (!ok)
		return nua_error_set(err, NUA_EINPUT, "invalid or expired token");
	out->id = xstrdup(id);
	out->name = state_column_text(s, 1);
	out->role = state_column_text(s, 2);
	out->instance = state_column_text(s, 3);
	out->owner = state_column_text(s, 4);
	sqlite3_finalize(s);
	s = NULL;
	if (state_prepare(st, "UPDATE tokens SET last_used_at = ? WHERE id = ?", &s, NULL) == 0) {
		sqlite3_bind_int64(s, 1, t);
		state_bind_text(s, 2, id);
		sqlite3_step(s);
	}
	return 0;
}

/* ---- TOTP ---- */

static const char b32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

static char *base32(const unsigned char *in, size_t n)
{
	struct strbuf sb = STRBUF_INIT;
	unsigned buf = 0;
	int bits = 0;

	for (size_t i = 0; i < n; i++) {
		buf = (buf << 8) | in[i];
		bits += 8;
		while (bits >= 5) {
			strbuf_addch(&sb, b32_alphabet[(buf >> (bits - 5)) & 31]);
			bits -= 5;
		}
	}
	if (bits > 0)
		strbuf_addch(&sb, b32_alphabet[(buf << (5 - bits)) & 31]);
	return strbuf_detach(&sb, NULL);
}

/* Decode base32 (no padding, case and spaces ignored) into out; its length,
 * or -1. */
static int unbase32(const char *s, unsigned char *out, size_t max)
{
	unsigned buf = 0;
	int bits = 0;
	size_t n = 0;

	for (; *s; s++) {
		const char *p;
		char c = *s >= 'a' && *s <= 'z' ? (char)(*s - 32) : *s;

		if (c == ' ' || c == '=')
			continue;
		if (!(p = strchr(b32_alphabet, c)) || !c)
			return -1;
		buf = (buf << 5) | (unsigned)(p - b32_alphabet);
		bits += 5;
		if (bits >= 8) {
			if (n >= max)
				return -1;
			out[n++] = (unsigned char)(buf >> (bits - 8));
			bits -= 8;
		}
	}
	return (int)n;
}

int totp_code(const char *secret_b32, int64_t t, char code[7])
{
	unsigned char key[64], msg[8], mac[EVP_MAX_MD_SIZE];
	unsigned maclen = 0;
	uint64_t step = (uint64_t)(t / 30);
	int n = unbase32(secret_b32, key, sizeof(key));
	uint32_t v;
	int off;

	if (n <= 0)
		return -1;
	for (int i = 7; i >= 0; i--, step >>= 8)
		msg[i] = (unsigned char)(step & 0xff);
	if (!HMAC(EVP_sha1(), key, n, msg, sizeof(msg), mac, &maclen) || maclen < 20)
		return -1;
	sodium_memzero(key, sizeof(key));
	off = mac[maclen - 1] & 0x0f;
	v = ((uint32_t)(mac[off] & 0x7f) << 24) | ((uint32_t)mac[off + 1] << 16) |
	    ((uint32_t)mac[off + 2] << 8) | mac[off + 3];
	snprintf(code, 7, "%06u", v % 1000000);
	return 0;
}

void totp_new(const char *user, char **secret_b32, char **uri)
{
	unsigned char raw[TOTP_SECRET_BYTES];

	randombytes_buf(raw, sizeof(raw));
	*secret_b32 = base32(raw, sizeof(raw));
	sodium_memzero(raw, sizeof(raw));
	*uri = xasprintf("otpauth://totp/Nua:%s?secret=%s&issuer=Nua&algorithm=SHA1&digits=6"
			 "&period=30",
			 user, *secret_b32);
}

/* The step of t (-1, 0 or +1 around now) whose code is code, or -1. */
static int64_t matching_step(const char *secret, const char *code, int64_t t)
{
	char c[7];

	if (!code || strlen(code) != 6)
		return -1;
	for (int d = -1; d <= 1; d++)
		if (totp_code(secret, t + d * 30, c) == 0 && sodium_memcmp(c, code, 6) == 0)
			return t / 30 + d;
	return -1;
}

int user_totp_enable(struct state *st, const char *user, const char *secret_b32, const char *code,
		     char ***codes, struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	_cleanup_free_ char *sealed = NULL;
	unsigned char raw[64];
	char **v;
	int64_t step;

	*codes = NULL;
	if (!exists(st, "users", user))
		return no_such("user", user, err);
	if (unbase32(secret_b32 ? secret_b32 : "", raw, sizeof(raw)) < 16)
		return nua_error_set(err, NUA_EINPUT,
				     "the TOTP secret is not base32 of 16 bytes "
				     "or more");
	sodium_memzero(raw, sizeof(raw));
	if ((step = matching_step(secret_b32, code, now())) < 0)
		return nua_error_set(err, NUA_EINPUT,
				     "the code is not the authenticator's current code for this "
				     "secret (is its clock right?)");
	if (secret_seal(secret_b32, &sealed, err) < 0 ||
	    state_prepare(st, "UPDATE users SET totp = ?, totp_step = ? WHERE name = ?", &s, err) <
		    0)
		return -1;
	state_bind_text(s, 1, sealed);
	sqlite3_bind_int64(s, 2, step);
	state_bind_text(s, 3, user);
	if (run(st, s, NULL, NULL, err) < 0)
		return -1;
	if (delete_of_user(st, "recovery_codes", user, err) < 0)
		return -1;
	v = xcalloc(TOTP_RECOVERY_CODES + 1, sizeof(*v));
	for (int i = 0; i < TOTP_RECOVERY_CODES; i++) {
		_cleanup_free_ char *a = secret_random_string(5), *b = secret_random_string(5);
		char hash[65];

		v[i] = xasprintf("%s-%s", a, b);
		secret_sha256_hex(v[i], hash);
		sqlite3_finalize(s);
		s = NULL;
		if (state_prepare(st, "INSERT INTO recovery_codes (user, hash) VALUES (?, ?)", &s,
				  err) < 0 ||
		    (state_bind_text(s, 1, user), state_bind_text(s, 2, hash),
		     run(st, s, NULL, NULL, err) < 0)) {
			strv_free(v);
			return -1;
		}
	}
	*codes = v;
	return 0;
}

int user_totp_disable(struct state *st, const char *user, struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;

	if (state_prepare(st, "UPDATE users SET totp = NULL, totp_step = 0 WHERE name = ?", &s,
			  err) < 0)
		return -1;
	state_bind_text(s, 1, user);
	if (change_named(st, s, "user", user, err) < 0)
		return -1;
	return delete_of_user(st, "recovery_codes", user, err);
}

bool user_has_totp(struct state *st, const char *user)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;

	if (state_prepare(st, "SELECT 1 FROM users WHERE name = ? AND totp IS NOT NULL", &s, NULL) <
	    0)
		return false;
	state_bind_text(s, 1, user);
	return sqlite3_step(s) == SQLITE_ROW;
}

int user_totp_check(struct state *st, const char *user, const char *code, int64_t t,
		    struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	_cleanup_free_ char *sealed = NULL, *secret = NULL;
	int64_t last = 0, step;
	char hash[65];
	int changed = 0;

	if (state_prepare(st, "SELECT totp, totp_step FROM users WHERE name = ?", &s, err) < 0)
		return -1;
	state_bind_text(s, 1, user);
	if (sqlite3_step(s) == SQLITE_ROW) {
		sealed = state_column_text(s, 0);
		last = sqlite3_column_int64(s, 1);
	}
	sqlite3_finalize(s);
	s = NULL;
	if (!sealed)
		return nua_error_set(err, NUA_EINPUT, "wrong code");
	if (secret_open(sealed, &secret, err) < 0)
		return -1;
	step = matching_step(secret, code, t);
	sodium_memzero(secret, strlen(secret));
	if (step > last) {
		if (state_prepare(st, "UPDATE users SET totp_step = ? WHERE name = ?", &s, err) < 0)
			return -1;
		sqlite3_bind_int64(s, 1, step);
		state_bind_text(s, 2, user);
		return run(st, s, NULL, NULL, err);
	}
	/* A recovery code, used up. */
	if (!code || strlen(code) != 11)
		return nua_error_set(err, NUA_EINPUT, "wrong code");
	secret_sha256_hex(code, hash);
	if (state_prepare(st, "DELETE FROM recovery_codes WHERE user = ? AND hash = ?", &s, err) <
	    0)
		return -1;
	state_bind_text(s, 1, user);
	state_bind_text(s, 2, hash);
	if (run(st, s, &changed, NULL, err) < 0)
		return -1;
	return changed ? 0 : nua_error_set(err, NUA_EINPUT, "wrong code");
}

/* ---- sessions ---- */

static int new_session(struct state *st, const char *user, const char *origin, bool pending,
		       char **cookie, char **csrf, struct nua_error **err);

int session_create(struct state *st, const char *user, const char *origin, char **cookie,
		   char **csrf, struct nua_error **err)
{
	return new_session(st, user, origin, false, cookie, csrf, err);
}

int session_create_pending(struct state *st, const char *user, const char *origin, char **cookie,
			   char **csrf, struct nua_error **err)
{
	return new_session(st, user, origin, true, cookie, csrf, err);
}

bool session_pending(struct state *st, const char *cookie, char **user, char **csrf)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	char id[65];

	*user = *csrf = NULL;
	if (!cookie || strlen(cookie) != 43)
		return false;
	secret_sha256_hex(cookie, id);
	if (state_prepare(st,
			  "SELECT user, csrf FROM sessions WHERE id = ? AND pending = 1 AND "
			  "expires_at > ?",
			  &s, NULL) < 0)
		return false;
	state_bind_text(s, 1, id);
	sqlite3_bind_int64(s, 2, now());
	if (sqlite3_step(s) != SQLITE_ROW)
		return false;
	*user = state_column_text(s, 0);
	*csrf = state_column_text(s, 1);
	return true;
}

int session_confirm(struct state *st, const char *cookie, struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	char id[65];
	int64_t n = now();

	secret_sha256_hex(cookie, id);
	if (state_prepare(st,
			  "UPDATE sessions SET pending = 0, seen_at = ?, expires_at = ? "
			  "WHERE id = ? AND pending = 1",
			  &s, err) < 0)
		return -1;
	sqlite3_bind_int64(s, 1, n);
	sqlite3_bind_int64(s, 2, n + SESSION_LIFE);
	state_bind_text(s, 3, id);
	return run(st, s, NULL, NULL, err);
}

static int new_session(struct state *st, const char *user, const char *origin, bool pending,
		       char **cookie, char **csrf, struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	_cleanup_free_ char *c = secret_random_string(43), *t = secret_random_string(32);
	char id[65];
	int64_t n = now();

	*cookie = NULL;
	*csrf = NULL;
	secret_sha256_hex(c, id);
	if (state_prepare(st,
			  "INSERT INTO sessions (id, user, csrf, origin, created_at, seen_at, "
			  "expires_at, pending) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			  &s, err) < 0)
		return -1;
	state_bind_text(s, 1, id);
	state_bind_text(s, 2, user);
	state_bind_text(s, 3, t);
	state_bind_text(s, 4, origin ? origin : "");
	sqlite3_bind_int64(s, 5, n);
	sqlite3_bind_int64(s, 6, n);
	/* A second factor is given within five minutes. */
	sqlite3_bind_int64(s, 7, n + (pending ? 300 : SESSION_LIFE));
	sqlite3_bind_int(s, 8, pending);
	if (run(st, s, NULL, "no such user", err) < 0)
		return -1;
	*cookie = TAKE_PTR(c);
	*csrf = TAKE_PTR(t);
	return 0;
}

void session_rec_release(struct session_rec *r)
{
	free(r->user);
	free(r->role);
	if (r->csrf)
		sodium_memzero(r->csrf, strlen(r->csrf));
	free(r->csrf);
	*r = (struct session_rec){ 0 };
}

int session_check(struct state *st, const char *cookie, struct session_rec *out,
		  struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	char id[65];
	int64_t n = now(), seen;

	*out = (struct session_rec){ 0 };
	if (!cookie || strlen(cookie) != 43)
		return nua_error_set(err, NUA_EINPUT, "not logged in");
	secret_sha256_hex(cookie, id);
	if (state_prepare(st,
			  "SELECT s.user, u.role, s.csrf, s.created_at, s.expires_at, s.seen_at "
			  "FROM sessions s JOIN users u ON u.name = s.user "
			  "WHERE s.id = ? AND s.pending = 0",
			  &s, err) < 0)
		return -1;
	state_bind_text(s, 1, id);
	if (sqlite3_step(s) != SQLITE_ROW)
		return nua_error_set(err, NUA_EINPUT, "not logged in");
	seen = sqlite3_column_int64(s, 5);
	if (sqlite3_column_int64(s, 4) <= n || seen + SESSION_IDLE <= n) {
		sqlite3_finalize(s);
		s = NULL;
		if (state_prepare(st, "DELETE FROM sessions WHERE id = ?", &s, NULL) == 0) {
			state_bind_text(s, 1, id);
			sqlite3_step(s);
		}
		return nua_error_set(err, NUA_EINPUT, "the session has ended; log in again");
	}
	out->user = state_column_text(s, 0);
	out->role = state_column_text(s, 1);
	out->csrf = state_column_text(s, 2);
	out->created_at = sqlite3_column_int64(s, 3);
	out->expires_at = sqlite3_column_int64(s, 4);
	sqlite3_finalize(s);
	s = NULL;
	/* Its last use, a minute apart at most: not a write per request. */
	if (n - seen >= 60 &&
	    state_prepare(st, "UPDATE sessions SET seen_at = ? WHERE id = ?", &s, NULL) == 0) {
		sqlite3_bind_int64(s, 1, n);
		state_bind_text(s, 2, id);
		sqlite3_step(s);
	}
	return 0;
}

void session_id(const char *cookie, char id[65])
{
	secret_sha256_hex(cookie, id);
}

int session_end(struct state *st, const char *cookie, bool everywhere, struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	char id[65];

	if (!cookie || strlen(cookie) != 43)
		return 0;
	secret_sha256_hex(cookie, id);
	if (state_prepare(st,
			  everywhere ? "DELETE FROM sessions WHERE user = "
				       "(SELECT user FROM sessions WHERE id = ?1)"
				     : "DELETE FROM sessions WHERE id = ?1",
			  &s, err) < 0)
		return -1;
	state_bind_text(s, 1, id);
	return run(st, s, NULL, NULL, err);
}

/* ---- failed logins ---- */

int64_t login_blocked(struct state *st, const char *key, int64_t t)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int64_t until = 0;

	if (state_prepare(st, "SELECT blocked_until FROM login_failures WHERE key = ?", &s, NULL) <
	    0)
		return 0;
	state_bind_text(s, 1, key);
	if (sqlite3_step(s) == SQLITE_ROW)
		until = sqlite3_column_int64(s, 0);
	return until > t ? until - t : 0;
}

int login_failed(struct state *st, const char *key, int64_t t, bool *blocked)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int count = 1;

	*blocked = false;
	/* A failure after the window starts a new count. */
	if (state_prepare(st,
			  "INSERT INTO login_failures (key, count, first_at) VALUES (?1, 1, ?2) "
			  "ON CONFLICT(key) DO UPDATE SET "
			  "count = CASE WHEN first_at + ?3 <= ?2 THEN 1 ELSE count + 1 END, "
			  "first_at = CASE WHEN first_at + ?3 <= ?2 THEN ?2 ELSE first_at END "
			  "RETURNING count",
			  &s, NULL) < 0)
		return 1;
	state_bind_text(s, 1, key);
	sqlite3_bind_int64(s, 2, t);
	sqlite3_bind_int64(s, 3, LOGIN_WINDOW);
	if (sqlite3_step(s) == SQLITE_ROW)
		count = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	s = NULL;
	if (count >= LOGIN_BLOCK_AFTER &&
	    state_prepare(st,
			  "UPDATE login_failures SET blocked_until = ?, count = 0 WHERE key = ?",
			  &s, NULL) == 0) {
		sqlite3_bind_int64(s, 1, t + LOGIN_BLOCK_SECONDS);
		state_bind_text(s, 2, key);
		*blocked = sqlite3_step(s) == SQLITE_DONE;
	}
	return count;
}

void login_succeeded(struct state *st, const char *key)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;

	if (state_prepare(st, "DELETE FROM login_failures WHERE key = ?", &s, NULL) < 0)
		return;
	state_bind_text(s, 1, key);
	sqlite3_step(s);
}

/* ---- the audit log ---- */

int audit_add(struct state *st, const char *who, const char *origin, const char *method,
	      const char *path, int status, struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;

	if (state_prepare(st,
			  "INSERT INTO audit (time, who, origin, method, path, status) "
			  "VALUES (?, ?, ?, ?, ?, ?)",
			  &s, err) < 0)
		return -1;
	sqlite3_bind_int64(s, 1, now());
	state_bind_text(s, 2, who);
	state_bind_text(s, 3, origin);
	state_bind_text(s, 4, method);
	state_bind_text(s, 5, path);
	sqlite3_bind_int(s, 6, status);
	return run(st, s, NULL, NULL, err);
}

int audit_list(struct state *st, long long since, long long limit, void **out,
	       struct nua_error **err)
{
	static const char *const keys[] = { "id",     "time", "who",	"origin",
					    "method", "path", "status", NULL };
	_cleanup_free_ char *sql = NULL;

	if (limit <= 0 || limit > 100000)
		limit = 100;
	if (since >= 0)
		sql = xasprintf("SELECT id, time, who, origin, method, path, status FROM audit "
				"WHERE id > %lld ORDER BY id LIMIT %lld",
				since, limit);
	else
		sql = xasprintf("SELECT * FROM (SELECT id, time, who, origin, method, path, status "
				"FROM audit ORDER BY id DESC LIMIT %lld) ORDER BY id",
				limit);
	return select_objects(st, sql, keys, (json_t **)out, err);
}

int audit_prune(struct state *st, int64_t before, struct nua_error **err)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;

	if (state_prepare(st, "DELETE FROM audit WHERE time < ?", &s, err) < 0)
		return -1;
	sqlite3_bind_int64(s, 1, before);
	return run(st, s, NULL, NULL, err);
}
