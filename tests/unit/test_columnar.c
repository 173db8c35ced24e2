/* test_columnar.c - the columnar form of a table version: built on the
 * first open, every value equal to data.csv's text read by types.h (the
 * slow, obvious reference), dropped by a commit, verified by the check,
 * and a build cut short never used and removed by recovery. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store_fixture.h"
#include "random_table.h"

#include "columnar.h"
#include "store.h"
#include "table.h"

static int setup(void **state)
{
	struct store_fixture *f = store_fixture_open();
	assert_int_equal(table_create(f->s, "t", NULL), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	columnar_test_stop_after = 0;
	store_fixture_close(*state);
	return 0;
}

static int put(struct store *s, bool replace, const char *text, size_t len)
{
	struct table_writer *w;
	int rc = table_writer_open(s, "t", replace, &w, NULL);
	if (!rc)
		rc = table_writer_write(w, text, len, NULL);
	if (!rc)
		rc = table_writer_commit(w, true, NULL);
	table_writer_free(w);
	return rc;
}

/* The reference: every row's text, parsed as types.h does. */
struct ref {
	struct buf text;	/* fields, NUL-separated */
	size_t nfields;
	size_t *off;
	size_t cap;
};

static int ref_row(void *ctx, const struct csv_field *f, size_t n, uint64_t line,
		   struct mlfs_err *err)
{
	struct ref *r = ctx;
	(void)line;
	(void)err;
	for (size_t i = 0; i < n; i++) {
		if (r->nfields == r->cap) {
			r->cap = r->cap ? 2 * r->cap : 1024;
			r->off = realloc(r->off, r->cap * sizeof(*r->off) * 2);
		}
		r->off[2 * r->nfields] = r->text.len;
		r->off[2 * r->nfields + 1] = f[i].len;
		r->nfields++;
		buf_append(&r->text, f[i].p, f[i].len);
	}
	return 0;
}

struct cmp {
	struct ref *ref;
	uint32_t ncols;
	uint64_t rows;
	int bad;
};

/* One value against its text. */
static bool same_value(const struct col_vec *v, size_t r, const char *p, size_t len)
{
	if (!len)
		return col_vec_null(v, r);
	if (col_vec_null(v, r))
		return false;
	int64_t i;
	double d;
	int32_t day;
	bool b;
	switch (v->type) {
	case COL_INT:
		return value_parse_int(p, len, &i) && i == v->i[r];
	case COL_FLOAT:
		return value_parse_float(p, len, &d) && d == v->f[r];
	case COL_DATE:
		return value_parse_date(p, len, &day) && day == v->i[r];
	case COL_BOOL:
		return value_parse_bool(p, len, &b) && b == v->i[r];
	case COL_TIMESTAMP:
		return value_parse_timestamp(p, len, &i) && i == v->i[r];
	default:
		return v->off[r + 1] - v->off[r] == len && !memcmp(v->bytes + v->off[r], p, len);
	}
}

static int cmp_chunk(void *ctx, int thread, uint64_t first, const struct col_vec *cols,
		     size_t n)
{
	struct cmp *c = ctx;
	(void)thread;
	for (size_t r = 0; r < n; r++)
		for (uint32_t k = 0; k < c->ncols; k++) {
			size_t fi = (first + r) * c->ncols + k;
			const char *p = c->ref->text.data + c->ref->off[2 * fi];
			if (!same_value(&cols[k], r, p, c->ref->off[2 * fi + 1]))
				__atomic_add_fetch(&c->bad, 1, __ATOMIC_RELAXED);
		}
	__atomic_add_fetch(&c->rows, n, __ATOMIC_RELAXED);
	return 0;
}

/* Open the form of "t" and compare every value with data.csv. */
static void assert_form_matches(struct store *s)
{
	struct columnar *c;
	struct ref ref = { 0 };
	assert_int_equal(columnar_open(s, "t", &c, NULL), 0);
	assert_int_equal(table_scan(s, "t", ref_row, &ref, NULL), 0);
	uint32_t cols[8], n = columnar_ncols(c);
	for (uint32_t k = 0; k < n; k++)
		cols[k] = k;
	struct cmp cm = { &ref, n, 0, 0 };
	assert_int_equal(columnar_scan(c, cols, n, cmp_chunk, &cm, NULL), 0);
	assert_int_equal(cm.bad, 0);
	assert_int_equal(cm.rows, ref.nfields / n);
	assert_int_equal(columnar_rows(c), cm.rows);
	columnar_free(c);
	buf_free(&ref.text);
	free(ref.off);
}

static int count_prefix(struct store *s, const char *lo, const char *hi)
{
	struct store_iter *it = store_iter_new(s, NULL, lo, strlen(lo), hi, strlen(hi));
	int n = 0;
	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it))
		n++;
	store_iter_free(it);
	return n;
}

static int check(struct store *s, bool alone)
{
	struct buf report = { 0 };
	int n = columnar_check(s, alone, &report, NULL);
	if (n)
		fprintf(stderr, "%s", report.data ? report.data : "");
	buf_free(&report);
	return n;
}

/* Random values, several chunks on several threads; an append and a
 * replace each make a new version whose form matches again. */
static void test_form_matches_csv(void **state)
{
	struct store_fixture *f = *state;
	struct buf b = { 0 };
	unsigned seed = 7;
	random_rows(&b, &seed, 200000, true);
	assert_int_equal(put(f->s, true, b.data, b.len), 0);
	assert_form_matches(f->s);
	assert_true(count_prefix(f->s, "k/", "k0") > 6);
	assert_int_equal(check(f->s, true), 0);
	/* A second open uses the form: nothing is written. */
	assert_form_matches(f->s);

	/* An append keeps the form as the base of the next build, which
	 * shares its chunks: one new chunk per column, a new manifest. */
	int before = count_prefix(f->s, "k/", "k0");
	buf_reset(&b);
	random_rows(&b, &seed, 3000, false);
	assert_int_equal(put(f->s, false, b.data, b.len), 0);
	assert_int_equal(count_prefix(f->s, "k/", "k0"), before);
	assert_int_equal(check(f->s, true), 0);
	assert_form_matches(f->s);
	assert_int_equal(count_prefix(f->s, "k/", "k0"), before + 6);
	assert_int_equal(check(f->s, true), 0);
	/* Another append extends the extended form. */
	buf_reset(&b);
	random_rows(&b, &seed, 70000, false);
	assert_int_equal(put(f->s, false, b.data, b.len), 0);
	assert_form_matches(f->s);
	assert_int_equal(count_prefix(f->s, "k/", "k0"), before + 6 + 2 * 6);
	assert_int_equal(check(f->s, true), 0);

	buf_reset(&b);
	random_rows(&b, &seed, 500, true);
	assert_int_equal(put(f->s, true, b.data, b.len), 0);
	assert_form_matches(f->s);
	assert_int_equal(check(f->s, true), 0);
	buf_free(&b);
}

/* Ints written as "+7" or "007" are values, not canonical text. */
static void test_canonical_flag(void **state)
{
	struct store_fixture *f = *state;
	const char *a = "i,d,s\n7,2026-01-02,x\n-12,2026-01-03,y\n,,\n";
	struct columnar *c;
	assert_int_equal(put(f->s, true, a, strlen(a)), 0);
	assert_int_equal(columnar_open(f->s, "t", &c, NULL), 0);
	assert_true(columnar_canonical(c, 0));
	assert_true(columnar_canonical(c, 1));
	assert_int_equal(columnar_type(c, 2), COL_STRING);
	columnar_free(c);
	const char *more = "+7,2026-01-02,z\n";
	assert_int_equal(put(f->s, false, more, strlen(more)), 0);
	assert_int_equal(columnar_open(f->s, "t", &c, NULL), 0);
	assert_false(columnar_canonical(c, 0));
	assert_true(columnar_canonical(c, 1));
	assert_int_equal(columnar_rows(c), 4);
	columnar_free(c);
}

/* A build cut short (as by kill -9) leaves chunks without manifest: the
 * check says so, recovery removes them, the next open builds it whole. */
static void test_build_cut_short(void **state)
{
	struct store_fixture *f = *state;
	struct buf b = { 0 };
	unsigned seed = 3;
	struct columnar *c = NULL;
	random_rows(&b, &seed, 300000, true);
	assert_int_equal(put(f->s, true, b.data, b.len), 0);
	columnar_test_stop_after = 2;
	assert_int_equal(columnar_open(f->s, "t", &c, NULL), -EINTR);
	assert_null(c);
	columnar_test_stop_after = 0;
	assert_true(count_prefix(f->s, "k/", "k0") > 0);
	assert_true(check(f->s, true) > 0);
	assert_int_equal(check(f->s, false), 0);	/* beside a daemon: maybe in flight */
	store_fixture_reopen(f);
	assert_int_equal(columnar_recover(f->s, NULL), 0);
	assert_int_equal(count_prefix(f->s, "k/", "k0"), 0);
	assert_int_equal(check(f->s, true), 0);
	assert_form_matches(f->s);
	assert_int_equal(check(f->s, true), 0);
	buf_free(&b);
}

/* A damaged chunk is found by the check and refused by the scan. */
static void test_check_finds_damage(void **state)
{
	struct store_fixture *f = *state;
	struct buf b = { 0 };
	unsigned seed = 5;
	struct columnar *c;
	random_rows(&b, &seed, 1000, true);
	assert_int_equal(put(f->s, true, b.data, b.len), 0);
	assert_int_equal(columnar_open(f->s, "t", &c, NULL), 0);
	columnar_free(c);
	struct store_iter *it = store_iter_new(f->s, NULL, "k/", 2, "k0", 2);
	store_iter_seek_last(it);
	assert_true(store_iter_valid(it));
	size_t kl;
	const char *k = store_iter_key(it, &kl);
	struct buf key = { 0 };
	buf_append(&key, k, kl);
	store_iter_free(it);
	assert_int_equal(store_put(f->s, key.data, key.len, "junk", 4, NULL), 0);
	assert_true(check(f->s, true) > 0);
	buf_free(&key);
	buf_free(&b);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_form_matches_csv),
		T(test_canonical_flag),
		T(test_build_cut_short),
		T(test_check_finds_damage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
