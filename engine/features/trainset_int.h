/* trainset_int.h - the in-memory side of trainset.c's joins
 * (trainset_index.c).  Private to engine/features. */
#ifndef MLFS_TRAINSET_INT_H
#define MLFS_TRAINSET_INT_H

#include <stddef.h>

#include "err.h"
#include "features.h"
#include "store.h"
#include "frame.h"
#include "table.h"

/* Labels tables with at least this many rows join by one scan of each
 * feature table (ts_index) rather than a point read a row. */
#define TRAINSET_BULK_ROWS 20000
/* An index holds at most this many segments (key ranges, pool threads). */
#define TS_MAX_SEGS 64

struct ts_index;
struct fmeta;

/* The latest row of every key of feature table TABLE (schema SC, which
 * must outlive the index), read from its stored rows: columns COLS[0..N)
 * of SC kept (numbers as numbers), the others dropped.  -EFBIG past 4 GiB
 * of text in one key range. */
int ts_index_build(struct store *s, const char *table,
		   const struct features_schema *sc, const uint32_t *cols, size_t n,
		   struct ts_index **out, struct mlfs_err *err);
void ts_index_free(struct ts_index *ix);
/* The row of the key in IX, or -1.  Read-only: many threads may ask. */
long ts_index_find(const struct ts_index *ix, const char *const *keys,
		   const size_t *lens);
/* True when IX's one key column holds canonical ints only: then
 * ts_index_find_int finds the row of integer key V (or -1). */
bool ts_index_int_keys(const struct ts_index *ix);
long ts_index_find_int(const struct ts_index *ix, int64_t v);
/* Append columns FCOL[0..NF) of rows ROWS[0..N) of IX (-1: no row,
 * nulls) to columns FIRST.. of F, as frame_append_text of their text
 * would: row by row in each column. */
int ts_index_append_rows(const struct ts_index *ix, const long *rows, size_t n,
			 const uint32_t *fcol, size_t nf, struct frame *f, size_t first,
			 struct mlfs_err *err);

/* ---- building an index (trainset_rows.c) ---- */

struct ts_ref {
	uint32_t off, len;	/* into a segment's text; len NULL_LEN: null */
};

/* Where a stored row's fields go: per meta column, its cell slot and key
 * index (-1: none). */
struct ts_layout {
	uint32_t ncols;		/* meta columns */
	int *slot, *key;
	uint32_t width;		/* cells a row */
	bool *number;		/* per slot: numeric (a double), else text */
	uint32_t nkeys;
	size_t rows_hint;	/* the table's rows, as last counted */
};

/* The rows of one key range.  A numeric cell is a double (NaN null, or a
 * ts_cell_exception: the text that reads as no number); a text cell a
 * struct ts_ref. */
struct ts_seg {
	uint64_t *cells;	/* nrows x width (mmap'd) */
	uint32_t width;
	struct ts_ref *keys;	/* nrows x nkeys */
	int64_t *ikey;		/* nrows: the key as an int, while all_int */
	bool all_int;
	size_t nrows, cap;
	struct buf text;
	struct ts_ref *exc;
	size_t nexc, excap;
	int rc;
	struct mlfs_err err;
};

/* Read the stored rows with keys in [LO, HI) into G.  Many threads may
 * read ranges of one snapshot at once. */
int ts_rows_read(struct store *s, const struct store_snapshot *snap,
		 const struct ts_layout *lay, const struct buf *lo, const struct buf *hi,
		 struct ts_seg *g, struct mlfs_err *err);
/* Call FN with the fields of every stored row with keys in [LO, HI)
 * (NCOLS meta columns; NULL_LEN for a null or absent field), decoded in
 * place.  Many threads may read ranges of one snapshot at once. */
typedef int (*ts_row_fn)(void *ctx, const char *const *p, const size_t *len,
			 struct mlfs_err *err);
int ts_rows_each(struct store *s, const struct store_snapshot *snap, uint32_t ncols,
		 const struct buf *lo, const struct buf *hi, ts_row_fn fn, void *ctx,
		 struct mlfs_err *err);
/* The number frame_append_text reads from text S[0..LEN) in a numeric
 * column; false when it reads none. */
bool ts_frame_number(const char *s, size_t len, double *v);
/* Room in G for N more rows. */
void ts_seg_reserve(struct ts_seg *g, const struct ts_layout *lay, size_t n);
/* Key field K of row ROW of G from its text P[0..LEN) (NULL_LEN or empty:
 * null); and a cell (slot SLOT of a row) from its text, as seg_add does. */
void ts_seg_key(struct ts_seg *g, const struct ts_layout *lay, size_t row, int k,
		const char *p, size_t len);
void ts_seg_cell(struct ts_seg *g, const struct ts_layout *lay, uint64_t *cell,
		 const char *p, size_t len, int slot);
/* -EFBIG when G's text is too large to index. */
int ts_seg_text_fits(const struct ts_seg *g, struct mlfs_err *err);

/* Not a number to frame.c: a signalling NaN no parse gives, its low 48
 * bits the index of the field's text in the segment's exceptions. */
#define TS_EXC_TAG 0x7ff4000000000000ULL
#define TS_EXC_MASK 0xffff000000000000ULL

void ts_seg_free(struct ts_seg *g);
/* Is cell BITS an exception; *I its index. */
static inline bool ts_cell_exception(uint64_t bits, size_t *i)
{
	if ((bits & TS_EXC_MASK) != TS_EXC_TAG)
		return false;
	*i = (size_t)(bits & ~TS_EXC_MASK);
	return true;
}
/* P[0..LEN) is an int as "%lld" prints it: *V. */
bool ts_canonical_int(const char *p, size_t len, int64_t *v);

/* ---- the columnar form of a feature table version (trainset_form.c) ---- */

/* Feature tables with at least this many bytes of fields (meta fbytes)
 * are read through their form (1 MiB; tests set it). */
extern size_t trainset_form_min_bytes;
/* Tests: stop a build after this many chunks, as a crash would (0: never). */
extern unsigned trainset_form_test_stop_after;
/* Tests: builds of a form, and forms read. */
extern unsigned long trainset_form_test_builds, trainset_form_test_reads;

/* The latest rows of feature table NAME, version M (read in SNAP), into
 * SEG[0..*NSEG) through the version's form, built first from the rows
 * of SNAP in key ranges BOUND[0..NRANGE] when there is none and M is
 * still the current version.  False: not read (small table, no form,
 * a form dropped meanwhile); SEG untouched, read the rows. */
bool ts_form_read(struct store *s, const char *name, const struct store_snapshot *snap,
		  const struct fmeta *m, const struct ts_layout *lay, const struct buf *bound,
		  size_t nrange, struct ts_seg *seg, size_t *nseg);

/* One lookup of a training set being built. */
struct lk {
	struct features_lookup *l;
	struct ts_index *ix;	/* the bulk join, or NULL */
	const struct features_schema *sc;
	int keycol[16];		/* labels column of each key */
	int tscol;		/* labels column of the time, -1 */
	size_t n;		/* feature columns taken */
	uint32_t *fcol;		/* their index in the feature table */
	size_t first;		/* their first frame column */
};

/* A training set being built: the labels table's columns, its frame. */
struct ts_ctx {
	struct frame *f;
	char **names;
	enum col_type *types;
	uint32_t ncols;
	int *frame_col;		/* labels column -> frame column, -1 */
	struct lk *lks;
	size_t nlk;
	int rc;
};

/* Labels tables with at least this many bytes of rows (1 MiB, the
 * feature refresh's rule) are read through their columnar form
 * (columnar.h) when it fits; smaller ones parse their CSV text.  A
 * variable for the tests. */
extern size_t trainset_columnar_min_bytes;

/* Fill C's frame from labels table LABELS through its columnar form, when
 * it has one that fits: each lookup indexed (ts_index), every key column
 * text or a canonical int or date, every numeric column read as frame.c
 * reads its text.  *USED false: nothing was appended, read the CSV text. */
int ts_scan_columnar(struct store *s, const char *labels, struct ts_ctx *c,
		     bool *used, struct mlfs_err *err);

#endif
