/* csv.c - streaming RFC 4180 reader and the field writer.
 *
 * Records are scanned straight out of the caller's piece when they fit in
 * it; a record cut by the end of a piece is carried over in `carry` and
 * completed by the next piece.  Quoted fields with "" escapes are unescaped
 * into `scratch`.  Blank lines are skipped, CRLF is accepted, a stray quote
 * inside an unquoted field is kept as a literal (as pandas does). */
#include "csv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct span {
	size_t off;		/* into the record text or into scratch */
	size_t len;
	bool in_scratch;
	bool quoted;
};

struct csv_reader {
	size_t max_record;
	csv_record_fn fn;
	void *ctx;
	struct buf carry;	/* an unfinished record from earlier pieces */
	struct buf scratch;	/* unescaped quoted fields of one record */
	struct span *spans;
	size_t nspans_cap;
	struct csv_field *fields;
	uint64_t line;		/* physical lines consumed */
	bool failed;
	bool strip_bom;		/* csv_reader_strip_bom was called */
	bool utf8_known;	/* csv_reader_utf8_checked: lines need no check */
	struct csv_bom bom;
};

static const char bom_mark[3] = "\xef\xbb\xbf";

size_t csv_bom_take(struct csv_bom *b, const char *data, size_t len,
		    const char **replay, size_t *nreplay)
{
	size_t i = 0;
	*replay = bom_mark;
	*nreplay = 0;
	while (!b->done && i < len) {
		if (data[i] != bom_mark[b->matched]) {
			/* Not a mark: what matched, held or in this piece,
			 * goes back in front of the rest. */
			*nreplay = b->matched;
			b->done = true;
			break;
		}
		i++;
		b->done = ++b->matched == sizeof(bom_mark);
	}
	return i;
}

size_t csv_bom_flush(struct csv_bom *b, const char **replay)
{
	size_t n = b->done ? 0 : b->matched;
	*replay = bom_mark;
	b->done = true;
	return n;
}

bool csv_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		/* ASCII fast path, eight bytes at a time: stop at a byte with
		 * the high bit set or a NUL (the (w - 1s) & ~w test). */
		while (i + 8 <= len) {
			uint64_t w;
			memcpy(&w, p + i, 8);
			if ((w | ((w - 0x0101010101010101ull) & ~w)) & 0x8080808080808080ull)
				break;
			i += 8;
		}
		if (i >= len)
			break;
		unsigned c = p[i];
		if (c == 0)
			return false;	/* no text value holds a NUL byte */
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t n;
		unsigned min;
		if ((c & 0xe0) == 0xc0) {
			n = 1;
			min = 0x80;
			c &= 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2;
			min = 0x800;
			c &= 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3;
			min = 0x10000;
			c &= 0x07;
		} else {
			return false;
		}
		if (i + n >= len)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			c = (c << 6) | (p[i + k] & 0x3f);
		}
		if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

struct csv_reader *csv_reader_new(size_t max_record, csv_record_fn fn,
				  void *ctx)
{
	struct csv_reader *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->max_record = max_record ? max_record : CSV_DEFAULT_MAX_RECORD;
	r->fn = fn;
	r->ctx = ctx;
	return r;
}

void csv_reader_free(struct csv_reader *r)
{
	if (!r)
		return;
	buf_free(&r->carry);
	buf_free(&r->scratch);
	free(r->spans);
	free(r->fields);
	free(r);
}

void csv_reader_strip_bom(struct csv_reader *r)
{
	r->strip_bom = true;
}

uint64_t csv_reader_lines(const struct csv_reader *r)
{
	return r->line;
}

bool csv_reader_between(const struct csv_reader *r)
{
	return !r->failed && r->carry.len == 0 && (!r->strip_bom || r->bom.done);
}

void csv_reader_skip_lines(struct csv_reader *r, uint64_t n)
{
	r->line += n;
}

void csv_reader_utf8_checked(struct csv_reader *r)
{
	r->utf8_known = true;
}

static int push_span(struct csv_reader *r, size_t *n, struct span s)
{
	if (*n == r->nspans_cap) {
		size_t cap = r->nspans_cap ? r->nspans_cap * 2 : 32;
		struct span *sp = realloc(r->spans, cap * sizeof(*sp));
		if (!sp)
			return -ENOMEM;
		r->spans = sp;
		struct csv_field *f = realloc(r->fields, cap * sizeof(*f));
		if (!f)
			return -ENOMEM;
		r->fields = f;
		r->nspans_cap = cap;
	}
	r->spans[(*n)++] = s;
	return 0;
}

enum scan_result { SCAN_RECORD, SCAN_BLANK, SCAN_INCOMPLETE };

/* Scan one record starting at TEXT[0].  On SCAN_RECORD/SCAN_BLANK, *USED is
 * the bytes consumed including the line end and *NLINES the newlines. */
static int scan_record(struct csv_reader *r, const char *text, size_t len,
		       bool at_eof, size_t *used, uint64_t *nlines,
		       size_t *nspans, struct mlfs_err *err)
{
	size_t i = 0, n = 0;
	uint64_t lines = 0;
	int rc;

	buf_reset(&r->scratch);
	if (len == 0)
		return SCAN_INCOMPLETE;
	if (text[0] == '\n' || (text[0] == '\r' && len > 1 && text[1] == '\n')) {
		*used = text[0] == '\n' ? 1 : 2;
		*nlines = 1;
		return SCAN_BLANK;
	}
	if (text[0] == '\r' && len == 1 && !at_eof)
		return SCAN_INCOMPLETE;
	for (;;) {
		/* At the start of a field. */
		if (i < len && text[i] == '"') {
			size_t start = r->scratch.len;
			size_t col = i + 1;
			i++;
			for (;;) {
				const char *q = memchr(text + i, '"', len - i);
				size_t stop = q ? (size_t)(q - text) : len;
				for (size_t k = i; k < stop; k++)
					lines += text[k] == '\n';
				if ((rc = buf_append(&r->scratch, text + i, stop - i)))
					return rc;
				if (!q) {
					if (at_eof)
						return mlfs_fail(err, -EINVAL,
							"line %llu, column %zu: unterminated quoted field",
							(unsigned long long)(r->line + 1), col);
					return SCAN_INCOMPLETE;
				}
				i = stop + 1;
				if (i < len && text[i] == '"') {
					if ((rc = buf_putc(&r->scratch, '"')))
						return rc;
					i++;
					continue;
				}
				if (i == len && !at_eof)
					return SCAN_INCOMPLETE;
				break;
			}
			if ((rc = push_span(r, &n, (struct span){ start,
					r->scratch.len - start, true, true })))
				return rc;
			if (i < len && text[i] == '\r') {
				if (i + 1 == len && !at_eof)
					return SCAN_INCOMPLETE;
				if (i + 1 == len || text[i + 1] == '\n')
					i++;
			}
			if (i < len && text[i] != ',' && text[i] != '\n')
				return mlfs_fail(err, -EINVAL,
					"line %llu, column %zu: unexpected character after closing quote",
					(unsigned long long)(r->line + lines + 1), i + 1);
		} else {
			size_t start = i;
			while (i < len && text[i] != ',' && text[i] != '\n')
				i++;
			size_t end = i;
			if (i == len && !at_eof)
				return SCAN_INCOMPLETE;
			if (i < len && text[i] == '\n' && end > start && text[end - 1] == '\r')
				end--;
			else if (i == len && end > start && text[end - 1] == '\r')
				end--;
			if ((rc = push_span(r, &n, (struct span){ start,
					end - start, false, false })))
				return rc;
		}
		/* After a field: a comma, a newline or the end of input. */
		if (i < len && text[i] == ',') {
			i++;
			continue;
		}
		if (i < len && text[i] == '\n') {
			i++;
			lines++;
		}
		break;
	}
	*used = i;
	*nlines = lines;
	*nspans = n;
	return SCAN_RECORD;
}

static int emit(struct csv_reader *r, const char *text, size_t nspans,
		struct mlfs_err *err)
{
	for (size_t k = 0; k < nspans; k++) {
		struct span *s = &r->spans[k];
		const char *p = (s->in_scratch ? r->scratch.data : text) + s->off;
		if (!s->len)
			p = "";
		if (!csv_utf8_valid(p, s->len))
			return mlfs_fail(err, -EINVAL,
				"line %llu, column %zu: invalid UTF-8 or a NUL byte",
				(unsigned long long)(r->line + 1), k + 1);
		r->fields[k] = (struct csv_field){ p, s->len, s->quoted };
	}
	return r->fn(r->ctx, r->fields, nspans, r->line + 1, err);
}

/* Offset of the first ',' in P[0..LEN), or LEN: eight bytes at a time
 * (a zero byte of w ^ ",,,,,,,," marks a comma; the lowest flag is exact). */
static size_t find_comma(const char *p, size_t len)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	const uint64_t commas = ones * ',';
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		uint64_t x = w ^ commas;
		uint64_t hit = (x - ones) & ~x & highs;
		if (hit)
			return i + (size_t)(__builtin_ctzll(hit) >> 3);
	}
	for (; i < len; i++)
		if (p[i] == ',')
			return i;
	return len;
}

/* The error of a record past r->max_record, on the line it starts. */
static int too_long(const struct csv_reader *r, struct mlfs_err *err)
{
	return mlfs_fail(err, -EFBIG, "line %llu, column 1: record longer than %zu bytes",
			 (unsigned long long)(r->line + 1), r->max_record);
}

/* The common case: a whole line in TEXT with no quote in it.  Returns 1
 * when it handled a record or blank line (*USED bytes), 0 when the slow
 * path must look (quotes, no newline yet, bad UTF-8 to locate), <0. */
static int fast_record(struct csv_reader *r, const char *text, size_t len,
		       size_t *used, struct mlfs_err *err)
{
	const char *nl = memchr(text, '\n', len);
	if (!nl)
		return 0;
	size_t L = (size_t)(nl - text);
	if (memchr(text, '"', L))
		return 0;
	if (L + 1 > r->max_record)
		return too_long(r, err);
	size_t end = L && text[L - 1] == '\r' ? L - 1 : L;
	*used = L + 1;
	if (end == 0) {
		r->line++;
		return 1;
	}
	if (!r->utf8_known && !csv_utf8_valid(text, end))
		return 0;
	size_t n = 0, start = 0;
	for (;;) {
		size_t c = start + find_comma(text + start, end - start);
		if (n == r->nspans_cap) {
			int rc = push_span(r, &n, (struct span){ 0 });
			if (rc)
				return rc;
			n--;
		}
		r->fields[n++] = (struct csv_field){ text + start, c - start, false };
		if (c == end)
			break;
		start = c + 1;
	}
	int rc = r->fn(r->ctx, r->fields, n, r->line + 1, err);
	if (rc < 0)
		return rc;
	r->line++;
	return 1;
}

/* Parse complete records from TEXT; returns bytes consumed or <0. */
static long parse_records(struct csv_reader *r, const char *text, size_t len,
			  bool at_eof, struct mlfs_err *err)
{
	size_t pos = 0;

	while (pos < len) {
		size_t used = 0, nspans = 0;
		int fast = fast_record(r, text + pos, len - pos, &used, err);
		if (fast < 0)
			return fast;
		if (fast) {
			pos += used;
			continue;
		}
		uint64_t nlines = 0;
		int rc = scan_record(r, text + pos, len - pos, at_eof, &used,
				     &nlines, &nspans, err);
		if (rc < 0)
			return rc;
		if (rc == SCAN_INCOMPLETE)
			break;
		if (used > r->max_record)
			return too_long(r, err);
		if (rc == SCAN_RECORD) {
			rc = emit(r, text + pos, nspans, err);
			if (rc < 0)
				return rc;
		}
		r->line += nlines ? nlines : 1;
		pos += used;
	}
	return (long)pos;
}

static int feed_piece(struct csv_reader *r, const char *data, size_t len,
		      struct mlfs_err *err)
{
	long used;
	int rc;

	if (r->failed)
		return mlfs_fail(err, -EINVAL, "earlier error in this stream");
	if (r->carry.len == 0) {
		used = parse_records(r, data, len, false, err);
		if (used < 0)
			goto fail;
		if ((size_t)used < len) {
			if (len - (size_t)used > r->max_record) {
				used = too_long(r, err);
				goto fail;
			}
			if ((rc = buf_append(&r->carry, data + used, len - (size_t)used))) {
				used = rc;
				goto fail;
			}
		}
		return 0;
	}
	/* Finish the carried record with as little of DATA as needed: a line
	 * at a time, so the rest of DATA is parsed where it lies. */
	while (r->carry.len && len) {
		const char *nl = memchr(data, '\n', len);
		size_t take = nl ? (size_t)(nl - data) + 1 : len;
		/* A record that keeps going (quoted line breaks) takes pieces
		 * as large as itself: each byte is rescanned O(log n) times. */
		if (take < r->carry.len)
			take = r->carry.len < len ? r->carry.len : len;
		if ((rc = buf_append(&r->carry, data, take))) {
			used = rc;
			goto fail;
		}
		data += take;
		len -= take;
		used = parse_records(r, r->carry.data, r->carry.len, false, err);
		if (used < 0)
			goto fail;
		size_t left = r->carry.len - (size_t)used;
		if (left > r->max_record) {
			used = too_long(r, err);
			goto fail;
		}
		memmove(r->carry.data, r->carry.data + used, left);
		r->carry.len = left;
	}
	if (r->carry.len == 0 && len)
		return feed_piece(r, data, len, err);
	size_t rest = r->carry.len;
	if (rest > r->max_record) {
		used = too_long(r, err);
		goto fail;
	}
	if (rest > (1u << 16) && r->carry.cap > 4 * rest) {
		/* Give back memory a big piece left behind. */
		char *p = realloc(r->carry.data, rest + 1);
		if (p) {
			r->carry.data = p;
			r->carry.cap = rest + 1;
		}
	}
	return 0;
fail:
	r->failed = true;
	return (int)used;
}

int csv_reader_feed(struct csv_reader *r, const char *data, size_t len,
		    struct mlfs_err *err)
{
	if (r->strip_bom && !r->bom.done && !r->failed) {
		const char *replay;
		size_t nreplay, skip = csv_bom_take(&r->bom, data, len, &replay, &nreplay);
		int rc = nreplay ? feed_piece(r, replay, nreplay, err) : 0;
		if (rc)
			return rc;
		data += skip;
		len -= skip;
	}
	return feed_piece(r, data, len, err);
}

int csv_reader_finish(struct csv_reader *r, struct mlfs_err *err)
{
	if (r->failed)
		return mlfs_fail(err, -EINVAL, "earlier error in this stream");
	if (r->strip_bom && !r->bom.done) {
		const char *replay;
		size_t n = csv_bom_flush(&r->bom, &replay);
		int rc = n ? feed_piece(r, replay, n, err) : 0;
		if (rc)
			return rc;
	}
	if (r->carry.len == 0)
		return 0;
	long used = parse_records(r, r->carry.data, r->carry.len, true, err);
	if (used < 0) {
		r->failed = true;
		return (int)used;
	}
	buf_reset(&r->carry);
	return 0;
}

int csv_put_field(struct buf *out, const char *p, size_t len)
{
	bool quote = false;
	for (size_t i = 0; i < len && !quote; i++) {
		char c = p[i];
		quote = c == ',' || c == '"' || c == '\n' || c == '\r';
	}
	if (!quote)
		return buf_append(out, p, len);
	int rc = buf_putc(out, '"');
	size_t start = 0;
	for (size_t i = 0; i < len && !rc; i++) {
		if (p[i] == '"') {
			rc = buf_append(out, p + start, i + 1 - start);
			if (!rc)
				rc = buf_putc(out, '"');
			start = i + 1;
		}
	}
	if (!rc)
		rc = buf_append(out, p + start, len - start);
	if (!rc)
		rc = buf_putc(out, '"');
	return rc;
}

int csv_parse_all(const char *data, size_t len, csv_record_fn fn, void *ctx,
		  struct mlfs_err *err)
{
	struct csv_reader *r = csv_reader_new(0, fn, ctx);
	if (!r)
		return -ENOMEM;
	int rc = csv_reader_feed(r, data, len, err);
	if (!rc)
		rc = csv_reader_finish(r, err);
	csv_reader_free(r);
	return rc;
}
