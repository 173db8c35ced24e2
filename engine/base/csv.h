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
/* Drop a UTF-8 byte order mark (EF BB BF) at the very start of the
 * stream, even when it comes split across pieces: for text users write
 * (Excel's "CSV UTF-8" starts with one), never for text mlfs stored.
 * Call before the first feed. */
void csv_reader_strip_bom(struct csv_reader *r);
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
/* Is R between records: nothing carried from earlier pieces, a byte order
 * mark settled, no failure?  Then text that starts a line may be parsed
 * elsewhere (another reader) and R told how many lines it held. */
bool csv_reader_between(const struct csv_reader *r);
/* Count N more lines as consumed: whole lines parsed by another reader. */
void csv_reader_skip_lines(struct csv_reader *r, uint64_t n);
/* The caller checked (csv_utf8_valid) all the text it will feed R: the
 * quote-free lines skip their own check, one pass over the text instead
 * of a call a line. */
void csv_reader_utf8_checked(struct csv_reader *r);
void csv_reader_free(struct csv_reader *r);

/* A leading byte order mark in a stream of pieces: zero it, then give
 * each piece to csv_bom_take, which returns how many of its bytes belong
 * to the mark (skip them).  When the bytes held so far prove not to be a
 * mark, *REPLAY and *NREPLAY give those bytes (a static string), to go before
 * the rest of the piece; *NREPLAY is 0 otherwise.  At the end of input
 * csv_bom_flush gives what is still held, in the same way. */
struct csv_bom {
	unsigned char matched;	/* bytes of the mark seen */
	bool done;		/* the mark was skipped or ruled out */
};
size_t csv_bom_take(struct csv_bom *b, const char *data, size_t len,
		    const char **replay, size_t *nreplay);
size_t csv_bom_flush(struct csv_bom *b, const char **replay);

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
