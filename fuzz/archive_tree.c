/* libFuzzer harness for the archives `nua import` reads: the input is the
 * file, extracted into a fresh directory (then removed), checked against
 * its index. As root, owners and modes are applied: the harness runs
 * under a temporary directory of its own. */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive_tree.h"
#include "mount.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char base[] = "/tmp/nua-fuzz-archive.XXXXXX";
	static int ready;
	char file[64], dir[64];
	struct nua_error *err = NULL;
	FILE *f;

	if (!ready) {
		if (!mkdtemp(base))
			abort();
		ready = 1;
	}
	snprintf(file, sizeof(file), "%s/in", base);
	snprintf(dir, sizeof(dir), "%s/out", base);
	f = fopen(file, "w");
	if (!f)
		abort();
	fwrite(data, 1, size, f);
	fclose(f);
	archive_tree_read(file, dir, &err);
	nua_error_free(err);
	remove_tree(dir);
	unlink(file);
	return 0;
}
