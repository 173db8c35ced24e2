/* ids.h - numbers that name objects: one counter per kind of object in
 * each store, handed out in order and never reused (a crash may leave a
 * gap, never a repeat). */
#ifndef MLFS_IDS_H
#define MLFS_IDS_H

#include <stdint.h>

#include "err.h"
#include "store.h"

/* The next number of counter WHAT (a short stable name such as "table",
 * stored under "n/WHAT") in S: 1, 2, 3, ...  The counter is written
 * through before the number is returned.  0, or -EIO with ERR.
 * Thread-safe: one lock per store. */
int ids_next(struct store *s, const char *what, uint64_t *out,
	     struct mlfs_err *err);
/* The same for a counter kept under KEY[0..KLEN) (the counters older than
 * this module keep their keys: "b/n", "f/n", "x/n"). */
int ids_next_key(struct store *s, const char *key, size_t klen, uint64_t *out,
		 struct mlfs_err *err);

#endif
