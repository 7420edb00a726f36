/* The store: the packages of real applications that come with Nua
 * (store/APP/nua-config.toml), listed and searched for `nua store` and
 * installed by `nua install` (docs/store.md). */
#ifndef NUA_STORE_H
#define NUA_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "error.h"

/* Where the store is: NUA_STORE, else store/ beside nua (nua_share_dir).
 * Caller frees. */
char *store_dir(void);

/* The store's apps whose id, title, summary or tags hold query (any case;
 * NULL or "" for all), by id, as an array of entries:
 *   {"id", "title", "version" (VERSION-RELEASE), "summary", "description",
 *    "website", "license", "tags", "icon" (path in the package or null),
 *    "resources" (the types of its [[resource]]s), "admin" (whether
 *    install shows a first admin's credentials), "path" (the package
 *    directory)}
 * A package of the store that does not load is left out, with a line
 * about it on stderr (the store is Nua's own: its tests keep it whole). */
int store_list(const char *query, json_t **out, struct nua_error **err);

/* The entry of app (as store_list gives), with its [admin] keys
 * ("admin_user_key", "admin_password_key"). An app the store does not have
 * is NUA_EINPUT naming the nearest one. */
int store_get(const char *app, json_t **out, struct nua_error **err);

/* When the store has a newer version of the package of image ref
 * ("ID:VERSION-RELEASE": the store's app ID, its VERSION-RELEASE later by
 * strverscmp), its image reference in *newer and its package directory in
 * *path (either may be NULL; the caller frees); otherwise false. */
bool store_newer(const char *ref, char **newer, char **path);

struct nua_ctx;

/* Once a minute at most: each instance whose package has a newer version
 * in the store gets one "upgrade-available" event per version (the state
 * setting store.notified.NAME remembers it). */
void store_maintain(struct nua_ctx *ctx, int64_t now);

#endif
