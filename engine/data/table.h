/* table.h - raw data tables: named, typed, append-only CSV row sets.
 *
 * A table is a header (columns with types) and rows kept as canonical CSV
 * text in chunks, so a table reads back at disk speed and a float reads
 * back exactly as written.  Writes stream through a table_writer and become
 * visible all at once at commit; readers work on a snapshot.  This module
 * owns the keys t/, s/, c/, w/ and n/ (docs/store-format.md). */
#ifndef MLFS_TABLE_H
#define MLFS_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "csv.h"
#include "err.h"
#include "ingest.h"
#include "store.h"
#include "names.h"
#include "types.h"

#define TABLE_NAME_MAX 128
#define TABLE_MAX_COLUMNS INGEST_MAX_COLUMNS
#define TABLE_CHUNK_BYTES (256u << 10)
#define TABLE_MAX_RECORD INGEST_MAX_RECORD

struct table_info {
	uint64_t id;
	uint64_t rows;
	uint64_t data_bytes;	/* rows' CSV text, header excluded */
	uint64_t header_bytes;	/* 0 for a table never written */
	uint64_t version;	/* bumped by every commit and schema change */
	uint32_t ncols;
	bool declared;		/* schema written by the user, not inferred */
	int64_t ctime_ns, mtime_ns;	/* creation, last change of rows */
	uint32_t uid, gid, mode;	/* creator; mode 0: none recorded */
};


/* Create an empty table owned by UID/GID with permission bits MODE (0:
 * no owner recorded), in one batch that also removes the attrs.h records
 * under ATTRS and below (may be NULL: what a chmod of an earlier table of
 * the name left).  -EEXIST, -EINVAL (name). */
int table_make(struct store *s, const char *name, uint32_t uid, uint32_t gid,
	       uint32_t mode, const char *attrs, struct mlfs_err *err);
/* table_make with no owner and no attrs. */
int table_create(struct store *s, const char *name, struct mlfs_err *err);
/* Drop a table, all its rows and the attrs under ATTRS (may be NULL) in
 * one batch.  -ENOENT. */
int table_remove(struct store *s, const char *name, const char *attrs,
		 struct mlfs_err *err);
/* table_remove with no attrs. */
int table_drop(struct store *s, const char *name, struct mlfs_err *err);
/* Call FN for each table name in order; stops early on non-zero. */
int table_list(struct store *s, int (*fn)(void *ctx, const char *name),
	       void *ctx);
/* 0 or -ENOENT. */
int table_stat(struct store *s, const char *name, struct table_info *out);

/* "column type\n" lines into OUT. */
int table_schema_text(struct store *s, const char *name, struct buf *out,
		      struct mlfs_err *err);
/* Check "column type" lines for table NAME without applying them: the
 * same checks as table_set_schema.  With S NULL only the text is checked.
 * 0 or -EINVAL. */
int table_schema_validate(struct store *s, const char *name, const char *text,
			  size_t len, struct mlfs_err *err);
/* Declare the schema from "column type" lines.  Allowed while the table
 * is empty, or when the rows fit the new types (checked).  -EINVAL. */
int table_set_schema(struct store *s, const char *name, const char *text,
		     size_t len, struct mlfs_err *err);
/* Column names and types, in order; caller frees *NAMES (one block,
 * NUL-separated strings pointed to by the array) with free(). */
int table_columns(struct store *s, const char *name, char ***names,
		  enum col_type **types, uint32_t *ncols);

/* Streaming write of CSV text through the ingest front end (ingest.h:
 * its header rule decides the first line).  REPLACE: the first commit
 * replaces every row (the text's first line is the header); else rows are
 * appended (a header on the first line must repeat the table's columns in
 * order, and is skipped).  Text is checked as it arrives: bad input fails
 * the write with "line N, column C: reason". */
struct table_writer;
int table_writer_open(struct store *s, const char *name, bool replace,
		      struct table_writer **out, struct mlfs_err *err);
int table_writer_write(struct table_writer *w, const char *data, size_t len,
		       struct mlfs_err *err);
/* Apply everything written since the last commit, atomically.  A commit
 * with nothing new does nothing, except that a replace writer that never
 * committed empties the table when FINAL. */
int table_writer_commit(struct table_writer *w, bool final,
			struct mlfs_err *err);
/* True once a write failed: the writer accepts nothing more. */
bool table_writer_failed(const struct table_writer *w);
/* Drop what was not committed and free.  NULL is a no-op. */
void table_writer_free(struct table_writer *w);
/* Wait until every full chunk written so far is staged in the store (the
 * stager thread is idle): what a crash at this moment would leave.  0 or
 * the stager's error.  Not thread-safe with writes to W. */
int table_writer_settle(struct table_writer *w, struct mlfs_err *err);

/* A stable view of data.csv (header + rows) as of open. */
struct table_reader;
int table_reader_open(struct store *s, const char *name,
		      struct table_reader **out, struct mlfs_err *err);
uint64_t table_reader_size(const struct table_reader *r);
struct table_cursor;
/* The cursor at the end of R's view (table_scan_since): where a reader
 * of every row of it got to. */
void table_reader_cursor(const struct table_reader *r, struct table_cursor *cur);
/* Copy up to LEN bytes at OFF into DST; returns bytes copied or <0. */
long table_reader_read(struct table_reader *r, char *dst, size_t len,
		       uint64_t off, struct mlfs_err *err);
void table_reader_free(struct table_reader *r);

/* Call FN for each row (fields unquoted) of the table as of now; LINE is
 * the row's line in data.csv.  Columns come from table_columns(). */
int table_scan(struct store *s, const char *name, csv_record_fn fn,
	       void *ctx, struct mlfs_err *err);

/* Where a reader of a table's rows got to: rows are only ever appended
 * between replaces.  Zeroed: nothing read yet. */
struct table_cursor {
	uint64_t tid;		/* the table's id when read */
	uint64_t first_seg;	/* its lowest segment then: a replace changes it */
	uint64_t bytes;		/* rows' text read */
};
/* Call FN for each row added since CUR, then move CUR to the end.  When
 * the table was replaced (or dropped and made again) since CUR, or CUR is
 * zeroed, every row is scanned and *FROM_START is true.  LINE counts from
 * the first row scanned.  -ENOENT. */
int table_scan_since(struct store *s, const char *name,
		     struct table_cursor *cur, bool *from_start,
		     csv_record_fn fn, void *ctx, struct mlfs_err *err);

/* Verify every table against its rows; a line per problem into REPORT.
 * Returns the number of problems, or <0 on error. */
int table_check(struct store *s, struct buf *report, struct mlfs_err *err);
/* Remove rows staged by writers that never committed (after a crash). */
int table_recover(struct store *s, struct mlfs_err *err);
/* Remove the rows staged by the writers whose owner (the remote store's
 * writer name in their record, store_writer_name) GONE says is gone, in
 * one commit; *N (may be NULL) how many writers' rows went.  Records
 * with no owner (the embedded store's) stay.  A writer whose rows went
 * fails its commit (EIO), never naming missing chunks. */
int table_sweep_dead(struct store *s, bool (*gone)(void *ctx, const char *owner), void *ctx,
		     size_t *n, struct mlfs_err *err);

#endif
