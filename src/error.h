/* Errors built where a failure happens and carried up to the one place that
 * prints them (main, or the daemon's request handler). */
#ifndef NUA_ERROR_H
#define NUA_ERROR_H

#include "util.h"

/* Exit statuses, also the class of an error. */
enum {
	NUA_OK = 0,
	NUA_EFAIL = 1,  /* the operation failed */
	NUA_EINPUT = 2, /* bad usage or bad input */
};

struct nua_error {
	int status; /* NUA_EFAIL or NUA_EINPUT */
	char *msg;  /* lowercase start, subject quoted, no full stop */
};

/* Fill *err (when err is not NULL) with a new error and return -1, so that a
 * failing function can end with `return nua_error_set(err, ...)`. An error
 * already in *err is replaced. */
PRINTF(3, 4) int nua_error_set(struct nua_error **err, int status, const char *fmt, ...);

/* Add context in front of the message already in *err ("ctx: msg"); returns
 * -1. Does nothing to the message when err or *err is NULL. */
PRINTF(2, 3) int nua_error_prefix(struct nua_error **err, const char *fmt, ...);

void nua_error_free(struct nua_error *err);
static inline void nua_error_freep(struct nua_error **err) { nua_error_free(*err); }
#define _cleanup_error_ _cleanup_(nua_error_freep)

/* Print "error: msg" on stderr and return the error's exit status. */
int nua_error_report(const struct nua_error *err);

/* One problem in an input file, located. */
struct diag {
	char *file;
	int line, col; /* 1-based; 0 when unknown */
	char *msg;
};

/* Problems collected while checking a file, so that all are reported at once
 * rather than the first only. */
struct diag_list {
	struct diag *items;
	size_t n, alloc;
};
#define DIAG_LIST_INIT { NULL, 0, 0 }

PRINTF(5, 6) void diag_add(struct diag_list *dl, const char *file, int line, int col,
			   const char *fmt, ...);
void diag_list_release(struct diag_list *dl);
/* Sort by line then column, keeping insertion order for ties. */
void diag_list_sort(struct diag_list *dl);
/* Print each as "FILE:LINE:COL: msg" (parts that are unknown left out). */
void diag_list_print(const struct diag_list *dl, FILE *out);

#endif
