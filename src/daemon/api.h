/* What the API's source files share (api.c routes and serves; api_access.c
 * says who asks and what they may do, and serves users, groups, tokens and
 * the audit log). Internal to the daemon. */
#ifndef NUA_DAEMON_API_H
#define NUA_DAEMON_API_H

#include <jansson.h>
#include <stdbool.h>

#include <microhttpd.h>

#include "api_request.h"
#include "daemon.h"
#include "strbuf.h"

/* Who makes a request: root on the unix socket, or a client of the remote
 * API (through nginx on the admin domain) with a token. */
struct principal {
	bool remote;	   /* came through the remote API's socket */
	bool known;	   /* authenticated */
	char who[96];	   /* "root", "token ci (0123456789ab)" */
	char origin[64];   /* "socket", or the client's address nginx gave */
	char role[8];	   /* admin, deploy, read */
	char instance[48]; /* the only instance a token may touch, or "" */
	char token_id[16]; /* the token's id, or "" */
	char csrf[40];	   /* a portal session's token, which its changes carry */
	char why[160];	   /* why it is not known (401) */
};

struct request {
	struct strbuf body;
	bool too_big;
	struct principal who;
	/* POST /v1/packages: the body goes to this file, not to memory. */
	int upload_fd; /* -1 when the body is kept in memory */
	char *upload_path;
	long long upload_len;
	bool portal; /* a page of the login portal, which needs no token */
};

/* The uploads' directory, $NUA_ROOT/uploads (caller frees), and the most an
 * upload may hold: NUA_UPLOAD_MAX bytes, 512 MiB by default. */
char *api_uploads_dir(void);
long long api_upload_max(void);

enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *type,
			  const char *text, size_t len);
/* Send j (taken) as the body. */
enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, json_t *j);
enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
	PRINTF(3, 4);
/* Send err (freed) as an error response. */
enum MHD_Result send_nua_error(struct MHD_Connection *c, struct nua_error *err);
/* Queue r with status (remembered for the audit log). */
enum MHD_Result api_queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *r);
/* The status of the last response this thread queued. */
unsigned api_last_status(void);

const char *arg(struct MHD_Connection *c, const char *key);
bool arg_true(struct MHD_Connection *c, const char *key);
long long arg_int(struct MHD_Connection *c, const char *key, long long def);

/* Fill req->who for a request on a listener (remote or not): root on the
 * unix socket; on the remote one, the bearer token's owner, or not known. */
void api_identify(struct daemon *d, struct MHD_Connection *c, bool remote, struct request *req);
/* NULL when req->who may make this request, or why not. */
const char *api_forbidden(struct MHD_Connection *c, const struct request *req, const char *method,
			  char seg[][API_SEGMENT_MAX], size_t n);
/* Record a request that changes something (or was refused) in the audit
 * log. */
void api_audit(struct daemon *d, const struct request *req, const char *method, const char *url,
	       unsigned status);
/* True when path is an upload's package (under api_uploads_dir()). */
bool api_in_uploads(const char *path);
/* Remove the uploads older than an hour. */
void api_uploads_prune(void);

/* /v1/me, /v1/users..., /v1/groups..., /v1/tokens..., /v1/audit: MHD_NO
 * when the path is none of them (*handled false). */
enum MHD_Result api_access_route(struct daemon *d, struct MHD_Connection *c, const char *method,
				 char seg[][API_SEGMENT_MAX], size_t n, const struct request *req,
				 bool *handled);

/* The login portal's pages (GET /, /login, /portal.css; POST /login,
 * /logout), served on the remote socket before any token is asked for. */
bool api_portal_path(const char *method, const char *url);
enum MHD_Result api_portal(struct daemon *d, struct MHD_Connection *c, const char *method,
			   const char *url, const struct request *req);

/* Serve the remote API on the admin domain the settings name (through
 * nginx, with HTTPS like an instance), or on none. */
int api_admin_apply(struct nua_ctx *ctx, struct nua_error **err);

#endif
