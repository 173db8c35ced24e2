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

struct ts_index;

/* The latest row of every key of feature table TABLE (schema SC, which
 * must outlive the index).  -EFBIG past 4 GiB of text. */
int ts_index_build(struct store *s, const char *table,
		   const struct features_schema *sc, struct ts_index **out,
		   struct mlfs_err *err);
/* As features_lookup_get without a time: FIELDS[c] and FLENS[c] (arrays
 * of sc->ncols, the caller's) get the row of the key, NULL for a null.
 * -ENOENT.  Read-only: many threads may ask at once. */
int ts_index_get(const struct ts_index *ix, const char *const *keys,
		 const size_t *lens, const char **fields, size_t *flens);
void ts_index_free(struct ts_index *ix);

/* One lookup of a training set being built. */
struct lk {
	struct features_lookup *l;
	struct ts_index *ix;	/* the bulk join, or NULL */
	const char **ixf;	/* its row's fields (ncols) */
	size_t *ixl;
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

/* The row of the key in IX, or -1. */
long ts_index_find(const struct ts_index *ix, const char *const *keys,
		   const size_t *lens);
/* Read every numeric column of IX as frame.c reads its text, once, across
 * the thread pool: then ts_index_append of a number is a copy. */
void ts_index_numbers(struct ts_index *ix);
/* Append column FC of row ROW of IX (-1: no row, a null) to column COL of
 * F, as frame_append_text of its text would. */
int ts_index_append(const struct ts_index *ix, long row, uint32_t fc,
		    struct frame *f, size_t col, struct mlfs_err *err);

#endif
