/* Directory trees in one file: see archive_tree.h. */
#define _GNU_SOURCE
#include "archive_tree.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mount.h"
#include "strbuf.h"
#include "util.h"
#include "banned.h"

#define INDEX_NAME "nua-archive.json"

static char *hex_digest(crypto_hash_sha256_state *st)
{
	unsigned char h[crypto_hash_sha256_BYTES];
	char hex[2 * crypto_hash_sha256_BYTES + 1];

	crypto_hash_sha256_final(st, h);
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	return xasprintf("sha256:%s", hex);
}

/* ---- writing ---- */

struct writer {
	struct archive *out;
	struct archive_entry_linkresolver *links;
	json_t *files; /* name: digest */
};

/* Write entry e (a file's data read from disk when it has some). */
static int write_entry(struct writer *w, struct archive *disk, struct archive_entry *e,
		       struct nua_error **err)
{
	const char *name = archive_entry_pathname(e);
	bool regular = archive_entry_filetype(e) == AE_IFREG && !archive_entry_hardlink(e);
	crypto_hash_sha256_state st;

	if (archive_write_header(w->out, e) < ARCHIVE_WARN)
		return nua_error_set(err, NUA_EFAIL, "cannot write '%s' into the archive: %s", name,
				     archive_error_string(w->out));
	if (!regular)
		return 0;
	crypto_hash_sha256_init(&st);
	if (archive_entry_size(e) > 0) {
		char buf[65536];
		la_ssize_t n;

		while ((n = archive_read_data(disk, buf, sizeof(buf))) > 0) {
			crypto_hash_sha256_update(&st, (const unsigned char *)buf, (size_t)n);
			if (archive_write_data(w->out, buf, (size_t)n) != n)
				return nua_error_set(err, NUA_EFAIL, "cannot write '%s': %s", name,
						     archive_error_string(w->out));
		}
		if (n < 0)
			return nua_error_set(err, NUA_EFAIL, "cannot read '%s': %s", name,
					     archive_error_string(disk));
	}
	{
		char *d = hex_digest(&st);

		json_object_set_new(w->files, name, json_string(d));
		free(d);
	}
	return 0;
}

/* Every entry under full (stored under the name stored). */
static int write_tree(struct writer *w, const char *full, const char *stored,
		      struct nua_error **err)
{
	struct archive *disk = archive_read_disk_new();
	struct archive_entry *e = archive_entry_new();
	size_t flen = strlen(full);
	int r, ret = -1;

	archive_read_disk_set_standard_lookup(disk);
	archive_read_disk_set_behavior(disk, ARCHIVE_READDISK_NO_TRAVERSE_MOUNTS);
	if (archive_read_disk_open(disk, full) != ARCHIVE_OK) {
		nua_error_set(err, NUA_EFAIL, "cannot read '%s': %s", full,
			      archive_error_string(disk));
		goto out;
	}
	for (;;) {
		struct archive_entry *sparse = NULL, *out;
		_cleanup_free_ char *name = NULL;
		const char *p;

		archive_entry_clear(e);
		r = archive_read_next_header2(disk, e);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			nua_error_set(err, NUA_EFAIL, "cannot read '%s': %s", full,
				      archive_error_string(disk));
			goto out;
		}
		p = archive_entry_pathname(e);
		if (strncmp(p, full, flen) != 0 || (p[flen] && p[flen] != '/'))
			BUG("'%s' is not under '%s'", p, full);
		name = xasprintf("%s%s", stored, p + flen);
		archive_entry_set_pathname(e, name);
		archive_read_disk_descend(disk);
		out = e;
		archive_entry_linkify(w->links, &out, &sparse);
		if (out && write_entry(w, disk, out, err) < 0)
			goto out;
	}
	ret = 0;
out:
	archive_entry_free(e);
	archive_read_close(disk);
	archive_read_free(disk);
	return ret;
}

static la_ssize_t file_write(struct archive *a, void *cls, const void *buf, size_t len)
{
	int r = write_all(*(int *)cls, buf, len);

	if (r < 0) {
		archive_set_error(a, -r, "%s", strerror(-r));
		return -1;
	}
	return (la_ssize_t)len;
}

int archive_tree_write(const char *path, const char *base, const char *const *rels,
		       struct nua_error **err)
{
	_cleanup_free_ char *tmp = xasprintf("%s.tmp", path);
	struct writer w = { archive_write_new(), archive_entry_linkresolver_new(), json_object() };
	int fd = -1, ret = -1;

	if (sodium_init() < 0)
		BUG("cannot initialise libsodium");
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		nua_error_set(err, NUA_EFAIL, "cannot create '%s': %s", tmp, strerror(errno));
		goto out;
	}
	archive_entry_linkresolver_set_strategy(w.links, ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE);
	/* pax (not restricted): times to the nanosecond. No padding after the
	 * compressed stream: a reader would take it for a damaged frame. */
	if (archive_write_set_format_pax(w.out) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(w.out, 1) != ARCHIVE_OK ||
	    (archive_write_add_filter_zstd(w.out) != ARCHIVE_OK &&
	     archive_write_add_filter_gzip(w.out) != ARCHIVE_OK) ||
	    archive_write_open(w.out, &fd, NULL, file_write, NULL) != ARCHIVE_OK) {
		nua_error_set(err, NUA_EFAIL, "cannot write '%s': %s", tmp,
			      archive_error_string(w.out));
		goto out;
	}
	for (size_t i = 0; rels[i]; i++) {
		_cleanup_free_ char *full =
			rels[i][0] == '/' ? xstrdup(rels[i]) : xasprintf("%s/%s", base, rels[i]);
		const char *stored = rels[i][0] == '/' ? rels[i] + 1 : rels[i];

		if (write_tree(&w, full, stored, err) < 0)
			goto out;
	}
	/* Hard links whose other names never came (outside the trees). */
	for (;;) {
		struct archive_entry *e = NULL, *sparse = NULL;

		archive_entry_linkify(w.links, &e, &sparse);
		if (!e)
			break;
		/* Its data was not written with the first name: nothing to
		 * add, the entries written stand. */
		archive_entry_free(e);
	}
	{
		json_t *index = json_pack("{s:i, s:O}", "format", ARCHIVE_TREE_FORMAT, "files",
					  w.files);
		char *text = json_dumps(index, JSON_COMPACT | JSON_SORT_KEYS);
		struct archive_entry *e = archive_entry_new();
		size_t len = strlen(text);

		json_decref(index);
		archive_entry_set_pathname(e, INDEX_NAME);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0600);
		archive_entry_set_size(e, (la_int64_t)len);
		archive_entry_set_mtime(e, time(NULL), 0);
		if (archive_write_header(w.out, e) < ARCHIVE_WARN ||
		    archive_write_data(w.out, text, len) != (la_ssize_t)len) {
			nua_error_set(err, NUA_EFAIL, "cannot write '%s': %s", tmp,
				      archive_error_string(w.out));
			archive_entry_free(e);
			free(text);
			goto out;
		}
		archive_entry_free(e);
		free(text);
	}
	if (archive_write_close(w.out) != ARCHIVE_OK) {
		nua_error_set(err, NUA_EFAIL, "cannot write '%s': %s", tmp,
			      archive_error_string(w.out));
		goto out;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		fd = -1;
		nua_error_set(err, NUA_EFAIL, "cannot write '%s': %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		nua_error_set(err, NUA_EFAIL, "cannot write '%s': %s", path, strerror(errno));
		goto out;
	}
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	if (ret < 0)
		unlink(tmp);
	archive_write_free(w.out);
	archive_entry_linkresolver_free(w.links);
	json_decref(w.files);
	return ret;
}

/* ---- reading ---- */

/* A name an archive may hold: relative, no "..", no empty part. */
static bool safe_name(const char *name)
{
	const char *p = name;

	if (!*name || name[0] == '/')
		return false;
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 0 || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		p += n;
		if (*p == '/')
			p++;
	}
	return true;
}

int archive_tree_read(const char *path, const char *dir, struct nua_error **err)
{
	struct archive *in = archive_read_new(), *out = archive_write_disk_new();
	struct archive_entry *e;
	json_t *seen = json_object(), *index = NULL;
	int r, ret = -1;

	if (sodium_init() < 0)
		BUG("cannot initialise libsodium");
	if (mkdir(dir, 0700) < 0) {
		nua_error_set(err, NUA_EFAIL, "cannot create '%s': %s", dir, strerror(errno));
		archive_read_free(in);
		archive_write_free(out);
		json_decref(seen);
		return -1;
	}
	archive_read_support_filter_all(in);
	archive_read_support_format_tar(in);
	/* Names are checked here (safe_name) and then made absolute under dir,
	 * so libarchive's check of absolute paths cannot be used; it refuses
	 * to write through a symlink the archive made, and "..". */
	archive_write_disk_set_options(out, ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM |
						    ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_XATTR |
						    ARCHIVE_EXTRACT_SECURE_SYMLINKS |
						    ARCHIVE_EXTRACT_SECURE_NODOTDOT);
	archive_write_disk_set_standard_lookup(out);
	if (archive_read_open_filename(in, path, 65536) != ARCHIVE_OK) {
		nua_error_set(err, NUA_EINPUT, "cannot read '%s': %s", path,
			      archive_error_string(in));
		goto out;
	}
	while ((r = archive_read_next_header(in, &e)) == ARCHIVE_OK) {
		_cleanup_free_ char *name = xstrdup(archive_entry_pathname(e));
		_cleanup_free_ char *full = NULL;
		const char *link = archive_entry_hardlink(e);
		bool regular = archive_entry_filetype(e) == AE_IFREG && !link;
		crypto_hash_sha256_state st;
		char buf[65536];
		la_ssize_t n;

		if (!safe_name(name) || (link && !safe_name(link))) {
			nua_error_set(err, NUA_EINPUT, "'%s' holds an entry outside its tree: '%s'",
				      path, name);
			goto out;
		}
		if (streq(name, INDEX_NAME)) {
			struct strbuf sb = STRBUF_INIT;

			while ((n = archive_read_data(in, buf, sizeof(buf))) > 0)
				strbuf_add(&sb, buf, (size_t)n);
			index = json_loads(sb.buf, 0, NULL);
			strbuf_release(&sb);
			continue;
		}
		if (index) {
			nua_error_set(err, NUA_EINPUT, "'%s' has entries after its index", path);
			goto out;
		}
		full = xasprintf("%s/%s", dir, name);
		archive_entry_set_pathname(e, full);
		if (link) {
			_cleanup_free_ char *target = xasprintf("%s/%s", dir, link);

			archive_entry_set_hardlink(e, target);
		}
		if (archive_write_header(out, e) < ARCHIVE_WARN) {
			nua_error_set(err, NUA_EINPUT, "cannot extract '%s' from '%s': %s", name, path,
				      archive_error_string(out));
			goto out;
		}
		crypto_hash_sha256_init(&st);
		while ((n = archive_read_data(in, buf, sizeof(buf))) > 0) {
			crypto_hash_sha256_update(&st, (const unsigned char *)buf, (size_t)n);
			if (archive_write_data(out, buf, (size_t)n) != n) {
				nua_error_set(err, NUA_EFAIL, "cannot write '%s': %s", full,
					      archive_error_string(out));
				goto out;
			}
		}
		if (n < 0) {
			nua_error_set(err, NUA_EINPUT, "'%s' is damaged or cut short: %s", path,
				      archive_error_string(in));
			goto out;
		}
		if (archive_write_finish_entry(out) < ARCHIVE_WARN) {
			nua_error_set(err, NUA_EFAIL, "cannot write '%s': %s", full,
				      archive_error_string(out));
			goto out;
		}
		if (regular) {
			char *d = hex_digest(&st);

			json_object_set_new(seen, name, json_string(d));
			free(d);
		}
	}
	if (r != ARCHIVE_EOF) {
		nua_error_set(err, NUA_EINPUT, "'%s' is damaged or cut short: %s", path,
			      archive_error_string(in));
		goto out;
	}
	if (!index) {
		nua_error_set(err, NUA_EINPUT,
			      "'%s' has no index: it is cut short, or not a Nua export", path);
		goto out;
	}
	if (json_integer_value(json_object_get(index, "format")) > ARCHIVE_TREE_FORMAT ||
	    json_integer_value(json_object_get(index, "format")) < 1) {
		nua_error_set(err, NUA_EINPUT,
			      "'%s' has format version %lld, this nua reads up to %d: upgrade nua "
			      "to import it",
			      path, (long long)json_integer_value(json_object_get(index, "format")),
			      ARCHIVE_TREE_FORMAT);
		goto out;
	}
	if (!json_equal(json_object_get(index, "files"), seen)) {
		const char *k;
		json_t *v;

		json_object_foreach(json_object_get(index, "files"), k, v) {
			json_t *got = json_object_get(seen, k);

			if (!got || !json_equal(got, v)) {
				nua_error_set(err, NUA_EINPUT, "'%s' is damaged: '%s' %s", path, k,
					      got ? "does not match its checksum" : "is missing");
				goto out;
			}
		}
		nua_error_set(err, NUA_EINPUT, "'%s' holds files its index does not list", path);
		goto out;
	}
	ret = 0;
out:
	archive_read_free(in);
	archive_write_close(out);
	archive_write_free(out);
	json_decref(seen);
	json_decref(index);
	if (ret < 0)
		remove_tree(dir);
	return ret;
}
