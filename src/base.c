#define _GNU_SOURCE
#include "base.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "mount.h"
#include "paths.h"
#include "runtime_oci.h"
#include "strbuf.h"
#include "util.h"

#include "banned.h"

#define SUITE "bookworm"
#define VARIANT "minbase"
/* Bump when the setup done inside the base changes: a new key, a new base. */
#define SETUP_VERSION "nua-base-1"
#define DEFAULT_MIRROR "http://deb.debian.org/debian"
#define DEBOOTSTRAP "/usr/sbin/debootstrap"

#define NUA_UID 1000
#define NUA_GID 1000

static bool valid_url(const char *u)
{
	if (!starts_with(u, "http://") && !starts_with(u, "https://"))
		return false;
	for (const char *p = u; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr(":/._~%+-", *p)))
			return false;
	return strlen(u) < 512;
}

static bool valid_package(const char *p)
{
	size_t n = strlen(p);

	if (n < 2 || n > 100 || !((p[0] >= 'a' && p[0] <= 'z') || (p[0] >= '0' && p[0] <= '9')))
		return false;
	for (; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("+.-", *p)))
			return false;
	return true;
}

/* Trim a URL's trailing slashes into a new string. */
static char *clean_url(const char *u, size_t len)
{
	while (len > 0 && u[len - 1] == '/')
		len--;
	return xstrndup(u, len);
}

/* The URIs of a deb822 sources file or a one-line sources.list. */
static void scan_sources(const char *data, bool deb822, char **mirror, char **security)
{
	const char *line = data;

	while (*line) {
		const char *end = strchrnul(line, '\n');
		const char *p = line;

		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (deb822 && end - p > 5 && strncasecmp(p, "URIs:", 5) == 0)
			p += 5;
		else if (!deb822 && end - p > 4 && strncmp(p, "deb ", 4) == 0)
			p += 4;
		else
			p = NULL;
		if (p) {
			const char *q;

			while (p < end && (*p == ' ' || *p == '\t'))
				p++;
			if (!deb822 && *p == '[') { /* deb [options] URI */
				while (p < end && *p != ']')
					p++;
				if (p < end)
					p++;
				while (p < end && *p == ' ')
					p++;
			}
			q = p;
			while (q < end && *q != ' ' && *q != '\t')
				q++;
			if (q > p) {
				char *u = clean_url(p, (size_t)(q - p));

				if (!valid_url(u))
					free(u);
				else if (strstr(u, "security") && !*security)
					*security = u;
				else if (!strstr(u, "security") && !*mirror)
					*mirror = u;
				else
					free(u);
			}
		}
		line = *end ? end + 1 : end;
	}
}

void base_host_mirrors(char **mirror, char **security)
{
	_cleanup_free_ char *data = NULL;
	const char *env = getenv("NUA_DEBIAN_MIRROR");

	*mirror = NULL;
	*security = NULL;
	if (read_file("/etc/apt/sources.list.d/debian.sources", &data, NULL) == 0)
		scan_sources(data, true, mirror, security);
	free(data);
	data = NULL;
	if (read_file("/etc/apt/sources.list", &data, NULL) == 0)
		scan_sources(data, false, mirror, security);
	if (env && *env) {
		free(*mirror);
		*mirror = clean_url(env, strlen(env));
	}
	if (!*mirror)
		*mirror = xstrdup(DEFAULT_MIRROR);
}

static char *base_key(const char *mirror, const char *security, const char *const *include)
{
	unsigned char h[crypto_hash_sha256_BYTES];
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
	struct strbuf hex = STRBUF_INIT;

	strbuf_addf(&sb, "%s\n%s\n%s\n%s\n%s\n", SETUP_VERSION, SUITE, VARIANT, mirror,
		    security ? security : "");
	for (; include && *include; include++)
		strbuf_addf(&sb, "include %s\n", *include);
	if (sodium_init() < 0)
		BUG("libsodium cannot initialise");
	crypto_hash_sha256(h, (const unsigned char *)sb.buf, sb.len);
	/* 16 hex digits: enough to tell bases apart, and short, because the
	 * path ends up in overlay mount options limited to a page. */
	for (size_t i = 0; i < 8; i++)
		strbuf_addf(&hex, "%02x", h[i]);
	return strbuf_detach(&hex, NULL);
}

static int put_file(const char *root, const char *rel, const char *content, mode_t mode,
		    struct nua_error **err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", root, rel);
	_cleanup_free_ char *dir = xstrdup(path);
	int r;

	*strrchr(dir, '/') = '\0';
	if ((r = mkdir_p(dir, 0755)) < 0 ||
	    (r = write_file_atomic(path, content, strlen(content), mode)) < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot write '%s': %s", path, strerror(-r));
	return 0;
}

static int append_line(const char *root, const char *rel, const char *line,
		       struct nua_error **err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", root, rel);
	_cleanup_free_ char *data = NULL;
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
	struct stat st;
	int r;

	if ((r = read_file(path, &data, NULL)) < 0 || stat(path, &st) < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot read '%s': %s", path,
				     strerror(r < 0 ? -r : errno));
	strbuf_addstr(&sb, data);
	if (sb.len && sb.buf[sb.len - 1] != '\n')
		strbuf_addch(&sb, '\n');
	strbuf_addf(&sb, "%s\n", line);
	if ((r = write_file_atomic(path, sb.buf, sb.len, st.st_mode & 07777)) < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot write '%s': %s", path, strerror(-r));
	/* write_file_atomic makes a new file: keep shadow's group. */
	if (chown(path, st.st_uid, st.st_gid) < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot chown '%s': %s", path, strerror(errno));
	return 0;
}

static int make_dir(const char *root, const char *rel, mode_t mode, uid_t uid, gid_t gid,
		    struct nua_error **err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", root, rel);

	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return nua_error_set(err, NUA_EFAIL, "cannot create '%s': %s", path, strerror(errno));
	if (chmod(path, mode) < 0 || chown(path, uid, gid) < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot set owner of '%s': %s", path,
				     strerror(errno));
	return 0;
}

/* Empty a directory, keeping it. */
static void empty_dir(const char *root, const char *rel, const char *keep)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", root, rel);
	DIR *d = opendir(path);

	if (!d)
		return;
	for (struct dirent *e; (e = readdir(d));) {
		_cleanup_free_ char *p = NULL;

		if (streq(e->d_name, ".") || streq(e->d_name, "..") ||
		    (keep && streq(e->d_name, keep)))
			continue;
		p = xasprintf("%s/%s", path, e->d_name);
		remove_tree(p);
	}
	closedir(d);
}

static int setup_base(const char *root, const char *mirror, const char *security,
		      struct nua_error **err)
{
	_cleanup_strbuf_ struct strbuf src = STRBUF_INIT;
	_cleanup_free_ char *localtime = xasprintf("%s/etc/localtime", root);
	_cleanup_free_ char *old_list = xasprintf("%s/etc/apt/sources.list", root);

	strbuf_addf(&src,
		    "Types: deb\nURIs: %s\nSuites: " SUITE " " SUITE "-updates\n"
		    "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n",
		    mirror);
	if (security)
		strbuf_addf(&src,
			    "\nTypes: deb\nURIs: %s\nSuites: " SUITE "-security\n"
			    "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n",
			    security);
	if (unlink(old_list) < 0 && errno != ENOENT)
		return nua_error_set(err, NUA_EFAIL, "cannot remove '%s': %s", old_list,
				     strerror(errno));
	if (put_file(root, "etc/apt/sources.list.d/debian.sources", src.buf, 0644, err) < 0 ||
	    put_file(root, "etc/apt/apt.conf.d/90nua",
		     "APT::Install-Recommends \"false\";\nAPT::Install-Suggests \"false\";\n", 0644,
		     err) < 0 ||
	    put_file(root, "usr/sbin/policy-rc.d",
		     "#!/bin/sh\n# Nua: maintainer scripts never start services in an image.\nexit 101\n",
		     0755, err) < 0 ||
	    put_file(root, "etc/resolv.conf", "", 0644, err) < 0 ||
	    put_file(root, "etc/hostname", "nua\n", 0644, err) < 0 ||
	    put_file(root, "etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
		     0644, err) < 0 ||
	    put_file(root, "etc/timezone", "Etc/UTC\n", 0644, err) < 0 ||
	    put_file(root, "etc/default/locale", "LANG=C.UTF-8\n", 0644, err) < 0)
		return -1;
	unlink(localtime);
	if (symlink("/usr/share/zoneinfo/Etc/UTC", localtime) < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot link '%s': %s", localtime, strerror(errno));

	if (append_line(root, "etc/passwd", "nua:x:1000:1000:Nua app:/home/nua:/bin/sh", err) < 0 ||
	    append_line(root, "etc/group", "nua:x:1000:", err) < 0 ||
	    append_line(root, "etc/shadow", "nua:!:19500:0:99999:7:::", err) < 0 ||
	    append_line(root, "etc/gshadow", "nua:!::", err) < 0)
		return -1;
	if (make_dir(root, "home/nua", 0750, NUA_UID, NUA_GID, err) < 0 ||
	    make_dir(root, "nua", 0755, 0, 0, err) < 0 ||
	    make_dir(root, "nua/build", 0755, 0, 0, err) < 0 ||
	    make_dir(root, "nua/app", 0755, 0, 0, err) < 0 ||
	    make_dir(root, "nua/metadata", 0755, 0, 0, err) < 0)
		return -1;
	empty_dir(root, "var/lib/apt/lists", "partial");
	empty_dir(root, "var/cache/apt/archives", "partial");
	return 0;
}

/* Last non-empty line of a log, for an error message. */
static char *last_line(const char *path)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	char *end, *start;

	if (read_file(path, &data, &len) < 0)
		return xstrdup("");
	end = data + len;
	while (end > data && (end[-1] == '\n' || end[-1] == ' '))
		end--;
	*end = '\0';
	start = strrchr(data, '\n');
	return xstrdup(start ? start + 1 : data);
}

static int run_debootstrap(const char *target, const char *mirror, const char *const *include,
			   const char *log_path, struct nua_error **err)
{
	_cleanup_strbuf_ struct strbuf inc = STRBUF_INIT;
	_cleanup_close_ int log = -1;
	const char *argv[8];
	const char *env[] = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			      "LC_ALL=C", "HOME=/root", "DEBIAN_FRONTEND=noninteractive", NULL };
	struct nua_cmd cmd = NUA_CMD_INIT;
	size_t n = 0;
	int status;
	pid_t pid;

	if (access(DEBOOTSTRAP, X_OK) < 0)
		return nua_error_set(err, NUA_EFAIL,
				     "cannot make the base rootfs: debootstrap is not installed (apt-get install debootstrap)");
	log = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (log < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot create '%s': %s", log_path,
				     strerror(errno));
	argv[n++] = DEBOOTSTRAP;
	argv[n++] = "--variant=" VARIANT;
	if (include && *include) {
		strbuf_addstr(&inc, "--include=");
		for (size_t i = 0; include[i]; i++)
			strbuf_addf(&inc, "%s%s", i ? "," : "", include[i]);
		argv[n++] = inc.buf;
	}
	argv[n++] = SUITE;
	argv[n++] = target;
	argv[n++] = mirror;
	argv[n] = NULL;
	cmd.argv = argv;
	cmd.envp = env;
	cmd.out = cmd.err = log;
	if (nua_cmd_spawn(&cmd, &pid, err) < 0 || nua_cmd_wait(pid, -1, &status, err) < 0)
		return -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		_cleanup_free_ char *last = last_line(log_path);

		return nua_error_set(err, NUA_EFAIL, "debootstrap failed (%s), see '%s': %s",
				     nua_wait_status_str(status), log_path, last);
	}
	return 0;
}

int base_rootfs(const struct base_request *req, char **out, struct nua_error **err)
{
	_cleanup_free_ char *mirror = NULL, *security = NULL, *key = NULL, *dir = NULL;
	_cleanup_free_ char *rootfs = NULL, *tmp = NULL, *lock_path = NULL, *log = NULL;
	const char *const *include = req ? req->include : NULL;
	_cleanup_close_ int lock = -1;
	int r;

	base_host_mirrors(&mirror, &security);
	if (req && req->mirror) {
		free(mirror);
		mirror = clean_url(req->mirror, strlen(req->mirror));
	}
	if (!valid_url(mirror))
		return nua_error_set(err, NUA_EINPUT,
				     "Debian mirror '%s' is not an http(s) URL of plain characters",
				     mirror);
	for (size_t i = 0; include && include[i]; i++)
		if (!valid_package(include[i]))
			return nua_error_set(err, NUA_EINPUT, "'%s' is not a Debian package name",
					     include[i]);

	key = base_key(mirror, security, include);
	dir = xasprintf("%s/base/%s", nua_cache_dir(), key);
	rootfs = xasprintf("%s/rootfs", dir);
	if (is_dir(rootfs))
		goto done;

	if ((r = mkdir_p(dir, 0755)) < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot create '%s': %s", dir, strerror(-r));
	lock_path = xasprintf("%s/lock", dir);
	lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (lock < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot open '%s': %s", lock_path,
				     strerror(errno));
	while (flock(lock, LOCK_EX) < 0)
		if (errno != EINTR)
			return nua_error_set(err, NUA_EFAIL, "cannot lock '%s': %s", lock_path,
					     strerror(errno));
	/* Someone else may have built it while we waited. */
	if (is_dir(rootfs))
		goto done;

	tmp = xasprintf("%s/rootfs.tmp", dir);
	log = xasprintf("%s/debootstrap.log", dir);
	if ((r = remove_tree(tmp)) < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot remove the unfinished base '%s': %s",
				     tmp, strerror(-r));
	if (run_debootstrap(tmp, mirror, include, log, err) < 0 ||
	    setup_base(tmp, mirror, security, err) < 0)
		goto fail;
	if (rename(tmp, rootfs) < 0) {
		nua_error_set(err, NUA_EFAIL, "cannot rename '%s' to '%s': %s", tmp, rootfs,
			      strerror(errno));
		goto fail;
	}
	sync();
done:
	*out = TAKE_PTR(rootfs);
	return 0;
fail:
	nua_error_prefix(err, "cannot make the base rootfs");
	remove_tree(tmp);
	return -1;
}
