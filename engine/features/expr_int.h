/* expr_int.h - what the parts of the expression compiler and evaluator
 * share: the tree, the program and the compile context.  expr_parse.c
 * makes trees from text, expr_resolve.c gives them names and types and
 * compiles the program, expr.c runs it.  Private to engine/features. */
#ifndef MLFS_EXPR_INT_H
#define MLFS_EXPR_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "expr.h"
#include "types.h"

#define COL_DURATION ((enum col_type)100)	/* internal: micros */
#define DAY_US 86400000000LL

enum xop {
	X_LIT, X_IDENT, X_COL, X_FEAT, X_ASOF, X_AGG, X_CALL, X_NEG, X_NOT,
	X_BIN,
};

enum xbin {
	B_ADD, B_SUB, B_MUL, B_DIV, B_EQ, B_NE, B_LT, B_LE, B_GT, B_GE,
	B_AND, B_OR,
};

enum xfn {
	F_COUNT, F_SUM, F_AVG, F_MIN, F_MAX, F_STDDEV, F_COUNT_DISTINCT,
	F_FIRST, F_LAST,
	F_ABS, F_LOG, F_COALESCE, F_DATE, F_DAYS_SINCE,
};

struct xnode {
	enum xop op;
	int sub;		/* enum xbin or enum xfn */
	enum col_type type;
	unsigned pos;		/* byte offset in the expression */
	struct xval lit;	/* X_LIT value; X_IDENT name in lit.s (owned) */
	int idx;		/* column, feature or aggregate slot */
	bool star;		/* count(*) */
	struct xnode **args;
	size_t nargs;
};

/* An aggregate slot: its state lives at OFF in a group state. */
struct agg {
	enum xfn fn;
	enum col_type argt;
	struct xnode *arg;	/* NULL for count(*) */
	struct xnode *where;	/* the feature's where clause, or NULL */
	size_t off;
};

struct feat {
	char *name;
	char *text;
	unsigned line, col;
	bool exact;
	struct xnode *root, *where;
	enum col_type type;
	int state;		/* toposort: 0 new, 1 visiting, 2 done */
};

struct expr_prog {
	struct feat *feats;
	size_t nfeats;
	size_t *order;		/* evaluation order */
	size_t norder;
	struct agg *aggs;
	size_t naggs, capaggs;
	size_t state_size;
	bool *uses;
	size_t ncols;
	const struct expr_schema *schema;	/* during compile only */
	enum col_type as_of_type;
	struct xnode **nodes;	/* every node, for freeing */
	size_t nnodes, capnodes;
};

/* The function names, aggregates and scalars (expr_parse.c). */
struct expr_fn {
	const char *name;
	enum xfn fn;
	bool agg;
};
extern const struct expr_fn expr_fns[];
/* The name of function FN (its first spelling in expr_fns: an alias
 * such as mean is listed after avg, which the table's index by FN would
 * not give). */
const char *expr_fn_name(int fn);

/* The state of compiling one program: the feature at hand and, while
 * parsing it, the lexer's position. */
struct cctx {
	struct expr_prog *p;
	struct feat *f;
	const char *text;
	size_t len, at;		/* lexer position */
	int depth;
	struct mlfs_err *err;
};

/* Fail with -EINVAL and "line L, column C: feature 'NAME': ..." for the
 * byte offset POS of the feature at hand (expr_parse.c). */
int expr_fail(struct cctx *c, unsigned pos, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Parse the text of c->f (c->text, c->len) into c->f->root and
 * c->f->where; the nodes belong to c->p.  -EINVAL, -ENOMEM. */
int expr_parse_feature(struct cctx *c);

/* The bytes of aggregate A's slot in a group state (expr.c). */
size_t expr_agg_size(const struct agg *a);

static inline bool expr_is_time(enum col_type t)
{
	return t == COL_DATE || t == COL_TIMESTAMP;
}

#endif
