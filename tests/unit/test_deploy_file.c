/* Unit tests of src/deploy_file.h: the sites a deploy.toml lists, and the
 * exact FILE:LINE:COL diagnostics of the files it refuses. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "deploy_file.h"
#include "strbuf.h"
#include "test.h"
#include "util.h"

/* Each diagnostic as "FILE:LINE:COL: message\n", in the order reported. */
static char *diags_text(const struct diag_list *dl)
{
	struct strbuf sb = STRBUF_INIT;

	for (size_t i = 0; i < dl->n; i++)
		strbuf_addf(&sb, "%s:%d:%d: %s\n", dl->items[i].file ? dl->items[i].file : "(null)",
			    dl->items[i].line, dl->items[i].col, dl->items[i].msg);
	return strbuf_detach(&sb, NULL);
}

/* Parse src under the name file; it must load. Returns false (and a
 * failure) otherwise. */
static bool parse_ok(const char *file, const char *src, struct deploy_file *df, const char *tfile,
		     int tline)
{
	struct diag_list dl = DIAG_LIST_INIT;
	bool ok = true;

	if (deploy_file_parse(file, src, strlen(src), df, &dl) < 0) {
		char *text = diags_text(&dl);

		test_fail(tfile, tline, "deploy file refused:\n%s", text);
		free(text);
		ok = false;
	} else if (dl.n) {
		test_fail(tfile, tline, "accepted with %zu diagnostics", dl.n);
		deploy_file_release(df);
		ok = false;
	}
	diag_list_release(&dl);
	return ok;
}
#define PARSE_OK(file, src, df) parse_ok((file), (src), (df), __FILE__, __LINE__)

/* Parse src, which must be refused; its diagnostics as text (caller frees),
 * or NULL (and a failure) when it loaded. */
static char *parse_bad(const char *src, const char *tfile, int tline)
{
	struct diag_list dl = DIAG_LIST_INIT;
	struct deploy_file df;
	char *text;

	if (deploy_file_parse("deploy.toml", src, strlen(src), &df, &dl) == 0) {
		test_fail(tfile, tline, "deploy file accepted, but it should be refused");
		deploy_file_release(&df);
		diag_list_release(&dl);
		return NULL;
	}
	if (df.n || df.sites)
		test_fail(tfile, tline, "sites left in the result of a refused file");
	text = diags_text(&dl);
	diag_list_release(&dl);
	return text;
}

/* src is refused with exactly the diagnostics expected. */
#define CHECK_DIAGS(src, expected)                                                                 \
	do {                                                                                       \
		char *got_ = parse_bad((src), __FILE__, __LINE__);                                 \
		if (!got_)                                                                         \
			return;                                                                    \
		if (strcmp(got_, (expected)) != 0) {                                               \
			test_fail(__FILE__, __LINE__, "diagnostics:\n%sexpected:\n%s", got_,       \
				  (expected));                                                     \
			free(got_);                                                                \
			return;                                                                    \
		}                                                                                  \
		free(got_);                                                                        \
	} while (0)

TEST(deploy_file_several_sites)
{
	static const char src[] = "# three apps\n"
				  "[[site]]\n"
				  "image = \"hedgedoc:1.9.6-1\"\n"
				  "domain = \"notes.example.com\"\n"
				  "label = \"notes\"\n"
				  "\n"
				  "[[site]]\n"
				  "image = \"hello-python:1.0.0-1\"\n"
				  "domain = \"example.com/hello\"\n"
				  "\n"
				  "[[site]]\n"
				  "image = \"static:2-1\"\n";
	struct deploy_file df;

	if (!PARSE_OK("deploy.toml", src, &df))
		return;
	CHECK_INT(df.n, 3);
	CHECK_STR(df.sites[0].image, "hedgedoc:1.9.6-1");
	CHECK_STR(df.sites[0].domain, "notes.example.com");
	CHECK_STR(df.sites[0].label, "notes");
	CHECK_INT(df.sites[0].line, 2);
	CHECK_INT(df.sites[0].nenv, 0);
	CHECK_STR(df.sites[1].image, "hello-python:1.0.0-1");
	CHECK_STR(df.sites[1].domain, "example.com/hello");
	CHECK(df.sites[1].label == NULL);
	CHECK_INT(df.sites[1].line, 7);
	CHECK_STR(df.sites[2].image, "static:2-1");
	CHECK(df.sites[2].domain == NULL);
	CHECK(df.sites[2].label == NULL);
	CHECK_INT(df.sites[2].line, 11);
	deploy_file_release(&df);
	CHECK_INT(df.n, 0);
	CHECK(df.sites == NULL);
}

TEST(deploy_file_env_string_int_bool)
{
	static const char src[] = "[[site]]\n"
				  "image = \"app:1-1\"\n"
				  "[site.env]\n"
				  "NAME = \"value with spaces\"\n"
				  "PORT = 8080\n"
				  "NEG = -3\n"
				  "DEBUG = true\n"
				  "QUIET = false\n"
				  "EMPTY = \"\"\n"
				  "[[site]]\n"
				  "image = \"app:1-1\"\n"
				  "label = \"other\"\n"
				  "env = { ONLY = \"inline\" }\n";
	struct deploy_file df;

	if (!PARSE_OK("deploy.toml", src, &df))
		return;
	CHECK_INT(df.n, 2);
	CHECK_INT(df.sites[0].nenv, 6);
	CHECK_STR(df.sites[0].env[0], "NAME=value with spaces");
	CHECK_STR(df.sites[0].env[1], "PORT=8080");
	CHECK_STR(df.sites[0].env[2], "NEG=-3");
	CHECK_STR(df.sites[0].env[3], "DEBUG=true");
	CHECK_STR(df.sites[0].env[4], "QUIET=false");
	CHECK_STR(df.sites[0].env[5], "EMPTY=");
	CHECK(df.sites[0].env[6] == NULL);
	CHECK_INT(df.sites[1].nenv, 1);
	CHECK_STR(df.sites[1].env[0], "ONLY=inline");
	CHECK(df.sites[1].env[1] == NULL);
	deploy_file_release(&df);
}

TEST(deploy_file_relative_package_dir)
{
	char *dir = xasprintf("%s/deploy", test_tmpdir());
	char *pkg = xasprintf("%s/apps/hello", dir);
	char *file = xasprintf("%s/deploy.toml", dir);
	char *want = xasprintf("%s/./apps/hello", dir);
	char *want2 = xasprintf("%s/apps/hello", dir);
	static const char src[] = "[[site]]\n"
				  "image = \"./apps/hello\"\n"
				  "[[site]]\n"
				  "image = \"apps/hello\"\n"
				  "[[site]]\n"
				  "image = \"./apps/missing\"\n"
				  "[[site]]\n"
				  "image = \"/srv/pkg\"\n"
				  "[[site]]\n"
				  "image = \"hello:1-1\"\n";
	struct deploy_file df;

	CHECK_INT(mkdir_p(pkg, 0755), 0);
	if (!PARSE_OK(file, src, &df))
		return;
	CHECK_INT(df.n, 5);
	/* Existing: taken from the file's directory. */
	CHECK_STR(df.sites[0].image, want);
	CHECK_STR(df.sites[1].image, want2);
	/* Missing, absolute, or an image name: as written. */
	CHECK_STR(df.sites[2].image, "./apps/missing");
	CHECK_STR(df.sites[3].image, "/srv/pkg");
	CHECK_STR(df.sites[4].image, "hello:1-1");
	deploy_file_release(&df);
	free(dir);
	free(pkg);
	free(file);
	free(want);
	free(want2);
}

TEST(deploy_file_unknown_key_with_suggestion)
{
	CHECK_DIAGS("[[site]]\n"
		    "image = \"app:1-1\"\n"
		    "domian = \"example.com\"\n"
		    "lable = \"x\"\n"
		    "envv = {}\n"
		    "whatever = 1\n",
		    "deploy.toml:3:1: unknown key 'domian' in [[site]]; did you mean 'domain'?\n"
		    "deploy.toml:4:1: unknown key 'lable' in [[site]]; did you mean 'label'?\n"
		    "deploy.toml:5:1: unknown key 'envv' in [[site]]; did you mean 'env'?\n"
		    "deploy.toml:6:1: unknown key 'whatever' in [[site]]\n");
	/* Indented keys: the column of the key. */
	CHECK_DIAGS("[[site]]\n"
		    "  image = \"app:1-1\"\n"
		    "  imgae = \"app:1-1\"\n",
		    "deploy.toml:3:3: unknown key 'imgae' in [[site]]; did you mean 'image'?\n");
}

TEST(deploy_file_missing_image)
{
	CHECK_DIAGS("[[site]]\n"
		    "image = \"a:1-1\"\n"
		    "\n"
		    "[[site]]\n"
		    "domain = \"example.com\"\n",
		    "deploy.toml:4:1: [[site]] needs 'image' (an image or a package directory)\n");
	/* A misspelt image: both problems, in file order. */
	CHECK_DIAGS("[[site]]\n"
		    "imag = \"a:1-1\"\n",
		    "deploy.toml:1:1: [[site]] needs 'image' (an image or a package directory)\n"
		    "deploy.toml:2:1: unknown key 'imag' in [[site]]; did you mean 'image'?\n");
}

TEST(deploy_file_wrong_types)
{
	CHECK_DIAGS("[[site]]\n"
		    "image = 1\n"
		    "domain = true\n"
		    "label = [\"a\"]\n"
		    "env = \"A=b\"\n",
		    "deploy.toml:1:1: [[site]] needs 'image' (an image or a package directory)\n"
		    "deploy.toml:2:9: 'image' must be a string, not an integer\n"
		    "deploy.toml:3:10: 'domain' must be a string, not a boolean\n"
		    "deploy.toml:4:9: 'label' must be a string, not an array\n"
		    "deploy.toml:5:7: 'env' must be a table of strings, not a string\n");
	CHECK_DIAGS("[[site]]\n"
		    "image = \"a:1-1\"\n"
		    "[site.env]\n"
		    "RATIO = 1.5\n"
		    "LIST = [1, 2]\n"
		    "SUB = { a = 1 }\n"
		    "OK = \"fine\"\n",
		    "deploy.toml:4:9: env 'RATIO' must be a string, not a float\n"
		    "deploy.toml:5:8: env 'LIST' must be a string, not an array\n"
		    "deploy.toml:6:7: env 'SUB' must be a string, not a table\n");
	/* A string holding NUL cannot become a path or a name: refused at the
	 * value (the wording of that message is not pinned here). */
	{
		char *got = parse_bad("[[site]]\n"
				      "image = \"a\\u0000b\"\n",
				      __FILE__, __LINE__);

		CHECK(got != NULL);
		CHECK(strstr(got, "deploy.toml:2:9: 'image' must be a non-empty string without NUL") != NULL);
		free(got);
	}
}

TEST(deploy_file_duplicate_labels)
{
	CHECK_DIAGS("[[site]]\n"
		    "image = \"a:1-1\"\n"
		    "label = \"web\"\n"
		    "[[site]]\n"
		    "image = \"b:1-1\"\n"
		    "label = \"api\"\n"
		    "[[site]]\n"
		    "image = \"c:1-1\"\n"
		    "label = \"web\"\n",
		    "deploy.toml:7:1: label 'web' is given to two sites (the other at line 1)\n");
}

TEST(deploy_file_not_site_tables)
{
	CHECK_DIAGS("[site]\n"
		    "image = \"a:1-1\"\n",
		    "deploy.toml:1:1: 'site' must be an array of tables ([[site]])\n");
	CHECK_DIAGS("[[sites]]\n"
		    "image = \"a:1-1\"\n",
		    "deploy.toml:1:1: no [[site]] to deploy\n"
		    "deploy.toml:1:3: unknown key 'sites'; a deploy file holds [[site]] tables\n");
	CHECK_DIAGS("image = \"a:1-1\"\n"
		    "[[site]]\n"
		    "image = \"b:1-1\"\n",
		    "deploy.toml:1:1: unknown key 'image'; a deploy file holds [[site]] tables\n");
	CHECK_DIAGS("site = [1, \"x\"]\n", "deploy.toml:1:9: each site must be a table\n"
					   "deploy.toml:1:12: each site must be a table\n");
	CHECK_DIAGS("# nothing\n", "deploy.toml:1:1: no [[site]] to deploy\n");
	CHECK_DIAGS("", "deploy.toml:1:1: no [[site]] to deploy\n");
}

TEST(deploy_file_toml_syntax_error)
{
	char *got;

	/* The TOML error alone: nothing else can be checked. */
	got = parse_bad("[[site]]\n"
			"image = \"a:1-1\n"
			"label = \"x\"\n",
			__FILE__, __LINE__);
	CHECK(got != NULL);
	CHECK(starts_with(got, "deploy.toml:2:"));
	CHECK(strchr(got, '\n') == got + strlen(got) - 1);
	free(got);
	CHECK_DIAGS("[[site]]\n"
		    "image = \"a:1-1\"\n"
		    "image = \"b:1-1\"\n",
		    "deploy.toml:3:1: duplicate key 'image'\n");
	CHECK_DIAGS("[[site]]\nimage\n",
		    "deploy.toml:2:6: expected '=' after a key, found end of line\n");
}
