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

/* Parse TEXT fed in pieces of STEP bytes. */
static int parse(const char *text, size_t step, struct collect *c,
		 struct mlfs_err *err)
{
	struct csv_reader *r = csv_reader_new(64, collect, c);
	size_t len = strlen(text);
	int rc = 0;
	for (size_t i = 0; i < len && !rc; i += step)
		rc = csv_reader_feed(r, text + i, len - i < step ? len - i : step, err);
	if (!rc)
		rc = csv_reader_finish(r, err);
	csv_reader_free(r);
	return rc;
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
		cmocka_unit_test(test_unterminated_quote),
		cmocka_unit_test(test_garbage_after_quote),
		cmocka_unit_test(test_record_too_long),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_put_field_quotes_only_when_needed),
		cmocka_unit_test(test_callback_error_stops_reader),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
