/* sort.c - sorting doubles: an LSD radix sort on the IEEE bits, linear in
 * the count, for the columns that profiles and drift statistics sort (a
 * million values in a few milliseconds, where qsort takes ~100 ms).  NaN
 * must be removed first.  And int64 keys with a value along (a refresh's
 * groups into key order). */
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

/* The bytes an LSD radix sort passes over, given the COUNT of each digit
 * of the N keys (K0 one of them), into TODO; each pass's counts become
 * where its digits start.  A byte every key shares needs no pass. */
static int radix_passes(size_t count[8][256], uint64_t k0, size_t n, int todo[8])
{
	int ntodo = 0;
	for (int d = 0; d < 8; d++) {
		if (count[d][(k0 >> (8 * d)) & 0xff] == n)
			continue;
		todo[ntodo++] = d;
		size_t sum = 0;
		for (int v = 0; v < 256; v++) {
			size_t c = count[d][v];
			count[d][v] = sum;
			sum += c;
		}
	}
	return ntodo;
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
	int todo[8], ntodo = radix_passes(count, a[0], n, todo);
	key_slot *b = ntodo ? (key_slot *)scratch_new(n) : NULL;
	key_slot *src = a, *dst = b;
	for (int t = 0; t < ntodo; t++) {
		unsigned shift = 8 * todo[t];
		size_t *at = count[todo[t]];
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

/* The same for int64 keys with a u32 carried along: keys with the sign
 * bit flipped sort as unsigned; only the bytes that differ are passed
 * over, a million keys of one to a million in three scatters. */
void sort_i64_pairs(int64_t *k, uint32_t *v, size_t n)
{
	if (n < 2)
		return;
	size_t count[8][256] = { { 0 } };
	const uint64_t flip = 1ull << 63;
	for (size_t i = 0; i < n; i++) {
		uint64_t u = (uint64_t)k[i] ^ flip;
		for (int d = 0; d < 8; d++)
			count[d][(u >> (8 * d)) & 0xff]++;
	}
	int todo[8], ntodo = radix_passes(count, (uint64_t)k[0] ^ flip, n, todo);
	if (!ntodo)
		return;
	int64_t *kb = malloc(n * sizeof(*kb));
	uint32_t *vb = malloc(n * sizeof(*vb));
	if (!kb || !vb)
		mlfs_oom();
	int64_t *ks = k, *kd = kb;
	uint32_t *vs = v, *vd = vb;
	for (int t = 0; t < ntodo; t++) {
		unsigned shift = 8 * todo[t];
		size_t *at = count[todo[t]];
		for (size_t i = 0; i < n; i++) {
			size_t j = at[(((uint64_t)ks[i] ^ flip) >> shift) & 0xff]++;
			kd[j] = ks[i];
			vd[j] = vs[i];
		}
		int64_t *kt = ks;
		uint32_t *vt = vs;
		ks = kd, vs = vd;
		kd = kt, vd = vt;
	}
	if (ks != k) {	/* an odd number of scatters: the result is in the scratch */
		memcpy(k, ks, n * sizeof(*k));
		memcpy(v, vs, n * sizeof(*v));
	}
	free(kb);
	free(vb);
}
