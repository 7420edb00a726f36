#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"

struct test_case {
	const char *name;
	test_fn fn;
};

static struct test_case tests[1024];
static size_t ntests;
static int current_failed;
static char current_skip[200];
static char tmpdir[256];

void test_register(const char *name, test_fn fn)
{
	if (ntests == sizeof(tests) / sizeof(tests[0])) {
		fprintf(stderr, "too many unit tests\n");
		abort();
	}
	tests[ntests].name = name;
	tests[ntests].fn = fn;
	ntests++;
}

void test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	current_failed = 1;
	printf("# %s:%d: ", file, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

void test_skip(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(current_skip, sizeof(current_skip), fmt, ap);
	va_end(ap);
}

const char *test_tmpdir(void)
{
	if (!tmpdir[0]) {
		snprintf(tmpdir, sizeof(tmpdir), "%s/nua-unit-XXXXXX",
			 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
		if (!mkdtemp(tmpdir)) {
			perror("mkdtemp");
			abort();
		}
	}
	return tmpdir;
}

static void remove_tmpdir(void)
{
	char cmd[300];

	if (!tmpdir[0])
		return;
	/* Test scratch space only; the path was made by mkdtemp above. */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "# could not remove %s\n", tmpdir);
	tmpdir[0] = '\0';
}

int main(int argc, char **argv)
{
	const char *filter = argc > 1 ? argv[1] : NULL;
	size_t run = 0, failed = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (size_t i = 0; i < ntests; i++)
		if (!filter || strstr(tests[i].name, filter))
			run++;
	printf("1..%zu\n", run);
	run = 0;
	for (size_t i = 0; i < ntests; i++) {
		if (filter && !strstr(tests[i].name, filter))
			continue;
		current_failed = 0;
		current_skip[0] = '\0';
		tests[i].fn();
		remove_tmpdir();
		run++;
		if (current_skip[0] && !current_failed)
			printf("ok %zu - %s # SKIP %s\n", run, tests[i].name, current_skip);
		else
			printf("%s %zu - %s\n", current_failed ? "not ok" : "ok", run,
			       tests[i].name);
		failed += current_failed;
	}
	return failed ? 1 : 0;
}
