/* Users, groups and tokens (users.c) on a fresh state database. */
#include <jansson.h>
#include <string.h>
#include <time.h>

#include "state.h"
#include "test.h"
#include "users.h"
#include "util.h"

/* The error of a call that must fail with status, its message holding
 * words. */
#define CHECK_FAILS(call, status_, words)                                                          \
	do {                                                                                       \
		struct nua_error *e_f = NULL;                                                      \
		struct nua_error **err_ = &e_f;                                                    \
		(void)err_;                                                                        \
		CHECK((call) < 0);                                                                 \
		CHECK(e_f && e_f->status == (status_) && strstr(e_f->msg, words));                 \
		if (e_f && !strstr(e_f->msg, words))                                               \
			printf("# message: %s\n", e_f->msg);                                       \
		nua_error_free(e_f);                                                               \
	} while (0)

TEST(users_password_hash_is_argon2id_and_checks)
{
	char *h = NULL, *h2 = NULL;
	struct nua_error *err = NULL;

	CHECK_INT(user_hash_password("correct horse battery", &h, &err), 0);
	CHECK(starts_with(h, "$argon2id$v=19$m=65536,t=3,p=1$"));
	CHECK(user_password_matches(h, "correct horse battery"));
	CHECK(!user_password_matches(h, "correct horse batterY"));
	CHECK(!user_password_matches(h, ""));
	/* A new salt each time. */
	CHECK_INT(user_hash_password("correct horse battery", &h2, &err), 0);
	CHECK(strcmp(h, h2) != 0);
	CHECK(!user_password_matches("$2y$10$notargon", "x"));
	CHECK(!user_password_matches(NULL, "x"));
	free(h2);
	CHECK_INT(user_hash_password("short", &h2, &err), -1);
	CHECK(err && err->status == NUA_EINPUT && strstr(err->msg, "10 characters"));
	nua_error_free(err);
	free(h);
	free(h2);
}

TEST(users_names_roles_emails)
{
	CHECK(user_valid_name("alice"));
	CHECK(user_valid_name("a.b_c-9"));
	CHECK(!user_valid_name(""));
	CHECK(!user_valid_name("Alice"));
	CHECK(!user_valid_name("9lives"));
	CHECK(!user_valid_name("al ice"));
	CHECK(!user_valid_name("abcdefghijklmnopqrstuvwxyzabcdefg"));
	CHECK(user_valid_role("admin") && user_valid_role("user") && !user_valid_role("root"));
	CHECK(token_valid_role("deploy") && token_valid_role("read") && !token_valid_role("user"));
}

TEST(users_add_list_change_remove)
{
	struct state *st = test_state_open("users");
	struct nua_error *err = NULL;
	json_t *list = NULL;
	char *role = NULL;

	CHECK_INT(user_add(st, "alice", "alice@example.org", "admin", "a long password", &err), 0);
	CHECK_INT(user_add(st, "bob", NULL, "user", "bob's password!", &err), 0);
	CHECK_FAILS(user_add(st, "alice", NULL, "user", "another password", err_), NUA_EINPUT,
		    "a user named 'alice' exists already");
	CHECK_FAILS(user_add(st, "carol", "not-an-email", "user", "a long password", err_),
		    NUA_EINPUT, "invalid email 'not-an-email'");
	CHECK_FAILS(user_add(st, "carol", NULL, "root", "a long password", err_), NUA_EINPUT,
		    "invalid role 'root'");
	CHECK_FAILS(user_add(st, "Carol", NULL, "user", "a long password", err_), NUA_EINPUT,
		    "invalid user name 'Carol'");

	CHECK_INT(user_authenticate(st, "alice", "a long password", &role, &err), 0);
	CHECK_STR(role, "admin");
	free(role);
	CHECK_FAILS(user_authenticate(st, "alice", "a long passwore", NULL, err_), NUA_EINPUT,
		    "wrong user name or password");
	CHECK_FAILS(user_authenticate(st, "nobody", "a long password", NULL, err_), NUA_EINPUT,
		    "wrong user name or password");

	CHECK_INT(user_set_password(st, "bob", "a new password", &err), 0);
	CHECK_INT(user_authenticate(st, "bob", "a new password", NULL, &err), 0);
	CHECK_FAILS(user_authenticate(st, "bob", "bob's password!", NULL, err_), NUA_EINPUT,
		    "wrong");
	CHECK_INT(user_set_role(st, "bob", "admin", &err), 0);
	CHECK_FAILS(user_set_role(st, "zed", "admin", err_), NUA_EINPUT, "no user 'zed'");

	CHECK_INT(group_add(st, "dev", &err), 0);
	CHECK_FAILS(group_add(st, "dev", err_), NUA_EINPUT, "a group named 'dev' exists already");
	CHECK_INT(group_set_member(st, "dev", "bob", true, &err), 0);
	CHECK_INT(group_set_member(st, "dev", "alice", true, &err), 0);
	CHECK_INT(group_set_member(st, "dev", "alice", true, &err), 0); /* already */
	CHECK_FAILS(group_set_member(st, "ops", "alice", true, err_), NUA_EINPUT, "no group 'ops'");
	CHECK_FAILS(group_set_member(st, "dev", "zed", true, err_), NUA_EINPUT, "no user 'zed'");

	CHECK_INT(user_list(st, (void **)&list, &err), 0);
	CHECK_INT(json_array_size(list), 2);
	CHECK_STR(json_string_value(json_object_get(json_array_get(list, 0), "name")), "alice");
	CHECK_STR(json_string_value(json_object_get(json_array_get(list, 0), "email")),
		  "alice@example.org");
	CHECK(json_is_null(json_object_get(json_array_get(list, 1), "email")));
	CHECK_STR(json_string_value(
			  json_array_get(json_object_get(json_array_get(list, 1), "groups"), 0)),
		  "dev");
	/* No password or hash in a list. */
	{
		char *dump = json_dumps(list, 0);

		CHECK(!strstr(dump, "argon2"));
		free(dump);
	}
	json_decref(list);

	CHECK_INT(group_list(st, (void **)&list, &err), 0);
	CHECK_INT(json_array_size(json_object_get(json_array_get(list, 0), "members")), 2);
	json_decref(list);

	/* A user removed leaves its groups. */
	CHECK_INT(user_remove(st, "bob", &err), 0);
	CHECK_FAILS(user_remove(st, "bob", err_), NUA_EINPUT, "no user 'bob'");
	CHECK_INT(group_list(st, (void **)&list, &err), 0);
	CHECK_INT(json_array_size(json_object_get(json_array_get(list, 0), "members")), 1);
	json_decref(list);
	CHECK_FAILS(group_set_member(st, "dev", "bob", false, err_), NUA_EINPUT, "no user 'bob'");
	CHECK_INT(group_set_member(st, "dev", "alice", false, &err), 0);
	CHECK_FAILS(group_set_member(st, "dev", "alice", false, err_), NUA_EINPUT,
		    "user 'alice' is not in group 'dev'");
	CHECK_INT(group_remove(st, "dev", &err), 0);
	CHECK_FAILS(group_remove(st, "dev", err_), NUA_EINPUT, "no group 'dev'");
	state_close(st);
}

TEST(users_tokens_are_kept_hashed_and_checked)
{
	struct state *st = test_state_open("tokens");
	struct nua_error *err = NULL;
	struct token_rec t;
	char *tok = NULL, *id = NULL, *tok2 = NULL, *id2 = NULL, *dump;
	json_t *list = NULL;

	CHECK_INT(token_create(st, "ci", "deploy", "blog", NULL, 0, &tok, &id, &err), 0);
	CHECK(starts_with(tok, "nua_") && strlen(tok) == 57 && strlen(id) == 12);
	CHECK(strncmp(tok + 4, id, 12) == 0);
	CHECK_INT(token_check(st, tok, &t, &err), 0);
	CHECK_STR(t.name, "ci");
	CHECK_STR(t.role, "deploy");
	CHECK_STR(t.instance, "blog");
	CHECK(t.owner == NULL);
	token_rec_release(&t);

	/* One character changed, cut, or an unknown id. */
	{
		char c = tok[20];

		tok[20] = c == 'a' ? 'b' : 'a';
		CHECK_FAILS(token_check(st, tok, &t, err_), NUA_EINPUT, "invalid or expired token");
		tok[20] = c;
	}
	CHECK_INT(token_check(st, tok, &t, &err), 0);
	token_rec_release(&t);
	CHECK_FAILS(token_check(st, "nua_short", &t, err_), NUA_EINPUT, "invalid");
	CHECK_FAILS(token_check(st, NULL, &t, err_), NUA_EINPUT, "invalid");

	/* The list has no secret, and the database has only its hash. */
	CHECK_INT(token_list(st, (void **)&list, &err), 0);
	dump = json_dumps(list, 0);
	CHECK(!strstr(dump, tok + 17));
	CHECK(json_integer_value(json_object_get(json_array_get(list, 0), "last_used_at")) > 0);
	free(dump);
	json_decref(list);

	/* Expired. */
	CHECK_INT(token_create(st, "old", "read", NULL, NULL, 1000, &tok2, &id2, &err), 0);
	CHECK_FAILS(token_check(st, tok2, &t, err_), NUA_EINPUT, "invalid or expired token");
	CHECK_INT(token_remove(st, id2, &err), 0);
	CHECK_FAILS(token_remove(st, id2, err_), NUA_EINPUT, "no token");
	free(tok2);
	free(id2);

	CHECK_FAILS(token_create(st, "ci", "root", NULL, NULL, 0, &tok2, &id2, err_), NUA_EINPUT,
		    "invalid token role 'root'");
	CHECK_FAILS(token_create(st, "Bad Name", "read", NULL, NULL, 0, &tok2, &id2, err_),
		    NUA_EINPUT, "invalid token name");
	CHECK_FAILS(token_create(st, "x", "read", NULL, "zed", 0, &tok2, &id2, err_), NUA_EINPUT,
		    "no user 'zed'");

	/* Removed by name or id; then refused. */
	CHECK_INT(token_remove(st, "ci", &err), 0);
	CHECK_FAILS(token_check(st, tok, &t, err_), NUA_EINPUT, "invalid or expired token");
	free(tok);
	free(id);
	state_close(st);
}

TEST(users_sessions_and_failed_logins)
{
	struct state *st = test_state_open("sessions");
	struct nua_error *err = NULL;
	struct session_rec s;
	char *c1 = NULL, *t1 = NULL, *c2 = NULL, *t2 = NULL;
	bool blocked = false;
	int n = 0;

	CHECK_INT(user_add(st, "erin", NULL, "user", "erin's long password", &err), 0);
	CHECK_INT(session_create(st, "erin", "10.0.0.1", &c1, &t1, &err), 0);
	CHECK_INT(session_create(st, "erin", "10.0.0.2", &c2, &t2, &err), 0);
	CHECK(strlen(c1) == 43 && strlen(t1) == 32 && strcmp(c1, c2) != 0);
	CHECK_INT(session_check(st, c1, &s, &err), 0);
	CHECK_STR(s.user, "erin");
	CHECK_STR(s.role, "user");
	CHECK_STR(s.csrf, t1);
	session_rec_release(&s);
	CHECK_FAILS(session_check(st, "x", &s, err_), NUA_EINPUT, "not logged in");
	/* One ends; then everywhere; a new password ends them too. */
	CHECK_INT(session_end(st, c1, false, &err), 0);
	CHECK_FAILS(session_check(st, c1, &s, err_), NUA_EINPUT, "not logged in");
	CHECK_INT(session_check(st, c2, &s, &err), 0);
	session_rec_release(&s);
	CHECK_INT(session_end(st, c2, true, &err), 0);
	CHECK_FAILS(session_check(st, c2, &s, err_), NUA_EINPUT, "not logged in");
	free(c1);
	free(t1);
	CHECK_INT(session_create(st, "erin", "10.0.0.1", &c1, &t1, &err), 0);
	CHECK_INT(user_set_password(st, "erin", "erin's new password", &err), 0);
	CHECK_FAILS(session_check(st, c1, &s, err_), NUA_EINPUT, "not logged in");

	/* Failures: counted in their window, a block after the tenth. */
	for (int i = 0; i < LOGIN_BLOCK_AFTER - 1; i++)
		n = login_failed(st, "user:erin", 1000 + i, &blocked);
	CHECK_INT(n, LOGIN_BLOCK_AFTER - 1);
	CHECK(!blocked);
	CHECK(login_blocked(st, "user:erin", 1010) == 0);
	login_failed(st, "user:erin", 1010, &blocked);
	CHECK(blocked);
	CHECK(login_blocked(st, "user:erin", 1010) == LOGIN_BLOCK_SECONDS);
	CHECK(login_blocked(st, "user:erin", 1010 + LOGIN_BLOCK_SECONDS) == 0);
	/* A failure after the window starts again from one. */
	CHECK_INT(login_failed(st, "addr:10.0.0.9", 5000, &blocked), 1);
	CHECK_INT(login_failed(st, "addr:10.0.0.9", 5001, &blocked), 2);
	CHECK_INT(login_failed(st, "addr:10.0.0.9", 5000 + LOGIN_WINDOW + 1, &blocked), 1);
	login_succeeded(st, "addr:10.0.0.9");
	CHECK_INT(login_failed(st, "addr:10.0.0.9", 9000, &blocked), 1);
	free(c1);
	free(t1);
	free(c2);
	free(t2);
	state_close(st);
}

/* RFC 6238's test vectors (SHA-1), cut to six digits. */
TEST(users_totp_codes_match_rfc6238)
{
	const char *secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"; /* "12345678901234567890" */
	char code[7];

	CHECK_INT(totp_code(secret, 59, code), 0);
	CHECK_STR(code, "287082");
	CHECK_INT(totp_code(secret, 1111111109, code), 0);
	CHECK_STR(code, "081804");
	CHECK_INT(totp_code(secret, 1234567890, code), 0);
	CHECK_STR(code, "005924");
	CHECK_INT(totp_code(secret, 20000000000LL, code), 0);
	CHECK_STR(code, "353130");
	/* Lowercase and spaces are the same secret; not base32 is -1. */
	CHECK_INT(totp_code("gezd gnbv gy3t qojq gezd gnbv gy3t qojq", 59, code), 0);
	CHECK_STR(code, "287082");
	CHECK_INT(totp_code("not base32!", 59, code), -1);
	CHECK_INT(totp_code("", 59, code), -1);
}

TEST(users_totp_enable_check_and_recovery)
{
	struct state *st = test_state_open("totp");
	struct nua_error *err = NULL;
	char *secret = NULL, *uri = NULL, **codes = NULL, code[7];
	int64_t t = (int64_t)time(NULL);

	CHECK_INT(user_add(st, "fay", NULL, "user", "fay's long password", &err), 0);
	totp_new("fay", &secret, &uri);
	CHECK(strlen(secret) == 32);
	CHECK(starts_with(uri, "otpauth://totp/Nua:fay?secret="));
	CHECK_FAILS(user_totp_enable(st, "fay", secret, "000000", &codes, err_), NUA_EINPUT,
		    "not the authenticator's current code");
	CHECK(!user_has_totp(st, "fay"));
	CHECK_INT(totp_code(secret, t, code), 0);
	CHECK_INT(user_totp_enable(st, "fay", secret, code, &codes, &err), 0);
	CHECK(user_has_totp(st, "fay"));
	CHECK(codes && codes[9] && !codes[10] && strlen(codes[0]) == 11);
	/* The step of the enrolment is used; the next one is good once. */
	CHECK_FAILS(user_totp_check(st, "fay", code, t, err_), NUA_EINPUT, "wrong code");
	CHECK_INT(totp_code(secret, t + 30, code), 0);
	CHECK_INT(user_totp_check(st, "fay", code, t + 30, &err), 0);
	CHECK_FAILS(user_totp_check(st, "fay", code, t + 30, err_), NUA_EINPUT, "wrong code");
	/* Too far from the clock. */
	CHECK_INT(totp_code(secret, t + 300, code), 0);
	CHECK_FAILS(user_totp_check(st, "fay", code, t + 30, err_), NUA_EINPUT, "wrong code");
	/* Recovery codes: each once. */
	CHECK_INT(user_totp_check(st, "fay", codes[3], t, &err), 0);
	CHECK_FAILS(user_totp_check(st, "fay", codes[3], t, err_), NUA_EINPUT, "wrong code");
	CHECK_INT(user_totp_disable(st, "fay", &err), 0);
	CHECK(!user_has_totp(st, "fay"));
	CHECK_FAILS(user_totp_check(st, "fay", codes[4], t, err_), NUA_EINPUT, "wrong code");
	strv_free(codes);
	free(secret);
	free(uri);
	state_close(st);
}
