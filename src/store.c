/* The store: see store.h. */
#define _GNU_SOURCE
#include "store.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "instance.h"
#include "state.h"
#include "paths.h"
#include "strbuf.h"
#include "util.h"
#include "banned.h"

char *store_dir(void) { return nua_share_dir("store", "NUA_STORE"); }

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

static json_t *entry_of(const struct nua_config *cfg, const char *path)
{
	_cleanup_free_ char *ref = config_image_ref(cfg);
	json_t *tags = json_array(), *res = json_array();
	const char *version = strchr(ref, ':') + 1;

	for (size_t i = 0; i < cfg->metadata.tags.n; i++)
		json_array_append_new(tags, json_string(cfg->metadata.tags.v[i]));
	for (size_t i = 0; i < cfg->resources.n; i++)
		json_array_append_new(res, json_string(cfg->resources.v[i].type));
	return json_pack("{s:s, s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:b, s:s}", "id",
			 cfg->metadata.id, "title",
			 str_or_null(cfg->metadata.title ? cfg->metadata.title : cfg->metadata.id),
			 "version", version, "summary", str_or_null(cfg->metadata.tagline),
			 "description", str_or_null(cfg->metadata.description), "website",
			 str_or_null(cfg->metadata.website), "license",
			 str_or_null(cfg->metadata.license), "tags", tags, "icon",
			 str_or_null(cfg->metadata.icon), "resources", res, "admin",
			 cfg->admin.password_key != NULL, "path", path);
}

static bool icase_has(const char *hay, const char *needle)
{
	return hay && strcasestr(hay, needle);
}

static bool matches(const json_t *e, const char *q)
{
	size_t i;
	json_t *t;

	if (!q || !*q)
		return true;
	if (icase_has(json_string_value(json_object_get(e, "id")), q) ||
	    icase_has(json_string_value(json_object_get(e, "title")), q) ||
	    icase_has(json_string_value(json_object_get(e, "summary")), q))
		return true;
	json_array_foreach(json_object_get(e, "tags"), i, t)
		if (icase_has(json_string_value(t), q))
			return true;
	return false;
}

/* Load the package of app in the store (dir), its config in *cfg. */
static int load_app(const char *dir, const char *app, struct nua_config **cfg, char **path,
		    struct nua_error **err)
{
	struct diag_list diags = DIAG_LIST_INIT;
	int r;

	*path = xasprintf("%s/%s", dir, app);
	r = config_load(*path, cfg, &diags, err);
	if (r < 0 && diags.n) {
		nua_error_set(err, NUA_EFAIL, "the store's package '%s' does not load: %s:%d: %s",
			      app, diags.items[0].file, diags.items[0].line, diags.items[0].msg);
	}
	diag_list_release(&diags);
	if (r < 0) {
		free(*path);
		*path = NULL;
	}
	return r;
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The apps of the store, by name (NULL-terminated; strv_free). */
static char **app_names(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **v = xcalloc(1, sizeof(*v));
	size_t n = 0, alloc = 1;

	while (d && (de = readdir(d))) {
		_cleanup_free_ char *cfg = xasprintf("%s/%s/nua-config.toml", dir, de->d_name);

		if (!valid_name(de->d_name, 63) || access(cfg, F_OK) < 0)
			continue;
		strv_add_unique(&v, &n, &alloc, de->d_name);
	}
	if (d)
		closedir(d);
	qsort(v, n, sizeof(*v), cmp_id);
	return v;
}

int store_list(const char *query, json_t **out, struct nua_error **err)
{
	_cleanup_free_ char *dir = store_dir();
	char **names = app_names(dir);
	json_t *a = json_array();

	(void)err;
	for (size_t i = 0; names[i]; i++) {
		struct nua_config *cfg = NULL;
		struct nua_error *e = NULL;
		_cleanup_free_ char *path = NULL;
		json_t *entry;

		if (load_app(dir, names[i], &cfg, &path, &e) < 0) {
			fprintf(stderr, "store: %s\n", e ? e->msg : names[i]);
			nua_error_free(e);
			continue;
		}
		entry = entry_of(cfg, path);
		config_free(cfg);
		if (matches(entry, query))
			json_array_append_new(a, entry);
		else
			json_decref(entry);
	}
	strv_free(names);
	*out = a;
	return 0;
}

int store_get(const char *app, json_t **out, struct nua_error **err)
{
	_cleanup_free_ char *dir = store_dir(), *path = NULL;
	struct nua_config *cfg = NULL;
	char **names;
	bool known = false;

	*out = NULL;
	names = app_names(dir);
	for (size_t i = 0; names[i]; i++)
		known = known || streq(names[i], app);
	if (!known) {
		const char *near = nearest_word(app, (const char *const *)names);

		if (near)
			nua_error_set(err, NUA_EINPUT, "no app '%s' in the store; did you mean '%s'?",
				      app, near);
		else
			nua_error_set(err, NUA_EINPUT, "no app '%s' in the store ('nua store' lists them)",
				      app);
		strv_free(names);
		return -1;
	}
	strv_free(names);
	if (load_app(dir, app, &cfg, &path, err) < 0)
		return -1;
	*out = entry_of(cfg, path);
	json_object_set_new(*out, "admin_user_key", str_or_null(cfg->admin.user_key));
	json_object_set_new(*out, "admin_password_key", str_or_null(cfg->admin.password_key));
	config_free(cfg);
	return 0;
}

/* The image ref of the store's package of id ("ID:VERSION-RELEASE") and
 * its path, or NULL. GET /v1/instances asks it for every instance: what a
 * package file gave is remembered while the file stays the same (its
 * inode, size and modification time). */
struct ref_memo {
	char *pkg, *ref, *path;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

#define REF_MEMOS 64
static struct ref_memo memos[REF_MEMOS];
static size_t memo_next;
static pthread_mutex_t memo_lock = PTHREAD_MUTEX_INITIALIZER;

static bool same_file(const struct ref_memo *m, const char *pkg, const struct stat *sb)
{
	return m->pkg && streq(m->pkg, pkg) && m->dev == sb->st_dev && m->ino == sb->st_ino &&
	       m->size == sb->st_size && m->mtime.tv_sec == sb->st_mtim.tv_sec &&
	       m->mtime.tv_nsec == sb->st_mtim.tv_nsec;
}

static bool store_ref(const char *id, char **ref, char **path)
{
	_cleanup_free_ char *dir = store_dir(), *pkg = NULL, *p = NULL;
	struct nua_config *cfg = NULL;
	struct nua_error *e = NULL;
	struct ref_memo *m;
	struct stat sb;
	char *r;

	pkg = xasprintf("%s/%s/nua-config.toml", dir, id);
	if (stat(pkg, &sb) < 0)
		return false;
	pthread_mutex_lock(&memo_lock);
	for (size_t i = 0; i < REF_MEMOS; i++) {
		if (same_file(&memos[i], pkg, &sb)) {
			*ref = memos[i].ref ? xstrdup(memos[i].ref) : NULL;
			*path = memos[i].path ? xstrdup(memos[i].path) : NULL;
			pthread_mutex_unlock(&memo_lock);
			return *ref != NULL;
		}
	}
	pthread_mutex_unlock(&memo_lock);
	if (load_app(dir, id, &cfg, &p, &e) < 0) {
		nua_error_free(e);
		r = NULL;
	} else {
		r = streq(cfg->metadata.id, id) ? config_image_ref(cfg) : NULL;
		config_free(cfg);
	}
	pthread_mutex_lock(&memo_lock);
	m = &memos[memo_next++ % REF_MEMOS];
	free(m->pkg);
	free(m->ref);
	free(m->path);
	*m = (struct ref_memo){ xstrdup(pkg), r ? xstrdup(r) : NULL, p ? xstrdup(p) : NULL,
				sb.st_dev, sb.st_ino, sb.st_size, sb.st_mtim };
	pthread_mutex_unlock(&memo_lock);
	*ref = r;
	*path = r ? TAKE_PTR(p) : NULL;
	return r != NULL;
}

bool store_newer(const char *ref, char **newer, char **path)
{
	const char *colon = ref ? strchr(ref, ':') : NULL;
	_cleanup_free_ char *id = NULL, *store_r = NULL, *pkg = NULL;
	bool found;

	if (newer)
		*newer = NULL;
	if (path)
		*path = NULL;
	if (!colon)
		return false;
	id = xstrndup(ref, (size_t)(colon - ref));
	if (!valid_name(id, 63) || !store_ref(id, &store_r, &pkg))
		return false;
	found = strverscmp(strchr(store_r, ':') + 1, colon + 1) > 0;
	if (found && newer)
		*newer = TAKE_PTR(store_r);
	if (found && path)
		*path = TAKE_PTR(pkg);
	return found;
}

void store_maintain(struct nua_ctx *ctx, int64_t now)
{
	static int64_t last;
	struct instance_rec *list = NULL;
	size_t n = 0;

	if (last && now - last < 60)
		return;
	last = now;
	if (state_instance_list(ctx->st, &list, &n, NULL) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *newer = NULL, *key = NULL, *seen = NULL;

		if (list[i].removing || !store_newer(list[i].image_ref, &newer, NULL))
			continue;
		key = xasprintf("store.notified.%s", list[i].name);
		if (state_setting_get(ctx->st, key, &seen, NULL) < 0 || (seen && streq(seen, newer)))
			continue;
		nua_event(ctx, list[i].name, "upgrade-available",
			  "%s is in the store (this runs %s): 'nua upgrade %s' takes it", newer,
			  list[i].image_ref, list[i].name);
		state_setting_set(ctx->st, key, newer, NULL);
	}
	instance_rec_list_free(list, n);
}
