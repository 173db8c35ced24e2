/* test_tracking.c - experiments, runs, params, metric series, parents
 * and runs.csv on a real store, against values worked out by hand. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include <cmocka.h>

#include "store_fixture.h"

#include "attrs.h"
#include "blob.h"
#include "store.h"
#include "tracking.h"
#include "tracking_int.h"

static int setup(void **state)
{
	struct store_fixture *f = store_fixture_open();
	assert_int_equal(tracking_experiment_create(f->s, "e", NULL), 0);
	uint64_t art;
	assert_int_equal(blob_root_new(f->s, 0755, 7, 8, &art, NULL), 0);
	assert_int_equal(tracking_run_create(f->s, "e", "r", 1000, 7, 8, art, NULL), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	store_fixture_close(*state);
	return 0;
}

#define LOG(text) tracking_metric_log(f->s, "e", "r", "loss", text, strlen(text), 5000, &err)

static void test_metric_forms_and_text(void **state)
{
	struct store_fixture *f = *state;
	struct mlfs_err err = { 0 };
	struct buf b = { 0 };
	uint64_t size;
	int64_t mtime;
	assert_int_equal(LOG("0.5\n0.25 7\n123 1e-05 -2\n\n"), 0);
	assert_int_equal(tracking_metric_text(f->s, "e", "r", "loss", &b), 0);
	assert_string_equal(b.data, "5000 0.5 0\n5000 0.25 7\n123 1e-05 -2\n");
	assert_int_equal(tracking_metric_size(f->s, "e", "r", "loss", &size, &mtime), 0);
	assert_int_equal(size, b.len);
	assert_int_equal(mtime, 5000);
	buf_free(&b);
}

static void test_bad_line_rejects_all(void **state)
{
	struct store_fixture *f = *state;
	struct mlfs_err err = { 0 };
	uint64_t size;
	int64_t mtime;
	assert_int_equal(LOG("1\n2\nbad\n"), -EINVAL);
	assert_string_equal(err.msg, "line 3: 'bad' is not a number");
	assert_int_equal(tracking_metric_size(f->s, "e", "r", "loss", &size, &mtime), -ENOENT);
	assert_int_equal(LOG("1 2.5\n"), -EINVAL);
	assert_int_equal(LOG("-1 2 3\n"), -EINVAL);
}

static void test_latest_by_step_then_time(void **state)
{
	struct store_fixture *f = *state;
	struct mlfs_err err = { 0 };
	struct buf b = { 0 };
	/* step 5 at t=100 (0.9), step 3 later (0.8), step 5 at t=300 (0.7):
	 * MLflow's latest is max by (step, timestamp) = 0.7. */
	assert_int_equal(LOG("100 0.9 5\n200 0.8 3\n300 0.7 5\n250 0.6 5\n"), 0);
	assert_int_equal(tracking_runs_csv(f->s, "e", &b, &err), 0);
	assert_string_equal(b.data,
			    "run,status,start_time,end_time,duration_s,parent,metrics.loss\n"
			    "r,RUNNING,1970-01-01T00:00:01.000Z,,,,0.7\n");
	buf_free(&b);
}

static void test_params_once_tags_many(void **state)
{
	struct store_fixture *f = *state;
	struct mlfs_err err = { 0 };
	struct buf b = { 0 };
	assert_int_equal(tracking_value_set(f->s, "e", "r", "params", "lr", "0.1\n", 4, true, &err), 0);
	assert_int_equal(tracking_value_set(f->s, "e", "r", "params", "lr", "0.1", 3, true, &err), 0);
	assert_int_equal(tracking_value_set(f->s, "e", "r", "params", "lr", "0.2", 3, true, &err), -EINVAL);
	assert_int_equal(tracking_value_get(f->s, "e", "r", "params", "lr", &b), 0);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.data, "0.1", 3);
	assert_int_equal(tracking_value_set(f->s, "e", "r", "tags", "t", "a", 1, true, &err), 0);
	assert_int_equal(tracking_value_set(f->s, "e", "r", "tags", "t", "b", 1, true, &err), 0);
	assert_int_equal(tracking_value_delete(f->s, "e", "r", "tags", "t", &err), 0);
	assert_int_equal(tracking_value_get(f->s, "e", "r", "tags", "t", &b), -ENOENT);
	assert_int_equal(tracking_value_set(f->s, "e", "r", "params", "bad/key", "1", 1, true, &err), -EINVAL);
	buf_free(&b);
}

static void test_status_and_parents(void **state)
{
	struct store_fixture *f = *state;
	struct mlfs_err err = { 0 };
	struct run_info r;
	assert_int_equal(tracking_run_set_status(f->s, "e", "r", "DONE", 4, 9000, true, &err), -EINVAL);
	assert_int_equal(tracking_run_set_status(f->s, "e", "r", "FAILED\n", 7, 9000, true, &err), 0);
	assert_int_equal(tracking_run_get(f->s, "e", "r", &r), 0);
	assert_int_equal(r.status, RUN_FAILED);
	assert_int_equal(r.end_ms, 9000);
	assert_int_equal(r.uid, 7);
	assert_int_equal(tracking_run_create(f->s, "e", "c", 1, 0, 0, 0, NULL), 0);
	assert_int_equal(tracking_run_create(f->s, "e", "g", 1, 0, 0, 0, NULL), 0);
	assert_int_equal(tracking_run_set_parent(f->s, "e", "c", "r", &err), 0);
	assert_int_equal(tracking_run_set_parent(f->s, "e", "g", "c", &err), 0);
	assert_int_equal(tracking_run_set_parent(f->s, "e", "r", "g", &err), -EINVAL);
	assert_int_equal(tracking_run_set_parent(f->s, "e", "r", "r", &err), -EINVAL);
	assert_int_equal(tracking_run_set_parent(f->s, "e", "r", "missing", &err), -EINVAL);
	/* Dropping the parent leaves the child, whose parent reads (deleted). */
	assert_int_equal(tracking_run_drop(f->s, "e", "r", &err), 0);
	struct buf b = { 0 };
	assert_int_equal(tracking_runs_csv(f->s, "e", &b, &err), 0);
	assert_non_null(strstr(b.data, "\nc,RUNNING,1970-01-01T00:00:00.001Z,,,(deleted)\n"));
	assert_non_null(strstr(b.data, "\ng,RUNNING,1970-01-01T00:00:00.001Z,,,c\n"));
	buf_free(&b);
	assert_int_equal(tracking_experiment_drop(f->s, "e", &err), -ENOTEMPTY);
}

static void test_runs_csv_union_of_keys(void **state)
{
	struct store_fixture *f = *state;
	struct mlfs_err err = { 0 };
	struct buf b = { 0 };
	assert_int_equal(tracking_run_create(f->s, "e", "r2", 2000, 0, 0, 0, NULL), 0);
	assert_int_equal(tracking_value_set(f->s, "e", "r", "params", "a", "x,y", 3, true, &err), 0);
	assert_int_equal(tracking_value_set(f->s, "e", "r2", "params", "b", "2", 1, true, &err), 0);
	assert_int_equal(tracking_metric_log(f->s, "e", "r2", "m", "3 1\n", 4, 1, &err), 0);
	assert_int_equal(tracking_runs_csv(f->s, "e", &b, &err), 0);
	assert_string_equal(b.data,
		"run,status,start_time,end_time,duration_s,parent,params.a,params.b,metrics.m\n"
		"r,RUNNING,1970-01-01T00:00:01.000Z,,,,\"x,y\",,\n"
		"r2,RUNNING,1970-01-01T00:00:02.000Z,,,,,2,3.0\n");
	buf_free(&b);
}

static bool not_r(void *ctx, const char *run)
{
	return strcmp(run, ctx) != 0;
}

/* A run the reader may not see leaves no row and none of the columns
 * only it has; the ones it shares stay for the others. */
static void test_runs_csv_visible_leaves_out_hidden_runs(void **state)
{
	struct store_fixture *f = *state;
	struct mlfs_err err = { 0 };
	struct buf b = { 0 };
	assert_int_equal(tracking_run_create(f->s, "e", "r2", 2000, 0, 0, 0, NULL), 0);
	assert_int_equal(tracking_run_set_parent(f->s, "e", "r2", "r", &err), 0);
	assert_int_equal(tracking_value_set(f->s, "e", "r", "params", "secret", "s3", 2, true, &err), 0);
	assert_int_equal(tracking_value_set(f->s, "e", "r", "params", "b", "1", 1, true, &err), 0);
	assert_int_equal(tracking_value_set(f->s, "e", "r2", "params", "b", "2", 1, true, &err), 0);
	assert_int_equal(tracking_metric_log(f->s, "e", "r", "hidden", "9\n", 2, 1, &err), 0);
	assert_int_equal(tracking_metric_log(f->s, "e", "r2", "m", "3 1\n", 4, 1, &err), 0);
	assert_int_equal(tracking_metric_log(f->s, "e", "r", "m", "4 1\n", 4, 1, &err), 0);
	assert_int_equal(tracking_runs_csv_visible(f->s, "e", not_r, "r", &b, &err), 0);
	assert_string_equal(b.data,
		"run,status,start_time,end_time,duration_s,parent,params.b,metrics.m\n"
		"r2,RUNNING,1970-01-01T00:00:02.000Z,,,r,2,3.0\n");
	assert_int_equal(tracking_runs_csv_visible(f->s, "e", not_r, "none", &b, &err), 0);
	struct buf all = { 0 };
	assert_int_equal(tracking_runs_csv(f->s, "e", &all, &err), 0);
	assert_string_equal(b.data, all.data);
	assert_non_null(strstr(all.data, "params.secret"));
	buf_free(&all);
	buf_free(&b);
}

static void test_check_finds_damage(void **state)
{
	struct store_fixture *f = *state;
	struct mlfs_err err = { 0 };
	struct buf report = { 0 };
	assert_int_equal(LOG("1\n2\n"), 0);
	assert_int_equal(LOG("3\n"), 0);
	assert_int_equal(tracking_check(f->s, &report, &err), 0);
	/* Lose the first block of points, as a damaged disk would. */
	struct store_iter *it = store_iter_new(f->s, NULL, "x/m/", 4, "x/m0", 4);
	store_iter_seek_first(it);
	assert_true(store_iter_valid(it));
	size_t kl;
	const char *k = store_iter_key(it, &kl);
	assert_int_equal(store_delete(f->s, k, kl, NULL), 0);
	store_iter_free(it);
	assert_int_equal(tracking_check(f->s, &report, &err), 1);
	assert_non_null(strstr(report.data, "1 points in"));
	/* Lose the run's latest-metrics record too. */
	it = store_iter_new(f->s, NULL, "x/L/", 4, "x/L0", 4);
	store_iter_seek_first(it);
	assert_true(store_iter_valid(it));
	k = store_iter_key(it, &kl);
	assert_int_equal(store_delete(f->s, k, kl, NULL), 0);
	store_iter_free(it);
	buf_reset(&report);
	assert_int_equal(tracking_check(f->s, &report, &err), 2);
	assert_non_null(strstr(report.data, "latest-metrics record"));
	buf_free(&report);
}

/* ---- runs change in parallel ---- */

struct logger {
	struct store *s;
	const char *run, *key;
	int points;
	atomic_bool done;
	int rc;
};

static void *log_points(void *arg)
{
	struct logger *l = arg;
	char line[32];
	for (int i = 0; i < l->points && !l->rc; i++) {
		int n = snprintf(line, sizeof(line), "%d %d\n", i, i);
		l->rc = tracking_metric_log(l->s, "e", l->run, l->key, line, (size_t)n, 5000, NULL);
	}
	atomic_store(&l->done, true);
	return NULL;
}

static void make_run(struct store *s, const char *run)
{
	uint64_t art;
	assert_int_equal(blob_root_new(s, 0755, 7, 8, &art, NULL), 0);
	assert_int_equal(tracking_run_create(s, "e", run, 1000, 7, 8, art, NULL), 0);
}

/* A run whose lock is not HELD's: "NAME0", "NAME1", ... the first. */
static void other_stripe(char *out, size_t n, const char *name, uint64_t eid,
			 const char *held)
{
	for (int i = 0;; i++) {
		assert_true(i < 1000);
		snprintf(out, n, "%s%d", name, i);
		if (tracking_run_stripe(eid, out) != tracking_run_stripe(eid, held))
			return;
	}
}

static bool wait_done(struct logger *l, int ms)
{
	for (int i = 0; i < ms && !atomic_load(&l->done); i++)
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	return atomic_load(&l->done);
}

/* While one run's lock is held (as a long change to it would), logging
 * to two other runs of the experiment finishes; logging to the held run
 * waits for it, then lands; runs.csv shows all three after. */
static void test_runs_change_in_parallel(void **state)
{
	struct store_fixture *f = *state;
	char b[16], c[16];
	uint64_t eid;
	pthread_t th[3];
	struct buf csv = { 0 };

	assert_int_equal(tracking_runs_csv(f->s, "e", &csv, NULL), 0);
	assert_int_equal(tracking_run_begin(f->s, "e", "r", &eid), 0);
	tracking_run_end(f->s, eid, "r");
	other_stripe(b, sizeof(b), "b", eid, "r");
	other_stripe(c, sizeof(c), "c", eid, "r");
	make_run(f->s, b);
	make_run(f->s, c);
	struct logger l[3] = {
		{ .s = f->s, .run = b, .key = "acc", .points = 50 },
		{ .s = f->s, .run = c, .key = "acc", .points = 50 },
		{ .s = f->s, .run = "r", .key = "acc", .points = 1 },
	};
	assert_int_equal(tracking_run_begin(f->s, "e", "r", &eid), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&th[i], NULL, log_points, &l[i]), 0);
	bool others = wait_done(&l[0], 10000) && wait_done(&l[1], 10000);
	bool held_waited = !wait_done(&l[2], 50);
	tracking_run_end(f->s, eid, "r");
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	assert_true(others);
	assert_true(held_waited);
	for (int i = 0; i < 3; i++)
		assert_int_equal(l[i].rc, 0);
	/* The cached runs.csv of before is not served. */
	assert_int_equal(tracking_runs_csv(f->s, "e", &csv, NULL), 0);
	assert_non_null(strstr(csv.data, "metrics.acc"));
	char row[64];
	snprintf(row, sizeof(row), "\n%s,", b);
	assert_non_null(strstr(csv.data, row));
	assert_non_null(strstr(strstr(csv.data, row), ",49.0\n"));
	buf_free(&csv);
}

/* Four threads append to one run, to one metric each and to a shared
 * one: every point of each is there, and the run's latest-metrics
 * record (read, changed, written by each append) lost no key. */
static void test_concurrent_appends_to_one_run_lose_nothing(void **state)
{
	struct store_fixture *f = *state;
	enum { N = 4, POINTS = 100 };
	static const char *own[N] = { "m0", "m1", "m2", "m3" };
	struct logger l[2 * N];
	pthread_t th[2 * N];
	struct buf text = { 0 };

	for (int i = 0; i < 2 * N; i++) {
		l[i] = (struct logger){ .s = f->s, .run = "r", .points = POINTS,
					.key = i < N ? own[i] : "shared" };
		assert_int_equal(pthread_create(&th[i], NULL, log_points, &l[i]), 0);
	}
	for (int i = 0; i < 2 * N; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(l[i].rc, 0);
	}
	for (int i = 0; i < N; i++) {
		assert_int_equal(tracking_metric_text(f->s, "e", "r", own[i], &text), 0);
		/* In its thread's order, from the first to the last. */
		char last[32];
		int n = snprintf(last, sizeof(last), "5000 %d.0 %d\n", POINTS - 1, POINTS - 1);
		size_t lines = 0;
		for (size_t j = 0; j < text.len; j++)
			lines += text.data[j] == '\n';
		assert_int_equal(lines, POINTS);
		assert_memory_equal(text.data, "5000 0.0 0\n", 11);
		assert_memory_equal(text.data + text.len - n, last, n);
	}
	assert_int_equal(tracking_metric_text(f->s, "e", "r", "shared", &text), 0);
	size_t lines = 0;
	for (size_t j = 0; j < text.len; j++)
		lines += text.data[j] == '\n';
	assert_int_equal(lines, N * POINTS);
	assert_int_equal(tracking_runs_csv(f->s, "e", &text, NULL), 0);
	for (int i = 0; i < N; i++) {
		char col[32];
		snprintf(col, sizeof(col), "metrics.%s", own[i]);
		assert_non_null(strstr(text.data, col));
	}
	assert_non_null(strstr(text.data, "metrics.shared"));
	buf_free(&text);
}

/* ---- a run is made and removed in one batch ---- */

static size_t count_keys(struct store *s, const char *lo, const char *hi)
{
	size_t n = 0;
	struct store_iter *it = store_iter_new(s, NULL, lo, strlen(lo), hi, strlen(hi));
	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it))
		n++;
	store_iter_free(it);
	return n;
}

/* Whether the store holds all of run RUN (its record, its artifacts
 * root, no attrs at ATTRS) or none of it (nor an artifacts root more). */
static bool whole_or_none(struct store *s, const char *run, const char *attrs,
			  size_t roots_without)
{
	struct run_info r;
	struct blob_stat st;
	struct attrs a;
	size_t roots = count_keys(s, "b/i/", "b/i0");
	if (tracking_run_get(s, "e", run, &r) == 0)
		return blob_stat(s, r.artifacts, &st) == 0 && st.dir &&
		       r.mode == 0700 && roots == roots_without + 1 &&
		       attrs_get(s, attrs, &a) == -ENOENT;
	return roots == roots_without;
}

/* A daemon dying after any number of the writes of a mkdir or an rmdir
 * of a run leaves the whole run or nothing: no artifacts tree without
 * its run, no run without its tree, no chmod of an earlier run of the
 * name. */
static void test_run_made_and_removed_in_one_batch(void **state)
{
	struct store_fixture *f = *state;
	const struct attrs old = { .mode = 0777, .uid = 9, .gid = 9 };
	size_t roots = count_keys(f->s, "b/i/", "b/i0");
	for (int after = 0; after < 4; after++) {
		char run[16];
		snprintf(run, sizeof(run), "c%d", after);
		assert_int_equal(attrs_put(f->s, run, &old, NULL), 0);
		store_test_fail_writes(f->s, after, -EIO);
		int rc = tracking_run_make(f->s, "e", run, 2000, 7, 8, 0700, run, NULL);
		store_test_fail_writes(f->s, 0, 0);
		assert_true(rc == 0 || rc == -EIO);
		assert_true(whole_or_none(f->s, run, run, roots));
		if (rc == 0)
			break;
	}
	/* The id counter, then one batch: made once two writes may go. */
	struct run_info made;
	assert_int_equal(tracking_run_get(f->s, "e", "c2", &made), 0);
	assert_int_equal(tracking_run_get(f->s, "e", "c1", &made), -ENOENT);
	/* The made run, removed with a daemon dying after 0 writes: still
	 * whole; then removed: all gone, attrs too. */
	assert_int_equal(attrs_put(f->s, "c2", &old, NULL), 0);
	store_test_fail_writes(f->s, 0, -EIO);
	assert_int_equal(tracking_run_remove(f->s, "e", "c2", "c2", NULL), -EIO);
	store_test_fail_writes(f->s, 0, 0);
	struct run_info r;
	struct attrs a;
	assert_int_equal(tracking_run_get(f->s, "e", "c2", &r), 0);
	assert_int_equal(attrs_get(f->s, "c2", &a), 0);
	assert_int_equal(count_keys(f->s, "b/i/", "b/i0"), roots + 1);
	assert_int_equal(tracking_run_remove(f->s, "e", "c2", "c2", NULL), 0);
	assert_int_equal(tracking_run_get(f->s, "e", "c2", &r), -ENOENT);
	assert_int_equal(attrs_get(f->s, "c2", &a), -ENOENT);
	assert_int_equal(count_keys(f->s, "b/i/", "b/i0"), roots);
}

/* An experiment is made and dropped in one batch with its owner and
 * mode: failing every write after N of them, for any N, leaves it whole
 * (with its owner, the attrs of an earlier one of the name gone) or
 * absent (those attrs still there). */
static void test_experiment_owner_in_its_record(void **state)
{
	struct store_fixture *f = *state;
	const struct attrs old = { .mode = 0777, .uid = 9, .gid = 9 };
	uint32_t uid, gid, mode;
	int64_t ctime;
	struct attrs a;
	int made = 0;
	for (int n = 0; n < 4; n++) {
		assert_int_equal(attrs_put(f->s, "/experiments/o", &old, NULL), 0);
		store_test_fail_writes(f->s, n, -EIO);
		int rc = tracking_experiment_make(f->s, "o", 7, 8, 0700, "/experiments/o", NULL);
		store_test_fail_writes(f->s, 0, 0);
		if (rc) {
			assert_int_equal(rc, -EIO);
			assert_false(tracking_experiment_exists(f->s, "o"));
			assert_int_equal(attrs_get(f->s, "/experiments/o", &a), 0);
			continue;
		}
		assert_int_equal(tracking_experiment_owner(f->s, "o", &uid, &gid, &mode, &ctime), 0);
		assert_int_equal(uid, 7);
		assert_int_equal(gid, 8);
		assert_int_equal(mode, 0700);
		assert_true(ctime > 0);
		assert_int_equal(attrs_get(f->s, "/experiments/o", &a), -ENOENT);
		made++;
		/* A chmod and a description; a failed drop changes nothing,
		 * then the drop takes the attrs along. */
		assert_int_equal(attrs_put(f->s, "/experiments/o", &old, NULL), 0);
		assert_int_equal(tracking_experiment_set_text(f->s, "o", "description", "d\n", 2, true, NULL), 0);
		assert_int_equal(tracking_experiment_owner(f->s, "o", &uid, &gid, &mode, &ctime), 0);
		assert_int_equal(uid, 7);
		store_test_fail_writes(f->s, 0, -EIO);
		assert_int_equal(tracking_experiment_remove(f->s, "o", "/experiments/o", NULL), -EIO);
		store_test_fail_writes(f->s, 0, 0);
		assert_true(tracking_experiment_exists(f->s, "o"));
		assert_int_equal(attrs_get(f->s, "/experiments/o", &a), 0);
		assert_int_equal(tracking_experiment_remove(f->s, "o", "/experiments/o", NULL), 0);
		assert_false(tracking_experiment_exists(f->s, "o"));
		assert_int_equal(attrs_get(f->s, "/experiments/o", &a), -ENOENT);
	}
	assert_true(made > 0 && made < 4);
	/* Made without an owner (by a job), it records none. */
	assert_int_equal(tracking_experiment_owner(f->s, "e", &uid, &gid, &mode, &ctime), -ENOENT);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_metric_forms_and_text),
		T(test_bad_line_rejects_all),
		T(test_latest_by_step_then_time),
		T(test_params_once_tags_many),
		T(test_status_and_parents),
		T(test_runs_csv_union_of_keys),
		T(test_runs_csv_visible_leaves_out_hidden_runs),
		T(test_check_finds_damage),
		T(test_runs_change_in_parallel),
		T(test_concurrent_appends_to_one_run_lose_nothing),
		T(test_run_made_and_removed_in_one_batch),
		T(test_experiment_owner_in_its_record),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
