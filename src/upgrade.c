/* Upgrades and rollbacks: see upgrade.h. */
#define _GNU_SOURCE
#include "upgrade.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup.h"
#include "instance.h"
#include "state.h"
#include "util.h"
#include "banned.h"

/* The package id of ref ("ID:VERSION-RELEASE"), as a length. */
static size_t id_len(const char *ref) { return strcspn(ref, ":"); }

/* The newest image of the package of current other than current. */
static char *newest_image(struct nua_ctx *ctx, const char *current, struct nua_error **err)
{
	struct image_rec *list = NULL, *cur = NULL;
	size_t n = 0;
	char *ref = NULL;

	if (state_image_list(ctx->st, &list, &n, err) < 0)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (streq(list[i].ref, current))
			cur = &list[i];
	/* The list is newest first. */
	for (size_t i = 0; i < n && !ref; i++)
		if (id_len(list[i].ref) == id_len(current) &&
		    strncmp(list[i].ref, current, id_len(current)) == 0 &&
		    !streq(list[i].ref, current) && (!cur || list[i].created_at > cur->created_at))
			ref = xstrdup(list[i].ref);
	image_rec_list_free(list, n);
	if (!ref)
		nua_error_set(err, NUA_EINPUT,
			      "no newer image of '%.*s' than '%s' here: give a package directory "
			      "or an image",
			      (int)id_len(current), current, current);
	return ref;
}

int upgrade_instance(struct nua_ctx *ctx, const char *name, const char *ref, char **snapshot,
		     struct nua_error **err)
{
	struct instance_rec in = { 0 };
	struct image_rec img = { 0 };
	_cleanup_free_ char *to = NULL, *snap = NULL, *key = NULL, *gen = NULL;
	struct nua_error *e = NULL;
	int ret = -1;

	if (snapshot)
		*snapshot = NULL;
	if (instance_get(ctx, name, &in, err) < 0)
		return -1;
	to = ref ? xstrdup(ref) : newest_image(ctx, in.image_ref, err);
	if (!to || state_image_get(ctx->st, to, &img, err) < 0)
		goto out;
	if (streq(to, in.image_ref)) {
		nua_error_set(err, NUA_EINPUT, "'%s' runs '%s' already", name, to);
		goto out;
	}
	if (id_len(to) != id_len(in.image_ref) || strncmp(to, in.image_ref, id_len(to)) != 0) {
		nua_error_set(err, NUA_EINPUT,
			      "'%s' is another package than '%s' runs ('%s'): deploy it as a new "
			      "instance",
			      to, name, in.image_ref);
		goto out;
	}
	nua_say(ctx, "backing up %s before its upgrade to %s", name, to);
	if (backup_instance(ctx, name, "upgrade", &snap, err) < 0) {
		nua_error_prefix(err, "no backup, so no upgrade");
		goto out;
	}
	/* The next generation runs the package's migration before it starts:
	 * recorded first, so that a daemon killed during the upgrade still
	 * runs it when it starts that generation. */
	key = instance_migration_key(name);
	gen = xasprintf("%lld", (long long)in.generation + 1);
	if (state_setting_set(ctx->st, key, gen, err) < 0)
		goto out;
	{
		struct deploy_request dr = { to, name, NULL, NULL, false, false, NULL };

		if (instance_deploy(ctx, &dr, NULL, &e) == 0) {
			nua_event(ctx, name, "upgrade", "upgraded from %s to %s (snapshot %.8s before)",
			      in.image_ref, to, snap);
			if (snapshot)
				*snapshot = TAKE_PTR(snap);
			ret = 0;
			goto out;
		}
	}
	state_setting_set(ctx->st, key, NULL, NULL);
	nua_event(ctx, name, "upgrade-failed", "the upgrade to %s failed: %s", to, e->msg);
	/* The old version serves (the redeploy kept it); its data goes back
	 * to the snapshot, which the migration or the new version may have
	 * changed. */
	nua_say(ctx, "the upgrade failed: %s", e->msg);
	nua_say(ctx, "rolling %s back to %s with its data of snapshot %.8s", name, in.image_ref, snap);
	{
		struct nua_error *e2 = NULL;

		if (backup_restore(ctx, name, snap, NULL, &e2) < 0) {
			nua_error_set(err, NUA_EFAIL,
				      "the upgrade of '%s' to %s failed (%s), and so did the rollback "
				      "(%s): its data is in snapshot %.8s",
				      name, to, e->msg, e2->msg, snap);
			nua_error_free(e2);
			goto out;
		}
	}
	nua_event(ctx, name, "rollback", "back to %s with its data of snapshot %.8s", in.image_ref,
	      snap);
	nua_error_set(err, NUA_EFAIL,
		      "the upgrade of '%s' to %s failed: %s; it was rolled back to %s with its data "
		      "of snapshot %.8s",
		      name, to, e->msg, in.image_ref, snap);
out:
	nua_error_free(e);
	image_rec_release(&img);
	instance_rec_release(&in);
	return ret;
}

int upgrade_rollback(struct nua_ctx *ctx, const char *name, struct nua_error **err)
{
	struct backup_snapshot *list = NULL;
	struct instance_rec in = { 0 };
	size_t n = 0;
	const struct backup_snapshot *last = NULL;
	_cleanup_free_ char *id = NULL, *from = NULL;
	int ret;

	if (instance_get(ctx, name, &in, err) < 0)
		return -1;
	from = xstrdup(in.image_ref);
	instance_rec_release(&in);
	if (backup_list(ctx, name, &list, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!list[i].error && list[i].kind && streq(list[i].kind, "upgrade") &&
		    (!last || streq(list[i].target, list[0].target)))
			last = &list[i];
	if (!last) {
		backup_snapshot_list_free(list, n);
		return nua_error_set(err, NUA_EINPUT, "'%s' has no upgrade to roll back", name);
	}
	id = xstrdup(last->id);
	nua_say(ctx, "rolling %s back to %s with its data of snapshot %.8s", name,
	    last->image_ref ? last->image_ref : "?", id);
	backup_snapshot_list_free(list, n);
	ret = backup_restore(ctx, name, id, NULL, err);
	if (ret < 0)
		return nua_error_prefix(err, "cannot roll '%s' back", name);
	nua_event(ctx, name, "rollback", "rolled back from %s with the data of snapshot %.8s", from, id);
	return 0;
}
