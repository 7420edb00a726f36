/* Upgrades of an instance to a new version of its package, that back up
 * first and roll back by themselves, and rollbacks on demand.
 *
 * An upgrade takes a snapshot of kind "upgrade" (backup.h), marks the
 * package's [run] migrate as pending for the next generation (it runs once,
 * before that generation's app starts: instance.c), and deploys the new
 * image beside the running one, as a redeploy does. If the migration, the
 * start or the health check fails, the old version still serves (the
 * redeploy keeps it), and its data is put back from the upgrade's snapshot,
 * which a migration may have changed. */
#ifndef NUA_UPGRADE_H
#define NUA_UPGRADE_H

#include "error.h"

struct nua_ctx;

/* Upgrade instance name to the image ref (NULL: the newest image of the
 * same package on this server, newer than the one it runs). Another
 * package's image, or the image it runs already, is NUA_EINPUT. A failed
 * upgrade is rolled back and NUA_EFAIL says why and to what. The caller
 * holds the instance's lock. *snapshot (may be NULL; caller frees) is the
 * upgrade's snapshot. Events: upgrade, upgrade-failed, rollback. */
int upgrade_instance(struct nua_ctx *ctx, const char *name, const char *ref, char **snapshot,
		     struct nua_error **err);

/* Go back to the version before the last upgrade, with its data (the
 * upgrade's snapshot, restored as backup_restore does). No upgrade to go
 * back from is NUA_EINPUT. */
int upgrade_rollback(struct nua_ctx *ctx, const char *name, struct nua_error **err);

#endif
