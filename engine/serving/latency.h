/* latency.h - a latency histogram for per-version serving statistics:
 * constant memory, O(1) record, percentiles within 1/32 (about 3%) of the
 * true value, from 1 us to hours.  Buckets are powers of two split into
 * 32 linear steps (HdrHistogram's idea at a coarse precision). */
#ifndef MLFS_LATENCY_H
#define MLFS_LATENCY_H

#include <stdint.h>

#define LATENCY_SUB 32
#define LATENCY_EXP 40

struct latency {
	uint64_t count;
	uint64_t max_us;
	uint64_t bucket[LATENCY_EXP][LATENCY_SUB];
};

/* Record one latency of US microseconds.  Not thread-safe: one
 * histogram per version, under its lock. */
void latency_record(struct latency *h, uint64_t us);
/* The Q-quantile (0 <= Q <= 1) in microseconds: the upper edge of the
 * bucket holding it (never below the true value), 0 when empty. */
uint64_t latency_quantile(const struct latency *h, double q);
/* Add every count of FROM into INTO. */
void latency_merge(struct latency *into, const struct latency *from);

#endif
