/* Unit tests of the nua-config API (src/config.h): the value grammars
 * (sizes, durations, version constraints), aliases, defaults, placeholders,
 * the forms of [env] and the collection of every problem. tests/config/
 * holds whole files with their exact `nua check` output. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "strbuf.h"
#include "test.h"
#include "util.h"

/* Each diagnostic as "LINE:COL: message\n", in the order reported. */
static char *diags_text(const struct diag_list *dl)
{
	struct strbuf sb = STRBUF_INIT;

	for (size_t i = 0; i < dl->n; i++)
		strbuf_addf(&sb, "%d:%d: %s\n", dl->items[i].line, dl->items[i].col,
			    dl->items[i].msg);
	return strbuf_detach(&sb, NULL);
}

/* Parse src, which must load; NULL (and a failure) otherwise. */
static struct nua_config *load_ok(const char *src, const char *file, int line)
{
	struct diag_list dl = DIAG_LIST_INIT;
	struct nua_config *cfg = NULL;

	if (config_parse_buffer("test.toml", src, strlen(src), &cfg, &dl) < 0 || !cfg) {
		char *text = diags_text(&dl);

		test_fail(file, line, "config refused:\n%s", text);
		free(text);
		config_free(cfg);
		cfg = NULL;
	}
	diag_list_release(&dl);
	return cfg;
}
#define LOAD_OK(src) load_ok((src), __FILE__, __LINE__)

/* Parse src, which must be refused; returns its diagnostics as text (caller
 * frees), or NULL (and a failure) when it loaded. */
static char *load_bad(const char *src, const char *file, int line)
{
	struct diag_list dl = DIAG_LIST_INIT;
	struct nua_config *cfg = (struct nua_config *)1;
	char *text;

	if (config_parse_buffer("test.toml", src, strlen(src), &cfg, &dl) == 0) {
		test_fail(file, line, "config accepted, but it should be refused");
		config_free(cfg);
		diag_list_release(&dl);
		return NULL;
	}
	if (cfg != NULL) {
		test_fail(file, line, "config_parse_buffer stored a config on failure");
		diag_list_release(&dl);
		return NULL;
	}
	for (size_t i = 0; i < dl.n; i++)
		if (!dl.items[i].file || strcmp(dl.items[i].file, "test.toml") != 0)
			test_fail(file, line, "diagnostic %zu does not name test.toml", i);
	text = diags_text(&dl);
	diag_list_release(&dl);
	return text;
}

/* src is refused with exactly the diagnostics expected. */
#define CHECK_DIAGS(src, expected)                                                 \
	do {                                                                       \
		char *got_ = load_bad((src), __FILE__, __LINE__);                   \
		if (!got_)                                                          \
			return;                                                     \
		if (strcmp(got_, (expected)) != 0) {                                \
			test_fail(__FILE__, __LINE__, "diagnostics:\n%sexpected:\n%s", \
				  got_, (expected));                                \
			free(got_);                                                 \
			return;                                                     \
		}                                                                   \
		free(got_);                                                         \
	} while (0)

#define META "[metadata]\nid = \"app\"\nversion = \"1.2.3\"\n"

/* ---- sizes ---- */

TEST(config_parse_size_accepts_units)
{
	static const struct {
		const char *text;
		uint64_t bytes;
	} cases[] = {
		{ "256M", 256ULL << 20 },   { "256m", 256ULL << 20 },  { "1.5G", 3ULL << 29 },
		{ "1G", 1ULL << 30 },       { "512k", 512ULL << 10 },  { "512K", 512ULL << 10 },
		{ "64MiB", 64ULL << 20 },   { "64MB", 64ULL << 20 },   { "64Mi", 64ULL << 20 },
		{ "2T", 2ULL << 40 },       { "1048576", 1048576 },    { "100b", 100 },
		{ "0.5k", 512 },            { "1", 1 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint64_t b = 0;

		if (config_parse_size(cases[i].text, &b) != 0) {
			test_fail(__FILE__, __LINE__, "config_parse_size(\"%s\") refused", cases[i].text);
			return;
		}
		if (b != cases[i].bytes) {
			test_fail(__FILE__, __LINE__, "config_parse_size(\"%s\") = %llu, expected %llu",
				  cases[i].text, (unsigned long long)b,
				  (unsigned long long)cases[i].bytes);
			return;
		}
	}
}

TEST(config_parse_size_refuses_zero_and_garbage)
{
	static const char *const bad[] = {
		"0",   "0M",   "0.1", "",    "M",     "-1",   "-1M", " 1M", "1M ",  "1 M",
		"1X",  "1.5X", "1MiX", "1bi", "MB",   "1iB",  "1Mb2", ".5G", "1PB", "20000000T",
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		uint64_t b = 12345;

		if (config_parse_size(bad[i], &b) == 0) {
			test_fail(__FILE__, __LINE__, "config_parse_size(\"%s\") accepted: %llu", bad[i],
				  (unsigned long long)b);
			return;
		}
		CHECK_INT(b, 12345); /* untouched on failure */
	}
}

/* ---- durations ---- */

TEST(config_parse_duration_units_and_combinations)
{
	static const struct {
		const char *text;
		int64_t seconds;
	} cases[] = {
		{ "30s", 30 },     { "15m", 900 },         { "24h", 86400 },    { "7d", 604800 },
		{ "2w", 1209600 }, { "1h30m", 5400 },      { "90", 90 },        { "1h30", 3630 },
		{ "1d12h", 129600 }, { "1m30s", 90 },     { "0h5m", 300 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int64_t s = 0;

		if (config_parse_duration(cases[i].text, &s) != 0) {
			test_fail(__FILE__, __LINE__, "config_parse_duration(\"%s\") refused",
				  cases[i].text);
			return;
		}
		if (s != cases[i].seconds) {
			test_fail(__FILE__, __LINE__, "config_parse_duration(\"%s\") = %lld, expected %lld",
				  cases[i].text, (long long)s, (long long)cases[i].seconds);
			return;
		}
	}
}

TEST(config_parse_duration_refuses_bad_ones)
{
	static const char *const bad[] = {
		"",    "0",  "0s", "0h0m", "h",   "s30", "1x",  "1.5h", "-5",  "1h 30m",
		" 30s", "30s ", "30ss", "1H", "5sec", "9999999999999999999", "106751991167301d",
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int64_t s = 777;

		if (config_parse_duration(bad[i], &s) == 0) {
			test_fail(__FILE__, __LINE__, "config_parse_duration(\"%s\") accepted: %lld",
				  bad[i], (long long)s);
			return;
		}
		CHECK_INT(s, 777);
	}
}

/* ---- version constraints ---- */

TEST(config_version_parse_valid_constraints)
{
	struct config_version_constraint c;
	char *why = (char *)"untouched";

	CHECK_INT(config_version_parse("14", &c, &why), 0);
	CHECK(why == NULL);
	CHECK_INT(c.n, 1);
	CHECK_INT(c.clause[0].op, VERSION_PREFIX);
	CHECK_INT(c.clause[0].nparts, 1);
	CHECK_INT(c.clause[0].part[0], 14);

	CHECK_INT(config_version_parse(">=14, <16", &c, &why), 0);
	CHECK_INT(c.n, 2);
	CHECK_INT(c.clause[0].op, VERSION_GE);
	CHECK_INT(c.clause[1].op, VERSION_LT);
	CHECK_INT(c.clause[1].part[0], 16);

	CHECK_INT(config_version_parse("  >= 10.11 ,<= 11.4.2 ", &c, &why), 0);
	CHECK_INT(c.n, 2);
	CHECK_INT(c.clause[0].nparts, 2);
	CHECK_INT(c.clause[0].part[1], 11);
	CHECK_INT(c.clause[1].op, VERSION_LE);
	CHECK_INT(c.clause[1].nparts, 3);

	CHECK_INT(config_version_parse("==14.*", &c, &why), 0);
	CHECK_INT(c.clause[0].op, VERSION_PREFIX);
	CHECK_INT(c.clause[0].nparts, 1);
	CHECK_INT(config_version_parse("!=14.*", &c, &why), 0);
	CHECK_INT(c.clause[0].op, VERSION_NE);
	CHECK(c.clause[0].wildcard);
	CHECK_INT(config_version_parse("==14.2", &c, &why), 0);
	CHECK_INT(c.clause[0].op, VERSION_EQ);
	CHECK_INT(config_version_parse("~=14.2", &c, &why), 0);
	CHECK_INT(c.clause[0].op, VERSION_COMPAT);
	CHECK_INT(config_version_parse("^1.2", &c, &why), 0);
	CHECK_INT(c.clause[0].op, VERSION_CARET);
	CHECK_INT(config_version_parse(">7", &c, NULL), 0); /* why may be NULL */
	CHECK_INT(c.clause[0].op, VERSION_GT);
	CHECK_INT(config_version_parse(">=14, <=14", &c, NULL), 0); /* exactly 14 */
	CHECK_INT(config_version_parse("1,2,3,4,5,6,7,>=0", &c, NULL), -1); /* empty */
	CHECK_INT(config_version_parse(">1,>2,>3,>4,>5,>6,>7,>8", &c, NULL), 0);
	CHECK_INT(c.n, 8);
}

TEST(config_version_parse_invalid_constraints)
{
	static const struct {
		const char *text, *why;
	} cases[] = {
		{ "", "a version is missing at the end" },
		{ ">=14,", "a version is missing at the end" },
		{ ">=14,,<16", "a version is missing before ','" },
		{ ">=16, <14", "no version can satisfy '>=16, <14'" },
		{ "==14, ==15", "no version can satisfy '==14, ==15'" },
		{ ">14, <=14", "no version can satisfy '>14, <=14'" },
		{ ">=14.0, <14", "no version can satisfy '>=14.0, <14'" },
		{ "=14", "unknown operator '=' (use ==, ~= or ^)" },
		{ "~14", "unknown operator '~' (use ==, ~= or ^)" },
		{ "~=14", "'~=' needs at least two numbers, such as ~=14.0" },
		{ "14 15", "unexpected '15' (separate clauses with commas)" },
		{ "v14", "'v14' is not a version (numbers and dots, such as 14 or 10.11)" },
		{ ">=14.*", "'14.*' is not a version (numbers and dots, such as 14 or 10.11)" },
		{ "1.2.3.4.5", "'1.2.3.4.5' is not a version (numbers and dots, such as 14 or 10.11)" },
		{ ">1,>2,>3,>4,>5,>6,>7,>8,>9", "more than 8 clauses" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct config_version_constraint c;
		char *why = NULL;

		if (config_version_parse(cases[i].text, &c, &why) != -1) {
			test_fail(__FILE__, __LINE__, "'%s' accepted", cases[i].text);
			free(why);
			return;
		}
		if (!why || strcmp(why, cases[i].why) != 0) {
			test_fail(__FILE__, __LINE__, "'%s': why = \"%s\", expected \"%s\"",
				  cases[i].text, why ? why : "(null)", cases[i].why);
			free(why);
			return;
		}
		free(why);
	}
}

TEST(config_version_match_clauses)
{
	static const struct {
		const char *constraint, *version;
		bool match;
	} cases[] = {
		{ "14", "14", true },           { "14", "14.6", true },
		{ "14", "15.0", false },        { "14", "13.9", false },
		{ ">=14, <16", "15.4", true },  { ">=14, <16", "15+248", true },
		{ ">=14, <16", "16", false },   { ">=14, <16", "13.99", false },
		{ ">=14, <16", "14", true },    { "~=14.2", "14.9", true },
		{ "~=14.2", "14.1", false },    { "~=14.2", "15.0", false },
		{ "^1.2", "1.9.9", true },      { "^1.2", "2.0", false },
		{ "^0.2.3", "0.2.9", true },    { "^0.2.3", "0.3.0", false },
		{ "!=14.*", "14.1", false },    { "!=14.*", "15", true },
		{ "!=14.2", "14.2.0", false },  { "!=14.2", "14.3", true },
		{ "==10.11", "10.11.4-0+deb12u1", false }, { "==10.11.*", "10.11.4-0+deb12u1", true },
		{ "<=11.4", "11.4", true },     { ">11.4", "11.4", false },
		{ ">=14", "latest", false },
	};
	struct config_version_constraint empty = { 0 };

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct config_version_constraint c;

		if (config_version_parse(cases[i].constraint, &c, NULL) < 0) {
			test_fail(__FILE__, __LINE__, "'%s' refused", cases[i].constraint);
			return;
		}
		if (config_version_match(&c, cases[i].version) != cases[i].match) {
			test_fail(__FILE__, __LINE__, "'%s' %s '%s'", cases[i].version,
				  cases[i].match ? "should match" : "should not match",
				  cases[i].constraint);
			return;
		}
	}
	/* No constraint takes every version. */
	CHECK(config_version_match(&empty, "1.0"));
	CHECK(config_version_match(&empty, "anything"));
}

/* ---- whole files ---- */

TEST(config_minimal_file_gets_defaults)
{
	struct nua_config *cfg = LOAD_OK(META);
	char *ref;

	CHECK(cfg);
	CHECK_STR(cfg->file, "test.toml");
	CHECK(cfg->dir == NULL);
	CHECK_STR(cfg->metadata.id, "app");
	CHECK_STR(cfg->metadata.version, "1.2.3");
	CHECK_INT(cfg->metadata.release, 1);
	ref = config_image_ref(cfg);
	CHECK_STR(ref, "app:1.2.3-1");
	free(ref);
	CHECK_STR(cfg->build.method, "build");
	CHECK_STR(cfg->build.project, ".");
	CHECK(!cfg->healthcheck.set);
	CHECK(!cfg->backup.set);
	CHECK_INT(cfg->run.memory, 0);
	CHECK(cfg->run.cpus == 0);
	CHECK_INT(cfg->n_ports, 0);
	CHECK(config_port_find(cfg, "web") == NULL);
	config_free(cfg);
	config_free(NULL);
}

TEST(config_healthcheck_defaults)
{
	struct nua_config *cfg = LOAD_OK(META "[port.web]\ncontainer = 8080\n"
					      "[healthcheck]\npath = \"/health\"\n");

	CHECK(cfg);
	CHECK(cfg->healthcheck.set);
	CHECK_STR(cfg->healthcheck.path, "/health");
	CHECK_INT(cfg->healthcheck.command.n, 0);
	CHECK_INT(cfg->healthcheck.interval, 5);
	CHECK_INT(cfg->healthcheck.timeout, 30);
	CHECK_INT(cfg->healthcheck.retries, 3);
	CHECK_INT(cfg->healthcheck.start_period, 120);
	config_free(cfg);

	/* Given values, as numbers or durations; 0 retries and start-period
	 * are allowed. */
	cfg = LOAD_OK(META "[healthcheck]\ncmd = [\"true\", \"test -f /ok\"]\ninterval = \"1m\"\n"
			   "timeout = 2\nretries = 0\nstart_period = 0\n");
	CHECK(cfg);
	CHECK_INT(cfg->healthcheck.command.n, 2);
	CHECK_STR(cfg->healthcheck.command.v[1], "test -f /ok");
	CHECK_INT(cfg->healthcheck.interval, 60);
	CHECK_INT(cfg->healthcheck.timeout, 2);
	CHECK_INT(cfg->healthcheck.retries, 0);
	CHECK_INT(cfg->healthcheck.start_period, 0);
	config_free(cfg);
}

TEST(config_release_and_image_ref)
{
	struct nua_config *cfg = LOAD_OK("[metadata]\nid = \"web-app\"\nversion = \"2.0_rc1\"\n"
					 "release = 7\n");
	char *ref;

	CHECK(cfg);
	CHECK_INT(cfg->metadata.release, 7);
	ref = config_image_ref(cfg);
	CHECK_STR(ref, "web-app:2.0_rc1-7");
	free(ref);
	config_free(cfg);
	CHECK_DIAGS(META "release = 0\n",
		    "4:11: 'release' in [metadata] must be a positive integer, not 0\n");
	CHECK_DIAGS(META "release = \"2\"\n",
		    "4:11: 'release' in [metadata] must be a positive integer, not a string\n");
}

TEST(config_aliases_and_underscores)
{
	struct nua_config *cfg;

	cfg = LOAD_OK(META "licence = \"MIT\"\n"
			   "[build]\nbuild-command = \"make\"\n");
	CHECK(cfg);
	CHECK_STR(cfg->metadata.license, "MIT");
	CHECK_INT(cfg->build.build.n, 1);
	CHECK_STR(cfg->build.build.v[0], "make");
	config_free(cfg);

	cfg = LOAD_OK(META "[build]\nbuild_command = [\"make\", \"make install\"]\n"
			   "licence = \"GPL-3.0\"\ndocument_root = \"/nua/app/www\"\n");
	CHECK(cfg);
	CHECK_INT(cfg->build.build.n, 2);
	CHECK_STR(cfg->build.build.v[1], "make install");
	CHECK_STR(cfg->metadata.license, "GPL-3.0");
	CHECK_STR(cfg->build.document_root, "/nua/app/www");
	config_free(cfg);

	/* [[provider]] with the Python Nua's module-name and module-version,
	 * and the old names of the resource types. */
	cfg = LOAD_OK(META "[[provider]]\nname = \"database\"\nmodule-name = \"postgresql\"\n"
			   "module_version = \">=14, <16\"\n"
			   "[[resource]]\nname = \"cache\"\ntype = \"redis\"\n");
	CHECK(cfg);
	CHECK_INT(cfg->resources.n, 2);
	CHECK_STR(cfg->resources.v[0].name, "database");
	CHECK_STR(cfg->resources.v[0].type, "postgres");
	CHECK_STR(cfg->resources.v[0].version, ">=14, <16");
	CHECK_INT(cfg->resources.v[0].constraint.n, 2);
	CHECK(cfg->resources.v[0].network);
	CHECK_STR(cfg->resources.v[1].type, "redis");
	CHECK_INT(cfg->resources.v[1].constraint.n, 0);
	config_free(cfg);

	/* Volume target aliases. */
	cfg = LOAD_OK(META "[[volume]]\nname = \"a\"\ndest = \"/a\"\n"
			   "[[volume]]\nname = \"b\"\ndestination = \"/b\"\n");
	CHECK(cfg);
	CHECK_STR(cfg->volumes.v[0].target, "/a");
	CHECK_STR(cfg->volumes.v[1].target, "/b");
	config_free(cfg);
}

TEST(config_one_key_two_spellings_is_refused)
{
	CHECK_DIAGS(META "[build]\nbuild = \"a\"\nbuild_command = \"b\"\n",
		    "6:1: 'build' in [build] is given twice (as 'build' and as 'build_command')\n");
	CHECK_DIAGS(META "license = \"MIT\"\n[build]\nlicence = \"MIT\"\n",
		    "6:1: 'license' is given both in [metadata] and in [build]; keep one\n");
	CHECK_DIAGS(META "[build]\nbuild-comand = \"make\"\n",
		    "5:1: unknown key 'build-comand' in [build]; did you mean 'build-command'?\n");
}

TEST(config_version_placeholder_is_expanded)
{
	struct nua_config *cfg =
		LOAD_OK("[metadata]\nid = \"app\"\nversion = \"3.1\"\nrelease = 2\n"
			"title = \"App {version}\"\n"
			"tagline = \"{id} {version}-{release}, {{braces}}\"\n"
			"[build]\nsrc-url = \"https://example.com/app-{version}.tar.gz\"\n"
			"build = [\"make VERSION={version}\", \"echo ${HOME} {unknown}\"]\n");

	CHECK(cfg);
	CHECK_STR(cfg->metadata.title, "App 3.1");
	CHECK_STR(cfg->metadata.tagline, "app 3.1-2, {braces}");
	CHECK_STR(cfg->build.src_url, "https://example.com/app-3.1.tar.gz");
	/* Commands: metadata placeholders expanded, other braces (shell
	 * code) left as written. */
	CHECK_STR(cfg->build.build.v[0], "make VERSION=3.1");
	CHECK_STR(cfg->build.build.v[1], "echo ${HOME} {unknown}");
	config_free(cfg);

	/* In metadata strings an unknown placeholder is a problem, placed on
	 * the placeholder itself. */
	CHECK_DIAGS(META "title = \"App {verison}\"\n",
		    "4:14: unknown placeholder '{verison}' in 'title'; did you mean '{version}'?\n");
}

TEST(config_env_value_forms)
{
	struct nua_config *cfg = LOAD_OK(
		META "[env]\n"
		     "TEXT = \"hello {NUM}\"\n"
		     "NUM = 42\n"
		     "RATIO = 0.5\n"
		     "FLAG = true\n"
		     "DB_PASS = { from = \"database\", key = \"POSTGRES_PASSWORD\" }\n"
		     "DOMAIN = { key = \"domain\" }\n"
		     "SECRET = { random = true, length = 32 }\n"
		     "PIN = { random = true, type = \"int\", persist = false }\n"
		     "DEFAULT_RANDOM = { random = \"true\" }\n"
		     "USER = { unique_user = true }\n"
		     "DB = { unique-db = true, display = true }\n"
		     "IP = { external-ip = true }\n"
		     "[[resource]]\nname = \"database\"\ntype = \"postgres\"\n");
	const struct config_env *e;

	CHECK(cfg);
	CHECK_INT(cfg->env.n, 12);
	e = cfg->env.v;
	CHECK_STR(e[0].key, "TEXT");
	CHECK_INT(e[0].kind, CONFIG_ENV_VALUE);
	CHECK_STR(e[0].value, "hello {NUM}"); /* kept for deploy time */
	CHECK_INT(e[0].pos.line, 5);
	CHECK_INT(e[0].value_pos.col, 8);
	CHECK_STR(e[1].value, "42");
	CHECK_STR(e[2].value, "0.5");
	CHECK_STR(e[3].value, "true");
	CHECK_INT(e[4].kind, CONFIG_ENV_FROM);
	CHECK_STR(e[4].from, "database");
	CHECK_STR(e[4].from_key, "POSTGRES_PASSWORD");
	CHECK_INT(e[5].kind, CONFIG_ENV_FROM);
	CHECK_STR(e[5].from, ""); /* the instance itself */
	CHECK_STR(e[5].from_key, "domain");
	CHECK_INT(e[6].kind, CONFIG_ENV_RANDOM);
	CHECK_INT(e[6].length, 32);
	CHECK(!e[6].integer);
	CHECK(e[6].persist);
	CHECK_INT(e[7].kind, CONFIG_ENV_RANDOM);
	CHECK(e[7].integer);
	CHECK(!e[7].persist);
	CHECK_INT(e[8].length, 24);
	CHECK(e[8].persist);
	CHECK(!e[8].display);
	CHECK_INT(e[9].kind, CONFIG_ENV_UNIQUE_USER);
	CHECK_INT(e[10].kind, CONFIG_ENV_UNIQUE_DB);
	CHECK(e[10].display);
	CHECK_INT(e[11].kind, CONFIG_ENV_EXTERNAL_IP);
	config_free(cfg);
}

TEST(config_env_problems)
{
	CHECK_DIAGS(META "[env]\nA = { random = true, unique-db = true }\n",
		    "5:5: [env.A] must be one of { from, key }, { random = true, length }, "
		    "{ unique-user = true }, { unique-db = true } or { external-ip = true }\n");
	CHECK_DIAGS(META "[env]\nA = { random = true, length = 4 }\n",
		    "5:31: 'length' in [env.A] must be an integer from 8 to 256\n");
	CHECK_DIAGS(META "[env]\nA = { random = false }\n",
		    "5:16: 'random' in [env.A] must be true (remove the table otherwise)\n");
	CHECK_DIAGS(META "[env]\nA = { from = \"nowhere\", key = \"X\" }\n",
		    "5:1: 'A' in [env] takes its value from 'nowhere', which is neither a "
		    "[[resource]] nor a [[volume]] of this package\n");
	CHECK_DIAGS(META "[env]\nURL = \"http://{HOST}/\"\nHOTS = \"x\"\n",
		    "5:15: 'URL' in [env] refers to '{HOST}', which [env] does not define; did you "
		    "mean '{HOTS}'?\n");
	CHECK_DIAGS(META "[env]\nA = \"{B}\"\nB = \"{A}\"\n",
		    "6:6: references in [env] make a cycle: A -> B -> A\n");
	CHECK_DIAGS(META "[env]\nMY-VAR = \"x\"\n",
		    "5:1: invalid variable name 'MY-VAR' in [env]; did you mean 'MY_VAR'?\n");
	CHECK_DIAGS(META "[env]\nA = [1, 2]\n",
		    "5:5: 'A' in [env] must be a string, a number, true or false, or a table, not an "
		    "array\n");
}

TEST(config_ports_defaults_and_env_reference)
{
	struct nua_config *cfg = LOAD_OK(META "[env]\nPORT = \"8080\"\n"
					      "[port.web]\ncontainer = { key = \"PORT\" }\n"
					      "[port.plain]\ncontainer = 80\nssl = false\nproxy = 8000\n"
					      "[port.dns]\ncontainer = 53\nhost = 5353\nprotocol = \"UDP\"\n");
	const struct config_port *p;

	CHECK(cfg);
	CHECK_INT(cfg->n_ports, 3);
	p = config_port_find(cfg, "web");
	CHECK(p);
	CHECK_STR(p->container.env, "PORT");
	CHECK_INT(p->container.number, 0);
	CHECK(p->ssl);
	CHECK_INT(p->proxy.number, 443);
	CHECK_INT(p->protocol, CONFIG_TCP);
	p = config_port_find(cfg, "plain");
	CHECK(p && !p->ssl);
	CHECK_INT(p->proxy.number, 8000);
	p = config_port_find(cfg, "dns");
	CHECK(p);
	CHECK_INT(p->protocol, CONFIG_UDP);
	CHECK_INT(p->host.number, 5353);
	CHECK_INT(p->proxy.number, 0);
	config_free(cfg);

	cfg = LOAD_OK(META "[port.web]\ncontainer = 80\nssl = false\n");
	CHECK(cfg);
	CHECK_INT(config_port_find(cfg, "web")->proxy.number, 80);
	config_free(cfg);
}

TEST(config_every_problem_is_collected_in_order)
{
	/* Problems in several sections, written out of order of discovery:
	 * all are reported, sorted by position. */
	CHECK_DIAGS("[metadata]\n"
		    "id = \"Bad_Id\"\n"
		    "version = \"1.0\"\n"
		    "release = -1\n"
		    "[run]\n"
		    "memory = \"lots\"\n"
		    "cpus = 0\n"
		    "[port.web]\n"
		    "contaner = 80\n"
		    "[healthcheck]\n"
		    "interval = \"soon\"\n",
		    "2:6: invalid id 'Bad_Id': use lowercase letters, digits and '-', starting with a "
		    "letter or digit, at most 63 characters\n"
		    "4:11: 'release' in [metadata] must be a positive integer, not -1\n"
		    "6:10: 'memory' in [run] must be a size such as \"256M\" or \"1G\"\n"
		    "7:8: 'cpus' in [run] must be a positive number\n"
		    "8:1: [port.web] is missing the required key 'container'\n"
		    "9:1: unknown key 'contaner' in [port.web]; did you mean 'container'?\n"
		    "10:1: [healthcheck] needs a 'command' (run in the container) or a 'path' (an HTTP "
		    "GET on the web port)\n"
		    "11:12: 'interval' in [healthcheck] must be a positive number of seconds or a "
		    "duration such as \"30s\", \"15m\" or \"24h\"\n");
}

TEST(config_missing_metadata_and_syntax_errors)
{
	CHECK_DIAGS("[run]\nstart = \"x\"\n",
		    "1:1: missing [metadata] section (it needs at least 'id' and 'version')\n");
	CHECK_DIAGS("[metadata]\nid = \"x\"\n",
		    "1:1: [metadata] is missing the required key 'version'\n");
	/* A TOML syntax error is the one diagnostic: nothing else can be
	 * checked. */
	CHECK_DIAGS(META "[run\n", "4:5: expected ']' to close the table header, found end of line\n");
	CHECK_DIAGS("id = \"x\"\n[metadata]\nversion = \"1\"\n",
		    "1:1: 'id' is outside any section; put it under [metadata]\n"
		    "2:1: [metadata] is missing the required key 'id'\n");
}

TEST(config_volumes_and_options)
{
	struct nua_config *cfg = LOAD_OK(META "[[volume]]\nname = \"data\"\ntarget = \"/data\"\n"
					      "options = { mode = \"0750\", read-only = true }\n"
					      "backup = { method = \"tgz_volumes\", frequency = \"24h\" }\n"
					      "[[volume]]\ntype = \"tmpfs\"\ntarget = \"/tmp/x\"\n"
					      "options = { size = \"64M\", mode = 0o1777 }\n"
					      "[[volume]]\ntype = \"directory\"\nsource = \"/srv/x\"\n"
					      "target = \"/x\"\n");
	const struct config_volume *v;

	CHECK(cfg);
	CHECK_INT(cfg->volumes.n, 3);
	v = &cfg->volumes.v[0];
	CHECK_INT(v->type, CONFIG_VOLUME_MANAGED);
	CHECK_INT(v->mode, 0750);
	CHECK(v->read_only);
	CHECK(v->backup.set);
	CHECK_STR(v->backup.method, "tgz_volumes");
	CHECK_INT(v->backup.frequency, 86400);
	v = &cfg->volumes.v[1];
	CHECK_INT(v->type, CONFIG_VOLUME_TMPFS);
	CHECK(v->name == NULL);
	CHECK_INT(v->size, 64 << 20);
	CHECK_INT(v->mode, 01777);
	v = &cfg->volumes.v[2];
	CHECK_INT(v->type, CONFIG_VOLUME_DIRECTORY);
	CHECK_STR(v->source, "/srv/x");
	CHECK_INT(v->mode, -1);
	config_free(cfg);
}

TEST(config_to_json_is_normalised)
{
	struct nua_config *cfg = LOAD_OK(META "licence = \"MIT\"\n[build]\nbuild_command = \"make\"\n"
					      "[run]\nmemory = \"1G\"\n");
	json_t *j, *v;

	CHECK(cfg);
	j = config_to_json(cfg);
	config_free(cfg);
	CHECK(j);
	CHECK_STR(json_string_value(json_object_get(j, "image")), "app:1.2.3-1");
	v = json_object_get(json_object_get(j, "metadata"), "license");
	CHECK(json_is_string(v) && strcmp(json_string_value(v), "MIT") == 0);
	v = json_object_get(json_object_get(j, "build"), "build");
	CHECK(json_is_array(v) && json_array_size(v) == 1);
	CHECK(json_object_get(json_object_get(j, "build"), "build-command") == NULL);
	CHECK(json_is_null(json_object_get(json_object_get(j, "metadata"), "title")));
	CHECK_INT(json_integer_value(json_object_get(json_object_get(j, "run"), "memory")), 1 << 30);
	CHECK(json_is_null(json_object_get(j, "healthcheck")));
	json_decref(j);
}

TEST(config_load_finds_the_file_in_a_directory)
{
	char *dir = xasprintf("%s/pkg", test_tmpdir());
	char *sub = xasprintf("%s/nua", dir);
	char *file = xasprintf("%s/nua-config.toml", sub);
	struct diag_list dl = DIAG_LIST_INIT;
	struct nua_error *err = NULL;
	struct nua_config *cfg = NULL;
	FILE *f;
	int r;

	mkdir(dir, 0755);
	mkdir(sub, 0755);
	f = fopen(file, "w");
	if (f) {
		fputs(META, f);
		fclose(f);
	}
	r = config_load(dir, &cfg, &dl, &err);
	if (r == 0) {
		CHECK_STR(cfg->file, file);
		CHECK_STR(cfg->dir, dir);
	}
	config_free(cfg);
	cfg = NULL;
	nua_error_free(err);
	err = NULL;
	CHECK_INT(r, 0);
	CHECK_INT(dl.n, 0);

	/* No file: an error, no diagnostics. */
	r = config_load(sub, &cfg, &dl, &err); /* sub/nua-config.toml exists: fine */
	config_free(cfg);
	cfg = NULL;
	CHECK_INT(r, 0);
	free(file);
	file = xasprintf("%s/missing", dir);
	mkdir(file, 0755);
	r = config_load(file, &cfg, &dl, &err);
	CHECK_INT(r, -1);
	CHECK(cfg == NULL);
	CHECK_INT(dl.n, 0);
	CHECK(err && err->status == NUA_EINPUT);
	CHECK(strstr(err->msg, "cannot read '") == err->msg);
	CHECK(strstr(err->msg, "missing/nua-config.toml'") != NULL);
	nua_error_free(err);
	diag_list_release(&dl);
	free(file);
	free(sub);
	free(dir);
}

TEST(config_volume_reserved_targets)
{
	struct nua_config *cfg;

	CHECK_DIAGS(META "[[volume]]\nname = \"d\"\ntarget = \"/dev/shm\"\n",
		    "6:10: volume target '/dev/shm' is reserved\n");
	CHECK_DIAGS(META "[[volume]]\nname = \"d\"\ntarget = \"/proc\"\n",
		    "6:10: volume target '/proc' is reserved\n");
	CHECK_DIAGS(META "[[volume]]\nname = \"d\"\ntarget = \"/\"\n",
		    "6:10: volume target '/' is reserved\n");
	CHECK_DIAGS(META "[[volume]]\nname = \"d\"\ntarget = \"/data/\"\n",
		    "6:10: volume target '/data/' must be a normalised absolute path\n");
	/* Paths that only begin with the same letters are not reserved. */
	cfg = LOAD_OK(META "[[volume]]\nname = \"a\"\ntarget = \"/processing\"\n"
			   "[[volume]]\nname = \"b\"\ntarget = \"/system/data\"\n"
			   "[[volume]]\nname = \"c\"\ntarget = \"/devices\"\n");
	CHECK(cfg);
	CHECK_INT(cfg->volumes.n, 3);
	config_free(cfg);
}
