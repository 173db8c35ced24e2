/* response.h - writing predictions back in the request's format: CSV in,
 * CSV out (the request's key columns, prediction, probability or one
 * probability_CLASS column per class, model, version); JSON in, MLflow's
 * scoring-server answer {"predictions": [...]} plus "probabilities",
 * "model" and "version".  Scoring itself is not here. */
#ifndef MLFS_RESPONSE_H
#define MLFS_RESPONSE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "request.h"

/* What was predicted for every row of a request.  Borrowed pointers,
 * valid for the call. */
struct response_rows {
	size_t nrows;
	/* The request's columns to echo (lookup keys), by index. */
	size_t nkeys;
	const size_t *key_cols;
	/* Per row: the predicted class label or the regression value as
	 * text (shortest round-trip for numbers). */
	const char *const *prediction;
	/* Classification: NCLASSES class names and nrows x nclasses
	 * probabilities, row-major; NCLASSES 0 for regression.  With two
	 * classes one "probability" column holds the second's (the
	 * positive class in sorted order). */
	size_t nclasses;
	const char *const *classes;
	const double *proba;
	/* Per row: the model and version that scored it. */
	const char *const *model;
	const uint64_t *version;
};

/* Append the response for REQ's rows to OUT in REQ's format. */
void response_format(const struct request *req, const struct response_rows *rows,
		     struct buf *out);

#endif
