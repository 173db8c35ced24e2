/* fuzz_refresh_word.c - what a feature table's and a monitor's refresh
 * file take (a word, a date or timestamp, "full") on any bytes.
 * Properties: accepted or refused with a message; an accepted as-of time
 * came from digits in the text; a monitor's "full" only on acceptance. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "monitor.h"
#include "pipeline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct pipeline_opts o;
	struct mlfs_err err = { 0 };
	int rc = pipeline_parse_word(text, size, &o, &err);
	if (rc && !err.msg[0])
		abort();
	bool digit = false;
	for (size_t i = 0; i < size && !digit; i++)
		digit = text[i] >= '0' && text[i] <= '9';
	if (!rc && o.has_as_of && !digit)
		abort();
	bool full = false;
	memset(&err, 0, sizeof(err));
	rc = monitor_parse_word(text, size, &full, &err);
	if (rc && (!err.msg[0] || full))
		abort();
	return 0;
}
