#include "paths.h"

#include <stdlib.h>

#include "banned.h"
#include "util.h"

static const char *env_or(const char *name, const char *dflt)
{
	const char *v = getenv(name);

	return v && *v ? v : dflt;
}

const char *nua_root(void) { return env_or("NUA_ROOT", "/var/lib/nua"); }
const char *nua_run_dir(void) { return env_or("NUA_RUN", "/run/nua"); }
const char *nua_cache_dir(void) { return env_or("NUA_CACHE", "/var/cache/nua"); }

char *nua_root_path(const char *rel) { return xasprintf("%s/%s", nua_root(), rel); }

char *nua_run_path(const char *rel) { return xasprintf("%s/%s", nua_run_dir(), rel); }
