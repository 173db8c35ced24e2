/* store.c - the RocksDB edge: the only file that includes rocksdb/c.h.
 *
 * Options are chosen for mlfs's mix: many small records (metadata, rows)
 * beside big sequential blobs (CSV chunks, artifacts).  Big values go to
 * blob files (BlobDB) so compaction does not rewrite them.  Every RocksDB
 * call starts with a NULL error pointer; fail() maps the text to an errno
 * and always frees it.  A full disk stops writes until RocksDB's own
 * recovery (its SstFileManager, every 5 s) sees STORE_RESERVE_MB free;
 * write_result() says so, and says when writes work again, through the
 * notify function (store_set_notify). */
#include "store.h"
#include "store_int.h"
#include "names.h"
#include "par.h"
#include "vmem.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rocksdb/c.h>

#define STORE_NOTES 8
#define STORE_NOTE_MAX 512

struct store {
	rocksdb_t *db;
	rocksdb_options_t *opts;
	rocksdb_readoptions_t *ropts;
	rocksdb_writeoptions_t *wopts;
	rocksdb_writeoptions_t *wopts_sync;
	rocksdb_cache_t *cache;
	rocksdb_block_based_table_options_t *table_opts;
	bool readonly;
	char *dir;
	/* Messages for the user (store_notify): guarded by note_lock.  Those
	 * said before a notify function was set wait in NOTES. */
	pthread_mutex_t note_lock;
	void (*notify)(void *ctx, const char *msg);
	void *notify_ctx;
	char notes[STORE_NOTES][STORE_NOTE_MAX];
	int nnotes;
	/* The errno of the last write when it failed (atomic): RocksDB then
	 * stops writing, and a sync or flush would trip an assertion of
	 * Debian's build on its failed log file, so none is tried. */
	int failing;
	/* store_test_fail_writes: writes left, and the errno after (atomic). */
	int test_left, test_err;
	/* Modules' per-store state (store_state): guarded by state_lock. */
	pthread_mutex_t state_lock;
	struct store_state_slot *states;
	/* Told after every write that succeeded (store_on_change): set once
	 * before writes start. */
	void (*on_change)(void *arg);
	void *on_change_arg;
	/* The remote backend (store_remote.c), or NULL for the embedded
	 * one: then writes go to its log and RocksDB is its replica. */
	struct store_remote *remote;
	uint64_t change_seq;	/* writes that succeeded (atomic) */
	/* The embedded store's writes begun and ended, failed or not
	 * (atomic): equal when none is under way (store_unchanged_since). */
	uint64_t writes_begun, writes_ended;
	uint64_t foreign_seq;	/* other hosts' changes applied (atomic) */
};

struct store_state_slot {
	const void *key;
	void *state;
	void (*free_fn)(void *);
	struct store_state_slot *next;
};

struct store_batch {
	rocksdb_writebatch_t *wb;
};

struct store_snapshot {
	const rocksdb_snapshot_t *snap;
};

struct store_iter {
	rocksdb_iterator_t *it;
	rocksdb_readoptions_t *ropts;
	/* RocksDB keeps pointers to the bounds: they live here. */
	char *lower, *upper;
};

static int fail(struct mlfs_err *err, char *rerr, const char *what)
{
	int code = -EIO;
	if (strstr(rerr, "No space"))
		code = -ENOSPC;
	else if (strstr(rerr, "does not exist"))
		code = -ENOENT;
	else if (strstr(rerr, "lock"))
		code = -EBUSY;
	if (code == -ENOSPC)
		mlfs_fail(err, code, "the store's disk is full (writes work again "
			  "once %d MiB are free): %s: %s", STORE_RESERVE_MB, what, rerr);
	else
		mlfs_fail(err, code, "%s: %s", what, rerr);
	free(rerr);
	return code;
}

void store_notify(struct store *s, const char *fmt, ...)
{
	char msg[STORE_NOTE_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&s->note_lock);
	if (s->notify)
		s->notify(s->notify_ctx, msg);
	else if (s->nnotes < STORE_NOTES)
		memcpy(s->notes[s->nnotes++], msg, sizeof(msg));
	pthread_mutex_unlock(&s->note_lock);
}

void store_set_notify(struct store *s, void (*fn)(void *ctx, const char *msg),
		      void *ctx)
{
	pthread_mutex_lock(&s->note_lock);
	s->notify = fn;
	s->notify_ctx = ctx;
	for (int i = 0; fn && i < s->nnotes; i++)
		fn(ctx, s->notes[i]);
	if (fn)
		s->nnotes = 0;
	pthread_mutex_unlock(&s->note_lock);
}

/* Follow the store's writability: say when writes start failing, and
 * when the first write works after a full disk (RocksDB resumed by
 * itself).  Returns RC. */
static int write_result(struct store *s, int rc)
{
	int was = __atomic_load_n(&s->failing, __ATOMIC_RELAXED);
	if (rc && rc != -EROFS && !was &&
	    __atomic_compare_exchange_n(&s->failing, &was, rc, false,
					__ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
		if (rc == -ENOSPC)
			store_notify(s, "the disk holding the store is full: writes fail until "
				     "%d MiB are free in %s (checked every 5 seconds)",
				     STORE_RESERVE_MB, s->dir);
		else
			store_notify(s, "the store's files in %s gave an I/O error (%s): "
				     "writes fail until the next mount", s->dir, strerror(-rc));
	} else if (!rc && was &&
		   __atomic_exchange_n(&s->failing, 0, __ATOMIC_RELAXED)) {
		store_notify(s, "writes work again: the store resumed after its disk was full");
	}
	return rc;
}

void store_test_fail_writes(struct store *s, int after, int err)
{
	__atomic_store_n(&s->test_left, after, __ATOMIC_SEQ_CST);
	__atomic_store_n(&s->test_err, err, __ATOMIC_SEQ_CST);
}

static int readonly_fail(struct store *s, struct mlfs_err *err);

/* Whether a write may go: 0, or the errno of a store opened read-only
 * or of the test hook (store_test_fail_writes). */
static int write_allowed(struct store *s, struct mlfs_err *err)
{
	if (s->readonly)
		return readonly_fail(s, err);
	int e = __atomic_load_n(&s->test_err, __ATOMIC_SEQ_CST);
	if (!e || __atomic_sub_fetch(&s->test_left, 1, __ATOMIC_SEQ_CST) >= 0)
		return 0;
	return mlfs_fail(err, e, "write refused (store_test_fail_writes)");
}

/* Writes to a store opened read-only. */
static int readonly_fail(struct store *s, struct mlfs_err *err)
{
	return mlfs_fail(err, -EROFS, "the store %s is open read-only", s->dir);
}

/* Remove the bulk files a crash left in DIR (written, never ingested:
 * store_bulk_write moves or removes its own). */
static void bulk_remove_left(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[PATH_MAX];
	if (!d)
		return;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (!strncmp(de->d_name, "bulk-", 5) && l > 4 && !strcmp(de->d_name + l - 4, ".sst") &&
		    snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) < (int)sizeof(path))
			unlink(path);
	}
	closedir(d);
}

static int open_db(const char *dir, bool create, bool readonly,
		   struct store **out, struct mlfs_err *err)
{
	char *rerr = NULL;
	struct store *s = calloc(1, sizeof(*s));
	if (!s)
		mlfs_oom();
	pthread_mutex_init(&s->state_lock, NULL);
	pthread_mutex_init(&s->note_lock, NULL);
	s->readonly = readonly;
	s->dir = mlfs_strdup(dir);

	s->opts = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(s->opts, create);
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	rocksdb_options_increase_parallelism(s->opts, ncpu > 1 ? (int)ncpu : 2);
	rocksdb_options_set_max_background_jobs(s->opts, 4);
	/* The write-ahead log holds what the memtables hold: at most
	 * STORE_WAL_MB, which bounds the space a reopen needs to replay it.
	 * RocksDB resumes after a full disk once a memtable's size is free. */
	rocksdb_options_set_write_buffer_size(s->opts, (size_t)STORE_RESERVE_MB << 20);
	rocksdb_options_set_max_write_buffer_number(s->opts, STORE_WAL_MB / STORE_RESERVE_MB);
	rocksdb_options_set_max_total_wal_size(s->opts, (uint64_t)STORE_WAL_MB << 20);
	/* RocksDB's LOG lives on the store's disk: when that disk is full a
	 * failed LOG write trips an assertion in Debian's build (the daemon
	 * would abort), so only fatal messages are written there. */
	rocksdb_options_set_info_log_level(s->opts, 4);
	rocksdb_options_set_target_file_size_base(s->opts, 64 << 20);
	rocksdb_options_set_compression(s->opts, rocksdb_lz4_compression);
	rocksdb_options_set_enable_blob_files(s->opts, 1);
	rocksdb_options_set_min_blob_size(s->opts, 4096);
	rocksdb_options_set_blob_file_size(s->opts, 256 << 20);
	rocksdb_options_set_enable_blob_gc(s->opts, 1);
	rocksdb_options_set_max_open_files(s->opts, 512);
	/* Point lookups (rows/KEY, metric summaries, metadata) dominate reads
	 * of small records: a bloom filter skips SST files without the key
	 * and a 128 MiB cache keeps hot blocks uncompressed.  Row chunks and
	 * artifacts live in blob files and do not go through this cache. */
	s->cache = rocksdb_cache_create_lru(128 << 20);
	s->table_opts = rocksdb_block_based_options_create();
	rocksdb_block_based_options_set_block_cache(s->table_opts, s->cache);
	rocksdb_block_based_options_set_filter_policy(s->table_opts,
		rocksdb_filterpolicy_create_bloom(10));
	rocksdb_block_based_options_set_cache_index_and_filter_blocks(s->table_opts, 1);
	rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache(s->table_opts, 1);
	rocksdb_options_set_block_based_table_factory(s->opts, s->table_opts);

	if (readonly)
		s->db = rocksdb_open_for_read_only(s->opts, dir, 0, &rerr);
	else
		s->db = rocksdb_open(s->opts, dir, &rerr);
	if (rerr) {
		int code = fail(err, rerr, dir);
		if (code == -EIO && !create)
			code = -ENOENT;
		if (code == -ENOSPC)
			mlfs_fail(err, code, "no space left to open the store (replaying "
				  "its write-ahead log needs up to %d MiB)", STORE_WAL_MB);
		if (err)
			err->code = code;
		store_close(s);
		return code;
	}
	if (!readonly)
		bulk_remove_left(dir);
	s->ropts = rocksdb_readoptions_create();
	s->wopts = rocksdb_writeoptions_create();
	s->wopts_sync = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(s->wopts_sync, 1);
	*out = s;
	return 0;
}

int store_open(const char *dir, bool create, struct store **out,
	       struct mlfs_err *err)
{
	return open_db(dir, create, false, out, err);
}

int store_open_readonly(const char *dir, struct store **out,
			struct mlfs_err *err)
{
	return open_db(dir, false, true, out, err);
}

void store_close(struct store *s)
{
	if (!s)
		return;
	/* The watch stops before anything it applies to goes away. */
	store_remote_free(s->remote);
	s->remote = NULL;
	if (s->db && !s->readonly && !__atomic_load_n(&s->failing, __ATOMIC_RELAXED)) {
		char *rerr = NULL;
		rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
		rocksdb_flushoptions_set_wait(fo, 1);
		rocksdb_flush(s->db, fo, &rerr);
		free(rerr);
		rerr = NULL;
		rocksdb_flush_wal(s->db, 1, &rerr);
		free(rerr);
		rocksdb_flushoptions_destroy(fo);
	}
	/* Modules' state goes first: a cache may hold the store's data. */
	while (s->states) {
		struct store_state_slot *slot = s->states;
		s->states = slot->next;
		if (slot->free_fn)
			slot->free_fn(slot->state);
		free(slot);
	}
	pthread_mutex_destroy(&s->state_lock);
	pthread_mutex_destroy(&s->note_lock);
	free(s->dir);
	if (s->db)
		rocksdb_close(s->db);
	if (s->ropts)
		rocksdb_readoptions_destroy(s->ropts);
	if (s->wopts)
		rocksdb_writeoptions_destroy(s->wopts);
	if (s->wopts_sync)
		rocksdb_writeoptions_destroy(s->wopts_sync);
	rocksdb_options_destroy(s->opts);
	rocksdb_block_based_options_destroy(s->table_opts);
	rocksdb_cache_destroy(s->cache);
	free(s);
}

int store_get_view(struct store *s, const struct store_snapshot *snap,
		   const void *key, size_t klen, struct store_view **view,
		   const char **val, size_t *vlen, struct mlfs_err *err)
{
	char *rerr = NULL;
	rocksdb_readoptions_t *ro = s->ropts;

	*view = NULL;
	if (s->remote)
		store_remote_note_read(s->remote, key, klen, NULL, 0, true);
	if (snap) {
		ro = rocksdb_readoptions_create();
		rocksdb_readoptions_set_snapshot(ro, snap->snap);
	}
	rocksdb_pinnableslice_t *ps = rocksdb_get_pinned(s->db, ro, key, klen, &rerr);
	if (snap)
		rocksdb_readoptions_destroy(ro);
	if (rerr)
		return fail(err, rerr, "read");
	if (!ps)
		return -ENOENT;
	*val = rocksdb_pinnableslice_value(ps, vlen);
	*view = (struct store_view *)ps;
	return 0;
}

void store_view_release(struct store_view *view)
{
	if (view)
		rocksdb_pinnableslice_destroy((rocksdb_pinnableslice_t *)view);
}

int store_get(struct store *s, const struct store_snapshot *snap,
	      const void *key, size_t klen, struct buf *val,
	      struct mlfs_err *err)
{
	struct store_view *view;
	const char *v;
	size_t vlen = 0;
	int rc = store_get_view(s, snap, key, klen, &view, &v, &vlen, err);
	if (rc)
		return rc;
	buf_reset(val);
	rc = buf_append(val, v, vlen);
	store_view_release(view);
	return rc;
}

/* A write succeeded: tell whoever watches (0, for the caller's return). */
static int changed(struct store *s)
{
	__atomic_add_fetch(&s->change_seq, 1, __ATOMIC_SEQ_CST);
	if (s->on_change)
		s->on_change(s->on_change_arg);
	return 0;
}

/* RC of a write: when it succeeded, tell the watcher. */
static int changed_if_ok(struct store *s, int rc)
{
	return rc ? rc : changed(s);
}

/* An embedded write starts: from here until write_end, RocksDB may hold
 * it while store_change_seq does not count it yet. */
static void write_begin(struct store *s)
{
	__atomic_add_fetch(&s->writes_begun, 1, __ATOMIC_SEQ_CST);
}

/* The embedded write begun by write_begin ended with RC: counted in
 * store_change_seq when it succeeded, then no longer under way. */
static int write_end(struct store *s, int rc)
{
	rc = changed_if_ok(s, rc);
	__atomic_add_fetch(&s->writes_ended, 1, __ATOMIC_SEQ_CST);
	return rc;
}

bool store_unchanged_since(struct store *s, uint64_t seq)
{
	if (s->remote)
		return false;
	/* Ended before the sequence, begun after both: equal counts then
	 * mean that every write begun by now had ended (and counted) before
	 * the sequence was read. */
	uint64_t ended = __atomic_load_n(&s->writes_ended, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&s->change_seq, __ATOMIC_SEQ_CST) != seq)
		return false;
	return __atomic_load_n(&s->writes_begun, __ATOMIC_SEQ_CST) == ended;
}

void store_changed(struct store *s)
{
	__atomic_add_fetch(&s->foreign_seq, 1, __ATOMIC_SEQ_CST);
	changed(s);
}

uint64_t store_foreign_seq(struct store *s)
{
	return __atomic_load_n(&s->foreign_seq, __ATOMIC_SEQ_CST);
}

uint64_t store_change_seq(struct store *s)
{
	return __atomic_load_n(&s->change_seq, __ATOMIC_SEQ_CST);
}

void store_on_change(struct store *s, void (*fn)(void *arg), void *arg)
{
	s->on_change = fn;
	s->on_change_arg = arg;
}

/* One put (or, with DEL, delete) through the remote backend's log. */
static int remote_write_one(struct store *s, const void *key, size_t klen,
			    const void *val, size_t vlen, bool del,
			    struct mlfs_err *err)
{
	struct store_batch *b = store_batch_new();
	if (del)
		store_batch_delete(b, key, klen);
	else
		store_batch_put(b, key, klen, val, vlen);
	size_t len;
	const char *rep = rocksdb_writebatch_data(b->wb, &len);
	int rc = changed_if_ok(s, store_remote_write(s->remote, rep, len, err));
	store_batch_free(b);
	return rc;
}

int store_put(struct store *s, const void *key, size_t klen,
	      const void *val, size_t vlen, struct mlfs_err *err)
{
	char *rerr = NULL;
	int rc = write_allowed(s, err);
	if (rc)
		return rc;
	if (s->remote)
		return remote_write_one(s, key, klen, val, vlen, false, err);
	write_begin(s);
	rocksdb_put(s->db, s->wopts, key, klen, val, vlen, &rerr);
	return write_end(s, write_result(s, rerr ? fail(err, rerr, "write") : 0));
}

int store_delete(struct store *s, const void *key, size_t klen,
		 struct mlfs_err *err)
{
	char *rerr = NULL;
	int rc = write_allowed(s, err);
	if (rc)
		return rc;
	if (s->remote)
		return remote_write_one(s, key, klen, NULL, 0, true, err);
	write_begin(s);
	rocksdb_delete(s->db, s->wopts, key, klen, &rerr);
	return write_end(s, write_result(s, rerr ? fail(err, rerr, "delete") : 0));
}

struct store_batch *store_batch_new(void)
{
	struct store_batch *b = malloc(sizeof(*b));
	if (!b)
		mlfs_oom();
	b->wb = rocksdb_writebatch_create();
	return b;
}

void store_batch_put(struct store_batch *b, const void *key, size_t klen,
		     const void *val, size_t vlen)
{
	rocksdb_writebatch_put(b->wb, key, klen, val, vlen);
}

void store_batch_put2(struct store_batch *b, const void *key, size_t klen,
		      const void *v1, size_t l1, const void *v2, size_t l2)
{
	const char *keys[1] = { key };
	const char *vals[2] = { v1, v2 };
	size_t vlens[2] = { l1, l2 };
	rocksdb_writebatch_putv(b->wb, 1, keys, &klen, 2, vals, vlens);
}

void store_batch_delete(struct store_batch *b, const void *key, size_t klen)
{
	rocksdb_writebatch_delete(b->wb, key, klen);
}

void store_batch_delete_range(struct store_batch *b, const void *begin,
			      size_t blen, const void *end, size_t elen)
{
	rocksdb_writebatch_delete_range(b->wb, begin, blen, end, elen);
}

size_t store_batch_count(const struct store_batch *b)
{
	return (size_t)rocksdb_writebatch_count(b->wb);
}

void store_batch_clear(struct store_batch *b)
{
	rocksdb_writebatch_clear(b->wb);
}

void store_batch_free(struct store_batch *b)
{
	if (!b)
		return;
	rocksdb_writebatch_destroy(b->wb);
	free(b);
}

int store_write(struct store *s, struct store_batch *b, bool sync,
		struct mlfs_err *err)
{
	char *rerr = NULL;
	int rc = write_allowed(s, err);
	if (rc)
		return rc;
	if (s->remote) {
		size_t len;
		const char *rep = rocksdb_writebatch_data(b->wb, &len);
		return changed_if_ok(s, store_remote_write(s->remote, rep, len, err));
	}
	write_begin(s);
	rocksdb_write(s->db, sync ? s->wopts_sync : s->wopts, b->wb, &rerr);
	return write_end(s, write_result(s, rerr ? fail(err, rerr, "write") : 0));
}

/* ---- bulk writes: sorted SST files ingested at once ---- */

struct bulk_ent {
	const char *k, *v;
	size_t klen, vlen;
};

/* A put of a bulk: its key at KOFF in the bulk's keys. */
struct bulk_put {
	size_t koff, klen, vlen;
	const char *v;
};

/* A bulk is a chain of parts, each its puts in order and its keys back
 * to back: store_bulk_join links a part made on another thread without
 * copying it; a put goes to the last part. */
struct store_bulk {
	struct buf keys;	/* the keys, back to back */
	struct bulk_put *ents;
	size_t n, cap;
	bool unordered;		/* of the whole chain (head only) */
	struct store_bulk *next, *tail;	/* tail: head only (NULL: itself) */
	size_t total;		/* puts of the whole chain (head only) */
};

struct store_bulk *store_bulk_new(void)
{
	struct store_bulk *bk = calloc(1, sizeof(*bk));
	if (!bk)
		mlfs_oom();
	return bk;
}

static int bulk_cmp(const char *a, size_t al, const char *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);
	return c ? c : (al > bl) - (al < bl);
}

/* The last put of BK's chain, NULL when it has none. */
static const struct bulk_put *bulk_last(const struct store_bulk *bk, const char **key)
{
	const struct store_bulk *t = bk->tail ? bk->tail : bk;
	if (!t->n)
		return NULL;
	*key = t->keys.data + t->ents[t->n - 1].koff;
	return &t->ents[t->n - 1];
}

void store_bulk_put(struct store_bulk *bk, const void *key, size_t klen,
		    const void *val, size_t vlen)
{
	struct store_bulk *t = bk->tail ? bk->tail : bk;
	const char *lk;
	const struct bulk_put *last = bulk_last(bk, &lk);
	if (last && bulk_cmp(lk, last->klen, key, klen) >= 0)
		bk->unordered = true;
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 1024;
		if (!(t->ents = realloc(t->ents, t->cap * sizeof(*t->ents))))
			mlfs_oom();
	}
	t->ents[t->n++] = (struct bulk_put){ t->keys.len, klen, vlen, val };
	if (buf_append(&t->keys, key, klen))
		mlfs_oom();
	bk->total++;
}

void store_bulk_reserve(struct store_bulk *bk, size_t n, size_t key_bytes)
{
	struct store_bulk *t = bk->tail ? bk->tail : bk;
	if (t->n + n > t->cap) {
		t->cap = t->n + n;
		if (!(t->ents = realloc(t->ents, t->cap * sizeof(*t->ents))))
			mlfs_oom();
	}
	buf_reserve(&t->keys, key_bytes);
	vmem_populate(t->ents + t->n, n * sizeof(*t->ents));
	vmem_populate(t->keys.data + t->keys.len, key_bytes);
}

void store_bulk_join(struct store_bulk *bk, struct store_bulk *more)
{
	const char *lk;
	const struct bulk_put *last = bulk_last(bk, &lk);
	if (!more->total) {
		store_bulk_free(more);
		return;
	}
	const struct bulk_put *first = &more->ents[0];
	if (more->unordered ||
	    (last && bulk_cmp(lk, last->klen, more->keys.data + first->koff, first->klen) >= 0))
		bk->unordered = true;
	(bk->tail ? bk->tail : bk)->next = more;
	bk->tail = more->tail ? more->tail : more;
	bk->total += more->total;
	more->tail = NULL;
}

size_t store_bulk_count(const struct store_bulk *bk)
{
	return bk->total;
}

void store_bulk_free(struct store_bulk *bk)
{
	while (bk) {
		struct store_bulk *next = bk->next;
		buf_free(&bk->keys);
		free(bk->ents);
		free(bk);
		bk = next;
	}
}

/* Every put of BK's chain in order: the next after C (C->bk NULL at
 * first), its key into *KEY; NULL after the last. */
struct bulk_cursor {
	const struct store_bulk *bk;
	size_t i;
};

static const struct bulk_put *bulk_next(const struct store_bulk *bk, struct bulk_cursor *c,
					const char **key)
{
	if (!c->bk) {
		c->bk = bk;
		c->i = 0;
	}
	while (c->bk && c->i == c->bk->n) {
		c->bk = c->bk->next;
		c->i = 0;
	}
	if (!c->bk)
		return NULL;
	*key = c->bk->keys.data + c->bk->ents[c->i].koff;
	return &c->bk->ents[c->i++];
}

/* B's puts (rocksdb_writebatch_iterate): NDEL counts its deletes. */
struct bulk_extra {
	struct bulk_ent *ents;
	size_t n, cap, ndel;
};

static void extra_put(void *arg, const char *k, size_t klen, const char *v,
		      size_t vlen)
{
	struct bulk_extra *x = arg;
	if (x->n == x->cap) {
		x->cap = x->cap ? x->cap * 2 : 16;
		if (!(x->ents = realloc(x->ents, x->cap * sizeof(*x->ents))))
			mlfs_oom();
	}
	x->ents[x->n++] = (struct bulk_ent){ k, v, klen, vlen };
}

static void extra_del(void *arg, const char *k, size_t klen)
{
	(void)k;
	(void)klen;
	((struct bulk_extra *)arg)->ndel++;
}

/* Sort X's puts by key (few: an insertion sort, stable) and keep the
 * last put of each key, as the batch would. */
static void extra_sort(struct bulk_extra *x)
{
	for (size_t i = 1; i < x->n; i++) {
		struct bulk_ent e = x->ents[i];
		size_t j = i;
		for (; j && bulk_cmp(x->ents[j - 1].k, x->ents[j - 1].klen, e.k, e.klen) > 0; j--)
			x->ents[j] = x->ents[j - 1];
		x->ents[j] = e;
	}
	size_t u = 0;
	for (size_t i = 0; i < x->n; i++) {
		if (u && !bulk_cmp(x->ents[u - 1].k, x->ents[u - 1].klen,
				   x->ents[i].k, x->ents[i].klen))
			u--;
		x->ents[u++] = x->ents[i];
	}
	x->n = u;
}

/* BK's puts and X's (sorted, one a key) merged in key order into *OUT;
 * of a key in both, BK's.  Returns the count. */
static size_t bulk_merge(struct store_bulk *bk, struct bulk_extra *x,
			 struct bulk_ent **out)
{
	size_t n = 0, j = 0;
	struct bulk_ent *m = malloc((bk->total + x->n + 1) * sizeof(*m));
	struct bulk_cursor c = { 0 };
	vmem_populate(m, (bk->total + x->n + 1) * sizeof(*m));
	const char *k = NULL;
	const struct bulk_put *p = bulk_next(bk, &c, &k);
	if (!m)
		mlfs_oom();
	while (p || j < x->n) {
		int cmp = !p ? 1 : j == x->n ? -1 : bulk_cmp(k, p->klen, x->ents[j].k, x->ents[j].klen);
		if (cmp <= 0) {
			m[n++] = (struct bulk_ent){ k, p->v, p->klen, p->vlen };
			p = bulk_next(bk, &c, &k);
		} else {
			m[n++] = x->ents[j];
		}
		if (cmp >= 0)
			j++;
	}
	*out = m;
	return n;
}

struct bulk_files {
	struct store *s;
	const struct bulk_ent *ents;
	char **paths;
	char **errs;
};

/* Write ents [LO, HI) into SST file T (par_range). */
static void bulk_write_file(void *arg, int t, size_t lo, size_t hi)
{
	struct bulk_files *f = arg;
	static unsigned long seq;
	char *rerr = NULL;
	rocksdb_envoptions_t *env = rocksdb_envoptions_create();
	rocksdb_sstfilewriter_t *w = rocksdb_sstfilewriter_create(env, f->s->opts);
	if (asprintf(&f->paths[t], "%s/bulk-%d-%lu.sst", f->s->dir, (int)getpid(),
		     __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED)) < 0)
		mlfs_oom();
	rocksdb_sstfilewriter_open(w, f->paths[t], &rerr);
	for (size_t i = lo; i < hi && !rerr; i++)
		rocksdb_sstfilewriter_put(w, f->ents[i].k, f->ents[i].klen,
					  f->ents[i].v, f->ents[i].vlen, &rerr);
	if (!rerr)
		rocksdb_sstfilewriter_finish(w, &rerr);
	rocksdb_sstfilewriter_destroy(w);
	rocksdb_envoptions_destroy(env);
	f->errs[t] = rerr;
}

/* Write the N sorted ENTS as SST files and ingest them in one step. */
static int bulk_ingest(struct store *s, const struct bulk_ent *ents, size_t n,
		       struct mlfs_err *err)
{
	struct par_pool *pool = par_default();
	int nf = par_threads(pool) > 0 ? par_threads(pool) : 1;
	struct bulk_files f = { s, ents, calloc(nf, sizeof(char *)), calloc(nf, sizeof(char *)) };
	char *rerr = NULL;
	int rc = 0, k = 0;
	if (!f.paths || !f.errs)
		mlfs_oom();
	par_range(pool, n, bulk_write_file, &f);
	for (int t = 0; t < nf; t++) {
		if (f.errs[t] && !rc)
			rc = fail(err, f.errs[t], "bulk file");
		else
			free(f.errs[t]);
		if (f.paths[t])
			f.paths[k++] = f.paths[t];
	}
	if (!rc) {
		rocksdb_ingestexternalfileoptions_t *io = rocksdb_ingestexternalfileoptions_create();
		rocksdb_ingestexternalfileoptions_set_move_files(io, 1);
		rocksdb_ingest_external_file(s->db, (const char *const *)f.paths, (size_t)k, io, &rerr);
		rocksdb_ingestexternalfileoptions_destroy(io);
		rc = rerr ? fail(err, rerr, "bulk ingest") : 0;
	}
	for (int t = 0; t < k; t++) {
		unlink(f.paths[t]);	/* moved when ingested; left over otherwise */
		free(f.paths[t]);
	}
	free(f.paths);
	free(f.errs);
	return rc;
}

/* The local path of store_bulk_write: -EAGAIN when B holds deletes
 * (nothing done: the caller takes the batch path). */
static int bulk_local(struct store *s, struct store_bulk *bk,
		      struct store_batch *b, struct mlfs_err *err)
{
	struct bulk_extra x = { 0 };
	struct bulk_ent *m;
	int rc = -EAGAIN;
	rocksdb_writebatch_iterate(b->wb, &x, extra_put, extra_del);
	if (!x.ndel && x.n == (size_t)rocksdb_writebatch_count(b->wb)) {
		extra_sort(&x);
		size_t n = bulk_merge(bk, &x, &m);
		rc = write_result(s, bulk_ingest(s, m, n, err));
		free(m);
	}
	free(x.ents);
	return rc;
}

int store_bulk_write(struct store *s, struct store_bulk *bk,
		     struct store_batch *b, struct mlfs_err *err)
{
	int rc = write_allowed(s, err);
	if (rc)
		return rc;
	if (bk->unordered)
		return mlfs_fail(err, -EINVAL, "bulk keys not in ascending order; nothing written");
	if (!s->remote && bk->total >= STORE_BULK_MIN &&
	    (rc = bulk_local(s, bk, b, err)) != -EAGAIN)
		return changed_if_ok(s, rc);
	struct bulk_cursor c = { 0 };
	const char *k;
	for (const struct bulk_put *p; (p = bulk_next(bk, &c, &k));)
		store_batch_put(b, k, p->klen, p->v, p->vlen);
	return store_write(s, b, false, err);
}

const char *store_batch_rep(const struct store_batch *b, size_t *len)
{
	return rocksdb_writebatch_data(b->wb, len);
}

int store_local_apply(struct store *s, const char *rep, size_t len,
		      const void *key, size_t klen, const void *val,
		      size_t vlen, struct mlfs_err *err)
{
	char *rerr = NULL;
	rocksdb_writebatch_t *wb = len ? rocksdb_writebatch_create_from(rep, len)
				       : rocksdb_writebatch_create();
	if (key)
		rocksdb_writebatch_put(wb, key, klen, val, vlen);
	rocksdb_write(s->db, s->wopts, wb, &rerr);
	rocksdb_writebatch_destroy(wb);
	return write_result(s, rerr ? fail(err, rerr, "replica write") : 0);
}

void store_set_remote(struct store *s, struct store_remote *r)
{
	s->remote = r;
}

struct store_remote *store_remote_of(struct store *s)
{
	return s->remote;
}

int store_refresh(struct store *s, struct mlfs_err *err)
{
	if (!s->remote)
		return 0;
	return store_remote_refresh(s->remote, err);
}

void store_txn_begin(struct store *s)
{
	if (s->remote)
		store_remote_txn_begin(s->remote);
}

void store_txn_inner(struct store *s, bool on)
{
	if (s->remote)
		store_remote_txn_inner(s->remote, on);
}

bool store_is_remote(const struct store *s)
{
	return s->remote != NULL;
}

struct store_snapshot *store_snapshot_new(struct store *s)
{
	struct store_snapshot *sn = malloc(sizeof(*sn));
	if (!sn)
		mlfs_oom();
	sn->snap = rocksdb_create_snapshot(s->db);
	return sn;
}

void store_snapshot_free(struct store *s, struct store_snapshot *snap)
{
	if (!snap)
		return;
	rocksdb_release_snapshot(s->db, snap->snap);
	free(snap);
}

static char *dup_bytes(const void *p, size_t n)
{
	char *d = malloc(n ? n : 1);
	if (d && n)
		memcpy(d, p, n);
	return d;
}

struct store_iter *store_iter_new(struct store *s,
				  const struct store_snapshot *snap,
				  const void *lower, size_t llen,
				  const void *upper, size_t ulen)
{
	struct store_iter *it = calloc(1, sizeof(*it));
	if (!it)
		mlfs_oom();
	if (s->remote)
		store_remote_note_read(s->remote, lower ? lower : "", lower ? llen : 0,
				       upper, upper ? ulen : 0, false);
	it->ropts = rocksdb_readoptions_create();
	if (snap)
		rocksdb_readoptions_set_snapshot(it->ropts, snap->snap);
	if (lower) {
		it->lower = dup_bytes(lower, llen);
		rocksdb_readoptions_set_iterate_lower_bound(it->ropts, it->lower, llen);
	}
	if (upper) {
		it->upper = dup_bytes(upper, ulen);
		rocksdb_readoptions_set_iterate_upper_bound(it->ropts, it->upper, ulen);
	}
	it->it = rocksdb_create_iterator(s->db, it->ropts);
	return it;
}

void store_iter_seek(struct store_iter *it, const void *key, size_t klen)
{
	rocksdb_iter_seek(it->it, key, klen);
}

void store_iter_seek_first(struct store_iter *it)
{
	rocksdb_iter_seek_to_first(it->it);
}

void store_iter_seek_last(struct store_iter *it)
{
	rocksdb_iter_seek_to_last(it->it);
}

bool store_iter_valid(const struct store_iter *it)
{
	return rocksdb_iter_valid(it->it);
}

void store_iter_next(struct store_iter *it)
{
	rocksdb_iter_next(it->it);
}

void store_iter_prev(struct store_iter *it)
{
	rocksdb_iter_prev(it->it);
}

const char *store_iter_key(const struct store_iter *it, size_t *klen)
{
	return rocksdb_iter_key(it->it, klen);
}

const char *store_iter_value(const struct store_iter *it, size_t *vlen)
{
	return rocksdb_iter_value(it->it, vlen);
}

int store_iter_status(const struct store_iter *it, struct mlfs_err *err)
{
	char *rerr = NULL;
	rocksdb_iter_get_error(it->it, &rerr);
	return rerr ? fail(err, rerr, "scan") : 0;
}

void store_iter_free(struct store_iter *it)
{
	if (!it)
		return;
	rocksdb_iter_destroy(it->it);
	rocksdb_readoptions_destroy(it->ropts);
	free(it->lower);
	free(it->upper);
	free(it);
}

int store_iter_end(struct store_iter *it, int rc, struct buf *lo,
		   struct buf *hi)
{
	if (!rc)
		rc = store_iter_status(it, NULL);
	store_iter_free(it);
	if (lo)
		buf_free(lo);
	if (hi)
		buf_free(hi);
	return rc;
}

int store_sync(struct store *s, struct mlfs_err *err)
{
	char *rerr = NULL;
	int failing = __atomic_load_n(&s->failing, __ATOMIC_RELAXED);
	if (s->readonly)
		return 0;
	if (failing)
		return mlfs_fail(err, failing, "cannot sync: the store's last write failed (%s)",
				 strerror(-failing));
	rocksdb_flush_wal(s->db, 1, &rerr);
	return write_result(s, rerr ? fail(err, rerr, "sync") : 0);
}

void key_put_u64(struct buf *k, uint64_t v)
{
	unsigned char b[8];
	for (int i = 7; i >= 0; i--, v >>= 8)
		b[i] = (unsigned char)v;
	buf_append(k, b, 8);
}

uint64_t key_get_u64(const char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | (unsigned char)p[i];
	return v;
}

void *store_state(struct store *s, const void *key, void *(*make)(void),
		  void (*free_fn)(void *))
{
	pthread_mutex_lock(&s->state_lock);
	struct store_state_slot *slot = s->states;
	while (slot && slot->key != key)
		slot = slot->next;
	if (!slot) {
		slot = calloc(1, sizeof(*slot));
		if (!slot || !(slot->state = make()))
			mlfs_oom();
		slot->key = key;
		slot->free_fn = free_fn;
		slot->next = s->states;
		s->states = slot;
	}
	void *state = slot->state;
	pthread_mutex_unlock(&s->state_lock);
	return state;
}

static void *lock_new(void)
{
	pthread_mutex_t *m = malloc(sizeof(*m));
	if (m)
		pthread_mutex_init(m, NULL);
	return m;
}

static void lock_free(void *p)
{
	pthread_mutex_destroy(p);
	free(p);
}

pthread_mutex_t *store_lock(struct store *s, const void *key)
{
	return store_state(s, key, lock_new, lock_free);
}

int store_list_names(struct store *s, const char *prefix, size_t max,
		     int (*fn)(void *ctx, const char *name), void *ctx)
{
	size_t pl = strlen(prefix);
	char *hi = strdup(prefix), *name = malloc(max + 1);
	if (!hi || !name || !pl)
		mlfs_oom();
	hi[pl - 1]++;	/* the prefix's last byte '/' -> '0' */
	struct store_iter *it = store_iter_new(s, NULL, prefix, pl, hi, pl);
	int rc = 0;
	for (store_iter_seek_first(it); !rc && store_iter_valid(it); store_iter_next(it)) {
		size_t kl;
		const char *k = store_iter_key(it, &kl);
		if (kl - pl > max || kl == pl)
			continue;
		memcpy(name, k + pl, kl - pl);
		name[kl - pl] = '\0';
		rc = fn(ctx, name);
	}
	if (!rc)
		rc = store_iter_status(it, NULL);
	store_iter_free(it);
	free(hi);
	free(name);
	return rc;
}

void key_named(struct buf *k, const char *prefix, const char *name)
{
	buf_reset(k);
	buf_puts(k, prefix);
	buf_puts(k, name);
}

void key_kind_id(struct buf *k, char module, char kind, uint64_t id)
{
	char head[4] = { module, '/', kind, '/' };
	buf_reset(k);
	buf_append(k, head, 4);
	key_put_u64(k, id);
}

int store_get_named(struct store *s, const struct store_snapshot *snap,
		    const char *prefix, const char *name, struct buf *out)
{
	struct buf k = { 0 };
	if (!names_valid(name))
		return -ENOENT;
	key_named(&k, prefix, name);
	int rc = store_get(s, snap, k.data, k.len, out, NULL);
	buf_free(&k);
	return rc;
}
