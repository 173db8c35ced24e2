/* fuzz_cron.c - cron expressions on any bytes: what parses has a next
 * time after now that is later than now, or none. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cron.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	struct cron c;
	struct mlfs_err err = { 0 };
	/* The first line is the expression, an optional second the zone. */
	char *nl = strchr(text, '\n');
	if (nl)
		*nl = '\0';
	if (cron_parse(text, nl ? nl + 1 : NULL, &c, &err) == 0) {
		int64_t now = 1796000000, next = 0;
		int rc = cron_next(&c, now, &next);
		if ((rc == 0 && next <= now) || (rc && rc != -ENOENT))
			__builtin_trap();
	} else if (!err.msg[0]) {
		__builtin_trap();
	}
	free(text);
	return 0;
}
