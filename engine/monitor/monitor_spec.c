/* monitor_spec.c - monitor.yaml parsed into a struct monitor_spec: keys,
 * values and defaults (Evidently's thresholds, the PSI convention), then,
 * given a store, the names checked against what exists.  No computing
 * here: that is refresh.c's. */
#include "monitor_spec.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "endpoint.h"
#include "names.h"
#include "registry.h"
#include "spec.h"
#include "table.h"

static const char *const metric_names[MONITOR_NMETRICS] = {
	"psi", "ks_pvalue", "wasserstein", "chi2_pvalue", "js_distance",
};
/* The names monitor.yaml uses for the tests (metrics: and thresholds:). */
static const char *const test_names[MONITOR_NMETRICS] = {
	"psi", "ks", "wasserstein", "chi2", "js",
};
static const double default_medium[MONITOR_NMETRICS] = { 0.1, 0.05, 0.1, 0.05, 0.1 };
static const double default_high[MONITOR_NMETRICS] = { 0.25, 0.01, 0.2, 0.01, 0.2 };

const char *monitor_metric_name(enum monitor_metric m)
{
	return metric_names[m];
}

bool monitor_metric_is_pvalue(enum monitor_metric m)
{
	return m == MONITOR_KS || m == MONITOR_CHI2;
}

void monitor_spec_free(struct monitor_spec *sp)
{
	if (!sp)
		return;
	free(sp->source);
	free(sp->timestamp);
	free(sp->base_name);
	free(sp->base_ref);
	free(sp->columns);
	free(sp->slice_by);
	free(sp->model_id);
	free(sp->labels_table);
	free(sp->labels_key);
	free(sp->labels_label);
	free(sp);
}

/* A metric by its monitor.yaml name (or drift.csv's), -1 when unknown. */
static int metric_find(const char *name)
{
	for (int m = 0; m < MONITOR_NMETRICS; m++)
		if (!strcmp(name, test_names[m]) || !strcmp(name, metric_names[m]))
			return m;
	return -1;
}

/* "KIND:NAME" with KIND one of K0, K1: its index and NAME. */
static int kind_name(const struct spec_node *n, const char *what,
		     const char *k0, const char *k1, int *kind,
		     const char **name, struct mlfs_err *err)
{
	int rc = spec_want_str(n, what, err);
	if (rc)
		return rc;
	const char *colon = strchr(n->str, ':');
	size_t kl = colon ? (size_t)(colon - n->str) : 0;
	if (colon && kl == strlen(k0) && !strncmp(n->str, k0, kl))
		*kind = 0;
	else if (colon && kl == strlen(k1) && !strncmp(n->str, k1, kl))
		*kind = 1;
	else
		return spec_fail_at(err, n, -EINVAL, "%s is %s:NAME or %s:NAME, not '%s'", what, k0, k1, n->str);
	*name = colon + 1;
	while (**name == ' ')
		(*name)++;
	return 0;
}

static int parse_source(const struct spec_node *n, struct monitor_spec *sp,
			struct mlfs_err *err)
{
	int kind = 0;
	const char *name = NULL;
	int rc = kind_name(n, "source", "endpoint", "table", &kind, &name, err);
	if (rc)
		return rc;
	if (!names_valid(name))
		return spec_fail_at(err, n, -EINVAL, "source: '%s' is not a valid name", name);
	sp->source_kind = kind ? MONITOR_SOURCE_TABLE : MONITOR_SOURCE_ENDPOINT;
	sp->source = mlfs_strdup(name);
	return 0;
}

static int parse_baseline(const struct spec_node *n, struct monitor_spec *sp,
			  struct mlfs_err *err)
{
	int kind = 0;
	const char *name = NULL;
	int rc = kind_name(n, "baseline", "model", "table", &kind, &name, err);
	if (rc)
		return rc;
	if (kind == 1) {
		if (!names_valid(name))
			return spec_fail_at(err, n, -EINVAL, "baseline: '%s' is not a valid table name", name);
		sp->base_kind = MONITOR_BASE_TABLE;
		sp->base_name = mlfs_strdup(name);
		return 0;
	}
	const char *at = strchr(name, '@');
	if (!at || at == name || !at[1])
		return spec_fail_at(err, n, -EINVAL, "baseline: model:NAME@REF (a version or an alias), not '%s'", n->str);
	sp->base_kind = MONITOR_BASE_MODEL;
	sp->base_name = strndup(name, (size_t)(at - name));
	sp->base_ref = mlfs_strdup(at + 1);
	if (!sp->base_name)
		mlfs_oom();
	if (!names_valid(sp->base_name) || !names_valid(sp->base_ref))
		return spec_fail_at(err, n, -EINVAL, "baseline: '%s' is not MODEL@REF with valid names", name);
	return 0;
}

/* "1d", "30m", "1 hour", "2 weeks": seconds. */
static int parse_granularity(const struct spec_node *n, int64_t *out,
			     struct mlfs_err *err)
{
	static const struct {
		const char *unit;
		int64_t s;
	} units[] = {
		{ "m", 60 }, { "min", 60 }, { "minute", 60 }, { "minutes", 60 },
		{ "h", 3600 }, { "hour", 3600 }, { "hours", 3600 },
		{ "d", 86400 }, { "day", 86400 }, { "days", 86400 },
		{ "w", 604800 }, { "week", 604800 }, { "weeks", 604800 },
	};
	int rc = spec_want_str(n, "granularity", err);
	if (rc)
		return rc;
	char *end;
	long long k = strtoll(n->str, &end, 10);
	while (*end == ' ')
		end++;
	if (end != n->str && k >= 1 && k <= 100000)
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (!strcasecmp(end, units[i].unit)) {
				*out = k * units[i].s;
				if (*out > 366LL * 86400)
					break;
				return 0;
			}
	return spec_fail_at(err, n, -EINVAL, "granularity: a number and m, h, d or w (5m, 1h, 1d, 1w; at most a year), not '%s'", n->str);
}

static int parse_number(const struct spec_node *n, const char *what,
			double *out, struct mlfs_err *err)
{
	int rc = spec_want_str(n, what, err);
	if (rc)
		return rc;
	char *end;
	double v = strtod(n->str, &end);
	if (end == n->str || *end || !isfinite(v))
		return spec_fail_at(err, n, -EINVAL, "%s: '%s' is not a number", what, n->str);
	*out = v;
	return 0;
}

/* metrics: {numeric: [...], categorical: [...]} or a list of tests. */
static int parse_metrics(const struct spec_node *n, struct monitor_spec *sp,
			 struct mlfs_err *err)
{
	static const char *const keys[] = { "numeric", "categorical", NULL };
	const struct spec_node *lists[2] = { n, NULL };
	int rc = 0;
	if (n->kind == SPEC_MAP) {
		if ((rc = spec_check_keys(n, keys, "metrics", err)))
			return rc;
		lists[0] = spec_map_get(n, "numeric");
		lists[1] = spec_map_get(n, "categorical");
	}
	for (int m = 0; m < MONITOR_NMETRICS; m++)
		sp->metric_on[m] = false;
	for (int l = 0; l < 2; l++) {
		const struct spec_node *list = lists[l];
		if (!list)
			continue;
		if (list->kind == SPEC_MAP)
			return spec_fail_at(err, list, -EINVAL, "metrics: a list of tests (psi, ks, wasserstein, chi2, js)");
		size_t count = list->kind == SPEC_SEQ ? list->n : 1;
		for (size_t i = 0; i < count; i++) {
			const struct spec_node *item = list->kind == SPEC_SEQ ? list->kids[i] : list;
			if ((rc = spec_want_str(item, "metrics", err)))
				return rc;
			int m = metric_find(item->str);
			if (m < 0)
				return spec_fail_at(err, item, -EINVAL, "metrics: unknown test '%s' (psi, ks, wasserstein, chi2, js)", item->str);
			bool numeric = m <= MONITOR_WASSERSTEIN;
			if (n->kind == SPEC_MAP && numeric != (l == 0))
				return spec_fail_at(err, item, -EINVAL, "metrics: %s is a test for %s columns", item->str,
						    numeric ? "numeric" : "categorical");
			sp->metric_on[m] = true;
		}
	}
	return 0;
}

static int parse_thresholds(const struct spec_node *n, struct monitor_spec *sp,
			    struct mlfs_err *err)
{
	static const char *const levels[] = { "medium", "high", NULL };
	if (n->kind != SPEC_MAP)
		return spec_fail_at(err, n, -EINVAL, "thresholds: a map of tests, each {medium: X, high: Y}");
	for (size_t i = 0; i < n->n; i++) {
		const struct spec_node *k = n->kids[2 * i], *v = n->kids[2 * i + 1];
		int m = metric_find(k->str);
		int rc = 0;
		if (m < 0)
			return spec_fail_at(err, k, -EINVAL, "thresholds: unknown test '%s' (psi, ks, wasserstein, chi2, js)", k->str);
		if (v->kind != SPEC_MAP)
			return spec_fail_at(err, v, -EINVAL, "thresholds: %s is {medium: X, high: Y}", k->str);
		if ((rc = spec_check_keys(v, levels, "thresholds", err)))
			return rc;
		const struct spec_node *med = spec_map_get(v, "medium"), *high = spec_map_get(v, "high");
		if (med && (rc = parse_number(med, "thresholds", &sp->medium[m], err)))
			return rc;
		if (high && (rc = parse_number(high, "thresholds", &sp->high[m], err)))
			return rc;
		bool p = monitor_metric_is_pvalue(m);
		if (p ? sp->high[m] > sp->medium[m] : sp->high[m] < sp->medium[m])
			return spec_fail_at(err, v, -EINVAL, p ?
					    "thresholds: %s is a p-value (drift when at or below): high (%g) must not be above medium (%g)" :
					    "thresholds: %s drifts when at or above: high (%g) must not be below medium (%g)",
					    k->str, sp->high[m], sp->medium[m]);
		if (sp->medium[m] < 0 || (p && sp->medium[m] > 1))
			return spec_fail_at(err, v, -EINVAL, "thresholds: %s out of range", k->str);
	}
	return 0;
}

static int parse_labels(const struct spec_node *n, struct monitor_spec *sp,
			struct mlfs_err *err)
{
	static const char *const keys[] = { "table", "key", "label", NULL };
	const char *what[] = { "labels: table", "labels: key", "labels: label" };
	char **dst[] = { &sp->labels_table, &sp->labels_key, &sp->labels_label };
	if (n->kind != SPEC_MAP)
		return spec_fail_at(err, n, -EINVAL, "labels: {table: NAME, key: COLUMN, label: COLUMN}");
	int rc = spec_check_keys(n, keys, "labels", err);
	for (int i = 0; !rc && i < 3; i++) {
		const struct spec_node *v = spec_map_get(n, keys[i]);
		if (!v)
			return spec_fail_at(err, n, -EINVAL, "labels: '%s' is missing", keys[i]);
		if (!(rc = spec_want_str(v, what[i], err)))
			*dst[i] = mlfs_strdup(v->str);
	}
	return rc;
}

static int parse_value(const struct spec_node *k, const struct spec_node *v,
		       struct monitor_spec *sp, struct mlfs_err *err)
{
	const char *key = k->str;
	int rc = 0;
	if (!strcmp(key, "source"))
		return parse_source(v, sp, err);
	if (!strcmp(key, "baseline"))
		return parse_baseline(v, sp, err);
	if (!strcmp(key, "granularity"))
		return parse_granularity(v, &sp->granularity_s, err);
	if (!strcmp(key, "metrics"))
		return parse_metrics(v, sp, err);
	if (!strcmp(key, "thresholds"))
		return parse_thresholds(v, sp, err);
	if (!strcmp(key, "labels"))
		return parse_labels(v, sp, err);
	if (!strcmp(key, "columns"))
		return spec_str_list(v, "columns", &sp->columns, &sp->ncolumns, err);
	if (!strcmp(key, "slice_by"))
		return spec_str_list(v, "slice_by", &sp->slice_by, &sp->nslices, err);
	if (!strcmp(key, "timestamp") || !strcmp(key, "model_id")) {
		if (!(rc = spec_want_str(v, key, err)))
			*(key[0] == 't' ? &sp->timestamp : &sp->model_id) = mlfs_strdup(v->str);
		return rc;
	}
	if (!strcmp(key, "problem_type")) {
		if ((rc = spec_want_str(v, key, err)))
			return rc;
		if (!strcmp(v->str, "classification"))
			sp->problem = MONITOR_PROBLEM_CLASSIFICATION;
		else if (!strcmp(v->str, "regression"))
			sp->problem = MONITOR_PROBLEM_REGRESSION;
		else
			return spec_fail_at(err, v, -EINVAL, "problem_type: classification or regression, not '%s'", v->str);
		return 0;
	}
	/* psi_bins */
	double bins = 0;
	if ((rc = parse_number(v, key, &bins, err)))
		return rc;
	if (bins != floor(bins) || bins < 2 || bins > 1000)
		return spec_fail_at(err, v, -EINVAL, "psi_bins: a whole number from 2 to 1000");
	sp->psi_bins = (int)bins;
	return 0;
}

/* ---- against the store ---- */

struct names_list {
	char **names;
	size_t n;
};

static bool has_column(const struct names_list *cols, const char *name)
{
	for (size_t i = 0; i < cols->n; i++)
		if (!strcmp(cols->names[i], name))
			return true;
	return false;
}

/* Each name in NAMES is a column of table TABLE (COLS). */
static int want_columns(const struct spec_node *root, const char *key,
			const struct names_list *cols, const char *table,
			char *const *names, size_t n, struct mlfs_err *err)
{
	for (size_t i = 0; i < n; i++)
		if (!has_column(cols, names[i]))
			return spec_fail_at(err, spec_map_get(root, key), -EINVAL,
					    strcmp(table, "endpoint") ? "%s: table '%s' has no column '%s'"
								       : "%s: the %s's log has no column '%s'",
					    key, table, names[i]);
	return 0;
}

static int check_store(struct store *s, const struct spec_node *root,
		       const struct monitor_spec *sp, struct mlfs_err *err)
{
	struct endpoint_info ei;
	struct table_info ti;
	struct names_list cols = { 0 };
	enum col_type *types = NULL;
	uint32_t ncols = 0;
	uint64_t version;
	int rc = 0;

	if (sp->source_kind == MONITOR_SOURCE_ENDPOINT) {
		struct buf names = { 0 };
		if (endpoint_stat(s, sp->source, &ei))
			return spec_fail_at(err, spec_map_get(root, "source"), -EINVAL, "source: no endpoint '%s'", sp->source);
		/* once the log has rows, its columns are known */
		if (!endpoint_log_names(s, sp->source, &names)) {
			buf_puts(&names, "prediction");
			buf_putc(&names, '\0');
			buf_puts(&names, "probability");
			buf_putc(&names, '\0');
			for (const char *p = names.data; p < names.data + names.len; p += strlen(p) + 1)
				cols.n++;
			cols.names = malloc((cols.n + 1) * sizeof(char *));
			if (!cols.names)
				mlfs_oom();
			cols.n = 0;
			for (char *p = names.data; p < names.data + names.len; p += strlen(p) + 1)
				cols.names[cols.n++] = p;
			const char *what = "endpoint";
			char *one[] = { sp->labels_key };
			if (sp->labels_key)
				rc = want_columns(root, "labels", &cols, what, one, 1, err);
			if (!rc)
				rc = want_columns(root, "columns", &cols, what, sp->columns, sp->ncolumns, err);
			if (!rc)
				rc = want_columns(root, "slice_by", &cols, what, sp->slice_by, sp->nslices, err);
			if (!rc && sp->timestamp && strcmp(sp->timestamp, "timestamp") &&
			    strcmp(sp->timestamp, "prediction_timestamp") && strcmp(sp->timestamp, "time"))
				rc = want_columns(root, "timestamp", &cols, what, &sp->timestamp, 1, err);
			free(cols.names);
			cols = (struct names_list){ 0 };
		}
		buf_free(&names);
		if (rc)
			return rc;
	} else if (table_stat(s, sp->source, &ti)) {
		return spec_fail_at(err, spec_map_get(root, "source"), -EINVAL, "source: no table '%s'", sp->source);
	} else if (!(rc = table_columns(s, sp->source, &cols.names, &types, &ncols))) {
		cols.n = ncols;
		char *one[] = { sp->timestamp, sp->model_id, sp->labels_key };
		const char *keys[] = { "timestamp", "model_id", "labels" };
		for (int i = 0; !rc && i < 3; i++)
			if (one[i] && ncols)
				rc = want_columns(root, keys[i], &cols, sp->source, &one[i], 1, err);
		if (!rc && ncols)
			rc = want_columns(root, "columns", &cols, sp->source, sp->columns, sp->ncolumns, err);
		if (!rc && ncols)
			rc = want_columns(root, "slice_by", &cols, sp->source, sp->slice_by, sp->nslices, err);
	}
	if (!rc && sp->base_kind == MONITOR_BASE_MODEL) {
		struct mlfs_err e = { 0 };
		if (registry_resolve(s, sp->base_name, sp->base_ref, &version, &e))
			rc = spec_fail_at(err, spec_map_get(root, "baseline"), -EINVAL, "baseline: %s", e.msg);
	} else if (!rc && sp->base_kind == MONITOR_BASE_TABLE && table_stat(s, sp->base_name, &ti)) {
		rc = spec_fail_at(err, spec_map_get(root, "baseline"), -EINVAL, "baseline: no table '%s'", sp->base_name);
	}
	if (!rc && sp->labels_table) {
		free(cols.names);
		free(types);
		cols = (struct names_list){ 0 };
		types = NULL;
		if (table_stat(s, sp->labels_table, &ti))
			rc = spec_fail_at(err, spec_map_get(root, "labels"), -EINVAL, "labels: no table '%s'", sp->labels_table);
		else if (!(rc = table_columns(s, sp->labels_table, &cols.names, &types, &ncols)) && ncols) {
			cols.n = ncols;
			char *two[] = { sp->labels_key, sp->labels_label };
			rc = want_columns(root, "labels", &cols, sp->labels_table, two, 2, err);
		}
	}
	free(cols.names);
	free(types);
	return rc;
}

/* ---- the whole ---- */

static int parse(struct store *s, const char *text, size_t len, bool partial,
		 struct monitor_spec **out, struct mlfs_err *err)
{
	static const char *const keys[] = { "source", "timestamp", "baseline",
		"columns", "granularity", "slice_by", "model_id", "labels",
		"problem_type", "metrics", "thresholds", "psi_bins", NULL };
	struct spec_doc *doc = NULL;
	struct monitor_spec *sp = calloc(1, sizeof(*sp));
	if (!sp)
		mlfs_oom();
	sp->granularity_s = 86400;
	sp->psi_bins = 10;
	for (int m = 0; m < MONITOR_NMETRICS; m++) {
		sp->metric_on[m] = true;
		sp->medium[m] = default_medium[m];
		sp->high[m] = default_high[m];
	}
	int rc = spec_parse_yaml(text, len, &doc, err);
	const struct spec_node *root = doc ? spec_doc_root(doc) : NULL;
	if (!rc && !root)
		rc = mlfs_fail(err, -ENODATA, "no monitor.yaml: write one first");
	if (!rc && root->kind != SPEC_MAP)
		rc = spec_fail_at(err, root, -EINVAL, "monitor.yaml is a map (source, baseline, granularity, ...)");
	if (!rc)
		rc = spec_check_keys(root, keys, "monitor.yaml", err);
	for (size_t i = 0; !rc && i < root->n; i++) {
		const struct spec_node *v = root->kids[2 * i + 1];
		/* "thresholds:" alone is a value still arriving */
		if (partial && v->kind == SPEC_SCALAR && !v->quoted &&
		    (!v->len || !strcmp(v->str, "~") || !strcmp(v->str, "null")))
			continue;
		rc = parse_value(root->kids[2 * i], v, sp, err);
	}
	if (!rc && !sp->source && !partial)
		rc = spec_fail_at(err, root, -EINVAL, "source is missing (endpoint:NAME or table:NAME)");
	if (!rc && sp->source_kind == MONITOR_SOURCE_TABLE && !sp->timestamp && !partial)
		rc = spec_fail_at(err, spec_map_get(root, "source"), -EINVAL,
				  "timestamp is missing: a table source needs the column that places a row in a window");
	if (!rc && sp->model_id && sp->source_kind == MONITOR_SOURCE_ENDPOINT)
		rc = spec_fail_at(err, spec_map_get(root, "model_id"), -EINVAL,
				  "model_id: an endpoint's log names its versions itself");
	if (!rc && s && sp->source)
		rc = check_store(s, root, sp, err);
	spec_doc_free(doc);
	if (rc || !out)
		monitor_spec_free(sp);
	else
		*out = sp;
	return rc;
}

int monitor_spec_parse(struct store *s, const char *text, size_t len,
		       struct monitor_spec **out, struct mlfs_err *err)
{
	return parse(s, text, len, false, out, err);
}

int monitor_spec_check_partial(struct store *s, const char *text, size_t len,
			       struct mlfs_err *err)
{
	struct mlfs_err e = { 0 };
	unsigned line = 0, nlines = 0;
	int rc = parse(s, text, len, true, NULL, &e);
	if (rc == -ENODATA)
		return 0;
	if (rc != -EINVAL) {
		if (rc && err)
			*err = e;
		return rc;
	}
	for (size_t i = 0; i < len; i++)
		nlines += text[i] == '\n';
	/* a line without its newline yet may still grow: checked at close */
	if (sscanf(e.msg, "line %u", &line) != 1 || line > nlines || strstr(e.msg, "is missing"))
		return 0;
	if (err)
		*err = e;
	return rc;
}
