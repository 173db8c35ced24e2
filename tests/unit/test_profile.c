/* test_profile.c - column profiles: numeric columns small (every value,
 * moments by hand) and large (the sample's ranks against qsort and a slow
 * reference for the moments), nulls, categorical counts in byte order,
 * frames with a keep mask, the msgpack round trip, and damaged bytes
 * (every prefix, random bytes, hand-made lies) refused without a crash. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec.h"
#include "frame.h"
#include "profile.h"

static uint64_t rng = 88172645463325252ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Equal, NaN equal to NaN. */
static void assert_same(double a, double b)
{
	if (!(a == b || (isnan(a) && isnan(b))))
		fail_msg("%.17g != %.17g", a, b);
}

static void numeric_small(void **state)
{
	struct profile_builder *b = profile_builder_new();
	assert_int_equal(profile_builder_column(b, "x", PROFILE_NUMERIC), 0);
	assert_int_equal(profile_builder_column(b, "x", PROFILE_CATEGORICAL), -EINVAL);
	assert_int_equal(profile_builder_column(b, "", PROFILE_NUMERIC), -EINVAL);
	assert_int_equal(profile_builder_column(b, "never", PROFILE_NUMERIC), 1);
	const double x[] = { 3, 1, NAN, 2, 4 };
	for (size_t i = 0; i < 5; i++) {
		profile_builder_number(b, 0, x[i]);
		profile_builder_number(b, 0, 100);	/* a second value: ignored */
		profile_builder_number(b, 9, 100);	/* no such column */
		profile_builder_row(b);
	}
	/* Text is parsed as a frame does; what is no number is a null. */
	const char *text[] = { "5", "abc", NULL, "", "nan", "true", "1970-01-03" };
	for (size_t i = 0; i < 7; i++) {
		profile_builder_text(b, 0, text[i], text[i] ? strlen(text[i]) : 0);
		profile_builder_row(b);
	}
	/* Added late: the rows before count as nulls. */
	assert_int_equal(profile_builder_column(b, "late", PROFILE_NUMERIC), 2);
	profile_builder_number(b, 2, -1.5);
	profile_builder_number(b, 0, 0.5);
	/* No profile_builder_row: finish closes the row. */
	struct profile *p = profile_builder_finish(b);
	assert_int_equal(p->rows, 13);
	assert_int_equal(p->ncols, 3);
	const struct profile_col *c = profile_find(p, "x");
	assert_ptr_equal(c, &p->cols[0]);
	assert_int_equal(c->kind, PROFILE_NUMERIC);
	/* 3 1 2 4 5 1 2 0.5; nulls: NaN, abc, NULL, "", nan */
	const double want[] = { 0.5, 1, 1, 2, 2, 3, 4, 5 };
	assert_int_equal(c->count, 8);
	assert_int_equal(c->nulls, 5);
	assert_int_equal(c->nsample, 8);
	for (size_t i = 0; i < 8; i++)
		assert_same(c->sample[i], want[i]);
	assert_same(c->mean, 18.5 / 8);
	double ss = 0;
	for (size_t i = 0; i < 8; i++)
		ss += (want[i] - 18.5 / 8) * (want[i] - 18.5 / 8);
	assert_true(fabs(c->std - sqrt(ss / 8)) < 1e-15);
	assert_same(c->min, 0.5);
	assert_same(c->max, 5);
	assert_null(c->cats);
	c = profile_find(p, "never");
	assert_int_equal(c->count, 0);
	assert_int_equal(c->nulls, 13);
	assert_int_equal(c->nsample, 0);
	assert_true(isnan(c->mean) && isnan(c->std) && isnan(c->min) && isnan(c->max));
	c = profile_find(p, "late");
	assert_int_equal(c->count, 1);
	assert_int_equal(c->nulls, 12);
	assert_same(c->std, 0);
	assert_null(profile_find(p, "nope"));
	profile_free(p);
	profile_free(NULL);
	profile_builder_free(NULL);
	/* An unfinished builder is freed whole (ASan sees any leak). */
	b = profile_builder_new();
	profile_builder_column(b, "c", PROFILE_CATEGORICAL);
	profile_builder_text(b, 0, "v", 1);
	profile_builder_free(b);
}

/* N values (many repeated) profiled and checked against qsort. */
static void check_large(size_t n)
{
	double *x = malloc(n * sizeof(*x));
	struct profile_builder *b = profile_builder_new();
	assert_int_equal(profile_builder_column(b, "v", PROFILE_NUMERIC), 0);
	for (size_t i = 0; i < n; i++) {
		uint64_t r = next();
		x[i] = r % 3 ? (double)(r >> 11) / 9007199254740992.0 * 1000 - 300
			     : (double)(r % 50);
		profile_builder_number(b, 0, x[i]);
		profile_builder_row(b);
	}
	struct profile *p = profile_builder_finish(b);
	const struct profile_col *c = &p->cols[0];
	qsort(x, n, sizeof(*x), cmp_double);
	assert_int_equal(c->count, n);
	assert_int_equal(c->nsample, PROFILE_SAMPLE);
	for (size_t i = 0; i < PROFILE_SAMPLE; i++) {
		size_t rank = (size_t)floor((i + 0.5) * (double)n / PROFILE_SAMPLE);
		if (c->sample[i] != x[rank])
			fail_msg("sample[%zu] = %g, sorted[%zu] = %g", i, c->sample[i], rank, x[rank]);
	}
	/* The slow, obvious reference: two passes in double. */
	double sum = 0, ss = 0;
	for (size_t i = 0; i < n; i++)
		sum += x[i];
	double mean = sum / (double)n;
	for (size_t i = 0; i < n; i++)
		ss += (x[i] - mean) * (x[i] - mean);
	assert_true(fabs(c->mean - mean) < 1e-9 * fabs(mean) + 1e-12);
	assert_true(fabs(c->std - sqrt(ss / (double)n)) < 1e-9 * sqrt(ss / (double)n));
	assert_same(c->min, x[0]);
	assert_same(c->max, x[n - 1]);
	profile_free(p);
	free(x);
}

static void numeric_large(void **state)
{
	check_large(100000);
	check_large(PROFILE_SAMPLE + 1);
	/* Exactly PROFILE_SAMPLE: every value. */
	struct profile_builder *b = profile_builder_new();
	profile_builder_column(b, "v", PROFILE_NUMERIC);
	for (int i = PROFILE_SAMPLE; i > 0; i--) {
		profile_builder_number(b, 0, i);
		profile_builder_row(b);
	}
	struct profile *p = profile_builder_finish(b);
	assert_int_equal(p->cols[0].nsample, PROFILE_SAMPLE);
	for (size_t i = 0; i < PROFILE_SAMPLE; i++)
		assert_same(p->cols[0].sample[i], (double)(i + 1));
	profile_free(p);
}

static void categorical(void **state)
{
	struct profile_builder *b = profile_builder_new();
	assert_int_equal(profile_builder_column(b, "c", PROFILE_CATEGORICAL), 0);
	const char *v[] = { "b", "a", "c", "a", "", NULL, "B", "b" };
	for (size_t i = 0; i < 8; i++) {
		profile_builder_text(b, 0, v[i], v[i] ? strlen(v[i]) : 0);
		profile_builder_row(b);
	}
	profile_builder_text(b, 0, "b\0tail", 6);	/* up to the NUL */
	profile_builder_row(b);
	profile_builder_number(b, 0, 1);		/* buf_fmt_double's text */
	profile_builder_row(b);
	profile_builder_number(b, 0, NAN);
	profile_builder_row(b);
	struct profile *p = profile_builder_finish(b);
	const struct profile_col *c = &p->cols[0];
	const char *names[] = { "1.0", "B", "a", "b", "c" };
	const uint64_t counts[] = { 1, 1, 2, 3, 1 };
	assert_int_equal(p->rows, 11);
	assert_int_equal(c->kind, PROFILE_CATEGORICAL);
	assert_int_equal(c->count, 8);
	assert_int_equal(c->nulls, 3);
	assert_int_equal(c->ncats, 5);
	for (size_t i = 0; i < 5; i++) {
		assert_string_equal(c->cats[i], names[i]);
		assert_int_equal(c->cat_counts[i], counts[i]);
	}
	assert_int_equal(c->nsample, 0);
	profile_free(p);

	/* Many distinct values: the table grows; sorted by bytes. */
	char s[32];
	b = profile_builder_new();
	profile_builder_column(b, "k", PROFILE_CATEGORICAL);
	for (int i = 0; i < 30000; i++) {
		int n = snprintf(s, sizeof(s), "key%d", i % 10000);
		profile_builder_text(b, 0, s, (size_t)n);
		profile_builder_row(b);
	}
	p = profile_builder_finish(b);
	c = &p->cols[0];
	assert_int_equal(c->ncats, 10000);
	for (size_t i = 0; i < c->ncats; i++) {
		assert_int_equal(c->cat_counts[i], 3);
		if (i)
			assert_true(strcmp(c->cats[i - 1], c->cats[i]) < 0);
	}
	profile_free(p);
}

static void from_frame(void **state)
{
	const char *csv = "x,c,d\n1,a,2026-01-02\n2,b,\n,a,\n4,,\n5,c,1970-01-02\n";
	struct frame *f = NULL;
	struct mlfs_err err = { 0 };
	assert_int_equal(frame_load_csv_buf(csv, strlen(csv), NULL, &f, &err), 0);
	const bool keep[] = { true, false, true, true, true };
	struct profile *p = profile_from_frame(f, keep);
	assert_int_equal(p->rows, 4);
	assert_int_equal(p->ncols, 3);
	const struct profile_col *x = &p->cols[0], *c = &p->cols[1], *d = &p->cols[2];
	assert_string_equal(x->name, "x");
	assert_int_equal(x->kind, PROFILE_NUMERIC);
	assert_int_equal(x->count, 3);
	assert_int_equal(x->nulls, 1);
	assert_int_equal(x->nsample, 3);
	assert_same(x->sample[0], 1);
	assert_same(x->sample[1], 4);
	assert_same(x->sample[2], 5);
	assert_same(x->mean, 10.0 / 3);
	assert_string_equal(c->name, "c");
	assert_int_equal(c->kind, PROFILE_CATEGORICAL);
	assert_int_equal(c->count, 3);
	assert_int_equal(c->nulls, 1);
	assert_int_equal(c->ncats, 2);	/* b is only in the row left out */
	assert_string_equal(c->cats[0], "a");
	assert_int_equal(c->cat_counts[0], 2);
	assert_string_equal(c->cats[1], "c");
	assert_int_equal(c->cat_counts[1], 1);
	assert_int_equal(d->kind, PROFILE_NUMERIC);	/* dates: days */
	assert_int_equal(d->count, 2);
	assert_same(d->sample[0], 1);
	assert_same(d->sample[1], 20455);
	profile_free(p);
	/* No mask: every row. */
	p = profile_from_frame(f, NULL);
	assert_int_equal(p->rows, 5);
	assert_int_equal(p->cols[1].ncats, 3);
	assert_int_equal(p->cols[1].count, 4);
	profile_free(p);
	frame_free(f);
}

/* A profile of every kind of column: small, large, empty, categorical. */
static struct profile *sample_profile(void)
{
	struct profile_builder *b = profile_builder_new();
	profile_builder_column(b, "small", PROFILE_NUMERIC);
	profile_builder_column(b, "large", PROFILE_NUMERIC);
	profile_builder_column(b, "empty", PROFILE_NUMERIC);
	profile_builder_column(b, "cat", PROFILE_CATEGORICAL);
	profile_builder_column(b, "empty_cat", PROFILE_CATEGORICAL);
	for (int i = 0; i < PROFILE_SAMPLE + 1000; i++) {
		if (i < 20)
			profile_builder_number(b, 0, i % 7 ? i * 0.25 : -INFINITY);
		profile_builder_number(b, 1, (double)(next() % 100000) / 7);
		const char *s = i % 3 ? "yes" : i % 5 ? "no" : "maybe";
		profile_builder_text(b, 3, s, strlen(s));
		profile_builder_row(b);
	}
	return profile_builder_finish(b);
}

static void assert_profiles_equal(const struct profile *a, const struct profile *b)
{
	assert_int_equal(a->rows, b->rows);
	assert_int_equal(a->ncols, b->ncols);
	for (size_t i = 0; i < a->ncols; i++) {
		const struct profile_col *x = &a->cols[i], *y = &b->cols[i];
		assert_string_equal(x->name, y->name);
		assert_int_equal(x->kind, y->kind);
		assert_int_equal(x->count, y->count);
		assert_int_equal(x->nulls, y->nulls);
		assert_same(x->mean, y->mean);
		assert_same(x->std, y->std);
		assert_same(x->min, y->min);
		assert_same(x->max, y->max);
		assert_int_equal(x->nsample, y->nsample);
		for (size_t k = 0; k < x->nsample; k++)
			assert_same(x->sample[k], y->sample[k]);
		assert_int_equal(x->ncats, y->ncats);
		for (size_t k = 0; k < x->ncats; k++) {
			assert_string_equal(x->cats[k], y->cats[k]);
			assert_int_equal(x->cat_counts[k], y->cat_counts[k]);
		}
	}
}

static void round_trip(void **state)
{
	struct profile *p = sample_profile(), *q = NULL;
	struct buf a = { 0 }, b = { 0 };
	struct mlfs_err err = { 0 };
	assert_int_equal(p->cols[0].count, 20);
	assert_int_equal(p->cols[1].nsample, PROFILE_SAMPLE);
	profile_encode(p, &a);
	if (profile_decode(a.data, a.len, &q, &err))
		fail_msg("decode: %s", err.msg);
	assert_profiles_equal(p, q);
	profile_encode(q, &b);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	assert_non_null(profile_find(q, "empty_cat"));
	assert_int_equal(profile_find(q, "empty_cat")->nulls, PROFILE_SAMPLE + 1000);
	profile_free(p);
	profile_free(q);
	buf_free(&a);
	buf_free(&b);
}

/* Decode DATA: never a crash; when accepted, the invariants hold. */
static int try_decode(const char *data, size_t len)
{
	static struct profile sentinel;
	struct profile *p = &sentinel;	/* must be overwritten */
	struct mlfs_err err = { 0 };
	int rc = profile_decode(data, len, &p, &err);
	if (rc) {
		assert_null(p);
		assert_int_equal(err.code, rc);
		return rc;
	}
	for (size_t i = 0; i < p->ncols; i++) {
		const struct profile_col *c = &p->cols[i];
		assert_int_equal(c->count + c->nulls, p->rows);
		for (size_t k = 1; k < c->nsample; k++)
			assert_true(c->sample[k - 1] <= c->sample[k]);
	}
	profile_free(p);
	return 0;
}

/* A one-column profile map with the numeric column's fields given. */
static void enc_numeric(struct buf *b, const char *format, uint64_t version,
			uint64_t rows, uint64_t count, uint64_t nulls,
			const double *sample, size_t n)
{
	codec_enc_map(b, 4);
	codec_enc_cstr(b, "format");
	codec_enc_cstr(b, format);
	codec_enc_cstr(b, "version");
	codec_enc_u64(b, version);
	codec_enc_cstr(b, "rows");
	codec_enc_u64(b, rows);
	codec_enc_cstr(b, "cols");
	codec_enc_array(b, 1);
	codec_enc_map(b, 9);
	codec_enc_cstr(b, "name");
	codec_enc_cstr(b, "x");
	codec_enc_cstr(b, "kind");
	codec_enc_cstr(b, "numeric");
	codec_enc_cstr(b, "count");
	codec_enc_u64(b, count);
	codec_enc_cstr(b, "nulls");
	codec_enc_u64(b, nulls);
	const char *keys[] = { "mean", "std", "min", "max" };
	for (int k = 0; k < 4; k++) {
		codec_enc_cstr(b, keys[k]);
		codec_enc_f64(b, k == 2 ? -1e9 : 1e9);
	}
	codec_enc_cstr(b, "sample");
	codec_enc_bin(b, sample, n * sizeof(double));	/* this host is little-endian */
}

static void damaged(void **state)
{
	struct profile *p = sample_profile();
	struct buf b = { 0 };
	profile_encode(p, &b);
	profile_free(p);
	/* Every proper prefix of the first 4 KiB, then one every len / 256
	 * bytes (the large column's sample is 128 KiB). */
	for (size_t len = 0; len < b.len; len += len < 4096 ? 1 : 1 + len / 256)
		assert_int_equal(try_decode(b.data, len), -EINVAL);
	assert_int_equal(try_decode(b.data, b.len), 0);
	/* Every byte flipped (either refused or consistent), then random bytes. */
	for (size_t i = 0; i < b.len; i += 1 + i / 64) {
		char *m = malloc(b.len);
		memcpy(m, b.data, b.len);
		m[i] ^= (char)(1 + next() % 255);
		int rc = try_decode(m, b.len);
		assert_true(rc == 0 || rc == -EINVAL || rc == -ENOTSUP);
		free(m);
	}
	char junk[512];
	for (int round = 0; round < 2000; round++) {
		size_t len = next() % sizeof(junk);
		for (size_t i = 0; i < len; i++)
			junk[i] = (char)next();
		if (round % 2)
			junk[0] = (char)0x84;	/* a map of four, to get further */
		assert_int_equal(try_decode(junk, len), -EINVAL);
	}
	buf_free(&b);

	/* Hand-made lies. */
	const double ok[] = { 1, 2, 3 }, unsorted[] = { 1, 3, 2 }, nan[] = { 1, NAN, 3 };
	struct { const char *format; uint64_t version, rows, count, nulls; const double *s; size_t n; int rc; } cases[] = {
		{ "mlfs-profile", 1, 4, 3, 1, ok, 3, 0 },
		{ "mlfs-profile", 2, 4, 3, 1, ok, 3, -ENOTSUP },
		{ "mlfs-profile", 0, 4, 3, 1, ok, 3, -EINVAL },
		{ "mlfs-forest", 1, 4, 3, 1, ok, 3, -EINVAL },
		{ "mlfs-profile", 1, 4, 3, 0, ok, 3, -EINVAL },		/* rows */
		{ "mlfs-profile", 1, 4, 4, 0, ok, 3, -EINVAL },		/* sample size */
		{ "mlfs-profile", 1, 4, 3, 1, unsorted, 3, -EINVAL },
		{ "mlfs-profile", 1, 4, 3, 1, nan, 3, -EINVAL },
		{ "mlfs-profile", 1, UINT64_MAX, UINT64_MAX, 0, ok, 3, -EINVAL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		buf_reset(&b);
		enc_numeric(&b, cases[i].format, cases[i].version, cases[i].rows,
			    cases[i].count, cases[i].nulls, cases[i].s, cases[i].n);
		if (try_decode(b.data, b.len) != cases[i].rc)
			fail_msg("case %zu: not %d", i, cases[i].rc);
	}
	buf_free(&b);
}

/* Hand-made categorical lies and two columns of one name. */
static void damaged_categorical(void **state)
{
	struct profile_builder *pb = profile_builder_new();
	profile_builder_column(pb, "c", PROFILE_CATEGORICAL);
	const char *v[] = { "a", "b", "b" };
	for (int i = 0; i < 3; i++) {
		profile_builder_text(pb, 0, v[i], 1);
		profile_builder_row(pb);
	}
	struct profile *p = profile_builder_finish(pb);
	struct buf b = { 0 };
	profile_encode(p, &b);
	assert_int_equal(try_decode(b.data, b.len), 0);
	char *at;
	/* "b" -> "a": not strictly sorted. */
	buf_reset(&b);
	profile_encode(p, &b);
	at = memmem(b.data, b.len, "\xa1" "b", 2);
	assert_non_null(at);
	at[1] = 'a';
	assert_int_equal(try_decode(b.data, b.len), -EINVAL);
	/* Counts that do not sum to count. */
	p->cols[0].cat_counts[1] = 1;
	buf_reset(&b);
	profile_encode(p, &b);
	assert_int_equal(try_decode(b.data, b.len), -EINVAL);
	p->cols[0].cat_counts[1] = 2;
	/* A NUL inside a category. */
	buf_reset(&b);
	profile_encode(p, &b);
	at = memmem(b.data, b.len, "\xa1" "b", 2);
	at[1] = '\0';
	assert_int_equal(try_decode(b.data, b.len), -EINVAL);
	/* Two columns of one name. */
	free(p->cols[0].name);
	p->cols[0].name = strdup("same");
	struct profile two = { .rows = 3, .ncols = 2,
			       .cols = (struct profile_col[2]){ p->cols[0], p->cols[0] } };
	buf_reset(&b);
	profile_encode(&two, &b);
	assert_int_equal(try_decode(b.data, b.len), -EINVAL);
	two.cols[1].name = "other";
	buf_reset(&b);
	profile_encode(&two, &b);
	assert_int_equal(try_decode(b.data, b.len), 0);
	profile_free(p);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(numeric_small),
		cmocka_unit_test(numeric_large),
		cmocka_unit_test(categorical),
		cmocka_unit_test(from_frame),
		cmocka_unit_test(round_trip),
		cmocka_unit_test(damaged),
		cmocka_unit_test(damaged_categorical),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
