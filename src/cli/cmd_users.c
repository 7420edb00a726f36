/* nua user, nua group, nua token, nua audit: the people and programs that
 * use Nua, and what they changed (docs/users.md). Passwords are read from
 * the terminal (twice, not shown) or from standard input, never from the
 * command line. */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <qrencode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "util.h"
#include "banned.h"

/* One line of stdin, without its newline; NULL at EOF. */
static char *read_line(FILE *f)
{
	char *line = NULL;
	size_t alloc = 0;
	ssize_t n = getline(&line, &alloc, f);

	if (n < 0) {
		free(line);
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	return line;
}

/* Prompt on the terminal with echo off. */
static char *ask_hidden(const char *prompt)
{
	struct termios old, quiet;
	char *line;

	fputs(prompt, stderr);
	fflush(stderr);
	if (tcgetattr(STDIN_FILENO, &old) < 0)
		return read_line(stdin);
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	line = read_line(stdin);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	fputc('\n', stderr);
	return line;
}

static void free_secret(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

/* The new password of user: asked twice on a terminal, else the first line
 * of standard input. NULL (after an error message) when there is none or
 * the two differ. */
static char *new_password(const char *user)
{
	char *a, *b;

	if (!isatty(STDIN_FILENO)) {
		a = read_line(stdin);
		if (!a || !a[0]) {
			free_secret(a);
			cli_error(NUA_EINPUT, "no password on standard input (one line)");
			return NULL;
		}
		return a;
	}
	{
		_cleanup_free_ char *p1 = xasprintf("password for %s: ", user);

		a = ask_hidden(p1);
	}
	b = a ? ask_hidden("again: ") : NULL;
	if (!a || !b || !streq(a, b)) {
		free_secret(a);
		free_secret(b);
		cli_error(NUA_EINPUT, "the passwords differ (or none was given)");
		return NULL;
	}
	free_secret(b);
	return a;
}

static const char *str_or(const json_t *o, const char *key, const char *dflt)
{
	return cli_json_str(o, key, dflt);
}

/* The names of an array of strings joined with ','; "-" when empty. */
static void join_names(const json_t *arr, char *buf, size_t len)
{
	size_t off = 0, i;
	json_t *e;

	snprintf(buf, len, "-");
	json_array_foreach(arr, i, e) {
		int n = snprintf(buf + off, len - off, "%s%s", i ? "," : "", json_string_value(e));

		if (n < 0 || (size_t)n >= len - off)
			break;
		off += (size_t)n;
	}
}

static void print_time(const json_t *o, const char *key, char *buf, size_t len)
{
	long long t;

	if (cli_json_int(o, key, &t))
		cli_format_time(t, false, "%Y-%m-%d %H:%M", buf, len);
	else
		snprintf(buf, len, "-");
}

/* Call the API; print the result as JSON with --json, else with print. */
static int call(const char *method, const char *path, json_t *body, bool json,
		void (*print)(json_t *))
{
	_cleanup_error_ struct nua_error *err = NULL;
	json_t *out = NULL;
	int r = client_call(method, path, body, &out, &err);

	json_decref(body);
	if (r < 0)
		return nua_error_report(err);
	if (json)
		cli_print_json(out);
	else if (print)
		print(out);
	else
		json_decref(out);
	return 0;
}

static void print_users(json_t *list)
{
	size_t i;
	json_t *u;

	printf("%-20s %-6s %-28s %-20s %s\n", "USER", "ROLE", "EMAIL", "GROUPS", "PASSWORD SET");
	json_array_foreach(list, i, u) {
		char groups[128], when[32];

		join_names(json_object_get(u, "groups"), groups, sizeof(groups));
		print_time(u, "password_at", when, sizeof(when));
		printf("%-20s %-6s %-28s %-20s %s\n", str_or(u, "name", "?"),
		       str_or(u, "role", "?"), str_or(u, "email", "-"), groups, when);
	}
	json_decref(list);
}

int cmd_user_totp(const char *name, bool off, bool json);

int cmd_user(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "role", required_argument, NULL, 'r' },
		{ "email", required_argument, NULL, 'e' },
		{ "off", no_argument, NULL, 'O' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd_struct *self = cli_find_command("user");
	_cleanup_args_ struct cli_args pos = { 0 };
	_cleanup_free_ char *path = NULL;
	const char *role = NULL, *email = NULL, *verb;
	bool json = false, off = false;
	char *pw;
	json_t *body;
	int c, r;

	while ((c = cli_getopt_args(self, argc, argv, "", longopts, &pos)) != -1) {
		if (c == '?')
			return NUA_EINPUT;
		if (c == 'j')
			json = true;
		else if (c == 'r')
			role = optarg;
		else if (c == 'e')
			email = optarg;
		else if (c == 'O')
			off = true;
	}
	verb = pos.n ? pos.v[0] : "ls";
	if (streq(verb, "totp") && pos.n == 2 && !role && !email)
		return cmd_user_totp(pos.v[1], off, json);
	if (off)
		return cli_usage_error(self, "--off is for 'totp'");
	if (streq(verb, "ls") && pos.n <= 1 && !role && !email)
		return call("GET", "/v1/users", NULL, json, print_users);
	if (pos.n != 2 && !(streq(verb, "role") && pos.n == 3))
		return cli_usage_error(self, "unknown use of user; see 'nua help user'");
	{
		_cleanup_free_ char *esc = client_escape(pos.v[1]);

		path = xasprintf("/v1/users/%s", esc);
	}
	if (streq(verb, "add")) {
		if (!(pw = new_password(pos.v[1])))
			return NUA_EINPUT;
		body = json_pack("{s:s, s:s, s:s}", "name", pos.v[1], "password", pw, "role",
				 role ? role : "user");
		free_secret(pw);
		if (email)
			json_object_set_new(body, "email", json_string(email));
		r = call("POST", "/v1/users", body, json, NULL);
		if (r == 0 && !json)
			printf("added user %s (%s)\n", pos.v[1], role ? role : "user");
		return r;
	}
	if (role || email)
		return cli_usage_error(self, "--role and --email are for 'add'");
	if (streq(verb, "rm")) {
		r = call("DELETE", path, NULL, json, NULL);
		if (r == 0 && !json)
			printf("removed user %s\n", pos.v[1]);
		return r;
	}
	if (streq(verb, "passwd")) {
		if (!(pw = new_password(pos.v[1])))
			return NUA_EINPUT;
		body = json_pack("{s:s}", "password", pw);
		free_secret(pw);
		r = call("PATCH", path, body, json, NULL);
		if (r == 0 && !json)
			printf("changed the password of %s\n", pos.v[1]);
		return r;
	}
	if (streq(verb, "role") && pos.n == 3) {
		r = call("PATCH", path, json_pack("{s:s}", "role", pos.v[2]), json, NULL);
		if (r == 0 && !json)
			printf("%s is now %s\n", pos.v[1], pos.v[2]);
		return r;
	}
	return cli_usage_error(self, "unknown use of user; see 'nua help user'");
}

static void print_groups(json_t *list)
{
	size_t i;
	json_t *g;

	printf("%-20s %s\n", "GROUP", "MEMBERS");
	json_array_foreach(list, i, g) {
		char members[512];

		join_names(json_object_get(g, "members"), members, sizeof(members));
		printf("%-20s %s\n", str_or(g, "name", "?"), members);
	}
	json_decref(list);
}

int cmd_group(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd_struct *self = cli_find_command("group");
	_cleanup_args_ struct cli_args pos = { 0 };
	_cleanup_free_ char *path = NULL, *esc = NULL;
	const char *verb;
	bool json = false;
	int c, r;

	while ((c = cli_getopt_args(self, argc, argv, "", longopts, &pos)) != -1) {
		if (c == '?')
			return NUA_EINPUT;
		if (c == 'j')
			json = true;
	}
	verb = pos.n ? pos.v[0] : "ls";
	if (streq(verb, "ls") && pos.n <= 1)
		return call("GET", "/v1/groups", NULL, json, print_groups);
	if (pos.n < 2)
		return cli_usage_error(self, "unknown use of group; see 'nua help group'");
	esc = client_escape(pos.v[1]);
	if (streq(verb, "add") && pos.n == 2) {
		r = call("POST", "/v1/groups", json_pack("{s:s}", "name", pos.v[1]), json, NULL);
		if (r == 0 && !json)
			printf("added group %s\n", pos.v[1]);
		return r;
	}
	if (streq(verb, "rm") && pos.n == 2) {
		path = xasprintf("/v1/groups/%s", esc);
		r = call("DELETE", path, NULL, json, NULL);
		if (r == 0 && !json)
			printf("removed group %s\n", pos.v[1]);
		return r;
	}
	if ((streq(verb, "join") || streq(verb, "leave")) && pos.n == 3) {
		path = xasprintf("/v1/groups/%s/members", esc);
		r = call(streq(verb, "join") ? "POST" : "DELETE", path,
			 json_pack("{s:s}", "user", pos.v[2]), json, NULL);
		if (r == 0 && !json)
			printf("%s %s group %s\n", pos.v[2],
			       streq(verb, "join") ? "joined" : "left", pos.v[1]);
		return r;
	}
	return cli_usage_error(self, "unknown use of group; see 'nua help group'");
}

static void print_tokens(json_t *list)
{
	size_t i;
	json_t *t;

	printf("%-12s %-16s %-6s %-16s %-16s %s\n", "ID", "NAME", "ROLE", "INSTANCE", "LAST USED",
	       "EXPIRES");
	json_array_foreach(list, i, t) {
		char used[32], expires[32];

		print_time(t, "last_used_at", used, sizeof(used));
		print_time(t, "expires_at", expires, sizeof(expires));
		printf("%-12s %-16s %-6s %-16s %-16s %s\n", str_or(t, "id", "?"),
		       str_or(t, "name", "?"), str_or(t, "role", "?"), str_or(t, "instance", "-"),
		       used, streq(expires, "-") ? "never" : expires);
	}
	json_decref(list);
}

/* "30d", "12h", "90m" or seconds; 0 when malformed. */
static long long parse_duration(const char *s)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno || n <= 0 || end == s)
		return 0;
	if (!*end)
		return n;
	if (end[1])
		return 0;
	switch (*end) {
	case 'd':
		return n * 86400;
	case 'h':
		return n * 3600;
	case 'm':
		return n * 60;
	case 's':
		return n;
	}
	return 0;
}

int cmd_token(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "name", required_argument, NULL, 'n' },
		{ "role", required_argument, NULL, 'r' },
		{ "instance", required_argument, NULL, 'i' },
		{ "expires", required_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd_struct *self = cli_find_command("token");
	_cleanup_args_ struct cli_args pos = { 0 };
	_cleanup_error_ struct nua_error *err = NULL;
	const char *name = NULL, *role = NULL, *instance = NULL, *expires = NULL, *verb;
	bool json = false;
	json_t *body, *out = NULL;
	int c, r;

	while ((c = cli_getopt_args(self, argc, argv, "", longopts, &pos)) != -1) {
		switch (c) {
		case '?':
			return NUA_EINPUT;
		case 'j':
			json = true;
			break;
		case 'n':
			name = optarg;
			break;
		case 'r':
			role = optarg;
			break;
		case 'i':
			instance = optarg;
			break;
		case 'e':
			expires = optarg;
			break;
		}
	}
	verb = pos.n ? pos.v[0] : "ls";
	if (!streq(verb, "create") && (name || role || instance || expires))
		return cli_usage_error(self,
				       "--name, --role, --instance and --expires are for 'create'");
	if (streq(verb, "ls") && pos.n <= 1)
		return call("GET", "/v1/tokens", NULL, json, print_tokens);
	if (streq(verb, "rm") && pos.n == 2) {
		_cleanup_free_ char *esc = client_escape(pos.v[1]);
		_cleanup_free_ char *path = xasprintf("/v1/tokens/%s", esc);

		r = call("DELETE", path, NULL, json, NULL);
		if (r == 0 && !json)
			printf("revoked token %s\n", pos.v[1]);
		return r;
	}
	if (!streq(verb, "create") || pos.n != 1)
		return cli_usage_error(self, "unknown use of token; see 'nua help token'");
	if (!name)
		return cli_usage_error(self, "create needs --name NAME");
	body = json_pack("{s:s, s:s}", "name", name, "role", role ? role : "deploy");
	if (instance)
		json_object_set_new(body, "instance", json_string(instance));
	if (expires) {
		long long secs = parse_duration(expires);

		if (secs <= 0) {
			json_decref(body);
			return cli_usage_error(self, "--expires takes a duration: 30d, 12h, 90m");
		}
		json_object_set_new(body, "expires_in", json_integer(secs));
	}
	r = client_call("POST", "/v1/tokens", body, &out, &err);
	json_decref(body);
	if (r < 0)
		return nua_error_report(err);
	if (json) {
		cli_print_json(out);
		return 0;
	}
	printf("token %s (%s, role %s%s%s):\n%s\n", cli_json_str(out, "name", "?"),
	       cli_json_str(out, "id", "?"), cli_json_str(out, "role", "?"),
	       instance ? ", instance " : "", instance ? instance : "",
	       cli_json_str(out, "token", "?"));
	fflush(stdout);
	fprintf(stderr,
		"(shown once: keep it in your CI's secrets; 'nua token rm %s' revokes it)\n",
		cli_json_str(out, "id", "?"));
	json_decref(out);
	return 0;
}

static void print_audit(json_t *list)
{
	size_t i;
	json_t *a;

	printf("%-16s %-28s %-16s %-6s %-6s %s\n", "TIME", "WHO", "FROM", "STATUS", "METHOD",
	       "PATH");
	json_array_foreach(list, i, a) {
		char when[32];
		long long status = 0;

		print_time(a, "time", when, sizeof(when));
		cli_json_int(a, "status", &status);
		printf("%-16s %-28s %-16s %-6lld %-6s %s\n", when, str_or(a, "who", "?"),
		       str_or(a, "origin", "?"), status, str_or(a, "method", "?"),
		       str_or(a, "path", "?"));
	}
	json_decref(list);
}

int cmd_audit(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "since", required_argument, NULL, 's' },
		{ "limit", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd_struct *self = cli_find_command("audit");
	_cleanup_args_ struct cli_args pos = { 0 };
	_cleanup_free_ char *path = NULL;
	long long since = -1, limit = 100;
	bool json = false;
	char *end;
	int c;

	while ((c = cli_getopt_args(self, argc, argv, "n:", longopts, &pos)) != -1) {
		if (c == '?')
			return NUA_EINPUT;
		if (c == 'j') {
			json = true;
		} else if (c == 's' || c == 'n') {
			long long v = strtoll(optarg, &end, 10);

			if (*end || end == optarg || v < 0)
				return cli_usage_error(self, "--%s takes a number",
						       c == 's' ? "since" : "limit");
			if (c == 's')
				since = v;
			else
				limit = v;
		}
	}
	if (pos.n)
		return cli_usage_error(self, "audit takes no argument");
	path = since >= 0 ? xasprintf("/v1/audit?since=%lld&limit=%lld", since, limit)
			  : xasprintf("/v1/audit?limit=%lld", limit);
	return call("GET", path, NULL, json, print_audit);
}

/* ---- remote use ---- */

int cmd_login(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "cacert", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd_struct *self = cli_find_command("login");
	_cleanup_args_ struct cli_args pos = { 0 };
	_cleanup_error_ struct nua_error *err = NULL;
	_cleanup_free_ char *path = NULL, *dir = NULL, *text = NULL, *cacert = NULL;
	json_t *me = NULL, *saved;
	char *token;
	int c, r;

	while ((c = cli_getopt_args(self, argc, argv, "", longopts, &pos)) != -1) {
		if (c == '?')
			return NUA_EINPUT;
		if (c == 'c' && !(cacert = cli_absolute_path(optarg)))
			return cli_error(NUA_EINPUT, "cannot read '%s'", optarg);
	}
	if (pos.n != 1 || !starts_with(pos.v[0], "https://"))
		return cli_usage_error(self, "give the server's API URL, over HTTPS "
					     "(https://admin.example.org)");
	if (cacert && access(cacert, R_OK) < 0)
		return cli_error(NUA_EINPUT, "cannot read '%s': %s", cacert, strerror(errno));
	token = isatty(STDIN_FILENO) ? ask_hidden("token: ") : read_line(stdin);
	if (!token || !token[0]) {
		free_secret(token);
		return cli_error(NUA_EINPUT,
				 "no token given ('nua token create' on the server makes one)");
	}
	/* Checked before it is kept: this process talks to the server. */
	setenv("NUA_HOST", pos.v[0], 1);
	setenv("NUA_TOKEN", token, 1);
	if (cacert)
		setenv("NUA_CACERT", cacert, 1);
	client_init();
	r = client_call("GET", "/v1/me", NULL, &me, &err);
	client_cleanup();
	unsetenv("NUA_TOKEN");
	if (r < 0) {
		free_secret(token);
		return nua_error_report(err);
	}
	saved = json_pack("{s:s, s:s}", "url", pos.v[0], "token", token);
	free_secret(token);
	if (cacert)
		json_object_set_new(saved, "cacert", json_string(cacert));
	text = json_dumps(saved, JSON_INDENT(2));
	json_decref(saved);
	path = client_login_path();
	dir = xstrndup(path, (size_t)(strrchr(path, '/') - path));
	if (mkdir_p(dir, 0700) < 0 || write_file_atomic(path, text, strlen(text), 0600) < 0) {
		explicit_bzero(text, strlen(text));
		json_decref(me);
		return cli_error(NUA_EFAIL, "cannot write '%s': %s", path, strerror(errno));
	}
	explicit_bzero(text, strlen(text));
	printf("logged in to %s as %s (role %s)%s%s; 'nua logout' forgets it\n", pos.v[0],
	       cli_json_str(me, "who", "?"), cli_json_str(me, "role", "?"),
	       json_is_string(json_object_get(me, "instance")) ? ", limited to " : "",
	       cli_json_str(me, "instance", ""));
	json_decref(me);
	return 0;
}

int cmd_logout(int argc, char **argv)
{
	const struct cmd_struct *self = cli_find_command("logout");
	_cleanup_free_ char *path = client_login_path();

	(void)argv;
	if (argc > 1)
		return cli_usage_error(self, "logout takes no argument");
	if (unlink(path) < 0 && errno != ENOENT)
		return cli_error(NUA_EFAIL, "cannot remove '%s': %s", path, strerror(errno));
	printf("logged out: commands go to this machine's nua daemon\n");
	return 0;
}

static void print_server(json_t *s)
{
	printf("admin domain: %s\n",
	       cli_json_str(s, "admin_domain", "none ('nua server domain DOMAIN' sets one)"));
	if (json_is_string(json_object_get(s, "api_url")))
		printf("remote API:   %s ('nua login %s' from another machine)\n",
		       cli_json_str(s, "api_url", ""), cli_json_str(s, "api_url", ""));
	json_decref(s);
}

int cmd_server(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "none", no_argument, NULL, 'N' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd_struct *self = cli_find_command("server");
	_cleanup_args_ struct cli_args pos = { 0 };
	bool json = false, none = false;
	int c;

	while ((c = cli_getopt_args(self, argc, argv, "", longopts, &pos)) != -1) {
		if (c == '?')
			return NUA_EINPUT;
		if (c == 'j')
			json = true;
		else if (c == 'N')
			none = true;
	}
	if (pos.n == 0 && !none)
		return call("GET", "/v1/server", NULL, json, print_server);
	if (pos.n >= 1 && streq(pos.v[0], "domain") && pos.n == (none ? 1u : 2u))
		return call("PATCH", "/v1/server",
			    json_pack("{s:o}", "admin_domain",
				      none ? json_null() : json_string(pos.v[1])),
			    json, print_server);
	return cli_usage_error(self, "unknown use of server; see 'nua help server'");
}

/* The QR code of text on the terminal: two rows of modules per line with
 * half blocks, light modules drawn (a dark terminal shows them white),
 * with a quiet zone of two. */
static void print_qr(const char *text)
{
	QRcode *q = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	int w, border = 2;

	if (!q)
		return;
	w = q->width;
	for (int y = -border; y < w + border; y += 2) {
		for (int x = -border; x < w + border; x++) {
			bool top = y >= 0 && y < w && x >= 0 && x < w && (q->data[y * w + x] & 1);
			bool bottom = y + 1 >= 0 && y + 1 < w && x >= 0 && x < w &&
				      (q->data[(y + 1) * w + x] & 1);

			/* A dark module is a space; a light one ink. */
			fputs(!top && !bottom ? "\u2588"
			      : !top	      ? "\u2580"
			      : !bottom	      ? "\u2584"
					      : " ",
			      stdout);
		}
		fputc('\n', stdout);
	}
	QRcode_free(q);
}

/* nua user totp NAME [--off]: enrol an authenticator (its QR code, a code
 * from it to prove it, then the recovery codes), or turn TOTP off. */
int cmd_user_totp(const char *name, bool off, bool json)
{
	_cleanup_free_ char *esc = client_escape(name);
	_cleanup_free_ char *path = xasprintf("/v1/users/%s/totp", esc);
	_cleanup_error_ struct nua_error *err = NULL;
	json_t *out = NULL, *body;
	char *code;
	size_t i;
	json_t *c;
	int r;

	if (off) {
		r = call("DELETE", path, NULL, json, NULL);
		if (r == 0 && !json)
			printf("TOTP is off for %s\n", name);
		return r;
	}
	body = json_object();
	r = client_call("POST", path, body, &out, &err);
	json_decref(body);
	if (r < 0)
		return nua_error_report(err);
	if (isatty(STDIN_FILENO)) {
		printf("Scan this with an authenticator app (or enter the secret %s):\n\n",
		       cli_json_str(out, "secret", "?"));
		print_qr(cli_json_str(out, "uri", ""));
		printf("\n%s\n\n", cli_json_str(out, "uri", ""));
		fflush(stdout);
		code = ask_hidden("code shown by the app: ");
	} else {
		/* A script: the URI on stdout, the code on stdin. */
		printf("%s\n", cli_json_str(out, "uri", ""));
		fflush(stdout);
		code = read_line(stdin);
	}
	if (!code || !code[0]) {
		free_secret(code);
		json_decref(out);
		return cli_error(NUA_EINPUT, "no code given: TOTP stays off");
	}
	body = json_pack("{s:s, s:s}", "secret", cli_json_str(out, "secret", ""), "code", code);
	free_secret(code);
	json_decref(out);
	out = NULL;
	r = client_call("POST", path, body, &out, &err);
	json_decref(body);
	if (r < 0)
		return nua_error_report(err);
	if (json) {
		cli_print_json(out);
		return 0;
	}
	printf("TOTP is on for %s. Recovery codes, each good once (keep them safe):\n", name);
	json_array_foreach(json_object_get(out, "recovery_codes"), i, c)
		printf("  %s\n", json_string_value(c));
	json_decref(out);
	return 0;
}

/* ---- access control of apps ---- */

static void print_access(json_t *o)
{
	json_t *rules = json_object_get(o, "rules"), *r;
	size_t i;

	if (json_array_size(rules) == 0) {
		printf("%s is public: no rule ('nua access %s private' makes it private)\n",
		       cli_json_str(o, "name", "?"), cli_json_str(o, "name", "?"));
		json_decref(o);
		return;
	}
	printf("%-24s %-8s %s\n", "PATH", "ACCESS", "ALLOWED");
	json_array_foreach(rules, i, r) {
		char allow[256];
		bool priv = json_is_true(json_object_get(r, "private"));

		join_names(json_object_get(r, "allow"), allow, sizeof(allow));
		printf("%-24s %-8s %s\n", cli_json_str(r, "path", "/"), priv ? "private" : "public",
		       !priv		   ? "anyone"
		       : streq(allow, "-") ? "any user who logs in"
					   : allow);
	}
	json_decref(o);
}

int cmd_access(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "path", required_argument, NULL, 'p' },
		{ "allow", required_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd_struct *self = cli_find_command("access");
	_cleanup_args_ struct cli_args pos = { 0 };
	_cleanup_free_ char *path = NULL;
	const char *rule_path = NULL, *allow = NULL, *verb;
	bool json = false;
	json_t *body;
	int c;

	while ((c = cli_getopt_args(self, argc, argv, "", longopts, &pos)) != -1) {
		if (c == '?')
			return NUA_EINPUT;
		if (c == 'j')
			json = true;
		else if (c == 'p')
			rule_path = optarg;
		else if (c == 'a')
			allow = optarg;
	}
	if (pos.n < 1 || pos.n > 2)
		return cli_usage_error(self, "unknown use of access; see 'nua help access'");
	path = client_instance_path(pos.v[0], "/access");
	verb = pos.n == 2 ? pos.v[1] : NULL;
	if (!verb) {
		if (rule_path || allow)
			return cli_usage_error(self, "--path and --allow are for a rule");
		return call("GET", path, NULL, json, print_access);
	}
	if (allow && !streq(verb, "private"))
		return cli_usage_error(self, "--allow is for a private rule");
	if (streq(verb, "private") || streq(verb, "public")) {
		body = json_pack("{s:s, s:b}", "path", rule_path ? rule_path : "/", "private",
				 streq(verb, "private"));
		if (allow)
			json_object_set_new(body, "allow", json_string(allow));
		return call("POST", path, body, json, print_access);
	}
	if (streq(verb, "rm"))
		return call("DELETE", path, json_pack("{s:s}", "path", rule_path ? rule_path : "/"),
			    json, print_access);
	return cli_usage_error(self, "unknown use of access; see 'nua help access'");
}
