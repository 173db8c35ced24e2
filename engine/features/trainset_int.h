/* trainset_int.h - the in-memory side of trainset.c's joins
 * (trainset_index.c).  Private to engine/features. */
#ifndef MLFS_TRAINSET_INT_H
#define MLFS_TRAINSET_INT_H

#include <stddef.h>

#include "err.h"
#include "features.h"
#include "store.h"
#include "table.h"

/* Labels tables with at least this many rows join by one scan of each
 * feature table (ts_index) rather than a point read a row. */
#define TRAINSET_BULK_ROWS 20000

struct ts_index;

/* The latest row of every key of feature table TABLE (schema SC, which
 * must outlive the index).  -EFBIG past 4 GiB of text. */
int ts_index_build(struct store *s, const char *table,
		   const struct features_schema *sc, struct ts_index **out,
		   struct mlfs_err *err);
/* As features_lookup_get without a time: FIELDS[c] and FLENS[c] (arrays
 * of sc->ncols, the caller's) get the row of the key, NULL for a null.
 * -ENOENT.  Read-only: many threads may ask at once. */
int ts_index_get(const struct ts_index *ix, const char *const *keys,
		 const size_t *lens, const char **fields, size_t *flens);
void ts_index_free(struct ts_index *ix);

#endif
