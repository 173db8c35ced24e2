/* trainset_index.c - a feature table's latest rows in memory, found by
 * their key: the bulk side of a training-set join when the labels are
 * many.  The stored rows are read by key ranges across the thread pool
 * (trainset_rows.c: records decoded, numbers kept as numbers); one open
 * addressing table then finds a row by its key text, or by its int when
 * every key is a canonical int.  A row reads exactly as
 * frame_append_text of features_lookup_get's text would.  Freed with the
 * index. */
#include "features_int.h"
#include "trainset_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/mman.h>

#include "hash.h"
#include "par.h"

#define MAX_SEGS TS_MAX_SEGS
/* Labels rows appended a block at a time: a block's cells stay in cache
 * across its columns. */
#define BLOCK 256

struct slot {
	int64_t key;		/* int keys: the key */
	uint64_t row;		/* row + 1; 0 empty */
};

struct ts_index {
	const struct features_schema *sc;
	struct ts_layout lay;
	int *slot_of;		/* schema column -> cell slot, -1 */
	struct ts_seg seg[MAX_SEGS];
	size_t nseg;
	bool int_keys;
	struct slot *slots;
	size_t nslots;
};

/* A row id: its segment in the high bits. */
#define ROW(g, r) ((long)(((uint64_t)(g) << 40) | (r)))
#define ROW_SEG(row) ((size_t)((uint64_t)(row) >> 40))
#define ROW_AT(row) ((size_t)((uint64_t)(row) & ((1ULL << 40) - 1)))

static uint64_t text_hash(uint32_t nkeys, const char *const *keys, const size_t *lens)
{
	uint64_t h = 0;
	for (uint32_t i = 0; i < nkeys; i++)
		h = hash64(keys[i], lens[i], h + i);
	return h;
}

static uint64_t int_hash(int64_t v)
{
	return hash_mix64((uint64_t)v);
}

static bool row_has_key(const struct ts_index *ix, long row, const char *const *keys,
			const size_t *lens)
{
	const struct ts_seg *g = &ix->seg[ROW_SEG(row)];
	const struct ts_ref *k = g->keys + ROW_AT(row) * ix->lay.nkeys;
	for (uint32_t i = 0; i < ix->lay.nkeys; i++)
		if (k[i].len == NULL_LEN || k[i].len != lens[i] ||
		    memcmp(g->text.data + k[i].off, keys[i], lens[i]))
			return false;
	return true;
}

/* Every row with a whole key into the table (keys are unique). */
static void slots_fill(struct ts_index *ix)
{
	size_t n = 0;
	for (size_t g = 0; g < ix->nseg; g++)
		n += ix->seg[g].nrows;
	ix->nslots = 1024;
	while (ix->nslots < 2 * n)
		ix->nslots *= 2;
	/* Mapped at once: calloc's untouched pages would fault twice (the
	 * probe's read maps the shared zero page, the first write copies it
	 * and flushes the TLB of every CPU). */
	ix->slots = mmap(NULL, ix->nslots * sizeof(*ix->slots), PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (ix->slots == MAP_FAILED)
		mlfs_oom();
	size_t mask = ix->nslots - 1;
	for (size_t g = 0; g < ix->nseg; g++) {
		const struct ts_seg *sg = &ix->seg[g];
		for (size_t r = 0; r < sg->nrows; r++) {
			const struct ts_ref *k = sg->keys + r * ix->lay.nkeys;
			const char *keys[FEAT_MAX_KEYS];
			size_t lens[FEAT_MAX_KEYS];
			bool whole = true;
			for (uint32_t i = 0; i < ix->lay.nkeys; i++) {
				whole = whole && k[i].len != NULL_LEN;
				keys[i] = sg->text.data + k[i].off;
				lens[i] = k[i].len;
			}
			if (!whole)
				continue;
			size_t i = (ix->int_keys ? int_hash(sg->ikey[r]) :
				    text_hash(ix->lay.nkeys, keys, lens)) & mask;
			while (ix->slots[i].row)
				i = (i + 1) & mask;
			ix->slots[i] = (struct slot){ ix->int_keys ? sg->ikey[r] : 0,
						      (uint64_t)ROW(g, r) + 1 };
		}
	}
}

/* Where stored rows go: the columns COLS of SC and the keys, by name
 * into meta M's columns. */
static void layout_make(struct ts_index *ix, const struct fmeta *m,
			const uint32_t *cols, size_t n)
{
	const struct features_schema *sc = ix->sc;
	struct ts_layout *lay = &ix->lay;
	lay->ncols = m->ncols;
	lay->nkeys = sc->nkeys;
	lay->slot = malloc((m->ncols + 1) * sizeof(int));
	lay->key = malloc((m->ncols + 1) * sizeof(int));
	lay->number = calloc(n + 1, sizeof(bool));
	ix->slot_of = malloc((sc->ncols + 1) * sizeof(int));
	if (!lay->slot || !lay->key || !lay->number || !ix->slot_of)
		mlfs_oom();
	for (uint32_t c = 0; c < sc->ncols; c++)
		ix->slot_of[c] = -1;
	for (size_t j = 0; j < n; j++)
		if (ix->slot_of[cols[j]] < 0) {
			lay->number[lay->width] = sc->types[cols[j]] != COL_STRING;
			ix->slot_of[cols[j]] = (int)lay->width++;
		}
	for (uint32_t mc = 0; mc < m->ncols; mc++) {
		lay->slot[mc] = lay->key[mc] = -1;
		for (uint32_t c = 0; c < sc->ncols; c++) {
			if (strcmp(sc->names[c], m->names[mc]))
				continue;
			lay->slot[mc] = ix->slot_of[c];
			for (uint32_t k = 0; k < sc->nkeys; k++)
				if (sc->keys[k] == c)
					lay->key[mc] = (int)k;
		}
	}
}

/* Split the rows of table ID into ranges: by the int values of a lone
 * int key (they sort first, as numbers), else one range. */
static void ranges_make(struct store *s, const struct store_snapshot *snap,
			uint64_t id, uint32_t nkeys, struct buf *bound, size_t *nrange)
{
	features_key_rows(&bound[0], 'r', id);
	size_t n = 1, want = (size_t)par_threads(par_default());
	struct buf hi = { 0 };
	features_key_rows(&hi, 'r', id + 1);
	if (nkeys == 1 && want > 1) {
		struct store_iter *it = store_iter_new(s, snap, bound[0].data, bound[0].len,
						       hi.data, hi.len);
		int64_t end[2];
		bool ok = true;
		for (int e = 0; e < 2 && ok; e++) {
			if (e)
				store_iter_seek_last(it);
			else
				store_iter_seek_first(it);
			size_t kl;
			const char *k = store_iter_valid(it) ? store_iter_key(it, &kl) : NULL;
			ok = k && kl == bound[0].len + 9 && k[bound[0].len] == 1;
			if (ok)
				end[e] = (int64_t)(key_get_u64(k + bound[0].len + 1) ^ 0x8000000000000000ULL);
		}
		store_iter_free(it);
		uint64_t span = ok ? (uint64_t)end[1] - (uint64_t)end[0] : 0;
		for (size_t t = 1; span >= want && t < want && t < MAX_SEGS; t++) {
			features_key_rows(&bound[n], 'r', id);
			buf_putc(&bound[n], 1);
			features_put_i64_key(&bound[n], (int64_t)((uint64_t)end[0] + span / want * t));
			n++;
		}
	}
	bound[n] = hi;
	*nrange = n;
}

struct read_job {
	struct store *s;
	const struct store_snapshot *snap;
	struct ts_index *ix;
	struct buf *bound;
};

static void read_range(void *arg, size_t i)
{
	struct read_job *j = arg;
	struct ts_seg *g = &j->ix->seg[i];
	g->rc = ts_rows_read(j->s, j->snap, &j->ix->lay, &j->bound[i], &j->bound[i + 1], g, &g->err);
}

int ts_index_build(struct store *s, const char *table,
		   const struct features_schema *sc, const uint32_t *cols, size_t n,
		   struct ts_index **out, struct mlfs_err *err)
{
	struct ts_index *ix = calloc(1, sizeof(*ix));
	const struct fmeta *m;
	if (!ix)
		mlfs_oom();
	ix->sc = sc;
	struct store_snapshot *snap = store_snapshot_new(s);
	int rc = features_meta_ref(s, snap, table, &m);
	if (rc) {
		store_snapshot_free(s, snap);
		free(ix);
		return mlfs_fail(err, rc, "lookup: no feature table '%s'", table);
	}
	layout_make(ix, m, cols, n);
	ix->lay.rows_hint = (size_t)m->rows;
	struct buf bound[MAX_SEGS + 1] = { 0 };
	ranges_make(s, snap, m->id, sc->nkeys, bound, &ix->nseg);
	size_t nrange = ix->nseg;
	if (!ts_form_read(s, table, snap, m, &ix->lay, bound, nrange, ix->seg, &ix->nseg)) {
		struct read_job job = { s, snap, ix, bound };
		ix->nseg = nrange;
		par_for(par_default(), ix->nseg, read_range, &job);
	}
	ix->int_keys = sc->nkeys == 1;
	for (size_t g = 0; g < ix->nseg; g++) {
		ix->int_keys = ix->int_keys && ix->seg[g].all_int;
		if (!rc && ix->seg[g].rc) {
			rc = ix->seg[g].rc;
			*err = ix->seg[g].err;
		}
	}
	for (size_t b = 0; b <= nrange; b++)
		buf_free(&bound[b]);
	features_meta_release(s, m);
	store_snapshot_free(s, snap);
	if (rc) {
		ts_index_free(ix);
		return rc;
	}
	slots_fill(ix);
	*out = ix;
	return 0;
}

bool ts_index_int_keys(const struct ts_index *ix)
{
	return ix->int_keys;
}

long ts_index_find_int(const struct ts_index *ix, int64_t v)
{
	size_t mask = ix->nslots - 1, i = int_hash(v) & mask;
	for (; ix->slots[i].row; i = (i + 1) & mask)
		if (ix->slots[i].key == v)
			return (long)(ix->slots[i].row - 1);
	return -1;
}

long ts_index_find(const struct ts_index *ix, const char *const *keys,
		   const size_t *lens)
{
	if (ix->int_keys) {
		int64_t v;
		return ts_canonical_int(keys[0], lens[0], &v) ? ts_index_find_int(ix, v) : -1;
	}
	size_t mask = ix->nslots - 1, i = text_hash(ix->lay.nkeys, keys, lens) & mask;
	for (; ix->slots[i].row; i = (i + 1) & mask) {
		long row = (long)(ix->slots[i].row - 1);
		if (row_has_key(ix, row, keys, lens))
			return row;
	}
	return -1;
}

/* Cell BITS of a text cell, or of a numeric one that reads as no
 * number, appended as its text. */
static int append_text(const struct ts_seg *g, bool number, uint64_t bits,
		       struct frame *f, size_t col, struct mlfs_err *err)
{
	struct ts_ref r;
	size_t e;
	if (number && ts_cell_exception(bits, &e))
		r = g->exc[e];
	else
		memcpy(&r, &bits, 8);
	if (r.len == NULL_LEN)
		return frame_append_null(f, col, err);
	return frame_append_text(f, col, g->text.data + r.off, r.len, err);
}

/* Column FC of rows ROWS[0..N) to column COL of F, one by one. */
static int append_column(const struct ts_index *ix, const long *rows, size_t n,
			 uint32_t fc, struct frame *f, size_t col, struct mlfs_err *err)
{
	int slot = ix->slot_of[fc], rc = 0;
	size_t w = ix->lay.width, e;
	bool number = slot >= 0 && ix->lay.number[slot];
	for (size_t i = 0; !rc && i < n; i++) {
		long row = rows[i];
		if (row < 0 || slot < 0) {
			rc = frame_append_null(f, col, err);
			continue;
		}
		const struct ts_seg *g = &ix->seg[ROW_SEG(row)];
		uint64_t bits = g->cells[ROW_AT(row) * w + (size_t)slot];
		if (number && !ts_cell_exception(bits, &e)) {
			double v;
			memcpy(&v, &bits, 8);
			rc = frame_append_number(f, col, v, err);
		} else {
			rc = append_text(g, number, bits, f, col, err);
		}
	}
	return rc;
}

/* The columns of a fill across the pool: DST[j] the frame's room for
 * column FCOL[j] of rows ROWS. */
struct fill_job {
	const struct ts_index *ix;
	const long *rows;
	const uint32_t *fcol;
	size_t nf;
	double **dst;
};

/* Map the pages of P[LO, HI) at once, before they are written: one call
 * instead of a page fault a page (their traps were a fifth of a 1M-row
 * join on this VM).  A hint: older kernels refuse it. */
static void prefault(double *p, size_t lo, size_t hi)
{
	uintptr_t a = ((uintptr_t)(p + lo) + 4095) & ~(uintptr_t)4095;
	uintptr_t b = (uintptr_t)(p + hi) & ~(uintptr_t)4095;
	if (b > a)
		madvise((void *)a, b - a, MADV_POPULATE_WRITE);
}

static void fill_range(void *arg, int t, size_t lo, size_t hi)
{
	const struct fill_job *j = arg;
	const struct ts_index *ix = j->ix;
	size_t w = ix->lay.width;
	(void)t;
	for (size_t c = 0; c < j->nf; c++)
		prefault(j->dst[c], lo, hi);
	for (size_t b = lo; b < hi; b += BLOCK) {
		size_t end = hi - b < BLOCK ? hi : b + BLOCK;
		for (size_t c = 0; c < j->nf; c++) {
			int slot = ix->slot_of[j->fcol[c]];
			double *to = j->dst[c];
			for (size_t i = b; i < end; i++) {
				long row = j->rows[i];
				if (row < 0 || slot < 0) {
					to[i] = NAN;
					continue;
				}
				uint64_t bits = ix->seg[ROW_SEG(row)].cells[ROW_AT(row) * w + (size_t)slot];
				memcpy(&to[i], &bits, 8);
			}
		}
	}
}

/* Can columns FCOL[0..NF) go to F's columns FIRST.. as numbers alone:
 * numeric on both sides (or absent from the table: nulls), and no cell
 * of the index that reads as no number? */
static bool fill_numbers(const struct ts_index *ix, const uint32_t *fcol, size_t nf,
			 const struct frame *f, size_t first)
{
	for (size_t g = 0; g < ix->nseg; g++)
		if (ix->seg[g].nexc)
			return false;
	for (size_t j = 0; j < nf; j++) {
		int slot = ix->slot_of[fcol[j]];
		if ((slot >= 0 && !ix->lay.number[slot]) ||
		    frame_col_kind(f, first + j) != FRAME_NUMERIC)
			return false;
	}
	return true;
}

int ts_index_append_rows(const struct ts_index *ix, const long *rows, size_t n,
			 const uint32_t *fcol, size_t nf, struct frame *f, size_t first,
			 struct mlfs_err *err)
{
	int rc = 0;
	if (fill_numbers(ix, fcol, nf, f, first)) {
		/* Every cell a number or null: the frame's room taken at once
		 * and written across the pool by ranges of rows. */
		double **dst = calloc(nf + 1, sizeof(*dst));
		if (!dst)
			mlfs_oom();
		for (size_t j = 0; !rc && j < nf; j++)
			rc = frame_extend_numbers(f, first + j, n, &dst[j], err);
		struct fill_job job = { ix, rows, fcol, nf, dst };
		if (!rc)
			par_range(par_default(), n, fill_range, &job);
		free(dst);
		return rc;
	}
	for (size_t lo = 0; !rc && lo < n; lo += BLOCK) {
		size_t m = n - lo < BLOCK ? n - lo : BLOCK;
		for (size_t j = 0; !rc && j < nf; j++)
			rc = append_column(ix, rows + lo, m, fcol[j], f, first + j, err);
	}
	return rc;
}

void ts_index_free(struct ts_index *ix)
{
	if (!ix)
		return;
	for (size_t g = 0; g < MAX_SEGS; g++)
		ts_seg_free(&ix->seg[g]);
	free(ix->lay.slot);
	free(ix->lay.key);
	free(ix->lay.number);
	free(ix->slot_of);
	if (ix->slots)
		munmap(ix->slots, ix->nslots * sizeof(*ix->slots));
	free(ix);
}
