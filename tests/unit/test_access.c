/* Access rules, their decisions, and the codes and sessions that carry a
 * login to an app (access.c), on a fresh state database. */
#include <jansson.h>
#include <string.h>

#include "access.h"
#include "state.h"
#include "test.h"
#include "users.h"
#include "util.h"

TEST(access_rules_decide_by_the_longest_path)
{
	struct state *st = test_state_open("access");
	struct nua_error *err = NULL;
	struct instance_rec in = { 0 };

	in.name = (char *)"app";
	in.image_ref = (char *)"app:1-1";
	in.desired = (char *)"running";
	in.actual = (char *)"running";
	CHECK_INT(
		state_exec(st,
			   "INSERT INTO images (ref, id, version, release, digest, config, size, "
			   "created_at) VALUES ('app:1-1', 'app', '1', 1, 'sha256:0', '{}', 0, 0)",
			   &err),
		0);
	CHECK_INT(state_instance_add(st, &in, &err), 0);
	CHECK_INT(user_add(st, "alice", NULL, "user", "alice's long password", &err), 0);
	CHECK_INT(user_add(st, "bob", NULL, "user", "bob's long password", &err), 0);
	CHECK_INT(group_add(st, "dev", &err), 0);
	CHECK_INT(group_set_member(st, "dev", "bob", true, &err), 0);

	/* No rule: public. */
	CHECK(!access_protected(st, "app"));
	CHECK_INT(access_decide(st, "app", "/x", NULL), ACCESS_PUBLIC);
	CHECK_INT(access_set(st, "app", "/", true, "", &err), 0);
	CHECK_INT(access_set(st, "app", "/api/", false, NULL, &err), 0);
	CHECK_INT(access_set(st, "app", "/admin", true, "alice,@dev", &err), 0);
	CHECK(access_protected(st, "app"));
	CHECK_INT(access_decide(st, "app", "/", NULL), ACCESS_LOGIN);
	CHECK_INT(access_decide(st, "app", "/page", "bob"), ACCESS_ALLOWED);
	/* "/api/" is stored as "/api": /api and below, not /apix. */
	CHECK_INT(access_decide(st, "app", "/api", NULL), ACCESS_PUBLIC);
	CHECK_INT(access_decide(st, "app", "/api/v1/x", NULL), ACCESS_PUBLIC);
	CHECK_INT(access_decide(st, "app", "/apix", NULL), ACCESS_LOGIN);
	CHECK_INT(access_decide(st, "app", "/admin/x", "alice"), ACCESS_ALLOWED);
	CHECK_INT(access_decide(st, "app", "/admin", "bob"), ACCESS_ALLOWED);
	CHECK_INT(group_set_member(st, "dev", "bob", false, &err), 0);
	CHECK_INT(access_decide(st, "app", "/admin", "bob"), ACCESS_FORBIDDEN);
	CHECK_INT(access_decide(st, "app", "/administrator", "bob"), ACCESS_ALLOWED);

	CHECK_INT(access_set(st, "app", "/x", false, "alice", &err), -1);
	CHECK(strstr(err->msg, "an allow list is for a private rule"));
	nua_error_free(err);
	err = NULL;
	CHECK_INT(access_set(st, "app", "no-slash", true, "", &err), -1);
	nua_error_free(err);
	err = NULL;
	CHECK_INT(access_set(st, "nope", "/", true, "", &err), -1);
	CHECK(strstr(err->msg, "no instance named 'nope'"));
	nua_error_free(err);
	err = NULL;
	CHECK_INT(access_remove(st, "app", "/", &err), 0);
	CHECK_INT(access_remove(st, "app", "/admin", &err), 0);
	CHECK(!access_protected(st, "app"));
	state_close(st);
}

TEST(access_codes_and_app_sessions_follow_the_portal_session)
{
	struct state *st = test_state_open("access-codes");
	struct nua_error *err = NULL;
	char *cookie = NULL, *csrf = NULL, *code = NULL, *user = NULL, *portal = NULL;
	char *app = NULL, *who = NULL;
	char id[65];

	CHECK_INT(user_add(st, "alice", NULL, "user", "alice's long password", &err), 0);
	CHECK_INT(session_create(st, "alice", "127.0.0.1", &cookie, &csrf, &err), 0);
	session_id(cookie, id);
	CHECK_INT(access_code_create(st, "alice", "blog.example", id, &code, &err), 0);
	/* For its domain only, and once. */
	CHECK_INT(access_code_take(st, code, "shop.example", &user, &portal, &err), -1);
	nua_error_free(err);
	err = NULL;
	CHECK_INT(access_code_take(st, code, "blog.example", &user, &portal, &err), 0);
	CHECK_STR(user, "alice");
	CHECK_STR(portal, id);
	free(user);
	free(portal);
	CHECK_INT(access_code_take(st, code, "blog.example", &user, &portal, &err), -1);
	nua_error_free(err);
	err = NULL;
	CHECK_INT(access_session_create(st, "alice", "blog.example", id, &app, &err), 0);
	CHECK_STR((who = access_session_user(st, app, "blog.example")), "alice");
	free(who);
	CHECK(access_session_user(st, app, "shop.example") == NULL);
	/* The portal's session ends: so does the app's. */
	CHECK_INT(session_end(st, cookie, false, &err), 0);
	CHECK(access_session_user(st, app, "blog.example") == NULL);
	free(cookie);
	free(csrf);
	free(code);
	free(user);
	free(portal);
	free(app);
	state_close(st);
}
