/* nua check [--json] [DIR|FILE]: validate a package's nua-config.toml. */
#define _GNU_SOURCE
#include <jansson.h>
#include <stdio.h>

#include "cli.h"
#include "config.h"
#include "strbuf.h"
#include "banned.h"

static const char *plural(size_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

static void print_summary(const struct nua_config *cfg)
{
	_cleanup_free_ char *ref = config_image_ref(cfg);
	struct strbuf sb = STRBUF_INIT;

	if (cfg->metadata.profile.n) {
		for (size_t i = 0; i < cfg->metadata.profile.n; i++)
			strbuf_addf(&sb, "%s%s", i ? "/" : "", cfg->metadata.profile.v[i]);
		strbuf_addstr(&sb, "; ");
	}
	strbuf_addf(&sb, "%zu %s, %zu %s, %zu %s", cfg->n_ports, plural(cfg->n_ports, "port", "ports"),
		    cfg->volumes.n, plural(cfg->volumes.n, "volume", "volumes"), cfg->resources.n,
		    plural(cfg->resources.n, "resource", "resources"));
	for (size_t i = 0; i < cfg->resources.n; i++)
		strbuf_addf(&sb, "%s %s (%s)", i ? "," : ":", cfg->resources.v[i].name,
			    cfg->resources.v[i].type);
	printf("%s: ok (%s)\n", ref, sb.buf);
	strbuf_release(&sb);
}

int cmd_check(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd_struct *self = cli_find_command("check");
	struct diag_list diags = DIAG_LIST_INIT;
	_cleanup_error_ struct nua_error *err = NULL;
	struct nua_config *cfg = NULL;
	const char *path = ".";
	bool json = false;
	int c;

	while ((c = cli_getopt(self, argc, argv, "", longopts)) != -1) {
		if (c == '?')
			return NUA_EINPUT;
		if (c == 'j')
			json = true;
	}
	if (argc - optind > 1)
		return cli_usage_error(self, "too many arguments");
	if (optind < argc)
		path = argv[optind];

	if (config_load(path, &cfg, &diags, &err) < 0) {
		if (err)
			return nua_error_report(err);
		diag_list_print(&diags, stderr);
		fprintf(stderr, "%zu %s found\n", diags.n, plural(diags.n, "problem", "problems"));
		diag_list_release(&diags);
		return NUA_EINPUT;
	}
	if (cfg->docker)
		fprintf(stderr, "warning: %s: [docker] applies to the docker driver only; the oci "
				"driver ignores it\n",
			cfg->file);
	for (size_t i = 0; i < cfg->resources.n; i++)
		if (cfg->resources.v[i].docker)
			fprintf(stderr, "warning: %s: the 'docker' table of resource '%s' applies to the "
					"docker driver only; the oci driver ignores it\n",
				cfg->file, cfg->resources.v[i].name);
	if (json) {
		json_t *j = config_to_json(cfg);

		json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		json_decref(j);
	} else {
		print_summary(cfg);
	}
	config_free(cfg);
	return 0;
}
