/* test_two_stores.c - two stores open in one process share nothing: a
 * table of the same name, a feature table and an experiment in each read
 * back their own stats.csv and runs.csv, whatever was read first (these
 * caches were per process once, and the second store got the first's). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "blob.h"
#include "features.h"
#include "stats.h"
#include "table.h"
#include "tracking.h"
#include "store_fixture.h"

static void put_table(struct store *s, const char *text)
{
	struct table_writer *w;
	assert_int_equal(table_create(s, "t", NULL), 0);
	assert_int_equal(table_writer_open(s, "t", true, &w, NULL), 0);
	assert_int_equal(table_writer_write(w, text, strlen(text), NULL), 0);
	assert_int_equal(table_writer_commit(w, true, NULL), 0);
	table_writer_free(w);
}

static void put_features(struct store *s, const char *text)
{
	struct features_writer *w;
	assert_int_equal(features_create(s, "f", NULL), 0);
	assert_int_equal(features_writer_open(s, "f", true, &w, NULL), 0);
	assert_int_equal(features_writer_write(w, text, strlen(text), NULL), 0);
	assert_int_equal(features_writer_commit(w, true, NULL), 0);
	features_writer_free(w);
}

static void put_run(struct store *s, const char *run)
{
	uint64_t root;
	assert_int_equal(tracking_experiment_create(s, "e", NULL), 0);
	assert_int_equal(blob_root_new(s, 0755, 0, 0, &root, NULL), 0);
	assert_int_equal(tracking_run_create(s, "e", run, 1000, 0, 0, root, NULL), 0);
}

static void each_store_reads_its_own(void **state)
{
	struct store_fixture *a = store_fixture_open(), *b = store_fixture_open();
	struct buf ta = { 0 }, tb = { 0 };

	/* The same names, the same object ids and versions, other rows. */
	put_table(a->s, "x\n1\n2\n");
	put_table(b->s, "x\n7\n8\n9\n");
	put_features(a->s, "k,v\n1,10\n");
	put_features(b->s, "k,v\n1,20\n2,30\n");
	put_run(a->s, "only_in_a");
	put_run(b->s, "only_in_b");

	assert_int_equal(stats_table_csv(a->s, "t", &ta, NULL), 0);
	assert_int_equal(stats_table_csv(b->s, "t", &tb, NULL), 0);
	assert_non_null(strstr(ta.data, "x,int,2,"));
	assert_non_null(strstr(tb.data, "x,int,3,"));

	assert_int_equal(features_stats_csv(a->s, "f", &ta, NULL), 0);
	assert_int_equal(features_stats_csv(b->s, "f", &tb, NULL), 0);
	assert_string_not_equal(ta.data, tb.data);

	assert_int_equal(tracking_runs_csv(a->s, "e", &ta, NULL), 0);
	assert_int_equal(tracking_runs_csv(b->s, "e", &tb, NULL), 0);
	assert_non_null(strstr(ta.data, "only_in_a"));
	assert_null(strstr(ta.data, "only_in_b"));
	assert_non_null(strstr(tb.data, "only_in_b"));
	assert_null(strstr(tb.data, "only_in_a"));

	buf_free(&ta);
	buf_free(&tb);
	store_fixture_close(a);
	store_fixture_close(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(each_store_reads_its_own),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
