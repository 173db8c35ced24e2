/* types.h - the column types of mlfs and the text <-> value rules.
 *
 * One place decides what "42", "4.2", "true", "2026-11-27" and
 * "2026-11-27T10:00:00Z" are, for tables, frames and requests alike.
 * An empty field is null in every type. */
#ifndef MLFS_TYPES_H
#define MLFS_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Ordered so that widening int -> float and date -> timestamp is a max(). */
enum col_type {
	COL_NULL = 0,		/* no non-null value seen yet */
	COL_BOOL,
	COL_INT,
	COL_FLOAT,
	COL_DATE,
	COL_TIMESTAMP,
	COL_STRING,
};

const char *col_type_name(enum col_type t);
/* "int", "float", ... ; also "integer", "double", "text", "str".  0 or -EINVAL. */
int col_type_parse(const char *name, size_t len, enum col_type *out);

/* The narrowest type that holds the text (COL_NULL for an empty field). */
enum col_type value_infer(const char *p, size_t len);
/* The narrowest type that holds values of both A and B. */
enum col_type col_type_widen(enum col_type a, enum col_type b);
/* True when the text is null or a valid value of type T. */
bool value_fits(enum col_type t, const char *p, size_t len);
/* Why text P may not go into a table column of type T (inferred or
 * declared): NULL when it may, else the end of a sentence "'P' ...".
 * Where a number is or may become the type (T null, int or float):
 * - a number that is not finite is refused: nan, inf, -inf, or a value
 *   beyond +-1.8e308 like 1e400 (a column not yet typed still takes a
 *   bare "nan" or "inf" as text, and so does every text column);
 * - an integer beyond int64 is refused unless T is float (it is then a
 *   float, rounded to 53 bits like any float). */
const char *value_refusal(enum col_type t, const char *p, size_t len);

bool value_parse_int(const char *p, size_t len, int64_t *out);
/* Accepts decimal and exponent forms, "nan", "inf", "-inf" (any case). */
bool value_parse_float(const char *p, size_t len, double *out);
/* true/false in lower, Title or UPPER case. */
bool value_parse_bool(const char *p, size_t len, bool *out);
/* YYYY-MM-DD -> days since 1970-01-01. */
bool value_parse_date(const char *p, size_t len, int32_t *days);
/* YYYY-MM-DD[T ]HH:MM[:SS[.ffffff]][Z|+HH:MM|-HH:MM] -> microseconds since
 * the epoch, UTC.  A bare date is midnight UTC. */
bool value_parse_timestamp(const char *p, size_t len, int64_t *micros);
/* Any type as a number: ints and floats as such, bool 0/1, date in days,
 * timestamp in seconds.  False for strings and nulls. */
bool value_as_double(enum col_type t, const char *p, size_t len, double *out);

/* Days since epoch -> "YYYY-MM-DD" (11 bytes with NUL). */
void fmt_date(char *out, int32_t days);
/* Micros since epoch -> "YYYY-MM-DDTHH:MM:SS[.ffffff]Z" (32 bytes). */
void fmt_timestamp(char *out, int64_t micros);

#endif
