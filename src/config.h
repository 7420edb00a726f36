/* nua-config.toml: a package's manifest, parsed and validated into one typed
 * structure. The key names and meanings are those of the Python Nua, so that
 * its packages read here; docs/nua-config.md is the reference for package
 * authors.
 *
 * Every problem found is reported with its file, line and column, all of
 * them at once: a package author fixes a file in one pass, not one error per
 * run. A config that loads is complete: aliases resolved, defaults filled in,
 * {placeholders} of the metadata expanded; consumers need no checks of their
 * own. */
#ifndef NUA_CONFIG_H
#define NUA_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "toml.h"

/* An owned array of owned strings. */
struct config_strv {
	char **v;
	size_t n, alloc;
};

/* A version constraint such as ">=14, <16": every clause must hold. */
enum config_version_op {
	VERSION_EQ,     /* ==14.2 (==14.* is VERSION_PREFIX) */
	VERSION_NE,     /* !=14.2, !=14.* */
	VERSION_GE,     /* >= */
	VERSION_LE,     /* <= */
	VERSION_GT,     /* > */
	VERSION_LT,     /* < */
	VERSION_COMPAT, /* ~=14.2: >=14.2 and ==14.* */
	VERSION_CARET,  /* ^14.2: >=14.2 and <15 */
	VERSION_PREFIX, /* 14, ==14.*: 14 and every 14.x */
};

#define CONFIG_VERSION_PARTS 4
#define CONFIG_VERSION_CLAUSES 8

struct config_version_clause {
	enum config_version_op op;
	bool wildcard; /* NE written with ".*" */
	int nparts;
	unsigned long part[CONFIG_VERSION_PARTS];
};

struct config_version_constraint {
	size_t n;
	struct config_version_clause clause[CONFIG_VERSION_CLAUSES];
};

enum config_env_kind {
	CONFIG_ENV_VALUE,       /* KEY = "text", may use {OTHER_KEY} */
	CONFIG_ENV_FROM,        /* KEY = { from = "database", key = "POSTGRES_PASSWORD" } */
	CONFIG_ENV_RANDOM,      /* KEY = { random = true, length = 24 } */
	CONFIG_ENV_UNIQUE_USER, /* KEY = { unique-user = true } */
	CONFIG_ENV_UNIQUE_DB,   /* KEY = { unique-db = true } */
	CONFIG_ENV_EXTERNAL_IP, /* KEY = { external-ip = true }: the host's public address */
};

struct config_env {
	char *key;
	enum config_env_kind kind;
	char *value;    /* VALUE: the text as written ({OTHER} kept for deploy time) */
	char *from;     /* FROM: a resource or volume name; "" is the instance itself */
	char *from_key; /* FROM: the variable (or property: domain, hostname...) taken */
	int length;     /* RANDOM: characters, default 24 */
	bool integer;   /* RANDOM: type = "int": a random 63-bit integer instead */
	bool persist;   /* generated kinds: made once, kept across redeploys (default) */
	bool display;   /* generated kinds: shown to the operator once made */
	struct toml_pos pos;       /* where the key was written */
	struct toml_pos value_pos; /* where the value was written */
};

struct config_env_list {
	struct config_env *v;
	size_t n, alloc;
};

/* A port number, written as a number or taken from the environment
 * ({ key = "PORT" }). Both zero/NULL when not given. */
struct config_port_ref {
	int number;
	char *env;
};

enum config_protocol { CONFIG_TCP, CONFIG_UDP };

struct config_port {
	char *name;                      /* [port.NAME] */
	struct config_port_ref container; /* required */
	struct config_port_ref host;     /* bound on the host; unset: none */
	struct config_port_ref proxy;    /* public port; [port.web] defaults to 443 or 80 */
	enum config_protocol protocol;   /* default tcp */
	bool ssl;                        /* default true */
	struct toml_pos pos;             /* the NAME in [port.NAME] */
};

struct config_backup {
	bool set;          /* the table was given */
	char *method;      /* pg_dump, pg_dumpall, mysqldump, mongodump, redis_dump, tgz_volumes */
	int64_t frequency; /* seconds; 0 when not given */
	char *destination; /* NULL: the default restic repository */
	bool pause;        /* freeze the app while its volumes are read */
	json_t *options;   /* free-form table, or NULL */
};

enum config_volume_type {
	CONFIG_VOLUME_MANAGED,   /* kept by Nua under the instance, backed up */
	CONFIG_VOLUME_DIRECTORY, /* a host directory bind-mounted */
	CONFIG_VOLUME_TMPFS,     /* memory, lost at every restart */
};

struct config_volume {
	char *name;   /* managed: required; names the data kept */
	char *target; /* absolute, normalised path in the container */
	enum config_volume_type type;
	char *source; /* DIRECTORY: the absolute host path */
	char *driver; /* MANAGED: NULL for the local driver */
	uint64_t size;         /* bytes; 0 when not given */
	int mode;              /* permission bits, -1 when not given */
	bool read_only;
	json_t *driver_options; /* options for a non-local driver, as given, or NULL */
	struct config_backup backup;
	struct toml_pos pos; /* the [[volume]] header */
};

struct config_volume_list {
	struct config_volume *v;
	size_t n, alloc;
};

struct config_resource {
	char *name;    /* host name and variable prefix: [a-z][a-z0-9-]* */
	char *type;    /* postgres, mariadb, redis, redis-cache, mongodb, sqlite, docker-image */
	char *version; /* the constraint as written, or NULL */
	struct config_version_constraint constraint; /* n == 0 when no version */
	char *base_image;               /* docker-image: the image reference */
	bool network;                   /* reachable on the instance's network (default true) */
	bool dedicated;                 /* a server of its own rather than the shared one */
	struct config_strv connector;   /* client packages to install in the app image */
	struct config_env_list env;     /* the resource's own environment */
	struct config_volume_list volumes;
	json_t *docker;                 /* docker driver options, or NULL */
	struct config_backup backup;
	struct toml_pos pos; /* the [[resource]] header */
};

struct config_resource_list {
	struct config_resource *v;
	size_t n, alloc;
};

/* [[process]]: one of several long-running commands of the container. */
struct config_process {
	char *name;    /* [a-z0-9][a-z0-9-]*, at most 32 */
	char *command; /* run with /bin/sh -c */
	struct toml_pos pos;
};

/* [[cron]]: a command run in the container on a schedule (cron.h). */
struct config_cron {
	char *name;
	char *schedule;
	char *command;
	struct toml_pos pos;
};

/* [[template]]: a file written at each start from a template of the
 * package, filled from the environment (template.h). */
struct config_template {
	char *source; /* relative path in the package */
	char *target; /* absolute path in the container */
	int mode;     /* permission bits; 0644 by default */
	struct toml_pos pos, source_pos;
};

struct nua_config {
	char *file; /* the nua-config.toml read, as named to config_load */
	char *dir;  /* the package directory (the sources), or NULL for a buffer */

	struct {
		char *id;      /* [a-z0-9][a-z0-9-]*, at most 63 */
		char *version; /* [A-Za-z0-9][A-Za-z0-9._+-]* */
		int64_t release; /* default 1 */
		char *title, *author, *tagline, *description, *website;
		char *license; /* from [metadata] or [build] */
		char *icon;    /* relative path in the package (PNG or SVG), or NULL */
		struct config_strv tags, profile;
		struct toml_pos icon_pos;
	} metadata;

	struct {
		struct config_strv packages, meta_packages, pip_install;
		struct config_strv before_build, build, test;
		char *project; /* relative path in the sources */
		char *src_url, *src_checksum; /* "sha256:" + 64 lowercase hex digits */
		char *git_url, *git_branch;
		char *base_image;
		char *method; /* "build" or "wrap"; NULL: wrap when base-image is set */
		char *builder, *builder_version;
		char *document_root;
	} build;

	struct {
		struct config_strv packages, start;
		struct config_strv migrate; /* run once before a new version serves */
		struct config_strv first_start; /* run once, before the first start */
		char *user, *workdir;
		uint64_t memory; /* bytes; 0 = no limit */
		double cpus;     /* 0 = no limit */
		int64_t pids;    /* 0 = no limit */
	} run;

	struct config_env_list env;

	struct config_port *ports;
	size_t n_ports, alloc_ports;

	struct config_volume_list volumes;
	struct config_resource_list resources;

	struct config_process *processes;
	size_t n_processes, alloc_processes;
	struct config_cron *crons;
	size_t n_crons, alloc_crons;
	struct config_template *templates;
	size_t n_templates, alloc_templates;

	struct {
		bool set;                   /* [healthcheck] was given */
		struct config_strv command; /* command(s) run in the container, or */
		char *path;                 /* an HTTP GET on the web port */
		int64_t interval, timeout, retries, start_period; /* seconds; 5, 30, 3, 120 */
	} healthcheck;

	struct config_backup backup;
	json_t *docker; /* the [docker] table as given, or NULL */

	/* [admin]: the [env] keys that hold the first admin's login and
	 * password, shown by `nua install`. NULL when not given. */
	struct {
		char *user_key, *password_key;
	} admin;
};

/* Load the package manifest at path: a nua-config.toml, or a directory
 * holding one (DIR/nua-config.toml, else DIR/nua/nua-config.toml as the
 * Python Nua allowed). On success returns 0 and *out owns the config (free
 * it with config_free). A file that cannot be read is *err (NUA_EINPUT,
 * "cannot read 'DIR/nua-config.toml': ..."), with nothing added to diags.
 * Problems in the content are added to diags, every one of them, sorted by
 * position; the function then returns -1 with *out NULL. */
int config_load(const char *path, struct nua_config **out, struct diag_list *diags,
		struct nua_error **err);

/* The same over len bytes of buf (no NUL needed); name is the file name used
 * in diagnostics. cfg->dir is NULL. */
int config_parse_buffer(const char *name, const char *buf, size_t len, struct nua_config **out,
			struct diag_list *diags);

/* Release cfg and everything it holds. NULL is allowed. */
void config_free(struct nua_config *cfg);

/* The normalised configuration as JSON: canonical (dash) key names, aliases
 * resolved, defaults filled in, {placeholders} of the metadata expanded;
 * unset optional values are null. The caller owns the reference. */
json_t *config_to_json(const struct nua_config *cfg);

/* The package's image reference, "ID:VERSION-RELEASE". Caller frees. */
char *config_image_ref(const struct nua_config *cfg);

/* The port named name, or NULL. */
const struct config_port *config_port_find(const struct nua_config *cfg, const char *name);

/* ---- value grammars, shared with the other parsers of user input ---- */

/* A size: "256M", "1G", "1.5G", "512k", "64MiB", or bytes ("1048576").
 * Multiples are binary (k = 1024), as docker's --memory. Returns 0 and
 * *bytes (> 0), or -1. */
int config_parse_size(const char *s, uint64_t *bytes);

/* A duration: "30s", "15m", "24h", "7d", "2w", combinations such as "1h30m",
 * or plain seconds ("90"). Returns 0 and *seconds (> 0), or -1. */
int config_parse_duration(const char *s, int64_t *seconds);

/* Parse a version constraint: clauses separated by commas, each an operator
 * (>=, <=, >, <, ==, !=, ~=, ^, or none) and a dotted version of up to four
 * numbers; "==" and "!=" also take a trailing ".*". A bare version means
 * that version and every release of it ("14" takes 14.6). Returns 0, or -1
 * with *why (owned by the caller) saying what is wrong, for example that no
 * version can satisfy ">=16, <14". */
int config_version_parse(const char *s, struct config_version_constraint *out, char **why);

/* Whether version (such as "15.4" or Debian's "15+248"; its leading dotted
 * numbers count) satisfies c. An empty constraint takes every version. */
bool config_version_match(const struct config_version_constraint *c, const char *version);

#endif
