/* fuzz_endpoint_config.c - an endpoint's config.yaml on any bytes: it
 * parses or is refused with a message, and what parses is in range. */
#include <stdint.h>
#include <string.h>

#include "endpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct endpoint_config c;
	struct mlfs_err err = { 0 };
	int rc = endpoint_config_parse((const char *)data, size, &c, &err);
	if (rc && !err.msg[0])
		__builtin_trap();
	if (!rc && (!(c.log_sample >= 0 && c.log_sample <= 1) ||
		    c.max_request_bytes < 64 || c.log_retention_rows < 1 ||
		    strlen(c.sticky_key) >= sizeof(c.sticky_key)))
		__builtin_trap();
	return 0;
}
