/* blob_stage.c - artifact files written whole or not at all: a writer
 * stages what one handle writes under a new content id and switches the
 * file's record to it in one batch at commit; blob_recover finds and
 * removes what writers cut short by a crash left behind.
 *
 * Records (docs/store-format.md):
 *   b/s/CID   content CID staged by a writer of file ID: {obj: ID, o: OWNER}
 *   b/f/ID    file ID made by blob_create that no handle has closed yet:
 *             "" or {o: OWNER}
 * OWNER (absent on the embedded store) is the writing store's writer
 * name: blob_sweep_dead removes what dead owners left while others live.
 * The writers of a store are listed (store_state) so that blob_stat and
 * blob_truncate of a file being written see its staged bytes.  Locks, in
 * order: the list's, a writer's, the object's stripe (blob.c). */
#include "blob.h"
#include "blob_int.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "codec.h"
#include "ids.h"

/* Chunks copied per batch when staging starts from a file's content. */
#define COPY_BATCH 16

struct blob_writer {
	struct store *s;
	uint64_t id;
	uint64_t cid;		/* staged content; 0 before the first change */
	uint64_t size;		/* staged size (cid set) */
	int64_t mtime_ns;
	bool trunc;		/* opened O_TRUNC, nothing staged or applied yet */
	int failed;		/* the errno of a write that failed: no commit */
	pthread_mutex_t lock;	/* the handle's calls against blob_truncate's */
	struct blob_writer *next;	/* writers.list, newest first */
};

struct writers {
	pthread_mutex_t lock;
	struct blob_writer *list;
};

static const char writers_key;

static void *writers_new(void)
{
	struct writers *t = calloc(1, sizeof(*t));
	if (t)
		pthread_mutex_init(&t->lock, NULL);
	return t;
}

static void writers_free(void *p)
{
	struct writers *t = p;
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static struct writers *writers_of(struct store *s)
{
	return store_state(s, &writers_key, writers_new, writers_free);
}

static bool staged(const struct blob_writer *w)
{
	return w->cid || w->trunc;
}

/* The newest writer of ID that changed something; the list's lock held. */
static struct blob_writer *find_staged(struct writers *t, uint64_t id)
{
	for (struct blob_writer *w = t->list; w; w = w->next)
		if (w->id == id && staged(w))
			return w;
	return NULL;
}

static void key_id(struct buf *k, const char *prefix, uint64_t id)
{
	buf_reset(k);
	buf_puts(k, prefix);
	key_put_u64(k, id);
}

/* Into V (reset): a record of N+1 fields, or N when there is no owner
 * (the embedded store), whose first is "o": the writer's name
 * (store_writer_name), which blob_sweep_dead goes by.  Returns N or N+1. */
static size_t owner_map(struct store *s, struct buf *v, size_t n)
{
	const char *owner = store_writer_name(s);
	buf_reset(v);
	if (!owner[0]) {
		if (n)
			codec_enc_map(v, (uint32_t)n);
		return n;
	}
	codec_enc_map(v, (uint32_t)n + 1);
	codec_enc_cstr(v, "o");
	codec_enc_cstr(v, owner);
	return n + 1;
}

void blob_fresh_mark(struct store *s, struct store_batch *b, uint64_t id)
{
	struct buf k = { 0 }, v = { 0 };
	key_id(&k, "b/f/", id);
	owner_map(s, &v, 0);
	store_batch_put(b, k.data, k.len, v.data ? v.data : "", v.len);
	buf_free(&k);
	buf_free(&v);
}

void blob_fresh_clear(struct store_batch *b, uint64_t id)
{
	struct buf k = { 0 };
	key_id(&k, "b/f/", id);
	store_batch_delete(b, k.data, k.len);
	buf_free(&k);
}

/* Whether file ID is fresh (made by blob_create, no handle closed yet). */
static bool is_fresh(struct store *s, uint64_t id)
{
	struct buf k = { 0 }, v = { 0 };
	key_id(&k, "b/f/", id);
	bool yes = store_get(s, NULL, k.data, k.len, &v, NULL) == 0;
	buf_free(&k);
	buf_free(&v);
	return yes;
}

int blob_settle(struct store *s, uint64_t id, struct mlfs_err *err)
{
	struct buf k = { 0 };
	int rc = 0;
	if (is_fresh(s, id)) {
		key_id(&k, "b/f/", id);
		rc = store_delete(s, k.data, k.len, err);
	}
	buf_free(&k);
	return rc;
}

/* Into B: forget staged content CID (its record and chunks). */
static void drop_staged(struct store_batch *b, uint64_t cid)
{
	struct buf k = { 0 };
	key_id(&k, "b/s/", cid);
	store_batch_delete(b, k.data, k.len);
	blob_drop_content(b, cid);
	buf_free(&k);
}

/* Copy the chunks of content FROM to TO, writing B every COPY_BATCH. */
static int copy_content(struct store *s, struct store_batch *b, uint64_t from,
			uint64_t to, struct mlfs_err *err)
{
	struct buf lo = { 0 }, hi = { 0 }, k = { 0 };
	int rc = 0;
	blob_key_chunk(&lo, from, 0);
	blob_key_chunk(&hi, from + 1, 0);
	struct store_iter *it = store_iter_new(s, NULL, lo.data, lo.len, hi.data, hi.len);
	for (store_iter_seek_first(it); !rc && store_iter_valid(it); store_iter_next(it)) {
		size_t kl, vl;
		const char *key = store_iter_key(it, &kl);
		const char *v = store_iter_value(it, &vl);
		if (kl != lo.len)
			continue;
		blob_key_chunk(&k, to, key_get_u64(key + kl - 8));
		store_batch_put(b, k.data, k.len, v, vl);
		if (store_batch_count(b) >= COPY_BATCH) {
			rc = store_write(s, b, false, err);
			store_batch_clear(b);
		}
	}
	if (!rc)
		rc = store_iter_status(it, err);
	store_iter_free(it);
	buf_free(&lo);
	buf_free(&hi);
	buf_free(&k);
	return rc;
}

/* Start staging W (its lock held): a new content, empty after O_TRUNC,
 * else a copy of the file's.  Its record goes first, so that a crash
 * at any point leaves something blob_recover finds. */
static int stage_begin(struct blob_writer *w, struct mlfs_err *err)
{
	struct buf k = { 0 }, v = { 0 };
	struct obj o;
	uint64_t cid, size = 0;
	if (w->cid)
		return 0;
	int rc = ids_next_key(w->s, "b/n", 3, &cid, err);
	if (rc)
		return rc;
	struct store_batch *b = store_batch_new();
	key_id(&k, "b/s/", cid);
	owner_map(w->s, &v, 1);
	codec_enc_cstr(&v, "obj");
	codec_enc_u64(&v, w->id);
	store_batch_put(b, k.data, k.len, v.data, v.len);
	pthread_mutex_t *lk = blob_stripe(w->s, w->id);
	pthread_mutex_lock(lk);
	rc = blob_obj_load(w->s, w->id, &o);
	if (!rc && !w->trunc) {
		size = o.st.size;
		rc = copy_content(w->s, b, obj_data(&o), cid, err);
	}
	if (!rc)
		rc = store_write(w->s, b, false, err);
	pthread_mutex_unlock(lk);
	store_batch_clear(b);
	if (rc) {
		/* Whatever got written goes (else blob_recover takes it). */
		drop_staged(b, cid);
		store_write(w->s, b, false, NULL);
	} else {
		w->cid = cid;
		w->size = size;
		w->trunc = false;
	}
	store_batch_free(b);
	buf_free(&k);
	buf_free(&v);
	return rc;
}

int blob_writer_open(struct store *s, uint64_t id, bool trunc,
		     struct blob_writer **out, struct mlfs_err *err)
{
	struct obj o;
	int rc = blob_obj_load(s, id, &o);
	if (!rc && o.st.dir)
		rc = -EISDIR;
	if (rc)
		return rc;
	struct blob_writer *w = calloc(1, sizeof(*w));
	if (!w)
		mlfs_oom();
	w->s = s;
	w->id = id;
	w->trunc = trunc;
	w->mtime_ns = clock_now_ns();
	pthread_mutex_init(&w->lock, NULL);
	struct writers *t = writers_of(s);
	pthread_mutex_lock(&t->lock);
	w->next = t->list;
	t->list = w;
	pthread_mutex_unlock(&t->lock);
	*out = w;
	return 0;
}

long blob_writer_read(struct blob_writer *w, uint64_t off, char *dst,
		      size_t len, struct mlfs_err *err)
{
	long n = 0;
	pthread_mutex_lock(&w->lock);
	if (w->cid)
		n = blob_content_read(w->s, w->cid, w->size, off, dst, len);
	else if (!w->trunc)
		n = blob_read(w->s, w->id, off, dst, len, err);
	pthread_mutex_unlock(&w->lock);
	return n;
}

int blob_writer_write(struct blob_writer *w, uint64_t off, const char *data,
		      size_t len, struct mlfs_err *err)
{
	int rc = blob_check_size(off, len, err);
	if (rc)
		return rc;
	pthread_mutex_lock(&w->lock);
	rc = w->failed ? w->failed : stage_begin(w, err);
	if (!rc) {
		struct store_batch *b = store_batch_new();
		rc = blob_content_write(w->s, b, w->cid, w->size, off, data, len);
		if (!rc)
			rc = store_write(w->s, b, false, err);
		store_batch_free(b);
	}
	if (!rc) {
		if (off + len > w->size)
			w->size = off + len;
		w->mtime_ns = clock_now_ns();
	} else {
		w->failed = rc;
	}
	pthread_mutex_unlock(&w->lock);
	return rc;
}

/* Whether staged content CID's record is still there (blob_sweep_dead
 * removes a dead owner's); read in the commit, as table.c does. */
static bool staged_alive(struct store *s, uint64_t cid)
{
	struct buf k = { 0 }, v = { 0 };
	key_id(&k, "b/s/", cid);
	int rc = store_get(s, NULL, k.data, k.len, &v, NULL);
	buf_free(&k);
	buf_free(&v);
	return rc != -ENOENT;
}

/* Switch W's file to its staged content (or to empty, after an O_TRUNC
 * open that wrote nothing) in one batch; the old bytes go in it too. */
static int apply(struct blob_writer *w, struct mlfs_err *err)
{
	struct obj o;
	struct buf k = { 0 };
	pthread_mutex_t *lk = blob_stripe(w->s, w->id);
	pthread_mutex_lock(lk);
	int rc = blob_obj_load(w->s, w->id, &o);
	struct store_batch *b = store_batch_new();
	if (!rc && w->cid && !staged_alive(w->s, w->cid))
		rc = mlfs_fail(err, -EIO, "the bytes staged by this write were removed (its "
			       "session was taken for dead); the file keeps its content");
	if (!rc) {
		blob_drop_content(b, obj_data(&o));
		o.st.size = 0;
		if (w->cid) {
			key_id(&k, "b/s/", w->cid);
			store_batch_delete(b, k.data, k.len);
			o.data = w->cid;
			o.st.size = w->size;
		}
		o.st.mtime_ns = o.st.ctime_ns = clock_now_ns();
		blob_obj_put(b, &o);
		blob_fresh_clear(b, w->id);
		rc = store_write(w->s, b, false, err);
	}
	store_batch_free(b);
	pthread_mutex_unlock(lk);
	buf_free(&k);
	if (!rc) {
		w->cid = 0;
		w->trunc = false;
	}
	/* A file removed meanwhile takes nothing; blob_writer_free drops
	 * the staged bytes. */
	return rc == -ENOENT ? 0 : rc;
}

int blob_writer_commit(struct blob_writer *w, bool final, struct mlfs_err *err)
{
	int rc = 0;
	pthread_mutex_lock(&w->lock);
	if (w->failed)
		rc = mlfs_fail(err, w->failed, "a write failed: the file keeps its "
			       "content from before this handle (%s)", strerror(-w->failed));
	else if (w->cid || (final && w->trunc))
		rc = apply(w, err);
	else if (final)
		rc = blob_settle(w->s, w->id, err);
	pthread_mutex_unlock(&w->lock);
	return rc;
}

static int recover_fresh(struct store *s, uint64_t id, bool remove,
			 void (*fn)(void *ctx, const char *problem), void *ctx,
			 struct mlfs_err *err);

uint64_t blob_writer_size(struct blob_writer *w)
{
	struct blob_stat st = { 0 };
	pthread_mutex_lock(&w->lock);
	if (w->cid)
		st.size = w->size;
	else if (!w->trunc)
		blob_stat(w->s, w->id, &st);
	pthread_mutex_unlock(&w->lock);
	return st.size;
}

bool blob_writer_failed(const struct blob_writer *w)
{
	return w->failed != 0;
}

void blob_writer_free(struct blob_writer *w)
{
	if (!w)
		return;
	struct writers *t = writers_of(w->s);
	pthread_mutex_lock(&t->lock);
	for (struct blob_writer **p = &t->list; *p; p = &(*p)->next) {
		if (*p == w) {
			*p = w->next;
			break;
		}
	}
	pthread_mutex_unlock(&t->lock);
	if (w->cid) {
		struct store_batch *b = store_batch_new();
		drop_staged(b, w->cid);
		store_write(w->s, b, false, NULL);
		store_batch_free(b);
	}
	/* A file this handle created and failed to write is not kept. */
	if (w->failed && is_fresh(w->s, w->id))
		recover_fresh(w->s, w->id, true, NULL, NULL, NULL);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

/* The newest writer of ID that staged something, locked, the list's lock
 * held too until unlock_staged; NULL (nothing held) when there is none. */
static struct blob_writer *lock_staged(struct store *s, uint64_t id)
{
	struct writers *t = writers_of(s);
	pthread_mutex_lock(&t->lock);
	struct blob_writer *w = find_staged(t, id);
	if (w)
		pthread_mutex_lock(&w->lock);
	else
		pthread_mutex_unlock(&t->lock);
	return w;
}

static void unlock_staged(struct blob_writer *w)
{
	pthread_mutex_unlock(&w->lock);
	pthread_mutex_unlock(&writers_of(w->s)->lock);
}

int blob_stage_truncate(struct store *s, uint64_t id, uint64_t size,
			struct mlfs_err *err)
{
	struct blob_writer *w = lock_staged(s, id);
	if (!w)
		return -ENOENT;
	int rc = stage_begin(w, err);
	if (!rc && size < w->size) {
		struct store_batch *b = store_batch_new();
		rc = blob_content_cut(s, b, w->cid, w->size, size);
		if (!rc)
			rc = store_write(s, b, false, err);
		store_batch_free(b);
	}
	if (!rc) {
		w->size = size;
		w->mtime_ns = clock_now_ns();
	}
	unlock_staged(w);
	return rc;
}

/* ---- recovery: what writers cut short left ---- */

struct id_list {
	uint64_t *ids;
	size_t n, cap;
};

static void ids_add(struct id_list *l, uint64_t id)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 16;
		l->ids = realloc(l->ids, l->cap * sizeof(*l->ids));
		if (!l->ids)
			mlfs_oom();
	}
	l->ids[l->n++] = id;
}

/* The ids under "b/X/" (X: s or f), in order: all of them (GONE NULL),
 * or those whose record names an owner GONE says is gone. */
static int list_ids(struct store *s, char x, bool (*gone)(void *ctx, const char *owner),
		    void *ctx, struct id_list *out)
{
	char lo[4] = { 'b', '/', x, '/' }, hi[4] = { 'b', '/', x, '0' };
	struct store_iter *it = store_iter_new(s, NULL, lo, 4, hi, 4);
	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it)) {
		size_t kl, vl;
		const char *k = store_iter_key(it, &kl);
		const char *v = store_iter_value(it, &vl);
		char owner[STORE_WRITER_MAX] = "";
		if (gone) {
			struct dec *d = vl ? codec_dec_new(v, vl) : NULL;
			if (!d || !codec_dget_str(codec_dec_root(d), "o", owner, sizeof(owner)))
				owner[0] = '\0';
			codec_dec_free(d);
		}
		if (kl == 12 && (!gone || (owner[0] && gone(ctx, owner))))
			ids_add(out, key_get_u64(k + 4));
	}
	int rc = store_iter_status(it, NULL);
	store_iter_free(it);
	return rc;
}

struct find_name {
	struct store *s;
	uint64_t dir, id;
	char name[256];
};

static int match_name(void *ctx, const char *name, bool is_dir)
{
	struct find_name *f = ctx;
	struct blob_stat st;
	if (is_dir || blob_lookup(f->s, f->dir, name, &st) || st.id != f->id)
		return 0;
	snprintf(f->name, sizeof(f->name), "%s", name);
	return 1;
}

/* Fresh file ID: say it and, when REMOVE, remove it from its folder. */
static int recover_fresh(struct store *s, uint64_t id, bool remove,
			 void (*fn)(void *ctx, const char *problem), void *ctx,
			 struct mlfs_err *err)
{
	struct obj o;
	char line[400];
	struct find_name f = { .s = s, .id = id };
	if (blob_obj_load(s, id, &o) == 0) {
		f.dir = o.parent;
		blob_list(s, o.parent, match_name, &f);
	}
	snprintf(line, sizeof(line), "artifact file %" PRIu64 " '%s': created by a write "
		 "that never closed%s", id, f.name, remove ? " (removed)" : "");
	if (fn)
		fn(ctx, line);
	if (!remove)
		return 0;
	if (f.name[0])
		return blob_remove(s, f.dir, f.name, false, err);
	struct store_batch *b = store_batch_new();
	blob_drop_object(s, b, id);
	int rc = store_write(s, b, false, err);
	store_batch_free(b);
	return rc;
}

/* blob_recover of the leftovers whose owner GONE says is gone (GONE
 * NULL: all of them). */
static int recover_owned(struct store *s, bool remove,
			 void (*fn)(void *ctx, const char *problem), void *ctx,
			 bool (*gone)(void *ctx, const char *owner), void *gctx,
			 struct mlfs_err *err)
{
	struct id_list st = { 0 }, fresh = { 0 };
	char line[400];
	int rc = list_ids(s, 's', gone, gctx, &st);
	if (!rc)
		rc = list_ids(s, 'f', gone, gctx, &fresh);
	struct store_batch *b = store_batch_new();
	for (size_t i = 0; !rc && i < st.n; i++) {
		snprintf(line, sizeof(line), "artifact content %" PRIu64 ": staged by a write "
			 "that never closed%s", st.ids[i], remove ? " (removed)" : "");
		if (fn)
			fn(ctx, line);
		drop_staged(b, st.ids[i]);
	}
	if (!rc && remove && store_batch_count(b))
		rc = store_write(s, b, true, err);
	store_batch_free(b);
	for (size_t i = 0; !rc && i < fresh.n; i++)
		rc = recover_fresh(s, fresh.ids[i], remove, fn, ctx, err);
	int n = (int)(st.n + fresh.n);
	free(st.ids);
	free(fresh.ids);
	return rc ? rc : n;
}

int blob_recover(struct store *s, bool remove,
		 void (*fn)(void *ctx, const char *problem), void *ctx,
		 struct mlfs_err *err)
{
	return recover_owned(s, remove, fn, ctx, NULL, NULL, err);
}

int blob_sweep_dead(struct store *s, bool (*gone)(void *ctx, const char *owner), void *ctx,
		    size_t *n, struct mlfs_err *err)
{
	int rc = recover_owned(s, true, NULL, NULL, gone, ctx, err);
	if (n)
		*n = rc > 0 ? (size_t)rc : 0;
	return rc < 0 ? rc : 0;
}
