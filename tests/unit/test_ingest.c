/* test_ingest.c - the CSV front end of tables and feature tables: the
 * header rule, header and row checks, typing and the failure latch. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "ingest.h"

/* What the sink saw: "H" (header) or "T" (the table's columns) with the
 * write's columns, then each row as "f1|f2", one a line. */
struct seen {
	struct ingest *in;
	struct buf out;
};

static int on_columns(void *ctx, bool header, uint64_t line,
		      struct mlfs_err *err)
{
	struct seen *s = ctx;
	(void)err;
	buf_printf(&s->out, "%s%llu:", header ? "H" : "T", (unsigned long long)line);
	for (uint32_t i = 0; i < ingest_ncols(s->in); i++)
		buf_printf(&s->out, "%s%s", i ? "|" : "", ingest_names(s->in)[i]);
	return buf_putc(&s->out, '\n');
}

static int on_row(void *ctx, const struct csv_field *f, size_t n,
		  uint64_t line, struct mlfs_err *err)
{
	struct seen *s = ctx;
	(void)line;
	(void)err;
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_putc(&s->out, '|');
		buf_append(&s->out, f[i].p, f[i].len);
	}
	return buf_putc(&s->out, '\n');
}

static char *names_ab[] = { "a", "b" };
static const enum col_type types_ab[] = { COL_INT, COL_STRING };
/* The table (a int, b string). */
#define TABLE_AB(decl, repl, hdr) { .ncols = 2, .names = names_ab, \
	.types = types_ab, .declared = (decl), .replace = (repl), .header = (hdr) }

/* Feed TEXT in pieces of STEP bytes into a front end over table T, then
 * flush.  Returns the status; S->out holds what the sink saw. */
static int run(const struct ingest_table *t, const char *text, size_t step,
	       struct seen *s, struct mlfs_err *err)
{
	static const struct ingest_sink sink = { on_columns, on_row, NULL };
	memset(s, 0, sizeof(*s));
	assert_int_equal(ingest_new(t, &sink, s, &s->in), 0);
	size_t len = strlen(text);
	int rc = 0;
	for (size_t off = 0; off < len && !rc; off += step)
		rc = ingest_write(s->in, text + off, len - off < step ? len - off : step, err);
	if (!rc)
		rc = ingest_flush(s->in, err);
	buf_putc(&s->out, '\0');
	return rc;
}

static void done(struct seen *s)
{
	ingest_free(s->in);
	buf_free(&s->out);
}

static void test_replace_takes_the_first_line(void **state)
{
	(void)state;
	struct ingest_table t = TABLE_AB(false, true, INGEST_ANY_COLUMNS);
	struct seen s;
	assert_int_equal(run(&t, "x, y \n1,2\n", 3, &s, NULL), 0);
	assert_string_equal(s.out.data, "H1:x|y\n1|2\n");
	/* Inferred afresh, not the table's types. */
	assert_int_equal(ingest_types(s.in)[0], COL_INT);
	assert_int_equal(ingest_types(s.in)[1], COL_INT);
	done(&s);
}

static void test_append_header_rule(void **state)
{
	(void)state;
	struct ingest_table t = TABLE_AB(false, false, INGEST_SAME_COLUMNS);
	struct seen s;
	/* The header again, after a byte order mark split over pieces. */
	assert_int_equal(run(&t, "\xef\xbb\xbf a ,b\n1,2\n", 1, &s, NULL), 0);
	assert_string_equal(s.out.data, "H1:a|b\n1|2\n");
	done(&s);
	/* Not every field names a column: rows in the table's columns. */
	assert_int_equal(run(&t, "1,2\n3,x\n", 4, &s, NULL), 0);
	assert_string_equal(s.out.data, "T1:a|b\n1|2\n3|x\n");
	done(&s);
	/* Quoted blanks are part of a name: " a" names no column. */
	assert_int_equal(run(&t, "\" a\",\"b \"\n", 64, &s, NULL), 0);
	assert_string_equal(s.out.data, "T1:a|b\n a|b \n");
	assert_int_equal(ingest_types(s.in)[0], COL_STRING);
	done(&s);
}

static void test_partial_header_is_a_header(void **state)
{
	(void)state;
	struct mlfs_err err = { 0 };
	struct ingest_table t = TABLE_AB(false, false, INGEST_SAME_COLUMNS);
	struct seen s;
	/* Every field names a column: a header, refused out of order. */
	assert_int_equal(run(&t, "b,a\n2,1\n", 64, &s, &err), -EINVAL);
	assert_string_equal(err.msg, "line 1, column 1: the header does not match the table's columns in order; nothing written");
	done(&s);
	/* Some of the columns only: a header too, refused. */
	assert_int_equal(run(&t, "a\n", 64, &s, &err), -EINVAL);
	assert_string_equal(err.msg, "line 1, column 2: the header does not match the table's columns in order; nothing written");
	done(&s);
	/* Any columns (a feature table): a header when it holds the needed
	 * names; named by the header, typed from the table by name. */
	static const char *const need_b[] = { "b" };
	t.header = INGEST_ANY_COLUMNS;
	t.need = need_b;
	t.nneed = 1;
	assert_int_equal(run(&t, "c, b \n1,x\n", 64, &s, NULL), 0);
	assert_string_equal(s.out.data, "H1:c|b\n1|x\n");
	assert_int_equal(ingest_types(s.in)[0], COL_INT);
	assert_int_equal(ingest_types(s.in)[1], COL_STRING);
	done(&s);
}

/* A first row of an append whose value is a column's name is a row: for
 * a table unless every field names a column, for a feature table unless
 * it holds every needed name (keys, timestamp key). */
static void test_value_naming_a_column_is_a_row(void **state)
{
	(void)state;
	struct ingest_table t = TABLE_AB(false, false, INGEST_SAME_COLUMNS);
	struct seen s;
	assert_int_equal(run(&t, "1,a\n2,b\n", 64, &s, NULL), 0);
	assert_string_equal(s.out.data, "T1:a|b\n1|a\n2|b\n");
	done(&s);
	assert_int_equal(run(&t, "1, b \n", 64, &s, NULL), 0);
	assert_string_equal(s.out.data, "T1:a|b\n1| b \n");
	done(&s);
	/* A feature table keyed by a: b's name as a value is a row. */
	static const char *const need_a[] = { "a" };
	t.header = INGEST_ANY_COLUMNS;
	t.need = need_a;
	t.nneed = 1;
	assert_int_equal(run(&t, "1,b\n", 64, &s, NULL), 0);
	assert_string_equal(s.out.data, "T1:a|b\n1|b\n");
	done(&s);
	/* ... and so is a line holding b and a new name, without the key. */
	assert_int_equal(run(&t, "b,c\n", 64, &s, NULL), 0);
	assert_string_equal(s.out.data, "T1:a|b\nb|c\n");
	assert_int_equal(ingest_types(s.in)[0], COL_STRING);
	done(&s);
}

static void test_bad_headers(void **state)
{
	(void)state;
	struct ingest_table t = { .header = INGEST_ANY_COLUMNS };
	static const struct { const char *text, *msg; } cases[] = {
		{ "a,b,a\n", "line 1, column 3: duplicate column 'a'" },
		{ "a,\n", "line 1, column 2: empty column name in header" },
		{ "a,\"b\nc\"\n", "line 1, column 2: bad column name" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mlfs_err err = { 0 };
		struct seen s;
		assert_int_equal(run(&t, cases[i].text, 64, &s, &err), -EINVAL);
		assert_non_null(strstr(err.msg, cases[i].msg));
		done(&s);
	}
}

static void test_rows_checked_and_latched(void **state)
{
	(void)state;
	struct mlfs_err err = { 0 };
	struct ingest_table t = TABLE_AB(true, false, INGEST_SAME_COLUMNS);
	struct seen s;
	assert_int_equal(run(&t, "1,x\n2\n", 64, &s, &err), -EINVAL);
	assert_string_equal(err.msg, "line 2, column 2: expected 2 fields, found 1");
	assert_true(ingest_failed(s.in));
	assert_int_equal(ingest_write(s.in, "3,y\n", 4, &err), -EINVAL);
	assert_string_equal(err.msg, "an earlier write to this file failed");
	assert_int_equal(ingest_check(s.in, NULL), -EINVAL);
	done(&s);
	/* Declared: a value that does not fit is refused. */
	assert_int_equal(run(&t, "1,x\n2.5,y\n", 64, &s, &err), -EINVAL);
	assert_string_equal(err.msg, "line 2, column 1: '2.5' is not a valid int for column 'a'");
	done(&s);
	/* Inferred: the type widens; nan is refused in a numeric column. */
	t.declared = false;
	assert_int_equal(run(&t, "1,x\n2.5,y\n", 64, &s, NULL), 0);
	assert_int_equal(ingest_types(s.in)[0], COL_FLOAT);
	done(&s);
	assert_int_equal(run(&t, "nan,x\n", 64, &s, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "line 1, column 1: 'nan' is not a finite number"));
	done(&s);
}

static void test_flush_keeps_counting_lines(void **state)
{
	(void)state;
	struct mlfs_err err = { 0 };
	struct ingest_table t = TABLE_AB(false, false, INGEST_SAME_COLUMNS);
	struct seen s;
	assert_int_equal(run(&t, "1,x", 64, &s, NULL), 0);
	assert_string_equal(s.out.data, "T1:a|b\n1|x\n");
	assert_int_equal(ingest_write(s.in, "2,y\n3\n", 6, &err), -EINVAL);
	assert_string_equal(err.msg, "line 3, column 2: expected 2 fields, found 1");
	done(&s);
}

static void test_flush_before_text_keeps_the_mark(void **state)
{
	(void)state;
	static const struct ingest_sink sink = { on_columns, on_row, NULL };
	struct ingest_table t = TABLE_AB(false, false, INGEST_SAME_COLUMNS);
	struct seen s = { 0 };
	assert_int_equal(ingest_new(&t, &sink, &s, &s.in), 0);
	assert_int_equal(ingest_flush(s.in, NULL), 0);
	assert_int_equal(ingest_write(s.in, "\xef\xbb\xbf" "a,b\n1,2\n", 11, NULL), 0);
	assert_int_equal(ingest_flush(s.in, NULL), 0);
	buf_putc(&s.out, '\0');
	assert_string_equal(s.out.data, "H1:a|b\n1|2\n");
	done(&s);
}

/* ---- large pieces checked across the pool (MLFS_THREADS=3 in main) ---- */

/* The rows_text sink: the lines as on_row shows rows ("f1|f2"), and how
 * many rows came this way. */
static uint64_t bulk_rows;

static int on_rows_text(void *ctx, const char *text, size_t len,
			uint64_t nrows, struct mlfs_err *err)
{
	struct seen *s = ctx;
	(void)err;
	for (size_t i = 0; i < len; i++)
		buf_putc(&s->out, text[i] == ',' ? '|' : text[i]);
	bulk_rows += nrows;
	return 0;
}

/* Rows "I,vI" for I in [FROM, FROM + N) into B; the row numbered BAD
 * (when in range) reads TEXT instead. */
static void gen_rows(struct buf *b, size_t from, size_t n, size_t bad,
		     const char *text)
{
	for (size_t i = from; i < from + n; i++) {
		if (i == bad)
			buf_puts(b, text);
		else
			buf_printf(b, "%zu,v%zu\n", i, i);
	}
}

/* TEXT in pieces: its first line alone, then pieces of STEP bytes, into a
 * front end over T whose sink takes rows_text when BULK.  Returns the
 * status; S->out holds what the sink saw. */
static int run_pieces(const struct ingest_table *t, const struct buf *text,
		      size_t step, bool bulk, struct seen *s,
		      struct mlfs_err *err)
{
	static const struct ingest_sink serial = { on_columns, on_row, NULL };
	static const struct ingest_sink pooled = { on_columns, on_row, on_rows_text };
	memset(s, 0, sizeof(*s));
	bulk_rows = 0;
	assert_int_equal(ingest_new(t, bulk ? &pooled : &serial, s, &s->in), 0);
	size_t first = (size_t)((const char *)memchr(text->data, '\n', text->len) - text->data) + 1;
	int rc = ingest_write(s->in, text->data, first, err);
	for (size_t off = first; off < text->len && !rc; off += step) {
		size_t n = text->len - off < step ? text->len - off : step;
		rc = ingest_write(s->in, text->data + off, n, err);
	}
	if (!rc)
		rc = ingest_flush(s->in, err);
	buf_putc(&s->out, '\0');
	return rc;
}

/* Both ways over T: the same status, message, sink output and types;
 * at least MIN_BULK rows (none when 0) through rows_text. */
static void same_both_ways(const struct ingest_table *t, const struct buf *text,
			   size_t step, int want_rc, uint64_t min_bulk)
{
	struct mlfs_err e1 = { 0 }, e2 = { 0 };
	struct seen a, b;
	assert_int_equal(run_pieces(t, text, step, false, &a, &e1), want_rc);
	assert_int_equal(bulk_rows, 0);
	assert_int_equal(run_pieces(t, text, step, true, &b, &e2), want_rc);
	assert_true(min_bulk ? bulk_rows >= min_bulk : bulk_rows == 0);
	assert_string_equal(e1.msg, e2.msg);
	assert_string_equal(a.out.data, b.out.data);
	assert_memory_equal(ingest_types(a.in), ingest_types(b.in),
			    ingest_ncols(a.in) * sizeof(enum col_type));
	done(&a);
	done(&b);
}

static void test_large_pieces_checked_across_the_pool(void **state)
{
	(void)state;
	struct ingest_table t = TABLE_AB(true, false, INGEST_SAME_COLUMNS);
	struct buf text = { 0 };
	gen_rows(&text, 1, 60000, 0, NULL);
	/* Pieces that end mid-line carry the rest into the next one. */
	same_both_ways(&t, &text, 300000, 0, 59990);
	same_both_ways(&t, &text, 1 << 20, 0, 59990);
	/* Small pieces never take the pool. */
	same_both_ways(&t, &text, 4096, 0, 0);
	/* Blank lines and CRLF: the serial parse, lines counted alike. */
	buf_reset(&text);
	gen_rows(&text, 1, 20000, 0, NULL);
	buf_puts(&text, "\n20001,a\r\n");
	gen_rows(&text, 20002, 20000, 40000, "x,y\n");
	same_both_ways(&t, &text, 1 << 20, -EINVAL, 0);
	buf_free(&text);
}

/* 60,000 rows "I,vI" (row I on line I) in one pooled piece over T, row
 * BAD reading ROW: the write fails with MSG, as the serial parse's, and
 * the front end stays failed. */
static void bad_in_piece(const struct ingest_table *t, size_t bad,
			 const char *row, const char *msg)
{
	struct buf text = { 0 };
	struct mlfs_err err = { 0 };
	struct seen s;
	gen_rows(&text, 1, 60000, bad, row);
	same_both_ways(t, &text, 1 << 20, -EINVAL, 0);
	assert_int_equal(run_pieces(t, &text, 1 << 20, true, &s, &err), -EINVAL);
	assert_string_equal(err.msg, msg);
	assert_true(ingest_failed(s.in));
	assert_int_equal(ingest_write(s.in, "1,x\n", 4, &err), -EINVAL);
	done(&s);
	buf_free(&text);
}

static void test_bad_row_in_a_pooled_piece(void **state)
{
	(void)state;
	struct ingest_table t = TABLE_AB(true, false, INGEST_SAME_COLUMNS);
	/* In the last and the middle third of the piece. */
	bad_in_piece(&t, 50000, "oops,z\n",
		     "line 50000, column 1: 'oops' is not a valid int for column 'a'");
	bad_in_piece(&t, 30000, "7\n", "line 30000, column 2: expected 2 fields, found 1");
	/* Bad UTF-8 in a part: the serial parse says where. */
	bad_in_piece(&t, 45000, "45000,caf\xc3\n",
		     "line 45000, column 2: invalid UTF-8 or a NUL byte");
}

static void test_widening_in_a_pooled_piece(void **state)
{
	(void)state;
	struct ingest_table t = TABLE_AB(false, false, INGEST_SAME_COLUMNS);
	struct buf text = { 0 };
	struct seen s;
	/* A float early in the piece: column a is float after it, though the
	 * later parts saw only ints. */
	gen_rows(&text, 1, 60000, 100, "2.5,w\n");
	same_both_ways(&t, &text, 1 << 20, 0, 0);
	assert_int_equal(run_pieces(&t, &text, 1 << 20, true, &s, NULL), 0);
	assert_int_equal(ingest_types(s.in)[0], COL_FLOAT);
	done(&s);
	/* In the last part: taken from the pool, widened all the same. */
	buf_reset(&text);
	gen_rows(&text, 1, 60000, 59000, "2.5,w\n");
	same_both_ways(&t, &text, 1 << 20, 0, 59990);
	assert_int_equal(run_pieces(&t, &text, 1 << 20, true, &s, NULL), 0);
	assert_int_equal(ingest_types(s.in)[0], COL_FLOAT);
	done(&s);
	/* Text early makes a string column, where 1e400 later is a value. */
	buf_reset(&text);
	gen_rows(&text, 1, 30000, 100, "abc,w\n");
	gen_rows(&text, 30001, 30000, 50000, "1e400,w\n");
	same_both_ways(&t, &text, 1 << 20, 0, 0);
	assert_int_equal(run_pieces(&t, &text, 1 << 20, true, &s, NULL), 0);
	assert_int_equal(ingest_types(s.in)[0], COL_STRING);
	done(&s);
	buf_free(&text);
}

int main(void)
{
	setenv("MLFS_THREADS", "3", 1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replace_takes_the_first_line),
		cmocka_unit_test(test_append_header_rule),
		cmocka_unit_test(test_partial_header_is_a_header),
		cmocka_unit_test(test_value_naming_a_column_is_a_row),
		cmocka_unit_test(test_bad_headers),
		cmocka_unit_test(test_rows_checked_and_latched),
		cmocka_unit_test(test_flush_keeps_counting_lines),
		cmocka_unit_test(test_flush_before_text_keeps_the_mark),
		cmocka_unit_test(test_large_pieces_checked_across_the_pool),
		cmocka_unit_test(test_bad_row_in_a_pooled_piece),
		cmocka_unit_test(test_widening_in_a_pooled_piece),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
