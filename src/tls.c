#define _GNU_SOURCE
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "instance.h"
#include "paths.h"
#include "proxy_nginx.h"
#include "runtime_oci.h"
#include "state.h"
#include "strbuf.h"
#include "util.h"

#include "banned.h"

#define LOCAL_DAYS	 90
#define CA_DAYS		 3650
#define WARN_DAYS	 14
#define BACKOFF_FIRST_S	 300
#define BACKOFF_MAX_S	 86400
#define RATE_LIMITED_S	 3600
#define UACME_TIMEOUT_MS 180000
#define DAY_S		 86400

/* ---- certificates ---- */

void tls_cert_info_release(struct tls_cert_info *info)
{
	free(info->subject);
	free(info->issuer);
	strv_free(info->names);
	memset(info, 0, sizeof(*info));
}

static int64_t asn1_seconds(const ASN1_TIME *t)
{
	struct tm tm;

	if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return (int64_t)timegm(&tm);
}

static char *name_entry(X509_NAME *name, int nid)
{
	char buf[256];
	int n = name ? X509_NAME_get_text_by_NID(name, nid, buf, sizeof(buf)) : -1;

	return xstrdup(n > 0 ? buf : "");
}

/* The first OpenSSL error, for a message. */
static const char *ssl_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	return r ? r : "unknown error";
}

static char **dns_names(X509 *cert)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	char **names = xcalloc((size_t)(gens ? sk_GENERAL_NAME_num(gens) : 0) + 1, sizeof(*names));
	size_t n = 0;

	for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const unsigned char *s;
		int len;
		bool ok = true;

		if (g->type != GEN_DNS)
			continue;
		s = ASN1_STRING_get0_data(g->d.dNSName);
		len = ASN1_STRING_length(g->d.dNSName);
		for (int k = 0; k < len; k++)
			if (s[k] < 0x21 || s[k] > 0x7e)
				ok = false;
		if (ok && len > 0)
			names[n++] = xstrndup((const char *)s, (size_t)len);
	}
	GENERAL_NAMES_free(gens);
	return names;
}

int tls_parse_pem(const char *pem, size_t len, const char *key_pem, size_t key_len,
		  const char *domain, int64_t now, struct tls_cert_info *out,
		  struct nua_error **err)
{
	BIO *b = NULL;
	X509 *leaf = NULL, *c;
	EVP_PKEY *key = NULL;
	STACK_OF(OPENSSL_STRING) * ocsp;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (len > INT32_MAX || key_len > INT32_MAX)
		return nua_error_set(err, NUA_EINPUT, "the certificate file is too large");
	ERR_clear_error();
	b = BIO_new_mem_buf(pem, (int)len);
	while (b && (c = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
		if (!leaf)
			leaf = c;
		else
			X509_free(c);
		out->chain++;
	}
	BIO_free(b);
	if (!leaf) {
		nua_error_set(err, NUA_EINPUT, "no PEM certificate found (%s)", ssl_reason());
		goto out;
	}
	ERR_clear_error();
	b = key_pem ? BIO_new_mem_buf(key_pem, (int)key_len) : BIO_new_mem_buf(pem, (int)len);
	key = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	if (!key) {
		nua_error_set(err, NUA_EINPUT, "no PEM private key found (%s)", ssl_reason());
		goto out;
	}
	if (X509_check_private_key(leaf, key) != 1) {
		nua_error_set(err, NUA_EINPUT, "the private key does not match the certificate");
		goto out;
	}
	out->not_before = asn1_seconds(X509_get0_notBefore(leaf));
	out->not_after = asn1_seconds(X509_get0_notAfter(leaf));
	out->subject = name_entry(X509_get_subject_name(leaf), NID_commonName);
	out->issuer = name_entry(X509_get_issuer_name(leaf), NID_commonName);
	if (!*out->issuer) {
		free(out->issuer);
		out->issuer = name_entry(X509_get_issuer_name(leaf), NID_organizationName);
	}
	out->names = dns_names(leaf);
	ocsp = X509_get1_ocsp(leaf);
	out->ocsp = ocsp && sk_OPENSSL_STRING_num(ocsp) > 0;
	X509_email_free(ocsp);
	if (now && now < out->not_before) {
		nua_error_set(err, NUA_EINPUT, "the certificate is not valid yet");
		goto out;
	}
	if (now && now >= out->not_after) {
		nua_error_set(err, NUA_EINPUT, "the certificate has expired");
		goto out;
	}
	if (domain && X509_check_host(leaf, domain, strlen(domain), 0, NULL) != 1) {
		nua_error_set(err, NUA_EINPUT, "the certificate is not for '%s'", domain);
		goto out;
	}
	ret = 0;
out:
	if (ret < 0)
		tls_cert_info_release(out);
	X509_free(leaf);
	EVP_PKEY_free(key);
	ERR_clear_error();
	return ret;
}

bool tls_dev_domain(const char *domain)
{
	static const char *const tlds[] = { "localhost", "test",    "internal", "local",
					    "example",	 "invalid", "home.arpa" };

	for (size_t i = 0; i < ARRAY_SIZE(tlds); i++) {
		size_t n = strlen(domain), t = strlen(tlds[i]);

		if (streq(domain, tlds[i]) ||
		    (n > t + 1 && domain[n - t - 1] == '.' && streq(domain + n - t, tlds[i])))
			return true;
	}
	return false;
}

struct day {
	char s[32];
};

static struct day day_text(int64_t t)
{
	struct day d = { "" };
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm))
		strftime(d.s, sizeof(d.s), "%Y-%m-%d %H:%M UTC", &tm);
	return d;
}

/* ---- files ---- */

static char *tls_path(const char *rel)
{
	_cleanup_free_ char *r = xasprintf("tls/%s", rel);

	return nua_root_path(r);
}

char *tls_live_path(const char *domain)
{
	_cleanup_free_ char *rel = xasprintf("live/%s.pem", domain);

	return tls_path(rel);
}

int tls_prepare(struct nua_error **err)
{
	static const struct {
		const char *rel;
		mode_t mode;
	} dirs[] = { { "", 0711 },
		     { "live", 0700 },
		     { "ca", 0700 },
		     { "acme", 0711 },
		     { "acme/webroot", 0755 },
		     { "acme/webroot/.well-known", 0755 },
		     { "acme/webroot/.well-known/acme-challenge", 0755 } };

	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		_cleanup_free_ char *d = tls_path(dirs[i].rel);
		int r = mkdir_p(d, dirs[i].mode);

		if (r < 0)
			return nua_error_set(err, NUA_EFAIL, "cannot create '%s': %s", d,
					     strerror(-r));
		chmod(d, dirs[i].mode);
	}
	return 0;
}

static int write_secret_file(const char *path, const char *text, struct nua_error **err)
{
	int r = write_file_atomic(path, text, strlen(text), 0600);

	if (r < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot write '%s': %s", path, strerror(-r));
	return 0;
}

/* ---- status ---- */

struct status {
	char *source; /* "acme", "local", "custom", or NULL: none yet */
	char *error;  /* the last attempt's, NULL when it worked */
	int64_t failures, next_try, last_try, warned;
};

static void status_release(struct status *s)
{
	free(s->source);
	free(s->error);
	memset(s, 0, sizeof(*s));
}

static void status_load(struct nua_ctx *ctx, const char *domain, struct status *s)
{
	_cleanup_free_ char *key = xasprintf("tls.status.%s", domain), *text = NULL;
	json_t *j;

	memset(s, 0, sizeof(*s));
	if (state_setting_get(ctx->st, key, &text, NULL) < 0 || !text)
		return;
	if (!(j = json_loads(text, 0, NULL)))
		return;
	if (json_string_value(json_object_get(j, "source")))
		s->source = xstrdup(json_string_value(json_object_get(j, "source")));
	if (json_string_value(json_object_get(j, "error")))
		s->error = xstrdup(json_string_value(json_object_get(j, "error")));
	s->failures = json_integer_value(json_object_get(j, "failures"));
	s->next_try = json_integer_value(json_object_get(j, "next_try"));
	s->last_try = json_integer_value(json_object_get(j, "last_try"));
	s->warned = json_integer_value(json_object_get(j, "warned"));
	json_decref(j);
}

static void status_save(struct nua_ctx *ctx, const char *domain, const struct status *s)
{
	_cleanup_free_ char *key = xasprintf("tls.status.%s", domain), *text = NULL;
	json_t *j = json_pack("{s:s?, s:s?, s:I, s:I, s:I, s:I}", "source", s->source, "error",
			      s->error, "failures", (json_int_t)s->failures, "next_try",
			      (json_int_t)s->next_try, "last_try", (json_int_t)s->last_try,
			      "warned", (json_int_t)s->warned);

	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	state_setting_set(ctx->st, key, text, NULL);
}

static void set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = v ? xstrdup(v) : NULL;
}

/* domain has a certificate from source: no failure to wait for. */
static void status_done(struct nua_ctx *ctx, const char *domain, const char *source)
{
	struct status s;

	status_load(ctx, domain, &s);
	set_str(&s.source, source);
	set_str(&s.error, NULL);
	s.failures = 0;
	s.next_try = 0;
	s.last_try = (int64_t)time(NULL);
	status_save(ctx, domain, &s);
	status_release(&s);
}

bool tls_live_info(const char *domain, int64_t now, struct tls_cert_info *info)
{
	_cleanup_free_ char *path = tls_live_path(domain), *text = NULL;
	size_t len;

	memset(info, 0, sizeof(*info));
	if (read_file(path, &text, &len) < 0)
		return false;
	return tls_parse_pem(text, len, NULL, 0, domain, now, info, NULL) == 0;
}

/* A third of its life left. */
static bool renewal_due(const struct tls_cert_info *info, int64_t now)
{
	return now >= info->not_after - (info->not_after - info->not_before) / 3;
}

/* The instance that domain is routed to (the first), for events. */
static char *domain_owner(struct nua_ctx *ctx, const char *domain)
{
	struct proxy_route *routes = NULL;
	size_t n = 0;
	char *name = NULL;

	if (proxy_list_routes(&ctx->proxy, &routes, &n, NULL) < 0)
		return NULL;
	for (size_t i = 0; i < n && !name; i++)
		for (size_t k = 0; k <= routes[i].n_aliases && !name; k++)
			if (streq(proxy_route_domain(&routes[i], k), domain))
				name = xstrdup(routes[i].name);
	proxy_route_list_free(routes, n);
	return name;
}

/* Check text as domain's certificate and key, write it where nginx reads it,
 * and have nginx serve it. */
static int install(struct nua_ctx *ctx, const char *domain, const char *text,
		   struct tls_cert_info *info, struct nua_error **err)
{
	_cleanup_free_ char *path = tls_live_path(domain);

	if (tls_parse_pem(text, strlen(text), NULL, 0, domain, (int64_t)time(NULL), info, err) < 0)
		return -1;
	if (tls_prepare(err) < 0 || write_secret_file(path, text, err) < 0)
		return -1;
	return proxy_refresh_domain(&ctx->proxy, domain, err);
}

/* ---- the local CA ---- */

static pthread_mutex_t ca_lock = PTHREAD_MUTEX_INITIALIZER;

static char *pem_of(X509 *cert, EVP_PKEY *key)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data;
	long n;
	char *text;

	if (cert)
		PEM_write_bio_X509(b, cert);
	if (key)
		PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL);
	n = BIO_get_mem_data(b, &data);
	text = xstrndup(data, (size_t)n);
	BIO_free(b);
	return text;
}

static bool add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ex;

	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
	ex = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (!ex)
		return false;
	X509_add_ext(cert, ex, -1);
	X509_EXTENSION_free(ex);
	return true;
}

/* A certificate for key: the CA's own (issuer NULL) or a server's for
 * domain. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, const char *domain, X509 *issuer,
		       EVP_PKEY *issuer_key, long days)
{
	X509 *c = X509_new();
	unsigned char rnd[16];
	BIGNUM *bn;
	X509_NAME *name;
	bool ok = true;

	X509_set_version(c, 2);
	RAND_bytes(rnd, sizeof(rnd));
	rnd[0] &= 0x7f;
	bn = BN_bin2bn(rnd, sizeof(rnd), NULL);
	BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c));
	BN_free(bn);
	/* An hour back: a client whose clock is a little behind. */
	X509_gmtime_adj(X509_getm_notBefore(c), -3600);
	X509_gmtime_adj(X509_getm_notAfter(c), days * DAY_S);
	X509_set_pubkey(c, key);
	name = X509_get_subject_name(c);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"Nua", -1, -1,
				   0);
	if (cn && strlen(cn) <= 64)
		X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1,
					   -1, 0);
	X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : name);
	ok = add_ext(c, issuer ? issuer : c, NID_subject_key_identifier, "hash");
	if (!issuer) {
		ok = ok && add_ext(c, c, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
		     add_ext(c, c, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		_cleanup_free_ char *san = xasprintf("DNS:%s", domain);

		ok = ok && add_ext(c, issuer, NID_authority_key_identifier, "keyid:always") &&
		     add_ext(c, issuer, NID_basic_constraints, "critical,CA:FALSE") &&
		     add_ext(c, issuer, NID_key_usage, "critical,digitalSignature") &&
		     add_ext(c, issuer, NID_ext_key_usage, "serverAuth") &&
		     add_ext(c, issuer, NID_subject_alt_name, san);
	}
	if (!ok || !X509_sign(c, issuer_key ? issuer_key : key, EVP_sha256())) {
		X509_free(c);
		return NULL;
	}
	return c;
}

/* The CA's certificate and key, made when absent. Under ca_lock. */
static int ca_load(X509 **cert, EVP_PKEY **key, struct nua_error **err)
{
	_cleanup_free_ char *cpath = tls_path("ca/ca.pem"), *kpath = tls_path("ca/ca.key");
	_cleanup_free_ char *ctext = NULL, *ktext = NULL;
	char host[64] = "";
	BIO *b;

	*cert = NULL;
	*key = NULL;
	if (read_file(cpath, &ctext, NULL) == 0 && read_file(kpath, &ktext, NULL) == 0) {
		b = BIO_new_mem_buf(ctext, -1);
		*cert = PEM_read_bio_X509(b, NULL, NULL, NULL);
		BIO_free(b);
		b = BIO_new_mem_buf(ktext, -1);
		*key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
		BIO_free(b);
		if (*cert && *key && X509_check_private_key(*cert, *key) == 1)
			return 0;
		X509_free(*cert);
		EVP_PKEY_free(*key);
		return nua_error_set(err, NUA_EFAIL, "the local CA in '%s' is damaged", cpath);
	}
	if (tls_prepare(err) < 0)
		return -1;
	gethostname(host, sizeof(host) - 1);
	{
		_cleanup_free_ char *cn = xasprintf("Nua local CA (%.40s)", host);

		*key = EVP_EC_gen("P-256");
		*cert = *key ? make_cert(*key, cn, NULL, NULL, NULL, CA_DAYS) : NULL;
	}
	if (!*cert) {
		EVP_PKEY_free(*key);
		*key = NULL;
		return nua_error_set(err, NUA_EFAIL, "cannot make the local CA: %s", ssl_reason());
	}
	free(ktext);
	free(ctext);
	ktext = pem_of(NULL, *key);
	ctext = pem_of(*cert, NULL);
	/* The key first: a certificate without its key is no CA. */
	if (write_secret_file(kpath, ktext, err) < 0 ||
	    write_file_atomic(cpath, ctext, strlen(ctext), 0644) < 0) {
		X509_free(*cert);
		EVP_PKEY_free(*key);
		return nua_error_set(err, NUA_EFAIL, "cannot write the local CA to '%s'", cpath);
	}
	return 0;
}

int tls_ca_pem(char **pem, struct nua_error **err)
{
	X509 *cert;
	EVP_PKEY *key;
	int r;

	pthread_mutex_lock(&ca_lock);
	r = ca_load(&cert, &key, err);
	pthread_mutex_unlock(&ca_lock);
	if (r < 0)
		return -1;
	*pem = pem_of(cert, NULL);
	X509_free(cert);
	EVP_PKEY_free(key);
	return 0;
}

/* A new certificate for domain from the local CA, with its key, as text. */
static char *local_issue(const char *domain, struct nua_error **err)
{
	X509 *ca = NULL, *cert = NULL;
	EVP_PKEY *ca_key = NULL, *key = NULL;
	char *text = NULL;

	pthread_mutex_lock(&ca_lock);
	if (ca_load(&ca, &ca_key, err) < 0) {
		pthread_mutex_unlock(&ca_lock);
		return NULL;
	}
	key = EVP_EC_gen("P-256");
	cert = key ? make_cert(key, domain, domain, ca, ca_key, LOCAL_DAYS) : NULL;
	pthread_mutex_unlock(&ca_lock);
	if (cert) {
		_cleanup_free_ char *c = pem_of(cert, NULL), *k = pem_of(NULL, key);

		text = xasprintf("%s%s", c, k);
	} else {
		nua_error_set(err, NUA_EFAIL, "cannot make a certificate for '%s': %s", domain,
			      ssl_reason());
	}
	X509_free(ca);
	X509_free(cert);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(key);
	return text;
}

bool tls_uses_local(struct nua_ctx *ctx, const char *domain)
{
	_cleanup_free_ char *issuer = NULL;

	if (tls_dev_domain(domain))
		return true;
	state_setting_get(ctx->st, "tls.issuer", &issuer, NULL);
	return issuer && streq(issuer, "local");
}

/* A new certificate for domain from the local CA, written where nginx
 * reads it; serve: have nginx serve it now (else the caller's route change
 * does). */
static int local_renew(struct nua_ctx *ctx, const char *domain, bool serve,
		       struct nua_error **err)
{
	_cleanup_free_ char *text = local_issue(domain, err), *path = NULL;
	struct tls_cert_info info;
	int r;

	if (!text)
		return -1;
	if (serve) {
		r = install(ctx, domain, text, &info, err);
		tls_cert_info_release(&info);
	} else {
		path = tls_live_path(domain);
		r = tls_prepare(err) < 0 || write_secret_file(path, text, err) < 0 ? -1 : 0;
	}
	if (r < 0)
		return -1;
	status_done(ctx, domain, "local");
	return 0;
}

int tls_local_ensure(struct nua_ctx *ctx, const char *domain, struct nua_error **err)
{
	struct tls_cert_info info;
	int64_t now = (int64_t)time(NULL);
	bool fresh = tls_live_info(domain, now, &info) && !renewal_due(&info, now);

	tls_cert_info_release(&info);
	return fresh ? 0 : local_renew(ctx, domain, false, err);
}

/* ---- the operator's certificate ---- */

int tls_set_custom(struct nua_ctx *ctx, const char *domain, const char *cert, size_t cert_len,
		   const char *key, size_t key_len, struct nua_error **err)
{
	struct tls_cert_info info;
	_cleanup_free_ char *text = NULL;
	_cleanup_free_ char *owner = NULL;

	if (!proxy_valid_domain(domain))
		return nua_error_set(err, NUA_EINPUT, "'%s' is not a valid domain", domain);
	if (tls_parse_pem(cert, cert_len, key, key_len, domain, (int64_t)time(NULL), &info, err) <
	    0)
		return nua_error_prefix(err, "cannot use the certificate for '%s'", domain);
	tls_cert_info_release(&info);
	text = xasprintf("%.*s%s%.*s", (int)cert_len, cert,
			 cert_len && cert[cert_len - 1] != '\n' ? "\n" : "", (int)key_len, key);
	if (install(ctx, domain, text, &info, err) < 0)
		return -1;
	status_done(ctx, domain, "custom");
	owner = domain_owner(ctx, domain);
	nua_event(ctx, owner, "tls",
		  "certificate for %s set by the operator, issued by %s, valid until %s", domain,
		  info.issuer, day_text(info.not_after).s);
	tls_cert_info_release(&info);
	return 0;
}

/* ---- ACME ---- */

static char *setting(struct nua_ctx *ctx, const char *key)
{
	char *v = NULL;

	state_setting_get(ctx->st, key, &v, NULL);
	if (v && !*v) {
		free(v);
		v = NULL;
	}
	return v;
}

/* The setting, else NUA_ACME_DIRECTORY (the tests point it at loopback),
 * else Let's Encrypt's. */
static char *acme_directory(struct nua_ctx *ctx)
{
	char *url = setting(ctx, "tls.acme.directory");
	const char *env = getenv("NUA_ACME_DIRECTORY");

	if (url)
		return url;
	return xstrdup(env && *env ? env : TLS_LETSENCRYPT);
}

/* uacme's directory for the ACME directory url: one account per CA. */
static char *acme_confdir(const char *url)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char hex[17];
	_cleanup_free_ char *rel = NULL;

	EVP_Digest(url, strlen(url), md, &n, EVP_sha256(), NULL);
	for (size_t i = 0; i < 8; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	rel = xasprintf("acme/%s", hex);
	return tls_path(rel);
}

/* The challenge hook uacme runs: http-01 only, the token checked before it
 * names a file. */
static const char hook_text[] =
	"#!/bin/sh\n"
	"# Written by Nua: uacme's challenge hook (http-01 answered by nginx).\n"
	"dir=\"$NUA_ACME_WEBROOT/.well-known/acme-challenge\"\n"
	"case \"$4\" in ''|*[!A-Za-z0-9_-]*) exit 1 ;; esac\n"
	"case \"$1:$2\" in\n"
	"begin:http-01) umask 022 && printf '%s' \"$5\" >\"$dir/$4.tmp\" && "
	"mv \"$dir/$4.tmp\" \"$dir/$4\" ;;\n"
	"done:http-01 | failed:http-01) rm -f \"$dir/$4\" ;;\n"
	"*) exit 1 ;;\n"
	"esac\n";

/* The CA bundle uacme trusts when tls.acme.ca is set: the system's and that
 * one, in a directory that becomes uacme's /etc/ssl/certs. NULL: the
 * system's own. */
static char *acme_certs(struct nua_ctx *ctx, struct nua_error **err)
{
	_cleanup_free_ char *ca = setting(ctx, "tls.acme.ca");
	_cleanup_free_ char *dir = NULL, *file = NULL, *sys = NULL, *text = NULL;
	int r;

	if (!ca)
		return NULL;
	dir = tls_path("acme/certs");
	if ((r = mkdir_p(dir, 0755)) < 0) {
		nua_error_set(err, NUA_EFAIL, "cannot create '%s': %s", dir, strerror(-r));
		return NULL;
	}
	file = xasprintf("%s/ca-certificates.crt", dir);
	if (read_file("/etc/ssl/certs/ca-certificates.crt", &sys, NULL) < 0)
		sys = xstrdup("");
	text = xasprintf("%s%s%s", sys, *sys && sys[strlen(sys) - 1] != '\n' ? "\n" : "", ca);
	if (write_file_atomic(file, text, strlen(text), 0644) < 0) {
		nua_error_set(err, NUA_EFAIL, "cannot write '%s': %s", file, strerror(errno));
		return NULL;
	}
	return TAKE_PTR(dir);
}

/* Run uacme with args, at most UACME_TIMEOUT_MS; its exit status in
 * *code, what it said on errs. */
static int run_uacme(struct nua_ctx *ctx, const char *const *args, int *code, struct strbuf *errs,
		     struct nua_error **err)
{
	_cleanup_free_ char *prog = nua_find_program("uacme");
	_cleanup_free_ char *webroot = tls_path("acme/webroot"), *certs = NULL;
	_cleanup_free_ char *web_env = xasprintf("NUA_ACME_WEBROOT=%s", webroot);
	_cleanup_close_ int errfd = -1, nullfd = -1;
	const char *envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", web_env, NULL };
	const char **argv;
	size_t n = 0, na = 0;
	struct nua_cmd cmd = NUA_CMD_INIT;
	struct nua_error *e = NULL;
	pid_t pid;
	int status, r;

	if (!prog)
		return nua_error_set(err, NUA_EFAIL,
				     "uacme is not installed: 'scripts/setup' installs it");
	certs = acme_certs(ctx, &e);
	if (e) {
		if (err)
			*err = e;
		else
			nua_error_free(e);
		return -1;
	}
	while (args[na])
		na++;
	/* Through nua __uacme, which dies with the daemon (and puts the CA
	 * bundle in place when there is one). */
	argv = xcalloc(na + 6, sizeof(*argv));
	argv[n++] = "/proc/self/exe";
	argv[n++] = "__uacme";
	argv[n++] = certs ? certs : "-";
	argv[n++] = "--";
	argv[n++] = prog;
	for (size_t i = 0; i < na; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	errfd = memfd_create("nua-uacme", MFD_CLOEXEC);
	nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	cmd.argv = argv;
	cmd.envp = envp;
	cmd.in = nullfd;
	cmd.out = errfd;
	cmd.err = errfd;
	r = nua_cmd_spawn(&cmd, &pid, err);
	free(argv);
	if (r < 0)
		return -1;
	r = nua_cmd_wait(pid, UACME_TIMEOUT_MS, &status, err);
	if (r == 1) {
		kill(pid, SIGKILL);
		nua_cmd_wait(pid, -1, &status, NULL);
		return nua_error_set(err, NUA_EFAIL, "the ACME client did not finish within %d s",
				     UACME_TIMEOUT_MS / 1000);
	}
	if (r < 0)
		return -1;
	nua_fd_read_all(errfd, errs);
	strbuf_rtrim(errs);
	*code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	return 0;
}

/* The value of a JSON member line of uacme's dump of an ACME problem
 * ("type": "urn:...", "detail": "..."), unescaped; NULL for other lines. */
static char *problem_value(const char *line, size_t len, const char *member)
{
	_cleanup_free_ char *prefix = xasprintf("\"%s\": \"", member);
	struct strbuf sb = STRBUF_INIT;
	const char *p = line, *end = line + len;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if ((size_t)(end - p) < strlen(prefix) || strncmp(p, prefix, strlen(prefix)) != 0)
		return NULL;
	for (p += strlen(prefix); p < end && *p != '"'; p++) {
		if (*p == '\\' && p + 1 < end)
			p++;
		strbuf_addch(&sb, *p);
	}
	return strbuf_detach(&sb, NULL);
}

/* What uacme said that matters: its error lines, with the CA's own problem
 * (type and detail) as one line. */
static char *uacme_message(const char *out)
{
	struct strbuf sb = STRBUF_INIT;
	const char *line = out;

	while (line && *line) {
		const char *end = strchrnul(line, '\n');
		size_t len = (size_t)(end - line);
		char *type = problem_value(line, len, "type");
		char *detail = type ? NULL : problem_value(line, len, "detail");

		if (type || detail) {
			strbuf_addf(&sb, "%s%s", sb.len ? ": " : "", type ? type : detail);
		} else if (memmem(line, len, "the server reported", 19)) {
			/* The problem follows. */
		} else if (memmem(line, len, "error", 5) || memmem(line, len, "failed", 6)) {
			const char *cut;

			/* "uacme: " says nothing. */
			if (len > 7 && !strncmp(line, "uacme: ", 7)) {
				line += 7;
				len -= 7;
			}
			if ((cut = memmem(line, len, ", the server reported", 21)) ||
			    (cut = memmem(line, len, "; the server reported", 21)))
				len = (size_t)(cut - line);
			while (len && (line[len - 1] == ':' || line[len - 1] == ' '))
				len--;
			if (sb.len)
				strbuf_addstr(&sb, "; ");
			strbuf_add(&sb, line, len);
		}
		free(type);
		free(detail);
		line = *end ? end + 1 : NULL;
	}
	if (!sb.len) {
		const char *last = strrchr(out, '\n');

		strbuf_addstr(&sb, *out ? (last ? last + 1 : out) : "no message");
	}
	if (sb.len > 600) {
		strbuf_setlen(&sb, 600);
		strbuf_addstr(&sb, "...");
	}
	return strbuf_detach(&sb, NULL);
}

/* The certificate uacme keeps for domain with its key, as one text; NULL
 * when it has none. */
static char *acme_kept(const char *confdir, const char *domain)
{
	_cleanup_free_ char *cpath = xasprintf("%s/%s/cert.pem", confdir, domain);
	_cleanup_free_ char *kpath = xasprintf("%s/private/%s/key.pem", confdir, domain);
	_cleanup_free_ char *c = NULL, *k = NULL;

	if (read_file(cpath, &c, NULL) < 0 || read_file(kpath, &k, NULL) < 0)
		return NULL;
	return xasprintf("%s%s%s", c, *c && c[strlen(c) - 1] != '\n' ? "\n" : "", k);
}

static int acme_account(struct nua_ctx *ctx, const char *url, const char *confdir,
			struct nua_error **err)
{
	_cleanup_free_ char *mark = xasprintf("%s/account", confdir);
	_cleanup_free_ char *email = setting(ctx, "tls.acme.email");
	_cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
	const char *args[] = { "-c", confdir, "-a", url, "-t", "EC", "-y", "new", email, NULL };
	int code = 0;

	if (access(mark, F_OK) == 0)
		return 0;
	if (run_uacme(ctx, args, &code, &out, err) < 0)
		return -1;
	/* An account the key already has is fine too. */
	if (code != 0 && !strstr(out.buf, "already exists")) {
		_cleanup_free_ char *msg = uacme_message(out.buf);

		return nua_error_set(err, NUA_EFAIL, "cannot make an ACME account at %s: %s", url,
				     msg);
	}
	write_file_atomic(mark, url, strlen(url), 0600);
	return 0;
}

static int acme_issue(struct nua_ctx *ctx, const char *domain, bool force, bool *rate_limited,
		      struct tls_cert_info *info, struct nua_error **err)
{
	_cleanup_free_ char *url = acme_directory(ctx);
	_cleanup_free_ char *confdir = acme_confdir(url);
	_cleanup_free_ char *hook = tls_path("acme/hook"), *kept = NULL;
	_cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
	const char *args[] = { "-c", confdir, "-a", url,     "-h",   hook,
			       "-t", "EC",    "-f", "issue", domain, NULL };
	int64_t now = (int64_t)time(NULL);
	int code = 0, r;

	*rate_limited = false;
	if (tls_prepare(err) < 0)
		return -1;
	if ((r = mkdir_p(confdir, 0700)) < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot create '%s': %s", confdir,
				     strerror(-r));
	if ((r = write_file_if_changed(hook, hook_text, 0700)) < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot write '%s': %s", hook, strerror(-r));
	/* A certificate uacme got before the daemon could install it (killed
	 * in between) is used when it is still good. */
	if (!force && (kept = acme_kept(confdir, domain))) {
		struct tls_cert_info k;

		if (tls_parse_pem(kept, strlen(kept), NULL, 0, domain, now, &k, NULL) == 0 &&
		    !renewal_due(&k, now)) {
			tls_cert_info_release(&k);
			return install(ctx, domain, kept, info, err);
		}
		tls_cert_info_release(&k);
	}
	if (acme_account(ctx, url, confdir, err) < 0)
		return -1;
	if (run_uacme(ctx, args, &code, &out, err) < 0)
		return -1;
	/* A CA that forgot the account (a test CA started again, an account
	 * deactivated elsewhere): it is made again, once. */
	if (code != 0 && strstr(out.buf, "no account associated")) {
		_cleanup_free_ char *mark = xasprintf("%s/account", confdir);

		unlink(mark);
		strbuf_reset(&out);
		if (acme_account(ctx, url, confdir, err) < 0 ||
		    run_uacme(ctx, args, &code, &out, err) < 0)
			return -1;
	}
	if (code != 0) {
		_cleanup_free_ char *msg = uacme_message(out.buf);

		*rate_limited = strstr(out.buf, "rateLimited") != NULL;
		return nua_error_set(err, NUA_EFAIL, "%s refused a certificate for '%s': %s", url,
				     domain, msg);
	}
	free(kept);
	if (!(kept = acme_kept(confdir, domain)))
		return nua_error_set(err, NUA_EFAIL, "the ACME client left no certificate for '%s'",
				     domain);
	return install(ctx, domain, kept, info, err);
}

static pthread_mutex_t acme_lock = PTHREAD_MUTEX_INITIALIZER;

static int64_t backoff(int64_t failures, bool rate_limited)
{
	int64_t s = BACKOFF_FIRST_S;

	for (int64_t i = 1; i < failures && s < BACKOFF_MAX_S; i++)
		s *= 2;
	if (s > BACKOFF_MAX_S)
		s = BACKOFF_MAX_S;
	if (rate_limited && s < RATE_LIMITED_S)
		s = RATE_LIMITED_S;
	return s;
}

int tls_issue(struct nua_ctx *ctx, const char *domain, bool force, struct nua_error **err)
{
	_cleanup_free_ char *owner = domain_owner(ctx, domain);
	struct tls_cert_info info = { 0 };
	struct nua_error *e = NULL;
	int64_t now = (int64_t)time(NULL);
	bool rate_limited = false;
	struct status s;
	int r;

	if (!proxy_valid_domain(domain))
		return nua_error_set(err, NUA_EINPUT, "'%s' is not a valid domain", domain);
	if (tls_uses_local(ctx, domain)) {
		if (local_renew(ctx, domain, true, err) < 0)
			return -1;
		nua_event(ctx, owner, "tls", "certificate for %s issued by the local CA", domain);
		return 0;
	}
	status_load(ctx, domain, &s);
	if (s.source && streq(s.source, "custom") && !force) {
		status_release(&s);
		return 0;
	}
	nua_say(ctx, "asking the ACME CA for a certificate for %s", domain);
	/* One ACME client at a time: the periodic pass and a renewal asked for
	 * share uacme's directory. */
	pthread_mutex_lock(&acme_lock);
	r = acme_issue(ctx, domain, force, &rate_limited, &info, &e);
	pthread_mutex_unlock(&acme_lock);
	s.last_try = now;
	if (r < 0) {
		s.failures++;
		s.next_try = now + backoff(s.failures, rate_limited);
		set_str(&s.error, e->msg);
		status_save(ctx, domain, &s);
		nua_event(ctx, owner, "tls-failed",
			  "certificate for %s: %s (attempt %lld; the next in %lld min)", domain,
			  e->msg, (long long)s.failures, (long long)(s.next_try - now) / 60);
		status_release(&s);
		if (err)
			*err = e;
		else
			nua_error_free(e);
		return -1;
	}
	status_release(&s);
	status_done(ctx, domain, "acme");
	nua_event(ctx, owner, "tls", "certificate for %s issued by %s, valid until %s", domain,
		  info.issuer, day_text(info.not_after).s);
	tls_cert_info_release(&info);
	return 0;
}

/* ---- the periodic pass ---- */

/* The domains routed with TLS wanted, each once. */
static char **tls_domains(struct nua_ctx *ctx)
{
	struct proxy_route *routes = NULL;
	size_t n = 0, k = 0, alloc = 1;
	char **out = xcalloc(alloc, sizeof(*out));

	if (proxy_list_routes(&ctx->proxy, &routes, &n, NULL) < 0)
		return out;
	for (size_t i = 0; i < n; i++)
		for (size_t h = 0; routes[i].tls && h <= routes[i].n_aliases; h++)
			strv_add_unique(&out, &k, &alloc, proxy_route_domain(&routes[i], h));
	proxy_route_list_free(routes, n);
	return out;
}

void tls_maintain(struct nua_ctx *ctx, int64_t now)
{
	char **domains;

	if (!ctx->proxy.https_port)
		return;
	domains = tls_domains(ctx);
	for (size_t i = 0; domains[i]; i++) {
		const char *d = domains[i];
		struct tls_cert_info info;
		struct status s;
		bool have = tls_live_info(d, now, &info);
		bool due = !have || renewal_due(&info, now);

		status_load(ctx, d, &s);
		if (tls_uses_local(ctx, d)) {
			if (due)
				tls_issue(ctx, d, false, NULL);
		} else if (s.source && streq(s.source, "custom")) {
			/* The operator renews it. */
		} else if (due && now >= s.next_try) {
			tls_issue(ctx, d, false, NULL);
		}
		status_release(&s);
		status_load(ctx, d, &s);
		/* Once a day while it is close to its end and not replaced. */
		if (have && info.not_after - now < WARN_DAYS * DAY_S && now - s.warned >= DAY_S &&
		    (s.failures > 0 || (s.source && streq(s.source, "custom")))) {
			_cleanup_free_ char *owner = domain_owner(ctx, d);

			nua_event(ctx, owner, "tls-expiring",
				  "warning: the certificate for %s expires on %s%s%s", d,
				  day_text(info.not_after).s,
				  s.error ? " and renewing it fails: " : "",
				  s.error ? s.error : "");
			s.warned = now;
			status_save(ctx, d, &s);
		}
		status_release(&s);
		tls_cert_info_release(&info);
	}
	strv_free(domains);
}

/* ---- listing and settings ---- */

/* The state of domain (routed to name, wanting TLS or not) for tls_list. */
static json_t *list_entry(struct nua_ctx *ctx, const char *domain, const char *name, bool tls,
			  int64_t now)
{
	struct tls_cert_info info;
	struct status s;
	bool have = tls_live_info(domain, now, &info);
	const char *state;
	json_t *e;

	status_load(ctx, domain, &s);
	if (!tls || !ctx->proxy.https_port)
		state = "off";
	else if (have && s.error)
		state = "renewal failing";
	else if (have)
		state = "valid";
	else if (s.error)
		state = "failing";
	else
		state = "pending";
	e = json_pack("{s:s, s:s, s:s, s:s?, s:s?}", "domain", domain, "instance", name, "state",
		      state, "source",
		      s.source ? s.source : (tls_uses_local(ctx, domain) ? "local" : "acme"), "error",
		      s.error);
	if (have) {
		json_object_set_new(e, "issuer", json_string(info.issuer));
		json_object_set_new(e, "not_after", json_integer(info.not_after));
		json_object_set_new(e, "not_before", json_integer(info.not_before));
	}
	if (s.failures) {
		json_object_set_new(e, "failures", json_integer(s.failures));
		json_object_set_new(e, "next_try", json_integer(s.next_try));
	}
	tls_cert_info_release(&info);
	status_release(&s);
	return e;
}

int tls_list(struct nua_ctx *ctx, void **json, struct nua_error **err)
{
	struct proxy_route *routes = NULL;
	size_t n = 0;
	int64_t now = (int64_t)time(NULL);
	json_t *a = json_array();

	if (proxy_list_routes(&ctx->proxy, &routes, &n, err) < 0) {
		json_decref(a);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t h = 0; h <= routes[i].n_aliases; h++) {
			const char *domain = proxy_route_domain(&routes[i], h);
			bool seen = false;
			size_t k;
			json_t *e;

			json_array_foreach(a, k, e)
				seen = seen ||
				       streq(json_string_value(json_object_get(e, "domain")), domain);
			if (!seen)
				json_array_append_new(a, list_entry(ctx, domain, routes[i].name,
								    routes[i].tls, now));
		}
	proxy_route_list_free(routes, n);
	*json = a;
	return 0;
}

int tls_config_get(struct nua_ctx *ctx, void **json, struct nua_error **err)
{
	_cleanup_free_ char *url = acme_directory(ctx), *email = setting(ctx, "tls.acme.email");
	_cleanup_free_ char *ca = setting(ctx, "tls.acme.ca"), *issuer = setting(ctx, "tls.issuer");

	(void)err;
	*json = json_pack("{s:s, s:s?, s:b, s:s, s:i}", "directory", url, "email", email,
			  "ca_bundle", ca != NULL, "issuer", issuer ? issuer : "acme", "https_port",
			  ctx->proxy.https_port);
	return 0;
}

static bool valid_email(const char *s)
{
	const char *at = strchr(s, '@');

	if (!at || at == s || !at[1] || strchr(at + 1, '@') || strlen(s) > 254)
		return false;
	for (; *s; s++)
		if (*s <= ' ' || *s >= 0x7f || strchr("\"'\\<>(),;:[]", *s))
			return false;
	return true;
}

int tls_config_set(struct nua_ctx *ctx, const struct tls_config *c, struct nua_error **err)
{
	if (c->directory && *c->directory && strncmp(c->directory, "https://", 8) != 0)
		return nua_error_set(err, NUA_EINPUT,
				     "the ACME directory '%s' is not an https:// URL",
				     c->directory);
	if (c->directory && strlen(c->directory) > 1024)
		return nua_error_set(err, NUA_EINPUT, "the ACME directory URL is too long");
	if (c->email && *c->email && !valid_email(c->email))
		return nua_error_set(err, NUA_EINPUT, "'%s' is not an email address", c->email);
	if (c->issuer && !streq(c->issuer, "acme") && !streq(c->issuer, "local"))
		return nua_error_set(err, NUA_EINPUT, "the issuer is 'acme' or 'local', not '%s'",
				     c->issuer);
	if (c->ca_pem && *c->ca_pem) {
		BIO *b = BIO_new_mem_buf(c->ca_pem, -1);
		X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);

		BIO_free(b);
		X509_free(x);
		ERR_clear_error();
		if (!x)
			return nua_error_set(err, NUA_EINPUT,
					     "the CA bundle holds no PEM certificate");
	}
	if ((c->directory && state_setting_set(ctx->st, "tls.acme.directory",
					       *c->directory ? c->directory : NULL, err) < 0) ||
	    (c->email &&
	     state_setting_set(ctx->st, "tls.acme.email", *c->email ? c->email : NULL, err) < 0) ||
	    (c->ca_pem &&
	     state_setting_set(ctx->st, "tls.acme.ca", *c->ca_pem ? c->ca_pem : NULL, err) < 0) ||
	    (c->issuer && state_setting_set(ctx->st, "tls.issuer", c->issuer, err) < 0))
		return -1;
	/* A new CA: what failed with the old one is tried at once. */
	if (c->directory || c->ca_pem) {
		char **keys = NULL;

		if (state_setting_keys(ctx->st, "tls.status.", &keys, NULL) == 0) {
			for (size_t i = 0; keys[i]; i++) {
				struct status s;

				status_load(ctx, keys[i] + strlen("tls.status."), &s);
				s.next_try = 0;
				status_save(ctx, keys[i] + strlen("tls.status."), &s);
				status_release(&s);
			}
			strv_free(keys);
		}
	}
	return 0;
}

bool tls_hsts(struct nua_ctx *ctx, const char *name)
{
	_cleanup_free_ char *key = xasprintf("tls.hsts.%s", name), *v = NULL;

	state_setting_get(ctx->st, key, &v, NULL);
	return v && streq(v, "1");
}

int tls_set_hsts(struct nua_ctx *ctx, const char *name, bool on, struct nua_error **err)
{
	_cleanup_free_ char *key = xasprintf("tls.hsts.%s", name);

	return state_setting_set(ctx->st, key, on ? "1" : NULL, err);
}

/* ---- uacme's own CA bundle ---- */

int tls_uacme_exec(const char *certs, char *const *argv, struct nua_error **err)
{
	if (streq(certs, "-")) {
		execv(argv[0], argv);
		return nua_error_set(err, NUA_EFAIL, "cannot run '%s': %s", argv[0],
				     strerror(errno));
	}
	if (unshare(CLONE_NEWNS) < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot make a mount namespace: %s",
				     strerror(errno));
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount(certs, "/etc/ssl/certs", NULL, MS_BIND, NULL) < 0)
		return nua_error_set(err, NUA_EFAIL,
				     "cannot put '%s' in place of /etc/ssl/certs: %s", certs,
				     strerror(errno));
	execv(argv[0], argv);
	return nua_error_set(err, NUA_EFAIL, "cannot run '%s': %s", argv[0], strerror(errno));
}

/* ---- backups ---- */

char *tls_source(struct nua_ctx *ctx, const char *domain)
{
	struct status s;
	char *src;

	status_load(ctx, domain, &s);
	src = TAKE_PTR(s.source);
	status_release(&s);
	return src;
}

int tls_adopt(struct nua_ctx *ctx, const char *domain, const char *path, const char *source,
	      struct nua_error **err)
{
	_cleanup_free_ char *text = NULL, *owner = NULL;
	struct tls_cert_info live, kept;
	int64_t now = (int64_t)time(NULL);
	bool have = tls_live_info(domain, now, &live);
	size_t len;
	struct status s;
	int r;

	if (have && !renewal_due(&live, now)) {
		tls_cert_info_release(&live);
		return 0;
	}
	if ((r = read_file(path, &text, &len)) < 0) {
		tls_cert_info_release(&live);
		return nua_error_set(err, NUA_EINPUT, "cannot read '%s': %s", path, strerror(-r));
	}
	if (tls_parse_pem(text, len, NULL, 0, domain, now, &kept, err) < 0) {
		tls_cert_info_release(&live);
		return -1;
	}
	r = 0;
	/* What this server has lasts longer: it stays. */
	if (have && live.not_after >= kept.not_after)
		goto out;
	tls_cert_info_release(&kept);
	if ((r = install(ctx, domain, text, &kept, err)) < 0)
		goto out;
	status_load(ctx, domain, &s);
	if (!s.source)
		set_str(&s.source, source && (streq(source, "acme") || streq(source, "local") ||
					      streq(source, "custom"))
					   ? source
					   : "acme");
	status_save(ctx, domain, &s);
	status_release(&s);
	owner = domain_owner(ctx, domain);
	nua_event(ctx, owner, "tls", "certificate for %s taken from the snapshot, valid until %s",
		  domain, day_text(kept.not_after).s);
out:
	tls_cert_info_release(&live);
	tls_cert_info_release(&kept);
	return r;
}
