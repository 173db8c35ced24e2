/* train_data.c - the rows of one training: the labels table joined with
 * the feature lookups (trainset.h), the split into train and test rows -
 * stratified by class for classifiers, seeded, the same on every machine -
 * and the frames the forest sees (the excluded columns left out). */
#include "train_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "trainset.h"

void train_data_free(struct train_data *d)
{
	frame_free(d->all);
	frame_free(d->train);
	frame_free(d->test);
	frame_free(d->all_test);
	free(d->is_test);
	memset(d, 0, sizeof(*d));
}

/* splitmix64: the split's random stream. */
static uint64_t next_random(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void shuffle(uint32_t *a, size_t n, uint64_t *state)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)(next_random(state) % i);
		uint32_t t = a[i - 1];
		a[i - 1] = a[j];
		a[j] = t;
	}
}

/* Same rule as the forest's FOREST_TASK_AUTO. */
static bool is_classification(const struct frame *f, size_t lc,
			      const struct forest_params *p)
{
	if (p->task != FOREST_TASK_AUTO)
		return p->task == FOREST_TASK_CLASSIFY;
	enum col_type t = frame_col_type(f, lc);
	return frame_col_kind(f, lc) == FRAME_CATEGORICAL || t == COL_INT || t == COL_BOOL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The class of every row as a small integer (rows with a null label get
 * -1; the forest rejects them later with the row number). */
static int32_t *class_of_rows(const struct frame *f, size_t lc, size_t n,
			      size_t *nclasses)
{
	int32_t *cls = malloc((n ? n : 1) * sizeof(*cls));
	if (!cls)
		mlfs_oom();
	if (frame_col_kind(f, lc) == FRAME_CATEGORICAL) {
		memcpy(cls, frame_col_codes(f, lc), n * sizeof(*cls));
		*nclasses = frame_col_ncats(f, lc);
		return cls;
	}
	const double *x = frame_col_numbers(f, lc);
	double *u = malloc((n ? n : 1) * sizeof(*u));
	size_t k = 0;
	if (!u)
		mlfs_oom();
	for (size_t i = 0; i < n; i++)
		if (!isnan(x[i]))
			u[k++] = x[i];
	qsort(u, k, sizeof(*u), cmp_double);
	size_t nu = 0;
	for (size_t i = 0; i < k; i++)
		if (!nu || u[i] != u[nu - 1])
			u[nu++] = u[i];
	for (size_t i = 0; i < n; i++) {
		if (isnan(x[i])) {
			cls[i] = -1;
			continue;
		}
		size_t lo = 0, hi = nu;
		while (lo + 1 < hi) {
			size_t mid = (lo + hi) / 2;
			if (u[mid] <= x[i])
				lo = mid;
			else
				hi = mid;
		}
		cls[i] = (int32_t)lo;
	}
	free(u);
	*nclasses = nu;
	return cls;
}

/* Mark round(TEST_SIZE x N) rows as test rows: per class in proportion
 * (largest remainders), or over all rows for a regressor. */
static void split_rows(const int32_t *cls, size_t nclasses, size_t n,
		       double test_size, uint64_t seed, bool *is_test)
{
	size_t groups = cls ? nclasses + 1 : 1;	/* + the null class */
	size_t *count = calloc(groups, sizeof(*count)), *take = calloc(groups, sizeof(*take));
	double *rem = calloc(groups, sizeof(*rem));
	uint32_t *rows = malloc((n ? n : 1) * sizeof(*rows));
	if (!count || !take || !rem || !rows)
		mlfs_oom();
	for (size_t i = 0; i < n; i++)
		count[cls ? (size_t)(cls[i] + 1) : 0]++;
	size_t want = (size_t)ceil(test_size * (double)n), have = 0;
	for (size_t g = 0; g < groups; g++) {
		double exact = test_size * (double)count[g];
		take[g] = (size_t)floor(exact);
		rem[g] = exact - floor(exact);
		have += take[g];
	}
	while (have < want) {
		size_t best = 0;
		for (size_t g = 1; g < groups; g++)
			if (rem[g] > rem[best])
				best = g;
		if (rem[best] <= 0)
			break;
		take[best]++;
		rem[best] = 0;
		have++;
	}
	uint64_t state = seed;
	for (size_t g = 0; g < groups; g++) {
		size_t k = 0;
		for (size_t i = 0; i < n; i++)
			if ((cls ? (size_t)(cls[i] + 1) : 0) == g)
				rows[k++] = (uint32_t)i;
		shuffle(rows, k, &state);
		for (size_t i = 0; i < take[g] && i < k; i++)
			is_test[rows[i]] = true;
	}
	free(count);
	free(take);
	free(rem);
	free(rows);
}

static bool dropped(const struct train_spec *sp, const char *name)
{
	for (size_t i = 0; i < sp->nexclude; i++)
		if (!strcmp(sp->exclude[i], name))
			return true;
	return false;
}

/* A new frame of F's rows where PICK[i] == WANT (all rows when PICK is
 * NULL), without the excluded columns. */
static struct frame *cut(const struct frame *f, const struct train_spec *sp,
			 const bool *pick, bool want, struct mlfs_err *err)
{
	struct frame *out = frame_new();
	size_t n = frame_nrows(f), picked = 0;
	if (!out)
		mlfs_oom();
	for (size_t i = 0; i < n; i++)
		picked += !pick || pick[i] == want;
	for (size_t c = 0; c < frame_ncols(f); c++) {
		const char *name = frame_col_name(f, c);
		if (dropped(sp, name))
			continue;
		enum frame_kind kind = frame_col_kind(f, c);
		int col = frame_add_column(out, name, kind, frame_col_type(f, c), err);
		if (col < 0) {
			frame_free(out);
			return NULL;
		}
		const double *x = frame_col_numbers(f, c);
		const int32_t *code = frame_col_codes(f, c);
		double *to = NULL;
		if (kind == FRAME_NUMERIC) {
			/* The room of all the picked rows at once: no growing. */
			if (frame_extend_numbers(out, (size_t)col, picked, &to, err)) {
				frame_free(out);
				return NULL;
			}
			for (size_t i = 0; i < n; i++)
				if (!pick || pick[i] == want)
					*to++ = x[i];
			continue;
		}
		for (size_t i = 0; i < n; i++) {
			if (pick && pick[i] != want)
				continue;
			if (code[i] < 0) {
				frame_append_null(out, (size_t)col, NULL);
			} else {
				size_t len;
				const char *s = frame_col_category(f, c, code[i], &len);
				frame_append_text(out, (size_t)col, s, len, NULL);
			}
		}
	}
	return out;
}

/* Labels table + lookups, then the test table appended below it. */
static int load_frames(struct store *s, const struct train_spec *sp,
		       struct frame **all, struct frame **test,
		       struct mlfs_err *err)
{
	int rc = trainset_build(s, sp->labels, sp->label, sp->lookups, sp->nlookups,
				NULL, 0, all, err);
	if (!rc && sp->test)
		rc = trainset_build(s, sp->test, sp->label, sp->lookups, sp->nlookups,
				    NULL, 0, test, err);
	return rc;
}

int train_data_load(struct store *s, const struct train_spec *sp,
		    struct train_data *d, struct mlfs_err *err)
{
	struct frame *test_all = NULL;
	memset(d, 0, sizeof(*d));
	int rc = load_frames(s, sp, &d->all, &test_all, err);
	if (rc)
		goto out;
	int lc = frame_col_index(d->all, sp->label);
	d->nall = frame_nrows(d->all);
	if (lc < 0 || !d->nall) {
		rc = mlfs_fail(err, -EINVAL, "no rows to train on in table '%s'", sp->labels);
		goto out;
	}
	d->classify = is_classification(d->all, (size_t)lc, &sp->params);
	if (test_all) {
		/* The rows of the test table are the test rows. */
		d->train = cut(d->all, sp, NULL, false, err);
		d->test = cut(test_all, sp, NULL, false, err);
		d->is_test = calloc(d->nall, sizeof(*d->is_test));
		if (!d->is_test)
			mlfs_oom();
	} else {
		size_t nclasses = 0;
		int32_t *cls = d->classify ? class_of_rows(d->all, (size_t)lc, d->nall, &nclasses) : NULL;
		d->is_test = calloc(d->nall, sizeof(*d->is_test));
		if (!d->is_test)
			mlfs_oom();
		split_rows(cls, nclasses, d->nall, sp->test_size, sp->split_seed, d->is_test);
		free(cls);
		d->train = cut(d->all, sp, d->is_test, false, err);
		d->test = cut(d->all, sp, d->is_test, true, err);
	}
	if (!d->train || !d->test) {
		rc = -EINVAL;
		goto out;
	}
	if (!frame_nrows(d->train) || !frame_nrows(d->test)) {
		rc = mlfs_fail(err, -EINVAL, "%zu rows: too few to keep %zu for training and %zu for testing",
			       d->nall, frame_nrows(d->train), frame_nrows(d->test));
		goto out;
	}
	/* training_set.csv shows the test table's rows below the others. */
	d->all_test = test_all;
	test_all = NULL;
out:
	frame_free(test_all);
	if (rc)
		train_data_free(d);
	return rc;
}
