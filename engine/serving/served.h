/* served.h - a registered model version made ready to score requests:
 * its forest loaded, its features.yaml read (which feature tables to look
 * up, by which request columns), and the call that turns request rows
 * into predictions - feature lookup, request overrides, typing, predict.
 * Endpoints and batch scoring both score through here; routing, logging
 * and statistics are theirs. */
#ifndef MLFS_SERVED_H
#define MLFS_SERVED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "request.h"
#include "store.h"

struct forest;

/* One lookup of features.yaml: TABLE's COLUMNS found by the request
 * columns KEYS (in the order of the table's keys), as of the request
 * column TS_KEY when it has one. */
struct served_lookup {
	char *table;
	char **keys;
	size_t nkeys;
	char **columns;
	size_t ncolumns;
	char *ts_key;		/* NULL: the latest values */
};

struct served {
	char model[129];
	uint64_t version;
	struct forest *forest;
	struct served_lookup *lookups;
	size_t nlookups;
	size_t nfeatures;
	long *feature_lookup;	/* per feature: the lookup bringing it, or -1 */
	size_t mem_bytes;	/* the model's heap, for state */
};

/* Load version VERSION of registered model MODEL.  -ENOENT for a missing
 * model or version, -EINVAL for files that do not load.  Free with
 * served_free(). */
int served_load(struct store *s, const char *model, uint64_t version,
		struct served **out, struct mlfs_err *err);
void served_free(struct served *m);

/* Check that REQ can be scored by M without looking anything up: every
 * lookup key column is there (unless the request gives every column that
 * lookup would bring).  -EINVAL naming the missing column. */
int served_check_columns(const struct served *m, const struct request *req,
			 struct mlfs_err *err);

/* Check that every value REQ gives for a model feature has the feature's
 * type: -EINVAL with "row R, column 'c': ..." as served_score says it. */
int served_check_values(const struct served *m, const struct request *req,
			struct mlfs_err *err);

/* What scoring rows of a request produced, per row. */
struct served_rows {
	size_t nrows;
	const size_t *rows;	/* the request rows to score */
	double *proba;		/* nrows x served_nout(m) */
	double *features;	/* nrows x nfeatures: the values used (NaN
				 * missing), or NULL when not wanted */
	uint32_t *misses;	/* per row: lookups that found no row */
	uint64_t row_base;	/* rows before this request's first (in
				 * errors: a batch's chunks count on) */
};

/* Score ROWS->rows of REQ: look up each lookup's feature row, let request
 * columns override, type the values as the model's features and predict.
 * Calls of SERVED_ROWS_PER_THREAD rows or more are shared among threads
 * (up to the online CPUs), each reading one consistent view of each
 * table.  -EINVAL with "row R, column 'c': ..." for a value of the wrong
 * type (the first such row); nothing is predicted then.  Thread-safe: M
 * is shared read-only. */
#define SERVED_ROWS_PER_THREAD 1024
#define SERVED_MAX_THREADS 8
int served_score(struct store *s, const struct served *m,
		 const struct request *req, struct served_rows *rows,
		 struct mlfs_err *err);

/* Values a row gets: classes for a classifier, 1 for a regressor. */
size_t served_nout(const struct served *m);
/* The predicted label of PROBA (one row) as text into OUT (32+ bytes for
 * numbers; class names are the model's, borrowed). */
const char *served_label(const struct served *m, const double *proba,
			 char out[40]);
bool served_is_classifier(const struct served *m);
/* Class C's name (classifiers). */
const char *served_class(const struct served *m, size_t c);
/* PROBA, one row of M's classes, as a row of TO's classes into OUT
 * (served_nout(TO) values; a class TO has and M does not gets 0). */
void served_map_proba(const struct served *m, const double *proba,
		      const struct served *to, double *out);
/* A row's prediction as a number, for statistics: the positive class's
 * probability (binary), the class index (multiclass), or the value. */
double served_value(const struct served *m, const double *proba);

/* The request columns echoed and logged as keys: the lookup keys of M
 * (and the column STICKY, "" for none) that REQ has, in request order;
 * at most MAX into OUT. */
size_t served_key_columns(const struct served *m, const struct request *req,
			  const char *sticky, long *out, size_t max);

/* Row I of a request was scored by M with these probabilities. */
struct served_scored {
	const struct served *m;
	const double *proba;
};
/* Append the response for REQ's rows (response.h's formats): keys, the
 * prediction, the probabilities in the classes of the first row's model,
 * and each row's model and version. */
void served_respond(const struct request *req, const struct served_scored *rows,
		    const long *keys, size_t nkeys, struct buf *out);

#endif
