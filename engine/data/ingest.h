/* ingest.h - the one CSV front end of tables and feature tables: text in
 * pieces of any size (each write(2)) -> the header decided by one rule ->
 * rows checked against the write's columns and typed, with errors that
 * carry "line N, column C: reason".  It keeps no rows and touches no
 * store: each kind stores what it is handed its own way (table.c in
 * chunks, features_write.c by key).
 *
 * The header rule (docs/reference.md, "CSV writes"):
 *   - a replace (O_TRUNC), or a write into a table without columns: the
 *     first line is the header;
 *   - an append (>>) into a table with columns: the first line is a header
 *     when its fields, blanks around them dropped, hold every name of
 *     `need` (a feature table: its keys and timestamp key) or, without
 *     `need`, when every field names a column of the table (a table);
 *     otherwise it is the first row, in the table's columns.
 * Header names lose the blanks around them (unless quoted); a byte order
 * mark at the start is dropped.  What a header may name is the kind's
 * choice (INGEST_SAME_COLUMNS: exactly the table's columns, in order). */
#ifndef MLFS_INGEST_H
#define MLFS_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "csv.h"
#include "err.h"
#include "types.h"

#define INGEST_MAX_COLUMNS 4096
#define INGEST_MAX_NAME 1024
#define INGEST_MAX_RECORD (1u << 20)

/* What a header of this write must be. */
enum ingest_header {
	INGEST_ANY_COLUMNS,	/* any valid names (the kind checks more) */
	INGEST_SAME_COLUMNS,	/* the table's columns, in order */
};

/* The table as the writer found it at open. */
struct ingest_table {
	uint32_t ncols;		/* 0: no columns yet */
	char *const *names;
	const enum col_type *types;
	bool declared;		/* the types are fixed: a value must fit */
	bool replace;		/* O_TRUNC: the text's first line is the header */
	enum ingest_header header;
	/* The names that make the first line of an append a header when its
	 * fields hold all of them (any order, others beside).  NULL: it is
	 * one when every field names a column.  Borrowed until the first
	 * line was read. */
	const char *const *need;
	uint32_t nneed;
};

/* Where the rows go.  Both return 0 or a negative errno (set ERR). */
struct ingest_sink {
	/* The write's columns are decided (ingest_columns): HEADER tells
	 * whether the text's line LINE gave them. */
	int (*columns)(void *ctx, bool header, uint64_t line,
		       struct mlfs_err *err);
	/* One row of exactly ingest_ncols fields, each typed already.
	 * Fields are valid during the call only. */
	int (*row)(void *ctx, const struct csv_field *f, size_t n,
		   uint64_t line, struct mlfs_err *err);
	/* Optional: NROWS checked rows at once, as TEXT[0..LEN) that is
	 * already their canonical form (whole lines, no quote, CR or blank
	 * line: each line one row of ingest_ncols fields, written back as
	 * is).  With it, ingest_write checks the whole lines of a large
	 * piece across the thread pool (par.h) and hands them here instead
	 * of row by row. */
	int (*rows_text)(void *ctx, const char *text, size_t len,
			 uint64_t nrows, struct mlfs_err *err);
};

struct ingest;

/* A front end for one writer; T is copied.  Free with ingest_free.
 * -ENOMEM. */
int ingest_new(const struct ingest_table *t, const struct ingest_sink *sink,
	       void *ctx, struct ingest **out);
void ingest_free(struct ingest *in);

/* Parse the next LEN bytes.  After an error every later call fails with
 * the same errno ("an earlier write to this file failed").  A piece of
 * INGEST_PAR_MIN bytes or more, once the columns are known, is checked
 * across the pool when the sink takes rows_text: its whole lines in
 * contiguous parts, each by its own reader with the types as they stand;
 * when every part passes and no part but the last widened a type, the
 * lines go to rows_text, else the piece is parsed serially as always (so
 * errors, line numbers and widening are the serial ones). */
#define INGEST_PAR_MIN (128u << 10)
int ingest_write(struct ingest *in, const char *data, size_t len,
		 struct mlfs_err *err);
/* The text so far is complete (a commit): a last line without a newline
 * is a row.  More text may follow, with line numbers going on. */
int ingest_flush(struct ingest *in, struct mlfs_err *err);
/* 0, or the errno of the failure ingest_write, ingest_flush or
 * ingest_fail recorded (with ERR saying so). */
int ingest_check(const struct ingest *in, struct mlfs_err *err);
/* Record the caller's failure RC (a commit that failed); returns RC. */
int ingest_fail(struct ingest *in, int rc);
bool ingest_failed(const struct ingest *in);

/* The write's columns: known once the first line was read. */
bool ingest_has_columns(const struct ingest *in);
uint32_t ingest_ncols(const struct ingest *in);
/* Borrowed until ingest_free.  Types widen as rows arrive. */
char *const *ingest_names(const struct ingest *in);
const enum col_type *ingest_types(const struct ingest *in);

/* ---- the checks, for rows that do not come as CSV too ---- */

/* Column names: not empty, no line break or NUL, at most INGEST_MAX_NAME
 * bytes, no two alike, at most INGEST_MAX_COLUMNS.  LINE for messages. */
int ingest_check_names(const char *const *names, const size_t *lens,
		       uint32_t n, uint64_t line, struct mlfs_err *err);
/* Type the value P[0..LEN) of column COL (0-based, NAME) against *T: a
 * value refused in it (value_refusal) or, when DECLARED, one that does not
 * fit is -EINVAL; else *T widens to hold it.  An empty value is null. */
int ingest_type_value(enum col_type *t, bool declared, const char *p,
		      size_t len, uint64_t line, uint32_t col,
		      const char *name, struct mlfs_err *err);

#endif
