#include "error.h"
#include "strbuf.h"
#include "test.h"
#include "util.h"

TEST(strbuf_grows_and_formats)
{
	struct strbuf sb = STRBUF_INIT;

	CHECK_STR(sb.buf, "");
	for (int i = 0; i < 1000; i++)
		strbuf_addf(&sb, "%d,", i);
	CHECK(starts_with(sb.buf, "0,1,2,"));
	CHECK(ends_with(sb.buf, "998,999,"));
	strbuf_setlen(&sb, 2);
	CHECK_STR(sb.buf, "0,");
	strbuf_release(&sb);
	CHECK_INT(sb.len, 0);
}

TEST(nearest_word_finds_typos)
{
	static const char *const words[] = { "build-command", "packages", "project", NULL };

	CHECK_STR(nearest_word("packges", words), "packages");
	CHECK_STR(nearest_word("build_commnd", words), "build-command");
	CHECK(nearest_word("zzzzzzzz", words) == NULL);
}

TEST(valid_name_whitelist)
{
	CHECK(valid_name("hello-python", 63));
	CHECK(valid_name("0abc", 63));
	CHECK(!valid_name("-abc", 63));
	CHECK(!valid_name("Abc", 63));
	CHECK(!valid_name("a/b", 63));
	CHECK(!valid_name("", 63));
	CHECK(!valid_name("abcd", 3));
}

TEST(write_file_atomic_replaces)
{
	char *path = xasprintf("%s/f", test_tmpdir());
	char *data = NULL;
	size_t len;

	CHECK_INT(write_file_atomic(path, "one", 3, 0600), 0);
	CHECK_INT(write_file_atomic(path, "two!", 4, 0600), 0);
	CHECK_INT(read_file(path, &data, &len), 0);
	CHECK_INT(len, 4);
	CHECK_STR(data, "two!");
	free(data);
	free(path);
}

TEST(error_prefix_adds_context)
{
	struct nua_error *err = NULL;

	CHECK_INT(nua_error_set(&err, NUA_EINPUT, "bad value '%s'", "x"), -1);
	nua_error_prefix(&err, "cannot read '%s'", "f.toml");
	CHECK_STR(err->msg, "cannot read 'f.toml': bad value 'x'");
	CHECK_INT(err->status, NUA_EINPUT);
	nua_error_free(err);
}
