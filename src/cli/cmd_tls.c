/* nua tls: the certificates of the instances' domains, the local CA, the
 * ACME settings, the operator's own certificates, HSTS; nua domain: an
 * instance's domains (docs/tls.md). The daemon does the work (tls.c,
 * instance.c); this asks it through the API. */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client.h"
#include "strbuf.h"
#include "util.h"
#include "banned.h"

#define PEM_MAX (1 << 20)

static int read_pem(const char *path, char **out)
{
	size_t len = 0;
	int r = read_file(path, out, &len);

	if (r < 0)
		return cli_error(NUA_EINPUT, "cannot read '%s': %s", path, strerror(-r));
	if (len > PEM_MAX) {
		free(*out);
		return cli_error(NUA_EINPUT, "'%s' is over %d bytes: not a PEM file", path,
				 PEM_MAX);
	}
	return 0;
}

static int tls_ls(bool json)
{
	_cleanup_error_ struct nua_error *err = NULL;
	json_t *list = NULL, *e;
	size_t i;

	if (client_call("GET", "/v1/tls", NULL, &list, &err) < 0)
		return nua_error_report(err);
	if (json) {
		cli_print_json(list);
		return 0;
	}
	printf("%-32s %-16s %-8s %-28s %-11s %s\n", "DOMAIN", "INSTANCE", "SOURCE", "ISSUER",
	       "EXPIRES", "STATE");
	json_array_foreach(list, i, e) {
		char until[16] = "-";
		long long t;
		const char *error = json_string_value(json_object_get(e, "error"));
		const char *issuer = json_string_value(json_object_get(e, "issuer"));

		if (cli_json_int(e, "not_after", &t))
			cli_format_time(t, true, "%Y-%m-%d", until, sizeof(until));
		printf("%-32s %-16s %-8s %-28.28s %-11s %s\n",
		       json_string_value(json_object_get(e, "domain")),
		       json_string_value(json_object_get(e, "instance")),
		       json_string_value(json_object_get(e, "source")), issuer ? issuer : "-",
		       until, json_string_value(json_object_get(e, "state")));
		if (error)
			printf("  %s\n", error);
	}
	json_decref(list);
	return 0;
}

static int tls_ca(void)
{
	_cleanup_error_ struct nua_error *err = NULL;
	json_t *out = NULL;

	if (client_call("GET", "/v1/tls/ca", NULL, &out, &err) < 0)
		return nua_error_report(err);
	fputs(json_string_value(json_object_get(out, "pem")), stdout);
	json_decref(out);
	return 0;
}

/* renew NAME|DOMAIN: an instance's name stands for its domain. */
static int tls_renew(const char *what, bool json)
{
	_cleanup_error_ struct nua_error *err = NULL;
	_cleanup_free_ char *path = client_instance_path(what, ""), *domain = NULL;
	json_t *body, *out = NULL, *in = NULL;
	int r;

	if (!strchr(what, '.') && client_call("GET", path, NULL, &in, NULL) == 0 &&
	    json_string_value(json_object_get(in, "domain")))
		domain = xstrdup(json_string_value(json_object_get(in, "domain")));
	json_decref(in);
	body = json_pack("{s:s}", "domain", domain ? domain : what);
	r = client_call("POST", "/v1/tls/renew", body, &out, &err);

	json_decref(body);
	if (r < 0)
		return nua_error_report(err);
	json_decref(out);
	return tls_ls(json);
}

static int tls_set(const struct cmd_struct *self, const char *domain, const char *cert,
		   const char *key, bool json)
{
	_cleanup_error_ struct nua_error *err = NULL;
	_cleanup_free_ char *c = NULL, *k = NULL, *path = NULL;
	json_t *body, *out = NULL;
	int r;

	if (!cert || !key)
		return cli_usage_error(self, "set takes --cert FILE and --key FILE");
	if ((r = read_pem(cert, &c)) != 0 || (r = read_pem(key, &k)) != 0)
		return r;
	body = json_pack("{s:s, s:s}", "cert", c, "key", k);
	explicit_bzero(k, strlen(k));
	path = xasprintf("/v1/tls/certs/%s", domain);
	r = client_call("PUT", path, body, &out, &err);
	json_decref(body);
	if (r < 0)
		return nua_error_report(err);
	json_decref(out);
	return tls_ls(json);
}

struct config_opts {
	const char *directory, *email, *ca_bundle, *issuer;
};

static int tls_config(const struct config_opts *o, bool json)
{
	_cleanup_error_ struct nua_error *err = NULL;
	_cleanup_free_ char *ca = NULL;
	json_t *body = json_object(), *out = NULL;
	int r;

	if (o->directory)
		json_object_set_new(body, "directory", json_string(o->directory));
	if (o->email)
		json_object_set_new(body, "email", json_string(o->email));
	if (o->issuer)
		json_object_set_new(body, "issuer", json_string(o->issuer));
	if (o->ca_bundle) {
		if (*o->ca_bundle && (r = read_pem(o->ca_bundle, &ca)) != 0) {
			json_decref(body);
			return r;
		}
		json_object_set_new(body, "ca_bundle", json_string(ca ? ca : ""));
	}
	r = json_object_size(body) ? client_call("PATCH", "/v1/tls/config", body, &out, &err)
				   : client_call("GET", "/v1/tls/config", NULL, &out, &err);
	json_decref(body);
	if (r < 0)
		return nua_error_report(err);
	if (json) {
		cli_print_json(out);
	} else {
		const char *email = json_string_value(json_object_get(out, "email"));
		long long port = json_integer_value(json_object_get(out, "https_port"));

		printf("issuer:     %s (domains of the local CA always: *.localhost, *.test, "
		       "*.internal...)\n",
		       json_string_value(json_object_get(out, "issuer")));
		printf("directory:  %s\n", json_string_value(json_object_get(out, "directory")));
		printf("email:      %s\n", email ? email : "(none)");
		printf("CA bundle:  %s\n", json_is_true(json_object_get(out, "ca_bundle"))
						   ? "the system's and the one set"
						   : "the system's");
		if (port)
			printf("HTTPS port: %lld\n", port);
		else
			printf("HTTPS port: none (NUA_HTTPS_PORT=0)\n");
	}
	json_decref(out);
	return 0;
}

static int tls_hsts(const struct cmd_struct *self, const char *name, const char *onoff)
{
	_cleanup_error_ struct nua_error *err = NULL;
	_cleanup_free_ char *path = client_instance_path(name, "/tls");
	json_t *body, *out = NULL;
	int r;

	if (!streq(onoff, "on") && !streq(onoff, "off"))
		return cli_usage_error(self, "hsts takes on or off, not '%s'", onoff);
	body = json_pack("{s:b}", "hsts", streq(onoff, "on"));
	r = client_call("PATCH", path, body, &out, &err);
	json_decref(body);
	if (r < 0)
		return nua_error_report(err);
	printf("%s: Strict-Transport-Security %s\n", name,
	       json_is_true(json_object_get(out, "hsts")) ? "sent over HTTPS" : "not sent");
	json_decref(out);
	return 0;
}

int cmd_tls(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "directory", required_argument, NULL, 'd' },
		{ "email", required_argument, NULL, 'e' },
		{ "ca-bundle", required_argument, NULL, 'b' },
		{ "issuer", required_argument, NULL, 'i' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd_struct *self = cli_find_command("tls");
	_cleanup_args_ struct cli_args pos = { 0 };
	struct config_opts co = { 0 };
	const char *cert = NULL, *key = NULL;
	bool json = false;
	int c;

	while ((c = cli_getopt_args(self, argc, argv, "", longopts, &pos)) != -1) {
		switch (c) {
		case '?':
			return NUA_EINPUT;
		case 'j':
			json = true;
			break;
		case 'c':
			cert = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		case 'd':
			co.directory = optarg;
			break;
		case 'e':
			co.email = optarg;
			break;
		case 'b':
			co.ca_bundle = optarg;
			break;
		case 'i':
			co.issuer = optarg;
			break;
		}
	}
	if (pos.n == 0 || (pos.n == 1 && streq(pos.v[0], "ls")))
		return tls_ls(json);
	if (pos.n == 1 && streq(pos.v[0], "ca"))
		return tls_ca();
	if (pos.n == 1 && streq(pos.v[0], "config"))
		return tls_config(&co, json);
	if (pos.n == 2 && streq(pos.v[0], "renew"))
		return tls_renew(pos.v[1], json);
	if (pos.n == 2 && streq(pos.v[0], "set"))
		return tls_set(self, pos.v[1], cert, key, json);
	if (pos.n == 3 && streq(pos.v[0], "hsts"))
		return tls_hsts(self, pos.v[1], pos.v[2]);
	return cli_usage_error(self, "unknown use of tls; see 'nua help tls'");
}

static void print_domains(json_t *o)
{
	json_t *e;
	size_t i;

	printf("%-40s %-8s %s\n", "DOMAIN", "KIND", "URL");
	if (json_string_value(json_object_get(o, "domain")))
		printf("%-40s %-8s %s\n", json_string_value(json_object_get(o, "domain")), "main",
		       json_string_value(json_object_get(o, "url")));
	json_array_foreach(json_object_get(o, "aliases"), i, e)
		printf("%-40s %-8s %s\n", json_string_value(json_object_get(e, "domain")),
		       json_is_true(json_object_get(e, "redirect")) ? "redirect" : "alias",
		       json_string_value(json_object_get(e, "url")));
}

int cmd_domain(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "redirect", no_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd_struct *self = cli_find_command("domain");
	_cleanup_args_ struct cli_args pos = { 0 };
	_cleanup_error_ struct nua_error *err = NULL;
	_cleanup_free_ char *path = NULL;
	const char *method = "GET", *name;
	json_t *body = NULL, *out = NULL;
	bool json = false, redirect = false;
	int c, r;

	while ((c = cli_getopt_args(self, argc, argv, "", longopts, &pos)) != -1) {
		switch (c) {
		case '?':
			return NUA_EINPUT;
		case 'j':
			json = true;
			break;
		case 'r':
			redirect = true;
			break;
		}
	}
	if (pos.n == 3 && (streq(pos.v[0], "add") || streq(pos.v[0], "rm"))) {
		method = streq(pos.v[0], "add") ? "POST" : "DELETE";
		name = pos.v[1];
		body = streq(pos.v[0], "add")
			       ? json_pack("{s:s, s:b}", "domain", pos.v[2], "redirect", redirect)
			       : json_pack("{s:s}", "domain", pos.v[2]);
	} else if (pos.n == 1 && !redirect) {
		name = pos.v[0];
	} else {
		return cli_usage_error(self, "unknown use of domain; see 'nua help domain'");
	}
	if (redirect && !streq(method, "POST"))
		return cli_usage_error(self, "--redirect is for 'add'");
	path = client_instance_path(name, "/domains");
	r = client_call(method, path, body, &out, &err);
	json_decref(body);
	if (r < 0)
		return nua_error_report(err);
	if (json) {
		cli_print_json(out);
	} else {
		print_domains(out);
		json_decref(out);
	}
	return 0;
}
