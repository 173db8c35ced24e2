/* response.c - predictions as CSV or as MLflow's JSON answer (see
 * response.h).  Written by hand into one buffer: a 10,000-row response
 * is one pass, no tree of JSON objects. */
#include "response.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"

static bool same_source(const struct response_rows *r)
{
	for (size_t i = 1; i < r->nrows; i++)
		if (r->version[i] != r->version[0] || strcmp(r->model[i], r->model[0]))
			return false;
	return true;
}

/* ---- CSV ---- */

static void csv_header(const struct request *req, const struct response_rows *r,
		       struct buf *out)
{
	for (size_t k = 0; k < r->nkeys; k++) {
		csv_put_field(out, req->names[r->key_cols[k]], strlen(req->names[r->key_cols[k]]));
		buf_putc(out, ',');
	}
	buf_puts(out, "prediction,");
	if (r->nclasses == 2) {
		buf_puts(out, "probability,");
	} else {
		for (size_t c = 0; c < r->nclasses; c++) {
			struct buf name = { 0 };
			buf_puts(&name, "probability_");
			buf_puts(&name, r->classes[c]);
			csv_put_field(out, name.data, name.len);
			buf_putc(out, ',');
			buf_free(&name);
		}
	}
	buf_puts(out, "model,version\n");
}

static void csv_rows(const struct request *req, const struct response_rows *r,
		     struct buf *out)
{
	csv_header(req, r, out);
	for (size_t i = 0; i < r->nrows; i++) {
		for (size_t k = 0; k < r->nkeys; k++) {
			const char *v = request_cell(req, i, r->key_cols[k]);
			if (v)
				csv_put_field(out, v, strlen(v));
			buf_putc(out, ',');
		}
		csv_put_field(out, r->prediction[i], strlen(r->prediction[i]));
		buf_putc(out, ',');
		const double *p = r->proba ? r->proba + i * r->nclasses : NULL;
		if (r->nclasses == 2) {
			buf_put_double(out, p[1]);
			buf_putc(out, ',');
		} else {
			for (size_t c = 0; c < r->nclasses; c++) {
				buf_put_double(out, p[c]);
				buf_putc(out, ',');
			}
		}
		csv_put_field(out, r->model[i], strlen(r->model[i]));
		buf_printf(out, ",%llu\n", (unsigned long long)r->version[i]);
	}
}

/* ---- JSON ---- */

static void json_string(struct buf *out, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	buf_putc(out, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\') {
			buf_putc(out, '\\');
			buf_putc(out, (char)*p);
		} else if (*p < 0x20) {
			char esc[6] = { '\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15] };
			buf_append(out, esc, sizeof(esc));
		} else {
			buf_putc(out, (char)*p);
		}
	}
	buf_putc(out, '"');
}

/* True when S is a number in JSON's grammar:
 * -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool json_number_text(const char *s)
{
	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (*s >= '1' && *s <= '9')
		while (*s >= '0' && *s <= '9')
			s++;
	else
		return false;
	if (*s == '.') {
		if (!(*++s >= '0' && *s <= '9'))
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (!(*s >= '0' && *s <= '9'))
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return *s == '\0';
}

/* A label that reads as a JSON number is written as one (0/1 classes,
 * regression values); nan and inf, which JSON lacks, as null; anything
 * else as a string. */
static void json_label(struct buf *out, const char *s)
{
	if (json_number_text(s))
		buf_puts(out, s);
	else if (!strcmp(s, "nan") || !strcmp(s, "inf") || !strcmp(s, "-inf"))
		buf_puts(out, "null");
	else
		json_string(out, s);
}

static void json_probabilities(const struct response_rows *r, struct buf *out)
{
	buf_puts(out, ", \"probabilities\": [");
	for (size_t i = 0; i < r->nrows; i++) {
		const double *p = r->proba + i * r->nclasses;
		if (i)
			buf_puts(out, ", ");
		if (r->nclasses == 2) {
			buf_put_double(out, p[1]);
			continue;
		}
		buf_putc(out, '{');
		for (size_t c = 0; c < r->nclasses; c++) {
			if (c)
				buf_puts(out, ", ");
			json_string(out, r->classes[c]);
			buf_puts(out, ": ");
			buf_put_double(out, p[c]);
		}
		buf_putc(out, '}');
	}
	buf_putc(out, ']');
}

/* "model" and "version": one value when every row had the same, else a
 * list with one per row (rows routed by a sticky key). */
static void json_sources(const struct response_rows *r, struct buf *out)
{
	if (same_source(r)) {
		buf_puts(out, ", \"model\": ");
		json_string(out, r->model[0]);
		buf_printf(out, ", \"version\": %llu", (unsigned long long)r->version[0]);
		return;
	}
	buf_puts(out, ", \"model\": [");
	for (size_t i = 0; i < r->nrows; i++) {
		if (i)
			buf_puts(out, ", ");
		json_string(out, r->model[i]);
	}
	buf_puts(out, "], \"version\": [");
	for (size_t i = 0; i < r->nrows; i++)
		buf_printf(out, "%s%llu", i ? ", " : "", (unsigned long long)r->version[i]);
	buf_putc(out, ']');
}

static void json_rows(const struct response_rows *r, struct buf *out)
{
	buf_puts(out, "{\"predictions\": [");
	for (size_t i = 0; i < r->nrows; i++) {
		if (i)
			buf_puts(out, ", ");
		json_label(out, r->prediction[i]);
	}
	buf_putc(out, ']');
	if (r->nclasses && r->proba)
		json_probabilities(r, out);
	if (r->nrows)
		json_sources(r, out);
	buf_puts(out, "}\n");
}

void response_format(const struct request *req, const struct response_rows *rows,
		     struct buf *out)
{
	if (req->format == REQUEST_JSON)
		json_rows(rows, out);
	else
		csv_rows(req, rows, out);
}
