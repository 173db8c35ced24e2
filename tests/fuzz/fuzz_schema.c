/* fuzz_schema.c - the "column type" schema parser on any bytes. */
#include <stdint.h>

#include "table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mlfs_err err = { 0 };
	table_schema_validate(NULL, NULL, (const char *)data, size, &err);
	return 0;
}
