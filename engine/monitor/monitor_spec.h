/* monitor_spec.h - monitor.yaml as a typed spec (DESIGN.md section 7):
 * what to watch (an endpoint's log or a table), against what (a model
 * version's training profile or a table), in which windows and slices,
 * with which tests and thresholds.  Parsing checks the shape and, given a
 * store, that what it names exists; every error names line and column. */
#ifndef MLFS_MONITOR_SPEC_H
#define MLFS_MONITOR_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "store.h"

enum monitor_source { MONITOR_SOURCE_ENDPOINT, MONITOR_SOURCE_TABLE };
enum monitor_baseline { MONITOR_BASE_NONE, MONITOR_BASE_MODEL, MONITOR_BASE_TABLE };
enum monitor_problem { MONITOR_PROBLEM_AUTO, MONITOR_PROBLEM_CLASSIFICATION,
		       MONITOR_PROBLEM_REGRESSION };

/* The tests, in drift.csv's order within a column. */
enum monitor_metric {
	MONITOR_PSI,
	MONITOR_KS,		/* a p-value: drift at or below */
	MONITOR_WASSERSTEIN,
	MONITOR_CHI2,		/* a p-value: drift at or below */
	MONITOR_JS,
	MONITOR_NMETRICS,
};

struct monitor_spec {
	enum monitor_source source_kind;
	char *source;			/* endpoint or table name */
	char *timestamp;		/* NULL: the log's time (endpoint) */
	enum monitor_baseline base_kind;
	char *base_name;		/* model or table; NULL for none */
	char *base_ref;			/* model: a version or an alias */
	char **columns;			/* one block; NULL: the default */
	size_t ncolumns;
	int64_t granularity_s;
	char **slice_by;		/* one block */
	size_t nslices;
	char *model_id;			/* table source: MODEL@VERSION column */
	char *labels_table, *labels_key, *labels_label;
	enum monitor_problem problem;
	bool metric_on[MONITOR_NMETRICS];
	double medium[MONITOR_NMETRICS], high[MONITOR_NMETRICS];
	int psi_bins;
};

/* Parse monitor.yaml.  With S, also check that the source, the baseline
 * and the labels exist and that a table source has the columns named.
 * An empty text is -ENODATA ("no monitor.yaml").  *OUT: free with
 * monitor_spec_free.  -EINVAL "line L, column C: reason", -EFBIG. */
int monitor_spec_parse(struct store *s, const char *text, size_t len,
		       struct monitor_spec **out, struct mlfs_err *err);
/* The same check on a text that may still be arriving (a write before
 * close): only errors on complete lines count, and not missing keys. */
int monitor_spec_check_partial(struct store *s, const char *text, size_t len,
			       struct mlfs_err *err);
void monitor_spec_free(struct monitor_spec *sp);

/* drift.csv's name of metric M ("psi", "ks_pvalue", "wasserstein",
 * "chi2_pvalue", "js_distance"); whether it is a p-value. */
const char *monitor_metric_name(enum monitor_metric m);
bool monitor_metric_is_pvalue(enum monitor_metric m);

#endif
