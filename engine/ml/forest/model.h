/* model.h - what a trained forest is: the structs of the model (trees of
 * 8-byte nodes, features with their bins and categories, classes) and
 * model.c's helpers for the text of class names and numbers.  Private to
 * engine/ml/forest/ and its unit test, like forest_int.h, which includes it.
 *
 * A tree is a flat array of 8-byte nodes that test bin codes: a row is
 * binned once with the model's bin bounds (the same function training
 * used), then every tree compares bytes.  The root is node 0; a split's
 * children are adjacent (left, left + 1) and always come after it, so a
 * walk ends and a loaded model cannot loop.  A 100k-node tree is 800 KB:
 * it stays in a core's L2 while a batch of rows walks it. */
#ifndef MLFS_FOREST_MODEL_H
#define MLFS_FOREST_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "forest.h"

#define NODE_LEAF	0x1	/* a leaf */
#define NODE_CAT	0x2	/* categorical split: a is a category record */
#define NODE_MISS_LEFT	0x4	/* missing values go left */
#define NODE_PURE	0x8	/* multiclass leaf of one class: a = class */

#define MISSING_BIN	255	/* bin code of a missing value */
#define MAX_BINS	255	/* value bins 0..254 */
#define CAT_REC_WORDS	9	/* category record: left child, 256-bit set */

/* Node payload `a`:
 *   numeric split      left child; bins <= `bin` go left
 *   categorical split  offset of its record in tree.cats: {left child,
 *                      8 words of bits, bit b set = bin b goes left}
 *   leaf, binary       float bits of P(class 1)
 *   leaf, regression   index of its value in tree.vals
 *   leaf, multiclass   class (PURE) or offset of k floats in tree.leafv */
struct fnode {
	uint32_t a;
	uint16_t feat;
	uint8_t bin;
	uint8_t flags;
};

struct tree {
	struct fnode *nodes;
	uint32_t nnodes;
	float *leafv;		/* multiclass leaves, k floats each */
	uint32_t nleafv;
	double *vals;		/* regression leaf values */
	uint32_t nvals;
	uint32_t *cats;		/* categorical split records */
	uint32_t ncats;		/* words */
	uint32_t depth;
};

struct feature {
	char *name;
	enum frame_kind kind;
	enum col_type type;
	uint32_t ncats;		/* categorical: sorted by bytes */
	char **cats;
	uint32_t *catlen;
	uint8_t *catbin;	/* categorical: bin of each category */
	uint16_t nbins;		/* numeric: bins; ub[nbins - 1] is +inf */
	double *ub;		/* numeric: upper bound of each bin */
};

/* One tree in the prediction layout (layout.c): its nodes renumbered,
 * numeric splits' bins holding the missing direction (layout_next()),
 * leaves as in the tree (same payloads: the tree's vals and leafv). */
struct layout_tree {
	const struct fnode *nodes;
	const uint32_t *cats;	/* the tree's records, children renumbered */
};

struct layout {
	void *block;			/* everything below, one allocation */
	struct layout_tree *trees;	/* ntrees */
	uint32_t ntrees;
	size_t bytes;			/* used in block */
};

struct forest {
	struct forest_params params;
	bool classify;
	char *label;
	enum col_type label_type;
	uint32_t k;		/* classes; 0 for a regressor */
	char **classes;
	uint32_t nfeat;
	struct feature *feats;
	uint32_t ntrees;
	struct tree *trees;
	double *importances;	/* nfeat */
	bool has_oob;
	double oob_score;
	uint64_t train_rows;
	struct layout *layout;	/* for batch prediction: made by
				 * forest_layout_build() at fit and load */
};

/* Class name of a numeric label value: "false"/"true" for bools, else the
 * number (integers without ".0").  OUT holds 40 bytes. */
void forest_number_class_name(enum col_type t, double v, char *out);

/* Number-to-text the way feature lookups and class names need it: integers
 * without ".0". */
int forest_fmt_number(char *out, double v);

#endif
