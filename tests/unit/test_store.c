/* test_store.c - the key-value interface over RocksDB: get/put/delete,
 * atomic batches, range scans, snapshots, bounds and readonly opens;
 * store_unchanged_since (no write ended since a change sequence, none
 * under way). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dirent.h>

#include "store_fixture.h"

#include "store.h"

static int setup(void **state)
{
	struct store_fixture *f = store_fixture_open();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	store_fixture_close(*state);
	return 0;
}

static void test_get_put_delete(void **state)
{
	struct store_fixture *f = *state;
	struct buf v = { 0 };
	assert_int_equal(store_get(f->s, NULL, "k", 1, &v, NULL), -ENOENT);
	assert_int_equal(store_put(f->s, "k", 1, "value", 5, NULL), 0);
	assert_int_equal(store_get(f->s, NULL, "k", 1, &v, NULL), 0);
	assert_int_equal(v.len, 5);
	assert_memory_equal(v.data, "value", 5);
	assert_int_equal(store_delete(f->s, "k", 1, NULL), 0);
	assert_int_equal(store_get(f->s, NULL, "k", 1, &v, NULL), -ENOENT);
	buf_free(&v);
}

/* store_get_view: the value in place, pinned while a later write or
 * delete replaces it (small values and blob-sized ones), at a snapshot
 * too; a missing key gives -ENOENT and no view. */
static void test_get_view_pins(void **state)
{
	struct store_fixture *f = *state;
	struct store_view *view = (struct store_view *)1;
	const char *p = NULL;
	size_t n = 0;
	assert_int_equal(store_get_view(f->s, NULL, "k", 1, &view, &p, &n, NULL), -ENOENT);
	assert_null(view);
	char *big = malloc(50000);
	assert_non_null(big);
	for (size_t len = 5; len <= 50000; len *= 100) {
		for (size_t i = 0; i < len; i++)
			big[i] = (char)('a' + (i * 7 + len) % 26);
		/* Flushed by the reopen: from an SST block, or a blob file
		 * from 4096 bytes on. */
		assert_int_equal(store_put(f->s, "k", 1, big, len, NULL), 0);
		store_fixture_reopen(f);
		struct store_snapshot *snap = store_snapshot_new(f->s);
		assert_int_equal(store_put(f->s, "k", 1, "new", 3, NULL), 0);
		assert_int_equal(store_get_view(f->s, snap, "k", 1, &view, &p, &n, NULL), 0);
		assert_int_equal(n, len);
		assert_memory_equal(p, big, len);
		store_view_release(view);
		/* From the memtable. */
		assert_int_equal(store_get_view(f->s, NULL, "k", 1, &view, &p, &n, NULL), 0);
		assert_int_equal(n, 3);
		assert_memory_equal(p, "new", 3);
		store_view_release(view);
		store_snapshot_free(f->s, snap);
		/* A view outlives the delete of its key. */
		assert_int_equal(store_put(f->s, "k", 1, big, len, NULL), 0);
		store_fixture_reopen(f);
		assert_int_equal(store_get_view(f->s, NULL, "k", 1, &view, &p, &n, NULL), 0);
		assert_int_equal(store_delete(f->s, "k", 1, NULL), 0);
		assert_int_equal(n, len);
		assert_memory_equal(p, big, len);
		store_view_release(view);
		assert_int_equal(store_get_view(f->s, NULL, "k", 1, &view, &p, &n, NULL), -ENOENT);
	}
	store_view_release(NULL);
	free(big);
}

static void test_batch_is_atomic_and_ranges_delete(void **state)
{
	struct store_fixture *f = *state;
	struct buf v = { 0 };
	struct store_batch *b = store_batch_new();
	for (char c = 'a'; c <= 'e'; c++)
		store_batch_put(b, &c, 1, "x", 1);
	store_batch_put2(b, "z", 1, "he", 2, "llo", 3);
	assert_int_equal(store_batch_count(b), 6);
	assert_int_equal(store_write(f->s, b, true, NULL), 0);
	store_batch_clear(b);
	assert_int_equal(store_get(f->s, NULL, "z", 1, &v, NULL), 0);
	assert_memory_equal(v.data, "hello", 5);
	store_batch_delete_range(b, "b", 1, "d", 1);	/* b, c */
	store_batch_delete(b, "z", 1);
	assert_int_equal(store_write(f->s, b, false, NULL), 0);
	store_batch_free(b);
	const char *want[] = { "a", "d", "e" };
	struct store_iter *it = store_iter_new(f->s, NULL, NULL, 0, NULL, 0);
	int n = 0;
	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it), n++) {
		size_t kl;
		const char *k = store_iter_key(it, &kl);
		assert_true(n < 3);
		assert_int_equal(kl, 1);
		assert_memory_equal(k, want[n], 1);
	}
	assert_int_equal(n, 3);
	assert_int_equal(store_iter_status(it, NULL), 0);
	store_iter_free(it);
	buf_free(&v);
}

static void test_iter_bounds_are_copied(void **state)
{
	struct store_fixture *f = *state;
	char lo[8] = "p/", hi[8] = "p0";
	store_put(f->s, "o", 1, "", 0, NULL);
	store_put(f->s, "p/1", 3, "", 0, NULL);
	store_put(f->s, "p/2", 3, "", 0, NULL);
	store_put(f->s, "q", 1, "", 0, NULL);
	struct store_iter *it = store_iter_new(f->s, NULL, lo, 2, hi, 2);
	memset(lo, 'z', sizeof(lo));	/* the caller's buffers may go away */
	memset(hi, 0, sizeof(hi));
	int n = 0;
	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it))
		n++;
	assert_int_equal(n, 2);
	store_iter_seek_last(it);
	size_t kl;
	assert_memory_equal(store_iter_key(it, &kl), "p/2", 3);
	store_iter_free(it);
}

static void test_snapshot_sees_the_past(void **state)
{
	struct store_fixture *f = *state;
	struct buf v = { 0 };
	store_put(f->s, "k", 1, "old", 3, NULL);
	struct store_snapshot *snap = store_snapshot_new(f->s);
	store_put(f->s, "k", 1, "new", 3, NULL);
	store_put(f->s, "k2", 2, "x", 1, NULL);
	assert_int_equal(store_get(f->s, snap, "k", 1, &v, NULL), 0);
	assert_memory_equal(v.data, "old", 3);
	assert_int_equal(store_get(f->s, snap, "k2", 2, &v, NULL), -ENOENT);
	assert_int_equal(store_get(f->s, NULL, "k", 1, &v, NULL), 0);
	assert_memory_equal(v.data, "new", 3);
	store_snapshot_free(f->s, snap);
	buf_free(&v);
}

/* store_on_change's hook runs inside the write: what unchanged_since
 * says there, for the sequence the write just moved to. */
struct during {
	struct store *s;
	int calls;
	bool unchanged;
};

static void during_write(void *arg)
{
	struct during *d = arg;
	d->calls++;
	d->unchanged = store_unchanged_since(d->s, store_change_seq(d->s));
}

static void test_unchanged_since(void **state)
{
	struct store_fixture *f = *state;
	uint64_t seq = store_change_seq(f->s);
	assert_true(store_unchanged_since(f->s, seq));
	assert_false(store_unchanged_since(f->s, seq + 1));
	struct during d = { .s = f->s, .unchanged = true };
	store_on_change(f->s, during_write, &d);
	assert_int_equal(store_put(f->s, "k", 1, "v", 1, NULL), 0);
	/* Counted, but still under way: not yet unchanged. */
	assert_int_equal(d.calls, 1);
	assert_false(d.unchanged);
	assert_false(store_unchanged_since(f->s, seq));
	assert_int_equal(store_change_seq(f->s), seq + 1);
	assert_true(store_unchanged_since(f->s, seq + 1));
	struct store_batch *b = store_batch_new();
	store_batch_delete(b, "k", 1);
	assert_int_equal(store_write(f->s, b, false, NULL), 0);
	store_batch_free(b);
	assert_int_equal(store_delete(f->s, "k", 1, NULL), 0);
	assert_int_equal(d.calls, 3);
	assert_false(store_unchanged_since(f->s, seq + 1));
	assert_true(store_unchanged_since(f->s, seq + 3));
	store_on_change(f->s, NULL, NULL);
}

static void test_reopen_and_readonly(void **state)
{
	struct store_fixture *f = *state;
	struct store *ro;
	struct buf v = { 0 };
	struct mlfs_err err = { 0 };
	store_put(f->s, "durable", 7, "yes", 3, NULL);
	assert_int_equal(store_sync(f->s, NULL), 0);
	/* A reader beside the writer. */
	assert_int_equal(store_open_readonly(f->dir, &ro, &err), 0);
	assert_int_equal(store_get(ro, NULL, "durable", 7, &v, NULL), 0);
	/* It refuses writes with EROFS and says why. */
	struct store_batch *b = store_batch_new();
	store_batch_put(b, "k", 1, "v", 1);
	assert_int_equal(store_write(ro, b, false, &err), -EROFS);
	assert_non_null(strstr(err.msg, "read-only"));
	assert_int_equal(store_put(ro, "k", 1, "v", 1, NULL), -EROFS);
	assert_int_equal(store_delete(ro, "durable", 7, NULL), -EROFS);
	store_batch_free(b);
	store_close(ro);
	/* A second writer is refused while the first holds the lock. */
	struct store *second = NULL;
	assert_true(store_open(f->dir, false, &second, &err) < 0);
	assert_true(err.msg[0] != '\0');
	store_close(f->s);
	assert_int_equal(store_open(f->dir, false, &f->s, NULL), 0);
	assert_int_equal(store_get(f->s, NULL, "durable", 7, &v, NULL), 0);
	assert_memory_equal(v.data, "yes", 3);
	buf_free(&v);
}

/* SST files in the store's directory: NAMED counts those called bulk-*. */
static int count_ssts(const char *dir, int *named)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;
	assert_non_null(d);
	*named = 0;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l > 4 && !strcmp(de->d_name + l - 4, ".sst")) {
			n++;
			*named += !strncmp(de->d_name, "bulk-", 5);
		}
	}
	closedir(d);
	return n;
}

/* N bulk puts of keys "k%06d" (even numbers only) with values "v%d",
 * with a batch holding the given extras, written: the return code.  The
 * bulk is made as threads make it: a third put into it, a third into a
 * part joined to it (an empty part too), the rest into it after that. */
static int write_bulk(struct store *s, int n, struct store_batch *b,
		      struct mlfs_err *err)
{
	struct store_bulk *bk = store_bulk_new(), *part = store_bulk_new();
	char (*vals)[16] = calloc(n ? n : 1, 16);
	assert_non_null(vals);
	for (int i = 0; i < n; i++) {
		char k[16];
		int kl = snprintf(k, sizeof(k), "k%06d", 2 * i);
		int vl = snprintf(vals[i], 16, "v%d", 2 * i);
		store_bulk_put(i >= n / 3 && i < 2 * n / 3 ? part : bk, k, kl, vals[i], vl);
		if (i == 2 * n / 3 - 1 || (n < 3 && i == n - 1 && part)) {
			store_bulk_join(bk, part);
			store_bulk_join(bk, store_bulk_new());
			part = NULL;
		}
	}
	if (part)
		store_bulk_join(bk, part);
	assert_int_equal(store_bulk_count(bk), n);
	int rc = store_bulk_write(s, bk, b, err);
	store_bulk_free(bk);
	free(vals);
	return rc;
}

static void assert_value(struct store *s, const char *k, const char *want)
{
	struct buf v = { 0 };
	if (!want) {
		assert_int_equal(store_get(s, NULL, k, strlen(k), &v, NULL), -ENOENT);
	} else {
		assert_int_equal(store_get(s, NULL, k, strlen(k), &v, NULL), 0);
		assert_int_equal(v.len, strlen(want));
		assert_memory_equal(v.data, want, v.len);
	}
	buf_free(&v);
}

/* A big bulk goes into ingested SST files, with the batch's puts between
 * its keys (a bulk key put by the batch too: the bulk's value), readable
 * in order, the files moved in (none left behind), after a reopen too. */
static void test_bulk_ingests_sorted_files(void **state)
{
	struct store_fixture *f = *state;
	int n = STORE_BULK_MIN + 1000, named;
	struct store_batch *b = store_batch_new();
	store_batch_put(b, "k000003", 7, "batch", 5);	/* between bulk keys */
	store_batch_put(b, "k000004", 7, "lost", 4);	/* the bulk's wins */
	store_batch_put(b, "a", 1, "first", 5);
	store_batch_put(b, "a", 1, "second", 6);	/* the batch's last put */
	store_batch_put(b, "z", 1, "last", 4);
	uint64_t seq = store_change_seq(f->s);
	assert_int_equal(count_ssts(f->dir, &named), 0);
	assert_int_equal(write_bulk(f->s, n, b, NULL), 0);
	assert_int_equal(store_change_seq(f->s), seq + 1);
	assert_true(count_ssts(f->dir, &named) >= 1);
	assert_int_equal(named, 0);
	store_batch_free(b);
	for (int pass = 0; pass < 2; pass++) {
		assert_value(f->s, "k000003", "batch");
		assert_value(f->s, "k000004", "v4");
		assert_value(f->s, "k000005", NULL);
		assert_value(f->s, "a", "second");
		assert_value(f->s, "z", "last");
		char k[16], v[16];
		snprintf(k, sizeof(k), "k%06d", 2 * (n - 1));
		snprintf(v, sizeof(v), "v%d", 2 * (n - 1));
		assert_value(f->s, k, v);
		struct store_iter *it = store_iter_new(f->s, NULL, "k", 1, "l", 1);
		int count = 0;
		for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it))
			count++;
		assert_int_equal(store_iter_status(it, NULL), 0);
		store_iter_free(it);
		assert_int_equal(count, n + 1);
		store_fixture_reopen(f);
	}
	/* One a crash left behind (written, not ingested) goes at the open. */
	char path[128];
	snprintf(path, sizeof(path), "%s/bulk-1-1.sst", f->dir);
	FILE *left = fopen(path, "w");
	assert_non_null(left);
	fclose(left);
	count_ssts(f->dir, &named);
	assert_int_equal(named, 1);
	store_fixture_reopen(f);
	count_ssts(f->dir, &named);
	assert_int_equal(named, 0);
}

/* A bulk overwrites older values of its keys (in the memtable and in
 * files), and a small bulk or a batch with deletes takes the batch path:
 * the same results, no file. */
static void test_bulk_overwrites_and_falls_back(void **state)
{
	struct store_fixture *f = *state;
	int named;
	assert_int_equal(store_put(f->s, "k000010", 7, "old", 3, NULL), 0);
	struct store_batch *b = store_batch_new();
	assert_int_equal(write_bulk(f->s, 10, b, NULL), 0);	/* small */
	assert_int_equal(count_ssts(f->dir, &named), 0);
	assert_value(f->s, "k000010", "v10");
	assert_value(f->s, "k000018", "v18");
	assert_int_equal(store_put(f->s, "k000010", 7, "old", 3, NULL), 0);
	store_batch_clear(b);
	store_batch_delete(b, "k000012", 7);
	store_batch_put(b, "gone", 4, "x", 1);
	store_batch_delete(b, "gone", 4);
	assert_int_equal(write_bulk(f->s, STORE_BULK_MIN, b, NULL), 0);
	assert_int_equal(count_ssts(f->dir, &named), 0);
	assert_value(f->s, "k000010", "v10");
	assert_value(f->s, "k000012", "v12");	/* the bulk's put came after */
	assert_value(f->s, "gone", NULL);
	/* Over values already in the memtable: the ingest's wins. */
	store_batch_clear(b);
	store_batch_put(b, "k000010", 7, "mem", 3);
	assert_int_equal(store_write(f->s, b, false, NULL), 0);
	store_batch_clear(b);
	assert_int_equal(write_bulk(f->s, STORE_BULK_MIN, b, NULL), 0);
	assert_true(count_ssts(f->dir, &named) >= 1);
	assert_value(f->s, "k000010", "v10");
	store_batch_free(b);
}

/* Keys out of order, or a store open read-only: nothing written, the
 * batch's puts neither. */
static void test_bulk_refuses(void **state)
{
	struct store_fixture *f = *state;
	struct mlfs_err err = { 0 };
	struct store_bulk *bk = store_bulk_new();
	struct store_batch *b = store_batch_new();
	store_batch_put(b, "extra", 5, "x", 1);
	for (int i = 0; i < STORE_BULK_MIN; i++) {
		char k[16];
		int kl = snprintf(k, sizeof(k), "k%06d", i == 7 ? 3 : i);
		store_bulk_put(bk, k, kl, "v", 1);
	}
	assert_int_equal(store_bulk_write(f->s, bk, b, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "ascending"));
	store_bulk_free(bk);
	/* Parts in order each, not at the join. */
	bk = store_bulk_new();
	struct store_bulk *part = store_bulk_new();
	for (int i = 0; i < STORE_BULK_MIN; i++) {
		char k[16];
		int kl = snprintf(k, sizeof(k), "k%06d", i);
		store_bulk_put(i < STORE_BULK_MIN / 2 ? part : bk, k, kl, "v", 1);
	}
	store_bulk_join(bk, part);
	assert_int_equal(store_bulk_count(bk), STORE_BULK_MIN);
	assert_int_equal(store_bulk_write(f->s, bk, b, &err), -EINVAL);
	store_bulk_free(bk);
	assert_value(f->s, "extra", NULL);
	assert_value(f->s, "k000000", NULL);
	struct store *ro;
	store_put(f->s, "durable", 7, "yes", 3, NULL);
	assert_int_equal(store_sync(f->s, NULL), 0);
	assert_int_equal(store_open_readonly(f->dir, &ro, NULL), 0);
	assert_int_equal(write_bulk(ro, STORE_BULK_MIN, b, &err), -EROFS);
	store_close(ro);
	assert_value(f->s, "extra", NULL);
	assert_value(f->s, "k000000", NULL);
	store_batch_free(b);
}

static void note(void *ctx, const char *msg)
{
	buf_printf(ctx, "%s\n", msg);
}

/* Messages said before anyone listens wait for the listener, in order. */
static void test_notify_keeps_early_messages(void **state)
{
	struct store_fixture *f = *state;
	struct buf got = { 0 };
	store_notify(f->s, "one %d", 1);
	store_notify(f->s, "two");
	store_set_notify(f->s, note, &got);
	store_notify(f->s, "three");
	store_set_notify(f->s, NULL, NULL);
	store_notify(f->s, "kept");
	assert_string_equal(got.data, "one 1\ntwo\nthree\n");
	store_set_notify(f->s, note, &got);
	assert_string_equal(got.data, "one 1\ntwo\nthree\nkept\n");
	store_set_notify(f->s, NULL, NULL);
	buf_free(&got);
}

static void test_missing_store(void **state)
{
	struct store *s = NULL;
	struct mlfs_err err = { 0 };
	assert_true(store_open("/tmp/mlfs-no-such-store/x", false, &s, &err) < 0);
	assert_null(s);
}

static void test_key_u64_sorts(void **state)
{
	struct buf a = { 0 }, b = { 0 };
	key_put_u64(&a, 255);
	key_put_u64(&b, 256);
	assert_true(memcmp(a.data, b.data, 8) < 0);
	assert_true(key_get_u64(b.data) == 256);
	buf_free(&a);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_get_put_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_view_pins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_is_atomic_and_ranges_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_iter_bounds_are_copied, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_sees_the_past, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unchanged_since, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_and_readonly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notify_keeps_early_messages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bulk_ingests_sorted_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bulk_overwrites_and_falls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bulk_refuses, setup, teardown),
		cmocka_unit_test(test_missing_store),
		cmocka_unit_test(test_key_u64_sorts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
