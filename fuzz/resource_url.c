/* libFuzzer harness for the URLs of external resource servers given at
 * deploy time: the first byte chooses the type. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "resource.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const types[] = { "postgres", "mariadb", "redis" };
	struct nua_error *err = NULL;
	struct resource_url u;
	char *url;

	if (size < 1)
		return 0;
	url = malloc(size);
	memcpy(url, data + 1, size - 1);
	url[size - 1] = '\0';
	if (resource_parse_url(types[data[0] % 3], url, &u, &err) == 0)
		resource_url_release(&u);
	nua_error_free(err);
	free(url);
	return 0;
}
