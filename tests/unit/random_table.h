/* random_table.h - random table rows for unit tests of scans: every
 * column type, nulls, a quoted field with a comma, quotes and a newline,
 * several columnar chunks' worth when asked. */
#ifndef MLFS_RANDOM_TABLE_H
#define MLFS_RANDOM_TABLE_H

#include <stdbool.h>
#include <stdlib.h>

#include "buf.h"

/* ROWS random rows of i,f,s,d,b,ts with nulls (and a header when HEADER). */
static inline void random_rows(struct buf *b, unsigned *seed, int rows, bool header)
{
	if (header)
		buf_puts(b, "i,f,s,d,b,ts\n");
	for (int r = 0; r < rows; r++) {
		int x = rand_r(seed);
		if (x % 11)
			buf_printf(b, "%d", rand_r(seed) % 100000 - 50000);
		buf_putc(b, ',');
		if (x % 7)
			buf_printf(b, "%.*f", x % 4, (rand_r(seed) % 1000000) / 100.0 - 5000);
		buf_putc(b, ',');
		if (x % 997 == 1)
			buf_puts(b, "\"a, \"\"quoted\"\"\nline\"");
		else if (x % 5)
			buf_printf(b, "s%d", rand_r(seed) % 1000);
		buf_putc(b, ',');
		if (x % 13)
			buf_printf(b, "2026-%02d-%02d", 1 + x % 12, 1 + x % 28);
		buf_putc(b, ',');
		if (x % 3)
			buf_puts(b, x % 2 ? "true" : "false");
		buf_putc(b, ',');
		if (x % 17)
			buf_printf(b, "2026-01-%02dT10:%02d:00Z", 1 + x % 28, x % 60);
		buf_putc(b, '\n');
	}
}

#endif
