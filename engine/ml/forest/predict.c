/* predict.c - score rows with a trained forest.
 *
 * A frame's columns are matched to the model's features by name once per
 * call (predict_map), each row is binned once, then a thread takes a chunk
 * of rows and runs every tree over the whole chunk before the next tree,
 * so the tree stays in cache.  Batch walks use the trees' prediction
 * layout (layout.c): the rows of a chunk walk a big tree's top together,
 * are sorted by where they got to, and 128 at a time walk on to their
 * leaves so that their memory loads overlap (tree_chunk).  One row walks
 * the trees as trained.  Each row adds its trees in tree order, so the
 * output does not depend on the thread count, the chunk size or the
 * order the rows are walked in. */
#include "forest_int.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define PREDICT_BLOCK 128u	/* rows walking a tree together */
#define STEPS 4u		/* steps between looking for rows at a leaf */
#define SORT_BUCKETS 8192u	/* at most, for sorting rows by node */

size_t forest_argmax(const double *proba, size_t k)
{
	size_t best = 0;
	for (size_t c = 1; c < k; c++)
		if (proba[c] > proba[best])
			best = c;
	return best;
}

int forest_category_find(const struct forest *m, size_t j, const char *s,
			 size_t len)
{
	if (j >= m->nfeat || m->feats[j].kind != FRAME_CATEGORICAL)
		return -ENOENT;
	const struct feature *ft = &m->feats[j];
	size_t lo = 0, hi = ft->ncats;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		size_t ml = ft->catlen[mid], n = ml < len ? ml : len;
		int c = memcmp(ft->cats[mid], s, n);
		if (!c)
			c = (ml > len) - (ml < len);
		if (c == 0)
			return (int)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -ENOENT;
}

void predict_map_free(struct predict_map *pm)
{
	if (!pm->f)
		return;
	for (uint32_t j = 0; j < pm->m->nfeat; j++)
		free(pm->f[j].code_bin);
	free(pm->f);
	pm->f = NULL;
}

/* The number of each category of text column COL in *OUT (NaN for none);
 * a category used by a row that is not a number is an error naming the
 * first such row. */
static int text_numbers(const struct frame *f, size_t col, double **out,
			struct mlfs_err *err)
{
	size_t nc = frame_col_ncats(f, col), n = frame_nrows(f);
	const int32_t *codes = frame_col_codes(f, col);
	double *v = malloc((nc + 1) * sizeof(double));
	uint8_t *bad = calloc(nc + 1, 1);
	int rc = 0;

	if (!v || !bad) {
		rc = mlfs_fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t c = 0; c < nc; c++) {
		size_t len;
		const char *s = frame_col_category(f, col, (int32_t)c, &len);
		enum col_type t = value_infer(s, len);
		if (t != COL_STRING && t != COL_NULL &&
		    value_as_double(t, s, len, &v[c]))
			continue;
		if (value_parse_float(s, len, &v[c]))
			continue;	/* nan, inf */
		v[c] = NAN;
		bad[c] = 1;
	}
	for (size_t i = 0; i < n; i++) {
		if (codes[i] >= 0 && bad[codes[i]]) {
			size_t len;
			const char *s = frame_col_category(f, col, codes[i], &len);
			int show = len > 40 ? 40 : (int)len;
			rc = mlfs_fail(err, -EINVAL,
				       "column '%s', row %zu: '%.*s%s' is not a number",
				       frame_col_name(f, col), i + 1, show, s,
				       len > 40 ? "..." : "");
			goto out;
		}
	}
	*out = v;
	v = NULL;
out:
	free(v);
	free(bad);
	return rc;
}

/* Bin of category S[0..LEN) of categorical feature J (MISSING_BIN when
 * the model never saw it). */
static uint8_t category_bin(const struct forest *m, uint32_t j, const char *s,
			    size_t len)
{
	int c = forest_category_find(m, j, s, len);
	return c < 0 ? MISSING_BIN : m->feats[j].catbin[c];
}

int predict_map_build(const struct forest *m, const struct frame *f,
		      struct predict_map *pm, struct mlfs_err *err)
{
	int rc;

	memset(pm, 0, sizeof(*pm));
	if ((rc = frame_check(f, err)))
		return rc;
	pm->m = m;
	pm->nrows = frame_nrows(f);
	pm->f = calloc(m->nfeat + 1, sizeof(*pm->f));
	if (!pm->f)
		return mlfs_fail(err, -ENOMEM, "out of memory");
	for (uint32_t j = 0; j < m->nfeat; j++) {
		const struct feature *ft = &m->feats[j];
		struct pm_feat *pf = &pm->f[j];
		/* Usually the columns come in training order (maybe with the
		 * label among them): try there before searching. */
		int col = -1;
		for (size_t g = j; g <= (size_t)j + 1 && col < 0; g++)
			if (g < frame_ncols(f) && !strcmp(frame_col_name(f, g), ft->name))
				col = (int)g;
		if (col < 0)
			col = frame_col_index(f, ft->name);
		if (col < 0) {
			pf->mode = PM_ABSENT;
			continue;
		}
		bool text = frame_col_kind(f, (size_t)col) == FRAME_CATEGORICAL;
		if (!text) {
			pf->mode = ft->kind == FRAME_NUMERIC ? PM_NUM : PM_NUM_CAT;
			pf->num = frame_col_numbers(f, (size_t)col);
			continue;
		}
		/* A text column: work out the bin of each of its categories. */
		size_t nc = frame_col_ncats(f, (size_t)col);
		pf->mode = PM_CODES;
		pf->codes = frame_col_codes(f, (size_t)col);
		pf->code_bin = malloc(nc + 1);
		if (!pf->code_bin) {
			rc = mlfs_fail(err, -ENOMEM, "out of memory");
			goto fail;
		}
		if (ft->kind == FRAME_NUMERIC) {
			double *num = NULL;
			if ((rc = text_numbers(f, (size_t)col, &num, err)))
				goto fail;
			for (size_t c = 0; c < nc; c++)
				pf->code_bin[c] = bin_of(ft->ub, ft->nbins, num[c]);
			free(num);
		} else {
			for (size_t c = 0; c < nc; c++) {
				size_t len;
				const char *s = frame_col_category(f, (size_t)col,
								   (int32_t)c, &len);
				pf->code_bin[c] = category_bin(m, j, s, len);
			}
		}
	}
	return 0;
fail:
	predict_map_free(pm);
	return rc;
}

void predict_map_row(const struct predict_map *pm, size_t i, uint8_t *xb)
{
	const struct forest *m = pm->m;
	for (uint32_t j = 0; j < m->nfeat; j++) {
		const struct pm_feat *pf = &pm->f[j];
		switch (pf->mode) {
		case PM_NUM:
			xb[j] = bin_of(m->feats[j].ub, m->feats[j].nbins, pf->num[i]);
			break;
		case PM_CODES:
			xb[j] = pf->codes[i] < 0 ? MISSING_BIN
				: pf->code_bin[pf->codes[i]];
			break;
		case PM_NUM_CAT: {
			char tmp[40];
			xb[j] = MISSING_BIN;
			if (!isnan(pf->num[i])) {
				int len = forest_fmt_number(tmp, pf->num[i]);
				xb[j] = category_bin(m, j, tmp, (size_t)len);
			}
			break;
		}
		default:
			xb[j] = MISSING_BIN;
		}
	}
}

/* One row through all trees, TREES_AT_ONCE trees walking together (their
 * node loads overlap); leaves are added in tree order afterwards, so the
 * sum is the one tree_block() makes. */
#define TREES_AT_ONCE 8u
static void row_all_trees(const struct forest *m, const uint8_t *xb,
			  double *out)
{
	const struct fnode *leaf[TREES_AT_ONCE], *cur[TREES_AT_ONCE];
	for (uint32_t t0 = 0; t0 < m->ntrees; t0 += TREES_AT_ONCE) {
		uint32_t g = m->ntrees - t0 < TREES_AT_ONCE
			     ? m->ntrees - t0 : TREES_AT_ONCE;
		uint32_t left = g;
		for (uint32_t i = 0; i < g; i++)
			cur[i] = m->trees[t0 + i].nodes;
		while (left) {
			left = 0;
			for (uint32_t i = 0; i < g; i++) {
				const struct fnode *n = cur[i];
				if (!n)
					continue;
				if (n->flags & NODE_LEAF) {
					leaf[i] = n;
					cur[i] = NULL;
					continue;
				}
				const struct tree *t = &m->trees[t0 + i];
				cur[i] = t->nodes + node_next(t, n, xb[n->feat]);
				left++;
			}
		}
		for (uint32_t i = 0; i < g; i++)
			leaf_add(m, &m->trees[t0 + i], leaf[i], out);
	}
}

/* Row X of model features (forest_predict_row's form) as bins into XB. */
static void bin_row(const struct forest *m, const double *x, uint8_t *xb)
{
	for (uint32_t j = 0; j < m->nfeat; j++) {
		const struct feature *ft = &m->feats[j];
		double v = x[j];
		if (ft->kind == FRAME_NUMERIC)
			xb[j] = bin_of(ft->ub, ft->nbins, v);
		else if (v >= 0 && v < ft->ncats)
			xb[j] = ft->catbin[(uint32_t)v];
		else
			xb[j] = MISSING_BIN;
	}
}

void forest_predict_row(const struct forest *m, const double *x, double *out)
{
	uint8_t stack_xb[256];
	uint8_t *xb = m->nfeat <= sizeof(stack_xb) ? stack_xb : malloc(m->nfeat);
	size_t nout = forest_nout(m);

	memset(out, 0, nout * sizeof(*out));
	if (!xb) {
		for (size_t c = 0; c < nout; c++)
			out[c] = NAN;
		return;
	}
	bin_row(m, x, xb);
	row_all_trees(m, xb, out);
	for (size_t c = 0; c < nout; c++)
		out[c] /= m->ntrees;
	if (xb != stack_xb)
		free(xb);
}

/* Walk layout tree LT (tree T) to the leaves for the NA rows ROW[] of XB
 * (nf bins each), which stand at nodes CUR[] (both arrays are consumed):
 * every row still inside the tree takes STEPS steps per pass
 * (layout_next() stays on a leaf), then the rows at a leaf add it to OUT
 * (nout per row) and leave.  The rows' node loads are independent and
 * each next node is prefetched as soon as it is known, so the memory
 * system overlaps the cache misses of many rows; the steps do not branch
 * on the data. */
static void walk_rows(const struct forest *m, const struct tree *t,
		      const struct layout_tree *lt, const uint8_t *xb,
		      size_t nf, uint32_t *row, uint32_t *cur, uint32_t na,
		      double *out, size_t nout)
{
	while (na) {
		for (uint32_t s = 0; s < STEPS; s++)
			for (uint32_t i = 0; i < na; i++) {
				cur[i] = layout_next(lt, cur[i], xb + row[i] * nf);
				__builtin_prefetch(lt->nodes + cur[i]);
			}
		uint32_t k = 0;
		for (uint32_t i = 0; i < na; i++) {
			const struct fnode *n = lt->nodes + cur[i];
			if (n->flags & NODE_LEAF) {
				leaf_add(m, t, n, out + row[i] * nout);
				continue;
			}
			cur[k] = cur[i];
			row[k++] = row[i];
		}
		na = k;
	}
}

/* A thread's scratch for tree_chunk(), chunk rows long. */
struct walk_buf {
	uint32_t *at;		/* node of each row after the top levels */
	uint32_t *order;	/* rows sorted by that node */
	uint32_t *count;	/* nbuckets + 1 */
	uint32_t shift;		/* bucket of node i: i >> shift */
	uint32_t nbuckets;
};

/* Tree T over the NB rows of a chunk.  A tree no bigger than its top
 * walks 128 rows at a time from the root.  A bigger one: every row first
 * walks the LAYOUT_TOP_LEVELS levels of the breadth-first top (in L1),
 * then the rows are sorted by the node they reached (a counting sort on
 * node / 2^shift) and finish in that order.  Rows going down the same
 * subtree then go one after the other while it is in L1, and the
 * depth-first part of the tree is read from front to back, instead of
 * every row jumping to its own place in a tree bigger than L1. */
static void tree_chunk(const struct forest *m, const struct tree *t,
		       const struct layout_tree *lt, const uint8_t *xb,
		       size_t nf, uint32_t nb, double *out, size_t nout,
		       struct walk_buf *w)
{
	uint32_t cur[PREDICT_BLOCK], row[PREDICT_BLOCK];
	bool sort = t->nnodes > 2 * LAYOUT_TOP_NODES;

	if (sort) {
		memset(w->count, 0, (w->nbuckets + 1) * sizeof(*w->count));
		for (uint32_t b = 0; b < nb; b += PREDICT_BLOCK) {
			uint32_t n = nb - b < PREDICT_BLOCK ? nb - b : PREDICT_BLOCK;
			uint32_t *at = w->at + b;
			for (uint32_t i = 0; i < n; i++)
				at[i] = 0;
			for (uint32_t s = 0; s < LAYOUT_TOP_LEVELS; s++)
				for (uint32_t i = 0; i < n; i++)
					at[i] = layout_next(lt, at[i], xb + (b + i) * nf);
			for (uint32_t i = 0; i < n; i++)
				w->count[(at[i] >> w->shift) + 1]++;
		}
		for (uint32_t k = 0; k < w->nbuckets; k++)
			w->count[k + 1] += w->count[k];
		for (uint32_t r = 0; r < nb; r++)
			w->order[w->count[w->at[r] >> w->shift]++] = r;
	}
	for (uint32_t b = 0; b < nb; b += PREDICT_BLOCK) {
		uint32_t n = nb - b < PREDICT_BLOCK ? nb - b : PREDICT_BLOCK;
		for (uint32_t i = 0; i < n; i++) {
			row[i] = sort ? w->order[b + i] : b + i;
			cur[i] = sort ? w->at[row[i]] : 0;
		}
		walk_rows(m, t, lt, xb, nf, row, cur, n, out, nout);
	}
}

/* Rows a thread takes at a time.  Each tree runs over the whole chunk
 * before the next, so a big tree is fetched from memory once per chunk:
 * the chunk should be large next to a tree (1M-row forest, 750 KB trees:
 * 1,024 rows 59k rows/s, 16,384 119k, 65,536 138k per thread).  But every
 * tree also streams the chunk's binned rows and sums, so with small trees
 * the chunk should stay small (satellite, 14 KB trees and 84 bytes a row:
 * 65,536 rows was slower than scikit-learn).  So: four trees' worth of
 * rows, within [1024, 65536] and a thread's share. */
static size_t chunk_rows(const struct forest *m, size_t nrows,
			 unsigned nthreads)
{
	size_t tree_bytes = 0;
	for (uint32_t t = 0; t < m->ntrees; t++) {
		const struct tree *tr = &m->trees[t];
		tree_bytes += tr->nnodes * sizeof(struct fnode) +
			      tr->nleafv * sizeof(float) +
			      tr->nvals * sizeof(double) +
			      tr->ncats * sizeof(uint32_t);
	}
	tree_bytes /= m->ntrees ? m->ntrees : 1;
	size_t row_bytes = m->nfeat + forest_nout(m) * sizeof(double);
	size_t c = 4 * tree_bytes / row_bytes;
	if (c < 1024)
		c = 1024;
	if (c > 65536)
		c = 65536;
	size_t share = (nrows + nthreads - 1) / nthreads;
	if (c > share)
		c = share;
	c = (c + PREDICT_BLOCK - 1) / PREDICT_BLOCK * PREDICT_BLOCK;
	return c ? c : PREDICT_BLOCK;
}

struct pred_job {
	const struct forest *m;
	const struct predict_map *pm;
	double *out;
	size_t chunk;
	atomic_size_t next;
	atomic_int rc;
};

/* W's arrays for chunks of CHUNK rows of M.  -ENOMEM. */
static int walk_buf_init(const struct forest *m, size_t chunk, struct walk_buf *w)
{
	uint32_t most = 1;
	memset(w, 0, sizeof(*w));
	for (uint32_t t = 0; t < m->ntrees; t++)
		if (m->trees[t].nnodes > most)
			most = m->trees[t].nnodes;
	while ((most >> w->shift) >= SORT_BUCKETS)
		w->shift++;
	w->nbuckets = (most >> w->shift) + 1;
	w->at = malloc(chunk * sizeof(uint32_t));
	w->order = malloc(chunk * sizeof(uint32_t));
	w->count = malloc((w->nbuckets + 1) * sizeof(uint32_t));
	return w->at && w->order && w->count ? 0 : -ENOMEM;
}

static void walk_buf_free(struct walk_buf *w)
{
	free(w->at);
	free(w->order);
	free(w->count);
}

/* The NB binned rows of XB (a chunk) into O, nout values a row. */
static void predict_binned(const struct forest *m, const uint8_t *xb, size_t nb,
			   double *o, struct walk_buf *w)
{
	const size_t nout = forest_nout(m), nf = m->nfeat;
	memset(o, 0, nb * nout * sizeof(double));
	/* Trees outside, rows inside: every row still adds its trees in
	 * tree order.  A few rows go through the trees one by one. */
	if (nb < 4) {
		for (size_t r = 0; r < nb; r++)
			row_all_trees(m, xb + r * nf, o + r * nout);
	} else {
		for (uint32_t t = 0; t < m->ntrees; t++)
			tree_chunk(m, &m->trees[t], &m->layout->trees[t],
				   xb, nf, (uint32_t)nb, o, nout, w);
	}
	for (size_t q = 0; q < nb * nout; q++)
		o[q] /= m->ntrees;
}

static void pred_worker(void *arg, size_t slot)
{
	struct pred_job *job = arg;
	const struct forest *m = job->m;
	const size_t nout = forest_nout(m), nf = m->nfeat;
	if (atomic_load(&job->next) * job->chunk >= job->pm->nrows)
		return;		/* the slots before took every chunk */
	uint8_t *xb = malloc(job->chunk * nf + 1);
	struct walk_buf w;

	if (walk_buf_init(m, job->chunk, &w) || !xb) {
		atomic_store(&job->rc, -ENOMEM);
		walk_buf_free(&w);
		free(xb);
		return;
	}
	for (;;) {
		size_t start = atomic_fetch_add(&job->next, 1) * job->chunk;
		if (start >= job->pm->nrows)
			break;
		size_t end = start + job->chunk < job->pm->nrows
			     ? start + job->chunk : job->pm->nrows;
		size_t nb = end - start;
		for (size_t r = 0; r < nb; r++)
			predict_map_row(job->pm, start + r, xb + r * nf);
		predict_binned(m, xb, nb, job->out + start * nout, &w);
	}
	free(xb);
	walk_buf_free(&w);
}

int forest_predict(const struct forest *m, const struct frame *f,
		   unsigned n_threads, double *out, struct mlfs_err *err)
{
	struct predict_map pm;
	struct pred_job job = { .m = m, .pm = &pm, .out = out };
	int rc = predict_map_build(m, f, &pm, err);
	if (rc)
		return rc;
	job.chunk = chunk_rows(m, pm.nrows, forest_slots(n_threads, pm.nrows));
	atomic_init(&job.next, 0);
	atomic_init(&job.rc, 0);
	par_for(par_default(), forest_slots(n_threads, (pm.nrows + job.chunk - 1) / job.chunk),
		pred_worker, &job);
	predict_map_free(&pm);
	if ((rc = atomic_load(&job.rc)))
		return mlfs_fail(err, rc, "out of memory");
	return 0;
}

int forest_encode_labels(const struct forest *m, const struct frame *f,
			 const char *label, int32_t *cls, double *y,
			 struct mlfs_err *err)
{
	int col = frame_col_index(f, label);
	size_t n = frame_nrows(f);
	char tmp[40];

	if (col < 0)
		return mlfs_fail(err, -EINVAL, "no label column '%s'", label);
	bool text = frame_col_kind(f, (size_t)col) == FRAME_CATEGORICAL;
	if (!m->classify) {
		if (!y)
			return mlfs_fail(err, -EINVAL, "regressor labels need Y");
		if (text) {
			const int32_t *codes = frame_col_codes(f, (size_t)col);
			double *num = NULL;
			int rc = text_numbers(f, (size_t)col, &num, err);
			if (rc)
				return rc;
			for (size_t i = 0; i < n; i++)
				y[i] = codes[i] < 0 ? NAN : num[codes[i]];
			free(num);
		} else {
			memcpy(y, frame_col_numbers(f, (size_t)col), n * sizeof(*y));
		}
		for (size_t i = 0; i < n; i++)
			if (!isfinite(y[i]))
				return mlfs_fail(err, -EINVAL,
						 "label '%s' is empty or not finite on data row %zu",
						 label, i + 1);
		return 0;
	}
	if (!cls)
		return mlfs_fail(err, -EINVAL, "classifier labels need CLS");
	if (text) {
		const int32_t *codes = frame_col_codes(f, (size_t)col);
		size_t nc = frame_col_ncats(f, (size_t)col);
		int32_t *map = malloc((nc + 1) * sizeof(*map));
		if (!map)
			return mlfs_fail(err, -ENOMEM, "out of memory");
		for (size_t c = 0; c < nc; c++) {
			const char *s = frame_col_category(f, (size_t)col,
							   (int32_t)c, NULL);
			map[c] = -1;
			for (uint32_t k = 0; k < m->k; k++)
				if (!strcmp(m->classes[k], s))
					map[c] = (int32_t)k;
		}
		int rc = 0;
		for (size_t i = 0; i < n && !rc; i++) {
			if (codes[i] < 0)
				rc = mlfs_fail(err, -EINVAL,
					       "label '%s' is empty on data row %zu",
					       label, i + 1);
			else if ((cls[i] = map[codes[i]]) < 0)
				rc = mlfs_fail(err, -EINVAL,
					       "data row %zu: label '%s' is not a class of the model",
					       i + 1, frame_col_category(f, (size_t)col,
									 codes[i], NULL));
		}
		free(map);
		return rc;
	}
	const double *x = frame_col_numbers(f, (size_t)col);
	for (size_t i = 0; i < n; i++) {
		if (isnan(x[i]))
			return mlfs_fail(err, -EINVAL,
					 "label '%s' is empty on data row %zu",
					 label, i + 1);
		forest_number_class_name(frame_col_type(f, (size_t)col), x[i], tmp);
		cls[i] = -1;
		for (uint32_t k = 0; k < m->k; k++) {
			if (!strcmp(m->classes[k], tmp)) {
				cls[i] = (int32_t)k;
				break;
			}
		}
		if (cls[i] < 0)
			return mlfs_fail(err, -EINVAL,
					 "data row %zu: label '%s' is not a class of the model",
					 i + 1, tmp);
	}
	return 0;
}

void forest_predict_rows(const struct forest *m, const double *x,
			 size_t nrows, double *out)
{
	const size_t nout = forest_nout(m), nf = m->nfeat;
	size_t chunk = chunk_rows(m, nrows, 1);
	uint8_t *xb = malloc(chunk * nf + 1);
	struct walk_buf w;
	if (nrows < 4 || !xb || walk_buf_init(m, chunk, &w)) {
		if (xb && nrows >= 4)
			walk_buf_free(&w);
		free(xb);
		for (size_t i = 0; i < nrows; i++)	/* no memory: row by row */
			forest_predict_row(m, x + i * nf, out + i * nout);
		return;
	}
	for (size_t start = 0; start < nrows; start += chunk) {
		size_t nb = nrows - start < chunk ? nrows - start : chunk;
		for (size_t r = 0; r < nb; r++)
			bin_row(m, x + (start + r) * nf, xb + r * nf);
		predict_binned(m, xb, nb, out + start * nout, &w);
	}
	walk_buf_free(&w);
	free(xb);
}
