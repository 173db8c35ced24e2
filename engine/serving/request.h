/* request.h - a scoring request as the predict and score files receive
 * it: CSV with a header line, or JSON in one of MLflow's scoring formats
 * (dataframe_records, dataframe_split, instances, inputs), parsed into
 * rows of named text cells.  Typing the cells is the model's job (its
 * signature), not this one's; nothing here knows of models or features. */
#ifndef MLFS_REQUEST_H
#define MLFS_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"

enum request_format {
	REQUEST_CSV,
	REQUEST_JSON,
};

/* How the JSON body was shaped (MLflow's input fields). */
enum request_shape {
	REQUEST_SHAPE_CSV,
	REQUEST_SHAPE_RECORDS,	/* dataframe_records, instances of objects */
	REQUEST_SHAPE_SPLIT,	/* dataframe_split: columns + data */
	REQUEST_SHAPE_COLUMNS,	/* inputs as {"col": [values]} */
	REQUEST_SHAPE_ROWS,	/* instances/inputs as lists: no names */
};

/* One cell: text as written (JSON numbers as their shortest round-trip
 * text, true/false as words), or missing (CSV empty field, JSON null or
 * an absent key). */
struct request_cell {
	size_t off, len;	/* into request.text */
	bool missing;
};

struct request {
	enum request_format format;
	enum request_shape shape;
	size_t ncols, nrows;
	/* Column names, or NULL for REQUEST_SHAPE_ROWS, where column K is
	 * the K-th input of the model's signature. */
	char **names;
	struct request_cell *cells;	/* nrows x ncols, row-major */
	struct buf text;		/* every cell's bytes, NUL after each */
};

/* Parse DATA[0..LEN): JSON when its first non-space byte is '{', else
 * CSV.  More than MAX_BYTES is -EFBIG.  Errors: -EINVAL with a reason
 * ("line L, column C: ..." for CSV and for JSON syntax; the field for a
 * wrong JSON shape); an empty request, a request with no rows, a
 * duplicate column name and ragged rows are -EINVAL.  *OUT is made with
 * request_new semantics: free with request_free().  Thread-safe. */
int request_parse(const char *data, size_t len, size_t max_bytes,
		  struct request **out, struct mlfs_err *err);

/* Cell (ROW, COL): its text (NUL-terminated, borrowed until
 * request_free) or NULL when missing. */
const char *request_cell(const struct request *r, size_t row, size_t col);

/* The column index of NAME, or -1. */
long request_column(const struct request *r, const char *name);

void request_free(struct request *r);

#endif
