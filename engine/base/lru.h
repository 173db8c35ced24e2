/* lru.h - a map from byte strings to byte values bounded in bytes, the
 * least recently used entry out first: the one eviction policy of the
 * engine's small caches (owners and modes, rows/KEY texts, decoded
 * feature metas).  Each entry is one allocation; a get or put is O(1).
 * A value may own something (a pointer): lru_on_drop names who frees it
 * when its entry goes.  Not thread-safe: the cache that holds one locks
 * around it. */
#ifndef MLFS_LRU_H
#define MLFS_LRU_H

#include <stddef.h>

struct lru;

/* An empty map keeping at most MAX_BYTES (keys, values and
 * LRU_ENTRY_OVERHEAD per entry).  Never NULL (out of memory aborts). */
struct lru *lru_new(size_t max_bytes);
/* NULL is a no-op. */
void lru_free(struct lru *l);
/* The value of KEY, now the most recently used, or NULL; *VLEN its
 * length.  Borrowed: valid until the next put, clear or free. */
const void *lru_get(struct lru *l, const void *key, size_t klen,
		    size_t *vlen);
/* Keep VAL for KEY (replacing its value), as the most recently used,
 * then drop the least recently used entries past the bound.  An entry
 * larger than the bound alone is not kept. */
void lru_put(struct lru *l, const void *key, size_t klen, const void *val,
	     size_t vlen);
/* Call FN(VAL, VLEN, ARG) for each entry's value as the entry leaves
 * (evicted, replaced by a put, cleared, freed), after it left: FN may
 * free what the value points to, not touch L. */
void lru_on_drop(struct lru *l,
		 void (*fn)(const void *val, size_t vlen, void *arg),
		 void *arg);
/* Drop every entry. */
void lru_clear(struct lru *l);
size_t lru_count(const struct lru *l);
size_t lru_bytes(const struct lru *l);

/* The bookkeeping an entry costs beyond its key and value. */
#define LRU_ENTRY_OVERHEAD 64

#endif
