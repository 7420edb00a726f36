/* Where Nua keeps things. Every path derives from three roots, each
 * overridable by the environment so that a test can run a whole server in a
 * temporary directory:
 *   NUA_ROOT  (/var/lib/nua)   state, images, instances, secrets
 *   NUA_RUN   (/run/nua)       socket, pid files
 *   NUA_CACHE (/var/cache/nua) build caches shared between roots */
#ifndef NUA_PATHS_H
#define NUA_PATHS_H

const char *nua_root(void);
const char *nua_run_dir(void);
const char *nua_cache_dir(void);

/* A path under the root: nua_root_path("nua.db"). Caller frees. */
char *nua_root_path(const char *rel);
/* A path under the run directory: nua_run_path("nua.sock"). Caller frees. */
char *nua_run_path(const char *rel);

/* The directory of the running binary (/proc/self/exe), or NULL. Caller
 * frees. */
char *nua_exe_dir(void);

/* A directory of packages that comes with Nua ("services", "store"): the
 * variable env when set, else NAME beside the running binary or up to two
 * levels above it (build/nua, build/asan/nua in a source tree), else
 * /usr/share/nua/NAME. Caller frees. */
char *nua_share_dir(const char *name, const char *env);

#endif
