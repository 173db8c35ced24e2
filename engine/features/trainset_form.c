/* trainset_form.c - the typed columnar form of a feature table version:
 * its latest rows as columns of typed chunks (columnar.h's chunk
 * encoding), read by training sets instead of decoding every stored row.
 *
 * Records (docs/store-format.md, "Columnar form of a feature table"), ID
 * the table's id and VER its meta version, big-endian in keys:
 *   f/k/ID VER              manifest: columns, key flags, rows, chunks, sums
 *   f/k/ID VER COL IDX      column COL (u32) of chunk IDX (range << 32 | n)
 *   f/k/ID VER 'o'          a remote store's build in flight: {o: OWNER}
 * A chunk of a key column holds int64 when every key of it is a canonical
 * int, of another numeric column the doubles frame.c reads from its
 * texts when every text reads as one, else the texts (nulls: a bitmap).
 * States: absent -> building (the first large training set of version
 * VER, under form_lock: the table's other forms are deleted, the rows of
 * a snapshot of VER are read by key ranges across the pool into chunks)
 * -> whole (the manifest, written after every chunk with the owner
 * record's deletion) -> absent (the next version's build, a drop, or the
 * next mount once VER is not the table's current version).  A build cut short leaves chunks no manifest
 * names: never read, removed at the next mount (on a remote store while
 * others live: by the leader's sweep once its owner's session is dead,
 * trainset_form_sweep_dead; the owner record f/k/ID VER 'o', columnar.h).
 * Only a whole form of the table's current version, of the same columns,
 * types and keys, is read.
 * This file owns f/k/. */
#include "features_int.h"
#include "trainset.h"
#include "trainset_int.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "columnar.h"
#include "par.h"

size_t trainset_form_min_bytes = 1u << 20;
unsigned trainset_form_test_stop_after;
unsigned long trainset_form_test_builds, trainset_form_test_reads;

static const char form_lock_key;

#define FORM_FORMAT 1u
#define FORM_ROWS COLUMNAR_CHUNK_ROWS
#define HEAD 24u		/* u32 format, u32 ncols, u64 rows, u64 nchunks */
#define PER_COL 10u		/* u8 type, u8 key, u64 sum */
#define PER_CHUNK 12u		/* u64 idx, u32 rows */
#define BLOCK 256

struct form_chunk {
	uint64_t idx, first;
	uint32_t rows;
};

struct form {
	uint64_t id, ver, rows;
	uint32_t ncols;
	uint8_t *types, *key;
	uint64_t *sums;
	struct form_chunk *chunks;
	size_t nchunks;
};

/* ---- keys and the manifest ---- */

static void key_form(struct buf *k, uint64_t id, uint64_t ver)
{
	features_key_rows(k, 'k', id);
	key_put_u64(k, ver);
}

static void key_chunk(struct buf *k, uint64_t id, uint64_t ver, uint32_t col, uint64_t idx)
{
	key_form(k, id, ver);
	unsigned char c[4] = { col >> 24, col >> 16, col >> 8, col };
	buf_append(k, c, 4);
	key_put_u64(k, idx);
}

static void form_free(struct form *f)
{
	if (!f)
		return;
	free(f->types);
	free(f->key);
	free(f->sums);
	free(f->chunks);
	free(f);
}

static struct form *form_new(uint64_t id, uint64_t ver, uint32_t ncols, size_t nchunks)
{
	struct form *f = calloc(1, sizeof(*f));
	if (!f || !(f->types = calloc(ncols + 1, 1)) || !(f->key = calloc(ncols + 1, 1)) ||
	    !(f->sums = calloc(ncols + 1, 8)) || !(f->chunks = calloc(nchunks + 1, sizeof(*f->chunks))))
		mlfs_oom();
	f->id = id;
	f->ver = ver;
	f->ncols = ncols;
	f->nchunks = nchunks;
	return f;
}

static void manifest_encode(const struct form *f, struct buf *out)
{
	uint32_t fmt = FORM_FORMAT;
	uint64_t nch = f->nchunks;
	buf_reset(out);
	buf_append(out, &fmt, 4);
	buf_append(out, &f->ncols, 4);
	buf_append(out, &f->rows, 8);
	buf_append(out, &nch, 8);
	for (uint32_t c = 0; c < f->ncols; c++) {
		buf_putc(out, (char)f->types[c]);
		buf_putc(out, (char)f->key[c]);
		buf_append(out, &f->sums[c], 8);
	}
	for (size_t i = 0; i < f->nchunks; i++) {
		buf_append(out, &f->chunks[i].idx, 8);
		buf_append(out, &f->chunks[i].rows, 4);
	}
}

/* The whole form of version VER of table ID (SNAP or the latest), or
 * NULL: none, or a manifest that does not decode (a leftover). */
static struct form *form_load(struct store *s, const struct store_snapshot *snap,
			      uint64_t id, uint64_t ver)
{
	struct buf k = { 0 }, v = { 0 };
	key_form(&k, id, ver);
	struct form *f = NULL;
	uint32_t fmt, ncols;
	uint64_t rows, nch, first = 0;
	if (store_get(s, snap, k.data, k.len, &v, NULL) || v.len < HEAD)
		goto out;
	memcpy(&fmt, v.data, 4);
	memcpy(&ncols, v.data + 4, 4);
	memcpy(&rows, v.data + 8, 8);
	memcpy(&nch, v.data + 16, 8);
	if (fmt != FORM_FORMAT || ncols > TABLE_MAX_COLUMNS || nch > v.len ||
	    v.len != HEAD + (size_t)ncols * PER_COL + nch * PER_CHUNK)
		goto out;
	f = form_new(id, ver, ncols, (size_t)nch);
	const char *p = v.data + HEAD;
	for (uint32_t c = 0; c < ncols; c++, p += PER_COL) {
		f->types[c] = (uint8_t)p[0];
		f->key[c] = (uint8_t)p[1];
		memcpy(&f->sums[c], p + 2, 8);
	}
	for (size_t i = 0; i < nch; i++, p += PER_CHUNK) {
		memcpy(&f->chunks[i].idx, p, 8);
		memcpy(&f->chunks[i].rows, p + 8, 4);
		f->chunks[i].first = first;
		first += f->chunks[i].rows;
	}
	f->rows = rows;
	if (first != rows) {
		form_free(f);
		f = NULL;
	}
out:
	buf_free(&k);
	buf_free(&v);
	return f;
}

/* Is meta column C of M a key column? */
static bool meta_key(const struct fmeta *m, uint32_t c)
{
	for (uint32_t k = 0; k < m->nkeys; k++)
		if (!strcmp(m->keys[k], m->names[c]))
			return true;
	return false;
}

/* Was F built from M's columns, types and keys? */
static bool form_fits(const struct form *f, const struct fmeta *m)
{
	if (f->ncols != m->ncols || f->ver != m->ver)
		return false;
	for (uint32_t c = 0; c < m->ncols; c++)
		if (f->types[c] != (uint8_t)m->types[c] || f->key[c] != meta_key(m, c))
			return false;
	return true;
}

/* ---- building chunks from rows ---- */

/* A column's pending texts (one chunk's rows). */
struct pend {
	struct buf text;
	uint32_t *end;		/* FORM_ROWS + 1: end[0] 0, end[r + 1] row r's end */
	uint8_t *null;		/* per row: NULL_LEN (1) or empty (2) */
};

/* One range's rows being cut into chunks (or, for the check, one pass). */
struct cutter {
	const struct fmeta *m;
	struct pend *cols;
	uint32_t n;		/* pending rows */
	uint8_t *bits;		/* a null bitmap */
	int64_t *iv;
	double *fv;
	struct buf val;
};

static void cutter_init(struct cutter *cu, const struct fmeta *m)
{
	memset(cu, 0, sizeof(*cu));
	cu->m = m;
	if (!(cu->cols = calloc(m->ncols + 1, sizeof(*cu->cols))) ||
	    !(cu->bits = malloc(FORM_ROWS / 8)) || !(cu->iv = malloc(FORM_ROWS * 8)) ||
	    !(cu->fv = malloc(FORM_ROWS * 8)))
		mlfs_oom();
	for (uint32_t c = 0; c < m->ncols; c++)
		if (!(cu->cols[c].end = calloc(FORM_ROWS + 1, 4)) ||
		    !(cu->cols[c].null = malloc(FORM_ROWS)))
			mlfs_oom();
}

static void cutter_free(struct cutter *cu)
{
	for (uint32_t c = 0; cu->cols && c < cu->m->ncols; c++) {
		buf_free(&cu->cols[c].text);
		free(cu->cols[c].end);
		free(cu->cols[c].null);
	}
	free(cu->cols);
	free(cu->bits);
	free(cu->iv);
	free(cu->fv);
	buf_free(&cu->val);
}

static void cutter_add(struct cutter *cu, const char *const *p, const size_t *len)
{
	uint32_t r = cu->n++;
	for (uint32_t c = 0; c < cu->m->ncols; c++) {
		struct pend *pc = &cu->cols[c];
		bool null = len[c] == NULL_LEN;
		if (!null)
			buf_append(&pc->text, p[c], len[c]);
		pc->null[r] = null ? 1 : len[c] == 0 ? 2 : 0;
		pc->end[r + 1] = (uint32_t)pc->text.len;
	}
}

/* Column C's pending rows as typed values in V (int keys, frame numbers)
 * when every one reads so; false: keep the texts. */
static bool pend_typed(struct cutter *cu, uint32_t c, struct col_vec *v)
{
	const struct pend *pc = &cu->cols[c];
	bool key = meta_key(cu->m, c), any = false;
	if (!key && cu->m->types[c] == COL_STRING)
		return false;
	memset(cu->bits, 0, (cu->n + 7) / 8);
	for (uint32_t r = 0; r < cu->n; r++) {
		const char *s = pc->text.data + pc->end[r];
		size_t len = pc->end[r + 1] - pc->end[r];
		if (pc->null[r]) {
			cu->bits[r >> 3] |= (uint8_t)(1u << (r & 7));
			cu->iv[r] = 0;
			cu->fv[r] = NAN;
			any = true;
		} else if (key ? !ts_canonical_int(s, len, &cu->iv[r]) :
			   !ts_frame_number(s, len, &cu->fv[r])) {
			return false;
		}
	}
	*v = (struct col_vec){ .type = key ? COL_INT : COL_FLOAT, .n = cu->n,
			       .nulls = any ? cu->bits : NULL };
	if (key)
		v->i = cu->iv;
	else
		v->f = cu->fv;
	return true;
}

/* Column C of the pending rows as one chunk value in cu->val; returns
 * its checksum. */
static uint64_t cutter_seal(struct cutter *cu, uint32_t c)
{
	struct col_vec v;
	if (!pend_typed(cu, c, &v)) {
		const struct pend *pc = &cu->cols[c];
		bool any = false;
		memset(cu->bits, 0, (cu->n + 7) / 8);
		for (uint32_t r = 0; r < cu->n; r++)
			if (pc->null[r] == 1) {
				cu->bits[r >> 3] |= (uint8_t)(1u << (r & 7));
				any = true;
			}
		v = (struct col_vec){ .type = COL_STRING, .n = cu->n, .nulls = any ? cu->bits : NULL,
				      .off = pc->end, .bytes = pc->text.data };
	}
	columnar_chunk_encode(&v, &cu->val);
	return columnar_vec_sum(&v, 0);
}

static void cutter_reset(struct cutter *cu)
{
	for (uint32_t c = 0; c < cu->m->ncols; c++)
		buf_reset(&cu->cols[c].text);
	cu->n = 0;
}

/* A column's checksum over chunks: each chunk's, by its position. */
static uint64_t sum_add(uint64_t acc, size_t chunk, uint64_t sum)
{
	return acc + sum * (2 * (uint64_t)chunk + 1);
}

/* ---- the build ---- */

struct built {
	uint64_t idx;
	uint32_t rows;
	uint64_t *sums;
};

struct brange {
	struct fbuild *b;
	uint32_t no;
	struct cutter cu;
	struct buf key;
	struct built *out;
	size_t nout, cap;
	int rc;
	struct mlfs_err err;
};

struct fbuild {
	struct store *s;
	const struct store_snapshot *snap;
	const struct fmeta *m;
	const struct buf *bound;
	struct brange *r;
	unsigned written;
	pthread_mutex_t lock;
};

/* Write the range's pending rows as one chunk: a batch of a value per
 * column. */
static int brange_flush(struct brange *br)
{
	struct fbuild *b = br->b;
	uint32_t ncols = b->m->ncols;
	if (!br->cu.n)
		return 0;
	if (trainset_form_test_stop_after) {
		pthread_mutex_lock(&b->lock);
		bool stop = b->written++ >= trainset_form_test_stop_after;
		pthread_mutex_unlock(&b->lock);
		if (stop)
			return mlfs_fail(&br->err, -EINTR, "feature form build stopped (test)");
	}
	if (br->nout == br->cap) {
		br->cap = br->cap ? 2 * br->cap : 16;
		if (!(br->out = realloc(br->out, br->cap * sizeof(*br->out))))
			mlfs_oom();
	}
	struct built *ch = &br->out[br->nout++];
	ch->idx = (uint64_t)br->no << 32 | (br->nout - 1);
	ch->rows = br->cu.n;
	if (!(ch->sums = calloc(ncols + 1, 8)))
		mlfs_oom();
	struct store_batch *batch = store_batch_new();
	for (uint32_t c = 0; c < ncols; c++) {
		ch->sums[c] = cutter_seal(&br->cu, c);
		key_chunk(&br->key, b->m->id, b->m->ver, c, ch->idx);
		store_batch_put(batch, br->key.data, br->key.len, br->cu.val.data, br->cu.val.len);
	}
	cutter_reset(&br->cu);
	int rc = store_write(b->s, batch, false, &br->err);
	store_batch_free(batch);
	return rc;
}

static int build_row(void *ctx, const char *const *p, const size_t *len, struct mlfs_err *err)
{
	struct brange *br = ctx;
	(void)err;
	cutter_add(&br->cu, p, len);
	bool full = br->cu.n == FORM_ROWS;
	for (uint32_t c = 0; !full && c < br->cu.m->ncols; c++)
		full = br->cu.cols[c].text.len > (1u << 30);	/* u32 offsets */
	return full ? brange_flush(br) : 0;
}

static void build_range(void *arg, size_t i)
{
	struct fbuild *b = arg;
	struct brange *br = &b->r[i];
	br->rc = ts_rows_each(b->s, b->snap, b->m->ncols, &b->bound[i], &b->bound[i + 1],
			      build_row, br, &br->err);
	if (!br->rc)
		br->rc = brange_flush(br);
}

/* The manifest of the built ranges, in key order. */
static struct form *build_manifest(const struct fbuild *b, size_t nrange)
{
	size_t nch = 0, k = 0;
	for (size_t i = 0; i < nrange; i++)
		nch += b->r[i].nout;
	struct form *f = form_new(b->m->id, b->m->ver, b->m->ncols, nch);
	for (uint32_t c = 0; c < f->ncols; c++) {
		f->types[c] = (uint8_t)b->m->types[c];
		f->key[c] = meta_key(b->m, c);
	}
	for (size_t i = 0; i < nrange; i++)
		for (size_t j = 0; j < b->r[i].nout; j++, k++) {
			const struct built *ch = &b->r[i].out[j];
			f->chunks[k] = (struct form_chunk){ ch->idx, f->rows, ch->rows };
			f->rows += ch->rows;
			for (uint32_t c = 0; c < f->ncols; c++)
				f->sums[c] = sum_add(f->sums[c], k, ch->sums[c]);
		}
	return f;
}

/* Delete table ID's forms; OWN: and record this process as the owner of
 * the build of version VER (a remote store's, columnar.h). */
static int delete_range(struct store *s, uint64_t id, bool own, uint64_t ver,
			struct mlfs_err *err)
{
	struct store_batch *b = store_batch_new();
	struct buf k = { 0 };
	features_range_delete(b, 'k', id);
	key_form(&k, id, ver);
	if (own)
		columnar_owner_put(s, b, &k);
	int rc = store_write(s, b, false, err);
	store_batch_free(b);
	buf_free(&k);
	return rc;
}

/* Write F's manifest, with the deletion of its build's owner record: the
 * form is whole from here on.  A build whose owner record a sweep took
 * (its session taken for dead, trainset_form_sweep_dead) lost its
 * chunks: -EIO, nothing written. */
static int manifest_write(struct store *s, const struct form *f, struct mlfs_err *err)
{
	struct buf k = { 0 }, v = { 0 };
	struct store_batch *b = store_batch_new();
	key_form(&k, f->id, f->ver);
	int rc = columnar_owner_take(s, b, &k);
	if (rc == -ENOENT)
		rc = mlfs_fail(err, -EIO, "the chunks of a feature table's columnar form were "
			       "removed (its session was taken for dead)");
	manifest_encode(f, &v);
	store_batch_put(b, k.data, k.len, v.data, v.len);
	if (!rc)
		rc = store_write(s, b, false, err);
	store_batch_free(b);
	buf_free(&k);
	buf_free(&v);
	return rc;
}

/* Build the form of M (read in SNAP) from its rows in ranges BOUND[0..N]
 * and write its manifest last.  Under form_lock. */
static int form_build(struct store *s, const struct store_snapshot *snap,
		      const struct fmeta *m, const struct buf *bound, size_t n,
		      struct mlfs_err *err)
{
	struct fbuild b = { .s = s, .snap = snap, .m = m, .bound = bound,
			  .r = calloc(n + 1, sizeof(struct brange)) };
	if (!b.r)
		mlfs_oom();
	pthread_mutex_init(&b.lock, NULL);
	/* older forms, builds cut short go; this build's owner comes */
	int rc = delete_range(s, m->id, true, m->ver, err);
	for (size_t i = 0; i < n; i++) {
		b.r[i].b = &b;
		b.r[i].no = (uint32_t)i;
		cutter_init(&b.r[i].cu, m);
	}
	if (!rc)
		par_for(par_default(), n, build_range, &b);
	for (size_t i = 0; i < n && !rc; i++)
		if ((rc = b.r[i].rc) && err)
			*err = b.r[i].err;
	if (!rc) {
		struct form *f = build_manifest(&b, n);
		rc = manifest_write(s, f, err);
		__atomic_add_fetch(&trainset_form_test_builds, !rc, __ATOMIC_RELAXED);
		form_free(f);
	}
	if (rc && rc != -EINTR)
		delete_range(s, m->id, false, 0, NULL);	/* -EINTR: the test's crash leaves it */
	for (size_t i = 0; i < n; i++) {
		cutter_free(&b.r[i].cu);
		for (size_t j = 0; j < b.r[i].nout; j++)
			free(b.r[i].out[j].sums);
		free(b.r[i].out);
		buf_free(&b.r[i].key);
	}
	free(b.r);
	pthread_mutex_destroy(&b.lock);
	return rc;
}

/* ---- reading a form into index segments ---- */

struct load {
	struct store *s;
	const struct form *f;
	const struct ts_layout *lay;
	struct ts_seg *seg;
	bool *failed;		/* per thread */
	bool *int_no_text;	/* per thread: int keys kept without text */
};

/* Key column K of a chunk's rows V into rows BASE.. of G. */
static bool load_key(struct load *ld, struct ts_seg *g, size_t base, int k,
		     const struct col_vec *v, int t)
{
	const struct ts_layout *lay = ld->lay;
	char tmp[24];
	for (size_t r = 0; r < v->n; r++) {
		struct ts_ref *ref = &g->keys[(base + r) * lay->nkeys + (size_t)k];
		if (col_vec_null(v, r)) {
			*ref = (struct ts_ref){ 0, NULL_LEN };
		} else if (v->off) {
			ts_seg_key(g, lay, base + r, k, v->bytes + v->off[r], v->off[r + 1] - v->off[r]);
		} else if (lay->nkeys == 1) {
			g->ikey[base + r] = v->i[r];
			*ref = (struct ts_ref){ 0, 0 };
			ld->int_no_text[t] = true;
		} else {
			int len = snprintf(tmp, sizeof(tmp), "%lld", (long long)v->i[r]);
			ts_seg_key(g, lay, base + r, k, tmp, (size_t)len);
		}
	}
	return v->off || v->type == COL_INT;
}

/* Cells of slot SLOT of rows [LO, HI) of a chunk (V) into rows BASE.. of G. */
static bool load_cells(struct ts_seg *g, const struct ts_layout *lay, size_t base, int slot,
		       const struct col_vec *v, size_t lo, size_t hi)
{
	size_t w = lay->width;
	uint64_t *cell = g->cells + base * w + (size_t)slot;
	if (v->f && lay->number[slot]) {
		for (size_t r = lo; r < hi; r++) {
			double d = col_vec_null(v, r) ? NAN : v->f[r];
			memcpy(&cell[r * w], &d, 8);
		}
		return true;
	}
	if (!v->off)
		return false;
	for (size_t r = lo; r < hi; r++) {
		bool null = col_vec_null(v, r);
		ts_seg_cell(g, lay, &cell[r * w], null ? NULL : v->bytes + v->off[r],
			    null ? NULL_LEN : v->off[r + 1] - v->off[r], slot);
	}
	return true;
}

/* Chunk I of the form (its columns read into VALS) appended to G. */
static int load_chunk(struct load *ld, size_t i, struct buf *key, struct buf *vals,
		      struct col_vec *vecs, struct ts_seg *g, int t)
{
	const struct form *f = ld->f;
	const struct ts_layout *lay = ld->lay;
	const struct form_chunk *ch = &f->chunks[i];
	for (uint32_t c = 0; c < f->ncols; c++) {
		if (lay->slot[c] < 0 && lay->key[c] < 0)
			continue;
		key_chunk(key, f->id, f->ver, c, ch->idx);
		if (store_get(ld->s, NULL, key->data, key->len, &vals[c], NULL) ||
		    columnar_chunk_decode(vals[c].data, vals[c].len, &vecs[c]) || vecs[c].n != ch->rows)
			return -EIO;
	}
	ts_seg_reserve(g, lay, ch->rows);
	size_t base = g->nrows;
	for (uint32_t c = 0; c < f->ncols; c++)
		if (lay->key[c] >= 0 && !load_key(ld, g, base, lay->key[c], &vecs[c], t))
			return -EIO;
	for (size_t lo = 0; lo < ch->rows; lo += BLOCK) {
		size_t hi = ch->rows - lo < BLOCK ? ch->rows : lo + BLOCK;
		for (uint32_t c = 0; c < f->ncols; c++)
			if (lay->slot[c] >= 0 && !load_cells(g, lay, base, lay->slot[c], &vecs[c], lo, hi))
				return -EIO;
	}
	g->nrows += ch->rows;
	return ts_seg_text_fits(g, NULL);
}

static void load_range(void *arg, int t, size_t lo, size_t hi)
{
	struct load *ld = arg;
	uint32_t n = ld->f->ncols;
	struct buf key = { 0 };
	struct buf *vals = calloc(n + 1, sizeof(*vals));
	struct col_vec *vecs = calloc(n + 1, sizeof(*vecs));
	if (!vals || !vecs)
		mlfs_oom();
	for (size_t i = lo; i < hi && !ld->failed[t]; i++)
		ld->failed[t] = load_chunk(ld, i, &key, vals, vecs, &ld->seg[t], t) != 0;
	for (uint32_t c = 0; c < n; c++)
		buf_free(&vals[c]);
	free(vals);
	free(vecs);
	buf_free(&key);
}

/* Form F into SEG[0..threads): false when it could not (a chunk gone or
 * damaged; int keys without text beside text keys), SEG then reset. */
static bool form_read(struct store *s, const struct form *f, const struct ts_layout *lay,
		      struct ts_seg *seg, size_t *nseg)
{
	int nt = par_threads(par_default());
	struct load ld = { s, f, lay, seg, calloc((size_t)nt + 1, 1), calloc((size_t)nt + 1, 1) };
	if (!ld.failed || !ld.int_no_text)
		mlfs_oom();
	for (int t = 0; t < nt; t++)
		seg[t].all_int = true;
	par_range(par_default(), f->nchunks, load_range, &ld);
	bool ok = true, all_int = true, no_text = false;
	for (int t = 0; t < nt; t++) {
		ok = ok && !ld.failed[t];
		all_int = all_int && seg[t].all_int;
		no_text = no_text || ld.int_no_text[t];
	}
	ok = ok && (all_int || !no_text);
	free(ld.failed);
	free(ld.int_no_text);
	if (!ok)
		for (int t = 0; t < nt; t++) {
			ts_seg_free(&seg[t]);
			memset(&seg[t], 0, sizeof(seg[t]));
		}
	if (ok)
		*nseg = (size_t)nt;
	__atomic_add_fetch(&trainset_form_test_reads, ok, __ATOMIC_RELAXED);
	return ok;
}

/* Is version M (read in a snapshot) still table NAME's current one? */
static bool meta_current(struct store *s, const char *name, const struct fmeta *m)
{
	const struct fmeta *now;
	if (features_meta_ref(s, NULL, name, &now))
		return false;
	bool same = now->id == m->id && now->ver == m->ver;
	features_meta_release(s, now);
	return same;
}

bool ts_form_read(struct store *s, const char *name, const struct store_snapshot *snap,
		  const struct fmeta *m, const struct ts_layout *lay, const struct buf *bound,
		  size_t nrange, struct ts_seg *seg, size_t *nseg)
{
	if (m->fbytes < trainset_form_min_bytes || par_threads(par_default()) > TS_MAX_SEGS)
		return false;
	struct form *f = form_load(s, snap, m->id, m->ver);
	if (!f || !form_fits(f, m)) {
		/* Built once per version, by the first large training set:
		 * not for a version the table has left. */
		form_free(f);
		pthread_mutex_t *lock = store_lock(s, &form_lock_key);
		pthread_mutex_lock(lock);
		if ((f = form_load(s, NULL, m->id, m->ver)) && !form_fits(f, m)) {
			form_free(f);
			f = NULL;
		}
		if (!f && meta_current(s, name, m) && !form_build(s, snap, m, bound, nrange, NULL))
			f = form_load(s, NULL, m->id, m->ver);
		pthread_mutex_unlock(lock);
	}
	bool ok = f && form_fits(f, m) && form_read(s, f, lay, seg, nseg);
	form_free(f);
	return ok;
}

/* ---- check and recovery ---- */

/* The feature tables: id, current version and name. */
struct ftab {
	uint64_t id, ver;
	char *name;
};

struct ftabs {
	struct store *s;
	const struct store_snapshot *snap;
	struct ftab *v;
	size_t n, cap;
};

static int collect(void *ctx, const char *name)
{
	struct ftabs *ft = ctx;
	const struct fmeta *m;
	if (features_meta_ref(ft->s, ft->snap, name, &m))
		return 0;
	if (ft->n == ft->cap) {
		ft->cap = ft->cap ? 2 * ft->cap : 16;
		if (!(ft->v = realloc(ft->v, ft->cap * sizeof(*ft->v))))
			mlfs_oom();
	}
	ft->v[ft->n++] = (struct ftab){ m->id, m->ver, mlfs_strdup(name) };
	features_meta_release(ft->s, m);
	return 0;
}

static void ftabs_free(struct ftabs *ft)
{
	for (size_t i = 0; i < ft->n; i++)
		free(ft->v[i].name);
	free(ft->v);
}

/* The form table ID keeps (a whole one of its current version that fits
 * its meta, read in SNAP), or NULL. */
static struct form *form_kept(struct store *s, const struct store_snapshot *snap,
			      const struct ftabs *ft, uint64_t id, const char **name)
{
	*name = NULL;
	for (size_t i = 0; i < ft->n; i++) {
		if (ft->v[i].id != id)
			continue;
		*name = ft->v[i].name;
		struct fmeta m;
		if (features_meta_load(s, snap, ft->v[i].name, &m))
			return NULL;
		struct form *f = form_load(s, snap, id, m.ver);
		if (f && !form_fits(f, &m)) {
			form_free(f);
			f = NULL;
		}
		features_meta_free(&m);
		return f;
	}
	return NULL;
}

/* Does F (NULL: none) name key K of its table's range? */
static bool form_names(const struct form *f, const char *k, size_t kl)
{
	if (!f || kl < 20 || key_get_u64(k + 12) != f->ver)
		return false;
	if (kl == 20)
		return true;
	if (kl != 32)
		return false;
	const unsigned char *u = (const unsigned char *)k + 20;
	uint32_t col = (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
	uint64_t idx = key_get_u64(k + 24);
	for (size_t i = 0; col < f->ncols && i < f->nchunks; i++)
		if (f->chunks[i].idx == idx)
			return true;
	return false;
}

/* Call FN for every table id with keys under f/k/: its name (NULL: no
 * such table), its kept form (NULL: none), and the keys no kept form
 * names (deleted into DEL when not NULL). */
struct each {
	struct store *s;
	const struct store_snapshot *snap;
	const struct ftabs *ft;
	struct store_batch *del;
	int (*fn)(struct each *e, uint64_t id, const char *name, const struct form *f,
		  uint64_t leftovers);
	struct buf *report;
	bool alone;		/* check: no daemon has the store open */
	int problems;
};

static int forms_each(struct each *e)
{
	struct store_iter *it = store_iter_new(e->s, e->snap, "f/k/", 4, "f/k0", 4);
	int rc = 0;
	uint64_t id = 0, left = 0;
	struct form *f = NULL;
	const char *name = NULL;
	bool have = false;
	for (store_iter_seek_first(it); !rc && store_iter_valid(it); store_iter_next(it)) {
		size_t kl;
		const char *k = store_iter_key(it, &kl);
		uint64_t kid = kl >= 12 ? key_get_u64(k + 4) : UINT64_MAX;
		if (!have || kid != id) {
			if (have && e->fn)
				rc = e->fn(e, id, name, f, left);
			form_free(f);
			id = kid;
			f = form_kept(e->s, e->snap, e->ft, id, &name);
			left = 0;
			have = true;
		}
		if (!form_names(f, k, kl)) {
			left++;
			if (e->del)
				store_batch_delete(e->del, k, kl);
		}
	}
	if (have && !rc && e->fn)
		rc = e->fn(e, id, name, f, left);
	form_free(f);
	if (!rc)
		rc = store_iter_status(it, NULL);
	store_iter_free(it);
	return rc;
}

int trainset_form_recover(struct store *s, struct mlfs_err *err)
{
	struct ftabs ft = { .s = s };
	pthread_mutex_t *lock = store_lock(s, &form_lock_key);
	pthread_mutex_lock(lock);
	int rc = features_list(s, collect, &ft);
	struct each e = { .s = s, .ft = &ft, .del = store_batch_new() };
	if (!rc)
		rc = forms_each(&e);
	if (!rc)
		rc = store_write(s, e.del, false, NULL);
	pthread_mutex_unlock(lock);
	store_batch_free(e.del);
	ftabs_free(&ft);
	return rc < 0 ? mlfs_fail(err, rc, "feature table forms: %s", strerror(-rc)) : 0;
}

int trainset_form_sweep_dead(struct store *s, bool (*gone)(void *ctx, const char *owner),
			     void *ctx, size_t *n, struct mlfs_err *err)
{
	return columnar_owners_sweep(s, "f/k/", gone, ctx, n, err);
}

/* The check of whole form F of table NAME against its stored rows. */
struct fcheck {
	const struct form *f;
	struct cutter cu;
	size_t chunk;
	uint64_t *sums, rows;
	bool bad;
};

static int check_row(void *ctx, const char *const *p, const size_t *len, struct mlfs_err *err)
{
	struct fcheck *fc = ctx;
	(void)err;
	if (fc->chunk >= fc->f->nchunks) {
		fc->bad = true;
		return -EIO;
	}
	cutter_add(&fc->cu, p, len);
	fc->rows++;
	if (fc->cu.n == fc->f->chunks[fc->chunk].rows) {
		for (uint32_t c = 0; c < fc->f->ncols; c++)
			fc->sums[c] = sum_add(fc->sums[c], fc->chunk, cutter_seal(&fc->cu, c));
		cutter_reset(&fc->cu);
		fc->chunk++;
	}
	return 0;
}

/* Problems of form F of table NAME: its chunks, and its rows rebuilt. */
static int check_form(struct each *e, const char *name, const struct form *f)
{
	struct buf key = { 0 }, val = { 0 }, lo = { 0 }, hi = { 0 };
	bool whole = true;
	for (uint32_t c = 0; c < f->ncols && whole; c++) {
		uint64_t sum = 0;
		for (size_t i = 0; i < f->nchunks && whole; i++) {
			struct col_vec v;
			key_chunk(&key, f->id, f->ver, c, f->chunks[i].idx);
			whole = !store_get(e->s, e->snap, key.data, key.len, &val, NULL) &&
				!columnar_chunk_decode(val.data, val.len, &v) && v.n == f->chunks[i].rows;
			if (whole)
				sum = sum_add(sum, i, columnar_vec_sum(&v, 0));
		}
		whole = whole && sum == f->sums[c];
	}
	if (!whole)
		buf_printf(e->report, "feature table %s: columnar form of version %llu: a chunk is missing or damaged\n",
			   name, (unsigned long long)f->ver);
	struct fmeta m;
	struct fcheck fc = { .f = f, .sums = calloc(f->ncols + 1, 8) };
	if (!fc.sums)
		mlfs_oom();
	int rc = features_meta_load(e->s, e->snap, name, &m);
	if (rc)
		return !whole + 1;
	cutter_init(&fc.cu, &m);
	features_key_rows(&lo, 'r', f->id);
	features_key_rows(&hi, 'r', f->id + 1);
	rc = ts_rows_each(e->s, e->snap, m.ncols, &lo, &hi, check_row, &fc, NULL);
	bool same = !rc && !fc.bad && fc.chunk == f->nchunks && fc.rows == f->rows && m.rows == f->rows;
	for (uint32_t c = 0; same && c < f->ncols; c++)
		same = fc.sums[c] == f->sums[c];
	if (!same)
		buf_printf(e->report, "feature table %s: columnar form of version %llu does not match its rows\n",
			   name, (unsigned long long)f->ver);
	cutter_free(&fc.cu);
	features_meta_free(&m);
	free(fc.sums);
	buf_free(&key);
	buf_free(&val);
	buf_free(&lo);
	buf_free(&hi);
	return !whole + !same;
}

static int check_one(struct each *e, uint64_t id, const char *name, const struct form *f,
		     uint64_t leftovers)
{
	if (f)
		e->problems += check_form(e, name, f);
	/* Beside a daemon, keys no form names may be a build in flight. */
	if (leftovers && e->alone) {
		buf_printf(e->report, "columnar form of feature table id %llu: %llu keys that no whole form of its current version names: left by a build cut short, of an older version or of a table gone (removed at the next mount)\n",
			   (unsigned long long)id, (unsigned long long)leftovers);
		e->problems++;
	}
	return 0;
}

int trainset_form_check(struct store *s, bool alone, struct buf *report, struct mlfs_err *err)
{
	struct store_snapshot *snap = store_snapshot_new(s);
	struct ftabs ft = { .s = s, .snap = snap };
	struct each e = { .s = s, .snap = snap, .ft = &ft, .fn = check_one, .report = report,
			  .alone = alone };
	int rc = features_list(s, collect, &ft);
	if (!rc)
		rc = forms_each(&e);
	ftabs_free(&ft);
	store_snapshot_free(s, snap);
	if (rc < 0)
		return mlfs_fail(err, rc, "feature table forms could not be read: %s", strerror(-rc));
	return e.problems;
}
