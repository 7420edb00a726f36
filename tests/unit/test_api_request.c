#include <string.h>

#include "api_request.h"
#include "test.h"
#include "util.h"

TEST(api_split_path_segments_and_limits)
{
	char seg[API_PATH_SEGMENTS][API_SEGMENT_MAX];
	char long_seg[300];

	CHECK_INT(api_split_path("/v1/instances/blog/logs", seg), 4);
	CHECK_STR(seg[2], "blog");
	CHECK_INT(api_split_path("//v1//version/", seg), 2);
	CHECK_STR(seg[1], "version");
	CHECK_INT(api_split_path("/", seg), 0);
	CHECK_INT(api_split_path("/a/b/c/d/e/f/g", seg), -1);
	memset(long_seg, 'x', sizeof(long_seg) - 1);
	long_seg[0] = '/';
	long_seg[sizeof(long_seg) - 1] = '\0';
	CHECK_INT(api_split_path(long_seg, seg), -1);
}

TEST(api_parse_deploy_checks_the_body)
{
	struct api_deploy d;
	struct nua_error *err = NULL;
	const char *ok = "{\"source\": \"/srv/blog\", \"name\": \"blog\", \"env\": [\"A=1\"]}";

	CHECK_INT(api_parse_deploy(ok, strlen(ok), &d, &err), 0);
	CHECK_STR(d.source, "/srv/blog");
	CHECK_STR(d.name, "blog");
	CHECK(d.domain == NULL);
	CHECK_STR(d.env[0], "A=1");
	CHECK(d.env[1] == NULL);
	api_deploy_release(&d);

	CHECK_INT(api_parse_deploy("[1]", 3, &d, &err), -1);
	CHECK_STR(err->msg, "bad deploy request: the body is not a JSON object");
	api_deploy_release(&d);
	nua_error_free(err);
	err = NULL;
	CHECK_INT(api_parse_deploy("{\"source\": \"x\", \"bogus\": 1}", 27, &d, &err), -1);
	CHECK(starts_with(err->msg, "bad deploy request: "));
	api_deploy_release(&d);
	nua_error_free(err);
	err = NULL;
	CHECK_INT(api_parse_deploy("{\"source\": \"x\", \"env\": [1]}", 27, &d, &err), -1);
	CHECK_STR(err->msg, "bad deploy request: 'env' must be an array of \"KEY=VALUE\"");
	api_deploy_release(&d);
	nua_error_free(err);
}

TEST(api_parse_path_and_env_bodies)
{
	struct api_path_body b;
	struct api_env_patch p;
	struct nua_error *err = NULL;
	const char *imp = "{\"path\": \"/tmp/a.tar\", \"ref\": null}";
	const char *rel = "{\"path\": \"a.tar\"}";
	const char *env = "{\"set\": {\"A\": \"1\", \"B\": \"x=y\"}, \"unset\": [\"C\"]}";
	const char *badkey = "{\"set\": {\"A=B\": \"1\"}}";

	CHECK_INT(api_parse_path_body(API_IMPORT, imp, strlen(imp), &b, &err), 0);
	CHECK_STR(b.path, "/tmp/a.tar");
	CHECK(b.ref == NULL);
	api_path_body_release(&b);
	CHECK_INT(api_parse_path_body(API_EXPORT, rel, strlen(rel), &b, &err), -1);
	CHECK_STR(err->msg, "'a.tar' is a relative path: give an absolute path");
	api_path_body_release(&b);
	nua_error_free(err);
	err = NULL;
	CHECK_INT(api_parse_path_body(API_EXPORT, imp, strlen(imp), &b, &err), -1);
	api_path_body_release(&b);
	nua_error_free(err);
	err = NULL;

	CHECK_INT(api_parse_env_patch(env, strlen(env), &p, &err), 0);
	CHECK_STR(p.set[0], "A=1");
	CHECK_STR(p.set[1], "B=x=y");
	CHECK(p.set[2] == NULL);
	CHECK_STR(p.unset[0], "C");
	api_env_patch_release(&p);
	CHECK_INT(api_parse_env_patch(badkey, strlen(badkey), &p, &err), -1);
	CHECK(starts_with(err->msg, "'A=B' is not a variable name"));
	api_env_patch_release(&p);
	nua_error_free(err);
}

TEST(api_parse_snapshot_bodies)
{
	struct api_snapshot_body b;
	struct nua_error *err = NULL;
	const char *bad[] = { "{\"snapshot\": \"ab\"}", "{\"snapshot\": \"../x\"}",
			      "{\"snapshot\": 3}", "{\"snap\": \"abcd\"}", "[]" };

	CHECK_INT(api_parse_snapshot_body(API_BACKUP, "", 0, &b, &err), 0);
	api_snapshot_body_release(&b);
	CHECK_INT(api_parse_snapshot_body(API_BACKUP, "{}", 2, &b, &err), 0);
	api_snapshot_body_release(&b);
	CHECK_INT(api_parse_snapshot_body(API_BACKUP, "{\"x\": 1}", 8, &b, &err), -1);
	api_snapshot_body_release(&b);
	nua_error_free(err);
	err = NULL;
	CHECK_INT(api_parse_snapshot_body(API_RESTORE_SNAPSHOT, "{\"snapshot\": \"1f2e3d4c\"}", 24,
					  &b, &err),
		  0);
	CHECK_STR(b.snapshot, "1f2e3d4c");
	api_snapshot_body_release(&b);
	CHECK_INT(api_parse_snapshot_body(API_RESTORE_SNAPSHOT, "{\"snapshot\": null}", 18, &b,
					  &err),
		  0);
	CHECK(b.snapshot == NULL);
	api_snapshot_body_release(&b);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		CHECK_INT(api_parse_snapshot_body(API_RESTORE_SNAPSHOT, bad[i], strlen(bad[i]), &b,
						  &err),
			  -1);
		CHECK(err && err->status == NUA_EINPUT);
		api_snapshot_body_release(&b);
		nua_error_free(err);
		err = NULL;
	}
}

TEST(api_parse_target_checks_names_urls_and_credentials)
{
	struct api_target t;
	struct nua_error *err = NULL;
	const char *ok = "{\"name\": \"offsite\", \"url\": \"s3:http://127.0.0.1:9000/b\", "
			 "\"credentials\": {\"AWS_ACCESS_KEY_ID\": \"k\", \"RESTIC_PASSWORD\": \"p\"}}";
	const char *bad[] = {
		"{\"name\": \"Off site\", \"url\": \"/x\"}",
		"{\"name\": \"a\", \"url\": \"relative/dir\"}",
		"{\"name\": \"a\", \"url\": \"ftp://x\"}",
		"{\"name\": \"a\", \"url\": \"/x\", \"credentials\": {\"PATH\": \"/tmp\"}}",
		"{\"name\": \"a\", \"url\": \"/x\", \"credentials\": {\"LD_PRELOAD\": \"x.so\"}}",
		"{\"name\": \"a\", \"url\": \"/x\", \"credentials\": {\"AWS_X\": 3}}",
		"{\"name\": \"a\", \"url\": \"/x\", \"sftp_command\": \"ssh x\"}",
		"{\"name\": \"a\", \"url\": \"/x\", \"extra\": 1}",
	};

	CHECK_INT(api_parse_target(ok, strlen(ok), &t, &err), 0);
	CHECK_STR(t.name, "offsite");
	CHECK_STR(t.credentials[0], "AWS_ACCESS_KEY_ID=k");
	CHECK_STR(t.credentials[1], "RESTIC_PASSWORD=p");
	CHECK(t.credentials[2] == NULL);
	api_target_release(&t);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		CHECK_INT(api_parse_target(bad[i], strlen(bad[i]), &t, &err), -1);
		CHECK(err && err->status == NUA_EINPUT);
		api_target_release(&t);
		nua_error_free(err);
		err = NULL;
	}
}

TEST(api_parse_tls_bodies)
{
	struct api_tls t;
	struct nua_error *err = NULL;
	static const char cfg[] = "{\"directory\": \"https://ca.example/dir\", \"email\": \"a@b.c\"}";
	static const char cert[] = "{\"cert\": \"C\", \"key\": \"K\"}";

	CHECK(api_parse_tls(cfg, strlen(cfg), API_TLS_CONFIG, &t, &err) == 0);
	CHECK(streq(t.directory, "https://ca.example/dir") && streq(t.email, "a@b.c"));
	CHECK(!t.ca_bundle && !t.issuer && t.hsts == -1);
	api_tls_release(&t);
	CHECK(api_parse_tls(cert, strlen(cert), API_TLS_CERT, &t, &err) == 0);
	CHECK(streq(t.cert, "C") && streq(t.key, "K"));
	api_tls_release(&t);
	CHECK(api_parse_tls("{\"hsts\": true}", 14, API_TLS_HSTS, &t, &err) == 0 && t.hsts == 1);
	api_tls_release(&t);
	CHECK(api_parse_tls("{\"domain\": \"a.b\"}", 17, API_TLS_RENEW, &t, &err) == 0);
	CHECK(streq(t.domain, "a.b"));
	api_tls_release(&t);
	/* A key of another body, a missing one, a wrong type, not JSON. */
	CHECK(api_parse_tls(cert, strlen(cert), API_TLS_CONFIG, &t, &err) < 0);
	CHECK(err->status == NUA_EINPUT && strstr(err->msg, "bad TLS settings request"));
	nua_error_free(err);
	err = NULL;
	api_tls_release(&t);
	CHECK(api_parse_tls("{\"cert\": \"C\"}", 13, API_TLS_CERT, &t, &err) < 0);
	nua_error_free(err);
	err = NULL;
	api_tls_release(&t);
	CHECK(api_parse_tls("{\"hsts\": \"yes\"}", 15, API_TLS_HSTS, &t, &err) < 0);
	nua_error_free(err);
	err = NULL;
	api_tls_release(&t);
	CHECK(api_parse_tls("hsts", 4, API_TLS_HSTS, &t, &err) < 0);
	CHECK(strstr(err->msg, "not JSON"));
	nua_error_free(err);
	api_tls_release(&t);
}

TEST(api_parse_user_bodies) {
  struct nua_error *err = NULL;
  struct api_user u;

  CHECK_INT(
      api_parse_user(
          "{\"name\":\"al\",\"password\":\"p\",\"role\":\"admin\"}",
          strlen("{\"name\":\"al\",\"password\":\"p\",\"role\":\"admin\"}"),
          API_USER_ADD, &u, &err),
      0);
  CHECK_STR(u.name, "al");
  CHECK_STR(u.role, "admin");
  CHECK(u.email == NULL);
  api_user_release(&u);
  /* The password is required to add, and nothing else is taken. */
  CHECK_INT(api_parse_user("{\"name\":\"al\"}", strlen("{\"name\":\"al\"}"),
                           API_USER_ADD, &u, &err),
            -1);
  CHECK(err->status == NUA_EINPUT && strstr(err->msg, "bad user request"));
  nua_error_free(err);
  err = NULL;
  api_user_release(&u);
  CHECK_INT(api_parse_user(
                "{\"name\":\"al\",\"password\":\"p\",\"admin\":true}",
                strlen("{\"name\":\"al\",\"password\":\"p\",\"admin\":true}"),
                API_USER_ADD, &u, &err),
            -1);
  nua_error_free(err);
  err = NULL;
  api_user_release(&u);
  /* A change with nothing to change. */
  CHECK_INT(api_parse_user("{}", strlen("{}"), API_USER_PATCH, &u, &err), -1);
  CHECK(strstr(err->msg, "nothing to change"));
  nua_error_free(err);
  err = NULL;
  api_user_release(&u);
  /* Tokens: a life in seconds, within ten years. */
  CHECK_INT(api_parse_user("{\"name\":\"ci\",\"expires_in\":3600}",
                           strlen("{\"name\":\"ci\",\"expires_in\":3600}"),
                           API_TOKEN_CREATE, &u, &err),
            0);
  CHECK(u.expires_in == 3600 && u.role == NULL);
  api_user_release(&u);
  CHECK_INT(api_parse_user("{\"name\":\"ci\",\"expires_in\":0}",
                           strlen("{\"name\":\"ci\",\"expires_in\":0}"),
                           API_TOKEN_CREATE, &u, &err),
            -1);
  CHECK(strstr(err->msg, "expires_in"));
  nua_error_free(err);
  err = NULL;
  api_user_release(&u);
  CHECK_INT(api_parse_user("[1]", strlen("[1]"), API_GROUP_MEMBER, &u, &err),
            -1);
  nua_error_free(err);
  api_user_release(&u);
}

TEST(api_form_and_cookie_values)
{
	const char *form = "csrf=ab%2Fc&user=al+ice&password=p%26w%3D&empty=&dup=1&dup=2";
	char *v;

	CHECK_STR((v = api_form_value(form, strlen(form), "csrf")), "ab/c");
	free(v);
	CHECK_STR((v = api_form_value(form, strlen(form), "user")), "al ice");
	free(v);
	CHECK_STR((v = api_form_value(form, strlen(form), "password")), "p&w=");
	free(v);
	CHECK_STR((v = api_form_value(form, strlen(form), "empty")), "");
	free(v);
	CHECK(api_form_value(form, strlen(form), "dup") == NULL);
	CHECK(api_form_value(form, strlen(form), "absent") == NULL);
	CHECK(api_form_value("a=%4", 4, "a") == NULL);
	CHECK(api_form_value("a=%zz", 5, "a") == NULL);
	CHECK(api_form_value("a=x%00y", 7, "a") == NULL);
	/* Only the given length counts. */
	CHECK_STR((v = api_form_value("a=12&b=3", 4, "a")), "12");
	free(v);
	CHECK(api_form_value("a=12&b=3", 4, "b") == NULL);

	CHECK_STR((v = api_cookie_value("x=1; nua_session=abc ; y=2", "nua_session")), "abc");
	free(v);
	CHECK_STR((v = api_cookie_value("nua_session=", "nua_session")), "");
	free(v);
	CHECK(api_cookie_value("nua_sessionx=1; xnua_session=2", "nua_session") == NULL);
	CHECK(api_cookie_value("nua_session=1; nua_session=2", "nua_session") == NULL);
	CHECK(api_cookie_value("", "nua_session") == NULL);
}
