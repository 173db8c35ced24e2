/* pipeline.c - pipeline.yaml against real tables, and refresh.
 *
 * A refresh reads the source table (one version: the table's version is
 * checked before and after, EAGAIN if it moved), in two phases:
 *   A. rows are read - from the table's columnar form (columnar.h, chunk
 *      ranges across the shared pool) for tables of some size, else from
 *      the CSV text by table_scan - and spread by key hash over NPART
 *      partitions as compact typed records;
 *   B. each partition, on a pool thread, is grouped by key in a hash
 *      table small enough for the cache and fed to the expression states
 *      (expr.h) a column-major batch of rows at a time, in row order;
 *      over the columnar form A and B alternate on batches of chunks.
 *      Then every group is finished into the feature table's record and
 *      key bytes (features_rec_*; in key order for int and date keys).
 * The rows then go to features_write_records (in the feature table's key
 * order when the partitions could be merged by key), which stores the
 * records as they are, with the report, in one store batch.  Rows whose key is null are skipped (as
 * pandas' groupby does).  This file owns no store keys: it asks table.h
 * and features.h. */
#include "pipeline.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clock.h"
#include "columnar.h"
#include "csv.h"
#include "expr.h"
#include "features.h"
#include "hash.h"
#include "par.h"
#include "sort.h"
#include "spec.h"
#include "table.h"
#include "vmem.h"

void (*pipeline_test_hook)(struct store *s, const char *source);
uint64_t pipeline_test_fixed_chunks;

/* Everything a checked pipeline needs to run. */
struct plan {
	struct pipeline_spec *spec;
	char **cols;
	enum col_type *types;
	uint32_t ncols;
	int keyidx[16];
	int tsidx;		/* source event-time column, -1 */
	struct expr_prog *prog;
	struct features_schema *fs;
	bool as_of_date;
	int64_t as_of_us;
};

static void plan_free(struct plan *p)
{
	pipeline_spec_free(p->spec);
	free(p->cols);
	free(p->types);
	expr_prog_free(p->prog);
	features_schema_free(p->fs);
	memset(p, 0, sizeof(*p));
}

static int at(struct mlfs_err *err, unsigned line, unsigned col, int code,
	      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int at(struct mlfs_err *err, unsigned line, unsigned col, int code,
	      const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return mlfs_fail(err, code, "line %u, column %u: %s", line, col, msg);
}

/* Parse TEXT and check it against the store.  OPTS may override as_of. */
static int plan_make(struct store *s, const char *name, const char *text,
		     size_t len, const struct pipeline_opts *opts,
		     struct plan *p, struct mlfs_err *err)
{
	int rc;
	struct pipeline_spec *sp;

	memset(p, 0, sizeof(*p));
	if ((rc = features_schema_get(s, name, &p->fs, err)))
		return rc;
	if ((rc = spec_parse_pipeline(text, len, &sp, err)))
		return rc;
	p->spec = sp;
	if (!names_valid(sp->source) ||
	    table_columns(s, sp->source, &p->cols, &p->types, &p->ncols)) {
		return at(err, sp->source_line, sp->source_col, -EINVAL,
			  "source: no table '%s' under /tables", sp->source);
	}
	if (sp->nkeys > 16)
		return at(err, sp->key_line, sp->key_col, -EINVAL, "more than 16 key columns");
	for (size_t k = 0; k < sp->nkeys; k++) {
		p->keyidx[k] = -1;
		for (uint32_t c = 0; c < p->ncols; c++)
			if (!strcmp(p->cols[c], sp->keys[k]))
				p->keyidx[k] = (int)c;
		if (p->keyidx[k] < 0)
			return at(err, sp->key_line, sp->key_col, -EINVAL,
				  "key: no column '%s' in table '%s'", sp->keys[k], sp->source);
	}
	p->tsidx = -1;
	if (sp->timestamp) {
		for (uint32_t c = 0; c < p->ncols; c++)
			if (!strcmp(p->cols[c], sp->timestamp))
				p->tsidx = (int)c;
		if (p->tsidx < 0)
			return at(err, sp->ts_line, sp->ts_col, -EINVAL,
				  "timestamp: no column '%s' in table '%s'", sp->timestamp, sp->source);
		if (p->types[p->tsidx] != COL_DATE && p->types[p->tsidx] != COL_TIMESTAMP)
			return at(err, sp->ts_line, sp->ts_col, -EINVAL,
				  "timestamp: column '%s' is %s, not a date or timestamp",
				  sp->timestamp, col_type_name(p->types[p->tsidx]));
	}
	/* The feature table's key, when it has one, must be the same. */
	if (p->fs->keys_set || p->fs->ncols) {
		bool same = p->fs->nkeys == sp->nkeys;
		for (size_t k = 0; same && k < sp->nkeys; k++)
			same = !strcmp(p->fs->key_names[k], sp->keys[k]);
		if (!same) {
			char have[256] = "";
			for (uint32_t k = 0; k < p->fs->nkeys; k++) {
				strncat(have, k ? ", " : "", sizeof(have) - strlen(have) - 1);
				strncat(have, p->fs->key_names[k], sizeof(have) - strlen(have) - 1);
			}
			return at(err, sp->key_line, sp->key_col, -EINVAL,
				  "key must be the feature table's key (%s)", have);
		}
	}
	for (size_t f = 0; f < sp->nfeatures; f++) {
		for (size_t k = 0; k < sp->nkeys; k++)
			if (!strcmp(sp->features[f].name, sp->keys[k]))
				return at(err, sp->features[f].line, sp->features[f].col, -EINVAL,
					  "feature '%s' has the name of a key column", sp->keys[k]);
		if (p->fs->ts_name && !strcmp(sp->features[f].name, p->fs->ts_name))
			return at(err, sp->features[f].line, sp->features[f].col, -EINVAL,
				  "feature '%s' has the name of the timestamp_key, which refresh fills with as_of",
				  p->fs->ts_name);
	}
	if (opts && opts->has_as_of) {
		p->as_of_us = opts->as_of_us;
		p->as_of_date = opts->as_of_is_date;
	} else if (sp->has_as_of) {
		p->as_of_us = sp->as_of_us;
		p->as_of_date = sp->as_of_is_date;
	} else {
		/* Default: the date of the refresh (UTC). */
		int64_t now_us = clock_now_ns() / 1000;
		p->as_of_us = now_us - now_us % 86400000000LL;
		p->as_of_date = true;
	}
	struct expr_source *src = calloc(sp->nfeatures, sizeof(*src));
	if (!src)
		return -ENOMEM;
	for (size_t f = 0; f < sp->nfeatures; f++) {
		src[f].name = sp->features[f].name;
		src[f].text = sp->features[f].expr;
		src[f].line = sp->features[f].line;
		src[f].col = sp->features[f].col;
		src[f].exact_cols = sp->features[f].exact_cols;
	}
	/* A column never written has no type yet: treat it as text. */
	for (uint32_t c = 0; c < p->ncols; c++)
		if (p->types[c] == COL_NULL)
			p->types[c] = COL_STRING;
	struct expr_schema schema = { (const char *const *)p->cols, p->types, p->ncols };
	rc = expr_compile(src, sp->nfeatures, &schema,
			  p->as_of_date ? COL_DATE : COL_TIMESTAMP, &p->prog, err);
	free(src);
	return rc;
}

static bool blank(const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (text[i] != ' ' && text[i] != '\n' && text[i] != '\t' && text[i] != '\r')
			return false;
	return true;
}

int pipeline_validate(struct store *s, const char *name, const char *text,
		      size_t len, struct mlfs_err *err)
{
	struct plan p;
	struct features_info info;
	if (features_stat(s, name, &info))
		return -ENOENT;
	if (blank(text, len))
		return 0;
	int rc = plan_make(s, name, text, len, NULL, &p, err);
	plan_free(&p);
	return rc;
}

int pipeline_validate_partial(struct store *s, const char *name,
			      const char *text, size_t len,
			      struct mlfs_err *err)
{
	struct mlfs_err e = { 0 };
	int rc = pipeline_validate(s, name, text, len, &e);
	unsigned line = 0, nlines = 0;
	if (rc != -EINVAL) {
		if (rc && err)
			*err = e;
		return rc;
	}
	for (size_t i = 0; i < len; i++)
		nlines += text[i] == '\n';
	if (sscanf(e.msg, "line %u", &line) != 1 || line >= nlines ||
	    strstr(e.msg, "is missing") || strstr(e.msg, "unknown feature or column"))
		return 0;	/* more text may fix it: checked at close */
	if (err)
		*err = e;
	return rc;
}

int pipeline_set(struct store *s, const char *name, const char *text,
		 size_t len, struct mlfs_err *err)
{
	struct plan p;
	int rc;
	if (blank(text, len))
		return features_text_set(s, name, FEATURES_PIPELINE, "", 0, err);
	if ((rc = plan_make(s, name, text, len, NULL, &p, err))) {
		plan_free(&p);
		return rc;
	}
	if (!p.fs->keys_set && p.fs->ncols == 0) {
		struct buf k = { 0 };
		for (size_t i = 0; i < p.spec->nkeys; i++)
			buf_printf(&k, "%s\n", p.spec->keys[i]);
		rc = features_set_keys(s, name, k.data, k.len, true, err);
		buf_free(&k);
	}
	plan_free(&p);
	return rc ? rc : features_text_set(s, name, FEATURES_PIPELINE, text, len, err);
}

int pipeline_parse_word(const char *text, size_t len,
			struct pipeline_opts *opts, struct mlfs_err *err)
{
	static const char *const words[] = { "1", "now", "refresh", "run", "true", "yes" };
	memset(opts, 0, sizeof(*opts));
	while (len && (text[len - 1] == '\n' || text[len - 1] == ' ' ||
		       text[len - 1] == '\r' || text[len - 1] == '\t'))
		len--;
	while (len && (*text == ' ' || *text == '\t' || *text == '\n')) {
		text++;
		len--;
	}
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strlen(words[i]) == len && !strncasecmp(words[i], text, len))
			return 0;
	int32_t d;
	if (value_parse_date(text, len, &d)) {
		opts->has_as_of = true;
		opts->as_of_is_date = true;
		opts->as_of_us = (int64_t)d * 86400000000LL;
		return 0;
	}
	if (len && value_parse_timestamp(text, len, &opts->as_of_us)) {
		opts->has_as_of = true;
		return 0;
	}
	return mlfs_fail(err, -EINVAL, "write 1 (or now) to refresh, or a date such as 2026-11-27 to refresh as of that date");
}

/* ---- the refresh ---- */

/* Groups of one partition: an open-addressing table of group numbers,
 * the keys, and the expression state of each group. */
struct key8_slot {
	uint64_t key;
	uint64_t gid;		/* group + 1, 0 empty */
};

struct group_tab {
	uint64_t *slots;	/* (hash high 32 | group+1 low 32), 0 empty */
	struct key8_slot *slots8;	/* instead, when key8 */
	bool key8;		/* every key is 8 bytes (bin_key) */
	size_t cap;
	size_t n;
	struct buf keys;	/* per group: encoded key */
	uint64_t *koff;		/* group -> offset in keys */
	uint32_t *klen;
	char *states;
	size_t ssize, scap;	/* scap: bytes of states' pages (vmem.h) */
	size_t hint;		/* groups to reserve room for at first */
	size_t ready;		/* bytes of states' pages faulted in */
};

/* The rows are spread over NPART partitions by key hash as they are
 * scanned (phase A), then each partition is aggregated on its own (phase
 * B, partitions across the pool): its groups fit in cache, where one
 * table for every key would miss it on nearly every row.  Over the
 * columnar form the two phases alternate on batches of BATCH_CHUNKS
 * chunks, so the records of a batch are all the memory rows take.
 * A record: u16 key length, the key's hash (u64: phase A picked the
 * partition by it, phase B's group table takes it: hashed once), key
 * bytes, then per used column a type byte and 8 bytes of value (zeros
 * for a null), or for text a u32 length and the bytes.  The key is its text, or (bin_key) the 8 bytes of an int or date whose text in
 * data.csv is canonical, printed back at the end. */
#define NPART_BITS 8
#define NPART (1u << NPART_BITS)
#define PART_OF(h) ((h) >> (64 - NPART_BITS))
#define BATCH_CHUNKS 16
#define STATES_RESERVE_MAX ((size_t)64 << 20)	/* bytes a partition */
#define STATES_POPULATE ((size_t)256 << 10)	/* pages faulted in at once */

struct part {
	struct buf *rec;	/* per scanning thread; in row order across them */
	struct group_tab g;
	struct buf text;	/* finished rows: field texts */
	uint32_t *off;		/* per group: ncols + 1 offsets into text */
	int64_t *skeys;		/* bin_key: the finished rows' keys, ascending */
	int rc;
};

struct run {
	struct plan *p;
	struct part *parts;
	unsigned nrec;		/* rec buffers per partition */
	uint32_t *used;		/* the columns expressions read */
	size_t nused;
	struct xval as_of;
	int64_t as_of_us;
	uint64_t rows_in;
	bool bin_key;		/* keys are 8-byte values (see above) */
	bool fixed;		/* bin_key, and used columns of 8-byte values */
	/* The output row: keys, features, then the timestamp_key if any. */
	size_t nk, nf;
	uint32_t ncols;
	bool add_ts;
	char tsbuf[40];
};

static uint64_t key_hash(const char *p, size_t n)
{
	return hash64(p, n, 0x51ed270b27a5c1d3ULL);
}

/* The table of 8-byte keys twice as big: the key is in the slot, so a
 * lookup reads one cache line. */
static int tab_grow8(struct group_tab *g)
{
	size_t cap = g->cap ? 2 * g->cap : 1024;
	struct key8_slot *s = calloc(cap, sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < g->cap; i++) {
		if (!g->slots8[i].gid)
			continue;
		size_t j = key_hash((const char *)&g->slots8[i].key, 8) & (cap - 1);
		while (s[j].gid)
			j = (j + 1) & (cap - 1);
		s[j] = g->slots8[i];
	}
	free(g->slots8);
	g->slots8 = s;
	g->cap = cap;
	return 0;
}

static int tab_grow(struct group_tab *g)
{
	size_t cap = g->cap ? 2 * g->cap : 1024;
	uint64_t *s = calloc(cap, sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < g->cap; i++) {
		uint64_t e = g->slots[i];
		if (!e)
			continue;
		uint32_t gi = (uint32_t)e - 1;
		uint64_t h = key_hash(g->keys.data + g->koff[gi], g->klen[gi]);
		size_t j = h & (cap - 1);
		while (s[j])
			j = (j + 1) & (cap - 1);
		s[j] = e;
	}
	free(g->slots);
	g->slots = s;
	g->cap = cap;
	return 0;
}

/* A new group of key K: its number, or -ENOMEM. */
static long tab_add(struct group_tab *g, const char *k, size_t kl)
{
	if (g->n >= UINT32_MAX - 1)
		return -ENOMEM;
	if (g->n * g->ssize >= g->scap) {
		size_t cap = g->scap ? 2 * g->scap : (g->hint + 256) * g->ssize;
		char *st = vmem_grow(g->states, g->scap, cap, false);
		if (!st && !g->scap)	/* the room refused (strict overcommit): grow */
			st = vmem_grow(NULL, 0, cap = 256 * g->ssize, false);
		uint64_t *ko = realloc(g->koff, (cap / g->ssize) * sizeof(*ko));
		if (ko)
			g->koff = ko;
		uint32_t *kl2 = realloc(g->klen, (cap / g->ssize) * sizeof(*kl2));
		if (kl2)
			g->klen = kl2;
		if (!st || !ko || !kl2) {
			if (st) {
				g->states = st;
				g->scap = cap;
			}
			return -ENOMEM;
		}
		g->states = st;
		g->scap = cap;
	}
	size_t gi = g->n++;
	if ((gi + 1) * g->ssize > g->ready) {	/* pages in ahead, in one call */
		size_t to = g->ready + STATES_POPULATE < g->scap ? g->ready + STATES_POPULATE : g->scap;
		vmem_populate(g->states + g->ready, to - g->ready);
		g->ready = to;
	}
	g->koff[gi] = g->keys.len;
	g->klen[gi] = (uint32_t)kl;
	if (buf_append(&g->keys, k, kl))
		return -ENOMEM;
	/* No expr_state_init: the states' pages are fresh (vmem.h), zero as
	 * init makes them. */
	return (long)gi;
}

/* The group of key K with hash H (created when new), or -ENOMEM. */
static long tab_find(struct group_tab *g, const char *k, size_t kl, uint64_t h)
{
	if (2 * (g->n + 1) > g->cap && (g->key8 ? tab_grow8(g) : tab_grow(g)))
		return -ENOMEM;
	size_t j = h & (g->cap - 1);
	if (g->key8) {
		uint64_t key;
		memcpy(&key, k, 8);
		for (; g->slots8[j].gid; j = (j + 1) & (g->cap - 1))
			if (g->slots8[j].key == key)
				return (long)g->slots8[j].gid - 1;
		long gi = tab_add(g, k, kl);
		if (gi >= 0)
			g->slots8[j] = (struct key8_slot){ key, (uint64_t)gi + 1 };
		return gi;
	}
	uint32_t tag = (uint32_t)(h >> 32);
	while (g->slots[j]) {
		uint64_t e = g->slots[j];
		uint32_t gi = (uint32_t)e - 1;
		if ((uint32_t)(e >> 32) == tag && g->klen[gi] == kl &&
		    !memcmp(g->keys.data + g->koff[gi], k, kl))
			return gi;
		j = (j + 1) & (g->cap - 1);
	}
	long gi = tab_add(g, k, kl);
	if (gi >= 0)
		g->slots[j] = ((uint64_t)tag << 32) | (uint64_t)(gi + 1);
	return gi;
}

/* Phase A: the record of one row, key K[0..KL) and typed values, into
 * partition buffer W of the key's partition. */
static int put_record(struct run *r, unsigned w, const char *k, size_t kl,
		      const struct xval *vals)
{
	if (kl > 65535)
		return -E2BIG;
	uint64_t h = key_hash(k, kl);
	struct buf *b = &r->parts[PART_OF(h)].rec[w];
	size_t need = 10 + kl;
	for (size_t u = 0; u < r->nused; u++)
		need += 5 + (vals[u].t == COL_STRING && vals[u].len > 8 ? vals[u].len : 8);
	buf_reserve(b, need);
	char *o = b->data + b->len;
	uint16_t k16 = (uint16_t)kl;
	memcpy(o, &k16, 2);
	memcpy(o + 2, &h, 8);
	memcpy(o + 10, k, kl);
	o += 10 + kl;
	for (size_t u = 0; u < r->nused; u++) {
		const struct xval *v = &vals[u];
		*o++ = (char)v->t;
		if (v->t == COL_STRING) {
			uint32_t l = (uint32_t)v->len;
			memcpy(o, &l, 4);
			memcpy(o + 4, v->s, v->len);
			o += 4 + v->len;
		} else {
			memcpy(o, &v->i, 8);
			o += 8;
		}
	}
	b->len = (size_t)(o - b->data);
	return 0;
}

/* Rows whose event time is after as_of (or null) are not known yet. */
static bool after_as_of(const struct run *r, const struct xval *t)
{
	if (t->t == COL_NULL)
		return true;
	int64_t us = t->t == COL_DATE ? t->i * 86400000000LL : t->i;
	return us > r->as_of_us;
}

/* ---- phase A from the CSV text (small sources, odd keys, the tests'
 * reference) ---- */

struct text_scan {
	struct run *r;
	uint64_t rows;
	struct buf kb;
	struct xval *vals;
};

static int on_row(void *ctx, const struct csv_field *f, size_t n,
		  uint64_t line, struct mlfs_err *err)
{
	struct text_scan *sc = ctx;
	struct run *r = sc->r;
	struct plan *p = r->p;
	size_t nk = p->spec->nkeys;
	const char *k;
	size_t kl;

	sc->rows++;
	if (n != p->ncols)
		return mlfs_fail(err, -EIO, "source line %llu: %zu fields, the table has %u",
				 (unsigned long long)line, n, p->ncols);
	if (nk == 1) {
		k = f[p->keyidx[0]].p;
		kl = f[p->keyidx[0]].len;
		if (!kl)
			return 0;	/* null key: skipped */
	} else {
		/* Composite: lengths then bytes, unambiguous. */
		buf_reset(&sc->kb);
		for (size_t i = 0; i < nk; i++) {
			const struct csv_field *x = &f[p->keyidx[i]];
			if (!x->len)
				return 0;
			uint32_t l = (uint32_t)x->len;
			buf_append(&sc->kb, &l, 4);
			buf_append(&sc->kb, x->p, x->len);
		}
		k = sc->kb.data;
		kl = sc->kb.len;
	}
	if (p->tsidx >= 0) {
		struct xval t;
		const struct csv_field *x = &f[p->tsidx];
		expr_value_from_text(p->types[p->tsidx], x->p, x->len, &t);
		if (after_as_of(r, &t))
			return 0;
	}
	for (size_t u = 0; u < r->nused; u++) {
		uint32_t c = r->used[u];
		expr_value_from_text(p->types[c], f[c].p, f[c].len, &sc->vals[u]);
	}
	int rc = put_record(r, 0, k, kl, sc->vals);
	if (rc == -E2BIG)
		return mlfs_fail(err, -EINVAL, "source line %llu: key longer than 65535 bytes",
				 (unsigned long long)line);
	return rc;
}

/* ---- phase A from the columnar form ---- */

struct col_scan {
	struct run *r;
	uint32_t *cols;		/* columns read, each once */
	size_t ncols;
	int *pos;		/* table column -> index in cols */
	struct buf *kb;		/* per thread */
	struct xval *vals;	/* per thread: nused each */
	uint64_t **hashes;	/* per thread: a chunk's key hashes (fixed) */
};

/* Value R of V as expression input. */
static void vec_value(const struct col_vec *v, size_t r, struct xval *out)
{
	out->s = NULL;
	out->len = 0;
	out->i = 0;
	if (col_vec_null(v, r)) {
		out->t = COL_NULL;
	} else if (v->off) {
		out->t = COL_STRING;
		out->s = v->bytes + v->off[r];
		out->len = v->off[r + 1] - v->off[r];
	} else if (v->f) {
		out->t = COL_FLOAT;
		out->f = v->f[r];
	} else {
		out->t = v->type;
		out->i = v->i[r];
	}
}

/* Append the text of key value R of V (string, or canonical int/date). */
static void key_text(const struct col_vec *v, size_t r, struct buf *out)
{
	char t[32];
	if (v->off)
		buf_append(out, v->bytes + v->off[r], v->off[r + 1] - v->off[r]);
	else if (v->type == COL_DATE) {
		fmt_date(t, (int32_t)v->i[r]);
		buf_puts(out, t);
	} else {
		buf_put_int(out, v->i[r]);
	}
}

/* The key of row R into KB (K, KL point at it); false for a null key. */
static bool row_key(const struct col_scan *cs, const struct col_vec *v, size_t r,
		    struct buf *kb, const char **k, size_t *kl)
{
	const struct plan *p = cs->r->p;
	size_t nk = p->spec->nkeys;
	buf_reset(kb);
	for (size_t i = 0; i < nk; i++) {
		const struct col_vec *x = &v[cs->pos[p->keyidx[i]]];
		if (col_vec_null(x, r))
			return false;
		if (cs->r->bin_key) {
			buf_append(kb, &x->i[r], 8);
		} else if (nk == 1) {
			key_text(x, r, kb);
		} else {
			size_t at = kb->len;
			uint32_t l = 0;
			buf_append(kb, &l, 4);
			key_text(x, r, kb);
			l = (uint32_t)(kb->len - at - 4);
			memcpy(kb->data + at, &l, 4);
		}
	}
	*k = kb->data ? kb->data : "";
	*kl = kb->len;
	return true;
}

static int on_chunk(void *ctx, int t, uint64_t first, const struct col_vec *v,
		    size_t n)
{
	struct col_scan *cs = ctx;
	struct run *r = cs->r;
	const struct plan *p = r->p;
	struct xval *vals = cs->vals + (size_t)t * (r->nused + 1), ts;
	(void)first;
	for (size_t row = 0; row < n; row++) {
		const char *k;
		size_t kl;
		if (!row_key(cs, v, row, &cs->kb[t], &k, &kl))
			continue;
		if (p->tsidx >= 0) {
			vec_value(&v[cs->pos[p->tsidx]], row, &ts);
			if (after_as_of(r, &ts))
				continue;
		}
		for (size_t u = 0; u < r->nused; u++)
			vec_value(&v[cs->pos[r->used[u]]], row, &vals[u]);
		int rc = put_record(r, (unsigned)t, k, kl, vals);
		if (rc)
			return rc;
	}
	return 0;
}

#define FIXED_MAX_USED 64

/* Is key row R of KV (a single int or date key) kept, given the event
 * time column TV (or NULL)?  Its hash into *H. */
static inline bool fixed_row(const struct run *r, const struct col_vec *kv,
			     const struct col_vec *tv, size_t row, uint64_t *h)
{
	if (col_vec_null(kv, row))
		return false;
	if (tv) {
		struct xval ts;
		vec_value(tv, row, &ts);
		if (after_as_of(r, &ts))
			return false;
	}
	*h = key_hash((const char *)&kv->i[row], 8);
	return true;
}

/* Phase A for a single int or date key and used columns of fixed width
 * (r->fixed): the records put_record makes, the chunk's rows scattered
 * in two passes - each partition's count first, so each buffer grows at
 * most once a chunk and a record is plain stores. */
static int on_chunk_fixed(void *ctx, int t, uint64_t first,
			  const struct col_vec *v, size_t n)
{
	struct col_scan *cs = ctx;
	struct run *r = cs->r;
	const struct plan *p = r->p;
	const struct col_vec *kv = &v[cs->pos[p->keyidx[0]]];
	const struct col_vec *tv = p->tsidx >= 0 ? &v[cs->pos[p->tsidx]] : NULL;
	const struct col_vec *uv[FIXED_MAX_USED];
	uint8_t ut[FIXED_MAX_USED];
	size_t count[NPART] = { 0 }, rsize = 18 + 9 * r->nused;
	char *at[NPART];
	uint64_t *hs = cs->hashes[t];
	(void)first;
	__atomic_add_fetch(&pipeline_test_fixed_chunks, 1, __ATOMIC_RELAXED);
	if (!hs && !(hs = cs->hashes[t] = malloc(COLUMNAR_CHUNK_ROWS * sizeof(*hs))))
		mlfs_oom();
	for (size_t u = 0; u < r->nused; u++) {
		uv[u] = &v[cs->pos[r->used[u]]];
		ut[u] = (uint8_t)(uv[u]->f ? COL_FLOAT : uv[u]->type);
	}
	for (size_t row = 0; row < n; row++) {
		if (fixed_row(r, kv, tv, row, &hs[row]))
			count[PART_OF(hs[row])]++;
		else
			hs[row] = 0;
	}
	for (unsigned i = 0; i < NPART; i++) {
		struct buf *b = &r->parts[i].rec[t];
		buf_reserve(b, count[i] * rsize);
		at[i] = b->data + b->len;
		b->len += count[i] * rsize;
	}
	for (size_t row = 0; row < n; row++) {
		if (!hs[row] && !fixed_row(r, kv, tv, row, &hs[row]))
			continue;
		char *o = at[PART_OF(hs[row])];
		uint16_t k16 = 8;
		memcpy(o, &k16, 2);
		memcpy(o + 2, &hs[row], 8);
		memcpy(o + 10, &kv->i[row], 8);
		o += 18;
		for (size_t u = 0; u < r->nused; u++, o += 9) {
			const struct col_vec *x = uv[u];
			bool null = col_vec_null(x, row);
			*o = (char)(null ? COL_NULL : ut[u]);
			if (null)
				memset(o + 1, 0, 8);
			else
				memcpy(o + 1, x->f ? (const void *)&x->f[row] : (const void *)&x->i[row], 8);
		}
		at[PART_OF(hs[row])] = o;
	}
	return 0;
}

/* ---- phase B ---- */

/* Column-major batches of decoded records for expr_state_add_batch:
 * per used column EXPR_BATCH values, and the rows' groups. */
struct batch {
	struct xval *vals;	/* nused * EXPR_BATCH */
	const struct xval **cols;	/* schema column -> its values */
	struct xval *row;	/* the kernels' scratch row */
	uint32_t gid[EXPR_BATCH];
	const char *key[EXPR_BATCH];
	uint16_t klen[EXPR_BATCH];
	uint64_t hash[EXPR_BATCH];
};

/* The batch's N rows into their groups, then the aggregates over them.
 * The rows' slots were prefetched as they were decoded, and each group's
 * state is as it is found: the lookups of a batch wait on memory
 * together, not one after the other. */
static int batch_flush(struct run *r, struct part *pt, struct batch *b, size_t n)
{
	struct group_tab *g = &pt->g;
	if (!n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		long gi = tab_find(g, b->key[i], b->klen[i], b->hash[i]);
		if (gi < 0)
			return (int)gi;
		b->gid[i] = (uint32_t)gi;
		for (size_t at = 0; at < g->ssize; at += 64)
			__builtin_prefetch(g->states + (size_t)gi * g->ssize + at, 1);
	}
	return expr_state_add_batch(r->p->prog, g->states, g->ssize, b->gid,
				    b->cols, n, &r->as_of, b->row);
}

/* Aggregate the records of BUF into PT's group table, EXPR_BATCH rows at
 * a time: the groups of a batch are found first, then each aggregate
 * runs over the batch's columns. */
static int aggregate_records(struct run *r, struct part *pt, const struct buf *buf,
			     struct batch *b)
{
	const char *o = buf->data, *end = buf->data + buf->len;
	size_t n = 0;
	int rc;
	while (o < end) {
		uint16_t kl;
		uint64_t h;
		memcpy(&kl, o, 2);
		memcpy(&h, o + 2, 8);
		const char *k = o + 10;
		o += 10 + kl;
		for (size_t u = 0; u < r->nused; u++) {
			struct xval *v = &b->vals[u * EXPR_BATCH + n];
			v->t = (enum col_type)(unsigned char)*o++;
			v->s = NULL;
			v->len = 0;
			if (v->t == COL_STRING) {
				uint32_t l;
				memcpy(&l, o, 4);
				v->s = o + 4;
				v->len = l;
				o += 4 + l;
			} else {
				memcpy(&v->i, o, 8);
				o += 8;
			}
		}
		if (pt->g.cap)
			__builtin_prefetch(pt->g.key8 ? (const void *)&pt->g.slots8[h & (pt->g.cap - 1)]
						      : (const void *)&pt->g.slots[h & (pt->g.cap - 1)]);
		b->key[n] = k;
		b->klen[n] = kl;
		b->hash[n++] = h;
		if (n == EXPR_BATCH) {
			if ((rc = batch_flush(r, pt, b, n)))
				return rc;
			n = 0;
		}
	}
	return batch_flush(r, pt, b, n);
}

/* Phase B for partition I: its records of every thread, in row order,
 * into its groups; the records are emptied for the next batch. */
static void aggregate_part(void *arg, size_t i)
{
	struct run *r = arg;
	struct part *pt = &r->parts[i];
	struct batch b;
	b.vals = calloc(r->nused * EXPR_BATCH + 1, sizeof(*b.vals));
	b.cols = calloc(r->p->ncols + 1, sizeof(*b.cols));
	b.row = calloc(r->p->ncols + 1, sizeof(*b.row));
	if (!b.vals || !b.cols || !b.row)
		mlfs_oom();
	for (size_t u = 0; u < r->nused; u++)
		b.cols[r->used[u]] = &b.vals[u * EXPR_BATCH];
	for (unsigned w = 0; !pt->rc && w < r->nrec; w++) {
		pt->rc = aggregate_records(r, pt, &pt->rec[w], &b);
		buf_reset(&pt->rec[w]);
	}
	free(b.vals);
	free(b.cols);
	free(b.row);
}

/* With 8-byte int or date keys, the groups of G in key order (NULL
 * otherwise), and their keys into *SKEYS: the feature table's key
 * encoding orders canonical ints as numbers and dates as days, so the
 * partitions merged by key (gather_rows) reach features_write_rows in its
 * order and it need not sort them. */
static uint32_t *group_order(const struct run *r, const struct group_tab *g,
			     int64_t **skeys)
{
	*skeys = NULL;
	if (!r->bin_key)
		return NULL;
	uint32_t *order = malloc((g->n + 1) * sizeof(*order));
	*skeys = malloc((g->n + 1) * sizeof(**skeys));
	if (!order || !*skeys)
		mlfs_oom();
	for (size_t gi = 0; gi < g->n; gi++) {
		memcpy(&(*skeys)[gi], g->keys.data + g->koff[gi], 8);
		order[gi] = (uint32_t)gi;
	}
	sort_i64_pairs(*skeys, order, g->n);
	return order;
}

/* Row fields of a finished partition: per group, where its record
 * starts, where its key starts, where it ends, and its CSV bytes. */
#define ROW_OFFS 4

/* The text of group GI's key fields K (KL bytes) into KT, as
 * features_rec_field takes them: field J at *KP[J], *KLEN[J]. */
static void group_key_text(const struct run *r, const char *k, size_t kl,
			   struct buf *kt, size_t *koff, size_t *klen)
{
	buf_reset(kt);
	if (r->bin_key) {
		int64_t x;
		memcpy(&x, k, 8);
		struct col_vec kv = { .type = r->p->types[r->p->keyidx[0]], .n = 1, .i = &x };
		key_text(&kv, 0, kt);
		koff[0] = 0;
		klen[0] = kt->len;
	} else if (r->nk == 1) {
		buf_append(kt, k, kl);
		koff[0] = 0;
		klen[0] = kl;
	} else {
		size_t pos = 0;
		for (size_t j = 0; j < r->nk; j++) {
			uint32_t l;
			memcpy(&l, k + pos, 4);
			koff[j] = kt->len;
			klen[j] = l;
			buf_append(kt, k + pos + 4, l);
			pos += 4 + l;
		}
	}
}

#define FINISH_AHEAD 8

/* Every group of partition I into a feature table record (features.h,
 * features_rec_*): the values go from the expression states straight to
 * the record's fields, with no text in between to parse or copy again.
 * Its states are released. */
static void finish_part(void *arg, size_t i)
{
	struct run *r = arg;
	struct part *pt = &r->parts[i];
	const struct expr_prog *prog = r->p->prog;
	struct group_tab *g = &pt->g;
	struct xval *vals = calloc(r->nf + 1, sizeof(*vals));
	struct buf kt = { 0 };
	struct features_rec rec;
	size_t koff[16], klen[16];
	if (pt->rc)
		goto out;
	for (unsigned w = 0; w < r->nrec; w++)
		buf_free(&pt->rec[w]);
	pt->off = malloc((g->n ? g->n : 1) * ROW_OFFS * sizeof(*pt->off));
	if (!vals || !pt->off)
		mlfs_oom();
	buf_reserve(&pt->text, g->n * (r->ncols * 9 + 16) + 1);
	uint32_t *order = group_order(r, g, &pt->skeys);
	for (size_t oi = 0; oi < g->n; oi++) {
		size_t gi = order ? order[oi] : oi, kstart;
		uint32_t *base = pt->off + oi * ROW_OFFS;
		char *st = g->states + gi * g->ssize;
		if (oi + FINISH_AHEAD < g->n) {	/* key order visits states at random */
			size_t ahead = order ? order[oi + FINISH_AHEAD] : oi + FINISH_AHEAD;
			for (size_t at = 0; at < g->ssize; at += 64)
				__builtin_prefetch(g->states + ahead * g->ssize + at);
		}
		group_key_text(r, g->keys.data + g->koff[gi], g->klen[gi], &kt, koff, klen);
		features_rec_begin(&rec, &pt->text, r->ncols, (uint32_t)r->nk);
		for (size_t j = 0; j < r->nk; j++)
			features_rec_field(&rec, kt.data + koff[j], klen[j]);
		expr_state_finish(prog, st, &r->as_of, vals);
		for (size_t f = 0; f < r->nf; f++) {
			char tmp[40];
			const char *p;
			size_t n = expr_value_fmt(&vals[f], tmp, &p);
			features_rec_field(&rec, p, n);
		}
		if (r->add_ts)
			features_rec_field(&rec, r->tsbuf, strlen(r->tsbuf));
		features_rec_end(&rec, &kstart);
		expr_state_free(prog, st);
		if (pt->text.len > UINT32_MAX || rec.fbytes > UINT32_MAX) {
			pt->rc = -EFBIG;	/* 4 GiB of text in 1/256 of the keys */
			break;
		}
		base[0] = (uint32_t)rec.vstart;
		base[1] = (uint32_t)kstart;
		base[2] = (uint32_t)pt->text.len;
		base[3] = (uint32_t)rec.fbytes;
	}
	free(order);
	/* States are released: forget them so cleanup does not free twice;
	 * the keys were copied into the records. */
	vmem_free(g->states, g->scap);
	g->states = NULL;
	free(g->slots);
	g->slots = NULL;
	free(g->slots8);
	g->slots8 = NULL;
	buf_free(&g->keys);
out:
	buf_free(&kt);
	free(vals);
}

/* Phase B for every partition across the pool; the first error. */
static int aggregate_all(struct run *r)
{
	par_for(par_default(), NPART, aggregate_part, r);
	for (unsigned i = 0; i < NPART; i++)
		if (r->parts[i].rc)
			return r->parts[i].rc;
	return 0;
}

/* Sources below this many bytes parse their CSV text in one thread; the
 * others are read through their columnar form. */
size_t pipeline_parallel_min_bytes = 1u << 20;

/* Can the key columns stand for their text in the columnar form?  Sets
 * bin_key for a single int or date key. */
static bool keys_typed(struct run *r, const struct columnar *c)
{
	const struct plan *p = r->p;
	for (size_t i = 0; i < p->spec->nkeys; i++) {
		uint32_t k = (uint32_t)p->keyidx[i];
		enum col_type t = columnar_type(c, k);
		if (t == COL_STRING || t == COL_NULL)
			continue;
		if ((t != COL_INT && t != COL_DATE) || !columnar_canonical(c, k))
			return false;
	}
	enum col_type t0 = columnar_type(c, (uint32_t)p->keyidx[0]);
	r->bin_key = p->spec->nkeys == 1 && (t0 == COL_INT || t0 == COL_DATE);
	r->fixed = r->bin_key && r->nused <= FIXED_MAX_USED;
	for (size_t u = 0; u < r->nused; u++) {
		enum col_type t = columnar_type(c, r->used[u]);
		r->fixed = r->fixed && t != COL_STRING && t != COL_NULL;
	}
	return true;
}

/* The columns phase A reads, each once: keys, event time, used. */
static void scan_columns(struct col_scan *cs, const struct plan *p,
			 const struct run *r)
{
	cs->pos = malloc((p->ncols + 1) * sizeof(*cs->pos));
	cs->cols = malloc((p->ncols + 1) * sizeof(*cs->cols));
	if (!cs->pos || !cs->cols)
		mlfs_oom();
	for (uint32_t c = 0; c < p->ncols; c++)
		cs->pos[c] = -1;
	uint32_t want[2 * 16 + 2];
	size_t nwant = 0;
	for (size_t i = 0; i < p->spec->nkeys; i++)
		want[nwant++] = (uint32_t)p->keyidx[i];
	if (p->tsidx >= 0)
		want[nwant++] = (uint32_t)p->tsidx;
	for (size_t i = 0; i < nwant + r->nused; i++) {
		uint32_t c = i < nwant ? want[i] : r->used[i - nwant];
		if (cs->pos[c] < 0) {
			cs->pos[c] = (int)cs->ncols;
			cs->cols[cs->ncols++] = c;
		}
	}
}

/* Phases A and B over the columnar form C, a batch of chunks at a time. */
static int run_columnar(struct run *r, struct columnar *c, struct mlfs_err *err)
{
	struct col_scan cs = { .r = r };
	int nt = columnar_threads(), rc = 0;
	scan_columns(&cs, r->p, r);
	cs.kb = calloc((size_t)nt, sizeof(*cs.kb));
	cs.vals = calloc((size_t)nt * (r->nused + 1), sizeof(*cs.vals));
	cs.hashes = calloc((size_t)nt, sizeof(*cs.hashes));
	if (!cs.kb || !cs.vals || !cs.hashes)
		mlfs_oom();
	size_t n = columnar_nchunks(c);
	for (unsigned i = 0; i < NPART; i++)
		r->parts[i].g.key8 = r->bin_key;
	for (size_t lo = 0; !rc && lo < n; lo += BATCH_CHUNKS) {
		rc = columnar_scan_chunks(c, lo, lo + BATCH_CHUNKS, cs.cols, cs.ncols,
					  r->fixed ? on_chunk_fixed : on_chunk, &cs, err);
		if (rc == -E2BIG)
			rc = mlfs_fail(err, -EINVAL, "a key longer than 65535 bytes");
		if (!rc)
			rc = aggregate_all(r);
	}
	r->rows_in = columnar_rows(c);
	for (int t = 0; t < nt; t++) {
		buf_free(&cs.kb[t]);
		free(cs.hashes[t]);
	}
	free(cs.hashes);
	free(cs.kb);
	free(cs.vals);
	free(cs.cols);
	free(cs.pos);
	return rc;
}

/* Phases A and B: through the columnar form of the source when it has
 * one that fits, else from its CSV text in one thread. */
static int aggregate_source(struct run *r, struct store *s, const char *source,
			    struct mlfs_err *err)
{
	struct table_info info;
	struct columnar *c = NULL;
	int rc = table_stat(s, source, &info);
	if (rc)
		return rc;
	if (info.data_bytes >= pipeline_parallel_min_bytes) {
		rc = columnar_open(s, source, &c, err);
		if (rc == -EAGAIN)
			return rc;
		if (!rc && !keys_typed(r, c)) {
			columnar_free(c);
			c = NULL;
		}
	}
	if (c) {
		rc = run_columnar(r, c, err);
		columnar_free(c);
		return rc;
	}
	r->bin_key = false;
	r->fixed = false;
	struct text_scan one = { .r = r };
	if (!(one.vals = calloc(r->nused + 1, sizeof(*one.vals))))
		mlfs_oom();
	rc = table_scan(s, source, on_row, &one, err);
	buf_free(&one.kb);
	free(one.vals);
	r->rows_in = one.rows;
	return rc ? rc : aggregate_all(r);
}

/* Output rows: the partitions' finished rows, in partition order,
 * without copying them. */
struct outrows {
	const struct run *r;
	uint16_t *part;		/* per row: its partition */
	uint32_t *idx;		/* per row: its place in the partition */
};

static const uint32_t *out_offs(const struct outrows *o, size_t row,
				const struct part **pt)
{
	*pt = &o->r->parts[o->part[row]];
	return (*pt)->off + (size_t)o->idx[row] * ROW_OFFS;
}

static uint64_t out_record(void *ctx, size_t row, const char **key,
			   size_t *klen, const char **val, size_t *vlen)
{
	const struct part *pt;
	const uint32_t *base = out_offs(ctx, row, &pt);
	*val = pt->text.data + base[0];
	*vlen = base[1] - base[0];
	*key = pt->text.data + base[1];
	*klen = base[2] - base[1];
	return base[3];
}

static const char *out_field(void *ctx, size_t row, uint32_t c, size_t *len)
{
	const struct part *pt;
	const uint32_t *base = out_offs(ctx, row, &pt);
	return features_rec_text(pt->text.data + base[0], base[1] - base[0], c, len);
}

static void report(struct buf *out, const char *status, int64_t start,
		   const struct plan *p, uint64_t rows_in, uint64_t keys,
		   double ms, const char *error)
{
	char t[40];
	buf_reset(out);
	buf_printf(out, "status %s\n", status);
	fmt_timestamp(t, start / 1000);
	buf_printf(out, "time %s\n", t);
	if (p && p->spec) {
		buf_printf(out, "source %s\n", p->spec->source);
		if (p->as_of_date)
			fmt_date(t, (int32_t)(p->as_of_us / 86400000000LL));
		else
			fmt_timestamp(t, p->as_of_us);
		buf_printf(out, "as_of %s\n", t);
	}
	buf_printf(out, "rows_in %llu\n", (unsigned long long)rows_in);
	buf_printf(out, "keys_out %llu\n", (unsigned long long)keys);
	buf_printf(out, "duration_ms %.3f\n", ms);
	if (error)
		buf_printf(out, "error %s\n", error);
}

/* The feature table's columns: the keys, the features, the event time. */
static void output_columns(struct run *r, const struct plan *p, char ***names,
			   enum col_type **types)
{
	size_t nk = p->spec->nkeys, nf = expr_prog_nfeatures(p->prog);
	bool add_ts = p->fs->ts_name != NULL;
	uint32_t ncols = (uint32_t)(nk + nf + (add_ts ? 1 : 0));
	r->nk = nk;
	r->nf = nf;
	r->ncols = ncols;
	r->add_ts = add_ts;
	*names = calloc(ncols, sizeof(**names));
	*types = calloc(ncols, sizeof(**types));
	if (!*names || !*types)
		mlfs_oom();
	for (size_t k = 0; k < nk; k++) {
		(*names)[k] = p->cols[p->keyidx[k]];
		(*types)[k] = p->types[p->keyidx[k]];
	}
	for (size_t f = 0; f < nf; f++) {
		(*names)[nk + f] = (char *)expr_prog_name(p->prog, f);
		(*types)[nk + f] = expr_prog_type(p->prog, f);
	}
	if (add_ts) {
		(*names)[ncols - 1] = p->fs->ts_name;
		(*types)[ncols - 1] = p->as_of_date ? COL_DATE : COL_TIMESTAMP;
		if (p->as_of_date)
			fmt_date(r->tsbuf, (int32_t)(p->as_of_us / 86400000000LL));
		else
			fmt_timestamp(r->tsbuf, p->as_of_us);
	}
}

/* The heads of the partitions' key-ordered rows, a min-heap by key. */
struct head {
	int64_t k;
	uint32_t part, i;
};

static void heap_down(struct head *h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		if (l < n && h[l].k < h[m].k)
			m = l;
		if (l + 1 < n && h[l + 1].k < h[m].k)
			m = l + 1;
		if (m == i)
			return;
		struct head t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

/* With bin_key the partitions' rows (each in key order) merged by key. */
static void merge_parts(const struct run *r, struct outrows *o)
{
	struct head h[NPART];
	size_t n = 0, row = 0;
	for (unsigned i = 0; i < NPART; i++)
		if (r->parts[i].g.n)
			h[n++] = (struct head){ r->parts[i].skeys[0], i, 0 };
	for (size_t i = n; i-- > 0;)
		heap_down(h, n, i);
	while (n) {
		const struct part *pt = &r->parts[h[0].part];
		o->part[row] = (uint16_t)h[0].part;
		o->idx[row++] = h[0].i;
		if (++h[0].i < pt->g.n)
			h[0].k = pt->skeys[h[0].i];
		else
			h[0] = h[--n];
		heap_down(h, n, 0);
	}
}

/* Number the rows of every partition for the merge, in key order when
 * the keys are 8-byte values; returns the rows. */
static size_t gather_rows(struct run *r, struct outrows *o)
{
	size_t ngroups = 0;
	for (unsigned i = 0; i < NPART; i++)
		ngroups += r->parts[i].g.n;
	o->r = r;
	o->part = malloc((ngroups + 1) * sizeof(*o->part));
	o->idx = malloc((ngroups + 1) * sizeof(*o->idx));
	if (!o->part || !o->idx)
		mlfs_oom();
	if (r->bin_key) {
		merge_parts(r, o);
		return ngroups;
	}
	ngroups = 0;
	for (unsigned i = 0; i < NPART; i++) {
		for (size_t j = 0; j < r->parts[i].g.n; j++) {
			o->part[ngroups + j] = (uint16_t)i;
			o->idx[ngroups + j] = (uint32_t)j;
		}
		ngroups += r->parts[i].g.n;
	}
	return ngroups;
}

static void run_free(struct run *r, const struct plan *p)
{
	for (unsigned i = 0; r->parts && i < NPART; i++) {
		struct group_tab *g = &r->parts[i].g;
		for (size_t gi = 0; g->states && gi < g->n && p->prog; gi++)
			expr_state_free(p->prog, g->states + gi * g->ssize);
		free(g->slots);
		free(g->slots8);
		vmem_free(g->states, g->scap);
		free(g->koff);
		free(g->klen);
		buf_free(&g->keys);
		for (unsigned w = 0; r->parts[i].rec && w < r->nrec; w++)
			buf_free(&r->parts[i].rec[w]);
		free(r->parts[i].rec);
		buf_free(&r->parts[i].text);
		free(r->parts[i].off);
		free(r->parts[i].skeys);
	}
}

int pipeline_refresh(struct store *s, const char *name,
		     const struct pipeline_opts *opts, struct mlfs_err *err)
{
	struct plan p = { 0 };
	struct run r = { 0 };
	struct outrows o = { 0 };
	struct buf spec = { 0 }, rep = { 0 };
	struct table_info before, after;
	char **names = NULL;
	enum col_type *types = NULL;
	int64_t start = clock_now_ns(), t0 = clock_mono_ns();
	int rc;

	if ((rc = features_text_get(s, name, FEATURES_PIPELINE, &spec)))
		return rc;
	if (blank(spec.data, spec.len)) {
		buf_free(&spec);
		return mlfs_fail(err, -EINVAL, "no pipeline.yaml: write one first");
	}
	if ((rc = plan_make(s, name, spec.data, spec.len, opts, &p, err))) {
		/* The pipeline no longer fits its source. */
		goto fail;
	}
	if ((rc = table_stat(s, p.spec->source, &before))) {
		rc = mlfs_fail(err, -EINVAL, "source table '%s' is gone", p.spec->source);
		goto fail;
	}
	r.p = &p;
	r.parts = calloc(NPART, sizeof(*r.parts));
	r.used = calloc(p.ncols + 1, sizeof(*r.used));
	r.nrec = (unsigned)columnar_threads();
	if (!r.parts || !r.used)
		mlfs_oom();
	for (unsigned i = 0; i < NPART; i++)
		if (!(r.parts[i].rec = calloc(r.nrec, sizeof(*r.parts[i].rec))))
			mlfs_oom();
	for (uint32_t c = 0; c < p.ncols; c++)
		if (expr_prog_uses_column(p.prog, c))
			r.used[r.nused++] = c;
	size_t ssize = (expr_state_size(p.prog) + 7) & ~(size_t)7;
	/* A partition has at most its rows' groups, about a NPART-th of the
	 * source's rows: room for them reserved at once costs only address
	 * space, and the states never move or grow in the common case. */
	size_t hint = (size_t)(before.rows / NPART + before.rows / (4 * NPART));
	if (hint > STATES_RESERVE_MAX / ssize)
		hint = STATES_RESERVE_MAX / ssize;
	for (unsigned i = 0; i < NPART; i++) {
		r.parts[i].g.ssize = ssize;
		r.parts[i].g.hint = hint;
	}
	r.as_of.t = p.as_of_date ? COL_DATE : COL_TIMESTAMP;
	r.as_of.i = p.as_of_date ? p.as_of_us / 86400000000LL : p.as_of_us;
	r.as_of_us = p.as_of_us;
	rc = aggregate_source(&r, s, p.spec->source, err);
	if (rc && rc != -EAGAIN)
		goto fail;
	if (!rc && pipeline_test_hook)
		pipeline_test_hook(s, p.spec->source);
	if (rc || table_stat(s, p.spec->source, &after) || after.version != before.version ||
	    after.id != before.id) {
		rc = mlfs_fail(err, -EAGAIN, "source table '%s' changed during the refresh; nothing merged: refresh again",
			       p.spec->source);
		goto fail;
	}
	output_columns(&r, &p, &names, &types);
	/* Finish each partition, in parallel. */
	par_for(par_default(), NPART, finish_part, &r);
	for (unsigned i = 0; i < NPART && !rc; i++)
		rc = r.parts[i].rc;
	if (rc)
		goto fail;
	size_t ngroups = gather_rows(&r, &o);
	struct features_rows rows = {
		.ncols = r.ncols, .names = (const char *const *)names, .types = types,
		.nrows = ngroups, .field = out_field, .ctx = &o,
	};
	report(&rep, "ok", start, &p, r.rows_in, ngroups,
	       (double)(clock_mono_ns() - t0) / 1e6, NULL);
	struct features_text_put extra = { FEATURES_REPORT, rep.data, rep.len };
	if ((rc = features_write_records(s, name, &rows, out_record, &extra, 1, err)))
		goto fail;
	/* The report written with the rows timed all but that write. */
	report(&rep, "ok", start, &p, r.rows_in, ngroups,
	       (double)(clock_mono_ns() - t0) / 1e6, NULL);
	features_text_set(s, name, FEATURES_REPORT, rep.data, rep.len, NULL);
	goto out;
fail:
	{
		char msg[600];
		snprintf(msg, sizeof(msg), "%s", err && err->msg[0] ? err->msg : strerror(-rc));
		report(&rep, "failed", start, &p, r.rows_in, 0,
		       (double)(clock_mono_ns() - t0) / 1e6, msg);
		features_text_set(s, name, FEATURES_REPORT, rep.data, rep.len, NULL);
	}
out:
	run_free(&r, &p);
	free(r.parts);
	free(r.used);
	free(o.part);
	free(o.idx);
	/* Give the big buffers back, from every pool thread's arena too: the
	 * daemon returns to its idle size. */
	malloc_trim(0);
	free(names);
	free(types);
	buf_free(&spec);
	buf_free(&rep);
	plan_free(&p);
	return rc;
}

int pipeline_report_text(struct store *s, const char *name, struct buf *out)
{
	return features_text_get(s, name, FEATURES_REPORT, out);
}
