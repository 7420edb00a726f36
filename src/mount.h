/* Mounts a container's root filesystem is made of: an overlay of read-only
 * layers under a writable upper directory, bind mounts, and their removal.
 * All need root (CAP_SYS_ADMIN). */
#ifndef NUA_MOUNT_H
#define NUA_MOUNT_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* Mount an overlay on target (an existing directory).
 *
 * lowers holds nlower directories, bottom first (the base layer first, as an
 * OCI manifest lists its layers). upper and work are the writable layer and
 * overlayfs's scratch directory, on the same filesystem; both NULL for a
 * read-only overlay (which needs two lowers at least). Renamed directories
 * are copied up rather than redirected and there is no index, so that the
 * upper directory is a plain layer (files, 0/0 character devices as
 * whiteouts, "trusted.overlay.opaque" on opaque directories).
 *
 * The kernel takes the options in one page: when absolute paths do not fit,
 * the mount is made from a child working in the lowers' common parent with
 * relative paths; if even those do not fit, the error says how long the
 * options were. Paths holding ',', ':' or '\' are refused. */
int overlay_mount(const char *const *lowers, size_t nlower, const char *upper, const char *work,
		  const char *target, struct nua_error **err);

/* Bind source on target (both exist, of the same kind), read-only when asked
 * (a second remount pass, as the kernel wants). */
int bind_mount(const char *source, const char *target, bool readonly, struct nua_error **err);

/* Unmount target; lazily (MNT_DETACH) when busy. Not mounted is success. */
int unmount_path(const char *target, struct nua_error **err);

/* True when path is a mount point (its mount ID differs from its parent's). */
bool is_mount_point(const char *path);

/* rm -rf that never crosses into another filesystem: a tree that still has
 * something mounted inside fails with EBUSY rather than emptying the mount.
 * A missing path is success. Returns 0 or -errno. */
int remove_tree(const char *path);

/* cp -a src dst; with link, hard links (cp -al) when both are on one
 * filesystem, falling back to a copy. dst must not exist; on failure
 * nothing of it is left. */
int copy_tree(const char *src, const char *dst, bool link, struct nua_error **err);

#endif
