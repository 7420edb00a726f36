/* The CLI's command table and what every verb shares. One file per verb
 * (cmd_VERB.c); main.c dispatches, `nua help` and the bash completion are
 * generated from the table. */
#ifndef NUA_CLI_H
#define NUA_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "error.h"

/* A verb gets its own argv (argv[0] is the verb) and returns an exit status:
 * 0 ok, 1 failed, 2 bad usage or input. It prints its own results; errors it
 * reports with cli_error or by returning nua_error_report(err). */
typedef int (*cmd_fn)(int argc, char **argv);

/* No verb but `nua daemon` opens the state: the daemon owns it (and its
 * lock), every other verb that reads or changes it asks the daemon. */
enum cmd_flags {
	CMD_NEED_DAEMON = 1 << 1, /* a client of the daemon's API (client.h): main sets
				     the client up around it */
	CMD_HIDDEN = 1 << 2,      /* not listed in `nua help` */
};

struct cmd_option {
	const char *name;   /* "--json" or "-n, --lines N" as shown in help */
	const char *help;
};

struct cmd_struct {
	const char *name;
	cmd_fn fn;
	unsigned flags;
	const char *usage;    /* "nua check [--json] [DIR|FILE]" */
	const char *summary;  /* one line for `nua help` */
	const char *help;     /* a paragraph for `nua help CMD` */
	const struct cmd_option *options; /* terminated by { NULL, NULL } */
	const char *complete; /* what arguments complete to: "dir", "file", "instance", "command", NULL */
};

/* The table, in help order; terminated by a zeroed entry. */
extern const struct cmd_struct nua_commands[];
const struct cmd_struct *cli_find_command(const char *name);

/* Print "usage: ..." and the options of cmd on stderr; return 2. */
int cli_usage_error(const struct cmd_struct *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Print "error: ..." on stderr; return status. */
int cli_error(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* getopt_long over argv with the usual handling of --help and unknown
 * options. Returns the option character, -1 at the end of options, or '?'
 * after having printed the usage error (the caller returns 2). */
int cli_getopt(const struct cmd_struct *cmd, int argc, char **argv, const char *shortopts,
	       const struct option *longopts);

/* The positional arguments cli_getopt_args collects (borrowed from argv). */
struct cli_args {
	char **v;
	size_t n, alloc;
};

/* cli_getopt for verbs whose options may come before and after their
 * positional arguments (nua deploy DIR --name x): the positional ones are
 * appended to pos as getopt stops at them, and every argument after "--"
 * too. The caller frees pos->v. */
int cli_getopt_args(const struct cmd_struct *cmd, int argc, char **argv, const char *shortopts,
		    const struct option *longopts, struct cli_args *pos);
static inline void cli_args_release(struct cli_args *a) { free(a->v); }
#define _cleanup_args_ _cleanup_(cli_args_release)

/* ---- output shared by the verbs (format.c) ---- */

/* Print j indented, keys in their order, and drop the reference to j. */
void cli_print_json(json_t *j);

/* "12.3 MB", in powers of 1000 as docker prints sizes. */
void cli_human_size(int64_t n, char *buf, size_t len);

/* The time t (seconds since the epoch) as strftime's fmt, in local time or
 * in UTC; "-" when it cannot be shown. */
void cli_format_time(long long t, bool utc, const char *fmt, char *buf, size_t len);

/* A duration as "42s", "5m", "3h" or "2d"; "-" for a negative one. */
void cli_duration(long long secs, char *buf, size_t len);

/* The members of an API object: the string at key, or dflt when it is
 * missing or not a string; true with *v when the integer at key is there
 * (a real is rounded down). */
const char *cli_json_str(const json_t *o, const char *key, const char *dflt);
bool cli_json_int(const json_t *o, const char *key, long long *v);

/* path made absolute against the current directory (symbolic links and
 * "." resolved when path exists), for the daemon, whose current directory
 * is not ours. Caller frees. */
char *cli_absolute_path(const char *path);

#define DECLARE_CMD(n) int cmd_##n(int argc, char **argv)
DECLARE_CMD(help);
DECLARE_CMD(version);
DECLARE_CMD(check);
DECLARE_CMD(completion);
DECLARE_CMD(build);
DECLARE_CMD(deploy);
DECLARE_CMD(ls);
DECLARE_CMD(status);
DECLARE_CMD(logs);
DECLARE_CMD(start);
DECLARE_CMD(stop);
DECLARE_CMD(restart);
DECLARE_CMD(rm);
DECLARE_CMD(env);
DECLARE_CMD(images);
DECLARE_CMD(image);
DECLARE_CMD(events);
DECLARE_CMD(stats);
DECLARE_CMD(user);
DECLARE_CMD(group);
DECLARE_CMD(token);
DECLARE_CMD(audit);
DECLARE_CMD(login);
DECLARE_CMD(logout);
DECLARE_CMD(server);
DECLARE_CMD(access);
DECLARE_CMD(resources);
DECLARE_CMD(backup);
DECLARE_CMD(backups);
DECLARE_CMD(restore);
DECLARE_CMD(upgrade);
DECLARE_CMD(rollback);
DECLARE_CMD(export);
DECLARE_CMD(import);
DECLARE_CMD(tls);
DECLARE_CMD(domain);
DECLARE_CMD(store);
DECLARE_CMD(install);

#endif
