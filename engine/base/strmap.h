/* strmap.h - interning of byte strings: each distinct string gets the
 * next index from 0, kept with a copy of its bytes, for grouping and
 * counting (categories, slices, keys).  Not thread-safe. */
#ifndef MLFS_STRMAP_H
#define MLFS_STRMAP_H

#include <stddef.h>
#include <stdint.h>

struct strmap;

/* An empty map.  Never NULL (out of memory aborts, mlfs_oom). */
struct strmap *strmap_new(void);
/* NULL is a no-op. */
void strmap_free(struct strmap *m);
/* The index of P[0..LEN), added when new. */
size_t strmap_intern(struct strmap *m, const char *p, size_t len);
/* The index of P[0..LEN), or SIZE_MAX when absent. */
size_t strmap_find(const struct strmap *m, const char *p, size_t len);
size_t strmap_count(const struct strmap *m);
/* String I (NUL-terminated; LEN may be NULL), valid until strmap_free. */
const char *strmap_str(const struct strmap *m, size_t i, size_t *len);

#endif
