/* traffic.h - an endpoint's traffic: which model versions answer its
 * requests and in what shares, which only watch (shadow), and how one
 * request or one row is routed.  Text form, one line each:
 *
 *     MODEL@REF PERCENT     REF a version number or an alias
 *     MODEL@REF shadow      scores and logs every request, never answers
 *
 * Percents are integers summing to 100.  Blank lines and lines starting
 * with '#' are ignored.  Resolving REF to a version is the registry's job:
 * this module only parses, validates the form and routes. */
#ifndef MLFS_TRAFFIC_H
#define MLFS_TRAFFIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

#define TRAFFIC_MAX_ROUTES 32

struct traffic_route {
	char model[129];
	char ref[129];		/* "3", "Production", ... */
	unsigned percent;	/* 0 for shadows */
	bool shadow;
};

struct traffic {
	size_t nroutes;		/* serving routes first, then shadows */
	size_t nserving;
	struct traffic_route routes[TRAFFIC_MAX_ROUTES];
};

/* Parse TEXT[0..LEN) into OUT.  -EINVAL with "line L: reason" for a bad
 * line, a bad name, a percent outside 0-100, the same MODEL@REF twice, no
 * serving line, or percents not summing to 100.  Empty text is valid and
 * gives no routes (an endpoint without traffic answers nothing). */
int traffic_parse(const char *text, size_t len, struct traffic *out,
		  struct mlfs_err *err);

/* The same for a text still being written (bash's printf writes a line
 * at a time): percents may sum to less than 100 and shadows may come
 * first; what can never become valid is -EINVAL. */
int traffic_parse_partial(const char *text, size_t len, struct traffic *out,
			  struct mlfs_err *err);

/* The canonical text of T ("MODEL@REF PERCENT\n" lines, then shadows). */
void traffic_format(const struct traffic *t, struct buf *out);

/* The serving route for a request drawn as U, uniform in [0, 1): the
 * route whose cumulative percent range holds U.  -1 when T serves
 * nothing. */
long traffic_pick(const struct traffic *t, double u);

/* The serving route for a sticky KEY: the same key always meets the same
 * route while the traffic text is unchanged. */
long traffic_pick_sticky(const struct traffic *t, const char *key, size_t len);

/* A small seeded generator (splitmix64) for per-request routing:
 * reproducible in tests, independent per endpoint. */
struct traffic_rng {
	uint64_t state;
};

void traffic_rng_seed(struct traffic_rng *g, uint64_t seed);
/* Uniform in [0, 1).  Not thread-safe: one generator per endpoint,
 * used under the endpoint's lock. */
double traffic_rng_next(struct traffic_rng *g);

#endif
