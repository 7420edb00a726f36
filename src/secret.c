/* Secrets at rest: see secret.h. */
#define _GNU_SOURCE
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <unistd.h>

#include "paths.h"
#include "util.h"
#include "banned.h"

#define SEALED_PREFIX "nua-secret:v1:"

bool secret_is_sealed(const char *value) { return starts_with(value, SEALED_PREFIX); }

/* Read the master key, making it when there is none. A new key is written
 * to a file of its own and linked into place, so that a process racing to
 * make it, or a crash while writing, never leaves an empty or short key:
 * link() fails for all but the first, which then read that one. */
static int master_key(unsigned char key[crypto_secretbox_KEYBYTES], struct nua_error **err)
{
	_cleanup_free_ char *dir = nua_root_path("secrets");
	_cleanup_free_ char *path = xasprintf("%s/master.key", dir);
	_cleanup_close_ int fd = -1;
	ssize_t got;
	int r;

	if (sodium_init() < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot initialise libsodium");
	if ((r = mkdir_p(dir, 0700)) < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot create '%s': %s", dir, strerror(-r));
	if (access(path, F_OK) < 0) {
		_cleanup_free_ char *tmp = xasprintf("%s/master.key.%d", dir, (int)getpid());
		_cleanup_close_ int t = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		unsigned char fresh[crypto_secretbox_KEYBYTES];

		if (t < 0)
			return nua_error_set(err, NUA_EFAIL, "cannot create '%s': %s", tmp,
					     strerror(errno));
		randombytes_buf(fresh, sizeof(fresh));
		if (write(t, fresh, sizeof(fresh)) != (ssize_t)sizeof(fresh) || fsync(t) < 0) {
			unlink(tmp);
			return nua_error_set(err, NUA_EFAIL, "cannot write '%s': %s", tmp,
					     strerror(errno));
		}
		sodium_memzero(fresh, sizeof(fresh));
		if (link(tmp, path) < 0 && errno != EEXIST) {
			unlink(tmp);
			return nua_error_set(err, NUA_EFAIL, "cannot create '%s': %s", path,
					     strerror(errno));
		}
		unlink(tmp);
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot read '%s': %s", path, strerror(errno));
	got = read(fd, key, crypto_secretbox_KEYBYTES);
	if (got != crypto_secretbox_KEYBYTES)
		return nua_error_set(err, NUA_EFAIL, "'%s' is not a master key (%zd bytes)", path,
				     got);
	return 0;
}

int secret_seal(const char *plain, char **out, struct nua_error **err)
{
	unsigned char key[crypto_secretbox_KEYBYTES];
	size_t plen = strlen(plain);
	size_t blen = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + plen;
	unsigned char *box;
	size_t b64len = sodium_base64_encoded_len(blen, sodium_base64_VARIANT_ORIGINAL);
	char *text;

	if (master_key(key, err) < 0)
		return -1;
	box = xmalloc(blen);
	randombytes_buf(box, crypto_secretbox_NONCEBYTES);
	crypto_secretbox_easy(box + crypto_secretbox_NONCEBYTES, (const unsigned char *)plain, plen,
			      box, key);
	sodium_memzero(key, sizeof(key));
	text = xmalloc(strlen(SEALED_PREFIX) + b64len);
	memcpy(text, SEALED_PREFIX, strlen(SEALED_PREFIX));
	sodium_bin2base64(text + strlen(SEALED_PREFIX), b64len, box, blen,
			  sodium_base64_VARIANT_ORIGINAL);
	free(box);
	*out = text;
	return 0;
}

static int open_with(const char *sealed, const unsigned char *given, char **out,
		     struct nua_error **err);

int secret_open(const char *sealed, char **out, struct nua_error **err)
{
	return open_with(sealed, NULL, out, err);
}

int secret_open_with(const char *sealed, const char *key_text, char **out,
		     struct nua_error **err)
{
	unsigned char key[crypto_secretbox_KEYBYTES];
	size_t len = 0;
	int r;

	if (sodium_init() < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot initialise libsodium");
	if (sodium_base642bin(key, sizeof(key), key_text, strlen(key_text), NULL, &len, NULL,
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING) < 0 ||
	    len != sizeof(key))
		return nua_error_set(err, NUA_EINPUT, "the master key given is not one");
	r = open_with(sealed, key, out, err);
	sodium_memzero(key, sizeof(key));
	return r;
}

/* Open sealed with the key given, or with this server's (given NULL). */
static int open_with(const char *sealed, const unsigned char *given, char **out,
		     struct nua_error **err)
{
	unsigned char key[crypto_secretbox_KEYBYTES];
	_cleanup_free_ unsigned char *box = NULL;
	const char *b64;
	size_t cap, blen = 0;
	char *plain;

	if (!secret_is_sealed(sealed))
		return nua_error_set(err, NUA_EINPUT, "the value is not a sealed secret");
	b64 = sealed + strlen(SEALED_PREFIX);
	cap = strlen(b64);
	box = xmalloc(cap + 1);
	if (sodium_base642bin(box, cap, b64, strlen(b64), NULL, &blen, NULL,
			      sodium_base64_VARIANT_ORIGINAL) < 0 ||
	    blen < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)
		return nua_error_set(err, NUA_EINPUT, "a sealed secret is damaged");
	if (given)
		memcpy(key, given, sizeof(key));
	else if (master_key(key, err) < 0)
		return -1;
	plain = xmalloc(blen - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES + 1);
	if (crypto_secretbox_open_easy((unsigned char *)plain, box + crypto_secretbox_NONCEBYTES,
				       blen - crypto_secretbox_NONCEBYTES, box, key) < 0) {
		sodium_memzero(key, sizeof(key));
		free(plain);
		return nua_error_set(err, NUA_EFAIL, "a sealed secret does not open with %s",
				     given ? "the master key given" : "this server's master key");
	}
	sodium_memzero(key, sizeof(key));
	plain[blen - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES] = '\0';
	*out = plain;
	return 0;
}

int secret_master_key_text(char **out, struct nua_error **err)
{
	unsigned char key[crypto_secretbox_KEYBYTES];
	size_t len = sodium_base64_encoded_len(sizeof(key), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	char *text;

	if (master_key(key, err) < 0)
		return -1;
	text = xmalloc(len);
	sodium_bin2base64(text, len, key, sizeof(key), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(key, sizeof(key));
	*out = text;
	return 0;
}

int secret_key_id(char id[17], struct nua_error **err)
{
	unsigned char key[crypto_secretbox_KEYBYTES], h[crypto_generichash_BYTES];

	if (master_key(key, err) < 0)
		return -1;
	crypto_generichash(h, sizeof(h), key, sizeof(key), NULL, 0);
	sodium_memzero(key, sizeof(key));
	sodium_bin2hex(id, 17, h, 8);
	return 0;
}

char *secret_random_string(int len)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	char *s = xmalloc((size_t)len + 1);

	if (sodium_init() < 0)
		BUG("libsodium cannot initialise");
	for (int i = 0; i < len; i++)
		s[i] = alphabet[randombytes_uniform(sizeof(alphabet) - 1)];
	s[len] = '\0';
	return s;
}

long long secret_random_int63(void)
{
	unsigned long long x;

	if (sodium_init() < 0)
		BUG("libsodium cannot initialise");
	randombytes_buf(&x, sizeof(x));
	return (long long)(x & 0x7fffffffffffffffULL);
}

void secret_sha256_hex(const char *text, char hex[65])
{
	unsigned char h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, (const unsigned char *)text, strlen(text));
	sodium_bin2hex(hex, 65, h, sizeof(h));
}
