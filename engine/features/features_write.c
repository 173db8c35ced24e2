/* features_write.c - writing rows into feature tables: CSV staged by a
 * writer (or given as fields, or as records already encoded), merged into
 * or replacing the stored rows and versions in one batch, and deleting a
 * key.  Not the records' layout (features.c) nor reading them
 * (features_read.c, features_lookup.c). */
#include "features_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "csv.h"
#include "hash.h"
#include "ingest.h"
#include "par.h"
#include "table.h"

/* ---- staged rows ---- */

/* Rows waiting for a commit.  Each row in `arena`: u32 keylen, key, i64
 * ts, u64 line, u32 nf, then nf times (u32 len | NULL_LEN, bytes).  Fields
 * are in the order of `cols` (the write's columns). */
struct stage {
	uint32_t ncols;
	char **cols;
	enum col_type *types;	/* inferred or given */
	int *keypos;		/* for each key, its index in cols */
	uint32_t nkeys;
	int tspos;		/* index of the timestamp_key in cols, -1 */
	struct buf arena;
	uint64_t *offs;
	size_t nrows, cap;
};

static void stage_reset_rows(struct stage *st)
{
	buf_reset(&st->arena);
	st->nrows = 0;
}

static void stage_free(struct stage *st)
{
	features_free_names(st->cols, st->ncols);
	free(st->types);
	free(st->keypos);
	buf_free(&st->arena);
	free(st->offs);
	memset(st, 0, sizeof(*st));
	st->tspos = -1;
}

static void arena_u32(struct buf *b, uint32_t v)
{
	buf_append(b, &v, 4);
}

static void arena_u64(struct buf *b, uint64_t v)
{
	buf_append(b, &v, 8);
}

/* Parse V as the timestamp_key value (date or timestamp) into micros. */
static bool parse_ts(const char *p, size_t len, int64_t *us)
{
	int32_t d;
	if (value_parse_date(p, len, &d)) {
		*us = (int64_t)d * 86400000000LL;
		return true;
	}
	return value_parse_timestamp(p, len, us);
}

/* Set the stage's columns from a header; KEYS (NKEYS, may be 0: the first
 * column) and TS must be among them.  LINE for messages. */
static int stage_header(struct stage *st, const char *const *names,
			const size_t *lens, uint32_t n, char *const *keys,
			uint32_t nkeys, const char *ts, uint64_t line,
			struct mlfs_err *err)
{
	int rc = ingest_check_names(names, lens, n, line, err);
	if (rc)
		return rc;
	st->cols = calloc(n, sizeof(char *));
	st->types = calloc(n, sizeof(*st->types));
	st->keypos = calloc(nkeys ? nkeys : 1, sizeof(int));
	if (!st->cols || !st->types || !st->keypos)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		if (!(st->cols[i] = strndup(names[i], lens[i])))
			return -ENOMEM;
		st->ncols = i + 1;
	}
	st->nkeys = nkeys ? nkeys : 1;
	for (uint32_t k = 0; k < st->nkeys; k++) {
		const char *kn = nkeys ? keys[k] : st->cols[0];
		st->keypos[k] = -1;
		for (uint32_t i = 0; i < n; i++)
			if (!strcmp(st->cols[i], kn))
				st->keypos[k] = (int)i;
		if (st->keypos[k] < 0)
			return mlfs_fail(err, -EINVAL, "line %llu: key column '%s' is missing from the header",
					 (unsigned long long)line, kn);
	}
	st->tspos = -1;
	if (ts) {
		for (uint32_t i = 0; i < n; i++)
			if (!strcmp(st->cols[i], ts))
				st->tspos = (int)i;
		if (st->tspos < 0)
			return mlfs_fail(err, -EINVAL, "line %llu: timestamp_key column '%s' is missing from the header",
					 (unsigned long long)line, ts);
	}
	return 0;
}

/* Stage one row.  KEY (out) gets the encoded key + ts for duplicate
 * checks. */
static int stage_row(struct stage *st, const char *const *f, const size_t *fl,
		     uint32_t n, uint64_t line, bool infer, struct buf *key,
		     int64_t *ts_out, struct mlfs_err *err)
{
	int64_t ts = 0;
	int rc;

	buf_reset(key);
	for (uint32_t k = 0; k < st->nkeys; k++) {
		int c = st->keypos[k];
		if (fl[c] == 0)
			return mlfs_fail(err, -EINVAL, "line %llu, column %d: key '%s' is empty (null keys are not allowed)",
					 (unsigned long long)line, c + 1, st->cols[c]);
		features_enc_key_field(key, f[c], fl[c]);
	}
	if (st->tspos >= 0) {
		int c = st->tspos;
		if (fl[c] == 0 || !parse_ts(f[c], fl[c], &ts))
			return mlfs_fail(err, -EINVAL, "line %llu, column %d: timestamp_key '%s' needs a date or timestamp, not '%.*s'",
					 (unsigned long long)line, c + 1, st->cols[c],
					 (int)(fl[c] > 64 ? 64 : fl[c]), f[c]);
	}
	*ts_out = ts;
	for (uint32_t i = 0; infer && i < n; i++)
		if ((rc = ingest_type_value(&st->types[i], false, f[i], fl[i], line,
					    i, st->cols[i], err)))
			return rc;
	if (st->nrows == st->cap) {
		size_t cap = st->cap ? 2 * st->cap : 1024;
		uint64_t *o = realloc(st->offs, cap * sizeof(*o));
		if (!o)
			return -ENOMEM;
		st->offs = o;
		st->cap = cap;
	}
	st->offs[st->nrows++] = st->arena.len;
	arena_u32(&st->arena, (uint32_t)key->len);
	buf_append(&st->arena, key->data, key->len);
	arena_u64(&st->arena, (uint64_t)ts);
	arena_u64(&st->arena, line);
	arena_u32(&st->arena, n);
	for (uint32_t i = 0; i < n; i++) {
		arena_u32(&st->arena, fl[i] ? (uint32_t)fl[i] : NULL_LEN);
		if (fl[i])
			buf_append(&st->arena, f[i], fl[i]);
	}
	return st->arena.data ? 0 : -ENOMEM;
}

/* A view of a staged row. */
struct srow {
	const char *key;
	uint32_t klen;
	int64_t ts;
	uint64_t line;
	uint32_t nf;
	const char *fields;	/* the (len, bytes) list */
	size_t seq;
};

static void srow_at(const struct stage *st, size_t i, struct srow *r)
{
	const char *p = st->arena.data + st->offs[i];
	uint64_t u;
	memcpy(&r->klen, p, 4);
	r->key = p + 4;
	p += 4 + r->klen;
	memcpy(&u, p, 8);
	r->ts = (int64_t)u;
	memcpy(&r->line, p + 8, 8);
	memcpy(&r->nf, p + 16, 4);
	r->fields = p + 20;
	r->seq = i;
}

/* Sort entries: the first 16 key bytes big-endian, so most comparisons
 * need no trip to the arena; ties go to the whole key, the time, then
 * the order of writing (later lines win). */
struct sortent {
	uint64_t a, b;
	size_t idx;
};

static uint64_t be64(const char *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < 8; i++)
		v = (v << 8) | (i < n ? (unsigned char)p[i] : 0);
	return v;
}

static int cmp_rows(const void *pa, const void *pb, void *ctx)
{
	const struct stage *st = ctx;
	const struct sortent *ea = pa, *eb = pb;
	if (ea->a != eb->a)
		return ea->a < eb->a ? -1 : 1;
	if (ea->b != eb->b)
		return ea->b < eb->b ? -1 : 1;
	struct srow x, y;
	srow_at(st, ea->idx, &x);
	srow_at(st, eb->idx, &y);
	size_t n = x.klen < y.klen ? x.klen : y.klen;
	int c = n > 16 ? memcmp(x.key + 16, y.key + 16, n - 16) : 0;
	if (c)
		return c;
	if (x.klen != y.klen)
		return x.klen < y.klen ? -1 : 1;
	if (x.ts != y.ts)
		return x.ts < y.ts ? -1 : 1;
	return (x.seq > y.seq) - (x.seq < y.seq);
}

/* ---- merging rows into records ---- */

/* Overlay staged row S onto R through MAP (stage column -> table column). */
static void mrow_overlay(struct mrow *r, const struct srow *s, const int *map)
{
	const char *p = s->fields;
	for (uint32_t i = 0; i < s->nf; i++) {
		uint32_t l;
		memcpy(&l, p, 4);
		p += 4;
		int c = map[i];
		if (l == NULL_LEN) {
			r->p[c] = NULL;
			r->len[c] = NULL_LEN;
		} else {
			r->p[c] = p;
			r->len[c] = l;
			p += l;
		}
	}
}

/* One write's merge into the stored rows: apply_stage's state. */
struct merge {
	struct store *s;
	struct fmeta *m;
	struct stage *st;
	struct store_batch *b;
	struct mlfs_err *err;
	int *map;		/* stage column -> table column */
	size_t *idx;		/* stage rows in key order */
	struct mrow cur, ver;
	/* vold holds a stored version that `ver` borrows from while v is
	 * rewritten: never the same buffer. */
	struct buf k, v, vold;
	struct store_iter *it;	/* the table's latest rows, when merging */
	struct buf lo, hi;	/* its bounds, alive as long as it is */
	struct dec *dold, *dver;
	bool lookup, versioned;
};

/* The table's columns after this write: the stage's (replace, or a table
 * without columns yet), else new ones added and types widened. */
static int stage_columns(struct fmeta *m, const struct stage *st, bool replace)
{
	int rc = 0;
	if (replace || m->ncols == 0) {
		features_meta_clear_cols(m);
		for (uint32_t i = 0; i < st->ncols && !rc; i++)
			rc = features_meta_add_col(m, st->cols[i], st->types[i]);
		if (!m->keys_set && !rc) {
			char *kn[FEAT_MAX_KEYS];
			for (uint32_t i = 0; i < st->nkeys; i++)
				kn[i] = st->cols[st->keypos[i]];
			rc = features_meta_set_keys(m, kn, st->nkeys);
		}
		return rc;
	}
	for (uint32_t i = 0; i < st->ncols && !rc; i++) {
		int c = features_col_index(m, st->cols[i], strlen(st->cols[i]));
		if (c < 0)
			rc = features_meta_add_col(m, st->cols[i], st->types[i]);
		else if (st->types[i] != COL_NULL && m->types[c] != st->types[i])
			m->types[c] = m->types[c] == COL_NULL ? st->types[i] :
				      col_type_widen(m->types[c], st->types[i]);
	}
	return rc;
}

/* The keys and timestamp_key of the write must still be the table's. */
static int stage_keys_match(const struct fmeta *m, const struct stage *st,
			    struct mlfs_err *err)
{
	uint32_t tk = m->nkeys ? m->nkeys : 1;
	bool same = tk == st->nkeys;
	for (uint32_t i = 0; same && i < tk; i++)
		same = !strcmp(m->nkeys ? m->keys[i] : m->names[0], st->cols[st->keypos[i]]);
	if (!same)
		return mlfs_fail(err, -EINVAL, "the table's keys changed during the write; nothing written");
	if ((m->ts == NULL) != (st->tspos < 0) ||
	    (m->ts && strcmp(m->ts, st->cols[st->tspos])))
		return mlfs_fail(err, -EINVAL, "the table's timestamp_key changed during the write; nothing written");
	return 0;
}

/* The column map and the stage's rows in key order. */
static int stage_order(struct merge *g)
{
	struct stage *st = g->st;
	struct sortent *ents;
	g->map = calloc(st->ncols ? st->ncols : 1, sizeof(int));
	g->idx = malloc((st->nrows ? st->nrows : 1) * sizeof(size_t));
	ents = malloc((st->nrows ? st->nrows : 1) * sizeof(*ents));
	if (!g->map || !g->idx || !ents || features_mrow_init(&g->cur, g->m->ncols) ||
	    features_mrow_init(&g->ver, g->m->ncols)) {
		free(ents);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < st->ncols; i++)
		g->map[i] = features_col_index(g->m, st->cols[i], strlen(st->cols[i]));
	for (size_t i = 0; i < st->nrows; i++) {
		struct srow r;
		srow_at(st, i, &r);
		ents[i].a = be64(r.key, r.klen);
		ents[i].b = r.klen > 8 ? be64(r.key + 8, r.klen - 8) : 0;
		ents[i].idx = i;
	}
	/* Rows already in key order (a refresh's, a file sorted by key) need
	 * no sort: one pass over the entries tells, mostly on their first 16
	 * key bytes. */
	bool sorted = true;
	for (size_t i = 1; sorted && i < st->nrows; i++)
		sorted = cmp_rows(&ents[i - 1], &ents[i], st) < 0;
	if (!sorted)
		qsort_r(ents, st->nrows, sizeof(*ents), cmp_rows, st);
	for (size_t i = 0; i < st->nrows; i++)
		g->idx[i] = ents[i].idx;
	free(ents);
	return 0;
}

/* The stored latest row of the key in g->k into g->cur: the iterator
 * walks forward a few steps (keys come in order) before it seeks. */
static int find_latest(struct merge *g, bool *have_old, uint64_t *old_bytes)
{
	struct store_iter *it = g->it;
	size_t kl;
	const char *ik;
	int steps = 0;

	*have_old = false;
	*old_bytes = 0;
	features_mrow_clear(&g->cur);
	if (!g->lookup || !store_iter_valid(it))
		return 0;
	while (store_iter_valid(it) && steps < 8) {
		ik = store_iter_key(it, &kl);
		size_t n = kl < g->k.len ? kl : g->k.len;
		int c = memcmp(ik, g->k.data, n);
		if (c > 0 || (c == 0 && kl >= g->k.len))
			break;
		store_iter_next(it);
		steps++;
	}
	if (store_iter_valid(it)) {
		ik = store_iter_key(it, &kl);
		size_t n = kl < g->k.len ? kl : g->k.len;
		int c = memcmp(ik, g->k.data, n);
		if (c < 0 || (c == 0 && kl < g->k.len))
			store_iter_seek(it, g->k.data, g->k.len);
	}
	if (!store_iter_valid(it))
		return 0;
	ik = store_iter_key(it, &kl);
	if (kl != g->k.len || memcmp(ik, g->k.data, kl))
		return 0;
	size_t vl;
	const char *iv = store_iter_value(it, &vl);
	codec_dec_free(g->dold);
	int rc = features_mrow_load(&g->cur, iv, vl, &g->dold);
	if (rc)
		return rc;
	*have_old = true;
	*old_bytes = features_mrow_bytes(&g->cur);
	return 0;
}

/* A table without timestamp_key: the stage rows I..J of one key overlay
 * its latest row. */
static void merge_latest(struct merge *g, size_t i, size_t j, bool have_old,
			 uint64_t old_bytes)
{
	for (size_t x = i; x < j; x++) {
		struct srow r;
		srow_at(g->st, g->idx[x], &r);
		mrow_overlay(&g->cur, &r, g->map);
	}
	features_mrow_encode(&g->cur, &g->v);
	store_batch_put(g->b, g->k.data, g->k.len, g->v.data, g->v.len);
	g->m->rows += !have_old;
	g->m->versions += !have_old;
	g->m->fbytes += features_mrow_bytes(&g->cur) - old_bytes;
}

/* The stored version of the key at TS into g->ver (the latest one when
 * that is it); *EXISTED tells whether there was one. */
static int load_version(struct merge *g, const struct buf *vk, int64_t ts,
			bool have_old, int64_t old_ts, bool *existed)
{
	*existed = false;
	if (have_old && ts == old_ts) {
		memcpy(g->ver.p, g->cur.p, g->cur.n * sizeof(*g->cur.p));
		memcpy(g->ver.len, g->cur.len, g->cur.n * sizeof(*g->cur.len));
		*existed = true;
		return 0;
	}
	features_mrow_clear(&g->ver);
	if (!g->lookup)
		return 0;
	int rc = store_get(g->s, NULL, vk->data, vk->len, &g->vold, g->err);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	codec_dec_free(g->dver);
	if ((rc = features_mrow_load(&g->ver, g->vold.data, g->vold.len, &g->dver)))
		return rc;
	*existed = true;
	return 0;
}

/* A table with timestamp_key: the stage rows I..J of key R0 each make or
 * overlay the version at their time; the newest becomes the latest. */
static int merge_versions(struct merge *g, const struct srow *r0, size_t i,
			  size_t j, bool have_old, uint64_t old_bytes)
{
	int64_t old_ts = have_old ? g->cur.ts : INT64_MIN, newest_ts = INT64_MIN;
	bool newest_set = false;
	struct buf newest = { 0 }, vk = { 0 };
	uint64_t newest_bytes = 0;
	int rc = 0;

	for (size_t x = i; x < j && !rc;) {
		struct srow r;
		srow_at(g->st, g->idx[x], &r);
		int64_t ts = r.ts;
		bool existed;
		buf_reset(&vk);
		features_key_rows(&vk, 'v', g->m->id);
		buf_append(&vk, r0->key, r0->klen);
		features_put_i64_key(&vk, ts);
		if ((rc = load_version(g, &vk, ts, have_old, old_ts, &existed)))
			break;
		for (; x < j; x++) {
			srow_at(g->st, g->idx[x], &r);
			if (r.ts != ts)
				break;
			mrow_overlay(&g->ver, &r, g->map);
		}
		g->ver.has_ts = true;
		g->ver.ts = ts;
		features_mrow_encode(&g->ver, &g->v);
		store_batch_put(g->b, vk.data, vk.len, g->v.data, g->v.len);
		g->m->versions += !existed;
		if (ts >= old_ts && ts >= newest_ts) {
			newest_set = true;
			newest_ts = ts;
			buf_reset(&newest);
			buf_append(&newest, g->v.data, g->v.len);
			newest_bytes = features_mrow_bytes(&g->ver);
		}
	}
	if (!rc && newest_set) {
		store_batch_put(g->b, g->k.data, g->k.len, newest.data, newest.len);
		g->m->rows += !have_old;
		g->m->fbytes += newest_bytes - old_bytes;
	}
	buf_free(&newest);
	buf_free(&vk);
	return rc;
}

static void merge_free(struct merge *g)
{
	store_iter_free(g->it);
	codec_dec_free(g->dold);
	codec_dec_free(g->dver);
	features_mrow_free(&g->cur);
	features_mrow_free(&g->ver);
	free(g->map);
	free(g->idx);
	buf_free(&g->k);
	buf_free(&g->v);
	buf_free(&g->vold);
	buf_free(&g->lo);
	buf_free(&g->hi);
}

/* Delete every row and version of M's table in B. */
static void drop_rows(struct store_batch *b, struct fmeta *m)
{
	features_range_delete(b, 'r', m->id);
	features_range_delete(b, 'v', m->id);
	m->rows = m->versions = m->fbytes = 0;
}

/* A change of rows: M (version and mtime moved on) goes into B, which is
 * written, with the rows of BK when not NULL. */
static int write_meta(struct store *s, struct store_batch *b,
		      struct store_bulk *bk, const char *name, struct fmeta *m,
		      struct mlfs_err *err)
{
	m->ver++;
	m->mtime = clock_now_ns();
	features_meta_put(b, name, m);
	return bk ? store_bulk_write(s, bk, b, err) : store_write(s, b, false, err);
}

/* When LOOKUP (a merge into stored rows), walk the table's latest rows
 * beside the written ones. */
static void merge_lookup(struct merge *g, bool lookup)
{
	g->lookup = lookup;
	if (!lookup)
		return;
	features_key_rows(&g->lo, 'r', g->m->id);
	features_key_rows(&g->hi, 'r', g->m->id + 1);
	g->it = store_iter_new(g->s, NULL, g->lo.data, g->lo.len, g->hi.data, g->hi.len);
	store_iter_seek_first(g->it);
}

/* Apply the stage to table NAME in batch B (under feat_lock): replace or
 * merge.  Updates M (to be written by the caller). */
static int apply_stage(struct store *s, const char *name, struct fmeta *m,
		       struct stage *st, bool replace, struct store_batch *b,
		       struct mlfs_err *err)
{
	struct merge g = { .s = s, .m = m, .st = st, .b = b, .err = err };
	int rc;

	if ((rc = stage_columns(m, st, replace)) ||
	    (rc = stage_keys_match(m, st, err)) || (rc = stage_order(&g)))
		goto out;
	if (replace)
		drop_rows(b, m);
	g.versioned = m->ts != NULL;
	merge_lookup(&g, !replace && m->rows > 0);
	for (size_t i = 0, j; i < st->nrows && !rc; i = j) {
		struct srow r0;
		srow_at(st, g.idx[i], &r0);
		for (j = i + 1; j < st->nrows; j++) {
			struct srow r;
			srow_at(st, g.idx[j], &r);
			if (r.klen != r0.klen || memcmp(r.key, r0.key, r0.klen))
				break;
		}
		bool have_old;
		uint64_t old_bytes;
		buf_reset(&g.k);
		features_key_rows(&g.k, 'r', m->id);
		buf_append(&g.k, r0.key, r0.klen);
		if ((rc = find_latest(&g, &have_old, &old_bytes)))
			break;
		if (!g.versioned)
			merge_latest(&g, i, j, have_old, old_bytes);
		else
			rc = merge_versions(&g, &r0, i, j, have_old, old_bytes);
	}
	if (!rc && g.it)
		rc = store_iter_status(g.it, err);
out:
	merge_free(&g);
	return rc;
}

/* ---- rows given encoded (features_write_records) ---- */

struct enc_rows {
	const struct features_rows *rows;
	features_record_fn record;
};

/* Can rows with the stage's columns go into M as they were encoded: the
 * same columns in the same order (or none yet), the keys first, no
 * timestamp_key (whose versions are records of their own)? */
static bool records_fit(const struct fmeta *m, const struct stage *st)
{
	if (m->ts)
		return false;
	for (uint32_t k = 0; k < st->nkeys; k++)
		if (st->keypos[k] != (int)k)
			return false;
	if (m->ncols == 0)
		return true;
	if (m->ncols != st->ncols)
		return false;
	for (uint32_t i = 0; i < st->ncols; i++)
		if (strcmp(m->names[i], st->cols[i]))
			return false;
	return true;
}

struct keyent {
	const char *k;
	size_t len, idx;
};

static int cmp_keyent(const void *pa, const void *pb)
{
	const struct keyent *a = pa, *b = pb;
	int c = memcmp(a->k, b->k, a->len < b->len ? a->len : b->len);
	if (c)
		return c;
	return (a->len > b->len) - (a->len < b->len);
}

/* E's rows in key order into *ORDER (NULL when they came in it); a key
 * given twice fails. */
static int records_order(const struct enc_rows *e, size_t **order,
			 struct mlfs_err *err)
{
	size_t n = e->rows->nrows, vl;
	const char *v;
	struct keyent *ents = malloc((n ? n : 1) * sizeof(*ents));
	bool sorted = true;
	int rc = 0;
	if (!ents)
		mlfs_oom();
	*order = NULL;
	for (size_t i = 0; i < n; i++) {
		e->record(e->rows->ctx, i, &ents[i].k, &ents[i].len, &v, &vl);
		ents[i].idx = i;
		if (i && sorted)
			sorted = cmp_keyent(&ents[i - 1], &ents[i]) < 0;
	}
	if (!sorted) {
		qsort(ents, n, sizeof(*ents), cmp_keyent);
		if (!(*order = malloc(n * sizeof(**order))))
			mlfs_oom();
		for (size_t i = 0; i < n && !rc; i++) {
			(*order)[i] = ents[i].idx;
			if (i && !cmp_keyent(&ents[i - 1], &ents[i]))
				rc = mlfs_fail(err, -EINVAL, "a key given twice; nothing written");
		}
	}
	free(ents);
	return rc;
}

/* One pool thread's share of apply_records: a contiguous run of the
 * rows in key order, its own lookups of the stored rows, its own bulk. */
struct apply_share {
	struct merge g;
	struct store_bulk *bk;
	uint64_t rows;		/* keys not stored before */
	uint64_t fbytes_add, fbytes_sub;
	const char *first, *last;	/* its first and last key */
	size_t first_len, last_len;
	bool unordered;		/* a key not above the one before it */
	int rc;
	struct mlfs_err err;
};

struct apply_job {
	struct fmeta *m;
	const struct enc_rows *e;
	const size_t *order;	/* NULL: the rows' own order */
	bool lookup;
	struct apply_share *sh;
};

static void apply_range(void *arg, int t, size_t lo, size_t hi)
{
	struct apply_job *j = arg;
	struct apply_share *a = &j->sh[t];
	struct merge *g = &a->g;
	a->bk = store_bulk_new();
	if ((a->rc = features_mrow_init(&g->cur, j->m->ncols)))
		return;
	if (hi > lo) {	/* room for the run's puts, keys sized as its first */
		const char *k, *v;
		size_t kl, vl;
		j->e->record(j->e->rows->ctx, j->order ? j->order[lo] : lo, &k, &kl, &v, &vl);
		store_bulk_reserve(a->bk, hi - lo, (hi - lo) * (kl + 16));
	}
	merge_lookup(g, j->lookup);
	for (size_t i = lo; i < hi && !a->rc; i++) {
		const char *k, *v;
		size_t kl, vl;
		bool have_old;
		uint64_t old_bytes;
		uint64_t fb = j->e->record(j->e->rows->ctx, j->order ? j->order[i] : i,
					   &k, &kl, &v, &vl);
		if (a->last && cmp_keyent(&(struct keyent){ a->last, a->last_len, 0 },
					  &(struct keyent){ k, kl, 0 }) >= 0) {
			a->unordered = true;
			return;
		}
		if (!a->first) {
			a->first = k;
			a->first_len = kl;
		}
		a->last = k;
		a->last_len = kl;
		buf_reset(&g->k);
		features_key_rows(&g->k, 'r', j->m->id);
		buf_append(&g->k, k, kl);
		if ((a->rc = find_latest(g, &have_old, &old_bytes)))
			break;
		store_bulk_put(a->bk, g->k.data, g->k.len, v, vl);
		a->rows += !have_old;
		a->fbytes_add += fb;
		a->fbytes_sub += old_bytes;
	}
	if (!a->rc && g->it)
		a->rc = store_iter_status(g->it, &a->err);
}

/* The rows of J in the order given across the pool; false when they
 * were not in key order (nothing of them is kept then). */
static bool apply_shares(struct store *s, struct stage *st, struct apply_job *j,
			 int nt)
{
	for (int t = 0; t < nt; t++)
		j->sh[t] = (struct apply_share){ .g = { .s = s, .m = j->m, .st = st } };
	for (int t = 0; t < nt; t++)
		j->sh[t].g.err = &j->sh[t].err;
	par_range(par_default(), j->e->rows->nrows, apply_range, j);
	bool ordered = true;
	const struct apply_share *prev = NULL;
	for (int t = 0; t < nt; t++) {
		const struct apply_share *a = &j->sh[t];
		ordered = ordered && !a->unordered;
		if (a->first && prev &&
		    cmp_keyent(&(struct keyent){ prev->last, prev->last_len, 0 },
			       &(struct keyent){ a->first, a->first_len, 0 }) >= 0)
			ordered = false;
		if (a->first)
			prev = a;
	}
	return ordered;
}

static void apply_shares_free(struct apply_share *sh, int nt)
{
	for (int t = 0; t < nt; t++) {
		merge_free(&sh[t].g);
		store_bulk_free(sh[t].bk);
		sh[t] = (struct apply_share){ 0 };
	}
}

/* Merge E's records into table M as the bulk BK, in key order (under
 * feat_lock), each as it was encoded: only the counts of M come from the
 * stored rows.  The rows are taken in the order given, split across the
 * pool (each thread its own run of keys, its own lookups); only when
 * they were not in key order are they sorted, and taken again. */
static int apply_records(struct store *s, struct fmeta *m, struct stage *st,
			 const struct enc_rows *e, struct store_bulk *bk,
			 struct mlfs_err *err)
{
	int nt = par_threads(par_default()) > 0 ? par_threads(par_default()) : 1;
	struct apply_job j = { .m = m, .e = e, .lookup = m->rows > 0,
			       .sh = calloc((size_t)nt, sizeof(*j.sh)) };
	size_t *order = NULL;
	int rc;

	if (!j.sh)
		mlfs_oom();
	if (!records_fit(m, st)) {
		free(j.sh);
		return mlfs_fail(err, -EAGAIN, "the table's columns changed during the write; nothing written");
	}
	if ((rc = stage_columns(m, st, false)) || (rc = stage_keys_match(m, st, err)))
		goto out;
	if (!apply_shares(s, st, &j, nt)) {
		apply_shares_free(j.sh, nt);
		if ((rc = records_order(e, &order, err)))
			goto out;
		j.order = order;
		if (!apply_shares(s, st, &j, nt)) {
			rc = mlfs_fail(err, -EIO, "rows out of key order after sorting them; nothing written");
			goto out;
		}
	}
	for (int t = 0; t < nt && !rc; t++) {
		struct apply_share *a = &j.sh[t];
		if ((rc = a->rc)) {
			if (err)
				*err = a->err;
			break;
		}
		if (a->bk)
			store_bulk_join(bk, a->bk);	/* BK owns it now */
		a->bk = NULL;
		m->rows += a->rows;
		m->versions += a->rows;
		m->fbytes += a->fbytes_add - a->fbytes_sub;
	}
out:
	apply_shares_free(j.sh, nt);
	free(j.sh);
	free(order);
	return rc;
}

/* Load meta of NAME expecting id ID, apply ST (or the records E), write
 * meta and EXTRA texts in one batch. */
static int commit_stage(struct store *s, const char *name, uint64_t id,
			struct stage *st, bool replace, bool empty_only,
			const struct enc_rows *e,
			const struct features_text_put *extra, size_t nextra,
			struct mlfs_err *err)
{
	struct fmeta m;
	int rc;

	pthread_mutex_lock(FEAT_LOCK(s));
	rc = features_meta_load(s, NULL, name, &m);
	if (rc || (id && m.id != id)) {
		if (!rc)
			features_meta_free(&m);
		pthread_mutex_unlock(FEAT_LOCK(s));
		return mlfs_fail(err, -ENOENT, "feature table '%s' was dropped during the write", name);
	}
	struct store_batch *b = store_batch_new();
	struct store_bulk *bk = e && !empty_only ? store_bulk_new() : NULL;
	if (empty_only)
		drop_rows(b, &m);
	else if (e)
		rc = apply_records(s, &m, st, e, bk, err);
	else
		rc = apply_stage(s, name, &m, st, replace, b, err);
	if (!rc) {
		for (size_t i = 0; i < nextra; i++)
			features_text_put(b, m.id, (char)extra[i].what, extra[i].text, extra[i].len);
		rc = write_meta(s, b, bk, name, &m, err);
	}
	store_bulk_free(bk);
	store_batch_free(b);
	pthread_mutex_unlock(FEAT_LOCK(s));
	features_meta_free(&m);
	return rc;
}

/* ---- the CSV writer ---- */

/* Keys seen by a replace writer: hash -> line, key bytes in `keys`. */
struct seen {
	uint64_t h, line, off;
	uint32_t len;
	uint32_t used;
};

struct features_writer {
	struct store *s;
	char name[TABLE_NAME_MAX + 1];
	uint64_t id;
	bool replace, committed, dirty;
	/* The text's front end: header rule, checks, types and the failure
	 * latch (ingest.h).  It borrows tnames and ttypes. */
	struct ingest *in;
	/* The table at open. */
	uint32_t tcols;
	char **tnames;
	enum col_type *ttypes;	/* tcols types, NULL when none */
	char **keys;
	uint32_t nkeys;
	char *ts;
	/* The keys and ts: a first line of >> holding them all is a header. */
	const char **need;
	struct stage st;
	struct buf key;
	struct seen *seen;
	size_t nseen, capseen;
	struct buf seen_keys;
	const char **fp;
	size_t *fl;
	size_t fcap;
};

static int seen_grow(struct features_writer *w)
{
	size_t cap = w->capseen ? 2 * w->capseen : 1024;
	struct seen *n = calloc(cap, sizeof(*n));
	if (!n)
		return -ENOMEM;
	for (size_t i = 0; i < w->capseen; i++) {
		if (!w->seen[i].used)
			continue;
		size_t j = w->seen[i].h & (cap - 1);
		while (n[j].used)
			j = (j + 1) & (cap - 1);
		n[j] = w->seen[i];
	}
	free(w->seen);
	w->seen = n;
	w->capseen = cap;
	return 0;
}

/* Record KEY at LINE; a repeat fails naming both lines. */
static int seen_check(struct features_writer *w, const struct buf *key,
		      uint64_t line, struct mlfs_err *err)
{
	if (2 * (w->nseen + 1) > w->capseen && seen_grow(w))
		return -ENOMEM;
	uint64_t h = hash64(key->data, key->len, 0);
	size_t j = h & (w->capseen - 1);
	while (w->seen[j].used) {
		struct seen *e = &w->seen[j];
		if (e->h == h && e->len == key->len &&
		    !memcmp(w->seen_keys.data + e->off, key->data, key->len)) {
			struct buf txt = { 0 };
			features_dec_key(key->data, key->len, w->st.nkeys, &txt);
			int rc = mlfs_fail(err, -EINVAL, "line %llu: duplicate key '%s' (first on line %llu); nothing written",
					   (unsigned long long)line, txt.data ? txt.data : "",
					   (unsigned long long)e->line);
			buf_free(&txt);
			return rc;
		}
		j = (j + 1) & (w->capseen - 1);
	}
	w->seen[j] = (struct seen){ h, line, w->seen_keys.len, (uint32_t)key->len, 1 };
	w->nseen++;
	return buf_append(&w->seen_keys, key->data, key->len);
}

static int w_fields(struct features_writer *w, const struct csv_field *f,
		    size_t n)
{
	if (n > w->fcap) {
		const char **p = realloc(w->fp, n * sizeof(*p));
		if (!p)
			return -ENOMEM;
		w->fp = p;
		size_t *l = realloc(w->fl, n * sizeof(*l));
		if (!l)
			return -ENOMEM;
		w->fl = l;
		w->fcap = n;
	}
	for (size_t i = 0; i < n; i++) {
		w->fp[i] = f[i].p;
		w->fl[i] = f[i].len;
	}
	return 0;
}

/* The ingest sink: the write's columns are known; the keys and the
 * timestamp_key must be among them. */
static int on_columns(void *ctx, bool header, uint64_t line,
		      struct mlfs_err *err)
{
	struct features_writer *w = ctx;
	uint32_t n = ingest_ncols(w->in);
	char *const *names = ingest_names(w->in);
	size_t *lens = calloc(n ? n : 1, sizeof(size_t));
	(void)header;
	if (!lens)
		return -ENOMEM;
	for (uint32_t c = 0; c < n; c++)
		lens[c] = strlen(names[c]);
	int rc = stage_header(&w->st, (const char *const *)names, lens, n,
			      w->keys, w->nkeys, w->ts, line, err);
	free(lens);
	return rc;
}

/* The ingest sink: one checked, typed row, staged until the commit. */
static int on_row(void *ctx, const struct csv_field *f, size_t n,
		  uint64_t line, struct mlfs_err *err)
{
	struct features_writer *w = ctx;
	int64_t ts;
	int rc;

	if ((rc = w_fields(w, f, n)) ||
	    (rc = stage_row(&w->st, w->fp, w->fl, (uint32_t)n, line, false,
			    &w->key, &ts, err)))
		return rc;
	if (w->replace) {
		if (w->st.tspos >= 0)
			features_put_i64_key(&w->key, ts);
		if ((rc = seen_check(w, &w->key, line, err)))
			return rc;
	}
	w->dirty = true;
	return 0;
}

int features_writer_open(struct store *s, const char *name, bool replace,
			 struct features_writer **out, struct mlfs_err *err)
{
	static const struct ingest_sink sink = { on_columns, on_row, NULL };
	struct fmeta m;
	int rc = features_meta_load(s, NULL, name, &m);
	if (rc)
		return rc == -ENOENT ? rc : mlfs_fail(err, rc, "feature table '%s': unreadable metadata", name);
	struct features_writer *w = calloc(1, sizeof(*w));
	if (!w) {
		features_meta_free(&m);
		return -ENOMEM;
	}
	w->s = s;
	snprintf(w->name, sizeof(w->name), "%s", name);
	w->id = m.id;
	w->replace = replace;
	w->st.tspos = -1;
	/* Take the table's names, keys and ts over from the meta. */
	w->tcols = m.ncols;
	w->tnames = m.names;
	w->ttypes = m.types;
	m.names = NULL;
	m.types = NULL;
	m.ncols = 0;
	if (m.nkeys) {
		w->keys = m.keys;
		w->nkeys = m.nkeys;
		m.keys = NULL;
		m.nkeys = 0;
	} else if (w->tcols && !replace) {
		/* Merge into a table keyed by default: its first column. */
		w->keys = calloc(1, sizeof(char *));
		if (w->keys && (w->keys[0] = strdup(w->tnames[0])))
			w->nkeys = 1;
	}
	w->ts = m.ts;
	m.ts = NULL;
	features_meta_free(&m);
	/* A header on >> may name some of the columns, or new ones, but
	 * always the keys and the ts: holding them all makes it one. */
	uint32_t nneed = w->nkeys + (w->ts != NULL);
	w->need = calloc(nneed ? nneed : 1, sizeof(*w->need));
	if (!w->need)
		mlfs_oom();
	for (uint32_t k = 0; k < w->nkeys; k++)
		w->need[k] = w->keys[k];
	if (w->ts)
		w->need[w->nkeys] = w->ts;
	struct ingest_table t = {
		.ncols = w->tcols, .names = w->tnames, .types = w->ttypes,
		.replace = replace, .header = INGEST_ANY_COLUMNS,
		.need = w->need, .nneed = nneed,
	};
	if ((rc = ingest_new(&t, &sink, w, &w->in))) {
		features_writer_free(w);
		return rc;
	}
	*out = w;
	return 0;
}

int features_writer_write(struct features_writer *w, const char *data,
			  size_t len, struct mlfs_err *err)
{
	return ingest_write(w->in, data, len, err);
}

int features_writer_commit(struct features_writer *w, bool final,
			   struct mlfs_err *err)
{
	int rc = ingest_flush(w->in, err);
	if (rc)
		return rc;
	bool cols = ingest_has_columns(w->in);
	bool replace_now = w->replace && !w->committed;
	if (!w->dirty && !(final && replace_now))
		return 0;
	if (!cols) {
		rc = commit_stage(w->s, w->name, w->id, NULL, true, true, NULL, NULL, 0, err);
	} else {
		/* The types the front end inferred over every row so far. */
		memcpy(w->st.types, ingest_types(w->in), w->st.ncols * sizeof(*w->st.types));
		rc = commit_stage(w->s, w->name, w->id, &w->st, replace_now, false, NULL, NULL, 0, err);
	}
	if (rc)
		return ingest_fail(w->in, rc);
	stage_reset_rows(&w->st);
	w->committed = true;
	w->dirty = false;
	return 0;
}

bool features_writer_failed(const struct features_writer *w)
{
	return ingest_failed(w->in);
}

void features_writer_free(struct features_writer *w)
{
	if (!w)
		return;
	ingest_free(w->in);
	features_free_names(w->tnames, w->tcols);
	free(w->ttypes);
	features_free_names(w->keys, w->nkeys);
	free(w->ts);
	free(w->need);
	stage_free(&w->st);
	buf_free(&w->key);
	free(w->seen);
	buf_free(&w->seen_keys);
	free(w->fp);
	free(w->fl);
	free(w);
}

/* Room for all of ROWS in the stage at once: the arena of a refresh's
 * million rows grown by doubling would be copied (and faulted in) about
 * twice over.  A pass over the fields' lengths sizes it. */
static void stage_reserve(struct stage *st, const struct features_rows *rows)
{
	size_t bytes = 0, len;
	for (size_t r = 0; r < rows->nrows; r++)
		for (uint32_t c = 0; c < rows->ncols; c++)
			if (rows->field(rows->ctx, r, c, &len))
				bytes += len;
	/* per row: the key (its fields + 9 bytes per key field at most),
	 * klen, ts, line, nf, and a length per field */
	bytes += rows->nrows * (4 + 8 + 8 + 4 + (size_t)rows->ncols * 4 + 9 * (size_t)st->nkeys);
	buf_reserve(&st->arena, bytes);
	if (rows->nrows > st->cap) {
		uint64_t *o = realloc(st->offs, rows->nrows * sizeof(*o));
		if (!o)
			mlfs_oom();
		st->offs = o;
		st->cap = rows->nrows;
	}
}

/* features_write_rows, and with E features_write_records: the rows are
 * staged as text unless their records can be stored as they are. */
static int write_rows(struct store *s, const char *name,
		      const struct features_rows *rows, bool replace,
		      const struct enc_rows *e,
		      const struct features_text_put *extra, size_t nextra,
		      struct mlfs_err *err)
{
	struct fmeta m;
	struct stage st = { .tspos = -1 };
	struct buf key = { 0 };
	const char **fp = NULL;
	size_t *fl = NULL;
	int rc = features_meta_load(s, NULL, name, &m);
	if (rc)
		return rc;
	size_t *lens = calloc(rows->ncols + 1, sizeof(size_t));
	fp = calloc(rows->ncols + 1, sizeof(*fp));
	fl = calloc(rows->ncols + 1, sizeof(*fl));
	if (!lens || !fp || !fl) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint32_t c = 0; c < rows->ncols; c++)
		lens[c] = strlen(rows->names[c]);
	char **keys = m.keys;
	uint32_t nkeys = m.nkeys;
	if (!nkeys && m.ncols && !replace) {
		keys = m.names;
		nkeys = 1;
	}
	if ((rc = stage_header(&st, rows->names, lens, rows->ncols, keys, nkeys,
			       m.ts, 1, err)))
		goto out;
	for (uint32_t c = 0; c < rows->ncols; c++)
		st.types[c] = rows->types ? rows->types[c] : COL_NULL;
	if (e && rows->types && !replace && records_fit(&m, &st)) {
		rc = commit_stage(s, name, m.id, &st, false, false, e, extra, nextra, err);
		goto out;
	}
	stage_reserve(&st, rows);
	for (size_t r = 0; r < rows->nrows; r++) {
		int64_t ts;
		for (uint32_t c = 0; c < rows->ncols; c++) {
			fp[c] = rows->field(rows->ctx, r, c, &fl[c]);
			if (!fp[c])
				fl[c] = 0;
		}
		if ((rc = stage_row(&st, fp, fl, rows->ncols, r + 2, !rows->types, &key, &ts, err)))
			goto out;
	}
	rc = commit_stage(s, name, m.id, &st, replace, false, NULL, extra, nextra, err);
out:
	features_meta_free(&m);
	stage_free(&st);
	buf_free(&key);
	free(lens);
	free(fp);
	free(fl);
	return rc;
}

int features_write_rows(struct store *s, const char *name,
			const struct features_rows *rows, bool replace,
			const struct features_text_put *extra, size_t nextra,
			struct mlfs_err *err)
{
	return write_rows(s, name, rows, replace, NULL, extra, nextra, err);
}

int features_write_records(struct store *s, const char *name,
			   const struct features_rows *rows,
			   features_record_fn record,
			   const struct features_text_put *extra, size_t nextra,
			   struct mlfs_err *err)
{
	struct enc_rows e = { rows, record };
	return write_rows(s, name, rows, false, &e, extra, nextra, err);
}

int features_delete_key(struct store *s, const char *name, const char *key,
			struct mlfs_err *err)
{
	struct fmeta m;
	const char *parts[FEAT_MAX_KEYS];
	size_t lens[FEAT_MAX_KEYS];
	struct buf k = { 0 }, v = { 0 }, hi = { 0 };
	struct mrow row = { 0 };
	struct dec *d = NULL;
	int rc;

	pthread_mutex_lock(FEAT_LOCK(s));
	if ((rc = features_meta_load(s, NULL, name, &m)))
		goto out;
	uint32_t nk = m.nkeys ? m.nkeys : 1;
	if (!m.ncols || !features_split_key(key, nk, parts, lens)) {
		rc = -ENOENT;
		goto out_meta;
	}
	features_key_rows(&k, 'r', m.id);
	for (uint32_t i = 0; i < nk; i++)
		features_enc_key_field(&k, parts[i], lens[i]);
	if ((rc = store_get(s, NULL, k.data, k.len, &v, err)))
		goto out_meta;
	if ((rc = features_mrow_init(&row, m.ncols)) || (rc = features_mrow_load(&row, v.data, v.len, &d)))
		goto out_meta;
	struct store_batch *b = store_batch_new();
	store_batch_delete(b, k.data, k.len);
	uint64_t nver = 1;
	if (m.ts) {
		/* Versions live under the same key bytes with 'v'. */
		k.data[2] = 'v';
		buf_append(&hi, k.data, k.len);
		buf_append(&hi, "\xff\xff\xff\xff\xff\xff\xff\xff\xff", 9);
		struct store_iter *it = store_iter_new(s, NULL, k.data, k.len, hi.data, hi.len);
		nver = 0;
		for (store_iter_seek_first(it); store_iter_valid(it); store_iter_next(it))
			nver++;
		store_iter_free(it);
		store_batch_delete_range(b, k.data, k.len, hi.data, hi.len);
	}
	m.rows--;
	m.versions -= nver <= m.versions ? nver : m.versions;
	m.fbytes -= features_mrow_bytes(&row);
	rc = write_meta(s, b, NULL, name, &m, err);
	store_batch_free(b);
out_meta:
	features_meta_free(&m);
out:
	pthread_mutex_unlock(FEAT_LOCK(s));
	codec_dec_free(d);
	features_mrow_free(&row);
	buf_free(&k);
	buf_free(&v);
	buf_free(&hi);
	return rc;
}
