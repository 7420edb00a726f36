/* nua images [--json]; nua image rm REF | export REF FILE | import FILE
 * [--name REF]: the local image store. */
#define _GNU_SOURCE
#include <jansson.h>
#include <stdio.h>
#include <time.h>

#include "cli.h"
#include "image.h"
#include "paths.h"
#include "state.h"
#include "strbuf.h"
#include "util.h"
#include "banned.h"

static int open_state(struct state **st)
{
	_cleanup_error_ struct nua_error *err = NULL;
	_cleanup_free_ char *db = nua_root_path("nua.db");

	if (state_open(db, st, &err) < 0)
		return nua_error_report(err);
	return 0;
}

/* "12.3 MB", in powers of 1000 as docker prints sizes. */
static void human_size(int64_t n, char *buf, size_t len)
{
	static const char *const units[] = {"B", "kB", "MB", "GB", "TB"};
	double v = (double)n;
	size_t u = 0;

	while (v >= 1000 && u + 1 < ARRAY_SIZE(units)) {
		v /= 1000;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%lld B", (long long)n);
	else
		snprintf(buf, len, "%.*f %s", v < 10 ? 1 : 0, v, units[u]);
}

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

int cmd_images(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {NULL, 0, NULL, 0},
	};
	const struct cmd_struct *self = cli_find_command("images");
	_cleanup_error_ struct nua_error *err = NULL;
	struct image_rec *list = NULL;
	struct state *st = NULL;
	bool json = false;
	size_t n = 0;
	int c, r;

	while ((c = cli_getopt(self, argc, argv, "", longopts)) != -1) {
		if (c == '?')
			return NUA_EINPUT;
		if (c == 'j')
			json = true;
	}
	if (optind < argc)
		return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
	r = open_state(&st);
	if (r)
		return r;
	if (state_image_list(st, &list, &n, &err) < 0) {
		state_close(st);
		return nua_error_report(err);
	}
	if (json) {
		json_t *arr = json_array();

		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:I, s:s, s:I, s:I}",
							     "ref", list[i].ref, "id", list[i].id,
							     "version", list[i].version, "release",
							     (json_int_t)list[i].release, "digest",
							     list[i].digest, "size",
							     (json_int_t)list[i].size, "created",
							     (json_int_t)list[i].created_at));
		json_dumpf(arr, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		json_decref(arr);
	} else {
		size_t w = 3;

		for (size_t i = 0; i < n; i++)
			if (strlen(list[i].ref) > w)
				w = strlen(list[i].ref);
		printf("%-*s  %-12s  %-8s  %s\n", (int)w, "REF", "DIGEST", "SIZE", "CREATED");
		for (size_t i = 0; i < n; i++) {
			const char *d = list[i].digest;
			char size[32], age[64];

			if (starts_with(d, "sha256:"))
				d += 7;
			human_size(list[i].size, size, sizeof(size));
			human_age(list[i].created_at, age, sizeof(age));
			printf("%-*s  %-12.12s  %-8s  %s\n", (int)w, list[i].ref, d, size, age);
		}
	}
	image_rec_list_free(list, n);
	state_close(st);
	return 0;
}

static int image_rm(const struct cmd_struct *self, int argc, char **argv)
{
	_cleanup_error_ struct nua_error *err = NULL;
	struct state *st = NULL;
	int r;

	if (argc != 2)
		return cli_usage_error(self, "'image rm' takes one REF");
	r = open_state(&st);
	if (r)
		return r;
	r = image_remove(st, argv[1], &err);
	state_close(st);
	if (r < 0)
		return nua_error_report(err);
	printf("removed %s\n", argv[1]);
	return 0;
}

static int image_export_cmd(const struct cmd_struct *self, int argc, char **argv)
{
	_cleanup_error_ struct nua_error *err = NULL;
	struct state *st = NULL;
	int r;

	if (argc != 3)
		return cli_usage_error(self, "'image export' takes a REF and a FILE");
	r = open_state(&st);
	if (r)
		return r;
	r = image_export(st, argv[1], argv[2], &err);
	state_close(st);
	if (r < 0)
		return nua_error_report(err);
	printf("exported %s to %s\n", argv[1], argv[2]);
	return 0;
}

static int image_import_cmd(const struct cmd_struct *self, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"name", required_argument, NULL, 'n'},
	    {NULL, 0, NULL, 0},
	};
	_cleanup_error_ struct nua_error *err = NULL;
	_cleanup_free_ char *ref = NULL;
	const char *name = NULL, *file = NULL;
	struct state *st = NULL;
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
	r = open_state(&st);
	if (r)
		return r;
	r = image_import(st, file, name, &ref, &err);
	state_close(st);
	if (r < 0)
		return nua_error_report(err);
	printf("imported %s\n", ref);
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
