/* A small unit-test harness printing TAP. Each TEST registers itself at
 * start-up; main (in main.c) runs them all, or those whose name contains the
 * first argument. */
#ifndef NUA_TEST_H
#define NUA_TEST_H

#include <stdio.h>
#include <string.h>

typedef void (*test_fn)(void);
void test_register(const char *name, test_fn fn);
void test_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Mark the running test skipped, saying what this machine lacks. */
void test_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A scratch directory for the running test, removed after it. */
const char *test_tmpdir(void);

/* A new state database, test_tmpdir()/name/nua.db, migrated to the latest
 * schema (test_state.c); a failure fails the test. */
struct state;
struct state *test_state_open(const char *name);

#define TEST(name)                                                                \
	static void test_##name(void);                                            \
	__attribute__((constructor)) static void register_##name(void)            \
	{                                                                         \
		test_register(#name, test_##name);                                \
	}                                                                         \
	static void test_##name(void)

#define SKIP(...)                                                                 \
	do {                                                                      \
		test_skip(__VA_ARGS__);                                           \
		return;                                                           \
	} while (0)

#define CHECK(cond)                                                               \
	do {                                                                      \
		if (!(cond)) {                                                    \
			test_fail(__FILE__, __LINE__, "%s", #cond);               \
			return;                                                   \
		}                                                                 \
	} while (0)

#define CHECK_INT(a, b)                                                           \
	do {                                                                      \
		long long a_ = (long long)(a), b_ = (long long)(b);               \
		if (a_ != b_) {                                                   \
			test_fail(__FILE__, __LINE__, "%s == %lld, expected %lld",   \
				  #a, a_, b_);                                    \
			return;                                                   \
		}                                                                 \
	} while (0)

#define CHECK_STR(a, b)                                                           \
	do {                                                                      \
		const char *a_ = (a), *b_ = (b);                                  \
		if (!a_ || !b_ || strcmp(a_, b_) != 0) {                          \
			test_fail(__FILE__, __LINE__, "%s == \"%s\", expected \"%s\"", \
				  #a, a_ ? a_ : "(null)", b_ ? b_ : "(null)");    \
			return;                                                   \
		}                                                                 \
	} while (0)

#endif
