/* The CLI's side of the API (docs/api.md): HTTP/1.1 requests to the daemon
 * on its unix socket, $NUA_RUN/nua.sock, through libcurl.
 *
 * Every function maps the daemon's answer to a struct nua_error the same
 * way: a 4xx answer is NUA_EINPUT and a 5xx NUA_EFAIL, both with the
 * message of the body's {"error": {"message": ...}}; a daemon that cannot be
 * reached (no socket, connection refused) or that breaks the connection is
 * NUA_EFAIL, with a message that says how to start it. path is the
 * request's path and query ("/v1/instances/blog?purge=1"); its parts that
 * come from a person go through client_escape first. */
#ifndef NUA_CLI_CLIENT_H
#define NUA_CLI_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "error.h"

/* Set up and tear down libcurl; main calls them around every verb that
 * talks to the daemon (CMD_NEED_DAEMON). Not thread-safe. */
void client_init(void);
void client_cleanup(void);

/* $NUA_RUN/nua.sock (caller frees). */
char *client_socket_path(void);

/* Remote use: NUA_HOST (the server's API URL, "https://admin.example.org")
 * with NUA_TOKEN (and NUA_CACERT, a CA file to trust), else the file 'nua
 * login' wrote (client_login_path(), unless NUA_ROOT or NUA_RUN name a
 * local server): every request goes there with the token, instead of to
 * the local socket. */
bool client_is_remote(void);
/* $XDG_CONFIG_HOME/nua/remote.json, or ~/.config/nua/remote.json. */
char *client_login_path(void);

/* Send the package directory dir to a remote server (POST /v1/packages:
 * the archive 'nua export' writes, tar and zstd with a checksum of every
 * file): *server_path receives where the server put it, which a build or
 * a deploy then names. */
int client_upload(const char *dir, char **server_path, struct nua_error **err);

/* s percent-encoded for one segment of a path or a query value: every byte
 * but ASCII letters, digits and "-._~:" (caller frees). */
char *client_escape(const char *s);

/* The API path of instance name, then suffix ("", "/start", "/env?..."):
 * "/v1/instances/NAME..." with the name escaped (caller frees). */
char *client_instance_path(const char *name, const char *suffix);

/* One JSON request: method ("GET", "POST", "PATCH", "DELETE") on path, with
 * body (borrowed; NULL sends none) as its JSON body. On success returns 0
 * and, when out is not NULL, *out is the parsed answer (a new reference;
 * NULL when the answer is empty). Returns -1 with *err otherwise. */
int client_call(const char *method, const char *path, json_t *body, json_t **out,
		struct nua_error **err);

/* A long operation (deploy, build): like client_call, but asks for the
 * daemon's progress stream (Accept: application/x-ndjson) and prints the
 * text of each {"progress": ...} line on stderr as it comes. *out is what
 * {"result": ...} carried; an {"error": ...} line is mapped like an error
 * status. A daemon that answers without streaming is handled as
 * client_call. */
int client_call_progress(const char *method, const char *path, json_t *body, json_t **out,
			 struct nua_error **err);

/* One server-sent event; the strings are borrowed for the callback only.
 * id and event are "" when the event had none; data joins its data: lines
 * with "\n". */
struct client_event {
	const char *id;
	const char *event;
	const char *data;
};

/* Returns 0 to go on, anything else to stop the stream (the value is then
 * what client_events returns). */
typedef int (*client_event_fn)(const struct client_event *ev, void *arg);

/* GET path as a stream of server-sent events (Accept: text/event-stream)
 * and call fn for each as it arrives, until the daemon closes the stream
 * (0), fn asks to stop (fn's value) or the user interrupts (the process
 * ends on SIGINT as usual). A daemon that answers with an error status, or
 * with no stream, is -1 with *err. */
int client_events(const char *path, client_event_fn fn, void *arg, struct nua_error **err);

/* GET path as text (the logs): *out is the body, NUL-terminated, *len
 * (may be NULL) its length without the NUL; the caller frees *out. */
int client_get_text(const char *path, char **out, size_t *len, struct nua_error **err);

#endif
