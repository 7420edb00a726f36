/* Config files made from templates at each start of an instance
 * ([[template]] in nua-config.toml): "{{NAME}}" (spaces allowed inside the
 * braces) is replaced by the value of NAME in the environment; anything
 * else, "{{" that is not followed by a name and "}}" included, is copied as
 * it is. A name the environment does not have is an error: a config file
 * with a hole in it is worse than an app that does not start.
 *
 * Plain C and libc only, like cron.c: the in-container init links it. */
#ifndef NUA_TEMPLATE_H
#define NUA_TEMPLATE_H

#include <stddef.h>

/* The value of name (len bytes, not terminated), or NULL. */
typedef const char *(*template_lookup_fn)(const char *name, size_t len, void *arg);

/* Render text (len bytes) into a malloc'd string in *out (*out_len bytes,
 * also NUL-terminated). On an unknown name, return -1 with a message naming
 * it and its line in msg (size bytes); *out is then NULL. Returns -1 with
 * "out of memory" when malloc fails. */
int template_render(const char *text, size_t len, template_lookup_fn lookup, void *arg,
		    char **out, size_t *out_len, char *msg, size_t size);

#endif
