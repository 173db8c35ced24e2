/* fuzz_profile.c - the profile reader on any bytes.  Properties: it never
 * crashes or reads out of bounds; a profile it accepts keeps the
 * invariants of profile.h and encodes to bytes that decode back and
 * encode identically. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct profile *p)
{
	for (size_t i = 0; i < p->ncols; i++) {
		const struct profile_col *c = &p->cols[i];
		uint64_t sum = 0;
		if (c->count + c->nulls != p->rows || profile_find(p, c->name) != c)
			abort();
		for (size_t k = 0; k < c->nsample; k++)
			if (isnan(c->sample[k]) || (k && c->sample[k - 1] > c->sample[k]))
				abort();
		for (size_t k = 0; k < c->ncats; k++) {
			if (k && strcmp(c->cats[k - 1], c->cats[k]) >= 0)
				abort();
			sum += c->cat_counts[k];
		}
		if (c->kind == PROFILE_CATEGORICAL ? sum != c->count || c->nsample
						    : c->ncats != 0)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct profile *p = NULL, *q = NULL;
	struct buf b1 = { 0 }, b2 = { 0 };

	if (profile_decode((const char *)data, size, &p, NULL))
		return 0;
	check(p);
	profile_encode(p, &b1);
	if (profile_decode(b1.data, b1.len, &q, NULL))
		abort();
	profile_encode(q, &b2);
	if (b1.len != b2.len || memcmp(b1.data, b2.data, b1.len))
		abort();
	buf_free(&b1);
	buf_free(&b2);
	profile_free(p);
	profile_free(q);
	return 0;
}
