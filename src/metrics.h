/* Resource use of instances: sampling a container's cgroup counters,
 * summarising stored samples for `nua stats`, and rendering the Prometheus
 * text exposition format (version 0.0.4) for the daemon's /metrics.
 *
 * Sampling works on a pure cgroup v2 host (one hierarchy at /sys/fs/cgroup)
 * and on a hybrid one (v1 controllers each mounted on their own or combined,
 * as in "cpu,cpuacct", with a v2 hierarchy at /sys/fs/cgroup/unified). Each
 * counter is read from the v2 hierarchy when its controller is enabled in
 * the process's v2 cgroup (listed in its cgroup.controllers), else from the
 * v1 hierarchy holding the controller, else from the v2 file if it exists
 * all the same (cpu.stat's usage_usec is there without the cpu controller). */
#ifndef NUA_METRICS_H
#define NUA_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "strbuf.h"

struct metric_rec; /* state.h */

/* Counters of one cgroup; -1 where not known. */
struct cgroup_sample {
	int64_t cpu_usec;     /* CPU time used, cumulative, microseconds */
	int64_t memory;	      /* bytes in use, less inactive page cache (as docker
				 reports): v2 memory.current or v1
				 memory.usage_in_bytes, minus inactive_file
				 (v1: total_inactive_file) of memory.stat */
	int64_t memory_limit; /* bytes; -1 also when unlimited */
	int64_t pids;	      /* tasks in the cgroup */
};

/* Counters of the cgroups pid is in, found from /proc/PID/cgroup and the
 * cgroup mounts in /proc/self/mountinfo (or, when it lists none, the usual
 * places under /sys/fs/cgroup). Fails (NUA_EFAIL) only when pid has no
 * readable /proc/PID/cgroup; counters that cannot be read are -1. */
int metrics_sample_pid(pid_t pid, struct cgroup_sample *out, struct nua_error **err);

/* The same, from proc_cgroup, the text of a /proc/PID/cgroup ("ID:CONTROLLERS:
 * PATH" lines, "0::PATH" for v2), with the hierarchies mounted under sysfs
 * (normally "/sys/fs/cgroup"): a v1 hierarchy at sysfs/CONTROLLERS as named
 * in proc_cgroup ("cpu,cpuacct") or else at sysfs/CONTROLLER; the v2 one at
 * sysfs itself when sysfs/cgroup.controllers exists, else at sysfs/unified.
 * Fails (NUA_EINPUT) only when proc_cgroup has no line of that form. */
int metrics_sample_cgroup(const char *proc_cgroup, const char *sysfs, struct cgroup_sample *out,
			  struct nua_error **err);

/* What `nua stats` shows of one instance over a window of time. */
struct metrics_summary {
	/* CPU use over the window, from the cpu_usec of the first and last
	 * samples that have one: 100 is one full core; -1 unknown (fewer than
	 * two such samples, or no time between them). */
	double cpu_percent;
	/* memory_peak is the largest memory in the window, the others the last
	 * known value in it; -1 when no sample in the window has one. */
	int64_t memory, memory_peak, pids, restarts, health_ms;
	/* Samples in the window, and the times (unix seconds) of the first and
	 * last of them. */
	int64_t samples;
	int64_t from, to;
};

/* Summarise the samples of ONE instance, recs (n of them, sorted by time),
 * that fall within [now - window_sec, now]. cpu_usec is a counter that
 * drops to zero when the instance restarts: a sample lower than the one
 * before it counts as the CPU time since the restart. Returns 0, or -1 when
 * no sample is in the window (then samples, from and to are 0 and the rest
 * -1). */
int metrics_summarize(const struct metric_rec *recs, size_t n, int64_t now, int64_t window_sec,
		      struct metrics_summary *out);

/* One instance as /metrics shows it. The strings are borrowed; the numbers
 * are -1 when unknown. */
struct metrics_instance {
	const char *name;
	const char *state;  /* "running", "stopped", "crashloop"...; NULL unknown */
	const char *health; /* "healthy", "unhealthy", "starting", "unknown"; NULL
			       is "unknown" */
	int64_t cpu_usec, memory, memory_limit, pids, restarts;
	int64_t health_ms;  /* duration of the last health check */
	int64_t started_at; /* unix seconds */
};

/* The daemon itself; -1 where unknown. */
struct metrics_daemon {
	int64_t rss_bytes, uptime_sec, instances, requests;
};

/* Append to out the Prometheus text exposition (0.0.4) of the n instances
 * v and of the daemon d (NULL: leave the daemon's families out). Each
 * family has its # HELP and # TYPE once, then one line per instance labelled
 * instance="NAME" (label values escaped as the format says: backslash,
 * double quote and newline); a line whose value is unknown (-1) is left
 * out, and so is a family with no line at all. The families:
 *
 *   nua_instance_up                    gauge   1 when state is "running", else 0
 *   nua_instance_state                 gauge   1, labelled state="STATE" too
 *   nua_instance_healthy               gauge   1 healthy, 0 unhealthy, none else
 *   nua_instance_cpu_seconds_total     counter
 *   nua_instance_memory_bytes          gauge
 *   nua_instance_memory_limit_bytes    gauge   none when unlimited
 *   nua_instance_pids                  gauge
 *   nua_instance_restarts_total        counter
 *   nua_instance_health_check_seconds  gauge
 *   nua_instance_start_time_seconds    gauge
 *   nua_daemon_resident_memory_bytes   gauge
 *   nua_daemon_uptime_seconds          gauge
 *   nua_instances                      gauge
 *   nua_api_requests_total             counter
 *
 * Counts and bytes are printed as integers, seconds as exact decimals
 * ("1.5", "0.000250"'s shortest form "0.00025"). */
void metrics_render_prometheus(struct strbuf *out, const struct metrics_instance *v, size_t n,
			       const struct metrics_daemon *d);

/* Resident memory of this process in bytes (VmRSS of /proc/self/status),
 * -1 when unknown. */
int64_t metrics_self_rss(void);

#endif
