/* test_table.c - raw tables: writers, commits, readers, scans, schema,
 * check and recovery, on a real store in a temp directory. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store_fixture.h"

#include "attrs.h"
#include "stats.h"
#include "store.h"
#include "sweep.h"
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
	store_fixture_close(*state);
	return 0;
}

/* Write TEXT in one stream; returns the write/commit status. */
static int put(struct store *s, const char *name, bool replace,
	       const char *text, struct mlfs_err *err)
{
	struct table_writer *w;
	int rc = table_writer_open(s, name, replace, &w, err);
	if (rc)
		return rc;
	rc = table_writer_write(w, text, strlen(text), err);
	if (!rc)
		rc = table_writer_commit(w, true, err);
	table_writer_free(w);
	return rc;
}

/* The whole data.csv as a NUL-terminated string (caller frees). */
static char *content(struct store *s, const char *name)
{
	struct table_reader *r;
	assert_int_equal(table_reader_open(s, name, &r, NULL), 0);
	uint64_t size = table_reader_size(r);
	char *out = malloc(size + 1);
	/* Read in odd-sized pieces to cross chunk and header boundaries. */
	uint64_t off = 0;
	while (off < size) {
		long n = table_reader_read(r, out + off, 7777, off, NULL);
		assert_true(n > 0);
		off += (uint64_t)n;
	}
	assert_int_equal(table_reader_read(r, out, 10, size, NULL), 0);
	out[size] = '\0';
	table_reader_free(r);
	return out;
}

static void assert_content(struct store *s, const char *want)
{
	char *got = content(s, "t");
	assert_string_equal(got, want);
	free(got);
}

static void test_create_list_drop(void **state)
{
	struct store_fixture *f = *state;
	struct mlfs_err err = { 0 };
	assert_int_equal(table_create(f->s, "t", &err), -EEXIST);
	assert_int_equal(table_create(f->s, ".x", &err), -EINVAL);
	assert_int_equal(table_create(f->s, "a b", &err), -EINVAL);
	assert_int_equal(table_create(f->s, "u", &err), 0);
	assert_int_equal(put(f->s, "u", true, "a\n1\n", &err), 0);
	assert_int_equal(table_drop(f->s, "u", &err), 0);
	struct table_info info;
	assert_int_equal(table_stat(f->s, "u", &info), -ENOENT);
	/* Recreated, it is empty: the old rows went with the drop. */
	assert_int_equal(table_create(f->s, "u", &err), 0);
	assert_int_equal(table_stat(f->s, "u", &info), 0);
	assert_int_equal(info.rows, 0);
	assert_int_equal(info.header_bytes + info.data_bytes, 0);
}

/* A table is made and dropped in one batch with its owner and mode:
 * failing every write after N of them, for any N, leaves it whole (with
 * its owner, the attrs of an earlier table of the name gone) or absent
 * (those attrs still there). */
static void test_owner_in_its_record(void **state)
{
	struct store_fixture *f = *state;
	const struct attrs old = { .mode = 0777, .uid = 9, .gid = 9 };
	struct table_info info;
	struct attrs a;
	int made = 0;
	for (int n = 0; n < 4; n++) {
		assert_int_equal(attrs_put(f->s, "/tables/o", &old, NULL), 0);
		store_test_fail_writes(f->s, n, -EIO);
		int rc = table_make(f->s, "o", 7, 8, 0700, "/tables/o", NULL);
		store_test_fail_writes(f->s, 0, 0);
		if (rc) {
			assert_int_equal(rc, -EIO);
			assert_int_equal(table_stat(f->s, "o", &info), -ENOENT);
			assert_int_equal(attrs_get(f->s, "/tables/o", &a), 0);
			continue;
		}
		assert_int_equal(table_stat(f->s, "o", &info), 0);
		assert_int_equal(info.uid, 7);
		assert_int_equal(info.gid, 8);
		assert_int_equal(info.mode, 0700);
		assert_int_equal(attrs_get(f->s, "/tables/o", &a), -ENOENT);
		made++;
		/* A chmod, then the drop takes it along, or nothing goes. */
		assert_int_equal(attrs_put(f->s, "/tables/o", &old, NULL), 0);
		assert_int_equal(put(f->s, "o", true, "a\n1\n", NULL), 0);
		store_test_fail_writes(f->s, 0, -EIO);
		assert_int_equal(table_remove(f->s, "o", "/tables/o", NULL), -EIO);
		store_test_fail_writes(f->s, 0, 0);
		assert_int_equal(table_stat(f->s, "o", &info), 0);
		assert_int_equal(info.rows, 1);
		assert_int_equal(info.uid, 7);
		assert_int_equal(attrs_get(f->s, "/tables/o", &a), 0);
		assert_int_equal(table_remove(f->s, "o", "/tables/o", NULL), 0);
		assert_int_equal(table_stat(f->s, "o", &info), -ENOENT);
		assert_int_equal(attrs_get(f->s, "/tables/o", &a), -ENOENT);
	}
	assert_true(made > 0 && made < 4);
	/* A table made without an owner records none. */
	assert_int_equal(table_stat(f->s, "t", &info), 0);
	assert_int_equal(info.mode, 0);
}

static void test_replace_append_and_header_skip(void **state)
{
	struct store_fixture *f = *state;
	assert_int_equal(put(f->s, "t", true, "a,b\r\n1,x\n", NULL), 0);
	assert_int_equal(put(f->s, "t", false, "a,b\n2,y\n", NULL), 0);
	assert_int_equal(put(f->s, "t", false, "3,\"q,r\"\n", NULL), 0);
	assert_content(f->s, "a,b\n1,x\n2,y\n3,\"q,r\"\n");
	struct table_info info;
	assert_int_equal(table_stat(f->s, "t", &info), 0);
	assert_int_equal(info.rows, 3);
	assert_int_equal(info.header_bytes, 4);
	assert_int_equal(put(f->s, "t", true, "c\n9\n", NULL), 0);
	assert_content(f->s, "c\n9\n");
}

static void test_bad_rows_change_nothing(void **state)
{
	struct store_fixture *f = *state;
	struct mlfs_err err = { 0 };
	assert_int_equal(put(f->s, "t", true, "a,b\n1,2\n", NULL), 0);
	assert_int_equal(put(f->s, "t", false, "3,4\n5\n", &err), -EINVAL);
	assert_string_equal(err.msg, "line 2, column 2: expected 2 fields, found 1");
	assert_int_equal(put(f->s, "t", true, "a,b\n1,\"open\n", &err), -EINVAL);
	assert_content(f->s, "a,b\n1,2\n");
}

static void test_big_stream_spans_chunks(void **state)
{
	struct store_fixture *f = *state;
	struct table_writer *w;
	struct buf want = { 0 };
	buf_puts(&want, "id,value\n");
	assert_int_equal(table_writer_open(f->s, "t", true, &w, NULL), 0);
	assert_int_equal(table_writer_write(w, want.data, want.len, NULL), 0);
	for (int i = 0; i < 100000; i++) {
		char line[64];
		int n = snprintf(line, sizeof(line), "%d,%d.25\n", i, i * 3);
		buf_append(&want, line, (size_t)n);
		/* Split each line in two writes: records cross writes. */
		assert_int_equal(table_writer_write(w, line, 3, NULL), 0);
		assert_int_equal(table_writer_write(w, line + 3, (size_t)n - 3, NULL), 0);
	}
	/* Until the commit, readers see the old (empty) table. */
	char *before = content(f->s, "t");
	assert_string_equal(before, "");
	free(before);
	assert_int_equal(table_writer_commit(w, false, NULL), 0);
	table_writer_free(w);
	char *got = content(f->s, "t");
	assert_int_equal(strlen(got), want.len);
	assert_string_equal(got, want.data);
	free(got);
	buf_free(&want);
}

static void test_reader_is_a_snapshot(void **state)
{
	struct store_fixture *f = *state;
	struct table_reader *r;
	char out[64];
	assert_int_equal(put(f->s, "t", true, "a\n1\n", NULL), 0);
	assert_int_equal(table_reader_open(f->s, "t", &r, NULL), 0);
	assert_int_equal(put(f->s, "t", true, "b\n22\n", NULL), 0);
	assert_int_equal(table_reader_size(r), 4);
	assert_int_equal(table_reader_read(r, out, sizeof(out), 0, NULL), 4);
	assert_memory_equal(out, "a\n1\n", 4);
	table_reader_free(r);
	assert_content(f->s, "b\n22\n");
}

static void test_declared_schema(void **state)
{
	struct store_fixture *f = *state;
	struct mlfs_err err = { 0 };
	struct buf b = { 0 };
	assert_int_equal(table_set_schema(f->s, "t", "id int\nwhen date\n", 17, &err), 0);
	assert_int_equal(put(f->s, "t", true, "id,when\n1,2026-01-01\n", &err), 0);
	assert_int_equal(put(f->s, "t", false, "x,2026-01-01\n", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "'x' is not a valid int for column 'id'"));
	assert_int_equal(put(f->s, "t", true, "id,other\n1,2\n", &err), -EINVAL);
	assert_int_equal(table_set_schema(f->s, "t", "id date\nwhen date\n", 18, &err), -EINVAL);
	assert_int_equal(table_set_schema(f->s, "t", "id int\nwhen flt\n", 16, &err), -EINVAL);
	assert_int_equal(table_schema_text(f->s, "t", &b, NULL), 0);
	assert_string_equal(b.data, "id int\nwhen date\n");
	buf_free(&b);
	assert_content(f->s, "id,when\n1,2026-01-01\n");
}

static void test_inferred_types_widen(void **state)
{
	struct store_fixture *f = *state;
	struct buf b = { 0 };
	assert_int_equal(put(f->s, "t", true, "a,b,c\n1,2026-01-01,\n", NULL), 0);
	assert_int_equal(put(f->s, "t", false, "1.5,2026-01-01T10:00:00Z,true\n", NULL), 0);
	assert_int_equal(table_schema_text(f->s, "t", &b, NULL), 0);
	assert_string_equal(b.data, "a float\nb timestamp\nc bool\n");
	buf_free(&b);
}

static void test_stats(void **state)
{
	struct store_fixture *f = *state;
	struct buf b = { 0 };
	assert_int_equal(put(f->s, "t", true, "n,s\n1,b\n2,\n4,a\n4,b\n", NULL), 0);
	assert_int_equal(stats_table_csv(f->s, "t", &b, NULL), 0);
	/* mean 11/4 = 2.75; sample variance ((1.75^2+.75^2+1.25^2*2)/3) = 2.25 */
	assert_string_equal(b.data,
		"column,type,count,nulls,distinct,min,max,mean,std\n"
		"n,int,4,0,3,1,4,2.75,1.5\n"
		"s,string,3,1,2,a,b,,\n");
	buf_free(&b);
}

struct appender {
	struct store *s;
	int id;
};

static void *append_rows(void *arg)
{
	struct appender *a = arg;
	struct buf text = { 0 };
	for (int i = 0; i < 1000; i++)
		buf_printf(&text, "%d,%d\n", a->id, i);
	assert_int_equal(put(a->s, "t", false, text.data, NULL), 0);
	buf_free(&text);
	return NULL;
}

static void test_concurrent_appenders(void **state)
{
	struct store_fixture *f = *state;
	pthread_t th[8];
	struct appender a[8];
	assert_int_equal(put(f->s, "t", true, "w,i\n", NULL), 0);
	for (int i = 0; i < 8; i++) {
		a[i] = (struct appender){ f->s, i };
		pthread_create(&th[i], NULL, append_rows, &a[i]);
	}
	for (int i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	char *got = content(f->s, "t");
	int seen[8] = { 0 };
	for (char *line = strtok(got + 4, "\n"); line; line = strtok(NULL, "\n")) {
		int w, i;
		assert_int_equal(sscanf(line, "%d,%d", &w, &i), 2);
		assert_int_equal(i, seen[w]);	/* each writer's rows whole and in order */
		seen[w]++;
	}
	for (int i = 0; i < 8; i++)
		assert_int_equal(seen[i], 1000);
	free(got);
}

static int count_prefix(struct store *s, const char *prefix)
{
	char hi[8];
	strcpy(hi, prefix);
	hi[strlen(hi) - 1]++;
	struct store_iter *it = store_iter_new(s, NULL, prefix, strlen(prefix), hi, strlen(hi));
	int n = 0;
	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it))
		n++;
	store_iter_free(it);
	return n;
}

static void test_check_finds_damage(void **state)
{
	struct store_fixture *f = *state;
	struct buf report = { 0 };
	struct buf big = { 0 };
	buf_puts(&big, "a\n");
	for (int i = 0; i < 200000; i++)
		buf_printf(&big, "%d\n", i);
	assert_int_equal(put(f->s, "t", true, big.data, NULL), 0);
	assert_int_equal(table_check(f->s, &report, NULL), 0);
	assert_int_equal(report.len, 0);
	/* Lose one chunk, as a damaged disk would. */
	struct store_iter *it = store_iter_new(f->s, NULL, "c/", 2, "c0", 2);
	store_iter_seek_first(it);
	assert_true(store_iter_valid(it));
	size_t kl;
	const char *k = store_iter_key(it, &kl);
	assert_int_equal(store_delete(f->s, k, kl, NULL), 0);
	store_iter_free(it);
	assert_true(table_check(f->s, &report, NULL) > 0);
	assert_non_null(strstr(report.data, "table t:"));
	buf_free(&report);
	buf_free(&big);
}

static void test_recover_drops_staged_chunks(void **state)
{
	struct store_fixture *f = *state;
	struct table_writer *w;
	struct buf big = { 0 };
	buf_puts(&big, "a\n");
	for (int i = 0; i < 200000; i++)
		buf_printf(&big, "%d\n", i);
	assert_int_equal(table_writer_open(f->s, "t", true, &w, NULL), 0);
	assert_int_equal(table_writer_write(w, big.data, big.len, NULL), 0);
	/* The stager writes in the background: the crash comes after it. */
	assert_int_equal(table_writer_settle(w, NULL), 0);
	assert_true(count_prefix(f->s, "c/") > 0);	/* staged, not committed */
	assert_int_equal(count_prefix(f->s, "w/"), 1);
	/* What a restart after a crash does: */
	assert_int_equal(table_recover(f->s, NULL), 0);
	assert_int_equal(count_prefix(f->s, "c/"), 0);
	assert_int_equal(count_prefix(f->s, "w/"), 0);
	table_writer_free(w);
	assert_content(f->s, "");
	buf_free(&big);
}

static bool all_gone(void *ctx, const char *owner)
{
	(*(int *)ctx)++;
	(void)owner;
	return true;
}

/* On the embedded store a writer's record names no owner: the sweep of
 * dead owners (table_sweep_dead, sweep_dead) leaves its staged rows, which
 * commit whole; only the startup recovery removes them. */
static void test_sweep_leaves_embedded_writers(void **state)
{
	struct store_fixture *f = *state;
	struct table_writer *w;
	struct buf big = { 0 };
	size_t n = 99;
	int asked = 0;
	struct sweep_counts c = { 1, 1, 1, 1, 1, 1, 1 };
	buf_puts(&big, "a\n");
	for (int i = 0; i < 200000; i++)
		buf_printf(&big, "%d\n", i);
	assert_string_equal(store_writer_name(f->s), "");
	assert_int_equal(table_writer_open(f->s, "t", true, &w, NULL), 0);
	assert_int_equal(table_writer_write(w, big.data, big.len, NULL), 0);
	assert_int_equal(table_writer_settle(w, NULL), 0);
	assert_int_equal(table_sweep_dead(f->s, all_gone, &asked, &n, NULL), 0);
	assert_int_equal(n, 0);
	assert_int_equal(asked, 0);	/* no owner to ask about */
	assert_int_equal(sweep_dead(f->s, 0, &c, NULL), 0);
	assert_int_equal(c.tables + c.builds + c.blobs + c.objects + c.runs + c.trainings + c.forms, 0);
	assert_int_equal(count_prefix(f->s, "w/"), 1);
	assert_int_equal(table_writer_commit(w, true, NULL), 0);
	table_writer_free(w);
	assert_content(f->s, big.data);
	buf_free(&big);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_create_list_drop),
		T(test_owner_in_its_record),
		T(test_replace_append_and_header_skip),
		T(test_bad_rows_change_nothing),
		T(test_big_stream_spans_chunks),
		T(test_reader_is_a_snapshot),
		T(test_declared_schema),
		T(test_inferred_types_widen),
		T(test_stats),
		T(test_concurrent_appenders),
		T(test_check_finds_damage),
		T(test_recover_drops_staged_chunks),
		T(test_sweep_leaves_embedded_writers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
