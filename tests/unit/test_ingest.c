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
	static const struct ingest_sink sink = { on_columns, on_row };
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
	static const struct ingest_sink sink = { on_columns, on_row };
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replace_takes_the_first_line),
		cmocka_unit_test(test_append_header_rule),
		cmocka_unit_test(test_partial_header_is_a_header),
		cmocka_unit_test(test_value_naming_a_column_is_a_row),
		cmocka_unit_test(test_bad_headers),
		cmocka_unit_test(test_rows_checked_and_latched),
		cmocka_unit_test(test_flush_keeps_counting_lines),
		cmocka_unit_test(test_flush_before_text_keeps_the_mark),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
