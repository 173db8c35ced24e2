/* columnar.h - the typed, columnar form of a table version, for scans.
 *
 * Built from data.csv on the first scan of a table version and kept in
 * the store beside it (keys k/, docs/store-format.md "Columnar form"):
 * per column, chunks of up to COLUMNAR_CHUNK_ROWS rows of int64 or double
 * values with a null bitmap, or strings as offsets + bytes.  A form is
 * keyed by the table's id and version and used only when its manifest,
 * written after every chunk, exists for the table's current version: a
 * build cut short is never read.  The build of an appended version
 * extends the previous version's form (its chunks shared, new ones for
 * the appended rows).  Scans split the chunks across the shared pool. */
#ifndef MLFS_COLUMNAR_H
#define MLFS_COLUMNAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "store.h"
#include "table.h"
#include "types.h"

#define COLUMNAR_CHUNK_ROWS 65536u

/* Scans that may read a table's text instead (a monitor's table source,
 * batch scoring) read the form only for tables of this many bytes of rows
 * or more (1 MiB, as trainset_scan.c): below it the build, a pass over
 * the text, costs more than the typed scan saves.  Tests set it. */
extern size_t columnar_scan_min_bytes;

/* One column of one chunk, borrowed from the scan (valid during the
 * callback).  Row R is null when NULLS is set and bit R of it is 1.
 * Ints, bools (0/1), dates (days) and timestamps (micros) are in I,
 * floats in F, strings are BYTES[OFF[R] .. OFF[R+1]). */
struct col_vec {
	enum col_type type;	/* the table column's type; COL_NULL: string */
	size_t n;
	const uint8_t *nulls;
	const int64_t *i;
	const double *f;
	const uint32_t *off;
	const char *bytes;
};

static inline bool col_vec_null(const struct col_vec *v, size_t r)
{
	return v->nulls && (v->nulls[r >> 3] >> (r & 7) & 1);
}

/* Row R of V (not a string column) as the number frame.c reads from its
 * text, when columnar_as_number holds for the column: NaN for a null. */
static inline double col_vec_number(const struct col_vec *v, size_t r)
{
	if (col_vec_null(v, r))
		return __builtin_nan("");
	if (v->type == COL_FLOAT)
		return v->f[r];
	return v->type == COL_TIMESTAMP ? (double)v->i[r] / 1e6 : (double)v->i[r];
}

/* The chunk encoding, shared with the feature tables' form
 * (features/trainset_form.c): V (a string column when V->off is set,
 * else doubles in V->f or int64 in V->i; nulls when V->nulls) as one
 * chunk value into OUT (reset first); and back, V pointing into P (which
 * must stay, 8-aligned), its type read from the chunk: -EIO when P is no
 * whole chunk. */
void columnar_chunk_encode(const struct col_vec *v, struct buf *out);
int columnar_chunk_decode(const char *p, size_t len, struct col_vec *v);
/* The checksum of V's values as rows FIRST.. (a fixed function; sums of
 * row ranges add up). */
uint64_t columnar_vec_sum(const struct col_vec *v, uint64_t first);

/* An open columnar form of a table's current version. */
struct columnar;

/* Open the form of table NAME's current version, building it first when
 * there is none (a whole pass over data.csv; one build at a time per
 * store).  -ENOENT (no table), -EAGAIN (the table changed during the
 * build: nothing is kept), -EIO, -ENOMEM.  Free with columnar_free(). */
int columnar_open(struct store *s, const char *name, struct columnar **out,
		  struct mlfs_err *err);
void columnar_free(struct columnar *c);

uint64_t columnar_rows(const struct columnar *c);
uint64_t columnar_version(const struct columnar *c);
/* Where the version's rows end, as table_scan_since's cursor after a
 * read of all of them (a scan of the form moves a reader's cursor here). */
void columnar_cursor(const struct columnar *c, struct table_cursor *out);
uint32_t columnar_ncols(const struct columnar *c);
enum col_type columnar_type(const struct columnar *c, uint32_t col);
/* True when every non-null value of COL (an int or date column) reads
 * back from data.csv as the value's canonical text (no "+7", "007"):
 * the value then stands for the text, e.g. as a group key. */
bool columnar_canonical(const struct columnar *c, uint32_t col);
/* True when the number frame.c reads from each non-null text of COL is
 * the value's (as a double; timestamps in seconds): no float column
 * written "-0" (frame.c: +0), no bare date in a timestamp column (days). */
bool columnar_as_number(const struct columnar *c, uint32_t col);

/* The scan callback: rows [FIRST, FIRST + N) of the version, one vector
 * per requested column, on pool thread THREAD (0 .. threads-1; each
 * thread gets contiguous, increasing row ranges).  Non-zero stops. */
typedef int (*columnar_fn)(void *ctx, int thread, uint64_t first,
			   const struct col_vec *cols, size_t n);
/* Chunks of the form, in row order. */
size_t columnar_nchunks(const struct columnar *c);
/* The number of THREAD values a scan may use. */
int columnar_threads(void);
/* Call FN over every chunk, columns COLS[0..NCOLS) (indexes into the
 * table's columns), split across the pool by contiguous chunk ranges.
 * -EAGAIN when the form was dropped meanwhile (the table changed); else
 * the first non-zero FN returned, -EIO, -ENOMEM. */
int columnar_scan(struct columnar *c, const uint32_t *cols, size_t ncols,
		  columnar_fn fn, void *ctx, struct mlfs_err *err);
/* The same over chunks [LO, HI) only: a pass in bounded memory. */
int columnar_scan_chunks(struct columnar *c, size_t lo, size_t hi,
			 const uint32_t *cols, size_t ncols, columnar_fn fn,
			 void *ctx, struct mlfs_err *err);

/* A pass in row order over what the pool makes of each chunk: MAKE runs
 * on pool threads, one call per chunk (as columnar_fn), and returns its
 * result; USE takes the results on the calling thread, one at a time in
 * row order, a few chunks per thread at a time (bounded memory), and
 * frees each (only that when SKIP: an earlier USE or the scan failed).
 * Returns the scan's error or the first non-zero USE returned. */
typedef void *(*columnar_make_fn)(void *ctx, uint64_t first,
				  const struct col_vec *cols, size_t n);
typedef int (*columnar_use_fn)(void *ctx, void *made, bool skip);
int columnar_scan_ordered(struct columnar *c, const uint32_t *cols, size_t ncols,
			  columnar_make_fn make, columnar_use_fn use, void *ctx,
			  struct mlfs_err *err);

/* Into B (a schema change's or a drop's batch): drop every columnar
 * form of table TID.  A commit of rows keeps them: the previous version's
 * form is never read for the new one, and its build extends it.  Used by
 * table.c. */
void columnar_forget(struct store_batch *b, uint64_t tid);

/* Verify every form against its table's data.csv: the current version,
 * every chunk present and whole, the row count, and a checksum of the
 * values against one computed from the CSV text.  ALONE: no daemon has
 * the store open, so a form without manifest is a leftover, not a build
 * in flight.  A line per problem into REPORT; returns the number of
 * problems or <0. */
int columnar_check(struct store *s, bool alone, struct buf *report,
		   struct mlfs_err *err);
/* Delete every key under k/ that the form a table keeps (its newest
 * whole form of a version not above the current one) does not name:
 * builds cut short, older forms, forms of tables gone.  0 or <0. */
int columnar_recover(struct store *s, struct mlfs_err *err);
/* Remove the builds in flight (a remote store's, whose owner record
 * names their writer) whose owner GONE says is gone: the keys of their
 * version, in one commit; *N (may be NULL) how many builds went.  A
 * build whose chunks went fails its manifest's write (EIO). */
int columnar_sweep_dead(struct store *s, bool (*gone)(void *ctx, const char *owner), void *ctx,
			size_t *n, struct mlfs_err *err);

/* Owner records of builds in flight, shared with the feature tables'
 * forms (trainset_form.c): MANIFEST a build's manifest key, PREFIX ID VER
 * (u64s big-endian), its owner record MANIFEST 'o' = {o: OWNER} on a
 * remote store, nothing on the embedded one.  Put: into B, at the build's
 * start.  Take: its deletion into B, with the manifest's write; -ENOENT
 * when a sweep took it (the build's chunks went: write nothing).  Sweep:
 * the builds under PREFIX whose owner GONE says is gone, their keys of
 * the version in one commit (a whole form's stray owner record alone);
 * *N (may be NULL) how many builds went. */
void columnar_owner_put(struct store *s, struct store_batch *b, const struct buf *manifest);
int columnar_owner_take(struct store *s, struct store_batch *b, const struct buf *manifest);
int columnar_owners_sweep(struct store *s, const char *prefix,
			  bool (*gone)(void *ctx, const char *owner), void *ctx, size_t *n,
			  struct mlfs_err *err);

/* Tests: stop building after this many chunks were written, as a crash
 * would (0: never). */
extern unsigned columnar_test_stop_after;
/* Tests: chunks the scans have read (a scan that used the form). */
extern unsigned long columnar_test_chunks_read;

#endif
