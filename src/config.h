/* nua-config.toml: a package's manifest, parsed and validated into one typed
 * structure. The key names and meanings are those of the Python Nua so that
 * its packages read here; docs/nua-config.md is the reference.
 *
 * Every problem found is reported with its file, line and column, all of them
 * at once: a package author fixes a file in one pass, not one error per run. */
#ifndef NUA_CONFIG_H
#define NUA_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "toml.h"

/* A list of owned strings. */
struct strlist {
	char **items;
	size_t n, alloc;
};

void strlist_push(struct strlist *l, const char *s);
void strlist_release(struct strlist *l);

enum env_kind {
	ENV_VALUE,       /* KEY = "value", may use {OTHER_KEY} */
	ENV_FROM,        /* KEY = { from = "database", key = "POSTGRES_PASSWORD" } */
	ENV_RANDOM,      /* KEY = { random = true, length = 24 }: made once, kept */
	ENV_UNIQUE_USER, /* KEY = { unique_user = true } */
	ENV_UNIQUE_DB,   /* KEY = { unique_db = true } */
};

struct config_env {
	char *key;
	enum env_kind kind;
	char *value;    /* ENV_VALUE */
	char *from;     /* ENV_FROM: a resource name, or "" for the instance */
	char *from_key; /* ENV_FROM: the variable of that resource */
	int length;     /* ENV_RANDOM */
	struct toml_pos pos;
};

struct config_port {
	char *name;
	int container;       /* 0 when taken from the environment */
	char *container_env; /* container = { key = "PORT" } */
	int proxy;           /* public port; 0 = default (80/443 for "web") */
	int host;            /* port bound on the host; 0 = none */
	char *protocol;      /* "tcp" or "udp" */
	bool ssl;
	struct toml_pos pos;
};

struct config_backup {
	char *method;      /* NULL when not set */
	int64_t frequency; /* seconds; 0 when not set */
	json_t *options;   /* free-form table, or NULL */
};

struct config_volume {
	char *name;
	char *target;
	char *type;   /* "managed", "directory", "tmpfs" */
	char *source; /* host path, for "directory" */
	uint64_t size;
	char *mode;
	bool read_only;
	struct config_backup backup;
	struct toml_pos pos;
};

struct config_resource {
	char *name;
	char *type;
	char *version; /* a constraint such as ">=14, <16", or NULL */
	struct config_backup backup;
	json_t *env; /* table of strings, or NULL */
	struct toml_pos pos;
};

struct nua_config {
	char *file;

	struct {
		char *id, *version;
		int64_t release;
		char *title, *author, *tagline, *description, *website, *license;
		struct strlist tags, profile;
	} metadata;

	struct {
		struct strlist packages, build, test;
		char *project, *src_url, *src_checksum, *git_url, *git_branch;
		char *builder, *builder_version;
		char *document_root, *license;
	} build;

	struct {
		struct strlist packages, start;
		char *user, *workdir;
		uint64_t memory; /* bytes; 0 = no limit */
		double cpus;     /* 0 = no limit */
		int64_t pids;    /* 0 = no limit */
	} run;

	struct config_env *env;
	size_t n_env, alloc_env;
	struct config_port *ports;
	size_t n_ports, alloc_ports;
	struct config_volume *volumes;
	size_t n_volumes, alloc_volumes;
	struct config_resource *resources;
	size_t n_resources, alloc_resources;

	struct {
		bool set;
		struct strlist command;
		char *path;
		int64_t interval, timeout, retries, start_period;
	} healthcheck;

	struct config_backup backup;
	json_t *docker; /* the [docker] table as JSON, or NULL */
};

/* Load path (a nua-config.toml, or a directory holding one). On success
 * returns 0 and *out owns the config (config_free). An unreadable file is
 * *err (status NUA_EINPUT); problems in the content are added to diags,
 * every one of them, and the function returns -1 with nothing in *out. */
int config_load(const char *path, struct nua_config **out, struct diag_list *diags,
		struct nua_error **err);

/* The same over a buffer; name is the file name used in diagnostics. */
int config_parse_buffer(const char *name, const char *buf, size_t len, struct nua_config **out,
			struct diag_list *diags);

void config_free(struct nua_config *cfg);

/* The normalised configuration: canonical (dash) key names, aliases
 * resolved, defaults filled in, {placeholders} expanded. Caller owns the
 * reference. */
json_t *config_to_json(const struct nua_config *cfg);

/* Parse a size such as "256M", "1G", "512k", "1048576" (binary multiples).
 * Returns 0 and *bytes, or -1. */
int parse_size(const char *s, uint64_t *bytes);

/* Parse a duration such as "30s", "15m", "24h", "7d", "2w". */
int parse_duration(const char *s, int64_t *seconds);

/* Check a version constraint: clauses separated by commas, each an optional
 * operator (>=, <=, >, <, ==, !=, ~=, ^, ~) and a dotted version. */
bool valid_version_constraint(const char *s);

/* The package's image reference, "ID:VERSION-RELEASE". Caller frees. */
char *config_image_ref(const struct nua_config *cfg);

#endif
