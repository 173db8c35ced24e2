/* served.c - loading a registered version for scoring and scoring request
 * rows with it (see served.h): features.yaml's lookups parsed once at
 * load, feature rows looked up per call on one consistent view of each
 * table, request columns overriding, values typed as the model's
 * features, then the forest. */
#include "served.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "features.h"
#include "forest/forest.h"
#include "registry.h"
#include "response.h"
#include "spec.h"
#include "types.h"

/* ---- loading ---- */

static void lookup_free(struct served_lookup *l)
{
	free(l->table);
	free(l->keys);
	free(l->columns);
	free(l->ts_key);
}

void served_free(struct served *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nlookups; i++)
		lookup_free(&m->lookups[i]);
	free(m->lookups);
	free(m->feature_lookup);
	forest_free(m->forest);
	free(m);
}

/* One entry of features.yaml's lookups (written by training). */
static int parse_lookup(const struct spec_node *n, struct served_lookup *l,
			struct mlfs_err *err)
{
	static const char *const keys[] = { "table", "lookup_key", "columns",
		"timestamp_lookup_key", "version", "updated", NULL };
	if (n->kind != SPEC_MAP)
		return spec_fail_at(err, n, -EINVAL, "a lookup is a map");
	int rc = spec_check_keys(n, keys, "a lookup", err);
	const struct spec_node *t = spec_map_get(n, "table");
	const struct spec_node *k = spec_map_get(n, "lookup_key");
	const struct spec_node *c = spec_map_get(n, "columns");
	const struct spec_node *ts = spec_map_get(n, "timestamp_lookup_key");
	if (!rc && (!t || !k || !c))
		rc = spec_fail_at(err, n, -EINVAL, "a lookup needs table, lookup_key and columns");
	if (!rc)
		rc = spec_want_str(t, "table", err);
	if (!rc)
		rc = spec_str_list(k, "lookup_key", &l->keys, &l->nkeys, err);
	if (!rc && c->kind == SPEC_SEQ && c->n == 0)
		l->ncolumns = 0;
	else if (!rc)
		rc = spec_str_list(c, "columns", &l->columns, &l->ncolumns, err);
	if (!rc && ts && ts->kind == SPEC_SCALAR && ts->len)
		l->ts_key = mlfs_strdup(ts->str);
	if (!rc)
		l->table = mlfs_strdup(t->str);
	return rc;
}

static int parse_features_yaml(struct served *m, const char *text, size_t len,
			       struct mlfs_err *err)
{
	struct spec_doc *doc = NULL;
	int rc = spec_parse_yaml(text, len, &doc, err);
	const struct spec_node *root = doc ? spec_doc_root(doc) : NULL;
	const struct spec_node *ls = root && root->kind == SPEC_MAP ? spec_map_get(root, "lookups") : NULL;
	if (!rc && ls && ls->kind == SPEC_SEQ && ls->n) {
		m->lookups = calloc(ls->n, sizeof(*m->lookups));
		if (!m->lookups)
			mlfs_oom();
		for (size_t i = 0; !rc && i < ls->n; i++, m->nlookups++)
			rc = parse_lookup(ls->kids[i], &m->lookups[i], err);
	}
	spec_doc_free(doc);
	return rc;
}

static long feature_lookup(const struct served *m, const char *name);

int served_load(struct store *s, const char *model, uint64_t version,
		struct served **out, struct mlfs_err *err)
{
	struct registry_version v;
	struct buf b = { 0 };
	int rc = registry_version_get(s, model, version, &v);
	if (rc)
		return mlfs_fail(err, rc, "model %s has no version %llu", model,
				 (unsigned long long)version);
	struct served *m = calloc(1, sizeof(*m));
	if (!m)
		mlfs_oom();
	snprintf(m->model, sizeof(m->model), "%s", model);
	m->version = version;
	rc = registry_version_text(s, model, version, "features.yaml", &b);
	if (!rc)
		rc = parse_features_yaml(m, b.data ? b.data : "", b.len, err);
	if (!rc)
		rc = registry_version_file(s, &v, "model.forest", &b, err);
	if (!rc)
		rc = forest_load(b.data, b.len, &m->forest, err);
	buf_free(&b);
	if (rc) {
		served_free(m);
		return rc == -ENOENT ? rc : mlfs_fail(err, -EINVAL, "%s@%llu: %s", model,
						      (unsigned long long)version, err ? err->msg : "does not load");
	}
	struct forest_stats st;
	forest_stats(m->forest, &st);
	m->mem_bytes = st.mem_bytes;
	m->nfeatures = forest_nfeatures(m->forest);
	m->feature_lookup = calloc(m->nfeatures + 1, sizeof(long));
	if (!m->feature_lookup)
		mlfs_oom();
	for (size_t j = 0; j < m->nfeatures; j++)
		m->feature_lookup[j] = feature_lookup(m, forest_feature_name(m->forest, j));
	*out = m;
	return 0;
}

size_t served_nout(const struct served *m)
{
	return forest_nout(m->forest);
}

const char *served_label(const struct served *m, const double *proba,
			 char out[40])
{
	if (!forest_is_classifier(m->forest)) {
		buf_fmt_double(out, proba[0]);
		return out;
	}
	return forest_class_name(m->forest, forest_argmax(proba, forest_nclasses(m->forest)));
}

bool served_is_classifier(const struct served *m)
{
	return forest_is_classifier(m->forest);
}

const char *served_class(const struct served *m, size_t c)
{
	return forest_class_name(m->forest, c);
}

void served_map_proba(const struct served *m, const double *proba,
		      const struct served *to, double *out)
{
	size_t n = served_nout(to), k = served_nout(m);
	if (m == to || !served_is_classifier(to) || !served_is_classifier(m)) {
		for (size_t c = 0; c < n; c++)
			out[c] = c < k ? proba[c] : 0;
		return;
	}
	for (size_t c = 0; c < n; c++) {
		out[c] = 0;
		for (size_t j = 0; j < k; j++)
			if (!strcmp(served_class(to, c), served_class(m, j)))
				out[c] = proba[j];
	}
}

double served_value(const struct served *m, const double *proba)
{
	size_t k = forest_nout(m->forest);
	if (!forest_is_classifier(m->forest))
		return proba[0];
	return k == 2 ? proba[1] : (double)forest_argmax(proba, k);
}

/* ---- where each feature comes from ---- */

static bool lookup_has_column(const struct served_lookup *l, const char *name)
{
	for (size_t i = 0; i < l->ncolumns; i++)
		if (!strcmp(l->columns[i], name))
			return true;
	return false;
}

/* The lookup that brings feature NAME, or -1. */
static long feature_lookup(const struct served *m, const char *name)
{
	for (size_t i = 0; i < m->nlookups; i++)
		if (lookup_has_column(&m->lookups[i], name))
			return (long)i;
	return -1;
}

/* Whether REQ gives every column lookup L would bring. */
static bool request_covers(const struct served *m, const struct request *req, size_t l)
{
	for (size_t j = 0; j < m->nfeatures; j++) {
		const char *name = forest_feature_name(m->forest, j);
		if (m->feature_lookup[j] == (long)l && request_column(req, name) < 0)
			return false;
	}
	return true;
}

int served_check_columns(const struct served *m, const struct request *req,
			 struct mlfs_err *err)
{
	if (!req->names)	/* instances as lists: the signature's order */
		return req->ncols == m->nfeatures ? 0 :
			mlfs_fail(err, -EINVAL, "rows without column names need the model's %zu features in order, got %zu values",
				  m->nfeatures, req->ncols);
	for (size_t l = 0; l < m->nlookups; l++) {
		if (request_covers(m, req, l))
			continue;
		for (size_t k = 0; k < m->lookups[l].nkeys; k++)
			if (request_column(req, m->lookups[l].keys[k]) < 0)
				return mlfs_fail(err, -EINVAL, "the request has no column '%s' (the lookup key of feature table %s)",
						 m->lookups[l].keys[k], m->lookups[l].table);
	}
	return 0;
}

/* ---- scoring ---- */

/* Feature J's value from text P[0..LEN) into *X. */
static int feature_value(const struct served *m, size_t j, const char *p,
			 size_t len, double *x)
{
	const struct forest *f = m->forest;
	if (forest_feature_kind(f, j) == FRAME_CATEGORICAL) {
		int c = forest_category_find(f, j, p, len);
		*x = c < 0 ? NAN : (double)c;	/* a new category is missing */
		return 0;
	}
	if (value_as_double(forest_feature_type(f, j), p, len, x) ||
	    value_parse_float(p, len, x))
		return 0;
	return -EINVAL;
}

static int bad_value(const struct served *m, size_t j, uint64_t row,
		     const char *p, size_t len, struct mlfs_err *err)
{
	return mlfs_fail(err, -EINVAL, "row %llu, column '%s': '%.*s' is not a number",
			 (unsigned long long)row + 1, forest_feature_name(m->forest, j), (int)(len > 64 ? 64 : len), p);
}

int served_check_values(const struct served *m, const struct request *req,
			struct mlfs_err *err)
{
	for (size_t j = 0; j < m->nfeatures; j++) {
		long c = req->names ? request_column(req, forest_feature_name(m->forest, j)) : (long)j;
		for (size_t i = 0; c >= 0 && i < req->nrows; i++) {
			const char *v = request_cell(req, i, (size_t)c);
			double x;
			if (v && feature_value(m, j, v, strlen(v), &x))
				return bad_value(m, j, i, v, strlen(v), err);
		}
	}
	return 0;
}

/* Per call: each lookup's table view and its columns by model feature. */
struct scoring {
	const struct served *m;
	const struct request *req;
	uint64_t row_base;			/* for errors */
	struct features_lookup **views;		/* per lookup, NULL: not needed */
	long *req_col;				/* per feature: request column or -1 */
	long *src_lookup;			/* per feature: lookup or -1 */
	long *src_col;				/* per feature: that table's column */
	long *key_cols;				/* per lookup: nkeys request columns */
	long *ts_col;				/* per lookup */
	size_t *key_off;			/* per lookup: into key_cols */
};

static void scoring_free(struct scoring *sc)
{
	for (size_t l = 0; sc->views && l < sc->m->nlookups; l++)
		features_lookup_free(sc->views[l]);
	free(sc->views);
	free(sc->req_col);
	free(sc->src_lookup);
	free(sc->src_col);
	free(sc->key_cols);
	free(sc->ts_col);
	free(sc->key_off);
}

static void *alloc_n(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (!p)
		mlfs_oom();
	return p;
}

static int scoring_open(struct store *s, struct scoring *sc, struct mlfs_err *err)
{
	const struct served *m = sc->m;
	const struct request *req = sc->req;
	size_t nl = m->nlookups, nf = m->nfeatures, nk = 0;
	for (size_t l = 0; l < nl; l++)
		nk += m->lookups[l].nkeys;
	sc->views = alloc_n(nl, sizeof(*sc->views));
	sc->req_col = alloc_n(nf, sizeof(long));
	sc->src_lookup = alloc_n(nf, sizeof(long));
	sc->src_col = alloc_n(nf, sizeof(long));
	sc->key_cols = alloc_n(nk, sizeof(long));
	sc->ts_col = alloc_n(nl, sizeof(long));
	sc->key_off = alloc_n(nl, sizeof(size_t));
	for (size_t j = 0; j < nf; j++) {
		const char *name = forest_feature_name(m->forest, j);
		sc->req_col[j] = req->names ? request_column(req, name) : (long)j;
		sc->src_lookup[j] = req->names ? m->feature_lookup[j] : -1;
		sc->src_col[j] = -1;
	}
	int rc = served_check_columns(m, req, err);
	for (size_t l = 0, off = 0; !rc && l < nl; l++) {
		const struct served_lookup *lk = &m->lookups[l];
		sc->key_off[l] = off;
		for (size_t k = 0; k < lk->nkeys; k++)
			sc->key_cols[off + k] = req->names ? request_column(req, lk->keys[k]) : -1;
		off += lk->nkeys;
		sc->ts_col[l] = lk->ts_key && req->names ? request_column(req, lk->ts_key) : -1;
		if (!req->names || request_covers(m, req, l))
			continue;
		rc = features_lookup_open(s, lk->table, &sc->views[l], err);
		if (rc)
			break;
		const struct features_schema *fs = features_lookup_schema(sc->views[l]);
		if (fs->nkeys != lk->nkeys)
			rc = mlfs_fail(err, -EINVAL, "feature table %s now has %u key columns; the model was trained with %zu",
				       lk->table, fs->nkeys, lk->nkeys);
		/* the table's column of each feature: searched from the one
		 * after the last found, so columns in the model's order (the
		 * usual case) cost one comparison each */
		uint32_t from = 0;
		for (size_t j = 0; !rc && j < nf; j++) {
			if (sc->src_lookup[j] != (long)l)
				continue;
			const char *name = forest_feature_name(m->forest, j);
			for (uint32_t k = 0; k < fs->ncols; k++) {
				uint32_t c = (from + k) % fs->ncols;
				if (!strcmp(fs->names[c], name)) {
					sc->src_col[j] = c;
					from = c + 1;
					break;
				}
			}
		}
	}
	return rc;
}

/* Look up row I's features from lookup L into X; false on a miss. */
static int lookup_row(const struct scoring *sc, size_t l, size_t i, double *x,
		      bool *miss, struct mlfs_err *err)
{
	const struct served *m = sc->m;
	const struct served_lookup *lk = &m->lookups[l];
	const char *keys[16];
	size_t lens[16];
	*miss = true;
	if (lk->nkeys > 16)
		return 0;
	for (size_t k = 0; k < lk->nkeys; k++) {
		long c = sc->key_cols[sc->key_off[l] + k];
		keys[k] = c < 0 ? NULL : request_cell(sc->req, i, (size_t)c);
		if (!keys[k])
			return 0;
		lens[k] = strlen(keys[k]);
	}
	bool as_of = false;
	int64_t at = 0;
	if (sc->ts_col[l] >= 0) {
		const char *t = request_cell(sc->req, i, (size_t)sc->ts_col[l]);
		if (t && !value_parse_timestamp(t, strlen(t), &at))
			return mlfs_fail(err, -EINVAL, "row %zu, column '%s': '%s' is not a timestamp",
					 sc->row_base + i + 1, lk->ts_key, t);
		as_of = t != NULL;
	}
	const char *const *fields;
	const size_t *flens;
	if (features_lookup_get(sc->views[l], keys, lens, as_of, at, &fields, &flens))
		return 0;
	*miss = false;
	for (size_t j = 0; j < m->nfeatures; j++) {
		long c = sc->src_col[j];
		if (sc->src_lookup[j] != (long)l || c < 0 || !fields[c])
			continue;
		if (feature_value(m, j, fields[c], flens[c], &x[j]))
			return bad_value(m, j, sc->row_base + i, fields[c], flens[c], err);
	}
	return 0;
}

/* Row I's feature vector into X; *MISSES counts lookups that missed. */
static int row_features(const struct scoring *sc, size_t i, double *x,
			uint32_t *misses, struct mlfs_err *err)
{
	const struct served *m = sc->m;
	for (size_t j = 0; j < m->nfeatures; j++)
		x[j] = NAN;
	*misses = 0;
	for (size_t l = 0; l < m->nlookups; l++) {
		bool miss;
		if (!sc->views[l])
			continue;
		int rc = lookup_row(sc, l, i, x, &miss, err);
		if (rc)
			return rc;
		*misses += miss;
	}
	for (size_t j = 0; j < m->nfeatures; j++) {
		const char *v = sc->req_col[j] >= 0 ? request_cell(sc->req, i, (size_t)sc->req_col[j]) : NULL;
		if (v && feature_value(m, j, v, strlen(v), &x[j]))
			return bad_value(m, j, sc->row_base + i, v, strlen(v), err);
	}
	return 0;
}

/* One thread's part of a scoring call: rows [FROM, TO). */
struct part {
	struct store *s;
	const struct served *m;
	const struct request *req;
	struct served_rows *rows;
	double *x;
	size_t from, to;
	int rc;
	struct mlfs_err err;
};

static void *part_score(void *arg)
{
	struct part *p = arg;
	struct scoring sc = { .m = p->m, .req = p->req, .row_base = p->rows->row_base };
	size_t nf = p->m->nfeatures, nout = served_nout(p->m);
	p->rc = scoring_open(p->s, &sc, &p->err);
	for (size_t r = p->from; !p->rc && r < p->to; r++)
		p->rc = row_features(&sc, p->rows->rows[r], p->x + r * nf,
				     &p->rows->misses[r], &p->err);
	scoring_free(&sc);
	if (!p->rc)
		forest_predict_rows(p->m->forest, p->x + p->from * nf, p->to - p->from,
				    p->rows->proba + p->from * nout);
	return NULL;
}

/* Threads for a call of N rows: one per SERVED_ROWS_PER_THREAD rows, at
 * most the online CPUs. */
static size_t threads_for(size_t n)
{
	static long cpus;
	if (!cpus)
		cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t t = n / SERVED_ROWS_PER_THREAD;
	if (t > (size_t)cpus)
		t = (size_t)cpus;
	if (t > SERVED_MAX_THREADS)
		t = SERVED_MAX_THREADS;
	return t ? t : 1;
}

int served_score(struct store *s, const struct served *m,
		 const struct request *req, struct served_rows *rows,
		 struct mlfs_err *err)
{
	size_t n = rows->nrows, nt = threads_for(n);
	double *own = rows->features ? NULL : alloc_n(n * m->nfeatures, sizeof(double));
	struct part parts[SERVED_MAX_THREADS];
	pthread_t tid[SERVED_MAX_THREADS];
	bool started[SERVED_MAX_THREADS] = { false };
	for (size_t t = 0; t < nt; t++) {
		parts[t] = (struct part){ .s = s, .m = m, .req = req, .rows = rows,
					  .x = own ? own : rows->features,
					  .from = n * t / nt, .to = n * (t + 1) / nt };
		if (t)	/* part 0 runs here */
			started[t] = pthread_create(&tid[t], NULL, part_score, &parts[t]) == 0;
	}
	part_score(&parts[0]);
	for (size_t t = 1; t < nt; t++) {
		if (started[t])
			pthread_join(tid[t], NULL);
		else
			part_score(&parts[t]);
	}
	int rc = 0;	/* the first failing row's error, whatever the threads */
	for (size_t t = 0; !rc && t < nt; t++)
		if ((rc = parts[t].rc) && err)
			*err = parts[t].err;
	free(own);
	return rc;
}

/* ---- responses ---- */

size_t served_key_columns(const struct served *m, const struct request *req,
			  const char *sticky, long *out, size_t max)
{
	size_t n = 0;
	for (size_t c = 0; req->names && c < req->ncols && n < max; c++) {
		bool key = sticky[0] && !strcmp(req->names[c], sticky);
		for (size_t l = 0; !key && l < m->nlookups; l++)
			for (size_t k = 0; !key && k < m->lookups[l].nkeys; k++)
				key = !strcmp(m->lookups[l].keys[k], req->names[c]);
		if (key)
			out[n++] = (long)c;
	}
	return n;
}

void served_respond(const struct request *req, const struct served_scored *rows,
		    const long *keys, size_t nkeys, struct buf *out)
{
	size_t n = req->nrows;
	const struct served *m0 = rows[0].m;
	size_t nc = served_nout(m0);
	bool classify = served_is_classifier(m0);
	const char **pred = alloc_n(n, sizeof(char *));
	const char **model = alloc_n(n, sizeof(char *));
	uint64_t *version = alloc_n(n, sizeof(uint64_t));
	double *proba = alloc_n(n * nc, sizeof(double));
	char (*text)[40] = alloc_n(n, sizeof(*text));
	size_t *kc = alloc_n(nkeys, sizeof(size_t));
	const char **classes = alloc_n(nc, sizeof(char *));
	for (size_t c = 0; classify && c < nc; c++)
		classes[c] = served_class(m0, c);
	for (size_t k = 0; k < nkeys; k++)
		kc[k] = (size_t)keys[k];
	for (size_t i = 0; i < n; i++) {
		const struct served *m = rows[i].m;
		pred[i] = served_label(m, rows[i].proba, text[i]);
		model[i] = m->model;
		version[i] = m->version;
		served_map_proba(m, rows[i].proba, m0, proba + i * nc);
	}
	struct response_rows rr = {
		.nrows = n, .nkeys = nkeys, .key_cols = kc,
		.prediction = pred, .nclasses = classify ? nc : 0,
		.classes = classes, .proba = proba, .model = model,
		.version = version,
	};
	response_format(req, &rr, out);
	free(pred);
	free(model);
	free(version);
	free(proba);
	free(text);
	free(kc);
	free(classes);
}
