/* sort.c - sorting doubles: an LSD radix sort on the IEEE bits, linear in
 * the count, for the columns that profiles and drift statistics sort (a
 * million values in a few milliseconds, where qsort takes ~100 ms).  NaN
 * must be removed first. */
#include "sort.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "err.h"

/* The keys live in the caller's array while it is sorted: a double's
 * storage read and written as uint64_t. */
typedef uint64_t __attribute__((may_alias)) key_slot;

#define HUGE_PAGE (2u << 20)

/* Doubles as unsigned keys that sort the same way. */
static uint64_t key_of(double v)
{
	uint64_t u;
	memcpy(&u, &v, sizeof(u));
	return (u >> 63) ? ~u : u | (1ull << 63);
}

static double value_of(uint64_t k)
{
	uint64_t u = (k >> 63) ? k & ~(1ull << 63) : ~k;
	double v;
	memcpy(&v, &u, sizeof(v));
	return v;
}

/* Scratch for N keys; free() it.  Fresh memory costs more to fault in
 * than the sort's passes over it (on the project's VM a 4 KiB page fault
 * took ~10 us: 20 ms for 1M keys), so a large buffer asks for 2 MiB
 * pages, a hint the kernel may ignore. */
static uint64_t *scratch_new(size_t n)
{
	size_t bytes = n * sizeof(uint64_t);
	void *p;
	if (bytes < HUGE_PAGE) {
		p = malloc(bytes);
	} else {
		bytes = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
		if (posix_memalign(&p, HUGE_PAGE, bytes))
			p = NULL;
#ifdef MADV_HUGEPAGE
		else
			madvise(p, bytes, MADV_HUGEPAGE);	/* a hint: may fail */
#endif
	}
	if (!p)
		mlfs_oom();
	return p;
}

/* An LSD radix sort on bytes: one pass turns the doubles into keys in
 * place and counts all eight digits; then a scatter per byte that is not
 * the same in every key, back and forth between X and one scratch buffer,
 * the last one turning keys back into doubles as it stores them in X. */
void sort_doubles(double *x, size_t n)
{
	if (n < 2)
		return;
	key_slot *a = (key_slot *)x;
	size_t count[8][256] = { { 0 } };
	for (size_t i = 0; i < n; i++) {
		uint64_t k = key_of(x[i]);
		a[i] = k;
		for (int d = 0; d < 8; d++)
			count[d][(k >> (8 * d)) & 0xff]++;
	}
	int todo[8], ntodo = 0;
	for (int d = 0; d < 8; d++)
		if (count[d][(a[0] >> (8 * d)) & 0xff] != n)
			todo[ntodo++] = d;	/* else every key shares this byte */
	key_slot *b = ntodo ? (key_slot *)scratch_new(n) : NULL;
	key_slot *src = a, *dst = b;
	for (int t = 0; t < ntodo; t++) {
		unsigned shift = 8 * todo[t];
		size_t *at = count[todo[t]], sum = 0;
		for (int v = 0; v < 256; v++) {
			size_t c = at[v];
			at[v] = sum;
			sum += c;
		}
		if (t == ntodo - 1 && dst == a) {
			for (size_t i = 0; i < n; i++) {
				uint64_t k = src[i];
				x[at[(k >> shift) & 0xff]++] = value_of(k);
			}
			src = NULL;
			break;
		}
		for (size_t i = 0; i < n; i++) {
			uint64_t k = src[i];
			dst[at[(k >> shift) & 0xff]++] = k;
		}
		key_slot *swap = src;
		src = dst;
		dst = swap;
	}
	if (src)	/* an even number of scatters, or none */
		for (size_t i = 0; i < n; i++)
			x[i] = value_of(src[i]);
	free((void *)b);
}
