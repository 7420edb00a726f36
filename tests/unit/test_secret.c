/* Unit tests of src/secret.h: sealing and opening under the master key kept
 * in $NUA_ROOT/secrets, with NUA_ROOT in the test's scratch directory. Every
 * test puts NUA_ROOT back as it found it, whatever the outcome. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "secret.h"
#include "test.h"
#include "util.h"

static char *saved_root;
static bool had_root;

/* NUA_ROOT = the test's directory, or a directory below it. */
static void use_root(const char *sub)
{
	const char *v = getenv("NUA_ROOT");
	char *root = sub ? xasprintf("%s/%s", test_tmpdir(), sub) : xstrdup(test_tmpdir());

	had_root = v != NULL;
	saved_root = v ? xstrdup(v) : NULL;
	setenv("NUA_ROOT", root, 1);
	free(root);
}

static void switch_root(const char *sub)
{
	char *root = xasprintf("%s/%s", test_tmpdir(), sub);

	setenv("NUA_ROOT", root, 1);
	free(root);
}

static void restore_root(void)
{
	if (had_root)
		setenv("NUA_ROOT", saved_root, 1);
	else
		unsetenv("NUA_ROOT");
	free(saved_root);
	saved_root = NULL;
}

/* A test body runs between use_root and restore_root, so that a failing
 * CHECK (which returns) still restores the environment. */
#define SECRET_TEST(name)                                                                          \
	static void body_##name(void);                                                             \
	TEST(name)                                                                                 \
	{                                                                                          \
		use_root(NULL);                                                                    \
		body_##name();                                                                     \
		restore_root();                                                                    \
	}                                                                                          \
	static void body_##name(void)

static char *seal(const char *plain, const char *file, int line)
{
	struct nua_error *err = NULL;
	char *out = NULL;

	if (secret_seal(plain, &out, &err) < 0) {
		test_fail(file, line, "secret_seal: %s", err ? err->msg : "(no error)");
		nua_error_free(err);
		return NULL;
	}
	return out;
}
#define SEAL(plain) seal((plain), __FILE__, __LINE__)

SECRET_TEST(secret_seal_open_round_trip)
{
	static const char *const texts[] = {"s3cret", "", "with spaces and = signs\n", "ünïcødé ✓",
					    "x"};
	struct nua_error *err = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
		char *sealed = SEAL(texts[i]);
		char *plain = NULL;

		if (!sealed)
			return;
		CHECK(secret_is_sealed(sealed));
		CHECK(starts_with(sealed, "nua-secret:v1:"));
		/* The plain text does not show through. */
		if (strlen(texts[i]) > 1)
			CHECK(!strstr(sealed, texts[i]));
		CHECK_INT(secret_open(sealed, &plain, &err), 0);
		CHECK_STR(plain, texts[i]);
		free(plain);
		free(sealed);
	}
	CHECK(err == NULL);
}

SECRET_TEST(secret_long_value_round_trip)
{
	struct nua_error *err = NULL;
	char *big = xmalloc(100001);
	char *sealed, *plain = NULL;

	for (size_t i = 0; i < 100000; i++)
		big[i] = (char)('a' + i % 26);
	big[100000] = '\0';
	sealed = SEAL(big);
	if (!sealed) {
		free(big);
		return;
	}
	CHECK_INT(secret_open(sealed, &plain, &err), 0);
	CHECK(streq(plain, big));
	free(plain);
	free(sealed);
	free(big);
}

SECRET_TEST(secret_master_key_file_and_modes)
{
	char *dir = xasprintf("%s/secrets", test_tmpdir());
	char *key = xasprintf("%s/master.key", dir);
	char *sealed, *data = NULL;
	size_t len = 0;
	struct stat sb;

	CHECK(access(key, F_OK) < 0);
	sealed = SEAL("hello");
	free(sealed);
	CHECK_INT(stat(dir, &sb), 0);
	CHECK(S_ISDIR(sb.st_mode));
	CHECK_INT(sb.st_mode & 07777, 0700);
	CHECK_INT(stat(key, &sb), 0);
	CHECK(S_ISREG(sb.st_mode));
	CHECK_INT(sb.st_mode & 07777, 0600);
	CHECK_INT(sb.st_size, 32);
	/* A second seal reuses the key rather than making another. */
	CHECK_INT(read_file(key, &data, &len), 0);
	sealed = SEAL("again");
	free(sealed);
	{
		char *data2 = NULL;
		size_t len2 = 0;

		CHECK_INT(read_file(key, &data2, &len2), 0);
		CHECK_INT(len2, len);
		CHECK(memcmp(data, data2, len) == 0);
		free(data2);
	}
	free(data);
	free(key);
	free(dir);
}

SECRET_TEST(secret_two_seals_differ)
{
	struct nua_error *err = NULL;
	char *a = SEAL("same text"), *b = SEAL("same text");
	char *pa = NULL, *pb = NULL;

	CHECK(a && b);
	/* A fresh random nonce each time. */
	CHECK(!streq(a, b));
	CHECK_INT(secret_open(a, &pa, &err), 0);
	CHECK_INT(secret_open(b, &pb, &err), 0);
	CHECK_STR(pa, "same text");
	CHECK_STR(pb, "same text");
	free(pa);
	free(pb);
	free(a);
	free(b);
}

SECRET_TEST(secret_tampered_value_fails)
{
	struct nua_error *err = NULL;
	char *sealed = SEAL("do not touch"), *plain = NULL;
	size_t n, prefix = strlen("nua-secret:v1:");

	CHECK(sealed != NULL);
	n = strlen(sealed);
	/* Change one base64 character of the ciphertext (past the nonce). */
	{
		size_t at = n - 6;

		sealed[at] = sealed[at] == 'A' ? 'B' : 'A';
	}
	CHECK_INT(secret_open(sealed, &plain, &err), -1);
	CHECK(plain == NULL);
	CHECK(err != NULL);
	CHECK_INT(err->status, NUA_EFAIL);
	CHECK(strstr(err->msg, "does not open") != NULL);
	nua_error_free(err);
	err = NULL;

	/* Too short to hold a nonce and a MAC. */
	CHECK_INT(secret_open("nua-secret:v1:AAAA", &plain, &err), -1);
	CHECK_INT(err->status, NUA_EINPUT);
	CHECK(strstr(err->msg, "damaged") != NULL);
	nua_error_free(err);
	err = NULL;

	/* Not base64. */
	sealed[prefix + 3] = '*';
	CHECK_INT(secret_open(sealed, &plain, &err), -1);
	CHECK_INT(err->status, NUA_EINPUT);
	nua_error_free(err);
	free(sealed);
}

SECRET_TEST(secret_other_master_key_fails)
{
	struct nua_error *err = NULL;
	char *mine, *theirs, *plain = NULL;

	switch_root("server-a");
	mine = SEAL("for server a");
	switch_root("server-b");
	theirs = SEAL("for server b");
	CHECK(mine && theirs);

	/* Server b cannot open what server a sealed. */
	CHECK_INT(secret_open(mine, &plain, &err), -1);
	CHECK(plain == NULL);
	CHECK_INT(err->status, NUA_EFAIL);
	CHECK(strstr(err->msg, "master key") != NULL);
	nua_error_free(err);
	err = NULL;
	CHECK_INT(secret_open(theirs, &plain, &err), 0);
	CHECK_STR(plain, "for server b");
	free(plain);
	plain = NULL;

	/* Back on server a, the other way round. */
	switch_root("server-a");
	CHECK_INT(secret_open(mine, &plain, &err), 0);
	CHECK_STR(plain, "for server a");
	free(plain);
	plain = NULL;
	CHECK_INT(secret_open(theirs, &plain, &err), -1);
	nua_error_free(err);
	free(mine);
	free(theirs);
}

SECRET_TEST(secret_bad_master_key_file)
{
	struct nua_error *err = NULL;
	char *dir = xasprintf("%s/secrets", test_tmpdir());
	char *key = xasprintf("%s/master.key", dir);
	char *out = NULL;

	/* A key file of the wrong size is refused, not padded. */
	CHECK_INT(mkdir_p(dir, 0700), 0);
	CHECK_INT(write_file_atomic(key, "short", 5, 0600), 0);
	CHECK_INT(secret_seal("x", &out, &err), -1);
	CHECK(out == NULL);
	CHECK(err != NULL);
	CHECK(strstr(err->msg, "is not a master key") != NULL);
	CHECK(strstr(err->msg, "master.key") != NULL);
	nua_error_free(err);
	free(key);
	free(dir);
}

TEST(secret_random_string_length_and_alphabet)
{
	static const int lens[] = {0, 1, 8, 24, 64, 1000};
	bool seen_upper = false, seen_lower = false, seen_digit = false;
	char *a, *b;

	for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
		char *s = secret_random_string(lens[i]);

		CHECK_INT(strlen(s), lens[i]);
		for (const char *c = s; *c; c++) {
			if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
			      (*c >= '0' && *c <= '9'))) {
				test_fail(__FILE__, __LINE__, "'%c' out of [A-Za-z0-9]", *c);
				free(s);
				return;
			}
			seen_upper |= *c >= 'A' && *c <= 'Z';
			seen_lower |= *c >= 'a' && *c <= 'z';
			seen_digit |= *c >= '0' && *c <= '9';
		}
		free(s);
	}
	/* Over a thousand characters, each class shows up. */
	CHECK(seen_upper && seen_lower && seen_digit);
	a = secret_random_string(32);
	b = secret_random_string(32);
	CHECK(!streq(a, b));
	free(a);
	free(b);
}

/* Last in the file: under ASan a short unsealed value used to stop the run
 * (secret_open read past its end before checking the prefix). */
SECRET_TEST(secret_open_refuses_unsealed)
{
	static const char *const values[] = {"a plain value longer than the prefix",
					     "nua-secret:v2:xx", "plain text", ""};
	struct nua_error *err = NULL;
	char *plain = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(values); i++) {
		CHECK(!secret_is_sealed(values[i]));
		CHECK_INT(secret_open(values[i], &plain, &err), -1);
		CHECK(plain == NULL);
		CHECK(err != NULL);
		CHECK_INT(err->status, NUA_EINPUT);
		CHECK(strstr(err->msg, "not a sealed secret") != NULL);
		nua_error_free(err);
		err = NULL;
	}
}

TEST(secret_random_int63_range)
{
	long long a = secret_random_int63(), b = secret_random_int63();

	CHECK(a >= 0);
	CHECK(b >= 0);
	/* Two equal draws of 63 random bits would be a broken generator. */
	CHECK(a != b);
}

TEST(secret_open_with_another_servers_key)
{
	struct nua_error *err = NULL;
	char *key = NULL, *sealed = NULL, *plain = NULL;

	CHECK_INT(secret_master_key_text(&key, &err), 0);
	CHECK_INT((int)strlen(key), 43);
	CHECK_INT(secret_seal("moved", &sealed, &err), 0);
	CHECK_INT(secret_open_with(sealed, key, &plain, &err), 0);
	CHECK_STR(plain, "moved");
	free(plain);
	key[0] = key[0] == 'A' ? 'B' : 'A';
	CHECK_INT(secret_open_with(sealed, key, &plain, &err), -1);
	CHECK_STR(err->msg, "a sealed secret does not open with the master key given");
	nua_error_free(err);
	err = NULL;
	CHECK_INT(secret_open_with(sealed, "short", &plain, &err), -1);
	CHECK(err->status == NUA_EINPUT);
	nua_error_free(err);
	free(key);
	free(sealed);
}
