/* forest_int.h - the forest's insides shared by engine/ml/forest/ files
 * and the unit tests: random streams, threads, binning, tree growing,
 * prediction and the prediction layout.  What a model is (its structs)
 * is model.h.  Not a public interface. */
#ifndef MLFS_FOREST_INT_H
#define MLFS_FOREST_INT_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "model.h"
#include "par.h"

/* ---- random numbers (header-only) ---- */

/* xoshiro256** seeded with splitmix64 of (seed, stream). */
struct rng {
	uint64_t s[4];
};

static inline uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline void rng_seed(struct rng *r, uint64_t seed, uint64_t stream)
{
	uint64_t x = seed ^ (stream * 0xd1342543de82ef95ull + 0x2545f4914f6cdd1dull);
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

static inline uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t x = s[1] * 5;
	uint64_t out = ((x << 7) | (x >> 57)) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = (s[3] << 45) | (s[3] >> 19);
	return out;
}

/* Uniform in [0, n), n > 0 (Lemire's method, unbiased). */
static inline uint32_t rng_below(struct rng *r, uint32_t n)
{
	uint64_t m = (uint64_t)(uint32_t)rng_next(r) * n;
	uint32_t lo = (uint32_t)m;
	if (lo < n) {
		uint32_t t = (uint32_t)(-n) % n;
		while (lo < t) {
			m = (uint64_t)(uint32_t)rng_next(r) * n;
			lo = (uint32_t)m;
		}
	}
	return (uint32_t)(m >> 32);
}

/* ---- threads (header-only) ---- */

/* Work goes to the shared pool (par.h) as slots: par_for over the slots,
 * each slot taking units (trees, row blocks, features) from an atomic
 * counter until none are left, so the work is done whatever the slots.
 * The slots: the pool's threads, at most REQUESTED (n_jobs; 0: no cap)
 * and at most UNITS; at least 1. */
static inline unsigned forest_slots(unsigned requested, size_t units)
{
	unsigned n = (unsigned)par_threads(par_default());
	if (requested && requested < n)
		n = requested;
	if (units < n)
		n = units ? (unsigned)units : 1;
	return n;
}

/* ---- binning.c ---- */

/* The training matrix: every feature binned, row-major (rows x nfeat bytes),
 * MISSING_BIN for a missing value. */
struct binned {
	uint32_t nrows, nfeat;
	uint8_t *bins;
	uint16_t *nbins;	/* value bins per feature (<= MAX_BINS) */
	double **ub;		/* numeric: upper bound of each bin (last +inf) */
	uint8_t **catbin;	/* categorical: bin of each model category;
				 * NULL for a numeric feature */
	uint32_t *ncats;	/* categorical: model categories */
};

/* Bin the features of F: FEATCOL[j] is the frame column of model feature j
 * (M->feats describes them; categorical features' sorted dictionaries must
 * be set, with CATMAP[j][frame code] = model category).  N_THREADS splits
 * the work by feature; the result does not depend on it. */
int binning_build(const struct forest *m, const struct frame *f,
		  const int *featcol, int32_t *const *catmap, uint32_t max_bins,
		  unsigned n_threads, struct binned *out, struct mlfs_err *err);
void binning_free(struct binned *b);

/* ---- tree.c ---- */

struct tree_ctx {
	const struct binned *b;
	bool classify;
	uint32_t k;
	const int32_t *cls;	/* classify: class of each row */
	const double *y;	/* regress: target of each row */
	const double *class_w;	/* classify: weight of each class */
	enum forest_criterion crit;
	uint32_t max_depth;	/* UINT32_MAX when unlimited */
	uint32_t min_split, min_leaf;
	double min_impurity_decrease;
	double root_weight;	/* set per tree by tree_build */
	uint32_t mtry;
};

struct tree_builder;

struct tree_builder *tree_builder_new(const struct tree_ctx *c);
void tree_builder_free(struct tree_builder *tb);
/* Grow one tree on the rows with COUNTS[row] > 0 (bootstrap multiplicity),
 * drawing from R.  The tree goes to OUT (tree_release() frees it); IMP
 * (nfeat) gets the tree's unnormalised impurity decrease per feature. */
int tree_build(struct tree_builder *tb, const uint32_t *counts,
	       struct rng *r, struct tree *out, double *imp);
void tree_release(struct tree *t);
/* Node impurity from its stats: class weights (K of them) for a classifier
 * (gini or entropy in bits), or {w, sum w*y, sum w*y*y} for a regressor
 * (the weighted variance). */
double tree_impurity(bool classify, uint32_t k, enum forest_criterion crit,
		     const double *stats);

/* Bootstrap multiplicities of tree T (COUNTS zeroed by the caller, nrows
 * long): DRAWS uniform draws with the tree's stream, or all ones without
 * bootstrap.  The same function serves fitting and the OOB reference. */
void forest_tree_rng(uint64_t seed, uint32_t t, struct rng *r);
void forest_bootstrap(struct rng *r, uint32_t nrows, uint32_t draws,
		      bool bootstrap, uint32_t *counts);

/* ---- predict.c ---- */

/* First b with x <= ub[b] (ub[nb - 1] is +inf), MISSING_BIN for NaN: a
 * branch-free binary search (the comparisons are unpredictable). */
static inline uint8_t bin_of(const double *ub, uint32_t nb, double x)
{
	if (x != x)
		return MISSING_BIN;
	const double *base = ub;
	uint32_t n = nb;
	while (n > 1) {
		uint32_t half = n / 2;
		/* Arithmetic, not ?:, so the compiler keeps it branch-free. */
		base += (size_t)half & -(size_t)(base[half - 1] < x);
		n -= half;
	}
	return (uint8_t)(base - ub);
}

/* The child categorical split N (record REC) sends bin code XB to. */
static inline uint32_t cat_next(const struct fnode *n, const uint32_t *rec,
				uint8_t xb)
{
	uint32_t right = xb == MISSING_BIN ? !(n->flags & NODE_MISS_LEFT)
			 : !((rec[1 + (xb >> 5)] >> (xb & 31)) & 1);
	return rec[0] + right;
}

/* The node after split N for bin code XB. */
static inline uint32_t node_next(const struct tree *t, const struct fnode *n,
				 uint8_t xb)
{
	if (n->flags & NODE_CAT)
		return cat_next(n, t->cats + n->a, xb);
	uint32_t right = xb == MISSING_BIN ? !(n->flags & NODE_MISS_LEFT)
			 : xb > n->bin;
	return n->a + right;
}

/* The left child of split N of tree T. */
static inline uint32_t node_left(const struct tree *t, const struct fnode *n)
{
	return n->flags & NODE_CAT ? t->cats[n->a] : n->a;
}

/* ---- layout.c ---- */

/* The top of each layout tree is breadth-first up to this many nodes
 * (32 KB: it stays in L1 next to a block of binned rows), which holds at
 * least LAYOUT_TOP_LEVELS full levels (2^12 - 1 nodes). */
#define LAYOUT_TOP_NODES 4096u
#define LAYOUT_TOP_LEVELS 12u

/* Build M->layout from M's trees (0 or -ENOMEM); freed by forest_free(). */
int forest_layout_build(struct forest *m);
void forest_layout_free(struct layout *l);

/* One step of a walk in layout tree T: the node after node CUR for the
 * binned row XB, or CUR itself when it is a leaf.  No branch on the data
 * for numeric splits: a numeric split's bin is bin + 1 when missing values
 * go left, and the row's code gets the same + 1, so MISSING_BIN wraps to 0
 * (left) and every other code compares as before; without it MISSING_BIN
 * is above every bin (right). */
static inline uint32_t layout_next(const struct layout_tree *t, uint32_t cur,
				   const uint8_t *xb)
{
	const struct fnode *n = t->nodes + cur;
	uint8_t v = xb[n->feat];
	uint32_t next;
	if (n->flags & NODE_CAT) {
		next = cat_next(n, t->cats + n->a, v);
	} else {
		uint8_t add = (n->flags & NODE_MISS_LEFT) != 0;
		next = n->a + ((uint8_t)(v + add) > n->bin);
	}
	/* A mask, not ?:, so that the compiler does not branch. */
	uint32_t stay = -(uint32_t)(n->flags & NODE_LEAF);
	return (cur & stay) | (next & ~stay);
}

/* Leaf of tree T reached by binned row XB (model feature order). */
static inline const struct fnode *tree_leaf(const struct tree *t,
					    const uint8_t *xb)
{
	const struct fnode *n = t->nodes;
	while (!(n->flags & NODE_LEAF))
		n = t->nodes + node_next(t, n, xb[n->feat]);
	return n;
}

static inline float leaf_float(const struct fnode *leaf)
{
	float f;
	memcpy(&f, &leaf->a, sizeof(f));
	return f;
}

/* Add leaf N of tree T to ACC (k doubles, or 1). */
static inline void leaf_add(const struct forest *m, const struct tree *t,
			    const struct fnode *leaf, double *acc)
{
	if (!m->classify) {
		acc[0] += t->vals[leaf->a];
	} else if (m->k == 2) {
		double p = leaf_float(leaf);
		acc[0] += 1.0 - p;
		acc[1] += p;
	} else if (leaf->flags & NODE_PURE) {
		acc[leaf->a] += 1.0;
	} else {
		const float *v = t->leafv + leaf->a;
		for (uint32_t c = 0; c < m->k; c++)
			acc[c] += v[c];
	}
}

/* Add tree T's prediction for binned row XB to ACC. */
static inline void tree_accumulate(const struct forest *m,
				   const struct tree *t, const uint8_t *xb,
				   double *acc)
{
	leaf_add(m, t, tree_leaf(t, xb), acc);
}

/* How one model feature is read from a frame. */
enum pm_mode {
	PM_ABSENT,	/* no such column: missing */
	PM_NUM,		/* numeric feature, numeric column */
	PM_CODES,	/* text column: the bin of each frame code is known */
	PM_NUM_CAT,	/* categorical feature, numeric column: match as text */
};

struct pm_feat {
	enum pm_mode mode;
	const double *num;	/* PM_NUM, PM_NUM_CAT */
	const int32_t *codes;	/* PM_CODES */
	uint8_t *code_bin;	/* PM_CODES: bin of each frame code */
};

/* Model-order view of a frame's rows; valid while the frame is unchanged. */
struct predict_map {
	const struct forest *m;
	size_t nrows;
	struct pm_feat *f;	/* m->nfeat */
};

int predict_map_build(const struct forest *m, const struct frame *f,
		      struct predict_map *pm, struct mlfs_err *err);
void predict_map_free(struct predict_map *pm);
/* Fill XB (nfeat bytes) with the bins of row I. */
void predict_map_row(const struct predict_map *pm, size_t i, uint8_t *xb);

#endif
