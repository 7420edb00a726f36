/* Unit tests of src/metrics.h: cgroup counters read from fake v1 and v2
 * trees in the test's scratch directory and from this machine's own
 * cgroups, summaries of stored samples, and the Prometheus exposition. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "state.h"
#include "strbuf.h"
#include "test.h"
#include "util.h"

/* Write text to test_tmpdir()/rel, making its directories. */
static int put(const char *rel, const char *text)
{
	char *path = xasprintf("%s/%s", test_tmpdir(), rel);
	char *dir = xstrdup(path);
	int r;

	*strrchr(dir, '/') = '\0';
	r = mkdir_p(dir, 0755);
	if (r == 0)
		r = write_file_atomic(path, text, strlen(text), 0644);
	free(dir);
	free(path);
	return r;
}

static char *tmp_path(const char *rel) { return xasprintf("%s/%s", test_tmpdir(), rel); }

/* A hybrid host: cpu and cpuacct mounted apart, v2 at unified with no
 * controller, where cpu.stat exists all the same and must not win. */
TEST(metrics_sample_v1_hybrid)
{
	static const char proc[] = "9:name=systemd:/nua-web\n"
				   "8:pids:/nua-web\n"
				   "4:memory:/nua-web\n"
				   "2:cpuacct:/nua-web\n"
				   "1:cpu:/nua-web\n"
				   "0::/nua-web\n";
	struct cgroup_sample s;
	struct nua_error *err = NULL;
	char *sysfs = tmp_path("cg");

	CHECK_INT(put("cg/cpu/nua-web/cpu.shares", "1024\n"), 0);
	CHECK_INT(put("cg/cpuacct/nua-web/cpuacct.usage", "123456789\n"), 0);
	CHECK_INT(put("cg/memory/nua-web/memory.usage_in_bytes", "10485760\n"), 0);
	CHECK_INT(put("cg/memory/nua-web/memory.stat",
		      "cache 4096\ninactive_file 999\ntotal_cache 4096\n"
		      "total_inactive_file 2097152\n"),
		  0);
	CHECK_INT(put("cg/memory/nua-web/memory.limit_in_bytes", "536870912\n"), 0);
	CHECK_INT(put("cg/pids/nua-web/pids.current", "7\n"), 0);
	CHECK_INT(put("cg/unified/cgroup.controllers", "\n"), 0);
	CHECK_INT(put("cg/unified/nua-web/cgroup.controllers", "\n"), 0);
	CHECK_INT(put("cg/unified/nua-web/cpu.stat", "usage_usec 999\n"), 0);

	CHECK_INT(metrics_sample_cgroup(proc, sysfs, &s, &err), 0);
	CHECK_INT(s.cpu_usec, 123456);
	CHECK_INT(s.memory, 10485760 - 2097152);
	CHECK_INT(s.memory_limit, 536870912);
	CHECK_INT(s.pids, 7);

	/* No limit reads as PAGE_COUNTER_MAX pages. */
	CHECK_INT(put("cg/memory/nua-web/memory.limit_in_bytes", "9223372036854771712\n"), 0);
	/* Inactive cache larger than usage (a racy read) is not subtracted. */
	CHECK_INT(put("cg/memory/nua-web/memory.stat", "total_inactive_file 20000000\n"), 0);
	CHECK_INT(metrics_sample_cgroup(proc, sysfs, &s, &err), 0);
	CHECK_INT(s.memory_limit, -1);
	CHECK_INT(s.memory, 10485760);
	free(sysfs);
}

TEST(metrics_sample_v1_combined_cpu_cpuacct)
{
	static const char proc[] = "5:memory:/a/b\n3:cpu,cpuacct:/a/b\n0::/\n";
	struct cgroup_sample s;
	char *sysfs = tmp_path("cg");

	CHECK_INT(put("cg/cpu,cpuacct/a/b/cpuacct.usage", "2000000999\n"), 0);
	CHECK_INT(put("cg/memory/a/b/memory.usage_in_bytes", "4096\n"), 0);
	CHECK_INT(metrics_sample_cgroup(proc, sysfs, &s, NULL), 0);
	CHECK_INT(s.cpu_usec, 2000000);
	/* No memory.stat: plain usage. No limit file, no pids hierarchy. */
	CHECK_INT(s.memory, 4096);
	CHECK_INT(s.memory_limit, -1);
	CHECK_INT(s.pids, -1);
	free(sysfs);
}

TEST(metrics_sample_v2)
{
	static const char proc[] = "0::/system.slice/nua-web.scope\n";
	struct cgroup_sample s;
	char *sysfs = tmp_path("cg");

	CHECK_INT(put("cg/cgroup.controllers", "cpuset cpu io memory pids\n"), 0);
	CHECK_INT(put("cg/system.slice/nua-web.scope/cgroup.controllers", "cpu memory pids\n"), 0);
	CHECK_INT(put("cg/system.slice/nua-web.scope/cpu.stat",
		      "usage_usec 5000000\nuser_usec 3000000\nsystem_usec 2000000\n"),
		  0);
	CHECK_INT(put("cg/system.slice/nua-web.scope/memory.current", "1048576\n"), 0);
	CHECK_INT(put("cg/system.slice/nua-web.scope/memory.stat",
		      "anon 8192\nfile 65536\ninactive_file 4096\nactive_file 61440\n"),
		  0);
	CHECK_INT(put("cg/system.slice/nua-web.scope/memory.max", "max\n"), 0);
	CHECK_INT(put("cg/system.slice/nua-web.scope/pids.current", "3\n"), 0);

	CHECK_INT(metrics_sample_cgroup(proc, sysfs, &s, NULL), 0);
	CHECK_INT(s.cpu_usec, 5000000);
	CHECK_INT(s.memory, 1048576 - 4096);
	CHECK_INT(s.memory_limit, -1);
	CHECK_INT(s.pids, 3);

	CHECK_INT(put("cg/system.slice/nua-web.scope/memory.max", "268435456\n"), 0);
	CHECK_INT(metrics_sample_cgroup(proc, sysfs, &s, NULL), 0);
	CHECK_INT(s.memory_limit, 268435456);
	free(sysfs);
}

TEST(metrics_sample_missing_files)
{
	struct cgroup_sample s;
	struct nua_error *err = NULL;
	char *sysfs = tmp_path("cg");

	/* v2 with no controller enabled: cpu.stat is still there. */
	CHECK_INT(put("cg/cgroup.controllers", "\n"), 0);
	CHECK_INT(put("cg/web/cgroup.controllers", "\n"), 0);
	CHECK_INT(put("cg/web/cpu.stat", "usage_usec 42\n"), 0);
	CHECK_INT(metrics_sample_cgroup("0::/web\n", sysfs, &s, NULL), 0);
	CHECK_INT(s.cpu_usec, 42);
	CHECK_INT(s.memory, -1);
	CHECK_INT(s.memory_limit, -1);
	CHECK_INT(s.pids, -1);

	/* A cgroup that is not there, and one outside the namespace. */
	CHECK_INT(metrics_sample_cgroup("0::/gone\n4:memory:/gone\n", sysfs, &s, NULL), 0);
	CHECK_INT(s.cpu_usec, -1);
	CHECK_INT(s.memory, -1);
	CHECK_INT(metrics_sample_cgroup("0::/../web\n", sysfs, &s, NULL), 0);
	CHECK_INT(s.cpu_usec, -1);

	/* A counter that is not a number. */
	CHECK_INT(put("cg/web/cpu.stat", "usage_usec lots\n"), 0);
	CHECK_INT(metrics_sample_cgroup("0::/web\n", sysfs, &s, NULL), 0);
	CHECK_INT(s.cpu_usec, -1);

	/* Not a cgroup list at all. */
	CHECK_INT(metrics_sample_cgroup("hello\n", sysfs, &s, &err), -1);
	CHECK_INT(err->status, NUA_EINPUT);
	CHECK_INT(s.memory, -1);
	nua_error_free(err);
	free(sysfs);
}

TEST(metrics_sample_this_process)
{
	struct cgroup_sample s;
	struct nua_error *err = NULL;

	CHECK_INT(metrics_sample_pid(getpid(), &s, &err), 0);
	CHECK(s.memory == -1 || (s.memory > 0 && s.memory < (INT64_C(1) << 44)));
	/* Where the v1 memory controller is mounted (this machine), it is
	 * found even though the v2 hierarchy has no controller. */
	if (is_dir("/sys/fs/cgroup/memory"))
		CHECK(s.memory > 0);
	CHECK(s.cpu_usec == -1 || s.cpu_usec > 0);
	CHECK(s.memory_limit == -1 || s.memory_limit > 0);
	CHECK(s.pids == -1 || s.pids > 0);

	CHECK_INT(metrics_sample_pid(INT_MAX, &s, &err), -1);
	CHECK_INT(err->status, NUA_EFAIL);
	CHECK(strstr(err->msg, "/proc/2147483647/cgroup") != NULL);
	CHECK_INT(s.cpu_usec, -1);
	nua_error_free(err);
}

TEST(metrics_self_rss_reads_status)
{
	int64_t rss = metrics_self_rss();

	CHECK(rss > 0);
	CHECK_INT(rss % 1024, 0);
}

static struct metric_rec rec(int64_t time, int64_t cpu, int64_t mem, int64_t pids, int64_t restarts,
			     int64_t health_ms)
{
	struct metric_rec r = { NULL, time, cpu, mem, pids, restarts, health_ms };

	return r;
}

TEST(metrics_summarize_window_and_reset)
{
	const struct metric_rec recs[] = {
		rec(1000, 0, 900, 9, 0, 9),           /* before the window */
		rec(1995, 1000000, 100, 2, 0, 10),
		rec(2000, 2000000, 300, 3, 0, -1),
		rec(2010, 500000, 200, -1, 1, 11),    /* restarted: 0.5 s since */
		rec(2020, 1500000, -1, 4, 1, 12),
		rec(2030, 9000000, 999, 9, 9, 99),    /* after now */
	};
	struct metrics_summary s;

	CHECK_INT(metrics_summarize(recs, ARRAY_SIZE(recs), 2020, 25, &s), 0);
	CHECK_INT(s.samples, 4);
	CHECK_INT(s.from, 1995);
	CHECK_INT(s.to, 2020);
	/* 1 + 0.5 + 1 s of CPU in 25 s. */
	CHECK(fabs(s.cpu_percent - 10.0) < 1e-9);
	CHECK_INT(s.memory, 200);
	CHECK_INT(s.memory_peak, 300);
	CHECK_INT(s.pids, 4);
	CHECK_INT(s.restarts, 1);
	CHECK_INT(s.health_ms, 12);

	/* One sample: no rate. */
	CHECK_INT(metrics_summarize(recs, ARRAY_SIZE(recs), 1000, 10, &s), 0);
	CHECK_INT(s.samples, 1);
	CHECK(s.cpu_percent == -1);
	CHECK_INT(s.memory, 900);

	/* Nothing in the window. */
	CHECK_INT(metrics_summarize(recs, ARRAY_SIZE(recs), 5000, 60, &s), -1);
	CHECK_INT(s.samples, 0);
	CHECK_INT(s.from, 0);
	CHECK(s.cpu_percent == -1);
	CHECK_INT(s.memory, -1);
	CHECK_INT(s.memory_peak, -1);
	CHECK_INT(s.restarts, -1);
	CHECK_INT(metrics_summarize(NULL, 0, 5000, 60, &s), -1);
}

TEST(metrics_prometheus_exposition)
{
	const struct metrics_instance v[] = {
		{ "web", "running", "healthy", 1500000, 1048576, -1, 3, 0, 25, 1700000000 },
		{ "a\"b\\c\nd", "stopped", NULL, -1, -1, 268435456, -1, 2, -1, -1 },
	};
	const struct metrics_daemon d = { 4096, 60, 2, -1 };
	struct strbuf sb = STRBUF_INIT;

	metrics_render_prometheus(&sb, v, ARRAY_SIZE(v), &d);
	CHECK_STR(sb.buf,
		  "# HELP nua_instance_up Whether the instance is running (1) or not (0).\n"
		  "# TYPE nua_instance_up gauge\n"
		  "nua_instance_up{instance=\"web\"} 1\n"
		  "nua_instance_up{instance=\"a\\\"b\\\\c\\nd\"} 0\n"
		  "# HELP nua_instance_state The state of the instance, as a label.\n"
		  "# TYPE nua_instance_state gauge\n"
		  "nua_instance_state{instance=\"web\",state=\"running\"} 1\n"
		  "nua_instance_state{instance=\"a\\\"b\\\\c\\nd\",state=\"stopped\"} 1\n"
		  "# HELP nua_instance_healthy Whether the instance passes its health check "
		  "(1) or fails it (0).\n"
		  "# TYPE nua_instance_healthy gauge\n"
		  "nua_instance_healthy{instance=\"web\"} 1\n"
		  "# HELP nua_instance_cpu_seconds_total CPU time used by the instance's "
		  "container.\n"
		  "# TYPE nua_instance_cpu_seconds_total counter\n"
		  "nua_instance_cpu_seconds_total{instance=\"web\"} 1.5\n"
		  "# HELP nua_instance_memory_bytes Memory used by the instance's container, "
		  "less inactive page cache.\n"
		  "# TYPE nua_instance_memory_bytes gauge\n"
		  "nua_instance_memory_bytes{instance=\"web\"} 1048576\n"
		  "# HELP nua_instance_memory_limit_bytes Memory limit of the instance's "
		  "container.\n"
		  "# TYPE nua_instance_memory_limit_bytes gauge\n"
		  "nua_instance_memory_limit_bytes{instance=\"a\\\"b\\\\c\\nd\"} 268435456\n"
		  "# HELP nua_instance_pids Tasks in the instance's container.\n"
		  "# TYPE nua_instance_pids gauge\n"
		  "nua_instance_pids{instance=\"web\"} 3\n"
		  "# HELP nua_instance_restarts_total Times the instance was restarted.\n"
		  "# TYPE nua_instance_restarts_total counter\n"
		  "nua_instance_restarts_total{instance=\"web\"} 0\n"
		  "nua_instance_restarts_total{instance=\"a\\\"b\\\\c\\nd\"} 2\n"
		  "# HELP nua_instance_health_check_seconds Duration of the instance's last "
		  "health check.\n"
		  "# TYPE nua_instance_health_check_seconds gauge\n"
		  "nua_instance_health_check_seconds{instance=\"web\"} 0.025\n"
		  "# HELP nua_instance_start_time_seconds Start time of the instance since the "
		  "Unix epoch.\n"
		  "# TYPE nua_instance_start_time_seconds gauge\n"
		  "nua_instance_start_time_seconds{instance=\"web\"} 1700000000\n"
		  "# HELP nua_daemon_resident_memory_bytes Resident memory of the nua daemon.\n"
		  "# TYPE nua_daemon_resident_memory_bytes gauge\n"
		  "nua_daemon_resident_memory_bytes 4096\n"
		  "# HELP nua_daemon_uptime_seconds Time since the nua daemon started.\n"
		  "# TYPE nua_daemon_uptime_seconds gauge\n"
		  "nua_daemon_uptime_seconds 60\n"
		  "# HELP nua_instances Instances the nua daemon manages.\n"
		  "# TYPE nua_instances gauge\n"
		  "nua_instances 2\n");
	strbuf_release(&sb);
}

TEST(metrics_prometheus_numbers_and_unknowns)
{
	struct metrics_instance v = { "w", NULL, "starting", 250, -1, -1, -1, -1, 1000, -1 };
	struct strbuf sb = STRBUF_INIT;

	metrics_render_prometheus(&sb, &v, 1, NULL);
	/* No state: neither up nor state; starting: not healthy nor unhealthy. */
	CHECK(strstr(sb.buf, "nua_instance_up") == NULL);
	CHECK(strstr(sb.buf, "nua_instance_state") == NULL);
	CHECK(strstr(sb.buf, "nua_instance_healthy") == NULL);
	CHECK(strstr(sb.buf, "nua_instance_memory") == NULL);
	CHECK(strstr(sb.buf, "nua_daemon") == NULL);
	CHECK(strstr(sb.buf, "nua_instance_cpu_seconds_total{instance=\"w\"} 0.00025\n") != NULL);
	CHECK(strstr(sb.buf, "nua_instance_health_check_seconds{instance=\"w\"} 1\n") != NULL);
	strbuf_release(&sb);

	metrics_render_prometheus(&sb, NULL, 0, NULL);
	CHECK_STR(sb.buf, "");
	strbuf_release(&sb);
}
