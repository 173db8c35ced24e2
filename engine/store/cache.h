/* cache.h - generated texts (a table's stats.csv, a feature table's)
 * kept per store by (what, object id, version), least recently used out
 * first, so a second read of an unchanged object costs a copy.  Per store:
 * two stores open in one process never see each other's texts. */
#ifndef MLFS_CACHE_H
#define MLFS_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "store.h"

enum cache_what {
	CACHE_TABLE_STATS = 1,
	CACHE_FEATURE_STATS,
	CACHE_MODEL_HISTORY,	/* a model's history.csv, by its history length */
};

/* The text of (WHAT, ID, VERSION) into OUT (replacing its content): true
 * when cached.  Thread-safe. */
bool cache_get(struct store *s, enum cache_what what, uint64_t id,
	       uint64_t version, struct buf *out);
/* Keep TEXT for (WHAT, ID, VERSION).  Thread-safe. */
void cache_put(struct store *s, enum cache_what what, uint64_t id,
	       uint64_t version, const struct buf *text);

#endif
