/* blob.c - artifact trees in the store.
 *
 * Records (docs/store-format.md):
 *   b/i/ID          object {dir, size, mode, uid, gid, mtime, ctime, parent,
 *                   data}: data, the content id CID of a file's bytes
 *                   (absent: ID itself)
 *   b/e/DIR NAME    directory entry: {id, dir}
 *   b/c/CID SEQ     bytes [SEQ*BLOB_CHUNK, ...) of content CID; absent = zeros
 *   b/n             the id counter (objects and contents)
 *   b/s/CID, b/f/ID a handle's staged content and a file not closed yet
 *                   (blob_stage.c)
 *   b/p/ROOT HOLDER, b/o/ROOT   pins of a tree and its owner's release
 *                   (below, "pins")
 * Every operation is one atomic batch.  Writers of one object serialize on
 * a striped lock (by id); namespace changes (make, remove, rename) on
 * `ns_lock`, so a rename never races a create of the same name. */
#include "blob.h"
#include "blob_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "buf.h"
#include "codec.h"
#include "ids.h"

/* Per store (store_state, store_lock): two stores never wait on each
 * other.  File writes lock one of STRIPES locks by object id. */
#define STRIPES 64

struct stripes {
	pthread_mutex_t lock[STRIPES];
};

static const char stripes_key;

static void *stripes_new(void)
{
	struct stripes *t = malloc(sizeof(*t));
	for (int i = 0; t && i < STRIPES; i++)
		pthread_mutex_init(&t->lock[i], NULL);
	return t;
}

static void stripes_free(void *p)
{
	struct stripes *t = p;
	for (int i = 0; i < STRIPES; i++)
		pthread_mutex_destroy(&t->lock[i]);
	free(t);
}

pthread_mutex_t *blob_stripe(struct store *s, uint64_t id)
{
	struct stripes *t = store_state(s, &stripes_key, stripes_new, stripes_free);
	return &t->lock[id % STRIPES];
}

static const char ns_lock_key;

pthread_mutex_t *blob_ns_lock(struct store *s)
{
	return store_lock(s, &ns_lock_key);
}

static void key_obj(struct buf *k, uint64_t id)
{
	key_kind_id(k, 'b', 'i', id);
}

/* b/KIND/ID, then NAME (may be NULL: the prefix of ID's records). */
static void key_id_name(struct buf *k, char kind, uint64_t id,
			const char *name)
{
	key_kind_id(k, 'b', kind, id);
	if (name)
		buf_puts(k, name);
}

static void key_entry(struct buf *k, uint64_t dir, const char *name)
{
	key_id_name(k, 'e', dir, name);
}

void blob_key_chunk(struct buf *k, uint64_t id, uint64_t seq)
{
	buf_reset(k);
	buf_puts(k, "b/c/");
	key_put_u64(k, id);
	key_put_u64(k, seq);
}

#define F(key, m, t, d) CODEC_FIELD(key, struct obj, m, CODEC_##t, d)
static const struct codec_field obj_fields[] = {
	F("dir", st.dir, BOOL, false), F("size", st.size, UINT, 0),
	F("mode", st.mode, UINT, 0644), F("uid", st.uid, UINT, 0),
	F("gid", st.gid, UINT, 0), F("mtime", st.mtime_ns, INT, 0),
	F("ctime", st.ctime_ns, INT, 0), F("parent", parent, UINT, 0),
	{ "data", CODEC_UINT, offsetof(struct obj, data), sizeof(uint64_t), 0, true },
};
#undef F

int blob_obj_load(struct store *s, uint64_t id, struct obj *o)
{
	struct buf k = { 0 };
	key_obj(&k, id);
	int rc = codec_load_fields(s, NULL, &k, o, obj_fields, 9);
	o->st.id = id;
	buf_free(&k);
	return rc;
}

void blob_obj_put(struct store_batch *b, const struct obj *o)
{
	struct buf k = { 0 };
	struct obj w = *o;
	if (w.data == w.st.id)
		w.data = 0;	/* its own bytes: written without "data" */
	key_obj(&k, o->st.id);
	codec_put_fields(b, &k, &w, obj_fields, 9);
	buf_free(&k);
}

static int commit(struct store *s, struct store_batch *b, struct mlfs_err *err)
{
	int rc = store_write(s, b, false, err);
	store_batch_free(b);
	return rc;
}

int blob_root_put(struct store *s, struct store_batch *b, uint32_t mode,
		  uint32_t uid, uint32_t gid, uint64_t *id,
		  struct mlfs_err *err)
{
	struct obj o = { 0 };
	int rc = ids_next_key(s, "b/n", 3, &o.st.id, err);
	if (rc)
		return rc;
	o.st.dir = true;
	o.st.mode = mode;
	o.st.uid = uid;
	o.st.gid = gid;
	o.st.mtime_ns = o.st.ctime_ns = clock_now_ns();
	blob_obj_put(b, &o);
	*id = o.st.id;
	return 0;
}

int blob_root_new(struct store *s, uint32_t mode, uint32_t uid, uint32_t gid,
		  uint64_t *id, struct mlfs_err *err)
{
	struct store_batch *b = store_batch_new();
	int rc = blob_root_put(s, b, mode, uid, gid, id, err);
	if (rc) {
		store_batch_free(b);
		return rc;
	}
	return commit(s, b, err);
}

int blob_stat(struct store *s, uint64_t id, struct blob_stat *out)
{
	struct obj o;
	int rc = blob_obj_load(s, id, &o);
	if (!rc)
		*out = o.st;
	return rc;
}

static int entry_get(struct store *s, uint64_t dir, const char *name,
		     uint64_t *id)
{
	struct buf k = { 0 };
	struct dec *d;
	key_entry(&k, dir, name);
	int rc = codec_load(s, NULL, k.data, k.len, &d);
	if (!rc && !(*id = codec_dget_u64(codec_dec_root(d), "id", 0)))
		rc = -EIO;
	codec_dec_free(d);
	buf_free(&k);
	return rc;
}

static void entry_put(struct store_batch *b, uint64_t dir, const char *name,
		      uint64_t id, bool is_dir)
{
	struct buf k = { 0 }, v = { 0 };
	key_entry(&k, dir, name);
	codec_enc_map(&v, 2);
	codec_enc_cstr(&v, "id");
	codec_enc_u64(&v, id);
	codec_enc_cstr(&v, "dir");
	codec_enc_bool(&v, is_dir);
	store_batch_put(b, k.data, k.len, v.data, v.len);
	buf_free(&k);
	buf_free(&v);
}

static void entry_delete(struct store_batch *b, uint64_t dir, const char *name)
{
	struct buf k = { 0 };
	key_entry(&k, dir, name);
	store_batch_delete(b, k.data, k.len);
	buf_free(&k);
}

int blob_lookup(struct store *s, uint64_t dir, const char *name,
		struct blob_stat *out)
{
	uint64_t id;
	int rc = entry_get(s, dir, name, &id);
	return rc ? rc : blob_stat(s, id, out);
}

int blob_list(struct store *s, uint64_t dir,
	      int (*fn)(void *ctx, const char *name, bool is_dir), void *ctx)
{
	struct buf lo = { 0 }, hi = { 0 };
	char name[256];
	int rc = 0;
	key_entry(&lo, dir, NULL);
	key_entry(&hi, dir + 1, NULL);
	struct store_iter *it = store_iter_new(s, NULL, lo.data, lo.len, hi.data, hi.len);
	for (store_iter_seek_first(it); store_iter_valid(it) && !rc; store_iter_next(it)) {
		size_t kl, vl;
		const char *k = store_iter_key(it, &kl);
		const char *v = store_iter_value(it, &vl);
		size_t n = kl - lo.len;
		if (n >= sizeof(name))
			continue;
		memcpy(name, k + lo.len, n);
		name[n] = '\0';
		struct dec *d = codec_dec_new(v, vl);
		bool is_dir = d && codec_dget_bool(codec_dec_root(d), "dir", false);
		codec_dec_free(d);
		rc = fn(ctx, name, is_dir);
	}
	store_iter_free(it);
	buf_free(&lo);
	buf_free(&hi);
	return rc;
}

static int touch_dir(struct store *s, struct store_batch *b, uint64_t dir)
{
	struct obj d;
	int rc = blob_obj_load(s, dir, &d);
	if (rc)
		return rc;
	if (!d.st.dir)
		return -ENOTDIR;
	d.st.mtime_ns = d.st.ctime_ns = clock_now_ns();
	blob_obj_put(b, &d);
	return 0;
}

/* blob_make, and when FRESH the new file is marked fresh in the batch. */
static int make(struct store *s, uint64_t dir, const char *name, bool is_dir,
		bool fresh, uint32_t mode, uint32_t uid, uint32_t gid,
		struct blob_stat *out, struct mlfs_err *err)
{
	uint64_t existing;
	struct obj o = { 0 };
	pthread_mutex_lock(blob_ns_lock(s));
	int rc = entry_get(s, dir, name, &existing) == 0 ? -EEXIST : 0;
	if (!rc)
		rc = ids_next_key(s, "b/n", 3, &o.st.id, err);
	struct store_batch *b = store_batch_new();
	if (!rc)
		rc = touch_dir(s, b, dir);
	if (!rc) {
		o.st.dir = is_dir;
		o.st.mode = mode;
		o.st.uid = uid;
		o.st.gid = gid;
		o.st.mtime_ns = o.st.ctime_ns = clock_now_ns();
		o.parent = dir;
		blob_obj_put(b, &o);
		entry_put(b, dir, name, o.st.id, is_dir);
		if (fresh)
			blob_fresh_mark(s, b, o.st.id);
		rc = store_write(s, b, false, err);
	}
	store_batch_free(b);
	pthread_mutex_unlock(blob_ns_lock(s));
	if (!rc && out)
		*out = o.st;
	return rc;
}

int blob_make(struct store *s, uint64_t dir, const char *name, bool is_dir,
	      uint32_t mode, uint32_t uid, uint32_t gid, struct blob_stat *out,
	      struct mlfs_err *err)
{
	return make(s, dir, name, is_dir, false, mode, uid, gid, out, err);
}

int blob_create(struct store *s, uint64_t dir, const char *name, uint32_t mode,
		uint32_t uid, uint32_t gid, struct blob_stat *out,
		struct mlfs_err *err)
{
	return make(s, dir, name, false, true, mode, uid, gid, out, err);
}

static bool dir_empty(struct store *s, uint64_t dir)
{
	struct buf lo = { 0 }, hi = { 0 };
	key_entry(&lo, dir, NULL);
	key_entry(&hi, dir + 1, NULL);
	struct store_iter *it = store_iter_new(s, NULL, lo.data, lo.len, hi.data, hi.len);
	store_iter_seek_first(it);
	bool empty = !store_iter_valid(it);
	store_iter_free(it);
	buf_free(&lo);
	buf_free(&hi);
	return empty;
}

void blob_drop_content(struct store_batch *b, uint64_t cid)
{
	struct buf lo = { 0 }, hi = { 0 };
	blob_key_chunk(&lo, cid, 0);
	blob_key_chunk(&hi, cid + 1, 0);
	store_batch_delete_range(b, lo.data, lo.len, hi.data, hi.len);
	buf_free(&lo);
	buf_free(&hi);
}

void blob_drop_object(struct store *s, struct store_batch *b, uint64_t id)
{
	struct buf k = { 0 };
	struct obj o;
	key_obj(&k, id);
	store_batch_delete(b, k.data, k.len);
	blob_drop_content(b, id);
	if (blob_obj_load(s, id, &o) == 0 && obj_data(&o) != id)
		blob_drop_content(b, obj_data(&o));
	blob_fresh_clear(b, id);
	buf_free(&k);
}

int blob_remove(struct store *s, uint64_t dir, const char *name, bool rmdir,
		struct mlfs_err *err)
{
	uint64_t id;
	struct obj o;
	pthread_mutex_lock(blob_ns_lock(s));
	int rc = entry_get(s, dir, name, &id);
	if (!rc)
		rc = blob_obj_load(s, id, &o);
	if (!rc && rmdir && !o.st.dir)
		rc = -ENOTDIR;
	if (!rc && !rmdir && o.st.dir)
		rc = -EISDIR;
	if (!rc && o.st.dir && !dir_empty(s, id))
		rc = -ENOTEMPTY;
	if (!rc) {
		struct store_batch *b = store_batch_new();
		rc = touch_dir(s, b, dir);
		entry_delete(b, dir, name);
		blob_drop_object(s, b, id);
		if (!rc)
			rc = store_write(s, b, false, err);
		store_batch_free(b);
	}
	pthread_mutex_unlock(blob_ns_lock(s));
	return rc;
}

struct name_list {
	char **names;
	bool *dirs;
	size_t n, cap;
};

static int collect(void *ctx, const char *name, bool is_dir)
{
	struct name_list *l = ctx;
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 16;
		l->names = realloc(l->names, l->cap * sizeof(char *));
		l->dirs = realloc(l->dirs, l->cap);
		if (!l->names || !l->dirs)
			return -ENOMEM;
	}
	l->dirs[l->n] = is_dir;
	l->names[l->n++] = strdup(name);
	return 0;
}

static int drop_tree(struct store *s, uint64_t id, struct store_batch *b,
		     int depth)
{
	struct name_list l = { 0 };
	struct buf lo = { 0 }, hi = { 0 };
	if (depth > 256)
		return -ELOOP;
	int rc = blob_list(s, id, collect, &l);
	for (size_t i = 0; i < l.n; i++) {
		uint64_t child;
		if (!rc && entry_get(s, id, l.names[i], &child) == 0) {
			if (l.dirs[i])
				rc = drop_tree(s, child, b, depth + 1);
			else
				blob_drop_object(s, b, child);
		}
		free(l.names[i]);
	}
	free(l.names);
	free(l.dirs);
	key_entry(&lo, id, NULL);
	key_entry(&hi, id + 1, NULL);
	store_batch_delete_range(b, lo.data, lo.len, hi.data, hi.len);
	blob_drop_object(s, b, id);
	buf_free(&lo);
	buf_free(&hi);
	return rc;
}

int blob_drop_tree(struct store *s, uint64_t id, struct mlfs_err *err)
{
	pthread_mutex_lock(blob_ns_lock(s));
	struct store_batch *b = store_batch_new();
	int rc = drop_tree(s, id, b, 0);
	if (!rc)
		rc = store_write(s, b, false, err);
	store_batch_free(b);
	pthread_mutex_unlock(blob_ns_lock(s));
	return rc;
}

int blob_rename(struct store *s, uint64_t from, const char *name, uint64_t to,
		const char *newname, bool noreplace, struct mlfs_err *err)
{
	uint64_t id, old;
	struct obj o, t;
	pthread_mutex_lock(blob_ns_lock(s));
	int rc = entry_get(s, from, name, &id);
	if (!rc)
		rc = blob_obj_load(s, id, &o);
	/* A directory may not move below itself. */
	for (uint64_t up = to; !rc && o.st.dir && up; ) {
		struct obj a;
		if (up == id) {
			rc = mlfs_fail(err, -EINVAL, "cannot move a directory into itself");
			break;
		}
		if (blob_obj_load(s, up, &a))
			break;
		up = a.parent;
	}
	struct store_batch *b = store_batch_new();
	if (!rc && entry_get(s, to, newname, &old) == 0) {
		if (old == id) {
			goto done;
		} else if (noreplace) {
			rc = -EEXIST;
		} else if ((rc = blob_obj_load(s, old, &t)) == 0) {
			if (t.st.dir && !o.st.dir)
				rc = -EISDIR;
			else if (!t.st.dir && o.st.dir)
				rc = -ENOTDIR;
			else if (t.st.dir && !dir_empty(s, old))
				rc = -ENOTEMPTY;
			else
				blob_drop_object(s, b, old);
		}
	}
	if (!rc)
		rc = touch_dir(s, b, from);
	if (!rc && to != from)
		rc = touch_dir(s, b, to);
	if (!rc) {
		entry_delete(b, from, name);
		entry_put(b, to, newname, id, o.st.dir);
		o.parent = to;
		o.st.ctime_ns = clock_now_ns();
		blob_obj_put(b, &o);
		rc = store_write(s, b, false, err);
	}
done:
	store_batch_free(b);
	pthread_mutex_unlock(blob_ns_lock(s));
	return rc;
}

/* Chunk SEQ of content CID into OUT (its stored length; empty if absent). */
static int chunk_get(struct store *s, uint64_t cid, uint64_t seq, struct buf *out)
{
	struct buf k = { 0 };
	blob_key_chunk(&k, cid, seq);
	int rc = store_get(s, NULL, k.data, k.len, out, NULL);
	buf_free(&k);
	if (rc == -ENOENT) {
		buf_reset(out);
		rc = 0;
	}
	return rc;
}

long blob_content_read(struct store *s, uint64_t cid, uint64_t size,
		       uint64_t off, char *dst, size_t len)
{
	struct buf c = { 0 };
	int rc = 0;
	if (off >= size)
		return 0;
	if (len > size - off)
		len = (size_t)(size - off);
	size_t done = 0;
	while (done < len) {
		uint64_t seq = (off + done) / BLOB_CHUNK;
		size_t in = (size_t)((off + done) % BLOB_CHUNK);
		size_t n = BLOB_CHUNK - in;
		if (n > len - done)
			n = len - done;
		if ((rc = chunk_get(s, cid, seq, &c)))
			break;
		size_t have = c.len > in ? c.len - in : 0;
		if (have > n)
			have = n;
		if (have)
			memcpy(dst + done, c.data + in, have);
		memset(dst + done + have, 0, n - have);
		done += n;
	}
	buf_free(&c);
	return rc ? rc : (long)done;
}

int blob_content_write(struct store *s, struct store_batch *b, uint64_t cid,
		       uint64_t size, uint64_t off, const char *data, size_t len)
{
	struct buf c = { 0 }, k = { 0 };
	int rc = 0;
	size_t done = 0;
	while (!rc && done < len) {
		uint64_t seq = (off + done) / BLOB_CHUNK;
		size_t in = (size_t)((off + done) % BLOB_CHUNK);
		size_t n = BLOB_CHUNK - in;
		if (n > len - done)
			n = len - done;
		blob_key_chunk(&k, cid, seq);
		if (in == 0 && (n == BLOB_CHUNK || off + done + n >= size)) {
			/* The chunk's new content is exactly these bytes. */
			store_batch_put(b, k.data, k.len, data + done, n);
		} else {
			if ((rc = chunk_get(s, cid, seq, &c)))
				break;
			size_t need = in + n;
			if (c.len < need) {
				buf_reserve(&c, need - c.len);
				memset(c.data + c.len, 0, need - c.len);
				c.len = need;
			}
			memcpy(c.data + in, data + done, n);
			store_batch_put(b, k.data, k.len, c.data, c.len);
		}
		done += n;
	}
	buf_free(&c);
	buf_free(&k);
	return rc;
}

int blob_content_cut(struct store *s, struct store_batch *b, uint64_t cid,
		     uint64_t size, uint64_t newsize)
{
	struct buf c = { 0 }, lo = { 0 }, hi = { 0 };
	int rc = 0;
	if (newsize >= size)
		return 0;
	uint64_t keep = newsize / BLOB_CHUNK + (newsize % BLOB_CHUNK != 0);
	blob_key_chunk(&lo, cid, keep);
	blob_key_chunk(&hi, cid + 1, 0);
	store_batch_delete_range(b, lo.data, lo.len, hi.data, hi.len);
	if (newsize % BLOB_CHUNK &&
	    (rc = chunk_get(s, cid, newsize / BLOB_CHUNK, &c)) == 0 &&
	    c.len > newsize % BLOB_CHUNK) {
		blob_key_chunk(&lo, cid, newsize / BLOB_CHUNK);
		store_batch_put(b, lo.data, lo.len, c.data, newsize % BLOB_CHUNK);
	}
	buf_free(&c);
	buf_free(&lo);
	buf_free(&hi);
	return rc;
}

long blob_read(struct store *s, uint64_t id, uint64_t off, char *dst,
	       size_t len, struct mlfs_err *err)
{
	struct obj o;
	int rc = blob_obj_load(s, id, &o);
	if (rc)
		return rc;
	if (o.st.dir)
		return -EISDIR;
	return blob_content_read(s, obj_data(&o), o.st.size, off, dst, len);
}

int blob_check_size(uint64_t off, uint64_t len, struct mlfs_err *err)
{
	if (off > BLOB_MAX_SIZE || len > BLOB_MAX_SIZE - off)
		return mlfs_fail(err, -EFBIG, "a file ending at byte %llu is past the largest file, %llu bytes (16 TiB)",
				 off > UINT64_MAX - len ? UINT64_MAX : (unsigned long long)(off + len),
				 (unsigned long long)BLOB_MAX_SIZE);
	return 0;
}

/* A change to the bytes of file ID: its stripe locked (*LK) and *O
 * loaded.  -EISDIR for a directory; the lock is held either way. */
static int file_change_begin(struct store *s, uint64_t id, struct obj *o,
			     pthread_mutex_t **lk)
{
	*lk = blob_stripe(s, id);
	pthread_mutex_lock(*lk);
	int rc = blob_obj_load(s, id, o);
	return !rc && o->st.dir ? -EISDIR : rc;
}

/* End it: when RC is 0, O (modified now) goes into B and B is written;
 * B is freed and LK unlocked. */
static int file_change_end(struct store *s, struct store_batch *b,
			   struct obj *o, pthread_mutex_t *lk, int rc,
			   struct mlfs_err *err)
{
	if (!rc) {
		o->st.mtime_ns = o->st.ctime_ns = clock_now_ns();
		blob_obj_put(b, o);
		rc = store_write(s, b, false, err);
	}
	store_batch_free(b);
	pthread_mutex_unlock(lk);
	return rc;
}

int blob_write(struct store *s, uint64_t id, uint64_t off, const char *data,
	       size_t len, struct mlfs_err *err)
{
	struct obj o;
	pthread_mutex_t *lk;
	int rc = blob_check_size(off, len, err);
	if (rc)
		return rc;
	rc = file_change_begin(s, id, &o, &lk);
	struct store_batch *b = store_batch_new();
	if (!rc)
		rc = blob_content_write(s, b, obj_data(&o), o.st.size, off, data, len);
	if (!rc && off + len > o.st.size)
		o.st.size = off + len;
	return file_change_end(s, b, &o, lk, rc, err);
}

int blob_truncate(struct store *s, uint64_t id, uint64_t size,
		  struct mlfs_err *err)
{
	struct obj o;
	int rc = blob_check_size(size, 0, err);
	if (rc)
		return rc;
	/* A file a handle is writing: its staged content is cut. */
	rc = blob_stage_truncate(s, id, size, err);
	if (rc != -ENOENT)
		return rc;
	pthread_mutex_t *lk;
	rc = file_change_begin(s, id, &o, &lk);
	struct store_batch *b = store_batch_new();
	if (!rc)
		rc = blob_content_cut(s, b, obj_data(&o), o.st.size, size);
	if (!rc)
		o.st.size = size;
	return file_change_end(s, b, &o, lk, rc, err);
}

int blob_setattr(struct store *s, uint64_t id, uint32_t mode, uint32_t uid,
		 uint32_t gid, int64_t mtime_ns, struct mlfs_err *err)
{
	struct obj o;
	pthread_mutex_t *lk = blob_stripe(s, id);
	pthread_mutex_lock(lk);
	int rc = blob_obj_load(s, id, &o);
	if (!rc) {
		if (mode != (uint32_t)-1)
			o.st.mode = mode & 07777;
		if (uid != (uint32_t)-1)
			o.st.uid = uid;
		if (gid != (uint32_t)-1)
			o.st.gid = gid;
		if (mtime_ns != -1)
			o.st.mtime_ns = mtime_ns;
		o.st.ctime_ns = clock_now_ns();
		struct store_batch *b = store_batch_new();
		blob_obj_put(b, &o);
		rc = commit(s, b, err);
	}
	pthread_mutex_unlock(lk);
	return rc;
}

/* ---- pins: a tree that outlives its owner while others use it ----
 *
 *   b/p/ROOT HOLDER   a pin of the tree at ROOT by HOLDER (empty value)
 *   b/o/ROOT          the owner released ROOT while pins remained
 *
 * State of a root and the one function for each transition, all under
 * ns_lock and each one batch:
 *   owned --blob_root_pin--> owned and pinned (a pin per holder)
 *   owned --blob_root_release--> (dropped)
 *   pinned --blob_root_release--> released (b/o/ROOT; the tree stays)
 *   pinned --blob_root_unpin (last pin)--> owned
 *   released --blob_root_unpin (last pin)--> (dropped, b/o/ROOT too)
 * A released root takes no new pin (-ENOENT): its owner is gone. */

static void key_pin(struct buf *k, uint64_t root, const char *holder)
{
	key_id_name(k, 'p', root, holder);
}

static void key_released(struct buf *k, uint64_t root)
{
	buf_reset(k);
	buf_puts(k, "b/o/");
	key_put_u64(k, root);
}

static bool root_released(struct store *s, uint64_t root)
{
	struct buf k = { 0 }, v = { 0 };
	key_released(&k, root);
	bool yes = store_get(s, NULL, k.data, k.len, &v, NULL) == 0;
	buf_free(&k);
	buf_free(&v);
	return yes;
}

/* Whether ROOT has a pin other than by EXCEPT (may be NULL). */
static bool root_pinned(struct store *s, uint64_t root, const char *except)
{
	struct buf lo = { 0 }, hi = { 0 };
	bool yes = false;
	key_pin(&lo, root, NULL);
	key_pin(&hi, root + 1, NULL);
	size_t el = except ? strlen(except) : 0;
	struct store_iter *it = store_iter_new(s, NULL, lo.data, lo.len, hi.data, hi.len);
	for (store_iter_seek_first(it); store_iter_valid(it) && !yes; store_iter_next(it)) {
		size_t kl;
		const char *k = store_iter_key(it, &kl);
		yes = !except || kl - lo.len != el || memcmp(k + lo.len, except, el);
	}
	store_iter_free(it);
	buf_free(&lo);
	buf_free(&hi);
	return yes;
}

static bool holder_valid(const char *holder)
{
	size_t n = holder ? strlen(holder) : 0;
	return n > 0 && n <= 200;
}

int blob_root_pin(struct store *s, uint64_t root, const char *holder,
		  struct mlfs_err *err)
{
	struct obj o;
	struct buf k = { 0 };
	if (!holder_valid(holder))
		return mlfs_fail(err, -EINVAL, "a pin needs a holder name of 1-200 bytes");
	pthread_mutex_lock(blob_ns_lock(s));
	int rc = blob_obj_load(s, root, &o);
	if (rc == -ENOENT || (!rc && (!o.st.dir || o.parent)))
		rc = mlfs_fail(err, -ENOENT, "no tree root %llu", (unsigned long long)root);
	else if (!rc && root_released(s, root))
		rc = mlfs_fail(err, -ENOENT, "tree %llu was released by its owner", (unsigned long long)root);
	if (!rc) {
		key_pin(&k, root, holder);
		rc = store_put(s, k.data, k.len, "", 0, err);
	}
	pthread_mutex_unlock(blob_ns_lock(s));
	buf_free(&k);
	return rc;
}

/* Into B: the whole tree at ROOT and its released mark. */
static int drop_root(struct store *s, uint64_t root, struct store_batch *b)
{
	struct buf k = { 0 };
	int rc = drop_tree(s, root, b, 0);
	key_released(&k, root);
	store_batch_delete(b, k.data, k.len);
	buf_free(&k);
	return rc;
}

int blob_root_unpin(struct store *s, uint64_t root, const char *holder,
		    struct mlfs_err *err)
{
	struct buf k = { 0 }, v = { 0 };
	if (!holder_valid(holder))
		return mlfs_fail(err, -EINVAL, "a pin needs a holder name of 1-200 bytes");
	pthread_mutex_lock(blob_ns_lock(s));
	key_pin(&k, root, holder);
	int rc = store_get(s, NULL, k.data, k.len, &v, err);
	if (!rc) {
		struct store_batch *b = store_batch_new();
		store_batch_delete(b, k.data, k.len);
		if (!root_pinned(s, root, holder) && root_released(s, root))
			rc = drop_root(s, root, b);
		if (!rc)
			rc = store_write(s, b, false, err);
		store_batch_free(b);
	}
	pthread_mutex_unlock(blob_ns_lock(s));
	buf_free(&k);
	buf_free(&v);
	return rc;
}

int blob_root_release(struct store *s, uint64_t root, struct mlfs_err *err)
{
	struct store_batch *b = store_batch_new();
	int rc = blob_root_release_write(s, root, b, err);
	store_batch_free(b);
	return rc;
}

int blob_root_release_write(struct store *s, uint64_t root,
			    struct store_batch *b, struct mlfs_err *err)
{
	struct buf k = { 0 };
	pthread_mutex_lock(blob_ns_lock(s));
	int rc = 0;
	if (root_pinned(s, root, NULL)) {
		key_released(&k, root);
		store_batch_put(b, k.data, k.len, "", 0);
	} else {
		rc = drop_root(s, root, b);
	}
	if (!rc)
		rc = store_write(s, b, false, err);
	pthread_mutex_unlock(blob_ns_lock(s));
	buf_free(&k);
	return rc;
}

bool blob_root_has_pin(struct store *s, uint64_t root, const char *holder)
{
	struct buf k = { 0 }, v = { 0 };
	key_pin(&k, root, holder);
	bool yes = holder_valid(holder) &&
		   store_get(s, NULL, k.data, k.len, &v, NULL) == 0;
	buf_free(&k);
	buf_free(&v);
	return yes;
}

int blob_pin_list(struct store *s,
		  int (*fn)(void *ctx, uint64_t root, const char *holder),
		  void *ctx)
{
	char holder[256];
	int rc = 0;
	struct store_iter *it = store_iter_new(s, NULL, "b/p/", 4, "b/p0", 4);
	for (store_iter_seek_first(it); store_iter_valid(it) && !rc; store_iter_next(it)) {
		size_t kl;
		const char *k = store_iter_key(it, &kl);
		if (kl < 12 || kl - 12 >= sizeof(holder))
			continue;
		memcpy(holder, k + 12, kl - 12);
		holder[kl - 12] = '\0';
		rc = fn(ctx, key_get_u64(k + 4), holder);
	}
	if (!rc)
		rc = store_iter_status(it, NULL);
	store_iter_free(it);
	return rc;
}
