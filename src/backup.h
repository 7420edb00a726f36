/* Backups of instances into restic repositories, and restores from them.
 *
 * A snapshot of an instance holds, relative to $NUA_ROOT/instances/NAME:
 *
 *   backup/nua-backup.json   the manifest: format version, the instance's
 *                            record (image, domain, env with its secrets
 *                            still sealed, volumes), the package's config,
 *                            what the snapshot holds and where
 *   backup/dumps/RES.dump    a dump of each resource on a server Nua runs,
 *                            made through that server while the app runs
 *   backup/image.tar         the image (image_export's archive), so that a
 *                            restore never needs the package's sources
 *   volumes/VOL/             each managed volume
 *
 * and each directory volume at its absolute host path. backup/ is kept
 * between backups (the image archive is written again only when the image
 * changes) so that restic finds most of it unchanged.
 *
 * Snapshots are tagged "nua", "instance=NAME", "image=REF", "kind=KIND",
 * "nua-version=V", "volume=VOL" and "resource=RES", so that a repository
 * alone says what it holds.
 *
 * Repositories ("targets") are server settings: "backup.target.NAME" is
 * {"url": restic's repository, "password": sealed}. The first backup makes
 * the target "local", a repository at $NUA_ROOT/backups/local with a
 * random password. restic runs as a child process; its password reaches it
 * on a file descriptor, never in its arguments or environment.
 *
 * A restore is journaled in $NUA_ROOT/instances/NAME/restore/journal.json
 * before it changes anything, and backup_recover puts an instance whose
 * restore was interrupted back as it was before. */
#ifndef NUA_BACKUP_H
#define NUA_BACKUP_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

struct nua_ctx;

/* The format of nua-backup.json this nua writes; it reads no newer one. */
#define BACKUP_FORMAT 1

/* Take a snapshot of instance name into every target (the default one
 * made first when there is none). kind is "manual", "scheduled", "safety"
 * or "upgrade". *snapshot (may be NULL; caller frees) is the id of the
 * snapshot in the first target. The caller holds the instance's lock.
 * Events: backup, backup-failed. */
int backup_instance(struct nua_ctx *ctx, const char *name, const char *kind, char **snapshot,
		    struct nua_error **err);

/* A snapshot, as the repository tells it. */
struct backup_snapshot {
	char *target, *id, *short_id;
	char *instance, *kind, *image_ref, *nua_version;
	char **volumes, **resources; /* NULL-terminated */
	int64_t time;		     /* unix seconds */
	int64_t bytes, files, added; /* -1: not recorded here */
	char *error; /* not a snapshot: target could not be read, and why */
};
void backup_snapshot_release(struct backup_snapshot *s);
void backup_snapshot_list_free(struct backup_snapshot *list, size_t n);

/* The snapshots of instance (NULL: of every instance) in every target,
 * oldest first. A target that cannot be read is one entry with its error
 * (and no id), after the snapshots: the others are listed all the same. */
int backup_list(struct nua_ctx *ctx, const char *instance, struct backup_snapshot **out, size_t *n,
		struct nua_error **err);

/* Put instance name back as snapshot (an id or a unique prefix of one;
 * NULL or "latest": the newest) holds it: a safety backup first, then the
 * app is stopped, its volumes and databases replaced by the snapshot's
 * (the databases' credentials kept), the image the snapshot names started,
 * and its health awaited. Any failure puts the instance back as it was
 * and says so. An unknown snapshot is NUA_EINPUT listing the known ones; a
 * snapshot of another package is refused. The caller holds the lock.
 * *safety (may be NULL; caller frees) is the safety snapshot's id. */
int backup_restore(struct nua_ctx *ctx, const char *name, const char *snapshot, char **safety,
		   struct nua_error **err);

/* Thaw the apps a backup froze (a package's [backup] pause) and did not
 * live to thaw: at the daemon's start, before anything else. */
void backup_thaw_all(struct nua_ctx *ctx);

/* The instances a restore was interrupted in, whether or not it had
 * begun to change them (a NULL-terminated array the caller frees with
 * strv_free). */
char **backup_interrupted(void);

/* Make a new instance, new_name, from snapshot (as backup_restore takes
 * it) of instance name: the snapshot's image, volumes, databases and env,
 * with databases and credentials of its own, at domain (NULL:
 * NEW.localhost). A failure leaves nothing of it. */
int backup_clone(struct nua_ctx *ctx, const char *name, const char *snapshot,
		 const char *new_name, const char *domain, struct nua_error **err);

/* Disaster recovery: bring back every instance whose snapshots are in
 * target from (the newest of each), as it was: image, env, volumes,
 * databases, domain; instances this server has already are left alone.
 * key_text (may be NULL) is the old server's recovery key (`nua backup
 * key`): the password of the target when this server does not know it
 * (then the target is added from the key), and the master key that opens
 * the snapshots' secrets. *restored is the instances made (NULL-terminated;
 * strv_free). One that fails is named in the error; the others stay. */
int backup_recover_server(struct nua_ctx *ctx, const char *from, const char *key_text,
			  char ***restored, struct nua_error **err);

/* Write instance name to the file path (absolute) as one archive
 * (archive_tree.h): the tree a snapshot holds (manifest, dumps, image,
 * volumes), with a checksum of every file. */
int backup_export(struct nua_ctx *ctx, const char *name, const char *path,
		  struct nua_error **err);

/* Make an instance of this server from an archive backup_export wrote:
 * under its own name (name NULL) the same instance, moved (env whole,
 * domain kept unless domain is given); under another name a copy with
 * resources of its own. key_text (may be NULL) is the recovery key of the
 * server that wrote it, to open its secrets. *made is the instance's name
 * (caller frees). A damaged, truncated or newer archive is NUA_EINPUT and
 * changes nothing. When name is NULL the caller cannot know which lock to
 * take: the instance's is taken here (ctx->lock). */
int backup_import(struct nua_ctx *ctx, const char *path, const char *name, const char *domain,
		  const char *key_text, char **made, struct nua_error **err);

/* Finish or undo what an interrupted restore of name left: the instance
 * is put back as it was before the restore began (the daemon calls it
 * after its start-up reconcile has started the resource servers, holding
 * the instance's lock). */
int backup_recover(struct nua_ctx *ctx, const char *name, struct nua_error **err);

/* Add a target: url (an absolute path or a restic backend URL), with the
 * backend's credentials ("KEY=VALUE", NULL-terminated, may be NULL), kept
 * sealed, and for sftp: URLs the ssh command restic runs (may be NULL).
 * A RESTIC_PASSWORD credential is the password of an existing repository;
 * without it a new repository is made with a random one. Nothing is
 * recorded unless the repository opens (or is made). A taken name is
 * NUA_EINPUT. */
int backup_target_add(struct nua_ctx *ctx, const char *name, const char *url,
		      const char *sftp_command, const char *const *credentials,
		      struct nua_error **err);
/* Forget a target (its repository and snapshots stay where they are). */
int backup_target_remove(struct nua_ctx *ctx, const char *name, struct nua_error **err);

/* The targets, for the API: an array of {name, url, sftp_command,
 * credentials: [KEY...], created_at} (a jansson value, as void * to keep
 * jansson out of this header; the caller decrefs). Without any, the
 * default one is made. */
int backup_target_list(struct nua_ctx *ctx, void **json, struct nua_error **err);

/* ---- schedules, retention, checks ---- */

/* The server's backup policy (settings "backup.frequency" and
 * "backup.keep"): how often an instance whose package says nothing is
 * backed up, and which snapshots `restic forget` keeps per instance. */
struct backup_policy {
	int64_t frequency;				      /* seconds; default a day */
	int keep_last, keep_daily, keep_weekly, keep_monthly; /* 0: not used */
};
int backup_policy_get(struct nua_ctx *ctx, struct backup_policy *p, struct nua_error **err);
int backup_policy_set(struct nua_ctx *ctx, const struct backup_policy *p, struct nua_error **err);

/* The instances due for a scheduled backup at now (unix seconds): their
 * package's [backup] frequency, or the server's, has passed since their
 * last snapshot (or since they were made), also when the daemon was down
 * then. A NULL-terminated array the caller frees with strv_free. */
char **backup_due(struct nua_ctx *ctx, int64_t now);

/* Apply the policy to instance name's snapshots in every target
 * (restic forget, without prune). */
int backup_forget(struct nua_ctx *ctx, const char *name, struct nua_error **err);

/* Once a day: prune every target and check a rotating part of its data
 * (restic check --read-data-subset), each an event. Returns 1 when it was
 * not due. With now_all, at once and reading all the data (nua backup
 * check). A target that fails its check is an event backup-check-failed
 * and NUA_EFAIL. */
int backup_maintain(struct nua_ctx *ctx, int64_t now, bool now_all, struct nua_error **err);

/* What a person must keep off the server to restore after losing it: a
 * text (caller frees) with the recovery key (the master key that seals
 * the secrets, and each target's URL and password). */
int backup_key(struct nua_ctx *ctx, char **text, struct nua_error **err);

#endif
