/* The Debian base root filesystem every image starts from.
 *
 * Made once with `debootstrap --variant=minbase bookworm` from the host's
 * Debian mirror and cached by content under
 * $NUA_CACHE/base/KEY/rootfs, KEY being a hash of what it is made of (suite,
 * variant, mirrors, extra packages, and the version of the setup below), so
 * a change to any of them makes a new base beside the old one.
 *
 * Besides debootstrap's work, the base holds what every image needs:
 *   - user and group `nua` (1000:1000), home /home/nua, for apps not to run
 *     as root;
 *   - /nua/build, /nua/app, /nua/metadata (the image layout);
 *   - apt pointed at the same mirror (deb822 sources, with security updates
 *     when the host has them), no recommends, and a policy-rc.d that stops
 *     maintainer scripts from starting services during a build;
 *   - UTC as time zone, LANG=C.UTF-8 (built into libc: no locales package);
 *   - empty /etc/resolv.conf, a localhost /etc/hosts, /etc/hostname "nua",
 *     for the runtime to bind over;
 *   - no package lists nor downloaded .debs (a build step runs apt-get
 *     update itself). */
#ifndef NUA_BASE_H
#define NUA_BASE_H

#include "error.h"

struct base_request {
	/* Debian mirror URL; NULL: $NUA_DEBIAN_MIRROR, else the first
	 * non-security URI of the host's apt sources, else deb.debian.org. */
	const char *mirror;
	/* Extra packages for debootstrap --include; NULL-terminated, or NULL. */
	const char *const *include;
};

/* The path of the base rootfs (caller frees), built first when not cached.
 * Concurrent callers, in this process or others, wait on a lock file and
 * build it once; a build is made in a temporary directory renamed into place
 * when complete, so a crash never leaves a half base behind. req may be
 * NULL. Fails when debootstrap is missing or fails (the message names its
 * log), or for an invalid mirror or package name (NUA_EINPUT). */
int base_rootfs(const struct base_request *req, char **out, struct nua_error **err);

/* The host's Debian mirror and security mirror as base_rootfs finds them
 * (caller frees; *security NULL when the host has none). */
void base_host_mirrors(char **mirror, char **security);

#endif
