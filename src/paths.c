#include "paths.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
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

char *nua_exe_dir(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	if (!(slash = strrchr(exe, '/')))
		return NULL;
	*slash = '\0';
	return xstrdup(exe);
}

char *nua_share_dir(const char *name, const char *env)
{
	const char *set = getenv(env);
	_cleanup_free_ char *dir = nua_exe_dir();
	char *slash = dir;

	if (set && *set)
		return xstrdup(set);
	for (int up = 0; up < 3 && dir && slash; up++) {
		char *path = xasprintf("%s/%s", dir, name);

		if (is_dir(path))
			return path;
		free(path);
		if ((slash = strrchr(dir, '/')))
			*slash = '\0';
	}
	return xasprintf("/usr/share/nua/%s", name);
}
