/* deploy.toml: several instances deployed at once (nua deploy -f FILE).
 *
 *   [[site]]
 *   image = "hedgedoc:1.9.6-1"   # an image, or a package directory
 *   domain = "notes.example.com" # or "example.com/notes"
 *   label = "notes"              # the instance name (default: from image)
 *   [site.env]
 *   KEY = "value"
 *
 * Every problem is collected as FILE:LINE:COL diagnostics, as for
 * nua-config.toml. A relative package directory is taken from the file's own
 * directory. */
#ifndef NUA_DEPLOY_FILE_H
#define NUA_DEPLOY_FILE_H

#include <stddef.h>

#include "error.h"

struct deploy_site {
	char *image;  /* as written, or resolved against the file's directory */
	char *domain; /* or NULL */
	char *label;  /* or NULL */
	char **env;   /* "KEY=VALUE", NULL-terminated */
	size_t nenv;
	int line;     /* of the [[site]] header */
};

struct deploy_file {
	struct deploy_site *sites;
	size_t n;
};

/* Parse len bytes of buf; name is the file's name (for diagnostics and for
 * relative package paths). Returns 0 with *out filled, or -1 with every
 * problem in diags. */
int deploy_file_parse(const char *name, const char *buf, size_t len, struct deploy_file *out,
		      struct diag_list *diags);
void deploy_file_release(struct deploy_file *df);

#endif
