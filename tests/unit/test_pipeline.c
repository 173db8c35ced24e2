/* test_pipeline.c - pipeline.yaml against real tables and refresh: the
 * result against a slow reference, merge on refresh, as_of overrides,
 * errors with positions, and a source changing during a refresh. */
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
#include "pipeline.h"
#include "table.h"
#include "store_fixture.h"

static int setup(void **state)
{
	struct store_fixture *f = store_fixture_open();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	pipeline_test_hook = NULL;
	pipeline_parallel_min_bytes = 16u << 20;
	store_fixture_close(*state);
	return 0;
}

static void table_put(struct store *s, const char *name, bool replace,
		      const char *text)
{
	struct table_writer *w;
	struct mlfs_err err = { 0 };
	assert_int_equal(table_writer_open(s, name, replace, &w, &err), 0);
	assert_int_equal(table_writer_write(w, text, strlen(text), &err), 0);
	assert_int_equal(table_writer_commit(w, true, &err), 0);
	table_writer_free(w);
}

static char *data_csv(struct store *s, const char *name)
{
	struct features_reader *r;
	assert_int_equal(features_reader_open(s, name, &r, NULL), 0);
	uint64_t size = features_reader_size(r);
	char *out = calloc(1, size + 1);
	if (size)
		assert_int_equal(features_reader_read(r, out, size, 0, NULL), (long)size);
	features_reader_free(r);
	return out;
}

static const char seed[] =
	"source: orders\n"
	"key: customer_id\n"
	"as_of: 2026-11-27\n"
	"features:\n"
	"  total_orders: count(order_id)\n"
	"  total_spent: sum(amount)\n"
	"  avg_order_value: avg(amount)\n"
	"  days_since_last_order: days_since(max(order_date))\n"
	"  active_days: count_distinct(date(order_date))\n"
	"  order_amount_std: stddev(amount)\n"
	"  avg_days_between_orders: days_since_last_order / total_orders\n"
	"  spent_30d: sum(amount) where order_date >= as_of - 30d\n";

#define NCUST 40
#define NORD 700

static void test_seed_pipeline_against_reference(void **state)
{
	struct store_fixture *f = *state;
	struct mlfs_err err = { 0 };
	struct buf text = { 0 };
	int cust[NORD], day[NORD];
	double amt[NORD];
	const int as_of = 20784;	/* 2026-11-27 */

	srand(11);
	buf_puts(&text, "order_id,customer_id,amount,order_date\n");
	for (int i = 0; i < NORD; i++) {
		char d[16];
		cust[i] = 1 + rand() % NCUST;
		amt[i] = (rand() % 50000) / 100.0;
		day[i] = as_of - 1 - rand() % 400;
		fmt_date(d, day[i]);
		buf_printf(&text, "%d,%d,%.2f,%s\n", i + 1, cust[i], amt[i], d);
	}
	/* A row with a null key is skipped, as pandas' groupby does. */
	buf_puts(&text, "9999,,5.00,2026-01-01\n");
	assert_int_equal(table_create(f->s, "orders", &err), 0);
	table_put(f->s, "orders", true, text.data);
	assert_int_equal(features_create(f->s, "cf", &err), 0);
	assert_int_equal(pipeline_validate(f->s, "cf", seed, strlen(seed), &err), 0);
	assert_int_equal(pipeline_set(f->s, "cf", seed, strlen(seed), &err), 0);
	struct buf b = { 0 };
	assert_int_equal(features_keys_text(f->s, "cf", &b), 0);
	assert_string_equal(b.data, "customer_id\n");
	assert_int_equal(pipeline_refresh(f->s, "cf", NULL, &err), 0);
	assert_int_equal(pipeline_report_text(f->s, "cf", &b), 0);
	assert_non_null(strstr(b.data, "status ok\n"));
	assert_non_null(strstr(b.data, "rows_in 701\n"));
	assert_non_null(strstr(b.data, "as_of 2026-11-27\n"));

	char *csv = data_csv(f->s, "cf");
	int seen = 0;
	char *line = strchr(csv, '\n') + 1;
	while (*line) {
		int c, n, dsl, active;
		double spent, avg, between, s30;
		char sdtxt[64];
		char *end = strchr(line, '\n');
		*end = '\0';
		int got = sscanf(line, "%d,%d,%lf,%lf,%d,%d,%63[^,],%lf,%lf", &c, &n, &spent, &avg,
				 &dsl, &active, sdtxt, &between, &s30);
		if (got != 9) {	/* empty stddev field */
			got = sscanf(line, "%d,%d,%lf,%lf,%d,%d,,%lf,%lf", &c, &n, &spent, &avg,
				     &dsl, &active, &between, &s30);
			assert_int_equal(got, 8);
			strcpy(sdtxt, "");
		}
		/* The slow reference. */
		int rn = 0, rmax = -1000000, days[NORD], nd = 0;
		double rs = 0, r30 = 0, m = 0, ss = 0;
		for (int i = 0; i < NORD; i++) {
			if (cust[i] != c)
				continue;
			rn++;
			rs += amt[i];
			if (day[i] > rmax)
				rmax = day[i];
			if (day[i] >= as_of - 30)
				r30 += amt[i];
			int dup = 0;
			for (int j = 0; j < nd; j++)
				dup |= days[j] == day[i];
			if (!dup)
				days[nd++] = day[i];
		}
		m = rs / rn;
		for (int i = 0; i < NORD; i++)
			if (cust[i] == c)
				ss += (amt[i] - m) * (amt[i] - m);
		assert_int_equal(n, rn);
		assert_true(fabs(spent - rs) < 1e-6);
		assert_true(fabs(avg - m) < 1e-9 * fmax(1, m));
		assert_int_equal(dsl, as_of - rmax);
		assert_int_equal(active, nd);
		if (rn > 1)
			assert_true(fabs(strtod(sdtxt, NULL) - sqrt(ss / (rn - 1))) < 1e-9 * fmax(1, sqrt(ss / (rn - 1))));
		else
			assert_string_equal(sdtxt, "");
		assert_true(fabs(between - (double)(as_of - rmax) / rn) < 1e-12);
		assert_true(fabs(s30 - r30) < 1e-6);
		seen++;
		line = end + 1;
	}
	int distinct = 0;
	for (int c = 1; c <= NCUST; c++)
		for (int i = 0; i < NORD; i++)
			if (cust[i] == c) {
				distinct++;
				break;
			}
	assert_int_equal(seen, distinct);
	free(csv);

	/* Refresh merges: a new order for one customer changes only it. */
	table_put(f->s, "orders", false, "100000,1,1000.00,2026-11-26\n100001,555,1.00,2026-11-26\n");
	struct pipeline_opts o = { 0 };
	assert_int_equal(pipeline_parse_word("now\n", 4, &o, &err), 0);
	assert_false(o.has_as_of);
	assert_int_equal(pipeline_refresh(f->s, "cf", &o, &err), 0);
	assert_int_equal(features_row_csv(f->s, "cf", "555", false, 0, &b, &err), 0);
	assert_non_null(strstr(b.data, "\n555,1,1.0,1.0,1,1,,1.0,1.0\n"));
	buf_free(&b);
	buf_free(&text);
}

static void test_errors_and_words(void **state)
{
	struct store_fixture *f = *state;
	struct mlfs_err err = { 0 };
	struct pipeline_opts o;
	assert_int_equal(table_create(f->s, "orders", &err), 0);
	table_put(f->s, "orders", true, "order_id,customer_id,amount,order_date,note\n1,1,2.5,2026-01-01,hi\n");
	assert_int_equal(features_create(f->s, "cf", &err), 0);
	struct {
		const char *text, *msg;
	} cases[] = {
		{ "source: nope\nkey: customer_id\nfeatures: {n: count(*)}\n",
		  "line 1, column 9: source: no table 'nope' under /tables" },
		{ "source: orders\nkey: cust\nfeatures: {n: count(*)}\n",
		  "line 2, column 6: key: no column 'cust' in table 'orders'" },
		{ "source: orders\nkey: customer_id\nfeatures:\n  n: sum(note)\n",
		  "line 4, column 10: feature 'n': sum needs a number, but column 'note' is string" },
		{ "source: orders\nkey: customer_id\nfeatures:\n  a: b\n  b: a\n",
		  "depends on itself" },
		{ "source: orders\nkey: customer_id\nfeatures:\n  customer_id: count(*)\n",
		  "has the name of a key column" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(pipeline_validate(f->s, "cf", cases[i].text, strlen(cases[i].text), &err), -EINVAL);
		if (!strstr(err.msg, cases[i].msg))
			fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, cases[i].msg);
		assert_int_equal(pipeline_set(f->s, "cf", cases[i].text, strlen(cases[i].text), &err), -EINVAL);
	}
	/* Partial text: only errors no appended text can fix. */
	const char *part = "source: orders\nkey: customer_id\nfeatures:\n  n: count(";
	assert_int_equal(pipeline_validate_partial(f->s, "cf", part, strlen(part), &err), 0);
	part = "source: nope\nkey: customer_id\nfeatures:\n  n: count(*)\n";
	assert_int_equal(pipeline_validate_partial(f->s, "cf", part, strlen(part), &err), -EINVAL);
	/* No pipeline yet. */
	assert_int_equal(pipeline_refresh(f->s, "cf", NULL, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "no pipeline.yaml"));
	assert_int_equal(pipeline_refresh(f->s, "nope", NULL, &err), -ENOENT);
	/* Words. */
	assert_int_equal(pipeline_parse_word("1\n", 2, &o, &err), 0);
	assert_int_equal(pipeline_parse_word(" REFRESH ", 9, &o, &err), 0);
	assert_int_equal(pipeline_parse_word("2026-06-01\n", 11, &o, &err), 0);
	assert_true(o.has_as_of && o.as_of_is_date);
	assert_int_equal(pipeline_parse_word("2026-06-01T10:00:00Z", 20, &o, &err), 0);
	assert_true(o.has_as_of && !o.as_of_is_date);
	assert_int_equal(pipeline_parse_word("", 0, &o, &err), -EINVAL);
	assert_int_equal(pipeline_parse_word("go", 2, &o, &err), -EINVAL);
	/* Empty pipeline text removes it. */
	const char *ok = "source: orders\nkey: customer_id\nfeatures: {n: count(*)}\n";
	assert_int_equal(pipeline_set(f->s, "cf", ok, strlen(ok), &err), 0);
	assert_int_equal(pipeline_set(f->s, "cf", "", 0, &err), 0);
	assert_int_equal(pipeline_refresh(f->s, "cf", NULL, &err), -EINVAL);
	/* The source loses a column: refresh fails, nothing merged, report says so. */
	const char *sp = "source: orders\nkey: customer_id\nfeatures: {s: sum(amount)}\n";
	assert_int_equal(pipeline_set(f->s, "cf", sp, strlen(sp), &err), 0);
	table_put(f->s, "orders", true, "order_id,customer_id\n1,1\n");
	assert_int_equal(pipeline_refresh(f->s, "cf", NULL, &err), -EINVAL);
	struct buf b = { 0 };
	assert_int_equal(pipeline_report_text(f->s, "cf", &b), 0);
	assert_non_null(strstr(b.data, "status failed\n"));
	assert_non_null(strstr(b.data, "unknown column 'amount'"));
	struct features_info info;
	assert_int_equal(features_stat(f->s, "cf", &info), 0);
	assert_int_equal(info.rows, 0);
	buf_free(&b);
}

static void replace_source(struct store *s, const char *source)
{
	table_put(s, source, true, "order_id,customer_id,amount,order_date\n1,1,1.0,2026-01-01\n");
}

static void test_source_changes_during_refresh(void **state)
{
	struct store_fixture *f = *state;
	struct mlfs_err err = { 0 };
	assert_int_equal(table_create(f->s, "orders", &err), 0);
	table_put(f->s, "orders", true, "order_id,customer_id,amount,order_date\n1,1,2.5,2026-01-01\n2,2,3.5,2026-01-02\n");
	assert_int_equal(features_create(f->s, "cf", &err), 0);
	const char *sp = "source: orders\nkey: customer_id\nfeatures: {s: sum(amount)}\n";
	assert_int_equal(pipeline_set(f->s, "cf", sp, strlen(sp), &err), 0);
	pipeline_test_hook = replace_source;
	assert_int_equal(pipeline_refresh(f->s, "cf", NULL, &err), -EAGAIN);
	assert_non_null(strstr(err.msg, "changed during the refresh; nothing merged"));
	char *csv = data_csv(f->s, "cf");
	assert_string_equal(csv, "");
	free(csv);
	pipeline_test_hook = NULL;
	assert_int_equal(pipeline_refresh(f->s, "cf", NULL, &err), 0);
	csv = data_csv(f->s, "cf");
	assert_string_equal(csv, "customer_id,s\n1,1.0\n");
	free(csv);
}

static void test_versions_and_composite(void **state)
{
	struct store_fixture *f = *state;
	struct mlfs_err err = { 0 };
	struct buf b = { 0 };
	struct pipeline_opts o;
	assert_int_equal(table_create(f->s, "sales", &err), 0);
	table_put(f->s, "sales", true,
		  "store,item,qty,day\n1,x,2,2026-01-01\n1,x,3,2026-02-01\n2,x,4,2026-01-15\n1,y,1,2026-01-20\n");
	assert_int_equal(features_create(f->s, "sf", &err), 0);
	assert_int_equal(features_set_ts(f->s, "sf", "as_of\n", 6, true, &err), 0);
	const char *sp = "source: sales\nkey: [store, item]\nfeatures:\n"
			 "  q: sum(qty) where day <= as_of\n  last_day: max(day) where day <= as_of\n";
	assert_int_equal(pipeline_set(f->s, "sf", sp, strlen(sp), &err), 0);
	assert_int_equal(pipeline_parse_word("2026-01-31", 10, &o, &err), 0);
	assert_int_equal(pipeline_refresh(f->s, "sf", &o, &err), 0);
	assert_int_equal(pipeline_parse_word("2026-02-28", 10, &o, &err), 0);
	assert_int_equal(pipeline_refresh(f->s, "sf", &o, &err), 0);
	char *csv = data_csv(f->s, "sf");
	assert_string_equal(csv, "store,item,q,last_day,as_of\n"
				 "1,x,5,2026-02-01,2026-02-28\n"
				 "1,y,1,2026-01-20,2026-02-28\n"
				 "2,x,4,2026-01-15,2026-02-28\n");
	free(csv);
	int32_t d;
	value_parse_date("2026-02-10", 10, &d);
	assert_int_equal(features_row_csv(f->s, "sf", "1,x", true, d * 86400000000LL, &b, &err), 0);
	assert_string_equal(b.data, "store,item,q,last_day,as_of\n1,x,2,2026-01-01,2026-01-31\n");
	/* `timestamp:` leaves rows after as_of out, without a where clause. */
	assert_int_equal(features_create(f->s, "pit", &err), 0);
	const char *pit = "source: sales\nkey: [store, item]\ntimestamp: day\nfeatures:\n  q: sum(qty)\n  n: count(*)\n";
	assert_int_equal(pipeline_set(f->s, "pit", pit, strlen(pit), &err), 0);
	assert_int_equal(pipeline_parse_word("2026-01-16", 10, &o, &err), 0);
	assert_int_equal(pipeline_refresh(f->s, "pit", &o, &err), 0);
	char *p2 = data_csv(f->s, "pit");
	assert_string_equal(p2, "store,item,q,n\n1,x,2,1\n2,x,4,1\n");
	free(p2);
	const char *badts = "source: sales\nkey: store\ntimestamp: qty\nfeatures: {n: count(*)}\n";
	assert_int_equal(pipeline_validate(f->s, "pit", badts, strlen(badts), &err), -EINVAL);
	assert_non_null(strstr(err.msg, "line 3, column 12: timestamp: column 'qty' is int, not a date or timestamp"));
	buf_free(&b);
}

/* The parallel scan gives what the single scan gives, also when its cuts
 * fall inside quoted fields holding newlines (it falls back). */
static void test_parallel_scan(void **state)
{
	struct store_fixture *f = *state;
	struct mlfs_err err = { 0 };
	struct buf text = { 0 };
	assert_int_equal(table_create(f->s, "ev", &err), 0);
	for (int quoted = 0; quoted < 2; quoted++) {
		buf_reset(&text);
		buf_puts(&text, "k,x,note,day\n");
		srand(5);
		for (int i = 0; i < 4000; i++) {
			char d[16];
			fmt_date(d, 20000 + rand() % 300);
			buf_printf(&text, "%d,%d.%02d,%s,%s\n", rand() % 97, rand() % 1000, rand() % 100,
				   quoted ? "\"two\nlines, and more text to cut in\"" : "plain", d);
		}
		table_put(f->s, "ev", true, text.data);
		const char *sp = "source: ev\nkey: k\nfeatures:\n"
				 "  n: count(*)\n  s: sum(x)\n  f: first(x)\n  l: last(x)\n"
				 "  d: count_distinct(day)\n  m: max(note)\n";
		char *out[2];
		for (int par = 0; par < 2; par++) {
			char name[16];
			snprintf(name, sizeof(name), "f%d%d", quoted, par);
			pipeline_parallel_min_bytes = par ? 0 : (size_t)1 << 40;
			assert_int_equal(features_create(f->s, name, &err), 0);
			assert_int_equal(pipeline_set(f->s, name, sp, strlen(sp), &err), 0);
			assert_int_equal(pipeline_refresh(f->s, name, NULL, &err), 0);
			struct buf rep = { 0 };
			assert_int_equal(pipeline_report_text(f->s, name, &rep), 0);
			assert_non_null(strstr(rep.data, "rows_in 4000\n"));
			buf_free(&rep);
			out[par] = data_csv(f->s, name);
		}
		assert_string_equal(out[0], out[1]);
		assert_non_null(strstr(out[0], "k,n,s,f,l,d,m\n0,"));
		free(out[0]);
		free(out[1]);
	}
	buf_free(&text);
}

/* Property: over random tables (random column types, nulls, ints not in
 * canonical text, quoted text), with appends and replaces between
 * refreshes, a refresh through the columnar form gives exactly the rows
 * a refresh from the CSV text gives.  Every other table has no text
 * column and only canonical ints, so that its int and date keys take the
 * fixed-width records (pipeline_test_fixed_chunks counts them). */
static void random_value(struct buf *b, int type, bool canonical, unsigned *rs)
{
	int x = rand_r(rs);
	if (x % 7 == 0)
		return;		/* null */
	switch (type) {
	case 0:
		if (x % 53 == 1 && !canonical)
			buf_printf(b, "+%d", x % 9);	/* not canonical */
		else
			buf_printf(b, "%d", x % 23 - 5);
		break;
	case 1:
		buf_printf(b, "%d.%0*d", x % 50 - 10, 1 + x % 3, (x >> 8) % 100);
		break;
	case 2:
		if (x % 31 == 1)
			buf_puts(b, "\"q,\"\"x\"\"\n\"");
		else
			buf_printf(b, "s%d", x % 17);
		break;
	case 3:
		buf_printf(b, "2026-%02d-%02d", 1 + x % 6, 1 + (x >> 4) % 28);
		break;
	default:
		buf_puts(b, x & 16 ? "true" : "false");
	}
}

static void random_pipeline(struct buf *sp, const int *types, int ncols, unsigned *rs)
{
	int key;
	do
		key = rand_r(rs) % ncols;
	while (types[key] == 1 || types[key] == 4);	/* int, string or date keys */
	buf_printf(sp, "source: rt\nkey: c%d\nas_of: 2026-06-01\nfeatures:\n", key);
	static const char *const any[] = { "count", "count_distinct", "first", "last", "min", "max" };
	static const char *const num[] = { "sum", "avg", "stddev" };
	int date = -1;
	for (int c = 0; c < ncols; c++) {
		if (c == key)
			continue;
		buf_printf(sp, "  f%d_a: %s(c%d)\n", c, any[rand_r(rs) % 6], c);
		if (types[c] <= 1)
			buf_printf(sp, "  f%d_n: %s(c%d)\n", c, num[rand_r(rs) % 3], c);
		if (types[c] == 3) {
			buf_printf(sp, "  f%d_d: days_since(max(c%d))\n", c, c);
			date = c;
		}
	}
	buf_puts(sp, "  n: count(*)\n");
	if (date >= 0)
		buf_printf(sp, "  recent: count(*) where c%d >= as_of - 30d\n", date);
}

static void test_columnar_equals_text(void **state)
{
	struct store_fixture *f = *state;
	struct mlfs_err err = { 0 };
	struct buf text = { 0 }, sp = { 0 };
	unsigned rs = 11;
	int types[5], ncols = 5;
	assert_int_equal(table_create(f->s, "rt", &err), 0);
	uint64_t fixed0 = pipeline_test_fixed_chunks;
	for (int round = 0; round < 24; round++) {
		bool replace = round % 4 == 0;
		bool plain = round / 4 % 2 == 1;
		if (replace) {
			for (int c = 0; c < ncols; c++) {
				types[c] = rand_r(&rs) % 5;
				if (plain && types[c] == 2)
					types[c] = 1;	/* no text column */
			}
			types[rand_r(&rs) % ncols] = 0;	/* a key candidate */
		}
		buf_reset(&text);
		if (replace) {
			for (int c = 0; c < ncols; c++)
				buf_printf(&text, "%sc%d", c ? "," : "", c);
			buf_putc(&text, '\n');
		}
		int rows = 1 + rand_r(&rs) % 3000;
		for (int r = 0; r < rows; r++) {
			for (int c = 0; c < ncols; c++) {
				if (c)
					buf_putc(&text, ',');
				random_value(&text, types[c], plain, &rs);
			}
			buf_putc(&text, '\n');
		}
		table_put(f->s, "rt", replace, text.data);
		buf_reset(&sp);
		random_pipeline(&sp, types, ncols, &rs);
		char *out[2];
		for (int col = 0; col < 2; col++) {
			char name[16];
			snprintf(name, sizeof(name), "p%d_%d", round, col);
			pipeline_parallel_min_bytes = col ? 0 : (size_t)1 << 40;
			assert_int_equal(features_create(f->s, name, &err), 0);
			assert_int_equal(pipeline_set(f->s, name, sp.data, sp.len, &err), 0);
			int rc = pipeline_refresh(f->s, name, NULL, &err);
			if (rc)
				fail_msg("%s\n%s", err.msg, sp.data);
			out[col] = data_csv(f->s, name);
		}
		/* The second refresh went through a columnar form. */
		struct store_iter *it = store_iter_new(f->s, NULL, "k/", 2, "k0", 2);
		store_iter_seek_first(it);
		assert_true(store_iter_valid(it));
		store_iter_free(it);
		assert_string_equal(out[0], out[1]);
		assert_true(strlen(out[0]) > 0);
		free(out[0]);
		free(out[1]);
	}
	assert_true(pipeline_test_fixed_chunks > fixed0);
	buf_free(&text);
	buf_free(&sp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_seed_pipeline_against_reference, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors_and_words, setup, teardown),
		cmocka_unit_test_setup_teardown(test_source_changes_during_refresh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_versions_and_composite, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parallel_scan, setup, teardown),
		cmocka_unit_test_setup_teardown(test_columnar_equals_text, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
