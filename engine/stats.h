/* stats.h - per-column statistics of a table (stats.csv), also the
 * baseline that drift monitors compare against. */
#ifndef MLFS_STATS_H
#define MLFS_STATS_H

#include "buf.h"
#include "err.h"
#include "store.h"

/* Write "column,type,count,nulls,distinct,min,max,mean,std" and a line per
 * column of table NAME into OUT.  count excludes nulls; distinct is exact
 * up to STATS_EXACT_DISTINCT values, then a HyperLogLog estimate (about
 * 1% error); mean and std (sample, n-1) only for numeric and bool columns.
 * Results are cached per table version. */
int stats_table_csv(struct store *s, const char *name, struct buf *out,
		    struct mlfs_err *err);

#define STATS_EXACT_DISTINCT (1u << 20)

#endif
