/* pipeline.h - declarative feature pipelines: pipeline.yaml checked
 * against the tables it names, and refresh: scan the source table, group
 * by key, evaluate the features, merge the result into the feature table
 * in one atomic step, and keep a report of the run. */
#ifndef MLFS_PIPELINE_H
#define MLFS_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "store.h"

/* Check pipeline.yaml TEXT for feature table NAME: YAML shape, the source
 * table, key and columns, expression types and cycles.  Errors: -EINVAL
 * with "line L, column C: reason"; -ENOENT when NAME is missing.  Empty
 * TEXT is valid (it removes the pipeline). */
int pipeline_validate(struct store *s, const char *name, const char *text,
		      size_t len, struct mlfs_err *err);
/* The check for a write() that may be followed by more: TEXT may be the
 * first part of a file written in pieces.  Fails only for errors that no
 * appended text can fix (a bad table, column, type or cycle on a line
 * before the last); the rest waits for pipeline_set at close. */
int pipeline_validate_partial(struct store *s, const char *name,
			      const char *text, size_t len,
			      struct mlfs_err *err);
/* Validate and store TEXT.  While the feature table is empty and its keys
 * were never set, the pipeline's key becomes the table's key. */
int pipeline_set(struct store *s, const char *name, const char *text,
		 size_t len, struct mlfs_err *err);

struct pipeline_opts {
	bool has_as_of;		/* override the spec's as_of */
	int64_t as_of_us;
	bool as_of_is_date;
};

/* What `refresh` accepts: "1", "now", "refresh", "run", "true" (any
 * case, surrounded by blanks), or a date/timestamp to refresh as of.
 * Fills OPTS.  -EINVAL. */
int pipeline_parse_word(const char *text, size_t len,
			struct pipeline_opts *opts, struct mlfs_err *err);

/* Recompute feature table NAME from its pipeline and merge the rows into
 * it atomically; the report (read back by pipeline_report_text) is stored
 * with the rows, or alone when the refresh fails.  -EAGAIN when the
 * source table changed during the refresh (nothing merged), -EINVAL for a
 * pipeline that no longer fits its source, -ENOENT. */
int pipeline_refresh(struct store *s, const char *name,
		     const struct pipeline_opts *opts, struct mlfs_err *err);
/* The last refresh report: "key value" lines (status, time, source,
 * as_of, rows_in, keys_out, duration_ms, error). */
int pipeline_report_text(struct store *s, const char *name, struct buf *out);

/* Tests only: called between the scan of the source and the check that
 * it did not change meanwhile. */
extern void (*pipeline_test_hook)(struct store *s, const char *source);
/* Tests only: chunks read as fixed-width records (a single int or date
 * key, no text column used). */
extern uint64_t pipeline_test_fixed_chunks;
/* Sources of at least this many bytes of rows are read through their
 * columnar form (built on the first refresh of a table version, in
 * parallel); smaller ones parse their CSV text in one thread (default
 * 1 MiB; tests set it to compare both ways). */
extern size_t pipeline_parallel_min_bytes;

#endif
