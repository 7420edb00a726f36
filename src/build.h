/* The builder: a package directory into an image of the local store.
 *
 * An image is a stack of layers (image.h), one per build step:
 *
 *   base           Debian bookworm minbase (base.h), shared by every image
 *   run packages   [run] packages, kept in the image
 *   build packages [build] packages, purged again by the cleanup step
 *   files          the package's files in /nua/build, its normalised config
 *                  in /nua/metadata/nua-config.json
 *   build          the [build] commands, run as root in /nua/build (or the
 *                  project sub-folder)
 *   cleanup        the build packages purged, apt's lists and caches emptied
 *
 * then the [build] test commands are run in the finished image (on a
 * throwaway upper directory). Each step runs in a container of the OCI
 * runtime on an overlay of the layers below it; its upper directory becomes
 * the layer. A step's cache key is the SHA-256 of the key of the layer below
 * and the step's definition (and, for the files step, the content of every
 * file): an unchanged step finds its layer and does not run again. A test
 * that passed for a key is remembered too.
 *
 * The full log of a build goes to $NUA_ROOT/logs/build/ID.log; when a step
 * fails, its last lines are part of the error. */
#ifndef NUA_BUILD_H
#define NUA_BUILD_H

#include <stdbool.h>
#include <stdio.h>

#include "error.h"
#include "runtime_oci.h"
#include "state.h"

struct build_options {
	bool no_cache;	/* run every step again */
	FILE *progress; /* one line per step (NULL: silent) */
	bool tty;	/* progress is a terminal: show the running step too */
};

/* Build the package at dir (a directory holding nua-config.toml, or the
 * file itself) and store its image. *ref (caller frees) is "ID:VERSION-
 * RELEASE". A bad config is NUA_EINPUT with its problems in the message; a
 * failing step is NUA_EFAIL naming the step, its exit status and the end of
 * its log. Layers already made stay (they are cache); nothing else is left
 * behind. */
int build_package(struct state *st, struct runtime *rt, const char *dir,
		  const struct build_options *opt, char **ref, struct nua_error **err);

/* build_package in a child process, the worker `nua __build` of the
 * calling binary (/proc/self/exe) with the caller's environment: what the
 * build touches (libarchive's and libcurl's libraries, the layers' pages)
 * and a crash of it stay out of a long-lived caller (the daemon). Its
 * progress lines go to opt->progress; its result and error come back as
 * build_package's. The worker dies with the thread that started it. */
int build_package_worker(const char *dir, const struct build_options *opt, char **ref,
			 struct nua_error **err);

/* The worker's side: build dir with its own state connection and runtime,
 * progress lines to stdout, and the result to the descriptor result_fd as
 * one JSON object, {"ref": REF} or {"error": MESSAGE, "code": CODE}.
 * Returns the exit status. */
int build_worker_main(const char *dir, bool no_cache, bool tty, int result_fd);

/* What killed builds leave (a worker killed with its daemon): their step
 * containers ("nua-build-..."), overlay mounts and scratch directories
 * under layers/. Only when no build runs (the daemon's start, a stop). */
void build_clean_stale(struct runtime *rt);

/* Last n lines of the file at path, for error messages (caller frees; ""
 * when it cannot be read). */
char *file_tail(const char *path, int n);

#endif
