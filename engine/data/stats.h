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

/* The accumulator behind stats.csv, for any source of rows (tables,
 * feature tables): one pass, bounded memory.  Not thread-safe. */
struct stats_acc;
#include <stdint.h>
#include "types.h"
/* For NCOLS columns named NAMES of TYPES (both copied).  NULL on ENOMEM. */
struct stats_acc *stats_acc_new(uint32_t ncols, char *const *names,
				const enum col_type *types);
/* One value of column C; P NULL or LEN 0 is a null. */
void stats_acc_add(struct stats_acc *sa, uint32_t c, const char *p, size_t len);
/* The stats.csv text of what was added, into OUT. */
int stats_acc_csv(const struct stats_acc *sa, struct buf *out);
void stats_acc_free(struct stats_acc *sa);

#endif
