/* Allocation that aborts on failure, cleanup attributes, small helpers. */
#ifndef NUA_UTIL_H
#define NUA_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define NORETURN __attribute__((noreturn))
#define PRINTF(f, a) __attribute__((format(printf, f, a)))

/* A broken invariant: print where and abort. Never used for bad input. */
#define BUG(...) nua_bug(__FILE__, __LINE__, __VA_ARGS__)
NORETURN PRINTF(3, 4) void nua_bug(const char *file, int line, const char *fmt, ...);

/* Allocation failure prints a message and aborts: there is no recovery. */
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
PRINTF(1, 2) char *xasprintf(const char *fmt, ...);

/* Grow *p (holding *alloc elements of size elem) so that it holds at least
 * nr elements. */
#define ALLOC_GROW(p, nr, alloc)                                                  \
	do {                                                                      \
		if ((nr) > (alloc)) {                                             \
			(alloc) = (alloc) < 8 ? 8 : (alloc) * 2;                  \
			if ((alloc) < (nr))                                       \
				(alloc) = (nr);                                   \
			(p) = xrealloc((p), (alloc) * sizeof(*(p)));              \
		}                                                                 \
	} while (0)

static inline void freep(void *p) { free(*(void **)p); }
static inline void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}
static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}
#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Hand a cleanup-managed pointer to a new owner. */
#define TAKE_PTR(p)                                                               \
	({                                                                        \
		__typeof__(p) take_ptr_tmp_ = (p);                                \
		(p) = NULL;                                                       \
		take_ptr_tmp_;                                                    \
	})

static inline bool streq(const char *a, const char *b) { return strcmp(a, b) == 0; }
bool starts_with(const char *s, const char *prefix);
bool ends_with(const char *s, const char *suffix);

/* Levenshtein distance between a and b, treating '-' and '_' as equal. */
size_t edit_distance(const char *a, const char *b);

/* The candidate closest to word, or NULL when none is close enough to be a
 * plausible typo. candidates is a NULL-terminated array; the result is
 * borrowed from it. */
const char *nearest_word(const char *word, const char *const *candidates);

/* True when s is a valid name for something that reaches a path or a
 * command line: [a-z0-9][a-z0-9-]*, at most max characters. */
bool valid_name(const char *s, size_t max);

/* True when the len bytes at s are an environment variable's name: ASCII
 * letters, digits and '_', not starting with a digit, at least one. */
bool valid_env_name(const char *s, size_t len);

/* Read a whole file into a NUL-terminated buffer (*len excludes the NUL).
 * Returns 0, or -errno with nothing allocated. */
int read_file(const char *path, char **out, size_t *len);

/* Write data to path atomically: path.tmp, fsync, rename, fsync the
 * directory. mode is applied to the new file. Returns 0 or -errno. */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* The value of the hexadecimal digit c, or -1. */
int hex_digit(int c);

/* s percent-encoded for a URL's path segment or query value: every byte but
 * ASCII letters, digits and "-._~:" (caller frees). */
char *url_escape(const char *s);

/* Write all of buf to fd, again after EINTR and short writes. Returns 0 or
 * -errno. */
int write_all(int fd, const void *buf, size_t len);

/* write_file_atomic of the string text, unless path holds it already (its
 * mode is then left as it is). Returns 0 or -errno. */
int write_file_if_changed(const char *path, const char *text, mode_t mode);

/* mkdir -p with mode for created directories. Returns 0 or -errno. */
int mkdir_p(const char *path, mode_t mode);

/* Milliseconds on the monotonic clock, for timeouts and durations. */
long long monotonic_ms(void);

/* Sleep ms milliseconds, whatever signals arrive meanwhile. */
void sleep_ms(long ms);

/* True when path is a directory (following symlinks). */
bool is_dir(const char *path);

/* Free a NULL-terminated array of strings and the array; NULL is allowed. */
void strv_free(char **v);

/* Append a copy of s to the NULL-terminated array *v (*n entries, *alloc
 * allocated) unless it holds s already. */
void strv_add_unique(char ***v, size_t *n, size_t *alloc, const char *s);

#endif
