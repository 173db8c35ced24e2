/* fuzz_monitor_spec.c - monitor.yaml on any bytes, whole and as a text
 * still arriving: it parses or is refused with a message, and what
 * parses is in range (granularity, bins, thresholds in order). */
#include <stdint.h>
#include <string.h>

#include "monitor_spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct monitor_spec *sp = NULL;
	struct mlfs_err err = { 0 };
	int rc = monitor_spec_parse(NULL, (const char *)data, size, &sp, &err);
	if (rc && !err.msg[0])
		__builtin_trap();
	if (!rc) {
		if (!sp->source || sp->granularity_s < 60 || sp->psi_bins < 2 || sp->psi_bins > 1000)
			__builtin_trap();
		for (int m = 0; m < MONITOR_NMETRICS; m++)
			if (monitor_metric_is_pvalue(m) ? sp->high[m] > sp->medium[m]
							: sp->high[m] < sp->medium[m])
				__builtin_trap();
		monitor_spec_free(sp);
	}
	memset(&err, 0, sizeof(err));
	rc = monitor_spec_check_partial(NULL, (const char *)data, size, &err);
	if (rc && !err.msg[0])
		__builtin_trap();
	return 0;
}
