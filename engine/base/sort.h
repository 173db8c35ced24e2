/* sort.h - sorting doubles, and int64 keys with a value carried along,
 * in place, ascending (radix: linear in N). */
#ifndef MLFS_SORT_H
#define MLFS_SORT_H

#include <stddef.h>
#include <stdint.h>

/* Sort X[0..N) ascending in place; NaN must be removed first (-0.0 sorts
 * before 0.0).  Allocates a scratch buffer of N doubles (out of memory
 * aborts).  Thread-safe. */
void sort_doubles(double *x, size_t n);
/* Sort the keys K[0..N) ascending, V[i] moving with K[i]; stable.
 * Allocates scratch for N pairs (out of memory aborts).  Thread-safe. */
void sort_i64_pairs(int64_t *k, uint32_t *v, size_t n);

#endif
