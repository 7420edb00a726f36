#include "paths.h"

#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include "util.h"
#include "banned.h"

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

char *nua_share_dir(const char *name, const char *env)
{
	const char *set = getenv(env);
	char exe[PATH_MAX];
	ssize_t n;

	if (set && *set)
		return xstrdup(set);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		char *slash;

		exe[n] = '\0';
		for (int up = 0; up < 3 && (slash = strrchr(exe, '/')); up++) {
			char *dir;

			*slash = '\0';
			dir = xasprintf("%s/%s", exe, name);
			if (is_dir(dir))
				return dir;
			free(dir);
		}
	}
	return xasprintf("/usr/share/nua/%s", name);
}
