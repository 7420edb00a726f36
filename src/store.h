/* The store: the packages of real applications that come with Nua
 * (store/APP/nua-config.toml), listed and searched for `nua store` and
 * installed by `nua install` (docs/store.md). */
#ifndef NUA_STORE_H
#define NUA_STORE_H

#include <jansson.h>

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

#endif
