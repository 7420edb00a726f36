/* Secrets at rest: values sealed with the server's master key.
 *
 * The key is 32 random bytes in $NUA_ROOT/secrets/master.key (mode 0600, its
 * directory 0700), made on first use. A sealed value is the text
 * "nua-secret:v1:" followed by the base64 of a random nonce and the
 * XSalsa20-Poly1305 (libsodium secretbox) ciphertext: tampering or another
 * server's key makes opening fail rather than return garbage. */
#ifndef NUA_SECRET_H
#define NUA_SECRET_H

#include <stdbool.h>

#include "error.h"

/* Seal plain text; *out is the caller's. */
int secret_seal(const char *plain, char **out, struct nua_error **err);

/* Open a sealed value; *out is the caller's. A value that is not sealed
 * (see secret_is_sealed) is NUA_EINPUT. */
int secret_open(const char *sealed, char **out, struct nua_error **err);

bool secret_is_sealed(const char *value);

/* Open a value sealed with another server's master key, given as
 * secret_master_key_text gives it (from a recovery key). */
int secret_open_with(const char *sealed, const char *key_text, char **out,
		     struct nua_error **err);

/* The master key as text (URL-safe base64, 43 characters), for the
 * recovery key a person keeps off the server; the caller frees and should
 * wipe it. */
int secret_master_key_text(char **out, struct nua_error **err);

/* 16 hex digits naming the master key (a hash of it, which tells nothing of
 * the key): whether values sealed elsewhere open here. */
int secret_key_id(char id[17], struct nua_error **err);

/* A random string of len characters from [A-Za-z0-9] (caller frees). */
char *secret_random_string(int len);

/* The SHA-256 of text, in hexadecimal, into hex: how a token, a cookie or a
 * one-time code is kept (random secrets: no salt or slow hash needed). */
void secret_sha256_hex(const char *text, char hex[65]);

/* A random integer in [0, 2^63). */
long long secret_random_int63(void);

#endif
