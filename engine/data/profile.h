/* profile.h - a compact profile of a set of rows, column by column: counts,
 * nulls, moments and a quantile sample of numeric columns, the counts of
 * each value of categorical ones.  The baseline drift monitors compare
 * with (training writes one into a model's folder as model/profile); its
 * bytes are a msgpack map (docs/store-format.md, "model/profile").
 *
 * Built row by row with a profile_builder, or from a frame in one call.
 * A finished struct profile is plain data: read it from any number of
 * threads; a builder is not thread-safe. */
#ifndef MLFS_PROFILE_H
#define MLFS_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "frame.h"

/* Quantile points kept per numeric column. */
#define PROFILE_SAMPLE 16384

enum profile_kind {
	PROFILE_NUMERIC,
	PROFILE_CATEGORICAL,
};

/* Invariants (profile_decode checks them all): count + nulls == rows of
 * the profile; a numeric column has nsample == min(count, PROFILE_SAMPLE)
 * values, sorted ascending, none NaN, and no cats; a categorical one has
 * ncats distinct non-empty values, strictly ascending by strcmp, their
 * cat_counts (each >= 1) summing to count, and no sample. */
struct profile_col {
	char *name;
	enum profile_kind kind;
	uint64_t count, nulls;		/* non-null values; nulls (NaN / missing) */
	/* Numeric only (NaN when count is 0); std is the population standard
	 * deviation (numpy's np.std, ddof 0). */
	double mean, std, min, max;
	/* Numeric: sorted ascending; every value when count <= PROFILE_SAMPLE,
	 * else sample[i] is the value at rank floor((i + 0.5) * count /
	 * PROFILE_SAMPLE) (0-based) of the sorted values, i < PROFILE_SAMPLE. */
	double *sample;
	size_t nsample;
	/* Categorical: distinct values sorted by bytes (strcmp), and how many
	 * rows hold each. */
	char **cats;
	uint64_t *cat_counts;
	size_t ncats;
};

struct profile {
	uint64_t rows;
	size_t ncols;
	struct profile_col *cols;	/* in the order they were added */
};

struct profile_builder;

/* An empty builder (no columns, no rows).  Out of memory aborts
 * (mlfs_oom), so it never returns NULL.  Free with profile_builder_free()
 * or hand it to profile_builder_finish(). */
struct profile_builder *profile_builder_new(void);
/* Add a column NAME (copied) of KIND.  Returns its index (0, 1, ...) or
 * -EINVAL for an empty or duplicate name or an unknown kind.  A column
 * added after rows counts those rows as nulls. */
int profile_builder_column(struct profile_builder *b, const char *name,
			   enum profile_kind kind);
/* One value of column COL for the current row.  At most one value per
 * column and row counts: a second one is ignored, and so is a COL out of
 * range.
 * profile_builder_number: NaN is a null.  For a categorical column the
 *   number is the text buf_fmt_double prints ("1.0").
 * profile_builder_text: S[0..LEN); S NULL or LEN 0 is a null (as in a
 *   frame).  A numeric column parses the text as frame_append_text does
 *   (int, float, bool 0/1, date in days, timestamp in seconds, "nan");
 *   unparsable text is a null.  A categorical column keeps the bytes up to
 *   the first NUL. */
void profile_builder_number(struct profile_builder *b, size_t col, double v);
void profile_builder_text(struct profile_builder *b, size_t col,
			  const char *s, size_t len);
/* End the current row (after its values): columns without a value in it
 * count a null. */
void profile_builder_row(struct profile_builder *b);
/* Sort, sample and count: the profile of what was added (the caller frees
 * it with profile_free()).  Frees B.  Never NULL (out of memory aborts). */
struct profile *profile_builder_finish(struct profile_builder *b);
/* Add the rows of SRC (built with the same columns, in the same order,
 * between rows) to DST and free SRC: DST then profiles its rows and
 * SRC's, in any order (a profile does not depend on the rows' order),
 * e.g. partial builders of chunk ranges scanned on several threads. */
void profile_builder_merge(struct profile_builder *dst, struct profile_builder *src);
/* Discard an unfinished builder.  NULL is a no-op. */
void profile_builder_free(struct profile_builder *b);

/* The profile of frame F's rows i where KEEP[i] (KEEP NULL: all rows), a
 * column per frame column in frame order: numeric frame columns numeric
 * (their numbers: dates in days, timestamps in seconds, bools 0/1),
 * categorical ones categorical (their texts).  Caller frees. */
struct profile *profile_from_frame(const struct frame *f, const bool *keep);

/* Append P's msgpack encoding to OUT. */
void profile_encode(const struct profile *p, struct buf *out);
/* Read an encoding from DATA[0..LEN) into a new *OUT (caller frees with
 * profile_free()).  Every field and invariant above is checked: anything
 * else (truncated, foreign or corrupted bytes) is -EINVAL "damaged
 * profile: ..." in ERR (may be NULL), never a crash; a format version
 * newer than this reader's is -ENOTSUP (as forest_load does).  DATA is
 * not kept. */
int profile_decode(const char *data, size_t len, struct profile **out,
		   struct mlfs_err *err);
/* The column called NAME, or NULL.  Valid as long as P is. */
const struct profile_col *profile_find(const struct profile *p,
				       const char *name);
/* Release P and everything it holds.  NULL is a no-op. */
void profile_free(struct profile *p);

#endif
