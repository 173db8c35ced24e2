/* frame.h - a typed in-memory table of columns: the one input type of the
 * model engine.
 *
 * A frame comes from a CSV file or buffer (header, type inference, nulls),
 * from a feature-store training set, or from a predict request; columns are
 * added by name and filled by appending values.  Two kinds of column:
 *   numeric      doubles; NaN is null.  Ints, floats, bools (0/1), dates
 *                (days since 1970-01-01) and timestamps (seconds) live here;
 *                the column remembers which type it came from.
 *   categorical  strings, dictionary-encoded: codes 0..ncats-1 in order of
 *                first appearance, -1 is null.
 * A frame is not thread-safe to modify; concurrent readers are fine. */
#ifndef MLFS_FRAME_H
#define MLFS_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "types.h"

enum frame_kind {
	FRAME_NUMERIC = 0,
	FRAME_CATEGORICAL,
};

struct frame;

/* An empty frame (no columns, no rows).  NULL on out-of-memory.  Free with
 * frame_free(). */
struct frame *frame_new(void);
/* Release F and everything it holds.  NULL is a no-op. */
void frame_free(struct frame *f);

/* Add a column called NAME (copied; 1..1024 bytes, unique in F) of KIND.
 * TYPE is the source type to remember (COL_FLOAT, COL_INT, COL_BOOL,
 * COL_DATE, COL_TIMESTAMP for numeric columns, COL_STRING for categorical;
 * COL_NULL picks the kind's default).  Returns the new column's index (>= 0)
 * or -EINVAL (bad or duplicate name, type not fitting the kind), -ENOMEM. */
int frame_add_column(struct frame *f, const char *name, enum frame_kind kind,
		     enum col_type type, struct mlfs_err *err);
/* Pre-allocate room for NROWS values in every column (a hint). */
int frame_reserve(struct frame *f, size_t nrows);

/* Append one value to the end of column COL.
 * frame_append_number: numeric columns only; NaN appends a null.
 * frame_append_text: S[0..LEN) is copied.  For a categorical column it is
 *   looked up in (or added to) the dictionary; for a numeric column it is
 *   parsed as a number of any type (int, float, bool, date, timestamp) and a
 *   text that is none of these is -EINVAL with a message.  S == NULL or
 *   LEN == 0 appends a null.
 * frame_append_null: a null in any column.
 * All return 0, -EINVAL (wrong kind, bad text, COL out of range) or -ENOMEM. */
int frame_append_number(struct frame *f, size_t col, double v,
			struct mlfs_err *err);
int frame_append_text(struct frame *f, size_t col, const char *s, size_t len,
		      struct mlfs_err *err);
/* V[0..N) appended to numeric column COL at once, as N calls of
 * frame_append_number would (0, -EINVAL, -ENOMEM; nothing appended on
 * error). */
int frame_append_numbers(struct frame *f, size_t col, const double *v, size_t n,
			 struct mlfs_err *err);
/* N values added to the end of numeric column COL, left for the caller to
 * write: *OUT their first, valid until the next append to F.  Threads may
 * write disjoint ranges of them (and of other columns' extents) at once;
 * every one must be written before F is read.  0, -EINVAL, -ENOMEM. */
int frame_extend_numbers(struct frame *f, size_t col, size_t n, double **out,
			 struct mlfs_err *err);
int frame_append_null(struct frame *f, size_t col, struct mlfs_err *err);

/* Rows of the first column (0 without columns); see frame_check(). */
size_t frame_nrows(const struct frame *f);
size_t frame_ncols(const struct frame *f);
/* 0 when every column has frame_nrows() values, else -EINVAL naming the
 * first ragged column. */
int frame_check(const struct frame *f, struct mlfs_err *err);

/* Index of the column called NAME, or -ENOENT. */
int frame_col_index(const struct frame *f, const char *name);
/* Column properties; COL must be < frame_ncols().  The name is valid as
 * long as F is. */
const char *frame_col_name(const struct frame *f, size_t col);
enum frame_kind frame_col_kind(const struct frame *f, size_t col);
enum col_type frame_col_type(const struct frame *f, size_t col);
size_t frame_col_len(const struct frame *f, size_t col);
/* The values of a numeric column (NULL for a categorical one); valid until
 * the next append to F. */
const double *frame_col_numbers(const struct frame *f, size_t col);
/* The codes of a categorical column (NULL for a numeric one), -1 = null;
 * valid until the next append to F. */
const int32_t *frame_col_codes(const struct frame *f, size_t col);
/* Dictionary of a categorical column: its size, the text of CODE (length in
 * *LEN when LEN != NULL; NUL-terminated; valid as long as F is), and the
 * code of a text (-ENOENT when absent). */
size_t frame_col_ncats(const struct frame *f, size_t col);
const char *frame_col_category(const struct frame *f, size_t col,
			       int32_t code, size_t *len);
int32_t frame_col_find(const struct frame *f, size_t col, const char *s,
		       size_t len);

/* CSV loading.  The first record is the header.  Each column's type is the
 * narrowest that holds all its non-empty fields (types.h value_infer and
 * col_type_widen); an empty field is null; a column with only nulls is
 * numeric.  String columns become categorical, the others numeric.
 * OPTS may be NULL. */
struct frame_csv_opts {
	/* Columns to keep categorical whatever they hold (e.g. the model's
	 * categorical features at predict time); names, NTEXT of them. */
	const char *const *text_cols;
	size_t ntext;
};

/* Load the CSV file at PATH, streaming it twice (types, then values): memory
 * is the frame plus one buffer.  On success *OUT is a new frame (caller
 * frees).  Errors: -ENOENT/-EACCES/... opening PATH, -EINVAL for bad CSV,
 * an empty file (no header), a duplicate or empty column name, a record
 * with a different field count (message says "line N"), -EFBIG for a
 * record over 1 MiB, -ENOMEM. */
int frame_load_csv(const char *path, const struct frame_csv_opts *opts,
		   struct frame **out, struct mlfs_err *err);
/* The same from DATA[0..LEN) in memory (DATA need not be NUL-terminated). */
int frame_load_csv_buf(const char *data, size_t len,
		       const struct frame_csv_opts *opts, struct frame **out,
		       struct mlfs_err *err);

#endif
