/* The normalised nua-config as JSON: what `nua check --json` prints and what
 * an image carries as /nua/metadata/nua-config.json. Keys use their
 * canonical dash spelling; every known key is present, null when unset. */
#define _GNU_SOURCE
#include "config.h"

#include "util.h"
#include "banned.h"

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

static json_t *int_or_null(long long v) { return v ? json_integer(v) : json_null(); }

static json_t *strv_json(const struct config_strv *l)
{
	json_t *a = json_array();

	for (size_t i = 0; i < l->n; i++)
		json_array_append_new(a, json_string(l->v[i]));
	return a;
}

static void set(json_t *o, const char *key, json_t *v) { json_object_set_new(o, key, v); }

static json_t *env_json(const struct config_env_list *l)
{
	json_t *env = json_object();

	for (size_t i = 0; i < l->n; i++) {
		const struct config_env *e = &l->v[i];
		json_t *v;

		if (e->kind == CONFIG_ENV_VALUE) {
			set(env, e->key, json_string(e->value));
			continue;
		}
		v = json_object();
		switch (e->kind) {
		case CONFIG_ENV_FROM:
			set(v, "from", json_string(e->from ? e->from : ""));
			set(v, "key", str_or_null(e->from_key));
			break;
		case CONFIG_ENV_RANDOM:
			set(v, "random", json_true());
			set(v, "type", json_string(e->integer ? "int" : "string"));
			set(v, "length", json_integer(e->length));
			break;
		case CONFIG_ENV_UNIQUE_USER:
			set(v, "unique-user", json_true());
			break;
		case CONFIG_ENV_UNIQUE_DB:
			set(v, "unique-db", json_true());
			break;
		case CONFIG_ENV_EXTERNAL_IP:
			set(v, "external-ip", json_true());
			break;
		case CONFIG_ENV_VALUE:
			BUG("handled above");
		}
		if (e->kind == CONFIG_ENV_RANDOM || e->kind == CONFIG_ENV_UNIQUE_USER ||
		    e->kind == CONFIG_ENV_UNIQUE_DB)
			set(v, "persist", json_boolean(e->persist));
		set(v, "display", json_boolean(e->display));
		set(env, e->key, v);
	}
	return env;
}

static json_t *port_ref_json(const struct config_port_ref *r)
{
	if (r->env)
		return json_pack("{s:s}", "key", r->env);
	return int_or_null(r->number);
}

static json_t *backup_json(const struct config_backup *b)
{
	json_t *o;

	if (!b->set)
		return json_null();
	o = json_object();
	set(o, "method", str_or_null(b->method));
	set(o, "frequency", int_or_null(b->frequency));
	set(o, "destination", str_or_null(b->destination));
	set(o, "pause", json_boolean(b->pause));
	set(o, "options", b->options ? json_incref(b->options) : json_null());
	return o;
}

static const char *volume_type_name(enum config_volume_type t)
{
	switch (t) {
	case CONFIG_VOLUME_MANAGED:
		return "managed";
	case CONFIG_VOLUME_DIRECTORY:
		return "directory";
	case CONFIG_VOLUME_TMPFS:
		return "tmpfs";
	}
	BUG("volume type %d", (int)t);
}

static json_t *volumes_json(const struct config_volume_list *l)
{
	json_t *a = json_array();

	for (size_t i = 0; i < l->n; i++) {
		const struct config_volume *v = &l->v[i];
		json_t *o = json_object();
		json_t *opt = json_object();
		char mode[16];

		set(o, "name", str_or_null(v->name));
		set(o, "target", json_string(v->target));
		set(o, "type", json_string(volume_type_name(v->type)));
		set(o, "source", str_or_null(v->source));
		set(o, "driver", json_string(v->driver ? v->driver : "local"));
		snprintf(mode, sizeof(mode), "%04o", v->mode >= 0 ? (unsigned)v->mode : 0u);
		set(opt, "size", int_or_null((long long)v->size));
		set(opt, "mode", v->mode >= 0 ? json_string(mode) : json_null());
		set(opt, "read-only", json_boolean(v->read_only));
		if (v->driver_options)
			json_object_update(opt, v->driver_options);
		set(o, "options", opt);
		set(o, "backup", backup_json(&v->backup));
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *resources_json(const struct config_resource_list *l)
{
	json_t *a = json_array();

	for (size_t i = 0; i < l->n; i++) {
		const struct config_resource *r = &l->v[i];
		json_t *o = json_object();

		set(o, "name", json_string(r->name));
		set(o, "type", json_string(r->type));
		set(o, "version", str_or_null(r->version));
		set(o, "base-image", str_or_null(r->base_image));
		set(o, "network", json_boolean(r->network));
		set(o, "dedicated", json_boolean(r->dedicated));
		set(o, "connector", strv_json(&r->connector));
		set(o, "env", env_json(&r->env));
		set(o, "volume", volumes_json(&r->volumes));
		set(o, "docker", r->docker ? json_incref(r->docker) : json_null());
		set(o, "backup", backup_json(&r->backup));
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *jobs_json(const struct nua_config *cfg)
{
	json_t *a = json_array();

	for (size_t i = 0; i < cfg->n_processes; i++)
		json_array_append_new(a, json_pack("{s:s, s:s}", "name", cfg->processes[i].name,
						   "command", cfg->processes[i].command));
	return a;
}

json_t *config_to_json(const struct nua_config *cfg)
{
	json_t *root = json_object(), *o, *ports;
	char *ref = config_image_ref(cfg);

	set(root, "image", json_string(ref));
	free(ref);

	o = json_object();
	set(o, "id", json_string(cfg->metadata.id));
	set(o, "version", json_string(cfg->metadata.version));
	set(o, "release", json_integer(cfg->metadata.release));
	set(o, "title", str_or_null(cfg->metadata.title));
	set(o, "author", str_or_null(cfg->metadata.author));
	set(o, "tagline", str_or_null(cfg->metadata.tagline));
	set(o, "description", str_or_null(cfg->metadata.description));
	set(o, "website", str_or_null(cfg->metadata.website));
	set(o, "tags", strv_json(&cfg->metadata.tags));
	set(o, "license", str_or_null(cfg->metadata.license));
	set(o, "profile", strv_json(&cfg->metadata.profile));
	set(o, "icon", str_or_null(cfg->metadata.icon));
	set(root, "metadata", o);

	o = json_object();
	set(o, "method", json_string(cfg->build.method));
	set(o, "builder", str_or_null(cfg->build.builder));
	set(o, "builder-version", str_or_null(cfg->build.builder_version));
	set(o, "base-image", str_or_null(cfg->build.base_image));
	set(o, "src-url", str_or_null(cfg->build.src_url));
	set(o, "src-checksum", str_or_null(cfg->build.src_checksum));
	set(o, "git-url", str_or_null(cfg->build.git_url));
	set(o, "git-branch", str_or_null(cfg->build.git_branch));
	set(o, "project", json_string(cfg->build.project));
	set(o, "packages", strv_json(&cfg->build.packages));
	set(o, "meta-packages", strv_json(&cfg->build.meta_packages));
	set(o, "pip-install", strv_json(&cfg->build.pip_install));
	set(o, "before-build", strv_json(&cfg->build.before_build));
	set(o, "build", strv_json(&cfg->build.build));
	set(o, "test", strv_json(&cfg->build.test));
	set(o, "document-root", str_or_null(cfg->build.document_root));
	set(root, "build", o);

	o = json_object();
	set(o, "packages", strv_json(&cfg->run.packages));
	set(o, "start", strv_json(&cfg->run.start));
	set(o, "migrate", strv_json(&cfg->run.migrate));
	set(o, "first-start", strv_json(&cfg->run.first_start));
	set(o, "user", str_or_null(cfg->run.user));
	set(o, "workdir", str_or_null(cfg->run.workdir));
	set(o, "memory", int_or_null((long long)cfg->run.memory));
	set(o, "cpus", cfg->run.cpus > 0 ? json_real(cfg->run.cpus) : json_null());
	set(o, "pids", int_or_null(cfg->run.pids));
	set(root, "run", o);

	set(root, "env", env_json(&cfg->env));

	ports = json_object();
	for (size_t i = 0; i < cfg->n_ports; i++) {
		const struct config_port *p = &cfg->ports[i];

		o = json_object();
		set(o, "container", port_ref_json(&p->container));
		set(o, "host", port_ref_json(&p->host));
		set(o, "proxy", port_ref_json(&p->proxy));
		set(o, "protocol", json_string(p->protocol == CONFIG_UDP ? "udp" : "tcp"));
		set(o, "ssl", json_boolean(p->ssl));
		set(ports, p->name, o);
	}
	set(root, "port", ports);

	set(root, "volume", volumes_json(&cfg->volumes));
	set(root, "resource", resources_json(&cfg->resources));

	if (cfg->healthcheck.set) {
		o = json_object();
		set(o, "command", strv_json(&cfg->healthcheck.command));
		set(o, "path", str_or_null(cfg->healthcheck.path));
		set(o, "interval", json_integer(cfg->healthcheck.interval));
		set(o, "timeout", json_integer(cfg->healthcheck.timeout));
		set(o, "retries", json_integer(cfg->healthcheck.retries));
		set(o, "start-period", json_integer(cfg->healthcheck.start_period));
		set(root, "healthcheck", o);
	} else {
		set(root, "healthcheck", json_null());
	}
	set(root, "backup", backup_json(&cfg->backup));
	set(root, "docker", cfg->docker ? json_incref(cfg->docker) : json_null());
	set(root, "process", jobs_json(cfg));
	o = json_array();
	for (size_t i = 0; i < cfg->n_crons; i++)
		json_array_append_new(o, json_pack("{s:s, s:s, s:s}", "name", cfg->crons[i].name,
						   "schedule", cfg->crons[i].schedule, "command",
						   cfg->crons[i].command));
	set(root, "cron", o);
	o = json_array();
	for (size_t i = 0; i < cfg->n_templates; i++) {
		char mode[8];

		snprintf(mode, sizeof(mode), "%04o", (unsigned)cfg->templates[i].mode);
		json_array_append_new(o, json_pack("{s:s, s:s, s:s}", "source",
						   cfg->templates[i].source, "target",
						   cfg->templates[i].target, "mode", mode));
	}
	set(root, "template", o);
	if (cfg->admin.password_key)
		set(root, "admin", json_pack("{s:o, s:s}", "user-key", str_or_null(cfg->admin.user_key),
					     "password-key", cfg->admin.password_key));
	else
		set(root, "admin", json_null());
	return root;
}
