/* test_store_remote.c - the remote backend of store.h (store_remote.c):
 * two "hosts" (two remote stores with replicas of their own) in one
 * process sharing one etcd (MLFS_ETCD, tools/scaleout/test-mount) and one
 * object store (MLFS_S3 when set, else an embedded one for speed).
 * Without MLFS_ETCD only the log's record tests run (store_log.c). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "store_fixture.h"
#include "backend_cases.h"
#include "data_fixture.h"

#include "blob.h"
#include "cluster.h"
#include "columnar.h"
#include "job.h"
#include "job_int.h"
#include "kv.h"
#include "objstore.h"
#include "sweep.h"
#include "table.h"
#include "trainset.h"
#include "trainset_int.h"
#include "tracking.h"
#include "train.h"
#include "store_int.h"
#include "store_log.h"

struct host {
	char dir[64];
	struct store *s;
};

struct fx {
	struct store_fixture *blobs;	/* the embedded object store's */
	struct objstore *os;
	struct kv *kv;
	char name[48];
	struct host a, b;
};

static void host_open(struct fx *f, struct host *h)
{
	struct mlfs_err err = { 0 };
	int rc = store_open_remote(h->dir, f->name, f->kv, f->os, &h->s, &err);
	if (rc)
		fail_msg("store_open_remote: %s", err.msg);
}

static void host_new(struct fx *f, struct host *h)
{
	strcpy(h->dir, "/tmp/mlfs-unit-XXXXXX");
	assert_non_null(mkdtemp(h->dir));
	host_open(f, h);
}

static void host_close(struct host *h, bool remove)
{
	char cmd[128];
	store_close(h->s);
	h->s = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", h->dir);
	if (remove)
		assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
	static int n;
	const char *etcd = getenv("MLFS_ETCD"), *s3 = getenv("MLFS_S3");
	if (!etcd || !*etcd)
		return 0;
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->name, sizeof(f->name), "srt-%ld-%d", (long)getpid(), ++n);
	assert_int_equal(kv_open(NULL, etcd, &f->kv, NULL), 0);
	if (s3 && *s3) {
		assert_int_equal(objstore_open_s3(s3, NULL, &f->os, NULL), 0);
	} else {
		f->blobs = store_fixture_open();
		f->os = objstore_open_store(f->blobs->s);
	}
	host_new(f, &f->a);
	host_new(f, &f->b);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	if (!f)
		return 0;
	host_close(&f->a, true);
	host_close(&f->b, true);
	objstore_close(f->os);
	if (f->blobs)
		store_fixture_close(f->blobs);
	kv_close(f->kv);
	free(f);
	return 0;
}

static void put(struct host *h, const char *k, const char *v)
{
	struct mlfs_err err = { 0 };
	int rc = store_put(h->s, k, strlen(k), v, strlen(v), &err);
	if (rc)
		fail_msg("put %s: %d %s", k, rc, err.msg);
}

/* The value of K on H, "-" when absent (a static slot). */
static const char *get(struct host *h, const char *k)
{
	static char out[4][64];
	static int i;
	char *o = out[i++ % 4];
	struct buf v = { 0 };
	int rc = store_get(h->s, NULL, k, strlen(k), &v, NULL);
	assert_true(rc == 0 || rc == -ENOENT);
	snprintf(o, 64, "%.*s", rc ? 1 : (int)v.len, rc ? "-" : v.data);
	buf_free(&v);
	return o;
}

/* Wait (at most 20 s) until K reads V on H: the watch's delivery. */
static void await(struct host *h, const char *k, const char *v)
{
	for (int i = 0; i < 2000 && strcmp(get(h, k), v); i++)
		usleep(10000);
	assert_string_equal(get(h, k), v);
}

static int changes;
static void count_change(void *arg)
{
	(void)arg;
	__atomic_add_fetch(&changes, 1, __ATOMIC_SEQ_CST);
}

/* What A writes B reads: at once after a refresh (close-to-open), and
 * soon without one (the watch), telling B's change hook. */
static void test_coherent(void **state)
{
	struct fx *f = *state;
	store_on_change(f->b.s, count_change, NULL);
	int before = __atomic_load_n(&changes, __ATOMIC_SEQ_CST);
	put(&f->a, "k/1", "one");
	assert_int_equal(store_refresh(f->b.s, NULL), 0);
	assert_string_equal(get(&f->b, "k/1"), "one");
	put(&f->a, "k/2", "two");
	await(&f->b, "k/2", "two");
	assert_true(__atomic_load_n(&changes, __ATOMIC_SEQ_CST) > before);
	store_on_change(f->b.s, NULL, NULL);
	/* B's batch, with a range delete, comes back to A whole.  (B's new
	 * operation: the one that polled k/2 saw A change it.) */
	store_txn_begin(f->b.s);
	struct store_batch *bt = store_batch_new();
	store_batch_delete_range(bt, "k/", 2, "k0", 2);
	store_batch_put(bt, "k/3", 3, "three", 5);
	assert_int_equal(store_write(f->b.s, bt, false, NULL), 0);
	store_batch_free(bt);
	assert_int_equal(store_refresh(f->a.s, NULL), 0);
	assert_string_equal(get(&f->a, "k/1"), "-");
	assert_string_equal(get(&f->a, "k/3"), "three");
}

/* A batch above the inline limit goes to an object, written first, and
 * reaches the other host whole; mlfs check finds no stray object. */
static int count_object(void *ctx, const char *name)
{
	(void)name;
	(*(int *)ctx)++;
	return 0;
}

static void test_large_batch(void **state)
{
	struct fx *f = *state;
	size_t n = LOG_INLINE_MAX + 4096;
	char *big = malloc(n);
	assert_non_null(big);
	for (size_t i = 0; i < n; i++)
		big[i] = (char)('a' + i % 26);
	struct store_batch *bt = store_batch_new();
	store_batch_put(bt, "big", 3, big, n);
	store_batch_put(bt, "small", 5, "s", 1);
	struct mlfs_err err = { 0 };
	if (store_write(f->a.s, bt, false, &err))
		fail_msg("store_write: %s", err.msg);
	store_batch_free(bt);
	assert_int_equal(store_refresh(f->b.s, NULL), 0);
	struct buf v = { 0 };
	assert_int_equal(store_get(f->b.s, NULL, "big", 3, &v, NULL), 0);
	assert_int_equal(v.len, n);
	assert_memory_equal(v.data, big, n);
	assert_string_equal(get(&f->b, "small"), "s");
	int stray = 0;
	if (store_remote_check(f->kv, f->os, f->name, count_object, &stray, &err))
		fail_msg("store_remote_check: %s", err.msg);
	assert_int_equal(stray, 0);
	/* An object whose writer died before its commit is reported. */
	char name[128];
	snprintf(name, sizeof(name), "%s/batches/dead-0", f->name);
	assert_int_equal(objstore_put_once(f->os, name, "x", 1, NULL), 0);
	assert_int_equal(store_remote_check(f->kv, f->os, f->name, count_object, &stray, NULL), 0);
	assert_int_equal(stray, 1);
	objstore_delete(f->os, name, NULL);
	buf_free(&v);
	free(big);
}

/* The sweep deletes the unreferenced objects of gone writers only: a
 * committed batch's object (its writer said gone too) and a live
 * writer's unreferenced object stay. */
static bool gone_unless_live(void *ctx, const char *writer)
{
	(void)ctx;
	return strcmp(writer, "live.2") != 0;
}

static int count_listed(void *ctx, const char *object, uint64_t size)
{
	(void)size;
	return count_object(ctx, object);
}

static void test_sweep(void **state)
{
	struct fx *f = *state;
	size_t n = LOG_INLINE_MAX + 1;
	char *big = calloc(1, n);
	assert_non_null(big);
	struct store_batch *bt = store_batch_new();
	store_batch_put(bt, "big", 3, big, n);
	assert_int_equal(store_write(f->a.s, bt, false, NULL), 0);
	store_batch_free(bt);
	const char *strays[] = { "dead-host.1-00ab", "live.2-00ab", "nodash" };
	char name[128];
	for (size_t i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "%s/batches/%s", f->name, strays[i]);
		assert_int_equal(objstore_put_once(f->os, name, "x", 1, NULL), 0);
	}
	size_t deleted = 99;
	struct mlfs_err err = { 0 };
	if (store_remote_sweep(f->kv, f->os, f->name, gone_unless_live, NULL, &deleted, &err))
		fail_msg("store_remote_sweep: %s", err.msg);
	assert_int_equal(deleted, 1);
	int stray = 0, listed = 0;
	assert_int_equal(store_remote_check(f->kv, f->os, f->name, count_object, &stray, NULL), 0);
	assert_int_equal(stray, 2);	/* live.2's and the odd name */
	snprintf(name, sizeof(name), "%s/batches/", f->name);
	assert_int_equal(objstore_list_all(f->os, name, NULL, count_listed, &listed, NULL), 0);
	assert_int_equal(listed, 3);	/* the committed batch's object too */
	assert_int_equal(store_refresh(f->b.s, NULL), 0);
	struct buf v = { 0 };
	assert_int_equal(store_get(f->b.s, NULL, "big", 3, &v, NULL), 0);
	assert_int_equal(v.len, n);
	for (size_t i = 1; i < 3; i++) {
		snprintf(name, sizeof(name), "%s/batches/%s", f->name, strays[i]);
		objstore_delete(f->os, name, NULL);
	}
	buf_free(&v);
	free(big);
}

/* The keys of H's replica under PREFIX. */
static int keys_under(struct host *h, const char *prefix)
{
	size_t pl = strlen(prefix);
	struct buf hi = { 0 };
	buf_append(&hi, prefix, pl);
	hi.data[pl - 1]++;
	struct store_iter *it = store_iter_new(h->s, NULL, prefix, pl, hi.data, pl);
	int n = 0;
	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it))
		n++;
	store_iter_free(it);
	buf_free(&hi);
	return n;
}

/* A writer of table "t" on H with two chunks staged, not committed. */
static struct table_writer *staged_writer(struct host *h, char tag)
{
	struct table_writer *w;
	struct mlfs_err err = { 0 };
	struct buf text = { 0 };
	assert_int_equal(table_writer_open(h->s, "t", false, &w, &err), 0);
	for (int i = 0; text.len < 600 * 1024; i++)
		buf_printf(&text, "%c%d,%d\n", tag, i, i);
	if (table_writer_write(w, text.data, text.len, &err) || table_writer_settle(w, &err))
		fail_msg("staging on %c: %s", tag, err.msg);
	buf_free(&text);
	return w;
}

/* Attach hosts a and b to one cluster (TTL 1 s, names sweep-a, sweep-b). */
static void attach_two(struct fx *f)
{
	static char prefix[64];
	struct mlfs_err err = { 0 };
	snprintf(prefix, sizeof(prefix), "%s/", f->name);
	struct cluster_conf ca = { .prefix = prefix, .host = "sweep-a", .ttl_s = 1 };
	struct cluster_conf cb = { .prefix = prefix, .host = "sweep-b", .ttl_s = 1 };
	if (cluster_attach(f->a.s, f->kv, &ca, &err) || cluster_attach(f->b.s, f->kv, &cb, &err))
		fail_msg("cluster_attach: %s", err.msg);
}

/* Host a's session goes (its keepalives stop) and b leads the scheduler. */
static void a_dies(struct fx *f)
{
	cluster_test_pause(f->a.s, true);
	for (int i = 0; i < 600 && cluster_others(f->b.s, NULL); i++)
		usleep(10000);	/* a's lease expires */
	assert_int_equal(cluster_others(f->b.s, NULL), 0);
	for (int i = 0; i < 600 && !cluster_leads(f->b.s, CLUSTER_SCHEDULER, NULL); i++)
		usleep(10000);
	assert_true(cluster_leads(f->b.s, CLUSTER_SCHEDULER, NULL));
}

/* Host a dies; b's first sweep only suspects it, the second a grace (2
 * TTLs) later ends what it left: that sweep's counts into *C, the first
 * one's total of every kind asserted 0.  T0 the first sweep's time. */
static void a_dies_swept(struct fx *f, int64_t t0, struct sweep_counts *c)
{
	struct mlfs_err err = { 0 };
	a_dies(f);
	assert_int_equal(sweep_dead(f->b.s, t0, c, &err), 0);
	assert_int_equal(c->tables + c->builds + c->forms + c->blobs + c->objects + c->runs +
			 c->trainings, 0);
	if (sweep_dead(f->b.s, t0 + 2000000000, c, &err))
		fail_msg("sweep_dead: %s", err.msg);
}

/* The elected scheduler's sweep (sweep.h): host a, with rows and artifact
 * bytes staged and a stray batch object, loses its session (its
 * keepalives stop); b leads, and its second sweep a grace (2 TTLs) after
 * the first removes a's leftovers, never its own staged rows; a's commit
 * then fails instead of naming removed chunks. */
static void test_sweep_dead(void **state)
{
	struct fx *f = *state;
	struct mlfs_err err = { 0 };
	char stray[160];
	attach_two(f);
	char want[64];
	snprintf(want, sizeof(want), "sweep-a.%ld", (long)getpid());
	assert_string_equal(store_writer_name(f->a.s), want);	/* one name */
	assert_int_equal(table_create(f->a.s, "t", NULL), 0);
	assert_int_equal(table_set_schema(f->a.s, "t", "k string\nv int\n", 15, &err), 0);
	struct table_writer *wa = staged_writer(&f->a, 'a');
	struct blob_stat file;
	uint64_t dir;
	struct blob_writer *ba;
	assert_int_equal(blob_root_new(f->a.s, 0755, 0, 0, &dir, NULL), 0);
	assert_int_equal(blob_create(f->a.s, dir, "m.bin", 0644, 0, 0, &file, NULL), 0);
	assert_int_equal(blob_create(f->a.s, dir, "fresh.bin", 0644, 0, 0, NULL, NULL), 0);
	assert_int_equal(blob_settle(f->a.s, file.id, NULL), 0);	/* m.bin: closed once */
	assert_int_equal(blob_writer_open(f->a.s, file.id, true, &ba, NULL), 0);
	assert_int_equal(blob_writer_write(ba, 0, "bytes", 5, NULL), 0);
	snprintf(stray, sizeof(stray), "%s/batches/%s-00ab", f->name, want);
	assert_int_equal(objstore_put_once(f->os, stray, "x", 1, NULL), 0);
	assert_int_equal(store_refresh(f->b.s, NULL), 0);
	struct table_writer *wb = staged_writer(&f->b, 'b');
	assert_int_equal(store_refresh(f->b.s, NULL), 0);
	assert_int_equal(keys_under(&f->b, "w/"), 2);
	assert_int_equal(keys_under(&f->b, "b/s/"), 1);
	assert_int_equal(keys_under(&f->b, "b/f/"), 1);

	a_dies(f);
	struct sweep_counts c;
	int64_t t0 = 1000000000000;
	assert_int_equal(sweep_dead(f->b.s, t0, &c, &err), 0);
	assert_int_equal(c.tables + c.builds + c.blobs + c.objects, 0);	/* suspected only */
	assert_int_equal(sweep_dead(f->b.s, t0 + 1999999999, &c, &err), 0);
	assert_int_equal(c.tables + c.builds + c.blobs + c.objects, 0);	/* within the grace */
	assert_int_equal(keys_under(&f->b, "w/"), 2);
	if (sweep_dead(f->b.s, t0 + 2000000000, &c, &err))
		fail_msg("sweep_dead: %s", err.msg);
	assert_int_equal(c.tables, 1);
	assert_int_equal(c.blobs, 2);	/* the staged bytes and the fresh file */
	assert_int_equal(c.objects, 1);
	assert_int_equal(keys_under(&f->b, "w/"), 1);	/* b's own */
	assert_int_equal(keys_under(&f->b, "b/s/"), 0);
	assert_int_equal(keys_under(&f->b, "b/f/"), 0);
	int strays = 0;
	assert_int_equal(store_remote_check(f->kv, f->os, f->name, count_object, &strays, NULL), 0);
	assert_int_equal(strays, 0);

	/* b's staged rows commit whole; a's commit fails, naming nothing */
	assert_int_equal(table_writer_commit(wb, true, &err), 0);
	struct table_info info;
	assert_int_equal(table_stat(f->b.s, "t", &info), 0);
	uint64_t rows = info.rows;
	assert_true(rows > 20000);
	assert_int_equal(store_refresh(f->a.s, NULL), 0);
	assert_int_equal(table_writer_commit(wa, true, &err), -EIO);
	assert_int_equal(blob_writer_commit(ba, true, &err), -EIO);
	struct blob_stat st;
	assert_int_equal(blob_lookup(f->b.s, dir, "m.bin", &st), 0);
	assert_int_equal(st.size, 0);	/* its content from before */
	assert_int_equal(blob_lookup(f->b.s, dir, "fresh.bin", &st), -ENOENT);
	assert_int_equal(store_refresh(f->b.s, NULL), 0);
	assert_int_equal(table_stat(f->b.s, "t", &info), 0);
	assert_int_equal(info.rows, rows);
	struct buf report = { 0 };
	assert_int_equal(table_check(f->b.s, &report, &err), 0);
	buf_free(&report);
	table_writer_free(wa);
	table_writer_free(wb);
	blob_writer_free(ba);
	cluster_test_pause(f->a.s, false);
}

/* Table NAME on H: one int column, ROWS rows committed. */
static void table_of_rows(struct host *h, const char *name, int rows)
{
	struct table_writer *w;
	struct mlfs_err err = { 0 };
	struct buf text = { 0 };
	for (int i = 0; i < rows; i++)
		buf_printf(&text, "%d\n", i);
	if (table_create(h->s, name, &err) || table_set_schema(h->s, name, "v int\n", 6, &err) ||
	    table_writer_open(h->s, name, false, &w, &err) ||
	    table_writer_write(w, text.data, text.len, &err) || table_writer_commit(w, true, &err))
		fail_msg("table %s: %s", name, err.msg);
	table_writer_free(w);
	buf_free(&text);
}

/* A columnar build cut short (after its first chunk, as a crash would)
 * on H: its chunks and owner record stay. */
static void build_cut_short(struct host *h, const char *name)
{
	struct columnar *c = NULL;
	columnar_test_stop_after = 1;
	assert_int_equal(columnar_open(h->s, name, &c, NULL), -EINTR);
	columnar_test_stop_after = 0;
	assert_null(c);
}

/* The sweep of a dead session's columnar build (columnar_sweep_dead): a's
 * build cut short goes in b's sweep a grace after the first, b's own
 * build in flight stays and completes, and the check is clean. */
static void test_sweep_dead_build(void **state)
{
	struct fx *f = *state;
	struct mlfs_err err = { 0 };
	attach_two(f);
	table_of_rows(&f->a, "ca", 70000);	/* two chunks */
	build_cut_short(&f->a, "ca");
	assert_int_equal(store_refresh(f->b.s, NULL), 0);
	int a_keys = keys_under(&f->b, "k/");
	assert_true(a_keys >= 2);	/* a chunk and the owner record */
	table_of_rows(&f->b, "cb", 70000);
	build_cut_short(&f->b, "cb");
	int all_keys = keys_under(&f->b, "k/");
	assert_true(all_keys >= a_keys + 2);

	a_dies(f);
	struct sweep_counts c;
	int64_t t0 = 1000000000000;
	assert_int_equal(sweep_dead(f->b.s, t0, &c, &err), 0);
	assert_int_equal(c.builds, 0);	/* suspected only */
	assert_int_equal(sweep_dead(f->b.s, t0 + 1000000000, &c, &err), 0);
	assert_int_equal(c.builds, 0);	/* within the grace */
	if (sweep_dead(f->b.s, t0 + 2000000000, &c, &err))
		fail_msg("sweep_dead: %s", err.msg);
	assert_int_equal(c.builds, 1);
	assert_int_equal(c.tables + c.blobs + c.objects, 0);
	assert_int_equal(keys_under(&f->b, "k/"), all_keys - a_keys);	/* b's own stay */

	struct columnar *col = NULL;
	assert_int_equal(columnar_open(f->b.s, "cb", &col, &err), 0);
	assert_int_equal(columnar_rows(col), 70000);
	columnar_free(col);
	struct buf report = { 0 };
	if (columnar_check(f->b.s, true, &report, &err) != 0)
		fail_msg("columnar_check: %s", report.data ? report.data : err.msg);
	assert_int_equal(table_check(f->b.s, &report, &err), 0);
	buf_free(&report);
	cluster_test_pause(f->a.s, false);
}

/* Feature table NAME (key k, 70000 rows: two chunks) and labels L on H,
 * and a build of its columnar form cut short after its first chunk (as
 * a crash would): its chunks and owner record stay. */
static void form_cut_short(struct host *h, const char *name, const char *l)
{
	struct mlfs_err err = { 0 };
	struct features_writer *w;
	struct buf text = { 0 };
	buf_puts(&text, "k,a\n");
	for (int i = 0; i < 70000; i++)
		buf_printf(&text, "%d,%d\n", i, i % 7);
	if (features_create(h->s, name, &err) || features_set_keys(h->s, name, "k\n", 2, true, &err) ||
	    features_writer_open(h->s, name, true, &w, &err) ||
	    features_writer_write(w, text.data, text.len, &err) ||
	    features_writer_commit(w, true, &err))
		fail_msg("feature table %s: %s", name, err.msg);
	features_writer_free(w);
	buf_reset(&text);	/* labels enough that the join reads the whole table */
	buf_puts(&text, "k,y\n");
	for (int i = 0; i < 40000; i++)
		buf_printf(&text, "%d,%d\n", i * 7 % 70000, i % 2);
	fixture_table_put(h->s, l, text.data);
	static const char *const key1[] = { "k" };
	struct trainset_lookup lk[] = { { name, key1, 1, NULL, 0, NULL } };
	struct frame *fr;
	trainset_form_min_bytes = 0;
	trainset_form_test_stop_after = 1;
	assert_int_equal(trainset_build(h->s, l, "y", lk, 1, NULL, 0, &fr, &err), 0);
	trainset_form_test_stop_after = 0;
	frame_free(fr);
	buf_free(&text);
}

/* The sweep of a dead session's feature table form build
 * (trainset_form_sweep_dead): a's build cut short goes in b's sweep a
 * grace after the first, b's own stays, and b's next build is whole and
 * checks clean. */
static void test_sweep_dead_form(void **state)
{
	struct fx *f = *state;
	struct mlfs_err err = { 0 };
	attach_two(f);
	sweep_set_forms(f->b.s, trainset_form_sweep_dead);
	form_cut_short(&f->a, "fa", "la");
	assert_int_equal(store_refresh(f->b.s, NULL), 0);
	int a_keys = keys_under(&f->b, "f/k/");
	assert_true(a_keys >= 3);	/* two columns' chunk and the owner record */
	form_cut_short(&f->b, "fb", "lb");
	int all_keys = keys_under(&f->b, "f/k/");
	assert_true(all_keys >= a_keys + 3);

	struct sweep_counts c;
	a_dies_swept(f, 1000000000000, &c);
	assert_int_equal(c.forms, 1);
	assert_int_equal(c.builds + c.tables + c.blobs + c.objects, 0);
	assert_int_equal(keys_under(&f->b, "f/k/"), all_keys - a_keys);	/* b's own stay */

	unsigned long b0 = trainset_form_test_builds;
	static const char *const key1[] = { "k" };
	struct trainset_lookup lk[] = { { "fb", key1, 1, NULL, 0, NULL } };
	struct frame *fr;
	assert_int_equal(trainset_build(f->b.s, "lb", "y", lk, 1, NULL, 0, &fr, &err), 0);
	frame_free(fr);
	assert_int_equal(trainset_form_test_builds, b0 + 1);
	trainset_form_min_bytes = 1u << 20;
	struct buf report = { 0 };
	if (trainset_form_check(f->b.s, true, &report, &err) != 0)
		fail_msg("trainset_form_check: %s", report.data ? report.data : err.msg);
	buf_free(&report);
	cluster_test_pause(f->a.s, false);
}

/* Run RUN of job ID on H, RUNNING in task "t", owned by H's session. */
static void run_running(struct host *h, uint64_t id, uint64_t run)
{
	struct task_state t = { .name = "t", .kind = "train", .status = JOB_RUNNING };
	struct run_rec rec = { .run = run, .trigger = "manual", .status = JOB_RUNNING,
			       .tasks = &t, .ntasks = 1 };
	snprintf(rec.owner, sizeof(rec.owner), "%s", store_writer_name(h->s));
	assert_int_equal(run_rec_write(h->s, id, &rec, NULL), 0);
}

/* The sweep of a dead session's job runs (jobs_sweep_dead): a's RUNNING
 * run ends FAILED "interrupted" in b's sweep a grace after the first, as
 * a lone mount's recovery ends it; b's own stays RUNNING. */
static void test_sweep_dead_runs(void **state)
{
	struct fx *f = *state;
	struct mlfs_err err = { 0 };
	struct job_rec j;
	attach_two(f);
	assert_int_equal(job_create(f->a.s, "j", 0, 0, 0755, NULL, &err), 0);
	assert_int_equal(job_rec_load(f->a.s, "j", &j), 0);
	run_running(&f->a, j.id, 1);
	assert_int_equal(store_refresh(f->b.s, NULL), 0);
	run_running(&f->b, j.id, 2);
	sweep_set_runs(f->b.s, jobs_sweep_dead);

	struct sweep_counts c;
	int64_t t0 = 1000000000000;
	a_dies_swept(f, t0, &c);
	assert_int_equal(c.runs, 1);
	assert_int_equal(c.tables + c.builds + c.blobs + c.objects, 0);
	struct run_rec rec;
	assert_int_equal(run_rec_load(f->b.s, j.id, 1, &rec), 0);
	assert_int_equal(rec.status, JOB_FAILED);
	assert_string_equal(rec.error, "interrupted");
	assert_int_equal(rec.tasks[0].status, JOB_FAILED);
	assert_non_null(strstr(rec.log.data, "FAILED: interrupted"));
	run_rec_free(&rec);
	enum job_status st;
	assert_int_equal(job_run_status(f->b.s, "j", 2, &st), 0);
	assert_int_equal(st, JOB_RUNNING);	/* b's own */
	assert_int_equal(sweep_dead(f->b.s, t0 + 4000000000, &c, &err), 0);
	assert_int_equal(c.runs, 0);	/* once */
	job_rec_free(&j);
	cluster_test_pause(f->a.s, false);
}

/* A training host a was running when it died ends FAILED "interrupted"
 * in the leader's sweep (train_sweep_dead), as a lone mount's recovery
 * ends it; b's own training and a run no training marked stay RUNNING. */
static void test_sweep_dead_trainings(void **state)
{
	struct fx *f = *state;
	struct mlfs_err err = { 0 };
	struct run_info ri;
	struct buf why = { 0 };
	attach_two(f);
	assert_int_equal(tracking_experiment_create(f->a.s, "e", &err), 0);
	const char *runs[] = { "ta", "tb", "manual" };
	for (int i = 0; i < 3; i++)
		assert_int_equal(tracking_run_create(f->a.s, "e", runs[i], 1, 0, 0, 0, &err), 0);
	if (train_begin(f->a.s, "e", "ta", "train", "x: 1\n", 5, &err))
		fail_msg("train_begin: %s", err.msg);
	assert_int_equal(store_refresh(f->b.s, NULL), 0);
	assert_int_equal(train_begin(f->b.s, "e", "tb", "train", "x: 1\n", 5, &err), 0);
	assert_int_equal(tracking_run_get(f->b.s, "e", "ta", &ri), 0);
	assert_string_equal(ri.owner, store_writer_name(f->a.s));
	sweep_set_trainings(f->b.s, train_sweep_dead);

	struct sweep_counts c;
	int64_t t0 = 1000000000000;
	a_dies_swept(f, t0, &c);
	assert_int_equal(c.trainings, 1);
	assert_int_equal(c.runs, 0);
	assert_int_equal(tracking_run_get(f->b.s, "e", "ta", &ri), 0);
	assert_int_equal(ri.status, RUN_FAILED);
	assert_int_equal(train_error_text(f->b.s, "e", "ta", &why), 0);
	assert_string_equal(why.data, "interrupted: the daemon stopped\n");
	assert_int_equal(tracking_run_get(f->b.s, "e", "tb", &ri), 0);
	assert_int_equal(ri.status, RUN_RUNNING);	/* b's own */
	assert_int_equal(tracking_run_get(f->b.s, "e", "manual", &ri), 0);
	assert_int_equal(ri.status, RUN_RUNNING);	/* not a training */
	assert_int_equal(sweep_dead(f->b.s, t0 + 4000000000, &c, &err), 0);
	assert_int_equal(c.trainings, 0);	/* once */
	buf_free(&why);
	cluster_test_pause(f->a.s, false);
}

/* A bulk write on a remote store goes through the log as one batch (no
 * SST ingest into the replica): the other host reads it all. */
static void test_bulk_through_log(void **state)
{
	struct fx *f = *state;
	struct mlfs_err err = { 0 };
	struct store_bulk *bk = store_bulk_new();
	struct store_batch *bt = store_batch_new();
	int n = STORE_BULK_MIN + 10;
	for (int i = 0; i < n; i++) {
		char k[16];
		int kl = snprintf(k, sizeof(k), "b/%06d", i);
		store_bulk_put(bk, k, kl, "v", 1);
	}
	store_batch_put(bt, "meta", 4, "m", 1);
	if (store_bulk_write(f->a.s, bk, bt, &err))
		fail_msg("store_bulk_write: %s", err.msg);
	store_bulk_free(bk);
	store_batch_free(bt);
	assert_int_equal(store_refresh(f->b.s, NULL), 0);
	assert_string_equal(get(&f->b, "meta"), "m");
	assert_string_equal(get(&f->b, "b/000000"), "v");
	char last[16];
	snprintf(last, sizeof(last), "b/%06d", n - 1);
	assert_string_equal(get(&f->b, last), "v");
	struct store_iter *it = store_iter_new(f->b.s, NULL, "b/", 2, "b0", 2);
	int count = 0;
	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it))
		count++;
	assert_int_equal(store_iter_status(it, NULL), 0);
	store_iter_free(it);
	assert_int_equal(count, n);
}

/* Another host committed first: a write that read nothing it changed is
 * rebased on it; one that read what it changed fails with -EAGAIN and
 * writes nothing. */
static void test_conflict(void **state)
{
	struct fx *f = *state;
	put(&f->a, "t/x", "0");
	assert_int_equal(store_refresh(f->b.s, NULL), 0);
	/* A's operation reads t/x; B then changes t/y only. */
	store_txn_begin(f->a.s);
	assert_string_equal(get(&f->a, "t/x"), "0");
	put(&f->b, "t/y", "b");
	put(&f->a, "t/z", "a");	/* rebased */
	assert_string_equal(get(&f->a, "t/y"), "b");
	assert_int_equal(store_refresh(f->b.s, NULL), 0);
	assert_string_equal(get(&f->b, "t/z"), "a");
	/* Now B changes t/x, which A's operation read. */
	store_txn_begin(f->a.s);
	assert_string_equal(get(&f->a, "t/x"), "0");
	put(&f->b, "t/x", "b");
	struct mlfs_err err = { 0 };
	assert_int_equal(store_put(f->a.s, "t/x", 3, "a", 1, &err), -EAGAIN);
	assert_non_null(strstr(err.msg, "another host"));
	assert_string_equal(get(&f->a, "t/x"), "b");
	assert_int_equal(store_refresh(f->b.s, NULL), 0);
	assert_string_equal(get(&f->b, "t/x"), "b");
	/* A range read conflicts with a key written inside it. */
	store_txn_begin(f->a.s);
	struct store_iter *it = store_iter_new(f->a.s, NULL, "r/", 2, "r0", 2);
	store_iter_free(it);
	put(&f->b, "r/5", "b");
	assert_int_equal(store_put(f->a.s, "r/count", 7, "1", 1, NULL), -EAGAIN);
	/* The next operation starts afresh. */
	store_txn_begin(f->a.s);
	put(&f->a, "r/count", "2");
}

/* Two hosts, two threads each, incrementing one counter: every
 * increment that returned 0 counts, none twice. */
struct inc_arg {
	struct host *h;
	int ok;
};

static void *incrementer(void *p)
{
	struct inc_arg *a = p;
	for (int i = 0; i < 15; i++) {
		struct buf v = { 0 };
		char next[32];
		store_txn_begin(a->h->s);
		store_refresh(a->h->s, NULL);
		int rc = store_get(a->h->s, NULL, "ctr", 3, &v, NULL);
		long n = rc ? 0 : strtol(v.data, NULL, 10);
		snprintf(next, sizeof(next), "%ld", n + 1);
		buf_free(&v);
		rc = store_put(a->h->s, "ctr", 3, next, strlen(next), NULL);
		assert_true(rc == 0 || rc == -EAGAIN);
		a->ok += rc == 0;
	}
	return NULL;
}

static void test_counter_two_hosts(void **state)
{
	struct fx *f = *state;
	struct inc_arg args[2] = { { &f->a, 0 }, { &f->b, 0 } };
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, incrementer, &args[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(store_refresh(f->a.s, NULL), 0);
	assert_int_equal(strtol(get(&f->a, "ctr"), NULL, 10), args[0].ok + args[1].ok);
	assert_true(args[0].ok > 0 && args[1].ok > 0);
}

/* A host that was down catches up from its replica's seq; its cache
 * refuses another store's name. */
static void test_restart(void **state)
{
	struct fx *f = *state;
	put(&f->a, "r/before", "1");
	host_close(&f->a, false);
	put(&f->b, "r/while", "2");
	host_open(f, &f->a);
	assert_string_equal(get(&f->a, "r/before"), "1");
	assert_string_equal(get(&f->a, "r/while"), "2");
	struct store *other;
	struct mlfs_err err = { 0 };
	assert_int_equal(store_open_remote(f->b.dir, "another", f->kv, f->os, &other, &err),
			 -EBUSY);
	host_close(&f->a, false);
	assert_int_equal(store_open_remote(f->a.dir, "another", f->kv, f->os, &other, &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, f->name));
	assert_int_equal(store_open_remote(f->a.dir, "bad/name", f->kv, f->os, &other, &err),
			 -EINVAL);
	host_open(f, &f->a);
}

/* A batch too big to ride inline (an object under NAME/batches/). */
static void put_big(struct host *h, const char *k, size_t n)
{
	char *big = malloc(n);
	assert_non_null(big);
	memset(big, 'z', n);
	struct store_batch *bt = store_batch_new();
	store_batch_put(bt, k, strlen(k), big, n);
	struct mlfs_err err = { 0 };
	if (store_write(h->s, bt, false, &err))
		fail_msg("store_write: %s", err.msg);
	store_batch_free(bt);
	free(big);
}

static uint64_t checkpoint(struct host *h)
{
	uint64_t seq = 0;
	struct mlfs_err err = { 0 };
	if (store_checkpoint(h->s, &seq, &err))
		fail_msg("store_checkpoint: %s", err.msg);
	return seq;
}

/* Whether log entry SEQ of F's store is still in etcd. */
static bool entry_there(struct fx *f, uint64_t seq)
{
	struct buf k = { 0 }, v = { 0 };
	log_key_entry(&k, f->name, seq);
	int rc = kv_get(f->kv, k.data, k.len, &v, NULL, NULL);
	assert_true(rc == 0 || rc == -ENOENT);
	buf_free(&k);
	buf_free(&v);
	return !rc;
}

/* The objects under F's store's PREFIX ("batches/", "checkpoints/"). */
static int objects_under(struct fx *f, const char *prefix)
{
	char p[128];
	int n = 0;
	snprintf(p, sizeof(p), "%s/%s", f->name, prefix);
	assert_int_equal(objstore_list_all(f->os, p, NULL, count_listed, &n, NULL), 0);
	return n;
}

/* Two checkpoints: the second deletes the entries up to the first, their
 * batch objects and the first's objects; a fresh host, and one that was
 * down past the compaction, load the newest and replay the rest. */
static void test_checkpoint_compact(void **state)
{
	struct fx *f = *state;
	struct mlfs_err err = { 0 };
	uint64_t seq;
	put(&f->a, "c/gone", "x");
	assert_int_equal(store_refresh(f->b.s, NULL), 0);
	host_close(&f->b, false);	/* B: down from here, at entry 1 */
	put_big(&f->a, "c/big1", LOG_INLINE_MAX + 100);
	for (int i = 0; i < 20; i++) {
		char k[16];
		snprintf(k, sizeof(k), "c/%02d", i);
		put(&f->a, k, k);
	}
	assert_int_equal(store_delete(f->a.s, "c/gone", 6, NULL), 0);
	uint64_t n1 = checkpoint(&f->a);
	assert_int_equal(n1, 23);	/* 1 + 1 + 20 + 1 entries */
	assert_int_equal(objects_under(f, "checkpoints/"), 1);
	assert_int_equal(store_checkpoint(f->a.s, &seq, &err), -EALREADY);
	assert_true(entry_there(f, 1));	/* the first compacts nothing */
	put(&f->a, "c/after1", "a1");
	put_big(&f->a, "c/big2", LOG_INLINE_MAX + 200);
	uint64_t n2 = checkpoint(&f->a);
	assert_int_equal(n2, n1 + 2);
	assert_false(entry_there(f, 1));
	assert_false(entry_there(f, n1));
	assert_true(entry_there(f, n1 + 1));
	assert_int_equal(objects_under(f, "checkpoints/"), 1);	/* the first's went */
	assert_int_equal(objects_under(f, "batches/"), 1);	/* big2's stays */
	put(&f->a, "c/after2", "a2");
	/* B's replica stops at entry 1: its next entry is gone */
	host_open(f, &f->b);
	struct host c;
	host_new(f, &c);
	struct host *hs[2] = { &f->b, &c };
	for (int i = 0; i < 2; i++) {
		assert_string_equal(get(hs[i], "c/gone"), "-");
		assert_string_equal(get(hs[i], "c/07"), "c/07");
		assert_string_equal(get(hs[i], "c/after1"), "a1");
		assert_string_equal(get(hs[i], "c/after2"), "a2");
		struct buf v = { 0 };
		assert_int_equal(store_get(hs[i]->s, NULL, "c/big2", 6, &v, NULL), 0);
		assert_int_equal(v.len, LOG_INLINE_MAX + 200);
		buf_free(&v);
	}
	/* both write on: their seqs follow the log's */
	put(&c, "c/from-c", "c");
	assert_int_equal(store_refresh(f->b.s, NULL), 0);
	assert_string_equal(get(&f->b, "c/from-c"), "c");
	host_close(&c, true);
	int stray = 0;
	assert_int_equal(store_remote_check(f->kv, f->os, f->name, count_object, &stray, NULL), 0);
	assert_int_equal(stray, 0);
}

/* A host that stays open across another's checkpoints and compactions
 * keeps applying the log (the deletions its watch sees change nothing),
 * and its change hook hears of each entry. */
static void test_checkpoint_open(void **state)
{
	struct fx *f = *state;
	store_on_change(f->b.s, count_change, NULL);
	int before = __atomic_load_n(&changes, __ATOMIC_SEQ_CST);
	for (int i = 1; i <= 4; i++) {
		char k[8];
		snprintf(k, sizeof(k), "b/%d", i);
		put(&f->a, k, k);
		checkpoint(&f->a);
	}
	await(&f->b, "b/4", "b/4");
	assert_false(entry_there(f, 2));
	assert_string_equal(get(&f->b, "b/1"), "b/1");
	put(&f->b, "b/from-b", "b");
	assert_int_equal(store_refresh(f->a.s, NULL), 0);
	assert_string_equal(get(&f->a, "b/from-b"), "b");
	assert_true(__atomic_load_n(&changes, __ATOMIC_SEQ_CST) > before);
	store_on_change(f->b.s, NULL, NULL);
}

/* The leader's automatic checkpoint: one every EVERY entries. */
static void test_checkpoint_auto(void **state)
{
	struct fx *f = *state;
	struct mlfs_err err = { 0 };
	int made[12];
	for (int i = 0; i < 12; i++) {
		char k[16];
		snprintf(k, sizeof(k), "auto/%d", i);
		put(&f->a, k, "v");
		made[i] = store_checkpoint_auto(f->a.s, 5, &err);
	}
	int want[12] = { 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0 };
	assert_memory_equal(made, want, sizeof(want));
	assert_false(entry_there(f, 5));	/* the second compacted to the first */
	assert_true(entry_there(f, 6));
	struct store_fixture *fx = store_fixture_open();
	assert_int_equal(store_checkpoint_auto(fx->s, 1, &err), 0);
	store_fixture_close(fx);
}

/* A checkpoint that died before its commit: its objects are reported by
 * mlfs check and the previous checkpoint stays the one loaded. */
static void test_checkpoint_crash(void **state)
{
	struct fx *f = *state;
	struct mlfs_err err = { 0 };
	uint64_t seq;
	assert_int_equal(store_checkpoint(f->a.s, &seq, &err), -ENODATA);
	put(&f->a, "x/1", "1");
	uint64_t n1 = checkpoint(&f->a);
	put(&f->a, "x/2", "2");
	char name[160];
	snprintf(name, sizeof(name), "%s/checkpoints/%016llx-dead-00000000.000000", f->name,
		 (unsigned long long)n1 + 1);
	assert_int_equal(objstore_put_once(f->os, name, "junk", 4, NULL), 0);
	int stray = 0;
	assert_int_equal(store_remote_check(f->kv, f->os, f->name, count_object, &stray, NULL), 0);
	assert_int_equal(stray, 1);
	struct host c;
	host_new(f, &c);
	assert_string_equal(get(&c, "x/1"), "1");
	assert_string_equal(get(&c, "x/2"), "2");
	host_close(&c, true);
	objstore_delete(f->os, name, NULL);
	/* the embedded store has no log to checkpoint */
	struct store_fixture *fx = store_fixture_open();
	assert_int_equal(store_checkpoint(fx->s, &seq, &err), -EINVAL);
	store_fixture_close(fx);
}

/* The log's records, without etcd. */
static int collect(void *ctx, const char *b, size_t bl, const char *e, size_t el)
{
	buf_printf(ctx, "[%.*s", (int)bl, b);
	if (e)
		buf_printf(ctx, ",%.*s)", (int)el, e);
	return 0;
}

static void test_log_records(void **state)
{
	(void)state;
	struct buf k = { 0 }, v = { 0 }, keys = { 0 };
	uint64_t seq;
	log_key_entry(&k, "st", 258);
	assert_true(log_key_seq("st", k.data, k.len, &seq));
	assert_int_equal(seq, 258);
	assert_false(log_key_seq("s", k.data, k.len, &seq));
	unsigned char id[LOG_ID_LEN] = { 7 };
	log_entry_encode(&v, LOG_ENTRY_OBJECT, id, "obj", 3);
	enum log_entry_kind kind;
	const unsigned char *pid;
	const char *p;
	size_t n;
	assert_int_equal(log_entry_decode(v.data, v.len, &kind, &pid, &p, &n), 0);
	assert_int_equal(kind, LOG_ENTRY_OBJECT);
	assert_int_equal(pid[0], 7);
	assert_int_equal(n, 3);
	assert_int_equal(log_entry_decode("X", 1, &kind, &pid, &p, &n), -EINVAL);
	struct store_batch *b = store_batch_new();
	store_batch_put(b, "a", 1, "1", 1);
	store_batch_delete(b, "b", 1);
	store_batch_delete_range(b, "c", 1, "d", 1);
	store_batch_put2(b, "e", 1, "x", 1, "y", 1);
	size_t len;
	const char *rep = store_batch_rep(b, &len);
	assert_int_equal(log_batch_keys(rep, len, collect, &keys), 0);
	assert_string_equal(keys.data, "[a[b[c,d)[e");
	assert_int_equal(log_batch_keys(rep, len - 1, collect, &keys), -EINVAL);
	store_batch_free(b);
	buf_free(&k);
	buf_free(&v);
	buf_free(&keys);
}

int main(void)
{
	const char *etcd = getenv("MLFS_ETCD");
	const struct backend_case cases[] = {
		BOTH(cmocka_unit_test(test_log_records)),
		REMOTE_ONLY(cmocka_unit_test_setup_teardown(test_coherent, setup, teardown)),
		REMOTE_ONLY(cmocka_unit_test_setup_teardown(test_large_batch, setup, teardown)),
		REMOTE_ONLY(cmocka_unit_test_setup_teardown(test_sweep, setup, teardown)),
		REMOTE_ONLY(cmocka_unit_test_setup_teardown(test_sweep_dead, setup, teardown)),
		REMOTE_ONLY(cmocka_unit_test_setup_teardown(test_sweep_dead_build, setup, teardown)),
		REMOTE_ONLY(cmocka_unit_test_setup_teardown(test_sweep_dead_form, setup, teardown)),
		REMOTE_ONLY(cmocka_unit_test_setup_teardown(test_sweep_dead_runs, setup, teardown)),
		REMOTE_ONLY(cmocka_unit_test_setup_teardown(test_sweep_dead_trainings, setup, teardown)),
		REMOTE_ONLY(cmocka_unit_test_setup_teardown(test_bulk_through_log, setup, teardown)),
		REMOTE_ONLY(cmocka_unit_test_setup_teardown(test_conflict, setup, teardown)),
		REMOTE_ONLY(cmocka_unit_test_setup_teardown(test_counter_two_hosts, setup, teardown)),
		REMOTE_ONLY(cmocka_unit_test_setup_teardown(test_restart, setup, teardown)),
		REMOTE_ONLY(cmocka_unit_test_setup_teardown(test_checkpoint_compact, setup, teardown)),
		REMOTE_ONLY(cmocka_unit_test_setup_teardown(test_checkpoint_open, setup, teardown)),
		REMOTE_ONLY(cmocka_unit_test_setup_teardown(test_checkpoint_crash, setup, teardown)),
		REMOTE_ONLY(cmocka_unit_test_setup_teardown(test_checkpoint_auto, setup, teardown)),
	};
	return BACKEND_CASES_RUN("store_remote", cases, etcd && *etcd);
}
