#define _GNU_SOURCE
#include "mount.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "strbuf.h"
#include "util.h"

#include "banned.h"

#ifndef STATX_ATTR_MOUNT_ROOT
#define STATX_ATTR_MOUNT_ROOT 0x00002000
#endif

static bool overlay_safe_path(const char *p)
{
	return p[0] == '/' && !strpbrk(p, ",:\\");
}

/* Options with every path shortened by skip bytes (0 or the length of a
 * common parent plus its slash). Layers go top first, as overlayfs wants. */
static void overlay_options(struct strbuf *sb, const char *const *lowers, size_t nlower,
			    const char *upper, const char *work, size_t skip)
{
	strbuf_reset(sb);
	strbuf_addstr(sb, "lowerdir=");
	for (size_t i = nlower; i-- > 0;) {
		strbuf_addstr(sb, lowers[i] + skip);
		if (i)
			strbuf_addch(sb, ':');
	}
	if (upper)
		strbuf_addf(sb, ",upperdir=%s,workdir=%s", upper + skip, work + skip);
	strbuf_addstr(sb, ",redirect_dir=off,index=off,metacopy=off");
}

/* Length of the longest directory that holds every path, without the
 * trailing slash; 0 when it is "/". */
static size_t common_parent(const char *const *paths, size_t n)
{
	size_t len = strlen(paths[0]);

	for (size_t i = 1; i < n; i++) {
		size_t j = 0;

		while (j < len && paths[i][j] && paths[i][j] == paths[0][j])
			j++;
		len = j;
	}
	/* Cut back to a whole directory name that is a proper parent of
	 * every path. */
	for (;;) {
		bool whole = true;

		for (size_t i = 0; i < n; i++)
			if (paths[i][len] != '/')
				whole = false;
		if (whole || len == 0)
			break;
		len--;
	}
	return len;
}

static int mount_overlay_in(const char *dir, const char *target, const char *opts)
{
	pid_t pid;
	int status;

	/* The working directory is per process: change it in a child so that
	 * the caller's stays put and other threads are not disturbed. */
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		if (chdir(dir) < 0)
			_exit(errno & 0xff);
		if (mount("overlay", target, "overlay", 0, opts) < 0)
			_exit(errno & 0xff);
		_exit(0);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (!WIFEXITED(status))
		return -EINTR;
	return -WEXITSTATUS(status);
}

int overlay_mount(const char *const *lowers, size_t nlower, const char *upper, const char *work,
		  const char *target, struct nua_error **err)
{
	_cleanup_strbuf_ struct strbuf opts = STRBUF_INIT;
	_cleanup_free_ const char **all = NULL;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t n = 0, skip;
	int r;

	if (nlower == 0)
		return nua_error_set(err, NUA_EINPUT, "overlay on '%s' has no lower layer", target);
	if (!upper != !work)
		return nua_error_set(err, NUA_EINPUT, "overlay on '%s' needs both upper and work dirs",
				     target);
	all = xcalloc(nlower + 2, sizeof(*all));
	for (size_t i = 0; i < nlower; i++)
		all[n++] = lowers[i];
	if (upper) {
		all[n++] = upper;
		all[n++] = work;
	}
	for (size_t i = 0; i < n; i++)
		if (!overlay_safe_path(all[i]))
			return nua_error_set(err, NUA_EINPUT,
					     "overlay layer '%s' is not an absolute path free of ',', ':' and '\\'",
					     all[i]);

	overlay_options(&opts, lowers, nlower, upper, work, 0);
	if (opts.len < page) {
		if (mount("overlay", target, "overlay", 0, opts.buf) < 0)
			return nua_error_set(err, NUA_EFAIL,
					     "cannot mount overlay of %zu layers on '%s': %s (the kernel log says why)",
					     nlower, target, strerror(errno));
		return 0;
	}

	skip = common_parent(all, n);
	if (skip == 0)
		return nua_error_set(err, NUA_EINPUT,
				     "overlay options for '%s' are %zu bytes, above the kernel's limit of %zu, and the layers share no parent directory to shorten them",
				     target, opts.len, page - 1);
	_cleanup_free_ char *dir = xstrndup(all[0], skip);

	overlay_options(&opts, lowers, nlower, upper, work, skip + 1);
	if (opts.len >= page)
		return nua_error_set(err, NUA_EINPUT,
				     "overlay options for '%s' are %zu bytes even relative to '%s', above the kernel's limit of %zu: use fewer layers",
				     target, opts.len, dir, page - 1);
	r = mount_overlay_in(dir, target, opts.buf);
	if (r < 0)
		return nua_error_set(err, NUA_EFAIL,
				     "cannot mount overlay of %zu layers on '%s' (paths relative to '%s'): %s",
				     nlower, target, dir, strerror(-r));
	return 0;
}

int bind_mount(const char *source, const char *target, bool readonly, struct nua_error **err)
{
	if (mount(source, target, NULL, MS_BIND | MS_REC, NULL) < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot bind '%s' on '%s': %s", source, target,
				     strerror(errno));
	if (readonly &&
	    mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0) {
		int e = errno;

		umount2(target, MNT_DETACH);
		return nua_error_set(err, NUA_EFAIL, "cannot make '%s' read-only: %s", target,
				     strerror(e));
	}
	return 0;
}

int unmount_path(const char *target, struct nua_error **err)
{
	if (umount2(target, UMOUNT_NOFOLLOW) == 0)
		return 0;
	if (errno == EINVAL || errno == ENOENT)
		return 0; /* not a mount point, or gone */
	if (errno == EBUSY && umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
		return 0;
	return nua_error_set(err, NUA_EFAIL, "cannot unmount '%s': %s", target, strerror(errno));
}

static int is_mount_root_at(int dirfd, const char *name, bool *dir, bool *root)
{
	struct statx st;

	if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_TYPE, &st) < 0)
		return -errno;
	*dir = S_ISDIR(st.stx_mode);
	*root = (st.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
		(st.stx_attributes & STATX_ATTR_MOUNT_ROOT);
	return 0;
}

bool is_mount_point(const char *path)
{
	bool dir, root;

	return is_mount_root_at(AT_FDCWD, path, &dir, &root) == 0 && root;
}

static int remove_at(int parent, const char *name)
{
	bool is_dir, root;
	DIR *d;
	int fd, r = 0;

	r = is_mount_root_at(parent, name, &is_dir, &root);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if (root)
		return -EBUSY;
	if (!is_dir)
		return unlinkat(parent, name, 0) < 0 && errno != ENOENT ? -errno : 0;

	fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		close(fd);
		return r;
	}
	for (struct dirent *e; (e = readdir(d));) {
		if (streq(e->d_name, ".") || streq(e->d_name, ".."))
			continue;
		r = remove_at(dirfd(d), e->d_name);
		if (r < 0)
			break;
	}
	closedir(d);
	if (r < 0)
		return r;
	if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int remove_tree(const char *path) { return remove_at(AT_FDCWD, path); }

/* Run cp with argv (NULL-terminated); its stderr is kept in errs. */
static int run_cp(const char *const *argv, struct strbuf *errs)
{
	int pipefd[2], status;
	pid_t pid;
	char buf[512];
	ssize_t n;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int e = errno;

		close(pipefd[0]);
		close(pipefd[1]);
		return -e;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(pipefd[1], 2) < 0)
			_exit(127);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(pipefd[1]);
	while ((n = read(pipefd[0], buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (errs->len < 4096)
			strbuf_add(errs, buf, (size_t)n);
	}
	close(pipefd[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

int copy_tree(const char *src, const char *dst, bool link, struct nua_error **err)
{
	const char *linked[] = { "/bin/cp", "-al", "--", src, dst, NULL };
	const char *copied[] = { "/bin/cp", "-a", "--", src, dst, NULL };
	_cleanup_strbuf_ struct strbuf errs = STRBUF_INIT;
	int r = 1;

	if (link) {
		r = run_cp(linked, &errs);
		if (r != 0)
			remove_tree(dst);
	}
	if (r != 0) {
		strbuf_reset(&errs);
		r = run_cp(copied, &errs);
	}
	if (r == 0)
		return 0;
	remove_tree(dst);
	strbuf_rtrim(&errs);
	if (r < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot copy '%s' to '%s': %s", src, dst,
				     strerror(-r));
	return nua_error_set(err, NUA_EFAIL, "cannot copy '%s' to '%s': %s", src, dst,
			     errs.len ? errs.buf : "cp failed");
}
