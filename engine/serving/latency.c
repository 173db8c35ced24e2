/* latency.c - the latency histogram of latency.h.  Bucket (e, s) holds
 * values v with 2^e <= v < 2^(e+1) (e >= 5) in the s-th of 32 equal
 * steps; values below 32 us are exact (e = 0, s = v). */
#include "latency.h"

static void bucket_of(uint64_t v, unsigned *e, unsigned *s)
{
	if (v < LATENCY_SUB) {
		*e = 0;
		*s = (unsigned)v;
		return;
	}
	unsigned top = 63u - (unsigned)__builtin_clzll(v);	/* >= 5 */
	unsigned shift = top - 5u;
	*e = shift + 1u;
	if (*e >= LATENCY_EXP) {
		*e = LATENCY_EXP - 1;
		*s = LATENCY_SUB - 1;
		return;
	}
	*s = (unsigned)((v >> shift) - LATENCY_SUB);
}

/* The largest value bucket (E, S) holds. */
static uint64_t bucket_top(unsigned e, unsigned s)
{
	if (e == 0)
		return s;
	unsigned shift = e - 1u;
	return (((uint64_t)(s + LATENCY_SUB) + 1u) << shift) - 1u;
}

void latency_record(struct latency *h, uint64_t us)
{
	unsigned e, s;
	bucket_of(us, &e, &s);
	h->bucket[e][s]++;
	h->count++;
	if (us > h->max_us)
		h->max_us = us;
}

uint64_t latency_quantile(const struct latency *h, double q)
{
	if (!h->count)
		return 0;
	if (q < 0)
		q = 0;
	uint64_t rank = (uint64_t)(q * (double)h->count);
	if (rank >= h->count)
		rank = h->count - 1;
	uint64_t seen = 0;
	for (unsigned e = 0; e < LATENCY_EXP; e++)
		for (unsigned s = 0; s < LATENCY_SUB; s++) {
			seen += h->bucket[e][s];
			if (seen > rank) {
				uint64_t top = bucket_top(e, s);
				return top < h->max_us ? top : h->max_us;
			}
		}
	return h->max_us;
}

void latency_merge(struct latency *into, const struct latency *from)
{
	for (unsigned e = 0; e < LATENCY_EXP; e++)
		for (unsigned s = 0; s < LATENCY_SUB; s++)
			into->bucket[e][s] += from->bucket[e][s];
	into->count += from->count;
	if (from->max_us > into->max_us)
		into->max_us = from->max_us;
}
