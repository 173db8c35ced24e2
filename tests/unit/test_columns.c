/* test_columns.c - the columns both kinds of table keep: the meta record
 * form, copies, lookup, the header line and the header part of a read. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "columns.h"

static char *names[] = { "id", "a,b", "when" };
static const enum col_type types[] = { COL_INT, COL_NULL, COL_TIMESTAMP };

static void test_encode_decode_round_trip(void **state)
{
	(void)state;
	struct buf b = { 0 };
	columns_encode(&b, 3, names, types);
	struct dec *d = codec_dec_new(b.data, b.len);
	assert_non_null(d);
	uint32_t n;
	char **nm;
	enum col_type *ty;
	assert_int_equal(columns_decode(codec_dec_root(d), &n, &nm, &ty), 0);
	assert_int_equal(n, 3);
	for (uint32_t i = 0; i < n; i++) {
		assert_string_equal(nm[i], names[i]);
		assert_int_equal(ty[i], types[i]);
	}
	columns_free(n, nm, ty);
	codec_dec_free(d);
	/* A pair that is not two strings is damage. */
	buf_reset(&b);
	codec_enc_array(&b, 1);
	codec_enc_array(&b, 2);
	codec_enc_cstr(&b, "x");
	codec_enc_u64(&b, 7);
	d = codec_dec_new(b.data, b.len);
	assert_int_equal(columns_decode(codec_dec_root(d), &n, &nm, &ty), -EIO);
	codec_dec_free(d);
	buf_free(&b);
}

static void test_copy_index_header(void **state)
{
	(void)state;
	char **nm;
	enum col_type *ty = NULL;
	assert_int_equal(columns_copy(3, names, types, &nm, &ty), 0);
	assert_int_equal(columns_index(3, nm, "a,b", 3), 1);
	assert_int_equal(columns_index(3, nm, "whe", 3), -1);
	assert_int_equal(ty[2], COL_TIMESTAMP);
	columns_free(3, nm, ty);
	/* No columns, no types given: still arrays the caller can free. */
	ty = (enum col_type *)&ty;
	assert_int_equal(columns_copy(0, NULL, NULL, &nm, &ty), 0);
	assert_non_null(nm);
	assert_ptr_not_equal(ty, (enum col_type *)&ty);
	columns_free(0, nm, ty);
	/* Names only (keys). */
	assert_int_equal(columns_copy(2, names, NULL, &nm, NULL), 0);
	assert_string_equal(nm[1], "a,b");
	columns_free(2, nm, NULL);

	struct buf h = { 0 };
	columns_header(&h, 3, names);
	assert_int_equal(h.len, strlen("id,\"a,b\",when\n"));
	assert_memory_equal(h.data, "id,\"a,b\",when\n", h.len);
	columns_header(&h, 0, names);
	assert_int_equal(h.len, 0);
	buf_free(&h);
}

static void test_read_header(void **state)
{
	(void)state;
	struct buf h = { 0 };
	buf_puts(&h, "id,v\n");
	char dst[16];
	size_t len = 16;
	uint64_t off = 2;
	/* A 9-byte file: 3 header bytes from offset 2, then 4 row bytes. */
	assert_int_equal(columns_read_header(&h, 9, dst, &len, &off), 3);
	assert_memory_equal(dst, ",v\n", 3);
	assert_int_equal(len, 7);
	assert_int_equal(off, 5);
	len = 16;
	off = 6;
	assert_int_equal(columns_read_header(&h, 9, dst, &len, &off), 0);
	assert_int_equal(len, 3);
	assert_int_equal(off, 6);
	len = 16;
	off = 9;
	assert_int_equal(columns_read_header(&h, 9, dst, &len, &off), 0);
	assert_int_equal(len, 0);
	buf_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_decode_round_trip),
		cmocka_unit_test(test_copy_index_header),
		cmocka_unit_test(test_read_header),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
