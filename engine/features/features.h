/* features.h - feature tables: rows kept by primary key, merged on write,
 * with optional point-in-time versions, online lookup and stats.
 *
 * A feature table has columns (the keys among them), an optional
 * timestamp_key column, description, tags, a pipeline spec, the last
 * refresh report and lineage lines.  Rows are stored one record per key
 * (the latest version), plus one record per (key, time) when a
 * timestamp_key is set, so a lookup is one point read and "as of T" is one
 * bounded seek.  data.csv is generated in key order (integer keys in
 * numeric order) and its size is known from metadata.
 * Writes: replace (> in the tree) or merge (>>: upsert by key).  Either
 * applies at commit in one atomic store batch; a failed write changes
 * nothing.  This module owns the store keys under f/ (docs/store-format.md, "Feature tables"). */
#ifndef MLFS_FEATURES_H
#define MLFS_FEATURES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "store.h"
#include "types.h"

struct features_info {
	uint64_t id;
	uint64_t rows;		/* keys (latest versions) */
	uint64_t versions;	/* (key, time) records; = rows without a timestamp_key */
	uint64_t size;		/* exact bytes of data.csv */
	uint64_t version;	/* bumped by every change of rows or columns */
	uint32_t ncols;
	int64_t ctime_ns, mtime_ns;
	uint32_t uid, gid, mode;	/* creator; mode 0: none recorded */
};

/* Create an empty table NAME (name_valid rules) owned by UID/GID with
 * permission bits MODE (0: no owner recorded), in one batch that also
 * removes the attrs.h records under ATTRS and below (may be NULL: what a
 * chmod of an earlier table of the name left).  -EEXIST, -EINVAL. */
int features_make(struct store *s, const char *name, uint32_t uid,
		  uint32_t gid, uint32_t mode, const char *attrs,
		  struct mlfs_err *err);
/* features_make with no owner and no attrs. */
int features_create(struct store *s, const char *name, struct mlfs_err *err);
/* Drop NAME with every row, version and text, and the attrs under ATTRS
 * (may be NULL), in one batch.  -ENOENT. */
int features_remove(struct store *s, const char *name, const char *attrs,
		    struct mlfs_err *err);
/* features_remove with no attrs. */
int features_drop(struct store *s, const char *name, struct mlfs_err *err);
/* FN for each table name in order; stops on non-zero and returns it. */
int features_list(struct store *s, int (*fn)(void *ctx, const char *name),
		  void *ctx);
/* 0 or -ENOENT. */
int features_stat(struct store *s, const char *name, struct features_info *out);

/* ---- schema: columns, keys, timestamp_key ---- */

/* The table's layout, copied out.  Free with features_schema_free(). */
struct features_schema {
	uint32_t ncols;
	char **names;			/* ncols strings, one block with the array */
	enum col_type *types;
	uint32_t nkeys;
	uint32_t *keys;			/* column indexes of the primary key */
	char **key_names;		/* the key columns by name (also before
					 * any row names them as columns) */
	int ts;				/* index of timestamp_key, -1 if none */
	char *ts_name;			/* NULL if none */
	bool keys_set;			/* keys were written by the user */
};
int features_schema_get(struct store *s, const char *name,
			struct features_schema **out, struct mlfs_err *err);
void features_schema_free(struct features_schema *sc);

/* "column\n" lines of the primary key (default: the first column). */
int features_keys_text(struct store *s, const char *name, struct buf *out);
/* Set the key columns from "column" lines (or a comma list).  Allowed
 * while the table has no rows, or to the same keys.  APPLY false: only
 * check.  -EINVAL. */
int features_set_keys(struct store *s, const char *name, const char *text,
		      size_t len, bool apply, struct mlfs_err *err);
/* The timestamp_key column name and "\n", or nothing. */
int features_ts_text(struct store *s, const char *name, struct buf *out);
/* Set (or clear, with empty text) the timestamp_key.  Allowed while the
 * table has no rows.  -EINVAL. */
int features_set_ts(struct store *s, const char *name, const char *text,
		    size_t len, bool apply, struct mlfs_err *err);

/* ---- texts kept with the table ---- */

enum features_text {
	FEATURES_DESCRIPTION = 'd',
	FEATURES_TAGS = 'g',
	FEATURES_PIPELINE = 'p',
	FEATURES_REPORT = 'r',
};
/* The text (empty when never set).  -ENOENT for a missing table. */
int features_text_get(struct store *s, const char *name,
		      enum features_text what, struct buf *out);
/* Store TEXT as is (callers validate).  -ENOENT. */
int features_text_set(struct store *s, const char *name,
		      enum features_text what, const char *text, size_t len,
		      struct mlfs_err *err);
/* Check "key=value" lines for tags. */
int features_tags_validate(const char *text, size_t len, struct mlfs_err *err);

/* ---- writing rows ---- */

/* Streaming CSV write through the ingest front end (engine/data/ingest.h:
 * its header rule decides whether the first line is a header; without
 * one, on a merge, rows follow the table's columns).  A header names
 * columns, every key column among them and the timestamp_key when set.
 * REPLACE: at
 * commit the rows written become the whole table (columns: the header);
 * duplicate keys are rejected in write() naming both lines.  Merge: each
 * row upserts its key; columns new to the table are added (null for old
 * rows); columns the header leaves out keep their values; a later line
 * for the same key wins.  Null keys, missing key columns and bad fields
 * fail the write with "line N, column C: reason".  Rows are held in memory
 * until commit; commit applies them in one atomic batch. */
struct features_writer;
int features_writer_open(struct store *s, const char *name, bool replace,
			 struct features_writer **out, struct mlfs_err *err);
int features_writer_write(struct features_writer *w, const char *data,
			  size_t len, struct mlfs_err *err);
/* Apply what was written since the last commit.  A replace writer that
 * never committed empties the table when FINAL. */
int features_writer_commit(struct features_writer *w, bool final,
			   struct mlfs_err *err);
bool features_writer_failed(const struct features_writer *w);
void features_writer_free(struct features_writer *w);

/* Rows given as typed column texts (the pipeline's output).  Applied as
 * a merge (or a replace) in one atomic batch, together with the texts in
 * EXTRA (e.g. the refresh report), when NEXTRA > 0. */
struct features_rows {
	uint32_t ncols;
	const char *const *names;
	const enum col_type *types;
	size_t nrows;
	/* Field C of row R: text (unquoted) and length; NULL or "" is null. */
	const char *(*field)(void *ctx, size_t r, uint32_t c, size_t *len);
	void *ctx;
};

/* Encoding rows as the feature table stores them, for a writer of many
 * rows (a refresh): features_rec_begin, then every column's text in the
 * table's order (keys first; length 0 is null), then features_rec_end,
 * which appends the key bytes.  Offsets, since OUT may move. */
#define FEATURES_REC_KEYS 16
struct features_rec {
	struct buf *out;
	uint32_t nkeys, i;
	size_t vstart;
	size_t koff[FEATURES_REC_KEYS], klen[FEATURES_REC_KEYS];
	uint64_t fbytes;	/* CSV bytes of the fields so far */
};
void features_rec_begin(struct features_rec *rc, struct buf *out,
			uint32_t ncols, uint32_t nkeys);
void features_rec_field(struct features_rec *rc, const char *p, size_t len);
/* *KSTART: where the key starts (the record is OUT[vstart..*KSTART)). */
void features_rec_end(struct features_rec *rc, size_t *kstart);
/* Field C's text in record VAL[0..VLEN) made by features_rec_*: NULL
 * when null (or missing). */
const char *features_rec_text(const char *val, size_t vlen, uint32_t c,
			      size_t *len);
struct features_text_put {
	enum features_text what;
	const char *text;
	size_t len;
};
int features_write_rows(struct store *s, const char *name,
			const struct features_rows *rows, bool replace,
			const struct features_text_put *extra, size_t nextra,
			struct mlfs_err *err);
/* The same merge (not a replace) of rows that are also given encoded:
 * RECORD gives row R (features_rec_*) as its key bytes *KEY[0..*KLEN)
 * and record *VAL[0..*VLEN), and returns the CSV bytes of its fields.
 * Into a table of the same columns without timestamp_key the records are
 * stored as they are (each key once; rows in key order need no sort);
 * otherwise ROWS' field is read as by features_write_rows. */
typedef uint64_t (*features_record_fn)(void *ctx, size_t r, const char **key,
				       size_t *klen, const char **val,
				       size_t *vlen);
int features_write_records(struct store *s, const char *name,
			   const struct features_rows *rows,
			   features_record_fn record,
			   const struct features_text_put *extra, size_t nextra,
			   struct mlfs_err *err);

/* Delete the row of KEY (text as in rows/, composite joined by ',') and
 * all its versions, atomically.  -ENOENT. */
int features_delete_key(struct store *s, const char *name, const char *key,
			struct mlfs_err *err);

/* ---- reading ---- */

/* data.csv: header + the latest row of each key, as of open. */
struct features_reader;
int features_reader_open(struct store *s, const char *name,
			 struct features_reader **out, struct mlfs_err *err);
uint64_t features_reader_size(const struct features_reader *r);
long features_reader_read(struct features_reader *r, char *dst, size_t len,
			  uint64_t off, struct mlfs_err *err);
void features_reader_free(struct features_reader *r);

/* Call FN with each key's text as it appears in rows/ (composite keys
 * joined by ','), in key order, without loading rows.  FN returns non-zero
 * to stop. */
int features_list_keys(struct store *s, const char *name,
		       int (*fn)(void *ctx, const char *key, size_t len),
		       void *ctx, struct mlfs_err *err);

/* Point lookups on a consistent view of one table. */
struct features_lookup;
int features_lookup_open(struct store *s, const char *name,
			 struct features_lookup **out, struct mlfs_err *err);
const struct features_schema *features_lookup_schema(const struct features_lookup *l);
/* Find the row of key KEYS[i][0..LENS[i]) (nkeys of them, in key order).
 * AS_OF: the latest version at or before AT_US (micros) - needs a
 * timestamp_key; else the latest version.  On 0, FIELDS[c] and FLENS[c]
 * (c < ncols) hold the row, borrowed until the next call; a null field has
 * FIELDS[c] NULL.  -ENOENT when there is no such row. */
int features_lookup_get(struct features_lookup *l, const char *const *keys,
			const size_t *lens, bool as_of, int64_t at_us,
			const char *const **fields, const size_t **flens);
void features_lookup_free(struct features_lookup *l);

/* rows/KEY: header and one CSV line for KEY ("a,b" for composite keys);
 * with AS_OF the version at or before AT_US.  -ENOENT. */
int features_row_csv(struct store *s, const char *name, const char *key,
		     bool as_of, int64_t at_us, struct buf *out,
		     struct mlfs_err *err);
/* The same, and *MTIME_NS (may be NULL) the table's data time at the
 * snapshot the row was read at (features_info.mtime_ns). */
int features_row_read(struct store *s, const char *name, const char *key,
		      bool as_of, int64_t at_us, struct buf *out,
		      int64_t *mtime_ns, struct mlfs_err *err);

/* stats.csv over the latest rows, as for tables.  Cached per version. */
int features_stats_csv(struct store *s, const char *name, struct buf *out,
		       struct mlfs_err *err);

#endif
