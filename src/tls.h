/* TLS certificates for the instances' domains: from an ACME CA (uacme, the
 * http-01 challenge through nginx), from Nua's own local CA (for domains no
 * public CA can validate), or given by the operator.
 *
 * Files, under $NUA_ROOT/tls (0711: nginx's workers read acme/webroot):
 *
 *   live/DOMAIN.pem       what nginx serves: the chain, then the key (0600,
 *                         one file, replaced atomically)
 *   ca/ca.pem, ca.key     the local CA (the key 0600)
 *   acme/ID/              uacme's directory for one ACME directory URL (ID:
 *                         a digest of it): the account key, its keys and
 *                         certificates as uacme keeps them
 *   acme/webroot/         the challenges nginx answers at
 *                         /.well-known/acme-challenge/
 *   acme/hook             uacme's challenge hook (written by Nua)
 *   acme/certs/           the CA bundle uacme trusts, when one is set
 *
 * State: settings "tls.status.DOMAIN" (source, failures, next attempt, last
 * error), "tls.acme.directory", "tls.acme.email", "tls.acme.ca" (PEM),
 * "tls.issuer" ("acme" or "local"), "tls.hsts.NAME". */
#ifndef NUA_TLS_H
#define NUA_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct nua_ctx;

#define TLS_LETSENCRYPT "https://acme-v02.api.letsencrypt.org/directory"

/* What a PEM certificate chain with its key says. */
struct tls_cert_info {
	char *subject; /* the leaf's common name, or "" */
	char *issuer;  /* its issuer's common name (or organisation) */
	char **names;  /* its DNS names (NULL-terminated) */
	int64_t not_before, not_after;
	bool ocsp;    /* it names an OCSP responder */
	size_t chain; /* certificates in the file */
};
void tls_cert_info_release(struct tls_cert_info *info);

/* Read a PEM text holding a certificate, the rest of its chain, and its
 * private key (in any order): the key must match the first certificate,
 * which must be valid at now and, when domain is not NULL, name it. A text
 * that is not that is NUA_EINPUT saying what is wrong. key_pem NULL: pem
 * holds the key; else the key is there. */
int tls_parse_pem(const char *pem, size_t len, const char *key_pem, size_t key_len,
		  const char *domain, int64_t now, struct tls_cert_info *out,
		  struct nua_error **err);

/* True for a domain that no public CA can validate (localhost and
 * *.localhost, *.test, *.internal, *.local, *.example, *.invalid,
 * *.home.arpa): its certificate comes from the local CA. */
bool tls_dev_domain(const char *domain);

/* $NUA_ROOT/tls/live/DOMAIN.pem. Caller frees. */
char *tls_live_path(const char *domain);

/* What the certificate nginx serves for domain says, when there is one
 * that is good for it at now (*info released otherwise, and may always be
 * released). */
bool tls_live_info(const char *domain, int64_t now, struct tls_cert_info *info);

/* Make the directories under $NUA_ROOT/tls with their modes. */
int tls_prepare(struct nua_error **err);

/* The local CA's certificate, made (with its key) when there is none.
 * Caller frees *pem. */
int tls_ca_pem(char **pem, struct nua_error **err);

/* Make sure domain has a certificate from the local CA that is not due for
 * renewal (a third of its life left); issue one otherwise, which the
 * caller's route change makes nginx serve. */
int tls_local_ensure(struct nua_ctx *ctx, const char *domain, struct nua_error **err);

/* Whether domain's certificates come from the local CA on this server (a
 * dev domain, or tls.issuer = local). */
bool tls_uses_local(struct nua_ctx *ctx, const char *domain);

/* Install the operator's certificate (chain) and key for domain, checked
 * as tls_parse_pem does, and serve it (nginx reload). Nua never renews it. */
int tls_set_custom(struct nua_ctx *ctx, const char *domain, const char *cert, size_t cert_len,
		   const char *key, size_t key_len, struct nua_error **err);

/* Give domain a certificate now (force: even when the current one is not
 * due), from its issuer; on success nginx serves it. A failure is an event
 * and counts for the backoff of the next attempts. */
int tls_issue(struct nua_ctx *ctx, const char *domain, bool force, struct nua_error **err);

/* The periodic pass: every routed domain that wants TLS and has no
 * certificate, or one due for renewal, gets one when its backoff allows;
 * certificates about to expire are warned about. */
void tls_maintain(struct nua_ctx *ctx, int64_t now);

/* Every domain that wants TLS, with its certificate's state, as a JSON
 * array (json_t *, the caller decrefs). */
int tls_list(struct nua_ctx *ctx, void **json, struct nua_error **err);

/* The ACME settings. NULL fields are left as they are; "" clears one (the
 * directory goes back to Let's Encrypt's, the CA bundle to the system's). */
struct tls_config {
	const char *directory, *email, *ca_pem, *issuer;
};
int tls_config_set(struct nua_ctx *ctx, const struct tls_config *c, struct nua_error **err);
int tls_config_get(struct nua_ctx *ctx, void **json, struct nua_error **err);

/* Whether instance name sends Strict-Transport-Security; set it. */
bool tls_hsts(struct nua_ctx *ctx, const char *name);
int tls_set_hsts(struct nua_ctx *ctx, const char *name, bool on, struct nua_error **err);

/* Where domain's certificate came from ("acme", "local", "custom"), or
 * NULL when unknown. Caller frees. */
char *tls_source(struct nua_ctx *ctx, const char *domain);

/* Serve the certificate (chain and key) in the file at path for domain,
 * which a snapshot held, unless the one served lasts as long and is not due
 * for renewal; source says where it came from. A file that is not a good
 * certificate for domain now is NUA_EINPUT. */
int tls_adopt(struct nua_ctx *ctx, const char *domain, const char *path, const char *source,
	      struct nua_error **err);

/* nua __uacme CERTS -- PROGRAM ARGS...: run PROGRAM (killed when the
 * daemon's thread that started it dies) in a mount namespace of its own
 * where CERTS is /etc/ssl/certs (the CA bundle uacme trusts); CERTS "-":
 * the system's, no namespace. Does not return on success. */
int tls_uacme_exec(const char *certs, char *const *argv, struct nua_error **err);

#endif
