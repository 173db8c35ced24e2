/* test_trainset.c - training sets: labels left-joined with feature
 * lookups, point-in-time correct where a naive join leaks the future,
 * nulls for missing keys, column selection and the errors. */
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

#include "features.h"
#include "table.h"
#include "trainset.h"
#include "trainset_int.h"
#include "store_fixture.h"
#include "data_fixture.h"

static int setup(void **state)
{
	struct store_fixture *f = store_fixture_open();
	/* Spend per customer over time.  Customer 1 spends a lot only after
	 * its label dates: a join on the key alone would leak that. */
	fixture_features_put_ts(f->s, "spend", "ts",
		     "customer_id,ts,spent,segment\n"
		     "1,2026-01-01,10,low\n"
		     "1,2026-03-01,20,low\n"
		     "1,2026-12-01,9999,vip\n"
		     "2,2026-02-01,5,mid\n");
	fixture_features_put_ts(f->s, "profile", NULL,
		     "customer_id,age,city\n1,30,Oslo\n2,41,\n");
	fixture_table_put(f->s, "labels",
		  "customer_id,label_date,churn\n"
		  "1,2026-02-15,0\n"	/* sees the 2026-01-01 version */
		  "1,2026-03-01,1\n"	/* exactly at a version time: included */
		  "2,2026-01-15,1\n"	/* before any version of 2: null */
		  "3,2026-06-01,0\n"	/* no such key: null */
		  ",2026-06-01,1\n");	/* null key: null */
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	store_fixture_close(*state);
	return 0;
}

static const char *const key[] = { "customer_id" };

static void test_point_in_time(void **state)
{
	struct store_fixture *f = *state;
	struct mlfs_err err = { 0 };
	struct frame *fr;
	struct trainset_lookup lk[] = {
		{ "spend", key, 1, NULL, 0, "label_date" },
		{ "profile", key, 1, NULL, 0, NULL },
	};
	const char *const excl[] = { "label_date" };
	assert_int_equal(trainset_build(f->s, "labels", "churn", lk, 2, excl, 1, &fr, &err), 0);
	assert_int_equal(frame_nrows(fr), 5);
	assert_int_equal(frame_ncols(fr), 6);
	const char *names[] = { "customer_id", "churn", "spent", "segment", "age", "city" };
	for (size_t i = 0; i < 6; i++)
		assert_string_equal(frame_col_name(fr, i), names[i]);
	const double *spent = frame_col_numbers(fr, 2);
	assert_true(spent[0] == 10);
	assert_true(spent[1] == 20);
	assert_true(isnan(spent[2]));
	assert_true(isnan(spent[3]));
	assert_true(isnan(spent[4]));
	for (size_t r = 0; r < 5; r++)
		assert_true(isnan(spent[r]) || spent[r] < 9999);	/* no leak */
	assert_int_equal(frame_col_kind(fr, 3), FRAME_CATEGORICAL);
	const int32_t *seg = frame_col_codes(fr, 3);
	assert_string_equal(frame_col_category(fr, 3, seg[0], NULL), "low");
	assert_int_equal(seg[2], -1);
	const double *age = frame_col_numbers(fr, 4);
	assert_true(age[0] == 30 && age[1] == 30 && age[2] == 41 && isnan(age[3]) && isnan(age[4]));
	const int32_t *city = frame_col_codes(fr, 5);
	assert_string_equal(frame_col_category(fr, 5, city[0], NULL), "Oslo");
	assert_int_equal(city[2], -1);
	const double *churn = frame_col_numbers(fr, 1);
	assert_true(churn[0] == 0 && churn[1] == 1 && churn[4] == 1);
	frame_free(fr);

	/* Without the timestamp lookup: the latest version (the leak). */
	struct trainset_lookup latest[] = { { "spend", key, 1, (const char *const[]){ "spent" }, 1, NULL } };
	assert_int_equal(trainset_build(f->s, "labels", "churn", latest, 1, NULL, 0, &fr, &err), 0);
	assert_int_equal(frame_ncols(fr), 4);
	assert_true(frame_col_numbers(fr, 3)[0] == 9999);
	frame_free(fr);
}

static void test_errors(void **state)
{
	struct store_fixture *f = *state;
	struct mlfs_err err = { 0 };
	struct frame *fr = (struct frame *)1;
	const char *const two[] = { "customer_id", "label_date" };
	const char *const bad[] = { "cid" };
	struct {
		struct trainset_lookup lk;
		const char *label;
		int rc;
		const char *msg;
	} cases[] = {
		{ { "nope", key, 1, NULL, 0, NULL }, "churn", -ENOENT, "no feature table 'nope'" },
		{ { "spend", two, 2, NULL, 0, NULL }, "churn", -EINVAL, "names 2 column(s); the table's key has 1" },
		{ { "spend", bad, 1, NULL, 0, NULL }, "churn", -EINVAL, "lookup_key: no column 'cid'" },
		{ { "profile", key, 1, NULL, 0, "label_date" }, "churn", -EINVAL, "has no timestamp_key" },
		{ { "spend", key, 1, NULL, 0, "when" }, "churn", -EINVAL, "timestamp_lookup_key: no column 'when'" },
		{ { "spend", key, 1, (const char *const[]){ "nope" }, 1, NULL }, "churn", -EINVAL, "columns: no column 'nope'" },
		{ { "spend", key, 1, NULL, 0, NULL }, "label", -EINVAL, "label: no column 'label'" },
		{ { "spend", key, 1, (const char *const[]){ "customer_id" }, 1, NULL }, "churn", -EINVAL, "already in the training set" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&err, 0, sizeof(err));
		int rc = trainset_build(f->s, "labels", cases[i].label, &cases[i].lk, 1, NULL, 0, &fr, &err);
		assert_int_equal(rc, cases[i].rc);
		assert_null(fr);
		if (!strstr(err.msg, cases[i].msg))
			fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, cases[i].msg);
	}
	assert_int_equal(trainset_build(f->s, "nolabels", "churn", NULL, 0, NULL, 0, &fr, &err), -ENOENT);
	const char *const ex[] = { "churn" };
	assert_int_equal(trainset_build(f->s, "labels", "churn", NULL, 0, ex, 1, &fr, &err), -EINVAL);
	const char *const ex2[] = { "zzz" };
	assert_int_equal(trainset_build(f->s, "labels", "churn", NULL, 0, ex2, 1, &fr, &err), -EINVAL);
}

/* Many labels join by one scan of the feature table: every row equals a
 * point lookup of its key (the slow reference), missing and null keys
 * give nulls, text and numbers come through. */
static void test_bulk_join_equals_point_lookups(void **state)
{
	struct store_fixture *f = *state;
	struct mlfs_err err = { 0 };
	struct buf q = { 0 }, lab = { 0 };
	enum { NFEAT = 30000, NLAB = TRAINSET_BULK_ROWS + 5000 };
	buf_puts(&lab, "id,y\n");
	for (int i = 0; i < NLAB; i++)
		buf_printf(&lab, "%d,%d\n", i % 7 == 0 ? -1 : i * 2, i % 2);
	buf_puts(&lab, ",1\n");
	/* Every 5th tag is null; the others need quoting. */
	buf_puts(&q, "id,x,tag\n");
	for (int i = 0; i < NFEAT; i++)
		buf_printf(&q, "%d,%d.25,%s\n", i * 3, i % 977, i % 5 ? "\"t\"\"q\"" : "");
	fixture_features_put_ts(f->s, "big", NULL, q.data);
	fixture_table_put(f->s, "many", lab.data);
	struct trainset_lookup lk[] = { { "big", (const char *const[]){ "id" }, 1, NULL, 0, NULL } };
	struct frame *fr;
	if (trainset_build(f->s, "many", "y", lk, 1, NULL, 0, &fr, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(frame_nrows(fr), NLAB + 1);
	struct features_lookup *l;
	assert_int_equal(features_lookup_open(f->s, "big", &l, &err), 0);
	const double *x = frame_col_numbers(fr, 2);
	const int32_t *tag = frame_col_codes(fr, 3);
	const double *id = frame_col_numbers(fr, 0);
	size_t found = 0;
	for (size_t r = 0; r < frame_nrows(fr); r++) {
		char keytext[32];
		int n = snprintf(keytext, sizeof(keytext), "%.0f", id[r]);
		const char *keys[] = { keytext };
		size_t lens[] = { (size_t)n };
		const char *const *fv;
		const size_t *fl;
		if (isnan(id[r]) || features_lookup_get(l, keys, lens, false, 0, &fv, &fl)) {
			assert_true(isnan(x[r]) && tag[r] < 0);
			continue;
		}
		found++;
		assert_true(x[r] == strtod(fv[1], NULL));
		if (!fv[2])
			assert_true(tag[r] < 0);
		else
			assert_string_equal(frame_col_category(fr, 3, tag[r], NULL), "t\"q");
	}
	assert_true(found > NLAB / 4);	/* 1/3 of the ids, less the -1s */
	features_lookup_free(l);
	frame_free(fr);
	buf_free(&lab);
	buf_free(&q);
}

/* The same frame, value for value, from a labels table's columnar form
 * and from its CSV text: every column type, nulls, "-0" in a float
 * column and bare dates in a timestamp column (which frame.c reads as
 * +0 and as days), text keys, missing keys. */
static void assert_frames_equal(const struct frame *a, const struct frame *b)
{
	assert_int_equal(frame_ncols(a), frame_ncols(b));
	assert_int_equal(frame_nrows(a), frame_nrows(b));
	for (size_t c = 0; c < frame_ncols(a); c++) {
		assert_string_equal(frame_col_name(a, c), frame_col_name(b, c));
		assert_int_equal(frame_col_type(a, c), frame_col_type(b, c));
		if (frame_col_kind(a, c) == FRAME_NUMERIC) {
			assert_memory_equal(frame_col_numbers(a, c), frame_col_numbers(b, c),
					    frame_nrows(a) * sizeof(double));
			continue;
		}
		for (size_t r = 0; r < frame_nrows(a); r++) {
			int32_t ca = frame_col_codes(a, c)[r], cb = frame_col_codes(b, c)[r];
			assert_int_equal(ca, cb);
			if (ca >= 0)
				assert_string_equal(frame_col_category(a, c, ca, NULL),
						    frame_col_category(b, c, cb, NULL));
		}
	}
}

static void test_columnar_equals_text(void **state)
{
	struct store_fixture *f = *state;
	struct mlfs_err err = { 0 };
	struct buf q = { 0 }, lab = { 0 };
	enum { NLAB = TRAINSET_BULK_ROWS + 70000 };
	buf_puts(&q, "code,x,tag\n");
	for (int i = 0; i < 3000; i++)
		buf_printf(&q, "c%d,%s,%s\n", i, i % 11 ? (i % 3 ? "-0.5" : "7") : "", i % 4 ? "t" : "");
	fixture_features_put_ts(f->s, "bycode", NULL, q.data);
	buf_puts(&lab, "id,code,y,f,ok,day,at\n");
	for (int i = 0; i < NLAB; i++)
		buf_printf(&lab, "%d,%s%d,%s,%s,%s,2026-01-%02d,%s\n", i, i % 9 ? "c" : "", i % 4000,
			   i % 3 ? "yes" : (i % 5 ? "no" : ""), i % 7 ? "1.5" : (i % 2 ? "-0" : "-0.0"),
			   i % 2 ? "true" : "false", 1 + i % 28,
			   i % 6 ? "2026-01-02T03:04:05Z" : (i % 4 ? "2026-01-03" : ""));
	fixture_table_put(f->s, "mixed", lab.data);
	struct trainset_lookup lk[] = { { "bycode", (const char *const[]){ "code" }, 1, NULL, 0, NULL } };
	struct frame *text, *col;
	trainset_columnar_min_bytes = (size_t)1 << 40;
	if (trainset_build(f->s, "mixed", "y", lk, 1, NULL, 0, &text, &err))
		fail_msg("%s", err.msg);
	trainset_columnar_min_bytes = 0;
	if (trainset_build(f->s, "mixed", "y", lk, 1, NULL, 0, &col, &err))
		fail_msg("%s", err.msg);
	assert_frames_equal(text, col);
	frame_free(col);
	/* Without the "-0" and the bare dates the form itself is read. */
	buf_reset(&lab);
	buf_puts(&lab, "id,code,y,f,ok,day,at\n");
	for (int i = 0; i < NLAB; i++)
		buf_printf(&lab, "%d,%s%d,%s,%s,%s,2026-01-%02d,2026-01-02T03:04:%02dZ\n", i, i % 9 ? "c" : "",
			   i % 4000, i % 3 ? "yes" : (i % 5 ? "no" : ""), i % 7 ? "1.5" : "-0.0",
			   i % 2 ? "true" : "", 1 + i % 28, i % 60);
	fixture_table_put(f->s, "plain", lab.data);
	frame_free(text);
	trainset_columnar_min_bytes = (size_t)1 << 40;
	assert_int_equal(trainset_build(f->s, "plain", "y", lk, 1, NULL, 0, &text, &err), 0);
	trainset_columnar_min_bytes = 0;
	assert_int_equal(trainset_build(f->s, "plain", "y", lk, 1, NULL, 0, &col, &err), 0);
	assert_frames_equal(text, col);
	trainset_columnar_min_bytes = 1u << 20;
	frame_free(text);
	frame_free(col);
	buf_free(&lab);
	buf_free(&q);
}

/* ---- the bulk join against a brute-force lookup ---- */

static uint64_t rnd_state;

static uint32_t rnd(uint32_t n)
{
	rnd_state = rnd_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(rnd_state >> 33) % n;
}

/* A random key field of shape SHAPE: 0 a canonical int, 1 text, 2 either. */
static void rnd_key(struct buf *b, int shape)
{
	static const char *const odd[] = { "007", "+5", "-0", "k,1", "q\"x", "5 " };
	if (shape == 0 || (shape == 2 && rnd(2)))
		buf_printf(b, "%lld", (long long)rnd(4000) - 1500 + (rnd(50) ? 0 : 4000000000000LL));
	else if (rnd(8))
		buf_printf(b, "u%u", rnd(3000));
	else
		buf_puts(b, odd[rnd(6)]);
}

static void rnd_value(struct buf *b, int kind)
{
	static const char *const num[] = { "-0", "+7", "-0.0", "1e3", "-2.5E-3", "0.1", "12345678.125", "" };
	static const char *const txt[] = { "a", "b,c", "\"q\"", "", "x y", "7" };
	if (kind == 0)
		buf_printf(b, "%d", (int)rnd(2000) - 1000);
	else if (kind == 1)
		buf_printf(b, "%s%d.%0*u", rnd(2) ? "-" : "", (int)rnd(100), 1 + (int)rnd(6), rnd(100000));
	else if (kind == 2)
		buf_puts(b, num[rnd(8)]);
	else
		buf_puts(b, txt[rnd(6)]);
}

static void csv_field(struct buf *b, const char *p, size_t len)
{
	bool q = memchr(p, ',', len) || memchr(p, '"', len);
	if (q)
		buf_putc(b, '"');
	for (size_t i = 0; i < len; i++) {
		if (q && p[i] == '"')
			buf_putc(b, '"');
		buf_putc(b, p[i]);
	}
	if (q)
		buf_putc(b, '"');
}

struct rnd_table {
	uint32_t nkeys;
	int shape[2];
	size_t nrows;
	char ***cell;		/* nrows x (nkeys + 4) texts, the keys first */
};

static void compare_columns(const struct frame *a, size_t ca, const struct frame *b, size_t cb)
{
	assert_string_equal(frame_col_name(a, ca), frame_col_name(b, cb));
	assert_int_equal(frame_col_kind(a, ca), frame_col_kind(b, cb));
	assert_int_equal(frame_col_len(a, ca), frame_col_len(b, cb));
	for (size_t r = 0; r < frame_col_len(a, ca); r++) {
		if (frame_col_kind(a, ca) == FRAME_NUMERIC) {
			double x = frame_col_numbers(a, ca)[r], y = frame_col_numbers(b, cb)[r];
			if (memcmp(&x, &y, 8))
				fail_msg("%s row %zu: %.17g, brute force %.17g", frame_col_name(a, ca), r, x, y);
			continue;
		}
		int32_t x = frame_col_codes(a, ca)[r], y = frame_col_codes(b, cb)[r];
		assert_int_equal(x, y);
		if (x >= 0)
			assert_string_equal(frame_col_category(a, ca, x, NULL), frame_col_category(b, cb, y, NULL));
	}
}

/* Feature table NAME of T's shape: random unique keys and values. */
static void rnd_features(struct store *s, const char *fname, struct rnd_table *t)
{
	struct mlfs_err err = { 0 };
	for (uint32_t k = 0; k < t->nkeys; k++)
		t->shape[k] = (int)rnd(3);
	struct buf q = { 0 }, v = { 0 };
	buf_puts(&q, t->nkeys == 2 ? "k0,k1,vi,vf,vn,vs\n" : "k0,vi,vf,vn,vs\n");
	t->cell = calloc(t->nrows, sizeof(*t->cell));
	for (size_t r = 0; r < t->nrows; r++) {
		t->cell[r] = calloc(t->nkeys + 4, sizeof(char *));
		for (;;) {	/* a key not taken yet */
			for (uint32_t k = 0; k < t->nkeys; k++) {
				buf_reset(&v);
				rnd_key(&v, t->shape[k]);
				t->cell[r][k] = strdup(v.data);
			}
			bool dup = false;
			for (size_t o = 0; o < r && !dup; o++)
				dup = !strcmp(t->cell[o][0], t->cell[r][0]) &&
				      (t->nkeys == 1 || !strcmp(t->cell[o][1], t->cell[r][1]));
			if (!dup)
				break;
			for (uint32_t k = 0; k < t->nkeys; k++)
				free(t->cell[r][k]);
		}
		for (int c = 0; c < 4; c++) {
			buf_reset(&v);
			if (rnd(10))
				rnd_value(&v, c);
			t->cell[r][t->nkeys + c] = strdup(v.data ? v.data : "");
		}
		for (uint32_t c = 0; c < t->nkeys + 4; c++) {
			if (c)
				buf_putc(&q, ',');
			csv_field(&q, t->cell[r][c], strlen(t->cell[r][c]));
		}
		buf_putc(&q, '\n');
	}
	assert_int_equal(features_create(s, fname, &err), 0);
	assert_int_equal(features_set_keys(s, fname, "k0,k1\n", t->nkeys == 2 ? 6 : 3, true, &err), 0);
	struct features_writer *w;
	assert_int_equal(features_writer_open(s, fname, true, &w, &err), 0);
	if (features_writer_write(w, q.data, q.len, &err) || features_writer_commit(w, true, &err))
		fail_msg("%s", err.msg);
	features_writer_free(w);
	buf_free(&q);
	buf_free(&v);
}

/* Random feature table T of unique keys, labels of random keys (found,
 * missing, null, non-canonical), training sets built through the labels'
 * CSV text and through their columnar form, of every column and of the
 * numeric ones: each lookup
 * column equals frame_append_text of the feature row whose key text is
 * the label's, found by a linear search. */
static void check_random_join(struct store_fixture *f, int round)
{
	struct mlfs_err err = { 0 };
	struct rnd_table t = { .nkeys = 1 + rnd(2), .nrows = 200 + rnd(3000) };
	static const char *const knames[] = { "k0", "k1" };
	static const char *const vnames[] = { "vi", "vf", "vn", "vs" };
	char fname[32], lname[32];
	snprintf(fname, sizeof(fname), "rf%d", round);
	snprintf(lname, sizeof(lname), "rl%d", round);
	rnd_features(f->s, fname, &t);
	struct buf q = { 0 }, v = { 0 };
	/* Labels: a row's key taken from the table, or random, or null. */
	buf_reset(&q);
	buf_puts(&q, t.nkeys == 2 ? "k0,k1,y\n" : "k0,y\n");
	enum { NLAB = TRAINSET_BULK_ROWS + 3000 };
	char ***lab = calloc(NLAB, sizeof(*lab));
	for (size_t r = 0; r < NLAB; r++) {
		lab[r] = calloc(2, sizeof(char *));
		size_t from = rnd((uint32_t)t.nrows);
		int how = (int)rnd(10);
		for (uint32_t k = 0; k < t.nkeys; k++) {
			buf_reset(&v);
			if (how == 0 && k == 0)
				buf_puts(&v, "");
			else if (how == 1)
				rnd_key(&v, t.shape[k]);
			else
				buf_puts(&v, t.cell[from][k]);
			lab[r][k] = strdup(v.data ? v.data : "");
			csv_field(&q, lab[r][k], strlen(lab[r][k]));
			buf_putc(&q, ',');
		}
		buf_printf(&q, "%u\n", rnd(2));
	}
	fixture_table_put(f->s, lname, q.data);

	/* The reference: lookup columns by brute force. */
	/* Passes 0-1 take every column (text too: cell by cell), 2-3 the
	 * numeric ones alone (numbers written across the pool); odd passes
	 * read the labels' columnar form. */
	struct frame *ref = frame_new(), *got[4];
	struct trainset_lookup lk[] = { { fname, knames, t.nkeys, NULL, 0, NULL } };
	for (int pass = 0; pass < 4; pass++) {
		trainset_columnar_min_bytes = pass % 2 ? 0 : (size_t)1 << 40;
		lk[0].columns = pass < 2 ? NULL : vnames;
		lk[0].ncolumns = pass < 2 ? 0 : 3;
		if (trainset_build(f->s, lname, "y", lk, 1, NULL, 0, &got[pass], &err))
			fail_msg("round %d: %s", round, err.msg);
	}
	trainset_columnar_min_bytes = 1u << 20;
	size_t first = t.nkeys + 1;
	assert_int_equal(frame_ncols(got[0]), first + 4);
	for (int c = 0; c < 4; c++)
		assert_true(frame_add_column(ref, vnames[c], frame_col_kind(got[0], first + c),
					     frame_col_type(got[0], first + c), &err) == c);
	for (size_t r = 0; r < NLAB; r++) {
		long hit = -1;
		for (size_t o = 0; o < t.nrows && hit < 0 && lab[r][0][0]; o++)
			if (!strcmp(t.cell[o][0], lab[r][0]) && (t.nkeys == 1 || !strcmp(t.cell[o][1], lab[r][1])))
				hit = (long)o;
		for (int c = 0; c < 4; c++) {
			const char *x = hit < 0 ? "" : t.cell[hit][t.nkeys + c];
			assert_int_equal(frame_append_text(ref, (size_t)c, x, strlen(x), &err), 0);
		}
	}
	for (int pass = 0; pass < 4; pass++) {
		assert_int_equal(frame_ncols(got[pass]), first + (pass < 2 ? 4 : 3));
		for (int c = 0; c < (pass < 2 ? 4 : 3); c++)
			compare_columns(got[pass], first + (size_t)c, ref, (size_t)c);
		frame_free(got[pass]);
	}
	frame_free(ref);
	for (size_t r = 0; r < NLAB; r++) {
		for (uint32_t k = 0; k < t.nkeys; k++)
			free(lab[r][k]);
		free(lab[r]);
	}
	free(lab);
	for (size_t r = 0; r < t.nrows; r++) {
		for (uint32_t c = 0; c < t.nkeys + 4; c++)
			free(t.cell[r][c]);
		free(t.cell[r]);
	}
	free(t.cell);
	buf_free(&q);
	buf_free(&v);
}

static void test_random_join_equals_brute_force(void **state)
{
	rnd_state = 42;
	for (int round = 0; round < 12; round++)
		check_random_join(*state, round);
}

/* ---- the columnar form of feature tables (trainset_form.c) ---- */

/* The same random joins with every feature table read through its form:
 * built by the first training set of each table, read by the next. */
static void test_form_equals_brute_force(void **state)
{
	rnd_state = 7;
	trainset_form_min_bytes = 0;
	for (int round = 0; round < 8; round++) {
		unsigned long b0 = trainset_form_test_builds, r0 = trainset_form_test_reads;
		check_random_join(*state, round);
		assert_int_equal(trainset_form_test_builds, b0 + 1);
		assert_int_equal(trainset_form_test_reads, r0 + 4);
	}
	trainset_form_min_bytes = 1u << 20;
}

/* Problems trainset_form_check finds (alone with the store). */
static int form_problems(struct store *s, const char *want)
{
	struct buf report = { 0 };
	int n = trainset_form_check(s, true, &report, NULL);
	if (want && !strstr(report.data ? report.data : "", want))
		fail_msg("no '%s' in the check's report: %s", want, report.data ? report.data : "");
	if (!want && n)
		fail_msg("check: %s", report.data);
	buf_free(&report);
	return n;
}

/* Feature rows ROWS of table NAME: key K, then "k,a,b,c,s" values of
 * random kinds (numbers in several spellings, blanks, a text in a numeric
 * column now and then, texts).  Keys are canonical ints or, when TEXT,
 * "uN". */
static void big_rows(struct buf *q, size_t from, size_t n, bool text, bool odd)
{
	static const char *const num[] = { "-0", "+7", "-0.0", "1e3", "-2.5E-3", "0.1", "", "12345678.125" };
	buf_reset(q);
	buf_puts(q, "k,a,b,c,s\n");
	for (size_t r = from; r < from + n; r++) {
		long long k = (long long)(r * 7 % 1000003) - 300000;
		if (text)
			buf_printf(q, "u%lld,", k);
		else
			buf_printf(q, "%lld,", k);
		buf_printf(q, "%d,%d.%03u,%s,", (int)rnd(2000) - 1000, (int)rnd(100), rnd(1000),
			   odd && rnd(50000) == 0 ? "n/a" : num[rnd(8)]);
		buf_puts(q, rnd(9) ? "x" : "\"y,z\"");
		buf_putc(q, '\n');
	}
}

static void big_write(struct store *s, const char *name, const struct buf *q, bool replace)
{
	struct mlfs_err err = { 0 };
	struct features_writer *w;
	assert_int_equal(features_writer_open(s, name, replace, &w, &err), 0);
	if (features_writer_write(w, q->data, q->len, &err) || features_writer_commit(w, true, &err))
		fail_msg("%s", err.msg);
	features_writer_free(w);
}

/* The training set of LABELS x NAME through the form (BUILDS: whether
 * it is built now) equals the one through the stored rows. */
static void form_equals_rows(struct store *s, const char *labels, const char *name, bool builds)
{
	static const char *const key1[] = { "k" };
	struct trainset_lookup lk[] = { { name, key1, 1, NULL, 0, NULL } };
	struct mlfs_err err = { 0 };
	struct frame *a, *b;
	unsigned long b0 = trainset_form_test_builds, r0 = trainset_form_test_reads;
	trainset_form_min_bytes = 0;
	if (trainset_build(s, labels, "y", lk, 1, NULL, 0, &a, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(trainset_form_test_builds, b0 + builds);
	assert_int_equal(trainset_form_test_reads, r0 + 1);
	trainset_form_min_bytes = (size_t)1 << 40;
	if (trainset_build(s, labels, "y", lk, 1, NULL, 0, &b, &err))
		fail_msg("%s", err.msg);
	trainset_form_min_bytes = 1u << 20;
	assert_int_equal(frame_ncols(a), frame_ncols(b));
	for (size_t c = 0; c < frame_ncols(a); c++)
		compare_columns(a, c, b, c);
	frame_free(a);
	frame_free(b);
}

/* Labels of keys found (most), missing and null, for big_rows' keys. */
static void big_labels(struct store *s, const char *name, size_t n, bool text)
{
	struct buf q = { 0 };
	buf_puts(&q, "k,y\n");
	for (size_t r = 0; r < n; r++) {
		long long k = (long long)(rnd(300000) * 7 % 1000003) - 300000 + (rnd(20) ? 0 : 1);
		if (!rnd(100))
			buf_puts(&q, ",1\n");
		else
			buf_printf(&q, text ? "u%lld,%u\n" : "%lld,%u\n", k, rnd(2));
	}
	fixture_table_put(s, name, q.data);
	buf_free(&q);
}

/* Tables of several chunks, int and text keys: the form follows every
 * change (merged rows, a deleted key, a replace that puts a text in a
 * numeric column): a build per version, equal to the rows each time,
 * and mlfs check clean. */
static void test_form_follows_changes(void **state)
{
	struct store_fixture *f = *state;
	struct mlfs_err err = { 0 };
	struct buf q = { 0 };
	rnd_state = 11;
	for (int text = 0; text < 2; text++) {
		const char *name = text ? "bigt" : "bigi", *labels = text ? "labt" : "labi";
		assert_int_equal(features_create(f->s, name, &err), 0);
		assert_int_equal(features_set_keys(f->s, name, "k\n", 2, true, &err), 0);
		big_rows(&q, 0, 150000, text, false);
		big_write(f->s, name, &q, true);
		big_labels(f->s, labels, 60000, text);
		form_equals_rows(f->s, labels, name, true);
		form_equals_rows(f->s, labels, name, false);
		form_problems(f->s, NULL);
		big_rows(&q, 140000, 30000, text, false);	/* merged: 10,000 rows change */
		big_write(f->s, name, &q, false);
		form_equals_rows(f->s, labels, name, true);
		assert_int_equal(features_delete_key(f->s, name, text ? "u-300000" : "-300000", &err), 0);
		form_equals_rows(f->s, labels, name, true);
		big_rows(&q, 0, 100000, text, true);
		big_write(f->s, name, &q, true);
		form_equals_rows(f->s, labels, name, true);
		form_problems(f->s, NULL);
	}
	/* A dropped table's form goes with it. */
	assert_int_equal(features_drop(f->s, "bigi", &err), 0);
	form_problems(f->s, NULL);
	struct store_iter *it = store_iter_new(f->s, NULL, "f/k/", 4, "f/k0", 4);
	size_t keys = 0;
	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it))
		keys++;
	store_iter_free(it);
	assert_true(keys > 0);	/* bigt's */
	assert_int_equal(features_drop(f->s, "bigt", &err), 0);
	it = store_iter_new(f->s, NULL, "f/k/", 4, "f/k0", 4);
	store_iter_seek_first(it);
	assert_false(store_iter_valid(it));
	store_iter_free(it);
	buf_free(&q);
}

/* A build cut short (as a crash would: chunks written, no manifest) is
 * never read: that training set reads the rows; the check reports the
 * leftovers, the recovery removes them, and the next build is right.  A
 * damaged chunk is reported and not read. */
static void test_form_cut_short_and_damaged(void **state)
{
	struct store_fixture *f = *state;
	struct mlfs_err err = { 0 };
	struct buf q = { 0 };
	rnd_state = 13;
	assert_int_equal(features_create(f->s, "cut", &err), 0);
	assert_int_equal(features_set_keys(f->s, "cut", "k\n", 2, true, &err), 0);
	big_rows(&q, 0, 200000, false, false);
	big_write(f->s, "cut", &q, true);
	big_labels(f->s, "labc", 40000, false);
	static const char *const key1[] = { "k" };
	struct trainset_lookup lk[] = { { "cut", key1, 1, NULL, 0, NULL } };
	struct frame *a;
	trainset_form_min_bytes = 0;
	trainset_form_test_stop_after = 2;
	unsigned long r0 = trainset_form_test_reads;
	if (trainset_build(f->s, "labc", "y", lk, 1, NULL, 0, &a, &err))
		fail_msg("%s", err.msg);
	trainset_form_test_stop_after = 0;
	assert_int_equal(trainset_form_test_reads, r0);	/* the rows were read */
	frame_free(a);
	assert_true(form_problems(f->s, "left by a build cut short") > 0);
	assert_int_equal(trainset_form_recover(f->s, &err), 0);
	form_problems(f->s, NULL);
	form_equals_rows(f->s, "labc", "cut", true);
	form_problems(f->s, NULL);
	/* Damage one chunk of a column the join reads. */
	struct store_iter *it = store_iter_new(f->s, NULL, "f/k/", 4, "f/k0", 4);
	struct buf k = { 0 };
	for (store_iter_seek_first(it); store_iter_valid(it) && !k.len; store_iter_next(it)) {
		size_t kl;
		const char *p = store_iter_key(it, &kl);
		if (kl == 32 && p[23] == 2)	/* column 2: b */
			buf_append(&k, p, kl);
	}
	store_iter_free(it);
	assert_true(k.len > 0);
	assert_int_equal(store_put(f->s, k.data, k.len, "damaged!", 8, &err), 0);
	assert_true(form_problems(f->s, "missing or damaged") > 0);
	r0 = trainset_form_test_reads;
	unsigned long b0 = trainset_form_test_builds;
	trainset_form_min_bytes = (size_t)1 << 40;
	struct frame *b;
	if (trainset_build(f->s, "labc", "y", lk, 1, NULL, 0, &b, &err))
		fail_msg("%s", err.msg);
	trainset_form_min_bytes = 0;
	if (trainset_build(f->s, "labc", "y", lk, 1, NULL, 0, &a, &err))
		fail_msg("%s", err.msg);
	trainset_form_min_bytes = 1u << 20;
	assert_int_equal(trainset_form_test_reads, r0);	/* not read: the rows */
	assert_int_equal(trainset_form_test_builds, b0);
	for (size_t c = 0; c < frame_ncols(a); c++)
		compare_columns(a, c, b, c);
	frame_free(a);
	frame_free(b);
	buf_free(&k);
	buf_free(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_point_in_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bulk_join_equals_point_lookups, setup, teardown),
		cmocka_unit_test_setup_teardown(test_columnar_equals_text, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_join_equals_brute_force, setup, teardown),
		cmocka_unit_test_setup_teardown(test_form_equals_brute_force, setup, teardown),
		cmocka_unit_test_setup_teardown(test_form_follows_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_form_cut_short_and_damaged, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
