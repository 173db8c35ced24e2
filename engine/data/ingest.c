/* ingest.c - the CSV front end of tables and feature tables (ingest.h):
 * decides the header by the one rule, checks names, field counts and
 * values, and hands typed rows to the kind's sink.  Not storage: it never
 * sees the store.
 *
 * State: the write's columns are unknown until the first record; the
 * first record either gives them (a header) or is a row in the table's
 * columns.  From then on every record is a row.  `failed` latches the
 * first error: nothing after it is parsed or handed on. */
#include "ingest.h"
#include "columns.h"
#include "par.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct ingest {
	struct ingest_table t;	/* names and types borrowed from the caller
				 * until the columns are decided */
	struct ingest_sink sink;
	void *ctx;
	struct csv_reader *csv;
	bool have_cols;
	uint32_t ncols;
	char **names;		/* the write's columns, each malloc'd */
	enum col_type *types;
	int fail_code;		/* 0 while nothing failed */
	bool fed;		/* text arrived: a flush before any keeps the
				 * reader at the stream's start (byte order mark) */
};

int ingest_check_names(const char *const *names, const size_t *lens,
		       uint32_t n, uint64_t line, struct mlfs_err *err)
{
	unsigned long long ln = (unsigned long long)line;
	if (n == 0)
		return mlfs_fail(err, -EINVAL, "line %llu: empty header", ln);
	if (n > INGEST_MAX_COLUMNS)
		return mlfs_fail(err, -EINVAL, "line %llu, column %d: more than %d columns",
				 ln, INGEST_MAX_COLUMNS + 1, INGEST_MAX_COLUMNS);
	for (uint32_t i = 0; i < n; i++) {
		const char *p = names[i];
		size_t l = lens[i];
		if (l == 0)
			return mlfs_fail(err, -EINVAL, "line %llu, column %u: empty column name in header",
					 ln, i + 1);
		if (memchr(p, '\n', l) || memchr(p, '\r', l) || memchr(p, '\0', l) ||
		    l > INGEST_MAX_NAME)
			return mlfs_fail(err, -EINVAL, "line %llu, column %u: bad column name (a line break, or longer than %d bytes)",
					 ln, i + 1, INGEST_MAX_NAME);
		for (uint32_t j = 0; j < i; j++)
			if (lens[j] == l && !memcmp(names[j], p, l))
				return mlfs_fail(err, -EINVAL, "line %llu, column %u: duplicate column '%.*s'",
						 ln, i + 1, (int)l, p);
	}
	return 0;
}

/* Does P[0..LEN) fit column type T in one pass, with nothing to refuse:
 * an in-range integer of an int column, a plain decimal ([+-]digits
 * [.digits], no exponent or word, so finite; under the 64 bytes
 * value_parse_float takes) of a float column, or a value of a bool, date
 * or timestamp column (value_refusal refuses none of those)?  False sends
 * the value through the full checks (value_refusal, value_fits), which
 * give the same answer for what this passes: most values of a load take
 * this path and are scanned once instead of up to four times. */
static bool value_plain_fit(enum col_type t, const char *p, size_t len)
{
	if (t == COL_INT)
		return value_parse_int(p, len, NULL);
	if (t == COL_BOOL || t == COL_DATE || t == COL_TIMESTAMP)
		return value_fits(t, p, len);
	if (t != COL_FLOAT || len >= 64)
		return false;
	size_t i = p[0] == '-' || p[0] == '+', digits = 0;
	bool point = false;
	for (; i < len; i++) {
		unsigned d = (unsigned char)p[i] - '0';
		if (d <= 9)
			digits++;
		else if (p[i] == '.' && !point)
			point = true;
		else
			return false;
	}
	return digits > 0;
}

int ingest_type_value(enum col_type *t, bool declared, const char *p,
		      size_t len, uint64_t line, uint32_t col,
		      const char *name, struct mlfs_err *err)
{
	if (len == 0 || *t == COL_STRING || value_plain_fit(*t, p, len))
		return 0;
	int shown = (int)(len > 64 ? 64 : len);
	const char *why = value_refusal(*t, p, len);
	if (why)
		return mlfs_fail(err, -EINVAL, "line %llu, column %u: '%.*s' %s",
				 (unsigned long long)line, col + 1, shown, p, why);
	if (value_fits(*t, p, len))
		return 0;
	if (declared)
		return mlfs_fail(err, -EINVAL, "line %llu, column %u: '%.*s' is not a valid %s for column '%s'",
				 (unsigned long long)line, col + 1, shown, p,
				 col_type_name(*t), name);
	*t = col_type_widen(*t, value_infer(p, len));
	return 0;
}

/* F without the blanks around it, unless it was quoted. */
static void field_trim(const struct csv_field *f, const char **p, size_t *len)
{
	*p = f->p;
	*len = f->len;
	if (f->quoted)
		return;
	while (*len && (**p == ' ' || **p == '\t'))
		(*p)++, (*len)--;
	while (*len && ((*p)[*len - 1] == ' ' || (*p)[*len - 1] == '\t'))
		(*len)--;
}

/* The table's column named P[0..LEN), or -1. */
static int table_col(const struct ingest_table *t, const char *p, size_t len)
{
	return columns_index(t->ncols, t->names, p, len);
}

/* Does one of the N fields F, trimmed, read NAME? */
static bool fields_hold(const struct csv_field *f, size_t n, const char *name)
{
	size_t nl = strlen(name);
	for (size_t i = 0; i < n; i++) {
		const char *p;
		size_t l;
		field_trim(&f[i], &p, &l);
		if (l == nl && !memcmp(p, name, l))
			return true;
	}
	return false;
}

/* The header rule (ingest.h): is the first record F[0..N) a header? */
static bool first_is_header(const struct ingest_table *t,
			    const struct csv_field *f, size_t n)
{
	if (t->replace || t->ncols == 0)
		return true;
	if (t->nneed) {
		for (uint32_t k = 0; k < t->nneed; k++)
			if (!fields_hold(f, n, t->need[k]))
				return false;
		return true;
	}
	for (size_t i = 0; i < n; i++) {
		const char *p;
		size_t l;
		field_trim(&f[i], &p, &l);
		if (table_col(t, p, l) < 0)
			return false;
	}
	return n > 0;
}

/* The write's columns: N names (P, LEN) typed from the table by name. */
static int set_columns(struct ingest *in, const char *const *p,
		       const size_t *len, uint32_t n)
{
	in->names = calloc(n ? n : 1, sizeof(char *));
	in->types = calloc(n ? n : 1, sizeof(enum col_type));
	if (!in->names || !in->types)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		if (!(in->names[i] = strndup(p[i], len[i])))
			return -ENOMEM;
		in->ncols = i + 1;
		int c = in->t.replace && !in->t.declared ? -1 : table_col(&in->t, p[i], len[i]);
		in->types[i] = c >= 0 && in->t.types ? in->t.types[c] : COL_NULL;
	}
	in->have_cols = true;
	return 0;
}

static int take_header(struct ingest *in, const struct csv_field *f,
		       size_t n, uint64_t line, struct mlfs_err *err)
{
	uint32_t nn = n > INGEST_MAX_COLUMNS ? INGEST_MAX_COLUMNS + 1 : (uint32_t)n;
	const char **p = calloc(nn ? nn : 1, sizeof(*p));
	size_t *len = calloc(nn ? nn : 1, sizeof(*len));
	int rc = p && len ? 0 : -ENOMEM;
	for (uint32_t i = 0; !rc && i < nn; i++)
		field_trim(&f[i], &p[i], &len[i]);
	if (!rc)
		rc = ingest_check_names(p, len, nn, line, err);
	bool same = !rc && in->t.header == INGEST_SAME_COLUMNS && in->t.ncols &&
		    (!in->t.replace || in->t.declared);
	if (same) {
		uint32_t i = 0;
		while (i < nn && i < in->t.ncols && strlen(in->t.names[i]) == len[i] &&
		       !memcmp(in->t.names[i], p[i], len[i]))
			i++;
		if (i < nn || i < in->t.ncols)
			rc = mlfs_fail(err, -EINVAL, "line %llu, column %u: the header does not match the table's columns%s; nothing written",
				       (unsigned long long)line, i + 1,
				       in->t.declared ? " (the declared schema)" : " in order");
	}
	if (!rc)
		rc = set_columns(in, p, len, nn);
	free(p);
	free(len);
	return rc ? rc : in->sink.columns(in->ctx, true, line, err);
}

/* No header: the write's columns are the table's. */
static int take_table_columns(struct ingest *in, uint64_t line,
			      struct mlfs_err *err)
{
	size_t *len = calloc(in->t.ncols, sizeof(size_t));
	if (!len)
		return -ENOMEM;
	for (uint32_t c = 0; c < in->t.ncols; c++)
		len[c] = strlen(in->t.names[c]);
	int rc = set_columns(in, (const char *const *)in->t.names, len, in->t.ncols);
	free(len);
	return rc ? rc : in->sink.columns(in->ctx, false, line, err);
}

/* A row F[0..N) of the write's columns: the field count, then each value
 * typed against TYPES (widened when the schema is not declared). */
static int check_row(const struct ingest *in, enum col_type *types,
		     const struct csv_field *f, size_t n, uint64_t line,
		     struct mlfs_err *err)
{
	int rc;
	if (n != in->ncols)
		return mlfs_fail(err, -EINVAL, "line %llu, column %zu: expected %u fields, found %zu",
				 (unsigned long long)line, (n < in->ncols ? n : in->ncols) + 1,
				 in->ncols, n);
	for (uint32_t i = 0; i < n; i++)
		if ((rc = ingest_type_value(&types[i], in->t.declared, f[i].p,
					    f[i].len, line, i, in->names[i], err)))
			return rc;
	return 0;
}

static int on_record(void *ctx, const struct csv_field *f, size_t n,
		     uint64_t line, struct mlfs_err *err)
{
	struct ingest *in = ctx;
	int rc;

	if (!in->have_cols) {
		if (first_is_header(&in->t, f, n))
			return take_header(in, f, n, line, err);
		if ((rc = take_table_columns(in, line, err)))
			return rc;
	}
	if ((rc = check_row(in, in->types, f, n, line, err)))
		return rc;
	return in->sink.row(in->ctx, f, n, line, err);
}

int ingest_new(const struct ingest_table *t, const struct ingest_sink *sink,
	       void *ctx, struct ingest **out)
{
	struct ingest *in = calloc(1, sizeof(*in));
	if (!in)
		return -ENOMEM;
	in->t = *t;
	in->sink = *sink;
	in->ctx = ctx;
	in->csv = csv_reader_new(INGEST_MAX_RECORD, on_record, in);
	if (!in->csv) {
		free(in);
		return -ENOMEM;
	}
	csv_reader_strip_bom(in->csv);
	*out = in;
	return 0;
}

void ingest_free(struct ingest *in)
{
	if (!in)
		return;
	csv_reader_free(in->csv);
	for (uint32_t i = 0; i < in->ncols; i++)
		free(in->names[i]);
	free(in->names);
	free(in->types);
	free(in);
}

int ingest_check(const struct ingest *in, struct mlfs_err *err)
{
	if (!in->fail_code)
		return 0;
	return mlfs_fail(err, in->fail_code, "an earlier write to this file failed");
}

int ingest_fail(struct ingest *in, int rc)
{
	if (rc && !in->fail_code)
		in->fail_code = rc;
	return rc;
}

bool ingest_failed(const struct ingest *in)
{
	return in->fail_code != 0;
}

/* ---- whole lines checked across the pool (ingest.h, INGEST_PAR_MIN) ---- */

/* One part of a piece: whole lines, checked by a reader of its own. */
struct par_part {
	const struct ingest *in;
	const char *p;
	size_t len;
	enum col_type *types;	/* the types as the piece began, widened */
	uint64_t lines, rows;
	int rc;
};

static int on_part_record(void *ctx, const struct csv_field *f, size_t n,
			  uint64_t line, struct mlfs_err *err)
{
	struct par_part *pt = ctx;
	int rc = check_row(pt->in, pt->types, f, n, line, err);
	pt->rows += !rc;
	return rc;
}

static void part_check(void *arg, int t, size_t lo, size_t hi)
{
	struct par_part *parts = arg;
	(void)t;
	for (size_t i = lo; i < hi; i++) {
		struct par_part *pt = &parts[i];
		struct mlfs_err err = { 0 };
		struct csv_reader *r = csv_reader_new(INGEST_MAX_RECORD, on_part_record, pt);
		/* Bad UTF-8 is left to the serial parse, which says where. */
		bool utf8 = csv_utf8_valid(pt->p, pt->len);
		if (r && utf8)
			csv_reader_utf8_checked(r);
		pt->rc = !r ? -ENOMEM : !utf8 ? -EINVAL : csv_reader_feed(r, pt->p, pt->len, &err);
		if (!pt->rc)
			pt->rc = csv_reader_finish(r, &err);
		pt->lines = r ? csv_reader_lines(r) : 0;
		csv_reader_free(r);
	}
}

/* Did the N parts pass as the serial parse would: no error, one row per
 * line (no blank line), and no type widened before the last part (each
 * part began with the types as the piece began)? */
static bool parts_agree(const struct ingest *in, const struct par_part *pt,
			size_t n)
{
	size_t tbytes = in->ncols * sizeof(enum col_type);
	for (size_t i = 0; i < n; i++)
		if (pt[i].rc || pt[i].rows != pt[i].lines ||
		    (i + 1 < n && memcmp(pt[i].types, in->types, tbytes)))
			return false;
	return true;
}

/* Split P[0..LEN) (whole lines) into N parts of about equal size, each
 * ending at a line's end; parts may be empty. */
static void parts_split(struct par_part *pt, size_t n, const char *p, size_t len)
{
	size_t at = 0;
	for (size_t i = 0; i < n; i++) {
		size_t want = i + 1 == n ? len : len / n * (i + 1);
		size_t end = at;
		if (want > at) {
			const char *nl = memchr(p + want - 1, '\n', len - (want - 1));
			end = nl ? (size_t)(nl - p) + 1 : len;
		}
		pt[i].p = p + at;
		pt[i].len = end - at;
		at = end;
	}
}

/* Check the whole lines at the start of *DATA across the pool and hand
 * them to rows_text; *DATA and *LEN move past what was taken.  Taking
 * nothing (0 and *LEN unchanged) leaves the piece to the serial parse. */
static int write_parallel(struct ingest *in, const char **data, size_t *len,
			  struct mlfs_err *err)
{
	struct par_pool *pool = par_default();
	size_t n = (size_t)par_threads(pool);
	if (!in->sink.rows_text || n < 2 || *len < INGEST_PAR_MIN)
		return 0;
	if (!in->have_cols || !csv_reader_between(in->csv)) {
		/* The header, or the record the last piece left unfinished,
		 * goes serially up to its line's end. */
		const char *nl = memchr(*data, '\n', *len);
		size_t k = nl ? (size_t)(nl - *data) + 1 : 0;
		int rc = k ? ingest_fail(in, csv_reader_feed(in->csv, *data, k, err)) : 0;
		*data += k;
		*len -= k;
		if (rc || !k || !in->have_cols || !csv_reader_between(in->csv) ||
		    *len < INGEST_PAR_MIN)
			return rc;
	}
	const char *p = *data, *last = memrchr(p, '\n', *len);
	size_t whole = last ? (size_t)(last - p) + 1 : 0;
	if (whole < INGEST_PAR_MIN || memchr(p, '"', whole) || memchr(p, '\r', whole))
		return 0;
	struct par_part *pt = calloc(n, sizeof(*pt));
	enum col_type *types = calloc(n * in->ncols, sizeof(*types));
	int rc = 0;
	if (!pt || !types)
		goto out;
	parts_split(pt, n, p, whole);
	for (size_t i = 0; i < n; i++) {
		pt[i].in = in;
		pt[i].types = types + i * in->ncols;
		memcpy(pt[i].types, in->types, in->ncols * sizeof(*types));
	}
	par_range(pool, n, part_check, pt);
	if (!parts_agree(in, pt, n))
		goto out;
	uint64_t rows = 0;
	for (size_t i = 0; i < n; i++)
		rows += pt[i].rows;
	memcpy(in->types, pt[n - 1].types, in->ncols * sizeof(*types));
	csv_reader_skip_lines(in->csv, rows);
	rc = ingest_fail(in, in->sink.rows_text(in->ctx, p, whole, rows, err));
	*data += whole;
	*len -= whole;
out:
	free(pt);
	free(types);
	return rc;
}

int ingest_write(struct ingest *in, const char *data, size_t len,
		 struct mlfs_err *err)
{
	int rc = ingest_check(in, err);
	in->fed |= len > 0;
	if (!rc)
		rc = write_parallel(in, &data, &len, err);
	if (!rc && len)
		rc = ingest_fail(in, csv_reader_feed(in->csv, data, len, err));
	return rc;
}

int ingest_flush(struct ingest *in, struct mlfs_err *err)
{
	int rc = ingest_check(in, err);
	if (!rc && in->fed)
		rc = ingest_fail(in, csv_reader_finish(in->csv, err));
	return rc;
}

bool ingest_has_columns(const struct ingest *in)
{
	return in->have_cols;
}

uint32_t ingest_ncols(const struct ingest *in)
{
	return in->ncols;
}

char *const *ingest_names(const struct ingest *in)
{
	return in->names;
}

const enum col_type *ingest_types(const struct ingest *in)
{
	return in->types;
}
