#include <string.h>

#include "resource.h"
#include "test.h"
#include "util.h"

static const char *get(const struct env_rec *env, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (streq(env[i].key, key))
			return env[i].value;
	return NULL;
}

TEST(resource_env_names_url_and_secrets)
{
	struct env_rec *env = NULL;
	struct nua_error *err = NULL;
	size_t n = 0, alloc = 0;
	const char *pw;
	char *url;

	CHECK_INT(resource_new_env("my-blog", "main-db", "postgres", "nua-postgres", &env, &n, &alloc, &err), 0);
	CHECK_STR(get(env, n, "MAIN_DB_USER"), "my_blog_main_db");
	CHECK_STR(get(env, n, "MAIN_DB_DB"), "my_blog_main_db");
	CHECK_STR(get(env, n, "MAIN_DB_HOST"), "nua-postgres");
	CHECK_STR(get(env, n, "MAIN_DB_PORT"), "5432");
	pw = get(env, n, "MAIN_DB_PASSWORD");
	CHECK(pw && strlen(pw) == 32);
	url = xasprintf("postgresql://my_blog_main_db:%s@nua-postgres:5432/my_blog_main_db", pw);
	CHECK_STR(get(env, n, "MAIN_DB_URL"), url);
	free(url);
	for (size_t i = 0; i < n; i++)
		CHECK(env[i].secret == (ends_with(env[i].key, "_PASSWORD") ||
					ends_with(env[i].key, "_URL")));
	CHECK_STR(resource_env_lookup(env, n, "main-db", "password"), pw);
	CHECK_STR(resource_env_lookup(env, n, "main-db", "database"), "my_blog_main_db");
	CHECK(resource_env_lookup(env, n, "main-db", "nothing") == NULL);
	CHECK(resource_env_lookup(env, n, "other", "url") == NULL);
	CHECK_INT(resource_new_env("a", "cache", "redis", "nua-redis", &env, &n, &alloc, &err), 0);
	CHECK_STR(get(env, n, "CACHE_PREFIX"), "a_cache:");
	CHECK_STR(get(env, n, "CACHE_DB"), "0");
	CHECK_INT(resource_new_env("a", "x", "mongodb", "nua-mongodb", &env, &n, &alloc, &err), -1);
	CHECK(strstr(err->msg, "'mongodb'") != NULL);
	nua_error_free(err);
	for (size_t i = 0; i < n; i++) {
		free(env[i].key);
		free(env[i].value);
	}
	free(env);
	CHECK(resource_type_supported("mariadb"));
	CHECK(!resource_type_supported("sqlite"));
	CHECK(resource_reserved_name("nua-postgres"));
	CHECK(!resource_reserved_name("nuage"));
}

TEST(resource_parse_url_accepts_and_refuses)
{
	struct resource_url u;
	struct nua_error *err = NULL;

	CHECK_INT(resource_parse_url("postgres", "postgresql://bob:p%40ss@db.example.com:6543/notes",
				     &u, &err),
		  0);
	CHECK_STR(u.user, "bob");
	CHECK_STR(u.password, "p@ss");
	CHECK_STR(u.host, "db.example.com");
	CHECK_INT(u.port, 6543);
	CHECK_STR(u.db, "notes");
	resource_url_release(&u);
	CHECK_INT(resource_parse_url("mariadb", "mysql://u:x@10.0.0.5/app?ssl=1", &u, &err), 0);
	CHECK_INT(u.port, 3306);
	CHECK_STR(u.db, "app");
	resource_url_release(&u);
	CHECK_INT(resource_parse_url("redis", "redis://u:x@cache", &u, &err), 0);
	CHECK_STR(u.db, "");
	resource_url_release(&u);

	CHECK_INT(resource_parse_url("postgres", "mysql://u:x@h/d", &u, &err), -1);
	CHECK_STR(err->msg, "a postgres server's URL starts with postgresql://, not mysql://");
	nua_error_free(err);
	err = NULL;
	CHECK_INT(resource_parse_url("postgres", "postgresql://h/d", &u, &err), -1);
	nua_error_free(err);
	err = NULL;
	CHECK_INT(resource_parse_url("postgres", "postgresql://u:secret@h:99999/d", &u, &err), -1);
	CHECK(strstr(err->msg, "secret") == NULL);
	nua_error_free(err);
	err = NULL;
	CHECK_INT(resource_parse_url("postgres", "postgresql://u:%zz@h/d", &u, &err), -1);
	nua_error_free(err);
	err = NULL;
	CHECK_INT(resource_parse_url("postgres", "postgresql://u:x@h", &u, &err), -1);
	CHECK_STR(err->msg, "the URL of the postgres server names no database (/DB)");
	nua_error_free(err);
	err = NULL;
	CHECK_INT(resource_parse_url("postgres", "postgresql://u:x@bad host/d", &u, &err), -1);
	nua_error_free(err);
}

TEST(resource_version_constraints)
{
	struct nua_error *err = NULL;

	CHECK_INT(resource_check_version("db", "postgres", ">=14, <16", &err), 0);
	CHECK_INT(resource_check_version("db", "postgres", NULL, &err), 0);
	CHECK_INT(resource_check_version("db", "mariadb", "10.11", &err), 0);
	CHECK_INT(resource_check_version("db", "postgres", ">=16", &err), -1);
	CHECK_STR(err->msg, "resource 'db' asks for postgres '>=16', and the postgres server Nua "
			    "runs is version 15; give the package a server of its own with "
			    "--resource db=URL");
	nua_error_free(err);
}

TEST(resource_url_alias_never_takes_a_resource_own_name)
{
	const char *common[] = { "database", "redis" }, *common_t[] = { "postgres", "redis" };
	const char *two[] = { "db", "cache", "other", "sessions" };
	const char *two_t[] = { "mariadb", "redis", "postgres", "redis" };
	/* "redis" is a PostgreSQL here: REDIS_URL is its own, so the Redis
	 * named "cache" gets no alias. */
	const char *odd[] = { "redis", "cache" }, *odd_t[] = { "postgres", "redis" };
	const char *db_later[] = { "main", "database" }, *db_later_t[] = { "postgres", "mariadb" };

	CHECK(resource_url_alias(common, common_t, 2, 0) == NULL);
	CHECK(resource_url_alias(common, common_t, 2, 1) == NULL);
	CHECK_STR(resource_url_alias(two, two_t, 4, 0), "DATABASE_URL");
	CHECK_STR(resource_url_alias(two, two_t, 4, 1), "REDIS_URL");
	CHECK(resource_url_alias(two, two_t, 4, 2) == NULL);
	CHECK(resource_url_alias(two, two_t, 4, 3) == NULL);
	CHECK_STR(resource_url_alias(odd, odd_t, 2, 0), "DATABASE_URL");
	CHECK(resource_url_alias(odd, odd_t, 2, 1) == NULL);
	CHECK(resource_url_alias(db_later, db_later_t, 2, 0) == NULL);
	CHECK(resource_url_alias(db_later, db_later_t, 2, 1) == NULL);
	CHECK(resource_url_alias(two, two_t, 4, 4) == NULL);
}

TEST(resource_owned_key_names_what_resources_give)
{
	const char *names[] = { "db", "cache" }, *types[] = { "postgres", "redis" };

	CHECK(resource_owned_key("DB_PASSWORD", names, types, 2));
	CHECK(resource_owned_key("DB_URL", names, types, 2));
	CHECK(resource_owned_key("CACHE_PREFIX", names, types, 2));
	CHECK(resource_owned_key("DATABASE_URL", names, types, 2));
	CHECK(resource_owned_key("REDIS_URL", names, types, 2));
	CHECK(!resource_owned_key("DB_HOST_SEEN", names, types, 2));
	CHECK(!resource_owned_key("SECRET_KEY", names, types, 2));
	CHECK(!resource_owned_key("DATABASE_URL", names, types, 0));
}

TEST(resource_pg_archive_time_is_found_in_known_headers)
{
	/* The first bytes of a pg_dump 15 custom-format archive (1.14, ints of
	 * 4 bytes): made at 11:41:16 on 2026-12-07 (tm_year 126, tm_mon 11). */
	static const unsigned char v14[] = {
		0x50, 0x47, 0x44, 0x4d, 0x50, 0x01, 0x0e, 0x00, 0x04, 0x08, 0x01, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x29, 0x00, 0x00, 0x00,
		0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x0b, 0x00,
		0x00, 0x00, 0x00, 0x7e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x05, 0x00, 0x00, 0x00, 0x6e, 0x70, 0x5f, 0x64, 0x62, 0x00
	};
	unsigned char h[sizeof(v14)];
	size_t off = 0, n = 0;

	CHECK(pg_archive_time(v14, sizeof(v14), &off, &n));
	CHECK_INT(off, 16);
	CHECK_INT(n, 35);
	/* Its tm_sec and tm_year, and the database name right after. */
	CHECK_INT(v14[off + 1], 0x10);
	CHECK_INT(v14[off + 5 * 5 + 1], 0x7e);
	CHECK_INT(v14[off + n + 1], 0x05);
	/* Since 1.15 the compression is one byte. */
	memcpy(h, v14, sizeof(h));
	h[6] = 15;
	CHECK(pg_archive_time(h, sizeof(h), &off, &n));
	CHECK_INT(off, 12);
	CHECK_INT(n, 35);
	/* Too short, another magic, an unknown version, a bad int size. */
	CHECK(!pg_archive_time(v14, 50, &off, &n));
	CHECK(!pg_archive_time((const unsigned char *)"-- SQL dump\n", 12, &off, &n));
	h[6] = 17;
	CHECK(!pg_archive_time(h, sizeof(h), &off, &n));
	h[6] = 14;
	h[8] = 0;
	CHECK(!pg_archive_time(h, sizeof(h), &off, &n));
	h[8] = 9;
	CHECK(!pg_archive_time(h, sizeof(h), &off, &n));
}
