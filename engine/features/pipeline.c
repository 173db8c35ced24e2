/* pipeline.c - pipeline.yaml against real tables, and refresh.
 *
 * A refresh reads the source table (one version: the table's version is
 * checked before and after, EAGAIN if it moved), in two phases:
 *   A. rows are parsed - by several threads on byte slices of data.csv
 *      for big tables, else by table_scan - and spread by key hash over
 *      NPART partitions as compact typed records;
 *   B. each partition, on its own thread, is grouped by key in a hash
 *      table small enough for the cache, fed through the expression
 *      states (expr.h) in row order, and finished into text fields.
 * The rows then go to features_write_rows, which merges them and the
 * report in one store batch.  Rows whose key is null are skipped (as
 * pandas' groupby does).  This file owns no store keys: it asks table.h
 * and features.h. */
#include "pipeline.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <pthread.h>
#include <unistd.h>

#include "clock.h"
#include "csv.h"
#include "expr.h"
#include "features.h"
#include "spec.h"
#include "table.h"

void (*pipeline_test_hook)(struct store *s, const char *source);

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
struct group_tab {
	uint64_t *slots;	/* (hash high 32 | group+1 low 32), 0 empty */
	size_t cap;
	size_t n;
	struct buf keys;	/* per group: encoded key texts */
	uint64_t *koff;		/* group -> offset in keys */
	uint32_t *klen;
	char *states;
	size_t ssize, scap;
};

/* The rows are first spread over NPART partitions by key hash (phase A,
 * as table_scan parses them), then each partition is aggregated on its
 * own (phase B, in parallel): its groups fit in cache, where one table
 * for every key would miss it on nearly every row.
 * A record: u16 key length, key bytes, then per used column a type byte
 * and 8 bytes of value, or for text a u32 length and the bytes. */
#define NPART 256

#define MAX_SCANNERS 8

struct part {
	struct buf rec[MAX_SCANNERS];	/* per scanner, in row order */
	struct group_tab g;
	struct buf text;	/* finished rows: field texts */
	uint64_t *off;		/* per group: ncols + 1 offsets into text */
	int rc;
};

struct run {
	struct plan *p;
	struct part *parts;
	uint32_t *used;		/* the columns expressions read */
	size_t nused;
	struct xval as_of;
	int64_t as_of_us;
	uint64_t rows_in;
	unsigned next;		/* phase B: next partition to take */
	pthread_mutex_t lock;
	/* The output row: keys, features, then the timestamp_key if any. */
	size_t nk, nf;
	uint32_t ncols;
	bool add_ts;
	char tsbuf[40];
};

/* Keys are short: eight bytes at a time, then a strong finalizer, so
 * every bit of the slot index depends on every byte. */
static uint64_t hash_bytes(const char *p, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ (n * 0xff51afd7ed558ccdULL);
	while (n >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
		h ^= h >> 31;
		p += 8;
		n -= 8;
	}
	uint64_t w = 0;
	memcpy(&w, p, n);
	h = (h ^ w) * 0x94d049bb133111ebULL;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 32;
	return h;
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
		uint64_t h = hash_bytes(g->keys.data + g->koff[gi], g->klen[gi]);
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

/* The group of key K with hash H (created when new), or -ENOMEM. */
static long tab_find(struct group_tab *g, const struct expr_prog *prog,
		     const char *k, size_t kl, uint64_t h)
{
	if (2 * (g->n + 1) > g->cap && tab_grow(g))
		return -ENOMEM;
	uint32_t tag = (uint32_t)(h >> 32);
	size_t j = h & (g->cap - 1);
	while (g->slots[j]) {
		uint64_t e = g->slots[j];
		uint32_t gi = (uint32_t)e - 1;
		if ((uint32_t)(e >> 32) == tag && g->klen[gi] == kl &&
		    !memcmp(g->keys.data + g->koff[gi], k, kl))
			return gi;
		j = (j + 1) & (g->cap - 1);
	}
	if (g->n >= UINT32_MAX - 1)
		return -ENOMEM;
	if (g->n * g->ssize >= g->scap) {
		size_t cap = g->scap ? 2 * g->scap : 256 * g->ssize;
		char *st = realloc(g->states, cap);
		uint64_t *ko = realloc(g->koff, (cap / g->ssize) * sizeof(*ko));
		if (ko)
			g->koff = ko;
		uint32_t *kl2 = realloc(g->klen, (cap / g->ssize) * sizeof(*kl2));
		if (kl2)
			g->klen = kl2;
		if (!st || !ko || !kl2) {
			if (st)
				g->states = st;
			return -ENOMEM;
		}
		g->states = st;
		g->scap = cap;
	}
	size_t gi = g->n++;
	g->koff[gi] = g->keys.len;
	g->klen[gi] = (uint32_t)kl;
	if (buf_append(&g->keys, k, kl))
		return -ENOMEM;
	expr_state_init(prog, g->states + gi * g->ssize);
	g->slots[j] = ((uint64_t)tag << 32) | (uint64_t)(gi + 1);
	return (long)gi;
}

/* One scanner of phase A: a slice of the source's rows. */
struct scanner {
	struct run *r;
	unsigned w;		/* index: its records go to rec[w] */
	uint64_t rows;
	struct buf kb;
	/* Parallel scans only: the slice [lo, hi) of data.csv. */
	struct store *s;
	const char *source;
	uint64_t lo, hi;
	int rc;
	struct mlfs_err err;
};

/* Phase A: one source row into the record of its partition. */
static int on_row(void *ctx, const struct csv_field *f, size_t n,
		  uint64_t line, struct mlfs_err *err)
{
	struct scanner *sc = ctx;
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
	if (kl > 65535)
		return mlfs_fail(err, -EINVAL, "source line %llu: key longer than 65535 bytes",
				 (unsigned long long)line);
	if (p->tsidx >= 0) {
		/* Point in time: rows after as_of (or without a time) are not
		 * known yet. */
		struct xval t;
		const struct csv_field *x = &f[p->tsidx];
		expr_value_from_text(p->types[p->tsidx], x->p, x->len, &t);
		if (t.t == COL_NULL)
			return 0;
		int64_t us = t.t == COL_DATE ? t.i * 86400000000LL : t.i;
		if (us > r->as_of_us)
			return 0;
	}
	struct buf *b = &r->parts[hash_bytes(k, kl) >> 56].rec[sc->w];
	size_t need = 2 + kl;
	for (size_t u = 0; u < r->nused; u++)
		need += 5 + (f[r->used[u]].len > 8 ? f[r->used[u]].len : 8);
	if (buf_reserve(b, need))
		return -ENOMEM;
	char *o = b->data + b->len;
	uint16_t k16 = (uint16_t)kl;
	memcpy(o, &k16, 2);
	memcpy(o + 2, k, kl);
	o += 2 + kl;
	for (size_t u = 0; u < r->nused; u++) {
		uint32_t c = r->used[u];
		struct xval v;
		expr_value_from_text(p->types[c], f[c].p, f[c].len, &v);
		*o++ = (char)v.t;
		if (v.t == COL_STRING) {
			uint32_t l = (uint32_t)v.len;
			memcpy(o, &l, 4);
			memcpy(o + 4, v.s, v.len);
			o += 4 + v.len;
		} else if (v.t != COL_NULL) {
			memcpy(o, &v.i, 8);
			o += 8;
		}
	}
	b->len = (size_t)(o - b->data);
	return 0;
}

/* Tables at least this large are scanned by several threads. */
size_t pipeline_parallel_min_bytes = 16u << 20;

static int nthreads_for(void)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	return ncpu < 1 ? 1 : ncpu > MAX_SCANNERS ? MAX_SCANNERS : (int)ncpu;
}

static void *scan_worker(void *arg)
{
	struct scanner *sc = arg;
	struct table_reader *tr = NULL;
	struct csv_reader *csv = NULL;
	char *piece = malloc(1u << 20);
	sc->rc = piece ? table_reader_open(sc->s, sc->source, &tr, &sc->err) : -ENOMEM;
	if (!sc->rc && !(csv = csv_reader_new(TABLE_MAX_RECORD, on_row, sc)))
		sc->rc = -ENOMEM;
	for (uint64_t off = sc->lo; !sc->rc && off < sc->hi;) {
		size_t want = sc->hi - off < (1u << 20) ? (size_t)(sc->hi - off) : (1u << 20);
		long got = table_reader_read(tr, piece, want, off, &sc->err);
		if (got <= 0) {
			sc->rc = got < 0 ? (int)got : -EIO;
			break;
		}
		sc->rc = csv_reader_feed(csv, piece, (size_t)got, &sc->err);
		off += (uint64_t)got;
	}
	if (!sc->rc)
		sc->rc = csv_reader_finish(csv, &sc->err);
	csv_reader_free(csv);
	table_reader_free(tr);
	free(piece);
	return NULL;
}

/* Phase A on several threads: data.csv is cut after a newline near each
 * of N equal offsets, and each slice parsed on its own.  A cut inside a
 * quoted field leaves its slice with an open quote, which fails the
 * slice: then (or on any error) the caller scans again in one piece.
 * Returns 1 when it did not apply (small table, one CPU). */
static int scan_parallel(struct run *r, struct scanner *sc, struct store *s,
			 const char *source)
{
	struct table_info info;
	int n = nthreads_for();
	if (n < 2 || table_stat(s, source, &info) ||
	    info.data_bytes < pipeline_parallel_min_bytes || info.data_bytes / (uint64_t)n < 4096)
		return 1;
	struct table_reader *tr;
	if (table_reader_open(s, source, &tr, NULL))
		return 1;
	uint64_t size = table_reader_size(tr), lo = info.header_bytes;
	uint64_t cut[MAX_SCANNERS + 1];
	char win[4096];
	cut[0] = lo;
	cut[n] = size;
	for (int i = 1; i < n; i++) {
		uint64_t at = lo + (size - lo) / (uint64_t)n * (uint64_t)i - 1;
		cut[i] = size;
		for (uint64_t off = at; off < size;) {
			long got = table_reader_read(tr, win, sizeof(win), off, NULL);
			if (got <= 0)
				break;
			char *nl = memchr(win, '\n', (size_t)got);
			if (nl) {
				cut[i] = off + (uint64_t)(nl - win) + 1;
				break;
			}
			off += (uint64_t)got;
		}
		if (cut[i] < cut[i - 1])
			cut[i] = cut[i - 1];
	}
	table_reader_free(tr);
	if (size != info.header_bytes + info.data_bytes)
		return 1;	/* changed meanwhile: the caller's check says so */
	pthread_t th[MAX_SCANNERS];
	int started[MAX_SCANNERS] = { 0 };
	for (int i = 0; i < n; i++) {
		sc[i].r = r;
		sc[i].w = (unsigned)i;
		sc[i].s = s;
		sc[i].source = source;
		sc[i].lo = cut[i];
		sc[i].hi = cut[i + 1];
		if (i > 0)
			started[i] = pthread_create(&th[i], NULL, scan_worker, &sc[i]) == 0;
	}
	scan_worker(&sc[0]);
	for (int i = 1; i < n; i++) {
		if (started[i])
			pthread_join(th[i], NULL);
		else
			scan_worker(&sc[i]);
	}
	for (int i = 0; i < n; i++)
		if (sc[i].rc)
			return -1;
	for (int i = 0; i < n; i++)
		r->rows_in += sc[i].rows;
	return 0;
}

/* Phase A: the source's rows into partition records. */
static int scan_source(struct run *r, struct store *s, const char *source,
		       struct mlfs_err *err)
{
	struct scanner sc[MAX_SCANNERS];
	memset(sc, 0, sizeof(sc));
	int rc = scan_parallel(r, sc, s, source);
	for (int i = 0; i < MAX_SCANNERS; i++)
		buf_free(&sc[i].kb);
	if (rc == 0)
		return 0;
	/* One piece: drop what the slices made, scan again. */
	for (unsigned i = 0; i < NPART; i++)
		for (unsigned w = 0; w < MAX_SCANNERS; w++)
			buf_free(&r->parts[i].rec[w]);
	struct scanner one = { .r = r };
	rc = table_scan(s, source, on_row, &one, err);
	buf_free(&one.kb);
	r->rows_in = one.rows;
	return rc;
}

/* Phase B, second half: every group of PT into text fields, then its
 * state is released. */
static int finish_part(struct run *r, struct part *pt)
{
	const struct expr_prog *prog = r->p->prog;
	struct group_tab *g = &pt->g;
	struct xval *vals = calloc(r->nf + 1, sizeof(*vals));
	pt->off = malloc((g->n ? g->n : 1) * (r->ncols + 1) * sizeof(uint64_t));
	if (!vals || !pt->off || buf_reserve(&pt->text, g->n * r->ncols * 8 + 1)) {
		free(vals);
		return -ENOMEM;
	}
	for (size_t gi = 0; gi < g->n; gi++) {
		uint64_t *base = pt->off + gi * (r->ncols + 1);
		const char *k = g->keys.data + g->koff[gi];
		size_t kl = g->klen[gi];
		char *st = g->states + gi * g->ssize;
		uint32_t c = 0;
		if (r->nk == 1) {
			base[c++] = pt->text.len;
			buf_append(&pt->text, k, kl);
		} else {
			size_t pos = 0;
			for (size_t j = 0; j < r->nk; j++) {
				uint32_t l;
				memcpy(&l, k + pos, 4);
				base[c++] = pt->text.len;
				buf_append(&pt->text, k + pos + 4, l);
				pos += 4 + l;
			}
		}
		expr_state_finish(prog, st, &r->as_of, vals);
		for (size_t f = 0; f < r->nf; f++) {
			base[c++] = pt->text.len;
			expr_value_text(&vals[f], &pt->text);
		}
		if (r->add_ts) {
			base[c++] = pt->text.len;
			buf_puts(&pt->text, r->tsbuf);
		}
		base[c] = pt->text.len;
		expr_state_free(prog, st);
	}
	free(vals);
	/* States are released: forget them so cleanup does not free twice. */
	free(g->states);
	g->states = NULL;
	return pt->text.data || !g->n ? 0 : -ENOMEM;
}

/* Phase B: aggregate the records of BUF into PT's group table. */
static int aggregate_records(struct run *r, struct part *pt, const struct buf *buf,
			     struct xval *row)
{
	const struct expr_prog *prog = r->p->prog;
	const char *o = buf->data, *end = buf->data + buf->len;
	while (o < end) {
		uint16_t kl;
		memcpy(&kl, o, 2);
		const char *k = o + 2;
		o += 2 + kl;
		for (size_t u = 0; u < r->nused; u++) {
			struct xval *v = &row[r->used[u]];
			v->t = (enum col_type)(unsigned char)*o++;
			v->s = NULL;
			v->len = 0;
			if (v->t == COL_STRING) {
				uint32_t l;
				memcpy(&l, o, 4);
				v->s = o + 4;
				v->len = l;
				o += 4 + l;
			} else if (v->t != COL_NULL) {
				memcpy(&v->i, o, 8);
				o += 8;
			}
		}
		long gi = tab_find(&pt->g, prog, k, kl, hash_bytes(k, kl));
		if (gi < 0)
			return (int)gi;
		int rc = expr_state_add(prog, pt->g.states + (size_t)gi * pt->g.ssize, row, &r->as_of);
		if (rc)
			return rc;
	}
	return 0;
}

/* Phase B: aggregate partition PT, scanners' records in row order, then
 * finish it. */
static int aggregate_part(struct run *r, struct part *pt, struct xval *row)
{
	for (unsigned w = 0; w < MAX_SCANNERS; w++) {
		int rc = aggregate_records(r, pt, &pt->rec[w], row);
		if (rc)
			return rc;
		/* The records are no longer needed: strings kept were copied. */
		buf_free(&pt->rec[w]);
	}
	return finish_part(r, pt);
}

static void *aggregate_worker(void *arg)
{
	struct run *r = arg;
	struct xval *row = calloc(r->p->ncols + 1, sizeof(*row));
	for (;;) {
		pthread_mutex_lock(&r->lock);
		unsigned i = r->next++;
		pthread_mutex_unlock(&r->lock);
		if (i >= NPART)
			break;
		r->parts[i].rc = row ? aggregate_part(r, &r->parts[i], row) : -ENOMEM;
	}
	free(row);
	return NULL;
}

/* Run phase B on up to 8 threads; returns the first error. */
static int aggregate_all(struct run *r)
{
	int nthreads = nthreads_for();
	pthread_t th[MAX_SCANNERS];
	int started = 0;
	for (int t = 1; t < nthreads; t++)
		if (pthread_create(&th[started], NULL, aggregate_worker, r) == 0)
			started++;
	aggregate_worker(r);
	for (int t = 0; t < started; t++)
		pthread_join(th[t], NULL);
	for (unsigned i = 0; i < NPART; i++)
		if (r->parts[i].rc)
			return r->parts[i].rc;
	return 0;
}

/* Output rows: texts of each group's fields in one arena. */
struct outrows {
	struct buf text;
	uint64_t *off;		/* per row: ncols offsets + 1 */
	uint32_t ncols;
};

static const char *out_field(void *ctx, size_t r, uint32_t c, size_t *len)
{
	struct outrows *o = ctx;
	const uint64_t *base = o->off + r * (o->ncols + 1);
	*len = (size_t)(base[c + 1] - base[c]);
	return o->text.data + base[c];
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

/* One arena of every partition's rows for the merge; returns the rows. */
static size_t gather_rows(struct run *r, struct outrows *o)
{
	size_t ngroups = 0, bytes = 0, row = 0;
	uint32_t ncols = r->ncols;
	for (unsigned i = 0; i < NPART; i++) {
		ngroups += r->parts[i].g.n;
		bytes += r->parts[i].text.len;
	}
	o->ncols = ncols;
	o->off = malloc((ngroups ? ngroups : 1) * (ncols + 1) * sizeof(uint64_t));
	if (!o->off)
		mlfs_oom();
	buf_reserve(&o->text, bytes + 1);
	for (unsigned i = 0; i < NPART; i++) {
		struct part *pt = &r->parts[i];
		uint64_t base = o->text.len;
		buf_append(&o->text, pt->text.data, pt->text.len);
		for (size_t x = 0; x < pt->g.n * (ncols + 1); x++)
			o->off[row * (ncols + 1) + x] = pt->off[x] + base;
		row += pt->g.n;
		buf_free(&pt->text);
		free(pt->off);
		pt->off = NULL;
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
		free(g->states);
		free(g->koff);
		free(g->klen);
		buf_free(&g->keys);
		for (unsigned w = 0; w < MAX_SCANNERS; w++)
			buf_free(&r->parts[i].rec[w]);
		buf_free(&r->parts[i].text);
		free(r->parts[i].off);
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
	pthread_mutex_init(&r.lock, NULL);
	if (!r.parts || !r.used) {
		rc = -ENOMEM;
		goto fail;
	}
	for (uint32_t c = 0; c < p.ncols; c++)
		if (expr_prog_uses_column(p.prog, c))
			r.used[r.nused++] = c;
	size_t ssize = (expr_state_size(p.prog) + 7) & ~(size_t)7;
	for (unsigned i = 0; i < NPART; i++)
		r.parts[i].g.ssize = ssize;
	r.as_of.t = p.as_of_date ? COL_DATE : COL_TIMESTAMP;
	r.as_of.i = p.as_of_date ? p.as_of_us / 86400000000LL : p.as_of_us;
	r.as_of_us = p.as_of_us;
	if ((rc = scan_source(&r, s, p.spec->source, err)))
		goto fail;
	if (pipeline_test_hook)
		pipeline_test_hook(s, p.spec->source);
	if (table_stat(s, p.spec->source, &after) || after.version != before.version ||
	    after.id != before.id) {
		rc = mlfs_fail(err, -EAGAIN, "source table '%s' changed during the refresh; nothing merged: refresh again",
			       p.spec->source);
		goto fail;
	}
	output_columns(&r, &p, &names, &types);
	/* Aggregate and finish each partition, in parallel. */
	if ((rc = aggregate_all(&r)))
		goto fail;
	size_t ngroups = gather_rows(&r, &o);
	struct features_rows rows = {
		.ncols = r.ncols, .names = (const char *const *)names, .types = types,
		.nrows = ngroups, .field = out_field, .ctx = &o,
	};
	report(&rep, "ok", start, &p, r.rows_in, ngroups,
	       (double)(clock_mono_ns() - t0) / 1e6, NULL);
	struct features_text_put extra = { FEATURES_REPORT, rep.data, rep.len };
	if ((rc = features_write_rows(s, name, &rows, false, &extra, 1, err)))
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
	pthread_mutex_destroy(&r.lock);
	buf_free(&o.text);
	free(o.off);
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
