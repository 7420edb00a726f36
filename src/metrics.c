/* Resource use of instances: see metrics.h. */
#define _GNU_SOURCE
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "state.h"
#include "util.h"
#include "banned.h"

/* v1 memory.limit_in_bytes reads as PAGE_COUNTER_MAX pages (a little under
 * 2^63) when there is no limit; anything this large is no limit. */
#define V1_UNLIMITED (INT64_C(1) << 62)

/* ---- small parsers ---- */

static bool is_separator(char c, char sep)
{
	return c == sep || c == '\n' || (sep == ' ' && c == '\t');
}

/* True when token (tlen bytes) is one of the items of list (len bytes)
 * separated by sep (a space: by spaces and tabs) or a newline. */
static bool has_item(const char *list, size_t len, const char *token, size_t tlen, char sep)
{
	size_t i = 0;

	while (i < len) {
		size_t j = i;

		while (j < len && !is_separator(list[j], sep))
			j++;
		if (j - i == tlen && memcmp(list + i, token, tlen) == 0)
			return true;
		i = j + 1;
	}
	return false;
}

/* An unsigned decimal with optional surrounding whitespace, at most
 * INT64_MAX. */
static int parse_u63(const char *s, int64_t *out)
{
	unsigned long long v;
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || v > INT64_MAX)
		return -1;
	while (*end == ' ' || *end == '\t' || *end == '\n')
		end++;
	if (*end)
		return -1;
	*out = (int64_t)v;
	return 0;
}

/* The number in the file dir/name. */
static int read_number(const char *dir, const char *name, int64_t *out)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	_cleanup_free_ char *text = NULL;
	size_t len;

	if (read_file(path, &text, &len) < 0)
		return -1;
	return parse_u63(text, out);
}

/* The number after key on its line "KEY VALUE" of the file dir/name, a
 * cgroup's flat keyed file such as memory.stat. */
static int read_keyed(const char *dir, const char *name, const char *key, int64_t *out)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	_cleanup_free_ char *text = NULL;
	size_t len, klen = strlen(key);

	if (read_file(path, &text, &len) < 0)
		return -1;
	for (char *line = text; *line;) {
		char *nl = strchr(line, '\n');

		if (nl)
			*nl = '\0';
		if (strncmp(line, key, klen) == 0 && (line[klen] == ' ' || line[klen] == '\t'))
			return parse_u63(line + klen, out);
		if (!nl)
			break;
		line = nl + 1;
	}
	return -1;
}

/* ---- where the cgroups are ---- */

/* One line of /proc/PID/cgroup, pointing into its text. */
struct cg_line {
	const char *ctl, *path; /* ctl is "" in the v2 line */
	size_t ctl_len, path_len;
	bool v2;
};

/* The next well-formed line "ID:CONTROLLERS:PATH" at *pos, advancing it;
 * false at the end. */
static bool next_cg_line(const char **pos, struct cg_line *ln)
{
	while (**pos) {
		const char *line = *pos, *end = strchrnul(line, '\n');
		const char *c1 = memchr(line, ':', (size_t)(end - line));
		const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;

		*pos = *end ? end + 1 : end;
		if (!c1 || !c2 || c1 == line || c2[1] != '/')
			continue;
		if (strspn(line, "0123456789") != (size_t)(c1 - line))
			continue;
		ln->ctl = c1 + 1;
		ln->ctl_len = (size_t)(c2 - c1 - 1);
		ln->path = c2 + 1;
		ln->path_len = (size_t)(end - c2 - 1);
		ln->v2 = c1 - line == 1 && line[0] == '0' && ln->ctl_len == 0;
		return true;
	}
	return false;
}

/* The line of the cgroup of controller, or the v2 line when controller is
 * NULL. */
static bool find_cg_line(const char *proc_cgroup, const char *controller, struct cg_line *ln)
{
	const char *pos = proc_cgroup;

	while (next_cg_line(&pos, ln)) {
		if (controller ? has_item(ln->ctl, ln->ctl_len, controller, strlen(controller), ',')
			       : ln->v2)
			return true;
	}
	return false;
}

/* A mounted hierarchy: dir shows the cgroup root (a path within the
 * hierarchy, "/" unless a subtree is mounted) there. */
struct cg_mount {
	char *dir, *root;
	char *controllers; /* comma-separated (or mount options holding them);
			      NULL for the v2 hierarchy */
};

struct cg_layout {
	struct cg_mount *m;
	size_t n, alloc;
};
#define CG_LAYOUT_INIT { NULL, 0, 0 }

/* Takes ownership of dir and root. */
static void layout_add(struct cg_layout *l, char *dir, char *root, const char *controllers)
{
	ALLOC_GROW(l->m, l->n + 1, l->alloc);
	l->m[l->n].dir = dir;
	l->m[l->n].root = root;
	l->m[l->n].controllers = controllers ? xstrdup(controllers) : NULL;
	l->n++;
}

static void layout_release(struct cg_layout *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->m[i].dir);
		free(l->m[i].root);
		free(l->m[i].controllers);
	}
	free(l->m);
	l->m = NULL;
	l->n = l->alloc = 0;
}

/* The hierarchies under sysfs, as metrics_sample_cgroup describes, for the
 * v1 controllers that proc_cgroup names. */
static void layout_from_sysfs(struct cg_layout *l, const char *proc_cgroup, const char *sysfs)
{
	_cleanup_free_ char *probe = xasprintf("%s/cgroup.controllers", sysfs);
	_cleanup_free_ char *unified = xasprintf("%s/unified", sysfs);
	const char *pos = proc_cgroup;
	struct cg_line ln;

	if (access(probe, F_OK) == 0)
		layout_add(l, xstrdup(sysfs), xstrdup("/"), NULL);
	else if (is_dir(unified))
		layout_add(l, TAKE_PTR(unified), xstrdup("/"), NULL);

	while (next_cg_line(&pos, &ln)) {
		_cleanup_free_ char *ctl = NULL;
		char *dir, *tok, *save = NULL;

		if (ln.v2 || ln.ctl_len == 0 || memchr(ln.ctl, '/', ln.ctl_len) ||
		    (ln.ctl_len == 2 && memcmp(ln.ctl, "..", 2) == 0))
			continue;
		ctl = xstrndup(ln.ctl, ln.ctl_len);
		dir = xasprintf("%s/%s", sysfs, ctl);
		if (is_dir(dir)) {
			layout_add(l, dir, xstrdup("/"), ctl);
			continue;
		}
		free(dir);
		/* Not mounted under the combined name: each controller on its
		 * own (or a symlink to the combined mount). */
		for (tok = strtok_r(ctl, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			if (streq(tok, ".."))
				continue;
			dir = xasprintf("%s/%s", sysfs, tok);
			if (is_dir(dir))
				layout_add(l, dir, xstrdup("/"), tok);
			else
				free(dir);
		}
	}
}

/* A mountinfo field with its octal escapes ("\040" for a space) undone. */
static char *unescape_field(const char *s)
{
	char *out = xmalloc(strlen(s) + 1), *o = out;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 4;
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
	return out;
}

/* The cgroup and cgroup2 mounts listed in the text of a mountinfo file:
 * "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE
 * SUPEROPTIONS", where a v1 hierarchy's superoptions name its
 * controllers. */
static void layout_from_mountinfo(struct cg_layout *l, const char *mountinfo)
{
	const char *pos = mountinfo;

	while (*pos) {
		const char *end = strchrnul(pos, '\n');
		_cleanup_free_ char *line = xstrndup(pos, (size_t)(end - pos));
		char *f[64], *save = NULL, *tok;
		size_t nf = 0, dash = 0;

		pos = *end ? end + 1 : end;
		for (tok = strtok_r(line, " ", &save); tok && nf < ARRAY_SIZE(f);
		     tok = strtok_r(NULL, " ", &save))
			f[nf++] = tok;
		for (size_t i = 6; i < nf; i++) {
			if (streq(f[i], "-")) {
				dash = i;
				break;
			}
		}
		if (!dash || dash + 3 >= nf)
			continue;
		if (streq(f[dash + 1], "cgroup2"))
			layout_add(l, unescape_field(f[4]), unescape_field(f[3]), NULL);
		else if (streq(f[dash + 1], "cgroup"))
			layout_add(l, unescape_field(f[4]), unescape_field(f[3]), f[dash + 3]);
	}
}

/* True when the path has a ".." component: a cgroup outside this cgroup
 * namespace, which no mount here shows. */
static bool path_escapes(const char *path, size_t len)
{
	for (size_t i = 0; i + 2 <= len; i++) {
		if ((i == 0 || path[i - 1] == '/') && path[i] == '.' && path[i + 1] == '.' &&
		    (i + 2 == len || path[i + 2] == '/'))
			return true;
	}
	return false;
}

/* The directory of the cgroup proc_cgroup puts the process in for
 * controller (NULL: in the v2 hierarchy), or NULL when no mount in l shows
 * it. Caller frees. */
static char *cgroup_dir(const struct cg_layout *l, const char *proc_cgroup, const char *controller)
{
	struct cg_line ln;

	if (!find_cg_line(proc_cgroup, controller, &ln) || path_escapes(ln.path, ln.path_len))
		return NULL;
	for (size_t i = 0; i < l->n; i++) {
		const struct cg_mount *m = &l->m[i];
		const char *rel = ln.path;
		size_t rel_len = ln.path_len, root_len = strlen(m->root);

		if (controller ? !m->controllers || !has_item(m->controllers,
							       strlen(m->controllers),
							       controller, strlen(controller), ',')
			       : m->controllers != NULL)
			continue;
		while (root_len > 0 && m->root[root_len - 1] == '/')
			root_len--;
		if (root_len > 0) {
			/* A subtree is mounted: the cgroup must be inside it. */
			if (rel_len < root_len || memcmp(rel, m->root, root_len) != 0 ||
			    (rel_len > root_len && rel[root_len] != '/'))
				continue;
			rel += root_len;
			rel_len -= root_len;
		}
		while (rel_len > 0 && rel[rel_len - 1] == '/')
			rel_len--;
		if (rel_len == 0)
			return xstrdup(m->dir);
		return xasprintf("%s%s%.*s", m->dir, rel[0] == '/' ? "" : "/", (int)rel_len, rel);
	}
	return NULL;
}

/* ---- the counters ---- */

/* Each reader fills *out from the files of the cgroup at dir and returns 0,
 * or -1 when they cannot be read. */
typedef int (*counter_reader)(const char *dir, int64_t *out);

static int v2_cpu(const char *dir, int64_t *out)
{
	return read_keyed(dir, "cpu.stat", "usage_usec", out);
}

static int v1_cpu(const char *dir, int64_t *out)
{
	int64_t ns;

	if (read_number(dir, "cpuacct.usage", &ns) < 0)
		return -1;
	*out = ns / 1000;
	return 0;
}

/* Usage less the inactive page cache, which the kernel reclaims before it
 * would fail an allocation: the figure docker shows, and the one that
 * approaches the limit before an OOM kill. */
static int memory_in_use(const char *dir, const char *usage_file, const char *inactive_key,
			 int64_t *out)
{
	int64_t usage, inactive;

	if (read_number(dir, usage_file, &usage) < 0)
		return -1;
	if (read_keyed(dir, "memory.stat", inactive_key, &inactive) == 0 && inactive <= usage)
		usage -= inactive;
	*out = usage;
	return 0;
}

static int v2_memory(const char *dir, int64_t *out)
{
	return memory_in_use(dir, "memory.current", "inactive_file", out);
}

static int v1_memory(const char *dir, int64_t *out)
{
	return memory_in_use(dir, "memory.usage_in_bytes", "total_inactive_file", out);
}

static int v2_memory_limit(const char *dir, int64_t *out)
{
	_cleanup_free_ char *path = xasprintf("%s/memory.max", dir);
	_cleanup_free_ char *text = NULL;
	size_t len;

	if (read_file(path, &text, &len) < 0)
		return -1;
	if (streq(text, "max") || streq(text, "max\n")) {
		*out = -1;
		return 0;
	}
	return parse_u63(text, out);
}

static int v1_memory_limit(const char *dir, int64_t *out)
{
	if (read_number(dir, "memory.limit_in_bytes", out) < 0)
		return -1;
	if (*out >= V1_UNLIMITED)
		*out = -1;
	return 0;
}

static int pids_current(const char *dir, int64_t *out)
{
	return read_number(dir, "pids.current", out);
}

/* What sampling needs to know of one process. */
struct cg_where {
	const struct cg_layout *layout;
	const char *proc_cgroup;
	const char *v2dir;	/* NULL: no v2 cgroup */
	const char *v2_enabled; /* its cgroup.controllers, NULL unknown */
};

/* One counter: from the v2 cgroup when the controller is enabled there,
 * else from the v1 hierarchy with v1_controller, else from the v2 cgroup's
 * files all the same. -1 when none can be read. */
static int64_t sample_counter(const struct cg_where *w, const char *v2_controller,
			      counter_reader v2, const char *v1_controller, counter_reader v1)
{
	_cleanup_free_ char *v1dir = NULL;
	int64_t value;

	if (w->v2dir && w->v2_enabled &&
	    has_item(w->v2_enabled, strlen(w->v2_enabled), v2_controller, strlen(v2_controller),
		     ' ') &&
	    v2(w->v2dir, &value) == 0)
		return value;
	v1dir = cgroup_dir(w->layout, w->proc_cgroup, v1_controller);
	if (v1dir && v1(v1dir, &value) == 0)
		return value;
	if (w->v2dir && v2(w->v2dir, &value) == 0)
		return value;
	return -1;
}

static void sample_layout(const struct cg_layout *l, const char *proc_cgroup,
			  struct cgroup_sample *out)
{
	_cleanup_free_ char *v2dir = cgroup_dir(l, proc_cgroup, NULL);
	_cleanup_free_ char *enabled_path = NULL, *enabled = NULL;
	struct cg_where w = { l, proc_cgroup, v2dir, NULL };
	size_t len;

	if (v2dir) {
		enabled_path = xasprintf("%s/cgroup.controllers", v2dir);
		if (read_file(enabled_path, &enabled, &len) == 0)
			w.v2_enabled = enabled;
	}
	out->cpu_usec = sample_counter(&w, "cpu", v2_cpu, "cpuacct", v1_cpu);
	out->memory = sample_counter(&w, "memory", v2_memory, "memory", v1_memory);
	out->memory_limit = sample_counter(&w, "memory", v2_memory_limit, "memory",
					   v1_memory_limit);
	out->pids = sample_counter(&w, "pids", pids_current, "pids", pids_current);
}

int metrics_sample_cgroup(const char *proc_cgroup, const char *sysfs, struct cgroup_sample *out,
			  struct nua_error **err)
{
	struct cg_layout l = CG_LAYOUT_INIT;
	const char *pos = proc_cgroup;
	struct cg_line ln;

	out->cpu_usec = out->memory = out->memory_limit = out->pids = -1;
	if (!next_cg_line(&pos, &ln))
		return nua_error_set(err, NUA_EINPUT,
				     "no line of the form 'ID:CONTROLLERS:PATH' in the cgroup list");
	layout_from_sysfs(&l, proc_cgroup, sysfs);
	sample_layout(&l, proc_cgroup, out);
	layout_release(&l);
	return 0;
}

int metrics_sample_pid(pid_t pid, struct cgroup_sample *out, struct nua_error **err)
{
	_cleanup_free_ char *path = xasprintf("/proc/%d/cgroup", (int)pid);
	_cleanup_free_ char *proc_cgroup = NULL, *mountinfo = NULL;
	struct cg_layout l = CG_LAYOUT_INIT;
	size_t len;
	int r;

	out->cpu_usec = out->memory = out->memory_limit = out->pids = -1;
	if ((r = read_file(path, &proc_cgroup, &len)) < 0)
		return nua_error_set(err, NUA_EFAIL, "cannot read '%s': %s", path, strerror(-r));
	if (read_file("/proc/self/mountinfo", &mountinfo, &len) == 0)
		layout_from_mountinfo(&l, mountinfo);
	if (l.n == 0)
		layout_from_sysfs(&l, proc_cgroup, "/sys/fs/cgroup");
	sample_layout(&l, proc_cgroup, out);
	layout_release(&l);
	return 0;
}

/* ---- summaries ---- */

int metrics_summarize(const struct metric_rec *recs, size_t n, int64_t now, int64_t window_sec,
		      struct metrics_summary *out)
{
	int64_t since = now - window_sec, cpu_prev = -1, cpu_from = 0, cpu_to = 0, cpu_sum = 0;
	size_t cpu_known = 0;

	out->cpu_percent = -1;
	out->memory = out->memory_peak = out->pids = out->restarts = out->health_ms = -1;
	out->samples = out->from = out->to = 0;
	for (size_t i = 0; i < n; i++) {
		const struct metric_rec *r = &recs[i];

		if (r->time < since || r->time > now)
			continue;
		if (out->samples++ == 0)
			out->from = r->time;
		out->to = r->time;
		if (r->memory >= 0) {
			out->memory = r->memory;
			if (r->memory > out->memory_peak)
				out->memory_peak = r->memory;
		}
		if (r->pids >= 0)
			out->pids = r->pids;
		if (r->restarts >= 0)
			out->restarts = r->restarts;
		if (r->health_ms >= 0)
			out->health_ms = r->health_ms;
		if (r->cpu_usec >= 0) {
			if (cpu_known++ == 0)
				cpu_from = r->time;
			else
				/* A drop is a restart: the counter began again
				 * at zero, so all of the new value is new. */
				cpu_sum += r->cpu_usec >= cpu_prev ? r->cpu_usec - cpu_prev
								   : r->cpu_usec;
			cpu_prev = r->cpu_usec;
			cpu_to = r->time;
		}
	}
	if (out->samples == 0)
		return -1;
	if (cpu_known >= 2 && cpu_to > cpu_from)
		out->cpu_percent = (double)cpu_sum / ((double)(cpu_to - cpu_from) * 1e6) * 100.0;
	return 0;
}

/* ---- Prometheus exposition ---- */

/* A label value, escaped: backslash, double quote and newline. */
static void add_label_value(struct strbuf *sb, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			strbuf_addstr(sb, "\\\\");
		else if (*s == '"')
			strbuf_addstr(sb, "\\\"");
		else if (*s == '\n')
			strbuf_addstr(sb, "\\n");
		else
			strbuf_addch(sb, *s);
	}
}

/* v / 10^digits exactly, without trailing zeros: 1500 ms is "1.5". */
static void add_scaled(struct strbuf *sb, int64_t v, int digits)
{
	int64_t scale = 1;
	char frac[24];
	int len;

	for (int i = 0; i < digits; i++)
		scale *= 10;
	strbuf_addf(sb, "%" PRId64, v / scale);
	if (v % scale == 0)
		return;
	len = snprintf(frac, sizeof(frac), "%0*" PRId64, digits, v % scale);
	while (len > 0 && frac[len - 1] == '0')
		len--;
	strbuf_addch(sb, '.');
	strbuf_add(sb, frac, (size_t)len);
}

enum family {
	F_UP,
	F_STATE,
	F_HEALTHY,
	F_CPU,
	F_MEMORY,
	F_MEMORY_LIMIT,
	F_PIDS,
	F_RESTARTS,
	F_HEALTH_CHECK,
	F_START_TIME,
};

static const struct {
	const char *name, *type, *help;
} families[] = {
	[F_UP] = { "nua_instance_up", "gauge", "Whether the instance is running (1) or not (0)." },
	[F_STATE] = { "nua_instance_state", "gauge", "The state of the instance, as a label." },
	[F_HEALTHY] = { "nua_instance_healthy", "gauge",
			"Whether the instance passes its health check (1) or fails it (0)." },
	[F_CPU] = { "nua_instance_cpu_seconds_total", "counter",
		    "CPU time used by the instance's container." },
	[F_MEMORY] = { "nua_instance_memory_bytes", "gauge",
		       "Memory used by the instance's container, less inactive page cache." },
	[F_MEMORY_LIMIT] = { "nua_instance_memory_limit_bytes", "gauge",
			     "Memory limit of the instance's container." },
	[F_PIDS] = { "nua_instance_pids", "gauge", "Tasks in the instance's container." },
	[F_RESTARTS] = { "nua_instance_restarts_total", "counter",
			 "Times the instance was restarted." },
	[F_HEALTH_CHECK] = { "nua_instance_health_check_seconds", "gauge",
			     "Duration of the instance's last health check." },
	[F_START_TIME] = { "nua_instance_start_time_seconds", "gauge",
			   "Start time of the instance since the Unix epoch." },
};

static void add_family_header(struct strbuf *sb, const char *name, const char *type,
			      const char *help)
{
	strbuf_addf(sb, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The value of family f for instance x into val; false when it has none. */
static bool instance_value(enum family f, const struct metrics_instance *x, struct strbuf *val)
{
	const char *health = x->health ? x->health : "unknown";
	int64_t v = -1;

	switch (f) {
	case F_UP:
		if (x->state)
			v = streq(x->state, "running");
		break;
	case F_STATE:
		if (x->state)
			v = 1;
		break;
	case F_HEALTHY:
		if (streq(health, "healthy"))
			v = 1;
		else if (streq(health, "unhealthy"))
			v = 0;
		break;
	case F_CPU:
		if (x->cpu_usec >= 0)
			add_scaled(val, x->cpu_usec, 6);
		return x->cpu_usec >= 0;
	case F_MEMORY:
		v = x->memory;
		break;
	case F_MEMORY_LIMIT:
		v = x->memory_limit;
		break;
	case F_PIDS:
		v = x->pids;
		break;
	case F_RESTARTS:
		v = x->restarts;
		break;
	case F_HEALTH_CHECK:
		if (x->health_ms >= 0)
			add_scaled(val, x->health_ms, 3);
		return x->health_ms >= 0;
	case F_START_TIME:
		v = x->started_at;
		break;
	}
	if (v < 0)
		return false;
	strbuf_addf(val, "%" PRId64, v);
	return true;
}

static void add_daemon_value(struct strbuf *sb, const char *name, const char *type,
			     const char *help, int64_t v)
{
	if (v < 0)
		return;
	add_family_header(sb, name, type, help);
	strbuf_addf(sb, "%s %" PRId64 "\n", name, v);
}

void metrics_render_prometheus(struct strbuf *out, const struct metrics_instance *v, size_t n,
			       const struct metrics_daemon *d)
{
	struct strbuf val = STRBUF_INIT;

	for (size_t f = 0; f < ARRAY_SIZE(families); f++) {
		bool started = false;

		for (size_t i = 0; i < n; i++) {
			strbuf_reset(&val);
			if (!instance_value((enum family)f, &v[i], &val))
				continue;
			if (!started)
				add_family_header(out, families[f].name, families[f].type,
						  families[f].help);
			started = true;
			strbuf_addf(out, "%s{instance=\"", families[f].name);
			add_label_value(out, v[i].name ? v[i].name : "");
			if (f == F_STATE) {
				strbuf_addstr(out, "\",state=\"");
				add_label_value(out, v[i].state);
			}
			strbuf_addf(out, "\"} %s\n", val.buf);
		}
	}
	strbuf_release(&val);
	if (!d)
		return;
	add_daemon_value(out, "nua_daemon_resident_memory_bytes", "gauge",
			 "Resident memory of the nua daemon.", d->rss_bytes);
	add_daemon_value(out, "nua_daemon_uptime_seconds", "gauge",
			 "Time since the nua daemon started.", d->uptime_sec);
	add_daemon_value(out, "nua_instances", "gauge", "Instances the nua daemon manages.",
			 d->instances);
	add_daemon_value(out, "nua_api_requests_total", "counter",
			 "Requests the nua daemon's API has served.", d->requests);
}

int64_t metrics_self_rss(void)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	int64_t kb;

	if (read_file("/proc/self/status", &text, &len) < 0)
		return -1;
	for (char *line = text; line && *line;) {
		char *nl = strchr(line, '\n');

		if (nl)
			*nl = '\0';
		if (starts_with(line, "VmRSS:")) {
			char *unit = strstr(line, " kB");

			if (!unit)
				return -1;
			*unit = '\0';
			return parse_u63(line + strlen("VmRSS:"), &kb) == 0 ? kb * 1024 : -1;
		}
		line = nl ? nl + 1 : NULL;
	}
	return -1;
}
