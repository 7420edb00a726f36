/* Directory trees in one file: the tar (compressed with zstd) that `nua
 * export` writes and `nua import` reads, with the checksum of every file.
 *
 * The archive holds the trees named by the caller, then, as its last
 * entry, "nua-archive.json": {"format": 1, "files": {PATH: "sha256:HEX"}},
 * the checksum of every regular file. A reader that finds no such entry
 * (a truncated file), a checksum that differs (a damaged one), or a format
 * newer than it knows, refuses the archive. */
#ifndef NUA_ARCHIVE_TREE_H
#define NUA_ARCHIVE_TREE_H

#include "error.h"

#define ARCHIVE_TREE_FORMAT 1

/* Write path (through path.tmp, renamed when complete; mode 0600): every
 * entry under each of rels (NULL-terminated), with owners, modes, times,
 * symlinks, hard links and extended attributes. A relative rel is read
 * under base and stored as it is; an absolute one is stored without its
 * leading '/'. */
int archive_tree_write(const char *path, const char *base, const char *const *rels,
		       struct nua_error **err);

/* Extract the archive at path into the directory dir (made; it must not
 * exist) and check it: entries that would land outside dir (absolute
 * paths, "..", links out of it) are refused, owners and modes kept. A
 * damaged, truncated, hostile or newer archive is NUA_EINPUT and dir is
 * removed. */
int archive_tree_read(const char *path, const char *dir, struct nua_error **err);

#endif
