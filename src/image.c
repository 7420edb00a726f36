/* The local image store: unpacked layers under $NUA_ROOT/layers, an OCI
 * image layout under $NUA_ROOT/images, one state record per image.
 *
 * Blobs enter the layout, and index.json changes, only under the store's
 * lock (images/.lock), which the garbage collector also takes: a blob is
 * first written whole under images/tmp/, then renamed into blobs/sha256/. */
#define _GNU_SOURCE
#include "image.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/xattr.h>
#include <time.h>

#include "mount.h"
#include "paths.h"
#include "strbuf.h"
#include "util.h"
#include "banned.h"

#define MT_OCI_MANIFEST	    "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX	    "application/vnd.oci.image.index.v1+json"
#define MT_OCI_CONFIG	    "application/vnd.oci.image.config.v1+json"
#define MT_OCI_LAYER	    "application/vnd.oci.image.layer.v1.tar"
#define MT_DOCKER_MANIFEST  "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST	    "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_LAYER	    "application/vnd.docker.image.rootfs.diff.tar"
#define ANN_REF		    "org.opencontainers.image.ref.name"
#define ANN_CONTAINERD_NAME "io.containerd.image.name"
#define ANN_LAYER	    "org.nua.layer"
#define LABEL_CONFIG	    "org.nua.config"
#define OVERLAY_XATTR	    "trusted.overlay."
#define OPAQUE_XATTR	    "trusted.overlay.opaque"
#define WH_PREFIX	    ".wh."
#define WH_OPAQUE	    ".wh..wh..opq"
#define JSON_MAX	    (16 << 20) /* no JSON document of an image is near this */
#define LAYER_GRACE	    86400      /* seconds an unused layer is kept for the build cache */

/* ---- small helpers ---- */

static bool valid_hex64(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return i == 64;
}

/* The hex part of "sha256:HEX", or NULL when digest is not of that form. */
static const char *digest_hex(const char *digest)
{
	if (!digest || !starts_with(digest, "sha256:") || !valid_hex64(digest + 7))
		return NULL;
	return digest + 7;
}

static char *images_path(const char *rel)
{
	return xasprintf("%s/images/%s", nua_root(), rel);
}

static char *blob_path(const char *digest)
{
	const char *hex = digest_hex(digest);

	if (!hex)
		BUG("blob_path of '%s'", digest ? digest : "(null)");
	return xasprintf("%s/images/blobs/sha256/%s", nua_root(), hex);
}

char *layer_path(const char *key)
{
	return xasprintf("%s/layers/%s", nua_root(), key);
}

static char *layer_file(const char *key, const char *rel)
{
	return xasprintf("%s/layers/%s/%s", nua_root(), key, rel);
}

bool layer_exists(const char *key)
{
	_cleanup_free_ char *p = NULL;

	if (!key || !valid_hex64(key))
		return false;
	p = layer_file(key, "layer.json");
	return access(p, F_OK) == 0;
}

/* json_decrefp comes with jansson. */
#define _cleanup_json_ _cleanup_(json_decrefp)

static void archive_readp(struct archive **a)
{
	if (*a)
		archive_read_free(*a);
}
#define _cleanup_archive_read_ _cleanup_(archive_readp)

static void archive_writep(struct archive **a)
{
	if (*a)
		archive_write_free(*a);
}
#define _cleanup_archive_write_ _cleanup_(archive_writep)

static const char *jstr(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/* Canonical bytes of a JSON document stored as a blob: compact, keys
 * sorted, so that the same image always has the same digest. */
static char *json_canonical(const json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

	if (!s)
		BUG("json_dumps failed");
	return s;
}

static int fsync_dir(const char *dir)
{
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) < 0)
		return -errno;
	return 0;
}

static int fsync_parent(const char *path)
{
	_cleanup_free_ char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');

	if (slash)
		*slash = '\0';
	return fsync_dir(slash ? dir : ".");
}

/* ---- digests ---- */

struct hasher {
	crypto_hash_sha256_state st;
	uint64_t size;
};

static void hasher_init(struct hasher *h)
{
	if (sodium_init() < 0)
		BUG("sodium_init failed");
	crypto_hash_sha256_init(&h->st);
	h->size = 0;
}

static void hasher_update(struct hasher *h, const void *data, size_t len)
{
	crypto_hash_sha256_update(&h->st, data, len);
	h->size += len;
}

/* "sha256:HEX" (caller frees). */
static char *hasher_digest(struct hasher *h)
{
	unsigned char out[crypto_hash_sha256_BYTES];
	char hex[2 * crypto_hash_sha256_BYTES + 1];

	crypto_hash_sha256_final(&h->st, out);
	sodium_bin2hex(hex, sizeof(hex), out, sizeof(out));
	return xasprintf("sha256:%s", hex);
}

static char *digest_of(const void *data, size_t len)
{
	struct hasher h;

	hasher_init(&h);
	hasher_update(&h, data, len);
	return hasher_digest(&h);
}

/* Digest and size of a file's content. Returns 0 or -errno. */
static int hash_file(const char *path, char **digest, int64_t *size)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	char buf[65536];
	struct hasher h;

	if (fd < 0)
		return -errno;
	hasher_init(&h);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		hasher_update(&h, buf, (size_t)n);
	}
	*size = (int64_t)h.size;
	*digest = hasher_digest(&h);
	return 0;
}

/* ---- the store's directories and lock ---- */

static int ensure_store(struct nua_error **err)
{
	static const char *const dirs[] = {"images/blobs/sha256", "images/tmp", "layers"};
	_cleanup_free_ char *layout = images_path("oci-layout");
	static const char layout_json[] = "{\"imageLayoutVersion\":\"1.0.0\"}";

	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		_cleanup_free_ char *p = nua_root_path(dirs[i]);
		int r = mkdir_p(p, 0755);

		if (r < 0)
			return nua_error_set(err, NUA_EFAIL, "cannot create '%s': %s", p,
					     strerror(-r));
	}
	if (access(layout, F_OK) < 0) {
		int r = write_file_atomic(layout, layout_json, sizeof(layout_json) - 1, 0644);

		if (r < 0)
			return nua_error_set(err, NUA_EFAIL, "cannot write '%s': %s", layout,
					     strerror(-r));
	}
	return 0;
}

/* Take the store's lock (held until the returned descriptor is closed). */
static int store_lock(struct nua_error **err)
{
	_cleanup_free_ char *path = NULL;
	int fd;

	if (ensure_store(err) < 0)
		return -1;
	path = images_path(".lock");
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot open '%s': %s", path, strerror(errno));
	while (flock(fd, LOCK_EX) < 0) {
		if (errno == EINTR)
			continue;
		nua_error_set(err, NUA_EFAIL, "cannot lock '%s': %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* A new temporary file under images/tmp; *path receives its name. */
static int tmp_file(char **path, struct nua_error **err)
{
	char *p = images_path("tmp/blob-XXXXXX");
	int fd = mkostemp(p, O_CLOEXEC);

	if (fd < 0) {
		nua_error_set(err, NUA_EFAIL, "cannot create a file in '%s/images/tmp': %s",
			      nua_root(), strerror(errno));
		free(p);
		return -1;
	}
	*path = p;
	return fd;
}

/* Write data as the blob of its digest (kept when already there). Under
 * the lock. *digest (may be NULL) receives it. */
static int put_blob(const void *data, size_t len, char **digest, struct nua_error **err)
{
	_cleanup_free_ char *d = digest_of(data, len);
	_cleanup_free_ char *path = blob_path(d);

	if (access(path, F_OK) < 0) {
		int r = write_file_atomic(path, data, len, 0644);

		if (r < 0)
			return nua_error_set(err, NUA_EFAIL, "cannot write '%s': %s", path,
					     strerror(-r));
	}
	if (digest)
		*digest = TAKE_PTR(d);
	return 0;
}

/* Move the file at src (verified to have this digest) into the blobs.
 * Under the lock. */
static int move_blob(const char *src, const char *digest, struct nua_error **err)
{
	_cleanup_free_ char *path = blob_path(digest);

	if (access(path, F_OK) == 0)
		return 0;
	if (rename(src, path) < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot move '%s' to '%s': %s", src, path,
				     strerror(errno));
	if (fsync_parent(path) < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot sync '%s': %s", path, strerror(errno));
	return 0;
}

/* Parse a JSON file of at most JSON_MAX bytes; what names it in errors. */
static json_t *load_json_file(const char *path, const char *what, int status,
			      struct nua_error **err)
{
	_cleanup_free_ char *data = NULL;
	json_error_t jerr;
	struct stat sb;
	size_t len;
	json_t *j;
	int r;

	if (stat(path, &sb) == 0 && sb.st_size > JSON_MAX) {
		nua_error_set(err, status, "%s is too large (%lld bytes)", what,
			      (long long)sb.st_size);
		return NULL;
	}
	r = read_file(path, &data, &len);
	if (r < 0) {
		nua_error_set(err, r == -ENOENT ? status : NUA_EFAIL, "cannot read %s: %s", what,
			      strerror(-r));
		return NULL;
	}
	j = json_loadb(data, len, 0, &jerr);
	if (!j)
		nua_error_set(err, status, "%s is not valid JSON: line %d: %s", what, jerr.line,
			      jerr.text);
	return j;
}

static json_t *load_blob_json(const char *digest, struct nua_error **err)
{
	_cleanup_free_ char *path = blob_path(digest);
	_cleanup_free_ char *what = xasprintf("blob '%s'", digest);

	return load_json_file(path, what, NUA_EFAIL, err);
}

/* The digest and size in the layer.json of the directory dir. */
static int read_layer_json(const char *dir, char **digest, int64_t *size, struct nua_error **err)
{
	_cleanup_free_ char *path = xasprintf("%s/layer.json", dir);
	_cleanup_free_ char *what = xasprintf("'%s'", path);
	_cleanup_json_ json_t *j = load_json_file(path, what, NUA_EFAIL, err);
	const char *d;

	if (!j)
		return -1;
	d = jstr(j, "digest");
	if (!digest_hex(d) || !json_is_integer(json_object_get(j, "size")))
		return nua_error_set(err, NUA_EFAIL, "'%s' lacks a digest or a size", path);
	*digest = xstrdup(d);
	*size = json_integer_value(json_object_get(j, "size"));
	return 0;
}

static int layer_info(const char *key, char **digest, int64_t *size, struct nua_error **err)
{
	_cleanup_free_ char *dir = layer_path(key), *d = NULL;
	int64_t sz;

	if (read_layer_json(dir, &d, &sz, err) < 0)
		return -1;
	if (digest)
		*digest = TAKE_PTR(d);
	if (size)
		*size = sz;
	return 0;
}

static bool layer_has_digest(const char *key, const char *digest)
{
	_cleanup_free_ char *d = NULL;

	if (!key || !valid_hex64(key) || !layer_exists(key))
		return false;
	if (layer_info(key, &d, NULL, NULL) < 0)
		return false;
	return streq(d, digest);
}

/* The layer holding a manifest's layer: the one its org.nua.layer
 * annotation names when that layer has this digest (a layer built here),
 * else the one named by the digest (an imported layer). An annotation is
 * never trusted further: an archive must not be able to fill the builder's
 * cache. Caller frees. */
static char *resolve_layer_key(const json_t *desc)
{
	const char *digest = jstr(desc, "digest");
	const char *key = jstr(json_object_get(desc, "annotations"), ANN_LAYER);

	if (key && layer_has_digest(key, digest))
		return xstrdup(key);
	return xstrdup(digest_hex(digest));
}

/* ---- refs ---- */

static bool valid_tag_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '-';
}

static bool parse_release(const char *s, int64_t *release)
{
	int64_t v = 0;

	if (!*s || *s == '0' || strlen(s) > 9)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (*s - '0');
	}
	*release = v;
	return true;
}

/* Split "ID:VERSION-RELEASE" (also a valid docker reference: the tag is at
 * most 128 of [A-Za-z0-9_.-]). Each out pointer may be NULL. */
static bool parse_ref(const char *ref, char **id, char **version, int64_t *release)
{
	const char *colon = strchr(ref, ':'), *dash;
	_cleanup_free_ char *i = NULL;
	int64_t rel;

	if (!colon)
		return false;
	i = xstrndup(ref, (size_t)(colon - ref));
	if (!valid_name(i, 64) || i[strlen(i) - 1] == '-')
		return false;
	dash = strrchr(colon + 1, '-');
	if (!dash || dash == colon + 1 || strlen(colon + 1) > 128 || colon[1] == '.' ||
	    colon[1] == '-')
		return false;
	for (const char *p = colon + 1; p < dash; p++)
		if (!valid_tag_char(*p))
			return false;
	if (!parse_release(dash + 1, &rel))
		return false;
	if (id)
		*id = TAKE_PTR(i);
	if (version)
		*version = xstrndup(colon + 1, (size_t)(dash - colon - 1));
	if (release)
		*release = rel;
	return true;
}

/* A ref from a name found in an archive or given by the user: a docker
 * reference ("registry/path/id:tag") becomes "id:tag", a tag without a
 * release gets "-1", no tag is "latest-1". NULL when it cannot be made a
 * valid ref. */
static char *normalize_ref(const char *name)
{
	const char *slash = strrchr(name, '/'), *base = slash ? slash + 1 : name;
	const char *colon = strchr(base, ':'), *dash;
	_cleanup_free_ char *id = NULL;
	char *ref;
	int64_t rel;

	if (strchr(base, '@'))
		return NULL;
	id = colon ? xstrndup(base, (size_t)(colon - base)) : xstrdup(base);
	const char *tag = colon ? colon + 1 : "latest";
	dash = strrchr(tag, '-');
	if (dash && parse_release(dash + 1, &rel))
		ref = xasprintf("%s:%s", id, tag);
	else
		ref = xasprintf("%s:%s-1", id, tag);
	if (!parse_ref(ref, NULL, NULL, NULL)) {
		free(ref);
		return NULL;
	}
	return ref;
}

/* ---- writing a layer's tar ---- */

struct tar_sink {
	int fd;
	struct hasher h;
};

static la_ssize_t sink_write(struct archive *a, void *data, const void *buf, size_t len)
{
	struct tar_sink *s = data;
	const char *p = buf;
	size_t left = len;

	while (left > 0) {
		ssize_t n = write(s->fd, p, left);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			archive_set_error(a, errno, "%s", strerror(errno));
			return -1;
		}
		p += n;
		left -= (size_t)n;
	}
	hasher_update(&s->h, buf, len);
	return (la_ssize_t)len;
}

struct hardlink {
	dev_t dev;
	ino_t ino;
	char *name;
};

struct tar_writer {
	struct archive *a;
	struct strbuf path; /* on disk: root, then "/" and the entry's name */
	size_t root_len;
	struct hardlink *links;
	size_t n_links, alloc_links;
};

static const char *tw_name(const struct tar_writer *w)
{
	return w->path.buf + w->root_len + 1;
}

static int tw_error(struct tar_writer *w, struct nua_error **err)
{
	return nua_error_set(err, NUA_EFAIL, "cannot write the tar of '%s': %s", w->path.buf,
			     archive_error_string(w->a));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Copy the xattrs of path into e (sorted, overlay's own left out); *opaque
 * tells whether overlay marked the directory opaque. */
static int tw_xattrs(struct archive_entry *e, const char *path, bool *opaque,
		     struct nua_error **err)
{
	_cleanup_free_ char *names = NULL;
	_cleanup_free_ const char **v = NULL;
	size_t n = 0, alloc = 0;
	ssize_t len;

	*opaque = false;
	len = llistxattr(path, NULL, 0);
	if (len < 0 && (errno == ENOTSUP || errno == ENODATA))
		return 0;
	if (len < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot list the xattrs of '%s': %s", path,
				     strerror(errno));
	if (len == 0)
		return 0;
	names = xmalloc((size_t)len);
	len = llistxattr(path, names, (size_t)len);
	if (len < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot list the xattrs of '%s': %s", path,
				     strerror(errno));
	for (char *p = names; p < names + len; p += strlen(p) + 1) {
		ALLOC_GROW(v, n + 1, alloc);
		v[n++] = p;
	}
	qsort(v, n, sizeof(*v), cmp_str);
	for (size_t i = 0; i < n; i++) {
		char value[65536];
		ssize_t vlen = lgetxattr(path, v[i], value, sizeof(value));

		if (vlen < 0)
			return nua_error_set(err, NUA_EFAIL, "cannot read xattr '%s' of '%s': %s",
					     v[i], path, strerror(errno));
		if (streq(v[i], OPAQUE_XATTR)) {
			*opaque = vlen == 1 && value[0] == 'y';
			continue;
		}
		if (starts_with(v[i], OVERLAY_XATTR))
			continue;
		archive_entry_xattr_add_entry(e, v[i], value, (size_t)vlen);
	}
	return 0;
}

static struct archive_entry *tw_entry(const char *name, const struct stat *sb)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_set_pathname(e, name);
	archive_entry_set_mode(e, sb->st_mode);
	archive_entry_set_uid(e, sb->st_uid);
	archive_entry_set_gid(e, sb->st_gid);
	/* Whole seconds, and no atime or ctime: the same tree makes the same
	 * bytes. */
	archive_entry_set_mtime(e, sb->st_mtime, 0);
	return e;
}

/* An empty regular file standing for a whiteout: name in dir (the entry's
 * directory, "" at the top). */
static int tw_marker(struct tar_writer *w, const char *dir, const char *name, const struct stat *sb,
		     struct nua_error **err)
{
	_cleanup_free_ char *full = xasprintf("%s%s%s", dir, *dir ? "/" : "", name);
	struct stat m = *sb;
	struct archive_entry *e;
	int r;

	m.st_mode = S_IFREG | (sb->st_mode & 07777);
	e = tw_entry(full, &m);
	archive_entry_set_size(e, 0);
	r = archive_write_header(w->a, e);
	archive_entry_free(e);
	return r < ARCHIVE_WARN ? tw_error(w, err) : 0;
}

static int tw_file_data(struct tar_writer *w, off_t size, struct nua_error **err)
{
	_cleanup_close_ int fd = open(w->path.buf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	char buf[65536];
	off_t done = 0;

	if (fd < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot open '%s': %s", w->path.buf,
				     strerror(errno));
	while (done < size) {
		size_t want =
		    size - done < (off_t)sizeof(buf) ? (size_t)(size - done) : sizeof(buf);
		ssize_t n = read(fd, buf, want);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return nua_error_set(err, NUA_EFAIL, "cannot read '%s': %s", w->path.buf,
					     strerror(errno));
		if (n == 0)
			return nua_error_set(err, NUA_EFAIL, "'%s' changed while being read",
					     w->path.buf);
		if (archive_write_data(w->a, buf, (size_t)n) != n)
			return tw_error(w, err);
		done += n;
	}
	return 0;
}

static int tw_walk(struct tar_writer *w, struct nua_error **err);

static int tw_one(struct tar_writer *w, const struct stat *sb, struct nua_error **err)
{
	const char *name = tw_name(w);
	const char *slash = strrchr(name, '/');
	const char *base = slash ? slash + 1 : name;
	_cleanup_free_ char *dir = slash ? xstrndup(name, (size_t)(slash - name)) : xstrdup("");
	struct archive_entry *e;
	bool opaque = false;
	int r;

	if (starts_with(base, WH_PREFIX))
		return nua_error_set(err, NUA_EINPUT,
				     "cannot store '%s' in a layer: names starting with '.wh.' "
				     "mark deletions in OCI layers",
				     w->path.buf);
	if (S_ISCHR(sb->st_mode) && sb->st_rdev == makedev(0, 0)) {
		_cleanup_free_ char *wh = xasprintf(WH_PREFIX "%s", base);

		return tw_marker(w, dir, wh, sb, err);
	}
	if (S_ISSOCK(sb->st_mode))
		return 0; /* a socket is no content */

	e = tw_entry(name, sb);
	if (tw_xattrs(e, w->path.buf, &opaque, err) < 0) {
		archive_entry_free(e);
		return -1;
	}
	if (S_ISREG(sb->st_mode) && sb->st_nlink > 1) {
		for (size_t i = 0; i < w->n_links; i++) {
			if (w->links[i].dev != sb->st_dev || w->links[i].ino != sb->st_ino)
				continue;
			archive_entry_set_hardlink(e, w->links[i].name);
			archive_entry_set_size(e, 0);
			r = archive_write_header(w->a, e);
			archive_entry_free(e);
			return r < ARCHIVE_WARN ? tw_error(w, err) : 0;
		}
		ALLOC_GROW(w->links, w->n_links + 1, w->alloc_links);
		w->links[w->n_links++] = (struct hardlink){sb->st_dev, sb->st_ino, xstrdup(name)};
	}
	if (S_ISREG(sb->st_mode))
		archive_entry_set_size(e, sb->st_size);
	else if (S_ISLNK(sb->st_mode)) {
		char target[4097];
		ssize_t n = readlink(w->path.buf, target, sizeof(target) - 1);

		if (n < 0) {
			archive_entry_free(e);
			return nua_error_set(err, NUA_EFAIL, "cannot read link '%s': %s",
					     w->path.buf, strerror(errno));
		}
		target[n] = '\0';
		archive_entry_set_symlink(e, target);
	} else if (S_ISCHR(sb->st_mode) || S_ISBLK(sb->st_mode))
		archive_entry_set_rdev(e, sb->st_rdev);
	r = archive_write_header(w->a, e);
	archive_entry_free(e);
	if (r < ARCHIVE_WARN)
		return tw_error(w, err);
	if (S_ISREG(sb->st_mode))
		return tw_file_data(w, sb->st_size, err);
	if (S_ISDIR(sb->st_mode)) {
		if (opaque && tw_marker(w, name, WH_OPAQUE, sb, err) < 0)
			return -1;
		return tw_walk(w, err);
	}
	return 0;
}

/* Write the entries under w->path, sorted by name. */
static int tw_walk(struct tar_writer *w, struct nua_error **err)
{
	DIR *d = opendir(w->path.buf);
	char **names = NULL;
	size_t n = 0, alloc = 0, len = w->path.len;
	int r = 0;

	if (!d)
		return nua_error_set(err, NUA_EFAIL, "cannot open '%s': %s", w->path.buf,
				     strerror(errno));
	for (struct dirent *de; (de = readdir(d));) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		ALLOC_GROW(names, n + 1, alloc);
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n && r == 0; i++) {
		struct stat sb;

		strbuf_addf(&w->path, "/%s", names[i]);
		if (lstat(w->path.buf, &sb) < 0)
			r = nua_error_set(err, NUA_EFAIL, "cannot stat '%s': %s", w->path.buf,
					  strerror(errno));
		else
			r = tw_one(w, &sb, err);
		strbuf_setlen(&w->path, len);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return r;
}

/* Write the tree at dir as an OCI layer tar to fd; *digest, *size of the
 * bytes written. */
static int write_layer_tar(const char *dir, int fd, char **digest, int64_t *size,
			   struct nua_error **err)
{
	struct tar_writer w = {0};
	struct tar_sink sink;
	int r = -1;

	sink.fd = fd;
	strbuf_init(&w.path, 256);
	strbuf_addstr(&w.path, dir);
	w.root_len = w.path.len;
	hasher_init(&sink.h);
	w.a = archive_write_new();
	/* Restricted pax: ustar headers, extended ones only where needed
	 * (long names, xattrs); no padding past the last block. */
	if (archive_write_set_format_pax_restricted(w.a) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(w.a, 1) != ARCHIVE_OK ||
	    archive_write_open(w.a, &sink, NULL, sink_write, NULL) != ARCHIVE_OK) {
		tw_error(&w, err);
		goto out;
	}
	if (tw_walk(&w, err) < 0)
		goto out;
	if (archive_write_close(w.a) != ARCHIVE_OK) {
		tw_error(&w, err);
		goto out;
	}
	*digest = hasher_digest(&sink.h);
	*size = (int64_t)sink.h.size;
	r = 0;
out:
	archive_write_free(w.a);
	for (size_t i = 0; i < w.n_links; i++)
		free(w.links[i].name);
	free(w.links);
	strbuf_release(&w.path);
	return r;
}

static int write_layer_json(const char *dir, const char *digest, int64_t size,
			    struct nua_error **err)
{
	_cleanup_free_ char *path = xasprintf("%s/layer.json", dir);
	_cleanup_json_ json_t *j =
	    json_pack("{s:s, s:I}", "digest", digest, "size", (json_int_t)size);
	_cleanup_free_ char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	int r;

	r = write_file_atomic(path, s, strlen(s), 0644);
	if (r < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot write '%s': %s", path, strerror(-r));
	return 0;
}

/* The layer directory dir made, without a diff: a layer without
 * layer.json is what an interrupted commit left. Returns dir/diff (caller
 * frees), or NULL. */
static char *empty_layer_dir(const char *dir, struct nua_error **err)
{
	char *diff = xasprintf("%s/diff", dir);
	int r = mkdir_p(dir, 0755);

	if (r == 0)
		r = remove_tree(diff);
	if (r < 0) {
		nua_error_set(err, NUA_EFAIL, "cannot prepare '%s': %s", dir, strerror(-r));
		free(diff);
		return NULL;
	}
	return diff;
}

int layer_commit(const char *key, const char *diff_dir, char **digest, struct nua_error **err)
{
	_cleanup_free_ char *dir = NULL, *diff = NULL, *tmp = NULL, *d = NULL;
	_cleanup_close_ int fd = -1, lock = -1;
	int64_t size;
	int r;

	if (digest)
		*digest = NULL;
	if (!key || !valid_hex64(key))
		return nua_error_set(err, NUA_EINPUT, "invalid layer key '%s'", key ? key : "");
	if (ensure_store(err) < 0)
		return -1;
	dir = layer_path(key);
	if (layer_exists(key)) {
		r = remove_tree(diff_dir);
		if (r < 0)
			return nua_error_set(err, NUA_EFAIL, "cannot remove '%s': %s", diff_dir,
					     strerror(-r));
		return digest ? layer_info(key, digest, NULL, err) : 0;
	}
	if (!(diff = empty_layer_dir(dir, err)))
		return -1;
	if (rename(diff_dir, diff) < 0) {
		if (errno == EXDEV)
			return nua_error_set(err, NUA_EFAIL,
					     "cannot move '%s' into the layer store: it is not on "
					     "the filesystem of '%s'",
					     diff_dir, nua_root());
		return nua_error_set(err, NUA_EFAIL, "cannot move '%s' to '%s': %s", diff_dir, diff,
				     strerror(errno));
	}
	fd = tmp_file(&tmp, err);
	if (fd < 0)
		return -1;
	if (write_layer_tar(diff, fd, &d, &size, err) < 0) {
		unlink(tmp);
		return nua_error_prefix(err, "layer %s", key);
	}
	if (fsync(fd) < 0 || fchmod(fd, 0644) < 0) {
		int e = errno;

		unlink(tmp);
		return nua_error_set(err, NUA_EFAIL, "cannot write '%s': %s", tmp, strerror(e));
	}
	lock = store_lock(err);
	if (lock < 0 || move_blob(tmp, d, err) < 0 || write_layer_json(dir, d, size, err) < 0) {
		unlink(tmp);
		return -1;
	}
	unlink(tmp); /* when the blob was there already */
	if (digest)
		*digest = TAKE_PTR(d);
	return 0;
}

/* ---- the layer cache of the machine ---- */

#define CACHE_KEEP_DAYS 30

static char *cache_path(const char *key, const char *rel)
{
	if (!key)
		return xasprintf("%s/layers", nua_cache_dir());
	return xasprintf("%s/layers/%s%s%s", nua_cache_dir(), key, rel ? "/" : "", rel ? rel : "");
}

int layer_cache_take(const char *key, struct nua_error **err)
{
	_cleanup_free_ char *cdir = NULL, *cdiff = NULL, *cblob = NULL, *dir = NULL;
	_cleanup_free_ char *diff = NULL, *tmp = NULL, *digest = NULL;
	_cleanup_close_ int lock = -1;
	int64_t size;

	if (!key || !valid_hex64(key))
		return 0;
	if (layer_exists(key))
		return 1;
	cdir = cache_path(key, NULL);
	{
		_cleanup_free_ char *cjson = cache_path(key, "layer.json");

		if (access(cjson, F_OK) < 0)
			return 0;
	}
	if (read_layer_json(cdir, &digest, &size, err) < 0 || ensure_store(err) < 0)
		return -1;
	cdiff = cache_path(key, "diff");
	cblob = cache_path(key, "blob");
	dir = layer_path(key);
	if (!(diff = empty_layer_dir(dir, err)) || copy_tree(cdiff, diff, true, err) < 0)
		return -1;
	tmp = xasprintf("%s/images/tmp/cached-%s.%d", nua_root(), key, (int)getpid());
	unlink(tmp);
	if (copy_tree(cblob, tmp, true, err) < 0)
		return -1;
	lock = store_lock(err);
	if (lock < 0 || move_blob(tmp, digest, err) < 0 || write_layer_json(dir, digest, size, err) < 0) {
		unlink(tmp);
		return -1;
	}
	unlink(tmp);
	/* The directory's time says when a build last took it. */
	utimensat(AT_FDCWD, cdir, NULL, 0);
	return 1;
}

/* Remove what no build took for CACHE_KEEP_DAYS, and what an interrupted
 * layer_cache_put left (".KEY.PID" older than a day). */
static void cache_prune(const char *base)
{
	DIR *d = opendir(base);
	time_t now = time(NULL);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		_cleanup_free_ char *p = NULL;
		struct stat sb;
		bool tmp = de->d_name[0] == '.';

		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		if (!tmp && !valid_hex64(de->d_name))
			continue;
		p = xasprintf("%s/%s", base, de->d_name);
		if (lstat(p, &sb) < 0 || !S_ISDIR(sb.st_mode))
			continue;
		if (now - sb.st_mtime > (tmp ? 86400 : CACHE_KEEP_DAYS * 86400))
			remove_tree(p);
	}
	closedir(d);
}

int layer_cache_put(const char *key, struct nua_error **err)
{
	_cleanup_free_ char *base = cache_path(NULL, NULL), *cdir = NULL, *cjson = NULL;
	_cleanup_free_ char *tmp = NULL, *src = NULL, *dst = NULL, *digest = NULL, *blob = NULL;
	int64_t size;
	int r;

	if (!key || !valid_hex64(key))
		return nua_error_set(err, NUA_EINPUT, "invalid layer key '%s'", key ? key : "");
	cdir = cache_path(key, NULL);
	cjson = cache_path(key, "layer.json");
	if (access(cjson, F_OK) == 0)
		return 0;
	if (layer_info(key, &digest, &size, err) < 0)
		return -1;
	r = mkdir_p(base, 0700);
	if (r < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot create '%s': %s", base, strerror(-r));
	tmp = xasprintf("%s/.%s.%d", base, key, (int)getpid());
	remove_tree(tmp);
	if (mkdir(tmp, 0755) < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot create '%s': %s", tmp, strerror(errno));
	src = layer_file(key, "diff");
	dst = xasprintf("%s/diff", tmp);
	blob = xasprintf("%s/blob", tmp);
	{
		_cleanup_free_ char *b = blob_path(digest);

		if (copy_tree(src, dst, true, err) < 0 || copy_tree(b, blob, true, err) < 0 ||
		    write_layer_json(tmp, digest, size, err) < 0)
			goto fail;
	}
	if (rename(tmp, cdir) < 0) {
		int e = errno;

		remove_tree(tmp);
		/* Another root put it there meanwhile. */
		if (e == EEXIST || e == ENOTEMPTY)
			return 0;
		return nua_error_set(err, NUA_EFAIL, "cannot move '%s' to '%s': %s", tmp, cdir,
				     strerror(e));
	}
	cache_prune(base);
	return 0;
fail:
	remove_tree(tmp);
	return -1;
}

/* ---- images ---- */

struct layer_desc {
	char *key;
	char *digest;
	int64_t size;
};

static void layer_descs_free(struct layer_desc *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].key);
		free(v[i].digest);
	}
	free(v);
}

static const char *host_arch(void)
{
	static struct utsname u;

	if (uname(&u) < 0)
		return "amd64";
	if (streq(u.machine, "x86_64"))
		return "amd64";
	if (streq(u.machine, "aarch64"))
		return "arm64";
	if (starts_with(u.machine, "arm"))
		return "arm";
	if (streq(u.machine, "i686") || streq(u.machine, "i386"))
		return "386";
	return u.machine;
}

static json_t *string_array(const char *const *v)
{
	json_t *a = json_array();

	for (; v && *v; v++)
		json_array_append_new(a, json_string(*v));
	return a;
}

static json_t *make_manifest(const char *config_digest, size_t config_size,
			     const struct layer_desc *layers, size_t n)
{
	json_t *ls = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(ls, json_pack("{s:s, s:s, s:I, s:{s:s}}", "mediaType",
						    MT_OCI_LAYER, "digest", layers[i].digest,
						    "size", (json_int_t)layers[i].size,
						    "annotations", ANN_LAYER, layers[i].key));
	return json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:o}", "schemaVersion", 2, "mediaType",
			 MT_OCI_MANIFEST, "config", "mediaType", MT_OCI_CONFIG, "digest",
			 config_digest, "size", (json_int_t)config_size, "layers", ls);
}

static int write_index(json_t *index, struct nua_error **err)
{
	_cleanup_free_ char *path = images_path("index.json");
	_cleanup_free_ char *s = json_dumps(index, JSON_INDENT(2) | JSON_SORT_KEYS);
	int r = write_file_atomic(path, s, strlen(s), 0644);

	if (r < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot write '%s': %s", path, strerror(-r));
	return 0;
}

/* index.json, or an empty index when there is none yet. */
static json_t *load_index(struct nua_error **err)
{
	_cleanup_free_ char *path = images_path("index.json");
	json_t *j;

	if (access(path, F_OK) < 0)
		return json_pack("{s:i, s:[]}", "schemaVersion", 2, "manifests");
	j = load_json_file(path, "'index.json' of the image store", NUA_EFAIL, err);
	if (j && !json_is_array(json_object_get(j, "manifests"))) {
		json_decref(j);
		nua_error_set(err, NUA_EFAIL, "'%s' has no manifests array", path);
		return NULL;
	}
	return j;
}

/* Drop the index entry named ref; true when there was one. */
static bool index_drop(json_t *index, const char *ref)
{
	json_t *ms = json_object_get(index, "manifests");
	bool found = false;

	for (size_t i = json_array_size(ms); i-- > 0;) {
		const char *name =
		    jstr(json_object_get(json_array_get(ms, i), "annotations"), ANN_REF);

		if (name && streq(name, ref)) {
			json_array_remove(ms, i);
			found = true;
		}
	}
	return found;
}

/* Record an image whose config blob is config (bytes) and whose manifest is
 * manifest (bytes, or NULL to make one over layers). Under the lock; all
 * layer blobs are in place. */
static int store_locked(struct state *st, const char *ref, const char *config, size_t config_len,
			const char *manifest, size_t manifest_len, const struct layer_desc *layers,
			size_t n, const char *nua_config, struct nua_error **err)
{
	_cleanup_free_ char *config_digest = NULL, *man_digest = NULL, *made = NULL;
	_cleanup_free_ char *id = NULL, *version = NULL;
	_cleanup_json_ json_t *index = NULL;
	const char *media = MT_OCI_MANIFEST;
	struct image_rec rec = {0};
	int64_t release, total = 0;

	if (!parse_ref(ref, &id, &version, &release))
		return nua_error_set(err, NUA_EINPUT,
				     "invalid image reference '%s': expected ID:VERSION-RELEASE",
				     ref);
	if (put_blob(config, config_len, &config_digest, err) < 0)
		return -1;
	if (!manifest) {
		_cleanup_json_ json_t *m = make_manifest(config_digest, config_len, layers, n);

		made = json_canonical(m);
		manifest = made;
		manifest_len = strlen(made);
	} else {
		_cleanup_json_ json_t *m = json_loadb(manifest, manifest_len, 0, NULL);

		if (jstr(m, "mediaType") && streq(jstr(m, "mediaType"), MT_DOCKER_MANIFEST))
			media = MT_DOCKER_MANIFEST;
	}
	if (put_blob(manifest, manifest_len, &man_digest, err) < 0)
		return -1;
	index = load_index(err);
	if (!index)
		return -1;
	index_drop(index, ref);
	json_array_append_new(json_object_get(index, "manifests"),
			      json_pack("{s:s, s:s, s:I, s:{s:s}}", "mediaType", media, "digest",
					man_digest, "size", (json_int_t)manifest_len, "annotations",
					ANN_REF, ref));
	if (write_index(index, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		total += layers[i].size;
	rec.ref = (char *)ref;
	rec.id = id;
	rec.version = version;
	rec.release = release;
	rec.digest = man_digest;
	rec.config = (char *)nua_config;
	rec.size = total;
	return state_image_put(st, &rec, err);
}

int image_store(struct state *st, const struct image_def *def, struct nua_error **err)
{
	_cleanup_json_ json_t *cfg = json_object(), *conf = NULL, *diff_ids = json_array();
	_cleanup_free_ char *config = NULL;
	_cleanup_close_ int lock = -1;
	struct layer_desc *layers = NULL;
	size_t n = 0, alloc = 0;
	int r = -1;

	if (!parse_ref(def->ref, NULL, NULL, NULL))
		return nua_error_set(err, NUA_EINPUT,
				     "invalid image reference '%s': expected ID:VERSION-RELEASE",
				     def->ref);
	for (const char *const *k = def->layers; k && *k; k++) {
		struct layer_desc l = {xstrdup(*k), NULL, 0};

		ALLOC_GROW(layers, n + 1, alloc);
		layers[n++] = l;
		if (!layer_exists(*k)) {
			nua_error_set(err, NUA_EFAIL, "image '%s': no layer '%s'", def->ref, *k);
			goto out;
		}
		if (layer_info(*k, &layers[n - 1].digest, &layers[n - 1].size, err) < 0)
			goto out;
		json_array_append_new(diff_ids, json_string(layers[n - 1].digest));
	}

	json_object_set_new(cfg, "Env", string_array(def->env));
	if (def->entrypoint)
		json_object_set_new(cfg, "Entrypoint", string_array(def->entrypoint));
	if (def->cmd)
		json_object_set_new(cfg, "Cmd", string_array(def->cmd));
	if (def->user)
		json_object_set_new(cfg, "User", json_string(def->user));
	if (def->workdir)
		json_object_set_new(cfg, "WorkingDir", json_string(def->workdir));
	if (def->ports && def->ports[0]) {
		json_t *ports = json_object();

		for (const int *p = def->ports; *p; p++) {
			char name[32];

			snprintf(name, sizeof(name), "%d/tcp", *p);
			json_object_set_new(ports, name, json_object());
		}
		json_object_set_new(cfg, "ExposedPorts", ports);
	}
	if (def->nua_config_json)
		json_object_set_new(cfg, "Labels",
				    json_pack("{s:s}", LABEL_CONFIG, def->nua_config_json));
	/* No "created": the same definition makes the same image digest. */
	conf = json_pack("{s:s, s:s, s:O, s:{s:s, s:O}}", "architecture", host_arch(), "os",
			 "linux", "config", cfg, "rootfs", "type", "layers", "diff_ids", diff_ids);
	config = json_canonical(conf);

	lock = store_lock(err);
	if (lock < 0)
		goto out;
	r = store_locked(st, def->ref, config, strlen(config), NULL, 0, layers, n,
			 def->nua_config_json, err);
out:
	layer_descs_free(layers, n);
	return r;
}

/* The manifest of ref, parsed, checked to name a config and layers. */
static int load_image_manifest(struct state *st, const char *ref, json_t **out,
			       struct nua_error **err)
{
	struct image_rec rec;
	json_t *m, *layers;

	*out = NULL;
	if (state_image_get(st, ref, &rec, err) < 0)
		return -1;
	if (!digest_hex(rec.digest)) {
		nua_error_set(err, NUA_EFAIL, "image '%s' has an invalid digest '%s'", ref,
			      rec.digest);
		image_rec_release(&rec);
		return -1;
	}
	m = load_blob_json(rec.digest, err);
	image_rec_release(&rec);
	if (!m)
		return nua_error_prefix(err, "image '%s'", ref);
	layers = json_object_get(m, "layers");
	if (!digest_hex(jstr(json_object_get(m, "config"), "digest")) || !json_is_array(layers)) {
		json_decref(m);
		return nua_error_set(err, NUA_EFAIL, "the manifest of image '%s' is damaged", ref);
	}
	for (size_t i = 0; i < json_array_size(layers); i++)
		if (!digest_hex(jstr(json_array_get(layers, i), "digest"))) {
			json_decref(m);
			return nua_error_set(err, NUA_EFAIL,
					     "the manifest of image '%s' is damaged", ref);
		}
	*out = m;
	return 0;
}

int image_layer_dirs(struct state *st, const char *ref, char ***dirs, size_t *n,
		     struct nua_error **err)
{
	_cleanup_json_ json_t *m = NULL;
	json_t *layers;
	char **v;
	size_t count;

	*dirs = NULL;
	*n = 0;
	if (load_image_manifest(st, ref, &m, err) < 0)
		return -1;
	layers = json_object_get(m, "layers");
	count = json_array_size(layers);
	v = xcalloc(count + 1, sizeof(*v));
	for (size_t i = 0; i < count; i++) {
		json_t *desc = json_array_get(layers, i);
		_cleanup_free_ char *key = resolve_layer_key(desc);

		if (!layer_has_digest(key, jstr(desc, "digest"))) {
			for (size_t j = 0; j < i; j++)
				free(v[j]);
			free(v);
			return nua_error_set(err, NUA_EFAIL, "image '%s': layer '%s' is missing",
					     ref, jstr(desc, "digest"));
		}
		v[i] = layer_file(key, "diff");
	}
	*dirs = v;
	*n = count;
	return 0;
}

int image_oci_config(struct state *st, const char *ref, void **config_json, struct nua_error **err)
{
	_cleanup_json_ json_t *m = NULL, *conf = NULL;
	json_t *c;

	*config_json = NULL;
	if (load_image_manifest(st, ref, &m, err) < 0)
		return -1;
	conf = load_blob_json(jstr(json_object_get(m, "config"), "digest"), err);
	if (!conf)
		return nua_error_prefix(err, "image '%s'", ref);
	c = json_object_get(conf, "config");
	*config_json = json_is_object(c) ? json_incref(c) : json_object();
	return 0;
}

/* ---- garbage collection ---- */

struct strset {
	char **v;
	size_t n, alloc;
	bool sorted;
};

static void strset_add(struct strset *s, const char *str)
{
	ALLOC_GROW(s->v, s->n + 1, s->alloc);
	s->v[s->n++] = xstrdup(str);
	s->sorted = false;
}

static bool strset_has(struct strset *s, const char *str)
{
	if (!s->n)
		return false;
	if (!s->sorted) {
		qsort(s->v, s->n, sizeof(*s->v), cmp_str);
		s->sorted = true;
	}
	return bsearch(&str, s->v, s->n, sizeof(*s->v), cmp_str);
}

static void strset_release(struct strset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
}

/* Mark what the manifest digest refers to. A missing or damaged manifest
 * marks only itself. */
static void mark_manifest(const char *digest, struct strset *blobs, struct strset *layers)
{
	_cleanup_json_ json_t *m = NULL;
	json_t *ls;
	const char *c;

	if (!digest_hex(digest))
		return;
	strset_add(blobs, digest);
	m = load_blob_json(digest, NULL);
	if (!m)
		return;
	c = jstr(json_object_get(m, "config"), "digest");
	if (digest_hex(c))
		strset_add(blobs, c);
	ls = json_object_get(m, "layers");
	for (size_t i = 0; i < json_array_size(ls); i++) {
		json_t *desc = json_array_get(ls, i);
		char *key;

		if (!digest_hex(jstr(desc, "digest")))
			continue;
		strset_add(blobs, jstr(desc, "digest"));
		key = resolve_layer_key(desc);
		strset_add(layers, key);
		free(key);
	}
}

static bool older_than(const char *path, time_t limit)
{
	struct stat sb;

	return lstat(path, &sb) == 0 && sb.st_mtime < limit;
}

/* Remove every blob and layer that neither index.json nor the state store
 * refers to, except layers younger than LAYER_GRACE (and their blobs).
 * Under the lock. Failures to remove are left for the next run. */
static int gc_locked(struct state *st, struct nua_error **err)
{
	struct strset blobs = {0}, layers = {0};
	_cleanup_json_ json_t *index = load_index(err);
	_cleanup_free_ char *ldir = nua_root_path("layers");
	_cleanup_free_ char *bdir = images_path("blobs/sha256");
	_cleanup_free_ char *tdir = images_path("tmp");
	time_t limit = time(NULL) - LAYER_GRACE;
	struct image_rec *recs = NULL;
	size_t nrec = 0;
	DIR *d;
	int r = -1;

	if (!index || state_image_list(st, &recs, &nrec, err) < 0)
		goto out;
	for (size_t i = 0; i < json_array_size(json_object_get(index, "manifests")); i++)
		mark_manifest(
		    jstr(json_array_get(json_object_get(index, "manifests"), i), "digest"), &blobs,
		    &layers);
	for (size_t i = 0; i < nrec; i++)
		mark_manifest(recs[i].digest, &blobs, &layers);

	d = opendir(ldir);
	for (struct dirent *de; d && (de = readdir(d));) {
		_cleanup_free_ char *path = xasprintf("%s/%s", ldir, de->d_name);
		_cleanup_free_ char *json = xasprintf("%s/layer.json", path);
		_cleanup_free_ char *digest = NULL;
		bool complete = access(json, F_OK) == 0;

		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		if (!valid_hex64(de->d_name)) {
			/* An import's scratch space left by a crash. */
			if (starts_with(de->d_name, ".import-") && older_than(path, limit))
				remove_tree(path);
			continue;
		}
		if (complete && layer_info(de->d_name, &digest, NULL, NULL) < 0)
			digest = NULL;
		if (strset_has(&layers, de->d_name) || !older_than(complete ? json : path, limit)) {
			if (digest)
				strset_add(&blobs, digest);
			continue;
		}
		/* Incomplete first, so that a crash midway leaves no layer that
		 * looks whole. */
		if (complete && unlink(json) < 0)
			continue;
		remove_tree(path);
	}
	if (d)
		closedir(d);

	d = opendir(bdir);
	for (struct dirent *de; d && (de = readdir(d));) {
		_cleanup_free_ char *digest = xasprintf("sha256:%s", de->d_name);
		_cleanup_free_ char *path = xasprintf("%s/%s", bdir, de->d_name);

		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		if (valid_hex64(de->d_name) && strset_has(&blobs, digest))
			continue;
		if (!valid_hex64(de->d_name) && !older_than(path, limit))
			continue; /* perhaps a write_file_atomic's .tmp under way */
		unlink(path);
	}
	if (d)
		closedir(d);

	d = opendir(tdir);
	for (struct dirent *de; d && (de = readdir(d));) {
		_cleanup_free_ char *path = xasprintf("%s/%s", tdir, de->d_name);

		if (!streq(de->d_name, ".") && !streq(de->d_name, "..") && older_than(path, limit))
			remove_tree(path);
	}
	if (d)
		closedir(d);
	r = 0;
out:
	image_rec_list_free(recs, nrec);
	strset_release(&blobs);
	strset_release(&layers);
	return r;
}

int image_remove(struct state *st, const char *ref, struct nua_error **err)
{
	_cleanup_close_ int lock = -1;
	_cleanup_json_ json_t *index = NULL;
	struct image_rec rec;

	if (state_image_get(st, ref, &rec, err) < 0)
		return -1;
	image_rec_release(&rec);
	lock = store_lock(err);
	if (lock < 0)
		return -1;
	/* The state store refuses while an instance uses the image. */
	if (state_image_remove(st, ref, err) < 0)
		return -1;
	index = load_index(err);
	if (!index)
		return -1;
	if (index_drop(index, ref) && write_index(index, err) < 0)
		return -1;
	return gc_locked(st, err);
}

/* ---- export ---- */

static int aw_error(struct archive *a, const char *path, struct nua_error **err)
{
	return nua_error_set(err, NUA_EFAIL, "cannot write '%s': %s", path,
			     archive_error_string(a));
}

static struct archive_entry *aw_entry(const char *name, mode_t mode, int64_t size)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_set_pathname(e, name);
	archive_entry_set_mode(e, mode);
	archive_entry_set_size(e, size);
	archive_entry_set_mtime(e, 0, 0);
	return e;
}

static int aw_dir(struct archive *a, const char *name, const char *path, struct nua_error **err)
{
	struct archive_entry *e = aw_entry(name, S_IFDIR | 0755, 0);
	int r = archive_write_header(a, e);

	archive_entry_free(e);
	return r < ARCHIVE_WARN ? aw_error(a, path, err) : 0;
}

static int aw_data(struct archive *a, const char *name, const char *data, size_t len,
		   const char *path, struct nua_error **err)
{
	struct archive_entry *e = aw_entry(name, S_IFREG | 0644, (int64_t)len);
	int r = archive_write_header(a, e);

	archive_entry_free(e);
	if (r < ARCHIVE_WARN || (len && archive_write_data(a, data, len) != (la_ssize_t)len))
		return aw_error(a, path, err);
	return 0;
}

static int aw_json(struct archive *a, const char *name, const json_t *j, const char *path,
		   struct nua_error **err)
{
	_cleanup_free_ char *s = json_canonical(j);

	return aw_data(a, name, s, strlen(s), path, err);
}

static int aw_blob(struct archive *a, const char *digest, const char *path, struct nua_error **err)
{
	_cleanup_free_ char *src = blob_path(digest);
	_cleanup_free_ char *name = xasprintf("blobs/sha256/%s", digest_hex(digest));
	_cleanup_close_ int fd = open(src, O_RDONLY | O_CLOEXEC);
	struct archive_entry *e;
	char buf[65536];
	struct stat sb;
	off_t done = 0;
	int r;

	if (fd < 0 || fstat(fd, &sb) < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot read blob '%s': %s", digest,
				     strerror(errno));
	e = aw_entry(name, S_IFREG | 0644, sb.st_size);
	r = archive_write_header(a, e);
	archive_entry_free(e);
	if (r < ARCHIVE_WARN)
		return aw_error(a, path, err);
	while (done < sb.st_size) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return nua_error_set(err, NUA_EFAIL, "cannot read blob '%s': %s", digest,
					     n < 0 ? strerror(errno) : "it shrank");
		if (archive_write_data(a, buf, (size_t)n) != n)
			return aw_error(a, path, err);
		done += n;
	}
	return 0;
}

int image_export(struct state *st, const char *ref, const char *path, struct nua_error **err)
{
	_cleanup_json_ json_t *m = NULL, *index = NULL, *docker = NULL, *repos = NULL;
	_cleanup_free_ char *tmp = xasprintf("%s.tmp", path);
	_cleanup_free_ char *id = NULL, *version = NULL;
	_cleanup_archive_write_ struct archive *a = NULL;
	struct strset done = {0};
	struct image_rec rec = {0};
	json_t *layers, *dlayers = json_array();
	const char *config;
	int64_t release;
	int fd = -1, r = -1;

	if (load_image_manifest(st, ref, &m, err) < 0 || state_image_get(st, ref, &rec, err) < 0) {
		json_decref(dlayers);
		return -1;
	}
	parse_ref(ref, &id, &version, &release);
	config = jstr(json_object_get(m, "config"), "digest");
	layers = json_object_get(m, "layers");
	for (size_t i = 0; i < json_array_size(layers); i++)
		json_array_append_new(
		    dlayers, json_sprintf("blobs/sha256/%s",
					  digest_hex(jstr(json_array_get(layers, i), "digest"))));
	{
		_cleanup_free_ char *man_path = blob_path(rec.digest);
		struct stat sb;

		if (stat(man_path, &sb) < 0) {
			nua_error_set(err, NUA_EFAIL, "cannot read blob '%s': %s", rec.digest,
				      strerror(errno));
			json_decref(dlayers);
			goto out;
		}
		index = json_pack("{s:i, s:[{s:s, s:s, s:I, s:{s:s}}]}", "schemaVersion", 2,
				  "manifests", "mediaType",
				  jstr(m, "mediaType") ? jstr(m, "mediaType") : MT_OCI_MANIFEST,
				  "digest", rec.digest, "size", (json_int_t)sb.st_size,
				  "annotations", ANN_REF, ref);
	}
	docker = json_pack("[{s:s+, s:[s], s:o}]", "Config", "blobs/sha256/", digest_hex(config),
			   "RepoTags", ref, "Layers", dlayers);
	{
		_cleanup_free_ char *tag = xasprintf("%s-%lld", version, (long long)release);

		repos = json_pack("{s:{s:s}}", id, tag, digest_hex(config));
	}

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		nua_error_set(err, NUA_EFAIL, "cannot create '%s': %s", tmp, strerror(errno));
		goto out;
	}
	a = archive_write_new();
	if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_open_fd(a, fd) != ARCHIVE_OK) {
		aw_error(a, tmp, err);
		goto out;
	}
	if (aw_data(a, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 30, tmp, err) < 0 ||
	    aw_json(a, "index.json", index, tmp, err) < 0 ||
	    aw_json(a, "manifest.json", docker, tmp, err) < 0 ||
	    aw_json(a, "repositories", repos, tmp, err) < 0 || aw_dir(a, "blobs", tmp, err) < 0 ||
	    aw_dir(a, "blobs/sha256", tmp, err) < 0)
		goto out;
	strset_add(&done, rec.digest);
	if (aw_blob(a, rec.digest, tmp, err) < 0)
		goto out;
	if (!strset_has(&done, config)) {
		strset_add(&done, config);
		if (aw_blob(a, config, tmp, err) < 0)
			goto out;
	}
	for (size_t i = 0; i < json_array_size(layers); i++) {
		const char *d = jstr(json_array_get(layers, i), "digest");

		if (strset_has(&done, d))
			continue;
		strset_add(&done, d);
		if (aw_blob(a, d, tmp, err) < 0)
			goto out;
	}
	if (archive_write_close(a) != ARCHIVE_OK) {
		aw_error(a, tmp, err);
		goto out;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		fd = -1;
		nua_error_set(err, NUA_EFAIL, "cannot write '%s': %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		nua_error_set(err, NUA_EFAIL, "cannot rename '%s' to '%s': %s", tmp, path,
			      strerror(errno));
		goto out;
	}
	fsync_parent(path);
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	if (r < 0)
		unlink(tmp);
	strset_release(&done);
	image_rec_release(&rec);
	return r;
}

/* ---- paths inside archives ---- */

/* Normalise an archive member's name into out: no "." or empty components,
 * no leading "./" nor trailing "/". ".." pops a component when dotdot,
 * and is refused otherwise; an absolute name is refused. "" is the top. */
static int clean_path(const char *in, bool dotdot, struct strbuf *out)
{
	const char *p = in;

	strbuf_reset(out);
	if (*in == '/')
		return -1;
	while (*p) {
		size_t len = strcspn(p, "/");

		if ((len == 1 && p[0] == '.') || len == 0) {
			/* nothing */
		} else if (len == 2 && p[0] == '.' && p[1] == '.') {
			char *slash;

			if (!dotdot || out->len == 0)
				return -1;
			slash = strrchr(out->buf, '/');
			strbuf_setlen(out, slash ? (size_t)(slash - out->buf) : 0);
		} else {
			if (out->len)
				strbuf_addch(out, '/');
			strbuf_add(out, p, len);
		}
		p += len;
		if (*p == '/')
			p++;
	}
	return 0;
}

/* Open the directory holding the last component of rel (clean), below
 * rootfd, never through a symbolic link; create missing directories when
 * create. *base points at the last component. Returns an fd or -errno. */
static int open_parent(int rootfd, const char *rel, bool create, const char **base)
{
	_cleanup_free_ char *copy = xstrdup(rel);
	char *p = copy, *slash;
	int fd = dup(rootfd);

	if (fd < 0)
		return -errno;
	while ((slash = strchr(p, '/'))) {
		int next;

		*slash = '\0';
		next = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && create) {
			if (mkdirat(fd, p, 0755) < 0 && errno != EEXIST) {
				int e = errno;

				close(fd);
				return -e;
			}
			next = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (next < 0) {
			int e = errno;

			close(fd);
			return -e;
		}
		close(fd);
		fd = next;
		p = slash + 1;
	}
	*base = rel + (p - copy);
	return fd;
}

/* ---- unpacking a layer ---- */

struct dir_time {
	char *rel;
	struct timespec mtime;
};

struct unpacker {
	int rootfd;
	const char *what; /* "layer sha256:..." for messages */
	struct dir_time *dirs;
	size_t n_dirs, alloc_dirs;
};

static int bad_entry(struct unpacker *u, const char *name, const char *why, struct nua_error **err)
{
	return nua_error_set(err, NUA_EINPUT, "%s: entry '%s' %s", u->what, name, why);
}

static int set_xattrs_fd(int fd, struct archive_entry *e, const char *name, struct nua_error **err)
{
	const char *xname;
	const void *value;
	size_t size;

	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &xname, &value, &size) == ARCHIVE_OK) {
		/* overlayfs's own attributes come only from whiteout entries. */
		if (starts_with(xname, OVERLAY_XATTR))
			continue;
		if (fsetxattr(fd, xname, value, size, 0) < 0)
			return nua_error_set(err, NUA_EFAIL, "cannot set xattr '%s' on '%s': %s",
					     xname, name, strerror(errno));
	}
	return 0;
}

static int set_meta_at(int dirfd, const char *base, struct archive_entry *e, bool chmod_too,
		       const char *name, struct nua_error **err)
{
	struct timespec ts[2] = {{0, UTIME_OMIT}, {archive_entry_mtime(e), 0}};

	if (fchownat(dirfd, base, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e),
		     AT_SYMLINK_NOFOLLOW) < 0 ||
	    (chmod_too && fchmodat(dirfd, base, archive_entry_perm(e), 0) < 0) ||
	    utimensat(dirfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return nua_error_set(err, NUA_EFAIL,
				     "cannot set the owner, mode or time of '%s': %s", name,
				     strerror(errno));
	return 0;
}

static int unpack_file(struct unpacker *u, struct archive *a, struct archive_entry *e, int dirfd,
		       const char *base, const char *name, struct nua_error **err)
{
	_cleanup_close_ int fd =
	    openat(dirfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	struct timespec ts[2] = {{0, UTIME_OMIT}, {archive_entry_mtime(e), 0}};
	const void *buf;
	size_t len;
	la_int64_t off;
	int r;

	if (fd < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot create '%s': %s", name,
				     strerror(errno));
	while ((r = archive_read_data_block(a, &buf, &len, &off)) == ARCHIVE_OK) {
		const char *p = buf;

		while (len > 0) {
			ssize_t n = pwrite(fd, p, len, off);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return nua_error_set(err, NUA_EFAIL, "cannot write '%s': %s", name,
						     strerror(errno));
			p += n;
			len -= (size_t)n;
			off += n;
		}
	}
	if (r != ARCHIVE_EOF)
		return nua_error_set(err, NUA_EINPUT, "%s: cannot read '%s': %s", u->what, name,
				     archive_error_string(a));
	/* Sparse files end in a hole. */
	if (ftruncate(fd, archive_entry_size(e)) < 0 ||
	    fchown(fd, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e)) < 0 ||
	    fchmod(fd, archive_entry_perm(e)) < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot set the owner or mode of '%s': %s",
				     name, strerror(errno));
	if (set_xattrs_fd(fd, e, name, err) < 0)
		return -1;
	if (futimens(fd, ts) < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot set the time of '%s': %s", name,
				     strerror(errno));
	return 0;
}

static int unpack_dir(struct unpacker *u, struct archive_entry *e, int dirfd, const char *base,
		      const char *name, struct nua_error **err)
{
	_cleanup_close_ int fd = -1;
	struct dir_time dt;

	if (mkdirat(dirfd, base, 0700) < 0 && errno != EEXIST)
		return nua_error_set(err, NUA_EFAIL, "cannot create '%s': %s", name,
				     strerror(errno));
	fd = openat(dirfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot open '%s': %s", name, strerror(errno));
	if (fchown(fd, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e)) < 0 ||
	    fchmod(fd, archive_entry_perm(e)) < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot set the owner or mode of '%s': %s",
				     name, strerror(errno));
	if (set_xattrs_fd(fd, e, name, err) < 0)
		return -1;
	/* Its time is set at the end, once its entries are in. */
	dt.rel = xstrdup(name);
	dt.mtime = (struct timespec){archive_entry_mtime(e), 0};
	ALLOC_GROW(u->dirs, u->n_dirs + 1, u->alloc_dirs);
	u->dirs[u->n_dirs++] = dt;
	return 0;
}

/* A whiteout entry in OCI form becomes its overlay form. */
static int unpack_whiteout(struct unpacker *u, struct archive_entry *e, int dirfd, const char *base,
			   const char *name, struct nua_error **err)
{
	const char *target = base + strlen(WH_PREFIX);

	if (streq(base, WH_OPAQUE)) {
		if (fsetxattr(dirfd, OPAQUE_XATTR, "y", 1, 0) < 0)
			return nua_error_set(err, NUA_EFAIL, "cannot mark '%s' opaque: %s", name,
					     strerror(errno));
		return 0;
	}
	if (starts_with(base, WH_PREFIX WH_PREFIX))
		return 0; /* aufs bookkeeping, meaningless here */
	if (!*target || streq(target, ".") || streq(target, "..") || strchr(target, '/'))
		return bad_entry(u, name, "is not a valid whiteout", err);
	if (mknodat(dirfd, target, S_IFCHR | archive_entry_perm(e), makedev(0, 0)) < 0) {
		if (errno == EEXIST)
			return bad_entry(u, name, "deletes a path the same layer holds", err);
		return nua_error_set(err, NUA_EFAIL, "cannot make the whiteout for '%s': %s", name,
				     strerror(errno));
	}
	return set_meta_at(dirfd, target, e, false, name, err);
}

static int unpack_entry(struct unpacker *u, struct archive *a, struct archive_entry *e,
			struct nua_error **err)
{
	const char *raw = archive_entry_pathname(e) ? archive_entry_pathname(e) : "";
	const char *link = archive_entry_hardlink(e);
	_cleanup_strbuf_ struct strbuf rel = STRBUF_INIT;
	_cleanup_close_ int dirfd = -1;
	mode_t type = archive_entry_filetype(e);
	const char *base;
	struct stat old;

	if (clean_path(raw, false, &rel) < 0)
		return bad_entry(u, raw, "is absolute or goes up with '..'", err);
	if (!rel.len)
		return 0; /* the top directory: the layer's own */
	dirfd = open_parent(u->rootfd, rel.buf, true, &base);
	if (dirfd < 0) {
		if (dirfd == -ELOOP || dirfd == -ENOTDIR)
			return bad_entry(u, raw, "lies beyond a symbolic link or a file", err);
		return nua_error_set(err, NUA_EFAIL, "%s: cannot make the directory of '%s': %s",
				     u->what, raw, strerror(-dirfd));
	}
	if (starts_with(base, WH_PREFIX))
		return unpack_whiteout(u, e, dirfd, base, rel.buf, err);

	if (fstatat(dirfd, base, &old, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!(S_ISDIR(old.st_mode) && type == AE_IFDIR && !link)) {
			if (S_ISDIR(old.st_mode))
				return bad_entry(u, raw, "replaces a directory", err);
			if (unlinkat(dirfd, base, 0) < 0)
				return nua_error_set(err, NUA_EFAIL, "cannot replace '%s': %s",
						     rel.buf, strerror(errno));
		}
	}
	if (link) {
		_cleanup_strbuf_ struct strbuf target = STRBUF_INIT;
		_cleanup_close_ int tfd = -1;
		const char *tbase;

		if (clean_path(link, false, &target) < 0 || !target.len)
			return bad_entry(u, raw, "is a hard link leaving the layer", err);
		tfd = open_parent(u->rootfd, target.buf, false, &tbase);
		if (tfd < 0 || linkat(tfd, tbase, dirfd, base, 0) < 0)
			return bad_entry(u, raw, "is a hard link to a missing file", err);
		return 0;
	}
	switch (type) {
	case AE_IFREG:
		return unpack_file(u, a, e, dirfd, base, rel.buf, err);
	case AE_IFDIR:
		return unpack_dir(u, e, dirfd, base, rel.buf, err);
	case AE_IFLNK: {
		const char *target = archive_entry_symlink(e);

		if (!target || !*target)
			return bad_entry(u, raw, "is a symbolic link to nothing", err);
		if (symlinkat(target, dirfd, base) < 0)
			return nua_error_set(err, NUA_EFAIL, "cannot create '%s': %s", rel.buf,
					     strerror(errno));
		return set_meta_at(dirfd, base, e, false, rel.buf, err);
	}
	case AE_IFCHR:
	case AE_IFBLK:
	case AE_IFIFO:
		if (mknodat(dirfd, base, type | archive_entry_perm(e), archive_entry_rdev(e)) < 0)
			return nua_error_set(err, NUA_EFAIL, "cannot create '%s': %s", rel.buf,
					     strerror(errno));
		return set_meta_at(dirfd, base, e, true, rel.buf, err);
	default:
		return 0; /* sockets and the like carry no content */
	}
}

/* Unpack the uncompressed layer tar at path into the empty directory dest. */
static int unpack_layer(const char *path, const char *dest, const char *what,
			struct nua_error **err)
{
	_cleanup_archive_read_ struct archive *a = archive_read_new();
	struct unpacker u = {-1, what, NULL, 0, 0};
	struct archive_entry *e;
	int r = -1, ar;

	u.rootfd = open(dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (u.rootfd < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot open '%s': %s", dest, strerror(errno));
	if (fchmod(u.rootfd, 0755) < 0) {
		nua_error_set(err, NUA_EFAIL, "cannot chmod '%s': %s", dest, strerror(errno));
		goto out;
	}
	archive_read_support_format_tar(a);
	archive_read_support_format_empty(a);
	if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK) {
		nua_error_set(err, NUA_EINPUT, "%s: %s", what, archive_error_string(a));
		goto out;
	}
	while ((ar = archive_read_next_header(a, &e)) == ARCHIVE_OK || ar == ARCHIVE_WARN)
		if (unpack_entry(&u, a, e, err) < 0)
			goto out;
	if (ar != ARCHIVE_EOF) {
		nua_error_set(err, NUA_EINPUT, "%s: %s", what, archive_error_string(a));
		goto out;
	}
	for (size_t i = u.n_dirs; i-- > 0;) {
		struct timespec ts[2] = {{0, UTIME_OMIT}, u.dirs[i].mtime};
		const char *base;
		int fd = open_parent(u.rootfd, u.dirs[i].rel, false, &base);

		if (fd >= 0) {
			utimensat(fd, base, ts, AT_SYMLINK_NOFOLLOW);
			close(fd);
		}
	}
	r = 0;
out:
	for (size_t i = 0; i < u.n_dirs; i++)
		free(u.dirs[i].rel);
	free(u.dirs);
	close(u.rootfd);
	return r;
}

/* ---- import ---- */

struct link_member {
	char *name;
	char *target;
	bool symlink; /* else a hard link */
};

struct import_layer {
	char *digest; /* of the uncompressed tar: the diff_id */
	char *file;   /* the uncompressed tar, on disk */
	int64_t size;
	char *key;	/* where it lives or will */
	char *unpacked; /* a directory under the scratch space, or NULL */
};

struct importer {
	char *dir; /* the outer archive, unpacked: images/tmp/import-XXXXXX */
	int dirfd;
	char *ldir; /* scratch space for layers: layers/.import-XXXXXX */
	const char *archive;
	struct link_member *links;
	size_t n_links, alloc_links;
	struct import_layer *layers;
	size_t n_layers;
	size_t n_tmp; /* files made (decompressed layers) */
};

static int damaged(struct importer *im, struct nua_error **err, const char *fmt, ...) PRINTF(3, 4);

static int damaged(struct importer *im, struct nua_error **err, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;
	int r;

	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	r = nua_error_set(err, NUA_EINPUT, "'%s' is not a usable image archive: %s", im->archive,
			  sb.buf);
	strbuf_release(&sb);
	return r;
}

/* Unpack the regular files of the outer archive; record its links. */
static int extract_outer(struct importer *im, struct nua_error **err)
{
	_cleanup_archive_read_ struct archive *a = archive_read_new();
	_cleanup_strbuf_ struct strbuf rel = STRBUF_INIT;
	struct archive_entry *e;
	int ar;

	archive_read_support_format_tar(a);
	archive_read_support_filter_all(a);
	if (archive_read_open_filename(a, im->archive, 65536) != ARCHIVE_OK) {
		if (archive_errno(a) == ENOENT)
			return nua_error_set(err, NUA_EINPUT, "cannot read '%s': %s", im->archive,
					     strerror(ENOENT));
		return damaged(im, err, "%s", archive_error_string(a));
	}
	while ((ar = archive_read_next_header(a, &e)) == ARCHIVE_OK || ar == ARCHIVE_WARN) {
		const char *raw = archive_entry_pathname(e) ? archive_entry_pathname(e) : "";
		const char *hard = archive_entry_hardlink(e), *base;
		_cleanup_close_ int dirfd = -1, fd = -1;
		char buf[65536];
		ssize_t n;

		if (clean_path(raw, false, &rel) < 0)
			return damaged(im, err, "entry '%s' is absolute or goes up with '..'", raw);
		if (!rel.len)
			continue;
		if (hard || archive_entry_filetype(e) == AE_IFLNK) {
			const char *t = hard ? hard : archive_entry_symlink(e);
			struct link_member l = {xstrdup(rel.buf), xstrdup(t ? t : ""), !hard};

			ALLOC_GROW(im->links, im->n_links + 1, im->alloc_links);
			im->links[im->n_links++] = l;
			continue;
		}
		if (archive_entry_filetype(e) != AE_IFREG && archive_entry_filetype(e) != AE_IFDIR)
			continue;
		dirfd = open_parent(im->dirfd, rel.buf, true, &base);
		if (dirfd < 0)
			return damaged(im, err, "entry '%s' lies under a file", raw);
		if (archive_entry_filetype(e) == AE_IFDIR) {
			if (mkdirat(dirfd, base, 0700) < 0 && errno != EEXIST)
				return nua_error_set(err, NUA_EFAIL, "cannot create '%s/%s': %s",
						     im->dir, rel.buf, strerror(errno));
			continue;
		}
		fd = openat(dirfd, base, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
			    0600);
		if (fd < 0)
			return damaged(im, err, "entry '%s' cannot be unpacked: %s", raw,
				       strerror(errno));
		while ((n = archive_read_data(a, buf, sizeof(buf))) > 0) {
			const char *p = buf;

			while (n > 0) {
				ssize_t w = write(fd, p, (size_t)n);

				if (w < 0 && errno == EINTR)
					continue;
				if (w < 0)
					return nua_error_set(err, NUA_EFAIL,
							     "cannot write '%s/%s': %s", im->dir,
							     rel.buf, strerror(errno));
				p += w;
				n -= w;
			}
		}
		if (n < 0)
			return damaged(im, err, "%s", archive_error_string(a));
	}
	if (ar != ARCHIVE_EOF)
		return damaged(im, err, "%s", archive_error_string(a));
	return 0;
}

/* The file on disk for member name, following the archive's links without
 * leaving it. Caller frees; NULL (error set) when there is none. */
static char *member_path(struct importer *im, const char *name, struct nua_error **err)
{
	_cleanup_strbuf_ struct strbuf cur = STRBUF_INIT, next = STRBUF_INIT;
	struct stat sb;

	if (clean_path(name, false, &cur) < 0 || !cur.len) {
		damaged(im, err, "it names '%s', outside the archive", name);
		return NULL;
	}
	for (int hops = 0;; hops++) {
		size_t i;

		for (i = 0; i < im->n_links; i++)
			if (streq(im->links[i].name, cur.buf))
				break;
		if (i == im->n_links)
			break;
		if (hops > 16) {
			damaged(im, err, "'%s' is a loop of links", name);
			return NULL;
		}
		if (im->links[i].symlink) {
			const char *slash = strrchr(cur.buf, '/');
			_cleanup_free_ char *joined = NULL;

			if (im->links[i].target[0] == '/') {
				damaged(im, err, "'%s' links outside the archive", name);
				return NULL;
			}
			joined = xasprintf("%.*s%s%s", slash ? (int)(slash - cur.buf) : 0, cur.buf,
					   slash ? "/" : "", im->links[i].target);
			if (clean_path(joined, true, &next) < 0 || !next.len) {
				damaged(im, err, "'%s' links outside the archive", name);
				return NULL;
			}
		} else if (clean_path(im->links[i].target, false, &next) < 0 || !next.len) {
			damaged(im, err, "'%s' links outside the archive", name);
			return NULL;
		}
		strbuf_reset(&cur);
		strbuf_addstr(&cur, next.buf);
	}
	char *path = xasprintf("%s/%s", im->dir, cur.buf);
	/* Only regular files and directories were made: no link on disk. */
	if (lstat(path, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		damaged(im, err, "it lacks '%s'", name);
		free(path);
		return NULL;
	}
	return path;
}

static bool member_exists(struct importer *im, const char *name)
{
	char *p = member_path(im, name, NULL);

	free(p);
	return p != NULL;
}

static json_t *member_json(struct importer *im, const char *name, struct nua_error **err)
{
	_cleanup_free_ char *path = member_path(im, name, err);
	_cleanup_free_ char *what = xasprintf("'%s' in '%s'", name, im->archive);

	return path ? load_json_file(path, what, NUA_EINPUT, err) : NULL;
}

/* The blob of descriptor desc, checked against its digest (and size when
 * given). Caller frees the path. */
static char *verified_blob(struct importer *im, const json_t *desc, struct nua_error **err)
{
	const char *digest = jstr(desc, "digest");
	_cleanup_free_ char *name = NULL, *got = NULL;
	char *path;
	int64_t size;
	int r;

	if (!digest_hex(digest)) {
		damaged(im, err, "unsupported digest '%s'", digest ? digest : "");
		return NULL;
	}
	name = xasprintf("blobs/sha256/%s", digest_hex(digest));
	path = member_path(im, name, err);
	if (!path)
		return NULL;
	r = hash_file(path, &got, &size);
	if (r < 0) {
		nua_error_set(err, NUA_EFAIL, "cannot read '%s': %s", path, strerror(-r));
	} else if (!streq(got, digest)) {
		damaged(im, err, "blob '%s' has digest '%s'", digest, got);
	} else if (json_is_integer(json_object_get(desc, "size")) &&
		   json_integer_value(json_object_get(desc, "size")) != size) {
		damaged(im, err, "blob '%s' is %lld bytes, not %lld", digest, (long long)size,
			(long long)json_integer_value(json_object_get(desc, "size")));
	} else {
		return path;
	}
	free(path);
	return NULL;
}

static json_t *verified_json(struct importer *im, const json_t *desc, struct nua_error **err)
{
	_cleanup_free_ char *path = verified_blob(im, desc, err);
	_cleanup_free_ char *what = NULL;

	if (!path)
		return NULL;
	what = xasprintf("blob '%s' in '%s'", jstr(desc, "digest"), im->archive);
	return load_json_file(path, what, NUA_EINPUT, err);
}

/* Decompress the compressed layer at path to a new file; its digest. */
static int decompress(struct importer *im, const char *path, char **out, char **digest,
		      int64_t *size, struct nua_error **err)
{
	_cleanup_archive_read_ struct archive *a = archive_read_new();
	_cleanup_close_ int fd = -1;
	struct archive_entry *e;
	struct tar_sink sink;
	char buf[65536];
	la_ssize_t n;

	*out = xasprintf("%s/layer-%zu.tar", im->dir, im->n_tmp++);
	fd = open(*out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot create '%s': %s", *out,
				     strerror(errno));
	sink.fd = fd;
	hasher_init(&sink.h);
	archive_read_support_filter_all(a);
	archive_read_support_format_raw(a);
	if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK ||
	    archive_read_next_header(a, &e) != ARCHIVE_OK)
		return damaged(im, err, "a layer does not decompress: %s", archive_error_string(a));
	while ((n = archive_read_data(a, buf, sizeof(buf))) > 0)
		if (sink_write(a, &sink, buf, (size_t)n) < 0)
			return nua_error_set(err, NUA_EFAIL, "cannot write '%s': %s", *out,
					     strerror(errno));
	if (n < 0)
		return damaged(im, err, "a layer does not decompress: %s", archive_error_string(a));
	*digest = hasher_digest(&sink.h);
	*size = (int64_t)sink.h.size;
	return 0;
}

static void add_layer(struct importer *im, char *digest, char *file, int64_t size)
{
	im->layers = xrealloc(im->layers, (im->n_layers + 1) * sizeof(*im->layers));
	im->layers[im->n_layers++] = (struct import_layer){digest, file, size, NULL, NULL};
}

/* Pick the one image manifest descriptor of an index (nested indexes
 * followed, this machine's platform preferred). */
static int pick_manifest(struct importer *im, const json_t *index, int depth, json_t **out,
			 struct nua_error **err)
{
	json_t *ms = json_object_get(index, "manifests");
	json_t *found = NULL;
	size_t count = 0;

	if (!json_is_array(ms))
		return damaged(im, err, "an index has no manifests");
	for (size_t i = 0; i < json_array_size(ms); i++) {
		json_t *d = json_array_get(ms, i), *plat = json_object_get(d, "platform");
		const char *mt = jstr(d, "mediaType");

		if (plat && ((jstr(plat, "architecture") &&
			      !streq(jstr(plat, "architecture"), host_arch())) ||
			     (jstr(plat, "os") && !streq(jstr(plat, "os"), "linux"))))
			continue;
		if (mt && (streq(mt, MT_OCI_INDEX) || streq(mt, MT_DOCKER_LIST))) {
			_cleanup_json_ json_t *sub = NULL;
			json_t *picked = NULL;

			if (depth > 4)
				return damaged(im, err, "indexes nest too deep");
			sub = verified_json(im, d, err);
			if (!sub || pick_manifest(im, sub, depth + 1, &picked, err) < 0)
				return -1;
			/* Names from the outer descriptor apply to what it holds. */
			if (!json_object_get(picked, "annotations") &&
			    json_object_get(d, "annotations"))
				json_object_set(picked, "annotations",
						json_object_get(d, "annotations"));
			json_decref(found);
			found = picked;
			count++;
		} else if (!mt || streq(mt, MT_OCI_MANIFEST) || streq(mt, MT_DOCKER_MANIFEST)) {
			json_decref(found);
			found = json_deep_copy(d);
			count++;
		}
	}
	if (count != 1) {
		json_decref(found);
		if (count == 0)
			return damaged(im, err, "it holds no image for linux/%s", host_arch());
		return damaged(im, err, "it holds %zu images; import one at a time", count);
	}
	*out = found;
	return 0;
}

static char *name_from_annotations(const json_t *desc)
{
	json_t *ann = json_object_get(desc, "annotations");
	const char *n = jstr(ann, ANN_REF);

	/* A bare tag in ref.name says nothing of the image's name. */
	if (n && strchr(n, ':'))
		return normalize_ref(n);
	n = jstr(ann, ANN_CONTAINERD_NAME);
	return n ? normalize_ref(n) : NULL;
}

/* The OCI layout: index.json, its manifest, config and layers. */
static int read_oci(struct importer *im, char **config_path, char **manifest, size_t *man_len,
		    char **ref, struct nua_error **err)
{
	_cleanup_json_ json_t *index = member_json(im, "index.json", err);
	_cleanup_json_ json_t *desc = NULL, *m = NULL;
	_cleanup_free_ char *mpath = NULL;
	json_t *layers;
	bool verbatim = true;

	if (!index || pick_manifest(im, index, 0, &desc, err) < 0)
		return -1;
	*ref = name_from_annotations(desc);
	mpath = verified_blob(im, desc, err);
	if (!mpath)
		return -1;
	m = load_json_file(mpath, "the image manifest", NUA_EINPUT, err);
	if (!m)
		return -1;
	layers = json_object_get(m, "layers");
	if (!json_is_object(json_object_get(m, "config")) || !json_is_array(layers))
		return damaged(im, err, "its manifest lacks a config or layers");
	*config_path = verified_blob(im, json_object_get(m, "config"), err);
	if (!*config_path)
		return -1;
	for (size_t i = 0; i < json_array_size(layers); i++) {
		json_t *l = json_array_get(layers, i);
		const char *mt = jstr(l, "mediaType") ? jstr(l, "mediaType") : MT_OCI_LAYER;
		char *path = verified_blob(im, l, err), *file = NULL, *digest = NULL;
		int64_t size;

		if (!path)
			return -1;
		if (streq(mt, MT_OCI_LAYER) || streq(mt, MT_DOCKER_LAYER) ||
		    streq(mt, "application/vnd.oci.image.layer.nondistributable.v1.tar")) {
			file = path;
			digest = xstrdup(jstr(l, "digest"));
			size = json_integer_value(json_object_get(l, "size"));
			if (!size) {
				struct stat sb;

				size = stat(path, &sb) == 0 ? sb.st_size : 0;
			}
		} else if (ends_with(mt, "+gzip") || ends_with(mt, "+zstd") ||
			   ends_with(mt, ".tar.gzip")) {
			int r = decompress(im, path, &file, &digest, &size, err);

			free(path);
			if (r < 0) {
				free(file);
				return -1;
			}
			verbatim = false;
		} else {
			free(path);
			return damaged(im, err, "layer media type '%s' is not supported", mt);
		}
		add_layer(im, digest, file, size);
		/* The key a layer built here had; checked before any use. */
		im->layers[im->n_layers - 1].key =
		    xstrdup(jstr(json_object_get(l, "annotations"), ANN_LAYER)
				? jstr(json_object_get(l, "annotations"), ANN_LAYER)
				: "");
	}
	if (verbatim) {
		size_t len;

		if (read_file(mpath, manifest, &len) < 0)
			return nua_error_set(err, NUA_EFAIL, "cannot read '%s'", mpath);
		*man_len = len;
	}
	return 0;
}

/* The docker-archive layout: manifest.json naming the config and layer
 * files. */
static int read_docker(struct importer *im, char **config_path, char **ref, struct nua_error **err)
{
	_cleanup_json_ json_t *dm = member_json(im, "manifest.json", err);
	_cleanup_free_ char *cpath = NULL, *cdigest = NULL;
	json_t *entry, *layers;
	const char *cname;
	int64_t csize;
	int r;

	if (!dm)
		return -1;
	if (!json_is_array(dm) || json_array_size(dm) != 1)
		return damaged(im, err, "manifest.json lists %zu images; import one at a time",
			       json_array_size(dm));
	entry = json_array_get(dm, 0);
	cname = jstr(entry, "Config");
	layers = json_object_get(entry, "Layers");
	if (!cname || !json_is_array(layers))
		return damaged(im, err, "manifest.json lacks Config or Layers");
	cpath = member_path(im, cname, err);
	if (!cpath)
		return -1;
	r = hash_file(cpath, &cdigest, &csize);
	if (r < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot read '%s': %s", cpath, strerror(-r));
	{
		/* docker names the config by its digest: check it when it does. */
		const char *slash = strrchr(cname, '/'), *base = slash ? slash + 1 : cname;
		_cleanup_free_ char *hex = xstrndup(base, strcspn(base, "."));

		if (valid_hex64(hex) && !streq(hex, digest_hex(cdigest)))
			return damaged(im, err, "'%s' has digest '%s'", cname, cdigest);
	}
	*config_path = TAKE_PTR(cpath);
	json_t *tags = json_object_get(entry, "RepoTags");
	if (json_is_array(tags) && json_array_size(tags) > 0 &&
	    json_string_value(json_array_get(tags, 0)))
		*ref = normalize_ref(json_string_value(json_array_get(tags, 0)));
	for (size_t i = 0; i < json_array_size(layers); i++) {
		const char *lname = json_string_value(json_array_get(layers, i));
		char *path = lname ? member_path(im, lname, err) : NULL;
		char *digest = NULL;
		int64_t size;

		if (!lname && !path)
			return damaged(im, err, "manifest.json has a layer that is not a name");
		if (!path)
			return -1;
		r = hash_file(path, &digest, &size);
		if (r < 0) {
			free(path);
			return nua_error_set(err, NUA_EFAIL, "cannot read '%s': %s", lname,
					     strerror(-r));
		}
		add_layer(im, digest, path, size);
		im->layers[im->n_layers - 1].key = xstrdup("");
	}
	return 0;
}

static void importer_release(struct importer *im)
{
	if (im->dirfd >= 0)
		close(im->dirfd);
	if (im->dir)
		remove_tree(im->dir);
	if (im->ldir)
		remove_tree(im->ldir);
	free(im->dir);
	free(im->ldir);
	for (size_t i = 0; i < im->n_links; i++) {
		free(im->links[i].name);
		free(im->links[i].target);
	}
	free(im->links);
	for (size_t i = 0; i < im->n_layers; i++) {
		free(im->layers[i].digest);
		free(im->layers[i].file);
		free(im->layers[i].key);
		free(im->layers[i].unpacked);
	}
	free(im->layers);
}

int image_import(struct state *st, const char *path, const char *ref_override, char **ref,
		 struct nua_error **err)
{
	struct importer im = {.dirfd = -1, .archive = path};
	_cleanup_json_ json_t *conf = NULL, *diff_ids = NULL;
	_cleanup_free_ char *manifest = NULL, *name = NULL, *config = NULL, *nua_config = NULL;
	_cleanup_free_ char *cpath = NULL;
	_cleanup_close_ int lock = -1;
	struct layer_desc *descs = NULL;
	size_t man_len = 0, config_len = 0;
	const char *label;
	int r = -1;

	if (ref)
		*ref = NULL;
	if (ensure_store(err) < 0)
		return -1;
	if (ref_override) {
		name = normalize_ref(ref_override);
		if (!name)
			return nua_error_set(
			    err, NUA_EINPUT,
			    "invalid image reference '%s': expected ID:VERSION-RELEASE",
			    ref_override);
	}
	im.dir = images_path("tmp/import-XXXXXX");
	im.ldir = xasprintf("%s/layers/.import-XXXXXX", nua_root());
	if (!mkdtemp(im.dir) || !mkdtemp(im.ldir)) {
		nua_error_set(err, NUA_EFAIL, "cannot make a scratch directory under '%s': %s",
			      nua_root(), strerror(errno));
		goto out;
	}
	im.dirfd = open(im.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (im.dirfd < 0) {
		nua_error_set(err, NUA_EFAIL, "cannot open '%s': %s", im.dir, strerror(errno));
		goto out;
	}
	if (extract_outer(&im, err) < 0)
		goto out;

	{
		_cleanup_free_ char *found = NULL;

		if (member_exists(&im, "index.json")) {
			if (read_oci(&im, &cpath, &manifest, &man_len, &found, err) < 0)
				goto out;
		} else if (member_exists(&im, "manifest.json")) {
			if (read_docker(&im, &cpath, &found, err) < 0)
				goto out;
		} else {
			damaged(&im, err, "it has neither 'index.json' nor 'manifest.json'");
			goto out;
		}
		if (!name)
			name = TAKE_PTR(found);
	}
	if (!name) {
		nua_error_set(
		    err, NUA_EINPUT,
		    "'%s' does not name its image; give a name with --name ID:VERSION-RELEASE",
		    path);
		goto out;
	}

	/* The config: its digest, and the layers' against its diff_ids. */
	if (read_file(cpath, &config, &config_len) < 0 || config_len > JSON_MAX) {
		damaged(&im, err, "its config cannot be read");
		goto out;
	}
	conf = json_loadb(config, config_len, 0, NULL);
	diff_ids = json_incref(json_object_get(json_object_get(conf, "rootfs"), "diff_ids"));
	if (!json_is_object(conf) || !json_is_array(diff_ids)) {
		damaged(&im, err, "its config has no rootfs.diff_ids");
		goto out;
	}
	if (json_array_size(diff_ids) != im.n_layers) {
		damaged(&im, err, "its config lists %zu layers, its manifest %zu",
			json_array_size(diff_ids), im.n_layers);
		goto out;
	}
	for (size_t i = 0; i < im.n_layers; i++) {
		const char *want = json_string_value(json_array_get(diff_ids, i));

		if (!want || !streq(want, im.layers[i].digest)) {
			damaged(&im, err, "layer %zu has digest '%s', its config says '%s'", i + 1,
				im.layers[i].digest, want ? want : "");
			goto out;
		}
	}
	label = jstr(json_object_get(json_object_get(conf, "config"), "Labels"), LABEL_CONFIG);
	if (label) {
		json_t *check = json_loads(label, 0, NULL);

		if (check)
			nua_config = xstrdup(label);
		json_decref(check);
	}

	/* Unpack the layers not here yet, in scratch space. */
	descs = xcalloc(im.n_layers ? im.n_layers : 1, sizeof(*descs));
	for (size_t i = 0; i < im.n_layers; i++) {
		struct import_layer *l = &im.layers[i];
		const char *hex = digest_hex(l->digest);

		if (*l->key && valid_hex64(l->key) && layer_has_digest(l->key, l->digest)) {
			/* built here, kept */
		} else {
			free(l->key);
			l->key = xstrdup(hex);
		}
		descs[i] = (struct layer_desc){xstrdup(l->key), xstrdup(l->digest), l->size};
		if (layer_has_digest(l->key, l->digest))
			continue;
		for (size_t j = 0; j < i; j++)
			if (streq(im.layers[j].digest, l->digest) && im.layers[j].unpacked)
				goto next;
		{
			_cleanup_free_ char *what = xasprintf("layer '%s'", l->digest);
			_cleanup_free_ char *diff = NULL;

			l->unpacked = xasprintf("%s/%zu", im.ldir, i);
			diff = xasprintf("%s/diff", l->unpacked);
			if (mkdir(l->unpacked, 0755) < 0 || mkdir(diff, 0755) < 0) {
				nua_error_set(err, NUA_EFAIL, "cannot create '%s': %s", diff,
					      strerror(errno));
				goto out;
			}
			if (unpack_layer(l->file, diff, what, err) < 0) {
				if (err && *err && (*err)->status == NUA_EINPUT)
					nua_error_prefix(err, "'%s' is not a usable image archive",
							 path);
				goto out;
			}
		}
	next:;
	}

	/* Everything checked: into the store. */
	lock = store_lock(err);
	if (lock < 0)
		goto out;
	for (size_t i = 0; i < im.n_layers; i++) {
		struct import_layer *l = &im.layers[i];

		if (move_blob(l->file, l->digest, err) < 0)
			goto out;
		if (!l->unpacked || layer_has_digest(l->key, l->digest))
			continue;
		_cleanup_free_ char *dest = layer_path(l->key);
		_cleanup_free_ char *layers_dir = nua_root_path("layers");
		int e = remove_tree(dest); /* an incomplete one */

		if (e < 0) {
			nua_error_set(err, NUA_EFAIL, "cannot remove '%s': %s", dest, strerror(-e));
			goto out;
		}
		if (write_layer_json(l->unpacked, l->digest, l->size, err) < 0)
			goto out;
		if (rename(l->unpacked, dest) < 0) {
			nua_error_set(err, NUA_EFAIL, "cannot move '%s' to '%s': %s", l->unpacked,
				      dest, strerror(errno));
			goto out;
		}
		fsync_dir(layers_dir);
		free(l->unpacked);
		l->unpacked = NULL;
	}
	if (store_locked(st, name, config, config_len, manifest, man_len, descs, im.n_layers,
			 nua_config, err) < 0)
		goto out;
	if (ref)
		*ref = TAKE_PTR(name);
	r = 0;
out:
	if (descs)
		layer_descs_free(descs, im.n_layers);
	importer_release(&im);
	return r;
}
