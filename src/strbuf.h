/* A growable string. buf is never NULL and always NUL-terminated, so it can
 * be handed to any function that takes a C string. */
#ifndef NUA_STRBUF_H
#define NUA_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

#include "util.h"

struct strbuf {
	size_t alloc;
	size_t len;
	char *buf;
};

extern char strbuf_empty[];
#define STRBUF_INIT { 0, 0, strbuf_empty }

void strbuf_init(struct strbuf *sb, size_t hint);
/* Free the buffer and reset to empty. */
void strbuf_release(struct strbuf *sb);
/* Hand the buffer to the caller (who frees it); sb is reset to empty. */
char *strbuf_detach(struct strbuf *sb, size_t *len);
void strbuf_grow(struct strbuf *sb, size_t extra);
void strbuf_setlen(struct strbuf *sb, size_t len);
static inline void strbuf_reset(struct strbuf *sb) { strbuf_setlen(sb, 0); }
void strbuf_add(struct strbuf *sb, const void *data, size_t len);
void strbuf_addstr(struct strbuf *sb, const char *s);
void strbuf_addch(struct strbuf *sb, char c);
PRINTF(2, 3) void strbuf_addf(struct strbuf *sb, const char *fmt, ...);
void strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap);
/* Remove trailing whitespace. */
void strbuf_rtrim(struct strbuf *sb);
/* Cut len bytes at pos out of sb. */
void strbuf_remove(struct strbuf *sb, size_t pos, size_t len);

static inline void strbuf_releasep(struct strbuf *sb) { strbuf_release(sb); }
#define _cleanup_strbuf_ _cleanup_(strbuf_releasep)

#endif
