/* tree.c - grow one decision tree on binned data.
 *
 * Depth-first on an explicit stack over an array of in-bag samples that is
 * partitioned in place (each node owns a contiguous range).  At each node a
 * random subset of features is drawn; their histograms (per bin: class
 * weights or weighted sums, and a sample count) are built in one pass over
 * the node's samples, and every prefix split is scored, with missing values
 * tried on both sides.  Categorical bins are ordered by a target statistic
 * first, so a prefix is a category subset.  One builder is used by one
 * thread; nothing here is shared. */
#include "forest_int.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NBIN_SLOTS 256		/* bins 0..254 and MISSING_BIN */
#define SPARSE_NODE 48		/* nodes smaller than this track touched bins */
#define PREFETCH 16		/* samples ahead to prefetch bins rows */
#define CAT_MIN_GROUP 10	/* categories with fewer samples are not sorted */
#define HIST_FEATS 32		/* features whose histograms one pass builds */

/* An in-bag row: 8 bytes, so partitioning moves little.  Its weight is
 * cnt (bootstrap multiplicity) times its class weight; a regressor reads
 * its target from ctx.y[row]. */
struct samp {
	uint32_t row;
	uint16_t cls;
	uint16_t cnt;
};

struct stack_item {
	uint32_t start, end, node, depth;
};

/* The best split found so far at a node. */
struct cand {
	double score;		/* proxy: larger is better */
	int32_t feat;		/* -1: none yet */
	bool miss_left;
	uint32_t nleft;		/* categorical: ord[0..nleft) go left */
	int thr_bin;		/* numeric: bins <= thr_bin go left */
	double *left;		/* S stats of the left child */
	uint8_t *ord;		/* categorical: bin order */
};

struct tree_builder {
	struct tree_ctx c;
	uint32_t S;		/* stats per bin */
	uint32_t nfeat;
	struct samp *s;
	double *hist;		/* mtry x NBIN_SLOTS x S */
	uint32_t hist_feats;
	uint32_t *perm;		/* feature permutation */
	uint8_t *ord;		/* scratch bin order, 256 */
	uint16_t *touched;	/* hist_feats x 256 */
	uint32_t *ntouched;
	double *tot, *lstat, *rstat, *tmp;	/* S each */
	double *cl, *cr;	/* stats of the children made by make_split */
	struct cand best;
	double *key;		/* categorical sort keys, 256 */
	struct stack_item *stack;
	double *stack_stats;	/* S per stack item: the node's stats */
	size_t stack_cap, stack_stats_cap;
	/* The tree being grown. */
	struct fnode *nodes;
	size_t nodes_cap;
	uint32_t nnodes;
	float *leafv;
	size_t leafv_cap;
	uint32_t nleafv;
	double *vals;
	size_t vals_cap;
	uint32_t nvals;
	uint32_t *cats;
	size_t cats_cap;
	uint32_t ncats;
	uint32_t depth;
};

void tree_release(struct tree *t)
{
	if (!t)
		return;
	free(t->nodes);
	free(t->leafv);
	free(t->vals);
	free(t->cats);
	memset(t, 0, sizeof(*t));
}

void tree_builder_free(struct tree_builder *tb)
{
	if (!tb)
		return;
	free(tb->s);
	free(tb->hist);
	free(tb->perm);
	free(tb->ord);
	free(tb->touched);
	free(tb->ntouched);
	free(tb->tot);
	free(tb->best.left);
	free(tb->best.ord);
	free(tb->key);
	free(tb->stack);
	free(tb->stack_stats);
	free(tb->nodes);
	free(tb->leafv);
	free(tb->vals);
	free(tb->cats);
	free(tb);
}

struct tree_builder *tree_builder_new(const struct tree_ctx *c)
{
	struct tree_builder *tb = calloc(1, sizeof(*tb));
	if (!tb)
		return NULL;
	tb->c = *c;
	tb->nfeat = c->b->nfeat;
	tb->S = c->classify ? c->k + 1 : 4;
	/* Histograms of up to HIST_FEATS features are built in one pass; more
	 * features at a node take more passes. */
	tb->hist_feats = c->mtry < tb->nfeat ? c->mtry : tb->nfeat;
	if (tb->hist_feats > HIST_FEATS)
		tb->hist_feats = HIST_FEATS;
	if (tb->hist_feats == 0)
		tb->hist_feats = 1;
	tb->s = malloc((size_t)c->b->nrows * sizeof(*tb->s) + 1);
	tb->hist = calloc((size_t)tb->hist_feats * NBIN_SLOTS * tb->S,
			  sizeof(double));
	tb->perm = malloc(tb->nfeat * sizeof(*tb->perm));
	tb->ord = malloc(NBIN_SLOTS);
	tb->touched = malloc((size_t)tb->hist_feats * NBIN_SLOTS *
			     sizeof(*tb->touched));
	tb->ntouched = calloc(tb->hist_feats, sizeof(*tb->ntouched));
	tb->tot = malloc(6 * tb->S * sizeof(double));
	tb->best.left = malloc(tb->S * sizeof(double));
	tb->best.ord = malloc(NBIN_SLOTS);
	tb->key = malloc(NBIN_SLOTS * sizeof(double));
	if (!tb->s || !tb->hist || !tb->perm || !tb->ord || !tb->touched ||
	    !tb->ntouched || !tb->tot || !tb->best.left || !tb->best.ord ||
	    !tb->key) {
		tree_builder_free(tb);
		return NULL;
	}
	tb->lstat = tb->tot + tb->S;
	tb->rstat = tb->lstat + tb->S;
	tb->tmp = tb->rstat + tb->S;
	tb->cl = tb->tmp + tb->S;
	tb->cr = tb->cl + tb->S;
	return tb;
}

/* ---- impurity ---- */

double tree_impurity(bool classify, uint32_t k, enum forest_criterion crit,
		     const double *st)
{
	if (!classify) {
		double w = st[0];
		if (w <= 0)
			return 0;
		double mean = st[1] / w;
		double v = st[2] / w - mean * mean;
		return v > 0 ? v : 0;
	}
	double w = 0;
	for (uint32_t c = 0; c < k; c++)
		w += st[c];
	if (w <= 0)
		return 0;
	double r = 0;
	if (crit == FOREST_CRIT_ENTROPY) {
		for (uint32_t c = 0; c < k; c++) {
			if (st[c] > 0) {
				double p = st[c] / w;
				r -= p * log2(p);
			}
		}
		return r;
	}
	double sq = 0;
	for (uint32_t c = 0; c < k; c++)
		sq += st[c] * st[c];
	return 1.0 - sq / (w * w);
}

static double impurity(const struct tree_builder *tb, const double *st)
{
	return tree_impurity(tb->c.classify, tb->c.k, tb->c.crit, st);
}

static double weight_of(const struct tree_builder *tb, const double *st)
{
	if (!tb->c.classify)
		return st[0];
	double w = 0;
	for (uint32_t c = 0; c < tb->c.k; c++)
		w += st[c];
	return w;
}

/* Larger is better; equal to -(wL * impL + wR * impR) up to a constant. */
static double proxy(const struct tree_builder *tb, const double *l,
		    const double *r)
{
	const uint32_t k = tb->c.k;
	if (!tb->c.classify)
		return l[1] * l[1] / l[0] + r[1] * r[1] / r[0];
	double wl = 0, wr = 0;
	for (uint32_t c = 0; c < k; c++) {
		wl += l[c];
		wr += r[c];
	}
	if (tb->c.crit == FOREST_CRIT_ENTROPY) {
		double s = 0;
		for (uint32_t c = 0; c < k; c++) {
			if (l[c] > 0)
				s += l[c] * log2(l[c] / wl);
			if (r[c] > 0)
				s += r[c] * log2(r[c] / wr);
		}
		return s;
	}
	double sl = 0, sr = 0;
	for (uint32_t c = 0; c < k; c++) {
		sl += l[c] * l[c];
		sr += r[c] * r[c];
	}
	return sl / wl + sr / wr;
}

/* ---- growing arrays ---- */

static int grow(void **p, size_t *cap, size_t want, size_t elem)
{
	if (want <= *cap)
		return 0;
	size_t n = *cap ? *cap : 64;
	while (n < want)
		n *= 2;
	void *q = realloc(*p, n * elem);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

static int push(struct tree_builder *tb, size_t *sp, struct stack_item it,
		const double *stats)
{
	if (grow((void **)&tb->stack, &tb->stack_cap, *sp + 1, sizeof(it)) ||
	    grow((void **)&tb->stack_stats, &tb->stack_stats_cap,
		 (*sp + 1) * tb->S, sizeof(double)))
		return -ENOMEM;
	memcpy(tb->stack_stats + *sp * tb->S, stats, tb->S * sizeof(double));
	tb->stack[(*sp)++] = it;
	return 0;
}

/* Add sample SP to stats ST. */
static inline void stats_add(const struct tree_builder *tb, double *st,
			     const struct samp *sp)
{
	if (tb->c.classify) {
		st[sp->cls] += sp->cnt * tb->c.class_w[sp->cls];
		st[tb->c.k] += 1.0;
	} else {
		double w = sp->cnt, y = tb->c.y[sp->row];
		st[0] += w;
		st[1] += w * y;
		st[2] += w * y * y;
		st[3] += 1.0;
	}
}

/* ---- split search ---- */

/* Insertion sort of ORD[0..m) by KEY[bin], ties by bin: m <= 255. */
static void sort_by_key(uint8_t *ord, uint32_t m, const double *key)
{
	for (uint32_t i = 1; i < m; i++) {
		uint8_t b = ord[i];
		double kb = key[b];
		uint32_t j = i;
		while (j > 0 && (key[ord[j - 1]] > kb ||
				 (key[ord[j - 1]] == kb && ord[j - 1] > b))) {
			ord[j] = ord[j - 1];
			j--;
		}
		ord[j] = b;
	}
}

static void sort_bins(uint16_t *v, uint32_t m)
{
	for (uint32_t i = 1; i < m; i++) {
		uint16_t b = v[i];
		uint32_t j = i;
		while (j > 0 && v[j - 1] > b) {
			v[j] = v[j - 1];
			j--;
		}
		v[j] = b;
	}
}

/* Score all prefix splits of feature F whose non-empty bins, in split
 * order, are ORD[0..m) with stats H (NBIN_SLOTS x S).  Returns false when
 * the feature is constant in the node. */
static bool eval_feature(struct tree_builder *tb, uint32_t f, const double *h,
			 uint8_t *ord, uint32_t m, bool cat)
{
	const uint32_t S = tb->S, K = tb->c.classify ? tb->c.k : 3;
	const double *miss = h + (size_t)MISSING_BIN * S;
	const double *T = tb->tot;
	double *L = tb->lstat, *R = tb->rstat;
	const double min_leaf = tb->c.min_leaf;
	bool has_miss = miss[K] > 0;

	if (m + has_miss < 2)
		return false;
	for (int pass = 0; pass < 1 + has_miss; pass++) {
		bool miss_left = pass == 1;
		if (miss_left)
			memcpy(L, miss, S * sizeof(double));
		else
			memset(L, 0, S * sizeof(double));
		for (uint32_t i = 0; i < m; i++) {
			const double *hb = h + (size_t)ord[i] * S;
			for (uint32_t s = 0; s < S; s++)
				L[s] += hb[s];
			if (i == m - 1 && (miss_left || !has_miss))
				break;	/* the right side would be empty */
			if (L[K] < min_leaf || T[K] - L[K] < min_leaf)
				continue;
			for (uint32_t s = 0; s < S; s++)
				R[s] = T[s] - L[s];
			if (weight_of(tb, L) <= 0 || weight_of(tb, R) <= 0)
				continue;
			double sc = proxy(tb, L, R);
			if (!(sc > tb->best.score))
				continue;
			tb->best.score = sc;
			tb->best.feat = (int32_t)f;
			tb->best.miss_left = miss_left;
			memcpy(tb->best.left, L, S * sizeof(double));
			if (cat) {
				tb->best.nleft = i + 1;
				memcpy(tb->best.ord, ord, m);
			} else if (i == m - 1) {
				tb->best.thr_bin = MAX_BINS - 1;
			} else {
				/* Halfway between the two bins present. */
				tb->best.thr_bin = ord[i] + (ord[i + 1] - 1 - ord[i]) / 2;
			}
		}
	}
	if (!has_miss && tb->best.feat == (int32_t)f) {
		/* Never missing here: send missing values to the heavier side. */
		double wl = weight_of(tb, tb->best.left);
		tb->best.miss_left = wl >= weight_of(tb, T) - wl;
	}
	return true;
}

/* Node stats of samples [start, end) into tb->tot. */
static void node_stats(struct tree_builder *tb, uint32_t start, uint32_t end)
{
	const uint32_t S = tb->S;
	double *T = tb->tot;
	memset(T, 0, S * sizeof(double));
	if (tb->c.classify) {
		for (uint32_t i = start; i < end; i++)
			T[tb->s[i].cls] += tb->s[i].cnt * tb->c.class_w[tb->s[i].cls];
		T[tb->c.k] = end - start;
	} else {
		for (uint32_t i = start; i < end; i++) {
			double w = tb->s[i].cnt, y = tb->c.y[tb->s[i].row];
			T[0] += w;
			T[1] += w * y;
			T[2] += w * y * y;
		}
		T[3] = end - start;
	}
}

/* Build the histograms of features FS[0..nf) over [start, end). */
static void build_hist(struct tree_builder *tb, const uint32_t *fs,
		       uint32_t nf, uint32_t start, uint32_t end, bool sparse)
{
	const uint32_t S = tb->S, NF = tb->nfeat;
	const size_t HS = (size_t)NBIN_SLOTS * S;
	const uint8_t *bins = tb->c.b->bins;
	const struct samp *s = tb->s;

	if (tb->c.classify) {
		const uint32_t K = tb->c.k;
		const double *cw = tb->c.class_w;
		if (sparse) {
			for (uint32_t j = 0; j < nf; j++)
				tb->ntouched[j] = 0;
			for (uint32_t i = start; i < end; i++) {
				const uint8_t *row = bins + (size_t)s[i].row * NF;
				for (uint32_t j = 0; j < nf; j++) {
					uint8_t b = row[fs[j]];
					double *h = tb->hist + j * HS + (size_t)b * S;
					if (h[K] == 0 && b != MISSING_BIN)
						tb->touched[j * NBIN_SLOTS + tb->ntouched[j]++] = b;
					h[s[i].cls] += s[i].cnt * cw[s[i].cls];
					h[K] += 1.0;
				}
			}
			return;
		}
		for (uint32_t i = start; i < end; i++) {
			if (i + PREFETCH < end)
				__builtin_prefetch(bins + (size_t)s[i + PREFETCH].row * NF);
			const uint8_t *row = bins + (size_t)s[i].row * NF;
			const uint32_t cls = s[i].cls;
			const double w = s[i].cnt * cw[cls];
			for (uint32_t j = 0; j < nf; j++) {
				double *h = tb->hist + j * HS + (size_t)row[fs[j]] * S;
				h[cls] += w;
				h[K] += 1.0;
			}
		}
		return;
	}
	if (sparse)
		for (uint32_t j = 0; j < nf; j++)
			tb->ntouched[j] = 0;
	for (uint32_t i = start; i < end; i++) {
		if (i + PREFETCH < end)
			__builtin_prefetch(bins + (size_t)s[i + PREFETCH].row * NF);
		const uint8_t *row = bins + (size_t)s[i].row * NF;
		if (i + PREFETCH < end)
			__builtin_prefetch(tb->c.y + s[i + PREFETCH].row);
		const double y = tb->c.y[s[i].row];
		const double w = s[i].cnt, wy = w * y, wyy = wy * y;
		for (uint32_t j = 0; j < nf; j++) {
			uint8_t b = row[fs[j]];
			double *h = tb->hist + j * HS + (size_t)b * S;
			if (sparse && h[3] == 0 && b != MISSING_BIN)
				tb->touched[j * NBIN_SLOTS + tb->ntouched[j]++] = b;
			h[0] += w;
			h[1] += wy;
			h[2] += wyy;
			h[3] += 1.0;
		}
	}
}

/* Order the non-empty bins of feature F (hist H) into tb->ord, score its
 * splits, and zero H again.  Returns false for a constant feature. */
static bool scan_feature(struct tree_builder *tb, uint32_t j, uint32_t f,
			 bool sparse)
{
	const uint32_t S = tb->S, K = tb->c.classify ? tb->c.k : 3;
	double *h = tb->hist + (size_t)j * NBIN_SLOTS * S;
	const struct binned *b = tb->c.b;
	bool cat = b->catbin[f] != NULL;
	uint8_t *ord = tb->ord;
	uint32_t m = 0;

	if (sparse) {
		uint16_t *t = tb->touched + (size_t)j * NBIN_SLOTS;
		m = tb->ntouched[j];
		sort_bins(t, m);
		for (uint32_t i = 0; i < m; i++)
			ord[i] = (uint8_t)t[i];
	} else {
		for (uint32_t bin = 0; bin < b->nbins[f]; bin++)
			if (h[(size_t)bin * S + K] > 0)
				ord[m++] = (uint8_t)bin;
	}
	if (cat && m > 1) {
		/* Order categories by the target statistic. */
		double *key = tb->key;
		uint32_t top = 0;
		if (tb->c.classify && tb->c.k > 2)
			for (uint32_t c = 1; c < tb->c.k; c++)
				if (tb->tot[c] > tb->tot[top])
					top = c;
		/* Categories with few samples here have a noisy statistic:
		 * they keep their bin order after the others instead of being
		 * sorted (LightGBM's min_data_per_group; measured on
		 * mlc_churn, it removes most of the overfitting of
		 * many-valued features like state). */
		uint32_t keep = 0, nsmall = 0;
		uint8_t small[NBIN_SLOTS];
		for (uint32_t i = 0; i < m; i++) {
			const double *hb = h + (size_t)ord[i] * S;
			if (hb[K] < CAT_MIN_GROUP) {
				small[nsmall++] = ord[i];
				continue;
			}
			if (!tb->c.classify)
				key[ord[i]] = hb[1] / hb[0];
			else
				key[ord[i]] = hb[tb->c.k == 2 ? 1 : top] /
					      weight_of(tb, hb);
			ord[keep++] = ord[i];
		}
		sort_by_key(ord, keep, key);
		memcpy(ord + keep, small, nsmall);
	}
	bool varies = eval_feature(tb, f, h, ord, m, cat);
	/* Zero what was used. */
	for (uint32_t i = 0; i < m; i++)
		memset(h + (size_t)ord[i] * S, 0, S * sizeof(double));
	memset(h + (size_t)MISSING_BIN * S, 0, S * sizeof(double));
	return varies;
}

/* ---- node output ---- */

static int new_nodes(struct tree_builder *tb, uint32_t n, uint32_t *first)
{
	if (tb->nnodes > UINT32_MAX - n - 1)
		return -E2BIG;
	if (grow((void **)&tb->nodes, &tb->nodes_cap, tb->nnodes + n,
		 sizeof(struct fnode)))
		return -ENOMEM;
	*first = tb->nnodes;
	memset(tb->nodes + tb->nnodes, 0, n * sizeof(struct fnode));
	tb->nnodes += n;
	return 0;
}

static int make_leaf(struct tree_builder *tb, uint32_t id)
{
	struct fnode *nd = &tb->nodes[id];
	const double *T = tb->tot;
	nd->flags = NODE_LEAF;
	if (!tb->c.classify) {
		if (tb->nvals == UINT32_MAX)
			return -E2BIG;
		if (grow((void **)&tb->vals, &tb->vals_cap, tb->nvals + 1,
			 sizeof(double)))
			return -ENOMEM;
		nd->a = tb->nvals;
		tb->vals[tb->nvals++] = T[0] > 0 ? T[1] / T[0] : 0;
		return 0;
	}
	double w = weight_of(tb, T);
	if (tb->c.k == 2) {
		float p = (float)(w > 0 ? T[1] / w : 0);
		memcpy(&nd->a, &p, sizeof(p));
		return 0;
	}
	uint32_t nz = 0, only = 0;
	for (uint32_t c = 0; c < tb->c.k; c++)
		if (T[c] > 0) {
			nz++;
			only = c;
		}
	if (nz == 1) {
		nd->flags |= NODE_PURE;
		nd->a = only;
		return 0;
	}
	if (tb->nleafv > UINT32_MAX - tb->c.k)
		return -E2BIG;
	if (grow((void **)&tb->leafv, &tb->leafv_cap, tb->nleafv + tb->c.k,
		 sizeof(float)))
		return -ENOMEM;
	nd->a = tb->nleafv;
	for (uint32_t c = 0; c < tb->c.k; c++)
		tb->leafv[tb->nleafv + c] = (float)(w > 0 ? T[c] / w : 0);
	tb->nleafv += tb->c.k;
	return 0;
}

/* Does sample row go left under the best split? */
static inline bool goes_left(const struct tree_builder *tb, const uint8_t *lset,
			     uint32_t row)
{
	uint8_t b = tb->c.b->bins[(size_t)row * tb->nfeat + (uint32_t)tb->best.feat];
	if (b == MISSING_BIN)
		return tb->best.miss_left;
	return lset ? lset[b] : b <= tb->best.thr_bin;
}

static int make_split(struct tree_builder *tb, uint32_t id, uint32_t start,
		      uint32_t end, uint32_t *mid)
{
	const struct binned *b = tb->c.b;
	uint32_t f = (uint32_t)tb->best.feat;
	uint8_t lset[NBIN_SLOTS];
	bool cat = b->catbin[f] != NULL;
	uint32_t first;
	int rc;

	if ((rc = new_nodes(tb, 2, &first)))
		return rc;
	struct fnode *nd = &tb->nodes[id];
	nd->feat = (uint16_t)f;
	nd->flags = tb->best.miss_left ? NODE_MISS_LEFT : 0;
	if (cat) {
		memset(lset, 0, sizeof(lset));
		for (uint32_t i = 0; i < tb->best.nleft; i++)
			lset[tb->best.ord[i]] = 1;
		if (tb->ncats > UINT32_MAX - CAT_REC_WORDS)
			return -E2BIG;
		if (grow((void **)&tb->cats, &tb->cats_cap,
			 tb->ncats + CAT_REC_WORDS, sizeof(uint32_t)))
			return -ENOMEM;
		uint32_t *rec = tb->cats + tb->ncats;
		memset(rec, 0, CAT_REC_WORDS * sizeof(uint32_t));
		rec[0] = first;
		for (uint32_t bin = 0; bin < MAX_BINS; bin++)
			if (lset[bin])
				rec[1 + (bin >> 5)] |= 1u << (bin & 31);
		nd->flags |= NODE_CAT;
		nd->a = tb->ncats;
		tb->ncats += CAT_REC_WORDS;
	} else {
		nd->a = first;
		nd->bin = (uint8_t)(tb->best.thr_bin < b->nbins[f]
				    ? tb->best.thr_bin : MAX_BINS - 1);
	}
	/* Partition [start, end), summing each side's stats on the way (the
	 * children's node stats, without another pass). */
	const uint8_t *ls = cat ? lset : NULL;
	uint32_t i = start, j = end;
	memset(tb->cl, 0, tb->S * sizeof(double));
	memset(tb->cr, 0, tb->S * sizeof(double));
	const uint8_t *fb = b->bins + f;
	while (i < j) {
		if (i + PREFETCH < j)
			__builtin_prefetch(fb + (size_t)tb->s[i + PREFETCH].row * b->nfeat);
		if (j >= PREFETCH + 1 && j - PREFETCH > i)
			__builtin_prefetch(fb + (size_t)tb->s[j - PREFETCH].row * b->nfeat);
		if (goes_left(tb, ls, tb->s[i].row)) {
			stats_add(tb, tb->cl, &tb->s[i]);
			i++;
		} else {
			struct samp t = tb->s[i];
			stats_add(tb, tb->cr, &t);
			tb->s[i] = tb->s[--j];
			tb->s[j] = t;
		}
	}
	*mid = i;
	return 0;
}

void forest_tree_rng(uint64_t seed, uint32_t t, struct rng *r)
{
	rng_seed(r, seed, t);
}

void forest_bootstrap(struct rng *r, uint32_t nrows, uint32_t draws,
		      bool bootstrap, uint32_t *counts)
{
	if (!bootstrap) {
		for (uint32_t i = 0; i < nrows; i++)
			counts[i] = 1;
		return;
	}
	for (uint32_t d = 0; d < draws; d++)
		counts[rng_below(r, nrows)]++;
}

int tree_build(struct tree_builder *tb, const uint32_t *counts,
	       struct rng *r, struct tree *out, double *imp)
{
	const struct tree_ctx *c = &tb->c;
	const uint32_t nrows = c->b->nrows, nfeat = tb->nfeat;
	uint32_t fs[HIST_FEATS];
	size_t sp = 0;
	uint32_t n = 0, root;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(imp, 0, nfeat * sizeof(double));
	/* The feature draw permutes perm in place: start every tree from the
	 * same order, whatever this builder grew before. */
	for (uint32_t j = 0; j < nfeat; j++)
		tb->perm[j] = j;
	tb->nnodes = tb->nleafv = tb->nvals = tb->ncats = tb->depth = 0;
	for (uint32_t i = 0; i < nrows; i++) {
		if (!counts[i])
			continue;
		if (counts[i] > UINT16_MAX)
			return -E2BIG;	/* a row drawn 65536 times: never seen */
		struct samp *s = &tb->s[n++];
		s->row = i;
		s->cls = c->classify ? (uint16_t)c->cls[i] : 0;
		s->cnt = (uint16_t)counts[i];
	}
	if ((rc = new_nodes(tb, 1, &root)))
		return rc;
	node_stats(tb, 0, n);
	double root_w = weight_of(tb, tb->tot);
	if ((rc = push(tb, &sp, (struct stack_item){ 0, n, root, 0 }, tb->tot)))
		return rc;
	while (sp) {
		struct stack_item it = tb->stack[--sp];
		uint32_t nn = it.end - it.start;
		if (it.depth > tb->depth)
			tb->depth = it.depth;
		memcpy(tb->tot, tb->stack_stats + sp * tb->S, tb->S * sizeof(double));
		double W = weight_of(tb, tb->tot);
		double imp_node = impurity(tb, tb->tot);
		bool leaf = it.depth >= c->max_depth || nn < c->min_split ||
			    nn < 2 * c->min_leaf || imp_node <= DBL_EPSILON;
		tb->best.feat = -1;
		tb->best.score = -HUGE_VAL;
		if (!leaf) {
			/* Draw features until mtry non-constant ones were scored. */
			uint32_t need = c->mtry, next = 0;
			bool sparse = nn < SPARSE_NODE;
			while (need > 0 && next < nfeat) {
				uint32_t chunk = need < nfeat - next ? need : nfeat - next;
				if (chunk > tb->hist_feats)
					chunk = tb->hist_feats;
				for (uint32_t q = 0; q < chunk; q++) {
					uint32_t pos = next + q;
					uint32_t sw = pos + rng_below(r, nfeat - pos);
					uint32_t t = tb->perm[pos];
					tb->perm[pos] = tb->perm[sw];
					tb->perm[sw] = t;
					fs[q] = tb->perm[pos];
				}
				build_hist(tb, fs, chunk, it.start, it.end, sparse);
				for (uint32_t q = 0; q < chunk; q++)
					if (scan_feature(tb, q, fs[q], sparse))
						need--;
				next += chunk;
			}
			if (tb->best.feat < 0)
				leaf = true;
		}
		double impL = 0, impR = 0, wL = 0, wR = 0;
		if (!leaf) {
			for (uint32_t s = 0; s < tb->S; s++)
				tb->tmp[s] = tb->tot[s] - tb->best.left[s];
			impL = impurity(tb, tb->best.left);
			impR = impurity(tb, tb->tmp);
			wL = weight_of(tb, tb->best.left);
			wR = W - wL;
			double improvement = (W / root_w) *
				(imp_node - wL / W * impL - wR / W * impR);
			if (improvement + DBL_EPSILON < c->min_impurity_decrease)
				leaf = true;
		}
		if (leaf) {
			if ((rc = make_leaf(tb, it.node)))
				return rc;
			continue;
		}
		uint32_t mid;
		if ((rc = make_split(tb, it.node, it.start, it.end, &mid)))
			return rc;
		imp[tb->best.feat] += W * imp_node - wL * impL - wR * impR;
		uint32_t first = tb->nnodes - 2;	/* make_split's pair */
		if ((rc = push(tb, &sp, (struct stack_item){ mid, it.end,
					first + 1, it.depth + 1 }, tb->cr)) ||
		    (rc = push(tb, &sp, (struct stack_item){ it.start, mid,
					first, it.depth + 1 }, tb->cl)))
			return rc;
	}
	/* Hand over exact-size copies; the builder keeps its buffers. */
	out->nnodes = tb->nnodes;
	out->nleafv = tb->nleafv;
	out->nvals = tb->nvals;
	out->ncats = tb->ncats;
	out->depth = tb->depth;
	out->nodes = malloc(tb->nnodes * sizeof(struct fnode));
	out->leafv = malloc(tb->nleafv * sizeof(float) + 1);
	out->vals = malloc(tb->nvals * sizeof(double) + 1);
	out->cats = malloc(tb->ncats * sizeof(uint32_t) + 1);
	if (!out->nodes || !out->leafv || !out->vals || !out->cats) {
		tree_release(out);
		return -ENOMEM;
	}
	memcpy(out->nodes, tb->nodes, tb->nnodes * sizeof(struct fnode));
	if (tb->nleafv)
		memcpy(out->leafv, tb->leafv, tb->nleafv * sizeof(float));
	if (tb->nvals)
		memcpy(out->vals, tb->vals, tb->nvals * sizeof(double));
	if (tb->ncats)
		memcpy(out->cats, tb->cats, tb->ncats * sizeof(uint32_t));
	return 0;
}
