/* fuzz_metric.c - the metric line parser ("VALUE", "VALUE STEP",
 * "TIMESTAMP_MS VALUE STEP") on any bytes. */
#include <stdint.h>

#include "tracking.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mlfs_err err = { 0 };
	tracking_metric_check((const char *)data, size, &err);
	return 0;
}
