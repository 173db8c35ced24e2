/* expr.h - the feature expression language of pipeline.yaml.
 *
 *   total_spent: sum(amount)
 *   spent_30d: sum(amount) where order_date >= as_of - 30d
 *   avg_days_between_orders: days_since_last_order / total_orders
 *
 * A set of named features is compiled at once against the columns of the
 * source table: parsed, names resolved (inside an aggregate a name is a
 * column, outside it is another feature or as_of), ordered by dependency
 * (a cycle is an error) and typechecked.  Evaluation is per group: an
 * accumulator state per group is fed the rows, then finished into one
 * value per feature.
 *
 * Aggregates: count sum avg min max stddev (sample) count_distinct first
 * last (the first and last non-null value in row order); count(*) counts
 * rows.  Scalars: + - * /, comparisons, and or not,
 * abs log coalesce date() days_since(); literals: numbers, 'text', true,
 * false, null, durations 30d 12h 15m 10s 2w.
 * Nulls: aggregates skip them; an operator with a null operand gives null;
 * a where clause that is null excludes the row; division by zero and log
 * of a number <= 0 give null; count and sum of no values are 0, the other
 * aggregates of no values are null.
 * Errors carry "line L, column C: reason" from the feature's position.
 * A compiled program is immutable: many threads may evaluate it, each
 * with its own states. */
#ifndef MLFS_EXPR_H
#define MLFS_EXPR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "types.h"

#define EXPR_MAX_LEN 4096
#define EXPR_MAX_FEATURES 1024

/* A typed value.  Dates are days since 1970-01-01, timestamps micros,
 * bools 0/1 in i.  Strings are borrowed (see each function). */
struct xval {
	enum col_type t;	/* COL_NULL for null */
	union {
		int64_t i;
		double f;
	};
	const char *s;
	size_t len;
};

/* A feature to compile: NAME: TEXT, TEXT starting at LINE, COL of the
 * spec.  With EXACT_COLS false the error column is that of the start. */
struct expr_source {
	const char *name;
	const char *text;
	unsigned line, col;
	bool exact_cols;
};

/* The columns rows have. */
struct expr_schema {
	const char *const *names;
	const enum col_type *types;
	size_t n;
};

struct expr_prog;

/* Compile FEATS against SCHEMA.  AS_OF_TYPE is COL_DATE or COL_TIMESTAMP.
 * *OUT: free with expr_prog_free().  -EINVAL with the position of the
 * first problem, -ENOMEM. */
int expr_compile(const struct expr_source *feats, size_t n,
		 const struct expr_schema *schema, enum col_type as_of_type,
		 struct expr_prog **out, struct mlfs_err *err);
void expr_prog_free(struct expr_prog *p);

size_t expr_prog_nfeatures(const struct expr_prog *p);
const char *expr_prog_name(const struct expr_prog *p, size_t i);
/* The type of feature I's values (COL_NULL: only ever null). */
enum col_type expr_prog_type(const struct expr_prog *p, size_t i);
/* True when schema column I is read by some expression. */
bool expr_prog_uses_column(const struct expr_prog *p, size_t i);

/* Group states: STATE_SIZE bytes each, zeroed by init (a state is its
 * all-zero bytes: memory known to be zero, such as fresh pages, needs no
 * init), released by expr_state_free (for states holding sets and
 * strings). */
size_t expr_state_size(const struct expr_prog *p);
void expr_state_init(const struct expr_prog *p, void *state);
void expr_state_free(const struct expr_prog *p, void *state);

/* Feed one row: ROW[i] is schema column i (only used columns matter;
 * string bytes are copied where kept).  AS_OF as for finish. -ENOMEM. */
int expr_state_add(const struct expr_prog *p, void *state,
		   const struct xval *row, const struct xval *as_of);
/* Feed N <= EXPR_BATCH rows at once, column-major: COLS[c][r] is schema
 * column c of row r (only used columns are read), and row r belongs to
 * the state at STATES + GID[r] * SSIZE.  One loop per aggregate over the
 * rows (where clauses into a selection first): each group still sees its
 * rows in order, so the states are those N calls of expr_state_add would
 * leave.  ROW: scratch of as many values as the schema has columns.
 * -ENOMEM. */
#define EXPR_BATCH 256
int expr_state_add_batch(const struct expr_prog *p, char *states, size_t ssize,
			 const uint32_t *gid, const struct xval *const *cols,
			 size_t n, const struct xval *as_of, struct xval *row);
/* Compute every feature of one group into OUT[nfeatures]; strings in OUT
 * are borrowed from STATE. */
void expr_state_finish(const struct expr_prog *p, void *state,
		       const struct xval *as_of, struct xval *out);

/* Parse field text P[0..LEN) as type T into OUT (COL_NULL when empty or
 * unparsable; strings borrow P).  For feeding rows. */
void expr_value_from_text(enum col_type t, const char *p, size_t len,
			  struct xval *out);
/* Append V as CSV field text (unquoted; empty for null). */
int expr_value_text(const struct xval *v, struct buf *out);
/* The same text without a buffer: *P gets it (TMP, or V's own bytes for
 * a string), the length is returned (0 for null). */
size_t expr_value_fmt(const struct xval *v, char tmp[40], const char **p);

#endif
