/* libFuzzer harness for the API's requests: the first byte chooses what
 * the rest is (a URL path, or the body of a deploy, build, export, import,
 * backup, TLS, env, user, group or token request, a portal's form or a
 * Cookie header). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nua_error *err = NULL;
	const char *body;
	size_t len;
	int which;

	if (size < 1)
		return 0;
	body = (const char *)data + 1;
	len = size - 1;
	which = data[0] % 19;
	switch (which) {
	case 0: {
		char seg[API_PATH_SEGMENTS][API_SEGMENT_MAX];
		char *url = malloc(len + 1);

		memcpy(url, body, len);
		url[len] = '\0';
		api_split_path(url, seg);
		free(url);
		break;
	}
	case 1: {
		struct api_deploy d;

		api_parse_deploy(body, len, &d, &err);
		api_deploy_release(&d);
		break;
	}
	case 2:
	case 3:
	case 4:
	case 5:
	case 6: {
		struct api_path_body b;

		api_parse_path_body((enum api_path_kind)(which - 2), body, len, &b, &err);
		api_path_body_release(&b);
		break;
	}
	case 7: {
		struct api_snapshot_body b;

		api_parse_snapshot_body(data[1 % size] & 1 ? API_BACKUP : API_RESTORE_SNAPSHOT, body,
					len, &b, &err);
		api_snapshot_body_release(&b);
		break;
	}
	case 8: {
		struct api_target t;

		api_parse_target(body, len, &t, &err);
		api_target_release(&t);
		break;
	}
	case 9: {
		struct api_policy p;

		api_parse_policy(body, len, &p, &err);
		break;
	}
	case 10: {
		struct api_recover r;

		api_parse_recover(body, len, &r, &err);
		api_recover_release(&r);
		break;
	}
	case 11: {
		struct api_upgrade u;

		api_parse_upgrade(body, len, &u, &err);
		api_upgrade_release(&u);
		break;
	}
	case 12: {
		struct api_import im;

		api_parse_import(body, len, &im, &err);
		api_import_release(&im);
		break;
	}
	case 13: {
		struct api_tls t;

		/* The length picks which of the TLS bodies. */
		api_parse_tls(body, len, (enum api_tls_kind)(len % API_TLS_KINDS), &t, &err);
		api_tls_release(&t);
		break;
	}
	case 14: {
		struct api_user u;

		api_parse_user(body, len, (enum api_user_kind)(len % API_USER_KINDS), &u, &err);
		api_user_release(&u);
		break;
	}
	case 15: {
		/* A form: the name is the body's first line. */
		const char *nl = memchr(body, '\n', len);
		char *name = strndup(body, nl ? (size_t)(nl - body) : 0);

		if (name)
			free(api_form_value(nl ? nl + 1 : body, nl ? len - (size_t)(nl + 1 - body) : len,
					    name));
		free(name);
		break;
	}
	case 16: {
		char *header = strndup(body, len);

		if (header) {
			free(api_cookie_value(header, "nua_session"));
			free(api_cookie_value(header, ""));
		}
		free(header);
		break;
	}
	case 17: {
		struct api_access a;

		api_parse_access(body, len, len % 2, &a, &err);
		api_access_release(&a);
		break;
	}
	default: {
		struct api_env_patch p;

		api_parse_env_patch(body, len, &p, &err);
		api_env_patch_release(&p);
		break;
	}
	}
	nua_error_free(err);
	return 0;
}
