/* test_csv.c - the streaming CSV reader and field writer. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "csv.h"

/* Records joined as "f1|f2\n" so tests compare one string. */
struct collect {
	struct buf out;
	uint64_t last_line;
};

static int collect(void *ctx, const struct csv_field *f, size_t n,
		   uint64_t line, struct mlfs_err *err)
{
	struct collect *c = ctx;
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_putc(&c->out, '|');
		buf_append(&c->out, f[i].p, f[i].len);
	}
	buf_putc(&c->out, '\n');
	c->last_line = line;
	return 0;
}

/* Parse LEN bytes of TEXT fed in pieces of STEP bytes, with a reader
 * that strips a byte order mark when BOM. */
static int parse_len(const char *text, size_t len, size_t step, bool bom,
		     struct collect *c, struct mlfs_err *err)
{
	struct csv_reader *r = csv_reader_new(64, collect, c);
	if (bom)
		csv_reader_strip_bom(r);
	int rc = 0;
	for (size_t i = 0; i < len && !rc; i += step)
		rc = csv_reader_feed(r, text + i, len - i < step ? len - i : step, err);
	if (!rc)
		rc = csv_reader_finish(r, err);
	csv_reader_free(r);
	return rc;
}

static int parse(const char *text, size_t step, struct collect *c,
		 struct mlfs_err *err)
{
	return parse_len(text, strlen(text), step, false, c, err);
}

/* Parse TEXT (LEN bytes) with a reader that strips a byte order mark,
 * the records ending as a C string in C. */
static int parse_bom(const char *text, size_t len, size_t step,
		     struct collect *c, struct mlfs_err *err)
{
	int rc = parse_len(text, len, step, true, c, err);
	buf_putc(&c->out, '\0');
	return rc;
}

/* Excel's "CSV UTF-8" starts with EF BB BF: it is not part of the first
 * column's name, however the writes split it; later ones are data; a
 * character that only starts like the mark (U+FEC0 is EF BB 80) stays. */
static void test_byte_order_mark(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "\xef\xbb\xbf" "id,x\n1,2\n", "id|x\n1|2\n" },
		{ "\xef\xbb\xbf" "id\n\xef\xbb\xbf" "a\n", "id\n\xef\xbb\xbf" "a\n" },
		{ "\xef\xbb\x80" "d,x\n", "\xef\xbb\x80" "d|x\n" },
		{ "\xef\xbb\xbf\xef\xbb\xbf" "v\n", "\xef\xbb\xbf" "v\n" },
		{ "\xef\xbb\xbf", "" },
		{ "a\xef\xbb\xbf,b", "a\xef\xbb\xbf|b\n" },
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		size_t len = strlen(cases[k].in);
		for (size_t step = 1; step <= len; step++) {
			struct collect c = { 0 };
			struct mlfs_err err = { 0 };
			assert_int_equal(parse_bom(cases[k].in, len, step, &c, &err), 0);
			assert_string_equal(c.out.data, cases[k].want);
			buf_free(&c.out);
		}
	}
	/* A lone start of a mark at the end is text, here bad UTF-8. */
	struct collect c = { 0 };
	struct mlfs_err err = { 0 };
	assert_int_equal(parse_bom("\xef\xbb", 2, 1, &c, &err), -EINVAL);
	buf_free(&c.out);
	/* Without csv_reader_strip_bom the mark is kept (stored text). */
	assert_int_equal(parse("\xef\xbb\xbf" "id\n", 4, &c, &err), 0);
	buf_putc(&c.out, '\0');
	assert_string_equal(c.out.data, "\xef\xbb\xbf" "id\n");
	buf_free(&c.out);
}

static void test_pieces_of_any_size(void **state)
{
	const char *text = "a,b,c\r\n1,\"x,\"\"y\"\"\nz\",3\n\n4,,6";
	const char *want = "a|b|c\n1|x,\"y\"\nz|3\n4||6\n";
	for (size_t step = 1; step <= strlen(text); step++) {
		struct collect c = { 0 };
		struct mlfs_err err = { 0 };
		assert_int_equal(parse(text, step, &c, &err), 0);
		assert_string_equal(c.out.data, want);
		assert_int_equal(c.last_line, 5);
		buf_free(&c.out);
	}
}

static void test_unterminated_quote(void **state)
{
	struct collect c = { 0 };
	struct mlfs_err err = { 0 };
	assert_int_equal(parse("a,b\n1,\"open\n", 3, &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "line 2, column 3: unterminated"));
	buf_free(&c.out);
}

static void test_garbage_after_quote(void **state)
{
	struct collect c = { 0 };
	struct mlfs_err err = { 0 };
	assert_int_equal(parse("\"a\"b,c\n", 100, &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "line 1"));
	buf_free(&c.out);
}

static void test_record_too_long(void **state)
{
	char text[200];
	memset(text, 'x', sizeof(text) - 2);
	text[sizeof(text) - 2] = '\n';
	text[sizeof(text) - 1] = '\0';
	for (size_t step = 7; step <= 200; step += 193) {
		struct collect c = { 0 };
		struct mlfs_err err = { 0 };
		assert_int_equal(parse(text, step, &c, &err), -EFBIG);
		buf_free(&c.out);
	}
}

static void test_invalid_utf8(void **state)
{
	struct collect c = { 0 };
	struct mlfs_err err = { 0 };
	assert_int_equal(parse("a,b\nok,\xff\n", 100, &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "line 2, column 2: invalid UTF-8"));
	buf_free(&c.out);
	assert_true(csv_utf8_valid("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", 15));
	assert_false(csv_utf8_valid("\xc3", 1));
	assert_false(csv_utf8_valid("\xc0\x80", 2));		/* overlong */
	assert_false(csv_utf8_valid("\xed\xa0\x80", 3));	/* surrogate */
	assert_false(csv_utf8_valid("abcdefgh\0ijklmnop", 17));	/* NUL, fast path */
	assert_false(csv_utf8_valid("ab\0", 3));			/* NUL, tail */
	assert_true(csv_utf8_valid("abcdefghijklmnop", 16));
}

static void test_put_field_quotes_only_when_needed(void **state)
{
	struct buf b = { 0 };
	csv_put_field(&b, "plain", 5);
	buf_putc(&b, ',');
	csv_put_field(&b, "a,b", 3);
	buf_putc(&b, ',');
	csv_put_field(&b, "say \"hi\"", 8);
	buf_putc(&b, ',');
	csv_put_field(&b, "two\nlines", 9);
	assert_string_equal(b.data, "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\"");
	/* And it reads back to the same fields. */
	struct collect c = { 0 };
	assert_int_equal(csv_parse_all(b.data, b.len, collect, &c, NULL), 0);
	assert_string_equal(c.out.data, "plain|a,b|say \"hi\"|two\nlines\n");
	buf_free(&b);
	buf_free(&c.out);
}

static int stop_at_two(void *ctx, const struct csv_field *f, size_t n,
		       uint64_t line, struct mlfs_err *err)
{
	return line == 2 ? mlfs_fail(err, -EINVAL, "line %llu: no", (unsigned long long)line) : 0;
}

static void test_callback_error_stops_reader(void **state)
{
	struct mlfs_err err = { 0 };
	struct csv_reader *r = csv_reader_new(0, stop_at_two, NULL);
	assert_int_equal(csv_reader_feed(r, "a\nb\nc\n", 6, &err), -EINVAL);
	assert_string_equal(err.msg, "line 2: no");
	assert_int_equal(csv_reader_feed(r, "d\n", 2, &err), -EINVAL);
	csv_reader_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pieces_of_any_size),
		cmocka_unit_test(test_byte_order_mark),
		cmocka_unit_test(test_unterminated_quote),
		cmocka_unit_test(test_garbage_after_quote),
		cmocka_unit_test(test_record_too_long),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_put_field_quotes_only_when_needed),
		cmocka_unit_test(test_callback_error_stops_reader),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
