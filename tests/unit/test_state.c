#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "state.h"
#include "test.h"
#include "util.h"

static char *db_path(const char *name) { return xasprintf("%s/%s/nua.db", test_tmpdir(), name); }

struct state *test_state_open(const char *name)
{
	char *path = db_path(name);
	struct nua_error *err = NULL;
	struct state *st = NULL;

	if (state_open(path, &st, &err) < 0) {
		test_fail(__FILE__, __LINE__, "state_open: %s", err->msg);
		nua_error_free(err);
	}
	free(path);
	return st;
}

static int add_image(struct state *st, const char *ref)
{
	struct image_rec img = { 0 };
	struct nua_error *err = NULL;
	int r;

	img.ref = (char *)ref;
	img.id = (char *)"app";
	img.version = (char *)"1.0";
	img.release = 1;
	img.digest = (char *)"sha256:00";
	r = state_image_put(st, &img, &err);
	nua_error_free(err);
	return r;
}

static struct env_rec env2[] = { { (char *)"A", (char *)"1", false },
				 { (char *)"TOKEN", (char *)"s3cret", true } };
static struct volume_rec vols2[] = { { (char *)"data", (char *)"/data", (char *)"managed", NULL },
				     { (char *)"cache", (char *)"/cache", (char *)"tmpfs", NULL } };

static struct instance_rec make_instance(const char *name, const char *domain)
{
	struct instance_rec in = { 0 };

	in.name = (char *)name;
	in.image_ref = (char *)"app:1.0-1";
	in.domain = (char *)domain;
	in.env = env2;
	in.n_env = 2;
	in.volumes = vols2;
	in.n_volumes = 2;
	return in;
}

/* The integer a query returns, read through a connection of its own. */
static long long query_int(const char *name, const char *sql)
{
	char *path = db_path(name);
	long long n = -1;
	sqlite3_stmt *s;
	sqlite3 *db;

	if (sqlite3_open(path, &db) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK) {
		if (sqlite3_step(s) == SQLITE_ROW)
			n = sqlite3_column_int64(s, 0);
		sqlite3_finalize(s);
	}
	sqlite3_close(db);
	free(path);
	return n;
}

TEST(state_open_creates_with_pragmas_and_mode)
{
	char *path = db_path("open");
	struct nua_error *err = NULL;
	struct state *st = NULL;
	struct stat sb;
	sqlite3 *db;
	sqlite3_stmt *s;

	CHECK_INT(state_open(path, &st, &err), 0);
	CHECK_INT(state_schema_version(st), state_latest_version());
	CHECK_INT(stat(path, &sb), 0);
	CHECK_INT(sb.st_mode & 0777, 0600);
	state_close(st);
	/* WAL is a property of the file: a new connection sees it. */
	CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_INT(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
	CHECK_INT(sqlite3_step(s), SQLITE_ROW);
	CHECK_STR((const char *)sqlite3_column_text(s, 0), "wal");
	sqlite3_finalize(s);
	sqlite3_close(db);
	/* Reopening an up-to-date database is a no-op. */
	CHECK_INT(state_open(path, &st, &err), 0);
	CHECK_INT(state_schema_version(st), state_latest_version());
	state_close(st);
	free(path);
}

TEST(state_foreign_keys_are_enforced)
{
	struct state *st = test_state_open("fk");
	struct instance_rec in = make_instance("web", "a.example");
	struct nua_error *err = NULL;

	CHECK(st);
	/* The image does not exist yet. */
	CHECK_INT(state_instance_add(st, &in, &err), -1);
	CHECK_STR(err->msg, "no image 'app:1.0-1'");
	nua_error_free(err);
	err = NULL;
	/* Nor can a raw insert point at a missing image. */
	CHECK(state_exec(st, "INSERT INTO instances (name, image_ref, created_at, updated_at)"
			     " VALUES ('x', 'missing:1-1', 0, 0)", &err) < 0);
	CHECK(strstr(err->msg, "FOREIGN KEY"));
	nua_error_free(err);
	state_close(st);
}

TEST(state_image_round_trip_and_refusal_while_used)
{
	struct state *st = test_state_open("img");
	struct instance_rec in = make_instance("web", NULL);
	struct nua_error *err = NULL;
	struct image_rec got, *list;
	size_t n;

	CHECK(st);
	CHECK_INT(add_image(st, "app:1.0-1"), 0);
	CHECK_INT(add_image(st, "app:1.0-2"), 0);
	CHECK_INT(state_image_get(st, "app:1.0-1", &got, &err), 0);
	CHECK_STR(got.digest, "sha256:00");
	CHECK_STR(got.config, "{}");
	image_rec_release(&got);
	CHECK_INT(state_image_list(st, &list, &n, &err), 0);
	CHECK_INT(n, 2);
	image_rec_list_free(list, n);
	CHECK_INT(state_instance_add(st, &in, &err), 0);
	CHECK_INT(state_image_remove(st, "app:1.0-1", &err), -1);
	CHECK_STR(err->msg, "image 'app:1.0-1' is used by instance 'web'");
	CHECK_INT(err->status, NUA_EINPUT);
	nua_error_free(err);
	err = NULL;
	CHECK_INT(state_image_remove(st, "app:1.0-2", &err), 0);
	CHECK_INT(state_image_remove(st, "app:1.0-2", &err), -1);
	CHECK_STR(err->msg, "no image 'app:1.0-2'");
	nua_error_free(err);
	state_close(st);
}

TEST(state_instance_round_trip)
{
	struct state *st = test_state_open("inst");
	struct instance_rec in = make_instance("web", "a.example"), got;
	struct nua_error *err = NULL;

	CHECK(st);
	CHECK_INT(add_image(st, "app:1.0-1"), 0);
	CHECK_INT(state_instance_add(st, &in, &err), 0);
	CHECK_INT(state_instance_get(st, "web", &got, &err), 0);
	CHECK_STR(got.domain, "a.example");
	CHECK_STR(got.path, "/");
	CHECK_STR(got.desired, "running");
	CHECK_STR(got.actual, "unknown");
	CHECK_INT(got.generation, 1);
	CHECK_INT(got.n_env, 2);
	CHECK_STR(got.env[1].key, "TOKEN");
	CHECK_STR(got.env[1].value, "s3cret");
	CHECK(got.env[1].secret);
	CHECK_INT(got.n_volumes, 2);
	CHECK_STR(got.volumes[1].name, "data");
	instance_rec_release(&got);

	CHECK_INT(state_instance_set_desired(st, "web", "stopped", &err), 0);
	CHECK_INT(state_instance_set_actual(st, "web", "stopped", &err), 0);
	CHECK_INT(state_instance_set_desired(st, "web", "flying", &err), -1);
	CHECK_STR(err->msg, "invalid state 'flying' for instance 'web'");
	nua_error_free(err);
	err = NULL;
	CHECK_INT(state_instance_set_desired(st, "nope", "running", &err), -1);
	CHECK_STR(err->msg, "no instance named 'nope'");
	nua_error_free(err);
	err = NULL;

	struct env_rec env[] = { { (char *)"B", (char *)"2", false } };
	CHECK_INT(state_instance_update(st, "web", NULL, env, 1, &err), 0);
	CHECK_INT(state_instance_get(st, "web", &got, &err), 0);
	CHECK_INT(got.generation, 2);
	CHECK_STR(got.desired, "stopped");
	CHECK_INT(got.n_env, 1);
	CHECK_STR(got.env[0].key, "B");
	instance_rec_release(&got);
	state_close(st);
}

TEST(state_instance_uniqueness_errors)
{
	struct state *st = test_state_open("uniq");
	struct instance_rec a = make_instance("web", "a.example");
	struct instance_rec b = make_instance("web", "b.example");
	struct instance_rec c = make_instance("other", "a.example");
	struct instance_rec d = make_instance("Bad_Name", NULL);
	struct nua_error *err = NULL;

	CHECK(st);
	CHECK_INT(add_image(st, "app:1.0-1"), 0);
	CHECK_INT(state_instance_add(st, &a, &err), 0);
	CHECK_INT(state_instance_add(st, &b, &err), -1);
	CHECK_STR(err->msg, "instance 'web' already exists");
	nua_error_free(err);
	err = NULL;
	CHECK_INT(state_instance_add(st, &c, &err), -1);
	CHECK_STR(err->msg, "domain 'a.example' is used by instance 'web'");
	nua_error_free(err);
	err = NULL;
	/* The same domain under another path is another site. */
	c.path = (char *)"/blog";
	CHECK_INT(state_instance_add(st, &c, &err), 0);
	CHECK_INT(state_instance_add(st, &d, &err), -1);
	CHECK(strstr(err->msg, "invalid instance name 'Bad_Name'"));
	nua_error_free(err);
	state_close(st);
}

TEST(state_aliases_are_unique_across_instances)
{
	struct state *st = test_state_open("alias");
	struct instance_rec a = make_instance("web", "a.example");
	struct instance_rec b = make_instance("other", "b.example");
	struct instance_rec c = make_instance("third", "www.a.example");
	struct instance_rec none = make_instance("bare", NULL);
	struct instance_rec got;
	struct nua_error *err = NULL;

	CHECK(st);
	CHECK_INT(add_image(st, "app:1.0-1"), 0);
	CHECK_INT(state_instance_add(st, &a, &err), 0);
	CHECK_INT(state_instance_add(st, &b, &err), 0);
	CHECK_INT(state_instance_add(st, &none, &err), 0);
	CHECK_INT(state_alias_add(st, "web", "www.a.example", "/", false, &err), 0);
	CHECK_INT(state_alias_add(st, "web", "old.example", "/docs", true, &err), 0);
	/* Taken: by an alias, by an instance's own domain (any spelling of
	 * its path), or by the alias of another. */
	CHECK_INT(state_alias_add(st, "other", "www.a.example", "/", false, &err), -1);
	CHECK_STR(err->msg, "domain 'www.a.example' is used by instance 'web'");
	nua_error_free(err);
	err = NULL;
	CHECK_INT(state_alias_add(st, "web", "b.example", "/", false, &err), -1);
	CHECK_STR(err->msg, "domain 'b.example' is used by instance 'other'");
	nua_error_free(err);
	err = NULL;
	CHECK_INT(state_instance_add(st, &c, &err), -1);
	CHECK_STR(err->msg, "domain 'www.a.example' is used by instance 'web'");
	nua_error_free(err);
	err = NULL;
	CHECK_INT(state_alias_add(st, "bare", "x.example", "/", false, &err), -1);
	CHECK(strstr(err->msg, "has no domain"));
	nua_error_free(err);
	err = NULL;
	CHECK_INT(state_alias_add(st, "ghost", "x.example", "/", false, &err), -1);
	nua_error_free(err);
	err = NULL;
	CHECK_INT(state_instance_get(st, "web", &got, &err), 0);
	CHECK_INT(got.n_aliases, 2);
	CHECK_STR(got.aliases[1].domain, "www.a.example");
	CHECK(got.aliases[0].redirect && streq(got.aliases[0].path, "/docs"));
	instance_rec_release(&got);
	CHECK_INT(state_alias_remove(st, "web", "www.a.example", "/", &err), 0);
	CHECK_INT(state_alias_remove(st, "web", "www.a.example", "/", &err), -1);
	CHECK(strstr(err->msg, "is not a domain of 'web'"));
	nua_error_free(err);
	err = NULL;
	/* Free again, and gone with its instance. */
	CHECK_INT(state_instance_add(st, &c, &err), 0);
	CHECK_INT(state_instance_remove(st, "web", &err), 0);
	CHECK_INT(query_int("alias", "SELECT count(*) FROM domain_aliases"), 0);
	state_close(st);
}

TEST(state_failed_add_leaves_nothing)
{
	struct state *st = test_state_open("rollback");
	struct volume_rec dup[] = { { (char *)"data", (char *)"/data", NULL, NULL },
				    { (char *)"data", (char *)"/other", NULL, NULL } };
	struct instance_rec in = make_instance("web", "a.example");
	struct instance_rec *list;
	struct nua_error *err = NULL;
	size_t n;

	CHECK(st);
	CHECK_INT(add_image(st, "app:1.0-1"), 0);
	in.volumes = dup;
	CHECK_INT(state_instance_add(st, &in, &err), -1);
	CHECK_STR(err->msg, "volume 'data' (at '/other') is given twice for instance 'web'");
	nua_error_free(err);
	err = NULL;
	CHECK_INT(state_instance_list(st, &list, &n, &err), 0);
	CHECK_INT(n, 0);
	free(list);
	/* Neither env nor volumes of the failed instance remain. */
	CHECK_INT(query_int("rollback", "SELECT (SELECT count(*) FROM volumes) +"
					" (SELECT count(*) FROM instance_env)"), 0);
	/* And the name is free for a correct add. */
	in.volumes = vols2;
	CHECK_INT(state_instance_add(st, &in, &err), 0);
	state_close(st);
}

TEST(state_remove_cascades)
{
	struct state *st = test_state_open("cascade");
	struct instance_rec in = make_instance("web", NULL);
	struct resource_rec r = { 0 };
	struct nua_error *err = NULL;
	struct resource_rec *rl;
	size_t n;

	CHECK(st);
	CHECK_INT(add_image(st, "app:1.0-1"), 0);
	CHECK_INT(state_instance_add(st, &in, &err), 0);
	CHECK_INT(query_int("cascade", "SELECT count(*) FROM volumes"), 2);
	r.name = (char *)"web-db";
	r.type = (char *)"postgres";
	r.instance = (char *)"web";
	CHECK_INT(state_resource_add(st, &r, &err), 0);
	CHECK_INT(state_exec(st, "INSERT INTO resource_bindings VALUES ('web', 'database', 'web-db')", &err), 0);
	CHECK_INT(state_resource_remove(st, "web-db", &err), -1);
	CHECK_STR(err->msg, "resource 'web-db' is used by instance 'web'");
	nua_error_free(err);
	err = NULL;
	CHECK_INT(state_instance_remove(st, "web", &err), 0);
	/* env, volumes, bindings and the dedicated resource went with it. */
	CHECK_INT(query_int("cascade", "SELECT (SELECT count(*) FROM instance_env) +"
				       " (SELECT count(*) FROM volumes) +"
				       " (SELECT count(*) FROM resource_bindings) +"
				       " (SELECT count(*) FROM resources)"), 0);
	CHECK_INT(state_resource_list(st, &rl, &n, &err), 0);
	CHECK_INT(n, 0);
	free(rl);
	CHECK_INT(state_instance_remove(st, "web", &err), -1);
	nua_error_free(err);
	state_close(st);
}

TEST(state_events_append_list_prune)
{
	struct state *st = test_state_open("events");
	struct nua_error *err = NULL;
	struct event_rec *ev;
	int64_t id1, id2, deleted;
	size_t n;

	CHECK(st);
	CHECK_INT(state_event_add(st, "web", "deploy", "deployed app:1.0-1", "{\"gen\":1}", &id1, &err), 0);
	CHECK_INT(state_event_add(st, NULL, "daemon", "started", NULL, &id2, &err), 0);
	CHECK(id2 > id1);
	CHECK_INT(state_event_list(st, 0, 10, &ev, &n, &err), 0);
	CHECK_INT(n, 2);
	CHECK_STR(ev[0].kind, "deploy");
	CHECK_STR(ev[0].data, "{\"gen\":1}");
	CHECK(ev[1].instance == NULL);
	event_rec_list_free(ev, n);
	CHECK_INT(state_event_list(st, id1, 10, &ev, &n, &err), 0);
	CHECK_INT(n, 1);
	CHECK_INT(ev[0].id, id2);
	event_rec_list_free(ev, n);
	CHECK_INT(state_event_prune(st, 0, &deleted, &err), 0);
	CHECK_INT(deleted, 0);
	CHECK_INT(state_event_prune(st, (int64_t)time(NULL) + 10, &deleted, &err), 0);
	CHECK_INT(deleted, 2);
	state_close(st);
}

TEST(state_migrates_from_version_1)
{
	char *path = db_path("migrate");
	struct nua_error *err = NULL;
	struct state *st = NULL;
	struct instance_rec got;
	struct resource_rec r = { 0 };

	CHECK_INT(state_open_version(path, 1, &st, &err), 0);
	CHECK_INT(state_schema_version(st), 1);
	/* Data written the version 1 way: no secret column, no resources. */
	CHECK_INT(state_exec(st, "INSERT INTO images VALUES ('app:1.0-1', 'app', '1.0', 1, 'sha256:00', '{}', 0, 0);"
				 "INSERT INTO instances (name, image_ref, domain, created_at, updated_at)"
				 " VALUES ('old', 'app:1.0-1', 'old.example', 0, 0);"
				 "INSERT INTO instance_env VALUES ('old', 'KEY', 'value');"
				 "INSERT INTO volumes (instance, name, target) VALUES ('old', 'data', '/data');",
			     &err), 0);
	CHECK(state_exec(st, "SELECT count(*) FROM resources", &err) < 0);
	nua_error_free(err);
	err = NULL;
	state_close(st);

	CHECK_INT(state_open(path, &st, &err), 0);
	CHECK_INT(state_schema_version(st), state_latest_version());
	CHECK_INT(state_instance_get(st, "old", &got, &err), 0);
	CHECK_STR(got.domain, "old.example");
	CHECK_INT(got.n_env, 1);
	CHECK_STR(got.env[0].value, "value");
	CHECK(!got.env[0].secret);
	CHECK_INT(got.n_volumes, 1);
	instance_rec_release(&got);
	r.name = (char *)"postgres";
	r.type = (char *)"postgres";
	CHECK_INT(state_resource_add(st, &r, &err), 0);
	state_close(st);
	free(path);
}

TEST(state_refuses_a_newer_schema)
{
	char *path = db_path("future");
	struct nua_error *err = NULL;
	struct state *st = NULL;
	sqlite3 *db;

	CHECK_INT(state_open(path, &st, &err), 0);
	state_close(st);
	CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_INT(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	CHECK_INT(state_open(path, &st, &err), -1);
	CHECK(st == NULL);
	CHECK(strstr(err->msg, "has schema version 99, newer than this nua"));
	CHECK(strstr(err->msg, "upgrade nua"));
	nua_error_free(err);
	free(path);
}

TEST(state_concurrent_writers_wait)
{
	char *path = db_path("busy");
	struct nua_error *err = NULL;
	struct state *a = NULL, *b = NULL;
	pid_t pid;
	int status;

	CHECK_INT(state_open(path, &a, &err), 0);
	CHECK_INT(state_open(path, &b, &err), 0);
	CHECK_INT(add_image(a, "app:1.0-1"), 0);
	/* A child holds the write lock for a moment; the parent's write must
	 * wait for it (busy timeout) rather than fail with "locked". */
	pid = fork();
	if (pid == 0) {
		struct nua_error *e = NULL;

		if (state_exec(a, "BEGIN IMMEDIATE", &e) < 0)
			_exit(1);
		usleep(300 * 1000);
		_exit(state_exec(a, "COMMIT", &e) < 0 ? 1 : 0);
	}
	usleep(100 * 1000);
	CHECK_INT(add_image(b, "app:1.0-2"), 0);
	CHECK_INT(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	state_close(a);
	state_close(b);
	free(path);
}

TEST(state_revision_revert_restores_image_env_and_generation)
{
	struct state *st = test_state_open("rev");
	struct instance_rec in = make_instance("web", "a.example"), got;
	struct nua_error *err = NULL;
	struct env_rec env[] = { { (char *)"B", (char *)"2", false } };
	int64_t rev = -1;

	CHECK(st);
	CHECK_INT(add_image(st, "app:1.0-1"), 0);
	CHECK_INT(add_image(st, "app:2.0-1"), 0);
	CHECK_INT(state_instance_add(st, &in, &err), 0);
	CHECK_INT(state_revision_latest(st, "web", &rev, &err), 0);
	CHECK_INT(rev, 0);
	CHECK_INT(state_instance_record_exit(st, "web", 3, &err), 0);
	CHECK_INT(state_instance_update(st, "web", "app:2.0-1", env, 1, &err), 0);
	CHECK_INT(state_instance_get(st, "web", &got, &err), 0);
	CHECK_STR(got.image_ref, "app:2.0-1");
	CHECK_INT(got.generation, 2);
	CHECK_INT(got.restarts, 0);
	CHECK_INT(got.last_exit, 3);
	instance_rec_release(&got);
	/* The replaced spec is kept, and the image it uses cannot go. */
	CHECK_INT(state_revision_latest(st, "web", &rev, &err), 0);
	CHECK_INT(rev, 1);
	CHECK_INT(state_image_remove(st, "app:1.0-1", &err), -1);
	nua_error_free(err);
	err = NULL;
	CHECK_INT(state_instance_revert(st, "web", 1, &err), 0);
	CHECK_INT(state_instance_get(st, "web", &got, &err), 0);
	CHECK_STR(got.image_ref, "app:1.0-1");
	CHECK_INT(got.generation, 1);
	CHECK_INT(got.n_env, 2);
	CHECK_STR(got.env[1].key, "TOKEN");
	CHECK_STR(got.env[1].value, "s3cret");
	CHECK(got.env[1].secret);
	instance_rec_release(&got);
	CHECK_INT(state_revision_latest(st, "web", &rev, &err), 0);
	CHECK_INT(rev, 0);
	CHECK_INT(state_instance_revert(st, "web", 1, &err), -1);
	CHECK_STR(err->msg, "instance 'web' has no revision 1");
	nua_error_free(err);
	err = NULL;
	/* A success drops them. */
	CHECK_INT(state_instance_update(st, "web", NULL, NULL, 0, &err), 0);
	CHECK_INT(state_revisions_drop(st, "web", &err), 0);
	CHECK_INT(state_revision_latest(st, "web", &rev, &err), 0);
	CHECK_INT(rev, 0);
	state_close(st);
}

TEST(state_supervisor_fields_and_removing)
{
	struct state *st = test_state_open("sup");
	struct instance_rec in = make_instance("web", "a.example"), got;
	struct nua_error *err = NULL;

	CHECK(st);
	CHECK_INT(add_image(st, "app:1.0-1"), 0);
	CHECK_INT(state_instance_add(st, &in, &err), 0);
	CHECK_INT(state_instance_record_exit(st, "web", 137, &err), 0);
	CHECK_INT(state_instance_record_exit(st, "web", -1, &err), 0);
	CHECK_INT(state_instance_set_health(st, "web", "unhealthy", &err), 0);
	CHECK_INT(state_instance_set_started(st, "web", 1234, &err), 0);
	CHECK_INT(state_instance_set_removing(st, "web", true, &err), 0);
	CHECK_INT(state_instance_get(st, "web", &got, &err), 0);
	CHECK_INT(got.restarts, 2);
	CHECK_INT(got.last_exit, 137);
	CHECK_STR(got.health, "unhealthy");
	CHECK_INT(got.started_at, 1234);
	CHECK_INT(got.removing, 2);
	instance_rec_release(&got);
	state_close(st);
}

TEST(state_metrics_add_list_prune)
{
	struct state *st = test_state_open("metrics");
	struct nua_error *err = NULL;
	struct metric_rec recs[] = {
		{ (char *)"a", 100, 5000, 1 << 20, 3, 0, 2 },
		{ (char *)"b", 100, -1, -1, -1, 1, -1 },
		{ (char *)"a", 110, 6000, 2 << 20, 4, 0, 3 },
	};
	struct metric_rec *out = NULL;
	size_t n = 0;

	CHECK(st);
	CHECK_INT(state_metrics_add(st, recs, 3, &err), 0);
	CHECK_INT(state_metrics_list(st, "a", 0, &out, &n, &err), 0);
	CHECK_INT(n, 2);
	CHECK_INT(out[1].time, 110);
	CHECK_INT(out[1].memory, 2 << 20);
	metric_rec_list_free(out, n);
	CHECK_INT(state_metrics_list(st, NULL, 105, &out, &n, &err), 0);
	CHECK_INT(n, 1);
	metric_rec_list_free(out, n);
	CHECK_INT(state_metrics_list(st, "b", 0, &out, &n, &err), 0);
	CHECK_INT(n, 1);
	CHECK_INT(out[0].cpu_usec, -1);
	CHECK_INT(out[0].restarts, 1);
	metric_rec_list_free(out, n);
	CHECK_INT(state_metrics_prune(st, 105, &err), 0);
	CHECK_INT(state_metrics_list(st, NULL, 0, &out, &n, &err), 0);
	CHECK_INT(n, 1);
	metric_rec_list_free(out, n);
	state_close(st);
}

/* Opening a connection in a process must not drop the locks its other
 * connections hold (closing any descriptor of a file drops the process's
 * POSIX locks on it): another process's last connection would then think
 * it is alone, checkpoint and delete the WAL under them, and what they
 * write next is lost (the daemon's database, with a build worker). */
TEST(state_open_keeps_the_locks_of_other_connections)
{
	char *path = db_path("locks");
	char *wal = xasprintf("%s-wal", path);
	struct state *a = NULL, *b = NULL;
	struct nua_error *err = NULL;
	struct event_rec *ev = NULL;
	struct stat sb;
	size_t n = 0;
	int status = 0, go[2];
	pid_t pid;
	char c;

	/* The other process is forked before this one opens anything: a
	 * fork would copy SQLite's table of this process's locks. */
	CHECK(pipe(go) == 0);
	pid = fork();
	if (pid == 0) {
		struct state *other = NULL;

		close(go[1]);
		if (read(go[0], &c, 1) != 1 || state_open(path, &other, NULL) < 0 ||
		    state_event_add(other, NULL, "test", "other", NULL, NULL, NULL) < 0)
			_exit(1);
		state_close(other);
		_exit(0);
	}
	close(go[0]);
	a = test_state_open("locks");
	CHECK(a != NULL);
	CHECK_INT(state_event_add(a, NULL, "test", "first", NULL, NULL, &err), 0);
	CHECK_INT(state_open(path, &b, &err), 0);
	state_close(b);
	CHECK(write(go[1], "g", 1) == 1);
	close(go[1]);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(stat(wal, &sb) == 0);
	CHECK_INT(state_event_add(a, NULL, "test", "after", NULL, NULL, &err), 0);
	/* A new connection sees all three. */
	CHECK_INT(state_open(path, &b, &err), 0);
	CHECK_INT(state_event_list(b, 0, 100, &ev, &n, &err), 0);
	CHECK_INT((int)n, 3);
	event_rec_list_free(ev, n);
	state_close(b);
	state_close(a);
	free(wal);
	free(path);
}

TEST(state_backup_last_is_the_newest_of_the_instance)
{
	struct state *st = NULL;
	struct nua_error *err = NULL;
	char dir[] = "/tmp/nua-test-state.XXXXXX";
	char *path;
	int64_t t;
	struct backup_rec a = { (char *)"local", (char *)"aa", (char *)"blog", 100, (char *)"manual",
				(char *)"blog:1-1", 1, 1, 1 };
	struct backup_rec b = a;

	CHECK(mkdtemp(dir) != NULL);
	path = xasprintf("%s/nua.db", dir);
	CHECK_INT(state_open(path, &st, &err), 0);
	CHECK_INT(state_backup_last(st, "blog", &t, &err), 0);
	CHECK_INT((int)t, 0);
	b.snapshot = (char *)"bb";
	b.time = 300;
	CHECK_INT(state_backup_add(st, &a, &err), 0);
	CHECK_INT(state_backup_add(st, &b, &err), 0);
	CHECK_INT(state_backup_last(st, "blog", &t, &err), 0);
	CHECK_INT((int)t, 300);
	CHECK_INT(state_backup_remove(st, "local", "bb", &err), 0);
	CHECK_INT(state_backup_last(st, "blog", &t, &err), 0);
	CHECK_INT((int)t, 100);
	CHECK_INT(state_backup_last(st, "other", &t, &err), 0);
	CHECK_INT((int)t, 0);
	state_close(st);
	unlink(path);
	free(path);
	rmdir(dir);
}
