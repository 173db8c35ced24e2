/* spec.h - YAML specs: libyaml -> a small node tree with positions -> typed
 * specs (pipeline.yaml today; train.yaml, tune.yaml, monitor.yaml and
 * job.yaml parsers join here later, on the same tree and extractors).
 *
 * Every error names the YAML line and column: "line L, column C: reason".
 * The parser refuses aliases (no billion laughs), nesting deeper than
 * SPEC_MAX_DEPTH, duplicate map keys and input over SPEC_MAX_BYTES (EFBIG). */
#ifndef MLFS_SPEC_H
#define MLFS_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define SPEC_MAX_BYTES (1u << 20)
#define SPEC_MAX_DEPTH 64

enum spec_kind {
	SPEC_SCALAR,
	SPEC_SEQ,
	SPEC_MAP,
};

/* One YAML node.  Positions are 1-based.  A map's children alternate key
 * (always a scalar) and value: kids[2i], kids[2i+1]. */
struct spec_node {
	enum spec_kind kind;
	unsigned line, col;
	char *str;		/* scalar text, NUL-terminated */
	size_t len;
	bool quoted;		/* scalar written in quotes */
	bool block;		/* scalar written as | or > block */
	bool exact;		/* scalar on one line, no escapes: offsets in
				 * str are columns from col (+1 if quoted) */
	size_t n;		/* seq items, or map pairs */
	struct spec_node **kids;
};

struct spec_doc;

/* Parse one YAML document.  *OUT owns every node; free with
 * spec_doc_free().  An empty document has a NULL root.  -EINVAL (syntax,
 * alias, duplicate key, depth), -EFBIG, -ENOMEM. */
int spec_parse_yaml(const char *text, size_t len, struct spec_doc **out,
		    struct mlfs_err *err);
const struct spec_node *spec_doc_root(const struct spec_doc *d);
void spec_doc_free(struct spec_doc *d);

/* ---- extractors: they fail with the node's position ---- */

/* The value of KEY in MAP, or NULL. */
const struct spec_node *spec_map_get(const struct spec_node *map,
				     const char *key);
/* -EINVAL naming the first key of MAP that is not in ALLOWED (NULL-ended). */
int spec_check_keys(const struct spec_node *map, const char *const *allowed,
		    const char *what, struct mlfs_err *err);
/* A scalar that is neither empty nor null ("~", "null"). */
int spec_want_str(const struct spec_node *n, const char *what,
		  struct mlfs_err *err);
/* A scalar, or a sequence of scalars: *OUT gets N malloc'd strings in one
 * block (free(*out) frees all). */
int spec_str_list(const struct spec_node *n, const char *what, char ***out,
		  size_t *nout, struct mlfs_err *err);
/* A number from LO to HI ("WHAT: 'x' is not a number", "... is outside
 * LO..HI"); spec_want_uint also wants it whole. */
int spec_want_number(const struct spec_node *n, const char *what, double lo,
		     double hi, double *out, struct mlfs_err *err);
int spec_want_uint(const struct spec_node *n, const char *what, double lo,
		   double hi, uint64_t *out, struct mlfs_err *err);
/* Whether N is a plain null scalar: empty, "~" or "null" (not quoted). */
bool spec_is_null(const struct spec_node *n);
/* Fail with "line L, column C: " + the message at node N (may be NULL). */
int spec_fail_at(struct mlfs_err *err, const struct spec_node *n, int code,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* ---- pipeline.yaml (DESIGN.md section 4) ---- */

struct pipeline_feature {
	char *name;
	char *expr;		/* the expression text */
	unsigned line, col;	/* where the expression text starts */
	bool exact_cols;	/* col + offset is the column of a character */
};

struct pipeline_spec {
	char *source;
	unsigned source_line, source_col;
	char **keys;		/* one block, free(keys) */
	size_t nkeys;
	unsigned key_line, key_col;
	char *timestamp;	/* optional event-time column of the source */
	unsigned ts_line, ts_col;
	bool has_as_of;
	int64_t as_of_us;	/* micros since the epoch, UTC */
	bool as_of_is_date;
	struct pipeline_feature *features;
	size_t nfeatures;
	unsigned features_line, features_col;
};

/* Parse pipeline.yaml: keys source, key (a column or a list), timestamp
 * (optional event-time column), as_of (YYYY-MM-DD or a timestamp),
 * features (a map name: expression).  Only
 * the shape is checked here; pipeline.h checks names against tables.
 * *OUT: free with pipeline_spec_free(). */
int spec_parse_pipeline(const char *text, size_t len,
			struct pipeline_spec **out, struct mlfs_err *err);
void pipeline_spec_free(struct pipeline_spec *p);

#endif
