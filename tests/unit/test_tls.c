#include <stdlib.h>
#include <string.h>

#include "paths.h"
#include "proxy_nginx.h"
#include "test.h"
#include "tls.h"
#include "util.h"

TEST(tls_dev_domains_go_to_the_local_ca)
{
	CHECK(tls_dev_domain("localhost"));
	CHECK(tls_dev_domain("app.localhost"));
	CHECK(tls_dev_domain("a.b.test"));
	CHECK(tls_dev_domain("wiki.internal"));
	CHECK(tls_dev_domain("printer.local"));
	CHECK(tls_dev_domain("nas.home.arpa"));
	CHECK(!tls_dev_domain("example.com"));
	CHECK(!tls_dev_domain("mytest"));
	CHECK(!tls_dev_domain("localhost.com"));
	CHECK(!tls_dev_domain("latest"));
	CHECK(!tls_dev_domain("xhome.arpa"));
}

/* The local CA's certificate with its key, from a fresh root under the
 * test's directory. */
static char *ca_with_key(const char *sub)
{
	char *root = xasprintf("%s/%s", test_tmpdir(), sub);
	_cleanup_free_ char *pem = NULL, *key = NULL, *kpath = NULL;
	struct nua_error *err = NULL;
	char *text = NULL;

	setenv("NUA_ROOT", root, 1);
	if (tls_ca_pem(&pem, &err) == 0) {
		kpath = nua_root_path("tls/ca/ca.key");
		if (read_file(kpath, &key, NULL) == 0)
			text = xasprintf("%s%s", pem, key);
	}
	nua_error_free(err);
	free(root);
	return text;
}

TEST(tls_parse_checks_key_names_and_time)
{
	_cleanup_free_ char *a = ca_with_key("a"), *b = ca_with_key("b");
	struct tls_cert_info info;
	struct nua_error *err = NULL;
	const char *key_b;

	CHECK(a && b);
	CHECK(tls_parse_pem(a, strlen(a), NULL, 0, NULL, 1800000000, &info, &err) == 0);
	CHECK(strncmp(info.subject, "Nua local CA (", 14) == 0);
	CHECK(streq(info.issuer, info.subject));
	CHECK(info.chain == 1 && !info.ocsp);
	CHECK(info.not_after - info.not_before > 3649LL * 86400);
	tls_cert_info_release(&info);
	/* Not valid before it was made, nor after it ends. */
	CHECK(tls_parse_pem(a, strlen(a), NULL, 0, NULL, 1000000000, &info, &err) < 0);
	CHECK(strstr(err->msg, "not valid yet"));
	nua_error_free(err);
	err = NULL;
	CHECK(tls_parse_pem(a, strlen(a), NULL, 0, NULL, 4000000000LL, &info, &err) < 0);
	CHECK(strstr(err->msg, "expired"));
	nua_error_free(err);
	err = NULL;
	/* A name it does not carry. */
	CHECK(tls_parse_pem(a, strlen(a), NULL, 0, "app.example.com", 0, &info, &err) < 0);
	CHECK(strstr(err->msg, "not for 'app.example.com'"));
	CHECK(err->status == NUA_EINPUT);
	nua_error_free(err);
	err = NULL;
	/* Another CA's key, given apart. */
	key_b = strstr(b, "-----BEGIN PRIVATE KEY");
	CHECK(key_b);
	CHECK(tls_parse_pem(a, strstr(a, "-----BEGIN PRIVATE") - a, key_b, strlen(key_b), NULL, 0,
			    &info, &err) < 0);
	CHECK(strstr(err->msg, "does not match"));
	nua_error_free(err);
	err = NULL;
	/* No key, no certificate, a certificate cut short. */
	CHECK(tls_parse_pem(a, strstr(a, "-----BEGIN PRIVATE") - a, NULL, 0, NULL, 0, &info, &err) <
	      0);
	CHECK(strstr(err->msg, "no PEM private key"));
	nua_error_free(err);
	err = NULL;
	CHECK(tls_parse_pem("hello", 5, NULL, 0, NULL, 0, &info, &err) < 0);
	CHECK(strstr(err->msg, "no PEM certificate"));
	nua_error_free(err);
	err = NULL;
	CHECK(tls_parse_pem(a, 200, NULL, 0, NULL, 0, &info, &err) < 0);
	nua_error_free(err);
	unsetenv("NUA_ROOT");
}

TEST(proxy_render_site_with_a_certificate)
{
	struct proxy_route rs[] = {
		{ "blog", "example.com", "/", "10.88.0.5:8080", true, true, NULL, 0, NULL },
		{ "api", "example.com", "/api", "10.88.0.6:80", false, false, NULL, 0, NULL },
	};
	struct proxy_site_tls t = { 8443, true, true, false, 0 };
	_cleanup_free_ char *s = proxy_render_site(rs, 2, "example.com", &t);
	const char *https = strstr(s, "include listen-tls.conf;");
	_cleanup_free_ char *plain = NULL, *dev = NULL, *none = NULL;

	CHECK(https);
	plain = xstrndup(s, (size_t)(https - s));
	/* HTTP: the challenges, the TLS route sent away, the other served. */
	CHECK(strstr(plain, "location ^~ /.well-known/acme-challenge/ {\n\t\troot "
			    "../tls/acme/webroot;"));
	CHECK(strstr(plain, "location / {\n\t\treturn 301 https://$host:8443$request_uri;"));
	CHECK(strstr(plain, "location /api/ {\n\t\tproxy_pass http://10.88.0.6:80;"));
	CHECK(!strstr(plain, "Strict-Transport-Security"));
	/* HTTPS: both served, HSTS for the route that asks. */
	CHECK(strstr(https, "ssl_certificate ../tls/live/example.com.pem;"));
	CHECK(strstr(https, "ssl_certificate_key ../tls/live/example.com.pem;"));
	CHECK(strstr(https, "location / {\n\t\tadd_header Strict-Transport-Security "
			    "\"max-age=31536000\" always;\n\t\tproxy_pass http://10.88.0.5:8080;"));
	CHECK(strstr(https, "location /api/ {\n\t\tproxy_pass http://10.88.0.6:80;"));
	CHECK(!strstr(https, "ssl_stapling"));
	/* The local CA's domains are served on both, without redirect. */
	t.redirect = false;
	dev = proxy_render_site(rs, 2, "example.com", &t);
	CHECK(!strstr(dev, "return 301 https"));
	CHECK(strstr(dev, "include listen-tls.conf;"));
	/* No certificate yet: plain HTTP, challenges answered; 443 has no
	 * port in the redirect. */
	t = (struct proxy_site_tls){ 443, false, false, false, 0 };
	none = proxy_render_site(rs, 2, "example.com", &t);
	CHECK(!strstr(none, "listen-tls"));
	CHECK(strstr(none, "acme-challenge"));
	CHECK(strstr(none, "location / {\n\t\tproxy_pass http://10.88.0.5:8080;"));
}

/* A certificate (made for this test, for a century) that names an OCSP
 * responder, with its key. */
static const char ocsp_pem[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIB4jCCAYigAwIBAgIUNJHpX8BWmMBwKXQt0LhQuROph4EwCgYIKoZIzj0EAwIw\n"
	"GzEZMBcGA1UEAwwQb2NzcC5leGFtcGxlLm9yZzAgFw0yNjEyMDcyMDIxMjJaGA8y\n"
	"MTI2MTExMzIwMjEyMlowGzEZMBcGA1UEAwwQb2NzcC5leGFtcGxlLm9yZzBZMBMG\n"
	"ByqGSM49AgEGCCqGSM49AwEHA0IABGAm5JzYx0lIkGvmoCxnODEy6pWBxvkpYFYg\n"
	"JUgjC9GqmeeRgM0vbZW6H+CFTx+xJPUMr9LWu+SaotaZwMsPZT+jgacwgaQwHQYD\n"
	"VR0OBBYEFIw7nHD4gNJBMTXw1evRI4y/haIoMB8GA1UdIwQYMBaAFIw7nHD4gNJB\n"
	"MTXw1evRI4y/haIoMA8GA1UdEwEB/wQFMAMBAf8wGwYDVR0RBBQwEoIQb2NzcC5l\n"
	"eGFtcGxlLm9yZzA0BggrBgEFBQcBAQQoMCYwJAYIKwYBBQUHMAGGGGh0dHA6Ly9v\n"
	"Y3NwLmV4YW1wbGUub3JnLzAKBggqhkjOPQQDAgNIADBFAiEA7XLexbAzXjgBrA34\n"
	"Obxo6mbRZmXqNYmYa8B7XJE53NkCIBtxQN3lQqqXLoMEY+WKbRIdKPyo4n5SSITd\n"
	"1uiZ1af+\n"
	"-----END CERTIFICATE-----\n"
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgGh/anKNCyjQqnVvz\n"
	"7t3X9ejAyr+OT0ZfsGb5ZBRMB7uhRANCAARgJuSc2MdJSJBr5qAsZzgxMuqVgcb5\n"
	"KWBWICVIIwvRqpnnkYDNL22Vuh/ghU8fsST1DK/S1rvkmqLWmcDLD2U/\n"
	"-----END PRIVATE KEY-----\n";

TEST(tls_ocsp_responder_turns_stapling_on)
{
	struct proxy_route r = { "app", "ocsp.example.org", "/", "10.88.0.5:8080", true, false,
				 NULL, 0, NULL };
	struct proxy_site_tls t = { 443, true, true, false, 80 };
	struct tls_cert_info info;
	struct nua_error *err = NULL;
	_cleanup_free_ char *site = NULL;

	CHECK(tls_parse_pem(ocsp_pem, strlen(ocsp_pem), NULL, 0, "ocsp.example.org", 1800000000,
			    &info, &err) == 0);
	CHECK(info.ocsp);
	t.ocsp = info.ocsp;
	tls_cert_info_release(&info);
	site = proxy_render_site(&r, 1, "ocsp.example.org", &t);
	CHECK(strstr(site, "\tssl_stapling on;\n\tssl_stapling_verify on;\n"
			   "\tssl_trusted_certificate ../tls/live/ocsp.example.org.pem;\n"));
}
