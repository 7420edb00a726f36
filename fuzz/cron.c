/* libFuzzer harness for the schedules of [[cron]] (cron.h): any text is
 * parsed, and a schedule that parses is asked for its next run from a few
 * times, which must be later than them (or -1). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cron.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int64_t times[] = { 0, 1796601600, 1830297600 + 86399 };
	struct cron_schedule s;
	char text[300], msg[256];

	if (size >= sizeof(text))
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (cron_parse(text, &s, msg, sizeof(msg)) < 0)
		return 0;
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		int64_t n = cron_next(&s, times[i]);

		if (n != -1 && n <= times[i])
			abort();
	}
	return 0;
}
