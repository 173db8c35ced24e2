/* named.h - records kept by name under a prefix: a table's meta t/NAME,
 * a feature table's f/m/NAME.  Listing the names, reading and putting one
 * record; what the record holds is its owner's (table.c, features.c). */
#ifndef MLFS_NAMED_H
#define MLFS_NAMED_H

#include "buf.h"
#include "store.h"

/* The longest name listed (names.h's rule allows no longer). */
#define NAMED_MAX 128

/* V = the record PREFIX NAME as of SNAP (NULL: the latest).  -ENOENT. */
int named_get(struct store *s, const struct store_snapshot *snap,
	      const char *prefix, const char *name, struct buf *v);
/* Put V as the record PREFIX NAME in B. */
void named_put(struct store_batch *b, const char *prefix, const char *name,
	       const struct buf *v);
/* Delete the record PREFIX NAME in B. */
void named_delete(struct store_batch *b, const char *prefix, const char *name);
/* FN for each name under PREFIX in order; stops on non-zero and returns
 * it. */
int named_list(struct store *s, const char *prefix,
	       int (*fn)(void *ctx, const char *name), void *ctx);

#endif
