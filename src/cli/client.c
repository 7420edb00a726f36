/* The CLI's HTTP client of the daemon's API, over its unix socket, or over
 * HTTPS to a remote server's admin domain with a token. */
#define _GNU_SOURCE
#include "client.h"

#include <errno.h>
#include <string.h>

#include <curl/curl.h>

#include "archive_tree.h"
#include "cli.h"
#include "paths.h"
#include "strbuf.h"
#include "util.h"
#include "banned.h"

/* A remote server (NUA_HOST and NUA_TOKEN, or what 'nua login' kept), or
 * none: the local daemon's socket. */
static struct {
	char *url;    /* "https://admin.example.org[:PORT]", no trailing '/' */
	char *token;
	char *cacert; /* a CA file to trust, or NULL for the system's */
	char *auth;   /* "Authorization: Bearer TOKEN" */
} remote;

char *client_login_path(void)
{
	const char *cfg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");

	if (cfg && cfg[0] == '/')
		return xasprintf("%s/nua/remote.json", cfg);
	return xasprintf("%s/.config/nua/remote.json", home && home[0] ? home : "/root");
}

static void load_remote(void)
{
	const char *host = getenv("NUA_HOST");
	_cleanup_free_ char *path = NULL;
	json_t *j;

	if (host && host[0]) {
		const char *tok = getenv("NUA_TOKEN"), *ca = getenv("NUA_CACERT");

		remote.url = xstrdup(host);
		remote.token = xstrdup(tok ? tok : "");
		remote.cacert = ca && ca[0] ? xstrdup(ca) : NULL;
	} else if (!getenv("NUA_ROOT") && !getenv("NUA_RUN")) {
		/* A server's own root or run directory named: its socket. */
		path = client_login_path();
		j = json_load_file(path, 0, NULL);
		if (json_is_object(j) && json_is_string(json_object_get(j, "url"))) {
			const char *ca = json_string_value(json_object_get(j, "cacert"));

			remote.url = xstrdup(json_string_value(json_object_get(j, "url")));
			remote.token = xstrdup(cli_json_str(j, "token", ""));
			remote.cacert = ca ? xstrdup(ca) : NULL;
		}
		json_decref(j);
	}
	if (remote.url) {
		size_t n = strlen(remote.url);

		while (n > 0 && remote.url[n - 1] == '/')
			remote.url[--n] = '\0';
		remote.auth = xasprintf("Authorization: Bearer %s", remote.token);
	}
}

bool client_is_remote(void) { return remote.url != NULL; }

void client_init(void)
{
	load_remote();
	/* No TLS on a unix socket: nothing of libcurl's global set-up is
	 * needed, and nothing is left for valgrind to find. */
	if (curl_global_init(remote.url ? CURL_GLOBAL_DEFAULT : CURL_GLOBAL_NOTHING) != CURLE_OK)
		BUG("curl_global_init failed");
}

void client_cleanup(void)
{
	curl_global_cleanup();
	if (remote.token)
		explicit_bzero(remote.token, strlen(remote.token));
	if (remote.auth)
		explicit_bzero(remote.auth, strlen(remote.auth));
	free(remote.url);
	free(remote.token);
	free(remote.cacert);
	free(remote.auth);
	memset(&remote, 0, sizeof(remote));
}

char *client_socket_path(void)
{
	return nua_run_path("nua.sock");
}

char *client_instance_path(const char *name, const char *suffix)
{
	_cleanup_free_ char *esc = client_escape(name);

	return xasprintf("/v1/instances/%s%s", esc, suffix);
}

char *client_escape(const char *s) { return url_escape(s); }

/* What the answer is read as. */
enum xfer_mode {
	XFER_PLAIN,  /* one body, kept whole */
	XFER_NDJSON, /* progress lines, then a result or an error */
	XFER_SSE,    /* server-sent events */
};

struct xfer {
	CURL *curl;
	char errbuf[CURL_ERROR_SIZE]; /* libcurl's message, set while the handle lives */
	enum xfer_mode mode;
	bool decided;	/* the status and type of the answer were looked at */
	bool streaming; /* the answer is the stream asked for */
	struct strbuf body; /* a plain answer, or the incomplete line of a stream */

	/* XFER_NDJSON */
	bool ended; /* a result or an error came */
	json_t *result;
	struct nua_error *err; /* from the stream itself */

	/* XFER_SSE */
	struct strbuf ev_id, ev_name, ev_data;
	bool has_data;
	client_event_fn fn;
	void *arg;
	int stop; /* fn's value when it stopped the stream */

	/* A body read from this file rather than JSON (an upload). */
	FILE *upload;
	long long upload_size;
};

static void xfer_init(struct xfer *x, enum xfer_mode mode)
{
	memset(x, 0, sizeof(*x));
	x->mode = mode;
	strbuf_init(&x->body, 0);
	strbuf_init(&x->ev_id, 0);
	strbuf_init(&x->ev_name, 0);
	strbuf_init(&x->ev_data, 0);
}

static void xfer_release(struct xfer *x)
{
	if (x->curl)
		curl_easy_cleanup(x->curl);
	strbuf_release(&x->body);
	json_decref(x->result);
	nua_error_free(x->err);
	strbuf_release(&x->ev_id);
	strbuf_release(&x->ev_name);
	strbuf_release(&x->ev_data);
}

/* The error an API error object (or, when it has none, the answer's text)
 * means. Returns -1. */
static int error_from_answer(long code, json_t *error, const char *text, struct nua_error **err)
{
	json_t *msg = json_object_get(error, "message");
	json_t *st = json_object_get(error, "status");
	int status;

	if (json_is_integer(st))
		code = (long)json_integer_value(st);
	status = code >= 400 && code < 500 ? NUA_EINPUT : NUA_EFAIL;
	if (json_is_string(msg))
		return nua_error_set(err, status, "%s", json_string_value(msg));
	if (text && *text) {
		size_t len = strcspn(text, "\n");

		return nua_error_set(err, status, "the nua daemon answered %ld: %.*s", code,
				     (int)len, text);
	}
	return nua_error_set(err, status, "the nua daemon answered %ld and said nothing more",
			     code);
}

/* The error of a non-2xx plain answer. */
static int error_from_body(long code, const char *body, struct nua_error **err)
{
	json_t *j = json_loads(body, 0, NULL);
	int r = error_from_answer(code, json_object_get(j, "error"), body, err);

	json_decref(j);
	return r;
}

static void decide(struct xfer *x)
{
	long code = 0;
	const char *type = NULL;

	x->decided = true;
	curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(x->curl, CURLINFO_CONTENT_TYPE, &type);
	if (code != 200 || !type)
		return;
	if (x->mode == XFER_NDJSON)
		x->streaming = starts_with(type, "application/x-ndjson");
	else if (x->mode == XFER_SSE)
		x->streaming = starts_with(type, "text/event-stream");
}

/* One line of a progress stream. Returns 0 to go on, -1 to stop. */
static int ndjson_line(struct xfer *x, const char *line)
{
	json_t *j, *v;

	if (x->ended || !*line)
		return 0;
	j = json_loads(line, 0, NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		nua_error_set(&x->err, NUA_EFAIL,
			      "the nua daemon sent a line that is not JSON: '%s'", line);
		return -1;
	}
	if ((v = json_object_get(j, "progress"))) {
		const char *text = json_is_string(v) ? json_string_value(v) : "";
		size_t len = strlen(text);

		fputs(text, stderr);
		if (!len || text[len - 1] != '\n')
			fputc('\n', stderr);
		fflush(stderr);
	} else if ((v = json_object_get(j, "result"))) {
		x->result = json_incref(v);
		x->ended = true;
	} else if ((v = json_object_get(j, "error"))) {
		error_from_answer(500, v, NULL, &x->err);
		x->ended = true;
	}
	json_decref(j);
	return 0;
}

/* One line of an event stream (the EventSource rules, without retry). */
static int sse_line(struct xfer *x, const char *line)
{
	const char *colon, *value;
	size_t flen;

	if (!*line) {
		struct client_event ev;
		int r;

		if (!x->has_data) {
			strbuf_reset(&x->ev_name);
			return 0;
		}
		if (x->ev_data.len && x->ev_data.buf[x->ev_data.len - 1] == '\n')
			strbuf_setlen(&x->ev_data, x->ev_data.len - 1);
		ev = (struct client_event){ x->ev_id.buf, x->ev_name.buf, x->ev_data.buf };
		r = x->fn(&ev, x->arg);
		strbuf_reset(&x->ev_name);
		strbuf_reset(&x->ev_data);
		x->has_data = false;
		if (r) {
			x->stop = r;
			return -1;
		}
		return 0;
	}
	if (line[0] == ':')
		return 0;
	colon = strchr(line, ':');
	flen = colon ? (size_t)(colon - line) : strlen(line);
	value = colon ? colon + 1 : "";
	if (*value == ' ')
		value++;
	if (flen == 4 && !strncmp(line, "data", 4)) {
		strbuf_addstr(&x->ev_data, value);
		strbuf_addch(&x->ev_data, '\n');
		x->has_data = true;
	} else if (flen == 5 && !strncmp(line, "event", 5)) {
		strbuf_reset(&x->ev_name);
		strbuf_addstr(&x->ev_name, value);
	} else if (flen == 2 && !strncmp(line, "id", 2)) {
		/* The last id given stays the event's id, as in EventSource. */
		strbuf_reset(&x->ev_id);
		strbuf_addstr(&x->ev_id, value);
	}
	return 0;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct xfer *x = userdata;
	size_t n = size * nmemb, start = 0;
	char *nl;

	if (!x->decided)
		decide(x);
	strbuf_add(&x->body, ptr, n);
	if (!x->streaming)
		return n;
	while ((nl = memchr(x->body.buf + start, '\n', x->body.len - start))) {
		char *line = x->body.buf + start;
		size_t len = (size_t)(nl - line);
		int r;

		*nl = '\0';
		if (len && line[len - 1] == '\r')
			line[len - 1] = '\0';
		start += len + 1;
		r = x->mode == XFER_NDJSON ? ndjson_line(x, line) : sse_line(x, line);
		if (r < 0)
			return 0; /* curl stops with CURLE_WRITE_ERROR */
	}
	memmove(x->body.buf, x->body.buf + start, x->body.len - start);
	strbuf_setlen(&x->body, x->body.len - start);
	return n;
}

/* Send the request and read the whole answer through on_data. Returns the
 * HTTP status, or -1 with *err when there was no complete answer: the
 * daemon could not be reached, or the connection broke. A stream stopped
 * by its reader is not an error. */
static long perform(struct xfer *x, const char *method, const char *path, json_t *body,
		    const char *accept, struct nua_error **err)
{
	_cleanup_free_ char *sock = remote.url ? xstrdup(remote.url) : client_socket_path();
	_cleanup_free_ char *url = remote.url ? xasprintf("%s%s", remote.url, path)
					      : xasprintf("http://nua%s", path);
	_cleanup_free_ char *accept_hdr = xasprintf("Accept: %s", accept);
	_cleanup_free_ char *data = NULL;
	struct curl_slist *hdrs = NULL;
	char *errbuf = x->errbuf;
	CURLcode rc;
	long code = 0, os_errno = 0;

	x->curl = curl_easy_init();
	if (!x->curl)
		BUG("curl_easy_init failed");
	hdrs = curl_slist_append(hdrs, accept_hdr);
	/* No "Expect: 100-continue" round trip before a body. */
	hdrs = curl_slist_append(hdrs, "Expect:");
	if (body) {
		data = json_dumps(body, JSON_COMPACT);
		if (!data)
			BUG("cannot encode a request body as JSON");
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	} else if (x->upload) {
		hdrs = curl_slist_append(hdrs, "Content-Type: application/octet-stream");
	}
	if (remote.url) {
		hdrs = curl_slist_append(hdrs, remote.auth);
		/* The token goes over HTTPS only. */
		curl_easy_setopt(x->curl, CURLOPT_PROTOCOLS_STR, "https");
		if (remote.cacert)
			curl_easy_setopt(x->curl, CURLOPT_CAINFO, remote.cacert);
	} else {
		curl_easy_setopt(x->curl, CURLOPT_UNIX_SOCKET_PATH, sock);
		curl_easy_setopt(x->curl, CURLOPT_PROTOCOLS_STR, "http");
	}
	curl_easy_setopt(x->curl, CURLOPT_URL, url);
	curl_easy_setopt(x->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(x->curl, CURLOPT_USERAGENT, "nua/" NUA_VERSION);
	curl_easy_setopt(x->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->curl, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(x->curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(x->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(x->curl, CURLOPT_WRITEDATA, x);
	if (x->upload) {
		curl_easy_setopt(x->curl, CURLOPT_POST, 1L);
		curl_easy_setopt(x->curl, CURLOPT_READDATA, x->upload);
		curl_easy_setopt(x->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->upload_size);
	} else if (data || !streq(method, "GET")) {
		/* POST, PATCH and DELETE send their body (or an empty one, with
		 * its Content-Length) the same way; only the method differs. */
		if (data || !streq(method, "DELETE")) {
			curl_easy_setopt(x->curl, CURLOPT_POSTFIELDSIZE,
					 data ? (long)strlen(data) : 0L);
			curl_easy_setopt(x->curl, CURLOPT_POSTFIELDS, data ? data : "");
		}
		if (!streq(method, "POST"))
			curl_easy_setopt(x->curl, CURLOPT_CUSTOMREQUEST, method);
	}

	rc = curl_easy_perform(x->curl);
	curl_slist_free_all(hdrs);
	curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &code);
	if (!x->decided)
		decide(x);
	if (rc == CURLE_WRITE_ERROR && (x->stop || x->err))
		return code;
	if (rc == CURLE_OK)
		return code;
	if (!errbuf[0])
		snprintf(errbuf, sizeof(x->errbuf), "%s", curl_easy_strerror(rc));
	if (remote.url)
		return nua_error_set(err, NUA_EFAIL, "cannot reach the nua server at '%s': %s",
				     remote.url, errbuf);
	if (rc == CURLE_COULDNT_CONNECT) {
		curl_easy_getinfo(x->curl, CURLINFO_OS_ERRNO, &os_errno);
		if (os_errno == ENOENT || os_errno == ECONNREFUSED)
			return nua_error_set(err, NUA_EFAIL,
					     "cannot reach the nua daemon at '%s': %s; start it "
					     "with 'nua daemon --detach'",
					     sock, strerror((int)os_errno));
		return nua_error_set(err, NUA_EFAIL, "cannot reach the nua daemon at '%s': %s",
				     sock, os_errno ? strerror((int)os_errno) : errbuf);
	}
	if (code == 0)
		return nua_error_set(err, NUA_EFAIL, "no answer from the nua daemon at '%s': %s",
				     sock, errbuf);
	return nua_error_set(err, NUA_EFAIL, "lost the connection to the nua daemon at '%s': %s",
			     sock, errbuf);
}

/* A plain answer's JSON body into *out (may be NULL). */
static int plain_answer(struct xfer *x, long code, json_t **out, struct nua_error **err)
{
	json_t *j;
	json_error_t jerr;

	if (code < 200 || code >= 300) {
		if (code >= 400)
			return error_from_body(code, x->body.buf, err);
		return nua_error_set(err, NUA_EFAIL, "the nua daemon answered %ld, not a result",
				     code);
	}
	if (!out)
		return 0;
	*out = NULL;
	if (!x->body.len)
		return 0;
	j = json_loadb(x->body.buf, x->body.len, JSON_DECODE_ANY, &jerr);
	if (!j)
		return nua_error_set(err, NUA_EFAIL,
				     "the nua daemon answered something that is not JSON: %s",
				     jerr.text);
	*out = j;
	return 0;
}

int client_call(const char *method, const char *path, json_t *body, json_t **out,
		struct nua_error **err)
{
	struct xfer x;
	long code;
	int r;

	xfer_init(&x, XFER_PLAIN);
	if (out)
		*out = NULL;
	code = perform(&x, method, path, body, "application/json", err);
	r = code < 0 ? -1 : plain_answer(&x, code, out, err);
	xfer_release(&x);
	return r;
}

int client_call_progress(const char *method, const char *path, json_t *body, json_t **out,
			 struct nua_error **err)
{
	struct xfer x;
	long code;
	int r = -1;

	xfer_init(&x, XFER_NDJSON);
	if (out)
		*out = NULL;
	code = perform(&x, method, path, body, "application/x-ndjson", err);
	if (code < 0)
		goto out;
	if (!x.streaming) {
		r = plain_answer(&x, code, out, err);
		goto out;
	}
	/* A last line without its newline still counts. */
	if (x.body.len && !x.err)
		ndjson_line(&x, x.body.buf);
	if (x.err) {
		*err = TAKE_PTR(x.err);
	} else if (!x.ended) {
		nua_error_set(err, NUA_EFAIL,
			      "the nua daemon ended the operation without its result; "
			      "'nua events' may say what happened");
	} else {
		if (out)
			*out = TAKE_PTR(x.result);
		r = 0;
	}
out:
	xfer_release(&x);
	return r;
}

int client_events(const char *path, client_event_fn fn, void *arg, struct nua_error **err)
{
	struct xfer x;
	long code;
	int r = -1;

	xfer_init(&x, XFER_SSE);
	x.fn = fn;
	x.arg = arg;
	code = perform(&x, "GET", path, NULL, "text/event-stream", err);
	if (code < 0)
		goto out;
	if (!x.streaming) {
		if (code >= 200 && code < 300)
			nua_error_set(err, NUA_EFAIL,
				      "the nua daemon answered 'GET %s' without an event stream",
				      path);
		else
			plain_answer(&x, code, NULL, err);
		goto out;
	}
	r = x.stop;
out:
	xfer_release(&x);
	return r;
}

int client_get_text(const char *path, char **out, size_t *len, struct nua_error **err)
{
	struct xfer x;
	long code;
	int r = -1;

	xfer_init(&x, XFER_PLAIN);
	*out = NULL;
	code = perform(&x, "GET", path, NULL, "text/plain", err);
	if (code >= 0)
		r = code >= 200 && code < 300 ? 0 : plain_answer(&x, code, NULL, err);
	if (r == 0)
		*out = strbuf_detach(&x.body, len);
	xfer_release(&x);
	return r;
}

int client_upload(const char *dir, char **server_path, struct nua_error **err)
{
	_cleanup_free_ char *tmpdir = NULL, *file = NULL;
	const char *rels[] = { ".", NULL };
	const char *base = getenv("TMPDIR");
	struct xfer x;
	json_t *out = NULL;
	long code;
	int r = -1;

	*server_path = NULL;
	tmpdir = xasprintf("%s/nua-upload-XXXXXX", base && base[0] == '/' ? base : "/tmp");
	if (!mkdtemp(tmpdir))
		return nua_error_set(err, NUA_EFAIL, "cannot make a temporary directory: %s",
				     strerror(errno));
	file = xasprintf("%s/package.nua", tmpdir);
	if (archive_tree_write(file, dir, rels, err) < 0)
		goto out;
	xfer_init(&x, XFER_PLAIN);
	x.upload = fopen(file, "rbe");
	if (!x.upload) {
		nua_error_set(err, NUA_EFAIL, "cannot read '%s': %s", file, strerror(errno));
		xfer_release(&x);
		goto out;
	}
	fseek(x.upload, 0, SEEK_END);
	x.upload_size = ftell(x.upload);
	rewind(x.upload);
	code = perform(&x, "POST", "/v1/packages", NULL, "application/json", err);
	if (code >= 0)
		r = plain_answer(&x, code, &out, err);
	fclose(x.upload);
	xfer_release(&x);
	if (r == 0 && !json_is_string(json_object_get(out, "path")))
		r = nua_error_set(err, NUA_EFAIL, "the server did not say where the upload went");
	if (r == 0)
		*server_path = xstrdup(json_string_value(json_object_get(out, "path")));
	json_decref(out);
out:
	unlink(file);
	rmdir(tmpdir);
	{
		_cleanup_free_ char *tmp = xasprintf("%s.tmp", file);

		unlink(tmp);
	}
	return r;
}
