/* spec.c - libyaml turned into spec trees and typed specs.
 *
 * The one file that includes yaml.h.  Parsing goes through libyaml's event
 * API into struct spec_node trees (positions kept), then typed extractors
 * build the specs the engine uses.  It knows nothing of tables or stores:
 * names are checked by the modules that own them. */
#include "spec.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "types.h"

struct spec_doc {
	struct spec_node *root;
	struct spec_node **all;	/* every node, for freeing */
	size_t nall, capall;
};

int spec_fail_at(struct mlfs_err *err, const struct spec_node *n, int code,
		 const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n)
		return mlfs_fail(err, code, "line %u, column %u: %s", n->line, n->col, msg);
	return mlfs_fail(err, code, "%s", msg);
}

static struct spec_node *node_new(struct spec_doc *d, enum spec_kind kind,
				  const yaml_mark_t *m)
{
	if (d->nall == d->capall) {
		size_t cap = d->capall ? 2 * d->capall : 32;
		struct spec_node **p = realloc(d->all, cap * sizeof(*p));
		if (!p)
			return NULL;
		d->all = p;
		d->capall = cap;
	}
	struct spec_node *n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->kind = kind;
	n->line = (unsigned)m->line + 1;
	n->col = (unsigned)m->column + 1;
	d->all[d->nall++] = n;
	return n;
}

/* Make room for one more key-value pair in map PARENT. */
static int node_add(struct spec_node *parent, struct spec_node *kid)
{
	struct spec_node **p = realloc(parent->kids,
				       2 * (parent->n + 1) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	parent->kids = p;
	return 0;
}

void spec_doc_free(struct spec_doc *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->nall; i++) {
		free(d->all[i]->str);
		free(d->all[i]->kids);
		free(d->all[i]);
	}
	free(d->all);
	free(d);
}

const struct spec_node *spec_doc_root(const struct spec_doc *d)
{
	return d->root;
}

/* A stack frame of the tree being built: a map waiting for a key or a
 * value, or a sequence. */
struct frame_ {
	struct spec_node *node;
	struct spec_node *pending_key;	/* maps: key waiting for its value */
};

bool spec_is_null(const struct spec_node *n)
{
	if (n->kind != SPEC_SCALAR || n->quoted || n->block)
		return false;
	return n->len == 0 || !strcmp(n->str, "~") || !strcmp(n->str, "null") ||
	       !strcmp(n->str, "Null") || !strcmp(n->str, "NULL");
}

/* Attach KID to the frame on top of the stack (or make it the root). */
static int attach(struct spec_doc *d, struct frame_ *st, int depth,
		  struct spec_node *kid, struct mlfs_err *err)
{
	if (depth == 0) {
		d->root = kid;
		return 0;
	}
	struct frame_ *f = &st[depth - 1];
	struct spec_node *p = f->node;
	if (p->kind == SPEC_SEQ) {
		struct spec_node **k = realloc(p->kids, (p->n + 1) * sizeof(*k));
		if (!k)
			return -ENOMEM;
		p->kids = k;
		p->kids[p->n++] = kid;
		return 0;
	}
	if (!f->pending_key) {
		if (kid->kind != SPEC_SCALAR)
			return spec_fail_at(err, kid, -EINVAL, "a map key must be a plain value");
		for (size_t i = 0; i < p->n; i++)
			if (!strcmp(p->kids[2 * i]->str, kid->str))
				return spec_fail_at(err, kid, -EINVAL, "duplicate key '%s' (first on line %u)",
						    kid->str, p->kids[2 * i]->line);
		f->pending_key = kid;
		return 0;
	}
	if (node_add(p, kid))
		return -ENOMEM;
	p->kids[2 * p->n] = f->pending_key;
	p->kids[2 * p->n + 1] = kid;
	p->n++;
	f->pending_key = NULL;
	return 0;
}

int spec_parse_yaml(const char *text, size_t len, struct spec_doc **out,
		    struct mlfs_err *err)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	struct frame_ st[SPEC_MAX_DEPTH + 1];
	int depth = 0, rc = 0, docs = 0;
	bool done = false;

	*out = NULL;
	if (len > SPEC_MAX_BYTES)
		return mlfs_fail(err, -EFBIG, "spec larger than %u bytes", SPEC_MAX_BYTES);
	struct spec_doc *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	if (!yaml_parser_initialize(&parser)) {
		free(d);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	while (!done && !rc) {
		if (!yaml_parser_parse(&parser, &ev)) {
			rc = mlfs_fail(err, -EINVAL, "line %zu, column %zu: %s%s%s",
				       parser.problem_mark.line + 1,
				       parser.problem_mark.column + 1,
				       parser.problem ? parser.problem : "bad YAML",
				       parser.context ? " " : "",
				       parser.context ? parser.context : "");
			break;
		}
		struct spec_node *n = NULL;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1) {
				struct spec_node pos = { .line = (unsigned)ev.start_mark.line + 1,
							 .col = (unsigned)ev.start_mark.column + 1 };
				rc = spec_fail_at(err, &pos, -EINVAL, "only one YAML document is allowed");
			}
			break;
		case YAML_ALIAS_EVENT: {
			struct spec_node pos = { .line = (unsigned)ev.start_mark.line + 1,
						 .col = (unsigned)ev.start_mark.column + 1 };
			rc = spec_fail_at(err, &pos, -EINVAL, "aliases (*name) are not supported");
			break;
		}
		case YAML_SCALAR_EVENT:
			n = node_new(d, SPEC_SCALAR, &ev.start_mark);
			if (!n) {
				rc = -ENOMEM;
				break;
			}
			n->str = malloc(ev.data.scalar.length + 1);
			if (!n->str) {
				rc = -ENOMEM;
				break;
			}
			memcpy(n->str, ev.data.scalar.value, ev.data.scalar.length);
			n->str[ev.data.scalar.length] = '\0';
			n->len = ev.data.scalar.length;
			n->quoted = ev.data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
				    ev.data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
			n->block = ev.data.scalar.style == YAML_LITERAL_SCALAR_STYLE ||
				   ev.data.scalar.style == YAML_FOLDED_SCALAR_STYLE;
			if (memchr(n->str, '\0', n->len)) {
				rc = spec_fail_at(err, n, -EINVAL, "NUL byte in a value");
				break;
			}
			/* Whether text offsets map onto columns of the line. */
			{
				size_t span = ev.end_mark.index - ev.start_mark.index;
				n->exact = !n->block && ev.start_mark.line == ev.end_mark.line &&
					   span == n->len + (n->quoted ? 2 : 0);
			}
			rc = attach(d, st, depth, n, err);
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			n = node_new(d, ev.type == YAML_MAPPING_START_EVENT ? SPEC_MAP : SPEC_SEQ,
				     &ev.start_mark);
			if (!n) {
				rc = -ENOMEM;
				break;
			}
			if (depth == SPEC_MAX_DEPTH) {
				rc = spec_fail_at(err, n, -EINVAL, "nesting deeper than %d levels", SPEC_MAX_DEPTH);
				break;
			}
			if ((rc = attach(d, st, depth, n, err)))
				break;
			st[depth].node = n;
			st[depth].pending_key = NULL;
			depth++;
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	if (rc) {
		spec_doc_free(d);
		return rc;
	}
	*out = d;
	return 0;
}

const struct spec_node *spec_map_get(const struct spec_node *map,
				     const char *key)
{
	if (!map || map->kind != SPEC_MAP)
		return NULL;
	for (size_t i = 0; i < map->n; i++)
		if (!strcmp(map->kids[2 * i]->str, key))
			return map->kids[2 * i + 1];
	return NULL;
}

int spec_check_keys(const struct spec_node *map, const char *const *allowed,
		    const char *what, struct mlfs_err *err)
{
	for (size_t i = 0; i < map->n; i++) {
		const struct spec_node *k = map->kids[2 * i];
		bool ok = false;
		for (size_t j = 0; allowed[j] && !ok; j++)
			ok = !strcmp(allowed[j], k->str);
		if (!ok) {
			char list[200] = "";
			for (size_t j = 0; allowed[j]; j++) {
				strncat(list, j ? ", " : "", sizeof(list) - strlen(list) - 1);
				strncat(list, allowed[j], sizeof(list) - strlen(list) - 1);
			}
			return spec_fail_at(err, k, -EINVAL, "unknown key '%s' in %s (known: %s)",
					    k->str, what, list);
		}
	}
	return 0;
}

int spec_want_str(const struct spec_node *n, const char *what,
		  struct mlfs_err *err)
{
	if (n->kind != SPEC_SCALAR)
		return spec_fail_at(err, n, -EINVAL, "%s must be a single value", what);
	if (spec_is_null(n))
		return spec_fail_at(err, n, -EINVAL, "%s is empty", what);
	return 0;
}

int spec_want_number(const struct spec_node *n, const char *what, double lo,
		     double hi, double *out, struct mlfs_err *err)
{
	char *end;
	if (n->kind != SPEC_SCALAR || !n->len)
		return spec_fail_at(err, n, -EINVAL, "%s must be a number", what);
	double v = strtod(n->str, &end);
	if (*end || !isfinite(v))
		return spec_fail_at(err, n, -EINVAL, "%s: '%s' is not a number", what, n->str);
	if (v < lo || v > hi)
		return spec_fail_at(err, n, -EINVAL, "%s: %s is outside %g..%g", what, n->str, lo, hi);
	*out = v;
	return 0;
}

int spec_want_uint(const struct spec_node *n, const char *what, double lo,
		   double hi, uint64_t *out, struct mlfs_err *err)
{
	double v;
	int rc = spec_want_number(n, what, lo, hi, &v, err);
	if (!rc && v != floor(v))
		rc = spec_fail_at(err, n, -EINVAL, "%s must be a whole number", what);
	if (!rc)
		*out = (uint64_t)v;
	return rc;
}

int spec_str_list(const struct spec_node *n, const char *what, char ***out,
		  size_t *nout, struct mlfs_err *err)
{
	const struct spec_node *const *items = (const struct spec_node *const *)&n;
	size_t cnt = 1, total = 0;
	int rc;

	if (n->kind == SPEC_MAP)
		return spec_fail_at(err, n, -EINVAL, "%s must be a name or a list of names", what);
	if (n->kind == SPEC_SEQ) {
		items = (const struct spec_node *const *)n->kids;
		cnt = n->n;
		if (cnt == 0)
			return spec_fail_at(err, n, -EINVAL, "%s is an empty list", what);
	}
	for (size_t i = 0; i < cnt; i++) {
		if ((rc = spec_want_str(items[i], what, err)))
			return rc;
		total += items[i]->len + 1;
	}
	char **arr = malloc(cnt * sizeof(char *) + total);
	if (!arr)
		return -ENOMEM;
	char *p = (char *)(arr + cnt);
	for (size_t i = 0; i < cnt; i++) {
		memcpy(p, items[i]->str, items[i]->len + 1);
		arr[i] = p;
		p += items[i]->len + 1;
	}
	*out = arr;
	*nout = cnt;
	return 0;
}

/* ---- pipeline.yaml ---- */

void pipeline_spec_free(struct pipeline_spec *p)
{
	if (!p)
		return;
	free(p->source);
	free(p->timestamp);
	free(p->keys);
	for (size_t i = 0; i < p->nfeatures; i++) {
		free(p->features[i].name);
		free(p->features[i].expr);
	}
	free(p->features);
	free(p);
}

static const char *const pipeline_keys[] = {
	"source", "key", "timestamp", "as_of", "features", "description", NULL,
};

int spec_parse_pipeline(const char *text, size_t len,
			struct pipeline_spec **out, struct mlfs_err *err)
{
	struct spec_doc *d;
	const struct spec_node *root, *n;
	int rc;

	*out = NULL;
	if ((rc = spec_parse_yaml(text, len, &d, err)))
		return rc;
	struct pipeline_spec *p = calloc(1, sizeof(*p));
	if (!p) {
		spec_doc_free(d);
		return -ENOMEM;
	}
	root = spec_doc_root(d);
	if (!root || root->kind != SPEC_MAP) {
		struct spec_node pos = { .line = root ? root->line : 1, .col = root ? root->col : 1 };
		rc = spec_fail_at(err, &pos, -EINVAL, "pipeline.yaml must be a map with source, key and features");
		goto out;
	}
	if ((rc = spec_check_keys(root, pipeline_keys, "pipeline.yaml", err)))
		goto out;
	if (!(n = spec_map_get(root, "source"))) {
		rc = spec_fail_at(err, root, -EINVAL, "'source' is missing: name a table under /tables");
		goto out;
	}
	if ((rc = spec_want_str(n, "source", err)))
		goto out;
	p->source = strdup(n->str);
	p->source_line = n->line;
	p->source_col = n->col;
	if (!(n = spec_map_get(root, "key"))) {
		rc = spec_fail_at(err, root, -EINVAL, "'key' is missing: name the column(s) to group by");
		goto out;
	}
	if ((rc = spec_str_list(n, "key", &p->keys, &p->nkeys, err)))
		goto out;
	p->key_line = n->line;
	p->key_col = n->col;
	for (size_t i = 0; i < p->nkeys; i++)
		for (size_t j = 0; j < i; j++)
			if (!strcmp(p->keys[i], p->keys[j])) {
				rc = spec_fail_at(err, n, -EINVAL, "key column '%s' named twice", p->keys[i]);
				goto out;
			}
	if ((n = spec_map_get(root, "timestamp")) && !spec_is_null(n)) {
		if ((rc = spec_want_str(n, "timestamp", err)))
			goto out;
		p->timestamp = strdup(n->str);
		p->ts_line = n->line;
		p->ts_col = n->col;
	}
	if ((n = spec_map_get(root, "as_of")) && !spec_is_null(n)) {
		int32_t days;
		if (n->kind != SPEC_SCALAR) {
			rc = spec_fail_at(err, n, -EINVAL, "as_of must be a date (YYYY-MM-DD) or a timestamp");
			goto out;
		}
		if (value_parse_date(n->str, n->len, &days)) {
			p->as_of_us = (int64_t)days * 86400000000LL;
			p->as_of_is_date = true;
		} else if (!value_parse_timestamp(n->str, n->len, &p->as_of_us)) {
			rc = spec_fail_at(err, n, -EINVAL, "as_of '%s' is not a date (YYYY-MM-DD) or a timestamp", n->str);
			goto out;
		}
		p->has_as_of = true;
	}
	if (!(n = spec_map_get(root, "features"))) {
		rc = spec_fail_at(err, root, -EINVAL, "'features' is missing: a map of name: expression");
		goto out;
	}
	p->features_line = n->line;
	p->features_col = n->col;
	if (n->kind != SPEC_MAP || n->n == 0) {
		rc = spec_fail_at(err, n, -EINVAL, "features must be a map of name: expression");
		goto out;
	}
	p->features = calloc(n->n, sizeof(*p->features));
	if (!p->features) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n->n; i++) {
		const struct spec_node *k = n->kids[2 * i], *v = n->kids[2 * i + 1];
		struct pipeline_feature *f = &p->features[p->nfeatures];
		if (k->len == 0 || k->len > 128 || k->quoted) {
			rc = spec_fail_at(err, k, -EINVAL, "feature names are 1-128 letters, digits or _, starting with a letter or _");
			goto out;
		}
		for (size_t j = 0; j < k->len; j++) {
			char c = k->str[j];
			bool ok = c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				  (j > 0 && c >= '0' && c <= '9');
			if (!ok) {
				rc = spec_fail_at(err, k, -EINVAL, "feature name '%s': use letters, digits and _, starting with a letter or _", k->str);
				goto out;
			}
		}
		if (v->kind != SPEC_SCALAR || spec_is_null(v)) {
			rc = spec_fail_at(err, v, -EINVAL, "feature '%s' needs an expression", k->str);
			goto out;
		}
		f->name = strdup(k->str);
		f->expr = strdup(v->str);
		f->line = v->line;
		f->col = v->col + (v->quoted ? 1 : 0);
		f->exact_cols = v->exact;
		p->nfeatures++;
		if (!f->name || !f->expr) {
			rc = -ENOMEM;
			goto out;
		}
	}
out:
	spec_doc_free(d);
	if (rc || !p->source) {
		pipeline_spec_free(p);
		return rc ? rc : -ENOMEM;
	}
	*out = p;
	return 0;
}
