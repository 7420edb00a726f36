/* libFuzzer harness for the certificates Nua reads from outside: an
 * operator's certificate and key ('nua tls set'), what the ACME client
 * wrote. The input is split at its first NUL byte into the chain and the
 * key (no NUL: one text holding both), checked against a domain. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const char *nul = memchr(text, '\0', size);
	struct tls_cert_info info;
	struct nua_error *err = NULL;

	if (nul) {
		size_t first = (size_t)(nul - text);

		if (tls_parse_pem(text, first, nul + 1, size - first - 1, "app.example.com", 0,
				  &info, &err) == 0)
			tls_cert_info_release(&info);
	} else if (tls_parse_pem(text, size, NULL, 0, NULL, 1800000000, &info, &err) == 0) {
		tls_cert_info_release(&info);
	}
	nua_error_free(err);
	return 0;
}
