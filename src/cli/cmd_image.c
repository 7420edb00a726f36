/* nua images [--json]; nua image rm REF | export REF FILE | import FILE
 * [--name REF]: the daemon's image store, through its API. */
#define _GNU_SOURCE
#include <jansson.h>
#include <stdio.h>
#include <time.h>

#include "cli.h"
#include "client.h"
#include "util.h"
#include "banned.h"

/* "3 minutes ago". */
static void human_age(int64_t then, char *buf, size_t len)
{
	static const struct {
		int64_t secs;
		const char *one, *many;
	} steps[] = {
	    {365 * 86400, "year", "years"}, {30 * 86400, "month", "months"},
	    {7 * 86400, "week", "weeks"},   {86400, "day", "days"},
	    {3600, "hour", "hours"},	    {60, "minute", "minutes"},
	};
	int64_t d = (int64_t)time(NULL) - then;

	if (d < 0)
		d = 0;
	for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
		if (d >= steps[i].secs) {
			int64_t k = d / steps[i].secs;

			snprintf(buf, len, "%lld %s ago", (long long)k,
				 k == 1 ? steps[i].one : steps[i].many);
			return;
		}
	}
	snprintf(buf, len, "%lld second%s ago", (long long)d, d == 1 ? "" : "s");
}

/* An image object of the API as `nua images --json` has always printed
 * it: ref, id, version, release, digest, size and created (the API's
 * created_at) first, then what else the daemon says. */
static json_t *image_json(json_t *img)
{
	static const char *const first[] = { "ref", "id", "version", "release", "digest", "size" };
	json_t *o = json_object(), *v;
	const char *key;

	for (size_t i = 0; i < ARRAY_SIZE(first); i++)
		if ((v = json_object_get(img, first[i])))
			json_object_set(o, first[i], v);
	if ((v = json_object_get(img, "created_at")))
		json_object_set(o, "created", v);
	json_object_foreach(img, key, v) {
		if (!json_object_get(o, key))
			json_object_set(o, key, v);
	}
	return o;
}

int cmd_images(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd_struct *self = cli_find_command("images");
	_cleanup_error_ struct nua_error *err = NULL;
	json_t *list = NULL, *img;
	bool json = false;
	size_t i, w = 3;
	int c;

	while ((c = cli_getopt(self, argc, argv, "", longopts)) != -1) {
		if (c == '?')
			return NUA_EINPUT;
		if (c == 'j')
			json = true;
	}
	if (optind < argc)
		return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
	if (client_call("GET", "/v1/images", NULL, &list, &err) < 0)
		return nua_error_report(err);
	if (!json_is_array(list)) {
		json_decref(list);
		return cli_error(NUA_EFAIL,
				 "the nua daemon did not answer 'GET /v1/images' with a list");
	}
	if (json) {
		json_t *arr = json_array();

		json_array_foreach(list, i, img) {
			json_array_append_new(arr, image_json(img));
		}
		cli_print_json(arr);
		json_decref(list);
		return 0;
	}
	json_array_foreach(list, i, img) {
		if (strlen(cli_json_str(img, "ref", "")) > w)
			w = strlen(cli_json_str(img, "ref", ""));
	}
	printf("%-*s  %-12s  %-8s  %s\n", (int)w, "REF", "DIGEST", "SIZE", "CREATED");
	json_array_foreach(list, i, img) {
		const char *d = cli_json_str(img, "digest", "-");
		long long size = 0, created = 0;
		char hsize[32] = "-", age[64] = "-";

		if (starts_with(d, "sha256:"))
			d += 7;
		if (cli_json_int(img, "size", &size))
			cli_human_size(size, hsize, sizeof(hsize));
		if (cli_json_int(img, "created_at", &created))
			human_age(created, age, sizeof(age));
		printf("%-*s  %-12.12s  %-8s  %s\n", (int)w, cli_json_str(img, "ref", "-"), d,
		       hsize, age);
	}
	json_decref(list);
	return 0;
}

static int image_rm(const struct cmd_struct *self, int argc, char **argv)
{
	_cleanup_error_ struct nua_error *err = NULL;
	_cleanup_free_ char *ref = NULL, *path = NULL;

	if (argc != 2)
		return cli_usage_error(self, "'image rm' takes one REF");
	ref = client_escape(argv[1]);
	path = xasprintf("/v1/images/%s", ref);
	if (client_call("DELETE", path, NULL, NULL, &err) < 0)
		return nua_error_report(err);
	printf("removed %s\n", argv[1]);
	return 0;
}

static int image_export_cmd(const struct cmd_struct *self, int argc, char **argv)
{
	_cleanup_error_ struct nua_error *err = NULL;
	_cleanup_free_ char *ref = NULL, *path = NULL, *file = NULL;
	json_t *body;
	int r;

	if (argc != 3)
		return cli_usage_error(self, "'image export' takes a REF and a FILE");
	ref = client_escape(argv[1]);
	path = xasprintf("/v1/images/%s/export", ref);
	file = cli_absolute_path(argv[2]);
	body = json_pack("{s:s}", "path", file);
	r = client_call("POST", path, body, NULL, &err);
	json_decref(body);
	if (r < 0)
		return nua_error_report(err);
	printf("exported %s to %s\n", argv[1], argv[2]);
	return 0;
}

static int image_import_cmd(const struct cmd_struct *self, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	_cleanup_error_ struct nua_error *err = NULL;
	_cleanup_free_ char *abs = NULL;
	const char *name = NULL, *file = NULL;
	json_t *body, *img = NULL;
	int c, r;

	/* Options may follow the FILE: getopt stops at it, so take it and go
	 * on. */
	optind = 1;
	for (;;) {
		c = cli_getopt(self, argc, argv, "n:", longopts);
		if (c == '?')
			return NUA_EINPUT;
		if (c == 'n') {
			name = optarg;
			continue;
		}
		if (optind >= argc)
			break;
		if (file)
			return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
		file = argv[optind++];
	}
	if (!file)
		return cli_usage_error(self, "'image import' takes a FILE");
	abs = cli_absolute_path(file);
	body = json_pack("{s:s, s:s?}", "path", abs, "ref", name);
	r = client_call("POST", "/v1/images/import", body, &img, &err);
	json_decref(body);
	if (r < 0)
		return nua_error_report(err);
	printf("imported %s\n", cli_json_str(img, "ref", name ? name : file));
	json_decref(img);
	return 0;
}

int cmd_image(int argc, char **argv)
{
	const struct cmd_struct *self = cli_find_command("image");
	const char *sub;
	int c;

	while ((c = cli_getopt(self, argc, argv, "", NULL)) != -1)
		if (c == '?')
			return NUA_EINPUT;
	if (optind >= argc)
		return cli_usage_error(self, "missing subcommand: rm, export or import");
	sub = argv[optind];
	argc -= optind;
	argv += optind;
	if (streq(sub, "rm"))
		return image_rm(self, argc, argv);
	if (streq(sub, "export"))
		return image_export_cmd(self, argc, argv);
	if (streq(sub, "import"))
		return image_import_cmd(self, argc, argv);
	return cli_usage_error(self, "unknown subcommand '%s': rm, export or import", sub);
}
