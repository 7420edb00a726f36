/* The local image store: layers and images.
 *
 * A layer is a directory tree in overlayfs's upper-directory form (a deleted
 * path is a 0/0 character device, an opaque directory carries the xattr
 * "trusted.overlay.opaque" = "y"), kept unpacked so that it can be an overlay
 * lower directory at once:
 *
 *   $NUA_ROOT/layers/KEY/diff         the files
 *   $NUA_ROOT/layers/KEY/layer.json   {"digest": "sha256:...", "size": N}
 *
 * KEY is 64 lowercase hex digits: the builder's cache key for a layer it
 * made, the hex of the blob digest for an imported one. A layer exists once
 * layer.json is there (written last).
 *
 * Images are an OCI image layout (image-spec 1.0) under $NUA_ROOT/images:
 * oci-layout, index.json (one manifest per image, named by the annotation
 * org.opencontainers.image.ref.name = "ID:VERSION-RELEASE"), blobs/sha256/.
 * Layer blobs are uncompressed tars with OCI whiteouts (".wh.NAME",
 * ".wh..wh..opq"); each manifest's layer descriptors carry the annotation
 * "org.nua.layer" = KEY so that the unpacked directory is found without
 * unpacking again. The state store (state.h) has one record per image. */
#ifndef NUA_IMAGE_H
#define NUA_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "state.h"

/* $NUA_ROOT/layers/KEY (caller frees). */
char *layer_path(const char *key);

/* True when layer KEY is complete (its layer.json exists). */
bool layer_exists(const char *key);

/* Make layer KEY from the directory diff_dir (overlay upper form), which is
 * moved (renamed) to layers/KEY/diff: it must be on the same filesystem as
 * $NUA_ROOT. Writes the layer's tar blob (whiteouts converted to OCI form,
 * owners, modes, xattrs other than overlay's own, hard links and
 * modification times kept) to images/blobs/sha256/, then layer.json. A
 * layer KEY that already exists is success (diff_dir is then removed).
 * *digest (may be NULL; caller frees) is "sha256:...". */
int layer_commit(const char *key, const char *diff_dir, char **digest, struct nua_error **err);

/* The layer cache of this machine, $NUA_CACHE/layers/KEY/{diff,blob,
 * layer.json}, shared by every root: a build on a fresh root (a second
 * server, a test's) takes a step's layer from it rather than running the
 * step again. Files are hard links to a root's own when both are on one
 * filesystem, so the cache costs no space while a root holds the layer.
 *
 * layer_cache_take: make layer KEY of this root from the cache. Returns 1
 * when it was there (or the root had it), 0 when the cache lacks it, -1 on
 * error. layer_cache_put: put this root's layer KEY in the cache (kept
 * when there already), and forget layers no build took for 30 days. */
int layer_cache_take(const char *key, struct nua_error **err);
int layer_cache_put(const char *key, struct nua_error **err);

/* What an image is made of, for image_store. Arrays are NULL-terminated. */
struct image_def {
	const char *ref;	       /* "ID:VERSION-RELEASE" */
	const char *const *layers;     /* layer KEYs, bottom (base) first */
	const char *const *env;	       /* "KEY=value" */
	const char *const *entrypoint; /* or NULL */
	const char *const *cmd;	       /* or NULL */
	const char *user;	       /* "1000:1000", or NULL for root */
	const char *workdir;	       /* or NULL */
	const int *ports;	       /* exposed TCP ports, 0-terminated, or NULL */
	const char *nua_config_json;   /* the package's normalised nua-config */
};

/* Write the image's config and manifest blobs, add it to index.json
 * (replacing an image of the same ref) and record it in the state store, so
 * that state and layout agree. Every layer must exist. */
int image_store(struct state *st, const struct image_def *def, struct nua_error **err);

/* The lower directories of image ref, bottom first: *dirs is a
 * NULL-terminated array of "$NUA_ROOT/layers/KEY/diff" (caller frees each
 * and the array), *n their number. An unknown ref is NUA_EINPUT. */
int image_layer_dirs(struct state *st, const char *ref, char ***dirs, size_t *n,
		     struct nua_error **err);

/* The image's OCI config (the "config" object of the image config blob:
 * Env, Entrypoint, Cmd, User, WorkingDir, ExposedPorts, Labels) as a jansson
 * value the caller decrefs, via a void pointer to keep jansson out of this
 * header. */
int image_oci_config(struct state *st, const char *ref, void **config_json,
		     struct nua_error **err);

/* Remove image ref from the store and index.json, then every blob and
 * layer no image refers to any more, except layers younger than a day,
 * which the builder's cache may still use. Refused (NUA_EINPUT) while an
 * instance uses the image. */
int image_remove(struct state *st, const char *ref, struct nua_error **err);

/* Write image ref to path as a tar archive holding both an OCI image
 * layout (oci-layout, index.json, blobs/sha256/) and the docker-archive
 * layout (manifest.json, repositories) over the same blobs, so that
 * `docker load` and `podman load` accept it. Written to a temporary file
 * renamed into place. */
int image_export(struct state *st, const char *ref, const char *path, struct nua_error **err);

/* Read an archive written by image_export, or by `docker save` or any OCI
 * layout tar: check every blob's digest, unpack each layer not already
 * present (OCI whiteouts back to overlay form; paths escaping the layer
 * refused), and store the image. The ref comes from the archive's
 * org.opencontainers.image.ref.name or docker RepoTags (as ID:TAG; a tag
 * without "-RELEASE" gets "-1"), else from ref_override, which also wins
 * when given. *ref (may be NULL; caller frees) is the stored ref. A damaged
 * or hostile archive is NUA_EINPUT and stores nothing. */
int image_import(struct state *st, const char *path, const char *ref_override, char **ref,
		 struct nua_error **err);

#endif
