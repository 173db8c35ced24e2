/* test_codec.c - records to bytes and back: every value kind round
 * trips, maps are read by key with defaults, truncated or trailing bytes
 * are refused rather than read past, and container sizes that cannot fit
 * are found before msgpack allocates for them. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec.h"
#include "store_fixture.h"

static void record(struct buf *b)
{
	codec_enc_map(b, 7);
	codec_enc_cstr(b, "id");
	codec_enc_u64(b, 18446744073709551615ull);
	codec_enc_cstr(b, "delta");
	codec_enc_i64(b, -9000000000);
	codec_enc_cstr(b, "mean");
	codec_enc_f64(b, 0.1);
	codec_enc_cstr(b, "on");
	codec_enc_bool(b, true);
	codec_enc_cstr(b, "name");
	codec_enc_str(b, "a\0b", 3);
	codec_enc_cstr(b, "none");
	codec_enc_nil(b);
	codec_enc_cstr(b, "list");
	codec_enc_array(b, 2);
	codec_enc_u64(b, 1);
	codec_enc_bin(b, "xyz", 3);
}

static void round_trip(void **state)
{
	struct buf b = { 0 };
	record(&b);
	struct dec *d = codec_dec_new(b.data, b.len);
	assert_non_null(d);
	struct dval root = codec_dec_root(d), v;
	assert_int_equal(codec_dval_len(root), 7);
	assert_true(codec_dget_u64(root, "id", 0) == 18446744073709551615ull);
	assert_true(codec_dget_i64(root, "delta", 0) == -9000000000);
	assert_true(codec_dget_f64(root, "mean", 0) == 0.1);
	assert_true(codec_dget_bool(root, "on", false));
	const char *p = NULL;
	size_t len = 0;
	assert_true(codec_dval_get(root, "name", &v) && codec_dval_str(v, &p, &len));
	assert_int_equal(len, 3);
	assert_memory_equal(p, "a\0b", 3);
	assert_true(codec_dval_get(root, "none", &v) && codec_dval_is_nil(v));
	assert_true(codec_dval_get(root, "list", &v));
	assert_int_equal(codec_dval_len(v), 2);
	assert_true(codec_dval_str(codec_dval_at(v, 1), &p, &len) && len == 3);
	/* Defaults for what is absent or of another kind. */
	assert_int_equal(codec_dget_u64(root, "missing", 42), 42);
	char small[2];
	assert_false(codec_dget_str(root, "name", small, sizeof(small)));
	uint64_t u;
	assert_false(codec_dval_u64(codec_dval_at(v, 1), &u));
	codec_dec_free(d);
	buf_free(&b);
}

static void refuses_broken_input(void **state)
{
	struct buf b = { 0 };
	record(&b);
	for (size_t n = 0; n < b.len; n++)
		assert_null(codec_dec_new(b.data, n));	/* every truncation */
	buf_putc(&b, 0x01);
	assert_null(codec_dec_new(b.data, b.len));	/* trailing bytes */
	struct dec *d = codec_dec_new(b.data, b.len - 1);
	assert_non_null(d);
	assert_false(codec_dec_reset(d, "\xc1", 1));	/* never used byte */
	assert_true(codec_dec_reset(d, "\x2a", 1));	/* reuse: 42 */
	uint64_t u;
	assert_true(codec_dval_u64(codec_dec_root(d), &u) && u == 42);
	codec_dec_free(d);
	buf_free(&b);
}

/* Sizes that cannot fit are refused before anything is built; whole
 * records always pass. */
static void check_sizes(void **state)
{
	struct buf b = { 0 };
	record(&b);
	assert_true(codec_check_sizes(b.data, b.len));
	for (size_t n = 0; n < b.len; n++)
		assert_false(codec_check_sizes(b.data, n));
	/* An array of 2^32 - 1 items in 5 bytes, and a map of 2^32 - 1. */
	assert_false(codec_check_sizes("\xdd\xff\xff\xff\xff", 5));
	assert_false(codec_check_sizes("\xdf\xff\xff\xff\xff\x01", 6));
	/* Nested: each fits the bytes left, not with what the outer owes. */
	assert_true(codec_check_sizes("\x92\x91\x01\x02", 4));
	assert_false(codec_check_sizes("\x92\x92\x01\x02", 4));
	assert_false(codec_check_sizes("\xc1", 1));
	assert_false(codec_check_sizes("\xd9\x05" "ab", 4));	/* str 8, short */
	buf_free(&b);
}

static void bin_header_matches_bin(void **state)
{
	struct buf a = { 0 }, b = { 0 };
	char h[5];
	for (size_t len = 0; len < 70000; len = len * 3 + 1) {
		buf_reset(&a);
		buf_reset(&b);
		char *body = calloc(len + 1, 1);
		codec_enc_bin(&a, body, len);
		size_t n = codec_enc_bin_header(h, len);
		buf_append(&b, h, n);
		buf_append(&b, body, len);
		assert_int_equal(a.len, b.len);
		assert_memory_equal(a.data, b.data, a.len);
		free(body);
	}
	buf_free(&a);
	buf_free(&b);
}

/* ---- records as tables of fields ---- */

struct rec {
	uint32_t mode;
	uint64_t id, data;
	int64_t t;
	int32_t small;
	double v;
	bool dir;
	char name[8];
	struct buf text;
};

#define F(key, m, t, d) CODEC_FIELD(key, struct rec, m, CODEC_##t, d)
static const struct codec_field rec_fields[] = {
	F("mode", mode, UINT, 0644), F("id", id, UINT, 7), F("t", t, INT, -1),
	F("small", small, INT, 0), F("v", v, F64, 0), F("dir", dir, BOOL, true),
	F("name", name, CSTR, 0), F("text", text, BUF, 0),
	{ "data", CODEC_UINT, offsetof(struct rec, data), sizeof(uint64_t), 0, true },
};
#undef F

/* Every kind round trips through a store (the loaded record owns its
 * bytes: its strings outlive the read); absent fields take their
 * defaults; an omit0 field at 0 is not written. */
static void fields_round_trip(void **state)
{
	struct store_fixture *f = store_fixture_open();
	struct rec a = { .mode = 0700, .id = UINT64_MAX, .t = -9000000000, .small = -5,
			 .v = 0.25, .dir = false, .name = "abc", .data = 0 }, b;
	buf_puts(&a.text, "hello");
	struct buf k = { 0 }, v = { 0 };
	buf_puts(&k, "k");
	struct store_batch *batch = store_batch_new();
	codec_put_fields(batch, &k, &a, rec_fields, 9);
	assert_int_equal(store_write(f->s, batch, false, NULL), 0);
	store_batch_free(batch);
	memset(&b, 0, sizeof(b));
	assert_int_equal(codec_load_fields(f->s, NULL, &k, &b, rec_fields, 9), 0);
	assert_int_equal(b.mode, 0700);
	assert_true(b.id == UINT64_MAX);
	assert_true(b.t == -9000000000);
	assert_int_equal(b.small, -5);
	assert_true(b.v == 0.25);
	assert_false(b.dir);
	assert_string_equal(b.name, "abc");
	assert_int_equal(b.text.len, 5);
	assert_memory_equal(b.text.data, "hello", 5);
	/* data at 0 left out: 8 pairs, not 9. */
	codec_enc_fields(&v, &a, rec_fields, 9, 0);
	struct dec *d = codec_dec_new(v.data, v.len);
	assert_int_equal(codec_dval_len(codec_dec_root(d)), 8);
	codec_dec_free(d);
	/* An empty map: every default. */
	buf_reset(&v);
	codec_enc_map(&v, 0);
	d = codec_dec_new(v.data, v.len);
	struct rec c = { .name = "x" };
	codec_dec_fields(codec_dec_root(d), &c, rec_fields, 9);
	codec_dec_free(d);
	assert_int_equal(c.mode, 0644);
	assert_int_equal(c.id, 7);
	assert_true(c.t == -1);
	assert_true(isnan(c.v));
	assert_true(c.dir);
	assert_string_equal(c.name, "");
	/* Missing and broken records. */
	buf_reset(&k);
	buf_puts(&k, "none");
	assert_int_equal(codec_load_fields(f->s, NULL, &k, &c, rec_fields, 9), -ENOENT);
	assert_int_equal(store_put(f->s, "bad", 3, "\xc1", 1, NULL), 0);
	assert_int_equal(codec_load(f->s, NULL, "bad", 3, &d), -EIO);
	assert_null(d);
	buf_free(&a.text);
	buf_free(&b.text);
	buf_free(&k);
	buf_free(&v);
	store_fixture_close(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip),
		cmocka_unit_test(refuses_broken_input),
		cmocka_unit_test(check_sizes),
		cmocka_unit_test(bin_header_matches_bin),
		cmocka_unit_test(fields_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
