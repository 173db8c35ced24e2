/* table.c - raw data tables: metadata, streaming writers, snapshot readers,
 * scans, stats and the consistency check.
 *
 * Records and their invariants (keys in docs/store-format.md):
 *   t/NAME            meta: id, columns, rows, bytes, next segment, version
 *   s/ID/SEG          a committed segment: chunks WUID/[first, first+n)
 *   c/ID/WUID/SEQ     a chunk: whole records of canonical CSV, <= ~256 KiB
 *   w/WUID            a writer with staged chunks: from SEQ on, not committed;
 *                     its owner (a remote store's writer name) if any
 *   n/table n/writer  id counters
 * Rows of a table are the chunks of its segments in segment order.  A chunk
 * is written before the segment naming it, so a segment never names a
 * missing chunk; chunks no segment names belong to a live writer (w/ key)
 * or to one that died, and table_recover() deletes them (at mount), or
 * table_sweep_dead() those of a dead owner (the elected scheduler).  Commits take
 * `commit_lock` so that segment numbers and meta updates never interleave. */
#include "table.h"

#include <errno.h>
#include <stdio.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attrs.h"
#include "clock.h"
#include "codec.h"
#include "columnar.h"
#include "columns.h"
#include "ids.h"
#include "ingest.h"
#include "named.h"

/* Per store (store_lock): two stores never wait on each other. */
static const char commit_lock_key;
#define COMMIT_LOCK(s) store_lock((s), &commit_lock_key)

struct meta {
	uint64_t id, rows, bytes, seg, ver;
	bool declared;
	uint32_t ncols;
	char **names;		/* each malloc'd */
	enum col_type *types;
	int64_t ctime, mtime;
	uint32_t uid, gid, mode;	/* creator; mode 0: none recorded */
};


/* ---- keys ---- */


static void key_seg(struct buf *k, uint64_t tid, uint64_t seg)
{
	buf_reset(k);
	buf_puts(k, "s/");
	key_put_u64(k, tid);
	key_put_u64(k, seg);
}

static void key_chunk(struct buf *k, uint64_t tid, uint64_t wuid, uint64_t seq)
{
	buf_reset(k);
	buf_puts(k, "c/");
	key_put_u64(k, tid);
	key_put_u64(k, wuid);
	key_put_u64(k, seq);
}

static void key_writer(struct buf *k, uint64_t wuid)
{
	buf_reset(k);
	buf_puts(k, "w/");
	key_put_u64(k, wuid);
}

/* Into B: the writer record w/WUID of W, its chunks from FROM on staged
 * and not committed; "o" its owner (store_writer_name) where the store
 * has writers that can die alone (remote), for table_sweep_dead. */
static void writer_put(struct table_writer *w, struct store_batch *b, uint64_t from,
		       struct buf *k, struct buf *v);

/* Delete chunks c/TID/WUID/[from, end) in batch B. */
static void delete_chunks(struct store_batch *b, uint64_t tid, uint64_t wuid,
			  uint64_t from)
{
	struct buf lo = { 0 }, hi = { 0 };
	key_chunk(&lo, tid, wuid, from);
	key_chunk(&hi, tid, wuid + 1, 0);
	store_batch_delete_range(b, lo.data, lo.len, hi.data, hi.len);
	buf_free(&lo);
	buf_free(&hi);
}

/* ---- meta ---- */

static void meta_free(struct meta *m)
{
	columns_free(m->ncols, m->names, m->types);
	memset(m, 0, sizeof(*m));
}

static int meta_set_columns(struct meta *m, uint32_t n, char *const *names,
			    const enum col_type *types)
{
	char **nm;
	enum col_type *ty;
	int rc = columns_copy(n, names, types, &nm, &ty);
	if (rc)
		return rc;
	columns_free(m->ncols, m->names, m->types);
	m->ncols = n;
	m->names = nm;
	m->types = ty;
	return 0;
}

#define F(key, m, t, d) CODEC_FIELD(key, struct meta, m, CODEC_##t, d)
static const struct codec_field meta_fields[] = {
	F("id", id, UINT, 0), F("declared", declared, BOOL, false),
	F("rows", rows, UINT, 0), F("bytes", bytes, UINT, 0),
	F("seg", seg, UINT, 0), F("ver", ver, UINT, 0),
	F("ctime", ctime, INT, 0), F("mtime", mtime, INT, 0),
	CODEC_OWNER_FIELDS(struct meta, 0),
};
#undef F
#define META_FIELDS (sizeof(meta_fields) / sizeof(meta_fields[0]))

/* The record: the fields above and the columns. */
static void meta_encode(const struct meta *m, struct buf *b)
{
	buf_reset(b);
	codec_enc_fields(b, m, meta_fields, META_FIELDS, 1);
	codec_enc_cstr(b, "cols");
	columns_encode(b, m->ncols, m->names, m->types);
}

static int meta_decode(const char *p, size_t len, struct meta *m)
{
	struct dec *d = codec_dec_new(p, len);
	struct dval root, cols;

	memset(m, 0, sizeof(*m));
	if (!d)
		return -EIO;
	root = codec_dec_root(d);
	codec_dec_fields(root, m, meta_fields, META_FIELDS);
	int rc = -EIO;
	if (codec_dval_get(root, "cols", &cols) && m->id)
		rc = columns_decode(cols, &m->ncols, &m->names, &m->types);
	codec_dec_free(d);
	return rc;
}

static int meta_load(struct store *s, const struct store_snapshot *snap,
		     const char *name, struct meta *m)
{
	struct buf v = { 0 };
	int rc = named_get(s, snap, "t/", name, &v);
	if (!rc)
		rc = meta_decode(v.data, v.len, m);
	buf_free(&v);
	return rc;
}

static void meta_put(struct store_batch *b, const char *name, const struct meta *m)
{
	struct buf v = { 0 };
	meta_encode(m, &v);
	named_put(b, "t/", name, &v);
	buf_free(&v);
}

static void header_text(const struct meta *m, struct buf *out)
{
	columns_header(out, m->ncols, m->names);
}


/* ---- create, drop, list, stat ---- */

int table_make(struct store *s, const char *name, uint32_t uid, uint32_t gid,
	       uint32_t mode, const char *attrs, struct mlfs_err *err)
{
	struct meta m = { 0 };
	int rc;

	if (!names_valid(name))
		return mlfs_fail(err, -EINVAL, "invalid name '%s': " NAMES_RULE, name);
	pthread_mutex_lock(COMMIT_LOCK(s));
	if (meta_load(s, NULL, name, &m) == 0) {
		meta_free(&m);
		rc = mlfs_fail(err, -EEXIST, "table '%s' exists", name);
		goto out;
	}
	memset(&m, 0, sizeof(m));
	if ((rc = ids_next(s, "table", &m.id, err)))
		goto out;
	m.ctime = m.mtime = clock_now_ns();
	m.ver = 1;
	m.uid = uid;
	m.gid = gid;
	m.mode = mode & 07777;
	struct store_batch *b = store_batch_new();
	meta_put(b, name, &m);
	rc = attrs_batch_write(s, b, attrs, false, err);
out:
	pthread_mutex_unlock(COMMIT_LOCK(s));
	return rc;
}

/* Delete segment records of TID and the chunks they name, into B. */
static int drop_segments(struct store *s, uint64_t tid, struct store_batch *b)
{
	struct buf lo = { 0 }, hi = { 0 };
	key_seg(&lo, tid, 0);
	key_seg(&hi, tid + 1, 0);
	struct store_iter *it = store_iter_new(s, NULL, lo.data, lo.len, hi.data, hi.len);
	int rc = 0;
	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it)) {
		size_t vl;
		const char *v = store_iter_value(it, &vl);
		struct dec *d = codec_dec_new(v, vl);
		if (!d) {
			rc = -EIO;
			break;
		}
		uint64_t wuid = codec_dget_u64(codec_dec_root(d), "w", 0);
		uint64_t first = codec_dget_u64(codec_dec_root(d), "first", 0);
		uint64_t n = codec_dget_u64(codec_dec_root(d), "n", 0);
		codec_dec_free(d);
		struct buf a = { 0 }, z = { 0 };
		key_chunk(&a, tid, wuid, first);
		key_chunk(&z, tid, wuid, first + n);
		store_batch_delete_range(b, a.data, a.len, z.data, z.len);
		buf_free(&a);
		buf_free(&z);
	}
	if (!rc)
		rc = store_iter_status(it, NULL);
	store_iter_free(it);
	store_batch_delete_range(b, lo.data, lo.len, hi.data, hi.len);
	buf_free(&lo);
	buf_free(&hi);
	return rc;
}

int table_create(struct store *s, const char *name, struct mlfs_err *err)
{
	return table_make(s, name, 0, 0, 0, NULL, err);
}

int table_remove(struct store *s, const char *name, const char *attrs,
		 struct mlfs_err *err)
{
	struct meta m;
	int rc;

	pthread_mutex_lock(COMMIT_LOCK(s));
	if ((rc = meta_load(s, NULL, name, &m))) {
		pthread_mutex_unlock(COMMIT_LOCK(s));
		return rc == -ENOENT ? rc : mlfs_fail(err, rc, "table '%s': unreadable metadata", name);
	}
	struct store_batch *b = store_batch_new();
	rc = drop_segments(s, m.id, b);
	columnar_forget(b, m.id);
	named_delete(b, "t/", name);
	if (rc)
		store_batch_free(b);
	else
		rc = attrs_batch_write(s, b, attrs, false, err);
	pthread_mutex_unlock(COMMIT_LOCK(s));
	meta_free(&m);
	return rc;
}

int table_drop(struct store *s, const char *name, struct mlfs_err *err)
{
	return table_remove(s, name, NULL, err);
}

int table_list(struct store *s, int (*fn)(void *ctx, const char *name),
	       void *ctx)
{
	return named_list(s, "t/", fn, ctx);
}

static void info_from_meta(const struct meta *m, struct table_info *out)
{
	struct buf h = { 0 };
	header_text(m, &h);
	out->id = m->id;
	out->rows = m->rows;
	out->data_bytes = m->bytes;
	out->header_bytes = h.len;
	out->version = m->ver;
	out->ncols = m->ncols;
	out->declared = m->declared;
	out->ctime_ns = m->ctime;
	out->mtime_ns = m->mtime;
	out->uid = m->uid;
	out->gid = m->gid;
	out->mode = m->mode;
	buf_free(&h);
}

int table_stat(struct store *s, const char *name, struct table_info *out)
{
	struct meta m;
	int rc = meta_load(s, NULL, name, &m);
	if (rc)
		return rc;
	info_from_meta(&m, out);
	meta_free(&m);
	return 0;
}

int table_columns(struct store *s, const char *name, char ***names,
		  enum col_type **types, uint32_t *ncols)
{
	struct meta m;
	int rc = meta_load(s, NULL, name, &m);
	if (rc)
		return rc;
	size_t total = 0;
	for (uint32_t i = 0; i < m.ncols; i++)
		total += strlen(m.names[i]) + 1;
	char **arr = malloc((m.ncols + 1) * sizeof(char *) + total);
	enum col_type *t = malloc((m.ncols + 1) * sizeof(*t));
	if (!arr || !t) {
		free(arr);
		free(t);
		meta_free(&m);
		return -ENOMEM;
	}
	char *p = (char *)(arr + m.ncols + 1);
	for (uint32_t i = 0; i < m.ncols; i++) {
		size_t l = strlen(m.names[i]) + 1;
		memcpy(p, m.names[i], l);
		arr[i] = p;
		p += l;
		t[i] = m.types[i];
	}
	arr[m.ncols] = NULL;
	*names = arr;
	*types = t;
	*ncols = m.ncols;
	meta_free(&m);
	return 0;
}

int table_schema_text(struct store *s, const char *name, struct buf *out,
		      struct mlfs_err *err)
{
	struct meta m;
	int rc = meta_load(s, NULL, name, &m);
	if (rc)
		return rc;
	buf_reset(out);
	for (uint32_t i = 0; i < m.ncols; i++)
		buf_printf(out, "%s %s\n", m.names[i],
			   m.types[i] == COL_NULL ? "string" : col_type_name(m.types[i]));
	meta_free(&m);
	return 0;
}

/* ---- the writer ----
 *
 * A writer's states, and the function that moves it between them:
 *
 *   OPEN (no rows yet)    table_writer_open
 *   OPEN -> STAGING       table_writer_write: the ingest front end checks
 *                         the text and on_row keeps each row in `chunk`;
 *                         a full chunk goes to the stager thread, which
 *                         writes it under w/WUID (marked) so a crash leaves
 *                         only staged chunks that table_recover removes
 *   STAGING -> OPEN       table_writer_commit (not final): the staged
 *                         chunks and the meta update go in one batch under
 *                         the store's commit lock; `committed` is set
 *   any -> FAILED         a rejected write or commit: latched in `in`
 *                         (ingest_fail); nothing more is committed, the
 *                         staged chunks are dropped
 *   any -> (freed)        table_writer_free: stops the stager, removes what
 *                         was staged and never committed
 */

struct table_writer {
	struct store *s;
	char name[TABLE_NAME_MAX + 1];
	uint64_t tid, wuid;
	bool replace;		/* the first commit replaces the rows */
	bool committed;		/* a commit happened on this writer */
	bool marked;		/* w/WUID exists */
	bool dirty;		/* a header or rows wait for commit */
	bool had_cols;		/* the table had columns at open */
	bool header_new;	/* this stream defines the columns */
	/* The text's front end: the write's columns (names, types) and the
	 * failure latch (ingest.h). */
	struct ingest *in;
	struct meta open_meta;	/* the table at open: ingest borrows it */
	struct buf chunk;	/* records not yet staged */
	uint64_t seq;		/* next chunk number */
	uint64_t seg_first;	/* first chunk since the last commit */
	uint64_t *sizes;	/* byte sizes of chunks since the last commit */
	size_t nsizes, sizes_cap;
	uint64_t rows, bytes;	/* since the last commit */
	struct buf key, scratch;

	/* The stager thread (started by the first full chunk).  Guarded by
	 * stage_lock: inflight, inflight_seq, inflight_mark, stage_busy (the
	 * thread owns `inflight` while true), stage_stop, stage_rc/err. */
	bool stage_started;
	pthread_t stage_thread;
	pthread_mutex_t stage_lock;
	pthread_cond_t stage_cv;
	struct buf inflight;
	uint64_t inflight_seq;
	bool inflight_mark, stage_busy, stage_stop;
	int stage_rc;
	struct mlfs_err stage_err;
};

static void writer_put(struct table_writer *w, struct store_batch *b, uint64_t from,
		       struct buf *k, struct buf *v)
{
	const char *owner = store_writer_name(w->s);
	buf_reset(v);
	codec_enc_map(v, owner[0] ? 3 : 2);
	codec_enc_cstr(v, "t");
	codec_enc_u64(v, w->tid);
	codec_enc_cstr(v, "from");
	codec_enc_u64(v, from);
	if (owner[0]) {
		codec_enc_cstr(v, "o");
		codec_enc_cstr(v, owner);
	}
	key_writer(k, w->wuid);
	store_batch_put(b, k->data, k->len, v->data, v->len);
}

/* Whether W's writer record is still there: a sweep that took W's
 * session for dead (table_sweep_dead) removed it and W's chunks, and the
 * commit must not name them.  Read in the commit, so that on a remote
 * store a sweep committed meanwhile makes the commit try again. */
static int writer_alive(struct table_writer *w, struct mlfs_err *err)
{
	struct buf v = { 0 };
	key_writer(&w->scratch, w->wuid);
	int rc = store_get(w->s, NULL, w->scratch.data, w->scratch.len, &v, NULL);
	buf_free(&v);
	if (rc == -ENOENT)
		return mlfs_fail(err, -EIO, "the rows staged by this write were removed (its "
				 "session was taken for dead); nothing appended");
	return rc;
}

/* The stager thread: writes the chunk in `inflight` while the writer
 * parses the next one, so the two cores share an ingest. */
static void *stage_main(void *arg)
{
	struct table_writer *w = arg;
	struct buf key = { 0 }, mark = { 0 };
	char hdr[5];

	pthread_mutex_lock(&w->stage_lock);
	for (;;) {
		while (!w->stage_busy && !w->stage_stop)
			pthread_cond_wait(&w->stage_cv, &w->stage_lock);
		if (!w->stage_busy)
			break;
		pthread_mutex_unlock(&w->stage_lock);

		struct mlfs_err err = { 0 };
		struct store_batch *b = store_batch_new();
		if (w->inflight_mark)
			writer_put(w, b, w->inflight_seq, &key, &mark);
		key_chunk(&key, w->tid, w->wuid, w->inflight_seq);
		size_t hl = codec_enc_bin_header(hdr, w->inflight.len);
		store_batch_put2(b, key.data, key.len, hdr, hl, w->inflight.data,
				 w->inflight.len);
		int rc = b ? store_write(w->s, b, false, &err) : -ENOMEM;
		store_batch_free(b);

		pthread_mutex_lock(&w->stage_lock);
		if (rc && !w->stage_rc) {
			w->stage_rc = rc;
			w->stage_err = err;
		}
		w->stage_busy = false;
		pthread_cond_broadcast(&w->stage_cv);
	}
	pthread_mutex_unlock(&w->stage_lock);
	buf_free(&key);
	buf_free(&mark);
	return NULL;
}

/* Wait until the stager has written what it was given.  0 or its error. */
static int stage_wait(struct table_writer *w, struct mlfs_err *err)
{
	if (!w->stage_started)
		return 0;
	pthread_mutex_lock(&w->stage_lock);
	while (w->stage_busy)
		pthread_cond_wait(&w->stage_cv, &w->stage_lock);
	int rc = w->stage_rc;
	if (rc && err)
		*err = w->stage_err;
	pthread_mutex_unlock(&w->stage_lock);
	return rc;
}

int table_writer_settle(struct table_writer *w, struct mlfs_err *err)
{
	return stage_wait(w, err);
}

/* Hand the current chunk to the stager (starting it on first use). */
static int stage_chunk(struct table_writer *w, struct mlfs_err *err)
{
	if (w->chunk.len == 0)
		return 0;
	if (w->nsizes == w->sizes_cap) {
		size_t cap = w->sizes_cap ? 2 * w->sizes_cap : 16;
		uint64_t *p = realloc(w->sizes, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		w->sizes = p;
		w->sizes_cap = cap;
	}
	if (!w->stage_started) {
		pthread_mutex_init(&w->stage_lock, NULL);
		pthread_cond_init(&w->stage_cv, NULL);
		if (pthread_create(&w->stage_thread, NULL, stage_main, w)) {
			pthread_cond_destroy(&w->stage_cv);
			pthread_mutex_destroy(&w->stage_lock);
			return mlfs_fail(err, -EAGAIN, "cannot start a staging thread");
		}
		w->stage_started = true;
	}
	int rc = stage_wait(w, err);
	if (rc)
		return rc;
	pthread_mutex_lock(&w->stage_lock);
	struct buf t = w->inflight;
	w->inflight = w->chunk;
	w->chunk = t;
	w->inflight_seq = w->seq;
	w->inflight_mark = !w->marked;
	w->stage_busy = true;
	pthread_cond_signal(&w->stage_cv);
	pthread_mutex_unlock(&w->stage_lock);

	w->marked = true;
	w->sizes[w->nsizes++] = w->inflight.len;
	w->bytes += w->inflight.len;
	w->seq++;
	buf_reset(&w->chunk);
	return 0;
}

/* Stop and join the stager; what it was given is written first. */
static void stage_stop(struct table_writer *w)
{
	if (!w->stage_started)
		return;
	pthread_mutex_lock(&w->stage_lock);
	w->stage_stop = true;
	pthread_cond_broadcast(&w->stage_cv);
	pthread_mutex_unlock(&w->stage_lock);
	pthread_join(w->stage_thread, NULL);
	pthread_cond_destroy(&w->stage_cv);
	pthread_mutex_destroy(&w->stage_lock);
	w->stage_started = false;
}

/* The ingest sink: the write's columns are known. */
static int on_columns(void *ctx, bool header, uint64_t line,
		      struct mlfs_err *err)
{
	struct table_writer *w = ctx;
	(void)line;
	(void)err;
	if (header && (w->replace || !w->had_cols))
		w->header_new = w->dirty = true;
	return 0;
}

/* The ingest sink: one checked row, kept as canonical CSV text. */
static int on_row(void *ctx, const struct csv_field *f, size_t n,
		  uint64_t line, struct mlfs_err *err)
{
	struct table_writer *w = ctx;
	bool quoted = false;

	int rc;

	(void)line;
	for (size_t i = 0; i < n; i++)
		quoted |= f[i].quoted;
	if (!quoted && n > 0) {
		const char *start = f[0].p, *end = f[n - 1].p + f[n - 1].len;
		if (f[0].len == 0 || f[n - 1].len == 0 || n == 1) {
			/* Empty fields point at "": rebuild from the pieces. */
			for (size_t i = 0; i < n; i++) {
				if (i)
					buf_putc(&w->chunk, ',');
				buf_append(&w->chunk, f[i].p, f[i].len);
			}
		} else {
			buf_append(&w->chunk, start, (size_t)(end - start));
		}
	} else {
		for (size_t i = 0; i < n; i++) {
			if (i)
				buf_putc(&w->chunk, ',');
			csv_put_field(&w->chunk, f[i].p, f[i].len);
		}
	}
	rc = buf_putc(&w->chunk, '\n');
	if (rc)
		return rc;
	w->rows++;
	w->dirty = true;
	if (w->chunk.len >= TABLE_CHUNK_BYTES)
		return stage_chunk(w, err);
	return 0;
}

/* The ingest sink: NROWS checked rows whose text is already canonical
 * (ingest.h), cut into chunks where on_row would have cut them: after the
 * row that brings a chunk to TABLE_CHUNK_BYTES. */
static int on_rows_text(void *ctx, const char *text, size_t len,
			uint64_t nrows, struct mlfs_err *err)
{
	struct table_writer *w = ctx;
	int rc = 0;

	while (len && !rc) {
		size_t need = w->chunk.len < TABLE_CHUNK_BYTES ?
			      TABLE_CHUNK_BYTES - w->chunk.len : 1;
		const char *nl = need <= len ? memchr(text + need - 1, '\n', len - (need - 1)) : NULL;
		size_t take = nl ? (size_t)(nl - text) + 1 : len;
		if ((rc = buf_append(&w->chunk, text, take)))
			break;
		text += take;
		len -= take;
		if (nl)
			rc = stage_chunk(w, err);
	}
	w->rows += nrows;
	w->dirty |= nrows > 0;
	return rc;
}

int table_writer_open(struct store *s, const char *name, bool replace,
		      struct table_writer **out, struct mlfs_err *err)
{
	static const struct ingest_sink sink = { on_columns, on_row, on_rows_text };
	struct table_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	int rc = meta_load(s, NULL, name, &w->open_meta);
	if (rc) {
		free(w);
		return rc == -ENOENT ? rc : mlfs_fail(err, rc, "table '%s': unreadable metadata", name);
	}
	const struct meta *m = &w->open_meta;
	w->s = s;
	snprintf(w->name, sizeof(w->name), "%s", name);
	w->tid = m->id;
	w->replace = replace;
	w->had_cols = m->ncols > 0;
	/* A header on >> repeats the table's; a declared schema holds on >. */
	struct ingest_table t = {
		.ncols = m->ncols, .names = m->names, .types = m->types,
		.declared = m->declared, .replace = replace,
		.header = INGEST_SAME_COLUMNS,
	};
	if ((rc = ingest_new(&t, &sink, w, &w->in)) ||
	    (rc = ids_next(s, "writer", &w->wuid, err))) {
		table_writer_free(w);
		return rc;
	}
	*out = w;
	return 0;
}

int table_writer_write(struct table_writer *w, const char *data, size_t len,
		       struct mlfs_err *err)
{
	return ingest_write(w->in, data, len, err);
}

bool table_writer_failed(const struct table_writer *w)
{
	return ingest_failed(w->in);
}

static void seg_encode(const struct table_writer *w, struct buf *v)
{
	buf_reset(v);
	codec_enc_map(v, 5);
	codec_enc_cstr(v, "w");
	codec_enc_u64(v, w->wuid);
	codec_enc_cstr(v, "first");
	codec_enc_u64(v, w->seg_first);
	codec_enc_cstr(v, "n");
	codec_enc_u64(v, w->nsizes);
	codec_enc_cstr(v, "rows");
	codec_enc_u64(v, w->rows);
	codec_enc_cstr(v, "sizes");
	codec_enc_array(v, (uint32_t)w->nsizes);
	for (size_t i = 0; i < w->nsizes; i++)
		codec_enc_u64(v, w->sizes[i]);
}

/* M's columns after this commit: the write's (a replace, or a table
 * that has none yet), else the same ones with types widened. */
static int commit_columns(struct table_writer *w, struct meta *m,
			  struct store_batch *b, struct mlfs_err *err)
{
	uint32_t n = ingest_ncols(w->in);
	char *const *names = ingest_names(w->in);
	const enum col_type *types = ingest_types(w->in);
	int rc;

	if (w->replace && !w->committed) {
		if ((rc = drop_segments(w->s, m->id, b)))
			return rc;
		m->rows = m->bytes = 0;
		return m->declared ? 0 : meta_set_columns(m, n, names, types);
	}
	if (m->ncols == 0 || (w->header_new && m->rows == 0 && !m->declared))
		return meta_set_columns(m, n, names, types);
	bool same = m->ncols == n;
	for (uint32_t i = 0; same && i < n; i++)
		same = !strcmp(m->names[i], names[i]);
	if (!same)
		return mlfs_fail(err, -EINVAL, "the table's columns were changed by another write; nothing appended");
	for (uint32_t i = 0; i < n && !m->declared; i++)
		m->types[i] = col_type_widen(m->types[i], types[i]);
	return 0;
}

/* One try of a commit's batch (segment, writer record, metadata) on the
 * metadata as it is now: 0, or -EAGAIN when a remote store saw another
 * host change the metadata meanwhile (nothing written; try again). */
static int commit_once(struct table_writer *w, struct mlfs_err *err)
{
	struct meta m;
	int rc;

	pthread_mutex_lock(COMMIT_LOCK(w->s));
	rc = meta_load(w->s, NULL, w->name, &m);
	if (rc || m.id != w->tid) {
		if (!rc)
			meta_free(&m);
		pthread_mutex_unlock(COMMIT_LOCK(w->s));
		return mlfs_fail(err, -ENOENT, "table '%s' was dropped during the write", w->name);
	}
	struct store_batch *b = store_batch_new();
	if (w->marked && (rc = writer_alive(w, err)))
		goto out;
	if ((rc = commit_columns(w, &m, b, err)))
		goto out;
	if (w->nsizes) {
		struct buf v = { 0 };
		key_seg(&w->key, m.id, m.seg++);
		seg_encode(w, &v);
		store_batch_put(b, w->key.data, w->key.len, v.data, v.len);
		/* Chunks up to here are named by a segment now. */
		writer_put(w, b, w->seq, &w->key, &v);
		buf_free(&v);
	}
	m.rows += w->rows;
	m.bytes += w->bytes;
	m.ver++;
	m.mtime = clock_now_ns();
	meta_put(b, w->name, &m);
	/* The previous version's columnar form stays: never read for this
	 * version, the next build extends it by the appended rows. */
	rc = store_write(w->s, b, false, err);
out:
	store_batch_free(b);
	pthread_mutex_unlock(COMMIT_LOCK(w->s));
	meta_free(&m);
	return rc;
}

int table_writer_commit(struct table_writer *w, bool final,
			struct mlfs_err *err)
{
	int rc;

	if ((rc = ingest_flush(w->in, err)) ||
	    (rc = ingest_fail(w->in, stage_chunk(w, err))) ||
	    (rc = ingest_fail(w->in, stage_wait(w, err))))
		return rc;
	bool empty_replace = final && w->replace && !w->committed;
	if (!w->dirty && !empty_replace)
		return 0;

	/* Another host's append to the same table (remote store): rebase
	 * on the metadata it left, a few times. */
	for (int tries = 0; (rc = commit_once(w, err)) == -EAGAIN && tries < 4; tries++) {
		store_txn_begin(w->s);
		store_refresh(w->s, NULL);
	}
	if (rc)
		return ingest_fail(w->in, rc);
	w->committed = true;
	w->dirty = false;
	w->header_new = false;
	w->rows = w->bytes = 0;
	w->nsizes = 0;
	w->seg_first = w->seq;
	return 0;
}

void table_writer_free(struct table_writer *w)
{
	if (!w)
		return;
	stage_stop(w);
	if (w->marked) {
		struct store_batch *b = store_batch_new();
		delete_chunks(b, w->tid, w->wuid, w->seg_first);
		key_writer(&w->key, w->wuid);
		store_batch_delete(b, w->key.data, w->key.len);
		store_write(w->s, b, false, NULL);
		store_batch_free(b);
	}
	ingest_free(w->in);
	meta_free(&w->open_meta);
	buf_free(&w->chunk);
	buf_free(&w->inflight);
	buf_free(&w->key);
	buf_free(&w->scratch);
	free(w->sizes);
	free(w);
}

/* ---- the reader ---- */

struct chunk_ref {
	uint64_t wuid, seq, off;	/* off: within the rows' text */
	uint64_t len;
};

struct table_reader {
	struct store *s;
	struct store_snapshot *snap;
	uint64_t tid;
	struct buf header;
	uint64_t size;
	uint64_t first_seg;	/* the lowest segment number, UINT64_MAX: none */
	struct chunk_ref *chunks;
	size_t nchunks;
	size_t cur;		/* index of the chunk in `val`, or SIZE_MAX */
	struct buf val, key;
};

/* Bytes of a stored chunk value after its bin header. */
static const char *chunk_body(const char *v, size_t vl, size_t *len)
{
	size_t h;
	if (vl < 2)
		return NULL;
	switch ((unsigned char)v[0]) {
	case 0xc4: h = 2; break;
	case 0xc5: h = 3; break;
	case 0xc6: h = 5; break;
	default: return NULL;
	}
	if (vl < h)
		return NULL;
	*len = vl - h;
	return v + h;
}

static int load_chunks(struct table_reader *r)
{
	struct buf lo = { 0 }, hi = { 0 };
	uint64_t off = 0;
	size_t cap = 0;
	int rc = 0;

	key_seg(&lo, r->tid, 0);
	key_seg(&hi, r->tid + 1, 0);
	r->first_seg = UINT64_MAX;
	struct store_iter *it = store_iter_new(r->s, r->snap, lo.data, lo.len, hi.data, hi.len);
	for (store_iter_seek_first(it); store_iter_valid(it) && !rc; store_iter_next(it)) {
		size_t vl, kl;
		const char *v = store_iter_value(it, &vl);
		const char *key = store_iter_key(it, &kl);
		if (r->first_seg == UINT64_MAX && kl >= 8)
			r->first_seg = key_get_u64(key + kl - 8);
		struct dec *d = codec_dec_new(v, vl);
		struct dval sizes;
		if (!d || !codec_dval_get(codec_dec_root(d), "sizes", &sizes)) {
			codec_dec_free(d);
			rc = -EIO;
			break;
		}
		uint64_t wuid = codec_dget_u64(codec_dec_root(d), "w", 0);
		uint64_t first = codec_dget_u64(codec_dec_root(d), "first", 0);
		size_t n = codec_dval_len(sizes);
		for (size_t i = 0; i < n; i++) {
			uint64_t len = 0;
			codec_dval_u64(codec_dval_at(sizes, i), &len);
			if (r->nchunks == cap) {
				cap = cap ? 2 * cap : 64;
				struct chunk_ref *p = realloc(r->chunks, cap * sizeof(*p));
				if (!p) {
					rc = -ENOMEM;
					break;
				}
				r->chunks = p;
			}
			r->chunks[r->nchunks++] = (struct chunk_ref){ wuid, first + i, off, len };
			off += len;
		}
		codec_dec_free(d);
	}
	if (!rc)
		rc = store_iter_status(it, NULL);
	store_iter_free(it);
	buf_free(&lo);
	buf_free(&hi);
	return rc;
}

int table_reader_open(struct store *s, const char *name,
		      struct table_reader **out, struct mlfs_err *err)
{
	struct meta m;
	struct table_reader *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->s = s;
	r->cur = SIZE_MAX;
	r->snap = store_snapshot_new(s);
	int rc = meta_load(s, r->snap, name, &m);
	if (rc) {
		table_reader_free(r);
		return rc;
	}
	r->tid = m.id;
	header_text(&m, &r->header);
	r->size = r->header.len + m.bytes;
	meta_free(&m);
	if ((rc = load_chunks(r))) {
		table_reader_free(r);
		return mlfs_fail(err, rc, "table '%s': unreadable segment list", name);
	}
	*out = r;
	return 0;
}

uint64_t table_reader_size(const struct table_reader *r)
{
	return r->size;
}

void table_reader_cursor(const struct table_reader *r, struct table_cursor *cur)
{
	cur->tid = r->tid;
	cur->first_seg = r->first_seg;
	cur->bytes = r->size - r->header.len;
}

static int fetch_chunk(struct table_reader *r, size_t i, const char **body,
		       size_t *len, struct mlfs_err *err)
{
	if (r->cur != i) {
		key_chunk(&r->key, r->tid, r->chunks[i].wuid, r->chunks[i].seq);
		int rc = store_get(r->s, r->snap, r->key.data, r->key.len, &r->val, err);
		if (rc)
			return rc == -ENOENT ? mlfs_fail(err, -EIO, "missing chunk") : rc;
		r->cur = i;
	}
	*body = chunk_body(r->val.data, r->val.len, len);
	if (!*body || *len != r->chunks[i].len)
		return mlfs_fail(err, -EIO, "damaged chunk");
	return 0;
}

long table_reader_read(struct table_reader *r, char *dst, size_t len,
		       uint64_t off, struct mlfs_err *err)
{
	size_t done = 0;

	done = columns_read_header(&r->header, r->size, dst, &len, &off);
	while (done < len) {
		uint64_t doff = off - r->header.len;
		/* Find the chunk holding doff: binary search on offsets. */
		size_t lo = 0, hi = r->nchunks;
		if (r->cur != SIZE_MAX && doff >= r->chunks[r->cur].off &&
		    doff < r->chunks[r->cur].off + r->chunks[r->cur].len) {
			lo = r->cur;
		} else {
			while (hi - lo > 1) {
				size_t mid = (lo + hi) / 2;
				if (r->chunks[mid].off <= doff)
					lo = mid;
				else
					hi = mid;
			}
		}
		if (lo >= r->nchunks)
			return mlfs_fail(err, -EIO, "offset past the last chunk");
		const char *body;
		size_t blen;
		int rc = fetch_chunk(r, lo, &body, &blen, err);
		if (rc)
			return rc;
		size_t in = (size_t)(doff - r->chunks[lo].off);
		size_t n = blen - in;
		if (n > len - done)
			n = len - done;
		memcpy(dst + done, body + in, n);
		done += n;
		off += n;
	}
	return (long)done;
}

void table_reader_free(struct table_reader *r)
{
	if (!r)
		return;
	store_snapshot_free(r->s, r->snap);
	buf_free(&r->header);
	buf_free(&r->val);
	buf_free(&r->key);
	free(r->chunks);
	free(r);
}

/* ---- scans ---- */

struct scan_ctx {
	csv_record_fn fn;
	void *ctx;
};

static int scan_record(void *ctx, const struct csv_field *f, size_t n,
		       uint64_t line, struct mlfs_err *err)
{
	struct scan_ctx *sc = ctx;
	return sc->fn(sc->ctx, f, n, line + 1, err);
}

/* Scan the rows of R from chunk FIRST on. */
static int scan_reader(struct table_reader *r, size_t first, csv_record_fn fn,
		       void *ctx, struct mlfs_err *err)
{
	struct scan_ctx sc = { fn, ctx };
	struct csv_reader *csv = csv_reader_new(TABLE_MAX_RECORD, scan_record, &sc);
	int rc = csv ? 0 : -ENOMEM;
	for (size_t i = first; i < r->nchunks && !rc; i++) {
		const char *body;
		size_t len;
		rc = fetch_chunk(r, i, &body, &len, err);
		if (!rc)
			rc = csv_reader_feed(csv, body, len, err);
	}
	if (!rc)
		rc = csv_reader_finish(csv, err);
	csv_reader_free(csv);
	return rc;
}

int table_scan(struct store *s, const char *name, csv_record_fn fn,
	       void *ctx, struct mlfs_err *err)
{
	struct table_reader *r;
	int rc = table_reader_open(s, name, &r, err);
	if (rc)
		return rc;
	rc = scan_reader(r, 0, fn, ctx, err);
	table_reader_free(r);
	return rc;
}

/* A commit adds whole chunks after the existing ones and a replace drops
 * every segment: so while the lowest segment is the one CUR saw, the rows
 * CUR read are still the first CUR->bytes of the table and the new ones
 * start at a chunk boundary. */
int table_scan_since(struct store *s, const char *name,
		     struct table_cursor *cur, bool *from_start,
		     csv_record_fn fn, void *ctx, struct mlfs_err *err)
{
	struct table_reader *r;
	int rc = table_reader_open(s, name, &r, err);
	if (rc)
		return rc;
	size_t first = 0;
	bool same = cur->tid == r->tid && cur->first_seg == r->first_seg &&
		    cur->bytes <= r->size - r->header.len;
	if (same) {
		while (first < r->nchunks && r->chunks[first].off < cur->bytes)
			first++;
		same = first == r->nchunks ? cur->bytes == r->size - r->header.len
					    : r->chunks[first].off == cur->bytes;
	}
	if (!same)
		first = 0;
	*from_start = !same;
	rc = scan_reader(r, first, fn, ctx, err);
	if (!rc) {
		cur->tid = r->tid;
		cur->first_seg = r->first_seg;
		cur->bytes = r->size - r->header.len;
	}
	table_reader_free(r);
	return rc;
}

/* ---- schema ---- */

struct fit_ctx {
	const struct meta *m;
};

static int check_fit(void *ctx, const struct csv_field *f, size_t n,
		     uint64_t line, struct mlfs_err *err)
{
	const struct meta *m = ((struct fit_ctx *)ctx)->m;
	for (size_t i = 0; i < n && i < m->ncols; i++)
		if (!value_fits(m->types[i], f[i].p, f[i].len) ||
		    value_refusal(m->types[i], f[i].p, f[i].len))
			return mlfs_fail(err, -EINVAL, "data.csv line %llu, column %zu: '%.*s' is not a valid %s; schema unchanged",
					 (unsigned long long)line, i + 1, (int)(f[i].len > 64 ? 64 : f[i].len),
					 f[i].p, col_type_name(m->types[i]));
	return 0;
}

struct schema_parse {
	uint32_t n;
	char *names[TABLE_MAX_COLUMNS];
	enum col_type types[TABLE_MAX_COLUMNS];
};

static int parse_schema(const char *text, size_t len, struct schema_parse *sp,
			struct mlfs_err *err)
{
	size_t pos = 0;
	unsigned line = 0;
	sp->n = 0;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		const char *p = text + pos;
		size_t l = end - pos;
		line++;
		pos = end + 1;
		while (l && (p[l - 1] == '\r' || p[l - 1] == ' ' || p[l - 1] == '\t'))
			l--;
		while (l && (*p == ' ' || *p == '\t'))
			p++, l--;
		if (l == 0 || *p == '#')
			continue;
		const char *sp_at = NULL;
		for (size_t i = l; i-- > 0;)
			if (p[i] == ' ' || p[i] == '\t') {
				sp_at = p + i;
				break;
			}
		if (!sp_at)
			return mlfs_fail(err, -EINVAL, "line %u, column 1: expected 'column type'", line);
		size_t nl_len = (size_t)(sp_at - p);
		while (nl_len && (p[nl_len - 1] == ' ' || p[nl_len - 1] == '\t'))
			nl_len--;
		const char *tp = sp_at + 1;
		size_t tl = (size_t)(p + l - tp);
		if (sp->n == TABLE_MAX_COLUMNS)
			return mlfs_fail(err, -EINVAL, "line %u, column 1: too many columns", line);
		if (col_type_parse(tp, tl, &sp->types[sp->n]))
			return mlfs_fail(err, -EINVAL, "line %u, column %zu: unknown type '%.*s' (int float string bool date timestamp)",
					 line, (size_t)(tp - p) + 1, (int)tl, tp);
		if (!csv_utf8_valid(p, nl_len) || memchr(p, ',', nl_len) || memchr(p, '"', nl_len))
			return mlfs_fail(err, -EINVAL, "line %u, column 1: bad column name", line);
		for (uint32_t j = 0; j < sp->n; j++)
			if (strlen(sp->names[j]) == nl_len && !memcmp(sp->names[j], p, nl_len))
				return mlfs_fail(err, -EINVAL, "line %u, column 1: duplicate column '%.*s'",
						 line, (int)nl_len, p);
		sp->names[sp->n++] = strndup(p, nl_len);
	}
	return 0;
}

/* Check the schema TEXT against table NAME; with APPLY, store it. */
static int schema_change(struct store *s, const char *name, const char *text,
			 size_t len, bool apply, struct mlfs_err *err)
{
	struct schema_parse *sp = calloc(1, sizeof(*sp));
	struct meta m;
	int rc;

	if (!sp)
		return -ENOMEM;
	if ((rc = parse_schema(text, len, sp, err)) || !s)
		goto out;
	pthread_mutex_lock(COMMIT_LOCK(s));
	if ((rc = meta_load(s, NULL, name, &m))) {
		pthread_mutex_unlock(COMMIT_LOCK(s));
		goto out;
	}
	if (m.rows > 0) {
		bool same = sp->n == m.ncols;
		for (uint32_t i = 0; same && i < sp->n; i++)
			same = !strcmp(sp->names[i], m.names[i]);
		if (!same) {
			rc = mlfs_fail(err, -EINVAL, "the table has rows: a schema must name its columns in order");
		} else {
			struct meta want = m;
			want.types = sp->types;
			struct fit_ctx fc = { &want };
			rc = table_scan(s, name, check_fit, &fc, err);
		}
	}
	if (!rc && apply) {
		rc = meta_set_columns(&m, sp->n, sp->names, sp->types);
		m.declared = sp->n > 0;
		m.ver++;
		if (!rc) {
			struct store_batch *b = store_batch_new();
			meta_put(b, name, &m);
			columnar_forget(b, m.id);
			rc = store_write(s, b, false, err);
			store_batch_free(b);
		}
	}
	pthread_mutex_unlock(COMMIT_LOCK(s));
	meta_free(&m);
out:
	for (uint32_t i = 0; i < sp->n; i++)
		free(sp->names[i]);
	free(sp);
	return rc;
}

int table_schema_validate(struct store *s, const char *name, const char *text,
			  size_t len, struct mlfs_err *err)
{
	return schema_change(s, name, text, len, false, err);
}

int table_set_schema(struct store *s, const char *name, const char *text,
		     size_t len, struct mlfs_err *err)
{
	return schema_change(s, name, text, len, true, err);
}

/* ---- check and recovery ---- */

struct count_ctx {
	uint64_t rows;
	const struct meta *m;
	struct buf *report;
	int problems;
	const char *name;
};

static int count_record(void *ctx, const struct csv_field *f, size_t n,
			uint64_t line, struct mlfs_err *err)
{
	struct count_ctx *cc = ctx;
	cc->rows++;
	if (n != cc->m->ncols) {
		if (cc->problems++ < 20)
			buf_printf(cc->report, "table %s: line %llu has %zu fields, the header %u\n",
				   cc->name, (unsigned long long)line, n, cc->m->ncols);
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		if (!value_fits(cc->m->types[i], f[i].p, f[i].len) &&
		    cc->problems++ < 20)
			buf_printf(cc->report, "table %s: line %llu, column %zu does not fit type %s\n",
				   cc->name, (unsigned long long)line, i + 1,
				   col_type_name(cc->m->types[i]));
	return 0;
}

struct check_list {
	char **names;
	size_t n, cap;
};

static int collect_name(void *ctx, const char *name)
{
	struct check_list *l = ctx;
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 16;
		char **p = realloc(l->names, l->cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		l->names = p;
	}
	l->names[l->n++] = strdup(name);
	return 0;
}

static int check_one(struct store *s, const char *name, struct buf *report)
{
	struct meta m;
	struct table_reader *r = NULL;
	struct mlfs_err e = { 0 };
	int problems = 0;

	if (meta_load(s, NULL, name, &m)) {
		buf_printf(report, "table %s: unreadable metadata\n", name);
		return 1;
	}
	if (table_reader_open(s, name, &r, &e)) {
		buf_printf(report, "table %s: %s\n", name, e.msg);
		meta_free(&m);
		return 1;
	}
	uint64_t bytes = 0;
	for (size_t i = 0; i < r->nchunks; i++)
		bytes += r->chunks[i].len;
	if (bytes != m.bytes) {
		buf_printf(report, "table %s: segments hold %llu bytes, metadata says %llu\n",
			   name, (unsigned long long)bytes, (unsigned long long)m.bytes);
		problems++;
	}
	struct count_ctx cc = { 0, &m, report, 0, name };
	if (scan_reader(r, 0, count_record, &cc, &e)) {
		buf_printf(report, "table %s: %s\n", name, e.msg);
		problems++;
	} else if (cc.rows != m.rows) {
		buf_printf(report, "table %s: %llu rows stored, metadata says %llu\n",
			   name, (unsigned long long)cc.rows, (unsigned long long)m.rows);
		problems++;
	}
	problems += cc.problems;
	table_reader_free(r);
	meta_free(&m);
	return problems;
}

int table_check(struct store *s, struct buf *report, struct mlfs_err *err)
{
	struct check_list l = { 0 };
	int problems = 0;
	int rc = table_list(s, collect_name, &l);
	for (size_t i = 0; i < l.n; i++) {
		if (!rc)
			problems += check_one(s, l.names[i], report);
		free(l.names[i]);
	}
	free(l.names);
	return rc ? mlfs_fail(err, rc, "cannot list tables") : problems;
}

/* Remove the staged chunks and records of every writer (GONE NULL) or
 * of those whose owner GONE says is gone, in one batch; *N how many. */
static int sweep_writers(struct store *s, bool (*gone)(void *ctx, const char *owner),
			 void *ctx, size_t *n, struct mlfs_err *err)
{
	struct store_iter *it = store_iter_new(s, NULL, "w/", 2, "w0", 2);
	struct store_batch *b = store_batch_new();
	size_t count = 0;
	for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it)) {
		size_t kl, vl;
		const char *k = store_iter_key(it, &kl);
		const char *v = store_iter_value(it, &vl);
		struct dec *d = codec_dec_new(v, vl);
		char owner[STORE_WRITER_MAX] = "";
		if (d && !codec_dget_str(codec_dec_root(d), "o", owner, sizeof(owner)))
			owner[0] = '\0';
		if (gone && (!owner[0] || !gone(ctx, owner))) {
			codec_dec_free(d);
			continue;	/* a live writer's, or one the sweep cannot name */
		}
		if (kl == 10 && d) {
			uint64_t wuid = key_get_u64(k + 2);
			delete_chunks(b, codec_dget_u64(codec_dec_root(d), "t", 0), wuid,
				      codec_dget_u64(codec_dec_root(d), "from", 0));
		}
		codec_dec_free(d);
		store_batch_delete(b, k, kl);
		count++;
	}
	int rc = store_iter_status(it, err);
	store_iter_free(it);
	if (!rc && store_batch_count(b))
		rc = store_write(s, b, true, err);
	store_batch_free(b);
	if (n)
		*n = rc ? 0 : count;
	return rc;
}

int table_recover(struct store *s, struct mlfs_err *err)
{
	return sweep_writers(s, NULL, NULL, NULL, err);
}

int table_sweep_dead(struct store *s, bool (*gone)(void *ctx, const char *owner), void *ctx,
		     size_t *n, struct mlfs_err *err)
{
	return sweep_writers(s, gone, ctx, n, err);
}
