/* sort.h - sorting doubles in place, ascending (radix: linear in N). */
#ifndef MLFS_SORT_H
#define MLFS_SORT_H

#include <stddef.h>

/* Sort X[0..N) ascending in place; NaN must be removed first (-0.0 sorts
 * before 0.0).  Allocates a scratch buffer of N doubles (out of memory
 * aborts).  Thread-safe. */
void sort_doubles(double *x, size_t n);

#endif
