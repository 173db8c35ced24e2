/* csv.h - streaming RFC 4180 reader and writer helpers.
 *
 * The reader is push-based: feed it bytes in pieces of any size, it calls
 * back once per record with the fields unquoted.  It never holds more than
 * one record (bounded by max_record) plus the caller's piece.  It checks
 * UTF-8, quoting and record size; typing is types.h's job, not this one. */
#ifndef MLFS_CSV_H
#define MLFS_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

struct csv_field {
	const char *p;		/* valid only during the callback */
	size_t len;
	bool quoted;		/* the field was written in quotes */
};

/* Called once per record.  LINE is the 1-based physical line the record
 * starts on.  Return 0 to go on, a negative errno to stop (set ERR). */
typedef int (*csv_record_fn)(void *ctx, const struct csv_field *fields,
			     size_t nfields, uint64_t line,
			     struct mlfs_err *err);

struct csv_reader;

#define CSV_DEFAULT_MAX_RECORD (1u << 20)

/* New reader; MAX_RECORD bytes is the longest record accepted (EFBIG past
 * it).  Free with csv_reader_free().  NULL on out-of-memory. */
struct csv_reader *csv_reader_new(size_t max_record, csv_record_fn fn,
				  void *ctx);
/* Parse the next LEN bytes.  Errors (EINVAL for bad quoting or UTF-8,
 * EFBIG for a too-long record, or the callback's) carry "line N, column C:
 * reason" in ERR; after an error the reader accepts nothing more. */
int csv_reader_feed(struct csv_reader *r, const char *data, size_t len,
		    struct mlfs_err *err);
/* End of input: parse a last record without a newline; an open quote is
 * EINVAL. */
int csv_reader_finish(struct csv_reader *r, struct mlfs_err *err);
/* Physical lines consumed so far. */
uint64_t csv_reader_lines(const struct csv_reader *r);
void csv_reader_free(struct csv_reader *r);

/* Append one field to OUT, quoted only when it must be (comma, quote, CR
 * or LF inside). */
int csv_put_field(struct buf *out, const char *p, size_t len);

/* True when P[0..LEN) is valid UTF-8 without NUL bytes. */
bool csv_utf8_valid(const char *p, size_t len);

/* Parse a whole line/string of CSV into fields for small inputs (headers,
 * requests).  Calls FN for each record.  Convenience over the reader. */
int csv_parse_all(const char *data, size_t len, csv_record_fn fn, void *ctx,
		  struct mlfs_err *err);

#endif
