/* request.c - parsing scoring requests (see request.h): CSV through the
 * base CSV reader, JSON through jansson (the only file of the engine that
 * includes jansson.h for requests).  Both build the same struct request:
 * column names first, then the cells row by row into one text buffer.
 * Not here: types, models, feature lookup, responses. */
#include "request.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "csv.h"

static struct request *request_new(enum request_format format)
{
	struct request *r = calloc(1, sizeof(*r));
	if (!r)
		mlfs_oom();
	r->format = format;
	return r;
}

void request_free(struct request *r)
{
	if (!r)
		return;
	for (size_t i = 0; r->names && i < r->ncols; i++)
		free(r->names[i]);
	free(r->names);
	free(r->cells);
	buf_free(&r->text);
	free(r);
}

const char *request_cell(const struct request *r, size_t row, size_t col)
{
	const struct request_cell *c = &r->cells[row * r->ncols + col];
	return c->missing ? NULL : r->text.data + c->off;
}

long request_column(const struct request *r, const char *name)
{
	for (size_t i = 0; r->names && i < r->ncols; i++)
		if (strcmp(r->names[i], name) == 0)
			return (long)i;
	return -1;
}

/* ---- building ---- */

static int add_column(struct request *r, const char *name, size_t len,
		      struct mlfs_err *err)
{
	if (len == 0)
		return mlfs_fail(err, -EINVAL, "column %zu has an empty name", r->ncols + 1);
	for (size_t i = 0; i < r->ncols; i++)
		if (strlen(r->names[i]) == len && memcmp(r->names[i], name, len) == 0)
			return mlfs_fail(err, -EINVAL, "column '%.*s' appears twice", (int)len, name);
	char **names = realloc(r->names, (r->ncols + 1) * sizeof(*names));
	if (!names)
		mlfs_oom();
	r->names = names;
	if (!(names[r->ncols] = strndup(name, len)))
		mlfs_oom();
	r->ncols++;
	return 0;
}

/* Room for NROWS rows of the current columns, every cell missing. */
static void alloc_cells(struct request *r, size_t nrows)
{
	r->nrows = nrows;
	size_t n = nrows * r->ncols;
	r->cells = calloc(n ? n : 1, sizeof(*r->cells));
	if (!r->cells)
		mlfs_oom();
	for (size_t i = 0; i < n; i++)
		r->cells[i].missing = true;
}

static void set_cell(struct request *r, size_t row, size_t col,
		     const char *p, size_t len)
{
	struct request_cell *c = &r->cells[row * r->ncols + col];
	c->off = r->text.len;
	c->len = len;
	c->missing = false;
	buf_append(&r->text, p, len);
	buf_putc(&r->text, '\0');
}

/* ---- CSV ---- */

struct csv_build {
	struct request *r;
	size_t cap;		/* rows with room in r->cells */
};

static int csv_record(void *ctx, const struct csv_field *f, size_t n,
		      uint64_t line, struct mlfs_err *err)
{
	struct csv_build *b = ctx;
	struct request *r = b->r;

	if (!r->names) {
		for (size_t i = 0; i < n; i++) {
			struct mlfs_err why = { 0 };
			int rc = add_column(r, f[i].p, f[i].len, &why);
			if (rc)
				return mlfs_fail(err, rc, "line %" PRIu64 ": %s", line, why.msg);
		}
		return 0;
	}
	if (n != r->ncols)
		return mlfs_fail(err, -EINVAL, "line %" PRIu64 ": %zu fields, the header has %zu",
				 line, n, r->ncols);
	if (r->nrows == b->cap) {
		b->cap = b->cap ? 2 * b->cap : 64;
		struct request_cell *cells = realloc(r->cells, b->cap * r->ncols * sizeof(*cells));
		if (!cells)
			mlfs_oom();
		r->cells = cells;
	}
	for (size_t i = 0; i < n; i++) {
		/* pandas' rule: an empty field, quoted or not, is missing. */
		if (f[i].len == 0) {
			r->cells[r->nrows * r->ncols + i] = (struct request_cell){ .missing = true };
			continue;
		}
		set_cell(r, r->nrows, i, f[i].p, f[i].len);
	}
	r->nrows++;
	return 0;
}

static int parse_csv(struct request *r, const char *data, size_t len,
		     struct mlfs_err *err)
{
	struct csv_build b = { .r = r };
	int rc = csv_parse_all(data, len, csv_record, &b, err);
	if (rc)
		return rc;
	if (!r->names)
		return mlfs_fail(err, -EINVAL, "empty request: a header line and rows are needed");
	if (!r->nrows)
		return mlfs_fail(err, -EINVAL, "no rows after the header");
	return 0;
}

/* ---- JSON ---- */

static int put_json_value(struct request *r, size_t row, size_t col,
			  const json_t *v, struct mlfs_err *err)
{
	char tmp[64];
	int n;

	switch (json_typeof(v)) {
	case JSON_NULL:
		return 0;
	case JSON_STRING:
		set_cell(r, row, col, json_string_value(v), json_string_length(v));
		return 0;
	case JSON_INTEGER:
		n = snprintf(tmp, sizeof(tmp), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		set_cell(r, row, col, tmp, (size_t)n);
		return 0;
	case JSON_REAL:
		n = buf_fmt_double(tmp, json_real_value(v));
		set_cell(r, row, col, tmp, (size_t)n);
		return 0;
	case JSON_TRUE:
		set_cell(r, row, col, "true", 4);
		return 0;
	case JSON_FALSE:
		set_cell(r, row, col, "false", 5);
		return 0;
	default:
		return mlfs_fail(err, -EINVAL, "row %zu, column %zu: a value must be a number, string, boolean or null",
				 row + 1, col + 1);
	}
}

/* Rows given as objects: the columns are the union of their keys in the
 * order first seen; a key a row lacks is missing there. */
static int json_records(struct request *r, const json_t *rows, const char *field,
			struct mlfs_err *err)
{
	size_t i, nrows = json_array_size(rows);
	const char *key;
	const json_t *v, *row;
	int rc;

	json_array_foreach(rows, i, row) {
		if (!json_is_object(row))
			return mlfs_fail(err, -EINVAL, "%s: row %zu is not an object", field, i + 1);
		json_object_foreach((json_t *)row, key, v)
			if (request_column(r, key) < 0 &&
			    (rc = add_column(r, key, strlen(key), err)))
				return rc;
	}
	alloc_cells(r, nrows);
	json_array_foreach(rows, i, row) {
		size_t col = 0;
		json_object_foreach((json_t *)row, key, v) {
			/* Rows usually repeat the first row's order. */
			if (col >= r->ncols || strcmp(r->names[col], key))
				col = (size_t)request_column(r, key);
			if ((rc = put_json_value(r, i, col, v, err)))
				return rc;
			col++;
		}
	}
	r->shape = REQUEST_SHAPE_RECORDS;
	return 0;
}

/* Rows given as lists of values: NAMES (a JSON array) names them, or
 * none does (positional). */
static int json_lists(struct request *r, const json_t *rows, const json_t *names,
		      const char *field, struct mlfs_err *err)
{
	size_t i, j, ncols = names ? json_array_size(names) : 0;
	const json_t *row, *v;
	int rc;

	if (names) {
		json_array_foreach(names, i, v) {
			if (!json_is_string(v))
				return mlfs_fail(err, -EINVAL, "%s: column %zu's name is not a string", field, i + 1);
			if ((rc = add_column(r, json_string_value(v), json_string_length(v), err)))
				return rc;
		}
	} else {
		ncols = json_array_size(json_array_get(rows, 0));
		r->ncols = ncols;
	}
	alloc_cells(r, json_array_size(rows));
	json_array_foreach(rows, i, row) {
		if (!json_is_array(row))
			return mlfs_fail(err, -EINVAL, "%s: row %zu is not a list", field, i + 1);
		if (json_array_size(row) != ncols)
			return mlfs_fail(err, -EINVAL, "%s: row %zu has %zu values, expected %zu",
					 field, i + 1, json_array_size(row), ncols);
		json_array_foreach(row, j, v)
			if ((rc = put_json_value(r, i, j, v, err)))
				return rc;
	}
	r->shape = names ? REQUEST_SHAPE_SPLIT : REQUEST_SHAPE_ROWS;
	return 0;
}

/* inputs: {"col": [v, ...], ...}, every list of one length. */
static int json_columns(struct request *r, const json_t *cols, struct mlfs_err *err)
{
	const char *key;
	const json_t *v, *list;
	size_t nrows = 0, i;
	int rc;

	json_object_foreach((json_t *)cols, key, list) {
		if (!json_is_array(list))
			return mlfs_fail(err, -EINVAL, "inputs: column '%s' is not a list", key);
		if (r->ncols && json_array_size(list) != nrows)
			return mlfs_fail(err, -EINVAL, "inputs: column '%s' has %zu values, expected %zu",
					 key, json_array_size(list), nrows);
		nrows = json_array_size(list);
		if ((rc = add_column(r, key, strlen(key), err)))
			return rc;
	}
	alloc_cells(r, nrows);
	size_t col = 0;
	json_object_foreach((json_t *)cols, key, list) {
		json_array_foreach(list, i, v)
			if ((rc = put_json_value(r, i, col, v, err)))
				return rc;
		col++;
	}
	r->shape = REQUEST_SHAPE_COLUMNS;
	return 0;
}

/* A list of rows: objects (records) or lists (positional). */
static int json_row_list(struct request *r, const json_t *rows, const char *field,
			 struct mlfs_err *err)
{
	if (!json_is_array(rows))
		return mlfs_fail(err, -EINVAL, "%s must be a list of rows", field);
	if (json_is_array(json_array_get(rows, 0)))
		return json_lists(r, rows, NULL, field, err);
	return json_records(r, rows, field, err);
}

static const char *const json_fields[] = {
	"dataframe_records", "dataframe_split", "instances", "inputs",
};

static int json_dispatch(struct request *r, const json_t *root,
			 struct mlfs_err *err)
{
	const char *field = NULL;
	const json_t *body = NULL;

	for (size_t i = 0; i < sizeof(json_fields) / sizeof(*json_fields); i++) {
		const json_t *v = json_object_get(root, json_fields[i]);
		if (!v)
			continue;
		if (field)
			return mlfs_fail(err, -EINVAL, "the input must have exactly one of dataframe_records, dataframe_split, instances, inputs (both %s and %s given)",
					 field, json_fields[i]);
		field = json_fields[i];
		body = v;
	}
	if (!field)
		return mlfs_fail(err, -EINVAL, "the input must have exactly one of dataframe_records, dataframe_split, instances, inputs");
	if (strcmp(field, "dataframe_split") == 0) {
		const json_t *cols = json_object_get(body, "columns");
		const json_t *data = json_object_get(body, "data");
		if (!json_is_array(cols) || !json_is_array(data))
			return mlfs_fail(err, -EINVAL, "dataframe_split needs \"columns\" and \"data\" lists");
		return json_lists(r, data, cols, field, err);
	}
	if (strcmp(field, "inputs") == 0 && json_is_object(body))
		return json_columns(r, body, err);
	return json_row_list(r, body, field, err);
}

static int parse_json(struct request *r, const char *data, size_t len,
		      struct mlfs_err *err)
{
	json_error_t jerr;
	json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return mlfs_fail(err, -EINVAL, "line %d, column %d: %s", jerr.line,
				 jerr.column, jerr.text);
	int rc = json_is_object(root) ? json_dispatch(r, root, err)
		 : mlfs_fail(err, -EINVAL, "the input must be a JSON object");
	json_decref(root);
	if (!rc && !r->nrows)
		rc = mlfs_fail(err, -EINVAL, "no rows in the request");
	if (!rc && !r->ncols)
		rc = mlfs_fail(err, -EINVAL, "no columns in the request");
	return rc;
}

int request_parse(const char *data, size_t len, size_t max_bytes,
		  struct request **out, struct mlfs_err *err)
{
	*out = NULL;
	if (len > max_bytes)
		return mlfs_fail(err, -EFBIG, "request of %zu bytes is over the limit of %zu", len, max_bytes);
	if (len >= 3 && !memcmp(data, "\xef\xbb\xbf", 3)) {
		data += 3;	/* a byte order mark (Excel's "CSV UTF-8") */
		len -= 3;
	}
	size_t i = 0;
	while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r'))
		i++;
	if (i == len)
		return mlfs_fail(err, -EINVAL, "empty request: a header line and rows are needed");
	if (!csv_utf8_valid(data, len))
		return mlfs_fail(err, -EINVAL, "the request is not UTF-8 text");
	struct request *r = request_new(data[i] == '{' ? REQUEST_JSON : REQUEST_CSV);
	int rc = r->format == REQUEST_JSON ? parse_json(r, data, len, err)
					   : parse_csv(r, data, len, err);
	if (rc) {
		request_free(r);
		return rc;
	}
	*out = r;
	return 0;
}
