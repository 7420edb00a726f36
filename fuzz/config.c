/* libFuzzer harness for nua-config.toml: parse and validate, then render
 * the normalised JSON of what was accepted. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diag_list diags = DIAG_LIST_INIT;
	struct nua_config *cfg;

	if (config_parse_buffer("fuzz.toml", (const char *)data, size, &cfg, &diags) == 0) {
		json_t *j = config_to_json(cfg);
		char *s = json_dumps(j, 0);

		if (!s || diags.n)
			__builtin_trap(); /* accepted configs render, with no problem */
		free(s);
		json_decref(j);
		config_free(cfg);
	} else if (diags.n == 0) {
		__builtin_trap(); /* a refusal always says why */
	}
	diag_list_release(&diags);
	return 0;
}
