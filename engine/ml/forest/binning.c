/* binning.c - turn a frame's features into one byte per value, once per
 * training.
 *
 * Numeric features get up to max_bins bins: one per distinct value when
 * there are few, else quantile bins from a sample of up to 200,000 rows.
 * A bin's upper bound is the midpoint to the next distinct value, so
 * "bin <= b" during training is exactly "x <= ub[b]" at prediction.
 * Categorical features get a bin per category (the rarest share the last
 * bin when there are more than max_bins).  Missing values get MISSING_BIN.
 * Bounds are found per feature, then rows are binned in blocks, both
 * across threads; the result does not depend on the thread count. */
#include "forest_int.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "sort.h"

#define SAMPLE_ROWS 200000u
#define ROW_BLOCK 65536u

struct bin_job {
	const struct forest *m;
	const struct frame *f;
	const int *featcol;
	int32_t *const *catmap;
	uint32_t max_bins;
	struct binned *b;
	atomic_uint next_feat;
	atomic_uint next_block;
	atomic_int rc;
};

struct vc {
	double v;
	uint32_t c;
};

static double midpoint(double a, double b)
{
	double m = a / 2 + b / 2;
	if (!(m >= a && m < b))
		m = a;
	return m;
}

static int numeric_bounds(const double *x, uint32_t n, uint32_t max_bins,
			  double **ub_out, uint16_t *nb_out)
{
	uint32_t take = n > SAMPLE_ROWS ? SAMPLE_ROWS : n;
	double *v = malloc(((size_t)take + 1) * sizeof(*v));
	struct vc *d = malloc(((size_t)take + 1) * sizeof(*d));
	double *ub = malloc((size_t)max_bins * sizeof(*ub));
	uint32_t nv = 0, nd = 0, nb = 0;

	if (!v || !d || !ub) {
		free(v);
		free(d);
		free(ub);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < take; i++) {
		uint32_t row = take == n ? i
			: (uint32_t)((uint64_t)i * n / take);
		if (!isnan(x[row]))	/* -0.0 counts as 0.0 */
			v[nv++] = x[row] == 0 ? 0.0 : x[row];
	}
	sort_doubles(v, nv);
	for (uint32_t i = 0; i < nv; i++) {
		if (nd && d[nd - 1].v == v[i])
			d[nd - 1].c++;
		else
			d[nd++] = (struct vc){ v[i], 1 };
	}
	if (nd <= max_bins) {
		for (uint32_t i = 0; i + 1 < nd; i++)
			ub[nb++] = midpoint(d[i].v, d[i + 1].v);
	} else {
		double remaining = nv, acc = 0;
		uint32_t bins_left = max_bins;
		for (uint32_t i = 0; i + 1 < nd && bins_left > 1; i++) {
			double target = remaining / bins_left;
			acc += d[i].c;
			if (acc >= target || d[i + 1].c >= target) {
				ub[nb++] = midpoint(d[i].v, d[i + 1].v);
				remaining -= acc;
				acc = 0;
				bins_left--;
			}
		}
	}
	ub[nb++] = HUGE_VAL;
	free(v);
	free(d);
	*ub_out = ub;
	*nb_out = (uint16_t)nb;
	return 0;
}

struct cat_count {
	uint64_t n;
	uint32_t cat;
};

static int cmp_count_desc(const void *a, const void *b)
{
	const struct cat_count *x = a, *y = b;
	if (x->n != y->n)
		return x->n < y->n ? 1 : -1;
	return (x->cat > y->cat) - (x->cat < y->cat);
}

static int categorical_bins(const struct bin_job *job, uint32_t j)
{
	const struct feature *ft = &job->m->feats[j];
	struct binned *b = job->b;
	uint32_t ncats = ft->ncats;

	b->ncats[j] = ncats;
	b->catbin[j] = calloc(ncats + 1, 1);
	if (!b->catbin[j])
		return -ENOMEM;
	if (ncats <= job->max_bins) {
		for (uint32_t c = 0; c < ncats; c++)
			b->catbin[j][c] = (uint8_t)c;
		b->nbins[j] = (uint16_t)(ncats ? ncats : 1);
		return 0;
	}
	/* Keep the max_bins - 1 most frequent, the rest share a bin. */
	struct cat_count *cc = calloc(ncats, sizeof(*cc));
	if (!cc)
		return -ENOMEM;
	for (uint32_t c = 0; c < ncats; c++)
		cc[c].cat = c;
	const int32_t *codes = frame_col_codes(job->f, (size_t)job->featcol[j]);
	const int32_t *map = job->catmap[j];
	for (uint32_t i = 0; i < b->nrows; i++)
		if (codes[i] >= 0)
			cc[map[codes[i]]].n++;
	qsort(cc, ncats, sizeof(*cc), cmp_count_desc);
	for (uint32_t r = 0; r < ncats; r++)
		b->catbin[j][cc[r].cat] = (uint8_t)(r < job->max_bins - 1
						     ? r : job->max_bins - 1);
	b->nbins[j] = (uint16_t)job->max_bins;
	free(cc);
	return 0;
}

static void bounds_worker(void *ctx, size_t slot)
{
	struct bin_job *job = ctx;
	struct binned *b = job->b;
	for (;;) {
		uint32_t j = atomic_fetch_add(&job->next_feat, 1);
		if (j >= b->nfeat || atomic_load(&job->rc))
			return;
		int rc;
		if (job->m->feats[j].kind == FRAME_CATEGORICAL)
			rc = categorical_bins(job, j);
		else
			rc = numeric_bounds(frame_col_numbers(job->f,
					(size_t)job->featcol[j]), b->nrows,
					job->max_bins, &b->ub[j], &b->nbins[j]);
		if (rc)
			atomic_store(&job->rc, rc);
	}
}

static void rows_worker(void *ctx, size_t slot)
{
	struct bin_job *job = ctx;
	struct binned *b = job->b;
	const uint32_t nf = b->nfeat;
	for (;;) {
		uint32_t blk = atomic_fetch_add(&job->next_block, 1);
		uint64_t start = (uint64_t)blk * ROW_BLOCK;
		if (start >= b->nrows)
			return;
		uint32_t end = start + ROW_BLOCK < b->nrows
			       ? (uint32_t)start + ROW_BLOCK : b->nrows;
		for (uint32_t j = 0; j < nf; j++) {
			size_t col = (size_t)job->featcol[j];
			if (b->catbin[j]) {
				const int32_t *codes = frame_col_codes(job->f, col);
				const int32_t *map = job->catmap[j];
				for (uint32_t i = (uint32_t)start; i < end; i++)
					b->bins[(size_t)i * nf + j] = codes[i] < 0
						? MISSING_BIN
						: b->catbin[j][map[codes[i]]];
			} else {
				const double *x = frame_col_numbers(job->f, col);
				for (uint32_t i = (uint32_t)start; i < end; i++)
					b->bins[(size_t)i * nf + j] =
						bin_of(b->ub[j], b->nbins[j], x[i]);
			}
		}
	}
}

void binning_free(struct binned *b)
{
	if (!b)
		return;
	for (uint32_t j = 0; j < b->nfeat; j++) {
		if (b->ub)
			free(b->ub[j]);
		if (b->catbin)
			free(b->catbin[j]);
	}
	free(b->ub);
	free(b->catbin);
	free(b->ncats);
	free(b->nbins);
	free(b->bins);
	memset(b, 0, sizeof(*b));
}

int binning_build(const struct forest *m, const struct frame *f,
		  const int *featcol, int32_t *const *catmap, uint32_t max_bins,
		  unsigned n_threads, struct binned *out, struct mlfs_err *err)
{
	struct bin_job job = {
		.m = m, .f = f, .featcol = featcol, .catmap = catmap,
		.max_bins = max_bins, .b = out,
	};
	size_t n = frame_nrows(f);

	memset(out, 0, sizeof(*out));
	if (max_bins < 2 || max_bins > MAX_BINS)
		return mlfs_fail(err, -EINVAL, "max_bins must be 2..%d", MAX_BINS);
	out->nrows = (uint32_t)n;
	out->nfeat = m->nfeat;
	out->bins = malloc(n * m->nfeat + 1);
	out->nbins = calloc(m->nfeat, sizeof(*out->nbins));
	out->ub = calloc(m->nfeat, sizeof(*out->ub));
	out->catbin = calloc(m->nfeat, sizeof(*out->catbin));
	out->ncats = calloc(m->nfeat, sizeof(*out->ncats));
	if (!out->bins || !out->nbins || !out->ub || !out->catbin || !out->ncats) {
		binning_free(out);
		return mlfs_fail(err, -ENOMEM, "out of memory binning features");
	}
	atomic_init(&job.next_feat, 0);
	atomic_init(&job.next_block, 0);
	atomic_init(&job.rc, 0);
	par_for(par_default(), forest_slots(n_threads, m->nfeat), bounds_worker, &job);
	if (atomic_load(&job.rc)) {
		binning_free(out);
		return mlfs_fail(err, -ENOMEM, "out of memory binning features");
	}
	par_for(par_default(), forest_slots(n_threads, (n + ROW_BLOCK - 1) / ROW_BLOCK),
		rows_worker, &job);
	return 0;
}
