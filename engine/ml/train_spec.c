/* train_spec.c - train.yaml and tune.yaml into struct train_spec, and the
 * check of a spec against the store (see train_spec.h).  The YAML tree is
 * kept with the spec so that a check long after parsing can still point
 * at the line and column of what it rejects.  Not here: training. */
#include "train_spec.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "features.h"
#include "spec.h"
#include "table.h"

/* What the spec owns: the YAML tree, every allocation, and the nodes that
 * store checks point at. */
struct train_spec_mem {
	struct spec_doc *doc;
	void **allocs;
	size_t nallocs, cap;
	const struct spec_node *labels, *label, *test, *reg, *exclude;
	const struct spec_node **lookup;	/* each lookup's map */
};

static void *keep(struct train_spec_mem *m, void *p)
{
	if (!p)
		mlfs_oom();
	if (m->nallocs == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 32;
		m->allocs = realloc(m->allocs, m->cap * sizeof(*m->allocs));
		if (!m->allocs)
			mlfs_oom();
	}
	m->allocs[m->nallocs++] = p;
	return p;
}

static void *zalloc(struct train_spec_mem *m, size_t n, size_t size)
{
	return keep(m, calloc(n ? n : 1, size));
}

void train_spec_free(struct train_spec *sp)
{
	if (!sp)
		return;
	struct train_spec_mem *m = sp->mem;
	if (m) {
		for (size_t i = 0; i < m->nallocs; i++)
			free(m->allocs[i]);
		free(m->allocs);
		spec_doc_free(m->doc);
		free(m);
	}
	free(sp);
}

/* ---- small extractors ---- */

static int want_map(const struct spec_node *n, const char *what,
		    struct mlfs_err *err)
{
	if (n->kind != SPEC_MAP)
		return spec_fail_at(err, n, -EINVAL, "%s must be a map", what);
	return 0;
}

static int get_str(struct train_spec_mem *m, const struct spec_node *n,
		   const char *what, char **out, struct mlfs_err *err)
{
	int rc = spec_want_str(n, what, err);
	if (!rc)
		*out = keep(m, strdup(n->str));
	return rc;
}

static int get_list(struct train_spec_mem *m, const struct spec_node *n,
		    const char *what, char ***out, size_t *nout,
		    struct mlfs_err *err)
{
	int rc = spec_str_list(n, what, out, nout, err);
	if (!rc)
		keep(m, *out);
	return rc;
}

/* ---- sections ---- */

static const char *const lookup_keys[] = {
	"table", "lookup_key", "columns", "timestamp_lookup_key", NULL,
};

static int parse_lookups(struct train_spec *sp, const struct spec_node *n,
			 struct mlfs_err *err)
{
	struct train_spec_mem *m = sp->mem;
	if (n->kind != SPEC_SEQ)
		return spec_fail_at(err, n, -EINVAL, "features must be a list of lookups");
	sp->nlookups = n->n;
	sp->lookups = zalloc(m, n->n, sizeof(*sp->lookups));
	m->lookup = zalloc(m, n->n, sizeof(*m->lookup));
	for (size_t i = 0; i < n->n; i++) {
		const struct spec_node *l = n->kids[i], *v;
		struct trainset_lookup *tl = &sp->lookups[i];
		char **keys = NULL, **cols = NULL;
		int rc;
		m->lookup[i] = l;
		if ((rc = want_map(l, "a feature lookup", err)) ||
		    (rc = spec_check_keys(l, lookup_keys, "a feature lookup", err)))
			return rc;
		if (!(v = spec_map_get(l, "table")))
			return spec_fail_at(err, l, -EINVAL, "a feature lookup needs 'table'");
		if ((rc = get_str(m, v, "table", (char **)&tl->table, err)))
			return rc;
		if (!(v = spec_map_get(l, "lookup_key")))
			return spec_fail_at(err, l, -EINVAL, "a feature lookup needs 'lookup_key'");
		if ((rc = get_list(m, v, "lookup_key", &keys, &tl->nkeys, err)))
			return rc;
		tl->lookup_keys = (const char *const *)keys;
		if ((v = spec_map_get(l, "columns"))) {
			if ((rc = get_list(m, v, "columns", &cols, &tl->ncolumns, err)))
				return rc;
			tl->columns = (const char *const *)cols;
		}
		if ((v = spec_map_get(l, "timestamp_lookup_key")) &&
		    (rc = get_str(m, v, "timestamp_lookup_key",
				  (char **)&tl->timestamp_lookup_key, err)))
			return rc;
	}
	return 0;
}

static int parse_params(struct train_spec *sp, const struct spec_node *n,
			struct mlfs_err *err)
{
	struct train_spec_mem *m = sp->mem;
	int rc;
	if ((rc = want_map(n, "params", err)))
		return rc;
	sp->param_names = zalloc(m, n->n, sizeof(char *));
	for (size_t i = 0; i < n->n; i++) {
		const struct spec_node *k = n->kids[2 * i], *v = n->kids[2 * i + 1];
		struct mlfs_err why = { 0 };
		if (v->kind != SPEC_SCALAR)
			return spec_fail_at(err, v, -EINVAL, "params: %s must be a single value", k->str);
		if (!strcmp(k->str, "n_jobs") || !strcmp(k->str, "threads"))
			return spec_fail_at(err, k, -EINVAL, "params: %s is set by the platform (mount -o train_workers)", k->str);
		if (forest_params_set(&sp->params, k->str, v->str, &why))
			return spec_fail_at(err, v, -EINVAL, "params: %s", why.msg);
		sp->param_names[sp->nparams++] = k->str;
	}
	return 0;
}

static const char *const split_keys[] = { "test_size", "seed", NULL };

static int parse_split(struct train_spec *sp, const struct spec_node *n,
		       struct mlfs_err *err)
{
	const struct spec_node *v;
	int rc;
	if ((rc = want_map(n, "split", err)) ||
	    (rc = spec_check_keys(n, split_keys, "split", err)))
		return rc;
	if ((v = spec_map_get(n, "test_size")) &&
	    (rc = spec_want_number(v, "test_size", 0.0, 1.0, &sp->test_size, err)))
		return rc;
	if (v && (sp->test_size <= 0 || sp->test_size >= 1))
		return spec_fail_at(err, v, -EINVAL, "test_size must be between 0 and 1, both excluded");
	if ((v = spec_map_get(n, "seed")) &&
	    (rc = spec_want_uint(v, "seed", 0, 4294967295.0, &sp->split_seed, err)))
		return rc;
	return 0;
}

static int parse_tags(struct train_spec *sp, const struct spec_node *n,
		      struct mlfs_err *err)
{
	struct train_spec_mem *m = sp->mem;
	int rc;
	if ((rc = want_map(n, "tags", err)))
		return rc;
	sp->tag_keys = zalloc(m, n->n, sizeof(char *));
	sp->tag_values = zalloc(m, n->n, sizeof(char *));
	for (size_t i = 0; i < n->n; i++) {
		const struct spec_node *k = n->kids[2 * i], *v = n->kids[2 * i + 1];
		if (!names_valid(k->str))
			return spec_fail_at(err, k, -EINVAL, "tags: '%s' is not a name of 1-128 [A-Za-z0-9._-]", k->str);
		if (v->kind != SPEC_SCALAR)
			return spec_fail_at(err, v, -EINVAL, "tags: %s must be a single value", k->str);
		sp->tag_keys[i] = k->str;
		sp->tag_values[i] = v->str;
	}
	sp->ntags = n->n;
	return 0;
}

/* ---- tune.yaml ---- */

static const struct {
	const char *name;
	enum search_kind kind;
	size_t nargs_min, nargs_max;
} search_kinds[] = {
	{ "choice", SEARCH_CHOICE, 1, 1000 },
	{ "uniform", SEARCH_UNIFORM, 2, 2 },
	{ "quniform", SEARCH_QUNIFORM, 3, 3 },
	{ "loguniform", SEARCH_LOGUNIFORM, 2, 2 },
	{ "randint", SEARCH_RANDINT, 1, 2 },
};

/* Every value a dimension can produce must be a valid parameter: check
 * its ends (and every choice) on a scratch copy of the parameters. */
static int check_dim_values(const struct train_spec *sp, const struct search_dim *d,
			    const struct spec_node *at, struct mlfs_err *err)
{
	struct forest_params scratch = sp->params;
	struct mlfs_err why = { 0 };
	char text[64];
	double ends[2] = { d->lo, d->hi };

	if (d->kind == SEARCH_CHOICE) {
		for (size_t i = 0; i < d->nchoices; i++)
			if (forest_params_set(&scratch, d->param, d->choices[i], &why))
				return spec_fail_at(err, at, -EINVAL, "search_space: %s", why.msg);
		return 0;
	}
	if (d->kind == SEARCH_LOGUNIFORM)
		ends[0] = exp(d->lo), ends[1] = exp(d->hi);
	if (d->kind == SEARCH_RANDINT)
		ends[1] = d->hi - 1;
	for (int i = 0; i < 2; i++) {
		bool integral = d->kind == SEARCH_RANDINT ||
				(d->kind == SEARCH_QUNIFORM && d->q == floor(d->q));
		if (integral)
			snprintf(text, sizeof(text), "%.0f", ends[i]);
		else
			snprintf(text, sizeof(text), "%.17g", ends[i]);
		if (forest_params_set(&scratch, d->param, text, &why))
			return spec_fail_at(err, at, -EINVAL, "search_space: %s can reach %s: %s",
					    d->param, text, why.msg);
	}
	return 0;
}

static int parse_dim(struct train_spec *sp, const struct spec_node *k,
		     const struct spec_node *v, struct search_dim *d,
		     struct mlfs_err *err)
{
	struct train_spec_mem *m = sp->mem;
	d->param = k->str;
	if (v->kind != SPEC_MAP || v->n != 1)
		return spec_fail_at(err, v, -EINVAL, "search_space: %s must be one of {choice: [...]}, {uniform: [lo, hi]}, {quniform: [lo, hi, q]}, {loguniform: [lo, hi]}, {randint: [upper] or [lo, hi]}", k->str);
	const struct spec_node *kind = v->kids[0], *args = v->kids[1];
	size_t i = 0, nk = sizeof(search_kinds) / sizeof(*search_kinds);
	while (i < nk && strcmp(search_kinds[i].name, kind->str))
		i++;
	if (i == nk)
		return spec_fail_at(err, kind, -EINVAL, "search_space: unknown distribution '%s' (choice, uniform, quniform, loguniform, randint)", kind->str);
	d->kind = search_kinds[i].kind;
	if (args->kind != SPEC_SEQ || args->n < search_kinds[i].nargs_min || args->n > search_kinds[i].nargs_max)
		return spec_fail_at(err, args, -EINVAL, "search_space: %s of %s needs a list of %zu%s values",
				    kind->str, k->str, search_kinds[i].nargs_min,
				    search_kinds[i].nargs_max > search_kinds[i].nargs_min ? " or more" : "");
	if (d->kind == SEARCH_CHOICE) {
		int rc = get_list(m, args, "choice", &d->choices, &d->nchoices, err);
		if (rc)
			return rc;
	} else {
		double a[3] = { 0, 0, 1 };
		for (size_t j = 0; j < args->n; j++) {
			int rc = spec_want_number(args->kids[j], kind->str, -1e300, 1e300, &a[j], err);
			if (rc)
				return rc;
		}
		if (d->kind == SEARCH_RANDINT && args->n == 1)
			a[1] = a[0], a[0] = 0;
		d->lo = a[0], d->hi = a[1], d->q = a[2];
		if (!(d->lo < d->hi))
			return spec_fail_at(err, args, -EINVAL, "search_space: %s needs low < high", k->str);
		if (d->kind == SEARCH_QUNIFORM && !(d->q > 0))
			return spec_fail_at(err, args->kids[2], -EINVAL, "search_space: q must be positive");
		if (d->kind == SEARCH_RANDINT && (d->lo != floor(d->lo) || d->hi != floor(d->hi)))
			return spec_fail_at(err, args, -EINVAL, "search_space: randint bounds must be whole numbers");
	}
	return check_dim_values(sp, d, v, err);
}

static int parse_space(struct train_spec *sp, const struct spec_node *n,
		       struct mlfs_err *err)
{
	int rc;
	if ((rc = want_map(n, "search_space", err)))
		return rc;
	if (!n->n)
		return spec_fail_at(err, n, -EINVAL, "search_space is empty: nothing to tune");
	sp->space = zalloc(sp->mem, n->n, sizeof(*sp->space));
	for (size_t i = 0; i < n->n; i++) {
		const struct spec_node *k = n->kids[2 * i];
		if (!strcmp(k->str, "n_jobs") || !strcmp(k->str, "seed") || !strcmp(k->str, "random_state"))
			return spec_fail_at(err, k, -EINVAL, "search_space: %s cannot be tuned", k->str);
		if ((rc = parse_dim(sp, k, n->kids[2 * i + 1], &sp->space[i], err)))
			return rc;
		sp->nspace++;
	}
	return 0;
}

static const char *const tune_metrics[] = {
	"accuracy", "precision", "recall", "f1_score", "roc_auc", "log_loss",
	"oob_score", "rmse", "mae", "r2", NULL,
};

static bool metric_maximized(const char *metric)
{
	return strcmp(metric, "log_loss") && strcmp(metric, "rmse") && strcmp(metric, "mae");
}

static int parse_tune(struct train_spec *sp, const struct spec_node *root,
		      bool so_far, struct mlfs_err *err)
{
	const struct spec_node *v;
	uint64_t u;
	int rc;

	sp->tune = true;
	sp->max_evals = 20;
	sp->parallelism = 1;
	if (!(v = spec_map_get(root, "search_space")) && !so_far)
		return spec_fail_at(err, root, -EINVAL, "tune.yaml needs a search_space");
	if (v && (rc = parse_space(sp, v, err)))
		return rc;
	if ((v = spec_map_get(root, "algo"))) {
		if ((rc = spec_want_str(v, "algo", err)))
			return rc;
		if (!strcmp(v->str, "tpe"))
			sp->algo = TUNE_TPE;
		else if (!strcmp(v->str, "random") || !strcmp(v->str, "rand"))
			sp->algo = TUNE_RANDOM;
		else
			return spec_fail_at(err, v, -EINVAL, "algo: '%s' is not tpe or random", v->str);
	}
	if ((v = spec_map_get(root, "max_evals"))) {
		if ((rc = spec_want_uint(v, "max_evals", 1, 10000, &u, err)))
			return rc;
		sp->max_evals = (uint32_t)u;
	}
	if ((v = spec_map_get(root, "parallelism"))) {
		if ((rc = spec_want_uint(v, "parallelism", 1, 64, &u, err)))
			return rc;
		sp->parallelism = (uint32_t)u;
	}
	if ((v = spec_map_get(root, "seed")) && (rc = spec_want_uint(v, "seed", 0, 4294967295.0, &sp->seed, err)))
		return rc;
	if ((v = spec_map_get(root, "metric"))) {
		if ((rc = get_str(sp->mem, v, "metric", &sp->metric, err)))
			return rc;
		size_t i = 0;
		while (tune_metrics[i] && strcmp(tune_metrics[i], sp->metric))
			i++;
		if (!tune_metrics[i])
			return spec_fail_at(err, v, -EINVAL, "metric: '%s' is not one the runs log (accuracy precision recall f1_score roc_auc log_loss oob_score rmse mae r2)", sp->metric);
		sp->maximize = metric_maximized(sp->metric);
	}
	if ((v = spec_map_get(root, "goal"))) {
		if ((rc = spec_want_str(v, "goal", err)))
			return rc;
		if (strcmp(v->str, "maximize") && strcmp(v->str, "minimize"))
			return spec_fail_at(err, v, -EINVAL, "goal: '%s' is not maximize or minimize", v->str);
		sp->maximize = !strcmp(v->str, "maximize");
		sp->goal_set = true;
	}
	return 0;
}

const char *train_spec_metric(const struct train_spec *sp, bool classify,
			      bool *maximize)
{
	const char *metric = sp->metric ? sp->metric : classify ? "accuracy" : "rmse";
	*maximize = sp->goal_set ? sp->maximize : metric_maximized(metric);
	return metric;
}

/* ---- the document ---- */

static const char *const train_keys[] = {
	"labels", "label", "features", "exclude", "model", "params", "split",
	"test", "register", "tags", NULL,
};
static const char *const tune_keys[] = {
	"labels", "label", "features", "exclude", "model", "params", "split",
	"test", "register", "tags", "search_space", "algo", "max_evals",
	"parallelism", "metric", "goal", "seed", NULL,
};

static int parse_root(struct train_spec *sp, const struct spec_node *root,
		      unsigned flags, struct mlfs_err *err)
{
	struct train_spec_mem *m = sp->mem;
	const struct spec_node *v;
	bool tune = flags & TRAIN_SPEC_TUNE, so_far = flags & TRAIN_SPEC_SO_FAR;
	int rc;

	if (so_far && !root)
		return 0;	/* nothing but comments yet */
	if (!root || root->kind != SPEC_MAP)
		return spec_fail_at(err, root, -EINVAL, "%s must be a map of settings (labels, label, features, params ...)",
				    tune ? "tune.yaml" : "train.yaml");
	if ((rc = spec_check_keys(root, tune ? tune_keys : train_keys,
				  tune ? "tune.yaml" : "train.yaml", err)))
		return rc;
	if (!(m->labels = spec_map_get(root, "labels")) && !so_far)
		return spec_fail_at(err, root, -EINVAL, "labels: the table of labels is missing");
	if (m->labels && (rc = get_str(m, m->labels, "labels", &sp->labels, err)))
		return rc;
	if (!(m->label = spec_map_get(root, "label")) && !so_far)
		return spec_fail_at(err, root, -EINVAL, "label: the label column is missing");
	if (m->label && (rc = get_str(m, m->label, "label", &sp->label, err)))
		return rc;
	if ((v = spec_map_get(root, "features")) && (rc = parse_lookups(sp, v, err)))
		return rc;
	if ((m->exclude = spec_map_get(root, "exclude")) &&
	    (rc = get_list(m, m->exclude, "exclude", &sp->exclude, &sp->nexclude, err)))
		return rc;
	if ((v = spec_map_get(root, "model"))) {
		if ((rc = spec_want_str(v, "model", err)))
			return rc;
		if (strcmp(v->str, "random_forest"))
			return spec_fail_at(err, v, -EINVAL, "model: '%s' is not a model mlfs trains (random_forest)", v->str);
	}
	if ((v = spec_map_get(root, "params")) && (rc = parse_params(sp, v, err)))
		return rc;
	sp->test_size = 0.2;
	sp->split_seed = 42;
	if ((m->test = spec_map_get(root, "test"))) {
		if (spec_map_get(root, "split"))
			return spec_fail_at(err, m->test, -EINVAL, "give either split or test, not both");
		if ((rc = get_str(m, m->test, "test", &sp->test, err)))
			return rc;
		sp->test_size = 0;
	}
	if ((v = spec_map_get(root, "split")) && (rc = parse_split(sp, v, err)))
		return rc;
	if ((m->reg = spec_map_get(root, "register")) &&
	    (rc = get_str(m, m->reg, "register", &sp->register_model, err)))
		return rc;
	if ((v = spec_map_get(root, "tags")) && (rc = parse_tags(sp, v, err)))
		return rc;
	return tune ? parse_tune(sp, root, so_far, err) : 0;
}

int train_spec_parse(const char *text, size_t len, unsigned flags,
		     struct train_spec **out, struct mlfs_err *err)
{
	struct train_spec *sp = calloc(1, sizeof(*sp));
	if (!sp || !(sp->mem = calloc(1, sizeof(*sp->mem))))
		mlfs_oom();
	forest_params_default(&sp->params);
	int rc = spec_parse_yaml(text, len, &sp->mem->doc, err);
	if (!rc)
		rc = parse_root(sp, spec_doc_root(sp->mem->doc), flags, err);
	if (rc) {
		train_spec_free(sp);
		*out = NULL;
		return rc;
	}
	*out = sp;
	return 0;
}

/* True when the line P[0..N) (a top-level "key: value" without its
 * newline) holds a whole value: a scalar, or a flow collection whose
 * brackets close on the line. */
static bool line_has_value(const char *p, size_t n)
{
	const char *colon = memchr(p, ':', n);
	if (!colon)
		return false;
	size_t i = (size_t)(colon - p) + 1;
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	if (i == n || p[i] == '#' || p[i] == '|' || p[i] == '>')
		return false;
	int depth = 0;
	for (; i < n; i++) {
		if (p[i] == '[' || p[i] == '{')
			depth++;
		else if (p[i] == ']' || p[i] == '}')
			depth--;
	}
	return depth == 0;
}

size_t train_spec_settled(const char *text, size_t len)
{
	size_t last = 0, last_end = 0;
	bool any = false;
	for (size_t i = 0; i < len;) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - text) + 1 : len;
		char c = text[i];
		if (c != ' ' && c != '\t' && c != '#' && c != '-' && c != '\n' &&
		    c != '\r' && c != '.') {
			last = i, last_end = end, any = true;
		} else if (any && c != '#' && c != '\n') {
			last_end = len + 1;	/* the last entry goes on below */
		}
		i = end;
	}
	/* The last entry is whole too when it is one finished line. */
	if (any && last_end <= len && text[last_end - 1] == '\n' &&
	    line_has_value(text + last, last_end - 1 - last))
		return len;
	return last;
}

/* ---- the check against the store ---- */

static bool has_name(char *const *names, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(names[i], name))
			return true;
	return false;
}

/* The labels table T (named at node AT) has every column the spec reads
 * from it.  NAMES/N: its columns, for the caller. */
static int check_labels_table(const struct train_spec *sp, struct store *s,
			      const char *t, const struct spec_node *at,
			      char ***names, uint32_t *n, struct mlfs_err *err)
{
	const struct train_spec_mem *m = sp->mem;
	enum col_type *types = NULL;
	if (!names_valid(t) || table_columns(s, t, names, &types, n))
		return spec_fail_at(err, at, -EINVAL, "no table '%s' under /tables", t);
	free(types);
	if (!*n)
		return spec_fail_at(err, at, -EINVAL, "table '%s' has no rows yet", t);
	if (sp->label && !has_name(*names, *n, sp->label))
		return spec_fail_at(err, m->label, -EINVAL, "label: no column '%s' in table '%s'", sp->label, t);
	for (size_t i = 0; i < sp->nlookups; i++) {
		const struct trainset_lookup *l = &sp->lookups[i];
		for (size_t k = 0; k < l->nkeys; k++)
			if (!has_name(*names, *n, l->lookup_keys[k]))
				return spec_fail_at(err, m->lookup[i], -EINVAL, "lookup_key: no column '%s' in table '%s'",
						    l->lookup_keys[k], t);
		if (l->timestamp_lookup_key && !has_name(*names, *n, l->timestamp_lookup_key))
			return spec_fail_at(err, m->lookup[i], -EINVAL, "timestamp_lookup_key: no column '%s' in table '%s'",
					    l->timestamp_lookup_key, t);
	}
	return 0;
}

static int check_lookup(const struct train_spec *sp, struct store *s, size_t i,
			struct mlfs_err *err)
{
	const struct trainset_lookup *l = &sp->lookups[i];
	const struct spec_node *at = sp->mem->lookup[i];
	struct features_schema *fs = NULL;
	int rc = 0;

	if (!names_valid(l->table) || features_schema_get(s, l->table, &fs, NULL))
		return spec_fail_at(err, at, -EINVAL, "table: no feature table '%s' under /features", l->table);
	if (l->nkeys != fs->nkeys)
		rc = spec_fail_at(err, at, -EINVAL, "lookup_key: '%s' has %u key column%s, the lookup gives %zu",
				  l->table, fs->nkeys, fs->nkeys == 1 ? "" : "s", l->nkeys);
	for (size_t c = 0; !rc && c < l->ncolumns; c++)
		if (!has_name(fs->names, fs->ncols, l->columns[c]))
			rc = spec_fail_at(err, at, -EINVAL, "columns: no column '%s' in feature table '%s'",
					  l->columns[c], l->table);
	if (!rc && l->timestamp_lookup_key && fs->ts < 0)
		rc = spec_fail_at(err, at, -EINVAL, "timestamp_lookup_key: feature table '%s' has no timestamp_key",
				  l->table);
	if (!rc && !fs->ncols)
		rc = spec_fail_at(err, at, -EINVAL, "feature table '%s' has no rows yet", l->table);
	features_schema_free(fs);
	return rc;
}

int train_spec_check(struct store *s, const struct train_spec *sp,
		     bool has_registry, struct mlfs_err *err)
{
	const struct train_spec_mem *m = sp->mem;
	char **names = NULL, **test_names = NULL;
	uint32_t n = 0, ntest = 0;
	int rc;

	if (sp->register_model && !has_registry)
		return spec_fail_at(err, m->reg, -EINVAL, "register: no model registry yet");
	if (sp->register_model && !names_valid(sp->register_model))
		return spec_fail_at(err, m->reg, -EINVAL, "register: '%s' is not a model name", sp->register_model);
	for (size_t i = 0; i < sp->nlookups; i++)
		if ((rc = check_lookup(sp, s, i, err)))
			return rc;
	if (!sp->labels)
		goto out;	/* written so far: the rest comes later */
	if ((rc = check_labels_table(sp, s, sp->labels, m->labels, &names, &n, err)))
		goto out;
	if (sp->test &&
	    (rc = check_labels_table(sp, s, sp->test, m->test, &test_names, &ntest, err)))
		goto out;
	for (size_t i = 0; i < sp->nexclude; i++) {
		if (sp->label && !strcmp(sp->exclude[i], sp->label)) {
			rc = spec_fail_at(err, m->exclude, -EINVAL, "exclude: '%s' is the label", sp->label);
			goto out;
		}
		bool known = has_name(names, n, sp->exclude[i]);
		for (size_t l = 0; !known && l < sp->nlookups; l++) {
			struct features_schema *fs = NULL;
			if (!features_schema_get(s, sp->lookups[l].table, &fs, NULL))
				known = has_name(fs->names, fs->ncols, sp->exclude[i]);
			features_schema_free(fs);
		}
		if (!known) {
			rc = spec_fail_at(err, m->exclude, -EINVAL, "exclude: no column '%s' in the training set",
					  sp->exclude[i]);
			goto out;
		}
	}
out:
	free(names);
	free(test_names);
	return rc;
}
