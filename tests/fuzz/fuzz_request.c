/* fuzz_request.c - scoring requests (CSV and MLflow JSON) on any bytes:
 * parse, then read every cell of what was accepted. */
#include <stdint.h>
#include <string.h>

#include "request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct request *r = NULL;
	struct mlfs_err err = { 0 };
	if (request_parse((const char *)data, size, 1u << 16, &r, &err) == 0) {
		size_t total = 0;
		for (size_t i = 0; i < r->nrows; i++)
			for (size_t j = 0; j < r->ncols; j++) {
				const char *c = request_cell(r, i, j);
				total += c ? strlen(c) : 0;
			}
		if (total > r->text.len)
			__builtin_trap();
		request_free(r);
	} else if (r || !err.msg[0]) {
		__builtin_trap();	/* an error always says why, and makes nothing */
	}
	return 0;
}
