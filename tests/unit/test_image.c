#define _GNU_SOURCE
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <utime.h>

#include "image.h"
#include "mount.h"
#include "paths.h"
#include "strbuf.h"
#include "test.h"
#include "util.h"

#define KEY1  "1111111111111111111111111111111111111111111111111111111111111111"
#define KEY2  "2222222222222222222222222222222222222222222222222222222222222222"
#define KEY3  "3333333333333333333333333333333333333333333333333333333333333333"
#define MTIME 1600000000

/* A fresh NUA_ROOT for one test, with its state store. */
static struct state *use_root(const char *name)
{
	char *root = xasprintf("%s/%s", test_tmpdir(), name);
	char *db = xasprintf("%s/nua.db", root);
	struct nua_error *err = NULL;
	struct state *st = NULL;

	mkdir_p(root, 0755);
	setenv("NUA_ROOT", root, 1);
	if (state_open(db, &st, &err) < 0) {
		test_fail(__FILE__, __LINE__, "state_open: %s", err->msg);
		nua_error_free(err);
	}
	free(root);
	free(db);
	return st;
}

static char *root_path(const char *fmt, const char *arg)
{
	char *rel = xasprintf(fmt, arg);
	char *p = nua_root_path(rel);

	free(rel);
	return p;
}

static void put(const char *path, const char *content, mode_t mode, uid_t uid)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	if (fd < 0 || write(fd, content, strlen(content)) != (ssize_t)strlen(content))
		abort();
	if (fchown(fd, uid, uid) < 0)
		abort();
	fchmod(fd, mode); /* after fchown, which clears set-user-ID */
	close(fd);
}

/* Every entry's mtime set to MTIME, so that two trees made apart compare
 * and tar the same. */
static void settle_times(const char *dir)
{
	struct timespec ts[2] = {{MTIME, 0}, {MTIME, 0}};
	DIR *d = opendir(dir);

	for (struct dirent *de; d && (de = readdir(d));) {
		char *p;

		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		p = xasprintf("%s/%s", dir, de->d_name);
		if (de->d_type == DT_DIR)
			settle_times(p);
		utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW);
		free(p);
	}
	if (d)
		closedir(d);
}

/* Why overlay whiteouts (0/0 character devices, trusted.overlay.* xattrs)
 * cannot be made here, or NULL when they can: they need CAP_MKNOD,
 * CAP_SYS_ADMIN and a filesystem with trusted xattrs, which a build
 * container (the fresh-machine test) does not give. */
static const char *no_whiteouts(void)
{
	static char why[160];
	char *dev = xasprintf("%s/probe-wh", test_tmpdir());
	char *dir = xasprintf("%s/probe-opq", test_tmpdir());
	const char *what = NULL;

	if (mknod(dev, S_IFCHR | 0, makedev(0, 0)) < 0)
		what = "a 0/0 character device";
	else if (mkdir(dir, 0755) < 0 || setxattr(dir, "trusted.overlay.opaque", "y", 1, 0) < 0)
		what = "a trusted.overlay.opaque xattr";
	if (what)
		snprintf(why, sizeof(why), "cannot make %s here (%s): overlay whiteouts need root "
			 "on a filesystem with trusted xattrs", what, strerror(errno));
	unlink(dev);
	rmdir(dir);
	free(dev);
	free(dir);
	return what ? why : NULL;
}

/* A layer in overlay upper form with every kind of entry. */
static char *make_layer1(const char *name)
{
	char *dir = nua_root_path(name);
	char *p;

	mkdir_p(dir, 0755);
	p = xasprintf("%s/etc", dir);
	mkdir(p, 0750);
	free(p);
	p = xasprintf("%s/etc/hosts", dir);
	put(p, "127.0.0.1 localhost\n", 0640, 1000);
	setxattr(p, "user.nua", "kept", 4, 0);
	setxattr(p, "trusted.overlay.origin", "dropped", 7, 0);
	free(p);
	p = xasprintf("%s/bin", dir);
	mkdir(p, 0755);
	free(p);
	p = xasprintf("%s/bin/tool", dir);
	put(p, "#!/bin/sh\necho tool\n", 04755, 0);
	free(p);
	p = xasprintf("%s/bin/tool", dir);
	{
		char *q = xasprintf("%s/bin/tool2", dir);

		if (link(p, q) < 0)
			abort();
		free(q);
		q = xasprintf("%s/bin/sh", dir);
		if (symlink("tool", q) < 0)
			abort();
		free(q);
	}
	free(p);
	/* A deleted file and an opaque directory, as overlayfs leaves them. */
	p = xasprintf("%s/gone", dir);
	if (mknod(p, S_IFCHR | 0, makedev(0, 0)) < 0)
		abort();
	free(p);
	p = xasprintf("%s/var/cache", dir);
	mkdir_p(p, 0755);
	if (setxattr(p, "trusted.overlay.opaque", "y", 1, 0) < 0)
		abort();
	free(p);
	p = xasprintf("%s/var/cache/new", dir);
	put(p, "fresh", 0644, 0);
	free(p);
	settle_times(dir);
	return dir;
}

static char *make_layer2(const char *name)
{
	char *dir = nua_root_path(name);
	char *p = xasprintf("%s/app", dir);

	mkdir_p(p, 0755);
	free(p);
	p = xasprintf("%s/app/run", dir);
	put(p, "run", 0755, 1000);
	free(p);
	settle_times(dir);
	return dir;
}

static const char *const env[] = {"PATH=/usr/bin:/bin", "APP=1", NULL};
static const char *const cmd[] = {"/bin/tool", NULL};
static const int ports[] = {8080, 0};

static int store(struct state *st, const char *ref, const char *const *layers)
{
	struct image_def def = {0};
	struct nua_error *err = NULL;
	int r;

	def.ref = ref;
	def.layers = layers;
	def.env = env;
	def.cmd = cmd;
	def.user = "1000:1000";
	def.workdir = "/app";
	def.ports = ports;
	def.nua_config_json = "{\"metadata\":{\"id\":\"app\"}}";
	r = image_store(st, &def, &err);
	if (r < 0) {
		fprintf(stderr, "# image_store: %s\n", err->msg);
		nua_error_free(err);
	}
	return r;
}

/* Describe a tree, one line per entry in name order: everything a layer
 * keeps. Hard links show as "link N" to the first name of their inode. */
static void describe(const char *root, const char *rel, struct strbuf *out)
{
	char *dir = *rel ? xasprintf("%s/%s", root, rel) : xstrdup(root);
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);

	for (int i = 0; i < n; i++) {
		const char *nm = names[i]->d_name;
		char *r = *rel ? xasprintf("%s/%s", rel, nm) : xstrdup(nm);
		char *p = xasprintf("%s/%s", root, r);
		char xl[4096], val[256];
		ssize_t xn;
		struct stat sb;

		if (streq(nm, ".") || streq(nm, "..") || lstat(p, &sb) < 0)
			goto next;
		strbuf_addf(out, "%s mode=%o uid=%u gid=%u mtime=%lld", r, sb.st_mode, sb.st_uid,
			    sb.st_gid, (long long)sb.st_mtime);
		if (S_ISREG(sb.st_mode)) {
			char *data = NULL;
			size_t len;

			read_file(p, &data, &len);
			strbuf_addf(out, " nlink=%lu data=%s", (unsigned long)sb.st_nlink, data);
			free(data);
		} else if (S_ISLNK(sb.st_mode)) {
			char t[256];
			ssize_t tn = readlink(p, t, sizeof(t) - 1);

			t[tn < 0 ? 0 : tn] = '\0';
			strbuf_addf(out, " -> %s", t);
		} else if (S_ISCHR(sb.st_mode)) {
			strbuf_addf(out, " rdev=%u:%u", major(sb.st_rdev), minor(sb.st_rdev));
		}
		xn = llistxattr(p, xl, sizeof(xl));
		for (char *x = xl; xn > 0 && x < xl + xn; x += strlen(x) + 1) {
			ssize_t vn = lgetxattr(p, x, val, sizeof(val) - 1);

			val[vn < 0 ? 0 : vn] = '\0';
			strbuf_addf(out, " %s=%s", x, val);
		}
		strbuf_addch(out, '\n');
		if (S_ISDIR(sb.st_mode))
			describe(root, r, out);
	next:
		free(r);
		free(p);
	}
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(dir);
}

/* The entries of a tar file, one per line: "name[ -> link][ hardlink]". */
static void list_tar(const char *path, struct strbuf *out)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;

	archive_read_support_format_tar(a);
	if (archive_read_open_filename(a, path, 10240) != ARCHIVE_OK)
		abort();
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		const char *xn;
		const void *xv;
		size_t xs;

		strbuf_addstr(out, archive_entry_pathname(e));
		if (archive_entry_hardlink(e))
			strbuf_addf(out, " hardlink %s", archive_entry_hardlink(e));
		/* libarchive writes each xattr twice (LIBARCHIVE. and SCHILY.
		 * keys) and reads both back. */
		archive_entry_xattr_reset(e);
		for (const char *prev = "";
		     archive_entry_xattr_next(e, &xn, &xv, &xs) == ARCHIVE_OK; prev = xn)
			if (!streq(xn, prev))
				strbuf_addf(out, " xattr %s", xn);
		strbuf_addch(out, '\n');
	}
	archive_read_free(a);
}

static char *blob_of(const char *digest)
{
	return root_path("images/blobs/sha256/%s", digest + 7);
}

TEST(image_layer_commit_tars_overlay_form_deterministically)
{
	struct state *st = use_root("commit");
	char *d1 = NULL, *d3 = NULL, *dig = NULL, *blob;
	char *dir1, *dir3;
	struct nua_error *err = NULL;
	struct strbuf sb = STRBUF_INIT;
	struct stat s;

	if (no_whiteouts()) {
		state_close(st);
		SKIP("%s", no_whiteouts());
	}

	CHECK(st);
	dir1 = make_layer1("work1");
	CHECK(!layer_exists(KEY1));
	CHECK_INT(layer_commit(KEY1, dir1, &d1, &err), 0);
	CHECK(layer_exists(KEY1));
	CHECK(access(dir1, F_OK) < 0); /* moved */
	CHECK(starts_with(d1, "sha256:"));
	blob = blob_of(d1);
	CHECK_INT(stat(blob, &s), 0);
	list_tar(blob, &sb);
	CHECK_STR(sb.buf, "bin/\n"
			  "bin/sh\n"
			  "bin/tool\n"
			  "bin/tool2 hardlink bin/tool\n"
			  "etc/\n"
			  "etc/hosts xattr user.nua\n"
			  ".wh.gone\n"
			  "var/\n"
			  "var/cache/\n"
			  "var/cache/.wh..wh..opq\n"
			  "var/cache/new\n");
	strbuf_release(&sb);

	/* The same tree under another key is the same blob, byte for byte. */
	dir3 = make_layer1("work3");
	CHECK_INT(layer_commit(KEY3, dir3, &d3, &err), 0);
	CHECK_STR(d3, d1);

	/* An existing key is success; the new directory goes away. */
	free(dir3);
	dir3 = make_layer2("work4");
	CHECK_INT(layer_commit(KEY1, dir3, &dig, &err), 0);
	CHECK_STR(dig, d1);
	CHECK(access(dir3, F_OK) < 0);

	CHECK_INT(layer_commit("nothex", dir3, NULL, &err), -1);
	CHECK_INT(err->status, NUA_EINPUT);
	nua_error_free(err);
	free(dig);
	free(d1);
	free(d3);
	free(blob);
	free(dir1);
	free(dir3);
	state_close(st);
}

/* A layer built on one root is taken by another from the machine's layer
 * cache: same digest, same files (hard links on one filesystem), the blob
 * there; a key the cache lacks is 0, a damaged entry an error. */
TEST(image_layer_cache_shares_layers_between_roots)
{
	struct state *a = use_root("cache-a"), *b = NULL;
	char *cache = xasprintf("%s/cache", test_tmpdir());
	char *dir1 = NULL, *d1 = NULL, *d2 = NULL, *blob = NULL, *src = NULL, *dst = NULL;
	char *json = NULL;
	struct nua_error *err = NULL;
	struct stat s1, s2;

	if (no_whiteouts()) {
		state_close(a);
		free(cache);
		SKIP("%s", no_whiteouts());
	}
	setenv("NUA_CACHE", cache, 1);
	dir1 = make_layer1("cache-work");
	CHECK_INT(layer_commit(KEY1, dir1, &d1, &err), 0);
	CHECK_INT(layer_cache_take(KEY2, &err), 0);
	CHECK_INT(layer_cache_put(KEY1, &err), 0);
	CHECK_INT(layer_cache_put(KEY1, &err), 0); /* there already */
	src = root_path("layers/%s/diff/bin/tool", KEY1);
	state_close(a);

	b = use_root("cache-b");
	CHECK(!layer_exists(KEY1));
	CHECK_INT(layer_cache_take(KEY1, &err), 1);
	CHECK(layer_exists(KEY1));
	dst = root_path("layers/%s/diff/bin/tool", KEY1);
	CHECK_INT(stat(src, &s1), 0);
	CHECK_INT(stat(dst, &s2), 0);
	CHECK(s1.st_ino == s2.st_ino);
	/* The blob came too, and the root has the layer now. */
	json = root_path("layers/%s/layer.json", KEY1);
	CHECK_INT(read_file(json, &d2, NULL), 0);
	CHECK(strstr(d2, d1));
	blob = blob_of(d1);
	CHECK_INT(access(blob, F_OK), 0);
	CHECK_INT(layer_cache_take(KEY1, &err), 1);

	/* A cache entry whose layer.json is damaged is an error, not a layer. */
	{
		char *bad = xasprintf("%s/layers/%s/layer.json", cache, KEY1);

		struct state *c;

		CHECK_INT(write_file_atomic(bad, "{}", 2, 0644), 0);
		c = use_root("cache-c");
		CHECK_INT(layer_cache_take(KEY1, &err), -1);
		CHECK(strstr(err->msg, "lacks a digest"));
		CHECK(!layer_exists(KEY1));
		nua_error_free(err);
		err = NULL;
		free(bad);
		state_close(c);
	}
	unsetenv("NUA_CACHE");
	free(cache);
	free(dir1);
	free(d1);
	free(blob);
	free(src);
	free(dst);
	free(d2);
	free(json);
	state_close(b);
}

TEST(image_store_export_remove_import_round_trip)
{
	struct state *st = use_root("rt-a"), *st2 = NULL;
	const char *const layers[] = {KEY1, KEY2, NULL};
	char *dir1, *dir2;
	char *archive = xasprintf("%s/rt.tar", test_tmpdir());
	char *l1 = root_path("layers/%s/diff", KEY1);
	struct strbuf before = STRBUF_INIT, after = STRBUF_INIT;
	struct nua_error *err = NULL;
	struct image_rec rec = {0}, rec2 = {0};
	char **dirs = NULL, *got = NULL, *d1 = NULL, *man_blob = NULL;
	json_t *cfg = NULL;
	size_t n = 0;

	if (no_whiteouts()) {
		state_close(st);
		free(archive);
		free(l1);
		SKIP("%s", no_whiteouts());
	}

	CHECK(st);
	dir1 = make_layer1("w1");
	dir2 = make_layer2("w2");
	CHECK_INT(layer_commit(KEY1, dir1, &d1, &err), 0);
	CHECK_INT(layer_commit(KEY2, dir2, NULL, &err), 0);
	CHECK_INT(store(st, "app:1.0-1", layers), 0);
	CHECK_INT(state_image_get(st, "app:1.0-1", &rec, &err), 0);
	CHECK(starts_with(rec.digest, "sha256:"));
	CHECK_STR(rec.version, "1.0");
	CHECK_INT(rec.release, 1);
	CHECK_STR(rec.config, "{\"metadata\":{\"id\":\"app\"}}");
	CHECK(rec.size > 0);
	/* Storing again gives the same digest: nothing in it changes. */
	CHECK_INT(store(st, "app:1.0-1", layers), 0);
	CHECK_INT(state_image_get(st, "app:1.0-1", &rec2, &err), 0);
	CHECK_STR(rec2.digest, rec.digest);
	image_rec_release(&rec2);

	CHECK_INT(image_layer_dirs(st, "app:1.0-1", &dirs, &n, &err), 0);
	CHECK_INT(n, 2);
	CHECK_STR(dirs[0], l1);
	CHECK(dirs[2] == NULL);
	for (size_t i = 0; i < n; i++)
		free(dirs[i]);
	free(dirs);
	CHECK_INT(image_oci_config(st, "app:1.0-1", (void **)&cfg, &err), 0);
	CHECK_STR(json_string_value(json_object_get(cfg, "User")), "1000:1000");
	CHECK_STR(json_string_value(json_array_get(json_object_get(cfg, "Env"), 1)), "APP=1");
	CHECK(json_object_get(json_object_get(cfg, "ExposedPorts"), "8080/tcp"));
	CHECK_STR(
	    json_string_value(json_object_get(json_object_get(cfg, "Labels"), "org.nua.config")),
	    "{\"metadata\":{\"id\":\"app\"}}");
	json_decref(cfg);
	CHECK_INT(image_layer_dirs(st, "nope:1-1", &dirs, &n, &err), -1);
	CHECK_INT(err->status, NUA_EINPUT);
	nua_error_free(err);
	err = NULL;

	CHECK_INT(image_export(st, "app:1.0-1", archive, &err), 0);
	{
		struct strbuf l = STRBUF_INIT;

		list_tar(archive, &l);
		CHECK(strstr(l.buf, "oci-layout\nindex.json\nmanifest.json\nrepositories\n"));
		CHECK(strstr(l.buf, rec.digest + 7));
		strbuf_release(&l);
	}

	/* Import into another server: the same digest, the same trees. */
	st2 = use_root("rt-b");
	CHECK(st2);
	CHECK_INT(image_import(st2, archive, NULL, &got, &err), 0);
	CHECK_STR(got, "app:1.0-1");
	CHECK_INT(state_image_get(st2, "app:1.0-1", &rec2, &err), 0);
	CHECK_STR(rec2.digest, rec.digest);
	CHECK_STR(rec2.config, rec.config);
	CHECK_INT(rec2.size, rec.size);
	image_rec_release(&rec2);
	CHECK_INT(image_layer_dirs(st2, "app:1.0-1", &dirs, &n, &err), 0);
	CHECK_INT(n, 2);
	{
		char *want = root_path("layers/%s/diff", d1 + 7);

		CHECK_STR(dirs[0], want);
		free(want);
	}
	/* Overlay's own xattrs do not travel. */
	{
		char *hosts = xasprintf("%s/etc/hosts", l1);

		CHECK_INT(removexattr(hosts, "trusted.overlay.origin"), 0);
		free(hosts);
	}
	describe(l1, "", &before);
	describe(dirs[0], "", &after);
	CHECK_STR(after.buf, before.buf);
	CHECK(strstr(after.buf, "gone mode=20000 uid=0 gid=0 mtime=1600000000 rdev=0:0\n"));
	CHECK(strstr(after.buf, "bin/tool mode=104755 "));
	CHECK(strstr(after.buf, "var/cache mode=40755 uid=0 gid=0 mtime=1600000000 "
				"trusted.overlay.opaque=y\n"));
	CHECK(!strstr(after.buf, "trusted.overlay.origin"));
	for (size_t i = 0; i < n; i++)
		free(dirs[i]);
	free(dirs);
	/* Importing again (a second name) reuses the layers. */
	free(got);
	got = NULL;
	CHECK_INT(image_import(st2, archive, "other:2", &got, &err), 0);
	CHECK_STR(got, "other:2-1");
	state_close(st2);

	/* Back to the first server: remove, and the layout forgets it. */
	setenv("NUA_ROOT", "", 1);
	{
		char *root = xasprintf("%s/rt-a", test_tmpdir());

		setenv("NUA_ROOT", root, 1);
		free(root);
	}
	man_blob = blob_of(rec.digest);
	CHECK_INT(access(man_blob, F_OK), 0);
	CHECK_INT(image_remove(st, "app:1.0-1", &err), 0);
	CHECK(access(man_blob, F_OK) < 0);
	/* Young layers stay for the build cache, with their blobs. */
	CHECK(layer_exists(KEY1));
	{
		char *b = blob_of(d1);

		CHECK_INT(access(b, F_OK), 0);
		free(b);
	}
	{
		char *idx = nua_root_path("images/index.json"), *data = NULL;
		size_t len;

		CHECK_INT(read_file(idx, &data, &len), 0);
		CHECK(!strstr(data, "app:1.0-1"));
		free(data);
		free(idx);
	}
	CHECK_INT(image_remove(st, "app:1.0-1", &err), -1);
	CHECK_INT(err->status, NUA_EINPUT);
	nua_error_free(err);
	err = NULL;

	/* A layer unused for more than a day goes, blob and all. */
	{
		char *lj = root_path("layers/%s/layer.json", KEY1);
		char *b = blob_of(d1);
		struct utimbuf old = {time(NULL) - 2 * 86400, time(NULL) - 2 * 86400};
		const char *const one[] = {KEY2, NULL};

		CHECK_INT(utime(lj, &old), 0);
		CHECK_INT(store(st, "two:1-1", one), 0);
		CHECK_INT(image_remove(st, "two:1-1", &err), 0);
		CHECK(!layer_exists(KEY1));
		CHECK(access(b, F_OK) < 0);
		CHECK(layer_exists(KEY2));
		free(lj);
		free(b);
	}

	image_rec_release(&rec);
	strbuf_release(&before);
	strbuf_release(&after);
	free(man_blob);
	free(got);
	free(d1);
	free(l1);
	free(dir1);
	free(dir2);
	free(archive);
	state_close(st);
}

/* ---- hand-made archives ---- */

static char *hex_of_file(const char *path)
{
	crypto_hash_sha256_state h;
	unsigned char out[32];
	char *hex = xmalloc(65), *data = NULL;
	size_t len;

	if (read_file(path, &data, &len) < 0)
		abort();
	crypto_hash_sha256_init(&h);
	crypto_hash_sha256_update(&h, (unsigned char *)data, len);
	crypto_hash_sha256_final(&h, out);
	sodium_bin2hex(hex, 65, out, 32);
	free(data);
	return hex;
}

struct tar_item {
	const char *name;
	char type;	  /* f file, d dir, l symlink, h hard link */
	const char *data; /* content, or link target */
};

static void write_tar(const char *path, const struct tar_item *items, size_t n)
{
	struct archive *a = archive_write_new();

	archive_write_set_format_pax_restricted(a);
	if (archive_write_open_filename(a, path) != ARCHIVE_OK)
		abort();
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		size_t len = items[i].type == 'f' ? strlen(items[i].data) : 0;

		archive_entry_set_pathname(e, items[i].name);
		archive_entry_set_mode(e, items[i].type == 'd'	 ? S_IFDIR | 0755
					  : items[i].type == 'l' ? S_IFLNK | 0777
								 : S_IFREG | 0644);
		if (items[i].type == 'l')
			archive_entry_set_symlink(e, items[i].data);
		if (items[i].type == 'h')
			archive_entry_set_hardlink(e, items[i].data);
		archive_entry_set_size(e, (la_int64_t)len);
		archive_write_header(a, e);
		if (len)
			archive_write_data(a, items[i].data, len);
		archive_entry_free(e);
	}
	archive_write_close(a);
	archive_write_free(a);
}

/* An OCI layout archive at out holding one image of one layer made of
 * items, named ref. */
static void write_oci_archive(const char *out, const struct tar_item *items, size_t n,
			      const char *ref)
{
	char *dir = xasprintf("%s/oci-src", test_tmpdir());
	char *layer = xasprintf("%s/layer.tar", dir);
	char *cfgp = xasprintf("%s/config.json", dir), *manp = xasprintf("%s/manifest.json", dir);
	char *lhex, *chex, *mhex, *idx;
	struct stat lsb, csb, msb;
	json_t *j;

	remove_tree(dir);
	mkdir_p(dir, 0755);
	write_tar(layer, items, n);
	lhex = hex_of_file(layer);
	stat(layer, &lsb);
	j = json_pack("{s:s, s:s, s:{}, s:{s:s, s:[s+]}}", "architecture", "amd64", "os", "linux",
		      "config", "rootfs", "type", "layers", "diff_ids", "sha256:", lhex);
	json_dump_file(j, cfgp, JSON_COMPACT);
	json_decref(j);
	chex = hex_of_file(cfgp);
	stat(cfgp, &csb);
	j = json_pack("{s:i, s:{s:s, s:s+, s:I}, s:[{s:s, s:s+, s:I}]}", "schemaVersion", 2,
		      "config", "mediaType", "application/vnd.oci.image.config.v1+json", "digest",
		      "sha256:", chex, "size", (json_int_t)csb.st_size, "layers", "mediaType",
		      "application/vnd.oci.image.layer.v1.tar", "digest", "sha256:", lhex, "size",
		      (json_int_t)lsb.st_size);
	json_dump_file(j, manp, JSON_COMPACT);
	json_decref(j);
	mhex = hex_of_file(manp);
	stat(manp, &msb);
	j = json_pack("{s:i, s:[{s:s, s:s+, s:I, s:{s:s}}]}", "schemaVersion", 2, "manifests",
		      "mediaType", "application/vnd.oci.image.manifest.v1+json", "digest",
		      "sha256:", mhex, "size", (json_int_t)msb.st_size, "annotations",
		      "org.opencontainers.image.ref.name", ref);
	idx = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	{
		char *ld = NULL, *cd = NULL, *md = NULL;
		size_t ll, cl, ml;
		char *ln = xasprintf("blobs/sha256/%s", lhex),
		     *cn = xasprintf("blobs/sha256/%s", chex);
		char *mn = xasprintf("blobs/sha256/%s", mhex);

		read_file(layer, &ld, &ll);
		read_file(cfgp, &cd, &cl);
		read_file(manp, &md, &ml);
		{
			/* The layer tar is binary: write it as a file entry by hand. */
			struct archive *a = archive_write_new();
			const char *names[] = {"oci-layout", "index.json", ln, cn, mn};
			const char *datas[] = {"{\"imageLayoutVersion\":\"1.0.0\"}", idx, ld, cd,
					       md};
			size_t lens[] = {30, strlen(idx), ll, cl, ml};

			archive_write_set_format_pax_restricted(a);
			if (archive_write_open_filename(a, out) != ARCHIVE_OK)
				abort();
			for (size_t i = 0; i < 5; i++) {
				struct archive_entry *e = archive_entry_new();

				archive_entry_set_pathname(e, names[i]);
				archive_entry_set_mode(e, S_IFREG | 0644);
				archive_entry_set_size(e, (la_int64_t)lens[i]);
				archive_write_header(a, e);
				archive_write_data(a, datas[i], lens[i]);
				archive_entry_free(e);
			}
			archive_write_close(a);
			archive_write_free(a);
		}
		free(ld);
		free(cd);
		free(md);
		free(ln);
		free(cn);
		free(mn);
	}
	free(idx);
	free(lhex);
	free(chex);
	free(mhex);
	free(layer);
	free(cfgp);
	free(manp);
	free(dir);
}

/* Import must refuse (NUA_EINPUT) with a message holding want, storing
 * nothing. */
static int refused(struct state *st, const char *archive, const char *want)
{
	struct nua_error *err = NULL;
	struct image_rec *list;
	size_t n = 99;
	char *layers = nua_root_path("layers");
	DIR *d;
	int bad = 0;

	if (image_import(st, archive, NULL, NULL, &err) == 0) {
		fprintf(stderr, "# import of %s succeeded\n", archive);
		return 0;
	}
	if (err->status != NUA_EINPUT || !strstr(err->msg, want)) {
		fprintf(stderr, "# got status %d: %s\n", err->status, err->msg);
		bad = 1;
	}
	nua_error_free(err);
	state_image_list(st, &list, &n, NULL);
	image_rec_list_free(list, n);
	d = opendir(layers);
	for (struct dirent *de; d && (de = readdir(d));)
		if (de->d_name[0] != '.')
			bad = 1;
	if (d)
		closedir(d);
	free(layers);
	return !bad && n == 0;
}

TEST(image_import_checks_digests_and_refuses_escapes)
{
	struct state *st = use_root("hostile");
	char *a = xasprintf("%s/h.tar", test_tmpdir());
	char *escape = xasprintf("%s/hostile/escaped", test_tmpdir());
	const struct tar_item good[] = {
	    {"bin/", 'd', NULL}, {"bin/hello", 'f', "hello-content"}, {"bin/.wh.old", 'f', ""}};
	const struct tar_item dotdot[] = {{"bin/", 'd', NULL}, {"../escaped", 'f', "x"}};
	const struct tar_item abs[] = {{"/etc/evil", 'f', "x"}};
	const struct tar_item hard[] = {{"h", 'h', "../../../../etc/passwd"}};
	const struct tar_item through[] = {{"sub", 'l', ".."}, {"sub/escaped", 'f', "x"}};
	struct nua_error *err = NULL;
	char *ref = NULL;

	if (no_whiteouts()) {
		state_close(st);
		free(a);
		free(escape);
		SKIP("%s", no_whiteouts());
	}

	CHECK(st);
	write_oci_archive(a, dotdot, 2, "evil:1-1");
	CHECK(refused(st, a, "entry '../escaped' is absolute or goes up with '..'"));
	write_oci_archive(a, abs, 1, "evil:1-1");
	CHECK(refused(st, a, "is absolute"));
	write_oci_archive(a, hard, 1, "evil:1-1");
	CHECK(refused(st, a, "hard link leaving the layer"));
	write_oci_archive(a, through, 2, "evil:1-1");
	CHECK(refused(st, a, "lies beyond a symbolic link"));
	CHECK(access(escape, F_OK) < 0);

	/* A good one imports; a whiteout comes back as a 0/0 device. */
	write_oci_archive(a, good, 3, "hello:1.0");
	CHECK_INT(image_import(st, a, NULL, &ref, &err), 0);
	CHECK_STR(ref, "hello:1.0-1");
	{
		char **dirs;
		size_t n;
		struct stat sb;
		char *p;

		CHECK_INT(image_layer_dirs(st, ref, &dirs, &n, &err), 0);
		CHECK_INT(n, 1);
		p = xasprintf("%s/bin/old", dirs[0]);
		CHECK_INT(lstat(p, &sb), 0);
		CHECK(S_ISCHR(sb.st_mode) && sb.st_rdev == makedev(0, 0));
		free(p);
		free(dirs[0]);
		free(dirs);
	}
	free(ref);
	CHECK_INT(image_remove(st, "hello:1.0-1", &err), 0);

	/* A byte changed in a blob: refused, nothing stored. */
	{
		char *data = NULL, *hit;
		size_t len;

		write_oci_archive(a, good, 3, "hello:1.0");
		CHECK_INT(read_file(a, &data, &len), 0);
		hit = memmem(data, len, "hello-content", 13);
		CHECK(hit);
		hit[0] = 'j';
		CHECK_INT(write_file_atomic(a, data, len, 0644), 0);
		free(data);
		/* The removed image's young layer stays; the check below
		 * wants an empty layers directory. */
		char *l = nua_root_path("layers");
		remove_tree(l);
		mkdir(l, 0755);
		free(l);
		CHECK(refused(st, a, "has digest"));
	}
	{
		char *garbage = xasprintf("%s/garbage.tar", test_tmpdir());

		write_file_atomic(garbage, "not a tar at all", 16, 0644);
		CHECK(refused(st, garbage, "is not a usable image archive"));
		free(garbage);
	}
	CHECK_INT(image_import(st, "/nonexistent.tar", NULL, NULL, &err), -1);
	CHECK_INT(err->status, NUA_EINPUT);
	nua_error_free(err);
	free(a);
	free(escape);
	state_close(st);
}
