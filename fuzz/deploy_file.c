/* libFuzzer harness for deploy.toml files. */
#include <stddef.h>
#include <stdint.h>

#include "deploy_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diag_list diags = DIAG_LIST_INIT;
	struct deploy_file df;

	if (deploy_file_parse("fuzz/deploy.toml", (const char *)data, size, &df, &diags) == 0)
		deploy_file_release(&df);
	diag_list_release(&diags);
	return 0;
}
