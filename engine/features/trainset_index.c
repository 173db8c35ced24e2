/* trainset_index.c - a feature table's latest rows in memory, found by
 * their key fields: the bulk side of a training-set join when the labels
 * are many.  One sequential read of data.csv (features_reader) replaces a
 * point read per labels row; the fields are kept as text so that a row
 * reads exactly as features_lookup_get would give it.  Memory: the
 * table's text plus 8 bytes a field; freed with the index. */
#include "trainset_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "hash.h"
#include "par.h"
#include "types.h"

#define NULL_LEN UINT32_MAX

struct field_ref {
	uint32_t off, len;	/* into text; len NULL_LEN for a null */
};

struct ts_index {
	const struct features_schema *sc;
	uint32_t ncols;
	int *col_of;		/* data.csv column -> schema column, -1 */
	size_t ncsv;
	struct buf text;	/* every field's bytes */
	struct field_ref *fields;	/* nrows x ncols */
	size_t nrows, cap;
	double *num;		/* nrows x ncols: ts_index_numbers, or NULL */
	uint32_t *slots;	/* open addressing: row + 1, 0 empty */
	size_t nslots;
	bool header_seen;
};

static uint64_t key_hash(const struct ts_index *ix, const char *const *keys,
			 const size_t *lens)
{
	uint64_t h = 0;
	for (uint32_t i = 0; i < ix->sc->nkeys; i++)
		h = hash64(keys[i], lens[i], h + i);
	return h;
}

static bool row_has_key(const struct ts_index *ix, size_t row,
			const char *const *keys, const size_t *lens)
{
	const struct field_ref *f = ix->fields + row * ix->ncols;
	for (uint32_t i = 0; i < ix->sc->nkeys; i++) {
		const struct field_ref *k = &f[ix->sc->keys[i]];
		if (k->len == NULL_LEN || k->len != lens[i] ||
		    memcmp(ix->text.data + k->off, keys[i], lens[i]))
			return false;
	}
	return true;
}

static void slots_grow(struct ts_index *ix);

static void slot_put(struct ts_index *ix, size_t row)
{
	const char *keys[16];
	size_t lens[16];
	const struct field_ref *f = ix->fields + row * ix->ncols;
	for (uint32_t i = 0; i < ix->sc->nkeys; i++) {
		keys[i] = ix->text.data + f[ix->sc->keys[i]].off;
		lens[i] = f[ix->sc->keys[i]].len;
	}
	size_t mask = ix->nslots - 1, i = key_hash(ix, keys, lens) & mask;
	while (ix->slots[i])
		i = (i + 1) & mask;
	ix->slots[i] = (uint32_t)row + 1;
}

static void slots_grow(struct ts_index *ix)
{
	free(ix->slots);
	ix->nslots = ix->nslots ? ix->nslots * 2 : 1024;
	ix->slots = calloc(ix->nslots, sizeof(*ix->slots));
	if (!ix->slots)
		mlfs_oom();
	for (size_t r = 0; r < ix->nrows; r++)
		slot_put(ix, r);
}

static int on_header(struct ts_index *ix, const struct csv_field *f, size_t n,
		     struct mlfs_err *err)
{
	ix->ncsv = n;
	ix->col_of = calloc(n ? n : 1, sizeof(int));
	if (!ix->col_of)
		mlfs_oom();
	for (size_t i = 0; i < n; i++) {
		ix->col_of[i] = -1;
		for (uint32_t c = 0; c < ix->ncols; c++)
			if (strlen(ix->sc->names[c]) == f[i].len &&
			    !memcmp(ix->sc->names[c], f[i].p, f[i].len))
				ix->col_of[i] = (int)c;
	}
	ix->header_seen = true;
	return 0;
}

static int on_record(void *ctx, const struct csv_field *f, size_t n,
		     uint64_t line, struct mlfs_err *err)
{
	struct ts_index *ix = ctx;
	if (!ix->header_seen)
		return on_header(ix, f, n, err);
	if (n != ix->ncsv)
		return mlfs_fail(err, -EIO, "feature rows line %llu: %zu fields, the header has %zu",
				 (unsigned long long)line, n, ix->ncsv);
	if (ix->nrows == ix->cap) {
		ix->cap = ix->cap ? 2 * ix->cap : 4096;
		ix->fields = realloc(ix->fields, ix->cap * ix->ncols * sizeof(*ix->fields));
		if (!ix->fields)
			mlfs_oom();
	}
	struct field_ref *row = ix->fields + ix->nrows * ix->ncols;
	for (uint32_t c = 0; c < ix->ncols; c++)
		row[c] = (struct field_ref){ 0, NULL_LEN };
	for (size_t i = 0; i < n; i++) {
		if (ix->col_of[i] < 0 || !f[i].len)
			continue;
		row[ix->col_of[i]] = (struct field_ref){ (uint32_t)ix->text.len, (uint32_t)f[i].len };
		buf_append(&ix->text, f[i].p, f[i].len);
	}
	if (ix->text.len > UINT32_MAX - TABLE_MAX_RECORD)
		return mlfs_fail(err, -EFBIG, "feature table too large to join in memory");
	ix->nrows++;
	if (ix->nrows * 2 > ix->nslots)
		slots_grow(ix);
	else
		slot_put(ix, ix->nrows - 1);
	return 0;
}

int ts_index_build(struct store *s, const char *table,
		   const struct features_schema *sc, struct ts_index **out,
		   struct mlfs_err *err)
{
	struct features_reader *r = NULL;
	struct csv_reader *cr = NULL;
	struct ts_index *ix = calloc(1, sizeof(*ix));
	char *chunk = malloc(1u << 20);
	int rc;

	if (!ix || !chunk)
		mlfs_oom();
	ix->sc = sc;
	ix->ncols = sc->ncols;
	/* Sized once from the table's counts: no regrowth while reading. */
	struct features_info info;
	if (features_stat(s, table, &info) == 0 && info.rows) {
		buf_reserve(&ix->text, info.size);
		ix->cap = info.rows + 1;
		ix->fields = malloc(ix->cap * ix->ncols * sizeof(*ix->fields));
		ix->nslots = 1024;
		while (ix->nslots < 2 * ix->cap)
			ix->nslots *= 2;
		ix->slots = calloc(ix->nslots, sizeof(*ix->slots));
		if (!ix->fields || !ix->slots)
			mlfs_oom();
	}
	if (!(cr = csv_reader_new(CSV_DEFAULT_MAX_RECORD, on_record, ix)))
		mlfs_oom();
	rc = features_reader_open(s, table, &r, err);
	for (uint64_t off = 0; !rc;) {
		long n = features_reader_read(r, chunk, 1u << 20, off, err);
		if (n < 0)
			rc = (int)n;
		if (n <= 0)
			break;
		rc = csv_reader_feed(cr, chunk, (size_t)n, err);
		off += (uint64_t)n;
	}
	if (!rc)
		rc = csv_reader_finish(cr, err);
	csv_reader_free(cr);
	features_reader_free(r);
	free(chunk);
	if (rc) {
		ts_index_free(ix);
		return rc;
	}
	*out = ix;
	return 0;
}

long ts_index_find(const struct ts_index *ix, const char *const *keys,
		   const size_t *lens)
{
	if (!ix->nslots)
		return -1;
	size_t mask = ix->nslots - 1, i = key_hash(ix, keys, lens) & mask;
	for (; ix->slots[i]; i = (i + 1) & mask) {
		size_t row = ix->slots[i] - 1;
		if (row_has_key(ix, row, keys, lens))
			return (long)row;
	}
	return -1;
}

int ts_index_get(const struct ts_index *ix, const char *const *keys,
		 const size_t *lens, const char **fields, size_t *flens)
{
	long row = ts_index_find(ix, keys, lens);
	if (row < 0)
		return -ENOENT;
	const struct field_ref *f = ix->fields + (size_t)row * ix->ncols;
	for (uint32_t c = 0; c < ix->ncols; c++) {
		fields[c] = f[c].len == NULL_LEN ? NULL : ix->text.data + f[c].off;
		flens[c] = f[c].len == NULL_LEN ? 0 : f[c].len;
	}
	return 0;
}

/* Not a number to frame.c: a NaN no parse gives (the text then tells). */
static const uint64_t NOT_NUMBER = 0x7ff4deadbeef0001ULL;

/* The number frame_append_text reads from text S[0..LEN) in a numeric
 * column (frame.c: value_infer, then value_as_double; "nan" and "inf"
 * as floats): false when it reads none.  A plain decimal with a point
 * ("-0.1234") is a float to value_infer (no int, date or timestamp has
 * that shape), so it goes straight to value_parse_float. */
static bool frame_number(const char *s, size_t len, double *v)
{
	size_t i = len && (s[0] == '-' || s[0] == '+'), dots = 0, digits = 0;
	for (size_t k = i; k < len; k++) {
		if (s[k] == '.')
			dots++;
		else if (s[k] >= '0' && s[k] <= '9')
			digits++;
		else
			break;
		if (k + 1 == len && dots == 1 && digits)
			return value_parse_float(s, len, v);
	}
	enum col_type t = value_infer(s, len);
	if (t == COL_STRING && value_parse_float(s, len, v))
		return true;
	return t != COL_STRING && t != COL_NULL && value_as_double(t, s, len, v);
}

static void numbers_range(void *arg, int t, size_t lo, size_t hi)
{
	struct ts_index *ix = arg;
	(void)t;
	for (size_t r = lo; r < hi; r++)
		for (uint32_t c = 0; c < ix->ncols; c++) {
			const struct field_ref *f = &ix->fields[r * ix->ncols + c];
			double *v = &ix->num[r * ix->ncols + c];
			if (ix->sc->types[c] == COL_STRING || f->len == NULL_LEN)
				*v = NAN;
			else if (!frame_number(ix->text.data + f->off, f->len, v))
				memcpy(v, &NOT_NUMBER, 8);
		}
}

void ts_index_numbers(struct ts_index *ix)
{
	if (ix->num || !ix->nrows)
		return;
	if (!(ix->num = malloc(ix->nrows * ix->ncols * sizeof(*ix->num))))
		mlfs_oom();
	par_range(par_default(), ix->nrows, numbers_range, ix);
}

int ts_index_append(const struct ts_index *ix, long row, uint32_t fc,
		    struct frame *f, size_t col, struct mlfs_err *err)
{
	if (row < 0)
		return frame_append_null(f, col, err);
	const struct field_ref *r = &ix->fields[(size_t)row * ix->ncols + fc];
	if (ix->num && ix->sc->types[fc] != COL_STRING) {
		double v = ix->num[(size_t)row * ix->ncols + fc];
		if (memcmp(&v, &NOT_NUMBER, 8))
			return frame_append_number(f, col, v, err);
	}
	if (r->len == NULL_LEN)
		return frame_append_null(f, col, err);
	return frame_append_text(f, col, ix->text.data + r->off, r->len, err);
}

void ts_index_free(struct ts_index *ix)
{
	if (!ix)
		return;
	free(ix->col_of);
	buf_free(&ix->text);
	free(ix->fields);
	free(ix->slots);
	free(ix->num);
	free(ix);
}
