/* fuzz_traffic.c - traffic text on any bytes: what parses formats to a
 * text that parses to the same routes, and passes the check for a text
 * still being written (traffic_parse_partial), which only asks less. */
#include <stdint.h>
#include <string.h>

#include "traffic.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct traffic t, again;
	struct mlfs_err err = { 0 };
	struct mlfs_err perr = { 0 };
	int prc = traffic_parse_partial((const char *)data, size, &again, &perr);
	if (prc && !perr.msg[0])
		__builtin_trap();
	if (traffic_parse((const char *)data, size, &t, &err))
		return 0;
	if (prc)
		__builtin_trap();	/* whole and valid, yet refused as partial */
	struct buf b = { 0 };
	traffic_format(&t, &b);
	if (traffic_parse(b.data ? b.data : "", b.len, &again, &err) ||
	    again.nroutes != t.nroutes ||
	    memcmp(again.routes, t.routes, t.nroutes * sizeof(*t.routes)))
		__builtin_trap();
	if (t.nserving && traffic_pick(&t, 0.999) < 0)
		__builtin_trap();
	buf_free(&b);
	return 0;
}
