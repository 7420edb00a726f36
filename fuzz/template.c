/* libFuzzer harness for the {{NAME}} templates of [[template]]
 * (template.h): names of one letter are known, others are not. A text
 * without "{{" must come out as it went in. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "template.h"

static const char *lookup(const char *name, size_t len, void *arg)
{
	(void)arg;
	(void)name;
	return len == 1 ? "{{value}}" : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *out = NULL, msg[256];
	size_t len = 0;
	int r = template_render((const char *)data, size, lookup, NULL, &out, &len, msg, sizeof(msg));

	if (r == 0 && !memmem(data, size, "{{", 2) && (len != size || memcmp(out, data, size)))
		abort();
	if (r == 0 && out[len] != '\0')
		abort();
	free(out);
	return 0;
}
