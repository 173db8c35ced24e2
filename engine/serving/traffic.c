/* traffic.c - parsing, formatting and routing of an endpoint's traffic
 * (see traffic.h).  Pure functions over a fixed-size struct: no store,
 * no registry, no locks. */
#include "traffic.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "table.h"

/* One line "MODEL@REF PERCENT" or "MODEL@REF shadow" into R. */
static int parse_line(const char *p, size_t len, size_t lineno,
		      struct traffic_route *r, struct mlfs_err *err)
{
	char line[512];
	char target[300], share[64], extra[8];

	if (len >= sizeof(line))
		return mlfs_fail(err, -EINVAL, "line %zu: too long", lineno);
	memcpy(line, p, len);
	line[len] = '\0';
	int n = sscanf(line, "%299s %63s %7s", target, share, extra);
	if (n != 2)
		return mlfs_fail(err, -EINVAL, "line %zu: expected \"MODEL@REF PERCENT\" or \"MODEL@REF shadow\"", lineno);
	char *at = strchr(target, '@');
	if (!at || strchr(at + 1, '@'))
		return mlfs_fail(err, -EINVAL, "line %zu: '%s' is not MODEL@REF", lineno, target);
	*at = '\0';
	if (!names_valid(target) || !names_valid(at + 1))
		return mlfs_fail(err, -EINVAL, "line %zu: '%s@%s': model and version or alias must be names of 1-128 [A-Za-z0-9._-]",
				 lineno, target, at + 1);
	memset(r, 0, sizeof(*r));
	snprintf(r->model, sizeof(r->model), "%s", target);
	snprintf(r->ref, sizeof(r->ref), "%s", at + 1);
	if (strcmp(share, "shadow") == 0) {
		r->shadow = true;
		return 0;
	}
	char *end;
	long pct = strtol(share, &end, 10);
	if (*end || end == share || pct < 0 || pct > 100)
		return mlfs_fail(err, -EINVAL, "line %zu: '%s' is not a whole percent from 0 to 100 or 'shadow'",
				 lineno, share);
	r->percent = (unsigned)pct;
	return 0;
}

static bool same_target(const struct traffic_route *a, const struct traffic_route *b)
{
	return strcmp(a->model, b->model) == 0 && strcmp(a->ref, b->ref) == 0;
}

/* Serving routes first (in the order written), then shadows. */
static void order_routes(struct traffic *t)
{
	struct traffic_route tmp[TRAFFIC_MAX_ROUTES];
	size_t k = 0;
	for (int shadow = 0; shadow < 2; shadow++)
		for (size_t i = 0; i < t->nroutes; i++)
			if (t->routes[i].shadow == (bool)shadow)
				tmp[k++] = t->routes[i];
	memcpy(t->routes, tmp, k * sizeof(*tmp));
}

static int parse(const char *text, size_t len, bool partial,
		 struct traffic *out, struct mlfs_err *err)
{
	struct traffic t = { 0 };
	unsigned sum = 0;
	size_t lineno = 0;
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *stop = nl ? nl : end;
		size_t n = (size_t)(stop - p);
		lineno++;
		while (n && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		while (n && (*p == ' ' || *p == '\t'))
			p++, n--;
		if (n && *p != '#') {
			if (t.nroutes == TRAFFIC_MAX_ROUTES)
				return mlfs_fail(err, -EINVAL, "line %zu: more than %d routes", lineno, TRAFFIC_MAX_ROUTES);
			struct traffic_route *r = &t.routes[t.nroutes];
			int rc = parse_line(p, n, lineno, r, err);
			if (rc)
				return rc;
			for (size_t i = 0; i < t.nroutes; i++)
				if (same_target(&t.routes[i], r))
					return mlfs_fail(err, -EINVAL, "line %zu: %s@%s is named twice",
							 lineno, r->model, r->ref);
			sum += r->percent;
			t.nserving += !r->shadow;
			t.nroutes++;
		}
		p = stop + 1;
	}
	if (t.nroutes && !t.nserving && !partial)
		return mlfs_fail(err, -EINVAL, "no serving line: shadows need a version that answers");
	if (t.nserving && (partial ? sum > 100 : sum != 100))
		return mlfs_fail(err, -EINVAL, "percents sum to %u, not 100", sum);
	order_routes(&t);
	*out = t;
	return 0;
}

int traffic_parse(const char *text, size_t len, struct traffic *out,
		  struct mlfs_err *err)
{
	return parse(text, len, false, out, err);
}

int traffic_parse_partial(const char *text, size_t len, struct traffic *out,
			  struct mlfs_err *err)
{
	return parse(text, len, true, out, err);
}

void traffic_format(const struct traffic *t, struct buf *out)
{
	for (size_t i = 0; i < t->nroutes; i++) {
		const struct traffic_route *r = &t->routes[i];
		if (r->shadow)
			buf_printf(out, "%s@%s shadow\n", r->model, r->ref);
		else
			buf_printf(out, "%s@%s %u\n", r->model, r->ref, r->percent);
	}
}

long traffic_pick(const struct traffic *t, double u)
{
	unsigned point = (unsigned)(u * 100.0);
	unsigned upto = 0;
	long last = -1;

	for (size_t i = 0; i < t->nserving; i++) {
		if (!t->routes[i].percent)
			continue;
		upto += t->routes[i].percent;
		last = (long)i;
		if (point < upto)
			return last;
	}
	return last;
}

long traffic_pick_sticky(const struct traffic *t, const char *key, size_t len)
{
	return traffic_pick(t, (double)(hash64(key, len, 0) >> 11) * 0x1.0p-53);
}

void traffic_rng_seed(struct traffic_rng *g, uint64_t seed)
{
	g->state = seed;
}

double traffic_rng_next(struct traffic_rng *g)
{
	uint64_t z = (g->state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return (double)(z >> 11) * 0x1.0p-53;
}
